//! The store-buffering litmus of docs/membarrier.md, run against threads that are being switched
//! user -> kernel thread -> user on their CPU.
//!
//! `litmus membarrier N BUDGET_MS CPU...`: for every CPU given, threads T1 and T2 of this process are pinned
//! there next to a kernel thread K (started by the kernel test). T2 spins for the go signal of iteration i, then
//! yields once: its CPU runs T1, then K (which keeps this mm lazily and publishes "no user mm"), then T2 again,
//! with no switch_mm on the K -> T2 step. Right after being switched back in, T2 does `x = 1; r1 = y` (compiler barrier
//! only). Its partner B, a thread pinned to another CPU, does `y = 1; membarrier(PRIVATE_EXPEDITED); r2 = x`
//! after a random delay. `r1 == 0 && r2 == 0` is forbidden. N iterations per CPU, or fewer when BUDGET_MS
//! milliseconds pass first: every iteration is a handshake between spinning virtual CPUs, which slows down by
//! one or two orders of magnitude when the host has fewer free cores than busy vCPUs, and the budget keeps such
//! a run bounded.
//!
//! `litmus control N BUDGET_MS CPU...`: the same litmus with no membarrier and no switching (T2 spins for the go
//! signal): shows that the forbidden outcome is observable on this machine when nothing orders the accesses.
//!
//! Prints `litmus: variant=<mode> iterations=<done> forbidden=<k> ... requested=<n>`; exits 0 when no forbidden
//! outcome was seen, 2 when one was, 3 when the budget ended the run before [`MIN_PERCENT`] of the requested
//! iterations were done (too few to say anything).
#![no_std]
#![no_main]

use abi::membarrier::{
    MEMBARRIER_CMD_PRIVATE_EXPEDITED as PRIVATE_EXPEDITED,
    MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED as REGISTER_PRIVATE_EXPEDITED,
};
use core::sync::atomic::{compiler_fence, AtomicBool, AtomicU64, Ordering};
use ulib::{println, sys, ThreadStack};

const MAX_PAIRS: usize = 3;
/// The smallest share of the requested iterations a run must complete within its budget to count.
const MIN_PERCENT: u64 = 2;
/// `go` value telling T2 that B stopped (the budget ran out).
const STOP: u64 = u64::MAX;
/// B looks at the clock once per this many iterations (a system call).
const CLOCK_CHECK_INTERVAL: u64 = 256;

#[repr(C, align(64))]
struct Line(AtomicU64);

/// One litmus pair's shared state, each variable on its own cache line.
struct Pair {
    x: Line,
    y: Line,
    /// Iteration number B has released (T2 may start it).
    go: Line,
    /// Last iteration T2 finished; its r1 result.
    done: Line,
    r1: Line,
    forbidden: Line,
    both_one: Line,
    only_r1: Line,
    only_r2: Line,
}

const fn line() -> Line {
    Line(AtomicU64::new(0))
}

static PAIRS: [Pair; MAX_PAIRS] = [const {
    Pair {
        x: line(),
        y: line(),
        go: line(),
        done: line(),
        r1: line(),
        forbidden: line(),
        both_one: line(),
        only_r1: line(),
        only_r2: line(),
    }
}; MAX_PAIRS];

static STOP_T1: AtomicBool = AtomicBool::new(false);
static FINISHED: AtomicU64 = AtomicU64::new(0);
static mut STACKS: [ThreadStack; 3 * MAX_PAIRS] = [const { ThreadStack([0; 16384]) }; 3 * MAX_PAIRS];

/// Run parameters, written by main before any thread starts.
static ITERATIONS: AtomicU64 = AtomicU64::new(0);
/// `monotonic_ns` after which B stops starting iterations.
static DEADLINE_NS: AtomicU64 = AtomicU64::new(u64::MAX);
static SWITCHING: AtomicBool = AtomicBool::new(true);
static USE_MEMBARRIER: AtomicBool = AtomicBool::new(true);
static A_CPU: [AtomicU64; MAX_PAIRS] = [const { AtomicU64::new(0) }; MAX_PAIRS];
static B_CPU: [AtomicU64; MAX_PAIRS] = [const { AtomicU64::new(0) }; MAX_PAIRS];

fn pin(cpu: u64) {
    if sys::sched_setaffinity(0, 1 << cpu) != 0 {
        println!("litmus: cannot pin to cpu {cpu}");
        sys::exit_group(1);
    }
}

/// T1: the user task that runs before K on the switching CPU.
extern "C" fn t1(pair: usize) -> ! {
    pin(A_CPU[pair].load(Ordering::Relaxed));
    while !STOP_T1.load(Ordering::Relaxed) {
        sys::sched_yield();
    }
    FINISHED.fetch_add(1, Ordering::Release);
    sys::exit(0)
}

/// T2: the fast path (thread A of the litmus), switched in right before its accesses.
extern "C" fn t2(pair: usize) -> ! {
    let shared = &PAIRS[pair];
    pin(A_CPU[pair].load(Ordering::Relaxed));
    let iterations = ITERATIONS.load(Ordering::Relaxed);
    let switching = SWITCHING.load(Ordering::Relaxed);
    for iteration in 1..=iterations {
        let mut go = shared.go.0.load(Ordering::Acquire);
        while go != iteration && go != STOP {
            core::hint::spin_loop();
            go = shared.go.0.load(Ordering::Acquire);
        }
        if go == STOP {
            break;
        }
        if switching {
            // T1 -> K -> T2: the K -> T2 switch happens inside this call, right before the accesses below.
            sys::sched_yield();
        }
        shared.x.0.store(1, Ordering::Relaxed);
        compiler_fence(Ordering::SeqCst);
        let r1 = shared.y.0.load(Ordering::Relaxed);
        shared.r1.0.store(r1, Ordering::Relaxed);
        shared.done.0.store(iteration, Ordering::Release);
    }
    FINISHED.fetch_add(1, Ordering::Release);
    sys::exit(0)
}

/// A small xorshift generator for the random delays.
fn next_random(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// B: the slow path, calling membarrier between its store and its load.
extern "C" fn b(pair: usize) -> ! {
    let shared = &PAIRS[pair];
    pin(B_CPU[pair].load(Ordering::Relaxed));
    let iterations = ITERATIONS.load(Ordering::Relaxed);
    let switching = SWITCHING.load(Ordering::Relaxed);
    let use_membarrier = USE_MEMBARRIER.load(Ordering::Relaxed);
    let mut random = 0x9e37_79b9_7f4a_7c15u64 ^ (pair as u64 + 1);
    // Random delay before the store, spanning the time T2 needs to go through its switches (or none).
    let max_delay = if switching { 4000 } else { 64 };
    let deadline = DEADLINE_NS.load(Ordering::Relaxed);
    for iteration in 1..=iterations {
        if iteration % CLOCK_CHECK_INTERVAL == 0 && sys::monotonic_ns() as u64 > deadline {
            break;
        }
        shared.x.0.store(0, Ordering::Relaxed);
        shared.y.0.store(0, Ordering::Relaxed);
        shared.go.0.store(iteration, Ordering::Release);
        let delay = next_random(&mut random) % max_delay;
        for _ in 0..delay {
            core::hint::spin_loop();
        }
        shared.y.0.store(1, Ordering::Relaxed);
        compiler_fence(Ordering::SeqCst);
        if use_membarrier {
            let result = sys::membarrier(PRIVATE_EXPEDITED, 0, 0);
            if result != 0 {
                println!("litmus: membarrier failed after registration: {result}");
                sys::exit_group(1);
            }
        }
        let r2 = shared.x.0.load(Ordering::Relaxed);
        while shared.done.0.load(Ordering::Acquire) != iteration {
            core::hint::spin_loop();
        }
        let r1 = shared.r1.0.load(Ordering::Relaxed);
        let counter = match (r1, r2) {
            (0, 0) => &shared.forbidden,
            (1, 1) => &shared.both_one,
            (1, 0) => &shared.only_r1,
            _ => &shared.only_r2,
        };
        counter.0.fetch_add(1, Ordering::Relaxed);
    }
    // T2 is waiting for the next `go` (or has finished all iterations and no longer looks).
    shared.go.0.store(STOP, Ordering::Release);
    FINISHED.fetch_add(1, Ordering::Release);
    sys::exit(0)
}

fn parse(text: &str) -> Option<u64> {
    text.parse().ok()
}

fn main(args: ulib::Args) -> i32 {
    let mode = args.get(1);
    let (switching, use_membarrier) = match mode {
        "membarrier" => (true, true),
        "control" => (false, false),
        _ => {
            println!("usage: litmus membarrier|control ITERATIONS BUDGET_MS CPU...");
            return 1;
        }
    };
    let (Some(iterations), Some(budget_ms)) = (parse(args.get(2)), parse(args.get(3))) else {
        println!("litmus: ITERATIONS and BUDGET_MS must be numbers");
        return 1;
    };
    let a_cpus: [Option<u64>; MAX_PAIRS] = core::array::from_fn(|index| parse(args.get(4 + index)));
    let pairs = a_cpus.iter().take_while(|cpu| cpu.is_some()).count();
    if pairs == 0 {
        println!("litmus: no CPU given");
        return 1;
    }
    ITERATIONS.store(iterations, Ordering::Relaxed);
    let started = sys::monotonic_ns();
    DEADLINE_NS.store((started as u64).saturating_add(budget_ms.saturating_mul(1_000_000)), Ordering::Relaxed);
    SWITCHING.store(switching, Ordering::Relaxed);
    USE_MEMBARRIER.store(use_membarrier, Ordering::Relaxed);
    // B threads go to the CPUs not used by the A side, round robin.
    let used: u64 = a_cpus.iter().flatten().fold(0, |mask, cpu| mask | 1 << cpu);
    let free: [u64; 4] = core::array::from_fn(|cpu| cpu as u64);
    let free_cpus: [u64; 4] = {
        let mut list = [0u64; 4];
        let mut count = 0;
        for cpu in free {
            if used & (1 << cpu) == 0 {
                list[count] = cpu;
                count += 1;
            }
        }
        if count == 0 {
            list[0] = 0;
            count = 1;
        }
        core::array::from_fn(|index| list[index % count])
    };
    for pair in 0..pairs {
        A_CPU[pair].store(a_cpus[pair].unwrap_or(0), Ordering::Relaxed);
        B_CPU[pair].store(free_cpus[pair], Ordering::Relaxed);
    }
    if use_membarrier {
        let result = sys::membarrier(REGISTER_PRIVATE_EXPEDITED, 0, 0);
        if result != 0 {
            println!("litmus: registration failed: {result}");
            return 1;
        }
    }
    let mut stack_index = 0;
    let mut threads = 0u64;
    let mut start = |body: extern "C" fn(usize) -> !, pair: usize| {
        // SAFETY: each stack is handed to exactly one thread, once.
        let stack = unsafe { &mut *core::ptr::addr_of_mut!(STACKS[stack_index]) };
        stack_index += 1;
        if ulib::spawn_thread(stack, body, pair) < 0 {
            println!("litmus: clone failed");
            sys::exit_group(1);
        }
    };
    for pair in 0..pairs {
        if switching {
            start(t1, pair);
            threads += 1;
        }
        start(t2, pair);
        start(b, pair);
        threads += 2;
    }
    // Wait for the T2 and B threads, then release the T1 threads.
    let workers = threads - if switching { pairs as u64 } else { 0 };
    while FINISHED.load(Ordering::Acquire) < workers {
        sys::nanosleep(2_000_000);
    }
    STOP_T1.store(true, Ordering::Relaxed);
    while FINISHED.load(Ordering::Acquire) < threads {
        sys::nanosleep(1_000_000);
    }
    let elapsed_ms = (sys::monotonic_ns() - started) / 1_000_000;
    let total = |select: fn(&Pair) -> &Line| {
        PAIRS[..pairs].iter().map(|pair| select(pair).0.load(Ordering::Relaxed)).sum::<u64>()
    };
    let forbidden = total(|pair| &pair.forbidden);
    let (both_one, only_r1, only_r2) =
        (total(|pair| &pair.both_one), total(|pair| &pair.only_r1), total(|pair| &pair.only_r2));
    // Every completed iteration counted exactly one outcome.
    let completed = forbidden + both_one + only_r1 + only_r2;
    let requested = iterations * pairs as u64;
    println!(
        "litmus: variant={mode} iterations={completed} forbidden={forbidden} r1=1,r2=1:{both_one} r1=1,r2=0:{only_r1} r1=0,r2=1:{only_r2} pairs={pairs} elapsed_ms={elapsed_ms} requested={requested} budget_ms={budget_ms}"
    );
    if forbidden > 0 {
        2
    } else if completed * 100 < requested * MIN_PERCENT {
        println!(
            "litmus: the {budget_ms} ms budget ran out after {completed} of {requested} iterations: too few to count"
        );
        3
    } else {
        0
    }
}
ulib::entry!(main);
