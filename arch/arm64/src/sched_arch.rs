//! `Arm64` as core-sched's architecture: the one seam between the generic scheduler and this crate.

use crate::context::{self, TaskContext};
use crate::mmu::UserAddressSpace;
use crate::Arm64;
use core::sync::atomic::Ordering;
use core_sched::{Arch, CpuSet, IpiKind, IrqState, Mm, SwitchingTask, Task};

/// Which post-switch barrier this build uses, for reports.
pub const POST_SWITCH_BARRIER: &str = if cfg!(feature = "no-post-switch-barrier") {
    "none (BROKEN test variant)"
} else if cfg!(feature = "generic-barrier") {
    "generic smp_mb fallback"
} else {
    "arm64 override (dmb ish)"
};

impl Arch for Arm64 {
    type TaskContext = TaskContext;
    type MmContext = UserAddressSpace;

    #[inline(always)]
    fn cpu_id() -> usize {
        crate::cpu::cpu_id()
    }

    /// The generic full barrier: `fence(SeqCst)`, which LLVM emits as `dmb ish` on AArch64.
    #[inline(always)]
    fn smp_mb() {
        core::sync::atomic::fence(Ordering::SeqCst);
    }

    fn switch_mm(_prev: Option<&Mm<Self>>, next: &Mm<Self>) {
        next.arch().activate();
    }

    fn switch_context(prev: SwitchingTask<Self>, next: SwitchingTask<Self>) {
        // SAFETY: core-sched keeps both tasks alive until `finish_switch` has run after the switch (the run
        // queue's `curr` holds `next`, its pending switch holds `prev`; see `SwitchingTask`), and the contexts
        // are used only until then: `switch_context_raw` saves into `prev`'s (the running task's) and resumes
        // from `next`'s, and what resumes calls `finish_switch` before anything else.
        let (prev_context, next_context) = unsafe { ((*prev.as_ptr()).context(), (*next.as_ptr()).context()) };
        let next_task: *const Task<Self> = next.as_ptr();
        // SAFETY: both contexts outlive the switch, as argued above; `prev_context` is the running task's, and
        // `next_task` is `next_context`'s task, which the run queue's `curr` keeps alive while it runs.
        unsafe { context::switch_context_raw(prev_context, next_context, next_task) };
    }

    fn send_ipi(cpus: CpuSet, kind: IpiKind) {
        crate::interrupts::send_scheduler_ipi(cpus, kind);
    }

    #[inline(always)]
    fn irq_save() -> IrqState {
        IrqState(crate::cpu::irq_save())
    }

    #[inline(always)]
    fn irq_restore(state: IrqState) {
        crate::cpu::irq_restore(state.0);
    }

    fn now_ns() -> u64 {
        crate::cpu::now_ns()
    }

    // The raw counter on the switch path; the 128-bit division of now_ns happens only when a process reads its
    // CPU time.
    fn cpu_time_stamp() -> u64 {
        crate::cpu::counter()
    }

    fn cpu_time_stamps_to_ns(stamps: u64) -> u64 {
        crate::cpu::counter_ticks_to_ns(stamps)
    }

    fn cpu_relax() {
        crate::cpu::cpu_relax();
    }

    /// Empties the root, invalidates the ASID on every core (`tlbi aside1is`), frees the tables and pages.
    fn mm_release_user_pages(mm: &Mm<Self>) {
        mm.arch().release_user_pages();
    }

    /// Frees the root table; the ASID number stays used until the next rollover.
    fn mm_free(mm: &Mm<Self>) {
        mm.arch().free_root();
    }

    /// Marks the publication of a user mm registered for an expedited membarrier with `hint #0x62`: a NOP on
    /// hardware; the QEMU barrier audit (`tools/insn-counter`, `audit=on`) checks that a full barrier executes
    /// after it and before the first EL0 instruction. Unregistered mms need no barrier and get no marker.
    #[inline(always)]
    fn trace_user_mm_published(membarrier_state: u32) {
        if !core_sched::arch::membarrier_state_requires_barrier(membarrier_state) {
            return;
        }
        // SAFETY: an unallocated HINT executes as a NOP: no register, flag or memory effect. Not `nomem`: it
        // stays in program order after the publishing store, which is the point of the marker; it orders
        // nothing at run time.
        unsafe { core::arch::asm!("hint #0x62", options(nostack, preserves_flags)) };
    }

    /// Marks the start of a kernel thread's accesses to the user mm it just adopted (after `kthread_use_mm`)
    /// with `hint #0x65`: a NOP on hardware; the QEMU barrier audit opens the window that its
    /// `kthread_unuse_mm` marker (`hint #0x64`) closes.
    #[inline(always)]
    fn trace_kthread_user_accesses_begin() {
        // SAFETY: an unallocated HINT executes as a NOP: no register, flag or memory effect. Not `nomem`: it
        // stays in program order before the thread's accesses to the mm, which is the point of the marker; it
        // orders nothing at run time.
        unsafe { core::arch::asm!("hint #0x65", options(nostack, preserves_flags)) };
    }

    /// Marks the clearing of the published mm with `hint #0x63` (task exit) or `hint #0x64`
    /// (`kthread_unuse_mm`): NOPs on hardware; the QEMU barrier audit checks that a full barrier executed
    /// between the last user access (the last EL0 instruction, or the `hint #0x65` of `kthread_use_mm`) and
    /// the marker. Unconditional, as the barriers are: the exit and unuse paths are not hot.
    #[inline(always)]
    fn trace_published_mm_cleared(point: core_sched::ClearedAt) {
        match point {
            // SAFETY: an unallocated HINT executes as a NOP: no register, flag or memory effect. Not `nomem`:
            // it stays in program order after the clearing store, which is the point of the marker; it orders
            // nothing at run time.
            core_sched::ClearedAt::ExitMm => unsafe {
                core::arch::asm!("hint #0x63", options(nostack, preserves_flags))
            },
            // SAFETY: as above.
            core_sched::ClearedAt::KthreadUnuseMm => unsafe {
                core::arch::asm!("hint #0x64", options(nostack, preserves_flags))
            },
        }
    }

    /// The arm64 override: an explicit `dmb ish` when the mm is registered for an expedited membarrier.
    /// `dmb ish` orders all earlier loads and stores before all later ones for every observer in the
    /// inner-shareable domain (all cores), which is exactly the full barrier the hook must provide: it orders the
    /// publication of `rq.curr`'s mm (done before this call) before the incoming task's first user access.
    #[cfg(not(any(feature = "generic-barrier", feature = "no-post-switch-barrier")))]
    #[inline(always)]
    fn membarrier_finish_switch_mm(membarrier_state: u32) {
        if core_sched::arch::membarrier_state_requires_barrier(membarrier_state) {
            aarch64_cpu::asm::barrier::dmb(aarch64_cpu::asm::barrier::ISH);
        }
    }

    /// BROKEN on purpose (feature `no-post-switch-barrier`): no barrier at all after switching to a user mm, so
    /// that the ordering tests can show they catch the missing barrier. Never the default.
    #[cfg(feature = "no-post-switch-barrier")]
    #[inline(always)]
    fn membarrier_finish_switch_mm(_membarrier_state: u32) {}
}
