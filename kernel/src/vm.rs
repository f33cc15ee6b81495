//! A process's memory map: the regions (Linux's VMAs) of its address space, page faults, and the operations of
//! the memory system calls (brk, mmap, munmap, mprotect, madvise, mremap) on them.
//!
//! A region says what may be mapped where (start, end, protection, kind); the page table says what is mapped.
//! Pages are allocated on first touch: a translation fault inside a region whose protection allows the access
//! maps a zeroed frame and the program resumes, so a reservation (PROT_NONE, or memory never touched) takes no
//! frames. Everything else an access can hit (no region, or one whose protection forbids the access) kills the
//! process as before. The page table is reached only through the arch's `UserAddressSpace` (map one page, unmap
//! / protect / move a range, each with the TLB invalidation on every core it needs).
//!
//! One lock per process (`Process::memory`) serializes the map and every change to the page table made for it:
//! two threads that fault on the same page find it mapped by the first, and no fault can map into a range that
//! munmap is removing. The arch's own lock (taken inside, after this one) serializes the tables against the
//! kernel's copies to and from user memory.

use alloc::collections::BTreeMap;
use alloc::sync::Arc;

use abi::mmap::{PROT_EXEC, PROT_READ, PROT_WRITE};
use abi::Errno;
use arch_arm64::exceptions::{Access, FaultKind};
use arch_arm64::layout::PAGE_SIZE;
use arch_arm64::mmu::{MemoryError, UserAddressSpace, UserPermissions, USER_VA_END};
use arch_arm64::Arm64;
use core_sched::Mm;

use crate::process::{self, Process, SCHED};

/// The lowest address a mapping may have (Linux's default `vm.mmap_min_addr`): page 0 stays unmapped so that
/// a NULL dereference faults.
pub const MMAP_MIN_ADDRESS: usize = 4096;

/// The gap kept free below the main thread's stack region when placing mappings (Linux's `stack_guard_gap`,
/// 256 pages): a stack overflow runs into it and faults instead of into another mapping.
pub const STACK_GUARD_GAP: usize = 256 * PAGE_SIZE;

/// What a region is for (Linux shows the same distinction in `/proc/PID/maps`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegionKind {
    /// A PT_LOAD segment of the program (mapped by the loader).
    ElfSegment,
    /// The program break's heap (brk).
    Heap,
    /// The main thread's stack.
    Stack,
    /// An anonymous mapping (mmap).
    Anonymous,
}

/// One region: `[start, end)` (the map's key is `start`), page aligned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Region {
    end: usize,
    /// PROT_READ | PROT_WRITE | PROT_EXEC bits.
    protection: u32,
    kind: RegionKind,
}

/// How a page of a region with `protection` is mapped: `None` for no access (PROT_NONE). On arm64 a writable
/// or executable page is also readable, as in Linux.
fn permissions(protection: u32) -> Option<UserPermissions> {
    (protection & (PROT_READ | PROT_WRITE | PROT_EXEC) != 0)
        .then_some(UserPermissions { writable: protection & PROT_WRITE != 0, executable: protection & PROT_EXEC != 0 })
}

/// Whether `protection` allows `access`.
fn allows(protection: u32, access: Access) -> bool {
    match access {
        Access::Read => protection & (PROT_READ | PROT_WRITE | PROT_EXEC) != 0,
        Access::Write => protection & PROT_WRITE != 0,
        Access::Execute => protection & PROT_EXEC != 0,
    }
}

/// `length` rounded up to whole pages; `None` when that overflows.
pub fn page_round_up(length: usize) -> Option<usize> {
    length.checked_add(PAGE_SIZE - 1).map(|length| length & !(PAGE_SIZE - 1))
}

/// Why a page could not be provided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PopulateError {
    /// No region there, or its protection forbids the access.
    NotAllowed,
    /// No free page frame.
    OutOfMemory,
}

/// The regions of one address space, its program break, and where its main stack is.
#[derive(Debug, Default)]
pub struct MemoryMap {
    regions: BTreeMap<usize, Region>,
    /// The initial break: the page-aligned end of the highest PT_LOAD segment.
    heap_start: usize,
    /// The current break (brk's value; the heap region ends at it, rounded up to a page).
    program_break: usize,
    /// The main thread's stack region, `[stack_start, stack_end)`; mappings are placed below
    /// `stack_start - STACK_GUARD_GAP`.
    stack_start: usize,
    stack_end: usize,
}

impl MemoryMap {
    // --- The regions alone (no page table) ---

    /// The region holding `address`.
    fn find(&self, address: usize) -> Option<(usize, Region)> {
        let (&start, &region) = self.regions.range(..=address).next_back()?;
        (address < region.end).then_some((start, region))
    }

    /// Whether no region overlaps `[start, end)`.
    fn is_free(&self, start: usize, end: usize) -> bool {
        self.regions.range(..end).next_back().is_none_or(|(_, region)| region.end <= start)
    }

    /// Whether regions cover every page of `[start, end)`.
    fn is_covered(&self, start: usize, end: usize) -> bool {
        let mut cursor = start;
        while cursor < end {
            match self.find(cursor) {
                Some((_, region)) => cursor = region.end,
                None => return false,
            }
        }
        true
    }

    /// Splits the region holding `address` (if any) in two at `address`.
    fn split_at(&mut self, address: usize) {
        if let Some((start, region)) = self.find(address) {
            if start != address {
                self.regions.insert(start, Region { end: address, ..region });
                self.regions.insert(address, region);
            }
        }
    }

    /// Merges the region ending at `address` with the one starting there when they are alike (as Linux merges
    /// VMAs), so that a mapping grown or re-protected piece by piece is again one region for mremap.
    fn merge_at(&mut self, address: usize) {
        let Some(&after) = self.regions.get(&address) else { return };
        let Some((before_start, before)) = address.checked_sub(1).and_then(|last| self.find(last)) else { return };
        if before.end == address && before.protection == after.protection && before.kind == after.kind {
            self.regions.remove(&address);
            self.regions.insert(before_start, Region { end: after.end, ..before });
        }
    }

    /// Removes `[start, end)` from the regions, splitting those that straddle its ends.
    fn remove_regions(&mut self, start: usize, end: usize) {
        self.split_at(start);
        self.split_at(end);
        let inside: alloc::vec::Vec<usize> = self.regions.range(start..end).map(|(&start, _)| start).collect();
        for region_start in inside {
            self.regions.remove(&region_start);
        }
    }

    /// Adds a region over free space `[start, end)`, merged with alike neighbours.
    fn add_region(&mut self, start: usize, end: usize, protection: u32, kind: RegionKind) {
        if start >= end {
            return;
        }
        debug_assert!(self.is_free(start, end), "a region over another one");
        self.regions.insert(start, Region { end, protection: protection & (PROT_READ | PROT_WRITE | PROT_EXEC), kind });
        self.merge_at(start);
        self.merge_at(end);
    }

    /// Sets the protection of `[start, end)`, which regions cover.
    fn protect_regions(&mut self, start: usize, end: usize, protection: u32) {
        self.split_at(start);
        self.split_at(end);
        for (_, region) in self.regions.range_mut(start..end) {
            region.protection = protection & (PROT_READ | PROT_WRITE | PROT_EXEC);
        }
        let starts: alloc::vec::Vec<usize> = self.regions.range(start..=end).map(|(&start, _)| start).collect();
        for region_start in starts {
            self.merge_at(region_start);
        }
    }

    /// The highest free range of `length` bytes ending at or below `ceiling` (top-down placement, as Linux's
    /// default mmap layout).
    fn free_area_below(&self, length: usize, ceiling: usize) -> Option<usize> {
        let mut gap_end = ceiling;
        for (&start, region) in self.regions.range(..ceiling).rev() {
            if region.end < gap_end && gap_end - region.end >= length {
                return Some(gap_end - length);
            }
            gap_end = gap_end.min(start);
        }
        (gap_end >= MMAP_MIN_ADDRESS + length).then(|| gap_end - length)
    }

    /// Where mappings go by default: below the main stack and its guard gap.
    fn mmap_ceiling(&self) -> usize {
        self.stack_start.saturating_sub(STACK_GUARD_GAP)
    }

    /// Whether `[start, end)` is free and a placement the kernel may choose there (a hint, a heap or mremap
    /// growth): inside the user range, and not in the stack's guard gap.
    fn may_place(&self, start: usize, end: usize) -> bool {
        start >= MMAP_MIN_ADDRESS
            && end <= USER_VA_END
            && (end <= self.mmap_ceiling() || start >= self.stack_end)
            && self.is_free(start, end)
    }

    // --- Building the map of a new program (the loader) ---

    /// Registers a PT_LOAD segment the loader mapped over `[start, start + length)` (any alignment). A page
    /// that two segments share becomes a region of its own with both protections, as the loader mapped it.
    pub fn add_elf_segment(&mut self, start: usize, length: usize, protection: u32) {
        let first = start & !(PAGE_SIZE - 1);
        let Some(end) = start.checked_add(length).and_then(page_round_up) else { return };
        let mut cursor = first;
        while cursor < end {
            if let Some((_, region)) = self.find(cursor) {
                let overlap_end = region.end.min(end);
                self.protect_regions(cursor, overlap_end, region.protection | protection);
                cursor = overlap_end;
            } else {
                let next = self.regions.range(cursor..).next().map_or(end, |(&next, _)| next.min(end));
                self.add_region(cursor, next, protection, RegionKind::ElfSegment);
                cursor = next;
            }
        }
    }

    /// Sets the initial program break (the end of the highest segment, rounded up to a page).
    pub fn set_heap_start(&mut self, address: usize) {
        let start = page_round_up(address).unwrap_or(address);
        self.heap_start = start;
        self.program_break = start;
    }

    /// Registers the main thread's stack, `[start, end)`, read-write and populated on demand.
    pub fn add_stack(&mut self, start: usize, end: usize) {
        self.add_region(start, end, PROT_READ | PROT_WRITE, RegionKind::Stack);
        self.stack_start = start;
        self.stack_end = end;
    }

    // --- With the page table ---

    /// Makes the page holding `address` present for `access` if a region allows that (mapping a zeroed frame
    /// on first touch; a page already there is left as it is).
    fn populate_page(&self, space: &UserAddressSpace, address: usize, access: Access) -> Result<(), PopulateError> {
        let (_, region) = self.find(address).ok_or(PopulateError::NotAllowed)?;
        if !allows(region.protection, access) {
            return Err(PopulateError::NotAllowed);
        }
        let permissions = permissions(region.protection).ok_or(PopulateError::NotAllowed)?;
        match space.map_zeroed_page(address & !(PAGE_SIZE - 1), permissions) {
            Ok(_) => Ok(()),
            Err(MemoryError::OutOfMemory) => Err(PopulateError::OutOfMemory),
            Err(_) => Err(PopulateError::NotAllowed),
        }
    }

    /// Populates every accessible page of `[start, end)` (MAP_POPULATE, MADV_POPULATE_*); stops at the first
    /// error.
    fn populate_range(
        &self,
        space: &UserAddressSpace,
        start: usize,
        end: usize,
        access: Access,
    ) -> Result<(), PopulateError> {
        (start..end).step_by(PAGE_SIZE).try_for_each(|page| self.populate_page(space, page, access))
    }

    /// Removes `[start, end)` from the map and frees its pages (munmap, MAP_FIXED's replacement, shrinking).
    fn unmap(&mut self, space: &UserAddressSpace, start: usize, end: usize) {
        self.remove_regions(start, end);
        space.unmap_range(start, end);
    }

    /// Whether `pages` more pages of committed (writable, private) memory can be promised: like Linux's
    /// heuristic overcommit, a single request larger than all of RAM fails at once.
    fn can_commit(pages: usize) -> bool {
        pages <= arch_arm64::frames::total()
    }
}

/// The calling thread's process and address space.
fn current() -> Result<(Arc<Process>, Arc<Mm<Arm64>>), Errno> {
    let process = process::current_process().ok_or(Errno::EFAULT)?;
    let mm = SCHED.current().mm().ok_or(Errno::EFAULT)?;
    Ok((process, mm))
}

/// Runs `body` on the calling process's memory map (locked) and its address space.
fn with_current_map<T>(body: impl FnOnce(&mut MemoryMap, &UserAddressSpace) -> Result<T, Errno>) -> Result<T, Errno> {
    let (process, mm) = current()?;
    let mut map = process.memory.lock();
    body(&mut map, mm.arch())
}

/// What became of a user page fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultResolution {
    /// The page is there now (first touch, or another thread mapped it first): the program resumes.
    Resumed,
    /// No region allows the access: the process is killed (SIGSEGV).
    Invalid,
    /// The page is allowed but no frame is free: the process is killed (as by Linux's OOM killer).
    OutOfMemory,
}

/// A translation or permission fault of the calling thread at `address`: maps a zeroed page on first touch
/// inside a region that allows the access. A permission fault on a page that allows the access by now (a
/// concurrent mprotect widened it) resumes too.
pub fn handle_user_page_fault(address: u64, access: Access, kind: FaultKind) -> FaultResolution {
    if !matches!(kind, FaultKind::Translation | FaultKind::Permission) {
        return FaultResolution::Invalid;
    }
    let Ok(address) = usize::try_from(address) else { return FaultResolution::Invalid };
    let resolution = with_current_map(|map, space| {
        Ok(match map.populate_page(space, address, access) {
            Ok(()) => FaultResolution::Resumed,
            Err(PopulateError::NotAllowed) => FaultResolution::Invalid,
            Err(PopulateError::OutOfMemory) => FaultResolution::OutOfMemory,
        })
    });
    resolution.unwrap_or(FaultResolution::Invalid)
}

/// Makes `[address, address + length)` present for a kernel copy (`write` for copy_to_user) where regions allow
/// it, as Linux's uaccess faults pages in: EFAULT where no region allows the access, ENOMEM without frames.
pub fn populate_for_kernel_access(address: usize, length: usize, write: bool) -> Result<(), Errno> {
    let end = address.checked_add(length).filter(|&end| end <= USER_VA_END).ok_or(Errno::EFAULT)?;
    let access = if write { Access::Write } else { Access::Read };
    with_current_map(|map, space| {
        map.populate_range(space, address & !(PAGE_SIZE - 1), end, access).map_err(|error| match error {
            PopulateError::NotAllowed => Errno::EFAULT,
            PopulateError::OutOfMemory => Errno::ENOMEM,
        })
    })
}

// --- The system calls' operations, on the calling process ---

/// `brk(address)`: moves the program break and returns the new one, or the old one when `address` is below
/// the initial break, runs into another mapping, or asks for more than memory holds (Linux's brk reports
/// failure only that way). Shrinking frees the pages at once; growing maps nothing until first touch.
pub fn brk(address: usize) -> Result<usize, Errno> {
    with_current_map(|map, space| {
        let old = map.program_break;
        if address < map.heap_start {
            return Ok(old);
        }
        let (Some(old_end), Some(new_end)) = (page_round_up(old), page_round_up(address)) else { return Ok(old) };
        if new_end > old_end {
            // Linux keeps one page free above the heap.
            let fits = new_end.checked_add(PAGE_SIZE).is_some_and(|limit| map.may_place(old_end, limit));
            if !fits || !MemoryMap::can_commit((new_end - old_end) / PAGE_SIZE) {
                return Ok(old);
            }
            map.add_region(old_end, new_end, PROT_READ | PROT_WRITE, RegionKind::Heap);
        } else if new_end < old_end {
            map.unmap(space, new_end, old_end);
        }
        map.program_break = address;
        Ok(address)
    })
}

/// What `mmap` was asked for, once its flags are checked.
#[derive(Clone, Copy, Debug)]
pub struct MmapRequest {
    /// The hint, or with `fixed` the exact address.
    pub address: usize,
    /// Bytes, not yet rounded.
    pub length: usize,
    /// PROT_* bits.
    pub protection: u32,
    /// MAP_FIXED or MAP_FIXED_NOREPLACE.
    pub fixed: bool,
    /// MAP_FIXED_NOREPLACE: EEXIST rather than replacing.
    pub no_replace: bool,
    /// MAP_POPULATE: allocate the pages now.
    pub populate: bool,
    /// MAP_NORESERVE: not counted against memory (reservations for sparse use).
    pub no_reserve: bool,
}

/// `mmap` of anonymous memory, after the flags were checked (syscalls/memory.rs): places the region (exactly
/// with `fixed`, at the hint if it is free, else top-down below the stack) and returns its address.
pub fn mmap_anonymous(request: MmapRequest) -> Result<usize, Errno> {
    let length = page_round_up(request.length).filter(|&length| length > 0).ok_or(Errno::ENOMEM)?;
    if length > USER_VA_END - MMAP_MIN_ADDRESS {
        return Err(Errno::ENOMEM);
    }
    if permissions(request.protection).is_some_and(|permissions| permissions.writable && permissions.executable) {
        return Err(Errno::EACCES);
    }
    let committed = request.protection & PROT_WRITE != 0 && !request.no_reserve;
    if committed && !MemoryMap::can_commit(length / PAGE_SIZE) {
        return Err(Errno::ENOMEM);
    }
    with_current_map(|map, space| {
        let start = if request.fixed {
            if !request.address.is_multiple_of(PAGE_SIZE) {
                return Err(Errno::EINVAL);
            }
            if request.address > USER_VA_END - length {
                return Err(Errno::ENOMEM);
            }
            if request.address < MMAP_MIN_ADDRESS {
                return Err(Errno::EPERM);
            }
            let end = request.address + length;
            if !map.is_free(request.address, end) {
                if request.no_replace {
                    return Err(Errno::EEXIST);
                }
                map.unmap(space, request.address, end);
            }
            request.address
        } else {
            let hint = page_round_up(request.address).unwrap_or(0);
            if hint != 0 && hint.checked_add(length).is_some_and(|end| map.may_place(hint, end)) {
                hint
            } else {
                map.free_area_below(length, map.mmap_ceiling()).ok_or(Errno::ENOMEM)?
            }
        };
        map.add_region(start, start + length, request.protection, RegionKind::Anonymous);
        if request.populate {
            // Like Linux's mm_populate, a failure here is not the call's: the rest stays on demand.
            let _populated = map.populate_range(space, start, start + length, Access::Read);
        }
        Ok(start)
    })
}

/// `munmap(address, length)`: EINVAL for a misaligned address, a zero length or a range outside user space;
/// unmapping what is not mapped is no error (holes are allowed).
pub fn munmap(address: usize, length: usize) -> Result<usize, Errno> {
    let length = page_round_up(length).ok_or(Errno::EINVAL)?;
    if !address.is_multiple_of(PAGE_SIZE) || length == 0 || length > USER_VA_END || address > USER_VA_END - length {
        return Err(Errno::EINVAL);
    }
    with_current_map(|map, space| {
        map.unmap(space, address, address + length);
        Ok(0)
    })
}

/// `mprotect(address, length, protection)` over whole regions or parts of them (split as needed): ENOMEM when
/// part of the range is not mapped; EACCES for writable and executable at once (this kernel keeps W^X).
pub fn mprotect(address: usize, length: usize, protection: u32) -> Result<usize, Errno> {
    let length = page_round_up(length).ok_or(Errno::ENOMEM)?;
    if length == 0 {
        return Ok(0);
    }
    let end = address.checked_add(length).filter(|&end| end <= USER_VA_END).ok_or(Errno::ENOMEM)?;
    if protection & PROT_WRITE != 0 && protection & PROT_EXEC != 0 {
        return Err(Errno::EACCES);
    }
    with_current_map(|map, space| {
        if !map.is_covered(address, end) {
            return Err(Errno::ENOMEM);
        }
        space.protect_range(address, end, permissions(protection)).map_err(|_| Errno::EACCES)?;
        map.protect_regions(address, end, protection);
        if protection & PROT_EXEC != 0 {
            // Code the program wrote (read-write, then read-execute: a JIT under W^X) must reach instruction
            // fetch, which is not coherent with data stores on every core (Cortex-A72), as Linux's
            // `__sync_icache_dcache` does when it maps an executable page.
            for page in (address..end).step_by(PAGE_SIZE).filter(|&page| space.is_page_present(page)) {
                space.sync_instruction_cache(page, PAGE_SIZE).map_err(|_| Errno::EFAULT)?;
            }
        }
        Ok(0)
    })
}

/// What `madvise` does with a range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Advice {
    /// MADV_DONTNEED, MADV_FREE, MADV_DONTNEED_LOCKED: drop the pages; they read back as zeros.
    Drop,
    /// MADV_POPULATE_READ / MADV_POPULATE_WRITE: fault the pages in now.
    Populate {
        /// For writing (POPULATE_WRITE).
        write: bool,
    },
    /// Every other known advice: a hint this kernel has no use for.
    Ignore,
}

/// `madvise(address, length, advice)` on a range already checked for alignment: ENOMEM when part of it is not
/// mapped (after applying the advice to the mapped parts, as Linux).
pub fn madvise(address: usize, length: usize, advice: Advice) -> Result<usize, Errno> {
    let length = page_round_up(length).ok_or(Errno::EINVAL)?;
    let end = address.checked_add(length).filter(|&end| end <= USER_VA_END).ok_or(Errno::EINVAL)?;
    if length == 0 {
        return Ok(0);
    }
    with_current_map(|map, space| {
        let covered = map.is_covered(address, end);
        match advice {
            Advice::Drop => {
                space.unmap_range(address, end);
            }
            Advice::Populate { write } => {
                let access = if write { Access::Write } else { Access::Read };
                match map.populate_range(space, address, end, access) {
                    Ok(()) => {}
                    Err(PopulateError::OutOfMemory) => return Err(Errno::ENOMEM),
                    Err(PopulateError::NotAllowed) if covered => return Err(Errno::EFAULT),
                    Err(PopulateError::NotAllowed) => {}
                }
            }
            Advice::Ignore => {}
        }
        if covered {
            Ok(0)
        } else {
            Err(Errno::ENOMEM)
        }
    })
}

/// `mremap(old, old_length, new_length, flags, new_address)` with the flags checked: shrinks in place, grows in
/// place when the pages after the region are free, otherwise moves (with `may_move`, or to exactly
/// `fixed_address`) by moving the page-table entries, not the contents. `keep_old` (MREMAP_DONTUNMAP) leaves
/// the old range mapped, empty.
pub fn mremap(
    old: usize,
    old_length: usize,
    new_length: usize,
    may_move: bool,
    fixed_address: Option<usize>,
    keep_old: bool,
) -> Result<usize, Errno> {
    let old_length = page_round_up(old_length).ok_or(Errno::EINVAL)?;
    let new_length = page_round_up(new_length).filter(|&length| length > 0).ok_or(Errno::EINVAL)?;
    let old_end = old.checked_add(old_length).filter(|&end| end <= USER_VA_END).ok_or(Errno::EINVAL)?;
    with_current_map(|map, space| {
        let (_, region) = map.find(old).ok_or(Errno::EFAULT)?;
        if old_end > region.end {
            return Err(Errno::EFAULT);
        }
        // Private anonymous memory has no second mapping to make of it (Linux allows old_length 0 only for
        // shared mappings).
        if old_length == 0 {
            return Err(Errno::EINVAL);
        }
        if let Some(destination) = fixed_address {
            let destination_end =
                destination.checked_add(new_length).filter(|&end| end <= USER_VA_END).ok_or(Errno::EINVAL)?;
            if destination < old_end && old < destination_end {
                return Err(Errno::EINVAL);
            }
            map.unmap(space, destination, destination_end);
            return move_region(map, space, old, old_length, destination, new_length, region, keep_old);
        }
        if !keep_old && new_length <= old_length {
            map.unmap(space, old + new_length, old_end);
            return Ok(old);
        }
        let grown_end = old.checked_add(new_length).ok_or(Errno::ENOMEM)?;
        let committed = region.protection & PROT_WRITE != 0;
        if committed && !MemoryMap::can_commit((new_length - old_length) / PAGE_SIZE) {
            return Err(Errno::ENOMEM);
        }
        if !keep_old && old_end == region.end && map.may_place(old_end, grown_end) {
            map.add_region(old_end, grown_end, region.protection, region.kind);
            return Ok(old);
        }
        if !may_move {
            return Err(Errno::ENOMEM);
        }
        let destination = map.free_area_below(new_length, map.mmap_ceiling()).ok_or(Errno::ENOMEM)?;
        move_region(map, space, old, old_length, destination, new_length, region, keep_old)
    })
}

/// Moves the pages of `[old, old + old_length)` (inside `region`) to `destination`, whose range of
/// `new_length` is free, and the region with them; the part beyond `old_length` is new, empty memory.
#[allow(clippy::too_many_arguments, reason = "mremap's own arguments, checked and unpacked by the caller")]
fn move_region(
    map: &mut MemoryMap,
    space: &UserAddressSpace,
    old: usize,
    old_length: usize,
    destination: usize,
    new_length: usize,
    region: Region,
    keep_old: bool,
) -> Result<usize, Errno> {
    let moved = old_length.min(new_length);
    // Pages past the new length go first; what remains moves whole.
    map.unmap(space, old + moved, old + old_length);
    space.move_range(old, destination, moved).map_err(|_| Errno::ENOMEM)?;
    map.remove_regions(old, old + old_length);
    if keep_old {
        map.add_region(old, old + old_length, region.protection, region.kind);
    }
    map.add_region(destination, destination + new_length, region.protection, region.kind);
    Ok(destination)
}

/// `mincore(address, length, vector)`'s answer: one byte per page, 1 when it is present; ENOMEM when part of
/// the range is not mapped.
pub fn mincore(address: usize, length: usize) -> Result<alloc::vec::Vec<u8>, Errno> {
    let length = page_round_up(length).ok_or(Errno::ENOMEM)?;
    let end = address.checked_add(length).filter(|&end| end <= USER_VA_END).ok_or(Errno::ENOMEM)?;
    with_current_map(|map, space| {
        if !map.is_covered(address, end) {
            return Err(Errno::ENOMEM);
        }
        Ok((address..end).step_by(PAGE_SIZE).map(|page| u8::from(space.is_page_present(page))).collect())
    })
}
