//! The EL1 virtual timer of the generic timer: one per core, raising PPI 27.

use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{Writeable, CNTV_CTL_EL0, CNTV_CVAL_EL0};

/// Arms this core's timer to fire once [`crate::cpu::now_ns`] reaches `deadline_ns` (at once if it already
/// has). The deadline goes to the 64-bit compare value rather than the 32-bit, sign-extended TimerValue, so a
/// far deadline neither wraps nor reads as negative; `u64::MAX` means "never" and disables the timer.
pub fn arm_at_ns(deadline_ns: u64) {
    if deadline_ns == u64::MAX {
        disable();
        return;
    }
    // Rounded up, so that the interrupt never comes before the deadline in `now_ns` time (which rounds down);
    // saturating, so a far deadline becomes "never" in counter time too.
    let frequency = crate::cpu::counter_frequency() as u128;
    let ticks = (deadline_ns as u128 * frequency).div_ceil(1_000_000_000);
    CNTV_CVAL_EL0.set(u64::try_from(ticks).unwrap_or(u64::MAX));
    CNTV_CTL_EL0.write(CNTV_CTL_EL0::ENABLE::SET + CNTV_CTL_EL0::IMASK::CLEAR);
    // The new compare value takes effect (and the old interrupt condition drops) before the handler's end of
    // interrupt, so the GIC does not see the expired condition again (Linux's arch_timer_reg_write does the
    // same). At worst a late drop gives one spurious interrupt, which finds nothing due and re-arms.
    barrier::isb(barrier::SY);
}

/// Stops this core's timer.
pub fn disable() {
    CNTV_CTL_EL0.write(CNTV_CTL_EL0::ENABLE::CLEAR + CNTV_CTL_EL0::IMASK::SET);
}
