//! The demo workload of `cargo xtask qemu`: several processes with several threads each on four cores.

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
    switching_demo()
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
