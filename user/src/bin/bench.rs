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
//! - `getpid`: N `getpid` calls (the cheapest round trip through the system call path).
//! - `membarrier-query`: N `membarrier(QUERY)` calls.
//! - `first-touch`: N stores, each to a fresh page of an anonymous mapping (a page fault that maps a zeroed
//!   page, and the return to the store).
//! - `mmap-touch-munmap`: N times mmap 256 pages, a store to each, munmap.
//! - `brk-page`: N `brk` calls, each growing the break by one page.
//!
//! `registered` registers the mm for PRIVATE_EXPEDITED first, which turns the post-switch barrier on for every
//! switch into it. Exits 0 when everything ran as asked.
#![no_std]
#![no_main]

use abi::membarrier::{
    MEMBARRIER_CMD_PRIVATE_EXPEDITED as PRIVATE_EXPEDITED,
    MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED as REGISTER_PRIVATE_EXPEDITED,
};
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
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
    if sys::sched_setaffinity(0, 1 << cpu) != 0 || sys::getcpu() != cpu as i64 {
        println!("bench: thread could not move to CPU {cpu}");
        sys::exit(1)
    }
    PEERS_READY.fetch_add(1, Ordering::Release);
    while !STOP.load(Ordering::Relaxed) {
        // SAFETY: `wfi` only waits for an interrupt; it reads and writes no memory the compiler knows of.
        unsafe { core::arch::asm!("wfi", options(nostack, preserves_flags)) }
    }
    sys::exit(0)
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

fn main(args: ulib::Args) -> i32 {
    let mode = args.get(1);
    READ_CYCLES.store(args.get(0).starts_with("bench-cycles:"), Ordering::Relaxed);
    let (Ok(iterations), Ok(warmup)) = (args.get(2).parse::<u64>(), args.get(3).parse::<u64>()) else {
        println!("usage: bench yield|threads|peer|membarrier|getpid|membarrier-query|first-touch|mmap-touch-munmap|brk-page N WARMUP registered|unregistered [CPU...]");
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
        "membarrier" => {
            let spinners = (args.argc - 5).min(MAX_SPINNERS);
            for index in 0..spinners {
                let Ok(cpu) = args.get(5 + index).parse::<usize>() else { return 2 };
                if !start_thread(index, parked_thread, cpu) {
                    return 1;
                }
            }
            while PEERS_READY.load(Ordering::Acquire) < spinners {
                sys::sched_yield();
            }
            measure(iterations, warmup, || sys::membarrier(PRIVATE_EXPEDITED, 0, 0))
        }
        "getpid" => measure(iterations, warmup, || i64::from(sys::getpid() <= 0)),
        "membarrier-query" => {
            measure(iterations, warmup, || i64::from(sys::membarrier(abi::membarrier::MEMBARRIER_CMD_QUERY, 0, 0) <= 0))
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
