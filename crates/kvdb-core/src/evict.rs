//! What eviction needs from the store: the bytes it holds, what a write
//! would add, random candidates with their access words, and the switch
//! that makes reads record accesses. Choosing victims and deleting them is
//! the engine's job (`kvdb`'s `evict` module), which deletes through its
//! write path so that evictions are numbered, logged and watched.

use std::sync::atomic::Ordering;

use crossbeam_epoch as epoch;

use crate::access::Tracking;
use crate::chain::{ChainRef, footprint_of_key};
use crate::prepared::IndexOp;
use crate::space::Space;
use crate::store::Store;
use crate::version::{Version, footprint_of_value};
use crate::writer::Op;

/// A key sampled as a possible victim: a handle to its record, with what
/// the policy ranks it by.
///
/// Sampling reads only the record (and, if asked, its newest version's
/// expiry time), not whether the key still holds a value: that, and
/// what deleting it would free, is read once the candidate is a victim
/// ([`Store::judge`]). Holding a candidate keeps its record's memory (not
/// its versions' beyond the newest few) allocated.
#[derive(Clone)]
pub struct Candidate {
    chain: ChainRef,
    /// Its access word (see [`crate::lru_idle`] and [`crate::lfu_counter`]).
    pub access: u32,
    /// Its expiry time, if it has one; read only if the sample or judgement
    /// asked for it.
    pub expires_at: Option<u64>,
    /// What deleting it frees once no view needs it, its record and every
    /// version it holds (and what else the judge was told it frees:
    /// [`Store::judge_with`]), as of its judgement (0 before).
    pub bytes: u64,
    /// Records of the index key space ([`Space::Index`]: the engine's
    /// secondary-index entries) its deletion removes, as the engine
    /// counted them when it judged it (0 unless it did); see
    /// [`Store::table_shrink`].
    pub index_entries: u32,
}

impl Candidate {
    /// The key.
    pub fn key(&self) -> &[u8] {
        self.chain.key()
    }

    /// The key's record.
    pub(crate) fn chain(&self) -> &ChainRef {
        &self.chain
    }

    /// An identity of the key's record, the same for every candidate of it
    /// and for no other record while one is held.
    pub fn record_id(&self) -> usize {
        self.chain.addr()
    }
}

impl std::fmt::Debug for Candidate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Candidate")
            .field("key", &self.key())
            .field("access", &self.access)
            .field("expires_at", &self.expires_at)
            .field("bytes", &self.bytes)
            .field("index_entries", &self.index_entries)
            .finish()
    }
}

/// What reads and writes recorded at a moment: see
/// [`Store::tracking_span`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrackingSpan {
    /// What they recorded.
    pub tracking: Tracking,
    /// Switch starts and ends counted before it.
    switches: u64,
}

impl Store {
    /// What reads and writes record now.
    pub fn tracking(&self) -> Tracking {
        self.shared.access.get()
    }

    /// Makes reads and writes record `tracking` from now on, and, if that
    /// differs from what they recorded, counts every key held as written
    /// now: its access word was not kept up (recording was off) or is in
    /// the other form (an LRU stamp read as an LFU counter would rank a
    /// key by when it was used, not how often). One pass over the keys,
    /// which runs beside readers and writers (a key written meanwhile is
    /// recorded by the new tracking; a hash table rebuilt meanwhile makes
    /// the pass start over, so that it misses no key).
    pub fn set_tracking(&self, tracking: Tracking) {
        let access = &self.shared.access;
        if access.get() == tracking {
            return;
        }
        access.count_switch();
        access.set(tracking);
        if tracking != Tracking::Off {
            let now = self.shared.visible_seq();
            self.shared.index.for_each_chain(|chain| {
                access.write(chain.access(), now, true);
            });
        }
        access.count_switch();
    }

    /// What reads and writes record now, for a snapshot file about to
    /// record the keys' use: [`Store::tracking_held_since`] tells, once
    /// the file is written, whether every word it read was in this form.
    pub fn tracking_span(&self) -> TrackingSpan {
        let access = &self.shared.access;
        let switches = access.switches();
        TrackingSpan {
            tracking: access.get(),
            switches,
        }
    }

    /// True if no switch of what reads record ([`Store::set_tracking`])
    /// was under way when `span` was taken or has begun since: every
    /// access word read in between is in `span.tracking`'s form.
    pub fn tracking_held_since(&self, span: TrackingSpan) -> bool {
        span.switches.is_multiple_of(2) && self.shared.access.switches() == span.switches
    }

    /// Makes writes record their keys' use as made at sequence `seq` at the
    /// latest, until the hold is dropped: for replaying the log written
    /// after a snapshot that recorded the keys' use as of `seq`. The reads
    /// since the snapshot are in no file, so the writes since must not
    /// outrank the keys those reads used.
    pub fn hold_write_clock(&self, seq: u64) -> WriteClockHold<'_> {
        self.shared.access.hold_writes_at(Some(seq));
        WriteClockHold { store: self }
    }

    /// Bytes the store holds, as the allocator sizes its blocks: every
    /// key's record and ordered-index node, every version (including those
    /// kept for open views and not yet collected), both key spaces' hash
    /// tables and the expiry tracker's list. Not counted: transient
    /// buffers (the collector's queue, views, batches being written).
    pub fn memory_used(&self) -> u64 {
        let s = &*self.shared;
        let c = &s.counters;
        let records = c.bytes.load(Ordering::Relaxed) + c.index_bytes.load(Ordering::Relaxed);
        let tables = s.index.points_footprint() + s.index_entries.points_footprint();
        let tracked = s.ttl.len() * std::mem::size_of::<usize>();
        u64::try_from(records).unwrap_or(0) + (tables + tracked) as u64
    }

    /// Rebuilds either key space's hash table that is larger than a
    /// rebuild for the keys it holds would make (see `PointIndex`'s
    /// `shrink_to_fit`): what a limit lowered below usage frees before it
    /// evicts a key, after the collector has freed the deleted ones.
    /// Returns the bytes freed. Takes the write lock.
    pub fn shrink_tables_to_fit(&self) -> u64 {
        let s = &*self.shared;
        if s.process.is_inherited() {
            // A fork() child takes no lock a parent thread may hold forever.
            return 0;
        }
        let _writers_wait = s.writer.lock();
        let guard = crossbeam_epoch::pin();
        let freed =
            s.index.shrink_points_to_fit(&guard) + s.index_entries.shrink_points_to_fit(&guard);
        freed as u64
    }

    /// The bytes [`Store::memory_used`] falls by, besides what the keys
    /// themselves hold, once `keys` of the user keys held and `index_keys`
    /// of the index key space's are deleted and freed: each space's hash
    /// table shrinks when a removal leaves it less than an eighth full.
    pub fn table_shrink(&self, keys: usize, index_keys: usize) -> u64 {
        let s = &*self.shared;
        (s.index.points_shrink(keys) + s.index_entries.points_shrink(index_keys)) as u64
    }

    /// The most the operations `ops`, with the index writes `index_ops`
    /// that go with them, can add to [`Store::memory_used`]: each put
    /// counted as a new key, each deletion as a tombstone, with either key
    /// space's hash table's growth if its new keys can make it grow.
    pub fn write_cost(&self, ops: &[Op<'_>], index_ops: &[IndexOp<'_>]) -> WriteCost {
        self.cost_with(ops, index_ops, false)
    }

    /// As [`Store::write_cost`], with each put's key looked up: a put to a
    /// key the store holds adds a version (and a tracker entry if it
    /// expires), not a record, an ordered-index node or a hash slot. A
    /// lookup per put, so for the writes where the difference matters (the
    /// engine's: one charged for a hash table's growth that does not fit,
    /// or one about to be refused). Exact only under the write lock: a key
    /// found could otherwise be removed before the write applies.
    pub fn write_cost_checked(&self, ops: &[Op<'_>], index_ops: &[IndexOp<'_>]) -> WriteCost {
        self.cost_with(ops, index_ops, true)
    }

    /// The cost of `ops` and `index_ops`, the puts to keys held costed as
    /// overwrites if `look_up`.
    fn cost_with(&self, ops: &[Op<'_>], index_ops: &[IndexOp<'_>], look_up: bool) -> WriteCost {
        let s = &*self.shared;
        // Pinned only to look keys up: the unchecked cost runs on every
        // write under a limit.
        let guard = look_up.then(epoch::pin);
        let held = |space: Space| {
            let guard = guard.as_ref();
            move |key: &[u8]| guard.is_some_and(|g| s.keys(space).lookup(key, g).is_some())
        };
        let (records, puts) = cost_of(ops.iter(), held(Space::User));
        let (entries, entry_puts) = cost_of(index_ops.iter().map(|i| &i.op), held(Space::Index));
        let tables = s.index.points_growth(puts) + s.index_entries.points_growth(entry_puts);
        WriteCost {
            bytes: (records + entries + tables) as u64,
            table_growth: tables as u64,
        }
    }
}

/// What a write can add to [`Store::memory_used`] ([`Store::write_cost`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteCost {
    /// All of it.
    pub bytes: u64,
    /// Of `bytes`, the hash tables' growth its new keys can cause: a
    /// table's doubling, if they can pass its growth threshold.
    pub table_growth: u64,
}

/// The bytes `ops` can add to a key space's records (each put as a new
/// key: its record, its version, and a tracker entry if it expires; a put
/// to a key `held` says the store holds as its version and tracker entry
/// alone), and how many puts there are of keys not held.
fn cost_of<'a, 'o: 'a>(
    ops: impl Iterator<Item = &'a Op<'o>>,
    held: impl Fn(&[u8]) -> bool,
) -> (usize, usize) {
    ops.fold((0, 0), |(bytes, new_keys), op| match *op {
        Op::Put {
            key,
            value,
            expires_at,
        } => {
            let tracked = if expires_at.is_some() {
                std::mem::size_of::<usize>()
            } else {
                0
            };
            let version = footprint_of_value(value.len(), expires_at.is_some()) + tracked;
            if held(key) {
                (bytes + version, new_keys)
            } else {
                (bytes + footprint_of_key(key.len()) + version, new_keys + 1)
            }
        }
        Op::Delete { .. } => (bytes + footprint_of_value(0, false), new_keys),
    })
}

/// `chain` as a candidate now, if its newest version is a value: live,
/// or expired and not reclaimed yet (dead, so deleting it loses nothing,
/// and it holds memory until the expiry cycle gets to it). Its bytes are
/// its record's and versions' plus, for a live value, what `also_freed`
/// says deleting it frees beside them, given the value (an expired
/// value's index entries expire with it, and its deletion leaves them to
/// the expiry cycle).
fn judged(
    chain: &ChainRef,
    now: u64,
    guard: &epoch::Guard,
    also_freed: impl FnOnce(&[u8]) -> u64,
) -> Option<Candidate> {
    let head: &Version = chain.head(guard)?;
    if chain.is_removed() {
        return None;
    }
    let value = head.bytes()?; // a deletion marker: nothing to evict
    let also = if head.is_live_at(now) {
        also_freed(value)
    } else {
        0
    };
    let bytes = held_by(chain, guard) as u64 + also;
    Some(Candidate {
        chain: chain.clone(),
        access: chain.access().load(Ordering::Relaxed),
        expires_at: head.expires_at(),
        bytes,
        index_entries: 0,
    })
}

/// What `chain`'s record and every version it holds take.
fn held_by(chain: &ChainRef, guard: &epoch::Guard) -> usize {
    let mut bytes = chain.footprint();
    let mut current = chain.head(guard);
    while let Some(v) = current {
        bytes += v.footprint();
        current = chain.next(v, guard);
    }
    bytes
}

impl Store {
    /// `candidate`'s key as it stands now, if it still holds a value in
    /// the record sampled, live at the clock reading `now_ms` or expired
    /// and not reclaimed yet (its `expires_at` tells): its access word,
    /// expiry time and what deleting it would free. A writer judges at its
    /// own reading ([`crate::Writer::now_ms`]), the one its deletions are
    /// made at.
    pub fn judge(&self, candidate: &Candidate, now_ms: u64) -> Option<Candidate> {
        self.judge_with(candidate, now_ms, |_| 0)
    }

    /// As [`Store::judge`], with `also_freed` telling, from the key's
    /// value, what its deletion frees beyond its record and versions: the
    /// engine's secondary-index entries, say, which it adds with
    /// [`Store::bytes_held`]. `also_freed` runs while the value is read,
    /// and only for a key whose value is live at `now_ms`.
    pub fn judge_with(
        &self,
        candidate: &Candidate,
        now_ms: u64,
        also_freed: impl FnOnce(&[u8]) -> u64,
    ) -> Option<Candidate> {
        let guard = epoch::pin();
        judged(&candidate.chain, now_ms, &guard, also_freed)
    }

    /// What `key`'s record in `space` and every version it holds take, as
    /// [`Store::memory_used`] counts them (0 if `space` holds no such key):
    /// what collecting the key frees once it is deleted and no view needs
    /// it.
    pub fn bytes_held(&self, space: Space, key: &[u8]) -> u64 {
        let guard = epoch::pin();
        self.shared
            .keys(space)
            .lookup(key, &guard)
            .map_or(0, |chain| held_by(&chain, &guard) as u64)
    }

    /// The record ids ([`Candidate::record_id`]) of those of `keys` the
    /// store holds: what an eviction made room for a write of them must not
    /// choose.
    pub fn record_ids<'k>(&self, keys: impl Iterator<Item = &'k [u8]>) -> Vec<usize> {
        let guard = epoch::pin();
        keys.filter_map(|key| self.shared.index.lookup(key, &guard))
            .map(|chain| chain.addr())
            .collect()
    }

    /// Starts loading what judging `candidates` will read, so that their
    /// misses overlap: each record, then each record's newest version.
    pub fn prefetch_judgements<'c>(&self, candidates: impl Iterator<Item = &'c Candidate> + Clone) {
        for candidate in candidates.clone() {
            crate::prefetch::prefetch(candidate.chain.addr());
        }
        let guard = epoch::pin();
        for candidate in candidates {
            crate::prefetch::prefetch(candidate.chain.head_addr(&guard));
        }
    }

    /// Up to `want` records of the user key space, sampled at random: from
    /// every key starting at the hash slot `start` (a random number), or
    /// with `volatile_only` from the keys that have an expiry time. Only the
    /// records are read (their access words), which a sample loads all at
    /// once; `with_expiry` reads each one's newest version too, for its
    /// expiry time. A key sampled may hold a tombstone or an expired value:
    /// [`Store::judge`] tells. Neither takes the write lock: a background
    /// thread may sample and judge while a writer writes.
    pub fn eviction_sample(
        &self,
        want: usize,
        volatile_only: bool,
        with_expiry: bool,
        start: u64,
    ) -> Vec<Candidate> {
        let shared = &*self.shared;
        let guard = epoch::pin();
        let chains: Vec<ChainRef> = if volatile_only {
            let mut chains = shared.ttl.sample(want);
            chains.retain(|chain| chain.space() == Space::User);
            chains
        } else {
            let sample = shared.index.sample(start as usize, want, &guard);
            // Start every record's miss before reading any.
            for chain in &sample {
                crate::prefetch::prefetch(chain.addr());
            }
            sample.iter().map(|chain| ChainRef::clone(chain)).collect()
        };
        // Sized up front: a filtered collect grows by reallocation, which
        // glibc's allocator serves slowly on the writer's path.
        let mut candidates = Vec::with_capacity(chains.len());
        candidates.extend(
            chains
                .into_iter()
                .filter(|chain| !chain.is_removed())
                .map(|chain| {
                    let expires_at = if with_expiry {
                        chain.head(&guard).and_then(Version::expires_at)
                    } else {
                        None
                    };
                    Candidate {
                        access: chain.access().load(Ordering::Relaxed),
                        expires_at,
                        bytes: 0,
                        index_entries: 0,
                        chain,
                    }
                }),
        );
        candidates
    }
}

/// Writes record their keys' use no later than a sequence number while
/// this lives ([`Store::hold_write_clock`]); dropping it lets them record
/// their own again.
#[must_use = "dropping the hold releases it at once"]
pub struct WriteClockHold<'s> {
    store: &'s Store,
}

impl Drop for WriteClockHold<'_> {
    fn drop(&mut self) {
        self.store.shared.access.hold_writes_at(None);
    }
}
