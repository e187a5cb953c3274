//! Kill -9 with indexes: the test binary re-runs itself as a child
//! (`indexed_writer_child`, with `KVDB_INDEX_CRASH_DIR` set) that puts,
//! deletes and writes batches of JSON records under a unique and a
//! non-unique index, durably (`always`), with background checkpoints, and
//! prints the number of each operation once acknowledged. The parent kills
//! it with SIGKILL at a random moment, reopens with the indexes declared,
//! and checks that the data holds every acknowledged operation (and at most
//! the one in flight), and that both indexes, rebuilt at open, agree with
//! the data exactly.

use std::collections::BTreeMap;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use kvdb::{Batch, Db, IndexDef, IndexQuery, Options};

mod common;
use common::{Rng, crash_child_options};

const DIR_VAR: &str = "KVDB_INDEX_CRASH_DIR";
const CYCLE_VAR: &str = "KVDB_INDEX_CRASH_CYCLE";
const KEYS: u64 = 300;

fn indexes() -> Vec<IndexDef> {
    vec![
        IndexDef::json_field("by_owner", "owner").unwrap(),
        IndexDef::json_field("by_serial", "serial")
            .unwrap()
            .unique(),
    ]
}

/// One write of the child.
enum Write {
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
    Batch(Vec<(Vec<u8>, Vec<u8>)>),
}

fn record(rng: &mut Rng, serial: u64) -> (Vec<u8>, Vec<u8>) {
    let key = format!("rec/{:03}", rng.below(KEYS)).into_bytes();
    let value = format!(r#"{{"owner": {}, "serial": {serial}}}"#, rng.below(20)).into_bytes();
    (key, value)
}

/// Write number `i` of cycle `cycle`: the same for child and parent.
fn nth_writes(cycle: u64) -> impl Iterator<Item = Write> {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d ^ (cycle + 1));
    (0u64..).map(move |i| {
        let serial = (cycle << 40) | (i << 2);
        match rng.below(10) {
            0..=6 => {
                let (k, v) = record(&mut rng, serial);
                Write::Put(k, v)
            }
            7 => Write::Delete(format!("rec/{:03}", rng.below(KEYS)).into_bytes()),
            _ => Write::Batch((0..3).map(|j| record(&mut rng, serial | j)).collect()),
        }
    })
}

fn apply(model: &mut BTreeMap<Vec<u8>, Vec<u8>>, write: &Write) {
    match write {
        Write::Put(k, v) => {
            model.insert(k.clone(), v.clone());
        }
        Write::Delete(k) => {
            model.remove(k);
        }
        Write::Batch(puts) => {
            for (k, v) in puts {
                model.insert(k.clone(), v.clone());
            }
        }
    }
}

/// The writes; runs only when started by the parent test.
#[test]
fn indexed_writer_child() {
    let (Ok(dir), Ok(cycle)) = (std::env::var(DIR_VAR), std::env::var(CYCLE_VAR)) else {
        return;
    };
    let mut options = crash_child_options();
    options.indexes = indexes();
    let db = Db::open(&dir, options).unwrap();
    for (i, write) in nth_writes(cycle.parse().unwrap()).enumerate() {
        match &write {
            Write::Put(k, v) => db.put(k, v).unwrap(),
            Write::Delete(k) => {
                db.delete(k).unwrap();
            }
            Write::Batch(puts) => {
                let mut b = Batch::new();
                for (k, v) in puts {
                    b.put(k, v).unwrap();
                }
                db.write(&b).unwrap();
            }
        }
        println!("{i}");
    }
}

/// How many entries index `name` holds, and how many records the data
/// holds, after checking that each record is found under the entry its
/// `field` gives.
fn entries_and_records(db: &Db, name: &str, field: &str) -> (usize, usize) {
    let entries = db.index(name, IndexQuery::All).unwrap().count();
    let mut records = 0;
    for (key, value) in db.iter() {
        let json: serde_json::Value = serde_json::from_slice(&value).unwrap();
        let ikey = json[field].to_string();
        let mut hits = db.index(name, IndexQuery::Equal(ikey.as_bytes())).unwrap();
        assert!(
            hits.any(|e| e.key == key),
            "{name}: record {key:?} is missing from its entry {ikey}"
        );
        records += 1;
    }
    (entries, records)
}

#[test]
fn kill_nine_leaves_indexes_agreeing_with_the_recovered_data() {
    if std::env::var(DIR_VAR).is_ok() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let exe = std::env::current_exe().unwrap();
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let mut acknowledged_total = 0;
    for cycle in 0..8u64 {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "indexed_writer_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(DIR_VAR, &dir)
            .env(CYCLE_VAR, cycle.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(150 + cycle * 41 % 200));
        child.kill().unwrap();
        let mut out = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        child.wait().unwrap();
        // Only whole lines count: the last one may be cut by the kill.
        let acknowledged = out
            .split_inclusive('\n')
            .filter(|l| l.ends_with('\n'))
            .filter_map(|l| l.trim().parse::<usize>().ok())
            .next_back()
            .map_or(0, |last| last + 1);
        acknowledged_total += acknowledged;

        let mut options = Options::manual_maintenance();
        options.indexes = indexes();
        let db = Db::open(&dir, options).unwrap();
        let mut writes = nth_writes(cycle);
        for write in writes.by_ref().take(acknowledged) {
            apply(&mut model, &write);
        }
        let actual: BTreeMap<Vec<u8>, Vec<u8>> = db.iter().collect();
        if actual != model {
            // The write in flight when the child died may have applied.
            apply(&mut model, &writes.next().unwrap());
            assert_eq!(
                actual, model,
                "cycle {cycle}: the data is neither the acknowledged writes nor those plus the one in flight"
            );
        }
        for (name, field) in [("by_owner", "owner"), ("by_serial", "serial")] {
            let (entries, records) = entries_and_records(&db, name, field);
            assert_eq!(
                entries, records,
                "cycle {cycle}: {name} holds {entries} entries for {records} records"
            );
        }
        db.close().unwrap();
    }
    assert!(
        acknowledged_total > 0,
        "the child never acknowledged a write"
    );
}
