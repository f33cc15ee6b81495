//! Flag bits and command values of the system calls, as Linux's uapi headers define them.

/// `clone()` flags (`include/uapi/linux/sched.h`). The low byte (`CSIGNAL`) is the signal sent to the parent
/// when the child exits.
pub mod clone {
    /// Signal mask sent to the parent on exit.
    pub const CSIGNAL: u64 = 0xff;
    /// Share the address space.
    pub const CLONE_VM: u64 = 0x100;
    /// Share the filesystem information (root, cwd, umask).
    pub const CLONE_FS: u64 = 0x200;
    /// Share the file descriptor table.
    pub const CLONE_FILES: u64 = 0x400;
    /// Share signal handlers.
    pub const CLONE_SIGHAND: u64 = 0x800;
    /// Return a pidfd for the child.
    pub const CLONE_PIDFD: u64 = 0x1000;
    /// Keep tracing the child if the parent is traced.
    pub const CLONE_PTRACE: u64 = 0x2000;
    /// The parent sleeps until the child execs or exits.
    pub const CLONE_VFORK: u64 = 0x4000;
    /// The child gets the caller's parent.
    pub const CLONE_PARENT: u64 = 0x8000;
    /// Same thread group (a thread, not a process).
    pub const CLONE_THREAD: u64 = 0x10000;
    /// New mount namespace.
    pub const CLONE_NEWNS: u64 = 0x20000;
    /// Share System V semaphore undo lists.
    pub const CLONE_SYSVSEM: u64 = 0x40000;
    /// Set the child's thread pointer (TLS) from the `tls` argument.
    pub const CLONE_SETTLS: u64 = 0x80000;
    /// Store the child's thread id at `parent_tid` in the parent's memory.
    pub const CLONE_PARENT_SETTID: u64 = 0x100000;
    /// Clear the word at `child_tid` and futex-wake it when the child exits.
    pub const CLONE_CHILD_CLEARTID: u64 = 0x200000;
    /// Ignored (historical).
    pub const CLONE_DETACHED: u64 = 0x400000;
    /// A tracer cannot force CLONE_PTRACE.
    pub const CLONE_UNTRACED: u64 = 0x800000;
    /// Store the child's thread id at `child_tid` in the child's memory.
    pub const CLONE_CHILD_SETTID: u64 = 0x1000000;
    /// New cgroup namespace.
    pub const CLONE_NEWCGROUP: u64 = 0x2000000;
    /// New UTS namespace.
    pub const CLONE_NEWUTS: u64 = 0x4000000;
    /// New IPC namespace.
    pub const CLONE_NEWIPC: u64 = 0x8000000;
    /// New user namespace.
    pub const CLONE_NEWUSER: u64 = 0x10000000;
    /// New pid namespace.
    pub const CLONE_NEWPID: u64 = 0x20000000;
    /// New network namespace.
    pub const CLONE_NEWNET: u64 = 0x40000000;
    /// Share the I/O context.
    pub const CLONE_IO: u64 = 0x80000000;

    /// What glibc's and musl's `pthread_create` pass at least (besides SETTLS and the tid options).
    pub const THREAD_FLAGS: u64 = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM;
}

/// `futex()` operations and flags (`include/uapi/linux/futex.h`).
pub mod futex {
    /// Sleep if the word still holds the expected value.
    pub const FUTEX_WAIT: u32 = 0;
    /// Wake up to `val` waiters.
    pub const FUTEX_WAKE: u32 = 1;
    /// Removed in Linux 2.6.26.
    pub const FUTEX_FD: u32 = 2;
    /// Wake some waiters and move the rest to another word.
    pub const FUTEX_REQUEUE: u32 = 3;
    /// FUTEX_REQUEUE after checking the word's value.
    pub const FUTEX_CMP_REQUEUE: u32 = 4;
    /// Modify a second word and wake waiters on both.
    pub const FUTEX_WAKE_OP: u32 = 5;
    /// Priority-inheritance lock.
    pub const FUTEX_LOCK_PI: u32 = 6;
    /// Priority-inheritance unlock.
    pub const FUTEX_UNLOCK_PI: u32 = 7;
    /// Priority-inheritance try-lock.
    pub const FUTEX_TRYLOCK_PI: u32 = 8;
    /// FUTEX_WAIT with a wake-up bit mask (and an absolute timeout).
    pub const FUTEX_WAIT_BITSET: u32 = 9;
    /// FUTEX_WAKE for the waiters whose bit mask matches.
    pub const FUTEX_WAKE_BITSET: u32 = 10;
    /// Wait on a non-PI word to be requeued to a PI one.
    pub const FUTEX_WAIT_REQUEUE_PI: u32 = 11;
    /// Requeue waiters from a non-PI word to a PI one.
    pub const FUTEX_CMP_REQUEUE_PI: u32 = 12;
    /// FUTEX_LOCK_PI with a choosable clock.
    pub const FUTEX_LOCK_PI2: u32 = 13;
    /// The word is private to the process (no shared-mapping lookup).
    pub const FUTEX_PRIVATE_FLAG: u32 = 128;
    /// The timeout is measured against CLOCK_REALTIME.
    pub const FUTEX_CLOCK_REALTIME: u32 = 256;
    /// The operation without its flags.
    pub const FUTEX_CMD_MASK: u32 = !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
    /// A FUTEX_WAIT_BITSET mask matching every waker.
    pub const FUTEX_BITSET_MATCH_ANY: u32 = 0xffff_ffff;
    /// In a PI or robust futex word: there are waiters.
    pub const FUTEX_WAITERS: u32 = 0x8000_0000;
    /// In a robust futex word: the owner died holding it.
    pub const FUTEX_OWNER_DIED: u32 = 0x4000_0000;
    /// In a PI or robust futex word: the owner's thread id.
    pub const FUTEX_TID_MASK: u32 = 0x3fff_ffff;
}

/// `mmap()`, `mprotect()`, `mremap()` and `madvise()` values (`include/uapi/asm-generic/mman-common.h`,
/// `mman.h`, `linux/mman.h`).
pub mod mmap {
    /// No access.
    pub const PROT_NONE: u32 = 0x0;
    /// Readable.
    pub const PROT_READ: u32 = 0x1;
    /// Writable.
    pub const PROT_WRITE: u32 = 0x2;
    /// Executable.
    pub const PROT_EXEC: u32 = 0x4;
    /// arm64: branch target identification enforced on the pages.
    pub const PROT_BTI: u32 = 0x10;
    /// arm64: memory tagging enabled on the pages.
    pub const PROT_MTE: u32 = 0x20;

    /// Changes are shared with other mappings of the object.
    pub const MAP_SHARED: u32 = 0x01;
    /// Copy-on-write private mapping.
    pub const MAP_PRIVATE: u32 = 0x02;
    /// MAP_SHARED that rejects unknown flags.
    pub const MAP_SHARED_VALIDATE: u32 = 0x03;
    /// The mapping-type bits.
    pub const MAP_TYPE: u32 = 0x0f;
    /// Map exactly at `addr`, replacing what is there.
    pub const MAP_FIXED: u32 = 0x10;
    /// Not backed by a file: zero-filled.
    pub const MAP_ANONYMOUS: u32 = 0x20;
    /// Stack-like segment that grows down.
    pub const MAP_GROWSDOWN: u32 = 0x0100;
    /// Ignored.
    pub const MAP_DENYWRITE: u32 = 0x0800;
    /// Ignored.
    pub const MAP_EXECUTABLE: u32 = 0x1000;
    /// Lock the pages in memory.
    pub const MAP_LOCKED: u32 = 0x2000;
    /// Do not reserve swap space.
    pub const MAP_NORESERVE: u32 = 0x4000;
    /// Prefault the page tables.
    pub const MAP_POPULATE: u32 = 0x8000;
    /// With MAP_POPULATE: do not block on I/O.
    pub const MAP_NONBLOCK: u32 = 0x10000;
    /// Address suitable for a stack (no effect on Linux).
    pub const MAP_STACK: u32 = 0x20000;
    /// Use huge pages.
    pub const MAP_HUGETLB: u32 = 0x40000;
    /// Synchronous page faults for persistent memory (with MAP_SHARED_VALIDATE).
    pub const MAP_SYNC: u32 = 0x80000;
    /// MAP_FIXED that fails with EEXIST instead of replacing a mapping.
    pub const MAP_FIXED_NOREPLACE: u32 = 0x100000;
    /// What `mmap()` returns on failure in C (`(void *)-1`); the raw call returns `-errno`.
    pub const MAP_FAILED: usize = usize::MAX;

    /// `mremap()`: the mapping may move.
    pub const MREMAP_MAYMOVE: u32 = 1;
    /// `mremap()`: move to exactly `new_address`.
    pub const MREMAP_FIXED: u32 = 2;
    /// `mremap()`: keep the old mapping (anonymous private only).
    pub const MREMAP_DONTUNMAP: u32 = 4;

    /// `madvise()`: no special treatment.
    pub const MADV_NORMAL: u32 = 0;
    /// `madvise()`: the pages will be needed soon.
    pub const MADV_WILLNEED: u32 = 3;
    /// `madvise()`: drop the pages; private anonymous memory reads back as zeros.
    pub const MADV_DONTNEED: u32 = 4;
    /// `madvise()`: the pages may be freed lazily.
    pub const MADV_FREE: u32 = 8;
}

/// `membarrier()` commands and flags (`include/uapi/linux/membarrier.h`).
pub mod membarrier {
    /// Which commands the kernel supports (a bit mask of them).
    pub const MEMBARRIER_CMD_QUERY: i32 = 0;
    /// A barrier on every CPU running any thread of any process (implemented with synchronize_rcu in Linux).
    pub const MEMBARRIER_CMD_GLOBAL: i32 = 1 << 0;
    /// A barrier on every CPU running a thread of a process registered for it.
    pub const MEMBARRIER_CMD_GLOBAL_EXPEDITED: i32 = 1 << 1;
    /// Registers the process for MEMBARRIER_CMD_GLOBAL_EXPEDITED.
    pub const MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED: i32 = 1 << 2;
    /// A barrier on every CPU running a thread of the caller's process.
    pub const MEMBARRIER_CMD_PRIVATE_EXPEDITED: i32 = 1 << 3;
    /// Registers the process for MEMBARRIER_CMD_PRIVATE_EXPEDITED.
    pub const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED: i32 = 1 << 4;
    /// MEMBARRIER_CMD_PRIVATE_EXPEDITED plus a core-serializing instruction on each CPU.
    pub const MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE: i32 = 1 << 5;
    /// Registers the process for MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE.
    pub const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE: i32 = 1 << 6;
    /// MEMBARRIER_CMD_PRIVATE_EXPEDITED that also restarts the rseq critical sections it interrupts.
    pub const MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ: i32 = 1 << 7;
    /// Registers the process for MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ.
    pub const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ: i32 = 1 << 8;
    /// The registrations of the caller's process (a bit mask of REGISTER commands).
    pub const MEMBARRIER_CMD_GET_REGISTRATIONS: i32 = 1 << 9;
    /// Flag of the RSEQ command: target one CPU, given as the third argument.
    pub const MEMBARRIER_CMD_FLAG_CPU: u32 = 1 << 0;
}

/// Clock ids for `clock_gettime()`, `clock_nanosleep()` and timers (`include/uapi/linux/time.h`).
pub mod clock {
    /// Wall-clock time.
    pub const CLOCK_REALTIME: u32 = 0;
    /// Time since an unspecified start, never set back.
    pub const CLOCK_MONOTONIC: u32 = 1;
    /// CPU time of the process.
    pub const CLOCK_PROCESS_CPUTIME_ID: u32 = 2;
    /// CPU time of the thread.
    pub const CLOCK_THREAD_CPUTIME_ID: u32 = 3;
    /// CLOCK_MONOTONIC without frequency adjustments.
    pub const CLOCK_MONOTONIC_RAW: u32 = 4;
    /// Faster, tick-resolution CLOCK_REALTIME.
    pub const CLOCK_REALTIME_COARSE: u32 = 5;
    /// Faster, tick-resolution CLOCK_MONOTONIC.
    pub const CLOCK_MONOTONIC_COARSE: u32 = 6;
    /// CLOCK_MONOTONIC including time suspended.
    pub const CLOCK_BOOTTIME: u32 = 7;
    /// `clock_nanosleep()` flag: the time is absolute.
    pub const TIMER_ABSTIME: u32 = 1;
}

/// Resource numbers for `getrlimit()`/`setrlimit()`/`prlimit64()` (`include/uapi/asm-generic/resource.h`).
pub mod rlimit {
    /// CPU time in seconds.
    pub const RLIMIT_CPU: u32 = 0;
    /// Largest file size.
    pub const RLIMIT_FSIZE: u32 = 1;
    /// Data segment size.
    pub const RLIMIT_DATA: u32 = 2;
    /// Stack size.
    pub const RLIMIT_STACK: u32 = 3;
    /// Core file size.
    pub const RLIMIT_CORE: u32 = 4;
    /// Resident set size.
    pub const RLIMIT_RSS: u32 = 5;
    /// Number of processes (threads) of the user.
    pub const RLIMIT_NPROC: u32 = 6;
    /// Number of open files.
    pub const RLIMIT_NOFILE: u32 = 7;
    /// Locked memory.
    pub const RLIMIT_MEMLOCK: u32 = 8;
    /// Address space size.
    pub const RLIMIT_AS: u32 = 9;
    /// File locks.
    pub const RLIMIT_LOCKS: u32 = 10;
    /// Pending signals.
    pub const RLIMIT_SIGPENDING: u32 = 11;
    /// Bytes in POSIX message queues.
    pub const RLIMIT_MSGQUEUE: u32 = 12;
    /// Ceiling of the nice value.
    pub const RLIMIT_NICE: u32 = 13;
    /// Ceiling of the real-time priority.
    pub const RLIMIT_RTPRIO: u32 = 14;
    /// Real-time CPU time without a blocking call, in microseconds.
    pub const RLIMIT_RTTIME: u32 = 15;
    /// Number of resources.
    pub const RLIM_NLIMITS: u32 = 16;
    /// No limit.
    pub const RLIM_INFINITY: u64 = u64::MAX;
}

/// `rseq()` flags and values (`include/uapi/linux/rseq.h`).
pub mod rseq {
    /// `rseq()` flag: unregister the area.
    pub const RSEQ_FLAG_UNREGISTER: u32 = 1 << 0;
    /// `Rseq::cpu_id` before registration.
    pub const RSEQ_CPU_ID_UNINITIALIZED: u32 = -1i32 as u32;
    /// `Rseq::cpu_id` when registration failed.
    pub const RSEQ_CPU_ID_REGISTRATION_FAILED: u32 = -2i32 as u32;
    /// The size of `struct rseq` in Linux 4.18 (what `rseq()` requires at least).
    pub const ORIG_RSEQ_SIZE: usize = 32;
}
