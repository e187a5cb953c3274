//! The key index: a lock-free skiplist of per-key chains for ordered access,
//! and a hash table of the same chains for point lookups ([`points`]).
//!
//! Every point lookup in the crate goes through [`KeyIndex::lookup`] (the
//! hash table); scans go through [`KeyIndex::range`] (the skiplist). Inserts
//! and removals change both, only under the store's write lock; lookups and
//! scans run concurrently with them, lock-free.

mod ordered_key;
mod points;

use std::ops::Bound;

use crossbeam_epoch::{self as epoch, Guard};
use crossbeam_skiplist::base::{Entry, RefEntry, SkipList};

use crate::chain::{ChainBorrow, ChainRef};
use crate::space::Space;
pub(crate) use ordered_key::OrderedKey;
use points::PointIndex;

/// The skiplist and the hash table of the chains of one key space.
pub(crate) struct KeyIndex {
    map: SkipList<OrderedKey, ()>,
    points: PointIndex,
    space: Space,
}

impl KeyIndex {
    pub(crate) fn new(space: Space) -> Self {
        Self {
            map: SkipList::new(epoch::default_collector().clone()),
            points: PointIndex::new(),
            space,
        }
    }

    /// The chain for `key`, if the index holds one.
    #[inline]
    pub(crate) fn lookup<'g>(&self, key: &[u8], guard: &'g Guard) -> Option<ChainBorrow<'g>> {
        self.points.get(key, guard)
    }

    /// Starts loading the hash slot of `key` (see `PointIndex::prefetch`).
    #[inline]
    pub(crate) fn prefetch_point(&self, key: &[u8], guard: &Guard) {
        self.points.prefetch(key, guard);
    }

    /// The point-lookup hash of `key` (seeded per store: meaningless to
    /// any other store).
    #[inline]
    pub(crate) fn hash(&self, key: &[u8]) -> u64 {
        self.points.hash(key)
    }

    /// As [`Self::lookup`], given `hash` = [`Self::hash`] of `key`.
    #[inline]
    pub(crate) fn lookup_hashed<'g>(
        &self,
        key: &[u8],
        hash: u64,
        guard: &'g Guard,
    ) -> Option<ChainBorrow<'g>> {
        self.points.get_hashed(key, hash, guard)
    }

    /// The first `Some` that `f` returns for a chain whose key hashes to
    /// `hash`.
    pub(crate) fn find_hashed<'g, R>(
        &self,
        hash: u64,
        guard: &'g Guard,
        f: impl FnMut(ChainBorrow<'g>) -> Option<R>,
    ) -> Option<R> {
        self.points.find_hashed(hash, guard, f)
    }

    /// The chain for `key`, inserting an empty one if absent; the flag says
    /// whether it was inserted. Callers hold the write lock.
    pub(crate) fn get_or_insert(&self, key: &[u8], guard: &Guard) -> (ChainRef, bool) {
        if let Some(chain) = self.lookup(key, guard) {
            return (ChainRef::clone(&chain), false);
        }
        self.insert_likely_absent(key, guard)
    }

    /// As [`Self::get_or_insert`], for a key that is most likely absent
    /// (loading a snapshot): skips the hash probe, which would find
    /// nothing, and lets the skiplist's insert find the key if it is there
    /// after all (a chain is in both structures or in neither).
    pub(crate) fn insert_likely_absent(&self, key: &[u8], guard: &Guard) -> (ChainRef, bool) {
        let fresh = ChainRef::new_in(self.space, key);
        let entry = self
            .map
            .get_or_insert(OrderedKey::new(fresh.clone()), (), guard);
        let chain = entry.key().chain().clone();
        entry.release(guard);
        let inserted = chain.same(&fresh);
        if inserted {
            self.points.insert(&chain, guard);
        }
        (chain, inserted)
    }

    /// Records that `chain`'s newest version changed, so point lookups
    /// start loading the new one early (see `points`). Callers hold the
    /// write lock.
    pub(crate) fn note_head(&self, chain: &ChainRef, guard: &Guard) {
        self.points.note_head(chain, guard);
    }

    /// Removes `chain` from the index. Callers hold the write lock. Returns
    /// false if the index held no chain for its key.
    pub(crate) fn remove(&self, chain: &ChainRef, guard: &Guard) -> bool {
        match self.map.remove(&OrderedKey::new(chain.clone()), guard) {
            Some(entry) => {
                debug_assert!(entry.key().chain().same(chain), "removed a different chain");
                self.points.remove(chain, guard);
                entry.release(guard);
                chain.mark_removed();
                true
            }
            None => false,
        }
    }

    /// Up to `want` chains from the hash table's slots at or after `start`
    /// (see `PointIndex::sample`).
    pub(crate) fn sample<'g>(
        &self,
        start: usize,
        want: usize,
        guard: &'g Guard,
    ) -> Vec<ChainBorrow<'g>> {
        self.points.sample(start, want, guard)
    }

    /// Makes room for `additional` more keys (before a bulk load).
    pub(crate) fn reserve(&self, additional: usize, guard: &Guard) {
        self.points.reserve(additional, guard);
    }

    /// Bytes the hash table would grow by for `additional` new keys.
    pub(crate) fn points_growth(&self, additional: usize) -> usize {
        self.points.growth(additional)
    }

    /// Bytes held by the hash table.
    pub(crate) fn points_footprint(&self) -> usize {
        self.points.footprint()
    }

    /// A counted reference to the first chain at or after `from` (going
    /// forward) or at or before it (going backward), if any. The entry keeps
    /// its node alive without holding an epoch guard. It must be released
    /// (`RefEntry::release`) or the node is never freed: scans wrap it at
    /// once in `scan::Pinned`, which releases it on drop.
    pub(crate) fn seek(
        &self,
        forward: bool,
        from: Bound<&[u8]>,
        guard: &Guard,
    ) -> Option<RefEntry<'_, OrderedKey, ()>> {
        let from = self.probe(from);
        loop {
            let entry = if forward {
                self.map.lower_bound(from.as_ref(), guard)?
            } else {
                self.map.upper_bound(from.as_ref(), guard)?
            };
            // `pin` fails only if the node was removed meanwhile: search again.
            if let Some(pinned) = entry.pin() {
                return Some(pinned);
            }
        }
    }

    /// The first chain at or after `from` (going forward) or at or before it
    /// (going backward), borrowed for as long as `guard` is held: no count is
    /// taken, so walking on from it with [`Entry::next`] / [`Entry::prev`]
    /// costs no atomic write per node.
    pub(crate) fn borrow_at<'g>(
        &'g self,
        forward: bool,
        from: Bound<&[u8]>,
        guard: &'g Guard,
    ) -> Option<Entry<'g, 'g, OrderedKey, ()>> {
        let from = self.probe(from);
        if forward {
            self.map.lower_bound(from.as_ref(), guard)
        } else {
            self.map.upper_bound(from.as_ref(), guard)
        }
    }

    /// `bound` as a bound on index keys.
    fn probe(&self, bound: Bound<&[u8]>) -> Bound<OrderedKey> {
        bound.map(|key| OrderedKey::probe(self.space, key))
    }

    /// The number of chains held.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seek_finds_the_nearest_key_in_either_direction() {
        let index = KeyIndex::new(Space::User);
        let guard = epoch::pin();
        for k in [b"b", b"d", b"f"] {
            index.get_or_insert(k, &guard);
        }
        let key = |e: Option<RefEntry<'_, OrderedKey, ()>>| {
            e.map(|e| {
                let k = e.key().chain().key().to_vec();
                e.release(&guard);
                k
            })
        };
        assert_eq!(
            key(index.seek(true, Bound::Included(b"c"), &guard)),
            Some(b"d".to_vec())
        );
        assert_eq!(
            key(index.seek(true, Bound::Excluded(b"d"), &guard)),
            Some(b"f".to_vec())
        );
        assert_eq!(key(index.seek(true, Bound::Excluded(b"f"), &guard)), None);
        assert_eq!(
            key(index.seek(false, Bound::Included(b"c"), &guard)),
            Some(b"b".to_vec())
        );
        assert_eq!(
            key(index.seek(false, Bound::Unbounded, &guard)),
            Some(b"f".to_vec())
        );
        assert_eq!(key(index.seek(false, Bound::Excluded(b"b"), &guard)), None);
    }

    #[test]
    fn insert_lookup_remove() {
        let index = KeyIndex::new(Space::User);
        let guard = epoch::pin();
        let (chain, inserted) = index.get_or_insert(b"k", &guard);
        assert!(inserted);
        let (again, inserted_again) = index.get_or_insert(b"k", &guard);
        assert!(!inserted_again);
        assert!(chain.same(&again));
        assert!(index.lookup(b"k", &guard).is_some());
        assert!(index.remove(&chain, &guard));
        assert!(chain.is_removed());
        assert!(index.lookup(b"k", &guard).is_none());
        assert!(!index.remove(&chain, &guard));
        assert_eq!(index.len(), 0);
    }

    #[test]
    fn an_insert_expecting_a_new_key_finds_one_already_there() {
        let index = KeyIndex::new(Space::User);
        let guard = epoch::pin();
        let (first, inserted) = index.insert_likely_absent(b"k", &guard);
        assert!(inserted);
        assert!(index.lookup(b"k", &guard).is_some_and(|c| c.same(&first)));
        let (again, inserted_again) = index.insert_likely_absent(b"k", &guard);
        assert!(!inserted_again, "the key was there");
        assert!(again.same(&first), "the chain already indexed is returned");
        assert!(index.remove(&first, &guard));
        assert!(
            index.lookup(b"k", &guard).is_none(),
            "one entry in the table"
        );
        assert_eq!(index.len(), 0);
    }
}
