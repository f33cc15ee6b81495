//! System-call argument checking: bad pointers give EFAULT, bad arguments EINVAL, unknown numbers ENOSYS, as
//! on Linux. One line per check; exit 0 when all pass.
#![no_std]
#![no_main]

use abi::syscalls as nr;
use abi::Errno;
use ulib::sys::{self, syscall};
use ulib::Checker;

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
    check.finish()
}
ulib::entry!(main);
