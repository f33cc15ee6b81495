//! Builds the EL0 programs (`user/`, a workspace of its own for the aarch64-unknown-none target) and gathers
//! them, plus any `--user` files, into the folder the kernel's build script embeds.

use crate::workspace_root;
use anyhow::{ensure, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The programs of `user/src/bin`.
pub const BUILTIN_PROGRAMS: &[&str] = &[
    "hello",
    "threads",
    "isolation",
    "syscalls",
    "faults",
    "membarrier",
    "litmus",
    "mailbox",
    "bench",
    "signals",
    "auxv",
    "futex",
];

/// Programs also built as static PIEs (`ET_DYN` without `PT_INTERP`, relocating themselves in ulib's start-up
/// code), embedded as `NAME-pie`: the kernel's static-PIE loading path, tested with our own programs.
pub const STATIC_PIE_PROGRAMS: &[&str] = &["auxv"];

/// The rustflags of the static-PIE build, added to `user/.cargo/config.toml`'s: position-independent code, a
/// PIE link without a dynamic linker (so no PT_INTERP), and the cfg that selects ulib's self-relocating start.
const STATIC_PIE_RUSTFLAGS: &str = r#"target.aarch64-unknown-none.rustflags=["-C", "relocation-model=pie", "-C", "link-arg=-pie", "-C", "link-arg=--no-dynamic-linker", "--cfg", "static_pie"]"#;

/// A `--user 'PATH [ARG...]'` command line.
pub struct UserCommand {
    pub path: PathBuf,
    pub arguments: Vec<String>,
}

impl UserCommand {
    pub fn parse(text: &str) -> Result<Self> {
        let mut words = text.split_whitespace();
        let path = PathBuf::from(words.next().context("--user needs a program path")?);
        ensure!(path.is_file(), "--user: {} is not a file", path.display());
        Ok(Self { path, arguments: words.map(String::from).collect() })
    }

    /// The name the kernel knows the program by (its file name, unique-ified by position).
    fn embedded_name(&self, index: usize) -> String {
        let file = self.path.file_name().map_or("program".into(), |name| name.to_string_lossy().to_string());
        format!("{index}-{file}")
    }
}

/// Builds the user programs and returns (folder to embed, run list for the kernel).
pub fn prepare(commands: &[UserCommand]) -> Result<(PathBuf, String)> {
    let user_root = workspace_root().join("user");
    eprintln!("==> building EL0 programs (user/, release)");
    crate::command::run(Command::new(env!("CARGO")).current_dir(&user_root).env_remove("CARGO_TARGET_DIR").args([
        "build",
        "--release",
        "--quiet",
    ]))
    .context("building the EL0 programs (user/)")?;
    // The static PIEs, in a target folder of their own (their flags differ for every crate).
    let mut static_pie_build = Command::new(env!("CARGO"));
    static_pie_build.current_dir(&user_root).env_remove("CARGO_TARGET_DIR").args([
        "build",
        "--release",
        "--quiet",
        "--target-dir",
        "target/static-pie",
        "--config",
        STATIC_PIE_RUSTFLAGS,
    ]);
    for program in STATIC_PIE_PROGRAMS {
        static_pie_build.args(["--bin", program]);
    }
    crate::command::run(&mut static_pie_build).context("building the EL0 programs as static PIEs (user/)")?;
    let static_pies_built = user_root.join("target/static-pie/aarch64-unknown-none/release");
    let built = user_root.join("target/aarch64-unknown-none/release");
    let folder =
        workspace_root().join("out").join(if commands.is_empty() { "user-programs" } else { "user-programs-run" });
    let _ = std::fs::remove_dir_all(&folder);
    std::fs::create_dir_all(&folder).with_context(|| format!("cannot create {}", folder.display()))?;
    for program in BUILTIN_PROGRAMS {
        copy(&built.join(program), &folder.join(program))?;
    }
    for program in STATIC_PIE_PROGRAMS {
        copy(&static_pies_built.join(program), &folder.join(format!("{program}-pie")))?;
    }
    let mut run_list = String::new();
    for (index, command) in commands.iter().enumerate() {
        let name = command.embedded_name(index);
        copy(&command.path, &folder.join(&name))?;
        // Embedded name, then argv: the file's own name and the arguments.
        run_list.push_str(&name);
        run_list.push(' ');
        run_list
            .push_str(&command.path.file_name().map_or("program".into(), |file| file.to_string_lossy().to_string()));
        for argument in &command.arguments {
            run_list.push(' ');
            run_list.push_str(argument);
        }
        run_list.push('\n');
    }
    Ok((folder, run_list))
}

fn copy(from: &Path, to: &Path) -> Result<()> {
    std::fs::copy(from, to).map(|_| ()).with_context(|| format!("cannot copy {}", from.display()))
}
