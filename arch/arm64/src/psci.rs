//! PSCI (Power State Coordination Interface) calls, used to start cores on QEMU virt.

/// PSCI 0.2+ CPU_ON, SMC64/HVC64 calling convention.
const PSCI_CPU_ON_64: u64 = 0xC400_0003;

/// How the firmware is reached: HVC on QEMU virt without EL2 (SMC is undefined there), SMC otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conduit {
    Hvc,
    Smc,
}

/// Starts the core with affinity `target_mpidr` at physical address `entry_phys` (MMU off, at EL1 or EL2),
/// with `context_id` in its x0. Returns PSCI's status (0 on success, negative PSCI error otherwise).
pub fn cpu_on(conduit: Conduit, target_mpidr: u64, entry_phys: usize, context_id: u64) -> i64 {
    let mut result = PSCI_CPU_ON_64;
    // SAFETY: a PSCI call traps to the firmware (or QEMU's emulation of it); by the SMC calling convention it
    // may clobber x0-x17, declared here as clobbers. It writes no memory the kernel owns: the started core
    // begins at `entry_phys`, the boot path, which the caller provides.
    unsafe {
        match conduit {
            Conduit::Hvc => core::arch::asm!(
                "hvc #0",
                inout("x0") result, inout("x1") target_mpidr => _, inout("x2") entry_phys => _,
                inout("x3") context_id => _,
                out("x4") _, out("x5") _, out("x6") _, out("x7") _, out("x8") _, out("x9") _,
                out("x10") _, out("x11") _, out("x12") _, out("x13") _, out("x14") _, out("x15") _,
                out("x16") _, out("x17") _,
                options(nostack)
            ),
            Conduit::Smc => core::arch::asm!(
                "smc #0",
                inout("x0") result, inout("x1") target_mpidr => _, inout("x2") entry_phys => _,
                inout("x3") context_id => _,
                out("x4") _, out("x5") _, out("x6") _, out("x7") _, out("x8") _, out("x9") _,
                out("x10") _, out("x11") _, out("x12") _, out("x13") _, out("x14") _, out("x15") _,
                out("x16") _, out("x17") _,
                options(nostack)
            ),
        }
    }
    result as i64
}
