//! Index queries inside a transaction: the index's entries at the
//! transaction's read view, with the entries its own pending writes add or
//! remove merged in, in both directions. The query's whole entry range and
//! every record it reads from the view count for commit validation, so a
//! transaction that looked records up by an index conflicts with any write
//! that would change what it found.

use std::collections::{HashSet, VecDeque};
use std::ops::Bound;

use kvdb_core::{Iter, ReadView, Space};
use kvdb_index::{Mutations, mutations};

use super::Txn;
use super::cursor::{Writes, above_lower, below_upper};
use super::tracking::Observed;
use crate::error::Result;
use crate::index::maintain::extract_guarded;
use crate::index::query::bounds;
use crate::index::{IndexEntry, IndexQuery};

/// A double-ended iterator over the records an index query found inside a
/// transaction, in index key order (then key order): the view's entries
/// with the transaction's own writes applied, as they were when the query
/// was made. Made by [`Txn::index`].
pub struct TxnIndexIter {
    base: Iter,
    /// Entries taken from `base` by one end and not yet yielded.
    base_front: Option<Vec<u8>>,
    base_back: Option<Vec<u8>>,
    /// Entries the transaction's writes add within the query, sorted.
    added: VecDeque<Vec<u8>>,
    /// Entries the transaction's writes remove.
    removed: HashSet<Vec<u8>>,
    writes: Writes,
    view: ReadView,
    observed: Observed,
}

impl Txn {
    /// The records index `name` finds for `query`, as this transaction sees
    /// them: its view, with its own writes so far applied. Query keys are in
    /// the records' own form ([`crate::IndexDef::query_key`]); reverse the
    /// iterator for descending order. The whole queried range and each
    /// record read count for commit validation, like any read.
    ///
    /// Fails if there is no such index, it was completed after the
    /// transaction began, a query key cannot be read as the index reads
    /// records, or the index's extractor fails on a pending write (the
    /// commit would fail the same way).
    pub fn index(&self, name: &str, query: IndexQuery<'_>) -> Result<TxnIndexIter> {
        self.inner.check_open()?;
        let (index, bounds) = bounds(&self.view, &self.inner.indexes, name, query)?;
        let writes = self.writes.share();
        let mut added = Vec::new();
        let mut removed = HashSet::new();
        if self.has_writes {
            let in_query = |entry: &[u8]| {
                above_lower(entry, as_slice(&bounds.lower))
                    && below_upper(entry, as_slice(&bounds.upper))
            };
            let mut m = Mutations::default();
            for (key, pending) in writes.iter() {
                m.clear();
                let new = writes.value(pending);
                self.view.get_with(key, |old| {
                    extract_guarded(&index, || {
                        mutations(
                            &index.def,
                            index.id,
                            key,
                            old.map(|v| v.value),
                            new,
                            false,
                            &mut m,
                        )
                    })
                })??;
                removed.extend(m.removes.drain(..));
                added.extend(m.puts.drain(..).map(|p| p.key).filter(|k| in_query(k)));
            }
            added.sort_unstable();
        }
        let observed = self.observed.get_or_init(Observed::default).clone();
        observed.add_index_range(as_slice(&bounds.lower), as_slice(&bounds.upper));
        let base = self
            .view
            .in_space(Space::Index)
            .range::<Vec<u8>>((bounds.lower, bounds.upper));
        Ok(TxnIndexIter {
            base,
            base_front: None,
            base_back: None,
            added: added.into(),
            removed,
            writes,
            view: self.view.clone(),
            observed,
        })
    }
}

fn as_slice(bound: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    bound.as_ref().map(Vec::as_slice)
}

impl TxnIndexIter {
    /// True if this process is a `fork()` child of the one that made the
    /// iterator.
    pub fn is_inherited_across_fork(&self) -> bool {
        self.view.is_inherited_across_fork()
    }

    /// The next entry of the view not removed by the transaction, from the
    /// front, or what the back end already took.
    fn base_next(&mut self) -> Option<Vec<u8>> {
        if let Some(entry) = self.base_front.take() {
            return Some(entry);
        }
        for (entry, _) in self.base.by_ref() {
            if !self.removed.contains(&entry) {
                return Some(entry);
            }
        }
        self.base_back.take()
    }

    /// As [`Self::base_next`], from the back.
    fn base_next_back(&mut self) -> Option<Vec<u8>> {
        if let Some(entry) = self.base_back.take() {
            return Some(entry);
        }
        while let Some((entry, _)) = self.base.next_back() {
            if !self.removed.contains(&entry) {
                return Some(entry);
            }
        }
        self.base_front.take()
    }

    /// The record an entry points to, as the transaction sees it. A record
    /// read from the view counts for validation.
    fn resolve(&self, entry: Vec<u8>) -> Option<IndexEntry> {
        let (_, index_key, key) = kvdb_index::entry::decode(&entry)?;
        let value = match self.writes.get(key) {
            Some(pending) => self.writes.value(pending).map(<[u8]>::to_vec),
            None => {
                let (value, hash) = self
                    .view
                    .get_hashed_with(key, |v| v.map(|v| v.value.to_vec()))
                    .ok()?;
                self.observed.add_key(hash);
                value
            }
        };
        debug_assert!(value.is_some(), "an index entry without its record");
        Some(IndexEntry {
            index_key,
            key: key.to_vec(),
            value: value?,
        })
    }
}

impl Iterator for TxnIndexIter {
    type Item = IndexEntry;

    fn next(&mut self) -> Option<IndexEntry> {
        loop {
            // The view's entries and the added ones are disjoint: an entry
            // is added only where the view's record lacked it.
            let base = self.base_next();
            let entry = match (base, self.added.front()) {
                (Some(b), Some(a)) if a < &b => {
                    self.base_front = Some(b);
                    self.added.pop_front()
                }
                (Some(b), _) => Some(b),
                (None, _) => self.added.pop_front(),
            }?;
            if let Some(found) = self.resolve(entry) {
                return Some(found);
            }
        }
    }
}

impl DoubleEndedIterator for TxnIndexIter {
    fn next_back(&mut self) -> Option<IndexEntry> {
        loop {
            let base = self.base_next_back();
            let entry = match (base, self.added.back()) {
                (Some(b), Some(a)) if a > &b => {
                    self.base_back = Some(b);
                    self.added.pop_back()
                }
                (Some(b), _) => Some(b),
                (None, _) => self.added.pop_back(),
            }?;
            if let Some(found) = self.resolve(entry) {
                return Some(found);
            }
        }
    }
}

impl std::fmt::Debug for TxnIndexIter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TxnIndexIter")
            .field("view", &self.view)
            .field("added", &self.added.len())
            .field("removed", &self.removed.len())
            .finish()
    }
}
