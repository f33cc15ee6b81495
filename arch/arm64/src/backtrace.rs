//! The kernel's call chain from its frame records (the kernel is built with frame pointers, see
//! `.cargo/config.toml`), for panic and fault reports; xtask names the addresses from the ELF's symbols.

/// Most frames a chain reports.
pub const MAX_FRAMES: usize = 16;

/// Largest kernel stack (boot stacks are 64 KiB, task stacks 32 KiB): a frame record further than this above
/// the stack pointer does not belong to the current stack.
const STACK_SPAN: usize = 64 * 1024;

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
    // Every kernel stack lies in the image's BSS (boot stacks) or in the heap (task stacks), both below
    // heap_end() and inside the linear map of RAM.
    let highest = (stack_pointer + STACK_SPAN).min(crate::heap::heap_end());
    let mut call_sites = [0; MAX_FRAMES];
    let mut count = 0;
    let mut frame = frame_pointer;
    // The first record is call_chain's own: its return address is the call site in the caller, which is
    // skipped (the report starts at the function that asked for the chain).
    let mut skip = 1;
    while count < MAX_FRAMES && frame >= stack_pointer && frame + 16 <= highest && frame.is_multiple_of(16) {
        // SAFETY: `frame` is 16-byte aligned and [frame, frame + 16) lies between the stack pointer and
        // min(sp + 64 KiB, heap_end()), which is mapped kernel RAM, so both reads are valid. A record that is
        // not really one only yields a wrong address in a report, or ends the walk.
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
