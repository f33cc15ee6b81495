//! The SVG charts of `compare`: `switch-cost.svg`, guest instructions per context switch by scenario and barrier
//! variant with Linux as the reference bar, and `hook-cost.svg`, what registering the mm adds per switch
//! (registered minus unregistered) per variant, labelled with the barriers the hook's disassembly holds.
//!
//! Both are grouped bar charts drawn by [`BarChart::to_svg`], which sizes the canvas from its contents so that
//! nothing is cut off: text widths are estimated from the character count (a sans-serif glyph is about 0.6 em
//! wide on average; the estimate errs wide), the axis ticks are round (1, 2 or 5 times a power of ten), group
//! labels are horizontal lines under their group and the legend wraps onto new rows.

use super::linux_run::{LinuxRow, LinuxRun};
use super::report::per_switch;
use super::results::{spread, ScenarioKey, VariantResult};
use crate::Barrier;
use anyhow::{Context, Result};
use std::fmt::Write as _;
use std::path::Path;

/// Estimated width of `text` at `font_size` (see the module documentation).
fn text_width(text: &str, font_size: f64) -> f64 {
    text.chars().count() as f64 * font_size * 0.62
}

/// `&`, `<` and `>` as XML entities.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// A round tick step for an axis spanning `span`: 1, 2 or 5 times a power of ten, giving 4 to 10 intervals.
pub fn tick_step(span: f64) -> f64 {
    if span <= 0.0 || !span.is_finite() {
        return 1.0;
    }
    let magnitude = 10f64.powf((span / 5.0).log10().floor());
    [1.0, 2.0, 5.0, 10.0].into_iter().map(|factor| factor * magnitude).find(|step| span / step <= 10.0).unwrap()
}

/// One series of a chart (a bar per group).
pub struct Series {
    pub label: String,
    pub colour: &'static str,
}

/// One group of bars: its label lines and one value per series (None: no bar, `missing` shown instead).
pub struct Group {
    pub label: Vec<String>,
    pub values: Vec<Option<f64>>,
    /// Text above each bar; empty for the value itself.
    pub bar_texts: Vec<String>,
    /// Per series, a bottom part of the bar drawn darker (see [`BarChart::highlight_label`]); 0 for none.
    pub highlights: Vec<f64>,
}

pub struct BarChart {
    pub title: String,
    pub axis_label: String,
    pub series: Vec<Series>,
    pub groups: Vec<Group>,
    /// What a missing bar shows.
    pub missing: String,
    /// Lines of small print under the legend.
    pub notes: Vec<String>,
    /// What the darker bottom part of a bar stands for (a legend entry of its own).
    pub highlight_label: Option<String>,
}

/// The darker bottom part of a bar.
const HIGHLIGHT_COLOUR: &str = "#1a202c";

const TITLE_SIZE: f64 = 14.0;
const FONT_SIZE: f64 = 11.0;
const SMALL_SIZE: f64 = 9.0;
const MARGIN: f64 = 12.0;
const BAR_WIDTH: f64 = 26.0;
const GROUP_GAP: f64 = 26.0;
const PLOT_HEIGHT: f64 = 300.0;

impl BarChart {
    /// The chart as an SVG document sized to hold all of it.
    pub fn to_svg(&self) -> String {
        let values: Vec<f64> = self.groups.iter().flat_map(|group| group.values.iter().flatten().copied()).collect();
        let highest = values.iter().copied().fold(0.0f64, f64::max);
        let lowest = values.iter().copied().fold(0.0f64, f64::min);
        let step = tick_step((highest - lowest).max(1.0));
        let axis_top = ((highest / step).ceil() * step).max(step);
        let axis_bottom = (lowest / step).floor() * step;
        let ticks: Vec<f64> = (0..=((axis_top - axis_bottom) / step).round() as i64)
            .map(|index| axis_bottom + step * index as f64)
            .collect();
        let tick_text = |value: f64| if step >= 1.0 { format!("{value:.0}") } else { format!("{value}") };
        let tick_width = ticks.iter().map(|&tick| text_width(&tick_text(tick), FONT_SIZE)).fold(0.0, f64::max);
        // Rotated axis label, then the tick labels, then the plot.
        let left = MARGIN + FONT_SIZE + 6.0 + tick_width + 8.0;
        let group_width = |group: &Group| {
            let bars = BAR_WIDTH * self.series.len() as f64;
            let label = group.label.iter().map(|line| text_width(line, FONT_SIZE)).fold(0.0, f64::max);
            bars.max(label) + GROUP_GAP
        };
        let plot_width: f64 = self.groups.iter().map(group_width).sum();
        let top = MARGIN + TITLE_SIZE + 22.0;
        let label_lines = self.groups.iter().map(|group| group.label.len()).max().unwrap_or(0) as f64;
        let labels_bottom = top + PLOT_HEIGHT + 8.0 + label_lines * (FONT_SIZE + 3.0);
        // The legend: entries flow left to right and wrap at the width the rest needs.
        let mut entries: Vec<(&str, &str)> =
            self.series.iter().map(|series| (series.label.as_str(), series.colour)).collect();
        if let Some(label) = &self.highlight_label {
            entries.push((label.as_str(), HIGHLIGHT_COLOUR));
        }
        let entry_width = |label: &str| 14.0 + text_width(label, FONT_SIZE) + 18.0;
        let content_width = (left + plot_width + MARGIN)
            .max(MARGIN * 2.0 + text_width(&self.title, TITLE_SIZE))
            .max(self.notes.iter().map(|note| MARGIN * 2.0 + text_width(note, SMALL_SIZE)).fold(0.0, f64::max))
            .max(entries.iter().map(|(label, _)| MARGIN * 2.0 + entry_width(label)).fold(0.0, f64::max));
        let mut legend = Vec::new();
        let (mut x, mut row) = (MARGIN, 0usize);
        for (label, _) in &entries {
            if x + entry_width(label) > content_width - MARGIN && x > MARGIN {
                x = MARGIN;
                row += 1;
            }
            legend.push((x, row));
            x += entry_width(label);
        }
        let legend_top = labels_bottom + 14.0;
        let notes_top = legend_top + (row + 1) as f64 * (FONT_SIZE + 8.0) + 4.0;
        let height = notes_top + self.notes.len() as f64 * (SMALL_SIZE + 4.0) + MARGIN;
        let width = content_width;
        let y_of = |value: f64| top + PLOT_HEIGHT * (axis_top - value) / (axis_top - axis_bottom);

        let mut svg = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {width:.0} {height:.0}\" font-family=\"DejaVu Sans, sans-serif\" font-size=\"{FONT_SIZE}\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"{MARGIN}\" y=\"{:.1}\" font-size=\"{TITLE_SIZE}\">{}</text>\n",
            MARGIN + TITLE_SIZE,
            escape(&self.title)
        );
        let axis_x = MARGIN + FONT_SIZE;
        let axis_y = top + PLOT_HEIGHT / 2.0;
        let _ = writeln!(
            svg,
            "<text x=\"{axis_x:.1}\" y=\"{axis_y:.1}\" text-anchor=\"middle\" transform=\"rotate(-90 {axis_x:.1} {axis_y:.1})\">{}</text>",
            escape(&self.axis_label)
        );
        for &tick in &ticks {
            let y = y_of(tick);
            let stroke = if tick == 0.0 { "#888" } else { "#ddd" };
            let _ = writeln!(
                svg,
                "<line x1=\"{left:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"{stroke}\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
                left + plot_width,
                left - 6.0,
                y + 4.0,
                tick_text(tick)
            );
        }
        let mut group_x = left;
        for group in &self.groups {
            let width = group_width(group);
            let bars_x = group_x + (width - BAR_WIDTH * self.series.len() as f64) / 2.0;
            for (index, (series, value)) in self.series.iter().zip(&group.values).enumerate() {
                let x = bars_x + BAR_WIDTH * index as f64;
                let centre = x + BAR_WIDTH / 2.0 - 1.0;
                let text = group.bar_texts.get(index).filter(|text| !text.is_empty());
                match value {
                    Some(value) => {
                        let (y0, y1) = (y_of(value.max(0.0)), y_of(value.min(0.0)));
                        let label = text.cloned().unwrap_or_else(|| format_value(*value));
                        let label_y = if *value >= 0.0 { y0 - 3.0 } else { y1 + SMALL_SIZE + 2.0 };
                        let _ = writeln!(
                            svg,
                            "<rect x=\"{x:.1}\" y=\"{y0:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\"><title>{}: {value:.1}</title></rect><text x=\"{centre:.1}\" y=\"{label_y:.1}\" text-anchor=\"middle\" font-size=\"{SMALL_SIZE}\">{}</text>",
                            BAR_WIDTH - 2.0,
                            (y1 - y0).max(0.5),
                            series.colour,
                            escape(&series.label),
                            escape(&label)
                        );
                        let highlight = group.highlights.get(index).copied().unwrap_or(0.0).min(value.abs());
                        if highlight > 0.0 {
                            let (h0, h1) = if *value >= 0.0 {
                                (y_of(highlight), y_of(0.0))
                            } else {
                                (y_of(0.0), y_of(-highlight))
                            };
                            let _ = writeln!(
                                svg,
                                "<rect x=\"{x:.1}\" y=\"{h0:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{HIGHLIGHT_COLOUR}\" fill-opacity=\"0.75\"/>",
                                BAR_WIDTH - 2.0,
                                h1 - h0
                            );
                        }
                    }
                    None => {
                        let _ = writeln!(
                            svg,
                            "<text x=\"{centre:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"{SMALL_SIZE}\" fill=\"{}\">{}</text>",
                            y_of(0.0) - 3.0,
                            series.colour,
                            escape(&self.missing)
                        );
                    }
                }
            }
            for (line_index, line) in group.label.iter().enumerate() {
                let _ = writeln!(
                    svg,
                    "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                    group_x + width / 2.0,
                    top + PLOT_HEIGHT + 8.0 + (line_index as f64 + 1.0) * (FONT_SIZE + 3.0) - 3.0,
                    escape(line)
                );
            }
            group_x += width;
        }
        for ((label, colour), (x, row)) in entries.iter().zip(&legend) {
            let y = legend_top + *row as f64 * (FONT_SIZE + 8.0);
            let _ = writeln!(
                svg,
                "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"10\" height=\"10\" fill=\"{colour}\"/><text x=\"{:.1}\" y=\"{y:.1}\">{}</text>",
                y - 9.0,
                x + 14.0,
                escape(label)
            );
        }
        for (index, note) in self.notes.iter().enumerate() {
            let _ = writeln!(
                svg,
                "<text x=\"{MARGIN}\" y=\"{:.1}\" font-size=\"{SMALL_SIZE}\" fill=\"#444\">{}</text>",
                notes_top + index as f64 * (SMALL_SIZE + 4.0),
                escape(note)
            );
        }
        svg.push_str("</svg>\n");
        svg
    }
}

/// A bar's value: whole numbers, and values of 100 or more, without decimals; others with one.
fn format_value(value: f64) -> String {
    if (value - value.round()).abs() < 0.05 || value.abs() >= 100.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

fn colour(barrier: Barrier) -> &'static str {
    match barrier {
        Barrier::Arm64 => "#2b6cb0",
        Barrier::Generic => "#38a169",
        Barrier::NoneBroken => "#c53030",
    }
}

const LINUX_COLOUR: &str = "#718096";

fn short_label(barrier: Barrier) -> String {
    match barrier {
        Barrier::NoneBroken => "none-BROKEN (no post-switch barrier, tests only)".into(),
        other => other.name().into(),
    }
}

/// The switch scenarios of the first result, in order.
fn switch_scenarios(results: &[VariantResult]) -> Vec<&ScenarioKey> {
    results.first().map_or_else(Vec::new, |first| {
        first.scenarios.iter().filter(|(_, samples)| samples.switches_per_iteration > 0).map(|(key, _)| key).collect()
    })
}

/// The median guest instructions per switch of `key` in `result`.
fn switch_cost(result: &VariantResult, key: &ScenarioKey) -> Option<f64> {
    let samples = result.scenarios.get(key)?;
    Some(per_switch(samples, &samples.instructions)?.median)
}

/// switch-cost: per switch scenario and mm, one bar per variant and Linux's.
pub fn switch_cost_chart(results: &[VariantResult], linux: Option<&LinuxRun>) -> BarChart {
    let mut series: Vec<Series> = results
        .iter()
        .map(|result| Series { label: short_label(result.barrier), colour: colour(result.barrier) })
        .collect();
    let mut notes =
        vec!["Each switch includes one sched_yield system call (a ping-pong round trip is two switches).".into()];
    if let Some(linux) = linux {
        series.push(Series { label: format!("Linux ({})", linux.kernel), colour: LINUX_COLOUR });
        if let Some(first) = results.first() {
            notes.push(format!(
                "Linux's bars: its instructions per switch, and (Nx) how many times {}'s that is.",
                first.barrier.name()
            ));
        }
    }
    let groups = switch_scenarios(results)
        .into_iter()
        .map(|key| {
            let mut values: Vec<Option<f64>> = results.iter().map(|result| switch_cost(result, key)).collect();
            if let Some(linux) = linux {
                match super::linux_run::linux_row(linux, key) {
                    Some(LinuxRow::Measured(samples, _)) => values.push(super::linux_run::per_operation(samples)),
                    Some(LinuxRow::Unavailable(reason)) => {
                        let note = format!("Linux n/a for {}: {reason}", key.name);
                        if !notes.contains(&note) {
                            notes.push(note);
                        }
                        values.push(None);
                    }
                    None => values.push(None),
                }
            }
            // Linux's bar also says how many times the first variant's cost it is.
            let mut bar_texts = vec![String::new(); values.len()];
            if let (Some(Some(ours)), Some(Some(theirs)), true) = (values.first(), values.last(), linux.is_some()) {
                if *ours > 0.0 {
                    *bar_texts.last_mut().expect("not empty") = format!("{theirs:.0} ({:.1}x)", theirs / ours);
                }
            }
            Group { label: vec![key.name.clone(), format!("({})", key.mm)], bar_texts, highlights: Vec::new(), values }
        })
        .collect();
    BarChart {
        title: "Guest instructions per context switch (median of the repetitions)".into(),
        axis_label: "guest instructions per switch".into(),
        series,
        groups,
        missing: "n/a".into(),
        notes,
        highlight_label: None,
    }
}

/// Switches into the user mm per iteration of a switch scenario: every switch of a user -> user ping-pong
/// enters the measured mm, only the kthread -> user half of a user -> kthread -> user one does.
fn switches_into_mm(key: &ScenarioKey, switches_per_iteration: u64) -> f64 {
    if key.name.contains("kthread") {
        switches_per_iteration as f64 / 2.0
    } else {
        switches_per_iteration as f64
    }
}

/// hook-cost: per switch scenario, registered minus unregistered guest instructions per switch into the mm (minima
/// of the repetitions), per variant; the darker part of each bar is the barriers the hook's disassembly holds (each `dmb` executes once
/// per switch into a registered mm).
pub fn hook_cost_chart(results: &[VariantResult]) -> BarChart {
    let series = results
        .iter()
        .map(|result| {
            let barriers = match result.call_site.barriers {
                0 => "no barrier".to_string(),
                1 => "1 dmb ish".to_string(),
                count => format!("{count} dmb"),
            };
            let tests_only = if result.barrier == Barrier::NoneBroken { ", tests only" } else { "" };
            Series {
                label: format!("{} (hook: {barriers}{tests_only})", result.barrier.name()),
                colour: colour(result.barrier),
            }
        })
        .collect();
    let mut groups = Vec::new();
    for key in switch_scenarios(results) {
        if key.mm != "registered" {
            continue;
        }
        let added = |result: &VariantResult| {
            let unregistered =
                result.scenarios.keys().find(|other| other.name == key.name && other.mm == "unregistered")?;
            let registered = result.scenarios.get(key)?;
            // Minima: an interrupt or IPI that lands in a region only adds instructions, so the minimum of the
            // repetitions is the undisturbed path, and the difference of two minima the hook alone.
            let per_iteration =
                spread(&registered.instructions)?.min - spread(&result.scenarios.get(unregistered)?.instructions)?.min;
            Some(per_iteration / switches_into_mm(key, registered.switches_per_iteration))
        };
        groups.push(Group {
            label: vec![key.name.clone()],
            bar_texts: Vec::new(),
            highlights: results.iter().map(|result| result.call_site.barriers as f64).collect(),
            values: results.iter().map(added).collect(),
        });
    }
    BarChart {
        title: "What registering the mm adds per switch into it (registered - unregistered, minima)".into(),
        axis_label: "guest instructions per switch into the mm".into(),
        series,
        groups,
        missing: "n/a".into(),
        notes: vec![
            "The rest of each bar is bookkeeping of this kernel: the barrier-audit marker hint #0x62 and the hook_barriers statistics counter.".into(),
            "Minimum of the repetitions of each scenario: an interrupt landing in a region only adds instructions, so the minimum is the undisturbed path.".into(),
            "user-kthread-user: only its kthread -> user switch enters the mm, so the difference per round trip counts once.".into(),
        ],
        highlight_label: Some("the dmb ish in the hook (from the disassembly; one instruction per switch into the mm)".into()),
    }
}

/// Writes `chart` as SVG to `path`.
pub fn write_svg(chart: &BarChart, path: &Path) -> Result<()> {
    std::fs::write(path, chart.to_svg()).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round() {
        for (span, step) in
            [(666.0, 100.0), (2900.0, 500.0), (8.0, 1.0), (15.0, 2.0), (0.5, 0.1), (100_000.0, 10_000.0)]
        {
            assert_eq!(tick_step(span), step, "span {span}");
        }
        for span in [1.0, 3.3, 47.0, 499.0, 666.0, 1234.5, 9999.0] {
            let step = tick_step(span);
            let mantissa = step / 10f64.powf(step.log10().floor());
            assert!([1.0, 2.0, 5.0].iter().any(|round| (mantissa - round).abs() < 1e-9), "span {span}: {step}");
            assert!((4.0..=10.0).contains(&(span / step).ceil()), "span {span}: {step}");
        }
    }

    /// A chart like compare's, with long labels and a missing bar.
    pub fn sample_chart() -> BarChart {
        let series = [
            "arm64",
            "generic",
            "none-BROKEN (no post-switch barrier, tests only)",
            "Linux (linux-image-6.12.117+deb12-cloud-arm64 6.12.117-1~deb12u1)",
        ]
        .iter()
        .zip(["#2b6cb0", "#38a169", "#c53030", LINUX_COLOUR])
        .map(|(label, colour)| Series { label: label.to_string(), colour })
        .collect();
        let groups = ["user-user-same-mm", "user-user-other-mm", "user-kthread-user"]
            .iter()
            .enumerate()
            .map(|(index, name)| Group {
                label: vec![name.to_string(), "(unregistered)".into()],
                values: vec![Some(630.5), Some(-3.5), Some(601.0), if index == 2 { None } else { Some(2808.0) }],
                bar_texts: Vec::new(),
                highlights: vec![1.0, 0.0, 0.0, 0.0],
            })
            .collect();
        BarChart {
            title: "Guest instructions per context switch (median of the repetitions)".into(),
            axis_label: "guest instructions per switch".into(),
            series,
            groups,
            missing: "n/a".into(),
            notes: vec!["Linux n/a for user-kthread-user (unregistered): the peer is a kernel thread".into()],
            highlight_label: Some("the dmb ish in the hook (from the disassembly)".into()),
        }
    }

    /// (x, anchor, font size, text) of every `<text>` element, and the document's width.
    fn texts(svg: &str) -> (f64, Vec<(f64, String, f64, String)>) {
        let attribute = |element: &str, name: &str| {
            element.split(&format!(" {name}=\"")).nth(1).and_then(|rest| rest.split('"').next()).map(String::from)
        };
        let width: f64 = attribute(svg, "width").unwrap().parse().unwrap();
        let mut found = Vec::new();
        for piece in svg.split("<text").skip(1) {
            let (element, rest) = piece.split_once('>').unwrap();
            let content = rest.split("</text>").next().unwrap().to_string();
            if element.contains("rotate(") {
                continue;
            }
            let x: f64 = attribute(element, "x").unwrap().parse().unwrap();
            let anchor = attribute(element, "text-anchor").unwrap_or_else(|| "start".into());
            let size = attribute(element, "font-size").map_or(FONT_SIZE, |size| size.parse().unwrap());
            found.push((x, anchor, size, content));
        }
        (width, found)
    }

    #[test]
    fn no_text_is_cut_off_at_the_edges() {
        let svg = sample_chart().to_svg();
        let (width, texts) = texts(&svg);
        assert!(texts.iter().any(|text| text.3.starts_with("none-BROKEN")));
        for (x, anchor, size, content) in texts {
            let extent = text_width(&content.replace("&amp;", "&"), size);
            let (left, right) = match anchor.as_str() {
                "middle" => (x - extent / 2.0, x + extent / 2.0),
                "end" => (x - extent, x),
                _ => (x, x + extent),
            };
            assert!(left >= 0.0 && right <= width, "{content:?} spans {left:.0}..{right:.0} of {width:.0}");
        }
    }

    /// Renders the sample chart to PNG with rsvg-convert (`cargo xtask compare` installs it; without it the
    /// test says so and checks only the SVG).
    #[test]
    fn renders_to_png() {
        let folder = std::env::temp_dir().join(format!("xtask-chart-test-{}", std::process::id()));
        std::fs::create_dir_all(&folder).unwrap();
        let (svg, png) = (folder.join("chart.svg"), folder.join("chart.png"));
        std::fs::write(&svg, sample_chart().to_svg()).unwrap();
        if super::super::png::renderer_present() {
            super::super::png::render(&svg, &png).unwrap();
            let (width, height) = super::super::png::png_size(&png).unwrap();
            assert!(width > 400 && height > 300, "{width}x{height}");
        } else {
            eprintln!("rsvg-convert is missing (apt-get install librsvg2-bin): PNG rendering not checked");
        }
        let _ = std::fs::remove_dir_all(&folder);
    }

    #[test]
    fn axis_ticks_are_round_numbers() {
        let svg = sample_chart().to_svg();
        let ticks: Vec<i64> = svg
            .lines()
            .filter(|line| line.starts_with("<line"))
            .filter_map(|line| line.split('>').nth(2)?.split('<').next()?.parse().ok())
            .collect();
        assert!(ticks.len() >= 4, "{ticks:?}");
        assert!(ticks.contains(&0));
        let step = ticks[1] - ticks[0];
        assert!([100, 200, 500, 1000].contains(&step), "{ticks:?}");
        assert!(ticks.iter().all(|tick| tick % step == 0), "{ticks:?}");
    }
}
