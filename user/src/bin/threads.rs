//! Demo and test program: starts N threads (argv[1], default 4) that share memory, each computing and yielding
//! for a while; each reports the CPUs it ran on. Exits 0 when every thread finished and the shared counter is
//! exact.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use ulib::{println, sys, ThreadStack};

const MAX_THREADS: usize = 8;
const ROUNDS: u64 = 200;

static SHARED_COUNTER: AtomicU64 = AtomicU64::new(0);
static FINISHED: AtomicUsize = AtomicUsize::new(0);
static mut STACKS: [ThreadStack; MAX_THREADS] = [const { ThreadStack([0; 16384]) }; MAX_THREADS];

fn parse(text: &str) -> Option<usize> {
    text.parse().ok()
}

extern "C" fn worker(index: usize) -> ! {
    let mut cpus_seen = 0u64;
    for _ in 0..ROUNDS {
        let cpu = sys::getcpu();
        if cpu >= 0 {
            cpus_seen |= 1 << cpu;
        }
        SHARED_COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut spin = 0u64;
        for step in 0..2000u64 {
            spin = spin.wrapping_mul(31).wrapping_add(step);
        }
        core::hint::black_box(spin);
        sys::sched_yield();
    }
    CPUS_SEEN.fetch_or(cpus_seen, Ordering::Relaxed);
    println!("  pid {} thread {} (tid {}) ran on cpus {:#06b}", sys::getpid(), index, sys::gettid(), cpus_seen);
    FINISHED.fetch_add(1, Ordering::Release);
    sys::exit(0)
}

static CPUS_SEEN: AtomicU64 = AtomicU64::new(0);
static RELEASE: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Spins (never yielding) until the releaser thread, started after every spinner, sets RELEASE: with more
/// spinners than cores that can only happen if the timer preempts a spinner.
extern "C" fn spinner(_index: usize) -> ! {
    while !RELEASE.load(Ordering::Acquire) {
        core::hint::spin_loop();
    }
    FINISHED.fetch_add(1, Ordering::Release);
    sys::exit(0)
}

extern "C" fn releaser(_index: usize) -> ! {
    RELEASE.store(true, Ordering::Release);
    FINISHED.fetch_add(1, Ordering::Release);
    sys::exit(0)
}

/// `threads preempt N`: N spinners plus one releaser.
fn preemption_test(name: &str, spinners: usize) -> i32 {
    let spinners = spinners.clamp(1, MAX_THREADS - 1);
    for index in 0..=spinners {
        // SAFETY: each stack is handed to exactly one thread, once.
        let stack = unsafe { &mut *core::ptr::addr_of_mut!(STACKS[index]) };
        let body: extern "C" fn(usize) -> ! = if index < spinners { spinner } else { releaser };
        if ulib::spawn_thread(stack, body, index) < 0 {
            return 1;
        }
    }
    while FINISHED.load(Ordering::Acquire) < spinners + 1 {
        sys::sched_yield();
    }
    println!("{name}: {spinners} non-yielding spinners released by a later thread: preemption works");
    0
}

extern "C" fn spin_forever(_index: usize) -> ! {
    loop {
        core::hint::spin_loop();
    }
}

extern "C" fn sleep_forever(_index: usize) -> ! {
    // 2^40 seconds: Linux accepts it; the kernel must neither overflow nor keep the process alive for it.
    let request = [1u64 << 40, 0];
    sys::syscall(abi::syscalls::NANOSLEEP, [request.as_ptr() as u64, 0, 0, 0, 0, 0]);
    sys::exit(3)
}

/// `threads exit-group`: one sibling spins in user mode, one sleeps "forever"; exit_group(7) must end them all.
fn exit_group_test() -> i32 {
    for (index, body) in [spin_forever as extern "C" fn(usize) -> !, sleep_forever].into_iter().enumerate() {
        // SAFETY: each stack is handed to exactly one thread, once.
        let stack = unsafe { &mut *core::ptr::addr_of_mut!(STACKS[index]) };
        if ulib::spawn_thread(stack, body, index) < 0 {
            return 1;
        }
    }
    sys::nanosleep(20_000_000);
    sys::exit_group(7)
}

fn main(args: ulib::Args) -> i32 {
    if args.get(1) == "exit-group" {
        return exit_group_test();
    }
    if args.get(1) == "preempt" {
        return preemption_test(args.get(0), parse(args.get(2)).unwrap_or(6));
    }
    let require_parallel = args.get(2) == "parallel";
    let threads = parse(args.get(1)).unwrap_or(4).clamp(1, MAX_THREADS);
    for index in 0..threads {
        // SAFETY: each stack is handed to exactly one thread, once.
        let stack = unsafe { &mut *core::ptr::addr_of_mut!(STACKS[index]) };
        let tid = ulib::spawn_thread(stack, worker, index);
        if tid < 0 {
            println!("{}: clone failed: {}", args.get(0), tid);
            return 1;
        }
    }
    while FINISHED.load(Ordering::Acquire) < threads {
        sys::sched_yield();
    }
    let total = SHARED_COUNTER.load(Ordering::Relaxed);
    let expected = threads as u64 * ROUNDS;
    println!(
        "{}: pid {}: {} threads done, shared counter {} (expected {})",
        args.get(0),
        sys::getpid(),
        threads,
        total,
        expected
    );
    let cpus = CPUS_SEEN.load(Ordering::Relaxed);
    if require_parallel && cpus.count_ones() < 2 {
        println!("{}: threads ran only on cpus {cpus:#06b}", args.get(0));
        return 1;
    }
    if total == expected {
        0
    } else {
        1
    }
}
ulib::entry!(main);
