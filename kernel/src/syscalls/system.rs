//! The system and the caller's identity: `uname`, user and group ids, `getppid`, `sysinfo`, `getrandom`.

use abi::random::{GRND_INSECURE, GRND_NONBLOCK, GRND_RANDOM};
use abi::{Errno, Sysinfo, Utsname};

use super::{UserPtr, UserSlice};
use crate::process;

/// `uname(name)`: "Linux" and a release glibc's and musl's version checks accept (glibc requires at least
/// its configured minimum, 3.2 on arm64), the machine "aarch64", and this kernel's own name and version in
/// `version`.
pub fn uname(name: UserPtr<Utsname>) -> Result<usize, Errno> {
    let version = concat!("#1 SMP membarrier-kernel ", env!("CARGO_PKG_VERSION"));
    name.write(&Utsname {
        sysname: Utsname::field("Linux"),
        nodename: Utsname::field("membarrier"),
        release: Utsname::field("6.12.0"),
        version: Utsname::field(version),
        machine: Utsname::field("aarch64"),
        domainname: Utsname::field("(none)"),
    })?;
    Ok(0)
}

/// `getuid`, `geteuid`, `getgid`, `getegid`: everything runs as root.
pub fn root_id() -> Result<usize, Errno> {
    Ok(0)
}

/// `getppid()`: the processes are started by the kernel, not by another process, so 0 (as for Linux's
/// init).
pub fn getppid() -> Result<usize, Errno> {
    Ok(0)
}

/// `getgroups(size, list)`: no supplementary groups; EINVAL for a negative size.
pub fn getgroups(size: u64) -> Result<usize, Errno> {
    if (size as i32) < 0 {
        return Err(Errno::EINVAL);
    }
    Ok(0)
}

/// `sysinfo(info)`: uptime, memory from the frame allocator (page units), the threads alive.
pub fn sysinfo(info: UserPtr<Sysinfo>) -> Result<usize, Errno> {
    let total = arch_arm64::frames::total() as u64;
    let in_use = arch_arm64::frames::in_use() as u64;
    let nanoseconds = arch_arm64::cpu::now_ns();
    info.write(&Sysinfo {
        // Linux rounds the uptime up.
        uptime: nanoseconds.div_ceil(1_000_000_000) as i64,
        totalram: total,
        freeram: total.saturating_sub(in_use),
        procs: process::live_thread_count().min(u16::MAX as usize) as u16,
        mem_unit: arch_arm64::layout::PAGE_SIZE as u32,
        ..Sysinfo::default()
    })?;
    Ok(0)
}

/// The most bytes one `getrandom` call returns (Linux's cap is `MAX_RW_COUNT`; callers loop anyway).
const MAX_GETRANDOM: usize = 1 << 20;

/// `getrandom(buffer, length, flags)`: from the ChaCha20 generator (`random.rs`), which is seeded at its first
/// use and so never blocks; EINVAL for unknown flags and for GRND_INSECURE with GRND_RANDOM.
pub fn getrandom(buffer: UserSlice, flags: u64) -> Result<usize, Errno> {
    let known = u64::from(GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE);
    let insecure_and_random = u64::from(GRND_INSECURE | GRND_RANDOM);
    if flags & !known != 0 || flags & insecure_and_random == insecure_and_random {
        return Err(Errno::EINVAL);
    }
    let buffer = buffer.prefix(MAX_GETRANDOM);
    let mut done = 0;
    let mut chunk = [0u8; crate::random::CHUNK];
    while done < buffer.length() {
        let length = (buffer.length() - done).min(chunk.len());
        crate::random::fill(&mut chunk[..length]);
        let copied = buffer.offset(done).write(&chunk[..length]);
        chunk.fill(0);
        match copied {
            Ok(()) => done += length,
            // Like Linux: a fault after some bytes returns the count so far.
            Err(error) if done == 0 => return Err(error),
            Err(_) => break,
        }
    }
    Ok(done)
}
