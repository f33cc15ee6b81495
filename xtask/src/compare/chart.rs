//! The SVG bar chart of `compare`: guest instructions per context switch, by scenario and barrier variant.

use super::report::{barrier_label, per_switch};
use super::results::VariantResult;
use crate::Barrier;
use anyhow::{Context, Result};
use std::fmt::Write as _;
use std::path::Path;

/// A grouped bar chart: per switch scenario (and mm registration), one bar per variant.
pub fn write_svg(results: &[VariantResult], path: &Path) -> Result<()> {
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
    std::fs::write(path, svg).with_context(|| format!("cannot write {}", path.display()))
}
