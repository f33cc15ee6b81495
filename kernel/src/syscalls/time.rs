//! Clocks and sleeping. There is no wall clock (no RTC is read): the realtime clocks count from boot, like a
//! machine whose clock was never set. The CPU-time clocks come from the scheduler's per-task accounting.

use abi::clock::{
    CLOCK_BOOTTIME, CLOCK_BOOTTIME_ALARM, CLOCK_MONOTONIC, CLOCK_MONOTONIC_COARSE, CLOCK_MONOTONIC_RAW,
    CLOCK_PROCESS_CPUTIME_ID, CLOCK_REALTIME, CLOCK_REALTIME_ALARM, CLOCK_REALTIME_COARSE, CLOCK_TAI,
    CLOCK_THREAD_CPUTIME_ID, TIMER_ABSTIME,
};
use abi::{Errno, Timespec, Timeval};

use super::UserPtr;
use crate::process::{self, SCHED};

/// The timer tick (smp.rs arms it every 4 ms): the resolution of the coarse clocks, as Linux's jiffy.
const TICK_NS: i64 = 4_000_000;

/// What a clock id names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Clock {
    /// Time since boot (REALTIME, MONOTONIC, BOOTTIME, TAI and their variants).
    Boot { coarse: bool },
    /// CPU time of a process (`pid` 0: the caller's).
    ProcessCpu { pid: u32 },
    /// CPU time of a thread (`tid` 0: the caller).
    ThreadCpu { tid: u32 },
}

/// Decodes a clock id as Linux does, the negative CPU-clock ids of `clock_getcpuclockid` and
/// `pthread_getcpuclockid` included (`~pid << 3 | type`, bit 2 for a thread); EINVAL for anything else.
fn clock_of(clock: u64) -> Result<Clock, Errno> {
    let clock = clock as i32;
    if clock < 0 {
        let id = !(clock >> 3) as u32;
        // Types: 0 profiling (user + system), 1 virtual (user), 2 scheduler (run time); 3 is invalid.
        if clock & 3 == 3 {
            return Err(Errno::EINVAL);
        }
        return Ok(if clock & 4 != 0 { Clock::ThreadCpu { tid: id } } else { Clock::ProcessCpu { pid: id } });
    }
    match clock as u32 {
        CLOCK_REALTIME | CLOCK_MONOTONIC | CLOCK_MONOTONIC_RAW | CLOCK_BOOTTIME | CLOCK_REALTIME_ALARM
        | CLOCK_BOOTTIME_ALARM | CLOCK_TAI => Ok(Clock::Boot { coarse: false }),
        CLOCK_REALTIME_COARSE | CLOCK_MONOTONIC_COARSE => Ok(Clock::Boot { coarse: true }),
        CLOCK_PROCESS_CPUTIME_ID => Ok(Clock::ProcessCpu { pid: 0 }),
        CLOCK_THREAD_CPUTIME_ID => Ok(Clock::ThreadCpu { tid: 0 }),
        _ => Err(Errno::EINVAL),
    }
}

/// The value of `clock` in nanoseconds.
fn read_clock(clock: Clock) -> Result<u64, Errno> {
    match clock {
        Clock::Boot { coarse: false } => Ok(arch_arm64::cpu::now_ns()),
        Clock::Boot { coarse: true } => {
            let now = arch_arm64::cpu::now_ns();
            Ok(now - now % TICK_NS as u64)
        }
        Clock::ProcessCpu { pid: 0 } => Ok(process::current_process().ok_or(Errno::EINVAL)?.cpu_time().total_ns()),
        Clock::ProcessCpu { pid } => {
            Ok(process::live_processes().get(&pid).ok_or(Errno::EINVAL)?.cpu_time().total_ns())
        }
        Clock::ThreadCpu { tid: 0 } => Ok(SCHED.cpu_time(&SCHED.current()).total_ns()),
        Clock::ThreadCpu { tid } => {
            // Linux: only threads of the caller's process.
            let caller = process::current_process().ok_or(Errno::EINVAL)?;
            let target = process::process_of(tid).filter(|target| target.pid == caller.pid);
            let task = target.and_then(|_| process::thread_task(tid)).ok_or(Errno::EINVAL)?;
            Ok(SCHED.cpu_time(&task).total_ns())
        }
    }
}

/// Saturating nanoseconds of a valid timespec.
fn nanoseconds_of(time: &Timespec) -> u64 {
    (time.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(time.tv_nsec as u64)
}

/// `nanosleep(request, remaining)`: sleeps at least the requested time (`remaining` is never written: the sleep
/// is not interrupted by signals).
pub fn nanosleep(request: UserPtr<Timespec>) -> Result<usize, Errno> {
    let request = request.read()?;
    if !request.is_valid() {
        return Err(Errno::EINVAL);
    }
    // Saturating: a huge tv_sec (Linux accepts it) sleeps "forever" instead of overflowing.
    process::sleep_until(arch_arm64::cpu::now_ns().saturating_add(nanoseconds_of(&request)));
    Ok(0)
}

/// `clock_nanosleep(clock, flags, request, remaining)`: relative or TIMER_ABSTIME on the boot-time clocks.
/// As in Linux, a valid clock that cannot sleep (MONOTONIC_RAW, the coarse ones) gives EOPNOTSUPP and
/// THREAD_CPUTIME_ID gives EINVAL; sleeping on a process's CPU clock is not supported here (EOPNOTSUPP).
pub fn clock_nanosleep(clock: u64, flags: u64, request: UserPtr<Timespec>) -> Result<usize, Errno> {
    let decoded = clock_of(clock)?;
    match decoded {
        Clock::ThreadCpu { .. } => return Err(Errno::EINVAL),
        Clock::ProcessCpu { .. } | Clock::Boot { coarse: true } => return Err(Errno::EOPNOTSUPP),
        Clock::Boot { coarse: false } if clock == u64::from(CLOCK_MONOTONIC_RAW) => return Err(Errno::EOPNOTSUPP),
        Clock::Boot { coarse: false } => {}
    }
    let request = request.read()?;
    if !request.is_valid() {
        return Err(Errno::EINVAL);
    }
    let deadline = if flags & u64::from(TIMER_ABSTIME) != 0 {
        nanoseconds_of(&request)
    } else {
        arch_arm64::cpu::now_ns().saturating_add(nanoseconds_of(&request))
    };
    process::sleep_until(deadline);
    Ok(0)
}

/// `clock_gettime(clock, time)`: every clock id Linux accepts.
pub fn clock_gettime(clock: u64, time: UserPtr<Timespec>) -> Result<usize, Errno> {
    let nanoseconds = read_clock(clock_of(clock)?)?;
    time.write(&Timespec::from_nanoseconds(nanoseconds))?;
    Ok(0)
}

/// `clock_getres(clock, resolution)`: 1 ns for the counter-based clocks (Linux's hrtimer resolution), the
/// tick for the coarse ones; a NULL `resolution` only checks the id.
pub fn clock_getres(clock: u64, resolution: UserPtr<Timespec>) -> Result<usize, Errno> {
    let decoded = clock_of(clock)?;
    if let Clock::ProcessCpu { pid } | Clock::ThreadCpu { tid: pid } = decoded {
        if pid != 0 {
            read_clock(decoded)?;
        }
    }
    let nanoseconds = if decoded == (Clock::Boot { coarse: true }) { TICK_NS } else { 1 };
    if !resolution.is_null() {
        resolution.write(&Timespec { tv_sec: 0, tv_nsec: nanoseconds })?;
    }
    Ok(0)
}

/// `gettimeofday(time, zone)`: CLOCK_REALTIME in microseconds; the zone (obsolete) is UTC.
pub fn gettimeofday(time: UserPtr<Timeval>, zone: UserPtr<u64>) -> Result<usize, Errno> {
    if !time.is_null() {
        time.write(&Timeval::from_nanoseconds(arch_arm64::cpu::now_ns()))?;
    }
    if !zone.is_null() {
        // struct timezone { int tz_minuteswest; int tz_dsttime; }: both 0.
        zone.write(&0)?;
    }
    Ok(0)
}
