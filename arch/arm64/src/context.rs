//! Per-task register state and kernel stacks, and the context switch itself (switch.s).

use crate::exceptions::TrapFrame;
use crate::kernel_stacks::{KernelStack, StackUnavailable};
use core::cell::UnsafeCell;

/// Registers preserved across `switch_context`, in switch.s's layout.
#[repr(C, align(16))]
struct SwitchFrame {
    callee_saved: [u64; 12], // x19-x28, x29, x30
    stack_pointer: u64,
    thread_pointer: u64, // TPIDR_EL0
    fpcr: u64,
    fpsr: u64,
    vector_registers: [u128; 32],
}
const _: () = assert!(core::mem::size_of::<SwitchFrame>() == 640);

impl SwitchFrame {
    /// Every register zero: the start of a new task's frame, and the boot flow's until its first switch saves it.
    const ZEROED: SwitchFrame = SwitchFrame {
        callee_saved: [0; 12],
        stack_pointer: 0,
        thread_pointer: 0,
        fpcr: 0,
        fpsr: 0,
        vector_registers: [0; 32],
    };
}

// Offsets switch.s uses (`const` operands of its `global_asm!` in lib.rs). It stores in register pairs, so
// fields stored together must be adjacent, which the assertions check.
pub(crate) const SWITCH_FRAME_CALLEE_SAVED: usize = core::mem::offset_of!(SwitchFrame, callee_saved);
pub(crate) const SWITCH_FRAME_STACK_POINTER: usize = core::mem::offset_of!(SwitchFrame, stack_pointer);
pub(crate) const SWITCH_FRAME_FPCR: usize = core::mem::offset_of!(SwitchFrame, fpcr);
pub(crate) const SWITCH_FRAME_VECTOR_REGISTERS: usize = core::mem::offset_of!(SwitchFrame, vector_registers);
const _: () = {
    use core::mem::offset_of;
    assert!(offset_of!(SwitchFrame, thread_pointer) == SWITCH_FRAME_STACK_POINTER + 8, "sp, tpidr_el0 pair");
    assert!(offset_of!(SwitchFrame, fpsr) == SWITCH_FRAME_FPCR + 8, "fpcr, fpsr pair");
    assert!(SWITCH_FRAME_VECTOR_REGISTERS.is_multiple_of(16), "q registers are stored 16-byte aligned");
};

unsafe extern "C" {
    fn arch_switch_context(prev: *mut SwitchFrame, next: *const SwitchFrame);
    fn arch_save_fpsimd(frame: *mut SwitchFrame);
    fn arch_enter_user(frame: *const TrapFrame) -> !;
    static task_first_entry: u8;
}

/// Size of every task's kernel stack.
pub use crate::layout::KERNEL_STACK_SIZE;

/// A task's saved registers and its kernel stack.
///
/// The stack is freed (unmapped, its frames returned) when the context is dropped, i.e. when the last
/// reference to the task goes. A task never holds the last reference to itself while it runs: the run queue's
/// `curr` does, and after its final switch away core-sched's pending switch does, until `finish_switch`, which
/// runs on the next task's stack. So a stack is never freed under the core running on it.
pub struct TaskContext {
    frame: UnsafeCell<SwitchFrame>,
    /// `None` for a core's boot flow (its idle task), which runs on its boot stack.
    stack: Option<KernelStack>,
}

// SAFETY: the frame is written only by `switch_context` on the core that is switching the task out, and read
// only by the core switching it in; core-sched never switches a task in while its `on_cpu` flag says another
// core is still switching it out (release/acquire on that flag orders the frame accesses). The stack is used only
// by the core running the task.
unsafe impl Sync for TaskContext {}
// SAFETY: nothing in the context is tied to the core that created it.
unsafe impl Send for TaskContext {}

impl TaskContext {
    /// A task that starts by calling `entry(argument)` on a fresh kernel stack. `entry` must call core-sched's
    /// `finish_switch()` first and never return. `owner` is the task's id, which a stack overflow report names.
    ///
    /// # Errors
    /// When the thread limit is reached or no page frames are left for the stack.
    pub fn new_task(entry: extern "C" fn(usize) -> !, argument: usize, owner: u32) -> Result<Self, StackUnavailable> {
        let stack = KernelStack::allocate(owner)?;
        let mut frame = SwitchFrame::ZEROED;
        frame.callee_saved[0] = entry as usize as u64; // x19
        frame.callee_saved[1] = argument as u64; // x20
        frame.callee_saved[11] = core::ptr::addr_of!(task_first_entry) as u64; // x30

        // The top of the stack is reserved for the TrapFrame of exceptions from EL0 (and of the first entry to
        // user mode), so kernel code starts below it.
        frame.stack_pointer = (stack.top() - TrapFrame::SIZE) as u64;
        Ok(Self { frame: UnsafeCell::new(frame), stack: Some(stack) })
    }

    /// A context for a core's boot flow (its idle task): nothing to set up, the first switch away saves into it.
    pub fn for_boot_flow() -> Self {
        Self { frame: UnsafeCell::new(SwitchFrame::ZEROED), stack: None }
    }

    fn stack(&self) -> &KernelStack {
        self.stack.as_ref().expect("a boot flow has no task stack and never enters user mode")
    }

    /// The TrapFrame slot at the top of this task's kernel stack: where an exception from EL0 saves the user
    /// registers, and what `enter_user` returns through.
    pub fn user_frame(&self) -> *mut TrapFrame {
        (self.stack().top() - TrapFrame::SIZE) as *mut TrapFrame
    }

    /// Sets up the first return to EL0 for a new user task: entry point, user stack pointer, argument registers.
    pub fn set_user_entry(&mut self, entry: u64, user_stack: u64, arguments: [u64; 3]) {
        // SPSR 0: EL0t with interrupts unmasked.
        let mut frame = TrapFrame { elr: entry, sp_el0: user_stack, spsr: 0, ..TrapFrame::default() };
        frame.x[..3].copy_from_slice(&arguments);
        // SAFETY: `&mut self`: the task has not run yet, so nothing else uses its stack; the slot is inside it.
        unsafe { self.user_frame().write(frame) };
    }

    /// Sets up the first return to EL0 for a new thread made by clone(): the caller's user registers (`parent`,
    /// saved at its system call), with 0 as clone's result and `stack` as the stack pointer.
    pub fn set_user_frame_cloned_from(&mut self, parent: &TrapFrame, stack: u64) {
        let frame = parent.cloned_for_new_thread(stack);
        // SAFETY: as in `set_user_entry`.
        unsafe { self.user_frame().write(frame) };
    }

    /// Gives a new thread the FP/SIMD state of the running task (clone, as Linux does: same rounding mode and
    /// registers). The kernel is built soft-float, so in a system call the FP/SIMD registers still hold the
    /// calling thread's user state.
    pub fn inherit_current_fp_state(&mut self) {
        // SAFETY: `arch_save_fpsimd` writes FPCR, FPSR and q0-q31 into this (not yet running) task's frame, which
        // `&mut self` makes exclusively ours; it changes no register besides its scratch x9/x10 (declared
        // clobbered by the C ABI of the call) and leaves the FP/SIMD registers as they are.
        unsafe { arch_save_fpsimd(self.frame.get_mut()) };
    }

    /// Sets the user thread pointer (TPIDR_EL0) the task starts with.
    pub fn set_thread_pointer(&mut self, value: u64) {
        self.frame.get_mut().thread_pointer = value;
    }
}

/// Saves the running task's registers into `prev` and continues `next`; returns when `prev` is switched in again.
///
/// # Safety
/// Both pointers must be valid contexts that stay alive until the switch has completed on the new stack
/// (core-sched's `finish_switch`), `prev` the running task's.
pub unsafe fn switch_context_raw(prev: *const TaskContext, next: *const TaskContext) {
    // SAFETY: the caller guarantees both contexts are alive for the whole switch.
    let (prev, next) = unsafe { (&*prev, &*next) };
    // SAFETY: `prev` is the context of the task running on this core (its frame is ours to write) and `next`'s
    // frame was saved by an earlier switch or built by `new_task` (core-sched's on_cpu handshake guarantees no
    // other core is still writing it). The assembly preserves the callee-saved registers of the caller's ABI by
    // saving them in `prev`, so to Rust this is an ordinary call.
    unsafe { arch_switch_context(prev.frame.get(), next.frame.get()) }
}

/// Leaves the kernel for EL0 through the running task's user frame. Called at the end of a new user task's
/// kernel entry function.
///
/// Takes the caller's reference to the task and drops it before leaving (this function never returns, so a
/// reference kept on the abandoned stack would leak the task): the scheduler's own reference (the run queue's
/// `curr`) keeps the task and its stack alive while it runs.
///
/// # Panics
/// If the stack pointer is not inside `task`'s kernel stack, i.e. `task` is not the running task.
pub fn enter_user(task: alloc::sync::Arc<core_sched::Task<crate::Arm64>>) -> ! {
    let context = task.context();
    let (stack_start, stack_end) = (context.stack().bottom(), context.stack().top());
    let stack_pointer: usize;
    // SAFETY: reads SP into a register; no memory or flag effects.
    unsafe { core::arch::asm!("mov {sp}, sp", sp = out(reg) stack_pointer, options(nomem, nostack, preserves_flags)) };
    assert!(
        (stack_start..stack_end).contains(&stack_pointer),
        "enter_user for a task that is not running on this stack"
    );
    let frame = context.user_frame();
    drop(task);
    // SAFETY: the user frame was written by `set_user_entry`/`set_user_frame_cloned_from` and lies at the top of
    // the running task's own kernel stack (checked above), above everything still live: this function never
    // returns, so the Rust frames below are abandoned, and the stack stays allocated because the scheduler holds
    // the running task. The frame's SPSR selects EL0t, so the ERET cannot raise privilege.
    unsafe { arch_enter_user(frame) }
}
