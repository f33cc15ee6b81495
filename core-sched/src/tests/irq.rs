//! `IrqSpinLock` and `without_interrupts` against the mock arch: a guard masks interrupts for its lifetime and
//! restores the mask it found, nested guards in LIFO order included, and the lock is free before interrupts
//! come back.

use std::boxed::Box;

use super::mock::{clear_log, events, irqs_enabled, set_before_irq_restore, setup, Event, Mock};
use crate::irq::{without_interrupts, IrqSpinLock};

#[test]
fn guard_masks_for_its_lifetime_and_restores_the_mask() {
    setup(1);
    let lock = IrqSpinLock::<Mock, u32>::new(0);
    assert!(irqs_enabled());
    {
        let mut value = lock.lock();
        assert!(!irqs_enabled());
        assert!(lock.is_locked());
        *value += 1;
    }
    assert!(irqs_enabled());
    assert!(!lock.is_locked());
    assert_eq!(*lock.lock(), 1);
    assert!(irqs_enabled());
}

#[test]
fn nested_guards_restore_in_lifo_order() {
    setup(1);
    let outer = IrqSpinLock::<Mock, ()>::new(());
    let inner = IrqSpinLock::<Mock, ()>::new(());
    let outer_guard = outer.lock();
    {
        let _inner_guard = inner.lock();
        assert!(!irqs_enabled());
    }
    // The inner guard found interrupts masked and leaves them masked.
    assert!(!irqs_enabled());
    drop(outer_guard);
    assert!(irqs_enabled());

    // Entered with interrupts already masked, a guard leaves them masked.
    without_interrupts::<Mock, _>(|_| {
        drop(outer.lock());
        assert!(!irqs_enabled());
        without_interrupts::<Mock, _>(|_| assert!(!irqs_enabled()));
        assert!(!irqs_enabled());
    });
    assert!(irqs_enabled());
}

#[test]
fn lock_is_released_before_interrupts_are_restored() {
    setup(1);
    let lock: &'static IrqSpinLock<Mock, ()> = Box::leak(Box::new(IrqSpinLock::new(())));
    set_before_irq_restore(Some(Box::new(|| assert!(!lock.is_locked(), "interrupts restored with the lock held"))));
    clear_log();
    drop(lock.lock());
    set_before_irq_restore(None);
    assert_eq!(events(), [Event::IrqSave, Event::IrqRestore]);
    assert!(irqs_enabled());
}

#[test]
fn try_lock_of_a_held_lock_leaves_the_mask_as_found() {
    setup(1);
    let lock = IrqSpinLock::<Mock, ()>::new(());
    without_interrupts::<Mock, _>(|masked| {
        let _held = lock.lock_masked(masked);
        assert!(lock.try_lock().is_none());
        assert!(!irqs_enabled());
    });
    assert!(irqs_enabled());
    let held = lock.lock();
    drop(held);
    let guard = lock.try_lock().expect("free lock");
    assert!(!irqs_enabled());
    drop(guard);
    assert!(irqs_enabled());
}
