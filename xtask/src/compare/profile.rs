//! `cargo xtask profile <scenario>`: guest instructions per function for one bench region. Builds the bench
//! payload with only that scenario (one repetition, no litmus), runs it with the insn-counter plugin's
//! `profile=` mode (executions per PC strictly between the region's markers), and maps each PC to the function
//! symbol that contains it: the kernel ELF's symbol table for kernel addresses, the bench program's for user
//! addresses. A second table attributes each kernel PC to the innermost source function at it, inlined frames
//! included (the release kernel keeps its DWARF; read with addr2line), so `schedule`'s inlined helpers show on
//! their own; the bench program has no DWARF, so its PCs keep their symbol. Both tables add up to the region's
//! count, which the plugin measures independently; a mismatch is an error.

use super::bench_run::{build_plugin, run_qemu};
use crate::{workspace_root, Barrier, Board, KernelBuild, Payload, VariantArgs};
use anyhow::{bail, ensure, Context, Result};
use std::collections::BTreeMap;
use std::path::Path;

/// Kernel addresses start here (TTBR1, T1SZ = 25); user code lies below 2^39.
const KERNEL_BASE: u64 = 0xFFFF_FF80_0000_0000;

/// What to profile.
#[derive(clap::Args, Clone, Debug)]
pub struct ProfileOptions {
    /// Bench scenario (payloads/src/bench.rs), e.g. user-user-same-mm, yield-alone, getpid, membarrier-query,
    /// membarrier-0-others.
    pub scenario: String,
    /// Profile the registered-mm region of the scenario (PRIVATE_EXPEDITED registered: the post-switch barrier
    /// runs) instead of the first one the scenario has.
    #[arg(long)]
    pub registered: bool,
    /// Post-switch-mm barrier implementation.
    #[arg(long, value_enum, default_value_t = Barrier::Arm64)]
    pub barrier: Barrier,
    /// Measured iterations (the table shows instructions per iteration).
    #[arg(long, default_value_t = 200)]
    pub iterations: u64,
    /// Functions to list (the rest are summed in one line).
    #[arg(long, default_value_t = 40)]
    pub top: usize,
    /// Kill QEMU after this many seconds.
    #[arg(long, default_value_t = 600)]
    pub timeout: u64,
}

/// Function symbols of one ELF: (start, size, demangled name), sorted by start.
struct FunctionSymbols(Vec<(u64, u64, String)>);

impl FunctionSymbols {
    fn load(elf: &Path, wanted: impl Fn(u64) -> bool) -> Result<Self> {
        let bytes = std::fs::read(elf).with_context(|| format!("cannot read {}", elf.display()))?;
        let file = xmas_elf::ElfFile::new(&bytes).map_err(|error| anyhow::anyhow!("{}: {error}", elf.display()))?;
        let mut symbols = Vec::new();
        for section in file.section_iter() {
            let Ok(xmas_elf::sections::SectionData::SymbolTable64(entries)) = section.get_data(&file) else {
                continue;
            };
            for entry in entries {
                use xmas_elf::symbol_table::{Entry, Type};
                // Assembly entry points (the vectors, the switch) are untyped labels.
                let typed = matches!(entry.get_type(), Ok(Type::Func) | Ok(Type::NoType));
                let Ok(name) = entry.get_name(&file) else { continue };
                if !typed || name.is_empty() || name.starts_with('$') || !wanted(entry.value()) {
                    continue;
                }
                symbols.push((entry.value(), entry.size(), format!("{:#}", rustc_demangle::demangle(name))));
            }
        }
        // Sized symbols first at an address, so an alias label does not hide the function.
        symbols.sort_by_key(|&(start, size, _)| (start, size == 0));
        symbols.dedup_by_key(|&mut (start, _, _)| start);
        Ok(FunctionSymbols(symbols))
    }

    /// The function containing `address` (an untyped label extends to the next symbol).
    fn name(&self, address: u64) -> Option<&str> {
        let index = self.0.partition_point(|&(start, _, _)| start <= address).checked_sub(1)?;
        let (start, size, name) = &self.0[index];
        let end = if *size > 0 { start + size } else { self.0.get(index + 1).map_or(u64::MAX, |next| next.0) };
        (address < end).then_some(name.as_str())
    }
}

type DwarfReader = addr2line::gimli::EndianSlice<'static, addr2line::gimli::LittleEndian>;

/// The kernel's DWARF: the innermost (possibly inlined) function at a PC.
struct InlinedFunctions(addr2line::Context<DwarfReader>);

impl InlinedFunctions {
    fn load(elf: &Path) -> Result<Self> {
        // Leaked: the context borrows the sections for the rest of this short-lived command.
        let bytes: &'static [u8] =
            Box::leak(std::fs::read(elf).with_context(|| format!("cannot read {}", elf.display()))?.into_boxed_slice());
        let file = xmas_elf::ElfFile::new(bytes).map_err(|error| anyhow::anyhow!("{}: {error}", elf.display()))?;
        let dwarf = addr2line::gimli::Dwarf::load(|section: addr2line::gimli::SectionId| {
            let data = file.find_section_by_name(section.name()).map_or(&[][..], |header| header.raw_data(&file));
            Ok::<_, addr2line::gimli::Error>(DwarfReader::new(data, addr2line::gimli::LittleEndian))
        })?;
        Ok(InlinedFunctions(addr2line::Context::from_dwarf(dwarf)?))
    }

    /// The innermost function at `pc` (the first frame addr2line reports), demangled without its hash.
    fn name(&self, pc: u64) -> Option<String> {
        let mut frames = self.0.find_frames(pc).skip_all_loads().ok()?;
        let frame = frames.next().ok()??;
        let name = frame.function?.raw_name().ok()?.into_owned();
        Some(format!("{:#}", rustc_demangle::demangle(&name)))
    }
}

/// `cargo xtask profile`.
pub fn profile(options: ProfileOptions) -> Result<()> {
    let plugin = build_plugin()?;
    let variant = VariantArgs { board: Board::QemuVirt, barrier: options.barrier, release: true };
    let image = KernelBuild::new(variant, Payload::Bench)
        .with_setting("KERNEL_BENCH_ITERATIONS", options.iterations)
        .with_setting("KERNEL_BENCH_REPETITIONS", 1)
        .with_setting("KERNEL_BENCH_LITMUS_ITERATIONS", 0)
        .with_setting("KERNEL_BENCH_ONLY", &options.scenario)
        .build()?;
    let report = image.elf.with_file_name("insn-counter.txt");
    let profile_file = image.elf.with_file_name("insn-profile.txt");
    let _ = std::fs::remove_file(&report);
    let _ = std::fs::remove_file(&profile_file);
    let console = run_qemu(
        &image,
        &plugin,
        &report,
        options.timeout,
        options.barrier,
        &format!(",profile={}", profile_file.display()),
    )?;
    let mm = if options.registered { "registered" } else { "" };
    let (region, iterations) = find_region(&console, &options.scenario, mm)?;
    let plugin_report = std::fs::read_to_string(&report).context("the plugin wrote no report")?;
    let counted = region_count(&plugin_report, region)?;
    let profile_text = std::fs::read_to_string(&profile_file).context("the plugin wrote no profile")?;
    let kernel = FunctionSymbols::load(&image.elf, |address| address >= KERNEL_BASE)?;
    let user_elf = workspace_root().join("out/user-programs/bench");
    let user = FunctionSymbols::load(&user_elf, |address| address != 0 && address < KERNEL_BASE)?;
    let inlined = InlinedFunctions::load(&image.elf)?;
    let mut per_function: BTreeMap<String, u64> = BTreeMap::new();
    let mut per_source_function: BTreeMap<String, u64> = BTreeMap::new();
    let mut total = 0u64;
    for line in profile_text.lines() {
        let fields: BTreeMap<&str, &str> = line.split_whitespace().filter_map(|word| word.split_once('=')).collect();
        if fields.get("region").and_then(|text| text.parse::<u64>().ok()) != Some(region) {
            continue;
        }
        let pc = fields.get("pc").and_then(|text| u64::from_str_radix(text.trim_start_matches("0x"), 16).ok());
        let count = fields.get("count").and_then(|text| text.parse::<u64>().ok());
        let (Some(pc), Some(count)) = (pc, count) else { bail!("malformed profile line {line:?}") };
        let name = if pc >= KERNEL_BASE {
            kernel.name(pc).map_or_else(|| format!("kernel {pc:#x} (no symbol)"), String::from)
        } else {
            user.name(pc).map_or_else(|| format!("user {pc:#x} (no symbol)"), |name| format!("[user] {name}"))
        };
        let source_name = match inlined.name(pc) {
            Some(function) if pc >= KERNEL_BASE => function,
            _ => name.clone(),
        };
        *per_function.entry(name).or_default() += count;
        *per_source_function.entry(source_name).or_default() += count;
        total += count;
    }
    ensure!(
        total == counted,
        "the profile adds up to {total} instructions, the region counted {counted}: a PC was missed or counted twice"
    );
    println!(
        "\nprofile: scenario={} {}barrier={} iterations={iterations} region={region}",
        options.scenario,
        if mm.is_empty() { String::new() } else { format!("mm={mm} ") },
        options.barrier.name()
    );
    println!("\nBy symbol (inlined code counts for the function it was inlined into):\n");
    print_rows(per_function, options.top, iterations, total, counted);
    println!("\nBy source function (inlined frames on their own):\n");
    print_rows(per_source_function, options.top, iterations, total, counted);
    Ok(())
}

/// One Markdown table, largest first, `top` rows and a line for the rest.
fn print_rows(per_function: BTreeMap<String, u64>, top: usize, iterations: u64, total: u64, counted: u64) {
    let mut rows: Vec<(String, u64)> = per_function.into_iter().collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    println!("| function | instructions / iteration | share |");
    println!("|---|---:|---:|");
    let per_iteration = |count: u64| count as f64 / iterations as f64;
    for (name, count) in rows.iter().take(top) {
        let share = 100.0 * *count as f64 / total.max(1) as f64;
        println!("| `{name}` | {:.1} | {share:.1}% |", per_iteration(*count));
    }
    if rows.len() > top {
        let rest: u64 = rows[top..].iter().map(|row| row.1).sum();
        println!("| ({} more functions) | {:.1} | |", rows.len() - top, per_iteration(rest));
    }
    println!("| **total** (= the region's count, {counted}) | **{:.1}** | 100% |", per_iteration(total));
}

/// The region number and iterations of the first `bench: region=` line of `scenario` (and `mm`, when not empty).
fn find_region(console: &str, scenario: &str, mm: &str) -> Result<(u64, u64)> {
    for line in console.lines() {
        let Some(rest) = line.trim().strip_prefix("bench:") else { continue };
        let fields: BTreeMap<&str, &str> = rest.split_whitespace().filter_map(|word| word.split_once('=')).collect();
        if fields.get("scenario") != Some(&scenario) || (!mm.is_empty() && fields.get("mm") != Some(&mm)) {
            continue;
        }
        ensure!(!fields.contains_key("discarded"), "the region was discarded: {line:?}");
        let region = fields.get("region").and_then(|text| text.parse().ok());
        let iterations = fields.get("n").and_then(|text| text.parse().ok());
        if let (Some(region), Some(iterations)) = (region, iterations) {
            return Ok((region, iterations));
        }
    }
    bail!("the console has no region of scenario {scenario:?} {mm}")
}

/// The instructions the plugin counted in `region`.
fn region_count(plugin_report: &str, region: u64) -> Result<u64> {
    let prefix = format!("insn-counter: region={region} ");
    let line = plugin_report.lines().find(|line| line.starts_with(&prefix)).context("no such region")?;
    line.split_whitespace()
        .find_map(|word| word.strip_prefix("instructions="))
        .and_then(|text| text.parse().ok())
        .with_context(|| format!("no count in {line:?}"))
}
