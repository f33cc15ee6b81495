//! `core-sched`: the architecture-independent scheduler of the kernel — address spaces ([`Mm`]), tasks,
//! per-CPU run queues, the context-switch sequence and `membarrier()`.
//!
//! It is built around one hook, [`Arch::membarrier_finish_switch_mm`] (after the Linux patch "membarrier:
//! Make the post-switch-mm barrier explicit"): every switch to a task with a user mm calls it after
//! `switch_mm`, also when the mm did not change (user -> kernel thread -> user), so that membarrier may skip
//! the CPUs that do not publish the caller's mm. The protocol and the litmus test each barrier prevents are
//! documented in [`sched`] (the switch) and [`membarrier`] (the system call).
//!
//! Generic over [`Arch`], the one seam to the architecture; `no_std`, no `unsafe`, host-testable with a mock
//! arch that records every arch call (`src/tests`).

#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod arch;
mod barrier;
pub mod cpuset;
pub mod errno;
pub mod irq;
pub mod membarrier;
pub mod mm;
pub mod rseq;
pub mod runqueue;
pub mod sched;
pub mod task;
pub mod wait;

#[cfg(test)]
mod tests;

pub use arch::{generic_membarrier_finish_switch_mm, Arch, ClearedAt, IpiKind, IrqState, SwitchingTask};
pub use cpuset::{CpuSet, MAX_CPUS};
pub use errno::Errno;
pub use irq::{without_interrupts, IrqSpinLock, IrqSpinLockGuard, IrqsMasked};
pub use mm::{Mm, MmId};
pub use runqueue::{RunQueue, RunQueueStats, SwitchKind};
pub use sched::Scheduler;
pub use task::{CpuTime, Task, TaskId, TaskKind, TaskState};
pub use wait::WaitQueue;
