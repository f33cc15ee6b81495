//! rseq on the mock arch: the scheduler's switch-out raises the event, and the return-to-user fixup moves a
//! preempted task from inside its critical section to the abort handler (and leaves one outside alone); the
//! registration's errnos; concurrency ids dense from 0 and held only while running.

use alloc::sync::Arc;
use std::collections::BTreeMap;
use std::vec::Vec;

use super::mock::*;
use crate::rseq::*;
use crate::task::Task;
use crate::{CpuSet, Errno, Mm};

/// A sparse user memory: unmapped bytes fault.
#[derive(Default)]
struct FakeMemory {
    bytes: BTreeMap<u64, u8>,
}

impl FakeMemory {
    fn map(&mut self, start: u64, length: u64) {
        for address in start..start + length {
            self.bytes.insert(address, 0);
        }
    }
    fn read(&self, address: u64, length: u64) -> Result<u64, UserFault> {
        (0..length).rev().try_fold(0u64, |value, index| {
            self.bytes.get(&(address + index)).map(|&byte| value << 8 | u64::from(byte)).ok_or(UserFault)
        })
    }
    fn write(&mut self, address: u64, length: u64, value: u64) -> Result<(), UserFault> {
        for index in 0..length {
            *self.bytes.get_mut(&(address + index)).ok_or(UserFault)? = (value >> (8 * index)) as u8;
        }
        Ok(())
    }
}

impl RseqUserMemory for FakeMemory {
    fn read_u32(&mut self, address: u64) -> Result<u32, UserFault> {
        self.read(address, 4).map(|value| value as u32)
    }
    fn read_u64(&mut self, address: u64) -> Result<u64, UserFault> {
        self.read(address, 8)
    }
    fn write_u32(&mut self, address: u64, value: u32) -> Result<(), UserFault> {
        self.write(address, 4, value.into())
    }
    fn write_u64(&mut self, address: u64, value: u64) -> Result<(), UserFault> {
        self.write(address, 8, value)
    }
}

const AREA: u64 = 0x10_0000;
const SECOND_AREA: u64 = 0x10_0040;
const DESCRIPTOR: u64 = 0x11_0000;
const SIGNATURE: u32 = 0xd428_bc00;
const START_IP: u64 = 0x40_1000;
const POST_COMMIT_OFFSET: u64 = 0x20;
const ABORT_IP: u64 = 0x40_2004;

/// Memory with two registrable areas, a descriptor for [START_IP, START_IP + 0x20) and the signature word
/// before ABORT_IP.
fn memory() -> FakeMemory {
    let mut memory = FakeMemory::default();
    memory.map(AREA, 0x80);
    memory.map(DESCRIPTOR, 32);
    memory.map(ABORT_IP - 4, 4);
    memory.write(DESCRIPTOR + 8, 8, START_IP).unwrap();
    memory.write(DESCRIPTOR + 16, 8, POST_COMMIT_OFFSET).unwrap();
    memory.write(DESCRIPTOR + 24, 8, ABORT_IP).unwrap();
    memory.write(ABORT_IP - 4, 4, SIGNATURE.into()).unwrap();
    memory
}

fn enter_critical_section(memory: &mut FakeMemory, area: u64) {
    memory.write(area + 8, 8, DESCRIPTOR).unwrap();
}

fn cpu_id(memory: &FakeMemory, area: u64) -> u64 {
    memory.read(area + 4, 4).unwrap()
}

fn mm_cid(memory: &FakeMemory, area: u64) -> u64 {
    memory.read(area + 24, 4).unwrap()
}

fn resume(task: &Task<Mock>, mm: &Mm<Mock>, memory: &mut FakeMemory, pc: &mut u64) -> Result<Resume, UserFault> {
    handle_notify_resume(task, mm, cpu() as u32, memory, pc, false)
}

/// An mm, two of its threads, and their memory.
type Pair = (Arc<Mm<Mock>>, Arc<Task<Mock>>, Arc<Task<Mock>>, FakeMemory);

/// Two threads of one mm on CPU 0, the first running and registered, its ids filled.
fn registered_pair() -> Pair {
    // The scheduler stays installed for the test's thread (mock.rs); preempt_and_resume finds it there.
    let sched = setup(1);
    let mm = new_mm(7);
    let first = user(1, mm.clone(), CpuSet::single(0));
    let second = user(2, mm.mmget(), CpuSet::single(0));
    sched.spawn(first.clone(), None).unwrap();
    run_on(sched, 0, &first);
    let mut memory = memory();
    assert_eq!(sys_rseq(&first, &mm, &mut memory, AREA, 32, 0, SIGNATURE), Ok(()));
    let mut pc = 0x40_0000;
    assert_eq!(resume(&first, &mm, &mut memory, &mut pc), Ok(Resume::IdsUpdated));
    assert_eq!(cpu_id(&memory, AREA), 0);
    sched.spawn(second.clone(), None).unwrap();
    (mm, first, second, memory)
}

/// `first` is preempted by `second` and switched back in.
fn preempt_and_resume(first: &Arc<Task<Mock>>, second: &Arc<Task<Mock>>) {
    let sched = installed_scheduler();
    sched.yield_now();
    assert!(Arc::ptr_eq(&sched.current(), second));
    sched.yield_now();
    assert!(Arc::ptr_eq(&sched.current(), first));
}

#[test]
fn preempted_inside_critical_section_resumes_at_abort_ip() {
    let (mm, first, second, mut memory) = registered_pair();
    enter_critical_section(&mut memory, AREA);
    preempt_and_resume(&first, &second);
    assert!(first.rseq.notify_pending(), "the switch-out raises the event");
    let mut pc = START_IP + 0x10;
    assert_eq!(resume(&first, &mm, &mut memory, &mut pc), Ok(Resume::Aborted { from: START_IP + 0x10 }));
    assert_eq!(pc, ABORT_IP);
    assert_eq!(memory.read(AREA + 8, 8), Ok(0), "rseq_cs cleared");
    // The first instruction of the section counts as inside; post_commit_ip does not.
    for (pc_at_preemption, aborted) in [(START_IP, true), (START_IP + POST_COMMIT_OFFSET, false)] {
        enter_critical_section(&mut memory, AREA);
        preempt_and_resume(&first, &second);
        let mut pc = pc_at_preemption;
        let expected = if aborted { Resume::Aborted { from: pc } } else { Resume::IdsUpdated };
        assert_eq!(resume(&first, &mm, &mut memory, &mut pc), Ok(expected));
        assert_eq!(pc, if aborted { ABORT_IP } else { pc_at_preemption });
    }
}

#[test]
fn preempted_outside_critical_section_resumes_where_it_was() {
    let (mm, first, second, mut memory) = registered_pair();
    enter_critical_section(&mut memory, AREA);
    preempt_and_resume(&first, &second);
    let mut pc = ABORT_IP + 0x100;
    assert_eq!(resume(&first, &mm, &mut memory, &mut pc), Ok(Resume::IdsUpdated));
    assert_eq!(pc, ABORT_IP + 0x100);
    assert_eq!(memory.read(AREA + 8, 8), Ok(0), "rseq_cs cleared lazily");
}

#[test]
fn not_preempted_inside_critical_section_is_left_alone() {
    let (mm, first, _second, mut memory) = registered_pair();
    enter_critical_section(&mut memory, AREA);
    let mut pc = START_IP + 4;
    assert_eq!(resume(&first, &mm, &mut memory, &mut pc), Ok(Resume::Unchanged));
    assert_eq!(pc, START_IP + 4);
    assert_eq!(memory.read(AREA + 8, 8), Ok(DESCRIPTOR));
}

#[test]
fn the_broken_variant_skips_the_abort() {
    let (mm, first, second, mut memory) = registered_pair();
    enter_critical_section(&mut memory, AREA);
    preempt_and_resume(&first, &second);
    let mut pc = START_IP + 4;
    assert_eq!(handle_notify_resume(&first, &mm, 0, &mut memory, &mut pc, true), Ok(Resume::IdsUpdated));
    assert_eq!(pc, START_IP + 4);
}

#[test]
fn bad_signature_or_descriptor_is_a_fault() {
    let (mm, first, second, mut memory) = registered_pair();
    memory.write(ABORT_IP - 4, 4, 0x1234).unwrap();
    enter_critical_section(&mut memory, AREA);
    preempt_and_resume(&first, &second);
    let mut pc = START_IP;
    assert_eq!(resume(&first, &mm, &mut memory, &mut pc), Err(UserFault));
    // An abort handler inside its own section.
    memory.write(ABORT_IP - 4, 4, SIGNATURE.into()).unwrap();
    memory.write(DESCRIPTOR + 24, 8, START_IP + 8).unwrap();
    enter_critical_section(&mut memory, AREA);
    preempt_and_resume(&first, &second);
    assert_eq!(resume(&first, &mm, &mut memory, &mut pc), Err(UserFault));
}

#[test]
fn registration_errnos_follow_linux() {
    let (mm, first, _second, mut memory) = registered_pair();
    let mut call = |area, length, flags, signature| sys_rseq(&first, &mm, &mut memory, area, length, flags, signature);
    // Registered: another area or length EINVAL, another signature EPERM, the same EBUSY; unknown flags EINVAL.
    assert_eq!(call(SECOND_AREA, 32, 0, SIGNATURE), Err(Errno::EINVAL));
    assert_eq!(call(AREA, 64, 0, SIGNATURE), Err(Errno::EINVAL));
    assert_eq!(call(AREA, 32, 0, SIGNATURE + 1), Err(Errno::EPERM));
    assert_eq!(call(AREA, 32, 0, SIGNATURE), Err(Errno::EBUSY));
    assert_eq!(call(AREA, 32, 2, SIGNATURE), Err(Errno::EINVAL));
    // Unregistration: extra flags, another area or length EINVAL, another signature EPERM.
    assert_eq!(call(AREA, 32, RSEQ_FLAG_UNREGISTER | 2, SIGNATURE), Err(Errno::EINVAL));
    assert_eq!(call(SECOND_AREA, 32, RSEQ_FLAG_UNREGISTER, SIGNATURE), Err(Errno::EINVAL));
    assert_eq!(call(AREA, 64, RSEQ_FLAG_UNREGISTER, SIGNATURE), Err(Errno::EINVAL));
    assert_eq!(call(AREA, 32, RSEQ_FLAG_UNREGISTER, SIGNATURE + 1), Err(Errno::EPERM));
    assert_eq!(call(AREA, 32, RSEQ_FLAG_UNREGISTER, SIGNATURE), Ok(()));
    assert_eq!(call(AREA, 32, RSEQ_FLAG_UNREGISTER, SIGNATURE), Err(Errno::EINVAL), "no longer registered");
    // Unregistered: misaligned or short EINVAL; beyond user space or unmapped EFAULT.
    assert_eq!(call(AREA + 16, 32, 0, SIGNATURE), Err(Errno::EINVAL));
    assert_eq!(call(AREA, 16, 0, SIGNATURE), Err(Errno::EINVAL));
    assert_eq!(call(1 << 48, 32, 0, SIGNATURE), Err(Errno::EFAULT));
    assert_eq!(call(0x20_0000, 32, 0, SIGNATURE), Err(Errno::EFAULT));
    // A longer area (glibc's 32 with the feature size 28 fits; a larger one must cover the features).
    assert_eq!(call(SECOND_AREA, 64, 0, SIGNATURE), Ok(()));
    assert_eq!(cpu_id(&memory, AREA), u64::from(RSEQ_CPU_ID_UNINITIALIZED), "reset at unregistration");
}

#[test]
fn concurrency_ids_are_dense_and_held_only_while_running() {
    let sched = setup(2);
    let mm = new_mm(9);
    let first = user(1, mm.clone(), CpuSet::single(0));
    let second = user(2, mm.mmget(), CpuSet::single(1));
    let mut memory = memory();
    sched.spawn(first.clone(), None).unwrap();
    sched.spawn(second.clone(), None).unwrap();
    for (cpu, task, area) in [(0, &first, AREA), (1, &second, SECOND_AREA)] {
        run_on(sched, cpu, task);
        set_cpu(cpu);
        assert_eq!(sys_rseq(task, &mm, &mut memory, area, 32, 0, SIGNATURE), Ok(()));
        let mut pc = 0;
        assert_eq!(resume(task, &mm, &mut memory, &mut pc), Ok(Resume::IdsUpdated));
        assert_eq!(cpu_id(&memory, area), cpu as u64);
    }
    assert_eq!((mm_cid(&memory, AREA), mm_cid(&memory, SECOND_AREA)), (0, 1));
    // The first thread blocks: its id goes back, and the second, switched in again, takes the lowest free.
    set_cpu(0);
    sched.block_current();
    assert_eq!(first.rseq.concurrency_id(), None);
    set_cpu(1);
    let third = user(3, mm.mmget(), CpuSet::single(1));
    sched.spawn(third.clone(), None).unwrap();
    run_on(sched, 1, &third);
    assert_eq!(mm.rseq_cids.held(), 0, "no running registered thread holds an id");
    run_on(sched, 1, &second);
    let mut pc = 0;
    assert_eq!(resume(&second, &mm, &mut memory, &mut pc), Ok(Resume::IdsUpdated));
    assert_eq!(mm_cid(&memory, SECOND_AREA), 0);
    unregister(&second, &mm);
    assert_eq!(mm.rseq_cids.held(), 0);
}

#[test]
fn membarrier_rseq_restarts_the_section_running_on_the_target_cpu() {
    use crate::membarrier::*;
    let sched = setup(2);
    let mm = new_mm(5);
    let caller = user(1, mm.clone(), CpuSet::single(0));
    let other = user(2, mm.mmget(), CpuSet::single(1));
    sched.spawn(caller.clone(), None).unwrap();
    sched.spawn(other.clone(), None).unwrap();
    run_on(sched, 0, &caller);
    run_on(sched, 1, &other);
    let mut memory = memory();
    set_cpu(1);
    assert_eq!(sys_rseq(&other, &mm, &mut memory, AREA, 32, 0, SIGNATURE), Ok(()));
    let mut pc = 0;
    assert_eq!(resume(&other, &mm, &mut memory, &mut pc), Ok(Resume::IdsUpdated));
    enter_critical_section(&mut memory, AREA);
    set_cpu(0);
    assert_eq!(sched.membarrier(&caller, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ, 0, 0), Ok(0));
    assert!(!other.rseq.notify_pending());
    // Aimed at CPU 0 only: the thread on CPU 1 is left alone.
    assert_eq!(sched.membarrier(&caller, MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ, MEMBARRIER_CMD_FLAG_CPU, 0), Ok(0));
    assert!(!other.rseq.notify_pending());
    assert_eq!(sched.membarrier(&caller, MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ, MEMBARRIER_CMD_FLAG_CPU, 1), Ok(0));
    assert!(other.rseq.notify_pending(), "the IPI raised the event");
    set_cpu(1);
    let mut pc = START_IP + 8;
    assert_eq!(resume(&other, &mm, &mut memory, &mut pc), Ok(Resume::Aborted { from: START_IP + 8 }));
    assert_eq!(pc, ABORT_IP);
}

/// PRIVATE_EXPEDITED_RSEQ without FLAG_CPU (whatever `cpu_id` holds) restarts the sections on every other CPU
/// running the mm, not the caller's own (Linux's smp_call_function_many skips the caller); with FLAG_CPU aimed
/// at the caller's CPU it restarts the caller's (smp_call_function_single runs it there); a plain
/// PRIVATE_EXPEDITED barrier restarts none.
#[test]
fn membarrier_rseq_spares_the_caller_unless_aimed_at_its_cpu() {
    use crate::membarrier::*;
    let sched = setup(3);
    let mm = new_mm(5);
    let caller = user(1, mm.clone(), CpuSet::single(0));
    let middle = user(2, mm.mmget(), CpuSet::single(1));
    let last = user(3, mm.mmget(), CpuSet::single(2));
    let mut memory = memory();
    for (cpu, task) in [(0, &caller), (1, &middle), (2, &last)] {
        sched.spawn(task.clone(), None).unwrap();
        run_on(sched, cpu, task);
    }
    // The caller and the thread on CPU 2 registered, their events consumed by a return to user mode.
    let consume = |task: &Task<Mock>, cpu: usize, memory: &mut FakeMemory| {
        set_cpu(cpu);
        let mut pc = 0;
        assert_eq!(resume(task, &mm, memory, &mut pc), Ok(Resume::IdsUpdated));
        set_cpu(0);
    };
    for (cpu, task, area) in [(0, &caller, AREA), (2, &last, SECOND_AREA)] {
        set_cpu(cpu);
        assert_eq!(sys_rseq(task, &mm, &mut memory, area, 32, 0, SIGNATURE), Ok(()));
        consume(task, cpu, &mut memory);
    }
    assert_eq!(sched.membarrier(&caller, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ, 0, 0), Ok(0));
    assert_eq!(sched.membarrier(&caller, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0), Ok(0));
    // Without FLAG_CPU (cpu_id 0 or 1 is ignored) and with FLAG_CPU and cpu_id -1: every other CPU.
    for (flags, cpu_id) in [(0, 0), (0, 1), (MEMBARRIER_CMD_FLAG_CPU, -1)] {
        assert_eq!(sched.membarrier(&caller, MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ, flags, cpu_id), Ok(0));
        assert!(last.rseq.notify_pending(), "flags {flags}, cpu_id {cpu_id}: CPU 2's section restarts");
        assert!(!caller.rseq.notify_pending(), "flags {flags}, cpu_id {cpu_id}: the caller's is spared");
        consume(&last, 2, &mut memory);
    }
    // Aimed at the caller's own CPU: the caller's only.
    assert_eq!(sched.membarrier(&caller, MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ, MEMBARRIER_CMD_FLAG_CPU, 0), Ok(0));
    assert!(caller.rseq.notify_pending());
    assert!(!last.rseq.notify_pending());
    consume(&caller, 0, &mut memory);
    // The plain barrier reaches CPU 2 but restarts nothing.
    clear_log();
    assert_eq!(sched.membarrier(&caller, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0), Ok(0));
    assert!(take_log().iter().any(|record| record.cpu == 2 && record.event == Event::SmpMb));
    assert!(!last.rseq.notify_pending() && !caller.rseq.notify_pending());
}

/// The accessors a diagnostic reads, and the "one load and a branch" promise for a task without rseq: its
/// switch-out raises no event (the kernel's return-to-user path then skips the fixup).
#[test]
fn registration_state_is_readable_and_unregistered_tasks_get_no_event() {
    let (mm, first, second, mut memory) = registered_pair();
    assert_eq!(first.rseq.area(), AREA);
    assert_eq!(second.rseq.area(), 0);
    assert_eq!(first.rseq.concurrency_id(), Some(0), "held while running after its return to user mode");
    preempt_and_resume(&first, &second);
    assert!(!second.rseq.notify_pending(), "second is not registered: its switch-out raises nothing");
    assert!(!second.rseq.is_registered());
    assert_eq!(sys_rseq(&first, &mm, &mut memory, AREA, 32, RSEQ_FLAG_UNREGISTER, SIGNATURE), Ok(()));
    assert_eq!(first.rseq.area(), 0);
    assert!(!first.rseq.is_registered());
}

/// Three threads running at once on three CPUs hold three distinct ids, 0 to 2, all marked held.
#[test]
fn concurrency_ids_of_threads_running_at_once_are_distinct() {
    let sched = setup(3);
    let mm = new_mm(9);
    let mut memory = memory();
    memory.map(0x12_0000, 32);
    let threads: Vec<_> = (0..3).map(|cpu| user(cpu as u32 + 1, mm.mmget(), CpuSet::single(cpu))).collect();
    for (cpu, (task, area)) in threads.iter().zip([AREA, SECOND_AREA, 0x12_0000]).enumerate() {
        sched.spawn(task.clone(), None).unwrap();
        run_on(sched, cpu, task);
        set_cpu(cpu);
        assert_eq!(sys_rseq(task, &mm, &mut memory, area, 32, 0, SIGNATURE), Ok(()));
        let mut pc = 0;
        assert_eq!(resume(task, &mm, &mut memory, &mut pc), Ok(Resume::IdsUpdated));
        assert_eq!(mm_cid(&memory, area), cpu as u64);
        assert_eq!(task.rseq.concurrency_id(), Some(cpu as u32));
    }
    assert_eq!(mm.rseq_cids.held(), 0b111);
    mm.mmput();
}

/// Registration's remaining checks: a longer area must be aligned to `struct rseq`'s 32 bytes, the range may
/// end exactly at the end of user space but not beyond, and a stale `rseq_cs` left in the area is cleared.
#[test]
fn registration_checks_alignment_range_end_and_clears_a_stale_section() {
    let (mm, _first, second, mut memory) = registered_pair();
    let call = |memory: &mut FakeMemory, area, length| sys_rseq(&second, &mm, memory, area, length, 0, SIGNATURE);
    assert_eq!(call(&mut memory, SECOND_AREA + 16, 64), Err(Errno::EINVAL), "a 64-byte area 16 bytes off");
    let last_area = (1 << 48) - 32;
    memory.map(last_area, 32);
    assert_eq!(call(&mut memory, last_area, 64), Err(Errno::EFAULT), "ends 32 bytes beyond user space");
    assert_eq!(call(&mut memory, last_area, 32), Ok(()), "ends exactly at the end of user space");
    assert_eq!(sys_rseq(&second, &mm, &mut memory, last_area, 32, RSEQ_FLAG_UNREGISTER, SIGNATURE), Ok(()));
    enter_critical_section(&mut memory, SECOND_AREA);
    assert_eq!(call(&mut memory, SECOND_AREA, 32), Ok(()));
    assert_eq!(memory.read(SECOND_AREA + 8, 8), Ok(0), "the stale rseq_cs is cleared at registration");
}

/// The descriptor's checks, each on its own: an unknown version; a no-restart flag; a section that ends beyond user space
/// (its abort handler, below it, being valid); an abort handler inside the section (its signature in place)
/// faults, one exactly at the section's end is valid.
#[test]
fn descriptor_checks_fault_each_on_its_own() {
    let (mm, first, second, mut memory) = registered_pair();
    let preempted_at = |memory: &mut FakeMemory, pc: u64| {
        enter_critical_section(memory, AREA);
        preempt_and_resume(&first, &second);
        let mut pc = pc;
        resume(&first, &mm, memory, &mut pc)
    };
    memory.write(DESCRIPTOR, 4, 1).unwrap();
    assert_eq!(preempted_at(&mut memory, START_IP + 4), Err(UserFault), "version 1");
    memory.write(DESCRIPTOR, 4, 0).unwrap();
    // The deprecated no-restart flags, in the descriptor or in the thread's area.
    for flags_address in [DESCRIPTOR + 4, AREA + 16] {
        memory.write(flags_address, 4, 1).unwrap();
        assert_eq!(preempted_at(&mut memory, START_IP + 4), Err(UserFault), "flags at {flags_address:#x}");
        memory.write(flags_address, 4, 0).unwrap();
    }
    // An abort handler below the section, with its signature.
    let low_abort_ip = START_IP - 0x100;
    memory.map(low_abort_ip - 4, 4);
    memory.write(low_abort_ip - 4, 4, SIGNATURE.into()).unwrap();
    memory.write(DESCRIPTOR + 24, 8, low_abort_ip).unwrap();
    assert_eq!(preempted_at(&mut memory, START_IP + 4), Ok(Resume::Aborted { from: START_IP + 4 }));
    memory.write(DESCRIPTOR + 16, 8, u64::MAX - START_IP).unwrap();
    assert_eq!(preempted_at(&mut memory, START_IP + 4), Err(UserFault), "the section ends beyond user space");
    memory.write(DESCRIPTOR + 16, 8, POST_COMMIT_OFFSET).unwrap();
    // Abort handlers inside the section and exactly at its end, the signature word before each.
    memory.map(START_IP, POST_COMMIT_OFFSET);
    for (abort_ip, valid) in [(START_IP + 8, false), (START_IP + POST_COMMIT_OFFSET, true)] {
        memory.write(abort_ip - 4, 4, SIGNATURE.into()).unwrap();
        memory.write(DESCRIPTOR + 24, 8, abort_ip).unwrap();
        let expected = if valid { Ok(Resume::Aborted { from: START_IP + 4 }) } else { Err(UserFault) };
        assert_eq!(preempted_at(&mut memory, START_IP + 4), expected, "abort handler at {abort_ip:#x}");
    }
}
