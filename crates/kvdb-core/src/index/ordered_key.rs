//! The ordered index's key: a chain, with the first eight bytes of its key
//! kept beside the pointer to it.
//!
//! A skiplist search compares the key it looks for with one node per step.
//! With only a pointer in the node, every comparison loads the chain the
//! pointer leads to: a second cache miss per step, next to the node's own.
//! With the leading bytes in the node, the comparison is decided there
//! unless both keys share their first eight bytes, and the chain is loaded
//! only then. Keys that mostly share a long common prefix gain nothing; the
//! cost is eight bytes per node.

use std::cmp::Ordering;

use crate::chain::ChainRef;
use crate::space::Space;

/// A chain as the ordered index holds and compares it.
#[derive(Clone)]
pub(crate) struct OrderedKey {
    /// [`leading_bytes`] of the chain's key.
    prefix: u64,
    chain: ChainRef,
}

impl OrderedKey {
    /// The index key of `chain`.
    pub(crate) fn new(chain: ChainRef) -> Self {
        Self {
            prefix: leading_bytes(chain.key()),
            chain,
        }
    }

    /// A key to search for: an empty chain of its own, never inserted.
    pub(crate) fn probe(space: Space, key: &[u8]) -> Self {
        Self::new(ChainRef::new_in(space, key))
    }

    /// The chain.
    #[inline]
    pub(crate) fn chain(&self) -> &ChainRef {
        &self.chain
    }
}

/// The first eight bytes of `key` as a big-endian number, zeros in place of
/// bytes past its end. Keys whose numbers differ compare as their numbers
/// do: the first differing byte among the eight decides both, and a zero
/// standing for a missing byte can only make a key that is a proper prefix
/// of the other the smaller one (or tie with it, when the other's own byte
/// there is zero).
#[inline]
fn leading_bytes(key: &[u8]) -> u64 {
    let mut bytes = [0u8; 8];
    let n = key.len().min(8);
    bytes[..n].copy_from_slice(&key[..n]);
    u64::from_be_bytes(bytes)
}

impl Ord for OrderedKey {
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        self.prefix
            .cmp(&other.prefix)
            .then_with(|| self.chain.key().cmp(other.chain.key()))
    }
}

impl PartialOrd for OrderedKey {
    #[inline]
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for OrderedKey {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for OrderedKey {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(bytes: &[u8]) -> OrderedKey {
        OrderedKey::probe(Space::User, bytes)
    }

    #[test]
    fn keys_that_differ_only_in_missing_or_zero_bytes_order_by_length() {
        let ordered: [&[u8]; 7] = [b"", b"\0", b"\0\0", b"a", b"a\0", b"a\0\x01", b"a\x01"];
        for pair in ordered.windows(2) {
            assert_eq!(key(pair[0]).cmp(&key(pair[1])), Ordering::Less, "{pair:?}");
            assert_eq!(key(pair[1]).cmp(&key(pair[0])), Ordering::Greater);
        }
    }

    #[test]
    fn bytes_past_the_eighth_decide_between_equal_prefixes() {
        assert!(key(b"12345678a") < key(b"12345678b"));
        assert!(key(b"12345678") < key(b"12345678\0"));
        assert_eq!(key(b"123456789").cmp(&key(b"123456789")), Ordering::Equal);
    }

    #[test]
    fn high_bytes_compare_unsigned() {
        assert!(key(b"\x7f") < key(b"\x80"));
        assert!(key(b"\xff\xff") > key(b"\x01"));
    }

    proptest! {
        #[test]
        fn orders_exactly_as_the_key_bytes(
            a in proptest::collection::vec(prop_oneof![Just(0u8), Just(1u8), Just(255u8), any::<u8>()], 0..12),
            b in proptest::collection::vec(prop_oneof![Just(0u8), Just(1u8), Just(255u8), any::<u8>()], 0..12),
        ) {
            prop_assert_eq!(key(&a).cmp(&key(&b)), a.cmp(&b));
        }
    }
}
