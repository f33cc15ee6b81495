//! `rseq(2)`: registers the calling thread's restartable-sequence area; the checks and the state are
//! core-sched's (`core_sched::rseq`), the return-to-user fixup is `crate::rseq`.

use abi::Errno;

use crate::process::SCHED;
use crate::rseq::CurrentUserMemory;

/// `rseq(area, length, flags, signature)`.
pub fn rseq(area: u64, length: u64, flags: u64, signature: u64) -> Result<usize, Errno> {
    let task = SCHED.current();
    let mm = task.mm().ok_or(Errno::EINVAL)?;
    let was_registered = task.rseq.is_registered();
    // Linux's prototype takes u32 length, int flags, u32 signature: the upper halves are ignored.
    core_sched::rseq::sys_rseq(
        &task,
        &mm,
        &mut CurrentUserMemory { mm: &mm },
        area,
        length as u32,
        flags as i32,
        signature as u32,
    )?;
    if was_registered != task.rseq.is_registered() {
        crate::rseq::registration_changed(!was_registered);
    }
    Ok(0)
}
