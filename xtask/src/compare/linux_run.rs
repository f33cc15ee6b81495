//! `compare --linux`: the same bench program (user/src/bin/bench.rs) on a stock Linux kernel (Debian's arm64
//! cloud kernel, xtask/src/linux_kernel.rs) booted on the same QEMU machine with the same plugin, as a column
//! beside ours.
//!
//! The rows are generic: the plan is made from the scenarios our kernel measured in the same `compare` run (its
//! `bench: region=` lines), so a scenario added to payloads/src/bench.rs gets a Linux figure without a change
//! here as long as Linux can run it the way [`recipe`] says. A scenario whose name is one of the bench program's
//! modes runs as that mode alone (the convention of `first-touch`, `brk-page`, ...); the others are listed in
//! [`recipe`]. A scenario Linux cannot run, or whose run fails there, stays in the table as `n/a (reason)`.
//!
//! Our init (user/src/bin/linux-bench-init.rs) runs the plan: each run pinned to CPU 1 as on our kernel, an
//! empty separator region on CPU 0 after each, so that a run that emitted no region (it failed before its
//! markers) does not shift the pairing of the plugin's regions with the runs.

use super::results::{fields, number, spread, Samples, ScenarioKey, VariantResult};
use super::BenchOptions;
use crate::linux_kernel::{write_cpio, CpioEntry, LinuxKernel};
use crate::qemu::QemuRun;
use crate::{workspace_root, Board, Image};
use anyhow::{bail, ensure, Context, Result};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// Warm-up iterations before the markers, as payloads/src/bench.rs passes them.
const WARMUP: u64 = 64;
/// CPUs running the extra threads of `membarrier-K-others`, in payloads/src/bench.rs's order.
const OTHER_CPUS: [usize; 3] = [2, 3, 0];
/// The CPU our init runs on: its separator regions end there.
const INIT_CPU: u32 = 0;

/// The kernel command line. `isolcpus=1 nohz_full=1 rcu_nocbs=1 irqaffinity=0` keep Linux's own work off the
/// measured CPU as far as Linux allows (our kernel stops CPU 1's tick during a region; Linux stops it only while
/// one task runs there); `panic=-1` with QEMU's `-no-reboot` ends the run at once if the init dies.
const KERNEL_COMMAND_LINE: &str = "console=ttyAMA0 rdinit=/init panic=-1 isolcpus=1 irqaffinity=0 quiet";

/// How Linux runs one of our scenarios.
#[derive(Debug, PartialEq, Eq)]
enum Recipe {
    /// The program (a file of the initramfs), its command line after argv[0], the yields of a peer process (0:
    /// none), and why the figure does not compare with ours when it does not.
    Run { program: &'static str, arguments: Vec<String>, peer_yields: u64, caveat: Option<&'static str> },
    /// Linux cannot run it; the reason shown in the table.
    Unavailable(&'static str),
}

/// Why `membarrier-K-others` (K > 0) does not compare: the bench program parks its other threads in `wfi` at
/// EL0, which our kernel lets halt the CPU (SCTLR_EL1.nTWI) but Linux traps and skips as a NOP
/// (arch/arm64/kernel/traps.c, `wfi_handler`), so on Linux those threads spin through the kernel: with four busy
/// vCPUs on the host's cores, the caller's wait for its IPIs to be acknowledged is host scheduling time.
const SPINNING_PEERS: &str = "not comparable: Linux traps EL0 wfi as a NOP, so the parked threads spin and the wait for their IPIs is host scheduling";

/// The bench program (user/src/bin/bench.rs) and the liburcu one (user/linux/urcu_bench.c), as the initramfs
/// names them.
const BENCH_PROGRAM: &str = "bench";
const URCU_PROGRAM: &str = "urcu_bench";

/// How Linux runs the scenario `name` (payloads/src/bench.rs's names) with `iterations` per region: the same
/// program and arguments our bench payload gives it.
fn recipe(name: &str, mm: &str, iterations: u64) -> Recipe {
    let other_cpus = |count: usize| -> Vec<String> { OTHER_CPUS[..count].iter().map(usize::to_string).collect() };
    let bench = |mode: &str, extra: Vec<String>, caveat: Option<&'static str>| {
        let mut arguments = vec![mode.to_string(), iterations.to_string(), WARMUP.to_string(), mm.to_string()];
        arguments.extend(extra);
        Recipe::Run { program: BENCH_PROGRAM, arguments, peer_yields: 0, caveat }
    };
    // `membarrier-K-others`, `membarrier-K-busy`, `urcu-sync-K-readers`: K other CPUs, in OTHER_CPUS's order.
    let count_between = |prefix: &str, suffix: &str| {
        let count = name.strip_prefix(prefix)?.strip_suffix(suffix)?.parse::<usize>().ok()?;
        (count <= OTHER_CPUS.len()).then_some(count)
    };
    if let Some(count) = count_between("membarrier-", "-others") {
        return bench("membarrier", other_cpus(count), (count > 0).then_some(SPINNING_PEERS));
    }
    if let Some(count) = count_between("membarrier-", "-busy") {
        return bench("membarrier-busy", other_cpus(count), None);
    }
    if let Some(count) = count_between("urcu-sync-", "-readers") {
        // urcu_bench N WARMUP [CPU...]: liburcu registers the mm itself. Its readers wait in `wfi` too.
        let mut arguments = vec![iterations.to_string(), WARMUP.to_string()];
        arguments.extend(other_cpus(count));
        let caveat = (count > 0).then_some(SPINNING_PEERS);
        return Recipe::Run { program: URCU_PROGRAM, arguments, peer_yields: 0, caveat };
    }
    match name {
        "yield-alone" => bench("yield", Vec::new(), None),
        "user-user-same-mm" => bench("threads", Vec::new(), None),
        // The peer yields back until the measured process surely finished, as on our kernel.
        "user-user-other-mm" => match bench("yield", Vec::new(), None) {
            Recipe::Run { program, arguments, caveat, .. } => {
                Recipe::Run { program, arguments, peer_yields: 4 * (iterations + WARMUP) + 20_000, caveat }
            }
            unavailable => unavailable,
        },
        "user-kthread-user" => {
            Recipe::Unavailable("the peer is a kernel thread, which a Linux user program cannot start")
        }
        "futex-wake-2cpu" => bench("futex-pingpong", other_cpus(1), None),
        "mutex-handoff-2cpu" => bench("mutex-pingpong", other_cpus(1), None),
        // The convention of first-touch, brk-page, getpid, ...: the scenario's name is the program's mode.
        _ => bench(name, Vec::new(), None),
    }
}

/// One row of the Linux column.
#[derive(Clone, Debug)]
pub enum LinuxRow {
    /// A figure, and why it does not compare with ours when it does not.
    Measured(Samples, Option<String>),
    /// Why there is no figure.
    Unavailable(String),
}

/// What the Linux run produced: per scenario of our kernel's run, a row.
pub struct LinuxRun {
    /// The kernel package and version (`LinuxKernel::describe`).
    pub kernel: String,
    pub rows: BTreeMap<ScenarioKey, LinuxRow>,
}

/// The plan file of the init (format in user/src/bin/linux-bench-init.rs), the rows Linux cannot run, and the
/// caveats of the rows it can, by (scenario, mm).
type Caveats = BTreeMap<(String, String), &'static str>;

/// `urcu_built`: whether the liburcu program is in the initramfs.
fn plan(
    reference: &VariantResult,
    repetitions: u32,
    urcu_built: bool,
) -> (String, BTreeMap<ScenarioKey, LinuxRow>, Caveats) {
    let mut text = String::new();
    let mut unavailable = BTreeMap::new();
    let mut caveats = Caveats::new();
    for (key, samples) in &reference.scenarios {
        let recipe = match recipe(&key.name, &key.mm, samples.iterations) {
            Recipe::Run { program: URCU_PROGRAM, .. } if !urcu_built => {
                Recipe::Unavailable("the liburcu bench program could not be built")
            }
            recipe => recipe,
        };
        match recipe {
            Recipe::Run { program, arguments, peer_yields, caveat } => {
                if let Some(caveat) = caveat {
                    caveats.insert((key.name.clone(), key.mm.clone()), caveat);
                }
                text.push_str(&format!(
                    "{} {} {} {} {repetitions} {peer_yields} {program} {}\n",
                    key.name,
                    key.mm,
                    samples.iterations,
                    samples.switches_per_iteration,
                    arguments.join(" ")
                ))
            }
            Recipe::Unavailable(reason) => {
                unavailable.insert(key.clone(), LinuxRow::Unavailable(reason.to_string()));
            }
        }
    }
    (text, unavailable, caveats)
}

/// Builds the EL0 programs and returns (init, bench) ELF bytes.
fn user_programs() -> Result<(Vec<u8>, Vec<u8>)> {
    let user_root = workspace_root().join("user");
    crate::command::run(Command::new(env!("CARGO")).current_dir(&user_root).env_remove("CARGO_TARGET_DIR").args([
        "build",
        "--release",
        "--quiet",
        "--bin",
        "linux-bench-init",
        "--bin",
        "bench",
    ]))
    .context("building the Linux init and the bench program (user/)")?;
    let built = user_root.join("target/aarch64-unknown-none/release");
    let read = |name: &str| std::fs::read(built.join(name)).with_context(|| format!("cannot read {name}"));
    Ok((read("linux-bench-init")?, read("bench")?))
}

/// Boots `kernel` with the initramfs of `reference`'s scenarios and the plugin; returns the Linux column.
pub fn run(kernel: &LinuxKernel, reference: &VariantResult, options: BenchOptions, plugin: &Path) -> Result<LinuxRun> {
    let folder = workspace_root().join("out/compare/linux");
    std::fs::create_dir_all(&folder).with_context(|| format!("cannot create {}", folder.display()))?;
    // The liburcu program, when our kernel ran its scenarios (so it could be built there).
    let urcu = match reference.scenarios.keys().any(|key| key.name.starts_with("urcu-")) {
        true => match crate::linux_programs::build_urcu_bench() {
            Ok(path) => Some(std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?),
            Err(error) => {
                eprintln!("note: no liburcu rows on Linux: {error:#}");
                None
            }
        },
        false => None,
    };
    let (plan_text, mut rows, caveats) = plan(reference, options.repetitions, urcu.is_some());
    let (init, bench) = user_programs()?;
    let mut entries = vec![
        CpioEntry::Directory { path: "dev" },
        // The console init's standard streams are opened on (the kernel opens /dev/console of the rootfs).
        CpioEntry::CharacterDevice { path: "dev/console", major: 5, minor: 1 },
        CpioEntry::File { path: "init", mode: 0o755, contents: &init },
        CpioEntry::File { path: BENCH_PROGRAM, mode: 0o755, contents: &bench },
        CpioEntry::File { path: "plan", mode: 0o644, contents: plan_text.as_bytes() },
    ];
    if let Some(urcu) = &urcu {
        entries.push(CpioEntry::File { path: URCU_PROGRAM, mode: 0o755, contents: urcu });
    }
    let archive = write_cpio(&entries);
    let initramfs = folder.join("initramfs.cpio");
    std::fs::write(&initramfs, archive).with_context(|| format!("cannot write {}", initramfs.display()))?;
    std::fs::write(folder.join("plan.txt"), &plan_text)?;
    let report = folder.join("insn-counter.txt");
    let _ = std::fs::remove_file(&report);
    eprintln!("==> bench on Linux ({})", kernel.describe());
    let run = QemuRun {
        board: Board::QemuVirt,
        smp: 4,
        gdb: false,
        timeout_secs: options.timeout,
        echo: false,
        // No barrier audit: Linux has no `hint #0x62` marker to open its windows.
        extra_arguments: vec![
            "-initrd".into(),
            initramfs.display().to_string(),
            "-append".into(),
            KERNEL_COMMAND_LINE.into(),
            "-no-reboot".into(),
            "-plugin".into(),
            format!("{},outfile={}", plugin.display(), report.display()),
        ],
    };
    // The hang report reads symbols from the "ELF": the raw Image has none, so it shows addresses only.
    let outcome = run.run(&Image { elf: kernel.image.clone(), kernel8: None })?;
    let console = outcome.console.join("\n");
    std::fs::write(folder.join("console.txt"), &console)?;
    if outcome.timed_out {
        bail!(
            "Linux did not finish the bench within {} s (its boot messages are off: `quiet`; the vCPU report's \
             addresses are Linux's, without symbols); last console lines:\n{}",
            options.timeout,
            outcome.tail(25)
        );
    }
    ensure!(
        console.lines().any(|line| line.contains("bench: linux-runs=") && line.ends_with(" done")),
        "the Linux init did not finish its plan (QEMU exited with {:?}); last console lines:\n{}",
        outcome.exit_code,
        outcome.tail(25)
    );
    let plugin_report = std::fs::read_to_string(&report)
        .with_context(|| format!("the plugin wrote no report ({})", report.display()))?;
    for (key, mut row) in parse_linux_run(&console, &plugin_report)? {
        if let LinuxRow::Measured(_, caveat) = &mut row {
            *caveat = caveats.get(&(key.name.clone(), key.mm.clone())).map(|text| text.to_string());
        }
        rows.insert(key, row);
    }
    Ok(LinuxRun { kernel: kernel.describe(), rows })
}

/// A region of the plugin's report.
struct Region {
    vcpu: u32,
    instructions: u64,
    host_ns: u128,
}

/// The rows from the init's `bench: run=` lines and the plugin's regions (see the module documentation).
fn parse_linux_run(console: &str, plugin_report: &str) -> Result<BTreeMap<ScenarioKey, LinuxRow>> {
    let mut regions = Vec::new();
    for line in plugin_report.lines() {
        let Some(fields) = fields(line, "insn-counter:") else { continue };
        if fields.contains_key("region") {
            regions.push(Region {
                vcpu: number(&fields, "vcpu", line)?,
                instructions: number(&fields, "instructions", line)?,
                host_ns: number(&fields, "host_ns", line)?,
            });
        }
    }
    // The regions each run emitted: those before its separator.
    let mut per_run: Vec<Vec<Region>> = vec![Vec::new()];
    for region in regions {
        if region.vcpu == INIT_CPU {
            per_run.push(Vec::new());
        } else {
            per_run.last_mut().expect("never empty").push(region);
        }
    }
    let mut order: Vec<(String, String)> = Vec::new();
    let mut measured: BTreeMap<ScenarioKey, Samples> = BTreeMap::new();
    let mut failures: BTreeMap<ScenarioKey, String> = BTreeMap::new();
    let mut run_index = 0;
    for line in console.lines() {
        let Some(fields) = fields(line, "bench:") else { continue };
        if !fields.contains_key("run") {
            continue;
        }
        let name = fields.get("scenario").copied().unwrap_or("?").to_string();
        let mm = fields.get("mm").copied().unwrap_or("?").to_string();
        let position = match order.iter().position(|entry| entry.0 == name && entry.1 == mm) {
            Some(position) => position,
            None => {
                order.push((name.clone(), mm.clone()));
                order.len() - 1
            }
        };
        let key = ScenarioKey { order: position, name, mm };
        let emitted = per_run.get(run_index).map_or(&[][..], Vec::as_slice);
        run_index += 1;
        let status = fields.get("status").copied().unwrap_or("?");
        let failure = match (status, emitted) {
            (_, _) if fields.contains_key("discarded") => {
                Some("the peer process ended before the region did".to_string())
            }
            ("exit:0", [region]) => {
                let iterations: u64 = number(&fields, "n", line)?;
                let samples = measured.entry(key.clone()).or_default();
                samples.iterations = iterations;
                samples.switches_per_iteration = number(&fields, "switches_per_iteration", line)?;
                samples.instructions.push(region.instructions as f64 / iterations as f64);
                samples.host_ns.push(region.host_ns as f64 / iterations as f64);
                None
            }
            ("exit:0", regions) => Some(format!("{} regions for one run", regions.len())),
            ("exit:2", _) => Some("the bench program does not know this mode".to_string()),
            (status, _) => Some(match status.split_once(':') {
                Some(("signal", signal)) => format!("killed by signal {signal} on Linux"),
                Some(("exit", code)) => format!("the bench program failed on Linux (exit status {code})"),
                _ => format!("not started on Linux ({status})"),
            }),
        };
        if let Some(failure) = failure {
            failures.entry(key).or_insert(failure);
        }
    }
    ensure!(run_index > 0, "the Linux console has no `bench: run=` lines");
    let mut rows: BTreeMap<ScenarioKey, LinuxRow> = BTreeMap::new();
    for (key, failure) in failures {
        if !measured.contains_key(&key) {
            rows.insert(key, LinuxRow::Unavailable(failure));
        }
    }
    rows.extend(measured.into_iter().map(|(key, samples)| (key, LinuxRow::Measured(samples, None))));
    Ok(rows)
}

/// The Linux row for our scenario `key` (the two runs number scenarios independently: match by name and mm).
pub fn linux_row<'a>(linux: &'a LinuxRun, key: &ScenarioKey) -> Option<&'a LinuxRow> {
    linux.rows.iter().find(|(other, _)| other.name == key.name && other.mm == key.mm).map(|(_, row)| row)
}

/// The median per operation (per switch, or per call when the scenario has no switches).
pub fn per_operation(samples: &Samples) -> Option<f64> {
    let median = spread(&samples.instructions)?.median;
    Some(median / samples.switches_per_iteration.max(1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipes_follow_the_bench_payload() {
        let run = |name: &str| recipe(name, "registered", 1000);
        assert_eq!(
            run("yield-alone"),
            Recipe::Run {
                program: BENCH_PROGRAM,
                arguments: ["yield", "1000", "64", "registered"].map(String::from).to_vec(),
                peer_yields: 0,
                caveat: None
            }
        );
        assert!(matches!(run("membarrier-0-others"), Recipe::Run { caveat: None, .. }));
        assert!(matches!(run("membarrier-1-others"), Recipe::Run { caveat: Some(_), .. }));
        assert!(matches!(run("user-user-other-mm"), Recipe::Run { peer_yields: 24_256, .. }));
        assert!(matches!(run("user-kthread-user"), Recipe::Unavailable(_)));
        let Recipe::Run { arguments, .. } = run("membarrier-3-others") else { panic!() };
        assert_eq!(arguments[4..], ["2", "3", "0"]);
        // An unknown scenario runs as the mode of its name (the init reports it if the program rejects it).
        let Recipe::Run { arguments, .. } = run("getpid") else { panic!() };
        assert_eq!(arguments[0], "getpid");
        let Recipe::Run { arguments, .. } = run("futex-wake-2cpu") else { panic!() };
        assert_eq!((arguments[0].as_str(), arguments[4].as_str()), ("futex-pingpong", "2"));
        let Recipe::Run { arguments, caveat: None, .. } = run("membarrier-1-busy") else { panic!() };
        assert_eq!((arguments[0].as_str(), arguments.len()), ("membarrier-busy", 5));
        let Recipe::Run { program: URCU_PROGRAM, arguments, caveat: Some(_), .. } = run("urcu-sync-3-readers") else {
            panic!()
        };
        assert_eq!(arguments, ["1000", "64", "2", "3", "0"]);
        assert!(matches!(run("urcu-sync-0-readers"), Recipe::Run { program: URCU_PROGRAM, caveat: None, .. }));
    }

    #[test]
    fn pairs_runs_with_regions_across_failed_runs() {
        // Run 0 measured, run 1 failed before its markers (no region), run 2 measured, run 3 killed after its
        // region, run 4 discarded.
        let plugin = "insn-counter: region=0 vcpu=1 instructions=3000 host_ns=100\n\
                      insn-counter: region=1 vcpu=0 instructions=0 host_ns=1\n\
                      insn-counter: region=2 vcpu=0 instructions=0 host_ns=1\n\
                      insn-counter: region=3 vcpu=1 instructions=5000 host_ns=200\n\
                      insn-counter: region=4 vcpu=0 instructions=0 host_ns=1\n\
                      insn-counter: region=5 vcpu=1 instructions=7000 host_ns=200\n\
                      insn-counter: region=6 vcpu=0 instructions=0 host_ns=1\n\
                      insn-counter: region=7 vcpu=1 instructions=9000 host_ns=200\n\
                      insn-counter: region=8 vcpu=0 instructions=0 host_ns=1\n";
        let console = "bench: run=0 scenario=yield-alone mm=unregistered n=10 switches_per_iteration=0 rep=0 status=exit:0\n\
                       bench: run=1 scenario=getpid mm=unregistered n=10 switches_per_iteration=0 rep=0 status=exit:2\n\
                       bench: run=2 scenario=yield-alone mm=unregistered n=10 switches_per_iteration=0 rep=1 status=exit:0\n\
                       bench: run=3 scenario=membarrier-1-others mm=registered n=10 switches_per_iteration=0 rep=0 status=signal:4\n\
                       bench: run=4 scenario=user-user-other-mm mm=registered n=10 switches_per_iteration=2 rep=0 status=exit:0 discarded=peer-finished-first\n\
                       bench: linux-runs=5 done\n";
        let rows = parse_linux_run(console, plugin).unwrap();
        let find = |name: &str| rows.iter().find(|(key, _)| key.name == name).map(|(_, row)| row.clone());
        let Some(LinuxRow::Measured(samples, None)) = find("yield-alone") else { panic!() };
        assert_eq!(samples.instructions, [300.0, 500.0]);
        assert!(matches!(find("getpid"), Some(LinuxRow::Unavailable(reason)) if reason.contains("does not know")));
        assert!(
            matches!(find("membarrier-1-others"), Some(LinuxRow::Unavailable(reason)) if reason.contains("signal 4"))
        );
        assert!(matches!(find("user-user-other-mm"), Some(LinuxRow::Unavailable(reason)) if reason.contains("peer")));
    }
}
