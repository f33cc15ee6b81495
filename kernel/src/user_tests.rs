//! In-kernel tests of user tasks: EL0 programs embedded in the image, run as processes on four cores.

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicI64, Ordering};

use crate::harness::Test;
use crate::println;
use crate::process::{self, Process, SCHED};
use crate::smp::wait_running_tasks;

/// The user-task tests.
pub const TESTS: &[Test] = &[
    Test { name: "user_hello_runs_at_el0", run: hello },
    Test { name: "user_syscalls_reject_bad_arguments", run: syscalls },
    Test { name: "user_processes_are_isolated", run: isolation },
    Test { name: "user_threads_share_memory_in_parallel", run: threads_parallel },
    Test { name: "user_preemption_with_more_threads_than_cores", run: preemption },
    Test { name: "user_faults_kill_only_the_task", run: faults },
    Test { name: "user_asid_rollover_keeps_isolation", run: asid_rollover },
    Test { name: "kthread_use_mm_writes_process_memory", run: kthread_use_mm },
    Test { name: "membarrier_conformance_single_thread", run: membarrier_single },
    Test { name: "membarrier_conformance_with_threads", run: membarrier_threads },
];

fn start(argv: &[&str]) -> Result<Arc<Process>, String> {
    let image = crate::user_programs::find(argv[0]).ok_or(format!("program {} is not embedded", argv[0]))?;
    process::spawn_process(image, argv, None)
}

fn wait_all(processes: &[Arc<Process>], timeout_ms: u64) -> Result<Vec<i32>, String> {
    if !wait_running_tasks(timeout_ms, || processes.iter().all(|process| process.is_finished())) {
        return Err(format!("processes still running after {timeout_ms} ms"));
    }
    Ok(processes.iter().map(|process| process.exit_status()).collect())
}

fn run_expecting(argv: &[&str], want: i32) -> Result<(), String> {
    let process = start(argv)?;
    let status = wait_all(&[process], 30_000)?[0];
    if status == want {
        Ok(())
    } else {
        Err(format!("{} exited with {status}, want {want}", argv.join(" ")))
    }
}

fn hello() -> Result<(), String> {
    run_expecting(&["hello", "one", "two"], 0)
}

fn syscalls() -> Result<(), String> {
    run_expecting(&["syscalls"], 0)
}

fn isolation() -> Result<(), String> {
    let processes = (0..4).map(|_| start(&["isolation"])).collect::<Result<Vec<_>, _>>()?;
    let statuses = wait_all(&processes, 30_000)?;
    if statuses.iter().all(|&status| status == 0) {
        Ok(())
    } else {
        Err(format!("exit statuses {statuses:?}"))
    }
}

fn threads_parallel() -> Result<(), String> {
    run_expecting(&["threads", "4", "parallel"], 0)
}

fn preemption() -> Result<(), String> {
    run_expecting(&["threads", "preempt", "6"], 0)
}

fn faults() -> Result<(), String> {
    for mode in ["kernel-read", "kernel-write", "null", "undefined", "write-code", "kernel-register"] {
        run_expecting(&["faults", mode], 139).map_err(|error| format!("{mode}: {error}"))?;
    }
    // The kernel and other tasks go on.
    run_expecting(&["hello", "after-faults"], 0)
}

fn asid_rollover() -> Result<(), String> {
    let before = arch_arm64::mmu::asid_rollovers();
    // The smallest ASID space that works with four cores (ASIDs 1-5), for eight live address spaces switching
    // constantly: many rollovers.
    arch_arm64::mmu::set_asid_limit(Some(6));
    let result = (|| {
        let processes = (0..8).map(|_| start(&["isolation"])).collect::<Result<Vec<_>, _>>()?;
        let statuses = wait_all(&processes, 60_000)?;
        if statuses.iter().any(|&status| status != 0) {
            return Err(format!("exit statuses {statuses:?}"));
        }
        Ok(())
    })();
    arch_arm64::mmu::set_asid_limit(None);
    result?;
    let rollovers = arch_arm64::mmu::asid_rollovers() - before;
    println!("  {rollovers} ASID generation rollovers");
    if rollovers == 0 {
        return Err("no rollover happened".into());
    }
    Ok(())
}

/// 1 when the kernel worker wrote the message, negative errno-like codes otherwise.
static KERNEL_WORKER_RESULT: AtomicI64 = AtomicI64::new(0);

fn kernel_worker(pid: usize) {
    println!("  kernel worker on CPU {} adopting the mm of process {pid}", arch_arm64::cpu::cpu_id());
    let outcome = (|| {
        let target = process::thread_task(pid as u32).ok_or(-3)?;
        let process = process::process_of(pid as u32).ok_or(-3)?;
        let mm = target.mm().ok_or(-14)?.mmget();
        SCHED.kthread_use_mm(&mm);
        let written = mm.arch().write_through_ttbr0(process.argv_addresses[1] as usize, b"written-by-kernel!");
        SCHED.kthread_unuse_mm();
        mm.mmput();
        written.map_err(|_| -14)
    })();
    println!("  kernel worker: {outcome:?}");
    KERNEL_WORKER_RESULT.store(outcome.map_or_else(|code| code, |()| 1), Ordering::Release);
}

fn kthread_use_mm() -> Result<(), String> {
    KERNEL_WORKER_RESULT.store(0, Ordering::Relaxed);
    let process = start(&["mailbox", "waiting-for-kernel"])?;
    // Let the process start, then a kernel thread on another core adopts its mm and writes into it.
    wait_running_tasks(20, || false);
    process::spawn_kernel_thread(kernel_worker, process.pid as usize, SCHED.online_cpus())
        .map_err(|error| format!("cannot start the kernel worker: {error:?}"))?;
    let status = wait_all(&[process], 30_000)?[0];
    wait_running_tasks(5_000, || KERNEL_WORKER_RESULT.load(Ordering::Acquire) != 0);
    let worker = KERNEL_WORKER_RESULT.load(Ordering::Acquire);
    if worker != 1 {
        return Err(format!("kernel worker result {worker}"));
    }
    if status != 0 {
        return Err(format!("mailbox exited with {status}"));
    }
    Ok(())
}

fn membarrier_single() -> Result<(), String> {
    run_expecting(&["membarrier"], 0)
}

fn membarrier_threads() -> Result<(), String> {
    run_expecting(&["membarrier", "threads"], 0)
}
