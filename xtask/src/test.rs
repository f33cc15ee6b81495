//! `cargo xtask test` (what CI runs) and `cargo xtask check`.

use crate::qemu::{Outcome, QemuRun};
use crate::{build, workspace_root, Barrier, Board, Payload, VariantArgs};
use std::process::Command;
use std::time::Instant;

/// What a QEMU run must show to pass.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Exit status 0 and a final `N passed, 0 failed` line from the in-kernel harness.
    SuitePasses,
    /// The deliberately faulting build: a failure status and the kernel fault report.
    KernelFaultReported,
}

struct Suite {
    variant: VariantArgs,
    payload: Payload,
    expect: Expect,
    timeout_secs: u64,
}

#[derive(Default)]
struct Totals {
    passed: u64,
    failed: u64,
    failures: Vec<String>,
}

/// Host tests, then every QEMU suite; one summary line at the end. Fails if anything failed.
pub fn run_all(_long: bool) -> Result<(), String> {
    let started = Instant::now();
    let mut totals = Totals::default();
    run_host_tests(&mut totals)?;
    let variant = |board, barrier| VariantArgs { board, barrier, release: false };
    let suites = [
        Suite {
            variant: variant(Board::QemuVirt, Barrier::Arm64),
            payload: Payload::Tests,
            expect: Expect::SuitePasses,
            timeout_secs: 300,
        },
        Suite {
            variant: variant(Board::QemuVirt, Barrier::Generic),
            payload: Payload::Tests,
            expect: Expect::SuitePasses,
            timeout_secs: 300,
        },
        Suite {
            variant: variant(Board::QemuVirt, Barrier::Arm64),
            payload: Payload::Fault,
            expect: Expect::KernelFaultReported,
            timeout_secs: 60,
        },
        // The same suites on QEMU raspi4b: BCM2711 memory map, spin-table bring-up, GIC-400, kernel8.img.
        Suite {
            variant: variant(Board::Rpi4, Barrier::Arm64),
            payload: Payload::Tests,
            expect: Expect::SuitePasses,
            timeout_secs: 300,
        },
        Suite {
            variant: variant(Board::Rpi4, Barrier::Generic),
            payload: Payload::Tests,
            expect: Expect::SuitePasses,
            timeout_secs: 300,
        },
        Suite {
            variant: variant(Board::Rpi4, Barrier::Arm64),
            payload: Payload::Fault,
            expect: Expect::KernelFaultReported,
            timeout_secs: 60,
        },
    ];
    for suite in &suites {
        run_qemu_suite(suite, &mut totals)?;
    }
    println!();
    for failure in &totals.failures {
        println!("FAILED: {failure}");
    }
    println!(
        "all tests: {} passed, {} failed ({:.0} s)",
        totals.passed,
        totals.failed,
        started.elapsed().as_secs_f64()
    );
    if totals.failed == 0 {
        Ok(())
    } else {
        Err(format!("{} test(s) failed", totals.failed))
    }
}

fn run_host_tests(totals: &mut Totals) -> Result<(), String> {
    eprintln!("==> host tests: cargo test (core-sched, xtask)");
    let output = Command::new(env!("CARGO"))
        .current_dir(workspace_root())
        .args(["test", "--quiet"])
        .output()
        .map_err(|error| format!("cannot run cargo test: {error}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    print!("{stdout}");
    let (mut passed, mut failed) = (0u64, 0u64);
    for line in stdout.lines() {
        if let Some(rest) = line.strip_prefix("test result: ") {
            passed += number_before(rest, " passed").unwrap_or(0);
            failed += number_before(rest, " failed").unwrap_or(0);
        }
    }
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

/// The number right before `marker` in `text`, e.g. `12` in "ok. 12 passed; 0 failed".
fn number_before(text: &str, marker: &str) -> Option<u64> {
    let end = text.find(marker)?;
    let start = text[..end].rfind(|c: char| !c.is_ascii_digit()).map_or(0, |index| index + 1);
    text[start..end].parse().ok()
}

/// The kernel harness's final `N passed, N failed` line.
fn harness_summary(outcome: &Outcome) -> Option<(u64, u64)> {
    outcome.console.iter().rev().find_map(|line| {
        let passed = number_before(line, " passed, ")?;
        let failed = number_before(line, " failed")?;
        Some((passed, failed))
    })
}

fn run_qemu_suite(suite: &Suite, totals: &mut Totals) -> Result<(), String> {
    let image = build(suite.variant, suite.payload)?;
    let label = format!("{}/{}/{}", suite.variant.board.name(), suite.variant.barrier.name(), suite.payload.name());
    let run = QemuRun { board: suite.variant.board, smp: 4, gdb: false, timeout_secs: suite.timeout_secs, echo: false };
    let outcome = run.run(&image)?;
    for line in outcome.console.iter().filter(|line| line.starts_with("test ") || line.contains("passed, ")) {
        println!("  [{label}] {line}");
    }
    match suite.expect {
        Expect::SuitePasses => {
            let summary = harness_summary(&outcome);
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
        Expect::KernelFaultReported => {
            let reported = outcome.console.iter().any(|line| line.contains("KERNEL PANIC"))
                && outcome.console.iter().any(|line| line.contains("kernel fault on CPU") && line.contains("FAR"));
            let failed_status = !outcome.timed_out && outcome.exit_code.is_some_and(|code| code != 0);
            if reported && failed_status {
                totals.passed += 1;
                println!("  [{label}] test kernel_fault_ends_run_with_report ... ok (exit {:?})", outcome.exit_code);
            } else {
                totals.failed += 1;
                totals.failures.push(format!(
                    "{label}: expected a kernel fault report and a failure status, got exit {:?}\n{}",
                    outcome.exit_code,
                    outcome.tail(25)
                ));
            }
        }
    }
    Ok(())
}

fn cargo_step(description: &str, arguments: &[&str]) -> Result<(), String> {
    eprintln!("==> {description}: cargo {}", arguments.join(" "));
    let status = Command::new(env!("CARGO"))
        .current_dir(workspace_root())
        .args(arguments)
        .status()
        .map_err(|error| format!("cannot run cargo: {error}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{description} failed"))
    }
}

/// Formatting and lints for the host crates and the kernel target.
pub fn check() -> Result<(), String> {
    crate::setup::ensure_rust_target()?;
    cargo_step("formatting", &["fmt", "--all", "--check"])?;
    cargo_step("clippy (host crates)", &["clippy", "--all-targets", "--", "-D", "warnings"])?;
    cargo_step(
        "clippy (kernel target)",
        &[
            "clippy",
            "--target",
            crate::KERNEL_TARGET,
            "--package",
            "board-qemu-virt",
            "--package",
            "board-rpi4",
            "--package",
            "kernel",
            "--package",
            "arch-arm64",
            "--package",
            "core-sched",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    // The real-board build of rpi4 compiles a different `finish` (print and park instead of semihosting).
    cargo_step(
        "clippy (rpi4 hardware build)",
        &[
            "clippy",
            "--target",
            crate::KERNEL_TARGET,
            "--package",
            "board-rpi4",
            "--features",
            "hardware",
            "--",
            "-D",
            "warnings",
        ],
    )
}
