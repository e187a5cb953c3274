//! Optimistic transactions, serializable for everything they read — point
//! reads, keys read as absent, every key range their iterators looked at
//! (phantoms included), and every index entry range their index queries
//! looked at with the records found through it.
//!
//! A transaction reads at the read view taken when it began, with its own
//! writes merged on top, and buffers its writes. Commit takes the write
//! lock and validates: if any key the transaction read or wrote, or any key
//! position inside a range it observed, was written by anyone (a
//! transaction, a plain write, a batch, a conditional write, expire or
//! persist) after the transaction began, the commit fails with
//! [`crate::ErrorKind::Conflict`] and nothing is applied (first committer
//! wins). Otherwise the writes apply as one atomic batch through the
//! write-ahead log under the sync policy, under the same hold of the lock.
//!
//! Every committed transaction is therefore equivalent to running alone at
//! its commit point: what it read was still current then. A read-only
//! transaction commits without validation; it is serializable at its begin.
//!
//! Validation reads each key's newest sequence number from its chain (one
//! hash probe) and walks only the observed ranges. A transaction holds its
//! read view, and so holds back garbage collection of versions newer than
//! its begin, for as long as it is open. Expiry by the clock is not a
//! write: a key that expires while a transaction runs does not conflict
//! with it, whether or not it has been removed since (by an expiry cycle, a
//! delete or garbage collection: removing what expired is not a write
//! either). The transaction keeps seeing it as it was at begin; if it then
//! commits, what it wrote is applied after the expiry.

mod cursor;
mod index;
mod tracking;
mod writes;

use std::ops::{Bound, RangeBounds};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use kvdb_core::{
    KeyHash, Located, Op, PreparedBatch, ReadView, Space, Writer, check_key, check_value,
    prefix_bounds,
};
use smallvec::SmallVec;

pub use cursor::{TxnCursor, TxnIter};
pub use index::TxnIndexIter;
use tracking::{Observed, ReadSet, ToValidate};
use writes::{Pending, TxnWrites};

use crate::db::{Db, Inner};
use crate::error::{Error, ErrorKind, Result};
use crate::persist::record::Cause;
use crate::ttl::ttl_millis;

/// The most bytes of keys and values one transaction may write (1 GiB);
/// past it a write fails with [`crate::ErrorKind::TooLarge`].
pub const MAX_TXN_WRITE_BYTES: usize = 1 << 30;

/// How often [`Db::transaction`] retries a transaction that conflicted; the
/// last retry holds the write lock, so that only an eviction its own commit
/// makes can make it conflict.
pub const TRANSACTION_RETRIES: usize = 16;

/// An open transaction. Made by [`Db::begin`]; [`Txn::commit`] applies it,
/// [`Txn::rollback`] or dropping it discards it.
///
/// A transaction is used by one thread at a time (it is `Send`, so it may
/// move between threads). Its reads see the database as it was when it
/// began, plus its own writes.
pub struct Txn {
    inner: Arc<Inner>,
    view: ReadView,
    writes: TxnWrites,
    /// False until the first write: spares a read-only transaction's gets
    /// a look into the write set.
    has_writes: bool,
    write_bytes: usize,
    reads: ReadSet,
    /// Made by the first cursor: most transactions open none.
    observed: OnceLock<Observed>,
    /// Open savepoints, newest last.
    savepoints: Vec<Savepoint>,
}

/// What rolling back to a savepoint restores.
struct Savepoint {
    /// The writes replaced since, oldest first: each key and its write
    /// before (none: the key had no write).
    undo: Vec<(Vec<u8>, Option<Pending>)>,
    /// The write set's arena length and the bytes written when it was made.
    arena_len: usize,
    write_bytes: usize,
}

/// Why a commit failed: a conflict, with the newest sequence number applied
/// when it was found, or any other error.
enum Failure {
    Conflict { error: Error, applied: u64 },
    Other(Error),
}

impl Failure {
    fn into_error(self) -> Error {
        match self {
            Failure::Conflict { error, .. } | Failure::Other(error) => error,
        }
    }
}

impl<E: Into<Error>> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure::Other(e.into())
    }
}

/// How long [`Db::transaction`] waits, before a retry, for the commits it
/// conflicted with to become visible.
const CONFLICT_WAIT: Duration = Duration::from_millis(50);

fn as_slice(bound: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    bound.as_ref().map(Vec::as_slice)
}

fn key_text(key: &[u8]) -> String {
    let shown: String = key
        .iter()
        .take(64)
        .flat_map(|b| b.escape_ascii())
        .map(char::from)
        .collect();
    if key.len() > 64 {
        format!("{shown}…")
    } else {
        shown
    }
}

impl Txn {
    pub(crate) fn new(inner: Arc<Inner>) -> Result<Self> {
        inner.check_open()?;
        let view = inner.store.snapshot();
        Ok(Self {
            inner,
            view,
            writes: TxnWrites::default(),
            has_writes: false,
            write_bytes: 0,
            reads: ReadSet::default(),
            observed: OnceLock::new(),
            savepoints: Vec::new(),
        })
    }

    /// True if this process is a `fork()` child of the one that began the
    /// transaction: every call then fails.
    pub fn is_inherited_across_fork(&self) -> bool {
        self.view.is_inherited_across_fork()
    }

    /// The sequence number of the read view the transaction reads at.
    pub fn read_seq(&self) -> u64 {
        self.view.seq()
    }

    /// Calls `f` with the value of `key` as this transaction sees it (its
    /// own write, or the view's value), borrowed. The read counts for
    /// validation unless the transaction's own write answered it.
    #[inline]
    pub fn get_with<R>(&mut self, key: &[u8], f: impl FnOnce(Option<&[u8]>) -> R) -> Result<R> {
        self.inner.check_open()?;
        // An oversized key matches no write; the view rejects it.
        if self.has_writes
            && let Some(pending) = self.writes.get(key)
        {
            return Ok(f(self.writes.value(pending)));
        }
        let (found, hash) = self.view.get_hashed_with(key, |v| f(v.map(|v| v.value)))?;
        self.reads.add(hash);
        Ok(found)
    }

    /// The value of `key` as this transaction sees it, copied.
    pub fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.get_with(key, |v| v.map(<[u8]>::to_vec))
    }

    /// The values of `keys` as this transaction sees them, copied, in the
    /// same order: its own write where it wrote the key, else the value at
    /// its read view. The view's reads overlap their memory accesses, as
    /// [`Db::get_many`]'s do. Every key its own write did not answer counts
    /// for validation, as through [`Txn::get`] (a key read as absent
    /// included). Fails, reading nothing, if any key is longer than
    /// [`crate::MAX_KEY_LEN`].
    pub fn get_many<K: AsRef<[u8]>>(&mut self, keys: &[K]) -> Result<Vec<Option<Vec<u8>>>> {
        let mut values = Vec::with_capacity(keys.len());
        self.get_many_with(keys, |_, v| values.push(v.map(<[u8]>::to_vec)))?;
        Ok(values)
    }

    /// As [`Txn::get_many`], calling `f(i, value)` with each value borrowed
    /// (no copy), in order of `i`, the key's position in `keys`.
    pub fn get_many_with<K: AsRef<[u8]>>(
        &mut self,
        keys: &[K],
        mut f: impl FnMut(usize, Option<&[u8]>),
    ) -> Result<()> {
        self.inner.check_open()?;
        let (writes, reads, has_writes) = (&self.writes, &mut self.reads, self.has_writes);
        self.view.get_many_hashed_with(keys, |i, value, hash| {
            let own = if has_writes {
                writes.get(keys[i].as_ref())
            } else {
                None
            };
            match own {
                Some(pending) => f(i, writes.value(pending)),
                None => {
                    reads.add(hash);
                    f(i, value.map(|v| v.value));
                }
            }
        })?;
        Ok(())
    }

    /// True if `key` holds a live value as this transaction sees it.
    pub fn exists(&mut self, key: &[u8]) -> Result<bool> {
        self.get_with(key, |v| v.is_some())
    }

    /// Records a write of `key` (a put of `value`, or a deletion if none)
    /// within the transaction's write limit.
    fn write(&mut self, key: &[u8], value: Option<(&[u8], Option<u64>)>) -> Result<()> {
        self.inner.check_open()?;
        let added = key.len() + value.map_or(0, |(v, _)| v.len());
        if self.write_bytes + added > MAX_TXN_WRITE_BYTES {
            return Err(Error::TooLarge(format!(
                "a transaction may write at most {MAX_TXN_WRITE_BYTES} bytes of keys and values"
            )));
        }
        self.write_bytes += added;
        let writes = self.writes.make_mut();
        self.has_writes = true;
        let previous = match value {
            Some((value, ttl_ms)) => writes.put(key, value, ttl_ms),
            None => writes.delete(key),
        };
        if let Some(savepoint) = self.savepoints.last_mut() {
            savepoint.undo.push((key.to_vec(), previous));
        }
        Ok(())
    }

    /// Stores `value` under `key` when the transaction commits, replacing
    /// any value and TTL.
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        check_key(key)?;
        check_value(value)?;
        self.write(key, Some((value, None)))
    }

    /// Stores `value` under `key` when the transaction commits, to expire
    /// `ttl` after the commit.
    pub fn put_with_ttl(&mut self, key: &[u8], value: &[u8], ttl: Duration) -> Result<()> {
        check_key(key)?;
        check_value(value)?;
        let ttl_ms = ttl_millis(ttl)?;
        self.write(key, Some((value, Some(ttl_ms))))
    }

    /// Removes `key` when the transaction commits. Returns true if the key
    /// was live as this transaction sees it; false writes nothing (the read
    /// still counts for validation).
    pub fn delete(&mut self, key: &[u8]) -> Result<bool> {
        if !self.exists(key)? {
            return Ok(false);
        }
        self.write(key, None)?;
        Ok(true)
    }

    /// Marks a point that [`Txn::rollback_to_savepoint`] returns to.
    /// Savepoints nest.
    pub fn savepoint(&mut self) {
        self.savepoints.push(Savepoint {
            undo: Vec::new(),
            arena_len: self.writes.arena_len(),
            write_bytes: self.write_bytes,
        });
    }

    /// Undoes the writes made since the newest savepoint and drops it.
    /// Fails with [`crate::ErrorKind::NotFound`] if there is none. Reads made since
    /// still count for validation.
    pub fn rollback_to_savepoint(&mut self) -> Result<()> {
        self.inner.check_open()?;
        let savepoint = self.savepoints.pop().ok_or(Error::NotFound)?;
        let writes = self.writes.make_mut();
        for (key, previous) in savepoint.undo.into_iter().rev() {
            writes.restore(&key, previous);
        }
        writes.truncate_arena(savepoint.arena_len);
        self.write_bytes = savepoint.write_bytes;
        Ok(())
    }

    /// A cursor over the keys within `range`, this transaction's writes
    /// merged over its view (as of now: later writes of the transaction are
    /// not seen by it). The range counts for validation; for an unbounded
    /// range, what the cursor looks at does.
    pub fn cursor<K: AsRef<[u8]>>(&self, range: impl RangeBounds<K>) -> TxnCursor {
        let lower = range.start_bound().map(|k| k.as_ref().to_vec());
        let upper = range.end_bound().map(|k| k.as_ref().to_vec());
        self.cursor_over((lower, upper))
    }

    fn cursor_over(&self, range: (Bound<Vec<u8>>, Bound<Vec<u8>>)) -> TxnCursor {
        let base = self.view.clone().cursor((range.0.clone(), range.1.clone()));
        let observed = self.observed.get_or_init(Observed::default).clone();
        TxnCursor::new(base, self.writes.share(), range, observed)
    }

    /// A cursor over the keys starting with `prefix` (the prefix's range
    /// counts for validation).
    pub fn prefix_cursor(&self, prefix: &[u8]) -> TxnCursor {
        let (lower, upper) = prefix_bounds(prefix);
        self.cursor_over((lower.map(Vec::from), upper.map(Vec::from)))
    }

    /// The pairs within `range` in ascending key order.
    pub fn range<K: AsRef<[u8]>>(&self, range: impl RangeBounds<K>) -> TxnIter {
        TxnIter::new(self.cursor(range), false)
    }

    /// The pairs within `range` in descending key order.
    pub fn range_desc<K: AsRef<[u8]>>(&self, range: impl RangeBounds<K>) -> TxnIter {
        TxnIter::new(self.cursor(range), true)
    }

    /// The pairs whose keys start with `prefix`, ascending.
    pub fn prefix(&self, prefix: &[u8]) -> TxnIter {
        TxnIter::new(self.prefix_cursor(prefix), false)
    }

    /// Every pair, ascending (the whole key space counts as observed once
    /// the iteration reaches its end).
    pub fn iter(&self) -> TxnIter {
        TxnIter::new(self.cursor::<&[u8]>(..), false)
    }

    /// Applies the transaction's writes as one atomic batch, or fails with
    /// [`crate::ErrorKind::Conflict`] (nothing applied) if anything it read, wrote
    /// or observed was written by someone else since it began. Durable
    /// before it returns under the `always` sync policy. A transaction
    /// without writes commits at once.
    ///
    /// Under a memory limit the commit first makes room for its writes,
    /// which may evict keys: an eviction of a key the transaction read or
    /// observed is a write after it began, so the commit then conflicts
    /// (the eviction stands), as a Redis `EXEC` fails when its eviction
    /// takes a watched key. [`MemoryLimit`](crate::ErrorKind::MemoryLimit)
    /// if the policy cannot make room; nothing is evicted or applied then.
    ///
    /// Returns the commit point: the sequence number of the transaction's
    /// last write (every transaction that committed earlier has a smaller
    /// one), or for a transaction without writes the sequence it read at.
    pub fn commit(self) -> Result<u64> {
        self.try_commit().map_err(Failure::into_error)
    }

    /// As [`Txn::commit`]; a conflict also reports the newest sequence
    /// number applied when validation failed.
    fn try_commit(self) -> std::result::Result<u64, Failure> {
        self.try_commit_holding(None)
    }

    /// As [`Txn::try_commit`], under `held` if the caller already holds
    /// the write lock (it must be this transaction's database's).
    fn try_commit_holding(self, held: Option<Writer<'_>>) -> std::result::Result<u64, Failure> {
        self.inner.check_open()?;
        if self.writes.is_empty() {
            return Ok(self.view.seq());
        }
        let observed = self
            .observed
            .get()
            .map(Observed::to_validate)
            .unwrap_or_default();
        let mut ops: SmallVec<[Op<'_>; 8]> = SmallVec::with_capacity(self.writes.len());
        let mut writer = match held {
            Some(writer) => writer,
            None => self.inner.begin_write()?,
        };
        // Filled holding the lock: TTLs count from the write's reading of
        // the clock, the instant the commit judges expiry at, so each gets
        // the whole of its TTL.
        for (key, pending) in self.writes.iter() {
            ops.push(match pending {
                Pending::Put { ttl_ms, .. } => Op::Put {
                    key,
                    value: self.writes.value(pending).unwrap_or_default(),
                    expires_at: match ttl_ms {
                        Some(ms) => Some(writer.deadline(*ms)?),
                        None => None,
                    },
                },
                Pending::Delete => Op::Delete { key },
            });
        }
        let batch = PreparedBatch::new(&ops)?;
        // Room first: an eviction is a write like any other, which the
        // validation below then sees. A transaction whose own commit evicts
        // a key it read conflicts, as a Redis EXEC fails whose eviction
        // takes a watched key.
        let prepared = self.inner.prepare(&mut writer, batch.ops(), Cause::Write);
        // The written keys' chains are looked up once: to validate them now
        // and to apply the batch.
        let located = writer.locate(&batch);
        let conflict = self.first_conflict(&writer, &located, &observed);
        // Validated: nothing reads through the view any more, and a view
        // older than the eviction would keep its victims from being freed
        // before the commit returns.
        drop(self.view);
        let applied = writer.next_seq() - 1;
        let prepared = match (prepared, conflict) {
            (Ok(prepared), None) => prepared,
            (Ok(prepared), Some(error)) => {
                self.inner.abandon(writer, prepared)?;
                return Err(Failure::Conflict {
                    error: Error::Conflict(error),
                    applied,
                });
            }
            // A conflict says more than a refusal for memory (which
            // evicted nothing): a retry reads afresh, and may write less.
            // Any other failure (a stopped log) says more than a conflict.
            (Err(e), Some(error)) if e.kind() == ErrorKind::MemoryLimit => {
                return Err(Failure::Conflict {
                    error: Error::Conflict(error),
                    applied,
                });
            }
            (Err(e), _) => return Err(e.into()),
        };
        let committed =
            self.inner
                .commit_prepared(writer, batch, prepared, Some(located), Cause::Write)?;
        Ok(committed)
    }

    /// Why the transaction cannot commit under `writer`, if it cannot:
    /// something it read, wrote (its keys' chains are `located`) or
    /// `observed` was written after it began.
    fn first_conflict(
        &self,
        writer: &Writer<'_>,
        located: &Located,
        observed: &ToValidate,
    ) -> Option<String> {
        let seq = self.view.seq();
        let written = located.hashes();
        let found = writer
            .first_located_written_after(located, seq)
            .or_else(|| {
                let read_not_written: SmallVec<[KeyHash; 8]> = self
                    .reads
                    .not_in(written)
                    // A key both read through an index and written is
                    // checked twice: harmless.
                    .chain(observed.keys.iter().copied())
                    .collect();
                (!read_not_written.is_empty())
                    .then(|| writer.first_written_after(read_not_written, seq))
                    .flatten()
            });
        if let Some((key, at)) = found {
            return Some(format!(
                "key \"{}\" was written at sequence {at}, after this transaction began (it reads at {seq})",
                key_text(&key)
            ));
        }
        for (lower, upper) in &observed.ranges {
            if let Some(key) = writer.first_changed_since((as_slice(lower), as_slice(upper)), seq) {
                return Some(format!(
                    "key \"{}\", in a range this transaction scanned, was written after it began (it reads at {seq})",
                    key_text(&key)
                ));
            }
        }
        for (lower, upper) in &observed.index_ranges {
            let range = (as_slice(lower), as_slice(upper));
            if let Some(entry) = writer.first_changed_since_in(Space::Index, range, seq) {
                let key = kvdb_index::entry::decode(&entry)
                    .map_or(entry.clone(), |(_, _, pk)| pk.to_vec());
                return Some(format!(
                    "an index entry of key \"{}\", in an index range this transaction queried, was written after it began (it reads at {seq})",
                    key_text(&key)
                ));
            }
        }
        None
    }

    /// Discards the transaction (dropping it does the same).
    pub fn rollback(self) {}
}

impl std::fmt::Debug for Txn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Txn")
            .field("read_seq", &self.view.seq())
            .field("writes", &self.writes.len())
            .field("reads", &self.reads.len())
            .finish()
    }
}

impl Db {
    /// Begins a transaction reading at the database as it is now.
    pub fn begin(&self) -> Result<Txn> {
        Txn::new(Arc::clone(&self.inner))
    }

    /// Runs `body` in a transaction and commits it, retrying the whole
    /// transaction when the commit conflicts, so that it commits however
    /// busy the keys it touches are.
    ///
    /// - Before each retry it waits (up to 50 ms) until the commits it
    ///   conflicted with are visible: a retry that began before then would
    ///   conflict with them again.
    /// - The first attempt and [`TRANSACTION_RETRIES`] − 1 retries are
    ///   optimistic: other writers go on meanwhile. The last retry runs
    ///   `body` holding the write lock, as SQLite's `BEGIN IMMEDIATE` does,
    ///   so that no other writer can conflict with it: a transaction is never
    ///   starved by writers that keep winning. Meanwhile other writes wait,
    ///   and a write through this `Db` from inside `body` (rather than
    ///   through the `Txn`) fails with [`crate::ErrorKind::InvalidArgument`].
    ///   Under a memory limit, the retry's own commit may evict a key it
    ///   read, which conflicts (see [`Txn::commit`]); it then runs again,
    ///   holding the lock, up to [`TRANSACTION_RETRIES`] times.
    ///
    /// An error from `body` rolls back and is returned as is. A conflict is
    /// returned only if the writes it conflicted with never became visible
    /// (their log sync failed, and the log refuses writes from then on).
    pub fn transaction<R>(&self, mut body: impl FnMut(&mut Txn) -> Result<R>) -> Result<R> {
        for _ in 0..TRANSACTION_RETRIES {
            let mut txn = self.begin()?;
            let result = body(&mut txn)?;
            match txn.try_commit() {
                Ok(_) => return Ok(result),
                Err(Failure::Conflict { applied, .. }) => {
                    self.inner.wait_visible(applied, CONFLICT_WAIT);
                }
                Err(failure) => return Err(failure.into_error()),
            }
        }
        // Holding the lock, only an eviction the attempt's own commit makes
        // can take a key it read. That eviction made the room the attempt
        // needed, so the next one, holding the lock again, fits.
        let mut attempts = 0;
        loop {
            let writer = self.inner.begin_write()?;
            // Every write applied so far must be visible to the view the
            // attempt reads at, or it would conflict with them.
            self.inner
                .wait_visible(writer.next_seq() - 1, CONFLICT_WAIT);
            let mut txn = self.begin()?;
            let result = body(&mut txn)?;
            attempts += 1;
            match txn.try_commit_holding(Some(writer)) {
                Ok(_) => return Ok(result),
                Err(Failure::Conflict { .. }) if attempts < TRANSACTION_RETRIES => {}
                Err(failure) => return Err(failure.into_error()),
            }
        }
    }
}
