//! `cargo xtask`: the single entry point to build, run and test the kernel. Each subcommand's doc comment is
//! its `--help` text.

mod check;
mod command;
mod compare;
mod console;
mod hang_report;
mod kernel_build;
mod linux_kernel;
mod linux_programs;
mod mutants;
mod qemu;
mod rpi4_sd;
mod setup;
mod syscall_table;
mod test;
mod user;

use anyhow::{bail, ensure, Result};
use clap::{Parser, Subcommand, ValueEnum};
pub use kernel_build::{Image, KernelBuild};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Build, run and test the membarrier kernel for AArch64.
#[derive(Parser)]
#[command(name = "xtask", bin_name = "cargo xtask", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Subcommand)]
enum Commands {
    /// Build a kernel image (ELF, and for rpi4 also kernel8.img) into out/<board>-<barrier>-<payload>/ (release) or
    /// out/<board>-<barrier>-<payload>-debug/.
    Build {
        #[command(flatten)]
        variant: VariantArgs,
        /// What the kernel runs after boot.
        #[arg(long, value_enum, default_value_t = Payload::Demo)]
        payload: Payload,
    },
    /// Boot the kernel in QEMU and run the demo workload (four cores on virt by default).
    Qemu {
        #[command(flatten)]
        variant: VariantArgs,
        /// What the kernel runs after boot.
        #[arg(long, value_enum, default_value_t = Payload::Demo)]
        payload: Payload,
        /// Number of cores QEMU gives the machine (virt only; raspi4b always has four).
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u8).range(1..=4))]
        smp: u8,
        /// Start QEMU's gdb server on localhost:1234 and wait for a debugger before the first instruction.
        #[arg(long)]
        gdb: bool,
        /// Kill QEMU after this many seconds and report the last console lines.
        #[arg(long, default_value_t = 120)]
        timeout: u64,
        /// Run a static aarch64 ELF built elsewhere, or a built-in EL0 program by name (`fuzz SEED`), instead of
        /// the demo: 'PATH [ARG...]' (repeatable; run in
        /// order, each as a fresh process with argv = file name and the arguments). Exits 0 only when every
        /// program exited 0.
        #[arg(long = "user", value_name = "'PATH [ARG...]'")]
        user_commands: Vec<String>,
    },
    /// Run every test: host unit tests, then each QEMU suite; prints one `N passed, N failed` line overall.
    Test {
        /// Run the ordering tests for longer.
        #[arg(long)]
        long: bool,
        /// Also run the real-program suite (`linux-programs`), which is not yet part of the default run.
        #[arg(long)]
        linux_programs: bool,
        /// Run only the QEMU barrier audits (the last part of the run): each barrier variant's demo under the
        /// insn-counter plugin, and the BROKEN builds they must catch.
        #[arg(long, conflicts_with_all = ["long", "linux_programs"])]
        audits_only: bool,
    },
    /// Real static Linux programs (C with glibc and musl, a static PIE, Rust std for musl and gnu; sources in
    /// user/linux and user/linux-std; busybox applets): fetches the toolchains and busybox (cached in
    /// ~/.cache/membarrier-kernel), runs each program under qemu-aarch64-static as the reference, then on the
    /// kernel (`--user`: QEMU virt with the arm64 and the generic barrier, the hello programs on raspi4b); one
    /// line per program and place, and the system calls each makes in out/linux-programs/syscalls.md.
    LinuxPrograms {
        #[command(flatten)]
        options: linux_programs::Options,
    },
    /// Write docs/syscalls.md, the table of the Linux system calls the kernel implements, from the dispatcher
    /// (kernel/src/syscalls/mod.rs) and the ABI crate's names; `--check` only verifies that the committed file is
    /// current (as `cargo test` and `cargo xtask check` do).
    SyscallTable {
        /// Fail if docs/syscalls.md differs from what the dispatcher gives, instead of writing it.
        #[arg(long)]
        check: bool,
    },
    /// Formatting and lints: `cargo fmt --check`, clippy for the host crates, for the kernel target (every barrier
    /// variant and payload, both boards, the rpi4 hardware build), for the EL0 programs and for the Rust std
    /// program of `linux-programs` (user/linux-std); and docs/syscalls.md against the dispatcher.
    Check,
    /// Mutation runs on core-sched. By default (or `--core-sched`): the `cargo-mutants` tool (installed on
    /// demand) over core-sched's host tests, one mutant at a time; prints the missed mutants per module and
    /// fails if one is missed in the code that must have none (membarrier.rs, sched.rs's switch path, mm.rs,
    /// runqueue.rs, rseq.rs) and is not listed as equivalent in docs/testing.md. Long: half an hour or more on two
    /// cores. `--barriers`: remove each full barrier (`smp_mb` call site) in turn, run the host tests that can
    /// see it (one test binary, the site switched at run time), print each site with the litmus it guards and
    /// the tests that caught its removal; fails if any removal goes unnoticed (about 15 s).
    Mutants {
        /// Remove each full barrier of core-sched in turn.
        #[arg(long, conflicts_with = "core_sched")]
        barriers: bool,
        #[command(flatten)]
        options: mutants::CoreSchedOptions,
    },
    /// Measure one barrier variant under QEMU virt with the insn-counter plugin: guest instructions per yield,
    /// context switch and membarrier, host time, the litmus, and the code at the post-switch hook.
    Bench {
        /// Post-switch-mm barrier implementation.
        #[arg(long, value_enum, default_value_t = Barrier::Arm64)]
        barrier: Barrier,
        #[command(flatten)]
        options: compare::BenchOptions,
    },
    /// Guest instructions per function (kernel and user symbols) in one bench region, from the insn-counter
    /// plugin's per-PC profile; the total equals the region's count. E.g. `cargo xtask profile user-user-same-mm`.
    Profile {
        #[command(flatten)]
        options: compare::ProfileOptions,
    },
    /// Measure the arm64 override, the generic fallback and the BROKEN variant side by side; prints a table and
    /// writes out/compare/{results.csv,results.md,switch-cost.svg,hook-cost.svg} (and PNGs of the charts).
    Compare {
        #[command(flatten)]
        options: compare::BenchOptions,
        /// Also run the same bench program on a stock Linux kernel (Debian's arm64 cloud kernel, fetched and cached
        /// in ~/.cache/membarrier-kernel) on the same QEMU machine: a Linux column with the ratio to it.
        #[arg(long)]
        linux: bool,
    },
    /// Make a Raspberry Pi 4 boot folder (kernel8.img built for hardware, config.txt, firmware when found) to
    /// copy onto the FAT partition of an SD card; see docs/rpi4.md.
    Rpi4Sd {
        /// Folder to create (or fill); existing files with the same names are overwritten.
        #[arg(long)]
        out: PathBuf,
        /// Barrier variant of the kernel.
        #[arg(long, value_enum, default_value_t = Barrier::Arm64)]
        barrier: Barrier,
        /// What the kernel runs after boot (the test suite by default, whose result the UART shows).
        #[arg(long, value_enum, default_value_t = Payload::Tests)]
        payload: Payload,
        /// Build with optimizations.
        #[arg(long)]
        release: bool,
    },
}

/// Which kernel to build.
#[derive(clap::Args, Clone, Copy, Debug)]
pub struct VariantArgs {
    /// Target board.
    #[arg(long, value_enum, default_value_t = Board::QemuVirt)]
    pub board: Board,
    /// Post-switch-mm barrier implementation.
    #[arg(long, value_enum, default_value_t = Barrier::Arm64)]
    pub barrier: Barrier,
    /// Build with optimizations.
    #[arg(long)]
    pub release: bool,
}

/// A board the kernel supports.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Board {
    /// QEMU `virt`, Cortex-A72, GICv2, PSCI.
    QemuVirt,
    /// Raspberry Pi 4 (BCM2711): QEMU `raspi4b` (four cores, 2 GiB), or the board itself via `rpi4-sd`.
    Rpi4,
}

/// The implementation of `membarrier_finish_switch_mm`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Barrier {
    /// The arm64 crate's override: `dmb ish`.
    Arm64,
    /// core-sched's generic fallback: `smp_mb()` (`fence(SeqCst)`).
    Generic,
    /// BROKEN on purpose: no post-switch barrier at all (only for showing that the ordering tests catch it).
    NoneBroken,
}

/// A full barrier of core-sched that a BROKEN build of the barrier audit removes (a core-sched feature), to show
/// that the audit of its publication point catches the removal. Not a `--barrier` choice: only `cargo xtask
/// test` builds these.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemovedBarrier {
    /// The full barrier before task exit clears the published mm (`exit_mm_current`).
    ExitMm,
    /// The full barrier before `kthread_unuse_mm` clears the published mm.
    KthreadUnuseMm,
}

impl RemovedBarrier {
    /// The board feature that removes it, also the build folder's suffix.
    pub fn feature(self) -> &'static str {
        match self {
            RemovedBarrier::ExitMm => "no-exit-mm-barrier",
            RemovedBarrier::KthreadUnuseMm => "no-kthread-unuse-mm-barrier",
        }
    }

    /// The name of its publication point in the plugin's audit line (`barrier-audit-<name>: ...`).
    pub fn audit_point(self) -> &'static str {
        match self {
            RemovedBarrier::ExitMm => "exit-mm",
            RemovedBarrier::KthreadUnuseMm => "kthread-unuse-mm",
        }
    }
}

/// What the kernel does after boot.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Payload {
    /// The demo workload.
    Demo,
    /// The in-kernel test suite.
    Tests,
    /// A test build that takes a kernel fault on purpose (must fail with a fault report).
    Fault,
    /// The measured regions of `bench` / `compare` (payloads/src/bench.rs), then the litmus.
    Bench,
}

impl Board {
    pub fn name(self) -> &'static str {
        match self {
            Board::QemuVirt => "qemu-virt",
            Board::Rpi4 => "rpi4",
        }
    }
}

impl Barrier {
    pub fn name(self) -> &'static str {
        match self {
            Barrier::Arm64 => "arm64",
            Barrier::Generic => "generic",
            Barrier::NoneBroken => "none-BROKEN",
        }
    }
}

impl Payload {
    pub fn name(self) -> &'static str {
        match self {
            Payload::Demo => "demo",
            Payload::Tests => "tests",
            Payload::Fault => "fault",
            Payload::Bench => "bench",
        }
    }
}

/// The kernel target: no FP/SIMD in kernel code.
pub const KERNEL_TARGET: &str = "aarch64-unknown-none-softfloat";

/// The workspace root (xtask's parent folder).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Commands::Build { variant, payload } => KernelBuild::new(variant, payload).build().map(|_| ()),
        Commands::Qemu { variant, payload, smp, gdb, timeout, user_commands } => {
            let user_commands =
                user_commands.iter().map(|text| user::UserCommand::parse(text)).collect::<Result<Vec<_>>>()?;
            let mut build = KernelBuild::new(variant, payload).with_user_commands(user_commands);
            if payload == Payload::Tests {
                build = build.with_setting("KERNEL_FUZZ_SEED", test::fuzz_seed());
            }
            let image = build.build()?;
            let run = qemu::QemuRun {
                board: variant.board,
                smp,
                gdb,
                // A debugging session gets an hour unless a longer timeout was asked for; still bounded.
                timeout_secs: if gdb { timeout.max(3600) } else { timeout },
                echo: true,
                extra_arguments: Vec::new(),
            };
            let outcome = run.run(&image)?;
            ensure!(!outcome.timed_out, "QEMU did not finish within {timeout} s");
            match outcome.exit_code {
                Some(0) => Ok(()),
                Some(code) => bail!("the kernel exited with status {code}"),
                None => bail!("QEMU was killed by a signal"),
            }
        }
        Commands::Test { long, linux_programs, audits_only } => {
            if audits_only {
                test::run_audits_only()
            } else {
                test::run_all(long, linux_programs || linux_programs::IN_DEFAULT_TEST)
            }
        }
        Commands::LinuxPrograms { options } => linux_programs::run(&options),
        Commands::SyscallTable { check } => syscall_table::run(check),
        Commands::Check => check::check(),
        Commands::Mutants { barriers, options } => {
            if barriers {
                mutants::barriers()
            } else {
                mutants::core_sched(&options)
            }
        }
        Commands::Bench { barrier, options } => compare::bench(barrier, options),
        Commands::Compare { options, linux } => compare::compare(options, linux),
        Commands::Profile { options } => compare::profile(options),
        Commands::Rpi4Sd { out, barrier, payload, release } => {
            rpi4_sd::make_boot_folder(&out, VariantArgs { board: Board::Rpi4, barrier, release }, payload)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // `{:#}`: the error with its context chain, e.g. "building X: `cargo build ...` failed".
            eprintln!("xtask: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
