//! Per-core primitives: identity, interrupt masking, sleeping, barriers and the counter.

use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{
    Readable, Writeable, CNTFRQ_EL0, CNTKCTL_EL1, CNTVCT_EL0, MPIDR_EL1, TPIDRRO_EL0, TPIDR_EL1,
};

/// Most cores this kernel brings up (boot.s parks the others; boot stacks are reserved for this many, through
/// the `__arch_boot_stacks_size` symbol lib.rs gives the linker script).
pub const MAX_CPUS: usize = 4;
// Every core brought up needs a run queue: core-sched sizes its per-CPU arrays with its own MAX_CPUS.
const _: () = assert!(MAX_CPUS <= core_sched::MAX_CPUS, "arm64 brings up more cores than core-sched has run queues");

/// log2 of the bytes of each core's emergency stack, where the exception vector continues after a kernel stack
/// overflow (vectors.s) to report it: room for the trap frame, the panic report and its call-chain walk.
pub(crate) const EMERGENCY_STACK_SHIFT: u32 = 14;

// One emergency stack per core, in BSS (the linear map: an overflow on it is not taken for a task stack's).
core::arch::global_asm!(
    ".pushsection .bss.arch_emergency_stacks, \"aw\", %nobits",
    ".balign 16",
    ".global arch_emergency_stacks",
    "arch_emergency_stacks:",
    ".space {size}",
    ".popsection",
    size = const MAX_CPUS << EMERGENCY_STACK_SHIFT,
);

/// Index of the running core, 0..MAX_CPUS (set from MPIDR_EL1.Aff0 by the boot path, kept in TPIDR_EL1).
#[inline(always)]
pub fn cpu_id() -> usize {
    let id = TPIDR_EL1.get() as usize;
    // SAFETY: boot.s writes TPIDR_EL1 once per core, before any Rust code runs there, with the core's index,
    // which is below MAX_CPUS (a core with a larger Aff0 parks before it gets that far) and nothing writes it
    // again. Telling the compiler so removes the bounds check of every per-CPU array indexed with it (the run
    // queues on the system-call path, `getpid`'s published id): a compare and a branch to a panic each time.
    unsafe { core::hint::assert_unchecked(id < MAX_CPUS) };
    id
}

/// The raw MPIDR_EL1 of the running core.
pub fn mpidr() -> u64 {
    MPIDR_EL1.get()
}

/// The exception level the kernel runs in (read from CurrentEL; always 1 after boot).
pub fn current_el() -> u8 {
    use aarch64_cpu::registers::CurrentEL;
    CurrentEL.read(CurrentEL::EL) as u8
}

/// Per-core register setup done on every core before Rust code relies on it.
pub(crate) fn init_this_cpu() {
    // EL0 may read CNTVCT_EL0 and CNTFRQ_EL0 (as on Linux, for clock_gettime in user space); the physical
    // counter and the timers stay EL1-only.
    CNTKCTL_EL1.write(CNTKCTL_EL1::EL0VCTEN::SET);
    // TPIDRRO_EL0 is EL0-readable and its reset value is UNKNOWN on hardware; the kernel uses it only as the
    // stack-overflow path's scratch register (vectors.s), so user programs must read 0 from it.
    TPIDRRO_EL0.set(0);
}

// The four functions below are the only places that change this core's IRQ mask (the vectors aside). Each is
// its own `asm!` without `nomem`, which makes it a compiler barrier: the compiler may not move a memory access
// across it. That is what keeps a critical section inside its masked region: with `nomem` (as aarch64-cpu's
// `DAIF.set()` is emitted), the release store of a spin lock could be sunk past the unmask, and an interrupt
// taken in between would find the lock held by the code it interrupted, a same-core deadlock. They are not
// hardware barriers: the mask only concerns this core, whose own accesses are seen in program order.

/// Masks IRQs on this core and returns the previous DAIF value for `irq_restore`. Crate-private: other code
/// masks through core-sched's `IrqSpinLock` and `without_interrupts` (which reach it as `Arch::irq_save`).
#[inline(always)]
pub(crate) fn irq_save() -> u64 {
    let previous: u64;
    // SAFETY: reads DAIF, then sets the I mask bit of this core; no memory is accessed. Not `nomem` (compiler
    // barrier, see above); `preserves_flags`: DAIF holds the interrupt masks, not the NZCV condition flags.
    unsafe {
        core::arch::asm!(
            "mrs {previous}, daif",
            "msr daifset, #2",
            previous = out(reg) previous,
            options(nostack, preserves_flags)
        )
    };
    previous
}

/// Restores the IRQ mask saved by `irq_save`.
#[inline(always)]
pub(crate) fn irq_restore(previous: u64) {
    // SAFETY: writes back a DAIF value read by `irq_save` on this core (or, across a context switch, by the
    // task now resuming, which saved it with the same kernel masks); an interrupt may be taken right after,
    // which the vectors handle. Not `nomem`: the compiler barrier keeps the critical section's stores (a lock
    // release included) before the unmask.
    unsafe { core::arch::asm!("msr daif, {previous}", previous = in(reg) previous, options(nostack, preserves_flags)) };
}

/// Unmasks IRQs on this core.
#[inline(always)]
pub fn irq_enable() {
    // SAFETY: clears the I mask bit; an interrupt may be taken right after, which the vectors handle. Acts as
    // a compiler barrier (no `nomem`) so that memory accesses stay on their side of the unmask.
    unsafe { core::arch::asm!("msr daifclr, #2", options(nostack, preserves_flags)) };
}

/// Masks IRQs on this core.
#[inline(always)]
pub fn irq_disable() {
    // SAFETY: sets the I mask bit; no memory is accessed. A compiler barrier (no `nomem`), like `irq_save`.
    unsafe { core::arch::asm!("msr daifset, #2", options(nostack, preserves_flags)) };
}

/// Sleeps until an interrupt is pending (idle loop).
#[inline(always)]
pub fn wait_for_interrupt() {
    // SAFETY: `wfi` only suspends the core; it reads and writes no memory or registers.
    unsafe { core::arch::asm!("wfi", options(nomem, nostack, preserves_flags)) };
}

/// Spin-loop hint.
#[inline(always)]
pub fn cpu_relax() {
    core::hint::spin_loop();
}

/// Waits for earlier memory accesses to complete (needed before `sev`, TLB maintenance, or MMIO ordering).
#[inline(always)]
pub fn dsb_ish() {
    barrier::dsb(barrier::ISH);
}

/// Frequency of the generic counter in Hz (62.5 MHz on QEMU, 54 MHz on a Raspberry Pi 4).
pub fn counter_frequency() -> u64 {
    CNTFRQ_EL0.get()
}

/// The virtual counter (equal to the physical one: CNTVOFF is 0).
#[inline(always)]
pub fn counter() -> u64 {
    // An ISB first so that the counter is read after earlier instructions, not speculatively early.
    barrier::isb(barrier::SY);
    CNTVCT_EL0.get()
}

/// Nanoseconds since the counter started.
pub fn now_ns() -> u64 {
    counter_ticks_to_ns(counter())
}

/// Nanoseconds in `ticks` of the generic counter.
pub fn counter_ticks_to_ns(ticks: u64) -> u64 {
    (ticks as u128 * 1_000_000_000 / counter_frequency().max(1) as u128) as u64
}

/// Writes the 32-bit `value` at `address` with a plain store: used only by the deliberately faulting test build,
/// to show that kernel text is read-only. Always inlined, so that the fault report names the caller.
#[inline(always)]
pub fn write_u32_for_fault_test(address: usize, value: u32) {
    // SAFETY: a single store; where the kernel map forbids it (kernel text) the core takes a synchronous
    // exception, which the vectors report as a kernel fault and end the run. The caller writes back the value
    // already there, so even a store that went through would change nothing.
    unsafe {
        core::arch::asm!("str {value:w}, [{address}]", address = in(reg) address, value = in(reg) value, options(nostack))
    };
}

/// Whether a load or store through a misaligned stack pointer at EL0 traps on this core (SCTLR_EL1.SA0, set by
/// boot.s), so that the kernel can deliver SIGBUS. QEMU's TCG never makes the check (it omits it for speed), so
/// under QEMU the bit is the only thing a test can see.
pub fn user_stack_alignment_checked() -> bool {
    const SCTLR_EL1_SA0: u64 = 1 << 4;
    aarch64_cpu::registers::SCTLR_EL1.get() & SCTLR_EL1_SA0 != 0
}

/// The user thread pointer (TPIDR_EL0) of the task running on this core.
pub fn user_thread_pointer() -> u64 {
    use aarch64_cpu::registers::TPIDR_EL0;
    TPIDR_EL0.get()
}

/// Starts the cycle counter (PMCCNTR_EL0) on this core, counting at EL1 and EL0, and lets EL0 read it: the bench
/// payload measures the same regions in cycles as in guest instructions (on hardware the cycles are the figure).
/// Only the bench build calls this: like Linux's `perf_user_access`, it gives user code a precise timer.
pub fn enable_user_cycle_counter() {
    const PMCR_ENABLE: u64 = 1 << 0;
    const PMCR_LONG_CYCLE_COUNTER: u64 = 1 << 6;
    const PMCNTEN_CYCLE_COUNTER: u64 = 1 << 31;
    const PMUSERENR_ENABLE: u64 = 1 << 0;
    const PMUSERENR_CYCLE_COUNTER_READ: u64 = 1 << 2;
    // SAFETY: PMU configuration of this core only: PMCCFILTR_EL0 = 0 counts cycles at EL1 and EL0; PMCR_EL0
    // enables the counters; PMCNTENSET_EL0 starts the cycle counter; PMUSERENR_EL0 lets EL0 read it. No memory
    // is touched; the ISB makes the settings effective before returning.
    unsafe {
        core::arch::asm!(
            "msr pmccfiltr_el0, xzr",
            "mrs {pmcr}, pmcr_el0",
            "orr {pmcr}, {pmcr}, {pmcr_bits}",
            "msr pmcr_el0, {pmcr}",
            "msr pmcntenset_el0, {counter}",
            "msr pmuserenr_el0, {user}",
            "isb",
            pmcr = out(reg) _,
            pmcr_bits = in(reg) PMCR_ENABLE | PMCR_LONG_CYCLE_COUNTER,
            counter = in(reg) PMCNTEN_CYCLE_COUNTER,
            user = in(reg) PMUSERENR_ENABLE | PMUSERENR_CYCLE_COUNTER_READ,
            options(nomem, nostack, preserves_flags)
        )
    };
}

/// The `AT_HWCAP` and `AT_HWCAP2` words for user programs, decoded from this core's ID registers as Linux's
/// `arm64_elf_hwcaps` table does (field, minimum value, bit). Only features whose instructions work at EL0
/// without anything from the kernel are reported: not SVE or SME (the context switch saves only FP/SIMD), not
/// pointer authentication, BTI or MTE (never enabled), not CPUID (EL0 reads of the ID registers are not
/// emulated) and not EVTSTRM (the event stream is off). The boot core's registers stand for every core, as
/// they are identical on the boards supported (QEMU's cortex-a72, the Raspberry Pi 4's four Cortex-A72).
pub fn elf_hardware_capabilities() -> (u64, u64) {
    use aarch64_cpu::registers::{
        ID_AA64ISAR0_EL1, ID_AA64ISAR1_EL1, ID_AA64MMFR2_EL1, ID_AA64PFR0_EL1, ID_AA64PFR1_EL1,
    };
    use abi::auxv::hwcap::*;
    use abi::auxv::hwcap2::*;
    /// The 4-bit ID field at bit `shift` of `register`, as an unsigned value.
    fn field(register: u64, shift: u32) -> u64 {
        (register >> shift) & 0xf
    }
    /// A signed ID field (FP, AdvSIMD): 0xf is "not implemented", 0 "implemented", 1 "with half precision".
    fn signed_field(register: u64, shift: u32) -> i64 {
        ((register >> shift) as i64) << 60 >> 60
    }
    let isar0 = ID_AA64ISAR0_EL1.get();
    let isar1 = ID_AA64ISAR1_EL1.get();
    let pfr0 = ID_AA64PFR0_EL1.get();
    let pfr1 = ID_AA64PFR1_EL1.get();
    let mmfr2 = ID_AA64MMFR2_EL1.get();
    // (register, field shift, minimum value, AT_HWCAP bit)
    let hwcap_rules: [(u64, u32, u64, u64); 23] = [
        (isar0, 4, 1, HWCAP_AES),
        (isar0, 4, 2, HWCAP_PMULL),
        (isar0, 8, 1, HWCAP_SHA1),
        (isar0, 12, 1, HWCAP_SHA2),
        (isar0, 12, 2, HWCAP_SHA512),
        (isar0, 16, 1, HWCAP_CRC32),
        (isar0, 20, 2, HWCAP_ATOMICS),
        (isar0, 28, 1, HWCAP_ASIMDRDM),
        (isar0, 32, 1, HWCAP_SHA3),
        (isar0, 36, 1, HWCAP_SM3),
        (isar0, 40, 1, HWCAP_SM4),
        (isar0, 44, 1, HWCAP_ASIMDDP),
        (isar0, 48, 1, HWCAP_ASIMDFHM),
        (isar0, 52, 1, HWCAP_FLAGM),
        (isar1, 0, 1, HWCAP_DCPOP),
        (isar1, 12, 1, HWCAP_JSCVT),
        (isar1, 16, 1, HWCAP_FCMA),
        (isar1, 20, 1, HWCAP_LRCPC),
        (isar1, 20, 2, HWCAP_ILRCPC),
        (isar1, 36, 1, HWCAP_SB),
        (pfr0, 48, 1, HWCAP_DIT),
        (pfr1, 4, 2, HWCAP_SSBS),
        (mmfr2, 32, 1, HWCAP_USCAT),
    ];
    // (register, field shift, minimum value, AT_HWCAP2 bit)
    let hwcap2_rules: [(u64, u32, u64, u64); 7] = [
        (isar1, 0, 2, HWCAP2_DCPODP),
        (isar0, 52, 2, HWCAP2_FLAGM2),
        (isar1, 32, 1, HWCAP2_FRINT),
        (isar1, 52, 1, HWCAP2_I8MM),
        (isar1, 44, 1, HWCAP2_BF16),
        (isar1, 48, 1, HWCAP2_DGH),
        (isar0, 60, 1, HWCAP2_RNG),
    ];
    let decode = |rules: &[(u64, u32, u64, u64)]| {
        rules
            .iter()
            .filter(|&&(register, shift, minimum, _)| field(register, shift) >= minimum)
            .fold(0, |bits, rule| bits | rule.3)
    };
    let mut hwcap = decode(&hwcap_rules);
    let floating_point = signed_field(pfr0, 16);
    let advanced_simd = signed_field(pfr0, 20);
    if floating_point >= 0 {
        hwcap |= HWCAP_FP;
    }
    if floating_point >= 1 {
        hwcap |= HWCAP_FPHP;
    }
    if advanced_simd >= 0 {
        hwcap |= HWCAP_ASIMD;
    }
    if advanced_simd >= 1 {
        hwcap |= HWCAP_ASIMDHP;
    }
    (hwcap, decode(&hwcap2_rules))
}
