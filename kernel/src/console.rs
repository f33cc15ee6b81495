//! The kernel console: `print!`/`println!` over the board's UART, one whole line at a time across cores.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, Ordering};

use arch_arm64::Arm64;
use core_sched::{without_interrupts, IrqSpinLock};

static CONSOLE_WRITE: spin::Once<fn(&[u8])> = spin::Once::new();
/// IRQ-safe: an interrupt handler that prints on this core would otherwise spin on a lock its own core holds.
static CONSOLE_LOCK: IrqSpinLock<Arm64, ()> = IrqSpinLock::new(());
/// Set by the panic path: from then on the lock is skipped, so a core that panicked while printing (or a core
/// holding the lock forever) cannot hide the panic report.
static PANICKING: AtomicBool = AtomicBool::new(false);

/// Installs the board's byte writer; the first call wins.
pub fn set_writer(write: fn(&[u8])) {
    CONSOLE_WRITE.call_once(|| write);
}

/// Writes raw bytes to the console under the console lock (used by the `write` system call).
pub fn writer() -> fn(&[u8]) {
    write_locked
}

fn write_locked(bytes: &[u8]) {
    let Some(&write) = CONSOLE_WRITE.get() else { return };
    let _guard = CONSOLE_LOCK.lock();
    write(bytes);
}

struct Writer(fn(&[u8]));

impl Write for Writer {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        (self.0)(text.as_bytes());
        Ok(())
    }
}

#[doc(hidden)]
pub fn print_args(arguments: fmt::Arguments) {
    let Some(&write) = CONSOLE_WRITE.get() else { return };
    // IRQs masked in panic mode too, as while the lock is held: the line is not interleaved with what an
    // interrupt handler on this core prints.
    without_interrupts::<Arm64, _>(|masked| {
        if PANICKING.load(Ordering::Relaxed) {
            let _ = Writer(write).write_fmt(arguments);
        } else {
            let _guard = CONSOLE_LOCK.lock_masked(masked);
            let _ = Writer(write).write_fmt(arguments);
        }
    });
}

/// Switches the console to lock-free output for the panic report.
pub(crate) fn enter_panic_mode() {
    PANICKING.store(true, Ordering::Relaxed);
}

/// Prints to the kernel console.
#[macro_export]
macro_rules! print {
    ($($argument:tt)*) => { $crate::print_args(format_args!($($argument)*)) };
}

/// Prints a line to the kernel console; the line is written as one unit.
#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($argument:tt)*) => { $crate::print_args(format_args!("{}\n", format_args!($($argument)*))) };
}
