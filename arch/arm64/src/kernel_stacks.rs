//! Kernel stacks of tasks: page frames mapped in the kernel stack area of TTBR1 (layout.rs), each with an
//! unmapped guard below it, so that a kernel stack overflow faults (vectors.s reports it) instead of
//! overwriting whatever lies below.
//!
//! The area is cut into slots of 64 KiB: the stack is the slot's upper 32 KiB, the lower 32 KiB are never
//! mapped. A bitmap hands out slots, lowest first. The number of slots in use is the kernel's thread limit
//! (Linux's `threads-max`): every task but the per-core idle tasks (which run on their boot stacks) has one,
//! and [`capacity`] is derived from RAM as Linux does, `totalram_pages / (8 * THREAD_SIZE / PAGE_SIZE)`: at
//! most an eighth of the RAM the frame allocator manages may become kernel stacks (4 KiB pages, 32 KiB stacks:
//! RAM / 256 KiB stacks, about 3,900 for QEMU virt's 1 GiB), clamped to [20, slots in the area].
//!
//! The level-3 tables of those slots are built with the kernel map and never change, so mapping a stack
//! writes only the eight entries of its own slot, which the slot's owner alone touches: the bitmap's lock is
//! the only lock. Unmapping invalidates the TLB entries of the slot on every core (`tlbi vaae1is`, broadcast in
//! the inner-shareable domain) and waits for that to complete before the frames and the slot are reused.

use crate::frames;
use crate::layout::{
    phys_to_virt, KERNEL_STACKS_AREA_SIZE, KERNEL_STACKS_BASE, KERNEL_STACK_SIZE, KERNEL_STACK_SLOT_SIZE, PAGE_SIZE,
};
use crate::mmu::{DESCRIPTOR_TABLE_OR_PAGE, DESCRIPTOR_VALID};
use crate::Arm64;
use core::sync::atomic::{AtomicU32, Ordering};
use core_sched::IrqSpinLock;

/// Slots in the area.
const MAX_SLOTS: usize = KERNEL_STACKS_AREA_SIZE / KERNEL_STACK_SLOT_SIZE;
/// Pages of one stack.
const STACK_PAGES: usize = KERNEL_STACK_SIZE / PAGE_SIZE;
/// Slots covered by one level-3 table (2 MiB).
const SLOTS_PER_TABLE: usize = (512 * PAGE_SIZE) / KERNEL_STACK_SLOT_SIZE;
/// The smallest thread limit, whatever the RAM (Linux's MIN_THREADS).
const MIN_THREADS: usize = 20;

/// Which slots are taken, and how many may be.
struct SlotBitmap {
    taken: [u64; MAX_SLOTS / 64],
    capacity: usize,
    in_use: usize,
}

static SLOTS: IrqSpinLock<Arm64, SlotBitmap> =
    IrqSpinLock::new(SlotBitmap { taken: [0; MAX_SLOTS / 64], capacity: 0, in_use: 0 });

/// The level-3 tables of the area's first `capacity` slots (physical), one per 2 MiB, built with the kernel map.
static PAGE_TABLES: spin::Once<alloc::vec::Vec<usize>> = spin::Once::new();

/// Task id of each slot's owner, for the overflow report (0: none recorded).
static OWNERS: [AtomicU32; MAX_SLOTS] = [const { AtomicU32::new(0) }; MAX_SLOTS];

/// Builds the area's translation tables for the kernel map: sets the thread limit from the RAM the frame
/// allocator manages and returns the level-2 table (physical) for the area's level-1 entry.
pub(crate) fn build_area_tables(allocate_table: fn() -> usize, write_entry: fn(usize, usize, u64)) -> usize {
    let capacity = (frames::total() * PAGE_SIZE / (8 * KERNEL_STACK_SIZE)).clamp(MIN_THREADS, MAX_SLOTS);
    let level2 = allocate_table();
    let tables = PAGE_TABLES.call_once(|| {
        (0..capacity.div_ceil(SLOTS_PER_TABLE))
            .map(|index| {
                let table = allocate_table();
                write_entry(level2, index, table as u64 | DESCRIPTOR_TABLE_OR_PAGE | DESCRIPTOR_VALID);
                table
            })
            .collect()
    });
    assert!(tables.len() * SLOTS_PER_TABLE >= capacity);
    SLOTS.lock().capacity = capacity;
    level2
}

/// The thread limit: how many kernel stacks may exist at once (see the module documentation).
pub fn capacity() -> usize {
    SLOTS.lock().capacity
}

/// Kernel stacks currently allocated.
pub fn in_use() -> usize {
    SLOTS.lock().in_use
}

/// Why no stack could be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StackUnavailable {
    /// The thread limit ([`capacity`]) is reached.
    ThreadLimit,
    /// No page frames left.
    OutOfMemory,
}

/// A task's kernel stack: [`KERNEL_STACK_SIZE`] bytes mapped read-write (never executable) in its slot, the
/// guard below unmapped. Dropping it unmaps it and returns its frames.
pub struct KernelStack {
    slot: usize,
    frames: [usize; STACK_PAGES],
}

impl KernelStack {
    /// Maps a fresh, zeroed stack for the task `owner` (its id, for overflow reports).
    pub fn allocate(owner: u32) -> Result<Self, StackUnavailable> {
        let slot = take_slot().ok_or(StackUnavailable::ThreadLimit)?;
        let mut frames = [0; STACK_PAGES];
        for index in 0..STACK_PAGES {
            match frames::allocate_zeroed() {
                Some(frame) => frames[index] = frame,
                None => {
                    frames[..index].iter().for_each(|&frame| frames::free(frame));
                    release_slot(slot);
                    return Err(StackUnavailable::OutOfMemory);
                }
            }
        }
        OWNERS[slot].store(owner, Ordering::Relaxed);
        for (index, &frame) in frames.iter().enumerate() {
            write_page_entry(
                slot,
                index,
                frame as u64 | crate::kernel_map::READ_WRITE | DESCRIPTOR_TABLE_OR_PAGE | DESCRIPTOR_VALID,
            );
        }
        // The entries are complete before the stack is used, on this core or (after the task is published
        // through the scheduler's locks) on another one; the ISB keeps this core from using a translation
        // fetched before them. No TLB can hold the slot: it was invalidated when it was last unmapped.
        // SAFETY: barriers only; no memory or register is changed.
        unsafe { core::arch::asm!("dsb ishst", "isb", options(nostack, preserves_flags)) };
        Ok(Self { slot, frames })
    }

    /// Lowest address of the stack.
    pub fn bottom(&self) -> usize {
        slot_base(self.slot) + KERNEL_STACK_SLOT_SIZE - KERNEL_STACK_SIZE
    }

    /// First address above the stack (the initial stack pointer).
    pub fn top(&self) -> usize {
        slot_base(self.slot) + KERNEL_STACK_SLOT_SIZE
    }
}

impl Drop for KernelStack {
    fn drop(&mut self) {
        for index in 0..STACK_PAGES {
            write_page_entry(self.slot, index, 0);
        }
        // SAFETY: a barrier only: completes the entry writes above before the invalidations below, so that no
        // walker can refetch an old entry after its TLB entry is dropped.
        unsafe { core::arch::asm!("dsb ishst", options(nostack, preserves_flags)) };
        for index in 0..STACK_PAGES {
            // VA[55:12] in bits 43:0 (the bits above are the ASID and level hint, which must be 0 here).
            let page_number = ((self.bottom() + index * PAGE_SIZE) >> 12) & ((1 << 44) - 1);
            // SAFETY: TLB maintenance only: drops the page's translations for every ASID (kernel pages are
            // global) on every core of the inner-shareable domain.
            unsafe {
                core::arch::asm!("tlbi vaae1is, {page}", page = in(reg) page_number as u64, options(nostack, preserves_flags))
            };
        }
        // SAFETY: barriers only. Waits for the broadcast invalidations to complete on every core, so that no core
        // can still reach the frames through the slot when they are freed below; the ISB for this core.
        unsafe { core::arch::asm!("dsb ish", "isb", options(nostack, preserves_flags)) };
        OWNERS[self.slot].store(0, Ordering::Relaxed);
        self.frames.iter().for_each(|&frame| frames::free(frame));
        release_slot(self.slot);
    }
}

fn slot_base(slot: usize) -> usize {
    KERNEL_STACKS_BASE + slot * KERNEL_STACK_SLOT_SIZE
}

/// The lowest free slot, taken; `None` at the thread limit.
fn take_slot() -> Option<usize> {
    let mut slots = SLOTS.lock();
    if slots.in_use >= slots.capacity {
        return None;
    }
    let capacity = slots.capacity;
    let (word, bits) = slots.taken.iter_mut().enumerate().find(|(_, bits)| **bits != u64::MAX)?;
    let bit = bits.trailing_ones() as usize;
    let slot = word * 64 + bit;
    if slot >= capacity {
        return None;
    }
    *bits |= 1 << bit;
    slots.in_use += 1;
    Some(slot)
}

fn release_slot(slot: usize) {
    let mut slots = SLOTS.lock();
    slots.taken[slot / 64] &= !(1 << (slot % 64));
    slots.in_use -= 1;
}

/// Writes the level-3 entry of page `index` of `slot`'s stack (the stack's pages are the slot's upper half).
fn write_page_entry(slot: usize, index: usize, value: u64) {
    let tables = PAGE_TABLES.get().expect("the kernel map is built before the first task");
    let page_in_area = (slot * KERNEL_STACK_SLOT_SIZE + KERNEL_STACK_SLOT_SIZE - KERNEL_STACK_SIZE) / PAGE_SIZE + index;
    let table = tables[page_in_area / 512];
    // SAFETY: `table` is one of the area's level-3 tables (a frame owned by the kernel map, in the linear map);
    // the entry belongs to `slot`, which the caller owns (taken from the bitmap and not yet released), so no
    // other core writes it. An aligned 64-bit store is single-copy atomic for the table walkers.
    unsafe { core::ptr::write_volatile((phys_to_virt(table) + (page_in_area % 512) * 8) as *mut u64, value) };
}

/// The stack (mapped part of its slot) that holds `address`, if it is in the area's stack half of a slot
/// currently allocated: what the call-chain walk may read.
pub(crate) fn allocated_stack_containing(address: usize) -> Option<core::ops::Range<usize>> {
    let offset = address.checked_sub(KERNEL_STACKS_BASE).filter(|&offset| offset < KERNEL_STACKS_AREA_SIZE)?;
    let slot = offset / KERNEL_STACK_SLOT_SIZE;
    let taken = SLOTS.try_lock().map(|slots| slots.taken[slot / 64] & (1 << (slot % 64)) != 0);
    let bottom = slot_base(slot) + KERNEL_STACK_SLOT_SIZE - KERNEL_STACK_SIZE;
    (taken == Some(true) && address >= bottom).then(|| bottom..slot_base(slot) + KERNEL_STACK_SLOT_SIZE)
}

/// The task id recorded for the slot holding `address` (a stack or its guard), if any.
pub(crate) fn owner_of(address: usize) -> Option<u32> {
    let offset = address.checked_sub(KERNEL_STACKS_BASE).filter(|&offset| offset < KERNEL_STACKS_AREA_SIZE)?;
    let owner = OWNERS[offset / KERNEL_STACK_SLOT_SIZE].load(Ordering::Relaxed);
    (owner != 0).then_some(owner)
}
