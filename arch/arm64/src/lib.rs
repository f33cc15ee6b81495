//! AArch64 support for the kernel: boot, exception vectors, CPU and barrier primitives, the GICv2 interrupt
//! controller, the generic timer, PSCI, the PL011 console and the kernel heap.
//!
//! This is the only crate with assembly, and (apart from board MMIO wiring) the only one with `unsafe`: every
//! other crate reaches the hardware through the safe functions here.
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]

extern crate alloc;

pub mod backtrace;
pub mod context;
pub mod cpu;
pub mod exceptions;
pub mod frames;
pub mod gic;
pub mod heap;
pub mod interrupts;
pub mod kernel_map;
pub mod kernel_stacks;
pub mod layout;
pub mod mmu;
pub mod pl011;
pub mod psci;
pub mod sched_arch;
pub mod spin_table;
pub mod timer;

// The boot path and the exception vectors are long, position-sensitive sequences: they live in their own
// assembly files. Symbols shared with Rust: `arch_primary_entry`, `arch_secondary_entry`,
// `arch_handle_exception` (called from assembly), `exception_vectors`, `_secondary_start` (read from Rust).
//
// Every size and offset the assembly shares with Rust comes in as a `const` operand (the files name them with
// `.equ NAME, {operand}` at the top), so a change to a Rust struct or constant cannot silently disagree with the
// assembly. The linker script gets the constants it needs as absolute symbols defined here (`__arch_*`, in the
// same object as `_start`, so they are always linked) and ASSERTs its own copies against them.
core::arch::global_asm!(
    include_str!("boot.s"),
    "",
    ".global __arch_boot_stacks_size",
    ".set __arch_boot_stacks_size, {boot_stacks_size}",
    ".global __arch_kernel_virt_offset",
    ".set __arch_kernel_virt_offset, {kernel_virt_offset}",
    max_boot_cores = const cpu::MAX_CPUS,
    boot_stack_shift = const layout::BOOT_STACK_SHIFT,
    boot_stacks_size = const cpu::MAX_CPUS * layout::BOOT_STACK_SIZE,
    kernel_virt_offset = const layout::KERNEL_VIRT_OFFSET,
);
core::arch::global_asm!(
    include_str!("vectors.s"),
    trap_frame_size = const exceptions::TrapFrame::SIZE,
    trap_frame_x = const core::mem::offset_of!(exceptions::TrapFrame, x),
    trap_frame_elr = const core::mem::offset_of!(exceptions::TrapFrame, elr),
    stacks_area_bit = const layout::KERNEL_STACKS_AREA_BIT,
    stack_guard_bit = const layout::KERNEL_STACK_GUARD_BIT,
    emergency_stack_shift = const cpu::EMERGENCY_STACK_SHIFT,
    kind_stack_overflow = const exceptions::KIND_STACK_OVERFLOW,
    ec_svc64 = const exceptions::EC_SVC64,
    user_sync_slot = const exceptions::USER_SYNC_SLOT,
    nr_full_frame_syscall = const exceptions::FULL_FRAME_SYSCALL,
    syscall_handler = sym exceptions::SYSCALL_HANDLER,
);
core::arch::global_asm!(
    include_str!("switch.s"),
    switch_frame_callee_saved = const context::SWITCH_FRAME_CALLEE_SAVED,
    switch_frame_stack_pointer = const context::SWITCH_FRAME_STACK_POINTER,
    switch_frame_fpcr = const context::SWITCH_FRAME_FPCR,
    switch_frame_vector_registers = const context::SWITCH_FRAME_VECTOR_REGISTERS,
);

// vectors.s stores the frame in register pairs: x30 with SP_EL0, ELR with SPSR.
const _: () = {
    use core::mem::offset_of;
    use exceptions::TrapFrame;
    assert!(offset_of!(TrapFrame, sp_el0) == offset_of!(TrapFrame, x) + 31 * 8, "SP_EL0 must follow x30");
    assert!(offset_of!(TrapFrame, spsr) == offset_of!(TrapFrame, elr) + 8, "SPSR must follow ELR");
    assert!(TrapFrame::SIZE.is_multiple_of(16), "the trap frame keeps SP 16-byte aligned");
};

/// The arm64 architecture, as a type without values: everything is an associated function.
pub enum Arm64 {}

/// What the boot path knows about the core it started.
#[derive(Clone, Copy, Debug)]
pub struct BootInfo {
    /// Index of the core (MPIDR_EL1.Aff0), 0 for the boot core.
    pub cpu: usize,
    /// Boot argument in x0: the device tree address on the boot core, when the loader passed one.
    pub boot_argument: usize,
    /// Exception level the core was started in (2 or 1); the kernel always runs at EL1.
    pub entry_el: u8,
}

// The board crate supplies these two functions through `board_entry!`.
unsafe extern "Rust" {
    fn __board_primary_main(boot: BootInfo) -> !;
    fn __board_secondary_main(boot: BootInfo) -> !;
}

/// Connects the boot path to a board's `main` functions for the boot core and the secondary cores.
#[macro_export]
macro_rules! board_entry {
    (primary = $primary:path, secondary = $secondary:path $(,)?) => {
        #[unsafe(no_mangle)]
        fn __board_primary_main(boot: $crate::BootInfo) -> ! {
            $primary(boot)
        }
        #[unsafe(no_mangle)]
        fn __board_secondary_main(boot: $crate::BootInfo) -> ! {
            $secondary(boot)
        }
    };
}

/// Called by boot.s on the boot core, on its boot stack, MMU on, BSS cleared, interrupts masked.
#[unsafe(no_mangle)]
extern "C" fn arch_primary_entry(cpu: usize, boot_argument: usize, entry_el: usize) -> ! {
    cpu::init_this_cpu();
    let boot = BootInfo { cpu, boot_argument, entry_el: entry_el as u8 };
    // SAFETY: the board crate defines this symbol through `board_entry!` with exactly this signature; the boot
    // path calls it once, on the boot core.
    unsafe { __board_primary_main(boot) }
}

/// Called by boot.s on cores 1-3, on their own boot stacks, MMU on, interrupts masked.
#[unsafe(no_mangle)]
extern "C" fn arch_secondary_entry(cpu: usize, _zero: usize, entry_el: usize) -> ! {
    cpu::init_this_cpu();
    let boot = BootInfo { cpu, boot_argument: 0, entry_el: entry_el as u8 };
    // SAFETY: as above, defined by the board through `board_entry!`; called once per secondary core.
    unsafe { __board_secondary_main(boot) }
}

/// Ends a QEMU run with `code` as QEMU's exit status, through semihosting (QEMU needs `-semihosting`).
pub fn qemu_exit(code: u32) -> ! {
    use qemu_exit::QEMUExit;
    qemu_exit::AArch64::new().exit(code)
}
