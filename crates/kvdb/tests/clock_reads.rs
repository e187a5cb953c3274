//! Each call judges time at one instant: the TTLs of one batch or one
//! transaction count from one reading of the clock, so puts with the same
//! TTL expire together; `ttl` reports the life left at the instant it
//! found the key live; a delete or an eviction that found a value live
//! removes it as a live value. Pinned with a clock that moves on every
//! reading, as a real clock does when a call crosses a millisecond.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use kvdb::{Batch, Clock, Db, ErrorKind, EvictionPolicy, Options, Ttl};

const START_MS: u64 = 5_000_000;

/// A clock that, while `stepping`, moves forward [`STEP_MS`] after each
/// reading.
#[derive(Debug)]
struct SteppingClock {
    now: AtomicU64,
    stepping: AtomicBool,
}

/// How far a stepping clock moves per reading: more than a millisecond, as
/// when a call is descheduled between two readings.
const STEP_MS: u64 = 10;

impl SteppingClock {
    fn set(&self, now_ms: u64) {
        self.now.store(now_ms, Ordering::SeqCst);
    }

    fn stepping(&self, on: bool) {
        self.stepping.store(on, Ordering::SeqCst);
    }
}

impl Clock for SteppingClock {
    fn now_ms(&self) -> u64 {
        if self.stepping.load(Ordering::SeqCst) {
            self.now.fetch_add(STEP_MS, Ordering::SeqCst)
        } else {
            self.now.load(Ordering::SeqCst)
        }
    }
}

fn stepping_db() -> (Db, Arc<SteppingClock>) {
    let clock = Arc::new(SteppingClock {
        now: AtomicU64::new(START_MS),
        stepping: AtomicBool::new(false),
    });
    let mut options = Options::manual_maintenance();
    options.clock = clock.clone();
    (Db::in_memory_with(options).unwrap(), clock)
}

/// Walks the clock from the write to past every TTL and checks, at each
/// millisecond, that the keys are all live or all expired.
fn assert_expire_together(db: &Db, clock: &SteppingClock, keys: &[&[u8]], what: &str) {
    clock.stepping(false);
    for now in START_MS..START_MS + 100 {
        clock.set(now);
        let live: Vec<bool> = keys.iter().map(|k| db.exists(k).unwrap()).collect();
        assert!(
            live.iter().all(|&l| l == live[0]),
            "{what}: at {now} ms the keys' liveness is {live:?}"
        );
    }
    assert!(!db.exists(keys[0]).unwrap(), "{what}: the keys expired");
}

#[test]
fn a_batchs_puts_with_one_ttl_expire_together() {
    let (db, clock) = stepping_db();
    let keys: [&[u8]; 3] = [b"a", b"b", b"c"];
    let mut batch = Batch::new();
    for key in keys {
        batch
            .put_with_ttl(key, b"v", Duration::from_millis(30))
            .unwrap();
    }
    clock.stepping(true);
    db.write(&batch).unwrap();
    assert_expire_together(&db, &clock, &keys, "batch");
}

#[test]
fn a_transactions_puts_with_one_ttl_expire_together() {
    let (db, clock) = stepping_db();
    let keys: [&[u8]; 3] = [b"a", b"b", b"c"];
    let mut txn = db.begin().unwrap();
    for key in keys {
        txn.put_with_ttl(key, b"v", Duration::from_millis(30))
            .unwrap();
    }
    clock.stepping(true);
    txn.commit().unwrap();
    assert_expire_together(&db, &clock, &keys, "transaction");
}

#[test]
fn ttl_reports_the_life_left_when_the_key_was_found_live() {
    const TTL_MS: u64 = 15;
    let (db, clock) = stepping_db();
    let expires_at = START_MS + TTL_MS;
    for offset in 0..2 * STEP_MS {
        clock.stepping(false);
        clock.set(START_MS);
        db.put_with_ttl(b"k", b"v", Duration::from_millis(TTL_MS))
            .unwrap();
        clock.set(START_MS + offset);
        clock.stepping(true);
        let before = clock.now.load(Ordering::SeqCst);
        let ttl = db.ttl(b"k").unwrap();
        let after = clock.now.load(Ordering::SeqCst);
        // True of one of the readings the call took.
        let consistent = (before..after).step_by(STEP_MS as usize).any(|r| {
            let expected =
                (r < expires_at).then(|| Ttl::Expires(Duration::from_millis(expires_at - r)));
            ttl == expected
        });
        assert!(
            consistent,
            "ttl answered {ttl:?} with the clock read from {before} to {after} by {STEP_MS} (key expires at {expires_at})",
        );
    }
}

#[test]
fn a_delete_that_found_the_key_live_conflicts_with_a_transaction_that_read_it() {
    const TTL_MS: u64 = 15;
    let (db, clock) = stepping_db();
    for offset in 0..2 * STEP_MS {
        clock.stepping(false);
        clock.set(START_MS);
        db.put_with_ttl(b"k", b"v", Duration::from_millis(TTL_MS))
            .unwrap();
        let mut txn = db.begin().unwrap();
        assert_eq!(txn.get(b"k").unwrap(), Some(b"v".to_vec()));
        txn.put(b"k", b"from the transaction").unwrap();
        clock.set(START_MS + offset);
        clock.stepping(true);
        let deleted = db.delete(b"k").unwrap();
        clock.stepping(false);
        // A delete that removed a live value is a write the transaction
        // read past; one that found the value expired wrote nothing a
        // reader could see.
        let committed = txn.commit();
        assert_eq!(
            committed.is_err(),
            deleted,
            "clock from {offset} ms after the put: delete answered {deleted}, commit {committed:?}"
        );
        clock.set(START_MS + 100);
        db.delete(b"k").unwrap();
    }
}

/// Runs `call` with the clock stepping and checks that the expiry time it
/// gave `k` (from the change stream) lies after the call's last reading:
/// the TTL counts from the instant the call judged the key, not from an
/// earlier reading, so a call that answered "done" never left the key
/// already expired by its own write.
fn assert_ttl_counts_from_the_judgement(db: &Db, clock: &SteppingClock, call: impl FnOnce(&Db)) {
    let mut changes = db.watch_prefix(b"k", kvdb::WATCH_FROM_NOW).unwrap();
    clock.stepping(true);
    call(db);
    clock.stepping(false);
    let last_reading = clock.now.load(Ordering::SeqCst) - STEP_MS;
    let event = changes.try_next().unwrap().expect("the call's change");
    let kvdb::Change::Put { expires_at, .. } = event.change else {
        panic!("the call wrote {:?}", event.change);
    };
    let expires_at = expires_at.expect("an expiry time");
    assert!(
        expires_at > last_reading,
        "the call set {expires_at}, before its last reading {last_reading}"
    );
}

#[test]
fn expire_counts_the_new_ttl_from_when_it_found_the_key_live() {
    let (db, clock) = stepping_db();
    db.put(b"k", b"v").unwrap();
    assert_ttl_counts_from_the_judgement(&db, &clock, |db| {
        assert!(db.expire(b"k", Duration::from_millis(5)).unwrap());
    });
}

#[test]
fn a_lease_counts_from_when_the_key_was_found_absent() {
    let (db, clock) = stepping_db();
    assert_ttl_counts_from_the_judgement(&db, &clock, |db| {
        assert!(
            db.put_if_absent_with_ttl(b"k", b"owner", Duration::from_millis(5))
                .unwrap()
        );
    });
}

/// An eviction judges its victim live at the reading its deletion is made
/// at, as a delete does: one that evicted a key (and counted it) is a
/// write a transaction that read the key conflicts with, never an expiry
/// it may read past.
#[test]
fn an_eviction_conflicts_with_a_transaction_that_read_its_victim() {
    const TTL_MS: u64 = 15;
    let value = [7u8; 4000];
    for offset in 0..2 * STEP_MS {
        let (db, clock) = stepping_db();
        db.put_with_ttl(b"victim", &value, Duration::from_millis(TTL_MS))
            .unwrap();
        let used = db.memory_usage().used;
        db.set_memory_limit(used + 2000, EvictionPolicy::AllKeysLru)
            .unwrap();
        let mut txn = db.begin().unwrap();
        assert_eq!(txn.get(b"victim").unwrap().map(|v| v.len()), Some(4000));
        txn.put(b"out", b"x").unwrap();
        clock.set(START_MS + offset);
        clock.stepping(true);
        let put = db.put(b"new", &value);
        clock.stepping(false);
        let evicted = db.memory_usage().evicted_keys;
        let committed = txn.commit();
        let conflicted = committed
            .as_ref()
            .is_err_and(|e| e.kind() == ErrorKind::Conflict);
        assert_eq!(
            conflicted,
            evicted == 1,
            "clock from {offset} ms after the put: the put {put:?} evicted {evicted} keys, the commit {committed:?}"
        );
    }
}
