//! The Linux user ABI the kernel implements, as plain data and pure functions (no_std, host-tested).
#![no_std]

pub mod elf;
