//! A transaction's pending writes: an ordered map from key to write, with
//! every value in one byte arena.
//!
//! A small transaction's writes take no allocation beyond the write set
//! itself: its first [`INLINE_WRITES`] writes, keys of up to [`INLINE_KEY`]
//! bytes and the first [`INLINE_VALUES`] bytes of values are stored inline.
//! Up to [`SORTED_MAX`] writes are kept in a sorted array (a binary search
//! and a short shift per insert); past that, in a B-tree. The arena only
//! grows while the transaction runs: a replaced value stays in it (the
//! transaction's write limit counts every byte written), and a rollback to a
//! savepoint truncates it back to where the savepoint was.

use std::collections::BTreeMap;
use std::collections::btree_map;
use std::ops::{Bound, Deref, Range};
use std::sync::{Arc, OnceLock};

use smallvec::SmallVec;

/// Keys up to this many bytes take no allocation of their own.
pub(crate) const INLINE_KEY: usize = 24;
/// Writes held inline before the sorted array allocates.
pub(crate) const INLINE_WRITES: usize = 4;
/// Value bytes held inline before the arena allocates.
pub(crate) const INLINE_VALUES: usize = 256;
/// Writes kept in a sorted array; more move to a B-tree.
pub(crate) const SORTED_MAX: usize = 32;

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

// The sorted variant is large on purpose: its inline entries are what spare
// a small transaction an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
enum Entries {
    /// Sorted by key, distinct keys.
    Sorted(SmallVec<[(Key, Pending); INLINE_WRITES]>),
    Tree(BTreeMap<Key, Pending>),
}

impl Default for Entries {
    fn default() -> Self {
        Entries::Sorted(SmallVec::new())
    }
}

/// The pending writes of one transaction.
#[derive(Debug, Clone, Default)]
pub(crate) struct WriteSet {
    entries: Entries,
    values: SmallVec<[u8; INLINE_VALUES]>,
}

/// True if `key` lies above `lower`.
fn above(key: &[u8], lower: Bound<&[u8]>) -> bool {
    match lower {
        Bound::Included(l) => key >= l,
        Bound::Excluded(l) => key > l,
        Bound::Unbounded => true,
    }
}

/// True if `key` lies below `upper`.
fn below(key: &[u8], upper: Bound<&[u8]>) -> bool {
    match upper {
        Bound::Included(u) => key <= u,
        Bound::Excluded(u) => key < u,
        Bound::Unbounded => true,
    }
}

impl WriteSet {
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn len(&self) -> usize {
        match &self.entries {
            Entries::Sorted(v) => v.len(),
            Entries::Tree(m) => m.len(),
        }
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
        match &self.entries {
            Entries::Sorted(v) => v
                .binary_search_by(|(k, _)| k.as_slice().cmp(key))
                .ok()
                .map(|i| &v[i].1),
            Entries::Tree(m) => m.get(key),
        }
    }

    /// Sets `key`'s write; returns the one it replaced.
    fn insert(&mut self, key: &[u8], pending: Pending) -> Option<Pending> {
        match &mut self.entries {
            Entries::Sorted(v) => match v.binary_search_by(|(k, _)| k.as_slice().cmp(key)) {
                Ok(i) => Some(std::mem::replace(&mut v[i].1, pending)),
                Err(i) if v.len() < SORTED_MAX => {
                    v.insert(i, (Key::from_slice(key), pending));
                    None
                }
                Err(_) => {
                    let mut tree: BTreeMap<Key, Pending> = v.drain(..).collect();
                    tree.insert(Key::from_slice(key), pending);
                    self.entries = Entries::Tree(tree);
                    None
                }
            },
            Entries::Tree(m) => m.insert(Key::from_slice(key), pending),
        }
    }

    /// Records a put of `value` under `key`; returns the write it replaced.
    pub(crate) fn put(&mut self, key: &[u8], value: &[u8], ttl_ms: Option<u64>) -> Option<Pending> {
        let start = self.values.len();
        self.values.extend_from_slice(value);
        let value = start..self.values.len();
        self.insert(key, Pending::Put { value, ttl_ms })
    }

    /// Records a deletion of `key`; returns the write it replaced.
    pub(crate) fn delete(&mut self, key: &[u8]) -> Option<Pending> {
        self.insert(key, Pending::Delete)
    }

    /// Puts back `previous` as `key`'s write (none: forgets the key).
    pub(crate) fn restore(&mut self, key: &[u8], previous: Option<Pending>) {
        match previous {
            Some(p) => {
                self.insert(key, p);
            }
            None => match &mut self.entries {
                Entries::Sorted(v) => {
                    if let Ok(i) = v.binary_search_by(|(k, _)| k.as_slice().cmp(key)) {
                        v.remove(i);
                    }
                }
                Entries::Tree(m) => {
                    m.remove(key);
                }
            },
        }
    }

    /// How many arena bytes are in use: a savepoint's mark.
    pub(crate) fn arena_len(&self) -> usize {
        self.values.len()
    }

    /// Drops the arena bytes from `mark` on. Every write that refers to
    /// them must have been restored to an earlier one first.
    pub(crate) fn truncate_arena(&mut self, mark: usize) {
        debug_assert!(self.iter().all(|(_, p)| match p {
            Pending::Put { value, .. } => value.end <= mark,
            Pending::Delete => true,
        }));
        self.values.truncate(mark);
    }

    /// The writes in key order.
    pub(crate) fn iter(&self) -> Writes<'_> {
        match &self.entries {
            Entries::Sorted(v) => Writes::Sorted(v.iter()),
            Entries::Tree(m) => Writes::Tree(m.range::<[u8], _>(..)),
        }
    }

    /// The writes whose keys lie within `range`, in key order.
    pub(crate) fn range(&self, range: (Bound<&[u8]>, Bound<&[u8]>)) -> Writes<'_> {
        match &self.entries {
            Entries::Sorted(v) => {
                let start = v.partition_point(|(k, _)| !above(k, range.0));
                let end = start + v[start..].partition_point(|(k, _)| below(k, range.1));
                Writes::Sorted(v[start..end].iter())
            }
            Entries::Tree(m) => Writes::Tree(m.range::<[u8], _>(range)),
        }
    }
}

/// A transaction's hold on its write set: owned outright (no allocation of
/// its own) until a cursor needs it, then shared copy-on-write with the
/// transaction's cursors, which see it as it was when they were made.
#[derive(Debug, Default)]
pub(crate) struct TxnWrites {
    state: State,
    /// While owned: the copy handed to cursors since the last write.
    for_cursors: OnceLock<Arc<WriteSet>>,
}

// Owning the set inline is the point: no allocation for it.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum State {
    Own(WriteSet),
    Shared(Arc<WriteSet>),
}

impl Default for State {
    fn default() -> Self {
        State::Own(WriteSet::default())
    }
}

impl Deref for TxnWrites {
    type Target = WriteSet;

    fn deref(&self) -> &WriteSet {
        match &self.state {
            State::Own(w) => w,
            State::Shared(w) => w,
        }
    }
}

impl TxnWrites {
    /// The write set, to change. Once a cursor has a copy, the set stays
    /// shared: changing it copies it only while a cursor still holds it.
    pub(crate) fn make_mut(&mut self) -> &mut WriteSet {
        if let Some(shared) = self.for_cursors.take() {
            // Same contents as the owned set, which it replaces.
            self.state = State::Shared(shared);
        }
        match &mut self.state {
            State::Own(w) => w,
            State::Shared(w) => Arc::make_mut(w),
        }
    }

    /// The write set as it is now, for a cursor.
    pub(crate) fn share(&self) -> Arc<WriteSet> {
        match &self.state {
            State::Shared(w) => Arc::clone(w),
            State::Own(w) => Arc::clone(self.for_cursors.get_or_init(|| Arc::new(w.clone()))),
        }
    }
}

/// An iterator over pending writes in key order, both ends.
pub(crate) enum Writes<'a> {
    Sorted(std::slice::Iter<'a, (Key, Pending)>),
    Tree(btree_map::Range<'a, Key, Pending>),
}

impl<'a> Iterator for Writes<'a> {
    type Item = (&'a [u8], &'a Pending);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Writes::Sorted(it) => it.next().map(|(k, p)| (k.as_slice(), p)),
            Writes::Tree(it) => it.next().map(|(k, p)| (k.as_slice(), p)),
        }
    }
}

impl DoubleEndedIterator for Writes<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        match self {
            Writes::Sorted(it) => it.next_back().map(|(k, p)| (k.as_slice(), p)),
            Writes::Tree(it) => it.next_back().map(|(k, p)| (k.as_slice(), p)),
        }
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
    fn many_writes_in_any_order_agree_with_a_sorted_map() {
        let mut w = WriteSet::default();
        let mut model = BTreeMap::new();
        let mut x: u32 = 12345;
        for round in 0..(SORTED_MAX * 8) {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let key = format!("k{:03}", (x >> 8) % 100).into_bytes();
            let replaced = if round % 5 == 0 {
                w.delete(&key)
            } else {
                w.put(&key, key.as_slice(), None)
            };
            let before = model.insert(key.clone(), round % 5 != 0);
            assert_eq!(replaced.is_some(), before.is_some());
            let lower = format!("k{:03}", round % 100).into_bytes();
            let seen: Vec<(Vec<u8>, bool)> = w
                .range((Bound::Excluded(&lower), Bound::Unbounded))
                .rev()
                .map(|(k, p)| (k.to_vec(), w.value(p).is_some()))
                .collect();
            let expected: Vec<(Vec<u8>, bool)> = model
                .range::<Vec<u8>, _>((Bound::Excluded(&lower), Bound::Unbounded))
                .rev()
                .map(|(k, &put)| (k.clone(), put))
                .collect();
            assert_eq!(seen, expected);
        }
        assert!(w.len() > SORTED_MAX, "the test must reach the B-tree");
    }

    #[test]
    fn a_cursor_copy_keeps_what_it_saw_while_the_owner_writes_on() {
        let mut t = TxnWrites::default();
        t.make_mut().put(b"a", b"1", None);
        let first = t.share();
        let again = t.share();
        assert!(
            Arc::ptr_eq(&first, &again),
            "no copy without a write between"
        );
        t.make_mut().put(b"b", b"2", None);
        t.make_mut().put(b"a", b"3", None);
        assert_eq!(first.len(), 1);
        assert_eq!(first.value(first.get(b"a").unwrap()), Some(&b"1"[..]));
        assert_eq!(t.len(), 2);
        assert_eq!(t.value(t.get(b"a").unwrap()), Some(&b"3"[..]));
        drop((first, again));
        let later = t.share();
        t.make_mut().delete(b"b");
        assert_eq!(later.value(later.get(b"b").unwrap()), Some(&b"2"[..]));
        assert_eq!(t.get(b"b"), Some(&Pending::Delete));
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
