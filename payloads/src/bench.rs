//! The `bench` payload (feature `bench`, `cargo xtask bench` / `cargo xtask compare`): measured regions for
//! the context-switch, sched_yield and membarrier costs, run under QEMU with the `insn-counter` plugin, which counts the guest
//! instructions between the markers `hint #0x60` / `hint #0x61` on each vCPU.
//!
//! The regions: yield and context-switch ping-pongs on one CPU, `membarrier(PRIVATE_EXPEDITED)` with 0-3 other
//! CPUs running the mm (parked in `wfi`, or one spinning), page faults and mapping calls, cheap system calls
//! (`getpid`, `membarrier(QUERY)`, `clock_gettime`), futex and mutex hand-offs between two threads on two CPUs,
//! and liburcu's memb `synchronize_rcu()` with 0 and 3 readers (user/linux/urcu_bench.c, a glibc program that
//! xtask embeds when it can fetch liburcu; the scenarios are skipped otherwise).
//!
//! Every region runs on [`MEASURED_CPU`], with that CPU's timer tick stopped so that no interrupt lands in a
//! region: a ping-pong of yields then runs the same instructions every time. The EL0 program
//! (user/src/bin/bench.rs) emits the markers around N iterations; the other side of a ping-pong (a thread,
//! another process, or a kernel thread) runs on the same CPU, so it is counted too. After each region the
//! kernel prints one line, `bench: region=<k> scenario=<name> mm=<registered|unregistered> n=<N>
//! switches_per_iteration=<s> rep=<r>`; the k-th region the plugin reports is the k-th such line. Each
//! scenario runs [`repetitions`] times. At the end the store-buffering litmus runs once (its own line,
//! `litmus: variant=... forbidden=<k>`), so one run answers cost and correctness for the variant built.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use core_sched::CpuSet;

use kernel::println;
use kernel::process;
use kernel::smp::{self, wait_running_tasks};

/// The CPU every measured region runs on (CPU 0 runs the main kernel thread, which waits between regions).
pub const MEASURED_CPU: usize = 1;
/// CPUs that run the extra threads of the mm for `membarrier` with 1, 2, 3 other CPUs, in that order.
const OTHER_CPUS: [usize; 3] = [2, 3, 0];
/// Yields (or membarrier calls) before the first marker: every peer is running and every path is warm.
const WARMUP: u64 = 64;

/// Iterations per region (xtask sets KERNEL_BENCH_ITERATIONS).
fn iterations() -> u64 {
    option_env!("KERNEL_BENCH_ITERATIONS").and_then(|text| text.parse().ok()).unwrap_or(1000)
}

/// Repetitions of each scenario (xtask sets KERNEL_BENCH_REPETITIONS).
fn repetitions() -> u32 {
    option_env!("KERNEL_BENCH_REPETITIONS").and_then(|text| text.parse().ok()).unwrap_or(5)
}

/// Litmus iterations per switching CPU at the end of the run; 0 skips it (KERNEL_BENCH_LITMUS_ITERATIONS).
fn litmus_iterations() -> u64 {
    option_env!("KERNEL_BENCH_LITMUS_ITERATIONS").and_then(|text| text.parse().ok()).unwrap_or(20_000)
}

/// Only the scenario of this name runs (`cargo xtask profile` sets KERNEL_BENCH_ONLY); all when unset or empty.
fn selected(scenario: &Scenario) -> bool {
    match option_env!("KERNEL_BENCH_ONLY") {
        Some(name) if !name.is_empty() => name == scenario.name,
        _ => true,
    }
}

/// What shares the measured CPU with the program that emits the markers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Peer {
    /// Nothing: a yield finds no other task.
    Alone,
    /// A second thread of the same process (user -> user, same mm).
    Thread,
    /// Another process (user -> user, different mm).
    Process,
    /// A kernel thread (user -> kernel thread -> user, same mm).
    KernelThread,
    /// `membarrier(PRIVATE_EXPEDITED)` with this many other CPUs running threads of the mm.
    MembarrierOthers(usize),
    /// Alone, one system call per iteration (the bench program's mode of this name): `getpid`,
    /// `membarrier-query`, `clock-gettime`.
    Call(&'static str),
    /// `membarrier(PRIVATE_EXPEDITED)` with this many other CPUs running a thread of the mm that spins at EL0.
    MembarrierBusy(usize),
    /// A second thread of the process on the first of [`OTHER_CPUS`], the two handing over to each other (the
    /// bench program's mode of this name: `futex-pingpong`, `mutex-pingpong`). Per iteration two hand-offs,
    /// each a wake of a thread sleeping on the other CPU; the measured CPU switches to idle and back once.
    CrossCpu(&'static str),
    /// liburcu's memb `synchronize_rcu()` (user/linux/urcu_bench.c) with this many reader threads on
    /// [`OTHER_CPUS`]; only when xtask embedded the program.
    Urcu(usize),
    /// Alone, a memory operation per iteration (the bench program's mode of this name): `first-touch` (a store
    /// to a fresh page of an anonymous mapping: fault to resumed user code), `mmap-touch-munmap` (256 pages),
    /// `brk-page` (the break grows by one page).
    Memory(&'static str),
}

struct Scenario {
    name: &'static str,
    peer: Peer,
    registered: bool,
}

impl Scenario {
    /// Context switches per measured iteration.
    fn switches_per_iteration(&self) -> u32 {
        match self.peer {
            Peer::Alone | Peer::MembarrierOthers(_) | Peer::Memory(_) => 0,
            Peer::Call(_) | Peer::MembarrierBusy(_) | Peer::Urcu(_) => 0,
            Peer::Thread | Peer::Process | Peer::KernelThread | Peer::CrossCpu(_) => 2,
        }
    }
}

impl Scenario {
    /// Measured iterations: `mmap-touch-munmap` does 256 page faults per iteration, so it runs a sixteenth
    /// as many.
    fn iterations(&self) -> u64 {
        match self.peer {
            Peer::Memory("mmap-touch-munmap") => (iterations() / 16).max(1),
            // A grace period waits for the readers' CPUs (IPIs, and their vCPUs being scheduled by the host).
            Peer::Urcu(_) => (iterations() / 10).max(1),
            _ => iterations(),
        }
    }
}

const SCENARIOS: &[Scenario] = &[
    Scenario { name: "yield-alone", peer: Peer::Alone, registered: false },
    Scenario { name: "yield-alone", peer: Peer::Alone, registered: true },
    Scenario { name: "user-user-same-mm", peer: Peer::Thread, registered: false },
    Scenario { name: "user-user-same-mm", peer: Peer::Thread, registered: true },
    Scenario { name: "user-user-other-mm", peer: Peer::Process, registered: false },
    Scenario { name: "user-user-other-mm", peer: Peer::Process, registered: true },
    Scenario { name: "user-kthread-user", peer: Peer::KernelThread, registered: false },
    Scenario { name: "user-kthread-user", peer: Peer::KernelThread, registered: true },
    Scenario { name: "membarrier-0-others", peer: Peer::MembarrierOthers(0), registered: true },
    Scenario { name: "membarrier-1-others", peer: Peer::MembarrierOthers(1), registered: true },
    Scenario { name: "membarrier-2-others", peer: Peer::MembarrierOthers(2), registered: true },
    Scenario { name: "membarrier-3-others", peer: Peer::MembarrierOthers(3), registered: true },
    Scenario { name: "getpid", peer: Peer::Call("getpid"), registered: false },
    Scenario { name: "membarrier-query", peer: Peer::Call("membarrier-query"), registered: false },
    Scenario { name: "first-touch", peer: Peer::Memory("first-touch"), registered: false },
    Scenario { name: "mmap-touch-munmap", peer: Peer::Memory("mmap-touch-munmap"), registered: false },
    Scenario { name: "brk-page", peer: Peer::Memory("brk-page"), registered: false },
    Scenario { name: "getpid", peer: Peer::Call("getpid"), registered: false },
    Scenario { name: "membarrier-query", peer: Peer::Call("membarrier-query"), registered: false },
    Scenario { name: "clock-gettime", peer: Peer::Call("clock-gettime"), registered: false },
    Scenario { name: "membarrier-1-busy", peer: Peer::MembarrierBusy(1), registered: true },
    Scenario { name: "futex-wake-2cpu", peer: Peer::CrossCpu("futex-pingpong"), registered: false },
    Scenario { name: "mutex-handoff-2cpu", peer: Peer::CrossCpu("mutex-pingpong"), registered: false },
    Scenario { name: "urcu-sync-0-readers", peer: Peer::Urcu(0), registered: true },
    Scenario { name: "urcu-sync-3-readers", peer: Peer::Urcu(3), registered: true },
];

/// The argv[0] of the liburcu bench program (user/linux/urcu_bench.c) when xtask embedded it.
const URCU_BENCH_PROGRAM: &str = "glibc-urcu_bench";

/// The liburcu bench program's image, when xtask embedded it (a `--user` file: its run-list line holds the
/// embedded name, then argv[0]).
fn urcu_bench_image() -> Option<&'static [u8]> {
    let line = crate::user_programs::USER_RUN.iter().find(|line| line.get(1) == Some(&URCU_BENCH_PROGRAM))?;
    crate::user_programs::find(line[0])
}

static STOP_PEER_KERNEL_THREAD: AtomicBool = AtomicBool::new(false);
static PEER_KERNEL_THREADS_RUNNING: AtomicUsize = AtomicUsize::new(0);

/// The kernel-thread side of a user -> kernel thread -> user ping-pong: gives the CPU straight back.
fn peer_kernel_thread(_: usize) {
    while !STOP_PEER_KERNEL_THREAD.load(Ordering::Relaxed) {
        process::yield_now();
    }
    PEER_KERNEL_THREADS_RUNNING.fetch_sub(1, Ordering::Release);
}

fn stop_tick() {
    smp::set_timer_period_us(0);
}

fn restart_tick() {
    smp::set_timer_period_us(smp::TICK_US);
}

/// Runs on the measured CPU (in its interrupt handler) and waits until it took effect.
fn set_measured_cpu_tick(running: bool) -> Result<(), String> {
    let function: fn() = if running { restart_tick } else { stop_tick };
    if !smp::call_on(MEASURED_CPU, function) {
        return Err(format!("CPU {MEASURED_CPU} did not take the tick change"));
    }
    let done = wait_running_tasks(1000, || (smp::cpu_snapshot(MEASURED_CPU).timer_period_us != 0) == running);
    if done {
        Ok(())
    } else {
        Err(format!("CPU {MEASURED_CPU}: tick change not seen"))
    }
}

/// argv[0] of the measured program: tells it to read the cycle counter and leaves room for its result.
const CYCLES_ARGUMENT: &str = "bench-cycles:00000000000000000000";

/// The region's PMU cycles the program left in its argv[0].
fn cycles_left_by(process: &process::Process) -> Option<u64> {
    let bytes = process.read_argument(0, CYCLES_ARGUMENT.len())?;
    core::str::from_utf8(&bytes).ok()?.strip_prefix("bench-cycles:")?.parse().ok()
}

/// Runs one repetition of `scenario`: its processes (and kernel thread) until they all exited. Returns whether
/// the region measures the scenario (false: the peer process ran out of yields first) and its PMU cycles.
fn run_scenario(scenario: &Scenario) -> Result<(bool, u64), String> {
    let image = match scenario.peer {
        Peer::Urcu(_) => urcu_bench_image().ok_or("program urcu_bench is not embedded")?,
        _ => crate::user_programs::find("bench").ok_or("program bench is not embedded")?,
    };
    let iterations = scenario.iterations();
    let iterations_text = format!("{iterations}");
    let warmup_text = format!("{WARMUP}");
    let registration = if scenario.registered { "registered" } else { "unregistered" };
    let mode = match scenario.peer {
        Peer::Alone | Peer::Process | Peer::KernelThread => "yield",
        Peer::Thread => "threads",
        Peer::MembarrierOthers(_) => "membarrier",
        Peer::MembarrierBusy(_) => "membarrier-busy",
        Peer::Memory(mode) | Peer::Call(mode) | Peer::CrossCpu(mode) => mode,
        Peer::Urcu(_) => "",
    };
    let measured_cpu = CpuSet::single(MEASURED_CPU);
    let mut processes = Vec::new();
    if scenario.peer == Peer::Process {
        // The peer yields back until the measured process has surely finished: enough for every warm-up and
        // measured yield, plus the ones it makes alone while the measured program is being loaded.
        let peer_yields = format!("{}", 4 * (iterations + WARMUP) + 20_000);
        let argv = ["bench", "peer", peer_yields.as_str(), "0", registration];
        processes.push(process::spawn_process_with_affinity(image, &argv, Some(MEASURED_CPU), measured_cpu)?);
    }
    if scenario.peer == Peer::KernelThread {
        STOP_PEER_KERNEL_THREAD.store(false, Ordering::Relaxed);
        PEER_KERNEL_THREADS_RUNNING.fetch_add(1, Ordering::Relaxed);
        process::spawn_kernel_thread(peer_kernel_thread, 0, measured_cpu)
            .map_err(|error| format!("cannot start the peer kernel thread: {error:?}"))?;
    }
    let other_count = match scenario.peer {
        Peer::MembarrierOthers(count) | Peer::MembarrierBusy(count) | Peer::Urcu(count) => count,
        Peer::CrossCpu(_) => 1,
        _ => 0,
    };
    let others: Vec<String> = OTHER_CPUS[..other_count].iter().map(|cpu| format!("{cpu}")).collect();
    let mut argv: Vec<&str> = match scenario.peer {
        // urcu_bench N WARMUP [CPU...]: liburcu registers the mm itself.
        Peer::Urcu(_) => alloc::vec![CYCLES_ARGUMENT, iterations_text.as_str(), warmup_text.as_str()],
        _ => alloc::vec![CYCLES_ARGUMENT, mode, iterations_text.as_str(), warmup_text.as_str(), registration],
    };
    argv.extend(others.iter().map(String::as_str));
    let measured = process::spawn_process_with_affinity(image, &argv, Some(MEASURED_CPU), measured_cpu)?;
    let finished = wait_running_tasks(120_000, || measured.is_finished());
    let peer_outlived_region = processes.iter().all(|process| !process.is_finished());
    STOP_PEER_KERNEL_THREAD.store(true, Ordering::Relaxed);
    let others_finished = wait_running_tasks(120_000, || {
        processes.iter().all(|process| process.is_finished())
            && PEER_KERNEL_THREADS_RUNNING.load(Ordering::Acquire) == 0
    });
    if !finished || !others_finished {
        return Err("the bench processes did not finish".into());
    }
    match measured.exit_status() {
        0 => Ok((peer_outlived_region, cycles_left_by(&measured).unwrap_or(0))),
        status => Err(format!("bench exited with status {status}")),
    }
}

/// Runs every scenario [`repetitions`] times, then the litmus; returns the exit status (0: all ran).
pub fn run() -> i32 {
    if smp::online_count() < 4 {
        println!("bench: needs four CPUs, {} online", smp::online_count());
        return 1;
    }
    println!(
        "bench: barrier={} iterations={} repetitions={} measured_cpu={MEASURED_CPU}",
        arch_arm64::sched_arch::POST_SWITCH_BARRIER,
        iterations(),
        repetitions()
    );
    if let Err(error) = set_measured_cpu_tick(false) {
        println!("bench: {error}");
        return 1;
    }
    // EL0 reads of the cycle counter, on every core (the measured program and its peers may run anywhere).
    arch_arm64::cpu::enable_user_cycle_counter();
    for cpu in 1..smp::online_count() {
        if !smp::call_on(cpu, arch_arm64::cpu::enable_user_cycle_counter) {
            println!("bench: CPU {cpu}: mailbox busy, EL0 cycle counter not enabled there");
            return 1;
        }
    }
    wait_running_tasks(10, || false);
    let mut cycle_table: Vec<(&'static str, bool, u32, Vec<f64>)> = Vec::new();
    let mut region = 0u32;
    let mut status = 0;
    'scenarios: for scenario in SCENARIOS.iter().filter(|scenario| selected(scenario)) {
        if matches!(scenario.peer, Peer::Urcu(_)) && urcu_bench_image().is_none() {
            println!("bench: scenario={} skipped: {URCU_BENCH_PROGRAM} is not embedded (xtask builds it when liburcu can be fetched)", scenario.name);
            continue;
        }
        for repetition in 0..repetitions() {
            let (valid, cycles) = match run_scenario(scenario) {
                Ok(result) => result,
                Err(error) => {
                    println!("bench: scenario={} FAILED: {error}", scenario.name);
                    status = 1;
                    break 'scenarios;
                }
            };
            // A discarded region still ended, so it keeps its number; xtask skips it.
            println!(
                "bench: region={region} scenario={} mm={} n={} switches_per_iteration={} rep={repetition} cycles={cycles}{}",
                scenario.name,
                if scenario.registered { "registered" } else { "unregistered" },
                scenario.iterations(),
                scenario.switches_per_iteration(),
                if valid { "" } else { " discarded=peer-finished-first" }
            );
            if valid {
                let cycles = cycles as f64 / scenario.iterations() as f64;
                match cycle_table.iter_mut().find(|row| row.0 == scenario.name && row.1 == scenario.registered) {
                    Some(row) => row.3.push(cycles),
                    None => cycle_table.push((
                        scenario.name,
                        scenario.registered,
                        scenario.switches_per_iteration(),
                        alloc::vec![cycles],
                    )),
                }
            }
            region += 1;
        }
    }
    if let Err(error) = set_measured_cpu_tick(true) {
        println!("bench: {error}");
        status = 1;
    }
    println!("bench: regions={region}");
    print_cycle_table(&mut cycle_table);
    let litmus = litmus_iterations();
    if status == 0 && litmus > 0 {
        match crate::switching::run("membarrier", litmus, 1) {
            Ok(report) => println!("bench: litmus exit_status={}", report.exit_status),
            Err(error) => println!("bench: litmus could not run: {error}"),
        }
    }
    status
}

/// The same regions in PMU cycles (PMCCNTR_EL0): on hardware the figure that counts; under QEMU the counter
/// follows host time and is only indicative. Median over the repetitions, per iteration and per switch.
fn print_cycle_table(rows: &mut [(&'static str, bool, u32, Vec<f64>)]) {
    println!(
        "bench: PMU cycles (PMCCNTR_EL0), median of the repetitions, barrier {}",
        arch_arm64::sched_arch::POST_SWITCH_BARRIER
    );
    println!("bench:   scenario            | mm           | cycles / iteration | cycles / switch");
    for (name, registered, switches, samples) in rows.iter_mut() {
        samples.sort_by(f64::total_cmp);
        let median = samples[samples.len() / 2];
        let per_switch = if *switches > 0 { format!("{:.1}", median / *switches as f64) } else { String::from("n/a") };
        println!(
            "bench:   {name:<19} | {:<12} | {median:>18.1} | {per_switch:>15}",
            if *registered { "registered" } else { "unregistered" }
        );
    }
}
