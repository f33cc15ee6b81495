//! Address-space isolation: every instance writes its own pid into the same static variable and checks, while
//! other instances run on other cores, that it keeps reading its own value. If two processes shared memory, one
//! would see the other's pid.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicI64, Ordering};
use ulib::{println, sys};

static MINE: AtomicI64 = AtomicI64::new(0);

fn main(args: ulib::Args) -> i32 {
    let pid = sys::getpid();
    if MINE.load(Ordering::Relaxed) != 0 {
        println!("{}: pid {pid}: fresh process sees {} in its static", args.get(0), MINE.load(Ordering::Relaxed));
        return 1;
    }
    MINE.store(pid, Ordering::Relaxed);
    for round in 0..2000 {
        let seen = MINE.load(Ordering::Relaxed);
        if seen != pid {
            println!("{}: pid {pid}: round {round}: read {seen}, another process's value", args.get(0));
            return 1;
        }
        if round % 16 == 0 {
            sys::sched_yield();
        }
    }
    println!("{}: pid {pid}: memory stayed private", args.get(0));
    0
}
ulib::entry!(main);
