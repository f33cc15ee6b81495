//! rseq at EL0: registration conformance (Linux's errnos), the ids the kernel keeps in `struct rseq` (cpu_id
//! equals getcpu, node_id 0, mm_cid below the CPU count), membarrier's RSEQ command restarting a critical
//! section running on another CPU, and the per-CPU counter test: 8 threads on 4 CPUs
//! increment per-CPU counters with an rseq critical section (hand-written aarch64 below, a plain load and
//! store with a delay between them, the abort signature word before the abort label) under timer preemption.
//! With the kernel's fixup no increment is lost; `rseq broken` is run by the test against the kernel's BROKEN
//! no-abort setting and exits 0 only if increments *were* lost (showing the fixup is what saves them).
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use abi::syscalls as nr;
use ulib::{println, sys, Checker, ThreadStack};

const THREADS: usize = 8;
const INCREMENTS: u64 = 50_000;
/// Delay-loop iterations between the counter's load and its store: a wide window for the tick to land in.
const WINDOW: u64 = 200;
/// The abort signature: arm64's RSEQ_SIG (a `brk #0x45e0` encoding in Linux's selftests), any value works.
const SIGNATURE: u32 = 0xd428_bc00;
const EINVAL: i64 = abi::Errno::EINVAL.to_syscall_return();
const EPERM: i64 = abi::Errno::EPERM.to_syscall_return();
const EBUSY: i64 = abi::Errno::EBUSY.to_syscall_return();
const EFAULT: i64 = abi::Errno::EFAULT.to_syscall_return();

/// `struct rseq`, as Linux lays it out (32-byte aligned).
#[repr(C, align(32))]
struct Rseq {
    cpu_id_start: AtomicU32,
    cpu_id: AtomicU32,
    rseq_cs: AtomicU64,
    flags: AtomicU32,
    node_id: AtomicU32,
    mm_cid: AtomicU32,
}

/// An area before registration: cpu_id is RSEQ_CPU_ID_UNINITIALIZED.
impl Rseq {
    const fn unregistered() -> Self {
        Self {
            cpu_id_start: AtomicU32::new(0),
            cpu_id: AtomicU32::new(u32::MAX),
            rseq_cs: AtomicU64::new(0),
            flags: AtomicU32::new(0),
            node_id: AtomicU32::new(0),
            mm_cid: AtomicU32::new(0),
        }
    }
}

/// One area per thread, plus the main thread's.
static AREAS: [Rseq; THREADS + 1] = [const { Rseq::unregistered() }; THREADS + 1];

/// The per-CPU counters, one cache line each (the asm indexes them by `cpu << 6`).
#[repr(C, align(64))]
struct Counter(AtomicU64, [u64; 7]);
static COUNTERS: [Counter; 8] = [const { Counter(AtomicU64::new(0), [0; 7]) }; 8];

static ABORTS: AtomicU64 = AtomicU64::new(0);
static DONE: AtomicU32 = AtomicU32::new(0);
static HIGHEST_MM_CID: AtomicU32 = AtomicU32::new(0);
static ID_MISMATCHES: AtomicU32 = AtomicU32::new(0);
static mut STACKS: [ThreadStack; THREADS + 1] = [const { ThreadStack([0; 16384]) }; THREADS + 1];
/// The membarrier test's worker: its aborts, and when to stop.
static TARGET_ABORTS: AtomicU64 = AtomicU64::new(0);
static TARGET_READY: AtomicU32 = AtomicU32::new(0);
static TARGET_STOP: AtomicU32 = AtomicU32::new(0);
/// CPU the membarrier test's worker runs on, alone.
const TARGET_CPU: u64 = 1;
/// membarrier(PRIVATE_EXPEDITED_RSEQ) calls aimed at it.
const RSEQ_BARRIERS: u64 = 100;

// The critical section. In: x0 = this thread's struct rseq, x1 = the counters, x2 = delay iterations.
// Out: x0 = how many times it aborted. Clobbers x3-x9 and the flags (a plain call: all caller-saved).
// [start_ip, post_commit_ip) holds the cpu_id check, the load, the delay and the commit store; a preemption,
// migration or membarrier RSEQ IPI there makes the kernel resume the thread at the abort label, which counts
// the abort and starts over on whatever CPU it now runs.
core::arch::global_asm!(
    ".text",
    ".global rseq_percpu_increment",
    ".type rseq_percpu_increment, %function",
    ".p2align 2",
    "rseq_percpu_increment:",
    "    mov x9, #0",
    ".Lrseq_retry:",
    "    ldr w3, [x0, #0]", // cpu_id_start
    "    adrp x4, rseq_increment_cs",
    "    add x4, x4, :lo12:rseq_increment_cs",
    "    str x4, [x0, #8]", // rseq_cs = &descriptor: the section is armed
    ".Lrseq_start:",
    "    ldr w5, [x0, #4]", // cpu_id: still the CPU the counter was chosen for?
    "    cmp w5, w3",
    "    b.ne .Lrseq_abort",
    "    lsl x7, x3, #6",
    "    ldr x6, [x1, x7]",
    "    add x6, x6, #1",
    "    mov x8, x2",
    ".Lrseq_delay:",
    "    cbz x8, .Lrseq_commit",
    "    sub x8, x8, #1",
    "    b .Lrseq_delay",
    ".Lrseq_commit:",
    "    str x6, [x1, x7]", // the commit: the last instruction of the section
    ".Lrseq_post_commit:",
    "    mov x0, x9",
    "    ret",
    "    .long 0xd428bc00", // the abort signature, the word before abort_ip (= SIGNATURE)
    ".Lrseq_abort:",
    "    add x9, x9, #1",
    "    b .Lrseq_retry",
    ".size rseq_percpu_increment, . - rseq_percpu_increment",
    ".section .rodata.rseq_increment_cs, \"a\"",
    ".p2align 5",
    "rseq_increment_cs:",                          // struct rseq_cs
    "    .long 0, 0",                              // version, flags
    "    .quad .Lrseq_start",                      // start_ip
    "    .quad .Lrseq_post_commit - .Lrseq_start", // post_commit_offset
    "    .quad .Lrseq_abort",                      // abort_ip
    ".text",
);

unsafe extern "C" {
    fn rseq_percpu_increment(area: *const Rseq, counters: *const Counter, window: u64) -> u64;
}

fn rseq(area: *const Rseq, length: u32, flags: u64, signature: u32) -> i64 {
    sys::syscall(nr::RSEQ, [area as u64, length.into(), flags, signature.into(), 0, 0])
}

extern "C" fn worker(index: usize) -> ! {
    let area = &AREAS[index + 1];
    if rseq(area, 32, 0, SIGNATURE) != 0 {
        ID_MISMATCHES.fetch_add(1000, Ordering::Relaxed);
        sys::exit(1);
    }
    for round in 0..INCREMENTS {
        // SAFETY: the asm follows the AAPCS64 (see its comment); `area` is this thread's registered area and
        // COUNTERS has a line for every CPU id the kernel can write into cpu_id.
        let aborts = unsafe { rseq_percpu_increment(area, COUNTERS.as_ptr(), WINDOW) };
        ABORTS.fetch_add(aborts, Ordering::Relaxed);
        if round % 1024 == 0 {
            HIGHEST_MM_CID.fetch_max(area.mm_cid.load(Ordering::Relaxed), Ordering::Relaxed);
        }
    }
    DONE.fetch_add(1, Ordering::Release);
    sys::exit(0)
}

/// The membarrier test's worker: alone on TARGET_CPU (no preemption: nothing else runs there), it runs critical
/// sections with a long window until told to stop, counting the aborts, which only membarrier's RSEQ IPI causes.
extern "C" fn membarrier_target(_: usize) -> ! {
    sys::sched_setaffinity(0, 1 << TARGET_CPU);
    let area = &AREAS[THREADS];
    if rseq(area, 32, 0, SIGNATURE) != 0 {
        sys::exit(1);
    }
    TARGET_READY.store(1, Ordering::Release);
    while TARGET_STOP.load(Ordering::Acquire) == 0 {
        // SAFETY: as in `worker`.
        let aborts = unsafe { rseq_percpu_increment(area, COUNTERS.as_ptr(), 20_000) };
        TARGET_ABORTS.fetch_add(aborts, Ordering::Relaxed);
    }
    TARGET_READY.store(2, Ordering::Release);
    sys::exit(0)
}

/// membarrier(PRIVATE_EXPEDITED_RSEQ, FLAG_CPU, TARGET_CPU) restarts the critical section running there.
fn membarrier_restarts(check: &mut Checker) {
    use abi::membarrier::*;
    sys::sched_setaffinity(0, 1);
    check.expect(
        "REGISTER_PRIVATE_EXPEDITED_RSEQ",
        sys::membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ, 0, 0),
        0,
    );
    // SAFETY: this stack goes to this one thread, once.
    let stack = unsafe { &mut *core::ptr::addr_of_mut!(STACKS[THREADS]) };
    check.expect("clone the target", (ulib::spawn_thread(stack, membarrier_target, 0) > 0) as i64, 1);
    while TARGET_READY.load(Ordering::Acquire) == 0 {
        sys::sched_yield();
    }
    sys::nanosleep(20_000_000);
    let before = TARGET_ABORTS.load(Ordering::Relaxed);
    let mut failures = 0;
    for _ in 0..RSEQ_BARRIERS {
        let flag = MEMBARRIER_CMD_FLAG_CPU;
        if sys::membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ, flag, TARGET_CPU as i32) != 0 {
            failures += 1;
        }
        sys::nanosleep(100_000);
    }
    TARGET_STOP.store(1, Ordering::Release);
    while TARGET_READY.load(Ordering::Acquire) != 2 {
        sys::nanosleep(1_000_000);
    }
    let aborts = TARGET_ABORTS.load(Ordering::Relaxed) - before;
    println!("  rseq: {RSEQ_BARRIERS} membarrier(PRIVATE_EXPEDITED_RSEQ) to CPU {TARGET_CPU}: {aborts} aborts there");
    check.expect("membarrier RSEQ calls", failures, 0);
    check.expect("membarrier RSEQ restarted the section on the target CPU", (aborts >= RSEQ_BARRIERS / 4) as i64, 1);
    sys::sched_setaffinity(0, 0xf);
}

/// Registration errnos and the ids, on the main thread.
fn conformance(check: &mut Checker) {
    let area = &AREAS[0];
    check.expect("misaligned area", rseq((area as *const Rseq).wrapping_byte_add(4), 32, 0, SIGNATURE), EINVAL);
    check.expect("short area", rseq(area, 16, 0, SIGNATURE), EINVAL);
    check.expect("unknown flags", rseq(area, 32, 2, SIGNATURE), EINVAL);
    check.expect("kernel address", rseq(0xffff_ff80_4000_0000 as *const Rseq, 32, 0, SIGNATURE), EFAULT);
    check.expect("unregister unregistered", rseq(area, 32, 1, SIGNATURE), EINVAL);
    check.expect("register", rseq(area, 32, 0, SIGNATURE), 0);
    check.expect("register again", rseq(area, 32, 0, SIGNATURE), EBUSY);
    check.expect("register again, other signature", rseq(area, 32, 0, SIGNATURE + 1), EPERM);
    check.expect("register another area", rseq(&AREAS[1], 32, 0, SIGNATURE), EINVAL);
    check.expect("cpu_id is getcpu", area.cpu_id.load(Ordering::Relaxed).into(), sys::getcpu());
    check.expect("cpu_id_start is cpu_id", area.cpu_id_start.load(Ordering::Relaxed).into(), sys::getcpu());
    check.expect("node_id", area.node_id.load(Ordering::Relaxed).into(), 0);
    check.expect("mm_cid of the only thread", area.mm_cid.load(Ordering::Relaxed).into(), 0);
    // Moved to CPU 2: the ids follow on the way back from sched_setaffinity.
    sys::sched_setaffinity(0, 1 << 2);
    check.expect("cpu_id after a migration", area.cpu_id.load(Ordering::Relaxed).into(), 2);
    sys::sched_setaffinity(0, 0xf);
    check.expect("unregister, other signature", rseq(area, 32, 1, SIGNATURE + 1), EPERM);
    check.expect("unregister, other length", rseq(area, 64, 1, SIGNATURE), EINVAL);
    check.expect("unregister", rseq(area, 32, 1, SIGNATURE), 0);
    check.expect("cpu_id after unregistering", area.cpu_id.load(Ordering::Relaxed).into(), u32::MAX.into());
}

/// `struct rseq_cs`.
#[repr(C, align(32))]
struct CriticalSection {
    version: u32,
    flags: u32,
    start_ip: u64,
    post_commit_offset: u64,
    abort_ip: u64,
}

/// The word before a fake abort handler: not the registered signature.
static NOT_THE_SIGNATURE: [u32; 2] = [SIGNATURE ^ 1, 0];

/// `rseq bad-signature`: a descriptor whose abort handler lacks the signature. Linux validates the descriptor
/// on the first return to user mode after a preemption or migration (even with the PC outside the section)
/// and kills the thread with SIGSEGV: this must end with status 139 at the migration below.
fn bad_signature() -> i32 {
    let area = &AREAS[0];
    if rseq(area, 32, 0, SIGNATURE) != 0 {
        println!("rseq bad-signature: registration failed");
        return 1;
    }
    let abort_ip = NOT_THE_SIGNATURE.as_ptr() as u64 + 4;
    let section = CriticalSection { version: 0, flags: 0, start_ip: abort_ip + 64, post_commit_offset: 16, abort_ip };
    area.rseq_cs.store(&section as *const CriticalSection as u64, Ordering::Relaxed);
    println!("rseq bad-signature: migrating with a bad descriptor armed");
    sys::sched_setaffinity(0, 1 << 1);
    sys::sched_setaffinity(0, 1 << 2);
    println!("rseq bad-signature: FAILED: still running after two migrations");
    1
}

fn main(args: ulib::Args) -> i32 {
    if args.get(1) == "bad-signature" {
        return bad_signature();
    }
    let broken = args.get(1) == "broken";
    let mut check = Checker::new(if broken { "rseq(BROKEN kernel)" } else { "rseq" });
    if !broken {
        conformance(&mut check);
        membarrier_restarts(&mut check);
        // The counters start again from 0 for the per-CPU test.
        for counter in &COUNTERS {
            counter.0.store(0, Ordering::Relaxed);
        }
    }
    for index in 0..THREADS {
        // SAFETY: each stack goes to one thread, once.
        let stack = unsafe { &mut *core::ptr::addr_of_mut!(STACKS[index]) };
        check.expect("clone", (ulib::spawn_thread(stack, worker, index) > 0) as i64, 1);
    }
    while DONE.load(Ordering::Acquire) < THREADS as u32 {
        sys::nanosleep(5_000_000);
    }
    let total: u64 = COUNTERS.iter().map(|counter| counter.0.load(Ordering::Relaxed)).sum();
    let expected = THREADS as u64 * INCREMENTS;
    println!(
        "  rseq: {THREADS} threads x {INCREMENTS} per-CPU increments: total {total} of {expected} ({} lost), {} \
         aborts, per CPU {:?}",
        expected - total,
        ABORTS.load(Ordering::Relaxed),
        [0, 1, 2, 3].map(|cpu| COUNTERS[cpu].0.load(Ordering::Relaxed))
    );
    check.expect("threads registered", ID_MISMATCHES.load(Ordering::Relaxed).into(), 0);
    check.expect("mm_cid below the CPU count", (HIGHEST_MM_CID.load(Ordering::Relaxed) < 4) as i64, 1);
    if broken {
        check.expect("increments lost without the abort fixup", (total < expected) as i64, 1);
    } else {
        check.expect("no increment lost", total as i64, expected as i64);
        check.expect("some sections aborted", (ABORTS.load(Ordering::Relaxed) > 0) as i64, 1);
    }
    check.finish()
}
ulib::entry!(main);
