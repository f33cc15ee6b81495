//! The kernel error type: one variant per Linux errno value, so the syscall layer returns `-(errno as i64)`.

/// A Linux errno. The discriminant is the Linux (asm-generic, hence arm64) value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum Errno {
    /// Operation not permitted.
    EPERM = 1,
    /// No such file or directory.
    ENOENT = 2,
    /// No such process.
    ESRCH = 3,
    /// Interrupted system call.
    EINTR = 4,
    /// I/O error.
    EIO = 5,
    /// Bad file descriptor.
    EBADF = 9,
    /// Try again.
    EAGAIN = 11,
    /// Out of memory.
    ENOMEM = 12,
    /// Bad address.
    EFAULT = 14,
    /// Device or resource busy.
    EBUSY = 16,
    /// Invalid argument.
    EINVAL = 22,
    /// Function not implemented.
    ENOSYS = 38,
    /// Connection timed out. Used by `membarrier()` when a target CPU never acknowledged its IPI, which Linux
    /// cannot report (it waits forever); see `Scheduler::membarrier`.
    ETIMEDOUT = 110,
}

impl Errno {
    /// The positive Linux errno value.
    pub const fn value(self) -> i32 {
        self as i32
    }

    /// The value a syscall returns in x0 for this error: `-errno`.
    pub const fn to_syscall_return(self) -> i64 {
        -(self as i64)
    }
}
