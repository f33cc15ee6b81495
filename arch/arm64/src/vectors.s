// EL1 exception vector table and the trap-frame save/restore around the Rust handler.
//
// Every exception saves a TrapFrame (layout in exceptions.rs: x0-x30, SP_EL0, ELR_EL1, SPSR_EL1) on the current
// stack (SP_EL1: the boot stack or the running task's kernel stack), calls
// `arch_handle_exception(frame, kind)`, restores the frame (which the handler may have changed, e.g. x0 as a
// syscall result) and returns with ERET. ERET is a context synchronization event: returning to EL0 needs no
// further ISB (this is what makes membarrier SYNC_CORE an IPI and nothing more on arm64).

// From Rust (`const` operands in lib.rs): TrapFrame::SIZE and the offsets of its fields `x` (x0-x30, followed
// by sp_el0) and `elr` (followed by spsr); lib.rs asserts the pairs stored together are adjacent.
.equ TRAP_FRAME_SIZE,     {trap_frame_size}
.equ TRAP_FRAME_X,        {trap_frame_x}
.equ TRAP_FRAME_ELR,      {trap_frame_elr}
// layout.rs: the bit set in the kernel stack area (and clear in the linear map), and the bit set in a stack and
// clear in the guard below it; cpu.rs: the emergency stacks' size (log2); exceptions.rs: the `kind` of an
// overflow.
.equ STACKS_AREA_BIT,     {stacks_area_bit}
.equ STACK_GUARD_BIT,     {stack_guard_bit}
.equ EMERGENCY_STACK_SHIFT, {emergency_stack_shift}
.equ KIND_STACK_OVERFLOW, {kind_stack_overflow}
// exceptions.rs: ESR_EL1.EC of an SVC from AArch64, the slot number of the lower-EL synchronous vector, and the
// one system call that needs the whole frame (clone: see syscall_entry).
.equ EC_SVC64,            {ec_svc64}
.equ USER_SYNC_SLOT,      {user_sync_slot}
.equ NR_FULL_FRAME_SYSCALL, {nr_full_frame_syscall}

// Each vector slot is 0x80 bytes: make room, save x0/x1, load the kind, branch to the common path.
.macro VECTOR kind
    .balign 0x80
    sub     sp, sp, #TRAP_FRAME_SIZE
    stp     x0, x1, [sp, #(TRAP_FRAME_X + 0 * 8)]
    mov     x1, #\kind
    b       exception_common
.endm

// The kernel's synchronous vector first checks for a kernel stack overflow: a fault with SP in the guard below
// a task's stack (the fault itself, or the frame this vector makes room for, is below the stack's bottom). Saving
// the frame there would fault again, endlessly, so the check must not touch memory: like Linux's kernel_ventry,
// it swaps x0 and SP with arithmetic to test two bits of SP in x0, then swaps back. SP is in a guard when it is in
// the stack area (STACKS_AREA_BIT set) and in the lower half of its slot (STACK_GUARD_BIT clear). Only this
// vector needs it: any other exception that overflows faults on its first store and ends up here.
.macro VECTOR_KERNEL_SYNC kind
    .balign 0x80
    sub     sp, sp, #TRAP_FRAME_SIZE
    add     sp, sp, x0                        // sp = sp + x0
    sub     x0, sp, x0                        // x0 = sp
    tbz     x0, #STACKS_AREA_BIT, 1f          // not on a task stack
    tbz     x0, #STACK_GUARD_BIT, kernel_stack_overflow
1:  sub     x0, sp, x0                        // x0 = x0
    sub     sp, sp, x0                        // sp = sp
    stp     x0, x1, [sp, #(TRAP_FRAME_X + 0 * 8)]
    mov     x1, #\kind
    b       exception_common
.endm

// The user synchronous vector tests for a system call before anything else (x0 and x1 are saved, so they are
// free): ESR_EL1.EC (bits [31:26]; the ISS2 bits above 32 are not looked at) == SVC from AArch64 goes to
// `syscall_entry`, which calls the kernel's handler directly; anything else (faults, the lazy FP/SIMD trap) takes
// the common path with its slot number. The flags this compare sets are dead afterwards (SPSR holds the user's).
.macro VECTOR_USER_SYNC
    .balign 0x80
    sub     sp, sp, #TRAP_FRAME_SIZE
    stp     x0, x1, [sp, #(TRAP_FRAME_X + 0 * 8)]
    mrs     x0, esr_el1
    ubfx    x0, x0, #26, #6                   // ESR_EL1.EC
    cmp     x0, #EC_SVC64
    b.eq    syscall_entry
    mov     x1, #USER_SYNC_SLOT
    b       exception_common
.endm

// Saves x2-x30, SP_EL0, ELR_EL1 and SPSR_EL1 into the frame at sp (x0 and x1 are already saved by the vector).
// Clobbers x21-x23 after saving them (they carry the special registers into the frame).
.macro SAVE_FRAME_REST
    stp     x2, x3, [sp, #(TRAP_FRAME_X + 2 * 8)]
    stp     x4, x5, [sp, #(TRAP_FRAME_X + 4 * 8)]
    stp     x6, x7, [sp, #(TRAP_FRAME_X + 6 * 8)]
    stp     x8, x9, [sp, #(TRAP_FRAME_X + 8 * 8)]
    stp     x10, x11, [sp, #(TRAP_FRAME_X + 10 * 8)]
    stp     x12, x13, [sp, #(TRAP_FRAME_X + 12 * 8)]
    stp     x14, x15, [sp, #(TRAP_FRAME_X + 14 * 8)]
    stp     x16, x17, [sp, #(TRAP_FRAME_X + 16 * 8)]
    stp     x18, x19, [sp, #(TRAP_FRAME_X + 18 * 8)]
    stp     x20, x21, [sp, #(TRAP_FRAME_X + 20 * 8)]
    stp     x22, x23, [sp, #(TRAP_FRAME_X + 22 * 8)]
    stp     x24, x25, [sp, #(TRAP_FRAME_X + 24 * 8)]
    stp     x26, x27, [sp, #(TRAP_FRAME_X + 26 * 8)]
    stp     x28, x29, [sp, #(TRAP_FRAME_X + 28 * 8)]
    mrs     x21, sp_el0
    stp     x30, x21, [sp, #(TRAP_FRAME_X + 30 * 8)]
    mrs     x22, elr_el1
    mrs     x23, spsr_el1
    stp     x22, x23, [sp, #TRAP_FRAME_ELR]
.endm

// The system-call save: x2-x18, x29, x30, SP_EL0, ELR_EL1 and SPSR_EL1 into the frame at sp (x0 and x1 are
// already saved by the vector); x19-x28 are not saved (see syscall_entry). Clobbers x9-x11 after saving them.
.macro SAVE_SYSCALL_FRAME_REST
    stp     x2, x3, [sp, #(TRAP_FRAME_X + 2 * 8)]
    stp     x4, x5, [sp, #(TRAP_FRAME_X + 4 * 8)]
    stp     x6, x7, [sp, #(TRAP_FRAME_X + 6 * 8)]
    stp     x8, x9, [sp, #(TRAP_FRAME_X + 8 * 8)]
    stp     x10, x11, [sp, #(TRAP_FRAME_X + 10 * 8)]
    stp     x12, x13, [sp, #(TRAP_FRAME_X + 12 * 8)]
    stp     x14, x15, [sp, #(TRAP_FRAME_X + 14 * 8)]
    stp     x16, x17, [sp, #(TRAP_FRAME_X + 16 * 8)]
    str     x18, [sp, #(TRAP_FRAME_X + 18 * 8)]
    stp     x29, x30, [sp, #(TRAP_FRAME_X + 29 * 8)]
    mrs     x9, sp_el0
    str     x9, [sp, #(TRAP_FRAME_X + 31 * 8)]
    mrs     x10, elr_el1
    mrs     x11, spsr_el1
    stp     x10, x11, [sp, #TRAP_FRAME_ELR]
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
    VECTOR_KERNEL_SYNC 4                      // synchronous
    VECTOR 5                                  // IRQ
    VECTOR 6                                  // FIQ
    VECTOR 7                                  // SError
    // Lower EL, AArch64: user code.
    VECTOR_USER_SYNC                          // synchronous (svc, faults)
    VECTOR 9                                  // IRQ
    VECTOR 10                                 // FIQ
    VECTOR 11                                 // SError
    // Lower EL, AArch32: not supported.
    VECTOR 12
    VECTOR 13
    VECTOR 14
    VECTOR 15

// A kernel stack overflow (from VECTOR_KERNEL_SYNC: x0 = the SP that points into a guard, sp = that SP plus the
// interrupted x0). Continues on this core's emergency stack (cpu.rs), where the Rust handler reports the overflow
// and ends the run. The overflowing SP goes to TPIDRRO_EL0, which this kernel does not otherwise use (user
// programs read 0 there), for the report; the interrupted x0 is lost, which does not matter for a run that ends.
kernel_stack_overflow:
    msr     tpidrro_el0, x0
    mrs     x0, tpidr_el1                     // this core's index (cpu.rs)
    add     x0, x0, #1
    lsl     x0, x0, #EMERGENCY_STACK_SHIFT    // offset of the top of this core's emergency stack
    mov     sp, x0
    adrp    x0, arch_emergency_stacks
    add     x0, x0, :lo12:arch_emergency_stacks
    add     sp, sp, x0
    sub     sp, sp, #TRAP_FRAME_SIZE
    stp     x0, x1, [sp, #(TRAP_FRAME_X + 0 * 8)]
    mov     x1, #KIND_STACK_OVERFLOW
    b       exception_common

// An SVC before the kernel registered its handlers (x0 = the frame): `arch_handle_exception` reports it.
syscall_before_handlers:
    mov     x1, #USER_SYNC_SLOT
    bl      arch_handle_exception
    b       exception_return

exception_common:
    SAVE_FRAME_REST
    mov     x0, sp
    bl      arch_handle_exception             // (frame: &mut TrapFrame, kind: u64)
    b       exception_return

// A system call from EL0 (from VECTOR_USER_SYNC: x0/x1 saved, the frame made). The kernel's handler
// (`extern "C" fn(&mut TrapFrame)`, registered with `set_handlers`) is called through SYSCALL_HANDLER without
// `arch_handle_exception` in between; while none is registered (0, before boot finished: no EL0 code can run
// then, but a stray SVC must still be reported) the common path takes the exception as a user trap. The
// handler reads the number and arguments from the frame, writes the result into its x0 and does the
// return-to-user work; then the frame is restored.
//
// The frame of a system call is partial: x19-x28 are neither saved nor restored. The handler is an AAPCS64
// function, so it returns with the callee-saved x19-x28 as it found them, which are the user's; a task that
// blocks or is switched away inside the call gets them back from its switch frame (switch.s) before the handler
// returns. So the user sees every register but x0 unchanged, as Linux promises, with 10 stores and 10 loads
// fewer. The contract this needs: while a system call runs, its frame's x19-x28 slots hold stale values, so
// no path may read or write them. Today the only system call that reads the whole frame is clone (the child
// starts from a copy of it): its number (x8) takes the full save and the full restore below. Another call
// that reads or replaces the whole frame (a future rt_sigreturn, execve, signal delivery on the way out, a
// register dump) must be added to that test first. Faults, interrupts and the lazy FP/SIMD trap always save
// the full frame (exception_common), so a task preempted in user mode has a complete one.
syscall_entry:
    cmp     x8, #NR_FULL_FRAME_SYSCALL
    b.eq    syscall_entry_full_frame
    SAVE_SYSCALL_FRAME_REST
    mov     x0, sp
    adrp    x9, {syscall_handler}
    ldr     x9, [x9, :lo12:{syscall_handler}] // plain load: written once at boot, before any EL0 code runs
    cbz     x9, syscall_complete_frame_before_handlers
    blr     x9                                // (frame: &mut TrapFrame)
    // The partial restore: what SAVE_SYSCALL_FRAME_REST saved, x9-x11 as scratch before their own loads.
    ldp     x10, x11, [sp, #TRAP_FRAME_ELR]
    msr     elr_el1, x10
    msr     spsr_el1, x11
    ldr     x9, [sp, #(TRAP_FRAME_X + 31 * 8)]
    msr     sp_el0, x9
    ldp     x29, x30, [sp, #(TRAP_FRAME_X + 29 * 8)]
    ldp     x0, x1, [sp, #(TRAP_FRAME_X + 0 * 8)]
    ldp     x2, x3, [sp, #(TRAP_FRAME_X + 2 * 8)]
    ldp     x4, x5, [sp, #(TRAP_FRAME_X + 4 * 8)]
    ldp     x6, x7, [sp, #(TRAP_FRAME_X + 6 * 8)]
    ldp     x8, x9, [sp, #(TRAP_FRAME_X + 8 * 8)]
    ldp     x10, x11, [sp, #(TRAP_FRAME_X + 10 * 8)]
    ldp     x12, x13, [sp, #(TRAP_FRAME_X + 12 * 8)]
    ldp     x14, x15, [sp, #(TRAP_FRAME_X + 14 * 8)]
    ldp     x16, x17, [sp, #(TRAP_FRAME_X + 16 * 8)]
    ldr     x18, [sp, #(TRAP_FRAME_X + 18 * 8)]
    add     sp, sp, #TRAP_FRAME_SIZE
    eret

// No handler registered yet (x0 = the partial frame): complete it (x19-x28 still hold the user's values) and
// report the SVC through the common path, whose full restore then reads every slot.
syscall_complete_frame_before_handlers:
    stp     x19, x20, [sp, #(TRAP_FRAME_X + 19 * 8)]
    stp     x21, x22, [sp, #(TRAP_FRAME_X + 21 * 8)]
    stp     x23, x24, [sp, #(TRAP_FRAME_X + 23 * 8)]
    stp     x25, x26, [sp, #(TRAP_FRAME_X + 25 * 8)]
    stp     x27, x28, [sp, #(TRAP_FRAME_X + 27 * 8)]
    b       syscall_before_handlers

// clone: the whole frame saved, so that the child's copy holds every register, and restored (the full
// exception return).
syscall_entry_full_frame:
    SAVE_FRAME_REST
    mov     x0, sp
    adrp    x9, {syscall_handler}
    ldr     x9, [x9, :lo12:{syscall_handler}]
    cbz     x9, syscall_before_handlers
    blr     x9                                // (frame: &mut TrapFrame)
    // falls through to the full restore

.global exception_return
exception_return:
    // Entry point for new tasks too: their first "return" is built as a TrapFrame on their kernel stack.
    ldp     x22, x23, [sp, #TRAP_FRAME_ELR]
    msr     elr_el1, x22
    msr     spsr_el1, x23
    ldp     x30, x21, [sp, #(TRAP_FRAME_X + 30 * 8)]
    msr     sp_el0, x21
    ldp     x0, x1, [sp, #(TRAP_FRAME_X + 0 * 8)]
    ldp     x2, x3, [sp, #(TRAP_FRAME_X + 2 * 8)]
    ldp     x4, x5, [sp, #(TRAP_FRAME_X + 4 * 8)]
    ldp     x6, x7, [sp, #(TRAP_FRAME_X + 6 * 8)]
    ldp     x8, x9, [sp, #(TRAP_FRAME_X + 8 * 8)]
    ldp     x10, x11, [sp, #(TRAP_FRAME_X + 10 * 8)]
    ldp     x12, x13, [sp, #(TRAP_FRAME_X + 12 * 8)]
    ldp     x14, x15, [sp, #(TRAP_FRAME_X + 14 * 8)]
    ldp     x16, x17, [sp, #(TRAP_FRAME_X + 16 * 8)]
    ldp     x18, x19, [sp, #(TRAP_FRAME_X + 18 * 8)]
    ldp     x20, x21, [sp, #(TRAP_FRAME_X + 20 * 8)]
    ldp     x22, x23, [sp, #(TRAP_FRAME_X + 22 * 8)]
    ldp     x24, x25, [sp, #(TRAP_FRAME_X + 24 * 8)]
    ldp     x26, x27, [sp, #(TRAP_FRAME_X + 26 * 8)]
    ldp     x28, x29, [sp, #(TRAP_FRAME_X + 28 * 8)]
    add     sp, sp, #TRAP_FRAME_SIZE
    eret
