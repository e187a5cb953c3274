//! The write lock and the application of batches.
//!
//! One [`Writer`] exists at a time per store. While holding it a caller can
//! read the newest applied state (including writes not yet published), pick
//! sequence numbers, and apply a batch. Conditional operations (compare and
//! swap, put-if-absent, increment, transaction commit checks) are decided
//! under it, which makes them atomic against every other writer.

mod load;

use std::cell::{Cell, RefCell};
use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crossbeam_epoch::{self as epoch, Guard};
use parking_lot::MutexGuard;

use crate::chain::ChainRef;
use crate::error::CoreError;
use crate::key_hash::KeyHash;
use crate::limits::{check_key, check_value};
use crate::located::Located;
use crate::prepared::{Applied, PreparedBatch, SeqRange};
use crate::scan::{Direction, Scanner, to_owned_bound};
use crate::space::Space;
use crate::store::Shared;
use crate::version::{Deletion, Version, VersionRef};

/// One write of a batch. Expiry times are absolute ms since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op<'a> {
    /// Store `value` under `key`, replacing any previous value and TTL.
    Put {
        /// The key.
        key: &'a [u8],
        /// The value.
        value: &'a [u8],
        /// When the value expires, if ever.
        expires_at: Option<u64>,
    },
    /// Remove `key`.
    Delete {
        /// The key.
        key: &'a [u8],
    },
}

impl<'a> Op<'a> {
    /// The key the operation writes.
    pub fn key(&self) -> &'a [u8] {
        match *self {
            Op::Put { key, .. } | Op::Delete { key } => key,
        }
    }

    /// Checks the key and value sizes ([`PreparedBatch::new`] does it for
    /// every operation of a batch).
    pub fn check(&self) -> Result<(), CoreError> {
        check_key(self.key())?;
        if let Op::Put { value, .. } = self {
            check_value(value)?;
        }
        Ok(())
    }
}

/// State owned by the holder of the write lock.
pub(crate) struct WriterState {
    next_seq: u64,
    /// How many times the lock has been taken, or chains left the index
    /// under it: a [`crate::Located`] made under one value of this counter
    /// is not used under another.
    holds: u64,
}

impl WriterState {
    pub(crate) fn new() -> Self {
        Self {
            next_seq: 1,
            holds: 0,
        }
    }
}

thread_local! {
    /// Addresses of the stores whose write lock this thread holds.
    static HELD: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

/// Exclusive write access to a store. Dropping it releases the lock.
pub struct Writer<'a> {
    shared: &'a Arc<Shared>,
    state: MutexGuard<'a, WriterState>,
    /// The clock's reading that every judgement of expiry under this hold
    /// uses, taken at the first: a write that found a value live must not
    /// mark its deletion as one of an expired value a moment later.
    now_ms: Cell<Option<u64>>,
}

impl<'a> Writer<'a> {
    pub(crate) fn lock(shared: &'a Arc<Shared>) -> Result<Self, CoreError> {
        let address = Arc::as_ptr(shared) as usize;
        if HELD.with(|held| held.borrow().contains(&address)) {
            return Err(CoreError::ReentrantWrite);
        }
        let mut state = shared.writer.lock();
        state.holds += 1;
        HELD.with(|held| held.borrow_mut().push(address));
        Ok(Self {
            shared,
            state,
            now_ms: Cell::new(None),
        })
    }

    pub(crate) fn shared(&self) -> &Shared {
        self.shared
    }

    /// True if this is the write lock of the store `shared`.
    pub(crate) fn is_of(&self, shared: &Arc<Shared>) -> bool {
        Arc::ptr_eq(self.shared, shared)
    }

    /// Which hold of the lock this is (moved on by [`Writer::forget_located`]).
    pub(crate) fn hold(&self) -> u64 {
        self.state.holds
    }

    /// Invalidates every [`crate::Located`] made so far under this hold:
    /// called when chains leave the index while it is held (a collection
    /// on the writer's own lock), since a located chain may be among them.
    pub(crate) fn forget_located(&mut self) {
        self.state.holds += 1;
    }

    /// The sequence number the next applied operation will get.
    pub fn next_seq(&self) -> u64 {
        self.state.next_seq
    }

    /// The time by the store's clock, read once per hold of the lock: every
    /// read and write under one hold judges expiry at the same instant.
    pub fn now_ms(&self) -> u64 {
        match self.now_ms.get() {
            Some(now) => now,
            None => {
                let now = self.shared.clock.now_ms();
                self.now_ms.set(Some(now));
                now
            }
        }
    }

    /// The absolute expiry time `ttl_ms` after [`Writer::now_ms`]: a TTL
    /// counted from the instant this write judges expiry at. Fails for a TTL
    /// of zero or one longer than [`crate::MAX_TTL_MS`].
    pub fn deadline(&self, ttl_ms: u64) -> Result<u64, CoreError> {
        crate::clock::deadline_from(self.now_ms(), ttl_ms)
    }

    /// Calls `f` with the newest applied value of `key` if it is live now
    /// (published or not: the writer sees every write ordered before it).
    pub fn read<R>(
        &self,
        key: &[u8],
        f: impl FnOnce(Option<VersionRef<'_>>) -> R,
    ) -> Result<R, CoreError> {
        check_key(key)?;
        Ok(self.read_in(Space::User, key, f))
    }

    /// As [`Writer::read`], in the key space `space` (whose keys are not
    /// held to the user key limit).
    pub fn read_in<R>(
        &self,
        space: Space,
        key: &[u8],
        f: impl FnOnce(Option<VersionRef<'_>>) -> R,
    ) -> R {
        let now = self.now_ms();
        self.read_head_in(space, key, |head| {
            f(head.filter(|v| v.is_live_at(now)).and_then(VersionRef::of))
        })
    }

    /// Calls `f` with the newest applied value of `key`, expired or not:
    /// what a view at the newest sequence number sees at a time before the
    /// value expires. `None` if the newest write is a deletion.
    pub fn read_held<R>(
        &self,
        key: &[u8],
        f: impl FnOnce(Option<VersionRef<'_>>) -> R,
    ) -> Result<R, CoreError> {
        check_key(key)?;
        Ok(self.read_head_in(Space::User, key, |head| f(head.and_then(VersionRef::of))))
    }

    fn read_head_in<R>(
        &self,
        space: Space,
        key: &[u8],
        f: impl FnOnce(Option<&Version>) -> R,
    ) -> R {
        let guard = epoch::pin();
        let chain = self.shared.keys(space).lookup(key, &guard);
        f(chain.as_deref().and_then(|chain| chain.head(&guard)))
    }

    /// Calls `f` with each key of `space` within `range`, in ascending
    /// order, whose newest applied version is live now, until `f` returns
    /// false.
    pub fn for_each_live_in(
        &self,
        space: Space,
        range: (Bound<&[u8]>, Bound<&[u8]>),
        mut f: impl FnMut(&[u8]) -> bool,
    ) {
        let now = self.now_ms();
        self.find_head(space, range, |chain, head, _| {
            head.is_live_at(now) && !f(chain.key())
        });
    }

    /// Calls `f` with each key of `space` within `range`, in ascending
    /// order, whose newest applied version is a value, expired or not (see
    /// [`Writer::read_held`]), until `f` returns false.
    pub fn for_each_held_in(
        &self,
        space: Space,
        range: (Bound<&[u8]>, Bound<&[u8]>),
        mut f: impl FnMut(&[u8]) -> bool,
    ) {
        self.find_head(space, range, |chain, head, _| {
            head.is_value() && !f(chain.key())
        });
    }

    /// The sequence number of the newest applied write to `key` (a value or
    /// a deletion), if the store still holds any version of it.
    pub fn latest_seq(&self, key: &[u8]) -> Option<u64> {
        let guard = epoch::pin();
        let chain = self.shared.index.lookup(key, &guard);
        chain
            .as_deref()
            .and_then(|chain| chain.head(&guard))
            .map(|v| v.seq())
    }

    /// The first key, among those with one of `hashes`, whose newest
    /// applied write (a value or a deletion) has a sequence number above
    /// `seq`: that key and number. One hash probe per hash; a chain holds
    /// its newest sequence number at its head. Deletion markers over
    /// expired values are passed over: expiry is not a write.
    pub fn first_written_after(
        &self,
        hashes: impl IntoIterator<Item = KeyHash>,
        seq: u64,
    ) -> Option<(Vec<u8>, u64)> {
        let guard = epoch::pin();
        hashes.into_iter().find_map(|KeyHash(hash)| {
            self.shared.index.find_hashed(hash, &guard, |chain| {
                let newest = chain.newest_write_seq(&guard)?;
                (newest > seq).then(|| (chain.key().to_vec(), newest))
            })
        })
    }

    /// The first key within `range` (in ascending order) whose newest
    /// applied write — a value or a deletion — has a sequence number above
    /// `seq`, if any. Walks only that range of the ordered index. Keys whose
    /// newest write is at or below `seq` are passed over, tombstones
    /// included, so a key written and then deleted after `seq` is found as
    /// long as the store holds its deletion (garbage collection keeps it
    /// while a view at or below `seq` is open). Deletion markers over
    /// expired values are passed over, as in [`Writer::first_written_after`].
    pub fn first_changed_since(
        &self,
        range: (Bound<&[u8]>, Bound<&[u8]>),
        seq: u64,
    ) -> Option<Vec<u8>> {
        self.first_changed_since_in(Space::User, range, seq)
    }

    /// As [`Writer::first_changed_since`], in the key space `space`.
    pub fn first_changed_since_in(
        &self,
        space: Space,
        range: (Bound<&[u8]>, Bound<&[u8]>),
        seq: u64,
    ) -> Option<Vec<u8>> {
        // The head's number bounds the newest write's: most chains are
        // passed over without a walk.
        self.find_head(space, range, |chain, head, guard| {
            head.seq() > seq && chain.newest_write_seq(guard).is_some_and(|at| at > seq)
        })
        .map(|chain| chain.key().to_vec())
    }

    /// The first chain of `space` within `range`, in ascending order, whose
    /// newest applied version `found` accepts (it is given the guard that
    /// version is read under).
    fn find_head(
        &self,
        space: Space,
        range: (Bound<&[u8]>, Bound<&[u8]>),
        mut found: impl FnMut(&ChainRef, &Version, &Guard) -> bool,
    ) -> Option<ChainRef> {
        let (lower, upper) = range;
        let mut scanner = Scanner::new(
            Arc::clone(self.shared),
            space,
            Direction::Forward,
            to_owned_bound(lower),
        );
        while let Some(chain) = scanner.next_chain(upper) {
            let guard = epoch::pin();
            if chain
                .head(&guard)
                .is_some_and(|head| found(&chain, head, &guard))
            {
                return Some(chain);
            }
        }
        None
    }

    /// The sequence numbers `batch` would take if applied now: the next
    /// ones after everything applied. `None` for an empty batch, which
    /// takes none.
    pub fn assign(&self, batch: &PreparedBatch<'_>) -> Option<SeqRange> {
        SeqRange::starting_at(self.state.next_seq, batch.len())
    }

    /// Applies `batch` at `range`, one sequence number per operation,
    /// invisible to readers until the receipt is published. `range` comes
    /// from [`Writer::assign`], or from a log record being replayed (which
    /// may skip ahead, never go back). Fails, applying nothing, only if
    /// `range` does not fit: it is below the next sequence number, or its
    /// length is not the batch's.
    pub fn apply(
        &mut self,
        batch: &PreparedBatch<'_>,
        range: SeqRange,
    ) -> Result<Applied, CoreError> {
        self.check_range(batch, range)?;
        let guard = epoch::pin();
        for (seq, op) in (range.first()..).zip(batch.ops()) {
            self.apply_one(seq, *op, Locate::Lookup, &guard);
        }
        self.apply_index_ops(batch, |at| range.first() + at as u64, &guard);
        Ok(self.finish(range))
    }

    /// Applies the index operations of `batch`, each at the sequence number
    /// `seq_of` gives for its operation's position.
    fn apply_index_ops(
        &self,
        batch: &PreparedBatch<'_>,
        seq_of: impl Fn(usize) -> u64,
        guard: &Guard,
    ) {
        for index_op in batch.index_ops() {
            self.apply_index_op(seq_of(index_op.at), index_op.op, guard);
        }
    }

    /// Installs `ops`, writes to the index key space, all at the newest
    /// applied sequence number, without taking new numbers: for building
    /// an index over what the store already holds (a view at or above that
    /// number sees them; none below it may rely on the index). Keys should
    /// be distinct and not yet written at that number.
    pub fn install_index_entries(&mut self, ops: &[Op<'_>]) -> Result<(), CoreError> {
        for op in ops {
            if let Op::Put { value, .. } = op {
                check_value(value)?;
            }
        }
        let seq = self.state.next_seq - 1;
        let guard = epoch::pin();
        for op in ops {
            self.apply_index_op(seq, *op, &guard);
        }
        Ok(())
    }

    /// As [`Writer::apply`], using the chains `located` found for `batch`
    /// under this hold of the lock (looked up again if it was made under
    /// another, or for another batch).
    pub fn apply_located(
        &mut self,
        batch: &PreparedBatch<'_>,
        range: SeqRange,
        located: Located,
    ) -> Result<Applied, CoreError> {
        self.check_range(batch, range)?;
        let guard = epoch::pin();
        match self.located_chains(&located, batch.ops().len()) {
            Some(chains) => {
                for ((seq, op), chain) in (range.first()..).zip(batch.ops()).zip(chains) {
                    // A `Located` made for another batch finds other keys:
                    // those are looked up afresh.
                    let chain = chain.filter(|c| c.key() == op.key());
                    let locate = match chain.as_deref() {
                        Some(chain) => Locate::Found(chain),
                        None => Locate::Lookup,
                    };
                    self.apply_one(seq, *op, locate, &guard);
                }
            }
            None => {
                for (seq, op) in (range.first()..).zip(batch.ops()) {
                    self.apply_one(seq, *op, Locate::Lookup, &guard);
                }
            }
        }
        self.apply_index_ops(batch, |at| range.first() + at as u64, &guard);
        Ok(self.finish(range))
    }

    fn finish(&mut self, range: SeqRange) -> Applied {
        self.state.next_seq = range.last() + 1;
        self.shared.set_applied(range.last());
        self.shared.counters.batches.fetch_add(1, Ordering::Relaxed);
        Applied::through(range.last())
    }

    /// Refuses a range below the next sequence number or of another length
    /// than the batch.
    fn check_range(&self, batch: &PreparedBatch<'_>, range: SeqRange) -> Result<(), CoreError> {
        if range.first() < self.state.next_seq {
            return Err(CoreError::SequenceRegression {
                expected: self.state.next_seq,
                got: range.first(),
            });
        }
        if range.len() != batch.len() {
            return Err(CoreError::RangeMismatch {
                operations: batch.len(),
                numbers: range.len(),
            });
        }
        Ok(())
    }

    /// Makes room for `additional` more keys, so a bulk load (a snapshot
    /// being restored) does not grow the point index step by step.
    pub fn reserve(&mut self, additional: usize) {
        self.shared.index.reserve(additional, &epoch::pin());
    }

    /// Installs the operations of `batch` all at sequence number `seq`, for
    /// rebuilding a store from a snapshot file (whose entries all date from
    /// one point). Keys should be distinct; `seq` may equal the newest applied sequence (so
    /// a snapshot can be loaded in several calls) but not fall below it.
    pub fn restore(&mut self, seq: u64, batch: &PreparedBatch<'_>) -> Result<Applied, CoreError> {
        if seq + 1 < self.state.next_seq {
            return Err(CoreError::SequenceRegression {
                expected: self.state.next_seq,
                got: seq,
            });
        }
        let guard = epoch::pin();
        let ops = batch.ops();
        for (i, op) in ops.iter().enumerate() {
            // Each key lands in a random hash slot: a cache miss, started
            // a few keys ahead so that several overlap.
            if let Some(ahead) = ops.get(i + RESTORE_PREFETCH_DISTANCE) {
                self.shared.index.prefetch_point(ahead.key(), &guard);
            }
            // A snapshot's keys are new to the store it is loaded into: the
            // hash probe that would find nothing is skipped.
            self.apply_one(seq, *op, Locate::LikelyAbsent, &guard);
        }
        self.apply_index_ops(batch, |_| seq, &guard);
        self.state.next_seq = seq + 1;
        self.shared.set_applied(seq);
        Ok(Applied::through(seq))
    }

    /// Links in a value version as `chain`'s newest, tracks its expiry and
    /// queues the chain for GC if it replaced a version; `inserted` says
    /// the chain is new (its own bytes count too).
    fn push_value(
        &self,
        chain: &ChainRef,
        inserted: bool,
        seq: u64,
        value: &[u8],
        expires_at: Option<u64>,
        guard: &Guard,
    ) -> Pushed {
        let old = chain.head(guard);
        let became_live = !old.is_some_and(Version::is_value);
        let replaced = old.is_some();
        chain.push(seq, Some(value), expires_at, guard);
        if chain.space() == Space::User {
            self.shared.access.write(chain.access(), seq, inserted);
        }
        let mut bytes = chain.head(guard).map_or(0, Version::footprint) as i64;
        if inserted {
            bytes += chain.footprint() as i64;
        }
        if expires_at.is_some() {
            self.shared.ttl.track(chain);
        } else if chain.is_ttl_tracked() {
            // The put cleared the key's TTL: volatile eviction samples the
            // tracked keys, and one left there would cost it a sample.
            self.shared.ttl.untrack(chain);
        }
        if replaced {
            self.shared.gc.enqueue(chain);
        }
        Pushed { became_live, bytes }
    }

    /// Links in a deletion marker as `chain`'s newest and queues the chain
    /// for GC, if its newest version is a value; returns the bytes the
    /// store now holds more, or `None` (nothing written) if it was not.
    fn push_tombstone(&self, chain: &ChainRef, seq: u64, guard: &Guard) -> Option<i64> {
        let head = chain.head(guard).filter(|head| head.is_value())?;
        // Deleting a value that has already expired changes nothing a reader
        // could see: its marker says so, whoever wrote it (an expiry cycle,
        // a batch; garbage collection may even have dropped the value, and
        // the key, first).
        let deletion = match head.expires_at() {
            Some(at) if at <= self.now_ms() => Deletion::Expiry,
            _ => Deletion::Write,
        };
        chain.push_deletion(seq, deletion, guard);
        self.shared.gc.enqueue(chain);
        Some(chain.head(guard).map_or(0, Version::footprint) as i64)
    }

    /// Applies one write to the index key space at `seq`. Counted apart
    /// from users' keys.
    fn apply_index_op(&self, seq: u64, op: Op<'_>, guard: &Guard) {
        let shared = self.shared;
        let c = &shared.counters;
        let index = shared.keys(Space::Index);
        match op {
            Op::Put {
                key,
                value,
                expires_at,
            } => {
                let (chain, inserted) = index.get_or_insert(key, guard);
                let pushed = self.push_value(&chain, inserted, seq, value, expires_at, guard);
                if pushed.became_live {
                    c.index_entries.fetch_add(1, Ordering::Relaxed);
                }
                c.index_bytes.fetch_add(pushed.bytes, Ordering::Relaxed);
            }
            Op::Delete { key } => {
                let Some(chain) = index.lookup(key, guard) else {
                    return;
                };
                if let Some(bytes) = self.push_tombstone(&chain, seq, guard) {
                    c.index_bytes.fetch_add(bytes, Ordering::Relaxed);
                    c.index_entries.fetch_sub(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// Applies one operation at `seq`, finding its key's chain as `locate`
    /// says.
    fn apply_one(&self, seq: u64, op: Op<'_>, locate: Locate<'_>, guard: &Guard) {
        let shared = self.shared;
        let c = &shared.counters;
        match op {
            Op::Put {
                key,
                value,
                expires_at,
            } => {
                c.puts.fetch_add(1, Ordering::Relaxed);
                let inserted_chain;
                let (chain, inserted) = match locate {
                    Locate::Found(chain) => (chain, false),
                    Locate::Lookup => {
                        let (chain, inserted) = shared.index.get_or_insert(key, guard);
                        inserted_chain = chain;
                        (&inserted_chain, inserted)
                    }
                    Locate::LikelyAbsent => {
                        let (chain, inserted) = shared.index.insert_likely_absent(key, guard);
                        inserted_chain = chain;
                        (&inserted_chain, inserted)
                    }
                };
                let pushed = self.push_value(chain, inserted, seq, value, expires_at, guard);
                shared.index.note_head(chain, guard);
                if pushed.became_live {
                    c.live_keys.fetch_add(1, Ordering::Relaxed);
                }
                c.versions.fetch_add(1, Ordering::Relaxed);
                c.bytes.fetch_add(pushed.bytes, Ordering::Relaxed);
            }
            Op::Delete { key } => {
                c.deletes.fetch_add(1, Ordering::Relaxed);
                let found;
                let chain: &ChainRef = match locate {
                    Locate::Found(chain) => chain,
                    Locate::Lookup | Locate::LikelyAbsent => {
                        found = shared.index.lookup(key, guard);
                        match &found {
                            Some(chain) => chain,
                            None => return,
                        }
                    }
                };
                if let Some(bytes) = self.push_tombstone(chain, seq, guard) {
                    shared.index.note_head(chain, guard);
                    c.bytes.fetch_add(bytes, Ordering::Relaxed);
                    c.live_keys.fetch_sub(1, Ordering::Relaxed);
                    c.versions.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

/// How many keys ahead [`Writer::restore`] starts loading hash slots.
const RESTORE_PREFETCH_DISTANCE: usize = 8;

/// How [`Writer::apply_one`] finds the chain of an operation's key.
#[derive(Clone, Copy)]
enum Locate<'a> {
    /// Look it up (the hash index first).
    Lookup,
    /// Already found under this hold of the write lock.
    Found(&'a ChainRef),
    /// Most likely absent: insert, without first probing the hash index.
    LikelyAbsent,
}

/// What [`Writer::push_value`] did, for the counters.
struct Pushed {
    /// The key had no live value before.
    became_live: bool,
    /// Bytes the store now holds more.
    bytes: i64,
}

impl Drop for Writer<'_> {
    fn drop(&mut self) {
        let address = Arc::as_ptr(self.shared) as usize;
        HELD.with(|held| held.borrow_mut().retain(|&a| a != address));
    }
}
