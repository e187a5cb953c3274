//! The background threads at work: expired keys reclaimed with no read
//! touching them, and garbage collection keeping memory flat while an
//! update-heavy workload opens and drops snapshots.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use kvdb::{Db, Options, Stats};

fn wait_for(what: &str, timeout: Duration, db: &Db, mut done: impl FnMut(&Stats) -> bool) -> Stats {
    let started = Instant::now();
    loop {
        let stats = db.stats();
        if done(&stats) {
            return stats;
        }
        assert!(
            started.elapsed() < timeout,
            "timed out waiting for {what}: {stats:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn expiry_cycle_deletes_expired_keys_and_gc_frees_them_without_reads() {
    let mut options = Options::default();
    options.expire_interval = Some(Duration::from_millis(10));
    options.gc_interval = Some(Duration::from_millis(10));
    let db = Db::in_memory_with(options).unwrap();
    const EXPIRING: u64 = 20_000;
    const LASTING: u64 = 500;
    for i in 0..EXPIRING {
        db.put_with_ttl(
            &i.to_be_bytes(),
            b"short-lived",
            Duration::from_millis(1500),
        )
        .unwrap();
    }
    for i in EXPIRING..EXPIRING + LASTING {
        db.put_with_ttl(&i.to_be_bytes(), b"long-lived", Duration::from_secs(3600))
            .unwrap();
    }
    let loaded = db.stats();
    assert_eq!(loaded.live_keys, EXPIRING + LASTING);
    let stats = wait_for(
        "expired keys to be reclaimed",
        Duration::from_secs(30),
        &db,
        |s| s.expired_reclaimed == EXPIRING && s.keys_held == LASTING,
    );
    assert_eq!(stats.gets, 0, "no read touched the keys");
    assert_eq!(stats.scans, 0);
    assert_eq!(stats.live_keys, LASTING);
    assert_eq!(stats.keys_held, LASTING);
    assert_eq!(stats.versions, LASTING);
    assert!(
        stats.bytes * 10 < loaded.bytes,
        "memory was released: {} -> {}",
        loaded.bytes,
        stats.bytes
    );
    db.close().unwrap();
}

#[test]
fn expired_keys_are_invisible_before_any_reclamation() {
    let db = Db::in_memory_with(Options::manual_maintenance()).unwrap();
    db.put_with_ttl(b"k", b"v", Duration::from_millis(20))
        .unwrap();
    std::thread::sleep(Duration::from_millis(30));
    assert_eq!(db.get(b"k").unwrap(), None);
    assert_eq!(db.iter().count(), 0);
    let stats = db.stats();
    assert_eq!(
        stats.expired_reclaimed, 0,
        "the lazy check hid it, nothing reclaimed it"
    );
    assert_eq!(stats.versions, 1);
}

#[test]
fn memory_stays_flat_under_updates_with_snapshots_opened_and_dropped() {
    let mut options = Options::default();
    options.gc_interval = Some(Duration::from_millis(5));
    let db = Db::in_memory_with(options).unwrap();
    const KEYS: u32 = 2_000;
    const ROUNDS: u32 = 300;
    for k in 0..KEYS {
        db.put(&k.to_be_bytes(), &[0; 64]).unwrap();
    }
    let baseline = db.stats();
    let mut open = VecDeque::new();
    let mut peak_versions = 0;
    for round in 0..ROUNDS {
        for k in 0..KEYS {
            let mut value = [0u8; 64];
            value[..4].copy_from_slice(&round.to_be_bytes());
            db.put(&k.to_be_bytes(), &value).unwrap();
        }
        if round % 10 == 0 {
            open.push_back(db.snapshot());
            if open.len() > 3 {
                open.pop_front();
            }
        }
        peak_versions = peak_versions.max(db.stats().versions);
    }
    let total_writes = u64::from(KEYS) * u64::from(ROUNDS + 1);
    assert!(
        peak_versions < total_writes / 4,
        "versions must not pile up: peak {peak_versions} of {total_writes} written"
    );
    drop(open);
    eprintln!("peak versions held: {peak_versions} for {KEYS} keys and {total_writes} writes");
    let settled = wait_for(
        "versions to return to one per key",
        Duration::from_secs(30),
        &db,
        |s| s.versions <= u64::from(KEYS) * 21 / 20,
    );
    eprintln!("settled: {settled:?}");
    assert_eq!(settled.live_keys, u64::from(KEYS));
    assert!(settled.versions_reclaimed >= total_writes - u64::from(KEYS) * 21 / 20);
    assert!(
        settled.bytes <= baseline.bytes * 21 / 20,
        "bytes held {} returned near the baseline {}",
        settled.bytes,
        baseline.bytes
    );
    db.close().unwrap();
}

/// Inserts `count` keys in an order unrelated to their key order.
fn insert_scattered(db: &Db, count: u64) {
    for i in 0..count {
        db.put(&i.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes(), b"v")
            .unwrap();
    }
}

/// Asserts that a scan sees `count` keys, each once, in order.
fn assert_scans_in_order(db: &Db, count: u64) {
    let keys: Vec<Vec<u8>> = db.iter().map(|(k, _)| k.to_vec()).collect();
    assert_eq!(keys.len() as u64, count);
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "in order, once each");
}

#[test]
fn the_index_is_put_back_in_key_order_once_inserts_pause() {
    let mut options = Options::manual_maintenance();
    options.reorder_interval = Some(Duration::from_millis(10));
    let db = Db::in_memory_with(options).unwrap();
    const KEYS: u64 = 20_000;
    insert_scattered(&db, KEYS);
    let stats = wait_for("the reordering pass", Duration::from_secs(30), &db, |s| {
        s.scattered_keys == 0
    });
    assert_eq!(stats.keys_held, KEYS);
    assert_scans_in_order(&db, KEYS);
}

#[test]
fn reorder_on_call_puts_every_key_in_order() {
    let db = Db::in_memory_with(Options::manual_maintenance()).unwrap();
    insert_scattered(&db, 5_000);
    assert_eq!(db.stats().scattered_keys, 5_000);
    let report = db.reorder().unwrap();
    assert_eq!(report.keys_moved, 5_000);
    assert!(report.pass_completed);
    assert_eq!(db.stats().scattered_keys, 0);
    assert_scans_in_order(&db, 5_000);
    let again = db.reorder().unwrap();
    assert_eq!(again.keys_moved, 0, "nothing out of place: nothing moved");
}

#[test]
fn reorder_on_call_runs_on_the_background_thread_when_there_is_one() {
    let mut options = Options::manual_maintenance();
    // Checks too rare to start a pass by themselves during the test.
    options.reorder_interval = Some(Duration::from_secs(3600));
    let db = Db::in_memory_with(options).unwrap();
    insert_scattered(&db, 5_000);
    let started = Instant::now();
    let report = db.reorder().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "woken, not left to its hourly check"
    );
    assert_eq!(report.keys_moved, 5_000);
    assert_eq!(db.stats().scattered_keys, 0);
    assert_scans_in_order(&db, 5_000);
}
