//! GICv2 interrupt controller (QEMU virt's default GIC and the Raspberry Pi 4's GIC-400): distributor setup
//! once, CPU interface per core, SGIs as inter-processor interrupts, PPIs for the per-core timer.

use core::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};

use crate::cpu::MAX_CPUS;

register_structs! {
    DistributorRegisters {
        (0x000 => control: ReadWrite<u32>),
        (0x004 => controller_type: ReadOnly<u32>),
        (0x008 => _reserved0),
        (0x080 => group: [ReadWrite<u32>; 32]),
        (0x100 => set_enable: [ReadWrite<u32>; 32]),
        (0x180 => clear_enable: [ReadWrite<u32>; 32]),
        (0x200 => _reserved1),
        (0x400 => priority: [ReadWrite<u32>; 255]),
        (0x7fc => _reserved2),
        (0x800 => targets: [ReadWrite<u32>; 255]),
        (0xbfc => _reserved3),
        (0xf00 => software_generated_interrupt: WriteOnly<u32>),
        (0xf04 => @END),
    }
}

register_structs! {
    CpuInterfaceRegisters {
        (0x00 => control: ReadWrite<u32>),
        (0x04 => priority_mask: ReadWrite<u32>),
        (0x08 => binary_point: ReadWrite<u32>),
        (0x0c => acknowledge: ReadOnly<u32>),
        (0x10 => end_of_interrupt: WriteOnly<u32>),
        (0x14 => @END),
    }
}

/// Interrupt ids from 1020 up are special (1023: nothing pending); real interrupts are below.
const FIRST_SPECIAL_INTERRUPT_ID: u32 = 1020;
/// The EL1 virtual timer's private peripheral interrupt.
pub const VIRTUAL_TIMER_PPI: u32 = 27;
/// Priority given to every interrupt; all equal, so no nesting.
const DEFAULT_PRIORITY: u32 = 0xa0;

static DISTRIBUTOR_BASE: AtomicUsize = AtomicUsize::new(0);
static CPU_INTERFACE_BASE: AtomicUsize = AtomicUsize::new(0);
/// Each core's CPU-interface bit for SGI target lists (read from the banked GICD_ITARGETSR0).
static TARGET_BIT: [AtomicU8; MAX_CPUS] = [const { AtomicU8::new(0) }; MAX_CPUS];

fn distributor() -> &'static DistributorRegisters {
    let base = DISTRIBUTOR_BASE.load(Ordering::Relaxed);
    assert!(base != 0, "GIC used before gic::init_distributor");
    // SAFETY: `init_distributor`'s contract: the base is the mapped distributor for the kernel's lifetime.
    unsafe { &*(base as *const DistributorRegisters) }
}

fn cpu_interface() -> &'static CpuInterfaceRegisters {
    let base = CPU_INTERFACE_BASE.load(Ordering::Relaxed);
    // SAFETY: as above, set by `init_distributor` to the mapped CPU interface.
    unsafe { &*(base as *const CpuInterfaceRegisters) }
}

/// Sets up the distributor once, on the boot core: every shared interrupt disabled, equal priorities, both
/// groups enabled. Interrupt groups are left as reset or firmware set them: on a GIC without security
/// extensions (QEMU virt, and QEMU raspi4b's GIC-400, whose GICD_TYPER.SecurityExtn reads 0 and whose
/// interrupts reset to group 0) group 0 is signalled as IRQ, and moving interrupts to group 1 there would make
/// GICC_IAR answer 1022 (AckCtl is 0); in the non-secure view of a real Pi 4's GIC-400 the firmware's arm stub
/// has put them in group 1 and the group registers are not writable.
///
/// # Safety
/// `distributor_base` and `cpu_interface_base` must be kernel virtual addresses of a GICv2's register blocks,
/// mapped as device memory; called once, before `init_this_cpu` on any core.
pub unsafe fn init_distributor(distributor_base: usize, cpu_interface_base: usize) {
    DISTRIBUTOR_BASE.store(distributor_base, Ordering::Relaxed);
    CPU_INTERFACE_BASE.store(cpu_interface_base, Ordering::Relaxed);
    let gicd = distributor();
    gicd.control.set(0);
    let lines = ((gicd.controller_type.get() & 0x1f) as usize + 1) * 32;
    for word in 1..lines / 32 {
        gicd.clear_enable[word].set(u32::MAX);
    }
    for word in 8..lines / 4 {
        gicd.priority[word].set(DEFAULT_PRIORITY * 0x0101_0101);
    }
    gicd.control.set(0b11);
}

/// Per-core setup: SGIs and the timer PPI enabled, the CPU interface on, priority mask open.
pub fn init_this_cpu() {
    let gicd = distributor();
    let cpu = crate::cpu::cpu_id();
    // GICD_ITARGETSR0-7 are banked per core and read as this core's own target bit.
    TARGET_BIT[cpu].store((gicd.targets[0].get() & 0xff) as u8, Ordering::Relaxed);
    for word in 0..8 {
        gicd.priority[word].set(DEFAULT_PRIORITY * 0x0101_0101);
    }
    gicd.set_enable[0].set(0xffff | (1 << VIRTUAL_TIMER_PPI));
    let gicc = cpu_interface();
    gicc.priority_mask.set(0xf0);
    gicc.binary_point.set(0);
    gicc.control.set(0b11);
}

/// Sends software-generated interrupt `sgi` (0-15) to every core in `cpu_mask` (bit n = core n).
pub fn send_sgi(cpu_mask: u64, sgi: u32) {
    let targets = TARGET_BIT
        .iter()
        .enumerate()
        .filter(|&(cpu, _)| cpu_mask & (1 << cpu) != 0)
        .fold(0u32, |targets, (_, bit)| targets | bit.load(Ordering::Relaxed) as u32);
    if targets == 0 {
        return;
    }
    // Make earlier stores (the request the target will read) visible before the interrupt can arrive: the
    // SGI register write is a device access, which `dmb` does not order against normal stores; `dsb` does.
    crate::cpu::dsb_ish();
    distributor().software_generated_interrupt.set((targets << 16) | (sgi & 0xf));
}

/// An acknowledged interrupt: its id, and the raw value to hand back to `end_of_interrupt`.
#[derive(Clone, Copy, Debug)]
pub struct Acknowledged {
    pub id: u32,
    raw: u32,
}

impl Acknowledged {
    /// For an SGI, the CPU interface number (= core index on our boards) of the sender.
    pub fn source_cpu(&self) -> usize {
        ((self.raw >> 10) & 0x7) as usize
    }
}

/// Acknowledges the highest-priority pending interrupt, `None` if nothing (spurious) is pending.
pub fn acknowledge() -> Option<Acknowledged> {
    let raw = cpu_interface().acknowledge.get();
    let id = raw & 0x3ff;
    (id < FIRST_SPECIAL_INTERRUPT_ID).then_some(Acknowledged { id, raw })
}

/// Signals the end of handling an acknowledged interrupt.
pub fn end_of_interrupt(interrupt: Acknowledged) {
    cpu_interface().end_of_interrupt.set(interrupt.raw);
}
