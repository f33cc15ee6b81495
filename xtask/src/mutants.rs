//! `cargo xtask mutants`: mutation runs on core-sched.
//!
//! `--barriers` removes each full barrier of core-sched in turn and shows which host test catches the removal.
//! Every barrier call site names itself (`core-sched/src/barrier.rs`, `BarrierSite`); in a test build the
//! wrapper skips the site `CORE_SCHED_REMOVED_BARRIER` names. So the test binary is built once and run once per
//! site, about a tenth of a second each, instead of one rebuild per mutant.
//!
//! The default (`--core-sched`) runs the `cargo-mutants` tool over core-sched's host tests: every mutant it
//! makes (a function body replaced by a default value, an operator swapped, a match arm deleted) is built and
//! tested on its own, and the ones no test fails on are "missed". docs/testing.md has the summary per module and
//! the reason each remaining missed mutant of the guarded code cannot change behaviour.

use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::workspace_root;

/// Options of the cargo-mutants run.
#[derive(clap::Args, Clone, Debug)]
pub struct CoreSchedOptions {
    /// Run cargo-mutants over core-sched's host tests (the default mode).
    #[arg(long)]
    core_sched: bool,
    /// Only mutate this file (repeatable; cargo-mutants' `--file`, e.g. `core-sched/src/membarrier.rs`).
    #[arg(long = "file", value_name = "PATH")]
    files: Vec<String>,
    /// Only the mutants whose name (as `cargo mutants --list` shows it) matches this regex (repeatable;
    /// cargo-mutants' `--re`): to confirm that new tests catch the mutants a previous run missed.
    #[arg(long = "re", value_name = "REGEX")]
    regexes: Vec<String>,
    /// Mutants built and tested in parallel (each in its own copy of the tree).
    #[arg(long, default_value_t = 1)]
    jobs: u32,
    /// Seconds a mutant's tests may run before it counts as a timeout (a mutant that makes a wait spin forever).
    #[arg(long, default_value_t = 60)]
    timeout: u32,
    /// Skip the randomized reference-count property test (about 4 s of each mutant's 5): a quick first pass.
    /// Its verdicts on mm.rs and the exit paths are then missing, so the final run keeps it.
    #[arg(long)]
    skip_property_test: bool,
}

/// The code that must have no missed mutant (issue 16; rseq.rs since issue 15 added it), as (file, functions);
/// no functions means the whole file. sched.rs's part is the switch path: picking, switching the mm with its barriers and hook, finishing
/// the switch, and the other points that publish or clear a CPU's mm. task.rs's part is what the switch reads and
/// changes of a task since issue 14's step 6 took the `sched` lock off it: the state byte (`SchedState`, and
/// `TaskState`'s encoding in it), the run time it adds, and the affinity, CPU and process id it reads or sets.
const GUARDED: &[(&str, &[&str])] = &[
    ("core-sched/src/membarrier.rs", &[]),
    ("core-sched/src/mm.rs", &[]),
    ("core-sched/src/runqueue.rs", &[]),
    // rseq (issue 15): the switch-out hook, the membarrier RSEQ restart and the return-to-user fixup.
    ("core-sched/src/rseq.rs", &[]),
    (
        "core-sched/src/sched.rs",
        &[
            "mm_address",
            "schedule",
            "schedule_with",
            "pick_next",
            "context_switch_mm",
            "membarrier_switch_mm",
            "finish_switch_mm_hook",
            "finish_switch",
            "finish_switch_masked",
            "exit_current",
            "exit_mm_current",
            "kthread_use_mm",
            "kthread_unuse_mm",
        ],
    ),
    (
        "core-sched/src/task.rs",
        &[
            "from_byte",
            "to_byte",
            "state",
            "set_state",
            "store_on_rq",
            "start",
            "wake",
            "switch_out_is_runnable",
            "add_run_stamps",
            "affinity",
            "set_cpu",
        ],
    ),
];

/// A missed mutant of the guarded code that cannot change behaviour (docs/testing.md says why, one by one).
struct Equivalent {
    file: &'static str,
    /// cargo-mutants' description, without the line and column.
    description: &'static str,
    /// Text the mutated source line must contain: line numbers move with every edit, and one description
    /// (`replace << with >>`) can be equivalent on one line and not on the next.
    source_line_contains: &'static str,
}

/// The equivalent mutants; a mutant missed in the guarded code and not listed here fails the run.
const EQUIVALENT: &[Equivalent] = &[
    // MEMBARRIER_SUPPORTED_COMMANDS: `|` and `^` agree on distinct single-bit commands.
    Equivalent {
        file: "core-sched/src/membarrier.rs",
        description: "replace | with ^",
        source_line_contains: "    | MEMBARRIER_CMD_",
    },
    // `1 << 0` and `1 >> 0` are both 1.
    Equivalent {
        file: "core-sched/src/membarrier.rs",
        description: "replace << with >>",
        source_line_contains: "= 1 << 0;",
    },
    // The two plain bits SYNC_CORE and RSEQ registration set are distinct single bits: `|` and `^` agree.
    Equivalent {
        file: "core-sched/src/membarrier.rs",
        description: "replace | with ^ in Scheduler<A>::membarrier_with_mm",
        source_line_contains: "MEMBARRIER_STATE_PRIVATE_EXPEDITED | MEMBARRIER_STATE_PRIVATE_EXPEDITED_",
    },
    // An RSEQ request's code goes into the low bits, which the shift leaves zero: `|` and `^` agree.
    Equivalent {
        file: "core-sched/src/membarrier.rs",
        description: "replace | with ^ in MembarrierRequest::with_rseq_restart",
        source_line_contains: "MembarrierRequest(sequence << Self::KIND_BITS | Self::BARRIER_AND_RSEQ_RESTART)",
    },
    // GET_REGISTRATIONS tests a plain bit and its READY bit together: distinct single bits, `|` and `^` agree.
    Equivalent {
        file: "core-sched/src/membarrier.rs",
        description: "replace | with ^ in registrations",
        source_line_contains: "if state & (MEMBARRIER_STATE_",
    },
    // The ack wait's deadline: `>=` ends the wait at a reading exactly on the deadline instead of the next
    // one, a difference of one clock reading in a two-second bound on a wait for slowness.
    Equivalent {
        file: "core-sched/src/membarrier.rs",
        description: "replace > with >= in Scheduler<A>::ipi_and_wait_for",
        source_line_contains: "if A::now_ns() > deadline",
    },
    // rseq: the lowest free id's bit is clear in `held`, so setting it with `|` or flipping it with `^` agree.
    Equivalent {
        file: "core-sched/src/rseq.rs",
        description: "replace | with ^ in ConcurrencyIds::allocate",
        source_line_contains: "held | 1 << lowest_free",
    },
    // sys_rseq's `length < RSEQ_FEATURE_SIZE` (Linux's `rseq_len < offsetof(struct rseq, end)`) is reached only
    // for a length above ORIG_RSEQ_SIZE (32; shorter ones failed the first test), and the feature size is 28:
    // `<`, `<=` and `==` are all false there. Kept for Linux's form (a later field may make it larger than 32).
    Equivalent {
        file: "core-sched/src/rseq.rs",
        description: "replace < with == in sys_rseq",
        source_line_contains: "length < RSEQ_FEATURE_SIZE",
    },
    Equivalent {
        file: "core-sched/src/rseq.rs",
        description: "replace < with <= in sys_rseq",
        source_line_contains: "length < RSEQ_FEATURE_SIZE",
    },
    // Offset 0 (`cpu_id_start`, `rseq_cs`'s `version`): `address + 0 == address - 0`.
    Equivalent {
        file: "core-sched/src/rseq.rs",
        description: "replace + with - in handle_notify_resume",
        source_line_contains: "area + field::CPU_ID_START",
    },
    Equivalent {
        file: "core-sched/src/rseq.rs",
        description: "replace + with - in critical_section_abort_ip",
        source_line_contains: "descriptor + critical_section::VERSION",
    },
    // `cpu << 32 | cpu` with a 32-bit `cpu`: the halves do not overlap, so `|` and `^` agree.
    Equivalent {
        file: "core-sched/src/rseq.rs",
        description: "replace | with ^ in handle_notify_resume",
        source_line_contains: "u64::from(cpu) << 32 | u64::from(cpu)",
    },
    // Giving a drained queue's memory back: shrink_to(64) of a queue whose capacity is 64 does nothing (`>=`);
    // shrinking also a non-empty queue none of whose tasks can run here (`||`) keeps every task in order and
    // at least their number of slots, so only the heap capacity differs, never what runs.
    Equivalent {
        file: "core-sched/src/sched.rs",
        description: "replace > with >= in Scheduler<A>::pick_next",
        source_line_contains: "inner.queue.is_empty() && inner.queue.capacity() > RUN_QUEUE_KEPT_CAPACITY",
    },
    Equivalent {
        file: "core-sched/src/sched.rs",
        description: "replace && with || in Scheduler<A>::pick_next",
        source_line_contains: "inner.queue.is_empty() && inner.queue.capacity() > RUN_QUEUE_KEPT_CAPACITY",
    },
    // task.rs's state byte: the state's bits and `ON_RQ` are distinct, so `|` and `^` of the two agree, in
    // `set_state` (the kept `on_rq` and the new state), `store_on_rq`, `start` and `wake`.
    Equivalent {
        file: "core-sched/src/task.rs",
        description: "replace | with ^ in SchedState::set_state",
        source_line_contains: "Some(byte & ON_RQ | state.to_byte())",
    },
    Equivalent {
        file: "core-sched/src/task.rs",
        description: "replace | with ^ in SchedState::store_on_rq",
        source_line_contains: "self.0.store(state.to_byte() | ON_RQ, Ordering::Relaxed)",
    },
    Equivalent {
        file: "core-sched/src/task.rs",
        description: "replace | with ^ in SchedState::start",
        source_line_contains: "let runnable = TaskState::Runnable.to_byte() | ON_RQ;",
    },
    Equivalent {
        file: "core-sched/src/task.rs",
        description: "replace | with ^ in SchedState::wake",
        source_line_contains: "let runnable = TaskState::Runnable.to_byte() | ON_RQ;",
    },
    // `start` without `on_rq` (`|` to `&` leaves `Runnable`, 0): the bit of a queued task is never read before
    // the pick overwrites the byte (`store_on_rq(Running)`): `wake` reads it only of a `Blocked` task,
    // `switch_out_is_runnable` changes it only of a `Blocked` or `Exited` one, and `set_state` is called only
    // on a running task. A spawned task is `Runnable` and queued until it is picked.
    Equivalent {
        file: "core-sched/src/task.rs",
        description: "replace | with & in SchedState::start",
        source_line_contains: "let runnable = TaskState::Runnable.to_byte() | ON_RQ;",
    },
];

/// Where cargo-mutants writes its results (`out/` is ignored by git).
fn output_dir() -> PathBuf {
    workspace_root().join("out").join("mutants")
}

/// `cargo mutants --version` works, or `cargo install --locked cargo-mutants` (once).
fn ensure_cargo_mutants() -> Result<()> {
    let installed =
        Command::new(env!("CARGO")).args(["mutants", "--version"]).output().is_ok_and(|output| output.status.success());
    if installed {
        return Ok(());
    }
    eprintln!(
        "==> cargo-mutants is not installed: installing it with `cargo install --locked cargo-mutants` (once; a few \
         minutes of compiling)"
    );
    crate::command::run(Command::new(env!("CARGO")).args(["install", "--locked", "cargo-mutants"]))
        .context("installing cargo-mutants")
}

/// Runs cargo-mutants over core-sched, prints the summary per module, fails if a guarded mutant is missed.
pub fn core_sched(options: &CoreSchedOptions) -> Result<()> {
    ensure_cargo_mutants()?;
    let output = output_dir();
    let mut command = Command::new(env!("CARGO"));
    command.current_dir(workspace_root()).args(["mutants", "--package", "core-sched", "--no-shuffle"]);
    // The `mutants` profile (workspace Cargo.toml): optimized enough for quick tests, cheap to rebuild.
    command.args(["--profile", "mutants"]);
    command.arg(format!("--jobs={}", options.jobs));
    command.arg(format!("--timeout={}", options.timeout));
    command.args(["--build-timeout", "600"]);
    command.arg("--output").arg(&output);
    for file in &options.files {
        command.args(["--file", file]);
    }
    for regex in &options.regexes {
        command.args(["--re", regex]);
    }
    if options.skip_property_test {
        // After `--`: cargo test's arguments; after the second: the test binary's.
        command.args(["--", "--", "--skip", "tests::property"]);
    }
    eprintln!(
        "==> cargo mutants over core-sched's host tests ({} job(s); every mutant is a rebuild and a test run: \
         expect half an hour or more for the whole crate); results in {}",
        options.jobs,
        output.display()
    );
    let status = command.status().context("cannot run cargo mutants")?;
    // 0: every mutant caught; 2: some missed; 3: some timed out (their tests did not pass either).
    if !matches!(status.code(), Some(0 | 2 | 3)) {
        bail!("cargo mutants failed ({status}); see {}", output.join("mutants.out/debug.log").display());
    }
    let results = read_results(&output.join("mutants.out"))?;
    print_summary(&results);
    let unexplained: Vec<&str> = results
        .iter()
        .filter(|result| result.outcome == Outcome::Missed && is_guarded(result) && !is_equivalent(result))
        .map(|result| result.line.as_str())
        .collect();
    if !unexplained.is_empty() {
        bail!(
            "{} mutant(s) missed in the guarded code and not explained as equivalent:\n  {}",
            unexplained.len(),
            unexplained.join("\n  ")
        );
    }
    println!("cargo mutants: no unexplained missed mutant in the guarded code");
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    Caught,
    Missed,
    Timeout,
    Unviable,
}

/// One mutant as cargo-mutants lists it: `core-sched/src/mm.rs:134:9: replace Mm<A>::mmput with ()`.
struct MutantResult {
    outcome: Outcome,
    line: String,
    file: String,
    /// 1-based.
    line_number: usize,
    /// The description after `file:line:column: `.
    description: String,
}

/// cargo-mutants' `caught.txt`, `missed.txt`, `timeout.txt` and `unviable.txt`, one mutant a line.
fn read_results(folder: &Path) -> Result<Vec<MutantResult>> {
    let mut results = Vec::new();
    for (name, outcome) in [
        ("caught.txt", Outcome::Caught),
        ("missed.txt", Outcome::Missed),
        ("timeout.txt", Outcome::Timeout),
        ("unviable.txt", Outcome::Unviable),
    ] {
        let path = folder.join(name);
        let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        for line in text.lines().filter(|line| !line.trim().is_empty()) {
            results.push(parse_mutant(line, outcome).with_context(|| format!("{}: {line:?}", path.display()))?);
        }
    }
    Ok(results)
}

fn parse_mutant(line: &str, outcome: Outcome) -> Option<MutantResult> {
    let (file, rest) = line.split_once(':')?;
    let (line_number, rest) = rest.split_once(':')?;
    let (_column, description) = rest.split_once(": ")?;
    Some(MutantResult {
        outcome,
        line: line.to_string(),
        file: file.to_string(),
        line_number: line_number.parse().ok()?,
        description: description.to_string(),
    })
}

/// The function a mutant changes: `... in Scheduler<A>::schedule` -> `schedule`; `replace Mm<A>::mmput with ()`
/// -> `mmput`.
fn mutated_function(description: &str) -> &str {
    let path = match description.rsplit_once(" in ") {
        Some((_, function)) => function,
        None => description.strip_prefix("replace ").unwrap_or(description).split(' ').next().unwrap_or(""),
    };
    path.rsplit("::").next().unwrap_or(path)
}

fn is_guarded(result: &MutantResult) -> bool {
    GUARDED.iter().any(|(file, functions)| {
        result.file == *file && (functions.is_empty() || functions.contains(&mutated_function(&result.description)))
    })
}

fn is_equivalent(result: &MutantResult) -> bool {
    let source = std::fs::read_to_string(workspace_root().join(&result.file)).unwrap_or_default();
    let source_line = source.lines().nth(result.line_number.saturating_sub(1)).unwrap_or("");
    EQUIVALENT.iter().any(|equivalent| {
        result.file == equivalent.file
            && result.description == equivalent.description
            && source_line.contains(equivalent.source_line_contains)
    })
}

/// Per module: how many mutants were caught, missed, timed out, unviable; then each missed one, marked when it
/// is in the guarded code (and whether it is explained as equivalent).
fn print_summary(results: &[MutantResult]) {
    let mut per_file: BTreeMap<&str, [usize; 4]> = BTreeMap::new();
    for result in results {
        per_file.entry(&result.file).or_default()[result.outcome as usize] += 1;
    }
    println!();
    println!("{:<32} {:>6} {:>6} {:>7} {:>8}", "module", "caught", "missed", "timeout", "unviable");
    for (file, [caught, missed, timeout, unviable]) in &per_file {
        println!("{file:<32} {caught:>6} {missed:>6} {timeout:>7} {unviable:>8}");
    }
    println!();
    for file in per_file.keys() {
        let missed: Vec<&MutantResult> =
            results.iter().filter(|result| result.file == *file && result.outcome == Outcome::Missed).collect();
        if missed.is_empty() {
            continue;
        }
        println!("missed in {file}:");
        for result in missed {
            let mark = match (is_guarded(result), is_equivalent(result)) {
                (true, true) => "  [guarded, equivalent]",
                (true, false) => "  [guarded: UNEXPLAINED]",
                (false, _) => "",
            };
            println!("  {}{mark}", result.line);
        }
    }
    println!();
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cargo_mutants_lines_and_finds_the_function() {
        let result = parse_mutant(
            "core-sched/src/sched.rs:555:17: replace == with != in Scheduler<A>::context_switch_mm",
            Outcome::Missed,
        )
        .unwrap();
        assert_eq!(result.file, "core-sched/src/sched.rs");
        assert_eq!(result.description, "replace == with != in Scheduler<A>::context_switch_mm");
        assert_eq!(mutated_function(&result.description), "context_switch_mm");
        assert!(is_guarded(&result));
        assert_eq!(mutated_function("replace Mm<A>::mmput with ()"), "mmput");
        assert_eq!(mutated_function("replace CpuSet::first -> Option<usize> with None"), "first");
        let tick = parse_mutant("core-sched/src/sched.rs:190:9: replace Scheduler<A>::tick with ()", Outcome::Missed);
        assert!(!is_guarded(&tick.unwrap()));
        let mm = parse_mutant("core-sched/src/mm.rs:1:1: replace Mm<A>::count -> u32 with 0", Outcome::Caught);
        assert!(is_guarded(&mm.unwrap()));
    }

    /// Every equivalent mutant's source text is still in its file: an edit that changes the line makes the
    /// entry stale (and the mutant, if still missed, unexplained), so it is revisited with docs/testing.md.
    #[test]
    fn every_equivalent_mutant_names_a_line_that_exists() {
        for equivalent in EQUIVALENT {
            let source = std::fs::read_to_string(workspace_root().join(equivalent.file)).unwrap();
            assert!(
                source.lines().any(|line| line.contains(equivalent.source_line_contains)),
                "{}: no line contains {:?}",
                equivalent.file,
                equivalent.source_line_contains
            );
        }
    }
}
