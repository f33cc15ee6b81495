//! rseq on this kernel: the user-memory access core-sched's state machine (`core_sched::rseq`) runs on, the
//! return-to-user-mode hook that refreshes a registered thread's ids and restarts its interrupted critical
//! section, and the thread-exit cleanup. The system call itself is in `syscalls/rseq.rs`.
//!
//! Every return to EL0 passes through [`before_return_to_user`]: after a system call, an interrupt (the
//! preemption point: a task preempted in the interrupt handler comes back through it when switched in) and a
//! resolved page fault. While no thread has rseq registered (programs without glibc, most tests), it costs one
//! load; otherwise the current task's event flag decides, read through the core's published running task.

use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use arch_arm64::exceptions::TrapFrame;
use core_sched::rseq::{RseqUserMemory, UserFault};

use crate::process::{KernelTask, SCHED};
use crate::syscalls::UserSlice;
use arch_arm64::Arm64;
use core_sched::Mm;

/// Threads with an rseq area registered, all processes together: while 0 the return path skips the lookup.
static REGISTERED_THREADS: AtomicUsize = AtomicUsize::new(0);

/// BROKEN, for tests only: when set, the return-to-user fixup refreshes the ids but never moves a preempted
/// thread to its abort handler, so critical sections commit after a preemption (the rseq test shows that
/// per-CPU counters then lose increments). Never set outside that test.
static BROKEN_SKIP_ABORT: AtomicBool = AtomicBool::new(false);

/// Sets the BROKEN no-abort mode (see [`BROKEN_SKIP_ABORT`]); the rseq test turns it on for one run and off.
pub fn set_broken_skip_abort(broken: bool) {
    BROKEN_SKIP_ABORT.store(broken, Ordering::Relaxed);
}

/// The calling thread's memory, `mm`: a direct checked copy through its page table first (the area is
/// normally mapped: the thread touched it), else the system calls' path, which also faults in a page not yet
/// touched (demand paging). A fault is an error, never a kernel fault.
pub(crate) struct CurrentUserMemory<'a> {
    pub(crate) mm: &'a Mm<Arm64>,
}

impl CurrentUserMemory<'_> {
    fn read<const N: usize>(&self, address: u64) -> Result<[u8; N], UserFault> {
        let mut bytes = [0u8; N];
        if self.mm.arch().copy_from_user(address as usize, &mut bytes).is_ok() {
            return Ok(bytes);
        }
        UserSlice::new(address, N as u64).read_to_vec().ok().and_then(|bytes| bytes.try_into().ok()).ok_or(UserFault)
    }

    fn write(&self, address: u64, bytes: &[u8]) -> Result<(), UserFault> {
        if self.mm.arch().copy_to_user(address as usize, bytes).is_ok() {
            return Ok(());
        }
        UserSlice::new(address, bytes.len() as u64).write(bytes).map_err(|_| UserFault)
    }
}

impl RseqUserMemory for CurrentUserMemory<'_> {
    fn read_u32(&mut self, address: u64) -> Result<u32, UserFault> {
        self.read(address).map(u32::from_le_bytes)
    }
    fn read_u64(&mut self, address: u64) -> Result<u64, UserFault> {
        self.read(address).map(u64::from_le_bytes)
    }
    fn write_u32(&mut self, address: u64, value: u32) -> Result<(), UserFault> {
        self.write(address, &value.to_le_bytes())
    }
    fn write_u64(&mut self, address: u64, value: u64) -> Result<(), UserFault> {
        self.write(address, &value.to_le_bytes())
    }
}

/// A thread registered (`was_registered` false before, true after) or unregistered.
pub(crate) fn registration_changed(registered: bool) {
    if registered {
        REGISTERED_THREADS.fetch_add(1, Ordering::Relaxed);
        crate::user_return::add_slow_path_reason();
    } else {
        REGISTERED_THREADS.fetch_sub(1, Ordering::Relaxed);
        crate::user_return::remove_slow_path_reason();
    }
}

/// The return-to-user hook, with interrupts masked, just before the exception return to EL0 of the current
/// thread (`frame`). A thread whose rseq area or critical-section descriptor is bad is killed with SIGSEGV's
/// status, as Linux's `force_sigsegv`.
#[inline(always)]
pub(crate) fn before_return_to_user(frame: &mut TrapFrame) {
    if REGISTERED_THREADS.load(Ordering::Relaxed) == 0 {
        return;
    }
    handle_notify_resume(frame);
}

#[inline(never)]
fn handle_notify_resume(frame: &mut TrapFrame) {
    // The common case (an rseq thread with no event since its last return) is answered through the core's
    // published running task: no run-queue lock, no reference count. Before a core's first switch (never a
    // user thread) the lookup below decides.
    if arch_arm64::context::with_running_task(|task| task.rseq.notify_pending()) == Some(false) {
        return;
    }
    let task = SCHED.current();
    if !task.rseq.notify_pending() {
        return;
    }
    let Some(mm) = task.mm() else { return };
    let mut pc = frame.return_address();
    let cpu = arch_arm64::cpu::cpu_id() as u32;
    let skip_abort = BROKEN_SKIP_ABORT.load(Ordering::Relaxed);
    let mut memory = CurrentUserMemory { mm: &mm };
    let result = core_sched::rseq::handle_notify_resume(&task, &mm, cpu, &mut memory, &mut pc, skip_abort);
    drop(mm);
    drop(task);
    match result {
        Ok(_) => frame.set_return_address(pc),
        Err(UserFault) => kill_current(frame.return_address()),
    }
}

/// Linux's `force_sigsegv` for a bad rseq area or descriptor: the process ends with SIGSEGV's status.
#[cold]
fn kill_current(pc: u64) -> ! {
    // In a block: nothing owned may stay on this stack across the exit, which never returns.
    {
        let tid = SCHED.current().id().0;
        let pid = crate::process::current_process().map_or(0, |process| process.pid);
        crate::println!(
            "user fault: task {tid} (process {pid}) killed: bad rseq area or critical-section descriptor (or \
             abort signature mismatch) at pc {pc:#x}"
        );
    }
    crate::process::exit_current_thread(128 + 11, true)
}

/// Thread exit, while the thread still owns its mm: the registration goes (and its concurrency id).
pub(crate) fn exit_thread(task: &KernelTask) {
    if !task.rseq.is_registered() {
        return;
    }
    if let Some(mm) = task.mm() {
        core_sched::rseq::unregister(task, &mm);
        registration_changed(false);
    }
}
