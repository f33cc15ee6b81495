//! The EL0 half of the `bench` payload (payloads/src/bench.rs starts it): runs N iterations of one operation
//! between the measurement markers `hint #0x60` and `hint #0x61`, which the `insn-counter` QEMU plugin turns
//! into a count of the guest instructions the CPU executed in between (whatever ran on it: the other thread,
//! process or kernel thread of a ping-pong included).
//!
//! `bench MODE N WARMUP registered|unregistered [CPU...]`, MODE one of:
//! - `yield`: N `sched_yield` calls. Alone on its CPU that is a yield that finds nothing else to run; with a
//!   peer (another process running `peer`, or a kernel thread the kernel pinned there) every call is a
//!   round trip through the peer: two context switches.
//! - `threads`: like `yield`, the peer being a second thread of this process (same mm) that yields back.
//! - `peer`: yields N times and exits (the other process of a different-mm ping-pong; no markers).
//! - `membarrier`: N `membarrier(PRIVATE_EXPEDITED)` calls while one thread of this process runs (parked in
//!   `wfi` at EL0) on each CPU listed after the registration word.
//!
//! - `membarrier-busy`: like `membarrier`, each other thread spinning at EL0 (no `wfi`): the IPI finds the
//!   CPU busy in user code, as a working thread of a real program would be.
//! - `getpid`, `membarrier-query`, `clock-gettime`: N calls of `getpid`, `membarrier(QUERY)`,
//!   `clock_gettime(CLOCK_MONOTONIC)`: the cost of a system call that does almost nothing.
//! - `futex-pingpong`: a second thread on the CPU listed after the registration word; per iteration this
//!   thread wakes it with FUTEX_WAKE (it sleeps in FUTEX_WAIT there) and then sleeps in FUTEX_WAIT until the
//!   other thread wakes it back: two hand-offs, each a wake of a task sleeping on the other CPU.
//! - `mutex-pingpong`: the same two threads passing two pthread-style futex mutexes (Drepper's three-state
//!   mutex, as glibc's and musl's normal mutexes) back and forth: this thread unlocks the one the other
//!   waits for, then locks the one the other unlocks; two hand-offs per iteration.
//!
//! - `first-touch`: N stores, each to a fresh page of an anonymous mapping (a page fault that maps a zeroed
//!   page, and the return to the store).
//! - `mmap-touch-munmap`: N times mmap 256 pages, a store to each, munmap.
//! - `brk-page`: N `brk` calls, each growing the break by one page.
//!
//! `registered` registers the mm for PRIVATE_EXPEDITED first, which turns the post-switch barrier on for every
//! switch into it. Exits 0 when everything ran as asked.
#![no_std]
#![no_main]

use abi::futex::{FUTEX_PRIVATE_FLAG, FUTEX_WAIT, FUTEX_WAKE};
use abi::membarrier::{
    MEMBARRIER_CMD_PRIVATE_EXPEDITED as PRIVATE_EXPEDITED, MEMBARRIER_CMD_QUERY as QUERY,
    MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED as REGISTER_PRIVATE_EXPEDITED,
};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use ulib::{println, sys, ThreadStack};

const MAX_SPINNERS: usize = 3;

static STOP: AtomicBool = AtomicBool::new(false);
static PEERS_READY: AtomicUsize = AtomicUsize::new(0);
static mut STACKS: [ThreadStack; MAX_SPINNERS + 1] = [const { ThreadStack([0; 16384]) }; MAX_SPINNERS + 1];

/// Start of the measured region. HINT #0x60 is a NOP on hardware and executable at EL0.
#[inline(always)]
fn region_start() {
    // SAFETY: a NOP-compatible hint: reads and writes nothing. Not `nomem`, so that it stays in program order
    // with the measured calls (each a system call, itself not reordered across `asm!` without `nomem`).
    unsafe { core::arch::asm!("hint #0x60", options(nostack, preserves_flags)) }
}

/// End of the measured region (`hint #0x61`).
#[inline(always)]
fn region_end() {
    // SAFETY: as for `region_start`.
    unsafe { core::arch::asm!("hint #0x61", options(nostack, preserves_flags)) }
}

/// Same-mm peer: yields back until told to stop.
extern "C" fn yielding_thread(_: usize) -> ! {
    PEERS_READY.fetch_add(1, Ordering::Release);
    while !STOP.load(Ordering::Relaxed) {
        sys::sched_yield();
    }
    sys::exit(0)
}

/// A thread of the mm that stays on CPU `cpu` at EL0 until told to stop, waiting in `wfi` (EL0 may execute it:
/// the kernel sets SCTLR_EL1.nTWI) so that its vCPU does not take a host core from the measured one. The CPU
/// keeps running the mm all the while, so membarrier must interrupt it; the IPI (or the tick) wakes it.
extern "C" fn parked_thread(cpu: usize) -> ! {
    move_to(cpu);
    while !STOP.load(Ordering::Relaxed) {
        // SAFETY: `wfi` only waits for an interrupt; it reads and writes no memory the compiler knows of.
        unsafe { core::arch::asm!("wfi", options(nostack, preserves_flags)) }
    }
    sys::exit(0)
}

/// Like [`parked_thread`], but spinning at EL0 instead of waiting in `wfi`: membarrier's IPI interrupts user
/// code that is running.
extern "C" fn busy_thread(cpu: usize) -> ! {
    move_to(cpu);
    while !STOP.load(Ordering::Relaxed) {
        core::hint::spin_loop();
    }
    sys::exit(0)
}

fn futex_word(word: &AtomicU32) -> u64 {
    word as *const AtomicU32 as u64
}

/// A binary event on a futex word: `post` sets it and always wakes (the futex wake under measurement), `take`
/// consumes it, sleeping in FUTEX_WAIT while it is not set.
fn post(word: &AtomicU32) -> i64 {
    // Release: the poster's stores before the post are visible to the taker's Acquire swap.
    word.store(1, Ordering::Release);
    let woken = sys::futex(futex_word(word), FUTEX_WAKE | FUTEX_PRIVATE_FLAG, 1, 0, 0, 0);
    i64::from(woken < 0)
}

/// Consumes the event on `word` (false: told to stop first).
fn take(word: &AtomicU32) -> bool {
    // Acquire: pairs with the Release store in `post`.
    while word.swap(0, Ordering::Acquire) == 0 {
        if STOP.load(Ordering::Relaxed) {
            return false;
        }
        // Sleeps only while the word is still 0 (EAGAIN otherwise): a post in between is not lost.
        sys::futex(futex_word(word), FUTEX_WAIT | FUTEX_PRIVATE_FLAG, 0, 0, 0, 0);
    }
    true
}

/// A pthread-style mutex: Drepper's "Futexes Are Tricky" mutex 2 (0 unlocked, 1 locked, 2 locked with
/// waiters), the scheme of glibc's and musl's normal mutexes. Has no owner, so one thread may unlock what the
/// other locked, which the ping-pong uses to hand each mutex over.
fn mutex_lock(word: &AtomicU32) {
    // Acquire on every path that takes the lock: the critical section stays after it.
    let mut state = match word.compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed) {
        Ok(_) => return,
        Err(state) => state,
    };
    if state != 2 {
        state = word.swap(2, Ordering::Acquire);
    }
    while state != 0 {
        sys::futex(futex_word(word), FUTEX_WAIT | FUTEX_PRIVATE_FLAG, 2, 0, 0, 0);
        state = word.swap(2, Ordering::Acquire);
    }
}

/// Unlocks; wakes one waiter when the state says there may be one. Returns 1 when the wake failed.
fn mutex_unlock(word: &AtomicU32) -> i64 {
    // Release: the critical section stays before the unlock.
    if word.fetch_sub(1, Ordering::Release) != 1 {
        word.store(0, Ordering::Release);
        return i64::from(sys::futex(futex_word(word), FUTEX_WAKE | FUTEX_PRIVATE_FLAG, 1, 0, 0, 0) < 0);
    }
    0
}

/// The futex ping-pong's words: PING wakes the peer thread, PONG wakes the measured one. The mutex ping-pong's
/// mutexes: the measured thread unlocks PING and locks PONG; the peer locks PING and unlocks PONG.
static PING: AtomicU32 = AtomicU32::new(0);
static PONG: AtomicU32 = AtomicU32::new(0);

/// The other side of `futex-pingpong`, on CPU `cpu`: each PING it takes is answered with a PONG.
extern "C" fn futex_pingpong_peer(cpu: usize) -> ! {
    move_to(cpu);
    while take(&PING) {
        post(&PONG);
    }
    sys::exit(0)
}

/// The other side of `mutex-pingpong`, on CPU `cpu`: locks PING (which the measured thread hands over by
/// unlocking it), then hands PONG over. Both mutexes start locked.
extern "C" fn mutex_pingpong_peer(cpu: usize) -> ! {
    move_to(cpu);
    while !STOP.load(Ordering::Relaxed) {
        mutex_lock(&PING);
        mutex_unlock(&PONG);
    }
    sys::exit(0)
}

/// Pins the calling thread to `cpu` and counts it ready (exits the thread when it cannot).
fn move_to(cpu: usize) {
    if sys::sched_setaffinity(0, 1 << cpu) != 0 || sys::getcpu() != cpu as i64 {
        println!("bench: thread could not move to CPU {cpu}");
        sys::exit(1)
    }
    PEERS_READY.fetch_add(1, Ordering::Release);
}

fn start_thread(index: usize, body: extern "C" fn(usize) -> !, argument: usize) -> bool {
    // SAFETY: each stack is handed to one thread, once (index < STACKS.len() is checked by the callers).
    let stack = unsafe { &mut *core::ptr::addr_of_mut!(STACKS[index]) };
    ulib::spawn_thread(stack, body, argument) > 0
}

/// Whether the kernel enabled EL0 reads of the cycle counter (it says so in argv[0], "bench-cycles:...").
static READ_CYCLES: AtomicBool = AtomicBool::new(false);
/// PMU cycles of the last measured region (0 when not read).
static REGION_CYCLES: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// PMCCNTR_EL0, the cycle counter (EL0 access enabled by the bench kernel), or 0 when not enabled.
#[inline(always)]
fn cycles() -> u64 {
    if !READ_CYCLES.load(Ordering::Relaxed) {
        return 0;
    }
    let value: u64;
    // SAFETY: reads the cycle counter; the bench kernel set PMUSERENR_EL0.EN/CR, so EL0 may. An ISB first so the
    // read is not taken early. No memory effects.
    unsafe {
        core::arch::asm!("isb", "mrs {value}, pmccntr_el0", value = out(reg) value, options(nomem, nostack, preserves_flags))
    };
    value
}

/// Runs `operation` WARMUP times, then N times between the markers (and between two cycle-counter reads).
fn measure(iterations: u64, warmup: u64, mut operation: impl FnMut() -> i64) -> bool {
    let mut failures = 0u64;
    for _ in 0..warmup {
        failures += (operation() != 0) as u64;
    }
    let started = cycles();
    region_start();
    for _ in 0..iterations {
        failures += (operation() != 0) as u64;
    }
    region_end();
    REGION_CYCLES.store(cycles().wrapping_sub(started), Ordering::Relaxed);
    failures == 0
}

/// Leaves the region's cycle count in argv[0] ("bench-cycles:" then 20 zero-padded digits) for the kernel.
fn report_cycles(args: &ulib::Args) {
    let mut text = *b"bench-cycles:00000000000000000000";
    let mut value = REGION_CYCLES.load(Ordering::Relaxed);
    for digit in text[13..].iter_mut().rev() {
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
    args.write_argument(0, &text);
}

const PAGE: usize = 4096;

/// A private anonymous read-write mapping of `length` bytes (its address, or -errno).
fn anonymous_mapping(length: usize) -> i64 {
    use abi::mmap::{MAP_ANONYMOUS, MAP_NORESERVE, MAP_PRIVATE, PROT_READ, PROT_WRITE};
    let flags = u64::from(MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE);
    sys::syscall(abi::syscalls::MMAP, [0, length as u64, u64::from(PROT_READ | PROT_WRITE), flags, u64::MAX, 0])
}

/// One store to `address` (the first to its page faults it in).
#[inline(always)]
fn touch(address: usize) {
    // SAFETY: `address` is in a read-write anonymous mapping of this process.
    unsafe { core::ptr::write_volatile(address as *mut u8, 1) }
}

/// Starts one thread running `body(cpu)` per CPU listed after the registration word, and waits until each
/// is ready on its CPU.
fn start_peers(args: &ulib::Args, body: extern "C" fn(usize) -> !) -> bool {
    let peers = (args.argc - 5).min(MAX_SPINNERS);
    for index in 0..peers {
        let Ok(cpu) = args.get(5 + index).parse::<usize>() else { return false };
        if !start_thread(index, body, cpu) {
            return false;
        }
    }
    while PEERS_READY.load(Ordering::Acquire) < peers {
        sys::sched_yield();
    }
    true
}

fn main(args: ulib::Args) -> i32 {
    let mode = args.get(1);
    READ_CYCLES.store(args.get(0).starts_with("bench-cycles:"), Ordering::Relaxed);
    let (Ok(iterations), Ok(warmup)) = (args.get(2).parse::<u64>(), args.get(3).parse::<u64>()) else {
        println!(
            "usage: bench MODE N WARMUP registered|unregistered [CPU...] (modes: see the program's documentation)"
        );
        return 2;
    };
    if args.get(4) == "registered" && sys::membarrier(REGISTER_PRIVATE_EXPEDITED, 0, 0) != 0 {
        println!("bench: REGISTER_PRIVATE_EXPEDITED failed");
        return 1;
    }
    let succeeded = match mode {
        "yield" => measure(iterations, warmup, sys::sched_yield),
        "peer" => {
            for _ in 0..iterations {
                sys::sched_yield();
            }
            true
        }
        "threads" => {
            if !start_thread(0, yielding_thread, 0) {
                return 1;
            }
            while PEERS_READY.load(Ordering::Acquire) == 0 {
                sys::sched_yield();
            }
            measure(iterations, warmup, sys::sched_yield)
        }
        "membarrier" | "membarrier-busy" => {
            let body = if mode == "membarrier" { parked_thread } else { busy_thread };
            if !start_peers(&args, body) {
                return 1;
            }
            measure(iterations, warmup, || sys::membarrier(PRIVATE_EXPEDITED, 0, 0))
        }
        "getpid" => measure(iterations, warmup, || i64::from(sys::getpid() <= 0)),
        "membarrier-query" => measure(iterations, warmup, || i64::from(sys::membarrier(QUERY, 0, 0) <= 0)),
        "clock-gettime" => measure(iterations, warmup, || i64::from(sys::monotonic_ns() < 0)),
        "futex-pingpong" => {
            if !start_peers(&args, futex_pingpong_peer) {
                return 1;
            }
            let succeeded = measure(iterations, warmup, || {
                let failed = post(&PING);
                failed + i64::from(!take(&PONG))
            });
            STOP.store(true, Ordering::Relaxed);
            post(&PING);
            succeeded
        }
        "mutex-pingpong" => {
            PING.store(1, Ordering::Relaxed);
            PONG.store(1, Ordering::Relaxed);
            if !start_peers(&args, mutex_pingpong_peer) {
                return 1;
            }
            let succeeded = measure(iterations, warmup, || {
                let failed = mutex_unlock(&PING);
                mutex_lock(&PONG);
                failed
            });
            STOP.store(true, Ordering::Relaxed);
            mutex_unlock(&PING);
            succeeded
        }
        "first-touch" => {
            let pages = (warmup + iterations) as usize;
            let base = anonymous_mapping(pages * PAGE);
            let mut next = 0;
            base > 0
                && measure(iterations, warmup, || {
                    touch(base as usize + next * PAGE);
                    next += 1;
                    0
                })
        }
        "mmap-touch-munmap" => measure(iterations, warmup, || {
            let base = anonymous_mapping(256 * PAGE);
            if base <= 0 {
                return 1;
            }
            for page in 0..256 {
                touch(base as usize + page * PAGE);
            }
            sys::syscall(abi::syscalls::MUNMAP, [base as u64, (256 * PAGE) as u64, 0, 0, 0, 0])
        }),
        "brk-page" => {
            let mut end = sys::syscall(abi::syscalls::BRK, [0; 6]) as u64;
            measure(iterations, warmup, || {
                end += PAGE as u64;
                i64::from(sys::syscall(abi::syscalls::BRK, [end, 0, 0, 0, 0, 0]) as u64 != end)
            })
        }
        _ => {
            println!("bench: unknown mode {mode}");
            return 2;
        }
    };
    STOP.store(true, Ordering::Relaxed);
    report_cycles(&args);
    if succeeded {
        0
    } else {
        println!("bench: a measured call failed in mode {mode}");
        1
    }
}
ulib::entry!(main);
