//! An eviction's collection detaches its dead victims whole, leaving their
//! older versions to be freed with their records once the unlinker has
//! unlinked their nodes (and the collector has let go of the handles the
//! deletions queued). Counted by the allocator: once unlinked, they must
//! have freed exactly what the garbage collector's own removal frees (which
//! cuts the older versions off first), and the store's count must have
//! fallen by as much.

use std::sync::atomic::Ordering;

use kvdb_core::{Candidate, Op, Store};

#[path = "common/counting.rs"]
mod counting;
use counting::LIVE_BYTES;

const KEYS: usize = 4096;

fn key(i: usize) -> [u8; 8] {
    (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes()
}

/// Writes keys `from..from + KEYS` with 100-byte values.
fn put_keys(store: &Store, from: usize) {
    for i in from..from + KEYS {
        let put = Op::Put {
            key: &key(i),
            value: &[7; 100],
            expires_at: None,
        };
        store.write(&[put]).unwrap();
    }
}

/// Deletes keys `from..from + KEYS`.
fn delete_keys(store: &Store, from: usize) {
    for i in from..from + KEYS {
        store.write(&[Op::Delete { key: &key(i) }]).unwrap();
    }
}

/// Lets crossbeam-epoch run every deferred free.
fn settle() {
    for _ in 0..256 {
        crossbeam_epoch::pin().flush();
    }
}

/// Bytes really freed, and the fall of `memory_used`, when `remove` deletes
/// and takes out the keys from `from`. Measured on a third set of keys:
/// the first two grow the lists a store's passes keep for reuse (the
/// unlinker's queue is two, used in turn).
fn freed_by(remove: impl Fn(&Store, usize)) -> (isize, u64) {
    let store = Store::new();
    for warm_up in [0, KEYS] {
        put_keys(&store, warm_up);
        remove(&store, warm_up);
    }
    put_keys(&store, 2 * KEYS);
    settle();
    let live = LIVE_BYTES.load(Ordering::Relaxed);
    let used = store.memory_used();
    remove(&store, 2 * KEYS);
    settle();
    let freed = live - LIVE_BYTES.load(Ordering::Relaxed);
    let fallen = used - store.memory_used();
    (freed, fallen)
}

/// One test function: the allocation counter is global, so nothing else may
/// allocate in this process while it measures.
#[test]
fn detached_victims_free_their_older_versions_with_their_records() {
    // The collector's way: deleted keys are cut down to their tombstones,
    // then removed.
    let (collector_freed, collector_fallen) = freed_by(|store, from| {
        delete_keys(store, from);
        let report = store.collect_garbage(usize::MAX);
        assert_eq!(report.keys_removed, KEYS);
        assert_eq!(report.versions_reclaimed, KEYS, "each value cut off");
    });

    // An eviction's way: victims judged while live, deleted, detached whole
    // and unlinked.
    let (evicted_freed, evicted_fallen) = freed_by(|store, from| {
        let sampled = store.eviction_sample(KEYS, false, false, 0);
        let victims: Vec<Candidate> = sampled
            .iter()
            .filter_map(|c| store.judge(c, store.now_ms()))
            .collect();
        drop(sampled);
        assert_eq!(victims.len(), KEYS);
        delete_keys(store, from);
        let report = store.collect_candidates_detaching(&victims);
        assert_eq!(report.keys_removed, KEYS);
        assert_eq!(report.versions_reclaimed, 0, "nothing cut off yet");
        let values: u64 = victims.iter().map(|c| c.bytes).sum();
        let detached = store.detached_bytes();
        assert!(
            detached > values,
            "records, values and tombstones counted as detached"
        );
        drop(victims);
        let used = store.memory_used();
        assert_eq!(store.unlink_detached(), KEYS);
        assert_eq!(store.detached_bytes(), 0);
        assert_eq!(
            used - store.memory_used(),
            detached,
            "held until their nodes are unlinked"
        );
        // The deletions queued the keys for the collector, whose handles
        // keep the records until its next pass (the engine's background
        // collector, or a write near the limit) finds them removed.
        let report = store.collect_garbage(usize::MAX);
        assert_eq!((report.keys_examined, report.keys_removed), (KEYS, 0));
    });

    assert_eq!(
        evicted_fallen, collector_fallen,
        "both ways stop counting the same bytes"
    );
    // Both ways free every record, node, value and tombstone: a value left
    // behind would be over 100 bytes a key. Allow a little for the
    // allocations of the passes themselves.
    assert!(
        (evicted_freed - collector_freed).abs() < 16 * 1024,
        "detaching freed {evicted_freed} bytes, the collector {collector_freed}"
    );
    assert!(collector_freed > (KEYS * 200) as isize);
}
