//! Hit ratios across a restart: a cache that is closed and reopened (kvdb
//! from its last checkpoint, Redis from an RDB file by `DEBUG RELOAD`) in
//! the middle of a trace, against the same cache left running. Both keep
//! each key's recency or frequency in the file, so the evictions after the
//! restart choose as they would have without it; the table shows what is
//! left of the difference.

use std::time::Duration;

use kvdb::{Db, EvictionPolicy, Options, SyncPolicy};

use super::{VALUE, key, replay};

/// Accesses after the restart whose hit ratio is reported: the stretch in
/// which the evictions' choice among the keys held before it matters.
pub(crate) const AFTER: usize = 50_000;

/// The hit ratio of kvdb under `policy` and `limit` over the [`AFTER`]
/// accesses after the middle of `trace`, replayed into a durable database
/// (synced by the OS) that is checkpointed, closed and reopened there
/// (`restart`) or not.
pub(crate) fn kvdb_hit_ratio(
    policy: EvictionPolicy,
    limit: u64,
    trace: &[u64],
    restart: bool,
) -> f64 {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let options = || {
        let mut o = Options::manual_maintenance();
        o.sync = SyncPolicy::Never;
        o.memory_limit = limit;
        o.eviction = policy;
        o
    };
    let (before, after) = halves(trace);
    let mut db = Db::open(dir.path(), options()).expect("opening the cache");
    replay_into(&db, before);
    if restart {
        db.checkpoint().expect("checkpoint");
        db.close().expect("close");
        db = Db::open(dir.path(), options()).expect("reopening the cache");
    }
    replay_into(&db, after)
}

fn halves(trace: &[u64]) -> (&[u64], &[u64]) {
    let half = trace.len() / 2;
    (&trace[..half], &trace[half..half + AFTER])
}

fn replay_into(db: &Db, trace: &[u64]) -> f64 {
    let ttl = Duration::from_secs(3600);
    replay(
        trace,
        |k| db.get(&key(k)).unwrap().is_some(),
        |k| db.put_with_ttl(&key(k), &VALUE, ttl).unwrap(),
    )
}

/// As [`kvdb_hit_ratio`], for Redis: `DEBUG RELOAD` saves an RDB file and
/// loads it back (with each key's idle time or LFU counter, as Redis keeps
/// them under an LRU or LFU policy).
#[cfg(feature = "redis")]
pub(crate) fn redis_hit_ratio(policy: EvictionPolicy, trace: &[u64], restart: bool) -> f64 {
    let mut server = super::redis_peer::Server::start(policy.name());
    let (before, after) = halves(trace);
    super::redis_replay(&mut server.con, before);
    if restart {
        let _: () = redis::cmd("DEBUG")
            .arg("RELOAD")
            .query(&mut server.con)
            .expect("DEBUG RELOAD");
    }
    super::redis_replay(&mut server.con, after)
}
