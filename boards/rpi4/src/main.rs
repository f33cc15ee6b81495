//! Raspberry Pi 4 (BCM2711) board: memory map, PL011 UART0 on GPIO 14/15, GIC-400, spin-table bring-up of
//! cores 1-3. The same image runs on QEMU `raspi4b` (semihosting exit) and, built with the `hardware`
//! feature, on a real board (prints the result and parks).
#![no_std]
#![no_main]

use arch_arm64::layout::phys_to_virt;
use arch_arm64::pl011::Pl011;
use arch_arm64::BootInfo;

/// Physical addresses of the BCM2711's peripherals in "low peripheral" mode (the firmware's default).
const GPIO_PHYS: usize = 0xFE20_0000;
const UART0_PHYS: usize = 0xFE20_1000;
const GIC_DISTRIBUTOR_PHYS: usize = 0xFF84_1000;
const GIC_CPU_INTERFACE_PHYS: usize = 0xFF84_2000;

/// The firmware's spin table: core n (1-3) polls the 64-bit slot at SPIN_TABLE_PHYS + 8 * n with `wfe`.
const SPIN_TABLE_PHYS: usize = 0xd8;

/// UART0's reference clock: 48 MHz, set by the firmware (`init_uart_clock`, whose default this is; the SD
/// folder's config.txt states it). Unlike the mini UART's, it does not follow the VPU core clock. QEMU's PL011
/// ignores the divisor.
const UART_CLOCK_HZ: u32 = 48_000_000;
const UART_BAUD: u32 = 115_200;

/// End of the RAM the kernel may use: the ARM's share of the first GiB, below the VideoCore's memory
/// (gpu_mem = 76 MiB by default on a Pi 4). Every Pi 4 model and QEMU's 2 GiB raspi4b have it.
const RAM_END_PHYS: usize = 0x3B40_0000;

// GPIO registers (BCM2711 ARM Peripherals, chapter 5).
/// GPFSEL1: function select of GPIO 10-19, three bits per pin.
const GPFSEL1: usize = 0x04;
/// GPIO_PUP_PDN_CNTRL_REG0: pull-up/down of GPIO 0-15, two bits per pin (0 none, 1 up, 2 down).
const GPIO_PUP_PDN_CNTRL_REG0: usize = 0xe4;
const FUNCTION_ALT0: u32 = 0b100;
const PULL_NONE: u32 = 0;
const PULL_UP: u32 = 1;
const UART_TXD_PIN: u32 = 14;
const UART_RXD_PIN: u32 = 15;

// SAFETY: UART0 of the BCM2711 sits at UART0_PHYS, in GiB 3, which the boot map maps as device memory; this
// board crate is its only user.
static UART: Pl011 = unsafe { Pl011::new(phys_to_virt(UART0_PHYS)) };

fn console_write(bytes: &[u8]) {
    UART.write_bytes(bytes);
}

/// Read-modify-write of one GPIO register: clears `mask`, sets `bits`.
fn gpio_update(offset: usize, mask: u32, bits: u32) {
    let register = phys_to_virt(GPIO_PHYS + offset) as *mut u32;
    // SAFETY: `register` is a GPIO register of the BCM2711, mapped as device memory by the boot map (GiB 3);
    // only the boot core calls this, once, before any other core runs, so the read-modify-write is not raced.
    unsafe { core::ptr::write_volatile(register, (core::ptr::read_volatile(register) & !mask) | bits) };
}

/// Routes UART0 to the header: GPIO 14 (TXD0) and 15 (RXD0) to ALT0, no pull on TXD (driven), pull-up on RXD
/// (the idle level of a serial line, so a floating pin reads as idle rather than as noise).
fn mux_uart_pins() {
    let function_shift = |pin: u32| (pin - 10) * 3;
    gpio_update(
        GPFSEL1,
        (0b111 << function_shift(UART_TXD_PIN)) | (0b111 << function_shift(UART_RXD_PIN)),
        (FUNCTION_ALT0 << function_shift(UART_TXD_PIN)) | (FUNCTION_ALT0 << function_shift(UART_RXD_PIN)),
    );
    let pull_shift = |pin: u32| pin * 2;
    gpio_update(
        GPIO_PUP_PDN_CNTRL_REG0,
        (0b11 << pull_shift(UART_TXD_PIN)) | (0b11 << pull_shift(UART_RXD_PIN)),
        (PULL_NONE << pull_shift(UART_TXD_PIN)) | (PULL_UP << pull_shift(UART_RXD_PIN)),
    );
}

fn start_secondary(cpu: usize) -> Result<(), &'static str> {
    if !(1..=3).contains(&cpu) {
        return Err("the spin table has slots for cores 1-3 only");
    }
    // SAFETY: the slot of core `cpu` in the firmware's spin table (GiB 0, normal memory in the linear map);
    // the entry is the kernel's secondary boot path, which accepts a core at EL2 or EL1 with its MMU off.
    unsafe { arch_arm64::spin_table::release(SPIN_TABLE_PHYS + 8 * cpu, arch_arm64::layout::secondary_entry_phys()) };
    Ok(())
}

/// QEMU `raspi4b`: the exit status leaves through semihosting (QEMU runs with `-semihosting`).
#[cfg(not(feature = "hardware"))]
fn finish(status: u32) -> ! {
    arch_arm64::qemu_exit(status)
}

/// A real board has no semihosting host: print the status and park this core. The other cores stay in their
/// `wfi` idle loops.
#[cfg(feature = "hardware")]
fn finish(status: u32) -> ! {
    let verdict = if status == 0 { "success" } else { "FAILURE" };
    kernel::println!("run finished: status {status} ({verdict}); parking the cores, power-cycle to run again");
    arch_arm64::cpu::irq_disable();
    loop {
        arch_arm64::cpu::wait_for_interrupt();
    }
}

static BOARD: kernel::Board = kernel::Board {
    name: if cfg!(feature = "hardware") { "rpi4" } else { "rpi4 (QEMU raspi4b)" },
    console_write,
    start_secondary,
    finish,
    cpus: 4,
    ram_end_phys: RAM_END_PHYS,
};

fn primary_main(boot: BootInfo) -> ! {
    mux_uart_pins();
    UART.init(UART_CLOCK_HZ, UART_BAUD);
    // SAFETY: the GIC-400's register blocks, mapped as device memory by the boot map (GiB 3); initialized once
    // here, before any core sets up its CPU interface.
    unsafe {
        arch_arm64::gic::init_distributor(phys_to_virt(GIC_DISTRIBUTOR_PHYS), phys_to_virt(GIC_CPU_INTERFACE_PHYS))
    };
    kernel::start_primary(&BOARD, boot, payloads::main)
}

arch_arm64::board_entry!(primary = primary_main, secondary = kernel::start_secondary);
