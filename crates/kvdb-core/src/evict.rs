//! What eviction needs from the store: the bytes it holds, what a write
//! would add, random candidates with their access words, and the switch
//! that makes reads record accesses. Choosing victims and deleting them is
//! the engine's job (`kvdb`'s `evict` module), which deletes through its
//! write path so that evictions are numbered, logged and watched.

use std::sync::atomic::Ordering;

use crossbeam_epoch as epoch;

use crate::access::Tracking;
use crate::chain::{ChainRef, footprint_of_key};
use crate::store::Store;
use crate::version::{Version, footprint_of_value};
use crate::writer::{Op, Writer};

/// A key sampled as a possible victim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The key.
    pub key: Vec<u8>,
    /// Its access word (see [`crate::lru_idle`] and [`crate::lfu_counter`]).
    pub access: u32,
    /// Its expiry time, if it has one.
    pub expires_at: Option<u64>,
    /// What deleting it frees once no view needs it: its record and every
    /// version it holds.
    pub bytes: u64,
}

impl Store {
    /// Makes reads and writes record `tracking` from now on.
    pub fn set_tracking(&self, tracking: Tracking) {
        self.shared.access.set(tracking);
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

    /// The most the operations `ops` can add to [`Store::memory_used`]:
    /// each put counted as a new key, with the hash table's growth if new
    /// keys would make it double.
    pub fn write_cost(&self, ops: &[Op<'_>]) -> u64 {
        let puts = ops.iter().filter(|op| matches!(op, Op::Put { .. })).count();
        let records: usize = ops
            .iter()
            .map(|op| match *op {
                Op::Put {
                    key,
                    value,
                    expires_at,
                } => {
                    // The key's record, its version, and a tracker entry
                    // if it expires.
                    footprint_of_key(key.len())
                        + footprint_of_value(value.len(), expires_at.is_some())
                        + if expires_at.is_some() { 8 } else { 0 }
                }
                Op::Delete { .. } => footprint_of_value(0, false),
            })
            .sum();
        (records + self.shared.index.points_growth(puts)) as u64
    }
}

fn candidate(chain: &ChainRef, now: u64, guard: &epoch::Guard) -> Option<Candidate> {
    let head: &Version = chain.head(guard)?;
    if !head.is_live_at(now) || chain.is_removed() {
        return None;
    }
    let mut bytes = chain.footprint();
    let mut current = Some(head);
    while let Some(v) = current {
        bytes += v.footprint();
        current = chain.next(v, guard);
    }
    Some(Candidate {
        key: chain.key().to_vec(),
        access: chain.access().load(Ordering::Relaxed),
        expires_at: head.expires_at(),
        bytes: bytes as u64,
    })
}

impl Writer<'_> {
    /// `key` as a candidate now, if its newest version is a live value.
    pub fn eviction_candidate(&self, key: &[u8]) -> Option<Candidate> {
        let shared = self.shared();
        let guard = epoch::pin();
        let chain = shared.index.lookup(key, &guard)?;
        candidate(&chain, shared.clock.now_ms(), &guard)
    }

    /// Up to `want` keys of the user key space whose newest version is a
    /// live value, sampled at random: from every key starting at the hash
    /// slot `start` (a random number), or with `volatile_only` from the keys
    /// that have an expiry time.
    pub fn eviction_sample(&self, want: usize, volatile_only: bool, start: u64) -> Vec<Candidate> {
        let shared = self.shared();
        let guard = epoch::pin();
        let now = shared.clock.now_ms();
        let candidate = |chain: &crate::chain::ChainRef| candidate(chain, now, &guard);
        if volatile_only {
            shared
                .ttl
                .sample(want)
                .iter()
                .filter(|chain| chain.space() == crate::space::Space::User)
                .filter_map(&candidate)
                .collect()
        } else {
            shared
                .index
                .sample(start as usize, want, &guard)
                .iter()
                .filter_map(|chain| candidate(chain))
                .collect()
        }
    }
}
