//! A tiny runtime for EL0 test programs: the `_start` entry (Linux's initial stack layout), raw Linux arm64
//! system calls, `print!`, and threads via `clone`. Programs built with it run unchanged on Linux.
#![no_std]

use core::fmt::{self, Write};

pub mod sys;

/// Linux's initial stack, as seen by `main`.
pub struct Args {
    pub argc: usize,
    argv: *const *const u8,
}

impl Args {
    /// The `index`-th argument as a string (empty when absent or not UTF-8).
    pub fn get(&self, index: usize) -> &'static str {
        if index >= self.argc {
            return "";
        }
        // SAFETY: argv[0..argc] are NUL-terminated strings the kernel placed on the initial stack.
        unsafe {
            let pointer = *self.argv.add(index);
            let mut length = 0;
            while *pointer.add(length) != 0 {
                length += 1;
            }
            core::str::from_utf8(core::slice::from_raw_parts(pointer, length)).unwrap_or("")
        }
    }
}

impl Args {
    /// The stack pointer the program started with (where argc is).
    pub fn initial_stack_pointer(&self) -> usize {
        self.argv as usize - core::mem::size_of::<usize>()
    }

    /// The value of the first auxiliary-vector entry with `key` (`abi::auxv::AT_*`), found past argv's and the
    /// environment's NULL ends; `None` when the vector has no such entry.
    pub fn auxiliary_value(&self, key: u64) -> Option<u64> {
        // SAFETY: Linux's initial stack: argv[0..argc], NULL, envp[..], NULL, then (key, value) pairs ending
        // with AT_NULL, all words the kernel wrote and that stay mapped for the program's life.
        unsafe {
            let mut word = self.argv.add(self.argc + 1) as *const u64;
            while *word != 0 {
                word = word.add(1);
            }
            word = word.add(1);
            loop {
                match *word {
                    abi::auxv::AT_NULL => return None,
                    found if found == key => return Some(*word.add(1)),
                    _ => word = word.add(2),
                }
            }
        }
    }

    /// Overwrites the start of argument `index` with `text` (at most its length): a way to hand a result back to
    /// a kernel that reads the argument after the program exits (the bench payload does).
    pub fn write_argument(&self, index: usize, text: &[u8]) {
        let length = self.get(index).len().min(text.len());
        if index >= self.argc {
            return;
        }
        // SAFETY: argv[index] points at a writable string of at least `length` bytes on our initial stack.
        unsafe {
            let pointer = *self.argv.add(index) as *mut u8;
            core::ptr::copy_nonoverlapping(text.as_ptr(), pointer, length);
        }
    }
}

#[cfg(not(static_pie))]
core::arch::global_asm!(
    ".global _start",
    "_start:",
    "mov x0, sp", // x0 = &argc (Linux's initial stack)
    "bl ulib_start",
);

// A static PIE (built with `--cfg static_pie`, `-C relocation-model=pie` and `-pie`) relocates itself before any
// Rust code reads a pointer from memory, as glibc's and musl's static-PIE start-up code do: the kernel only
// maps it at a random address. `adrp`/`add` give the run-time addresses of the ELF header (the load address:
// the program is linked at 0) and of the dynamic section, wherever the program was put.
#[cfg(static_pie)]
core::arch::global_asm!(
    ".global _start",
    "_start:",
    "mov x19, sp", // &argc, kept in a callee-saved register across the call
    "adrp x0, __ehdr_start",
    "add x0, x0, :lo12:__ehdr_start",
    "adrp x1, _DYNAMIC",
    "add x1, x1, :lo12:_DYNAMIC",
    "bl ulib_relocate",
    "mov x0, x19",
    "bl ulib_start",
);

/// Applies the `R_AARCH64_RELATIVE` relocations of the dynamic section at `dynamic` for a program loaded at
/// `base`; exits with status 127 on any other kind (a static PIE has no others). It reads only through its
/// arguments: nothing it touches is itself waiting for relocation.
#[cfg(static_pie)]
#[unsafe(no_mangle)]
extern "C" fn ulib_relocate(base: usize, dynamic: *const u64) {
    const DT_NULL: u64 = 0;
    const DT_RELA: u64 = 7;
    const DT_RELASZ: u64 = 8;
    const DT_RELAENT: u64 = 9;
    const R_AARCH64_RELATIVE: u64 = 1027;
    let (mut table, mut size, mut entry_size) = (0usize, 0usize, 24usize);
    // SAFETY: `dynamic` is this program's own dynamic section, (tag, value) pairs ending with DT_NULL; the
    // relocation table it names and every offset in it lie in this program's writable, mapped segments (the
    // linker put them there), so the reads and writes stay inside the program.
    unsafe {
        let mut entry = dynamic;
        while *entry != DT_NULL {
            match *entry {
                DT_RELA => table = base + *entry.add(1) as usize,
                DT_RELASZ => size = *entry.add(1) as usize,
                DT_RELAENT => entry_size = *entry.add(1) as usize,
                _ => {}
            }
            entry = entry.add(2);
        }
        let mut offset = 0;
        while entry_size != 0 && offset + entry_size <= size {
            let relocation = (table + offset) as *const u64;
            let (target, info, addend) = (*relocation, *relocation.add(1), *relocation.add(2));
            if info & 0xffff_ffff != R_AARCH64_RELATIVE {
                sys::exit_group(127);
            }
            *((base + target as usize) as *mut usize) = base.wrapping_add(addend as usize);
            offset += entry_size;
        }
    }
}

unsafe extern "Rust" {
    fn user_main(args: Args) -> i32;
}

#[unsafe(no_mangle)]
extern "C" fn ulib_start(stack: *const usize) -> ! {
    // SAFETY: the kernel (or Linux) starts us with argc at the stack pointer, then argv pointers.
    let args = unsafe { Args { argc: *stack, argv: stack.add(1) as *const *const u8 } };
    // SAFETY: `entry!` defines `user_main` with this signature.
    let status = unsafe { user_main(args) };
    sys::exit_group(status)
}

/// Declares the program's `main(args) -> i32`.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        #[unsafe(no_mangle)]
        fn user_main(args: $crate::Args) -> i32 {
            $main(args)
        }
    };
}

// A static PIE's panic handler does not format, and only the panic handler writes through `Stdout`.
#[cfg_attr(static_pie, allow(dead_code))]
struct Stdout;

impl Write for Stdout {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        sys::write(1, text.as_bytes());
        Ok(())
    }
}

#[doc(hidden)]
pub fn print_args(arguments: fmt::Arguments) {
    // Format into a buffer first so that a line reaches the console in one write.
    let mut buffer = Buffer { bytes: [0; 256], length: 0 };
    let _ = buffer.write_fmt(arguments);
    sys::write(1, &buffer.bytes[..buffer.length]);
}

struct Buffer {
    bytes: [u8; 256],
    length: usize,
}

impl Write for Buffer {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for &byte in text.as_bytes() {
            if self.length == self.bytes.len() {
                sys::write(1, &self.bytes);
                self.length = 0;
            }
            self.bytes[self.length] = byte;
            self.length += 1;
        }
        Ok(())
    }
}

#[macro_export]
macro_rules! print {
    ($($argument:tt)*) => { $crate::print_args(format_args!($($argument)*)) };
}

#[macro_export]
macro_rules! println {
    ($($argument:tt)*) => { $crate::print_args(format_args!("{}\n", format_args!($($argument)*))) };
}

// A static PIE cannot format (see `ulib_relocate`'s build: core's formatting vtables are absolute pointers in
// read-only data), so its panics say only that they happened.
#[cfg(static_pie)]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    sys::write(2, b"user panic\n");
    sys::exit_group(101)
}

#[cfg(not(static_pie))]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    let _ = Stdout.write_fmt(format_args!("user panic: {info}\n"));
    sys::exit_group(101)
}

/// A thread's stack, provided by the caller as Linux's clone expects.
#[repr(C, align(16))]
pub struct ThreadStack(pub [u8; 16384]);

/// Starts `function(argument)` as a new thread of this process on `stack`; returns the new thread id or -errno.
pub fn spawn_thread(stack: &'static mut ThreadStack, function: extern "C" fn(usize) -> !, argument: usize) -> i64 {
    let top = stack.0.as_mut_ptr() as usize + stack.0.len();
    sys::clone_thread(top, function, argument)
}

/// Counts checks for test programs: prints one line per check and returns the exit status.
pub struct Checker {
    pub name: &'static str,
    pub failed: u32,
    pub passed: u32,
}

impl Checker {
    pub const fn new(name: &'static str) -> Self {
        Self { name, failed: 0, passed: 0 }
    }

    /// Checks that `got == want`, printing one line.
    pub fn expect(&mut self, what: &str, got: i64, want: i64) {
        if got == want {
            self.passed += 1;
            println!("  {}: {} ... ok ({})", self.name, what, got);
        } else {
            self.failed += 1;
            println!("  {}: {} ... FAILED: got {}, want {}", self.name, what, got, want);
        }
    }

    /// Exit status: 0 when every check passed.
    pub fn finish(&self) -> i32 {
        println!("{}: {} checks passed, {} failed", self.name, self.passed, self.failed);
        if self.failed == 0 {
            0
        } else {
            1
        }
    }
}
