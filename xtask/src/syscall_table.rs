//! `cargo xtask syscall-table`: docs/syscalls.md, the table of the Linux system calls the kernel implements,
//! generated from the dispatcher itself (the `nr::NAME => module::handler(...)` arms of `dispatch` in
//! kernel/src/syscalls/mod.rs) and the ABI crate's names and numbers, so that the table cannot claim a call the
//! kernel does not route. The deliberate differences from Linux are written here, keyed by call, and appear only
//! for calls the dispatcher has. A host test (and `cargo xtask check`) fails when the committed file differs from
//! what the dispatcher gives today.

use crate::workspace_root;
use anyhow::{bail, ensure, Context, Result};
use std::path::PathBuf;

/// The dispatcher, relative to the workspace root.
const DISPATCHER: &str = "kernel/src/syscalls/mod.rs";
/// The generated table, relative to the workspace root.
const TABLE: &str = "docs/syscalls.md";

/// Where this kernel deliberately differs from Linux, by Linux name. Only the calls the dispatcher has are shown;
/// a note for a call not routed yet (futex) waits for it.
const DIFFERENCES: &[(&str, &str)] = &[
    ("read", "the console reads end of file (no input is wired)"),
    ("readv", "the console reads end of file (no input is wired)"),
    ("ioctl", "the console answers as a serial tty (`TCGETS`, `TIOCGWINSZ`: 0 x 0); other requests ENOTTY"),
    ("openat", "ENOENT for every path: there is no file system"),
    ("readlinkat", "ENOENT: there is no file system"),
    ("faccessat", "ENOENT: there is no file system"),
    ("faccessat2", "ENOENT: there is no file system"),
    ("newfstatat", "only a descriptor with `AT_EMPTY_PATH`; a path gives ENOENT (no file system)"),
    (
        "mmap",
        "anonymous memory only (a file mapping gives EBADF, or ENODEV for the console); MAP_SHARED anonymous \
         memory is private (no fork to share it with); PROT_WRITE\\|PROT_EXEC gives EACCES (W^X)",
    ),
    ("mprotect", "PROT_WRITE\\|PROT_EXEC gives EACCES: W^X is kept (as under SELinux's execmem denial)"),
    (
        "clone",
        "threads only: without CLONE_VM, CLONE_THREAD and the rest of a thread's flags EINVAL (no fork); a stack is \
         required",
    ),
    (
        "rt_sigaction",
        "dispositions are stored, handlers are not delivered: a signal whose disposition is a handler ends the \
         process with a console line saying so",
    ),
    ("sigaltstack", "stored; never used, since handlers are not delivered"),
    ("kill", "default actions only (handlers are not delivered, see `rt_sigaction`)"),
    ("tkill", "default actions only (handlers are not delivered, see `rt_sigaction`)"),
    ("tgkill", "default actions only (handlers are not delivered, see `rt_sigaction`)"),
    ("clock_gettime", "no wall clock: the realtime clocks count from boot"),
    ("gettimeofday", "no wall clock: the time counts from boot"),
    ("getuid", "0: every process runs as root"),
    ("geteuid", "0: every process runs as root"),
    ("getgid", "0: every process runs as root"),
    ("getegid", "0: every process runs as root"),
    ("futex", "PI futexes (`FUTEX_LOCK_PI`, `FUTEX_UNLOCK_PI`, ...) give ENOSYS"),
];

/// One arm of the dispatcher's `match`: the calls it routes and the handler it calls.
#[derive(Debug, PartialEq, Eq)]
pub struct DispatchArm {
    /// The `nr::` constants of the pattern (`WRITE`, or `GETUID`, `GETEUID`, ... for an or-pattern).
    pub constants: Vec<String>,
    /// The handler's path, e.g. `fd::write`.
    pub handler: String,
}

/// One row of the table.
#[derive(Debug, PartialEq, Eq)]
struct Row {
    number: usize,
    name: &'static str,
    handler: String,
}

/// The text with `//` comments removed (the dispatcher has no string literals that could hold `//`).
fn without_comments(text: &str) -> String {
    text.lines().map(|line| line.find("//").map_or(line, |start| &line[..start])).collect::<Vec<_>>().join("\n")
}

/// The index just past the bracket that closes the one opening at `open`.
fn matching_close(text: &[u8], open: usize) -> Result<usize> {
    let mut depth = 0usize;
    for (index, &byte) in text.iter().enumerate().skip(open) {
        match byte {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => {
                depth = depth.checked_sub(1).context("unbalanced brackets in the dispatcher")?;
                if depth == 0 {
                    return Ok(index + 1);
                }
            }
            _ => {}
        }
    }
    bail!("unclosed bracket in the dispatcher")
}

/// The body of `match number { ... }` inside `fn dispatch`, without the braces.
fn match_body(source: &str) -> Result<String> {
    let text = without_comments(source);
    let function = text.find("fn dispatch(").context("no `fn dispatch(` in the dispatcher")?;
    let start = function + text[function..].find("match number").context("no `match number` in `fn dispatch`")?;
    let open = start + text[start..].find('{').context("no `{` after `match number`")?;
    let close = matching_close(text.as_bytes(), open)?;
    Ok(text[open + 1..close - 1].to_string())
}

/// The arms of the dispatcher in `source` (the text of kernel/src/syscalls/mod.rs), in source order, without the
/// wildcard arm. Strict: a pattern other than `nr::NAME` alternatives, or an arm whose expression does not start
/// with a call, is an error, so that a new kind of arm is noticed rather than left out of the table.
pub fn parse_dispatcher(source: &str) -> Result<Vec<DispatchArm>> {
    let body = match_body(source)?;
    let bytes = body.as_bytes();
    let mut arms = Vec::new();
    let mut position = 0;
    loop {
        let rest = &body[position..];
        let Some(arrow) = rest.find("=>") else {
            ensure!(rest.trim().is_empty(), "unexpected text after the last arm: {:?}", rest.trim());
            break;
        };
        // A comma after a block arm is optional: when present it is still here.
        let pattern = rest[..arrow].trim().trim_start_matches(',').trim();
        let expression_start = position + arrow + 2;
        let leading_space = body[expression_start..].len() - body[expression_start..].trim_start().len();
        let expression_start = expression_start + leading_space;
        // The arm ends at the first comma outside brackets, or after a block.
        let mut end = expression_start;
        while end < bytes.len() {
            match bytes[end] {
                b'(' | b'[' | b'{' => {
                    end = matching_close(bytes, end)?;
                    if bytes[expression_start] == b'{' && end == matching_close(bytes, expression_start)? {
                        break;
                    }
                }
                b',' => break,
                _ => end += 1,
            }
        }
        let expression = body[expression_start..end].trim();
        position = (end + 1).min(body.len());
        if pattern == "_" {
            continue;
        }
        let constants = pattern
            .split('|')
            .map(|alternative| {
                let alternative = alternative.trim();
                let constant = alternative.strip_prefix("nr::").filter(|name| {
                    !name.is_empty() && name.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                });
                constant
                    .map(String::from)
                    .with_context(|| format!("dispatcher arm pattern `{alternative}` is not `nr::NAME`"))
            })
            .collect::<Result<Vec<_>>>()?;
        let call = expression.trim_start_matches('{').trim_start();
        // Each arm encodes its own result (`nr::GETPID => syscall_return_value(thread::getpid())`): the handler
        // is the call inside.
        let call = call.strip_prefix("syscall_return_value(").unwrap_or(call);
        let path_length = call.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':')).unwrap_or(call.len());
        let handler = &call[..path_length];
        ensure!(
            !handler.is_empty() && call[path_length..].starts_with('('),
            "dispatcher arm `{pattern} => {expression}` does not call a handler"
        );
        arms.push(DispatchArm { constants, handler: handler.to_string() });
    }
    Ok(arms)
}

/// The number of the call whose constant (the upper-case Linux name, as the ABI crate names them) is `constant`.
fn number_of_constant(constant: &str) -> Option<(usize, &'static str)> {
    abi::syscalls::ALL.iter().find_map(|&number| {
        let name = abi::syscalls::name(number)?;
        (name.to_ascii_uppercase() == constant).then_some((number, name))
    })
}

/// One row per routed call, by number; an unknown constant or a call routed twice is an error.
fn rows(arms: &[DispatchArm]) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for arm in arms {
        for constant in &arm.constants {
            let (number, name) = number_of_constant(constant)
                .with_context(|| format!("`nr::{constant}` is not a Linux arm64 system call of the ABI crate"))?;
            ensure!(rows.iter().all(|row: &Row| row.number != number), "`nr::{constant}` is routed twice");
            rows.push(Row { number, name, handler: arm.handler.clone() });
        }
    }
    rows.sort_by_key(|row| row.number);
    Ok(rows)
}

/// The module of a handler path (`fd` of `fd::write`), or `mod` for a function of the dispatcher's own file.
fn module_of(handler: &str) -> &str {
    handler.rsplit_once("::").map_or("mod", |(module, _)| module)
}

/// docs/syscalls.md for `arms`.
fn render(arms: &[DispatchArm]) -> Result<String> {
    let rows = rows(arms)?;
    let mut modules: Vec<&str> = rows.iter().map(|row| module_of(&row.handler)).collect();
    modules.sort_unstable();
    modules.dedup();
    let mut text = format!(
        "# Linux system calls the kernel implements\n\n\
         Generated by `cargo xtask syscall-table` from the dispatcher (`{DISPATCHER}`) and the ABI crate's\n\
         names (`abi::syscalls`); do not edit by hand: `cargo test` and `cargo xtask check` fail when this file\n\
         differs from what the dispatcher routes.\n\n\
         {} calls, each with Linux's arm64 number, arguments and errnos, handled in {} modules of\n\
         `kernel/src/syscalls/`. Every other number returns ENOSYS, and the console says which call it was the first\n\
         time a process uses it (`pid 7: unimplemented syscall 280 (bpf)`).\n\n\
         | number | system call | handler | differences from Linux |\n| ---: | --- | --- | --- |\n",
        rows.len(),
        modules.len()
    );
    for row in &rows {
        let module = module_of(&row.handler);
        let note = DIFFERENCES.iter().find(|(name, _)| *name == row.name).map_or("", |(_, note)| note);
        text.push_str(&format!(
            "| {} | `{}` | [`{}`](../kernel/src/syscalls/{module}.rs) | {note} |\n",
            row.number, row.name, row.handler
        ));
    }
    text.push_str(
        "\n## Not supported yet\n\n\
         - No vDSO: the auxiliary vector has no `AT_SYSINFO_EHDR`, so the libcs make `clock_gettime` and\n  \
         `gettimeofday` as real system calls.\n\
         - No file system: no `execve`, and every path lookup gives ENOENT; descriptors 0, 1 and 2 are the console.\n\
         - No fork: `clone` creates threads only.\n\
         - Signal handlers are not delivered (dispositions, masks and default actions are Linux's).\n",
    );
    Ok(text)
}

fn workspace_file(relative: &str) -> PathBuf {
    workspace_root().join(relative)
}

/// The table the dispatcher gives today.
fn generate() -> Result<String> {
    let path = workspace_file(DISPATCHER);
    let source = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    render(&parse_dispatcher(&source).with_context(|| format!("parsing {}", path.display()))?)
}

/// Fails when the committed docs/syscalls.md is not what the dispatcher gives.
pub fn check_committed() -> Result<()> {
    let path = workspace_file(TABLE);
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    ensure!(
        committed == generate()?,
        "{TABLE} is stale: the dispatcher ({DISPATCHER}) routes other calls; regenerate it with `cargo xtask \
         syscall-table`"
    );
    Ok(())
}

/// `cargo xtask syscall-table [--check]`.
pub fn run(check: bool) -> Result<()> {
    if check {
        check_committed()?;
        eprintln!("    {TABLE} matches the dispatcher");
        return Ok(());
    }
    let path = workspace_file(TABLE);
    std::fs::write(&path, generate()?).with_context(|| format!("cannot write {}", path.display()))?;
    eprintln!("    wrote {}", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A dispatcher in the shapes rustfmt gives arms: one line, an or-pattern, a call broken over lines, a
    /// block, comments (one holding `=>`), a call wrapped in `syscall_return_value`, and the wildcard.
    const SAMPLE: &str = r#"
fn handle_user_trap() { let x = match y { 1 => 2, _ => 3 }; }

/// The handler of system call `number`, by number.
fn dispatch(number: usize, arguments: [u64; 6], frame: &TrapFrame) -> Result<usize, Errno> {
    let [a0, a1, a2, a3, a4, a5] = arguments;
    match number {
        // Descriptors (the console as 0, 1, 2) => not an arm.
        nr::WRITE => fd::write(a0, UserSlice::new(a1, a2)),
        nr::GETUID | nr::GETEUID
        | nr::GETGID => system::root_id(),
        nr::PSELECT6 => poll::pselect6(
            a0,
            [a1, a2, a3],
            UserPtr::new(a4),
            a5,
        ),
        nr::FUTEX => {
            futex::futex(a0, a1, a2, a3, a4, a5)
        }
        nr::CLONE => thread::clone(frame, a0, a1, a3), // threads only
        nr::GETPID => syscall_return_value(thread::getpid()),
        _ => unimplemented(number),
    }
}

fn unimplemented(number: usize) -> Result<usize, Errno> { Err(Errno::ENOSYS) }
"#;

    #[test]
    fn parses_every_arm_shape_of_the_sample() {
        let arms = parse_dispatcher(SAMPLE).unwrap();
        let arm = |constants: &[&str], handler: &str| DispatchArm {
            constants: constants.iter().map(|constant| constant.to_string()).collect(),
            handler: handler.into(),
        };
        assert_eq!(
            arms,
            [
                arm(&["WRITE"], "fd::write"),
                arm(&["GETUID", "GETEUID", "GETGID"], "system::root_id"),
                arm(&["PSELECT6"], "poll::pselect6"),
                arm(&["FUTEX"], "futex::futex"),
                arm(&["CLONE"], "thread::clone"),
                arm(&["GETPID"], "thread::getpid"),
            ]
        );
    }

    #[test]
    fn rejects_arms_it_cannot_name() {
        let with = |arm: &str| SAMPLE.replace("_ => unimplemented(number),", &format!("{arm}\n_ => x(),"));
        assert!(parse_dispatcher(&with("280 => bpf(),")).is_err(), "a numeric pattern");
        assert!(parse_dispatcher(&with("nr::BPF if a0 == 0 => bpf::bpf(),")).is_err(), "a guard");
        assert!(parse_dispatcher(&with("nr::BPF => Err(Errno::ENOSYS),")).is_ok(), "a direct errno is a call");
        assert!(parse_dispatcher(&with("nr::BPF => ENOSYS_RESULT,")).is_err(), "not a call");
        assert!(parse_dispatcher("fn other() {}").is_err());
        let twice = parse_dispatcher(&with("nr::WRITE => fd::write_again(),")).unwrap();
        assert!(rows(&twice).is_err(), "a call routed twice");
        let unknown = parse_dispatcher(&with("nr::NOT_A_CALL => x::y(),")).unwrap();
        assert!(rows(&unknown).is_err(), "a constant the ABI crate does not have");
    }

    #[test]
    fn renders_rows_by_number_with_linux_names_modules_and_differences() {
        let table = render(&parse_dispatcher(SAMPLE).unwrap()).unwrap();
        assert!(table.contains("8 calls, each with"), "{table}");
        assert!(table.contains("in 5 modules"), "{table}");
        assert!(table.contains("| 64 | `write` | [`fd::write`](../kernel/src/syscalls/fd.rs) |  |\n"), "{table}");
        assert!(table.contains("| 98 | `futex` | [`futex::futex`](../kernel/src/syscalls/futex.rs) | PI futexes"));
        assert!(table.contains("| 174 | `getuid` | [`system::root_id`]"));
        assert!(table.contains("| 220 | `clone` | [`thread::clone`](../kernel/src/syscalls/thread.rs) | threads only"));
        let position = |text: &str| table.find(text).unwrap();
        assert!(position("`write`") < position("`pselect6`") && position("`pselect6`") < position("`futex`"));
    }

    #[test]
    fn every_difference_names_a_linux_call_once() {
        for (index, (name, _)) in DIFFERENCES.iter().enumerate() {
            assert!(number_of_constant(&name.to_ascii_uppercase()).is_some(), "{name}");
            assert!(DIFFERENCES[..index].iter().all(|(other, _)| other != name), "{name} twice");
        }
    }

    /// The table stays true: regenerate with `cargo xtask syscall-table` after changing the dispatcher.
    #[test]
    fn committed_table_matches_the_dispatcher() {
        check_committed().unwrap();
    }
}
