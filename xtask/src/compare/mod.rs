//! `cargo xtask bench` and `cargo xtask compare`: build the `bench` payload for barrier variants, run it under
//! QEMU virt with the `insn-counter` plugin (tools/insn-counter), and report guest instructions per
//! operation, host wall time per operation, the store-buffering litmus result and the code at the
//! post-switch hook's call site. `compare` writes out/compare/{results.csv,results.md,switch-cost.svg}.

mod bench_run;
mod call_site;
mod chart;
mod profile;
mod report;
mod results;

use crate::{workspace_root, Barrier};
use anyhow::{Context, Result};
pub use bench_run::build_plugin;
use bench_run::run_variant;
use chart::write_svg;
pub use profile::{profile, ProfileOptions};
use report::{print_call_sites, print_table, write_csv, write_markdown};

/// How a bench run is sized.
#[derive(clap::Args, Clone, Copy, Debug)]
pub struct BenchOptions {
    /// Measured iterations per region.
    #[arg(long, default_value_t = 1000)]
    pub iterations: u64,
    /// Repetitions of each scenario (each figure is the median of these, with min and max).
    #[arg(long, default_value_t = 5)]
    pub repetitions: u32,
    /// Store-buffering litmus iterations per switching CPU at the end of each run (payloads/src/switching.rs);
    /// 0 skips it and the litmus column shows n/a.
    #[arg(long, default_value_t = 100_000)]
    pub litmus_iterations: u64,
    /// Kill QEMU after this many seconds.
    #[arg(long, default_value_t = 600)]
    pub timeout: u64,
}

/// The variants `compare` puts side by side (the broken one is flagged wherever it appears).
const VARIANTS: [Barrier; 3] = [Barrier::Arm64, Barrier::Generic, Barrier::NoneBroken];

/// `cargo xtask bench`: one variant, table and call site on stdout.
pub fn bench(barrier: Barrier, options: BenchOptions) -> Result<()> {
    let plugin = build_plugin()?;
    let result = run_variant(barrier, options, &plugin)?;
    let results = [result];
    println!();
    print_table(&results);
    print_call_sites(&results);
    Ok(())
}

/// `cargo xtask compare`: every variant in one run, then the table, CSV, Markdown and SVG.
pub fn compare(options: BenchOptions) -> Result<()> {
    let plugin = build_plugin()?;
    let mut results = Vec::new();
    for barrier in VARIANTS {
        results.push(run_variant(barrier, options, &plugin)?);
    }
    let folder = workspace_root().join("out/compare");
    std::fs::create_dir_all(&folder).with_context(|| format!("cannot create {}", folder.display()))?;
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
