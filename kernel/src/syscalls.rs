//! System calls with Linux's arm64 convention: `svc #0`, number in x8, arguments in x0-x5, result or `-errno`
//! in x0. Every user pointer is checked against the caller's address space (through `UserAddressSpace`'s
//! checked copies) before use: a bad pointer is EFAULT, never a kernel fault.

use alloc::sync::Arc;
use alloc::vec;
use arch_arm64::exceptions::{Syndrome, TrapFrame};
use arch_arm64::mmu::MemoryError;
use core_sched::{CpuSet, Errno, Mm};

use crate::process::{self, SCHED};

pub const SYS_WRITE: u64 = 64;
pub const SYS_EXIT: u64 = 93;
pub const SYS_EXIT_GROUP: u64 = 94;
pub const SYS_NANOSLEEP: u64 = 101;
pub const SYS_CLOCK_GETTIME: u64 = 113;
pub const SYS_SCHED_SETAFFINITY: u64 = 122;
pub const SYS_SCHED_YIELD: u64 = 124;
pub const SYS_GETCPU: u64 = 168;
pub const SYS_GETPID: u64 = 172;
pub const SYS_GETTID: u64 = 178;
pub const SYS_CLONE: u64 = 220;
pub const SYS_MEMBARRIER: u64 = 283;

const CLOCK_REALTIME: u64 = 0;
const CLOCK_MONOTONIC: u64 = 1;
const CLONE_SETTLS: u64 = 0x80000;
/// The flags a thread-creating clone() must have (glibc/musl pass exactly these, plus optional extras below).
const CLONE_THREAD_REQUIRED: u64 = 0x100 | 0x200 | 0x400 | 0x800 | 0x10000 | 0x40000;
/// Accepted extras: CLONE_SETTLS, CLONE_PARENT_SETTID, CLONE_CHILD_CLEARTID (the tid writes are not done).
const CLONE_THREAD_OPTIONAL: u64 = CLONE_SETTLS | 0x100000 | 0x200000;

/// Entry from the exception vectors for every synchronous exception taken from EL0.
pub fn handle_user_sync(syndrome: Syndrome, frame: &mut TrapFrame) {
    const EC_SVC64: u8 = 0x15;
    if syndrome.class == EC_SVC64 {
        arch_arm64::cpu::irq_enable();
        let result = dispatch(frame);
        frame.x[0] = result as u64;
        arch_arm64::cpu::irq_disable();
        // A reschedule requested during the call (a task queued here, an affinity change) happens now rather
        // than at the next tick, as Linux does on its way back to user mode.
        if SCHED.need_resched() {
            SCHED.schedule();
        }
        process::exit_if_process_exiting();
        return;
    }
    process::kill_current_for_fault(syndrome.class_name(), frame.elr, syndrome.fault_address)
}

fn current_mm() -> Option<Arc<Mm<arch_arm64::Arm64>>> {
    SCHED.current().mm()
}

fn memory_errno(error: MemoryError) -> i64 {
    match error {
        MemoryError::BadAddress => Errno::EFAULT.to_syscall_return(),
        MemoryError::OutOfMemory => Errno::ENOMEM.to_syscall_return(),
        MemoryError::WritableAndExecutable => Errno::EINVAL.to_syscall_return(),
    }
}

fn copy_to_user(address: u64, bytes: &[u8]) -> Result<(), i64> {
    let mm = current_mm().ok_or(Errno::EFAULT.to_syscall_return())?;
    mm.arch().copy_to_user(address as usize, bytes).map_err(memory_errno)
}

fn copy_from_user(address: u64, buffer: &mut [u8]) -> Result<(), i64> {
    let mm = current_mm().ok_or(Errno::EFAULT.to_syscall_return())?;
    mm.arch().copy_from_user(address as usize, buffer).map_err(memory_errno)
}

fn read_u64(address: u64) -> Result<u64, i64> {
    let mut bytes = [0u8; 8];
    copy_from_user(address, &mut bytes)?;
    Ok(u64::from_le_bytes(bytes))
}

fn dispatch(frame: &mut TrapFrame) -> i64 {
    // Arguments in x0-x3 (no supported call uses x4 or x5).
    let [a0, a1, a2, a3] = [frame.x[0], frame.x[1], frame.x[2], frame.x[3]];
    let outcome: Result<i64, i64> = match frame.x[8] {
        SYS_WRITE => sys_write(a0, a1, a2),
        SYS_EXIT => process::exit_current_thread(a0 as i32, false),
        SYS_EXIT_GROUP => process::exit_current_thread(a0 as i32, true),
        SYS_NANOSLEEP => sys_nanosleep(a0),
        SYS_CLOCK_GETTIME => sys_clock_gettime(a0, a1),
        SYS_SCHED_SETAFFINITY => sys_sched_setaffinity(a0, a1, a2),
        SYS_SCHED_YIELD => {
            SCHED.yield_now();
            Ok(0)
        }
        SYS_GETCPU => sys_getcpu(a0, a1),
        SYS_GETPID => Ok(process::current_process().map_or(0, |process| process.pid as i64)),
        SYS_GETTID => Ok(SCHED.current().id().0 as i64),
        SYS_CLONE => sys_clone(frame, a0, a1, a3),
        SYS_MEMBARRIER => {
            let current = SCHED.current();
            SCHED.membarrier(&current, a0 as i32, a1 as u32, a2 as i32).map_err(Errno::to_syscall_return)
        }
        _ => Err(Errno::ENOSYS.to_syscall_return()),
    };
    outcome.unwrap_or_else(|errno| errno)
}

fn sys_write(fd: u64, buffer: u64, length: u64) -> Result<i64, i64> {
    if fd != 1 && fd != 2 {
        return Err(Errno::EBADF.to_syscall_return());
    }
    let length = length.min(1 << 16) as usize;
    let mut bytes = vec![0u8; length];
    copy_from_user(buffer, &mut bytes)?;
    (crate::console::writer())(&bytes);
    Ok(length as i64)
}

fn sys_nanosleep(request: u64) -> Result<i64, i64> {
    let seconds = read_u64(request)? as i64;
    let nanoseconds = read_u64(request + 8)? as i64;
    if seconds < 0 || !(0..1_000_000_000).contains(&nanoseconds) {
        return Err(Errno::EINVAL.to_syscall_return());
    }
    // Saturating: a huge tv_sec (Linux accepts it) sleeps "forever" instead of overflowing.
    let deadline = arch_arm64::cpu::now_ns()
        .saturating_add((seconds as u64).saturating_mul(1_000_000_000))
        .saturating_add(nanoseconds as u64);
    process::sleep_until(deadline);
    Ok(0)
}

fn sys_clock_gettime(clock: u64, timespec: u64) -> Result<i64, i64> {
    if clock != CLOCK_MONOTONIC && clock != CLOCK_REALTIME {
        return Err(Errno::EINVAL.to_syscall_return());
    }
    let now = arch_arm64::cpu::now_ns();
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&(now / 1_000_000_000).to_le_bytes());
    bytes[8..].copy_from_slice(&(now % 1_000_000_000).to_le_bytes());
    copy_to_user(timespec, &bytes)?;
    Ok(0)
}

fn sys_sched_setaffinity(tid: u64, length: u64, mask_address: u64) -> Result<i64, i64> {
    if length == 0 {
        return Err(Errno::EINVAL.to_syscall_return());
    }
    let mut bytes = [0u8; 8];
    let readable = (length as usize).min(8);
    copy_from_user(mask_address, &mut bytes[..readable])?;
    let mask = u64::from_le_bytes(bytes);
    let target =
        if tid == 0 { SCHED.current() } else { find_thread(tid as u32).ok_or(Errno::ESRCH.to_syscall_return())? };
    let mut cpus = CpuSet::default();
    for cpu in 0..core_sched::MAX_CPUS.min(64) {
        if mask & (1 << cpu) != 0 {
            cpus.insert(cpu);
        }
    }
    SCHED.set_affinity(&target, cpus).map_err(Errno::to_syscall_return)?;
    if tid == 0 && !cpus.contains(arch_arm64::cpu::cpu_id()) {
        SCHED.yield_now();
    }
    Ok(0)
}

/// A thread of the caller's process by id (Linux would accept any thread the caller may see).
fn find_thread(tid: u32) -> Option<Arc<process::KernelTask>> {
    let caller = process::current_process()?;
    let target = process::process_of(tid)?;
    if target.pid != caller.pid {
        return None;
    }
    process::thread_task(tid)
}

fn sys_getcpu(cpu_address: u64, node_address: u64) -> Result<i64, i64> {
    let cpu = arch_arm64::cpu::cpu_id() as u32;
    if cpu_address != 0 {
        copy_to_user(cpu_address, &cpu.to_le_bytes())?;
    }
    if node_address != 0 {
        copy_to_user(node_address, &0u32.to_le_bytes())?;
    }
    Ok(0)
}

fn sys_clone(frame: &TrapFrame, flags: u64, stack: u64, tls: u64) -> Result<i64, i64> {
    let required_present = flags & CLONE_THREAD_REQUIRED == CLONE_THREAD_REQUIRED;
    let no_unknown = flags & !(CLONE_THREAD_REQUIRED | CLONE_THREAD_OPTIONAL) == 0;
    if !required_present || !no_unknown || stack == 0 || !stack.is_multiple_of(16) {
        return Err(Errno::EINVAL.to_syscall_return());
    }
    let thread_pointer = (flags & CLONE_SETTLS != 0).then_some(tls);
    process::clone_thread(frame, stack, thread_pointer).map(|tid| tid as i64).map_err(Errno::to_syscall_return)
}
