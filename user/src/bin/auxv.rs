//! Checks the initial stack and auxiliary vector the kernel gave this program against what Linux gives a static
//! binary, and hands back its `AT_RANDOM` bytes and load address for the caller to compare between runs.
//!
//! `auxv [RANDOM [LOAD]]`: RANDOM (32 characters) is overwritten with the 16 `AT_RANDOM` bytes in hex, LOAD (16
//! characters) with the address of the ELF header in hex (the load address of a static PIE). Exits 0 when
//! every check passes, 1 otherwise (after printing each failure).
#![no_std]
#![no_main]

use abi::auxv::hwcap::{HWCAP_ASIMD, HWCAP_FP};
use abi::auxv::*;
use abi::elf::{ELF64_PROGRAM_HEADER_SIZE, PF_X, PT_LOAD};

unsafe extern "C" {
    /// The ELF header, in the first loaded segment (the linker defines the symbol).
    static __ehdr_start: u8;
    /// The entry point (ulib's start-up code).
    fn _start();
}

/// Counts failed checks, printing the name of each.
///
/// The program does not use `core::fmt`: its vtables are absolute pointers in read-only data, which the
/// precompiled `core` for this target cannot give as position-independent relocations, so a static-PIE link
/// of a program that formats fails. Everything printed here is a plain byte string or hex.
struct Checks {
    failures: u32,
}

impl Checks {
    fn check(&mut self, passed: bool, what: &str) {
        if !passed {
            self.failures += 1;
            write_all(&[b"auxv: FAILED: ", what.as_bytes(), b"\n"]);
        }
    }
}

fn write_all(parts: &[&[u8]]) {
    let mut line = [0u8; 160];
    let mut length = 0;
    for part in parts {
        for &byte in part.iter() {
            if length < line.len() {
                line[length] = byte;
                length += 1;
            }
        }
    }
    ulib::sys::write(1, line.get(..length).unwrap_or(&[]));
}

/// The NUL-terminated string at `address` as bytes.
fn string_at(address: u64) -> &'static [u8] {
    if address == 0 {
        return b"";
    }
    // SAFETY: the kernel points AT_EXECFN and AT_PLATFORM at NUL-terminated strings on the initial stack.
    unsafe {
        let pointer = address as *const u8;
        let mut length = 0;
        while *pointer.add(length) != 0 {
            length += 1;
        }
        core::slice::from_raw_parts(pointer, length)
    }
}

/// Reads the `u64` at `address` (inside the loaded ELF header or program-header table).
fn word_at(address: usize) -> u64 {
    // SAFETY: callers pass addresses inside the ELF header or the program-header table, which the first loaded
    // segment holds (the table's address checked against the header's own fields first).
    unsafe { core::ptr::read_unaligned(address as *const u64) }
}

/// `bytes` in hex, two digits each, into `out` (twice as long).
fn hex(bytes: &[u8], out: &mut [u8]) {
    for (byte, digits) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        digits[0] = hex_digit(byte >> 4);
        digits[1] = hex_digit(byte & 15);
    }
}

fn hex_digit(value: u8) -> u8 {
    if value < 10 {
        b'0' + value
    } else {
        b'a' + value - 10
    }
}

/// `value` as 16 hex digits.
fn hex_word(value: u64) -> [u8; 16] {
    let mut text = [0u8; 16];
    hex(&value.to_be_bytes(), &mut text);
    text
}

fn main(args: ulib::Args) -> i32 {
    let mut checks = Checks { failures: 0 };
    let value = |key| args.auxiliary_value(key);
    checks.check(args.initial_stack_pointer().is_multiple_of(16), "the initial stack pointer is 16-byte aligned");
    checks.check(value(AT_PAGESZ) == Some(4096), "AT_PAGESZ is 4096");
    let hwcap = value(AT_HWCAP).unwrap_or(0);
    checks.check(hwcap & (HWCAP_FP | HWCAP_ASIMD) == HWCAP_FP | HWCAP_ASIMD, "AT_HWCAP has FP and ASIMD");
    let hwcap2 = value(AT_HWCAP2);
    checks.check(hwcap2.is_some(), "AT_HWCAP2 is present");
    checks.check(value(AT_CLKTCK) == Some(100), "AT_CLKTCK is 100");
    checks.check(value(AT_MINSIGSTKSZ) == Some(MINIMUM_SIGNAL_STACK_SIZE), "AT_MINSIGSTKSZ is Linux's");
    checks.check(value(AT_UID) == Some(0), "AT_UID is 0");
    checks.check(value(AT_EUID) == Some(0), "AT_EUID is 0");
    checks.check(value(AT_GID) == Some(0), "AT_GID is 0");
    checks.check(value(AT_EGID) == Some(0), "AT_EGID is 0");
    checks.check(value(AT_SECURE) == Some(0), "AT_SECURE is 0");
    checks.check(value(AT_BASE) == Some(0), "AT_BASE is 0 (no interpreter)");
    checks.check(value(AT_FLAGS) == Some(0), "AT_FLAGS is 0");
    checks.check(value(AT_SYSINFO_EHDR).is_none(), "no AT_SYSINFO_EHDR without a vDSO");
    checks.check(string_at(value(AT_EXECFN).unwrap_or(0)) == args.get(0).as_bytes(), "AT_EXECFN is argv[0]");
    checks.check(string_at(value(AT_PLATFORM).unwrap_or(0)) == b"aarch64", "AT_PLATFORM is aarch64");
    // The program headers: AT_PHDR must be where the loaded ELF header says its table is.
    let header = &raw const __ehdr_start as usize;
    let table_offset = word_at(header + 32) as usize;
    let entry_size = (word_at(header + 48) >> 48) as u16; // e_flags, e_ehsize, e_phentsize
    let count = word_at(header + 56) as u16; // e_phnum, e_shentsize, e_shnum, e_shstrndx
    let table = value(AT_PHDR).unwrap_or(0) as usize;
    checks.check(table == header + table_offset, "AT_PHDR is the ELF header's address + e_phoff");
    checks.check(value(AT_PHNUM) == Some(u64::from(count)), "AT_PHNUM is e_phnum");
    checks.check(value(AT_PHENT) == Some(ELF64_PROGRAM_HEADER_SIZE as u64), "AT_PHENT is 56");
    checks.check(usize::from(entry_size) == ELF64_PROGRAM_HEADER_SIZE, "e_phentsize is 56");
    let entry = value(AT_ENTRY).unwrap_or(0);
    checks.check(entry == _start as *const () as u64, "AT_ENTRY is _start");
    if table == header + table_offset {
        // Through AT_PHDR: an executable PT_LOAD holds the entry point (addresses relative to the first PT_LOAD,
        // which maps the file from offset 0, where the header is).
        let mut load_bias = None;
        let mut entry_in_code = false;
        for index in 0..usize::from(count) {
            let program_header = table + index * ELF64_PROGRAM_HEADER_SIZE;
            let type_and_flags = word_at(program_header);
            if type_and_flags as u32 != PT_LOAD {
                continue;
            }
            let flags = (type_and_flags >> 32) as u32;
            let (offset, address, memory_size) =
                (word_at(program_header + 8), word_at(program_header + 16), word_at(program_header + 40));
            let load_bias = *load_bias.get_or_insert((header as u64).wrapping_sub(address.wrapping_sub(offset)));
            let start = load_bias.wrapping_add(address);
            entry_in_code |= flags & PF_X != 0 && entry >= start && entry - start < memory_size;
        }
        checks.check(entry_in_code, "an executable PT_LOAD found through AT_PHDR holds AT_ENTRY");
    }
    // Hand back the random bytes and the load address.
    let random_address = value(AT_RANDOM).unwrap_or(0) as usize;
    checks.check(random_address != 0, "AT_RANDOM is present");
    let mut random = [0u8; 16];
    if random_address != 0 {
        // SAFETY: AT_RANDOM points at 16 bytes on the initial stack.
        random = unsafe { core::ptr::read_unaligned(random_address as *const [u8; 16]) };
    }
    checks.check(random != [0; 16], "AT_RANDOM bytes are not all zero");
    let mut random_text = [0u8; 32];
    hex(&random, &mut random_text);
    args.write_argument(1, &random_text);
    args.write_argument(2, &hex_word(header as u64));
    let verdict: &[u8] = if checks.failures == 0 { b"auxv: all checks passed" } else { b"auxv: checks FAILED" };
    write_all(&[verdict, b"; load address ", &hex_word(header as u64), b", AT_HWCAP ", &hex_word(hwcap)]);
    write_all(&[b", AT_HWCAP2 ", &hex_word(hwcap2.unwrap_or(0)), b", AT_RANDOM ", &random_text, b"\n"]);
    i32::from(checks.failures != 0)
}
ulib::entry!(main);
