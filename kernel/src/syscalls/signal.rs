//! Signal calls (`signals.rs` holds the state and the default actions): dispositions, masks, the alternate
//! stack, and sending.

use abi::signal::{
    MINSIGSTKSZ, SA_KNOWN_FLAGS, SIGKILL, SIGSTOP, SIG_BLOCK, SIG_SETMASK, SIG_UNBLOCK, SS_AUTODISARM, SS_DISABLE,
    SS_ONSTACK,
};
use abi::{Errno, Sigaction, SignalStack};

use super::fd::caller;
use super::UserPtr;
use crate::process;
use crate::signals::{self, check_set_size, UNBLOCKABLE};

fn current_thread() -> Result<alloc::sync::Arc<process::ThreadState>, Errno> {
    process::current_thread_state().ok_or(Errno::EINVAL)
}

/// `rt_sigaction(signal, action, old_action, sigsetsize)`, with the kernel's arm64 `struct sigaction`.
pub fn rt_sigaction(
    signal: u64,
    action: UserPtr<Sigaction>,
    old_action: UserPtr<Sigaction>,
    sigset_size: u64,
) -> Result<usize, Errno> {
    check_set_size(sigset_size)?;
    // Linux copies the new action in first (EFAULT), then validates the signal (EINVAL).
    let new = if action.is_null() { None } else { Some(action.read()?) };
    let kernel_only = signal == u64::from(SIGKILL) || signal == u64::from(SIGSTOP);
    if !signals::is_valid(signal) || (new.is_some() && kernel_only) {
        return Err(Errno::EINVAL);
    }
    let signal = signal as u32;
    let process = caller()?;
    let old = {
        let mut state = process.signals.lock();
        let old = state.action(signal);
        if let Some(mut new) = new {
            // As Linux: unknown flag bits are dropped (so programs can probe them) and SIGKILL/SIGSTOP are never
            // in a handler's mask.
            new.sa_flags &= SA_KNOWN_FLAGS;
            new.sa_mask &= !UNBLOCKABLE;
            state.set_action(signal, new);
        }
        old
    };
    if !old_action.is_null() {
        old_action.write(&old)?;
    }
    Ok(0)
}

/// `rt_sigprocmask(how, set, old_set, sigsetsize)`: the calling thread's mask; newly unblocked pending
/// signals take effect before the call returns.
pub fn rt_sigprocmask(how: u64, set: UserPtr<u64>, old_set: UserPtr<u64>, sigset_size: u64) -> Result<usize, Errno> {
    check_set_size(sigset_size)?;
    let thread = current_thread()?;
    let old = thread.signals.lock().mask;
    if !set.is_null() {
        let set = set.read()? & !UNBLOCKABLE;
        let new = match u32::try_from(how).map_err(|_| Errno::EINVAL)? {
            SIG_BLOCK => old | set,
            SIG_UNBLOCK => old & !set,
            SIG_SETMASK => set,
            _ => return Err(Errno::EINVAL),
        };
        thread.signals.lock().mask = new;
    }
    if !old_set.is_null() {
        old_set.write(&old)?;
    }
    signals::deliver_unblocked(&*caller()?, &thread);
    Ok(0)
}

/// `rt_sigpending(set, sigsetsize)`: the pending signals the thread blocks.
pub fn rt_sigpending(set: super::UserSlice, sigset_size: u64) -> Result<usize, Errno> {
    if sigset_size > abi::signal::SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let thread = current_thread()?;
    let process = caller()?;
    let (pending, mask) = {
        let signals = thread.signals.lock();
        (signals.pending, signals.mask)
    };
    let pending = (pending | process.signals.lock().pending) & mask;
    let bytes = pending.to_le_bytes();
    set.write(&bytes[..sigset_size as usize])?;
    Ok(0)
}

/// `sigaltstack(stack, old_stack)`: stored (handlers do not run yet, so the thread is never on it).
pub fn sigaltstack(stack: UserPtr<SignalStack>, old_stack: UserPtr<SignalStack>) -> Result<usize, Errno> {
    let new = if stack.is_null() { None } else { Some(stack.read()?) };
    let thread = current_thread()?;
    let old = thread.signals.lock().alternate_stack;
    if let Some(mut new) = new {
        let mode = new.ss_flags & !SS_AUTODISARM;
        if mode != 0 && mode != SS_ONSTACK && mode != SS_DISABLE {
            return Err(Errno::EINVAL);
        }
        if mode == SS_DISABLE {
            new = SignalStack { ss_sp: 0, ss_flags: SS_DISABLE, ss_size: 0 };
        } else if new.ss_size < MINSIGSTKSZ {
            return Err(Errno::ENOMEM);
        } else {
            // SS_ONSTACK is accepted as 0 (as Linux does); only SS_AUTODISARM is remembered.
            new.ss_flags &= SS_AUTODISARM;
        }
        thread.signals.lock().alternate_stack = new;
    }
    if !old_stack.is_null() {
        old_stack.write(&old)?;
    }
    Ok(0)
}

/// Checks a signal argument of kill/tgkill/tkill: 0 (existence check) or 1..=64.
fn signal_number(signal: u64) -> Result<u32, Errno> {
    if signal == 0 || signals::is_valid(signal) {
        Ok(signal as u32)
    } else {
        Err(Errno::EINVAL)
    }
}

/// `kill(pid, signal)`: `pid` > 0 is that process; 0 the caller's (its process group); -1 every process but
/// the caller; < -1 process group -pid (each process is its own group here).
pub fn kill(pid: u64, signal: u64) -> Result<usize, Errno> {
    let signal = signal_number(signal)?;
    let pid = pid as i32;
    let processes = process::live_processes();
    let targets: alloc::vec::Vec<_> = match pid {
        0 => alloc::vec![caller()?],
        -1 => {
            let me = caller()?.pid;
            processes.into_values().filter(|target| target.pid != me).collect()
        }
        i32::MIN => return Err(Errno::ESRCH),
        _ => processes.get(&pid.unsigned_abs()).cloned().into_iter().collect(),
    };
    if targets.is_empty() {
        return Err(Errno::ESRCH);
    }
    if signal != 0 {
        for target in &targets {
            signals::send_to_process(target, signal);
        }
    }
    Ok(0)
}

/// `tgkill(tgid, tid, signal)`: thread `tid` of process `tgid`.
pub fn tgkill(tgid: u64, tid: u64, signal: u64) -> Result<usize, Errno> {
    let (tgid, tid) = (tgid as i32, tid as i32);
    if tgid <= 0 || tid <= 0 {
        return Err(Errno::EINVAL);
    }
    send_to_thread(Some(tgid as u32), tid as u32, signal_number(signal)?)
}

/// `tkill(tid, signal)`: thread `tid`, whatever its process.
pub fn tkill(tid: u64, signal: u64) -> Result<usize, Errno> {
    let tid = tid as i32;
    if tid <= 0 {
        return Err(Errno::EINVAL);
    }
    send_to_thread(None, tid as u32, signal_number(signal)?)
}

fn send_to_thread(tgid: Option<u32>, tid: u32, signal: u32) -> Result<usize, Errno> {
    let (process, thread) = process::thread_state(tid).ok_or(Errno::ESRCH)?;
    if tgid.is_some_and(|tgid| tgid != process.pid) {
        return Err(Errno::ESRCH);
    }
    if signal != 0 {
        signals::send_to_thread(&process, &thread, signal);
    }
    Ok(0)
}
