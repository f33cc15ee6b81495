//! The scheduler: per-CPU run queues, `schedule()` and the context-switch sequence with its barriers,
//! lazy mm references, `kthread_use_mm`, task exit, wake-up and migration.
//!
//! # The switch sequence (Linux `__schedule` / `context_switch` / `finish_task_switch`)
//! On the CPU that switches, with interrupts disabled from start to end:
//! 1. lock the run queue; **full barrier** (rule 1, Linux `smp_mb__after_spinlock`);
//! 2. pick `next` (local FIFO, then steal from another CPU, else idle), publish `curr` and the mm id;
//! 3. to a kernel thread: no `switch_mm`; `next.active_mm` = `prev.active_mm` (a new `count` reference when
//!    `prev` owned the mm, the same lazy reference handed over when `prev` was itself lazy); publish "no user mm";
//! 4. to a task with an mm: publish its id, `membarrier_switch_mm` (refresh the run queue's state copy),
//!    `switch_mm` only if the mm changed, then **always** `membarrier_finish_switch_mm(rq.membarrier_state)`
//!    (rule 2) — also when the mm did not change, the kernel thread -> user case;
//! 5. a lazy `prev` leaves its `active_mm` reference in the run queue; unlock the run queue;
//! 6. `switch_context(prev, next)`; then [`Scheduler::finish_switch`], on `next`'s stack: it clears `prev`'s
//!    `on_cpu` and queues a runnable `prev` again (here, or on an allowed CPU).
//!
//! Rule 1 prevents, with the caller on another CPU doing `y = 1; membarrier(); r2 = x`:
//! ```text
//! CPU0: prev: x = 1 ... r1 = y | [rule 1 barrier] | publish "no user mm" for next
//! CPU1: y = 1; smp_mb; reads "no user mm" -> no IPI; smp_mb; r2 = x
//! ```
//! without the barrier, prev's `x = 1` could still sit in CPU0's store buffer when CPU1 reads the
//! publication, and prev's `r1 = y` could be delayed after it: r1 == 0 && r2 == 0. It pairs with the
//! `smp_mb` membarrier runs after reading the published ids (before returning to its caller). Rule 2 is the
//! mirror image for the incoming task; see [`Arch::membarrier_finish_switch_mm`].
//!
//! # Why the run-queue lock is released before `switch_context`
//! Linux keeps the lock across the switch and releases it in `finish_task_switch`. A `spin::MutexGuard`
//! cannot be handed from one stack to another without `unsafe`, so the lock is released just before
//! `switch_context`, with interrupts still disabled. What the lock would have protected is protected by
//! `on_cpu` instead: `prev` keeps `on_cpu` set until `finish_switch` (no CPU picks a task whose `on_cpu` is
//! set, so nobody else runs on `prev`'s stack), and the per-switch leftovers (`prev`, its lazy mm, where
//! `prev` is to be queued) are parked in the run queue for `finish_switch`, which only the same CPU runs.
//!
//! # What a switch locks
//! The run-queue lock (twice: `schedule`, `finish_switch`) and `next`'s `mm` (to borrow the incoming mm);
//! `prev`'s `active_mm` only to hand it to `switch_mm` or take a lazy reference. Not `prev`'s or `next`'s
//! `sched` lock: state and `on_rq` are one atomic byte (`SchedState` in task.rs explains who changes them);
//! not `prev`'s `mm`: the published mm id says whether it has one; not `prev`'s `active_mm` for the same-mm
//! test: the run queue keeps the loaded mm's address (`RunQueueInner::loaded_mm`). No reference count either:
//! the arch gets the two tasks as [`SwitchingTask`]s, and `prev`'s reference moves from the pending switch into
//! the queue.
//!
//! # Contract with the arch and the kernel
//! * `init_cpu(cpu, idle)` on each CPU at boot, with the boot context as the idle task.
//! * `Arch::switch_context` saves `prev`, resumes `next`, and returns only when `prev` runs again.
//! * A task's *first* entry code (set up by the arch in the task's context) calls [`Scheduler::finish_switch`]
//!   first, with interrupts still disabled, then enables interrupts and enters the task (kernel function or
//!   `eret` to EL0). Every other resumption returns from `switch_context` into `schedule`, which calls
//!   `finish_switch` and restores the interrupt mask saved by that same task when it entered `schedule`.
//! * The IPI handler calls [`Scheduler::handle_ipi`] with interrupts disabled; the timer interrupt calls
//!   [`Scheduler::tick`]. On the way out of either, if [`Scheduler::need_resched`], call `schedule()`.
//! * The idle loop: `loop { if need_resched() { schedule() } else { wait for interrupt } }`.

use alloc::sync::Arc;
use core::sync::atomic::{AtomicUsize, Ordering};

use spin::Mutex;

use crate::arch::{membarrier_state_requires_barrier, Arch, ClearedAt, IpiKind, SwitchingTask};
use crate::barrier::{smp_mb, BarrierSite};
use crate::cpuset::{CpuSet, MAX_CPUS};
use crate::errno::Errno;
use crate::irq::{without_interrupts, IrqsMasked};
use crate::membarrier::{MembarrierRequest, MEMBARRIER_STATE_PRIVATE_EXPEDITED_SYNC_CORE};
use crate::mm::Mm;
use crate::runqueue::{bump, bump_local, PendingSwitch, Requeue, RunQueue, RunQueueInner, SwitchKind};
use crate::task::{CpuTime, Task, TaskState};

/// The address of `mm`, which identifies it among the live address spaces (`RunQueueInner::loaded_mm`).
fn mm_address<A: Arch>(mm: &Mm<A>) -> usize {
    core::ptr::from_ref(mm) as usize
}

/// Whether `schedule` may take a task from another CPU's queue.
#[derive(Clone, Copy)]
enum Stealing {
    /// Whenever this CPU's queue has nothing to run (preemption, blocking, exit).
    Always,
    /// Only when prev cannot go on here (a yield of a task that stays runnable keeps to its own queue).
    OnlyWhenPrevStops,
}

/// Queue slots a drained run queue keeps (more than any ordinary load needs; see `pick_next`).
pub(crate) const RUN_QUEUE_KEPT_CAPACITY: usize = 64;

/// The scheduler of all CPUs. Built in a `static` with [`Scheduler::new`].
pub struct Scheduler<A: Arch> {
    run_queues: [RunQueue<A>; MAX_CPUS],
    online_count: AtomicUsize,
    /// Serializes the expedited membarrier commands (Linux `membarrier_ipi_mutex`) and holds the sequence
    /// number of the last one that sent IPIs (see [`MembarrierRequest`]).
    pub(crate) membarrier_mutex: Mutex<u64>,
}

impl<A: Arch> Default for Scheduler<A> {
    fn default() -> Self {
        Self::new()
    }
}

impl<A: Arch> Scheduler<A> {
    /// An empty scheduler with no CPU online. `const`, for `static SCHED: Scheduler<Arm64>`.
    pub const fn new() -> Self {
        Scheduler {
            run_queues: [const { RunQueue::new() }; MAX_CPUS],
            online_count: AtomicUsize::new(0),
            membarrier_mutex: Mutex::new(0),
        }
    }

    /// The run queue of `cpu`.
    pub fn run_queue(&self, cpu: usize) -> &RunQueue<A> {
        &self.run_queues[cpu]
    }

    /// The calling CPU's run queue. Call with interrupts masked: otherwise the caller can be migrated right
    /// after reading the CPU id and would use another CPU's run queue.
    fn this_rq(&self) -> &RunQueue<A> {
        &self.run_queues[A::cpu_id()]
    }

    /// CPUs brought online.
    pub fn online_cpus(&self) -> CpuSet {
        (0..MAX_CPUS).filter(|&cpu| self.run_queues[cpu].is_online()).collect()
    }

    /// Number of CPUs online.
    pub fn online_count(&self) -> usize {
        self.online_count.load(Ordering::Relaxed)
    }

    /// Brings the calling CPU into the scheduler, with `idle` (a kernel thread representing the boot context)
    /// as its current task. Call once per CPU, on that CPU, before its first `schedule()`.
    pub fn init_cpu(&self, idle: Arc<Task<A>>) {
        assert!(idle.is_kernel_thread(), "the idle task must be a kernel thread");
        without_interrupts::<A, _>(|masked| {
            let cpu = A::cpu_id();
            let rq = &self.run_queues[cpu];
            {
                let mut inner = rq.inner.lock_masked(masked);
                assert!(inner.curr.is_none(), "init_cpu twice on CPU {cpu}");
                idle.state.store_on_rq(TaskState::Running);
                idle.set_cpu(cpu);
                idle.on_cpu.store(true, Ordering::Relaxed);
                inner.curr_accounted_at = A::cpu_time_stamp();
                inner.loaded_mm = idle.active_mm.lock_masked(masked).as_deref().map_or(0, mm_address);
                inner.idle = Some(idle.clone());
                inner.curr = Some(idle);
                rq.current_mm_id.store(0, Ordering::Relaxed);
                rq.membarrier_state.store(0, Ordering::Relaxed);
            }
            rq.online.store(true, Ordering::Relaxed);
            self.online_count.fetch_add(1, Ordering::Relaxed);
            // Pairs with the smp_mb of membarrier callers before they read `online` and the published ids.
            smp_mb::<A>(BarrierSite::InitCpuOnline);
        });
    }

    /// Takes the calling CPU offline just before it powers off (PSCI CPU_OFF): it must be running its idle
    /// task with an empty queue, and must never touch user page tables again. Drops the idle task's lazy mm
    /// (the only reference a CPU keeps to an address space nobody runs any more).
    pub fn offline_current_cpu(&self) {
        let lazy = without_interrupts::<A, _>(|masked| {
            let cpu = A::cpu_id();
            let rq = &self.run_queues[cpu];
            let lazy = {
                let mut inner = rq.inner.lock_masked(masked);
                let curr = inner.curr.clone().expect("offline of a CPU that was never online");
                let idle = inner.idle.clone().expect("offline of a CPU without idle task");
                assert!(Arc::ptr_eq(&curr, &idle), "CPU {cpu} goes offline while not idle");
                assert!(inner.queue.is_empty(), "CPU {cpu} goes offline with queued tasks");
                rq.online.store(false, Ordering::Relaxed);
                rq.current_mm_id.store(0, Ordering::Relaxed);
                rq.membarrier_state.store(0, Ordering::Relaxed);
                let lazy = idle.active_mm.lock_masked(masked).take();
                inner.loaded_mm = 0;
                lazy
            };
            self.online_count.fetch_sub(1, Ordering::Relaxed);
            lazy
        });
        if let Some(mm) = lazy {
            mm.mmdrop();
        }
    }

    /// The task running on the calling CPU.
    ///
    /// # Panics
    /// Before `init_cpu` on this CPU.
    pub fn current(&self) -> Arc<Task<A>> {
        // The CPU id and its run queue's `curr` are read with interrupts masked: a preemption between the two
        // could migrate the caller, which would then get the task running on the CPU it left (and, e.g. in
        // block_current, block that task instead of itself).
        without_interrupts::<A, _>(|masked| self.this_rq().inner.lock_masked(masked).curr.clone())
            .expect("no current task: init_cpu not called on this CPU")
    }

    /// Whether the calling CPU should call `schedule()` at its next opportunity. With interrupts enabled the
    /// answer may be about the CPU the caller just left; the interrupt, idle and system-call return paths call
    /// it with interrupts masked.
    pub fn need_resched(&self) -> bool {
        without_interrupts::<A, _>(|_| self.this_rq().need_resched.load(Ordering::Relaxed))
    }

    /// Timer tick: asks for a reschedule when another task could run here (round-robin time slicing).
    pub fn tick(&self) {
        let (rq, has_waiting) = without_interrupts::<A, _>(|masked| {
            let rq = self.this_rq();
            (rq, !rq.inner.lock_masked(masked).queue.is_empty())
        });
        if has_waiting || self.online_cpus().iter().any(|cpu| self.run_queues[cpu].queued_hint() > 0) {
            rq.need_resched.store(true, Ordering::Relaxed);
        }
    }

    /// Timer-tick CPU-time accounting: brings the current task's run time up to now (so that a task that is
    /// never switched out is still seen running) and counts the tick as a user-mode or kernel-mode sample
    /// (`in_user_mode`: the tick interrupted user code), which splits the run time (see [`CpuTime::split`]).
    pub fn account_tick(&self, in_user_mode: bool) {
        without_interrupts::<A, _>(|masked| {
            let mut inner = self.this_rq().inner.lock_masked(masked);
            let now = A::cpu_time_stamp();
            let since = core::mem::replace(&mut inner.curr_accounted_at, now);
            if let Some(curr) = &inner.curr {
                curr.cpu_time.add_run_stamps(now.wrapping_sub(since));
                curr.cpu_time.add_tick_sample(in_user_mode);
            }
        });
    }

    /// The CPU time `task` has used, including its current stretch if it is running now.
    pub fn cpu_time(&self, task: &Arc<Task<A>>) -> CpuTime {
        let counters = &task.cpu_time;
        // The stamps are read under the same lock as the current stretch: a tick or a switch on the task's CPU
        // moves that stretch into the stamps under this lock, and a read of the stamps after the unlock could
        // count it twice (the next reading would then go back).
        let run_stamps = without_interrupts::<A, _>(|masked| {
            let inner = self.run_queues[task.cpu()].inner.lock_masked(masked);
            let running_for = match &inner.curr {
                Some(curr) if Arc::ptr_eq(curr, task) => A::cpu_time_stamp().wrapping_sub(inner.curr_accounted_at),
                _ => 0,
            };
            counters.run_stamps.load(Ordering::Relaxed) + running_for
        });
        CpuTime::split(
            A::cpu_time_stamps_to_ns(run_stamps),
            counters.user_ticks.load(Ordering::Relaxed),
            counters.system_ticks.load(Ordering::Relaxed),
        )
    }

    /// Gives the CPU to the next runnable task of this CPU's queue, if any; the current task stays runnable.
    /// Unlike a preemption, a yield does not steal work from other CPUs while its caller can keep running here
    /// (Linux's `sched_yield` does not balance either): a yield that finds nothing else returns at once.
    pub fn yield_now(&self) {
        self.schedule_with(Stealing::OnlyWhenPrevStops);
    }

    /// Makes a new task runnable, on `cpu_hint` when its affinity allows, else on the lowest allowed CPU.
    ///
    /// # Errors
    /// `EINVAL` when the affinity has no online CPU.
    pub fn spawn(&self, task: Arc<Task<A>>, cpu_hint: Option<usize>) -> Result<(), Errno> {
        let cpu = match cpu_hint {
            Some(_) => self.choose_cpu(task.affinity(), cpu_hint),
            None => self.least_loaded_cpu(task.affinity()),
        }
        .ok_or(Errno::EINVAL)?;
        without_interrupts::<A, _>(|masked| {
            {
                let _sched = task.sched.lock_masked(masked);
                let started = task.state.start();
                assert!(started, "spawn of a task already started");
            }
            self.enqueue(cpu, task, masked);
        });
        Ok(())
    }

    /// Wakes a blocked task. Waking a task that is not blocked does nothing.
    pub fn wake(&self, task: &Arc<Task<A>>) {
        without_interrupts::<A, _>(|masked| self.wake_masked(task, masked));
    }

    fn wake_masked(&self, task: &Arc<Task<A>>, masked: &IrqsMasked<A>) {
        let must_enqueue = {
            let _sched = task.sched.lock_masked(masked);
            // One atomic step against `schedule`'s switch away from a blocked task (see `SchedState`). Still on a
            // run queue: it blocked but its CPU has not switched away yet; `schedule` sees Runnable and keeps it
            // (Linux `ttwu_runnable`).
            let Some(was_on_rq) = task.state.wake() else { return };
            !was_on_rq
        };
        if must_enqueue {
            let cpu =
                self.choose_cpu(task.affinity(), Some(task.cpu())).expect("woken task's affinity has no online CPU");
            self.enqueue(cpu, task.clone(), masked);
        }
    }

    /// Changes the CPUs a task may run on. A task queued on a CPU it may no longer use is moved to an allowed
    /// CPU's queue at once (that CPU would skip it, and an allowed CPU with work of its own never steals it); a
    /// task running on such a CPU moves at its next scheduling point, which `need_resched` or a reschedule IPI
    /// requests.
    ///
    /// # Errors
    /// `EINVAL` when `cpus` has no online CPU (the affinity is unchanged).
    pub fn set_affinity(&self, task: &Arc<Task<A>>, cpus: CpuSet) -> Result<(), Errno> {
        if cpus.intersection(self.online_cpus()).is_empty() {
            return Err(Errno::EINVAL);
        }
        without_interrupts::<A, _>(|masked| {
            // Under the task's lock, as `enqueue` checks the affinity and sets the CPU: either that enqueue sees
            // the new affinity, or this reads the CPU it queued the task on (and its queue is searched below,
            // after the enqueue released the queue's lock).
            let cpu = {
                let _sched = task.sched.lock_masked(masked);
                task.set_affinity_raw(cpus);
                task.cpu()
            };
            if !cpus.contains(cpu) {
                let dequeued = {
                    let mut inner = self.run_queues[cpu].inner.lock_masked(masked);
                    let position = inner.queue.iter().position(|queued| Arc::ptr_eq(queued, task));
                    let dequeued = position.and_then(|position| inner.queue.remove(position));
                    inner.publish_length(&self.run_queues[cpu]);
                    dequeued
                };
                match dequeued {
                    Some(task) => {
                        let target = self.choose_cpu(cpus, None).expect("checked: the affinity has an online CPU");
                        self.enqueue(target, task, masked);
                    }
                    None if cpu == A::cpu_id() => self.run_queues[cpu].need_resched.store(true, Ordering::Relaxed),
                    None => A::send_ipi(CpuSet::single(cpu), IpiKind::Reschedule),
                }
            }
        });
        Ok(())
    }

    /// Blocks the current task until [`Scheduler::wake`]. A wake that comes before this call is lost (it finds
    /// the task running and does nothing): only for sleeps that re-check on their own (a tick-driven loop).
    /// Everything else sleeps with [`Scheduler::prepare_to_block`] / [`Scheduler::block_prepared`] or a
    /// [`WaitQueue`](crate::WaitQueue) (see `wait.rs`).
    pub fn block_current(&self) {
        without_interrupts::<A, _>(|masked| {
            let curr = self.current();
            {
                let _sched = curr.sched.lock_masked(masked);
                assert_eq!(curr.state.state(), TaskState::Running, "block_current of a task that is not running");
                curr.state.set_state(TaskState::Blocked);
            }
            self.schedule();
        });
    }

    /// Ends the current task: full barrier, stop owning and publishing its mm, drop its user reference, switch
    /// away. The task's lazy `active_mm` reference is dropped after the switch away. On hardware it does not
    /// return; with a test arch whose `switch_context` returns at once, it returns after the switch.
    ///
    /// The user reference is dropped with the caller's interrupt mask, between two masked sections (Linux's
    /// `exit_mm` calls `mmput` preemptible too): the last one releases the process's user pages, which takes
    /// a while for a big process. A preemption there switches the task out and back in like a kernel thread
    /// (it has no mm any more, only its lazy `active_mm`), and nothing is lost: it still runs to the end.
    pub fn exit_current(&self) {
        self.exit_mm_current();
        without_interrupts::<A, _>(|masked| {
            // Interrupts stay masked until the switch away: an interrupt here could preempt the exited task, and
            // since it never runs again, a reference left on its stack would be kept forever.
            {
                let rq = self.this_rq();
                let inner = rq.inner.lock_masked(masked);
                let curr = inner.curr.as_ref().expect("exit_current before init_cpu");
                let _sched = curr.sched.lock_masked(masked);
                curr.state.set_state(TaskState::Exited);
            }
            self.schedule();
        });
    }

    /// The first half of [`Scheduler::exit_current`] (Linux `exit_mm`): the running task stops using its user mm
    /// and drops its user reference, so that the last thread of a process frees the user pages before the
    /// kernel reports the process finished (as Linux's `exit_mm` runs before `exit_notify` wakes the parent).
    /// Does nothing for a task without an mm, so `exit_current` may follow it.
    pub fn exit_mm_current(&self) {
        let mm = without_interrupts::<A, _>(|masked| {
            let rq = self.this_rq();
            let inner = rq.inner.lock_masked(masked);
            let curr = inner.curr.as_ref().expect("exit_current before init_cpu");
            assert!(!inner.idle.as_ref().is_some_and(|idle| Arc::ptr_eq(idle, curr)), "the idle task cannot exit");
            // Full barrier after the task's last user access, before the CPU stops publishing the mm: a
            // membarrier caller that then reads "no user mm" and skips this CPU must see those accesses
            // (`x = 1; [mb]; publish 0` vs `y = 1; mb; read 0; mb; r2 = x`). Pairs with membarrier's smp_mb
            // after its IPIs (Linux exit_mm's smp_mb__after_spinlock).
            smp_mb::<A>(BarrierSite::ExitMm);
            let mm = curr.mm.lock_masked(masked).take();
            assert!(
                !(curr.is_kernel_thread() && mm.is_some()),
                "a kernel thread exited inside kthread_use_mm (call kthread_unuse_mm first)"
            );
            if mm.is_some() {
                rq.current_mm_id.store(0, Ordering::Relaxed);
                rq.membarrier_state.store(0, Ordering::Relaxed);
                A::trace_published_mm_cleared(ClearedAt::ExitMm);
            }
            mm
        });
        // `active_mm` still holds its own count reference: it is now the lazy one, which keeps the root
        // installed in this CPU until the next switch_mm here.
        if let Some(mm) = mm {
            mm.mmput();
        }
    }

    /// Makes the current kernel thread operate on `mm` (Linux `kthread_use_mm`). The caller must hold a user
    /// reference on `mm` (e.g. from [`Mm::mmget`]) until the matching [`Scheduler::kthread_unuse_mm`].
    ///
    /// Sequence: take a `count` reference for `active_mm`; publish the mm id and copy its membarrier state;
    /// `switch_mm` if it changes; then `membarrier_finish_switch_mm` (rule 3): without that barrier the
    /// thread's first access to user memory could be ordered before the publication, the rule 2 litmus.
    pub fn kthread_use_mm(&self, mm: &Arc<Mm<A>>) {
        let old_active = without_interrupts::<A, _>(|masked| {
            let rq = self.this_rq();
            {
                let mut inner = rq.inner.lock_masked(masked);
                let curr = inner.curr.clone().expect("kthread_use_mm before init_cpu");
                assert!(curr.is_kernel_thread(), "kthread_use_mm from a user task");
                let mut task_mm = curr.mm.lock_masked(masked);
                assert!(task_mm.is_none(), "kthread_use_mm while already using an mm");
                let mut active = curr.active_mm.lock_masked(masked);
                let changed = !active.as_ref().is_some_and(|a| Arc::ptr_eq(a, mm));
                let old_active = if changed { active.replace(mm.mmgrab()) } else { None };
                *task_mm = Some(mm.clone());
                rq.current_mm_id.store(mm.id().0, Ordering::Relaxed);
                rq.membarrier_state.store(mm.membarrier_state(), Ordering::Relaxed);
                if changed {
                    A::switch_mm(old_active.as_deref(), mm);
                    inner.loaded_mm = mm_address(mm);
                }
                self.finish_switch_mm_hook(rq);
                old_active
            }
        });
        if let Some(old) = old_active {
            old.mmdrop();
        }
        A::trace_kthread_user_accesses_begin();
    }

    /// Ends [`Scheduler::kthread_use_mm`]: full barrier, stop publishing the mm, keep it lazily as
    /// `active_mm` (as Linux does), so no `switch_mm` happens.
    pub fn kthread_unuse_mm(&self) {
        without_interrupts::<A, _>(|masked| {
            let rq = self.this_rq();
            {
                let inner = rq.inner.lock_masked(masked);
                let curr = inner.curr.clone().expect("kthread_unuse_mm before init_cpu");
                assert!(curr.is_kernel_thread(), "kthread_unuse_mm from a user task");
                // Full barrier after the thread's last user access, before clearing the published mm: the
                // exit_current litmus. Pairs with membarrier's smp_mb after its IPIs.
                smp_mb::<A>(BarrierSite::KthreadUnuseMm);
                let mm = curr.mm.lock_masked(masked).take();
                assert!(mm.is_some(), "kthread_unuse_mm without kthread_use_mm");
                rq.current_mm_id.store(0, Ordering::Relaxed);
                rq.membarrier_state.store(0, Ordering::Relaxed);
                A::trace_published_mm_cleared(ClearedAt::KthreadUnuseMm);
            }
        });
    }

    /// Chooses the next task and switches to it (see the module documentation for the sequence).
    pub fn schedule(&self) {
        self.schedule_with(Stealing::Always);
    }

    fn schedule_with(&self, stealing: Stealing) {
        without_interrupts::<A, _>(|masked| {
            let cpu = A::cpu_id();
            let rq = &self.run_queues[cpu];
            let mut inner = rq.inner.lock_masked(masked);
            // Rule 1 (Linux smp_mb__after_spinlock): orders prev's user accesses before the publication of the
            // next task's mm below. Pairs with the smp_mb membarrier runs after its IPIs (litmus in the module
            // documentation).
            smp_mb::<A>(BarrierSite::ScheduleRule1);
            rq.need_resched.store(false, Ordering::Relaxed);

            // Moved out of `curr` (no reference count traffic); `curr` is set again below on every path.
            let prev = inner.curr.take().expect("schedule() before init_cpu on this CPU");
            let prev_is_idle = inner.idle.as_ref().is_some_and(|idle| Arc::ptr_eq(idle, &prev));
            // Without prev's `sched` lock: one load for a runnable prev, one atomic step against a concurrent wake
            // for a blocked or exited one (clearing `on_rq`; see `SchedState`).
            let prev_runnable = prev.state.switch_out_is_runnable();
            let prev_stays_here = prev_runnable && prev.affinity().contains(cpu);
            let prev_can_continue = prev_stays_here && !prev_is_idle;
            let may_steal = match stealing {
                Stealing::Always => true,
                Stealing::OnlyWhenPrevStops => !prev_can_continue,
            };

            let next = match self.pick_next(cpu, rq, &mut inner, masked, may_steal) {
                Some(task) => task,
                None if prev_can_continue || prev_is_idle => {
                    // Nothing else can run: prev goes on (the idle task too). Nothing was published.
                    prev.state.store_on_rq(TaskState::Running);
                    inner.curr = Some(prev);
                    return;
                }
                None => inner.idle.clone().expect("schedule() before init_cpu on this CPU"),
            };

            // Where prev goes once its stack is free: finish_switch queues it (its `on_cpu` stays set until then,
            // so no CPU could pick it earlier anyway), moving the pending switch's reference into the queue.
            let requeue = if prev_runnable && !prev_is_idle {
                prev.state.store_on_rq(TaskState::Runnable);
                if prev_stays_here {
                    Requeue::Here
                } else {
                    Requeue::On(
                        self.choose_cpu(prev.affinity(), None).expect("runnable task's affinity has no online CPU"),
                    )
                }
            } else {
                Requeue::Nowhere
            };
            // CPU time: prev ran since its switch-in or the last tick. One counter read and an add here; the
            // conversion and the user/system split happen only when a process asks (cpu_time).
            let now = A::cpu_time_stamp();
            prev.cpu_time.add_run_stamps(now.wrapping_sub(inner.curr_accounted_at));
            inner.curr_accounted_at = now;
            // Without next's `sched` lock: nothing else changes the state of a queued task (see `SchedState`).
            next.state.store_on_rq(TaskState::Running);
            next.set_cpu(cpu);
            next.on_cpu.store(true, Ordering::Relaxed);

            // rseq hook: prev leaves the CPU, so its critical section (if any) must restart and its ids be
            // refreshed before it runs user code again (Linux's rseq_preempt); nothing for a task without rseq.
            crate::rseq::note_switch_out(&prev, masked);
            let lazy_mm_to_drop = self.context_switch_mm(rq, &mut inner, &prev, &next, masked);
            // switch_context gets the two tasks without a reference count: `inner.curr` (next) and
            // `inner.pending` (prev) keep both alive until finish_switch, and an exited `prev`, which never
            // returns here, leaves nothing owned on this stack.
            let switched_from = SwitchingTask::new(&prev);
            let switched_to = SwitchingTask::new(&next);
            // Checked in release builds too: an overwritten pending switch would lose prev's on_cpu clear and its
            // requeue, leaving a runnable task in no queue (a silent hang). Right before the store, so that the
            // store needs no drop of an old value.
            assert!(inner.pending.is_none(), "finish_switch missed for the previous switch on CPU {cpu}");
            inner.pending = Some(PendingSwitch { prev, lazy_mm_to_drop, requeue });
            inner.curr = Some(next);
            drop(inner);

            A::switch_context(switched_from, switched_to);
            // Here `prev` runs again (or, with a test arch, the switch just recorded completed).
            self.finish_switch_masked(masked);
        });
    }

    /// The address-space part of a switch (steps 3-5 of the module documentation). Returns the lazy
    /// reference to drop after the switch.
    fn context_switch_mm(
        &self,
        rq: &RunQueue<A>,
        inner: &mut RunQueueInner<A>,
        prev: &Task<A>,
        next: &Task<A>,
        masked: &IrqsMasked<A>,
    ) -> Option<Arc<Mm<A>>> {
        // Whether prev has an mm (Linux `prev->mm`), from the id this CPU publishes for it instead of prev's
        // `mm` lock: a running task's `mm` changes only on its own CPU under this run-queue lock (exit_mm_current,
        // kthread_use_mm, kthread_unuse_mm), together with the published id (0 exactly when it has none), and
        // the caller holds that lock. Read before the new id is stored below. A read by the id's only writer:
        // what remote membarrier callers read, and the barriers around the stores they pair with, are unchanged.
        let prev_owns_mm = rq.current_mm_id.load(Ordering::Relaxed) != 0;
        debug_assert_eq!(
            prev_owns_mm,
            prev.mm.lock_masked(masked).is_some(),
            "published mm id out of step with prev.mm"
        );
        // Borrowed under next's lock, not cloned: no reference-count traffic on the switch path. Nesting: a
        // task's `mm` lock before an `active_mm` lock, as in kthread_use_mm.
        let next_mm_guard = next.mm.lock_masked(masked);
        let stats = &rq.stats;
        match next_mm_guard.as_ref() {
            None => {
                drop(next_mm_guard);
                // To a kernel thread: keep the loaded page tables, hold a reference to them.
                let borrowed = if prev_owns_mm {
                    prev.active_mm.lock_masked(masked).as_ref().map(|mm| mm.mmgrab())
                } else {
                    prev.active_mm.lock_masked(masked).take()
                };
                let stale = core::mem::replace(&mut *next.active_mm.lock_masked(masked), borrowed);
                debug_assert!(stale.is_none(), "a switched-out lazy task kept its active_mm");
                rq.current_mm_id.store(0, Ordering::Relaxed);
                let kind =
                    if prev_owns_mm { SwitchKind::UserToKernelThread } else { SwitchKind::KernelThreadToKernelThread };
                bump_local(&stats.switches[kind as usize]);
                stale
            }
            Some(next_mm) => {
                // prev's `active_mm` is the mm loaded here, whose address the run queue keeps (see
                // `RunQueueInner::loaded_mm`), so the comparison needs no lock of it; the lock is taken only to
                // hand it to switch_mm or to take a lazy reference.
                let same_mm = inner.loaded_mm == mm_address(next_mm);
                debug_assert_eq!(
                    same_mm,
                    prev.active_mm.lock_masked(masked).as_ref().is_some_and(|mm| Arc::ptr_eq(mm, next_mm)),
                    "the run queue's loaded mm is not prev's active_mm"
                );
                rq.current_mm_id.store(next_mm.id().0, Ordering::Relaxed);
                self.membarrier_switch_mm(rq, next_mm);
                A::trace_user_mm_published(rq.membarrier_state.load(Ordering::Relaxed));
                if !same_mm {
                    A::switch_mm(prev.active_mm.lock_masked(masked).as_deref(), next_mm);
                    inner.loaded_mm = mm_address(next_mm);
                }
                // Rule 2, the explicit post-switch-mm barrier: also when !same_mm is false.
                self.finish_switch_mm_hook(rq);
                debug_assert!(next.active_mm.lock_masked(masked).as_ref().is_some_and(|mm| Arc::ptr_eq(mm, next_mm)));
                let kind = match (prev_owns_mm, same_mm) {
                    (true, true) => SwitchKind::UserToUserSameMm,
                    (true, false) => SwitchKind::UserToUserOtherMm,
                    (false, true) => SwitchKind::KernelThreadToUserSameMm,
                    (false, false) => SwitchKind::KernelThreadToUserOtherMm,
                };
                bump_local(&stats.switches[kind as usize]);
                if prev_owns_mm {
                    None
                } else {
                    // Linux rq->prev_mm: the lazy reference outlives the switch, dropped in finish_switch.
                    prev.active_mm.lock_masked(masked).take()
                }
            }
        }
    }

    /// Linux `membarrier_switch_mm`: refresh the run queue's copy of the membarrier state before
    /// `switch_mm`, so that the post-switch barrier decision uses the incoming mm's registrations.
    fn membarrier_switch_mm(&self, rq: &RunQueue<A>, next_mm: &Mm<A>) {
        let state = next_mm.membarrier_state();
        if rq.membarrier_state.load(Ordering::Relaxed) != state {
            rq.membarrier_state.store(state, Ordering::Relaxed);
        }
    }

    fn finish_switch_mm_hook(&self, rq: &RunQueue<A>) {
        let state = rq.membarrier_state.load(Ordering::Relaxed);
        // Read-modify-writes, unlike the switch counters: the hook's code stays exactly what `cargo xtask
        // compare` shows and docs/compare.md explains (what must not move when the switch path changes).
        bump(&rq.stats.hook_calls, 1);
        if membarrier_state_requires_barrier(state) {
            bump(&rq.stats.hook_barriers, 1);
        }
        A::membarrier_finish_switch_mm(state);
        if state & MEMBARRIER_STATE_PRIVATE_EXPEDITED_SYNC_CORE != 0 {
            A::membarrier_sync_core_before_usermode();
        }
    }

    /// Completes the last switch on this CPU: clears `on_cpu` of the task switched away from (its stack is
    /// free from now on), drops its lazy mm reference, queues it on another CPU if its affinity moved it.
    ///
    /// Runs on the calling CPU after every switch, with interrupts disabled, on the incoming task's stack:
    /// `schedule` calls it when `switch_context` returns; a new task's first entry code must call it before
    /// anything else (then enable interrupts). Calling it when no switch is pending does nothing. It leaves the
    /// interrupt mask as it found it (`schedule` uses the variant that takes its own masking's proof).
    pub fn finish_switch(&self) {
        without_interrupts::<A, _>(|masked| self.finish_switch_masked(masked));
    }

    // Inlined into `schedule_with`: the switch path's second half, not worth a call of its own.
    #[inline(always)]
    fn finish_switch_masked(&self, masked: &IrqsMasked<A>) {
        // Read again, not passed from `schedule`: prev may resume on another CPU than the one it left.
        let cpu = A::cpu_id();
        let rq = &self.run_queues[cpu];
        let mut inner = rq.inner.lock_masked(masked);
        let Some(PendingSwitch { prev, lazy_mm_to_drop, requeue }) = inner.pending.take() else { return };
        // Release: the saved context of prev (written by switch_context) is visible to the CPU that picks
        // prev next. Pairs with the Acquire load of on_cpu in pick_next. Under this run queue's lock, and
        // before prev is queued: no CPU can find it in a queue with `on_cpu` still set.
        prev.on_cpu.store(false, Ordering::Release);
        let (elsewhere, not_queued) = match requeue {
            // The affinity is read under this run queue's lock. `set_affinity` stores the new affinity, then
            // (having read that the task's CPU is this one) looks for it in this queue under the same lock: either
            // it looks after this push and moves the task, or its store is visible to this read and the task goes
            // through `enqueue` to an allowed CPU instead. Neither way is it left where it may not run.
            Requeue::Here if prev.affinity().contains(cpu) => {
                inner.queue.push_back(prev);
                inner.publish_length(rq);
                (None, None)
            }
            Requeue::Here => (Some((cpu, prev)), None),
            Requeue::On(target) => (Some((target, prev)), None),
            Requeue::Nowhere => (None, Some(prev)),
        };
        drop(inner);
        // Outside the lock: the last reference to an exited task frees its stack, the last lazy reference to
        // an mm its page-table root.
        drop(not_queued);
        if let Some(mm) = lazy_mm_to_drop {
            mm.mmdrop();
        }
        if let Some((target, prev)) = elsewhere {
            self.enqueue(target, prev, masked);
        }
    }

    /// Handles an IPI of `kind` on the calling CPU; the arch's IPI handler calls it with interrupts disabled.
    ///
    /// A membarrier IPI first reads the run queue's request (which call asks, and for what), then does the
    /// work, then acknowledges that call by its sequence number: the ack promises work done after the handler
    /// saw the request, so after the call began (see `MembarrierRequest` in the membarrier module).
    pub fn handle_ipi(&self, kind: IpiKind) {
        let rq = self.this_rq();
        match kind {
            IpiKind::Reschedule => rq.need_resched.store(true, Ordering::Relaxed),
            IpiKind::MembarrierBarrier => {
                let request = rq.membarrier_request();
                // rseq hook: a PRIVATE_EXPEDITED_RSEQ request also restarts the interrupted thread's section.
                if request.restarts_rseq() {
                    self.rseq_restart_current(A::cpu_id());
                }
                // The barrier membarrier asked for: orders this CPU's accesses before the ack with the caller's
                // accesses after its wait. Pairs with the smp_mb the caller runs after the acks.
                smp_mb::<A>(BarrierSite::IpiBarrier);
                self.ack_membarrier_request(rq, kind, request);
            }
            IpiKind::SyncCore => {
                let request = rq.membarrier_request();
                // The same barrier as MembarrierBarrier (SYNC_CORE implies PRIVATE_EXPEDITED's ordering); pairs
                // with the smp_mb the caller runs after its wait.
                smp_mb::<A>(BarrierSite::IpiSyncCore);
                A::membarrier_sync_core_before_usermode();
                self.ack_membarrier_request(rq, kind, request);
            }
            IpiKind::MembarrierSyncState => {
                let request = rq.membarrier_request();
                without_interrupts::<A, _>(|masked| {
                    let inner = rq.inner.lock_masked(masked);
                    if let Some(mm) = inner.curr.as_ref().and_then(|curr| curr.mm.lock_masked(masked).clone()) {
                        rq.membarrier_state.store(mm.membarrier_state(), Ordering::Relaxed);
                    }
                });
                // Orders the refreshed copy before the ack, so the registering CPU sets READY only after.
                smp_mb::<A>(BarrierSite::IpiSyncState);
                self.ack_membarrier_request(rq, kind, request);
            }
        }
    }

    /// Acknowledges `request`, read by a handler of `kind` before it did its work, if that is what the request
    /// asked for. A request of another kind is left alone: its own IPI is on the way (each kind has its own),
    /// and this handler's work may not be what it needs (a plain barrier is not a SYNC_CORE).
    pub(crate) fn ack_membarrier_request(&self, rq: &RunQueue<A>, kind: IpiKind, request: MembarrierRequest) {
        if request.kind() == Some(kind) {
            // Release: the work above (its barrier) happens before the ack is seen; pairs with the Acquire load
            // in membarrier's wait loop. `fetch_max`: an ack never goes back to an older call.
            rq.membarrier_ack.fetch_max(request.sequence(), Ordering::Release);
        }
    }

    /// Picks a runnable task for `cpu` from its queue, else steals one from another CPU. Skips tasks whose
    /// stack is still in use (`on_cpu`) or whose affinity excludes `cpu`.
    fn pick_next(
        &self,
        cpu: usize,
        rq: &RunQueue<A>,
        inner: &mut RunQueueInner<A>,
        masked: &IrqsMasked<A>,
        may_steal: bool,
    ) -> Option<Arc<Task<A>>> {
        // Acquire: pairs with the Release store of on_cpu in finish_switch.
        let can_run = |task: &Arc<Task<A>>| task.affinity().contains(cpu) && !task.on_cpu.load(Ordering::Acquire);
        // The common case, O(1): the head of the FIFO can run here.
        if inner.queue.front().is_some_and(can_run) {
            let task = inner.queue.pop_front();
            inner.publish_length(rq);
            return task;
        }
        if let Some(position) = inner.queue.iter().position(can_run) {
            let task = inner.queue.remove(position);
            inner.publish_length(rq);
            return task;
        }
        if !may_steal {
            return None;
        }
        if inner.queue.is_empty() && inner.queue.capacity() > RUN_QUEUE_KEPT_CAPACITY {
            // A burst (thousands of threads woken at once) grew this queue; give the memory back once it has
            // drained, so that a burst costs heap only while it lasts (the leak checks count on it). Only on
            // the way to idle, never on a switch between runnable tasks.
            inner.queue.shrink_to(RUN_QUEUE_KEPT_CAPACITY);
        }
        for other in self.online_cpus().iter().filter(|&other| other != cpu) {
            // An empty queue (as of its last change) is not worth its lock; a task queued since then is its own
            // CPU's to run, which the enqueue told (as when the try_lock below fails).
            if self.run_queues[other].queued_hint() == 0 {
                continue;
            }
            // try_lock: we hold our own run-queue lock; waiting for another CPU's could deadlock with a CPU
            // stealing in the opposite direction.
            let Some(mut other_inner) = self.run_queues[other].inner.try_lock_masked(masked) else { continue };
            if let Some(position) = other_inner.queue.iter().position(can_run) {
                let task = other_inner.queue.remove(position);
                other_inner.publish_length(&self.run_queues[other]);
                bump_local(&rq.stats.migrations);
                return task;
            }
        }
        None
    }

    /// The allowed online CPU with the fewest queued tasks (lowest number on ties), by each run queue's length
    /// hint (no lock taken).
    fn least_loaded_cpu(&self, affinity: CpuSet) -> Option<usize> {
        affinity.intersection(self.online_cpus()).iter().min_by_key(|&cpu| self.run_queues[cpu].queued_hint())
    }

    fn choose_cpu(&self, affinity: CpuSet, hint: Option<usize>) -> Option<usize> {
        let allowed = affinity.intersection(self.online_cpus());
        match hint {
            Some(cpu) if allowed.contains(cpu) => Some(cpu),
            _ => allowed.lowest(),
        }
    }

    /// Queues `task` on `cpu`, or on another allowed CPU if its affinity changed since `cpu` was chosen, and
    /// makes that CPU reschedule. Interrupts are masked throughout (`masked`), so the CPU id compared at the end
    /// is the one this code runs on.
    pub(crate) fn enqueue(&self, cpu: usize, task: Arc<Task<A>>, masked: &IrqsMasked<A>) {
        let mut target = cpu;
        loop {
            let mut inner = self.run_queues[target].inner.lock_masked(masked);
            // The affinity check and the CPU update under the task's lock pair with `set_affinity`.
            let allowed = {
                let _sched = task.sched.lock_masked(masked);
                let allowed = task.affinity().contains(target);
                if allowed {
                    task.set_cpu(target);
                }
                allowed
            };
            if allowed {
                inner.queue.push_back(task);
                inner.publish_length(&self.run_queues[target]);
                break;
            }
            drop(inner);
            target = self.choose_cpu(task.affinity(), None).expect("queued task's affinity has no online CPU");
        }
        // Still masked: the CPU id compared here is the one this code runs on.
        if target == A::cpu_id() {
            self.run_queues[target].need_resched.store(true, Ordering::Relaxed);
        } else {
            A::send_ipi(CpuSet::single(target), IpiKind::Reschedule);
        }
    }
}
