//! The change feed: the newest committed batches, kept in memory within a
//! byte budget for watchers to read, and the registry of watchers to wake.
//!
//! Batches are appended under the write lock, in sequence order, to a list
//! of chunks ([`chunk`](super::chunk)): a writer copies its batch's log
//! payload to the end of the newest chunk, with no allocation, and watchers
//! read published records in place without taking any lock until they
//! reach the end of a chunk. When the budget is passed the oldest chunks are
//! dropped; a watcher that still needed them reads them from the log on
//! disk, or is told it lagged. A watcher keeps at most the one chunk it is
//! reading alive, so slow watchers add at most one chunk each to the budget.

use std::collections::VecDeque;
use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crossbeam_utils::CachePadded;
use kvdb_core::{KeyRange, Op, SeqRange};
use parking_lot::{Mutex, MutexGuard, RwLock};

use crate::watch::chunk::{Appender, Chunk, ChunkCursor, HEADER};
use crate::watch::signal::Signal;

/// The most a chunk holds (a batch bigger than this gets a chunk of its
/// own size).
const MAX_CHUNK_BYTES: usize = 64 * 1024;

/// The least a chunk holds.
const MIN_CHUNK_BYTES: usize = 1024;

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

/// The chunks still in memory, oldest first.
struct Retained {
    chunks: VecDeque<Arc<Chunk>>,
    bytes: usize,
    /// Every batch up to this sequence number is gone from memory (dropped,
    /// or committed before the feed started).
    dropped_through: u64,
}

/// The writers' end of the feed.
struct Tail {
    appender: Appender,
    /// A batch is encoded here, for the log and the feed, before it is
    /// copied into a chunk; reused from write to write.
    staging: Vec<u8>,
}

/// The retained batches and the watchers.
pub(crate) struct Feed {
    budget: usize,
    chunk_bytes: usize,
    /// Written by every commit: padded away from what watchers write.
    tail: CachePadded<Mutex<Tail>>,
    retained: Mutex<Retained>,
    subscribers: CachePadded<RwLock<Vec<Arc<Subscriber>>>>,
    subscribed: AtomicUsize,
    /// Watchers holding the right to busy-spin (see [`Feed::try_spin`]).
    /// Padded: watchers write it, and writers must not pay for that.
    pub(crate) spinning: CachePadded<AtomicUsize>,
    /// The most that may: one fewer than the CPUs, so that writers keep one.
    max_spinning: usize,
}

impl Feed {
    /// A feed keeping up to `budget` bytes of batches (0: none, and no
    /// watchers), starting after sequence number `start` (what the store
    /// held when the database opened).
    pub(crate) fn new(budget: usize, start: u64) -> Self {
        let chunk_bytes = (budget / 16).clamp(MIN_CHUNK_BYTES, MAX_CHUNK_BYTES);
        let (chunk, appender) = Chunk::new(start + 1, if budget == 0 { 0 } else { chunk_bytes });
        Self {
            budget,
            chunk_bytes,
            tail: CachePadded::new(Mutex::new(Tail {
                appender,
                staging: Vec::new(),
            })),
            retained: Mutex::new(Retained {
                bytes: chunk.capacity(),
                chunks: VecDeque::from([chunk]),
                dropped_through: start,
            }),
            subscribers: CachePadded::new(RwLock::new(Vec::new())),
            subscribed: AtomicUsize::new(0),
            spinning: CachePadded::new(AtomicUsize::new(0)),
            max_spinning: std::thread::available_parallelism().map_or(0, |n| n.get() - 1),
        }
    }

    /// True if batches are kept (change streams are on).
    pub(crate) fn is_on(&self) -> bool {
        self.budget > 0
    }

    /// Starts appending a batch: its payload is encoded into
    /// [`Staged::payload`], then [`Staged::publish`]ed. Called under the
    /// write lock, so batches join in sequence order.
    pub(crate) fn stage(&self) -> Staged<'_> {
        let mut tail = self.tail.lock();
        tail.staging.clear();
        Staged { feed: self, tail }
    }

    /// Moves the tail to a new chunk that fits `len` payload bytes, and
    /// drops the oldest chunks past the budget (never the newest).
    fn start_chunk(&self, tail: &mut Tail, first_seq: u64, len: usize) {
        let (chunk, appender) = Chunk::new(first_seq, self.chunk_bytes.max(HEADER + len));
        {
            let mut retained = self.retained.lock();
            retained.bytes += chunk.capacity();
            retained.chunks.push_back(chunk);
            while retained.bytes > self.budget && retained.chunks.len() > 1 {
                let Some(old) = retained.chunks.pop_front() else {
                    break;
                };
                retained.bytes -= old.capacity();
            }
            // Chunks hold consecutive batches: what the oldest kept one
            // does not hold is gone.
            retained.dropped_through = retained.chunks[0].first_seq() - 1;
        }
        // Sealed after the new chunk is listed: a watcher at the end of the
        // old one finds the next.
        std::mem::replace(&mut tail.appender, appender).seal();
    }

    /// A cursor at the chunk holding sequence number `next` (or the newest
    /// chunk, if `next` is not yet committed); `Err(dropped_through)` if
    /// `next` is no longer in memory.
    pub(crate) fn locate(&self, next: u64) -> Result<ChunkCursor, u64> {
        let retained = self.retained.lock();
        if next <= retained.dropped_through {
            return Err(retained.dropped_through);
        }
        let chunks = &retained.chunks;
        let holding = chunks
            .partition_point(|c| c.first_seq() <= next)
            .saturating_sub(1);
        Ok(ChunkCursor::new(Arc::clone(&chunks[holding])))
    }

    /// The oldest sequence number memory can still serve.
    pub(crate) fn oldest_in_memory(&self) -> u64 {
        self.retained.lock().dropped_through + 1
    }

    /// Takes the right to busy-spin while waiting for changes, if fewer
    /// watchers than one fewer than the CPUs hold it; true if taken. The
    /// holder gives it back with [`Feed::stop_spinning`]. Others should
    /// yield the CPU between looks.
    pub(crate) fn try_spin(&self) -> bool {
        self.spinning
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < self.max_spinning).then_some(n + 1)
            })
            .is_ok()
    }

    /// How many watchers may busy-spin at once.
    #[cfg(test)]
    pub(crate) fn max_spinning(&self) -> usize {
        self.max_spinning
    }

    /// Gives back the right [`Feed::try_spin`] granted.
    pub(crate) fn stop_spinning(&self) {
        self.spinning.fetch_sub(1, Ordering::Relaxed);
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
        self.notify_keys(ops.iter().map(Op::key));
    }

    /// Wakes the watchers that want one of `keys`, just written. Called
    /// after the batch that wrote them is published.
    pub(crate) fn notify_keys<'k>(&self, keys: impl Iterator<Item = &'k [u8]> + Clone) {
        if self.subscribed.load(Ordering::SeqCst) == 0 {
            return;
        }
        for subscriber in self.subscribers.read().iter() {
            if keys.clone().any(|key| subscriber.wants(key)) {
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

/// A batch being appended to the feed; dropping it without
/// [`Staged::publish`] appends nothing.
pub(crate) struct Staged<'a> {
    feed: &'a Feed,
    tail: MutexGuard<'a, Tail>,
}

impl Staged<'_> {
    /// Where the batch's payload is encoded.
    pub(crate) fn payload(&mut self) -> &mut Vec<u8> {
        &mut self.tail.staging
    }

    /// Appends the encoded batch, committed at `range`, for watchers.
    pub(crate) fn publish(mut self, range: SeqRange) {
        let tail = &mut *self.tail;
        if !tail.appender.fits(tail.staging.len()) {
            self.feed
                .start_chunk(tail, range.first(), tail.staging.len());
        }
        tail.appender
            .append(range.first(), range.last(), &tail.staging);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::watch::chunk::Next;

    fn record(feed: &Feed, first: u64, count: u64, bytes: usize) {
        let range = SeqRange::starting_at(first, count).unwrap();
        let mut staged = feed.stage();
        staged.payload().resize(bytes, 0);
        staged.publish(range);
    }

    fn firsts(mut cursor: ChunkCursor, from: u64, visible: u64) -> Vec<u64> {
        let mut firsts = Vec::new();
        while let Next::Record { first, .. } = cursor.next(from, visible) {
            firsts.push(first);
        }
        firsts
    }

    #[test]
    fn reads_start_at_the_batch_holding_the_sequence_and_stop_at_visible() {
        let feed = Feed::new(1 << 20, 0);
        record(&feed, 1, 3, 10);
        record(&feed, 4, 1, 10);
        record(&feed, 5, 2, 10);
        let cursor = feed.locate(2).unwrap_or_else(|_| panic!("in memory"));
        assert_eq!(firsts(cursor, 2, 4), [1, 4]);
    }

    #[test]
    fn the_budget_drops_the_oldest_chunks_but_never_the_newest() {
        // Chunks of MIN_CHUNK_BYTES; each holds 4 records of 200 bytes.
        let feed = Feed::new(3 * MIN_CHUNK_BYTES, 0);
        for i in 1..=20 {
            record(&feed, i, 1, 200);
        }
        // Chunks [1-4] [5-8] [9-12] [13-16] [17-20]: the newest three stay.
        assert_eq!(feed.oldest_in_memory(), 9);
        assert!(matches!(feed.locate(8), Err(8)));
        let cursor = feed.locate(10).unwrap_or_else(|_| panic!("in memory"));
        assert_eq!(firsts(cursor, 10, 20), [10, 11, 12]);
        record(&feed, 21, 1, 1 << 20);
        assert_eq!(
            feed.oldest_in_memory(),
            21,
            "a batch past the budget stays alone"
        );
        let cursor = feed.locate(21).unwrap_or_else(|_| panic!("in memory"));
        assert_eq!(firsts(cursor, 21, 21), [21]);
    }

    #[test]
    fn a_reader_at_the_end_of_a_sealed_chunk_finds_the_next() {
        let feed = Feed::new(1 << 20, 0);
        record(&feed, 1, 1, 10);
        let mut cursor = feed.locate(1).unwrap_or_else(|_| panic!("in memory"));
        assert!(matches!(cursor.next(1, 10), Next::Record { first: 1, .. }));
        assert!(matches!(cursor.next(2, 10), Next::Pending));
        record(&feed, 2, 1, MAX_CHUNK_BYTES);
        assert!(matches!(cursor.next(2, 10), Next::End));
        let cursor = feed.locate(2).unwrap_or_else(|_| panic!("in memory"));
        assert_eq!(firsts(cursor, 2, 10), [2]);
    }

    #[test]
    fn the_right_to_spin_is_granted_to_one_fewer_watchers_than_cpus() {
        let feed = Feed::new(1 << 20, 0);
        let granted = (0..64).take_while(|_| feed.try_spin()).count();
        assert_eq!(granted, feed.max_spinning);
        if granted > 0 {
            feed.stop_spinning();
            assert!(feed.try_spin(), "a right given back is granted again");
        }
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
