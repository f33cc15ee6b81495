//! In-kernel tests of user tasks: EL0 programs embedded in the image, run as processes on four cores.

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicI64, Ordering};

use kernel::println;
use kernel::process::{self, Process};
use kernel::smp::wait_running_tasks;

use crate::harness::Test;

/// The user-task tests.
pub const TESTS: &[Test] = &[
    Test { name: "user_hello_runs_at_el0", run: hello },
    Test { name: "user_syscalls_reject_bad_arguments", run: syscalls },
    Test { name: "user_processes_are_isolated", run: isolation },
    Test { name: "user_threads_share_memory_in_parallel", run: threads_parallel },
    Test { name: "user_fp_simd_state_survives_switches_and_clone", run: fp_state },
    Test { name: "user_preemption_with_more_threads_than_cores", run: preemption },
    Test { name: "user_process_cpu_time_never_goes_back_as_threads_exit", run: process_cpu_time },
    Test { name: "user_callee_saved_registers_survive_migrating_blocking_system_calls", run: callee_saved },
    Test { name: "user_faults_kill_only_the_task", run: faults },
    Test { name: "user_cannot_execute_kernel_memory_and_sigbus_on_misaligned_sp", run: hardening },
    Test { name: "user_signals_default_actions_end_the_process", run: signals },
    Test { name: "user_memory_regions_first_touch_brk_mmap_mremap_stack_threads", run: vm_suite },
    Test { name: "user_store_after_mprotect_read_only_kills_the_process", run: vm_write_read_only },
    Test { name: "user_store_below_the_stack_region_kills_the_process", run: vm_stack_overflow },
    Test { name: "user_out_of_memory_kills_only_that_process", run: vm_out_of_memory },
    Test { name: "memory_calls_leave_no_leaks", run: vm_no_leaks },
    Test { name: "malformed_elf_fails_to_spawn_and_the_kernel_survives", run: malformed_elf },
    Test { name: "initial_stack_and_auxv_match_linux_with_fresh_at_random", run: auxv },
    Test { name: "static_pie_loads_at_a_random_base_and_relocates_itself", run: static_pie },
    Test { name: "exited_processes_leave_no_leaks", run: no_leaks },
    Test { name: "fuzz_leaves_the_kernel_intact", run: fuzz },
    Test { name: "exited_process_memory_is_free_while_its_mm_is_held_lazily", run: memory_free_at_exit },
    Test { name: "exit_group_ends_spinning_and_sleeping_threads", run: exit_group },
    Test { name: "nanosleep_wakes_at_its_deadline_idle_and_under_a_membarrier_storm", run: sleep_precision },
    // --- threads: futexes, the thread-id protocol, robust lists, scheduling calls ---
    Test { name: "futex_threads_and_conformance", run: futex_threads },
    // --- end threads ---
    Test { name: "rseq_per_cpu_counters_lose_nothing_and_the_broken_fixup_loses_some", run: rseq_counters },
    Test { name: "clone_at_the_thread_limit_fails_with_eagain_and_leaves_no_leaks", run: thread_limit },
    Test { name: "user_asid_rollover_keeps_isolation", run: asid_rollover },
    Test { name: "kthread_use_mm_writes_process_memory", run: kthread_use_mm },
    Test { name: "membarrier_conformance_single_thread", run: membarrier_single },
    Test { name: "membarrier_conformance_with_threads", run: membarrier_threads },
    Test { name: "hook_issues_no_barrier_for_unregistered_mm", run: hook_unregistered },
    Test { name: "litmus_control_without_membarrier_shows_reordering", run: litmus_control },
    Test { name: "switching_user_kernel_user_litmus_with_membarrier", run: switching_litmus },
];

/// Litmus iterations per switching CPU (xtask sets KERNEL_LITMUS_ITERATIONS; `--long` raises it).
fn litmus_iterations() -> u64 {
    option_env!("KERNEL_LITMUS_ITERATIONS").and_then(|text| text.parse().ok()).unwrap_or(20_000)
}

fn hook_unregistered() -> Result<(), String> {
    let before = crate::switching::snapshot();
    run_expecting(&["threads", "4"], 0)?;
    let after = crate::switching::snapshot();
    let (mut calls, mut barriers) = (0, 0);
    for cpu in 0..core_sched::MAX_CPUS {
        let delta = crate::switching::difference(&after[cpu], &before[cpu]);
        calls += delta.hook_calls;
        barriers += delta.hook_barriers;
    }
    println!("  unregistered process: {calls} hook calls, {barriers} barriers");
    if calls == 0 {
        return Err("no switch into the process called the hook".into());
    }
    if barriers != 0 {
        return Err(format!("{barriers} barriers issued for an unregistered mm"));
    }
    Ok(())
}

/// Exit status 3 of the litmus.
const TOO_FEW_ITERATIONS: &str =
    "the litmus's time budget ran out before 2% of its iterations: the host is too busy to run the vCPU handshakes";

fn litmus_control() -> Result<(), String> {
    let report = crate::switching::run("control", litmus_iterations() * 5, 1)?;
    match report.exit_status {
        2 => Ok(()),
        0 => Err("no forbidden outcome without membarrier: the litmus cannot see reordering here".into()),
        3 => Err(TOO_FEW_ITERATIONS.into()),
        status => Err(format!("litmus exited with {status}")),
    }
}

fn switching_litmus() -> Result<(), String> {
    let report = crate::switching::run("membarrier", litmus_iterations(), 1)?;
    crate::switching::print_table("  per-CPU switching statistics", &report.stats);
    let broken = cfg!(feature = "no-post-switch-barrier");
    let mut problems: Vec<String> = Vec::new();
    match (report.exit_status, broken) {
        (0, _) => {}
        (2, true) => problems.push("forbidden outcome observed (expected for the BROKEN variant)".into()),
        (2, false) => problems.push("FORBIDDEN OUTCOME observed with the post-switch barrier".into()),
        (3, _) => problems.push(TOO_FEW_ITERATIONS.into()),
        (status, _) => problems.push(format!("litmus exited with {status}")),
    }
    let mut skipped = 0;
    for &cpu in &crate::switching::SWITCHING_CPUS[..1] {
        let stats = &report.stats[cpu];
        let into_user = crate::switching::switches_into_user(stats);
        let kernel_to_user_same_mm = stats.switches[core_sched::SwitchKind::KernelThreadToUserSameMm as usize];
        if stats.hook_calls != into_user {
            problems
                .push(format!("CPU {cpu}: {} hook calls for {into_user} switches into user tasks", stats.hook_calls));
        }
        if stats.hook_barriers != stats.hook_calls {
            problems.push(format!(
                "CPU {cpu}: {} barriers for {} hook calls into a registered mm",
                stats.hook_barriers, stats.hook_calls
            ));
        }
        if kernel_to_user_same_mm == 0 {
            problems.push(format!("CPU {cpu}: no kernel thread -> user switch on the same mm"));
        }
    }
    for &cpu in &crate::switching::SWITCHING_CPUS[..1] {
        skipped += report.stats[cpu].membarrier_skipped_here_no_user_mm;
    }
    println!("  membarrier callers skipped a switching CPU while it ran no user mm (K) {skipped} times");
    if skipped == 0 {
        problems.push("the membarrier callers never skipped a CPU running K: the interesting path was not hit".into());
    }
    if let Err(error) = report.mm_released {
        problems.push(error);
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

/// The `futex` program: 8 threads on a futex mutex, a condition-variable handshake, join through the
/// clear-child-tid word, then futex/clone/scheduling-call conformance checks (one line per check).
fn futex_threads() -> Result<(), String> {
    run_expecting(&["futex"], 0)?;
    // Threads asleep in FUTEX_WAIT with no timeout and no waker end with their process's exit_group.
    run_expecting(&["futex", "exit-group"], 7)
}

/// The `rseq` program: registration conformance and the ids, then 8 threads on 4 CPUs incrementing per-CPU
/// counters in an rseq critical section under preemption: none lost. A bad abort signature kills the process
/// with SIGSEGV's status. Then again with the kernel's BROKEN
/// no-abort setting, where the program exits 0 only if increments were lost (the fixup is what prevents it).
fn rseq_counters() -> Result<(), String> {
    run_expecting(&["rseq"], 0)?;
    // A descriptor whose abort handler lacks the signature: SIGSEGV (128 + 11) at the next return to user mode
    // after a migration, as Linux.
    run_expecting(&["rseq", "bad-signature"], 139)?;
    kernel::rseq::set_broken_skip_abort(true);
    let broken = run_expecting(&["rseq", "broken"], 0);
    kernel::rseq::set_broken_skip_abort(false);
    broken.map_err(|error| format!("BROKEN variant: {error} (no increment lost without the fixup?)"))
}

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

fn signals() -> Result<(), String> {
    for (mode, status) in [("abort", 134), ("handler", 138), ("term", 143)] {
        run_expecting(&["signals", mode], status).map_err(|error| format!("{mode}: {error}"))?;
    }
    Ok(())
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

fn fp_state() -> Result<(), String> {
    run_expecting(&["threads", "fp", "4"], 0)
}

fn threads_parallel() -> Result<(), String> {
    run_expecting(&["threads", "4", "parallel"], 0)
}

fn preemption() -> Result<(), String> {
    run_expecting(&["threads", "preempt", "6"], 0)
}

fn callee_saved() -> Result<(), String> {
    run_expecting(&["threads", "callee-saved"], 0)
}

fn process_cpu_time() -> Result<(), String> {
    run_expecting(&["threads", "cputime", "96"], 0)
}

fn faults() -> Result<(), String> {
    for mode in ["kernel-read", "kernel-write", "null", "undefined", "write-code", "kernel-register"] {
        run_expecting(&["faults", mode], 139).map_err(|error| format!("{mode}: {error}"))?;
    }
    // The kernel and other tasks go on.
    run_expecting(&["hello", "after-faults"], 0)
}

/// EL0 executes neither kernel text nor the linear-map alias of its own page (139), a misaligned SP traps
/// (135, SIGBUS), and EL0 cache maintenance on its own pages works (0). Every mode runs; all failures reported.
fn hardening() -> Result<(), String> {
    let probe = format!("{:#x}", arch_arm64::kernel_map::user_exec_probe_address());
    let failures: Vec<String> = [
        run_expecting(&["faults", "kernel-exec", &probe], 139),
        alias_exec(),
        sp_misaligned(),
        run_expecting(&["faults", "cache-maintenance"], 0),
    ]
    .into_iter()
    .filter_map(Result::err)
    .collect();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("; "))
    }
}

/// `faults sp-misaligned`: killed with SIGBUS (135). QEMU does not model SP alignment checks, so there the
/// program survives, and the test checks that SCTLR_EL1.SA0 is set, which is what makes a CPU check.
fn sp_misaligned() -> Result<(), String> {
    if !arch_arm64::cpu::user_stack_alignment_checked() {
        return Err("SCTLR_EL1.SA0 is clear: a misaligned SP at EL0 is not checked".into());
    }
    match wait_all(&[start(&["faults", "sp-misaligned"])?], 30_000)?[0] {
        135 => Ok(()),
        0 => {
            println!("  note: SCTLR_EL1.SA0 is set but the CPU did not check SP alignment (QEMU does not model it)");
            Ok(())
        }
        status => Err(format!("faults sp-misaligned exited with {status}, want 135")),
    }
}

/// `faults alias-exec`: once the program runs, writes into its argv[2] the linear-map alias of the page that
/// holds argv[2], where the program has put a `ret`.
fn alias_exec() -> Result<(), String> {
    let process = start(&["faults", "alias-exec", "??????????????????"])?;
    let argument = process.argv_addresses[2] as usize;
    process
        .with_live_address_space(|space| {
            let alias = space.linear_map_alias(argument & !0xfff).ok_or("argv[2] is not mapped")?;
            space
                .copy_to_user(argument, format!("{alias:#018x}").as_bytes())
                .map_err(|error| format!("cannot write argv[2]: {error:?}"))
        })
        .ok_or("the program exited before its argument could be written")??;
    let status = wait_all(&[process], 30_000)?[0];
    if status == 139 {
        Ok(())
    } else {
        Err(format!("faults alias-exec exited with {status}, want 139"))
    }
}

/// A copy of `image` at an 8-byte aligned address (as the embedded programs are, so that a rejection is for the
/// corrupted field and not for the copy's placement), with `patch` written at `offset`.
struct PatchedImage {
    storage: Vec<u8>,
    start: usize,
    length: usize,
}

impl PatchedImage {
    fn new(image: &[u8], offset: usize, patch: &[u8]) -> PatchedImage {
        let mut storage = alloc::vec![0u8; image.len() + 8];
        let start = (8 - storage.as_ptr() as usize % 8) % 8;
        storage[start..start + image.len()].copy_from_slice(image);
        storage[start + offset..start + offset + patch.len()].copy_from_slice(patch);
        PatchedImage { storage, start, length: image.len() }
    }

    fn bytes(&self) -> &[u8] {
        &self.storage[self.start..self.start + self.length]
    }
}

/// Malformed copies of a good program, each of which panicked the kernel inside xmas-elf or ran anyway: every
/// spawn must fail with the validator's reason, and the kernel and the unmodified copy must go on running.
fn malformed_elf() -> Result<(), String> {
    // Offsets in the ELF64 header: e_ident's class and data bytes, e_phoff, e_phentsize, e_phnum.
    const CLASS: usize = 4;
    const DATA: usize = 5;
    const PHOFF: usize = 32;
    const PHENTSIZE: usize = 54;
    const PHNUM: usize = 56;
    let good = crate::user_programs::find("hello").ok_or("program hello is not embedded")?;
    let past_end = (good.len() as u64).next_multiple_of(8);
    let cases: [(&str, usize, &[u8], &str); 6] = [
        ("e_phentsize 57", PHENTSIZE, &57u16.to_le_bytes(), "e_phentsize 57 is not 56"),
        ("misaligned e_phoff", PHOFF, &68u64.to_le_bytes(), "e_phoff 0x44 is not a multiple of 8"),
        ("e_phoff past the end", PHOFF, &past_end.to_le_bytes(), "extends past the end"),
        ("e_phnum 65535", PHNUM, &u16::MAX.to_le_bytes(), "65535 program headers exceed"),
        ("32-bit class", CLASS, &[1], "32-bit ELF"),
        ("big-endian", DATA, &[2], "big-endian ELF"),
    ];
    for (name, offset, patch, reason) in cases {
        let image = PatchedImage::new(good, offset, patch);
        match process::spawn_process(image.bytes(), &["hello", "malformed"], None) {
            Ok(process) => {
                wait_all(&[process], 10_000)?;
                return Err(format!("{name}: the malformed program was spawned"));
            }
            Err(error) if error.contains(reason) => println!("  {name}: {error}"),
            Err(error) => return Err(format!("{name}: rejected for another reason than \"{reason}\": {error}")),
        }
    }
    // The kernel goes on, and the aligned copy itself is a good program.
    let copy = PatchedImage::new(good, 0, &[]);
    let process = process::spawn_process(copy.bytes(), &["hello", "after-malformed-elf"], None)?;
    match wait_all(&[process], 30_000)?[0] {
        0 => Ok(()),
        status => Err(format!("the unmodified copy exited with {status}")),
    }
}

/// What one run of the `auxv` program handed back: its AT_RANDOM bytes and its load address, in hex.
struct AuxvRun {
    random: Vec<u8>,
    load_address: u64,
}

/// Runs `program` (`auxv` or `auxv-pie`), which checks its initial stack and auxiliary vector (AT_PHDR against
/// its own ELF header, AT_ENTRY, AT_EXECFN, AT_HWCAP, AT_PAGESZ, AT_MINSIGSTKSZ, the ids...) and exits 1 if one
/// check fails, and reads back what it wrote over its arguments.
fn run_auxv(program: &str) -> Result<AuxvRun, String> {
    const RANDOM_PLACEHOLDER: &str = "________________________________";
    const ADDRESS_PLACEHOLDER: &str = "________________";
    let process = start(&[program, RANDOM_PLACEHOLDER, ADDRESS_PLACEHOLDER])?;
    let status = wait_all(core::slice::from_ref(&process), 30_000)?[0];
    if status != 0 {
        return Err(format!("{program} exited with {status} (its failed checks are printed above)"));
    }
    let random = process.read_argument(1, RANDOM_PLACEHOLDER.len()).ok_or("AT_RANDOM not handed back")?;
    let address = process.read_argument(2, ADDRESS_PLACEHOLDER.len()).ok_or("load address not handed back")?;
    let address = core::str::from_utf8(&address).ok().and_then(|text| u64::from_str_radix(text, 16).ok());
    let load_address = address.ok_or("the load address handed back is not hex")?;
    Ok(AuxvRun { random, load_address })
}

/// The static executable's auxiliary vector is Linux's, and AT_RANDOM differs between two runs.
fn auxv() -> Result<(), String> {
    let (first, second) = (run_auxv("auxv")?, run_auxv("auxv")?);
    if first.random == second.random {
        return Err(format!("AT_RANDOM repeated between runs: {}", String::from_utf8_lossy(&first.random)));
    }
    if first.load_address != second.load_address {
        return Err(format!("ET_EXEC moved: {:#x}, then {:#x}", first.load_address, second.load_address));
    }
    Ok(())
}

/// The same program as a static PIE (`ET_DYN` without PT_INTERP): it relocates itself and passes the same
/// checks (AT_PHDR and AT_ENTRY with its load address), lands at Linux's ELF_ET_DYN_BASE (two thirds of the
/// 39-bit user range) plus up to 1 GiB, and at another address on another run.
fn static_pie() -> Result<(), String> {
    const ELF_ET_DYN_BASE: u64 = 2 * (1 << 39) / 3;
    let runs = [run_auxv("auxv-pie")?, run_auxv("auxv-pie")?, run_auxv("auxv-pie")?];
    for run in &runs {
        if !(ELF_ET_DYN_BASE - (1 << 16)..ELF_ET_DYN_BASE + (1 << 30)).contains(&run.load_address) {
            return Err(format!("static PIE loaded at {:#x}, outside ELF_ET_DYN_BASE + 1 GiB", run.load_address));
        }
    }
    println!(
        "  static PIE load addresses: {:#x}, {:#x}, {:#x}",
        runs[0].load_address, runs[1].load_address, runs[2].load_address
    );
    // 2^14 possible 64 KiB-aligned positions: three equal ones mean no randomization (or odds of 2^-28).
    if runs[0].load_address == runs[1].load_address && runs[1].load_address == runs[2].load_address {
        return Err(format!("three runs at the same address {:#x}", runs[0].load_address));
    }
    if runs[0].random == runs[1].random {
        return Err("AT_RANDOM repeated between runs".into());
    }
    Ok(())
}

fn vm_suite() -> Result<(), String> {
    run_expecting(&["vm"], 0)
}

fn vm_write_read_only() -> Result<(), String> {
    run_expecting(&["vm", "write-read-only"], 139)
}

fn vm_stack_overflow() -> Result<(), String> {
    run_expecting(&["vm", "stack-overflow"], 139)
}

/// A process touches more memory than there is: the demand fault that finds no frame kills it with 137 (the
/// OOM killer's SIGKILL), every frame comes back, and the next process runs.
fn vm_out_of_memory() -> Result<(), String> {
    run_on_every_cpu()?;
    let frames_before = arch_arm64::frames::in_use();
    let process = start(&["vm", "out-of-memory"])?;
    let status = wait_all(&[process], 300_000)?[0];
    if status != 137 {
        return Err(format!("vm out-of-memory exited with {status}, want 137"));
    }
    let freed = wait_running_tasks(10_000, || arch_arm64::frames::in_use() <= frames_before + 16);
    let frames_after = arch_arm64::frames::in_use();
    println!("  page frames {frames_before} -> {frames_after} after the out-of-memory kill");
    if !freed {
        return Err(format!("{} frames still in use after the kill", frames_after - frames_before));
    }
    run_expecting(&["hello", "after-out-of-memory"], 0)
}

/// Every memory call's frames and regions are freed: after the vm programs (and the syscalls conformance
/// program) the page-frame and heap counts are back where they started.
fn vm_no_leaks() -> Result<(), String> {
    expect_no_leaks(|| {
        for _ in 0..3 {
            run_expecting(&["vm"], 0)?;
            run_expecting(&["vm", "write-read-only"], 139)?;
            run_expecting(&["syscalls"], 0)?;
        }
        Ok(())
    })
}

/// Runs `workload` between two measurements of the heap and the page frames, each after a process on every
/// CPU (so that every CPU's lazily kept mm is one of the same size); fails if frames are missing or the heap
/// grew by more than 16 KiB. A finished process has freed its pages (its threads drop the mm before it is
/// reported finished), but the last thread's kernel stack goes only once its CPU has switched away: the check
/// waits a little for it (a leak never comes back).
fn expect_no_leaks(workload: impl FnOnce() -> Result<(), String>) -> Result<(), String> {
    run_on_every_cpu()?;
    let (heap_before, frames_before) = (arch_arm64::heap::used(), arch_arm64::frames::in_use());
    workload()?;
    run_on_every_cpu()?;
    wait_running_tasks(2_000, || arch_arm64::frames::in_use() <= frames_before);
    let (heap_after, frames_after) = (arch_arm64::heap::used(), arch_arm64::frames::in_use());
    println!("  heap {heap_before} -> {heap_after} bytes, page frames {frames_before} -> {frames_after}");
    if frames_after > frames_before || heap_after > heap_before + 16 * 1024 {
        return Err(format!("heap {heap_before} -> {heap_after}, frames {frames_before} -> {frames_after}"));
    }
    Ok(())
}

/// Runs `hello` pinned to every CPU, so that every CPU's lazily kept mm is one of these (same size each time).
fn run_on_every_cpu() -> Result<(), String> {
    let image = crate::user_programs::find("hello").ok_or("program hello is not embedded")?;
    let processes = (0..kernel::smp::online_count())
        .map(|cpu| {
            process::spawn_process_with_affinity(
                image,
                &["hello", "settle"],
                Some(cpu),
                core_sched::CpuSet::single(cpu),
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    wait_all(&processes, 10_000).map(|_| ())
}

fn exit_group() -> Result<(), String> {
    run_expecting(&["threads", "exit-group"], 7)
}

/// 100 sleeps of 1 ms on CPU 0: bounds of the median and maximum elapsed CLOCK_MONOTONIC time, in microseconds,
/// alone and then with another process's three threads calling membarrier(PRIVATE_EXPEDITED) nonstop on CPUs
/// 1-3. Measured on QEMU on a busy two-core host (load 5-9): alone, median 1.05-1.13 ms, max 1.2-4.3 ms (with the
/// tick waking sleepers: median 2.1 ms, max 3.1 ms); under the storm, median 1.05-1.08 ms, 90th percentile up
/// to 3 ms, max 9-16 ms, once 613 ms (when the storm managed only 127 calls in 2 s: the host had stopped the
/// vCPUs). The guest counter follows host time, so a vCPU the host deschedules stretches a sleep: the medians
/// are the claims; the maxima only catch a sleep that never ends (a lost wakeup) with room for such stalls.
const IDLE_SLEEP_BOUNDS_US: (&str, &str) = ("1200", "100000");
const STORM_SLEEP_BOUNDS_US: (&str, &str) = ("2000", "2000000");

fn sleep_precision() -> Result<(), String> {
    let (median, max) = IDLE_SLEEP_BOUNDS_US;
    run_expecting(&["sleeps", "measure", "100", median, max, "0"], 0).map_err(|error| format!("idle: {error}"))?;
    let storm = start(&["sleeps", "storm", "3", "2000"])?;
    let (median, max) = STORM_SLEEP_BOUNDS_US;
    let sleeper = start(&["sleeps", "measure", "100", median, max, "0"])?;
    match wait_all(&[sleeper, storm], 30_000)?[..] {
        [0, 0] => Ok(()),
        [sleeper, storm] => Err(format!("under a membarrier storm: sleeper exited with {sleeper}, storm with {storm}")),
        _ => unreachable!("two processes"),
    }
}

fn no_leaks() -> Result<(), String> {
    // 60 processes and 100 threads: a leaked task would keep its 32 KiB kernel stack, a leaked mm its pages.
    expect_no_leaks(|| {
        for round in 0..20 {
            let argument = format!("round-{round}");
            run_expecting(&["threads", "2"], 0)?;
            run_expecting(&["faults", "null"], 139)?;
            run_expecting(&["threads", "exit-group"], 7)?;
            run_expecting(&["hello", argument.as_str()], 0)?;
        }
        Ok(())
    })
}

/// The system-call fuzzer (user/src/bin/fuzz.rs): KERNEL_FUZZ_CALLS random calls (default 100,000) from four
/// threads with the seed xtask sets (KERNEL_FUZZ_SEED: from the time unless given, so each run fuzzes
/// differently). Passes when the kernel survives, the program finishes in time with status 0 (every call
/// returned, its own checks held) and the page frames, heap and kernel stacks come back to where they were.
/// They come back with a delay: the last exited task's stack is freed once its CPU has switched away for good,
/// so the check waits for them (a leak never comes back).
fn fuzz() -> Result<(), String> {
    let seed = option_env!("KERNEL_FUZZ_SEED").unwrap_or("1");
    let calls = option_env!("KERNEL_FUZZ_CALLS").unwrap_or("100000");
    let reproduce = format!("seed {seed}; reproduce: cargo xtask qemu --user 'fuzz {seed} {calls}'");
    println!("  fuzz {reproduce}");
    run_on_every_cpu()?;
    let counts = || (arch_arm64::heap::used(), arch_arm64::frames::in_use(), arch_arm64::kernel_stacks::in_use());
    let before = counts();
    let process = start(&["fuzz", seed, calls])?;
    match wait_all(&[process], 300_000) {
        Ok(statuses) if statuses[0] == 0 => {}
        Ok(statuses) => return Err(format!("fuzz {seed} {calls} exited with {} ({reproduce})", statuses[0])),
        Err(error) => return Err(format!("fuzz {seed} {calls}: {error} ({reproduce})")),
    }
    run_on_every_cpu()?;
    let is_back = |(heap, frames, stacks): (usize, usize, usize)| {
        heap <= before.0 + 16 * 1024 && frames <= before.1 && stacks <= before.2
    };
    let back = wait_running_tasks(5_000, || is_back(counts()));
    let after = counts();
    println!(
        "  heap {} -> {} bytes, page frames {} -> {}, kernel stacks {} -> {}",
        before.0, after.0, before.1, after.1, before.2, after.2
    );
    if !back {
        return Err(format!("leak after fuzzing: {before:?} -> {after:?} (heap, frames, stacks; {reproduce})"));
    }
    Ok(())
}

/// `hello` with its PT_GNU_STACK program header turned into a read-write zero-fill PT_LOAD segment of
/// `bytes` at 64 GiB: the loader maps and zeroes every page of it before the program starts (ELF segments are
/// mapped eagerly), so the process holds that much memory until it exits.
fn hello_holding(bytes: u64) -> Result<PatchedImage, String> {
    const PT_LOAD: u32 = 1;
    const PT_GNU_STACK: u32 = 0x6474_e551;
    const READ_WRITE: u32 = 0b110;
    const ZERO_FILL_ADDRESS: u64 = 64 << 30;
    let good = crate::user_programs::find("hello").ok_or("program hello is not embedded")?;
    let read_u64 = |at: usize| u64::from_le_bytes(good[at..at + 8].try_into().unwrap());
    let (table, count) = (read_u64(32) as usize, u16::from_le_bytes([good[56], good[57]]) as usize);
    let stack_header = (0..count)
        .map(|index| table + index * 56)
        .find(|&at| u32::from_le_bytes(good[at..at + 4].try_into().unwrap()) == PT_GNU_STACK)
        .ok_or("hello has no PT_GNU_STACK header to turn into a zero-fill segment")?;
    // p_type, p_flags, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align.
    let mut header = Vec::with_capacity(56);
    header.extend_from_slice(&PT_LOAD.to_le_bytes());
    header.extend_from_slice(&READ_WRITE.to_le_bytes());
    for field in [0, ZERO_FILL_ADDRESS, ZERO_FILL_ADDRESS, 0, bytes, 0x1000] {
        header.extend_from_slice(&field.to_le_bytes());
    }
    Ok(PatchedImage::new(good, stack_header, &header))
}

/// A process holding 60% of the free page frames exits: its frames must be free again at once, although the
/// idle task of the CPU it ran on keeps its mm lazily (Linux's mm_users/mm_count split: a lazy holder keeps
/// only the root table and the ASID). Before the split, the lazy reference kept every page until that CPU
/// switched to another process, and a second big program ran out of memory.
fn memory_free_at_exit() -> Result<(), String> {
    const HOG_CPU: usize = 1;
    run_on_every_cpu()?;
    let frames_before = arch_arm64::frames::in_use();
    let hog_pages = arch_arm64::frames::available() * 6 / 10;
    let image = hello_holding((hog_pages * arch_arm64::layout::PAGE_SIZE) as u64)?;
    let hog_cpu = core_sched::CpuSet::single(HOG_CPU);
    let process =
        process::spawn_process_with_affinity(image.bytes(), &["hello", "memory-hog"], Some(HOG_CPU), hog_cpu)?;
    // The spawn mapped (and zeroed) every page of the zero-fill segment; the hog may already be exiting.
    let frames_loaded = arch_arm64::frames::in_use();
    let status = wait_all(core::slice::from_ref(&process), 60_000)?[0];
    if status != 0 {
        return Err(format!("the hog exited with {status}"));
    }
    // Finished is set just before the last thread's exit drops its user reference, which frees the pages. The
    // lazily kept root replaces the root of CPU 1's previous lazy mm, freed meanwhile: the count comes back to
    // where it was (a little slack, against thousands of pages held before the split).
    let freed = wait_running_tasks(10_000, || arch_arm64::frames::in_use() <= frames_before + 16);
    let frames_after = arch_arm64::frames::in_use();
    // A plain `Arc` to the mm CPU 1's idle task holds lazily, if it does: it keeps the `Mm` readable, not its
    // memory.
    let lazy = kernel::smp::idle_lazy_mm(HOG_CPU).filter(|active| active.id() == process.mm_id());
    println!(
        "  hog of {hog_pages} pages: frames {frames_before} -> {frames_loaded} loaded -> {frames_after} after exit; \
         CPU {HOG_CPU}'s idle task holds its mm lazily: {:?}",
        lazy.as_ref().map(|mm| (mm.users(), mm.count(), mm.arch().owned_frames()))
    );
    if !freed {
        return Err(format!("{} frames still in use after the hog exited", frames_after - frames_before));
    }
    let Some(mm) = lazy else {
        println!("  (CPU {HOG_CPU} switched to another address space meanwhile: no lazy holder to check)");
        return Ok(());
    };
    if mm.users() != 0 || mm.arch().owned_frames() != 1 {
        return Err(format!("the lazily held mm keeps {} frames, want only its root", mm.arch().owned_frames()));
    }
    // Another process on every CPU: the last lazy reference goes, and the root with it.
    run_on_every_cpu()?;
    if !mm.is_freed() || mm.arch().owned_frames() != 0 {
        return Err(format!("the hog's mm was not freed after every CPU switched away: {mm:?}"));
    }
    Ok(())
}

/// How much the heap may grow over a thread-limit run: see [`thread_limit`].
const RUN_QUEUE_GROWTH_ALLOWANCE: usize = 64 * 1024;

/// `threads limit`: a process clones sleeping threads until clone fails; it must fail with EAGAIN near the
/// thread limit (not panic the kernel, as it did when kernel stacks came from the heap), and when the process is
/// gone every kernel stack, page frame and heap byte must be back. The first run is a warm-up: it grows the run
/// queues to their size for that many threads, which they keep. How many tasks a CPU's queue holds at once
/// varies from run to run, so the measured run may still double one or two of them (16 KB each from 2048 to
/// 4096 entries; 16-33 KB was seen): the heap may grow by [`RUN_QUEUE_GROWTH_ALLOWANCE`], far less than anything
/// kept per thread would take (thousands of threads).
fn thread_limit() -> Result<(), String> {
    let limit = process::threads_max();
    // Tasks that may exist besides the program's threads: the payload's own and a few the harness leaves.
    let minimum = format!("{}", limit.saturating_sub(32));
    let run = || -> Result<(), String> {
        let process = start(&["threads", "limit", minimum.as_str()])?;
        match wait_all(&[process], 300_000)?[0] {
            0 => Ok(()),
            status => Err(format!("threads limit exited with {status} (threads-max {limit})")),
        }
    };
    run()?;
    run_on_every_cpu()?;
    let before = (arch_arm64::heap::used(), arch_arm64::frames::in_use(), arch_arm64::kernel_stacks::in_use());
    run()?;
    run_on_every_cpu()?;
    // A process is finished when its last thread starts exiting; that thread frees its pages and kernel stack a
    // moment later, on its way out: give it that moment.
    let released = || arch_arm64::frames::in_use() <= before.1 && arch_arm64::kernel_stacks::in_use() <= before.2;
    wait_running_tasks(1000, released);
    let after = (arch_arm64::heap::used(), arch_arm64::frames::in_use(), arch_arm64::kernel_stacks::in_use());
    println!(
        "  threads-max {limit}; heap {} -> {} bytes, page frames {} -> {}, kernel stacks {} -> {}",
        before.0, after.0, before.1, after.1, before.2, after.2
    );
    if after.0 > before.0 + RUN_QUEUE_GROWTH_ALLOWANCE || after.1 > before.1 || after.2 > before.2 {
        return Err(format!("leak after the thread limit: {before:?} -> {after:?} (heap, frames, stacks)"));
    }
    Ok(())
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
        process::kthread_use_mm(&mm);
        let written = mm.arch().write_through_ttbr0(process.argv_addresses[1] as usize, b"written-by-kernel!");
        process::kthread_unuse_mm();
        mm.mmput();
        written.map_err(|_| -14)
    })();
    println!("  kernel worker: {outcome:?}");
    KERNEL_WORKER_RESULT.store(outcome.map_or_else(|code| code, |()| 1), Ordering::Release);
}

fn kthread_use_mm() -> Result<(), String> {
    KERNEL_WORKER_RESULT.store(0, Ordering::Relaxed);
    let process = start(&["mailbox", "waiting-for-kernel", "starting"])?;
    // Once the process runs (it says so in argv[2]), a kernel thread on another core adopts its mm and writes
    // into it.
    let argument = process.argv_addresses[2] as usize;
    let reads_running = || {
        let mut text = [0u8; 8];
        process.with_live_address_space(|space| space.copy_from_user(argument, &mut text).is_ok()) == Some(true)
            && &text == b"running!"
    };
    let running = wait_running_tasks(10_000, reads_running);
    if !running {
        return Err("mailbox did not report that it runs within 10 s".into());
    }
    process::spawn_kernel_thread(kernel_worker, process.pid as usize, process::all_cpus())
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
