//! `membarrier()`: Linux's commands, errors and state bits, and the expedited barriers built on the
//! scheduler's published per-CPU mm ids.
//!
//! # The guarantee and the barriers that make it
//! ```text
//! thread A (fast path, CPU0)     thread B (slow path, CPU1)
//! x = 1                          y = 1
//! compiler barrier only          membarrier(PRIVATE_EXPEDITED)
//! r1 = y                         r2 = x
//! forbidden: r1 == 0 && r2 == 0
//! ```
//! `membarrier` runs `smp_mb` (1), reads each CPU's published mm id, IPIs the CPUs running the caller's mm,
//! waits until each has run its barrier, then runs `smp_mb` (2). If CPU0 was IPI'd, its barrier sits between
//! `x = 1` and `r1 = y` (or before both, or after both), which forbids the outcome. If it was skipped because
//! it published another mm or "no user mm", A was not running user code at the read, and the scheduler's
//! barriers order A's accesses: (1) pairs with the post-switch-mm barrier run after publishing the mm A is
//! switched into (rule 2, [`crate::Arch::membarrier_finish_switch_mm`]),
//! and (2) pairs with the barrier before the publication that switched A out (rule 1, `schedule`; task exit;
//! `kthread_unuse_mm`).
//!
//! # Choices where Linux relies on facilities we do not have
//! * GLOBAL (Linux: `synchronize_rcu()`): IPI every other online CPU with a barrier and wait. Interrupts are
//!   disabled across a whole switch, so each CPU takes the IPI between tasks or in a task, never in the
//!   middle of a publication; that gives every running thread a barrier, as the RCU grace period does.
//! * The registration grace period (Linux: `synchronize_rcu()` then IPIs to CPUs running the mm): an IPI to
//!   every other online CPU whose handler refreshes the run queue's state copy from its current task's mm
//!   (the calling CPU refreshes its own directly). A CPU acknowledges with interrupts enabled, so it is not
//!   inside a switch, so any switch it does afterwards reads the new state. Only then is READY set.
//! * Waiting for acknowledgements is bounded by [`IPI_ACK_TIMEOUT_NS`]; on timeout the command fails with
//!   `ETIMEDOUT` (Linux would wait forever). Callers such as liburcu treat any failure as fatal, which is the
//!   right reaction: the barrier was not provided. Acknowledgements carry the call's sequence number
//!   (`MembarrierRequest`), so a late one from a timed-out call never satisfies a later call.
//! * A caller without an mm (a kernel thread) gets `EINVAL` for the commands that need one.

use alloc::sync::Arc;
use core::sync::atomic::Ordering;

use crate::arch::{Arch, IpiKind};
use crate::barrier::{smp_mb, BarrierSite};
use crate::cpuset::CpuSet;
use crate::errno::Errno;
use crate::irq::without_interrupts;
use crate::mm::Mm;
use crate::runqueue::bump;
use crate::sched::Scheduler;
use crate::task::Task;

// The commands and flags are the Linux ABI (abi/); re-exported so that callers of this module find them here.
pub use abi::membarrier::{
    MEMBARRIER_CMD_FLAG_CPU, MEMBARRIER_CMD_GET_REGISTRATIONS, MEMBARRIER_CMD_GLOBAL, MEMBARRIER_CMD_GLOBAL_EXPEDITED,
    MEMBARRIER_CMD_PRIVATE_EXPEDITED, MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ,
    MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE, MEMBARRIER_CMD_QUERY, MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED,
    MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ,
    MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE,
};

/// What QUERY returns: every command but QUERY itself. 0x3ff, as Linux 6.12.
pub const MEMBARRIER_SUPPORTED_COMMANDS: i32 = MEMBARRIER_CMD_GLOBAL
    | MEMBARRIER_CMD_GLOBAL_EXPEDITED
    | MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED
    | MEMBARRIER_CMD_PRIVATE_EXPEDITED
    | MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED
    | MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE
    | MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE
    | MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ
    | MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ
    | MEMBARRIER_CMD_GET_REGISTRATIONS;

/// PRIVATE_EXPEDITED may be used.
pub const MEMBARRIER_STATE_PRIVATE_EXPEDITED_READY: u32 = 1 << 0;
/// The scheduler must provide barriers for this mm (private expedited).
pub const MEMBARRIER_STATE_PRIVATE_EXPEDITED: u32 = 1 << 1;
/// Registration for GLOBAL_EXPEDITED complete.
pub const MEMBARRIER_STATE_GLOBAL_EXPEDITED_READY: u32 = 1 << 2;
/// The scheduler must provide barriers for this mm (global expedited); GLOBAL_EXPEDITED targets it.
pub const MEMBARRIER_STATE_GLOBAL_EXPEDITED: u32 = 1 << 3;
/// PRIVATE_EXPEDITED_SYNC_CORE may be used.
pub const MEMBARRIER_STATE_PRIVATE_EXPEDITED_SYNC_CORE_READY: u32 = 1 << 4;
/// Core serialization is requested for this mm.
pub const MEMBARRIER_STATE_PRIVATE_EXPEDITED_SYNC_CORE: u32 = 1 << 5;
/// PRIVATE_EXPEDITED_RSEQ may be used.
pub const MEMBARRIER_STATE_PRIVATE_EXPEDITED_RSEQ_READY: u32 = 1 << 6;
/// Registered for PRIVATE_EXPEDITED_RSEQ.
pub const MEMBARRIER_STATE_PRIVATE_EXPEDITED_RSEQ: u32 = 1 << 7;

/// How long a membarrier command waits for all targeted CPUs to acknowledge their IPI. Generous: under
/// emulation a virtual CPU can be descheduled by the host for tens of milliseconds (seen: over 100 ms with four
/// QEMU vCPUs on two host cores), which is slowness, not a lost IPI.
pub const IPI_ACK_TIMEOUT_NS: u64 = 2_000_000_000;

/// What a membarrier call asks of one target CPU: the call's sequence number and the IPI kind, packed in one
/// word of the target's run queue (`sequence << 2 | kind`) so that the handler reads both at once.
///
/// # Why a late acknowledgement cannot complete a later call
/// With a plain count of acks, a handler of call k (which timed out) that ran its barrier before call k + 1
/// began, but whose ack landed after call k + 1 read the count, would be taken for k + 1's: k + 1 returns
/// although that CPU's barrier may precede k + 1's first barrier, and the membarrier guarantee is lost. With
/// sequence numbers it is safe because:
/// * sequence numbers are handed out under the membarrier mutex, which serializes the calls that send IPIs,
///   so they increase strictly with time, and a call's wait (for `ack >= own sequence`) is satisfied only by
///   an ack carrying its own sequence number (none newer exists while it waits);
/// * a handler acks the sequence number it read from the request *before* its work (Acquire load), and the
///   caller stored that request (Release) after its first barrier: an ack carrying `s` therefore proves a
///   barrier (or refresh) that ran after call `s` began; its Release store pairs with the caller's Acquire
///   load in the wait loop, so that work is ordered before the caller's second barrier;
/// * a stale IPI of call k that the target only takes during call k + 1 reads request k + 1 and does its
///   work after that: a genuine barrier for k + 1, rightly counted;
/// * a handler acks only a request of its own kind: a late plain barrier never answers a SYNC_CORE or
///   registration request (their own IPIs are on the way).
///
/// 62 bits of sequence number do not wrap in the life of a machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MembarrierRequest(u64);

impl MembarrierRequest {
    const KIND_BITS: u32 = 3;
    /// The code of a PRIVATE_EXPEDITED_RSEQ request: a `MembarrierBarrier` IPI whose handler also restarts the
    /// rseq critical section of the thread it interrupted (Linux's `ipi_rseq`).
    const BARRIER_AND_RSEQ_RESTART: u64 = 4;

    /// A PRIVATE_EXPEDITED_RSEQ request (sent as a `MembarrierBarrier` IPI).
    pub(crate) fn with_rseq_restart(sequence: u64) -> Self {
        MembarrierRequest(sequence << Self::KIND_BITS | Self::BARRIER_AND_RSEQ_RESTART)
    }

    /// Whether the handler must also restart the interrupted thread's rseq critical section.
    pub(crate) fn restarts_rseq(self) -> bool {
        self.0 & ((1 << Self::KIND_BITS) - 1) == Self::BARRIER_AND_RSEQ_RESTART
    }

    pub(crate) fn new(sequence: u64, kind: IpiKind) -> Self {
        let code = match kind {
            IpiKind::Reschedule => unreachable!("a reschedule IPI is not a membarrier request"),
            IpiKind::MembarrierBarrier => 1,
            IpiKind::MembarrierSyncState => 2,
            IpiKind::SyncCore => 3,
        };
        MembarrierRequest(sequence << Self::KIND_BITS | code)
    }

    pub(crate) fn unpack(word: u64) -> Self {
        MembarrierRequest(word)
    }

    pub(crate) fn pack(self) -> u64 {
        self.0
    }

    /// The sequence number of the call (0: no call ever asked this CPU).
    pub(crate) fn sequence(self) -> u64 {
        self.0 >> Self::KIND_BITS
    }

    /// The IPI kind the call sent, `None` before the first request.
    pub(crate) fn kind(self) -> Option<IpiKind> {
        match self.0 & ((1 << Self::KIND_BITS) - 1) {
            1 | Self::BARRIER_AND_RSEQ_RESTART => Some(IpiKind::MembarrierBarrier),
            2 => Some(IpiKind::MembarrierSyncState),
            3 => Some(IpiKind::SyncCore),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum PrivateFlavor {
    Barrier,
    SyncCore,
    /// PRIVATE_EXPEDITED_RSEQ: the barrier IPI also restarts rseq critical sections.
    Rseq,
}

impl<A: Arch> Scheduler<A> {
    /// The `membarrier(cmd, flags, cpu_id)` system call for `caller`, the task running on this CPU. Returns
    /// the syscall's non-negative result, or the errno Linux returns for the same input, checked in Linux's
    /// order (flags, then the command, then registration). See the module documentation.
    pub fn membarrier(&self, caller: &Task<A>, cmd: i32, flags: u32, cpu_id: i32) -> Result<i64, Errno> {
        self.membarrier_with_mm(|| caller.mm(), cmd, flags, cpu_id)
    }

    /// [`Scheduler::membarrier`] for the task running on this CPU, looking up its mm only for the commands
    /// that need one (QUERY does not): no reference to the task itself is taken. A caller that wants QUERY
    /// cheap answers it before calling (the kernel's system-call dispatcher does, with
    /// [`MEMBARRIER_SUPPORTED_COMMANDS`]): the command `match` here saves ten callee-saved registers on entry,
    /// and a test for QUERY here would cost every other command two instructions.
    pub fn membarrier_current(&self, cmd: i32, flags: u32, cpu_id: i32) -> Result<i64, Errno> {
        self.membarrier_with_mm(|| self.current_mm(), cmd, flags, cpu_id)
    }

    /// The mm of the task running on this CPU (`None` for a kernel thread outside `kthread_use_mm`).
    fn current_mm(&self) -> Option<Arc<Mm<A>>> {
        // Masked: the CPU id and its `curr` belong together (see `current`). Lock order: run queue, then the
        // task's mm, as in the MembarrierSyncState handler.
        without_interrupts::<A, _>(|masked| {
            let inner = self.run_queue(A::cpu_id()).inner.lock_masked(masked);
            inner.curr.as_ref().and_then(|curr| curr.mm.lock_masked(masked).clone())
        })
    }

    fn membarrier_with_mm(
        &self,
        caller_mm: impl FnOnce() -> Option<Arc<Mm<A>>>,
        cmd: i32,
        flags: u32,
        cpu_id: i32,
    ) -> Result<i64, Errno> {
        let flags_allowed = if cmd == MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ { MEMBARRIER_CMD_FLAG_CPU } else { 0 };
        if flags & !flags_allowed != 0 {
            return Err(Errno::EINVAL);
        }
        // Without FLAG_CPU, cpu_id is whatever a two-argument caller left in the register: ignore it. With
        // it, only the RSEQ command gets here; a negative id means every CPU, as Linux.
        let target_cpu = if flags & MEMBARRIER_CMD_FLAG_CPU != 0 { cpu_id } else { -1 };
        match cmd {
            MEMBARRIER_CMD_QUERY => Ok(MEMBARRIER_SUPPORTED_COMMANDS as i64),
            MEMBARRIER_CMD_GLOBAL => self.membarrier_global().map(|()| 0),
            MEMBARRIER_CMD_GLOBAL_EXPEDITED => self.membarrier_global_expedited().map(|()| 0),
            MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED => {
                let mm = caller_mm().ok_or(Errno::EINVAL)?;
                self.register(&mm, MEMBARRIER_STATE_GLOBAL_EXPEDITED, MEMBARRIER_STATE_GLOBAL_EXPEDITED_READY)
                    .map(|()| 0)
            }
            MEMBARRIER_CMD_PRIVATE_EXPEDITED => {
                let mm = caller_mm().ok_or(Errno::EINVAL)?;
                self.membarrier_private_expedited(&mm, PrivateFlavor::Barrier, -1).map(|()| 0)
            }
            MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED => {
                let mm = caller_mm().ok_or(Errno::EINVAL)?;
                self.register(&mm, MEMBARRIER_STATE_PRIVATE_EXPEDITED, MEMBARRIER_STATE_PRIVATE_EXPEDITED_READY)
                    .map(|()| 0)
            }
            MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE => {
                let mm = caller_mm().ok_or(Errno::EINVAL)?;
                self.membarrier_private_expedited(&mm, PrivateFlavor::SyncCore, -1).map(|()| 0)
            }
            MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE => {
                let mm = caller_mm().ok_or(Errno::EINVAL)?;
                // Like Linux: also the plain PRIVATE_EXPEDITED bit (the scheduler barriers), not its READY.
                self.register(
                    &mm,
                    MEMBARRIER_STATE_PRIVATE_EXPEDITED | MEMBARRIER_STATE_PRIVATE_EXPEDITED_SYNC_CORE,
                    MEMBARRIER_STATE_PRIVATE_EXPEDITED_SYNC_CORE_READY,
                )
                .map(|()| 0)
            }
            MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ => {
                let mm = caller_mm().ok_or(Errno::EINVAL)?;
                self.membarrier_private_expedited(&mm, PrivateFlavor::Rseq, target_cpu).map(|()| 0)
            }
            MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ => {
                let mm = caller_mm().ok_or(Errno::EINVAL)?;
                // Like Linux: also the plain PRIVATE_EXPEDITED bit (the scheduler barriers), not its READY.
                self.register(
                    &mm,
                    MEMBARRIER_STATE_PRIVATE_EXPEDITED | MEMBARRIER_STATE_PRIVATE_EXPEDITED_RSEQ,
                    MEMBARRIER_STATE_PRIVATE_EXPEDITED_RSEQ_READY,
                )
                .map(|()| 0)
            }
            MEMBARRIER_CMD_GET_REGISTRATIONS => {
                let mm = caller_mm().ok_or(Errno::EINVAL)?;
                Ok(registrations(mm.membarrier_state()) as i64)
            }
            _ => Err(Errno::EINVAL),
        }
    }

    fn membarrier_global(&self) -> Result<(), Errno> {
        if self.online_count() <= 1 {
            return Ok(());
        }
        // Pairs with the barriers of the targets (IPI handler); orders the caller's accesses before the IPIs.
        smp_mb::<A>(BarrierSite::GlobalBefore);
        let result = self.ipi_and_wait(
            |this_cpu| {
                let mut targets = self.online_cpus();
                targets.remove(this_cpu);
                targets
            },
            IpiKind::MembarrierBarrier,
        );
        // Pairs with the targets' barriers before their acks: their earlier accesses precede ours after this.
        smp_mb::<A>(BarrierSite::GlobalAfter);
        result
    }

    fn membarrier_global_expedited(&self) -> Result<(), Errno> {
        if self.online_count() <= 1 {
            return Ok(());
        }
        // Pairs with the post-switch-mm barrier (rule 2) of every CPU that publishes a registered mm: either
        // we see its publication and IPI it, or its task's accesses come after our accesses before this.
        smp_mb::<A>(BarrierSite::GlobalExpeditedBefore);
        let select = |this_cpu: usize| {
            let this_rq = self.run_queue(this_cpu);
            let mut targets = CpuSet::EMPTY;
            for cpu in self.online_cpus().iter().filter(|&cpu| cpu != this_cpu) {
                let rq = self.run_queue(cpu);
                if rq.current_mm_id.load(Ordering::Relaxed) == 0 {
                    bump(&this_rq.stats.membarrier_skipped_no_user_mm, 1);
                    bump(&rq.stats.membarrier_skipped_here_no_user_mm, 1);
                } else if rq.membarrier_state.load(Ordering::Relaxed) & MEMBARRIER_STATE_GLOBAL_EXPEDITED == 0 {
                    bump(&this_rq.stats.membarrier_skipped_other_mm, 1);
                } else {
                    targets.insert(cpu);
                }
            }
            targets
        };
        let result = self.ipi_and_wait(select, IpiKind::MembarrierBarrier);
        // Pairs with the barrier before the publication that switches a task out (rule 1): accesses of a
        // task we skipped because it was switched out are ordered before ours after this.
        smp_mb::<A>(BarrierSite::GlobalExpeditedAfter);
        result
    }

    /// PRIVATE_EXPEDITED and its SYNC_CORE and RSEQ flavours; `target_cpu` (RSEQ with FLAG_CPU) limits it to
    /// one CPU, negative for all. As Linux: a target CPU that is offline, out of range or not running the mm
    /// makes it a no-op (0); the RSEQ flavour aimed at the calling CPU restarts the caller's own section.
    fn membarrier_private_expedited(&self, mm: &Mm<A>, flavor: PrivateFlavor, target_cpu: i32) -> Result<(), Errno> {
        let ready = match flavor {
            PrivateFlavor::Barrier => MEMBARRIER_STATE_PRIVATE_EXPEDITED_READY,
            PrivateFlavor::SyncCore => MEMBARRIER_STATE_PRIVATE_EXPEDITED_SYNC_CORE_READY,
            PrivateFlavor::Rseq => MEMBARRIER_STATE_PRIVATE_EXPEDITED_RSEQ_READY,
        };
        if mm.membarrier_state() & ready == 0 {
            return Err(Errno::EPERM);
        }
        // A single-threaded process, or a single CPU: the system call itself orders the only thread.
        if flavor != PrivateFlavor::SyncCore && (mm.users() == 1 || self.online_count() <= 1) {
            return Ok(());
        }
        // Barrier (1) of the module documentation. Pairs with the post-switch-mm barrier of a CPU switching
        // into this mm (rule 2): we see its published id, or its task's accesses are ordered after ours.
        smp_mb::<A>(BarrierSite::PrivateExpeditedBefore);
        let select = |this_cpu: usize| {
            let this_rq = self.run_queue(this_cpu);
            let mut targets = CpuSet::EMPTY;
            let only = usize::try_from(target_cpu).ok();
            if only == Some(this_cpu) && flavor == PrivateFlavor::Rseq {
                // Linux's smp_call_function_single runs ipi_rseq here, on the caller itself.
                self.rseq_restart_current(this_cpu);
            }
            // The calling CPU is skipped: it runs the caller, which is in program order with this call.
            for cpu in self.online_cpus().iter().filter(|&cpu| cpu != this_cpu && only.is_none_or(|only| only == cpu)) {
                match self.run_queue(cpu).current_mm_id.load(Ordering::Relaxed) {
                    0 => {
                        bump(&this_rq.stats.membarrier_skipped_no_user_mm, 1);
                        bump(&self.run_queue(cpu).stats.membarrier_skipped_here_no_user_mm, 1);
                    }
                    id if id == mm.id().0 => targets.insert(cpu),
                    _ => bump(&this_rq.stats.membarrier_skipped_other_mm, 1),
                }
            }
            targets
        };
        let kind = match flavor {
            PrivateFlavor::Barrier | PrivateFlavor::Rseq => IpiKind::MembarrierBarrier,
            PrivateFlavor::SyncCore => IpiKind::SyncCore,
        };
        let result = self.ipi_and_wait_for(select, kind, flavor == PrivateFlavor::Rseq);
        // Barrier (2). Pairs with the barrier before a publication that switched a task of this mm out
        // (rule 1, exit, kthread_unuse_mm), and with the IPI handlers' barriers before their acks.
        smp_mb::<A>(BarrierSite::PrivateExpeditedAfter);
        result
    }

    /// Registration: plain bits, scheduler grace period, READY bits. Idempotent.
    fn register(&self, mm: &Mm<A>, plain: u32, ready: u32) -> Result<(), Errno> {
        if mm.membarrier_state() & ready == ready {
            return Ok(());
        }
        mm.membarrier_state_or(plain);
        self.sync_run_queues_membarrier_state(mm)?;
        mm.membarrier_state_or(ready);
        Ok(())
    }

    /// Makes every CPU's run-queue copy of the membarrier state current (Linux
    /// `sync_runqueues_membarrier_state`), so that the post-switch barrier is on for `mm` everywhere before
    /// READY lets the expedited command skip CPUs.
    fn sync_run_queues_membarrier_state(&self, mm: &Mm<A>) -> Result<(), Errno> {
        // The caller's own CPU copy, written with interrupts masked from reading the CPU id on: a preemption in
        // between could migrate the caller and make it overwrite another CPU's copy with this mm's state.
        let refresh_own_copy = |this_cpu: usize| {
            self.run_queue(this_cpu).membarrier_state.store(mm.membarrier_state(), Ordering::Relaxed);
        };
        if mm.users() == 1 || self.online_count() <= 1 {
            // Only the caller's thread uses the mm, on this CPU: its copy is current. The barrier orders the
            // new state before the caller's later accesses.
            without_interrupts::<A, _>(|_| refresh_own_copy(A::cpu_id()));
            smp_mb::<A>(BarrierSite::RegisterSingleUser);
            return Ok(());
        }
        // Orders the new state bits before the IPIs; pairs with the barrier in the MembarrierSyncState
        // handler after its refresh.
        smp_mb::<A>(BarrierSite::RegisterBefore);
        let select = |this_cpu: usize| {
            refresh_own_copy(this_cpu);
            let mut targets = self.online_cpus();
            targets.remove(this_cpu);
            targets
        };
        let result = self.ipi_and_wait(select, IpiKind::MembarrierSyncState);
        // Pairs with the handlers' barrier before their acks: every refreshed copy is ordered before the caller
        // sets READY (and before its later accesses).
        smp_mb::<A>(BarrierSite::RegisterAfter);
        result
    }

    /// Sends `kind` to the CPUs `select(calling CPU)` returns and waits (bounded) until each acknowledged this
    /// call by its sequence number ([`MembarrierRequest`]). Takes the membarrier mutex, which numbers the calls.
    /// The selection and the sending run with interrupts masked (Linux disables preemption there): the calling
    /// CPU cannot change in between, so it is excluded for certain and per-CPU statistics go to the right CPU.
    /// The wait runs with the caller's interrupt state.
    fn ipi_and_wait(&self, select: impl FnOnce(usize) -> CpuSet, kind: IpiKind) -> Result<(), Errno> {
        self.ipi_and_wait_for(select, kind, false)
    }

    /// `ipi_and_wait`; with `rseq_restart` (PRIVATE_EXPEDITED_RSEQ, a `MembarrierBarrier` IPI) the handlers
    /// also restart the interrupted thread's rseq critical section.
    fn ipi_and_wait_for(
        &self,
        select: impl FnOnce(usize) -> CpuSet,
        kind: IpiKind,
        rseq_restart: bool,
    ) -> Result<(), Errno> {
        let mut last_sequence = self.membarrier_mutex.lock();
        *last_sequence += 1;
        let sequence = *last_sequence;
        let targets = without_interrupts::<A, _>(|_| {
            let this_cpu = A::cpu_id();
            let targets = select(this_cpu);
            if !targets.is_empty() {
                let request = if rseq_restart {
                    MembarrierRequest::with_rseq_restart(sequence)
                } else {
                    MembarrierRequest::new(sequence, kind)
                }
                .pack();
                for cpu in targets {
                    // Release: after the caller's first barrier; pairs with the handler's Acquire load of the
                    // request, before its work. Visible to the handler before the IPI (Arch::send_ipi).
                    self.run_queue(cpu).membarrier_request.store(request, Ordering::Release);
                }
                bump(&self.run_queue(this_cpu).stats.membarrier_ipis_sent, targets.len() as u64);
                A::send_ipi(targets, kind);
            }
            targets
        });
        let deadline = A::now_ns().saturating_add(IPI_ACK_TIMEOUT_NS);
        for cpu in targets {
            // Acquire: pairs with the Release ack of the target's handler, after its work.
            while self.run_queue(cpu).membarrier_ack.load(Ordering::Acquire) < sequence {
                if A::now_ns() > deadline {
                    return Err(Errno::ETIMEDOUT);
                }
                A::cpu_relax();
            }
        }
        Ok(())
    }
}

impl<A: Arch> Scheduler<A> {
    /// Linux's `ipi_rseq` on `cpu` (the calling CPU, interrupts masked or in its IPI handler): the thread it
    /// runs restarts its rseq critical section, if it has one, before it runs user code again.
    pub(crate) fn rseq_restart_current(&self, cpu: usize) {
        without_interrupts::<A, _>(|masked| {
            if let Some(current) = self.run_queue(cpu).inner.lock_masked(masked).curr.as_ref() {
                crate::rseq::ipi_restart(current);
            }
        });
    }
}

/// GET_REGISTRATIONS: a REGISTER_* command is reported when its plain or its READY bit is set.
fn registrations(state: u32) -> i32 {
    let mut mask = 0;
    if state & (MEMBARRIER_STATE_GLOBAL_EXPEDITED | MEMBARRIER_STATE_GLOBAL_EXPEDITED_READY) != 0 {
        mask |= MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED;
    }
    if state & (MEMBARRIER_STATE_PRIVATE_EXPEDITED | MEMBARRIER_STATE_PRIVATE_EXPEDITED_READY) != 0 {
        mask |= MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED;
    }
    if state & (MEMBARRIER_STATE_PRIVATE_EXPEDITED_SYNC_CORE | MEMBARRIER_STATE_PRIVATE_EXPEDITED_SYNC_CORE_READY) != 0
    {
        mask |= MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE;
    }
    if state & (MEMBARRIER_STATE_PRIVATE_EXPEDITED_RSEQ | MEMBARRIER_STATE_PRIVATE_EXPEDITED_RSEQ_READY) != 0 {
        mask |= MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ;
    }
    mask
}
