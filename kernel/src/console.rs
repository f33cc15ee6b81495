//! The kernel console: `print!`/`println!` over the board's UART, one whole line at a time across cores.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, Ordering};

static CONSOLE_WRITE: spin::Once<fn(&[u8])> = spin::Once::new();
static CONSOLE_LOCK: spin::Mutex<()> = spin::Mutex::new(());
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
    let irq_state = arch_arm64::cpu::irq_save();
    {
        let _guard = CONSOLE_LOCK.lock();
        write(bytes);
    }
    arch_arm64::cpu::irq_restore(irq_state);
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
    // IRQs masked while the lock is held: an interrupt handler that prints on this core would otherwise spin
    // on a lock its own core holds.
    let irq_state = arch_arm64::cpu::irq_save();
    if PANICKING.load(Ordering::Relaxed) {
        let _ = Writer(write).write_fmt(arguments);
    } else {
        let _guard = CONSOLE_LOCK.lock();
        let _ = Writer(write).write_fmt(arguments);
    }
    arch_arm64::cpu::irq_restore(irq_state);
}

/// Switches the console to lock-free output for the panic report.
pub(crate) fn enter_panic_mode() {
    PANICKING.store(true, Ordering::Relaxed);
}

/// Prints to the kernel console.
#[macro_export]
macro_rules! print {
    ($($argument:tt)*) => { $crate::console::print_args(format_args!($($argument)*)) };
}

/// Prints a line to the kernel console; the line is written as one unit.
#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($argument:tt)*) => { $crate::console::print_args(format_args!("{}\n", format_args!($($argument)*))) };
}
