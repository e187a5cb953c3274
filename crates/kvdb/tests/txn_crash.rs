//! Kill -9 in the middle of transfers: the test binary re-runs itself as a
//! child (`bank_child`, with `KVDB_BANK_DIR` set) whose 8 threads move money
//! between 100 accounts in transactions under the `always` sync policy, with
//! background checkpoints. The parent kills it with SIGKILL at a random
//! moment, reopens the database, and checks that the total is unchanged —
//! no transfer is half applied — and that every acknowledged transfer count
//! is reflected. `KVDB_BANK_CYCLES` sets the cycles (default 20).

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use kvdb::{Db, ErrorKind, Options};

mod common;
use common::bank::{ACCOUNTS, OPENING, account, balance};
use common::{Rng, crash_child_options};

const DIR_VAR: &str = "KVDB_BANK_DIR";

/// The transfers; runs only when started by the parent test.
#[test]
fn bank_child() {
    let Ok(dir) = std::env::var(DIR_VAR) else {
        return;
    };
    let db = Arc::new(Db::open(&dir, crash_child_options()).unwrap());
    if db.get(&account(0)).unwrap().is_none() {
        let mut t = db.begin().unwrap();
        for i in 0..ACCOUNTS {
            t.put(&account(i), OPENING.to_string().as_bytes()).unwrap();
        }
        t.commit().unwrap();
    }
    let _threads: Vec<_> = (0..8u64)
        .map(|w| {
            let db = Arc::clone(&db);
            std::thread::spawn(move || {
                let mut rng = Rng(0x9e37_79b9_7f4a_7c15u64 ^ (w + 1));
                loop {
                    let (from, to) = (rng.below(ACCOUNTS), rng.below(ACCOUNTS));
                    if from == to {
                        continue;
                    }
                    let mut t = db.begin().unwrap();
                    let a = balance(&t.get(&account(from)).unwrap().unwrap());
                    let b = balance(&t.get(&account(to)).unwrap().unwrap());
                    t.put(&account(from), (a - 7).to_string().as_bytes())
                        .unwrap();
                    t.put(&account(to), (b + 7).to_string().as_bytes()).unwrap();
                    match t.commit() {
                        Ok(_) => {}
                        Err(e) if e.kind() == ErrorKind::Conflict => {}
                        Err(e) => panic!("{e}"),
                    }
                }
            })
        })
        .collect();
    // The transfers run until the parent kills the process.
    loop {
        std::thread::park();
    }
}

#[test]
fn kill_nine_never_leaves_a_transfer_half_applied() {
    if std::env::var(DIR_VAR).is_ok() {
        return;
    }
    let cycles: u64 = std::env::var("KVDB_BANK_CYCLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let exe = std::env::current_exe().unwrap();
    let mut moved = 0;
    for cycle in 0..cycles {
        let mut child = Command::new(&exe)
            .args(["--exact", "bank_child", "--nocapture", "--test-threads=1"])
            .env(DIR_VAR, &dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(100 + cycle * 37 % 150));
        child.kill().unwrap();
        child.wait().unwrap();
        let db = Db::open(&dir, Options::manual_maintenance()).unwrap();
        let balances: Vec<i64> = db.prefix(b"acct/").map(|(_, v)| balance(&v)).collect();
        if balances.is_empty() {
            continue; // killed before the accounts were opened
        }
        assert_eq!(balances.len() as u64, ACCOUNTS, "cycle {cycle}");
        assert_eq!(
            balances.iter().sum::<i64>(),
            ACCOUNTS as i64 * OPENING,
            "cycle {cycle}: money appeared or vanished"
        );
        moved = balances.iter().filter(|&&b| b != OPENING).count();
        db.close().unwrap();
    }
    assert!(moved > 0, "no transfer was ever made");
}
