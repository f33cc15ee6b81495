//! The switch sequence, checked on the mock's recorded arch calls: where `switch_mm` and the post-switch
//! hook happen for each kind of switch, the barrier before publishing, lazy references, on_cpu, migration.

use alloc::sync::Arc;
use std::vec::Vec;

use super::mock::*;
use crate::arch::membarrier_state_requires_barrier;
use crate::membarrier::*;
use crate::runqueue::SwitchKind;
use crate::task::TaskState;
use crate::{CpuSet, IpiKind};

fn position(log: &[Record], pred: impl Fn(&Record) -> bool) -> Option<usize> {
    log.iter().position(pred)
}

/// The recorded calls of one switch into a user task: rule-1 barrier while the old id is published, then
/// (optionally) switch_mm, then the hook with the new id published and the rq's state, then the switch.
fn assert_switch_into_user(log: &[Record], mm: u32, expect_switch_mm: bool, state: u32) {
    let first_mb = position(log, |r| r.event == Event::SmpMb).expect("no barrier before publishing curr");
    let published_before = log[0].published_mm;
    assert_eq!(log[first_mb].published_mm, published_before, "barrier before the publication: {log:#?}");
    let hook = position(log, |r| matches!(r.event, Event::Hook { .. })).expect("hook missing");
    assert_eq!(log[hook].event, Event::Hook { state });
    assert_eq!(log[hook].published_mm, mm, "hook after publishing the mm");
    assert!(first_mb < hook);
    let switch_mm = position(log, |r| matches!(r.event, Event::SwitchMm { .. }));
    match switch_mm {
        Some(i) => {
            assert!(expect_switch_mm, "unexpected switch_mm: {log:#?}");
            assert!(i < hook, "hook must follow switch_mm");
            assert!(first_mb < i);
        }
        None => assert!(!expect_switch_mm, "switch_mm missing: {log:#?}"),
    }
    let context = position(log, |r| matches!(r.event, Event::SwitchContext { .. })).expect("no switch");
    assert!(hook < context);
    let barrier_after_hook = log.get(hook + 1).is_some_and(|r| r.event == Event::SmpMb);
    assert_eq!(barrier_after_hook, membarrier_state_requires_barrier(state), "hook barrier: {log:#?}");
}

#[test]
fn generic_hook_barriers_exactly_for_expedited_states() {
    for state in 0..256u32 {
        let expected = state & (MEMBARRIER_STATE_PRIVATE_EXPEDITED | MEMBARRIER_STATE_GLOBAL_EXPEDITED) != 0;
        assert_eq!(membarrier_state_requires_barrier(state), expected, "state {state:#x}");
        clear_log();
        crate::generic_membarrier_finish_switch_mm::<Mock>(state);
        let barriers = events().iter().filter(|e| **e == Event::SmpMb).count();
        assert_eq!(barriers, usize::from(expected), "state {state:#x}");
    }
}

#[test]
fn user_kthread_user_same_mm_calls_hook_without_switch_mm() {
    let sched = setup(1);
    let mm = new_mm(7);
    let t1 = user(1, mm.clone(), CpuSet::single(0));
    let t2 = user(2, mm.mmget(), CpuSet::single(0));
    let k = kthread(3, CpuSet::single(0));
    sched.spawn(t1.clone(), None).unwrap();
    run_on(sched, 0, &t1);
    assert_eq!(sched.membarrier(&t1, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0), Ok(0));
    let state = mm.membarrier_state();
    assert_ne!(state & MEMBARRIER_STATE_PRIVATE_EXPEDITED, 0);

    // user -> kernel thread: no switch_mm, no hook, "no user mm" published, K borrows M.
    sched.spawn(k.clone(), None).unwrap();
    clear_log();
    sched.block_current();
    let log = take_log();
    assert!(Arc::ptr_eq(&sched.current(), &k));
    assert_eq!(position(&log, |r| matches!(r.event, Event::SwitchMm { .. })), None, "{log:#?}");
    assert_eq!(position(&log, |r| matches!(r.event, Event::Hook { .. })), None, "{log:#?}");
    assert!(log[position(&log, |r| r.event == Event::SmpMb).unwrap()].published_mm == 7);
    assert_eq!(sched.run_queue(0).current_mm_id().0, 0);
    assert!(Arc::ptr_eq(&k.active_mm().unwrap(), &mm));
    // users hold 1, t1 and t2 active_mm 1 each, K's lazy reference 1.
    assert_eq!(mm.count(), 4);

    // kernel thread -> user, same mm: no switch_mm, the hook runs with the rq's state and barriers.
    sched.spawn(t2.clone(), None).unwrap();
    clear_log();
    sched.block_current();
    let log = take_log();
    assert!(Arc::ptr_eq(&sched.current(), &t2));
    assert_switch_into_user(&log, 7, false, state);
    assert_eq!(sched.run_queue(0).stats().switches_of(SwitchKind::KernelThreadToUserSameMm), 1);
    assert_eq!(sched.run_queue(0).stats().switches_of(SwitchKind::UserToKernelThread), 1);
    // K's lazy reference is dropped after the switch.
    assert!(k.active_mm().is_none());
    assert_eq!(mm.count(), 3);
    assert!(irqs_enabled());
}

#[test]
fn first_switch_and_other_mm_switch_call_switch_mm_then_hook() {
    let sched = setup(1);
    let a = new_mm(1);
    let b = new_mm(2);
    let ta = user(1, a.clone(), CpuSet::single(0));
    let tb = user(2, b.clone(), CpuSet::single(0));
    sched.spawn(ta.clone(), None).unwrap();
    clear_log();
    sched.schedule();
    let log = take_log();
    assert_switch_into_user(&log, 1, true, 0);
    assert!(log.iter().any(|r| r.event == Event::SwitchMm { prev: None, next: 1 }));
    sched.spawn(tb.clone(), None).unwrap();
    clear_log();
    sched.yield_now();
    let log = take_log();
    assert!(Arc::ptr_eq(&sched.current(), &tb));
    assert_switch_into_user(&log, 2, true, 0);
    assert!(log.iter().any(|r| r.event == Event::SwitchMm { prev: Some(1), next: 2 }));
    // ta was requeued (yield) and runs again: user -> user other mm once more, hook each time.
    clear_log();
    sched.yield_now();
    assert!(Arc::ptr_eq(&sched.current(), &ta));
    assert_switch_into_user(&take_log(), 1, true, 0);
    let stats = sched.run_queue(0).stats();
    assert_eq!(stats.switches_of(SwitchKind::KernelThreadToUserOtherMm), 1);
    assert_eq!(stats.switches_of(SwitchKind::UserToUserOtherMm), 2);
    assert_eq!(stats.hook_calls, 3);
    assert_eq!(stats.hook_barriers, 0);
    assert!(!tb.is_on_cpu() && ta.is_on_cpu());
}

#[test]
fn user_to_user_same_mm_skips_switch_mm_and_barriers_when_registered() {
    let sched = setup(1);
    let mm = new_mm(3);
    let t1 = user(1, mm.clone(), CpuSet::single(0));
    let t2 = user(2, mm.mmget(), CpuSet::single(0));
    sched.spawn(t1.clone(), None).unwrap();
    run_on(sched, 0, &t1);
    sched.membarrier(&t1, MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED, 0, 0).unwrap();
    sched.spawn(t2.clone(), None).unwrap();
    clear_log();
    sched.yield_now();
    let log = take_log();
    assert_switch_into_user(&log, 3, false, mm.membarrier_state());
    assert_eq!(sched.run_queue(0).stats().switches_of(SwitchKind::UserToUserSameMm), 1);
    assert_eq!(sched.run_queue(0).stats().hook_barriers, 1);
}

#[test]
fn kthread_use_mm_publishes_switches_and_calls_hook() {
    let sched = setup(1);
    let mm = new_mm(9);
    let t = user(1, mm.clone(), CpuSet::single(0));
    let t_other = user(2, mm.mmget(), CpuSet::single(0));
    sched.spawn(t.clone(), None).unwrap();
    run_on(sched, 0, &t);
    sched.membarrier(&t, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0).unwrap();
    let k = kthread(3, CpuSet::single(0));
    sched.spawn(k.clone(), None).unwrap();
    sched.exit_current();
    assert!(Arc::ptr_eq(&sched.current(), &k));
    // K lazily holds mm 9 (from the exited task); use another mm to see switch_mm.
    let other = new_mm(10);
    clear_log();
    sched.kthread_use_mm(&other);
    let log = take_log();
    let switch_mm = position(&log, |r| r.event == Event::SwitchMm { prev: Some(9), next: 10 }).unwrap();
    let hook = position(&log, |r| r.event == Event::Hook { state: 0 }).unwrap();
    assert!(switch_mm < hook);
    assert_eq!(log[hook].published_mm, 10);
    assert_eq!(sched.run_queue(0).current_mm_id().0, 10);
    clear_log();
    sched.kthread_unuse_mm();
    let log = take_log();
    let mb = position(&log, |r| r.event == Event::SmpMb).expect("barrier before clearing the mm");
    assert_eq!(log[mb].published_mm, 10, "barrier must precede the clearing");
    assert_eq!(sched.run_queue(0).current_mm_id().0, 0);
    assert!(Arc::ptr_eq(&k.active_mm().unwrap(), &other), "kept lazily");
    other.clone().mmput();
    assert!(!other.is_freed(), "the lazy reference keeps it");

    // Same mm as the lazy one: no switch_mm, hook with the registered state, barrier.
    sched.kthread_use_mm(&other);
    sched.kthread_unuse_mm();
    let registered = mm.mmget();
    clear_log();
    sched.kthread_use_mm(&registered);
    let log = take_log();
    assert!(position(&log, |r| r.event == Event::SwitchMm { prev: Some(10), next: 9 }).is_some());
    let hook = position(&log, |r| matches!(r.event, Event::Hook { .. })).unwrap();
    assert_eq!(log[hook].event, Event::Hook { state: mm.membarrier_state() });
    assert_eq!(log[hook + 1].event, Event::SmpMb);
    assert_eq!(mm_free_count(&log, 10), 1, "old lazy mm dropped after switching away from it");
    sched.kthread_unuse_mm();
    registered.mmput();
    drop(t_other);
}

#[test]
fn exit_barrier_then_lazy_mm_freed_after_switch() {
    let sched = setup(1);
    let mm = new_mm(4);
    let t = user(1, mm.clone(), CpuSet::single(0));
    sched.spawn(t.clone(), None).unwrap();
    run_on(sched, 0, &t);
    clear_log();
    sched.exit_current();
    let log = take_log();
    let mb = position(&log, |r| r.event == Event::SmpMb).unwrap();
    assert_eq!(log[mb].published_mm, 4, "barrier before clearing the mm");
    assert_eq!(t.state(), TaskState::Exited);
    assert_eq!(mm.users(), 0);
    assert_eq!(mm.count(), 1, "idle holds it lazily");
    assert!(!mm.is_freed());
    let other = new_mm(5);
    let t2 = user(2, other.clone(), CpuSet::single(0));
    sched.spawn(t2.clone(), None).unwrap();
    clear_log();
    sched.schedule();
    let log = take_log();
    let switch = position(&log, |r| matches!(r.event, Event::SwitchContext { .. })).unwrap();
    let freed = position(&log, |r| r.event == Event::MmFree { mm: 4 }).unwrap();
    assert!(switch < freed, "the lazy mm is dropped in finish_switch, after the switch");
    assert!(mm.is_freed());
    assert_eq!(Arc::strong_count(&t), 1, "the scheduler released the exited task");
}

#[test]
fn migration_steals_only_tasks_off_cpu_and_allowed() {
    let sched = setup(2);
    let mm = new_mm(1);
    let pinned = user(1, mm.clone(), CpuSet::single(0));
    let free = user(2, mm.mmget(), CpuSet::all());
    set_cpu(0);
    sched.spawn(pinned.clone(), Some(0)).unwrap();
    sched.spawn(free.clone(), Some(0)).unwrap();
    free.on_cpu.store(true, core::sync::atomic::Ordering::Relaxed);
    set_cpu(1);
    sched.schedule();
    assert!(sched.current().is_kernel_thread(), "nothing stealable while on_cpu is set");
    free.on_cpu.store(false, core::sync::atomic::Ordering::Relaxed);
    sched.schedule();
    assert!(Arc::ptr_eq(&sched.current(), &free));
    assert_eq!(free.cpu(), 1);
    assert_eq!(sched.run_queue(1).stats().migrations, 1);
    // The pinned task is never stolen by CPU 1.
    sched.block_current();
    assert!(sched.current().is_kernel_thread());
    run_on(sched, 0, &pinned);

    // Affinity change of a running task: it moves at its next schedule.
    sched.wake(&free);
    set_cpu(0);
    sched.set_affinity(&pinned, CpuSet::single(1)).unwrap();
    assert!(sched.need_resched());
    sched.schedule();
    assert!(!Arc::ptr_eq(&sched.current(), &pinned));
    run_on(sched, 1, &pinned);
    assert_eq!(sched.set_affinity(&pinned, CpuSet::single(5)), Err(crate::Errno::EINVAL));
}

#[test]
fn wake_of_running_task_that_blocked_keeps_it_runnable() {
    let sched = setup(1);
    let k = kthread(1, CpuSet::single(0));
    sched.spawn(k.clone(), None).unwrap();
    run_on(sched, 0, &k);
    // It marked itself blocked but a wake-up arrived before it switched away (on_rq still set).
    k.state.set_state(TaskState::Blocked);
    sched.wake(&k);
    assert_eq!(sched.run_queue(0).queued(), 0, "not queued twice");
    sched.schedule();
    assert!(Arc::ptr_eq(&sched.current(), &k));
    sched.block_current();
    assert!(!Arc::ptr_eq(&sched.current(), &k));
    sched.wake(&k);
    sched.wake(&k);
    assert_eq!(sched.run_queue(0).queued(), 1);
}

#[test]
fn spawn_on_other_cpu_sends_reschedule_and_tick_requests_resched() {
    let sched = setup(2);
    let k = kthread(1, CpuSet::single(1));
    clear_log();
    sched.spawn(k, Some(0)).unwrap();
    let log: Vec<Event> = events();
    assert!(log.contains(&Event::SendIpi { cpus: CpuSet::single(1), kind: IpiKind::Reschedule }));
    set_cpu(1);
    assert!(sched.need_resched());
    sched.schedule();
    assert!(!sched.need_resched());
    let k2 = kthread(2, CpuSet::single(1));
    sched.spawn(k2, None).unwrap();
    sched.tick();
    assert!(sched.need_resched());
}

#[test]
fn affinity_change_moves_a_task_queued_on_a_cpu_it_may_no_longer_use() {
    let sched = setup(3);
    // CPU 1 always has work of its own, so it would never steal.
    let busy = [kthread(1, CpuSet::single(1)), kthread(2, CpuSet::single(1))];
    for task in &busy {
        sched.spawn(task.clone(), Some(1)).unwrap();
    }
    run_on(sched, 1, &busy[0]);
    let moved = kthread(3, CpuSet::single(2));
    sched.spawn(moved.clone(), Some(2)).unwrap();
    assert_eq!(sched.run_queue(2).queued(), 1);
    set_cpu(0);
    clear_log();
    sched.set_affinity(&moved, CpuSet::single(1)).unwrap();
    assert_eq!(sched.run_queue(2).queued(), 0, "left on a CPU that skips it");
    assert_eq!(moved.cpu(), 1);
    assert!(events().contains(&Event::SendIpi { cpus: CpuSet::single(1), kind: IpiKind::Reschedule }));
    run_on(sched, 1, &moved);
}

#[test]
fn enqueue_honours_an_affinity_changed_after_the_cpu_was_chosen() {
    let sched = setup(3);
    let task = kthread(1, CpuSet::single(2));
    sched.spawn(task.clone(), Some(2)).unwrap();
    // A wake-up or migration chose CPU 2; then the affinity became {1} before the task was queued.
    let chosen = sched.run_queue(2).inner.lock().queue.pop_front().unwrap();
    task.set_affinity_raw(CpuSet::single(1));
    crate::irq::without_interrupts::<Mock, _>(|masked| sched.enqueue(2, chosen, masked));
    assert_eq!(sched.run_queue(2).queued(), 0);
    assert_eq!(sched.run_queue(1).queued(), 1);
    assert_eq!(task.cpu(), 1);
}

#[test]
fn current_and_block_current_read_the_cpu_id_with_interrupts_masked() {
    // With interrupts enabled, the caller can be preempted and migrated between reading the CPU id and locking
    // that CPU's run queue: current() then returns the task now running on the CPU it left, and block_current()
    // blocked that other task (a runnable task lost for good).
    let sched = setup(2);
    let task = kthread(1, CpuSet::single(0));
    sched.spawn(task.clone(), Some(0)).unwrap();
    run_on(sched, 0, &task);
    set_cpu(0);
    assert!(irqs_enabled());
    set_cpu_id_needs_masked_irqs(true);
    assert!(Arc::ptr_eq(&sched.current(), &task));
    sched.block_current();
    set_cpu_id_needs_masked_irqs(false);
    assert_eq!(task.state(), TaskState::Blocked);
    assert!(sched.current().is_kernel_thread() && !Arc::ptr_eq(&sched.current(), &task));
}

#[test]
fn cpu_time_is_accounted_at_switches_and_split_by_tick_samples() {
    let sched = setup(1);
    let mm = new_mm(10);
    let first = user(11, mm.clone(), CpuSet::single(0));
    let second = user(12, mm.mmget(), CpuSet::single(0));
    sched.spawn(first.clone(), Some(0)).unwrap();
    sched.spawn(second.clone(), Some(0)).unwrap();
    sched.schedule();
    assert_eq!(sched.current().id(), first.id());
    // The mock clock advances 1 ms per reading: each tick and each switch reads it once.
    sched.account_tick(true);
    sched.account_tick(true);
    sched.account_tick(false);
    sched.schedule();
    assert_eq!(sched.current().id(), second.id());
    let first_time = sched.cpu_time(&first);
    assert_eq!(first_time.total_ns(), 4_000_000, "from switch-in to switch-out, over three ticks");
    assert_eq!(first_time.system_ns, first_time.total_ns() / 3, "one of three samples was in the kernel");
    assert_eq!(sched.cpu_time(&first), first_time, "a task that does not run does not gain time");
    // The running task's time includes its current stretch (one reading for cpu_time itself).
    assert_eq!(sched.cpu_time(&second).total_ns(), 1_000_000);
    assert_eq!(sched.cpu_time(&second).system_ns, 0, "no sample at all counts as user time, as in Linux");
}

#[test]
fn cpu_time_split_follows_linux_cputime_adjust() {
    use crate::CpuTime;
    assert_eq!(CpuTime::split(900, 0, 0), CpuTime { user_ns: 900, system_ns: 0 });
    assert_eq!(CpuTime::split(900, 0, 5), CpuTime { user_ns: 0, system_ns: 900 });
    assert_eq!(CpuTime::split(900, 2, 1), CpuTime { user_ns: 600, system_ns: 300 });
    assert_eq!(CpuTime::split(1000, 1, 3), CpuTime { user_ns: 250, system_ns: 750 });
    let sum = CpuTime { user_ns: 5, system_ns: 7 } + CpuTime { user_ns: 3, system_ns: 2 };
    assert_eq!(sum, CpuTime { user_ns: 8, system_ns: 9 });
    assert_eq!(CpuTime::split(u64::MAX, 1, 1).total_ns(), u64::MAX, "no overflow in the ratio");
}

/// The stranding suspected behind a liburcu failure: a task queued on a CPU whose current task only yields, on an
/// idle CPU, or (stealable) on a CPU that does not respond, must run at that CPU's next yield, its next
/// scheduling point, or the next tick elsewhere; the run-queue length hints must follow every queue change.
#[test]
fn queued_task_runs_at_the_next_yield_or_tick_and_hints_follow_the_queues() {
    let sched = setup(2);
    let mm = new_mm(1);
    let yielder = user(1, mm.clone(), CpuSet::all());
    sched.spawn(yielder.clone(), Some(0)).unwrap();
    run_on(sched, 0, &yielder);
    assert_eq!(sched.run_queue(0).queued_hint(), 0);

    // Queued on CPU 0 by CPU 1 (a wake or a clone there) while CPU 0's task yields: the next yield runs it.
    set_cpu(1);
    let woken = user(2, mm.mmget(), CpuSet::all());
    sched.spawn(woken.clone(), Some(0)).unwrap();
    assert_eq!(sched.run_queue(0).queued_hint(), 1, "the enqueue publishes the length");
    set_cpu(0);
    sched.yield_now();
    assert!(Arc::ptr_eq(&sched.current(), &woken), "a yield runs the task queued on its own CPU");
    assert_eq!(sched.run_queue(0).queued_hint(), 1, "the yielder is queued in its place");

    // The yielder, queued on CPU 0 behind a task that never gives the CPU back, is stolen by idle CPU 1 at its
    // tick (the hint makes the tick ask for a reschedule, the steal scan looks at CPU 0's queue).
    set_cpu(1);
    sched.tick();
    assert!(sched.need_resched(), "a tick on an idle CPU sees work queued elsewhere");
    sched.schedule();
    assert!(Arc::ptr_eq(&sched.current(), &yielder), "idle CPU 1 steals the queued task");
    assert_eq!(sched.run_queue(0).queued_hint(), 0, "the steal publishes the victim's length");

    // A task that yields with nothing queued anywhere keeps running; one queued here afterwards runs at the next
    // yield, and a tick here asks for the switch even if no yield comes.
    sched.yield_now();
    assert!(Arc::ptr_eq(&sched.current(), &yielder));
    let late = user(3, mm.mmget(), CpuSet::all());
    set_cpu(0);
    sched.spawn(late.clone(), Some(1)).unwrap();
    set_cpu(1);
    sched.tick();
    assert!(sched.need_resched());
    sched.yield_now();
    assert!(Arc::ptr_eq(&sched.current(), &late));
}

/// A yield whose caller can go on here keeps to its own queue (Linux's `sched_yield` does not balance either):
/// a task queued on another CPU stays there. A yield whose caller cannot go on here (its affinity moved away)
/// steals it, as a preemption would.
#[test]
fn a_yield_steals_only_when_its_caller_cannot_go_on_here() {
    let sched = setup(2);
    let mm = new_mm(1);
    let yielder = user(1, mm.clone(), CpuSet::all());
    let busy = user(2, mm.mmget(), CpuSet::single(1));
    let queued = user(3, mm.mmget(), CpuSet::all());
    sched.spawn(yielder.clone(), Some(0)).unwrap();
    run_on(sched, 0, &yielder);
    sched.spawn(busy.clone(), Some(1)).unwrap();
    run_on(sched, 1, &busy);
    sched.spawn(queued.clone(), Some(1)).unwrap();
    assert_eq!(sched.run_queue(1).queued_hint(), 1, "queued behind the busy task on CPU 1");
    set_cpu(0);
    sched.yield_now();
    assert!(Arc::ptr_eq(&sched.current(), &yielder), "nothing queued here: the yielder goes on");
    assert_eq!(sched.run_queue(1).queued_hint(), 1, "CPU 1's queued task stays there");
    sched.set_affinity(&yielder, CpuSet::single(1)).unwrap();
    sched.yield_now();
    assert!(Arc::ptr_eq(&sched.current(), &queued), "the yielder leaves: CPU 0 steals the queued task");
}

/// A switch into a task whose mm registered PRIVATE_EXPEDITED_SYNC_CORE serializes the core before user mode
/// (after the hook, before the switch), and a switch into an mm without it does not (Linux's
/// `membarrier_mm_sync_core_before_usermode`).
#[test]
fn switch_into_a_sync_core_mm_serializes_the_core_after_the_hook() {
    let sched = setup(1);
    let sync_core = new_mm(4);
    let plain = new_mm(5);
    let t1 = user(1, sync_core.clone(), CpuSet::single(0));
    let t2 = user(2, plain.clone(), CpuSet::single(0));
    sched.spawn(t1.clone(), None).unwrap();
    run_on(sched, 0, &t1);
    sched.membarrier(&t1, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE, 0, 0).unwrap();
    sched.spawn(t2.clone(), None).unwrap();
    clear_log();
    sched.yield_now();
    assert!(Arc::ptr_eq(&sched.current(), &t2));
    assert!(!events().contains(&Event::SyncCore), "no SYNC_CORE registration for mm 5");
    sched.yield_now();
    assert!(Arc::ptr_eq(&sched.current(), &t1));
    let log = events();
    let hook = log.iter().position(|e| matches!(e, Event::Hook { .. })).expect("hook");
    let sync_core_at = log.iter().position(|e| *e == Event::SyncCore).expect("no core serialization");
    let context = log.iter().position(|e| matches!(e, Event::SwitchContext { .. })).expect("switch");
    assert!(hook < sync_core_at && sync_core_at < context, "{log:?}");
}

/// A new task's first entry code calls `finish_switch` (its `switch_context` never returns into `schedule`):
/// that call completes the switch at once, so the task switched away from is off its CPU before the new task
/// runs; `schedule`'s own completion afterwards finds nothing left to do.
#[test]
fn finish_switch_from_a_new_tasks_entry_completes_the_pending_switch() {
    let sched = setup(1);
    let k = kthread(2, CpuSet::single(0));
    sched.spawn(k.clone(), None).unwrap();
    run_on(sched, 0, &k);
    let checked = std::rc::Rc::new(std::cell::Cell::new(false));
    let seen = checked.clone();
    set_on_switch_context(Some(std::boxed::Box::new(move |prev, _next| {
        sched.finish_switch();
        assert!(!prev.is_on_cpu(), "finish_switch left the previous task on its CPU");
        seen.set(true);
    })));
    sched.exit_current();
    set_on_switch_context(None);
    assert!(checked.get(), "no switch happened");
    assert!(!k.is_on_cpu());
}

/// A burst of tasks grows a run queue; once it has drained, the way to idle gives the memory back down to
/// the kept capacity.
#[test]
fn a_drained_run_queue_gives_back_a_burst_s_capacity() {
    let sched = setup(1);
    let burst: Vec<_> = (0..200).map(|id| kthread(10 + id, CpuSet::single(0))).collect();
    for task in &burst {
        sched.spawn(task.clone(), None).unwrap();
    }
    let capacity = || sched.run_queue(0).inner.lock().queue.capacity();
    assert!(capacity() >= 200);
    for _ in 0..burst.len() {
        sched.schedule();
        sched.exit_current();
    }
    assert_eq!(sched.run_queue(0).queued(), 0);
    assert!(capacity() <= crate::sched::RUN_QUEUE_KEPT_CAPACITY, "capacity {}", capacity());
}

/// The timer tick asks for a reschedule when a task waits in any online CPU's queue (its own, or another
/// one it may steal from), and not when every queue is empty.
#[test]
fn tick_asks_for_a_reschedule_only_when_a_task_waits_in_some_queue() {
    let sched = setup(2);
    sched.tick();
    assert!(!sched.need_resched(), "every queue is empty");
    let k = kthread(1, CpuSet::single(1));
    sched.spawn(k.clone(), Some(1)).unwrap();
    sched.tick();
    assert!(sched.need_resched(), "a task waits on CPU 1");
    sched.schedule();
    set_cpu(1);
    run_on(sched, 1, &k);
    set_cpu(0);
    sched.tick();
    assert!(!sched.need_resched(), "CPU 1 runs its task, nothing waits");
    let k0 = kthread(2, CpuSet::single(0));
    let k0b = kthread(3, CpuSet::single(0));
    sched.spawn(k0.clone(), Some(0)).unwrap();
    run_on(sched, 0, &k0);
    sched.spawn(k0b, Some(0)).unwrap();
    sched.schedule();
    assert_eq!(sched.run_queue(0).queued(), 1, "k0 waits behind k0b");
    sched.tick();
    assert!(sched.need_resched(), "a task waits on this CPU");
}

/// A task running on another CPU whose new affinity excludes that CPU: that CPU gets a reschedule IPI (it
/// must notice now, not at its next tick); the running task of the calling CPU only gets need-resched.
#[test]
fn affinity_change_of_a_running_task_reschedules_its_cpu() {
    let sched = setup(2);
    let remote = kthread(1, CpuSet::single(1));
    sched.spawn(remote.clone(), Some(1)).unwrap();
    run_on(sched, 1, &remote);
    set_cpu(0);
    clear_log();
    sched.set_affinity(&remote, CpuSet::single(0)).unwrap();
    assert!(events().contains(&Event::SendIpi { cpus: CpuSet::single(1), kind: IpiKind::Reschedule }));
    let local = kthread(2, CpuSet::single(0));
    sched.spawn(local.clone(), Some(0)).unwrap();
    run_on(sched, 0, &local);
    clear_log();
    sched.set_affinity(&local, CpuSet::single(1)).unwrap();
    assert!(!events().iter().any(|event| matches!(event, Event::SendIpi { .. })), "no IPI to itself");
    assert!(sched.need_resched());
}

/// Where `spawn` queues a task: without a hint on the allowed online CPU with the fewest queued tasks (the
/// lowest on ties); with an allowed hint there; with a hint outside the affinity or offline on the lowest
/// allowed online CPU.
#[test]
fn spawn_places_on_the_least_loaded_or_the_hinted_allowed_cpu() {
    let sched = setup(3);
    let queued_on = |cpu: usize| sched.run_queue(cpu).queued();
    sched.spawn(kthread(1, CpuSet(0b111)), None).unwrap();
    assert_eq!((queued_on(0), queued_on(1), queued_on(2)), (1, 0, 0), "lowest on ties");
    sched.spawn(kthread(2, CpuSet(0b111)), None).unwrap();
    sched.spawn(kthread(3, CpuSet(0b111)), None).unwrap();
    assert_eq!((queued_on(0), queued_on(1), queued_on(2)), (1, 1, 1), "fewest queued");
    sched.spawn(kthread(4, CpuSet(0b110)), Some(2)).unwrap();
    assert_eq!(queued_on(2), 2, "the allowed hint");
    sched.spawn(kthread(5, CpuSet(0b110)), Some(0)).unwrap();
    assert_eq!(queued_on(1), 2, "a hint outside the affinity: the lowest allowed CPU");
    sched.spawn(kthread(6, CpuSet(0b1100)), Some(3)).unwrap();
    assert_eq!((queued_on(2), queued_on(3)), (3, 0), "a hint to an offline CPU: an online one");
}

/// A yield queues prev again on its own CPU once the switch completes (finish_switch), without asking that
/// CPU to reschedule; and an affinity change that comes between the switch and finish_switch (set_affinity
/// finds the task in no queue then) still sends it to an allowed CPU: finish_switch reads the affinity under
/// the run-queue lock set_affinity looks in.
#[test]
fn yield_requeues_prev_at_finish_switch_and_an_affinity_change_in_between_moves_it() {
    let sched = setup(2);
    let a = kthread(1, CpuSet(0b11));
    let b = kthread(2, CpuSet(0b11));
    sched.spawn(a.clone(), Some(0)).unwrap();
    sched.spawn(b.clone(), Some(0)).unwrap();
    run_on(sched, 0, &a);
    sched.yield_now();
    assert!(Arc::ptr_eq(&sched.run_queue(0).curr().unwrap(), &b));
    let queued: Vec<_> = sched.run_queue(0).queued_tasks();
    assert!(queued.len() == 1 && Arc::ptr_eq(&queued[0], &a), "prev queued again here");
    assert!(!sched.need_resched(), "a requeue on the own CPU asks for no reschedule");
    assert_eq!(a.state(), TaskState::Runnable);

    // b yields to a; while the switch is in flight (before finish_switch), b's affinity moves to CPU 1.
    set_on_switch_context(Some(std::boxed::Box::new(move |prev, _next| {
        let sched = installed_scheduler();
        assert!(sched.run_queue(0).queued_tasks().iter().all(|task| !Arc::ptr_eq(task, prev)), "not queued yet");
        sched.set_affinity(prev, CpuSet::single(1)).unwrap();
    })));
    sched.yield_now();
    set_on_switch_context(None);
    assert!(Arc::ptr_eq(&sched.run_queue(0).curr().unwrap(), &a));
    assert!(sched.run_queue(0).queued_tasks().is_empty(), "b is not left where it may not run");
    let on_one: Vec<_> = sched.run_queue(1).queued_tasks();
    assert!(on_one.len() == 1 && Arc::ptr_eq(&on_one[0], &b), "b queued on its allowed CPU");
    assert_eq!(b.cpu(), 1);
    assert!(!b.is_on_cpu());
}

/// `spawn` makes a new task runnable on a run queue in one step (`SchedState::start`): a wake before its first
/// run finds it not blocked and leaves it queued once.
#[test]
fn a_spawned_task_is_runnable_and_a_wake_before_its_first_run_does_not_queue_it_again() {
    let sched = setup(1);
    let k = kthread(1, CpuSet::single(0));
    assert_eq!(k.state(), TaskState::Blocked, "not started yet");
    sched.spawn(k.clone(), None).unwrap();
    assert_eq!(k.state(), TaskState::Runnable);
    sched.wake(&k);
    assert_eq!(sched.run_queue(0).queued(), 1, "queued once");
    run_on(sched, 0, &k);
    assert_eq!(k.state(), TaskState::Running);
    assert_eq!(sched.run_queue(0).queued(), 0);
}

/// Spawning a task twice is a bug the scheduler stops instead of queueing the task a second time.
#[test]
#[should_panic(expected = "spawn of a task already started")]
fn spawning_a_started_task_again_panics() {
    let sched = setup(1);
    let k = kthread(1, CpuSet::single(0));
    sched.spawn(k.clone(), None).unwrap();
    let _ = sched.spawn(k, None);
}
