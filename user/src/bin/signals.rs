//! Default signal actions: `signals abort` blocks every signal as musl's `raise` does, sends itself SIGABRT
//! with tgkill and unblocks, and must end with status 134; `signals handler` installs a SIGUSR1 handler and
//! kills itself, which must end the process (138) with a message, since handlers are not delivered yet;
//! `signals term` ends with 143 from kill(SIGTERM).
#![no_std]
#![no_main]

use abi::signal::{SIGABRT, SIGTERM, SIGUSR1, SIG_SETMASK};
use abi::syscalls as nr;
use ulib::sys::{self, syscall};

extern "C" fn never_called(_signal: i32) {}

fn main(args: ulib::Args) -> i32 {
    let (pid, tid) = (sys::getpid() as u64, sys::gettid() as u64);
    match args.get(1) {
        "abort" => {
            let (all, mut saved) = (u64::MAX, 0u64);
            syscall(
                nr::RT_SIGPROCMASK,
                [SIG_SETMASK as u64, &all as *const u64 as u64, &mut saved as *mut u64 as u64, 8, 0, 0],
            );
            syscall(nr::TGKILL, [pid, tid, SIGABRT as u64, 0, 0, 0]);
            ulib::println!("signals: SIGABRT is pending while blocked");
            syscall(nr::RT_SIGPROCMASK, [SIG_SETMASK as u64, &saved as *const u64 as u64, 0, 8, 0, 0]);
        }
        "handler" => {
            let action = [never_called as *const () as u64, 0, 0, 0];
            syscall(nr::RT_SIGACTION, [SIGUSR1 as u64, action.as_ptr() as u64, 0, 8, 0, 0]);
            syscall(nr::KILL, [pid, SIGUSR1 as u64, 0, 0, 0, 0]);
        }
        "term" => {
            syscall(nr::KILL, [pid, SIGTERM as u64, 0, 0, 0, 0]);
        }
        mode => ulib::println!("signals: unknown mode '{mode}'"),
    }
    ulib::println!("signals: still running after the signal: FAILED");
    1
}
ulib::entry!(main);
