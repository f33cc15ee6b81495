//! Memory calls: brk, mmap, munmap, mprotect, madvise, mremap, mincore. This file checks the arguments in the
//! order Linux does, so that the errno of a bad call is Linux's; the work on the regions and the page table is
//! in vm.rs.
//!
//! Only anonymous memory exists (there are no files to map). MAP_SHARED anonymous memory is treated like
//! MAP_PRIVATE: without fork there is no second process to share it with, and every thread of the process
//! already sees the same pages.

use abi::mmap::{
    MADV_COLLAPSE, MADV_DONTNEED, MADV_DONTNEED_LOCKED, MADV_FREE, MADV_NORMAL, MADV_PAGEOUT, MADV_POPULATE_READ,
    MADV_POPULATE_WRITE, MADV_REMOVE, MAP_ANONYMOUS, MAP_FIXED, MAP_FIXED_NOREPLACE, MAP_HUGETLB, MAP_NORESERVE,
    MAP_POPULATE, MAP_PRIVATE, MAP_SHARED, MAP_SHARED_VALIDATE, MAP_TYPE, MREMAP_DONTUNMAP, MREMAP_FIXED,
    MREMAP_MAYMOVE, PROT_BTI, PROT_EXEC, PROT_GROWSDOWN, PROT_GROWSUP, PROT_MTE, PROT_READ, PROT_SEM, PROT_WRITE,
};
use abi::Errno;

use super::fd::caller;
use super::UserSlice;
use crate::vm::{self, Advice, MmapRequest};

/// The unit of mappings.
const PAGE_SIZE: u64 = 4096;

/// `brk(address)`: the new break, or the current one (for 0, or when the change is refused: Linux's brk never
/// returns an errno).
pub fn brk(address: u64) -> Result<usize, Errno> {
    vm::brk(address as usize)
}

/// `mmap(address, length, protection, flags, fd, offset)`.
pub fn mmap(address: u64, length: u64, protection: u64, flags: u64, fd: u64, offset: u64) -> Result<usize, Errno> {
    let (protection, flags) = (protection as u32, flags as u32);
    // arm64's sys_mmap checks the offset first, then ksys_mmap_pgoff the descriptor.
    if !offset.is_multiple_of(PAGE_SIZE) {
        return Err(Errno::EINVAL);
    }
    let anonymous = flags & MAP_ANONYMOUS != 0;
    if !anonymous {
        // Every open descriptor is the console, a character device without mmap (Linux's ENODEV).
        caller()?.files.lock().get(fd)?;
    }
    if length == 0 {
        return Err(Errno::EINVAL);
    }
    match flags & MAP_TYPE {
        MAP_SHARED | MAP_SHARED_VALIDATE | MAP_PRIVATE => {}
        _ => return Err(Errno::EINVAL),
    }
    if !anonymous {
        return Err(Errno::ENODEV);
    }
    if flags & MAP_HUGETLB != 0 {
        // No huge pages are reserved (Linux's default `nr_hugepages` of 0 gives the same).
        return Err(Errno::ENOMEM);
    }
    vm::mmap_anonymous(MmapRequest {
        address: address as usize,
        length: length as usize,
        protection,
        fixed: flags & (MAP_FIXED | MAP_FIXED_NOREPLACE) != 0,
        no_replace: flags & MAP_FIXED_NOREPLACE != 0,
        populate: flags & MAP_POPULATE != 0,
        no_reserve: flags & MAP_NORESERVE != 0,
    })
}

/// `munmap(address, length)`.
pub fn munmap(address: u64, length: u64) -> Result<usize, Errno> {
    vm::munmap(address as usize, length as usize)
}

/// `mprotect(address, length, protection)`: EINVAL for a misaligned address or unknown protection bits.
pub fn mprotect(address: u64, length: u64, protection: u64) -> Result<usize, Errno> {
    let known = PROT_READ | PROT_WRITE | PROT_EXEC | PROT_SEM | PROT_BTI | PROT_MTE | PROT_GROWSDOWN | PROT_GROWSUP;
    let grows_both = PROT_GROWSDOWN | PROT_GROWSUP;
    if protection & !u64::from(known) != 0 || protection & u64::from(grows_both) == u64::from(grows_both) {
        return Err(Errno::EINVAL);
    }
    if !address.is_multiple_of(PAGE_SIZE) {
        return Err(Errno::EINVAL);
    }
    vm::mprotect(address as usize, length as usize, protection as u32)
}

/// `madvise(address, length, advice)`: EINVAL for advice Linux does not know (or that needs a shared mapping,
/// MADV_REMOVE) and for a misaligned address.
pub fn madvise(address: u64, length: u64, advice: u64) -> Result<usize, Errno> {
    let advice = match u32::try_from(advice).map_err(|_| Errno::EINVAL)? {
        MADV_DONTNEED | MADV_FREE | MADV_DONTNEED_LOCKED => Advice::Drop,
        MADV_POPULATE_READ => Advice::Populate { write: false },
        MADV_POPULATE_WRITE => Advice::Populate { write: true },
        MADV_REMOVE => return Err(Errno::EINVAL),
        // NORMAL, RANDOM, SEQUENTIAL, WILLNEED; the fork, merge, huge-page, dump, wipe, cold and pageout hints;
        // COLLAPSE.
        MADV_NORMAL..MADV_DONTNEED | 10..=MADV_PAGEOUT | MADV_COLLAPSE => Advice::Ignore,
        _ => return Err(Errno::EINVAL),
    };
    if !address.is_multiple_of(PAGE_SIZE) {
        return Err(Errno::EINVAL);
    }
    vm::madvise(address as usize, length as usize, advice)
}

/// `mremap(old, old_length, new_length, flags, new_address)`.
pub fn mremap(old: u64, old_length: u64, new_length: u64, flags: u64, new_address: u64) -> Result<usize, Errno> {
    let known = u64::from(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP);
    let may_move = flags & u64::from(MREMAP_MAYMOVE) != 0;
    let fixed = flags & u64::from(MREMAP_FIXED) != 0;
    let keep_old = flags & u64::from(MREMAP_DONTUNMAP) != 0;
    if flags & !known != 0 || (fixed && !may_move) || (keep_old && (!may_move || old_length != new_length)) {
        return Err(Errno::EINVAL);
    }
    if !old.is_multiple_of(PAGE_SIZE) || (fixed && !new_address.is_multiple_of(PAGE_SIZE)) {
        return Err(Errno::EINVAL);
    }
    let fixed_address = fixed.then_some(new_address as usize);
    vm::mremap(old as usize, old_length as usize, new_length as usize, may_move, fixed_address, keep_old)
}

/// `mincore(address, length, vector)`: one byte per page, 1 if the page is present.
pub fn mincore(address: u64, length: u64, vector: UserSlice) -> Result<usize, Errno> {
    if !address.is_multiple_of(PAGE_SIZE) {
        return Err(Errno::EINVAL);
    }
    if length == 0 {
        return Ok(0);
    }
    let present = vm::mincore(address as usize, length as usize)?;
    vector.write(&present)?;
    Ok(0)
}
