//! Per-CPU timer queues: each CPU's timer is armed for its earliest deadline, the scheduler's next tick or the
//! earliest sleeper queued on it, so a sleep ends at its deadline instead of at the tick after it.
//!
//! A sleeper is queued on the CPU it blocks on, by that CPU, with interrupts masked from before its deadline
//! check until it has blocked (see `process::sleep_until`). Only that CPU's timer interrupt expires the entry, so
//! it cannot run between the check and the block: the wake finds the task blocked. A task that moves to another
//! CPU afterwards is still woken by the CPU holding its entry (`SCHED.wake` queues it wherever it may run), and
//! queues itself afresh wherever it blocks next. Per-CPU queues rather than one global one: each CPU arms only
//! for its own sleepers, so a wake interrupts one CPU, not all of them.

use alloc::sync::Arc;
use alloc::vec::Vec;

use arch_arm64::cpu::{self, MAX_CPUS};
use arch_arm64::Arm64;
use core_sched::IrqSpinLock;

use crate::process::KernelTask;

/// One CPU's deadlines, in `now_ns` time.
struct CpuTimerQueue {
    /// When the scheduler's next tick is due; `u64::MAX` while the tick is stopped.
    next_tick_at: u64,
    /// The tick's period in nanoseconds, 0 when stopped.
    tick_period_ns: u64,
    /// Sleepers queued on this CPU, earliest deadline first. A deadline of `u64::MAX` ("forever": a huge
    /// `tv_sec`, a poll without timeout) arms no timer; the entry is there so that the tick can end the sleep of
    /// a thread whose process exits.
    sleepers: Vec<(u64, Arc<KernelTask>)>,
}

impl CpuTimerQueue {
    /// The next time this CPU's timer must fire (`u64::MAX`: never).
    fn earliest_deadline(&self) -> u64 {
        self.sleepers.first().map_or(self.next_tick_at, |&(deadline, _)| deadline.min(self.next_tick_at))
    }

    /// Frees the queue's storage once no sleeper is left: a burst of thousands of sleepers (a process at the
    /// thread limit) leaves no heap behind, which the leak checks rely on.
    fn release_storage_if_empty(&mut self) {
        if self.sleepers.is_empty() {
            self.sleepers = Vec::new();
        }
    }
}

/// Indexed by CPU. IRQ-safe: the CPU's timer interrupt takes its own queue's lock; a sleeper removing its entry
/// may take another CPU's.
static QUEUES: [IrqSpinLock<Arm64, CpuTimerQueue>; MAX_CPUS] =
    [const { IrqSpinLock::new(CpuTimerQueue { next_tick_at: u64::MAX, tick_period_ns: 0, sleepers: Vec::new() }) };
        MAX_CPUS];

/// Starts (period > 0) or stops this CPU's scheduler tick, the next one `period_ns` from now, and re-arms.
pub(crate) fn set_tick_period(period_ns: u64) {
    let mut queue = QUEUES[cpu::cpu_id()].lock();
    queue.tick_period_ns = period_ns;
    queue.next_tick_at = if period_ns == 0 { u64::MAX } else { cpu::now_ns().saturating_add(period_ns) };
    arch_arm64::timer::arm_at_ns(queue.earliest_deadline());
}

/// Queues `task` to be woken at `deadline` by this CPU's timer, arming it earlier if needed, and returns the
/// CPU (for [`remove_sleeper`]). The caller has interrupts masked, so the CPU is the one it runs on until it
/// blocks.
pub(crate) fn add_sleeper(deadline: u64, task: Arc<KernelTask>) -> usize {
    let me = cpu::cpu_id();
    let mut queue = QUEUES[me].lock();
    let position = queue.sleepers.partition_point(|&(queued, _)| queued <= deadline);
    queue.sleepers.insert(position, (deadline, task));
    if position == 0 && deadline < queue.next_tick_at {
        arch_arm64::timer::arm_at_ns(deadline);
    }
    me
}

/// Removes `task`'s entry from CPU `cpu`'s queue, if the timer has not already taken it.
pub(crate) fn remove_sleeper(cpu: usize, task: &Arc<KernelTask>) {
    let mut queue = QUEUES[cpu].lock();
    queue.sleepers.retain(|(_, queued)| !Arc::ptr_eq(queued, task));
    queue.release_storage_if_empty();
}

/// The sleepers queued on this CPU (the tick looks for those whose process is exiting).
pub(crate) fn sleepers_here() -> Vec<Arc<KernelTask>> {
    QUEUES[cpu::cpu_id()].lock().sleepers.iter().map(|(_, task)| task.clone()).collect()
}

/// This CPU's timer interrupt: wakes the sleepers whose deadline passed (taking them off the queue), re-arms
/// for the next deadline, and returns whether the scheduler's tick is due.
pub(crate) fn expire() -> bool {
    let me = cpu::cpu_id();
    let now = cpu::now_ns();
    // One at a time, waking outside the queue's lock (the wake takes run-queue locks), with no allocation.
    loop {
        let due = {
            let mut queue = QUEUES[me].lock();
            match queue.sleepers.first() {
                Some(&(deadline, _)) if deadline <= now => {
                    let (_, task) = queue.sleepers.remove(0);
                    queue.release_storage_if_empty();
                    Some(task)
                }
                _ => None,
            }
        };
        match due {
            // A task that is not blocked (woken early, now on its way out of the sleep) is left alone.
            Some(task) => crate::process::SCHED.wake(&task),
            None => break,
        }
    }
    let mut queue = QUEUES[me].lock();
    let tick_is_due = queue.next_tick_at <= now;
    if tick_is_due {
        queue.next_tick_at = now.saturating_add(queue.tick_period_ns);
    }
    arch_arm64::timer::arm_at_ns(queue.earliest_deadline());
    tick_is_due
}
