//! Demo and test program: starts N threads (argv[1], default 4) that share memory, each computing and yielding
//! for a while; each reports the CPUs it ran on. Exits 0 when every thread finished and the shared counter is
//! exact. Other modes: `preempt N`, `exit-group`, `limit MIN` (clone until the kernel's thread limit).
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

/// What each thread of `threads limit` sleeps for, in a loop: 1000 s (a `timespec`).
static LIMIT_SLEEP: [u64; 2] = [1000, 0];
/// The stack every `threads limit` thread gets: they never touch it, so they share this one.
#[repr(C, align(16))]
struct UntouchedStack([u8; 16]);
static LIMIT_STACK: UntouchedStack = UntouchedStack([0; 16]);

/// clone() for a thread that sleeps forever without touching memory: its loop is in the assembly, on registers
/// only, so thousands of them need no stacks. Returns the thread id or -errno.
fn clone_sleeper() -> i64 {
    let stack_top = LIMIT_STACK.0.as_ptr() as usize + LIMIT_STACK.0.len();
    let result: i64;
    // SAFETY: raw clone: the parent gets the thread id (or -errno) in x0 and continues; the child (x0 == 0) loops
    // on nanosleep(&LIMIT_SLEEP, NULL) with the request's address in x10, which the kernel preserves and the
    // child inherits, and never returns to Rust or uses its stack. Clobbers x8 in the child only.
    unsafe {
        core::arch::asm!(
            "svc #0",
            "cbnz x0, 2f",
            "1:",
            "mov x0, x10",
            "mov x1, #0",
            "mov x8, #{nanosleep}",
            "svc #0",
            "b 1b",
            "2:",
            nanosleep = const abi::syscalls::NANOSLEEP,
            in("x8") abi::syscalls::CLONE,
            inlateout("x0") abi::clone::THREAD_FLAGS => result,
            in("x1") stack_top, in("x2") 0u64, in("x3") 0u64, in("x4") 0u64,
            in("x10") LIMIT_SLEEP.as_ptr(),
            options(nostack)
        )
    };
    result
}

/// `threads limit MIN`: creates sleeping threads until clone fails, which must be with EAGAIN (the kernel's
/// thread limit, or its memory), after at least MIN threads; the kernel must stay up. Exiting ends them all
/// (exit_group).
fn thread_limit_test(name: &str, minimum: usize) -> i32 {
    const MOST: usize = 1 << 20;
    let mut created = 0;
    let error = loop {
        let result = clone_sleeper();
        if result < 0 {
            break result;
        }
        created += 1;
        if created == MOST {
            println!("{name}: clone did not fail after {created} threads");
            return 1;
        }
    };
    let eagain = abi::errno::Errno::EAGAIN.to_syscall_return();
    println!(
        "{name}: clone failed after {created} threads with {error} (EAGAIN is {eagain}; at least {minimum} expected)"
    );
    if error != eagain || created < minimum {
        return 1;
    }
    // Still usable at the limit: the process makes system calls as before.
    if sys::getpid() <= 0 {
        return 1;
    }
    0
}

fn main(args: ulib::Args) -> i32 {
    if args.get(1) == "limit" {
        return thread_limit_test(args.get(0), parse(args.get(2)).unwrap_or(0));
    }
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
