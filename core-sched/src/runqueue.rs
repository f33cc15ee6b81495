//! Per-CPU run queue: `curr`, the FIFO of runnable tasks, the idle task, the published mm id and membarrier
//! state copy that remote CPUs read, and statistics.

use alloc::collections::VecDeque;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use crate::arch::Arch;
use crate::irq::IrqSpinLock;
use crate::membarrier::MembarrierRequest;
use crate::mm::{Mm, MmId};
use crate::task::Task;

/// The state a switch leaves for [`Scheduler::finish_switch`](crate::Scheduler::finish_switch), which runs
/// on the same CPU once the switch is complete (on the next task's stack).
pub(crate) struct PendingSwitch<A: Arch> {
    /// The task switched away from: its `on_cpu` is cleared, and the `Arc` keeps it (its stack) alive until
    /// then even when it exited.
    pub(crate) prev: Arc<Task<A>>,
    /// The lazy `active_mm` reference of a kernel thread (or exited task) switched away from, dropped only
    /// after the switch: the mm's page tables were loaded until `switch_mm` replaced them.
    pub(crate) lazy_mm_to_drop: Option<Arc<Mm<A>>>,
    /// Where `prev` is queued once its stack is free.
    pub(crate) requeue: Requeue,
}

/// Where [`Scheduler::finish_switch`](crate::Scheduler::finish_switch) queues the task switched away from.
///
/// A runnable `prev` is queued only there, after its `on_cpu` is cleared, not by `schedule`: the run queue's
/// reference moves from the pending switch to the queue, so a switch takes no reference count for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Requeue {
    /// Nowhere: it blocked or exited, or it is the idle task (never queued).
    Nowhere,
    /// At the tail of this CPU's queue: it yielded or was preempted and may still run here.
    Here,
    /// On that CPU: its affinity no longer includes this one.
    On(usize),
}

impl<A: Arch> RunQueueInner<A> {
    /// Stores the queue's length into `rq.queue_length` (call after every change of `queue`, under the lock).
    #[inline(always)]
    pub(crate) fn publish_length(&self, rq: &RunQueue<A>) {
        rq.queue_length.store(self.queue.len(), Ordering::Relaxed);
    }
}

pub(crate) struct RunQueueInner<A: Arch> {
    pub(crate) curr: Option<Arc<Task<A>>>,
    pub(crate) idle: Option<Arc<Task<A>>>,
    pub(crate) queue: VecDeque<Arc<Task<A>>>,
    pub(crate) pending: Option<PendingSwitch<A>>,
    /// When `curr`'s CPU time was last accounted ([`Arch::cpu_time_stamp`]): its switch-in or the last tick.
    pub(crate) curr_accounted_at: u64,
    /// The address of the mm whose page tables this CPU has loaded, i.e. of `curr`'s `active_mm` (0: none),
    /// kept where that changes (a switch that calls `switch_mm`, `kthread_use_mm`, `init_cpu`, going offline;
    /// a switch to a kernel thread hands the same mm over, and exit keeps it). The switch compares it with the
    /// incoming task's mm instead of locking prev's `active_mm`. An address rather than an `MmId` (a process
    /// id, which may be reused): the loaded mm is alive (`curr`'s `active_mm` holds a `count` reference to
    /// it), so no other live mm has its address.
    pub(crate) loaded_mm: usize,
}

/// The six kinds of switch, by whether the outgoing and incoming task have an mm (Linux's `task->mm`).
/// A kernel thread inside `kthread_use_mm` counts as a user side here, as in Linux.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SwitchKind {
    /// User task to a user task of the same mm (no `switch_mm`).
    UserToUserSameMm = 0,
    /// User task to a user task of another mm.
    UserToUserOtherMm = 1,
    /// User task to a kernel thread (no `switch_mm`, the mm is kept lazily).
    UserToKernelThread = 2,
    /// Kernel thread to a user task whose mm is the lazily kept one (no `switch_mm`, the hook still runs).
    KernelThreadToUserSameMm = 3,
    /// Kernel thread to a user task of another mm (or from no mm at all).
    KernelThreadToUserOtherMm = 4,
    /// Kernel thread to kernel thread (the lazy reference is handed over).
    KernelThreadToKernelThread = 5,
}

/// A snapshot of one run queue's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunQueueStats {
    /// Switches by [`SwitchKind`] (index = discriminant).
    pub switches: [u64; 6],
    /// Calls of `membarrier_finish_switch_mm` (switch to a user mm, or `kthread_use_mm`).
    pub hook_calls: u64,
    /// Hook calls where the state had an expedited bit, so the generic hook executes a barrier.
    pub hook_barriers: u64,
    /// membarrier IPIs this CPU sent (one per target CPU).
    pub membarrier_ipis_sent: u64,
    /// Candidate CPUs this CPU's membarrier calls skipped because they ran no user mm.
    pub membarrier_skipped_no_user_mm: u64,
    /// Candidate CPUs skipped because they ran another (for GLOBAL_EXPEDITED: an unregistered) mm.
    pub membarrier_skipped_other_mm: u64,
    /// Times a membarrier caller (on another CPU) skipped this CPU because it ran no user mm, e.g. a kernel
    /// thread that keeps the caller's mm lazily: the case only the post-switch barrier covers.
    pub membarrier_skipped_here_no_user_mm: u64,
    /// Tasks this CPU took from another CPU's queue.
    pub migrations: u64,
}

impl RunQueueStats {
    /// Switches of one kind.
    pub fn switches_of(&self, kind: SwitchKind) -> u64 {
        self.switches[kind as usize]
    }

    /// All switches.
    pub fn total_switches(&self) -> u64 {
        self.switches.iter().sum()
    }
}

#[derive(Default)]
pub(crate) struct StatCounters {
    pub(crate) switches: [AtomicU64; 6],
    pub(crate) hook_calls: AtomicU64,
    pub(crate) hook_barriers: AtomicU64,
    pub(crate) membarrier_ipis_sent: AtomicU64,
    pub(crate) membarrier_skipped_no_user_mm: AtomicU64,
    pub(crate) membarrier_skipped_other_mm: AtomicU64,
    pub(crate) membarrier_skipped_here_no_user_mm: AtomicU64,
    pub(crate) migrations: AtomicU64,
}

/// Adds to a counter with an atomic read-modify-write: for counters other CPUs may write too, and for the
/// hook's counters (whose code `cargo xtask compare` shows and must not change).
pub(crate) fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

/// Adds one to a counter of the calling CPU's own run queue that only that CPU writes, with interrupts masked
/// (the switch counters, migrations): a plain load and store, no exclusive-access loop.
/// Readers on other CPUs see a recent value, as with `bump`.
#[inline(always)]
pub(crate) fn bump_local(counter: &AtomicU64) {
    counter.store(counter.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
}

/// One CPU's run queue. Cache-line aligned: other CPUs write a queue's lock and read its published fields, so
/// two queues sharing a line would slow both; and the size, a multiple of 64, is 256 today (248 bytes of
/// fields): a power of two, so finding this CPU's queue (every system call's return test, every switch) is a
/// shift, not a multiplication.
#[repr(align(64))]
pub struct RunQueue<A: Arch> {
    pub(crate) inner: IrqSpinLock<A, RunQueueInner<A>>,
    /// Id of the user mm the CPU's `curr` runs, 0 when none (kernel thread, idle, exited task). Remote
    /// membarrier callers read it; it is written with plain atomics whose ordering comes from the explicit
    /// barriers around it (see `Scheduler::schedule`). An id, never a pointer, so a stale read is harmless.
    pub(crate) current_mm_id: AtomicU32,
    /// Copy of the current mm's `MEMBARRIER_STATE_*` bits, which decides the post-switch barrier.
    pub(crate) membarrier_state: AtomicU32,
    pub(crate) need_resched: AtomicBool,
    /// `inner.queue.len()`, stored under the lock after every change, for readers that only want a hint
    /// without taking the lock (other CPUs' ticks and `spawn`'s least-loaded choice): taking it there made
    /// every tick elsewhere contend with this CPU's switches.
    pub(crate) queue_length: AtomicUsize,
    pub(crate) online: AtomicBool,
    /// The membarrier request for this CPU ([`MembarrierRequest`] packed): written (Release) by the caller
    /// before its IPI, read (Acquire) by the handler before its work.
    pub(crate) membarrier_request: AtomicU64,
    /// Sequence number of the newest membarrier call this CPU's handler served, written (Release) after its
    /// barrier or refresh.
    pub(crate) membarrier_ack: AtomicU64,
    pub(crate) stats: StatCounters,
}

impl<A: Arch> RunQueue<A> {
    pub(crate) const fn new() -> Self {
        RunQueue {
            inner: IrqSpinLock::new(RunQueueInner {
                curr: None,
                idle: None,
                queue: VecDeque::new(),
                pending: None,
                curr_accounted_at: 0,
                loaded_mm: 0,
            }),
            current_mm_id: AtomicU32::new(0),
            membarrier_state: AtomicU32::new(0),
            need_resched: AtomicBool::new(false),
            queue_length: AtomicUsize::new(0),
            online: AtomicBool::new(false),
            membarrier_request: AtomicU64::new(0),
            membarrier_ack: AtomicU64::new(0),
            stats: StatCounters {
                switches: [
                    AtomicU64::new(0),
                    AtomicU64::new(0),
                    AtomicU64::new(0),
                    AtomicU64::new(0),
                    AtomicU64::new(0),
                    AtomicU64::new(0),
                ],
                hook_calls: AtomicU64::new(0),
                hook_barriers: AtomicU64::new(0),
                membarrier_ipis_sent: AtomicU64::new(0),
                membarrier_skipped_no_user_mm: AtomicU64::new(0),
                membarrier_skipped_other_mm: AtomicU64::new(0),
                membarrier_skipped_here_no_user_mm: AtomicU64::new(0),
                migrations: AtomicU64::new(0),
            },
        }
    }

    /// The membarrier request for this CPU, read by its IPI handler before the work it asks for.
    pub(crate) fn membarrier_request(&self) -> MembarrierRequest {
        // Acquire: pairs with the Release store of the caller (after its first barrier), so the work that
        // follows is ordered after the call began.
        MembarrierRequest::unpack(self.membarrier_request.load(Ordering::Acquire))
    }

    /// The published id of the user mm this CPU runs ([`MmId::NONE`] when none).
    pub fn current_mm_id(&self) -> MmId {
        MmId(self.current_mm_id.load(Ordering::Relaxed))
    }

    /// The run queue's copy of the current mm's membarrier state.
    pub fn membarrier_state(&self) -> u32 {
        self.membarrier_state.load(Ordering::Relaxed)
    }

    /// The task this CPU runs (`None` before `init_cpu`).
    pub fn curr(&self) -> Option<Arc<Task<A>>> {
        self.inner.lock().curr.clone()
    }

    /// The CPU's idle task.
    pub fn idle(&self) -> Option<Arc<Task<A>>> {
        self.inner.lock().idle.clone()
    }

    /// Number of queued runnable tasks (`curr` not included).
    pub fn queued(&self) -> usize {
        self.inner.lock().queue.len()
    }

    /// Number of queued runnable tasks as of the last change, read without the lock: a hint that may be
    /// stale by the time the caller looks at it.
    pub fn queued_hint(&self) -> usize {
        self.queue_length.load(Ordering::Relaxed)
    }

    /// The queued tasks, in order (for diagnostics).
    pub fn queued_tasks(&self) -> alloc::vec::Vec<Arc<Task<A>>> {
        self.inner.lock().queue.iter().cloned().collect()
    }

    /// Whether the CPU should reschedule at its next opportunity.
    pub fn need_resched(&self) -> bool {
        self.need_resched.load(Ordering::Relaxed)
    }

    /// Whether the CPU was brought online with `init_cpu` (and not taken offline).
    pub fn is_online(&self) -> bool {
        self.online.load(Ordering::Relaxed)
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> RunQueueStats {
        let s = &self.stats;
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        RunQueueStats {
            switches: core::array::from_fn(|i| load(&s.switches[i])),
            hook_calls: load(&s.hook_calls),
            hook_barriers: load(&s.hook_barriers),
            membarrier_ipis_sent: load(&s.membarrier_ipis_sent),
            membarrier_skipped_no_user_mm: load(&s.membarrier_skipped_no_user_mm),
            membarrier_skipped_other_mm: load(&s.membarrier_skipped_other_mm),
            membarrier_skipped_here_no_user_mm: load(&s.membarrier_skipped_here_no_user_mm),
            migrations: load(&s.migrations),
        }
    }
}
