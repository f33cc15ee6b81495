//! The run queue's read side, as the kernel's statistics and diagnostics use it: what is running and queued,
//! what is published, the online flag, and the counters' snapshot.

use alloc::sync::Arc;

use super::mock::*;
use crate::runqueue::SwitchKind;
use crate::CpuSet;

#[test]
fn run_queue_reports_curr_idle_queue_publication_and_online_state() {
    let sched = setup(2);
    let rq = sched.run_queue(0);
    let idle = rq.idle().expect("idle task");
    assert_eq!(idle.id().0, 1000);
    assert!(Arc::ptr_eq(&rq.curr().unwrap(), &idle));
    assert!(rq.is_online() && sched.run_queue(1).is_online() && !sched.run_queue(2).is_online());
    assert!(sched.run_queue(2).curr().is_none() && sched.run_queue(2).idle().is_none());

    let mm = new_mm(6);
    let t1 = user(1, mm.clone(), CpuSet::single(0));
    let t2 = user(2, mm.mmget(), CpuSet::single(0));
    sched.spawn(t1.clone(), Some(0)).unwrap();
    sched.spawn(t2.clone(), Some(0)).unwrap();
    let queued: std::vec::Vec<u32> = rq.queued_tasks().iter().map(|task| task.id().0).collect();
    assert_eq!(queued, [1, 2], "FIFO order");
    assert_eq!(rq.queued(), 2);
    assert!(rq.need_resched(), "a task queued behind the idle task asks for a reschedule");

    sched.schedule();
    assert!(Arc::ptr_eq(&rq.curr().unwrap(), &t1));
    assert_eq!(rq.queued_tasks().len(), 1);
    assert!(!rq.need_resched());
    assert_eq!(rq.current_mm_id().0, 6);
    assert_eq!(rq.membarrier_state(), 0);

    sched.yield_now();
    sched.yield_now();
    let stats = rq.stats();
    assert_eq!(stats.switches_of(SwitchKind::KernelThreadToUserOtherMm), 1);
    assert_eq!(stats.switches_of(SwitchKind::UserToUserSameMm), 2);
    assert_eq!(stats.total_switches(), 3);
    assert_eq!(stats.hook_calls, 3);

    set_cpu(1);
    sched.offline_current_cpu();
    assert!(!sched.run_queue(1).is_online());
    assert!(rq.is_online());
}
