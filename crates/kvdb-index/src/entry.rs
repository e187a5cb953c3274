//! The layout of an index entry in the store's reserved key space, and the
//! key bounds of index queries.
//!
//! ```text
//! entry key = index id (4 bytes, big-endian)
//!             escaped index key (every 0x00 byte written as 0x00 0xFF)
//!             0x00 0x01 (terminator)
//!             primary key (raw)
//! entry value = empty
//! ```
//!
//! The escaping keeps the byte order of entries the order of (index key,
//! primary key), makes the index key self-delimiting (so the primary key can
//! follow it), and makes the escaped form of a prefix of an index key a
//! prefix of the escaped key: equality, prefix and range queries are each
//! one range of entry keys.

use std::ops::Bound;

/// The longest index key accepted, in bytes (16 KiB). A write whose record
/// would have a longer index key is rejected.
pub const MAX_INDEX_KEY_LEN: usize = 16 * 1024;

const ESCAPE: u8 = 0x00;
const ESCAPED_ZERO: u8 = 0xFF;
const TERMINATOR: u8 = 0x01;

fn push_escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    for &b in bytes {
        out.push(b);
        if b == ESCAPE {
            out.push(ESCAPED_ZERO);
        }
    }
}

fn start(id: u32, capacity: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + capacity);
    out.extend_from_slice(&id.to_be_bytes());
    out
}

/// The entry key of index `id` for a record with index key `ikey` and
/// primary key `pk`. The first [`equal_prefix`]`(id, ikey).len()` bytes are
/// that prefix.
pub fn encode(id: u32, ikey: &[u8], pk: &[u8]) -> Vec<u8> {
    let mut out = equal_prefix_with(id, ikey, pk.len());
    out.extend_from_slice(pk);
    out
}

fn equal_prefix_with(id: u32, ikey: &[u8], extra: usize) -> Vec<u8> {
    let mut out = start(id, ikey.len() + 2 + extra);
    push_escaped(&mut out, ikey);
    out.push(ESCAPE);
    out.push(TERMINATOR);
    out
}

/// The prefix shared by every entry of index `id` whose index key is
/// exactly `ikey`.
pub fn equal_prefix(id: u32, ikey: &[u8]) -> Vec<u8> {
    equal_prefix_with(id, ikey, 0)
}

/// The index key and primary key of the entry key `entry`; `None` if it
/// is not an entry key.
pub fn decode(entry: &[u8]) -> Option<(u32, Vec<u8>, &[u8])> {
    let id = u32::from_be_bytes(entry.get(..4)?.try_into().ok()?);
    let mut ikey = Vec::new();
    let mut i = 4;
    loop {
        let b = *entry.get(i)?;
        if b != ESCAPE {
            ikey.push(b);
            i += 1;
            continue;
        }
        match *entry.get(i + 1)? {
            ESCAPED_ZERO => ikey.push(ESCAPE),
            TERMINATOR => return Some((id, ikey, &entry[i + 2..])),
            _ => return None,
        }
        i += 2;
    }
}

/// A range of entry keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryBounds {
    /// The lower bound.
    pub lower: Bound<Vec<u8>>,
    /// The upper bound.
    pub upper: Bound<Vec<u8>>,
}

impl EntryBounds {
    /// The entries of index `id` with index key exactly `ikey`.
    pub fn equal(id: u32, ikey: &[u8]) -> Self {
        Self::prefixed(equal_prefix(id, ikey))
    }

    /// The entries of index `id` whose index key starts with `prefix`
    /// (every entry for an empty prefix).
    pub fn prefix(id: u32, prefix: &[u8]) -> Self {
        let mut p = start(id, prefix.len() + 1);
        push_escaped(&mut p, prefix);
        Self::prefixed(p)
    }

    /// The entries of index `id` whose index key is within `lower..upper`.
    pub fn range(id: u32, lower: Bound<&[u8]>, upper: Bound<&[u8]>) -> Self {
        let after = |ikey: &[u8]| {
            let mut k = equal_prefix(id, ikey);
            *k.last_mut().expect("ends with the terminator") = TERMINATOR + 1;
            k
        };
        let lower = match lower {
            Bound::Included(k) => Bound::Included(equal_prefix(id, k)),
            Bound::Excluded(k) => Bound::Included(after(k)),
            Bound::Unbounded => Bound::Included(start(id, 0)),
        };
        let upper = match upper {
            Bound::Included(k) => Bound::Excluded(after(k)),
            Bound::Excluded(k) => Bound::Excluded(equal_prefix(id, k)),
            Bound::Unbounded => successor(start(id, 0)).map_or(Bound::Unbounded, Bound::Excluded),
        };
        Self { lower, upper }
    }

    fn prefixed(prefix: Vec<u8>) -> Self {
        let upper = successor(prefix.clone()).map_or(Bound::Unbounded, Bound::Excluded);
        Self {
            lower: Bound::Included(prefix),
            upper,
        }
    }

    /// True if `entry` is within the bounds.
    pub fn contains(&self, entry: &[u8]) -> bool {
        (match &self.lower {
            Bound::Included(l) => entry >= l.as_slice(),
            Bound::Excluded(l) => entry > l.as_slice(),
            Bound::Unbounded => true,
        }) && (match &self.upper {
            Bound::Included(u) => entry <= u.as_slice(),
            Bound::Excluded(u) => entry < u.as_slice(),
            Bound::Unbounded => true,
        })
    }
}

/// The bounds of every key starting with `prefix`.
pub fn prefix_bounds(prefix: &[u8]) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    let upper = successor(prefix.to_vec()).map_or(Bound::Unbounded, Bound::Excluded);
    (Bound::Included(prefix.to_vec()), upper)
}

/// The smallest key greater than every key starting with `prefix`; `None`
/// if there is none (the prefix is all 0xFF).
fn successor(mut prefix: Vec<u8>) -> Option<Vec<u8>> {
    while let Some(last) = prefix.pop() {
        if last != 0xFF {
            prefix.push(last + 1);
            return Some(prefix);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn bytes() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            prop_oneof![Just(0u8), Just(1), Just(0xFF), any::<u8>()],
            0..6,
        )
    }

    proptest! {
        #[test]
        fn entries_sort_by_index_key_then_primary_key(a in bytes(), pa in bytes(), b in bytes(), pb in bytes()) {
            let ea = encode(7, &a, &pa);
            let eb = encode(7, &b, &pb);
            prop_assert_eq!((&a, &pa).cmp(&(&b, &pb)), ea.cmp(&eb));
        }

        #[test]
        fn decode_inverts_encode(ikey in bytes(), pk in bytes(), id: u32) {
            let e = encode(id, &ikey, &pk);
            let (did, dk, dp) = decode(&e).unwrap();
            prop_assert_eq!((did, dk, dp.to_vec()), (id, ikey, pk));
        }

        #[test]
        fn equality_bounds_hold_exactly_the_equal_keys(ikey in bytes(), pk in bytes(), q in bytes()) {
            let e = encode(3, &ikey, &pk);
            prop_assert_eq!(EntryBounds::equal(3, &q).contains(&e), ikey == q);
            prop_assert!(!EntryBounds::equal(4, &q).contains(&e));
        }

        #[test]
        fn prefix_bounds_hold_exactly_the_prefixed_keys(ikey in bytes(), pk in bytes(), p in bytes()) {
            let e = encode(3, &ikey, &pk);
            prop_assert_eq!(EntryBounds::prefix(3, &p).contains(&e), ikey.starts_with(&p));
        }

        #[test]
        fn range_bounds_hold_exactly_the_keys_in_range(ikey in bytes(), pk in bytes(), lo in bytes(), hi in bytes(), kinds in (0u8..3, 0u8..3)) {
            let bound = |k: &Vec<u8>, kind: u8| match kind {
                0 => Bound::Included(k.clone()),
                1 => Bound::Excluded(k.clone()),
                _ => Bound::Unbounded,
            };
            let (l, u) = (bound(&lo, kinds.0), bound(&hi, kinds.1));
            let b = EntryBounds::range(3, l.as_ref().map(Vec::as_slice), u.as_ref().map(Vec::as_slice));
            let e = encode(3, &ikey, &pk);
            let inside = std::ops::RangeBounds::contains(&(l.clone(), u.clone()), &ikey);
            prop_assert_eq!(b.contains(&e), inside);
        }
    }

    #[test]
    fn the_whole_index_is_one_range() {
        let all = EntryBounds::range(5, Bound::Unbounded, Bound::Unbounded);
        assert!(all.contains(&encode(5, &[0xFF; 3], &[0xFF; 3])));
        assert!(!all.contains(&encode(6, b"", b"")));
        assert!(!all.contains(&encode(4, &[0xFF; 3], b"")));
        assert_eq!(
            EntryBounds::prefix(5, b""),
            EntryBounds {
                lower: Bound::Included(vec![0, 0, 0, 5]),
                upper: Bound::Excluded(vec![0, 0, 0, 6])
            }
        );
    }
}
