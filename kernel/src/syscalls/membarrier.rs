//! `membarrier()`: the system call this kernel is built around; the work is core-sched's.

use abi::membarrier::MEMBARRIER_CMD_QUERY;
use abi::syscall_return_value;
use core_sched::membarrier::MEMBARRIER_SUPPORTED_COMMANDS;

use crate::process::SCHED;

/// `membarrier(cmd, flags, cpu_id)`, its result encoded for x0 (`-errno` on failure). Inlined into the
/// dispatcher, so that QUERY without flags (what a library asks once per call site) is answered there; every
/// other command, and QUERY with a flag (EINVAL), calls core-sched out of line, whose command `match` saves ten
/// callee-saved registers on entry. That part encodes its result itself, so it comes back in a register instead
/// of as a `Result` in memory.
#[inline(always)]
pub fn membarrier(command: u64, flags: u64, cpu_id: u64) -> u64 {
    // `int cmd, unsigned int flags` in Linux's prototype: the upper halves of the registers are ignored, as in
    // `membarrier_command` below.
    if command as i32 == MEMBARRIER_CMD_QUERY && flags as u32 == 0 {
        return MEMBARRIER_SUPPORTED_COMMANDS as u64;
    }
    membarrier_command(command, flags, cpu_id)
}

/// Every `membarrier` but a plain QUERY.
#[inline(never)]
fn membarrier_command(command: u64, flags: u64, cpu_id: u64) -> u64 {
    syscall_return_value(
        SCHED.membarrier_current(command as i32, flags as u32, cpu_id as i32).map(|result| result as usize),
    )
}
