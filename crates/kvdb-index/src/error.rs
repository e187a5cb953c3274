//! The errors of index definitions, extraction and queries.

/// What went wrong with an index definition, a record's index key or a
/// query key.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IndexError {
    /// The definition cannot describe an index (reason given).
    #[error("invalid index definition: {0}")]
    InvalidDefinition(String),
    /// A record's index key is longer than [`crate::MAX_INDEX_KEY_LEN`].
    #[error("index {index:?}: an index key of {len} bytes exceeds the limit of {max} bytes")]
    IndexKeyTooLarge {
        /// The index's name.
        index: String,
        /// The key's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A query key cannot be read the way the index's extractor reads
    /// records (reason given).
    #[error("index {index:?}: invalid query key: {reason}")]
    InvalidQueryKey {
        /// The index's name.
        index: String,
        /// Why.
        reason: String,
    },
}
