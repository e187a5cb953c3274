//! Statistics: cheap counters kept as the store works, and the [`Stats`]
//! snapshot handed to callers.
//!
//! Read-path counters are striped across cache lines so that threads reading
//! in parallel do not fight over one counter's cache line.

use std::cell::Cell;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};

use crossbeam_utils::CachePadded;

const STRIPES: usize = 16;

/// A counter that many threads bump without sharing a cache line.
pub(crate) struct StripedCounter {
    stripes: [CachePadded<AtomicU64>; STRIPES],
}

fn stripe_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    INDEX.with(|cell| {
        let mut index = cell.get();
        if index == usize::MAX {
            index = NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES;
            cell.set(index);
        }
        index
    })
}

impl StripedCounter {
    pub(crate) fn new() -> Self {
        Self {
            stripes: std::array::from_fn(|_| CachePadded::new(AtomicU64::new(0))),
        }
    }

    #[inline]
    pub(crate) fn add(&self, n: u64) {
        self.stripes[stripe_index()].fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn sum(&self) -> u64 {
        self.stripes
            .iter()
            .map(|s| s.load(Ordering::Relaxed))
            .fold(0, u64::wrapping_add)
    }
}

/// The live counters of one store.
pub(crate) struct Counters {
    pub(crate) gets: StripedCounter,
    pub(crate) scans: StripedCounter,
    pub(crate) puts: AtomicU64,
    pub(crate) deletes: AtomicU64,
    pub(crate) batches: AtomicU64,
    pub(crate) live_keys: AtomicI64,
    pub(crate) versions: AtomicI64,
    pub(crate) bytes: AtomicI64,
    pub(crate) expired_reclaimed: AtomicU64,
    pub(crate) versions_reclaimed: AtomicU64,
    pub(crate) keys_removed: AtomicU64,
    /// Index entries whose newest version is a value.
    pub(crate) index_entries: AtomicI64,
    /// Estimated bytes held by index entries.
    pub(crate) index_bytes: AtomicI64,
}

impl Counters {
    pub(crate) fn new() -> Self {
        Self {
            gets: StripedCounter::new(),
            scans: StripedCounter::new(),
            puts: AtomicU64::new(0),
            deletes: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            live_keys: AtomicI64::new(0),
            versions: AtomicI64::new(0),
            bytes: AtomicI64::new(0),
            expired_reclaimed: AtomicU64::new(0),
            versions_reclaimed: AtomicU64::new(0),
            keys_removed: AtomicU64::new(0),
            index_entries: AtomicI64::new(0),
            index_bytes: AtomicI64::new(0),
        }
    }
}

fn non_negative(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// A point-in-time copy of a store's statistics.
///
/// Counts of keys, versions and bytes describe memory actually held, so they
/// include versions kept for open read views and keys that have expired but
/// not yet been reclaimed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Keys whose newest version is a value. A key past its expiry time counts
    /// until the expiry cycle or the garbage collector reclaims it.
    pub live_keys: u64,
    /// Keys held in the ordered index, including those whose newest version is
    /// a deletion marker still needed by an open read view.
    pub keys_held: u64,
    /// Versions (values and deletion markers) held across all keys.
    pub versions: u64,
    /// Bytes held by users' keys, as the allocator sizes its blocks: each
    /// key's record and ordered-index node (its tower at the mean height),
    /// each version, and the hash table's slots.
    pub bytes: u64,
    /// Keys deleted because their expiry time passed: by the active expiry
    /// cycle, or by an eviction that found them expired (deleted as
    /// expiries, not counted as evicted).
    pub expired_reclaimed: u64,
    /// Old versions freed by garbage collection.
    pub versions_reclaimed: u64,
    /// Keys removed from the index altogether (deleted or expired, and no
    /// longer visible to any read view).
    pub keys_removed: u64,
    /// Point reads served (`get`, `exists`, `ttl`, reads through views).
    pub gets: u64,
    /// Range scans started (iterators and cursors created).
    pub scans: u64,
    /// Put operations applied (including those inside batches).
    pub puts: u64,
    /// Delete operations applied (including those inside batches).
    pub deletes: u64,
    /// Write groups applied (a single put counts as one batch of one).
    pub batches: u64,
    /// Read views currently open (snapshots, iterators, transactions).
    pub open_views: u64,
    /// The newest sequence number visible to readers.
    pub visible_seq: u64,
    /// Secondary index entries held whose newest version is a value
    /// (none of the counts above include index entries).
    pub index_entries: u64,
    /// Bytes held by secondary index entries, counted as `bytes` counts
    /// records.
    pub index_bytes: u64,
    /// Keys inserted one by one since the last completed reordering pass
    /// began: how many ordered-index nodes may lie out of key order in
    /// memory (see [`crate::Store::reorder`]).
    pub scattered_keys: u64,
}

impl Counters {
    pub(crate) fn snapshot(&self, keys_held: usize, open_views: usize, visible_seq: u64) -> Stats {
        Stats {
            live_keys: non_negative(self.live_keys.load(Ordering::Relaxed)),
            keys_held: keys_held as u64,
            versions: non_negative(self.versions.load(Ordering::Relaxed)),
            bytes: non_negative(self.bytes.load(Ordering::Relaxed)),
            expired_reclaimed: self.expired_reclaimed.load(Ordering::Relaxed),
            versions_reclaimed: self.versions_reclaimed.load(Ordering::Relaxed),
            keys_removed: self.keys_removed.load(Ordering::Relaxed),
            gets: self.gets.sum(),
            scans: self.scans.sum(),
            puts: self.puts.load(Ordering::Relaxed),
            deletes: self.deletes.load(Ordering::Relaxed),
            batches: self.batches.load(Ordering::Relaxed),
            open_views: open_views as u64,
            visible_seq,
            index_entries: non_negative(self.index_entries.load(Ordering::Relaxed)),
            index_bytes: non_negative(self.index_bytes.load(Ordering::Relaxed)),
            scattered_keys: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn striped_counter_sums_across_threads() {
        let counter = Arc::new(StripedCounter::new());
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let counter = Arc::clone(&counter);
                std::thread::spawn(move || {
                    for _ in 0..1_000 {
                        counter.add(1);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(counter.sum(), 8_000);
    }
}
