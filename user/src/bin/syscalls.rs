//! System-call argument checking: bad pointers give EFAULT, bad arguments EINVAL, unknown numbers ENOSYS, as
//! on Linux. One line per check; exit 0 when all pass.
#![no_std]
#![no_main]

use abi::syscalls as nr;
use abi::Errno;
use core::sync::atomic::{AtomicUsize, Ordering};
use ulib::sys::{self, syscall};
use ulib::{Checker, ThreadStack};

const KERNEL_ADDRESS: u64 = 0xFFFF_FF80_4020_0000;
const UNMAPPED: u64 = 0x10;

fn main(_args: ulib::Args) -> i32 {
    let mut check = Checker::new("syscalls");
    let text = b"x";
    check.expect(
        "write(1, kernel address)",
        sys::syscall(nr::WRITE, [1, KERNEL_ADDRESS, 8, 0, 0, 0]),
        Errno::EFAULT.to_syscall_return(),
    );
    check.expect(
        "write(1, unmapped)",
        syscall(nr::WRITE, [1, UNMAPPED, 8, 0, 0, 0]),
        Errno::EFAULT.to_syscall_return(),
    );
    check.expect(
        "write(1, wraps around)",
        syscall(nr::WRITE, [1, u64::MAX - 2, 8, 0, 0, 0]),
        Errno::EFAULT.to_syscall_return(),
    );
    check.expect(
        "write(7, ...) bad descriptor",
        syscall(nr::WRITE, [7, text.as_ptr() as u64, 1, 0, 0, 0]),
        Errno::EBADF.to_syscall_return(),
    );
    check.expect("write(1, 0 bytes)", syscall(nr::WRITE, [1, text.as_ptr() as u64, 0, 0, 0, 0]), 0);
    check.expect(
        "clock_gettime(MONOTONIC, kernel)",
        syscall(nr::CLOCK_GETTIME, [1, KERNEL_ADDRESS, 0, 0, 0, 0]),
        Errno::EFAULT.to_syscall_return(),
    );
    let mut time = [0u64; 2];
    check.expect(
        "clock_gettime(99, ok)",
        syscall(nr::CLOCK_GETTIME, [99, time.as_mut_ptr() as u64, 0, 0, 0, 0]),
        Errno::EINVAL.to_syscall_return(),
    );
    check.expect(
        "clock_gettime(MONOTONIC, ok)",
        syscall(nr::CLOCK_GETTIME, [1, time.as_mut_ptr() as u64, 0, 0, 0, 0]),
        0,
    );
    // Writing into our own read-only code must fail too.
    check.expect(
        "clock_gettime(MONOTONIC, code)",
        syscall(nr::CLOCK_GETTIME, [1, main as *const () as usize as u64, 0, 0, 0, 0]),
        Errno::EFAULT.to_syscall_return(),
    );
    check.expect(
        "nanosleep(unmapped)",
        syscall(nr::NANOSLEEP, [UNMAPPED, 0, 0, 0, 0, 0]),
        Errno::EFAULT.to_syscall_return(),
    );
    let bad_sleep = [0u64, 2_000_000_000];
    check.expect(
        "nanosleep(nsec 2e9)",
        syscall(nr::NANOSLEEP, [bad_sleep.as_ptr() as u64, 0, 0, 0, 0, 0]),
        Errno::EINVAL.to_syscall_return(),
    );
    let short_sleep = [0u64, 1_000_000];
    check.expect("nanosleep(1 ms)", syscall(nr::NANOSLEEP, [short_sleep.as_ptr() as u64, 0, 0, 0, 0, 0]), 0);
    check.expect(
        "getcpu(kernel address)",
        syscall(nr::GETCPU, [KERNEL_ADDRESS, 0, 0, 0, 0, 0]),
        Errno::EFAULT.to_syscall_return(),
    );
    check.expect("getcpu(NULL, NULL)", syscall(nr::GETCPU, [0, 0, 0, 0, 0, 0]), 0);
    check.expect(
        "sched_setaffinity(mask unmapped)",
        syscall(nr::SCHED_SETAFFINITY, [0, 8, UNMAPPED, 0, 0, 0]),
        Errno::EFAULT.to_syscall_return(),
    );
    let empty_mask = 0u64;
    check.expect(
        "sched_setaffinity(empty mask)",
        syscall(nr::SCHED_SETAFFINITY, [0, 8, &empty_mask as *const u64 as u64, 0, 0, 0]),
        Errno::EINVAL.to_syscall_return(),
    );
    let all = 0xfu64;
    check.expect(
        "sched_setaffinity(no such tid)",
        syscall(nr::SCHED_SETAFFINITY, [99999, 8, &all as *const u64 as u64, 0, 0, 0]),
        Errno::ESRCH.to_syscall_return(),
    );
    let cpu2 = 0b100u64;
    check.expect(
        "sched_setaffinity(self, cpu 2)",
        syscall(nr::SCHED_SETAFFINITY, [0, 8, &cpu2 as *const u64 as u64, 0, 0, 0]),
        0,
    );
    check.expect("getcpu after pinning to cpu 2", sys::getcpu(), 2);
    check.expect(
        "sched_setaffinity(self, all)",
        syscall(nr::SCHED_SETAFFINITY, [0, 8, &all as *const u64 as u64, 0, 0, 0]),
        0,
    );
    check.expect("clone(flags 0)", syscall(nr::CLONE, [0, 0x1000, 0, 0, 0, 0]), Errno::EINVAL.to_syscall_return());
    check.expect(
        "clone(thread, no stack)",
        syscall(nr::CLONE, [abi::clone::THREAD_FLAGS, 0, 0, 0, 0, 0]),
        Errno::EINVAL.to_syscall_return(),
    );
    check.expect("unknown syscall 999", syscall(999, [0; 6]), Errno::ENOSYS.to_syscall_return());
    check.expect("unknown syscall 1 (io_destroy)", syscall(1, [0; 6]), Errno::ENOSYS.to_syscall_return());
    check.expect("getpid == gettid (main thread)", sys::getpid() - sys::gettid(), 0);
    process_and_time(&mut check);
    descriptors(&mut check);
    limits_and_random(&mut check);
    signals(&mut check);
    memory(&mut check);
    end_with_endless_sleepers(check.finish())
}

/// The longest valid sleep: {i64::MAX s, 999999999 ns}, relative and absolute. It must neither overflow a
/// deadline nor wake early, and must end with its process.
static ENDLESS_SLEEP: [u64; 2] = [i64::MAX as u64, 999_999_999];
static ENDLESS_SLEEPERS_STARTED: AtomicUsize = AtomicUsize::new(0);
static mut SLEEPER_STACKS: [ThreadStack; 2] = [const { ThreadStack([0; 16384]) }; 2];

extern "C" fn endless_sleeper(absolute: usize) -> ! {
    ENDLESS_SLEEPERS_STARTED.fetch_add(1, Ordering::Release);
    let result = if absolute == 1 {
        let monotonic = abi::clock::CLOCK_MONOTONIC as u64;
        syscall(nr::CLOCK_NANOSLEEP, [monotonic, abi::clock::TIMER_ABSTIME as u64, address(&ENDLESS_SLEEP), 0, 0, 0])
    } else {
        syscall(nr::NANOSLEEP, [address(&ENDLESS_SLEEP), 0, 0, 0, 0, 0])
    };
    ulib::println!("  syscalls: an endless sleep returned {result}: FAILED");
    sys::exit_group(1)
}

/// Leaves two threads in endless sleeps and ends the process with exit_group(`status`): the run ends (the payload
/// waits for it) only if the sleeps end with their process.
fn end_with_endless_sleepers(status: i32) -> i32 {
    for absolute in 0..2 {
        // SAFETY: each stack is handed to exactly one thread, once.
        let stack = unsafe { &mut *core::ptr::addr_of_mut!(SLEEPER_STACKS[absolute]) };
        if ulib::spawn_thread(stack, endless_sleeper, absolute) < 0 {
            ulib::println!("  syscalls: clone of an endless sleeper failed: FAILED");
            return 1;
        }
    }
    while ENDLESS_SLEEPERS_STARTED.load(Ordering::Acquire) < 2 {
        sys::sched_yield();
    }
    // Time for both to block in their sleeps.
    sys::nanosleep(5_000_000);
    ulib::println!("  syscalls: exit_group with two threads in endless (i64::MAX s) sleeps");
    status
}

fn err(errno: Errno) -> i64 {
    errno.to_syscall_return()
}

fn address<T>(value: &T) -> u64 {
    value as *const T as u64
}

fn address_mut<T>(value: &mut T) -> u64 {
    value as *mut T as u64
}

/// Burns CPU time in user mode.
fn spin(iterations: u64) -> u64 {
    let mut sum = 0u64;
    for index in 0..iterations {
        sum = core::hint::black_box(sum.wrapping_add(index));
    }
    sum
}

fn process_and_time(check: &mut Checker) {
    let mut name = [0u8; 390];
    check.expect("uname", syscall(nr::UNAME, [address_mut(&mut name), 0, 0, 0, 0, 0]), 0);
    check.expect("uname sysname is Linux", (&name[..6] == b"Linux\0") as i64, 1);
    check.expect("uname machine is aarch64", (&name[4 * 65..4 * 65 + 8] == b"aarch64\0") as i64, 1);
    check.expect("uname release starts with 6.", (name[2 * 65] == b'6' && name[2 * 65 + 1] == b'.') as i64, 1);
    check.expect("uname(kernel address)", syscall(nr::UNAME, [KERNEL_ADDRESS, 0, 0, 0, 0, 0]), err(Errno::EFAULT));
    check.expect("getppid", syscall(nr::GETPPID, [0; 6]), 0);
    for (what, number) in
        [("getuid", nr::GETUID), ("geteuid", nr::GETEUID), ("getgid", nr::GETGID), ("getegid", nr::GETEGID)]
    {
        check.expect(what, syscall(number, [0; 6]), 0);
    }
    check.expect("getgroups(0, NULL)", syscall(nr::GETGROUPS, [0; 6]), 0);
    check.expect("getgroups(-1)", syscall(nr::GETGROUPS, [u64::MAX, 0, 0, 0, 0, 0]), err(Errno::EINVAL));

    core::hint::black_box(spin(2_000_000));
    let mut usage = [0i64; 18];
    check.expect("getrusage(SELF)", syscall(nr::GETRUSAGE, [0, address_mut(&mut usage), 0, 0, 0, 0]), 0);
    let cpu_us = (usage[0] + usage[2]) * 1_000_000 + usage[1] + usage[3];
    check.expect("getrusage(SELF) user+system time > 0", (cpu_us > 0) as i64, 1);
    check.expect("getrusage(THREAD)", syscall(nr::GETRUSAGE, [1, address_mut(&mut usage), 0, 0, 0, 0]), 0);
    check.expect("getrusage(CHILDREN)", syscall(nr::GETRUSAGE, [u64::MAX, address_mut(&mut usage), 0, 0, 0, 0]), 0);
    check.expect("getrusage(CHILDREN) is zero", usage[0] + usage[1] + usage[2] + usage[3], 0);
    check.expect("getrusage(7)", syscall(nr::GETRUSAGE, [7, address_mut(&mut usage), 0, 0, 0, 0]), err(Errno::EINVAL));
    check.expect(
        "getrusage(SELF, kernel)",
        syscall(nr::GETRUSAGE, [0, KERNEL_ADDRESS, 0, 0, 0, 0]),
        err(Errno::EFAULT),
    );
    let mut tms = [0i64; 4];
    check.expect("times() > 0", (syscall(nr::TIMES, [address_mut(&mut tms), 0, 0, 0, 0, 0]) > 0) as i64, 1);
    check.expect("times(NULL) > 0", (syscall(nr::TIMES, [0; 6]) > 0) as i64, 1);
    check.expect("times(kernel)", syscall(nr::TIMES, [KERNEL_ADDRESS, 0, 0, 0, 0, 0]), err(Errno::EFAULT));

    let mut info = [0u64; 14];
    check.expect("sysinfo", syscall(nr::SYSINFO, [address_mut(&mut info), 0, 0, 0, 0, 0]), 0);
    check.expect("sysinfo totalram > freeram > 0", (info[4] > info[5] && info[5] > 0) as i64, 1);
    check.expect("sysinfo mem_unit", (info[13] & 0xffff_ffff) as i64, 4096);
    check.expect("sysinfo procs >= 1", ((info[10] & 0xffff) >= 1) as i64, 1);
    check.expect("sysinfo(unmapped)", syscall(nr::SYSINFO, [UNMAPPED, 0, 0, 0, 0, 0]), err(Errno::EFAULT));

    let mut time = [0i64; 2];
    for clock in [0u64, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11] {
        check.expect(
            "clock_gettime(every Linux clock)",
            syscall(nr::CLOCK_GETTIME, [clock, address_mut(&mut time), 0, 0, 0, 0]),
            0,
        );
    }
    check.expect(
        "clock_gettime(10)",
        syscall(nr::CLOCK_GETTIME, [10, address_mut(&mut time), 0, 0, 0, 0]),
        err(Errno::EINVAL),
    );
    check.expect(
        "clock_gettime(12)",
        syscall(nr::CLOCK_GETTIME, [12, address_mut(&mut time), 0, 0, 0, 0]),
        err(Errno::EINVAL),
    );
    check.expect(
        "clock_gettime(THREAD_CPUTIME_ID)",
        syscall(nr::CLOCK_GETTIME, [3, address_mut(&mut time), 0, 0, 0, 0]),
        0,
    );
    check.expect("thread CPU time > 0", (time[0] > 0 || time[1] > 0) as i64, 1);
    // MAKE_PROCESS_CPUCLOCK(0, CPUCLOCK_SCHED) = (~0 << 3) | 2, what clock_getcpuclockid(0) gives.
    check.expect(
        "clock_gettime(own process CPU clock id)",
        syscall(nr::CLOCK_GETTIME, [(-6i64) as u64, address_mut(&mut time), 0, 0, 0, 0]),
        0,
    );
    check.expect(
        "clock_gettime(CPU clock type 3)",
        syscall(nr::CLOCK_GETTIME, [(-5i64) as u64, address_mut(&mut time), 0, 0, 0, 0]),
        err(Errno::EINVAL),
    );
    check.expect("clock_getres(MONOTONIC)", syscall(nr::CLOCK_GETRES, [1, address_mut(&mut time), 0, 0, 0, 0]), 0);
    check.expect("clock_getres(MONOTONIC) is 1 ns", time[0] * 1_000_000_000 + time[1], 1);
    check.expect(
        "clock_getres(MONOTONIC_COARSE)",
        syscall(nr::CLOCK_GETRES, [6, address_mut(&mut time), 0, 0, 0, 0]),
        0,
    );
    check.expect("clock_getres(MONOTONIC_COARSE) is the tick", time[1], 4_000_000);
    check.expect("clock_getres(BOOTTIME, NULL)", syscall(nr::CLOCK_GETRES, [7, 0, 0, 0, 0, 0]), 0);
    check.expect("clock_getres(99)", syscall(nr::CLOCK_GETRES, [99, 0, 0, 0, 0, 0]), err(Errno::EINVAL));

    let one_ms = [0i64, 1_000_000];
    check.expect(
        "clock_nanosleep(MONOTONIC, relative 1 ms)",
        syscall(nr::CLOCK_NANOSLEEP, [1, 0, address(&one_ms), 0, 0, 0]),
        0,
    );
    let start = sys::monotonic_ns();
    let target = start + 2_000_000;
    let absolute = [target / 1_000_000_000, target % 1_000_000_000];
    check.expect(
        "clock_nanosleep(MONOTONIC, TIMER_ABSTIME)",
        syscall(nr::CLOCK_NANOSLEEP, [1, 1, address(&absolute), 0, 0, 0]),
        0,
    );
    check.expect("clock_nanosleep(TIMER_ABSTIME) slept until the target", (sys::monotonic_ns() >= target) as i64, 1);
    check.expect(
        "clock_nanosleep(REALTIME, TIMER_ABSTIME, past)",
        syscall(nr::CLOCK_NANOSLEEP, [0, 1, address(&[0i64, 5]), 0, 0, 0]),
        0,
    );
    check.expect("clock_nanosleep(BOOTTIME, 1 ms)", syscall(nr::CLOCK_NANOSLEEP, [7, 0, address(&one_ms), 0, 0, 0]), 0);
    check.expect(
        "clock_nanosleep(99)",
        syscall(nr::CLOCK_NANOSLEEP, [99, 0, address(&one_ms), 0, 0, 0]),
        err(Errno::EINVAL),
    );
    check.expect(
        "clock_nanosleep(THREAD_CPUTIME_ID)",
        syscall(nr::CLOCK_NANOSLEEP, [3, 0, address(&one_ms), 0, 0, 0]),
        err(Errno::EINVAL),
    );
    check.expect(
        "clock_nanosleep(MONOTONIC_RAW)",
        syscall(nr::CLOCK_NANOSLEEP, [4, 0, address(&one_ms), 0, 0, 0]),
        err(Errno::EOPNOTSUPP),
    );
    check.expect(
        "clock_nanosleep(nsec 2e9)",
        syscall(nr::CLOCK_NANOSLEEP, [1, 0, address(&[0i64, 2_000_000_000]), 0, 0, 0]),
        err(Errno::EINVAL),
    );
    check.expect(
        "clock_nanosleep(unmapped)",
        syscall(nr::CLOCK_NANOSLEEP, [1, 0, UNMAPPED, 0, 0, 0]),
        err(Errno::EFAULT),
    );
    let mut timeval = [0i64; 2];
    let mut zone = [1i32; 2];
    check.expect(
        "gettimeofday",
        syscall(nr::GETTIMEOFDAY, [address_mut(&mut timeval), address_mut(&mut zone), 0, 0, 0, 0]),
        0,
    );
    check.expect("gettimeofday usec < 1e6 and zone UTC", (timeval[1] < 1_000_000 && zone == [0, 0]) as i64, 1);
    check.expect(
        "gettimeofday(kernel)",
        syscall(nr::GETTIMEOFDAY, [KERNEL_ADDRESS, 0, 0, 0, 0, 0]),
        err(Errno::EFAULT),
    );
}

fn descriptors(check: &mut Checker) {
    use abi::file::*;
    let (first, second) = (b"  syscalls: wr".as_slice(), b"itev\n".as_slice());
    let vectors = [first.as_ptr() as u64, first.len() as u64, second.as_ptr() as u64, second.len() as u64];
    check.expect("writev(1, 2 buffers)", syscall(nr::WRITEV, [1, address(&vectors), 2, 0, 0, 0]), 19);
    check.expect("writev(2 = console too)", syscall(nr::WRITEV, [2, address(&vectors), 0, 0, 0, 0]), 0);
    check.expect(
        "writev(1025 buffers)",
        syscall(nr::WRITEV, [1, address(&vectors), 1025, 0, 0, 0]),
        err(Errno::EINVAL),
    );
    check.expect("writev(9)", syscall(nr::WRITEV, [9, address(&vectors), 2, 0, 0, 0]), err(Errno::EBADF));
    check.expect("writev(vectors unmapped)", syscall(nr::WRITEV, [1, UNMAPPED, 2, 0, 0, 0]), err(Errno::EFAULT));
    let mut buffer = [0u8; 16];
    check.expect("read(0) is end of file", syscall(nr::READ, [0, address_mut(&mut buffer), 16, 0, 0, 0]), 0);
    check.expect("read(9)", syscall(nr::READ, [9, address_mut(&mut buffer), 16, 0, 0, 0]), err(Errno::EBADF));
    let read_vector = [address_mut(&mut buffer), 16];
    check.expect("readv(0) is end of file", syscall(nr::READV, [0, address(&read_vector), 1, 0, 0, 0]), 0);

    let mut stat = [0u64; 16];
    check.expect("fstat(1)", syscall(nr::FSTAT, [1, address_mut(&mut stat), 0, 0, 0, 0]), 0);
    check.expect("fstat(1) is a character device crw--w----", (stat[2] & 0xffff_ffff) as i64, (S_IFCHR | 0o620) as i64);
    check.expect("fstat(1) st_rdev is ttyS0 (4:64)", stat[4] as i64, 0x440);
    check.expect("fstat(9)", syscall(nr::FSTAT, [9, address_mut(&mut stat), 0, 0, 0, 0]), err(Errno::EBADF));
    check.expect("fstat(1, kernel)", syscall(nr::FSTAT, [1, KERNEL_ADDRESS, 0, 0, 0, 0]), err(Errno::EFAULT));
    let empty = b"\0";
    let path = b"/etc/passwd\0";
    let at_fdcwd = AT_FDCWD as i64 as u64;
    check.expect(
        "newfstatat(0, \"\", AT_EMPTY_PATH)",
        syscall(nr::NEWFSTATAT, [0, empty.as_ptr() as u64, address_mut(&mut stat), AT_EMPTY_PATH as u64, 0, 0]),
        0,
    );
    check.expect(
        "newfstatat(0, \"\", 0)",
        syscall(nr::NEWFSTATAT, [0, empty.as_ptr() as u64, address_mut(&mut stat), 0, 0, 0]),
        err(Errno::ENOENT),
    );
    check.expect(
        "newfstatat(9, \"\", AT_EMPTY_PATH)",
        syscall(nr::NEWFSTATAT, [9, empty.as_ptr() as u64, address_mut(&mut stat), AT_EMPTY_PATH as u64, 0, 0]),
        err(Errno::EBADF),
    );
    check.expect(
        "newfstatat(AT_FDCWD, path)",
        syscall(nr::NEWFSTATAT, [at_fdcwd, path.as_ptr() as u64, address_mut(&mut stat), 0, 0, 0]),
        err(Errno::ENOENT),
    );
    check.expect(
        "newfstatat(flags 1)",
        syscall(nr::NEWFSTATAT, [0, empty.as_ptr() as u64, address_mut(&mut stat), 1, 0, 0]),
        err(Errno::EINVAL),
    );
    check.expect(
        "newfstatat(path unmapped)",
        syscall(nr::NEWFSTATAT, [0, UNMAPPED, address_mut(&mut stat), AT_EMPTY_PATH as u64, 0, 0]),
        err(Errno::EFAULT),
    );

    let mut termios = [0u32; 9];
    check.expect(
        "ioctl(1, TCGETS)",
        syscall(nr::IOCTL, [1, abi::tty::TCGETS as u64, address_mut(&mut termios), 0, 0, 0]),
        0,
    );
    check.expect(
        "TCGETS: 8 data bits, canonical",
        (termios[2] & abi::tty::CS8 != 0 && termios[3] & abi::tty::ICANON != 0) as i64,
        1,
    );
    let mut window = [7u16; 4];
    check.expect(
        "ioctl(0, TIOCGWINSZ)",
        syscall(nr::IOCTL, [0, abi::tty::TIOCGWINSZ as u64, address_mut(&mut window), 0, 0, 0]),
        0,
    );
    check.expect("ioctl(1, unknown)", syscall(nr::IOCTL, [1, 0x1234, 0, 0, 0, 0]), err(Errno::ENOTTY));
    check.expect(
        "ioctl(9, TCGETS)",
        syscall(nr::IOCTL, [9, abi::tty::TCGETS as u64, address_mut(&mut termios), 0, 0, 0]),
        err(Errno::EBADF),
    );
    check.expect(
        "ioctl(1, TCGETS, kernel)",
        syscall(nr::IOCTL, [1, abi::tty::TCGETS as u64, KERNEL_ADDRESS, 0, 0, 0]),
        err(Errno::EFAULT),
    );

    use abi::poll::*;
    // struct pollfd { int fd; short events, revents; } as one u64 each.
    let pollfd = |fd: i32, events: i16| (fd as u32 as u64) | ((events as u16 as u64) << 32);
    let revents = |entry: u64| (entry >> 48) as i16 as i64;
    let mut fds = [pollfd(0, POLLIN), pollfd(1, POLLOUT), pollfd(9, POLLIN), pollfd(-1, POLLIN)];
    let zero = [0i64, 0];
    check.expect(
        "ppoll(0 in, 1 out, 9, -1)",
        syscall(nr::PPOLL, [address_mut(&mut fds), 4, address(&zero), 0, 8, 0]),
        3,
    );
    check.expect("ppoll revents", (revents(fds[0]) == POLLIN as i64 && revents(fds[1]) == POLLOUT as i64) as i64, 1);
    check.expect(
        "ppoll closed fd is POLLNVAL, negative ignored",
        (revents(fds[2]) == POLLNVAL as i64 && revents(fds[3]) == 0) as i64,
        1,
    );
    let mut nothing = [pollfd(-1, POLLIN)];
    let one_ms = [0i64, 1_000_000];
    check.expect(
        "ppoll(nothing, 1 ms) times out",
        syscall(nr::PPOLL, [address_mut(&mut nothing), 1, address(&one_ms), 0, 8, 0]),
        0,
    );
    let mask = 0u64;
    check.expect(
        "ppoll(sigsetsize 4)",
        syscall(nr::PPOLL, [address_mut(&mut fds), 1, address(&zero), address(&mask), 4, 0]),
        err(Errno::EINVAL),
    );
    check.expect("ppoll(fds unmapped)", syscall(nr::PPOLL, [UNMAPPED, 1, address(&zero), 0, 8, 0]), err(Errno::EFAULT));
    check.expect(
        "ppoll(nfds > RLIMIT_NOFILE)",
        syscall(nr::PPOLL, [address_mut(&mut fds), 100_000, address(&zero), 0, 8, 0]),
        err(Errno::EINVAL),
    );
    let (mut readable, mut writable) = (0b1u64, 0b110u64);
    check.expect(
        "pselect6(0 read, 1+2 write)",
        syscall(nr::PSELECT6, [3, address_mut(&mut readable), address_mut(&mut writable), 0, address(&zero), 0]),
        3,
    );
    let mut closed = 1u64 << 9;
    check.expect(
        "pselect6(closed fd 9)",
        syscall(nr::PSELECT6, [64, address_mut(&mut closed), 0, 0, address(&zero), 0]),
        err(Errno::EBADF),
    );
    check.expect("pselect6(nothing, 1 ms) times out", syscall(nr::PSELECT6, [0, 0, 0, 0, address(&one_ms), 0]), 0);

    check.expect("dup(1)", syscall(nr::DUP, [1, 0, 0, 0, 0, 0]), 3);
    check.expect("fcntl(3, F_GETFD)", syscall(nr::FCNTL, [3, F_GETFD as u64, 0, 0, 0, 0]), 0);
    check.expect("dup3(1, 10, O_CLOEXEC)", syscall(nr::DUP3, [1, 10, O_CLOEXEC as u64, 0, 0, 0]), 10);
    check.expect("fcntl(10, F_GETFD)", syscall(nr::FCNTL, [10, F_GETFD as u64, 0, 0, 0, 0]), FD_CLOEXEC as i64);
    check.expect("fcntl(10, F_SETFD, 0)", syscall(nr::FCNTL, [10, F_SETFD as u64, 0, 0, 0, 0]), 0);
    check.expect("fcntl(10, F_GETFD) after F_SETFD", syscall(nr::FCNTL, [10, F_GETFD as u64, 0, 0, 0, 0]), 0);
    check.expect(
        "fcntl(1, F_GETFL)",
        syscall(nr::FCNTL, [1, F_GETFL as u64, 0, 0, 0, 0]),
        (O_RDWR | O_LARGEFILE) as i64,
    );
    check.expect(
        "fcntl(1, F_SETFL, O_NONBLOCK)",
        syscall(nr::FCNTL, [1, F_SETFL as u64, O_NONBLOCK as u64, 0, 0, 0]),
        0,
    );
    check.expect(
        "F_SETFL is shared with the dup",
        syscall(nr::FCNTL, [3, F_GETFL as u64, 0, 0, 0, 0]),
        (O_RDWR | O_LARGEFILE | O_NONBLOCK) as i64,
    );
    check.expect("fcntl(1, F_SETFL, 0)", syscall(nr::FCNTL, [1, F_SETFL as u64, 0, 0, 0, 0]), 0);
    check.expect("fcntl(1, F_DUPFD, 20)", syscall(nr::FCNTL, [1, F_DUPFD as u64, 20, 0, 0, 0]), 20);
    check.expect("fcntl(1, F_DUPFD_CLOEXEC, 5)", syscall(nr::FCNTL, [1, F_DUPFD_CLOEXEC as u64, 5, 0, 0, 0]), 5);
    check.expect("fcntl(1, F_DUPFD, 5000)", syscall(nr::FCNTL, [1, F_DUPFD as u64, 5000, 0, 0, 0]), err(Errno::EINVAL));
    check.expect("write(20, dup of 1)", syscall(nr::WRITE, [20, b"".as_ptr() as u64, 0, 0, 0, 0]), 0);
    for fd in [3u64, 5, 10, 20] {
        check.expect("close(dup)", syscall(nr::CLOSE, [fd, 0, 0, 0, 0, 0]), 0);
    }
    check.expect("close(3) again", syscall(nr::CLOSE, [3, 0, 0, 0, 0, 0]), err(Errno::EBADF));
    check.expect("write(3) after close", syscall(nr::WRITE, [3, b"x".as_ptr() as u64, 1, 0, 0, 0]), err(Errno::EBADF));
    check.expect("dup(99)", syscall(nr::DUP, [99, 0, 0, 0, 0, 0]), err(Errno::EBADF));
    check.expect("dup3(1, 1)", syscall(nr::DUP3, [1, 1, 0, 0, 0, 0]), err(Errno::EINVAL));
    check.expect("dup3(1, 4, bad flags)", syscall(nr::DUP3, [1, 4, 7, 0, 0, 0]), err(Errno::EINVAL));
    check.expect("dup3(1, 5000)", syscall(nr::DUP3, [1, 5000, 0, 0, 0, 0]), err(Errno::EBADF));
    check.expect("fcntl(1, 999)", syscall(nr::FCNTL, [1, 999, 0, 0, 0, 0]), err(Errno::EINVAL));
    check.expect("fcntl(99, F_GETFD)", syscall(nr::FCNTL, [99, F_GETFD as u64, 0, 0, 0, 0]), err(Errno::EBADF));

    check.expect("openat(path)", syscall(nr::OPENAT, [at_fdcwd, path.as_ptr() as u64, 0, 0, 0, 0]), err(Errno::ENOENT));
    check.expect("openat(unmapped path)", syscall(nr::OPENAT, [at_fdcwd, UNMAPPED, 0, 0, 0, 0]), err(Errno::EFAULT));
    let exe = b"/proc/self/exe\0";
    check.expect(
        "readlinkat(/proc/self/exe)",
        syscall(nr::READLINKAT, [at_fdcwd, exe.as_ptr() as u64, address_mut(&mut buffer), 16, 0, 0]),
        err(Errno::ENOENT),
    );
    check.expect(
        "readlinkat(size 0)",
        syscall(nr::READLINKAT, [at_fdcwd, exe.as_ptr() as u64, address_mut(&mut buffer), 0, 0, 0]),
        err(Errno::EINVAL),
    );
    check.expect(
        "faccessat(path)",
        syscall(nr::FACCESSAT, [at_fdcwd, path.as_ptr() as u64, 4, 0, 0, 0]),
        err(Errno::ENOENT),
    );
    check.expect(
        "faccessat(bad mode)",
        syscall(nr::FACCESSAT, [at_fdcwd, path.as_ptr() as u64, 8, 0, 0, 0]),
        err(Errno::EINVAL),
    );
}

fn limits_and_random(check: &mut Checker) {
    use abi::rlimit::*;
    let mut limit = [0u64; 2];
    check.expect(
        "prlimit64(0, STACK, NULL, old)",
        syscall(nr::PRLIMIT64, [0, RLIMIT_STACK as u64, 0, address_mut(&mut limit), 0, 0]),
        0,
    );
    check.expect("RLIMIT_STACK soft is 8 MiB", limit[0] as i64, 8 << 20);
    check.expect(
        "getrlimit(NOFILE)",
        syscall(nr::GETRLIMIT, [RLIMIT_NOFILE as u64, address_mut(&mut limit), 0, 0, 0, 0]),
        0,
    );
    check.expect("RLIMIT_NOFILE is 1024 / 4096", (limit == [1024, 4096]) as i64, 1);
    check.expect("getrlimit(AS)", syscall(nr::GETRLIMIT, [RLIMIT_AS as u64, address_mut(&mut limit), 0, 0, 0, 0]), 0);
    check.expect("RLIMIT_AS is unlimited", (limit == [RLIM_INFINITY; 2]) as i64, 1);
    check.expect(
        "getrlimit(NPROC)",
        syscall(nr::GETRLIMIT, [RLIMIT_NPROC as u64, address_mut(&mut limit), 0, 0, 0, 0]),
        0,
    );
    let lower = [512u64, 4096];
    check.expect(
        "setrlimit(NOFILE, 512)",
        syscall(nr::SETRLIMIT, [RLIMIT_NOFILE as u64, address(&lower), 0, 0, 0, 0]),
        0,
    );
    check.expect("dup3 above the new soft limit", syscall(nr::DUP3, [1, 600, 0, 0, 0, 0]), err(Errno::EBADF));
    let raise_hard = [512u64, 8192];
    check.expect(
        "setrlimit(NOFILE, hard above)",
        syscall(nr::SETRLIMIT, [RLIMIT_NOFILE as u64, address(&raise_hard), 0, 0, 0, 0]),
        err(Errno::EPERM),
    );
    let inverted = [4096u64, 1024];
    check.expect(
        "setrlimit(soft > hard)",
        syscall(nr::SETRLIMIT, [RLIMIT_NOFILE as u64, address(&inverted), 0, 0, 0, 0]),
        err(Errno::EINVAL),
    );
    let restore = [1024u64, 4096];
    check.expect(
        "prlimit64(0, NOFILE, new, old)",
        syscall(nr::PRLIMIT64, [0, RLIMIT_NOFILE as u64, address(&restore), address_mut(&mut limit), 0, 0]),
        0,
    );
    check.expect("prlimit64 old value", limit[0] as i64, 512);
    check.expect(
        "getrlimit(99)",
        syscall(nr::GETRLIMIT, [99, address_mut(&mut limit), 0, 0, 0, 0]),
        err(Errno::EINVAL),
    );
    check.expect(
        "prlimit64(no such pid)",
        syscall(nr::PRLIMIT64, [99999, 3, 0, address_mut(&mut limit), 0, 0]),
        err(Errno::ESRCH),
    );
    check.expect("getrlimit(kernel)", syscall(nr::GETRLIMIT, [3, KERNEL_ADDRESS, 0, 0, 0, 0]), err(Errno::EFAULT));

    let (mut first, mut second) = ([0u8; 64], [0u8; 64]);
    check.expect("getrandom(64)", syscall(nr::GETRANDOM, [address_mut(&mut first), 64, 0, 0, 0, 0]), 64);
    check.expect(
        "getrandom(64, GRND_NONBLOCK)",
        syscall(nr::GETRANDOM, [address_mut(&mut second), 64, 1, 0, 0, 0]),
        64,
    );
    check.expect("getrandom outputs differ and are not zero", (first != second && first != [0; 64]) as i64, 1);
    check.expect("getrandom(GRND_RANDOM)", syscall(nr::GETRANDOM, [address_mut(&mut first), 16, 2, 0, 0, 0]), 16);
    check.expect("getrandom(GRND_INSECURE)", syscall(nr::GETRANDOM, [address_mut(&mut first), 16, 4, 0, 0, 0]), 16);
    check.expect(
        "getrandom(INSECURE|RANDOM)",
        syscall(nr::GETRANDOM, [address_mut(&mut first), 16, 6, 0, 0, 0]),
        err(Errno::EINVAL),
    );
    check.expect(
        "getrandom(flag 8)",
        syscall(nr::GETRANDOM, [address_mut(&mut first), 16, 8, 0, 0, 0]),
        err(Errno::EINVAL),
    );
    check.expect("getrandom(kernel)", syscall(nr::GETRANDOM, [KERNEL_ADDRESS, 16, 0, 0, 0, 0]), err(Errno::EFAULT));

    let mut mask = 0u64;
    check.expect("sched_getaffinity(0, 8)", syscall(nr::SCHED_GETAFFINITY, [0, 8, address_mut(&mut mask), 0, 0, 0]), 8);
    check.expect("sched_getaffinity mask is the online CPUs", (mask != 0 && mask.count_ones() <= 4) as i64, 1);
    check.expect(
        "sched_getaffinity(0, 4)",
        syscall(nr::SCHED_GETAFFINITY, [0, 4, address_mut(&mut mask), 0, 0, 0]),
        err(Errno::EINVAL),
    );
    check.expect(
        "sched_getaffinity(no such tid)",
        syscall(nr::SCHED_GETAFFINITY, [99999, 8, address_mut(&mut mask), 0, 0, 0]),
        err(Errno::ESRCH),
    );
    check.expect(
        "sched_getaffinity(unmapped)",
        syscall(nr::SCHED_GETAFFINITY, [0, 8, UNMAPPED, 0, 0, 0]),
        err(Errno::EFAULT),
    );

    let clear_word = 0u32;
    check.expect(
        "set_tid_address returns the tid",
        syscall(nr::SET_TID_ADDRESS, [address(&clear_word), 0, 0, 0, 0, 0]),
        sys::gettid(),
    );
    let head = [0u64; 3];
    check.expect("set_robust_list(head, 24)", syscall(nr::SET_ROBUST_LIST, [address(&head), 24, 0, 0, 0, 0]), 0);
    check.expect(
        "set_robust_list(head, 16)",
        syscall(nr::SET_ROBUST_LIST, [address(&head), 16, 0, 0, 0, 0]),
        err(Errno::EINVAL),
    );
    let (mut got_head, mut got_length) = (0u64, 0u64);
    check.expect(
        "get_robust_list(0)",
        syscall(nr::GET_ROBUST_LIST, [0, address_mut(&mut got_head), address_mut(&mut got_length), 0, 0, 0]),
        0,
    );
    check.expect("get_robust_list returns the head and 24", (got_head == address(&head) && got_length == 24) as i64, 1);
    check.expect(
        "get_robust_list(no such tid)",
        syscall(nr::GET_ROBUST_LIST, [99999, address_mut(&mut got_head), address_mut(&mut got_length), 0, 0, 0]),
        err(Errno::ESRCH),
    );
}

fn signals(check: &mut Checker) {
    use abi::signal::*;
    let handler_address = spin as *const () as u64;
    let action = [handler_address, SA_SIGINFO | SA_UNSUPPORTED | SA_RESTORER, 0, bit(SIGKILL) | bit(SIGUSR2)];
    let mut old = [7u64; 4];
    check.expect(
        "rt_sigaction(SIGUSR1, handler)",
        syscall(nr::RT_SIGACTION, [SIGUSR1 as u64, address(&action), address_mut(&mut old), 8, 0, 0]),
        0,
    );
    check.expect("old action was SIG_DFL", (old == [0; 4]) as i64, 1);
    let default_action = [SIG_DFL, 0, 0, 0];
    check.expect(
        "rt_sigaction(SIGUSR1, back to default)",
        syscall(nr::RT_SIGACTION, [SIGUSR1 as u64, address(&default_action), address_mut(&mut old), 8, 0, 0]),
        0,
    );
    check.expect("stored handler returned", (old[0] == handler_address) as i64, 1);
    check.expect(
        "unknown flags dropped, SIGKILL not in the mask",
        (old[1] == SA_SIGINFO | SA_RESTORER && old[3] == bit(SIGUSR2)) as i64,
        1,
    );
    check.expect(
        "rt_sigaction(sigsetsize 16)",
        syscall(nr::RT_SIGACTION, [SIGUSR1 as u64, 0, address_mut(&mut old), 16, 0, 0]),
        err(Errno::EINVAL),
    );
    check.expect(
        "rt_sigaction(SIGKILL, new)",
        syscall(nr::RT_SIGACTION, [SIGKILL as u64, address(&default_action), 0, 8, 0, 0]),
        err(Errno::EINVAL),
    );
    check.expect(
        "rt_sigaction(SIGSTOP, query)",
        syscall(nr::RT_SIGACTION, [SIGSTOP as u64, 0, address_mut(&mut old), 8, 0, 0]),
        0,
    );
    check.expect(
        "rt_sigaction(0)",
        syscall(nr::RT_SIGACTION, [0, 0, address_mut(&mut old), 8, 0, 0]),
        err(Errno::EINVAL),
    );
    check.expect(
        "rt_sigaction(65)",
        syscall(nr::RT_SIGACTION, [65, 0, address_mut(&mut old), 8, 0, 0]),
        err(Errno::EINVAL),
    );
    check.expect(
        "rt_sigaction(action unmapped)",
        syscall(nr::RT_SIGACTION, [SIGUSR1 as u64, UNMAPPED, 0, 8, 0, 0]),
        err(Errno::EFAULT),
    );

    let block = bit(SIGUSR2) | bit(SIGKILL);
    let mut old_mask = 1u64;
    check.expect(
        "rt_sigprocmask(SIG_BLOCK)",
        syscall(nr::RT_SIGPROCMASK, [SIG_BLOCK as u64, address(&block), address_mut(&mut old_mask), 8, 0, 0]),
        0,
    );
    check.expect("the old mask was empty", old_mask as i64, 0);
    check.expect(
        "rt_sigprocmask(query)",
        syscall(nr::RT_SIGPROCMASK, [SIG_BLOCK as u64, 0, address_mut(&mut old_mask), 8, 0, 0]),
        0,
    );
    check.expect("SIGKILL cannot be blocked", old_mask as i64, bit(SIGUSR2) as i64);
    check.expect(
        "rt_sigprocmask(how 7)",
        syscall(nr::RT_SIGPROCMASK, [7, address(&block), 0, 8, 0, 0]),
        err(Errno::EINVAL),
    );
    check.expect(
        "rt_sigprocmask(sigsetsize 4)",
        syscall(nr::RT_SIGPROCMASK, [SIG_BLOCK as u64, address(&block), 0, 4, 0, 0]),
        err(Errno::EINVAL),
    );
    // A blocked signal stays pending; made ignored, it is discarded, and unblocking it then does nothing.
    check.expect(
        "tgkill(self, blocked SIGUSR2)",
        syscall(nr::TGKILL, [sys::getpid() as u64, sys::gettid() as u64, SIGUSR2 as u64, 0, 0, 0]),
        0,
    );
    let mut pending = 0u64;
    check.expect("rt_sigpending", syscall(nr::RT_SIGPENDING, [address_mut(&mut pending), 8, 0, 0, 0, 0]), 0);
    check.expect("SIGUSR2 is pending", pending as i64, bit(SIGUSR2) as i64);
    let ignore = [SIG_IGN, 0, 0, 0];
    check.expect(
        "rt_sigaction(SIGUSR2, SIG_IGN)",
        syscall(nr::RT_SIGACTION, [SIGUSR2 as u64, address(&ignore), 0, 8, 0, 0]),
        0,
    );
    let nothing = 0u64;
    check.expect(
        "rt_sigprocmask(SIG_SETMASK, empty)",
        syscall(nr::RT_SIGPROCMASK, [SIG_SETMASK as u64, address(&nothing), 0, 8, 0, 0]),
        0,
    );
    check.expect(
        "kill(self, ignored SIGUSR2)",
        syscall(nr::KILL, [sys::getpid() as u64, SIGUSR2 as u64, 0, 0, 0, 0]),
        0,
    );
    check.expect(
        "tgkill(self, SIGCHLD: default ignore)",
        syscall(nr::TGKILL, [sys::getpid() as u64, sys::gettid() as u64, SIGCHLD as u64, 0, 0, 0]),
        0,
    );
    check.expect(
        "rt_sigaction(SIGUSR2, default)",
        syscall(nr::RT_SIGACTION, [SIGUSR2 as u64, address(&default_action), 0, 8, 0, 0]),
        0,
    );

    let mut stack = [0u64; 3];
    check.expect("sigaltstack(NULL, old)", syscall(nr::SIGALTSTACK, [0, address_mut(&mut stack), 0, 0, 0, 0]), 0);
    check.expect("no alternate stack: SS_DISABLE", stack[1] as i64, SS_DISABLE as i64);
    static mut ALTERNATE: [u8; 8192] = [0; 8192];
    let new_stack = [core::ptr::addr_of!(ALTERNATE) as u64, 0, 8192];
    check.expect("sigaltstack(8 KiB)", syscall(nr::SIGALTSTACK, [address(&new_stack), 0, 0, 0, 0, 0]), 0);
    check.expect("sigaltstack(query)", syscall(nr::SIGALTSTACK, [0, address_mut(&mut stack), 0, 0, 0, 0]), 0);
    check.expect("the stored stack returned", (stack == new_stack) as i64, 1);
    let small = [new_stack[0], 0, 100];
    check.expect(
        "sigaltstack(too small)",
        syscall(nr::SIGALTSTACK, [address(&small), 0, 0, 0, 0, 0]),
        err(Errno::ENOMEM),
    );
    let bad_flags = [new_stack[0], 7, 8192];
    check.expect(
        "sigaltstack(flags 7)",
        syscall(nr::SIGALTSTACK, [address(&bad_flags), 0, 0, 0, 0, 0]),
        err(Errno::EINVAL),
    );
    let disable = [0u64, SS_DISABLE as u64, 0];
    check.expect("sigaltstack(SS_DISABLE)", syscall(nr::SIGALTSTACK, [address(&disable), 0, 0, 0, 0, 0]), 0);

    let (pid, tid) = (sys::getpid() as u64, sys::gettid() as u64);
    check.expect("kill(self, 0)", syscall(nr::KILL, [pid, 0, 0, 0, 0, 0]), 0);
    check.expect("kill(no such pid, 0)", syscall(nr::KILL, [99999, 0, 0, 0, 0, 0]), err(Errno::ESRCH));
    check.expect("kill(self, 65)", syscall(nr::KILL, [pid, 65, 0, 0, 0, 0]), err(Errno::EINVAL));
    check.expect("tgkill(self, 0)", syscall(nr::TGKILL, [pid, tid, 0, 0, 0, 0]), 0);
    check.expect("tgkill(tgid 0)", syscall(nr::TGKILL, [0, tid, 0, 0, 0, 0]), err(Errno::EINVAL));
    check.expect("tgkill(no such tid)", syscall(nr::TGKILL, [pid, 99999, 0, 0, 0, 0]), err(Errno::ESRCH));
    check.expect("tkill(-1)", syscall(nr::TKILL, [u64::MAX, 0, 0, 0, 0, 0]), err(Errno::EINVAL));
    check.expect("tkill(self, 0)", syscall(nr::TKILL, [tid, 0, 0, 0, 0, 0]), 0);
}
/// The memory calls: success and Linux's errno for each kind of bad argument. One difference from Linux, by
/// design: writable and executable at once is EACCES (this kernel keeps W^X).
fn memory(check: &mut Checker) {
    use abi::mmap::*;
    const PAGE: u64 = 4096;
    let anonymous = u64::from(MAP_PRIVATE | MAP_ANONYMOUS);
    let read_write = u64::from(PROT_READ | PROT_WRITE);
    let mmap = |address: u64, length: u64, protection: u64, flags: u64, fd: u64, offset: u64| {
        syscall(nr::MMAP, [address, length, protection, flags, fd, offset])
    };
    let initial_break = syscall(nr::BRK, [0; 6]);
    check.expect(
        "brk(0) is the page-aligned initial break",
        i64::from(initial_break > 0 && initial_break % 4096 == 0),
        1,
    );
    check.expect("brk(1) (below the start) returns the break", syscall(nr::BRK, [1, 0, 0, 0, 0, 0]), initial_break);

    check.expect("mmap(length 0)", mmap(0, 0, read_write, anonymous, u64::MAX, 0), err(Errno::EINVAL));
    check.expect(
        "mmap(neither PRIVATE nor SHARED)",
        mmap(0, PAGE, read_write, u64::from(MAP_ANONYMOUS), u64::MAX, 0),
        err(Errno::EINVAL),
    );
    check.expect(
        "mmap(offset not page aligned)",
        mmap(0, PAGE, read_write, anonymous, u64::MAX, 100),
        err(Errno::EINVAL),
    );
    check.expect(
        "mmap(MAP_FIXED, misaligned address)",
        mmap(0x1000_0100, PAGE, read_write, anonymous | u64::from(MAP_FIXED), u64::MAX, 0),
        err(Errno::EINVAL),
    );
    check.expect(
        "mmap(file, bad fd 99)",
        mmap(0, PAGE, PROT_READ.into(), MAP_PRIVATE.into(), 99, 0),
        err(Errno::EBADF),
    );
    check.expect(
        "mmap(file, console fd 1)",
        mmap(0, PAGE, PROT_READ.into(), MAP_PRIVATE.into(), 1, 0),
        err(Errno::ENODEV),
    );
    check.expect("mmap(length 2^62)", mmap(0, 1 << 62, read_write, anonymous, u64::MAX, 0), err(Errno::ENOMEM));
    check.expect(
        "mmap(WRITE|EXEC) (W^X, EACCES)",
        mmap(0, PAGE, u64::from(PROT_WRITE | PROT_EXEC), anonymous, u64::MAX, 0),
        err(Errno::EACCES),
    );
    let base = mmap(0, 4 * PAGE, read_write, anonymous, u64::MAX, 0);
    check.expect("mmap(4 pages)", i64::from(base > 0 && base % 4096 == 0), 1);
    let base = base as u64;
    check.expect(
        "mmap(MAP_FIXED_NOREPLACE over it)",
        mmap(base + PAGE, PAGE, read_write, anonymous | u64::from(MAP_FIXED_NOREPLACE), u64::MAX, 0),
        err(Errno::EEXIST),
    );
    check.expect(
        "clock_gettime into an untouched mmap page (faulted in)",
        syscall(nr::CLOCK_GETTIME, [1, base + 2 * PAGE, 0, 0, 0, 0]),
        0,
    );
    let shared = mmap(0, PAGE, read_write, u64::from(MAP_SHARED | MAP_ANONYMOUS), u64::MAX, 0);
    check.expect("mmap(MAP_SHARED | MAP_ANONYMOUS)", i64::from(shared > 0), 1);
    let flags = anonymous | u64::from(MAP_STACK | MAP_GROWSDOWN | MAP_NORESERVE | MAP_POPULATE);
    let populated = mmap(0, 2 * PAGE, read_write, flags, u64::MAX, 0);
    check.expect("mmap(STACK | GROWSDOWN | NORESERVE | POPULATE)", i64::from(populated > 0), 1);
    let mut resident = [9u8; 2];
    check.expect(
        "mincore(populated)",
        syscall(nr::MINCORE, [populated as u64, 2 * PAGE, address_mut(&mut resident), 0, 0, 0]),
        0,
    );
    check.expect("MAP_POPULATE pages are resident", i64::from(resident == [1, 1]), 1);
    check.expect(
        "mincore(misaligned)",
        syscall(nr::MINCORE, [base + 1, PAGE, address_mut(&mut resident), 0, 0, 0]),
        err(Errno::EINVAL),
    );
    check.expect(
        "mincore(unmapped)",
        syscall(nr::MINCORE, [PAGE, PAGE, address_mut(&mut resident), 0, 0, 0]),
        err(Errno::ENOMEM),
    );
    let hint = 0x20_0000_0000u64;
    check.expect(
        "mmap(free hint) is placed at the hint",
        mmap(hint, PAGE, read_write, anonymous, u64::MAX, 0),
        hint as i64,
    );

    check.expect("munmap(misaligned)", syscall(nr::MUNMAP, [base + 1, PAGE, 0, 0, 0, 0]), err(Errno::EINVAL));
    check.expect("munmap(length 0)", syscall(nr::MUNMAP, [base, 0, 0, 0, 0, 0]), err(Errno::EINVAL));
    check.expect("munmap(nothing mapped there)", syscall(nr::MUNMAP, [hint + 16 * PAGE, PAGE, 0, 0, 0, 0]), 0);
    check.expect("munmap(the hint page)", syscall(nr::MUNMAP, [hint, PAGE, 0, 0, 0, 0]), 0);

    check.expect(
        "mprotect(misaligned)",
        syscall(nr::MPROTECT, [base + 1, PAGE, PROT_READ.into(), 0, 0, 0]),
        err(Errno::EINVAL),
    );
    check.expect("mprotect(unknown bits)", syscall(nr::MPROTECT, [base, PAGE, 0x40, 0, 0, 0]), err(Errno::EINVAL));
    check.expect(
        "mprotect(unmapped)",
        syscall(nr::MPROTECT, [hint, PAGE, PROT_READ.into(), 0, 0, 0]),
        err(Errno::ENOMEM),
    );
    check.expect(
        "mprotect(partly unmapped)",
        syscall(nr::MPROTECT, [base + 3 * PAGE, 2 * PAGE, PROT_READ.into(), 0, 0, 0]),
        err(Errno::ENOMEM),
    );
    check.expect(
        "mprotect(WRITE|EXEC) (W^X, EACCES)",
        syscall(nr::MPROTECT, [base, PAGE, u64::from(PROT_WRITE | PROT_EXEC), 0, 0, 0]),
        err(Errno::EACCES),
    );
    check.expect("mprotect(length 0)", syscall(nr::MPROTECT, [base, 0, PROT_READ.into(), 0, 0, 0]), 0);
    check.expect(
        "mprotect(page 2 read-only)",
        syscall(nr::MPROTECT, [base + 2 * PAGE, PAGE, PROT_READ.into(), 0, 0, 0]),
        0,
    );
    check.expect(
        "clock_gettime into the read-only page",
        syscall(nr::CLOCK_GETTIME, [1, base + 2 * PAGE, 0, 0, 0, 0]),
        err(Errno::EFAULT),
    );
    check.expect(
        "mprotect(page 2 PROT_NONE)",
        syscall(nr::MPROTECT, [base + 2 * PAGE, PAGE, PROT_NONE.into(), 0, 0, 0]),
        0,
    );
    check.expect(
        "write(1) from the PROT_NONE page",
        syscall(nr::WRITE, [1, base + 2 * PAGE, 1, 0, 0, 0]),
        err(Errno::EFAULT),
    );
    check.expect("mprotect(back to read-write)", syscall(nr::MPROTECT, [base, 4 * PAGE, read_write, 0, 0, 0]), 0);
    check.expect("clock_gettime into it again", syscall(nr::CLOCK_GETTIME, [1, base + 2 * PAGE, 0, 0, 0, 0]), 0);

    check.expect("madvise(unknown advice 999)", syscall(nr::MADVISE, [base, PAGE, 999, 0, 0, 0]), err(Errno::EINVAL));
    check.expect(
        "madvise(misaligned)",
        syscall(nr::MADVISE, [base + 1, PAGE, MADV_DONTNEED.into(), 0, 0, 0]),
        err(Errno::EINVAL),
    );
    check.expect(
        "madvise(MADV_REMOVE, private)",
        syscall(nr::MADVISE, [base, PAGE, MADV_REMOVE.into(), 0, 0, 0]),
        err(Errno::EINVAL),
    );
    check.expect(
        "madvise(unmapped)",
        syscall(nr::MADVISE, [hint, PAGE, MADV_DONTNEED.into(), 0, 0, 0]),
        err(Errno::ENOMEM),
    );
    check.expect("madvise(WILLNEED)", syscall(nr::MADVISE, [base, PAGE, MADV_WILLNEED.into(), 0, 0, 0]), 0);
    check.expect("madvise(DONTNEED)", syscall(nr::MADVISE, [base, 4 * PAGE, MADV_DONTNEED.into(), 0, 0, 0]), 0);
    check.expect("clock_gettime after DONTNEED", syscall(nr::CLOCK_GETTIME, [1, base + 2 * PAGE, 0, 0, 0, 0]), 0);

    let mremap = |old: u64, old_length: u64, new_length: u64, flags: u32, new: u64| {
        syscall(nr::MREMAP, [old, old_length, new_length, flags.into(), new, 0])
    };
    check.expect("mremap(unknown flag 8)", mremap(base, PAGE, PAGE, 8, 0), err(Errno::EINVAL));
    check.expect("mremap(FIXED without MAYMOVE)", mremap(base, PAGE, PAGE, MREMAP_FIXED, hint), err(Errno::EINVAL));
    check.expect(
        "mremap(DONTUNMAP, lengths differ)",
        mremap(base, PAGE, 2 * PAGE, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, 0),
        err(Errno::EINVAL),
    );
    check.expect("mremap(misaligned)", mremap(base + 1, PAGE, PAGE, 0, 0), err(Errno::EINVAL));
    check.expect("mremap(new length 0)", mremap(base, PAGE, 0, 0, 0), err(Errno::EINVAL));
    check.expect("mremap(unmapped)", mremap(hint, PAGE, 2 * PAGE, MREMAP_MAYMOVE, 0), err(Errno::EFAULT));
    check.expect(
        "mremap(past the mapping's end)",
        mremap(base, 8 * PAGE, 16 * PAGE, MREMAP_MAYMOVE, 0),
        err(Errno::EFAULT),
    );
    check.expect("mremap(shrink to 2 pages)", mremap(base, 4 * PAGE, 2 * PAGE, 0, 0), base as i64);
    check.expect(
        "mremap(MAYMOVE|FIXED to the hint)",
        mremap(base, 2 * PAGE, 2 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, hint),
        hint as i64,
    );
    check.expect(
        "mremap(FIXED overlapping itself)",
        mremap(hint, 2 * PAGE, 2 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, hint + PAGE),
        err(Errno::EINVAL),
    );
    check.expect("munmap(moved)", syscall(nr::MUNMAP, [hint, 2 * PAGE, 0, 0, 0, 0]), 0);
    check.expect("munmap(shared)", syscall(nr::MUNMAP, [shared as u64, PAGE, 0, 0, 0, 0]), 0);
    check.expect("munmap(populated)", syscall(nr::MUNMAP, [populated as u64, 2 * PAGE, 0, 0, 0, 0]), 0);
}

ulib::entry!(main);
