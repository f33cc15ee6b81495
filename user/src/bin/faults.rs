//! Takes the fault named by argv[1]; the kernel must kill this process (exit status 139) and go on. Exits 0 only
//! if the fault did not happen, which is a failure for the test that runs it.
#![no_std]
#![no_main]

use ulib::println;

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
            _ => println!("faults: unknown mode"),
        }
    }
    println!("faults: '{mode}' did NOT fault");
    0
}
ulib::entry!(main);
