//! Builds the insn-counter plugin and runs the bench payload of one barrier variant under QEMU virt with it.

use super::call_site::hook_call_site;
use super::report::barrier_label;
use super::results::{parse_run, CallSite, VariantResult};
use super::BenchOptions;
use crate::qemu::QemuRun;
use crate::user::{UserCommand, UserProgram};
use crate::{workspace_root, Barrier, Board, Image, KernelBuild, Payload, VariantArgs};
use anyhow::{bail, ensure, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Builds the plugin (a workspace of its own, GPL) and returns the path of the shared object.
pub fn build_plugin() -> Result<PathBuf> {
    let target_dir = crate::kernel_build::target_dir().join("insn-counter");
    eprintln!("==> building the insn-counter QEMU plugin (tools/insn-counter)");
    let manifest = workspace_root().join("tools/insn-counter/Cargo.toml");
    crate::command::run(
        Command::new(env!("CARGO"))
            .current_dir(workspace_root().join("tools/insn-counter"))
            .args(["build", "--release", "--quiet", "--manifest-path"])
            .arg(&manifest)
            .arg("--target-dir")
            .arg(&target_dir),
    )
    .context("building the insn-counter plugin")?;
    let library = target_dir.join("release/libinsn_counter.so");
    ensure!(library.is_file(), "{} is missing after the build", library.display());
    Ok(library)
}

/// Builds and runs the bench payload of `barrier` once, with the plugin.
pub fn run_variant(barrier: Barrier, options: BenchOptions, plugin: &Path) -> Result<VariantResult> {
    let variant = VariantArgs { board: Board::QemuVirt, barrier, release: true };
    // The kernel reads these with option_env! (payloads/src/bench.rs); cargo rebuilds when they change.
    let image = KernelBuild::new(variant, Payload::Bench)
        .with_user_commands(urcu_bench_program())
        .with_setting("KERNEL_BENCH_ITERATIONS", options.iterations)
        .with_setting("KERNEL_BENCH_REPETITIONS", options.repetitions)
        .with_setting("KERNEL_BENCH_LITMUS_ITERATIONS", options.litmus_iterations)
        .build()?;
    let call_site = hook_call_site(&image.elf).unwrap_or_else(|error| CallSite {
        function: format!("(disassembly unavailable: {error:#})"),
        ..CallSite::default()
    });
    let report = image.elf.with_file_name("insn-counter.txt");
    let _ = std::fs::remove_file(&report);
    let console = run_qemu(&image, plugin, &report, options.timeout, barrier, "")?;
    let plugin_report = std::fs::read_to_string(&report)
        .with_context(|| format!("the plugin wrote no report ({})", report.display()))?;
    let mut result = parse_run(barrier, &console, &plugin_report)?;
    result.call_site = call_site;
    Ok(result)
}

/// The liburcu bench program (user/linux/urcu_bench.c), embedded for the payload's urcu scenarios; none, with a
/// note, when liburcu or the cross toolchain cannot be had (the payload then skips those scenarios).
fn urcu_bench_program() -> Vec<UserCommand> {
    match crate::linux_programs::build_urcu_bench() {
        Ok(path) => vec![UserCommand { program: UserProgram::File(path), arguments: Vec::new() }],
        Err(error) => {
            eprintln!("note: no liburcu rows in this run (the urcu bench program cannot be built): {error:#}");
            Vec::new()
        }
    }
}

/// Boots `image` on QEMU virt (four cores, multi-threaded TCG, as the tests) with the plugin (and
/// `extra_plugin_arguments`, each starting with a comma); returns the console (also kept in console.txt next to
/// the ELF). Fails on a non-zero exit status or a timeout, showing the last console lines.
pub fn run_qemu(
    image: &Image,
    plugin: &Path,
    report: &Path,
    timeout: u64,
    barrier: Barrier,
    extra_plugin_arguments: &str,
) -> Result<String> {
    eprintln!("==> bench {}", barrier_label(barrier));
    let run = QemuRun {
        board: Board::QemuVirt,
        smp: 4,
        gdb: false,
        timeout_secs: timeout,
        echo: false,
        // audit=on: the plugin also checks every switch into a registered mm for a full barrier before the
        // first user instruction (it adds callbacks, not counted instructions, so the counts are unchanged).
        extra_arguments: vec![
            "-plugin".into(),
            format!("{},outfile={},audit=on{extra_plugin_arguments}", plugin.display(), report.display()),
        ],
    };
    let outcome = run.run(image)?;
    let console = outcome.console.join("\n");
    let console_path = image.elf.with_file_name("console.txt");
    std::fs::write(&console_path, &console).with_context(|| format!("cannot write {}", console_path.display()))?;
    match outcome.exit_code {
        _ if outcome.timed_out => bail!("QEMU did not finish within {timeout} s\n{}", outcome.tail(20)),
        Some(0) => Ok(console),
        status => bail!("the bench run exited with {status:?}; last console lines:\n{}", outcome.tail(20)),
    }
}
