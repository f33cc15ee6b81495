//! Waiting for descriptors: `ppoll` and `pselect6`. The console is always writable, and always readable (it
//! has no input wired, so a read finds end of file at once, which counts as readable as on Linux). When nothing
//! is ready, the caller sleeps out its timeout (or until its process ends).

use alloc::vec::Vec;

use abi::poll::{POLLIN, POLLNVAL, POLLOUT, POLLRDNORM, POLLWRNORM};
use abi::{Errno, Pollfd, Timespec};

use super::fd::caller;
use super::UserPtr;
use crate::files::FileKind;
use crate::process;
use crate::signals::check_set_size;

/// The events an open file reports now.
fn ready_events(kind: FileKind) -> i16 {
    match kind {
        FileKind::Console => POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM,
    }
}

/// Reads a timeout (NULL: none) and returns its deadline in `now_ns` time; EINVAL for an invalid one.
fn deadline_of(timeout: &UserPtr<Timespec>) -> Result<Option<u64>, Errno> {
    if timeout.is_null() {
        return Ok(None);
    }
    let timeout = timeout.read()?;
    if !timeout.is_valid() {
        return Err(Errno::EINVAL);
    }
    let nanoseconds = (timeout.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(timeout.tv_nsec as u64);
    Ok(Some(arch_arm64::cpu::now_ns().saturating_add(nanoseconds)))
}

/// Nothing ready: sleeps until the deadline (forever without one, which ends only with the process), then
/// writes the time left (0) back as Linux does for ppoll and pselect6.
fn wait_for_nothing(deadline: Option<u64>, timeout: &UserPtr<Timespec>) -> Result<(), Errno> {
    process::sleep_until(deadline.unwrap_or(u64::MAX));
    if deadline.is_some() {
        timeout.write(&Timespec::default())?;
    }
    Ok(())
}

/// `ppoll(fds, count, timeout, sigmask, sigsetsize)`.
pub fn ppoll(fds: u64, count: u64, timeout: UserPtr<Timespec>, sigmask: u64, sigset_size: u64) -> Result<usize, Errno> {
    let process = caller()?;
    if count > process.limits.lock().open_files() as u64 {
        return Err(Errno::EINVAL);
    }
    let deadline = deadline_of(&timeout)?;
    if sigmask != 0 {
        check_set_size(sigset_size)?;
    }
    let pointers: Vec<UserPtr<Pollfd>> = (0..count).map(|index| UserPtr::new(fds + index * 8)).collect();
    let mut entries: Vec<Pollfd> = pointers.iter().map(UserPtr::read).collect::<Result<_, _>>()?;
    let mut ready = 0;
    {
        let files = process.files.lock();
        for entry in &mut entries {
            entry.revents = if entry.fd < 0 {
                0
            } else {
                match files.get(entry.fd as u64) {
                    // POLLERR and POLLHUP are always reported; the console has neither.
                    Ok(file) => ready_events(file.kind) & entry.events,
                    Err(_) => POLLNVAL,
                }
            };
            ready += usize::from(entry.revents != 0);
        }
    }
    for (pointer, entry) in pointers.iter().zip(&entries) {
        pointer.write(entry)?;
    }
    if ready == 0 {
        wait_for_nothing(deadline, &timeout)?;
    }
    Ok(ready)
}

/// One `fd_set` of pselect6: `nfds` bits, in 64-bit words.
fn read_set(address: u64, nfds: usize) -> Result<Option<Vec<u64>>, Errno> {
    if address == 0 {
        return Ok(None);
    }
    let words = nfds.div_ceil(64);
    let mut set: Vec<u64> =
        (0..words as u64).map(|index| UserPtr::<u64>::new(address + index * 8).read()).collect::<Result<_, _>>()?;
    if let Some(last) = set.last_mut() {
        if !nfds.is_multiple_of(64) {
            *last &= (1u64 << (nfds % 64)) - 1;
        }
    }
    Ok(Some(set))
}

fn write_set(address: u64, set: &[u64]) -> Result<(), Errno> {
    for (index, word) in set.iter().enumerate() {
        UserPtr::<u64>::new(address + index as u64 * 8).write(word)?;
    }
    Ok(())
}

/// `pselect6(nfds, readfds, writefds, exceptfds, timeout, sigmask_and_size)`.
pub fn pselect6(nfds: u64, sets: [u64; 3], timeout: UserPtr<Timespec>, sigmask_and_size: u64) -> Result<usize, Errno> {
    let process = caller()?;
    if (nfds as i64) < 0 {
        return Err(Errno::EINVAL);
    }
    let deadline = deadline_of(&timeout)?;
    // The sixth argument points at { const sigset_t *mask; size_t size; }.
    if sigmask_and_size != 0 {
        let sigmask = UserPtr::<u64>::new(sigmask_and_size).read()?;
        let size = UserPtr::<u64>::new(sigmask_and_size + 8).read()?;
        if sigmask != 0 {
            check_set_size(size)?;
        }
    }
    let files = process.files.lock();
    // Linux clamps nfds to the descriptor table's size.
    let nfds = (nfds as usize).min(files.end().next_multiple_of(64));
    let [mut readable, mut writable, mut exceptional] =
        [read_set(sets[0], nfds)?, read_set(sets[1], nfds)?, read_set(sets[2], nfds)?];
    let mut ready = 0;
    for fd in 0..nfds {
        let (word, bit) = (fd / 64, 1u64 << (fd % 64));
        let asked =
            [&readable, &writable, &exceptional].iter().any(|set| set.as_ref().is_some_and(|set| set[word] & bit != 0));
        if !asked {
            continue;
        }
        let file = files.get(fd as u64)?;
        let events = ready_events(file.kind);
        for (set, is_ready) in
            [(&mut readable, events & POLLIN != 0), (&mut writable, events & POLLOUT != 0), (&mut exceptional, false)]
        {
            if let Some(set) = set {
                if set[word] & bit != 0 && !is_ready {
                    set[word] &= !bit;
                }
                ready += usize::from(set[word] & bit != 0);
            }
        }
    }
    drop(files);
    for (address, set) in sets.iter().zip([&readable, &writable, &exceptional]) {
        if let Some(set) = set {
            write_set(*address, set)?;
        }
    }
    if ready == 0 {
        wait_for_nothing(deadline, &timeout)?;
    }
    Ok(ready)
}
