//! Processes and threads on top of core-sched: the scheduler instance, user processes loaded from ELF images,
//! threads (clone), kernel threads, exit and user faults. Payloads start processes ([`spawn_process`]) and
//! kernel threads ([`spawn_kernel_thread`]), watch them through [`Process`], and give the CPU away with
//! [`yield_now`]; the scheduler itself stays inside the kernel.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, Ordering};

use arch_arm64::context::TaskContext;
use arch_arm64::exceptions::{TrapFrame, UserTrap};
use arch_arm64::Arm64;
use core_sched::{CpuSet, Errno, IrqSpinLock, Mm, MmId, Scheduler, Task, TaskId};

use crate::println;

/// The scheduler of every core.
pub(crate) static SCHED: Scheduler<Arm64> = Scheduler::new();

/// A task as core-sched sees it, on arm64.
pub type KernelTask = Task<Arm64>;

/// A user process: its threads share one mm.
pub struct Process {
    /// Process id (the id of its first thread).
    pub pid: u32,
    /// argv[0] at spawn.
    pub name: String,
    /// Addresses of the argument strings on the initial user stack.
    pub argv_addresses: alloc::vec::Vec<u64>,
    /// Length of each argument string (without its NUL).
    argument_lengths: alloc::vec::Vec<usize>,
    /// The argument strings as the process left them, copied by its last thread before it exits: the pages go
    /// with the last user of the mm, at once (see `read_argument`).
    arguments_at_exit: spin::Once<alloc::vec::Vec<alloc::vec::Vec<u8>>>,
    threads_alive: AtomicU32,
    /// Threads that have not yet dropped their user reference to the mm: the process is finished when the last
    /// one has, so that a waiter sees its pages already freed (Linux's `exit_mm` before `exit_notify`).
    threads_holding_mm: AtomicU32,
    exit_status: AtomicI32,
    /// exit_group was called or the process was killed: remaining threads exit at their next kernel entry.
    exiting: AtomicBool,
    finished: AtomicBool,
    /// Kernel threads sleeping in [`Process::wait_finished`].
    finished_waiters: core_sched::WaitQueue<Arm64>,
    /// The unimplemented system calls the process has tried, one bit per number (each is reported once).
    unimplemented_syscalls_reported: [AtomicU64; UNIMPLEMENTED_SYSCALL_WORDS],
    // --- The Linux process state of the system calls (files.rs, signals.rs, limits.rs) ---
    /// The file-descriptor table (0, 1, 2: the console).
    pub(crate) files: IrqSpinLock<Arm64, crate::files::FileTable>,
    /// Signal dispositions and process-directed pending signals.
    pub(crate) signals: IrqSpinLock<Arm64, crate::signals::ProcessSignals>,
    /// Resource limits (getrlimit/setrlimit/prlimit64).
    pub(crate) limits: IrqSpinLock<Arm64, crate::limits::ResourceLimits>,
    /// The regions of the address space, the program break and the stack (vm.rs); its lock also serializes
    /// the page-table changes made for them.
    pub(crate) memory: IrqSpinLock<Arm64, crate::vm::MemoryMap>,
    /// CPU time of the threads that exited (the live ones are asked from the scheduler).
    exited_threads_cpu_time: IrqSpinLock<Arm64, core_sched::CpuTime>,
}

/// The per-thread Linux state of the system calls: signal mask, pending signals, alternate stack, and the
/// addresses registered with set_tid_address / clone and set_robust_list (used at exit: futex.rs).
pub(crate) struct ThreadState {
    /// Signal mask, thread-directed pending signals and the alternate signal stack.
    pub(crate) signals: IrqSpinLock<Arm64, crate::signals::ThreadSignals>,
    /// The address registered with set_tid_address or CLONE_CHILD_CLEARTID (cleared and woken at exit).
    pub(crate) clear_child_tid: AtomicU64,
    /// The robust-futex list head registered with set_robust_list.
    pub(crate) robust_list_head: AtomicU64,
}

impl Default for ThreadState {
    fn default() -> Self {
        Self {
            signals: IrqSpinLock::new(crate::signals::ThreadSignals::default()),
            clear_child_tid: AtomicU64::new(0),
            robust_list_head: AtomicU64::new(0),
        }
    }
}

/// Words of `Process::unimplemented_syscalls_reported`: one bit per Linux system call number, plus a last bit
/// shared by every number beyond the table.
const UNIMPLEMENTED_SYSCALL_WORDS: usize = abi::syscalls::COUNT / 64 + 1;

impl Process {
    /// The id of its address space (a process's mm is created with its pid as id).
    pub fn mm_id(&self) -> MmId {
        MmId(self.pid)
    }

    /// Whether every thread has exited.
    pub fn is_finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }

    /// Sleeps until every thread has exited: on a wait queue that the last thread's exit wakes (core-sched's
    /// wait protocol: no wake-up is lost, and no polling: a waiting kernel thread takes no CPU time).
    pub fn wait_finished(&self) {
        let never_stops = || None::<core::convert::Infallible>;
        let Ok(()) = self.finished_waiters.wait_until(&SCHED, || self.is_finished(), never_stops);
    }
    /// The first `length` bytes of argument `index` as the process left them when it finished (a program may
    /// leave a result there, in place; the bench payload reads it): `None` before the process finished, or
    /// when `length` is longer than the argument. The user pages themselves are freed as the last thread
    /// exits, so the last thread copies the arguments out first.
    pub fn read_argument(&self, index: usize, length: usize) -> Option<alloc::vec::Vec<u8>> {
        let argument = self.arguments_at_exit.get()?.get(index)?;
        argument.get(..length).map(<[u8]>::to_vec)
    }

    /// Copies the argument strings out of `mm` for `read_argument` (by the last thread, before it exits).
    fn save_arguments(&self, mm: &Mm<Arm64>) {
        self.arguments_at_exit.call_once(|| {
            self.argv_addresses
                .iter()
                .zip(&self.argument_lengths)
                .map(|(&address, &length)| {
                    let mut bytes = alloc::vec![0u8; length];
                    // An argument the program made unreadable reads as zeros.
                    let _readable = mm.arch().copy_from_user(address as usize, &mut bytes);
                    bytes
                })
                .collect()
        });
    }

    /// Runs `body` on the process's address space while it still has a user (a live thread), holding a user
    /// reference for the duration so that its pages cannot be released under `body` (tests reach a running
    /// program's pages through it). `None` once the last thread exited.
    pub fn with_live_address_space<T>(&self, body: impl FnOnce(&arch_arm64::mmu::UserAddressSpace) -> T) -> Option<T> {
        let mm =
            THREADS.lock().values().find(|entry| entry.process.pid == self.pid).and_then(|entry| entry.task.mm())?;
        let user = mm.mmget_not_zero()?;
        drop(mm);
        let result = body(user.arch());
        user.mmput();
        Some(result)
    }

    /// Whether this is the first time the process tried unimplemented system call `number` (so that it is
    /// reported once, not on every retry).
    pub(crate) fn first_use_of_unimplemented_syscall(&self, number: usize) -> bool {
        let bit = number.min(UNIMPLEMENTED_SYSCALL_WORDS * 64 - 1);
        let mask = 1u64 << (bit % 64);
        self.unimplemented_syscalls_reported[bit / 64].fetch_or(mask, Ordering::Relaxed) & mask == 0
    }

    /// The exit status (valid once finished).
    pub fn exit_status(&self) -> i32 {
        self.exit_status.load(Ordering::Relaxed)
    }
}

/// A live user thread: its process, its task and its system-call state.
struct ThreadEntry {
    process: Arc<Process>,
    task: Arc<KernelTask>,
    state: Arc<ThreadState>,
}

/// Thread id -> its entry. Kernel threads are not in here.
static THREADS: IrqSpinLock<Arm64, BTreeMap<u32, ThreadEntry>> = IrqSpinLock::new(BTreeMap::new());

static NEXT_ID: AtomicU32 = AtomicU32::new(1);

/// Every user thread alive (for diagnostics).
pub(crate) fn all_threads() -> alloc::vec::Vec<Arc<KernelTask>> {
    THREADS.lock().values().map(|entry| entry.task.clone()).collect()
}

/// A fresh id for a task, process or mm (shared counter, like Linux's pid space; 0 is never used).
pub(crate) fn next_id() -> u32 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// The process of the running thread, `None` for a kernel thread.
pub(crate) fn current_process() -> Option<Arc<Process>> {
    let tid = SCHED.current().id().0;
    process_of(tid)
}

/// The process of thread `tid`.
pub fn process_of(tid: u32) -> Option<Arc<Process>> {
    THREADS.lock().get(&tid).map(|entry| entry.process.clone())
}

/// The task of user thread `tid`.
pub fn thread_task(tid: u32) -> Option<Arc<KernelTask>> {
    THREADS.lock().get(&tid).map(|entry| entry.task.clone())
}

/// The system-call state of the running thread, `None` for a kernel thread.
pub(crate) fn current_thread_state() -> Option<Arc<ThreadState>> {
    let tid = SCHED.current().id().0;
    THREADS.lock().get(&tid).map(|entry| entry.state.clone())
}

/// The state of user thread `tid` and its process.
pub(crate) fn thread_state(tid: u32) -> Option<(Arc<Process>, Arc<ThreadState>)> {
    THREADS.lock().get(&tid).map(|entry| (entry.process.clone(), entry.state.clone()))
}

/// The threads of process `pid` that are alive: id, task and state.
pub(crate) fn threads_of(pid: u32) -> alloc::vec::Vec<(u32, Arc<KernelTask>, Arc<ThreadState>)> {
    THREADS
        .lock()
        .iter()
        .filter(|(_, entry)| entry.process.pid == pid)
        .map(|(&tid, entry)| (tid, entry.task.clone(), entry.state.clone()))
        .collect()
}

/// The live processes (those with a thread alive), by pid.
pub fn live_processes() -> BTreeMap<u32, Arc<Process>> {
    THREADS.lock().values().map(|entry| (entry.process.pid, entry.process.clone())).collect()
}

/// How many user threads are alive.
pub fn live_thread_count() -> usize {
    THREADS.lock().len()
}

impl Process {
    /// Ends the process with `status` (a fatal signal), unless it is already ending; returns whether this call
    /// decided its status. Its threads exit at their next kernel entry (sleepers are woken for it).
    pub fn terminate(&self, status: i32) -> bool {
        if self.exiting.load(Ordering::Relaxed) {
            return false;
        }
        // The status before the flag: a thread that sees the flag and exits must find the status set.
        self.exit_status.store(status, Ordering::Relaxed);
        !self.begin_group_exit()
    }

    /// The CPU time of every thread, the exited ones included.
    pub fn cpu_time(&self) -> core_sched::CpuTime {
        // Held across the list and the sum, so that an exiting thread's time is either still live here or
        // already in the exited sum, never neither (the total would go back) nor both. Lock order:
        // exited_threads_cpu_time, then THREADS (released again before the sum), then run-queue locks; nothing
        // takes this lock under either of the others.
        let exited = self.exited_threads_cpu_time.lock();
        let live = threads_of(self.pid)
            .iter()
            .fold(core_sched::CpuTime::default(), |sum, (_, task, _)| sum + SCHED.cpu_time(task));
        *exited + live
    }
}

/// Every CPU online, as a core-sched set.
pub fn all_cpus() -> CpuSet {
    SCHED.online_cpus()
}

/// Brings the calling core into the scheduler: its boot flow becomes its idle task.
pub(crate) fn init_this_cpu() {
    let me = arch_arm64::cpu::cpu_id();
    let idle = Task::new_kernel_thread(TaskId(next_id()), CpuSet::single(me), TaskContext::for_boot_flow());
    SCHED.init_cpu(idle);
}

extern "C" fn user_task_first_entry(_argument: usize) -> ! {
    SCHED.finish_switch();
    arch_arm64::context::enter_user(SCHED.current())
}

/// Heap left free when a task is created: below it, creation fails (EAGAIN), because the allocations that follow
/// (the task itself, its thread-table entry, sleeper-list slots: a few KiB) are infallible.
const TASK_HEAP_RESERVE: usize = 256 * 1024;

/// A new task's registers and kernel stack, or EAGAIN at the thread limit ([`threads_max`]) or when page frames
/// or heap run short, as Linux's clone.
fn new_task_context(entry: extern "C" fn(usize) -> !, argument: usize, id: u32) -> Result<TaskContext, Errno> {
    if arch_arm64::heap::free() < TASK_HEAP_RESERVE {
        return Err(Errno::EAGAIN);
    }
    TaskContext::new_task(entry, argument, id).map_err(|_| Errno::EAGAIN)
}

/// Loads `image` as a new process with `argv` and makes its first thread runnable. Returns the process.
pub fn spawn_process(image: &[u8], argv: &[&str], cpu_hint: Option<usize>) -> Result<Arc<Process>, String> {
    spawn_process_with_affinity(image, argv, cpu_hint, all_cpus())
}

/// `spawn_process` with the first thread restricted to `affinity`.
pub fn spawn_process_with_affinity(
    image: &[u8],
    argv: &[&str],
    cpu_hint: Option<usize>,
    affinity: CpuSet,
) -> Result<Arc<Process>, String> {
    let program = crate::elf_loader::load(image, argv).map_err(|error| alloc::format!("{error}"))?;
    let pid = next_id();
    let mut context = new_task_context(user_task_first_entry, 0, pid)
        .map_err(|_| String::from("cannot create its first thread: thread limit reached or out of memory"))?;
    let mm = Mm::new(MmId(pid), program.address_space);
    context.set_user_entry(program.entry, program.stack_pointer, [0; 3]);
    // Read by getpid/gettid from the stack (the first thread's id is the process's).
    context.set_task_ids(pid, pid);
    let process = Arc::new(Process {
        pid,
        name: String::from(argv.first().copied().unwrap_or("?")),
        argv_addresses: program.argv_addresses,
        argument_lengths: argv.iter().map(|argument| argument.len()).collect(),
        arguments_at_exit: spin::Once::new(),
        threads_alive: AtomicU32::new(1),
        threads_holding_mm: AtomicU32::new(1),
        exit_status: AtomicI32::new(0),
        exiting: AtomicBool::new(false),
        finished: AtomicBool::new(false),
        finished_waiters: core_sched::WaitQueue::new(),
        unimplemented_syscalls_reported: [const { AtomicU64::new(0) }; UNIMPLEMENTED_SYSCALL_WORDS],
        files: IrqSpinLock::new(crate::files::FileTable::with_console()),
        signals: IrqSpinLock::new(crate::signals::ProcessSignals::default()),
        limits: IrqSpinLock::new(crate::limits::ResourceLimits::default()),
        memory: IrqSpinLock::new(program.memory_map),
        exited_threads_cpu_time: IrqSpinLock::new(core_sched::CpuTime::default()),
    });
    let task = Task::new_user(TaskId(pid), mm, affinity, context);
    let state = Arc::new(ThreadState::default());
    THREADS.lock().insert(pid, ThreadEntry { process: process.clone(), task: task.clone(), state });
    SCHED.spawn(task, cpu_hint).map_err(|error| alloc::format!("cannot schedule it: {error:?}"))?;
    Ok(process)
}

/// clone() for a thread: same mm, the caller's user context with clone's result 0 and the given stack (and TLS).
/// `before_start` runs with the new thread's id and state before it can run (clone's tid writes).
pub(crate) fn clone_thread(
    parent_frame: &TrapFrame,
    stack: u64,
    thread_pointer: Option<u64>,
    before_start: impl FnOnce(u32, &ThreadState),
) -> Result<u32, Errno> {
    let parent = SCHED.current();
    let process = current_process().ok_or(Errno::EINVAL)?;
    let mm = parent.mm().ok_or(Errno::EINVAL)?;
    let tid = next_id();
    // EAGAIN at the thread limit or without memory for the stack, as Linux's clone.
    let mut context = new_task_context(user_task_first_entry, 0, tid)?;
    context.set_user_frame_cloned_from(parent_frame, stack);
    context.set_task_ids(tid, process.pid);
    context.inherit_current_fp_state();
    context.set_thread_pointer(thread_pointer.unwrap_or_else(arch_arm64::cpu::user_thread_pointer));
    let task = Task::new_user(TaskId(tid), mm.mmget(), parent.affinity(), context);
    process.threads_alive.fetch_add(1, Ordering::Relaxed);
    process.threads_holding_mm.fetch_add(1, Ordering::Relaxed);
    // Like Linux's clone: the new thread inherits the signal mask; pending signals and the alternate stack
    // (with CLONE_VM) start empty.
    let state = Arc::new(ThreadState::default());
    if let Some(parent_state) = current_thread_state() {
        state.signals.lock().mask = parent_state.signals.lock().mask;
    }
    before_start(tid, &state);
    THREADS.lock().insert(tid, ThreadEntry { process: process.clone(), task: task.clone(), state });
    if let Err(error) = SCHED.spawn(task, None) {
        process.threads_alive.fetch_sub(1, Ordering::Relaxed);
        process.threads_holding_mm.fetch_sub(1, Ordering::Relaxed);
        let _removed = THREADS.lock().remove(&tid);
        return Err(error);
    }
    Ok(tid)
}

/// Ends the running user thread; the process finishes with its last thread. Never returns.
pub(crate) fn exit_current_thread(status: i32, whole_process: bool) -> ! {
    let tid = SCHED.current().id().0;
    let process = THREADS.lock().get(&tid).map(|entry| entry.process.clone());
    // The thread leaves the table and its time moves into the exited sum under the process's CPU-time lock, as
    // one step for Process::cpu_time (same lock order: this lock, THREADS, then this CPU's run-queue lock).
    let entry = process.and_then(|process| {
        let mut exited = process.exited_threads_cpu_time.lock();
        // Taken out first: THREADS' guard must not live on while the run-queue lock is taken.
        let entry = THREADS.lock().remove(&tid);
        if let Some(entry) = &entry {
            *exited = *exited + SCHED.cpu_time(&entry.task);
        }
        entry
    });
    if let Some(ThreadEntry { process, task, state }) = entry {
        // --- threads: robust futexes and the clear-child-tid word (futex.rs), while the thread owns its mm ---
        if let Some(mm) = task.mm() {
            crate::futex::exit_robust_list(&mm, state.robust_list_head.load(Ordering::Relaxed), tid);
            crate::futex::clear_child_tid_at_exit(&mm, state.clear_child_tid.load(Ordering::Relaxed));
        }
        // --- end threads ---
        // rseq: the registration and its concurrency id go while the thread still owns the mm.
        crate::rseq::exit_thread(&task);
        drop(state);
        // The first exit_group (or fault) decides the status; before it, the last exit() does.
        let status_is_decided =
            if whole_process { process.begin_group_exit() } else { process.exiting.load(Ordering::Relaxed) };
        if !status_is_decided {
            process.exit_status.store(status, Ordering::Relaxed);
        }
        if process.threads_alive.fetch_sub(1, Ordering::AcqRel) == 1 {
            // This thread still owns the mm (its user reference goes in exit_mm_current below).
            if let Some(mm) = task.mm() {
                process.save_arguments(&mm);
            }
            // `exiting` set for good here: a group exit under way leaves the count, and a kill that comes after the
            // last thread (terminate on a process whose threads are gone) finds it set and counts nothing, so
            // EXITING_PROCESSES cannot stay raised by a process with no thread to lower it.
            if process.exiting.swap(true, Ordering::Relaxed) {
                EXITING_PROCESSES.fetch_sub(1, Ordering::Relaxed);
                crate::user_return::remove_slow_path_reason();
            }
        }
        drop(task);
        // The user reference goes before the process can be seen finished: the last thread to drop it frees the
        // pages, then says so (AcqRel: every holder's release happens before the `finished` store).
        SCHED.exit_mm_current();
        if process.threads_holding_mm.fetch_sub(1, Ordering::AcqRel) == 1 {
            process.finished.store(true, Ordering::Release);
            process.finished_waiters.wake_all(&SCHED);
        }
    }
    SCHED.exit_current();
    unreachable!("an exited task was switched back in")
}

/// Processes that began a group exit and still have threads: while 0 (nearly always), the checks on every
/// return to EL0 cost one load instead of a thread lookup.
static EXITING_PROCESSES: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

impl Process {
    /// Marks the process as ending (exit_group or a fatal fault); returns whether it already was.
    fn begin_group_exit(&self) -> bool {
        let already = self.exiting.swap(true, Ordering::Relaxed);
        if !already {
            EXITING_PROCESSES.fetch_add(1, Ordering::Relaxed);
            crate::user_return::add_slow_path_reason();
            // --- threads: interruptible sleeps (futex waits) end; their wait loop sees `exiting` ---
            for (_, task, _) in threads_of(self.pid) {
                SCHED.wake(&task);
            }
        }
        already
    }
}

/// Called before returning to EL0: a thread whose process is exiting (exit_group, fault) ends here.
pub(crate) fn exit_if_process_exiting() {
    if EXITING_PROCESSES.load(Ordering::Relaxed) == 0 {
        return;
    }
    // The Arc must be gone before the exit, which never returns: it would keep the process and its pages.
    let exiting_with = current_process()
        .filter(|process| process.exiting.load(Ordering::Relaxed))
        .map(|process| process.exit_status());
    if let Some(status) = exiting_with {
        exit_current_thread(status, false);
    }
}

/// Whether the running thread's process is ending (exit_group or a fault): sleeps stop early then.
pub(crate) fn current_process_is_exiting() -> bool {
    EXITING_PROCESSES.load(Ordering::Relaxed) != 0
        && current_process().is_some_and(|process| process.exiting.load(Ordering::Relaxed))
}

/// A fault in user mode: report it and kill the faulting thread's process (as Linux's SIGSEGV/SIGILL/SIGBUS would),
/// leaving the kernel and every other process running.
pub(crate) fn kill_current_for_fault(fault: &UserTrap, pc: u64) -> ! {
    // In a block: nothing owned may stay on this stack across the exit, which never returns.
    {
        let tid = SCHED.current().id().0;
        let process = current_process();
        let (pid, name) = process.as_ref().map_or((0, "?"), |process| (process.pid, process.name.as_str()));
        println!("user fault: task {tid} (process {pid} '{name}') killed: {fault} at pc {pc:#x}");
    }
    // Like a group exit with Linux's status for the signal it sends, unless one is already under way: 128 +
    // SIGBUS (7) for a misaligned stack pointer, 128 + SIGSEGV (11) otherwise.
    let status = match fault {
        UserTrap::SpAlignment => 135,
        _ => 139,
    };
    exit_current_thread(status, true)
}

/// A demand fault at `address` that found no free page frame: kill the faulting thread's process with Linux's
/// status for the OOM killer's SIGKILL (128 + 9), leaving the kernel and every other process running.
pub(crate) fn kill_current_out_of_memory(address: u64, pc: u64) -> ! {
    {
        let tid = SCHED.current().id().0;
        let process = current_process();
        let (pid, name) = process.as_ref().map_or((0, "?"), |process| (process.pid, process.name.as_str()));
        println!(
            "user fault: task {tid} (process {pid} '{name}') killed: out of memory (no page frame for address \
             {address:#x}) at pc {pc:#x}"
        );
    }
    exit_current_thread(137, true)
}

/// Gives the CPU to the next runnable task on this core, if any (the kernel's `sched_yield`).
// Inline: the bench's peer kernel thread yields in a loop inside a measured region, and a call through an
// extra non-inlined frame would add instructions that are not the switch's.
#[inline]
pub fn yield_now() {
    SCHED.yield_now();
}

/// Makes the calling kernel thread use `mm` as its user address space (Linux's `kthread_use_mm`): its user
/// accesses go through `mm`'s page table, and membarrier treats the thread as one of `mm`'s. The caller holds a
/// user reference (`mm.mmget()`) until after [`kthread_unuse_mm`].
pub fn kthread_use_mm(mm: &Arc<Mm<Arm64>>) {
    SCHED.kthread_use_mm(mm);
}

/// Ends the calling kernel thread's [`kthread_use_mm`].
pub fn kthread_unuse_mm() {
    SCHED.kthread_unuse_mm();
}

/// The most tasks (user threads and kernel threads, the per-core idle tasks aside) that can exist at once, Linux's
/// `threads-max`: one kernel stack each, and at most an eighth of RAM for kernel stacks (the formula is in
/// `arch_arm64::kernel_stacks`). Creating one more fails with EAGAIN (clone, kernel threads) or an error
/// (spawn_process). What RLIMIT_NPROC and sysinfo report.
pub fn threads_max() -> usize {
    arch_arm64::kernel_stacks::capacity()
}

/// A kernel stack overflow, from the exception vector on the core's emergency stack: names the task and ends
/// the run as a kernel bug (panic, status 101). Allocates nothing and only tries the thread table's lock: the
/// overflow may have happened anywhere, with any lock held.
pub(crate) fn report_kernel_stack_overflow(overflow: &arch_arm64::exceptions::KernelStackOverflow) -> ! {
    let threads = THREADS.try_lock();
    let entry = overflow.task_id.zip(threads.as_ref()).and_then(|(tid, threads)| threads.get(&tid));
    match (overflow.task_id, entry, threads.is_some()) {
        (Some(tid), Some(entry), _) => panic!(
            "kernel stack overflow in task {tid} (process {} '{}') {overflow}",
            entry.process.pid, entry.process.name
        ),
        (Some(tid), None, true) => panic!("kernel stack overflow in task {tid} (kernel thread) {overflow}"),
        (Some(tid), None, false) => panic!("kernel stack overflow in task {tid} {overflow}"),
        (None, _, _) => panic!("kernel stack overflow in a task without a recorded id {overflow}"),
    }
}

/// A kernel thread running `body(argument)` then exiting.
pub fn spawn_kernel_thread(body: fn(usize), argument: usize, affinity: CpuSet) -> Result<Arc<KernelTask>, Errno> {
    let id = next_id();
    let context = new_task_context(kernel_thread_first_entry, id as usize, id)?;
    KERNEL_THREAD_BODIES.lock().insert(id, (body, argument));
    let task = Task::new_kernel_thread(TaskId(id), affinity, context);
    SCHED.spawn(task.clone(), None)?;
    Ok(task)
}

/// What each new kernel thread runs, by task id, until it starts.
type KernelThreadBody = (fn(usize), usize);
static KERNEL_THREAD_BODIES: IrqSpinLock<Arm64, BTreeMap<u32, KernelThreadBody>> = IrqSpinLock::new(BTreeMap::new());

extern "C" fn kernel_thread_first_entry(id: usize) -> ! {
    SCHED.finish_switch();
    let (body, argument) =
        KERNEL_THREAD_BODIES.lock().remove(&(id as u32)).expect("a kernel thread starts with its body registered");
    arch_arm64::cpu::irq_enable();
    body(argument);
    arch_arm64::cpu::irq_disable();
    SCHED.exit_current();
    unreachable!("an exited kernel thread was switched back in")
}

/// Blocks the running task until `deadline` (in `now_ns` time; `u64::MAX`: until its process exits), woken by
/// its CPU's timer at the deadline (see `timer_queue`).
pub(crate) fn sleep_until(deadline: u64) {
    let current = SCHED.current();
    // Each round uses core-sched's wait protocol with interrupts masked: the task is marked blocked first, then
    // checks its deadline and whether its process is exiting, then queues itself on this CPU's timer queue and
    // blocks. A wake from any CPU after the mark (a group exit's `SCHED.wake`, this CPU's timer) makes the block
    // return at once, so none is lost between the checks and the block; the exit's store of `exiting` is seen
    // by the check or its wake finds the task marked (both go through the task's scheduler lock). A round ends
    // early when something else woke the task.
    loop {
        let done = core_sched::without_interrupts::<Arm64, _>(|masked| {
            SCHED.prepare_to_block(masked);
            if arch_arm64::cpu::now_ns() >= deadline || current_process_is_exiting() {
                SCHED.cancel_block(masked);
                return true;
            }
            let cpu = crate::timer_queue::add_sleeper(deadline, current.clone());
            SCHED.block_prepared(masked);
            crate::timer_queue::remove_sleeper(cpu, &current);
            false
        });
        if done {
            return;
        }
    }
}

/// Called from every tick: wakes this CPU's blocked sleepers whose process is exiting (exit_group, a fault),
/// so that a sleep of any length ends with its process.
pub(crate) fn wake_sleepers_of_exiting_processes() {
    if EXITING_PROCESSES.load(Ordering::Relaxed) == 0 {
        return;
    }
    for task in crate::timer_queue::sleepers_here() {
        if process_of(task.id().0).is_some_and(|process| process.exiting.load(Ordering::Relaxed)) {
            SCHED.wake(&task);
        }
    }
}
