//! What a transaction observed, for commit validation: the keys it read
//! (present or absent), the key ranges its iterators looked at, and the
//! index entry ranges and records its index queries looked at.
//!
//! Reads are kept as [`KeyHash`]es: one 8-byte store per read, the first
//! eight inline (no allocation), so a read-only transaction's get costs
//! little more than a snapshot's.
//! Ranges are shared with the transaction's iterators (they may outlive a
//! borrow of the transaction), so they sit behind a mutex that only the
//! transaction's own thread takes.

use std::ops::Bound;
use std::sync::Arc;

use kvdb_core::KeyHash;
use parking_lot::Mutex;
use smallvec::SmallVec;

/// An owned key range.
pub(crate) type Range = (Bound<Vec<u8>>, Bound<Vec<u8>>);

/// The hashes of the keys a transaction read, in the order read
/// (duplicates allowed).
#[derive(Default)]
pub(crate) struct ReadSet(SmallVec<[KeyHash; 8]>);

impl ReadSet {
    #[inline]
    pub(crate) fn add(&mut self, hash: KeyHash) {
        self.0.push(hash);
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// The hashes read that are not among `written` (each key read and
    /// not written is validated on its own; a key read twice may appear
    /// twice).
    pub(crate) fn not_in<'a>(
        &'a self,
        written: &'a [KeyHash],
    ) -> impl Iterator<Item = KeyHash> + 'a {
        /// Up to this many writes, a linear search beats a hash set.
        const LINEAR: usize = 16;
        let set: Option<std::collections::HashSet<KeyHash>> =
            (written.len() > LINEAR).then(|| written.iter().copied().collect());
        self.0.iter().copied().filter(move |hash| match &set {
            Some(set) => !set.contains(hash),
            None => !written.contains(hash),
        })
    }
}

/// What a transaction's iterators and index queries observed.
#[derive(Default, Clone)]
pub(crate) struct Observed(Arc<Mutex<Seen>>);

#[derive(Default, Clone)]
struct Seen {
    /// Ranges of user keys.
    ranges: Vec<Range>,
    /// Ranges of index entry keys.
    index_ranges: Vec<Range>,
    /// Records read through an index.
    keys: Vec<KeyHash>,
}

/// What validation checks of what a transaction's iterators and index
/// queries observed.
#[derive(Default)]
pub(crate) struct ToValidate {
    /// User key ranges, merged (see [`merge`]).
    pub(crate) ranges: Vec<Range>,
    /// Index entry key ranges, merged.
    pub(crate) index_ranges: Vec<Range>,
    /// Records read through an index.
    pub(crate) keys: Vec<KeyHash>,
}

impl Observed {
    pub(crate) fn add(&self, lower: Bound<&[u8]>, upper: Bound<&[u8]>) {
        self.0.lock().ranges.push(owned(lower, upper));
    }

    /// Records that an index query looked at every entry key in the range.
    pub(crate) fn add_index_range(&self, lower: Bound<&[u8]>, upper: Bound<&[u8]>) {
        self.0.lock().index_ranges.push(owned(lower, upper));
    }

    /// Records that an index query read the record with this key hash.
    pub(crate) fn add_key(&self, hash: KeyHash) {
        self.0.lock().keys.push(hash);
    }

    /// What was observed, with ranges merged.
    pub(crate) fn to_validate(&self) -> ToValidate {
        let seen = self.0.lock().clone();
        ToValidate {
            ranges: merge(seen.ranges),
            index_ranges: merge(seen.index_ranges),
            keys: seen.keys,
        }
    }
}

fn owned(lower: Bound<&[u8]>, upper: Bound<&[u8]>) -> Range {
    (lower.map(<[u8]>::to_vec), upper.map(<[u8]>::to_vec))
}

/// `ranges` sorted by lower bound, with overlapping or touching ranges
/// merged, so that validation walks each key once.
fn merge(mut ranges: Vec<Range>) -> Vec<Range> {
    if ranges.is_empty() {
        return ranges;
    }
    ranges.sort_by(|a, b| compare_lower(&a.0, &b.0));
    let mut merged: Vec<Range> = Vec::with_capacity(ranges.len());
    for range in ranges {
        match merged.last_mut() {
            Some(last) if touches(&last.1, &range.0) => {
                if upper_below(&last.1, &range.1) {
                    last.1 = range.1;
                }
            }
            _ => merged.push(range),
        }
    }
    merged
}

fn compare_lower(a: &Bound<Vec<u8>>, b: &Bound<Vec<u8>>) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    match (a, b) {
        (Bound::Unbounded, Bound::Unbounded) => Equal,
        (Bound::Unbounded, _) => Less,
        (_, Bound::Unbounded) => Greater,
        (Bound::Included(x), Bound::Included(y)) | (Bound::Excluded(x), Bound::Excluded(y)) => {
            x.cmp(y)
        }
        (Bound::Included(x), Bound::Excluded(y)) => x.cmp(y).then(Less),
        (Bound::Excluded(x), Bound::Included(y)) => x.cmp(y).then(Greater),
    }
}

/// True if a range ending at `upper` overlaps or touches one starting at
/// `lower` (which starts at or after the first one's start).
fn touches(upper: &Bound<Vec<u8>>, lower: &Bound<Vec<u8>>) -> bool {
    match (upper, lower) {
        (Bound::Unbounded, _) | (_, Bound::Unbounded) => true,
        (Bound::Included(u), Bound::Included(l))
        | (Bound::Included(u), Bound::Excluded(l))
        | (Bound::Excluded(u), Bound::Included(l)) => l <= u,
        // Both leave out the key they meet at: merged, they would cover it.
        (Bound::Excluded(u), Bound::Excluded(l)) => l < u,
    }
}

/// True if upper bound `a` is below upper bound `b`.
fn upper_below(a: &Bound<Vec<u8>>, b: &Bound<Vec<u8>>) -> bool {
    match (a, b) {
        (Bound::Unbounded, _) => false,
        (_, Bound::Unbounded) => true,
        (Bound::Included(x), Bound::Included(y)) | (Bound::Excluded(x), Bound::Excluded(y)) => {
            x < y
        }
        (Bound::Included(x), Bound::Excluded(y)) => x < y,
        (Bound::Excluded(x), Bound::Included(y)) => x <= y,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Bound::*;

    #[test]
    fn reads_that_are_also_written_are_left_out() {
        let store = kvdb_core::Store::new();
        let view = store.snapshot();
        let h = |k: &[u8]| view.key_hash(k);
        for writes in [2usize, 40] {
            let mut set = ReadSet::default();
            set.add(h(b"read"));
            set.add(h(b"both"));
            let written: Vec<KeyHash> = (0..writes)
                .map(|i| h(format!("w{i}").as_bytes()))
                .chain([h(b"both")])
                .collect();
            assert_eq!(set.not_in(&written).collect::<Vec<_>>(), vec![h(b"read")]);
        }
    }

    #[test]
    fn ranges_merge_when_they_overlap_or_touch() {
        let o = Observed::default();
        o.add(Included(b"m"), Excluded(b"p"));
        o.add(Included(b"a"), Included(b"c"));
        o.add(Included(b"c"), Excluded(b"e"));
        o.add(Excluded(b"o"), Unbounded);
        assert_eq!(
            o.to_validate().ranges,
            vec![
                owned(Included(b"a"), Excluded(b"e")),
                owned(Included(b"m"), Unbounded)
            ]
        );
        let o = Observed::default();
        o.add(Unbounded, Included(b"b"));
        o.add(Included(b"x"), Included(b"y"));
        assert_eq!(o.to_validate().ranges.len(), 2);
    }

    #[test]
    fn ranges_on_either_side_of_a_key_both_exclude_stay_apart() {
        let o = Observed::default();
        o.add(Unbounded, Excluded(b"k"));
        o.add(Excluded(b"k"), Unbounded);
        assert_eq!(
            o.to_validate().ranges,
            vec![
                owned(Unbounded, Excluded(b"k")),
                owned(Excluded(b"k"), Unbounded)
            ],
            "\"k\" was not observed"
        );
        // Either side including the key covers it.
        let o = Observed::default();
        o.add(Unbounded, Included(b"k"));
        o.add(Excluded(b"k"), Unbounded);
        assert_eq!(o.to_validate().ranges, vec![owned(Unbounded, Unbounded)]);
    }
}
