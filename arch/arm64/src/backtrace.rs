//! The kernel's call chain from its frame records (the kernel is built with frame pointers, see
//! `.cargo/config.toml`), for panic and fault reports; xtask names the addresses from the ELF's symbols.

/// Most frames a chain reports.
pub const MAX_FRAMES: usize = 16;

/// Largest stack in the image (boot stacks are 64 KiB): a frame record further than this above the stack pointer
/// does not belong to the current stack.
const STACK_SPAN: usize = 64 * 1024;

/// The part of the stack holding `stack_pointer` that the walk may read: the rest of a task's kernel stack
/// (mapped in the kernel stack area), else (a boot or emergency stack, in the image's BSS) up to 64 KiB above the
/// stack pointer but not beyond the heap's end, all in the linear map of RAM.
fn stack_bounds(stack_pointer: usize) -> core::ops::Range<usize> {
    crate::kernel_stacks::allocated_stack_containing(stack_pointer).map_or_else(
        || stack_pointer..(stack_pointer + STACK_SPAN).min(crate::heap::heap_end()),
        |stack| stack_pointer..stack.end,
    )
}

/// Call sites (return address minus one instruction) of the functions active on the current stack, innermost
/// first, starting with the caller of `call_chain`'s caller. The walk stops at the first record that is not on
/// the current stack, not 16-byte aligned, or not above the previous one (the boot path ends the chain with a
/// zero frame pointer).
#[inline(never)] // its own frame record is the walk's starting point
pub fn call_chain() -> ([usize; MAX_FRAMES], usize) {
    let frame_pointer: usize;
    let stack_pointer: usize;
    // SAFETY: copies the frame pointer (x29) and the stack pointer into registers; no memory is touched.
    unsafe {
        core::arch::asm!(
            "mov {frame}, x29",   // this function's frame record (built by its prologue)
            "mov {stack}, sp",    // lower bound of the records still live on this stack
            frame = out(reg) frame_pointer,
            stack = out(reg) stack_pointer,
            options(nomem, nostack, preserves_flags)
        )
    };
    let mut bounds = stack_bounds(stack_pointer);
    let mut call_sites = [0; MAX_FRAMES];
    let mut count = 0;
    let mut frame = frame_pointer;
    // The first record is call_chain's own: its return address is the call site in the caller, which is
    // skipped (the report starts at the function that asked for the chain).
    let mut skip = 1;
    while count < MAX_FRAMES && frame.is_multiple_of(16) {
        if !(frame >= bounds.start && frame + 16 <= bounds.end) {
            // The chain may continue from an emergency stack (a stack overflow report) onto the task stack
            // that overflowed, never elsewhere.
            match crate::kernel_stacks::allocated_stack_containing(frame) {
                Some(task_stack) if frame + 16 <= task_stack.end => bounds = task_stack,
                _ => break,
            }
        }
        // SAFETY: `frame` is 16-byte aligned and [frame, frame + 16) lies in mapped kernel memory: between the
        // stack pointer and min(sp + 64 KiB, heap_end()) in the linear map, or in the mapped part of a task
        // stack that is allocated (and stays so: the task runs here, or the run ends in a panic). A record that
        // is not really one only yields a wrong address in a report, or ends the walk.
        let (previous, return_address) = unsafe {
            (core::ptr::read_volatile(frame as *const usize), core::ptr::read_volatile((frame + 8) as *const usize))
        };
        if return_address < crate::layout::KERNEL_VIRT_OFFSET {
            break;
        }
        if skip > 0 {
            skip -= 1;
        } else {
            call_sites[count] = return_address - 4;
            count += 1;
        }
        if previous <= frame {
            break;
        }
        frame = previous;
    }
    (call_sites, count)
}
