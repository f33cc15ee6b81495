//! The interrupts the kernel sees, as facts instead of GIC numbers: which inter-processor interrupt arrived (the
//! kernel's own or one of core-sched's), the timer, or something else. The one table of SGI numbers is here.

use core_sched::{CpuSet, IpiKind};

use crate::gic::{self, Acknowledged, VIRTUAL_TIMER_PPI};

/// The kernel's own inter-processor interrupts (core-sched's are [`IpiKind`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelIpi {
    /// Run the function posted in the target's mailbox.
    CallFunction,
    /// Counted by the receiver, per sender (the IPI test).
    TestPing,
}

/// An acknowledged interrupt, already ended at the interrupt controller (so the handler may switch tasks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interrupt {
    /// One of the kernel's IPIs, from CPU `sender`.
    Kernel {
        /// Which one.
        ipi: KernelIpi,
        /// The CPU that sent it.
        sender: usize,
    },
    /// One of core-sched's IPIs.
    Scheduler(IpiKind),
    /// This CPU's timer (it stays pending until re-armed or disabled).
    Timer,
    /// An interrupt nothing is registered for, by controller number (for a report).
    Other(u32),
}

// SGI numbers (0-15). Every IPI has its own, so a receiver knows the kind from the number alone.
const SGI_CALL_FUNCTION: u32 = 0;
const SGI_TEST_PING: u32 = 1;
const SGI_RESCHEDULE: u32 = 2;
const SGI_MEMBARRIER_BARRIER: u32 = 3;
const SGI_MEMBARRIER_SYNC_STATE: u32 = 4;
const SGI_SYNC_CORE: u32 = 5;

const fn kernel_ipi_sgi(ipi: KernelIpi) -> u32 {
    match ipi {
        KernelIpi::CallFunction => SGI_CALL_FUNCTION,
        KernelIpi::TestPing => SGI_TEST_PING,
    }
}

const fn scheduler_ipi_sgi(kind: IpiKind) -> u32 {
    match kind {
        IpiKind::Reschedule => SGI_RESCHEDULE,
        IpiKind::MembarrierBarrier => SGI_MEMBARRIER_BARRIER,
        IpiKind::MembarrierSyncState => SGI_MEMBARRIER_SYNC_STATE,
        IpiKind::SyncCore => SGI_SYNC_CORE,
    }
}

/// What an acknowledged interrupt is.
pub(crate) fn decode(interrupt: Acknowledged) -> Interrupt {
    let kernel = |ipi| Interrupt::Kernel { ipi, sender: interrupt.source_cpu() };
    match interrupt.id {
        SGI_CALL_FUNCTION => kernel(KernelIpi::CallFunction),
        SGI_TEST_PING => kernel(KernelIpi::TestPing),
        SGI_RESCHEDULE => Interrupt::Scheduler(IpiKind::Reschedule),
        SGI_MEMBARRIER_BARRIER => Interrupt::Scheduler(IpiKind::MembarrierBarrier),
        SGI_MEMBARRIER_SYNC_STATE => Interrupt::Scheduler(IpiKind::MembarrierSyncState),
        SGI_SYNC_CORE => Interrupt::Scheduler(IpiKind::SyncCore),
        VIRTUAL_TIMER_PPI => Interrupt::Timer,
        other => Interrupt::Other(other),
    }
}

fn cpu_mask(cpus: CpuSet) -> u64 {
    cpus.iter().fold(0u64, |mask, cpu| mask | 1 << cpu)
}

/// Sends one of the kernel's IPIs to every CPU in `cpus`.
pub fn send_kernel_ipi(cpus: CpuSet, ipi: KernelIpi) {
    gic::send_sgi(cpu_mask(cpus), kernel_ipi_sgi(ipi));
}

/// Sends one of core-sched's IPIs to every CPU in `cpus` (`Arch::send_ipi`).
pub(crate) fn send_scheduler_ipi(cpus: CpuSet, kind: IpiKind) {
    gic::send_sgi(cpu_mask(cpus), scheduler_ipi_sgi(kind));
}
