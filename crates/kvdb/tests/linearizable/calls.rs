//! Running the calls against a database, and one thread's run of them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use kvdb::{Batch, Db, ErrorKind, IndexEntry, IndexQuery, ManualClock, Txn};

use crate::common::Rng;
use crate::model::*;

/// Calls each thread makes in a round.
const CALLS_PER_THREAD: u64 = 20;

pub(crate) fn call(db: &Db, clock: &ManualClock, call: Call) -> Answer {
    match call {
        Call::On(key, c) => call_on_key(db, KEYS[key], c),
        Call::PutBoth(v, ttl) => {
            let mut batch = Batch::new();
            for key in KEYS {
                match ttl {
                    None => batch.put(key, &v.to_le_bytes()).unwrap(),
                    Some(ms) => batch
                        .put_with_ttl(key, &v.to_le_bytes(), Duration::from_millis(ms))
                        .unwrap(),
                }
            }
            answered(db.write(&batch), |()| Answer::Done)
        }
        Call::ReadBoth(read) => Answer::Both(read_both(db, read)),
        Call::SwapBoth(v, read) => answered(
            db.transaction(|txn| {
                let old = read_both_in(txn, read)?;
                for key in KEYS {
                    txn.put(key, &v.to_le_bytes())?;
                }
                Ok(old)
            }),
            Answer::Both,
        ),
        Call::Advance => {
            clock.advance(STEP_MS);
            Answer::Done
        }
    }
}

/// Both keys' values, read at one view as `read` says.
pub(crate) fn read_both(db: &Db, read: Read) -> Pair {
    let mut both = [None; 2];
    let mut found = |key: &[u8], value: Vec<u8>| {
        if let Some(at) = position(key) {
            both[at] = decode(Some(value));
        }
    };
    match read {
        Read::Snapshot => {
            let snapshot = db.snapshot();
            return KEYS.map(|key| decode(snapshot.get(key).unwrap()));
        }
        Read::GetMany => {
            let values = db.get_many(&KEYS).unwrap();
            return [decode(values[0].clone()), decode(values[1].clone())];
        }
        Read::Scan => db.iter().for_each(|(key, value)| found(&key, value)),
        Read::Range => db
            .range(KEYS[0]..=KEYS[1])
            .for_each(|(key, value)| found(&key, value)),
        Read::Walk => {
            let mut cursor = db.cursor::<&[u8]>(..);
            let mut back = Vec::new();
            cursor.seek_to_last();
            while let (Some(key), Some(value)) = (cursor.key(), cursor.value()) {
                back.push((key.to_vec(), value.to_vec()));
                cursor.prev();
            }
            let mut forth = Vec::new();
            cursor.seek_to_first();
            while let (Some(key), Some(value)) = (cursor.key(), cursor.value()) {
                forth.push((key.to_vec(), value.to_vec()));
                cursor.next();
            }
            back.reverse();
            assert_eq!(back, forth, "one cursor's walks back and forth agree");
            forth
                .into_iter()
                .for_each(|(key, value)| found(&key, value));
        }
        Read::Index | Read::IndexBack => {
            let entries = db.index(INDEX, IndexQuery::All).unwrap();
            let entries: Vec<IndexEntry> = match read {
                Read::IndexBack => entries.rev().collect(),
                _ => entries.collect(),
            };
            for entry in entries {
                assert_eq!(
                    entry.index_key,
                    entry.value[..4],
                    "the index key is the value's head"
                );
                found(&entry.key, entry.value);
            }
        }
    }
    both
}

/// Both keys' values as `txn` reads them.
pub(crate) fn read_both_in(txn: &mut Txn, read: TxnRead) -> kvdb::Result<Pair> {
    let mut both = [None; 2];
    match read {
        TxnRead::Gets => {
            for (slot, key) in both.iter_mut().zip(KEYS) {
                *slot = decode(txn.get(key)?);
            }
        }
        TxnRead::GetMany => {
            let values = txn.get_many(&KEYS)?;
            for (slot, value) in both.iter_mut().zip(values) {
                *slot = decode(value);
            }
        }
        TxnRead::Scan => {
            for (key, value) in txn.iter() {
                if let Some(at) = position(&key) {
                    both[at] = decode(Some(value));
                }
            }
        }
        TxnRead::RangeDesc => {
            for (key, value) in txn.range_desc(KEYS[0]..=KEYS[1]) {
                let at = position(&key).expect("only the two keys are in their range");
                both[at] = decode(Some(value));
            }
        }
        TxnRead::IndexBack => {
            for entry in txn.index(INDEX, IndexQuery::All)?.rev() {
                if let Some(at) = position(&entry.key) {
                    both[at] = decode(Some(entry.value));
                }
            }
        }
    }
    Ok(both)
}

/// A write's answer, or [`Answer::Refused`] if the memory limit refused it
/// (then it applied nothing): at a limit, versions that open snapshots
/// and iterators still read stay counted, and may leave nothing to evict.
pub(crate) fn answered<T>(result: kvdb::Result<T>, answer: impl FnOnce(T) -> Answer) -> Answer {
    match result {
        Ok(value) => answer(value),
        Err(e) if e.kind() == ErrorKind::MemoryLimit => Answer::Refused,
        Err(e) => panic!("a call failed: {e}"),
    }
}

pub(crate) fn call_on_key(db: &Db, key: &[u8], call: KeyCall) -> Answer {
    let ms = Duration::from_millis;
    let value = |v: u32| v.to_le_bytes();
    match call {
        KeyCall::Put(v) => answered(db.put(key, &value(v)), |()| Answer::Done),
        KeyCall::PutTtl(v, ttl) => {
            answered(db.put_with_ttl(key, &value(v), ms(ttl)), |()| Answer::Done)
        }
        KeyCall::Delete => answered(db.delete(key), Answer::Removed),
        KeyCall::Get => Answer::Value(decode(db.get(key).unwrap())),
        KeyCall::Ttl => Answer::Ttl(db.ttl(key).unwrap()),
        KeyCall::Cas(expected, new) => answered(
            db.compare_and_swap(key, &value(expected), &value(new)),
            Answer::Swap,
        ),
        KeyCall::PutIfAbsent(v, None) => answered(db.put_if_absent(key, &value(v)), Answer::Stored),
        KeyCall::PutIfAbsent(v, Some(t)) => answered(
            db.put_if_absent_with_ttl(key, &value(v), ms(t)),
            Answer::Stored,
        ),
        KeyCall::Swap(v, ttl) => answered(
            db.transaction(|txn| {
                let old = txn.get(key)?;
                match ttl {
                    None => txn.put(key, &value(v))?,
                    Some(t) => txn.put_with_ttl(key, &value(v), ms(t))?,
                }
                Ok(old)
            }),
            |old| Answer::Value(decode(old)),
        ),
        KeyCall::Replace(v) => answered(
            db.fetch_update(key, |old| old.map(|_| value(v).to_vec())),
            |old| Answer::Value(decode(old)),
        ),
        KeyCall::Expire(ttl) => answered(db.expire(key, ms(ttl)), Answer::Stored),
        KeyCall::Persist => answered(db.persist(key), Answer::Stored),
    }
}

/// One thread's calls: values unique to the thread, compare-and-swaps
/// expecting a value it saw.
pub(crate) fn run_thread(
    db: &Db,
    clock: &ManualClock,
    order: &AtomicU64,
    thread: u64,
    seed: u64,
    fillers: bool,
) -> Vec<Record> {
    let mut rng = Rng(seed | 1);
    let mut seen = [None; KEYS.len()];
    let mut records = Vec::new();
    for i in 0..CALLS_PER_THREAD {
        if fillers && rng.below(2) == 0 {
            let filler = [FILLER, &thread.to_le_bytes(), &i.to_le_bytes()].concat();
            answered(db.put(&filler, &FILLER_VALUE), |()| Answer::Done);
        }
        let key = rng.below(KEYS.len() as u64) as usize;
        let fresh = (thread * 1000 + i) as u32;
        let ttl = TTLS_MS[rng.below(TTLS_MS.len() as u64) as usize];
        let c = match rng.below(20) {
            0 => Call::On(key, KeyCall::Put(fresh)),
            1 => Call::On(key, KeyCall::PutTtl(fresh, ttl)),
            2 => Call::On(key, KeyCall::Delete),
            3 => Call::On(key, KeyCall::Get),
            4 => Call::On(key, KeyCall::Ttl),
            5 => Call::On(key, KeyCall::Cas(seen[key].unwrap_or(fresh), fresh)),
            6 => Call::On(key, KeyCall::Swap(fresh, None)),
            7 => Call::On(key, KeyCall::Swap(fresh, Some(ttl))),
            8 => Call::On(key, KeyCall::Replace(fresh)),
            9 => Call::On(
                key,
                KeyCall::PutIfAbsent(fresh, [None, Some(ttl)][rng.below(2) as usize]),
            ),
            10 => Call::On(key, KeyCall::Expire(ttl)),
            11 => Call::On(key, KeyCall::Persist),
            12 => Call::PutBoth(fresh, None),
            13 => Call::PutBoth(fresh, Some(ttl)),
            14..=16 => Call::ReadBoth(
                [
                    Read::Snapshot,
                    Read::GetMany,
                    Read::Scan,
                    Read::Range,
                    Read::Walk,
                    Read::Index,
                    Read::IndexBack,
                ][rng.below(7) as usize],
            ),
            17 | 18 => Call::SwapBoth(
                fresh,
                [
                    TxnRead::Gets,
                    TxnRead::Scan,
                    TxnRead::RangeDesc,
                    TxnRead::IndexBack,
                    TxnRead::GetMany,
                ][rng.below(5) as usize],
            ),
            _ => Call::Advance,
        };
        let invoked = order.fetch_add(1, Ordering::SeqCst);
        let answer = call(db, clock, c);
        let answered = order.fetch_add(1, Ordering::SeqCst);
        match (c, answer) {
            (Call::On(key, _), Answer::Value(v)) => seen[key] = v,
            (_, Answer::Both(both)) => seen = both,
            _ => {}
        }
        records.push(Record {
            call: c,
            answer,
            invoked,
            answered,
        });
    }
    records
}
