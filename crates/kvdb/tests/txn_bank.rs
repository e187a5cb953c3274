//! Transactions under concurrency.
//!
//! - The bank: 8 threads move money between 100 accounts in transactions
//!   that read both balances and write both, retrying on conflict, while
//!   readers sum every account in snapshots, iterators and read-only
//!   transactions: the total never changes, in memory and on disk, and is
//!   the same after reopening.
//! - Serializability: threads run random transactions (gets, scans, puts,
//!   deletes) and record what each committed one read; replaying the
//!   committed transactions one at a time in commit order against a
//!   BTreeMap reproduces exactly those reads.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use kvdb::{Db, ErrorKind, Options, SyncPolicy, Txn};
use parking_lot::Mutex;

mod common;
use common::Rng;
use common::bank::{ACCOUNTS, OPENING, account, balance};

fn open_accounts(db: &Db) {
    let mut t = db.begin().unwrap();
    for i in 0..ACCOUNTS {
        t.put(&account(i), OPENING.to_string().as_bytes()).unwrap();
    }
    t.commit().unwrap();
}

fn total(pairs: impl Iterator<Item = (Vec<u8>, Vec<u8>)>) -> (usize, i64) {
    pairs.fold((0, 0), |(n, sum), (_, v)| (n + 1, sum + balance(&v)))
}

/// One transfer in a transaction; Ok(false) if it conflicted.
fn transfer(db: &Db, from: u64, to: u64, amount: i64) -> kvdb::Result<bool> {
    let mut t = db.begin()?;
    let a = balance(&t.get(&account(from))?.unwrap());
    let b = balance(&t.get(&account(to))?.unwrap());
    t.put(&account(from), (a - amount).to_string().as_bytes())?;
    t.put(&account(to), (b + amount).to_string().as_bytes())?;
    match t.commit() {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == ErrorKind::Conflict => Ok(false),
        Err(e) => Err(e),
    }
}

fn run_bank(db: Arc<Db>, transfers_per_thread: u64) -> (u64, u64) {
    open_accounts(&db);
    let want = ACCOUNTS as i64 * OPENING;
    let done = Arc::new(AtomicBool::new(false));
    let (committed, conflicts) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    std::thread::scope(|s| {
        for r in 0..2 {
            let (db, done) = (Arc::clone(&db), Arc::clone(&done));
            s.spawn(move || {
                let mut checks = 0u64;
                while !done.load(Ordering::Relaxed) || checks < 3 {
                    let (n, sum) = match (checks + r) % 3 {
                        0 => total(db.snapshot().prefix(b"acct/")),
                        1 => total(db.prefix(b"acct/")),
                        _ => {
                            let t = db.begin().unwrap();
                            let seen = total(t.prefix(b"acct/"));
                            t.commit().unwrap();
                            seen
                        }
                    };
                    assert_eq!(
                        (n, sum),
                        (ACCOUNTS as usize, want),
                        "a reader saw money move"
                    );
                    checks += 1;
                }
            });
        }
        let writers: Vec<_> = (0..8u64)
            .map(|w| {
                let (db, committed, conflicts) = (
                    Arc::clone(&db),
                    Arc::clone(&committed),
                    Arc::clone(&conflicts),
                );
                s.spawn(move || {
                    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ ((w + 1) * 0x1234_5678));
                    let mut made = 0;
                    while made < transfers_per_thread {
                        let from = rng.below(ACCOUNTS);
                        let to = (from + 1 + rng.below(ACCOUNTS - 1)) % ACCOUNTS;
                        if transfer(&db, from, to, rng.below(50) as i64 + 1).unwrap() {
                            made += 1;
                            committed.fetch_add(1, Ordering::Relaxed);
                        } else {
                            conflicts.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        done.store(true, Ordering::Relaxed);
    });
    assert_eq!(total(db.prefix(b"acct/")), (ACCOUNTS as usize, want));
    (
        committed.load(Ordering::Relaxed),
        conflicts.load(Ordering::Relaxed),
    )
}

#[test]
fn the_bank_keeps_its_total_in_memory() {
    let db = Arc::new(Db::in_memory().unwrap());
    let (committed, conflicts) = run_bank(db, 500);
    assert_eq!(committed, 8 * 500);
    eprintln!("in memory: {committed} transfers, {conflicts} conflicts retried");
}

#[test]
fn the_bank_keeps_its_total_on_disk_and_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = Options::default();
    options.sync = SyncPolicy::Always;
    options.checkpoint_after_wal_bytes = Some(64 * 1024);
    let db = Arc::new(Db::open(dir.path(), options.clone()).unwrap());
    run_bank(Arc::clone(&db), 100);
    Arc::into_inner(db).unwrap().close().unwrap();
    let db = Db::open(dir.path(), options).unwrap();
    assert_eq!(
        total(db.prefix(b"acct/")),
        (ACCOUNTS as usize, ACCOUNTS as i64 * OPENING)
    );
}

/// One step of a transaction, with what it saw.
#[derive(Debug)]
enum Step {
    Get(Vec<u8>, Option<Vec<u8>>),
    Scan(Vec<u8>, bool, Vec<(Vec<u8>, Vec<u8>)>),
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
}

/// What a committed transaction saw and did, in program order.
#[derive(Debug, Default)]
struct Record {
    /// Commit point (read point for transactions without writes).
    at: u64,
    wrote: bool,
    steps: Vec<Step>,
}

fn random_txn(db: &Db, rng: &mut Rng, thread: u64) -> kvdb::Result<Option<Record>> {
    let key = |rng: &mut Rng| format!("k{}", rng.below(12)).into_bytes();
    let mut t: Txn = db.begin()?;
    let mut record = Record::default();
    for step in 0..(1 + rng.below(6)) {
        match rng.below(10) {
            0..=2 => {
                let k = key(rng);
                let v = t.get(&k)?;
                record.steps.push(Step::Get(k, v));
            }
            3..=4 => {
                let p = format!("k{}", rng.below(2)).into_bytes();
                let desc = rng.below(2) == 0;
                let seen: Vec<_> = if desc {
                    let mut end = p.clone();
                    *end.last_mut().unwrap() += 1;
                    t.range_desc(p.as_slice()..end.as_slice()).collect()
                } else {
                    t.prefix(&p).collect()
                };
                record.steps.push(Step::Scan(p, desc, seen));
            }
            5..=7 => {
                let k = key(rng);
                let v = format!("{thread}.{step}.{}", rng.below(1000)).into_bytes();
                t.put(&k, &v)?;
                record.steps.push(Step::Put(k, v));
                record.wrote = true;
            }
            _ => {
                let k = key(rng);
                if t.delete(&k)? {
                    record.steps.push(Step::Delete(k));
                    record.wrote = true;
                } else {
                    record.steps.push(Step::Get(k, None));
                }
            }
        }
    }
    // Let others commit meanwhile: more overlap, more to validate.
    std::thread::yield_now();
    match t.commit() {
        Ok(at) => {
            record.at = at;
            Ok(Some(record))
        }
        Err(e) if e.kind() == ErrorKind::Conflict => Ok(None),
        Err(e) => Err(e),
    }
}

fn scan_model(
    model: &BTreeMap<Vec<u8>, Vec<u8>>,
    prefix: &[u8],
    desc: bool,
) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut v: Vec<_> = model
        .iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if desc {
        v.reverse();
    }
    v
}

#[test]
fn committed_transactions_replay_serially_in_commit_order() {
    let db = Arc::new(Db::in_memory().unwrap());
    let records = Arc::new(Mutex::new(Vec::new()));
    let aborted = AtomicU64::new(0);
    std::thread::scope(|s| {
        for thread in 0..6u64 {
            let (db, records, aborted) = (Arc::clone(&db), Arc::clone(&records), &aborted);
            s.spawn(move || {
                let mut rng = Rng(0xdead_beef_0000_0001 + thread * 7919);
                for _ in 0..1_500 {
                    match random_txn(&db, &mut rng, thread).unwrap() {
                        Some(r) => records.lock().push(r),
                        None => {
                            aborted.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            });
        }
    });
    let mut records = Arc::into_inner(records).unwrap().into_inner();
    // Writers at their commit point; readers at their read point, after
    // every writer that committed at or before it.
    records.sort_by_key(|r| (r.at, !r.wrote));
    let mut model = BTreeMap::new();
    let mut writers = 0;
    for (n, r) in records.iter().enumerate() {
        // Run the transaction alone on the model, its own writes included.
        let mut state = model.clone();
        for step in &r.steps {
            match step {
                Step::Get(k, v) => {
                    assert_eq!(state.get(k), v.as_ref(), "transaction {n}: get of {k:?}")
                }
                Step::Scan(p, desc, seen) => {
                    assert_eq!(seen, &scan_model(&state, p, *desc), "transaction {n}: scan")
                }
                Step::Put(k, v) => {
                    state.insert(k.clone(), v.clone());
                }
                Step::Delete(k) => {
                    state.remove(k);
                }
            }
        }
        if r.wrote {
            model = state;
            writers += 1;
        }
    }
    let end: BTreeMap<_, _> = db.iter().collect();
    assert_eq!(end, model, "the database equals the serial replay");
    eprintln!(
        "serializability: {} committed ({writers} with writes), {} aborted",
        records.len(),
        aborted.load(Ordering::Relaxed)
    );
    assert!(writers > 100);
}
