//! A fixed-capacity queue that is filled, drained in order and cleared:
//! the buffer of a cursor's read-ahead.
//!
//! A scan step takes one item from such a queue, and the refill happens
//! once every few dozen steps, so the step pays only for the take: an index
//! compare and a move. A `VecDeque` pays for its wrap-around arithmetic and
//! grows by reallocating on the first refills of every cursor.

/// Up to `N` items, taken in the order they were pushed.
///
/// Taking an item does not free its slot for another push: a queue holds
/// at most `N` pushes between one [`FillQueue::clear`] and the next.
pub(crate) struct FillQueue<T, const N: usize> {
    slots: [Option<T>; N],
    /// The next item to take.
    at: usize,
    /// One past the last item pushed.
    end: usize,
}

impl<T, const N: usize> FillQueue<T, N> {
    pub(crate) fn new() -> Self {
        Self {
            slots: [const { None }; N],
            at: 0,
            end: 0,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.at == self.end
    }

    pub(crate) fn len(&self) -> usize {
        self.end - self.at
    }

    /// Appends `item`.
    ///
    /// # Panics
    ///
    /// If `N` items were pushed since the queue was made or last cleared.
    pub(crate) fn push(&mut self, item: T) {
        assert!(self.end < N, "a push onto a full fill queue");
        self.slots[self.end] = Some(item);
        self.end += 1;
    }

    /// Takes the oldest item.
    pub(crate) fn pop(&mut self) -> Option<T> {
        if self.is_empty() {
            return None;
        }
        let item = self.slots[self.at].take();
        self.at += 1;
        item
    }

    /// Drops every item.
    pub(crate) fn clear(&mut self) {
        for slot in &mut self.slots[self.at..self.end] {
            *slot = None;
        }
        self.at = 0;
        self.end = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::FillQueue;
    use std::rc::Rc;

    #[test]
    fn items_come_out_in_the_order_they_went_in() {
        let mut q = FillQueue::<u32, 4>::new();
        assert!(q.is_empty());
        for i in 1..=4 {
            q.push(i);
        }
        assert_eq!(q.len(), 4);
        assert_eq!(q.pop(), Some(1));
        assert_eq!(q.pop(), Some(2));
        assert_eq!(q.len(), 2);
        assert_eq!(q.pop(), Some(3));
        assert_eq!(q.pop(), Some(4));
        assert_eq!(q.pop(), None);
        assert!(q.is_empty());
    }

    #[test]
    fn a_cleared_queue_fills_again_from_the_start() {
        let mut q = FillQueue::<u32, 2>::new();
        q.push(1);
        q.push(2);
        assert_eq!(q.pop(), Some(1));
        assert_eq!(q.pop(), Some(2));
        q.clear();
        q.push(3);
        q.push(4);
        assert_eq!(q.len(), 2);
        assert_eq!(q.pop(), Some(3));
        assert_eq!(q.pop(), Some(4));
    }

    #[test]
    fn clear_drops_the_items_left() {
        let item = Rc::new(());
        let mut q = FillQueue::<Rc<()>, 3>::new();
        for _ in 0..3 {
            q.push(Rc::clone(&item));
        }
        drop(q.pop());
        assert_eq!(Rc::strong_count(&item), 3);
        q.clear();
        assert_eq!(Rc::strong_count(&item), 1);
        assert!(q.is_empty());
        q.push(Rc::clone(&item));
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn dropping_the_queue_drops_its_items() {
        let item = Rc::new(());
        let mut q = FillQueue::<Rc<()>, 3>::new();
        q.push(Rc::clone(&item));
        q.push(Rc::clone(&item));
        drop(q);
        assert_eq!(Rc::strong_count(&item), 1);
    }

    #[test]
    #[should_panic(expected = "full fill queue")]
    fn a_push_past_the_capacity_panics() {
        let mut q = FillQueue::<u32, 1>::new();
        q.push(1);
        q.push(2);
    }

    #[test]
    #[should_panic(expected = "full fill queue")]
    fn a_taken_item_does_not_free_its_slot_until_a_clear() {
        let mut q = FillQueue::<u32, 2>::new();
        q.push(1);
        q.push(2);
        assert_eq!(q.pop(), Some(1));
        q.push(3);
    }
}
