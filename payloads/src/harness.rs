//! The in-kernel test harness: runs a list of tests, prints one line per test and a final
//! `N passed, N failed` line that xtask parses, and reports whether everything passed.

use alloc::string::String;

/// One in-kernel test: a name and a function that returns `Err(reason)` on failure.
pub struct Test {
    /// The name xtask reports.
    pub name: &'static str,
    /// The test itself.
    pub run: fn() -> Result<(), String>,
}

/// Runs `tests` in order on the calling core; returns true when all passed.
pub fn run_tests(suite: &str, tests: &[Test]) -> bool {
    kernel::println!("running {} tests ({suite})", tests.len());
    let (mut passed, mut failed) = (0usize, 0usize);
    for test in tests {
        let started = arch_arm64::cpu::now_ns();
        let outcome = (test.run)();
        let elapsed_ms = (arch_arm64::cpu::now_ns() - started) / 1_000_000;
        match outcome {
            Ok(()) => {
                passed += 1;
                kernel::println!("test {} ... ok ({elapsed_ms} ms)", test.name);
            }
            Err(reason) => {
                failed += 1;
                kernel::println!("test {} ... FAILED: {reason}", test.name);
            }
        }
    }
    kernel::println!("{passed} passed, {failed} failed");
    failed == 0
}
