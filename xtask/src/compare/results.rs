//! What a bench run measured: the kernel's `bench: region=...` lines joined with the insn-counter plugin's
//! `insn-counter: region=...` lines, the litmus line and the barrier audit, per scenario and repetition.

use crate::console::{parse_barrier_audit, parse_litmus, Litmus};
use crate::Barrier;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;

/// One scenario of the bench payload, as payloads/src/bench.rs names it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ScenarioKey {
    pub order: usize,
    pub name: String,
    pub mm: String,
}

/// Measurements of one scenario over its repetitions.
#[derive(Clone, Debug, Default)]
pub struct Samples {
    pub iterations: u64,
    pub switches_per_iteration: u64,
    /// Guest instructions per iteration, one per repetition.
    pub instructions: Vec<f64>,
    /// Host nanoseconds per iteration, one per repetition.
    pub host_ns: Vec<f64>,
}

/// What one run of one variant produced.
pub struct VariantResult {
    pub barrier: Barrier,
    pub scenarios: BTreeMap<ScenarioKey, Samples>,
    pub litmus: Option<Litmus>,
    /// The plugin's barrier audit: (switches into a registered mm checked, those without a full barrier
    /// before the first user instruction).
    pub audit: Option<(u64, u64)>,
    pub call_site: CallSite,
}

/// The instructions at the post-switch hook's call site in `schedule`, from the disassembly.
#[derive(Clone, Debug, Default)]
pub struct CallSite {
    pub function: String,
    pub lines: Vec<String>,
    pub instructions: usize,
    pub barriers: usize,
}

/// Median, minimum and maximum.
#[derive(Clone, Copy, Debug)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

/// The median, minimum and maximum of `values`; None when there are none.
pub fn spread(values: &[f64]) -> Option<Spread> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    let median = if sorted.len() % 2 == 1 { sorted[middle] } else { (sorted[middle - 1] + sorted[middle]) / 2.0 };
    Some(Spread { median, min: sorted[0], max: sorted[sorted.len() - 1] })
}

/// `key=value` fields of a line after `prefix`.
pub(super) fn fields<'a>(line: &'a str, prefix: &str) -> Option<BTreeMap<&'a str, &'a str>> {
    let rest = line.trim().strip_prefix(prefix)?;
    Some(rest.split_whitespace().filter_map(|word| word.split_once('=')).collect())
}

pub(super) fn number<T: std::str::FromStr>(fields: &BTreeMap<&str, &str>, key: &str, line: &str) -> Result<T> {
    fields.get(key).and_then(|text| text.parse().ok()).with_context(|| format!("no {key}= in {line:?}"))
}

/// Joins the kernel's region lines with the plugin's region lines (the k-th of each) and finds the litmus.
pub fn parse_run(barrier: Barrier, console: &str, plugin_report: &str) -> Result<VariantResult> {
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
        if line.trim().starts_with("litmus:") {
            litmus = parse_litmus(line.trim()).or(litmus);
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
            plugin_regions.get(&region).with_context(|| format!("the plugin has no region {region} ({line:?})"))?;
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
        bail!("the console has no `bench: region=` lines");
    }
    let audit = parse_barrier_audit(plugin_report);
    Ok(VariantResult { barrier, scenarios, litmus, audit, call_site: CallSite::default() })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLUGIN_REPORT: &str = "insn-counter: vcpu=0 instructions=99\n\
                                 insn-counter: region=0 instructions=150000 host_ns=2000000\n\
                                 insn-counter: region=1 instructions=160000 host_ns=2500000\n\
                                 insn-counter: region=2 instructions=400000 host_ns=9000000\n\
                                 barrier-audit: checked=2000 violations=0\n";

    #[test]
    fn joins_kernel_and_plugin_regions() {
        let console = "bench: region=0 scenario=yield mm=registered n=1000 switches_per_iteration=0\n\
                       bench: region=1 scenario=yield mm=registered n=1000 switches_per_iteration=0\n\
                       bench: region=2 scenario=switch mm=registered n=1000 switches_per_iteration=2\n\
                       bench: region=3 scenario=switch mm=registered n=1000 discarded=warmup\n\
                       litmus: variant=membarrier iterations=100000 forbidden=0 requested=100000\n";
        let result = parse_run(Barrier::Generic, console, PLUGIN_REPORT).unwrap();
        let scenarios: Vec<_> = result.scenarios.iter().collect();
        assert_eq!(scenarios.len(), 2);
        let (yield_key, yield_samples) = scenarios[0];
        assert_eq!((yield_key.name.as_str(), yield_key.mm.as_str()), ("yield", "registered"));
        assert_eq!(yield_samples.instructions, [150.0, 160.0]);
        let (switch_key, switch_samples) = scenarios[1];
        assert_eq!(switch_key.name, "switch");
        assert_eq!((switch_samples.switches_per_iteration, switch_samples.host_ns[0]), (2, 9000.0));
        assert_eq!(result.litmus.map(|litmus| (litmus.iterations, litmus.forbidden)), Some((100_000, 0)));
        assert_eq!(result.audit, Some((2000, 0)));
    }

    #[test]
    fn rejects_malformed_bench_runs() {
        // No region lines at all, a region the plugin did not count, and a line with a broken number.
        assert!(
            parse_run(Barrier::Arm64, "litmus: variant=membarrier iterations=1 forbidden=0\n", PLUGIN_REPORT).is_err()
        );
        let unknown_region = "bench: region=7 scenario=yield mm=none n=1000 switches_per_iteration=0\n";
        assert!(parse_run(Barrier::Arm64, unknown_region, PLUGIN_REPORT).is_err());
        let bad_number = "bench: region=0 scenario=yield mm=none n=lots switches_per_iteration=0\n";
        assert!(parse_run(Barrier::Arm64, bad_number, PLUGIN_REPORT).is_err());
        let bad_plugin = "insn-counter: region=0 instructions=x host_ns=1\n";
        let good_console = "bench: region=0 scenario=yield mm=none n=1000 switches_per_iteration=0\n";
        assert!(parse_run(Barrier::Arm64, good_console, bad_plugin).is_err());
        // A litmus line with a broken number leaves the litmus unknown, not zero.
        let console = format!("{good_console}litmus: variant=membarrier iterations=?? forbidden=0\n");
        assert!(parse_run(Barrier::Arm64, &console, PLUGIN_REPORT).unwrap().litmus.is_none());
    }

    #[test]
    fn spreads_samples() {
        let spread = spread(&[3.0, 1.0, 2.0, 10.0]).unwrap();
        assert_eq!((spread.median, spread.min, spread.max), (2.5, 1.0, 10.0));
        assert!(super::spread(&[]).is_none());
    }
}
