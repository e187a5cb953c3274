//! What a transaction observed, for commit validation: the keys it read
//! (present or absent) and the key ranges its iterators looked at.
//!
//! Reads are kept in one byte buffer (one allocation for a small
//! transaction's reads, none per read), so a read-only transaction's get
//! costs little more than a snapshot's.
//! Ranges are shared with the transaction's iterators (they may outlive a
//! borrow of the transaction), so they sit behind a mutex that only the
//! transaction's own thread takes.

use std::ops::Bound;
use std::sync::Arc;

use parking_lot::Mutex;

/// An owned key range.
pub(crate) type Range = (Bound<Vec<u8>>, Bound<Vec<u8>>);

/// The keys a transaction read, in the order read (duplicates allowed),
/// each stored as its length (4 bytes, native order) then its bytes, in one
/// buffer: a transaction's reads cost one allocation until they pass
/// [`ReadSet::FIRST_CAPACITY`] bytes.
#[derive(Default)]
pub(crate) struct ReadSet {
    bytes: Vec<u8>,
    count: usize,
}

impl ReadSet {
    /// Bytes reserved by the first read.
    const FIRST_CAPACITY: usize = 256;

    #[inline]
    pub(crate) fn add(&mut self, key: &[u8]) {
        if self.bytes.capacity() == 0 {
            self.bytes.reserve(Self::FIRST_CAPACITY.max(4 + key.len()));
        }
        // Keys are at most MAX_KEY_LEN bytes, far below u32::MAX.
        let len = u32::try_from(key.len()).expect("key length checked against MAX_KEY_LEN");
        self.bytes.extend_from_slice(&len.to_ne_bytes());
        self.bytes.extend_from_slice(key);
        self.count += 1;
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &[u8]> {
        let mut rest = self.bytes.as_slice();
        std::iter::from_fn(move || {
            let (len, tail) = rest.split_first_chunk::<4>()?;
            let (key, tail) = tail.split_at(u32::from_ne_bytes(*len) as usize);
            rest = tail;
            Some(key)
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.count
    }
}

/// The key ranges a transaction's iterators observed.
#[derive(Default, Clone)]
pub(crate) struct Observed(Arc<Mutex<Vec<Range>>>);

impl Observed {
    pub(crate) fn add(&self, lower: Bound<&[u8]>, upper: Bound<&[u8]>) {
        self.0
            .lock()
            .push((lower.map(<[u8]>::to_vec), upper.map(<[u8]>::to_vec)));
    }

    /// The ranges observed, sorted by lower bound and with overlapping or
    /// touching ranges merged, so that validation walks each key once.
    pub(crate) fn merged(&self) -> Vec<Range> {
        let mut ranges = {
            let observed = self.0.lock();
            if observed.is_empty() {
                return Vec::new();
            }
            observed.clone()
        };
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
        (Bound::Included(u), Bound::Included(l)) => l <= u,
        (Bound::Included(u), Bound::Excluded(l))
        | (Bound::Excluded(u), Bound::Included(l))
        | (Bound::Excluded(u), Bound::Excluded(l)) => l <= u,
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

    fn r(lo: Bound<&[u8]>, hi: Bound<&[u8]>) -> Range {
        (lo.map(<[u8]>::to_vec), hi.map(<[u8]>::to_vec))
    }

    #[test]
    fn reads_come_back_in_order() {
        let long = vec![9u8; 1000];
        let keys = [&b"a"[..], b"", &long, b"bcd"];
        let mut reads = ReadSet::default();
        for k in keys {
            reads.add(k);
        }
        assert_eq!(reads.iter().collect::<Vec<_>>(), keys);
        assert_eq!(reads.len(), 4);
    }

    #[test]
    fn ranges_merge_when_they_overlap_or_touch() {
        let o = Observed::default();
        o.add(Included(b"m"), Excluded(b"p"));
        o.add(Included(b"a"), Included(b"c"));
        o.add(Included(b"c"), Excluded(b"e"));
        o.add(Excluded(b"o"), Unbounded);
        assert_eq!(
            o.merged(),
            vec![
                r(Included(b"a"), Excluded(b"e")),
                r(Included(b"m"), Unbounded)
            ]
        );
        let o = Observed::default();
        o.add(Unbounded, Included(b"b"));
        o.add(Included(b"x"), Included(b"y"));
        assert_eq!(o.merged().len(), 2);
    }
}
