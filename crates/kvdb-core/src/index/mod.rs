//! The key index: a lock-free skiplist of per-key chains for ordered access,
//! and a hash table of the same chains for point lookups ([`points`]).
//!
//! Every point lookup in the crate goes through [`KeyIndex::lookup`] (the
//! hash table); scans go through [`KeyIndex::range`] (the skiplist). Inserts
//! and removals change both, only under the store's write lock; lookups and
//! scans run concurrently with them, lock-free.

mod points;

use std::ops::Bound;

use crossbeam_epoch::{self as epoch, Guard};
use crossbeam_skiplist::base::SkipList;

use crate::chain::{ChainBorrow, ChainRef};
use points::PointIndex;

/// The skiplist and the hash table of a store's chains.
pub(crate) struct KeyIndex {
    map: SkipList<ChainRef, ()>,
    points: PointIndex,
}

impl KeyIndex {
    pub(crate) fn new() -> Self {
        Self {
            map: SkipList::new(epoch::default_collector().clone()),
            points: PointIndex::new(),
        }
    }

    /// The chain for `key`, if the index holds one.
    #[inline]
    pub(crate) fn lookup<'g>(&self, key: &[u8], guard: &'g Guard) -> Option<ChainBorrow<'g>> {
        self.points.get(key, guard)
    }

    /// The chain for `key`, inserting an empty one if absent; the flag says
    /// whether it was inserted. Callers hold the write lock.
    pub(crate) fn get_or_insert(&self, key: &[u8], guard: &Guard) -> (ChainRef, bool) {
        if let Some(chain) = self.lookup(key, guard) {
            return (ChainRef::clone(&chain), false);
        }
        let entry = self.map.get_or_insert(ChainRef::new(key), (), guard);
        let chain = entry.key().clone();
        entry.release(guard);
        self.points.insert(&chain, guard);
        (chain, true)
    }

    /// Removes `chain` from the index. Callers hold the write lock. Returns
    /// false if the index held no chain for its key.
    pub(crate) fn remove(&self, chain: &ChainRef, guard: &Guard) -> bool {
        match self.map.remove(chain.key(), guard) {
            Some(entry) => {
                debug_assert!(entry.key().same(chain), "removed a different chain");
                self.points.remove(chain, guard);
                entry.release(guard);
                chain.mark_removed();
                true
            }
            None => false,
        }
    }

    /// Makes room for `additional` more keys (before a bulk load).
    pub(crate) fn reserve(&self, additional: usize, guard: &Guard) {
        self.points.reserve(additional, guard);
    }

    /// Bytes held by the hash table.
    pub(crate) fn points_footprint(&self) -> usize {
        self.points.footprint()
    }

    /// Chains with keys inside the bounds, in ascending key order (reversible).
    pub(crate) fn range<'g, 'b>(
        &'g self,
        lower: Bound<&'b [u8]>,
        upper: Bound<&'b [u8]>,
        guard: &'g Guard,
    ) -> impl DoubleEndedIterator<Item = &'g ChainRef> {
        let empty = bounds_are_empty(lower, upper);
        let (lower, upper) = if empty {
            // An empty range that crossbeam accepts: (x, x) exclusive.
            (Bound::Excluded(&[][..]), Bound::Excluded(&[][..]))
        } else {
            (lower, upper)
        };
        self.map
            .range::<[u8], _>((lower, upper), guard)
            .map(|entry| entry.key())
    }

    /// The number of chains held.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

/// True when no key can lie between `lower` and `upper`.
pub(crate) fn bounds_are_empty(lower: Bound<&[u8]>, upper: Bound<&[u8]>) -> bool {
    match (lower, upper) {
        (Bound::Included(a), Bound::Included(b)) => a > b,
        (Bound::Included(a), Bound::Excluded(b))
        | (Bound::Excluded(a), Bound::Included(b))
        | (Bound::Excluded(a), Bound::Excluded(b)) => a >= b,
        (Bound::Unbounded, Bound::Excluded(b)) => b.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys<'g>(it: impl Iterator<Item = &'g ChainRef>) -> Vec<Vec<u8>> {
        it.map(|c| c.key().to_vec()).collect()
    }

    #[test]
    fn range_respects_bounds_both_ways() {
        let index = KeyIndex::new();
        let guard = epoch::pin();
        for k in [b"a", b"b", b"c", b"d"] {
            index.get_or_insert(k, &guard);
        }
        let fwd = keys(index.range(Bound::Included(b"b"), Bound::Excluded(b"d"), &guard));
        assert_eq!(fwd, vec![b"b".to_vec(), b"c".to_vec()]);
        let back = keys(
            index
                .range(Bound::Excluded(b"a"), Bound::Unbounded, &guard)
                .rev(),
        );
        assert_eq!(back, vec![b"d".to_vec(), b"c".to_vec(), b"b".to_vec()]);
        assert!(keys(index.range(Bound::Included(b"c"), Bound::Excluded(b"b"), &guard)).is_empty());
    }

    #[test]
    fn insert_lookup_remove() {
        let index = KeyIndex::new();
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
    fn empty_bounds_detection() {
        use Bound::*;
        assert!(bounds_are_empty(Included(b"b"), Included(b"a")));
        assert!(!bounds_are_empty(Included(b"a"), Included(b"a")));
        assert!(bounds_are_empty(Included(b"a"), Excluded(b"a")));
        assert!(bounds_are_empty(Unbounded, Excluded(b"")));
        assert!(!bounds_are_empty(Unbounded, Unbounded));
    }
}
