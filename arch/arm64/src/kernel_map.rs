//! The kernel's own translation table (TTBR1) with W^X at page granularity, built once after boot from page
//! frames and installed on every core in its bring-up, replacing boot.s's map of 1 GiB blocks (which is
//! readable, writable and executable at EL1 everywhere).
//!
//! It maps the same 4 GiB of physical memory at `KERNEL_VIRT_OFFSET` as the boot map (the kernel runs in this
//! linear map, so the kernel image is part of it), with these rights:
//! - kernel text (`__text_start..__text_end`): read-only, executable at EL1 only;
//! - rodata (`__rodata_start..__rodata_end`): read-only, never executable;
//! - everything else: the image's data, bss, boot page tables and boot stacks, the heap, page tables and all
//!   other RAM (user frames included, which the kernel copies to and from through this map): read-write, never
//!   executable;
//! - device memory (the GiBs `__boot_device_gib_mask` names): as in the boot map, never executable.
//!
//! It also holds the kernel stack area (layout.rs, kernel_stacks.rs): its tables are built here, empty, and
//! kernel_stacks.rs maps and unmaps each task's stack in them at run time.
//!
//! Nothing is executable at EL0, so a user program can neither run kernel text nor run code it wrote into its
//! own page through that page's alias here. Only the 2 MiB regions that hold text or rodata use 4 KiB pages; the
//! rest of the kernel's GiB uses 2 MiB blocks, the other GiBs 1 GiB blocks.

use crate::frames;
use crate::layout::{phys_to_virt, virt_to_phys, PAGE_SIZE};
use crate::mmu::{
    ACCESS_FLAG, ADDRESS_MASK, AP_READ_ONLY, ATTR_NORMAL, DESCRIPTOR_TABLE_OR_PAGE, DESCRIPTOR_VALID, INNER_SHAREABLE,
    PRIVILEGED_EXECUTE_NEVER, UNPRIVILEGED_EXECUTE_NEVER,
};
use aarch64_cpu::registers::Readable;
use core::ops::Range;

/// Bytes mapped by one level-1 and one level-2 block.
const GIB: usize = 1 << 30;
const TWO_MIB: usize = 1 << 21;
/// Entries in a table of 4 KiB granules.
const ENTRIES: usize = 512;
/// Physical memory the map covers, as the boot map: 4 GiB.
const MAPPED_GIBS: usize = 4;

/// Normal memory the kernel reads and writes but never executes (data, heap, stacks, linear map).
pub(crate) const READ_WRITE: u64 =
    ATTR_NORMAL | INNER_SHAREABLE | ACCESS_FLAG | PRIVILEGED_EXECUTE_NEVER | UNPRIVILEGED_EXECUTE_NEVER;
/// Rodata.
const READ_ONLY: u64 = READ_WRITE | AP_READ_ONLY;
/// Kernel text: read-only, executable at EL1 (PXN clear), never at EL0.
const KERNEL_TEXT: u64 = ATTR_NORMAL | INNER_SHAREABLE | ACCESS_FLAG | AP_READ_ONLY | UNPRIVILEGED_EXECUTE_NEVER;
/// Device memory, as boot.s's BLOCK_DEVICE: AttrIndx 0 (Device-nGnRnE), never executable.
const DEVICE: u64 = ACCESS_FLAG | PRIVILEGED_EXECUTE_NEVER | UNPRIVILEGED_EXECUTE_NEVER;

// The board's device GiBs (a linker-script symbol whose value is the mask) as a word in rodata: an absolute
// symbol this small cannot be reached by the PC-relative addressing Rust code uses, but a 64-bit data
// relocation can hold it.
core::arch::global_asm!(
    ".pushsection .rodata.arch_boot_device_gib_mask, \"a\"",
    ".balign 8",
    "arch_boot_device_gib_mask:",
    "    .quad __boot_device_gib_mask",
    ".popsection",
);

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

// Taking the address of an extern static is safe; reading one is not.
unsafe extern "C" {
    static arch_boot_device_gib_mask: u64;
    static arch_user_exec_probe: u8;
    static __text_start: u8;
    static __text_end: u8;
    static __rodata_start: u8;
    static __rodata_end: u8;
    /// The code that switches TTBR1 (boot.s); it runs at its physical address, so it is not a Rust function.
    static arch_replace_ttbr1: u8;
}

/// The address of a `ret` instruction in kernel text (see `arch_user_exec_probe` above).
pub fn user_exec_probe_address() -> usize {
    core::ptr::addr_of!(arch_user_exec_probe) as usize
}

/// Physical range of the image between two linker symbols (page aligned: linker/kernel.ld ASSERTs it).
fn physical_range(start: *const u8, end: *const u8) -> Range<usize> {
    virt_to_phys(start as usize)..virt_to_phys(end as usize)
}

/// The image's physical layout, read from the linker symbols.
struct ImageLayout {
    text: Range<usize>,
    rodata: Range<usize>,
    /// Text and rodata: the part that needs 4 KiB pages.
    read_only: Range<usize>,
}

impl ImageLayout {
    fn read() -> Self {
        let text = physical_range(core::ptr::addr_of!(__text_start), core::ptr::addr_of!(__text_end));
        let rodata = physical_range(core::ptr::addr_of!(__rodata_start), core::ptr::addr_of!(__rodata_end));
        let image_end = virt_to_phys(crate::layout::kernel_end());
        assert!(text.end <= rodata.start, "the linker script puts rodata after text");
        // The kernel's GiB is the only one with a level-2 table.
        assert!(text.start / GIB == (image_end - 1) / GIB, "the kernel image crosses a GiB boundary");
        Self { read_only: text.start..rodata.end, text, rodata }
    }

    /// The rights of the 4 KiB page at `page` (physical) inside a 2 MiB region that holds text or rodata.
    fn page_attributes(&self, page: usize) -> u64 {
        if self.text.contains(&page) {
            KERNEL_TEXT
        } else if self.rodata.contains(&page) {
            READ_ONLY
        } else {
            READ_WRITE
        }
    }
}

fn allocate_table() -> usize {
    frames::allocate_zeroed().expect("a page frame for the kernel map")
}

fn write_entry(table_phys: usize, index: usize, value: u64) {
    debug_assert!(index < ENTRIES);
    // SAFETY: `table_phys` is a frame this module just took from the frame allocator for the kernel map, not yet
    // installed anywhere, reached through the boot map's linear map (read-write); index < 512.
    unsafe { core::ptr::write_volatile((phys_to_virt(table_phys) + index * 8) as *mut u64, value) };
}

/// Builds the map and returns its root table's physical address.
fn build() -> usize {
    let layout = ImageLayout::read();
    // SAFETY: a word in this image's rodata, initialized by the linker (see the global_asm above).
    let device_gibs = unsafe { core::ptr::read(core::ptr::addr_of!(arch_boot_device_gib_mask)) };
    let root = allocate_table();
    for gib in 0..MAPPED_GIBS {
        let base = gib * GIB;
        let entry = if device_gibs & (1 << gib) != 0 {
            base as u64 | DEVICE | DESCRIPTOR_VALID
        } else if gib == layout.text.start / GIB {
            build_kernel_gib(&layout, base) as u64 | DESCRIPTOR_TABLE_OR_PAGE | DESCRIPTOR_VALID
        } else {
            base as u64 | READ_WRITE | DESCRIPTOR_VALID
        };
        write_entry(root, gib, entry);
    }
    // The kernel stack area (layout.rs): its tables are built here, its pages mapped as tasks come and go.
    let stacks_index = (crate::layout::KERNEL_STACKS_BASE - crate::layout::KERNEL_VIRT_OFFSET) / GIB;
    let stacks_table = crate::kernel_stacks::build_area_tables(allocate_table, write_entry);
    write_entry(root, stacks_index, stacks_table as u64 | DESCRIPTOR_TABLE_OR_PAGE | DESCRIPTOR_VALID);
    // Completes the table writes before any core's walker can be pointed at them (pairs with the TTBR1 write
    // in `install_this_cpu`, on this or another core, which comes after this core publishes the root).
    crate::cpu::dsb_ish();
    root
}

/// The level-2 table of the GiB at `gib_base` that holds the kernel image.
fn build_kernel_gib(layout: &ImageLayout, gib_base: usize) -> usize {
    let table = allocate_table();
    for index in 0..ENTRIES {
        let base = gib_base + index * TWO_MIB;
        let holds_read_only = base < layout.read_only.end && layout.read_only.start < base + TWO_MIB;
        let entry = if holds_read_only {
            build_pages(layout, base) as u64 | DESCRIPTOR_TABLE_OR_PAGE | DESCRIPTOR_VALID
        } else {
            base as u64 | READ_WRITE | DESCRIPTOR_VALID
        };
        write_entry(table, index, entry);
    }
    table
}

/// The level-3 table of 4 KiB pages for the 2 MiB region at `region_base`.
fn build_pages(layout: &ImageLayout, region_base: usize) -> usize {
    let table = allocate_table();
    for index in 0..ENTRIES {
        let page = region_base + index * PAGE_SIZE;
        let entry = page as u64 | layout.page_attributes(page) | DESCRIPTOR_TABLE_OR_PAGE | DESCRIPTOR_VALID;
        write_entry(table, index, entry);
    }
    table
}

/// The kernel map's root (physical), built by the first core that asks.
static KERNEL_ROOT_PHYS: spin::Once<usize> = spin::Once::new();

/// Installs the kernel map in this core's TTBR1 (building it on first use). Must run while the boot identity
/// map is still in TTBR0 (the switch runs from it), with the frame allocator initialized; `empty_table_phys` is
/// a table with nothing mapped.
pub(crate) fn install_this_cpu(empty_table_phys: usize) {
    let root = *KERNEL_ROOT_PHYS.call_once(build);
    let installed = aarch64_cpu::registers::TTBR1_EL1.get();
    if installed & ADDRESS_MASK == root as u64 {
        return;
    }
    let switch_phys = virt_to_phys(core::ptr::addr_of!(arch_replace_ttbr1) as usize);
    let irq_mask = crate::cpu::irq_save();
    // SAFETY: `arch_replace_ttbr1` (boot.s) runs at its physical address, which the boot identity map in TTBR0
    // still translates (the caller's contract), so it keeps running while TTBR1 changes; it reads x0 (the new
    // root) and x1 (the empty table), writes TTBR1_EL1, flushes this core's TLB and returns through x30, which
    // `blr` sets and which is therefore clobbered. It touches neither memory nor the stack, and nothing else.
    // Both maps translate every kernel address the caller uses identically (the same linear map, only with
    // other rights and block sizes) and the new one keeps text executable and data writable, so the caller
    // resumes unaffected. IRQs are masked: the vectors sit in TTBR1, which is empty for a moment.
    unsafe {
        core::arch::asm!(
            "blr {switch}",
            switch = in(reg) switch_phys,
            in("x0") root,
            in("x1") empty_table_phys,
            out("x30") _,
            options(nostack, preserves_flags)
        )
    };
    crate::cpu::irq_restore(irq_mask);
}
