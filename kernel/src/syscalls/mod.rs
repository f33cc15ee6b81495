//! System calls with Linux's arm64 ABI. The arch crate decodes the trap into a number and six arguments and
//! takes the result back through `TrapFrame::set_syscall_return`; here the number selects a handler, one module
//! per area, each returning `Result<usize, Errno>` (each arm encodes its result as `-errno` or the value). Handlers
//! reach user memory only through [`UserPtr`] and [`UserSlice`], whose only way in is the checked copy: a bad
//! pointer is EFAULT, never a kernel fault.
//!
//! An unknown number returns ENOSYS, and the first time a process uses each unknown number the console says
//! which call it was (`pid 7: unimplemented syscall 280 (bpf)`), so a user sees why a program fails.

mod fd;
mod futex;
mod membarrier;
mod memory;
mod poll;
mod resource;
mod rseq;
mod sched;
mod signal;
mod system;
mod thread;
mod time;
mod user_memory;

use abi::syscalls as nr;
use abi::{syscall_return_value, Errno};
use arch_arm64::exceptions::{SyscallFrame, TrapFrame, UserTrap};

use crate::println;
use crate::process;
pub use user_memory::{UserCString, UserPtr, UserSlice};

/// A system call from EL0, called by the arch's vector assembly directly (the SVC test comes before any other
/// decoding): the number and arguments are read from the frame, the result goes into its x0.
pub extern "C" fn handle_syscall(frame: &mut SyscallFrame) {
    arch_arm64::cpu::irq_enable();
    let result = dispatch(frame.syscall_number(), frame);
    frame.set_syscall_return(result);
    arch_arm64::cpu::irq_disable();
    crate::user_return::before_return_to_user(frame);
}

/// Every other synchronous exception from EL0 (the arch sends each system call to [`handle_syscall`]). A page
/// fault may be a first touch (vm.rs: inside a region that allows the access a zeroed page is mapped and the
/// program resumes); everything else kills the process.
pub fn handle_user_trap(trap: UserTrap, frame: &mut TrapFrame) {
    if let UserTrap::PageFault { address, access, kind } = trap {
        match crate::vm::handle_user_page_fault(address, access, kind) {
            crate::vm::FaultResolution::Resumed => {
                process::exit_if_process_exiting();
                // rseq hook, as on every return to user mode.
                return crate::rseq::before_return_to_user(frame);
            }
            crate::vm::FaultResolution::OutOfMemory => {
                process::kill_current_out_of_memory(address, frame.return_address())
            }
            crate::vm::FaultResolution::Invalid => {}
        }
    }
    process::kill_current_for_fault(&trap, frame.return_address())
}

/// The handler of system call `number` with its arguments in `frame`, by number (a jump table), and its result
/// as the value for x0 (`-errno` on failure). Each arm encodes its own result: a handler inlined here (`getpid`)
/// then hands its value over in a register, where one encoding after the `match` made every arm go through a
/// `Result` in memory.
fn dispatch(number: usize, frame: &SyscallFrame) -> u64 {
    let [a0, a1, a2, a3, a4, a5] = frame.syscall_arguments();
    match number {
        // Descriptors (the console as 0, 1, 2).
        nr::WRITE => syscall_return_value(fd::write(a0, UserSlice::new(a1, a2))),
        nr::WRITEV => syscall_return_value(fd::writev(a0, a1, a2)),
        nr::READ => syscall_return_value(fd::read(a0, UserSlice::new(a1, a2))),
        nr::READV => syscall_return_value(fd::readv(a0, a1, a2)),
        nr::CLOSE => syscall_return_value(fd::close(a0)),
        nr::DUP => syscall_return_value(fd::dup(a0)),
        nr::DUP3 => syscall_return_value(fd::dup3(a0, a1, a2)),
        nr::FCNTL => syscall_return_value(fd::fcntl(a0, a1, a2)),
        nr::IOCTL => syscall_return_value(fd::ioctl(a0, a1, a2)),
        nr::FSTAT => syscall_return_value(fd::fstat(a0, UserPtr::new(a1))),
        nr::NEWFSTATAT => syscall_return_value(fd::newfstatat(a0, UserCString::new(a1), UserPtr::new(a2), a3)),
        nr::OPENAT => syscall_return_value(fd::openat(UserCString::new(a1))),
        nr::READLINKAT => syscall_return_value(fd::readlinkat(UserCString::new(a1), a3)),
        nr::FACCESSAT => syscall_return_value(fd::faccessat(UserCString::new(a1), a2, 0)),
        nr::FACCESSAT2 => syscall_return_value(fd::faccessat(UserCString::new(a1), a2, a3)),
        nr::PPOLL => syscall_return_value(poll::ppoll(a0, a1, UserPtr::new(a2), a3, a4)),
        nr::PSELECT6 => syscall_return_value(poll::pselect6(a0, [a1, a2, a3], UserPtr::new(a4), a5)),
        // Memory (vm.rs).
        nr::BRK => syscall_return_value(memory::brk(a0)),
        nr::MMAP => syscall_return_value(memory::mmap(a0, a1, a2, a3, a4, a5)),
        nr::MUNMAP => syscall_return_value(memory::munmap(a0, a1)),
        nr::MPROTECT => syscall_return_value(memory::mprotect(a0, a1, a2)),
        nr::MADVISE => syscall_return_value(memory::madvise(a0, a1, a2)),
        nr::MREMAP => syscall_return_value(memory::mremap(a0, a1, a2, a3, a4)),
        nr::MINCORE => syscall_return_value(memory::mincore(a0, a1, UserSlice::new(a2, a1.div_ceil(4096)))),
        // Processes, threads and the system.
        nr::EXIT => thread::exit(a0 as i32),
        nr::EXIT_GROUP => thread::exit_group(a0 as i32),
        nr::SET_TID_ADDRESS => syscall_return_value(thread::set_tid_address(frame, a0)),
        nr::SET_ROBUST_LIST => syscall_return_value(thread::set_robust_list(a0, a1)),
        nr::GET_ROBUST_LIST => syscall_return_value(thread::get_robust_list(a0, UserPtr::new(a1), UserPtr::new(a2))),
        nr::UNAME => syscall_return_value(system::uname(UserPtr::new(a0))),
        nr::GETPPID => syscall_return_value(system::getppid()),
        nr::GETUID | nr::GETEUID | nr::GETGID | nr::GETEGID => syscall_return_value(system::root_id()),
        nr::GETGROUPS => syscall_return_value(system::getgroups(a0)),
        nr::SYSINFO => syscall_return_value(system::sysinfo(UserPtr::new(a0))),
        nr::GETRANDOM => syscall_return_value(system::getrandom(UserSlice::new(a0, a1), a2)),
        nr::PRLIMIT64 => syscall_return_value(resource::prlimit64(a0, a1, UserPtr::new(a2), UserPtr::new(a3))),
        nr::GETRLIMIT => syscall_return_value(resource::getrlimit(a0, UserPtr::new(a1))),
        nr::SETRLIMIT => syscall_return_value(resource::setrlimit(a0, UserPtr::new(a1))),
        nr::GETRUSAGE => syscall_return_value(resource::getrusage(a0, UserPtr::new(a1))),
        nr::TIMES => syscall_return_value(resource::times(UserPtr::new(a0))),
        // Signals.
        nr::RT_SIGACTION => syscall_return_value(signal::rt_sigaction(a0, UserPtr::new(a1), UserPtr::new(a2), a3)),
        nr::RT_SIGPROCMASK => syscall_return_value(signal::rt_sigprocmask(a0, UserPtr::new(a1), UserPtr::new(a2), a3)),
        nr::RT_SIGPENDING => syscall_return_value(signal::rt_sigpending(UserSlice::new(a0, a1), a1)),
        nr::SIGALTSTACK => syscall_return_value(signal::sigaltstack(UserPtr::new(a0), UserPtr::new(a1))),
        nr::KILL => syscall_return_value(signal::kill(a0, a1)),
        nr::TGKILL => syscall_return_value(signal::tgkill(a0, a1, a2)),
        nr::TKILL => syscall_return_value(signal::tkill(a0, a1)),
        // Time.
        nr::NANOSLEEP => syscall_return_value(time::nanosleep(UserPtr::new(a0))),
        nr::CLOCK_NANOSLEEP => syscall_return_value(time::clock_nanosleep(a0, a1, UserPtr::new(a2))),
        nr::CLOCK_GETTIME => syscall_return_value(time::clock_gettime(a0, UserPtr::new(a1))),
        nr::CLOCK_GETRES => syscall_return_value(time::clock_getres(a0, UserPtr::new(a1))),
        nr::GETTIMEOFDAY => syscall_return_value(time::gettimeofday(UserPtr::new(a0), UserPtr::new(a1))),
        // Scheduling.
        nr::SCHED_SETAFFINITY => syscall_return_value(sched::sched_setaffinity(a0, a1, a2)),
        nr::SCHED_GETAFFINITY => syscall_return_value(sched::sched_getaffinity(a0, a1, a2)),
        nr::SCHED_YIELD => syscall_return_value(sched::sched_yield()),
        nr::GETCPU => syscall_return_value(sched::getcpu(UserPtr::new(a0), UserPtr::new(a1))),
        nr::GETPID => syscall_return_value(thread::getpid(frame)),
        nr::GETTID => syscall_return_value(thread::gettid(frame)),
        // The one call that reads the whole frame (x19-x28 too): the arch saves it whole for this number only
        // (vectors.s, `syscall_entry`); a new call that reads or replaces the frame must be added there.
        nr::CLONE => syscall_return_value(thread::clone(frame, a0, a1, a2, a3, a4)),
        nr::FUTEX => syscall_return_value(futex::futex(a0, a1, a2, a3, a4, a5)),
        nr::SCHED_GETSCHEDULER => syscall_return_value(sched::sched_getscheduler(a0)),
        nr::SCHED_GETPARAM => syscall_return_value(sched::sched_getparam(a0, UserPtr::new(a1))),
        nr::SCHED_GET_PRIORITY_MAX => syscall_return_value(sched::sched_get_priority_max(a0)),
        nr::SCHED_GET_PRIORITY_MIN => syscall_return_value(sched::sched_get_priority_min(a0)),
        nr::GETPRIORITY => syscall_return_value(sched::getpriority(a0, a1)),
        nr::SETPRIORITY => syscall_return_value(sched::setpriority(a0, a1, a2)),
        nr::MEMBARRIER => membarrier::membarrier(a0, a1, a2),
        nr::RSEQ => syscall_return_value(rseq::rseq(a0, a1, a2, a3)),
        _ => syscall_return_value(unimplemented(number)),
    }
}

/// ENOSYS, reported on the console the first time the calling process uses `number`.
fn unimplemented(number: usize) -> Result<usize, Errno> {
    if let Some(process) = process::current_process() {
        if process.first_use_of_unimplemented_syscall(number) {
            let name = nr::name(number).unwrap_or("not a Linux arm64 system call");
            println!("pid {}: unimplemented syscall {number} ({name})", process.pid);
        }
    }
    Err(Errno::ENOSYS)
}
