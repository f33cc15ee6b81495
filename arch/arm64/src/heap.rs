//! The kernel heap: a first-fit allocator over a range of RAM after the kernel image.

use crate::Arm64;
use core::alloc::{GlobalAlloc, Layout};
use core::ptr::NonNull;
use core_sched::IrqSpinLock;
use linked_list_allocator::Heap;

struct KernelHeap(IrqSpinLock<Arm64, Heap>);

#[global_allocator]
static KERNEL_HEAP: KernelHeap = KernelHeap(IrqSpinLock::new(Heap::empty()));

// SAFETY: the allocator hands out disjoint blocks from the range given to `init`; the spin lock serializes
// every access to the free list, with IRQs masked (an IRQ-safe lock) so that an interrupt handler on the same core cannot
// deadlock on it.
unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let block = self.0.lock().allocate_first_fit(layout);
        block.map_or(core::ptr::null_mut(), NonNull::as_ptr)
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        if let Some(block) = NonNull::new(pointer) {
            // SAFETY: GlobalAlloc's contract: `pointer` came from `alloc` with this `layout`.
            unsafe { self.0.lock().deallocate(block, layout) };
        }
    }
}

/// Gives the heap the RAM range `[start, start + size)` (kernel virtual addresses).
///
/// # Safety
/// The range must be mapped, writable, unused by anything else for the kernel's lifetime, and this must be
/// called once, before the first allocation.
pub unsafe fn init(start: usize, size: usize) {
    // SAFETY: the caller hands over exclusive use of the range.
    unsafe { KERNEL_HEAP.0.lock().init(start as *mut u8, size) };
}

/// Bytes currently allocated.
pub fn used() -> usize {
    KERNEL_HEAP.0.lock().used()
}

/// Bytes not allocated (possibly fragmented).
pub fn free() -> usize {
    KERNEL_HEAP.0.lock().free()
}

/// Bytes the heap manages.
pub fn size() -> usize {
    KERNEL_HEAP.0.lock().size()
}

static INITIALIZED: spin::Once<()> = spin::Once::new();

/// Gives the heap `size` bytes of RAM right after the kernel image; later calls do nothing. The boot map covers
/// that RAM (the linear map spans the first 4 GiB of physical memory) and nothing else uses it.
pub fn init_after_kernel(size: usize) {
    INITIALIZED.call_once(|| {
        // SAFETY: the range starts at the page-aligned end of the image, is mapped writable by the boot map,
        // and `Once` ensures it is handed to the heap exactly once. Page frames for other uses are taken above
        // `heap_end()`.
        unsafe { init(crate::layout::kernel_end(), size) };
    });
}

/// First kernel virtual address after the heap.
pub fn heap_end() -> usize {
    KERNEL_HEAP.0.lock().top() as usize
}
