//! `abi`: the Linux arm64 user ABI the kernel implements and the EL0 programs call, written down once.
//!
//! - [`syscalls`]: system-call numbers and their Linux names;
//! - [`Errno`]: errno values, the kernel's one error type;
//! - [`flags`]: flag bits and command values (clone, futex, mmap, membarrier, clocks, rlimits, rseq, signals,
//!   file descriptors, terminals, poll, getrandom, getrusage);
//! - [`elf`]: the ELF64 executable layout and the validation every program passes before it is parsed;
//! - [`auxv`]: the auxiliary vector's keys and the arm64 hardware-capability bits it carries;
//! - [`types`]: the `#[repr(C)]` structures passed through user memory, with their sizes asserted and their byte
//!   images ([`UserBytes`]).
//!
//! The register convention (number in x8, arguments in x0-x5, result or `-errno` in x0) is the arch crate's
//! business; this crate holds only values and layouts. `no_std`, no dependencies and no `unsafe`, so the kernel,
//! core-sched (host-tested) and the EL0 programs (another target, another workspace) can all use it.

#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(test)]
extern crate std;

pub mod auxv;
pub mod elf;
pub mod errno;
pub mod flags;
pub mod syscalls;
pub mod types;

pub use errno::{syscall_return_value, Errno};
pub use flags::{clock, clone, file, futex, membarrier, mmap, poll, random, rlimit, rseq, rusage, signal, tty};
pub use types::{
    ByteArray, Iovec, Pollfd, Rlimit, RobustListHead, Rseq, RseqCs, Rusage, Sigaction, SignalStack, Stat, Sysinfo,
    Termios, Timespec, Timeval, Tms, UserBytes, Utsname, Winsize,
};
