//! A first rough single-thread comparison: put and get of N random 16-byte
//! keys with 100-byte values in kvdb (in memory) and in a bare crossbeam
//! `SkipMap<Vec<u8>, Vec<u8>>`, in the same process, best of three runs.
//!
//! `cargo run --release -p kvdb --example rough_compare [N]`
//!
//! The full benchmark suite with peers lives in `benches/`.

use std::hint::black_box;
use std::time::Instant;

use crossbeam_skiplist::SkipMap;
use kvdb::{Db, Options};

fn keys(n: usize, seed: u64) -> Vec<[u8; 16]> {
    let mut x = seed;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..n)
        .map(|_| {
            let mut k = [0u8; 16];
            k[..8].copy_from_slice(&next().to_le_bytes());
            k[8..].copy_from_slice(&next().to_le_bytes());
            k
        })
        .collect()
}

fn ns_per_op(n: usize, f: impl FnOnce()) -> f64 {
    let started = Instant::now();
    f();
    started.elapsed().as_nanos() as f64 / n as f64
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map_or(1_000_000, |s| s.parse().expect("N"));
    let load = keys(n, 0x1234_5678);
    let mut lookups = load.clone();
    // Look keys up in a different random order than they were inserted.
    let order = keys(n, 0x9abc_def0);
    for i in (1..n).rev() {
        let j = (u64::from_le_bytes(order[i][..8].try_into().unwrap()) % (i as u64 + 1)) as usize;
        lookups.swap(i, j);
    }
    let value = [7u8; 100];
    let mut best = [f64::MAX; 4];
    for _ in 0..3 {
        let db = Db::in_memory_with(Options::manual_maintenance()).unwrap();
        let put = ns_per_op(n, || {
            for k in &load {
                db.put(k, &value).unwrap();
            }
        });
        let get = ns_per_op(n, || {
            for k in &lookups {
                black_box(db.get_with(k, |v| v.map(<[u8]>::len)).unwrap());
            }
        });
        drop(db);
        let map = SkipMap::new();
        let raw_put = ns_per_op(n, || {
            for k in &load {
                map.insert(k.to_vec(), value.to_vec());
            }
        });
        let raw_get = ns_per_op(n, || {
            for k in &lookups {
                black_box(map.get(&k[..]).map(|e| e.value().len()));
            }
        });
        drop(map);
        for (b, v) in best.iter_mut().zip([put, get, raw_put, raw_get]) {
            *b = b.min(v);
        }
    }
    let [put, get, raw_put, raw_get] = best;
    println!("{n} random 16-byte keys, 100-byte values, 1 thread, best of 3 (ns/op)");
    println!(
        "{:<10} {:>12} {:>16} {:>22}",
        "op", "kvdb", "crossbeam SkipMap", "kvdb speed vs SkipMap"
    );
    println!(
        "{:<10} {:>12.0} {:>16.0} {:>21.2}x",
        "put",
        put,
        raw_put,
        raw_put / put
    );
    println!(
        "{:<10} {:>12.0} {:>16.0} {:>21.2}x",
        "get",
        get,
        raw_get,
        raw_get / get
    );
}
