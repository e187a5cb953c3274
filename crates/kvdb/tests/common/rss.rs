//! The memory limit measured from outside: a long churn through a limited
//! database, then the process's resident memory checked against the limit
//! (within 10% of it plus a fixed allowance). Each caller runs alone in its
//! binary, so that no other test's memory is counted.
//!
//! The change feed is turned off here: its retention
//! (`watch_retention_bytes`, 8 MiB by default) is a budget of its own, not
//! part of the limit, and would only add that fixed amount.

use std::time::Duration;

use kvdb::{Db, EvictionPolicy, IndexDef, Options};

const LIMIT: u64 = 32 * 1024 * 1024;

/// Allowance beyond 10% of the limit: the allocator's arenas and thread
/// caches, the epoch collector's deferred frees, worker threads' stacks.
const FIXED: u64 = 4 * 1024 * 1024;

fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("VmRSS in /proc/self/status");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("a number of kB");
    kib * 1024
}

/// 800,000 puts of random keys (2M possible) at a 32 MiB limit under
/// `allkeys-lru`, then the check. With `indexed`, a secondary index on each
/// value's first 8 bytes (distinct per put) and short values (8-128 bytes),
/// so that the entries hold much of the memory; without, values of 32-512
/// bytes.
pub(crate) fn resident_memory_stays_within_the_limit(indexed: bool) {
    let before = resident_bytes();
    let mut options = Options::default();
    options.memory_limit = LIMIT;
    options.eviction = EvictionPolicy::AllKeysLru;
    options.gc_interval = Some(Duration::from_millis(10));
    options.watch_retention_bytes = 0;
    let db = Db::in_memory_with(options).unwrap();
    if indexed {
        db.create_index(IndexDef::value_bytes("head", 0, 8).unwrap())
            .unwrap();
    }
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut value = vec![b'v'; 512];
    let mut peak = 0;
    for i in 0..800_000u64 {
        let r = next();
        let key = format!("key-{:012}", r % 2_000_000);
        let len = if indexed {
            value[..8].copy_from_slice(&r.to_be_bytes());
            8 + (r >> 40) as usize % 120
        } else {
            32 + (r >> 40) as usize % 480
        };
        db.put(key.as_bytes(), &value[..len]).unwrap();
        if i % 50_000 == 0 {
            peak = peak.max(resident_bytes().saturating_sub(before));
        }
    }
    let usage = db.memory_usage();
    assert!(
        usage.evicted_keys > 50_000,
        "the churn never reached the limit"
    );
    assert!(usage.used <= LIMIT);
    let grown = resident_bytes().saturating_sub(before).max(peak);
    let allowed = LIMIT + LIMIT / 10 + FIXED;
    eprintln!(
        "resident growth {:.1} MiB (peak sample), limit {:.1} MiB, allowed {:.1} MiB, counted {:.1} MiB",
        grown as f64 / 1048576.0,
        LIMIT as f64 / 1048576.0,
        allowed as f64 / 1048576.0,
        usage.used as f64 / 1048576.0
    );
    assert!(
        grown <= allowed,
        "resident memory grew by {grown} bytes with a limit of {LIMIT} (allowed {allowed})"
    );
}
