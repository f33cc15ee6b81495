//! Address-space management end to end: pages on first touch, brk, mmap/munmap with holes, MAP_FIXED,
//! mprotect, PROT_NONE reservations, madvise, mremap, stack growth, and threads faulting at once. With no
//! argument it runs every check and exits 0 when all pass; a mode in argv[1] takes a fault the kernel must kill
//! the process for: `write-read-only` (mprotect, then a store: 139), `stack-overflow` (below the 8 MiB stack:
//! 139), `out-of-memory` (touching more than RAM: 137, and the kernel runs on).
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU64, Ordering};

use abi::mmap::{
    MADV_DONTNEED, MAP_ANONYMOUS, MAP_FIXED, MAP_NORESERVE, MAP_PRIVATE, MREMAP_MAYMOVE, PROT_NONE, PROT_READ,
    PROT_WRITE,
};
use abi::syscalls as nr;
use abi::Sysinfo;
use ulib::sys::syscall;
use ulib::{println, Checker, ThreadStack};

const PAGE: usize = 4096;
const READ_WRITE: u64 = (PROT_READ | PROT_WRITE) as u64;
const PRIVATE_ANONYMOUS: u64 = (MAP_PRIVATE | MAP_ANONYMOUS) as u64;

fn mmap(address: usize, length: usize, protection: u64, flags: u64) -> i64 {
    syscall(nr::MMAP, [address as u64, length as u64, protection, flags, u64::MAX, 0])
}

fn munmap(address: usize, length: usize) -> i64 {
    syscall(nr::MUNMAP, [address as u64, length as u64, 0, 0, 0, 0])
}

fn brk(address: usize) -> usize {
    syscall(nr::BRK, [address as u64, 0, 0, 0, 0, 0]) as usize
}

fn free_pages() -> u64 {
    let mut info = Sysinfo::default();
    syscall(nr::SYSINFO, [&mut info as *mut Sysinfo as u64, 0, 0, 0, 0, 0]);
    info.freeram
}

fn read(address: usize) -> u64 {
    // SAFETY: the callers read pages they mapped readable (or expect the kernel to map on first touch).
    unsafe { core::ptr::read_volatile(address as *const u64) }
}

fn write(address: usize, value: u64) {
    // SAFETY: the callers write pages they mapped writable.
    unsafe { core::ptr::write_volatile(address as *mut u64, value) }
}

fn stack_pointer() -> usize {
    let sp: usize;
    // SAFETY: reads SP into a register; no memory is touched.
    unsafe { core::arch::asm!("mov {sp}, sp", sp = out(reg) sp, options(nomem, nostack, preserves_flags)) };
    sp
}

fn main(args: ulib::Args) -> i32 {
    match args.get(1) {
        "write-read-only" => return write_read_only(),
        "stack-overflow" => return stack_overflow(),
        "out-of-memory" => return out_of_memory(),
        _ => {}
    }
    let mut check = Checker::new("vm");
    first_touch(&mut check);
    program_break(&mut check);
    holes_and_fixed(&mut check);
    reservation(&mut check);
    dont_need(&mut check);
    remap(&mut check);
    stack_growth(&mut check);
    threads(&mut check);
    check.finish()
}

/// A fresh anonymous mapping reads as zeros, takes a frame per touched page only, and keeps what is written.
fn first_touch(check: &mut Checker) {
    let before = free_pages();
    let base = mmap(0, 64 * PAGE, READ_WRITE, PRIVATE_ANONYMOUS);
    check.expect("mmap 64 pages succeeds", i64::from(base > 0), 1);
    let base = base as usize;
    check.expect("mmap takes no frame before first touch", i64::from(free_pages() + 2 >= before), 1);
    let mut zeros = true;
    for page in 0..64 {
        zeros &= read(base + page * PAGE) == 0;
        write(base + page * PAGE + 8, page as u64);
    }
    check.expect("every page reads zero on first touch", i64::from(zeros), 1);
    let kept = (0..64).all(|page| read(base + page * PAGE + 8) == page as u64);
    check.expect("written values stay", i64::from(kept), 1);
    check.expect("munmap", munmap(base, 64 * PAGE), 0);
    check.expect("frames come back after munmap", i64::from(free_pages() + 4 >= before), 1);
}

/// brk grows and shrinks the heap; the pages are zero on first touch, also after shrinking and growing back.
fn program_break(check: &mut Checker) {
    let start = brk(0);
    check.expect("brk(0) is page aligned", (start % PAGE) as i64, 0);
    check.expect("brk below the start returns the current break", (brk(start - PAGE) == start) as i64, 1);
    check.expect("brk grows by 16 pages", (brk(start + 16 * PAGE) == start + 16 * PAGE) as i64, 1);
    write(start, 0x1234);
    write(start + 15 * PAGE, 0x5678);
    check.expect("heap keeps values", (read(start) + read(start + 15 * PAGE)) as i64, 0x1234 + 0x5678);
    check.expect("brk shrinks", (brk(start + PAGE) == start + PAGE) as i64, 1);
    check.expect("brk grows back", (brk(start + 16 * PAGE) == start + 16 * PAGE) as i64, 1);
    check.expect("a page freed by shrinking reads zero", read(start + 15 * PAGE) as i64, 0);
    check.expect("a page kept by shrinking keeps its value", read(start) as i64, 0x1234);
    check.expect(
        "brk of more than RAM fails, returning the old break",
        (brk(start + (1 << 38)) == start + 16 * PAGE) as i64,
        1,
    );
    check.expect("brk back to the start", (brk(start) == start) as i64, 1);
}

/// munmap punches holes (the rest stays), MAP_FIXED replaces a mapping with fresh zero pages.
fn holes_and_fixed(check: &mut Checker) {
    let base = mmap(0, 8 * PAGE, READ_WRITE, PRIVATE_ANONYMOUS) as usize;
    for page in 0..8 {
        write(base + page * PAGE, 100 + page as u64);
    }
    check.expect("munmap a hole of two pages", munmap(base + 2 * PAGE, 2 * PAGE), 0);
    check.expect("munmap the hole again (nothing there)", munmap(base + 2 * PAGE, 2 * PAGE), 0);
    let kept = [0, 1, 4, 5, 6, 7].iter().all(|&page| read(base + page * PAGE) == 100 + page as u64);
    check.expect("pages around the hole keep their values", i64::from(kept), 1);
    let fixed = mmap(base + 5 * PAGE, 2 * PAGE, READ_WRITE, PRIVATE_ANONYMOUS | MAP_FIXED as u64);
    check.expect("MAP_FIXED over pages 5-6", fixed, (base + 5 * PAGE) as i64);
    check.expect("MAP_FIXED pages are fresh (zero)", (read(base + 5 * PAGE) + read(base + 6 * PAGE)) as i64, 0);
    check.expect("the page after MAP_FIXED keeps its value", read(base + 7 * PAGE) as i64, 107);
    let refill = mmap(base + 2 * PAGE, 2 * PAGE, READ_WRITE, PRIVATE_ANONYMOUS | MAP_FIXED as u64);
    check.expect("MAP_FIXED fills the hole", refill, (base + 2 * PAGE) as i64);
    check.expect("munmap the whole range", munmap(base, 8 * PAGE), 0);
}

/// A 1 GiB PROT_NONE reservation takes no frames (glibc's and Rust's allocators reserve this way), and a part
/// of it made read-write works like any mapping.
fn reservation(check: &mut Checker) {
    let before = free_pages();
    let size = 1 << 30;
    let base = mmap(0, size, PROT_NONE as u64, PRIVATE_ANONYMOUS | MAP_NORESERVE as u64);
    check.expect("mmap 1 GiB PROT_NONE succeeds", i64::from(base > 0), 1);
    let base = base as usize;
    let after = free_pages();
    println!("  vm: free pages {before} -> {after} with 1 GiB reserved");
    check.expect("the reservation takes no frames", i64::from(after + 2 >= before), 1);
    let protect = syscall(nr::MPROTECT, [(base + size / 2) as u64, (4 * PAGE) as u64, READ_WRITE, 0, 0, 0]);
    check.expect("mprotect 4 pages of it read-write", protect, 0);
    write(base + size / 2 + 3 * PAGE, 42);
    check.expect("the read-write part works", read(base + size / 2 + 3 * PAGE) as i64, 42);
    check.expect("munmap the reservation", munmap(base, size), 0);
    check.expect("its frames come back", i64::from(free_pages() + 2 >= before), 1);
}

/// MADV_DONTNEED drops pages: they read back as zeros.
fn dont_need(check: &mut Checker) {
    let base = mmap(0, 4 * PAGE, READ_WRITE, PRIVATE_ANONYMOUS) as usize;
    for page in 0..4 {
        write(base + page * PAGE, 7);
    }
    let advice = syscall(nr::MADVISE, [(base + PAGE) as u64, (2 * PAGE) as u64, MADV_DONTNEED as u64, 0, 0, 0]);
    check.expect("madvise DONTNEED", advice, 0);
    let values = [0, 1, 2, 3].map(|page| read(base + page * PAGE));
    check.expect("dropped pages read zero, the others keep", i64::from(values == [7, 0, 0, 7]), 1);
    munmap(base, 4 * PAGE);
}

/// mremap grows a mapping (moving it when the pages after it are taken) and keeps its contents.
fn remap(check: &mut Checker) {
    let base = mmap(0, 4 * PAGE, READ_WRITE, PRIVATE_ANONYMOUS) as usize;
    // Something right after it, so that growing must move.
    let blocker = mmap(base + 4 * PAGE, PAGE, READ_WRITE, PRIVATE_ANONYMOUS | MAP_FIXED as u64);
    check.expect("a mapping right after it", blocker, (base + 4 * PAGE) as i64);
    for page in 0..4 {
        write(base + page * PAGE, 0xabc0 + page as u64);
    }
    let grown = syscall(nr::MREMAP, [base as u64, (4 * PAGE) as u64, (64 * PAGE) as u64, 0, 0, 0]);
    check.expect("mremap grow without MAYMOVE fails", grown, abi::Errno::ENOMEM.to_syscall_return());
    let moved = syscall(nr::MREMAP, [base as u64, (4 * PAGE) as u64, (64 * PAGE) as u64, MREMAP_MAYMOVE as u64, 0, 0]);
    check.expect("mremap grow with MAYMOVE moves", i64::from(moved > 0 && moved as usize != base), 1);
    let moved = moved as usize;
    let kept = (0..4).all(|page| read(moved + page * PAGE) == 0xabc0 + page as u64);
    check.expect("the moved pages keep their contents", i64::from(kept), 1);
    check.expect("the grown part reads zero", read(moved + 63 * PAGE) as i64, 0);
    check.expect("the old address is unmapped", munmap(base, 4 * PAGE), 0);
    let shrunk = syscall(nr::MREMAP, [moved as u64, (64 * PAGE) as u64, (2 * PAGE) as u64, 0, 0, 0]);
    check.expect("mremap shrinks in place", shrunk, moved as i64);
    munmap(moved, 2 * PAGE);
    munmap(base + 4 * PAGE, PAGE);
}

/// The main stack grows on demand: a recursion with big frames, and a touch 4 MiB below the stack pointer.
fn stack_growth(check: &mut Checker) {
    let depth_reached = recurse(64);
    check.expect("recursion through 4 MiB of stack", depth_reached as i64, 64);
    let far = (stack_pointer() - (4 << 20)) & !7;
    write(far, 99);
    check.expect("a store 4 MiB below the stack pointer", read(far) as i64, 99);
}

#[inline(never)]
fn recurse(depth: u32) -> u32 {
    let mut frame = [0u8; 64 * 1024];
    frame[0] = depth as u8;
    core::hint::black_box(&mut frame);
    if depth <= 1 {
        return u32::from(frame[0] == depth as u8);
    }
    recurse(depth - 1) + u32::from(frame[0] == depth as u8)
}

static mut STACKS: [ThreadStack; 2] = [const { ThreadStack([0; 16384]) }; 2];
static SHARED: AtomicU64 = AtomicU64::new(0);
static DONE: AtomicU64 = AtomicU64::new(0);
static FAILURES: AtomicU64 = AtomicU64::new(0);
const SHARED_PAGES: usize = 256;

/// Two threads: each maps, touches and unmaps its own memory in a loop, and both fault the same fresh shared
/// pages at once (neither may see another's value replaced by a fresh zero page).
fn threads(check: &mut Checker) {
    let shared = mmap(0, SHARED_PAGES * PAGE, READ_WRITE, PRIVATE_ANONYMOUS);
    SHARED.store(shared as u64, Ordering::Release);
    for index in 0..2 {
        // SAFETY: each thread gets its own stack, used by no one else.
        let stack = unsafe { &mut *core::ptr::addr_of_mut!(STACKS[index]) };
        check.expect("spawn a thread", i64::from(ulib::spawn_thread(stack, worker, index) > 0), 1);
    }
    while DONE.load(Ordering::Acquire) != 2 {
        ulib::sys::sched_yield();
    }
    // Every page got one increment from each thread at word `index`.
    let shared = shared as usize;
    let both = (0..SHARED_PAGES).all(|page| read(shared + page * PAGE) == 1 && read(shared + page * PAGE + 8) == 1);
    check.expect("both threads' stores to the shared pages survive", i64::from(both), 1);
    check.expect("no thread saw a wrong value", FAILURES.load(Ordering::Relaxed) as i64, 0);
    munmap(shared, SHARED_PAGES * PAGE);
}

extern "C" fn worker(index: usize) -> ! {
    let shared = SHARED.load(Ordering::Acquire) as usize;
    for page in 0..SHARED_PAGES {
        write(shared + page * PAGE + index * 8, 1);
    }
    for round in 0..32 {
        let base = mmap(0, 16 * PAGE, READ_WRITE, PRIVATE_ANONYMOUS);
        if base < 0 {
            FAILURES.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let base = base as usize;
        for page in 0..16 {
            write(base + page * PAGE, (index * 1000 + round) as u64);
        }
        if !(0..16).all(|page| read(base + page * PAGE) == (index * 1000 + round) as u64) {
            FAILURES.fetch_add(1, Ordering::Relaxed);
        }
        munmap(base, 16 * PAGE);
    }
    DONE.fetch_add(1, Ordering::Release);
    ulib::sys::exit(0)
}

/// mprotect a page read-only, then store to it: the kernel must kill us (139).
fn write_read_only() -> i32 {
    let base = mmap(0, PAGE, READ_WRITE, PRIVATE_ANONYMOUS) as usize;
    write(base, 1);
    let result = syscall(nr::MPROTECT, [base as u64, PAGE as u64, PROT_READ as u64, 0, 0, 0]);
    println!("vm: mprotect read-only returned {result}; reading works: {}", read(base));
    write(base, 2);
    println!("vm: a store to a read-only page did not fault");
    0
}

/// A store below the 8 MiB stack region (in its guard gap): the kernel must kill us (139).
fn stack_overflow() -> i32 {
    let below = (stack_pointer() - (9 << 20)) & !7;
    write(below, 1);
    println!("vm: a store 9 MiB below the stack pointer did not fault");
    0
}

/// Touches a NORESERVE mapping larger than RAM page by page: the kernel runs out of frames and must kill us
/// (137), and only us.
fn out_of_memory() -> i32 {
    let size = 4usize << 30;
    let base = mmap(0, size, READ_WRITE, PRIVATE_ANONYMOUS | MAP_NORESERVE as u64);
    if base < 0 {
        println!("vm: mmap of 4 GiB NORESERVE failed: {base}");
        return 1;
    }
    for page in 0..size / PAGE {
        write(base as usize + page * PAGE, 1);
    }
    println!("vm: touched 4 GiB without running out of memory");
    0
}

ulib::entry!(main);
