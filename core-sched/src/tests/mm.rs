//! The two reference counts of an mm: user pages released exactly once when the last user (owning task or
//! `mmget` holder) goes, while lazy holders keep only the root; `mm_free` exactly once at the last lazy
//! reference, after the release.

use alloc::sync::Arc;

use super::mock::*;
use crate::task::TaskState;
use crate::CpuSet;

fn position(log: &[Record], event: Event) -> Option<usize> {
    log.iter().position(|r| r.event == event)
}

#[test]
fn user_pages_released_at_the_last_user_while_idle_tasks_still_hold_the_mm() {
    let sched = setup(2);
    let mm = new_mm(7);
    let first = user(1, mm.clone(), CpuSet::single(0));
    let second = user(2, mm.mmget(), CpuSet::single(1));
    for (cpu, task) in [(0, &first), (1, &second)] {
        sched.spawn(task.clone(), None).unwrap();
        run_on(sched, cpu, task);
    }
    clear_log();

    // The first thread exits: one user is left, nothing is released.
    set_cpu(0);
    sched.exit_current();
    assert!(Arc::ptr_eq(&sched.run_queue(0).idle().unwrap().active_mm().unwrap(), &mm), "idle 0 holds it lazily");
    assert_eq!(release_count(&take_log(), 7), 0);
    // count: the users' one, the running second thread's active_mm, idle 0's lazy one.
    assert_eq!((mm.users(), mm.count()), (1, 3));

    // The last thread exits: the user pages go at once, from the exiting task, with interrupts enabled (the
    // caller's state), although both idle tasks still hold the mm lazily.
    set_cpu(1);
    sched.exit_current();
    let log = take_log();
    assert_eq!(release_count(&log, 7), 1);
    assert_eq!(take_release_with_irqs_enabled(), Some(true), "released outside the masked sections");
    let release = position(&log, Event::ReleaseUserPages { mm: 7 }).unwrap();
    let switch = log.iter().position(|r| matches!(r.event, Event::SwitchContext { .. })).unwrap();
    assert!(release < switch, "released by the exiting task itself, before it switches away");
    assert_eq!(log[release].published_mm, 0, "the exiting CPU no longer publishes the mm");
    assert!(mm.is_user_pages_released());
    assert_eq!((mm.users(), mm.count()), (0, 2), "two lazy holders left");
    assert_eq!(mm_free_count(&log, 7), 0, "the root and ASID stay for the lazy holders");
    assert_eq!(second.state(), TaskState::Exited);

    // A new process on CPU 0 replaces the lazy mm there; CPU 1's idle task still holds it.
    let other = new_mm(8);
    let next = user(3, other.clone(), CpuSet::single(0));
    set_cpu(0);
    sched.spawn(next.clone(), None).unwrap();
    run_on(sched, 0, &next);
    assert_eq!(mm.count(), 1);
    assert!(!mm.is_freed());

    // The last lazy holder lets go (its CPU goes offline): mm_free, once, and never a second release.
    set_cpu(1);
    sched.offline_current_cpu();
    let log = take_log();
    assert_eq!(mm_free_count(&log, 7), 1);
    assert_eq!(release_count(&log, 7), 0);
    assert!(mm.is_freed());
    assert_eq!((mm.users(), mm.count()), (0, 0));
    assert!(!other.is_user_pages_released(), "the running process keeps its pages");
}

#[test]
fn an_mmget_holder_keeps_the_user_pages_past_the_last_thread() {
    let sched = setup(2);
    let mm = new_mm(3);
    let thread = user(1, mm.clone(), CpuSet::single(0));
    let worker = kthread(2, CpuSet::single(1));
    sched.spawn(thread.clone(), None).unwrap();
    sched.spawn(worker.clone(), None).unwrap();
    run_on(sched, 0, &thread);
    run_on(sched, 1, &worker);

    // The worker adopts the mm (kthread_use_mm with its own user reference), then the process's only thread
    // exits: the worker still uses the contents, so they stay.
    set_cpu(1);
    let held = mm.mmget();
    sched.kthread_use_mm(&held);
    set_cpu(0);
    clear_log();
    sched.exit_current();
    assert_eq!(release_count(&take_log(), 3), 0);
    assert!(!mm.is_user_pages_released());

    // The worker is done: its mmput is the last user's, and releases the pages; the worker keeps the mm lazily.
    set_cpu(1);
    sched.kthread_unuse_mm();
    held.mmput();
    let log = take_log();
    assert_eq!(release_count(&log, 3), 1);
    assert_eq!(mm_free_count(&log, 3), 0);
    assert!(Arc::ptr_eq(&worker.active_mm().unwrap(), &mm), "kept lazily");

    // Both CPUs go idle and offline: one mm_free, after the release.
    for cpu in [1, 0] {
        set_cpu(cpu);
        if !Arc::ptr_eq(&sched.current(), &sched.run_queue(cpu).idle().unwrap()) {
            sched.exit_current();
        }
        sched.offline_current_cpu();
    }
    assert_eq!(mm_free_count(&take_log(), 3), 1);
    assert!(mm.is_freed());
}

#[test]
#[should_panic(expected = "whose users are gone")]
fn mmget_after_the_release_is_refused() {
    let sched = setup(1);
    let mm = new_mm(5);
    let thread = user(1, mm.clone(), CpuSet::single(0));
    sched.spawn(thread.clone(), None).unwrap();
    run_on(sched, 0, &thread);
    sched.exit_current();
    assert!(mm.is_user_pages_released());
    // The lazy reference of the idle task keeps the mm, but its contents are gone: it cannot get a user again.
    let _revived = mm.mmget();
}

#[test]
fn mmget_not_zero_refuses_an_mm_whose_users_are_gone() {
    let _sched = setup(1);
    let mm = new_mm(9);
    let reader = mm.mmget_not_zero().expect("the creating reference is a user");
    assert_eq!(mm.users(), 2);
    reader.mmput();
    assert_eq!(mm.users(), 1);
    let lazy = mm.mmgrab();
    clear_log();
    mm.clone().mmput();
    assert_eq!(release_count(&take_log(), 9), 1, "the last user released the pages");
    assert!(mm.mmget_not_zero().is_none(), "no revival of a released mm");
    assert_eq!(mm.users(), 0);
    lazy.mmdrop();
}

/// The `Debug` form the scheduler's assertion messages print: id, state and both counts.
#[test]
fn debug_form_shows_id_state_and_counts() {
    let mm = new_mm(9);
    let second = mm.mmget();
    let lazy = mm.mmgrab();
    assert_eq!(std::format!("{mm:?}"), "Mm { id: MmId(9), membarrier_state: 0, users: 2, count: 2 }");
    lazy.mmdrop();
    second.mmput();
}

/// The `Debug` form of a task in the same messages: id and kind.
#[test]
fn task_debug_form_shows_id_and_kind() {
    let task = kthread(12, CpuSet::single(0));
    assert_eq!(std::format!("{task:?}"), "Task { id: TaskId(12), kind: KernelThread }");
}
