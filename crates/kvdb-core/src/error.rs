//! The errors the store reports. The engine maps each onto its own error kinds.

use crate::limits::{MAX_KEY_LEN, MAX_VALUE_LEN};

/// An error from the versioned store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    /// The key is longer than [`MAX_KEY_LEN`].
    #[error("key is {len} bytes; the limit is {MAX_KEY_LEN}")]
    KeyTooLarge {
        /// The rejected key's length.
        len: usize,
    },
    /// The value is longer than [`MAX_VALUE_LEN`].
    #[error("value is {len} bytes; the limit is {MAX_VALUE_LEN}")]
    ValueTooLarge {
        /// The rejected value's length.
        len: usize,
    },
    /// A TTL of zero, or one longer than [`crate::MAX_TTL_MS`].
    #[error(
        "invalid TTL of {ttl_ms} ms: a TTL must be at least 1 ms and at most {} ms (about 31,700 years)",
        crate::MAX_TTL_MS
    )]
    InvalidTtl {
        /// The rejected TTL in milliseconds.
        ttl_ms: u64,
    },
    /// `increment` found a value that is not a decimal integer.
    #[error("value is not a decimal integer (an optional sign and 1 to 19 ASCII digits)")]
    NotAnInteger,
    /// `increment` would overflow a signed 64-bit integer.
    #[error("increment of {current} by {delta} overflows a signed 64-bit integer")]
    Overflow {
        /// The stored value.
        current: i64,
        /// The requested change.
        delta: i64,
    },
    /// The calling thread already holds the store's write lock (for example, a
    /// closure passed to `update` tried to write to the same store).
    #[error("re-entrant write: this thread is already inside a write to the same store")]
    ReentrantWrite,
    /// The handle was made by the parent of this process, before `fork()`:
    /// a child must not use it (it would share the parent's files and locks
    /// held by threads that do not exist here). Drop it and open anew.
    #[error(
        "this handle was opened by the parent process before fork(); a child process cannot use it: free it and open the database anew"
    )]
    InheritedAcrossFork,
    /// A batch was given a sequence number below one already used (a log
    /// replayed out of order).
    #[error("sequence number {got} is below the next expected {expected}")]
    SequenceRegression {
        /// The lowest sequence number still allowed.
        expected: u64,
        /// The sequence number given.
        got: u64,
    },
    /// A batch was given a range of sequence numbers of another length.
    #[error("a batch of {operations} operations was given {numbers} sequence numbers")]
    RangeMismatch {
        /// Operations in the batch.
        operations: u64,
        /// Sequence numbers in the range.
        numbers: u64,
    },
    /// A sorted load ([`crate::Writer::load_sorted`]) was given a key that
    /// does not come after the key before it.
    #[error(
        "operation {position} of a sorted load does not come after the one before it in key order"
    )]
    LoadOutOfOrder {
        /// The operation's position, counting from 0.
        position: u64,
    },
    /// A sorted load ([`crate::Writer::load_sorted`]) was asked of a store
    /// that holds keys already.
    #[error("a sorted load needs an empty store")]
    LoadIntoNonEmptyStore,
    /// An index operation names no operation of its batch, or comes before
    /// one it follows.
    #[error(
        "an index operation at position {at} does not fit a batch of {operations} operations in order"
    )]
    MisplacedIndexOp {
        /// The position it named.
        at: usize,
        /// Operations in the batch.
        operations: usize,
    },
}
