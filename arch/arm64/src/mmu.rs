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
    /// The translation tables of this address space (the root first), freed with it. The frames of the mapped
    /// pages are held by the level-3 entries themselves, so that unmapping one is a table walk, not a search.
    table_frames: Vec<usize>,
    /// How many pages are mapped for EL0 (for `owned_frames`).
    mapped_pages: usize,
}

impl Tables {
    /// No tables but the root, no pages.
    fn with_root(root_phys: usize) -> Self {
        Self { table_frames: Vec::from([root_phys]), mapped_pages: 0 }
    }
}

/// The arch part of an mm: its translation table and its ASID (generation in the upper bits).
///
/// Entries are only added while the address space has users. Pages are added one at a time (the kernel maps them
/// on first touch), and removed or changed by range ([`UserAddressSpace::unmap_range`], `protect_range`,
/// `move_range`: munmap, mprotect, mremap), each followed by TLB invalidation on every core before a freed frame
/// can be reused; the tables themselves stay until the last user goes, when everything below the root is removed
/// at once ([`UserAddressSpace::release_user_pages`], core-sched's `mm_users` reaching zero). So a lock-free walk
/// (`translate`, by a holder of a user reference: a thread of the process, or `mmget` around `kthread_use_mm`)
/// always walks live tables, and at worst finds an entry that is being removed. The copies, which use the frame a
/// walk found, do each page's walk and copy under the lock, so that no frame is freed in between. Changes are
/// serialized by `tables`, taken with IRQs masked so that a preempted holder can never block `activate` on a
/// context switch. The root table and the ASID stay until `free_root` (core-sched's
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
            tables: IrqSpinLock::new(Tables::with_root(root_phys)),
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
                tables.table_frames.push(next);
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
        if existing & DESCRIPTOR_VALID != 0 && existing & AP_EL0 != 0 {
            let old = Self::permissions_of(existing);
            let widened = UserPermissions {
                writable: old.writable || permissions.writable,
                executable: old.executable || permissions.executable,
            };
            if widened.writable && widened.executable {
                return Err(MemoryError::WritableAndExecutable);
            }
            if widened != old {
                // Only the loader widens (two segments sharing a page), before the program runs; the
                // invalidation keeps it correct on a live address space too.
                write_entry(table, index, page_descriptor((existing & ADDRESS_MASK) as usize, Some(widened)));
                self.invalidate_pages(virtual_address, 1);
            }
            return Ok((existing & ADDRESS_MASK) as usize);
        }
        if existing & DESCRIPTOR_VALID != 0 {
            // A populated page made inaccessible (mprotect PROT_NONE) stays as it is.
            return Ok((existing & ADDRESS_MASK) as usize);
        }
        if permissions.writable && permissions.executable {
            return Err(MemoryError::WritableAndExecutable);
        }
        let frame = frames::allocate_zeroed().ok_or(MemoryError::OutOfMemory)?;
        tables.mapped_pages += 1;
        // The entry was invalid, and a TLB never holds a translation that faults, so no core has this page
        // cached: no invalidation. The first DSB completes the zeroing of the frame (and of any new table)
        // before a walker can see the entry that maps it; the second makes the entry visible to the walkers of
        // every core before the caller goes on (the return to EL0, or the TTBR0 write's ISB, orders the walks
        // after it).
        crate::cpu::dsb_ish();
        write_entry(table, index, page_descriptor(frame, Some(permissions)));
        crate::cpu::dsb_ish();
        Ok(frame)
    }

    /// Whether a page is mapped at `virtual_address` (accessible or not): for mincore and the page-fault path.
    pub fn is_page_present(&self, virtual_address: usize) -> bool {
        virtual_address < USER_VA_END
            && !self.user_pages_released.load(Ordering::Relaxed)
            && matches!(self.leaf(None, virtual_address), Ok(Some((table, index))) if read_entry(table, index) & DESCRIPTOR_VALID != 0)
    }

    /// Unmaps every page of `[start, end)` (page aligned), invalidates their translations on every core, and
    /// frees their frames; returns how many pages were unmapped. The tables stay (see the type's doc).
    pub fn unmap_range(&self, start: usize, end: usize) -> usize {
        let released = {
            let mut tables = self.tables.lock();
            let mut released = Vec::new();
            for_each_present_page(self.root_phys, start, end.min(USER_VA_END), |table, index, entry, _| {
                write_entry(table, index, 0);
                released.push((entry & ADDRESS_MASK) as usize);
            });
            tables.mapped_pages -= released.len();
            if !released.is_empty() {
                // Break before the frames are reused: no core may still translate to them.
                self.invalidate_pages(start, (end - start) / PAGE_SIZE);
            }
            released
        };
        let count = released.len();
        for frame in released {
            frames::free(frame);
        }
        count
    }

    /// Sets the permissions of every mapped page of `[start, end)` (page aligned): `None` makes them
    /// inaccessible to EL0 (PROT_NONE) while keeping their contents. Invalidates their translations on every
    /// core before returning, so that a narrowed permission holds from then on.
    pub fn protect_range(
        &self,
        start: usize,
        end: usize,
        permissions: Option<UserPermissions>,
    ) -> Result<(), MemoryError> {
        if permissions.is_some_and(|permissions| permissions.writable && permissions.executable) {
            return Err(MemoryError::WritableAndExecutable);
        }
        let _tables = self.tables.lock();
        let mut changed = false;
        for_each_present_page(self.root_phys, start, end.min(USER_VA_END), |table, index, entry, _| {
            let descriptor = page_descriptor((entry & ADDRESS_MASK) as usize, permissions);
            if descriptor != entry {
                write_entry(table, index, descriptor);
                changed = true;
            }
        });
        if changed {
            self.invalidate_pages(start, (end - start) / PAGE_SIZE);
        }
        Ok(())
    }

    /// Moves the pages of `[source, source + length)` to `[destination, destination + length)` (page aligned,
    /// not overlapping; nothing may be mapped at the destination): the frames move, their contents are not
    /// copied (mremap). All or nothing: the tables the destination needs are made first (OutOfMemory then
    /// changes nothing that is mapped).
    pub fn move_range(&self, source: usize, destination: usize, length: usize) -> Result<(), MemoryError> {
        let source_end = source.checked_add(length).filter(|&end| end <= USER_VA_END).ok_or(MemoryError::BadAddress)?;
        if destination.checked_add(length).is_none_or(|end| end > USER_VA_END) {
            return Err(MemoryError::BadAddress);
        }
        let mut tables = self.tables.lock();
        if self.user_pages_released.load(Ordering::Relaxed) {
            return Err(MemoryError::BadAddress);
        }
        let mut present = Vec::new();
        for_each_present_page(self.root_phys, source, source_end, |_, _, _, address| present.push(address));
        for &address in &present {
            self.leaf(Some(&mut *tables), address - source + destination)?;
        }
        for &address in &present {
            let (from_table, from_index) = self.leaf(None, address)?.expect("present");
            let (to_table, to_index) = self.leaf(None, address - source + destination)?.expect("made above");
            let entry = read_entry(from_table, from_index);
            write_entry(from_table, from_index, 0);
            write_entry(to_table, to_index, entry);
        }
        if !present.is_empty() {
            // The old addresses must stop translating before the program can write through the new ones; the
            // new entries replace invalid ones, which no TLB holds.
            self.invalidate_pages(source, length / PAGE_SIZE);
        }
        Ok(())
    }

    /// Invalidates the translations of `pages` pages from `start` tagged with this address space's ASID on
    /// every core and waits for it: one `tlbi vale1is` per page for a few pages, the whole ASID for more.
    fn invalidate_pages(&self, start: usize, pages: usize) {
        let asid = self.asid.load(Ordering::Relaxed);
        if pages > PAGES_INVALIDATED_ONE_BY_ONE {
            invalidate_asid_on_every_core(asid);
        } else {
            invalidate_pages_on_every_core(asid, start, pages);
        }
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
            // Under the lock: the frame cannot be unmapped and freed between the walk and the copy.
            let _tables = self.tables.lock();
            let physical = self.translate(address, require_writable).ok_or(MemoryError::BadAddress)?;
            // SAFETY: `translate` checked that the page is a user page of this address space (writable when
            // asked), whose frame it owns and which the linear map covers; the lock keeps it mapped until the
            // copy is done; the chunk stays inside that page.
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
            // Under the lock: the frame cannot be unmapped and freed between the walk and the copy.
            let _tables = self.tables.lock();
            let physical = self.translate(address, false).ok_or(MemoryError::BadAddress)?;
            // SAFETY: `translate` checked the page is user-readable in this address space, and the lock keeps it
            // mapped until the copy is done; the chunk stays inside it; `buffer` is a distinct kernel buffer.
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
        // Held through the stores: no page of the range can be unmapped or narrowed between the check and them.
        let _tables = self.tables.lock();
        self.check_range(destination, data.len(), true)?;
        for (offset, &byte) in data.iter().enumerate() {
            // SAFETY: `sttrb` stores one byte with EL0 permissions through the current TTBR0, which holds this
            // address space (checked above); `check_range` verified the page is mapped user-writable, and the
            // lock keeps it so (unmapping and narrowing take it), so the store cannot fault.
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
        // Under the lock, as the copies: a sibling thread's munmap cannot free the frame between the walk and the
        // atomic access (nothing that holds `tables` takes a futex bucket, run-queue or task lock, so taking it
        // inside those is deadlock-free).
        let _tables = self.tables.lock();
        let physical = self.translate(address, write).ok_or(MemoryError::BadAddress)?;
        // SAFETY: `translate` checked that the page is a user page of this address space (writable when asked),
        // whose frame it owns (the table lock held above keeps it mapped until `operation` returns) and which
        // the linear map covers as normal cacheable memory, the same attributes
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

    /// Frames owned by this address space: its tables and its mapped pages.
    pub fn owned_frames(&self) -> usize {
        let tables = self.tables.lock();
        tables.table_frames.len() + tables.mapped_pages
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
            let mut released = Vec::with_capacity(tables.mapped_pages + tables.table_frames.len());
            for_each_present_page(self.root_phys, 0, USER_VA_END, |_, _, entry, _| {
                released.push((entry & ADDRESS_MASK) as usize)
            });
            for index in 0..512 {
                if read_entry(self.root_phys, index) & DESCRIPTOR_VALID != 0 {
                    write_entry(self.root_phys, index, 0);
                }
            }
            invalidate_asid_on_every_core(self.asid.load(Ordering::Relaxed));
            let root = self.root_phys;
            let tables_below_root = core::mem::replace(&mut *tables, Tables::with_root(root)).table_frames;
            released.extend(tables_below_root.into_iter().filter(|&frame| frame != root));
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
        let remaining = core::mem::take(&mut self.tables.lock().table_frames);
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
        let mut pages = Vec::new();
        if !self.user_pages_released.load(Ordering::Relaxed) && !self.tables.get_mut().table_frames.is_empty() {
            for_each_present_page(self.root_phys, 0, USER_VA_END, |_, _, entry, _| {
                pages.push((entry & ADDRESS_MASK) as usize)
            });
        }
        let tables = self.tables.get_mut();
        for frame in pages.into_iter().chain(tables.table_frames.drain(..)) {
            frames::free(frame);
        }
        tables.mapped_pages = 0;
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

/// Above this many pages, a range is invalidated with one `tlbi aside1is` rather than page by page (Linux's
/// arm64 uses a similar cut-off, `MAX_DVM_OPS`).
const PAGES_INVALIDATED_ONE_BY_ONE: usize = 32;

/// Invalidates the last-level TLB entries of `pages` pages from `start` tagged with the number of `asid`, on
/// every core of the inner-shareable domain, and waits until that is complete.
fn invalidate_pages_on_every_core(asid: u64, start: usize, pages: usize) {
    // SAFETY: `dsb ishst` makes the earlier table writes (cleared or changed entries) visible to every walker
    // before the invalidations, so no walk after them refills an old entry. Not `nomem`: they must stay ordered
    // with the table writes before them.
    unsafe { core::arch::asm!("dsb ishst", options(nostack, preserves_flags)) };
    for page in 0..pages {
        let operand = ((asid & ASID_MASK) << 48) | (((start + page * PAGE_SIZE) >> 12) as u64 & ((1 << 44) - 1));
        // SAFETY: `tlbi vale1is` drops this ASID's cached last-level translation of one user page on every core
        // (the tables stay, so walk-cache entries may too); it is refetched from the tables on demand.
        unsafe {
            core::arch::asm!("tlbi vale1is, {operand}", operand = in(reg) operand, options(nostack, preserves_flags))
        };
    }
    // SAFETY: `dsb ish` waits until every core completed the invalidations (and orders them before the frames
    // are freed and reused, and before the caller returns to a program that relies on a narrowed permission);
    // `isb` resynchronizes this core's context. Not `nomem`, as above.
    unsafe { core::arch::asm!("dsb ish", "isb", options(nostack, preserves_flags)) };
}

/// The descriptor of a level-3 entry mapping `frame` for EL0 with `permissions`, or mapped but inaccessible to
/// EL0 (`None`: PROT_NONE over a populated page; the kernel reaches it only through the linear map).
fn page_descriptor(frame: usize, permissions: Option<UserPermissions>) -> u64 {
    let mut descriptor = frame as u64
        | DESCRIPTOR_VALID
        | DESCRIPTOR_TABLE_OR_PAGE
        | ATTR_NORMAL
        | INNER_SHAREABLE
        | ACCESS_FLAG
        | NOT_GLOBAL
        | PRIVILEGED_EXECUTE_NEVER;
    match permissions {
        Some(permissions) => {
            descriptor |= AP_EL0;
            if !permissions.writable {
                descriptor |= AP_READ_ONLY;
            }
            if !permissions.executable {
                descriptor |= UNPRIVILEGED_EXECUTE_NEVER;
            }
        }
        None => descriptor |= AP_READ_ONLY | UNPRIVILEGED_EXECUTE_NEVER,
    }
    descriptor
}

/// Calls `visit(table, index, entry, address)` for every valid level-3 entry of the table rooted at `root_phys`
/// that maps a page in `[start, end)`, skipping the ranges whose level-1 or level-2 entry is empty (so that a
/// large sparse range, a PROT_NONE reservation, costs its tables, not its pages). The caller holds the lock or
/// owns the tables.
fn for_each_present_page(root_phys: usize, start: usize, end: usize, mut visit: impl FnMut(usize, usize, u64, usize)) {
    const LEVEL1_SPAN: usize = 1 << 30;
    const LEVEL2_SPAN: usize = 1 << 21;
    let mut address = start & !(PAGE_SIZE - 1);
    while address < end {
        let [level1, level2, level3] = table_indices(address);
        let level1_entry = read_entry(root_phys, level1);
        if level1_entry & DESCRIPTOR_VALID == 0 {
            address = (address & !(LEVEL1_SPAN - 1)) + LEVEL1_SPAN;
            continue;
        }
        let level2_table = (level1_entry & ADDRESS_MASK) as usize;
        let level2_entry = read_entry(level2_table, level2);
        if level2_entry & DESCRIPTOR_VALID == 0 {
            address = (address & !(LEVEL2_SPAN - 1)) + LEVEL2_SPAN;
            continue;
        }
        let level3_table = (level2_entry & ADDRESS_MASK) as usize;
        let block_end = ((address & !(LEVEL2_SPAN - 1)) + LEVEL2_SPAN).min(end);
        let mut index = level3;
        while address < block_end {
            let entry = read_entry(level3_table, index);
            if entry & DESCRIPTOR_VALID != 0 {
                visit(level3_table, index, entry, address);
            }
            index += 1;
            address += PAGE_SIZE;
        }
    }
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

    /// Gives an mm whose ASID (`old`, a full value) is of an older generation a number of the current one, and
    /// returns the new full value (also stored in `mm_asid`). Out of line: a switch to an mm that has run in
    /// this generation (the common case) then needs no registers for it in `activate`.
    #[cold]
    #[inline(never)]
    fn assign_in_current_generation(&mut self, mm_asid: &AtomicU64, old: u64) -> u64 {
        let number = match self.take_reserved(old) {
            Some(number) => number,
            None => match self.free_number() {
                Some(number) => number,
                None => {
                    self.rollover();
                    // The mm may itself have been running somewhere: then it keeps its number.
                    match self.take_reserved(old) {
                        Some(number) => number,
                        None => self.free_number().expect("after a rollover only the reserved numbers are used"),
                    }
                }
            },
        };
        self.mark_used(number);
        let asid = (self.generation << ASID_BITS) | number;
        mm_asid.store(asid, Ordering::Relaxed);
        asid
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
        asid = allocator.assign_in_current_generation(mm_asid, asid);
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
