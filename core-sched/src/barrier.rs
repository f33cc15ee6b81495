//! Every full barrier of core-sched, named: each call site passes its [`BarrierSite`] to [`smp_mb`], so that a
//! test build can remove one site at a time (`cargo xtask mutants --barriers`) and show that some test catches
//! the removal. In every other build the wrapper is exactly [`Arch::smp_mb`]: the site is a constant the
//! compiler drops, and nothing is read at run time (two BROKEN kernel builds drop one site each, for the QEMU
//! barrier audit: [`smp_mb`]).

use crate::arch::Arch;

/// A full barrier of core-sched: one variant per call site. [`BarrierSite::litmus`] names the litmus each one
/// forbids (the full argument is in the comment at the call site); `docs/testing.md` names the test that
/// catches its removal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum BarrierSite {
    InitCpuOnline,
    ExitMm,
    KthreadUnuseMm,
    ScheduleRule1,
    IpiBarrier,
    IpiSyncCore,
    IpiSyncState,
    GlobalBefore,
    GlobalAfter,
    GlobalExpeditedBefore,
    GlobalExpeditedAfter,
    PrivateExpeditedBefore,
    PrivateExpeditedAfter,
    RegisterSingleUser,
    RegisterBefore,
    RegisterAfter,
    PostSwitchHook,
}

#[cfg(test)]
impl BarrierSite {
    /// Every site, in the order the mutation run reports them.
    pub(crate) const ALL: [BarrierSite; 17] = [
        BarrierSite::ScheduleRule1,
        BarrierSite::PostSwitchHook,
        BarrierSite::ExitMm,
        BarrierSite::KthreadUnuseMm,
        BarrierSite::InitCpuOnline,
        BarrierSite::PrivateExpeditedBefore,
        BarrierSite::PrivateExpeditedAfter,
        BarrierSite::GlobalExpeditedBefore,
        BarrierSite::GlobalExpeditedAfter,
        BarrierSite::GlobalBefore,
        BarrierSite::GlobalAfter,
        BarrierSite::IpiBarrier,
        BarrierSite::IpiSyncCore,
        BarrierSite::IpiSyncState,
        BarrierSite::RegisterSingleUser,
        BarrierSite::RegisterBefore,
        BarrierSite::RegisterAfter,
    ];

    /// The site's name as the mutation run and `CORE_SCHED_REMOVED_BARRIER` spell it (the variant's name).
    pub(crate) fn name(self) -> std::string::String {
        std::format!("{self:?}")
    }

    /// What the barrier orders, against what (the call site's comment has the full litmus).
    pub(crate) fn litmus(self) -> &'static str {
        match self {
            BarrierSite::InitCpuOnline => {
                "`init_cpu`, after `online = true`: a caller that reads the CPU offline (no IPI) vs the CPU's next accesses (GLOBAL vs a CPU coming online)."
            }
            BarrierSite::ExitMm => {
                "`exit_mm_current`, before clearing the published mm: the exiting task's last user accesses vs a caller that reads 'no user mm' and skips the CPU (Linux exit_mm)."
            }
            BarrierSite::KthreadUnuseMm => {
                "`kthread_unuse_mm`, before clearing the published mm: the kernel thread's accesses to the user mm vs a caller that reads 'no user mm'."
            }
            BarrierSite::ScheduleRule1 => {
                "`schedule`, rule 1 (Linux smp_mb__after_spinlock): prev's user accesses vs the publication of next's mm."
            }
            BarrierSite::IpiBarrier => {
                "MembarrierBarrier IPI handler, before the ack: the barrier membarrier asked the CPU for."
            }
            BarrierSite::IpiSyncCore => {
                "SyncCore IPI handler, before the ack: the same barrier for PRIVATE_EXPEDITED_SYNC_CORE."
            }
            BarrierSite::IpiSyncState => {
                "MembarrierSyncState IPI handler, after the refresh, before the ack: the refreshed state copy vs READY."
            }
            BarrierSite::GlobalBefore => {
                "membarrier(GLOBAL), before sending the IPIs: the caller's accesses vs the targets' (and CPUs it reads offline)."
            }
            BarrierSite::GlobalAfter => {
                "membarrier(GLOBAL), after the acks: the targets' accesses (and those of CPUs it skipped) vs the caller's accesses after the call."
            }
            BarrierSite::GlobalExpeditedBefore => {
                "membarrier(GLOBAL_EXPEDITED), before reading the published ids: pairs with rule 2."
            }
            BarrierSite::GlobalExpeditedAfter => {
                "membarrier(GLOBAL_EXPEDITED), after the acks: pairs with rule 1, exit and kthread_unuse_mm."
            }
            BarrierSite::PrivateExpeditedBefore => {
                "membarrier(PRIVATE_EXPEDITED[_SYNC_CORE]) barrier (1), before reading the published ids: pairs with rule 2."
            }
            BarrierSite::PrivateExpeditedAfter => {
                "membarrier(PRIVATE_EXPEDITED[_SYNC_CORE]) barrier (2), after the acks: pairs with rule 1, exit and kthread_unuse_mm."
            }
            BarrierSite::RegisterSingleUser => {
                "Registration of a single-user mm (or one CPU): the new state bits vs the caller's later accesses."
            }
            BarrierSite::RegisterBefore => {
                "Registration, before the state-sync IPIs: the new state bits vs the handlers' refresh."
            }
            BarrierSite::RegisterAfter => {
                "Registration, after the acks: every refreshed copy vs READY."
            }
            BarrierSite::PostSwitchHook => {
                "The generic post-switch-mm barrier (rule 2, `generic_membarrier_finish_switch_mm`): the publication of the incoming mm vs the incoming task's accesses."
            }
        }
    }
}

/// A full barrier at `site`: [`Arch::smp_mb`], except in a test build whose mutation switch removes this very
/// site (see `tests::barrier_mutant`), and in the BROKEN kernel builds of the QEMU barrier audit, which remove
/// one site for good (features `no-exit-mm-barrier`, `no-kthread-unuse-mm-barrier`).
#[inline(always)]
pub(crate) fn smp_mb<A: Arch>(site: BarrierSite) {
    #[cfg(test)]
    if crate::tests::barrier_mutant::is_removed(site) {
        return;
    }
    if is_removed_by_broken_build(site) {
        return;
    }
    A::smp_mb();
}

/// Whether a BROKEN build (a cargo feature, for the teeth of the QEMU barrier audit only; never the default)
/// removes `site`. A constant for each call site, so the normal build has exactly the barrier.
#[inline(always)]
const fn is_removed_by_broken_build(site: BarrierSite) -> bool {
    match site {
        BarrierSite::ExitMm => cfg!(feature = "no-exit-mm-barrier"),
        BarrierSite::KthreadUnuseMm => cfg!(feature = "no-kthread-unuse-mm-barrier"),
        _ => false,
    }
}
