//! Restartable sequences (`rseq(2)`), the arch-independent part: a task's registration, the "rseq notify" event
//! the scheduler raises when it switches a registered task out, the per-mm concurrency ids (`mm_cid`), the
//! registration checks of Linux's `sys_rseq`, and the fixup that runs on the way back to user mode
//! (Linux's `__rseq_handle_notify_resume`): refresh the ids in the user's `struct rseq` and, if the saved user
//! PC lies inside the registered critical section, move it to the section's abort handler.
//!
//! The kernel supplies user memory through [`RseqUserMemory`] and the saved user PC as a `&mut u64`; nothing
//! here touches an address space directly, so the whole protocol runs under `cargo test`.
//!
//! # What a user reading the fields may rely on
//! The kernel writes `cpu_id_start`, `cpu_id`, `node_id` and `mm_cid` only on the thread's own return to user
//! mode, after every switch-in (the scheduler's switch-out raised the event), so while the thread runs in user
//! mode they name the CPU it runs on and a concurrency id no other running thread of its process holds. They
//! may be stale the instant after they are read (a preemption can move the thread), which is why a critical
//! section compares `cpu_id` *inside* the section: a preemption between that load and the commit store moves
//! the thread to `abort_ip` before it runs user code again, so the commit never happens on a CPU other than
//! the one it checked. No memory barrier is needed: the writes and the reads are by the same thread, ordered by
//! the exception return (a context synchronization event) that separates them.
//!
//! # Concurrency ids
//! As Linux 6.3+: a thread holds an id from its process's set only while it is some CPU's current task and has
//! returned to user mode since it was switched in; the lowest free id is taken on that return and given back at
//! the switch-out. So at most one id per CPU and one per thread are held at once, and ids stay dense from 0
//! (below both the CPU count and the thread count), which per-CPU-style arrays indexed by `mm_cid` rely on.

use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use crate::arch::Arch;
use crate::errno::Errno;
use crate::irq::IrqsMasked;
use crate::mm::Mm;
use crate::task::Task;

/// `rseq()` flag: unregister the calling thread's area.
pub const RSEQ_FLAG_UNREGISTER: i32 = 1;
/// `sizeof(struct rseq)` before Linux 6.3 added `node_id` and `mm_cid` (the fields still fit in it).
pub const ORIG_RSEQ_SIZE: u32 = 32;
/// `offsetof(struct rseq, end)`: the size of the fields this kernel fills (AT_RSEQ_FEATURE_SIZE).
pub const RSEQ_FEATURE_SIZE: u32 = 28;
/// `__alignof__(struct rseq)` (AT_RSEQ_ALIGN).
pub const RSEQ_ALIGN: u64 = 32;
/// `RSEQ_CPU_ID_UNINITIALIZED`: `cpu_id` of an area that is not (or no longer) registered.
pub const RSEQ_CPU_ID_UNINITIALIZED: u32 = u32::MAX;
/// Linux's arm64 `TASK_SIZE` (48-bit user addresses).
const USER_ADDRESS_LIMIT: u64 = 1 << 48;

/// Offsets of `struct rseq`'s fields (Linux's `include/uapi/linux/rseq.h`).
mod field {
    pub const CPU_ID_START: u64 = 0;
    pub const CPU_ID: u64 = 4;
    pub const RSEQ_CS: u64 = 8;
    pub const FLAGS: u64 = 16;
    pub const NODE_ID: u64 = 20;
    pub const MM_CID: u64 = 24;
}

/// Offsets of `struct rseq_cs`'s fields.
mod critical_section {
    pub const VERSION: u64 = 0;
    pub const FLAGS: u64 = 4;
    pub const START_IP: u64 = 8;
    pub const POST_COMMIT_OFFSET: u64 = 16;
    pub const ABORT_IP: u64 = 24;
}

/// A user access that failed (unmapped, not writable): the thread gets SIGSEGV.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserFault;

/// The calling thread's user memory, as the kernel reaches it (checked copies; demand paging allowed).
pub trait RseqUserMemory {
    /// Reads the 4 bytes at `address`.
    fn read_u32(&mut self, address: u64) -> Result<u32, UserFault>;
    /// Reads the 8 bytes at `address`.
    fn read_u64(&mut self, address: u64) -> Result<u64, UserFault>;
    /// Writes 4 bytes at `address`.
    fn write_u32(&mut self, address: u64, value: u32) -> Result<(), UserFault>;
    /// Writes 8 bytes at `address`.
    fn write_u64(&mut self, address: u64, value: u64) -> Result<(), UserFault>;
}

/// No concurrency id held.
const NO_CID: u32 = u32::MAX;

/// A task's rseq registration and pending event. Written by the task itself (registration, the fixup) and by
/// the CPU running it (switch-out, a membarrier RSEQ IPI); atomics so that diagnostics may read it anywhere.
#[derive(Debug)]
pub struct TaskRseq {
    /// User address of the registered `struct rseq`; 0 when none (Linux's `t->rseq`).
    area: AtomicU64,
    length: AtomicU32,
    signature: AtomicU32,
    /// Linux's `rseq_event_mask` + TIF_NOTIFY_RESUME: preempted, migrated or asked by membarrier since the last
    /// return to user mode.
    notify: AtomicBool,
    /// The concurrency id held, or [`NO_CID`].
    cid: AtomicU32,
}

impl Default for TaskRseq {
    fn default() -> Self {
        Self {
            area: AtomicU64::new(0),
            length: AtomicU32::new(0),
            signature: AtomicU32::new(0),
            notify: AtomicBool::new(false),
            cid: AtomicU32::new(NO_CID),
        }
    }
}

impl TaskRseq {
    /// Whether an area is registered (the only thing the switch path looks at).
    #[inline(always)]
    pub fn is_registered(&self) -> bool {
        self.area.load(Ordering::Relaxed) != 0
    }

    /// The registered area's address (0: none).
    pub fn area(&self) -> u64 {
        self.area.load(Ordering::Relaxed)
    }

    /// Raises the event: the next return to user mode refreshes the ids and restarts a critical section.
    pub fn set_notify(&self) {
        self.notify.store(true, Ordering::Relaxed);
    }

    /// Whether the event is raised (tests, diagnostics).
    pub fn notify_pending(&self) -> bool {
        self.notify.load(Ordering::Relaxed)
    }

    /// The concurrency id held, if any.
    pub fn concurrency_id(&self) -> Option<u32> {
        Some(self.cid.load(Ordering::Relaxed)).filter(|&cid| cid != NO_CID)
    }

    fn release_cid<A: Arch>(&self, mm: &Mm<A>) {
        let cid = self.cid.swap(NO_CID, Ordering::Relaxed);
        if cid != NO_CID {
            mm.rseq_cids.release(cid);
        }
    }
}

/// A process's concurrency ids: one bit per id held (ids are below `MAX_CPUS`, see the module documentation).
#[derive(Debug, Default)]
pub struct ConcurrencyIds {
    held: AtomicU64,
}

impl ConcurrencyIds {
    /// Takes the lowest free id.
    fn allocate(&self) -> u32 {
        let mut held = self.held.load(Ordering::Relaxed);
        loop {
            let lowest_free = (!held).trailing_zeros();
            assert!(lowest_free < 64, "more concurrency ids held than CPUs");
            match self.held.compare_exchange_weak(held, held | 1 << lowest_free, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return lowest_free,
                Err(now) => held = now,
            }
        }
    }

    fn release(&self, cid: u32) {
        self.held.fetch_and(!(1u64 << cid), Ordering::Relaxed);
    }

    /// The ids held now (tests).
    pub fn held(&self) -> u64 {
        self.held.load(Ordering::Relaxed)
    }
}

/// The scheduler's hook, called in `schedule()` for the task being switched out (Linux's `rseq_preempt` in
/// `prepare_task_switch`, which also covers migration: a migrated task was switched out first). For a task
/// without rseq it is one load and a branch.
#[inline(always)]
pub(crate) fn note_switch_out<A: Arch>(prev: &Task<A>, masked: &IrqsMasked<A>) {
    if prev.rseq.is_registered() {
        note_switch_out_registered(prev, masked);
    }
}

#[cold]
#[inline(never)]
fn note_switch_out_registered<A: Arch>(prev: &Task<A>, masked: &IrqsMasked<A>) {
    prev.rseq.set_notify();
    // The id goes back as the task leaves the CPU; it takes the lowest free one on its next return to user mode.
    if let Some(mm) = prev.mm.lock_masked(masked).as_ref() {
        prev.rseq.release_cid(mm);
    }
}

/// `rseq(area, length, flags, signature)` for the calling `task` of `mm`, with Linux's checks in Linux's order
/// (`kernel/rseq.c`, 6.3+): unregistration (EINVAL for other flags, another area or length, EPERM for another
/// signature; the fields reset), then EINVAL for unknown flags, then for a thread already registered EINVAL
/// (another area or length), EPERM (another signature) or EBUSY, then EINVAL for a misaligned or short area,
/// EFAULT for one beyond user space or unreadable. A non-NULL `rseq_cs` left in the area is cleared.
pub fn sys_rseq<A: Arch>(
    task: &Task<A>,
    mm: &Mm<A>,
    memory: &mut impl RseqUserMemory,
    area: u64,
    length: u32,
    flags: i32,
    signature: u32,
) -> Result<(), Errno> {
    let registration = &task.rseq;
    let registered = registration.area.load(Ordering::Relaxed);
    if flags & RSEQ_FLAG_UNREGISTER != 0 {
        if flags & !RSEQ_FLAG_UNREGISTER != 0 || registered != area || registered == 0 {
            return Err(Errno::EINVAL);
        }
        if length != registration.length.load(Ordering::Relaxed) {
            return Err(Errno::EINVAL);
        }
        if signature != registration.signature.load(Ordering::Relaxed) {
            return Err(Errno::EPERM);
        }
        // Linux's rseq_reset_rseq_cpu_node_id: cpu_id back to "uninitialized", the others to 0.
        let reset = [
            (field::CPU_ID_START, 0),
            (field::CPU_ID, RSEQ_CPU_ID_UNINITIALIZED),
            (field::NODE_ID, 0),
            (field::MM_CID, 0),
        ];
        for (offset, value) in reset {
            memory.write_u32(area + offset, value).map_err(|_| Errno::EFAULT)?;
        }
        unregister(task, mm);
        return Ok(());
    }
    if flags != 0 {
        return Err(Errno::EINVAL);
    }
    if registered != 0 {
        if registered != area || length != registration.length.load(Ordering::Relaxed) {
            return Err(Errno::EINVAL);
        }
        if signature != registration.signature.load(Ordering::Relaxed) {
            return Err(Errno::EPERM);
        }
        return Err(Errno::EBUSY);
    }
    let misaligned_or_short = length < ORIG_RSEQ_SIZE
        || (length == ORIG_RSEQ_SIZE && !area.is_multiple_of(u64::from(ORIG_RSEQ_SIZE)))
        || (length != ORIG_RSEQ_SIZE && (!area.is_multiple_of(RSEQ_ALIGN) || length < RSEQ_FEATURE_SIZE));
    if misaligned_or_short {
        return Err(Errno::EINVAL);
    }
    // Linux's access_ok: the range lies in user space.
    if area.checked_add(u64::from(length)).is_none_or(|end| end > USER_ADDRESS_LIMIT) {
        return Err(Errno::EFAULT);
    }
    let stale_critical_section = memory.read_u64(area + field::RSEQ_CS).map_err(|_| Errno::EFAULT)?;
    if stale_critical_section != 0 {
        memory.write_u64(area + field::RSEQ_CS, 0).map_err(|_| Errno::EFAULT)?;
    }
    registration.length.store(length, Ordering::Relaxed);
    registration.signature.store(signature, Ordering::Relaxed);
    registration.area.store(area, Ordering::Relaxed);
    // The fields are filled on the way back to user mode (Linux's rseq_set_notify_resume).
    registration.set_notify();
    Ok(())
}

/// Drops `task`'s registration and gives back its concurrency id: unregistration, and thread exit (called
/// while the task still owns `mm`).
pub fn unregister<A: Arch>(task: &Task<A>, mm: &Mm<A>) {
    let registration = &task.rseq;
    registration.area.store(0, Ordering::Relaxed);
    registration.length.store(0, Ordering::Relaxed);
    registration.signature.store(0, Ordering::Relaxed);
    registration.notify.store(false, Ordering::Relaxed);
    registration.release_cid(mm);
}

/// What the return-to-user fixup did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resume {
    /// Nothing pending (or not registered).
    Unchanged,
    /// The ids were refreshed; the PC was outside any critical section.
    IdsUpdated,
    /// The ids were refreshed and the PC moved from inside the critical section to its abort handler.
    Aborted {
        /// Where the PC was.
        from: u64,
    },
}

/// The return-to-user-mode hook (Linux's `__rseq_handle_notify_resume`), called with interrupts masked on the
/// CPU `cpu` that will run `task` (of `mm`) in user mode right after, with the saved user PC. If the event is
/// raised: when the PC lies in `[start_ip, start_ip + post_commit_offset)` of the `rseq_cs` the area names, the
/// PC becomes `abort_ip` (after the signature word before it matched) and `rseq_cs` is cleared (also cleared,
/// lazily, when the PC is outside); then `cpu_id_start`, `cpu_id`, `node_id` (0) and `mm_cid` are written.
/// An invalid descriptor, a signature mismatch or an unreachable area is `Err`: the caller kills the thread
/// with SIGSEGV, as Linux's `force_sigsegv`. `skip_abort` (the BROKEN test build only) leaves the PC alone.
pub fn handle_notify_resume<A: Arch>(
    task: &Task<A>,
    mm: &Mm<A>,
    cpu: u32,
    memory: &mut impl RseqUserMemory,
    user_pc: &mut u64,
    skip_abort: bool,
) -> Result<Resume, UserFault> {
    let registration = &task.rseq;
    let area = registration.area.load(Ordering::Relaxed);
    if area == 0 || !registration.notify.swap(false, Ordering::Relaxed) {
        return Ok(Resume::Unchanged);
    }
    let mut resume = Resume::IdsUpdated;
    if let Some(abort_ip) = critical_section_abort_ip(memory, area, registration, *user_pc)? {
        memory.write_u64(area + field::RSEQ_CS, 0)?;
        if !skip_abort {
            resume = Resume::Aborted { from: *user_pc };
            *user_pc = abort_ip;
        }
    }
    if registration.cid.load(Ordering::Relaxed) == NO_CID {
        registration.cid.store(mm.rseq_cids.allocate(), Ordering::Relaxed);
    }
    let cid = registration.cid.load(Ordering::Relaxed);
    // Two 8-byte writes rather than four: cpu_id_start and cpu_id are adjacent, and so are node_id and mm_cid
    // (little-endian: the field at the lower address is the low half). Only the thread itself reads them, after
    // the exception return, so the order of the writes does not matter.
    memory.write_u64(area + field::CPU_ID_START, u64::from(cpu) << 32 | u64::from(cpu))?;
    memory.write_u64(area + field::NODE_ID, u64::from(cid) << 32)?;
    Ok(resume)
}

/// Linux's `rseq_ip_fixup` up to the decision: `Some(abort_ip)` when `pc` lies inside the critical section
/// `area`'s `rseq_cs` names; `None` when there is none or `pc` is outside it (then `rseq_cs` is cleared here,
/// Linux's lazy clear). The descriptor's checks are `rseq_get_rseq_cs`'s.
fn critical_section_abort_ip(
    memory: &mut impl RseqUserMemory,
    area: u64,
    registration: &TaskRseq,
    pc: u64,
) -> Result<Option<u64>, UserFault> {
    let descriptor = memory.read_u64(area + field::RSEQ_CS)?;
    if descriptor == 0 {
        return Ok(None);
    }
    if descriptor >= USER_ADDRESS_LIMIT {
        return Err(UserFault);
    }
    let version = memory.read_u32(descriptor + critical_section::VERSION)?;
    let section_flags = memory.read_u32(descriptor + critical_section::FLAGS)?;
    let start_ip = memory.read_u64(descriptor + critical_section::START_IP)?;
    let post_commit_offset = memory.read_u64(descriptor + critical_section::POST_COMMIT_OFFSET)?;
    let abort_ip = memory.read_u64(descriptor + critical_section::ABORT_IP)?;
    let post_commit_ip = start_ip.checked_add(post_commit_offset).ok_or(UserFault)?;
    if start_ip >= USER_ADDRESS_LIMIT || post_commit_ip >= USER_ADDRESS_LIMIT || abort_ip >= USER_ADDRESS_LIMIT {
        return Err(UserFault);
    }
    if version > 0 || abort_ip.wrapping_sub(start_ip) < post_commit_offset {
        // An unknown version, or an abort handler inside the section it would restart.
        return Err(UserFault);
    }
    // The 32-bit word before the abort handler must be the registered signature: the kernel never jumps to an
    // address an attacker wrote into rseq_cs unless it is marked as an abort handler.
    let signature = memory.read_u32(abort_ip.wrapping_sub(4))?;
    if signature != registration.signature.load(Ordering::Relaxed) {
        return Err(UserFault);
    }
    if pc.wrapping_sub(start_ip) >= post_commit_offset {
        memory.write_u64(area + field::RSEQ_CS, 0)?;
        return Ok(None);
    }
    // Linux rejects the deprecated no-restart flags in either structure (rseq_need_restart).
    let thread_flags = memory.read_u32(area + field::FLAGS)?;
    if section_flags != 0 || thread_flags != 0 {
        return Err(UserFault);
    }
    Ok(Some(abort_ip))
}

/// A membarrier `PRIVATE_EXPEDITED_RSEQ` IPI on the CPU running `current` (Linux's `ipi_rseq`): raise its event
/// so that its critical section, if any, restarts before it runs user code again.
pub(crate) fn ipi_restart<A: Arch>(current: &Task<A>) {
    if current.rseq.is_registered() {
        current.rseq.set_notify();
    }
}
