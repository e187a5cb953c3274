//! The chains a batch will write, looked up once under the write lock: to
//! check, before anything is logged or applied, whether any of its keys
//! was written after some sequence number (a transaction's read view), and
//! then to apply the batch without looking the keys up again.

use crossbeam_epoch as epoch;
use smallvec::SmallVec;

use crate::chain::{ChainBorrow, ChainRef};
use crate::key_hash::KeyHash;
use crate::prepared::PreparedBatch;
use crate::writer::Writer;

/// Where the chain of each operation's key in one batch was (0: the store
/// did not hold the key), found under one hold of the write lock, and each
/// key's [`KeyHash`]. The addresses are used only under that same hold and
/// while no chain has left the index under it: [`Writer::apply_located`]
/// looks the keys up again otherwise.
pub struct Located {
    /// Which hold of the write lock found the chains.
    hold: u64,
    addrs: SmallVec<[usize; 8]>,
    hashes: SmallVec<[KeyHash; 8]>,
}

impl Located {
    /// The [`KeyHash`] of each operation's key, in batch order.
    pub fn hashes(&self) -> &[KeyHash] {
        &self.hashes
    }
}

impl Writer<'_> {
    /// Looks up the chain of every key `batch` writes.
    pub fn locate(&self, batch: &PreparedBatch<'_>) -> Located {
        let guard = epoch::pin();
        let index = &self.shared().index;
        let mut addrs = SmallVec::with_capacity(batch.ops().len());
        let mut hashes = SmallVec::with_capacity(batch.ops().len());
        for op in batch.ops() {
            let key = op.key();
            let hash = index.hash(key);
            addrs.push(
                index
                    .lookup_hashed(key, hash, &guard)
                    .map_or(0, |chain| chain.addr()),
            );
            hashes.push(KeyHash(hash));
        }
        Located {
            hold: self.hold(),
            addrs,
            hashes,
        }
    }

    /// The chains `located` found, one per operation, if it was made under
    /// this hold of the lock for a batch of `len` operations.
    pub(crate) fn located_chains<'w>(
        &'w self,
        located: &Located,
        len: usize,
    ) -> Option<impl Iterator<Item = Option<ChainBorrow<'w>>>> {
        (located.hold == self.hold() && located.addrs.len() == len).then(|| {
            located.addrs.iter().map(|&addr| {
                // SAFETY: `addr` is a chain that was in the index under this
                // same hold of the write lock (checked above). Chains leave
                // the index only under the write lock, which this writer
                // still holds, and a removal under it moves the hold on
                // (`Writer::forget_located`), so the chain is still there,
                // kept alive by its skiplist node; the borrow cannot outlive
                // `self`.
                (addr != 0).then(|| unsafe { ChainRef::borrow_addr(addr) })
            })
        })
    }

    /// The first of the batch's keys that `located` found whose newest
    /// applied write (a value or a deletion) has a sequence number above
    /// `seq`: that key and number. A key the store does not hold has not
    /// been written since any view still registered: garbage collection
    /// keeps a deletion as long as a view at or below it is open. Deletion
    /// markers over expired values are passed over (expiry is not a write).
    /// `None` also if `located` was made under another hold of the lock (the
    /// caller's mistake; nothing is known then).
    pub fn first_located_written_after(
        &self,
        located: &Located,
        seq: u64,
    ) -> Option<(Vec<u8>, u64)> {
        let chains = self.located_chains(located, located.addrs.len());
        debug_assert!(chains.is_some(), "located under another hold of the lock");
        let guard = epoch::pin();
        chains?.flatten().find_map(|chain| {
            let newest = chain.newest_write_seq(&guard)?;
            (newest > seq).then(|| (chain.key().to_vec(), newest))
        })
    }
}
