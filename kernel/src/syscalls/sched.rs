//! Scheduling calls: yielding, CPU affinity, which CPU the caller runs on.

use abi::Errno;
use alloc::sync::Arc;
use core_sched::CpuSet;

use super::{UserPtr, UserSlice};
use crate::process::{self, SCHED};

/// `sched_yield()`.
pub fn sched_yield() -> Result<usize, Errno> {
    SCHED.yield_now();
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
