//! Exception dispatch: the Rust side of vectors.s. IRQs go to the GIC and then to the kernel's interrupt
//! handler; synchronous exceptions from EL0 go to the kernel's user-trap handler (system calls, user faults);
//! anything unexpected in kernel mode is a kernel bug and panics with CPU, exception class, ELR and FAR.

use aarch64_cpu::registers::{Readable, ESR_EL1, FAR_EL1};

/// Registers saved on exception entry, in the order vectors.s stores them.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct TrapFrame {
    /// General-purpose registers x0-x30.
    pub x: [u64; 31],
    /// The EL0 stack pointer.
    pub sp_el0: u64,
    /// Where the exception returns to.
    pub elr: u64,
    /// Saved processor state (mode, interrupt masks, flags).
    pub spsr: u64,
}

impl TrapFrame {
    /// Size in bytes (vectors.s gets it as a `const` operand).
    pub const SIZE: usize = 272;
}
const _: () = assert!(core::mem::size_of::<TrapFrame>() == TrapFrame::SIZE);

/// Which vector slot was taken (the `kind` vectors.s passes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VectorKind {
    KernelSync,
    KernelIrq,
    UserSync,
    UserIrq,
    Unexpected(u64),
}

impl VectorKind {
    fn from_slot(slot: u64) -> Self {
        match slot {
            4 => Self::KernelSync,
            5 => Self::KernelIrq,
            8 => Self::UserSync,
            9 => Self::UserIrq,
            other => Self::Unexpected(other),
        }
    }
}

/// A decoded synchronous exception syndrome.
#[derive(Clone, Copy, Debug)]
pub struct Syndrome {
    /// ESR_EL1.EC, the exception class.
    pub class: u8,
    /// ESR_EL1.ISS.
    pub iss: u32,
    /// FAR_EL1 (meaningful for aborts).
    pub fault_address: u64,
}

impl Syndrome {
    fn read() -> Self {
        let esr = ESR_EL1.get();
        Self { class: ((esr >> 26) & 0x3f) as u8, iss: (esr & 0x1ff_ffff) as u32, fault_address: FAR_EL1.get() }
    }

    /// A human-readable name of the exception class.
    pub fn class_name(&self) -> &'static str {
        match self.class {
            0x00 => "unknown reason (undefined instruction)",
            0x01 => "WFI/WFE trapped",
            0x07 => "FP/SIMD access trapped",
            0x0e => "illegal execution state",
            0x15 => "SVC from AArch64",
            0x18 => "system register access trapped",
            0x20 => "instruction abort from a lower EL",
            0x21 => "instruction abort at the same EL",
            0x22 => "PC alignment fault",
            0x24 => "data abort from a lower EL",
            0x25 => "data abort at the same EL",
            0x26 => "SP alignment fault",
            0x2f => "SError",
            0x3c => "BRK instruction",
            _ => "other",
        }
    }
}

/// The kernel's handlers, registered once at boot.
#[derive(Clone, Copy)]
pub struct Handlers {
    /// An acknowledged interrupt (end-of-interrupt has already been sent, so the handler may switch tasks).
    pub irq: fn(interrupt: crate::gic::Acknowledged, frame: &mut TrapFrame),
    /// A synchronous exception from EL0 (SVC, fault).
    pub user_sync: fn(syndrome: Syndrome, frame: &mut TrapFrame),
}

static HANDLERS: spin::Once<Handlers> = spin::Once::new();

/// Registers the kernel's handlers; the first registration wins.
pub fn set_handlers(handlers: Handlers) {
    HANDLERS.call_once(|| handlers);
}

/// Called from vectors.s with the saved frame on the current stack.
#[unsafe(no_mangle)]
extern "C" fn arch_handle_exception(frame: &mut TrapFrame, slot: u64) {
    match VectorKind::from_slot(slot) {
        VectorKind::KernelIrq | VectorKind::UserIrq => handle_irq(frame),
        VectorKind::UserSync => {
            let syndrome = Syndrome::read();
            match HANDLERS.get() {
                Some(handlers) => (handlers.user_sync)(syndrome, frame),
                None => kernel_fault("exception from EL0 before handlers were registered", syndrome, frame),
            }
        }
        VectorKind::KernelSync => kernel_fault("kernel fault", Syndrome::read(), frame),
        VectorKind::Unexpected(slot) => {
            let why = match slot {
                0..=3 => "exception taken on SP_EL0 in kernel mode",
                6 | 10 => "FIQ",
                7 | 11 => "SError",
                _ => "exception from AArch32",
            };
            kernel_fault(why, Syndrome::read(), frame)
        }
    }
}

fn handle_irq(frame: &mut TrapFrame) {
    // Drain every pending interrupt before returning.
    while let Some(interrupt) = crate::gic::acknowledge() {
        crate::gic::end_of_interrupt(interrupt);
        if let Some(handlers) = HANDLERS.get() {
            (handlers.irq)(interrupt, frame);
        }
    }
}

fn kernel_fault(what: &str, syndrome: Syndrome, frame: &TrapFrame) -> ! {
    panic!(
        "{what} on CPU {}: {} (EC {:#04x}, ISS {:#x}), ELR {:#018x}, FAR {:#018x}, SPSR {:#x}",
        crate::cpu::cpu_id(),
        syndrome.class_name(),
        syndrome.class,
        syndrome.iss,
        frame.elr,
        syndrome.fault_address,
        frame.spsr
    )
}
