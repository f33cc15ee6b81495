//! `cargo xtask bench` and `cargo xtask compare`: build the `bench` payload for barrier variants, run it under
//! QEMU virt with the `insn-counter` plugin (tools/insn-counter), and report guest instructions per
//! operation, host wall time per operation, the store-buffering litmus result and the code at the
//! post-switch hook's call site. `compare` writes out/compare/{results.csv,results.md} and the charts
//! {switch-cost,hook-cost}.{svg,png}; `compare --linux` adds a column for a stock Linux kernel running the same
//! bench program on the same QEMU machine (linux_run.rs).

mod bench_run;
mod call_site;
mod chart;
mod linux_run;
mod png;
mod profile;
mod report;
mod results;

use crate::{workspace_root, Barrier};
use anyhow::{Context, Result};
pub use bench_run::build_plugin;
use bench_run::run_variant;
use chart::{hook_cost_chart, switch_cost_chart, write_svg};
pub use profile::{profile, ProfileOptions};
use report::{print_call_sites, print_linux_table, print_table, write_csv, write_markdown};

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

/// `cargo xtask compare`: every variant in one run (and Linux with `linux`), then the table, CSV, Markdown and
/// SVG.
pub fn compare(options: BenchOptions, linux: bool) -> Result<()> {
    let plugin = build_plugin()?;
    // Checked first: a machine that cannot get the kernel or the chart renderer learns it before the runs. The PNGs
    // are a convenience: without the renderer (not root, no librsvg2-bin) only the SVGs are written.
    let renderer = png::ensure_renderer().map_err(|error| eprintln!("warning: no PNG charts: {error:#}")).is_ok();
    let linux_kernel = if linux { Some(crate::linux_kernel::fetch()?) } else { None };
    let mut results = Vec::new();
    for barrier in VARIANTS {
        results.push(run_variant(barrier, options, &plugin)?);
    }
    let linux = match &linux_kernel {
        Some(kernel) => Some(linux_run::run(kernel, &results[0], options, &plugin)?),
        None => None,
    };
    let folder = workspace_root().join("out/compare");
    std::fs::create_dir_all(&folder).with_context(|| format!("cannot create {}", folder.display()))?;
    println!();
    print_table(&results);
    if let Some(linux) = &linux {
        print_linux_table(&results, linux);
    }
    print_call_sites(&results);
    write_csv(&results, linux.as_ref(), &folder.join("results.csv"))?;
    write_markdown(&results, linux.as_ref(), &folder.join("results.md"))?;
    for (name, chart) in
        [("switch-cost", switch_cost_chart(&results, linux.as_ref())), ("hook-cost", hook_cost_chart(&results))]
    {
        let svg = folder.join(format!("{name}.svg"));
        write_svg(&chart, &svg)?;
        if renderer {
            png::render(&svg, &folder.join(format!("{name}.png")))?;
        }
    }
    let pngs = if renderer { ",switch-cost.png,hook-cost.png" } else { "" };
    println!("\nwrote {}/{{results.csv,results.md,switch-cost.svg,hook-cost.svg{pngs}}}", folder.display());
    if let Some(linux) = &linux {
        println!("Linux column: {} (Debian, arm64)", linux.kernel);
    }
    if results.iter().any(|result| result.barrier == Barrier::NoneBroken) {
        println!(
            "note: none-BROKEN has no post-switch barrier: the barrier audit flags it (NO BARRIER); its litmus cannot show it on an x86 host (docs/compare.md)"
        );
    }
    Ok(())
}
