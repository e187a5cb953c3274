//! When the background thread reorders the ordered index (see
//! `kvdb_core`'s `reorder.rs`): while no new key is being written, once
//! enough keys were inserted since the last pass for scans to have slowed.
//!
//! A pass moves every node, about a microsecond per key, and holds the write
//! lock a chunk at a time; run during a stream of inserts it would compete
//! with them for the lock and the CPU, and what it put in order would be
//! scattered again by the next inserts. So a pass starts only in a tick in
//! which the count of inserted keys did not move since the tick before, and
//! stops (to resume at a later quiet tick) as soon as a new key comes.
//! Updates of existing keys do not count: they do not move nodes.
//!
//! A pass runs on this thread, which inserts no keys, so its new nodes come
//! from memory of its own (see `Store::reorder`), and it holds the old nodes
//! until it stops: the process holds about [`NODE_BYTES`] a key more
//! meanwhile, and the old nodes' memory stays with the allocator for later
//! records. Under a memory limit, a pass starts only if that fits below the
//! limit.

use std::sync::{Condvar, Mutex, PoisonError};
use std::time::Duration;

use kvdb_core::{ReorderReport, Store};

/// What a pass holds per key until it stops, rounded up: a new skiplist
/// node at the mean height and the reference to the old one.
pub(crate) const NODE_BYTES: u64 = 96;

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
    /// One tick: if the store is due for it, runs (or resumes) a pass until
    /// it ends or a new key is written; returns how many keys it moved.
    /// `room` is how many bytes the store may still grow by (`u64::MAX`
    /// without a memory limit).
    pub(crate) fn tick(&mut self, store: &Store, room: u64) -> usize {
        let inserted = store.keys_inserted();
        let quiet = self.inserted.replace(inserted) == Some(inserted);
        if !quiet || !due(store, room) {
            return 0;
        }
        store
            .reorder_until(usize::MAX, || store.keys_inserted() != inserted)
            .map_or(0, |report| report.keys_moved)
    }
}

/// Passes asked for by `Db::reorder`, run by the background thread: the
/// thread that runs every pass keeps its own memory for the nodes (see
/// `Store::reorder`), which a short-lived thread would not (a new thread
/// may be handed the memory of one that inserted keys and exited).
#[derive(Default)]
pub(crate) struct Requests {
    state: Mutex<RequestState>,
    answered: Condvar,
}

#[derive(Default)]
struct RequestState {
    /// Passes asked for, ever.
    asked: u64,
    /// Passes run for them: every request up to this one is answered.
    answered: u64,
    /// What the last pass run for a request did.
    report: ReorderReport,
}

impl Requests {
    fn lock(&self) -> std::sync::MutexGuard<'_, RequestState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Asks for a pass; returns the ticket to wait on.
    pub(crate) fn ask(&self) -> u64 {
        let mut state = self.lock();
        state.asked += 1;
        state.asked
    }

    /// Runs one pass for every request waiting, if any (on the background
    /// thread); true if it did.
    pub(crate) fn serve(&self, store: &Store) -> bool {
        let asked = {
            let state = self.lock();
            if state.asked == state.answered {
                return false;
            }
            state.asked
        };
        let report = full_pass(store);
        let mut state = self.lock();
        state.answered = asked;
        state.report = report;
        self.answered.notify_all();
        true
    }

    /// Waits until `ticket` is answered, checking `closed` every 100 ms;
    /// `None` if the database closed first.
    pub(crate) fn wait(&self, ticket: u64, closed: impl Fn() -> bool) -> Option<ReorderReport> {
        let mut state = self.lock();
        while state.answered < ticket {
            if closed() {
                return None;
            }
            state = self
                .answered
                .wait_timeout(state, Duration::from_millis(100))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        Some(state.report)
    }
}

/// A pass over every key inserted since the last one began: finishes the
/// pass under way, then runs one more if keys came in behind it.
pub(crate) fn full_pass(store: &Store) -> ReorderReport {
    if store.scattered_keys() == 0 && !store.reorder_in_progress() {
        return ReorderReport::default();
    }
    // On the thread running it, a pass fails only in a fork() child (where
    // this thread does not exist) or under the write lock (never held here).
    let mut report = store.reorder(usize::MAX).unwrap_or_default();
    if store.scattered_keys() > 0 {
        report.keys_moved += store.reorder(usize::MAX).map_or(0, |r| r.keys_moved);
    }
    report
}

/// True if a pass is under way or enough keys are out of place to start one,
/// and the nodes it would hold fit in `room`.
fn due(store: &Store, room: u64) -> bool {
    let stats = store.stats();
    if stats.keys_held.saturating_mul(NODE_BYTES) > room {
        return false;
    }
    if store.reorder_in_progress() {
        return true;
    }
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
        assert_eq!(
            ticks.tick(&store, u64::MAX),
            0,
            "the first tick has no earlier count"
        );
        insert(&store, 10_000, 10);
        assert_eq!(ticks.tick(&store, u64::MAX), 0, "keys were inserted since");
        let moved = ticks.tick(&store, u64::MAX);
        assert_eq!(moved, 10_010, "a quiet tick moves every key held");
        assert_eq!(store.scattered_keys(), 0);
        assert_eq!(ticks.tick(&store, u64::MAX), 0, "nothing left to do");
    }

    #[test]
    fn a_few_new_keys_do_not_start_a_pass() {
        let store = Store::new();
        let mut ticks = ReorderTicks::default();
        insert(&store, 0, 40_000);
        ticks.tick(&store, u64::MAX);
        ticks.tick(&store, u64::MAX);
        assert_eq!(store.scattered_keys(), 0);
        insert(&store, 40_000, 4_000);
        ticks.tick(&store, u64::MAX);
        assert_eq!(
            ticks.tick(&store, u64::MAX),
            0,
            "under an eighth of the keys"
        );
        insert(&store, 44_000, 2_000);
        ticks.tick(&store, u64::MAX);
        assert_eq!(ticks.tick(&store, u64::MAX), 46_000);
    }

    #[test]
    fn a_pass_stops_when_a_new_key_comes_and_resumes_in_a_quiet_tick() {
        const KEYS: usize = 100_000;
        let store = Store::new();
        let mut ticks = ReorderTicks::default();
        insert(&store, 0, KEYS as u32);
        ticks.tick(&store, u64::MAX);
        let mut moved = 0;
        // A new key written while the pass runs stops it.
        std::thread::scope(|s| {
            let pass = s.spawn(|| ticks.tick(&store, u64::MAX));
            while !store.reorder_in_progress() {
                std::hint::spin_loop();
            }
            // The empty key sorts first: behind the pass's position.
            let new_key = Op::Put {
                key: b"",
                value: b"v",
                expires_at: None,
            };
            store.write(&[new_key]).unwrap();
            moved = pass.join().unwrap();
        });
        assert!(moved > 0 && moved < KEYS, "stopped part way: {moved}");
        assert!(store.reorder_in_progress());
        assert_eq!(ticks.tick(&store, u64::MAX), 0, "not quiet since");
        let rest = ticks.tick(&store, u64::MAX);
        assert!(!store.reorder_in_progress());
        assert_eq!(moved + rest, KEYS, "the key inserted behind waits");
        assert_eq!(store.scattered_keys(), 1);
    }

    #[test]
    fn a_request_is_answered_by_the_thread_that_serves_it() {
        let store = Store::new();
        insert(&store, 0, 3_000);
        let requests = Requests::default();
        assert!(!requests.serve(&store), "nothing asked");
        let ticket = requests.ask();
        std::thread::scope(|s| {
            s.spawn(|| {
                while !requests.serve(&store) {
                    std::thread::yield_now();
                }
            });
            let report = requests.wait(ticket, || false).unwrap();
            assert_eq!(report.keys_moved, 3_000);
        });
        assert_eq!(store.scattered_keys(), 0);
        let unanswered = requests.ask();
        assert_eq!(requests.wait(unanswered, || true), None, "closed meanwhile");
    }

    #[test]
    fn no_pass_starts_unless_the_nodes_it_holds_fit_in_the_room_left() {
        let store = Store::new();
        let mut ticks = ReorderTicks::default();
        insert(&store, 0, 10_000);
        let needs = 10_000 * NODE_BYTES;
        ticks.tick(&store, needs - 1);
        assert_eq!(ticks.tick(&store, needs - 1), 0);
        assert_eq!(ticks.tick(&store, needs), 10_000);
    }
}
