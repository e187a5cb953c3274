//! A memory limit with eviction, so that kvdb can serve as a bounded cache
//! (Redis's `maxmemory` and `maxmemory-policy`).
//!
//! The limit applies to [`kvdb_core::Store::memory_used`]: the blocks the
//! allocator holds for records, versions, index nodes and hash tables. A
//! write that could take usage past the limit first makes room, under the
//! write lock: the policy's victims ([`pool`]) are deleted by a batch of
//! their own, numbered, logged (record tag 5) and seen by watchers as
//! [`crate::Change::Evicted`], which removes their index entries and
//! conflicts with transactions that read them like any write. Victims
//! whose TTL has passed (dead, waiting for the expiry cycle) go first, by
//! a batch of expiries. After the write is published the victims are
//! collected at once, so the write returns with usage within the limit.
//!
//! With background maintenance on, a write evicts a little ahead of need:
//! once usage comes within [`headroom`] of the limit, its victims are only
//! detached (out of the hash table) and a background thread unlinks their
//! ordered-index nodes (`kvdb_core`'s `unlink.rs`), which costs as much as
//! the write's own insert. Their memory stays counted until then, within
//! the headroom; a write that would pass the limit because that thread is
//! behind unlinks them itself first. Open snapshots and views keep
//! seeing what they saw: memory they still need stays until they close,
//! and is counted meanwhile. A write the policy cannot make room for fails
//! with [`crate::ErrorKind::MemoryLimit`] and applies nothing.

mod judge;
pub(crate) mod policy;
mod pool;

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use kvdb_core::{Candidate, IndexOp, Op, PreparedBatch, Store, Writer};
use parking_lot::Mutex;

pub use policy::EvictionPolicy;

use crate::background::Nudge;
use crate::commit::Step;
use crate::db::{Db, Inner};
use crate::error::{Error, Result};
use crate::index::maintain::{Planned, plan};
use crate::persist::record::Cause;
use judge::Judge;
use pool::{Goal, Moment};

/// An eviction frees this fraction of the limit more than the write
/// needs...
const EVICTION_SLACK_DIVISOR: u64 = 1024;

/// ...but no more than this.
const MAX_EVICTION_SLACK: u64 = 256 * 1024;

/// The most entries the lists kept between evictions have room for: an
/// eviction's slack is a few thousand keys at most; a larger eviction
/// (a limit lowered at run time) does not leave its lists behind.
const KEPT_LIST_LEN: usize = 4096;

/// The limit, the policy, the victim pool and the counters of one database.
pub(crate) struct Eviction {
    limit: AtomicU64,
    policy: AtomicU8,
    pool: Mutex<pool::Pool>,
    evicted_keys: AtomicU64,
    evicted_bytes: AtomicU64,
    /// Wakes the thread that unlinks detached victims, if the database
    /// runs one.
    unlinker: OnceLock<Nudge>,
    /// The last eviction's lists of victims and of deletions, emptied and
    /// kept for their allocations (see [`reuse`]).
    lists: Mutex<(Vec<Candidate>, Vec<Op<'static>>)>,
}

/// A database's memory use and limit ([`Db::memory_usage`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemoryUsage {
    /// Bytes held, as [`kvdb_core::Store::memory_used`] counts them
    /// (including versions kept for open snapshots and not yet collected).
    pub used: u64,
    /// The limit (0: none).
    pub limit: u64,
    /// What happens at the limit.
    pub policy: EvictionPolicy,
    /// Keys evicted since the database opened (not counting keys whose
    /// TTL had passed, which an eviction deletes as expiries).
    pub evicted_keys: u64,
    /// Bytes those keys held when they were evicted: their records,
    /// versions and secondary-index entries.
    pub evicted_bytes: u64,
    /// Of `used`, the bytes of keys evicted ahead of need whose index
    /// nodes the background thread has yet to unlink (Redis's
    /// `lazyfree_pending_objects`, in bytes).
    pub freeing: u64,
}

/// Keys deleted by eviction under the write lock, to publish, announce and
/// collect once the lock is released.
pub(crate) struct Evicted {
    /// The victims (their keys are the deletions' keys): first the
    /// `expired` ones whose TTL had passed, deleted as expiries, then
    /// those evicted.
    pub(crate) victims: Vec<Candidate>,
    expired: usize,
    /// The secondary index entries their deletion removed.
    entries: Vec<Vec<u8>>,
    /// The expired victims' deletion and the others', applied but not yet
    /// published, in that order (either may be absent).
    pub(crate) steps: [Option<Step>; 2],
    /// Evicted ahead of need: detach them and leave their unlinking to the
    /// background unlinker.
    ahead: bool,
    /// The victims free less than was asked (`Purpose::Lower` only: the
    /// policy's keys the pool found could not cover the excess).
    fell_short: bool,
}

/// What `victims` held when chosen: records, versions and index entries.
fn bytes_of(victims: &[Candidate]) -> u64 {
    victims.iter().map(|c| c.bytes).sum()
}

/// Why an eviction runs, which decides what it does when the policy's keys
/// cannot free all that is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    /// Room a write needs now: all of it, or the write is refused.
    Write,
    /// Room ahead of need (the write fits without it): all of it or none,
    /// and no error; the victims are detached.
    Ahead,
    /// A limit lowered below usage: as much as the policy's keys free, as
    /// Redis's eviction goes on until it runs out of keys.
    Lower,
}

impl Eviction {
    pub(crate) fn new(limit: u64, policy: EvictionPolicy, store: &Store) -> Self {
        let eviction = Self {
            limit: AtomicU64::new(0),
            policy: AtomicU8::new(0),
            pool: Mutex::new(pool::Pool::default()),
            evicted_keys: AtomicU64::new(0),
            evicted_bytes: AtomicU64::new(0),
            unlinker: OnceLock::new(),
            lists: Mutex::new((Vec::new(), Vec::new())),
        };
        eviction.set(limit, policy, store);
        eviction
    }

    fn set(&self, limit: u64, policy: EvictionPolicy, store: &Store) {
        if let Some(tracking) = policy.tracking_under(limit) {
            store.set_tracking(tracking);
        }
        if self.policy() != policy {
            self.pool.lock().clear();
        }
        self.policy.store(policy.code() as u8, Ordering::Relaxed);
        self.limit.store(limit, Ordering::Relaxed);
    }

    fn policy(&self) -> EvictionPolicy {
        EvictionPolicy::from_code(i32::from(self.policy.load(Ordering::Relaxed)))
            .unwrap_or_default()
    }

    pub(crate) fn limit(&self) -> u64 {
        self.limit.load(Ordering::Relaxed)
    }

    /// From now on, victims evicted ahead of need are detached and `nudge`
    /// wakes the thread that unlinks them (`Store::unlink_detached`).
    pub(crate) fn set_unlinker(&self, nudge: Nudge) {
        let _ = self.unlinker.set(nudge);
    }

    pub(crate) fn has_unlinker(&self) -> bool {
        self.unlinker.get().is_some()
    }
}

/// `ops`'s allocation, emptied, for operations that borrow for another
/// lifetime. The lists of an eviction's victims and deletions are reused
/// from one eviction to the next: they take several kilobytes, and glibc's
/// allocator serves blocks that size slowly on a writer that also frees
/// many small ones (each such request first consolidates the freed small
/// blocks). Collecting a vector's emptied iterator into a vector of an
/// element of the same size and alignment reuses its allocation.
fn reuse<'b>(mut ops: Vec<Op<'_>>) -> Vec<Op<'b>> {
    ops.clear();
    // The vector is empty: the closure never runs.
    ops.into_iter().map(|_| Op::Delete { key: &[] }).collect()
}

/// The most queued keys a write collects, holding the write lock, before
/// it is refused for memory: bounded work for a write, and enough for the
/// old versions a closed snapshot left (many more are a background
/// collector's job).
const GC_BEFORE_REFUSING: usize = 4096;

/// An eviction frees a little more than needed (see [`Inner::evict_to`]).
fn slack(limit: u64) -> u64 {
    (limit / EVICTION_SLACK_DIVISOR).min(MAX_EVICTION_SLACK)
}

/// With a background unlinker, writes evict once usage is within this much
/// of the limit: room for the victims not unlinked yet. Four evictions'
/// slack (a 256th of the limit, at most 1 MiB) lets the unlinker fall an
/// eviction or two behind without a write waiting for it, at the cost of
/// that much capacity.
fn headroom(limit: u64) -> u64 {
    4 * slack(limit)
}

impl Inner {
    /// Makes room under `writer` for a write of `ops` and the index writes
    /// `planned` for it, evicting if the policy allows; `Ok(None)` if no
    /// room was needed. Fails with [`Error::MemoryLimit`], having evicted
    /// nothing, if the policy cannot free enough.
    pub(crate) fn make_room(
        &self,
        writer: &mut Writer<'_>,
        ops: &[Op<'_>],
        planned: Option<&Planned>,
    ) -> Result<Option<Evicted>> {
        if self.eviction.limit() == 0 || !ops.iter().any(|op| matches!(op, Op::Put { .. })) {
            return Ok(None); // deletions are always allowed, as in Redis
        }
        let index_ops = planned.map(Planned::index_ops).unwrap_or_default();
        let cost = self.store.write_cost(ops, &index_ops);
        // An overwrite adds a version, not a key. Costed as new keys, a
        // write whose puts could pass a hash table's growth threshold
        // would make room for the table's doubling: unless it fits anyway,
        // look its keys up. (Otherwise costing an overwrite as a new key
        // counts a record and a node too many, which matters only if the
        // write is refused: see below.)
        let needed = if cost.table_growth > 0 && !self.fits_without_evicting(cost.bytes) {
            self.store.write_cost_checked(ops, &index_ops).bytes
        } else {
            cost.bytes
        };
        match self.make_room_once(writer, ops, needed) {
            Err(refused @ Error::MemoryLimit { .. }) => {
                // Before refusing: old versions no reader needs any more
                // (those a snapshot kept until it closed, say) may give
                // the room the policy could not, and the write, its puts
                // to keys held costed as the versions they add, may need
                // less. Looked up after the collection, which may remove
                // dead keys.
                let collect = self.store.gc_pending() > 0;
                if collect {
                    self.store.collect_garbage_under(writer, GC_BEFORE_REFUSING);
                }
                let checked = self.store.write_cost_checked(ops, &index_ops).bytes;
                if collect || checked < needed {
                    self.make_room_once(writer, ops, checked)
                } else {
                    Err(refused)
                }
            }
            made => made,
        }
    }

    /// Makes room under `writer` for the secondary-index entries `entries`
    /// an index build is about to file, as [`Inner::make_room`] does for a
    /// write; `Ok(None)` if no room was needed. Any record may be a victim:
    /// the build does not file the entries of those taken. Fails with
    /// [`Error::MemoryLimit`], having evicted nothing, if the policy cannot
    /// free enough.
    pub(crate) fn make_room_for_entries(
        &self,
        writer: &mut Writer<'_>,
        entries: &[Op<'_>],
    ) -> Result<Option<Evicted>> {
        if self.eviction.limit() == 0 || entries.is_empty() {
            return Ok(None);
        }
        let index_ops: Vec<IndexOp<'_>> = entries.iter().map(|&op| IndexOp { at: 0, op }).collect();
        let needed = self.store.write_cost(&[], &index_ops).bytes;
        match self.make_room_once(writer, &[], needed) {
            // As a write does before refusing: old versions no reader needs
            // any more may give the room.
            Err(Error::MemoryLimit { .. }) if self.store.gc_pending() > 0 => {
                self.store.collect_garbage_under(writer, GC_BEFORE_REFUSING);
                self.make_room_once(writer, &[], needed)
            }
            made => made,
        }
    }

    /// Whether a write adding `needed` bytes leaves usage where no
    /// eviction, ahead of need or not, is due.
    fn fits_without_evicting(&self, needed: u64) -> bool {
        let limit = self.eviction.limit();
        let headroom = match self.eviction.unlinker.get() {
            Some(_) => headroom(limit),
            None => 0,
        };
        self.store.memory_used().saturating_add(needed) <= limit.saturating_sub(headroom)
    }

    /// One try of [`Inner::make_room`], for a write of `ops` that adds at
    /// most `needed` bytes.
    fn make_room_once(
        &self,
        writer: &mut Writer<'_>,
        ops: &[Op<'_>],
        needed: u64,
    ) -> Result<Option<Evicted>> {
        let limit = self.eviction.limit();
        let room = limit.saturating_sub(needed);
        if self.eviction.unlinker.get().is_none() {
            return self.evict_to(writer, room, needed, Purpose::Write, ops);
        }
        let ahead = room.saturating_sub(headroom(limit));
        let mut used = self.store.memory_used();
        if used <= ahead {
            return Ok(None);
        }
        let mut detached = self.store.detached_bytes();
        if used > room && detached > 0 {
            // The unlinker is behind: catch up here rather than evict more.
            self.store.unlink_detached();
            used = self.store.memory_used();
            detached = self.store.detached_bytes();
        }
        if used > room {
            return self.evict_to(writer, room, needed, Purpose::Write, ops);
        }
        // The write fits: evict ahead of need, into the headroom; nothing
        // has to be freed before this write returns. Victims evicted ahead
        // before and not unlinked yet are on their way out: counting them
        // as held would evict as many live keys again.
        let target = ahead.saturating_add(detached);
        self.evict_to(writer, target, needed, Purpose::Ahead, ops)
    }

    /// Evicts under `writer` until usage is at most `target`, or as
    /// `purpose` says when the policy's keys cannot free that much;
    /// `needed` is what the caller's write of `ops` adds (for the error).
    /// No key `ops` writes is a victim: it is the most recently used, and
    /// evicting it would announce an eviction the write then undoes
    /// (between the read and the write of a compare-and-swap, say).
    fn evict_to(
        &self,
        writer: &mut Writer<'_>,
        target: u64,
        needed: u64,
        purpose: Purpose,
        ops: &[Op<'_>],
    ) -> Result<Option<Evicted>> {
        let ahead = purpose == Purpose::Ahead;
        let used = self.store.memory_used();
        if used <= target {
            return Ok(None);
        }
        let limit = self.eviction.limit();
        let refused = || Error::MemoryLimit {
            used,
            limit,
            needed,
        };
        let policy = self.eviction.policy();
        if ahead && !policy.evicts() {
            return Ok(None);
        }
        if !policy.evicts() || needed > limit {
            return Err(refused());
        }
        let at = Moment {
            seq: self.store.applied_seq(),
            clock_ms: writer.now_ms(),
        };
        // A little more than needed, so that the next writes find room and
        // the fixed cost of an eviction is shared between them.
        let slack = slack(limit);
        let spared = self.store.record_ids(ops.iter().map(Op::key));
        let (list, deletions) = std::mem::take(&mut *self.eviction.lists.lock());
        let judge = Judge::new(&self.store, &self.indexes);
        let mut pool = self.eviction.pool.lock();
        // Lowering the limit frees its victims at once, and hash tables
        // they leave less than an eighth full shrink then: that counts
        // towards the goal, or the eviction goes past the limit by what
        // the shrink frees.
        let shrink = |keys, entries| self.store.table_shrink(keys, entries);
        let goal = |bytes| match purpose {
            Purpose::Lower => Goal {
                bytes,
                also_freed: &shrink,
            },
            Purpose::Write | Purpose::Ahead => Goal::of_victims(bytes),
        };
        let victims = pool
            .choose(
                &judge,
                policy,
                goal(used - target + slack),
                at,
                &spared,
                list,
            )
            .or_else(|short| pool.choose(&judge, policy, goal(used - target), at, &spared, short));
        drop(pool);
        let (victims, fell_short) = match victims {
            Ok(victims) => (victims, false),
            Err(short) if purpose == Purpose::Lower && !short.is_empty() => (short, true),
            Err(_) if ahead => return Ok(None),
            Err(_) => return Err(refused()),
        };
        // Victims whose TTL has passed at this write's reading are dead:
        // deleted as expiries (logged and watched as such, no conflict for
        // a transaction that read them live), by a batch of their own
        // before the live victims' eviction, and not counted as evicted.
        let has_expired = |c: &Candidate| c.expires_at.is_some_and(|e| e <= at.clock_ms);
        let mut victims = victims;
        victims.sort_by_key(|c| !has_expired(c)); // stable: expired first
        let expired = victims.iter().take_while(|c| has_expired(c)).count();
        let mut ops = reuse(deletions);
        ops.extend(victims.iter().map(|c| Op::Delete { key: c.key() }));
        let (expiries, evictions) = ops.split_at(expired);
        // An expired value's index entries expire with it: nothing to plan.
        let expiry_step = self.delete_victims(writer, expiries, None, Cause::Expiry)?;
        let planned = plan(writer, &self.indexes, evictions)?;
        // Removed with the victims, and to be freed with them.
        let entries: Vec<Vec<u8>> = planned
            .iter()
            .flat_map(Planned::entry_keys)
            .map(<[u8]>::to_vec)
            .collect();
        let step = self.delete_victims(writer, evictions, planned, Cause::Eviction)?;
        let mut ops = reuse(ops);
        ops.shrink_to(KEPT_LIST_LEN);
        self.eviction.lists.lock().1 = ops;
        if expiry_step.is_none() && step.is_none() {
            self.eviction.recycle(victims);
            return Ok(None);
        }
        Ok(Some(Evicted {
            expired,
            victims,
            entries,
            steps: [expiry_step, step],
            ahead,
            fell_short,
        }))
    }

    /// Logs and applies the deletions `ops` of victims under `writer`, with
    /// the index writes `planned` for them, as a batch caused by `cause`;
    /// `None` if there are none.
    fn delete_victims(
        &self,
        writer: &mut Writer<'_>,
        ops: &[Op<'_>],
        planned: Option<Planned>,
        cause: Cause,
    ) -> Result<Option<Step>> {
        if ops.is_empty() {
            return Ok(None);
        }
        let batch = PreparedBatch::new(ops)?;
        self.log_and_apply(writer, batch, planned, None, cause)
    }

    /// After the write lock is released: counts the evicted keys and frees
    /// their memory now (what open views still need stays until they
    /// close), or, for victims evicted ahead of need, detaches them and
    /// wakes the unlinker.
    pub(crate) fn collect_evicted(&self, evicted: &Evicted) {
        match self.eviction.unlinker.get() {
            Some(unlinker) if evicted.ahead => {
                self.store.collect_candidates_detaching(&evicted.victims);
                self.store.collect_index_entries(&evicted.entries, true);
                if self.store.memory_used() > self.eviction.limit() {
                    // Detached victims keep their bytes counted until
                    // unlinked, and their deletions added tombstones: with
                    // the write close to the limit, that can pass it.
                    self.store.unlink_detached();
                } else {
                    unlinker.nudge();
                }
            }
            _ => {
                self.store.collect_candidates(&evicted.victims);
                self.store.collect_index_entries(&evicted.entries, false);
            }
        }
        self.store.count_expired(evicted.expired as u64);
        let count = evicted.victims.len() - evicted.expired;
        self.eviction
            .evicted_keys
            .fetch_add(count as u64, Ordering::Relaxed);
        self.eviction.evicted_bytes.fetch_add(
            bytes_of(&evicted.victims[evicted.expired..]),
            Ordering::Relaxed,
        );
    }
}

impl Eviction {
    /// Keeps `victims`' list, emptied, for the next eviction to fill.
    pub(crate) fn recycle(&self, mut victims: Vec<Candidate>) {
        victims.clear(); // drops the records' handles outside the lock
        victims.shrink_to(KEPT_LIST_LEN);
        self.lists.lock().0 = victims;
    }
}

/// Evictions' worth of victims the unlinker chooses ahead.
const READY_EVICTIONS: u64 = 2;

impl Inner {
    /// On the unlinker thread, while writes are evicting (usage within
    /// twice the headroom of the limit): chooses victims ahead until they
    /// free [`READY_EVICTIONS`] evictions' slack, one at a time so that a
    /// writer never waits for more than one choice.
    pub(crate) fn prepare_victims(&self) {
        let limit = self.eviction.limit();
        let policy = self.eviction.policy();
        if limit == 0 || !policy.evicts() || self.store.memory_used() + 2 * headroom(limit) < limit
        {
            return;
        }
        let wanted = READY_EVICTIONS * slack(limit);
        let judge = Judge::new(&self.store, &self.indexes);
        loop {
            let mut pool = self.eviction.pool.lock();
            // Judged at a reading of this thread's; the eviction that takes
            // them judges them again at its own.
            let at = Moment {
                seq: self.store.applied_seq(),
                clock_ms: self.store.now_ms(),
            };
            if pool.ready_bytes() >= wanted || !pool.prepare(&judge, policy, at) {
                return;
            }
        }
    }
}

/// Keys waiting for the collector, per byte of the limit, before a write
/// near the limit collects them itself: one per 128 KiB of limit, between
/// 32 and 1024. Collecting in passes of that many shares each pass's fixed
/// cost between many writes, while the garbage waiting stays a small part
/// of the limit (a few hundred old versions).
fn collect_threshold(limit: u64) -> usize {
    usize::try_from(limit / (128 * 1024))
        .unwrap_or(usize::MAX)
        .clamp(32, 1024)
}

impl Inner {
    /// After a write, with usage within a sixteenth of the limit: frees the
    /// old versions the write and its predecessors left, so that the limit
    /// is spent on live data rather than on garbage waiting for the
    /// background collector.
    pub(crate) fn collect_near_limit(&self) {
        let limit = self.eviction.limit();
        if limit == 0 {
            return;
        }
        let threshold = collect_threshold(limit);
        if self.store.gc_pending() >= threshold && self.store.memory_used() > limit - limit / 16 {
            self.store.collect_garbage(threshold);
        }
    }
}

impl Db {
    /// Sets the memory limit (0: none) and the eviction policy from now on.
    /// If the database holds more than the new limit, the policy evicts
    /// down to it before this returns, or, if the keys it may evict cannot
    /// free that much, evicts them all (as Redis does); writes are then
    /// refused until room is made. Setting a limit with an LRU or LFU
    /// policy where there was none (nothing recorded the keys' use), or
    /// changing between LRU and LFU (the use is recorded in the other's
    /// form), counts every key held as written now: one pass over the keys
    /// (about 8 ms per million here). Removing the limit (0) leaves what
    /// reads record as it was, so that a limit set again, or a reopen with
    /// it, ranks the keys by all their use.
    pub fn set_memory_limit(&self, bytes: u64, policy: EvictionPolicy) -> Result<()> {
        let inner = &self.inner;
        inner.check_open()?;
        inner.eviction.set(bytes, policy, &inner.store);
        if bytes > 0 {
            self.start_unlinker()?;
        }
        if bytes == 0 || !policy.evicts() {
            return Ok(());
        }
        // Victims evicted ahead and not unlinked yet go first, then keys
        // whose TTL has passed (dead, and crowding the sample a volatile
        // policy takes of the keys with a TTL), then old versions no
        // reader needs and oversized hash tables, and only then live keys.
        if inner.store.memory_used() > bytes {
            inner.store.unlink_detached();
        }
        while inner.store.memory_used() > bytes && inner.expire_cycle().reclaimed > 0 {}
        if inner.store.memory_used() > bytes {
            inner.store.collect_garbage(usize::MAX);
        }
        // A hash table grown for keys since deleted and collected (after a
        // replay of many evictions, say) shrinks by itself only once less
        // than an eighth full.
        if inner.store.memory_used() > bytes {
            inner.store.shrink_tables_to_fit();
        }
        // An eviction that falls short (the policy's keys cannot free
        // enough) takes the keys its sampling found, and may have missed
        // some: go on while evictions fall short and find keys. One that
        // covers what it was asked ends it, freed or not: memory an open
        // snapshot still needs is not a reason to evict more.
        loop {
            let used = inner.store.memory_used();
            if used <= bytes {
                return Ok(());
            }
            let mut writer = inner.begin_write()?;
            let evicted = match inner.evict_to(&mut writer, bytes, 0, Purpose::Lower, &[]) {
                Ok(Some(evicted)) => evicted,
                Ok(None) | Err(Error::MemoryLimit { .. }) => return Ok(()),
                Err(e) => return Err(e),
            };
            let short = evicted.fell_short;
            inner.finish_eviction(writer, evicted)?;
            if !short {
                return Ok(());
            }
        }
    }

    /// The memory the database holds, its limit and what eviction did.
    pub fn memory_usage(&self) -> MemoryUsage {
        let e = &self.inner.eviction;
        MemoryUsage {
            used: self.inner.store.memory_used(),
            limit: e.limit(),
            policy: e.policy(),
            evicted_keys: e.evicted_keys.load(Ordering::Relaxed),
            evicted_bytes: e.evicted_bytes.load(Ordering::Relaxed),
            freeing: self.inner.store.detached_bytes(),
        }
    }
}
