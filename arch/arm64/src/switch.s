// Register context switch between two tasks, and the first entry of a new task.
//
// arch_switch_context(prev: *mut SwitchFrame, next: *const SwitchFrame): saves the callee-saved registers,
// the kernel stack pointer and the user thread pointer (TPIDR_EL0) of the running task into `prev`, loads
// `next`'s, and returns on `next`'s stack to `next`'s saved x30. For a new task, x30 is `task_first_entry`.
//
// FP/SIMD state (user state only: kernel code is built soft-float and never touches these registers) is lazy:
// CPACR_EL1.FPEN is 0b01 (EL0 accesses trap, EL1 ones do not) from every switch until the running task's first
// FP/SIMD instruction, whose trap (context.rs, `load_fpsimd_of_running_task`) loads the task's saved state and
// sets FPEN to 0b11. So FPEN bit 21 set at a switch means the registers hold prev's live state, saved here into
// `prev` before the bit is cleared; clear means prev's saved state is still current and nothing is saved. The
// registers are never loaded at a switch: a task (or kernel thread) that does not use FP/SIMD in its time slice
// pays one read of CPACR_EL1 and a branch.
//
// SwitchFrame layout (context.rs), offsets from Rust (`const` operands in lib.rs): x19-x30 from
// SWITCH_FRAME_CALLEE_SAVED, sp then tpidr_el0 from SWITCH_FRAME_SP, fpcr then fpsr from SWITCH_FRAME_FPCR,
// q0-q31 (512 bytes) from SWITCH_FRAME_Q; context.rs asserts the pairs stored together are adjacent.

.equ SWITCH_FRAME_CALLEE_SAVED, {switch_frame_callee_saved}
.equ SWITCH_FRAME_SP,           {switch_frame_stack_pointer}
.equ SWITCH_FRAME_FPCR,         {switch_frame_fpcr}
.equ SWITCH_FRAME_Q,            {switch_frame_vector_registers}

.arch_extension fp
.arch_extension simd

.section .text
.global arch_switch_context
arch_switch_context:
    stp     x19, x20, [x0, #(SWITCH_FRAME_CALLEE_SAVED + 0 * 8)]
    stp     x21, x22, [x0, #(SWITCH_FRAME_CALLEE_SAVED + 2 * 8)]
    stp     x23, x24, [x0, #(SWITCH_FRAME_CALLEE_SAVED + 4 * 8)]
    stp     x25, x26, [x0, #(SWITCH_FRAME_CALLEE_SAVED + 6 * 8)]
    stp     x27, x28, [x0, #(SWITCH_FRAME_CALLEE_SAVED + 8 * 8)]
    stp     x29, x30, [x0, #(SWITCH_FRAME_CALLEE_SAVED + 10 * 8)]
    mov     x9, sp
    mrs     x10, tpidr_el0
    stp     x9, x10, [x0, #SWITCH_FRAME_SP]
    mrs     x9, cpacr_el1
    tbz     x9, #21, 1f                       // FPEN 0b01: prev did not touch FP/SIMD since it was switched in
    bl      arch_save_fpsimd                  // x0 = prev (x1 kept); x30 is already saved above
    mrs     x9, cpacr_el1
    bic     x9, x9, #(1 << 21)                // FPEN 0b01: next's first FP/SIMD use at EL0 traps (ERET syncs)
    msr     cpacr_el1, x9
1:
    ldp     x9, x10, [x1, #SWITCH_FRAME_SP]
    mov     sp, x9
    msr     tpidr_el0, x10
    ldp     x19, x20, [x1, #(SWITCH_FRAME_CALLEE_SAVED + 0 * 8)]
    ldp     x21, x22, [x1, #(SWITCH_FRAME_CALLEE_SAVED + 2 * 8)]
    ldp     x23, x24, [x1, #(SWITCH_FRAME_CALLEE_SAVED + 4 * 8)]
    ldp     x25, x26, [x1, #(SWITCH_FRAME_CALLEE_SAVED + 6 * 8)]
    ldp     x27, x28, [x1, #(SWITCH_FRAME_CALLEE_SAVED + 8 * 8)]
    ldp     x29, x30, [x1, #(SWITCH_FRAME_CALLEE_SAVED + 10 * 8)]
    ret

// arch_save_fpsimd(frame: *mut SwitchFrame): stores FPCR, FPSR and q0-q31 into the frame. Clobbers x9 and x10
// only (arch_switch_context relies on x1 surviving); also called from Rust when clone copies the parent's state.
.global arch_save_fpsimd
arch_save_fpsimd:
    mrs     x9, fpcr
    mrs     x10, fpsr
    stp     x9, x10, [x0, #SWITCH_FRAME_FPCR]
    add     x9, x0, #SWITCH_FRAME_Q
    stp     q0, q1, [x9, #0]
    stp     q2, q3, [x9, #32]
    stp     q4, q5, [x9, #64]
    stp     q6, q7, [x9, #96]
    stp     q8, q9, [x9, #128]
    stp     q10, q11, [x9, #160]
    stp     q12, q13, [x9, #192]
    stp     q14, q15, [x9, #224]
    stp     q16, q17, [x9, #256]
    stp     q18, q19, [x9, #288]
    stp     q20, q21, [x9, #320]
    stp     q22, q23, [x9, #352]
    stp     q24, q25, [x9, #384]
    stp     q26, q27, [x9, #416]
    stp     q28, q29, [x9, #448]
    stp     q30, q31, [x9, #480]
    ret

// First instructions of every new task: x19 = entry function, x20 = its argument (set by TaskContext::new_task).
.global arch_load_fpsimd
// arch_load_fpsimd(frame: *const SwitchFrame): loads FPCR, FPSR and q0-q31 from `frame` (the running task's, on
// its first FP/SIMD trap since it was switched in). Clobbers x9/x10 and the FP/SIMD registers (being loaded).
arch_load_fpsimd:
    ldp     x9, x10, [x0, #SWITCH_FRAME_FPCR]
    msr     fpcr, x9
    msr     fpsr, x10
    add     x9, x0, #SWITCH_FRAME_Q
    ldp     q0, q1, [x9, #0]
    ldp     q2, q3, [x9, #32]
    ldp     q4, q5, [x9, #64]
    ldp     q6, q7, [x9, #96]
    ldp     q8, q9, [x9, #128]
    ldp     q10, q11, [x9, #160]
    ldp     q12, q13, [x9, #192]
    ldp     q14, q15, [x9, #224]
    ldp     q16, q17, [x9, #256]
    ldp     q18, q19, [x9, #288]
    ldp     q20, q21, [x9, #320]
    ldp     q22, q23, [x9, #352]
    ldp     q24, q25, [x9, #384]
    ldp     q26, q27, [x9, #416]
    ldp     q28, q29, [x9, #448]
    ldp     q30, q31, [x9, #480]
    ret

.global task_first_entry
task_first_entry:
    mov     x0, x20
    blr     x19                               // extern "C" fn(usize) -> !, never returns
    b       park

// Leaves the kernel for EL0 through the TrapFrame at x0 (the top of the task's kernel stack, below its ids).
.global arch_enter_user
arch_enter_user:
    mov     sp, x0
    b       exception_return
