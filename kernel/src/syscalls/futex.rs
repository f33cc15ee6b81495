//! `futex(2)`: argument decoding and Linux's checks, in Linux's order (`sys_futex`, `do_futex`); the queues
//! and operations are in `crate::futex`.

use abi::futex::{
    FUTEX_BITSET_MATCH_ANY, FUTEX_CLOCK_REALTIME, FUTEX_CMD_MASK, FUTEX_CMP_REQUEUE, FUTEX_CMP_REQUEUE_PI,
    FUTEX_LOCK_PI, FUTEX_LOCK_PI2, FUTEX_PRIVATE_FLAG, FUTEX_REQUEUE, FUTEX_TRYLOCK_PI, FUTEX_UNLOCK_PI, FUTEX_WAIT,
    FUTEX_WAIT_BITSET, FUTEX_WAIT_REQUEUE_PI, FUTEX_WAKE, FUTEX_WAKE_BITSET, FUTEX_WAKE_OP,
};
use abi::{Errno, Timespec};

use super::UserPtr;
use crate::futex;

/// `futex(address, op, value, timeout_or_value2, address2, value3)`.
///
/// Timeouts: FUTEX_WAIT's is relative, FUTEX_WAIT_BITSET's absolute on CLOCK_MONOTONIC, or CLOCK_REALTIME with
/// FUTEX_CLOCK_REALTIME (both count from boot here; see time.rs). FUTEX_CLOCK_REALTIME with any other command
/// is ENOSYS, as are the PI commands and unknown ones (Linux's `do_futex` answers ENOSYS for those too).
pub fn futex(address: u64, op: u64, value: u64, timeout: u64, address2: u64, value3: u64) -> Result<usize, Errno> {
    let op = op as u32;
    let command = op & FUTEX_CMD_MASK;
    let private = op & FUTEX_PRIVATE_FLAG != 0;
    let value = value as u32;
    let value3 = value3 as u32;
    // sys_futex: the timeout is read and checked first, for the commands that have one.
    let has_timeout =
        matches!(command, FUTEX_WAIT | FUTEX_WAIT_BITSET | FUTEX_LOCK_PI | FUTEX_LOCK_PI2 | FUTEX_WAIT_REQUEUE_PI);
    let deadline = if has_timeout && timeout != 0 {
        let time = UserPtr::<Timespec>::new(timeout).read()?;
        if !time.is_valid() {
            return Err(Errno::EINVAL);
        }
        let nanoseconds = (time.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(time.tv_nsec as u64);
        Some(if command == FUTEX_WAIT { arch_arm64::cpu::now_ns().saturating_add(nanoseconds) } else { nanoseconds })
    } else {
        None
    };
    // The other commands take their second count from the timeout argument.
    let value2 = i64::from(timeout as u32 as i32);
    if op & FUTEX_CLOCK_REALTIME != 0 && !matches!(command, FUTEX_WAIT_BITSET | FUTEX_WAIT_REQUEUE_PI | FUTEX_LOCK_PI2)
    {
        return Err(Errno::ENOSYS);
    }
    let count = i64::from(value as i32);
    // The futex words are accessed atomically under locks that cannot wait for a page to be populated, so a word
    // on a page the program has not touched yet (an anonymous mapping fresh from mmap) is faulted in first, as
    // Linux's futex code faults the page in and retries. Errors are left to the access itself (EFAULT).
    let _populated = crate::vm::populate_for_kernel_access(address as usize, 4, command == FUTEX_WAKE_OP);
    if matches!(command, FUTEX_REQUEUE | FUTEX_CMP_REQUEUE | FUTEX_WAKE_OP) {
        let _populated = crate::vm::populate_for_kernel_access(address2 as usize, 4, command == FUTEX_WAKE_OP);
    }
    match command {
        FUTEX_WAIT | FUTEX_WAIT_BITSET => {
            let bitset = if command == FUTEX_WAIT { FUTEX_BITSET_MATCH_ANY } else { value3 };
            if bitset == 0 {
                return Err(Errno::EINVAL);
            }
            futex::wait(futex::key_of(address, private)?, value, bitset, deadline)
        }
        FUTEX_WAKE | FUTEX_WAKE_BITSET => {
            let bitset = if command == FUTEX_WAKE { FUTEX_BITSET_MATCH_ANY } else { value3 };
            if bitset == 0 {
                return Err(Errno::EINVAL);
            }
            Ok(futex::wake(futex::key_of(address, private)?, count, bitset))
        }
        FUTEX_REQUEUE | FUTEX_CMP_REQUEUE => {
            let expected = (command == FUTEX_CMP_REQUEUE).then_some(value3);
            if count < 0 || value2 < 0 {
                return Err(Errno::EINVAL);
            }
            let from = futex::key_of(address, private)?;
            let to = futex::key_of(address2, private)?;
            futex::requeue(from, to, count, value2, expected)
        }
        FUTEX_WAKE_OP => {
            let first = futex::key_of(address, private)?;
            let second = futex::key_of(address2, private)?;
            futex::wake_op(first, second, count, value2, value3)
        }
        // Priority-inheritance futexes are not implemented.
        FUTEX_LOCK_PI
        | FUTEX_LOCK_PI2
        | FUTEX_UNLOCK_PI
        | FUTEX_TRYLOCK_PI
        | FUTEX_WAIT_REQUEUE_PI
        | FUTEX_CMP_REQUEUE_PI => Err(Errno::ENOSYS),
        _ => Err(Errno::ENOSYS),
    }
}
