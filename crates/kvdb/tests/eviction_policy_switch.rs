//! What an eviction knows of the keys' use when a memory limit is set, or
//! its policy changes between LRU and LFU, at run time: nothing was
//! recorded before (no limit), or it was recorded in the other policy's
//! form. The keys held then count as written at that moment, neither
//! older nor more used than they are known to be.

use kvdb::{Db, EvictionPolicy, Options};

const KEYS: u64 = 4_000;

fn key(i: u64) -> Vec<u8> {
    format!("key-{i:08}").into_bytes()
}

/// The fraction of the keys `of` that `db` holds.
fn held(db: &Db, of: impl Iterator<Item = u64>) -> f64 {
    let (mut held, mut all) = (0u32, 0u32);
    for i in of {
        all += 1;
        held += u32::from(db.get(&key(i)).unwrap().is_some());
    }
    f64::from(held) / f64::from(all)
}

fn even() -> impl Iterator<Item = u64> {
    (0..KEYS).step_by(2)
}

/// Puts [`KEYS`] keys into an in-memory database without a limit, sets one
/// at what they hold under `first` and then `policy` (if it differs), reads
/// the even keys twice, and writes `new` new keys, each evicting.
fn run(first: EvictionPolicy, policy: EvictionPolicy, new: u64) -> Db {
    let db = Db::in_memory_with(Options::manual_maintenance()).unwrap();
    for i in 0..KEYS {
        db.put(&key(i), &[b'v'; 100]).unwrap();
    }
    let used = db.memory_usage().used;
    db.set_memory_limit(used, first).unwrap();
    if first != policy {
        // Some use recorded in the first policy's form.
        for i in (1..KEYS).step_by(2) {
            db.get(&key(i)).unwrap();
        }
        db.set_memory_limit(used, policy).unwrap();
    }
    for _ in 0..2 {
        for i in even() {
            db.get(&key(i)).unwrap();
        }
    }
    for i in KEYS..KEYS + new {
        db.put(&key(i), &[b'n'; 100]).unwrap();
    }
    db
}

#[test]
fn keys_read_since_an_lfu_limit_was_set_outrank_keys_written_after_it() {
    // Read twice since the limit was set, an even key has been used more
    // than a new key written once; the odd keys, not used since, least.
    // 3,000 new keys evict the 2,000 odd keys and 1,000 more: new ones.
    let db = run(
        EvictionPolicy::AllKeysLfu,
        EvictionPolicy::AllKeysLfu,
        3_000,
    );
    let kept = held(&db, even());
    assert!(kept >= 0.9, "{:.0}% of the keys read kept", kept * 100.0);
}

#[test]
fn a_switch_from_lru_to_lfu_does_not_read_recency_as_frequency() {
    // The odd keys' LRU stamps, read as LFU counters, would rank them far
    // above keys read twice under LFU.
    let db = run(
        EvictionPolicy::AllKeysLru,
        EvictionPolicy::AllKeysLfu,
        3_000,
    );
    let kept = held(&db, even());
    assert!(kept >= 0.9, "{:.0}% of the keys read kept", kept * 100.0);
}
