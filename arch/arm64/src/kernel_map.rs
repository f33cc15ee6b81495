//! The kernel's own translation table (TTBR1) with W^X at page granularity: text read-only and executable at
//! EL1 only, rodata read-only, everything else (data, bss, heap, stacks, page tables and the linear map of all
//! other RAM) read-write and never executable; nothing in it is executable at EL0.

// A `ret` in kernel text, for the test that EL0 cannot execute kernel memory: a user program branches to it and
// must be killed with an instruction abort (if it could execute it, the call would just return).
core::arch::global_asm!(
    ".pushsection .text.arch_user_exec_probe, \"ax\"",
    ".balign 4",
    ".global arch_user_exec_probe",
    "arch_user_exec_probe:",
    "    ret",
    ".popsection",
);

unsafe extern "C" {
    // Only its address is taken, never called from Rust.
    static arch_user_exec_probe: u8;
}

/// The address of a `ret` instruction in kernel text (see `arch_user_exec_probe` above).
pub fn user_exec_probe_address() -> usize {
    core::ptr::addr_of!(arch_user_exec_probe) as usize
}
