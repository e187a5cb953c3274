//! Random sequences of API calls on an in-memory database with a manual
//! clock, checked call by call against a BTreeMap model: puts, TTL puts,
//! deletes, batches, compare-and-swap, put-if-absent (with and without a
//! TTL), increments, expiry, TTL reads, expire and persist, snapshots (which must keep reading their moment), scans, garbage
//! collection and the active expiry cycle.
#![no_main]

use std::sync::Arc;
use std::time::Duration;

use arbitrary::Arbitrary;
use kvdb::{Batch, CasOutcome, Db, ManualClock, Options, Snapshot, Ttl};
use kvdb_fuzz::{Model, Pairs, get, live};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
enum Call {
    Put(u8, u8),
    PutTtl(u8, u8, u8),
    Delete(u8),
    Get(u8),
    Write(Vec<(u8, Option<u8>)>),
    Cas(u8, u8, u8),
    PutIfAbsent(u8, u8),
    PutIfAbsentTtl(u8, u8, u8),
    Expire(u8, u8),
    Persist(u8),
    Ttl(u8),
    Increment(u8, i8),
    Advance(u8),
    TakeSnapshot,
    CheckSnapshot(u8),
    DropSnapshot(u8),
    Scan(u8),
    Collect,
    ExpireCycle,
}

fn key(k: u8) -> Vec<u8> {
    vec![b'k', k % 16]
}

fn value(v: u8) -> Vec<u8> {
    vec![v; (v % 5) as usize]
}

fuzz_target!(|calls: Vec<Call>| {
    let clock = Arc::new(ManualClock::new(1_000_000));
    let mut options = Options::manual_maintenance();
    options.clock = clock.clone();
    let db = Db::in_memory_with(options).unwrap();
    let mut model = Model::new();
    let mut snapshots: Vec<(Snapshot, Pairs)> = Vec::new();
    let mut now = 1_000_000u64;
    for call in calls.iter().take(200) {
        match *call {
            Call::Put(k, v) => {
                db.put(&key(k), &value(v)).unwrap();
                model.insert(key(k), (value(v), None));
            }
            Call::PutTtl(k, v, ttl) => {
                let ttl = u64::from(ttl) + 1;
                db.put_with_ttl(&key(k), &value(v), Duration::from_millis(ttl))
                    .unwrap();
                model.insert(key(k), (value(v), Some(now + ttl)));
            }
            Call::Delete(k) => {
                let was = get(&model, &key(k), now).is_some();
                assert_eq!(db.delete(&key(k)).unwrap(), was);
                model.remove(&key(k));
            }
            Call::Get(k) => assert_eq!(db.get(&key(k)).unwrap(), get(&model, &key(k), now)),
            Call::Write(ref ops) => {
                let mut batch = Batch::new();
                for &(k, v) in ops.iter().take(16) {
                    match v {
                        Some(v) => {
                            batch.put(&key(k), &value(v)).unwrap();
                            model.insert(key(k), (value(v), None));
                        }
                        None => {
                            batch.delete(&key(k)).unwrap();
                            model.remove(&key(k));
                        }
                    }
                }
                db.write(&batch).unwrap();
            }
            Call::Cas(k, expected, new) => {
                let outcome = db
                    .compare_and_swap(&key(k), &value(expected), &value(new))
                    .unwrap();
                let want = match get(&model, &key(k), now) {
                    None => CasOutcome::NotFound,
                    Some(v) if v == value(expected) => {
                        let exp = model[&key(k)].1;
                        model.insert(key(k), (value(new), exp));
                        CasOutcome::Swapped
                    }
                    Some(_) => CasOutcome::Mismatch,
                };
                assert_eq!(outcome, want);
            }
            Call::PutIfAbsent(k, v) => {
                let absent = get(&model, &key(k), now).is_none();
                assert_eq!(db.put_if_absent(&key(k), &value(v)).unwrap(), absent);
                if absent {
                    model.insert(key(k), (value(v), None));
                }
            }
            Call::PutIfAbsentTtl(k, v, ttl) => {
                let ttl = u64::from(ttl) + 1;
                let absent = get(&model, &key(k), now).is_none();
                let stored = db
                    .put_if_absent_with_ttl(&key(k), &value(v), Duration::from_millis(ttl))
                    .unwrap();
                assert_eq!(stored, absent);
                if absent {
                    model.insert(key(k), (value(v), Some(now + ttl)));
                }
            }
            Call::Expire(k, ttl) => {
                let ttl = u64::from(ttl) + 1;
                let found = get(&model, &key(k), now);
                let expired = db.expire(&key(k), Duration::from_millis(ttl)).unwrap();
                assert_eq!(expired, found.is_some());
                if let Some(v) = found {
                    model.insert(key(k), (v, Some(now + ttl)));
                }
            }
            Call::Persist(k) => {
                let found = get(&model, &key(k), now);
                assert_eq!(db.persist(&key(k)).unwrap(), found.is_some());
                if let Some(v) = found {
                    model.insert(key(k), (v, None));
                }
            }
            Call::Ttl(k) => {
                let want = get(&model, &key(k), now).map(|_| match model[&key(k)].1 {
                    None => Ttl::Persistent,
                    Some(at) => Ttl::Expires(Duration::from_millis(at - now)),
                });
                assert_eq!(db.ttl(&key(k)).unwrap(), want);
            }
            Call::Increment(k, d) => {
                let result = db.increment(&key(k), i64::from(d));
                let (n, exp) = match get(&model, &key(k), now) {
                    None => (Some(0i64), None),
                    Some(v) => (
                        std::str::from_utf8(&v).ok().and_then(|s| s.parse().ok()),
                        model[&key(k)].1,
                    ),
                };
                match n {
                    Some(n) => {
                        let sum = n + i64::from(d);
                        assert_eq!(result.unwrap(), sum);
                        model.insert(key(k), (sum.to_string().into_bytes(), exp));
                    }
                    None => assert!(result.is_err(), "increment of a non-number succeeded"),
                }
            }
            Call::Advance(ms) => {
                clock.advance(u64::from(ms));
                now += u64::from(ms);
            }
            Call::TakeSnapshot => {
                if snapshots.len() < 4 {
                    snapshots.push((db.snapshot(), live(&model, now)));
                }
            }
            Call::CheckSnapshot(i) => {
                if let Some((s, seen)) = snapshots.get(i as usize % snapshots.len().max(1)) {
                    assert_eq!(&s.iter().collect::<Vec<_>>(), seen, "a snapshot changed");
                    let back: Vec<_> = s.iter().rev().collect();
                    assert_eq!(back.into_iter().rev().collect::<Vec<_>>(), *seen);
                }
            }
            Call::DropSnapshot(i) => {
                if !snapshots.is_empty() {
                    let at = i as usize % snapshots.len();
                    snapshots.remove(at);
                }
            }
            Call::Scan(p) => {
                let prefix = [b'k', p % 16];
                let want: Vec<_> = live(&model, now)
                    .into_iter()
                    .filter(|(k, _)| k.starts_with(&prefix[..1 + usize::from(p % 2)]))
                    .collect();
                assert_eq!(
                    db.prefix(&prefix[..1 + usize::from(p % 2)])
                        .collect::<Vec<_>>(),
                    want
                );
            }
            Call::Collect => {
                db.collect_garbage(usize::MAX);
            }
            Call::ExpireCycle => {
                db.expire_cycle();
            }
        }
    }
    assert_eq!(db.iter().collect::<Vec<_>>(), live(&model, now));
    for (s, seen) in &snapshots {
        assert_eq!(&s.iter().collect::<Vec<_>>(), seen);
    }
});
