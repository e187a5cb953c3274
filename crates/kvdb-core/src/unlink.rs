//! Chains taken out of the index whose ordered-index nodes are still to be
//! unlinked, and the unlinking.
//!
//! Removing a key from the skiplist costs a search as long as inserting one.
//! When every new key at a memory limit evicts another, that doubles the
//! writer's skiplist work. So an eviction only *detaches* its victims under
//! the write lock (`KeyIndex::detach`: out of the hash table, marked
//! removed, so that no lookup, sample or write reaches them) and queues
//! them here; [`Store::unlink_detached`] then unlinks their nodes, without
//! the write lock, on whichever thread calls it (the engine's background
//! unlinker). Until then the nodes stay in the skiplist, where a scan finds
//! only a tombstone, and their memory stays counted, so the limit sees it.

use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_epoch::{self as epoch, Guard};
use parking_lot::Mutex;

use crate::chain::ChainRef;
use crate::gc::KEPT_LIST_LEN;
use crate::space::Space;
use crate::store::{Store, held_by};

/// A detached chain, with the versions and bytes it holds (counted once,
/// when queued).
type Queued = (ChainRef, usize, usize);

/// The detached chains and what they hold.
#[derive(Default)]
pub(crate) struct Detached {
    chains: Mutex<Vec<Queued>>,
    /// The list an unlinking pass last worked through, emptied and kept for
    /// its allocation, to become the next queue: writers queue here on
    /// their path, where growing a list costs a reallocation glibc's
    /// allocator serves slowly.
    spare: Mutex<Vec<Queued>>,
    /// Held through an unlinking pass: a caller that needs the memory of
    /// every detached chain released (a writer at the limit) waits for a
    /// pass under way on another thread rather than find nothing queued.
    pass: Mutex<()>,
    /// Bytes of their records and versions.
    bytes: AtomicU64,
}

impl Detached {
    /// Queues `chains`, just detached (their versions no longer change).
    pub(crate) fn push(&self, chains: impl Iterator<Item = ChainRef>, guard: &Guard) {
        let mut queued = self.chains.lock();
        let mut bytes = 0;
        queued.extend(chains.map(|chain| {
            let (versions, held) = held_by(&chain, guard);
            bytes += held;
            (chain, versions, held)
        }));
        // Under the lock: an unlinking pass that takes these chains
        // subtracts their bytes after this adds them.
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Takes every queued chain, leaving the spare list in their place.
    fn take(&self) -> Vec<Queued> {
        let mut taken = std::mem::take(&mut *self.spare.lock());
        std::mem::swap(&mut taken, &mut *self.chains.lock());
        taken
    }

    /// Keeps `list`, worked through, as the spare (with room for at most
    /// [`KEPT_LIST_LEN`] chains).
    fn give_back(&self, mut list: Vec<Queued>) {
        list.clear();
        list.shrink_to(KEPT_LIST_LEN);
        let mut spare = self.spare.lock();
        if list.capacity() > spare.capacity() {
            *spare = list;
        }
    }
}

impl Store {
    /// Bytes held by chains detached by [`Store::collect_candidates_detaching`]
    /// whose nodes are not unlinked yet (counted in [`Store::memory_used`]).
    pub fn detached_bytes(&self) -> u64 {
        self.shared.detached.bytes.load(Ordering::Relaxed)
    }

    /// Unlinks the ordered-index nodes of every detached chain and stops
    /// counting their memory, which is freed once no reader can reach it;
    /// returns how many were unlinked. Takes no write lock: safe to call
    /// from any thread at any time, concurrently with reads and writes.
    pub fn unlink_detached(&self) -> usize {
        let shared = &*self.shared;
        if shared.process.is_inherited() {
            // A fork() child takes no lock a parent thread may hold forever.
            return 0;
        }
        let _one_pass = shared.detached.pass.lock();
        let mut chains = shared.detached.take();
        if chains.is_empty() {
            shared.detached.give_back(chains);
            return 0;
        }
        // In key order, consecutive searches share most of their path.
        chains.sort_unstable_by(|a, b| a.0.key().cmp(b.0.key()));
        let mut guard = epoch::pin();
        // Counted once at the end: the writer updates the same counters.
        let mut released = [(0, 0); 2];
        for (i, (chain, versions, bytes)) in chains.iter().enumerate() {
            if i % 128 == 127 {
                guard.repin();
            }
            let space = chain.space();
            shared.keys(space).unlink_detached(chain, &guard);
            let sum = &mut released[usize::from(space == Space::Index)];
            sum.0 += versions;
            sum.1 += bytes;
        }
        for (space, (versions, bytes)) in [Space::User, Space::Index].into_iter().zip(released) {
            shared.release(space, versions, bytes);
            shared
                .detached
                .bytes
                .fetch_sub(bytes as u64, Ordering::Relaxed);
        }
        drop(guard);
        let unlinked = chains.len();
        shared.detached.give_back(chains);
        // Free the nodes here rather than in the next reader to pin.
        epoch::pin().flush();
        unlinked
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_scans::{backward, forward, put};
    use crate::writer::Op;

    /// A store holding `a` to `e`, with `c` deleted and detached (as an
    /// eviction leaves it), its node not unlinked yet.
    fn with_c_detached() -> Store {
        let store = Store::new();
        for key in [b"a", b"b", b"c", b"d", b"e"] {
            store.write(&[put(key, b"value")]).unwrap();
        }
        store.write(&[Op::Delete { key: b"c" }]).unwrap();
        let report = store.collect_keys_detaching(&[b"c".to_vec()]);
        assert_eq!(report.keys_removed, 1);
        store
    }

    #[test]
    fn a_detached_key_is_gone_for_readers_but_its_memory_counts_until_unlinked() {
        let store = with_c_detached();
        let keys: Vec<Vec<u8>> = [b"a", b"b", b"d", b"e"].map(|k| k.to_vec()).into();
        assert_eq!(forward(&store), keys);
        assert_eq!(
            backward(&store),
            keys.iter().rev().cloned().collect::<Vec<_>>()
        );
        assert_eq!(store.get(b"c").unwrap(), None);
        assert_eq!(store.stats().keys_held, 4);
        let held = store.detached_bytes();
        assert!(held > 0, "the detached chain's bytes are counted");
        let used = store.memory_used();
        assert_eq!(store.unlink_detached(), 1);
        assert_eq!(store.detached_bytes(), 0);
        assert_eq!(store.memory_used(), used - held);
        assert_eq!(store.shared.index.nodes(), 4, "the node is unlinked");
        assert_eq!(store.unlink_detached(), 0, "nothing left to unlink");
        assert_eq!(forward(&store), keys);
    }

    #[test]
    fn writing_a_detached_key_again_replaces_its_node() {
        let store = with_c_detached();
        store.write(&[put(b"c", b"again")]).unwrap();
        assert_eq!(store.shared.index.nodes(), 5, "one node for c");
        assert_eq!(store.get(b"c").unwrap(), Some(b"again".to_vec()));
        let all: Vec<Vec<u8>> = [b"a", b"b", b"c", b"d", b"e"].map(|k| k.to_vec()).into();
        assert_eq!(forward(&store), all);
        // The unlinker finds the node it queued gone and leaves the new one.
        assert_eq!(store.unlink_detached(), 1);
        assert_eq!(store.get(b"c").unwrap(), Some(b"again".to_vec()));
        assert_eq!(forward(&store), all);
        assert_eq!(store.detached_bytes(), 0);
    }

    #[test]
    fn reordering_passes_over_a_detached_node() {
        let store = with_c_detached();
        let report = store.reorder(usize::MAX).unwrap();
        assert_eq!(report.keys_moved, 4, "the detached chain is not moved");
        assert!(report.pass_completed);
        assert_eq!(store.unlink_detached(), 1);
        assert_eq!(store.shared.index.nodes(), 4);
        let keys: Vec<Vec<u8>> = [b"a", b"b", b"d", b"e"].map(|k| k.to_vec()).into();
        assert_eq!(forward(&store), keys);
    }
}
