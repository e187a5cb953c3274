//! What a `kvdb_iter_t` walks: a read view's cursor, or a transaction's
//! cursor (its writes merged over its view). Both move and read the same
//! way; this type gives the C functions one thing to call.

use engine::{Cursor, TxnCursor};

/// The cursor behind a `kvdb_iter_t`.
pub(crate) enum IterCursor {
    /// Over a snapshot or a view taken when the iterator was made.
    View(Cursor),
    /// Over a transaction's writes merged onto its view.
    Txn(TxnCursor),
}

macro_rules! both {
    ($self:expr, $c:ident => $e:expr) => {
        match $self {
            IterCursor::View($c) => $e,
            IterCursor::Txn($c) => $e,
        }
    };
}

impl IterCursor {
    pub(crate) fn seek_to_first(&mut self) {
        both!(self, c => c.seek_to_first())
    }

    pub(crate) fn seek_to_last(&mut self) {
        both!(self, c => c.seek_to_last())
    }

    pub(crate) fn seek(&mut self, key: &[u8]) {
        both!(self, c => c.seek(key))
    }

    pub(crate) fn seek_for_prev(&mut self, key: &[u8]) {
        both!(self, c => c.seek_for_prev(key))
    }

    pub(crate) fn next(&mut self) {
        both!(self, c => c.next())
    }

    pub(crate) fn prev(&mut self) {
        both!(self, c => c.prev())
    }

    pub(crate) fn reset(&mut self) {
        both!(self, c => c.reset())
    }

    pub(crate) fn valid(&self) -> bool {
        both!(self, c => c.valid())
    }

    pub(crate) fn key(&self) -> Option<&[u8]> {
        both!(self, c => c.key())
    }

    pub(crate) fn value(&self) -> Option<&[u8]> {
        both!(self, c => c.value())
    }

    /// Hands the current pair and those after it (`forward`) or before it
    /// to `take` until it returns false, `max` pairs were taken or the range
    /// ends, and leaves the cursor on the first pair not taken; returns how
    /// many were taken.
    pub(crate) fn take_batch(
        &mut self,
        forward: bool,
        max: usize,
        mut take: impl FnMut(&[u8], &[u8]) -> bool,
    ) -> usize {
        match self {
            IterCursor::View(c) => c.take_batch(forward, max, take),
            IterCursor::Txn(c) => {
                let mut taken = 0;
                while taken < max {
                    let (Some(key), Some(value)) = (c.key(), c.value()) else {
                        break;
                    };
                    if !take(key, value) {
                        break;
                    }
                    taken += 1;
                    if forward {
                        c.next();
                    } else {
                        c.prev();
                    }
                }
                taken
            }
        }
    }

    /// True in a `fork()` child of the process that made the cursor.
    pub(crate) fn inherited_across_fork(&self) -> bool {
        match self {
            IterCursor::View(c) => c.view().is_inherited_across_fork(),
            IterCursor::Txn(c) => c.is_inherited_across_fork(),
        }
    }
}
