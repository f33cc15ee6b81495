//! Sleeping without lost wake-ups: the prepare / check / block protocol on the real scheduler with the mock
//! arch, the [`WaitQueue`] built on it, and an exhaustive interleaving check of the lost-wake-up race that
//! finds the race in the old `block_current` / `wake` scheme and none in the new one.
//!
//! The interleaving check runs the *real* scheduler calls: the waiter's and the waker's programs are lists of
//! steps, each step one critical section (what one lock, or the task's own CPU, makes atomic), and every
//! interleaving of the two lists runs on a fresh scheduler. Between steps the only shared state is what the
//! locks protect, so interleaving whole steps is exhaustive for this race under sequential consistency; the
//! memory-ordering side (why no explicit barrier is needed) is the lock-pairing argument in `wait.rs`.

use alloc::sync::Arc;
use core::cell::{Cell, RefCell};
use std::vec;
use std::vec::Vec;

use super::mock::*;
use crate::irq::without_interrupts;
use crate::sched::Scheduler;
use crate::task::{Task, TaskState};
use crate::wait::WaitQueue;
use crate::CpuSet;

/// A waiter running on CPU 0, made current there.
fn running_waiter(sched: &Scheduler<Mock>) -> Arc<Task<Mock>> {
    let waiter = user(1, new_mm(1), CpuSet::single(0));
    sched.spawn(waiter.clone(), None).unwrap();
    run_on(sched, 0, &waiter);
    waiter
}

fn switches(log: &[Event]) -> usize {
    log.iter().filter(|event| matches!(event, Event::SwitchContext { .. })).count()
}

#[test]
fn wake_between_prepare_and_block_makes_the_block_return_at_once() {
    let sched = setup(2);
    let waiter = running_waiter(sched);
    without_interrupts::<Mock, _>(|masked| sched.prepare_to_block(masked));
    assert_eq!(waiter.state(), TaskState::Blocked);
    set_cpu(1);
    sched.wake(&waiter);
    set_cpu(0);
    assert_eq!(waiter.state(), TaskState::Runnable, "the wake sees the prepared task");
    clear_log();
    let switched = without_interrupts::<Mock, _>(|masked| sched.block_prepared(masked));
    assert!(!switched);
    assert_eq!(switches(&events()), 0);
    assert!(Arc::ptr_eq(&sched.current(), &waiter));
    assert_eq!(waiter.state(), TaskState::Running);
}

#[test]
fn block_without_wake_switches_away_and_a_later_wake_requeues() {
    let sched = setup(2);
    let waiter = running_waiter(sched);
    let switched = without_interrupts::<Mock, _>(|masked| {
        sched.prepare_to_block(masked);
        sched.block_prepared(masked)
    });
    assert!(switched);
    assert_eq!(waiter.state(), TaskState::Blocked);
    assert!(!Arc::ptr_eq(&sched.current(), &waiter));
    set_cpu(1);
    sched.wake(&waiter);
    assert_eq!(waiter.state(), TaskState::Runnable);
    run_on(sched, 0, &waiter);
    assert_eq!(waiter.state(), TaskState::Running);
}

#[test]
fn cancel_block_runs_on() {
    let sched = setup(1);
    let waiter = running_waiter(sched);
    without_interrupts::<Mock, _>(|masked| {
        sched.prepare_to_block(masked);
        sched.cancel_block(masked);
    });
    assert_eq!(waiter.state(), TaskState::Running);
    // A later wake of a running task does nothing.
    sched.wake(&waiter);
    assert_eq!(waiter.state(), TaskState::Running);
}

#[test]
fn wait_until_with_the_condition_true_does_not_block_or_stay_queued() {
    let sched = setup(1);
    let _waiter = running_waiter(sched);
    let queue = WaitQueue::<Mock>::new();
    clear_log();
    assert_eq!(queue.wait_until(sched, || true, || None::<()>), Ok(()));
    assert_eq!(switches(&events()), 0);
    assert!(queue.is_empty());
}

#[test]
fn wait_until_stops_for_the_stop_reason() {
    let sched = setup(1);
    let waiter = running_waiter(sched);
    let queue = WaitQueue::<Mock>::new();
    assert_eq!(queue.wait_until(sched, || false, || Some("deadline")), Err("deadline"));
    assert!(queue.is_empty());
    assert_eq!(waiter.state(), TaskState::Running);
}

#[test]
fn wait_until_catches_a_wake_between_its_check_and_its_block() {
    // The waker runs exactly in the window: after the waiter checked the condition (false) and before it
    // blocks (the `stop` check is in that window). The block must return at once and the waiter find the
    // condition true on its next iteration, without ever switching away.
    let sched = setup(2);
    let waiter = running_waiter(sched);
    let queue = WaitQueue::<Mock>::new();
    let condition = Cell::new(false);
    let woken = Cell::new(0);
    clear_log();
    let outcome = queue.wait_until(
        sched,
        || condition.get(),
        || {
            if !condition.get() {
                set_cpu(1);
                condition.set(true);
                woken.set(queue.wake_all(sched));
                set_cpu(0);
            }
            None::<()>
        },
    );
    assert_eq!(outcome, Ok(()));
    assert_eq!(woken.get(), 1, "the waiter was queued when the waker looked");
    assert_eq!(switches(&events()), 0, "no switch: the wake came before the block");
    assert_eq!(waiter.state(), TaskState::Running);
    assert!(queue.is_empty());
}

#[test]
fn wake_one_wakes_the_first_waiter_only() {
    let sched = setup(1);
    let queue = WaitQueue::<Mock>::new();
    assert!(!queue.wake_one(sched));
    let waiter = running_waiter(sched);
    // Queue it and block it for real (the mock's switch returns at once, so do the steps by hand).
    without_interrupts::<Mock, _>(|masked| {
        sched.prepare_to_block(masked);
        sched.block_prepared(masked);
    });
    // wait_until's own queueing is tested above; here only the queue's order matters.
    queue.waiters_for_test().push_back(waiter.clone());
    let other = user(2, new_mm(2), CpuSet::single(0));
    queue.waiters_for_test().push_back(other.clone());
    assert!(!queue.is_empty());
    assert!(queue.wake_one(sched));
    assert_eq!(waiter.state(), TaskState::Runnable);
    assert_eq!(queue.len(), 1);
    assert!(!queue.is_empty());
}

// --- The exhaustive interleaving check ---

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scheme {
    /// Join the queue, check, `block_current`; the waker's `wake` does nothing to a task not yet blocked.
    OldBlockCurrent,
    /// Join the queue and `prepare_to_block` under the queue lock, check, `block_prepared`.
    PrepareToBlock,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// Waiter: join the queue (and, in the new scheme, mark itself Blocked in the same critical section).
    Join,
    /// Waiter: check the condition; if it holds, stop waiting (new scheme: back to Running).
    Check,
    /// Waiter: block, unless the check found the condition true.
    Block,
    /// Waker: make the condition true.
    SetCondition,
    /// Waker: take the queue's waiters under its lock.
    TakeWaiters,
    /// Waker: wake what it took.
    WakeTaken,
}

const WAITER: [Step; 3] = [Step::Join, Step::Check, Step::Block];
const WAKER: [Step; 3] = [Step::SetCondition, Step::TakeWaiters, Step::WakeTaken];

/// Every interleaving of the two programs (each keeps its own order).
fn interleavings() -> Vec<Vec<Step>> {
    fn extend(prefix: &mut Vec<Step>, waiter: &[Step], waker: &[Step], out: &mut Vec<Vec<Step>>) {
        if waiter.is_empty() && waker.is_empty() {
            out.push(prefix.clone());
            return;
        }
        for (program, other, first) in [(waiter, waker, true), (waker, waiter, false)] {
            if let Some((&step, rest)) = program.split_first() {
                prefix.push(step);
                if first {
                    extend(prefix, rest, other, out);
                } else {
                    extend(prefix, other, rest, out);
                }
                prefix.pop();
            }
        }
    }
    let mut out = Vec::new();
    extend(&mut Vec::new(), &WAITER, &WAKER, &mut out);
    out
}

/// Runs one interleaving on a fresh scheduler; returns whether the wake-up was lost (the waker finished, the
/// condition is true, and the waiter is blocked with nobody left to wake it).
fn wake_is_lost(scheme: Scheme, order: &[Step]) -> bool {
    let sched = setup(2);
    let waiter = running_waiter(sched);
    let queue: RefCell<Vec<Arc<Task<Mock>>>> = RefCell::new(Vec::new());
    let condition = Cell::new(false);
    let condition_seen = Cell::new(false);
    let mut taken = Vec::new();
    for &step in order {
        match step {
            Step::Join | Step::Check | Step::Block => set_cpu(0),
            _ => set_cpu(1),
        }
        match (step, scheme) {
            (Step::Join, Scheme::OldBlockCurrent) => queue.borrow_mut().push(waiter.clone()),
            (Step::Join, Scheme::PrepareToBlock) => without_interrupts::<Mock, _>(|masked| {
                queue.borrow_mut().push(waiter.clone());
                sched.prepare_to_block(masked);
            }),
            (Step::Check, _) => {
                condition_seen.set(condition.get());
                if condition_seen.get() && scheme == Scheme::PrepareToBlock {
                    without_interrupts::<Mock, _>(|masked| sched.cancel_block(masked));
                }
            }
            (Step::Block, Scheme::OldBlockCurrent) if !condition_seen.get() => sched.block_current(),
            (Step::Block, Scheme::PrepareToBlock) if !condition_seen.get() => {
                without_interrupts::<Mock, _>(|masked| sched.block_prepared(masked));
            }
            (Step::Block, _) => {}
            (Step::SetCondition, _) => condition.set(true),
            (Step::TakeWaiters, _) => taken = core::mem::take(&mut *queue.borrow_mut()),
            (Step::WakeTaken, _) => {
                for task in taken.drain(..) {
                    sched.wake(&task);
                }
            }
        }
    }
    set_cpu(0);
    waiter.state() == TaskState::Blocked
}

#[test]
fn every_interleaving_is_explored() {
    // 6 steps, 3 from each program: C(6, 3) orders.
    assert_eq!(interleavings().len(), 20);
}

#[test]
fn old_block_current_scheme_loses_a_wake_up() {
    let lost: Vec<Vec<Step>> =
        interleavings().into_iter().filter(|order| wake_is_lost(Scheme::OldBlockCurrent, order)).collect();
    // The race: the waker runs entirely between the waiter's check and its block.
    let race = vec![Step::Join, Step::Check, Step::SetCondition, Step::TakeWaiters, Step::WakeTaken, Step::Block];
    assert_eq!(lost, [race], "the old scheme loses the wake-up exactly when the waker fits in the window");
}

#[test]
fn prepare_to_block_scheme_loses_no_wake_up() {
    for order in interleavings() {
        assert!(!wake_is_lost(Scheme::PrepareToBlock, &order), "lost wake-up in {order:?}");
    }
}

/// A wake that finds its task still on its CPU (between `prepare_to_block` and the block, or before
/// `cancel_block`) leaves it on its run queue (`on_rq`): after the task runs on without switching, the next
/// prepare-and-wake again finds it there and does not queue it. Queued while it runs, it would be in a queue
/// and some CPU's `curr` at once, and run twice after its switch-out requeued it.
#[test]
fn a_wake_of_a_task_still_on_its_cpu_leaves_it_on_its_run_queue_for_the_next_wake() {
    let sched = setup(2);
    let waiter = running_waiter(sched);
    for round in 0..3 {
        without_interrupts::<Mock, _>(|masked| sched.prepare_to_block(masked));
        set_cpu(1);
        sched.wake(&waiter);
        set_cpu(0);
        assert_eq!(sched.run_queue(0).queued(), 0, "round {round}: the running task was queued by the wake");
        assert_eq!(waiter.state(), TaskState::Runnable);
        if round % 2 == 0 {
            assert!(!without_interrupts::<Mock, _>(|masked| sched.block_prepared(masked)), "round {round}");
        } else {
            without_interrupts::<Mock, _>(|masked| sched.cancel_block(masked));
        }
        assert_eq!(waiter.state(), TaskState::Running);
        assert!(Arc::ptr_eq(&sched.current(), &waiter));
    }
}
