//! The store's two key spaces: users' keys, and the entries of secondary
//! indexes, which the engine writes in the same batches as the data they
//! index.
//!
//! Each space has its own ordered index and hash table, so a key in one can
//! never be confused with the same bytes in the other, and nothing that
//! reads users' keys (gets, scans, counts, snapshot files) sees an index
//! entry. Both spaces share the sequence numbers, the read views, garbage
//! collection and expiry: an index entry written with its record becomes
//! visible with it, expires with it, and is kept for the same views.

/// Which key space a key belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Space {
    /// Users' keys and values.
    #[default]
    User,
    /// Secondary index entries (see the `kvdb-index` crate for their
    /// layout).
    Index,
}
