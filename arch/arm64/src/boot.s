// Boot entry for every core: accept EL2 or EL1, drop to EL1, turn the MMU on with a boot map, jump to the
// kernel's high virtual addresses, set up the per-core stack and enter Rust.
//
// Runs with the MMU off until `enable_mmu`, so everything before the jump to `high_entry` uses PC-relative
// addressing only (adr/adrp): the image runs at its physical address but is linked at its virtual one.
//
// Register use across the boot path: x19 = core index (MPIDR_EL1.Aff0), x20 = boot argument (device tree
// address on the primary core, 0 on the others), x21 = 1 on the primary core.

.equ CURRENT_EL_EL2,      (2 << 2)
.equ CURRENT_EL_EL1,      (1 << 2)
.equ HCR_EL2_RW,          (1 << 31)           // EL1 runs AArch64
.equ CNTHCTL_EL1_ACCESS,  3                   // EL1PCTEN | EL1PCEN: EL1 may use the physical counter/timer
.equ CPTR_EL2_NO_TRAPS,   0x33ff              // RES1 bits only: no FP/SIMD or other traps to EL2
.equ SPSR_EL1H_MASKED,    0x3c5               // M = EL1h, D/A/I/F masked
.equ SCTLR_EL1_MMU_OFF,   0x30d00800          // RES1 bits only
.equ CPACR_EL1_FPEN,      (1 << 20)           // FPEN 0b01: FP/SIMD usable at EL1, trapped at EL0 until a task's first use (lazy FP/SIMD, switch.s)
// MAIR_EL1: attribute 0 = Device-nGnRnE, 1 = Normal write-back, 2 = Normal non-cacheable.
.equ MAIR_VALUE,          0x44ff00
// TCR_EL1: T0SZ = T1SZ = 25 (39-bit VA), 4 KiB granules, inner-shareable write-back walks, 16-bit ASIDs
// (AS = 1) taken from TTBR0 (A1 = 0). IPS is filled in from ID_AA64MMFR0_EL1.PARange at run time.
.equ TCR_VALUE,           0x10b5193519
// SCTLR_EL1 with the MMU on: RES1 | M | C | SA | SA0 | I | DZE | UCT | nTWI | nTWE | UCI. As on Linux, EL0 may
// read CTR_EL0 (UCT) and clean/invalidate its own pages by VA (UCI: `dc civac`, `dc cvau`, `ic ivau`, which
// `__clear_cache` and JITs need), and a load or store through a misaligned SP at EL0 traps (SA0: SIGBUS).
.equ SCTLR_EL1_MMU_ON,    0x34d5d81d
// Level-1 block descriptors (1 GiB): valid block | AF | AttrIndx. Nothing in the boot map is executable at EL0
// (UXN); it is replaced by the kernel map (kernel_map.rs) on every core before any user code runs.
.equ BLOCK_NORMAL,        0x40000000000705    // AttrIndx 1, inner shareable, AF, block, UXN
.equ BLOCK_DEVICE,        0x60000000000401    // AttrIndx 0, AF, block, PXN | UXN
// From Rust (`const` operands in lib.rs): cpu::MAX_CPUS and layout::BOOT_STACK_SHIFT.
.equ MAX_BOOT_CORES,      {max_boot_cores}
.equ BOOT_STACK_SHIFT,    {boot_stack_shift}

.section .text.boot, "ax"
.global _start
_start:
    mov     x20, x0
    mrs     x19, mpidr_el1
    and     x19, x19, #0xff
    cmp     x19, #0
    b.ne    park                              // only core 0 enters here; others come via _secondary_start
    mov     x21, #1
    b       common_entry

// Entry of cores 1-3 (PSCI CPU_ON entry point, or the Raspberry Pi spin-table release address).
.global _secondary_start
_secondary_start:
    mrs     x19, mpidr_el1
    and     x19, x19, #0xff
    mov     x20, #0
    mov     x21, #0
    cmp     x19, #MAX_BOOT_CORES
    b.hs    park

common_entry:
    mrs     x9, CurrentEL
    cmp     x9, #CURRENT_EL_EL2
    b.eq    from_el2
    cmp     x9, #CURRENT_EL_EL1
    b.eq    at_el1
    b       park                              // EL3: not handled

from_el2:
    // Record that this core arrived at EL2 (x22), for the boot report.
    mov     x22, #2
    mov     x9, #HCR_EL2_RW
    msr     hcr_el2, x9
    mov     x9, #CNTHCTL_EL1_ACCESS
    msr     cnthctl_el2, x9
    msr     cntvoff_el2, xzr                  // virtual counter == physical counter
    mov     x9, #CPTR_EL2_NO_TRAPS
    msr     cptr_el2, x9
    msr     hstr_el2, xzr
    ldr     x9, =SCTLR_EL1_MMU_OFF
    msr     sctlr_el1, x9
    mov     x9, #SPSR_EL1H_MASKED
    msr     spsr_el2, x9
    adr     x9, el1_entry
    msr     elr_el2, x9
    eret                                      // to el1_entry at EL1h, interrupts masked

at_el1:
    mov     x22, #1
el1_entry:
    mov     x9, #CPACR_EL1_FPEN
    msr     cpacr_el1, x9
    isb
    cbz     x21, 1f
    bl      build_boot_page_tables            // primary only; secondaries reuse them
1:  bl      enable_mmu
    ldr     x9, =high_entry                   // absolute (virtual) address from the literal pool
    br      x9

// Now running at the linked virtual address.
high_entry:
    ldr     x9, =__boot_stacks_start
    add     x10, x19, #1
    lsl     x10, x10, #BOOT_STACK_SHIFT       // (core + 1) * BOOT_STACK_SIZE
    add     sp, x9, x10
    ldr     x9, =exception_vectors
    msr     vbar_el1, x9
    isb
    msr     tpidr_el1, x19                    // per-core index, read by Arm64::cpu_id()
    cbz     x21, 3f
    ldr     x9, =__bss_start
    ldr     x10, =__bss_end
2:  cmp     x9, x10
    b.hs    3f
    stp     xzr, xzr, [x9], #16
    b       2b
3:  mov     x29, xzr                          // end of the frame-record chain (backtraces stop here)
    mov     x0, x19
    mov     x1, x20
    mov     x2, x22
    cbz     x21, 4f
    bl      arch_primary_entry                // (core, boot argument, entry EL) -> !
    b       park
4:  bl      arch_secondary_entry              // (core, 0, entry EL) -> !
    b       park

// Two level-1 tables: [0] identity map (TTBR0, used only until the jump to high_entry), [1] the kernel's
// linear map at __kernel_virt_offset (TTBR1). Both map the first 4 GiB of physical memory with 1 GiB blocks,
// device memory where __boot_device_gib_mask says so. Written with the MMU off; the lines are invalidated
// afterwards so that no stale cache line can shadow them once the walker reads through the caches.
build_boot_page_tables:
    adrp    x0, __boot_page_tables_start
    mov     x1, x0
    add     x2, x0, #(2 * 4096)
5:  stp     xzr, xzr, [x1], #16
    cmp     x1, x2
    b.lo    5b
    ldr     x3, =__boot_device_gib_mask
    mov     x4, #0                            // GiB index
6:  lsl     x5, x4, #30
    lsr     x6, x3, x4
    tbnz    x6, #0, 7f
    ldr     x7, =BLOCK_NORMAL
    b       8f
7:  ldr     x7, =BLOCK_DEVICE
8:  orr     x5, x5, x7
    str     x5, [x0, x4, lsl #3]              // identity table
    add     x6, x0, #4096
    str     x5, [x6, x4, lsl #3]              // linear-map table
    add     x4, x4, #1
    cmp     x4, #4
    b.lo    6b
    dsb     sy
    mov     x1, x0
9:  dc      ivac, x1
    add     x1, x1, #64
    cmp     x1, x2
    b.lo    9b
    dsb     sy
    ret

enable_mmu:
    ldr     x9, =MAIR_VALUE
    msr     mair_el1, x9
    ldr     x9, =TCR_VALUE
    mrs     x10, id_aa64mmfr0_el1
    and     x10, x10, #7                      // PARange
    orr     x9, x9, x10, lsl #32              // IPS = PARange
    msr     tcr_el1, x9
    adrp    x9, __boot_page_tables_start
    msr     ttbr0_el1, x9
    add     x9, x9, #4096
    msr     ttbr1_el1, x9
    isb
    tlbi    vmalle1                           // no stale translations from firmware
    dsb     nsh
    isb
    ldr     x9, =SCTLR_EL1_MMU_ON
    msr     sctlr_el1, x9
    isb
    ret

// Replaces this core's TTBR1 table (the boot map) with the kernel map: x0 = the kernel map's root, x1 = an empty
// table (physical addresses). Called at its physical address, through the boot identity map still in TTBR0,
// with IRQs masked, like Linux's idmap_cpu_replace_ttbr1: the two maps translate the kernel identically but with
// blocks of other sizes, so no instant may have TLB entries from both (a TLB conflict). TTBR1 first points at
// the empty table, the TLB is flushed, then the new root goes in. Uses no stack and no memory; returns to the
// caller's high address, now translated by the kernel map.
.global arch_replace_ttbr1
arch_replace_ttbr1:
    msr     ttbr1_el1, x1
    isb
    tlbi    vmalle1
    dsb     nsh
    isb
    msr     ttbr1_el1, x0
    isb
    ret

.global park
park:
    wfe
    b       park
