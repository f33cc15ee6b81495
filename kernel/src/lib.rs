//! The board-independent kernel: bring-up of the cores, interrupt routing, the console, processes and threads,
//! the ELF loader and the Linux system calls. Everything architectural goes through `arch_arm64`'s safe
//! interface, so this crate has no `unsafe`.
//!
//! Its public surface is what boards and payloads need, and no more. A board calls [`start_primary`] with its
//! [`Board`] description and the [`Payload`] to run, and [`start_secondary`] on the other cores. A payload (the
//! demo, the in-kernel tests, the bench: the `payloads` crate) starts and watches processes and kernel threads
//! through [`process`], reaches the cores through [`smp`], and prints with [`println!`]. The scheduler, the
//! system calls and the loader stay inside.
#![no_std]
#![forbid(unsafe_code)]
// The public surface is what boards and payloads build on: every item of it says what it is for.
#![deny(missing_docs)]

extern crate alloc;

mod console;
mod elf_loader;
mod files;
mod futex;
mod limits;
pub mod process;
mod random;
pub mod rseq;
mod signals;
pub mod smp;
mod syscalls;
mod timer_queue;
mod user_return;
mod vm;

use arch_arm64::BootInfo;

// The entry of `print!`/`println!`, which expand in other crates.
#[doc(hidden)]
pub use console::print_args;

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

/// What the kernel runs once every core is up: the demo, the in-kernel tests, the bench (see the `payloads`
/// crate). It runs in a kernel thread on the boot core, scheduled like any other task, and returns the exit
/// status of the run, which the kernel hands to the board's `finish`.
pub type Payload = fn() -> u32;

static PAYLOAD: spin::Once<Payload> = spin::Once::new();

/// Size of the kernel heap carved out of RAM right after the image: a thirty-second of the RAM after the image,
/// at least 16 MiB and at most 256 MiB (32 MiB on QEMU virt's 1 GiB, 29 MiB on the Pi's 946 MiB). Kernel stacks
/// and page tables come from page frames, not from the heap; what the heap holds per task (the task, its
/// registers, its entry in the thread table: about 1.5 KiB) at the thread limit (`process::threads_max`,
/// RAM / 256 KiB) stays under a hundredth of RAM, which leaves the rest for everything else.
fn heap_size(ram_end_phys: usize) -> usize {
    let ram_after_image =
        ram_end_phys.saturating_sub(arch_arm64::layout::virt_to_phys(arch_arm64::layout::kernel_end()));
    (ram_after_image / 32).clamp(16 << 20, 256 << 20) & !(arch_arm64::layout::PAGE_SIZE - 1)
}

/// Ends the run with `status`, through the board.
fn finish(status: u32) -> ! {
    match BOARD.get() {
        Some(board) => (board.finish)(status),
        None => arch_arm64::qemu_exit(status),
    }
}

/// Entry of the boot core, after the board has wired its console and interrupt controller: brings up the
/// kernel and the other cores, then runs `payload` and ends the run with its status.
pub fn start_primary(board: &'static Board, boot: BootInfo, payload: Payload) -> ! {
    BOARD.call_once(|| board);
    PAYLOAD.call_once(|| payload);
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
    arch_arm64::heap::init_after_kernel(heap_size(board.ram_end_phys));
    arch_arm64::frames::init(arch_arm64::layout::virt_to_phys(arch_arm64::heap::heap_end()), board.ram_end_phys);
    smp::init_interrupts();
    smp::cpu_online(boot);
    smp::start_secondaries(board);

    // The payload runs in a kernel thread on CPU 0, scheduled like any other task; the boot flow becomes CPU 0's
    // idle task.
    if let Err(error) = process::spawn_kernel_thread(main_thread, 0, core_sched::CpuSet::single(boot.cpu)) {
        println!("cannot start the main kernel thread: {error:?}");
        finish(1);
    }
    smp::idle_loop()
}

fn main_thread(_: usize) {
    let payload = PAYLOAD.get().expect("set at boot");
    finish(payload())
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
    let (call_sites, count) = arch_arm64::backtrace::call_chain();
    for call_site in &call_sites[..count] {
        // xtask appends the function name to these lines.
        println!("  called from {call_site:#x}");
    }
    finish(101)
}
