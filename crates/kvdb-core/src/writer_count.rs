//! A count that only one writer at a time changes (the holder of the
//! store's write lock, or a thread it hands the job to while it waits),
//! and any thread reads.
//!
//! An atomic read-modify-write (`fetch_add`) is a locked instruction on
//! x86-64: it waits for every store before it to reach the cache. On a
//! writer's path those stores are often misses (a new key's hash slot, a
//! new node), so each such count cost as much as the miss it waited for:
//! in a sorted load, three quarters of a hash insert's time sat on the
//! count after the slot's store. With one writer at a time there is no
//! other change to lose, so a plain load and store does the same job; the
//! write lock's release and acquire (or a thread's join) order one
//! writer's stores before the next writer's loads.

use std::sync::atomic::{AtomicUsize, Ordering};

/// A count changed by one writer at a time, read by anyone (a
/// reader may see it a change behind, as it could with `fetch_add`).
#[derive(Debug, Default)]
pub(crate) struct WriterCount(AtomicUsize);

impl WriterCount {
    pub(crate) const fn new(value: usize) -> Self {
        Self(AtomicUsize::new(value))
    }

    /// The count.
    #[inline]
    pub(crate) fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }

    /// Sets the count. Writer only.
    #[inline]
    pub(crate) fn set(&self, value: usize) {
        self.0.store(value, Ordering::Relaxed);
    }

    /// Adds `n` and returns the new count. Writer only.
    #[inline]
    pub(crate) fn add(&self, n: usize) -> usize {
        let value = self.get() + n;
        self.set(value);
        value
    }

    /// Subtracts `n` and returns the new count. Writer only.
    #[inline]
    pub(crate) fn sub(&self, n: usize) -> usize {
        let value = self.get() - n;
        self.set(value);
        value
    }
}
