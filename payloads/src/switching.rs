//! The user -> kernel thread -> user switching workload: the store-buffering litmus with membarrier, run
//! against threads that are switched T1 -> K -> T2 on their CPU (see user/src/bin/litmus.rs), plus the per-CPU
//! scheduler statistics that show which paths ran. Used by the in-kernel tests and by the demo.

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use arch_arm64::Arm64;
use core_sched::{CpuSet, Mm, RunQueueStats, SwitchKind, MAX_CPUS};

use kernel::println;
use kernel::process;
use kernel::smp::{self, wait_running_tasks};

/// The CPUs whose threads are switched T1 -> K -> T2 (the first `pairs` of them are used); the membarrier
/// callers run on the others. One pair keeps two virtual CPUs busy, which is what a two-core host can run at
/// full speed; the demo uses two.
pub const SWITCHING_CPUS: [usize; 2] = [1, 2];

static STOP_KERNEL_THREADS: AtomicBool = AtomicBool::new(false);
static KERNEL_THREADS_RUNNING: AtomicUsize = AtomicUsize::new(0);

/// K: a kernel thread that only gives its CPU back, so that its CPU cycles T1 -> K -> T2.
fn switching_kernel_thread(_cpu: usize) {
    while !STOP_KERNEL_THREADS.load(Ordering::Relaxed) {
        process::yield_now();
        smp::sleep_unless_work_queued();
    }
    KERNEL_THREADS_RUNNING.fetch_sub(1, Ordering::Release);
}

/// Per-CPU statistics.
pub fn snapshot() -> [RunQueueStats; MAX_CPUS] {
    core::array::from_fn(smp::scheduler_stats)
}

/// `after - before`, field by field.
pub fn difference(after: &RunQueueStats, before: &RunQueueStats) -> RunQueueStats {
    RunQueueStats {
        switches: core::array::from_fn(|kind| after.switches[kind] - before.switches[kind]),
        hook_calls: after.hook_calls - before.hook_calls,
        hook_barriers: after.hook_barriers - before.hook_barriers,
        membarrier_ipis_sent: after.membarrier_ipis_sent - before.membarrier_ipis_sent,
        membarrier_skipped_no_user_mm: after.membarrier_skipped_no_user_mm - before.membarrier_skipped_no_user_mm,
        membarrier_skipped_other_mm: after.membarrier_skipped_other_mm - before.membarrier_skipped_other_mm,
        membarrier_skipped_here_no_user_mm: after.membarrier_skipped_here_no_user_mm
            - before.membarrier_skipped_here_no_user_mm,
        migrations: after.migrations - before.migrations,
    }
}

/// Switches into a user task: the ones that must call the hook.
pub fn switches_into_user(stats: &RunQueueStats) -> u64 {
    [
        SwitchKind::UserToUserSameMm,
        SwitchKind::UserToUserOtherMm,
        SwitchKind::KernelThreadToUserSameMm,
        SwitchKind::KernelThreadToUserOtherMm,
    ]
    .iter()
    .map(|&kind| stats.switches[kind as usize])
    .sum()
}

/// Prints the per-CPU table of switches by kind, hook calls, barriers, IPIs sent and skipped.
pub fn print_table(title: &str, stats: &[RunQueueStats]) {
    println!("{title} (post-switch barrier: {})", arch_arm64::sched_arch::POST_SWITCH_BARRIER);
    println!(
        "  cpu | u->u same | u->u other |   u->k | k->u same | k->u other | k->k | hook calls | barrier due | IPIs sent | skipped: no mm | other mm | skipped here"
    );
    for (cpu, stats) in stats.iter().enumerate().take(smp::online_count()) {
        let kinds = stats.switches;
        println!(
            "  {cpu:>3} | {:>9} | {:>10} | {:>6} | {:>9} | {:>10} | {:>4} | {:>10} | {:>11} | {:>9} | {:>14} | {:>8} | {:>12}",
            kinds[0],
            kinds[1],
            kinds[2],
            kinds[3],
            kinds[4],
            kinds[5],
            stats.hook_calls,
            stats.hook_barriers,
            stats.membarrier_ipis_sent,
            stats.membarrier_skipped_no_user_mm,
            stats.membarrier_skipped_other_mm,
            stats.membarrier_skipped_here_no_user_mm
        );
    }
}

/// What one run of the workload showed.
pub struct Report {
    pub exit_status: i32,
    pub stats: Vec<RunQueueStats>,
    /// The process's mm after everything exited and every CPU ran another address space.
    pub mm_released: Result<(), String>,
}

/// The litmus's time budget in milliseconds (KERNEL_LITMUS_BUDGET_MS, default 2 minutes): it stops early, with
/// fewer iterations, when the host is too busy to run its vCPU handshakes at full speed (see user/src/bin/litmus.rs).
pub fn litmus_budget_ms() -> u64 {
    option_env!("KERNEL_LITMUS_BUDGET_MS").and_then(|text| text.parse().ok()).unwrap_or(120_000)
}

/// Runs `litmus <mode> <iterations> <budget ms> <switching cpus>` with a kernel thread K on each of the first
/// `pairs` switching CPUs.
pub fn run(mode: &str, iterations: u64, pairs: usize) -> Result<Report, String> {
    let switching_cpus = &SWITCHING_CPUS[..pairs.clamp(1, SWITCHING_CPUS.len())];
    let image = crate::user_programs::find("litmus").ok_or("program litmus is not embedded")?;
    let before = snapshot();
    let switching = mode == "membarrier";
    STOP_KERNEL_THREADS.store(false, Ordering::Relaxed);
    if switching {
        for &cpu in switching_cpus {
            KERNEL_THREADS_RUNNING.fetch_add(1, Ordering::Relaxed);
            process::spawn_kernel_thread(switching_kernel_thread, cpu, CpuSet::single(cpu))
                .map_err(|error| format!("cannot start K on CPU {cpu}: {error:?}"))?;
        }
    }
    let iterations_text = format!("{iterations}");
    let budget_text = format!("{}", litmus_budget_ms());
    let cpus: Vec<String> = switching_cpus.iter().map(|cpu| format!("{cpu}")).collect();
    let mut argv: Vec<&str> = alloc::vec!["litmus", mode, iterations_text.as_str(), budget_text.as_str()];
    argv.extend(cpus.iter().map(String::as_str));
    // The main thread stays off the switching CPUs: it registers for membarrier only after it starts, so a
    // switch into its mm on a switching CPU before that would be a hook call without a barrier, and the test
    // checks that every hook call there issued one. Its threads pin themselves where they belong.
    let mut main_thread_cpus = process::all_cpus();
    for &cpu in switching_cpus {
        main_thread_cpus.remove(cpu);
    }
    if main_thread_cpus.is_empty() {
        main_thread_cpus = process::all_cpus();
    }
    let litmus = process::spawn_process_with_affinity(image, &argv, Some(0), main_thread_cpus)?;
    // Keep a handle on the mm to check its references at the end (the handle is not one of them).
    let mm: Option<Arc<Mm<Arm64>>> = process::thread_task(litmus.pid).and_then(|task| task.mm());
    // The litmus stops itself when its budget runs out; a minute more is for its last iteration and its exit.
    let finished = wait_running_tasks(litmus_budget_ms() + 60_000, || litmus.is_finished());
    if !finished {
        smp::print_scheduler_state("the litmus process did not finish in time");
    }
    STOP_KERNEL_THREADS.store(true, Ordering::Relaxed);
    wait_running_tasks(5_000, || KERNEL_THREADS_RUNNING.load(Ordering::Acquire) == 0);
    if !finished {
        return Err("the litmus process did not finish (scheduler state above)".into());
    }
    let after = snapshot();
    let stats = (0..MAX_CPUS).map(|cpu| difference(&after[cpu], &before[cpu])).collect();
    let mm_released = match mm {
        Some(mm) => release_lazy_references(&mm),
        None => Err("could not get the litmus mm".into()),
    };
    Ok(Report { exit_status: litmus.exit_status(), stats, mm_released })
}

/// After a process exited, CPUs may still hold its mm lazily (kernel threads and idle tasks borrow the last
/// one). Running a short process on every CPU moves each of them to another mm; then the old mm must have
/// no user and no reference left, and must have been freed exactly once.
fn release_lazy_references(mm: &Arc<Mm<Arm64>>) -> Result<(), String> {
    if mm.users() != 0 {
        return Err(format!("mm {:?} still has {} users after exit", mm.id(), mm.users()));
    }
    let hello = crate::user_programs::find("hello").ok_or("program hello is not embedded")?;
    let processes = (0..smp::online_count())
        .map(|cpu| {
            process::spawn_process_with_affinity(hello, &["hello", "lazy-mm-flush"], Some(cpu), CpuSet::single(cpu))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if !wait_running_tasks(10_000, || processes.iter().all(|process| process.is_finished())) {
        return Err("flush processes did not finish".into());
    }
    if mm.count() != 0 || !mm.is_freed() {
        return Err(format!(
            "mm {:?}: count {} freed {} after every CPU switched away",
            mm.id(),
            mm.count(),
            mm.is_freed()
        ));
    }
    Ok(())
}
