//! Tasks: user tasks (threads owning an mm) and kernel threads (borrowing the previous `active_mm` lazily).

use alloc::sync::Arc;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};

use crate::arch::Arch;
use crate::cpuset::CpuSet;
use crate::irq::IrqSpinLock;
use crate::mm::Mm;

/// Identifier of a task (Linux's tid).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(pub u32);

/// What a task is, fixed at creation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskKind {
    /// A thread of a user process; has an mm until it exits.
    User,
    /// A kernel thread: no mm of its own (except between `kthread_use_mm` and `kthread_unuse_mm`); it runs
    /// on whatever address space the CPU had loaded (`active_mm`), holding a reference to it.
    KernelThread,
}

/// Scheduling state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskState {
    /// Waiting in a run queue.
    Runnable,
    /// Some CPU's `curr`.
    Running,
    /// Waiting for [`Scheduler::wake`](crate::Scheduler::wake).
    Blocked,
    /// Gone; it never runs again.
    Exited,
}

impl TaskState {
    const fn from_byte(byte: u8) -> TaskState {
        match byte {
            0 => TaskState::Runnable,
            1 => TaskState::Running,
            2 => TaskState::Blocked,
            _ => TaskState::Exited,
        }
    }

    const fn to_byte(self) -> u8 {
        match self {
            TaskState::Runnable => 0,
            TaskState::Running => 1,
            TaskState::Blocked => 2,
            TaskState::Exited => 3,
        }
    }
}

/// A task's [`TaskState`] and Linux's `on_rq` (the task is some CPU's `curr` or in a run queue) in one atomic
/// byte, so that the switch reads and changes them without the task's `sched` lock.
///
/// The two change together in two places only, each with one atomic read-modify-write: a wake (`Blocked` ->
/// `Runnable`, setting `on_rq`; a task that was still `on_rq` is only made runnable again, otherwise the waker
/// enqueues it) and the switch away from a task that blocked or exited (clearing `on_rq`). Whichever comes
/// first, the other sees its result: a wake that wins leaves `Runnable`, so `schedule` keeps the task; a
/// `schedule` that wins leaves `on_rq` clear, so the wake enqueues it (it cannot run before its `on_cpu` is
/// cleared). That is all the `sched` lock used to give them.
///
/// Every other change keeps `on_rq` and is made with the `sched` lock held (blocking, exiting, `cancel_block`,
/// `spawn`: the running task's own doing, or a task not started yet), except two plain stores of the switch,
/// which no read-modify-write can meet: prev goes back to `Runnable` (or stays `Running`) while it still runs
/// here, and the task just taken from a run queue becomes `Running`. Nothing else changes the state of a
/// running or queued task: a wake acts only on a `Blocked` one, and blocking is the running task's own doing,
/// never concurrent with its CPU's `schedule`.
pub(crate) struct SchedState(AtomicU8);

/// The `on_rq` bit of [`SchedState`]; the state is in the bits below it.
const ON_RQ: u8 = 1 << 2;
const STATE_BITS: u8 = ON_RQ - 1;

impl SchedState {
    fn new(state: TaskState) -> Self {
        SchedState(AtomicU8::new(state.to_byte()))
    }

    /// Relaxed, as every access here: the `sched` lock, the run-queue locks and `on_cpu` order what depends on
    /// the state; the byte itself needs only to be changed atomically.
    #[inline(always)]
    pub(crate) fn state(&self) -> TaskState {
        TaskState::from_byte(self.0.load(Ordering::Relaxed) & STATE_BITS)
    }

    /// Changes the state, keeping `on_rq` (with the `sched` lock held; see the type's documentation).
    pub(crate) fn set_state(&self, state: TaskState) {
        let _ = self.0.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |byte| Some(byte & ON_RQ | state.to_byte()));
    }

    /// A plain store of `state` with `on_rq` set, for the switch's two stores and `init_cpu` (see the type's
    /// documentation for why no read-modify-write can meet them).
    #[inline(always)]
    pub(crate) fn store_on_rq(&self, state: TaskState) {
        self.0.store(state.to_byte() | ON_RQ, Ordering::Relaxed);
    }

    /// `spawn`: `Blocked` and not on a run queue -> `Runnable` on one. False (and no change) otherwise.
    pub(crate) fn start(&self) -> bool {
        let blocked = TaskState::Blocked.to_byte();
        let runnable = TaskState::Runnable.to_byte() | ON_RQ;
        self.0.compare_exchange(blocked, runnable, Ordering::Relaxed, Ordering::Relaxed).is_ok()
    }

    /// A wake: `Blocked` -> `Runnable` with `on_rq` set. `None` when the task was not blocked (nothing
    /// changed), else whether it was still `on_rq` (then it needs no enqueue).
    pub(crate) fn wake(&self) -> Option<bool> {
        let blocked = TaskState::Blocked.to_byte();
        let runnable = TaskState::Runnable.to_byte() | ON_RQ;
        // Release, paired with the switch-out's Acquire below: what the waker wrote before the wake (the
        // condition the task waited for) is visible to the task once it sees itself runnable, also when it does
        // so in the switch without any lock of its own (the `sched` lock used to give this).
        let previous = self
            .0
            .fetch_update(Ordering::Release, Ordering::Relaxed, |byte| {
                (byte & STATE_BITS == blocked).then_some(runnable)
            })
            .ok()?;
        Some(previous & ON_RQ != 0)
    }

    /// The switch away from the running task: whether it is still runnable (`Running` or `Runnable`: a wake
    /// came after it blocked, or it did not block). When not (`Blocked`, `Exited`), clears `on_rq` in the same
    /// atomic step, so that a wake from now on enqueues it. The common case, a runnable task, is one load.
    #[inline(always)]
    pub(crate) fn switch_out_is_runnable(&self) -> bool {
        // Acquire, paired with `wake`'s Release: a task found runnable again runs on with its waker's writes
        // visible (an `ldar` instead of an `ldr`: no extra instruction).
        let mut byte = self.0.load(Ordering::Acquire);
        loop {
            match TaskState::from_byte(byte & STATE_BITS) {
                TaskState::Running | TaskState::Runnable => return true,
                TaskState::Blocked | TaskState::Exited => {}
            }
            match self.0.compare_exchange_weak(byte, byte & !ON_RQ, Ordering::Acquire, Ordering::Acquire) {
                Ok(_) => return false,
                Err(current) => byte = current,
            }
        }
    }
}

/// A task. Shared as `Arc<Task<A>>`.
pub struct Task<A: Arch> {
    id: TaskId,
    kind: TaskKind,
    /// The owned address space: for a user task one *user* reference (`Mm::mmput` at exit); for a kernel
    /// thread inside `kthread_use_mm`, a borrow covered by the caller's user reference and `active_mm`.
    pub(crate) mm: IrqSpinLock<A, Option<Arc<Mm<A>>>>,
    /// The address space whose page tables are loaded while the task runs. When `Some`, always holds one
    /// `count` reference (a user task's is taken at creation; a kernel thread's is the lazy one).
    pub(crate) active_mm: IrqSpinLock<A, Option<Arc<Mm<A>>>>,
    affinity: AtomicU64,
    /// Taken by `enqueue` and `set_affinity` to order the affinity with the CPU a task is queued on, and
    /// around the changes of `state` outside the switch (see [`SchedState`]).
    pub(crate) sched: IrqSpinLock<A, ()>,
    /// The scheduling state and `on_rq`; see [`SchedState`] for who changes them and how.
    pub(crate) state: SchedState,
    /// Set while a CPU uses the task's stack and registers: from the moment it is picked until
    /// `finish_switch` after the switch away. No CPU may switch to a task whose `on_cpu` is still set.
    pub(crate) on_cpu: AtomicBool,
    cpu: AtomicUsize,
    /// CPU time, written only by the CPU running the task (at switch-out and ticks).
    pub(crate) cpu_time: CpuTimeCounters,
    /// The rseq registration and its pending event (rseq.rs).
    pub rseq: crate::rseq::TaskRseq,
    context: A::TaskContext,
}

/// A task's CPU-time counters: how long it ran (exact, from the switch path) and the timer ticks that found it
/// in user or kernel mode (samples that split the run time, as Linux's tick-based accounting does).
#[derive(Default)]
pub(crate) struct CpuTimeCounters {
    /// In [`Arch::cpu_time_stamp`] units.
    pub(crate) run_stamps: AtomicU64,
    pub(crate) user_ticks: AtomicU64,
    pub(crate) system_ticks: AtomicU64,
}

impl CpuTimeCounters {
    // A load and a store rather than a read-modify-write: only the CPU running the task writes its counters
    // (under its run-queue lock), and readers need no more than a recent value. Inlined: three instructions
    // on the switch path.
    #[inline(always)]
    pub(crate) fn add_run_stamps(&self, stamps: u64) {
        self.run_stamps.store(self.run_stamps.load(Ordering::Relaxed).wrapping_add(stamps), Ordering::Relaxed);
    }

    pub(crate) fn add_tick_sample(&self, in_user_mode: bool) {
        let samples = if in_user_mode { &self.user_ticks } else { &self.system_ticks };
        samples.store(samples.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }
}

/// A task's CPU time, split into user and system time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuTime {
    /// Nanoseconds in user mode.
    pub user_ns: u64,
    /// Nanoseconds in the kernel on the task's behalf.
    pub system_ns: u64,
}

impl CpuTime {
    /// Splits `run_ns` of run time in the ratio of the tick samples, as Linux's `cputime_adjust` does: with no
    /// system-mode sample everything is user time, with no user-mode sample everything is system time.
    pub fn split(run_ns: u64, user_ticks: u64, system_ticks: u64) -> Self {
        let system_ns = if system_ticks == 0 {
            0
        } else if user_ticks == 0 {
            run_ns
        } else {
            (u128::from(run_ns) * u128::from(system_ticks) / (u128::from(user_ticks) + u128::from(system_ticks))) as u64
        };
        Self { user_ns: run_ns - system_ns, system_ns }
    }

    /// User plus system time.
    pub fn total_ns(&self) -> u64 {
        self.user_ns + self.system_ns
    }
}

impl core::ops::Add for CpuTime {
    type Output = CpuTime;
    fn add(self, other: CpuTime) -> CpuTime {
        CpuTime { user_ns: self.user_ns + other.user_ns, system_ns: self.system_ns + other.system_ns }
    }
}

impl<A: Arch> Task<A> {
    /// A user task running in `mm`. Adopts one user reference of `mm`: the one [`Mm::new`] returns with, for
    /// the first thread of a process, or one from [`Mm::mmget`] for further threads.
    pub fn new_user(id: TaskId, mm: Arc<Mm<A>>, affinity: CpuSet, context: A::TaskContext) -> Arc<Self> {
        let active = mm.mmgrab();
        Self::new(id, TaskKind::User, Some(mm), Some(active), affinity, context)
    }

    /// A kernel thread (also the per-CPU idle task).
    pub fn new_kernel_thread(id: TaskId, affinity: CpuSet, context: A::TaskContext) -> Arc<Self> {
        Self::new(id, TaskKind::KernelThread, None, None, affinity, context)
    }

    fn new(
        id: TaskId,
        kind: TaskKind,
        mm: Option<Arc<Mm<A>>>,
        active_mm: Option<Arc<Mm<A>>>,
        affinity: CpuSet,
        context: A::TaskContext,
    ) -> Arc<Self> {
        Arc::new(Task {
            id,
            kind,
            mm: IrqSpinLock::new(mm),
            active_mm: IrqSpinLock::new(active_mm),
            affinity: AtomicU64::new(affinity.0),
            sched: IrqSpinLock::new(()),
            state: SchedState::new(TaskState::Blocked),
            on_cpu: AtomicBool::new(false),
            cpu: AtomicUsize::new(0),
            cpu_time: CpuTimeCounters::default(),
            rseq: crate::rseq::TaskRseq::default(),
            context,
        })
    }

    /// The task id.
    pub fn id(&self) -> TaskId {
        self.id
    }

    /// Whether this is a kernel thread.
    pub fn is_kernel_thread(&self) -> bool {
        self.kind == TaskKind::KernelThread
    }

    /// The owned address space, `None` for kernel threads (outside `kthread_use_mm`) and exited tasks.
    pub fn mm(&self) -> Option<Arc<Mm<A>>> {
        self.mm.lock().clone()
    }

    /// The address space loaded while the task runs (lazily borrowed for kernel threads).
    pub fn active_mm(&self) -> Option<Arc<Mm<A>>> {
        self.active_mm.lock().clone()
    }

    /// CPUs the task may run on.
    pub fn affinity(&self) -> CpuSet {
        CpuSet(self.affinity.load(Ordering::Relaxed))
    }

    pub(crate) fn set_affinity_raw(&self, cpus: CpuSet) {
        self.affinity.store(cpus.0, Ordering::Relaxed);
    }

    /// Scheduling state.
    pub fn state(&self) -> TaskState {
        self.state.state()
    }

    /// Whether a CPU still uses the task's stack (see the field's documentation).
    pub fn is_on_cpu(&self) -> bool {
        self.on_cpu.load(Ordering::Acquire)
    }

    /// The CPU the task last ran or was queued on.
    pub fn cpu(&self) -> usize {
        self.cpu.load(Ordering::Relaxed)
    }

    pub(crate) fn set_cpu(&self, cpu: usize) {
        self.cpu.store(cpu, Ordering::Relaxed);
    }

    /// The saved registers, for the arch's `switch_context`.
    pub fn context(&self) -> &A::TaskContext {
        &self.context
    }
}

impl<A: Arch> core::fmt::Debug for Task<A> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Task").field("id", &self.id).field("kind", &self.kind).finish()
    }
}
