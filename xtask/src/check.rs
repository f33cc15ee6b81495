//! `cargo xtask check`: formatting and clippy for the host crates, for every kernel build xtask makes (each barrier
//! variant, each payload, both boards, the real-board rpi4 build), for the EL0 programs and for the Rust std
//! program of the real-program suite; and that docs/syscalls.md is what the dispatcher gives.

use crate::{workspace_root, Barrier, Board, KernelBuild, Payload, VariantArgs, KERNEL_TARGET};
use anyhow::{Context, Result};
use std::path::Path;
use std::process::Command;

/// The kernel builds linted besides the default one (arm64 barrier, demo payload): every other barrier variant
/// and every other payload, combined as `cargo xtask test` and `compare` build them. Features are what
/// `KernelBuild` gives each build, so a renamed feature is linted under its new name.
const KERNEL_LINT_BUILDS: [(Barrier, Payload); 4] = [
    (Barrier::Generic, Payload::Tests),
    (Barrier::NoneBroken, Payload::Tests),
    (Barrier::Arm64, Payload::Fault),
    (Barrier::Arm64, Payload::Bench),
];

const BOARDS: [Board; 2] = [Board::QemuVirt, Board::Rpi4];

/// Runs one cargo command in `folder` with the default target folder (shared by every lint build: each feature
/// set is its own unit there, so a second `check` rechecks only what changed).
fn cargo_step_in(folder: &Path, description: &str, arguments: &[&str]) -> Result<()> {
    eprintln!("==> {description}: cargo {} (in {})", arguments.join(" "), folder.display());
    crate::command::run(Command::new(env!("CARGO")).current_dir(folder).env_remove("CARGO_TARGET_DIR").args(arguments))
        .with_context(|| format!("{description} failed"))
}

fn cargo_step(description: &str, arguments: &[&str]) -> Result<()> {
    cargo_step_in(&workspace_root(), description, arguments)
}

/// Clippy for the kernel target on `packages` with `features`; warnings are errors.
fn kernel_clippy(description: &str, packages: &[&str], features: &[&str]) -> Result<()> {
    let mut arguments = vec!["clippy", "--target", KERNEL_TARGET];
    for package in packages {
        arguments.extend(["--package", package]);
    }
    let features = features.join(",");
    if !features.is_empty() {
        arguments.extend(["--features", &features]);
    }
    arguments.extend(["--", "-D", "warnings"]);
    cargo_step(description, &arguments)
}

/// Formatting and lints for the host crates, every kernel build, the EL0 programs and the Rust std program.
pub fn check() -> Result<()> {
    crate::setup::ensure_rust_target()?;
    eprintln!("==> docs/syscalls.md against the dispatcher (cargo xtask syscall-table --check)");
    crate::syscall_table::check_committed()?;
    cargo_step("formatting", &["fmt", "--all", "--check"])?;
    cargo_step("clippy (host crates)", &["clippy", "--all-targets", "--", "-D", "warnings"])?;
    let build = |board, barrier, payload| KernelBuild::new(VariantArgs { board, barrier, release: false }, payload);
    let boards = BOARDS.map(|board| build(board, Barrier::Arm64, Payload::Demo).package());
    // The default build, with the kernel-target crates named so that they are linted even where no board uses
    // them.
    let mut packages = boards.to_vec();
    packages.extend(["payloads", "kernel", "arch-arm64", "core-sched", "abi"]);
    kernel_clippy("clippy (kernel target, arm64 barrier, demo)", &packages, &[])?;
    // The other variants and payloads: clippy lints the workspace crates each board pulls in (kernel, arch-arm64)
    // with the board's features, so both boards in one run cover a feature set.
    for (barrier, payload) in KERNEL_LINT_BUILDS {
        let features = build(Board::QemuVirt, barrier, payload).features();
        let description = format!("clippy (kernel target, {} barrier, {})", barrier.name(), payload.name());
        kernel_clippy(&description, &boards, &features)?;
    }
    // The real-board build of rpi4 compiles a different `finish` (print and park instead of semihosting); linted
    // as `rpi4-sd` builds it by default, with the test suite.
    let hardware = build(Board::Rpi4, Barrier::Arm64, Payload::Tests).for_hardware();
    kernel_clippy("clippy (rpi4 hardware build)", &[hardware.package()], &hardware.features())?;
    // The EL0 programs: their own workspace (user/), target aarch64-unknown-none.
    let user = workspace_root().join("user");
    cargo_step_in(&user, "formatting (EL0 programs)", &["fmt", "--all", "--check"])?;
    cargo_step_in(&user, "clippy (EL0 programs)", &["clippy", "--release", "--", "-D", "warnings"])?;
    // The Rust std program of the real-program suite: its own workspace too, for the Linux targets (one target
    // is enough for lints: the code has no per-target parts).
    let linux_std = user.join("linux-std");
    crate::linux_programs::ensure_rust_linux_targets()?;
    cargo_step_in(&linux_std, "formatting (Rust std program)", &["fmt", "--all", "--check"])?;
    let target = crate::linux_programs::RUST_LINUX_TARGETS[0];
    cargo_step_in(
        &linux_std,
        "clippy (Rust std program)",
        &["clippy", "--release", "--target", target, "--", "-D", "warnings"],
    )
}
