//! The code at the post-switch hook's call site in `schedule`, from the kernel ELF's disassembly with line
//! information (`llvm-objdump -d -l`).

use super::results::CallSite;
use crate::workspace_root;
use anyhow::{bail, ensure, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

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
pub fn hook_call_site(elf: &Path) -> Result<CallSite> {
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
    let objdump = crate::command::llvm_tool("llvm-objdump")?;
    let text =
        crate::command::stdout(Command::new(objdump).args(["-d", "--no-show-raw-insn", "-l", "--demangle"]).arg(elf))?;
    // (function, [(location, instruction text)]) for `schedule`.
    let mut function = String::new();
    let mut instructions: Vec<(String, String)> = Vec::new();
    let mut location = String::new();
    let mut inside = false;
    for line in text.lines() {
        if line.ends_with(">:") {
            // A candidate without the hook (`schedule` when it only calls `schedule_with`) is passed over.
            if inside && instructions.iter().any(|(location, _)| in_hook(location)) {
                break;
            }
            instructions.clear();
            // `core_sched::sched::Scheduler$LT$A$GT$::schedule::h...` (llvm-objdump leaves `$LT$` escapes); the
            // switch itself is `schedule_with` (schedule and yield_now call it) unless it is inlined into schedule.
            inside = line.contains("core_sched::sched::Scheduler")
                && (line.contains("::schedule::") || line.contains("::schedule_with::"));
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
    ensure!(!instructions.is_empty(), "no schedule() function in the disassembly");
    let hits: Vec<usize> = (0..instructions.len()).filter(|&index| in_hook(&instructions[index].0)).collect();
    let Some(&last) = hits.last() else {
        bail!("no instruction of schedule() comes from the hook");
    };
    // The hook is the contiguous run of hook and inlined library instructions that ends at its last one: a
    // helper it shares (`membarrier_state_requires_barrier`, also used by the audit marker before switch_mm)
    // can appear earlier in the function without being part of it.
    let mut first = last;
    while first > 0 && {
        let location = &instructions[first - 1].0;
        in_hook(location) || is_library(location)
    } {
        first -= 1;
    }
    while !in_hook(&instructions[first].0) {
        first += 1;
    }
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
