//! What a database under a memory limit remembers of its keys' use across
//! a reopen: the recency (LRU) or frequency (LFU) a snapshot recorded, and
//! the writes replayed from the log, decide what an eviction after the
//! reopen takes, as Redis's RDB files keep each key's idle time or
//! frequency counter for the next start.

use kvdb::{Db, EvictionPolicy, Options, SyncPolicy};

const KEYS: u64 = 4_000;

fn key(i: u64) -> Vec<u8> {
    format!("key-{i:08}").into_bytes()
}

fn options(policy: EvictionPolicy, limit: u64) -> Options {
    let mut o = Options::manual_maintenance();
    o.sync = SyncPolicy::Never;
    o.memory_limit = limit;
    o.eviction = policy;
    o
}

/// Fills `dir` with [`KEYS`] keys of 100-byte values under `policy` (with
/// a limit far above what they hold, so that accesses are recorded), calls
/// `use_keys` on it, closes it, and returns the bytes its keys held.
fn fill(dir: &std::path::Path, policy: EvictionPolicy, use_keys: impl FnOnce(&Db)) -> u64 {
    let db = Db::open(dir, options(policy, 1 << 40)).unwrap();
    for i in 0..KEYS {
        db.put(&key(i), &[b'v'; 100]).unwrap();
    }
    use_keys(&db);
    // Versions a rewrite left behind are counted until collected: the
    // database reopens without them.
    db.collect_garbage(usize::MAX);
    let used = db.memory_usage().used;
    db.close().unwrap();
    used
}

/// How many of the keys `of` `db` holds, and how many there are.
fn held(db: &Db, of: impl Iterator<Item = u64>) -> (u64, u64) {
    let (mut held, mut all) = (0, 0);
    for i in of {
        all += 1;
        held += u64::from(db.get(&key(i)).unwrap().is_some());
    }
    (held, all)
}

/// How far `db`'s eviction took the keys `others` before the keys `used`:
/// of the keys `used`, the fraction held of as many as it could hold (all
/// of them, or every key it holds if fewer). 1 when it took only `others`
/// while any was left, about half that when it chose blindly.
fn preference(db: &Db, used: impl Iterator<Item = u64>, others: impl Iterator<Item = u64>) -> f64 {
    let (used_held, used_all) = held(db, used);
    let (others_held, _) = held(db, others);
    let could = used_all.min(used_held + others_held);
    used_held as f64 / could as f64
}

/// Asserts that `db`'s eviction took the keys `others` before the keys
/// `used` (see [`preference`]) at 95% or more; `what` names the keys used.
fn assert_kept_first(
    db: &Db,
    used: impl Iterator<Item = u64>,
    others: impl Iterator<Item = u64>,
    what: &str,
) {
    let preference = preference(db, used, others);
    assert!(
        preference >= 0.95,
        "{what} were kept at {:.0}% of what could be",
        preference * 100.0
    );
}

/// The share of the keys `db` holds that are among `these`.
fn share(db: &Db, these: impl Iterator<Item = u64>, others: impl Iterator<Item = u64>) -> f64 {
    let (these_held, _) = held(db, these);
    let (others_held, _) = held(db, others);
    these_held as f64 / (these_held + others_held) as f64
}

/// Reads every even key `times` times.
fn read_even_keys(db: &Db, times: u32) {
    for _ in 0..times {
        for i in even() {
            db.get(&key(i)).unwrap();
        }
    }
}

fn even() -> impl Iterator<Item = u64> {
    (0..KEYS).step_by(2)
}

fn odd() -> impl Iterator<Item = u64> {
    (1..KEYS).step_by(2)
}

#[test]
fn keys_used_before_a_checkpoint_outlive_keys_left_unused_after_a_reopen() {
    // The even keys are read (LRU: recently; LFU: often) after every key
    // was written, and a checkpoint records it; the database reopens with
    // a limit of about half what it holds. Interleaved, the keys' writes
    // alone cannot tell the halves apart.
    for policy in [EvictionPolicy::AllKeysLru, EvictionPolicy::AllKeysLfu] {
        let dir = tempfile::tempdir().unwrap();
        let used = fill(dir.path(), policy, |db| {
            read_even_keys(db, 20);
            db.checkpoint().unwrap();
        });
        let db = Db::open(dir.path(), options(policy, used / 4 * 3)).unwrap();
        assert_kept_first(&db, even(), odd(), &format!("{policy:?}: the keys used"));
    }
}

#[test]
fn keys_written_since_the_last_checkpoint_count_as_used_at_it_after_a_reopen() {
    // The odd keys are written again after the checkpoint: only the log
    // holds those writes, and replaying them must count as their use (as
    // of the checkpoint: see the next test).
    let dir = tempfile::tempdir().unwrap();
    let policy = EvictionPolicy::AllKeysLru;
    let used = fill(dir.path(), policy, |db| {
        db.checkpoint().unwrap();
        for i in odd() {
            db.put(&key(i), &[b'w'; 100]).unwrap();
        }
    });
    let db = Db::open(dir.path(), options(policy, used / 4 * 3)).unwrap();
    assert_kept_first(&db, odd(), even(), "the keys rewritten");
}

#[test]
fn keys_used_at_the_last_checkpoint_are_not_outranked_by_keys_written_after_it() {
    // The reads since the last checkpoint are in no file, the writes since
    // it are in the log: counted at their own time, the writes would make
    // every key read since look older than every key written since (in a
    // cache, the misses), and an eviction after the reopen would take the
    // keys in use first. The even keys are read just before the
    // checkpoint, new keys written after it; the odd keys, used only
    // before both, must go first (all but the last written before the
    // checkpoint, which tie with the keys read: 9% of them held), and then
    // the even and the new keys alike (before the fix: 17% of the even keys
    // held, 73% of the new ones).
    let dir = tempfile::tempdir().unwrap();
    let policy = EvictionPolicy::AllKeysLru;
    let new_keys = || KEYS..2 * KEYS;
    fill(dir.path(), policy, |db| {
        read_even_keys(db, 1);
        db.checkpoint().unwrap();
        for i in new_keys() {
            db.put(&key(i), &[b'n'; 100]).unwrap();
        }
    });
    // Every key's usage, then a limit that holds about half of them.
    let db = Db::open(dir.path(), options(policy, 1 << 40)).unwrap();
    let used = db.memory_usage().used;
    db.close().unwrap();
    let db = Db::open(dir.path(), options(policy, used / 2)).unwrap();
    let fraction = |of: &mut dyn Iterator<Item = u64>| {
        let (held, all) = held(&db, of);
        held as f64 / all as f64
    };
    let (odd, even, new) = (
        fraction(&mut odd()),
        fraction(&mut even()),
        fraction(&mut new_keys()),
    );
    assert!(
        odd <= 0.2 && even >= new * 0.75,
        "held: {:.0}% of the keys used before, {:.0}% of those read at the checkpoint, {:.0}% of those written after it",
        odd * 100.0,
        even * 100.0,
        new * 100.0
    );
}

#[test]
fn with_a_checkpoint_on_close_the_reads_since_the_last_checkpoint_survive_a_reopen() {
    // The even keys are read after the last checkpoint: those reads are in
    // no file unless the close checkpoints.
    for checkpoint_on_close in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let policy = EvictionPolicy::AllKeysLru;
        let mut o = options(policy, 1 << 40);
        o.checkpoint_on_close = checkpoint_on_close;
        let db = Db::open(dir.path(), o).unwrap();
        for i in 0..KEYS {
            db.put(&key(i), &[b'v'; 100]).unwrap();
        }
        db.checkpoint().unwrap();
        read_even_keys(&db, 1);
        let used = db.memory_usage().used;
        db.close().unwrap();
        let db = Db::open(dir.path(), options(policy, used / 4 * 3)).unwrap();
        let preference = preference(&db, even(), odd());
        if checkpoint_on_close {
            assert!(
                preference >= 0.95,
                "the keys read were kept at {:.0}% of what could be",
                preference * 100.0
            );
        } else {
            // Lost: the eviction chose blindly between the halves.
            assert!(preference < 0.85, "{preference}");
        }
    }
}

#[test]
fn a_reopen_that_replays_many_evictions_keeps_every_key_the_limit_held() {
    // After the checkpoint, writes of new keys at the limit evict as many:
    // the log holds their puts and the evictions' deletes. Replaying them
    // leaves, besides the keys held, deleted keys waiting for collection
    // and a hash table grown to hold them all at once; what the database
    // held fitted its limit before the close, and must after the reopen.
    for policy in [EvictionPolicy::AllKeysLru, EvictionPolicy::AllKeysRandom] {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), options(policy, 1 << 40)).unwrap();
        for i in 0..KEYS {
            db.put(&key(i), &[b'v'; 100]).unwrap();
        }
        let limit = db.memory_usage().used;
        db.set_memory_limit(limit, policy).unwrap();
        db.checkpoint().unwrap();
        // As many as make the replay's hash table hold 6,400 keys at once,
        // past the 6,144 at which a table of 8,192 slots doubles; 4,000
        // keys do not make the doubled one shrink back (an eighth full).
        let new = KEYS + KEYS * 3 / 5;
        for i in KEYS..new {
            db.put(&key(i), &[b'n'; 100]).unwrap();
        }
        let held: Vec<u64> = (0..new)
            .filter(|&i| db.get(&key(i)).unwrap().is_some())
            .collect();
        db.close().unwrap();
        let db = Db::open(dir.path(), options(policy, limit)).unwrap();
        let usage = db.memory_usage();
        assert_eq!(usage.evicted_keys, 0, "{policy:?}: {usage:?}");
        let missing = held
            .iter()
            .filter(|&&i| db.get(&key(i)).unwrap().is_none())
            .count();
        assert_eq!(missing, 0, "{policy:?}: of {} keys held", held.len());
    }
}

#[test]
fn a_history_recorded_under_another_policy_is_not_read_as_this_ones() {
    // Recency recorded under LRU means nothing to LFU: the keys reopen as
    // new ones would be (all alike), so the eviction takes from both halves
    // alike (about half the keys held are the keys read). Reading the LRU
    // ages as LFU counters would make the keys read last (age 0) the least
    // used, and take them first (30% of the keys held are the keys read).
    let dir = tempfile::tempdir().unwrap();
    let used = fill(dir.path(), EvictionPolicy::AllKeysLru, |db| {
        read_even_keys(db, 1);
        db.checkpoint().unwrap();
    });
    let db = Db::open(
        dir.path(),
        options(EvictionPolicy::AllKeysLfu, used / 4 * 3),
    )
    .unwrap();
    let share = share(&db, even(), odd());
    assert!(
        (0.4..=0.6).contains(&share),
        "{:.0}% of the keys held are the keys read",
        share * 100.0
    );
}

#[test]
fn a_backup_opened_in_memory_keeps_the_keys_use() {
    let dir = tempfile::tempdir().unwrap();
    let backup = tempfile::tempdir().unwrap();
    let policy = EvictionPolicy::AllKeysLru;
    let target = backup.path().join("copy");
    let used = fill(dir.path(), policy, |db| {
        read_even_keys(db, 1);
        db.backup_to(&target).unwrap();
    });
    let (db, _) = Db::open_in_memory_from(&target, options(policy, used / 4 * 3)).unwrap();
    assert_kept_first(&db, even(), odd(), "the keys read");
}

#[test]
fn a_database_opened_without_its_limit_keeps_the_use_its_snapshot_recorded() {
    // A tool that opens a cache without its options (the `kvdb` shell, a
    // backup job) and checkpoints or backs it up must not erase what the
    // keys' use was: the next open under the limit ranks by it.
    for policy in [EvictionPolicy::AllKeysLru, EvictionPolicy::AllKeysLfu] {
        for backup in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let copies = tempfile::tempdir().unwrap();
            let used = fill(dir.path(), policy, |db| {
                read_even_keys(db, 20);
                db.checkpoint().unwrap();
            });
            let mut plain = Options::manual_maintenance();
            plain.sync = SyncPolicy::Never;
            let db = Db::open(dir.path(), plain).unwrap();
            // A write, so that the checkpoint has something to write.
            db.put(b"written-without-a-limit", b"x").unwrap();
            let reopen_from = if backup {
                let target = copies.path().join("copy");
                db.backup_to(&target).unwrap();
                target
            } else {
                db.checkpoint().unwrap();
                dir.path().to_path_buf()
            };
            db.close().unwrap();
            let db = Db::open(&reopen_from, options(policy, used / 4 * 3)).unwrap();
            assert_kept_first(
                &db,
                even(),
                odd(),
                &format!("{policy:?}, backup {backup}: the keys used"),
            );
        }
    }
}

#[test]
fn reads_after_the_limit_is_removed_at_run_time_still_count_after_a_reopen() {
    // Removing the limit keeps what reads record, so that setting it again
    // (or reopening with it) ranks the keys by every use they had.
    for policy in [EvictionPolicy::AllKeysLru, EvictionPolicy::AllKeysLfu] {
        let dir = tempfile::tempdir().unwrap();
        let used = fill(dir.path(), policy, |db| {
            db.set_memory_limit(0, EvictionPolicy::NoEviction).unwrap();
            read_even_keys(db, 20);
            db.checkpoint().unwrap();
        });
        let db = Db::open(dir.path(), options(policy, used / 4 * 3)).unwrap();
        assert_kept_first(
            &db,
            even(),
            odd(),
            &format!("{policy:?}: the keys read without a limit"),
        );
    }
}
