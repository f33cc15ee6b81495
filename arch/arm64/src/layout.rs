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
