//! Threads that block on futexes, and futex/clone conformance: a pthread-like layer of our own (a futex mutex
//! after Drepper's "Futexes Are Tricky", a sequence-number condition variable, join through the
//! clear-child-tid word), 8 threads incrementing a mutex-protected counter, a condition-variable handshake,
//! then Linux's errnos, timeouts, requeue, wake-op, bitsets, robust lists, clone's thread-id protocol and
//! the scheduling calls threads use. Exits 0 when every check passed.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use abi::clone::*;
use abi::futex::*;
use abi::syscalls as nr;
use ulib::{println, sys, Checker, ThreadStack};

const THREADS: usize = 8;
const INCREMENTS: u64 = 2000;
const HANDSHAKES: u32 = 200;
const EINVAL: i64 = abi::Errno::EINVAL.to_syscall_return();
const EAGAIN: i64 = abi::Errno::EAGAIN.to_syscall_return();
const EFAULT: i64 = abi::Errno::EFAULT.to_syscall_return();
const ENOSYS: i64 = abi::Errno::ENOSYS.to_syscall_return();
const ESRCH: i64 = abi::Errno::ESRCH.to_syscall_return();
const ETIMEDOUT: i64 = abi::Errno::ETIMEDOUT.to_syscall_return();

/// The flags glibc's pthread_create passes; musl adds CLONE_DETACHED.
const GLIBC_THREAD_FLAGS: u64 = THREAD_FLAGS | CLONE_SETTLS | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID;

static mut STACKS: [ThreadStack; THREADS + 8] = [const { ThreadStack([0; 16384]) }; THREADS + 8];
static NEXT_STACK: AtomicUsize = AtomicUsize::new(0);

fn address_of(word: &AtomicU32) -> u64 {
    word as *const AtomicU32 as u64
}

fn wait(word: &AtomicU32, expected: u32) -> i64 {
    sys::futex(address_of(word), FUTEX_WAIT | FUTEX_PRIVATE_FLAG, expected, 0, 0, 0)
}

fn wake(word: &AtomicU32, count: u32) -> i64 {
    sys::futex(address_of(word), FUTEX_WAKE | FUTEX_PRIVATE_FLAG, count, 0, 0, 0)
}

/// How many tasks wait on `word`, without waking any: a requeue from the word to itself (Linux counts them).
fn waiters_on(word: &AtomicU32) -> i64 {
    sys::futex(address_of(word), FUTEX_REQUEUE | FUTEX_PRIVATE_FLAG, 0, i32::MAX as u64, address_of(word), 0)
}

/// Yields until `count` tasks wait on `word` (false after many tries).
fn until_waiters(word: &AtomicU32, count: i64) -> bool {
    for _ in 0..100_000 {
        if waiters_on(word) == count {
            return true;
        }
        sys::sched_yield();
    }
    false
}

// --- A pthread-like layer ---

/// Drepper's mutex: 0 unlocked, 1 locked, 2 locked with (possible) waiters.
struct Mutex(AtomicU32);

impl Mutex {
    const fn new() -> Self {
        Mutex(AtomicU32::new(0))
    }

    fn lock(&self) {
        let Err(mut state) = self.0.compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed) else { return };
        if state != 2 {
            state = self.0.swap(2, Ordering::Acquire);
        }
        while state != 0 {
            wait(&self.0, 2);
            state = self.0.swap(2, Ordering::Acquire);
        }
    }

    fn unlock(&self) {
        if self.0.fetch_sub(1, Ordering::Release) != 1 {
            self.0.store(0, Ordering::Release);
            wake(&self.0, 1);
        }
    }
}

/// A condition variable: a sequence number that waiters sleep on.
struct Condvar(AtomicU32);

impl Condvar {
    const fn new() -> Self {
        Condvar(AtomicU32::new(0))
    }

    fn wait(&self, mutex: &Mutex) {
        let sequence = self.0.load(Ordering::Relaxed);
        mutex.unlock();
        wait(&self.0, sequence);
        mutex.lock();
    }

    fn notify_all(&self) {
        self.0.fetch_add(1, Ordering::Release);
        wake(&self.0, i32::MAX as u32);
    }
}

/// A thread started with glibc's flags: its tid word is set by the kernel at clone (PARENT_SETTID) and cleared
/// and woken at its exit (CHILD_CLEARTID).
struct Thread {
    tid: AtomicU32,
}

impl Thread {
    const fn new() -> Self {
        Thread { tid: AtomicU32::new(0) }
    }

    fn spawn(&self, function: extern "C" fn(usize) -> !, argument: usize, tls: u64) -> i64 {
        let index = NEXT_STACK.fetch_add(1, Ordering::Relaxed);
        // SAFETY: each stack is handed to exactly one thread, once (the index is taken atomically).
        let stack = unsafe { &mut *core::ptr::addr_of_mut!(STACKS[index]) };
        let top = stack.0.as_mut_ptr() as usize + stack.0.len();
        let tid_address = address_of(&self.tid);
        sys::clone_raw(GLIBC_THREAD_FLAGS | CLONE_DETACHED, top, tid_address, tls, tid_address, function, argument)
    }

    /// pthread_join: sleep until the kernel cleared the tid word at the thread's exit.
    fn join(&self) {
        loop {
            let tid = self.tid.load(Ordering::Acquire);
            if tid == 0 {
                return;
            }
            wait(&self.tid, tid);
        }
    }
}

// --- 8 threads, one mutex ---

static COUNTER_LOCK: Mutex = Mutex::new();
static mut COUNTER: u64 = 0;
static WORKERS: [Thread; THREADS] = [const { Thread::new() }; THREADS];
static START: AtomicU32 = AtomicU32::new(0);
static TLS_SEEN: [AtomicU64; THREADS] = [const { AtomicU64::new(0) }; THREADS];

extern "C" fn counter_worker(index: usize) -> ! {
    let thread_pointer: u64;
    // SAFETY: reads TPIDR_EL0 (the thread pointer clone's CLONE_SETTLS set); no memory access.
    unsafe { core::arch::asm!("mrs {value}, tpidr_el0", value = out(reg) thread_pointer, options(nomem, nostack)) };
    TLS_SEEN[index].store(thread_pointer, Ordering::Relaxed);
    // Held at the gate until the main thread checked every tid word (which the exit clears).
    while START.load(Ordering::Acquire) == 0 {
        wait(&START, 0);
    }
    for round in 0..INCREMENTS {
        COUNTER_LOCK.lock();
        // SAFETY: COUNTER is only touched with COUNTER_LOCK held.
        let value = unsafe { core::ptr::addr_of!(COUNTER).read_volatile() };
        if round % 64 == 0 {
            // Give the CPU away inside the critical section: the others must sleep on the mutex.
            sys::sched_yield();
        }
        // SAFETY: as above.
        unsafe { core::ptr::addr_of_mut!(COUNTER).write_volatile(value + 1) };
        COUNTER_LOCK.unlock();
    }
    sys::exit(0)
}

fn mutex_counter(check: &mut Checker) {
    for (index, worker) in WORKERS.iter().enumerate() {
        let tid = worker.spawn(counter_worker, index, 0x1000 + index as u64);
        check.expect("clone with glibc's flags + CLONE_DETACHED", i64::from(tid > 0), 1);
        check.expect("CLONE_PARENT_SETTID wrote the tid", i64::from(worker.tid.load(Ordering::Relaxed)), tid);
    }
    START.store(1, Ordering::Release);
    check.expect("FUTEX_WAKE of the start gate", i64::from(wake(&START, i32::MAX as u32) >= 0), 1);
    for worker in &WORKERS {
        worker.join();
    }
    // SAFETY: every worker has exited (joined).
    let total = unsafe { core::ptr::addr_of!(COUNTER).read_volatile() };
    check.expect("8 threads x 2000 mutex-protected increments", total as i64, (THREADS as u64 * INCREMENTS) as i64);
    let tls_ok = TLS_SEEN.iter().enumerate().all(|(index, seen)| seen.load(Ordering::Relaxed) == 0x1000 + index as u64);
    check.expect("CLONE_SETTLS set each thread's TPIDR_EL0", i64::from(tls_ok), 1);
}

// --- A condition-variable handshake ---

static HANDSHAKE_LOCK: Mutex = Mutex::new();
static HANDSHAKE_CHANGED: Condvar = Condvar::new();
/// Odd: the main thread's turn is over and the partner's is due; protected by HANDSHAKE_LOCK.
static mut TURN: u32 = 0;
static PARTNER: Thread = Thread::new();

fn turn() -> u32 {
    // SAFETY: only read and written with HANDSHAKE_LOCK held.
    unsafe { core::ptr::addr_of!(TURN).read_volatile() }
}

fn set_turn(value: u32) {
    // SAFETY: as above.
    unsafe { core::ptr::addr_of_mut!(TURN).write_volatile(value) }
}

extern "C" fn handshake_partner(_: usize) -> ! {
    for round in 0..HANDSHAKES {
        HANDSHAKE_LOCK.lock();
        while turn() != 2 * round + 1 {
            HANDSHAKE_CHANGED.wait(&HANDSHAKE_LOCK);
        }
        set_turn(2 * round + 2);
        HANDSHAKE_CHANGED.notify_all();
        HANDSHAKE_LOCK.unlock();
    }
    sys::exit(0)
}

fn condvar_handshake(check: &mut Checker) {
    let spawned = PARTNER.spawn(handshake_partner, 0, 0);
    check.expect("handshake partner started", i64::from(spawned > 0), 1);
    for round in 0..HANDSHAKES {
        HANDSHAKE_LOCK.lock();
        set_turn(2 * round + 1);
        HANDSHAKE_CHANGED.notify_all();
        while turn() != 2 * round + 2 {
            HANDSHAKE_CHANGED.wait(&HANDSHAKE_LOCK);
        }
        HANDSHAKE_LOCK.unlock();
    }
    PARTNER.join();
    HANDSHAKE_LOCK.lock();
    check.expect("200 condition-variable round trips", i64::from(turn()), i64::from(2 * HANDSHAKES));
    HANDSHAKE_LOCK.unlock();
}

// --- Conformance ---

static WORD_A: AtomicU32 = AtomicU32::new(0);
static WORD_B: AtomicU32 = AtomicU32::new(0);
static WORD_C: AtomicU32 = AtomicU32::new(0);
static RESULTS: [AtomicU64; 4] = [const { AtomicU64::new(u64::MAX) }; 4];
static HELPERS: [Thread; 4] = [const { Thread::new() }; 4];

/// A helper waiting on WORD_A (argument 0-2), WORD_B (3 with bitset), per its index; records the result.
extern "C" fn waiter(index: usize) -> ! {
    let result = match index {
        0..=2 => wait(&WORD_A, 0),
        _ => sys::futex(address_of(&WORD_C), FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, 0, 0, 0, 0b01),
    };
    RESULTS[index].store(result as u64, Ordering::Release);
    sys::exit(0)
}

fn timespec(nanoseconds: u64) -> [u64; 2] {
    [nanoseconds / 1_000_000_000, nanoseconds % 1_000_000_000]
}

fn errnos(check: &mut Checker) {
    let a = address_of(&WORD_A);
    let private_wait = FUTEX_WAIT | FUTEX_PRIVATE_FLAG;
    check.expect("WAIT on a word that differs: EAGAIN", sys::futex(a, private_wait, 1, 0, 0, 0), EAGAIN);
    check.expect("WAIT misaligned: EINVAL", sys::futex(a + 1, private_wait, 0, 0, 0, 0), EINVAL);
    // A word on a page nobody has touched yet (fresh anonymous memory): the kernel faults it in, as Linux does;
    // the word reads 0, so a WAIT for 1 is EAGAIN, not EFAULT.
    let fresh = sys::syscall(
        nr::MMAP,
        [
            0,
            4096,
            u64::from(abi::mmap::PROT_READ | abi::mmap::PROT_WRITE),
            u64::from(abi::mmap::MAP_PRIVATE | abi::mmap::MAP_ANONYMOUS),
            u64::MAX,
            0,
        ],
    );
    check.expect("mmap of a fresh page", i64::from(fresh > 0), 1);
    if fresh > 0 {
        let fresh = fresh as u64;
        check.expect("WAIT on an untouched page: EAGAIN", sys::futex(fresh, private_wait, 1, 0, 0, 0), EAGAIN);
        check.expect(
            "WAKE_OP on an untouched second page",
            i64::from(sys::futex(fresh, FUTEX_WAKE_OP, 1, 1, fresh + 8, 0) >= 0),
            1,
        );
        sys::syscall(nr::MUNMAP, [fresh, 4096, 0, 0, 0, 0]);
    }
    check.expect("WAKE misaligned: EINVAL", sys::futex(a + 2, FUTEX_WAKE, 1, 0, 0, 0), EINVAL);
    check.expect("WAIT unmapped: EFAULT", sys::futex(0x1000, private_wait, 0, 0, 0, 0), EFAULT);
    check.expect(
        "private WAKE unmapped: 0 (no access)",
        sys::futex(0x1000, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, 1, 0, 0, 0),
        0,
    );
    check.expect("shared WAKE unmapped: EFAULT", sys::futex(0x1000, FUTEX_WAKE, 1, 0, 0, 0), EFAULT);
    check.expect("WAKE without waiters: 0", sys::futex(a, FUTEX_WAKE, 1, 0, 0, 0), 0);
    check.expect("WAIT_BITSET with bitset 0: EINVAL", sys::futex(a, FUTEX_WAIT_BITSET, 0, 0, 0, 0), EINVAL);
    check.expect("WAKE_BITSET with bitset 0: EINVAL", sys::futex(a, FUTEX_WAKE_BITSET, 1, 0, 0, 0), EINVAL);
    check.expect("unknown command: ENOSYS", sys::futex(a, 99, 0, 0, 0, 0), ENOSYS);
    check.expect("FUTEX_LOCK_PI: ENOSYS", sys::futex(a, FUTEX_LOCK_PI, 0, 0, 0, 0), ENOSYS);
    check.expect(
        "CLOCK_REALTIME with WAKE: ENOSYS",
        sys::futex(a, FUTEX_WAKE | FUTEX_CLOCK_REALTIME, 1, 0, 0, 0),
        ENOSYS,
    );
    let bad = [0u64, 1_000_000_000];
    check.expect("timeout tv_nsec 1e9: EINVAL", sys::futex(a, private_wait, 0, bad.as_ptr() as u64, 0, 0), EINVAL);
    check.expect("timeout unmapped: EFAULT", sys::futex(a, private_wait, 0, 0x1000, 0, 0), EFAULT);
    let negative = i32::MAX as u64 + 1; // -2^31 as the second count
    check.expect("REQUEUE with a negative count: EINVAL", sys::futex(a, FUTEX_REQUEUE, 0, negative, a, 0), EINVAL);
    check.expect("CMP_REQUEUE on a changed word: EAGAIN", sys::futex(a, FUTEX_CMP_REQUEUE, 1, 1, a, 5), EAGAIN);
    let b = address_of(&WORD_B);
    check.expect("WAKE_OP with an unknown op: ENOSYS", sys::futex(a, FUTEX_WAKE_OP, 1, 1, b, 7 << 28), ENOSYS);
    check.expect("... before touching the word: B is 0", i64::from(WORD_B.load(Ordering::Relaxed)), 0);
    check.expect(
        "WAKE_OP on an unmapped word: EFAULT",
        sys::futex(a, FUTEX_WAKE_OP | FUTEX_PRIVATE_FLAG, 1, 1, 0x1000, 0),
        EFAULT,
    );
}

fn timeouts(check: &mut Checker) {
    let a = address_of(&WORD_A);
    let relative = timespec(20_000_000);
    let start = sys::monotonic_ns();
    let result = sys::futex(a, FUTEX_WAIT | FUTEX_PRIVATE_FLAG, 0, relative.as_ptr() as u64, 0, 0);
    let elapsed = sys::monotonic_ns() - start;
    check.expect("WAIT with a relative 20 ms timeout: ETIMEDOUT", result, ETIMEDOUT);
    check.expect("... after at least 20 ms, under 2 s", i64::from((20_000_000..2_000_000_000).contains(&elapsed)), 1);
    for (name, op) in [
        ("WAIT_BITSET absolute on MONOTONIC: ETIMEDOUT", FUTEX_WAIT_BITSET),
        ("WAIT_BITSET absolute on REALTIME: ETIMEDOUT", FUTEX_WAIT_BITSET | FUTEX_CLOCK_REALTIME),
    ] {
        let start = sys::monotonic_ns();
        let deadline = timespec(start as u64 + 20_000_000);
        let result = sys::futex(a, op | FUTEX_PRIVATE_FLAG, 0, deadline.as_ptr() as u64, 0, FUTEX_BITSET_MATCH_ANY);
        let elapsed = sys::monotonic_ns() - start;
        check.expect(name, result, ETIMEDOUT);
        check.expect("... at the deadline, under 2 s", i64::from((19_000_000..2_000_000_000).contains(&elapsed)), 1);
    }
    let past = timespec(1);
    let result = sys::futex(a, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, 0, past.as_ptr() as u64, 0, u32::MAX);
    check.expect("WAIT_BITSET with a deadline in the past: ETIMEDOUT", result, ETIMEDOUT);
}

const OP_SET: u32 = 0;
const OP_ADD: u32 = 1;
const OP_OR: u32 = 2;
const CMP_EQ: u32 = 0;
const CMP_NE: u32 = 1;

/// Linux's `FUTEX_OP(op, oparg, cmp, cmparg)`, with FUTEX_OP_OPARG_SHIFT when `shift`.
fn wake_op_encoding(op: u32, shift: bool, compare: u32, oparg: u32, cmparg: u32) -> u32 {
    let op = if shift { op | 8 } else { op };
    (op << 28) | (compare << 24) | ((oparg & 0xfff) << 12) | (cmparg & 0xfff)
}

fn requeue_wake_op_bitset(check: &mut Checker) {
    let (a, b, c) = (address_of(&WORD_A), address_of(&WORD_B), address_of(&WORD_C));
    for index in 0..3 {
        HELPERS[index].spawn(waiter, index, 0);
    }
    check.expect("3 waiters on A", i64::from(until_waiters(&WORD_A, 3)), 1);
    // CMP_REQUEUE: wake 1, move up to 2 to B.
    check.expect(
        "CMP_REQUEUE A->B wake 1 move 2: 3",
        sys::futex(a, FUTEX_CMP_REQUEUE | FUTEX_PRIVATE_FLAG, 1, 2, b, 0),
        3,
    );
    check.expect("... none left on A", waiters_on(&WORD_A), 0);
    check.expect("... 2 now on B", waiters_on(&WORD_B), 2);
    // WAKE_OP: B = 7 (SET), compare the old value (0) == 0: wake 1 on A (none) and 1 on B.
    let set_7_if_0 = wake_op_encoding(OP_SET, false, CMP_EQ, 7, 0);
    check.expect(
        "WAKE_OP SET 7, old == 0: wakes 1 on B",
        sys::futex(a, FUTEX_WAKE_OP | FUTEX_PRIVATE_FLAG, 1, 1, b, set_7_if_0),
        1,
    );
    check.expect("... B is 7", i64::from(WORD_B.load(Ordering::Relaxed)), 7);
    // ADD 1 with the comparison false (old 7 != 0... EQ 0 is false): no wake on B.
    let add_1_if_0 = wake_op_encoding(OP_ADD, false, CMP_EQ, 1, 0);
    check.expect(
        "WAKE_OP ADD 1, old == 0 false: wakes none",
        sys::futex(a, FUTEX_WAKE_OP | FUTEX_PRIVATE_FLAG, 1, 1, b, add_1_if_0),
        0,
    );
    check.expect("... B is 8", i64::from(WORD_B.load(Ordering::Relaxed)), 8);
    // OR with a shifted argument (1 << 4), comparison NE 0 (true).
    let or_shift_4_if_ne_0 = wake_op_encoding(OP_OR, true, CMP_NE, 4, 0);
    check.expect(
        "WAKE_OP OR 1<<4, old != 0: wakes the last on B",
        sys::futex(a, FUTEX_WAKE_OP | FUTEX_PRIVATE_FLAG, 1, 1, b, or_shift_4_if_ne_0),
        1,
    );
    check.expect("... B is 8 | 16", i64::from(WORD_B.load(Ordering::Relaxed)), 24);
    // An unknown comparison (6 to 15): Linux applies the operation to B, then returns ENOSYS and wakes nobody.
    let add_1_unknown_compare = wake_op_encoding(OP_ADD, false, 6, 1, 0);
    check.expect(
        "WAKE_OP ADD 1 with an unknown comparison: ENOSYS",
        sys::futex(a, FUTEX_WAKE_OP | FUTEX_PRIVATE_FLAG, 1, 1, b, add_1_unknown_compare),
        ENOSYS,
    );
    check.expect("... after applying the operation: B is 25", i64::from(WORD_B.load(Ordering::Relaxed)), 25);
    for helper in &HELPERS[..3] {
        helper.join();
    }
    let all_woken = RESULTS[..3].iter().all(|result| result.load(Ordering::Acquire) == 0);
    check.expect("each requeued/woken waiter's WAIT returned 0", i64::from(all_woken), 1);
    // Bitsets: a waiter with bitset 0b01 on C.
    HELPERS[3].spawn(waiter, 3, 0);
    check.expect("bitset waiter queued on C", i64::from(until_waiters(&WORD_C, 1)), 1);
    check.expect(
        "WAKE_BITSET 0b10 misses it",
        sys::futex(c, FUTEX_WAKE_BITSET | FUTEX_PRIVATE_FLAG, 10, 0, 0, 0b10),
        0,
    );
    check.expect("WAKE_BITSET 0b11 wakes it", sys::futex(c, FUTEX_WAKE_BITSET | FUTEX_PRIVATE_FLAG, 10, 0, 0, 0b11), 1);
    HELPERS[3].join();
    check.expect("... its WAIT_BITSET returned 0", RESULTS[3].load(Ordering::Acquire) as i64, 0);
}

// --- Robust list at thread exit ---

#[repr(C)]
struct RobustLock {
    next: AtomicU64,
    word: AtomicU32,
}

#[repr(C)]
struct RobustHead {
    next: AtomicU64,
    futex_offset: i64,
    list_op_pending: AtomicU64,
}

static HELD: RobustLock = RobustLock { next: AtomicU64::new(0), word: AtomicU32::new(0) };
static PENDING: RobustLock = RobustLock { next: AtomicU64::new(0), word: AtomicU32::new(0) };
static NOT_OURS: RobustLock = RobustLock { next: AtomicU64::new(0), word: AtomicU32::new(0) };
static HEAD: RobustHead = RobustHead { next: AtomicU64::new(0), futex_offset: 8, list_op_pending: AtomicU64::new(0) };
static ROBUST_READY: AtomicBool = AtomicBool::new(false);
static ROBUST_GO: AtomicBool = AtomicBool::new(false);
static ROBUST_OWNER: Thread = Thread::new();

extern "C" fn robust_owner(_: usize) -> ! {
    let tid = sys::gettid() as u32;
    let head = &HEAD as *const RobustHead as u64;
    // head -> HELD -> NOT_OURS -> head; PENDING in list_op_pending.
    HEAD.next.store(&HELD as *const RobustLock as u64, Ordering::Relaxed);
    HELD.next.store(&NOT_OURS as *const RobustLock as u64, Ordering::Relaxed);
    NOT_OURS.next.store(head, Ordering::Relaxed);
    HEAD.list_op_pending.store(&PENDING as *const RobustLock as u64, Ordering::Relaxed);
    HELD.word.store(tid | FUTEX_WAITERS, Ordering::Relaxed);
    PENDING.word.store(tid, Ordering::Relaxed);
    NOT_OURS.word.store(tid + 1, Ordering::Relaxed);
    sys::syscall(nr::SET_ROBUST_LIST, [head, core::mem::size_of::<RobustHead>() as u64, 0, 0, 0, 0]);
    ROBUST_READY.store(true, Ordering::Release);
    while !ROBUST_GO.load(Ordering::Acquire) {
        sys::sched_yield();
    }
    sys::exit(0)
}

fn robust_list(check: &mut Checker) {
    ROBUST_OWNER.spawn(robust_owner, 0, 0);
    while !ROBUST_READY.load(Ordering::Acquire) {
        sys::sched_yield();
    }
    let owned = HELD.word.load(Ordering::Relaxed);
    ROBUST_GO.store(true, Ordering::Release);
    // Sleep on the held lock as a contender would: the owner's death wakes us (or it came first: EAGAIN).
    let result = wait(&HELD.word, owned);
    check.expect(
        "contender woken by the owner's death (0) or too late (EAGAIN)",
        i64::from(result == 0 || result == EAGAIN),
        1,
    );
    ROBUST_OWNER.join();
    check.expect(
        "held lock: FUTEX_OWNER_DIED | FUTEX_WAITERS",
        i64::from(HELD.word.load(Ordering::Relaxed)),
        i64::from(FUTEX_OWNER_DIED | FUTEX_WAITERS),
    );
    check.expect(
        "list_op_pending lock: FUTEX_OWNER_DIED",
        i64::from(PENDING.word.load(Ordering::Relaxed)),
        i64::from(FUTEX_OWNER_DIED),
    );
    let other = NOT_OURS.word.load(Ordering::Relaxed);
    check.expect("a lock owned by another tid is left alone", i64::from(other & FUTEX_OWNER_DIED), 0);
}

// --- clone's checks and the scheduling calls ---

extern "C" fn exit_at_once(_: usize) -> ! {
    sys::exit(0)
}

fn clone_checks(check: &mut Checker) {
    let index = NEXT_STACK.fetch_add(1, Ordering::Relaxed);
    // SAFETY: the stack is only used by a child that a failed clone never creates.
    let stack = unsafe { &mut *core::ptr::addr_of_mut!(STACKS[index]) };
    let top = stack.0.as_mut_ptr() as usize + stack.0.len();
    let try_clone = |flags: u64| sys::clone_raw(flags, top, 0, 0, 0, exit_at_once, 0);
    check.expect("clone CLONE_THREAD without CLONE_SIGHAND: EINVAL", try_clone(CLONE_VM | CLONE_THREAD), EINVAL);
    check.expect("clone CLONE_SIGHAND without CLONE_VM: EINVAL", try_clone(CLONE_SIGHAND), EINVAL);
    check.expect("clone CLONE_FS | CLONE_NEWNS: EINVAL", try_clone(THREAD_FLAGS | CLONE_NEWNS), EINVAL);
    check.expect("clone CLONE_PIDFD | CLONE_THREAD: EINVAL", try_clone(THREAD_FLAGS | CLONE_PIDFD), EINVAL);
    check.expect("fork-like clone (SIGCHLD): EINVAL, unsupported", try_clone(17), EINVAL);
    check.expect("clone CLONE_VM | CLONE_VFORK: EINVAL, unsupported", try_clone(CLONE_VM | CLONE_VFORK | 17), EINVAL);
}

fn scheduling_calls(check: &mut Checker) {
    let call =
        |number: usize, arguments: [u64; 3]| sys::syscall(number, [arguments[0], arguments[1], arguments[2], 0, 0, 0]);
    check.expect("sched_getscheduler(0): SCHED_OTHER", call(nr::SCHED_GETSCHEDULER, [0, 0, 0]), 0);
    check.expect("sched_getscheduler(-1): EINVAL", call(nr::SCHED_GETSCHEDULER, [u64::MAX, 0, 0]), EINVAL);
    check.expect("sched_getscheduler(unknown): ESRCH", call(nr::SCHED_GETSCHEDULER, [999_999, 0, 0]), ESRCH);
    let mut priority = 7u32;
    check.expect("sched_getparam(0)", call(nr::SCHED_GETPARAM, [0, &mut priority as *mut u32 as u64, 0]), 0);
    check.expect("... priority 0", i64::from(priority), 0);
    check.expect("sched_getparam(0, NULL): EINVAL", call(nr::SCHED_GETPARAM, [0, 0, 0]), EINVAL);
    check.expect("sched_get_priority_max(SCHED_FIFO)", call(nr::SCHED_GET_PRIORITY_MAX, [1, 0, 0]), 99);
    check.expect("sched_get_priority_min(SCHED_RR)", call(nr::SCHED_GET_PRIORITY_MIN, [2, 0, 0]), 1);
    check.expect("sched_get_priority_max(SCHED_OTHER)", call(nr::SCHED_GET_PRIORITY_MAX, [0, 0, 0]), 0);
    check.expect("sched_get_priority_min(SCHED_OTHER)", call(nr::SCHED_GET_PRIORITY_MIN, [0, 0, 0]), 0);
    check.expect("sched_get_priority_max(4): EINVAL", call(nr::SCHED_GET_PRIORITY_MAX, [4, 0, 0]), EINVAL);
    check.expect("getpriority(PRIO_PROCESS, 0): 20 - nice", call(nr::GETPRIORITY, [0, 0, 0]), 20);
    check.expect("setpriority(PRIO_PROCESS, 0, 5): accepted", call(nr::SETPRIORITY, [0, 0, 5]), 0);
    check.expect("getpriority(3, 0): EINVAL", call(nr::GETPRIORITY, [3, 0, 0]), EINVAL);
    let mut mask = 0u64;
    check.expect("sched_getaffinity: 8 bytes", call(nr::SCHED_GETAFFINITY, [0, 8, &mut mask as *mut u64 as u64]), 8);
    check.expect("... some CPU", i64::from(mask != 0), 1);
}

static NEVER_WOKEN: AtomicU32 = AtomicU32::new(0);

extern "C" fn sleep_forever(_: usize) -> ! {
    // No timeout, no waker: only the process's exit ends this wait.
    wait(&NEVER_WOKEN, 0);
    sys::exit(1)
}

/// `futex exit-group`: two threads sleep in FUTEX_WAIT with nobody to wake them; exit_group(7) must end them
/// (the exit wakes sleeping threads) and the process.
fn exit_group_with_sleepers() -> i32 {
    HELPERS[0].spawn(sleep_forever, 0, 0);
    HELPERS[1].spawn(sleep_forever, 1, 0);
    if !until_waiters(&NEVER_WOKEN, 2) {
        return 1;
    }
    sys::exit_group(7)
}

fn main(args: ulib::Args) -> i32 {
    if args.get(1) == "exit-group" {
        return exit_group_with_sleepers();
    }
    let mut check = Checker::new("futex");
    mutex_counter(&mut check);
    condvar_handshake(&mut check);
    errnos(&mut check);
    timeouts(&mut check);
    requeue_wake_op_bitset(&mut check);
    robust_list(&mut check);
    clone_checks(&mut check);
    scheduling_calls(&mut check);
    println!("futex: pid {}", sys::getpid());
    check.finish()
}

ulib::entry!(main);
