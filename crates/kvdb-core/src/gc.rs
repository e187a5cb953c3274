//! Garbage collection of versions no reader can see any more.
//!
//! Writers queue a key when they stack a version on top of another (or write a
//! deletion marker). The collector takes queued keys and, given the
//! [`Horizon`] (the oldest sequence and clock reading any open view or the
//! present may read at):
//!
//! - finds the *base*: the newest version at or below the horizon's sequence.
//!   Every reader sees the base or something newer, so everything older is
//!   detached and handed to the epoch collector;
//! - if the base is also the newest version and reads as absent to every
//!   reader (a deletion marker, or a value expired before the horizon's
//!   time), removes the key from the index altogether, under the write lock so
//!   no writer is adding to it at the same moment. An eviction's pass, which
//!   only detaches such keys (`unlink.rs`), leaves their older versions in
//!   place: the record frees them with itself once its node is unlinked;
//! - requeues keys that still hold versions newer than the horizon.

use std::sync::atomic::Ordering;

use crossbeam_epoch::{self as epoch, Guard};
use crossbeam_queue::SegQueue;
use parking_lot::{Mutex, MutexGuard};

use crate::chain::{ChainRef, Freed};
use crate::evict::Candidate;
use crate::space::Space;
use crate::store::{Shared, Store};
use crate::view::Horizon;
use crate::writer::Writer;

/// Keys waiting for the collector.
#[derive(Default)]
pub(crate) struct GcQueue {
    queue: SegQueue<ChainRef>,
    /// Held for a whole collection pass: one collector at a time.
    running: Mutex<Lists>,
}

/// A pass's lists of keys, empty between passes and kept for their
/// allocations: an eviction runs a pass on the writer's path for every
/// batch of victims, and glibc's allocator serves blocks of this size
/// slowly there. A list that grew past [`KEPT_LIST_LEN`] entries for a
/// large pass shrinks back to it afterwards.
#[derive(Default)]
struct Lists {
    /// Keys to queue again.
    again: Vec<ChainRef>,
    /// Keys dead for every reader, with the head version found dead and
    /// whether it is an expired value.
    dead: Vec<(ChainRef, usize, bool)>,
    /// Dead keys detached, for the unlinker.
    detached: Vec<ChainRef>,
}

/// The most entries a list kept between passes has room for: an
/// eviction's batch of victims fits (at most a few thousand keys).
pub(crate) const KEPT_LIST_LEN: usize = 4096;

impl Lists {
    /// Gives back what a large pass grew the (empty) lists to.
    fn trim(&mut self) {
        self.again.shrink_to(KEPT_LIST_LEN);
        self.dead.shrink_to(KEPT_LIST_LEN);
        self.detached.shrink_to(KEPT_LIST_LEN);
    }
}

impl GcQueue {
    /// Queues `chain` unless it is queued already.
    pub(crate) fn enqueue(&self, chain: &ChainRef) {
        if chain.mark_gc_queued() {
            self.queue.push(chain.clone());
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }
}

/// What one collection pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct GcReport {
    /// Keys taken from the queue and examined.
    pub keys_examined: usize,
    /// Old versions detached and freed.
    pub versions_reclaimed: usize,
    /// Keys removed from the index (deleted or expired for every reader).
    pub keys_removed: usize,
    /// Keys still queued after the pass.
    pub pending: usize,
}

enum Outcome {
    /// Nothing more to do until the key is written again.
    Done,
    /// Versions newer than the horizon remain: look again later.
    Again,
    /// Every reader sees the key as absent: remove it if unchanged.
    Dead { head: usize, expired: bool },
}

/// Cuts off the versions of `chain` no reader can see and tells what is
/// left to do. With `removal` [`Removal::Detach`], a key found dead keeps
/// them: its record frees them with itself once unlinked, on the
/// unlinker's thread, and the caller is spared reading them and handing
/// each to the epoch collector.
fn prune(chain: &ChainRef, horizon: Horizon, removal: Removal, guard: &Guard) -> (Freed, Outcome) {
    let head = chain.head(guard);
    let mut current = head;
    let mut newer_than_horizon = false;
    while let Some(v) = current {
        if v.seq() <= horizon.seq {
            break;
        }
        newer_than_horizon = true;
        current = chain.next(v, guard);
    }
    let Some(base) = current else {
        let needs_work = head.is_some_and(|h| !h.is_value() || chain.next(h, guard).is_some());
        let outcome = if needs_work {
            Outcome::Again
        } else {
            Outcome::Done
        };
        return (Freed::default(), outcome);
    };
    let dead = !newer_than_horizon && base.is_dead_at(horizon.time);
    if dead && removal == Removal::Detach {
        let outcome = Outcome::Dead {
            head: base.addr(),
            expired: base.is_value(),
        };
        return (Freed::default(), outcome);
    }
    let freed = chain.cut_after(base, guard);
    let outcome = if newer_than_horizon {
        Outcome::Again
    } else if dead {
        Outcome::Dead {
            head: base.addr(),
            expired: base.is_value(),
        }
    } else {
        Outcome::Done
    };
    (freed, outcome)
}

/// What a collection does with a dead key's node in the ordered index.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Removal {
    /// Unlinks it at once.
    Unlink,
    /// Leaves it for the unlinker (`Shared::detach_chain`).
    Detach,
}

/// Whether a pass takes the write lock to remove dead keys, or runs on
/// the thread that holds it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum WriteLock {
    Take,
    Held,
}

fn account(shared: &Shared, space: Space, freed: Freed) {
    if freed.versions == 0 {
        return;
    }
    let c = &shared.counters;
    if space == Space::Index {
        c.index_bytes
            .fetch_sub(freed.bytes as i64, Ordering::Relaxed);
        return;
    }
    c.versions
        .fetch_sub(freed.versions as i64, Ordering::Relaxed);
    c.bytes.fetch_sub(freed.bytes as i64, Ordering::Relaxed);
    c.versions_reclaimed
        .fetch_add(freed.versions as u64, Ordering::Relaxed);
}

impl Store {
    /// Runs one collection pass over at most `max_keys` queued keys.
    ///
    /// Safe to call from any thread at any time; concurrent calls take turns.
    pub fn collect_garbage(&self, max_keys: usize) -> GcReport {
        let shared = &*self.shared;
        let budget = shared.gc.len().min(max_keys);
        let queued = std::iter::from_fn(|| shared.gc.queue.pop())
            .take(budget)
            .inspect(|chain| chain.clear_gc_queued());
        self.collect_chains(queued, Removal::Unlink)
    }

    /// Collects the eviction victims `victims` at once, whether queued or
    /// not: what an eviction that just deleted them runs to free their
    /// memory before it returns. Their records are at hand, so no key is
    /// looked up again. Keys an open view may still read stay queued for
    /// the collector.
    pub fn collect_candidates(&self, victims: &[Candidate]) -> GcReport {
        self.collect_chains(victims.iter().map(|c| c.chain().clone()), Removal::Unlink)
    }

    /// As [`Store::collect_candidates`], but a key found dead is only
    /// detached: taken out of the hash table at once, its ordered-index node
    /// left for [`Store::unlink_detached`] to unlink on another thread (see
    /// `unlink.rs`). Its memory stays counted in [`Store::memory_used`]
    /// until then.
    pub fn collect_candidates_detaching(&self, victims: &[Candidate]) -> GcReport {
        self.collect_chains(victims.iter().map(|c| c.chain().clone()), Removal::Detach)
    }

    /// Collects the index entries `entries` (keys of the index key space)
    /// at once, as [`Store::collect_candidates`] does the victims whose
    /// deletion removed them; detaching them (see
    /// [`Store::collect_candidates_detaching`]) if `detach`. Entries the
    /// store no longer holds are skipped.
    pub fn collect_index_entries(&self, entries: &[Vec<u8>], detach: bool) -> GcReport {
        let removal = if detach {
            Removal::Detach
        } else {
            Removal::Unlink
        };
        self.collect_keys(Space::Index, entries, removal)
    }

    /// As [`Store::collect_candidates_detaching`], for the keys `keys`
    /// (tests, which have keys rather than candidates).
    #[cfg(test)]
    pub(crate) fn collect_keys_detaching(&self, keys: &[Vec<u8>]) -> GcReport {
        self.collect_keys(Space::User, keys, Removal::Detach)
    }

    /// One pass over the chains of those of `keys` that `space` holds.
    fn collect_keys(&self, space: Space, keys: &[Vec<u8>], removal: Removal) -> GcReport {
        if keys.is_empty() {
            return GcReport::default();
        }
        let guard = epoch::pin();
        let chains: Vec<ChainRef> = keys
            .iter()
            .filter_map(|key| self.shared.keys(space).lookup(key, &guard))
            .map(|chain| ChainRef::clone(&chain))
            .collect();
        drop(guard);
        self.collect_chains(chains.into_iter(), removal)
    }

    /// As [`Store::collect_garbage`], on the thread that holds `writer`,
    /// the store's write lock: removing a dead key needs that lock, which
    /// this pass uses instead of taking it again. `None`, having collected
    /// nothing, if another thread's pass is under way (it may be waiting
    /// for this very lock) or `writer` is another store's. Chains
    /// `writer` located before ([`Writer::locate`]) are looked up again by
    /// the write that uses them: the pass may have removed them.
    pub fn collect_garbage_under(
        &self,
        writer: &mut Writer<'_>,
        max_keys: usize,
    ) -> Option<GcReport> {
        let shared = &*self.shared;
        if shared.process.is_inherited() || !writer.is_of(&self.shared) {
            return None;
        }
        let lists = shared.gc.running.try_lock()?;
        writer.forget_located();
        let budget = shared.gc.len().min(max_keys);
        let queued = std::iter::from_fn(|| shared.gc.queue.pop())
            .take(budget)
            .inspect(|chain| chain.clear_gc_queued());
        Some(self.collect_in(lists, queued, Removal::Unlink, WriteLock::Held))
    }

    fn collect_chains(&self, chains: impl Iterator<Item = ChainRef>, removal: Removal) -> GcReport {
        if self.shared.process.is_inherited() {
            // A fork() child takes no lock a parent thread may hold forever.
            return GcReport::default();
        }
        let lists = self.shared.gc.running.lock();
        self.collect_in(lists, chains, removal, WriteLock::Take)
    }

    /// One pass over `chains`, with the pass's `lists` (the lock that
    /// makes it the only pass).
    fn collect_in(
        &self,
        mut lists: MutexGuard<'_, Lists>,
        chains: impl Iterator<Item = ChainRef>,
        removal: Removal,
        write_lock: WriteLock,
    ) -> GcReport {
        let shared = &*self.shared;
        let Lists {
            again,
            dead,
            detached,
        } = &mut *lists;
        // Empty unless a pass unwound midway: what it left is stale.
        again.clear();
        dead.clear();
        detached.clear();
        let horizon = shared.horizon();
        let mut report = GcReport::default();
        let mut guard = epoch::pin();
        for (i, chain) in chains.enumerate() {
            report.keys_examined += 1;
            if i % 128 == 127 {
                guard.repin();
            }
            if chain.is_removed() {
                continue;
            }
            let (freed, outcome) = prune(&chain, horizon, removal, &guard);
            if chain.space() == Space::User {
                report.versions_reclaimed += freed.versions;
            }
            account(shared, chain.space(), freed);
            match outcome {
                Outcome::Done => {}
                Outcome::Again => again.push(chain),
                Outcome::Dead { head, expired } => dead.push((chain, head, expired)),
            }
        }
        if !dead.is_empty() {
            let _writers_wait = (write_lock == WriteLock::Take).then(|| shared.writer.lock());
            for (chain, head, expired) in dead.drain(..) {
                // A write since the check means the key is no longer dead;
                // that write queued it again.
                if chain.head_addr(&guard) == head && !chain.is_removed() {
                    match removal {
                        Removal::Unlink => shared.remove_chain(&chain, expired, &guard),
                        Removal::Detach => {
                            shared.detach_chain(&chain, expired, &guard);
                            detached.push(chain);
                        }
                    }
                    report.keys_removed += 1;
                }
            }
        }
        shared.detached.push(detached.drain(..), &guard);
        for chain in again.drain(..) {
            shared.gc.enqueue(&chain);
        }
        drop(guard);
        lists.trim();
        drop(lists);
        epoch::pin().flush();
        report.pending = shared.gc.len();
        report
    }

    /// Keys waiting for garbage collection.
    pub fn gc_pending(&self) -> usize {
        self.shared.gc.len()
    }
}
