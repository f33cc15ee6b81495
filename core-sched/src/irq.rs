//! Interrupt masking, spelled two ways only: an [`IrqSpinLock`], whose guard keeps this CPU's interrupts masked
//! for as long as the lock is held (Linux `spin_lock_irqsave` / `spin_unlock_irqrestore`), and
//! [`without_interrupts`] for the few places that need masking for another reason (reading the CPU id and using
//! it, check-then-`wfi` in an idle loop, a region that ends in a context switch).
//!
//! Why every kernel spin lock masks interrupts: a holder that an interrupt preempts on its own CPU (and that
//! the interrupt's reschedule switches away from) leaves the lock held while the handler, or that CPU's next
//! `schedule`, spins on it with interrupts masked: a same-CPU deadlock.
//!
//! Both spellings are generic over the [`Arch`], which supplies `irq_save` / `irq_restore`; the arch must make
//! both compiler barriers (no memory access of the critical section may be moved across them: a release store
//! sunk past `irq_restore` is the deadlock above). Guards restore the mask they found, so nested guards dropped
//! in LIFO order (which Rust's scoping gives) leave interrupts as the outermost one found them.

use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};

use crate::arch::{Arch, IrqState};

/// Proof that interrupts are masked on this CPU for the lifetime of a borrow of it; restores the saved mask
/// when dropped. Only [`without_interrupts`] creates one and lends it to its body, so the mask cannot be
/// restored while a borrow (for example a lock taken with [`IrqSpinLock::lock_masked`]) is still alive.
/// Neither `Send` nor `Sync`: the mask belongs to the CPU (and, across a context switch, to the task) that set it.
pub struct IrqsMasked<A: Arch> {
    saved: IrqState,
    _arch: PhantomData<fn() -> A>,
    /// A raw pointer makes the type neither `Send` nor `Sync`.
    _per_cpu: PhantomData<*const ()>,
}

impl<A: Arch> IrqsMasked<A> {
    fn new() -> Self {
        IrqsMasked { saved: A::irq_save(), _arch: PhantomData, _per_cpu: PhantomData }
    }
}

impl<A: Arch> Drop for IrqsMasked<A> {
    fn drop(&mut self) {
        A::irq_restore(self.saved);
    }
}

/// Runs `body` with interrupts masked on this CPU, then restores the mask found on entry. The body gets the
/// proof of masking, for taking [`IrqSpinLock`]s without masking again ([`IrqSpinLock::lock_masked`]).
///
/// For masking that protects something other than a lock: reading the CPU id and using it before a preemption
/// could migrate the caller, checking for work and then sleeping in `wfi` without an interrupt slipping in
/// between, a region that must end in a context switch with interrupts masked.
#[inline(always)]
pub fn without_interrupts<A: Arch, T>(body: impl FnOnce(&IrqsMasked<A>) -> T) -> T {
    let masked = IrqsMasked::<A>::new();
    body(&masked)
    // `masked` drops here, after every borrow the body returned has ended.
}

/// A spin lock that masks interrupts on the locking CPU while it is held. Every lock that an interrupt
/// handler (or a `schedule` an interrupt triggers) may take is one of these.
pub struct IrqSpinLock<A: Arch, T> {
    lock: spin::Mutex<T>,
    _arch: PhantomData<fn() -> A>,
}

impl<A: Arch, T> IrqSpinLock<A, T> {
    /// An unlocked lock holding `value`. `const`, for statics.
    pub const fn new(value: T) -> Self {
        IrqSpinLock { lock: spin::Mutex::new(value), _arch: PhantomData }
    }

    /// Masks interrupts on this CPU, then spins until the lock is free. Dropping the guard unlocks, then
    /// restores the interrupt mask found here.
    #[inline(always)]
    pub fn lock(&self) -> IrqSpinLockGuard<'_, A, T> {
        let masked = IrqsMasked::new();
        IrqSpinLockGuard { guard: self.lock.lock(), _masked: masked }
    }

    /// Like [`IrqSpinLock::lock`], but gives up at once when the lock is held (interrupts are then left as
    /// found).
    #[inline(always)]
    pub fn try_lock(&self) -> Option<IrqSpinLockGuard<'_, A, T>> {
        let masked = IrqsMasked::new();
        let guard = self.lock.try_lock()?;
        Some(IrqSpinLockGuard { guard, _masked: masked })
    }

    /// Takes the lock inside a [`without_interrupts`] region without touching the interrupt mask again (the
    /// scheduler's switch path takes several locks under one masking). The guard cannot outlive the region.
    #[inline(always)]
    pub fn lock_masked<'a>(&'a self, _masked: &'a IrqsMasked<A>) -> spin::MutexGuard<'a, T> {
        self.lock.lock()
    }

    /// Like [`IrqSpinLock::lock_masked`], but gives up at once when the lock is held.
    #[inline(always)]
    pub fn try_lock_masked<'a>(&'a self, _masked: &'a IrqsMasked<A>) -> Option<spin::MutexGuard<'a, T>> {
        self.lock.try_lock()
    }

    /// The value, through exclusive access to the lock itself (no locking, no masking needed).
    pub fn get_mut(&mut self) -> &mut T {
        self.lock.get_mut()
    }

    /// Whether some CPU holds the lock (a snapshot, for tests and diagnostics).
    pub fn is_locked(&self) -> bool {
        self.lock.is_locked()
    }
}

/// The guard of [`IrqSpinLock::lock`]: the locked value, with interrupts masked until it drops.
pub struct IrqSpinLockGuard<'a, A: Arch, T> {
    // Fields drop in declaration order: the lock is released first, and only then are interrupts restored, so
    // no interrupt on this CPU can find the lock held by the code it interrupted.
    guard: spin::MutexGuard<'a, T>,
    _masked: IrqsMasked<A>,
}

impl<A: Arch, T> Deref for IrqSpinLockGuard<'_, A, T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<A: Arch, T> DerefMut for IrqSpinLockGuard<'_, A, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}
