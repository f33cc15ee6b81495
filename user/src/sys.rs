//! Raw Linux arm64 system calls: number in x8, arguments in x0-x5, result (or -errno) in x0.

use abi::syscalls as nr;

/// A system call with up to six arguments.
#[inline(always)]
pub fn syscall(number: usize, arguments: [u64; 6]) -> i64 {
    let result: i64;
    // SAFETY: `svc #0` enters the kernel, which reads x8 and x0-x5 and writes x0; Linux's ABI preserves every
    // other register. Memory may be read or written by the kernel (no `nomem`).
    unsafe {
        core::arch::asm!(
            "svc #0",
            in("x8") number,
            inlateout("x0") arguments[0] => result,
            in("x1") arguments[1], in("x2") arguments[2], in("x3") arguments[3],
            in("x4") arguments[4], in("x5") arguments[5],
            options(nostack)
        )
    };
    result
}

pub fn write(fd: u64, bytes: &[u8]) -> i64 {
    syscall(nr::WRITE, [fd, bytes.as_ptr() as u64, bytes.len() as u64, 0, 0, 0])
}

pub fn exit(status: i32) -> ! {
    syscall(nr::EXIT, [status as u64, 0, 0, 0, 0, 0]);
    unreachable_after_exit()
}

pub fn exit_group(status: i32) -> ! {
    syscall(nr::EXIT_GROUP, [status as u64, 0, 0, 0, 0, 0]);
    unreachable_after_exit()
}

fn unreachable_after_exit() -> ! {
    loop {
        core::hint::spin_loop();
    }
}

pub fn sched_yield() -> i64 {
    syscall(nr::SCHED_YIELD, [0; 6])
}

pub fn getpid() -> i64 {
    syscall(nr::GETPID, [0; 6])
}

pub fn gettid() -> i64 {
    syscall(nr::GETTID, [0; 6])
}

/// The CPU the caller runs on, or -errno.
pub fn getcpu() -> i64 {
    let mut cpu: u32 = u32::MAX;
    let result = syscall(nr::GETCPU, [&mut cpu as *mut u32 as u64, 0, 0, 0, 0, 0]);
    if result < 0 {
        result
    } else {
        cpu as i64
    }
}

pub fn sched_setaffinity(tid: u64, mask: u64) -> i64 {
    syscall(nr::SCHED_SETAFFINITY, [tid, 8, &mask as *const u64 as u64, 0, 0, 0])
}

pub fn nanosleep(nanoseconds: u64) -> i64 {
    let request = [nanoseconds / 1_000_000_000, nanoseconds % 1_000_000_000];
    syscall(nr::NANOSLEEP, [request.as_ptr() as u64, 0, 0, 0, 0, 0])
}

/// CLOCK_MONOTONIC in nanoseconds, or -errno.
pub fn monotonic_ns() -> i64 {
    let mut time = [0u64; 2];
    let result = syscall(nr::CLOCK_GETTIME, [abi::clock::CLOCK_MONOTONIC as u64, time.as_mut_ptr() as u64, 0, 0, 0, 0]);
    if result < 0 {
        result
    } else {
        (time[0] * 1_000_000_000 + time[1]) as i64
    }
}

pub fn membarrier(command: i32, flags: u32, cpu_id: i32) -> i64 {
    syscall(nr::MEMBARRIER, [command as u64, flags as u64, cpu_id as u64, 0, 0, 0])
}

/// clone() for a thread running `function(argument)` on `stack_top`; returns the thread id or -errno.
pub fn clone_thread(stack_top: usize, function: extern "C" fn(usize) -> !, argument: usize) -> i64 {
    clone_raw(abi::clone::THREAD_FLAGS, stack_top, 0, 0, 0, function, argument)
}

/// clone(flags, stack_top, parent_tid, tls, child_tid) whose child runs `function(argument)`; returns the
/// thread id or -errno.
pub fn clone_raw(
    flags: u64,
    stack_top: usize,
    parent_tid: u64,
    tls: u64,
    child_tid: u64,
    function: extern "C" fn(usize) -> !,
    argument: usize,
) -> i64 {
    let result: i64;
    // SAFETY: raw clone: in the child (x0 == 0) we are on the new stack with no Rust frame to return to, so the
    // child immediately calls `function(argument)` which never returns; the parent gets the thread id in x0.
    // x9/x10 carry the function and argument across the call (the kernel preserves them, as Linux does).
    unsafe {
        core::arch::asm!(
            "svc #0",
            "cbnz x0, 1f",
            "mov x0, x10",
            "blr x9",
            "1:",
            in("x8") nr::CLONE,
            inlateout("x0") flags => result,
            in("x1") stack_top, in("x2") parent_tid, in("x3") tls, in("x4") child_tid,
            in("x9") function as usize, in("x10") argument,
            options(nostack)
        )
    };
    result
}

/// futex(address, op, value, timeout_or_value2, address2, value3).
pub fn futex(address: u64, op: u32, value: u32, timeout: u64, address2: u64, value3: u32) -> i64 {
    syscall(nr::FUTEX, [address, op as u64, value as u64, timeout, address2, value3 as u64])
}
