//! What every core was doing when a QEMU run hung: asks QEMU's human monitor (a Unix socket given with
//! `-monitor`) for each vCPU's registers, walks the kernel's frame-pointer chain, and names the functions from
//! the kernel ELF's symbol table. The report goes under the last console lines of a hang.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use xmas_elf::symbol_table::Entry;

/// Frames walked per core.
const MAX_FRAMES: usize = 24;
/// Kernel addresses live in the TTBR1 half (the linear map at 0xFFFF_FF80_0000_0000).
const KERNEL_BASE: u64 = 0xFFFF_FF80_0000_0000;

/// A monitor socket path for one run: short (Unix socket paths are limited to about 100 bytes) and unique.
pub fn socket_path() -> PathBuf {
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let sequence = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::env::temp_dir().join(format!("xtask-monitor-{}-{sequence}.sock", std::process::id()))
}

/// One vCPU's registers from `info registers -a`.
#[derive(Debug, Default, PartialEq)]
struct CpuRegisters {
    cpu: usize,
    pc: u64,
    frame_pointer: u64,
    link_register: u64,
    stack_pointer: u64,
    /// The mode QEMU prints after PSTATE's flags, e.g. `EL1h` or `EL0t`.
    mode: String,
}

/// Function symbols of the kernel ELF, sorted by address, names demangled.
pub struct Symbols(Vec<(u64, u64, String)>);

impl Symbols {
    pub fn load(elf: &Path) -> Symbols {
        let Ok(bytes) = std::fs::read(elf) else { return Symbols(Vec::new()) };
        let Ok(file) = xmas_elf::ElfFile::new(&bytes) else { return Symbols(Vec::new()) };
        let mut symbols = Vec::new();
        for section in file.section_iter() {
            let Ok(xmas_elf::sections::SectionData::SymbolTable64(entries)) = section.get_data(&file) else {
                continue;
            };
            for entry in entries {
                let is_function = matches!(entry.get_type(), Ok(xmas_elf::symbol_table::Type::Func));
                let is_label = matches!(entry.get_type(), Ok(xmas_elf::symbol_table::Type::NoType));
                if !(is_function || is_label) || entry.value() < KERNEL_BASE {
                    continue;
                }
                if let Ok(name) = entry.get_name(&file) {
                    if name.starts_with("$") || name.is_empty() {
                        continue;
                    }
                    let name = format!("{:#}", rustc_demangle::demangle(name));
                    symbols.push((entry.value(), entry.size(), name));
                }
            }
        }
        symbols.sort_by_key(|&(address, _, _)| address);
        Symbols(symbols)
    }

    /// `function+0xoffset` for a kernel address.
    fn name(&self, address: u64) -> String {
        let index = self.0.partition_point(|&(start, _, _)| start <= address);
        match index.checked_sub(1).map(|index| &self.0[index]) {
            // Assembly labels have no size: accept them for a page.
            Some((start, size, name)) if address - start < if *size == 0 { 0x1000 } else { *size } => {
                format!("{name}+{:#x}", address - start)
            }
            _ => "?".to_string(),
        }
    }
}

/// Adds function names to the kernel's panic report: to each call-chain line `  called from 0x...`, and to the
/// `kernel fault ... ELR 0x...` line (the faulting instruction). Other lines come back unchanged.
pub fn name_call_site(line: String, symbols: &mut Option<Symbols>, elf: &Path) -> String {
    let call_site = line.trim_start().strip_prefix("called from 0x").and_then(|hex| parse_hex(hex.trim()));
    let fault_pc = || {
        let (_, rest) = line.split_once("ELR 0x")?;
        parse_hex(rest.split(|c: char| !c.is_ascii_hexdigit()).next()?).filter(|_| line.contains("kernel fault"))
    };
    match (call_site, fault_pc()) {
        (Some(address), _) => {
            let symbols = symbols.get_or_insert_with(|| Symbols::load(elf));
            format!("{line} {}", symbols.name(address))
        }
        (None, Some(address)) => {
            let symbols = symbols.get_or_insert_with(|| Symbols::load(elf));
            format!("{line} (ELR in {})", symbols.name(address))
        }
        (None, None) => line,
    }
}

/// A connection to QEMU's human monitor.
struct Monitor {
    stream: UnixStream,
}

impl Monitor {
    fn connect(path: &Path) -> Option<Monitor> {
        let stream = UnixStream::connect(path).ok()?;
        stream.set_read_timeout(Some(Duration::from_millis(200))).ok()?;
        let mut monitor = Monitor { stream };
        monitor.read_until_prompt();
        Some(monitor)
    }

    /// Output up to the next `(qemu) ` prompt (at most 5 s), with the echo's terminal escapes removed.
    fn read_until_prompt(&mut self) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut bytes = Vec::new();
        let mut buffer = [0u8; 65536];
        while Instant::now() < deadline && !bytes.ends_with(b"(qemu) ") {
            match self.stream.read(&mut buffer) {
                Ok(0) => break,
                Ok(count) => bytes.extend_from_slice(&buffer[..count]),
                Err(_) => continue,
            }
        }
        strip_escapes(&String::from_utf8_lossy(&bytes))
    }

    fn command(&mut self, command: &str) -> String {
        if self.stream.write_all(format!("{command}\n").as_bytes()).is_err() {
            return String::new();
        }
        self.read_until_prompt()
    }

    /// The two 64-bit words at a virtual address of the selected CPU: a frame record (previous fp, lr).
    fn frame_record(&mut self, address: u64) -> Option<(u64, u64)> {
        let output = self.command(&format!("x /2gx {address:#x}"));
        let line = output.lines().find(|line| line.contains(':'))?;
        let mut words = line.split_once(':')?.1.split_whitespace().map(parse_hex);
        Some((words.next()??, words.next()??))
    }
}

fn parse_hex(text: &str) -> Option<u64> {
    u64::from_str_radix(text.trim_start_matches("0x"), 16).ok()
}

/// Removes ANSI escape sequences and the monitor's line editing (it echoes each typed character).
fn strip_escapes(text: &str) -> String {
    let mut clean = String::new();
    let mut characters = text.chars().peekable();
    while let Some(character) = characters.next() {
        if character == '\u{1b}' {
            if characters.peek() == Some(&'[') {
                characters.next();
                while let Some(&next) = characters.peek() {
                    characters.next();
                    if next.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        if character != '\r' {
            clean.push(character);
        }
    }
    clean
}

/// Parses `info registers -a` (QEMU's aarch64 format: `CPU#n`, then `PC=... X00=...`, `PSTATE=... EL1h`).
fn parse_registers(text: &str) -> Vec<CpuRegisters> {
    let mut cpus: Vec<CpuRegisters> = Vec::new();
    for line in text.lines() {
        if let Some(number) = line.trim().strip_prefix("CPU#") {
            if let Ok(cpu) = number.trim().parse() {
                cpus.push(CpuRegisters { cpu, ..Default::default() });
            }
            continue;
        }
        let Some(current) = cpus.last_mut() else { continue };
        let mut fields = line.split_whitespace();
        while let Some(field) = fields.next() {
            let Some((name, value)) = field.split_once('=') else { continue };
            let value = parse_hex(value);
            match (name, value) {
                ("PC", Some(value)) => current.pc = value,
                ("X29", Some(value)) => current.frame_pointer = value,
                ("X30", Some(value)) => current.link_register = value,
                ("SP", Some(value)) => current.stack_pointer = value,
                ("PSTATE", _) => {
                    // `PSTATE=60000345 -ZC- EL1h`: the mode is the word starting with "EL".
                    for word in fields.by_ref() {
                        if word.starts_with("EL") {
                            current.mode = word.to_string();
                            break;
                        }
                    }
                }
                _ => {}
            }
        }
    }
    cpus
}

/// Report lines: every vCPU's mode, pc and (for kernel code) its call chain, twice, 300 ms apart, so that a
/// spinning core shows the same place twice. Empty if the monitor cannot be reached.
pub fn report(socket: &Path, elf: &Path) -> Vec<String> {
    let Some(mut monitor) = Monitor::connect(socket) else {
        return vec![format!("(no QEMU monitor at {})", socket.display())];
    };
    let symbols = Symbols::load(elf);
    let mut lines = Vec::new();
    for sample in 1..=2 {
        let cpus = parse_registers(&monitor.command("info registers -a"));
        if cpus.is_empty() {
            lines.push("(the monitor returned no registers)".into());
            break;
        }
        lines.push(format!("vCPU state, sample {sample}:"));
        for cpu in &cpus {
            let place = if cpu.pc >= KERNEL_BASE { symbols.name(cpu.pc) } else { "user code".to_string() };
            lines.push(format!("  CPU {} {} pc {:#x} {place} sp {:#x}", cpu.cpu, cpu.mode, cpu.pc, cpu.stack_pointer));
            if sample == 1 && cpu.mode.starts_with("EL1") {
                lines.extend(backtrace(&mut monitor, &symbols, cpu));
            }
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    lines
}

/// The frame-pointer chain of one CPU in kernel mode (the kernel is built with frame pointers).
fn backtrace(monitor: &mut Monitor, symbols: &Symbols, cpu: &CpuRegisters) -> Vec<String> {
    let mut lines = vec![format!("      lr {:#x} {}", cpu.link_register, symbols.name(cpu.link_register))];
    monitor.command(&format!("cpu {}", cpu.cpu));
    let mut frame = cpu.frame_pointer;
    for _ in 0..MAX_FRAMES {
        if frame < KERNEL_BASE || !frame.is_multiple_of(16) {
            break;
        }
        let Some((previous, return_address)) = monitor.frame_record(frame) else { break };
        if return_address < KERNEL_BASE {
            break;
        }
        // The call instruction is the one before the return address (which may already be the next function).
        let call_site = return_address - 4;
        lines.push(format!("      called from {call_site:#x} {}", symbols.name(call_site)));
        if previous <= frame {
            break;
        }
        frame = previous;
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_qemu_aarch64_register_dump() {
        let text = "info registers -a\n\nCPU#0\n PC=ffffff8040200810 X00=0000000196be0310 X01=0\n\
                    X29=ffffff80402cc560 X30=ffffff804020083c  SP=ffffff80402cc550\n\
                    PSTATE=60000345 -ZC- EL1h     FPCR=00000000 FPSR=00000000\n\nCPU#1\n PC=0000000000210a20 X00=3\n\
                    X29=0000000000000000 X30=0000000000210b00  SP=0000000000400000\nPSTATE=20000000 --C- EL0t\n(qemu) ";
        let cpus = parse_registers(text);
        assert_eq!(cpus.len(), 2);
        assert_eq!(cpus[0].pc, 0xffffff8040200810);
        assert_eq!(cpus[0].frame_pointer, 0xffffff80402cc560);
        assert_eq!(cpus[0].link_register, 0xffffff804020083c);
        assert_eq!(cpus[0].stack_pointer, 0xffffff80402cc550);
        assert_eq!(cpus[0].mode, "EL1h");
        assert_eq!(cpus[1].cpu, 1);
        assert_eq!(cpus[1].mode, "EL0t");
    }

    #[test]
    fn strips_the_monitor_line_editing() {
        assert_eq!(strip_escapes("i\u{1b}[K\u{1b}[Din\u{1b}[K\r\nCPU#0"), "iin\nCPU#0");
    }
}
