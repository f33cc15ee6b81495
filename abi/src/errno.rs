//! Linux errno values (`include/uapi/asm-generic/errno-base.h` and `errno.h`, which arm64 uses unchanged) and
//! the kernel's one error type, [`Errno`]: a system call fails with exactly one of these, returned to the
//! program as `-errno` in x0.

/// A Linux errno value (1-4095). The kernel's error type: every failing path names the errno the program sees.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Errno(u16);

/// The highest errno a system call can return: results in `-4095..=-1` are errors, as in Linux's
/// `IS_ERR_VALUE`.
pub const MAX_ERRNO: u16 = 4095;

macro_rules! errnos {
    ($($name:ident = $value:literal, $text:literal;)*) => {
        impl Errno {
            $(
                #[doc = $text]
                pub const $name: Errno = Errno($value);
            )*

            /// The symbolic name (`"EINVAL"`), `None` for a value Linux does not define.
            pub const fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($value => Some(stringify!($name)),)*
                    _ => None,
                }
            }
        }
    };
}

errnos! {
    EPERM = 1, "Operation not permitted.";
    ENOENT = 2, "No such file or directory.";
    ESRCH = 3, "No such process.";
    EINTR = 4, "Interrupted system call.";
    EIO = 5, "I/O error.";
    ENXIO = 6, "No such device or address.";
    E2BIG = 7, "Argument list too long.";
    ENOEXEC = 8, "Exec format error.";
    EBADF = 9, "Bad file number.";
    ECHILD = 10, "No child processes.";
    EAGAIN = 11, "Try again.";
    ENOMEM = 12, "Out of memory.";
    EACCES = 13, "Permission denied.";
    EFAULT = 14, "Bad address.";
    ENOTBLK = 15, "Block device required.";
    EBUSY = 16, "Device or resource busy.";
    EEXIST = 17, "File exists.";
    EXDEV = 18, "Cross-device link.";
    ENODEV = 19, "No such device.";
    ENOTDIR = 20, "Not a directory.";
    EISDIR = 21, "Is a directory.";
    EINVAL = 22, "Invalid argument.";
    ENFILE = 23, "File table overflow.";
    EMFILE = 24, "Too many open files.";
    ENOTTY = 25, "Not a typewriter.";
    ETXTBSY = 26, "Text file busy.";
    EFBIG = 27, "File too large.";
    ENOSPC = 28, "No space left on device.";
    ESPIPE = 29, "Illegal seek.";
    EROFS = 30, "Read-only file system.";
    EMLINK = 31, "Too many links.";
    EPIPE = 32, "Broken pipe.";
    EDOM = 33, "Math argument out of domain of func.";
    ERANGE = 34, "Math result not representable.";
    EDEADLK = 35, "Resource deadlock would occur.";
    ENAMETOOLONG = 36, "File name too long.";
    ENOLCK = 37, "No record locks available.";
    ENOSYS = 38, "Invalid system call number.";
    ENOTEMPTY = 39, "Directory not empty.";
    ELOOP = 40, "Too many symbolic links encountered.";
    ENOMSG = 42, "No message of desired type.";
    EIDRM = 43, "Identifier removed.";
    ECHRNG = 44, "Channel number out of range.";
    EL2NSYNC = 45, "Level 2 not synchronized.";
    EL3HLT = 46, "Level 3 halted.";
    EL3RST = 47, "Level 3 reset.";
    ELNRNG = 48, "Link number out of range.";
    EUNATCH = 49, "Protocol driver not attached.";
    ENOCSI = 50, "No CSI structure available.";
    EL2HLT = 51, "Level 2 halted.";
    EBADE = 52, "Invalid exchange.";
    EBADR = 53, "Invalid request descriptor.";
    EXFULL = 54, "Exchange full.";
    ENOANO = 55, "No anode.";
    EBADRQC = 56, "Invalid request code.";
    EBADSLT = 57, "Invalid slot.";
    EBFONT = 59, "Bad font file format.";
    ENOSTR = 60, "Device not a stream.";
    ENODATA = 61, "No data available.";
    ETIME = 62, "Timer expired.";
    ENOSR = 63, "Out of streams resources.";
    ENONET = 64, "Machine is not on the network.";
    ENOPKG = 65, "Package not installed.";
    EREMOTE = 66, "Object is remote.";
    ENOLINK = 67, "Link has been severed.";
    EADV = 68, "Advertise error.";
    ESRMNT = 69, "Srmount error.";
    ECOMM = 70, "Communication error on send.";
    EPROTO = 71, "Protocol error.";
    EMULTIHOP = 72, "Multihop attempted.";
    EDOTDOT = 73, "RFS specific error.";
    EBADMSG = 74, "Not a data message.";
    EOVERFLOW = 75, "Value too large for defined data type.";
    ENOTUNIQ = 76, "Name not unique on network.";
    EBADFD = 77, "File descriptor in bad state.";
    EREMCHG = 78, "Remote address changed.";
    ELIBACC = 79, "Can not access a needed shared library.";
    ELIBBAD = 80, "Accessing a corrupted shared library.";
    ELIBSCN = 81, ".lib section in a.out corrupted.";
    ELIBMAX = 82, "Attempting to link in too many shared libraries.";
    ELIBEXEC = 83, "Cannot exec a shared library directly.";
    EILSEQ = 84, "Illegal byte sequence.";
    ERESTART = 85, "Interrupted system call should be restarted.";
    ESTRPIPE = 86, "Streams pipe error.";
    EUSERS = 87, "Too many users.";
    ENOTSOCK = 88, "Socket operation on non-socket.";
    EDESTADDRREQ = 89, "Destination address required.";
    EMSGSIZE = 90, "Message too long.";
    EPROTOTYPE = 91, "Protocol wrong type for socket.";
    ENOPROTOOPT = 92, "Protocol not available.";
    EPROTONOSUPPORT = 93, "Protocol not supported.";
    ESOCKTNOSUPPORT = 94, "Socket type not supported.";
    EOPNOTSUPP = 95, "Operation not supported on transport endpoint.";
    EPFNOSUPPORT = 96, "Protocol family not supported.";
    EAFNOSUPPORT = 97, "Address family not supported by protocol.";
    EADDRINUSE = 98, "Address already in use.";
    EADDRNOTAVAIL = 99, "Cannot assign requested address.";
    ENETDOWN = 100, "Network is down.";
    ENETUNREACH = 101, "Network is unreachable.";
    ENETRESET = 102, "Network dropped connection because of reset.";
    ECONNABORTED = 103, "Software caused connection abort.";
    ECONNRESET = 104, "Connection reset by peer.";
    ENOBUFS = 105, "No buffer space available.";
    EISCONN = 106, "Transport endpoint is already connected.";
    ENOTCONN = 107, "Transport endpoint is not connected.";
    ESHUTDOWN = 108, "Cannot send after transport endpoint shutdown.";
    ETOOMANYREFS = 109, "Too many references: cannot splice.";
    ETIMEDOUT = 110, "Connection timed out.";
    ECONNREFUSED = 111, "Connection refused.";
    EHOSTDOWN = 112, "Host is down.";
    EHOSTUNREACH = 113, "No route to host.";
    EALREADY = 114, "Operation already in progress.";
    EINPROGRESS = 115, "Operation now in progress.";
    ESTALE = 116, "Stale file handle.";
    EUCLEAN = 117, "Structure needs cleaning.";
    ENOTNAM = 118, "Not a XENIX named type file.";
    ENAVAIL = 119, "No XENIX semaphores available.";
    EISNAM = 120, "Is a named type file.";
    EREMOTEIO = 121, "Remote I/O error.";
    EDQUOT = 122, "Quota exceeded.";
    ENOMEDIUM = 123, "No medium found.";
    EMEDIUMTYPE = 124, "Wrong medium type.";
    ECANCELED = 125, "Operation Canceled.";
    ENOKEY = 126, "Required key not available.";
    EKEYEXPIRED = 127, "Key has expired.";
    EKEYREVOKED = 128, "Key has been revoked.";
    EKEYREJECTED = 129, "Key was rejected by service.";
    EOWNERDEAD = 130, "Owner died.";
    ENOTRECOVERABLE = 131, "State not recoverable.";
    ERFKILL = 132, "Operation not possible due to RF-kill.";
    EHWPOISON = 133, "Memory page has hardware error.";
}

impl Errno {
    /// Same value as `EAGAIN`.
    pub const EWOULDBLOCK: Errno = Errno::EAGAIN;
    /// Same value as `EDEADLK`.
    pub const EDEADLOCK: Errno = Errno::EDEADLK;
    /// Same value as `EOPNOTSUPP`.
    pub const ENOTSUP: Errno = Errno::EOPNOTSUPP;

    /// The errno `value`, `None` outside `1..=4095`.
    pub const fn new(value: u16) -> Option<Errno> {
        if value >= 1 && value <= MAX_ERRNO {
            Some(Errno(value))
        } else {
            None
        }
    }

    /// The positive Linux errno value.
    pub const fn value(self) -> i32 {
        self.0 as i32
    }

    /// The value a system call returns in x0 for this error: `-errno`.
    pub const fn to_syscall_return(self) -> i64 {
        -(self.0 as i64)
    }

    /// Splits a raw system-call return value into a result: `-4095..=-1` is an error, anything else a value.
    pub const fn from_syscall_return(value: i64) -> Result<usize, Errno> {
        if value < 0 && value >= -(MAX_ERRNO as i64) {
            Err(Errno((-value) as u16))
        } else {
            Ok(value as usize)
        }
    }
}

/// The register value for a system call's outcome: the result itself, or `-errno`.
pub const fn syscall_return_value(result: Result<usize, Errno>) -> u64 {
    match result {
        Ok(value) => value as u64,
        Err(errno) => errno.to_syscall_return() as u64,
    }
}

impl core::fmt::Debug for Errno {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.name() {
            Some(name) => formatter.write_str(name),
            None => write!(formatter, "Errno({})", self.0),
        }
    }
}

impl core::fmt::Display for Errno {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Debug::fmt(self, formatter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;

    #[test]
    fn values_and_names() {
        assert_eq!(Errno::EPERM.value(), 1);
        assert_eq!(Errno::EFAULT.value(), 14);
        assert_eq!(Errno::EINVAL.value(), 22);
        assert_eq!(Errno::ENOSYS.value(), 38);
        assert_eq!(Errno::ETIMEDOUT.value(), 110);
        assert_eq!(Errno::EHWPOISON.value(), 133);
        assert_eq!(Errno::ENOSYS.name(), Some("ENOSYS"));
        assert_eq!(Errno::new(41).and_then(Errno::name), None);
        assert_eq!(format!("{:?}", Errno::EINVAL), "EINVAL");
    }

    #[test]
    fn syscall_return_round_trip() {
        assert_eq!(Errno::EINVAL.to_syscall_return(), -22);
        assert_eq!(Errno::from_syscall_return(-22), Err(Errno::EINVAL));
        assert_eq!(Errno::from_syscall_return(-4095), Err(Errno::new(4095).unwrap()));
        assert_eq!(Errno::from_syscall_return(-4096), Ok(-4096i64 as usize));
        assert_eq!(Errno::from_syscall_return(7), Ok(7));
        assert_eq!(syscall_return_value(Err(Errno::EFAULT)), (-14i64) as u64);
        assert_eq!(syscall_return_value(Ok(5)), 5);
        assert_eq!(Errno::new(0), None);
        assert_eq!(Errno::new(4096), None);
    }
}
