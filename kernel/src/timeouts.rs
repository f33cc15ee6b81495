//! Deadline wake-ups for the sleeps built on core-sched's wait protocol (futex waits with a timeout): a task
//! arms a deadline before it blocks and disarms it when it returns; the timer tick wakes the tasks whose
//! deadline passed ([`wake_expired`]). The wake is an ordinary `Scheduler::wake`, and the sleeper's own
//! `stop` check decides that the deadline passed, so a wake that comes early or twice is harmless.
//!
//! Precision is the tick's (4 ms). This list is the seam for the per-CPU high-resolution timers: they replace
//! its body, not its callers.

use alloc::sync::Arc;
use alloc::vec::Vec;

use arch_arm64::Arm64;
use core_sched::IrqSpinLock;

use crate::process::{KernelTask, SCHED};

/// Armed deadlines: (deadline in `now_ns` time, task to wake).
static ARMED: IrqSpinLock<Arm64, Vec<(u64, Arc<KernelTask>)>> = IrqSpinLock::new(Vec::new());

/// Wakes `task` at the first tick after `deadline`, until [`disarm`].
pub(crate) fn arm(deadline: u64, task: &Arc<KernelTask>) {
    ARMED.lock().push((deadline, task.clone()));
}

/// Forgets `task`'s deadlines (it returned from its sleep).
pub(crate) fn disarm(task: &Arc<KernelTask>) {
    ARMED.lock().retain(|(_, armed)| !Arc::ptr_eq(armed, task));
}

/// From every timer tick: wakes the tasks whose deadline passed. Expired entries stay until their task disarms
/// them (each tick wakes them again, which only matters if the first wake came before the task blocked; the
/// wait protocol makes that wake count, so this is belt and braces at one lock per tick).
pub(crate) fn wake_expired() {
    let now = arch_arm64::cpu::now_ns();
    let due: Vec<Arc<KernelTask>> = {
        // try_lock: a tick that finds the list busy leaves the work to the next one.
        let Some(armed) = ARMED.try_lock() else { return };
        if armed.is_empty() {
            return;
        }
        armed.iter().filter(|(deadline, _)| *deadline <= now).map(|(_, task)| task.clone()).collect()
    };
    for task in due {
        SCHED.wake(&task);
    }
}
