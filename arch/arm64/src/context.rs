//! Per-task register state and kernel stacks, and the context switch itself (switch.s).

use crate::cpu::MAX_CPUS;
use crate::exceptions::TrapFrame;
use crate::kernel_stacks::{KernelStack, StackUnavailable};
use crate::Arm64;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicPtr, Ordering};
use core_sched::Task;

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
    fn arch_load_fpsimd(frame: *const SwitchFrame);
    fn arch_enter_user(frame: *const TrapFrame) -> !;
    static task_first_entry: u8;
}

/// Per core: the switch frame of the task running there, set by every switch before it happens. The lazy FP/SIMD
/// trap loads the running task's state from it, and clone copies the parent's state from it when the registers
/// do not hold it (switch.s explains the scheme). Only its own core reads or writes a slot, with interrupts
/// masked (the switch path and exception handlers), so relaxed accesses suffice. Next to the frame, the task
/// itself, for [`with_running_task`] (stored together: one address computation per switch).
static RUNNING: [RunningOnCore; MAX_CPUS] = [const {
    RunningOnCore { frame: AtomicPtr::new(core::ptr::null_mut()), task: AtomicPtr::new(core::ptr::null_mut()) }
}; MAX_CPUS];

/// What one core runs (see [`RUNNING`]); null before the core's first switch.
struct RunningOnCore {
    frame: AtomicPtr<SwitchFrame>,
    task: AtomicPtr<Task<Arm64>>,
}

/// Calls `f` with the task running this code, found without a lock or a reference count (Linux's `current`):
/// the task the last switch on this core published. `None` before the core's first switch (the boot thread,
/// which never returns to EL0). Interrupts are masked around the lookup, so the caller cannot migrate between
/// reading the core's index and its slot.
pub fn with_running_task<R>(f: impl FnOnce(&Task<Arm64>) -> R) -> Option<R> {
    let state = crate::cpu::irq_save();
    let task = RUNNING[crate::cpu::cpu_id()].task.load(Ordering::Relaxed);
    // SAFETY: a non-null `task` was published by the switch that resumed the task running this code, on this
    // core, with interrupts masked, and no switch has happened here since (interrupts are masked until the
    // load above, and a switch publishes its `next` before it runs). So it is this very task, which stays alive
    // while it runs (the run queue's `curr`, or whoever holds it while it blocks, keeps an `Arc`), for as long
    // as `f` runs on its behalf, whatever core that ends up on.
    let result = unsafe { task.as_ref() }.map(f);
    crate::cpu::irq_restore(state);
    result
}

/// CPACR_EL1.FPEN's high bit: set (FPEN 0b11) while the FP/SIMD registers hold the running task's live state.
const CPACR_FPEN_EL0_ENABLED: u64 = 1 << 21;

/// Whether the FP/SIMD registers hold the running task's live state (it used FP/SIMD since it was switched in).
fn fpsimd_live() -> bool {
    let cpacr: u64;
    // SAFETY: reads CPACR_EL1 into a register; no memory or flag effects.
    unsafe {
        core::arch::asm!("mrs {cpacr}, cpacr_el1", cpacr = out(reg) cpacr, options(nomem, nostack, preserves_flags))
    };
    cpacr & CPACR_FPEN_EL0_ENABLED != 0
}

/// The lazy FP/SIMD trap (an EL0 FP/SIMD instruction with CPACR_EL1.FPEN = 0b01, the first since the running task
/// was switched in): loads the task's saved state and lets EL0 use the registers until the next switch, which
/// saves them. The trapped instruction runs again after the exception return. Called from the exception handler,
/// interrupts masked.
pub(crate) fn load_fpsimd_of_running_task() {
    let frame = RUNNING[crate::cpu::cpu_id()].frame.load(Ordering::Relaxed);
    assert!(!frame.is_null(), "FP/SIMD trap on a core that never switched to a task");
    // SAFETY: `frame` is the switch frame of the task running on this core (set by the switch that resumed it;
    // the task, and so its context, stays alive while it runs); only this core uses it while the task runs.
    // Setting FPEN to 0b11 needs no ISB: EL1 accesses were never trapped, and the exception return that follows is
    // a context synchronization event before EL0 runs again. The load clobbers x9/x10 (the C ABI's scratch).
    unsafe {
        core::arch::asm!(
            "mrs {cpacr}, cpacr_el1",
            "orr {cpacr}, {cpacr}, #(1 << 21)",
            "msr cpacr_el1, {cpacr}",
            cpacr = out(reg) _,
            options(nomem, nostack, preserves_flags)
        );
        arch_load_fpsimd(frame);
    }
}

/// Size of every task's kernel stack.
pub use crate::layout::KERNEL_STACK_SIZE;

/// The ids of the task a kernel stack belongs to, in the 16 bytes at the very top of that stack, directly above
/// the user frame ([`TaskContext::user_frame`]); written when the task is made, never changed. A system call
/// finds them at a fixed offset from its frame ([`SyscallFrame`](crate::exceptions::SyscallFrame)), so
/// `getpid` and `gettid` are one load, as Linux's `thread_info` at the stack once made `current`: no per-CPU
/// slot, so nothing to mask against a migration between finding the CPU and reading its slot. 16 bytes keep
/// the frame below, and so SP, 16-byte aligned.
#[repr(C, align(16))]
#[derive(Clone, Copy, Debug)]
pub(crate) struct TaskIds {
    /// The task's own id (Linux's tid).
    pub(crate) thread_id: u32,
    /// The id of its process (Linux's tgid); 0 for a kernel thread.
    pub(crate) process_id: u32,
}
const _: () = assert!(core::mem::size_of::<TaskIds>() == 16, "the frame below the ids stays 16-byte aligned");

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
    /// `finish_switch()` first and never return. `owner` is the task's id, which a stack overflow report names
    /// and the stack's [`TaskIds`] hold (with process id 0 until [`TaskContext::set_task_ids`]).
    ///
    /// # Errors
    /// When the thread limit is reached or no page frames are left for the stack.
    pub fn new_task(entry: extern "C" fn(usize) -> !, argument: usize, owner: u32) -> Result<Self, StackUnavailable> {
        let stack = KernelStack::allocate(owner)?;
        // SAFETY: the slot is the top 16 bytes of the stack just allocated (mapped, 16-byte aligned: the top is
        // a slot end), which nothing else uses yet.
        unsafe { task_ids_slot(&stack).write(TaskIds { thread_id: owner, process_id: 0 }) };
        let mut frame = SwitchFrame::ZEROED;
        frame.callee_saved[0] = entry as usize as u64; // x19
        frame.callee_saved[1] = argument as u64; // x20
        frame.callee_saved[11] = core::ptr::addr_of!(task_first_entry) as u64; // x30

        // The top of the stack is reserved for the task's ids and, below them, the TrapFrame of exceptions from
        // EL0 (and of the first entry to user mode), so kernel code starts below both.
        frame.stack_pointer = user_frame_slot(&stack) as u64;
        Ok(Self { frame: UnsafeCell::new(frame), stack: Some(stack) })
    }

    /// A context for a core's boot flow (its idle task): nothing to set up, the first switch away saves into it.
    pub fn for_boot_flow() -> Self {
        Self { frame: UnsafeCell::new(SwitchFrame::ZEROED), stack: None }
    }

    fn stack(&self) -> &KernelStack {
        self.stack.as_ref().expect("a boot flow has no task stack and never enters user mode")
    }

    /// The TrapFrame slot at the top of this task's kernel stack (below its [`TaskIds`]): where an exception
    /// from EL0 saves the user registers, and what `enter_user` returns through.
    pub fn user_frame(&self) -> *mut TrapFrame {
        user_frame_slot(self.stack())
    }

    /// Sets the ids a system call of this task reads from its stack (`gettid`, `getpid`): its own id and its
    /// process's. Before the task first runs (`&mut self`).
    pub fn set_task_ids(&mut self, thread_id: u32, process_id: u32) {
        // SAFETY: `&mut self`: the task has not run yet, so nothing else uses its stack; the slot is inside it.
        unsafe { task_ids_slot(self.stack()).write(TaskIds { thread_id, process_id }) };
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
    /// registers). The kernel is built soft-float, so in a system call the FP/SIMD registers hold the calling
    /// thread's user state if it used FP/SIMD since it was switched in, and its saved frame holds it otherwise.
    pub fn inherit_current_fp_state(&mut self) {
        // Masked: a preemption between the test and the copy would save the live state and clear FPEN (or move the
        // caller to another core), leaving the registers or the per-core frame pointer someone else's.
        let saved_mask = crate::cpu::irq_save();
        if fpsimd_live() {
            // SAFETY: `arch_save_fpsimd` writes FPCR, FPSR and q0-q31 into this (not yet running) task's frame,
            // which `&mut self` makes exclusively ours; it changes no register besides its scratch x9/x10
            // (declared clobbered by the C ABI of the call) and leaves the FP/SIMD registers as they are.
            unsafe { arch_save_fpsimd(self.frame.get_mut()) };
        } else {
            // The running task has not used FP/SIMD since it was switched in: its saved state is its current one.
            let running = RUNNING[crate::cpu::cpu_id()].frame.load(Ordering::Relaxed);
            assert!(!running.is_null(), "clone on a core that never switched to a task");
            // SAFETY: `running` is the frame of the task running on this core (the caller, alive while it runs);
            // no switch writes it while the task runs (interrupts are masked), so reading it races with nothing.
            let running = unsafe { &*running };
            let frame = self.frame.get_mut();
            frame.fpcr = running.fpcr;
            frame.fpsr = running.fpsr;
            frame.vector_registers = running.vector_registers;
        }
        crate::cpu::irq_restore(saved_mask);
    }

    /// Sets the user thread pointer (TPIDR_EL0) the task starts with.
    pub fn set_thread_pointer(&mut self, value: u64) {
        self.frame.get_mut().thread_pointer = value;
    }
}

/// Where `stack`'s [`TaskIds`] are: its top 16 bytes.
fn task_ids_slot(stack: &KernelStack) -> *mut TaskIds {
    (stack.top() - core::mem::size_of::<TaskIds>()) as *mut TaskIds
}

/// Where `stack`'s user frame is: directly below its [`TaskIds`], so that the frame's end, SP_EL1 while the task
/// runs in EL0, is the ids' address ([`SyscallFrame`](crate::exceptions::SyscallFrame) relies on it).
fn user_frame_slot(stack: &KernelStack) -> *mut TrapFrame {
    (task_ids_slot(stack) as usize - TrapFrame::SIZE) as *mut TrapFrame
}

/// Saves the running task's registers into `prev` and continues `next`; returns when `prev` is switched in again.
///
/// # Safety
/// Both pointers must be valid contexts that stay alive until the switch has completed on the new stack
/// (core-sched's `finish_switch`), `prev` the running task's; `next_task` is the task `next` belongs to, alive
/// while it runs (the run queue's `curr` holds it).
pub unsafe fn switch_context_raw(prev: *const TaskContext, next: *const TaskContext, next_task: *const Task<Arm64>) {
    // SAFETY: the caller guarantees both contexts are alive for the whole switch.
    let (prev, next) = unsafe { (&*prev, &*next) };
    // From here on this core runs `next` (interrupts are masked until the switch completes).
    let running = &RUNNING[crate::cpu::cpu_id()];
    running.frame.store(next.frame.get(), Ordering::Relaxed);
    running.task.store(next_task.cast_mut(), Ordering::Relaxed);
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
