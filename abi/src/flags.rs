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
    /// Ignored (historical: the pages may be used for atomic operations).
    pub const PROT_SEM: u32 = 0x8;
    /// `mprotect()`: extend the change down to the start of a grows-down mapping.
    pub const PROT_GROWSDOWN: u32 = 0x0100_0000;
    /// `mprotect()`: extend the change up to the end of a grows-up mapping.
    pub const PROT_GROWSUP: u32 = 0x0200_0000;

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
    /// `madvise()`: the pages will be accessed randomly.
    pub const MADV_RANDOM: u32 = 1;
    /// `madvise()`: the pages will be accessed in order.
    pub const MADV_SEQUENTIAL: u32 = 2;
    /// `madvise()`: the pages may be freed lazily.
    pub const MADV_FREE: u32 = 8;
    /// `madvise()`: free the range and its backing store (shared mappings only).
    pub const MADV_REMOVE: u32 = 9;
    /// `madvise()`: the last of the fork/merge/huge-page/dump/wipe/cold/pageout hints (10-21).
    pub const MADV_PAGEOUT: u32 = 21;
    /// `madvise()`: fault the pages in for reading.
    pub const MADV_POPULATE_READ: u32 = 22;
    /// `madvise()`: fault the pages in for writing.
    pub const MADV_POPULATE_WRITE: u32 = 23;
    /// `madvise()`: MADV_DONTNEED that also drops locked pages.
    pub const MADV_DONTNEED_LOCKED: u32 = 24;
    /// `madvise()`: collapse the range into transparent huge pages.
    pub const MADV_COLLAPSE: u32 = 25;
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
    /// CLOCK_REALTIME that wakes a suspended system (timers only; readable).
    pub const CLOCK_REALTIME_ALARM: u32 = 8;
    /// CLOCK_BOOTTIME that wakes a suspended system (timers only; readable).
    pub const CLOCK_BOOTTIME_ALARM: u32 = 9;
    /// International Atomic Time.
    pub const CLOCK_TAI: u32 = 11;
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

/// Signal numbers, `sigprocmask()` operations, `sigaction` flags and `sigaltstack` values
/// (`include/uapi/asm-generic/signal.h`, `signal-defs.h`; arm64 uses the generic ones).
pub mod signal {
    /// Hangup.
    pub const SIGHUP: u32 = 1;
    /// Interrupt from the keyboard.
    pub const SIGINT: u32 = 2;
    /// Quit from the keyboard.
    pub const SIGQUIT: u32 = 3;
    /// Illegal instruction.
    pub const SIGILL: u32 = 4;
    /// Trace or breakpoint trap.
    pub const SIGTRAP: u32 = 5;
    /// Abort (`abort()`).
    pub const SIGABRT: u32 = 6;
    /// Bus error.
    pub const SIGBUS: u32 = 7;
    /// Floating-point exception.
    pub const SIGFPE: u32 = 8;
    /// Kill (cannot be caught, blocked or ignored).
    pub const SIGKILL: u32 = 9;
    /// User-defined signal 1.
    pub const SIGUSR1: u32 = 10;
    /// Invalid memory reference.
    pub const SIGSEGV: u32 = 11;
    /// User-defined signal 2.
    pub const SIGUSR2: u32 = 12;
    /// Write to a pipe with no reader.
    pub const SIGPIPE: u32 = 13;
    /// Timer from `alarm()`.
    pub const SIGALRM: u32 = 14;
    /// Termination request.
    pub const SIGTERM: u32 = 15;
    /// Stack fault on a coprocessor (unused).
    pub const SIGSTKFLT: u32 = 16;
    /// A child stopped or terminated.
    pub const SIGCHLD: u32 = 17;
    /// Continue if stopped.
    pub const SIGCONT: u32 = 18;
    /// Stop (cannot be caught, blocked or ignored).
    pub const SIGSTOP: u32 = 19;
    /// Stop typed at the terminal.
    pub const SIGTSTP: u32 = 20;
    /// Terminal input for a background process.
    pub const SIGTTIN: u32 = 21;
    /// Terminal output for a background process.
    pub const SIGTTOU: u32 = 22;
    /// Urgent condition on a socket.
    pub const SIGURG: u32 = 23;
    /// CPU time limit exceeded.
    pub const SIGXCPU: u32 = 24;
    /// File size limit exceeded.
    pub const SIGXFSZ: u32 = 25;
    /// Virtual alarm clock.
    pub const SIGVTALRM: u32 = 26;
    /// Profiling timer expired.
    pub const SIGPROF: u32 = 27;
    /// Window resize.
    pub const SIGWINCH: u32 = 28;
    /// I/O now possible.
    pub const SIGIO: u32 = 29;
    /// Power failure.
    pub const SIGPWR: u32 = 30;
    /// Bad system call.
    pub const SIGSYS: u32 = 31;
    /// The first real-time signal.
    pub const SIGRTMIN: u32 = 32;
    /// The last signal number (`_NSIG`).
    pub const SIGRTMAX: u32 = 64;

    /// The name of signal `signal` (`"SIGABRT"`), `None` outside 1..=31 (real-time signals have no name).
    pub const fn name(signal: u32) -> Option<&'static str> {
        const NAMES: [&str; 31] = [
            "SIGHUP",
            "SIGINT",
            "SIGQUIT",
            "SIGILL",
            "SIGTRAP",
            "SIGABRT",
            "SIGBUS",
            "SIGFPE",
            "SIGKILL",
            "SIGUSR1",
            "SIGSEGV",
            "SIGUSR2",
            "SIGPIPE",
            "SIGALRM",
            "SIGTERM",
            "SIGSTKFLT",
            "SIGCHLD",
            "SIGCONT",
            "SIGSTOP",
            "SIGTSTP",
            "SIGTTIN",
            "SIGTTOU",
            "SIGURG",
            "SIGXCPU",
            "SIGXFSZ",
            "SIGVTALRM",
            "SIGPROF",
            "SIGWINCH",
            "SIGIO",
            "SIGPWR",
            "SIGSYS",
        ];
        if signal >= 1 && signal <= 31 {
            Some(NAMES[signal as usize - 1])
        } else {
            None
        }
    }

    /// The bit of `signal` in a signal set (`sigset_t`, 64 bits on arm64).
    pub const fn bit(signal: u32) -> u64 {
        1 << (signal - 1)
    }

    /// The size of the kernel's `sigset_t`: the only `sigsetsize` the rt_sig* calls accept.
    pub const SIGSET_SIZE: u64 = 8;

    /// Disposition: the default action.
    pub const SIG_DFL: u64 = 0;
    /// Disposition: ignore.
    pub const SIG_IGN: u64 = 1;

    /// `rt_sigprocmask()`: add to the mask.
    pub const SIG_BLOCK: u32 = 0;
    /// `rt_sigprocmask()`: remove from the mask.
    pub const SIG_UNBLOCK: u32 = 1;
    /// `rt_sigprocmask()`: replace the mask.
    pub const SIG_SETMASK: u32 = 2;

    /// No SIGCHLD when a child stops.
    pub const SA_NOCLDSTOP: u64 = 0x0000_0001;
    /// No zombies for children.
    pub const SA_NOCLDWAIT: u64 = 0x0000_0002;
    /// The handler takes `siginfo_t` and a context.
    pub const SA_SIGINFO: u64 = 0x0000_0004;
    /// Set by the kernel when a flag bit is unsupported (so programs can probe; never stored).
    pub const SA_UNSUPPORTED: u64 = 0x0000_0400;
    /// Keep the tag bits of a faulting address in `si_addr`.
    pub const SA_EXPOSE_TAGBITS: u64 = 0x0000_0800;
    /// `sa_restorer` holds the return trampoline.
    pub const SA_RESTORER: u64 = 0x0400_0000;
    /// Run the handler on the alternate stack.
    pub const SA_ONSTACK: u64 = 0x0800_0000;
    /// Restart interrupted system calls.
    pub const SA_RESTART: u64 = 0x1000_0000;
    /// Do not block the signal in its own handler.
    pub const SA_NODEFER: u64 = 0x4000_0000;
    /// Reset the disposition to SIG_DFL on delivery.
    pub const SA_RESETHAND: u64 = 0x8000_0000;
    /// The flags Linux stores (`UAPI_SA_FLAGS` plus arm64's SA_RESTORER); other bits are dropped.
    pub const SA_KNOWN_FLAGS: u64 = SA_NOCLDSTOP
        | SA_NOCLDWAIT
        | SA_SIGINFO
        | SA_ONSTACK
        | SA_RESTART
        | SA_NODEFER
        | SA_RESETHAND
        | SA_EXPOSE_TAGBITS
        | SA_RESTORER;

    /// `stack_t.ss_flags`: the thread runs on the alternate stack.
    pub const SS_ONSTACK: i32 = 1;
    /// `stack_t.ss_flags`: no alternate stack.
    pub const SS_DISABLE: i32 = 2;
    /// `stack_t.ss_flags` modifier: disarm the stack while a handler runs on it.
    pub const SS_AUTODISARM: i32 = 1 << 31;
    /// The smallest alternate stack arm64 accepts (`MINSIGSTKSZ`).
    pub const MINSIGSTKSZ: u64 = 5120;
}

/// File-descriptor values: `open()`/`fcntl()` flags and commands (`include/uapi/asm-generic/fcntl.h` with arm64's
/// `asm/fcntl.h`), `*at()` flags, and mode bits (`include/uapi/linux/stat.h`).
pub mod file {
    /// Open for reading only.
    pub const O_RDONLY: u32 = 0o0;
    /// Open for writing only.
    pub const O_WRONLY: u32 = 0o1;
    /// Open for reading and writing.
    pub const O_RDWR: u32 = 0o2;
    /// The access-mode bits.
    pub const O_ACCMODE: u32 = 0o3;
    /// Writes append.
    pub const O_APPEND: u32 = 0o2000;
    /// Non-blocking I/O.
    pub const O_NONBLOCK: u32 = 0o4000;
    /// Signal-driven I/O.
    pub const O_ASYNC: u32 = 0o20000;
    /// arm64: direct I/O.
    pub const O_DIRECT: u32 = 0o200000;
    /// arm64: large files (always set by a 64-bit kernel's open).
    pub const O_LARGEFILE: u32 = 0o400000;
    /// Do not update the access time.
    pub const O_NOATIME: u32 = 0o1000000;
    /// Close on exec.
    pub const O_CLOEXEC: u32 = 0o2000000;
    /// The status flags `F_SETFL` may change (Linux's `SETFL_MASK`).
    pub const SETFL_MASK: u32 = O_APPEND | O_NONBLOCK | O_ASYNC | O_DIRECT | O_NOATIME;

    /// `fcntl()`: duplicate to the lowest free descriptor >= the argument.
    pub const F_DUPFD: u32 = 0;
    /// `fcntl()`: the descriptor flags.
    pub const F_GETFD: u32 = 1;
    /// `fcntl()`: set the descriptor flags.
    pub const F_SETFD: u32 = 2;
    /// `fcntl()`: the file status flags.
    pub const F_GETFL: u32 = 3;
    /// `fcntl()`: set the file status flags.
    pub const F_SETFL: u32 = 4;
    /// `fcntl()`: F_DUPFD with close-on-exec set.
    pub const F_DUPFD_CLOEXEC: u32 = 1030;
    /// The descriptor flag: close on exec.
    pub const FD_CLOEXEC: u32 = 1;

    /// The `dirfd` meaning "the current directory".
    pub const AT_FDCWD: i32 = -100;
    /// Do not follow a final symbolic link.
    pub const AT_SYMLINK_NOFOLLOW: u32 = 0x100;
    /// `faccessat()`: check with the effective ids.
    pub const AT_EACCESS: u32 = 0x200;
    /// Do not automount the final component.
    pub const AT_NO_AUTOMOUNT: u32 = 0x800;
    /// An empty path means `dirfd` itself.
    pub const AT_EMPTY_PATH: u32 = 0x1000;

    /// `st_mode`: the file-type bits.
    pub const S_IFMT: u32 = 0o170000;
    /// `st_mode`: a character device.
    pub const S_IFCHR: u32 = 0o020000;

    /// `read`/`readv`/`writev`: the most buffers one call takes (`IOV_MAX`).
    pub const IOV_MAX: u64 = 1024;
}

/// Terminal `ioctl()` requests (`include/uapi/asm-generic/ioctls.h`) and `struct termios` bits
/// (`termbits.h`).
pub mod tty {
    /// Get the terminal attributes (`struct termios`).
    pub const TCGETS: u32 = 0x5401;
    /// Set the terminal attributes now.
    pub const TCSETS: u32 = 0x5402;
    /// Set them after output drained.
    pub const TCSETSW: u32 = 0x5403;
    /// Set them after output drained, discarding input.
    pub const TCSETSF: u32 = 0x5404;
    /// Get the window size (`struct winsize`).
    pub const TIOCGWINSZ: u32 = 0x5413;
    /// Set the window size.
    pub const TIOCSWINSZ: u32 = 0x5414;

    /// `c_iflag`: translate CR to NL on input.
    pub const ICRNL: u32 = 0o400;
    /// `c_iflag`: XON/XOFF flow control on output.
    pub const IXON: u32 = 0o2000;
    /// `c_oflag`: post-process output.
    pub const OPOST: u32 = 0o1;
    /// `c_oflag`: NL to CR-NL on output.
    pub const ONLCR: u32 = 0o4;
    /// `c_cflag`: 115200 baud.
    pub const B115200: u32 = 0o10002;
    /// `c_cflag`: 8 data bits.
    pub const CS8: u32 = 0o60;
    /// `c_cflag`: receiver enabled.
    pub const CREAD: u32 = 0o200;
    /// `c_cflag`: hang up on last close.
    pub const HUPCL: u32 = 0o2000;
    /// `c_cflag`: ignore modem control lines.
    pub const CLOCAL: u32 = 0o4000;
    /// `c_lflag`: generate signals for INTR, QUIT, SUSP.
    pub const ISIG: u32 = 0o1;
    /// `c_lflag`: canonical (line) mode.
    pub const ICANON: u32 = 0o2;
    /// `c_lflag`: echo input.
    pub const ECHO: u32 = 0o10;
    /// `c_lflag`: ERASE erases the previous character.
    pub const ECHOE: u32 = 0o20;
    /// `c_lflag`: KILL erases the line.
    pub const ECHOK: u32 = 0o40;
    /// `c_lflag`: echo control characters as ^X.
    pub const ECHOCTL: u32 = 0o1000;
    /// `c_lflag`: KILL erases each character of the line.
    pub const ECHOKE: u32 = 0o4000;
    /// `c_lflag`: extended input processing.
    pub const IEXTEN: u32 = 0o100000;
    /// Linux's initial control characters (`INIT_C_CC`): ^C ^\ DEL ^U ^D, TIME 0, MIN 1, ...
    pub const INIT_C_CC: [u8; 19] = *b"\x03\x1c\x7f\x15\x04\x00\x01\x00\x11\x13\x1a\x00\x12\x0f\x17\x16\x00\x00\x00";
}

/// `poll()` event bits (`include/uapi/asm-generic/poll.h`).
pub mod poll {
    /// Data to read.
    pub const POLLIN: i16 = 0x001;
    /// Urgent data to read.
    pub const POLLPRI: i16 = 0x002;
    /// Writing will not block.
    pub const POLLOUT: i16 = 0x004;
    /// Error condition (always reported).
    pub const POLLERR: i16 = 0x008;
    /// Hang up (always reported).
    pub const POLLHUP: i16 = 0x010;
    /// The descriptor is not open (always reported).
    pub const POLLNVAL: i16 = 0x020;
    /// Normal data to read.
    pub const POLLRDNORM: i16 = 0x040;
    /// Normal data may be written.
    pub const POLLWRNORM: i16 = 0x100;
}

/// `getrandom()` flags (`include/uapi/linux/random.h`).
pub mod random {
    /// Do not block when the pool is not initialized.
    pub const GRND_NONBLOCK: u32 = 0x1;
    /// Historical: draw from the blocking pool (the same generator since Linux 5.6).
    pub const GRND_RANDOM: u32 = 0x2;
    /// Return possibly uninitialized randomness without blocking (not with GRND_RANDOM).
    pub const GRND_INSECURE: u32 = 0x4;
}

/// `getrusage()` targets (`include/uapi/linux/resource.h`).
pub mod rusage {
    /// The calling process.
    pub const RUSAGE_SELF: i32 = 0;
    /// Its terminated, waited-for children.
    pub const RUSAGE_CHILDREN: i32 = -1;
    /// The calling thread.
    pub const RUSAGE_THREAD: i32 = 1;
}
