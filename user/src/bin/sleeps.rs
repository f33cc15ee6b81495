//! Sleep precision: how late `nanosleep(1 ms)` wakes, alone and next to another process's membarrier storm.
//!
//! - `sleeps measure COUNT MEDIAN_US MAX_US [CPU]`: COUNT sleeps of 1 ms (on CPU `CPU` when given), each timed
//!   with CLOCK_MONOTONIC; prints the minimum, median and maximum in microseconds and exits 0 when the median
//!   is at most MEDIAN_US and the maximum at most MAX_US, 1 when not, 2 when a call failed.
//! - `sleeps storm THREADS MS`: THREADS threads, on CPUs 1..=THREADS, call membarrier(PRIVATE_EXPEDITED) in a
//!   loop for MS milliseconds (each call interrupts every other CPU running this process); prints the number of
//!   calls and exits 0.
#![no_std]
#![no_main]

use abi::membarrier::{
    MEMBARRIER_CMD_PRIVATE_EXPEDITED as PRIVATE_EXPEDITED,
    MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED as REGISTER_PRIVATE_EXPEDITED,
};
use core::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use ulib::{println, sys, ThreadStack};

const MAX_SAMPLES: usize = 1000;
const MAX_STORM_THREADS: usize = 3;
const ONE_MS: u64 = 1_000_000;

static mut STACKS: [ThreadStack; MAX_STORM_THREADS] = [const { ThreadStack([0; 16384]) }; MAX_STORM_THREADS];
/// When the storm ends, in CLOCK_MONOTONIC nanoseconds.
static STORM_END_NS: AtomicI64 = AtomicI64::new(0);
static STORM_CALLS: AtomicUsize = AtomicUsize::new(0);
static STORM_THREADS_DONE: AtomicUsize = AtomicUsize::new(0);

fn number(text: &str) -> Option<u64> {
    text.parse().ok()
}

fn measure(count: usize, median_bound_us: u64, max_bound_us: u64) -> i32 {
    let mut samples = [0u64; MAX_SAMPLES];
    let count = count.clamp(1, MAX_SAMPLES);
    for sample in samples.iter_mut().take(count) {
        let start = sys::monotonic_ns();
        let result = sys::nanosleep(ONE_MS);
        let end = sys::monotonic_ns();
        if result != 0 || start < 0 || end < 0 {
            println!("sleeps: nanosleep or clock_gettime failed ({result})");
            return 2;
        }
        *sample = (end - start) as u64;
    }
    let samples = &mut samples[..count];
    samples.sort_unstable();
    let percentile_us = |percent: usize| samples[(count - 1) * percent / 100] / 1000;
    let (min_us, median_us, max_us) = (samples[0] / 1000, samples[count / 2] / 1000, samples[count - 1] / 1000);
    println!(
        "sleeps: {count} x nanosleep(1 ms) on CPU {}: min {min_us} us, median {median_us} us, 90th percentile {} \
         us, max {max_us} us (bounds: median {median_bound_us} us, max {max_bound_us} us)",
        sys::getcpu(),
        percentile_us(90)
    );
    if samples[0] < ONE_MS {
        println!("sleeps: a sleep ended before its 1 ms");
        return 1;
    }
    if median_us > median_bound_us || max_us > max_bound_us {
        return 1;
    }
    0
}

extern "C" fn storm_thread(cpu: usize) -> ! {
    sys::sched_setaffinity(0, 1 << cpu);
    let mut calls = 0;
    while sys::monotonic_ns() < STORM_END_NS.load(Ordering::Relaxed) {
        sys::membarrier(PRIVATE_EXPEDITED, 0, 0);
        calls += 1;
    }
    STORM_CALLS.fetch_add(calls, Ordering::Relaxed);
    STORM_THREADS_DONE.fetch_add(1, Ordering::Release);
    sys::exit(0)
}

fn storm(threads: usize, milliseconds: u64) -> i32 {
    if sys::membarrier(REGISTER_PRIVATE_EXPEDITED, 0, 0) != 0 {
        println!("sleeps: membarrier registration failed");
        return 2;
    }
    let threads = threads.clamp(1, MAX_STORM_THREADS);
    // This thread only waits: it stays off CPU 0 too, where the measured sleeper runs.
    sys::sched_setaffinity(0, ((1 << (threads + 1)) - 1) & !1);
    STORM_END_NS.store(sys::monotonic_ns() + (milliseconds * ONE_MS) as i64, Ordering::Relaxed);
    for index in 0..threads {
        // SAFETY: each stack is handed to exactly one thread, once.
        let stack = unsafe { &mut *core::ptr::addr_of_mut!(STACKS[index]) };
        if ulib::spawn_thread(stack, storm_thread, index + 1) < 0 {
            return 2;
        }
    }
    while STORM_THREADS_DONE.load(Ordering::Acquire) < threads {
        sys::nanosleep(10 * ONE_MS);
    }
    println!(
        "sleeps: storm of {} membarrier(PRIVATE_EXPEDITED) calls by {threads} threads",
        STORM_CALLS.load(Ordering::Relaxed)
    );
    0
}

fn main(args: ulib::Args) -> i32 {
    match args.get(1) {
        "measure" => {
            let (Some(count), Some(median_bound), Some(max_bound)) =
                (number(args.get(2)), number(args.get(3)), number(args.get(4)))
            else {
                return 2;
            };
            if let Some(cpu) = number(args.get(5)) {
                sys::sched_setaffinity(0, 1 << cpu);
            }
            measure(count as usize, median_bound, max_bound)
        }
        "storm" => match (number(args.get(2)), number(args.get(3))) {
            (Some(threads), Some(milliseconds)) => storm(threads as usize, milliseconds),
            _ => 2,
        },
        _ => {
            println!("usage: sleeps measure COUNT MEDIAN_US MAX_US [CPU] | sleeps storm THREADS MS");
            2
        }
    }
}
ulib::entry!(main);
