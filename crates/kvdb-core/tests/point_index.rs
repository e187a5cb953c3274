//! The point-lookup hash index under concurrency: readers never miss a key
//! that is present or see one that never existed, while a writer grows,
//! shrinks and rebuilds the table underneath them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use kvdb_core::{Op, Store};

mod common;
use common::put;

#[test]
fn readers_always_find_stable_keys_while_the_table_is_rebuilt() {
    let store = Store::new();
    let stable: Vec<Vec<u8>> = (0..2_000u32)
        .map(|i| format!("stable-{i}").into_bytes())
        .collect();
    for k in &stable {
        put(&store, k, k);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..4)
        .map(|r| {
            let (store, stable, stop) = (store.clone(), stable.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut checks = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    for k in stable.iter().skip(r).step_by(7) {
                        let v = store.get(k).unwrap();
                        assert_eq!(v.as_deref(), Some(&k[..]), "stable key vanished");
                        checks += 1;
                    }
                    assert_eq!(store.get(b"never-written").unwrap(), None);
                }
                checks
            })
        })
        .collect();
    // Churn: waves of inserts and deletes that make the table grow to tens
    // of thousands of slots and shrink back, many times.
    for wave in 0..6u32 {
        for i in 0..20_000u32 {
            put(&store, format!("churn-{wave}-{i}").as_bytes(), b"x");
        }
        for i in 0..20_000u32 {
            store
                .write(&[Op::Delete {
                    key: format!("churn-{wave}-{i}").as_bytes(),
                }])
                .unwrap();
        }
        store.collect_garbage(usize::MAX);
    }
    stop.store(true, Ordering::Relaxed);
    let checks: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
    assert!(checks > 10_000, "readers ran only {checks} checks");
    assert_eq!(store.stats().keys_held, stable.len() as u64);
    for k in &stable {
        assert_eq!(store.get(k).unwrap().as_deref(), Some(&k[..]));
    }
}
