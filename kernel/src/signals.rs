//! Signal state, honestly minimal: dispositions per process, a mask, pending set and alternate stack per
//! thread, and the default actions carried out. A terminating signal ends the whole process with status
//! 128 + signal and a console line naming it; a signal whose disposition is a user handler also ends the
//! process, with a line saying that handler delivery is not supported yet (never silently). A signal that is
//! blocked stays pending and takes effect when it is unblocked, which is how glibc's and musl's `raise` and
//! `abort` work (musl blocks every signal around its `tkill`).

use alloc::sync::Arc;

use abi::signal::{
    bit, name, SIGCHLD, SIGCONT, SIGKILL, SIGRTMAX, SIGRTMIN, SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU, SIGURG, SIGWINCH,
    SIG_DFL, SIG_IGN,
};
use abi::{Errno, Sigaction, SignalStack};

use crate::println;
use crate::process::{self, Process, ThreadState};

/// Signals that can be neither blocked nor caught nor ignored.
pub const UNBLOCKABLE: u64 = bit(SIGKILL) | bit(SIGSTOP);

/// The dispositions of a process and the signals sent to it (not to one thread) that wait for a thread not
/// blocking them.
#[derive(Debug)]
pub struct ProcessSignals {
    actions: [Sigaction; SIGRTMAX as usize],
    pub pending: u64,
}

impl Default for ProcessSignals {
    fn default() -> Self {
        Self { actions: [Sigaction::default(); SIGRTMAX as usize], pending: 0 }
    }
}

impl ProcessSignals {
    /// The disposition of `signal` (1..=64).
    pub fn action(&self, signal: u32) -> Sigaction {
        self.actions[signal as usize - 1]
    }

    /// Replaces the disposition of `signal`; a signal now ignored is discarded from the pending set, as Linux
    /// does.
    pub fn set_action(&mut self, signal: u32, action: Sigaction) {
        self.actions[signal as usize - 1] = action;
        if effect(signal, action.sa_handler) == Effect::Nothing {
            self.pending &= !bit(signal);
        }
    }
}

/// The signal state of one thread.
#[derive(Debug)]
pub struct ThreadSignals {
    /// Blocked signals (never SIGKILL or SIGSTOP).
    pub mask: u64,
    /// Signals sent to this thread that it blocks.
    pub pending: u64,
    /// `sigaltstack`'s stack (stored only: handlers do not run yet).
    pub alternate_stack: SignalStack,
}

impl Default for ThreadSignals {
    fn default() -> Self {
        let disabled = SignalStack { ss_flags: abi::signal::SS_DISABLE, ..SignalStack::default() };
        Self { mask: 0, pending: 0, alternate_stack: disabled }
    }
}

/// What a signal does to its process, given the disposition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Effect {
    /// Ignored (SIG_IGN, or a default action of "ignore").
    Nothing,
    /// The default action "stop": not supported, reported and ignored.
    Stop,
    /// The default action "terminate" (or "core dump"): the process ends with 128 + signal.
    Terminate,
    /// A user handler, which cannot be delivered yet: the process ends too, with a message saying so.
    Handler,
}

fn effect(signal: u32, handler: u64) -> Effect {
    match handler {
        _ if signal == SIGKILL => Effect::Terminate,
        _ if signal == SIGSTOP => Effect::Stop,
        SIG_IGN => Effect::Nothing,
        SIG_DFL => match signal {
            SIGCHLD | SIGCONT | SIGURG | SIGWINCH => Effect::Nothing,
            SIGTSTP | SIGTTIN | SIGTTOU => Effect::Stop,
            _ => Effect::Terminate,
        },
        _ => Effect::Handler,
    }
}

/// Whether `signal` is a valid signal number (1..=64).
pub fn is_valid(signal: u64) -> bool {
    (1..=u64::from(SIGRTMAX)).contains(&signal)
}

/// A readable name: "SIGABRT", or "SIGRTMIN+2" for real-time signals.
struct SignalName(u32);

impl core::fmt::Display for SignalName {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match name(self.0) {
            Some(name) => formatter.write_str(name),
            None => write!(formatter, "SIGRTMIN+{}", self.0 - SIGRTMIN),
        }
    }
}

/// Carries out `signal` on `process` now (it is not blocked).
fn act(process: &Process, signal: u32) {
    let handler = process.signals.lock().action(signal).sa_handler;
    let (pid, name, signal_name) = (process.pid, process.name.as_str(), SignalName(signal));
    match effect(signal, handler) {
        Effect::Nothing => {}
        Effect::Stop => {
            println!("process {pid} '{name}': signal {signal} ({signal_name}) ignored: stopping is not supported")
        }
        Effect::Terminate => {
            if process.terminate(128 + signal as i32) {
                println!("process {pid} '{name}' killed by signal {signal} ({signal_name})");
            }
        }
        Effect::Handler => {
            if process.terminate(128 + signal as i32) {
                println!(
                    "process {pid} '{name}' killed by signal {signal} ({signal_name}): it has a handler, and \
                     signal handler delivery is not supported yet"
                );
            }
        }
    }
}

/// Sends `signal` to one thread (`tgkill`, `tkill`): carried out now unless that thread blocks it.
pub fn send_to_thread(process: &Process, thread: &ThreadState, signal: u32) {
    {
        let mut signals = thread.signals.lock();
        if signals.mask & bit(signal) != 0 {
            signals.pending |= bit(signal);
            return;
        }
    }
    act(process, signal);
}

/// Sends `signal` to a process (`kill`): carried out now if some thread does not block it, else pending on the
/// process until one unblocks it.
pub fn send_to_process(process: &Arc<Process>, signal: u32) {
    let threads = process::threads_of(process.pid);
    let some_thread_accepts = threads.iter().any(|(_, _, thread)| thread.signals.lock().mask & bit(signal) == 0);
    if some_thread_accepts || threads.is_empty() {
        act(process, signal);
    } else {
        process.signals.lock().pending |= bit(signal);
    }
}

/// After the calling thread's mask changed: carries out the pending signals it no longer blocks.
pub fn deliver_unblocked(process: &Process, thread: &ThreadState) {
    let unblocked = {
        let mut signals = thread.signals.lock();
        let mut process_signals = process.signals.lock();
        let deliverable = (signals.pending | process_signals.pending) & !signals.mask;
        signals.pending &= !deliverable;
        process_signals.pending &= !deliverable;
        deliverable
    };
    for signal in 1..=SIGRTMAX {
        if unblocked & bit(signal) != 0 {
            act(process, signal);
        }
    }
}

/// Checks a `sigsetsize` argument: the rt_sig* calls take exactly the kernel's 8-byte set.
pub fn check_set_size(size: u64) -> Result<(), Errno> {
    if size == abi::signal::SIGSET_SIZE {
        Ok(())
    } else {
        Err(Errno::EINVAL)
    }
}
