//! The ordered index's key: a chain, with the first seven bytes of its key
//! and the node's twin generation kept beside the pointer to it.
//!
//! A skiplist search compares the key it looks for with one node per step.
//! With only a pointer in the node, every comparison loads the chain the
//! pointer leads to: a second cache miss per step, next to the node's own.
//! With the leading bytes in the node, the comparison is decided there
//! unless both keys share their first seven bytes, and the chain is loaded
//! only then. Keys that mostly share a long common prefix gain nothing; the
//! cost is eight bytes per node (seven key bytes and the generation below).
//!
//! The eighth byte orders two nodes of the same chain. Reordering the index
//! (`reorder.rs`) moves a chain to a new node by inserting a *twin* of its
//! node, next to it, and then removing the old one, so that the key is never
//! missing from the index for a lock-free reader. Twins differ only in their
//! generation, 0 or 1, which sorts after the key bytes; a chain records the
//! generation of its node (`ChainRef::node_generation`). Outside the write
//! lock a chain has one node; readers that walk the index skip the second of
//! two adjacent nodes of one chain.

use std::cmp::Ordering;

use crate::chain::ChainRef;
use crate::space::Space;

/// Where a search key sorts among the nodes of an equal key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Among {
    /// Before both generations: a bound that includes the key going forward
    /// or excludes it going backward.
    First,
    /// After both generations: a bound that excludes the key going forward or
    /// includes it going backward.
    Last,
}

/// A chain as the ordered index holds and compares it.
#[derive(Clone)]
pub(crate) struct OrderedKey {
    /// [`leading_bytes`] of the chain's key in the high seven bytes, the
    /// node's generation in the low byte.
    prefix: u64,
    chain: ChainRef,
}

impl OrderedKey {
    /// The index key of `chain`'s current node.
    pub(crate) fn new(chain: ChainRef) -> Self {
        let generation = chain.node_generation();
        Self::of_generation(chain, generation)
    }

    /// The index key of `chain` in a node of `generation` (0 or 1).
    pub(crate) fn of_generation(chain: ChainRef, generation: u8) -> Self {
        debug_assert!(generation <= 1, "node generations are 0 and 1");
        Self {
            prefix: leading_bytes(chain.key()) | u64::from(generation),
            chain,
        }
    }

    /// A key to search for: an empty chain of its own, never inserted, that
    /// sorts `among` the nodes of an equal key as asked.
    pub(crate) fn probe(space: Space, key: &[u8], among: Among) -> Self {
        let generation = match among {
            Among::First => 0,
            Among::Last => 1,
        };
        Self::of_generation(ChainRef::new_in(space, key), generation)
    }

    /// The chain.
    #[inline]
    pub(crate) fn chain(&self) -> &ChainRef {
        &self.chain
    }

    /// How the key of the chain compares with `key`: decided by the leading
    /// bytes kept in the node when they differ, so that the chain (a cache
    /// miss of its own) is loaded only when they tie.
    #[inline]
    pub(crate) fn cmp_key(&self, key: &[u8]) -> Ordering {
        (self.prefix >> 8)
            .cmp(&(leading_bytes(key) >> 8))
            .then_with(|| self.chain.key().cmp(key))
    }

    #[inline]
    fn generation(&self) -> u64 {
        self.prefix & 0xff
    }
}

/// The first seven bytes of `key` as a big-endian number shifted up one
/// byte, zeros in place of bytes past its end. Keys whose numbers differ
/// compare as their numbers do: the first differing byte among the seven
/// decides both, and a zero standing for a missing byte can only make a key
/// that is a proper prefix of the other the smaller one (or tie with it,
/// when the other's own byte there is zero).
#[inline]
fn leading_bytes(key: &[u8]) -> u64 {
    let mut bytes = [0u8; 8];
    let n = key.len().min(7);
    bytes[..n].copy_from_slice(&key[..n]);
    u64::from_be_bytes(bytes)
}

impl Ord for OrderedKey {
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        (self.prefix >> 8)
            .cmp(&(other.prefix >> 8))
            .then_with(|| self.chain.key().cmp(other.chain.key()))
            .then_with(|| self.generation().cmp(&other.generation()))
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
        OrderedKey::probe(Space::User, bytes, Among::First)
    }

    fn node(bytes: &[u8], generation: u8) -> OrderedKey {
        OrderedKey::of_generation(ChainRef::new_in(Space::User, bytes), generation)
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
    fn bytes_past_the_seventh_decide_between_equal_prefixes() {
        assert!(key(b"1234567a") < key(b"1234567b"));
        assert!(key(b"12345678a") < key(b"12345678b"));
        assert!(key(b"1234567") < key(b"1234567\0"));
        assert_eq!(key(b"123456789").cmp(&key(b"123456789")), Ordering::Equal);
    }

    #[test]
    fn twins_sort_by_generation_between_the_neighbouring_keys() {
        for k in [&b""[..], b"a", b"1234567", b"12345678", b"123456789"] {
            assert!(node(k, 0) < node(k, 1), "{k:?}");
            let first = OrderedKey::probe(Space::User, k, Among::First);
            let last = OrderedKey::probe(Space::User, k, Among::Last);
            assert_eq!(first.cmp(&node(k, 0)), Ordering::Equal);
            assert!(first < node(k, 1));
            assert!(last > node(k, 0));
            assert_eq!(last.cmp(&node(k, 1)), Ordering::Equal);
            let mut longer = k.to_vec();
            longer.push(0);
            assert!(node(k, 1) < node(&longer, 0), "{k:?}");
        }
        assert!(node(b"a", 1) < node(b"b", 0));
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
            prop_assert_eq!(node(&a, 1).cmp(&node(&b, 0)), a.cmp(&b).then(Ordering::Greater));
            prop_assert_eq!(node(&a, 0).cmp_key(&b), a.cmp(&b));
        }
    }
}
