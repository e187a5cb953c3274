//! Loading a sorted run of keys into an empty store on two threads.
//!
//! Opening a database rebuilds its store from a snapshot file, whose keys
//! are distinct and in ascending order. Into an empty store every one of
//! them is new, so no insert has to search for an existing record, and the
//! work splits in two: the holder of the write lock reads the entries and
//! builds each record (its chain and first version), while a second thread,
//! a batch behind, puts the same records in the hash table and links them
//! into the skiplist, in key order. Each skiplist link starts where the
//! last one ended (the keys ascend), so it reads a node or two per level
//! instead of descending the list; the nodes, allocated one after another
//! on their own thread, lie in memory in key order, the order in which
//! scans visit them. While the load runs, nothing else changes either
//! structure: the holder of the write lock waits for the second thread
//! before it returns.

use std::sync::atomic::Ordering;
use std::sync::mpsc::{SyncSender, sync_channel};

use crossbeam_epoch as epoch;
use crossbeam_skiplist::base::Finger;

use super::{Op, Writer};
use crate::chain::ChainRef;
use crate::error::CoreError;
use crate::index::KeyIndex;
use crate::prepared::Applied;

/// Records handed to the linking thread at a time.
const HANDOFF: usize = 1024;
/// Hand-offs that may wait for the linking thread before the writer does.
const HANDOFFS_QUEUED: usize = 4;
/// Records whose hash slots are loaded ahead of the one written (a cache
/// miss per key, overlapped with the others).
const LOOKAHEAD: usize = 8;

impl Writer<'_> {
    /// Loads `ops` into this store, which must hold no key, all at sequence
    /// number `seq`, as [`Writer::restore`] would: for rebuilding a store
    /// from a snapshot file. Keys must come in strictly ascending order;
    /// the first that does not fails the load with
    /// [`CoreError::LoadOutOfOrder`], as does the first key or value over
    /// its limit, with what came before it loaded. A delete finds nothing
    /// to delete.
    ///
    /// The keys are linked into the skiplist on a second thread while this
    /// one builds their records (on this one, if that thread cannot be
    /// started). As with [`Writer::restore`], the load is applied, not
    /// published: readers see it once the receipt is. A load at a sequence
    /// number readers see already (`seq` equal to the newest published
    /// one) may be found by a point read before a scan reaches it, until
    /// this returns.
    pub fn load_sorted<'k>(
        &mut self,
        seq: u64,
        ops: impl IntoIterator<Item = Op<'k>>,
    ) -> Result<Applied, CoreError> {
        self.load_sorted_with_access(seq, ops.into_iter().map(|op| (op, None)))
    }

    /// As [`Writer::load_sorted`], with each put's key's access word where
    /// one is given (what a snapshot recorded of its use; see
    /// [`crate::access_from_age`]) instead of the word a write records.
    pub fn load_sorted_with_access<'k>(
        &mut self,
        seq: u64,
        ops: impl IntoIterator<Item = (Op<'k>, Option<u32>)>,
    ) -> Result<Applied, CoreError> {
        if seq + 1 < self.state.next_seq {
            return Err(CoreError::SequenceRegression {
                expected: self.state.next_seq,
                got: seq,
            });
        }
        let index = &self.shared.index;
        if !index.is_empty() {
            return Err(CoreError::LoadIntoNonEmptyStore);
        }
        let loaded = std::thread::scope(|scope| {
            let (sender, receiver) = sync_channel::<Vec<ChainRef>>(HANDOFFS_QUEUED);
            let linker = std::thread::Builder::new()
                .name("kvdb-load".into())
                .spawn_scoped(scope, move || {
                    let mut guard = epoch::pin();
                    for records in receiver {
                        hold_and_link(index, records, &guard);
                        guard.repin();
                    }
                });
            let mut linking = Linking {
                index,
                // Without a thread, the records are held and linked here.
                sender: linker.as_ref().ok().map(|_| sender),
                pending: Vec::with_capacity(HANDOFF),
            };
            let loaded = self.load_ops(seq, ops, &mut linking);
            // Every record built is in both structures before the thread
            // is joined, whether the load succeeded or not.
            drop(linking);
            if let Ok(linker) = linker
                && let Err(panic) = linker.join()
            {
                std::panic::resume_unwind(panic);
            }
            loaded
        });
        loaded?;
        self.state.next_seq = seq + 1;
        self.shared.set_applied(seq);
        Ok(Applied::through(seq))
    }

    /// Builds and holds the records of `ops`, handing each to `linking`.
    fn load_ops<'k>(
        &self,
        seq: u64,
        ops: impl IntoIterator<Item = (Op<'k>, Option<u32>)>,
        linking: &mut Linking<'_>,
    ) -> Result<(), CoreError> {
        let index = &self.shared.index;
        let mut guard = epoch::pin();
        let mut previous: Option<&'k [u8]> = None;
        let mut totals = Totals::default();
        let mut ops = ops.into_iter();
        let outcome = loop {
            let Some((op, access)) = ops.next() else {
                break Ok(());
            };
            let key = op.key();
            let position = totals.puts + totals.deletes;
            if previous.is_some_and(|p| p >= key) {
                break Err(CoreError::LoadOutOfOrder { position });
            }
            if let Err(e) = op.check() {
                break Err(e);
            }
            previous = Some(key);
            match op {
                Op::Put {
                    value, expires_at, ..
                } => {
                    let chain = index.new_chain(key);
                    let pushed = self.push_value(&chain, true, seq, value, expires_at, &guard);
                    if let Some(word) = access {
                        chain.access().store(word, Ordering::Relaxed);
                    }
                    linking.push(chain);
                    totals.puts += 1;
                    totals.bytes += pushed.bytes;
                }
                // Nothing to delete in a store that held no key.
                Op::Delete { .. } => totals.deletes += 1,
            }
            if (position + 1).is_multiple_of(REPIN_EVERY) {
                guard.repin();
            }
        };
        totals.count_in(self);
        outcome
    }
}

/// Puts `records` (new chains, in ascending key order, each with its first
/// version) in the hash table and links them into the skiplist. Each key
/// lands in a random hash slot: a cache miss, started [`LOOKAHEAD`] keys
/// before the slot is written, so that the misses overlap.
fn hold_and_link(index: &KeyIndex, records: Vec<ChainRef>, guard: &epoch::Guard) {
    for chain in records.iter().take(LOOKAHEAD) {
        index.prefetch_point(chain.key(), guard);
    }
    for (i, chain) in records.iter().enumerate() {
        if let Some(ahead) = records.get(i + LOOKAHEAD) {
            index.prefetch_point(ahead.key(), guard);
        }
        index.hold_in_points(chain, guard);
    }
    let mut finger = Finger::new();
    for chain in records {
        index.link_ordered(chain, &mut finger, guard);
    }
}

/// Operations between two repins of the writer's epoch guard.
const REPIN_EVERY: u64 = 4096;

/// What a load adds to the store's counters, added once at its end.
#[derive(Default)]
struct Totals {
    puts: u64,
    deletes: u64,
    bytes: i64,
}

impl Totals {
    fn count_in(&self, writer: &Writer<'_>) {
        let c = &writer.shared.counters;
        c.puts.fetch_add(self.puts, Ordering::Relaxed);
        c.deletes.fetch_add(self.deletes, Ordering::Relaxed);
        // Every put made a new key live, with its first version.
        let new_keys = i64::try_from(self.puts).unwrap_or(i64::MAX);
        c.live_keys.fetch_add(new_keys, Ordering::Relaxed);
        c.versions.fetch_add(new_keys, Ordering::Relaxed);
        c.bytes.fetch_add(self.bytes, Ordering::Relaxed);
    }
}

/// Hands records, in batches, to the linking thread, or holds and links
/// them on this thread if there is none. Dropping it hands off what is left, and closes
/// the channel, which ends the thread's loop.
struct Linking<'a> {
    index: &'a KeyIndex,
    sender: Option<SyncSender<Vec<ChainRef>>>,
    pending: Vec<ChainRef>,
}

impl Linking<'_> {
    fn push(&mut self, chain: ChainRef) {
        self.pending.push(chain);
        if self.pending.len() == HANDOFF {
            let records = std::mem::replace(&mut self.pending, Vec::with_capacity(HANDOFF));
            self.hand_off(records);
        }
    }

    fn hand_off(&self, records: Vec<ChainRef>) {
        // A send fails only if the thread is gone (it panicked, and the
        // load will report it): hold and link here, so that no record built
        // is left out of the index.
        let unsent = match &self.sender {
            Some(sender) => sender.send(records).err().map(|e| e.0),
            None => Some(records),
        };
        if let Some(records) = unsent {
            hold_and_link(self.index, records, &epoch::pin());
        }
    }
}

impl Drop for Linking<'_> {
    fn drop(&mut self) {
        let records = std::mem::take(&mut self.pending);
        if !records.is_empty() {
            self.hand_off(records);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::Space;

    #[test]
    fn without_a_linking_thread_records_are_held_and_linked_on_this_one() {
        let index = KeyIndex::new(Space::User);
        let mut linking = Linking {
            index: &index,
            sender: None,
            pending: Vec::new(),
        };
        let n = HANDOFF + 3;
        for i in 0..n {
            linking.push(index.new_chain(format!("{i:06}").as_bytes()));
        }
        assert_eq!(index.nodes(), HANDOFF, "one full hand-off linked");
        assert_eq!(index.len(), HANDOFF, "and held in the hash table");
        drop(linking);
        assert_eq!(index.nodes(), n, "the rest linked when dropped");
        assert_eq!(index.len(), n);
        let guard = epoch::pin();
        assert!((0..n).all(|i| index.lookup(format!("{i:06}").as_bytes(), &guard).is_some()));
    }

    #[test]
    fn records_a_gone_thread_cannot_take_are_linked_on_this_one() {
        let index = KeyIndex::new(Space::User);
        let (sender, receiver) = sync_channel(HANDOFFS_QUEUED);
        drop(receiver);
        let mut linking = Linking {
            index: &index,
            sender: Some(sender),
            pending: Vec::new(),
        };
        linking.push(index.new_chain(b"a"));
        drop(linking);
        assert_eq!(index.nodes(), 1);
        assert!(index.lookup(b"a", &epoch::pin()).is_some());
    }
}
