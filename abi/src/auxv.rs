//! The auxiliary vector a program finds above its environment pointers at start-up (`AT_*` keys, Linux's
//! `include/uapi/linux/auxvec.h` and arm64's `asm/auxvec.h`), and the arm64 hardware-capability bits of
//! `AT_HWCAP`/`AT_HWCAP2` (`arch/arm64/include/uapi/asm/hwcap.h`).

/// End of the vector.
pub const AT_NULL: u64 = 0;
/// Entry to ignore.
pub const AT_IGNORE: u64 = 1;
/// File descriptor of the program (binfmt_misc).
pub const AT_EXECFD: u64 = 2;
/// Address of the program headers in memory.
pub const AT_PHDR: u64 = 3;
/// Size of one program header (56).
pub const AT_PHENT: u64 = 4;
/// Number of program headers.
pub const AT_PHNUM: u64 = 5;
/// Page size.
pub const AT_PAGESZ: u64 = 6;
/// Load address of the interpreter (0 for a static program: there is none).
pub const AT_BASE: u64 = 7;
/// Flags (`AT_FLAGS_PRESERVE_ARGV0`).
pub const AT_FLAGS: u64 = 8;
/// The program's entry point (with a static PIE's load address added).
pub const AT_ENTRY: u64 = 9;
/// The program is not ELF.
pub const AT_NOTELF: u64 = 10;
/// Real user id.
pub const AT_UID: u64 = 11;
/// Effective user id.
pub const AT_EUID: u64 = 12;
/// Real group id.
pub const AT_GID: u64 = 13;
/// Effective group id.
pub const AT_EGID: u64 = 14;
/// Address of a string naming the platform (`"aarch64"`).
pub const AT_PLATFORM: u64 = 15;
/// Hardware capabilities ([`hwcap`]).
pub const AT_HWCAP: u64 = 16;
/// Frequency of `times()` (100).
pub const AT_CLKTCK: u64 = 17;
/// Secure mode (set-user-id and the like): 0.
pub const AT_SECURE: u64 = 23;
/// Address of a string naming the base platform.
pub const AT_BASE_PLATFORM: u64 = 24;
/// Address of 16 random bytes (libc's stack protector and pointer guard are taken from them).
pub const AT_RANDOM: u64 = 25;
/// More hardware capabilities ([`hwcap2`]).
pub const AT_HWCAP2: u64 = 26;
/// `rseq` feature size (only where the kernel implements `rseq`).
pub const AT_RSEQ_FEATURE_SIZE: u64 = 27;
/// `rseq` area alignment (only where the kernel implements `rseq`).
pub const AT_RSEQ_ALIGN: u64 = 28;
/// Address of the file name the program was run as.
pub const AT_EXECFN: u64 = 31;
/// Address of the vDSO's ELF header (absent without a vDSO).
pub const AT_SYSINFO_EHDR: u64 = 33;
/// Smallest signal stack that holds a signal frame on this CPU.
pub const AT_MINSIGSTKSZ: u64 = 51;

/// `AT_HWCAP` bits.
pub mod hwcap {
    /// Floating point.
    pub const HWCAP_FP: u64 = 1 << 0;
    /// Advanced SIMD.
    pub const HWCAP_ASIMD: u64 = 1 << 1;
    /// The generic timer's event stream is on.
    pub const HWCAP_EVTSTRM: u64 = 1 << 2;
    /// AES instructions.
    pub const HWCAP_AES: u64 = 1 << 3;
    /// 64-bit polynomial multiply (PMULL/PMULL2 on 64-bit elements).
    pub const HWCAP_PMULL: u64 = 1 << 4;
    /// SHA-1 instructions.
    pub const HWCAP_SHA1: u64 = 1 << 5;
    /// SHA-256 instructions.
    pub const HWCAP_SHA2: u64 = 1 << 6;
    /// CRC32 instructions.
    pub const HWCAP_CRC32: u64 = 1 << 7;
    /// Large System Extensions atomics (CAS, LDADD, SWP...).
    pub const HWCAP_ATOMICS: u64 = 1 << 8;
    /// Half-precision floating point.
    pub const HWCAP_FPHP: u64 = 1 << 9;
    /// Half-precision Advanced SIMD.
    pub const HWCAP_ASIMDHP: u64 = 1 << 10;
    /// EL0 reads of the ID registers are emulated by the kernel.
    pub const HWCAP_CPUID: u64 = 1 << 11;
    /// Rounding double multiply accumulate (SQRDMLAH).
    pub const HWCAP_ASIMDRDM: u64 = 1 << 12;
    /// JavaScript conversion (FJCVTZS).
    pub const HWCAP_JSCVT: u64 = 1 << 13;
    /// Complex numbers (FCMLA, FCADD).
    pub const HWCAP_FCMA: u64 = 1 << 14;
    /// Load-acquire RCpc (LDAPR).
    pub const HWCAP_LRCPC: u64 = 1 << 15;
    /// Data cache clean to the point of persistence (DC CVAP).
    pub const HWCAP_DCPOP: u64 = 1 << 16;
    /// SHA-3 instructions.
    pub const HWCAP_SHA3: u64 = 1 << 17;
    /// SM3 instructions.
    pub const HWCAP_SM3: u64 = 1 << 18;
    /// SM4 instructions.
    pub const HWCAP_SM4: u64 = 1 << 19;
    /// Dot product (SDOT, UDOT).
    pub const HWCAP_ASIMDDP: u64 = 1 << 20;
    /// SHA-512 instructions.
    pub const HWCAP_SHA512: u64 = 1 << 21;
    /// Scalable Vector Extension.
    pub const HWCAP_SVE: u64 = 1 << 22;
    /// FP16 multiply-accumulate to single precision (FMLAL).
    pub const HWCAP_ASIMDFHM: u64 = 1 << 23;
    /// Data-independent timing (PSTATE.DIT).
    pub const HWCAP_DIT: u64 = 1 << 24;
    /// Unaligned single-copy atomicity within 16 bytes.
    pub const HWCAP_USCAT: u64 = 1 << 25;
    /// Load-acquire RCpc with immediate offsets (LDAPUR).
    pub const HWCAP_ILRCPC: u64 = 1 << 26;
    /// Flag manipulation (CFINV, RMIF, SETF).
    pub const HWCAP_FLAGM: u64 = 1 << 27;
    /// Speculative store bypass safe (PSTATE.SSBS, MSR SSBS).
    pub const HWCAP_SSBS: u64 = 1 << 28;
    /// Speculation barrier (SB).
    pub const HWCAP_SB: u64 = 1 << 29;
    /// Pointer authentication of addresses.
    pub const HWCAP_PACA: u64 = 1 << 30;
    /// Generic pointer authentication (PACGA).
    pub const HWCAP_PACG: u64 = 1 << 31;
}

/// `AT_HWCAP2` bits (those the kernel can report without enabling anything first).
pub mod hwcap2 {
    /// Data cache clean to the point of deep persistence (DC CVADP).
    pub const HWCAP2_DCPODP: u64 = 1 << 0;
    /// Flag manipulation, second version (AXFLAG, XAFLAG).
    pub const HWCAP2_FLAGM2: u64 = 1 << 7;
    /// Floating-point round to integer in range (FRINT32Z...).
    pub const HWCAP2_FRINT: u64 = 1 << 8;
    /// Int8 matrix multiply (SMMLA...).
    pub const HWCAP2_I8MM: u64 = 1 << 13;
    /// BFloat16 instructions.
    pub const HWCAP2_BF16: u64 = 1 << 14;
    /// Data gathering hint (DGH).
    pub const HWCAP2_DGH: u64 = 1 << 15;
    /// Random number instructions (RNDR, RNDRRS).
    pub const HWCAP2_RNG: u64 = 1 << 16;
}

/// The `AT_PLATFORM` string of a little-endian arm64 kernel.
pub const PLATFORM: &str = "aarch64";

/// The `AT_CLKTCK` value: `times()` counts in 1/100 s (`USER_HZ`).
pub const CLOCK_TICKS_PER_SECOND: u64 = 100;

/// `AT_MINSIGSTKSZ` on a CPU without SVE or SME: Linux's `minsigstksz_setup` takes the signal frame
/// (`sizeof(struct rt_sigframe)`: a 128-byte siginfo and a 4560-byte ucontext whose 4096-byte `__reserved`
/// area holds the FP/SIMD and ESR records), a frame record (16) and 16 bytes of alignment padding.
pub const MINIMUM_SIGNAL_STACK_SIZE: u64 = 128 + 4560 + 16 + 16;
