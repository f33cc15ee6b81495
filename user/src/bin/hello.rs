//! Smallest EL0 program: prints its arguments, process and thread ids and CPU, and exits 0.
#![no_std]
#![no_main]

use ulib::{println, sys};

fn main(args: ulib::Args) -> i32 {
    println!(
        "hello from EL0: {} (argc {}), pid {}, tid {}, cpu {}",
        args.get(0),
        args.argc,
        sys::getpid(),
        sys::gettid(),
        sys::getcpu()
    );
    0
}
ulib::entry!(main);
