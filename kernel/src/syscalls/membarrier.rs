//! `membarrier()`: the system call this kernel is built around; the work is core-sched's.

use abi::Errno;

use crate::process::SCHED;

/// `membarrier(cmd, flags, cpu_id)`.
pub fn membarrier(command: u64, flags: u64, cpu_id: u64) -> Result<usize, Errno> {
    SCHED.membarrier_current(command as i32, flags as u32, cpu_id as i32).map(|result| result as usize)
}
