//! The key index: a lock-free skiplist of per-key chains for ordered access,
//! and a hash table of the same chains for point lookups ([`points`]).
//!
//! Every point lookup in the crate goes through [`KeyIndex::lookup`] (the
//! hash table); scans go through [`KeyIndex::seek`] and
//! [`KeyIndex::borrow_at`] (the skiplist). Inserts, removals and the moves
//! of reordering ([`KeyIndex::relink`]) change them only under the store's
//! write lock; lookups and scans run concurrently with them, lock-free.

mod ordered_key;
mod points;

use std::ops::Bound;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crossbeam_epoch::{self as epoch, Guard};
use crossbeam_skiplist::base::{Entry, Finger, RefEntry, SkipList};

use crate::chain::{ChainBorrow, ChainRef};
use crate::space::Space;
use crate::writer_count::WriterCount;
pub(crate) use ordered_key::{Among, OrderedKey};
use points::PointIndex;

/// The skiplist and the hash table of the chains of one key space.
pub(crate) struct KeyIndex {
    map: SkipList<OrderedKey, ()>,
    points: PointIndex,
    space: Space,
    /// Chains held. The skiplist's own count includes, for a moment under
    /// the write lock, the twin of a chain being moved.
    held: WriterCount,
    /// Keys inserted one by one (each node allocated wherever the allocator
    /// had room), ever.
    inserted: AtomicUsize,
    /// The value of `inserted` when the last completed reordering pass over
    /// this index began.
    ordered: AtomicUsize,
    /// Set once any node has been moved: from then on a node may be of
    /// generation 1, and an insert cannot rely on the skiplist alone to find
    /// an existing key.
    moved: AtomicBool,
}

impl KeyIndex {
    pub(crate) fn new(space: Space) -> Self {
        Self {
            map: SkipList::new(epoch::default_collector().clone()),
            points: PointIndex::new(),
            space,
            held: WriterCount::new(0),
            inserted: AtomicUsize::new(0),
            ordered: AtomicUsize::new(0),
            moved: AtomicBool::new(false),
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

    /// Starts loading the hash slot a lookup of `hash` starts at.
    #[inline]
    pub(crate) fn prefetch_slot(&self, hash: u64, guard: &Guard) {
        self.points.prefetch_slot(hash, guard);
    }

    /// Starts loading the chain a lookup of `hash` would find first (see
    /// `PointIndex::prefetch_chain`).
    #[inline]
    pub(crate) fn prefetch_chain(&self, hash: u64, guard: &Guard) {
        self.points.prefetch_chain(hash, guard);
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
        let inserted = self.insert_absent(key, guard);
        self.inserted.fetch_add(1, Ordering::Relaxed);
        inserted
    }

    /// As [`Self::get_or_insert`], for a key that is most likely absent
    /// (loading a snapshot): skips the hash probe, which would find
    /// nothing, and lets the skiplist's insert find the key if it is there
    /// after all (a chain is in both structures or in neither).
    pub(crate) fn insert_likely_absent(&self, key: &[u8], guard: &Guard) -> (ChainRef, bool) {
        // Once nodes have moved, the key may sit in a node of generation 1,
        // which the skiplist would not find equal to a new chain's.
        if self.moved.load(Ordering::Relaxed)
            && let Some(chain) = self.lookup(key, guard)
        {
            return (ChainRef::clone(&chain), false);
        }
        self.insert_absent(key, guard)
    }

    /// Inserts a chain for `key`, whose node would be of generation 0, unless
    /// the skiplist holds one in such a node already.
    fn insert_absent(&self, key: &[u8], guard: &Guard) -> (ChainRef, bool) {
        let fresh = ChainRef::new_in(self.space, key);
        let chain = loop {
            let entry = self
                .map
                .get_or_insert(OrderedKey::new(fresh.clone()), (), guard);
            let chain = entry.key().chain().clone();
            // A detached chain's node not unlinked yet (see `detach`): no
            // longer the key's, so unlink it now and insert again.
            let detached = chain.is_removed();
            if detached {
                entry.remove(guard);
            }
            entry.release(guard);
            if !detached {
                break chain;
            }
        };
        let inserted = chain.same(&fresh);
        if inserted {
            self.points.insert(&chain, guard);
            self.held.add(1);
        }
        (chain, inserted)
    }

    /// A new, empty chain for `key`, not yet in either structure: for a
    /// sorted load into an empty index (see `writer/load.rs`), which gives
    /// it its first version, then [`Self::hold_in_points`] and
    /// [`Self::link_ordered`].
    pub(crate) fn new_chain(&self, key: &[u8]) -> ChainRef {
        ChainRef::new_in(self.space, key)
    }

    /// Puts `chain`, made by [`Self::new_chain`] for a key the index does
    /// not hold, in the hash table (its newest version becomes the slot's
    /// hint) and counts it held. Until [`Self::link_ordered`] links it too,
    /// point lookups find it and scans do not. Callers hold the write lock,
    /// or act for its holder while it changes neither structure (the sorted
    /// load's second thread, as for [`Self::link_ordered`]).
    pub(crate) fn hold_in_points(&self, chain: &ChainRef, guard: &Guard) {
        self.points.insert(chain, guard);
        self.held.add(1);
    }

    /// Links `chain` in the skiplist, for a key the skiplist does not hold.
    /// May run on another thread than the holder of the write lock, while
    /// that holder makes nothing else change the skiplist (the sorted
    /// load's linking thread: the writer inserts only into the hash table
    /// meanwhile).
    ///
    /// The search for the key's place starts where the last link under the
    /// same guard left `finger`: for keys linked in ascending order, at
    /// the key's predecessor on every level, so that a link reads a node
    /// or two per level of its tower instead of descending the whole list
    /// (`SkipList::get_or_insert_from`). Keys in any other order are linked
    /// as correctly, at the cost of a longer search.
    pub(crate) fn link_ordered<'g>(
        &'g self,
        chain: ChainRef,
        finger: &mut Finger<'g, OrderedKey, ()>,
        guard: &'g Guard,
    ) {
        let addr = chain.addr();
        let entry = self
            .map
            .get_or_insert_from(OrderedKey::new(chain), (), finger, guard);
        debug_assert_eq!(
            entry.key().chain().addr(),
            addr,
            "the key was linked already"
        );
        entry.release(guard);
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
                self.held.sub(1);
                true
            }
            None => false,
        }
    }

    /// Takes `chain` out of the hash table and marks it removed, leaving its
    /// node linked for [`Self::unlink_detached`] to unlink later, on another
    /// thread: the skiplist search that unlinking costs (as much as an
    /// insert) then leaves the writer's path. Until then a scan may still
    /// reach the node, so the caller must have checked that the chain's
    /// newest version hides the key from every reader (`gc::prune`'s
    /// `Dead`); nothing else reaches the chain, and an insert of its key
    /// unlinks the node first. Callers hold the write lock.
    pub(crate) fn detach(&self, chain: &ChainRef, guard: &Guard) {
        self.points.remove(chain, guard);
        chain.mark_removed();
        self.held.sub(1);
    }

    /// Unlinks the node of `chain`, detached by [`Self::detach`], unless it
    /// is gone already (unlinked by an insert of its key, or replaced by a
    /// reordering move's twin of the key's next chain). Needs no lock: the
    /// node is found and checked to be `chain`'s before it is removed, and
    /// removing that very node is atomic.
    pub(crate) fn unlink_detached(&self, chain: &ChainRef, guard: &Guard) {
        debug_assert!(chain.is_removed(), "only a detached chain is unlinked");
        if let Some(entry) = self.map.get(&OrderedKey::new(chain.clone()), guard)
            && entry.key().chain().same(chain)
        {
            entry.remove();
        }
    }

    /// Moves `chain` to a node allocated now, so that nodes moved one after
    /// the other in key order lie in memory in that order. The new node is
    /// a twin of the old one (see `ordered_key.rs`), linked beside it before
    /// the old one is unlinked: a reader finds the key in one or both, never
    /// in neither. Callers hold the write lock; `chain` is in the index.
    ///
    /// Returns the old node, unlinked but kept alive until the entry is
    /// released (`RefEntry::release`), which the caller must do: a pass
    /// holds its old nodes until it ends, so that its new nodes do not land
    /// in their holes (see `reorder.rs`).
    pub(crate) fn relink(
        &self,
        chain: &ChainRef,
        guard: &Guard,
    ) -> Option<RefEntry<'_, OrderedKey, ()>> {
        self.link_twin(chain, guard);
        self.unlink_old_twin(chain, guard)
    }

    /// The first half of [`Self::relink`]: links the new node beside the old
    /// one and makes it the chain's node.
    fn link_twin(&self, chain: &ChainRef, guard: &Guard) {
        self.moved.store(true, Ordering::Relaxed);
        let new = chain.node_generation() ^ 1;
        self.map
            .insert(OrderedKey::of_generation(chain.clone(), new), (), guard)
            .release(guard);
        chain.set_node_generation(new);
    }

    /// The second half of [`Self::relink`]: unlinks the old node.
    fn unlink_old_twin(
        &self,
        chain: &ChainRef,
        guard: &Guard,
    ) -> Option<RefEntry<'_, OrderedKey, ()>> {
        let old = chain.node_generation() ^ 1;
        let removed = self
            .map
            .remove(&OrderedKey::of_generation(chain.clone(), old), guard);
        debug_assert!(removed.is_some(), "the old node was linked");
        removed
    }

    /// Links a twin beside the node of each of `keys`, as a move does, runs
    /// `f` while both are linked, then finishes the moves.
    #[cfg(test)]
    pub(crate) fn with_twins<R>(&self, keys: &[&[u8]], f: impl FnOnce() -> R) -> R {
        let guard = epoch::pin();
        let chains: Vec<ChainRef> = keys
            .iter()
            .map(|key| ChainRef::clone(&self.lookup(key, &guard).expect("key held")))
            .collect();
        for chain in &chains {
            self.link_twin(chain, &guard);
        }
        let result = f();
        for chain in &chains {
            if let Some(old) = self.unlink_old_twin(chain, &guard) {
                old.release(&guard);
            }
        }
        result
    }

    /// Keys inserted one by one, ever (snapshot loads, which insert in key
    /// order, are not counted).
    pub(crate) fn inserted(&self) -> usize {
        self.inserted.load(Ordering::Relaxed)
    }

    /// Keys inserted one by one since the last completed reordering pass
    /// began: how many nodes may be out of place.
    pub(crate) fn scattered(&self) -> usize {
        self.inserted()
            .saturating_sub(self.ordered.load(Ordering::Relaxed))
    }

    /// Records that a pass which began when [`Self::inserted`] was
    /// `inserted` has moved every node.
    pub(crate) fn ordered_through(&self, inserted: usize) {
        self.ordered.fetch_max(inserted, Ordering::Relaxed);
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

    /// Calls `f` with every chain held (see `PointIndex::for_each`).
    pub(crate) fn for_each_chain(&self, f: impl FnMut(&ChainBorrow<'_>)) {
        self.points.for_each(f);
    }

    /// Makes room for `additional` more keys (before a bulk load).
    pub(crate) fn reserve(&self, additional: usize, guard: &Guard) {
        self.points.reserve(additional, guard);
    }

    /// Bytes the hash table would grow by for `additional` new keys.
    pub(crate) fn points_growth(&self, additional: usize) -> usize {
        self.points.growth(additional)
    }

    /// What the hash table shrinks by if `removed` chains are removed.
    pub(crate) fn points_shrink(&self, removed: usize) -> usize {
        self.points.shrink(removed)
    }

    /// See `PointIndex::shrink_to_fit`. Writer only.
    pub(crate) fn shrink_points_to_fit(&self, guard: &Guard) -> usize {
        self.points.shrink_to_fit(guard)
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
        let from = self.probe(forward, from);
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
    pub(crate) fn borrow_at<'a: 'g, 'g>(
        &'a self,
        forward: bool,
        from: Bound<&[u8]>,
        guard: &'g Guard,
    ) -> Option<Entry<'a, 'g, OrderedKey, ()>> {
        let from = self.probe(forward, from);
        if forward {
            self.map.lower_bound(from.as_ref(), guard)
        } else {
            self.map.upper_bound(from.as_ref(), guard)
        }
    }

    /// A chain some way before `key`: the last one before it among the
    /// nodes whose towers are more than `level` high, about `2^level` nodes
    /// back (`None` if there is none), borrowed as [`Self::borrow_at`]'s.
    /// Walking forward from it reaches `key` having found the chains before
    /// `key` with one search, where stepping back finds each with a search
    /// of its own (the skiplist has no backward links).
    ///
    /// `finger` keeps the search's path: a later one for a key before
    /// `key`, under the same guard, starts from it instead of the head.
    pub(crate) fn borrow_some_way_before<'a: 'g, 'g>(
        &'a self,
        key: &[u8],
        level: usize,
        finger: &mut Finger<'g, OrderedKey, ()>,
        guard: &'g Guard,
    ) -> Option<Entry<'a, 'g, OrderedKey, ()>> {
        let bound = self.probe(false, Bound::Excluded(key));
        self.map
            .upper_bound_at_level_from(bound.as_ref(), level, finger, guard)
    }

    /// `bound` as a bound on index keys, going `forward` or backward: a
    /// bound that includes a key lets in both generations of its node, one
    /// that excludes it keeps out both.
    fn probe(&self, forward: bool, bound: Bound<&[u8]>) -> Bound<OrderedKey> {
        let probe = |key: &[u8], among| OrderedKey::probe(self.space, key, among);
        match (bound, forward) {
            (Bound::Unbounded, _) => Bound::Unbounded,
            (Bound::Included(k), true) => Bound::Included(probe(k, Among::First)),
            (Bound::Excluded(k), true) => Bound::Excluded(probe(k, Among::Last)),
            (Bound::Included(k), false) => Bound::Included(probe(k, Among::Last)),
            (Bound::Excluded(k), false) => Bound::Excluded(probe(k, Among::First)),
        }
    }

    /// True if the skiplist links no node at all (not even a detached
    /// chain's).
    pub(crate) fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The number of chains held.
    pub(crate) fn len(&self) -> usize {
        self.held.get()
    }

    /// The number of nodes linked in the skiplist (chains held, detached
    /// chains not unlinked yet, and twins of chains being moved).
    #[cfg(test)]
    pub(crate) fn nodes(&self) -> usize {
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
    fn a_search_from_a_finger_finds_what_a_search_from_the_head_finds() {
        let index = KeyIndex::new(Space::User);
        let guard = epoch::pin();
        let key = |i: u32| format!("key{i:06}").into_bytes();
        let chains: Vec<ChainRef> = (0..5000)
            .map(|i| index.get_or_insert(&key(i), &guard).0)
            .collect();
        let found =
            |e: Option<Entry<'_, '_, OrderedKey, ()>>| e.map(|e| e.key().chain().key().to_vec());
        let mut rng = 0x9E37_79B9_7F4A_7C15u64;
        let mut below = |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n
        };
        let mut searches_from_a_finger = 0;
        for _ in 0..200 {
            let mut finger = Finger::new();
            let mut at = 5000 - below(100) as u32;
            while at > 0 {
                let level = below(7) as usize;
                let kept =
                    found(index.borrow_some_way_before(&key(at), level, &mut finger, &guard));
                let fresh = found(index.borrow_some_way_before(
                    &key(at),
                    level,
                    &mut Finger::new(),
                    &guard,
                ));
                assert_eq!(kept, fresh, "below {at} at level {level}");
                searches_from_a_finger += 1;
                // Nodes the finger passed are removed now and then, and keys
                // inserted just after them, which a search walking on from a
                // removed node would not find: such a search starts again
                // from the head.
                if below(2) == 0 {
                    let victim = at.saturating_sub(1 + below(40) as u32);
                    index.remove(&chains[victim as usize], &guard);
                    let mut after = key(victim);
                    after.push(b'+');
                    index.get_or_insert(&after, &guard);
                }
                at = at.saturating_sub(1 + below(64) as u32);
            }
        }
        assert!(searches_from_a_finger > 1000);
    }

    /// A new chain for `key`, held in the hash table and linked into the
    /// skiplist from `finger`, as a sorted load puts it in both.
    fn hold_and_link_from<'g>(
        index: &'g KeyIndex,
        key: &[u8],
        finger: &mut Finger<'g, OrderedKey, ()>,
        guard: &'g Guard,
    ) -> ChainRef {
        let chain = index.new_chain(key);
        index.hold_in_points(&chain, guard);
        index.link_ordered(chain.clone(), finger, guard);
        chain
    }

    /// Chains for `keys`, held in the hash table and linked into the
    /// skiplist in the order given, each link starting from one finger.
    fn link_all_from_a_finger(index: &KeyIndex, keys: &[Vec<u8>], guard: &Guard) -> Vec<ChainRef> {
        let mut finger = Finger::new();
        keys.iter()
            .map(|k| hold_and_link_from(index, k, &mut finger, guard))
            .collect()
    }

    /// Asserts that every level of the skiplist is in key order and that
    /// a search from the head finds each of `keys`, and only those.
    fn assert_well_formed_holding(index: &KeyIndex, keys: &[Vec<u8>], guard: &Guard) {
        let levels = index
            .map
            .level_sizes_if_ordered(guard)
            .expect("every level in key order, of nodes that reach it");
        assert_eq!(levels[0], keys.len(), "level 0 holds every key");
        assert_eq!(index.nodes(), keys.len());
        for k in keys {
            let found = index.seek(true, Bound::Included(k), guard).map(|e| {
                let key = e.key().chain().key().to_vec();
                e.release(guard);
                key
            });
            assert_eq!(found.as_deref(), Some(&k[..]), "a search finds {k:?}");
        }
    }

    #[test]
    fn keys_linked_in_ascending_order_from_a_finger_build_a_sound_skiplist() {
        let index = KeyIndex::new(Space::User);
        let guard = epoch::pin();
        let keys: Vec<Vec<u8>> = (0..20_000u32).map(|i| i.to_be_bytes().to_vec()).collect();
        link_all_from_a_finger(&index, &keys, &guard);
        assert_well_formed_holding(&index, &keys, &guard);
        let levels = index.map.level_sizes_if_ordered(&guard).unwrap();
        // Towers as tall as an insert from the head builds: about half the
        // nodes of each level reach the next.
        assert!(
            (7_000..13_000).contains(&levels[1]),
            "level 1 holds {} nodes of 20,000",
            levels[1]
        );
        assert!(levels.len() >= 10, "{} levels", levels.len());
    }

    #[test]
    fn keys_linked_in_any_order_from_a_finger_build_a_sound_skiplist() {
        let index = KeyIndex::new(Space::User);
        let guard = epoch::pin();
        let mut rng = 0x2545_F491_4F6C_DD1Du64;
        let mut keys: Vec<Vec<u8>> = (0..5_000u32)
            .map(|_| {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                rng.to_be_bytes()[..3].to_vec()
            })
            .collect();
        keys.sort();
        keys.dedup();
        // Runs that ascend, then jump back: the finger's nodes are then
        // above the key, and the search must start lower or at the head.
        let mut order = keys.clone();
        order.rotate_left(keys.len() / 3);
        order[..keys.len() / 2].reverse();
        link_all_from_a_finger(&index, &order, &guard);
        assert_well_formed_holding(&index, &keys, &guard);
    }

    #[test]
    fn links_from_a_finger_whose_nodes_were_removed_still_land_in_order() {
        let index = KeyIndex::new(Space::User);
        let guard = epoch::pin();
        let key = |i: u32| i.to_be_bytes().to_vec();
        let mut finger = Finger::new();
        let mut held = Vec::new();
        for i in (0..3_000).step_by(2) {
            held.push(hold_and_link_from(&index, &key(i), &mut finger, &guard));
            // Every few links, the last key linked (the finger's node at
            // every level of its tower) and one before it are removed, and
            // a key between them linked from the same finger.
            if i % 10 == 8 {
                let last = held.pop().unwrap();
                assert!(index.remove(&last, &guard));
                let earlier = held.remove(held.len() - 2);
                assert!(index.remove(&earlier, &guard));
                held.push(hold_and_link_from(&index, &key(i - 3), &mut finger, &guard));
            }
        }
        let mut keys: Vec<Vec<u8>> = held.iter().map(|c| c.key().to_vec()).collect();
        keys.sort();
        assert_well_formed_holding(&index, &keys, &guard);
    }

    #[test]
    fn readers_see_keys_linked_from_a_finger_in_order_while_linking_goes_on() {
        let index = KeyIndex::new(Space::User);
        let keys: Vec<Vec<u8>> = (0..30_000u32).map(|i| i.to_be_bytes().to_vec()).collect();
        let done = AtomicBool::new(false);
        std::thread::scope(|scope| {
            let reader = scope.spawn(|| {
                let mut passes = 0;
                while !done.load(Ordering::Acquire) || passes == 0 {
                    let guard = epoch::pin();
                    let mut seen = 0usize;
                    let mut last: Option<Vec<u8>> = None;
                    let mut at = index.borrow_at(true, Bound::Unbounded, &guard);
                    while let Some(entry) = at {
                        let k = entry.key().chain().key().to_vec();
                        assert!(last.as_ref().is_none_or(|l| *l < k), "a scan in order");
                        last = Some(k);
                        seen += 1;
                        at = entry.next();
                    }
                    assert!(seen <= keys.len());
                    passes += 1;
                }
                passes
            });
            let mut guard = epoch::pin();
            for batch in keys.chunks(1024) {
                let mut finger = Finger::new();
                for k in batch {
                    hold_and_link_from(&index, k, &mut finger, &guard);
                }
                guard.repin();
            }
            done.store(true, Ordering::Release);
            assert!(reader.join().unwrap() > 0);
        });
        assert_well_formed_holding(&index, &keys, &epoch::pin());
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
