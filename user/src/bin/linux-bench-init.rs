//! The init of `cargo xtask compare --linux` (PID 1 of a stock Linux kernel booted from an initramfs xtask
//! writes): runs the same bench program (`/bench`, user/src/bin/bench.rs) the way payloads/src/bench.rs runs it
//! on our kernel, then powers the machine off. It is the Linux-side stand-in for the kernel's bench payload, so
//! it only uses what any Linux offers a static program: fork, execve, wait4, sched_setaffinity, reboot.
//!
//! `/plan` (written by xtask from the regions our kernel measured) has one line per scenario:
//! `SCENARIO MM N SWITCHES_PER_ITERATION REPETITIONS PEER_YIELDS PROGRAM ARG...`: the file `/PROGRAM` runs with
//! argv = PROGRAM ARG... (`bench`, or the liburcu program). PEER_YIELDS > 0 starts another process, `bench peer
//! PEER_YIELDS 0 MM`, on the measured CPU first (the other side of a different-mm ping-pong); 0 starts none. Both
//! are pinned to [`MEASURED_CPU`], as on our kernel.
//!
//! After each run this init prints `bench: run=K scenario=... mm=... n=... switches_per_iteration=... rep=R
//! status=exit:S|signal:S` and then executes an empty region (the markers back to back) on CPU 0, where it is
//! pinned: the insn-counter plugin numbers regions in the order they end, so xtask tells which runs emitted a
//! region (a run that failed before its markers emitted none) by the CPU-0 separators between them, instead of
//! assuming that the k-th region belongs to the k-th run.
#![no_std]
#![no_main]

use abi::file::{AT_FDCWD, O_RDONLY};
use abi::signal::{SIGCHLD, SIGKILL};
use abi::syscalls as nr;
use ulib::{println, sys};

/// The CPU every measured program (and its peer process) runs on: the same as payloads/src/bench.rs's.
const MEASURED_CPU: u64 = 1;
/// The CPU this init runs on (its separators must not land on the measured CPU).
const INIT_CPU: u64 = 0;
/// Warm-up iterations are part of the plan's arguments; the peer process needs none.
const PEER_WARMUP: &str = "0";
/// `wait4`'s option: return at once when the child has not exited.
const WNOHANG: u64 = 1;

/// Start of a region (`hint #0x60`, the bench program's marker).
#[inline(always)]
fn region_start() {
    // SAFETY: a NOP-compatible hint: reads and writes nothing. Not `nomem`, so that it stays in program order
    // with the `wait4` before it.
    unsafe { core::arch::asm!("hint #0x60", options(nostack, preserves_flags)) }
}

/// End of a region (`hint #0x61`).
#[inline(always)]
fn region_end() {
    // SAFETY: as for `region_start`.
    unsafe { core::arch::asm!("hint #0x61", options(nostack, preserves_flags)) }
}

/// Reads a whole file into `buffer`; returns the length read, or -errno.
fn read_file(path: &core::ffi::CStr, buffer: &mut [u8]) -> i64 {
    let fd = sys::syscall(nr::OPENAT, [AT_FDCWD as u64, path.as_ptr() as u64, u64::from(O_RDONLY), 0, 0, 0]);
    if fd < 0 {
        return fd;
    }
    let mut length = 0;
    while length < buffer.len() {
        let rest = &mut buffer[length..];
        let read = sys::syscall(nr::READ, [fd as u64, rest.as_mut_ptr() as u64, rest.len() as u64, 0, 0, 0]);
        if read <= 0 {
            break;
        }
        length += read as usize;
    }
    sys::syscall(nr::CLOSE, [fd as u64, 0, 0, 0, 0, 0]);
    length as i64
}

/// The most arguments a plan line passes (the bench program takes at most eight).
const MAX_ARGUMENTS: usize = 15;

/// fork, pin the child to `cpu` and execute `/PROGRAM` with argv = `program` then `arguments`. Returns the
/// child's pid or -errno; the child never returns (exit status 127 when it cannot execute the program).
fn spawn(cpu: u64, program: &str, arguments: &[&str]) -> i64 {
    // The path and the command line as C strings, built before forking (the child only calls the kernel).
    let mut path = [0u8; 64];
    if program.len() + 2 > path.len() {
        return abi::Errno::ENAMETOOLONG.to_syscall_return();
    }
    path[0] = b'/';
    path[1..=program.len()].copy_from_slice(program.as_bytes());
    let mut strings = [0u8; 512];
    let mut offsets = [0usize; MAX_ARGUMENTS + 1];
    let mut used = 0;
    for (index, argument) in core::iter::once(&program).chain(arguments).take(MAX_ARGUMENTS + 1).enumerate() {
        let bytes = argument.as_bytes();
        if used + bytes.len() + 1 > strings.len() {
            return abi::Errno::E2BIG.to_syscall_return();
        }
        offsets[index] = used;
        strings[used..used + bytes.len()].copy_from_slice(bytes);
        used += bytes.len() + 1;
    }
    let count = (arguments.len() + 1).min(MAX_ARGUMENTS + 1);
    let mut argv = [0u64; MAX_ARGUMENTS + 2];
    for index in 0..count {
        argv[index] = strings[offsets[index]..].as_ptr() as u64;
    }
    let environment = [0u64];
    let pid = sys::syscall(nr::CLONE, [u64::from(SIGCHLD), 0, 0, 0, 0, 0]);
    if pid != 0 {
        return pid;
    }
    // The child: a copy of this address space (no CLONE_VM), so the buffers above are its own.
    if sys::sched_setaffinity(0, 1 << cpu) != 0 {
        sys::exit_group(126);
    }
    sys::syscall(nr::EXECVE, [path.as_ptr() as u64, argv.as_ptr() as u64, environment.as_ptr() as u64, 0, 0, 0]);
    sys::exit_group(127)
}

/// How a child ended, from `wait4`'s status word.
enum Ended {
    Exited(u32),
    Signalled(u32),
}

/// Waits for `pid`; `None` when it has not ended and `block` is false (or `wait4` failed).
fn wait(pid: i64, block: bool) -> Option<Ended> {
    let mut status: i32 = 0;
    let options = if block { 0 } else { WNOHANG };
    let result = sys::syscall(nr::WAIT4, [pid as u64, &mut status as *mut i32 as u64, options, 0, 0, 0]);
    if result != pid {
        return None;
    }
    let status = status as u32;
    Some(if status & 0x7f == 0 { Ended::Exited((status >> 8) & 0xff) } else { Ended::Signalled(status & 0x7f) })
}

/// Runs one plan line; returns the number of runs it made.
fn run_line(line: &str, first_run: u32) -> u32 {
    let mut words = line.split_whitespace();
    let (Some(scenario), Some(mm), Some(n), Some(switches), Some(repetitions), Some(peer_yields), Some(program)) =
        (words.next(), words.next(), words.next(), words.next(), words.next(), words.next(), words.next())
    else {
        println!("bench: bad plan line {line:?}");
        return 0;
    };
    let mut arguments = [""; MAX_ARGUMENTS];
    let mut count = 0;
    for word in words.take(MAX_ARGUMENTS) {
        arguments[count] = word;
        count += 1;
    }
    let arguments = &arguments[..count];
    let repetitions: u32 = repetitions.parse().unwrap_or(0);
    let peer = peer_yields != "0";
    for repetition in 0..repetitions {
        let peer_pid = if peer { spawn(MEASURED_CPU, "bench", &["peer", peer_yields, PEER_WARMUP, mm]) } else { 0 };
        let measured = spawn(MEASURED_CPU, program, arguments);
        let ended = if measured > 0 { wait(measured, true) } else { None };
        // The region measures a ping-pong only if the peer was still there when it ended.
        let peer_finished_first = peer_pid > 0 && wait(peer_pid, false).is_some();
        if peer_pid > 0 && !peer_finished_first {
            sys::syscall(nr::KILL, [peer_pid as u64, u64::from(SIGKILL), 0, 0, 0, 0]);
            wait(peer_pid, true);
        }
        region_start();
        region_end();
        let (how, code) = match ended {
            Some(Ended::Exited(code)) => ("exit", i64::from(code)),
            Some(Ended::Signalled(signal)) => ("signal", i64::from(signal)),
            None => ("spawn-failed", measured),
        };
        println!(
            "bench: run={} scenario={scenario} mm={mm} n={n} switches_per_iteration={switches} rep={repetition} status={how}:{code}{}",
            first_run + repetition,
            if peer_finished_first || (peer && peer_pid <= 0) { " discarded=peer-finished-first" } else { "" }
        );
    }
    repetitions
}

fn main(_args: ulib::Args) -> i32 {
    if sys::sched_setaffinity(0, 1 << INIT_CPU) != 0 {
        println!("bench: init cannot pin itself to CPU {INIT_CPU}");
    }
    let mut plan = [0u8; 32768];
    let length = read_file(c"/plan", &mut plan);
    if length < 0 {
        println!("bench: cannot read /plan: {length}");
    }
    let text = core::str::from_utf8(&plan[..length.max(0) as usize]).unwrap_or("");
    let mut runs = 0;
    for line in text.lines().filter(|line| !line.trim().is_empty()) {
        runs += run_line(line, runs);
    }
    println!("bench: linux-runs={runs} done");
    // LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, LINUX_REBOOT_CMD_POWER_OFF: PSCI SYSTEM_OFF, which ends QEMU.
    sys::syscall(nr::REBOOT, [0xfee1_dead, 0x2812_1969, 0x4321_fedc, 0, 0, 0]);
    // PID 1 must not exit (the kernel would panic); reached only if the power-off failed.
    loop {
        sys::sched_yield();
    }
}
ulib::entry!(main);
