//! The results of `bench` and `compare` as text: the table on stdout, the hook's call sites, CSV and Markdown.

use super::results::{spread, Samples, Spread, VariantResult};
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

/// out/compare/results.csv: one row per variant and scenario.
pub fn write_csv(results: &[VariantResult], path: &Path) -> Result<()> {
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
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// out/compare/results.md: the table and the call sites.
pub fn write_markdown(results: &[VariantResult], path: &Path) -> Result<()> {
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
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}
