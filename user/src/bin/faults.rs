//! Takes the fault named by argv[1]; the kernel must kill this process (exit status 139, or 135 for a misaligned
//! stack pointer, as Linux's SIGSEGV and SIGBUS) and go on. Exits 0 only if the fault did not happen, which is a
//! failure for the test that runs it, except in the `cache-maintenance` mode, which must not fault.
#![no_std]
#![no_main]

use ulib::{println, sys};

/// A kernel virtual address (the kernel image in TTBR1): never reachable from EL0.
const KERNEL_ADDRESS: usize = 0xFFFF_FF80_4020_0000;

fn main(args: ulib::Args) -> i32 {
    let mode = args.get(1);
    println!("faults: taking '{mode}'");
    // SAFETY: none of this is safe; each access is meant to fault and be caught by the kernel.
    unsafe {
        match mode {
            "kernel-read" => {
                let value = core::ptr::read_volatile(KERNEL_ADDRESS as *const u64);
                println!("faults: read kernel memory: {value:#x}");
            }
            "kernel-write" => core::ptr::write_volatile(KERNEL_ADDRESS as *mut u64, 0xbad),
            "null" => {
                let value = core::ptr::read_volatile(core::ptr::null::<u64>());
                println!("faults: read address 0: {value:#x}");
            }
            "undefined" => core::arch::asm!("udf #0"),
            "write-code" => {
                let code = main as *const () as usize as *mut u32;
                core::ptr::write_volatile(code, 0);
            }
            "kernel-register" => {
                let value: u64;
                core::arch::asm!("mrs {value}, ttbr1_el1", value = out(reg) value);
                println!("faults: read TTBR1_EL1: {value:#x}");
            }
            "kernel-exec" => {
                // argv[2]: the address of a `ret` in kernel text. Executing it must fault (instruction abort);
                // if it does not, the call simply returns.
                call_address(parse_hex(args.get(2)));
            }
            "alias-exec" => alias_exec(&args),
            "sp-misaligned" => {
                // SP 8 below a 16-byte boundary, then a load through it: an SP alignment fault (SA0). SP is put
                // back in the same asm block, so Rust code never sees it misaligned. QEMU does not model the
                // check: there the load succeeds (the kernel test then checks SCTLR_EL1.SA0 instead).
                let value: u64;
                core::arch::asm!(
                    "mov {saved}, sp",
                    "sub {misaligned}, {saved}, #8",
                    "mov sp, {misaligned}",
                    "ldr {value}, [sp]",
                    "mov sp, {saved}",
                    saved = out(reg) _,
                    misaligned = out(reg) _,
                    value = out(reg) value,
                );
                println!("faults: loaded {value:#x} through a misaligned SP");
            }
            "cache-maintenance" => {
                // What `__clear_cache` and a JIT do, on a stack, a data and a code page of our own: allowed at
                // EL0 (SCTLR_EL1.UCI), so nothing here may fault.
                let on_stack = 0u64;
                let stack = &on_stack as *const u64 as usize;
                let data = &raw const DATA_WORD as usize;
                let code = main as *const () as usize;
                core::arch::asm!(
                    "dc civac, {stack}",
                    "dc civac, {data}",
                    "dc cvau, {data}",
                    "dc cvau, {code}",
                    "dsb ish",
                    "ic ivau, {code}",
                    "dsb ish",
                    "isb",
                    stack = in(reg) stack,
                    data = in(reg) data,
                    code = in(reg) code,
                );
                println!("faults: cache maintenance at EL0 works");
                return 0;
            }
            _ => println!("faults: unknown mode"),
        }
    }
    println!("faults: '{mode}' did NOT fault");
    0
}

/// A word in a writable data page of our own, for `cache-maintenance`.
static mut DATA_WORD: u64 = 1;

/// `ret`, as written into a data page by `alias-exec`.
const RET_INSTRUCTION: u32 = 0xd65f_03c0;

/// Parses "0x..." hexadecimal (0 when malformed).
fn parse_hex(text: &str) -> usize {
    usize::from_str_radix(text.trim_start_matches("0x"), 16).unwrap_or(0)
}

/// Branches with link to `address`, expecting it to hold a `ret`.
///
/// # Safety
/// None: the point is to jump somewhere EL0 must not execute.
unsafe fn call_address(address: usize) {
    println!("faults: calling {address:#x}");
    // SAFETY: none (see above). Every caller-saved register is clobbered, as a call may.
    unsafe { core::arch::asm!("blr {address}", address = in(reg) address, clobber_abi("C")) };
}

/// Writes a `ret` into a writable page of our own (the initial stack page holding argv[2]) and calls it through
/// that page's alias in the kernel's linear map, which the kernel writes into argv[2] (as "0x" and 16 hex
/// digits) while we wait: the alias is only known once the page exists. The linear map is never executable at
/// EL0, so the call must fault; before that was so, it returned.
///
/// # Safety
/// As `call_address`.
unsafe fn alias_exec(args: &ulib::Args) {
    let argument = args.get(2).as_ptr();
    let length = args.get(2).len();
    let started = sys::monotonic_ns();
    // The kernel overwrites the placeholder's '?' bytes; each byte is read whole, so once none is left, all are
    // the kernel's.
    let mut text = [0u8; 18];
    loop {
        for (index, byte) in text.iter_mut().enumerate().take(length) {
            // SAFETY: reads inside argv[2], a string on our initial stack that the kernel changes behind us.
            *byte = unsafe { core::ptr::read_volatile(argument.add(index)) };
        }
        if length == text.len() && !text.contains(&b'?') {
            break;
        }
        if sys::monotonic_ns() - started > 10_000_000_000 {
            println!("faults: the kernel did not write the alias address into argv[2]");
            sys::exit_group(1);
        }
        sys::sched_yield();
    }
    let page_alias = parse_hex(core::str::from_utf8(&text).unwrap_or(""));
    // Reuse argv[2]'s own bytes for the code: the first 4-byte aligned word inside it.
    let code = (argument as usize).next_multiple_of(4);
    // SAFETY: `code..code + 4` lies inside argv[2]'s 18 bytes on our writable stack page.
    unsafe { core::ptr::write_volatile(code as *mut u32, RET_INSTRUCTION) };
    // No cache maintenance: the fetch must fail on permissions before any cache is looked at, and without
    // SCTLR_EL1.UCI (before the fix) `dc cvau` would itself kill us with the wrong cause.
    // SAFETY: none (see the function's contract).
    unsafe { call_address(page_alias + code % 4096) };
}

ulib::entry!(main);
