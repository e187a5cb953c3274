//! The check of a round's change stream.

use std::collections::HashSet;

use kvdb::{CasOutcome, Change, Clock, Db, ManualClock, Watcher};

use crate::model::*;

/// Replays the change stream of a round: its sequence numbers run without a
/// gap or repeat, every value an acknowledged write stored under one of
/// the two keys is in it, and it ends where the database is. Returns how
/// many times it says each key was evicted.
pub(crate) fn check_change_stream(
    changes: &mut Watcher,
    db: &Db,
    clock: &ManualClock,
    calls: &[Record],
) -> [u32; 2] {
    let mut evictions = [0u32; 2];
    let mut replayed: State = [None; 2];
    let mut stored = HashSet::new();
    let mut last_seq = None;
    while let Some(event) = changes.try_next().unwrap() {
        if let Some(last) = last_seq {
            assert_eq!(event.seq, last + 1, "the change stream's numbers run on");
        }
        last_seq = Some(event.seq);
        let Some(at) = position(&event.key) else {
            continue;
        };
        replayed[at] = match event.change {
            Change::Put { value, expires_at } => {
                let value = decode(Some(value)).expect("a value");
                stored.insert(value);
                Some(Entry { value, expires_at })
            }
            Change::Evicted => {
                evictions[at] += 1;
                None
            }
            Change::Delete | Change::Expired => None,
        };
    }
    for record in calls {
        if let Some(value) = stored_by(record) {
            assert!(
                stored.contains(&value),
                "the change stream lacks the acknowledged {record:?}"
            );
        }
    }
    let now = clock.now_ms();
    for (at, key) in KEYS.iter().enumerate() {
        assert_eq!(
            decode(db.get(key).unwrap()),
            live(replayed[at], now).map(|e| e.value),
            "the change stream ends where the database is"
        );
    }
    evictions
}

/// The value `record`'s call stored, if it stored one (each call's values
/// are its own).
pub(crate) fn stored_by(record: &Record) -> Option<u32> {
    match (record.call, record.answer) {
        (_, Answer::Refused) => None,
        (Call::On(_, KeyCall::Put(v) | KeyCall::PutTtl(v, _) | KeyCall::Swap(v, _)), _) => Some(v),
        (Call::On(_, KeyCall::Cas(_, v)), Answer::Swap(CasOutcome::Swapped)) => Some(v),
        (Call::On(_, KeyCall::PutIfAbsent(v, _)), Answer::Stored(true)) => Some(v),
        (Call::On(_, KeyCall::Replace(v)), Answer::Value(Some(_))) => Some(v),
        (Call::PutBoth(v, _) | Call::SwapBoth(v, _), _) => Some(v),
        _ => None,
    }
}
