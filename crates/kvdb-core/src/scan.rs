//! Directional scanning of the ordered index in small batches.
//!
//! A scanner fetches up to [`FETCH`] chains at a time under a short-lived
//! epoch guard and hands them out one by one, so that a long scan neither
//! holds a guard (which would stall memory reclamation for everyone) nor pays
//! a full index search per key. Which version of each key a reader sees is
//! decided by the caller's view, not here.

use std::collections::VecDeque;
use std::ops::Bound;

use crossbeam_epoch as epoch;

use crate::chain::ChainRef;
use crate::index::KeyIndex;

/// Chains fetched per index search.
pub(crate) const FETCH: usize = 32;

/// The direction of a scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Ascending key order.
    Forward,
    /// Descending key order.
    Backward,
}

/// A one-directional walk over the index from a starting bound.
pub(crate) struct Scanner {
    dir: Direction,
    /// Where the next fetch starts: the lower bound going forward, the upper
    /// bound going backward.
    from: Bound<Box<[u8]>>,
    buf: VecDeque<ChainRef>,
    exhausted: bool,
}

impl Scanner {
    pub(crate) fn new(dir: Direction, from: Bound<Box<[u8]>>) -> Self {
        Self {
            dir,
            from,
            buf: VecDeque::with_capacity(FETCH),
            exhausted: false,
        }
    }

    pub(crate) fn direction(&self) -> Direction {
        self.dir
    }

    /// The next chain in scan order that lies within `limit` (the upper bound
    /// going forward, the lower bound going backward).
    pub(crate) fn next_chain(&mut self, index: &KeyIndex, limit: Bound<&[u8]>) -> Option<ChainRef> {
        if self.buf.is_empty() && !self.exhausted {
            self.refill(index, limit);
        }
        self.buf.pop_front()
    }

    fn refill(&mut self, index: &KeyIndex, limit: Bound<&[u8]>) {
        let guard = epoch::pin();
        let from = self.from.as_ref().map(|k| &**k);
        match self.dir {
            Direction::Forward => self
                .buf
                .extend(index.range(from, limit, &guard).take(FETCH).cloned()),
            Direction::Backward => self
                .buf
                .extend(index.range(limit, from, &guard).rev().take(FETCH).cloned()),
        }
        if self.buf.len() < FETCH {
            self.exhausted = true;
        }
        if let Some(last) = self.buf.back() {
            self.from = Bound::Excluded(last.key().into());
        }
    }
}

/// The more restrictive of two lower bounds.
pub(crate) fn tighter_lower<'a>(a: Bound<&'a [u8]>, b: Bound<&'a [u8]>) -> Bound<&'a [u8]> {
    use Bound::*;
    match (a, b) {
        (Unbounded, x) | (x, Unbounded) => x,
        (Included(x), Included(y)) => Included(x.max(y)),
        (Excluded(x), Excluded(y)) => Excluded(x.max(y)),
        (Included(i), Excluded(e)) | (Excluded(e), Included(i)) => {
            if i > e {
                Included(i)
            } else {
                Excluded(e)
            }
        }
    }
}

/// The more restrictive of two upper bounds.
pub(crate) fn tighter_upper<'a>(a: Bound<&'a [u8]>, b: Bound<&'a [u8]>) -> Bound<&'a [u8]> {
    use Bound::*;
    match (a, b) {
        (Unbounded, x) | (x, Unbounded) => x,
        (Included(x), Included(y)) => Included(x.min(y)),
        (Excluded(x), Excluded(y)) => Excluded(x.min(y)),
        (Included(i), Excluded(e)) | (Excluded(e), Included(i)) => {
            if i < e {
                Included(i)
            } else {
                Excluded(e)
            }
        }
    }
}

/// An owned copy of a borrowed bound.
pub(crate) fn to_owned_bound(bound: Bound<&[u8]>) -> Bound<Box<[u8]>> {
    bound.map(Box::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Bound::*;

    #[test]
    fn scanner_walks_in_batches_both_ways() {
        let index = KeyIndex::new();
        let guard = epoch::pin();
        let keys: Vec<Vec<u8>> = (0..100u32).map(|i| i.to_be_bytes().to_vec()).collect();
        for k in &keys {
            index.get_or_insert(k, &guard);
        }
        drop(guard);
        let mut fwd = Scanner::new(Direction::Forward, Unbounded);
        let mut seen = Vec::new();
        while let Some(c) = fwd.next_chain(&index, Unbounded) {
            seen.push(c.key().to_vec());
        }
        assert_eq!(seen, keys);
        let mut back = Scanner::new(Direction::Backward, Excluded(keys[50].clone().into()));
        let limit = Included(&keys[10][..]);
        let mut seen = Vec::new();
        while let Some(c) = back.next_chain(&index, limit) {
            seen.push(c.key().to_vec());
        }
        let expected: Vec<Vec<u8>> = keys[10..50].iter().rev().cloned().collect();
        assert_eq!(seen, expected);
    }

    #[test]
    fn bound_intersections() {
        assert_eq!(
            tighter_lower(Included(b"a"), Excluded(b"a")),
            Excluded(&b"a"[..])
        );
        assert_eq!(
            tighter_lower(Included(b"b"), Excluded(b"a")),
            Included(&b"b"[..])
        );
        assert_eq!(
            tighter_lower(Unbounded, Included(b"x")),
            Included(&b"x"[..])
        );
        assert_eq!(
            tighter_upper(Included(b"a"), Excluded(b"a")),
            Excluded(&b"a"[..])
        );
        assert_eq!(
            tighter_upper(Included(b"a"), Excluded(b"b")),
            Included(&b"a"[..])
        );
        assert_eq!(
            tighter_upper(Excluded(b"c"), Excluded(b"b")),
            Excluded(&b"b"[..])
        );
    }
}
