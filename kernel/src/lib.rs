//! Board-independent kernel glue: bring-up of the cores, interrupt routing, the console, the in-kernel test
//! harness and its tests. Boards call `start_primary` and `start_secondary`; everything architectural goes
//! through `arch_arm64`'s safe interface, so this crate has no `unsafe`.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod console;
pub mod harness;
pub mod smp;
mod tests;

use arch_arm64::BootInfo;

/// What the board tells the kernel.
pub struct Board {
    /// Name printed in the banner ("qemu-virt", "rpi4").
    pub name: &'static str,
    /// Writes bytes to the console UART.
    pub console_write: fn(&[u8]),
    /// Starts core `cpu` at the kernel's secondary entry; `Err` with a reason when the firmware refuses.
    pub start_secondary: fn(cpu: usize) -> Result<(), &'static str>,
    /// Ends the run with an exit status: semihosting exit on QEMU, print and park on hardware.
    pub finish: fn(status: u32) -> !,
    /// Number of cores to bring up.
    pub cpus: usize,
    /// Physical RAM range usable after the kernel image (heap and page frames).
    pub ram_end_phys: usize,
}

static BOARD: spin::Once<&'static Board> = spin::Once::new();

/// Size of the kernel heap carved out of RAM right after the image.
const HEAP_SIZE: usize = 16 << 20;

/// Ends the run with `status`, through the board.
pub fn finish(status: u32) -> ! {
    match BOARD.get() {
        Some(board) => (board.finish)(status),
        None => arch_arm64::qemu_exit(status),
    }
}

/// Entry of the boot core, after the board has wired its console and interrupt controller.
pub fn start_primary(board: &'static Board, boot: BootInfo) -> ! {
    BOARD.call_once(|| board);
    console::set_writer(board.console_write);
    println!();
    println!(
        "membarrier kernel on {}: CPU {} entered at EL{}, running at EL{}, MPIDR {:#x}, counter {} Hz",
        board.name,
        boot.cpu,
        boot.entry_el,
        arch_arm64::cpu::current_el(),
        arch_arm64::cpu::mpidr(),
        arch_arm64::cpu::counter_frequency()
    );
    arch_arm64::heap::init_after_kernel(HEAP_SIZE);
    smp::init_interrupts();
    smp::cpu_online(boot);
    smp::start_secondaries(board);

    let all_passed = if cfg!(feature = "test-fault") {
        tests::run_fault_test()
    } else if cfg!(feature = "test-suite") {
        tests::run_suite(board)
    } else {
        println!("{} cores online; boot took {} ms", smp::online_count(), arch_arm64::cpu::now_ns() / 1_000_000);
        true
    };
    finish(if all_passed { 0 } else { 1 })
}

/// Entry of cores 1-3.
pub fn start_secondary(boot: BootInfo) -> ! {
    smp::cpu_online(boot);
    smp::idle_loop()
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    arch_arm64::cpu::irq_disable();
    console::enter_panic_mode();
    println!("KERNEL PANIC on CPU {}: {}", arch_arm64::cpu::cpu_id(), info);
    finish(101)
}
