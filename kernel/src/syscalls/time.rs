//! Clocks and sleeping.

use abi::clock::{CLOCK_MONOTONIC, CLOCK_REALTIME};
use abi::{Errno, Timespec};

use super::UserPtr;
use crate::process;

/// `nanosleep(request, remaining)`: sleeps at least the requested time (`remaining` is never written: the sleep
/// is not interrupted by signals).
pub fn nanosleep(request: UserPtr<Timespec>) -> Result<usize, Errno> {
    let request = request.read()?;
    if !request.is_valid() {
        return Err(Errno::EINVAL);
    }
    // Saturating: a huge tv_sec (Linux accepts it) sleeps "forever" instead of overflowing.
    let deadline = arch_arm64::cpu::now_ns()
        .saturating_add((request.tv_sec as u64).saturating_mul(1_000_000_000))
        .saturating_add(request.tv_nsec as u64);
    process::sleep_until(deadline);
    Ok(0)
}

/// `clock_gettime(clock, time)`: both clocks count from boot (there is no wall clock).
pub fn clock_gettime(clock: u64, time: UserPtr<Timespec>) -> Result<usize, Errno> {
    if clock != u64::from(CLOCK_MONOTONIC) && clock != u64::from(CLOCK_REALTIME) {
        return Err(Errno::EINVAL);
    }
    time.write(&Timespec::from_nanoseconds(arch_arm64::cpu::now_ns()))?;
    Ok(0)
}
