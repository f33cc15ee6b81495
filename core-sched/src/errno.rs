//! The kernel error type is the ABI crate's [`Errno`]: one value per Linux errno, so the syscall layer returns
//! `-errno` without translation. Re-exported here so that core-sched's users need not name the ABI crate.
//!
//! One use is core-sched's own: `ETIMEDOUT` from `membarrier()` when a target CPU never acknowledged its IPI,
//! which Linux cannot report (it waits forever); see `Scheduler::membarrier`.

pub use abi::Errno;
