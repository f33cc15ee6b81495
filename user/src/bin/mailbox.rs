//! Waits for the kernel to write into its memory: argv[1] starts as "waiting-for-kernel"; a kernel thread that
//! adopts this process's mm (kthread_use_mm) overwrites it with "written-by-kernel!". Exits 0 when it sees the
//! new text, 1 after about 10 s without it. Before waiting it overwrites argv[2] ("starting") with "running!", so
//! that the kernel test adopts the mm of a process that is known to run (a handshake, not a guessed delay).
#![no_std]
#![no_main]

use ulib::{println, sys};

fn main(args: ulib::Args) -> i32 {
    let started = sys::monotonic_ns();
    args.write_argument(2, b"running!");
    loop {
        // Re-read the argument from memory each time (the kernel changes it behind our back).
        let text = core::hint::black_box(args.get(1));
        if text == "written-by-kernel!" {
            println!("mailbox: pid {} found the kernel's message in its own memory", sys::getpid());
            return 0;
        }
        if sys::monotonic_ns() - started > 10_000_000_000 {
            println!("mailbox: no message from the kernel (argv[1] = {text:?})");
            return 1;
        }
        sys::sched_yield();
    }
}
ulib::entry!(main);
