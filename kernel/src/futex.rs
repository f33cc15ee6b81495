//! Futexes: hashed wait queues keyed by (address space, address), and the operations on them that `futex(2)`
//! (syscalls/futex.rs) and thread exit (the clear-child-tid wake, robust lists) use.
//!
//! # The ordering that makes FUTEX_WAIT race-free (Linux `futex_wait_setup` / `futex_wake`)
//! A waiter takes its bucket's lock, reads the user word, compares it with the value it expects, queues
//! itself and marks itself `Blocked` (core-sched's `prepare_to_block`), then releases the lock and blocks. A
//! waker first changes the word (in user mode: an atomic store or read-modify-write), then enters the kernel,
//! takes the same bucket lock and dequeues the waiters it wakes. The two are the store-buffering pattern:
//! ```text
//! waiter: queue itself (W queue); read word (R word)      waker: write word (W word); look for waiters (R queue)
//! ```
//! forbidden: the waiter reads the old word *and* the waker finds no waiter (it sleeps on a changed word, no
//! wake comes). Linux orders it with the hash-bucket lock plus `smp_mb` pairs around its lockless
//! `futex_hb_waiters_pending` check (barriers A/B in kernel/futex/waitwake.c). This kernel does not have that
//! lockless shortcut: every wake takes the bucket lock, so the lock alone orders the two sides. If the
//! waiter's critical section comes first, its queue entry is released by its unlock and acquired by the
//! waker's lock: the waker finds it. If the waker's comes first, its word store precedes its unlock in program
//! order and is released by it; the waiter's lock acquires it, so the waiter's read returns the new word
//! (EAGAIN). The word itself is read and modified with single-copy-atomic accesses
//! (`with_user_atomic_u32`), like the program's own atomics on it.
//!
//! A waiter leaves the queue in one of two ways: a waker dequeues it under the bucket lock and then wakes it
//! (after setting `woken`, which the waiter reads after `prepare_to_block`: core-sched's protocol makes a wake
//! in between count), or the waiter gives up (deadline, process exit) and dequeues itself under the lock; if it
//! is no longer queued by then, a waker got there first and the wait succeeded.
//!
//! Shared (non-private) futexes are keyed like private ones: there is no shared memory between processes yet
//! (no fork, no shared file mappings), so the same address in two processes is never the same word. The only
//! difference Linux shows, a shared key needing the page mapped, is kept (EFAULT). PI futexes are not
//! implemented (ENOSYS).

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use abi::Errno;
use arch_arm64::Arm64;
use core_sched::{without_interrupts, IrqSpinLock, Mm};

use crate::process::{KernelTask, SCHED};

/// Hash buckets (Linux sizes its table by CPUs, 256 per CPU; a few hundred is plenty for this kernel).
const BUCKET_COUNT: usize = 256;

/// A futex's identity: the address space and the address of its word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FutexKey {
    mm: u32,
    address: usize,
}

impl FutexKey {
    fn bucket(&self) -> usize {
        // A multiplicative hash of the word index and the mm id; the top bits are the best mixed.
        let mixed = ((self.address as u64 >> 2) ^ (u64::from(self.mm) << 40)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (mixed >> 56) as usize % BUCKET_COUNT
    }
}

/// One sleeping task. Shared between its queue entry and the task's own stack.
struct Waiter {
    task: Arc<KernelTask>,
    /// The bucket whose queue holds the waiter; changes only under both buckets' locks (requeue).
    bucket: AtomicUsize,
    /// Set by the waker that dequeued it, under the bucket lock, before the wake.
    woken: AtomicBool,
}

struct QueueEntry {
    key: FutexKey,
    bitset: u32,
    waiter: Arc<Waiter>,
}

static BUCKETS: [IrqSpinLock<Arm64, Vec<QueueEntry>>; BUCKET_COUNT] =
    [const { IrqSpinLock::new(Vec::new()) }; BUCKET_COUNT];

/// The calling thread's address space.
fn current_mm() -> Result<Arc<Mm<Arm64>>, Errno> {
    SCHED.current().mm().ok_or(Errno::EFAULT)
}

/// The key of the word at `address` for the calling thread (Linux `get_futex_key`): EINVAL when misaligned,
/// EFAULT for a shared futex whose page is not mapped (a private key needs no access).
pub(crate) fn key_of(address: u64, private: bool) -> Result<FutexKey, Errno> {
    if !address.is_multiple_of(4) {
        return Err(Errno::EINVAL);
    }
    let mm = current_mm()?;
    if !private && mm.arch().translate(address as usize, false).is_none() {
        return Err(Errno::EFAULT);
    }
    Ok(FutexKey { mm: mm.id().0, address: address as usize })
}

/// Reads the word at `address` atomically: EFAULT when unmapped.
fn read_word(mm: &Mm<Arm64>, address: usize) -> Result<u32, Errno> {
    mm.arch().with_user_atomic_u32(address, false, |word| word.load(Ordering::Relaxed)).map_err(|_| Errno::EFAULT)
}

/// Why a wait ended without a wake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GaveUp {
    Deadline,
    Exiting,
}

/// FUTEX_WAIT / FUTEX_WAIT_BITSET: sleeps on `key` if its word still holds `expected`, until a wake whose
/// bitset meets `bitset`, the `deadline` (`now_ns` time), or the process's exit. `Ok(0)` when woken; EAGAIN
/// when the word differs, ETIMEDOUT, EINTR (the process is exiting; the thread ends on its way out), EFAULT.
pub(crate) fn wait(key: FutexKey, expected: u32, bitset: u32, deadline: Option<u64>) -> Result<usize, Errno> {
    let mm = current_mm()?;
    let bucket = key.bucket();
    let waiter =
        Arc::new(Waiter { task: SCHED.current(), bucket: AtomicUsize::new(bucket), woken: AtomicBool::new(false) });
    // Masked from the queueing to the end: the task is Blocked from inside the bucket lock on, and no
    // preemption may switch it out before it decided to sleep (core-sched wait.rs).
    let outcome = without_interrupts::<Arm64, _>(|masked| {
        {
            let mut queue = BUCKETS[bucket].lock_masked(masked);
            // Under the bucket lock: the ordering in the module documentation.
            if read_word(&mm, key.address)? != expected {
                return Err(Errno::EAGAIN);
            }
            queue.push(QueueEntry { key, bitset, waiter: waiter.clone() });
            SCHED.prepare_to_block(masked);
        }
        let outcome = loop {
            // After prepare_to_block: a waker that sets `woken` after this load wakes a Blocked task.
            if waiter.woken.load(Ordering::Acquire) {
                break Ok(0);
            }
            let gave_up = if deadline.is_some_and(|deadline| arch_arm64::cpu::now_ns() >= deadline) {
                Some(GaveUp::Deadline)
            } else if crate::process::current_process_is_exiting() {
                Some(GaveUp::Exiting)
            } else {
                None
            };
            if let Some(reason) = gave_up {
                break match (dequeue_self(&waiter, masked), reason) {
                    (false, _) => Ok(0),
                    (true, GaveUp::Deadline) => Err(Errno::ETIMEDOUT),
                    (true, GaveUp::Exiting) => Err(Errno::EINTR),
                };
            }
            // A deadline goes on this CPU's timer queue for the block, as nanosleep's: only this CPU's timer
            // interrupt takes the entry, and interrupts stay masked until the block, so its wake finds the task
            // Blocked.
            let timer = deadline.map(|deadline| crate::timer_queue::add_sleeper(deadline, waiter.task.clone()));
            SCHED.block_prepared(masked);
            if let Some(cpu) = timer {
                crate::timer_queue::remove_sleeper(cpu, &waiter.task);
            }
            SCHED.prepare_to_block(masked);
        };
        SCHED.cancel_block(masked);
        outcome
    });
    outcome
}

/// Removes `waiter` from its queue if it is still there (it gave up); false when a waker took it first.
fn dequeue_self(waiter: &Arc<Waiter>, masked: &core_sched::IrqsMasked<Arm64>) -> bool {
    loop {
        let bucket = waiter.bucket.load(Ordering::Acquire);
        let mut queue = BUCKETS[bucket].lock_masked(masked);
        // A requeue may have moved it between the load and the lock: then look again.
        if waiter.bucket.load(Ordering::Relaxed) != bucket {
            continue;
        }
        return match queue.iter().position(|entry| Arc::ptr_eq(&entry.waiter, waiter)) {
            Some(position) => {
                queue.remove(position);
                true
            }
            None => false,
        };
    }
}

/// Takes up to `count` waiters on `key` whose bitset meets `bitset` out of `queue` (in queue order), marking
/// them woken; Linux's loop wakes at least one even for a count of 0 (`++ret >= nr_wake`).
fn take_waiters(queue: &mut Vec<QueueEntry>, key: FutexKey, bitset: u32, count: i64, taken: &mut Vec<Arc<Waiter>>) {
    let mut index = 0;
    let start = taken.len();
    while index < queue.len() {
        if queue[index].key == key && queue[index].bitset & bitset != 0 {
            let entry = queue.remove(index);
            // Release: pairs with the waiter's Acquire load of `woken` (it then returns 0).
            entry.waiter.woken.store(true, Ordering::Release);
            taken.push(entry.waiter);
            if (taken.len() - start) as i64 >= count {
                break;
            }
        } else {
            index += 1;
        }
    }
}

fn wake_taken(taken: Vec<Arc<Waiter>>) -> usize {
    let woken = taken.len();
    for waiter in taken {
        SCHED.wake(&waiter.task);
    }
    woken
}

/// FUTEX_WAKE / FUTEX_WAKE_BITSET: wakes up to `count` waiters on `key` whose bitset meets `bitset`.
pub(crate) fn wake(key: FutexKey, count: i64, bitset: u32) -> usize {
    let mut taken = Vec::new();
    take_waiters(&mut BUCKETS[key.bucket()].lock(), key, bitset, count, &mut taken);
    wake_taken(taken)
}

/// Runs `body` with the locks of the buckets of `first` and `second` held (one lock when they share it),
/// taken in index order so that two CPUs locking the same pair cannot deadlock.
fn with_two_buckets<T>(
    first: FutexKey,
    second: FutexKey,
    body: impl FnOnce(&mut Vec<QueueEntry>, Option<&mut Vec<QueueEntry>>, usize) -> T,
) -> T {
    let (one, two) = (first.bucket(), second.bucket());
    without_interrupts::<Arm64, _>(|masked| {
        if one == two {
            return body(&mut BUCKETS[one].lock_masked(masked), None, two);
        }
        let (low, high) = (one.min(two), one.max(two));
        let mut low_queue = BUCKETS[low].lock_masked(masked);
        let mut high_queue = BUCKETS[high].lock_masked(masked);
        if one == low {
            body(&mut low_queue, Some(&mut high_queue), two)
        } else {
            body(&mut high_queue, Some(&mut low_queue), two)
        }
    })
}

/// FUTEX_REQUEUE / FUTEX_CMP_REQUEUE (Linux `futex_requeue` without PI): wakes up to `wake_count` waiters of
/// `from`, moves up to `requeue_count` more to `to`; with `expected`, first checks (under both locks) that
/// `from`'s word still holds it (EAGAIN otherwise). Returns woken plus requeued.
pub(crate) fn requeue(
    from: FutexKey,
    to: FutexKey,
    wake_count: i64,
    requeue_count: i64,
    expected: Option<u32>,
) -> Result<usize, Errno> {
    if wake_count < 0 || requeue_count < 0 {
        return Err(Errno::EINVAL);
    }
    let mm = current_mm()?;
    let mut taken = Vec::new();
    let requeued = with_two_buckets(from, to, |from_queue, to_queue, to_bucket| {
        if let Some(expected) = expected {
            if read_word(&mm, from.address)? != expected {
                return Err(Errno::EAGAIN);
            }
        }
        let mut task_count: i64 = 0;
        let mut moved = Vec::new();
        let mut index = 0;
        while index < from_queue.len() {
            if task_count - wake_count >= requeue_count {
                break;
            }
            if from_queue[index].key != from {
                index += 1;
                continue;
            }
            task_count += 1;
            let entry = from_queue.remove(index);
            if task_count <= wake_count {
                entry.waiter.woken.store(true, Ordering::Release);
                taken.push(entry.waiter);
            } else {
                moved.push(entry);
            }
        }
        let requeued = moved.len();
        let mut to_queue = to_queue;
        for mut entry in moved {
            entry.key = to;
            // Under both locks: the waiter's dequeue_self re-checks its bucket after taking a lock.
            entry.waiter.bucket.store(to_bucket, Ordering::Release);
            match to_queue.as_mut() {
                Some(queue) => queue.push(entry),
                None => from_queue.push(entry),
            }
        }
        Ok(requeued)
    })?;
    Ok(wake_taken(taken) + requeued)
}

/// FUTEX_WAKE_OP (Linux `futex_wake_op`): atomically applies `encoded_op` to the word at `second`, wakes up
/// to `wake_count` waiters of `first`, and, when the operation's comparison of the old value holds, up to
/// `second_wake_count` waiters of `second`. EFAULT when `second` is not writable; ENOSYS for an unknown
/// operation (the word untouched) or comparison (the operation applied first, nobody woken), as Linux.
pub(crate) fn wake_op(
    first: FutexKey,
    second: FutexKey,
    wake_count: i64,
    second_wake_count: i64,
    encoded_op: u32,
) -> Result<usize, Errno> {
    let mm = current_mm()?;
    let mut taken = Vec::new();
    let mut second_taken = Vec::new();
    with_two_buckets(first, second, |first_queue, second_queue, _| {
        let condition = atomic_op(&mm, second.address, encoded_op)?;
        take_waiters(first_queue, first, u32::MAX, wake_count, &mut taken);
        if condition {
            let queue = match second_queue {
                Some(queue) => queue,
                None => first_queue,
            };
            take_waiters(queue, second, u32::MAX, second_wake_count, &mut second_taken);
        }
        Ok(())
    })?;
    Ok(wake_taken(taken) + wake_taken(second_taken))
}

/// Linux `futex_atomic_op_inuser`: `op` (bits 28-31, bit 31 = shift the argument: `1 << oparg`) with `oparg`
/// (bits 12-23, signed), then compare (bits 24-27) the old value with `cmparg` (bits 0-11, signed).
fn atomic_op(mm: &Mm<Arm64>, address: usize, encoded_op: u32) -> Result<bool, Errno> {
    const OPARG_SHIFT: u32 = 8;
    let op = (encoded_op >> 28) & 7;
    let compare = (encoded_op >> 24) & 15;
    let sign_extend_12 = |value: u32| ((value << 20) as i32) >> 20;
    let mut oparg = sign_extend_12((encoded_op >> 12) & 0xfff);
    let cmparg = sign_extend_12(encoded_op & 0xfff);
    if (encoded_op >> 28) & OPARG_SHIFT != 0 {
        // Linux masks an out-of-range shift (and logs it).
        oparg = 1i32.wrapping_shl((oparg & 31) as u32);
    }
    let apply: fn(u32, u32) -> u32 = match op {
        0 => |_, arg| arg,                     // FUTEX_OP_SET
        1 => |old, arg| old.wrapping_add(arg), // FUTEX_OP_ADD
        2 => |old, arg| old | arg,             // FUTEX_OP_OR
        3 => |old, arg| old & !arg,            // FUTEX_OP_ANDN
        4 => |old, arg| old ^ arg,             // FUTEX_OP_XOR
        _ => return Err(Errno::ENOSYS),
    };
    let argument = oparg as u32;
    let old = mm
        .arch()
        .with_user_atomic_u32(address, true, |word| {
            // SeqCst, a full barrier as Linux's arm64 `futex_atomic_op_inuser` (ldxr/stlxr, then dmb ish): the
            // change is ordered before the wakes that follow, like a user-mode store before FUTEX_WAKE.
            word.fetch_update(Ordering::SeqCst, Ordering::Relaxed, |old| Some(apply(old, argument)))
        })
        .map_err(|_| Errno::EFAULT)?
        .unwrap_or_else(|old| old) as i32;
    // Linux checks the comparison only after the operation: an unknown one returns ENOSYS with the word already
    // changed (and wakes nobody).
    match compare {
        0 => Ok(old == cmparg),
        1 => Ok(old != cmparg),
        2 => Ok(old < cmparg),
        3 => Ok(old >= cmparg),
        4 => Ok(old <= cmparg),
        5 => Ok(old > cmparg),
        _ => Err(Errno::ENOSYS),
    }
}

/// At thread exit (Linux `mm_release`): writes 0 to the thread's clear-child-tid word, if it registered one,
/// and wakes one waiter on it (`pthread_join`). A word the thread unmapped is skipped, as Linux does.
pub(crate) fn clear_child_tid_at_exit(mm: &Mm<Arm64>, address: u64) {
    if address == 0 || !address.is_multiple_of(4) {
        return;
    }
    let cleared = mm.arch().with_user_atomic_u32(address as usize, true, |word| word.store(0, Ordering::SeqCst));
    if cleared.is_ok() {
        wake(FutexKey { mm: mm.id().0, address: address as usize }, 1, u32::MAX);
    }
}

/// Entries of a robust list walked at most (Linux `ROBUST_LIST_LIMIT`): a corrupted or circular list ends.
const ROBUST_LIST_LIMIT: usize = 2048;

/// At thread exit (Linux `exit_robust_list`): for every lock on the thread's robust list (and the one in
/// `list_op_pending`) whose word holds the thread's id, sets FUTEX_OWNER_DIED (keeping FUTEX_WAITERS) and
/// wakes one waiter. Bad pointers end the walk silently, as in Linux.
pub(crate) fn exit_robust_list(mm: &Mm<Arm64>, head_address: u64, tid: u32) {
    if head_address == 0 {
        return;
    }
    let read_u64 = |address: u64| -> Option<u64> {
        let mut bytes = [0u8; 8];
        mm.arch().copy_from_user(address as usize, &mut bytes).ok()?;
        Some(u64::from_le_bytes(bytes))
    };
    // struct robust_list_head { list.next, futex_offset, list_op_pending }; bit 0 of a pointer marks a PI lock.
    let Some(first) = read_u64(head_address) else { return };
    let Some(futex_offset) = read_u64(head_address + 8) else { return };
    let Some(pending) = read_u64(head_address + 16) else { return };
    let futex_offset = futex_offset as i64;
    let pending = pending & !1;
    let mut entry = first & !1;
    let mut limit = ROBUST_LIST_LIMIT;
    while entry != head_address {
        let Some(next) = read_u64(entry) else { return };
        // The pending entry is handled once, below, as Linux does.
        if entry != pending {
            handle_futex_death(mm, entry.wrapping_add_signed(futex_offset), tid);
        }
        entry = next & !1;
        limit -= 1;
        if limit == 0 {
            break;
        }
    }
    if pending != 0 {
        handle_futex_death(mm, pending.wrapping_add_signed(futex_offset), tid);
    }
}

/// Linux `handle_futex_death` (non-PI): if the word's owner is `tid`, mark the owner dead and wake a waiter.
fn handle_futex_death(mm: &Mm<Arm64>, address: u64, tid: u32) {
    use abi::futex::{FUTEX_OWNER_DIED, FUTEX_TID_MASK, FUTEX_WAITERS};
    if !address.is_multiple_of(4) {
        return;
    }
    let marked = mm.arch().with_user_atomic_u32(address as usize, true, |word| {
        word.fetch_update(Ordering::SeqCst, Ordering::Relaxed, |value| {
            (value & FUTEX_TID_MASK == tid).then_some((value & FUTEX_WAITERS) | FUTEX_OWNER_DIED)
        })
    });
    if let Ok(Ok(old)) = marked {
        if old & FUTEX_WAITERS != 0 {
            wake(FutexKey { mm: mm.id().0, address: address as usize }, 1, u32::MAX);
        }
    }
}
