//! `cargo xtask test`: what CI runs. Host tests, the in-kernel suites under QEMU and the barrier audits; the
//! verdicts come from the parsers in `console`.

use crate::console::{self, BrokenVariantRun};
use crate::qemu::QemuRun;
use crate::{workspace_root, Barrier, Board, KernelBuild, Payload, RemovedBarrier, VariantArgs};
use anyhow::{bail, Result};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// What a QEMU run must show to pass.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Exit status 0 and a final `N passed, 0 failed` line from the in-kernel harness.
    SuitePasses,
    /// The deliberately faulting build: a failure status and the kernel fault report.
    KernelFaultReported,
    /// The faulting build with `KERNEL_FAULT_KIND=stack-overflow`: a failure status and the stack overflow report.
    KernelStackOverflowReported,
    /// The BROKEN barrier variant: every test but the ordering one must pass; the ordering result is reported.
    BrokenVariantRuns,
    /// The demo, what `cargo xtask qemu` runs (a debug build by default): exit status 0 and no kernel panic.
    DemoRuns,
}

struct Suite {
    variant: VariantArgs,
    payload: Payload,
    expect: Expect,
    timeout_secs: u64,
    /// Litmus iterations per switching CPU (compiled into the kernel through KERNEL_LITMUS_ITERATIONS); None
    /// for builds that run no litmus.
    litmus_iterations: Option<u64>,
}

#[derive(Default)]
struct Totals {
    passed: u64,
    failed: u64,
    failures: Vec<String>,
    /// The litmus result lines of every suite, for the summary.
    litmus_lines: Vec<String>,
}

/// Litmus iterations of the debug demo's run: it checks that the debug kernel runs the demo, not the ordering
/// (the release suites do that with a million).
const DEBUG_DEMO_LITMUS_ITERATIONS: u64 = 20_000;

/// The litmus time budget of a default (not `--long`) run, in milliseconds.
const DEFAULT_LITMUS_BUDGET_MS: u64 = 300_000;

/// Host tests, then every QEMU suite (with the real-program suite when `linux_programs`); one summary line at
/// the end. Fails if anything failed.
pub fn run_all(long: bool, linux_programs: bool) -> Result<()> {
    let started = Instant::now();
    let mut totals = Totals::default();
    run_host_tests(&mut totals)?;
    run_barrier_mutants(&mut totals);
    // Release builds: the switching litmus runs a million iterations per variant, about 1 minute each.
    let variant = |board, barrier| VariantArgs { board, barrier, release: true };
    let virt_iterations = if long { 10_000_000 } else { 1_000_000 };
    let rpi4_iterations = if long { 1_000_000 } else { 250_000 };
    // Every litmus iteration is a handshake between spinning vCPUs: on a host with fewer free cores than busy
    // vCPUs (another job running) it slows down 30-40 times. The budget bounds each litmus run; it then counts
    // the iterations it got through (and fails below 2% of them). A quiet two-core host needs about 70 s for a
    // million iterations on virt, so the budget (4x that) only cuts a run on a busy host.
    // Every kernel build of the run gets it (the demo of the audits runs the switching litmus too).
    let litmus_budget_ms: u64 = if long { 1_200_000 } else { DEFAULT_LITMUS_BUDGET_MS };
    let suite = |board, barrier, payload, expect, litmus_iterations| Suite {
        variant: variant(board, barrier),
        payload,
        expect,
        timeout_secs: if long { 3600 } else { 900 },
        litmus_iterations,
    };
    // `cargo xtask qemu` as a user first runs it: the debug build (its larger frames must fit the kernel stacks).
    let debug_demo = Suite {
        variant: VariantArgs { board: Board::QemuVirt, barrier: Barrier::Arm64, release: false },
        ..suite(Board::QemuVirt, Barrier::Arm64, Payload::Demo, Expect::DemoRuns, Some(DEBUG_DEMO_LITMUS_ITERATIONS))
    };
    let suites = [
        debug_demo,
        suite(Board::QemuVirt, Barrier::Arm64, Payload::Tests, Expect::SuitePasses, Some(virt_iterations)),
        suite(Board::QemuVirt, Barrier::Generic, Payload::Tests, Expect::SuitePasses, Some(virt_iterations)),
        // The deliberately BROKEN variant: the same suite without a post-switch barrier; what its litmus shows is
        // reported below (and its teeth are checked by the barrier audit).
        suite(Board::QemuVirt, Barrier::NoneBroken, Payload::Tests, Expect::BrokenVariantRuns, Some(virt_iterations)),
        suite(Board::QemuVirt, Barrier::Arm64, Payload::Fault, Expect::KernelFaultReported, None),
        suite(Board::QemuVirt, Barrier::Arm64, Payload::Fault, Expect::KernelStackOverflowReported, None),
        // The same suites on QEMU raspi4b: BCM2711 memory map, spin-table bring-up, GIC-400, kernel8.img.
        suite(Board::Rpi4, Barrier::Arm64, Payload::Tests, Expect::SuitePasses, Some(rpi4_iterations)),
        suite(Board::Rpi4, Barrier::Generic, Payload::Tests, Expect::SuitePasses, Some(rpi4_iterations)),
        suite(Board::Rpi4, Barrier::Arm64, Payload::Fault, Expect::KernelFaultReported, None),
        suite(Board::Rpi4, Barrier::Arm64, Payload::Fault, Expect::KernelStackOverflowReported, None),
    ];
    for suite in &suites {
        run_qemu_suite(suite, litmus_budget_ms, &mut totals)?;
    }
    run_barrier_audits(litmus_budget_ms, &mut totals)?;
    if linux_programs {
        let summary = crate::linux_programs::run_suite(&crate::linux_programs::Options::default())?;
        totals.passed += summary.passed;
        totals.failed += summary.failed;
        totals.failures.extend(summary.failures);
    }
    println!();
    println!("ordering (store-buffering litmus, user -> kernel thread -> user switching):");
    for line in &totals.litmus_lines {
        println!("  {line}");
        if let Some(note) = console::budget_note(line) {
            println!("    note: {note}");
        }
    }
    for failure in &totals.failures {
        println!("FAILED: {failure}");
    }
    println!(
        "all tests: {} passed, {} failed ({:.0} s)",
        totals.passed,
        totals.failed,
        started.elapsed().as_secs_f64()
    );
    if totals.failed > 0 {
        bail!("{} test(s) failed", totals.failed);
    }
    Ok(())
}

/// `cargo xtask test --audits-only`: the barrier audits alone, with the default run's litmus budget.
pub fn run_audits_only() -> Result<()> {
    let started = Instant::now();
    let mut totals = Totals::default();
    run_barrier_audits(DEFAULT_LITMUS_BUDGET_MS, &mut totals)?;
    for failure in &totals.failures {
        println!("FAILED: {failure}");
    }
    println!(
        "barrier audits: {} passed, {} failed ({:.0} s)",
        totals.passed,
        totals.failed,
        started.elapsed().as_secs_f64()
    );
    if totals.failed > 0 {
        bail!("{} audit(s) failed", totals.failed);
    }
    Ok(())
}

/// The seed of the tests payload's system-call fuzzer (`fuzz_leaves_the_kernel_intact`), a build setting:
/// KERNEL_FUZZ_SEED from the environment to repeat a run, else one derived from the time, so that every run
/// fuzzes differently. One per xtask run, printed with the commands that reproduce it.
pub fn fuzz_seed() -> u64 {
    static SEED: OnceLock<u64> = OnceLock::new();
    *SEED.get_or_init(|| {
        let given = std::env::var("KERNEL_FUZZ_SEED").ok().and_then(|text| text.parse().ok());
        let seed = given.unwrap_or_else(|| {
            SystemTime::now().duration_since(UNIX_EPOCH).map_or(1, |since| since.as_micros() as u64)
        });
        let origin = if given.is_some() { "from KERNEL_FUZZ_SEED" } else { "from the time" };
        eprintln!(
            "==> system-call fuzz seed {seed} ({origin}); to repeat it: KERNEL_FUZZ_SEED={seed} cargo xtask ..., \
             or alone: cargo xtask qemu --user 'fuzz {seed}'"
        );
        seed
    })
}

/// `cargo xtask mutants --barriers` (about 15 s: one test binary, one run per barrier site), one test in the
/// totals.
fn run_barrier_mutants(totals: &mut Totals) {
    eprintln!("==> barrier mutants: each full barrier of core-sched removed in turn must be caught");
    match crate::mutants::barriers() {
        Ok(()) => totals.passed += 1,
        Err(error) => {
            totals.failed += 1;
            totals.failures.push(format!("barrier mutants: {error:#}"));
        }
    }
}

fn run_host_tests(totals: &mut Totals) -> Result<()> {
    eprintln!("==> host tests: cargo test (abi, core-sched, xtask)");
    let output =
        crate::command::output(Command::new(env!("CARGO")).current_dir(workspace_root()).args(["test", "--quiet"]))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    print!("{stdout}");
    let (passed, mut failed) = console::cargo_test_totals(&stdout);
    if !output.status.success() {
        eprint!("{}", String::from_utf8_lossy(&output.stderr));
        failed = failed.max(1);
        totals.failures.push("host tests (cargo test)".into());
    }
    eprintln!("    host tests: {passed} passed, {failed} failed");
    totals.passed += passed;
    totals.failed += failed;
    Ok(())
}

fn run_qemu_suite(suite: &Suite, litmus_budget_ms: u64, totals: &mut Totals) -> Result<()> {
    let mut build =
        KernelBuild::new(suite.variant, suite.payload).with_setting("KERNEL_LITMUS_BUDGET_MS", litmus_budget_ms);
    if let Some(iterations) = suite.litmus_iterations {
        build = build.with_setting("KERNEL_LITMUS_ITERATIONS", iterations);
    }
    if suite.payload == Payload::Tests {
        build = build.with_setting("KERNEL_FUZZ_SEED", fuzz_seed());
    }
    let mut payload_name = suite.payload.name().to_string();
    if suite.expect == Expect::KernelStackOverflowReported {
        build = build.with_setting("KERNEL_FAULT_KIND", "stack-overflow");
        payload_name.push_str("-stack-overflow");
    }
    let image = build.build()?;
    let label = format!("{}/{}/{payload_name}", suite.variant.board.name(), suite.variant.barrier.name());
    let run = QemuRun {
        board: suite.variant.board,
        smp: 4,
        gdb: false,
        timeout_secs: suite.timeout_secs,
        echo: false,
        extra_arguments: Vec::new(),
    };
    let outcome = run.run(&image)?;
    for line in outcome.console.iter().filter(|line| console::is_reported_line(line)) {
        println!("  [{label}] {line}");
    }
    for line in outcome.console.iter().filter(|line| console::is_litmus_line(line)) {
        totals.litmus_lines.push(format!("[{label}] {}", line.trim()));
    }
    match suite.expect {
        Expect::BrokenVariantRuns => {
            // Reported, not counted: the kernel tests that passed count, the ordering result is information.
            let run = BrokenVariantRun::judge(&outcome.console, outcome.timed_out);
            match (&run, run.observation()) {
                (BrokenVariantRun::RanThrough { passed, .. }, Some(observation)) => {
                    totals.passed += passed;
                    println!("  [{label}] BROKEN variant (reported, not counted as a test): {observation}");
                    totals.litmus_lines.push(format!("[{label}] BROKEN variant: {observation}"));
                }
                _ => {
                    totals.failed += 1;
                    totals
                        .failures
                        .push(format!("{label}: the BROKEN variant's suite did not run through\n{}", outcome.tail(25)));
                }
            }
        }
        Expect::SuitePasses => {
            // The user-fault tests make the kernel print kill reports: none may name a fault address the
            // exception did not set (a stale one, possibly another process's).
            let stale = console::fault_reports_with_stale_address(&outcome.console);
            let reports = console::fault_report_count(&outcome.console);
            if stale.is_empty() && reports > 0 {
                totals.passed += 1;
                println!("  [{label}] test fault_reports_name_an_address_only_for_aborts ... ok ({reports} reports)");
            } else {
                totals.failed += 1;
                let why = if reports == 0 { "no user-fault report to check".to_string() } else { stale.join("\n") };
                totals.failures.push(format!("{label}: fault_reports_name_an_address_only_for_aborts: {why}"));
            }
            let summary = console::harness_summary(&outcome.console);
            let (passed, failed) = summary.unwrap_or((0, 0));
            totals.passed += passed;
            totals.failed += failed;
            let clean_exit = !outcome.timed_out && outcome.exit_code == Some(0);
            if summary.is_none() || !clean_exit || failed > 0 {
                if failed == 0 {
                    totals.failed += 1;
                }
                let why = if outcome.timed_out {
                    "hung".to_string()
                } else if summary.is_none() {
                    format!("no summary line, exit {:?}", outcome.exit_code)
                } else {
                    format!("{failed} failed, exit {:?}", outcome.exit_code)
                };
                totals.failures.push(format!("{label}: {why}\n{}", outcome.tail(25)));
            }
        }
        Expect::DemoRuns => {
            let panicked = outcome.console.iter().any(|line| line.contains("KERNEL PANIC"));
            if !outcome.timed_out && outcome.exit_code == Some(0) && !panicked {
                totals.passed += 1;
                println!("  [{label}] test debug_kernel_runs_the_demo ... ok");
            } else {
                totals.failed += 1;
                totals.failures.push(format!(
                    "{label}: debug_kernel_runs_the_demo: exit {:?}{}\n{}",
                    outcome.exit_code,
                    if outcome.timed_out { " (hung)" } else { "" },
                    outcome.tail(25)
                ));
            }
        }
        Expect::KernelFaultReported | Expect::KernelStackOverflowReported => {
            let (reported, test_name) = if suite.expect == Expect::KernelFaultReported {
                (console::kernel_fault_reported(&outcome.console), "kernel_fault_ends_run_with_report")
            } else {
                (console::kernel_stack_overflow_reported(&outcome.console), "kernel_stack_overflow_is_reported")
            };
            let failed_status = !outcome.timed_out && outcome.exit_code.is_some_and(|code| code != 0);
            if reported && failed_status {
                totals.passed += 1;
                println!("  [{label}] test {test_name} ... ok (exit {:?})", outcome.exit_code);
            } else {
                totals.failed += 1;
                totals.failures.push(format!(
                    "{label}: expected the {test_name} report and a failure status, got exit {:?}\n{}",
                    outcome.exit_code,
                    outcome.tail(25)
                ));
            }
        }
    }
    Ok(())
}

/// The barrier audit: boots the demo (processes, threads, a kernel thread adopting a process's mm, and the
/// T1 -> K -> T2 switching workload) of each barrier variant under the insn-counter plugin with `audit=on`,
/// which checks on the real code paths the three publication points with a hardware-visible window:
/// - a switch into a registered user mm: a full barrier between the publication (the kernel's `hint #0x62`)
///   and the first EL0 instruction (the post-switch hook);
/// - task exit and `kthread_unuse_mm`: a full barrier between the last user access (the last EL0 instruction,
///   or the end of `kthread_use_mm`, `hint #0x65`) and the clearing of the published mm (`hint #0x63`,
///   `hint #0x64`).
///
/// The arm64 and generic variants must pass every check. Each BROKEN build (no post-switch barrier; no exit
/// barrier; no `kthread_unuse_mm` barrier) must be caught by the audit of its own point, and pass the others.
fn run_barrier_audits(litmus_budget_ms: u64, totals: &mut Totals) -> Result<()> {
    let plugin = crate::compare::build_plugin()?;
    let runs = [
        (Barrier::Arm64, None),
        (Barrier::Generic, None),
        (Barrier::NoneBroken, None),
        (Barrier::Arm64, Some(RemovedBarrier::ExitMm)),
        (Barrier::Arm64, Some(RemovedBarrier::KthreadUnuseMm)),
    ];
    for (barrier, removed) in runs {
        let variant = VariantArgs { board: Board::QemuVirt, barrier, release: true };
        let mut build =
            KernelBuild::new(variant, Payload::Demo).with_setting("KERNEL_LITMUS_BUDGET_MS", litmus_budget_ms);
        let mut name = barrier.name().to_string();
        if let Some(removed) = removed {
            // Only the exits and adoptions of the demo: the switching workload (and its switch audit) is the
            // other runs' business, and would double the time of these.
            build = build.without_barrier(removed).with_setting("KERNEL_DEMO_SWITCHING", "off");
            name = format!("{}-BROKEN", removed.feature());
        }
        let image = build.build()?;
        let label = format!("qemu-virt/{name}/audit");
        let report = workspace_root().join("out").join(format!("barrier-audit-{name}.txt"));
        let _ = std::fs::remove_file(&report);
        let run = QemuRun {
            board: Board::QemuVirt,
            smp: 4,
            gdb: false,
            timeout_secs: 600,
            echo: false,
            extra_arguments: vec![
                "-plugin".into(),
                format!("{},outfile={},audit=on", plugin.display(), report.display()),
            ],
        };
        let outcome = run.run(&image)?;
        let text = std::fs::read_to_string(&report).unwrap_or_default();
        let failed_run = match outcome.exit_code {
            Some(0) => None,
            status => Some(format!("the demo exited with {status:?}\n{}", outcome.tail(40))),
        };
        if let Some(why) = failed_run {
            record_audit(totals, &label, "barrier_audit_demo_runs", Err(why));
            continue;
        }
        // The switch audit (the runs without the switching workload have too few switches for a verdict).
        if removed.is_none() {
            let result = match console::parse_barrier_audit(&text) {
                None => Err(format!("no audit report from the plugin\n{}", outcome.tail(40))),
                Some((checked, violations)) => {
                    let line = format!("[{label}] barrier audit: {checked} switches into a user mm checked, {violations} without a full barrier before the first user instruction");
                    println!("  {line}");
                    totals.litmus_lines.push(line);
                    console::judge_barrier_audit(barrier, checked, violations)
                }
            };
            let test_name = if barrier == Barrier::NoneBroken {
                "barrier_audit_catches_missing_barrier"
            } else {
                "barrier_audit_finds_barrier_on_every_switch"
            };
            record_audit(totals, &label, test_name, result);
        }
        for point in [RemovedBarrier::ExitMm, RemovedBarrier::KthreadUnuseMm] {
            let is_removed = removed == Some(point);
            let result = match console::parse_clearing_audit(&text, point) {
                None => Err(format!("no {} audit line from the plugin", point.audit_point())),
                Some((checked, violations)) => {
                    let line = format!("[{label}] barrier audit: {checked} {} clearings of the published mm checked, {violations} without a full barrier since the last user access", point.audit_point());
                    println!("  {line}");
                    totals.litmus_lines.push(line);
                    console::judge_clearing_audit(point, is_removed, checked, violations)
                }
            };
            let test_name = match (point, is_removed) {
                (RemovedBarrier::ExitMm, true) => "barrier_audit_catches_missing_exit_mm_barrier",
                (RemovedBarrier::ExitMm, false) => "barrier_audit_finds_barrier_before_every_exit_mm_clearing",
                (RemovedBarrier::KthreadUnuseMm, true) => "barrier_audit_catches_missing_kthread_unuse_mm_barrier",
                (RemovedBarrier::KthreadUnuseMm, false) => {
                    "barrier_audit_finds_barrier_before_every_kthread_unuse_mm_clearing"
                }
            };
            record_audit(totals, &label, test_name, result);
        }
    }
    Ok(())
}

/// Counts one audit verdict and prints its test line.
fn record_audit(totals: &mut Totals, label: &str, test_name: &str, result: Result<(), String>) {
    match result {
        Ok(()) => {
            totals.passed += 1;
            println!("  [{label}] test {test_name} ... ok");
        }
        Err(why) => {
            totals.failed += 1;
            println!("  [{label}] test {test_name} ... FAILED: {why}");
            totals.failures.push(format!("{label}: {why}"));
        }
    }
}
