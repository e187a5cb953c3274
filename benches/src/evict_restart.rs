//! Hit ratios across a restart: a cache that is closed and reopened (kvdb
//! checkpointing on close, Redis from an RDB file by `DEBUG RELOAD`) in the
//! middle of a trace, against the same cache left running. Both keep each
//! key's recency or frequency in the file, so the evictions after the
//! restart choose as they would have without it; the table shows what is
//! left of the difference. kvdb also restarts from a checkpoint a quarter
//! of the way through (the reads since it lost), the case of a crash.

use std::time::Duration;

use kvdb::{Db, EvictionPolicy, Options, SyncPolicy};

use super::{VALUE, key, replay};

/// Accesses after the restart whose hit ratio is reported: the stretch in
/// which the evictions' choice among the keys held before it matters.
pub(crate) const AFTER: usize = 50_000;

/// How a cache is restarted halfway through a trace, if it is.
#[derive(Clone, Copy)]
pub(crate) enum Restart {
    /// Left running.
    No,
    /// Closed with a checkpoint (`Options::checkpoint_on_close`; Redis:
    /// `DEBUG RELOAD`, which saves and loads an RDB file), and reopened.
    CheckpointOnClose,
    /// Checkpointed a quarter of the way through, closed without one
    /// halfway (as after a crash, or with `checkpoint_on_close` off) and
    /// reopened: the snapshot keeps the keys' use as of a quarter, and the
    /// log the writes since (kvdb only).
    StaleCheckpoint,
}

/// The restarts kvdb is run with, in the table's order.
pub(crate) const KVDB_RESTARTS: [Restart; 3] = [
    Restart::No,
    Restart::CheckpointOnClose,
    Restart::StaleCheckpoint,
];

/// The hit ratio of kvdb under `policy` and `limit` over the [`AFTER`]
/// accesses after the middle of `trace`, replayed into a durable database
/// (synced by the OS) restarted there as `restart` says.
pub(crate) fn kvdb_hit_ratio(
    policy: EvictionPolicy,
    limit: u64,
    trace: &[u64],
    restart: Restart,
) -> f64 {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let options = || {
        let mut o = Options::manual_maintenance();
        o.sync = SyncPolicy::Never;
        o.memory_limit = limit;
        o.eviction = policy;
        o.checkpoint_on_close = matches!(restart, Restart::CheckpointOnClose);
        o
    };
    let (before, after) = halves(trace);
    let (first, second) = before.split_at(before.len() / 2);
    let mut db = Db::open(dir.path(), options()).expect("opening the cache");
    replay_into(&db, first);
    if matches!(restart, Restart::StaleCheckpoint) {
        db.checkpoint().expect("checkpoint");
    }
    replay_into(&db, second);
    if !matches!(restart, Restart::No) {
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

/// As [`kvdb_hit_ratio`] left running (`restart` false) or with a
/// checkpoint on close, for Redis: `DEBUG RELOAD` saves an RDB file and
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
