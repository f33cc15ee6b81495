//! Addresses of the kernel image and the linear map, from the linker script (`linker/kernel.ld`).

/// Virtual minus physical address in the kernel's linear map (TTBR1): the bottom of the upper 39-bit half that
/// TCR_EL1.T1SZ = 25 (boot.s) selects. The linker script's `__kernel_virt_offset` (linker/kernel.ld) must be
/// the same value: lib.rs exports this one as `__arch_kernel_virt_offset` and the script ASSERTs equality.
pub const KERNEL_VIRT_OFFSET: usize = 0xFFFF_FF80_0000_0000;

/// log2 of each core's boot stack size: boot.s finds a core's stack top with a shift by this.
pub const BOOT_STACK_SHIFT: u32 = 16;

/// Bytes of each core's boot stack (the core's boot flow, later its idle task, runs on it). The linker script
/// reserves [`crate::cpu::MAX_CPUS`] of them, sized from `__arch_boot_stacks_size`, which lib.rs exports.
pub const BOOT_STACK_SIZE: usize = 1 << BOOT_STACK_SHIFT;

/// Size of a translation granule and of a page.
pub const PAGE_SIZE: usize = 4096;

// The kernel's upper (TTBR1) half, 512 GiB from `KERNEL_VIRT_OFFSET`, one level-1 entry per GiB:
//
//   0xFFFF_FF80_0000_0000 .. 0xFFFF_FF81_0000_0000   linear map of the first 4 GiB of physical memory (the
//                                                    kernel image, heap and page frames live in it)
//   0xFFFF_FFC0_0000_0000 .. 0xFFFF_FFC0_4000_0000   kernel stacks of tasks (kernel_stacks.rs): one slot of
//                                                    64 KiB per stack, the 32 KiB stack at the slot's top and
//                                                    32 KiB never mapped below it (the guard)
//   everything else                                  unmapped
//
// The stack area starts at bit 38 (the linear map never has it set), and a stack occupies the upper half of its
// slot (bit 15 set) while the guard is the lower half (bit 15 clear): the EL1 synchronous vector tells a stack
// overflow from two bits of SP, without touching memory (vectors.s).

/// First address of the kernel stack area: level-1 entry 256 of the TTBR1 table.
pub const KERNEL_STACKS_BASE: usize = 0xFFFF_FFC0_0000_0000;
/// The bit of an address that is set in the stack area and clear in the linear map.
pub const KERNEL_STACKS_AREA_BIT: u32 = 38;
/// log2 of a stack slot's size: a stack plus its guard.
pub const KERNEL_STACK_SLOT_SHIFT: u32 = 16;
/// Bytes of a stack slot.
pub const KERNEL_STACK_SLOT_SIZE: usize = 1 << KERNEL_STACK_SLOT_SHIFT;
/// Bytes of a task's kernel stack: the upper half of its slot.
pub const KERNEL_STACK_SIZE: usize = KERNEL_STACK_SLOT_SIZE / 2;
/// The bit of an address in the stack area that is set in a stack and clear in the guard below it.
pub const KERNEL_STACK_GUARD_BIT: u32 = KERNEL_STACK_SLOT_SHIFT - 1;
/// Bytes of the stack area: one level-1 entry (1 GiB), 16384 slots.
pub const KERNEL_STACKS_AREA_SIZE: usize = 1 << 30;
const _: () = {
    assert!(KERNEL_STACKS_BASE & (1 << KERNEL_STACKS_AREA_BIT) != 0);
    assert!((KERNEL_VIRT_OFFSET + (4 << 30) - 1) & (1 << KERNEL_STACKS_AREA_BIT) == 0, "linear map below bit 38");
    assert!(KERNEL_STACK_SIZE == 1 << KERNEL_STACK_GUARD_BIT);
    assert!(KERNEL_STACKS_BASE.is_multiple_of(KERNEL_STACKS_AREA_SIZE), "the area is one level-1 entry");
};

// Taking the address of an extern static is safe; only reading it would not be.
unsafe extern "C" {
    static __kernel_end: u8;
    static _secondary_start: u8;
}

/// Kernel virtual address of a physical address inside the linear map.
pub const fn phys_to_virt(phys: usize) -> usize {
    phys + KERNEL_VIRT_OFFSET
}

/// Physical address of a kernel virtual address inside the linear map.
pub const fn virt_to_phys(virt: usize) -> usize {
    virt - KERNEL_VIRT_OFFSET
}

/// Virtual address of the first byte after the kernel image (page aligned): free RAM starts here.
pub fn kernel_end() -> usize {
    core::ptr::addr_of!(__kernel_end) as usize
}

/// Physical address secondary cores start at (PSCI CPU_ON entry, or the spin-table release address).
pub fn secondary_entry_phys() -> usize {
    virt_to_phys(core::ptr::addr_of!(_secondary_start) as usize)
}
