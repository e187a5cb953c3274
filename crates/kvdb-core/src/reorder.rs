//! Reordering: moving the ordered index's nodes so that nodes next to each
//! other in key order lie next to each other in memory.
//!
//! A key inserted on its own gets a skiplist node wherever the allocator
//! has room, so after random inserts a scan's step from one node to the
//! next is a cache miss to an unrelated address, which no prefetcher can
//! predict: scans run several times slower than over an index built in key
//! order (as a snapshot load builds it). A reordering pass walks the index
//! in key order and moves each chain to a node allocated then
//! ([`KeyIndex::relink`]), so that consecutive nodes come from consecutive
//! allocations. Nothing a reader can observe changes: the chains, their
//! versions and the hash table stay where they are, and a key stays in the
//! index throughout its move.
//!
//! A pass runs in chunks of [`CHUNK`] keys, each under the write lock (so
//! a writer waits for at most one chunk), and continues where the last call
//! stopped: a caller spreads a pass over as many calls as it likes.

use std::ops::Bound;

use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_epoch as epoch;
use crossbeam_skiplist::base::RefEntry;
use parking_lot::Mutex;

use crate::chain::ChainRef;
use crate::error::CoreError;
use crate::index::{KeyIndex, OrderedKey};
use crate::space::Space;
use crate::store::Store;

/// Keys moved per hold of the write lock.
pub(crate) const CHUNK: usize = 256;

/// Where the current pass stands.
#[derive(Default)]
pub(crate) struct ReorderCursor {
    pass: Option<Pass>,
}

/// A pass under way.
struct Pass {
    space: Space,
    /// The last key moved in `space`; `None` before the first.
    after: Option<Box<[u8]>>,
    /// [`KeyIndex::inserted`] of `space` when the pass began there.
    inserted_at_start: usize,
}

impl Pass {
    fn begin(space: Space, index: &KeyIndex) -> Self {
        Self {
            space,
            after: None,
            inserted_at_start: index.inserted(),
        }
    }
}

/// The key spaces in the order a pass visits them.
const SPACES: [Space; 2] = [Space::User, Space::Index];

/// A store's reordering state.
#[derive(Default)]
pub(crate) struct Reordering {
    /// Held for a whole call: one pass at a time.
    cursor: Mutex<ReorderCursor>,
    /// True from a pass's first chunk to its end; read without the lock.
    under_way: AtomicBool,
}

/// What one call of [`Store::reorder`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReorderReport {
    /// Keys moved to new nodes.
    pub keys_moved: usize,
    /// True if the call finished a pass (every key held when it reached
    /// them is in order).
    pub pass_completed: bool,
    /// True if a pass is under way and the next call continues it.
    pub in_progress: bool,
}

impl Store {
    /// Keys inserted one by one since the last completed reordering pass
    /// began, in every key space: how many of the ordered index's nodes may
    /// lie out of key order in memory.
    pub fn scattered_keys(&self) -> usize {
        SPACES
            .iter()
            .map(|&space| self.shared.keys(space).scattered())
            .sum()
    }

    /// Keys inserted one by one into the ordered index, ever, in every key
    /// space: a count that moves while new keys are being written.
    pub fn keys_inserted(&self) -> usize {
        SPACES
            .iter()
            .map(|&space| self.shared.keys(space).inserted())
            .sum()
    }

    /// True while a reordering pass is under way (started and not finished).
    pub fn reorder_in_progress(&self) -> bool {
        self.shared.reorder.under_way.load(Ordering::Relaxed)
    }

    /// Continues the reordering pass under way, or starts one, moving at
    /// most `max_keys` keys (rounded up to a whole chunk). A pass covers
    /// every key held; keys inserted meanwhile behind its position wait for
    /// the next pass.
    ///
    /// The nodes the call unlinks stay allocated until it returns (a node
    /// and a 16-byte reference to it, 60-90 bytes a key), so that the nodes
    /// it allocates come from fresh memory, one after the other, and not
    /// from the holes of the old ones (which lie wherever the keys were
    /// first inserted); then this thread frees
    /// them. A pass run in one call therefore holds one node per key more
    /// until it ends. Call it on a thread that inserts no keys (as `kvdb`'s
    /// `Db::reorder` and background thread do): allocators hand each thread
    /// memory of its own (glibc's arenas, mimalloc's heaps), so its new
    /// nodes neither take nor leave holes among the inserting threads'
    /// records, and the nodes of one pass, freed together by the next, leave
    /// whole free runs for the pass after.
    ///
    /// Fails only in a `fork()` child or on a thread that holds this store's
    /// write lock.
    pub fn reorder(&self, max_keys: usize) -> Result<ReorderReport, CoreError> {
        self.reorder_until(max_keys, || false)
    }

    /// As [`Store::reorder`], also stopping, between chunks, once `stop`
    /// returns true (the background reorderer stops when new keys come).
    pub fn reorder_until(
        &self,
        max_keys: usize,
        mut stop: impl FnMut() -> bool,
    ) -> Result<ReorderReport, CoreError> {
        self.shared.check_process()?;
        let mut cursor = self.shared.reorder.cursor.lock();
        let mut report = ReorderReport::default();
        let mut retired = Retired::default();
        while report.keys_moved < max_keys.max(1) && (report.keys_moved == 0 || !stop()) {
            let writer = self.writer()?;
            let pass = cursor
                .pass
                .get_or_insert_with(|| Pass::begin(SPACES[0], writer.shared().keys(SPACES[0])));
            self.shared.reorder.under_way.store(true, Ordering::Relaxed);
            let index = self.shared.keys(pass.space);
            let (visited, moved) = move_chunk(index, pass, &mut retired);
            drop(writer);
            report.keys_moved += moved;
            if visited == CHUNK {
                continue;
            }
            // The end of a key space: its nodes are in order as of the
            // pass's start there.
            let (space, inserted_at_start) = (pass.space, pass.inserted_at_start);
            self.shared.keys(space).ordered_through(inserted_at_start);
            let next = SPACES.iter().skip_while(|&&s| s != space).nth(1);
            cursor.pass = next.map(|&space| Pass::begin(space, self.shared.keys(space)));
            if cursor.pass.is_none() {
                self.shared
                    .reorder
                    .under_way
                    .store(false, Ordering::Relaxed);
                report.pass_completed = true;
                break;
            }
        }
        report.in_progress = cursor.pass.is_some();
        drop(retired);
        Ok(report)
    }
}

/// The old nodes a reordering call has unlinked, kept allocated until it
/// ends; dropping this releases them and frees them on this thread.
#[derive(Default)]
struct Retired<'a> {
    nodes: Vec<RefEntry<'a, OrderedKey, ()>>,
}

impl Drop for Retired<'_> {
    fn drop(&mut self) {
        let released = self.nodes.len();
        {
            let guard = epoch::pin();
            for node in self.nodes.drain(..) {
                node.release(&guard);
            }
        }
        // Each released node (unlinked, its last reference gone) now waits
        // in crossbeam-epoch's queue for the epoch to move on, and any
        // thread that pins frees a few from it. Left there, the old nodes of
        // a pass (884k in one measured store) would be freed by the readers
        // after it, which then ran at half their usual rate. A flush hands
        // this thread's batch to the queue, tries to move the epoch on and
        // frees up to eight batches of 64 that no reader can reach: enough
        // flushes here free them all unless a reader stays pinned meanwhile.
        for _ in 0..released / 64 / 4 + 4 {
            epoch::pin().flush();
        }
    }
}

/// Moves the keys of up to [`CHUNK`] nodes after the pass's position, in
/// key order, and advances it past them; returns how many nodes were passed
/// (fewer than a chunk only at the end of the key space) and how many of
/// them were moved: a detached chain's node (see `KeyIndex::detach`) is
/// left for its unlinker. Callers hold the write lock.
fn move_chunk<'a>(
    index: &'a KeyIndex,
    pass: &mut Pass,
    retired: &mut Retired<'a>,
) -> (usize, usize) {
    let guard = epoch::pin();
    let from = match &pass.after {
        Some(key) => Bound::Excluded(&**key),
        None => Bound::Unbounded,
    };
    // Under the write lock no chain is being moved, so there are no twins;
    // a detached chain's node may sit beside its key's next chain's.
    let mut chains: Vec<ChainRef> = Vec::with_capacity(CHUNK);
    let mut at = index.borrow_at(true, from, &guard);
    while let Some(entry) = at {
        if chains.len() == CHUNK {
            break;
        }
        chains.push(entry.key().chain().clone());
        at = entry.next();
    }
    let mut moved = 0;
    for chain in chains.iter().filter(|chain| !chain.is_removed()) {
        retired.nodes.extend(index.relink(chain, &guard));
        moved += 1;
    }
    if let Some(last) = chains.last() {
        pass.after = Some(last.key().into());
    }
    (chains.len(), moved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_scans::{backward, forward, put};
    use crate::writer::Op;

    fn store_with(keys: &[&[u8]]) -> Store {
        let store = Store::new();
        for key in keys {
            let value = [b"v-", *key].concat();
            store.write(&[put(key, &value)]).unwrap();
        }
        store
    }

    fn batched(store: &Store, forward: bool, per_call: usize) -> Vec<Vec<u8>> {
        let mut c = store.snapshot().cursor::<&[u8]>(..);
        if forward {
            c.seek_to_first();
        } else {
            c.seek_to_last();
        }
        let mut keys = Vec::new();
        while c.take_batch(forward, per_call, |k, _| {
            keys.push(k.to_vec());
            true
        }) > 0
        {}
        keys
    }

    const KEYS: [&[u8]; 5] = [b"a", b"b", b"c", b"d", b"e"];

    #[test]
    fn scans_hand_out_a_key_being_moved_once() {
        let store = store_with(&KEYS);
        let expected: Vec<Vec<u8>> = KEYS.iter().map(|k| k.to_vec()).collect();
        let mut reversed = expected.clone();
        reversed.reverse();
        // Twins of the first, a middle and the last key, and of two
        // neighbours, all linked at once.
        store
            .shared
            .index
            .with_twins(&[b"a", b"c", b"d", b"e"], || {
                assert_eq!(forward(&store), expected);
                assert_eq!(backward(&store), reversed);
                for per_call in [1, 2, 3, 100] {
                    assert_eq!(batched(&store, true, per_call), expected, "{per_call}");
                    assert_eq!(batched(&store, false, per_call), reversed, "{per_call}");
                }
            });
        assert_eq!(forward(&store), expected);
        assert_eq!(backward(&store), reversed);
    }

    #[test]
    fn seeks_and_steps_skip_both_nodes_of_an_excluded_key_being_moved() {
        let store = store_with(&KEYS);
        store.shared.index.with_twins(&[b"b", b"c", b"d"], || {
            let mut c = store.snapshot().cursor::<&[u8]>(..);
            c.seek(b"c");
            assert_eq!(c.key(), Some(&b"c"[..]));
            c.next();
            assert_eq!(c.key(), Some(&b"d"[..]));
            c.prev();
            assert_eq!(c.key(), Some(&b"c"[..]), "a change of direction");
            c.prev();
            assert_eq!(c.key(), Some(&b"b"[..]));
            c.seek_for_prev(b"c");
            assert_eq!(c.key(), Some(&b"c"[..]));
            let snapshot = store.snapshot();
            let from_c: Vec<Vec<u8>> = snapshot
                .range(&b"c"[..]..)
                .map(|(k, _)| k.to_vec())
                .collect();
            assert_eq!(from_c, [b"c".to_vec(), b"d".to_vec(), b"e".to_vec()]);
            let after_c: Vec<Vec<u8>> = snapshot
                .range::<&[u8]>((Bound::Excluded(&b"c"[..]), Bound::Unbounded))
                .map(|(k, _)| k.to_vec())
                .collect();
            assert_eq!(after_c, [b"d".to_vec(), b"e".to_vec()]);
            let below_c: Vec<Vec<u8>> = snapshot
                .range(..&b"c"[..])
                .rev()
                .map(|(k, _)| k.to_vec())
                .collect();
            assert_eq!(below_c, [b"b".to_vec(), b"a".to_vec()]);
            // Stop a batch on the key after a moving one and step on.
            c.seek_to_first();
            assert_eq!(c.take_batch(true, 2, |_, _| true), 2);
            assert_eq!(c.key(), Some(&b"c"[..]));
            c.next();
            assert_eq!(c.key(), Some(&b"d"[..]));
        });
    }

    #[test]
    fn a_pass_moves_every_key_and_keeps_what_readers_see() {
        let keys: Vec<Vec<u8>> = (0..2000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761)).to_be_bytes().to_vec())
            .collect();
        let store = Store::new();
        for key in &keys {
            store.write(&[put(key, key)]).unwrap();
        }
        let before = store.snapshot();
        let old_view: Vec<(Vec<u8>, Vec<u8>)> = before
            .iter()
            .map(|(k, v)| (k.to_vec(), v.to_vec()))
            .collect();
        // Changes after the view: it must keep seeing its own state.
        for key in keys.iter().step_by(3) {
            store.write(&[Op::Delete { key }]).unwrap();
        }
        assert_eq!(store.scattered_keys(), 2000);
        let report = store.reorder(usize::MAX).unwrap();
        assert!(report.pass_completed && !report.in_progress);
        assert_eq!(report.keys_moved, 2000, "deleted keys are still held");
        assert_eq!(store.scattered_keys(), 0);
        let seen: Vec<(Vec<u8>, Vec<u8>)> = before
            .iter()
            .map(|(k, v)| (k.to_vec(), v.to_vec()))
            .collect();
        assert_eq!(seen, old_view);
        let mut live: Vec<Vec<u8>> = keys
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 3 != 0)
            .map(|(_, k)| k.clone())
            .collect();
        live.sort();
        assert_eq!(forward(&store), live);
        for key in &live {
            assert_eq!(store.get(key).unwrap().as_deref(), Some(&key[..]));
        }
        assert_eq!(store.stats().keys_held, 2000);
    }

    #[test]
    fn a_pass_spread_over_calls_resumes_where_it_stopped() {
        let keys: Vec<Vec<u8>> = (0..(CHUNK as u32 * 3 + 10))
            .map(|i| i.to_be_bytes().to_vec())
            .collect();
        let store = Store::new();
        for key in &keys {
            store.write(&[put(key, b"v")]).unwrap();
        }
        let first = store.reorder(1).unwrap();
        assert_eq!(first.keys_moved, CHUNK, "one chunk at least");
        assert!(first.in_progress && !first.pass_completed);
        assert_eq!(store.scattered_keys(), keys.len(), "until the pass ends");
        // A key inserted behind the pass's position waits for the next one.
        store.write(&[put(b"\0", b"v")]).unwrap();
        let mut moved = first.keys_moved;
        loop {
            let report = store.reorder(CHUNK).unwrap();
            moved += report.keys_moved;
            if report.pass_completed {
                break;
            }
        }
        assert_eq!(moved, keys.len());
        assert_eq!(store.scattered_keys(), 1);
        let next = store.reorder(usize::MAX).unwrap();
        assert_eq!(next.keys_moved, keys.len() + 1);
        assert_eq!(store.scattered_keys(), 0);
    }

    #[test]
    fn keys_removed_after_a_move_leave_the_index() {
        let store = store_with(&KEYS);
        store.reorder(usize::MAX).unwrap();
        store.reorder(usize::MAX).unwrap();
        store.reorder(usize::MAX).unwrap();
        for key in [&b"b"[..], b"d"] {
            store.write(&[Op::Delete { key }]).unwrap();
        }
        let report = store.collect_garbage(usize::MAX);
        assert_eq!(report.keys_removed, 2);
        assert_eq!(store.stats().keys_held, 3);
        assert_eq!(
            forward(&store),
            [b"a".to_vec(), b"c".to_vec(), b"e".to_vec()]
        );
        // And come back as new keys, found by both indexes.
        store.write(&[put(b"b", b"again")]).unwrap();
        assert_eq!(store.get(b"b").unwrap().as_deref(), Some(&b"again"[..]));
        assert_eq!(forward(&store).len(), 4);
    }

    #[test]
    fn restoring_a_key_after_a_move_finds_its_chain() {
        let store = store_with(&KEYS);
        store.reorder(usize::MAX).unwrap();
        let ops = [put(b"c", b"restored")];
        let batch = crate::PreparedBatch::new(&ops).unwrap();
        let mut writer = store.writer().unwrap();
        let seq = writer.next_seq();
        let applied = writer.restore(seq, &batch).unwrap();
        drop(writer);
        store.publish(applied);
        assert_eq!(store.stats().keys_held, 5);
        assert_eq!(forward(&store).len(), 5, "no second node for the key");
        assert_eq!(store.get(b"c").unwrap().as_deref(), Some(&b"restored"[..]));
    }
}
