//! Expiry: expired keys read as absent at once, views judge expiry at their
//! own time, and the active cycle reclaims expired keys unread.

use std::sync::Arc;

use kvdb_core::{ExpireConfig, ManualClock, Op, Store};

fn manual_store() -> (Store, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(1_000_000));
    (Store::with_clock(clock.clone()), clock)
}

fn put_ttl(store: &Store, key: &[u8], ttl_ms: u64) {
    let expires_at = Some(store.deadline(ttl_ms).unwrap());
    store
        .write(&[Op::Put {
            key,
            value: b"v",
            expires_at,
        }])
        .unwrap();
}

#[test]
fn expired_keys_are_invisible_immediately() {
    let (store, clock) = manual_store();
    put_ttl(&store, b"k", 100);
    assert_eq!(store.get(b"k").unwrap(), Some(b"v".to_vec()));
    clock.advance(99);
    assert!(store.get(b"k").unwrap().is_some());
    clock.advance(1);
    assert_eq!(store.get(b"k").unwrap(), None);
    assert_eq!(store.snapshot().iter().count(), 0);
}

#[test]
fn a_view_judges_expiry_at_its_own_time() {
    let (store, clock) = manual_store();
    put_ttl(&store, b"k", 100);
    let view = store.snapshot();
    clock.advance(500);
    assert_eq!(store.get(b"k").unwrap(), None);
    assert_eq!(view.get(b"k").unwrap(), Some(b"v".to_vec()));
    // The cycle deletes the key with a write of its own; the older view
    // keeps reading what it saw.
    let report = store.active_expire_cycle(&ExpireConfig::default());
    assert_eq!(report.reclaimed, 1);
    assert_eq!(view.get(b"k").unwrap(), Some(b"v".to_vec()));
    assert_eq!(store.get(b"k").unwrap(), None);
    // ... and garbage collection frees it only once the view is gone.
    assert_eq!(store.collect_garbage(usize::MAX).keys_removed, 0);
    drop(view);
    assert_eq!(store.collect_garbage(usize::MAX).keys_removed, 1);
    assert_eq!(
        store.active_expire_cycle(&ExpireConfig::default()).tracked,
        0
    );
}

#[test]
fn active_cycle_reclaims_without_reads_and_repeats_while_much_is_expired() {
    let (store, clock) = manual_store();
    for i in 0..1000u32 {
        put_ttl(&store, &i.to_be_bytes(), 50);
    }
    for i in 1000..1100u32 {
        put_ttl(&store, &i.to_be_bytes(), 1_000_000);
    }
    let gets_before = store.stats().gets;
    clock.advance(60);
    let config = ExpireConfig {
        time_budget: std::time::Duration::from_secs(10),
        ..ExpireConfig::default()
    };
    let first = store.active_expire_cycle(&config);
    assert!(
        first.rounds > 1,
        "a sample that is mostly expired must trigger more rounds: {first:?}"
    );
    let mut reclaimed = first.reclaimed;
    for _ in 0..10_000 {
        if reclaimed == 1000 {
            break;
        }
        reclaimed += store.active_expire_cycle(&config).reclaimed;
    }
    assert_eq!(reclaimed, 1000);
    let stats = store.stats();
    assert_eq!(stats.expired_reclaimed, 1000);
    assert_eq!(stats.live_keys, 100);
    assert_eq!(stats.gets, gets_before, "no read was needed");
    store.collect_garbage(usize::MAX);
    assert_eq!(store.stats().keys_held, 100);
}

#[test]
fn cycle_work_is_bounded_when_few_keys_are_expired() {
    let (store, clock) = manual_store();
    for i in 0..1000u32 {
        put_ttl(
            &store,
            &i.to_be_bytes(),
            if i % 50 == 0 { 10 } else { 1_000_000 },
        );
    }
    clock.advance(20);
    let report = store.active_expire_cycle(&ExpireConfig::default());
    assert!(report.rounds <= 2, "{report:?}");
    assert!(report.sampled <= 40, "{report:?}");
}

#[test]
fn overwriting_without_ttl_stops_tracking() {
    let (store, _clock) = manual_store();
    put_ttl(&store, b"k", 100);
    store
        .write(&[Op::Put {
            key: b"k",
            value: b"forever",
            expires_at: None,
        }])
        .unwrap();
    // At once: the cycle finds nothing left to untrack.
    let report = store.active_expire_cycle(&ExpireConfig::default());
    assert_eq!(report.sampled, 0, "{report:?}");
    assert_eq!(report.untracked, 0, "{report:?}");
    assert_eq!(report.tracked, 0, "{report:?}");
}

#[test]
fn an_expired_key_removed_by_gc_is_also_untracked() {
    let (store, clock) = manual_store();
    put_ttl(&store, b"k", 10);
    store.write(&[Op::Delete { key: b"k" }]).unwrap();
    clock.advance(100);
    let report = store.collect_garbage(usize::MAX);
    assert_eq!(report.keys_removed, 1);
    let report = store.active_expire_cycle(&ExpireConfig::default());
    assert_eq!(report.tracked, 0);
    assert_eq!(report.sampled, 0);
}

#[test]
fn ttl_of_zero_or_overflowing_is_rejected() {
    let (store, _clock) = manual_store();
    assert!(store.deadline(0).is_err());
    assert!(store.deadline(u64::MAX).is_err());
    assert_eq!(store.deadline(5).unwrap(), 1_000_005);
}
