// EL1 exception vector table and the trap-frame save/restore around the Rust handler.
//
// Every exception saves a TrapFrame (layout in exceptions.rs: x0-x30, SP_EL0, ELR_EL1, SPSR_EL1) on the current
// stack (SP_EL1: the boot stack or the running task's kernel stack), calls
// `arch_handle_exception(frame, kind)`, restores the frame (which the handler may have changed, e.g. x0 as a
// syscall result) and returns with ERET. ERET is a context synchronization event: returning to EL0 needs no
// further ISB (this is what makes membarrier SYNC_CORE an IPI and nothing more on arm64).

.equ TRAP_FRAME_SIZE, 272                     // 34 * 8, a multiple of 16 (TrapFrame::SIZE in Rust)

// Each vector slot is 0x80 bytes: make room, save x0/x1, load the kind, branch to the common path.
.macro VECTOR kind
    .balign 0x80
    sub     sp, sp, #TRAP_FRAME_SIZE
    stp     x0, x1, [sp, #0]
    mov     x1, #\kind
    b       exception_common
.endm

.section .text
.balign 0x800
.global exception_vectors
exception_vectors:
    // Current EL with SP_EL0 (never used: the kernel always runs on SP_EL1).
    VECTOR 0
    VECTOR 1
    VECTOR 2
    VECTOR 3
    // Current EL with SP_ELx: kernel code.
    VECTOR 4                                  // synchronous
    VECTOR 5                                  // IRQ
    VECTOR 6                                  // FIQ
    VECTOR 7                                  // SError
    // Lower EL, AArch64: user code.
    VECTOR 8                                  // synchronous (svc, faults)
    VECTOR 9                                  // IRQ
    VECTOR 10                                 // FIQ
    VECTOR 11                                 // SError
    // Lower EL, AArch32: not supported.
    VECTOR 12
    VECTOR 13
    VECTOR 14
    VECTOR 15

exception_common:
    stp     x2, x3, [sp, #16]
    stp     x4, x5, [sp, #32]
    stp     x6, x7, [sp, #48]
    stp     x8, x9, [sp, #64]
    stp     x10, x11, [sp, #80]
    stp     x12, x13, [sp, #96]
    stp     x14, x15, [sp, #112]
    stp     x16, x17, [sp, #128]
    stp     x18, x19, [sp, #144]
    stp     x20, x21, [sp, #160]
    stp     x22, x23, [sp, #176]
    stp     x24, x25, [sp, #192]
    stp     x26, x27, [sp, #208]
    stp     x28, x29, [sp, #224]
    mrs     x21, sp_el0
    stp     x30, x21, [sp, #240]
    mrs     x22, elr_el1
    mrs     x23, spsr_el1
    stp     x22, x23, [sp, #256]
    mov     x0, sp
    bl      arch_handle_exception             // (frame: &mut TrapFrame, kind: u64)

.global exception_return
exception_return:
    // Entry point for new tasks too: their first "return" is built as a TrapFrame on their kernel stack.
    ldp     x22, x23, [sp, #256]
    msr     elr_el1, x22
    msr     spsr_el1, x23
    ldp     x30, x21, [sp, #240]
    msr     sp_el0, x21
    ldp     x0, x1, [sp, #0]
    ldp     x2, x3, [sp, #16]
    ldp     x4, x5, [sp, #32]
    ldp     x6, x7, [sp, #48]
    ldp     x8, x9, [sp, #64]
    ldp     x10, x11, [sp, #80]
    ldp     x12, x13, [sp, #96]
    ldp     x14, x15, [sp, #112]
    ldp     x16, x17, [sp, #128]
    ldp     x18, x19, [sp, #144]
    ldp     x20, x21, [sp, #160]
    ldp     x22, x23, [sp, #176]
    ldp     x24, x25, [sp, #192]
    ldp     x26, x27, [sp, #208]
    ldp     x28, x29, [sp, #224]
    add     sp, sp, #TRAP_FRAME_SIZE
    eret
