//! When the background thread reorders the ordered index (see
//! `kvdb_core`'s `reorder.rs`): while no new key is being written, once
//! enough keys were inserted since the last pass for scans to have slowed.
//!
//! A pass moves every node, about a microsecond per key, and holds the write
//! lock a chunk at a time; run during a stream of inserts it would compete
//! with them for the lock and the CPU, and what it put in order would be
//! scattered again by the next inserts. So a pass starts, and continues,
//! only in a tick in which the count of inserted keys did not move since the
//! tick before. Updates of existing keys do not count: they do not move
//! nodes.

use kvdb_core::Store;

/// Keys moved per tick at most (tens of milliseconds of work).
pub(crate) const KEYS_PER_TICK: usize = 64 * 1024;

/// A pass starts when at least this share of the keys held...
const SCATTERED_SHARE: usize = 8;
/// ...and at least this many were inserted since the last pass began.
const MIN_SCATTERED: usize = 4096;

/// The background reorderer's memory between ticks.
#[derive(Debug, Default)]
pub(crate) struct ReorderTicks {
    /// [`Store::keys_inserted`] at the previous tick.
    inserted: Option<usize>,
}

impl ReorderTicks {
    /// One tick: moves up to [`KEYS_PER_TICK`] keys if the store is due for
    /// it; returns how many it moved.
    pub(crate) fn tick(&mut self, store: &Store) -> usize {
        let inserted = store.keys_inserted();
        let quiet = self.inserted.replace(inserted) == Some(inserted);
        if !quiet || !due(store) {
            return 0;
        }
        store
            .reorder(KEYS_PER_TICK)
            .map_or(0, |report| report.keys_moved)
    }
}

/// True if a pass is under way or enough keys are out of place to start one.
fn due(store: &Store) -> bool {
    if store.reorder_in_progress() {
        return true;
    }
    let stats = store.stats();
    let (scattered, held) = (stats.scattered_keys as usize, stats.keys_held as usize);
    scattered >= MIN_SCATTERED && scattered >= held / SCATTERED_SHARE
}

#[cfg(test)]
mod tests {
    use super::*;
    use kvdb_core::Op;

    fn insert(store: &Store, from: u32, count: u32) {
        for i in from..from + count {
            let key = i.wrapping_mul(2_654_435_761).to_be_bytes();
            store
                .write(&[Op::Put {
                    key: &key,
                    value: b"v",
                    expires_at: None,
                }])
                .unwrap();
        }
    }

    #[test]
    fn a_pass_waits_for_a_tick_without_new_keys() {
        let store = Store::new();
        let mut ticks = ReorderTicks::default();
        insert(&store, 0, 10_000);
        assert_eq!(ticks.tick(&store), 0, "the first tick has no earlier count");
        insert(&store, 10_000, 10);
        assert_eq!(ticks.tick(&store), 0, "keys were inserted since");
        let moved = ticks.tick(&store);
        assert_eq!(moved, 10_010, "a quiet tick moves every key held");
        assert_eq!(store.scattered_keys(), 0);
        assert_eq!(ticks.tick(&store), 0, "nothing left to do");
    }

    #[test]
    fn a_few_new_keys_do_not_start_a_pass() {
        let store = Store::new();
        let mut ticks = ReorderTicks::default();
        insert(&store, 0, 40_000);
        ticks.tick(&store);
        ticks.tick(&store);
        assert_eq!(store.scattered_keys(), 0);
        insert(&store, 40_000, 4_000);
        ticks.tick(&store);
        assert_eq!(ticks.tick(&store), 0, "under an eighth of the keys");
        insert(&store, 44_000, 2_000);
        ticks.tick(&store);
        assert_eq!(ticks.tick(&store), 46_000);
    }

    #[test]
    fn a_pass_longer_than_a_tick_continues_in_quiet_ticks_only() {
        let store = Store::new();
        let mut ticks = ReorderTicks::default();
        let keys = KEYS_PER_TICK as u32 * 2;
        insert(&store, 0, keys);
        ticks.tick(&store);
        let first = ticks.tick(&store);
        assert!(
            (KEYS_PER_TICK..2 * KEYS_PER_TICK).contains(&first),
            "{first}"
        );
        assert!(store.reorder_in_progress());
        insert(&store, keys, 1);
        assert_eq!(ticks.tick(&store), 0, "paused by a new key");
        let mut rest = 0;
        while store.reorder_in_progress() {
            rest += ticks.tick(&store);
        }
        assert_eq!(first + rest, keys as usize + 1);
    }
}
