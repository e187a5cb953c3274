//! Directional scanning of the ordered index.
//!
//! A scanner holds a counted reference to its current skiplist node (a
//! crossbeam `RefEntry`), so each step follows the node's successor link
//! instead of searching the index again, and a long scan holds no epoch
//! guard between steps (which would stall memory reclamation for everyone).
//! Which version of each key a reader sees is decided by the caller's view,
//! not here. A node that is the twin of the one just left (the same chain,
//! being moved by reordering: see `index/ordered_key.rs`) is stepped over,
//! so each chain is handed out once.
//!
//! A `RefEntry` must be released by hand or its node is never freed. Here
//! every entry is wrapped in a [`Pinned`] the moment it is obtained, whose
//! `Drop` releases it, so no path (an entry found past the end of a range,
//! an early return, a panic) can leak one. The entry borrows the skiplist;
//! [`Position`] keeps the entry and the `Arc` that owns the skiplist
//! together in one self-referential cell (`self_cell`), which drops the
//! entry before the `Arc` — no lifetime is widened by hand. A [`HeldNode`]
//! is the same cell on its own: where a cursor's read-ahead stopped (or its
//! scanner stood), so the next read-ahead continues from that node instead
//! of searching the index from its head.

use std::ops::Bound;
use std::sync::Arc;

use crossbeam_epoch as epoch;
use crossbeam_skiplist::base::RefEntry;

use crate::chain::ChainRef;
use crate::index::OrderedKey;
use crate::space::Space;
use crate::store::Shared;

/// The direction of a scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Ascending key order.
    Forward,
    /// Descending key order.
    Backward,
}

/// A skiplist entry whose node this scan keeps alive; released on drop.
pub(crate) struct Pinned<'a>(Option<RefEntry<'a, OrderedKey, ()>>);

impl<'a> Pinned<'a> {
    pub(crate) fn new(entry: RefEntry<'a, OrderedKey, ()>) -> Self {
        Self(Some(entry))
    }

    pub(crate) fn entry(&self) -> &RefEntry<'a, OrderedKey, ()> {
        self.0.as_ref().expect("held until drop")
    }

    /// The entry after this one going `forward`, or before it.
    fn step(&self, forward: bool, guard: &epoch::Guard) -> Option<RefEntry<'a, OrderedKey, ()>> {
        if forward {
            self.entry().next(guard)
        } else {
            self.entry().prev(guard)
        }
    }

    /// Releases the entry under a guard the caller already holds (cheaper
    /// than the fresh pin `Drop` takes).
    pub(crate) fn release(mut self, guard: &epoch::Guard) {
        if let Some(entry) = self.0.take() {
            entry.release(guard);
        }
    }
}

impl Drop for Pinned<'_> {
    fn drop(&mut self) {
        if let Some(entry) = self.0.take() {
            entry.release(&epoch::pin());
        }
    }
}

/// The node a scan stands on, if any.
pub(crate) type Slot<'a> = Option<Pinned<'a>>;

self_cell::self_cell!(
    /// The store's shared state, and the skiplist entry a scan stands on,
    /// which borrows the skiplist inside it.
    struct Position {
        owner: Arc<Shared>,
        #[covariant]
        dependent: Slot,
    }
);

/// A skiplist node held by a counted reference, with the store state that
/// owns the skiplist; or no node. Releases the node when dropped.
pub(crate) struct HeldNode(Position);

impl HeldNode {
    /// Holds no node yet.
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self(Position::new(shared, |_| None))
    }

    /// Runs `f` with the store's state and the slot of the node held, which
    /// `f` may take, release or fill with another node of that store.
    pub(crate) fn with<R>(&mut self, f: impl for<'a> FnOnce(&'a Shared, &mut Slot<'a>) -> R) -> R {
        self.0.with_dependent_mut(|shared, slot| f(shared, slot))
    }
}

/// A one-directional walk over the index from a starting bound.
pub(crate) struct Scanner {
    space: Space,
    dir: Direction,
    /// Where the walk starts, until the first step.
    from: Option<Bound<Box<[u8]>>>,
    /// The node the walk is on, with the state that keeps it alive.
    at: Position,
    done: bool,
}

impl Scanner {
    pub(crate) fn new(
        shared: Arc<Shared>,
        space: Space,
        dir: Direction,
        from: Bound<Box<[u8]>>,
    ) -> Self {
        Self {
            space,
            dir,
            from: Some(from),
            at: Position::new(shared, |_| None),
            done: false,
        }
    }

    pub(crate) fn direction(&self) -> Direction {
        self.dir
    }

    /// The node the scanner stands on (the one of the chain
    /// [`Scanner::next_chain`] returned last), if any, kept alive.
    pub(crate) fn into_held(self) -> HeldNode {
        HeldNode(self.at)
    }

    /// The next chain in scan order that lies within `limit` (the upper bound
    /// going forward, the lower bound going backward).
    pub(crate) fn next_chain(&mut self, limit: Bound<&[u8]>) -> Option<ChainRef> {
        if self.done {
            return None;
        }
        let forward = self.dir == Direction::Forward;
        let from = self.from.take();
        let space = self.space;
        let chain = self.at.with_dependent_mut(|shared, slot| {
            let guard = epoch::pin();
            let mut next = match (slot.as_ref(), from) {
                (Some(at), _) => at.step(forward, &guard),
                (None, Some(from)) => {
                    shared
                        .keys(space)
                        .seek(forward, from.as_ref().map(|k| &**k), &guard)
                }
                (None, None) => None,
            };
            loop {
                // Wrapped at once, so no path can leak it; the old position
                // and a next entry outside the range are released here.
                let reached = next.map(Pinned::new);
                let twin = match (slot.as_ref(), reached.as_ref()) {
                    (Some(left), Some(reached)) => left
                        .entry()
                        .key()
                        .chain()
                        .same(reached.entry().key().chain()),
                    _ => false,
                };
                if let Some(old) = slot.take() {
                    old.release(&guard);
                }
                *slot = reached;
                match slot.as_ref() {
                    Some(at) if twin => next = at.step(forward, &guard),
                    _ => break,
                }
            }
            let inside = slot
                .as_ref()
                .is_some_and(|p| within(p.entry().key().chain().key(), limit, forward));
            if !inside {
                if let Some(outside) = slot.take() {
                    outside.release(&guard);
                }
                return None;
            }
            slot.as_ref().map(|p| p.entry().key().chain().clone())
        });
        if chain.is_none() {
            self.done = true;
        }
        chain
    }
}

/// True if `key` has not passed `limit` in the scan's direction.
#[inline]
pub(crate) fn within(key: &[u8], limit: Bound<&[u8]>, forward: bool) -> bool {
    match (limit, forward) {
        (Bound::Unbounded, _) => true,
        (Bound::Included(l), true) => key <= l,
        (Bound::Excluded(l), true) => key < l,
        (Bound::Included(l), false) => key >= l,
        (Bound::Excluded(l), false) => key > l,
    }
}

/// The more restrictive of two lower bounds.
pub(crate) fn tighter_lower<'a>(a: Bound<&'a [u8]>, b: Bound<&'a [u8]>) -> Bound<&'a [u8]> {
    use Bound::*;
    match (a, b) {
        (Unbounded, x) | (x, Unbounded) => x,
        (Included(x), Included(y)) => Included(x.max(y)),
        (Excluded(x), Excluded(y)) => Excluded(x.max(y)),
        (Included(i), Excluded(e)) | (Excluded(e), Included(i)) => {
            if i > e {
                Included(i)
            } else {
                Excluded(e)
            }
        }
    }
}

/// The more restrictive of two upper bounds.
pub(crate) fn tighter_upper<'a>(a: Bound<&'a [u8]>, b: Bound<&'a [u8]>) -> Bound<&'a [u8]> {
    use Bound::*;
    match (a, b) {
        (Unbounded, x) | (x, Unbounded) => x,
        (Included(x), Included(y)) => Included(x.min(y)),
        (Excluded(x), Excluded(y)) => Excluded(x.min(y)),
        (Included(i), Excluded(e)) | (Excluded(e), Included(i)) => {
            if i < e {
                Included(i)
            } else {
                Excluded(e)
            }
        }
    }
}

/// An owned copy of a borrowed bound.
pub(crate) fn to_owned_bound(bound: Bound<&[u8]>) -> Bound<Box<[u8]>> {
    bound.map(Box::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Op, Store};
    use Bound::*;

    #[test]
    fn scanner_walks_both_ways_within_limits() {
        let store = Store::new();
        let keys: Vec<Vec<u8>> = (0..100u32).map(|i| i.to_be_bytes().to_vec()).collect();
        for k in &keys {
            store
                .write(&[Op::Put {
                    key: k,
                    value: b"",
                    expires_at: None,
                }])
                .unwrap();
        }
        let mut fwd = Scanner::new(
            Arc::clone(&store.shared),
            Space::User,
            Direction::Forward,
            Unbounded,
        );
        let mut seen = Vec::new();
        while let Some(c) = fwd.next_chain(Unbounded) {
            seen.push(c.key().to_vec());
        }
        assert_eq!(seen, keys);
        assert!(fwd.next_chain(Unbounded).is_none(), "stays finished");
        let mut back = Scanner::new(
            Arc::clone(&store.shared),
            Space::User,
            Direction::Backward,
            Excluded(keys[50].clone().into()),
        );
        let limit = Included(&keys[10][..]);
        let mut seen = Vec::new();
        while let Some(c) = back.next_chain(limit) {
            seen.push(c.key().to_vec());
        }
        let expected: Vec<Vec<u8>> = keys[10..50].iter().rev().cloned().collect();
        assert_eq!(seen, expected);
    }

    #[test]
    fn a_scanner_continues_past_keys_removed_under_it() {
        let store = Store::new();
        for k in [b"a", b"b", b"c"] {
            store
                .write(&[Op::Put {
                    key: k,
                    value: b"",
                    expires_at: None,
                }])
                .unwrap();
        }
        let mut scan = Scanner::new(
            Arc::clone(&store.shared),
            Space::User,
            Direction::Forward,
            Unbounded,
        );
        assert_eq!(scan.next_chain(Unbounded).unwrap().key(), b"a");
        for k in [b"a", b"b"] {
            store.write(&[Op::Delete { key: k }]).unwrap();
        }
        store.collect_garbage(usize::MAX);
        assert_eq!(store.stats().keys_held, 1, "a and b left the index");
        assert_eq!(scan.next_chain(Unbounded).unwrap().key(), b"c");
        assert!(scan.next_chain(Unbounded).is_none());
    }

    #[test]
    fn bound_intersections() {
        assert_eq!(
            tighter_lower(Included(b"a"), Excluded(b"a")),
            Excluded(&b"a"[..])
        );
        assert_eq!(
            tighter_lower(Included(b"b"), Excluded(b"a")),
            Included(&b"b"[..])
        );
        assert_eq!(
            tighter_lower(Unbounded, Included(b"x")),
            Included(&b"x"[..])
        );
        assert_eq!(
            tighter_upper(Included(b"a"), Excluded(b"a")),
            Excluded(&b"a"[..])
        );
        assert_eq!(
            tighter_upper(Included(b"a"), Excluded(b"b")),
            Included(&b"a"[..])
        );
        assert_eq!(
            tighter_upper(Excluded(b"c"), Excluded(b"b")),
            Excluded(&b"b"[..])
        );
    }
}
