//! Running the tools xtask drives (cargo, rustc, rustup, llvm tools, apt): one place that turns "could not
//! start" and "exited with a failure status" into errors naming the command line.

use anyhow::{ensure, Context, Result};
use std::process::{Command, Output};

/// The command line as a shell would show it (program and arguments).
fn describe(command: &Command) -> String {
    let mut words = vec![command.get_program().to_string_lossy().into_owned()];
    words.extend(command.get_args().map(|argument| argument.to_string_lossy().into_owned()));
    words.join(" ")
}

/// Runs `command` with inherited output; fails when it cannot start or exits unsuccessfully.
pub fn run(command: &mut Command) -> Result<()> {
    let status = command.status().with_context(|| format!("cannot run `{}`", describe(command)))?;
    ensure!(status.success(), "`{}` failed ({status})", describe(command));
    Ok(())
}

/// Runs `command` and captures its output, whatever its exit status (callers judge it); fails only when it
/// cannot start.
pub fn output(command: &mut Command) -> Result<Output> {
    command.output().with_context(|| format!("cannot run `{}`", describe(command)))
}

/// Runs `command` and returns its standard output as text; fails when it cannot start or exits unsuccessfully.
pub fn stdout(command: &mut Command) -> Result<String> {
    let output = output(command)?;
    ensure!(output.status.success(), "`{}` failed ({})", describe(command), output.status);
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// A tool of the pinned toolchain's llvm-tools component (rust-toolchain.toml lists it;
/// `setup::ensure_rust_target` installs it): <sysroot>/lib/rustlib/<host>/bin/<name>.
pub fn llvm_tool(name: &str) -> Result<std::path::PathBuf> {
    let rustc = |argument: &str| stdout(Command::new("rustc").current_dir(crate::workspace_root()).arg(argument));
    let sysroot = rustc("--print=sysroot")?;
    let version = rustc("-vV")?;
    let host = version
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .context("cannot find the host triple in `rustc -vV`")?
        .trim();
    let tool = std::path::Path::new(sysroot.trim()).join("lib/rustlib").join(host).join("bin").join(name);
    ensure!(tool.is_file(), "{} is missing: run `rustup component add llvm-tools`", tool.display());
    Ok(tool)
}
