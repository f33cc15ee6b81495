//! The results of `bench` and `compare` as text: the table on stdout, the hook's call sites, CSV and Markdown,
//! and with `--linux` the Linux column: instructions per operation beside ours and the ratio.

use super::linux_run::{linux_row, per_operation, LinuxRow, LinuxRun};
use super::results::{spread, Samples, ScenarioKey, Spread, VariantResult};
use crate::Barrier;
use anyhow::{Context, Result};
use std::fmt::Write as _;
use std::path::Path;

/// The variant's name, with BROKEN spelled out.
pub fn barrier_label(barrier: Barrier) -> String {
    match barrier {
        Barrier::NoneBroken => "none-BROKEN (no post-switch barrier, for tests only)".into(),
        other => other.name().into(),
    }
}

/// `median`, or `median [min..max]` when the repetitions differ.
fn format_spread(spread: Option<Spread>) -> String {
    match spread {
        Some(s) if format!("{:.1}", s.min) == format!("{:.1}", s.max) => format!("{:.1}", s.median),
        Some(s) => format!("{:.1} [{:.1}..{:.1}]", s.median, s.min, s.max),
        None => "n/a".into(),
    }
}

/// Per-switch figures of a scenario (None when it has no switches).
pub fn per_switch(samples: &Samples, values: &[f64]) -> Option<Spread> {
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

/// The results table on stdout.
pub fn print_table(results: &[VariantResult]) {
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

/// The operation a scenario's figures are per: a context switch, or one iteration (a call, a fault, ...).
fn operation(samples: &Samples) -> &'static str {
    if samples.switches_per_iteration > 0 {
        "switch"
    } else {
        "iteration"
    }
}

/// The Linux column's text for `key`, its per-operation median when it compares with ours, and its host time.
fn linux_cell(linux: &LinuxRun, key: &ScenarioKey) -> (String, Option<f64>, String) {
    match linux_row(linux, key) {
        Some(LinuxRow::Measured(samples, caveat)) => {
            let per_op = spread(&samples.instructions).map(|spread| {
                let divisor = samples.switches_per_iteration.max(1) as f64;
                Spread { median: spread.median / divisor, min: spread.min / divisor, max: spread.max / divisor }
            });
            let host = spread(&samples.host_ns)
                .map(|spread| format!("{:.0}", spread.median / samples.switches_per_iteration.max(1) as f64));
            match caveat {
                // The caveat itself goes under the table (it is long): see `caveats`.
                Some(_) => (format!("{} (not comparable *)", format_spread(per_op)), None, host.unwrap_or_default()),
                None => (format_spread(per_op), per_operation(samples), host.unwrap_or_default()),
            }
        }
        Some(LinuxRow::Unavailable(reason)) => (format!("n/a ({reason})"), None, String::new()),
        None => ("n/a (not run)".into(), None, String::new()),
    }
}

/// The Linux table: per scenario, instructions per operation for each variant and Linux, ours / Linux, and
/// Linux's host time per operation.
fn linux_table(results: &[VariantResult], linux: &LinuxRun) -> (Vec<String>, Vec<Vec<String>>) {
    let mut headers = vec!["scenario".to_string(), "mm".into(), "per".into()];
    headers.extend(results.iter().map(|result| result.barrier.name().to_string()));
    headers.push("Linux".into());
    if let Some(first) = results.first() {
        headers.push(format!("{} / Linux", first.barrier.name()));
    }
    headers.push("Linux host ns / op".into());
    let mut rows = Vec::new();
    let Some(first) = results.first() else { return (headers, rows) };
    for (key, samples) in &first.scenarios {
        let mut row = vec![key.name.clone(), key.mm.clone(), operation(samples).to_string()];
        for result in results {
            let value = result.scenarios.get(key).and_then(per_operation);
            row.push(value.map_or("n/a".into(), |value| format!("{value:.1}")));
        }
        let (text, linux_value, host) = linux_cell(linux, key);
        row.push(text);
        row.push(match (per_operation(samples), linux_value) {
            (Some(ours), Some(theirs)) if theirs > 0.0 => format!("{:.2}", ours / theirs),
            _ => "n/a".into(),
        });
        row.push(host);
        rows.push(row);
    }
    (headers, rows)
}

/// The distinct caveats of the Linux column (what `*` in a cell refers to).
fn caveats(linux: &LinuxRun) -> Vec<String> {
    let mut caveats: Vec<String> = Vec::new();
    for row in linux.rows.values() {
        if let LinuxRow::Measured(_, Some(caveat)) = row {
            if !caveats.contains(caveat) {
                caveats.push(caveat.clone());
            }
        }
    }
    caveats
}

/// The Linux table on stdout.
pub fn print_linux_table(results: &[VariantResult], linux: &LinuxRun) {
    let (headers, rows) = linux_table(results, linux);
    let mut widths: Vec<usize> = headers.iter().map(String::len).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let line = |cells: &[String]| {
        cells.iter().zip(&widths).map(|(cell, width)| format!("{cell:<width$}")).collect::<Vec<_>>().join(" | ")
    };
    println!(
        "
Guest instructions per operation, ours and Linux ({}), median [min..max]:",
        linux.kernel
    );
    println!("{}", line(&headers));
    println!("{}", widths.iter().map(|width| "-".repeat(*width)).collect::<Vec<_>>().join("-|-"));
    for row in &rows {
        println!("{}", line(row));
    }
    for caveat in caveats(linux) {
        println!("* {caveat}");
    }
}

/// Each variant's hook call site (disassembly) on stdout.
pub fn print_call_sites(results: &[VariantResult]) {
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

/// The CSV columns a measured scenario fills the same way on both kernels, `n` to `repetitions`: iterations,
/// switches per iteration, instructions per iteration (median, min, max), per switch, host ns (median, min, max)
/// and the number of repetitions.
fn measured_columns(samples: &Samples) -> String {
    let instructions = spread(&samples.instructions).expect("at least one sample");
    let host = spread(&samples.host_ns).expect("at least one sample");
    let per_switch = per_switch(samples, &samples.instructions).map_or(String::new(), |s| format!("{:.1}", s.median));
    format!(
        "{},{},{:.1},{:.1},{:.1},{per_switch},{:.1},{:.1},{:.1},{}",
        samples.iterations,
        samples.switches_per_iteration,
        instructions.median,
        instructions.min,
        instructions.max,
        host.median,
        host.min,
        host.max,
        samples.instructions.len(),
    )
}

/// out/compare/results.csv: one row per variant and scenario, then (with `linux`) one per Linux scenario
/// (variant `linux`; `note` holds the kernel package, or why the row has no figure). `insns_per_op_median` is
/// per switch, or per iteration for a scenario without switches; `ratio_to_linux` is ours / Linux's.
pub fn write_csv(results: &[VariantResult], linux: Option<&LinuxRun>, path: &Path) -> Result<()> {
    let mut text = String::from(
        "variant,scenario,mm,n,switches_per_iteration,insns_per_iteration_median,insns_per_iteration_min,insns_per_iteration_max,insns_per_switch_median,host_ns_per_iteration_median,host_ns_per_iteration_min,host_ns_per_iteration_max,repetitions,litmus_iterations,litmus_forbidden,hook_site_instructions,hook_site_dmb,insns_per_op_median,linux_insns_per_op_median,ratio_to_linux,note\n",
    );
    let one_decimal = |value: Option<f64>| value.map_or(String::new(), |value| format!("{value:.1}"));
    let linux_value = |key: &ScenarioKey| linux.and_then(|linux| linux_cell(linux, key).1);
    for result in results {
        for (key, samples) in &result.scenarios {
            let (litmus_iterations, forbidden) = result
                .litmus
                .as_ref()
                .map_or((String::new(), String::new()), |l| (l.iterations.to_string(), l.forbidden.to_string()));
            let ours = per_operation(samples);
            let theirs = linux_value(key);
            let ratio = match (ours, theirs) {
                (Some(ours), Some(theirs)) if theirs > 0.0 => format!("{:.3}", ours / theirs),
                _ => String::new(),
            };
            let _ = writeln!(
                text,
                "{},{},{},{},{litmus_iterations},{forbidden},{},{},{},{},{ratio},",
                result.barrier.name(),
                key.name,
                key.mm,
                measured_columns(samples),
                result.call_site.instructions,
                result.call_site.barriers,
                one_decimal(ours),
                one_decimal(theirs),
            );
        }
    }
    if let Some(linux) = linux {
        for (key, row) in &linux.rows {
            let note = |text: &str| format!("\"{}\"", text.replace('"', "'"));
            let _ = match row {
                LinuxRow::Measured(samples, caveat) => {
                    let per_op = one_decimal(per_operation(samples));
                    let caveat = match caveat {
                        Some(caveat) => format!("{caveat} ({})", linux.kernel),
                        None => linux.kernel.clone(),
                    };
                    writeln!(
                        text,
                        "linux,{},{},{},,,,,{per_op},{per_op},1.000,{}",
                        key.name,
                        key.mm,
                        measured_columns(samples),
                        note(&caveat)
                    )
                }
                LinuxRow::Unavailable(reason) => writeln!(
                    text,
                    "linux,{},{},,,,,,,,,,,,,,,,,,{}",
                    key.name,
                    key.mm,
                    note(&format!("n/a: {reason} ({})", linux.kernel))
                ),
            };
        }
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// out/compare/results.md: the table, the Linux table, the call sites and the charts.
pub fn write_markdown(results: &[VariantResult], linux: Option<&LinuxRun>, path: &Path) -> Result<()> {
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
    if let Some(linux) = linux {
        let (headers, rows) = linux_table(results, linux);
        let _ = writeln!(
            text,
            "\n## Linux on the same machine\n\nThe same bench program on Debian's `{}` (QEMU virt, same CPU, \
             cores, TCG mode and plugin): guest instructions per operation (per switch, or per iteration without \
             switches), median [min..max] of the repetitions; `/ Linux` is ours divided by Linux's.\n",
            linux.kernel
        );
        let _ = writeln!(text, "| {} |", headers.join(" | "));
        let _ = writeln!(text, "|{}", "---|".repeat(headers.len()));
        for row in rows {
            let _ = writeln!(text, "| {} |", row.join(" | "));
        }
        for caveat in caveats(linux) {
            let _ = writeln!(text, "\n\\* {caveat}");
        }
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
    text.push_str("\n![what registering the mm adds per switch](hook-cost.svg)\n");
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::Litmus;
    use std::collections::BTreeMap;

    fn samples(switches_per_iteration: u64) -> Samples {
        Samples { iterations: 1000, switches_per_iteration, instructions: vec![980.0, 990.0], host_ns: vec![5.0, 6.0] }
    }

    #[test]
    fn every_csv_row_has_the_header_columns() {
        let key = |order, name: &str| ScenarioKey { order, name: name.to_string(), mm: "same".to_string() };
        let scenarios = BTreeMap::from([(key(0, "user-user"), samples(2)), (key(1, "getpid"), samples(0))]);
        let result = VariantResult {
            barrier: Barrier::Arm64,
            scenarios,
            litmus: Some(Litmus { variant: "membarrier".to_string(), iterations: 100, forbidden: 0, requested: None }),
            audit: None,
            call_site: Default::default(),
        };
        let linux = LinuxRun {
            kernel: "linux-image \"6.12\"".to_string(),
            rows: BTreeMap::from([
                (key(0, "user-user"), LinuxRow::Measured(samples(2), None)),
                (key(1, "getpid"), LinuxRow::Unavailable("not comparable".to_string())),
            ]),
        };
        let path = std::env::temp_dir().join(format!("xtask-csv-test-{}.csv", std::process::id()));
        write_csv(&[result], Some(&linux), &path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        let mut lines = text.lines();
        let columns = lines.next().unwrap().split(',').count();
        let rows: Vec<&str> = lines.collect();
        assert_eq!(rows.len(), 4);
        for row in rows {
            // The notes are quoted and hold no comma here, so a plain split counts the columns.
            assert_eq!(row.split(',').count(), columns, "{row}");
        }
        assert!(
            text.contains(
                "arm64,user-user,same,1000,2,985.0,980.0,990.0,492.5,5.5,5.0,6.0,2,100,0,0,0,492.5,492.5,1.000,"
            ),
            "{text}"
        );
    }
}
