//! Parsers for what decides pass or fail: the kernel console (the harness's `N passed, N failed` line, test
//! lines, litmus lines, the kernel fault report), `cargo test`'s result lines and the insn-counter plugin's
//! barrier-audit line. Pure functions on text, unit-tested with well-formed and malformed input, because a parser
//! that silently reads 0 of something would turn a failure into a pass.

use crate::{Barrier, RemovedBarrier};
use std::collections::BTreeMap;

/// The number right before `marker` in `text`, e.g. `12` in "ok. 12 passed; 0 failed".
fn number_before(text: &str, marker: &str) -> Option<u64> {
    let end = text.find(marker)?;
    let start = text[..end].rfind(|c: char| !c.is_ascii_digit()).map_or(0, |index| index + 1);
    text[start..end].parse().ok()
}

/// `key=value` words of `text`.
fn fields(text: &str) -> BTreeMap<&str, &str> {
    text.split_whitespace().filter_map(|word| word.split_once('=')).collect()
}

/// Passed and failed tests over every `test result:` line of `cargo test` output (one per test binary).
pub fn cargo_test_totals(stdout: &str) -> (u64, u64) {
    let (mut passed, mut failed) = (0, 0);
    for line in stdout.lines() {
        if let Some(rest) = line.strip_prefix("test result: ") {
            passed += number_before(rest, " passed").unwrap_or(0);
            failed += number_before(rest, " failed").unwrap_or(0);
        }
    }
    (passed, failed)
}

/// The kernel harness's final `N passed, N failed` line (kernel/src/harness.rs): the last such line.
pub fn harness_summary(console: &[String]) -> Option<(u64, u64)> {
    console.iter().rev().find_map(|line| {
        let (passed, failed) = line.trim().split_once(" passed, ")?;
        Some((passed.parse().ok()?, failed.strip_suffix(" failed")?.parse().ok()?))
    })
}

/// A console line `cargo xtask test` shows under the suite's label.
pub fn is_reported_line(line: &str) -> bool {
    line.starts_with("test ") || line.contains("passed, ") || is_litmus_line(line)
}

/// A line of the ordering tests that goes into the summary at the end.
pub fn is_litmus_line(line: &str) -> bool {
    line.starts_with("litmus:") || line.contains("skipped a switching CPU")
}

/// The result line of one litmus run (user/src/bin/litmus.rs):
/// `litmus: variant=<mode> iterations=<done> forbidden=<k> ... requested=<n> budget_ms=<ms>`.
#[derive(Debug, PartialEq, Eq)]
pub struct Litmus {
    pub variant: String,
    pub iterations: u64,
    pub forbidden: u64,
    /// The iterations asked for (the time budget may end a run before).
    pub requested: Option<u64>,
}

/// Parses a litmus result line, also one under a `[label] ` prefix; None for other `litmus:` lines (errors,
/// budget messages) and for lines missing a number.
pub fn parse_litmus(line: &str) -> Option<Litmus> {
    let (before, rest) = line.split_once("litmus: ")?;
    if !(before.is_empty() || before.ends_with("] ")) {
        return None;
    }
    let fields = fields(rest);
    let number = |key: &str| fields.get(key)?.parse::<u64>().ok();
    Some(Litmus {
        variant: fields.get("variant")?.to_string(),
        iterations: number("iterations")?,
        forbidden: number("forbidden")?,
        requested: number("requested"),
    })
}

/// For a litmus line whose time budget ended it early (`iterations=<done> ... requested=<n>` with done < n), says
/// so.
pub fn budget_note(litmus_line: &str) -> Option<String> {
    let litmus = parse_litmus(litmus_line)?;
    let requested = litmus.requested?;
    (litmus.iterations < requested).then(|| {
        format!("the time budget ended this run after {} of {requested} iterations (host busy)", litmus.iterations)
    })
}

/// The ordering test, the only test the BROKEN variant's suite may fail (when it sees the forbidden outcome).
const ORDERING_TEST_CAUGHT: &str =
    "test switching_user_kernel_user_litmus_with_membarrier ... FAILED: forbidden outcome observed";

/// What the BROKEN variant's suite showed. It is reported, never counted as a test: whether the litmus sees the
/// missing barrier depends on the host (on x86-TSO under TCG it does not), so it can neither pass nor fail.
#[derive(Debug, PartialEq, Eq)]
pub enum BrokenVariantRun {
    /// Every test passed, except possibly the ordering test because it saw forbidden outcomes.
    RanThrough {
        /// Tests that passed (each counts as a passed test).
        passed: u64,
        /// The ordering test saw forbidden outcomes.
        ordering_caught: bool,
        /// The ordering test's litmus line, when there is one.
        litmus: Option<Litmus>,
    },
    /// A hang, no summary line, or another test failed.
    DidNotRunThrough,
}

impl BrokenVariantRun {
    pub fn judge(console: &[String], timed_out: bool) -> Self {
        let ordering_caught = console.iter().any(|line| line.starts_with(ORDERING_TEST_CAUGHT));
        let litmus =
            console.iter().rev().filter_map(|line| parse_litmus(line)).find(|litmus| litmus.variant == "membarrier");
        match harness_summary(console) {
            Some((passed, failed)) if !timed_out && (failed == 0 || (failed == 1 && ordering_caught)) => {
                BrokenVariantRun::RanThrough { passed, ordering_caught, litmus }
            }
            _ => BrokenVariantRun::DidNotRunThrough,
        }
    }

    /// What the ordering test saw, in words (for the report line and the summary).
    pub fn observation(&self) -> Option<String> {
        let BrokenVariantRun::RanThrough { ordering_caught, litmus, .. } = self else { return None };
        let figures = litmus.as_ref().map_or(String::new(), |litmus| {
            format!(" ({} forbidden in {} iterations)", litmus.forbidden, litmus.iterations)
        });
        Some(if *ordering_caught {
            format!("the ordering test caught the missing barrier: forbidden outcomes observed{figures}")
        } else {
            format!(
                "the ordering test saw no forbidden outcome on this host{figures}; x86-TSO under TCG hides it, the \
                 barrier audit catches it"
            )
        })
    }
}

/// The deliberately faulting build's report: the panic line, the fault line with its address, and function
/// names from the ELF (xtask adds them): the faulting instruction is in the fault test (the arch's read is
/// inlined there), and the call chain passes through the kernel's main thread that called it.
pub fn kernel_fault_reported(console: &[String]) -> bool {
    let any = |matches: &dyn Fn(&str) -> bool| console.iter().any(|line| matches(line));
    any(&|line| line.contains("KERNEL PANIC"))
        && any(&|line| line.contains("kernel fault on CPU") && line.contains("FAR"))
        && any(&|line| line.contains("(ELR in") && line.contains("run_fault_test"))
        && any(&|line| line.contains("called from") && line.contains("main_thread"))
}

/// The stack-overflow fault build's report: the panic line, then its message naming the task whose kernel stack
/// overflowed.
pub fn kernel_stack_overflow_reported(console: &[String]) -> bool {
    let any = |matches: &dyn Fn(&str) -> bool| console.iter().any(|line| matches(line));
    any(&|line| line.contains("KERNEL PANIC")) && any(&|line| line.contains("kernel stack overflow in task"))
}

/// The plugin's barrier-audit line: (switches into a registered mm checked, those without a full barrier
/// before the first user instruction).
pub fn parse_barrier_audit(plugin_report: &str) -> Option<(u64, u64)> {
    plugin_report.lines().find_map(|line| {
        let fields = fields(line.strip_prefix("barrier-audit: ")?);
        let number = |key: &str| fields.get(key)?.parse::<u64>().ok();
        Some((number("checked")?, number("violations")?))
    })
}

/// Fewest switches into a user mm an audited demo must show for its verdict to mean something.
const AUDIT_MINIMUM_CHECKED: u64 = 1000;

/// The barrier audit's verdict for one variant: arm64 and generic must have a full barrier on every checked
/// switch; the BROKEN variant must be caught. `Err` holds the reason the test line shows, not an xtask error.
pub fn judge_barrier_audit(barrier: Barrier, checked: u64, violations: u64) -> Result<(), String> {
    match (barrier, violations) {
        _ if checked < AUDIT_MINIMUM_CHECKED => Err(format!("only {checked} switches checked")),
        (Barrier::NoneBroken, 0) => Err("the audit did not catch the BROKEN variant".to_string()),
        (Barrier::NoneBroken, _) | (_, 0) => Ok(()),
        (_, violations) => Err(format!("{violations} switches without the post-switch barrier")),
    }
}

/// The plugin's audit line of the point where `barrier` sits (`barrier-audit-exit-mm: ...`): (clearings of
/// the published mm checked, those without a full barrier since the last user access).
pub fn parse_clearing_audit(plugin_report: &str, barrier: RemovedBarrier) -> Option<(u64, u64)> {
    let prefix = format!("barrier-audit-{}: ", barrier.audit_point());
    plugin_report.lines().find_map(|line| {
        let fields = fields(line.strip_prefix(prefix.as_str())?);
        let number = |key: &str| fields.get(key)?.parse::<u64>().ok();
        Some((number("checked")?, number("violations")?))
    })
}

/// Fewest clearings an audited demo must show: task exits (the demo's processes have a dozen threads and more),
/// and the demo's `kthread_use_mm` adoptions (payloads/src/demo.rs, `ADOPTIONS`).
fn clearing_audit_minimum(barrier: RemovedBarrier) -> u64 {
    match barrier {
        RemovedBarrier::ExitMm => 10,
        RemovedBarrier::KthreadUnuseMm => 100,
    }
}

/// The verdict of the audit of the point where `barrier` sits: with the barrier in place (`removed` false)
/// every clearing must have a full barrier since the last user access; the BROKEN build without it must be
/// caught (at least one violation). `Err` holds the reason the test line shows.
pub fn judge_clearing_audit(
    barrier: RemovedBarrier,
    removed: bool,
    checked: u64,
    violations: u64,
) -> Result<(), String> {
    let point = barrier.audit_point();
    match (removed, violations) {
        _ if checked < clearing_audit_minimum(barrier) => Err(format!("only {checked} {point} clearings checked")),
        (true, 0) => Err(format!("the {point} audit did not catch the build without its barrier")),
        (true, _) | (false, 0) => Ok(()),
        (false, violations) => Err(format!("{violations} {point} clearings without a full barrier")),
    }
}

/// The user-fault reports (`user fault: ... killed: <fault> at pc <pc>`) that name a fault address although
/// their exception sets none (undefined instruction, breakpoint, trapped system register access, SP alignment):
/// the fault address register then holds an older fault's address, possibly another process's. Only aborts
/// and PC alignment faults have an address. An empty result over a console with reports is a pass.
pub fn fault_reports_with_stale_address(console: &[String]) -> Vec<&str> {
    console
        .iter()
        .filter_map(|line| {
            let report = line.split_once("user fault: ")?.1;
            let fault = report.split_once(" killed: ")?.1;
            let has_address = fault.contains("address");
            // Aborts, PC alignment faults, and demand faults that found no page frame (a translation fault)
            // have a fault address.
            let sets_address =
                fault.contains("abort") || fault.contains("PC alignment") || fault.starts_with("out of memory");
            (has_address && !sets_address).then_some(line.as_str())
        })
        .collect()
}

/// How many user-fault reports the console has (the stale-address check needs some to mean anything).
pub fn fault_report_count(console: &[String]) -> usize {
    console.iter().filter(|line| line.contains("user fault: ") && line.contains(" killed: ")).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(String::from).collect()
    }

    #[test]
    fn sums_cargo_test_result_lines() {
        let stdout =
            "running 3 tests\n...\ntest result: ok. 3 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; \
                      finished in 0.01s\n\ntest result: FAILED. 40 passed; 2 failed; 1 ignored\n";
        assert_eq!(cargo_test_totals(stdout), (43, 2));
        // Malformed or foreign lines count nothing (the exit status still fails the run).
        assert_eq!(cargo_test_totals("test result: ok. many passed; x failed\ntest foo ... ok\n"), (0, 0));
        assert_eq!(cargo_test_totals(""), (0, 0));
    }

    #[test]
    fn finds_the_harness_summary_line() {
        let console = lines(
            "running 2 tests (qemu-virt)\ntest a ... ok (1 ms)\nhello: 5 checks passed, 0 failed\n2 passed, 1 failed\n",
        );
        assert_eq!(harness_summary(&console), Some((2, 1)));
        // The last summary wins (the fault build prints none; a suite could print more than one).
        assert_eq!(harness_summary(&lines("1 passed, 0 failed\n30 passed, 0 failed\r")), Some((30, 0)));
    }

    #[test]
    fn rejects_malformed_summary_lines() {
        for text in [
            "",
            "hello: 5 checks passed, 0 failed",
            "x passed, 0 failed",
            "3 passed, y failed",
            "3 passed, 0 failed and more",
            "-3 passed, 0 failed",
            "3 passed,0 failed",
            "test a ... FAILED: 3 passed, 0 failed?",
        ] {
            assert_eq!(harness_summary(&lines(text)), None, "{text:?}");
        }
        // A truncated run: the user program's line must not pass for the kernel's summary.
        assert_eq!(harness_summary(&lines("test a ... ok\nmembarrier: 12 checks passed, 0 failed\n")), None);
    }

    #[test]
    fn selects_reported_and_litmus_lines() {
        assert!(is_reported_line("test ipi_every_pair ... ok (2 ms)"));
        assert!(is_reported_line("31 passed, 0 failed"));
        assert!(is_litmus_line("litmus: variant=control iterations=5 forbidden=1"));
        assert!(is_litmus_line("  membarrier callers skipped a switching CPU while it ran no user mm (K) 7 times"));
        assert!(!is_litmus_line("  litmus: indented is not a result line"));
        assert!(!is_reported_line("booting qemu-virt"));
    }

    #[test]
    fn parses_litmus_lines() {
        let line = "litmus: variant=membarrier iterations=1000000 forbidden=0 r1=1,r2=1:12 r1=1,r2=0:3 r1=0,r2=1:4 \
                    pairs=1 elapsed_ms=70000 requested=1000000 budget_ms=300000";
        let expected =
            Litmus { variant: "membarrier".into(), iterations: 1_000_000, forbidden: 0, requested: Some(1_000_000) };
        assert_eq!(parse_litmus(line), Some(expected));
        let labelled = format!("[qemu-virt/arm64/tests] {line}");
        assert_eq!(parse_litmus(&labelled).map(|litmus| litmus.iterations), Some(1_000_000));
        // The kernel's bench payload prints no `requested=`.
        let bench = parse_litmus("litmus: variant=membarrier iterations=100 forbidden=3").unwrap();
        assert_eq!((bench.forbidden, bench.requested), (3, None));
    }

    #[test]
    fn rejects_malformed_litmus_lines() {
        for line in [
            "litmus: the 3000 ms budget ran out after 10 of 1000000 iterations: too few to count",
            "litmus: cannot pin to cpu 3",
            "litmus: variant=control iterations=12x forbidden=0",
            "litmus: variant=control iterations=12 forbidden=",
            "litmus: iterations=12 forbidden=0",
            "litmus: variant=control forbidden=0",
            "xlitmus: variant=control iterations=1 forbidden=0",
            "variant=control iterations=1 forbidden=0",
        ] {
            assert_eq!(parse_litmus(line), None, "{line:?}");
        }
    }

    #[test]
    fn notes_litmus_runs_cut_by_the_budget() {
        let cut = "[qemu-virt/arm64/tests] litmus: variant=membarrier iterations=37119 forbidden=0 r1=1,r2=1:1 \
                   pairs=1 elapsed_ms=3031 requested=1000000 budget_ms=3000";
        assert_eq!(
            budget_note(cut).as_deref(),
            Some("the time budget ended this run after 37119 of 1000000 iterations (host busy)")
        );
        let full = "litmus: variant=control iterations=100000 forbidden=1063 pairs=1 requested=100000 budget_ms=120000";
        assert_eq!(budget_note(full), None);
        assert_eq!(budget_note("[rpi4/arm64/tests] membarrier callers skipped a switching CPU 12 times"), None);
        assert_eq!(budget_note("litmus: variant=membarrier iterations=5 forbidden=0 requested=lots"), None);
    }

    const BROKEN_LITMUS: &str = "litmus: variant=membarrier iterations=1000000 forbidden=0 pairs=1 \
                                 requested=1000000 budget_ms=300000";

    #[test]
    fn reports_the_broken_variant_without_counting_it() {
        let quiet = lines(&format!("test a ... ok (1 ms)\n{BROKEN_LITMUS}\n30 passed, 0 failed\n"));
        let run = BrokenVariantRun::judge(&quiet, false);
        let BrokenVariantRun::RanThrough { passed: 30, ordering_caught: false, litmus: Some(_) } = &run else {
            panic!("{run:?}")
        };
        assert!(run.observation().unwrap().contains("no forbidden outcome on this host (0 forbidden in 1000000"));

        let caught = lines(
            "litmus: variant=membarrier iterations=900 forbidden=2 requested=900\ntest \
             switching_user_kernel_user_litmus_with_membarrier ... FAILED: forbidden outcome observed (expected for \
             the BROKEN variant)\n29 passed, 1 failed\n",
        );
        let run = BrokenVariantRun::judge(&caught, false);
        assert!(matches!(run, BrokenVariantRun::RanThrough { passed: 29, ordering_caught: true, .. }), "{run:?}");
        assert_eq!(
            run.observation().unwrap(),
            "the ordering test caught the missing barrier: forbidden outcomes observed (2 forbidden in 900 iterations)"
        );
    }

    #[test]
    fn the_broken_variant_fails_when_it_does_not_run_through() {
        let other_failure = lines("test ipi ... FAILED: timeout\n29 passed, 1 failed\n");
        assert_eq!(BrokenVariantRun::judge(&other_failure, false), BrokenVariantRun::DidNotRunThrough);
        let two_failures = lines(&format!("{ORDERING_TEST_CAUGHT}\ntest ipi ... FAILED: x\n28 passed, 2 failed\n"));
        assert_eq!(BrokenVariantRun::judge(&two_failures, false), BrokenVariantRun::DidNotRunThrough);
        let hung = lines("30 passed, 0 failed\n");
        assert_eq!(BrokenVariantRun::judge(&hung, true), BrokenVariantRun::DidNotRunThrough);
        let no_summary = lines(&format!("test a ... ok\n{BROKEN_LITMUS}\nKERNEL PANIC on CPU 1: x\n"));
        assert_eq!(BrokenVariantRun::judge(&no_summary, false), BrokenVariantRun::DidNotRunThrough);
        assert_eq!(BrokenVariantRun::DidNotRunThrough.observation(), None);
    }

    #[test]
    fn recognises_the_kernel_stack_overflow_report() {
        let report = lines(
            "test kernel_stack_overflow_is_reported: recursing without bound in a kernel thread\nKERNEL PANIC on \
             CPU 0: panicked at kernel/src/process.rs:323:36:\nkernel stack overflow in task 5 (kernel thread) on \
             CPU 0: SP 0xffffffc000007f20 in the guard page, ELR 0xffffff8040200630, FAR 0xffffffc000007f38\n",
        );
        assert!(kernel_stack_overflow_reported(&report));
        assert!(!kernel_stack_overflow_reported(&report[..2]));
        assert!(!kernel_stack_overflow_reported(&report[2..]));
        assert!(!kernel_stack_overflow_reported(&lines("KERNEL PANIC on CPU 0: kernel fault\n")));
    }

    #[test]
    fn recognises_the_kernel_fault_report() {
        let report = lines(
            "KERNEL PANIC on CPU 0: kernel fault\nkernel fault on CPU 0: EC 0x25 ESR 0x96000005 ELR 0xffffff8040201000 \
             FAR 0x0 (ELR in kernel::fault_test::run_fault_test+0x10)\n  called from 0xffffff8040202000 \
             kernel::main_thread+0x40\n",
        );
        assert!(kernel_fault_reported(&report));
        // Each part is needed: no names from the ELF, or no fault line, is not a report.
        assert!(!kernel_fault_reported(&report[..2]));
        assert!(!kernel_fault_reported(&[report[0].clone(), report[2].clone()]));
        assert!(!kernel_fault_reported(&lines("KERNEL PANIC on CPU 0: \u{fffd}\u{fffd}\n")));
        assert!(!kernel_fault_reported(&[]));
    }

    #[test]
    fn parses_the_barrier_audit_line() {
        let report = "insn-counter: region=1 instructions=5 host_ns=9\nbarrier-audit: checked=4211 violations=0\n";
        assert_eq!(parse_barrier_audit(report), Some((4211, 0)));
        assert_eq!(parse_barrier_audit("barrier-audit: violations=3 checked=12 extra=x"), Some((12, 3)));
        for malformed in [
            "",
            "barrier-audit: checked=4211",
            "barrier-audit: checked=x violations=0",
            "barrier-audit: checked=-1 violations=0",
            " barrier-audit: checked=1 violations=0",
            "barrier-audit checked=1 violations=0",
        ] {
            assert_eq!(parse_barrier_audit(malformed), None, "{malformed:?}");
        }
    }

    #[test]
    fn parses_and_judges_the_clearing_audits() {
        let report = "barrier-audit: checked=4211 violations=0\n\
                      barrier-audit-exit-mm: checked=31 violations=0\n\
                      barrier-audit-kthread-unuse-mm: checked=100 violations=97\n";
        assert_eq!(parse_clearing_audit(report, RemovedBarrier::ExitMm), Some((31, 0)));
        assert_eq!(parse_clearing_audit(report, RemovedBarrier::KthreadUnuseMm), Some((100, 97)));
        assert_eq!(parse_clearing_audit("barrier-audit: checked=1 violations=0", RemovedBarrier::ExitMm), None);
        assert_eq!(parse_clearing_audit("barrier-audit-exit-mm: checked=x violations=0", RemovedBarrier::ExitMm), None);
        assert_eq!(judge_clearing_audit(RemovedBarrier::ExitMm, false, 31, 0), Ok(()));
        assert!(judge_clearing_audit(RemovedBarrier::ExitMm, false, 31, 1).is_err());
        assert_eq!(judge_clearing_audit(RemovedBarrier::ExitMm, true, 31, 5), Ok(()));
        assert!(judge_clearing_audit(RemovedBarrier::ExitMm, true, 31, 0).is_err());
        assert!(judge_clearing_audit(RemovedBarrier::ExitMm, false, 3, 0).is_err());
        assert!(judge_clearing_audit(RemovedBarrier::KthreadUnuseMm, true, 50, 50).is_err());
        assert_eq!(judge_clearing_audit(RemovedBarrier::KthreadUnuseMm, true, 100, 100), Ok(()));
    }

    #[test]
    fn judges_the_barrier_audit() {
        assert_eq!(judge_barrier_audit(Barrier::Arm64, 4000, 0), Ok(()));
        assert_eq!(judge_barrier_audit(Barrier::Generic, 4000, 0), Ok(()));
        assert!(judge_barrier_audit(Barrier::Arm64, 4000, 1).is_err());
        assert_eq!(judge_barrier_audit(Barrier::NoneBroken, 4000, 3990), Ok(()));
        assert!(judge_barrier_audit(Barrier::NoneBroken, 4000, 0).is_err());
        // Too few switches say nothing, whatever the variant.
        assert!(judge_barrier_audit(Barrier::Arm64, 999, 0).is_err());
        assert!(judge_barrier_audit(Barrier::NoneBroken, 10, 10).is_err());
    }

    #[test]
    fn fault_reports_name_an_address_only_for_exceptions_that_set_one() {
        let console: Vec<String> = [
            "user fault: task 9 (process 9 'faults') killed: data abort (read, translation fault), address 0x0 at pc 0x2100",
            "user fault: task 10 (process 10 'faults') killed: undefined instruction at pc 0x2104",
            "user fault: task 11 (process 11 'faults') killed: instruction abort (permission fault), address 0xffffff8040200000 at pc 0xffffff8040200000",
            "user fault: task 12 (process 12 'faults') killed: PC alignment fault, address 0x2102 at pc 0x2102",
            "user fault: task 50 (process 50 'vm') killed: out of memory (no page frame for address 0x7f3d15e000) at pc 0x21244c",
            "hello",
        ]
        .map(String::from)
        .to_vec();
        assert!(fault_reports_with_stale_address(&console).is_empty());
        assert_eq!(fault_report_count(&console), 5);
        // What the kernel printed before the fault address was read only for aborts.
        let stale = vec![String::from(
            "user fault: task 10 (process 10 'faults') killed: unknown reason (undefined instruction) at pc 0x2104, address 0x0",
        )];
        assert_eq!(fault_reports_with_stale_address(&stale).len(), 1);
        let breakpoint = vec![String::from(
            "user fault: task 3 (process 3 'x') killed: breakpoint instruction, address 0x10 at pc 0x1",
        )];
        assert_eq!(fault_reports_with_stale_address(&breakpoint).len(), 1);
    }
}
