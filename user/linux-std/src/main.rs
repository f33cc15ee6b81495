//! A Rust std program whose modes (argv[1]) each exercise one part of the Linux process ABI that std relies on:
//! `hello` (println!), `vec` (Vec growth to 100 MiB, checked), `time` (Instant and thread::sleep), `args`
//! (env::args, run as `args one two three`), `exit` (process::exit with status 42), `abort` (process::abort,
//! status 134) and `threads` (std's threads and their synchronisation, threads.rs). Each mode checks its own
//! results and ends with `ok: <mode>` on success.

mod threads;

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// The status `exit` mode ends with: not 0 or 1, so that a wrong exit path cannot pass by accident.
const EXIT_MODE_STATUS: i32 = 42;
/// What `args` mode must be given after its own name.
const EXPECTED_ARGUMENTS: [&str; 3] = ["one", "two", "three"];

fn main() -> ExitCode {
    let arguments: Vec<String> = std::env::args().collect();
    let Some(mode) = arguments.get(1) else {
        println!("usage: linux-std hello|vec|time|args|exit|abort|threads");
        return ExitCode::from(2);
    };
    let result = match mode.as_str() {
        "hello" => hello(),
        "vec" => vec_growth(),
        "time" => time(),
        "args" => args(&arguments[2..]),
        "exit" => exit(),
        "abort" => abort(),
        "threads" => threads::threads(),
        other => Err(format!("unknown mode {other:?}")),
    };
    match result {
        Ok(()) => {
            println!("ok: {mode}");
            ExitCode::SUCCESS
        }
        Err(why) => {
            println!("FAILED: {mode}: {why}");
            ExitCode::FAILURE
        }
    }
}

fn hello() -> Result<(), String> {
    println!("hello from Rust std on {}", std::env::consts::ARCH);
    Ok(())
}

/// Pushes bytes one at a time until the vector holds 100 MiB, so it reallocates through every size class of the
/// allocator (small bins, then mmap'ed blocks moved by mremap or copied), then checks every byte.
fn vec_growth() -> Result<(), String> {
    const TARGET: usize = 100 << 20;
    let value_at = |index: usize| (index % 251) as u8;
    let mut bytes: Vec<u8> = Vec::new();
    let mut reallocations = 0;
    let mut last_capacity = 0;
    for index in 0..TARGET {
        bytes.push(value_at(index));
        if bytes.capacity() != last_capacity {
            last_capacity = bytes.capacity();
            reallocations += 1;
        }
    }
    if let Some(index) = (0..TARGET).find(|&index| bytes[index] != value_at(index)) {
        return Err(format!("byte {index} is {} instead of {}", bytes[index], value_at(index)));
    }
    println!("vec: grew to {} MiB in {reallocations} reallocations, every byte checked", bytes.len() >> 20);
    drop(bytes);
    Ok(())
}

/// Instant is monotonic and thread::sleep sleeps at least as long as asked (and not absurdly longer).
fn time() -> Result<(), String> {
    const SLEEP: Duration = Duration::from_millis(50);
    let started = Instant::now();
    let mut previous = started;
    for _ in 0..1000 {
        let now = Instant::now();
        if now < previous {
            return Err("Instant went backwards".into());
        }
        previous = now;
    }
    let before_sleep = Instant::now();
    std::thread::sleep(SLEEP);
    let slept = before_sleep.elapsed();
    if slept < SLEEP {
        return Err(format!("thread::sleep({SLEEP:?}) returned after {slept:?}"));
    }
    if slept > SLEEP * 100 {
        return Err(format!("thread::sleep({SLEEP:?}) took {slept:?}"));
    }
    println!("time: thread::sleep({SLEEP:?}) took {slept:?}");
    Ok(())
}

fn args(rest: &[String]) -> Result<(), String> {
    if rest != EXPECTED_ARGUMENTS {
        return Err(format!("arguments {rest:?}, expected {EXPECTED_ARGUMENTS:?}"));
    }
    println!("args: {rest:?}");
    Ok(())
}

/// Prints its `ok:` line itself, since process::exit does not return to `main`.
fn exit() -> Result<(), String> {
    println!("ok: exit (exiting with status {EXIT_MODE_STATUS})");
    // process::exit does not run destructors; stdout is line-buffered, but flush so nothing depends on that.
    std::io::stdout().flush().map_err(|error| error.to_string())?;
    std::process::exit(EXIT_MODE_STATUS);
}

fn abort() -> Result<(), String> {
    println!("abort: calling std::process::abort(), which must end this process with SIGABRT");
    std::io::stdout().flush().map_err(|error| error.to_string())?;
    std::process::abort();
}
