//! The memory limit and eviction: the limit holds under churn for every
//! policy, `noeviction` refuses and loses nothing, `volatile-*` never
//! evicts a key without a TTL, and an eviction is a numbered, logged,
//! watched delete that conflicts with transactions and survives reopening.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use common::Rng;
use kvdb::vfs::{CrashOptions, SimFs};
use kvdb::{
    Change, Db, ErrorKind, EvictionPolicy, IndexDef, IndexQuery, ManualClock, Options, SyncPolicy,
    WATCH_FROM_NOW,
};

const LIMIT: u64 = 2 * 1024 * 1024;
const LONG: Duration = Duration::from_secs(3600);

fn key(i: u64) -> Vec<u8> {
    format!("key-{i:08}").into_bytes()
}

fn limited(policy: EvictionPolicy, limit: u64) -> Options {
    let mut options = Options::manual_maintenance();
    options.memory_limit = limit;
    options.eviction = policy;
    options
}

/// As [`limited`], with background maintenance on (the default): writes
/// near the limit evict ahead of need, a background thread unlinks those
/// victims and chooses the next ones ahead.
fn limited_in_background(policy: EvictionPolicy, limit: u64) -> Options {
    let mut options = Options::default();
    options.memory_limit = limit;
    options.eviction = policy;
    options
}

/// Options for a policy and a limit.
type Setup = fn(EvictionPolicy, u64) -> Options;

/// Both ways of running eviction.
const SETUPS: [(&str, Setup); 2] = [
    ("on the writer", limited),
    ("with background unlinking", limited_in_background),
];

/// The policies that evict only keys with a TTL.
const VOLATILE: [EvictionPolicy; 4] = [
    EvictionPolicy::VolatileLru,
    EvictionPolicy::VolatileLfu,
    EvictionPolicy::VolatileRandom,
    EvictionPolicy::VolatileTtl,
];

/// Puts `value` under new keys from `first` on until a put fails; returns
/// the first key not written and the error.
fn put_until_refused(db: &Db, first: u64, value: &[u8]) -> (u64, kvdb::Error) {
    let mut i = first;
    loop {
        if let Err(e) = db.put(&key(i), value) {
            return (i, e);
        }
        i += 1;
        assert!(i < first + 1_000_000, "the limit never bit");
    }
}

/// Random puts and reads over a key space larger than the limit holds;
/// after every write, usage is within the limit. Keys `i` with
/// `i % 10 == 1` get no TTL if `some_without_ttl`, every other key a long
/// one. Returns the keys written without a TTL.
fn churn(db: &Db, rng: &mut Rng, writes: u64, some_without_ttl: bool) -> BTreeSet<u64> {
    let mut without_ttl = BTreeSet::new();
    for _ in 0..writes {
        let i = rng.below(40_000);
        let value = vec![b'v'; 20 + rng.below(300) as usize];
        if some_without_ttl && i % 10 == 1 {
            db.put(&key(i), &value).unwrap();
            without_ttl.insert(i);
        } else {
            db.put_with_ttl(&key(i), &value, LONG).unwrap();
        }
        let _ = db.get(&key(rng.below(40_000))).unwrap();
        let usage = db.memory_usage();
        assert!(
            usage.used <= usage.limit,
            "{}: {} bytes used, over the limit of {}",
            usage.policy,
            usage.used,
            usage.limit
        );
    }
    without_ttl
}

#[test]
fn the_limit_holds_under_random_churn_for_every_evicting_policy() {
    for (setup, options) in SETUPS {
        for policy in EvictionPolicy::ALL.into_iter().skip(1) {
            eprintln!("{policy}, eviction {setup}");
            limit_holds_under_churn(Db::in_memory_with(options(policy, LIMIT)).unwrap(), policy);
        }
    }
}

fn limit_holds_under_churn(db: Db, policy: EvictionPolicy) {
    {
        let mut rng = Rng(0x5eed ^ policy.code() as u64);
        churn(&db, &mut rng, 30_000, false);
        let usage = db.memory_usage();
        assert!(usage.evicted_keys > 0, "{policy} evicted nothing");
        assert!(
            usage.used > LIMIT / 2,
            "{policy} evicted far more than needed: {} of {LIMIT} used",
            usage.used
        );
    }
}

#[test]
fn victims_evicted_ahead_are_unlinked_by_the_background_thread_when_woken() {
    let mut options = limited_in_background(EvictionPolicy::AllKeysLru, LIMIT);
    // No periodic runs: only the writers' wake-ups drive the thread.
    options.gc_interval = Some(Duration::from_secs(3600));
    let db = Db::in_memory_with(options).unwrap();
    let mut i = 0;
    while db.memory_usage().evicted_keys < 5_000 {
        db.put(&key(i), &[b'v'; 100]).unwrap();
        i += 1;
    }
    let started = std::time::Instant::now();
    loop {
        let usage = db.memory_usage();
        assert!(usage.used <= usage.limit);
        if usage.freeing == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{} bytes of evicted keys never unlinked",
            usage.freeing
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(
        db.memory_usage().used > LIMIT - LIMIT / 32,
        "the headroom is all the store leaves unused once they are"
    );
}

#[test]
fn noeviction_refuses_the_write_that_would_pass_the_limit_and_loses_nothing() {
    let db = Db::in_memory_with(limited(EvictionPolicy::NoEviction, LIMIT)).unwrap();
    let value = [b'v'; 200];
    let (written, refused) = put_until_refused(&db, 0, &value);
    assert_eq!(refused.kind(), ErrorKind::MemoryLimit);
    assert!(refused.to_string().contains("memory limit"), "{refused}");
    assert_eq!(
        db.get(&key(written)).unwrap(),
        None,
        "the refused write applied"
    );
    for i in 0..written {
        assert_eq!(db.get(&key(i)).unwrap().as_deref(), Some(&value[..]));
    }
    let usage = db.memory_usage();
    assert!(usage.used <= LIMIT);
    assert_eq!(usage.evicted_keys, 0);
    // Deletions are always allowed, and make room.
    for i in 0..10 {
        db.delete(&key(i)).unwrap();
    }
    db.collect_garbage(usize::MAX);
    db.put(&key(written), &value).unwrap();
}

#[test]
fn volatile_policies_never_evict_a_key_without_a_ttl() {
    for (setup, options) in SETUPS {
        for policy in VOLATILE {
            eprintln!("{policy}, eviction {setup}");
            volatile_keeps_keys_without_a_ttl(
                Db::in_memory_with(options(policy, LIMIT)).unwrap(),
                policy,
            );
        }
    }
}

fn volatile_keeps_keys_without_a_ttl(db: Db, policy: EvictionPolicy) {
    {
        let mut rng = Rng(0xfeed ^ policy.code() as u64);
        // A tenth of the keys have no TTL: none of them may go.
        let persistent = churn(&db, &mut rng, 20_000, true);
        for i in &persistent {
            assert!(
                db.get(&key(*i)).unwrap().is_some(),
                "{policy} evicted key {i}, which has no TTL"
            );
        }
        assert!(
            db.memory_usage().evicted_keys > 0,
            "{policy} evicted nothing"
        );
        // With no key with a TTL left, it behaves like noeviction.
        let (_, refused) = put_until_refused(&db, 1_000_000, &[b'p'; 300]);
        assert_eq!(refused.kind(), ErrorKind::MemoryLimit, "{policy}");
        for i in &persistent {
            assert!(
                db.get(&key(*i)).unwrap().is_some(),
                "{policy} evicted key {i}"
            );
        }
    }
}

#[test]
fn volatile_policies_never_evict_a_key_whose_ttl_an_overwrite_removed() {
    for (setup, options) in SETUPS {
        for policy in VOLATILE {
            eprintln!("{policy}, eviction {setup}");
            let db = Db::in_memory_with(options(policy, LIMIT)).unwrap();
            // A thousand keys get a TTL, then puts without one replace it
            // (well under the limit): no key has a TTL now.
            let value = [b'p'; 300];
            for i in 0..1000 {
                db.put_with_ttl(&key(i), &value, LONG).unwrap();
            }
            for i in 0..1000 {
                db.put(&key(i), &value).unwrap();
            }
            // So writes up to the limit must be refused, evicting nothing.
            let (i, refused) = put_until_refused(&db, 1000, &value);
            assert_eq!(refused.kind(), ErrorKind::MemoryLimit, "{policy}");
            let usage = db.memory_usage();
            assert_eq!(usage.evicted_keys, 0, "{policy} evicted keys without a TTL");
            for k in 0..i {
                assert!(db.get(&key(k)).unwrap().is_some(), "{policy} lost key {k}");
            }
        }
    }
}

#[test]
fn volatile_policies_refuse_only_once_no_key_with_a_ttl_is_left() {
    for (setup, options) in SETUPS {
        for policy in VOLATILE {
            eprintln!("{policy}, eviction {setup}");
            let db = Db::in_memory_with(options(policy, LIMIT)).unwrap();
            let value = [b'p'; 300];
            // Many keys whose TTL a put cleared, then a few with one: a
            // policy that looked for the few among the many by sampling
            // would give up before finding them.
            for i in 0..2000 {
                db.put_with_ttl(&key(i), &value, LONG).unwrap();
                db.put(&key(i), &value).unwrap();
            }
            let volatile: Vec<u64> = (2000..2010).collect();
            for &i in &volatile {
                db.put_with_ttl(&key(i), &value, LONG).unwrap();
            }
            let (_, refused) = put_until_refused(&db, 3000, &value);
            assert_eq!(refused.kind(), ErrorKind::MemoryLimit, "{policy}");
            for &k in &volatile {
                assert_eq!(
                    db.get(&key(k)).unwrap(),
                    None,
                    "{policy} refused a write while key {k} with a TTL was left"
                );
            }
            assert_eq!(db.memory_usage().evicted_keys, volatile.len() as u64);
        }
    }
}

#[test]
fn a_write_at_the_limit_frees_what_a_closed_snapshot_kept_before_refusing() {
    for policy in [EvictionPolicy::NoEviction, EvictionPolicy::VolatileLru] {
        // No background collector: only the write itself can free the
        // versions the snapshot kept.
        let db = Db::in_memory_with(limited(policy, LIMIT)).unwrap();
        let value = [b'v'; 300];
        for i in 0..1000 {
            db.put(&key(i), &value).unwrap();
        }
        let snapshot = db.snapshot();
        // Overwrites keep every old version for the snapshot until the
        // limit refuses them (no key has a TTL, so nothing is evicted).
        let mut i = 0;
        let refused = loop {
            if let Err(e) = db.put(&key(i % 1000), &value) {
                break e;
            }
            i += 1;
            assert!(i < 1_000_000, "{policy}: the limit never bit");
        };
        assert_eq!(refused.kind(), ErrorKind::MemoryLimit, "{policy}");
        drop(snapshot);
        db.put(&key(0), &value)
            .unwrap_or_else(|e| panic!("{policy}: refused with collectable garbage: {e}"));
        assert!(db.memory_usage().used <= LIMIT);
        assert_eq!(db.memory_usage().evicted_keys, 0);
    }
}

#[test]
fn a_transaction_keeps_its_write_to_a_deleted_key_the_limit_makes_it_collect() {
    // At the limit, the commit collects garbage to make room: the deleted
    // key's record among it. The value must land in a record the store
    // still holds, whether the commit looked its keys up before that
    // collection or after it.
    let db = Db::in_memory_with(limited(EvictionPolicy::NoEviction, LIMIT)).unwrap();
    let value = [b'v'; 300];
    let (written, refused) = put_until_refused(&db, 0, &value);
    assert_eq!(refused.kind(), ErrorKind::MemoryLimit);
    let deleted = key(written / 2);
    assert!(db.delete(&deleted).unwrap());
    let mut txn = db.begin().unwrap();
    txn.put(&deleted, b"again").unwrap();
    txn.commit().unwrap();
    assert_eq!(db.get(&deleted).unwrap().as_deref(), Some(&b"again"[..]));
    db.collect_garbage(usize::MAX);
    assert_eq!(db.get(&deleted).unwrap().as_deref(), Some(&b"again"[..]));
    assert_eq!(db.iter().count() as u64, written);
}

#[test]
fn a_transaction_that_evicts_returns_within_the_limit() {
    // The transaction's own read view, older than the eviction, must not
    // keep the victims from being freed before the commit returns.
    for (setup, options) in SETUPS {
        let db = Db::in_memory_with(options(EvictionPolicy::AllKeysLru, LIMIT)).unwrap();
        for i in 0..10_000 {
            db.put(&key(i), &[b'v'; 300]).unwrap();
        }
        let before = db.memory_usage().evicted_keys;
        let mut txn = db.begin().unwrap();
        txn.put(b"large", &[b'x'; 100_000]).unwrap();
        txn.commit().unwrap();
        let usage = db.memory_usage();
        assert!(usage.evicted_keys > before + 100, "{setup}: {usage:?}");
        assert!(
            usage.used <= LIMIT,
            "{setup}: {} bytes used after the commit",
            usage.used
        );
    }
}

#[test]
fn lowering_the_limit_frees_old_versions_before_evicting_live_keys() {
    let db = Db::in_memory_with(limited(EvictionPolicy::NoEviction, 0)).unwrap();
    let value = [b'v'; 300];
    for i in 0..1000 {
        db.put(&key(i), &value).unwrap();
    }
    let live = db.memory_usage().used;
    let snapshot = db.snapshot();
    for i in 0..1000 {
        db.put(&key(i), &value).unwrap();
    }
    drop(snapshot);
    assert!(db.memory_usage().used > live + 1000 * 300);
    // Collecting the old versions is enough to get under this limit.
    db.set_memory_limit(live + 4096, EvictionPolicy::AllKeysLru)
        .unwrap();
    let usage = db.memory_usage();
    assert_eq!(usage.evicted_keys, 0, "live keys went before garbage");
    assert!(usage.used <= live + 4096, "{} used", usage.used);
}

#[test]
fn lru_keeps_a_hot_set_that_is_read_while_cold_keys_go() {
    let db = Db::in_memory_with(limited(EvictionPolicy::AllKeysLru, LIMIT)).unwrap();
    let value = [b'v'; 100];
    let mut next = 0;
    for round in 0..200 {
        // 500 hot keys, read every round; new cold keys pushed in.
        for h in 0..500 {
            if round == 0 {
                db.put(&key(h), &value).unwrap();
            } else {
                db.get(&key(h)).unwrap();
            }
        }
        for _ in 0..200 {
            db.put(&key(1_000_000 + next), &value).unwrap();
            next += 1;
        }
    }
    assert!(db.memory_usage().evicted_keys > 10_000);
    let hot_left = (0..500)
        .filter(|h| db.get(&key(*h)).unwrap().is_some())
        .count();
    assert!(hot_left >= 450, "only {hot_left} of 500 hot keys survived");
}

#[test]
fn an_evicted_key_reads_as_absent_everywhere_at_once_and_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let options = || {
        let mut o = limited(EvictionPolicy::AllKeysRandom, LIMIT);
        o.sync = kvdb::SyncPolicy::Never;
        o
    };
    let db = Db::open(dir.path(), options()).unwrap();
    let mut watcher = db.watch_prefix(b"", WATCH_FROM_NOW).unwrap();
    let value = [b'v'; 200];
    db.put(&key(0), &value).unwrap();
    let before = db.snapshot();
    let mut i = 1;
    while db.memory_usage().evicted_keys < 100 {
        db.put(&key(i), &value).unwrap();
        i += 1;
    }
    let mut evicted = BTreeSet::new();
    let mut seqs = Vec::new();
    while let Some(event) = watcher.try_next().unwrap() {
        if event.change == Change::Evicted {
            seqs.push(event.seq);
            evicted.insert(event.key);
        }
    }
    assert_eq!(evicted.len() as u64, db.memory_usage().evicted_keys);
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "evictions are numbered"
    );
    let scanned: BTreeSet<Vec<u8>> = db.iter().map(|(k, _)| k).collect();
    for k in &evicted {
        assert_eq!(db.get(k).unwrap(), None);
        assert!(!scanned.contains(k));
    }
    // A snapshot from before still sees what it saw.
    assert_eq!(before.get(&key(0)).unwrap().as_deref(), Some(&value[..]));
    drop(before);
    drop(watcher);
    db.close().unwrap();
    let db = Db::open(dir.path(), options()).unwrap();
    for k in &evicted {
        assert_eq!(db.get(k).unwrap(), None, "an evicted key came back");
    }
    assert!(db.memory_usage().used <= LIMIT);
}

#[test]
fn an_eviction_conflicts_with_a_transaction_that_read_the_key() {
    let db = Db::in_memory_with(limited(EvictionPolicy::VolatileTtl, LIMIT)).unwrap();
    // Larger than any one write below, so that evicting it always makes
    // enough room.
    db.put_with_ttl(b"doomed", &[b's'; 1000], LONG).unwrap();
    let mut txn = db.begin().unwrap();
    assert!(txn.get(b"doomed").unwrap().is_some());
    txn.put(b"elsewhere", b"x").unwrap();
    // Only `doomed` has a TTL: the first write past the limit evicts it.
    let mut i = 0;
    while db.get(b"doomed").unwrap().is_some() {
        db.put(&key(i), &[b'v'; 200]).unwrap();
        i += 1;
    }
    let err = txn.commit().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
}

/// Fills `db` (volatile-ttl, [`LIMIT`]) so that a transaction's commit must
/// evict the one key with a TTL, which it read, and returns that commit's
/// error.
fn commit_a_transaction_whose_eviction_takes_a_key_it_read(db: &Db) -> kvdb::Error {
    put_until_refused(db, 0, &[b'v'; 300]);
    // Room for one more record once the write collects these two.
    db.delete(&key(0)).unwrap();
    db.delete(&key(1)).unwrap();
    db.put_with_ttl(b"read", &[b'r'; 300], LONG).unwrap();
    let mut txn = db.begin().unwrap();
    assert!(txn.get(b"read").unwrap().is_some());
    // As large as the room left, so that with its record it does not fit:
    // the commit must evict, and "read" is the only key with a TTL.
    let room = LIMIT - db.memory_usage().used;
    txn.put(b"written", &vec![b'w'; room as usize]).unwrap();
    txn.commit().unwrap_err()
}

#[test]
fn a_transaction_whose_own_commit_evicts_a_key_it_read_conflicts() {
    // As in Redis, where an EXEC whose eviction takes a watched key fails:
    // the eviction comes before the transaction's writes, so the value it
    // read is gone at its commit point.
    let db = Db::in_memory_with(limited(EvictionPolicy::VolatileTtl, LIMIT)).unwrap();
    let err = commit_a_transaction_whose_eviction_takes_a_key_it_read(&db);
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert_eq!(db.get(b"written").unwrap(), None, "nothing applied");
    assert_eq!(db.get(b"read").unwrap(), None, "evicted");
    assert_eq!(db.memory_usage().evicted_keys, 1);
}

/// The eviction a conflicting transaction's commit made stands, and readers
/// see it at once: it must survive a power failure as well, under the
/// `always` policy, though the transaction's own write was never logged.
#[test]
fn an_eviction_a_conflicting_transaction_made_survives_a_power_failure() {
    let fs = Arc::new(SimFs::new());
    let options = |fs: Arc<SimFs>| {
        let mut options = limited(EvictionPolicy::VolatileTtl, LIMIT);
        options.vfs = fs;
        options.sync = SyncPolicy::Always;
        options
    };
    let db = Db::open("/db", options(fs.clone())).unwrap();
    let err = commit_a_transaction_whose_eviction_takes_a_key_it_read(&db);
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert_eq!(db.get(b"read").unwrap(), None, "evicted, and seen so");
    let image = fs.crash(CrashOptions {
        torn_tails: false,
        seed: 1,
    });
    drop(db);
    let db = Db::open("/db", options(Arc::new(image))).unwrap();
    assert_eq!(
        db.get(b"read").unwrap(),
        None,
        "the eviction readers saw was lost"
    );
}

#[test]
fn the_locked_retry_runs_again_when_its_own_eviction_takes_a_key_it_read() {
    let db = Db::in_memory_with(limited(EvictionPolicy::VolatileTtl, 0)).unwrap();
    for i in 0..1000 {
        db.put(&key(i), &[b'v'; 300]).unwrap();
    }
    db.put_with_ttl(b"read", &[b'r'; 300], LONG).unwrap();
    let mut attempts = 0;
    db.transaction(|txn| {
        attempts += 1;
        txn.get(b"read")?;
        if attempts <= kvdb::TRANSACTION_RETRIES {
            // A write between this attempt's read and its commit: every
            // optimistic attempt conflicts.
            txn.get(b"hot")?;
            db.put(b"hot", &attempts.to_be_bytes())?;
            if attempts == kvdb::TRANSACTION_RETRIES {
                // From the locked retry on, the write below fits only by
                // evicting, and only "read" has a TTL.
                db.collect_garbage(usize::MAX);
                let used = db.memory_usage().used;
                db.set_memory_limit(used + 1000, EvictionPolicy::VolatileTtl)?;
            }
        }
        let optimistic = attempts <= kvdb::TRANSACTION_RETRIES;
        txn.put(
            b"written",
            if optimistic {
                &[b'w'; 10]
            } else {
                &[b'w'; 1000]
            },
        )
    })
    .unwrap();
    // The locked retry evicted "read", which it had read, and conflicted;
    // the next, still locked, found it gone and the room made.
    assert_eq!(attempts, kvdb::TRANSACTION_RETRIES + 2);
    assert_eq!(db.get(b"read").unwrap(), None);
    assert_eq!(db.get(b"written").unwrap(), Some(vec![b'w'; 1000]));
    assert_eq!(db.memory_usage().evicted_keys, 1);
}

#[test]
fn a_write_never_evicts_a_key_it_writes() {
    // The key a write stores is the one most recently used, whatever its
    // last access before: evicting it would announce an eviction the write
    // then undoes (for a compare-and-swap or an increment, between its read
    // and its write).
    let db = Db::in_memory_with(limited(EvictionPolicy::VolatileLru, LIMIT)).unwrap();
    let mut watcher = db.watch_prefix(b"", WATCH_FROM_NOW).unwrap();
    put_until_refused(&db, 0, &[b'v'; 300]);
    for i in 0..40 {
        db.delete(&key(i)).unwrap();
    }
    // The only keys with a TTL; "older" is the least recently used by
    // several units of the LRU clock.
    db.put_with_ttl(b"older", &[b'o'; 300], LONG).unwrap();
    for tick in 0..4 * kvdb_core::LRU_UNIT {
        db.put(b"tick", &tick.to_be_bytes()).unwrap();
    }
    db.put_with_ttl(b"newer", &[b'n'; 300], LONG).unwrap();
    // As large as the room left: it fits only by evicting a key.
    let room = LIMIT - db.memory_usage().used;
    db.put_with_ttl(b"older", &vec![b'O'; room as usize], LONG)
        .unwrap();
    let mut evicted = Vec::new();
    while let Some(event) = watcher.try_next().unwrap() {
        if event.change == Change::Evicted {
            evicted.push(event.key);
        }
    }
    assert_eq!(
        evicted,
        [b"newer".to_vec()],
        "the write made room elsewhere"
    );
    assert_eq!(
        db.get(b"older").unwrap().map(|v| v.len()),
        Some(room as usize)
    );
    assert!(db.memory_usage().used <= LIMIT);
}

#[test]
fn an_eviction_removes_the_keys_secondary_index_entries() {
    let db = Db::in_memory_with(limited(EvictionPolicy::AllKeysRandom, LIMIT)).unwrap();
    db.create_index(IndexDef::value_bytes("tag", 0, 1).unwrap())
        .unwrap();
    let mut i = 0;
    while db.memory_usage().evicted_keys < 100 {
        db.put(&key(i), &[b'a'; 200]).unwrap();
        i += 1;
    }
    let indexed: BTreeSet<Vec<u8>> = db
        .index("tag", IndexQuery::Equal(b"a"))
        .unwrap()
        .map(|entry| entry.key)
        .collect();
    let live: BTreeSet<Vec<u8>> = db.iter().map(|(k, _)| k).collect();
    assert_eq!(indexed, live, "the index lists exactly the keys still held");
    assert!(live.len() < i as usize);
}

#[test]
fn the_limit_holds_when_writes_add_secondary_index_entries() {
    // Each put also writes an index entry (and deletes the one its old
    // value had): room made for the put alone is not enough.
    for (setup, options) in SETUPS {
        for policy in [EvictionPolicy::AllKeysLru, EvictionPolicy::VolatileTtl] {
            eprintln!("{policy}, eviction {setup}");
            let db = Db::in_memory_with(options(policy, LIMIT)).unwrap();
            db.create_index(IndexDef::value_bytes("tag", 0, 8).unwrap())
                .unwrap();
            limit_holds_under_churn(db, policy);
        }
    }
}

#[test]
fn the_limit_holds_when_one_write_evicts_many_indexed_keys() {
    // Every victim's index entry is deleted with it: the entries' records
    // must be freed along with the victims', or a write that evicts
    // hundreds of small keys returns over the limit by their sum.
    for (setup, options) in SETUPS {
        let db = Db::in_memory_with(options(EvictionPolicy::NoEviction, LIMIT)).unwrap();
        db.create_index(IndexDef::value_bytes("tag", 0, 8).unwrap())
            .unwrap();
        put_until_refused(&db, 0, b"small-value");
        db.set_memory_limit(LIMIT, EvictionPolicy::AllKeysRandom)
            .unwrap();
        db.put(b"large", &[b'x'; 200_000]).unwrap();
        let usage = db.memory_usage();
        // About 300 bytes a victim, its entry's half of them included.
        assert!(usage.evicted_keys > 500, "{setup}: {usage:?}");
        assert!(
            usage.used <= LIMIT,
            "{setup}: {} bytes used after evicting {} keys",
            usage.used,
            usage.evicted_keys
        );
    }
}

/// A database at `LIMIT` under `policy`, its keys holding 100-byte values
/// whose first 8 bytes an index can take as a tag.
fn full_of_taggable_values(options: Setup, policy: EvictionPolicy) -> Db {
    let db = Db::in_memory_with(options(EvictionPolicy::AllKeysLru, LIMIT)).unwrap();
    let mut i = 0;
    while db.memory_usage().evicted_keys == 0 {
        db.put(&key(i), format!("{:08}{:92}", i % 1000, "").as_bytes())
            .unwrap();
        i += 1;
    }
    db.set_memory_limit(LIMIT, policy).unwrap();
    db
}

#[test]
fn creating_an_index_at_the_limit_evicts_to_make_room_for_its_entries() {
    // An index's entries are memory like any write's: its build makes
    // room for them as it goes, or the database ends over its limit.
    for (setup, options) in SETUPS {
        let db = full_of_taggable_values(options, EvictionPolicy::AllKeysLru);
        let evicted_before = db.memory_usage().evicted_keys;
        db.create_index(IndexDef::value_bytes("tag", 0, 8).unwrap())
            .unwrap();
        let usage = db.memory_usage();
        assert!(usage.used <= LIMIT, "{setup}: {usage:?}");
        assert!(usage.evicted_keys > evicted_before, "{setup}: {usage:?}");
        // Every key left is indexed, and no entry is left of a key evicted.
        let indexed: BTreeSet<Vec<u8>> = db
            .index("tag", IndexQuery::All)
            .unwrap()
            .map(|entry| entry.key)
            .collect();
        let held: BTreeSet<Vec<u8>> = db.iter().map(|(k, _)| k).collect();
        assert_eq!(indexed, held, "{setup}");
        db.collect_garbage(usize::MAX);
        assert_eq!(db.stats().index_entries, held.len() as u64, "{setup}");
    }
}

#[test]
fn an_index_built_while_writes_evict_lists_exactly_the_keys_held() {
    // Writes of new keys evict while the build evicts for its entries:
    // keys on both sides of the build's progress go, and the index must
    // end with an entry for every key held and none for a key evicted.
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    for (setup, options) in SETUPS {
        let db = Arc::new(full_of_taggable_values(options, EvictionPolicy::AllKeysLru));
        let (stop, writes) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicU64::new(0)),
        );
        let writer = {
            let (db, stop, writes) = (Arc::clone(&db), Arc::clone(&stop), Arc::clone(&writes));
            std::thread::spawn(move || {
                let mut i = 1_000_000;
                while !stop.load(Ordering::Acquire) {
                    db.put(&key(i), format!("{:08}{:92}", i % 1000, "").as_bytes())
                        .unwrap();
                    writes.fetch_add(1, Ordering::Release);
                    i += 1;
                }
            })
        };
        // Builds until one overlapped enough writes (a loaded machine may
        // run a build with few of them), each checked.
        let mut overlapped = 0;
        for _ in 0..20 {
            while writes.load(Ordering::Acquire) == 0 {
                std::thread::yield_now();
            }
            // A slow extractor stretches the build over many of the writes.
            let def = IndexDef::callback("tag", |_k, v, out| {
                std::thread::sleep(Duration::from_micros(20));
                out.push(v[..8].to_vec());
            })
            .unwrap();
            let before = writes.load(Ordering::Acquire);
            db.create_index(def).unwrap();
            overlapped = writes.load(Ordering::Acquire) - before;
            let snap = db.snapshot();
            let held: BTreeSet<Vec<u8>> = snap.iter().map(|(k, _)| k).collect();
            let indexed: Vec<Vec<u8>> = snap
                .index("tag", IndexQuery::All)
                .unwrap()
                .map(|entry| entry.key)
                .collect();
            assert_eq!(indexed.len(), held.len(), "{setup}: an entry per key");
            assert_eq!(
                indexed.into_iter().collect::<BTreeSet<_>>(),
                held,
                "{setup}"
            );
            if overlapped >= 20 {
                break;
            }
            db.drop_index("tag").unwrap();
        }
        stop.store(true, Ordering::Release);
        writer.join().unwrap();
        assert!(
            overlapped >= 20,
            "{setup}: only {overlapped} writes during a build"
        );
        // No entry is left of a key evicted, once the collector has been.
        collect_until_within_the_limit(&db);
        let held = db.iter().count() as u64;
        assert_eq!(db.stats().index_entries, held, "{setup}");
        assert!(db.memory_usage().used <= LIMIT, "{setup}");
    }
}

#[test]
fn creating_an_index_that_does_not_fit_under_noeviction_fails_leaving_nothing() {
    for (setup, options) in SETUPS {
        let db = full_of_taggable_values(options, EvictionPolicy::NoEviction);
        let before = db.memory_usage();
        let held = db.iter().count();
        let err = db
            .create_index(IndexDef::value_bytes("tag", 0, 8).unwrap())
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::MemoryLimit, "{setup}: {err}");
        assert!(db.indexes().is_empty(), "{setup}");
        assert_eq!(db.iter().count(), held, "{setup}: keys lost");
        collect_until_within_the_limit(&db);
        let usage = db.memory_usage();
        assert!(
            usage.used <= before.used,
            "{setup}: {before:?} then {usage:?}"
        );
        assert_eq!(usage.evicted_keys, before.evicted_keys, "{setup}");
    }
}

#[test]
fn an_overwrite_only_its_own_key_could_make_room_for_is_refused_losing_nothing() {
    // volatile-ttl with one key with a TTL, overwritten at the limit: a
    // write never evicts a key it writes, so nothing can make room.
    let db = Db::in_memory_with(limited(EvictionPolicy::VolatileTtl, LIMIT)).unwrap();
    db.create_index(IndexDef::value_bytes("tag", 0, 1).unwrap())
        .unwrap();
    let (written, _) = put_until_refused(&db, 0, &[b'b'; 300]);
    // Room for one more record, once the write collects these two.
    db.delete(&key(0)).unwrap();
    db.delete(&key(1)).unwrap();
    db.put_with_ttl(b"only-ttl", &[b'a'; 300], LONG).unwrap();
    // Several times the room left: only evicting could make room.
    let refused = db
        .put_with_ttl(b"only-ttl", &[b'a'; 3000], LONG)
        .unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::MemoryLimit, "{refused}");
    assert_eq!(db.memory_usage().evicted_keys, 0);
    assert_eq!(db.get(b"only-ttl").unwrap(), Some(vec![b'a'; 300]));
    let tagged: Vec<Vec<u8>> = db
        .index("tag", IndexQuery::Equal(b"a"))
        .unwrap()
        .map(|entry| entry.key)
        .collect();
    assert_eq!(tagged, [b"only-ttl".to_vec()]);
    assert_eq!(db.iter().count() as u64, written - 2 + 1);
}

#[test]
fn lowering_the_limit_at_run_time_evicts_down_to_it() {
    let db = Db::in_memory_with(limited(EvictionPolicy::NoEviction, 0)).unwrap();
    for i in 0..20_000 {
        db.put(&key(i), &[b'v'; 100]).unwrap();
    }
    let used = db.memory_usage().used;
    db.set_memory_limit(used / 2, EvictionPolicy::AllKeysLfu)
        .unwrap();
    let usage = db.memory_usage();
    assert!(usage.used <= used / 2, "{} > {}", usage.used, used / 2);
    assert_eq!(usage.policy, EvictionPolicy::AllKeysLfu);
    assert!(usage.evicted_keys > 5_000);
    assert!(usage.evicted_bytes > 0);
}

#[test]
fn lowering_the_limit_far_below_the_usage_evicts_down_to_it_not_below() {
    // Evicting three quarters of the keys empties the hash table enough
    // for it to shrink, freeing memory no victim held: an eviction that
    // counts only its victims' bytes goes on past the limit by what the
    // shrink frees, and those keys are lost for nothing.
    // With a secondary index, the victims' entries leave its table as
    // empty, and it shrinks too. With a snapshot open, the victims and
    // the shrinks wait for it to close; that is no reason to evict more.
    for (setup, options) in SETUPS {
        for (indexed, with_snapshot) in [(false, false), (false, true), (true, false), (true, true)]
        {
            let db = Db::in_memory_with(options(EvictionPolicy::NoEviction, 0)).unwrap();
            if indexed {
                db.create_index(IndexDef::value_bytes("tag", 0, 8).unwrap())
                    .unwrap();
            }
            for i in 0..50_000 {
                db.put(&key(i), format!("{i:08}{:92}", "").as_bytes())
                    .unwrap();
            }
            let snapshot = with_snapshot.then(|| db.snapshot());
            let limit = db.memory_usage().used / 4;
            db.set_memory_limit(limit, EvictionPolicy::AllKeysLru)
                .unwrap();
            drop(snapshot);
            collect_until_within_the_limit(&db);
            let setup = format!("{setup}, indexed: {indexed}, snapshot open: {with_snapshot}");
            assert_within_and_near(&db, limit, &setup);
        }
    }
}

/// Collects old versions until usage is within the limit, for 30 s at
/// most: a background pass may hold victims a closed snapshot kept for a
/// while (it took them off the collector's queue while the snapshot was
/// open).
fn collect_until_within_the_limit(db: &Db) {
    let started = std::time::Instant::now();
    loop {
        db.collect_garbage(usize::MAX);
        let usage = db.memory_usage();
        if usage.used <= usage.limit || started.elapsed() > Duration::from_secs(30) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn reopening_with_a_limit_below_what_the_database_holds_evicts_down_to_it_not_below() {
    // With an index named in the options too: it is built whole as the
    // database opens, and its entries evicted with their keys.
    for indexed in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let options = |limit| {
            let mut o = limited(EvictionPolicy::AllKeysLru, limit);
            o.sync = SyncPolicy::Never;
            if indexed {
                o.indexes = vec![IndexDef::value_bytes("tag", 0, 8).unwrap()];
            }
            o
        };
        let db = Db::open(dir.path(), options(0)).unwrap();
        for i in 0..50_000 {
            db.put(&key(i), format!("{i:08}{:92}", "").as_bytes())
                .unwrap();
        }
        let limit = db.memory_usage().used / 4;
        db.close().unwrap();
        let db = Db::open(dir.path(), options(limit)).unwrap();
        assert_within_and_near(&db, limit, &format!("reopened, indexed: {indexed}"));
        let held = db.iter().count();
        assert_eq!(
            db.index("tag", IndexQuery::All).map_or(0, Iterator::count),
            if indexed { held } else { 0 }
        );
    }
}

/// Asserts that `db` holds at most `limit` bytes and not much less: an
/// eviction down to a limit keeps what fits.
fn assert_within_and_near(db: &Db, limit: u64, setup: &str) {
    let usage = db.memory_usage();
    assert!(usage.used <= limit, "{setup}: {usage:?}");
    assert!(
        usage.used >= limit / 100 * 95,
        "{setup}: {} bytes held under a limit of {limit}, {} keys evicted",
        usage.used,
        usage.evicted_keys
    );
}

#[test]
fn a_write_larger_than_the_whole_limit_is_refused_without_evicting() {
    let db = Db::in_memory_with(limited(EvictionPolicy::AllKeysLru, 64 * 1024)).unwrap();
    db.put(b"small", b"v").unwrap();
    let err = db.put(b"big", &vec![0u8; 100 * 1024]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::MemoryLimit);
    assert!(db.get(b"small").unwrap().is_some());
    assert_eq!(db.memory_usage().evicted_keys, 0);
}

#[test]
fn lowering_the_limit_evicts_keys_whose_index_entries_hold_much_of_the_memory() {
    // An 8-byte value indexed whole: each key's index entry holds about
    // as much as its record. A victim's deletion frees both, so an
    // eviction counts both; counting only the records, even every key
    // would not seem to cover the deficit, and nothing would be evicted.
    for (setup, options) in SETUPS {
        let db = Db::in_memory_with(options(EvictionPolicy::NoEviction, 0)).unwrap();
        db.create_index(IndexDef::value_bytes("tag", 0, 8).unwrap())
            .unwrap();
        for i in 0..20_000 {
            db.put(&key(i), format!("{i:08}").as_bytes()).unwrap();
        }
        let before = db.memory_usage().used;
        db.set_memory_limit(before / 2, EvictionPolicy::AllKeysRandom)
            .unwrap();
        db.collect_garbage(usize::MAX);
        let usage = db.memory_usage();
        assert!(
            usage.used <= before / 2,
            "{setup}: {before} before, {usage:?}"
        );
        // Not far below either: the victims' entries were counted, not
        // made up for by evicting more keys.
        assert!(usage.used >= before / 2 - before / 20, "{setup}: {usage:?}");
        let freed = before - usage.used;
        assert!(
            usage.evicted_bytes <= freed && usage.evicted_bytes * 10 >= freed * 9,
            "{setup}: the statistic counts what the victims freed, {freed}: {usage:?}"
        );
        db.put(b"one-more", b"12345678").unwrap();
        let indexed = db.index("tag", IndexQuery::All).unwrap().count();
        assert_eq!(indexed, db.iter().count(), "{setup}");
    }
}

#[test]
fn an_overwrite_at_the_limit_is_not_charged_for_a_new_key() {
    // An overwrite adds a version, not a record, an index node or a hash
    // slot. Charged as a new key, one with the hash table at its growth
    // threshold would make room for the table's doubling (over half a
    // megabyte here) and evict thousands of keys to store 100 bytes.
    let value = [b'v'; 100];
    // How many keys the table holds when the next new key doubles it.
    let probe = Db::in_memory_with(limited(EvictionPolicy::NoEviction, 0)).unwrap();
    let mut at_threshold = None;
    for i in 0..200_000 {
        let before = probe.memory_usage().used;
        probe.put(&key(i), &value).unwrap();
        if i >= 10_000 && probe.memory_usage().used - before > 512 * 1024 {
            at_threshold = Some(i);
            break;
        }
    }
    let at_threshold = at_threshold.expect("the hash table doubled");
    drop(probe);
    for (setup, options) in SETUPS {
        let db = Db::in_memory_with(options(EvictionPolicy::NoEviction, 0)).unwrap();
        for i in 0..at_threshold {
            db.put(&key(i), &value).unwrap();
        }
        let used = db.memory_usage().used;
        db.set_memory_limit(used + 64 * 1024, EvictionPolicy::AllKeysLru)
            .unwrap();
        for i in 0..100 {
            db.put(&key(i), &value).unwrap();
        }
        let usage = db.memory_usage();
        assert_eq!(usage.evicted_keys, 0, "{setup}: {usage:?}");
        assert!(usage.used <= usage.limit, "{setup}: {usage:?}");
        // Under noeviction the same overwrites are allowed, not refused.
        db.set_memory_limit(used + 64 * 1024, EvictionPolicy::NoEviction)
            .unwrap();
        db.put(&key(0), &value).unwrap();
        assert_eq!(db.iter().count() as u64, at_threshold, "{setup}");
    }
}

#[test]
fn lowering_the_limit_below_what_the_policy_may_evict_evicts_all_it_may() {
    // Half the keys have a TTL; a limit a quarter of the usage is out of
    // reach of volatile-lru, which evicts only those. Lowering the limit
    // evicts "as far as it can", as Redis's eviction does: every key with
    // a TTL, none without; then writes are refused as under noeviction.
    for (setup, options) in SETUPS {
        let db = Db::in_memory_with(options(EvictionPolicy::NoEviction, 0)).unwrap();
        for i in 0..20_000 {
            if i % 2 == 0 {
                db.put_with_ttl(&key(i), &[b'v'; 100], LONG).unwrap();
            } else {
                db.put(&key(i), &[b'v'; 100]).unwrap();
            }
        }
        let before = db.memory_usage().used;
        db.set_memory_limit(before / 4, EvictionPolicy::VolatileLru)
            .unwrap();
        db.collect_garbage(usize::MAX);
        let usage = db.memory_usage();
        assert_eq!(usage.evicted_keys, 10_000, "{setup}: {usage:?}");
        for i in (1..20_000).step_by(2) {
            assert!(db.get(&key(i)).unwrap().is_some(), "{setup}: key {i}");
        }
        assert!(
            usage.used < before * 6 / 10,
            "{setup}: {before} before, {usage:?}"
        );
        let refused = db.put(b"more", b"v").unwrap_err();
        assert_eq!(refused.kind(), ErrorKind::MemoryLimit, "{setup}");
    }
}

#[test]
fn lowering_the_limit_with_a_snapshot_open_evicts_only_what_covers_the_excess() {
    // The snapshot keeps the victims' memory until it closes, so usage
    // stays over the new limit; that is no reason to evict further keys.
    for (setup, options) in SETUPS {
        let db = Db::in_memory_with(options(EvictionPolicy::NoEviction, 0)).unwrap();
        for i in 0..20_000 {
            db.put(&key(i), &[b'v'; 100]).unwrap();
        }
        let snapshot = db.snapshot();
        let before = db.memory_usage().used;
        db.set_memory_limit(before / 2, EvictionPolicy::AllKeysRandom)
            .unwrap();
        let evicted = db.memory_usage().evicted_keys;
        assert!(
            (8_000..=12_000).contains(&evicted),
            "{setup}: {evicted} evicted"
        );
        assert_eq!(snapshot.iter().count(), 20_000, "{setup}");
        drop(snapshot);
        // Freed once collected.
        collect_until_within_the_limit(&db);
        let usage = db.memory_usage();
        assert!(usage.used <= before / 2, "{setup}: {usage:?}");
        assert_eq!(usage.evicted_keys, evicted, "{setup}");
    }
}

/// A database without a limit on a manual clock, holding 20,000 keys
/// (`key(0)` on) of 100-byte values that expire a second from now.
fn with_keys_soon_expired(options: Setup) -> (Db, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(1_000_000));
    let mut options = options(EvictionPolicy::NoEviction, 0);
    options.clock = clock.clone();
    let db = Db::in_memory_with(options).unwrap();
    for i in 0..20_000 {
        db.put_with_ttl(&key(i), &[b'v'; 100], Duration::from_secs(1))
            .unwrap();
    }
    (db, clock)
}

#[test]
fn lowering_the_limit_finds_the_live_keys_with_a_ttl_among_many_expired_ones() {
    // volatile policies sample the keys tracked for expiry; here nearly
    // all of them have expired and wait to be reclaimed. Expired keys are
    // dead: they go first, and the live keys with a TTL are then found.
    for (setup, options) in SETUPS {
        let (db, clock) = with_keys_soon_expired(options);
        for i in 20_000..20_020 {
            db.put_with_ttl(&key(i), &[b'v'; 100], LONG).unwrap();
        }
        for i in 20_020..20_040 {
            db.put(&key(i), &[b'v'; 100]).unwrap();
        }
        clock.advance(2_000);
        db.set_memory_limit(1, EvictionPolicy::VolatileLru).unwrap();
        for i in 20_000..20_020 {
            assert_eq!(db.get(&key(i)).unwrap(), None, "{setup}: key {i} kept");
        }
        for i in 20_020..20_040 {
            assert!(db.get(&key(i)).unwrap().is_some(), "{setup}: key {i} lost");
        }
    }
}

#[test]
fn a_write_at_the_limit_deletes_expired_keys_the_expiry_cycle_has_not_reclaimed() {
    // At the limit, nearly every key with a TTL has expired and waits for
    // the expiry cycle. They are dead and hold memory: a write deletes
    // them (as expiries, not evictions) rather than be refused because
    // its samples find few live keys with a TTL.
    for (setup, options) in SETUPS {
        let (db, clock) = with_keys_soon_expired(options);
        let mut changes = db.watch_prefix(b"", WATCH_FROM_NOW).unwrap();
        for i in 20_000..20_200 {
            db.put_with_ttl(&key(i), &[b'v'; 100], LONG).unwrap();
        }
        let used = db.memory_usage().used;
        db.set_memory_limit(used, EvictionPolicy::VolatileLru)
            .unwrap();
        clock.advance(2_000);
        for i in 30_000..30_100 {
            db.put(&key(i), &[b'v'; 100])
                .unwrap_or_else(|e| panic!("{setup}: put {i} refused: {e}"));
        }
        let usage = db.memory_usage();
        assert!(usage.used <= usage.limit, "{setup}: {usage:?}");
        // Read before the events: an expiry is announced before it is
        // counted, and with background maintenance the expiry thread goes
        // on deleting meanwhile.
        let reclaimed = db.stats().expired_reclaimed;
        // Announced as what they are: the evicted keys are live ones with
        // a TTL, and only they count as evicted.
        let (mut evicted, mut expired) = (0, 0);
        while let Some(event) = changes.try_next().unwrap() {
            if event.change == Change::Evicted {
                let i: u64 = std::str::from_utf8(&event.key[4..])
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!((20_000..20_200).contains(&i), "{setup}: evicted {i}");
                evicted += 1;
            }
            if event.change == Change::Expired {
                expired += 1;
            }
        }
        assert_eq!(usage.evicted_keys, evicted, "{setup}");
        // The expired keys the writes deleted count as expiries, as those
        // the expiry cycle deletes do: all of them on the writer, where
        // nothing else deletes.
        assert!(expired > 0, "{setup}: no expired key deleted");
        if setup == SETUPS[0].0 {
            assert_eq!(reclaimed, expired, "{setup}");
        } else {
            assert!(reclaimed <= expired, "{setup}: {reclaimed} > {expired}");
        }
        let live_with_ttl = (20_000..20_200)
            .filter(|&i| db.get(&key(i)).unwrap().is_some())
            .count() as u64;
        assert_eq!(live_with_ttl, 200 - evicted, "{setup}");
        assert!(live_with_ttl >= 150, "{setup}: {live_with_ttl} of 200 kept");
    }
}
