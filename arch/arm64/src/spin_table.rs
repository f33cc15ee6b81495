//! Spin-table release of secondary cores (Raspberry Pi 4): the firmware parks cores 1-3 polling a 64-bit
//! release address each, waiting in `wfe`.

use crate::layout::phys_to_virt;

/// Writes `entry_phys` into the release slot at physical address `slot_phys`, makes it visible to a core
/// whose caches and MMU are off, and wakes the parked cores.
///
/// # Safety
/// `slot_phys` must be the spin-table slot of a parked core, mapped in the linear map, and `entry_phys` the
/// physical address of code that core may run (the boot path).
pub unsafe fn release(slot_phys: usize, entry_phys: usize) {
    let slot = phys_to_virt(slot_phys) as *mut u64;
    // SAFETY: the caller guarantees `slot` is the mapped release slot; a volatile write so it is not elided.
    unsafe { core::ptr::write_volatile(slot, entry_phys as u64) };
    // The parked core reads with its caches off: clean the line to the point of coherency, wait for the clean
    // to complete, then wake it.
    // SAFETY: `dc cvac` cleans the cache line holding `slot` (no architectural data change); `dsb sy` waits
    // for it; `sev` wakes the cores in `wfe`. No memory is written besides the cleaning.
    unsafe {
        core::arch::asm!(
            "dc cvac, {slot}",
            "dsb sy",
            "sev",
            slot = in(reg) slot,
            options(nostack, preserves_flags)
        )
    };
}
