//! Threads and processes: ids, thread creation (clone), exit.

use abi::clone::{CLONE_CHILD_CLEARTID, CLONE_PARENT_SETTID, CLONE_SETTLS, THREAD_FLAGS};
use abi::Errno;
use arch_arm64::exceptions::TrapFrame;

use crate::process::{self, SCHED};

/// Accepted besides [`THREAD_FLAGS`] (which a thread-creating clone() must have, as glibc and musl pass them):
/// CLONE_SETTLS, CLONE_PARENT_SETTID, CLONE_CHILD_CLEARTID (the tid writes are not done).
const CLONE_THREAD_OPTIONAL: u64 = CLONE_SETTLS | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID;

/// `exit(status)`: ends the calling thread.
pub fn exit(status: i32) -> ! {
    process::exit_current_thread(status, false)
}

/// `exit_group(status)`: ends every thread of the calling process.
pub fn exit_group(status: i32) -> ! {
    process::exit_current_thread(status, true)
}

/// `getpid()`: the id of the calling process (its first thread's id).
pub fn getpid() -> Result<usize, Errno> {
    Ok(process::current_process().map_or(0, |process| process.pid as usize))
}

/// `gettid()`.
pub fn gettid() -> Result<usize, Errno> {
    Ok(SCHED.current().id().0 as usize)
}

/// `clone(flags, stack, parent_tid, tls, child_tid)` for a thread only: same address space, `stack` required.
pub fn clone(caller: &TrapFrame, flags: u64, stack: u64, tls: u64) -> Result<usize, Errno> {
    let required_present = flags & THREAD_FLAGS == THREAD_FLAGS;
    let no_unknown = flags & !(THREAD_FLAGS | CLONE_THREAD_OPTIONAL) == 0;
    if !required_present || !no_unknown || stack == 0 || !stack.is_multiple_of(16) {
        return Err(Errno::EINVAL);
    }
    let thread_pointer = (flags & CLONE_SETTLS != 0).then_some(tls);
    process::clone_thread(caller, stack, thread_pointer).map(|tid| tid as usize)
}

/// `set_tid_address(address)`: remembers where to clear the tid at exit (the threads work does the clearing
/// and the futex wake); returns the caller's tid.
pub fn set_tid_address(address: u64) -> Result<usize, Errno> {
    if let Some(thread) = process::current_thread_state() {
        thread.clear_child_tid.store(address, core::sync::atomic::Ordering::Relaxed);
    }
    gettid()
}

/// `set_robust_list(head, length)`: remembers the thread's robust futex list; EINVAL unless `length` is the
/// size of `struct robust_list_head`.
pub fn set_robust_list(head: u64, length: u64) -> Result<usize, Errno> {
    if length != core::mem::size_of::<abi::RobustListHead>() as u64 {
        return Err(Errno::EINVAL);
    }
    let thread = process::current_thread_state().ok_or(Errno::EINVAL)?;
    thread.robust_list_head.store(head, core::sync::atomic::Ordering::Relaxed);
    Ok(0)
}

/// `get_robust_list(tid, head, length)`: `tid` 0 is the caller; ESRCH for an unknown thread.
pub fn get_robust_list(tid: u64, head: super::UserPtr<u64>, length: super::UserPtr<u64>) -> Result<usize, Errno> {
    let tid = if tid == 0 { SCHED.current().id().0 } else { u32::try_from(tid).map_err(|_| Errno::ESRCH)? };
    let (_, thread) = process::thread_state(tid).ok_or(Errno::ESRCH)?;
    head.write(&thread.robust_list_head.load(core::sync::atomic::Ordering::Relaxed))?;
    length.write(&(core::mem::size_of::<abi::RobustListHead>() as u64))?;
    Ok(0)
}
