//! Index queries at a read view: equality, prefix and range over index
//! keys, in both directions, yielding each record with its index key.

use std::ops::Bound;
use std::sync::Arc;

use kvdb_core::{Iter, ReadView, Space};
use kvdb_index::EntryBounds;

use crate::error::{Error, Result};
use crate::index::registry::{IndexState, Registry};

/// What an index query asks for, with keys in the records' own form (see
/// [`crate::IndexDef::query_key`]).
#[derive(Debug, Clone, Copy)]
pub enum IndexQuery<'a> {
    /// Records whose index key equals this one.
    Equal(&'a [u8]),
    /// Records whose index key starts with this prefix (for a JSON string
    /// field, an open string such as `"al` matches `"alice"`).
    Prefix(&'a [u8]),
    /// Records whose index key lies within the bounds.
    Range(Bound<&'a [u8]>, Bound<&'a [u8]>),
    /// Every record the index holds.
    All,
}

/// A record found through an index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    /// The index key in its ordered form (the bytes entries sort by; see
    /// `docs/FORMAT.md`): a key field or byte range as it is, an integer
    /// big-endian with the sign bit flipped, a JSON scalar tagged.
    pub index_key: Vec<u8>,
    /// The record's key.
    pub key: Vec<u8>,
    /// The record's value at the view.
    pub value: Vec<u8>,
}

/// A double-ended iterator over the records an index query found, in index
/// key order (then key order), as of one read view.
pub struct IndexIter {
    entries: Iter,
    records: ReadView,
}

impl IndexIter {
    /// True if this process is a `fork()` child of the one that made the
    /// iterator.
    pub fn is_inherited_across_fork(&self) -> bool {
        self.records.is_inherited_across_fork()
    }

    fn resolve(&self, entry: Vec<u8>) -> Option<IndexEntry> {
        let (_, index_key, key) = kvdb_index::entry::decode(&entry)?;
        // Entries are written in the same batch as their record and carry
        // its expiry, so the record is there at the same view.
        let value = self.records.get(key).ok().flatten();
        debug_assert!(value.is_some(), "an index entry without its record");
        Some(IndexEntry {
            index_key,
            key: key.to_vec(),
            value: value?,
        })
    }
}

impl Iterator for IndexIter {
    type Item = IndexEntry;

    fn next(&mut self) -> Option<IndexEntry> {
        loop {
            let (entry, _) = self.entries.next()?;
            if let Some(found) = self.resolve(entry) {
                return Some(found);
            }
        }
    }
}

impl DoubleEndedIterator for IndexIter {
    fn next_back(&mut self) -> Option<IndexEntry> {
        loop {
            let (entry, _) = self.entries.next_back()?;
            if let Some(found) = self.resolve(entry) {
                return Some(found);
            }
        }
    }
}

impl std::fmt::Debug for IndexIter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexIter")
            .field("view", &self.records)
            .finish()
    }
}

/// Index `name` and the entry-key bounds `query` means for it at `view`.
/// Fails if there is no such index, it was not complete when the view was
/// taken, or a query key cannot be read as the index reads records.
pub(crate) fn bounds(
    view: &ReadView,
    registry: &Registry,
    name: &str,
    query: IndexQuery<'_>,
) -> Result<(Arc<IndexState>, EntryBounds)> {
    let index = registry
        .find(name)
        .ok_or_else(|| Error::InvalidArgument(format!("no index named {name:?}")))?;
    match index.ready_seq() {
        Some(ready) if ready <= view.seq() => {}
        Some(ready) => {
            return Err(Error::InvalidArgument(format!(
                "index {name:?} was completed at sequence number {ready}, after this view ({}): take a newer view",
                view.seq()
            )));
        }
        None => {
            return Err(Error::InvalidArgument(format!(
                "index {name:?} is still being built"
            )));
        }
    }
    let def = &index.def;
    let bounds = match query {
        IndexQuery::Equal(k) => EntryBounds::equal(index.id, &def.query_key(k)?),
        IndexQuery::Prefix(p) => EntryBounds::prefix(index.id, &def.query_prefix(p)?),
        IndexQuery::Range(lower, upper) => {
            let convert = |b: Bound<&[u8]>| -> Result<Bound<Vec<u8>>> {
                Ok(match b {
                    Bound::Included(k) => Bound::Included(def.query_key(k)?),
                    Bound::Excluded(k) => Bound::Excluded(def.query_key(k)?),
                    Bound::Unbounded => Bound::Unbounded,
                })
            };
            let (lower, upper) = (convert(lower)?, convert(upper)?);
            EntryBounds::range(
                index.id,
                lower.as_ref().map(Vec::as_slice),
                upper.as_ref().map(Vec::as_slice),
            )
        }
        IndexQuery::All => EntryBounds::prefix(index.id, b""),
    };
    Ok((index, bounds))
}

/// Runs `query` on index `name` at `view`.
pub(crate) fn query(
    view: &ReadView,
    registry: &Registry,
    name: &str,
    query: IndexQuery<'_>,
) -> Result<IndexIter> {
    let (_, b) = bounds(view, registry, name, query)?;
    let entries = view
        .in_space(Space::Index)
        .range::<Vec<u8>>((b.lower, b.upper));
    Ok(IndexIter {
        entries,
        records: view.clone(),
    })
}
