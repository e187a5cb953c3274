//! Scans give back every skiplist node they pin, counted by the allocator.
//!
//! A bounded scan steps onto the first key past its range to learn that the
//! range has ended. That key's node must be released like every other: once
//! the key is removed, its node, chain and versions are freed. The test
//! counts real allocations with a counting global allocator, not the store's
//! own byte estimate (which cannot see a leak).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use kvdb_core::{ExpireConfig, ManualClock, Op, Store};

#[path = "common/counting.rs"]
mod counting;
use counting::LIVE_BYTES;

const BIG: usize = 64 * 1024;
const ROUNDS: usize = 1_000;

/// Lets the epoch collector run every deferred free it can.
fn settle(store: &Store) {
    for _ in 0..4 {
        store.collect_garbage(usize::MAX);
        for _ in 0..256 {
            crossbeam_epoch::pin().flush();
        }
    }
}

fn put(store: &Store, key: &[u8], value: &[u8], expires_at: Option<u64>) {
    store
        .write(&[Op::Put {
            key,
            value,
            expires_at,
        }])
        .unwrap();
}

/// Each round: a small key inside a prefix and 64 KiB keys just past it on
/// either side, which expire a moment later; scan the prefix, let the big
/// keys expire and be reclaimed, delete the small one and collect garbage.
/// (An expired key leaves the index with its last value still in its
/// chain: a leaked node keeps that value allocated.)
fn rounds(store: &Store, clock: &ManualClock, backward: bool) {
    for i in 0..ROUNDS {
        let prefix = format!("p{i:05}/");
        let inside = format!("{prefix}a");
        // '0' sorts right after '/': the first key past the prefix.
        let past = format!("p{i:05}0");
        let before = format!("p{i:05}.");
        let soon = Some(store.now_ms() + 1);
        put(store, inside.as_bytes(), b"small", None);
        put(store, past.as_bytes(), &[7; BIG], soon);
        put(store, before.as_bytes(), &[7; BIG], soon);
        let view = store.snapshot();
        if backward {
            // Ends on `before`, the first key below the range.
            let seen: Vec<_> = view.range(prefix.as_bytes()..).rev().take(100).collect();
            assert!(!seen.is_empty());
            let bounded: Vec<_> = view.prefix(prefix.as_bytes()).rev().collect();
            assert_eq!(bounded.len(), 1);
        } else {
            let seen: Vec<_> = view.prefix(prefix.as_bytes()).collect();
            assert_eq!(seen.len(), 1);
            let mut cursor = view.cursor(prefix.as_bytes()..past.as_bytes());
            cursor.seek_to_first();
            while cursor.valid() {
                cursor.next();
            }
        }
        drop(view);
        clock.advance(2);
        while store.active_expire_cycle(&ExpireConfig::default()).expired > 0 {}
        store
            .write(&[Op::Delete {
                key: inside.as_bytes(),
            }])
            .unwrap();
        store.collect_garbage(usize::MAX);
    }
}

fn assert_no_leak(backward: bool) {
    let clock = Arc::new(ManualClock::new(1_000_000));
    let store = Store::with_clock(clock.clone());
    // Warm up allocator-visible structures (index tables, thread locals).
    rounds(&store, &clock, backward);
    settle(&store);
    let baseline = LIVE_BYTES.load(Ordering::Relaxed);
    rounds(&store, &clock, backward);
    settle(&store);
    let grown = LIVE_BYTES.load(Ordering::Relaxed) - baseline;
    assert_eq!(store.stats().keys_held, 0);
    // Each leaked round would keep at least one 64 KiB value: 64 MB in all.
    assert!(
        grown < (4 * BIG) as isize,
        "{grown} bytes still allocated after {ROUNDS} bounded scans (backward: {backward})"
    );
}

/// One test function: the allocation counter is global, so nothing else may
/// allocate in this process while it measures.
#[test]
fn bounded_scans_free_the_key_just_outside_their_range() {
    assert_no_leak(false);
    assert_no_leak(true);
}
