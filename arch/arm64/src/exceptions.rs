//! Exception dispatch: the Rust side of vectors.s. Everything the kernel learns about an exception arrives
//! here as a typed fact: an IRQ as an [`Interrupt`], a synchronous exception from EL0 as a [`UserTrap`] (a
//! system call with its number and six arguments, or a fault with what the syndrome says about it), and the
//! saved user registers as an opaque [`TrapFrame`] with a few methods. The kernel never decodes ESR, reads an
//! argument register or tests SPSR itself. Anything unexpected in kernel mode is a kernel bug and panics with
//! CPU, exception class, ELR and FAR.

use core::sync::atomic::{AtomicUsize, Ordering};

use aarch64_cpu::registers::{Readable, ESR_EL1, FAR_EL1};

use crate::context::TaskIds;
use crate::interrupts::Interrupt;

/// Registers saved on exception entry, in the order vectors.s stores them. Opaque outside this crate: the kernel
/// sets a system call's result, asks where the exception returns to, and copies the frame for a new thread,
/// all through methods. The frame of a system call other than clone has no x19-x28 (their slots are stale:
/// [`FULL_FRAME_SYSCALL`]); no method reads or writes them.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct TrapFrame {
    /// General-purpose registers x0-x30.
    pub(crate) x: [u64; 31],
    /// The EL0 stack pointer.
    pub(crate) sp_el0: u64,
    /// Where the exception returns to.
    pub(crate) elr: u64,
    /// Saved processor state (mode, interrupt masks, flags).
    pub(crate) spsr: u64,
}

impl TrapFrame {
    /// Size in bytes (vectors.s gets it as a `const` operand).
    pub const SIZE: usize = 272;

    /// Sets the value a system call returns to the program (x0 on return).
    #[inline(always)]
    pub fn set_syscall_return(&mut self, value: u64) {
        self.x[0] = value;
    }

    /// Whether the exception returns to user mode (EL0), rather than to interrupted kernel code.
    #[inline(always)]
    pub fn returns_to_user(&self) -> bool {
        // SPSR_EL1.M[3:0] == 0b0000: EL0t.
        self.spsr & 0xf == 0
    }

    /// The program counter the exception returns to (for fault reports).
    pub fn return_address(&self) -> u64 {
        self.elr
    }

    /// Sets where the exception returns to (rseq moves a preempted thread to its abort handler).
    pub fn set_return_address(&mut self, address: u64) {
        self.elr = address;
    }

    /// The user context of a new thread made by clone() from this (the caller's) frame: the same registers
    /// and return address, 0 as its system call's result and `stack` as its stack pointer. Only clone may call
    /// it: its frame is the only system-call frame saved whole ([`FULL_FRAME_SYSCALL`]).
    pub(crate) fn cloned_for_new_thread(&self, stack: u64) -> TrapFrame {
        // A frame of any other system call holds stale x19-x28: copying it would start the thread with them.
        assert_eq!(self.syscall_number(), FULL_FRAME_SYSCALL, "only clone's frame is saved whole");
        let mut frame = *self;
        frame.set_syscall_return(0);
        frame.sp_el0 = stack;
        frame
    }

    /// The system call number and its six arguments, by Linux's arm64 convention (x8; x0-x5).
    #[inline(always)]
    fn syscall(&self) -> UserTrap {
        UserTrap::Syscall { number: self.syscall_number(), arguments: self.syscall_arguments() }
    }

    /// The system call number (x8), for the system-call fast path ([`Handlers::syscall`]).
    #[inline(always)]
    pub fn syscall_number(&self) -> usize {
        self.x[8] as usize
    }

    /// The six system call arguments (x0-x5).
    #[inline(always)]
    pub fn syscall_arguments(&self) -> [u64; 6] {
        let [a0, a1, a2, a3, a4, a5, ..] = self.x;
        [a0, a1, a2, a3, a4, a5]
    }
}
const _: () = assert!(core::mem::size_of::<TrapFrame>() == TrapFrame::SIZE);

/// The frame of a system call from EL0 as the kernel's [`Handlers::syscall`] gets it: a [`TrapFrame`] (every
/// method of which it has, through `Deref`) known to be the user frame at the top of the calling task's kernel
/// stack ([`TaskContext::user_frame`](crate::context::TaskContext::user_frame)), so that the task's ids
/// ([`TaskIds`]) lie directly above it. Only this crate makes one, from the frame an exception from EL0 saved:
/// SP_EL1 while a task runs in EL0 is the end of its user frame (the first entry to EL0 and every later return
/// pop that frame, and an exception from EL0 pushes its frame at that SP again), and a system call comes only
/// from EL0.
#[repr(transparent)]
pub struct SyscallFrame(TrapFrame);

impl SyscallFrame {
    /// The frame `frame` as a system call's.
    ///
    /// # Safety
    /// `frame` must be the frame an exception taken from EL0 saved (the vector's first push at the SP_EL1 EL0
    /// left), i.e. the user frame of the running task's kernel stack, not one of an exception from EL1.
    #[inline(always)]
    pub(crate) unsafe fn from_user_exception(frame: &mut TrapFrame) -> &mut SyscallFrame {
        // SAFETY: `repr(transparent)`: a `SyscallFrame` is a `TrapFrame`; the borrow is `frame`'s.
        unsafe { &mut *core::ptr::from_mut(frame).cast::<SyscallFrame>() }
    }

    /// The calling task's ids, written when it was made ([`TaskContext::set_task_ids`](
    /// crate::context::TaskContext::set_task_ids)).
    #[inline(always)]
    fn caller_ids(&self) -> TaskIds {
        let ids = core::ptr::from_ref(self).wrapping_byte_add(TrapFrame::SIZE).cast::<TaskIds>();
        // SAFETY: a `SyscallFrame` is the user frame of the calling task's kernel stack (see the type), so the
        // 16 bytes after it are that stack's `TaskIds`: inside the stack (which is alive while its task runs, and
        // the task runs this system call), aligned, written before the task first ran and never again.
        unsafe { ids.read() }
    }

    /// The calling thread's id (`gettid`), read from its kernel stack: no per-CPU lookup, so no masking
    /// against a migration.
    #[inline(always)]
    pub fn caller_thread_id(&self) -> u32 {
        self.caller_ids().thread_id
    }

    /// The calling thread's process id (`getpid`), as [`SyscallFrame::caller_thread_id`].
    #[inline(always)]
    pub fn caller_process_id(&self) -> u32 {
        self.caller_ids().process_id
    }
}

impl core::ops::Deref for SyscallFrame {
    type Target = TrapFrame;
    #[inline(always)]
    fn deref(&self) -> &TrapFrame {
        &self.0
    }
}

impl core::ops::DerefMut for SyscallFrame {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut TrapFrame {
        &mut self.0
    }
}

/// The `kind` vectors.s passes for a kernel stack overflow (beyond the 16 vector slots).
pub(crate) const KIND_STACK_OVERFLOW: u64 = 16;

/// The one system call whose frame vectors.s saves and restores whole (x19-x28 included): clone, whose child
/// starts from a copy of the caller's frame ([`TrapFrame::cloned_for_new_thread`]). Every other system call
/// runs on a partial frame (vectors.s, `syscall_entry`, says why that is sound): a system call added later
/// that reads or replaces the whole frame must be tested for there too.
pub(crate) const FULL_FRAME_SYSCALL: usize = abi::syscalls::CLONE;

/// The vector slot of a synchronous exception from EL0 (AArch64): system calls and user faults.
pub(crate) const USER_SYNC_SLOT: u64 = 8;

/// Which vector slot was taken (the `kind` vectors.s passes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum VectorKind {
    KernelSync,
    /// A kernel synchronous exception with SP in the guard below a task's stack; now on the emergency stack.
    KernelStackOverflow,
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
            USER_SYNC_SLOT => Self::UserSync,
            9 => Self::UserIrq,
            KIND_STACK_OVERFLOW => Self::KernelStackOverflow,
            other => Self::Unexpected(other),
        }
    }
}

/// How a faulting access used memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// A load.
    Read,
    /// A store.
    Write,
    /// An instruction fetch.
    Execute,
}

/// Why a memory access faulted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// Nothing is mapped at the address.
    Translation,
    /// Mapped, but not for this access (or not for user mode).
    Permission,
    /// A misaligned access the memory type or instruction does not allow.
    Alignment,
    /// Anything else (access flag, external abort, TLB conflict, ...).
    Other,
}

impl FaultKind {
    fn name(self) -> &'static str {
        match self {
            FaultKind::Translation => "translation fault",
            FaultKind::Permission => "permission fault",
            FaultKind::Alignment => "alignment fault",
            FaultKind::Other => "other fault",
        }
    }
}

/// A synchronous exception from user mode, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserTrap {
    /// A system call: its number and six arguments.
    Syscall {
        /// The system call number.
        number: usize,
        /// The arguments, first to sixth.
        arguments: [u64; 6],
    },
    /// A memory access that faulted, at a known address.
    PageFault {
        /// The address accessed.
        address: u64,
        /// What kind of access.
        access: Access,
        /// Why it faulted.
        kind: FaultKind,
    },
    /// The program counter was misaligned when an instruction was fetched.
    PcAlignment {
        /// The misaligned program counter.
        address: u64,
    },
    /// The stack pointer was misaligned when used for a load or store.
    SpAlignment,
    /// An undefined (or not allowed at user level) instruction.
    Undefined,
    /// A breakpoint instruction.
    Breakpoint,
    /// Any other exception, with what it is.
    Other {
        /// Its description.
        description: &'static str,
    },
}

impl UserTrap {
    /// Decodes the current exception's syndrome. The fault address register is read only for the exceptions
    /// that set it (aborts and PC alignment): for every other class it still holds the address of an older
    /// fault, possibly another process's.
    fn read(frame: &TrapFrame) -> Self {
        let syndrome = Syndrome::read();
        match syndrome.class {
            EC_SVC64 => frame.syscall(),
            EC_INSTRUCTION_ABORT_LOWER | EC_DATA_ABORT_LOWER => {
                // ISS.FnV (bit 10): the fault address is not valid (only for external aborts).
                if syndrome.iss & (1 << 10) != 0 {
                    return UserTrap::Other { description: "external abort without a fault address" };
                }
                let (access, kind) = syndrome.abort().expect("an abort's syndrome");
                UserTrap::PageFault { address: FAR_EL1.get(), access, kind }
            }
            EC_PC_ALIGNMENT => UserTrap::PcAlignment { address: FAR_EL1.get() },
            EC_SP_ALIGNMENT => UserTrap::SpAlignment,
            EC_UNKNOWN => UserTrap::Undefined,
            EC_BRK64 => UserTrap::Breakpoint,
            _ => UserTrap::Other { description: syndrome.class_name() },
        }
    }
}

impl core::fmt::Display for UserTrap {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            UserTrap::Syscall { number, .. } => write!(formatter, "system call {number}"),
            UserTrap::PageFault { address, access, kind } => {
                let kind = kind.name();
                match access {
                    Access::Execute => write!(formatter, "instruction abort ({kind}), address {address:#x}"),
                    Access::Read => write!(formatter, "data abort (read, {kind}), address {address:#x}"),
                    Access::Write => write!(formatter, "data abort (write, {kind}), address {address:#x}"),
                }
            }
            UserTrap::PcAlignment { address } => write!(formatter, "PC alignment fault, address {address:#x}"),
            UserTrap::SpAlignment => formatter.write_str("SP alignment fault"),
            UserTrap::Undefined => formatter.write_str("undefined instruction"),
            UserTrap::Breakpoint => formatter.write_str("breakpoint instruction"),
            UserTrap::Other { description } => formatter.write_str(description),
        }
    }
}

// ESR_EL1.EC values this file decodes.
const EC_UNKNOWN: u8 = 0x00;
pub(crate) const EC_SVC64: u8 = 0x15;
/// An FP/SIMD access trapped by CPACR_EL1.FPEN (lazy FP/SIMD, switch.s).
const EC_FP_ACCESS: u8 = 0x07;
const EC_INSTRUCTION_ABORT_LOWER: u8 = 0x20;
const EC_PC_ALIGNMENT: u8 = 0x22;
const EC_INSTRUCTION_ABORT_SAME: u8 = 0x21;
const EC_DATA_ABORT_LOWER: u8 = 0x24;
const EC_DATA_ABORT_SAME: u8 = 0x25;
const EC_SP_ALIGNMENT: u8 = 0x26;
const EC_BRK64: u8 = 0x3c;

/// A decoded synchronous exception syndrome.
#[derive(Clone, Copy, Debug)]
struct Syndrome {
    /// ESR_EL1.EC, the exception class.
    class: u8,
    /// ESR_EL1.ISS.
    iss: u32,
}

impl Syndrome {
    fn read() -> Self {
        let esr = ESR_EL1.get();
        Self { class: ((esr >> 26) & 0x3f) as u8, iss: (esr & 0x1ff_ffff) as u32 }
    }

    /// For an instruction or data abort (from EL0 or EL1): the kind of access and why it faulted.
    fn abort(&self) -> Option<(Access, FaultKind)> {
        let access = match self.class {
            EC_INSTRUCTION_ABORT_LOWER | EC_INSTRUCTION_ABORT_SAME => Access::Execute,
            // ISS.WnR: the access was a write.
            EC_DATA_ABORT_LOWER | EC_DATA_ABORT_SAME if self.iss & (1 << 6) != 0 => Access::Write,
            EC_DATA_ABORT_LOWER | EC_DATA_ABORT_SAME => Access::Read,
            _ => return None,
        };
        // ISS.DFSC/IFSC (bits 5:0): the fault status code, levels 0-3 in the low bits.
        let kind = match self.iss & 0x3f {
            0b00_0100..=0b00_0111 => FaultKind::Translation,
            0b00_1100..=0b00_1111 => FaultKind::Permission,
            0b10_0001 => FaultKind::Alignment,
            _ => FaultKind::Other,
        };
        Some((access, kind))
    }

    /// A human-readable name of the exception class.
    fn class_name(&self) -> &'static str {
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

/// A kernel stack overflow, as the exception vector found it: a fault with the stack pointer in the unmapped
/// guard below a task's kernel stack.
#[derive(Clone, Copy, Debug)]
pub struct KernelStackOverflow {
    /// Id of the task whose stack it is, as given to `TaskContext::new_task`.
    pub task_id: Option<u32>,
    /// The core it happened on.
    pub cpu: usize,
    /// The stack pointer when the exception was taken (in the guard).
    pub stack_pointer: u64,
    /// The faulting instruction.
    pub return_address: u64,
    /// The address accessed.
    pub fault_address: u64,
}

impl core::fmt::Display for KernelStackOverflow {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            formatter,
            "on CPU {}: SP {:#018x} in the guard page, ELR {:#018x}, FAR {:#018x}",
            self.cpu, self.stack_pointer, self.return_address, self.fault_address
        )
    }
}

/// The kernel's handlers, registered once at boot.
#[derive(Clone, Copy)]
pub struct Handlers {
    /// An interrupt (end-of-interrupt has already been sent, so the handler may switch tasks).
    pub irq: fn(interrupt: Interrupt, frame: &mut TrapFrame),
    /// A system call from EL0 (SVC), the fast path: vectors.s calls it directly (so the C calling convention),
    /// it reads the number and arguments from the frame and writes the result back into it.
    pub syscall: extern "C" fn(frame: &mut SyscallFrame),
    /// Any other synchronous exception from EL0 (faults, undefined instructions): never a system call.
    pub user_trap: fn(trap: UserTrap, frame: &mut TrapFrame),
    /// A kernel stack overflow: reports it (naming the task) and ends the run; runs on an emergency stack.
    pub kernel_stack_overflow: fn(overflow: &KernelStackOverflow) -> !,
}

static HANDLERS: spin::Once<Handlers> = spin::Once::new();

/// `Handlers::syscall` as an address, for vectors.s's system-call path (a load and an indirect call, no
/// `Once` state test); 0 until the handlers are registered.
pub(crate) static SYSCALL_HANDLER: AtomicUsize = AtomicUsize::new(0);

/// Registers the kernel's handlers; the first registration wins.
pub fn set_handlers(handlers: Handlers) {
    let registered = HANDLERS.call_once(|| handlers);
    // Relaxed, and vectors.s loads it plainly: it is a code address (nothing it points to is ever written), stored
    // on the boot core before any EL0 code runs (the kernel registers its handlers before it starts a process);
    // until then an SVC takes the common path, which reports it.
    SYSCALL_HANDLER.store(registered.syscall as usize, Ordering::Relaxed);
}

/// Called from vectors.s with the saved frame on the current stack, for every exception but a system call
/// (interrupts, user faults, kernel faults): vectors.s sends those to `Handlers::syscall` directly once it is
/// registered.
#[unsafe(no_mangle)]
extern "C" fn arch_handle_exception(frame: &mut TrapFrame, slot: u64) {
    match VectorKind::from_slot(slot) {
        VectorKind::KernelIrq | VectorKind::UserIrq => handle_irq(frame),
        // The lazy FP/SIMD trap: the running task's first FP/SIMD instruction since it was switched in.
        VectorKind::UserSync if Syndrome::read().class == EC_FP_ACCESS => crate::context::load_fpsimd_of_running_task(),
        VectorKind::UserSync => match HANDLERS.get() {
            Some(handlers) => match UserTrap::read(frame) {
                // An SVC comes here only while no handler is registered (vectors.s), which `HANDLERS` being set
                // all but rules out; should one still arrive, it runs as on the fast path.
                // SAFETY: the lower-EL synchronous vector saved `frame` at the SP_EL1 EL0 left: the user frame.
                UserTrap::Syscall { .. } => (handlers.syscall)(unsafe { SyscallFrame::from_user_exception(frame) }),
                trap => (handlers.user_trap)(trap, frame),
            },
            None => kernel_fault("exception from EL0 before handlers were registered", Syndrome::read(), frame),
        },
        VectorKind::KernelSync => kernel_fault("kernel fault", Syndrome::read(), frame),
        VectorKind::KernelStackOverflow => {
            // vectors.s saved SP after making room for a frame: add it back for the SP at the exception.
            let stack_pointer = aarch64_cpu::registers::TPIDRRO_EL0.get() + TrapFrame::SIZE as u64;
            let overflow = KernelStackOverflow {
                task_id: crate::kernel_stacks::owner_of(stack_pointer as usize),
                cpu: crate::cpu::cpu_id(),
                stack_pointer,
                return_address: frame.elr,
                fault_address: FAR_EL1.get(),
            };
            match HANDLERS.get() {
                Some(handlers) => (handlers.kernel_stack_overflow)(&overflow),
                None => panic!("kernel stack overflow {overflow}"),
            }
        }
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
            (handlers.irq)(crate::interrupts::decode(interrupt), frame);
        }
    }
}

fn kernel_fault(what: &str, syndrome: Syndrome, frame: &TrapFrame) -> ! {
    // For an abort, what was tried and why it failed, e.g. "write, permission fault" for a store to kernel text.
    let (access, kind) = match syndrome.abort() {
        Some((Access::Read, kind)) => (" (read, ", kind.name()),
        Some((Access::Write, kind)) => (" (write, ", kind.name()),
        Some((Access::Execute, kind)) => (" (execute, ", kind.name()),
        None => ("", ""),
    };
    let close = if access.is_empty() { "" } else { ")" };
    panic!(
        "{what} on CPU {}: {}{access}{kind}{close} (EC {:#04x}, ISS {:#x}), ELR {:#018x}, FAR {:#018x}, SPSR {:#x}",
        crate::cpu::cpu_id(),
        syndrome.class_name(),
        syndrome.class,
        syndrome.iss,
        frame.elr,
        FAR_EL1.get(),
        frame.spsr
    )
}
