//! The one seam between generic and architecture code: the [`Arch`] trait.
//!
//! Required functions are what only the architecture knows. Provided functions are generic fallbacks; each says
//! when an architecture overrides it and what the override must still guarantee. An architecture is a type
//! without values (`pub enum Arm64 {}`), so every call is statically dispatched.

use alloc::sync::Arc;
use core::ptr::NonNull;

use crate::barrier::{smp_mb, BarrierSite};
use crate::cpuset::CpuSet;
use crate::membarrier::{MEMBARRIER_STATE_GLOBAL_EXPEDITED, MEMBARRIER_STATE_PRIVATE_EXPEDITED};
use crate::mm::Mm;
use crate::task::Task;

/// Saved interrupt mask, returned by [`Arch::irq_save`] and given back to [`Arch::irq_restore`]. The arch
/// decides what the bits mean (arm64: the DAIF register).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IrqState(pub u64);

/// Why a CPU is interrupted by another. The arch delivers each as an inter-processor interrupt (arm64: a GIC
/// SGI) and its handler calls [`Scheduler::handle_ipi`](crate::Scheduler::handle_ipi) with the same kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IpiKind {
    /// Set need-resched; the arch calls `schedule()` on the way out of the interrupt.
    Reschedule,
    /// membarrier(PRIVATE_EXPEDITED / GLOBAL_EXPEDITED / GLOBAL): run a full barrier, then acknowledge.
    MembarrierBarrier,
    /// membarrier registration: refresh the run queue's copy of the current mm's membarrier state, acknowledge.
    MembarrierSyncState,
    /// membarrier(PRIVATE_EXPEDITED_SYNC_CORE): full barrier, core serialization before user mode, acknowledge.
    SyncCore,
}

/// Where the scheduler stops publishing a user mm while the CPU keeps running (the argument of
/// [`Arch::trace_published_mm_cleared`]): each has a full barrier before the clearing store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClearedAt {
    /// `exit_mm_current`: the exiting task drops its mm (Linux `exit_mm`).
    ExitMm,
    /// `kthread_unuse_mm`: a kernel thread ends its use of a user mm.
    KthreadUnuseMm,
}

/// What the generic scheduler needs from an architecture. Associated functions only: implement it on an
/// uninhabited type.
pub trait Arch: 'static + Sized {
    /// Saved registers of a task. Owned by the task, written only by [`Arch::switch_context`] (the arch uses
    /// interior mutability).
    type TaskContext: Send + Sync;
    /// Page-table root and ASID of an address space.
    type MmContext: Send + Sync;

    /// Number of the CPU executing the call, below [`MAX_CPUS`](crate::MAX_CPUS).
    fn cpu_id() -> usize;

    /// Full memory barrier: every load and store before it is ordered before every load and store after it,
    /// as seen by all CPUs (arm64: `dmb ish`). `core::sync::atomic::fence(SeqCst)` is a correct implementation.
    fn smp_mb();

    /// Installs `next`'s page tables and ASID for user space (arm64: TTBR0_EL1). `prev` is the mm being
    /// replaced, `None` when the CPU had none. Called with interrupts disabled, only when the mm changes.
    fn switch_mm(prev: Option<&Mm<Self>>, next: &Mm<Self>);

    /// Saves the callee-saved registers and stack pointer of the running task into `prev.context()` and
    /// resumes `next` from `next.context()`. Returns when `prev` is switched back in, possibly on another CPU.
    ///
    /// Called with interrupts disabled and no scheduler lock held. Whatever resumes on the CPU afterwards must
    /// call [`Scheduler::finish_switch`](crate::Scheduler::finish_switch) before anything else: the scheduler
    /// does that itself when this function returns, and a new task's first entry code (which the arch set up in
    /// its context) must do it explicitly, then enable interrupts and enter the task.
    ///
    /// The tasks come as [`SwitchingTask`]s, not `Arc`s: no reference count is taken or dropped per switch,
    /// and nothing owned is left on the stack of an exited `prev`, which never resumes. The scheduler keeps
    /// both tasks alive until `finish_switch` has run on `next`'s stack (the run queue's `curr` holds `next`,
    /// its pending switch holds `prev`); see [`SwitchingTask`] for what an implementation may rely on.
    fn switch_context(prev: SwitchingTask<Self>, next: SwitchingTask<Self>);

    /// Sends an IPI of `kind` to every CPU of `cpus` (never the sender, which is not in the set). Stores the
    /// sender made before the call must be visible to the handler on each target (arm64: `dsb ish` before the
    /// SGI register write): the membarrier request a target reads in its handler is one of them.
    fn send_ipi(cpus: CpuSet, kind: IpiKind);

    /// Disables interrupts on this CPU and returns the previous mask. Must be a compiler barrier (no memory
    /// access moves across it), like [`Arch::irq_restore`]. Generic code masks through
    /// [`IrqSpinLock`](crate::IrqSpinLock) and [`without_interrupts`](crate::without_interrupts), not directly.
    fn irq_save() -> IrqState;

    /// Restores an interrupt mask returned by [`Arch::irq_save`]. Must be a compiler barrier: a critical
    /// section's stores (a spin lock's release included) must not be moved after the point where interrupts
    /// come back, or an interrupt could find the lock still held by the code it interrupted.
    fn irq_restore(state: IrqState);

    /// Monotonic time in nanoseconds; bounds the waits for IPI acknowledgements.
    fn now_ns() -> u64;

    /// Hint inside a spin-wait loop (arm64: `yield`; the arch may also poll its pending interrupts).
    fn cpu_relax();

    /// Frees everything mapped in the address space: the user pages and every translation table below the
    /// root. Called exactly once, when the last *user* reference drops ([`Mm::mmput`]), before
    /// [`Arch::mm_free`]. No CPU runs the mm as a user any more (none publishes it), but lazy holders (kernel
    /// threads whose `active_mm` it is, idle tasks typically) may still have the root installed (arm64:
    /// TTBR0) and their CPUs may walk it speculatively. So the arch must empty the root first, then invalidate
    /// the mm's TLB entries, walk caches included, on all CPUs (arm64: `tlbi aside1is; dsb ish; isb`), and
    /// only then free the tables and pages; it keeps the root table and the ASID, which [`Arch::mm_free`]
    /// frees. After it, the address space translates nothing.
    ///
    /// Called from any context where [`Mm::mmput`] is (task exit with interrupts enabled, typically).
    fn mm_release_user_pages(mm: &Mm<Self>);

    /// Frees the address space's remaining arch resources: the root table and the ASID. Called exactly once,
    /// when the last reference (user or lazy) is dropped, after [`Arch::mm_release_user_pages`]; no CPU has
    /// `mm` installed any more at that point.
    fn mm_free(mm: &Mm<Self>);

    /// The post-switch-mm barrier: called after [`Arch::switch_mm`] on every switch to a task that has a user
    /// mm, *also when the mm did not change* (user -> kernel thread -> user of the same mm, where `switch_mm`
    /// is skipped), and at the end of `kthread_use_mm`. `membarrier_state` is the run queue's copy of the new
    /// mm's `MEMBARRIER_STATE_*` bits.
    ///
    /// It prevents this store-buffering outcome (thread A has just been switched in on CPU0, B runs
    /// `membarrier(PRIVATE_EXPEDITED)`):
    /// ```text
    /// CPU0 (scheduler, then A)          CPU1 (B)
    /// publish rq.curr mm = M            y = 1
    /// [this barrier]                    smp_mb
    /// x = 1                             read CPU0's mm: still "no user mm" -> no IPI
    /// r1 = y                            smp_mb
    ///                                   r2 = x
    /// forbidden: r1 == 0 && r2 == 0
    /// ```
    /// Without the barrier, A's `r1 = y` can be satisfied before the publication of M is visible, B skips
    /// CPU0, and both loads miss the other side's store. It pairs with the `smp_mb` membarrier executes
    /// after `y = 1` and before reading the published mm ids.
    ///
    /// Most architectures use this default ([`generic_membarrier_finish_switch_mm`]): a full
    /// [`Arch::smp_mb`] when the state has PRIVATE_EXPEDITED or GLOBAL_EXPEDITED, nothing otherwise (an mm
    /// nobody registered never has CPUs skipped on its behalf, so it needs no barrier).
    ///
    /// Override when the architecture has a cheaper instruction with the same guarantee, or when its
    /// `switch_mm` already implies one (the override may then do nothing on the paths where `switch_mm` ran,
    /// but must still order the same-mm path). An override must still guarantee: for a state with either
    /// expedited bit, every memory access of this CPU before the call (including the publication of the run
    /// queue's mm) is ordered before every access after it, store -> load included. arm64 overrides with
    /// `dmb ish`.
    fn membarrier_finish_switch_mm(membarrier_state: u32) {
        generic_membarrier_finish_switch_mm::<Self>(membarrier_state);
    }

    /// Makes the instruction stream of this CPU coherent with code other CPUs modified, before the next
    /// return to user mode. Called by the SYNC_CORE IPI handler and when a switch enters a task whose mm
    /// registered PRIVATE_EXPEDITED_SYNC_CORE.
    ///
    /// Default: nothing, which is right for architectures whose return to user mode is itself context
    /// synchronizing (arm64: every return to EL0 is an `eret`). Override on architectures where it is not
    /// (x86 without a serializing return path needs `sync_core()`); an override must leave the CPU such that
    /// no instruction fetched before the call is executed in user mode after it.
    fn membarrier_sync_core_before_usermode() {}

    /// Tracing point: the scheduler has just published `next`'s user mm as this CPU's current one and copied
    /// its `membarrier_state` (the argument), and the post-switch-mm barrier (rule 2) is next. Does nothing by
    /// default. Override to let a tracer check what
    /// follows on the real switch path: arm64 emits a marker instruction (a NOP on hardware) that the QEMU
    /// barrier audit uses to verify that a full barrier executes before the first user instruction. An
    /// override must not itself order memory (that would hide a missing hook barrier from the audit).
    fn trace_user_mm_published(_membarrier_state: u32) {}

    /// Tracing point: the running kernel thread has just finished `kthread_use_mm` (its post-switch barrier
    /// included), so its accesses to the user mm start here. Does nothing by default. arm64 emits a marker that
    /// opens the QEMU audit window of [`Arch::trace_published_mm_cleared`]`(KthreadUnuseMm)`. Like every trace
    /// point, an override must not itself order memory.
    fn trace_kthread_user_accesses_begin() {}

    /// Tracing point: the CPU has just stopped publishing a user mm (stored "no user mm"), at `point`; the full
    /// barrier that orders the task's last user accesses before that store ran just before it. Does nothing by
    /// default. arm64 emits one marker per point, which the QEMU barrier audit uses to verify that a full
    /// barrier executed between the last user access (an EL0 instruction, or the start of a kernel thread's
    /// `kthread_use_mm` accesses) and this point. An override must not itself order memory.
    fn trace_published_mm_cleared(_point: ClearedAt) {}

    /// A monotonic count read on every context switch and timer tick for per-task CPU time
    /// ([`Scheduler::cpu_time`](crate::Scheduler::cpu_time)), converted to nanoseconds only when someone asks.
    ///
    /// Default: [`Arch::now_ns`], with [`Arch::cpu_time_stamps_to_ns`] the identity. Override when `now_ns`
    /// costs more than reading a counter (arm64's divides by the counter frequency): return the raw counter
    /// and convert in `cpu_time_stamps_to_ns`. An override must be monotonic on each CPU and count at the same
    /// rate on every CPU, since a task's time is summed over the CPUs it ran on.
    fn cpu_time_stamp() -> u64 {
        Self::now_ns()
    }

    /// Nanoseconds in `stamps` units of [`Arch::cpu_time_stamp`] (default: they are nanoseconds already).
    fn cpu_time_stamps_to_ns(stamps: u64) -> u64 {
        stamps
    }
}

/// A task handed to [`Arch::switch_context`], without a reference count: a pointer to the task that only the
/// scheduler's switch path creates, and only for the two tasks of the switch it is making.
///
/// What an implementation may rely on: the task behind [`SwitchingTask::as_ptr`] stays alive (its
/// `Arc` is held by the run queue: `curr` for `next`, the pending switch for `prev`) until
/// [`Scheduler::finish_switch`](crate::Scheduler::finish_switch) has run on the CPU after the switch, which
/// is after `switch_context` has stopped using `prev`'s stack and started on `next`'s. Dereferencing the
/// pointer before that point is sound; keeping it beyond is not. Why not `Arc`s: an `Arc` handed over must
/// be dropped by the implementation before it switches stacks (an exited `prev` never resumes to drop one),
/// which costs two reference-count increments here and two decrements there on every switch for nothing the
/// run queue does not already guarantee. Why not references: the owners sit behind the run-queue lock,
/// which is released before the switch, so no borrow of them can span it.
pub struct SwitchingTask<A: Arch>(NonNull<Task<A>>);

impl<A: Arch> SwitchingTask<A> {
    /// Only the switch path creates one, for a task whose `Arc` the run queue keeps until `finish_switch`.
    pub(crate) fn new(task: &Arc<Task<A>>) -> Self {
        SwitchingTask(NonNull::from(&**task))
    }

    /// The task; valid until `finish_switch` has run after the switch (see the type's documentation).
    pub fn as_ptr(&self) -> *const Task<A> {
        self.0.as_ptr()
    }
}

/// The generic post-switch-mm barrier, the default body of [`Arch::membarrier_finish_switch_mm`]: a full
/// barrier when `membarrier_state` has PRIVATE_EXPEDITED or GLOBAL_EXPEDITED. Public so that an architecture
/// (or a test double) that overrides the hook for bookkeeping can still delegate to it.
pub fn generic_membarrier_finish_switch_mm<A: Arch>(membarrier_state: u32) {
    if membarrier_state_requires_barrier(membarrier_state) {
        // Pairs with the smp_mb in membarrier's expedited commands before they read the published mm ids
        // (see the litmus test on `Arch::membarrier_finish_switch_mm`).
        smp_mb::<A>(BarrierSite::PostSwitchHook);
    }
}

/// Whether the post-switch-mm barrier is required for an mm with this membarrier state.
pub const fn membarrier_state_requires_barrier(membarrier_state: u32) -> bool {
    membarrier_state & (MEMBARRIER_STATE_PRIVATE_EXPEDITED | MEMBARRIER_STATE_GLOBAL_EXPEDITED) != 0
}
