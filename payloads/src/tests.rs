//! The in-kernel test suite: boot, inter-processor interrupts, timer, and the deliberate kernel fault.

use alloc::format;
use alloc::string::String;

use arch_arm64::cpu::{self, MAX_CPUS};
use core_sched::CpuSet;
use kernel::println;
use kernel::smp::{self, cpu_snapshot, pings_received, wait_until};

use crate::harness::{run_tests, Test};

/// Runs every in-kernel test; true when all passed.
pub fn run_suite() -> bool {
    let mut tests = alloc::vec![
        Test { name: "smp_all_cores_online", run: all_cores_online },
        Test { name: "ipi_every_pair", run: ipi_every_pair },
        Test { name: "timer_fires_on_every_core", run: timer_fires_on_every_core },
        Test { name: "heap_alloc_free", run: heap_alloc_free },
    ];
    tests.extend(crate::user_tests::TESTS.iter().map(|test| Test { name: test.name, run: test.run }));
    run_tests("boot, user tasks, membarrier", &tests)
}

fn expected_cpus() -> usize {
    smp::board_cpu_count()
}

fn all_cores_online() -> Result<(), String> {
    for core in 0..expected_cpus() {
        let info = cpu_snapshot(core);
        if !info.online {
            return Err(format!("CPU {core} is not online"));
        }
        let (mpidr, running_el) = (info.mpidr, info.running_el);
        println!("  CPU {core}: MPIDR {mpidr:#x}, entered at EL{}, runs at EL{running_el}", info.entry_el);
        if (mpidr & 0xff) as usize != core {
            return Err(format!("CPU {core} reports MPIDR {mpidr:#x}"));
        }
        if running_el != 1 {
            return Err(format!("CPU {core} runs at EL{running_el}, not EL1"));
        }
    }
    Ok(())
}

fn send_pings_to_all_others() {
    let me = cpu::cpu_id();
    let online = smp::online_mask();
    let others: CpuSet = (0..MAX_CPUS).filter(|&cpu| cpu != me && online & (1 << cpu) != 0).collect();
    smp::send_test_pings(others);
}

fn ipi_every_pair() -> Result<(), String> {
    let cpus = expected_cpus();
    let before: [[u64; MAX_CPUS]; MAX_CPUS] = core::array::from_fn(|s| core::array::from_fn(|r| pings_received(s, r)));
    send_pings_to_all_others();
    for core in 1..cpus {
        if !smp::call_on(core, send_pings_to_all_others) {
            return Err(format!("could not post a call to CPU {core}"));
        }
    }
    let all_arrived =
        wait_until(1000, || (0..cpus).all(|s| (0..cpus).all(|r| s == r || pings_received(s, r) > before[s][r])));
    if !all_arrived {
        let missing: String = (0..cpus)
            .flat_map(|s| (0..cpus).map(move |r| (s, r)))
            .filter(|&(s, r)| s != r && pings_received(s, r) == before[s][r])
            .map(|(s, r)| format!(" {s}->{r}"))
            .collect();
        return Err(format!("IPIs not received:{missing}"));
    }
    println!("  {} IPIs delivered, every ordered pair of {cpus} cores", cpus * (cpus - 1));
    Ok(())
}

fn start_timer_1ms() {
    smp::set_timer_period_us(1000);
}

/// Back to the scheduler's tick.
fn stop_timer() {
    smp::set_timer_period_us(smp::TICK_US);
}

fn timer_fires_on_every_core() -> Result<(), String> {
    let cpus = expected_cpus();
    let before: [u64; MAX_CPUS] = core::array::from_fn(|c| cpu_snapshot(c).timer_ticks);
    start_timer_1ms();
    for core in 1..cpus {
        if !smp::call_on(core, start_timer_1ms) {
            return Err(format!("CPU {core}: its mailbox stayed busy, the timer was not started"));
        }
    }
    let ticked = wait_until(2000, || (0..cpus).all(|c| cpu_snapshot(c).timer_ticks >= before[c] + 5));
    stop_timer();
    let mut not_stopped = alloc::vec::Vec::new();
    for core in 1..cpus {
        if !smp::call_on(core, stop_timer) {
            not_stopped.push(core);
        }
    }
    if !not_stopped.is_empty() {
        return Err(format!("CPUs {not_stopped:?}: mailbox busy, the 1 ms timer was not stopped"));
    }
    let counts: String = (0..cpus).map(|c| format!(" {}", cpu_snapshot(c).timer_ticks - before[c])).collect();
    if !ticked {
        return Err(format!("timer ticks per core:{counts} (want >= 5 each)"));
    }
    println!("  timer ticks per core:{counts}");
    Ok(())
}

fn heap_alloc_free() -> Result<(), String> {
    let used_before = arch_arm64::heap::used();
    let data: alloc::vec::Vec<u64> = (0..10_000).collect();
    let sum: u64 = data.iter().sum();
    drop(data);
    if sum != 49_995_000 {
        return Err(format!("sum {sum}"));
    }
    if arch_arm64::heap::used() != used_before {
        return Err(format!("heap use {} after free, {} before", arch_arm64::heap::used(), used_before));
    }
    Ok(())
}

/// The deliberately faulting build: a kernel write to its own text must end the run with the fault report (CPU,
/// exception class and fault status, return and fault addresses) and a failure status, since kernel text is
/// mapped read-only. Returning means the write went through.
#[inline(never)] // the panic report must name it as the faulting function (xtask checks it)
pub fn run_fault_test() -> bool {
    let text = arch_arm64::kernel_map::user_exec_probe_address();
    println!("test kernel_fault_is_reported: writing to kernel text at {text:#x}");
    // The instruction already there (`ret`), so that a write that went through would change nothing.
    arch_arm64::cpu::write_u32_for_fault_test(text, 0xd65f_03c0);
    println!("the write to kernel text went through: the fault was NOT taken");
    false
}

/// The stack-overflow fault build (`KERNEL_FAULT_KIND=stack-overflow`): this kernel thread (the payload's) recurses
/// without bound; it must hit the unmapped guard page below its kernel stack and end the run with the report
/// "kernel stack overflow in task N (...)" and a failure status, instead of writing below its stack. Returning
/// means the recursion was stopped by something else.
pub fn run_stack_overflow_test() -> bool {
    println!("test kernel_stack_overflow_is_reported: recursing without bound in a kernel thread");
    let depth = recurse_without_bound(0);
    println!("the recursion returned at depth {depth}: the overflow was NOT caught");
    false
}

/// 256 bytes of locals per call, used after the recursive call, so that the compiler can neither drop them nor
/// turn the recursion into a loop.
#[inline(never)]
fn recurse_without_bound(depth: u64) -> u64 {
    let mut locals = [depth; 32];
    core::hint::black_box(&mut locals);
    if core::hint::black_box(depth) == u64::MAX {
        return depth;
    }
    recurse_without_bound(depth + 1).wrapping_add(locals[1])
}
