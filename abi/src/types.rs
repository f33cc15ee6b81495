//! The `#[repr(C)]` structures system calls read from and write to user memory, with their Linux arm64 sizes
//! asserted at compile time, and [`UserBytes`]: their byte image in user memory (little-endian, padding zeroed),
//! so that the kernel copies them through its checked byte copies without any `unsafe` reinterpretation.

use core::mem::{offset_of, size_of};

/// A fixed-size byte array: the byte image of one [`UserBytes`] value.
pub trait ByteArray: AsRef<[u8]> + AsMut<[u8]> {
    /// All zeros.
    fn zeroed() -> Self;
}

impl<const N: usize> ByteArray for [u8; N] {
    fn zeroed() -> Self {
        [0; N]
    }
}

/// A value with a defined byte image in user memory: the layout Linux's arm64 C structure has.
pub trait UserBytes: Sized {
    /// `[u8; size_of::<Self>()]`.
    type Bytes: ByteArray;
    /// The value as user memory holds it (padding zeroed, so no kernel data leaks through it).
    fn to_bytes(&self) -> Self::Bytes;
    /// The value from its user-memory image; every byte pattern is a valid value.
    fn from_bytes(bytes: &Self::Bytes) -> Self;
}

/// A field of a [`UserBytes`] structure: stored at its offset, little-endian.
trait Field: Sized {
    fn store(&self, bytes: &mut [u8]);
    fn load(bytes: &[u8]) -> Self;
}

macro_rules! integer_user_bytes {
    ($($integer:ty),*) => {$(
        impl Field for $integer {
            fn store(&self, bytes: &mut [u8]) {
                bytes[..size_of::<$integer>()].copy_from_slice(&self.to_le_bytes());
            }
            fn load(bytes: &[u8]) -> Self {
                let mut image = [0u8; size_of::<$integer>()];
                image.copy_from_slice(&bytes[..size_of::<$integer>()]);
                <$integer>::from_le_bytes(image)
            }
        }

        impl UserBytes for $integer {
            type Bytes = [u8; size_of::<$integer>()];
            fn to_bytes(&self) -> Self::Bytes {
                self.to_le_bytes()
            }
            fn from_bytes(bytes: &Self::Bytes) -> Self {
                <$integer>::from_le_bytes(*bytes)
            }
        }
    )*};
}

integer_user_bytes!(u16, i16, u32, i32, u64, i64);

impl<const N: usize> Field for [u64; N] {
    fn store(&self, bytes: &mut [u8]) {
        for (index, value) in self.iter().enumerate() {
            value.store(&mut bytes[index * 8..]);
        }
    }
    fn load(bytes: &[u8]) -> Self {
        core::array::from_fn(|index| u64::load(&bytes[index * 8..]))
    }
}

impl<const N: usize> Field for [u8; N] {
    fn store(&self, bytes: &mut [u8]) {
        bytes[..N].copy_from_slice(self);
    }
    fn load(bytes: &[u8]) -> Self {
        let mut array = [0u8; N];
        array.copy_from_slice(&bytes[..N]);
        array
    }
}

/// Implements [`UserBytes`] for a `#[repr(C)]` structure from its field list, and asserts its size.
macro_rules! user_struct {
    ($type:ident, size $size:literal, { $($field:ident),* $(,)? }) => {
        const _: () = assert!(size_of::<$type>() == $size);

        impl UserBytes for $type {
            type Bytes = [u8; $size];
            fn to_bytes(&self) -> Self::Bytes {
                let mut bytes = [0u8; $size];
                $(Field::store(&self.$field, &mut bytes[offset_of!($type, $field)..]);)*
                bytes
            }
            fn from_bytes(bytes: &Self::Bytes) -> Self {
                Self { $($field: Field::load(&bytes[offset_of!($type, $field)..]),)* }
            }
        }

        // A structure nested in another one (`Rusage`'s `Timeval`s) is stored as its own byte image.
        impl Field for $type {
            fn store(&self, bytes: &mut [u8]) {
                bytes[..$size].copy_from_slice(&self.to_bytes());
            }
            fn load(bytes: &[u8]) -> Self {
                let mut image = [0u8; $size];
                image.copy_from_slice(&bytes[..$size]);
                Self::from_bytes(&image)
            }
        }
    };
}

/// `struct timespec` (`__kernel_timespec` on arm64): seconds and nanoseconds.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timespec {
    /// Seconds.
    pub tv_sec: i64,
    /// Nanoseconds, 0..1_000_000_000 in a valid value.
    pub tv_nsec: i64,
}
user_struct!(Timespec, size 16, { tv_sec, tv_nsec });

impl Timespec {
    /// Nanoseconds per second.
    pub const NANOSECONDS_PER_SECOND: i64 = 1_000_000_000;

    /// `nanoseconds` as seconds and nanoseconds.
    pub const fn from_nanoseconds(nanoseconds: u64) -> Self {
        Self { tv_sec: (nanoseconds / 1_000_000_000) as i64, tv_nsec: (nanoseconds % 1_000_000_000) as i64 }
    }

    /// Whether Linux accepts it as a duration or time: `tv_sec >= 0` and `tv_nsec` in `0..1_000_000_000`.
    pub const fn is_valid(&self) -> bool {
        self.tv_sec >= 0 && self.tv_nsec >= 0 && self.tv_nsec < Self::NANOSECONDS_PER_SECOND
    }
}

/// Length of each `Utsname` field, with its terminating NUL.
pub const UTSNAME_LENGTH: usize = 65;

/// `struct new_utsname`, what `uname()` fills: NUL-terminated strings.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Utsname {
    /// Operating system name ("Linux" for programs that check).
    pub sysname: [u8; UTSNAME_LENGTH],
    /// Host name.
    pub nodename: [u8; UTSNAME_LENGTH],
    /// Kernel release.
    pub release: [u8; UTSNAME_LENGTH],
    /// Kernel version.
    pub version: [u8; UTSNAME_LENGTH],
    /// Hardware ("aarch64").
    pub machine: [u8; UTSNAME_LENGTH],
    /// NIS domain name.
    pub domainname: [u8; UTSNAME_LENGTH],
}
user_struct!(Utsname, size 390, { sysname, nodename, release, version, machine, domainname });

impl Utsname {
    /// `text` as a field: NUL-padded, cut to leave room for the terminating NUL.
    pub fn field(text: &str) -> [u8; UTSNAME_LENGTH] {
        let mut field = [0u8; UTSNAME_LENGTH];
        let length = text.len().min(UTSNAME_LENGTH - 1);
        field[..length].copy_from_slice(&text.as_bytes()[..length]);
        field
    }
}

/// `struct rlimit` (and `rlimit64`, the same on arm64): soft and hard limit.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rlimit {
    /// The soft limit, what is enforced.
    pub rlim_cur: u64,
    /// The hard limit, the ceiling of the soft one.
    pub rlim_max: u64,
}
user_struct!(Rlimit, size 16, { rlim_cur, rlim_max });

/// `struct rseq`: the per-thread area registered with `rseq()`, 32-byte aligned.
#[repr(C, align(32))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rseq {
    /// The CPU the thread runs on, always valid (0 before registration).
    pub cpu_id_start: u32,
    /// The CPU the thread runs on, or `RSEQ_CPU_ID_UNINITIALIZED`/`..._REGISTRATION_FAILED`.
    pub cpu_id: u32,
    /// Address of the current `struct rseq_cs` critical-section descriptor, 0 outside one.
    pub rseq_cs: u64,
    /// Deprecated restart-behaviour flags.
    pub flags: u32,
    /// The NUMA node of `cpu_id`.
    pub node_id: u32,
    /// The memory-map concurrency id of the thread.
    pub mm_cid: u32,
}
user_struct!(Rseq, size 32, { cpu_id_start, cpu_id, rseq_cs, flags, node_id, mm_cid });

/// `struct rseq_cs`: describes one restartable critical section.
#[repr(C, align(32))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RseqCs {
    /// Structure version, 0.
    pub version: u32,
    /// Deprecated restart-behaviour flags.
    pub flags: u32,
    /// First instruction of the section.
    pub start_ip: u64,
    /// Length of the section in bytes, up to (excluding) the commit point.
    pub post_commit_offset: u64,
    /// Where an interrupted section continues; preceded by the registered signature.
    pub abort_ip: u64,
}
user_struct!(RseqCs, size 32, { version, flags, start_ip, post_commit_offset, abort_ip });

/// `struct robust_list_head`, registered with `set_robust_list()`: the futexes a thread holds, which the kernel
/// marks FUTEX_OWNER_DIED if the thread exits holding them.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RobustListHead {
    /// `list.next`: the first entry (a `struct robust_list` in user memory); the head itself ends the list.
    pub list_next: u64,
    /// Offset from an entry to its futex word.
    pub futex_offset: i64,
    /// An entry being added or removed (possibly held).
    pub list_op_pending: u64,
}
user_struct!(RobustListHead, size 24, { list_next, futex_offset, list_op_pending });

/// `struct timeval` (`__kernel_old_timeval` on arm64): seconds and microseconds.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timeval {
    /// Seconds.
    pub tv_sec: i64,
    /// Microseconds, 0..1_000_000.
    pub tv_usec: i64,
}
user_struct!(Timeval, size 16, { tv_sec, tv_usec });

impl Timeval {
    /// `nanoseconds` as seconds and microseconds (rounded down).
    pub const fn from_nanoseconds(nanoseconds: u64) -> Self {
        Self { tv_sec: (nanoseconds / 1_000_000_000) as i64, tv_usec: (nanoseconds % 1_000_000_000 / 1000) as i64 }
    }
}

/// `struct stat` of the generic 64-bit ABI (`include/uapi/asm-generic/stat.h`), what arm64's `fstat` and
/// `newfstatat` fill.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stat {
    /// Device of the file system holding the file.
    pub st_dev: u64,
    /// Inode number.
    pub st_ino: u64,
    /// File type and permission bits.
    pub st_mode: u32,
    /// Hard links.
    pub st_nlink: u32,
    /// Owner.
    pub st_uid: u32,
    /// Group.
    pub st_gid: u32,
    /// The device a device file stands for (`new_encode_dev(major, minor)`).
    pub st_rdev: u64,
    /// Padding.
    pub st_pad1: u64,
    /// Size in bytes.
    pub st_size: i64,
    /// Preferred I/O block size.
    pub st_blksize: i32,
    /// Padding.
    pub st_pad2: i32,
    /// 512-byte blocks allocated.
    pub st_blocks: i64,
    /// Last access, seconds.
    pub st_atime: i64,
    /// Last access, nanoseconds.
    pub st_atime_nsec: u64,
    /// Last modification, seconds.
    pub st_mtime: i64,
    /// Last modification, nanoseconds.
    pub st_mtime_nsec: u64,
    /// Last status change, seconds.
    pub st_ctime: i64,
    /// Last status change, nanoseconds.
    pub st_ctime_nsec: u64,
    /// Unused.
    pub st_unused4: u32,
    /// Unused.
    pub st_unused5: u32,
}
user_struct!(Stat, size 128, {
    st_dev, st_ino, st_mode, st_nlink, st_uid, st_gid, st_rdev, st_pad1, st_size, st_blksize, st_pad2, st_blocks,
    st_atime, st_atime_nsec, st_mtime, st_mtime_nsec, st_ctime, st_ctime_nsec, st_unused4, st_unused5,
});

/// The kernel's `struct sigaction` on arm64 (the generic layout with `SA_RESTORER`): handler, flags, restorer,
/// mask; not glibc's user-space structure, whose mask comes second and is 128 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sigaction {
    /// `SIG_DFL`, `SIG_IGN` or the handler's address.
    pub sa_handler: u64,
    /// `SA_*` flags.
    pub sa_flags: u64,
    /// The return trampoline (with `SA_RESTORER`).
    pub sa_restorer: u64,
    /// Signals blocked while the handler runs.
    pub sa_mask: u64,
}
user_struct!(Sigaction, size 32, { sa_handler, sa_flags, sa_restorer, sa_mask });

/// `stack_t`: an alternate signal stack (`sigaltstack()`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SignalStack {
    /// Lowest address.
    pub ss_sp: u64,
    /// `SS_ONSTACK`, `SS_DISABLE`, possibly with `SS_AUTODISARM`.
    pub ss_flags: i32,
    /// Size in bytes.
    pub ss_size: u64,
}
user_struct!(SignalStack, size 24, { ss_sp, ss_flags, ss_size });

/// `struct rusage` (`getrusage()`): CPU times, then counters Linux keeps (those this kernel does not are 0).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rusage {
    /// User CPU time.
    pub ru_utime: Timeval,
    /// System CPU time.
    pub ru_stime: Timeval,
    /// Largest resident set, KiB.
    pub ru_maxrss: i64,
    /// Unused.
    pub ru_ixrss: i64,
    /// Unused.
    pub ru_idrss: i64,
    /// Unused.
    pub ru_isrss: i64,
    /// Page faults served without I/O.
    pub ru_minflt: i64,
    /// Page faults that needed I/O.
    pub ru_majflt: i64,
    /// Unused.
    pub ru_nswap: i64,
    /// File-system inputs.
    pub ru_inblock: i64,
    /// File-system outputs.
    pub ru_oublock: i64,
    /// Unused.
    pub ru_msgsnd: i64,
    /// Unused.
    pub ru_msgrcv: i64,
    /// Unused.
    pub ru_nsignals: i64,
    /// Voluntary context switches.
    pub ru_nvcsw: i64,
    /// Involuntary context switches.
    pub ru_nivcsw: i64,
}
user_struct!(Rusage, size 144, {
    ru_utime, ru_stime, ru_maxrss, ru_ixrss, ru_idrss, ru_isrss, ru_minflt, ru_majflt, ru_nswap, ru_inblock,
    ru_oublock, ru_msgsnd, ru_msgrcv, ru_nsignals, ru_nvcsw, ru_nivcsw,
});

/// `struct tms` (`times()`), in clock ticks (`USER_HZ`, 100 per second).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tms {
    /// User CPU time of the process.
    pub tms_utime: i64,
    /// System CPU time of the process.
    pub tms_stime: i64,
    /// User CPU time of its waited-for children.
    pub tms_cutime: i64,
    /// System CPU time of its waited-for children.
    pub tms_cstime: i64,
}
user_struct!(Tms, size 32, { tms_utime, tms_stime, tms_cutime, tms_cstime });

/// `struct sysinfo` on a 64-bit kernel (`include/uapi/linux/sysinfo.h`; its `_f` padding is empty there).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sysinfo {
    /// Seconds since boot.
    pub uptime: i64,
    /// 1, 5 and 15 minute load averages, scaled by 2^16.
    pub loads: [u64; 3],
    /// Usable memory, in `mem_unit` units.
    pub totalram: u64,
    /// Free memory.
    pub freeram: u64,
    /// Shared memory.
    pub sharedram: u64,
    /// Buffer memory.
    pub bufferram: u64,
    /// Swap space.
    pub totalswap: u64,
    /// Free swap space.
    pub freeswap: u64,
    /// Processes (threads) alive.
    pub procs: u16,
    /// Padding.
    pub pad: u16,
    /// High memory.
    pub totalhigh: u64,
    /// Free high memory.
    pub freehigh: u64,
    /// The unit of the memory fields, in bytes.
    pub mem_unit: u32,
}
user_struct!(Sysinfo, size 112, {
    uptime, loads, totalram, freeram, sharedram, bufferram, totalswap, freeswap, procs, pad, totalhigh, freehigh,
    mem_unit,
});

/// `struct iovec`: one buffer of `readv()`/`writev()`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Iovec {
    /// Start of the buffer.
    pub iov_base: u64,
    /// Length in bytes.
    pub iov_len: u64,
}
user_struct!(Iovec, size 16, { iov_base, iov_len });

/// `struct pollfd`: one descriptor of `ppoll()`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pollfd {
    /// The descriptor (negative: ignored).
    pub fd: i32,
    /// Requested events.
    pub events: i16,
    /// Returned events.
    pub revents: i16,
}
user_struct!(Pollfd, size 8, { fd, events, revents });

/// `struct winsize` (`TIOCGWINSZ`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Winsize {
    /// Rows.
    pub ws_row: u16,
    /// Columns.
    pub ws_col: u16,
    /// Width in pixels.
    pub ws_xpixel: u16,
    /// Height in pixels.
    pub ws_ypixel: u16,
}
user_struct!(Winsize, size 8, { ws_row, ws_col, ws_xpixel, ws_ypixel });

/// The kernel's `struct termios` (`TCGETS`/`TCSETS`, asm-generic `termbits.h`: 19 control characters, no
/// speed fields), 36 bytes; glibc converts it to its own larger one.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Termios {
    /// Input modes.
    pub c_iflag: u32,
    /// Output modes.
    pub c_oflag: u32,
    /// Control modes (baud rate, character size).
    pub c_cflag: u32,
    /// Local modes (canonical, echo, signals).
    pub c_lflag: u32,
    /// Line discipline.
    pub c_line: [u8; 1],
    /// Control characters.
    pub c_cc: [u8; 19],
}
user_struct!(Termios, size 36, { c_iflag, c_oflag, c_cflag, c_lflag, c_line, c_cc });

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_match_linux_arm64() {
        assert_eq!(core::mem::align_of::<Rseq>(), 32);
        assert_eq!(offset_of!(Rseq, rseq_cs), 8);
        assert_eq!(offset_of!(Rseq, mm_cid), 24);
        assert_eq!(offset_of!(Utsname, machine), 4 * 65);
        assert_eq!(offset_of!(RobustListHead, list_op_pending), 16);
        assert_eq!(offset_of!(Stat, st_rdev), 32);
        assert_eq!(offset_of!(Stat, st_size), 48);
        assert_eq!(offset_of!(Stat, st_blocks), 64);
        assert_eq!(offset_of!(Stat, st_ctime_nsec), 112);
        assert_eq!(offset_of!(Sigaction, sa_mask), 24);
        assert_eq!(offset_of!(SignalStack, ss_size), 16);
        assert_eq!(offset_of!(Rusage, ru_maxrss), 32);
        assert_eq!(offset_of!(Rusage, ru_nivcsw), 136);
        assert_eq!(offset_of!(Sysinfo, procs), 80);
        assert_eq!(offset_of!(Sysinfo, totalhigh), 88);
        assert_eq!(offset_of!(Sysinfo, mem_unit), 104);
        assert_eq!(offset_of!(Termios, c_line), 16);
        assert_eq!(offset_of!(Pollfd, revents), 6);
    }

    #[test]
    fn nested_and_array_fields_round_trip() {
        let usage = Rusage {
            ru_utime: Timeval { tv_sec: 1, tv_usec: 2 },
            ru_stime: Timeval { tv_sec: 3, tv_usec: 4 },
            ru_nivcsw: 5,
            ..Rusage::default()
        };
        let bytes = usage.to_bytes();
        assert_eq!((bytes[0], bytes[8], bytes[16], bytes[24], bytes[136]), (1, 2, 3, 4, 5));
        assert_eq!(Rusage::from_bytes(&bytes), usage);
        let info = Sysinfo { loads: [7, 8, 9], procs: 3, mem_unit: 4096, ..Sysinfo::default() };
        let bytes = info.to_bytes();
        assert_eq!((bytes[8], bytes[16], bytes[24], bytes[80]), (7, 8, 9, 3));
        assert_eq!(Sysinfo::from_bytes(&bytes), info);
        let stack = SignalStack { ss_sp: 1, ss_flags: -1, ss_size: 2 };
        assert_eq!(stack.to_bytes()[12..16], [0; 4], "padding is zeroed");
        assert_eq!(SignalStack::from_bytes(&stack.to_bytes()), stack);
        assert_eq!(Timeval::from_nanoseconds(1_500_002_000), Timeval { tv_sec: 1, tv_usec: 500_002 });
    }

    #[test]
    fn byte_images_round_trip() {
        let time = Timespec { tv_sec: 3, tv_nsec: 7 };
        let bytes = time.to_bytes();
        assert_eq!(bytes[0], 3);
        assert_eq!(bytes[8], 7);
        assert_eq!(Timespec::from_bytes(&bytes), time);
        let rseq = Rseq { cpu_id_start: 1, cpu_id: 2, rseq_cs: 3, flags: 4, node_id: 5, mm_cid: 6 };
        let bytes = rseq.to_bytes();
        assert_eq!(bytes[28..], [0; 4], "padding is zeroed");
        assert_eq!(Rseq::from_bytes(&bytes), rseq);
        let mut name = [0u8; UTSNAME_LENGTH];
        name[..5].copy_from_slice(b"Linux");
        let utsname = Utsname {
            sysname: name,
            nodename: [1; UTSNAME_LENGTH],
            release: [2; UTSNAME_LENGTH],
            version: [3; UTSNAME_LENGTH],
            machine: [4; UTSNAME_LENGTH],
            domainname: [5; UTSNAME_LENGTH],
        };
        assert_eq!(Utsname::from_bytes(&utsname.to_bytes()), utsname);
        assert_eq!(u32::from_bytes(&0x1234_5678u32.to_bytes()), 0x1234_5678);
    }

    #[test]
    fn timespec_validity() {
        assert!(Timespec::from_nanoseconds(1_500_000_000).is_valid());
        assert_eq!(Timespec::from_nanoseconds(1_500_000_000), Timespec { tv_sec: 1, tv_nsec: 500_000_000 });
        assert!(!Timespec { tv_sec: -1, tv_nsec: 0 }.is_valid());
        assert!(!Timespec { tv_sec: 0, tv_nsec: 1_000_000_000 }.is_valid());
    }
}
