//! The work a return to EL0 may have to do before the exception return, behind one cheap test: a reschedule
//! this CPU owes, a group exit of the current process, an rseq event of the current thread. The system-call
//! path calls [`before_return_to_user`] last, with interrupts masked.

use core::sync::atomic::{AtomicUsize, Ordering};

use arch_arm64::exceptions::TrapFrame;

use crate::process::{self, SCHED};

/// Reasons a return to EL0 anywhere may have work besides a reschedule: processes in a group exit plus threads
/// with an rseq area registered (each counted here as well as in its own counter, which `exit_if_process_exiting`
/// and the rseq hook test). While 0 (the bench, most tests) the return path tests only `need_resched`.
static SLOW_PATH_REASONS: AtomicUsize = AtomicUsize::new(0);

/// One more reason for the return path's slow part (a process began a group exit, a thread registered rseq).
/// Called before the state that reason stands for is visible to the thread that must act on it.
pub(crate) fn add_slow_path_reason() {
    SLOW_PATH_REASONS.fetch_add(1, Ordering::Relaxed);
}

/// That reason went (the exiting process's last thread ended, a thread unregistered rseq).
pub(crate) fn remove_slow_path_reason() {
    SLOW_PATH_REASONS.fetch_sub(1, Ordering::Relaxed);
}

/// The return-to-user work of a system call, with interrupts masked, just before the frame is restored.
///
/// Why a wake-up cannot be lost between this test and the `eret`: interrupts stay masked from the test to the
/// exception return, and `eret` restores the user's PSTATE with IRQs unmasked. A remote CPU that makes work for
/// this one (a wake-up, a migration) stores `need_resched` and then sends a reschedule IPI; if the store came
/// after the test, the IPI is still pending here and is taken as soon as the user's first instruction could run,
/// and the interrupt path reschedules on its way out (smp.rs). Work this CPU makes for itself (a task queued
/// during the call) was stored before the test, in program order. A group exit begun elsewhere after the test
/// is found at this thread's next return to EL0 (system call, tick or IPI), as before: `begin_group_exit`
/// also wakes the process's sleeping threads. An rseq event is made with interrupts masked on this CPU (switch
/// out, the rseq IPI's handler) or by the thread itself (registration), so never between the test and `eret`.
#[inline(always)]
pub(crate) fn before_return_to_user(frame: &mut TrapFrame) {
    // Interrupts are masked: no migration between reading the CPU id and its run queue's flag.
    let need_resched = SCHED.run_queue(arch_arm64::cpu::cpu_id()).need_resched();
    if need_resched || SLOW_PATH_REASONS.load(Ordering::Relaxed) != 0 {
        slow_path(frame, need_resched);
    }
}

/// The rare part, out of line so that the system-call path stays short.
#[cold]
#[inline(never)]
fn slow_path(frame: &mut TrapFrame, need_resched: bool) {
    // A reschedule requested during the call (a task queued here, an affinity change) happens now rather than
    // at the next tick, as Linux does on its way back to user mode.
    if need_resched {
        SCHED.schedule();
    }
    process::exit_if_process_exiting();
    // rseq hook: refresh a registered thread's ids, restart its critical section if it was preempted (also the
    // switch just above may have set its event).
    crate::rseq::before_return_to_user(frame);
}
