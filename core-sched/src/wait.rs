//! Sleeping without lost wake-ups: Linux's `set_current_state` / `schedule` / `try_to_wake_up` protocol, and
//! wait queues built on it.
//!
//! # The race this closes
//! The naive sleep is "put myself on the waker's list; check the condition; [`Scheduler::block_current`]". A
//! waker that makes the condition true and wakes the task *between* the check and the block finds the task
//! still running; [`Scheduler::wake`] of a task that is not blocked does nothing, and the task then blocks
//! with nobody left to wake it: a lost wake-up (`tests/wait.rs` finds that interleaving exhaustively).
//!
//! # The protocol
//! 1. [`Scheduler::prepare_to_block`] marks the running task `Blocked` *while it keeps running* (Linux
//!    `set_current_state(TASK_INTERRUPTIBLE)`), normally while the waiter still holds the lock of the queue it
//!    just joined;
//! 2. the waiter checks its condition (and its reasons to stop: a deadline, its process exiting);
//! 3. [`Scheduler::block_prepared`] switches away only if the task is still `Blocked`; a wake between 1 and
//!    3 set it `Runnable` (it was still on its run queue, so nothing was enqueued: Linux `ttwu_runnable`), and
//!    the block returns at once. When the condition already holds at 2, [`Scheduler::cancel_block`] puts the
//!    task back to `Running` (Linux `__set_current_state(TASK_RUNNING)` in `finish_wait`).
//!
//! All three take [`IrqsMasked`]: the waiter stays masked from 1 to 3, so no preemption can switch it out in
//! the window where it is `Blocked` but has not decided to sleep (Linux marks such a switch `SM_PREEMPT` and
//! keeps the task queued; here the window is simply not preemptible). Its condition check therefore runs
//! masked: it must not sleep (reading user memory through the checked copies is fine, they do not fault).
//!
//! # Why no explicit barrier
//! The two sides form the store-buffering pattern: waiter `state = Blocked; r1 = condition`, waker
//! `condition = true; r2 = state`; forbidden: `r1 == false && r2 != Blocked` (both miss each other). Linux puts
//! an `smp_mb` in `set_current_state` and one at the start of `try_to_wake_up`. Here both the state write
//! (`prepare_to_block`) and the state read (`wake`) happen under the task's `sched` lock, so they are ordered
//! by it: if the waker's critical section comes second it sees `Blocked`; if it comes first, its earlier
//! `condition = true` is released by its unlock and acquired by the waiter's lock in `prepare_to_block`, before
//! the waiter reads the condition. For a [`WaitQueue`] the queue lock gives the same pairing one level up: a
//! waker that takes the queue after the waiter joined it (and was marked `Blocked`, inside the same locked
//! section) wakes it; one that took it before had made the condition true before its unlock, which the
//! waiter's lock acquires before it checks.
//!
//! # Timeouts and exit
//! The scheduler has no timers: a caller with a deadline arms its own (the kernel's tick or high-resolution
//! timer) to call [`Scheduler::wake`] on the task at the deadline, and passes a `stop` check that reports the
//! deadline passed. A process that exits wakes its sleeping threads the same way, and their `stop` check sees
//! the process exiting. Both are ordinary wakes: every sleep here is interruptible, and a woken waiter always
//! re-checks, so a spurious wake-up costs a loop iteration, never correctness.

use alloc::collections::VecDeque;
use alloc::sync::Arc;

use crate::arch::Arch;
use crate::irq::{without_interrupts, IrqSpinLock, IrqsMasked};
use crate::sched::Scheduler;
use crate::task::{Task, TaskState};

impl<A: Arch> Scheduler<A> {
    /// The running task, with interrupts already masked by the caller.
    pub fn current_masked(&self, masked: &IrqsMasked<A>) -> Arc<Task<A>> {
        self.run_queue(A::cpu_id())
            .inner
            .lock_masked(masked)
            .curr
            .clone()
            .expect("no current task: init_cpu not called on this CPU")
    }

    /// Step 1 of the protocol (module documentation): marks the running task `Blocked` while it keeps
    /// running, so that a [`Scheduler::wake`] from now on makes it `Runnable` again. Returns the task.
    pub fn prepare_to_block(&self, masked: &IrqsMasked<A>) -> Arc<Task<A>> {
        let current = self.current_masked(masked);
        {
            let _sched = current.sched.lock_masked(masked);
            assert!(
                matches!(current.state.state(), TaskState::Running | TaskState::Blocked | TaskState::Runnable),
                "prepare_to_block of an exited task"
            );
            current.state.set_state(TaskState::Blocked);
        }
        current
    }

    /// Step 3: switches away unless a wake came since [`Scheduler::prepare_to_block`], and returns when the
    /// task runs again (woken, or at once when the wake came first). Returns whether it switched away.
    pub fn block_prepared(&self, masked: &IrqsMasked<A>) -> bool {
        let current = self.current_masked(masked);
        {
            let _sched = current.sched.lock_masked(masked);
            if current.state.state() != TaskState::Blocked {
                // Woken between prepare and here: still on its run queue, just running on.
                current.state.set_state(TaskState::Running);
                return false;
            }
        }
        // A wake from here on finds it Blocked and on_rq: `schedule` then sees it Runnable and keeps it.
        self.schedule();
        true
    }

    /// The condition held after [`Scheduler::prepare_to_block`]: back to `Running` without switching.
    pub fn cancel_block(&self, masked: &IrqsMasked<A>) {
        let current = self.current_masked(masked);
        let _sched = current.sched.lock_masked(masked);
        if matches!(current.state.state(), TaskState::Blocked | TaskState::Runnable) {
            current.state.set_state(TaskState::Running);
        }
    }
}

/// A queue of sleeping tasks (Linux `wait_queue_head_t`): waiters sleep in [`WaitQueue::wait_until`] until
/// their condition holds; wakers make the condition true, then call [`WaitQueue::wake_all`] or
/// [`WaitQueue::wake_one`].
pub struct WaitQueue<A: Arch> {
    waiters: IrqSpinLock<A, VecDeque<Arc<Task<A>>>>,
}

impl<A: Arch> Default for WaitQueue<A> {
    fn default() -> Self {
        Self::new()
    }
}

impl<A: Arch> WaitQueue<A> {
    /// An empty queue. `const`, for statics.
    pub const fn new() -> Self {
        WaitQueue { waiters: IrqSpinLock::new(VecDeque::new()) }
    }

    /// Sleeps until `condition()` holds (`Ok`) or `stop()` gives a reason to give up (`Err(reason)`: a deadline
    /// passed, the process is exiting). Both are called with interrupts masked, after the task is marked
    /// `Blocked` (see the module documentation), and must not sleep. Whoever makes `stop` true must also wake
    /// the task ([`Scheduler::wake`]): a timer at the deadline, the exit path for its threads.
    pub fn wait_until<E>(
        &self,
        sched: &Scheduler<A>,
        mut condition: impl FnMut() -> bool,
        mut stop: impl FnMut() -> Option<E>,
    ) -> Result<(), E> {
        without_interrupts::<A, _>(|masked| {
            let outcome = loop {
                let me = {
                    let mut waiters = self.waiters.lock_masked(masked);
                    let me = sched.prepare_to_block(masked);
                    // A wake removes what it wakes; a spurious wake-up (timer, exit) leaves us queued.
                    if !waiters.iter().any(|waiter| Arc::ptr_eq(waiter, &me)) {
                        waiters.push_back(me.clone());
                    }
                    me
                };
                if condition() {
                    break Ok(());
                }
                if let Some(reason) = stop() {
                    break Err(reason);
                }
                drop(me);
                sched.block_prepared(masked);
            };
            sched.cancel_block(masked);
            let me = sched.current_masked(masked);
            self.waiters.lock_masked(masked).retain(|waiter| !Arc::ptr_eq(waiter, &me));
            outcome
        })
    }

    /// Wakes every waiter; returns how many were queued. Call after making their condition true.
    pub fn wake_all(&self, sched: &Scheduler<A>) -> usize {
        let woken: VecDeque<Arc<Task<A>>> = core::mem::take(&mut *self.waiters.lock());
        for task in &woken {
            sched.wake(task);
        }
        woken.len()
    }

    /// Wakes the longest-waiting waiter, if any; returns whether there was one. Call after making its
    /// condition true. (Not exclusive in Linux's sense: a waiter that then gives up does not pass the wake on.)
    pub fn wake_one(&self, sched: &Scheduler<A>) -> bool {
        let woken = self.waiters.lock().pop_front();
        if let Some(task) = &woken {
            sched.wake(task);
        }
        woken.is_some()
    }

    /// The queue itself, for tests that arrange waiters by hand.
    #[cfg(test)]
    pub(crate) fn waiters_for_test(&self) -> crate::irq::IrqSpinLockGuard<'_, A, VecDeque<Arc<Task<A>>>> {
        self.waiters.lock()
    }

    /// How many tasks wait (a snapshot).
    pub fn len(&self) -> usize {
        self.waiters.lock().len()
    }

    /// Whether no task waits (a snapshot).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
