//! The real-program suite (`cargo xtask linux-programs`, and `cargo xtask test --linux-programs`): unmodified,
//! statically linked Linux programs (C with glibc and musl, a glibc static PIE, Rust std for musl and gnu, and
//! applets of Debian's busybox-static), each run first under `qemu-aarch64-static -strace` on the host as the
//! reference (once), then on the kernel with `--user`: every program on QEMU virt with each barrier variant
//! (arm64, generic), the hello and pthreads programs on QEMU raspi4b. One line per program and place; the system
//! calls each program makes go to out/linux-programs/syscalls.md (a copy is kept in
//! docs/linux-programs-syscalls.md), which tells the kernel side what to implement.
//!
//! All programs run in one boot, one after another (a kernel build per program would cost more than the runs);
//! a watchdog stops the boot when one program runs too long, and the programs after it run in a new boot.

mod fetch;
mod parse;
mod programs;

pub use fetch::{cache_root, ensure_rust_linux_targets, PrivateApt, RUST_LINUX_TARGETS};

use crate::qemu::QemuRun;
use crate::user::{UserCommand, UserProgram};
use crate::{workspace_root, Barrier, Board, KernelBuild, Payload, VariantArgs};
use anyhow::{bail, Context, Result};
use parse::{CommandLine, RunEnd, SyscallCount};
use programs::LinuxProgram;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Whether plain `cargo xtask test` runs this suite: on, since the kernel runs every program of it (glibc, musl
/// and Rust std, static and static PIE).
pub const IN_DEFAULT_TEST: bool = true;

/// How long one program may run. The slowest (Vec growth to 100 MiB) takes a few seconds under QEMU on a quiet
/// host; this leaves room for a host busy with other jobs, and bounds what a hang costs.
const DEFAULT_PROGRAM_TIMEOUT_SECS: u64 = 120;

/// Options of `cargo xtask linux-programs`.
#[derive(clap::Args, Clone, Debug)]
pub struct Options {
    /// Run only the programs whose name contains this text (repeatable), e.g. `--only glibc --only rust-musl-vec`.
    #[arg(long, value_name = "TEXT")]
    pub only: Vec<String>,
    /// Only the reference runs under qemu-aarch64-static (no kernel build or boot).
    #[arg(long)]
    pub reference_only: bool,
    /// Seconds one program may run (under qemu-aarch64-static, or on the kernel) before it counts as hung (a
    /// few slow runs, e.g. Linux's basic_percpu_ops_test, get a multiple on the kernel).
    #[arg(long, default_value_t = DEFAULT_PROGRAM_TIMEOUT_SECS)]
    pub program_timeout: u64,
    /// The kernels to run the programs on (repeatable; all by default).
    #[arg(long = "kernel", value_enum, value_name = "KERNEL")]
    pub kernels: Vec<KernelPlace>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            only: Vec::new(),
            reference_only: false,
            program_timeout: DEFAULT_PROGRAM_TIMEOUT_SECS,
            kernels: Vec::new(),
        }
    }
}

/// A kernel the programs run on.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelPlace {
    /// QEMU virt, the arm64 barrier override: every program.
    VirtArm64,
    /// QEMU virt, core-sched's generic barrier: every program.
    VirtGeneric,
    /// QEMU raspi4b (kernel8.img), the arm64 barrier: the hello and pthreads programs (the board's boot and memory
    /// map under real libc start-up code, and threads on its four cores; the rest is board-independent and runs
    /// on virt).
    Rpi4Arm64,
}

/// The programs of the rpi4 runs.
const RPI4_PROGRAMS: [&str; 5] = ["glibc-hello", "musl-hello", "rust-musl-hello", "glibc-pthreads", "musl-pthreads"];

impl KernelPlace {
    const ALL: [KernelPlace; 3] = [KernelPlace::VirtArm64, KernelPlace::VirtGeneric, KernelPlace::Rpi4Arm64];

    fn variant(self) -> VariantArgs {
        let (board, barrier) = match self {
            KernelPlace::VirtArm64 => (Board::QemuVirt, Barrier::Arm64),
            KernelPlace::VirtGeneric => (Board::QemuVirt, Barrier::Generic),
            KernelPlace::Rpi4Arm64 => (Board::Rpi4, Barrier::Arm64),
        };
        VariantArgs { board, barrier, release: true }
    }

    /// The label of this kernel's runs in reports: `virt/arm64/linux`.
    fn label(self) -> String {
        let variant = self.variant();
        let board = match variant.board {
            Board::QemuVirt => "virt",
            Board::Rpi4 => "rpi4",
        };
        format!("{board}/{}/linux", variant.barrier.name())
    }

    fn runs(self, program: &LinuxProgram) -> bool {
        self != KernelPlace::Rpi4Arm64 || RPI4_PROGRAMS.contains(&program.name.as_str())
    }
}

/// The liburcu bench program (user/linux/urcu_bench.c) for `cargo xtask bench`, built with liburcu fetched into
/// the cache as the suite fetches it; an error when the cross toolchain or the package cannot be had.
pub fn build_urcu_bench() -> Result<PathBuf> {
    programs::build_urcu_bench(&fetch::ensure_liburcu()?)
}

/// Where the suite writes its binaries and reports.
pub fn output_folder() -> PathBuf {
    workspace_root().join("out/linux-programs")
}

/// The label of the reference runs in reports.
const REFERENCE_LABEL: &str = "qemu-user";

/// Results of a suite run, for `cargo xtask test`'s totals.
#[derive(Default)]
pub struct Summary {
    pub passed: u64,
    pub failed: u64,
    /// `label name: why` for each failure, with the last lines of its output.
    pub failures: Vec<String>,
}

impl Summary {
    fn record(&mut self, label: &str, program: &LinuxProgram, verdict: Result<String, String>, output: &[String]) {
        match verdict {
            Ok(note) => {
                self.passed += 1;
                println!("  [{label}] {} ... ok ({note})", program.name);
            }
            Err(why) => {
                self.failed += 1;
                println!("  [{label}] {} ... FAILED ({why})", program.name);
                let tail = last_lines(output, 6);
                print!("{tail}");
                self.failures.push(format!("[{label}] {}: {why}\n{tail}", program.name));
            }
        }
    }
}

fn last_lines(output: &[String], count: usize) -> String {
    let start = output.len().saturating_sub(count);
    output[start..].iter().map(|line| format!("      | {line}\n")).collect()
}

/// `cargo xtask linux-programs`: fetch, build, run, report; fails when any run failed.
pub fn run(options: &Options) -> Result<()> {
    let summary = run_suite(options)?;
    for failure in &summary.failures {
        println!("FAILED: {}", failure.lines().next().unwrap_or_default());
    }
    println!("linux programs: {} passed, {} failed", summary.passed, summary.failed);
    if summary.failed > 0 {
        bail!("{} run(s) of the real programs failed", summary.failed);
    }
    Ok(())
}

/// The whole suite; the summary counts each program twice (reference and kernel).
pub fn run_suite(options: &Options) -> Result<Summary> {
    let started = Instant::now();
    let tools = fetch::ensure_tools()?;
    eprintln!(
        "    tools ready in {:.1} s (downloads cached in {})",
        started.elapsed().as_secs_f64(),
        fetch::cache_root()?.display()
    );
    let programs: Vec<LinuxProgram> = programs::all()
        .into_iter()
        .filter(|program| {
            options.only.is_empty() || options.only.iter().any(|text| program.name.contains(text.as_str()))
        })
        .collect();
    if programs.is_empty() {
        bail!("no program matches --only {:?}", options.only);
    }
    programs::build_all(&programs, &tools)?;
    let mut summary = Summary::default();
    let timeout = Duration::from_secs(options.program_timeout);
    let mut syscall_lists = Vec::new();
    for program in &programs {
        let reference = run_reference(&tools.qemu_user, program, timeout)?;
        summary.record(REFERENCE_LABEL, program, reference.verdict, &reference.output);
        syscall_lists.push(SyscallList {
            program: program.name.clone(),
            binary: program.binary.file_name(),
            calls: reference.syscalls,
        });
    }
    let report = output_folder().join("syscalls.md");
    std::fs::write(&report, syscalls_markdown(&syscall_lists))
        .with_context(|| format!("cannot write {}", report.display()))?;
    eprintln!("    system calls per program (qemu-aarch64-static -strace): {}", report.display());
    if !options.reference_only {
        let places = if options.kernels.is_empty() { &KernelPlace::ALL[..] } else { &options.kernels[..] };
        for &place in places {
            let programs: Vec<LinuxProgram> = programs.iter().filter(|program| place.runs(program)).cloned().collect();
            if !programs.is_empty() {
                run_on_kernel(place, &programs, options.program_timeout, &mut summary)?;
            }
        }
    }
    eprintln!("    linux programs took {:.0} s", started.elapsed().as_secs_f64());
    Ok(summary)
}

struct ReferenceRun {
    verdict: Result<String, String>,
    output: Vec<String>,
    syscalls: Vec<SyscallCount>,
}

/// One program under `qemu-aarch64-static -strace`: its stdout and non-strace stderr are judged, the strace
/// lines give the system calls.
fn run_reference(qemu_user: &std::path::Path, program: &LinuxProgram, timeout: Duration) -> Result<ReferenceRun> {
    let binary = programs::binary_folder().join(program.binary.file_name());
    let mut child = Command::new(qemu_user)
        .arg("-strace")
        .arg(&binary)
        .args(&program.arguments)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {}", qemu_user.display()))?;
    let read_all = |mut stream: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = stream.read_to_end(&mut bytes);
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let stdout = read_all(Box::new(child.stdout.take().expect("piped")));
    let stderr = read_all(Box::new(child.stderr.take().expect("piped")));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    let (syscalls, stderr_lines) = parse::split_strace(&stderr);
    let mut output: Vec<String> = stdout.lines().map(String::from).collect();
    output.extend(stderr_lines);
    let verdict = match status {
        None => Err(format!("still running after {} s", timeout.as_secs())),
        Some(status) => {
            let code = shell_status(status);
            let (expected_status, expected_line) =
                program.binary.reference_expectation().unwrap_or((program.expected_status, program.expected_line));
            parse::judge(code, &output, expected_status, expected_line)
                .map(|()| format!("status {code}; {} distinct system calls", syscalls.len()))
        }
    };
    Ok(ReferenceRun { verdict, output, syscalls })
}

/// The status as a shell reports it: the exit code, or 128 + the signal that killed the process (qemu-user
/// kills itself with the guest's fatal signal).
fn shell_status(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

/// Runs the programs on the kernel `place`, in as few boots as hangs allow; records one result per program.
fn run_on_kernel(
    place: KernelPlace,
    programs: &[LinuxProgram],
    program_timeout: u64,
    summary: &mut Summary,
) -> Result<()> {
    let variant = place.variant();
    let label = place.label();
    let mut pending: &[LinuxProgram] = programs;
    while !pending.is_empty() {
        let commands: Vec<CommandLine> = pending
            .iter()
            .map(|program| CommandLine {
                argv0: program.binary.file_name(),
                arguments: program.arguments.iter().map(|word| word.to_string()).collect(),
            })
            .collect();
        let user_commands = pending
            .iter()
            .map(|program| UserCommand {
                program: UserProgram::File(programs::binary_folder().join(program.binary.file_name())),
                arguments: program.arguments.iter().map(|word| word.to_string()).collect(),
            })
            .collect();
        let image = KernelBuild::new(variant, Payload::Demo).with_user_commands(user_commands).build()?;
        let run = QemuRun {
            board: variant.board,
            smp: 4,
            gdb: false,
            // Bounded overall too: boot plus every program at its limit.
            timeout_secs: 60 + pending.iter().map(|program| program.time_limit_secs(program_timeout)).sum::<u64>(),
            echo: false,
            extra_arguments: Vec::new(),
        };
        // The watchdog: how long the program now running has been running.
        let mut running: Option<(usize, Instant)> = None;
        let outcome = run.run_watched(&image, |console| {
            let now_running = parse::program_running(console, &commands);
            match (running, now_running) {
                (Some((index, since)), Some(current)) if index == current => {
                    since.elapsed() > Duration::from_secs(pending[index].time_limit_secs(program_timeout))
                }
                (_, current) => {
                    running = current.map(|index| (index, Instant::now()));
                    false
                }
            }
        })?;
        let segments = parse::run_segments(&outcome.console, &commands);
        let mut finished = 0;
        for (program, segment) in pending.iter().zip(&segments) {
            let unimplemented = parse::unimplemented_syscalls(&segment.output);
            let unimplemented_note = if unimplemented.is_empty() {
                String::new()
            } else {
                format!("; unimplemented: {}", unimplemented.join(", "))
            };
            let verdict = match &segment.end {
                RunEnd::Exited(status) => {
                    parse::judge(*status, &segment.output, program.expected_status, program.expected_line)
                        .map(|()| format!("status {status}{unimplemented_note}"))
                        .map_err(|why| format!("{why}{unimplemented_note}"))
                }
                RunEnd::CannotExecute(why) => Err(format!("the kernel cannot execute it: {why}")),
                RunEnd::Unfinished if outcome.timed_out => Err(format!(
                    "did not finish within {} s{unimplemented_note}",
                    program.time_limit_secs(program_timeout)
                )),
                RunEnd::Unfinished => Err(format!(
                    "the kernel stopped while it ran (QEMU exit {:?}){unimplemented_note}",
                    outcome.exit_code
                )),
            };
            let mut output = segment.output.clone();
            if segment.end == RunEnd::Unfinished {
                output.extend(outcome.hang_report.iter().cloned());
            }
            summary.record(&label, program, verdict, &output);
            finished += 1;
        }
        if segments.is_empty() {
            // The kernel never started the first pending program: it would not start the rest either.
            let why = format!(
                "the kernel did not start it (QEMU exit {:?}, timed out: {})",
                outcome.exit_code, outcome.timed_out
            );
            for program in pending {
                summary.record(&label, program, Err(why.clone()), &last_lines_of(&outcome.console, 10));
            }
            break;
        }
        pending = &pending[finished..];
    }
    Ok(())
}

fn last_lines_of(console: &[String], count: usize) -> Vec<String> {
    console[console.len().saturating_sub(count)..].to_vec()
}

/// The system calls one run made.
struct SyscallList {
    program: String,
    /// The binary's file name: runs of one binary with different arguments (the Rust modes) are grouped.
    binary: String,
    calls: Vec<SyscallCount>,
}

/// The syscall report: every call with its number and the programs that make it, then each program's list.
fn syscalls_markdown(lists: &[SyscallList]) -> String {
    let mut text = String::from(
        "# System calls made by the real programs\n\n\
         Generated by `cargo xtask linux-programs` (into out/linux-programs/syscalls.md) from\n\
         `qemu-aarch64-static -strace` runs of each program on the host (Debian's qemu-user-static). A static\n\
         program makes these calls before and while it runs `main`; the kernel must implement each with Linux's\n\
         semantics for the program to pass. Counts are calls per run.\n\n\
         ## Every call, by number\n\n\
         | number | system call | programs |\n| ---: | --- | --- |\n",
    );
    let number_of =
        |name: &str| abi::syscalls::ALL.iter().copied().find(|&number| abi::syscalls::name(number) == Some(name));
    let makes = |list: &SyscallList, name: &str| list.calls.iter().any(|call| call.name == name);
    let mut names: Vec<&str> = lists.iter().flat_map(|list| list.calls.iter().map(|call| call.name.as_str())).collect();
    names.sort_by_key(|name| (number_of(name).unwrap_or(usize::MAX), name.to_string()));
    names.dedup();
    for name in names {
        let mut users: Vec<String> = Vec::new();
        let mut binaries: Vec<&str> = lists.iter().map(|list| list.binary.as_str()).collect();
        binaries.dedup();
        for binary in binaries {
            let runs: Vec<&SyscallList> = lists.iter().filter(|list| list.binary == binary).collect();
            let callers: Vec<&str> =
                runs.iter().filter(|list| makes(list, name)).map(|list| list.program.as_str()).collect();
            if runs.len() > 1 && callers.len() == runs.len() {
                users.push(format!("{binary} (all {} runs)", runs.len()));
            } else {
                users.extend(callers.iter().map(|caller| caller.to_string()));
            }
        }
        let number = number_of(name).map_or("?".to_string(), |number| number.to_string());
        text.push_str(&format!("| {number} | `{name}` | {} |\n", users.join(", ")));
    }
    text.push_str("\n## Per program, in order of first use\n\n");
    for list in lists {
        let calls: Vec<String> =
            list.calls
                .iter()
                .map(|call| {
                    if call.count > 1 {
                        format!("`{}` ×{}", call.name, call.count)
                    } else {
                        format!("`{}`", call.name)
                    }
                })
                .collect();
        text.push_str(&format!("- **{}**: {}\n", list.program, calls.join(", ")));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syscall_report_numbers_calls_and_groups_runs_of_one_binary() {
        let list = |program: &str, binary: &str, names: &[&str]| SyscallList {
            program: program.into(),
            binary: binary.into(),
            calls: names.iter().map(|name| SyscallCount { name: name.to_string(), count: 2 }).collect(),
        };
        let report = syscalls_markdown(&[
            list("glibc-hello", "glibc-hello", &["brk", "write"]),
            list("rust-gnu-hello", "linux-std-gnu", &["write", "ppoll"]),
            list("rust-gnu-time", "linux-std-gnu", &["write", "clock_nanosleep"]),
        ]);
        assert!(report.contains("| 64 | `write` | glibc-hello, linux-std-gnu (all 2 runs) |"), "{report}");
        assert!(report.contains("| 115 | `clock_nanosleep` | rust-gnu-time |"), "{report}");
        assert!(report.contains("| 214 | `brk` | glibc-hello |"), "{report}");
        assert!(report.contains("- **rust-gnu-time**: `write` ×2, `clock_nanosleep` ×2"), "{report}");
        // Ordered by number: write (64) before ppoll (73) before brk (214).
        assert!(report.find("`write`").unwrap() < report.find("`ppoll`").unwrap());
        assert!(report.find("`ppoll`").unwrap() < report.find("`brk`").unwrap());
    }
}
