//! Resource limits and usage: `prlimit64`, `getrlimit`, `setrlimit`, `getrusage`, `times`.

use abi::rusage::{RUSAGE_CHILDREN, RUSAGE_SELF, RUSAGE_THREAD};
use abi::{Errno, Rlimit, Rusage, Timeval, Tms};
use core_sched::CpuTime;

use super::fd::caller;
use super::UserPtr;
use crate::process::{self, SCHED};

/// `prlimit64(pid, resource, new, old)`: `pid` 0 or the caller's own; the old limit is read before the new
/// one is set, as in Linux.
pub fn prlimit64(pid: u64, resource: u64, new: UserPtr<Rlimit>, old: UserPtr<Rlimit>) -> Result<usize, Errno> {
    let process = caller()?;
    let target = match pid as i32 {
        0 => process,
        pid if pid > 0 => process::live_processes().remove(&(pid as u32)).ok_or(Errno::ESRCH)?,
        _ => return Err(Errno::EINVAL),
    };
    let new = if new.is_null() { None } else { Some(new.read()?) };
    let previous = {
        let mut limits = target.limits.lock();
        let previous = limits.get(resource)?;
        if let Some(new) = new {
            limits.set(resource, new)?;
        }
        previous
    };
    if !old.is_null() {
        old.write(&previous)?;
    }
    Ok(0)
}

/// `getrlimit(resource, limit)`.
pub fn getrlimit(resource: u64, limit: UserPtr<Rlimit>) -> Result<usize, Errno> {
    let value = caller()?.limits.lock().get(resource)?;
    limit.write(&value)?;
    Ok(0)
}

/// `setrlimit(resource, limit)`.
pub fn setrlimit(resource: u64, limit: UserPtr<Rlimit>) -> Result<usize, Errno> {
    let value = limit.read()?;
    caller()?.limits.lock().set(resource, value)?;
    Ok(0)
}

/// `getrusage(who, usage)`: real CPU times (children: none are waited for, so zero).
pub fn getrusage(who: u64, usage: UserPtr<Rusage>) -> Result<usize, Errno> {
    let time = match who as i32 {
        RUSAGE_SELF => caller()?.cpu_time(),
        RUSAGE_THREAD => SCHED.cpu_time(&SCHED.current()),
        RUSAGE_CHILDREN => CpuTime::default(),
        _ => return Err(Errno::EINVAL),
    };
    usage.write(&Rusage {
        ru_utime: Timeval::from_nanoseconds(time.user_ns),
        ru_stime: Timeval::from_nanoseconds(time.system_ns),
        ..Rusage::default()
    })?;
    Ok(0)
}

/// Clock ticks per second of `times()` (Linux's `USER_HZ`).
const USER_HZ: u64 = 100;

/// `times(buffer)`: the process's CPU times in clock ticks; returns the ticks since boot. A NULL buffer is
/// allowed.
pub fn times(buffer: UserPtr<Tms>) -> Result<usize, Errno> {
    let to_ticks = |nanoseconds: u64| (nanoseconds / (1_000_000_000 / USER_HZ)) as i64;
    if !buffer.is_null() {
        let time = caller()?.cpu_time();
        buffer.write(&Tms {
            tms_utime: to_ticks(time.user_ns),
            tms_stime: to_ticks(time.system_ns),
            ..Tms::default()
        })?;
    }
    Ok(to_ticks(arch_arm64::cpu::now_ns()) as usize)
}
