//! A double-ended iterator over a read view, yielding owned key/value pairs.

use std::collections::VecDeque;
use std::ops::Bound;

use crate::cursor::Cursor;
use crate::view::ReadView;

/// Pairs an end copies on its first refill ([`Cursor::take_batch`]); each
/// later refill copies twice as many, up to [`MAX_BATCH`]. A short scan
/// (`take(10)`) copies about what it yields instead of a full batch: every
/// pair copied is two allocations.
const FIRST_BATCH: usize = 4;
/// The most pairs an end copies per refill.
const MAX_BATCH: usize = 64;

/// One end of an [`Iter`]: a cursor and the pairs it has copied but not yet
/// yielded.
struct End {
    cursor: Cursor,
    started: bool,
    /// How many pairs the next refill copies.
    batch: usize,
    buffered: VecDeque<(Vec<u8>, Vec<u8>)>,
}

impl End {
    fn new(view: ReadView, lower: &Bound<Box<[u8]>>, upper: &Bound<Box<[u8]>>) -> Self {
        Self {
            cursor: Cursor::uncounted(view, lower.clone(), upper.clone()),
            started: false,
            batch: FIRST_BATCH,
            buffered: VecDeque::new(),
        }
    }

    /// The next pair this end would yield, refilling from the cursor.
    fn peek(&mut self, forward: bool) -> Option<&(Vec<u8>, Vec<u8>)> {
        if self.buffered.is_empty() {
            if !self.started {
                self.started = true;
                if forward {
                    self.cursor.seek_to_first();
                } else {
                    self.cursor.seek_to_last();
                }
            }
            let buffered = &mut self.buffered;
            self.cursor.take_batch(forward, self.batch, |key, value| {
                buffered.push_back((key.to_vec(), value.to_vec()));
                true
            });
            self.batch = (self.batch * 2).min(MAX_BATCH);
        }
        self.buffered.front()
    }
}

/// An iterator over the live keys of a read view within a key range, in
/// ascending order (descending with [`Iterator::rev`]); both ends can be
/// consumed and they never cross.
///
/// Items are copies: `(key, value)`. Each end copies pairs a batch at a time
/// ([`Cursor::take_batch`]), 4 at first and twice as many each time up to
/// 64, and yields them one by one.
pub struct Iter {
    /// The view, until the first end opened takes it for its cursor (the
    /// other end's cursor registers its own), and again once the ends have
    /// met: an iterator read from one end registers nothing beyond the view
    /// it was given. While it is `None`, an end holds it.
    view: Option<ReadView>,
    lower: Bound<Box<[u8]>>,
    upper: Bound<Box<[u8]>>,
    front: Option<End>,
    back: Option<End>,
    /// The last key yielded from each end, if any: the other end stops
    /// before it. Reused buffers: no allocation per item once grown.
    front_last: Option<Vec<u8>>,
    back_last: Option<Vec<u8>>,
    done: bool,
}

impl Iter {
    pub(crate) fn new(view: ReadView, lower: Bound<Box<[u8]>>, upper: Bound<Box<[u8]>>) -> Self {
        view.shared.counters.scans.add(1);
        Self {
            view: Some(view),
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
        let end = self.front.as_ref().or(self.back.as_ref());
        self.view
            .as_ref()
            .or_else(|| end.map(|end| end.cursor.view()))
            .expect("the iterator or one of its ends holds the view")
    }

    fn step(&mut self, forward: bool) -> Option<(Vec<u8>, Vec<u8>)> {
        if self.done {
            return None;
        }
        let (end, other, other_last) = if forward {
            (&mut self.front, &self.back, &self.back_last)
        } else {
            (&mut self.back, &self.front, &self.front_last)
        };
        let end = match end {
            Some(end) => end,
            None => {
                // The iterator's view, or a registration of the other end's.
                let view = self
                    .view
                    .take()
                    .or_else(|| other.as_ref().map(|other| other.cursor.view().clone()))
                    .expect("the iterator or one of its ends holds the view");
                end.insert(End::new(view, &self.lower, &self.upper))
            }
        };
        let crossed = match (end.peek(forward), other_last) {
            (None, _) => true,
            (Some((key, _)), Some(other)) if forward => key >= other,
            (Some((key, _)), Some(other)) => key <= other,
            (Some(_), None) => false,
        };
        if crossed {
            self.done = true;
            let (front, back) = (self.front.take(), self.back.take());
            if self.view.is_none() {
                self.view = front.or(back).map(|end| end.cursor.into_view());
            }
            return None;
        }
        let item = end.buffered.pop_front()?;
        let last = if forward {
            &mut self.front_last
        } else {
            &mut self.back_last
        };
        let last = last.get_or_insert_with(Vec::new);
        last.clear();
        last.extend_from_slice(&item.0);
        Some(item)
    }
}

impl Iterator for Iter {
    type Item = (Vec<u8>, Vec<u8>);

    fn next(&mut self) -> Option<Self::Item> {
        self.step(true)
    }
}

impl DoubleEndedIterator for Iter {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.step(false)
    }
}

impl std::iter::FusedIterator for Iter {}

impl std::fmt::Debug for Iter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Iter").field("view", self.view()).finish()
    }
}
