//! A transaction's cursor: its own pending writes merged over its read view,
//! in key order, both directions. Its deletes hide keys, its puts replace
//! values or add keys; what it looks at counts for commit validation.
//!
//! A cursor over a requested range (a prefix or bounded range) registers
//! that whole range with the transaction when it is made. An unbounded
//! cursor registers what it actually looks at: every movement adds the span
//! from where it started to the key it stopped on — or to the end, if it
//! ran off it — so the gap up to the key that ended a scan counts too.

use std::ops::Bound;
use std::sync::Arc;

use kvdb_core::Cursor;

use super::tracking::Observed;
use super::writes::{Pending, WriteSet};

/// A transaction's pending writes, shared copy-on-write with its cursors.
pub(crate) type Writes = Arc<WriteSet>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    Forward,
    Backward,
}

/// Where the cursor stands.
struct Position {
    key: Vec<u8>,
    /// The value comes from the transaction's writes, not the view.
    pending: bool,
}

/// A cursor over a transaction's writes merged onto its view. Made by
/// [`crate::Txn::cursor`]; not positioned until a seek. It sees the
/// transaction's writes as they were when it was made.
pub struct TxnCursor {
    base: Cursor,
    writes: Writes,
    lower: Bound<Vec<u8>>,
    upper: Bound<Vec<u8>>,
    /// Where movements are recorded (unbounded cursors only).
    observed: Option<Observed>,
    dir: Dir,
    at: Option<Position>,
}

fn as_ref(b: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    b.as_ref().map(Vec::as_slice)
}

pub(super) fn below_upper(key: &[u8], upper: Bound<&[u8]>) -> bool {
    match upper {
        Bound::Unbounded => true,
        Bound::Included(u) => key <= u,
        Bound::Excluded(u) => key < u,
    }
}

pub(super) fn above_lower(key: &[u8], lower: Bound<&[u8]>) -> bool {
    match lower {
        Bound::Unbounded => true,
        Bound::Included(l) => key >= l,
        Bound::Excluded(l) => key > l,
    }
}

impl TxnCursor {
    pub(crate) fn new(
        base: Cursor,
        writes: Writes,
        range: (Bound<Vec<u8>>, Bound<Vec<u8>>),
        observed: Observed,
    ) -> Self {
        let bounded = !matches!(range, (Bound::Unbounded, Bound::Unbounded));
        if bounded {
            observed.add(as_ref(&range.0), as_ref(&range.1));
        }
        Self {
            base,
            writes,
            lower: range.0,
            upper: range.1,
            observed: (!bounded).then_some(observed),
            dir: Dir::Forward,
            at: None,
        }
    }

    fn record(&self, lower: Bound<&[u8]>, upper: Bound<&[u8]>) {
        if let Some(observed) = &self.observed {
            observed.add(lower, upper);
        }
    }

    /// The first pending write at or after `from` (forward) within the range.
    fn next_write(&self, from: Bound<&[u8]>) -> Option<(&[u8], &Pending)> {
        self.writes
            .range((from, Bound::Unbounded))
            .next()
            .filter(|(k, _)| {
                below_upper(k, as_ref(&self.upper)) && above_lower(k, as_ref(&self.lower))
            })
    }

    /// The last pending write at or before `from` within the range.
    fn prev_write(&self, from: Bound<&[u8]>) -> Option<(&[u8], &Pending)> {
        self.writes
            .range((Bound::Unbounded, from))
            .next_back()
            .filter(|(k, _)| {
                above_lower(k, as_ref(&self.lower)) && below_upper(k, as_ref(&self.upper))
            })
    }

    /// With the view's cursor on the first key at or after `from`, stands
    /// on the first key of the merged view there.
    fn settle_forward(&mut self, mut from: Bound<Vec<u8>>) {
        self.dir = Dir::Forward;
        let start = from.clone();
        loop {
            let base = self.base.key().map(<[u8]>::to_vec);
            let write = self
                .next_write(as_ref(&from))
                .map(|(k, p)| (k.to_vec(), matches!(p, Pending::Delete)));
            let (key, pending, deleted) = match (base, write) {
                (None, None) => {
                    self.at = None;
                    self.record(as_ref(&start), as_ref(&self.upper.clone()));
                    return;
                }
                (Some(b), None) => (b, false, false),
                (None, Some((w, del))) => (w, true, del),
                (Some(b), Some((w, del))) => {
                    if w <= b {
                        (w, true, del)
                    } else {
                        (b, false, false)
                    }
                }
            };
            if deleted {
                if self.base.key() == Some(key.as_slice()) {
                    self.base.next();
                }
                from = Bound::Excluded(key);
                continue;
            }
            self.record(as_ref(&start), Bound::Included(&key));
            self.at = Some(Position { key, pending });
            return;
        }
    }

    /// With the view's cursor on the last key at or before `from`, stands
    /// on the last key of the merged view there.
    fn settle_backward(&mut self, mut from: Bound<Vec<u8>>) {
        self.dir = Dir::Backward;
        let start = from.clone();
        loop {
            let base = self.base.key().map(<[u8]>::to_vec);
            let write = self
                .prev_write(as_ref(&from))
                .map(|(k, p)| (k.to_vec(), matches!(p, Pending::Delete)));
            let (key, pending, deleted) = match (base, write) {
                (None, None) => {
                    self.at = None;
                    self.record(as_ref(&self.lower.clone()), as_ref(&start));
                    return;
                }
                (Some(b), None) => (b, false, false),
                (None, Some((w, del))) => (w, true, del),
                (Some(b), Some((w, del))) => {
                    if w >= b {
                        (w, true, del)
                    } else {
                        (b, false, false)
                    }
                }
            };
            if deleted {
                if self.base.key() == Some(key.as_slice()) {
                    self.base.prev();
                }
                from = Bound::Excluded(key);
                continue;
            }
            self.record(Bound::Included(&key), as_ref(&start));
            self.at = Some(Position { key, pending });
            return;
        }
    }

    /// Positions on the first key of the range.
    pub fn seek_to_first(&mut self) {
        self.base.seek_to_first();
        self.settle_forward(self.lower.clone());
    }

    /// Positions on the last key of the range.
    pub fn seek_to_last(&mut self) {
        self.base.seek_to_last();
        self.settle_backward(self.upper.clone());
    }

    /// Positions on the first key at or after `key`.
    pub fn seek(&mut self, key: &[u8]) {
        self.base.seek(key);
        let from = if above_lower(key, as_ref(&self.lower)) {
            Bound::Included(key.to_vec())
        } else {
            self.lower.clone()
        };
        self.settle_forward(from);
    }

    /// Positions on the last key at or before `key`.
    pub fn seek_for_prev(&mut self, key: &[u8]) {
        self.base.seek_for_prev(key);
        let from = if below_upper(key, as_ref(&self.upper)) {
            Bound::Included(key.to_vec())
        } else {
            self.upper.clone()
        };
        self.settle_backward(from);
    }

    /// Steps to the next key; does nothing on an invalid cursor.
    pub fn next(&mut self) {
        let Some(at) = self.at.take() else { return };
        if self.dir == Dir::Backward {
            self.base.seek(&at.key);
        }
        if self.base.key() == Some(at.key.as_slice()) {
            self.base.next();
        }
        self.settle_forward(Bound::Excluded(at.key));
    }

    /// Steps to the previous key; does nothing on an invalid cursor.
    pub fn prev(&mut self) {
        let Some(at) = self.at.take() else { return };
        if self.dir == Dir::Forward {
            self.base.seek_for_prev(&at.key);
        }
        if self.base.key() == Some(at.key.as_slice()) {
            self.base.prev();
        }
        self.settle_backward(Bound::Excluded(at.key));
    }

    /// True if this process is a `fork()` child of the one that made the
    /// cursor.
    pub fn is_inherited_across_fork(&self) -> bool {
        self.base.view().is_inherited_across_fork()
    }

    /// Leaves the cursor unpositioned until the next seek.
    pub fn reset(&mut self) {
        self.base.reset();
        self.at = None;
    }

    /// True when the cursor stands on a key.
    pub fn valid(&self) -> bool {
        self.at.is_some()
    }

    /// The current key, borrowed until the cursor moves.
    pub fn key(&self) -> Option<&[u8]> {
        self.at.as_ref().map(|p| p.key.as_slice())
    }

    /// The current value, borrowed until the cursor moves.
    pub fn value(&self) -> Option<&[u8]> {
        let at = self.at.as_ref()?;
        if at.pending {
            self.writes.get(&at.key).and_then(|p| self.writes.value(p))
        } else {
            self.base.value()
        }
    }
}

impl std::fmt::Debug for TxnCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TxnCursor")
            .field("key", &self.key().map(|k| k.escape_ascii().to_string()))
            .finish()
    }
}

/// An iterator of owned `(key, value)` pairs over a transaction's merged
/// view, in ascending or descending key order.
#[derive(Debug)]
pub struct TxnIter {
    cursor: TxnCursor,
    descending: bool,
    started: bool,
}

impl TxnIter {
    pub(crate) fn new(cursor: TxnCursor, descending: bool) -> Self {
        Self {
            cursor,
            descending,
            started: false,
        }
    }
}

impl Iterator for TxnIter {
    type Item = (Vec<u8>, Vec<u8>);

    fn next(&mut self) -> Option<Self::Item> {
        match (self.started, self.descending) {
            (false, false) => self.cursor.seek_to_first(),
            (false, true) => self.cursor.seek_to_last(),
            (true, false) => self.cursor.next(),
            (true, true) => self.cursor.prev(),
        }
        self.started = true;
        Some((self.cursor.key()?.to_vec(), self.cursor.value()?.to_vec()))
    }
}
