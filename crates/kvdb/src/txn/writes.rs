//! A transaction's pending writes: an ordered map from key to write, with
//! every value in one byte arena.
//!
//! Keys of up to [`INLINE_KEY`] bytes are stored in the map's entries
//! themselves and values are appended to the arena, so a small
//! transaction's writes cost a few allocations in all, not two per write.
//! The arena only grows while the transaction runs: a replaced value stays
//! in it (the transaction's write limit counts every byte written), and a
//! rollback to a savepoint truncates it back to where the savepoint was.

use std::collections::BTreeMap;
use std::ops::{Bound, Range};

use smallvec::SmallVec;

/// Keys up to this many bytes take no allocation of their own.
pub(crate) const INLINE_KEY: usize = 24;

type Key = SmallVec<[u8; INLINE_KEY]>;

/// A write a transaction has made but not committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Pending {
    /// A put of the arena bytes at `value`; its TTL (ms) starts at commit.
    Put {
        value: Range<usize>,
        ttl_ms: Option<u64>,
    },
    /// A deletion.
    Delete,
}

/// The pending writes of one transaction.
#[derive(Debug, Clone, Default)]
pub(crate) struct WriteSet {
    map: BTreeMap<Key, Pending>,
    values: Vec<u8>,
}

impl WriteSet {
    /// Bytes the arena reserves at the first put.
    const FIRST_CAPACITY: usize = 512;

    pub(crate) fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// The value a pending write stores (`None` for a deletion).
    pub(crate) fn value(&self, pending: &Pending) -> Option<&[u8]> {
        match pending {
            Pending::Put { value, .. } => Some(&self.values[value.clone()]),
            Pending::Delete => None,
        }
    }

    /// The pending write of `key`, if any.
    pub(crate) fn get(&self, key: &[u8]) -> Option<&Pending> {
        self.map.get(key)
    }

    /// Records a put of `value` under `key`; returns the write it replaced.
    pub(crate) fn put(&mut self, key: &[u8], value: &[u8], ttl_ms: Option<u64>) -> Option<Pending> {
        if self.values.capacity() == 0 {
            self.values.reserve(Self::FIRST_CAPACITY.max(value.len()));
        }
        let start = self.values.len();
        self.values.extend_from_slice(value);
        let pending = Pending::Put {
            value: start..self.values.len(),
            ttl_ms,
        };
        self.map.insert(Key::from_slice(key), pending)
    }

    /// Records a deletion of `key`; returns the write it replaced.
    pub(crate) fn delete(&mut self, key: &[u8]) -> Option<Pending> {
        self.map.insert(Key::from_slice(key), Pending::Delete)
    }

    /// Puts back `previous` as `key`'s write (none: forgets the key).
    pub(crate) fn restore(&mut self, key: &[u8], previous: Option<Pending>) {
        match previous {
            Some(p) => {
                self.map.insert(Key::from_slice(key), p);
            }
            None => {
                self.map.remove(key);
            }
        }
    }

    /// How many arena bytes are in use: a savepoint's mark.
    pub(crate) fn arena_len(&self) -> usize {
        self.values.len()
    }

    /// Drops the arena bytes from `mark` on. Every write that refers to
    /// them must have been restored to an earlier one first.
    pub(crate) fn truncate_arena(&mut self, mark: usize) {
        debug_assert!(self.map.values().all(|p| match p {
            Pending::Put { value, .. } => value.end <= mark,
            Pending::Delete => true,
        }));
        self.values.truncate(mark);
    }

    /// The writes in key order.
    pub(crate) fn iter(&self) -> impl DoubleEndedIterator<Item = (&[u8], &Pending)> {
        self.map.iter().map(|(k, p)| (k.as_slice(), p))
    }

    /// The writes whose keys lie within `range`, in key order.
    pub(crate) fn range<'a>(
        &'a self,
        range: (Bound<&[u8]>, Bound<&[u8]>),
    ) -> impl DoubleEndedIterator<Item = (&'a [u8], &'a Pending)> {
        self.map
            .range::<[u8], _>(range)
            .map(|(k, p)| (k.as_slice(), p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn puts_deletes_and_replacements_read_back_in_key_order() {
        let mut w = WriteSet::default();
        let long = vec![b'z'; INLINE_KEY + 10];
        assert_eq!(w.put(b"b", b"one", None), None);
        assert_eq!(w.put(&long, b"long", Some(5)), None);
        assert_eq!(w.delete(b"a"), None);
        let replaced = w.put(b"b", b"two", None).unwrap();
        assert_eq!(w.value(&replaced), Some(&b"one"[..]));
        let seen: Vec<(Vec<u8>, Option<Vec<u8>>)> = w
            .iter()
            .map(|(k, p)| (k.to_vec(), w.value(p).map(<[u8]>::to_vec)))
            .collect();
        assert_eq!(
            seen,
            vec![
                (b"a".to_vec(), None),
                (b"b".to_vec(), Some(b"two".to_vec())),
                (long.clone(), Some(b"long".to_vec())),
            ]
        );
        let in_range: Vec<&[u8]> = w
            .range((Bound::Excluded(b"a"), Bound::Unbounded))
            .map(|(k, _)| k)
            .collect();
        assert_eq!(in_range, vec![&b"b"[..], &long[..]]);
    }

    #[test]
    fn restoring_and_truncating_return_to_a_mark() {
        let mut w = WriteSet::default();
        w.put(b"k", b"first", None);
        let mark = w.arena_len();
        let previous = w.put(b"k", b"second", None);
        let fresh = w.put(b"new", b"x", None);
        w.restore(b"new", fresh);
        w.restore(b"k", previous);
        w.truncate_arena(mark);
        assert_eq!(w.len(), 1);
        assert_eq!(w.value(w.get(b"k").unwrap()), Some(&b"first"[..]));
        assert_eq!(w.arena_len(), mark);
    }
}
