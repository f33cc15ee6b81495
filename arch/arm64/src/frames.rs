//! Physical page frames for page tables and user memory: a bump pointer over free RAM plus a free list.

use crate::layout::{phys_to_virt, PAGE_SIZE};
use crate::Arm64;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};
use core_sched::IrqSpinLock;

struct FrameAllocator {
    next: usize,
    end: usize,
    free: Vec<usize>,
}

static FRAMES: IrqSpinLock<Arm64, FrameAllocator> =
    IrqSpinLock::new(FrameAllocator { next: 0, end: 0, free: Vec::new() });
static FRAMES_IN_USE: AtomicUsize = AtomicUsize::new(0);

/// Hands the physical range `[start, end)` to the frame allocator (page-aligned inwards). Later calls replace
/// the range only while no frame has been handed out.
pub fn init(start_phys: usize, end_phys: usize) {
    let mut frames = FRAMES.lock();
    if frames.next == 0 {
        frames.next = start_phys.next_multiple_of(PAGE_SIZE);
        frames.end = end_phys & !(PAGE_SIZE - 1);
    }
}

/// A zeroed frame's physical address, or `None` when memory is exhausted.
pub fn allocate_zeroed() -> Option<usize> {
    let frame = {
        let mut frames = FRAMES.lock();
        match frames.free.pop() {
            Some(frame) => Some(frame),
            None if frames.next + PAGE_SIZE <= frames.end => {
                let frame = frames.next;
                frames.next += PAGE_SIZE;
                Some(frame)
            }
            None => None,
        }
    };
    let frame = frame?;
    // SAFETY: the frame was just taken from the allocator, so nothing else refers to it; it lies in RAM
    // covered by the linear map.
    unsafe { core::ptr::write_bytes(phys_to_virt(frame) as *mut u8, 0, PAGE_SIZE) };
    FRAMES_IN_USE.fetch_add(1, Ordering::Relaxed);
    Some(frame)
}

/// Returns a frame obtained from `allocate_zeroed`.
pub fn free(frame_phys: usize) {
    FRAMES.lock().free.push(frame_phys);
    FRAMES_IN_USE.fetch_sub(1, Ordering::Relaxed);
}

/// Frames the allocator manages in all (handed out or not), for `sysinfo`.
pub fn total() -> usize {
    let frames = FRAMES.lock();
    let never_handed_out = (frames.end.saturating_sub(frames.next)) / PAGE_SIZE;
    never_handed_out + frames.free.len() + in_use()
}

/// Frames currently handed out (for leak checks).
pub fn in_use() -> usize {
    FRAMES_IN_USE.load(Ordering::Relaxed)
}

/// Frames that can still be handed out: the free list and the untouched rest of the range.
pub fn available() -> usize {
    let frames = FRAMES.lock();
    frames.free.len() + (frames.end - frames.next) / PAGE_SIZE
}
