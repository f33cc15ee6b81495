//! The demo workload of `cargo xtask qemu`: several processes with several threads each on four cores.

use crate::println;
use crate::process;
use crate::smp::wait_running_tasks;

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
    if finished && all_zero {
        0
    } else {
        1
    }
}

/// Status for a file that could not be started (the shell's "cannot execute").
const CANNOT_EXECUTE: i32 = 126;

fn run_user_command_lines() -> i32 {
    let mut first_failure = 0i32;
    for command_line in crate::user_programs::USER_RUN {
        let name = command_line[0];
        let Some(image) = crate::user_programs::find(name) else {
            println!("run: {name}: not embedded");
            first_failure = if first_failure == 0 { CANNOT_EXECUTE } else { first_failure };
            continue;
        };
        println!("run: {}", command_line.join(" "));
        match process::spawn_process(image, command_line, None) {
            Ok(process) => {
                wait_running_tasks(u64::MAX / 2_000_000, || process.is_finished());
                let status = process.exit_status();
                println!("run: {name} exited with status {status}");
                if status != 0 && first_failure == 0 {
                    first_failure = status;
                }
            }
            Err(error) => {
                println!("run: {name}: cannot execute: {error}");
                if first_failure == 0 {
                    first_failure = CANNOT_EXECUTE;
                }
            }
        }
    }
    first_failure
}
