//! Per-process file descriptors. There is no file system yet: the only open file is the console, which every
//! process starts with as descriptors 0, 1 and 2 (one open file description, read-write, as a login shell's
//! terminal is), so that `dup`, `fcntl` and `close` behave as on Linux within the table.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, Ordering};

use abi::file::{O_LARGEFILE, O_RDWR, SETFL_MASK};
use abi::Errno;

/// What an open file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// The serial console: writes go to it, reads find end of file.
    Console,
}

/// An open file description: shared by the descriptors `dup` made from one another, with their status flags.
#[derive(Debug)]
pub struct OpenFile {
    pub kind: FileKind,
    /// Access mode and status flags (`F_GETFL`).
    status_flags: AtomicU32,
}

impl OpenFile {
    /// Access mode and status flags.
    pub fn status_flags(&self) -> u32 {
        self.status_flags.load(Ordering::Relaxed)
    }

    /// `F_SETFL`: only the flags Linux lets it change; the access mode stays.
    pub fn set_status_flags(&self, flags: u32) {
        let kept = self.status_flags() & !SETFL_MASK;
        self.status_flags.store(kept | (flags & SETFL_MASK), Ordering::Relaxed);
    }
}

#[derive(Clone, Debug)]
struct Descriptor {
    file: Arc<OpenFile>,
    close_on_exec: bool,
}

/// A process's descriptor table.
#[derive(Debug)]
pub struct FileTable {
    descriptors: Vec<Option<Descriptor>>,
}

impl FileTable {
    /// Descriptors 0, 1 and 2 on one read-write console description.
    pub fn with_console() -> Self {
        // O_LARGEFILE: a 64-bit Linux kernel sets it on every open, so F_GETFL shows it.
        let console =
            Arc::new(OpenFile { kind: FileKind::Console, status_flags: AtomicU32::new(O_RDWR | O_LARGEFILE) });
        let descriptor = Descriptor { file: console, close_on_exec: false };
        Self { descriptors: alloc::vec![Some(descriptor.clone()), Some(descriptor.clone()), Some(descriptor)] }
    }

    fn descriptor(&self, fd: u64) -> Result<&Descriptor, Errno> {
        usize::try_from(fd).ok().and_then(|fd| self.descriptors.get(fd)?.as_ref()).ok_or(Errno::EBADF)
    }

    /// The open file behind `fd`; EBADF when it is not open.
    pub fn get(&self, fd: u64) -> Result<Arc<OpenFile>, Errno> {
        Ok(self.descriptor(fd)?.file.clone())
    }

    /// One more than the highest open descriptor (what `pselect6` clamps `nfds` to, as Linux's fdtable size).
    pub fn end(&self) -> usize {
        self.descriptors.iter().rposition(Option::is_some).map_or(0, |last| last + 1)
    }

    /// `close(fd)`.
    pub fn close(&mut self, fd: u64) -> Result<(), Errno> {
        self.descriptor(fd)?;
        self.descriptors[fd as usize] = None;
        while self.descriptors.last().is_some_and(Option::is_none) {
            self.descriptors.pop();
        }
        Ok(())
    }

    /// The close-on-exec flag of `fd`.
    pub fn close_on_exec(&self, fd: u64) -> Result<bool, Errno> {
        Ok(self.descriptor(fd)?.close_on_exec)
    }

    /// Sets the close-on-exec flag of `fd`.
    pub fn set_close_on_exec(&mut self, fd: u64, close_on_exec: bool) -> Result<(), Errno> {
        self.descriptor(fd)?;
        if let Some(descriptor) = &mut self.descriptors[fd as usize] {
            descriptor.close_on_exec = close_on_exec;
        }
        Ok(())
    }

    /// `dup`/`F_DUPFD`: `fd` again as the lowest free descriptor >= `lowest` and below `limit`
    /// (RLIMIT_NOFILE); EMFILE when there is none.
    pub fn duplicate(&mut self, fd: u64, lowest: usize, close_on_exec: bool, limit: usize) -> Result<usize, Errno> {
        let file = self.get(fd)?;
        let free = (lowest..limit).find(|&candidate| self.descriptors.get(candidate).is_none_or(Option::is_none));
        let new = free.ok_or(Errno::EMFILE)?;
        self.install(new, Descriptor { file, close_on_exec });
        Ok(new)
    }

    /// `dup3`: `fd` again as `new`, closing what `new` was; EBADF when `new` is at or above `limit`.
    pub fn duplicate_to(&mut self, fd: u64, new: u64, close_on_exec: bool, limit: usize) -> Result<usize, Errno> {
        let file = self.get(fd)?;
        let new = usize::try_from(new).ok().filter(|&new| new < limit).ok_or(Errno::EBADF)?;
        self.install(new, Descriptor { file, close_on_exec });
        Ok(new)
    }

    fn install(&mut self, fd: usize, descriptor: Descriptor) {
        if self.descriptors.len() <= fd {
            self.descriptors.resize(fd + 1, None);
        }
        self.descriptors[fd] = Some(descriptor);
    }
}
