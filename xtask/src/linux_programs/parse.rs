//! Parsers for the real-program suite, pure functions on text: the system calls in `qemu-aarch64-static
//! -strace` output, the kernel console cut into one part per program run (kernel/src/demo.rs prints
//! `run: ARGV` before and `run: ARGV0 exited with status N` after each), the kernel's `unimplemented syscall`
//! reports, and the verdict on one run.

/// One system call in a strace: its name and how many times it was made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyscallCount {
    pub name: String,
    pub count: usize,
}

/// Splits qemu-user's stderr into the system calls (deduplicated, in order of first use, with counts) and the
/// other lines (the program's own stderr, qemu's "uncaught target signal" note). A strace line is
/// `PID name(arguments) = result` or `PID Unknown syscall N` (QEMU 7.2 does not know every newer call: the
/// number is named from the ABI crate's table).
pub fn split_strace(stderr: &str) -> (Vec<SyscallCount>, Vec<String>) {
    let mut calls: Vec<SyscallCount> = Vec::new();
    let mut other = Vec::new();
    for line in stderr.lines() {
        match strace_call(line) {
            Some(name) => match calls.iter_mut().find(|call| call.name == name) {
                Some(call) => call.count += 1,
                None => calls.push(SyscallCount { name, count: 1 }),
            },
            // A signal report (`--- SIGSEGV ... ---`) or a return printed on its own line is neither.
            None if is_strace_noise(line) => {}
            None => other.push(line.to_string()),
        }
    }
    (calls, other)
}

/// The call a strace line names, if it is one.
fn strace_call(line: &str) -> Option<String> {
    let (pid, rest) = line.split_once(' ')?;
    if pid.is_empty() || !pid.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    if let Some(number) = rest.strip_prefix("Unknown syscall ") {
        let number: usize = number.trim().parse().ok()?;
        return Some(abi::syscalls::name(number).map_or_else(|| format!("syscall_{number}"), str::to_string));
    }
    let (name, _) = rest.split_once('(')?;
    let is_identifier =
        !name.is_empty() && name.bytes().all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_');
    is_identifier.then(|| name.to_string())
}

fn is_strace_noise(line: &str) -> bool {
    let rest =
        line.split_once(' ').map_or(
            line,
            |(pid, rest)| {
                if pid.bytes().all(|byte| byte.is_ascii_digit()) {
                    rest
                } else {
                    line
                }
            },
        );
    rest.starts_with("---") || rest.trim_start().starts_with("= ")
}

/// How a program's run on the kernel ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunEnd {
    /// `run: ARGV0 exited with status N`.
    Exited(i32),
    /// `run: ARGV0: cannot execute: WHY` (the kernel refused the ELF).
    CannotExecute(String),
    /// The console ended (the kernel died, or the watchdog stopped a hung program) before the program did.
    Unfinished,
}

/// One program's part of the kernel console.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunSegment {
    /// Everything printed while it ran: its own output and the kernel's messages about it.
    pub output: Vec<String>,
    pub end: RunEnd,
}

/// A command line as the kernel prints it: argv[0] (the file's name) and the arguments.
#[derive(Clone, Debug)]
pub struct CommandLine {
    pub argv0: String,
    pub arguments: Vec<String>,
}

impl CommandLine {
    fn start_line(&self) -> String {
        std::iter::once(self.argv0.as_str())
            .chain(self.arguments.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Cuts the console of a batch boot into one segment per program that started, in the order of `commands` (the
/// kernel runs them one after another). Programs after the last one that started get no segment.
pub fn run_segments(console: &[String], commands: &[CommandLine]) -> Vec<RunSegment> {
    let mut segments = Vec::new();
    let mut current: Option<Vec<String>> = None;
    for line in console {
        let Some(command) = commands.get(segments.len()) else { break };
        let Some(output) = current.as_mut() else {
            if line.trim_end() == format!("run: {}", command.start_line()) {
                current = Some(Vec::new());
            }
            continue;
        };
        // The end line may follow output that had no final newline on the same console line.
        let exited = format!("run: {} exited with status ", command.argv0);
        if let Some(position) = line.find(&exited) {
            if position > 0 {
                output.push(line[..position].to_string());
            }
            let status = line[position + exited.len()..].trim().parse().unwrap_or(i32::MIN);
            segments.push(RunSegment { output: current.take().unwrap_or_default(), end: RunEnd::Exited(status) });
        } else if let Some(why) = line.strip_prefix(&format!("run: {}: cannot execute: ", command.argv0)) {
            let why = why.to_string();
            segments.push(RunSegment { output: current.take().unwrap_or_default(), end: RunEnd::CannotExecute(why) });
        } else {
            output.push(line.clone());
        }
    }
    if let Some(output) = current {
        segments.push(RunSegment { output, end: RunEnd::Unfinished });
    }
    segments
}

/// Whether the console shows a program that started and has not ended yet (for the per-program watchdog).
pub fn program_running(console: &[String], commands: &[CommandLine]) -> Option<usize> {
    let segments = run_segments(console, commands);
    segments.last().filter(|segment| segment.end == RunEnd::Unfinished).map(|_| segments.len() - 1)
}

/// The names in the kernel's `pid N: unimplemented syscall NUMBER (NAME)` reports, deduplicated.
pub fn unimplemented_syscalls(output: &[String]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for line in output {
        let Some((_, rest)) = line.split_once("unimplemented syscall ") else { continue };
        let name = rest.split_once('(').and_then(|(_, name)| name.split_once(')')).map(|(name, _)| name);
        let name = name.map_or_else(|| rest.trim().to_string(), str::to_string);
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// The verdict on one run: the expected status, the expected line, no `FAILED` line of the program's own and no
/// TAP `not ok` line.
pub fn judge(status: i32, output: &[String], expected_status: i32, expected_line: &str) -> Result<(), String> {
    // `FAILED` is how our programs report a failed check; `not ok` starts a failed test in TAP (the selftests).
    let is_failure = |line: &&String| line.contains("FAILED") || line.trim_start().starts_with("not ok");
    if let Some(failure) = output.iter().find(is_failure) {
        return Err(format!("status {status}: {}", failure.trim()));
    }
    if status != expected_status {
        return Err(format!("status {status}, expected {expected_status}"));
    }
    // An empty expected line requires none (a reference run whose message lands inside an strace line).
    if !expected_line.is_empty() && !output.iter().any(|line| line.contains(expected_line)) {
        return Err(format!("status {status} as expected, but no line {expected_line:?}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(String::from).collect()
    }

    #[test]
    fn strace_gives_calls_in_first_use_order_with_counts_and_keeps_other_lines() {
        let stderr = "18729 brk(NULL) = 0x00000055000a8000\n\
                      18729 brk(0x00000055000a8af0) = 0x00000055000a8af0\n\
                      18729 set_robust_list(365072908512,24) = -1 errno=38 (Function not implemented)\n\
                      18729 Unknown syscall 293\n\
                      18729 Unknown syscall 999\n\
                      oops: something on stderr\n\
                      --- SIGSEGV {si_signo=SIGSEGV, si_code=2, si_addr=0x0000005500800000} ---\n\
                      18729  = 0\n\
                      qemu: uncaught target signal 11 (Segmentation fault) - core dumped\n\
                      18729 exit_group(0)\n";
        let (calls, other) = split_strace(stderr);
        let names: Vec<_> = calls.iter().map(|call| (call.name.as_str(), call.count)).collect();
        assert_eq!(names, [("brk", 2), ("set_robust_list", 1), ("rseq", 1), ("syscall_999", 1), ("exit_group", 1)]);
        assert_eq!(
            other,
            ["oops: something on stderr", "qemu: uncaught target signal 11 (Segmentation fault) - core dumped"]
        );
    }

    fn command(argv0: &str, arguments: &[&str]) -> CommandLine {
        CommandLine { argv0: argv0.into(), arguments: arguments.iter().map(|word| word.to_string()).collect() }
    }

    #[test]
    fn console_is_cut_per_program_including_glued_end_lines_and_an_unfinished_one() {
        let console = lines(
            "membarrier kernel on qemu-virt\n\
             run: glibc-hello\n\
             pid 6: unimplemented syscall 214 (brk)\n\
             Fatal glibc error: Cannot allocate TLS block\n\
             run: glibc-hello exited with status 127\n\
             run: linux-std-musl args one two three\n\
             args: [\"one\"]\n\
             no newlinerun: linux-std-musl exited with status 0\n\
             run: musl-abort\n\
             run: musl-abort: cannot execute: not an ELF file\n\
             run: linux-std-musl vec\n\
             pid 9: unimplemented syscall 999 (weird\n\
             partial",
        );
        let commands = [
            command("glibc-hello", &[]),
            command("linux-std-musl", &["args", "one", "two", "three"]),
            command("musl-abort", &[]),
            command("linux-std-musl", &["vec"]),
            command("never-started", &[]),
        ];
        let segments = run_segments(&console, &commands);
        assert_eq!(segments.len(), 4);
        assert_eq!(segments[0].end, RunEnd::Exited(127));
        assert_eq!(unimplemented_syscalls(&segments[0].output), ["brk"]);
        assert_eq!(segments[1].output, ["args: [\"one\"]", "no newline"]);
        assert_eq!(segments[1].end, RunEnd::Exited(0));
        assert_eq!(segments[2].end, RunEnd::CannotExecute("not an ELF file".into()));
        assert_eq!(segments[3].end, RunEnd::Unfinished);
        assert_eq!(unimplemented_syscalls(&segments[3].output), ["999 (weird"]);
        assert_eq!(program_running(&console, &commands), Some(3));
        assert_eq!(program_running(&console[..5], &commands), None);
    }

    #[test]
    fn verdicts_need_status_line_and_no_failure() {
        let output = lines("hello\nok: hello");
        assert_eq!(judge(0, &output, 0, "ok: hello"), Ok(()));
        assert!(judge(1, &output, 0, "ok: hello").unwrap_err().contains("expected 0"));
        assert!(judge(0, &lines("hello"), 0, "ok: hello").unwrap_err().contains("no line"));
        let failed = lines("FAILED: malloc: contents lost\nok: malloc");
        assert!(judge(0, &failed, 0, "ok: malloc").unwrap_err().contains("contents lost"));
        assert_eq!(judge(134, &lines("abort: calling abort()"), 134, "abort: calling abort()"), Ok(()));
        let tap =
            lines("ok 1 sys_membarrier available\nnot ok 2 sys membarrier invalid command test\n# Totals: pass:1");
        assert!(judge(0, &tap, 0, "# Totals: pass:").unwrap_err().contains("not ok 2"));
    }
}
