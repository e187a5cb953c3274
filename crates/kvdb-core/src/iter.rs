//! A double-ended iterator over a read view, yielding owned key/value pairs.

use std::ops::Bound;

use crossbeam_epoch as epoch;

use crate::chain::ChainRef;
use crate::scan::{Direction, Scanner};
use crate::view::ReadView;

/// An iterator over the live keys of a read view within a key range, in
/// ascending order (descending with [`Iterator::rev`]); both ends can be
/// consumed and they never cross.
///
/// Items are copies: `(key, value)`.
pub struct Iter {
    view: ReadView,
    lower: Bound<Box<[u8]>>,
    upper: Bound<Box<[u8]>>,
    front: Option<Scanner>,
    back: Option<Scanner>,
    /// The last key yielded from each end: the other end stops before it.
    front_last: Option<ChainRef>,
    back_last: Option<ChainRef>,
    done: bool,
}

impl Iter {
    pub(crate) fn new(view: ReadView, lower: Bound<Box<[u8]>>, upper: Bound<Box<[u8]>>) -> Self {
        view.shared.counters.scans.add(1);
        Self {
            view,
            lower,
            upper,
            front: None,
            back: None,
            front_last: None,
            back_last: None,
            done: false,
        }
    }

    /// The view the iterator reads.
    pub fn view(&self) -> &ReadView {
        &self.view
    }

    fn step(&mut self, dir: Direction) -> Option<(Vec<u8>, Vec<u8>)> {
        if self.done {
            return None;
        }
        let (scanner, start, limit) = match dir {
            Direction::Forward => (&mut self.front, &self.lower, &self.upper),
            Direction::Backward => (&mut self.back, &self.upper, &self.lower),
        };
        let shared = &self.view.shared;
        let scanner = scanner
            .get_or_insert_with(|| Scanner::new(std::sync::Arc::clone(shared), dir, start.clone()));
        let limit = limit.as_ref().map(|k| &**k);
        loop {
            let Some(chain) = scanner.next_chain(limit) else {
                self.done = true;
                return None;
            };
            let other_end = match dir {
                Direction::Forward => &self.back_last,
                Direction::Backward => &self.front_last,
            };
            if let Some(other) = other_end {
                let crossed = match dir {
                    Direction::Forward => chain.key() >= other.key(),
                    Direction::Backward => chain.key() <= other.key(),
                };
                if crossed {
                    self.done = true;
                    return None;
                }
            }
            let guard = epoch::pin();
            let item = chain
                .version_at(self.view.seq(), &guard)
                .filter(|v| v.is_live_at(self.view.time_ms()))
                .and_then(|v| v.bytes())
                .map(|value| (chain.key().to_vec(), value.to_vec()));
            drop(guard);
            if let Some(item) = item {
                match dir {
                    Direction::Forward => self.front_last = Some(chain),
                    Direction::Backward => self.back_last = Some(chain),
                }
                return Some(item);
            }
        }
    }
}

impl Iterator for Iter {
    type Item = (Vec<u8>, Vec<u8>);

    fn next(&mut self) -> Option<Self::Item> {
        self.step(Direction::Forward)
    }
}

impl DoubleEndedIterator for Iter {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.step(Direction::Backward)
    }
}

impl std::iter::FusedIterator for Iter {}

impl std::fmt::Debug for Iter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Iter").field("view", &self.view).finish()
    }
}
