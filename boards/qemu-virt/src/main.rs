//! QEMU `virt` board: memory map, PL011 console, PSCI (HVC) bring-up of cores 1-3, semihosting exit.
#![no_std]
#![no_main]

use arch_arm64::layout::phys_to_virt;
use arch_arm64::pl011::Pl011;
use arch_arm64::psci;
use arch_arm64::BootInfo;
use core::sync::atomic::{AtomicBool, Ordering};

/// Physical addresses of QEMU virt's devices (hw/arm/virt.c memory map).
const GIC_DISTRIBUTOR_PHYS: usize = 0x0800_0000;
const GIC_CPU_INTERFACE_PHYS: usize = 0x0801_0000;
const UART_PHYS: usize = 0x0900_0000;
/// QEMU's PL011 ignores the divisor; these are the values a real 24 MHz PL011 would need.
const UART_CLOCK_HZ: u32 = 24_000_000;
const UART_BAUD: u32 = 115_200;
/// RAM starts at 1 GiB; xtask runs QEMU with `-m 1G`.
const RAM_END_PHYS: usize = 0x8000_0000;

// SAFETY: the PL011 of QEMU virt sits at UART_PHYS, mapped as device memory by the boot map (first GiB), and
// this board crate is its only user.
static UART: Pl011 = unsafe { Pl011::new(phys_to_virt(UART_PHYS)) };

fn console_write(bytes: &[u8]) {
    UART.write_bytes(bytes);
}

/// Set when the boot core entered at EL2 (`virtualization=on`): QEMU's PSCI then answers SMC, not HVC.
static PSCI_OVER_SMC: AtomicBool = AtomicBool::new(false);

fn start_secondary(cpu: usize) -> Result<(), &'static str> {
    let conduit = if PSCI_OVER_SMC.load(Ordering::Relaxed) { psci::Conduit::Smc } else { psci::Conduit::Hvc };
    // Cores are numbered by MPIDR Aff0 on virt (cluster size 8 > 4 cores).
    match psci::cpu_on(conduit, cpu as u64, arch_arm64::layout::secondary_entry_phys(), cpu as u64) {
        0 => Ok(()),
        -2 => Err("PSCI CPU_ON: invalid parameters"),
        -4 => Err("PSCI CPU_ON: already on"),
        _ => Err("PSCI CPU_ON failed"),
    }
}

static BOARD: kernel::Board = kernel::Board {
    name: "qemu-virt",
    console_write,
    start_secondary,
    finish: arch_arm64::qemu_exit,
    cpus: 4,
    ram_end_phys: RAM_END_PHYS,
};

fn primary_main(boot: BootInfo) -> ! {
    UART.init(UART_CLOCK_HZ, UART_BAUD);
    PSCI_OVER_SMC.store(boot.entry_el == 2, Ordering::Relaxed);
    // SAFETY: QEMU virt's GICv2 register blocks, mapped as device memory by the boot map; initialized once
    // here, before any core sets up its CPU interface.
    unsafe {
        arch_arm64::gic::init_distributor(phys_to_virt(GIC_DISTRIBUTOR_PHYS), phys_to_virt(GIC_CPU_INTERFACE_PHYS))
    };
    kernel::start_primary(&BOARD, boot, payloads::main)
}

arch_arm64::board_entry!(primary = primary_main, secondary = kernel::start_secondary);
