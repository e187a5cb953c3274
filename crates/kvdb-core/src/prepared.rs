//! The one shape every write takes on its way into the store.
//!
//! 1. [`PreparedBatch::new`] checks every operation, once. Nothing later on
//!    the write path checks sizes again, and applying a prepared batch
//!    cannot fail for what it holds.
//! 2. The batch gets its sequence numbers once, as a [`SeqRange`]: from the
//!    holder of the write lock ([`crate::Writer::assign`]) for a new write,
//!    or from a log record when a log is replayed. The same range goes into
//!    the log record and into the store.
//! 3. [`crate::Writer::apply`] installs the batch at that range, invisible to
//!    readers, and returns an [`Applied`] receipt.
//! 4. [`crate::Store::publish`] takes the receipt: only an applied batch can
//!    be made visible, and it is made visible whole.

use crate::error::CoreError;
use crate::writer::Op;

/// A batch of operations whose keys and values are within the limits.
#[derive(Debug, Clone, Copy)]
pub struct PreparedBatch<'a> {
    ops: &'a [Op<'a>],
    index_ops: &'a [IndexOp<'a>],
}

/// A write to the index key space ([`crate::Space::Index`]) that goes with
/// operation `at` of a batch: it takes that operation's sequence number, so
/// it becomes visible, and is kept for views, exactly as that operation.
/// Index operations take no sequence numbers of their own and are not part
/// of [`PreparedBatch::ops`] (what a log records).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexOp<'a> {
    /// The position in the batch's operations whose number this one takes.
    pub at: usize,
    /// The write, to the index key space.
    pub op: Op<'a>,
}

impl<'a> PreparedBatch<'a> {
    /// Checks every operation of `ops`: the first key or value over its
    /// limit fails the whole batch.
    pub fn new(ops: &'a [Op<'a>]) -> Result<Self, CoreError> {
        for op in ops {
            op.check()?;
        }
        Ok(Self {
            ops,
            index_ops: &[],
        })
    }

    /// The same batch, with `index_ops` applied alongside. Each must name
    /// an operation of the batch, in non-decreasing order; index keys are
    /// not held to the user key limit (they embed a user key).
    pub fn with_index_ops(self, index_ops: &'a [IndexOp<'a>]) -> Result<Self, CoreError> {
        let mut last = 0;
        for op in index_ops {
            if op.at >= self.ops.len() || op.at < last {
                return Err(CoreError::MisplacedIndexOp {
                    at: op.at,
                    operations: self.ops.len(),
                });
            }
            last = op.at;
            if let Op::Put { value, .. } = op.op {
                crate::limits::check_value(value)?;
            }
        }
        Ok(Self { index_ops, ..self })
    }

    /// The operations, in the order they apply.
    pub fn ops(&self) -> &'a [Op<'a>] {
        self.ops
    }

    /// The index-space writes that go with the operations.
    pub fn index_ops(&self) -> &'a [IndexOp<'a>] {
        self.index_ops
    }

    /// The number of operations (each takes one sequence number).
    pub fn len(&self) -> u64 {
        self.ops.len() as u64
    }

    /// True if the batch holds no operation (it writes nothing and takes no
    /// sequence number).
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// The sequence numbers of one batch: `first..=last`, one per operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeqRange {
    first: u64,
    last: u64,
}

impl SeqRange {
    /// The `count` sequence numbers from `first` on; `None` if `count` is 0
    /// or the range would pass `u64::MAX`.
    pub fn starting_at(first: u64, count: u64) -> Option<Self> {
        let last = first.checked_add(count.checked_sub(1)?)?;
        Some(Self { first, last })
    }

    /// The sequence number of the batch's first operation.
    pub fn first(&self) -> u64 {
        self.first
    }

    /// The sequence number of the batch's last operation: its commit point.
    pub fn last(&self) -> u64 {
        self.last
    }

    /// How many sequence numbers the range holds.
    pub fn len(&self) -> u64 {
        self.last - self.first + 1
    }

    /// Always false: a range holds at least one number.
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// The receipt of an applied batch (or restored snapshot chunk): writes up
/// to [`Applied::last`] are in the store, not yet visible. Pass it to
/// [`crate::Store::publish`] once the write may be seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "an applied write stays invisible until its receipt is published"]
pub struct Applied {
    last: u64,
}

impl Applied {
    pub(crate) fn through(last: u64) -> Self {
        Self { last }
    }

    /// The newest sequence number the receipt covers.
    pub fn last(&self) -> u64 {
        self.last
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::MAX_KEY_LEN;

    #[test]
    fn a_batch_with_one_oversized_key_is_refused_whole() {
        let big = vec![0u8; MAX_KEY_LEN + 1];
        let ops = [
            Op::Put {
                key: b"fine",
                value: b"v",
                expires_at: None,
            },
            Op::Delete { key: &big },
        ];
        assert!(matches!(
            PreparedBatch::new(&ops),
            Err(CoreError::KeyTooLarge { .. })
        ));
        assert_eq!(PreparedBatch::new(&ops[..1]).unwrap().len(), 1);
    }

    #[test]
    fn ranges_hold_one_number_per_operation() {
        let r = SeqRange::starting_at(10, 3).unwrap();
        assert_eq!((r.first(), r.last(), r.len()), (10, 12, 3));
        assert_eq!(SeqRange::starting_at(10, 0), None);
        assert_eq!(SeqRange::starting_at(u64::MAX, 2), None);
        assert_eq!(SeqRange::starting_at(u64::MAX, 1).unwrap().len(), 1);
    }
}
