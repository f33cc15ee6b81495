//! Per-process resource limits (`getrlimit`, `setrlimit`, `prlimit64`), with Linux's defaults for the ones
//! the kernel has a meaning for: the main thread's 8 MiB stack, the descriptor table, the address space, the
//! thread count.

use abi::rlimit::{
    RLIMIT_AS, RLIMIT_CORE, RLIMIT_MEMLOCK, RLIMIT_MSGQUEUE, RLIMIT_NOFILE, RLIMIT_NPROC, RLIMIT_SIGPENDING,
    RLIMIT_STACK, RLIM_INFINITY, RLIM_NLIMITS,
};
use abi::{Errno, Rlimit};

/// The main thread's stack: 8 MiB, Linux's default `ulimit -s`.
pub const STACK_LIMIT: u64 = 8 << 20;
/// Open descriptors: Linux's default soft limit (`INR_OPEN_CUR`) and hard limit (`INR_OPEN_MAX`).
pub const NOFILE_SOFT: u64 = 1024;
/// See [`NOFILE_SOFT`].
pub const NOFILE_HARD: u64 = 4096;
/// Locked memory: Linux's default (8 MiB since 5.16).
const MEMLOCK_LIMIT: u64 = 8 << 20;
/// Pending signals and POSIX message queue bytes: Linux's defaults for a small machine.
const SIGPENDING_LIMIT: u64 = 4096;
const MSGQUEUE_LIMIT: u64 = 819_200;

/// The limits of one process.
#[derive(Clone, Debug)]
pub struct ResourceLimits {
    limits: [Rlimit; RLIM_NLIMITS as usize],
}

impl Default for ResourceLimits {
    fn default() -> Self {
        let unlimited = Rlimit { rlim_cur: RLIM_INFINITY, rlim_max: RLIM_INFINITY };
        let mut limits = [unlimited; RLIM_NLIMITS as usize];
        limits[RLIMIT_STACK as usize] = Rlimit { rlim_cur: STACK_LIMIT, rlim_max: RLIM_INFINITY };
        limits[RLIMIT_CORE as usize] = Rlimit { rlim_cur: 0, rlim_max: RLIM_INFINITY };
        // Threads: the kernel's real limit (kernel stacks; `threads_max`). Linux sets half of its threads-max per
        // user; with one user (uid 0) and a kernel that enforces only the global limit, the global one is true.
        let threads = crate::process::threads_max() as u64;
        limits[RLIMIT_NPROC as usize] = Rlimit { rlim_cur: threads, rlim_max: threads };
        limits[RLIMIT_NOFILE as usize] = Rlimit { rlim_cur: NOFILE_SOFT, rlim_max: NOFILE_HARD };
        limits[RLIMIT_MEMLOCK as usize] = Rlimit { rlim_cur: MEMLOCK_LIMIT, rlim_max: MEMLOCK_LIMIT };
        limits[RLIMIT_AS as usize] = unlimited;
        limits[RLIMIT_SIGPENDING as usize] = Rlimit { rlim_cur: SIGPENDING_LIMIT, rlim_max: SIGPENDING_LIMIT };
        limits[RLIMIT_MSGQUEUE as usize] = Rlimit { rlim_cur: MSGQUEUE_LIMIT, rlim_max: MSGQUEUE_LIMIT };
        Self { limits }
    }
}

impl ResourceLimits {
    /// The limit of `resource`; EINVAL for an unknown resource.
    pub fn get(&self, resource: u64) -> Result<Rlimit, Errno> {
        usize::try_from(resource).ok().and_then(|index| self.limits.get(index).copied()).ok_or(Errno::EINVAL)
    }

    /// Sets the limit of `resource`: EINVAL when soft > hard, EPERM when raising the hard limit (this kernel
    /// grants no CAP_SYS_RESOURCE), and for RLIMIT_NOFILE EPERM above the kernel's ceiling (`nr_open`).
    pub fn set(&mut self, resource: u64, new: Rlimit) -> Result<(), Errno> {
        let old = self.get(resource)?;
        if new.rlim_cur > new.rlim_max {
            return Err(Errno::EINVAL);
        }
        if new.rlim_max > old.rlim_max || (resource == u64::from(RLIMIT_NOFILE) && new.rlim_max > NOFILE_HARD) {
            return Err(Errno::EPERM);
        }
        self.limits[resource as usize] = new;
        Ok(())
    }

    /// The soft RLIMIT_NOFILE as a descriptor bound.
    pub fn open_files(&self) -> usize {
        self.limits[RLIMIT_NOFILE as usize].rlim_cur.min(NOFILE_HARD) as usize
    }
}
