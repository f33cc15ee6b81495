//! The EL1 virtual timer of the generic timer: one per core, raising PPI 27.

use aarch64_cpu::registers::{Writeable, CNTV_CTL_EL0, CNTV_TVAL_EL0};

/// Arms this core's timer to fire after `nanoseconds`.
pub fn arm_after_ns(nanoseconds: u64) {
    let ticks = (nanoseconds as u128 * crate::cpu::counter_frequency() as u128 / 1_000_000_000) as u64;
    CNTV_TVAL_EL0.set(ticks.clamp(1, u32::MAX as u64));
    CNTV_CTL_EL0.write(CNTV_CTL_EL0::ENABLE::SET + CNTV_CTL_EL0::IMASK::CLEAR);
}

/// Stops this core's timer.
pub fn disable() {
    CNTV_CTL_EL0.write(CNTV_CTL_EL0::ENABLE::CLEAR + CNTV_CTL_EL0::IMASK::SET);
}
