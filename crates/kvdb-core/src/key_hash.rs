//! Key hashes: how a transaction remembers the keys it read.
//!
//! A [`KeyHash`] is the hash a store's point index files a key under,
//! seeded per store. Recording one costs a single 8-byte store, where
//! recording the key would copy it; validation then finds, through the same
//! hash index, every chain whose key has that hash. Two different keys with
//! equal 64-bit hashes make validation see a write to one as a write to the
//! other: a spurious conflict, never a missed one.

/// The point-index hash of a key in one store. Meaningless to any other
/// store (each seeds its hash at random).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyHash(pub(crate) u64);
