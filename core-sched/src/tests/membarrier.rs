//! membarrier conformance (every row of docs/membarrier.md, Linux's selftest sequence, errno order) and
//! CPU selection of the expedited commands, on the mock arch.

use alloc::rc::Rc;
use alloc::sync::Arc;
use core::cell::Cell;
use std::boxed::Box;
use std::vec::Vec;

use super::mock::*;
use crate::membarrier::*;
use crate::task::Task;
use crate::{CpuSet, Errno, IpiKind, Scheduler};

/// One membarrier call from a context with interrupts enabled (a system call), where reading the CPU id
/// without masking interrupts first is an error (the mock panics): the caller could migrate right after.
fn call(sched: &Scheduler<Mock>, caller: &Task<Mock>, cmd: i32, flags: u32, cpu_id: i32) -> Result<i64, Errno> {
    assert!(irqs_enabled());
    set_cpu_id_needs_masked_irqs(true);
    let result = sched.membarrier(caller, cmd, flags, cpu_id);
    set_cpu_id_needs_masked_irqs(false);
    result
}

/// Linux's selftest sequence (tools/testing/selftests/membarrier), plus the error rows of the table.
fn selftest_sequence(sched: &Scheduler<Mock>, caller: &Task<Mock>) {
    let get = |s: &Scheduler<Mock>| call(s, caller, MEMBARRIER_CMD_GET_REGISTRATIONS, 0, 0);
    assert_eq!(get(sched), Ok(0));
    let query = call(sched, caller, MEMBARRIER_CMD_QUERY, 0, 0).unwrap();
    assert_eq!(query, 0x3ff);
    assert_ne!(query & MEMBARRIER_CMD_GLOBAL as i64, 0);
    assert_eq!(call(sched, caller, -1, 0, 0), Err(Errno::EINVAL));
    assert_eq!(call(sched, caller, MEMBARRIER_CMD_QUERY, 1, 0), Err(Errno::EINVAL));
    assert_eq!(call(sched, caller, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0), Err(Errno::EPERM));
    assert_eq!(call(sched, caller, MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE, 0, 0), Err(Errno::EPERM));
    assert_eq!(call(sched, caller, MEMBARRIER_CMD_GLOBAL, 0, 0), Ok(0));
    assert_eq!(call(sched, caller, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0), Ok(0));
    assert_eq!(get(sched), Ok(16));
    assert_eq!(call(sched, caller, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0), Ok(0));
    assert_eq!(call(sched, caller, MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE, 0, 0), Err(Errno::EPERM));
    assert_eq!(call(sched, caller, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE, 0, 0), Ok(0));
    assert_eq!(get(sched), Ok(80));
    assert_eq!(call(sched, caller, MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE, 0, 0), Ok(0));
    assert_eq!(call(sched, caller, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0), Ok(0), "valid unregistered");
    assert_eq!(call(sched, caller, MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED, 0, 0), Ok(0));
    assert_eq!(get(sched), Ok(84));
    assert_eq!(call(sched, caller, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0), Ok(0));
    // Idempotent registration.
    for cmd in [
        MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED,
        MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE,
        MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED,
    ] {
        assert_eq!(call(sched, caller, cmd, 0, 0), Ok(0));
    }
    assert_eq!(get(sched), Ok(84));
    // cpu_id is ignored without FLAG_CPU (two-argument callers leave garbage there).
    assert_eq!(call(sched, caller, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 12345), Ok(0));
    assert_eq!(call(sched, caller, MEMBARRIER_CMD_GLOBAL, 0, -7), Ok(0));
    // Flags other than FLAG_CPU on RSEQ: EINVAL before anything else, also for valid commands.
    for cmd in [MEMBARRIER_CMD_QUERY, MEMBARRIER_CMD_PRIVATE_EXPEDITED, MEMBARRIER_CMD_GLOBAL] {
        assert_eq!(call(sched, caller, cmd, MEMBARRIER_CMD_FLAG_CPU, 0), Err(Errno::EINVAL));
        assert_eq!(call(sched, caller, cmd, 2, 0), Err(Errno::EINVAL));
    }
    // RSEQ: EPERM before its registration (with or without FLAG_CPU), EINVAL for other flags; registered, it
    // succeeds for every CPU, one CPU, the caller's own, and a CPU that does not exist (a no-op, as Linux).
    assert_eq!(call(sched, caller, MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ, 0, 0), Err(Errno::EPERM));
    assert_eq!(
        call(sched, caller, MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ, MEMBARRIER_CMD_FLAG_CPU, 1),
        Err(Errno::EPERM)
    );
    assert_eq!(call(sched, caller, MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ, 2, 0), Err(Errno::EINVAL));
    assert_eq!(call(sched, caller, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ, 0, 0), Ok(0));
    assert_eq!(get(sched), Ok(84 | MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ as i64));
    assert_eq!(call(sched, caller, MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ, 0, 0), Ok(0));
    for cpu in [1, 0, 99, -1] {
        let flag = MEMBARRIER_CMD_FLAG_CPU;
        assert_eq!(call(sched, caller, MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ, flag, cpu), Ok(0), "cpu {cpu}");
    }
    assert_eq!(call(sched, caller, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ, 0, 0), Ok(0));
    // Unknown commands.
    for cmd in [3, 5, 1024, 1 << 10, i32::MIN, i32::MAX] {
        assert_eq!(call(sched, caller, cmd, 0, 0), Err(Errno::EINVAL), "cmd {cmd}");
    }
    assert_eq!(get(sched), Ok(84 | MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ as i64));
}

#[test]
fn selftest_single_task() {
    let sched = setup(2);
    let mm = new_mm(1);
    let t = user(1, mm.clone(), CpuSet::single(0));
    sched.spawn(t.clone(), None).unwrap();
    run_on(sched, 0, &t);
    selftest_sequence(sched, &t);
    // A single-threaded process needs no IPI.
    let ipis = take_log().iter().filter(|r| matches!(r.event, Event::SendIpi { .. })).count();
    assert_eq!(ipis, 2, "only GLOBAL's IPIs to the other CPU: {ipis}");
}

#[test]
fn selftest_with_second_thread_alive() {
    let sched = setup(2);
    let mm = new_mm(1);
    let t = user(1, mm.clone(), CpuSet::single(0));
    let other = user(2, mm.mmget(), CpuSet::single(1));
    sched.spawn(t.clone(), None).unwrap();
    sched.spawn(other.clone(), None).unwrap();
    run_on(sched, 0, &t);
    run_on(sched, 1, &other);
    clear_log();
    selftest_sequence(sched, &t);
    let log = take_log();
    let sent = |kind| log.iter().filter(|r| r.event == Event::SendIpi { cpus: CpuSet::single(1), kind }).count();
    // 4 registrations with a grace period each; PRIVATE_EXPEDITED twice; SYNC_CORE once; GLOBAL twice;
    // GLOBAL_EXPEDITED once after registering (before it, CPU 1's mm was not registered); RSEQ to every CPU
    // twice (no FLAG_CPU, and cpu -1) and to CPU 1 once.
    assert_eq!(sent(IpiKind::MembarrierSyncState), 4);
    assert_eq!(sent(IpiKind::MembarrierBarrier), 2 + 2 + 1 + 3);
    assert_eq!(sent(IpiKind::SyncCore), 1);
    assert!(log.iter().any(|r| r.cpu == 1 && r.event == Event::SyncCore));
    // CPU 1's run-queue copy was refreshed by the grace period.
    let plain = MEMBARRIER_STATE_PRIVATE_EXPEDITED
        | MEMBARRIER_STATE_GLOBAL_EXPEDITED
        | MEMBARRIER_STATE_PRIVATE_EXPEDITED_SYNC_CORE;
    assert_eq!(sched.run_queue(1).membarrier_state() & plain, plain);
}

#[test]
fn sync_core_registration_alone_keeps_private_expedited_eperm() {
    let sched = setup(1);
    let t = user(1, new_mm(1), CpuSet::single(0));
    sched.spawn(t.clone(), None).unwrap();
    run_on(sched, 0, &t);
    assert_eq!(call(sched, &t, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE, 0, 0), Ok(0));
    assert_eq!(call(sched, &t, MEMBARRIER_CMD_GET_REGISTRATIONS, 0, 0), Ok(80));
    assert_eq!(call(sched, &t, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0), Err(Errno::EPERM));
    assert_eq!(call(sched, &t, MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE, 0, 0), Ok(0));
    // The scheduler barriers are on for this mm (the plain PRIVATE_EXPEDITED bit).
    assert_ne!(t.mm().unwrap().membarrier_state() & MEMBARRIER_STATE_PRIVATE_EXPEDITED, 0);
}

#[test]
fn kernel_thread_caller_gets_einval_for_mm_commands() {
    let sched = setup(1);
    let k = sched.current();
    assert_eq!(call(sched, &k, MEMBARRIER_CMD_QUERY, 0, 0), Ok(0x3ff));
    assert_eq!(call(sched, &k, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0), Err(Errno::EINVAL));
    assert_eq!(call(sched, &k, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0), Ok(0));
}

struct Layout {
    sched: &'static Scheduler<Mock>,
    a0: Arc<Task<Mock>>,
    b: Arc<Task<Mock>>,
}

/// CPU0: a0 (mm A, the caller); CPU1: a1 (mm A); CPU2: b (mm B); CPU3: idle.
fn layout() -> Layout {
    let sched = setup(4);
    let a = new_mm(1);
    let a0 = user(1, a.clone(), CpuSet::single(0));
    let a1 = user(2, a.mmget(), CpuSet::single(1));
    let b = user(3, new_mm(2), CpuSet::single(2));
    for (cpu, task) in [(0, &a0), (1, &a1), (2, &b)] {
        sched.spawn(task.clone(), None).unwrap();
        run_on(sched, cpu, task);
    }
    set_cpu(0);
    Layout { sched, a0, b }
}

fn ipis(log: &[Record]) -> Vec<(CpuSet, IpiKind)> {
    log.iter()
        .filter_map(|r| match r.event {
            Event::SendIpi { cpus, kind } if kind != IpiKind::Reschedule => Some((cpus, kind)),
            _ => None,
        })
        .collect()
}

#[test]
fn private_expedited_targets_exactly_the_cpus_running_the_mm() {
    let Layout { sched, a0, .. } = layout();
    assert_eq!(call(sched, &a0, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0), Ok(0));
    let before = sched.run_queue(0).stats();
    clear_log();
    assert_eq!(call(sched, &a0, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0), Ok(0));
    let log = take_log();
    assert_eq!(ipis(&log), [(CpuSet::single(1), IpiKind::MembarrierBarrier)]);
    // smp_mb on the caller, IPI, the target's barrier, smp_mb on the caller.
    let order: Vec<(usize, Event)> = log
        .iter()
        .filter(|r| r.event == Event::SmpMb || matches!(r.event, Event::SendIpi { .. }))
        .map(|r| (r.cpu, r.event))
        .collect();
    assert_eq!(
        order,
        [
            (0, Event::SmpMb),
            (0, Event::SendIpi { cpus: CpuSet::single(1), kind: IpiKind::MembarrierBarrier }),
            (1, Event::SmpMb),
            (0, Event::SmpMb)
        ]
    );
    let after = sched.run_queue(0).stats();
    assert_eq!(after.membarrier_ipis_sent - before.membarrier_ipis_sent, 1);
    assert_eq!(after.membarrier_skipped_no_user_mm - before.membarrier_skipped_no_user_mm, 1);
    assert_eq!(after.membarrier_skipped_other_mm - before.membarrier_skipped_other_mm, 1);

    // A kernel thread on CPU 3 that uses mm A is a target too; SYNC_CORE uses its own IPI.
    set_cpu(3);
    let a = a0.mm().unwrap();
    let borrowed = a.mmget();
    sched.kthread_use_mm(&borrowed);
    set_cpu(0);
    assert_eq!(call(sched, &a0, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE, 0, 0), Ok(0));
    clear_log();
    assert_eq!(call(sched, &a0, MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE, 0, 0), Ok(0));
    let log = take_log();
    assert_eq!(ipis(&log), [(CpuSet(0b1010), IpiKind::SyncCore)]);
    assert_eq!(log.iter().filter(|r| r.event == Event::SyncCore).count(), 2);
    set_cpu(3);
    sched.kthread_unuse_mm();
    borrowed.mmput();
}

#[test]
fn global_expedited_targets_registered_mms_running_user_code() {
    let Layout { sched, a0, b } = layout();
    clear_log();
    assert_eq!(call(sched, &a0, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0), Ok(0));
    assert_eq!(ipis(&take_log()), []);
    let stats = sched.run_queue(0).stats();
    assert_eq!((stats.membarrier_skipped_no_user_mm, stats.membarrier_skipped_other_mm), (1, 2));

    set_cpu(2);
    assert_eq!(call(sched, &b, MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED, 0, 0), Ok(0));
    assert_ne!(sched.run_queue(2).membarrier_state() & MEMBARRIER_STATE_GLOBAL_EXPEDITED, 0);
    set_cpu(0);
    clear_log();
    assert_eq!(call(sched, &a0, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0), Ok(0));
    assert_eq!(ipis(&take_log()), [(CpuSet::single(2), IpiKind::MembarrierBarrier)]);

    // A kernel thread using B on CPU 3 runs B's (registered) mm: targeted. Its idle lazy mm alone is not.
    set_cpu(3);
    let b_mm = b.mm().unwrap().mmget();
    sched.kthread_use_mm(&b_mm);
    set_cpu(0);
    assert_eq!(call(sched, &a0, MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED, 0, 0), Ok(0));
    clear_log();
    assert_eq!(call(sched, &a0, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0), Ok(0));
    assert_eq!(ipis(&take_log()), [(CpuSet(0b1110), IpiKind::MembarrierBarrier)]);
    set_cpu(3);
    sched.kthread_unuse_mm();
    b_mm.mmput();
    set_cpu(0);
    clear_log();
    assert_eq!(call(sched, &a0, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0), Ok(0));
    assert_eq!(ipis(&take_log()), [(CpuSet(0b0110), IpiKind::MembarrierBarrier)]);
}

#[test]
fn global_targets_every_other_online_cpu() {
    let Layout { sched, a0, .. } = layout();
    clear_log();
    assert_eq!(call(sched, &a0, MEMBARRIER_CMD_GLOBAL, 0, 0), Ok(0));
    assert_eq!(ipis(&take_log()), [(CpuSet(0b1110), IpiKind::MembarrierBarrier)]);
}

#[test]
fn registration_grace_period_refreshes_every_cpu_before_ready() {
    let Layout { sched, a0, .. } = layout();
    assert_eq!(sched.run_queue(1).membarrier_state(), 0);
    clear_log();
    assert_eq!(call(sched, &a0, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0), Ok(0));
    let log = take_log();
    assert_eq!(ipis(&log), [(CpuSet(0b1110), IpiKind::MembarrierSyncState)]);
    let state = a0.mm().unwrap().membarrier_state();
    assert_eq!(state, MEMBARRIER_STATE_PRIVATE_EXPEDITED | MEMBARRIER_STATE_PRIVATE_EXPEDITED_READY);
    // The caller's CPU copied the state (plain bit) before READY was set.
    assert_eq!(sched.run_queue(0).membarrier_state(), MEMBARRIER_STATE_PRIVATE_EXPEDITED);
    assert_ne!(sched.run_queue(1).membarrier_state() & MEMBARRIER_STATE_PRIVATE_EXPEDITED, 0, "refreshed");
    assert_eq!(sched.run_queue(2).membarrier_state(), 0, "runs another mm");
}

#[test]
fn lost_ipi_times_out_instead_of_hanging() {
    let Layout { sched, a0, .. } = layout();
    set_delivery(IpiDelivery::Dropped);
    assert_eq!(call(sched, &a0, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0), Err(Errno::ETIMEDOUT));
    assert_eq!(call(sched, &a0, MEMBARRIER_CMD_GET_REGISTRATIONS, 0, 0), Ok(16), "plain bit only");
    assert_eq!(call(sched, &a0, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0), Err(Errno::EPERM), "not READY");
    set_delivery(IpiDelivery::Immediate);
    assert_eq!(call(sched, &a0, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0), Ok(0));
    set_delivery(IpiDelivery::Dropped);
    assert_eq!(call(sched, &a0, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0), Err(Errno::ETIMEDOUT));
    set_delivery(IpiDelivery::Immediate);
    assert_eq!(call(sched, &a0, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0), Ok(0));
}

/// A handler of a timed-out call that read its request and ran its barrier before the next call began, but
/// whose acknowledgement lands while the next call waits, must not complete that call: its barrier may precede
/// the call's first barrier. (With a count of acks, as before, that late increment was taken for the new
/// call's.) An acknowledgement of the new request does complete it.
#[test]
fn late_ack_of_a_timed_out_call_does_not_complete_a_later_call() {
    let Layout { sched, a0, .. } = layout();
    assert_eq!(call(sched, &a0, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0), Ok(0));
    set_delivery(IpiDelivery::Dropped);
    assert_eq!(call(sched, &a0, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0), Err(Errno::ETIMEDOUT));
    // CPU 1 takes the lost IPI late: it reads the request (and runs its barrier) now, between the calls...
    let stale = sched.run_queue(1).membarrier_request();
    assert_eq!(stale.kind(), Some(IpiKind::MembarrierBarrier));
    // ...and its ack lands while the next call waits (whose own IPI is lost too).
    let late_acks = Rc::new(Cell::new(0));
    let counter = late_acks.clone();
    set_on_cpu_relax(Some(Box::new(move || {
        sched.ack_membarrier_request(sched.run_queue(1), IpiKind::MembarrierBarrier, stale);
        counter.set(counter.get() + 1);
    })));
    assert_eq!(call(sched, &a0, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0), Err(Errno::ETIMEDOUT));
    assert!(late_acks.get() > 0, "the late ack landed during the wait");
    let newer = sched.run_queue(1).membarrier_request();
    assert!(newer.sequence() > stale.sequence(), "every call that sends IPIs has a new sequence number");

    // A handler that reads the current request, then acks it, completes the call.
    set_on_cpu_relax(Some(Box::new(move || {
        let current = sched.run_queue(1).membarrier_request();
        sched.ack_membarrier_request(sched.run_queue(1), IpiKind::MembarrierBarrier, current);
    })));
    assert_eq!(call(sched, &a0, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0), Ok(0));

    // A late plain-barrier handler never answers a SYNC_CORE request, even the current one: that call needs
    // the core serialization its own IPI does.
    set_delivery(IpiDelivery::Immediate);
    set_on_cpu_relax(None);
    assert_eq!(call(sched, &a0, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE, 0, 0), Ok(0));
    set_delivery(IpiDelivery::Dropped);
    set_on_cpu_relax(Some(Box::new(move || {
        let current = sched.run_queue(1).membarrier_request();
        assert_eq!(current.kind(), Some(IpiKind::SyncCore));
        sched.ack_membarrier_request(sched.run_queue(1), IpiKind::MembarrierBarrier, current);
    })));
    assert_eq!(call(sched, &a0, MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE, 0, 0), Err(Errno::ETIMEDOUT));
    set_on_cpu_relax(None);
    set_delivery(IpiDelivery::Immediate);
    assert_eq!(call(sched, &a0, MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE, 0, 0), Ok(0));
}

/// The barriers and IPIs of `log`, with the CPU that ran each.
fn barrier_order(log: &[Record]) -> Vec<(usize, Event)> {
    log.iter()
        .filter(|r| matches!(r.event, Event::SmpMb | Event::SyncCore | Event::SendIpi { .. }))
        .map(|r| (r.cpu, r.event))
        .collect()
}

// The next two tests pin barriers that the litmus scenarios (scenarios.rs) show to be implied by the
// request/ack protocol: a handler acks with a release store and reads the request with an acquire load, the
// caller waits with an acquire load, and `send_ipi` makes the caller's earlier stores visible to the target.
// They are the barriers the documentation promises (Linux has each of them, "IPIs should be serializing but
// paranoid"), and they keep the guarantee independent of those acquire/release orderings; so they are checked
// as a contract: each sits exactly where the protocol documents it.

/// PRIVATE_EXPEDITED_SYNC_CORE: each target runs the barrier (then core serialization) before its ack; the
/// caller's barriers (1) and (2) surround the IPIs.
#[test]
fn sync_core_targets_run_the_barrier_then_serialize_before_acking() {
    let Layout { sched, a0, .. } = layout();
    set_cpu(3);
    let borrowed = a0.mm().unwrap().mmget();
    sched.kthread_use_mm(&borrowed);
    set_cpu(0);
    assert_eq!(call(sched, &a0, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE, 0, 0), Ok(0));
    clear_log();
    assert_eq!(call(sched, &a0, MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE, 0, 0), Ok(0));
    assert_eq!(
        barrier_order(&take_log()),
        [
            (0, Event::SmpMb),
            (0, Event::SendIpi { cpus: CpuSet(0b1010), kind: IpiKind::SyncCore }),
            (1, Event::SmpMb),
            (1, Event::SyncCore),
            (3, Event::SmpMb),
            (3, Event::SyncCore),
            (0, Event::SmpMb),
        ]
    );
    set_cpu(3);
    sched.kthread_unuse_mm();
    borrowed.mmput();
}

/// Registration: a barrier after the plain state bits, before the state-sync IPIs; each target's barrier after
/// its refresh, before its ack; a barrier after the acks, before READY. A single-user mm: one barrier after the
/// caller's own refresh, before READY.
#[test]
fn registration_orders_state_bits_refresh_and_ready_with_barriers() {
    let Layout { sched, a0, b } = layout();
    clear_log();
    assert_eq!(call(sched, &a0, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0), Ok(0));
    assert_eq!(
        barrier_order(&take_log()),
        [
            (0, Event::SmpMb),
            (0, Event::SendIpi { cpus: CpuSet(0b1110), kind: IpiKind::MembarrierSyncState }),
            (1, Event::SmpMb),
            (2, Event::SmpMb),
            (3, Event::SmpMb),
            (0, Event::SmpMb),
        ]
    );
    // b's mm has one user: no IPI, one barrier on the caller's CPU.
    set_cpu(2);
    clear_log();
    assert_eq!(call(sched, &b, MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED, 0, 0), Ok(0));
    assert_eq!(barrier_order(&take_log()), [(2, Event::SmpMb)]);
}

/// The state bits are Linux's (include/linux/sched/mm.h): distinct single bits, in this order. The code only
/// combines and tests them, so a value that collapsed to 0 or onto another bit (which no command test sees for
/// the rseq bits, never set here) would silently disable or alias a registration.
#[test]
fn state_bits_are_linuxs_distinct_single_bits() {
    let bits = [
        MEMBARRIER_STATE_PRIVATE_EXPEDITED_READY,
        MEMBARRIER_STATE_PRIVATE_EXPEDITED,
        MEMBARRIER_STATE_GLOBAL_EXPEDITED_READY,
        MEMBARRIER_STATE_GLOBAL_EXPEDITED,
        MEMBARRIER_STATE_PRIVATE_EXPEDITED_SYNC_CORE_READY,
        MEMBARRIER_STATE_PRIVATE_EXPEDITED_SYNC_CORE,
        MEMBARRIER_STATE_PRIVATE_EXPEDITED_RSEQ_READY,
        MEMBARRIER_STATE_PRIVATE_EXPEDITED_RSEQ,
    ];
    assert_eq!(bits, [1, 2, 4, 8, 16, 32, 64, 128]);
}

/// GET_REGISTRATIONS reports a REGISTER_* command when its plain bit or its READY bit is set, each on its own
/// (a registration that timed out leaves the plain bit only), the rseq pair included.
#[test]
fn get_registrations_reports_each_plain_or_ready_bit_on_its_own() {
    let sched = setup(1);
    let cases = [
        (MEMBARRIER_STATE_GLOBAL_EXPEDITED, MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED),
        (MEMBARRIER_STATE_GLOBAL_EXPEDITED_READY, MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED),
        (MEMBARRIER_STATE_PRIVATE_EXPEDITED, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED),
        (MEMBARRIER_STATE_PRIVATE_EXPEDITED_READY, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED),
        (MEMBARRIER_STATE_PRIVATE_EXPEDITED_SYNC_CORE, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE),
        (MEMBARRIER_STATE_PRIVATE_EXPEDITED_SYNC_CORE_READY, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE),
        (MEMBARRIER_STATE_PRIVATE_EXPEDITED_RSEQ, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ),
        (MEMBARRIER_STATE_PRIVATE_EXPEDITED_RSEQ_READY, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ),
    ];
    for (index, (bit, registration)) in cases.into_iter().enumerate() {
        let mm = new_mm(index as u32 + 1);
        let t = user(index as u32 + 1, mm.clone(), CpuSet::single(0));
        mm.membarrier_state_or(bit);
        assert_eq!(call(sched, &t, MEMBARRIER_CMD_GET_REGISTRATIONS, 0, 0), Ok(registration as i64), "bit {bit}");
    }
}

/// PRIVATE_EXPEDITED returns at once, without a barrier, when the caller's thread is the mm's only user or
/// the CPU the only one online (the system call itself orders the only thread). SYNC_CORE never takes that
/// shortcut (as in Linux): it runs its two barriers even then.
#[test]
fn private_expedited_shortcut_is_for_one_user_or_one_cpu_and_never_for_sync_core() {
    let barriers_of = |sched: &Scheduler<Mock>, t: &Task<Mock>, cmd: i32| {
        clear_log();
        assert_eq!(call(sched, t, cmd, 0, 0), Ok(0));
        events().iter().filter(|event| **event == Event::SmpMb).count()
    };
    // One user, two CPUs.
    let sched = setup(2);
    let t = user(1, new_mm(1), CpuSet::single(0));
    sched.spawn(t.clone(), None).unwrap();
    run_on(sched, 0, &t);
    assert_eq!(call(sched, &t, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0), Ok(0));
    assert_eq!(call(sched, &t, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE, 0, 0), Ok(0));
    assert_eq!(barriers_of(sched, &t, MEMBARRIER_CMD_PRIVATE_EXPEDITED), 0);
    assert_eq!(barriers_of(sched, &t, MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE), 2);
    // Two users, one CPU online.
    let sched = setup(1);
    let mm = new_mm(2);
    let t = user(2, mm.clone(), CpuSet::single(0));
    let sibling = user(3, mm.mmget(), CpuSet::single(0));
    sched.spawn(t.clone(), None).unwrap();
    sched.spawn(sibling, None).unwrap();
    run_on(sched, 0, &t);
    assert_eq!(call(sched, &t, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0), Ok(0));
    assert_eq!(call(sched, &t, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE, 0, 0), Ok(0));
    assert_eq!(barriers_of(sched, &t, MEMBARRIER_CMD_PRIVATE_EXPEDITED), 0);
    assert_eq!(barriers_of(sched, &t, MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE), 2);
}

/// The wait for a lost acknowledgement ends as soon as the clock passes the deadline, also when no reading
/// falls exactly on it (a 3 ms step does not divide the timeout): within one step after it, not before.
#[test]
fn lost_ipi_wait_ends_within_one_clock_step_after_the_deadline() {
    let Layout { sched, a0, .. } = layout();
    assert_eq!(call(sched, &a0, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0), Ok(0));
    let step = 3_000_000;
    set_time_step(step);
    set_delivery(IpiDelivery::Dropped);
    let started = now();
    assert_eq!(call(sched, &a0, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0), Err(Errno::ETIMEDOUT));
    let waited = now() - started;
    assert!(waited > IPI_ACK_TIMEOUT_NS && waited <= IPI_ACK_TIMEOUT_NS + 2 * step, "waited {waited} ns");
}

/// `membarrier_current` (the kernel's system call entry, which finds the caller's mm itself) gives the same
/// answers as `membarrier` with the running task: QUERY without an mm, the mm commands on the running task's
/// mm, and EINVAL for them from a kernel thread.
#[test]
fn membarrier_current_uses_the_running_tasks_mm() {
    let sched = setup(1);
    let current = |cmd| {
        set_cpu_id_needs_masked_irqs(true);
        let result = sched.membarrier_current(cmd, 0, 0);
        set_cpu_id_needs_masked_irqs(false);
        result
    };
    assert_eq!(current(MEMBARRIER_CMD_QUERY), Ok(0x3ff));
    assert_eq!(current(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED), Err(Errno::EINVAL), "a kernel thread");
    let mm = new_mm(1);
    let t = user(1, mm.clone(), CpuSet::single(0));
    sched.spawn(t.clone(), None).unwrap();
    run_on(sched, 0, &t);
    assert_eq!(current(MEMBARRIER_CMD_GET_REGISTRATIONS), Ok(0));
    assert_eq!(current(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED), Ok(0));
    assert_ne!(mm.membarrier_state() & MEMBARRIER_STATE_PRIVATE_EXPEDITED_READY, 0);
    assert_eq!(current(MEMBARRIER_CMD_GET_REGISTRATIONS), Ok(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED as i64));
}

/// REGISTER_PRIVATE_EXPEDITED_RSEQ, as Linux, sets the plain PRIVATE_EXPEDITED bit (the scheduler's barriers
/// for the mm) with its own plain and READY bits, but not PRIVATE_EXPEDITED's READY.
#[test]
fn rseq_registration_alone_turns_the_scheduler_barriers_on() {
    let sched = setup(1);
    let mm = new_mm(1);
    let t = user(1, mm.clone(), CpuSet::single(0));
    sched.spawn(t.clone(), None).unwrap();
    run_on(sched, 0, &t);
    assert_eq!(call(sched, &t, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ, 0, 0), Ok(0));
    assert_eq!(
        mm.membarrier_state(),
        MEMBARRIER_STATE_PRIVATE_EXPEDITED
            | MEMBARRIER_STATE_PRIVATE_EXPEDITED_RSEQ
            | MEMBARRIER_STATE_PRIVATE_EXPEDITED_RSEQ_READY
    );
    assert_eq!(call(sched, &t, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0), Err(Errno::EPERM));
}
