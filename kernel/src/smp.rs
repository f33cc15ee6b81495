//! Bring-up of the secondary cores, per-core state, interrupt routing and cross-core calls. Payloads read each
//! core's state as a [`CpuSnapshot`] and the scheduler's per-CPU statistics, call functions on other cores, set
//! their ticks, and wait for tasks with [`wait_running_tasks`].

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};

use arch_arm64::cpu::{self, MAX_CPUS};
use arch_arm64::exceptions::{Handlers, TrapFrame};
use arch_arm64::gic;
use arch_arm64::interrupts::{self, Interrupt, KernelIpi};
use arch_arm64::{Arm64, BootInfo};
use core_sched::{without_interrupts, CpuSet, IrqSpinLock, RunQueueStats};

use crate::println;

/// What each core reported when it came online, and its tick.
struct CpuInfo {
    online: AtomicBool,
    mpidr: AtomicU64,
    entry_el: AtomicU8,
    running_el: AtomicU8,
    /// Scheduler ticks taken (timer interrupts for sleepers alone are not counted).
    timer_ticks: AtomicU64,
    /// Period of this core's scheduler tick in microseconds, 0 when stopped.
    timer_period_us: AtomicU64,
}

/// Per-core information, indexed by core.
static CPUS: [CpuInfo; MAX_CPUS] = [const {
    CpuInfo {
        online: AtomicBool::new(false),
        mpidr: AtomicU64::new(0),
        entry_el: AtomicU8::new(0),
        running_el: AtomicU8::new(0),
        timer_ticks: AtomicU64::new(0),
        timer_period_us: AtomicU64::new(0),
    }
}; MAX_CPUS];

/// PINGS_RECEIVED[sender][receiver]: test IPIs counted by the receiver.
static PINGS_RECEIVED: [[AtomicU64; MAX_CPUS]; MAX_CPUS] =
    [const { [const { AtomicU64::new(0) }; MAX_CPUS] }; MAX_CPUS];

/// A core's mailbox: the function its next `KernelIpi::CallFunction` runs. IRQ-safe: the target's handler takes the
/// same lock, and so may this core's.
type Mailbox = IrqSpinLock<Arm64, Option<fn()>>;

static MAILBOX: [Mailbox; MAX_CPUS] = [const { IrqSpinLock::new(None) }; MAX_CPUS];

/// Registers the exception handlers (once, on the boot core).
pub(crate) fn init_interrupts() {
    arch_arm64::exceptions::set_handlers(Handlers {
        irq: handle_interrupt,
        syscall: crate::syscalls::handle_syscall,
        user_trap: crate::syscalls::handle_user_trap,
        kernel_stack_overflow: crate::process::report_kernel_stack_overflow,
    });
}

/// The scheduler's tick period in microseconds (what [`set_timer_period_us`] restores after a test changed it).
pub const TICK_US: u64 = 4000;

/// Per-core bring-up: interrupt controller interface, empty TTBR0, scheduler, tick, record the core, unmask
/// IRQs.
pub(crate) fn cpu_online(boot: BootInfo) {
    gic::init_this_cpu();
    arch_arm64::mmu::init_this_cpu();
    crate::process::init_this_cpu();
    set_timer_period_us(TICK_US);
    let info = &CPUS[boot.cpu];
    info.mpidr.store(cpu::mpidr(), Ordering::Relaxed);
    info.entry_el.store(boot.entry_el, Ordering::Relaxed);
    info.running_el.store(cpu::current_el(), Ordering::Relaxed);
    // Release: the recorded fields are visible to whoever sees `online`.
    info.online.store(true, Ordering::Release);
    cpu::irq_enable();
}

/// Starts cores 1..board.cpus and waits (bounded) for each to report online.
pub(crate) fn start_secondaries(board: &crate::Board) {
    for (core, info) in CPUS.iter().enumerate().take(board.cpus).skip(1) {
        if let Err(reason) = (board.start_secondary)(core) {
            println!("CPU {core}: could not be started: {reason}");
            continue;
        }
        if !wait_until(1000, || info.online.load(Ordering::Acquire)) {
            println!("CPU {core}: started but did not come online within 1 s");
        }
    }
}

/// A copy of what core `cpu` reported when it came online, and of its tick.
#[derive(Clone, Copy, Debug)]
pub struct CpuSnapshot {
    /// Whether the core came online.
    pub online: bool,
    /// Its MPIDR_EL1 (affinity fields).
    pub mpidr: u64,
    /// The exception level it entered the kernel at (1 or 2).
    pub entry_el: u8,
    /// The exception level it runs at (1).
    pub running_el: u8,
    /// Scheduler ticks it took.
    pub timer_ticks: u64,
    /// Period of its scheduler tick in microseconds, 0 when stopped (sleepers still arm its timer).
    pub timer_period_us: u64,
}

/// What core `cpu` (below `arch_arm64::cpu::MAX_CPUS`) reported, read now.
pub fn cpu_snapshot(cpu: usize) -> CpuSnapshot {
    let info = &CPUS[cpu];
    CpuSnapshot {
        online: info.online.load(Ordering::Acquire),
        mpidr: info.mpidr.load(Ordering::Relaxed),
        entry_el: info.entry_el.load(Ordering::Relaxed),
        running_el: info.running_el.load(Ordering::Relaxed),
        timer_ticks: info.timer_ticks.load(Ordering::Relaxed),
        timer_period_us: info.timer_period_us.load(Ordering::Relaxed),
    }
}

/// Number of cores the board brings up (some may have failed to come online: see [`online_count`]).
pub fn board_cpu_count() -> usize {
    crate::BOARD.get().map_or(1, |board| board.cpus)
}

/// Number of cores online.
pub fn online_count() -> usize {
    CPUS.iter().filter(|info| info.online.load(Ordering::Acquire)).count()
}

/// Bit mask of the online cores.
pub fn online_mask() -> u64 {
    CPUS.iter()
        .enumerate()
        .filter(|(_, info)| info.online.load(Ordering::Acquire))
        .fold(0, |mask, (core, _)| mask | 1 << core)
}

/// A secondary core with nothing to do sleeps here, woken by interrupts (a reschedule IPI when work arrives).
pub(crate) fn idle_loop() -> ! {
    loop {
        idle_once();
    }
}

/// One step of an idle core's loop: run whatever is runnable, else sleep until the next interrupt.
fn idle_once() {
    without_interrupts::<Arm64, _>(|_| {
        if crate::process::SCHED.run_queue(cpu::cpu_id()).queued() > 0 || crate::process::SCHED.need_resched() {
            crate::process::SCHED.schedule();
        } else {
            // With IRQs masked, a pending interrupt still ends `wfi`; it is taken right after the unmask at the
            // end of this region.
            cpu::wait_for_interrupt();
        }
    });
}

/// Waits in a kernel thread until `condition` holds or `timeout_ms` pass, giving the CPU to other tasks in
/// between (and sleeping in `wfi` when there are none); true if the condition held.
pub fn wait_running_tasks(timeout_ms: u64, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = cpu::now_ns().saturating_add(timeout_ms.saturating_mul(1_000_000));
    while !condition() {
        if cpu::now_ns() > deadline {
            return condition();
        }
        crate::process::SCHED.yield_now();
        sleep_unless_work_queued();
    }
    true
}

/// Sleeps in `wfi` until the next interrupt unless this CPU has queued tasks or a reschedule pending. The check
/// and the `wfi` run with IRQs masked: an interrupt that queues work after the check still ends the `wfi`
/// (a pending interrupt wakes it even while masked) and is taken right after, instead of being handled between
/// the check and the `wfi`, which would then sleep with work queued until the next tick.
pub fn sleep_unless_work_queued() {
    without_interrupts::<Arm64, _>(|_| {
        let sched = &crate::process::SCHED;
        if sched.run_queue(cpu::cpu_id()).queued() == 0 && !sched.need_resched() {
            cpu::wait_for_interrupt();
        }
    });
}

/// Spins until `condition` holds or `timeout_ms` pass, without giving the CPU away; true if it held.
pub fn wait_until(timeout_ms: u64, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = cpu::now_ns() + timeout_ms * 1_000_000;
    while !condition() {
        if cpu::now_ns() > deadline {
            return condition();
        }
        cpu::cpu_relax();
    }
    true
}

/// Runs `function` on core `target` in interrupt context; false if its mailbox stayed busy for 100 ms.
pub fn call_on(target: usize, function: fn()) -> bool {
    let posted = wait_until(100, || {
        let mut slot = MAILBOX[target].lock();
        let free = slot.is_none();
        if free {
            *slot = Some(function);
        }
        free
    });
    if posted {
        interrupts::send_kernel_ipi(CpuSet::single(target), KernelIpi::CallFunction);
    }
    posted
}

/// Sends a test IPI from this core to every core in `targets`; each receiver counts it (see [`pings_received`]).
pub fn send_test_pings(targets: CpuSet) {
    interrupts::send_kernel_ipi(targets, KernelIpi::TestPing);
}

/// Test IPIs that core `receiver` has counted from core `sender`.
pub fn pings_received(sender: usize, receiver: usize) -> u64 {
    PINGS_RECEIVED[sender][receiver].load(Ordering::Relaxed)
}

/// Starts (period > 0) or stops this core's scheduler tick ([`TICK_US`] normally); its sleepers still arm the
/// timer.
pub fn set_timer_period_us(period_us: u64) {
    CPUS[cpu::cpu_id()].timer_period_us.store(period_us, Ordering::Relaxed);
    crate::timer_queue::set_tick_period(period_us.saturating_mul(1000));
}

fn handle_interrupt(interrupt: Interrupt, frame: &mut TrapFrame) {
    let me = cpu::cpu_id();
    match interrupt {
        Interrupt::Kernel { ipi: KernelIpi::CallFunction, .. } => {
            let function = MAILBOX[me].lock().take();
            if let Some(function) = function {
                function();
            }
        }
        Interrupt::Kernel { ipi: KernelIpi::TestPing, sender } => {
            PINGS_RECEIVED[sender][me].fetch_add(1, Ordering::Relaxed);
        }
        Interrupt::Scheduler(kind) => crate::process::SCHED.handle_ipi(kind),
        Interrupt::Timer => {
            // The timer fires for the earliest of the tick and this CPU's sleepers; expire wakes the sleepers
            // that are due and re-arms.
            if crate::timer_queue::expire() {
                crate::process::SCHED.account_tick(frame.returns_to_user());
                crate::process::SCHED.tick();
                crate::process::wake_sleepers_of_exiting_processes();
                CPUS[me].timer_ticks.fetch_add(1, Ordering::Relaxed);
            }
        }
        Interrupt::Other(number) => println!("CPU {me}: unexpected interrupt {number}"),
    }
    // Preemption: switch here, in the interrupt handler, on the interrupted task's kernel stack; the rest of
    // the exception return happens when this task is switched back in.
    if crate::process::SCHED.need_resched() && crate::process::SCHED.run_queue(me).is_online() {
        crate::process::SCHED.schedule();
    }
    // A thread of a process that is ending (exit_group, fault) exits here even if it never makes a system call.
    if frame.returns_to_user() {
        crate::process::exit_if_process_exiting();
        // rseq hook: a thread preempted here (or asked by membarrier's RSEQ IPI) restarts its critical section.
        crate::rseq::before_return_to_user(frame);
    }
}

/// The scheduler's statistics of core `cpu` since boot: switches by kind, post-switch hook calls and barriers,
/// membarrier IPIs sent and skipped, migrations.
pub fn scheduler_stats(cpu: usize) -> RunQueueStats {
    crate::process::SCHED.run_queue(cpu).stats()
}

/// The address space the idle task of core `cpu` holds lazily as its `active_mm`, if any (tests of the
/// mm_users/mm_count split look at what such a lazy reference keeps).
pub fn idle_lazy_mm(cpu: usize) -> Option<Arc<core_sched::Mm<Arm64>>> {
    crate::process::SCHED.run_queue(cpu).idle()?.active_mm()
}

/// Prints every CPU's current task, queue (task, state, affinity, whether its stack is still in use),
/// need_resched and timer ticks: what a stuck workload was waiting for.
pub fn print_scheduler_state(why: &str) {
    println!("scheduler state ({why}):");
    for cpu in 0..online_count() {
        let rq = crate::process::SCHED.run_queue(cpu);
        let describe = |task: &Arc<crate::process::KernelTask>| {
            format!(
                "{}{}:{:?}:cpus {:#06b}{}",
                if task.is_kernel_thread() { "k" } else { "u" },
                task.id().0,
                task.state(),
                task.affinity().0,
                if task.is_on_cpu() { ":on_cpu" } else { "" }
            )
        };
        let queue: Vec<String> = rq.queued_tasks().iter().map(describe).collect();
        println!(
            "  CPU {cpu}: curr {} need_resched {} ticks {} mm {:?} queue [{}]",
            rq.curr().as_ref().map_or("-".into(), describe),
            rq.need_resched(),
            cpu_snapshot(cpu).timer_ticks,
            rq.current_mm_id(),
            queue.join(", ")
        );
    }
    // A user thread that is neither running nor queued must be blocked; a runnable one there is lost.
    let placed: Vec<u32> = (0..online_count())
        .flat_map(|cpu| {
            let rq = crate::process::SCHED.run_queue(cpu);
            rq.curr().into_iter().chain(rq.queued_tasks()).map(|task| task.id().0).collect::<Vec<_>>()
        })
        .collect();
    for task in crate::process::all_threads() {
        if !placed.contains(&task.id().0) {
            println!(
                "  thread {} in no run queue: {:?}, last cpu {}, cpus {:#06b}, on_cpu {}",
                task.id().0,
                task.state(),
                task.cpu(),
                task.affinity().0,
                task.is_on_cpu()
            );
        }
    }
}
