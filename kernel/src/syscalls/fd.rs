//! File-descriptor calls. There are no files yet: descriptors 1 and 2 write to the console.

use abi::Errno;

use super::UserSlice;

/// The most bytes one `write` takes (a partial write, which callers must handle anyway).
const MAX_WRITE: usize = 1 << 16;

/// `write(fd, buffer, length)`: to the console for stdout and stderr.
pub fn write(fd: u64, buffer: UserSlice) -> Result<usize, Errno> {
    if fd != 1 && fd != 2 {
        return Err(Errno::EBADF);
    }
    let bytes = buffer.prefix(MAX_WRITE).read_to_vec()?;
    (crate::console::writer())(&bytes);
    Ok(bytes.len())
}
