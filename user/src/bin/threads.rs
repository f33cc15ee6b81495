//! Demo and test program: starts N threads (argv[1], default 4) that share memory, each computing and yielding
//! for a while; each reports the CPUs it ran on. Exits 0 when every thread finished and the shared counter is
//! exact. Other modes: `preempt N`, `exit-group`, `limit MIN` (clone until the kernel's thread limit), `fp N`
//! (N threads and the main one keep distinct values in all FP/SIMD registers and FPCR across many yields, and
//! each new thread starts with the FPCR its creator had, also when cloned while its creator's registers were not
//! live; the main one keeps them across migrations: the kernel's lazy FP/SIMD switching), `cputime ROUNDS` (the
//! process's CPU time never goes back while threads burn CPU and exit), `callee-saved` (x19-x28 keep their values
//! across system calls that migrate, sleep and yield: the kernel's system-call path does not save them). In the
//! default mode each thread also checks, every round, that `getpid` is the process's id and `gettid` the id
//! clone returned for it, also after it moved to another CPU (the kernel reads both from the thread's own kernel
//! stack).
#![no_std]
#![no_main]

use abi::syscalls as nr;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use ulib::{println, sys, ThreadStack};

const MAX_THREADS: usize = 8;
const ROUNDS: u64 = 200;

static SHARED_COUNTER: AtomicU64 = AtomicU64::new(0);
static FINISHED: AtomicUsize = AtomicUsize::new(0);
static mut STACKS: [ThreadStack; MAX_THREADS] = [const { ThreadStack([0; 16384]) }; MAX_THREADS];
/// The process's id, stored by the main thread before it creates the workers.
static MAIN_PID: AtomicU64 = AtomicU64::new(0);
/// What each worker's `gettid` said, for the main thread to compare with clone's result.
static WORKER_TIDS: [AtomicU64; MAX_THREADS] = [const { AtomicU64::new(0) }; MAX_THREADS];
/// Rounds in which a worker's `getpid` or `gettid` changed or `getpid` was not the process's id.
static ID_MISMATCHES: AtomicU64 = AtomicU64::new(0);

fn parse(text: &str) -> Option<usize> {
    text.parse().ok()
}

extern "C" fn worker(index: usize) -> ! {
    let mut cpus_seen = 0u64;
    let tid = sys::gettid();
    WORKER_TIDS[index].store(tid as u64, Ordering::Relaxed);
    for _ in 0..ROUNDS {
        if sys::getpid() as u64 != MAIN_PID.load(Ordering::Relaxed) || sys::gettid() != tid {
            ID_MISMATCHES.fetch_add(1, Ordering::Relaxed);
        }
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

/// Threads per round of `threads cputime`: each round uses one half of STACKS, so a stack is reused only two
/// rounds later, long after its thread left user mode.
const CPUTIME_BURNERS: usize = MAX_THREADS / 2;

extern "C" fn cpu_burner(_index: usize) -> ! {
    let mut spin = 0u64;
    for step in 0..20_000u64 {
        spin = spin.wrapping_mul(31).wrapping_add(step);
    }
    core::hint::black_box(spin);
    FINISHED.fetch_add(1, Ordering::Release);
    sys::exit(0)
}

/// The process's CPU time (CLOCK_PROCESS_CPUTIME_ID) in nanoseconds.
fn process_cpu_time_ns() -> u64 {
    let mut time = [0u64; 2];
    let clock = abi::clock::CLOCK_PROCESS_CPUTIME_ID as u64;
    let result = sys::syscall(nr::CLOCK_GETTIME, [clock, time.as_mut_ptr() as u64, 0, 0, 0, 0]);
    assert!(result == 0, "clock_gettime(CLOCK_PROCESS_CPUTIME_ID) failed: {result}");
    time[0] * 1_000_000_000 + time[1]
}

/// `threads cputime ROUNDS`: rounds of CPU-burning threads start and exit while the main thread reads the
/// process's CPU time without pause; a thread's time must move into the process's total as the thread leaves,
/// never be missing for a moment (the total would go back).
fn cpu_time_test(name: &str, rounds: usize) -> i32 {
    let mut last = process_cpu_time_ns();
    let (mut reads, mut backwards) = (0u64, 0u64);
    for round in 0..rounds {
        let first_stack = (round % 2) * CPUTIME_BURNERS;
        for index in first_stack..first_stack + CPUTIME_BURNERS {
            // SAFETY: this half of STACKS was last used two rounds ago, by threads that have all finished.
            let stack = unsafe { &mut *core::ptr::addr_of_mut!(STACKS[index]) };
            if ulib::spawn_thread(stack, cpu_burner, index) < 0 {
                return 1;
            }
        }
        while FINISHED.load(Ordering::Acquire) < (round + 1) * CPUTIME_BURNERS {
            let now = process_cpu_time_ns();
            reads += 1;
            if now < last {
                backwards += 1;
                println!("{name}: cputime: process CPU time went back from {last} ns to {now} ns in round {round}");
            }
            last = now;
        }
    }
    println!("{name}: cputime: {rounds} rounds of {CPUTIME_BURNERS} threads, {reads} reads, {backwards} went back");
    i32::from(backwards != 0)
}

/// One round of `threads callee-saved`: loads distinct values into x19-x28, makes three system calls with them
/// live (sched_setaffinity to `cpu_mask`'s CPU, which migrates the thread, a 1 ms nanosleep, which blocks it,
/// and sched_yield), and returns what x19-x28 held afterwards.
fn callee_saved_after_system_calls(values: &[u64; 10], cpu_mask: u64) -> [u64; 10] {
    let mut after = [0u64; 10];
    let mut kept = [0u64; 10];
    let sleep = [0u64, 1_000_000];
    // SAFETY: x19-x28 cannot be asm operands (LLVM reserves x19), so the block saves the caller's values to
    // `kept` first and restores them last. The pointers are in x9-x13, which the system-call ABI preserves
    // (every register but x0). x0-x2 and x8 carry the calls' arguments and number and are declared clobbered.
    // The three calls touch only `cpu_mask` and `sleep`, which live until the block ends.
    unsafe {
        core::arch::asm!(
            "stp x19, x20, [x9]",
            "stp x21, x22, [x9, #16]",
            "stp x23, x24, [x9, #32]",
            "stp x25, x26, [x9, #48]",
            "stp x27, x28, [x9, #64]",
            "ldp x19, x20, [x10]",
            "ldp x21, x22, [x10, #16]",
            "ldp x23, x24, [x10, #32]",
            "ldp x25, x26, [x10, #48]",
            "ldp x27, x28, [x10, #64]",
            // sched_setaffinity(0, 8, &cpu_mask)
            "mov x0, #0",
            "mov x1, #8",
            "mov x2, x12",
            "mov x8, #{setaffinity}",
            "svc #0",
            // nanosleep(&sleep, NULL)
            "mov x0, x13",
            "mov x1, #0",
            "mov x8, #{nanosleep}",
            "svc #0",
            // sched_yield()
            "mov x8, #{sched_yield}",
            "svc #0",
            "stp x19, x20, [x11]",
            "stp x21, x22, [x11, #16]",
            "stp x23, x24, [x11, #32]",
            "stp x25, x26, [x11, #48]",
            "stp x27, x28, [x11, #64]",
            "ldp x19, x20, [x9]",
            "ldp x21, x22, [x9, #16]",
            "ldp x23, x24, [x9, #32]",
            "ldp x25, x26, [x9, #48]",
            "ldp x27, x28, [x9, #64]",
            setaffinity = const nr::SCHED_SETAFFINITY,
            nanosleep = const nr::NANOSLEEP,
            sched_yield = const nr::SCHED_YIELD,
            in("x9") kept.as_mut_ptr(),
            in("x10") values.as_ptr(),
            in("x11") after.as_mut_ptr(),
            in("x12") &cpu_mask,
            in("x13") sleep.as_ptr(),
            out("x0") _,
            out("x1") _,
            out("x2") _,
            out("x8") _,
            options(nostack),
        );
    }
    after
}

/// `threads callee-saved`: x19-x28 survive system calls that migrate the thread over every CPU, block and yield;
/// a sibling thread runs the same check at the same time, so the CPUs switch between the two.
fn callee_saved_test(name: &str) -> i32 {
    const ROUNDS: usize = 16;
    let check = |seed: u64| {
        let mut failures = 0;
        for round in 0..ROUNDS {
            let values: [u64; 10] = core::array::from_fn(|index| {
                seed ^ ((round as u64) << 32) ^ (0x1900 + index as u64).wrapping_mul(0x9e37_79b9)
            });
            let after = callee_saved_after_system_calls(&values, 1 << (round % 4));
            if after != values {
                println!("{name}: callee-saved: round {round}: x19-x28 were {values:x?}, came back {after:x?}");
                failures += 1;
            }
        }
        failures
    };
    CALLEE_SAVED_SIBLING_FAILURES.store(usize::MAX, Ordering::Relaxed);
    // SAFETY: each stack is handed to exactly one thread, once.
    let stack = unsafe { &mut *core::ptr::addr_of_mut!(STACKS[0]) };
    if ulib::spawn_thread(stack, callee_saved_sibling, 0) < 0 {
        return 1;
    }
    let failures = check(0x5eed_0000_0000_0000);
    while FINISHED.load(Ordering::Acquire) < 1 {
        sys::sched_yield();
    }
    let sibling_failures = CALLEE_SAVED_SIBLING_FAILURES.load(Ordering::Relaxed);
    println!(
        "{name}: callee-saved: x19-x28 kept across {ROUNDS} rounds of migrate, sleep and yield in 2 threads: {}",
        if failures == 0 && sibling_failures == 0 { "yes" } else { "NO" }
    );
    i32::from(failures != 0 || sibling_failures != 0)
}

static CALLEE_SAVED_SIBLING_FAILURES: AtomicUsize = AtomicUsize::new(0);

extern "C" fn callee_saved_sibling(_index: usize) -> ! {
    let mut failures = 0;
    for round in 0..16usize {
        let values: [u64; 10] = core::array::from_fn(|index| 0xab00_0000_0000_0000 ^ ((round * 10 + index) as u64));
        if callee_saved_after_system_calls(&values, 1 << ((round + 2) % 4)) != values {
            failures += 1;
        }
    }
    CALLEE_SAVED_SIBLING_FAILURES.store(failures, Ordering::Relaxed);
    FINISHED.fetch_add(1, Ordering::Release);
    sys::exit(0)
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

/// Yields per thread in the `fp` mode.
const FP_YIELDS: u64 = 300;
/// FPCR's rounding-mode field (bits 23:22) value 0b01 (towards plus infinity), set by the `fp` mode's main
/// thread before it creates the others: each must start with it (clone copies the creator's FP/SIMD state).
const FPCR_ROUND_UP: u64 = 1 << 22;
static FP_FAILURES: AtomicUsize = AtomicUsize::new(0);

/// What `fp_registers_survive` holds the registers across: sched_yield calls, or sched_setaffinity(0, 8, &mask)
/// calls that move the thread to each CPU of `masks` in turn (each a migration unless already there).
enum FpHold<'a> {
    Yields(u64),
    Migrations(&'a [u64]),
}

/// Fills q0-q31 with values derived from `seed`, makes the `hold` system calls with them in the registers, then
/// stores them; returns whether every register (and FPCR, set to `fpcr` with them) came back unchanged and every
/// call succeeded. All in one `asm!` block, so no compiler-generated code can use the registers in between.
fn fp_registers_survive(seed: u64, fpcr: u64, hold: FpHold) -> bool {
    let (number, masks, mask_stride, count) = match hold {
        FpHold::Yields(count) => (nr::SCHED_YIELD, [0u64].as_slice(), 0, count),
        FpHold::Migrations(masks) => (nr::SCHED_SETAFFINITY, masks, 8, masks.len() as u64),
    };
    let mut expected = [0u128; 32];
    for (index, value) in expected.iter_mut().enumerate() {
        let low = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15).wrapping_add(index as u64);
        *value = (u128::from(low) << 64) | u128::from(!low ^ seed);
    }
    let mut seen = [0u128; 32];
    let fpcr_after: u64;
    let failed_calls: u64;
    // SAFETY: loads q0-q31 from `expected`, makes `count` system calls `number`(0, 8, mask), each with the next
    // 8-byte mask of `masks` (or the same one when the stride is 0; sched_yield ignores its arguments) and ORs
    // their results (0 on success) into `failed_calls`, stores q0-q31 into `seen` and reads FPCR; both arrays
    // are 32 x 16 bytes and `masks` holds `count` masks, all live across the block. Every FP/SIMD register,
    // x0-x2, x8 and FPCR (restored by the caller's thread exit or main's end: nothing else in this program
    // depends on the rounding mode) are clobbered or written as declared.
    unsafe {
        core::arch::asm!(
            "msr fpcr, {fpcr}",
            "ldp q0, q1, [{input}, #0]", "ldp q2, q3, [{input}, #32]", "ldp q4, q5, [{input}, #64]",
            "ldp q6, q7, [{input}, #96]", "ldp q8, q9, [{input}, #128]", "ldp q10, q11, [{input}, #160]",
            "ldp q12, q13, [{input}, #192]", "ldp q14, q15, [{input}, #224]", "ldp q16, q17, [{input}, #256]",
            "ldp q18, q19, [{input}, #288]", "ldp q20, q21, [{input}, #320]", "ldp q22, q23, [{input}, #352]",
            "ldp q24, q25, [{input}, #384]", "ldp q26, q27, [{input}, #416]", "ldp q28, q29, [{input}, #448]",
            "ldp q30, q31, [{input}, #480]",
            "mov {failed}, #0",
            "2:",
            "mov x8, {number}",
            "mov x0, #0",
            "mov x1, #8",
            "mov x2, {mask}",
            "svc #0",
            "orr {failed}, {failed}, x0",
            "add {mask}, {mask}, {stride:x}",
            "subs {count}, {count}, #1",
            "b.ne 2b",
            "stp q0, q1, [{output}, #0]", "stp q2, q3, [{output}, #32]", "stp q4, q5, [{output}, #64]",
            "stp q6, q7, [{output}, #96]", "stp q8, q9, [{output}, #128]", "stp q10, q11, [{output}, #160]",
            "stp q12, q13, [{output}, #192]", "stp q14, q15, [{output}, #224]", "stp q16, q17, [{output}, #256]",
            "stp q18, q19, [{output}, #288]", "stp q20, q21, [{output}, #320]", "stp q22, q23, [{output}, #352]",
            "stp q24, q25, [{output}, #384]", "stp q26, q27, [{output}, #416]", "stp q28, q29, [{output}, #448]",
            "stp q30, q31, [{output}, #480]",
            "mrs {fpcr_after}, fpcr",
            fpcr = in(reg) fpcr,
            input = in(reg) expected.as_ptr(),
            output = in(reg) seen.as_mut_ptr(),
            number = in(reg) number as u64,
            mask = inout(reg) masks.as_ptr() => _,
            stride = in(reg) mask_stride,
            count = inout(reg) count => _,
            failed = out(reg) failed_calls,
            fpcr_after = lateout(reg) fpcr_after,
            out("x0") _, out("x1") _, out("x2") _, out("x8") _,
            out("v0") _, out("v1") _, out("v2") _, out("v3") _, out("v4") _, out("v5") _, out("v6") _, out("v7") _,
            out("v8") _, out("v9") _, out("v10") _, out("v11") _, out("v12") _, out("v13") _, out("v14") _,
            out("v15") _, out("v16") _, out("v17") _, out("v18") _, out("v19") _, out("v20") _, out("v21") _,
            out("v22") _, out("v23") _, out("v24") _, out("v25") _, out("v26") _, out("v27") _, out("v28") _,
            out("v29") _, out("v30") _, out("v31") _,
            options(nostack)
        );
    }
    seen == expected && fpcr_after == fpcr && failed_calls == 0
}

fn read_fpcr() -> u64 {
    let value: u64;
    // SAFETY: reads FPCR; no memory or flag effects.
    unsafe { core::arch::asm!("mrs {value}, fpcr", value = out(reg) value, options(nomem, nostack, preserves_flags)) };
    value
}

extern "C" fn fp_worker(index: usize) -> ! {
    // The creator's rounding mode, inherited through clone.
    let inherited = read_fpcr() & (3 << 22) == FPCR_ROUND_UP;
    // Each thread its own rounding mode from here on, so a mix-up between threads shows.
    let fpcr = ((index as u64 + 1) % 4) << 22;
    if !inherited || !fp_registers_survive(index as u64 + 1, fpcr, FpHold::Yields(FP_YIELDS)) {
        println!("threads: fp thread {index}: inherited FPCR {inherited}, registers or FPCR changed across yields");
        FP_FAILURES.fetch_add(1, Ordering::Relaxed);
    }
    FINISHED.fetch_add(1, Ordering::Release);
    sys::exit(0)
}

/// Migrations in the `fp` mode's migration check: CPUs 1, 2, 3 in turn (the last one ends the cycle on CPU 3).
const FP_MIGRATION_MASKS: [u64; 12] = [2, 4, 8, 2, 4, 8, 2, 4, 8, 2, 4, 8];

/// The main thread holds distinct values in every FP/SIMD register and FPCR while sched_setaffinity moves it
/// over CPUs 1-3 (each move switches it out on one CPU, saving the registers, and in on another, which must load
/// that saved state); then it may run anywhere again.
fn fp_state_survives_migrations() -> bool {
    let kept = fp_registers_survive(0x5eed, 2 << 22, FpHold::Migrations(&FP_MIGRATION_MASKS));
    let last_cpu = sys::getcpu();
    sys::sched_setaffinity(0, u64::MAX);
    if !kept || last_cpu != 3 {
        println!("threads: fp: registers, FPCR or affinity calls broken across migrations (ended on CPU {last_cpu})");
    }
    kept && last_cpu == 3
}

/// FPCR (rounding towards zero, flush-to-zero) the clone check's parent holds when it creates the child.
const FPCR_CLONE_CHECK: u64 = (3 << 22) | (1 << 24);
/// q0, q1, q30, q31 of the clone check's parent.
const FP_CLONE_CHECK_Q: [u128; 4] = [
    0x0123_4567_89ab_cdef_fedc_ba98_7654_3210,
    0x1111_2222_3333_4444_5555_6666_7777_8888,
    0xdead_beef_0bad_f00d_cafe_babe_8bad_f00d,
    0x0f0f_0f0f_f0f0_f0f0_a5a5_a5a5_5a5a_5a5a,
];
/// What the clone check's child found at its start: q0, q1, q30, q31, then FPCR in the low half.
static mut FP_CLONE_SEEN: [u128; 5] = [0; 5];
static FP_CLONE_CHILD_DONE: AtomicBool = AtomicBool::new(false);
static mut FP_CLONE_STACK: ThreadStack = ThreadStack([0; 16384]);

extern "C" fn fp_clone_child(_: usize) -> ! {
    // Orders the asm's stores of FP_CLONE_SEEN before the flag; the parent's acquire load pairs with it.
    FP_CLONE_CHILD_DONE.store(true, Ordering::Release);
    sys::exit(0)
}

/// Clone while the parent's FP/SIMD registers are not live: the parent sets FPCR and q0, q1, q30, q31, sleeps
/// (switched out, its state saved, FPEN trapping again when it wakes) and clones without an FP/SIMD
/// instruction in between, so the kernel must copy the child's state from the parent's saved frame. The child
/// stores what it finds before any other instruction of it can touch FP/SIMD.
fn fp_clone_copies_saved_state() -> bool {
    let sleep = [0u64, 2_000_000];
    // SAFETY: the stack is used by this check's child only, created once.
    let stack = unsafe { &mut *core::ptr::addr_of_mut!(FP_CLONE_STACK) };
    let stack_top = stack.0.as_mut_ptr() as usize + stack.0.len();
    let result: i64;
    // SAFETY: sets FPCR and loads q0, q1, q30, q31 from FP_CLONE_CHECK_Q (64 bytes), nanosleep(&sleep, NULL)
    // (x8 = 101; the 16-byte timespec lives across the block), then a raw clone onto the unused FP_CLONE_STACK.
    // The child (x0 == 0) has the parent's x registers: it stores q0, q1, q30, q31 and FPCR into FP_CLONE_SEEN
    // (80 bytes, written by it alone; the parent reads it after the child's release flag) and calls
    // `fp_clone_child`, which never returns, so nothing of this frame runs on its stack. The parent gets the
    // thread id in x0; x1-x4, x8, v0, v1, v30, v31 and FPCR are written as declared (FPCR: the caller's rounding
    // mode is set again by `fp_test` afterwards).
    unsafe {
        core::arch::asm!(
            "msr fpcr, {fpcr}",
            "ldp q0, q1, [{values}]",
            "ldp q30, q31, [{values}, #32]",
            "mov x8, #101",
            "mov x0, {sleep}",
            "mov x1, #0",
            "svc #0",
            "mov x8, #220",
            "mov x0, {flags}",
            "mov x1, {stack_top}",
            "mov x2, #0",
            "mov x3, #0",
            "mov x4, #0",
            "svc #0",
            "cbnz x0, 1f",
            "stp q0, q1, [{seen}]",
            "stp q30, q31, [{seen}, #32]",
            "mrs x0, fpcr",
            "str x0, [{seen}, #64]",
            "blr x9",
            "1:",
            fpcr = in(reg) FPCR_CLONE_CHECK,
            values = in(reg) FP_CLONE_CHECK_Q.as_ptr(),
            sleep = in(reg) sleep.as_ptr(),
            flags = in(reg) abi::clone::THREAD_FLAGS,
            stack_top = in(reg) stack_top,
            seen = in(reg) core::ptr::addr_of_mut!(FP_CLONE_SEEN) as *mut u128,
            in("x9") fp_clone_child as *const () as usize,
            out("x0") result, out("x1") _, out("x2") _, out("x3") _, out("x4") _, out("x8") _,
            out("v0") _, out("v1") _, out("v30") _, out("v31") _,
            options(nostack)
        );
    }
    if result < 0 {
        println!("threads: fp: clone failed: {result}");
        return false;
    }
    while !FP_CLONE_CHILD_DONE.load(Ordering::Acquire) {
        sys::sched_yield();
    }
    // SAFETY: the child wrote it before its release store, seen by the acquire load above; nothing writes it now.
    let seen = unsafe { *core::ptr::addr_of!(FP_CLONE_SEEN) };
    let expected = [
        FP_CLONE_CHECK_Q[0],
        FP_CLONE_CHECK_Q[1],
        FP_CLONE_CHECK_Q[2],
        FP_CLONE_CHECK_Q[3],
        u128::from(FPCR_CLONE_CHECK),
    ];
    if seen != expected {
        println!(
            "threads: fp: a thread cloned while the FP/SIMD registers were not live got {seen:x?}, not {expected:x?}"
        );
    }
    seen == expected
}

fn fp_test(threads: usize) -> i32 {
    let threads = threads.clamp(1, MAX_THREADS);
    let clone_copied = fp_clone_copies_saved_state();
    // SAFETY: sets FPCR's rounding mode for this thread; no memory effects.
    unsafe { core::arch::asm!("msr fpcr, {value}", value = in(reg) FPCR_ROUND_UP, options(nomem, nostack)) };
    for index in 0..threads {
        // SAFETY: each stack is handed to exactly one thread, once.
        let stack = unsafe { &mut *core::ptr::addr_of_mut!(STACKS[index]) };
        if ulib::spawn_thread(stack, fp_worker, index) < 0 {
            return 1;
        }
    }
    let main_kept = fp_registers_survive(0xabcd, 0, FpHold::Yields(FP_YIELDS));
    while FINISHED.load(Ordering::Acquire) < threads {
        sys::sched_yield();
    }
    let migrations_kept = fp_state_survives_migrations();
    let failures = FP_FAILURES.load(Ordering::Relaxed)
        + usize::from(!main_kept)
        + usize::from(!migrations_kept)
        + usize::from(!clone_copied);
    println!(
        "threads: fp: {} threads and main kept their FP/SIMD state across {FP_YIELDS} yields each, main across \
         migrations, and a clone copied the saved state: {}",
        threads,
        if failures == 0 { "yes" } else { "NO" }
    );
    i32::from(failures != 0)
}

fn main(args: ulib::Args) -> i32 {
    if args.get(1) == "fp" {
        return fp_test(parse(args.get(2)).unwrap_or(4));
    }
    if args.get(1) == "limit" {
        return thread_limit_test(args.get(0), parse(args.get(2)).unwrap_or(0));
    }
    if args.get(1) == "exit-group" {
        return exit_group_test();
    }
    if args.get(1) == "callee-saved" {
        return callee_saved_test(args.get(0));
    }
    if args.get(1) == "cputime" {
        return cpu_time_test(args.get(0), parse(args.get(2)).unwrap_or(96));
    }
    if args.get(1) == "preempt" {
        return preemption_test(args.get(0), parse(args.get(2)).unwrap_or(6));
    }
    let require_parallel = args.get(2) == "parallel";
    let threads = parse(args.get(1)).unwrap_or(4).clamp(1, MAX_THREADS);
    let pid = sys::getpid();
    MAIN_PID.store(pid as u64, Ordering::Relaxed);
    let mut tids = [0i64; MAX_THREADS];
    for (index, tid) in tids.iter_mut().enumerate().take(threads) {
        // SAFETY: each stack is handed to exactly one thread, once.
        let stack = unsafe { &mut *core::ptr::addr_of_mut!(STACKS[index]) };
        *tid = ulib::spawn_thread(stack, worker, index);
        if *tid < 0 {
            println!("{}: clone failed: {}", args.get(0), tid);
            return 1;
        }
    }
    while FINISHED.load(Ordering::Acquire) < threads {
        sys::sched_yield();
    }
    // Acquire above: each worker stored its tid before its Release increment of FINISHED.
    let seen: [u64; MAX_THREADS] = core::array::from_fn(|index| WORKER_TIDS[index].load(Ordering::Relaxed));
    let mismatches = ID_MISMATCHES.load(Ordering::Relaxed);
    if mismatches != 0 || (0..threads).any(|index| seen[index] != tids[index] as u64 || tids[index] == pid) {
        println!(
            "{}: wrong ids: pid {pid}, clone gave tids {:?}, the threads' gettid said {:?}, {mismatches} rounds \
             with another getpid or gettid",
            args.get(0),
            &tids[..threads],
            &seen[..threads]
        );
        return 1;
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
