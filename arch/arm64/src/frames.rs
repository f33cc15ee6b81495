//! Physical page frames for page tables, kernel stacks and user memory: a bump pointer over free RAM plus a
//! free list.
//!
//! The free list is threaded through the free frames themselves (each holds the physical address of the next
//! one in its first word, reached through the linear map), so freeing a frame never allocates: the heap can
//! then be used by the frame allocator's callers in any order, and freeing thousands of kernel stacks leaves
//! no trace in the heap.

use crate::layout::{phys_to_virt, PAGE_SIZE};
use crate::Arm64;
use core::sync::atomic::{AtomicUsize, Ordering};
use core_sched::IrqSpinLock;

/// Marks the end of the free list (frame 0 is never handed out: RAM never starts at 0 after the image).
const NO_FRAME: usize = 0;

struct FrameAllocator {
    next: usize,
    end: usize,
    /// First frame of the free list, or `NO_FRAME`.
    free_head: usize,
}

static FRAMES: IrqSpinLock<Arm64, FrameAllocator> =
    IrqSpinLock::new(FrameAllocator { next: 0, end: 0, free_head: NO_FRAME });
static FRAMES_IN_USE: AtomicUsize = AtomicUsize::new(0);
static FRAMES_TOTAL: AtomicUsize = AtomicUsize::new(0);

/// Hands the physical range `[start, end)` to the frame allocator (page-aligned inwards). Later calls replace
/// the range only while no frame has been handed out.
pub fn init(start_phys: usize, end_phys: usize) {
    let mut frames = FRAMES.lock();
    if frames.next == 0 {
        frames.next = start_phys.next_multiple_of(PAGE_SIZE);
        frames.end = end_phys & !(PAGE_SIZE - 1);
        FRAMES_TOTAL.store(frames.end.saturating_sub(frames.next) / PAGE_SIZE, Ordering::Relaxed);
    }
}

/// The first word of a free frame: the next free frame's physical address.
fn next_free_word(frame_phys: usize) -> *mut usize {
    phys_to_virt(frame_phys) as *mut usize
}

/// A zeroed frame's physical address, or `None` when memory is exhausted.
pub fn allocate_zeroed() -> Option<usize> {
    let frame = {
        let mut frames = FRAMES.lock();
        if frames.free_head != NO_FRAME {
            let frame = frames.free_head;
            // SAFETY: `frame` is on the free list, so it is free RAM in the linear map owned by the allocator,
            // whose lock we hold; its first word was written by `free`.
            frames.free_head = unsafe { core::ptr::read(next_free_word(frame)) };
            Some(frame)
        } else if frames.next + PAGE_SIZE <= frames.end {
            let frame = frames.next;
            frames.next += PAGE_SIZE;
            Some(frame)
        } else {
            None
        }
    };
    let frame = frame?;
    // SAFETY: the frame was just taken from the allocator, so nothing else refers to it; it lies in RAM
    // covered by the linear map.
    unsafe { core::ptr::write_bytes(phys_to_virt(frame) as *mut u8, 0, PAGE_SIZE) };
    FRAMES_IN_USE.fetch_add(1, Ordering::Relaxed);
    Some(frame)
}

/// Returns a frame obtained from `allocate_zeroed`. Nothing may use it afterwards (for a frame that was mapped
/// somewhere else than the linear map, the caller has removed the mapping and its TLB entries first).
pub fn free(frame_phys: usize) {
    let mut frames = FRAMES.lock();
    // SAFETY: the caller hands the frame back, so nothing else uses it any more; it is RAM in the linear map,
    // and the lock serializes the list.
    unsafe { core::ptr::write(next_free_word(frame_phys), frames.free_head) };
    frames.free_head = frame_phys;
    FRAMES_IN_USE.fetch_sub(1, Ordering::Relaxed);
}

/// Frames currently handed out (for leak checks).
pub fn in_use() -> usize {
    FRAMES_IN_USE.load(Ordering::Relaxed)
}

/// Frames that can still be handed out: the free list and the untouched rest of the range.
pub fn available() -> usize {
    total().saturating_sub(in_use())
}

/// Frames the allocator manages in all, handed out or not (`sysinfo`): all RAM after the kernel image and
/// the heap.
pub fn total() -> usize {
    FRAMES_TOTAL.load(Ordering::Relaxed)
}
