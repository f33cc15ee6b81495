//! `cargo xtask`: the single entry point to build, run and test the kernel. Each subcommand's doc comment is
//! its `--help` text.

mod qemu;
mod setup;
mod test;

use clap::{Parser, Subcommand, ValueEnum};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

/// Build, run and test the membarrier kernel for AArch64.
#[derive(Parser)]
#[command(name = "xtask", bin_name = "cargo xtask", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Subcommand)]
enum Commands {
    /// Build a kernel image (ELF, and for rpi4 also kernel8.img) into out/<board>-<barrier>-<payload>/.
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
    },
    /// Run every test: host unit tests, then each QEMU suite; prints one `N passed, N failed` line overall.
    Test {
        /// Run the ordering tests for longer.
        #[arg(long)]
        long: bool,
    },
    /// Formatting and lints: `cargo fmt --check`, clippy for the host crates and for the kernel target.
    Check,
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

/// What the kernel does after boot.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Payload {
    /// The demo workload.
    Demo,
    /// The in-kernel test suite.
    Tests,
    /// A test build that takes a kernel fault on purpose (must fail with a fault report).
    Fault,
}

impl Board {
    pub fn name(self) -> &'static str {
        match self {
            Board::QemuVirt => "qemu-virt",
        }
    }
    fn package(self) -> &'static str {
        match self {
            Board::QemuVirt => "board-qemu-virt",
        }
    }
    fn binary(self) -> &'static str {
        match self {
            Board::QemuVirt => "kernel-qemu-virt",
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
    fn feature(self) -> Option<&'static str> {
        match self {
            Barrier::Arm64 => None,
            Barrier::Generic => Some("generic-barrier"),
            Barrier::NoneBroken => Some("no-post-switch-barrier"),
        }
    }
}

impl Payload {
    fn name(self) -> &'static str {
        match self {
            Payload::Demo => "demo",
            Payload::Tests => "tests",
            Payload::Fault => "fault",
        }
    }
    fn feature(self) -> Option<&'static str> {
        match self {
            Payload::Demo => None,
            Payload::Tests => Some("test-suite"),
            Payload::Fault => Some("test-fault"),
        }
    }
}

/// The kernel target: no FP/SIMD in kernel code.
pub const KERNEL_TARGET: &str = "aarch64-unknown-none-softfloat";

/// The workspace root (xtask's parent folder).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}

/// A built kernel.
pub struct Image {
    pub elf: PathBuf,
}

/// Builds one variant; prints what it builds and how long it took.
pub fn build(variant: VariantArgs, payload: Payload) -> Result<Image, String> {
    setup::ensure_rust_target()?;
    let label = format!("{}-{}-{}", variant.board.name(), variant.barrier.name(), payload.name());
    let broken = if variant.barrier == Barrier::NoneBroken { " (BROKEN barrier variant, for tests only)" } else { "" };
    eprintln!("==> building {label}{broken} ({})", if variant.release { "release" } else { "debug" });
    let started = Instant::now();
    let features: Vec<&str> = [variant.barrier.feature(), payload.feature()].into_iter().flatten().collect();
    let mut cargo = Command::new(env!("CARGO"));
    cargo.current_dir(workspace_root()).args([
        "build",
        "--package",
        variant.board.package(),
        "--target",
        KERNEL_TARGET,
    ]);
    if variant.release {
        cargo.arg("--release");
    }
    if !features.is_empty() {
        cargo.args(["--features", &features.join(",")]);
    }
    let status = cargo.status().map_err(|error| format!("cannot run cargo: {error}"))?;
    if !status.success() {
        return Err(format!("building {label} failed"));
    }
    let profile = if variant.release { "release" } else { "debug" };
    let built = workspace_root().join("target").join(KERNEL_TARGET).join(profile).join(variant.board.binary());
    let out_dir = workspace_root().join("out").join(&label);
    std::fs::create_dir_all(&out_dir).map_err(|error| format!("cannot create {}: {error}", out_dir.display()))?;
    let elf = out_dir.join("kernel.elf");
    std::fs::copy(&built, &elf).map_err(|error| format!("cannot copy {}: {error}", built.display()))?;
    eprintln!("    built {} in {:.1} s", elf.display(), started.elapsed().as_secs_f64());
    Ok(Image { elf })
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Commands::Build { variant, payload } => build(variant, payload).map(|_| ()),
        Commands::Qemu { variant, payload, smp, gdb, timeout } => {
            let image = build(variant, payload)?;
            let run = qemu::QemuRun { board: variant.board, smp, gdb, timeout_secs: timeout, echo: true };
            let outcome = run.run(&image)?;
            if outcome.timed_out {
                return Err(format!("QEMU did not finish within {timeout} s"));
            }
            match outcome.exit_code {
                Some(0) => Ok(()),
                Some(code) => Err(format!("the kernel exited with status {code}")),
                None => Err("QEMU was killed by a signal".into()),
            }
        }
        Commands::Test { long } => test::run_all(long),
        Commands::Check => test::check(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: error: {message}");
            ExitCode::FAILURE
        }
    }
}
