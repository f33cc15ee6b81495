//! `cargo xtask mutants --barriers`: removes each full barrier of core-sched in turn and shows which host test
//! catches the removal.
//!
//! Every barrier call site names itself (`core-sched/src/barrier.rs`, `BarrierSite`); in a test build the
//! wrapper skips the site `CORE_SCHED_REMOVED_BARRIER` names. So the test binary is built once and run once per
//! site, about a tenth of a second each, instead of one rebuild per mutant.

use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::process::Command;

use crate::workspace_root;

/// The environment variable core-sched's test build reads (tests/barrier_mutant.rs).
const REMOVED_BARRIER_VARIABLE: &str = "CORE_SCHED_REMOVED_BARRIER";

/// The test that prints the site list (`barrier-site <name> | <litmus>` lines).
const SITE_LIST_TEST: &str = "tests::barrier_mutant::list_barrier_sites";

/// Tests the mutants do not run: the randomized reference-count property test takes about 20 s and checks
/// only reference counts and frees, never an arch call's order, so it cannot see a barrier.
const SKIPPED_TESTS: &[&str] = &["tests::property"];

/// One barrier site and the outcome of the run without it.
struct Mutant {
    site: String,
    litmus: String,
    caught_by: Vec<String>,
}

/// Builds core-sched's test binary once, runs it without any removal (it must pass), then once per barrier site
/// with that site removed, prints the table and fails if a removal went unnoticed.
pub fn barriers() -> Result<()> {
    let binary = build_test_binary()?;
    let sites = list_sites(&binary)?;
    eprintln!("==> {} barrier sites; baseline run with every barrier in place", sites.len());
    let baseline = failing_tests(&binary, None)?;
    if !baseline.is_empty() {
        bail!("core-sched's tests fail with every barrier in place: {}", baseline.join(", "));
    }
    let mut mutants = Vec::new();
    for (site, litmus) in sites {
        let caught_by = failing_tests(&binary, Some(&site))?;
        mutants.push(Mutant { site, litmus, caught_by });
    }
    print_table(&mutants);
    let missed: Vec<&str> =
        mutants.iter().filter(|mutant| mutant.caught_by.is_empty()).map(|mutant| mutant.site.as_str()).collect();
    if !missed.is_empty() {
        bail!("{} of {} barrier removals went unnoticed: {}", missed.len(), mutants.len(), missed.join(", "));
    }
    println!("barrier mutants: all {} removals caught", mutants.len());
    Ok(())
}

/// `cargo test -p core-sched --no-run`, and the path of the unit-test binary it reports.
fn build_test_binary() -> Result<PathBuf> {
    let output = crate::command::output(Command::new(env!("CARGO")).current_dir(workspace_root()).args([
        "test",
        "-p",
        "core-sched",
        "--no-run",
    ]))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        bail!("building core-sched's tests failed:\n{stderr}");
    }
    // "  Executable unittests src/lib.rs (target/debug/deps/core_sched-0123abcd)"
    let line = stderr
        .lines()
        .find(|line| line.trim_start().starts_with("Executable unittests src/lib.rs"))
        .with_context(|| format!("no unit-test executable in cargo's output:\n{stderr}"))?;
    let path = line.rsplit_once('(').and_then(|(_, rest)| rest.strip_suffix(')')).context("executable path")?;
    Ok(workspace_root().join(path))
}

/// The sites and their litmus descriptions, from the test binary itself (so the list cannot go stale). With
/// `--nocapture` the first line shares its line with the harness's `test ... ` prefix.
fn list_sites(binary: &PathBuf) -> Result<Vec<(String, String)>> {
    let stdout = crate::command::stdout(Command::new(binary).args([
        "--ignored",
        "--exact",
        SITE_LIST_TEST,
        "--nocapture",
        "--test-threads=1",
    ]))?;
    let sites: Vec<(String, String)> = stdout
        .lines()
        .filter_map(|line| line.split_once("barrier-site ").map(|(_, rest)| rest))
        .filter_map(|rest| rest.split_once(" | "))
        .map(|(site, litmus)| (site.to_string(), litmus.to_string()))
        .collect();
    if sites.is_empty() {
        bail!("{SITE_LIST_TEST} listed no barrier site:\n{stdout}");
    }
    Ok(sites)
}

/// Runs the test binary with `removed` as the removed barrier and returns the names of the failing tests.
fn failing_tests(binary: &PathBuf, removed: Option<&str>) -> Result<Vec<String>> {
    let mut command = Command::new(binary);
    command.env(REMOVED_BARRIER_VARIABLE, removed.unwrap_or(""));
    for skipped in SKIPPED_TESTS {
        command.args(["--skip", skipped]);
    }
    let output = crate::command::output(&mut command)?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut failing: Vec<String> = stdout
        .lines()
        .filter_map(|line| line.strip_prefix("test ")?.strip_suffix(" ... FAILED"))
        .map(|name| name.strip_prefix("tests::").unwrap_or(name).to_string())
        .collect();
    failing.sort();
    if !output.status.success() && failing.is_empty() {
        bail!(
            "the test binary failed without a failing test (removed: {removed:?}):\n{stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(failing)
}

fn print_table(mutants: &[Mutant]) {
    let width = mutants.iter().map(|mutant| mutant.site.len()).max().unwrap_or(0);
    println!();
    println!("{:<width$}  caught by (tests that fail without the barrier)", "barrier site");
    for mutant in mutants {
        let caught = if mutant.caught_by.is_empty() { "MISSED".to_string() } else { mutant.caught_by.join(", ") };
        println!("{:<width$}  {caught}", mutant.site);
        println!("{:<width$}    guards: {}", "", mutant.litmus);
    }
    println!();
}
