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

integer_user_bytes!(u32, i32, u64, i64);

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
