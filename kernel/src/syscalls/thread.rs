//! Threads and processes: ids, thread creation (clone), exit.

use abi::clone::{
    CLONE_CHILD_CLEARTID, CLONE_CHILD_SETTID, CLONE_DETACHED, CLONE_FILES, CLONE_FS, CLONE_NEWNS, CLONE_NEWPID,
    CLONE_NEWUSER, CLONE_PARENT_SETTID, CLONE_PIDFD, CLONE_SETTLS, CLONE_SIGHAND, CLONE_SYSVSEM, CLONE_THREAD,
    CLONE_UNTRACED, CLONE_VM, CSIGNAL,
};
use abi::Errno;
use arch_arm64::exceptions::{SyscallFrame, TrapFrame};

use crate::process::{self, SCHED};

/// What a thread-creating clone() may add to CLONE_THREAD (which implies CLONE_SIGHAND and CLONE_VM): the
/// flags glibc, musl (which always passes CLONE_DETACHED, ignored by Linux since 2.6) and Rust std pass.
const CLONE_THREAD_SUPPORTED: u64 = CLONE_VM
    | CLONE_FS
    | CLONE_FILES
    | CLONE_SIGHAND
    | CLONE_THREAD
    | CLONE_SYSVSEM
    | CLONE_SETTLS
    | CLONE_PARENT_SETTID
    | CLONE_CHILD_CLEARTID
    | CLONE_CHILD_SETTID
    | CLONE_DETACHED
    | CLONE_UNTRACED;

/// Shared by every thread of a process here (one descriptor table, one cwd, one semaphore-undo list): a thread
/// without them would need a private copy, which is not supported.
const CLONE_SHARED_STATE: u64 = CLONE_FS | CLONE_FILES | CLONE_SYSVSEM;

/// `exit(status)`: ends the calling thread.
pub fn exit(status: i32) -> ! {
    process::exit_current_thread(status, false)
}

/// `exit_group(status)`: ends every thread of the calling process.
pub fn exit_group(status: i32) -> ! {
    process::exit_current_thread(status, true)
}

/// `getpid()`: the id of the calling process (its first thread's id), kept on the caller's kernel stack next to
/// its system-call frame: one load, no lock, no reference count, no per-CPU lookup.
pub fn getpid(frame: &SyscallFrame) -> Result<usize, Errno> {
    Ok(frame.caller_process_id() as usize)
}

/// `gettid()`, as `getpid`.
pub fn gettid(frame: &SyscallFrame) -> Result<usize, Errno> {
    Ok(frame.caller_thread_id() as usize)
}

/// `clone(flags, stack, parent_tid, tls, child_tid)` (arm64's argument order) for a thread only.
///
/// Linux's checks first, in `copy_process`'s order and with its errno (EINVAL): CLONE_NEWNS or CLONE_NEWUSER
/// with CLONE_FS, CLONE_THREAD without CLONE_SIGHAND, CLONE_SIGHAND without CLONE_VM, CLONE_THREAD with a new
/// user or pid namespace, CLONE_PIDFD with CLONE_DETACHED or CLONE_THREAD. Then what this kernel does not
/// support, also EINVAL (Linux's answer for a combination it does not support): a new process (no
/// CLONE_THREAD: fork, vfork, posix_spawn's CLONE_VM|CLONE_VFORK), a thread without CLONE_FS, CLONE_FILES and
/// CLONE_SYSVSEM, namespaces and other flags, a NULL or misaligned stack. As Linux's legacy clone, the upper
/// 32 bits of `flags` are ignored, and the low byte (exit signal) is ignored for a thread.
///
/// The thread-id protocol: CLONE_PARENT_SETTID and CLONE_CHILD_SETTID store the new tid at `parent_tid` /
/// `child_tid` before the thread runs (a bad pointer is ignored, as Linux ignores its `put_user` result);
/// CLONE_CHILD_CLEARTID registers `child_tid` to be cleared and woken at the thread's exit.
pub fn clone(
    caller: &TrapFrame,
    flags: u64,
    stack: u64,
    parent_tid: u64,
    tls: u64,
    child_tid: u64,
) -> Result<usize, Errno> {
    let flags = flags & 0xffff_ffff & !CSIGNAL;
    let has = |flag: u64| flags & flag != 0;
    let linux_rejects = (has(CLONE_NEWNS) && has(CLONE_FS))
        || (has(CLONE_NEWUSER) && has(CLONE_FS))
        || (has(CLONE_THREAD) && !has(CLONE_SIGHAND))
        || (has(CLONE_SIGHAND) && !has(CLONE_VM))
        || (has(CLONE_THREAD) && (has(CLONE_NEWUSER) || has(CLONE_NEWPID)))
        || (has(CLONE_PIDFD) && (has(CLONE_DETACHED) || has(CLONE_THREAD)));
    if linux_rejects {
        return Err(Errno::EINVAL);
    }
    let supported = has(CLONE_THREAD)
        && flags & CLONE_SHARED_STATE == CLONE_SHARED_STATE
        && flags & !CLONE_THREAD_SUPPORTED == 0
        && stack != 0
        && stack.is_multiple_of(16);
    if !supported {
        return Err(Errno::EINVAL);
    }
    let thread_pointer = has(CLONE_SETTLS).then_some(tls);
    let tid = process::clone_thread(caller, stack, thread_pointer, |tid, state| {
        let tid_word = super::UserPtr::<u32>::new;
        if has(CLONE_PARENT_SETTID) {
            let _ignored = tid_word(parent_tid).write(&tid);
        }
        if has(CLONE_CHILD_SETTID) {
            // The same address space: the child would find the same word.
            let _ignored = tid_word(child_tid).write(&tid);
        }
        if has(CLONE_CHILD_CLEARTID) {
            state.clear_child_tid.store(child_tid, core::sync::atomic::Ordering::Relaxed);
        }
    })?;
    Ok(tid as usize)
}

/// `set_tid_address(address)`: remembers where to clear the tid at exit (then a FUTEX_WAKE of one waiter on
/// it: `pthread_join`); returns the caller's tid.
pub fn set_tid_address(frame: &SyscallFrame, address: u64) -> Result<usize, Errno> {
    if let Some(thread) = process::current_thread_state() {
        thread.clear_child_tid.store(address, core::sync::atomic::Ordering::Relaxed);
    }
    gettid(frame)
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
