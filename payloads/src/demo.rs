//! The demo workload of `cargo xtask qemu`: several processes with several threads each on four cores.

use alloc::format;
use alloc::string::String;
use core::sync::atomic::{AtomicI64, Ordering};

use kernel::println;
use kernel::process;
use kernel::smp::wait_running_tasks;

/// Runs the `--user` command lines if xtask gave any, else the built-in demo. Returns the exit status for
/// QEMU: 0 when every program exited 0, else the first non-zero status.
pub fn run() -> i32 {
    if !crate::user_programs::USER_RUN.is_empty() {
        return run_user_command_lines();
    }
    let Some(image) = crate::user_programs::find("threads") else {
        println!("demo: no embedded user programs (build with cargo xtask)");
        return 1;
    };
    let processes: alloc::vec::Vec<_> = (0..3)
        .filter_map(|index| {
            let name = alloc::format!("demo{index}");
            process::spawn_process(image, &[name.as_str(), "4"], Some(index % 4))
                .map_err(|error| println!("demo: cannot start {name}: {error}"))
                .ok()
        })
        .collect();
    let finished = wait_running_tasks(60_000, || processes.iter().all(|process| process.is_finished()));
    let all_zero = processes.iter().all(|process| process.is_finished() && process.exit_status() == 0);
    println!("demo: {} processes {}", processes.len(), if finished && all_zero { "exited 0" } else { "FAILED" });
    if !(finished && all_zero) {
        return 1;
    }
    if let Err(error) = kernel_thread_adopting_an_mm() {
        println!("demo: kthread_use_mm: {error}");
        return 1;
    }
    // The BROKEN builds of the barrier audit that remove the exit or the kthread_unuse_mm barrier need only the
    // exits and adoptions above; KERNEL_DEMO_SWITCHING=off keeps their runs short.
    if option_env!("KERNEL_DEMO_SWITCHING") == Some("off") {
        println!("demo: switching workload skipped (KERNEL_DEMO_SWITCHING=off)");
        return 0;
    }
    switching_demo()
}

/// Times the demo's kernel thread adopts the mailbox process's mm (each one a `kthread_use_mm` /
/// `kthread_unuse_mm` pair, so one check of the barrier audit's `kthread_unuse_mm` point).
const ADOPTIONS: usize = 100;

/// 1 when the adopting kernel thread is done and wrote the message, negative when it failed.
static ADOPTING_THREAD_RESULT: AtomicI64 = AtomicI64::new(0);

/// A kernel thread works on a process's memory through `kthread_use_mm` (as Linux's io_uring and vhost
/// workers do), [`ADOPTIONS`] times: the mailbox program waits until the last adoption writes its message.
fn kernel_thread_adopting_an_mm() -> Result<(), String> {
    ADOPTING_THREAD_RESULT.store(0, Ordering::Relaxed);
    let image = crate::user_programs::find("mailbox").ok_or("mailbox is not embedded")?;
    let mailbox = process::spawn_process(image, &["mailbox", "waiting-for-kernel", "starting"], None)?;
    // It says it runs in argv[2] (then its mm is live and published): a handshake, not a guessed delay.
    let running_flag = mailbox.argv_addresses[2] as usize;
    let reads_running = || {
        let mut text = [0u8; 8];
        mailbox.with_live_address_space(|space| space.copy_from_user(running_flag, &mut text).is_ok()) == Some(true)
            && &text == b"running!"
    };
    if !wait_running_tasks(10_000, reads_running) {
        return Err("mailbox did not start within 10 s".into());
    }
    process::spawn_kernel_thread(adopting_thread, mailbox.pid as usize, process::all_cpus())
        .map_err(|error| format!("cannot start the kernel thread: {error:?}"))?;
    if !wait_running_tasks(30_000, || mailbox.is_finished() && ADOPTING_THREAD_RESULT.load(Ordering::Acquire) != 0) {
        return Err("mailbox or the kernel thread still running after 30 s".into());
    }
    let result = ADOPTING_THREAD_RESULT.load(Ordering::Acquire);
    if result != 1 || mailbox.exit_status() != 0 {
        return Err(format!("kernel thread result {result}, mailbox exit status {}", mailbox.exit_status()));
    }
    println!("demo: a kernel thread adopted the mm of mailbox {ADOPTIONS} times (kthread_use_mm), mailbox exited 0");
    Ok(())
}

fn adopting_thread(pid: usize) {
    let outcome = (|| {
        let task = process::thread_task(pid as u32).ok_or(-3)?;
        let mailbox = process::process_of(pid as u32).ok_or(-3)?;
        let mm = task.mm().ok_or(-14)?.mmget();
        let message = mailbox.argv_addresses[1] as usize;
        let mut result = Ok(());
        for adoption in 1..=ADOPTIONS {
            process::kthread_use_mm(&mm);
            let mut text = [0u8; 18];
            result = mm.arch().copy_from_user(message, &mut text);
            if result.is_ok() && adoption == ADOPTIONS {
                result = mm.arch().write_through_ttbr0(message, b"written-by-kernel!");
            }
            process::kthread_unuse_mm();
            if result.is_err() {
                break;
            }
        }
        mm.mmput();
        result.map_err(|_| -14)
    })();
    ADOPTING_THREAD_RESULT.store(outcome.map_or_else(|code| code, |()| 1), Ordering::Release);
}

/// Litmus iterations per switching CPU in the demo.
const DEMO_LITMUS_ITERATIONS: u64 = 1_000;

/// The switching workload on four cores: on CPUs 1 and 2, user thread T1, kernel thread K and user thread T2 of
/// one process take turns while membarrier callers on CPUs 3 and 0 run the store-buffering litmus against T2.
fn switching_demo() -> i32 {
    println!(
        "demo: switching workload: T1 -> K -> T2 on CPUs {:?}, membarrier(PRIVATE_EXPEDITED) callers on the others",
        crate::switching::SWITCHING_CPUS
    );
    match crate::switching::run("membarrier", DEMO_LITMUS_ITERATIONS, crate::switching::SWITCHING_CPUS.len()) {
        Ok(report) => {
            crate::switching::print_table("demo: per-CPU scheduler statistics", &report.stats);
            if let Err(error) = &report.mm_released {
                println!("demo: {error}");
            }
            if report.exit_status == 0 && report.mm_released.is_ok() {
                0
            } else {
                1
            }
        }
        Err(error) => {
            println!("demo: switching workload failed: {error}");
            1
        }
    }
}

/// Status for a file that could not be started (the shell's "cannot execute").
const CANNOT_EXECUTE: i32 = 126;

fn run_user_command_lines() -> i32 {
    let before = crate::switching::snapshot();
    let mut first_failure = 0i32;
    for command_line in crate::user_programs::USER_RUN {
        // [embedded name, argv[0] (the file's name), arguments...]
        let name = command_line[0];
        let argv = &command_line[1..];
        let Some(image) = crate::user_programs::find(name) else {
            println!("run: {name}: not embedded");
            first_failure = if first_failure == 0 { CANNOT_EXECUTE } else { first_failure };
            continue;
        };
        println!("run: {}", argv.join(" "));
        match process::spawn_process(image, argv, None) {
            Ok(process) => {
                process.wait_finished();
                let status = process.exit_status();
                println!("run: {} exited with status {status}", argv[0]);
                if status != 0 && first_failure == 0 {
                    first_failure = status;
                }
            }
            Err(error) => {
                println!("run: {}: cannot execute: {error}", argv[0]);
                if first_failure == 0 {
                    first_failure = CANNOT_EXECUTE;
                }
            }
        }
    }
    let after = crate::switching::snapshot();
    let stats: alloc::vec::Vec<_> =
        (0..core_sched::MAX_CPUS).map(|cpu| crate::switching::difference(&after[cpu], &before[cpu])).collect();
    crate::switching::print_table("per-CPU scheduler statistics", &stats);
    first_failure
}
