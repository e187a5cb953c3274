//! Reordering the ordered index while readers scan and a writer writes:
//! every scan sees each key of its view exactly once, in order.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::thread;

use kvdb_core::{Op, Store};

mod common;
use common::put;

/// Keys `s-0000` .. that no one writes while the test runs.
fn stable_key(i: u32) -> Vec<u8> {
    format!("s-{i:05}").into_bytes()
}

const STABLE: u32 = 3000;

#[test]
fn scans_during_reordering_see_every_key_once_in_order() {
    let store = Store::new();
    // Inserted out of order, so the pass has real moving to do.
    for i in 0..STABLE {
        let i = i.wrapping_mul(7919) % STABLE;
        put(&store, &stable_key(i), &i.to_be_bytes());
    }
    let expected: Vec<Vec<u8>> = (0..STABLE).map(stable_key).collect();
    let stop = AtomicBool::new(false);
    let passes = AtomicU32::new(0);
    thread::scope(|s| {
        // Moves nodes, a few chunks at a time, pass after pass.
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                if store.reorder(512).unwrap().pass_completed {
                    passes.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        // Inserts and deletes keys on both sides of the stable range (a
        // writer competing for the lock, and new keys for the passes).
        s.spawn(|| {
            let mut n = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let (low, high) = (format!("a-{n:07}"), format!("z-{n:07}"));
                put(&store, low.as_bytes(), b"x");
                put(&store, high.as_bytes(), b"x");
                if n.is_multiple_of(2) {
                    let key = low.as_bytes();
                    store.write(&[Op::Delete { key }]).unwrap();
                    store.collect_garbage(64);
                }
                n += 1;
            }
        });
        let scanners: Vec<_> = (0..2)
            .map(|t| {
                let (store, expected, passes) = (&store, &expected, &passes);
                s.spawn(move || {
                    // 40 rounds, and on until two passes completed while
                    // the scans ran.
                    let mut round = 0;
                    while round < 40 || passes.load(Ordering::Relaxed) < 2 {
                        round += 1;
                        let view = store.snapshot();
                        let range = &b"s-"[..]..&b"s."[..];
                        if (round + t) % 2 == 0 {
                            let seen: Vec<Vec<u8>> =
                                view.range(range.clone()).map(|(k, _)| k.to_vec()).collect();
                            assert_eq!(&seen, expected, "forward, round {round}");
                        } else {
                            let mut seen: Vec<Vec<u8>> = view
                                .range(range.clone())
                                .rev()
                                .map(|(k, _)| k.to_vec())
                                .collect();
                            seen.reverse();
                            assert_eq!(&seen, expected, "backward, round {round}");
                        }
                        let mut cursor = view.cursor(range.clone());
                        cursor.seek_to_first();
                        let mut batched = Vec::new();
                        while cursor.take_batch(true, 37, |k, _| {
                            batched.push(k.to_vec());
                            true
                        }) > 0
                        {}
                        assert_eq!(&batched, expected, "batched, round {round}");
                    }
                })
            })
            .collect();
        for scanner in scanners {
            let outcome = scanner.join();
            stop.store(true, Ordering::Relaxed);
            if let Err(panic) = outcome {
                std::panic::resume_unwind(panic);
            }
        }
    });
    for (i, key) in expected.iter().enumerate() {
        let value = store.get(key).unwrap().expect("stable key present");
        assert_eq!(value, (i as u32).to_be_bytes());
    }
}
