//! Typed user pointers. A system call's pointer argument becomes a [`UserPtr<T>`] or a [`UserSlice`] at the
//! dispatcher, and the only way to its memory is the checked copy through the calling process's address space:
//! a pointer that is not mapped for the access (or points into the kernel) is EFAULT.

use alloc::vec::Vec;
use core::marker::PhantomData;

use abi::{ByteArray, Errno, UserBytes};
use arch_arm64::mmu::MemoryError;
use arch_arm64::Arm64;
use core_sched::Mm;

use crate::process::SCHED;

/// The address space of the calling thread (every system call comes from a user thread, which has one).
fn current_mm() -> Result<alloc::sync::Arc<Mm<Arm64>>, Errno> {
    SCHED.current().mm().ok_or(Errno::EFAULT)
}

fn memory_errno(error: MemoryError) -> Errno {
    match error {
        MemoryError::BadAddress => Errno::EFAULT,
        MemoryError::OutOfMemory => Errno::ENOMEM,
        MemoryError::WritableAndExecutable => Errno::EINVAL,
    }
}

/// Linux's arm64 `TASK_SIZE` (48-bit user addresses): what `access_ok` compares against.
const USER_ADDRESS_LIMIT: usize = 1 << 48;

/// A zero-length access touches nothing, so Linux accepts any user address for it (`write(fd, p, 0)` is 0
/// even for a dangling `p`), but still rejects a kernel one.
fn empty_access(address: usize, length: usize) -> Option<Result<(), Errno>> {
    (length == 0).then_some(if address < USER_ADDRESS_LIMIT { Ok(()) } else { Err(Errno::EFAULT) })
}

fn copy_from_user(address: usize, buffer: &mut [u8]) -> Result<(), Errno> {
    if let Some(result) = empty_access(address, buffer.len()) {
        return result;
    }
    let mm = current_mm()?;
    match mm.arch().copy_from_user(address, buffer) {
        // Not yet touched (demand paging): fault the pages in where a region allows it, as Linux's uaccess does.
        Err(MemoryError::BadAddress) => {
            crate::vm::populate_for_kernel_access(address, buffer.len(), false)?;
            mm.arch().copy_from_user(address, buffer).map_err(memory_errno)
        }
        result => result.map_err(memory_errno),
    }
}

fn copy_to_user(address: usize, bytes: &[u8]) -> Result<(), Errno> {
    if let Some(result) = empty_access(address, bytes.len()) {
        return result;
    }
    let mm = current_mm()?;
    match mm.arch().copy_to_user(address, bytes) {
        // As in `copy_from_user`.
        Err(MemoryError::BadAddress) => {
            crate::vm::populate_for_kernel_access(address, bytes.len(), true)?;
            mm.arch().copy_to_user(address, bytes).map_err(memory_errno)
        }
        result => result.map_err(memory_errno),
    }
}

/// A pointer to one `T` in the calling process's memory.
#[derive(Debug)]
pub struct UserPtr<T> {
    address: usize,
    target: PhantomData<fn() -> T>,
}

impl<T: UserBytes> UserPtr<T> {
    /// The pointer a system call received; nothing is accessed yet.
    pub fn new(address: u64) -> Self {
        Self { address: address as usize, target: PhantomData }
    }

    /// Whether it is NULL (which some calls take as "no such output").
    pub fn is_null(&self) -> bool {
        self.address == 0
    }

    /// Copies the value in from user memory.
    pub fn read(&self) -> Result<T, Errno> {
        let mut bytes = T::Bytes::zeroed();
        copy_from_user(self.address, bytes.as_mut())?;
        Ok(T::from_bytes(&bytes))
    }

    /// Copies `value` out to user memory.
    pub fn write(&self, value: &T) -> Result<(), Errno> {
        copy_to_user(self.address, value.to_bytes().as_ref())
    }
}

/// `length` bytes at an address in the calling process's memory.
#[derive(Debug)]
pub struct UserSlice {
    address: usize,
    length: usize,
}

impl UserSlice {
    /// The buffer a system call received; nothing is accessed yet.
    pub fn new(address: u64, length: u64) -> Self {
        Self { address: address as usize, length: length as usize }
    }

    /// Its length in bytes.
    pub fn length(&self) -> usize {
        self.length
    }

    /// The part from `offset` on (empty if `offset` is past the end).
    pub fn offset(&self, offset: usize) -> Self {
        let offset = offset.min(self.length);
        Self { address: self.address.wrapping_add(offset), length: self.length - offset }
    }

    /// The first `length` bytes of it (or all of it, if shorter).
    pub fn prefix(&self, length: usize) -> Self {
        Self { address: self.address, length: self.length.min(length) }
    }

    /// Copies the whole buffer in from user memory.
    pub fn read_to_vec(&self) -> Result<Vec<u8>, Errno> {
        let mut bytes = alloc::vec![0u8; self.length];
        copy_from_user(self.address, &mut bytes)?;
        Ok(bytes)
    }

    /// Copies the buffer (at most `buffer.len()` bytes of it) into `buffer`; returns how many bytes.
    pub fn read_into(&self, buffer: &mut [u8]) -> Result<usize, Errno> {
        let length = self.length.min(buffer.len());
        copy_from_user(self.address, &mut buffer[..length])?;
        Ok(length)
    }

    /// Copies `bytes` out to the start of the buffer; EFAULT if they do not fit.
    #[allow(dead_code, reason = "the way out for read-style system calls (read, getrandom), coming with the Linux ABI")]
    pub fn write(&self, bytes: &[u8]) -> Result<(), Errno> {
        if bytes.len() > self.length {
            return Err(Errno::EFAULT);
        }
        copy_to_user(self.address, bytes)
    }
}

/// A NUL-terminated string in the calling process's memory (a path), read up to `PATH_MAX`.
#[derive(Debug)]
pub struct UserCString {
    address: usize,
}

/// Linux's `PATH_MAX`, the NUL included.
const PATH_MAX: usize = 4096;

impl UserCString {
    /// The pointer a system call received; nothing is accessed yet.
    pub fn new(address: u64) -> Self {
        Self { address: address as usize }
    }

    /// Copies the string in (without its NUL): EFAULT if it runs into unmapped memory before its end,
    /// ENAMETOOLONG if it has no NUL within `PATH_MAX` bytes. Copied page by page, so that a string ending just
    /// before an unmapped page is read.
    pub fn read(&self) -> Result<Vec<u8>, Errno> {
        let mut text = Vec::new();
        let mut address = self.address;
        while text.len() < PATH_MAX {
            let to_page_end = PAGE_SIZE - address % PAGE_SIZE;
            let mut chunk = alloc::vec![0u8; to_page_end.min(PATH_MAX - text.len())];
            copy_from_user(address, &mut chunk)?;
            if let Some(end) = chunk.iter().position(|&byte| byte == 0) {
                text.extend_from_slice(&chunk[..end]);
                return Ok(text);
            }
            text.extend_from_slice(&chunk);
            address = address.checked_add(chunk.len()).ok_or(Errno::EFAULT)?;
        }
        Err(Errno::ENAMETOOLONG)
    }
}

/// The unit of user memory mappings.
const PAGE_SIZE: usize = 4096;
