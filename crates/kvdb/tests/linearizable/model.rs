//! The object the calls act on, as the search sees it: the two keys'
//! entries, the calls and their answers, and what each call does to the
//! entries at a given reading of the clock.

use std::time::Duration;

use kvdb::{CasOutcome, Ttl};

/// The two keys every searched call is on.
pub(crate) const KEYS: [&[u8]; 2] = [b"a", b"b"];
/// Keys of no call's concern, put between calls to fill a memory limit.
pub(crate) const FILLER: &[u8] = b"filler";
/// A filler's value: a few of them fill the limit.
pub(crate) const FILLER_VALUE: [u8; 1000] = [7; 1000];
/// A secondary index on the whole (4-byte) value.
pub(crate) const INDEX: &str = "value";

/// The clock's reading when a round starts (ms).
pub(crate) const START_MS: u64 = 1_000_000;
/// How far one `Advance` moves the clock (ms).
pub(crate) const STEP_MS: u64 = 4;
/// The TTLs calls set (ms): one step, within two, four: some expire
/// exactly at a reading, some between readings.
pub(crate) const TTLS_MS: [u64; 3] = [4, 7, 16];

/// What one key holds: a value and its expiry time. An expired entry stays
/// until written over, since a call whose span began before the clock
/// passed its expiry may still read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Entry {
    pub(crate) value: u32,
    pub(crate) expires_at: Option<u64>,
}

/// The two keys' entries (none: absent).
pub(crate) type State = [Option<Entry>; 2];

/// The two keys' values as a call read them (none: absent or expired).
pub(crate) type Pair = [Option<u32>; 2];

#[derive(Debug, Clone, Copy)]
pub(crate) enum Call {
    /// A call on one key.
    On(usize, KeyCall),
    /// A batch putting this value under both keys, with this TTL if any.
    PutBoth(u32, Option<u64>),
    /// A read of both keys at one view.
    ReadBoth(Read),
    /// A transaction that reads both keys so and puts this value under
    /// both.
    SwapBoth(u32, TxnRead),
    /// Moves the clock forward by [`STEP_MS`]; not searched, it only
    /// bounds the times other calls may have read.
    Advance,
}

/// How a call reads both keys at one view.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Read {
    /// Two gets through a snapshot.
    Snapshot,
    /// A multi-get.
    GetMany,
    /// An iterator over the whole database.
    Scan,
    /// An iterator over the range from the first key to the second,
    /// bounds included.
    Range,
    /// A cursor from the last key back to the first, then forward to the
    /// last again (both walks must agree).
    Walk,
    /// A query of the secondary index on values, in index order.
    Index,
    /// The same query, from its end.
    IndexBack,
}

/// How a transaction reads both keys.
#[derive(Debug, Clone, Copy)]
pub(crate) enum TxnRead {
    Gets,
    /// A multi-get.
    GetMany,
    /// Through its iterator (its writes merged over its view).
    Scan,
    /// Through its iterator over the two keys' range, descending.
    RangeDesc,
    /// Through a query of the index, from the end.
    IndexBack,
}

impl Call {
    pub(crate) fn is_advance(&self) -> bool {
        match self {
            Call::Advance => true,
            Call::On(..) | Call::PutBoth(..) | Call::ReadBoth(_) | Call::SwapBoth(..) => false,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum KeyCall {
    Put(u32),
    PutTtl(u32, u64),
    Delete,
    Get,
    Ttl,
    Cas(u32, u32),
    /// A put if absent, with this TTL if any (counted from the reading
    /// the key was found absent at).
    PutIfAbsent(u32, Option<u64>),
    /// A transaction that reads the key and puts this value over it, with
    /// this TTL if any (retried by `Db::transaction` on conflict).
    Swap(u32, Option<u64>),
    /// `fetch_update` replacing a present value with this one (an absent
    /// key stays absent: nothing is written).
    Replace(u32),
    Expire(u64),
    Persist,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Answer {
    Done,
    Removed(bool),
    Value(Option<u32>),
    Ttl(Option<Ttl>),
    Swap(CasOutcome),
    Stored(bool),
    Both(Pair),
    /// Refused for memory: nothing applied.
    Refused,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Record {
    pub(crate) call: Call,
    pub(crate) answer: Answer,
    pub(crate) invoked: u64,
    pub(crate) answered: u64,
}

/// `entry` if it is live at `now`.
pub(crate) fn live(entry: Option<Entry>, now: u64) -> Option<Entry> {
    entry.filter(|e| e.expires_at.is_none_or(|at| at > now))
}

pub(crate) fn both_live(state: State, now: u64) -> Pair {
    state.map(|e| live(e, now).map(|e| e.value))
}

/// Which readings of the clock a call judges expiry at and counts TTLs
/// from.
enum Readings {
    /// One reading, taken once the call knows which writes it sees: no
    /// earlier than the reading of any write ordered before it.
    Read,
    /// One reading, taken holding the write lock, for both: at or after
    /// the reading of every write ordered before it.
    Write,
    /// A transaction: it reads at its view's reading, and counts TTLs from
    /// the reading its commit takes holding the write lock, as a write.
    Txn,
}

fn readings(call: Call) -> Readings {
    match call {
        Call::On(_, KeyCall::Get | KeyCall::Ttl) | Call::ReadBoth(_) => Readings::Read,
        Call::On(_, KeyCall::Swap(..)) | Call::SwapBoth(..) => Readings::Txn,
        Call::On(_, _) | Call::PutBoth(..) => Readings::Write,
        Call::Advance => unreachable!("advances are not searched"),
    }
}

/// What `call` does to the keys holding `state`, and what it answers, for
/// each reading it may have taken from `clocks`, when the writes ordered
/// before it took readings up to `written`; with each outcome, the
/// reading of the newest write after it. Writes hold the write lock in
/// the order they take effect, so their readings never go back. Of the
/// readings that give one outcome, the earliest is kept: it constrains the
/// writes after it least.
pub(crate) fn apply(
    state: State,
    call: Call,
    clocks: &[u64],
    written: u64,
) -> Vec<(State, Answer, u64)> {
    let mut outcomes: Vec<(State, Answer, u64)> = Vec::new();
    let mut add = |(next, answer): (State, Answer), newest: u64| match outcomes
        .iter_mut()
        .find(|o| o.0 == next && o.1 == answer)
    {
        Some(outcome) => outcome.2 = outcome.2.min(newest),
        None => outcomes.push((next, answer, newest)),
    };
    let after = |at: u64| clocks.iter().copied().filter(move |&c| c >= at);
    match readings(call) {
        Readings::Read => {
            for now in after(written) {
                add(apply_at(state, call, now, now), written);
            }
        }
        Readings::Write => {
            for now in after(written) {
                add(apply_at(state, call, now, now), now);
            }
        }
        Readings::Txn => {
            for &now in clocks {
                for from in after(written.max(now)) {
                    add(apply_at(state, call, now, from), from);
                }
            }
        }
    }
    outcomes
}

pub(crate) fn apply_at(state: State, call: Call, now: u64, from: u64) -> (State, Answer) {
    match call {
        Call::On(key, call) => {
            let (entry, answer) = apply_to_key(state[key], call, now, from);
            let mut next = state;
            next[key] = entry;
            (next, answer)
        }
        Call::PutBoth(value, ttl) => {
            let expires_at = ttl.map(|ttl| from + ttl);
            ([Some(Entry { value, expires_at }); 2], Answer::Done)
        }
        Call::ReadBoth(_) => (state, Answer::Both(both_live(state, now))),
        Call::SwapBoth(value, _) => (
            [Some(Entry {
                value,
                expires_at: None,
            }); 2],
            Answer::Both(both_live(state, now)),
        ),
        Call::Advance => unreachable!("advances are not searched"),
    }
}

/// What `call` does to one key holding `entry`, and what it answers, with
/// expiry judged at `now` and TTLs counted from `from`.
pub(crate) fn apply_to_key(
    entry: Option<Entry>,
    call: KeyCall,
    now: u64,
    from: u64,
) -> (Option<Entry>, Answer) {
    let found = live(entry, now);
    let put = |value, ttl: Option<u64>| {
        Some(Entry {
            value,
            expires_at: ttl.map(|ttl| from + ttl),
        })
    };
    match call {
        KeyCall::Put(v) => (put(v, None), Answer::Done),
        KeyCall::PutTtl(v, ttl) => (put(v, Some(ttl)), Answer::Done),
        // Deleting what expired writes nothing a reader could tell from
        // the expired entry.
        KeyCall::Delete => match found {
            None => (entry, Answer::Removed(false)),
            Some(_) => (None, Answer::Removed(true)),
        },
        KeyCall::Get => (entry, Answer::Value(found.map(|e| e.value))),
        KeyCall::Ttl => (
            entry,
            Answer::Ttl(found.map(|e| match e.expires_at {
                None => Ttl::Persistent,
                Some(at) => Ttl::Expires(Duration::from_millis(at - now)),
            })),
        ),
        KeyCall::Cas(expected, new) => match found {
            None => (entry, Answer::Swap(CasOutcome::NotFound)),
            Some(e) if e.value == expected => (
                Some(Entry { value: new, ..e }),
                Answer::Swap(CasOutcome::Swapped),
            ),
            Some(_) => (entry, Answer::Swap(CasOutcome::Mismatch)),
        },
        KeyCall::PutIfAbsent(value, ttl) => match found {
            None => (
                Some(Entry {
                    value,
                    expires_at: ttl.map(|ttl| now + ttl),
                }),
                Answer::Stored(true),
            ),
            Some(_) => (entry, Answer::Stored(false)),
        },
        KeyCall::Swap(v, ttl) => (put(v, ttl), Answer::Value(found.map(|e| e.value))),
        KeyCall::Replace(v) => match found {
            None => (entry, Answer::Value(None)),
            Some(e) => (Some(Entry { value: v, ..e }), Answer::Value(Some(e.value))),
        },
        // The new TTL counts from the reading the key was found live at.
        KeyCall::Expire(ttl) => match found {
            None => (entry, Answer::Stored(false)),
            Some(e) => (
                Some(Entry {
                    value: e.value,
                    expires_at: Some(now + ttl),
                }),
                Answer::Stored(true),
            ),
        },
        KeyCall::Persist => match found {
            None => (entry, Answer::Stored(false)),
            Some(e) => (put(e.value, None), Answer::Stored(true)),
        },
    }
}

pub(crate) fn decode(value: Option<Vec<u8>>) -> Option<u32> {
    value.map(|v| u32::from_le_bytes(v.try_into().expect("4-byte values")))
}

/// Which of the two keys `key` is; none for a filler.
pub(crate) fn position(key: &[u8]) -> Option<usize> {
    let at = KEYS.iter().position(|k| *k == key);
    assert!(
        at.is_some() || key.starts_with(FILLER),
        "an unknown key {key:?}"
    );
    at
}
