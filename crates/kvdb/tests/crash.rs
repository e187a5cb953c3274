//! Kill -9 crash test.
//!
//! The test binary re-runs itself as a child process (the `crash_child` test
//! with `KVDB_CRASH_DIR` set) that writes batches from four threads under the
//! `always` sync policy, with background checkpoints, and appends the id of
//! every acknowledged batch to a file outside the database. The parent kills
//! it with SIGKILL at a random moment, reopens the database, and checks that
//! every acknowledged batch is present and whole and that no batch at all is
//! partial. `KVDB_CRASH_CYCLES` sets the number of cycles (default 100).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kvdb::{Batch, Db, Options};

mod common;
use common::{Rng, crash_child_options};
use parking_lot::Mutex;

const DIR_VAR: &str = "KVDB_CRASH_DIR";
const ACK_VAR: &str = "KVDB_CRASH_ACKS";
const START_VAR: &str = "KVDB_CRASH_START";

fn batch_size(id: u64) -> u64 {
    1 + id % 5
}

/// The writer; runs only when started by the parent test.
#[test]
fn crash_child() {
    let (Ok(dir), Ok(acks), Ok(start)) = (
        std::env::var(DIR_VAR),
        std::env::var(ACK_VAR),
        std::env::var(START_VAR),
    ) else {
        return;
    };
    let start: u64 = start.parse().unwrap();
    let db = Arc::new(Db::open(&dir, crash_child_options()).unwrap());
    let acks = Arc::new(Mutex::new(
        std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(acks)
            .unwrap(),
    ));
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let (db, acks) = (db.clone(), acks.clone());
            std::thread::spawn(move || {
                for n in 0.. {
                    let id = start + t * 100_000 + n;
                    let mut batch = Batch::new();
                    for i in 0..batch_size(id) {
                        batch
                            .put(format!("{id:012}/{i}").as_bytes(), &[id as u8; 200])
                            .unwrap();
                    }
                    db.write(&batch).unwrap();
                    // One write() per line: a kill leaves at most a torn last line.
                    acks.lock().write_all(format!("{id}\n").as_bytes()).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

fn acknowledged(path: &Path) -> BTreeSet<u64> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let complete = text.rfind('\n').map_or("", |end| &text[..end]);
    complete.lines().map(|l| l.parse().unwrap()).collect()
}

#[test]
fn kill_nine_loses_no_acknowledged_write() {
    if std::env::var(DIR_VAR).is_ok() {
        return; // inside a child
    }
    let cycles: u64 = std::env::var("KVDB_CRASH_CYCLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let acks = tmp.path().join("acks");
    let exe = std::env::current_exe().unwrap();
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let started = Instant::now();
    let (mut verified, mut torn_tails, mut from_snapshot) = (0usize, 0, 0);
    for cycle in 0..cycles {
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env(DIR_VAR, &dir)
            .env(ACK_VAR, &acks)
            .env(START_VAR, (cycle * 1_000_000).to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(50 + rng.below(200)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();

        let acked = acknowledged(&acks);
        let db = Db::open(&dir, Options::manual_maintenance()).unwrap();
        let report = db.recovery_report().unwrap();
        torn_tails += usize::from(report.torn_tail.is_some());
        from_snapshot += usize::from(report.snapshot_seq.is_some());
        let mut batches: BTreeMap<u64, BTreeSet<u64>> = BTreeMap::new();
        for (k, v) in db.iter() {
            let key = String::from_utf8(k).unwrap();
            let (id, i) = key.split_once('/').unwrap();
            let id: u64 = id.parse().unwrap();
            assert_eq!(
                v,
                vec![id as u8; 200],
                "cycle {cycle}: wrong value under {key}"
            );
            batches.entry(id).or_default().insert(i.parse().unwrap());
        }
        for (id, keys) in &batches {
            assert_eq!(
                keys.len() as u64,
                batch_size(*id),
                "cycle {cycle}: batch {id} is partial"
            );
        }
        for id in &acked {
            assert!(
                batches.contains_key(id),
                "cycle {cycle}: acknowledged batch {id} was lost"
            );
        }
        verified = acked.len();
        db.close().unwrap();
    }
    eprintln!(
        "kill -9: {cycles} cycles in {:.1?}, {verified} acknowledged batches verified, 0 lost; \
         {torn_tails} recoveries cut a torn tail, {from_snapshot} started from a snapshot",
        started.elapsed()
    );
    assert!(verified > 0, "the child never acknowledged a write");
}
