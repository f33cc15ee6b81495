//! File-descriptor calls on the per-process table (`files.rs`). There are no files yet: descriptors 0, 1 and 2
//! are the console (writes print, reads find end of file), and path lookups find nothing (ENOENT).

use alloc::sync::Arc;
use alloc::vec::Vec;

use abi::file::{
    AT_EACCESS, AT_EMPTY_PATH, AT_NO_AUTOMOUNT, AT_SYMLINK_NOFOLLOW, FD_CLOEXEC, F_DUPFD, F_DUPFD_CLOEXEC, F_GETFD,
    F_GETFL, F_SETFD, F_SETFL, IOV_MAX, O_CLOEXEC, S_IFCHR,
};
use abi::tty::{
    B115200, CLOCAL, CREAD, CS8, ECHO, ECHOCTL, ECHOE, ECHOK, ECHOKE, HUPCL, ICANON, ICRNL, IEXTEN, INIT_C_CC, ISIG,
    IXON, ONLCR, OPOST, TCGETS, TCSETS, TCSETSF, TCSETSW, TIOCGWINSZ, TIOCSWINSZ,
};
use abi::{Errno, Iovec, Stat, Termios, Winsize};
use arch_arm64::Arm64;
use core_sched::IrqSpinLock;

use super::{UserCString, UserPtr, UserSlice};
use crate::files::{FileKind, OpenFile};
use crate::process::{self, Process};

/// The most bytes one `write` takes (a partial write, which callers must handle anyway).
const MAX_WRITE: usize = 1 << 16;

/// The calling process (every system call comes from a user thread, which has one).
pub(super) fn caller() -> Result<Arc<Process>, Errno> {
    process::current_process().ok_or(Errno::EBADF)
}

/// The open file behind `fd` in the calling process.
fn open_file(fd: u64) -> Result<Arc<OpenFile>, Errno> {
    caller()?.files.lock().get(fd)
}

fn write_to(file: &OpenFile, bytes: &[u8]) -> usize {
    match file.kind {
        FileKind::Console => (crate::console::writer())(bytes),
    }
    bytes.len()
}

/// `write(fd, buffer, length)`.
pub fn write(fd: u64, buffer: UserSlice) -> Result<usize, Errno> {
    let file = open_file(fd)?;
    let bytes = buffer.prefix(MAX_WRITE).read_to_vec()?;
    Ok(write_to(&file, &bytes))
}

/// The buffers of a `readv`/`writev` call: EINVAL for more than IOV_MAX, EFAULT for an unreadable array.
fn io_vectors(vectors: u64, count: u64) -> Result<Vec<Iovec>, Errno> {
    if count > IOV_MAX {
        return Err(Errno::EINVAL);
    }
    let vectors: Vec<Iovec> =
        (0..count).map(|index| UserPtr::<Iovec>::new(vectors + index * 16).read()).collect::<Result<_, _>>()?;
    // Linux rejects a total that does not fit in ssize_t.
    let total = vectors.iter().try_fold(0u64, |sum, vector| sum.checked_add(vector.iov_len));
    if total.is_none_or(|total| total > i64::MAX as u64) {
        return Err(Errno::EINVAL);
    }
    Ok(vectors)
}

/// `writev(fd, vectors, count)`: gathered into one console write, so that the line is not split.
pub fn writev(fd: u64, vectors: u64, count: u64) -> Result<usize, Errno> {
    let file = open_file(fd)?;
    let mut bytes = Vec::new();
    for vector in io_vectors(vectors, count)? {
        let room = MAX_WRITE - bytes.len();
        bytes.extend(UserSlice::new(vector.iov_base, vector.iov_len).prefix(room).read_to_vec()?);
    }
    Ok(write_to(&file, &bytes))
}

/// `read(fd, buffer, length)`: the console has no input wired: end of file.
pub fn read(fd: u64, _buffer: UserSlice) -> Result<usize, Errno> {
    match open_file(fd)?.kind {
        FileKind::Console => Ok(0),
    }
}

/// `readv(fd, vectors, count)`: end of file, after the same argument checks as Linux.
pub fn readv(fd: u64, vectors: u64, count: u64) -> Result<usize, Errno> {
    let file = open_file(fd)?;
    io_vectors(vectors, count)?;
    match file.kind {
        FileKind::Console => Ok(0),
    }
}

/// `close(fd)`.
pub fn close(fd: u64) -> Result<usize, Errno> {
    caller()?.files.lock().close(fd)?;
    Ok(0)
}

/// `dup(fd)`.
pub fn dup(fd: u64) -> Result<usize, Errno> {
    let process = caller()?;
    let limit = process.limits.lock().open_files();
    let duplicate = process.files.lock().duplicate(fd, 0, false, limit);
    duplicate
}

/// `dup3(fd, new, flags)`: EINVAL for flags other than O_CLOEXEC and for `fd == new`.
pub fn dup3(fd: u64, new: u64, flags: u64) -> Result<usize, Errno> {
    if flags & !u64::from(O_CLOEXEC) != 0 || fd == new {
        return Err(Errno::EINVAL);
    }
    let process = caller()?;
    let limit = process.limits.lock().open_files();
    let duplicate = process.files.lock().duplicate_to(fd, new, flags != 0, limit);
    duplicate
}

/// `fcntl(fd, command, argument)`: descriptor duplication and flags.
pub fn fcntl(fd: u64, command: u64, argument: u64) -> Result<usize, Errno> {
    let process = caller()?;
    let limit = process.limits.lock().open_files();
    let mut files = process.files.lock();
    match u32::try_from(command).map_err(|_| Errno::EINVAL)? {
        command @ (F_DUPFD | F_DUPFD_CLOEXEC) => {
            // Linux checks the descriptor first, then the lower bound against RLIMIT_NOFILE.
            files.get(fd)?;
            let lowest = usize::try_from(argument as i32).ok().filter(|&lowest| lowest < limit);
            files.duplicate(fd, lowest.ok_or(Errno::EINVAL)?, command == F_DUPFD_CLOEXEC, limit)
        }
        F_GETFD => Ok(if files.close_on_exec(fd)? { FD_CLOEXEC as usize } else { 0 }),
        F_SETFD => files.set_close_on_exec(fd, argument & u64::from(FD_CLOEXEC) != 0).map(|()| 0),
        F_GETFL => Ok(files.get(fd)?.status_flags() as usize),
        F_SETFL => {
            files.get(fd)?.set_status_flags(argument as u32);
            Ok(0)
        }
        _ => {
            files.get(fd)?;
            Err(Errno::EINVAL)
        }
    }
}

/// Linux's `new_encode_dev(major, minor)`, the `st_rdev`/`st_dev` encoding.
const fn encode_device(major: u64, minor: u64) -> u64 {
    (minor & 0xff) | (major << 8) | ((minor & !0xff) << 12)
}

/// The console's `stat`: what Linux reports for `/dev/ttyS0`, a serial port (character device 4:64, mode
/// crw--w----, group tty) on devtmpfs.
fn stat_of(file: &OpenFile) -> Stat {
    match file.kind {
        FileKind::Console => Stat {
            st_dev: encode_device(0, 5),
            st_ino: 64,
            st_mode: S_IFCHR | 0o620,
            st_nlink: 1,
            st_uid: 0,
            st_gid: 5,
            st_rdev: encode_device(4, 64),
            st_blksize: 1024,
            ..Stat::default()
        },
    }
}

/// `fstat(fd, stat)`.
pub fn fstat(fd: u64, stat: UserPtr<Stat>) -> Result<usize, Errno> {
    let file = open_file(fd)?;
    stat.write(&stat_of(&file))?;
    Ok(0)
}

/// `newfstatat(dirfd, path, stat, flags)`: `(fd, "", AT_EMPTY_PATH)` is `fstat(fd)`; any path names nothing.
pub fn newfstatat(dirfd: u64, path: UserCString, stat: UserPtr<Stat>, flags: u64) -> Result<usize, Errno> {
    if flags & !u64::from(AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let path = path.read()?;
    if !path.is_empty() || flags & u64::from(AT_EMPTY_PATH) == 0 {
        return Err(Errno::ENOENT);
    }
    match dirfd as i32 {
        // The current directory: there is no file system to have one.
        abi::file::AT_FDCWD => Err(Errno::ENOENT),
        fd if fd < 0 => Err(Errno::EBADF),
        fd => fstat(fd as u64, stat),
    }
}

/// `openat(dirfd, path, flags, mode)`: there is no file system yet.
pub fn openat(path: UserCString) -> Result<usize, Errno> {
    path.read()?;
    Err(Errno::ENOENT)
}

/// `readlinkat(dirfd, path, buffer, size)`: no file system, so no link; EINVAL for a size <= 0 first.
pub fn readlinkat(path: UserCString, size: u64) -> Result<usize, Errno> {
    if size as i64 <= 0 {
        return Err(Errno::EINVAL);
    }
    path.read()?;
    Err(Errno::ENOENT)
}

/// `faccessat(dirfd, path, mode)` and `faccessat2(..., flags)`: no file system; EINVAL for unknown mode or
/// flag bits.
pub fn faccessat(path: UserCString, mode: u64, flags: u64) -> Result<usize, Errno> {
    if mode & !0o7 != 0 || flags & !u64::from(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    path.read()?;
    Err(Errno::ENOENT)
}

/// The console's terminal settings and window size, shared by every process as one tty's are.
struct ConsoleTerminal {
    termios: Termios,
    window: Winsize,
}

/// Linux's initial settings for a serial console (`tty_std_termios` at 115200 baud with CLOCAL, as the 8250
/// and PL011 console drivers set it); a serial port reports a 0 x 0 window.
static CONSOLE_TERMINAL: IrqSpinLock<Arm64, ConsoleTerminal> = IrqSpinLock::new(ConsoleTerminal {
    termios: Termios {
        c_iflag: ICRNL | IXON,
        c_oflag: OPOST | ONLCR,
        c_cflag: B115200 | CS8 | CREAD | HUPCL | CLOCAL,
        c_lflag: ISIG | ICANON | ECHO | ECHOE | ECHOK | ECHOCTL | ECHOKE | IEXTEN,
        c_line: [0],
        c_cc: INIT_C_CC,
    },
    window: Winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 },
});

/// `ioctl(fd, request, argument)`: the console answers the terminal requests as a Linux serial tty does
/// (glibc's stdio asks TCGETS to choose line buffering); other requests are ENOTTY.
pub fn ioctl(fd: u64, request: u64, argument: u64) -> Result<usize, Errno> {
    let file = open_file(fd)?;
    let FileKind::Console = file.kind;
    match u32::try_from(request).map_err(|_| Errno::ENOTTY)? {
        TCGETS => {
            let termios = CONSOLE_TERMINAL.lock().termios;
            UserPtr::<Termios>::new(argument).write(&termios)?;
        }
        TCSETS | TCSETSW | TCSETSF => {
            let termios = UserPtr::<Termios>::new(argument).read()?;
            CONSOLE_TERMINAL.lock().termios = termios;
        }
        TIOCGWINSZ => {
            let window = CONSOLE_TERMINAL.lock().window;
            UserPtr::<Winsize>::new(argument).write(&window)?;
        }
        TIOCSWINSZ => {
            let window = UserPtr::<Winsize>::new(argument).read()?;
            CONSOLE_TERMINAL.lock().window = window;
        }
        _ => return Err(Errno::ENOTTY),
    }
    Ok(0)
}
