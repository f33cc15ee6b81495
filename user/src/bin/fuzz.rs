//! System-call fuzzer: `fuzz [SEED [CALLS [trace]]]` makes CALLS (default 100,000) random system calls from
//! four threads at once, each with its own stream derived from SEED (default: from the clock; printed either
//! way), over every call the kernel's dispatcher handles, the memory calls being added (mmap, munmap,
//! mprotect, brk, futex), and numbers it does not handle, which must give ENOSYS. Arguments are adversarial:
//! kernel addresses (unmapped and mapped ones of the linear map), unmapped and non-canonical user addresses,
//! the program's own read-only code, huge and negative lengths, random flags, random `clone` flags.
//!
//! What it checks itself: every call returns (each thread prints its count), every error is a real errno
//! (-4095..-1), unknown numbers give ENOSYS, a call given a bad pointer where it must use one fails, and every
//! thread a successful `clone` created ran. The kernel's test (`fuzz_leaves_the_kernel_intact`) checks that the
//! kernel survives and that page frames and heap come back. `trace` prints every call before making it.
//!
//! The fuzzer must not end or block itself, so it never makes the calls whose success would: exit and
//! exit_group, signals to itself (kill/tkill/tgkill send real signals only to ids that cannot exist), sleeps
//! and waits longer than about a millisecond (every timeout it passes is at most 1 ms or invalid, never
//! NULL where NULL waits forever), closing descriptors 0-2, changing the shared console settings (TCSETS gets
//! only the settings it read), and memory calls on its own image (munmap, mprotect and MAP_FIXED only in
//! [`MAP_WINDOW`]). Whatever the kernel writes goes to a per-thread scratch area: a writable pointer the
//! fuzzer passes always points into it with a length that fits.
#![no_std]
#![no_main]

use abi::syscalls as nr;
use abi::Errno;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use ulib::{println, sys, ThreadStack};

/// Fuzzing threads (each with its own stream).
const THREADS: usize = 4;
/// Per-thread scratch: every writable pointer the fuzzer passes points into its thread's.
const SCRATCH_BYTES: usize = 16 * 1024;
/// The start of each scratch area where only timeouts go, so that building later arguments cannot overwrite
/// one.
const TIMEOUT_SLOT_BYTES: u64 = 64;
/// Threads a fuzzing thread may create with a `clone` that can succeed; after that its thread-creating
/// clones get a NULL or misaligned stack, which fails.
const CLONE_BUDGET: u32 = 48;
/// Threads created by clone run on one of these (or on a bad stack they never touch).
const CHILD_STACKS: usize = 8;
/// The longest sleep or timeout the fuzzer asks for.
const MAX_SLEEP_NS: u64 = 1_000_000;
/// Where memory calls that could replace or remove mappings may point: 1 GiB at 256 GiB, far from the
/// program (at 2 MiB) and its stack (under 512 GiB).
const MAP_WINDOW: u64 = 0x40_0000_0000;
const MAP_WINDOW_BYTES: u64 = 1 << 30;
/// The kernel's half: TTBR1 with 39-bit addresses.
const KERNEL_BASE: u64 = 0xFFFF_FF80_0000_0000;
/// The linear map of RAM (QEMU virt's RAM at 1 GiB): mapped kernel memory EL0 must never reach.
const KERNEL_LINEAR_RAM: u64 = KERNEL_BASE + 0x4000_0000;
/// TTBR0 covers 39 bits: user addresses from here up to 2^48 are canonical but never mapped.
const USER_VA_END: u64 = 1 << 39;
/// The most problems printed (all are counted).
const MAX_REPORTS: usize = 20;

/// The system calls the kernel's dispatcher (kernel/src/syscalls/mod.rs) handles, minus exit and exit_group.
const IMPLEMENTED: &[usize] = &[
    nr::WRITE,
    nr::WRITEV,
    nr::READ,
    nr::READV,
    nr::CLOSE,
    nr::DUP,
    nr::DUP3,
    nr::FCNTL,
    nr::IOCTL,
    nr::FSTAT,
    nr::NEWFSTATAT,
    nr::OPENAT,
    nr::READLINKAT,
    nr::FACCESSAT,
    nr::FACCESSAT2,
    nr::PPOLL,
    nr::PSELECT6,
    nr::SET_TID_ADDRESS,
    nr::SET_ROBUST_LIST,
    nr::GET_ROBUST_LIST,
    nr::UNAME,
    nr::GETPPID,
    nr::GETUID,
    nr::GETEUID,
    nr::GETGID,
    nr::GETEGID,
    nr::GETGROUPS,
    nr::SYSINFO,
    nr::GETRANDOM,
    nr::PRLIMIT64,
    nr::GETRLIMIT,
    nr::SETRLIMIT,
    nr::GETRUSAGE,
    nr::TIMES,
    nr::RT_SIGACTION,
    nr::RT_SIGPROCMASK,
    nr::RT_SIGPENDING,
    nr::SIGALTSTACK,
    nr::KILL,
    nr::TGKILL,
    nr::TKILL,
    nr::NANOSLEEP,
    nr::CLOCK_NANOSLEEP,
    nr::CLOCK_GETTIME,
    nr::CLOCK_GETRES,
    nr::GETTIMEOFDAY,
    nr::SCHED_SETAFFINITY,
    nr::SCHED_GETAFFINITY,
    nr::SCHED_YIELD,
    nr::GETCPU,
    nr::GETPID,
    nr::GETTID,
    nr::CLONE,
    nr::MEMBARRIER,
    nr::RSEQ,
    nr::SCHED_GETSCHEDULER,
    nr::SCHED_GETPARAM,
    nr::SCHED_GET_PRIORITY_MAX,
    nr::SCHED_GET_PRIORITY_MIN,
    nr::GETPRIORITY,
    nr::SETPRIORITY,
];

/// Calls being added (ENOSYS until they are): fuzzed with their own argument shapes, any result accepted.
const BEING_ADDED: &[usize] = &[nr::MMAP, nr::MUNMAP, nr::MPROTECT, nr::BRK, nr::FUTEX];

/// Unimplemented calls the ENOSYS check leaves out because, once implemented, random arguments would end,
/// block or corrupt the fuzzer (or change state later tests see): signal returns and sends, timers that
/// signal, blocking waits and receives, exec, seccomp/prctl/ptrace, remapping calls, writes into its own
/// memory, clock and host name setters. Whoever implements one of the others gets a clear report here.
const LEFT_OUT_OF_ENOSYS_CHECK: &[usize] = &[
    nr::EXIT,
    nr::EXIT_GROUP,
    nr::RT_SIGRETURN,
    nr::RT_SIGSUSPEND,
    nr::RT_SIGTIMEDWAIT,
    nr::RT_SIGQUEUEINFO,
    nr::RT_TGSIGQUEUEINFO,
    nr::PIDFD_SEND_SIGNAL,
    nr::RESTART_SYSCALL,
    nr::SETITIMER,
    nr::TIMER_CREATE,
    nr::TIMER_SETTIME,
    nr::MQ_NOTIFY,
    nr::PERF_EVENT_OPEN,
    nr::EXECVE,
    nr::EXECVEAT,
    nr::CLONE3,
    nr::SECCOMP,
    nr::PRCTL,
    nr::PTRACE,
    nr::REBOOT,
    nr::KEXEC_LOAD,
    nr::KEXEC_FILE_LOAD,
    nr::INIT_MODULE,
    nr::FINIT_MODULE,
    nr::DELETE_MODULE,
    nr::MREMAP,
    nr::MADVISE,
    nr::MINCORE,
    nr::PROCESS_MADVISE,
    nr::REMAP_FILE_PAGES,
    nr::USERFAULTFD,
    nr::PROCESS_VM_READV,
    nr::PROCESS_VM_WRITEV,
    nr::CLOSE_RANGE,
    nr::EPOLL_PWAIT,
    nr::EPOLL_PWAIT2,
    nr::FUTEX_WAITV,
    nr::FUTEX_WAKE,
    nr::FUTEX_WAIT,
    nr::FUTEX_REQUEUE,
    nr::MSGRCV,
    nr::MSGSND,
    nr::SEMOP,
    nr::SEMTIMEDOP,
    nr::MQ_TIMEDSEND,
    nr::MQ_TIMEDRECEIVE,
    nr::ACCEPT,
    nr::ACCEPT4,
    nr::CONNECT,
    nr::RECVFROM,
    nr::RECVMSG,
    nr::RECVMMSG,
    nr::SENDTO,
    nr::SENDMSG,
    nr::SENDMMSG,
    nr::SPLICE,
    nr::TEE,
    nr::VMSPLICE,
    nr::SENDFILE,
    nr::IO_URING_SETUP,
    nr::IO_URING_ENTER,
    nr::IO_URING_REGISTER,
    nr::CLOCK_SETTIME,
    nr::SETTIMEOFDAY,
    nr::ADJTIMEX,
    nr::CLOCK_ADJTIME,
    nr::SETHOSTNAME,
    nr::SETDOMAINNAME,
];

/// A thread's scratch memory, written by the kernel at will.
#[repr(C, align(4096))]
struct Scratch([u8; SCRATCH_BYTES]);

static mut SCRATCH: [Scratch; THREADS] = [const { Scratch([0; SCRATCH_BYTES]) }; THREADS];
static mut STACKS: [ThreadStack; THREADS] = [const { ThreadStack([0; 16384]) }; THREADS];
/// Stacks for the threads the fuzzed clones create (shared: those threads exit at once and never use them).
static mut CHILD_STACK_AREA: [ThreadStack; CHILD_STACKS] = [const { ThreadStack([0; 16384]) }; CHILD_STACKS];

/// The console settings read at the start: the only ones TCSETS may set.
static mut SAVED_TERMIOS: [u8; 64] = [0; 64];
static mut SAVED_WINDOW: [u8; 8] = [0; 8];

static SEED: AtomicU64 = AtomicU64::new(0);
static CALLS_PER_THREAD: AtomicU64 = AtomicU64::new(0);
static TRACE: AtomicBool = AtomicBool::new(false);
static FINISHED: AtomicUsize = AtomicUsize::new(0);
static PROBLEMS: AtomicUsize = AtomicUsize::new(0);
static CLONES_SUCCEEDED: AtomicU64 = AtomicU64::new(0);
/// Incremented by each thread a fuzzed clone created, in assembly, before it exits.
static CHILDREN_RAN: AtomicU64 = AtomicU64::new(0);
static TOTAL_SUCCEEDED: AtomicU64 = AtomicU64::new(0);
static TOTAL_ENOSYS: AtomicU64 = AtomicU64::new(0);
static PID: AtomicU64 = AtomicU64::new(0);

/// SplitMix64: small, fast and good enough to drive choices; a stream is fully given by its seed.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut value = self.0;
        value = (value ^ (value >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        value = (value ^ (value >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        value ^ (value >> 31)
    }

    /// Uniform in 0..bound (bound > 0).
    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    fn one_in(&mut self, odds: u64) -> bool {
        self.below(odds) == 0
    }

    fn pick<T: Copy>(&mut self, choices: &[T]) -> T {
        choices[self.below(choices.len() as u64) as usize]
    }
}

/// What a pointer argument points at.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pointer {
    Null,
    /// The thread's scratch area.
    Scratch,
    /// The program's own code: readable, not writable.
    ReadOnly,
    /// Kernel memory, mapped (the linear map) or not; user addresses past TTBR0's range; non-canonical ones;
    /// the unmapped first page; ranges that wrap around.
    Bad,
}

impl Pointer {
    /// Where a call that must write through the pointer has to fail.
    fn unwritable(self) -> bool {
        matches!(self, Pointer::ReadOnly | Pointer::Bad)
    }

    /// Where a call that must read through the pointer has to fail.
    fn unreadable(self) -> bool {
        self == Pointer::Bad
    }
}

/// What the result of a call must be.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Any result or real errno.
    Anything,
    /// An error: the call got a bad pointer it has to use.
    Failure,
    /// ENOSYS: a number the kernel does not handle.
    Enosys,
}

/// One fuzzing thread's state.
struct Fuzzer {
    random: Random,
    thread: usize,
    scratch: u64,
    /// The thread's id.
    tid: u64,
    clone_budget: u32,
    /// Mappings a successful mmap returned (address, length), for munmap and mprotect to hit.
    mappings: [(u64, u64); 8],
    succeeded: u64,
    enosys: u64,
}

/// Any code address: the code page the fuzzer's pointers into read-only memory use.
fn code_page() -> u64 {
    (fuzz_thread as *const () as u64) & !0xfff
}

impl Fuzzer {
    fn new(thread: usize, seed: u64) -> Self {
        let mut seeder = Random(seed ^ (thread as u64).wrapping_mul(0xD1B5_4A32_D192_ED03));
        seeder.next();
        // SAFETY: only the address of this thread's scratch area is taken; nothing is borrowed.
        let scratch = unsafe { core::ptr::addr_of_mut!(SCRATCH[thread]) } as u64;
        Self {
            random: Random(seeder.next()),
            thread,
            scratch,
            tid: sys::gettid() as u64,
            clone_budget: CLONE_BUDGET,
            mappings: [(0, 0); 8],
            succeeded: 0,
            enosys: 0,
        }
    }

    /// Writes `bytes` into the scratch area at `offset`.
    fn put(&self, offset: u64, bytes: &[u8]) {
        assert!(offset as usize + bytes.len() <= SCRATCH_BYTES);
        // SAFETY: in bounds of this thread's scratch area, which only this thread and the kernel (during this
        // thread's calls) write; a raw copy, no reference to it exists.
        unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), (self.scratch + offset) as *mut u8, bytes.len()) }
    }

    /// Fills `length` scratch bytes at `offset` with random ones.
    fn randomize(&mut self, offset: u64, length: u64) {
        let mut at = offset;
        while at < offset + length {
            let word = self.random.next().to_le_bytes();
            let count = (offset + length - at).min(8);
            self.put(at, &word[..count as usize]);
            at += count;
        }
    }

    /// A "number": small values, boundaries, negatives, single bits and random bits.
    fn integer(&mut self) -> u64 {
        let random = &mut self.random;
        match random.below(10) {
            0 => random.below(8),
            1 => random.below(4096),
            2 => (-(random.below(4) as i64 + 1)) as u64,
            3 => random.pick(&[i32::MAX as u64, i32::MIN as i64 as u64, u32::MAX as u64, i64::MAX as u64, 1 << 63]),
            4 => u64::MAX - random.below(16),
            5 => 1 << random.below(64),
            6 => (random.next() as u32) as u64,
            7 => (random.next() as i32) as i64 as u64,
            _ => random.next(),
        }
    }

    /// A descriptor: mostly the console's, sometimes one dup made, sometimes nonsense.
    fn fd(&mut self) -> u64 {
        match self.random.below(6) {
            0..=2 => self.random.below(4),
            3 => self.random.below(64),
            4 => (-100i64) as u64, // AT_FDCWD
            _ => self.integer(),
        }
    }

    /// Flag words: none, one bit, a few, random.
    fn flags(&mut self) -> u64 {
        match self.random.below(5) {
            0 => 0,
            1 => 1 << self.random.below(32),
            2 => self.random.next() & self.random.next() & 0xffff_ffff,
            3 => self.random.next() & 0xffff_ffff,
            _ => self.random.next(),
        }
    }

    /// A pointer that is not the scratch area: one of the bad kinds, or the read-only code.
    fn bad_pointer(&mut self, read_only_allowed: bool) -> (u64, Pointer) {
        let random = &mut self.random;
        let address = match random.below(9) {
            0 if read_only_allowed => return (code_page() + random.below(4096), Pointer::ReadOnly),
            0 | 1 => KERNEL_BASE + (random.next() & ((1 << 39) - 1)),
            2 => KERNEL_LINEAR_RAM + (random.next() & ((1 << 30) - 1)),
            3 => USER_VA_END + (random.next() & ((1 << 47) - 1) & !((1 << 39) - 1)),
            4 => random.below(4096).max(1),
            5 => (1 << 48) | (random.next() & ((1 << 63) - 1)),
            6 => u64::MAX - random.below(64),
            7 => USER_VA_END - random.below(16),
            _ => KERNEL_BASE - random.below(4096),
        };
        (address, Pointer::Bad)
    }

    /// A pointer the kernel may write `size` bytes through: the scratch area, or a bad or NULL pointer.
    fn output(&mut self, size: u64) -> (u64, Pointer) {
        match self.random.below(8) {
            0 => (0, Pointer::Null),
            1..=3 => self.bad_pointer(true),
            _ => (self.scratch_at(size), Pointer::Scratch),
        }
    }

    /// A pointer the kernel reads `size` bytes from: random scratch contents, the code, or a bad pointer.
    fn input(&mut self, size: u64) -> (u64, Pointer) {
        match self.random.below(8) {
            0 => (0, Pointer::Null),
            1..=3 => self.bad_pointer(true),
            _ => {
                let address = self.scratch_at(size);
                self.randomize(address - self.scratch, size);
                (address, Pointer::Scratch)
            }
        }
    }

    /// A scratch address with `size` bytes of room after it, sometimes misaligned, past the timeout slot.
    fn scratch_at(&mut self, size: u64) -> u64 {
        let room = SCRATCH_BYTES as u64 - TIMEOUT_SLOT_BYTES - size.min(SCRATCH_BYTES as u64 - TIMEOUT_SLOT_BYTES);
        let mut offset = TIMEOUT_SLOT_BYTES + self.random.below(room + 1);
        if !self.random.one_in(4) {
            offset &= !7;
        }
        self.scratch + offset
    }

    /// A (buffer, length) the kernel may write: scratch with a length that fits, or a bad pointer with any
    /// length, huge ones included.
    fn output_buffer(&mut self) -> (u64, u64, Pointer) {
        if self.random.one_in(2) {
            let length = match self.random.below(3) {
                0 => self.random.below(16),
                1 => self.random.below(512),
                _ => self.random.below(SCRATCH_BYTES as u64 - TIMEOUT_SLOT_BYTES + 1),
            };
            (self.scratch_at(length), length, Pointer::Scratch)
        } else {
            let (address, kind) = if self.random.one_in(8) { (0, Pointer::Null) } else { self.bad_pointer(true) };
            let length = if self.random.one_in(2) { self.integer() } else { self.random.below(4096) };
            (address, length, kind)
        }
    }

    /// A (buffer, length) the kernel reads and prints (write, writev): only bad pointers get a length, so
    /// that the console shows no fuzz.
    fn printed_buffer(&mut self) -> (u64, u64, Pointer) {
        if self.random.one_in(4) {
            (self.scratch_at(0), 0, Pointer::Scratch)
        } else {
            let (address, kind) = if self.random.one_in(8) { (0, Pointer::Null) } else { self.bad_pointer(false) };
            (address, self.integer().max(1), kind)
        }
    }

    /// A pointer to a timeout or sleep request of at most [`MAX_SLEEP_NS`] (mostly 0), an invalid one, or a
    /// bad pointer; never the code (its bytes would be a sleep of years) and never NULL.
    fn timeout(&mut self) -> (u64, Pointer) {
        if self.random.one_in(4) {
            return self.bad_pointer(false);
        }
        let (seconds, nanoseconds): (i64, i64) = match self.random.below(8) {
            0..=3 => (0, 0),
            4 | 5 => (0, self.random.below(MAX_SLEEP_NS) as i64),
            6 => (0, self.random.pick(&[1_000_000_000, i64::MAX, -1])),
            _ => (self.random.pick(&[-1, i64::MIN]), 0),
        };
        // In its own slot: built before the other arguments, it must survive their building (a pollfd written
        // over its tv_sec made a sleep of years).
        let address = self.scratch + 8 * self.random.below(TIMEOUT_SLOT_BYTES / 8 - 1);
        self.put(address - self.scratch, &seconds.to_le_bytes());
        self.put(address - self.scratch + 8, &nanoseconds.to_le_bytes());
        (address, Pointer::Scratch)
    }

    /// A C string: a path that exists nowhere, an empty one, random bytes, or a bad pointer.
    fn path(&mut self) -> u64 {
        match self.random.below(6) {
            0 => self.bad_pointer(true).0,
            1 => 0,
            2 => {
                let address = self.scratch_at(1);
                self.put(address - self.scratch, &[0]);
                address
            }
            3 => {
                let length = self.random.below(4096);
                let address = self.scratch_at(length + 1);
                self.randomize(address - self.scratch, length);
                self.put(address - self.scratch + length, &[0]);
                address
            }
            _ => {
                let path: &[u8] = self.random.pick(&[&b"/\0"[..], b"/dev/null\0", b"/proc/self/exe\0", b".\0"]);
                let address = self.scratch_at(path.len() as u64);
                self.put(address - self.scratch, path);
                address
            }
        }
    }

    /// A signal for kill/tkill/tgkill: 0 (only checks the target), or a real one with a target id that
    /// cannot exist (`id` is then replaced).
    fn signal_and_target(&mut self, id: &mut u64) {
        if self.random.one_in(3) {
            *id = 0x3fff_0000 + self.random.below(0xffff);
            if self.random.one_in(4) {
                *id = (-(*id as i64)) as u64;
            }
        }
    }

    /// An address range for munmap/mprotect: inside the window or a recorded mapping, or bad.
    fn range_to_change(&mut self) -> (u64, u64) {
        match self.random.below(4) {
            0 => {
                let (address, length) = self.mappings[self.random.below(8) as usize];
                (address, length)
            }
            1 => (self.bad_pointer(false).0, self.integer()),
            _ => {
                let offset = self.random.below(MAP_WINDOW_BYTES / 4096) * 4096;
                let length =
                    (self.random.below(64) * 4096 + self.random.pick(&[0, 0, 1, 4095])).min(MAP_WINDOW_BYTES - offset);
                (MAP_WINDOW + offset + self.random.pick(&[0, 0, 0, 1, 8]), length)
            }
        }
    }

    /// The number of the next call and what its result must be.
    fn number(&mut self) -> (usize, Expect) {
        match self.random.below(20) {
            0..=16 => {
                let all = IMPLEMENTED.len() + BEING_ADDED.len();
                let index = self.random.below(all as u64) as usize;
                let number =
                    if index < IMPLEMENTED.len() { IMPLEMENTED[index] } else { BEING_ADDED[index - IMPLEMENTED.len()] };
                (number, Expect::Anything)
            }
            17 | 18 => loop {
                let number = self.random.pick(nr::ALL);
                let known = IMPLEMENTED.contains(&number) || BEING_ADDED.contains(&number);
                if !known && !LEFT_OUT_OF_ENOSYS_CHECK.contains(&number) {
                    break (number, Expect::Enosys);
                }
            },
            _ => loop {
                let number = match self.random.below(3) {
                    0 => self.random.below(1024) as usize,
                    1 => nr::COUNT + self.random.below(1 << 16) as usize,
                    _ => self.random.next() as usize,
                };
                if nr::name(number).is_none() {
                    break (number, Expect::Enosys);
                }
            },
        }
    }

    /// Arguments for `number`: the shape of each call's arguments, every one chosen adversarially.
    fn arguments(&mut self, number: usize) -> ([u64; 6], Expect) {
        let mut arguments = [0u64; 6];
        let mut expect = Expect::Anything;
        match number {
            nr::WRITE => {
                let (buffer, length, _) = self.printed_buffer();
                arguments[..3].copy_from_slice(&[self.fd(), buffer, length]);
            }
            nr::READ | nr::GETRANDOM => {
                let (buffer, length, kind) = self.output_buffer();
                if number == nr::READ {
                    arguments[..3].copy_from_slice(&[self.fd(), buffer, length]);
                } else {
                    let flags = if self.random.one_in(2) { self.random.below(8) } else { self.flags() };
                    arguments[..3].copy_from_slice(&[buffer, length, flags]);
                    if length > 0 && kind != Pointer::Scratch {
                        expect = Expect::Failure;
                    }
                }
            }
            nr::WRITEV | nr::READV => {
                // An array of up to 8 iovecs in scratch: for writev bad buffers or empty ones, for readv
                // scratch buffers that fit or bad ones.
                let count = self.random.below(9);
                let array = self.scratch_at(count * 16) & !7;
                for index in 0..count {
                    let (base, length, _) =
                        if number == nr::WRITEV { self.printed_buffer() } else { self.output_buffer() };
                    self.put(array - self.scratch + index * 16, &base.to_le_bytes());
                    self.put(array - self.scratch + index * 16 + 8, &length.to_le_bytes());
                }
                // Or a bad array, or more than IOV_MAX (1024) entries; never entries past the ones built here,
                // which could point at bytes writev would print.
                let (vectors, count) = match self.random.below(4) {
                    0 => (self.bad_pointer(true).0, self.integer()),
                    1 => (array, 1025 + self.random.below(1 << 20)),
                    _ => (array, count),
                };
                arguments[..3].copy_from_slice(&[self.fd(), vectors, count]);
            }
            nr::CLOSE => {
                // Never the console's 0-2: the fuzzer prints its report there.
                let fd = self.fd();
                arguments[0] = if fd < 3 { fd + 3 } else { fd };
            }
            nr::DUP => arguments[0] = self.fd(),
            nr::DUP3 => {
                let flags = if self.random.one_in(2) { self.random.pick(&[0, 0o2000000]) } else { self.flags() };
                arguments[..3].copy_from_slice(&[self.fd(), self.fd(), flags]);
            }
            nr::FCNTL => {
                let command = if self.random.one_in(4) { self.integer() } else { self.random.below(20) };
                let argument = if self.random.one_in(2) { self.random.below(8) } else { self.integer() };
                arguments[..3].copy_from_slice(&[self.fd(), command, argument]);
            }
            nr::IOCTL => self.ioctl(&mut arguments),
            nr::FSTAT => {
                let (stat, kind) = self.output(128);
                arguments[..2].copy_from_slice(&[self.fd(), stat]);
                must_write(kind, &mut expect);
            }
            nr::NEWFSTATAT => {
                let (stat, _) = self.output(128);
                let flags =
                    if self.random.one_in(2) { self.random.pick(&[0, 0x1000, 0x100, 0x800]) } else { self.flags() };
                arguments[..4].copy_from_slice(&[self.fd(), self.path(), stat, flags]);
            }
            nr::OPENAT => {
                arguments[..4].copy_from_slice(&[self.fd(), self.path(), self.flags(), self.integer()]);
            }
            nr::READLINKAT => {
                let (buffer, length, _) = self.output_buffer();
                arguments[..4].copy_from_slice(&[self.fd(), self.path(), buffer, length]);
            }
            nr::FACCESSAT | nr::FACCESSAT2 => {
                let mode = if self.random.one_in(2) { self.random.below(8) } else { self.integer() };
                arguments[..4].copy_from_slice(&[self.fd(), self.path(), mode, self.flags()]);
            }
            nr::PPOLL => self.ppoll(&mut arguments),
            nr::PSELECT6 => self.pselect6(&mut arguments),
            nr::SET_TID_ADDRESS => arguments[0] = self.output(4).0,
            nr::SET_ROBUST_LIST => {
                let length = if self.random.one_in(2) { 24 } else { self.integer() };
                arguments[..2].copy_from_slice(&[self.output(24).0, length]);
            }
            nr::GET_ROBUST_LIST => {
                let (head, head_kind) = self.output(8);
                let (length, length_kind) = self.output(8);
                arguments[..3].copy_from_slice(&[self.thread_id(), head, length]);
                must_write(head_kind, &mut expect);
                must_write(length_kind, &mut expect);
            }
            nr::UNAME | nr::SYSINFO | nr::TIMES => {
                let (buffer, kind) = self.output(390);
                arguments[0] = buffer;
                must_write(kind, &mut expect);
            }
            nr::GETGROUPS => {
                let (buffer, length, _) = self.output_buffer();
                arguments[..2].copy_from_slice(&[length / 4, buffer]);
            }
            nr::PRLIMIT64 => {
                let pid = match self.random.below(4) {
                    0 => 0,
                    1 => PID.load(Ordering::Relaxed),
                    2 => self.integer(),
                    _ => 0x3fff_0000 + self.random.below(0xffff),
                };
                let (new, _) = self.input(16);
                let (old, _) = self.output(16);
                arguments[..4].copy_from_slice(&[pid, self.resource(), new, old]);
            }
            nr::GETRLIMIT | nr::GETRUSAGE => {
                let (buffer, kind) = self.output(144);
                let which = if number == nr::GETRLIMIT {
                    self.resource()
                } else {
                    self.random.pick(&[0, -1i64 as u64, 1, 2, 0xffff])
                };
                arguments[..2].copy_from_slice(&[which, buffer]);
                must_write(kind, &mut expect);
            }
            nr::SETRLIMIT => {
                let (limit, kind) = self.input(16);
                arguments[..2].copy_from_slice(&[self.resource(), limit]);
                if kind.unreadable() || kind == Pointer::Null {
                    expect = Expect::Failure;
                }
            }
            nr::RT_SIGACTION | nr::RT_SIGPROCMASK => {
                let (new, _) = self.input(32);
                let (old, _) = self.output(32);
                let first = if number == nr::RT_SIGACTION { self.signal() } else { self.random.below(4) };
                let size = if self.random.one_in(4) { self.integer() } else { 8 };
                arguments[..4].copy_from_slice(&[first, new, old, size]);
            }
            nr::RT_SIGPENDING => {
                let (set, kind) = self.output(8);
                let size = if self.random.one_in(4) { self.integer() } else { self.random.below(9) };
                arguments[..2].copy_from_slice(&[set, size]);
                if size > 0 {
                    must_write(kind, &mut expect);
                }
            }
            nr::SIGALTSTACK => {
                let (new, _) = self.input(24);
                let (old, _) = self.output(24);
                arguments[..2].copy_from_slice(&[new, old]);
            }
            nr::KILL | nr::TKILL => {
                let mut target = match self.random.below(3) {
                    0 => self.random.pick(&[0, -1i64 as u64, PID.load(Ordering::Relaxed)]),
                    1 => self.thread_id(),
                    _ => self.integer(),
                };
                let signal = self.signal();
                self.signal_and_target(&mut target);
                arguments[..2].copy_from_slice(&[target, if cannot_exist(target) { signal } else { 0 }]);
            }
            nr::TGKILL => {
                let mut thread = self.thread_id();
                let signal = self.signal();
                self.signal_and_target(&mut thread);
                let group = if self.random.one_in(2) { PID.load(Ordering::Relaxed) } else { self.integer() };
                arguments[..3].copy_from_slice(&[group, thread, if cannot_exist(thread) { signal } else { 0 }]);
            }
            nr::NANOSLEEP => {
                let (request, kind) = self.timeout();
                arguments[..2].copy_from_slice(&[request, self.output(16).0]);
                if kind.unreadable() {
                    expect = Expect::Failure;
                }
            }
            nr::CLOCK_NANOSLEEP => {
                let (request, _) = self.timeout();
                let flags = if self.random.one_in(2) { self.random.below(2) } else { self.flags() };
                arguments[..4].copy_from_slice(&[self.clock(), flags, request, self.output(16).0]);
            }
            nr::CLOCK_GETTIME | nr::CLOCK_GETRES => {
                let (time, kind) = self.output(16);
                arguments[..2].copy_from_slice(&[self.clock(), time]);
                if number == nr::CLOCK_GETTIME {
                    must_write(kind, &mut expect);
                }
            }
            nr::GETTIMEOFDAY => {
                let (time, time_kind) = self.output(16);
                let (zone, zone_kind) = self.output(8);
                arguments[..2].copy_from_slice(&[time, zone]);
                must_write(time_kind, &mut expect);
                must_write(zone_kind, &mut expect);
            }
            nr::SCHED_SETAFFINITY | nr::SCHED_GETAFFINITY => {
                let length = if self.random.one_in(2) { self.random.pick(&[8, 16, 4, 0, 128]) } else { self.integer() };
                let (mask, kind) = if number == nr::SCHED_SETAFFINITY { self.input(128) } else { self.output(128) };
                let length = if kind == Pointer::Scratch { length.min(128) } else { length };
                arguments[..3].copy_from_slice(&[self.thread_id(), length, mask]);
                if number == nr::SCHED_GETAFFINITY {
                    must_write(kind, &mut expect);
                }
            }
            nr::GETCPU => {
                let (cpu, cpu_kind) = self.output(4);
                let (node, node_kind) = self.output(4);
                arguments[..3].copy_from_slice(&[cpu, node, self.output(64).0]);
                must_write(cpu_kind, &mut expect);
                must_write(node_kind, &mut expect);
            }
            nr::CLONE => self.clone_arguments(&mut arguments),
            nr::MEMBARRIER => {
                let command = if self.random.one_in(4) {
                    self.integer()
                } else {
                    1 << self.random.below(11) >> self.random.below(2)
                };
                let flags = if self.random.one_in(2) { self.random.below(2) } else { self.flags() };
                let cpu = if self.random.one_in(2) { self.random.below(5) } else { self.integer() };
                arguments[..3].copy_from_slice(&[command, flags, cpu]);
            }
            nr::RSEQ => {
                // Never a registration that can succeed: the kernel would then take rseq_cs from the scratch
                // area, which the fuzzer fills with garbage, and kill it with SIGSEGV at its next preemption, as
                // Linux does. So: unknown flags or UNREGISTER (nothing is registered), a misaligned or short
                // area, or one beyond user space; each is EINVAL or EFAULT.
                let scratch = self.scratch_at(64);
                let (area, length, flags) = match self.random.below(4) {
                    0 => (scratch & !31, 32, 1 + self.random.below(1 << 20)),
                    1 => ((scratch & !31) + 1 + self.random.below(31), 32, 0),
                    2 => (scratch & !31, self.random.below(28), 0),
                    _ => (KERNEL_LINEAR_RAM + self.random.below(4096) * 32, 32, 0),
                };
                arguments[..4].copy_from_slice(&[area, length, flags, self.integer()]);
                expect = Expect::Failure;
            }
            nr::MMAP => self.mmap(&mut arguments),
            nr::MUNMAP | nr::MPROTECT => {
                let (address, length) = self.range_to_change();
                arguments[..3].copy_from_slice(&[address, length, self.random.pick(&[0, 1, 3, 5, 7, 0x10, 0x1000000])]);
            }
            nr::BRK => {
                let current = sys::syscall(nr::BRK, [0; 6]) as u64;
                arguments[0] = match self.random.below(5) {
                    0 => 0,
                    1 => current.wrapping_add(self.random.below(64 * 1024)),
                    2 => current.wrapping_sub(self.random.below(64 * 1024)),
                    3 => self.bad_pointer(false).0,
                    _ => self.integer(),
                };
            }
            nr::FUTEX => self.futex(&mut arguments),
            // Identity and yield calls take no arguments; give them garbage anyway.
            _ => {
                for argument in &mut arguments {
                    *argument = self.integer();
                }
            }
        }
        (arguments, expect)
    }

    fn resource(&mut self) -> u64 {
        if self.random.one_in(3) {
            self.integer()
        } else {
            self.random.below(17)
        }
    }

    fn signal(&mut self) -> u64 {
        if self.random.one_in(4) {
            self.integer()
        } else {
            self.random.below(66)
        }
    }

    /// A clock id: the named ones, CPU-clock encodings of random ids, nonsense.
    fn clock(&mut self) -> u64 {
        match self.random.below(4) {
            0 | 1 => self.random.below(13),
            2 => ((!(self.random.below(64) as i64) << 3) | self.random.below(8) as i64) as u64,
            _ => self.integer(),
        }
    }

    /// A thread id: 0 (the caller), a small one (some exist), the caller's, nonsense.
    fn thread_id(&mut self) -> u64 {
        match self.random.below(4) {
            0 => 0,
            1 => self.random.below(64),
            2 => self.tid,
            _ => self.integer(),
        }
    }

    fn ioctl(&mut self, arguments: &mut [u64; 6]) {
        use abi::tty::{TCGETS, TCSETS, TCSETSF, TCSETSW, TIOCGWINSZ, TIOCSWINSZ};
        let request = match self.random.below(4) {
            0 => self.integer(),
            _ => {
                u64::from(self.random.pick(&[TCGETS, TCSETS, TCSETSW, TCSETSF, TIOCGWINSZ, TIOCSWINSZ, 0x5401 + 0x20]))
            }
        };
        let setter = [TCSETS, TCSETSW, TCSETSF, TIOCSWINSZ].iter().any(|&setter| u64::from(setter) == request);
        // The console's settings are shared by every process: set only the ones read at the start.
        let argument = if setter && self.random.one_in(2) {
            if request == u64::from(TIOCSWINSZ) {
                core::ptr::addr_of!(SAVED_WINDOW) as u64
            } else {
                core::ptr::addr_of!(SAVED_TERMIOS) as u64
            }
        } else if setter {
            self.bad_pointer(false).0
        } else {
            self.output(64).0
        };
        arguments[..3].copy_from_slice(&[self.fd(), request, argument]);
    }

    fn ppoll(&mut self, arguments: &mut [u64; 6]) {
        // Up to 16 pollfds in scratch; the kernel writes every entry's revents back, so the count never runs
        // past the scratch area.
        let (timeout, _) = self.timeout();
        let (fds, count) = if self.random.one_in(4) {
            (self.bad_pointer(true).0, self.integer())
        } else {
            let count = self.random.below(17);
            let array = self.scratch_at(count * 8) & !7;
            for index in 0..count {
                let mut entry = [0u8; 8];
                entry[..4].copy_from_slice(&(self.fd() as u32).to_le_bytes());
                entry[4..6].copy_from_slice(&(self.flags() as u16).to_le_bytes());
                self.put(array - self.scratch + index * 8, &entry);
            }
            (array, count)
        };
        let sigmask = if self.random.one_in(2) { 0 } else { self.input(8).0 };
        let size = if self.random.one_in(2) { 8 } else { self.integer() };
        arguments[..5].copy_from_slice(&[fds, count, timeout, sigmask, size]);
    }

    fn pselect6(&mut self, arguments: &mut [u64; 6]) {
        // Three fd_sets of up to 4096 bits (the kernel clamps nfds to its table): 512 bytes of room each.
        let nfds = match self.random.below(3) {
            0 => self.random.below(8),
            1 => self.random.below(4097),
            _ => self.integer(),
        };
        let mut sets = [0u64; 3];
        for set in &mut sets {
            *set = match self.random.below(4) {
                0 => 0,
                1 => self.bad_pointer(true).0,
                _ => {
                    let address = self.scratch_at(512) & !7;
                    self.randomize(address - self.scratch, 512);
                    address
                }
            };
        }
        let (timeout, _) = self.timeout();
        let sigmask = match self.random.below(3) {
            0 => 0,
            1 => self.bad_pointer(true).0,
            _ => {
                let address = self.scratch_at(16) & !7;
                let (mask, _) = self.input(8);
                let size = if self.random.one_in(2) { 8 } else { self.integer() };
                self.put(address - self.scratch, &mask.to_le_bytes());
                self.put(address - self.scratch + 8, &size.to_le_bytes());
                address
            }
        };
        arguments.copy_from_slice(&[nfds, sets[0], sets[1], sets[2], timeout, sigmask]);
    }

    /// clone: flags that can create a thread (the required set plus optional ones) or random ones; stacks
    /// real, NULL, misaligned or bad. The thread-creating ones are limited by the budget, after which they get
    /// a stack that fails.
    fn clone_arguments(&mut self, arguments: &mut [u64; 6]) {
        use abi::clone::{CLONE_CHILD_CLEARTID, CLONE_PARENT_SETTID, CLONE_SETTLS, THREAD_FLAGS};
        let optional = [CLONE_SETTLS, CLONE_PARENT_SETTID, CLONE_CHILD_CLEARTID];
        let flags = match self.random.below(4) {
            0 | 1 => {
                let mut flags = THREAD_FLAGS;
                for flag in optional {
                    if self.random.one_in(2) {
                        flags |= flag;
                    }
                }
                if self.random.one_in(3) {
                    flags |= 1 << self.random.below(64);
                }
                flags
            }
            // A fork or vfork (exit signal SIGCHLD): the child, if one runs, exits at once like a thread.
            2 => self.random.pick(&[17, 0x4111, 0x100 | 17]) | self.flags() & 0xff00,
            _ => self.flags(),
        };
        let mut stack = match self.random.below(6) {
            0 | 1 => {
                // Only the address: the child threads never touch the stacks.
                let area = core::ptr::addr_of_mut!(CHILD_STACK_AREA) as u64;
                area + (self.random.below(CHILD_STACKS as u64) + 1) * 16384
            }
            2 => 0,
            3 => self.scratch + 8 * self.random.below(SCRATCH_BYTES as u64 / 8),
            _ => self.bad_pointer(true).0,
        };
        let could_create = flags & THREAD_FLAGS == THREAD_FLAGS || flags & abi::clone::CLONE_VM == 0;
        if could_create && stack != 0 && stack % 16 == 0 {
            if self.clone_budget == 0 {
                stack = if self.random.one_in(2) { 0 } else { stack | 8 };
            } else {
                self.clone_budget -= 1;
            }
        }
        arguments[..5].copy_from_slice(&[flags, stack, self.output(4).0, self.integer(), self.output(4).0]);
    }

    fn mmap(&mut self, arguments: &mut [u64; 6]) {
        use abi::mmap::{MAP_ANONYMOUS, MAP_FIXED, MAP_FIXED_NOREPLACE, MAP_PRIVATE, MAP_SHARED};
        let mut flags = match self.random.below(4) {
            0 | 1 => u64::from(MAP_PRIVATE | MAP_ANONYMOUS),
            2 => u64::from(self.random.pick(&[MAP_PRIVATE, MAP_SHARED, 0, 3, MAP_SHARED | MAP_ANONYMOUS])),
            _ => self.flags(),
        };
        if self.random.one_in(4) {
            flags |= u64::from(self.random.pick(&[MAP_FIXED, MAP_FIXED_NOREPLACE]));
        }
        let fixed = flags & u64::from(MAP_FIXED | MAP_FIXED_NOREPLACE) != 0;
        // Replacing mappings only in the window (or at bad addresses).
        let address = match self.random.below(4) {
            0 if !fixed => 0,
            0 | 1 => MAP_WINDOW + self.random.below(MAP_WINDOW_BYTES / 4096 - 64) * 4096,
            2 => self.bad_pointer(false).0,
            _ if !fixed => self.integer(),
            _ => MAP_WINDOW + self.random.below(MAP_WINDOW_BYTES),
        };
        // Lengths that can succeed stay small (mappings may be populated at once); the rest cannot.
        let length = match self.random.below(4) {
            0 | 1 => (self.random.below(16) + 1) * 4096,
            2 => self.random.below(65536),
            _ => self.integer() | 1 << 40,
        };
        let prot = if self.random.one_in(2) { self.random.below(8) } else { self.flags() };
        let fd = if self.random.one_in(2) { -1i64 as u64 } else { self.fd() };
        let offset = if self.random.one_in(2) { 0 } else { self.integer() };
        arguments.copy_from_slice(&[address, length, prot, flags, fd, offset]);
    }

    fn futex(&mut self, arguments: &mut [u64; 6]) {
        use abi::futex::{FUTEX_CLOCK_REALTIME, FUTEX_PRIVATE_FLAG};
        // The word: in scratch (aligned or not), holding a random value or the one passed as `val` (so that a
        // wait really waits, for at most the timeout), or bad.
        let (word, _) =
            if self.random.one_in(4) { self.bad_pointer(true) } else { (self.scratch_at(4), Pointer::Scratch) };
        let mut value = self.integer();
        if word >= self.scratch && word < self.scratch + SCRATCH_BYTES as u64 && self.random.one_in(2) {
            self.put(word - self.scratch, &(value as u32).to_le_bytes());
        }
        if self.random.one_in(8) {
            value = self.tid;
        }
        let mut operation = self.random.below(14);
        if self.random.one_in(2) {
            operation |= u64::from(FUTEX_PRIVATE_FLAG);
        }
        if self.random.one_in(4) {
            operation |= u64::from(FUTEX_CLOCK_REALTIME);
        }
        if self.random.one_in(8) {
            operation = self.integer();
        }
        // Every waiting operation reads its timeout from the fourth argument: always one of at most 1 ms.
        let (timeout, _) = self.timeout();
        let (second_word, _) = if self.random.one_in(2) { self.output(4) } else { self.bad_pointer(true) };
        arguments.copy_from_slice(&[word, operation, value, timeout, second_word, self.integer()]);
    }

    /// Makes call number `index` of this thread and checks its result.
    fn step(&mut self, index: u64) {
        let (number, mut expect) = self.number();
        let arguments = if expect == Expect::Enosys {
            // Unknown numbers get numbers and bad pointers only, so that one implemented meanwhile cannot
            // write into the fuzzer before the report says so.
            let mut arguments = [0u64; 6];
            for argument in &mut arguments {
                *argument = if self.random.one_in(2) { self.integer() } else { self.bad_pointer(false).0 };
            }
            arguments
        } else {
            let (arguments, pointer_expect) = self.arguments(number);
            expect = pointer_expect;
            arguments
        };
        if TRACE.load(Ordering::Relaxed) {
            println!("fuzz {}.{index}: {} {:x?}", self.thread, name(number), arguments);
        }
        let result = if number == nr::CLONE { clone(arguments) } else { sys::syscall(number, arguments) };
        if result >= 0 {
            self.succeeded += 1;
        }
        // Threads (and vfork children) share the counter their child increments; a forked child would not.
        if number == nr::CLONE && result > 0 && arguments[0] & abi::clone::CLONE_VM != 0 {
            CLONES_SUCCEEDED.fetch_add(1, Ordering::Relaxed);
        }
        if number == nr::MMAP && result > 0 && (result as u64) < USER_VA_END {
            let slot = self.random.below(8) as usize;
            self.mappings[slot] = (result as u64, arguments[1]);
        }
        let enosys = Errno::ENOSYS.to_syscall_return();
        if result == enosys {
            self.enosys += 1;
        }
        let problem = if result < -4095 {
            Some("not a result nor an errno")
        } else if expect == Expect::Enosys && result != enosys {
            Some("want ENOSYS (implemented now? add it to fuzz.rs's IMPLEMENTED table)")
        } else if expect == Expect::Failure && result >= 0 {
            Some("succeeded with a bad pointer it must use")
        } else {
            None
        };
        if let Some(problem) = problem {
            let count = PROBLEMS.fetch_add(1, Ordering::Relaxed);
            if count < MAX_REPORTS {
                println!(
                    "fuzz: PROBLEM (seed {}, thread {}, call {index}): {} ({number}) {:x?} returned {result}: {problem}",
                    SEED.load(Ordering::Relaxed),
                    self.thread,
                    name(number),
                    arguments
                );
            }
        }
    }
}

/// A call that must write through `pointer` fails when it is bad.
fn must_write(pointer: Pointer, expect: &mut Expect) {
    if pointer.unwritable() {
        *expect = Expect::Failure;
    }
}

/// Whether no process or thread can have id `id` (as the kernel reads it, an `i32`): real signals go only
/// there. Ids are far smaller than 2^30 (threads-max is derived from memory).
fn cannot_exist(id: u64) -> bool {
    (id as i32).unsigned_abs() >= 0x3fff_0000
}

fn name(number: usize) -> &'static str {
    nr::name(number).unwrap_or("not a system call")
}

/// The raw clone of the fuzzer: a child (x0 == 0 on return, in a new thread or, should fork exist one day, a
/// new process) increments CHILDREN_RAN and exits at once, using no stack, so any stack value is safe for it.
fn clone(arguments: [u64; 6]) -> i64 {
    let result: i64;
    // SAFETY: `svc #0` is clone with x0-x4; the kernel preserves every other register (Linux's ABI). The
    // parent gets the result in x0 and goes on; the child runs only the assembly: an exclusive-monitor
    // increment of CHILDREN_RAN (address in x10; stlxr publishes it with release order before the exit), then
    // exit(0), never returning to Rust or touching its stack. x11 and x12 are clobbered (in the child only,
    // declared anyway); memory is written (no `nomem`); the stack is not used (`nostack`).
    unsafe {
        core::arch::asm!(
            "svc #0",
            "cbnz x0, 3f",
            "2:",
            "ldxr x11, [x10]",
            "add x11, x11, #1",
            "stlxr w12, x11, [x10]",
            "cbnz w12, 2b",
            "mov x0, #0",
            "mov x8, #{exit}",
            "svc #0",
            "b 2b",
            "3:",
            exit = const nr::EXIT,
            in("x8") nr::CLONE,
            inlateout("x0") arguments[0] => result,
            in("x1") arguments[1], in("x2") arguments[2], in("x3") arguments[3], in("x4") arguments[4],
            in("x10") CHILDREN_RAN.as_ptr(),
            lateout("x11") _, lateout("x12") _,
            options(nostack)
        )
    };
    result
}

extern "C" fn fuzz_thread(thread: usize) -> ! {
    let mut fuzzer = Fuzzer::new(thread, SEED.load(Ordering::Relaxed));
    let calls = CALLS_PER_THREAD.load(Ordering::Relaxed);
    for index in 0..calls {
        fuzzer.step(index);
    }
    TOTAL_SUCCEEDED.fetch_add(fuzzer.succeeded, Ordering::Relaxed);
    TOTAL_ENOSYS.fetch_add(fuzzer.enosys, Ordering::Relaxed);
    println!(
        "fuzz thread {thread} (tid {}): {calls} calls returned ({} succeeded, {} ENOSYS), {} thread clones left",
        sys::gettid(),
        fuzzer.succeeded,
        fuzzer.enosys,
        fuzzer.clone_budget
    );
    FINISHED.fetch_add(1, Ordering::Release);
    sys::exit(0)
}

fn main(args: ulib::Args) -> i32 {
    let program = args.get(0);
    let seed = args.get(1).parse().unwrap_or_else(|_| sys::monotonic_ns() as u64 ^ 0x5EED_0000_0000);
    let calls: u64 = args.get(2).parse().unwrap_or(100_000);
    SEED.store(seed, Ordering::Relaxed);
    CALLS_PER_THREAD.store(calls.div_ceil(THREADS as u64), Ordering::Relaxed);
    TRACE.store(args.get(3) == "trace", Ordering::Relaxed);
    PID.store(sys::getpid() as u64, Ordering::Relaxed);
    println!(
        "{program}: seed {seed}, {calls} calls on {THREADS} threads; reproduce: cargo xtask qemu --user 'fuzz {seed}'"
    );
    // The console's settings, which are all TCSETS and TIOCSWINSZ may set.
    let saved_termios = core::ptr::addr_of_mut!(SAVED_TERMIOS) as u64;
    let saved_window = core::ptr::addr_of_mut!(SAVED_WINDOW) as u64;
    sys::syscall(nr::IOCTL, [1, u64::from(abi::tty::TCGETS), saved_termios, 0, 0, 0]);
    sys::syscall(nr::IOCTL, [1, u64::from(abi::tty::TIOCGWINSZ), saved_window, 0, 0, 0]);
    let started = sys::monotonic_ns();
    for thread in 0..THREADS {
        // SAFETY: each stack is handed to exactly one thread, once.
        let stack = unsafe { &mut *core::ptr::addr_of_mut!(STACKS[thread]) };
        let tid = ulib::spawn_thread(stack, fuzz_thread, thread);
        if tid < 0 {
            println!("{program}: cannot start fuzzing thread {thread}: {tid}");
            return 1;
        }
    }
    while FINISHED.load(Ordering::Acquire) < THREADS {
        sys::nanosleep(2_000_000);
    }
    // Every thread a clone created runs and exits; give the last ones time to run.
    let clones = CLONES_SUCCEEDED.load(Ordering::Relaxed);
    let mut waited = 0;
    while CHILDREN_RAN.load(Ordering::Acquire) < clones && waited < 5_000 {
        sys::nanosleep(1_000_000);
        waited += 1;
    }
    let ran = CHILDREN_RAN.load(Ordering::Acquire);
    let problems = PROBLEMS.load(Ordering::Relaxed);
    let elapsed_ms = (sys::monotonic_ns() - started) / 1_000_000;
    println!(
        "{program}: seed {seed}: {} calls in {elapsed_ms} ms ({} succeeded, {} ENOSYS); {clones} threads cloned, \
         {ran} ran; {problems} problems",
        calls.div_ceil(THREADS as u64) * THREADS as u64,
        TOTAL_SUCCEEDED.load(Ordering::Relaxed),
        TOTAL_ENOSYS.load(Ordering::Relaxed),
    );
    if ran != clones {
        println!("{program}: PROBLEM: {clones} clones succeeded but {ran} of their threads ran");
        return 1;
    }
    if problems > 0 {
        return 1;
    }
    0
}

ulib::entry!(main);
