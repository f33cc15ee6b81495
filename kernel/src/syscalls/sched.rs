//! Scheduling calls: yielding, CPU affinity, which CPU the caller runs on.

use abi::Errno;
use alloc::sync::Arc;
use arch_arm64::Arm64;
use core_sched::{without_interrupts, CpuSet};

use super::{UserPtr, UserSlice};
use crate::process::{self, SCHED};

/// `sched_yield()`. When this CPU's queue is empty and it owes no reschedule, the yield would take the run-queue
/// lock and execute `schedule`'s barrier only to find nothing else to run (a yield does not steal while its
/// caller can go on: `Scheduler::yield_now`), so it returns at once: no switch, nothing published, so no
/// barrier is due. The queue length is a lock-free hint: a task queued here by another CPU an instant ago comes
/// with a reschedule IPI, which preempts the caller as soon as it returns to user mode, as it would have
/// preempted it after a yield that found the queue still empty.
#[inline(always)]
pub fn sched_yield() -> Result<usize, Errno> {
    // Interrupts masked: no migration between reading the CPU id and its run queue's fields.
    let nothing_else_here = without_interrupts::<Arm64, _>(|_| {
        let rq = SCHED.run_queue(arch_arm64::cpu::cpu_id());
        rq.queued_hint() == 0 && !rq.need_resched()
    });
    if !nothing_else_here {
        SCHED.yield_now();
    }
    Ok(0)
}

/// `sched_setaffinity(tid, length, mask)`: `tid` 0 is the caller; only threads of the caller's process.
pub fn sched_setaffinity(tid: u64, length: u64, mask: u64) -> Result<usize, Errno> {
    if length == 0 {
        return Err(Errno::EINVAL);
    }
    let mut bytes = [0u8; 8];
    UserSlice::new(mask, length).read_into(&mut bytes)?;
    let mask = u64::from_le_bytes(bytes);
    let target = if tid == 0 { SCHED.current() } else { find_thread(tid as u32).ok_or(Errno::ESRCH)? };
    let cpus: CpuSet = (0..core_sched::MAX_CPUS.min(64)).filter(|&cpu| mask & (1 << cpu) != 0).collect();
    SCHED.set_affinity(&target, cpus)?;
    if tid == 0 && !cpus.contains(arch_arm64::cpu::cpu_id()) {
        SCHED.yield_now();
    }
    Ok(0)
}

/// `sched_getaffinity(tid, length, mask)`: the CPUs thread `tid` (0: the caller) may run on, as one 64-bit
/// word (arm64's `cpumask_size()` for up to 64 CPUs); EINVAL when `length` is not a multiple of 8 or too
/// small for the CPU count. Returns the bytes written.
pub fn sched_getaffinity(tid: u64, length: u64, mask: u64) -> Result<usize, Errno> {
    const MASK_BYTES: u64 = 8;
    if !length.is_multiple_of(MASK_BYTES) || length * 8 < core_sched::MAX_CPUS as u64 {
        return Err(Errno::EINVAL);
    }
    let task = if tid == 0 {
        SCHED.current()
    } else {
        process::thread_task(u32::try_from(tid).map_err(|_| Errno::ESRCH)?).ok_or(Errno::ESRCH)?
    };
    let cpus = task.affinity().0 & SCHED.online_cpus().0;
    UserSlice::new(mask, MASK_BYTES).write(&cpus.to_le_bytes())?;
    Ok(MASK_BYTES as usize)
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

/// `getcpu(cpu, node, cache)`: either output may be NULL; the node is always 0.
pub fn getcpu(cpu: UserPtr<u32>, node: UserPtr<u32>) -> Result<usize, Errno> {
    if !cpu.is_null() {
        cpu.write(&(arch_arm64::cpu::cpu_id() as u32))?;
    }
    if !node.is_null() {
        node.write(&0)?;
    }
    Ok(0)
}

/// Linux's scheduling policies (`include/uapi/linux/sched.h`).
const SCHED_OTHER: u64 = 0;
const SCHED_FIFO: u64 = 1;
const SCHED_RR: u64 = 2;
const SCHED_BATCH: u64 = 3;
const SCHED_IDLE: u64 = 5;
const SCHED_DEADLINE: u64 = 6;

/// The thread a scheduling call names: 0 is the caller; EINVAL for a negative id, ESRCH for an unknown one.
fn named_thread(tid: u64) -> Result<Arc<process::KernelTask>, Errno> {
    let tid = tid as i32;
    if tid < 0 {
        return Err(Errno::EINVAL);
    }
    if tid == 0 {
        return Ok(SCHED.current());
    }
    process::thread_task(tid as u32).ok_or(Errno::ESRCH)
}

/// `sched_getscheduler(tid)`: every thread runs under SCHED_OTHER (round-robin time slices, no priorities).
pub fn sched_getscheduler(tid: u64) -> Result<usize, Errno> {
    named_thread(tid)?;
    Ok(SCHED_OTHER as usize)
}

/// `sched_getparam(tid, param)`: `struct sched_param { int sched_priority; }`, 0 under SCHED_OTHER.
pub fn sched_getparam(tid: u64, param: UserPtr<u32>) -> Result<usize, Errno> {
    if param.is_null() {
        return Err(Errno::EINVAL);
    }
    named_thread(tid)?;
    param.write(&0)?;
    Ok(0)
}

/// `sched_get_priority_max(policy)`: 99 for the real-time policies, 0 for the others; EINVAL for an unknown one.
pub fn sched_get_priority_max(policy: u64) -> Result<usize, Errno> {
    match policy {
        SCHED_FIFO | SCHED_RR => Ok(99),
        SCHED_OTHER | SCHED_BATCH | SCHED_IDLE | SCHED_DEADLINE => Ok(0),
        _ => Err(Errno::EINVAL),
    }
}

/// `sched_get_priority_min(policy)`: 1 for the real-time policies, 0 for the others; EINVAL for an unknown one.
pub fn sched_get_priority_min(policy: u64) -> Result<usize, Errno> {
    match policy {
        SCHED_FIFO | SCHED_RR => Ok(1),
        SCHED_OTHER | SCHED_BATCH | SCHED_IDLE | SCHED_DEADLINE => Ok(0),
        _ => Err(Errno::EINVAL),
    }
}

/// `which` values of getpriority/setpriority.
const PRIO_PROCESS: u64 = 0;
const PRIO_USER: u64 = 2;

/// Checks `which`/`who` as Linux does: EINVAL for an unknown `which`, ESRCH when nothing matches (a process
/// or group by id, or a user other than root, the only user here).
fn check_priority_target(which: u64, who: u64) -> Result<(), Errno> {
    if which > PRIO_USER {
        return Err(Errno::EINVAL);
    }
    let who = who as u32;
    let exists = match which {
        _ if who == 0 => true,
        PRIO_PROCESS => process::process_of(who).is_some(),
        PRIO_USER => false,
        // PRIO_PGRP: there is no setpgid, so each process is its own group.
        _ => process::live_processes().contains_key(&who),
    };
    if exists {
        Ok(())
    } else {
        Err(Errno::ESRCH)
    }
}

/// `getpriority(which, who)`: the nice value is always 0, which the system call returns as `20 - nice` (so
/// that it is never negative), 20.
pub fn getpriority(which: u64, who: u64) -> Result<usize, Errno> {
    check_priority_target(which, who)?;
    Ok(20)
}

/// `setpriority(which, who, nice)`: accepted and ignored (every thread has the same share of the CPU here).
pub fn setpriority(which: u64, who: u64, _nice: u64) -> Result<usize, Errno> {
    check_priority_target(which, who)?;
    Ok(0)
}
