//! The real programs of the suite, what each must show, and how each binary is built: the C programs of
//! user/linux/ with static glibc (Debian's cross toolchain, plus one `-static-pie` build) and with static musl
//! (Debian's arm64 musl-dev, linked by hand: `-nostdinc -nostdlib` and musl's start files, libc.a and headers,
//! with the cross gcc's own libgcc and crtbegin/crtend), and the Rust std program of user/linux-std for the
//! musl and the gnu (`+crt-static`) targets; a few applets of Debian's arm64 `busybox-static`, a real program
//! built by someone else (fetched, not built, and kept out of the repository: it is GPL); Linux's membarrier
//! selftests, built from Debian's linux-source unmodified (static glibc; GPL-2.0, kept in the cache only); and
//! user/linux/urcu_memb.c linked with Debian's static liburcu-memb.

use super::fetch::{Tools, CROSS_GCC};
use crate::{command, workspace_root};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// How a binary is built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binary {
    /// A C program (user/linux/<source>.c) with static glibc.
    Glibc(&'static str),
    /// A C program with glibc as a static PIE (`ET_DYN` without `PT_INTERP`, loaded at any base).
    GlibcStaticPie(&'static str),
    /// A C program with static musl.
    Musl(&'static str),
    /// user/linux-std for a Rust target (statically linked).
    RustStd(&'static str),
    /// Debian's `busybox-static` for arm64 (static glibc), fetched into the cache.
    Busybox,
    /// A test of Linux's tools/testing/selftests/membarrier/ (`<name>.c`), static glibc.
    MembarrierSelftest(&'static str),
    /// A C program with static glibc and liburcu's memb flavour, its `syscall()` wrapped (-Wl,--wrap=syscall).
    GlibcLiburcuMemb(&'static str),
    /// A test of Linux's tools/testing/selftests/rseq/ (`<name>.c` with `rseq.c` linked in, as the Makefile's
    /// librseq.so), static glibc.
    RseqSelftest(&'static str),
}

impl Binary {
    /// The file name under out/linux-programs/bin (also the program's argv[0]).
    pub fn file_name(self) -> String {
        match self {
            Binary::Glibc(source) => format!("glibc-{source}"),
            Binary::GlibcStaticPie(source) => format!("glibc-{source}-static-pie"),
            Binary::Musl(source) => format!("musl-{source}"),
            Binary::RustStd(target) => format!("linux-std-{}", rust_libc(target)),
            Binary::Busybox => "busybox".into(),
            Binary::MembarrierSelftest(name) => name.into(),
            Binary::GlibcLiburcuMemb(source) => format!("glibc-{source}"),
            Binary::RseqSelftest(name) => name.into(),
        }
    }

    /// What the reference run under qemu-aarch64-static must show when it differs from the kernel run's
    /// expectation: Debian's qemu-user 7.2 has no rseq (ENOSYS, so glibc leaves it unregistered), and the rseq
    /// selftests then stop at their registration with status 255 (their "Error: rseq_register_current_thread
    /// (...) failed(38)" line lands inside qemu's strace line of the `write`, so no line is required).
    pub fn reference_expectation(self) -> Option<(i32, &'static str)> {
        match self {
            Binary::RseqSelftest(_) => Some((255, "")),
            _ => None,
        }
    }
}

/// `musl` or `gnu`, from the target triple.
fn rust_libc(target: &str) -> &str {
    target.rsplit('-').next().unwrap_or(target)
}

/// One run of the suite: a binary, its arguments, and what it must show.
#[derive(Clone, Debug)]
pub struct LinuxProgram {
    /// Unique name in reports, e.g. `glibc-malloc`, `rust-musl-vec`.
    pub name: String,
    pub binary: Binary,
    pub arguments: Vec<&'static str>,
    /// Exit status (128 + signal for a killed program, as a shell reports it).
    pub expected_status: i32,
    /// A line the program must print (its `ok: <name>` line, or the line it prints before it must die).
    pub expected_line: &'static str,
}

/// The C programs of user/linux: (source name, expected status, line it must print).
const C_PROGRAMS: [(&str, i32, &str); 5] = [
    ("hello", 0, "ok: hello"),
    ("malloc", 0, "ok: malloc"),
    ("pthreads", 0, "ok: pthreads"),
    // SIGSEGV: 128 + 11.
    ("mprotect", 139, "mprotect: page is read-only and still reads 42"),
    // SIGABRT: 128 + 6.
    ("abort", 134, "abort: calling abort()"),
];

/// The modes of user/linux-std: (argv[1] and further arguments, expected status, line it must print).
const RUST_MODES: [(&[&str], i32, &str); 7] = [
    (&["hello"], 0, "ok: hello"),
    (&["vec"], 0, "ok: vec"),
    (&["time"], 0, "ok: time"),
    (&["args", "one", "two", "three"], 0, "ok: args"),
    (&["exit"], 42, "ok: exit"),
    (&["abort"], 134, "abort: calling std::process::abort()"),
    (&["threads"], 0, "ok: threads"),
];

/// The busybox applets: (argv[1] and further arguments, expected status, line it must print). Each is a whole
/// applet run from `main` to exit: argument parsing, stdio, `sha256sum` reading its input to end of file.
const BUSYBOX_APPLETS: [(&[&str], i32, &str); 3] = [
    (&["echo", "hello", "from", "busybox"], 0, "hello from busybox"),
    // The digest of no input: stdin is at end of file (the console, or /dev/null for the reference).
    (&["sha256sum"], 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  -"),
    (&["expr", "6", "*", "7"], 0, "42"),
];

/// Linux's membarrier selftests: (name, the TAP totals line it must print). Every check passes and none is
/// skipped: the kernel implements every command they test, SYNC_CORE and GLOBAL_EXPEDITED included.
const MEMBARRIER_SELFTESTS: [(&str, &str); 2] = [
    ("membarrier_test_single_thread", "# Totals: pass:18 fail:0 xfail:0 xpass:0 skip:0 error:0"),
    ("membarrier_test_multi_thread", "# Totals: pass:16 fail:0 xfail:0 xpass:0 skip:0 error:0"),
];

/// Linux's rseq selftests and the line each prints last on success (they exit 0).
const RSEQ_SELFTESTS: [(&str, &str); 2] =
    [("basic_test", "testing current cpu"), ("basic_percpu_ops_test", "percpu_list")];

/// Linux's rseq `param_test`, one run per test as `run_param_test.sh` runs it with its default parameters on
/// four CPUs (`-r 1000 -t 24`, 6 threads per CPU), verbose: (the test's letter, the name it prints).
const RSEQ_PARAM_TESTS: [(&str, &str); 6] = [
    ("s", "spinlock"),
    ("l", "linked list"),
    ("b", "buffer"),
    ("m", "memcpy buffer"),
    ("i", "counter increment"),
    ("r", "membarrier"),
];

/// Runs that may take longer than the per-program limit, and by what factor: `basic_percpu_ops_test` makes 20
/// million `sched_yield` calls from 200 threads (its per-CPU list test), minutes under QEMU's emulation.
const SLOW_RUNS: [(&str, u64); 1] = [("basic_percpu_ops_test", 10)];

impl LinuxProgram {
    /// The time this run may take, given the per-program limit.
    pub fn time_limit_secs(&self, program_timeout: u64) -> u64 {
        let factor = SLOW_RUNS.iter().find(|(name, _)| *name == self.name).map_or(1, |&(_, factor)| factor);
        program_timeout.saturating_mul(factor)
    }
}

/// Every run of the suite, in order.
pub fn all() -> Vec<LinuxProgram> {
    let mut programs = Vec::new();
    for (libc, binary) in [("glibc", Binary::Glibc as fn(&'static str) -> Binary), ("musl", Binary::Musl)] {
        for (source, expected_status, expected_line) in C_PROGRAMS {
            programs.push(LinuxProgram {
                name: format!("{libc}-{source}"),
                binary: binary(source),
                arguments: Vec::new(),
                expected_status,
                expected_line,
            });
        }
    }
    programs.push(LinuxProgram {
        name: "glibc-hello-static-pie".into(),
        binary: Binary::GlibcStaticPie("hello"),
        arguments: Vec::new(),
        expected_status: 0,
        expected_line: "ok: hello",
    });
    for target in super::fetch::RUST_LINUX_TARGETS {
        for (arguments, expected_status, expected_line) in RUST_MODES {
            programs.push(LinuxProgram {
                name: format!("rust-{}-{}", rust_libc(target), arguments[0]),
                binary: Binary::RustStd(target),
                arguments: arguments.to_vec(),
                expected_status,
                expected_line,
            });
        }
    }
    for (name, expected_line) in MEMBARRIER_SELFTESTS {
        programs.push(LinuxProgram {
            name: name.into(),
            binary: Binary::MembarrierSelftest(name),
            arguments: Vec::new(),
            expected_status: 0,
            expected_line,
        });
    }
    for (name, expected_line) in RSEQ_SELFTESTS {
        programs.push(LinuxProgram {
            name: name.into(),
            binary: Binary::RseqSelftest(name),
            arguments: Vec::new(),
            expected_status: 0,
            expected_line,
        });
    }
    for (test, expected_line) in RSEQ_PARAM_TESTS {
        programs.push(LinuxProgram {
            name: format!("param_test-{}", expected_line.replace(' ', "_")),
            binary: Binary::RseqSelftest("param_test"),
            arguments: vec!["-T", test, "-r", "1000", "-t", "24", "-v"],
            expected_status: 0,
            expected_line,
        });
    }
    programs.push(LinuxProgram {
        name: "glibc-urcu_memb".into(),
        binary: Binary::GlibcLiburcuMemb("urcu_memb"),
        arguments: Vec::new(),
        expected_status: 0,
        expected_line: "ok: urcu_memb",
    });
    for (arguments, expected_status, expected_line) in BUSYBOX_APPLETS {
        programs.push(LinuxProgram {
            name: format!("busybox-{}", arguments[0]),
            binary: Binary::Busybox,
            arguments: arguments.to_vec(),
            expected_status,
            expected_line,
        });
    }
    programs
}

/// Where the built binaries go.
pub fn binary_folder() -> PathBuf {
    super::output_folder().join("bin")
}

/// Builds every binary `programs` use (each once) into out/linux-programs/bin; returns nothing but errors.
pub fn build_all(programs: &[LinuxProgram], tools: &Tools) -> Result<()> {
    let folder = binary_folder();
    std::fs::create_dir_all(&folder).with_context(|| format!("cannot create {}", folder.display()))?;
    let mut built: Vec<Binary> = Vec::new();
    eprintln!(
        "==> building the real programs (user/linux with glibc and musl, user/linux-std) into {}",
        folder.display()
    );
    for program in programs {
        if built.contains(&program.binary) {
            continue;
        }
        built.push(program.binary);
        let output = folder.join(program.binary.file_name());
        match program.binary {
            Binary::Glibc(source) => compile_glibc(source, &output, "-static")?,
            Binary::GlibcStaticPie(source) => compile_glibc(source, &output, "-static-pie")?,
            Binary::Musl(source) => compile_musl(source, &output, &tools.musl_root)?,
            Binary::RustStd(target) => build_rust_std(target, &output)?,
            Binary::Busybox => {
                std::fs::copy(&tools.busybox, &output)
                    .with_context(|| format!("cannot copy {}", tools.busybox.display()))?;
            }
            Binary::MembarrierSelftest(name) => compile_membarrier_selftest(name, &output, &tools.linux_source)?,
            Binary::GlibcLiburcuMemb(source) => compile_glibc_liburcu_memb(source, &output, &tools.liburcu_root)?,
            Binary::RseqSelftest(name) => compile_rseq_selftest(name, &output, &tools.rseq_source)?,
        }
    }
    Ok(())
}

fn c_source(name: &str) -> PathBuf {
    workspace_root().join("user/linux").join(format!("{name}.c"))
}

/// Warnings are errors: these programs are the suite's reference, a warning there is a bug in the test.
const C_FLAGS: [&str; 4] = ["-O2", "-Wall", "-Wextra", "-Werror"];

fn compile_glibc(source: &str, output: &Path, link_mode: &str) -> Result<()> {
    command::run(Command::new(CROSS_GCC).args(C_FLAGS).arg(link_mode).arg("-o").arg(output).arg(c_source(source)))
        .with_context(|| format!("building {}", output.display()))
}

/// The selftests' own build (their Makefile: `CFLAGS += -g $(KHDR_INCLUDES)`, `LDLIBS += -lpthread`), static:
/// the kernel's uapi headers first (for `linux/membarrier.h`), `../kselftest.h` found next to the source.
/// Not -Werror: warnings in Linux's code are not this suite's to fix.
fn compile_membarrier_selftest(name: &str, output: &Path, linux_source: &Path) -> Result<()> {
    let selftests = linux_source.join("tools/testing/selftests");
    command::run(
        Command::new(CROSS_GCC)
            .args(["-O2", "-g", "-static", "-pthread", "-isystem"])
            .arg(linux_source.join("include/uapi"))
            .arg("-I")
            .arg(&selftests)
            .arg("-o")
            .arg(output)
            .arg(selftests.join("membarrier").join(format!("{name}.c"))),
    )
    .with_context(|| format!("building {}", output.display()))
}

/// A test of Linux's rseq selftests, unmodified, with the Makefile's flags (`-O2 -Wall -g -I./`, the kernel's
/// uapi headers first, `tools/include`, `-lpthread -ldl`) but static: `rseq.c` (the Makefile's librseq.so) is
/// linked in, and its weak references to glibc's `__rseq_offset`/`__rseq_size`/`__rseq_flags` then find static
/// glibc's own, so the tests use glibc's registration as they do when dynamically linked.
fn compile_rseq_selftest(name: &str, output: &Path, linux_source: &Path) -> Result<()> {
    let rseq = linux_source.join("tools/testing/selftests/rseq");
    command::run(
        Command::new(CROSS_GCC)
            .args(["-O2", "-Wall", "-g", "-static", "-pthread", "-isystem"])
            .arg(linux_source.join("include/uapi"))
            .arg("-I")
            .arg(&rseq)
            .arg("-I")
            .arg(linux_source.join("tools/include"))
            .arg("-o")
            .arg(output)
            .arg(rseq.join(format!("{name}.c")))
            .arg(rseq.join("rseq.c"))
            .args(["-lpthread", "-ldl"]),
    )
    .with_context(|| format!("building {}", output.display()))
}

/// A program of ours with liburcu's memb flavour: Debian's headers and static archives (liburcu-memb.a needs
/// liburcu-common.a), and `syscall()` wrapped so that the program counts the library's membarrier calls.
fn compile_glibc_liburcu_memb(source: &str, output: &Path, liburcu_root: &Path) -> Result<()> {
    command::run(
        Command::new(CROSS_GCC)
            .args(C_FLAGS)
            .args(["-static", "-pthread", "-isystem"])
            .arg(liburcu_root.join("usr/include/aarch64-linux-gnu"))
            .arg("-o")
            .arg(output)
            .arg(c_source(source))
            .arg("-L")
            .arg(liburcu_root.join("usr/lib/aarch64-linux-gnu"))
            .args(["-lurcu-memb", "-lurcu-common", "-Wl,--wrap=syscall"]),
    )
    .with_context(|| format!("building {}", output.display()))
}

/// The liburcu bench program (user/linux/urcu_bench.c), which `cargo xtask bench` embeds in the bench kernel
/// (not a run of this suite: it needs the bench kernel's markers and counting plugin).
pub const URCU_BENCH: Binary = Binary::GlibcLiburcuMemb("urcu_bench");

/// Builds [`URCU_BENCH`] into out/linux-programs/bin; returns its path.
pub fn build_urcu_bench(liburcu_root: &Path) -> Result<PathBuf> {
    let folder = binary_folder();
    std::fs::create_dir_all(&folder).with_context(|| format!("cannot create {}", folder.display()))?;
    let output = folder.join(URCU_BENCH.file_name());
    compile_glibc_liburcu_memb("urcu_bench", &output, liburcu_root)?;
    Ok(output)
}

/// A path the cross gcc finds in its own installation (crtbeginT.o, libgcc.a, its include folder).
fn gcc_file(name: &str) -> Result<PathBuf> {
    let path = command::stdout(Command::new(CROSS_GCC).arg(format!("-print-file-name={name}")))?;
    Ok(PathBuf::from(path.trim()))
}

/// musl-gcc's recipe (the package's musl-gcc.specs names /usr paths, so it is spelled out here with the cache's
/// paths): musl's headers before gcc's own (for stddef.h and friends), no glibc start files or libraries;
/// crt1.o/crti.o, gcc's crtbeginT.o (static), the program, libc.a with libgcc (soft quad floats for printf's
/// long double) in a group, crtend.o and crtn.o.
fn compile_musl(source: &str, output: &Path, musl_root: &Path) -> Result<()> {
    let include = musl_root.join("usr/include/aarch64-linux-musl");
    let lib = musl_root.join("usr/lib/aarch64-linux-musl");
    let mut gcc = Command::new(CROSS_GCC);
    gcc.args(C_FLAGS)
        .args(["-static", "-nostdinc", "-nostdlib", "-isystem"])
        .arg(&include)
        .arg("-isystem")
        .arg(gcc_file("include")?)
        .arg("-o")
        .arg(output)
        .arg(lib.join("crt1.o"))
        .arg(lib.join("crti.o"))
        .arg(gcc_file("crtbeginT.o")?)
        .arg(c_source(source))
        .arg("-Wl,--start-group")
        .arg(lib.join("libc.a"))
        .arg(gcc_file("libgcc.a")?)
        .arg("-Wl,--end-group")
        .arg(gcc_file("crtend.o")?)
        .arg(lib.join("crtn.o"));
    command::run(&mut gcc).with_context(|| format!("building {}", output.display()))
}

/// `cargo build --release --target <target>` in user/linux-std (its .cargo/config.toml names the cross gcc as
/// linker and `+crt-static` for gnu).
fn build_rust_std(target: &str, output: &Path) -> Result<()> {
    let folder = workspace_root().join("user/linux-std");
    command::run(Command::new(env!("CARGO")).current_dir(&folder).env_remove("CARGO_TARGET_DIR").args([
        "build",
        "--release",
        "--quiet",
        "--target",
        target,
    ]))
    .with_context(|| format!("building user/linux-std for {target}"))?;
    let built = folder.join("target").join(target).join("release/linux-std");
    std::fs::copy(&built, output).with_context(|| format!("cannot copy {}", built.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_run_has_a_unique_name_and_each_binary_one_file() {
        let programs = all();
        let mut names: Vec<_> = programs.iter().map(|program| program.name.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), programs.len());
        assert_eq!(
            programs.len(),
            2 * C_PROGRAMS.len()
                + 1
                + 2 * RUST_MODES.len()
                + MEMBARRIER_SELFTESTS.len()
                + RSEQ_SELFTESTS.len()
                + RSEQ_PARAM_TESTS.len()
                + 1
                + BUSYBOX_APPLETS.len()
        );
        assert_eq!(Binary::RustStd("aarch64-unknown-linux-gnu").file_name(), "linux-std-gnu");
        assert_eq!(Binary::GlibcStaticPie("hello").file_name(), "glibc-hello-static-pie");
        // payloads/src/bench.rs finds the urcu bench program by this argv[0].
        assert_eq!(URCU_BENCH.file_name(), "glibc-urcu_bench");
        assert!(programs
            .iter()
            .any(|program| program.name == "rust-musl-args" && program.arguments == ["args", "one", "two", "three"]));
        assert!(programs
            .iter()
            .any(|program| program.name == "busybox-sha256sum" && program.binary == Binary::Busybox));
    }
}
