//! User address spaces: one TTBR0 translation table per mm (39-bit VA, 4 KiB pages, three levels), tagged with an
//! ASID from a generation-based allocator, and checked copies between kernel and user memory.
//!
//! The kernel lives in TTBR1 (its linear map, kernel_map.rs) and is never mapped in a user table, so EL0 can
//! reach no kernel address at all. User pages are never executable at EL1 (PXN) and never writable and
//! executable at once. The kernel reaches user memory only through `copy_to_user`/`copy_from_user`, which walk
//! the table in software, check the EL0 permissions, and copy through the linear map: no user pointer is ever
//! dereferenced directly, so a bad pointer is an EFAULT and never a kernel fault.

use crate::cpu::MAX_CPUS;
use crate::frames;
use crate::layout::{phys_to_virt, PAGE_SIZE};
use crate::Arm64;
use aarch64_cpu::registers::Readable;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use core_sched::IrqSpinLock;

/// User virtual addresses are `0..USER_VA_END` (T0SZ = 25).
pub const USER_VA_END: usize = 1 << 39;

// Translation table descriptor bits, shared with the kernel map (kernel_map.rs).
pub(crate) const DESCRIPTOR_VALID: u64 = 1 << 0;
pub(crate) const DESCRIPTOR_TABLE_OR_PAGE: u64 = 1 << 1;
pub(crate) const ATTR_NORMAL: u64 = 1 << 2; // AttrIndx 1: normal write-back (MAIR in boot.s)
pub(crate) const AP_EL0: u64 = 1 << 6; // AP[1]: EL0 access
pub(crate) const AP_READ_ONLY: u64 = 1 << 7; // AP[2]
pub(crate) const INNER_SHAREABLE: u64 = 3 << 8;
pub(crate) const ACCESS_FLAG: u64 = 1 << 10;
pub(crate) const NOT_GLOBAL: u64 = 1 << 11; // tagged with the ASID
pub(crate) const PRIVILEGED_EXECUTE_NEVER: u64 = 1 << 53;
pub(crate) const UNPRIVILEGED_EXECUTE_NEVER: u64 = 1 << 54;
pub(crate) const ADDRESS_MASK: u64 = 0x0000_ffff_ffff_f000;

/// Access rights of a user page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserPermissions {
    pub writable: bool,
    pub executable: bool,
}

/// Why a user-memory operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryError {
    /// The address is not mapped for EL0 with the needed access (EFAULT).
    BadAddress,
    /// No physical memory left (ENOMEM).
    OutOfMemory,
    /// Writable and executable at once was asked for (EINVAL).
    WritableAndExecutable,
}

struct Tables {
    /// Every frame this address space owns: tables and mapped pages, freed with it.
    owned_frames: Vec<usize>,
}

/// The arch part of an mm: its translation table and its ASID (generation in the upper bits).
///
/// Entries are only added while the address space has users, and all of them are removed at once, with the
/// tables and pages below the root, when the last user goes ([`UserAddressSpace::release_user_pages`], core-sched's
/// `mm_users` reaching zero). Readers (`translate`, the copies) walk the table without a lock: each holds a user
/// reference (a thread of the process, or `mmget` around `kthread_use_mm`), so it runs before the release.
/// Additions are serialized by `tables`, taken with IRQs masked so that a preempted holder can never block
/// `activate` on a context switch. The root table and the ASID stay until `free_root` (core-sched's
/// `mm_count` reaching zero), for the lazy holders that still have the root installed.
pub struct UserAddressSpace {
    root_phys: usize,
    tables: IrqSpinLock<Arm64, Tables>,
    asid: AtomicU64,
    /// Set by `release_user_pages`: nothing is mapped any more and nothing may be.
    user_pages_released: AtomicBool,
}

fn entry_pointer(table_phys: usize, index: usize) -> *mut u64 {
    (phys_to_virt(table_phys) + index * 8) as *mut u64
}

fn read_entry(table_phys: usize, index: usize) -> u64 {
    // SAFETY: `table_phys` is a table frame of an address space whose pages are not released: either the caller
    // holds its lock (additions), or it holds a user reference and walks without the lock (see the type's doc),
    // so the frame stays a table until the release, which needs the last user gone. It is in the linear map
    // (read-write), index < 512, and the aligned 64-bit load is single-copy atomic against a concurrent addition.
    unsafe { core::ptr::read_volatile(entry_pointer(table_phys, index)) }
}

fn write_entry(table_phys: usize, index: usize, value: u64) {
    // SAFETY: as in `read_entry`; the table is only changed under the address space's lock, and the walker
    // reads it with single-copy-atomic 64-bit loads, so it sees the old or the new entry.
    unsafe { core::ptr::write_volatile(entry_pointer(table_phys, index), value) }
}

fn table_indices(virtual_address: usize) -> [usize; 3] {
    [(virtual_address >> 30) & 0x1ff, (virtual_address >> 21) & 0x1ff, (virtual_address >> 12) & 0x1ff]
}

impl UserAddressSpace {
    /// An empty address space (nothing mapped, no ASID yet).
    pub fn new() -> Result<Self, MemoryError> {
        let root_phys = frames::allocate_zeroed().ok_or(MemoryError::OutOfMemory)?;
        Ok(Self {
            root_phys,
            tables: IrqSpinLock::new(Tables { owned_frames: Vec::from([root_phys]) }),
            asid: AtomicU64::new(0),
            user_pages_released: AtomicBool::new(false),
        })
    }

    /// The level-3 entry for `virtual_address`, creating intermediate tables when `tables` is given (the
    /// caller holds the lock).
    fn leaf(&self, tables: Option<&mut Tables>, virtual_address: usize) -> Result<Option<(usize, usize)>, MemoryError> {
        let indices = table_indices(virtual_address);
        let mut table = self.root_phys;
        let mut tables = tables;
        for &index in &indices[..2] {
            let entry = read_entry(table, index);
            table = if entry & DESCRIPTOR_VALID != 0 {
                (entry & ADDRESS_MASK) as usize
            } else if let Some(tables) = tables.as_deref_mut() {
                let next = frames::allocate_zeroed().ok_or(MemoryError::OutOfMemory)?;
                tables.owned_frames.push(next);
                // Make the zeroed table visible to the walker before the entry that points to it.
                crate::cpu::dsb_ish();
                write_entry(table, index, next as u64 | DESCRIPTOR_TABLE_OR_PAGE | DESCRIPTOR_VALID);
                next
            } else {
                return Ok(None);
            };
        }
        Ok(Some((table, indices[2])))
    }

    /// Maps one fresh zeroed page at `virtual_address` (page aligned) and returns its physical address. An
    /// existing mapping is kept (its frame returned) with the permissions widened to the union, as when two ELF
    /// segments share a page; the result must still not be writable and executable.
    pub fn map_zeroed_page(&self, virtual_address: usize, permissions: UserPermissions) -> Result<usize, MemoryError> {
        if virtual_address >= USER_VA_END || !virtual_address.is_multiple_of(PAGE_SIZE) {
            return Err(MemoryError::BadAddress);
        }
        self.map_zeroed_page_locked(&mut self.tables.lock(), virtual_address, permissions)
    }

    fn map_zeroed_page_locked(
        &self,
        tables: &mut Tables,
        virtual_address: usize,
        permissions: UserPermissions,
    ) -> Result<usize, MemoryError> {
        if self.user_pages_released.load(Ordering::Relaxed) {
            // Written under the same lock: an address space whose users are gone gains nothing.
            return Err(MemoryError::BadAddress);
        }
        let (table, index) = self.leaf(Some(&mut *tables), virtual_address)?.expect("created");
        let existing = read_entry(table, index);
        let (frame, permissions) = if existing & DESCRIPTOR_VALID != 0 {
            let old = Self::permissions_of(existing);
            (
                (existing & ADDRESS_MASK) as usize,
                UserPermissions {
                    writable: old.writable || permissions.writable,
                    executable: old.executable || permissions.executable,
                },
            )
        } else {
            let frame = frames::allocate_zeroed().ok_or(MemoryError::OutOfMemory)?;
            tables.owned_frames.push(frame);
            (frame, permissions)
        };
        if permissions.writable && permissions.executable {
            return Err(MemoryError::WritableAndExecutable);
        }
        let mut descriptor = frame as u64
            | DESCRIPTOR_VALID
            | DESCRIPTOR_TABLE_OR_PAGE
            | ATTR_NORMAL
            | AP_EL0
            | INNER_SHAREABLE
            | ACCESS_FLAG
            | NOT_GLOBAL
            | PRIVILEGED_EXECUTE_NEVER;
        if !permissions.writable {
            descriptor |= AP_READ_ONLY;
        }
        if !permissions.executable {
            descriptor |= UNPRIVILEGED_EXECUTE_NEVER;
        }
        // New mappings are made before the address space first runs, and a changed permission only widens it,
        // so no TLB maintenance is needed. The first DSB completes the zeroing of the frame (and of any new
        // table) before the walker can see the entry that maps it; the second makes the entry visible to the
        // walkers of every core before the caller goes on (the later TTBR0 write's ISB orders the walks).
        crate::cpu::dsb_ish();
        write_entry(table, index, descriptor);
        crate::cpu::dsb_ish();
        Ok(frame)
    }

    fn permissions_of(descriptor: u64) -> UserPermissions {
        UserPermissions {
            writable: descriptor & AP_READ_ONLY == 0,
            executable: descriptor & UNPRIVILEGED_EXECUTE_NEVER == 0,
        }
    }

    /// The physical address behind user address `virtual_address` if EL0 may access it (and write it when
    /// `write` is set).
    pub fn translate(&self, virtual_address: usize, write: bool) -> Option<usize> {
        // A reader holds a user reference, so it runs before any release; this check only makes a reader that
        // breaks that rule find nothing instead of walking freed tables.
        if virtual_address >= USER_VA_END || self.user_pages_released.load(Ordering::Relaxed) {
            return None;
        }
        let (table, index) = self.leaf(None, virtual_address).ok()??;
        let entry = read_entry(table, index);
        if entry & DESCRIPTOR_VALID == 0 || entry & AP_EL0 == 0 || (write && entry & AP_READ_ONLY != 0) {
            return None;
        }
        Some((entry & ADDRESS_MASK) as usize + virtual_address % PAGE_SIZE)
    }

    /// Where the kernel's linear map shows the user page holding `virtual_address` (for the test that this alias
    /// is not executable at EL0), if EL0 may read it.
    pub fn linear_map_alias(&self, virtual_address: usize) -> Option<usize> {
        self.translate(virtual_address, false).map(phys_to_virt)
    }

    /// Copies `data` to user address `destination`; all or nothing as far as checking goes.
    pub fn copy_to_user(&self, destination: usize, data: &[u8]) -> Result<(), MemoryError> {
        self.check_range(destination, data.len(), true)?;
        self.write_pages(destination, data, true)
    }

    /// Copies `data` to `destination` where EL0 may read but perhaps not write (loading a program's read-only
    /// segments before it runs). The pages must be mapped for EL0.
    pub fn copy_to_user_ignoring_permissions(&self, destination: usize, data: &[u8]) -> Result<(), MemoryError> {
        self.write_pages(destination, data, false)
    }

    /// Writes `data` at `destination` page by page through the linear map; every page must be mapped for EL0
    /// (and EL0-writable when `require_writable`).
    fn write_pages(&self, destination: usize, data: &[u8], require_writable: bool) -> Result<(), MemoryError> {
        let mut done = 0;
        while done < data.len() {
            let address = destination + done;
            let chunk = (PAGE_SIZE - address % PAGE_SIZE).min(data.len() - done);
            let physical = self.translate(address, require_writable).ok_or(MemoryError::BadAddress)?;
            // SAFETY: `translate` checked that the page is a user page of this address space (writable when
            // asked), whose frame it owns and which the linear map covers; the chunk stays inside that page.
            unsafe { core::ptr::copy_nonoverlapping(data[done..].as_ptr(), phys_to_virt(physical) as *mut u8, chunk) };
            done += chunk;
        }
        Ok(())
    }

    /// Makes code written into `[start, start + length)` (through the linear map) visible to instruction fetch:
    /// cleans the data cache lines to the point of unification, then invalidates the instruction caches of
    /// every core. Needed on hardware whose caches are not coherent for instruction fetch (Cortex-A72); a no-op
    /// in effect under QEMU.
    pub fn sync_instruction_cache(&self, start: usize, length: usize) -> Result<(), MemoryError> {
        // CTR_EL0.DminLine: log2 of the smallest data cache line in words.
        let cache_type: u64;
        // SAFETY: reads CTR_EL0, a read-only identification register.
        unsafe {
            core::arch::asm!("mrs {value}, ctr_el0", value = out(reg) cache_type, options(nomem, nostack, preserves_flags))
        };
        let line = 4usize << ((cache_type >> 16) & 0xf);
        let end = start.checked_add(length).ok_or(MemoryError::BadAddress)?;
        let mut address = start & !(line - 1);
        while address < end {
            let physical = self.translate(address, false).ok_or(MemoryError::BadAddress)?;
            // SAFETY: `dc cvau` cleans the line holding this linear-map address of a page owned by this address
            // space (checked by `translate`); it does not change memory contents.
            unsafe {
                core::arch::asm!("dc cvau, {address}", address = in(reg) phys_to_virt(physical), options(nostack, preserves_flags))
            };
            address += line;
        }
        // SAFETY: waits for the cleans, invalidates all instruction caches in the inner-shareable domain (so
        // no core keeps stale instructions for these pages), waits again and resynchronizes this core's fetch.
        unsafe { core::arch::asm!("dsb ish", "ic ialluis", "dsb ish", "isb", options(nostack, preserves_flags)) };
        Ok(())
    }

    /// Copies from user address `source` into `buffer`.
    pub fn copy_from_user(&self, source: usize, buffer: &mut [u8]) -> Result<(), MemoryError> {
        self.check_range(source, buffer.len(), false)?;
        let mut done = 0;
        while done < buffer.len() {
            let address = source + done;
            let chunk = (PAGE_SIZE - address % PAGE_SIZE).min(buffer.len() - done);
            let physical = self.translate(address, false).ok_or(MemoryError::BadAddress)?;
            // SAFETY: `translate` checked the page is user-readable in this address space; the chunk stays
            // inside it; `buffer` is a distinct kernel buffer.
            unsafe {
                core::ptr::copy_nonoverlapping(phys_to_virt(physical) as *const u8, buffer[done..].as_mut_ptr(), chunk)
            };
            done += chunk;
        }
        Ok(())
    }

    /// Writes `data` at user address `destination` through TTBR0 with unprivileged stores (`sttrb`), the way a
    /// kernel thread that adopted this address space (kthread_use_mm) reaches it: the MMU checks each store as
    /// an EL0 access of the address space installed on this core. Fails with BadAddress unless this address
    /// space is the one installed in TTBR0 here, and checks the range first, so the stores cannot fault.
    pub fn write_through_ttbr0(&self, destination: usize, data: &[u8]) -> Result<(), MemoryError> {
        let installed = aarch64_cpu::registers::TTBR0_EL1.get() & ADDRESS_MASK;
        if installed != self.root_phys as u64 {
            return Err(MemoryError::BadAddress);
        }
        self.check_range(destination, data.len(), true)?;
        for (offset, &byte) in data.iter().enumerate() {
            // SAFETY: `sttrb` stores one byte with EL0 permissions through the current TTBR0, which holds this
            // address space (checked above); `check_range` verified the page is mapped user-writable, and pages
            // are only unmapped when the last user reference drops, while the caller (inside kthread_use_mm)
            // holds one, so the store cannot fault.
            unsafe {
                core::arch::asm!(
                    "sttrb {byte:w}, [{address}]",
                    byte = in(reg) byte as u32,
                    address = in(reg) destination + offset,
                    options(nostack, preserves_flags)
                )
            };
        }
        Ok(())
    }

    /// Runs `operation` on the aligned 32-bit user word at `address` as an atomic, through the linear map (the
    /// futex word: its compare and its read-modify-write operations must be single-copy atomic against the
    /// program's own atomics on other cores, which a byte copy is not). `BadAddress` when the word is misaligned
    /// or not mapped for EL0 (writable when `write`).
    pub fn with_user_atomic_u32<R>(
        &self,
        address: usize,
        write: bool,
        operation: impl FnOnce(&core::sync::atomic::AtomicU32) -> R,
    ) -> Result<R, MemoryError> {
        if !address.is_multiple_of(4) {
            return Err(MemoryError::BadAddress);
        }
        let physical = self.translate(address, write).ok_or(MemoryError::BadAddress)?;
        // SAFETY: `translate` checked that the page is a user page of this address space (writable when asked),
        // whose frame it owns and which the linear map covers as normal cacheable memory, the same attributes
        // as the user mapping, so atomics through either alias are coherent; the word is 4-byte aligned and
        // inside that page. User memory is only ever accessed atomically or by byte copies, never through a
        // Rust reference, so no `&mut` aliases it.
        let word = unsafe { &*(phys_to_virt(physical) as *const core::sync::atomic::AtomicU32) };
        Ok(operation(word))
    }

    /// Checks that every page of `[start, start + length)` is user accessible (writable when `write`).
    pub fn check_range(&self, start: usize, length: usize, write: bool) -> Result<(), MemoryError> {
        let end = start.checked_add(length).ok_or(MemoryError::BadAddress)?;
        if end > USER_VA_END {
            return Err(MemoryError::BadAddress);
        }
        let mut page = start & !(PAGE_SIZE - 1);
        while page < end {
            self.translate(page, write).ok_or(MemoryError::BadAddress)?;
            page += PAGE_SIZE;
        }
        Ok(())
    }

    /// Frames owned by this address space.
    pub fn owned_frames(&self) -> usize {
        self.tables.lock().owned_frames.len()
    }

    /// Installs this address space in TTBR0 on the running core, with an ASID valid in the current generation.
    pub fn activate(&self) {
        let asid = asid_allocator_assign(&self.asid);
        let root = self.root_phys as u64;
        write_ttbr0(root | ((asid & ASID_MASK) << 48));
    }
}

impl UserAddressSpace {
    /// Unmaps and frees every page and table below the root (core-sched's `Arch::mm_release_user_pages`,
    /// when the last user reference drops); keeps the root table, now empty, and the ASID.
    ///
    /// No core runs this address space any more, but a core that keeps it lazily (an idle task's
    /// `active_mm`) still has the root in TTBR0 and may walk it speculatively, and TLBs (walk caches included)
    /// may hold its translations. Break before make, for the whole space at once: empty the root, make that
    /// visible to every walker, invalidate everything tagged with the ASID on every core and wait for it; only
    /// then can no walk reach the lower tables or pages, and they are freed. The frames are freed outside the
    /// lock, with the caller's interrupt mask: for a big process that is most of the work.
    pub fn release_user_pages(&self) {
        let released_frames = {
            let mut tables = self.tables.lock();
            let already = self.user_pages_released.swap(true, Ordering::Relaxed);
            assert!(!already, "user pages released twice");
            for index in 0..512 {
                if read_entry(self.root_phys, index) & DESCRIPTOR_VALID != 0 {
                    write_entry(self.root_phys, index, 0);
                }
            }
            invalidate_asid_on_every_core(self.asid.load(Ordering::Relaxed));
            let root = self.root_phys;
            let mut released = core::mem::replace(&mut tables.owned_frames, Vec::from([root]));
            released.retain(|&frame| frame != root);
            released
        };
        for frame in released_frames {
            frames::free(frame);
        }
    }

    /// Frees the root table (core-sched's `Arch::mm_free`, when the last reference, lazy ones included, drops:
    /// no core has the root installed any more). The ASID stays marked as used until the next rollover
    /// flushes every TLB, so no stale entry tagged with it can ever translate for another address space.
    pub fn free_root(&self) {
        debug_assert!(self.user_pages_released.load(Ordering::Relaxed), "root freed before the user pages");
        let remaining = core::mem::take(&mut self.tables.lock().owned_frames);
        for frame in remaining {
            frames::free(frame);
        }
    }
}

impl Drop for UserAddressSpace {
    fn drop(&mut self) {
        // Whatever `release_user_pages` and `free_root` have not freed: everything, for an address space that
        // never became a process (a failed load or spawn), nothing otherwise. The ASID argument of `free_root`
        // holds for it too.
        let tables = self.tables.get_mut();
        for &frame in &tables.owned_frames {
            frames::free(frame);
        }
        tables.owned_frames.clear();
    }
}

/// Invalidates every TLB entry (walk-cache entries included) tagged with the number of `asid`, on every core
/// of the inner-shareable domain, and waits until that is complete.
fn invalidate_asid_on_every_core(asid: u64) {
    let operand = (asid & ASID_MASK) << 48;
    // SAFETY: TLB maintenance only drops cached translations of user addresses with this ASID; they are
    // refetched from the tables on demand. `dsb ishst` makes the earlier table writes (the emptied root)
    // visible to every walker before the invalidation, so no walk after it refills an old entry; `tlbi
    // aside1is` invalidates on all cores; `dsb ish` waits until every core completed it (and orders it before
    // the frames are freed and reused); `isb` resynchronizes this core's context. No memory is written, but
    // not `nomem`: it must stay ordered with the table writes before it and the frees after it.
    unsafe {
        core::arch::asm!(
            "dsb ishst",
            "tlbi aside1is, {operand}",
            "dsb ish",
            "isb",
            operand = in(reg) operand,
            options(nostack, preserves_flags)
        )
    };
}

fn write_ttbr0(value: u64) {
    // SAFETY: TTBR0 only controls translation of user (low) addresses; the kernel runs from TTBR1, so changing
    // it cannot unmap running kernel code. The ISB makes the new table and ASID effective before any later
    // user access (the next ERET is itself context synchronizing; the ISB also covers kernel copies).
    unsafe {
        core::arch::asm!("msr ttbr0_el1, {value}", "isb", value = in(reg) value, options(nostack, preserves_flags))
    };
}

/// A table with nothing mapped, installed in TTBR0 while no user address space is active (ASID 0, which the
/// allocator never hands out).
static EMPTY_TABLE_PHYS: spin::Once<usize> = spin::Once::new();

/// Per-core MMU setup after boot: replace the boot map in TTBR1 with the kernel map (W^X, kernel_map.rs), then
/// the boot identity map in TTBR0 with an empty table, and drop its TLB entries. The first core to get here
/// builds the kernel map, so the frame allocator must be initialized by then.
pub fn init_this_cpu() {
    let empty = *EMPTY_TABLE_PHYS.call_once(|| frames::allocate_zeroed().expect("a frame for the empty table"));
    // First: the switch of TTBR1 runs from the identity map.
    crate::kernel_map::install_this_cpu(empty);
    write_ttbr0(empty as u64);
    local_tlb_flush_all();
}

fn local_tlb_flush_all() {
    // SAFETY: invalidates this core's EL1&0 TLB entries (all ASIDs); the kernel's linear map is refetched from
    // the tables on demand. DSB waits for completion, ISB makes later fetches use fresh translations.
    unsafe { core::arch::asm!("dsb ishst", "tlbi vmalle1", "dsb nsh", "isb", options(nostack, preserves_flags)) };
}

// ASID allocation, in the style of Linux's arch/arm64/mm/context.c: an mm's `asid` holds
// (generation << ASID_BITS) | number, a value that names exactly one mm (a number is handed out once per
// generation). When an mm whose generation is old is switched in, it gets a number valid in the current
// generation. When none is left, the generation advances: the number each core is running (or, for a core that
// has not switched since the previous rollover, the one reserved for it then) stays reserved for the mm that owns
// it, and every core flushes its whole TLB before its next switch_mm completes, so no TLB entry tagged with a
// recycled number survives on any core.

const ASID_BITS: u32 = 16;
const ASID_MASK: u64 = (1 << ASID_BITS) - 1;

struct AsidAllocator {
    generation: u64,
    /// Numbers in use in the current generation (0 is reserved for "no user address space").
    used: Vec<u64>,
    /// How many numbers exist (1..limit are usable); lowered by tests to force rollovers.
    limit: u64,
    /// The full ASID value each core installed since the last rollover, 0 if it has not switched since.
    active: [u64; MAX_CPUS],
    /// The full (old-generation) value each core was running at the last rollover; an mm whose stored value
    /// equals one of these keeps its number in the new generation.
    reserved: [u64; MAX_CPUS],
    /// Cores that must flush their TLB before installing an ASID of the current generation.
    flush_pending: u64,
    rollovers: u64,
}

static ASIDS: IrqSpinLock<Arm64, AsidAllocator> = IrqSpinLock::new(AsidAllocator {
    generation: 1,
    used: Vec::new(),
    limit: 1 << ASID_BITS,
    active: [0; MAX_CPUS],
    reserved: [0; MAX_CPUS],
    flush_pending: 0,
    rollovers: 0,
});

impl AsidAllocator {
    fn is_used(&self, number: u64) -> bool {
        self.used.get((number / 64) as usize).is_some_and(|word| word & (1 << (number % 64)) != 0)
    }

    fn mark_used(&mut self, number: u64) {
        let word = (number / 64) as usize;
        if self.used.len() <= word {
            self.used.resize(word + 1, 0);
        }
        self.used[word] |= 1 << (number % 64);
    }

    fn free_number(&self) -> Option<u64> {
        (1..self.limit).find(|&candidate| !self.is_used(candidate))
    }

    fn rollover(&mut self) {
        self.generation += 1;
        self.rollovers += 1;
        self.used.clear();
        for core in 0..MAX_CPUS {
            let running = if self.active[core] != 0 { self.active[core] } else { self.reserved[core] };
            self.active[core] = 0;
            self.reserved[core] = running;
            if running != 0 {
                self.mark_used(running & ASID_MASK);
            }
        }
        self.flush_pending = (1 << MAX_CPUS) - 1;
    }

    /// If `old` (a full value of an older generation) is reserved, moves the reservation to the current
    /// generation and returns the number.
    fn take_reserved(&mut self, old: u64) -> Option<u64> {
        if old == 0 {
            return None;
        }
        let number = old & ASID_MASK;
        let current = (self.generation << ASID_BITS) | number;
        let mut hit = false;
        for reserved in self.reserved.iter_mut() {
            if *reserved == old {
                *reserved = current;
                hit = true;
            }
        }
        hit.then_some(number)
    }
}

/// Makes `mm_asid` valid in the current generation and records it as this core's active ASID; returns it.
fn asid_allocator_assign(mm_asid: &AtomicU64) -> u64 {
    let mut allocator = ASIDS.lock();
    // Read while the lock's guard keeps IRQs masked: a preemption right after the read could move the caller
    // elsewhere.
    let core = crate::cpu::cpu_id();
    let mut asid = mm_asid.load(Ordering::Relaxed);
    if asid >> ASID_BITS != allocator.generation {
        let number = match allocator.take_reserved(asid) {
            Some(number) => number,
            None => match allocator.free_number() {
                Some(number) => number,
                None => {
                    allocator.rollover();
                    // The mm may itself have been running somewhere: then it keeps its number.
                    match allocator.take_reserved(asid) {
                        Some(number) => number,
                        None => allocator.free_number().expect("after a rollover only the reserved numbers are used"),
                    }
                }
            },
        };
        allocator.mark_used(number);
        asid = (allocator.generation << ASID_BITS) | number;
        mm_asid.store(asid, Ordering::Relaxed);
    }
    allocator.active[core] = asid;
    if allocator.flush_pending & (1 << core) != 0 {
        allocator.flush_pending &= !(1 << core);
        local_tlb_flush_all();
    }
    drop(allocator);
    asid
}

/// Lowers the number of ASIDs (to test rollover); `None` restores the hardware's 2^16. At least MAX_CPUS + 2:
/// ASID 0 is reserved, a rollover keeps the ASID every core is running, and the core asking needs one more.
pub fn set_asid_limit(limit: Option<u64>) {
    ASIDS.lock().limit = limit.map_or(1 << ASID_BITS, |limit| limit.clamp(MAX_CPUS as u64 + 2, 1 << ASID_BITS));
}

/// How many ASID generations have rolled over since boot.
pub fn asid_rollovers() -> u64 {
    // An IRQ-safe lock: a preemption while holding it would deadlock this core's next switch_mm on it.
    ASIDS.lock().rollovers
}
