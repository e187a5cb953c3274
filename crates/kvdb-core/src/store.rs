//! The store: shared state, reads of the present, publication of writes, and
//! the entry points for background maintenance.
//!
//! # Sequence numbers and visibility
//!
//! Every applied operation gets the next sequence number. `applied` is the
//! newest sequence installed in a chain; `visible` is the newest that readers
//! may see. A batch is installed first (all of it, while its sequence numbers
//! are above `visible`, so no reader sees any of it) and then published by
//! raising `visible` past its last sequence number: readers see all of it at
//! once. The engine may hold `visible` back behind `applied` until a batch is
//! durable.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_epoch::{self as epoch, Guard};
use crossbeam_utils::CachePadded;
use parking_lot::Mutex;

use crate::access::AccessTracker;
use crate::chain::ChainRef;
use crate::clock::{Clock, SystemClock};
use crate::error::CoreError;
use crate::expire::TtlTracker;
use crate::fork::ProcessToken;
use crate::gc::GcQueue;
use crate::index::KeyIndex;
use crate::limits::check_key;
use crate::prepared::{Applied, PreparedBatch};
use crate::reorder::Reordering;
use crate::space::Space;
use crate::stats::{Counters, Stats};
use crate::unlink::Detached;
use crate::version::{Version, VersionRef};
use crate::view::{Horizon, ReadView, ViewRegistry};
use crate::writer::{Op, Writer, WriterState};

/// State shared by a store and every view, cursor and writer derived from it.
pub(crate) struct Shared {
    /// The user key space.
    pub(crate) index: KeyIndex,
    /// The index key space (see `space.rs`).
    pub(crate) index_entries: KeyIndex,
    visible: CachePadded<AtomicU64>,
    applied: CachePadded<AtomicU64>,
    pub(crate) writer: Mutex<WriterState>,
    pub(crate) views: ViewRegistry,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) gc: GcQueue,
    pub(crate) ttl: TtlTracker,
    /// What reads and writes record for eviction.
    pub(crate) access: AccessTracker,
    pub(crate) counters: Counters,
    /// The process the store was made in (see `fork.rs`).
    pub(crate) process: ProcessToken,
    /// Where the reordering pass stands (see `reorder.rs`).
    pub(crate) reorder: Reordering,
    /// Chains taken out of the index whose nodes are still to be unlinked
    /// (see `unlink.rs`).
    pub(crate) detached: Detached,
}

impl Shared {
    /// The ordered index and hash table of `space`.
    #[inline]
    pub(crate) fn keys(&self, space: Space) -> &KeyIndex {
        match space {
            Space::User => &self.index,
            Space::Index => &self.index_entries,
        }
    }

    #[inline]
    pub(crate) fn visible_seq(&self) -> u64 {
        self.visible.load(Ordering::Acquire)
    }

    pub(crate) fn applied_seq(&self) -> u64 {
        self.applied.load(Ordering::SeqCst)
    }

    pub(crate) fn set_applied(&self, seq: u64) {
        self.applied.store(seq, Ordering::SeqCst);
    }

    /// Fails in a `fork()` child of the process that made the store.
    #[inline]
    pub(crate) fn check_process(&self) -> Result<(), CoreError> {
        if self.process.is_inherited() {
            return Err(CoreError::InheritedAcrossFork);
        }
        Ok(())
    }

    pub(crate) fn horizon(&self) -> Horizon {
        self.views
            .horizon(|| self.visible_seq(), || self.clock.now_ms())
    }

    /// The newest published version of `chain`.
    ///
    /// A reader that loaded `visible` long ago may find the chain cut below a
    /// version published since (GC cuts below the newest version at or under
    /// the horizon, which may be newer than this reader's `visible`). It then
    /// reaches the end of the chain having skipped unpublished-looking
    /// versions; if `visible` has moved meanwhile it simply reads again.
    #[inline]
    pub(crate) fn latest_version<'a>(
        &self,
        chain: &'a ChainRef,
        guard: &'a Guard,
    ) -> Option<&'a Version> {
        let mut visible = self.visible_seq();
        loop {
            let mut skipped = false;
            let mut current = chain.head(guard);
            while let Some(v) = current {
                if v.seq() <= visible {
                    return Some(v);
                }
                skipped = true;
                current = chain.next(v, guard);
            }
            let now_visible = self.visible_seq();
            if !skipped || now_visible == visible {
                return None;
            }
            visible = now_visible;
        }
    }

    /// True if `version` is live right now; reads the clock only for
    /// versions that have an expiry time.
    #[inline]
    pub(crate) fn is_live_now(&self, version: &Version) -> bool {
        match version.expires_at() {
            None => version.is_value(),
            Some(_) => version.is_live_at(self.clock.now_ms()),
        }
    }

    /// Removes a chain whose every version is invisible to every reader from
    /// the index and the statistics. Callers hold the write lock.
    pub(crate) fn remove_chain(&self, chain: &ChainRef, expired: bool, guard: &Guard) {
        if !self.keys(chain.space()).remove(chain, guard) {
            return;
        }
        self.forget_key(chain, expired, guard);
        self.release_chain(chain, guard);
    }

    /// As [`Self::remove_chain`], but leaves the chain's node in the ordered
    /// index for [`crate::Store::unlink_detached`] to unlink, on another
    /// thread (see `KeyIndex::detach`). Its memory stays counted until then.
    /// Callers hold the write lock, and queue the chain for the unlinker
    /// (`Detached::push`) once they release it.
    pub(crate) fn detach_chain(&self, chain: &ChainRef, expired: bool, guard: &Guard) {
        self.keys(chain.space()).detach(chain, guard);
        self.forget_key(chain, expired, guard);
    }

    /// The key counts for a chain just taken out of the index.
    fn forget_key(&self, chain: &ChainRef, expired: bool, guard: &Guard) {
        self.ttl.untrack(chain);
        let head_is_value = chain.head(guard).is_some_and(Version::is_value);
        let c = &self.counters;
        if chain.space() == Space::Index {
            if head_is_value {
                c.index_entries.fetch_sub(1, Ordering::Relaxed);
            }
            return;
        }
        c.keys_removed.fetch_add(1, Ordering::Relaxed);
        if head_is_value {
            c.live_keys.fetch_sub(1, Ordering::Relaxed);
        }
        if expired {
            c.expired_reclaimed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The memory counts for a chain whose node is unlinked: its record and
    /// every version it holds are freed once no reader can reach them.
    pub(crate) fn release_chain(&self, chain: &ChainRef, guard: &Guard) {
        let (versions, bytes) = held_by(chain, guard);
        self.release(chain.space(), versions, bytes);
    }

    /// The memory counts for `versions` versions and `bytes` bytes of
    /// `space` no longer held.
    pub(crate) fn release(&self, space: Space, versions: usize, bytes: usize) {
        let c = &self.counters;
        if space == Space::Index {
            c.index_bytes.fetch_sub(bytes as i64, Ordering::Relaxed);
            return;
        }
        c.versions.fetch_sub(versions as i64, Ordering::Relaxed);
        c.bytes.fetch_sub(bytes as i64, Ordering::Relaxed);
        c.versions_reclaimed
            .fetch_add(versions as u64, Ordering::Relaxed);
    }
}

/// The versions `chain` holds, and the bytes of its record and of those
/// versions.
pub(crate) fn held_by(chain: &ChainRef, guard: &Guard) -> (usize, usize) {
    let mut versions = 0;
    let mut bytes = chain.footprint();
    let mut current = chain.head(guard);
    while let Some(v) = current {
        versions += 1;
        bytes += v.footprint();
        current = chain.next(v, guard);
    }
    (versions, bytes)
}

/// A concurrent, versioned, ordered map from byte keys to byte values.
///
/// Cloning a `Store` gives another handle to the same data.
#[derive(Clone)]
pub struct Store {
    pub(crate) shared: Arc<Shared>,
}

impl Default for Store {
    fn default() -> Self {
        Self::new()
    }
}

impl Store {
    /// An empty store using the system clock.
    pub fn new() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }

    /// An empty store whose expiry decisions use `clock`.
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        crate::alloc_size::freeze();
        Self {
            shared: Arc::new(Shared {
                index: KeyIndex::new(Space::User),
                index_entries: KeyIndex::new(Space::Index),
                visible: CachePadded::new(AtomicU64::new(0)),
                applied: CachePadded::new(AtomicU64::new(0)),
                writer: Mutex::new(WriterState::new()),
                views: ViewRegistry::default(),
                clock,
                gc: GcQueue::default(),
                ttl: TtlTracker::default(),
                access: AccessTracker::default(),
                counters: Counters::new(),
                process: ProcessToken::current(),
                reorder: Reordering::default(),
                detached: Detached::default(),
            }),
        }
    }

    /// The clock expiry is judged by.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.shared.clock
    }

    /// The current time in ms since the Unix epoch, by this store's clock.
    pub fn now_ms(&self) -> u64 {
        self.shared.clock.now_ms()
    }

    /// The absolute expiry time `ttl_ms` from now. Fails for a TTL of zero or
    /// one longer than [`crate::MAX_TTL_MS`].
    ///
    /// A write counts its TTLs from its own reading instead
    /// ([`Writer::deadline`]).
    pub fn deadline(&self, ttl_ms: u64) -> Result<u64, CoreError> {
        crate::clock::deadline_from(self.now_ms(), ttl_ms)
    }

    /// Calls `f` with the current value of `key` (`None` if absent, deleted
    /// or expired) and returns its result. The value is borrowed only for the
    /// duration of the call; nothing is copied.
    #[inline]
    pub fn get_with<R>(
        &self,
        key: &[u8],
        f: impl FnOnce(Option<VersionRef<'_>>) -> R,
    ) -> Result<R, CoreError> {
        self.with_newest(key, |shared, newest| {
            let found = newest.filter(|(_, v)| shared.is_live_now(v));
            if let Some((chain, _)) = found {
                shared.access.read(chain.access(), shared.visible_seq());
            }
            f(found.and_then(|(_, v)| VersionRef::of(v)))
        })
    }

    /// The life left of `key` in ms (`Some(None)`: it has no expiry time),
    /// or `None` if it is absent or expired. Liveness and the life left are
    /// judged at one reading of the clock, so the answer is true of one
    /// instant: never "1 ms left" for a key that expired between two
    /// readings.
    pub fn life_left(&self, key: &[u8]) -> Result<Option<Option<u64>>, CoreError> {
        self.with_newest(key, |shared, newest| {
            let (chain, version) = newest.filter(|(_, v)| v.is_value())?;
            let left = match version.expires_at() {
                None => None,
                Some(at) => Some(at.checked_sub(shared.clock.now_ms()).filter(|&l| l > 0)?),
            };
            shared.access.read(chain.access(), shared.visible_seq());
            Some(left)
        })
    }

    /// Calls `read` with `key`'s chain and newest visible version (`None`
    /// if the key has neither), looked up under one epoch pin: the part
    /// every point read of the current state shares. The read is counted.
    #[inline]
    fn with_newest<R>(
        &self,
        key: &[u8],
        read: impl FnOnce(&Shared, Option<(&ChainRef, &Version)>) -> R,
    ) -> Result<R, CoreError> {
        check_key(key)?;
        let shared = &*self.shared;
        shared.check_process()?;
        shared.counters.gets.add(1);
        let guard = epoch::pin();
        let chain = shared.index.lookup(key, &guard);
        let newest = chain
            .as_deref()
            .and_then(|chain| Some((chain, shared.latest_version(chain, &guard)?)));
        Ok(read(shared, newest))
    }

    /// A copy of the current value of `key`.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, CoreError> {
        self.get_with(key, |v| v.map(|v| v.value.to_vec()))
    }

    /// A registered read view of the store as it is now.
    pub fn snapshot(&self) -> ReadView {
        ReadView::new(Arc::clone(&self.shared))
    }

    /// Takes the write lock. Writes are serialised; reads never wait for it.
    ///
    /// Fails with [`CoreError::ReentrantWrite`] if this thread already holds
    /// the lock of this store (a deadlock otherwise).
    pub fn writer(&self) -> Result<Writer<'_>, CoreError> {
        self.shared.check_process()?;
        Writer::lock(&self.shared)
    }

    /// True if this process is a `fork()` child of the one that made the
    /// store: then every fallible call fails with
    /// [`CoreError::InheritedAcrossFork`], and dropping the store or its
    /// views touches no lock.
    #[inline]
    pub fn is_inherited_across_fork(&self) -> bool {
        self.shared.process.is_inherited()
    }

    /// Applies `ops` as one atomic batch and publishes it at once; returns the
    /// last sequence number used (for an empty `ops`, which writes nothing,
    /// the newest applied one). The path for stores that need no durability
    /// step between applying and publishing.
    pub fn write(&self, ops: &[Op<'_>]) -> Result<u64, CoreError> {
        let batch = PreparedBatch::new(ops)?;
        let mut writer = self.writer()?;
        let Some(range) = writer.assign(&batch) else {
            return Ok(writer.next_seq() - 1);
        };
        let applied = writer.apply(&batch, range)?;
        drop(writer);
        self.publish(applied);
        Ok(range.last())
    }

    /// The newest sequence number readers can see.
    pub fn visible_seq(&self) -> u64 {
        self.shared.visible_seq()
    }

    /// The newest sequence number applied (visible or not yet).
    pub fn applied_seq(&self) -> u64 {
        self.shared.applied_seq()
    }

    /// Makes every applied write up to the receipt's sequence number
    /// visible, all at once. Never moves backwards: publishing an older
    /// receipt after a newer one changes nothing.
    pub fn publish(&self, applied: Applied) {
        self.shared
            .visible
            .fetch_max(applied.last(), Ordering::SeqCst);
    }

    /// Counts `keys` expired keys deleted outside the expiry cycle (by an
    /// eviction that found them expired) in [`Stats::expired_reclaimed`].
    pub fn count_expired(&self, keys: u64) {
        self.shared
            .counters
            .expired_reclaimed
            .fetch_add(keys, Ordering::Relaxed);
    }

    /// A copy of the store's statistics.
    pub fn stats(&self) -> Stats {
        let s = &*self.shared;
        let mut stats = s
            .counters
            .snapshot(s.index.len(), s.views.open(), s.visible_seq());
        stats.bytes += s.index.points_footprint() as u64;
        stats.index_bytes += s.index_entries.points_footprint() as u64;
        stats.scattered_keys = self.scattered_keys() as u64;
        stats
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("visible_seq", &self.visible_seq())
            .field("keys_held", &self.shared.index.len())
            .finish()
    }
}
