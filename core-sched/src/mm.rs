//! Address spaces (`Mm`) and their two reference counts, after Linux's `mm_users` / `mm_count`.
//!
//! `users` counts what uses the address space's *contents*: the tasks (threads) that own it, and explicit
//! [`Mm::mmget`] holders such as a kernel thread inside `kthread_use_mm`. Together they hold one `count`
//! reference. When the last user goes (`mmput`), [`Arch::mm_release_user_pages`] runs, exactly once: the user
//! pages and every table below the root are freed at once, as Linux's `exit_mmap` does from `mmput`, and then
//! the users' `count` reference is dropped.
//!
//! `count` also counts every lazy borrower: each `Task::active_mm` holds one (`mmgrab` / `mmdrop`), so a kernel
//! thread (an idle task, typically) that keeps the previous task's page-table root installed keeps the root and
//! the ASID alive, but nothing mapped under them: a CPU never runs user code on a lazy mm, so its contents are
//! not needed, and an exited process's memory is free for the next program at once. When `count` reaches zero,
//! [`Arch::mm_free`] runs, exactly once, and frees the root and the ASID.
//!
//! The `Arc` around an `Mm` only keeps its memory valid; the counts above decide when the address space dies.

use alloc::sync::Arc;
use core::sync::atomic::{fence, AtomicBool, AtomicU32, Ordering};

use crate::arch::Arch;

/// Identifier of an address space, published per CPU for remote readers. `0` is reserved: "no user mm".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MmId(pub u32);

impl MmId {
    /// The reserved id meaning "this CPU runs no user address space".
    pub const NONE: MmId = MmId(0);
}

/// An address space.
pub struct Mm<A: Arch> {
    id: MmId,
    /// `MEMBARRIER_STATE_*` bits. Only ever gains bits (registrations are permanent, as in Linux).
    membarrier_state: AtomicU32,
    users: AtomicU32,
    count: AtomicU32,
    user_pages_released: AtomicBool,
    freed: AtomicBool,
    /// The rseq concurrency ids (`mm_cid`) its threads hold (rseq.rs).
    pub(crate) rseq_cids: crate::rseq::ConcurrencyIds,
    arch: A::MmContext,
}

impl<A: Arch> Mm<A> {
    /// A new address space with one user reference (for the first task of the process, which adopts it in
    /// [`Task::new_user`](crate::Task::new_user)) and the users' collective `count` reference.
    ///
    /// # Panics
    /// If `id` is [`MmId::NONE`].
    pub fn new(id: MmId, arch: A::MmContext) -> Arc<Self> {
        assert_ne!(id, MmId::NONE, "mm id 0 is reserved for \"no user mm\"");
        Arc::new(Mm {
            id,
            membarrier_state: AtomicU32::new(0),
            users: AtomicU32::new(1),
            count: AtomicU32::new(1),
            user_pages_released: AtomicBool::new(false),
            freed: AtomicBool::new(false),
            rseq_cids: crate::rseq::ConcurrencyIds::default(),
            arch,
        })
    }

    /// The id published in run queues while a CPU runs this address space.
    pub fn id(&self) -> MmId {
        self.id
    }

    /// The arch part (page-table root, ASID).
    pub fn arch(&self) -> &A::MmContext {
        &self.arch
    }

    /// The `MEMBARRIER_STATE_*` bits.
    pub fn membarrier_state(&self) -> u32 {
        self.membarrier_state.load(Ordering::Relaxed)
    }

    pub(crate) fn membarrier_state_or(&self, bits: u32) {
        self.membarrier_state.fetch_or(bits, Ordering::SeqCst);
    }

    /// Live user references (threads owning the mm, `mmget` holders).
    pub fn users(&self) -> u32 {
        self.users.load(Ordering::Relaxed)
    }

    /// References that keep the address space alive: one for all users together, plus lazy borrowers.
    pub fn count(&self) -> u32 {
        self.count.load(Ordering::Relaxed)
    }

    /// Whether [`Arch::mm_release_user_pages`] has run (the last user is gone).
    pub fn is_user_pages_released(&self) -> bool {
        self.user_pages_released.load(Ordering::Relaxed)
    }

    /// Whether [`Arch::mm_free`] has run.
    pub fn is_freed(&self) -> bool {
        self.freed.load(Ordering::Relaxed)
    }

    /// Takes a user reference for a new thread of the process (Linux `mmget`). Give it to
    /// [`Task::new_user`](crate::Task::new_user), or release it with [`Mm::mmput`].
    ///
    /// # Panics
    /// If the address space has no user left (its process is gone).
    pub fn mmget(self: &Arc<Self>) -> Arc<Self> {
        let previous = self.users.fetch_add(1, Ordering::Relaxed);
        assert!(previous > 0, "mmget on mm {:?} whose users are gone", self.id);
        self.clone()
    }

    /// Takes a user reference only if the address space still has a user (Linux `mmget_not_zero`): for code
    /// outside the process (a kernel test, a debugger-like reader) that must not revive an mm whose pages are
    /// being released. `None` once the last user has gone.
    pub fn mmget_not_zero(self: &Arc<Self>) -> Option<Arc<Self>> {
        let mut users = self.users.load(Ordering::Relaxed);
        loop {
            if users == 0 {
                return None;
            }
            // Acquire pairs with the Release half of the other holders' `mmput`: what they did to the contents
            // before dropping their reference is visible to this holder.
            match self.users.compare_exchange_weak(users, users + 1, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => return Some(self.clone()),
                Err(current) => users = current,
            }
        }
    }

    /// Drops a user reference (Linux `mmput`). The last one releases the user pages
    /// ([`Arch::mm_release_user_pages`]), then drops the users' `count` reference.
    ///
    /// The release can take a while for a big address space: call it with interrupts enabled where possible.
    pub fn mmput(self: Arc<Self>) {
        // AcqRel: the Release half orders this holder's accesses to the contents before the release; the
        // Acquire half (on the last decrement) orders every other holder's accesses, published by their own
        // Release decrements, before the release below.
        let previous = self.users.fetch_sub(1, Ordering::AcqRel);
        assert!(previous > 0, "mmput underflow on mm {:?}", self.id);
        if previous == 1 {
            let already_released = self.user_pages_released.swap(true, Ordering::Relaxed);
            assert!(!already_released, "user pages of mm {:?} released twice", self.id);
            // No user is left and `mmget` refuses to revive the mm, so no CPU runs it as a user (each task that
            // did has unpublished it and dropped its user reference first); lazy holders may still have the
            // root installed, which the arch handles.
            A::mm_release_user_pages(&self);
            self.mmdrop();
        }
    }

    /// Takes a `count` reference, for a lazy borrower (Linux `mmgrab`).
    pub fn mmgrab(self: &Arc<Self>) -> Arc<Self> {
        let previous = self.count.fetch_add(1, Ordering::Relaxed);
        assert!(previous > 0, "mmgrab on freed mm {:?}", self.id);
        self.clone()
    }

    /// Drops a `count` reference (Linux `mmdrop`); the last one calls [`Arch::mm_free`].
    pub fn mmdrop(self: Arc<Self>) {
        let previous = self.count.fetch_sub(1, Ordering::Release);
        assert!(previous > 0, "mmdrop underflow on mm {:?}", self.id);
        if previous == 1 {
            // Pairs with the Release decrements of the other holders: their accesses to the mm happen before
            // it is freed (the same argument as `Arc`'s drop).
            fence(Ordering::Acquire);
            let already_freed = self.freed.swap(true, Ordering::Relaxed);
            assert!(!already_freed, "mm {:?} freed twice", self.id);
            A::mm_free(&self);
        }
    }
}

impl<A: Arch> core::fmt::Debug for Mm<A> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Mm")
            .field("id", &self.id)
            .field("membarrier_state", &self.membarrier_state())
            .field("users", &self.users())
            .field("count", &self.count())
            .finish()
    }
}
