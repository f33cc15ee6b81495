//! `cargo xtask bench` and `cargo xtask compare`: build the `bench` payload for barrier variants, run it under
//! QEMU virt with the `insn-counter` plugin (tools/insn-counter), and report guest instructions per
//! operation, host wall time per operation, the store-buffering litmus result and the code at the
//! post-switch hook's call site. `compare` writes out/compare/{results.csv,results.md,switch-cost.svg}.

use crate::qemu::QemuRun;
use crate::{build, workspace_root, Barrier, Board, Image, Payload, VariantArgs};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// How a bench run is sized.
#[derive(clap::Args, Clone, Copy, Debug)]
pub struct BenchOptions {
    /// Measured iterations per region.
    #[arg(long, default_value_t = 1000)]
    pub iterations: u64,
    /// Repetitions of each scenario (each figure is the median of these, with min and max).
    #[arg(long, default_value_t = 5)]
    pub repetitions: u32,
    /// Store-buffering litmus iterations per switching CPU at the end of each run (kernel/src/switching.rs);
    /// 0 skips it and the litmus column shows n/a.
    #[arg(long, default_value_t = 100_000)]
    pub litmus_iterations: u64,
    /// Kill QEMU after this many seconds.
    #[arg(long, default_value_t = 600)]
    pub timeout: u64,
}

/// The variants `compare` puts side by side (the broken one is flagged wherever it appears).
const VARIANTS: [Barrier; 3] = [Barrier::Arm64, Barrier::Generic, Barrier::NoneBroken];

/// One scenario of the bench payload, as kernel/src/bench.rs names it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct ScenarioKey {
    order: usize,
    name: String,
    mm: String,
}

/// Measurements of one scenario over its repetitions.
#[derive(Clone, Debug, Default)]
struct Samples {
    iterations: u64,
    switches_per_iteration: u64,
    /// Guest instructions per iteration, one per repetition.
    instructions: Vec<f64>,
    /// Host nanoseconds per iteration, one per repetition.
    host_ns: Vec<f64>,
}

/// What one run of one variant produced.
pub struct VariantResult {
    barrier: Barrier,
    scenarios: BTreeMap<ScenarioKey, Samples>,
    litmus: Option<Litmus>,
    /// The plugin's barrier audit: (switches into a registered mm checked, those without a full barrier
    /// before the first user instruction).
    audit: Option<(u64, u64)>,
    call_site: CallSite,
}

#[derive(Clone, Debug)]
struct Litmus {
    iterations: u64,
    forbidden: u64,
}

/// The instructions at the post-switch hook's call site in `schedule`, from the disassembly.
#[derive(Clone, Debug, Default)]
struct CallSite {
    function: String,
    lines: Vec<String>,
    instructions: usize,
    barriers: usize,
}

/// Median, minimum and maximum.
#[derive(Clone, Copy, Debug)]
struct Spread {
    median: f64,
    min: f64,
    max: f64,
}

fn spread(values: &[f64]) -> Option<Spread> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    let median = if sorted.len() % 2 == 1 { sorted[middle] } else { (sorted[middle - 1] + sorted[middle]) / 2.0 };
    Some(Spread { median, min: sorted[0], max: sorted[sorted.len() - 1] })
}

/// Builds the plugin (a workspace of its own, GPL) and returns the path of the shared object.
pub fn build_plugin() -> Result<PathBuf, String> {
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace_root().join("target"), PathBuf::from)
        .join("insn-counter");
    eprintln!("==> building the insn-counter QEMU plugin (tools/insn-counter)");
    let manifest = workspace_root().join("tools/insn-counter/Cargo.toml");
    let status = Command::new(env!("CARGO"))
        .current_dir(workspace_root().join("tools/insn-counter"))
        .args(["build", "--release", "--quiet", "--manifest-path"])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target_dir)
        .status()
        .map_err(|error| format!("cannot run cargo for the plugin: {error}"))?;
    if !status.success() {
        return Err("building the insn-counter plugin failed".into());
    }
    let library = target_dir.join("release/libinsn_counter.so");
    if !library.is_file() {
        return Err(format!("{} is missing after the build", library.display()));
    }
    Ok(library)
}

/// Builds and runs the bench payload of `barrier` once, with the plugin.
pub fn run_variant(barrier: Barrier, options: BenchOptions, plugin: &Path) -> Result<VariantResult, String> {
    // The kernel reads these with option_env!; cargo rebuilds when they change.
    std::env::set_var("KERNEL_BENCH_ITERATIONS", options.iterations.to_string());
    std::env::set_var("KERNEL_BENCH_REPETITIONS", options.repetitions.to_string());
    std::env::set_var("KERNEL_BENCH_LITMUS_ITERATIONS", options.litmus_iterations.to_string());
    let variant = VariantArgs { board: Board::QemuVirt, barrier, release: true };
    let image = build(variant, Payload::Bench)?;
    let call_site = hook_call_site(&image.elf).unwrap_or_else(|error| CallSite {
        function: format!("(disassembly unavailable: {error})"),
        ..CallSite::default()
    });
    let report = image.elf.with_file_name("insn-counter.txt");
    let _ = std::fs::remove_file(&report);
    let console = run_qemu(&image, plugin, &report, options.timeout, barrier)?;
    let plugin_report = std::fs::read_to_string(&report)
        .map_err(|error| format!("the plugin wrote no report ({}): {error}", report.display()))?;
    let mut result = parse_run(barrier, &console, &plugin_report)?;
    result.call_site = call_site;
    Ok(result)
}

/// Boots `image` on QEMU virt (four cores, multi-threaded TCG, as the tests) with the plugin; returns the
/// console (also kept in console.txt next to the ELF). Fails on a non-zero exit status or a timeout, showing the
/// last console lines.
fn run_qemu(image: &Image, plugin: &Path, report: &Path, timeout: u64, barrier: Barrier) -> Result<String, String> {
    eprintln!("==> bench {}", barrier_label(barrier));
    let run = QemuRun {
        board: Board::QemuVirt,
        smp: 4,
        gdb: false,
        timeout_secs: timeout,
        echo: false,
        // audit=on: the plugin also checks every switch into a registered mm for a full barrier before the
        // first user instruction (it adds callbacks, not counted instructions, so the counts are unchanged).
        extra_arguments: vec!["-plugin".into(), format!("{},outfile={},audit=on", plugin.display(), report.display())],
    };
    let outcome = run.run(image)?;
    let console = outcome.console.join("\n");
    let console_path = image.elf.with_file_name("console.txt");
    std::fs::write(&console_path, &console).map_err(|error| format!("{}: {error}", console_path.display()))?;
    match outcome.exit_code {
        _ if outcome.timed_out => Err(format!("QEMU did not finish within {timeout} s\n{}", outcome.tail(20))),
        Some(0) => Ok(console),
        status => Err(format!("the bench run exited with {status:?}; last console lines:\n{}", outcome.tail(20))),
    }
}

/// The plugin's barrier-audit line: (switches into a registered mm checked, those without a full barrier
/// before the first user instruction).
pub fn parse_barrier_audit(plugin_report: &str) -> Option<(u64, u64)> {
    plugin_report.lines().find_map(|line| {
        let rest = line.strip_prefix("barrier-audit: ")?;
        let field = |name: &str| rest.split_whitespace().find_map(|word| word.strip_prefix(name)?.parse::<u64>().ok());
        Some((field("checked=")?, field("violations=")?))
    })
}

/// `key=value` fields of a line after `prefix`.
fn fields<'a>(line: &'a str, prefix: &str) -> Option<BTreeMap<&'a str, &'a str>> {
    let rest = line.trim().strip_prefix(prefix)?;
    Some(rest.split_whitespace().filter_map(|word| word.split_once('=')).collect())
}

fn number<T: std::str::FromStr>(fields: &BTreeMap<&str, &str>, key: &str, line: &str) -> Result<T, String> {
    fields.get(key).and_then(|text| text.parse().ok()).ok_or_else(|| format!("no {key}= in {line:?}"))
}

/// Joins the kernel's region lines with the plugin's region lines (the k-th of each) and finds the litmus.
fn parse_run(barrier: Barrier, console: &str, plugin_report: &str) -> Result<VariantResult, String> {
    let mut plugin_regions: BTreeMap<u64, (u64, u128)> = BTreeMap::new();
    for line in plugin_report.lines() {
        let Some(fields) = fields(line, "insn-counter:") else { continue };
        if !fields.contains_key("region") {
            continue;
        }
        let region = number(&fields, "region", line)?;
        plugin_regions.insert(region, (number(&fields, "instructions", line)?, number(&fields, "host_ns", line)?));
    }
    let mut scenarios: BTreeMap<ScenarioKey, Samples> = BTreeMap::new();
    let mut order: Vec<(String, String)> = Vec::new();
    let mut litmus = None;
    for line in console.lines() {
        if let Some(fields) = fields(line, "litmus:") {
            if let (Some(iterations), Some(forbidden)) = (fields.get("iterations"), fields.get("forbidden")) {
                if let (Ok(iterations), Ok(forbidden)) = (iterations.parse(), forbidden.parse()) {
                    litmus = Some(Litmus { iterations, forbidden });
                }
            }
            continue;
        }
        let Some(fields) = fields(line, "bench:") else { continue };
        if !fields.contains_key("region") || fields.contains_key("discarded") {
            continue;
        }
        let region: u64 = number(&fields, "region", line)?;
        let name = fields.get("scenario").copied().unwrap_or("?").to_string();
        let mm = fields.get("mm").copied().unwrap_or("?").to_string();
        let iterations: u64 = number(&fields, "n", line)?;
        let switches: u64 = number(&fields, "switches_per_iteration", line)?;
        let &(instructions, host_ns) =
            plugin_regions.get(&region).ok_or_else(|| format!("the plugin has no region {region} ({line:?})"))?;
        let position = match order.iter().position(|entry| entry.0 == name && entry.1 == mm) {
            Some(position) => position,
            None => {
                order.push((name.clone(), mm.clone()));
                order.len() - 1
            }
        };
        let samples = scenarios.entry(ScenarioKey { order: position, name, mm }).or_default();
        samples.iterations = iterations;
        samples.switches_per_iteration = switches;
        samples.instructions.push(instructions as f64 / iterations as f64);
        samples.host_ns.push(host_ns as f64 / iterations as f64);
    }
    if scenarios.is_empty() {
        return Err("the console has no `bench: region=` lines".into());
    }
    let audit = parse_barrier_audit(plugin_report);
    Ok(VariantResult { barrier, scenarios, litmus, audit, call_site: CallSite::default() })
}

/// llvm-objdump of the pinned toolchain (rustup component llvm-tools).
fn llvm_objdump() -> Result<PathBuf, String> {
    let output = Command::new("rustc")
        .current_dir(workspace_root())
        .args(["--print", "sysroot"])
        .output()
        .map_err(|error| format!("cannot run rustc: {error}"))?;
    let sysroot = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    let host = Command::new("rustc")
        .current_dir(workspace_root())
        .args(["-vV"])
        .output()
        .map_err(|error| format!("cannot run rustc: {error}"))?;
    let host = String::from_utf8_lossy(&host.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("host: ").map(String::from))
        .ok_or("rustc -vV names no host")?;
    let path = sysroot.join("lib/rustlib").join(host).join("bin/llvm-objdump");
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!("{} not found (rustup component add llvm-tools)", path.display()))
    }
}

/// The inclusive line range of the function whose signature line contains `needle` in `file`.
fn function_lines(file: &Path, needle: &str) -> Option<(usize, usize)> {
    let text = std::fs::read_to_string(file).ok()?;
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.iter().position(|line| line.contains(needle))?;
    let mut depth = 0i32;
    let mut opened = false;
    for (index, line) in lines.iter().enumerate().skip(start) {
        depth += line.matches('{').count() as i32 - line.matches('}').count() as i32;
        opened |= line.contains('{');
        if opened && depth <= 0 {
            return Some((start + 1, index + 1));
        }
    }
    None
}

/// Finds the post-switch hook in `schedule`: the instructions attributed (innermost inlined location) to
/// core-sched's `finish_switch_mm_hook`, the generic fallback, or the arm64 override, plus the library code
/// (atomics, barriers) inlined right around them.
fn hook_call_site(elf: &Path) -> Result<CallSite, String> {
    let root = workspace_root();
    let mut ranges: Vec<(PathBuf, (usize, usize))> = Vec::new();
    for (file, needle) in [
        ("core-sched/src/sched.rs", "fn finish_switch_mm_hook"),
        ("core-sched/src/arch.rs", "pub fn generic_membarrier_finish_switch_mm"),
        ("core-sched/src/arch.rs", "pub const fn membarrier_state_requires_barrier"),
        ("core-sched/src/arch.rs", "fn membarrier_finish_switch_mm"),
        ("arch/arm64/src/sched_arch.rs", "fn membarrier_finish_switch_mm"),
    ] {
        let path = root.join(file);
        if let Some(range) = function_lines(&path, needle) {
            ranges.push((path, range));
        }
    }
    let in_hook = |location: &str| {
        let Some((file, line)) = location.rsplit_once(':') else { return false };
        let Ok(line) = line.parse::<usize>() else { return false };
        ranges.iter().any(|(path, (start, end))| Path::new(file) == path && (*start..=*end).contains(&line))
    };
    let is_library = |location: &str| !location.starts_with(&*root.to_string_lossy());
    let output = Command::new(llvm_objdump()?)
        .args(["-d", "--no-show-raw-insn", "-l", "--demangle"])
        .arg(elf)
        .output()
        .map_err(|error| format!("cannot run llvm-objdump: {error}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    // (function, [(location, instruction text)]) for `schedule`.
    let mut function = String::new();
    let mut instructions: Vec<(String, String)> = Vec::new();
    let mut location = String::new();
    let mut inside = false;
    for line in text.lines() {
        if line.ends_with(">:") {
            if inside {
                break;
            }
            // `core_sched::sched::Scheduler$LT$A$GT$::schedule::h...` (llvm-objdump leaves `$LT$` escapes).
            inside = line.contains("core_sched::sched::Scheduler") && line.contains("::schedule::");
            if inside {
                function = line.split_once(' ').map_or(line, |(_, name)| name).trim_end_matches(':').to_string();
            }
            continue;
        }
        if !inside {
            continue;
        }
        if let Some(source) = line.strip_prefix("; ") {
            location = source.trim().to_string();
        } else if let Some((address, instruction)) = line.split_once(':') {
            let address = address.trim();
            if address.is_empty() || !address.chars().all(|c| c.is_ascii_hexdigit()) {
                continue;
            }
            let instruction = instruction.trim().replace('\t', " ");
            let instruction = instruction.split(" <").next().unwrap_or(&instruction).to_string();
            instructions.push((location.clone(), format!("{address}: {instruction}")));
        }
    }
    if instructions.is_empty() {
        return Err("no schedule() function in the disassembly".into());
    }
    let hits: Vec<usize> = (0..instructions.len()).filter(|&index| in_hook(&instructions[index].0)).collect();
    let (Some(&first), Some(&last)) = (hits.first(), hits.last()) else {
        return Err("no instruction of schedule() comes from the hook".into());
    };
    // Widen by the inlined library code (atomic counters, fence, dmb) adjacent to the hook's own lines.
    let mut start = first;
    while start > 0 && first - start < 8 && is_library(&instructions[start - 1].0) {
        start -= 1;
    }
    let mut end = last;
    while end + 1 < instructions.len() && end - last < 8 && is_library(&instructions[end + 1].0) {
        end += 1;
    }
    let mut lines = Vec::new();
    let mut previous = String::new();
    for (location, instruction) in &instructions[start..=end] {
        if *location != previous {
            let short = location.strip_prefix(&format!("{}/", root.display())).unwrap_or(location);
            let short = short.rsplit_once("/library/").map_or(short.to_string(), |(_, tail)| format!("library/{tail}"));
            let short =
                short.rsplit_once("/src/asm/").map_or(short.clone(), |(_, tail)| format!("aarch64-cpu asm/{tail}"));
            lines.push(format!("; {short}"));
            previous = location.clone();
        }
        lines.push(format!("  {instruction}"));
    }
    let slice = &instructions[start..=end];
    Ok(CallSite {
        function,
        instructions: slice.len(),
        barriers: slice
            .iter()
            .filter(|(_, instruction)| instruction.contains(" dmb ") || instruction.ends_with("dmb ish"))
            .count(),
        lines,
    })
}

fn barrier_label(barrier: Barrier) -> String {
    match barrier {
        Barrier::NoneBroken => "none-BROKEN (no post-switch barrier, for tests only)".into(),
        other => other.name().into(),
    }
}

fn format_spread(spread: Option<Spread>) -> String {
    match spread {
        Some(s) if format!("{:.1}", s.min) == format!("{:.1}", s.max) => format!("{:.1}", s.median),
        Some(s) => format!("{:.1} [{:.1}..{:.1}]", s.median, s.min, s.max),
        None => "n/a".into(),
    }
}

/// Per-switch figures of a scenario (None when it has no switches).
fn per_switch(samples: &Samples, values: &[f64]) -> Option<Spread> {
    if samples.switches_per_iteration == 0 {
        return None;
    }
    let divided: Vec<f64> = values.iter().map(|value| value / samples.switches_per_iteration as f64).collect();
    spread(&divided)
}

/// The ordering column: the litmus forbidden count, and the barrier audit (switches into a registered mm
/// with no full barrier before the first user instruction / switches checked).
fn litmus_text(result: &VariantResult) -> String {
    let litmus = match &result.litmus {
        Some(litmus) => {
            let flag = if litmus.forbidden > 0 { " FORBIDDEN SEEN" } else { "" };
            format!("{}/{}{flag}", litmus.forbidden, litmus.iterations)
        }
        None => "n/a".into(),
    };
    let audit = match result.audit {
        Some((checked, violations)) => {
            let flag = if violations > 0 { " NO BARRIER" } else { "" };
            format!("audit {violations}/{checked}{flag}")
        }
        None => "audit n/a".into(),
    };
    format!("{litmus}; {audit}")
}

/// The rows of the results table: one per variant and scenario.
fn table_rows(results: &[VariantResult]) -> Vec<[String; 8]> {
    let mut rows = Vec::new();
    for result in results {
        for (key, samples) in &result.scenarios {
            rows.push([
                barrier_label(result.barrier).split(' ').next().unwrap_or("").to_string(),
                key.name.clone(),
                key.mm.clone(),
                format!("{}", samples.iterations),
                format_spread(spread(&samples.instructions)),
                format_spread(per_switch(samples, &samples.instructions)),
                format_spread(per_switch(samples, &samples.host_ns).or_else(|| spread(&samples.host_ns))),
                litmus_text(result),
            ]);
        }
    }
    rows
}

const HEADERS: [&str; 8] = [
    "variant",
    "scenario",
    "mm",
    "n",
    "guest insns / iteration",
    "guest insns / switch",
    "host ns / switch (or / call)",
    "litmus forbidden; barrier audit",
];

fn print_table(results: &[VariantResult]) {
    let rows = table_rows(results);
    let mut widths = HEADERS.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let line = |cells: &[String]| {
        cells.iter().zip(widths).map(|(cell, width)| format!("{cell:<width$}")).collect::<Vec<_>>().join(" | ")
    };
    println!("{}", line(&HEADERS.map(String::from)));
    println!("{}", widths.map(|width| "-".repeat(width)).join("-|-"));
    for row in &rows {
        println!("{}", line(row));
    }
}

fn print_call_sites(results: &[VariantResult]) {
    for result in results {
        let site = &result.call_site;
        println!(
            "\npost-switch hook in schedule() for {}: {} instructions, {} dmb",
            barrier_label(result.barrier),
            site.instructions,
            site.barriers
        );
        for line in &site.lines {
            println!("  {line}");
        }
    }
}

fn write_csv(results: &[VariantResult], path: &Path) -> Result<(), String> {
    let mut text = String::from(
        "variant,scenario,mm,n,switches_per_iteration,insns_per_iteration_median,insns_per_iteration_min,insns_per_iteration_max,insns_per_switch_median,host_ns_per_iteration_median,host_ns_per_iteration_min,host_ns_per_iteration_max,repetitions,litmus_iterations,litmus_forbidden,hook_site_instructions,hook_site_dmb\n",
    );
    for result in results {
        for (key, samples) in &result.scenarios {
            let instructions = spread(&samples.instructions).expect("at least one sample");
            let host = spread(&samples.host_ns).expect("at least one sample");
            let per_switch =
                per_switch(samples, &samples.instructions).map_or(String::new(), |s| format!("{:.1}", s.median));
            let (litmus_iterations, forbidden) = result
                .litmus
                .as_ref()
                .map_or((String::new(), String::new()), |l| (l.iterations.to_string(), l.forbidden.to_string()));
            let _ = writeln!(
                text,
                "{},{},{},{},{},{:.1},{:.1},{:.1},{},{:.1},{:.1},{:.1},{},{},{},{},{}",
                result.barrier.name(),
                key.name,
                key.mm,
                samples.iterations,
                samples.switches_per_iteration,
                instructions.median,
                instructions.min,
                instructions.max,
                per_switch,
                host.median,
                host.min,
                host.max,
                samples.instructions.len(),
                litmus_iterations,
                forbidden,
                result.call_site.instructions,
                result.call_site.barriers
            );
        }
    }
    std::fs::write(path, text).map_err(|error| format!("{}: {error}", path.display()))
}

fn write_markdown(results: &[VariantResult], path: &Path) -> Result<(), String> {
    let mut text = String::from("# cargo xtask compare\n\n");
    text.push_str(
        "Guest instructions from the insn-counter QEMU plugin (median of the repetitions, [min..max] when they \
         differ); host time is wall-clock time between the markers, a secondary and noisy figure. The \
         `none-BROKEN` variant has no post-switch barrier and exists only to show that the litmus catches it.\n\n",
    );
    let _ = writeln!(text, "| {} |", HEADERS.join(" | "));
    let _ = writeln!(text, "|{}", HEADERS.map(|_| "---|").concat());
    for row in table_rows(results) {
        let _ = writeln!(text, "| {} |", row.join(" | "));
    }
    for result in results {
        let site = &result.call_site;
        let _ = writeln!(
            text,
            "\n## Hook call site, {}\n\n`{}`: {} instructions, {} `dmb`\n\n```\n{}\n```",
            barrier_label(result.barrier),
            site.function,
            site.instructions,
            site.barriers,
            site.lines.join("\n")
        );
    }
    text.push_str("\n![guest instructions per switch](switch-cost.svg)\n");
    std::fs::write(path, text).map_err(|error| format!("{}: {error}", path.display()))
}

/// A grouped bar chart: per switch scenario (and mm registration), one bar per variant.
fn write_svg(results: &[VariantResult], path: &Path) -> Result<(), String> {
    let mut groups: Vec<(String, Vec<(Barrier, f64)>)> = Vec::new();
    if let Some(first) = results.first() {
        for (key, samples) in &first.scenarios {
            if samples.switches_per_iteration == 0 {
                continue;
            }
            let bars = results
                .iter()
                .filter_map(|result| {
                    let samples = result.scenarios.get(key)?;
                    Some((result.barrier, per_switch(samples, &samples.instructions)?.median))
                })
                .collect();
            groups.push((format!("{} ({})", key.name, key.mm), bars));
        }
    }
    let maximum = groups.iter().flat_map(|(_, bars)| bars.iter().map(|bar| bar.1)).fold(1.0f64, f64::max);
    let (left, top, plot_height, bar_width, gap) = (70.0, 50.0, 300.0, 22.0, 30.0);
    let group_width = bar_width * results.len() as f64 + gap;
    let width = left + group_width * groups.len() as f64 + 20.0;
    let height = top + plot_height + 120.0;
    let colours = |barrier: Barrier| match barrier {
        Barrier::Arm64 => "#2b6cb0",
        Barrier::Generic => "#38a169",
        Barrier::NoneBroken => "#c53030",
    };
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"{left}\" y=\"20\" font-size=\"14\">Guest instructions per context switch (median), by barrier variant</text>\n"
    );
    for step in 0..=4 {
        let value = maximum * step as f64 / 4.0;
        let y = top + plot_height - plot_height * step as f64 / 4.0;
        let _ = writeln!(
            svg,
            "<line x1=\"{left}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{value:.0}</text>",
            width - 20.0,
            left - 5.0,
            y + 4.0
        );
    }
    for (index, (label, bars)) in groups.iter().enumerate() {
        let x0 = left + gap / 2.0 + group_width * index as f64;
        for (position, (barrier, value)) in bars.iter().enumerate() {
            let bar_height = plot_height * value / maximum;
            let x = x0 + bar_width * position as f64;
            let y = top + plot_height - bar_height;
            let _ = writeln!(
                svg,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{bar_height:.1}\" fill=\"{}\"><title>{}: {value:.1}</title></rect><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"9\">{value:.0}</text>",
                bar_width - 2.0,
                colours(*barrier),
                barrier_label(*barrier),
                x + bar_width / 2.0 - 1.0,
                y - 3.0
            );
        }
        let label_x = x0 + bar_width * bars.len() as f64 / 2.0;
        let label_y = top + plot_height + 12.0;
        let _ = writeln!(
            svg,
            "<text x=\"{label_x:.1}\" y=\"{label_y:.1}\" text-anchor=\"end\" transform=\"rotate(-30 {label_x:.1} {label_y:.1})\">{label}</text>"
        );
    }
    for (position, result) in results.iter().enumerate() {
        let x = left + 10.0 + 250.0 * position as f64;
        let y = height - 15.0;
        let _ = writeln!(
            svg,
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"10\" height=\"10\" fill=\"{}\"/><text x=\"{:.1}\" y=\"{y:.1}\">{}</text>",
            y - 9.0,
            colours(result.barrier),
            x + 14.0,
            barrier_label(result.barrier)
        );
    }
    svg.push_str("</svg>\n");
    std::fs::write(path, svg).map_err(|error| format!("{}: {error}", path.display()))
}

/// `cargo xtask bench`: one variant, table and call site on stdout.
pub fn bench(barrier: Barrier, options: BenchOptions) -> Result<(), String> {
    let plugin = build_plugin()?;
    let result = run_variant(barrier, options, &plugin)?;
    let results = [result];
    println!();
    print_table(&results);
    print_call_sites(&results);
    Ok(())
}

/// `cargo xtask compare`: every variant in one run, then the table, CSV, Markdown and SVG.
pub fn compare(options: BenchOptions) -> Result<(), String> {
    let plugin = build_plugin()?;
    let mut results = Vec::new();
    for barrier in VARIANTS {
        results.push(run_variant(barrier, options, &plugin)?);
    }
    let folder = workspace_root().join("out/compare");
    std::fs::create_dir_all(&folder).map_err(|error| format!("{}: {error}", folder.display()))?;
    println!();
    print_table(&results);
    print_call_sites(&results);
    write_csv(&results, &folder.join("results.csv"))?;
    write_markdown(&results, &folder.join("results.md"))?;
    write_svg(&results, &folder.join("switch-cost.svg"))?;
    println!("\nwrote {}/{{results.csv,results.md,switch-cost.svg}}", folder.display());
    if results.iter().any(|result| result.barrier == Barrier::NoneBroken) {
        println!(
            "note: none-BROKEN has no post-switch barrier: the barrier audit flags it (NO BARRIER); its litmus cannot show it on an x86 host (docs/compare.md)"
        );
    }
    Ok(())
}
