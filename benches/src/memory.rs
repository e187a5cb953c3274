//! Memory per record (resident set of a process holding only the loaded
//! store), bytes per record on disk, and recovery times.

use std::path::Path;
use std::time::Instant;

use crate::Env;
use crate::report::Measurement;
use crate::systems::{Kind, Mode};

/// The resident set size of this process in bytes.
pub(crate) fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Bytes of every file under `dir`.
pub(crate) fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            Ok(_) => e.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}

/// Run in a child process: load the store in memory and report the growth
/// of the resident set (or the server's, for a server) per record.
pub(crate) fn measure_rss(kind: Kind, env: &Env) -> Measurement {
    let dir = tempfile::tempdir_in(&env.data_dir).expect("temporary directory");
    let system = kind.open(Mode::Memory, dir.path(), env);
    let before = system.resident_bytes().unwrap_or_else(rss_bytes);
    crate::workloads::load(&system, env, 1);
    system.flush();
    let after = system.resident_bytes().unwrap_or_else(rss_bytes);
    let per_record = after.saturating_sub(before) as f64 / env.records as f64;
    Measurement::simple("memory", 1, per_record, "bytes/record", env.records, 0.0).of(kind.name())
}

/// Loads the store durably (in batches of 1000) and reports the bytes of its
/// directory per record once it has settled (checkpoint, flush or save).
pub(crate) fn measure_disk(kind: Kind, env: &Env) -> Measurement {
    let dir = tempfile::tempdir_in(&env.data_dir).expect("temporary directory");
    let system = kind.open(Mode::Durable, dir.path(), env);
    for chunk in env.load_order.chunks(1000) {
        let keys: Vec<Vec<u8>> = chunk
            .iter()
            .map(|&i| crate::keys::key(i, env.key_len))
            .collect();
        let pairs: Vec<(&[u8], &[u8])> = chunk
            .iter()
            .zip(&keys)
            .map(|(&i, k)| (&k[..], env.value_for(i)))
            .collect();
        system.load_batch(&pairs);
    }
    system.compact();
    let bytes = system.disk_bytes().unwrap_or_else(|| dir_bytes(dir.path()));
    Measurement::simple(
        "disk",
        1,
        bytes as f64 / env.records as f64,
        "bytes/record",
        env.records,
        0.0,
    )
    .of(kind.name())
}

/// kvdb's recovery: reopening `env.records` records from the log alone and
/// from a snapshot, and with `with_c_abi` from the same snapshot through
/// the C library too (`kvdb_open`, timed without loading the library).
pub(crate) fn kvdb_recovery(env: &Env, with_c_abi: bool) -> Vec<Measurement> {
    use kvdb::{Batch, Db, Options, SyncPolicy};
    let dir = tempfile::tempdir_in(&env.data_dir).expect("temporary directory");
    let mut options = Options::manual_maintenance();
    options.sync = SyncPolicy::Never;
    let db = Db::open(dir.path(), options.clone()).expect("open");
    let mut batch = Batch::new();
    for chunk in env.load_order.chunks(1000) {
        batch.clear();
        for &i in chunk {
            batch
                .put(&crate::keys::key(i, env.key_len), env.value_for(i))
                .expect("batch");
        }
        db.write(&batch).expect("write");
    }
    db.close().expect("close");
    let t = Instant::now();
    let db = Db::open(dir.path(), options.clone()).expect("reopen");
    let from_log = t.elapsed().as_secs_f64();
    assert_eq!(db.stats().live_keys, env.records);
    db.checkpoint().expect("checkpoint");
    db.close().expect("close");
    let t = Instant::now();
    let db = Db::open(dir.path(), options).expect("reopen");
    let from_snapshot = t.elapsed().as_secs_f64();
    assert_eq!(db.stats().live_keys, env.records);
    db.close().expect("close");
    let mut found = Vec::new();
    let c_reopen = with_c_abi.then(|| {
        use crate::systems::System;
        let c = crate::systems::ffi::KvdbC::open(
            &env.ffi_lib,
            crate::systems::Mode::Durable,
            dir.path(),
        );
        let last = env.load_order[env.load_order.len() - 1];
        assert!(
            c.get(&crate::keys::key(last, env.key_len), &mut found),
            "a reopened key"
        );
        c.opened_in
    });
    let mut measured = vec![
        Measurement::simple(
            "reopen-from-log",
            1,
            from_log,
            "seconds",
            env.records,
            from_log,
        )
        .of("kvdb"),
        Measurement::simple(
            "reopen-from-snapshot",
            1,
            from_snapshot,
            "seconds",
            env.records,
            from_snapshot,
        )
        .of("kvdb"),
    ];
    if let Some(seconds) = c_reopen {
        measured.push(
            Measurement::simple(
                "reopen-from-snapshot",
                1,
                seconds,
                "seconds",
                env.records,
                seconds,
            )
            .of("kvdb-c-abi"),
        );
    }
    measured
}
