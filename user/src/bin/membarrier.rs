//! membarrier() conformance, after Linux's selftests (tools/testing/selftests/membarrier): every check of
//! docs/membarrier.md, first single-threaded, then again in a fresh process (argv[1] = "threads") with other
//! threads alive and running on other cores.
#![no_std]
#![no_main]

use abi::Errno;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use ulib::sys;
use ulib::{println, Checker, ThreadStack};

use abi::membarrier::{
    MEMBARRIER_CMD_FLAG_CPU as FLAG_CPU, MEMBARRIER_CMD_GET_REGISTRATIONS as GET_REGISTRATIONS,
    MEMBARRIER_CMD_GLOBAL as GLOBAL, MEMBARRIER_CMD_GLOBAL_EXPEDITED as GLOBAL_EXPEDITED,
    MEMBARRIER_CMD_PRIVATE_EXPEDITED as PRIVATE_EXPEDITED,
    MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ as PRIVATE_EXPEDITED_RSEQ,
    MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE as PRIVATE_EXPEDITED_SYNC_CORE, MEMBARRIER_CMD_QUERY as QUERY,
    MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED as REGISTER_GLOBAL_EXPEDITED,
    MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED as REGISTER_PRIVATE_EXPEDITED,
    MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ as REGISTER_PRIVATE_EXPEDITED_RSEQ,
    MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE as REGISTER_PRIVATE_EXPEDITED_SYNC_CORE,
};

static STOP: AtomicBool = AtomicBool::new(false);
static SPINS: AtomicU64 = AtomicU64::new(0);
static mut STACKS: [ThreadStack; 3] = [const { ThreadStack([0; 16384]) }; 3];

extern "C" fn busy_thread(index: usize) -> ! {
    // Spread over the other cores so that expedited commands really have CPUs to IPI.
    let mask = 1u64 << (1 + index % 3);
    sys::sched_setaffinity(0, mask);
    while !STOP.load(Ordering::Relaxed) {
        SPINS.fetch_add(1, Ordering::Relaxed);
    }
    sys::exit(0)
}

fn main(args: ulib::Args) -> i32 {
    let with_threads = args.get(1) == "threads";
    let mut check = Checker::new(if with_threads { "membarrier(threads)" } else { "membarrier(single)" });
    if with_threads {
        for index in 0..3 {
            // SAFETY: each stack goes to one thread, once.
            let stack = unsafe { &mut *core::ptr::addr_of_mut!(STACKS[index]) };
            check.expect("clone a busy thread", (ulib::spawn_thread(stack, busy_thread, index) > 0) as i64, 1);
        }
        while SPINS.load(Ordering::Relaxed) < 1000 {
            sys::sched_yield();
        }
    }
    check.expect("GET_REGISTRATIONS at start", sys::membarrier(GET_REGISTRATIONS, 0, 0), 0);
    let query = sys::membarrier(QUERY, 0, 0);
    check.expect("QUERY", query, 0x3ff);
    check.expect("QUERY has GLOBAL", (query & GLOBAL as i64 != 0) as i64, 1);
    check.expect("cmd -1", sys::membarrier(-1, 0, 0), Errno::EINVAL.to_syscall_return());
    check.expect("QUERY with flags 1", sys::membarrier(QUERY, 1, 0), Errno::EINVAL.to_syscall_return());
    check.expect("unknown cmd 1024", sys::membarrier(1024, 0, 0), Errno::EINVAL.to_syscall_return());
    check.expect(
        "PRIVATE_EXPEDITED unregistered",
        sys::membarrier(PRIVATE_EXPEDITED, 0, 0),
        Errno::EPERM.to_syscall_return(),
    );
    check.expect(
        "SYNC_CORE unregistered",
        sys::membarrier(PRIVATE_EXPEDITED_SYNC_CORE, 0, 0),
        Errno::EPERM.to_syscall_return(),
    );
    check.expect("GLOBAL", sys::membarrier(GLOBAL, 0, 0), 0);
    check.expect("GLOBAL with cpu_id ignored", sys::membarrier(GLOBAL, 0, 77), 0);
    check.expect("RSEQ unregistered", sys::membarrier(PRIVATE_EXPEDITED_RSEQ, 0, 0), Errno::EPERM.to_syscall_return());
    check.expect(
        "RSEQ unregistered with FLAG_CPU",
        sys::membarrier(PRIVATE_EXPEDITED_RSEQ, FLAG_CPU, 1),
        Errno::EPERM.to_syscall_return(),
    );
    check.expect("RSEQ with flags 2", sys::membarrier(PRIVATE_EXPEDITED_RSEQ, 2, 0), Errno::EINVAL.to_syscall_return());
    check.expect("REGISTER_PRIVATE_EXPEDITED", sys::membarrier(REGISTER_PRIVATE_EXPEDITED, 0, 0), 0);
    check.expect("GET_REGISTRATIONS", sys::membarrier(GET_REGISTRATIONS, 0, 0), 16);
    check.expect("PRIVATE_EXPEDITED", sys::membarrier(PRIVATE_EXPEDITED, 0, 0), 0);
    check.expect(
        "PRIVATE_EXPEDITED again (idempotent registration)",
        sys::membarrier(REGISTER_PRIVATE_EXPEDITED, 0, 0),
        0,
    );
    check.expect(
        "SYNC_CORE still unregistered",
        sys::membarrier(PRIVATE_EXPEDITED_SYNC_CORE, 0, 0),
        Errno::EPERM.to_syscall_return(),
    );
    check.expect("REGISTER_SYNC_CORE", sys::membarrier(REGISTER_PRIVATE_EXPEDITED_SYNC_CORE, 0, 0), 0);
    check.expect("GET_REGISTRATIONS", sys::membarrier(GET_REGISTRATIONS, 0, 0), 80);
    check.expect("SYNC_CORE", sys::membarrier(PRIVATE_EXPEDITED_SYNC_CORE, 0, 0), 0);
    check.expect("GLOBAL_EXPEDITED unregistered", sys::membarrier(GLOBAL_EXPEDITED, 0, 0), 0);
    check.expect("REGISTER_GLOBAL_EXPEDITED", sys::membarrier(REGISTER_GLOBAL_EXPEDITED, 0, 0), 0);
    check.expect("GET_REGISTRATIONS", sys::membarrier(GET_REGISTRATIONS, 0, 0), 84);
    check.expect("GLOBAL_EXPEDITED", sys::membarrier(GLOBAL_EXPEDITED, 0, 0), 0);
    check.expect("REGISTER_RSEQ", sys::membarrier(REGISTER_PRIVATE_EXPEDITED_RSEQ, 0, 0), 0);
    check.expect("GET_REGISTRATIONS", sys::membarrier(GET_REGISTRATIONS, 0, 0), 340);
    check.expect("RSEQ", sys::membarrier(PRIVATE_EXPEDITED_RSEQ, 0, 0), 0);
    for cpu in [0, 1, 3] {
        check.expect("RSEQ with FLAG_CPU", sys::membarrier(PRIVATE_EXPEDITED_RSEQ, FLAG_CPU, cpu), 0);
    }
    check.expect("RSEQ with FLAG_CPU, no such CPU", sys::membarrier(PRIVATE_EXPEDITED_RSEQ, FLAG_CPU, 99), 0);
    check.expect("RSEQ with FLAG_CPU -1 (every CPU)", sys::membarrier(PRIVATE_EXPEDITED_RSEQ, FLAG_CPU, -1), 0);
    check.expect(
        "PRIVATE_EXPEDITED with FLAG_CPU",
        sys::membarrier(PRIVATE_EXPEDITED, FLAG_CPU, 0),
        Errno::EINVAL.to_syscall_return(),
    );
    check.expect(
        "PRIVATE_EXPEDITED with flags 1",
        sys::membarrier(PRIVATE_EXPEDITED, 1, 0),
        Errno::EINVAL.to_syscall_return(),
    );
    let mut failures = 0;
    for _ in 0..200 {
        if sys::membarrier(PRIVATE_EXPEDITED, 0, 0) != 0 {
            failures += 1;
        }
    }
    check.expect("200 x PRIVATE_EXPEDITED", failures, 0);
    STOP.store(true, Ordering::Relaxed);
    if with_threads {
        println!("  membarrier(threads): busy threads spun {} times", SPINS.load(Ordering::Relaxed));
    }
    check.finish()
}
ulib::entry!(main);
