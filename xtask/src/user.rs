//! Builds the EL0 programs (`user/`, a workspace of its own for the aarch64-unknown-none target) and gathers
//! them, plus any `--user` files, into the folder the kernel's build script embeds.

use crate::workspace_root;
use anyhow::{bail, Context, Result};
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
    "sleeps",
    "fuzz",
    "vm",
    "futex",
    "rseq",
];

/// Programs also built as static PIEs (`ET_DYN` without `PT_INTERP`, relocating themselves in ulib's start-up
/// code), embedded as `NAME-pie`: the kernel's static-PIE loading path, tested with our own programs.
pub const STATIC_PIE_PROGRAMS: &[&str] = &["auxv"];

/// The rustflags of the static-PIE build, added to `user/.cargo/config.toml`'s: position-independent code, a
/// PIE link without a dynamic linker (so no PT_INTERP), and the cfg that selects ulib's self-relocating start.
const STATIC_PIE_RUSTFLAGS: &str = r#"target.aarch64-unknown-none.rustflags=["-C", "relocation-model=pie", "-C", "link-arg=-pie", "-C", "link-arg=--no-dynamic-linker", "--cfg", "static_pie"]"#;

/// A `--user 'PROGRAM [ARG...]'` command line: PROGRAM is a host path of a static ELF, or the name of a
/// built-in EL0 program (`fuzz`, `hello`, ...) when no such file exists.
pub struct UserCommand {
    pub program: UserProgram,
    pub arguments: Vec<String>,
}

/// What a `--user` command runs.
#[derive(Debug, PartialEq, Eq)]
pub enum UserProgram {
    /// A file built elsewhere, copied into the image.
    File(PathBuf),
    /// One of [`BUILTIN_PROGRAMS`], embedded anyway.
    Builtin(&'static str),
}

impl UserCommand {
    pub fn parse(text: &str) -> Result<Self> {
        let mut words = text.split_whitespace();
        let word = words.next().context("--user needs a program path or a built-in program's name")?;
        let path = PathBuf::from(word);
        let program = match BUILTIN_PROGRAMS.iter().find(|&&name| name == word) {
            _ if path.is_file() => UserProgram::File(path),
            Some(name) => UserProgram::Builtin(name),
            None => bail!("--user: {word} is neither a file nor a built-in program ({})", BUILTIN_PROGRAMS.join(", ")),
        };
        Ok(Self { program, arguments: words.map(String::from).collect() })
    }

    /// The program's file name: argv[0].
    fn file_name(&self) -> String {
        match &self.program {
            UserProgram::File(path) => {
                path.file_name().map_or("program".into(), |name| name.to_string_lossy().to_string())
            }
            UserProgram::Builtin(name) => name.to_string(),
        }
    }

    /// The name the kernel knows the program by: a built-in's own, a file's name unique-ified by position.
    fn embedded_name(&self, index: usize) -> String {
        match &self.program {
            UserProgram::File(_) => format!("{index}-{}", self.file_name()),
            UserProgram::Builtin(name) => name.to_string(),
        }
    }
}

/// The embedded name of each command's program. A file that several commands run (busybox applets, the Rust std
/// program's modes) is embedded once, under the name of the first command that runs it: the kernel image has
/// room for 16 MiB, and a 2 MiB busybox copied per command would not fit.
fn embedded_names(commands: &[UserCommand]) -> Vec<String> {
    commands
        .iter()
        .enumerate()
        .map(|(index, command)| {
            let first = commands.iter().position(|other| other.program == command.program).unwrap_or(index);
            commands[first].embedded_name(first)
        })
        .collect()
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
    for (command, name) in commands.iter().zip(embedded_names(commands)) {
        if let UserProgram::File(path) = &command.program {
            if !folder.join(&name).exists() {
                copy(path, &folder.join(&name))?;
            }
        }
        // Embedded name, then argv: the file's own name and the arguments.
        run_list.push_str(&name);
        run_list.push(' ');
        run_list.push_str(&command.file_name());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_builtin_name_runs_the_embedded_program() {
        let command = UserCommand::parse("fuzz 1234 500").unwrap();
        assert_eq!(command.program, UserProgram::Builtin("fuzz"));
        assert_eq!(command.arguments, ["1234", "500"]);
        assert_eq!(command.embedded_name(3), "fuzz");
        assert!(UserCommand::parse("no-such-program").is_err());
        let file = UserCommand::parse(concat!(env!("CARGO_MANIFEST_DIR"), "/src/user.rs")).unwrap();
        assert_eq!(file.embedded_name(2), "2-user.rs");
    }

    #[test]
    fn a_file_run_by_several_commands_is_embedded_once() {
        let source = concat!(env!("CARGO_MANIFEST_DIR"), "/src/user.rs");
        let other = concat!(env!("CARGO_MANIFEST_DIR"), "/src/main.rs");
        let commands: Vec<UserCommand> =
            [format!("{source} a"), "hello".into(), other.to_string(), format!("{source} b")]
                .iter()
                .map(|text| UserCommand::parse(text).unwrap())
                .collect();
        assert_eq!(embedded_names(&commands), ["0-user.rs", "hello", "2-main.rs", "0-user.rs"]);
    }
}
