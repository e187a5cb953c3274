//! The change feed: the newest committed batches, kept in memory within a
//! byte budget for watchers to read, and the registry of watchers to wake.
//!
//! Writers append under the write lock, so batches sit in sequence order.
//! Each is the payload its log record holds (`persist::record`), shared by
//! reference with every watcher that reads it. When the budget is passed the
//! oldest batches are dropped; a watcher that still needed them reads them
//! from the log on disk, or is told it lagged.

use std::collections::VecDeque;
use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use kvdb_core::{KeyRange, Op, SeqRange};
use parking_lot::{Mutex, RwLock};

use crate::watch::signal::Signal;

/// Bytes charged per retained batch beyond its payload (the record, its
/// reference count and its slot).
const RECORD_OVERHEAD: usize = 64;

/// One committed batch.
pub(crate) struct ChangeRecord {
    /// The sequence number of its first operation.
    pub(crate) first: u64,
    /// The sequence number of its last operation (its commit point).
    pub(crate) last: u64,
    /// The operations, as a log record's payload encodes them.
    pub(crate) payload: Box<[u8]>,
}

/// A registered watcher: what it watches, and how to wake it.
pub(crate) struct Subscriber {
    pub(crate) range: KeyRange,
    pub(crate) signal: Signal,
}

impl Subscriber {
    fn wants(&self, key: &[u8]) -> bool {
        contains(&self.range, key)
    }
}

/// True if `key` lies within `range`.
pub(crate) fn contains(range: &KeyRange, key: &[u8]) -> bool {
    let above = match &range.0 {
        Bound::Included(start) => key >= &start[..],
        Bound::Excluded(start) => key > &start[..],
        Bound::Unbounded => true,
    };
    above
        && match &range.1 {
            Bound::Included(end) => key <= &end[..],
            Bound::Excluded(end) => key < &end[..],
            Bound::Unbounded => true,
        }
}

struct Retained {
    records: VecDeque<Arc<ChangeRecord>>,
    bytes: usize,
    /// Every batch up to this sequence number is gone from memory (dropped,
    /// or committed before the feed started).
    dropped_through: u64,
}

/// What the feed holds for a watcher that needs sequence number `next`.
pub(crate) enum Found {
    /// The batches from the one holding `next` on (none yet, if `next` is
    /// not committed).
    InMemory,
    /// `next` is no longer in memory; memory starts after `dropped_through`.
    Dropped { dropped_through: u64 },
}

/// The retained batches and the watchers.
pub(crate) struct Feed {
    budget: usize,
    retained: Mutex<Retained>,
    subscribers: RwLock<Vec<Arc<Subscriber>>>,
    subscribed: AtomicUsize,
}

impl Feed {
    /// A feed keeping up to `budget` bytes of batches (0: none, and no
    /// watchers), starting after sequence number `start` (what the store
    /// held when the database opened).
    pub(crate) fn new(budget: usize, start: u64) -> Self {
        Self {
            budget,
            retained: Mutex::new(Retained {
                records: VecDeque::new(),
                bytes: 0,
                dropped_through: start,
            }),
            subscribers: RwLock::new(Vec::new()),
            subscribed: AtomicUsize::new(0),
        }
    }

    /// True if batches are kept (change streams are on).
    pub(crate) fn is_on(&self) -> bool {
        self.budget > 0
    }

    /// Keeps the batch committed at `range`. Called under the write lock,
    /// in sequence order. The newest batch is kept even if it alone passes
    /// the budget, so that watchers that keep up never lag.
    pub(crate) fn retain(&self, range: SeqRange, payload: Box<[u8]>) {
        let charge = payload.len() + RECORD_OVERHEAD;
        let record = Arc::new(ChangeRecord {
            first: range.first(),
            last: range.last(),
            payload,
        });
        let mut retained = self.retained.lock();
        retained.bytes += charge;
        retained.records.push_back(record);
        while retained.bytes > self.budget && retained.records.len() > 1 {
            let Some(old) = retained.records.pop_front() else {
                break;
            };
            retained.bytes -= old.payload.len() + RECORD_OVERHEAD;
            retained.dropped_through = old.last;
        }
    }

    /// Appends to `out` up to `max` batches from the one holding `next`,
    /// none past `visible`.
    pub(crate) fn read(
        &self,
        next: u64,
        visible: u64,
        max: usize,
        out: &mut Vec<Arc<ChangeRecord>>,
    ) -> Found {
        let retained = self.retained.lock();
        if next <= retained.dropped_through {
            return Found::Dropped {
                dropped_through: retained.dropped_through,
            };
        }
        let records = &retained.records;
        let from = records.partition_point(|r| r.last < next);
        out.extend(
            records
                .range(from..)
                .take_while(|r| r.last <= visible)
                .take(max)
                .cloned(),
        );
        Found::InMemory
    }

    /// The oldest sequence number memory can still serve.
    pub(crate) fn oldest_in_memory(&self) -> u64 {
        self.retained.lock().dropped_through + 1
    }

    /// Registers a watcher of `range`.
    pub(crate) fn subscribe(&self, range: KeyRange) -> Arc<Subscriber> {
        let subscriber = Arc::new(Subscriber {
            range,
            signal: Signal::default(),
        });
        let mut subscribers = self.subscribers.write();
        subscribers.push(Arc::clone(&subscriber));
        self.subscribed.store(subscribers.len(), Ordering::SeqCst);
        subscriber
    }

    /// Forgets a watcher.
    pub(crate) fn unsubscribe(&self, subscriber: &Arc<Subscriber>) {
        let mut subscribers = self.subscribers.write();
        subscribers.retain(|s| !Arc::ptr_eq(s, subscriber));
        self.subscribed.store(subscribers.len(), Ordering::SeqCst);
    }

    /// Wakes the watchers that want a key `ops` wrote. Called after the
    /// batch is published.
    pub(crate) fn notify(&self, ops: &[Op<'_>]) {
        if self.subscribed.load(Ordering::SeqCst) == 0 {
            return;
        }
        for subscriber in self.subscribers.read().iter() {
            if ops.iter().any(|op| subscriber.wants(op.key())) {
                subscriber.signal.raise();
            }
        }
    }

    /// Wakes every watcher (the database is closing).
    pub(crate) fn wake_all(&self) {
        for subscriber in self.subscribers.read().iter() {
            subscriber.signal.raise();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(feed: &Feed, first: u64, count: u64, bytes: usize) {
        let range = SeqRange::starting_at(first, count).unwrap();
        feed.retain(range, vec![0u8; bytes].into_boxed_slice());
    }

    #[test]
    fn reads_start_at_the_batch_holding_the_sequence_and_stop_at_visible() {
        let feed = Feed::new(1 << 20, 0);
        record(&feed, 1, 3, 10);
        record(&feed, 4, 1, 10);
        record(&feed, 5, 2, 10);
        let mut out = Vec::new();
        assert!(matches!(feed.read(2, 4, 10, &mut out), Found::InMemory));
        let firsts: Vec<u64> = out.iter().map(|r| r.first).collect();
        assert_eq!(firsts, [1, 4]);
    }

    #[test]
    fn the_budget_drops_the_oldest_batches_but_never_the_newest() {
        let feed = Feed::new(3 * (100 + RECORD_OVERHEAD), 0);
        for i in 1..=10 {
            record(&feed, i, 1, 100);
        }
        assert_eq!(feed.oldest_in_memory(), 8);
        let mut out = Vec::new();
        assert!(matches!(
            feed.read(7, 10, 10, &mut out),
            Found::Dropped { dropped_through: 7 }
        ));
        record(&feed, 11, 1, 1 << 20);
        assert_eq!(feed.oldest_in_memory(), 11);
        assert!(matches!(feed.read(11, 11, 10, &mut out), Found::InMemory));
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn range_membership_follows_the_bounds() {
        let range: KeyRange = (
            Bound::Included(b"b".as_slice().into()),
            Bound::Excluded(b"d".as_slice().into()),
        );
        assert!(!contains(&range, b"a"));
        assert!(contains(&range, b"b"));
        assert!(contains(&range, b"c\xff"));
        assert!(!contains(&range, b"d"));
    }
}
