//! Concurrency stress: at least eight threads at once, with garbage
//! collection and active expiry running in the background every millisecond.
//!
//! Checks batch atomicity (sums preserved in every view, every multi-get
//! and every cursor stepped key by key), snapshot stability, linearizable compare-and-swap and
//! increment (exact totals, no duplicate results), and that no acknowledged
//! update is lost.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use kvdb::{Batch, CasOutcome, Db, Options};

fn busy_db() -> Arc<Db> {
    let mut options = Options::default();
    options.gc_interval = Some(Duration::from_millis(1));
    options.expire_interval = Some(Duration::from_millis(1));
    Arc::new(Db::in_memory_with(options).unwrap())
}

fn balance(v: &[u8]) -> i64 {
    std::str::from_utf8(v).unwrap().parse().unwrap()
}

const WRITERS: usize = 6;
const READERS: usize = 4;
const INITIAL: i64 = 1_000;

/// Each writer owns two accounts and moves units between them with batches;
/// readers check in snapshots and iterators that the total never changes.
#[test]
fn batches_are_atomic_to_every_reader() {
    let db = busy_db();
    for w in 0..WRITERS {
        for side in ["a", "b"] {
            db.put(
                format!("acct/{w}/{side}").as_bytes(),
                INITIAL.to_string().as_bytes(),
            )
            .unwrap();
        }
    }
    let total = INITIAL * 2 * WRITERS as i64;
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let db = Arc::clone(&db);
            thread::spawn(move || {
                let (ka, kb) = (format!("acct/{w}/a"), format!("acct/{w}/b"));
                let mut batch = Batch::new();
                for i in 0..3_000i64 {
                    let a = balance(&db.get(ka.as_bytes()).unwrap().unwrap());
                    let b = balance(&db.get(kb.as_bytes()).unwrap().unwrap());
                    let amount = (i % 7) - 3;
                    batch.clear();
                    batch
                        .put(ka.as_bytes(), (a - amount).to_string().as_bytes())
                        .unwrap();
                    // Noise keys in the same batch, deleted again later.
                    batch
                        .put(format!("noise/{w}/{}", i % 5).as_bytes(), b"x")
                        .unwrap();
                    batch
                        .put(kb.as_bytes(), (b + amount).to_string().as_bytes())
                        .unwrap();
                    db.write(&batch).unwrap();
                    if i % 10 == 0 {
                        db.delete(format!("noise/{w}/{}", i % 5).as_bytes())
                            .unwrap();
                    }
                }
            })
        })
        .collect();
    let readers: Vec<_> = (0..READERS)
        .map(|r| {
            let db = Arc::clone(&db);
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                let mut views = 0u64;
                while !stop.load(Ordering::Relaxed) || views < 50 {
                    let accounts =
                        (0..WRITERS).flat_map(|w| ["a", "b"].map(|s| format!("acct/{w}/{s}")));
                    let sum: i64 = match r % 4 {
                        0 => db.prefix(b"acct/").map(|(_, v)| balance(&v)).sum(),
                        3 => {
                            // A cursor stepped key by key (read ahead).
                            let mut cursor = db.cursor(b"acct/".as_slice()..b"acct0".as_slice());
                            cursor.seek_to_first();
                            let mut sum = 0;
                            while let Some(v) = cursor.value() {
                                sum += balance(v);
                                cursor.next();
                            }
                            sum
                        }
                        1 => {
                            let snap = db.snapshot();
                            accounts
                                .map(|k| balance(&snap.get(k.as_bytes()).unwrap().unwrap()))
                                .sum()
                        }
                        _ => {
                            let keys: Vec<String> = accounts.collect();
                            let values = db.get_many(&keys).unwrap();
                            values.iter().map(|v| balance(v.as_ref().unwrap())).sum()
                        }
                    };
                    assert_eq!(sum, total, "a reader saw part of a batch");
                    views += 1;
                }
                views
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    let views: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
    assert!(views >= READERS as u64 * 50);
    let sum: i64 = db.prefix(b"acct/").map(|(_, v)| balance(&v)).sum();
    assert_eq!(sum, total);
}

/// A snapshot read repeatedly while eight threads overwrite and delete its
/// keys returns the same contents every time.
#[test]
fn snapshots_stay_fixed_under_concurrent_writes() {
    let db = busy_db();
    for i in 0..500u32 {
        db.put(&i.to_be_bytes(), &i.to_le_bytes()).unwrap();
    }
    let snap = db.snapshot();
    let expected: Vec<_> = snap.iter().collect();
    assert_eq!(expected.len(), 500);
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..8u32)
        .map(|t| {
            let db = Arc::clone(&db);
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                let mut n = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    let k = (n * 8 + t) % 600;
                    if n.is_multiple_of(3) {
                        db.delete(&k.to_be_bytes()).unwrap();
                    } else {
                        db.put(&k.to_be_bytes(), &n.to_be_bytes()).unwrap();
                    }
                    n += 1;
                }
            })
        })
        .collect();
    for round in 0..45 {
        let again: Vec<_> = match round % 3 {
            0 => snap.iter().collect(),
            1 => {
                let mut v: Vec<_> = snap.iter().rev().collect();
                v.reverse();
                v
            }
            _ => {
                // Step by step: each step reads ahead while the writers
                // overwrite and delete the keys read ahead.
                let mut cursor = snap.cursor::<&[u8]>(..);
                cursor.seek_to_first();
                let mut v = Vec::new();
                while let (Some(k), Some(val)) = (cursor.key(), cursor.value()) {
                    v.push((k.to_vec(), val.to_vec()));
                    cursor.next();
                }
                v
            }
        };
        assert_eq!(again, expected, "snapshot changed in round {round}");
        for i in (0..500u32).step_by(37) {
            assert_eq!(
                snap.get(&i.to_be_bytes()).unwrap(),
                Some(i.to_le_bytes().to_vec())
            );
        }
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
}

/// Eight threads increment one counter: the total is exact and every
/// returned value is distinct, as if the increments ran one at a time.
#[test]
fn increments_are_linearizable() {
    let db = busy_db();
    const THREADS: usize = 8;
    const EACH: usize = 2_000;
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let db = Arc::clone(&db);
            thread::spawn(move || {
                (0..EACH)
                    .map(|_| db.increment(b"counter", 1).unwrap())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut seen = HashSet::new();
    for h in handles {
        for v in h.join().unwrap() {
            assert!(seen.insert(v), "value {v} returned twice");
        }
    }
    let total = (THREADS * EACH) as i64;
    assert_eq!(seen.len() as i64, total);
    assert_eq!(seen.iter().copied().max(), Some(total));
    assert_eq!(
        db.get(b"counter").unwrap(),
        Some(total.to_string().into_bytes())
    );
}

/// Eight threads implement increments with a compare-and-swap retry loop:
/// no update is lost.
#[test]
fn compare_and_swap_loses_no_update() {
    let db = busy_db();
    db.put(b"n", b"0").unwrap();
    const THREADS: usize = 8;
    const EACH: usize = 1_000;
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let db = Arc::clone(&db);
            thread::spawn(move || {
                let mut retries = 0;
                for _ in 0..EACH {
                    loop {
                        let cur = db.get(b"n").unwrap().unwrap();
                        let next = (balance(&cur) + 1).to_string();
                        match db.compare_and_swap(b"n", &cur, next.as_bytes()).unwrap() {
                            CasOutcome::Swapped => break,
                            CasOutcome::Mismatch => retries += 1,
                            CasOutcome::NotFound => panic!("counter vanished"),
                        }
                    }
                }
                retries
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(
        balance(&db.get(b"n").unwrap().unwrap()),
        (THREADS * EACH) as i64
    );
}

/// Eight threads write overlapping and private keys; afterwards every
/// private key holds its writer's last value and put_if_absent elected
/// exactly one winner per contested key.
#[test]
fn no_acknowledged_write_is_lost() {
    let db = busy_db();
    const THREADS: u32 = 8;
    const KEYS: u32 = 300;
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let db = Arc::clone(&db);
            thread::spawn(move || {
                let mut won = 0;
                for round in 0..5u32 {
                    for k in 0..KEYS {
                        let key = format!("own/{t}/{k}");
                        db.put(key.as_bytes(), &round.to_be_bytes()).unwrap();
                        if round == 0
                            && db
                                .put_if_absent(format!("race/{k}").as_bytes(), &t.to_be_bytes())
                                .unwrap()
                        {
                            won += 1;
                        }
                    }
                }
                won
            })
        })
        .collect();
    let winners: u32 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(winners, KEYS, "exactly one winner per contested key");
    for t in 0..THREADS {
        for k in 0..KEYS {
            let key = format!("own/{t}/{k}");
            assert_eq!(
                db.get(key.as_bytes()).unwrap(),
                Some(4u32.to_be_bytes().to_vec()),
                "{key}"
            );
        }
    }
    assert_eq!(db.prefix(b"own/").count() as u32, THREADS * KEYS);
    assert_eq!(db.prefix(b"race/").count() as u32, KEYS);
}
