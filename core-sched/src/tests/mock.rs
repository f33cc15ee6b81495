//! The mock architecture: records every arch call, with the calling CPU and that CPU's published mm id at
//! the time, in a per-thread log (each test runs on its own thread). `switch_context` returns at once;
//! IPIs are delivered synchronously by calling `Scheduler::handle_ipi` "on" the target CPU.

use std::boxed::Box;
use std::cell::{Cell, RefCell};
use std::vec::Vec;

use alloc::sync::Arc;

use crate::arch::{generic_membarrier_finish_switch_mm, Arch, IpiKind, IrqState, SwitchingTask};
use crate::cpuset::CpuSet;
use crate::mm::{Mm, MmId};
use crate::sched::Scheduler;
use crate::task::{Task, TaskId};

/// One arch call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    SmpMb,
    SwitchMm { prev: Option<u32>, next: u32 },
    SwitchContext { prev: u32, next: u32 },
    SendIpi { cpus: CpuSet, kind: IpiKind },
    IrqSave,
    IrqRestore,
    Hook { state: u32 },
    SyncCore,
    ReleaseUserPages { mm: u32 },
    MmFree { mm: u32 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record {
    pub cpu: usize,
    pub event: Event,
    /// The calling CPU's published mm id when the call was made.
    pub published_mm: u32,
    /// Whether the calling CPU was marked online when the call was made.
    pub online: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpiDelivery {
    /// Handled at once on the target.
    Immediate,
    /// Lost: the target never acknowledges (for the timeout path).
    Dropped,
}

std::thread_local! {
    static CPU: Cell<usize> = const { Cell::new(0) };
    static LOG: RefCell<Vec<Record>> = const { RefCell::new(Vec::new()) };
    static NOW: Cell<u64> = const { Cell::new(0) };
    /// How far each `now_ns` reading advances the clock.
    static TIME_STEP: Cell<u64> = const { Cell::new(1_000_000) };
    static SCHED: Cell<Option<&'static Scheduler<Mock>>> = const { Cell::new(None) };
    static DELIVERY: Cell<IpiDelivery> = const { Cell::new(IpiDelivery::Immediate) };
    static HOOK_IS_NOOP: Cell<bool> = const { Cell::new(false) };
    static IRQS_ENABLED: Cell<bool> = const { Cell::new(true) };
    /// When set, reading the CPU id with interrupts enabled panics: a preemption could migrate the reader
    /// right after the read, so a CPU id used for per-CPU state must be read with interrupts masked.
    static CPU_ID_NEEDS_MASKED_IRQS: Cell<bool> = const { Cell::new(false) };
    /// Called by `irq_restore` before it changes the mask: lets a test look at the state interrupts come back to.
    static BEFORE_IRQ_RESTORE: RefCell<Option<Box<dyn Fn()>>> = const { RefCell::new(None) };
    /// Called by `cpu_relax` (inside wait loops): lets a test act while a membarrier call waits for its acks.
    /// Whether interrupts were enabled at the last `mm_release_user_pages`.
    static RELEASE_WITH_IRQS_ENABLED: Cell<Option<bool>> = const { Cell::new(None) };
    static ON_CPU_RELAX: RefCell<Option<Box<dyn Fn()>>> = const { RefCell::new(None) };
    /// Called by `switch_context` with (prev, next) before it returns: lets a test act as the incoming task's
    /// first code (a new task's entry code calls `finish_switch`).
    static ON_SWITCH_CONTEXT: RefCell<Option<SwitchHook>> = const { RefCell::new(None) };
}

pub enum Mock {}

/// What `switch_context` calls in a test that sets it: (prev, next).
pub type SwitchHook = Box<dyn Fn(&Arc<Task<Mock>>, &Arc<Task<Mock>>)>;

fn record(event: Event) {
    let cpu = CPU.with(Cell::get);
    let sched = SCHED.with(Cell::get);
    let published_mm = sched.map_or(0, |s| s.run_queue(cpu).current_mm_id().0);
    let online = sched.is_some_and(|s| s.run_queue(cpu).is_online());
    LOG.with(|log| log.borrow_mut().push(Record { cpu, event, published_mm, online }));
}

impl Arch for Mock {
    type TaskContext = ();
    type MmContext = ();

    fn cpu_id() -> usize {
        if CPU_ID_NEEDS_MASKED_IRQS.with(Cell::get) && IRQS_ENABLED.with(Cell::get) {
            panic!("CPU id read with interrupts enabled: the caller could migrate right after the read");
        }
        CPU.with(Cell::get)
    }
    fn smp_mb() {
        record(Event::SmpMb);
    }
    fn switch_mm(prev: Option<&Mm<Self>>, next: &Mm<Self>) {
        record(Event::SwitchMm { prev: prev.map(|m| m.id().0), next: next.id().0 });
    }
    fn switch_context(switched_from: SwitchingTask<Self>, switched_to: SwitchingTask<Self>) {
        // The tasks behind the two pointers, found where the scheduler keeps them until finish_switch (the run
        // queue's `curr` and pending switch): the mock checks that they are the ones passed, without `unsafe`.
        let sched = SCHED.with(Cell::get).expect("mock scheduler not installed");
        let (prev, next) = {
            let inner = sched.run_queue(Self::cpu_id()).inner.lock();
            let next = inner.curr.clone().expect("switch_context without a current task");
            let prev = inner.pending.as_ref().expect("switch_context without a pending switch").prev.clone();
            (prev, next)
        };
        assert!(core::ptr::eq(Arc::as_ptr(&prev), switched_from.as_ptr()), "prev is not the pending switch's task");
        assert!(core::ptr::eq(Arc::as_ptr(&next), switched_to.as_ptr()), "next is not the run queue's curr");
        record(Event::SwitchContext { prev: prev.id().0, next: next.id().0 });
        ON_SWITCH_CONTEXT.with(|hook| {
            if let Some(hook) = hook.borrow().as_ref() {
                hook(&prev, &next);
            }
        });
    }
    fn send_ipi(cpus: CpuSet, kind: IpiKind) {
        record(Event::SendIpi { cpus, kind });
        assert!(!cpus.contains(Self::cpu_id()), "IPI to self");
        if DELIVERY.with(Cell::get) == IpiDelivery::Dropped {
            return;
        }
        let sched = SCHED.with(Cell::get).expect("mock scheduler not installed");
        let sender = CPU.with(Cell::get);
        let irqs = IRQS_ENABLED.with(|e| e.replace(false));
        for cpu in cpus {
            CPU.with(|c| c.set(cpu));
            sched.handle_ipi(kind);
        }
        CPU.with(|c| c.set(sender));
        IRQS_ENABLED.with(|e| e.set(irqs));
    }
    fn irq_save() -> IrqState {
        record(Event::IrqSave);
        IrqState(IRQS_ENABLED.with(|e| e.replace(false)) as u64)
    }
    fn irq_restore(state: IrqState) {
        record(Event::IrqRestore);
        BEFORE_IRQ_RESTORE.with(|check| {
            if let Some(check) = check.borrow().as_ref() {
                check();
            }
        });
        IRQS_ENABLED.with(|e| e.set(state.0 != 0));
    }
    fn now_ns() -> u64 {
        // Each reading advances time by a step (1 ms unless a test sets another), so a wait for a lost IPI times
        // out after a bounded number of readings.
        NOW.with(|n| {
            n.set(n.get() + TIME_STEP.with(Cell::get));
            n.get()
        })
    }
    fn cpu_relax() {
        ON_CPU_RELAX.with(|hook| {
            if let Some(hook) = hook.borrow().as_ref() {
                hook();
            }
        });
    }
    fn mm_release_user_pages(mm: &Mm<Self>) {
        record(Event::ReleaseUserPages { mm: mm.id().0 });
        RELEASE_WITH_IRQS_ENABLED.with(|r| r.set(Some(IRQS_ENABLED.with(Cell::get))));
        // The contract: no CPU runs the mm as a user any more (lazy holders publish "no user mm").
        if let Some(sched) = SCHED.with(Cell::get) {
            for cpu in 0..crate::MAX_CPUS {
                assert_ne!(
                    sched.run_queue(cpu).current_mm_id().0,
                    mm.id().0,
                    "user pages of mm {} released while CPU {cpu} runs it",
                    mm.id().0
                );
            }
        }
    }
    fn mm_free(mm: &Mm<Self>) {
        record(Event::MmFree { mm: mm.id().0 });
    }
    fn membarrier_finish_switch_mm(state: u32) {
        record(Event::Hook { state });
        if !HOOK_IS_NOOP.with(Cell::get) {
            generic_membarrier_finish_switch_mm::<Self>(state);
        }
    }
    fn membarrier_sync_core_before_usermode() {
        record(Event::SyncCore);
    }
}

/// A fresh scheduler with CPUs `0..cpus` online (idle task ids 1000 + cpu), installed for this thread.
pub fn setup(cpus: usize) -> &'static Scheduler<Mock> {
    setup_cpus(0..cpus)
}

/// A fresh scheduler with the CPUs `cpus` online (idle task ids 1000 + cpu), installed for this thread.
pub fn setup_cpus(cpus: impl IntoIterator<Item = usize>) -> &'static Scheduler<Mock> {
    let sched: &'static Scheduler<Mock> = Box::leak(Box::new(Scheduler::new()));
    SCHED.with(|s| s.set(Some(sched)));
    LOG.with(|l| l.borrow_mut().clear());
    HOOK_IS_NOOP.with(|h| h.set(false));
    CPU_ID_NEEDS_MASKED_IRQS.with(|c| c.set(false));
    set_before_irq_restore(None);
    set_on_cpu_relax(None);
    set_on_switch_context(None);
    DELIVERY.with(|d| d.set(IpiDelivery::Immediate));
    TIME_STEP.with(|step| step.set(1_000_000));
    for cpu in cpus {
        set_cpu(cpu);
        sched.init_cpu(Task::new_kernel_thread(TaskId(1000 + cpu as u32), CpuSet::single(cpu), ()));
    }
    set_cpu(0);
    clear_log();
    sched
}

/// The scheduler `setup` installed for this thread.
pub fn installed_scheduler() -> &'static Scheduler<Mock> {
    SCHED.with(Cell::get).expect("mock scheduler not installed")
}

pub fn set_cpu(cpu: usize) {
    CPU.with(|c| c.set(cpu));
}

pub fn set_cpu_id_needs_masked_irqs(strict: bool) {
    CPU_ID_NEEDS_MASKED_IRQS.with(|c| c.set(strict));
}

pub fn cpu() -> usize {
    CPU.with(Cell::get)
}

/// Runs `check` at every `irq_restore`, before the mask changes (`None` removes it).
pub fn set_before_irq_restore(check: Option<Box<dyn Fn()>>) {
    BEFORE_IRQ_RESTORE.with(|c| *c.borrow_mut() = check);
}

/// Whether interrupts were enabled at the last `mm_release_user_pages` (`None`: none since the last call).
pub fn take_release_with_irqs_enabled() -> Option<bool> {
    RELEASE_WITH_IRQS_ENABLED.with(Cell::take)
}

/// Runs `hook` at every `cpu_relax` (`None` removes it).
pub fn set_on_cpu_relax(hook: Option<Box<dyn Fn()>>) {
    ON_CPU_RELAX.with(|h| *h.borrow_mut() = hook);
}

/// Runs `hook` in every `switch_context`, after recording it (`None` removes it).
pub fn set_on_switch_context(hook: Option<SwitchHook>) {
    ON_SWITCH_CONTEXT.with(|h| *h.borrow_mut() = hook);
}

pub fn set_hook_noop(noop: bool) {
    HOOK_IS_NOOP.with(|h| h.set(noop));
}

/// How far each `now_ns` reading advances the mock clock (1 ms after `setup`).
pub fn set_time_step(nanoseconds: u64) {
    TIME_STEP.with(|step| step.set(nanoseconds));
}

/// The mock clock, without advancing it.
pub fn now() -> u64 {
    NOW.with(Cell::get)
}

pub fn set_delivery(delivery: IpiDelivery) {
    DELIVERY.with(|d| d.set(delivery));
}

pub fn irqs_enabled() -> bool {
    IRQS_ENABLED.with(Cell::get)
}

pub fn clear_log() {
    LOG.with(|l| l.borrow_mut().clear());
}

pub fn take_log() -> Vec<Record> {
    LOG.with(|l| core::mem::take(&mut *l.borrow_mut()))
}

pub fn events() -> Vec<Event> {
    take_log().into_iter().map(|r| r.event).collect()
}

pub fn mm_free_count(log: &[Record], id: u32) -> usize {
    log.iter().filter(|r| r.event == Event::MmFree { mm: id }).count()
}

pub fn release_count(log: &[Record], id: u32) -> usize {
    log.iter().filter(|r| r.event == Event::ReleaseUserPages { mm: id }).count()
}

pub fn new_mm(id: u32) -> Arc<Mm<Mock>> {
    Mm::new(MmId(id), ())
}

pub fn user(id: u32, mm: Arc<Mm<Mock>>, affinity: CpuSet) -> Arc<Task<Mock>> {
    Task::new_user(TaskId(id), mm, affinity, ())
}

pub fn kthread(id: u32, affinity: CpuSet) -> Arc<Task<Mock>> {
    Task::new_kernel_thread(TaskId(id), affinity, ())
}

/// Runs `schedule()` on `cpu` until `task` is its current task (panics after 50 tries).
pub fn run_on(sched: &Scheduler<Mock>, cpu: usize, task: &Arc<Task<Mock>>) {
    let saved = self::cpu();
    set_cpu(cpu);
    for _ in 0..50 {
        if Arc::ptr_eq(&sched.current(), task) {
            set_cpu(saved);
            return;
        }
        sched.schedule();
    }
    panic!("task {:?} never ran on CPU {cpu}", task.id());
}
