//! A watcher: one consumer's position in the stream of changes, the events
//! decoded but not yet delivered, and where it reads from next (the feed in
//! memory, or the log on disk while it catches up).

use std::collections::VecDeque;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::db::Inner;
use crate::error::{Error, Result};
use crate::persist::record::{self, Logged};
use crate::watch::chunk::{ChunkCursor, Next};
use crate::watch::feed::{Subscriber, contains};
use crate::watch::log::{LogCursor, gone_error};
use crate::watch::{Change, Event};

/// How long a waiting watcher keeps looking for new changes before it
/// blocks. A watcher that keeps up with a busy writer then usually finds
/// the next commit without blocking, sparing the writer the system call
/// that wakes a blocked thread.
const SPIN_FOR: Duration = Duration::from_micros(200);

/// CPU pause instructions between two looks while spinning (about 10 µs
/// here). Each look pulls the cache lines a writer publishes to over to
/// the watcher's core, and the writer must pull them back: looking every
/// few commits rather than after each one keeps a busy writer's cost low,
/// for a few microseconds of latency.
const PAUSES_PER_LOOK: u32 = 512;

/// Events decoded from the log before handing control back.
const EVENTS_PER_LOG_READ: usize = 4096;

/// A stream of the changes to a key range, in commit order, from
/// [`crate::Db::watch`] or [`crate::Db::watch_prefix`].
///
/// Each event carries its sequence number; the events of one batch or
/// transaction are consecutive and the last of them has
/// [`Event::last_in_batch`] set. A watcher is used from one thread at a
/// time (it is `Send`). Dropping it unregisters it.
pub struct Watcher {
    inner: Arc<Inner>,
    subscriber: Arc<Subscriber>,
    /// The next sequence number to decode.
    next_seq: u64,
    ready: VecDeque<Event>,
    /// Where it reads the feed in memory.
    feed: Option<ChunkCursor>,
    /// Where it reads the log, while catching up from disk.
    log: Option<LogCursor>,
    /// Holds the right to busy-spin while waiting (`Feed::try_spin`).
    spins: bool,
    /// Once lagged, the sequence number needed and the oldest retained.
    lagged: Option<(u64, u64)>,
}

enum LogStep {
    /// The record ends before the watcher's position.
    Before,
    /// The record starts after the watcher's position: a hole.
    Gap(u64),
    /// The record is not yet visible to readers.
    Beyond,
    /// The record was decoded.
    Taken,
}

impl Watcher {
    pub(crate) fn new(inner: Arc<Inner>, subscriber: Arc<Subscriber>, next_seq: u64) -> Self {
        // Readable from the start: there may be retained changes to read
        // before anything new is committed.
        subscriber.signal.raise();
        Self {
            inner,
            subscriber,
            next_seq,
            ready: VecDeque::new(),
            feed: None,
            log: None,
            spins: false,
            lagged: None,
        }
    }

    /// The sequence number of the next change this watcher will deliver (or
    /// look at, if it is outside the watched range): watching again from
    /// here resumes without gap or duplicate.
    pub fn position(&self) -> u64 {
        self.ready.front().map_or(self.next_seq, |e| e.seq)
    }

    /// The next event if one is ready, without waiting.
    ///
    /// Fails with [`crate::ErrorKind::Lagged`] once the changes it needs are
    /// no longer retained (and from then on), and with
    /// [`Error::Closed`] once the database is closed.
    pub fn try_next(&mut self) -> Result<Option<Event>> {
        if let Some(event) = self.ready.pop_front() {
            return Ok(Some(event));
        }
        self.fill()?;
        if self.ready.is_empty() {
            // Nothing now: clear the wake-up flag, then look once more for
            // a commit published in between.
            self.subscriber.signal.clear();
            self.fill()?;
        }
        Ok(self.ready.pop_front())
    }

    /// The next event, waiting up to `timeout` for one; `Ok(None)` if none
    /// arrived in time.
    ///
    /// A waiting call first looks for new changes itself, every ~10 µs for
    /// up to 200 µs (busy on its CPU, or yielding it between looks when
    /// other watchers already spin on all but one CPU), and only then
    /// sleeps until a writer wakes it: a watcher that keeps up with a busy
    /// writer costs the writer almost nothing, for up to 200 µs of CPU
    /// after each quiet moment.
    pub fn next_timeout(&mut self, timeout: Duration) -> Result<Option<Event>> {
        let deadline = Instant::now().checked_add(timeout);
        loop {
            // No deadline (a timeout too long to represent): wait in hours.
            let deadline = deadline.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            // Spinning looks at the changes themselves, not at the wake-up
            // flag: a watcher that keeps up leaves the flag raised, and
            // writers then never write it. Only a few watchers (one fewer
            // than the CPUs) busy-spin at once, keeping the right until they
            // block; the others also yield the CPU between looks, so that
            // spinning never starves writers.
            if let Some(event) = self.look()? {
                return Ok(Some(event));
            }
            if !self.spins {
                self.spins = self.inner.feed.try_spin();
            }
            let spin_until = (Instant::now() + SPIN_FOR).min(deadline);
            while Instant::now() < spin_until {
                if !self.spins {
                    std::thread::yield_now();
                }
                for _ in 0..PAUSES_PER_LOOK {
                    std::hint::spin_loop();
                }
                if let Some(event) = self.look()? {
                    return Ok(Some(event));
                }
            }
            self.stop_spinning();
            if let Some(event) = self.try_next()? {
                return Ok(Some(event));
            }
            if !self.subscriber.signal.wait_until(deadline) {
                return Ok(None);
            }
        }
    }

    fn stop_spinning(&mut self) {
        if std::mem::take(&mut self.spins) {
            self.inner.feed.stop_spinning();
        }
    }

    /// The next event if one is ready, leaving the wake-up flag alone.
    fn look(&mut self) -> Result<Option<Event>> {
        if self.ready.is_empty() {
            // Nothing committed past the position: nothing to read anywhere.
            if self.lagged.is_none() && self.inner.store.visible_seq() < self.next_seq {
                return Ok(None);
            }
            self.fill()?;
        }
        Ok(self.ready.pop_front())
    }

    /// A file descriptor (a Linux eventfd, owned by the watcher) that polls
    /// readable when events may be waiting: call [`Watcher::try_next`] until
    /// it returns `Ok(None)`, then poll again. It is readable right after
    /// the watcher is made. Created on first call.
    pub fn fd(&self) -> std::io::Result<RawFd> {
        self.subscriber.signal.fd()
    }

    /// True in a `fork()` child of the process that opened the database
    /// (every call then fails).
    pub fn is_inherited_across_fork(&self) -> bool {
        self.inner.store.is_inherited_across_fork()
    }

    fn lag(&self, oldest: u64) -> Error {
        Error::Lagged {
            requested: self.next_seq,
            oldest,
        }
    }

    fn fill(&mut self) -> Result<()> {
        if let Some((requested, oldest)) = self.lagged {
            return Err(Error::Lagged { requested, oldest });
        }
        self.inner.check_open()?;
        let result = self.fill_from_sources();
        if let Err(Error::Lagged { requested, oldest }) = result {
            self.log = None;
            self.lagged = Some((requested, oldest));
        }
        result
    }

    fn fill_from_sources(&mut self) -> Result<()> {
        let visible = self.inner.store.visible_seq();
        while self.ready.is_empty() && self.next_seq <= visible {
            let mut cursor = match self.feed.take() {
                Some(cursor) => cursor,
                None => match self.inner.feed.locate(self.next_seq) {
                    Ok(cursor) => {
                        self.log = None;
                        cursor
                    }
                    Err(dropped_through) => {
                        self.read_log(visible, dropped_through)?;
                        if self.log.is_none() && self.next_seq <= dropped_through {
                            break; // the newest logged record is not yet visible
                        }
                        continue;
                    }
                },
            };
            match cursor.next(self.next_seq, visible) {
                Next::Record { first, payload } => {
                    self.take(first, payload)?;
                }
                Next::Pending => {
                    self.feed = Some(cursor);
                    break;
                }
                Next::End => continue, // on to the next chunk
            }
            self.feed = Some(cursor);
        }
        Ok(())
    }

    /// Decodes from the log until events are ready or the feed in memory
    /// can take over (past `dropped_through`).
    fn read_log(&mut self, visible: u64, dropped_through: u64) -> Result<()> {
        let inner = Arc::clone(&self.inner);
        let Some(persist) = &inner.persist else {
            return Err(self.lag(inner.feed.oldest_in_memory()));
        };
        let oldest = || inner.oldest_retained();
        let mut reopened = false;
        let mut taken = 0;
        loop {
            // Out of `self` while a record is read, so that the record can
            // be decoded in place from the segment's bytes.
            let mut cursor = match self.log.take() {
                Some(cursor) => cursor,
                None => LogCursor::open(persist, self.next_seq)
                    .map_err(|gone| gone_error(gone, || self.lag(oldest())))?,
            };
            let step = cursor.next(|seq, payload| -> Result<LogStep> {
                let count = record::op_count(payload).map_err(Error::corruption)?;
                let last = seq + count.max(1) - 1;
                if last < self.next_seq {
                    return Ok(LogStep::Before);
                }
                if seq > self.next_seq {
                    return Ok(LogStep::Gap(seq));
                }
                if last > visible {
                    return Ok(LogStep::Beyond);
                }
                taken += self.take(seq, payload)?;
                Ok(LogStep::Taken)
            });
            let step = match step {
                Ok(step) => step.transpose()?,
                Err(gone) => return Err(gone_error(gone, || self.lag(oldest()))),
            };
            match step {
                None => {
                    // The end of the segments listed: one more listing may
                    // show a newer segment.
                    if reopened {
                        return Err(self.lag(oldest()));
                    }
                    reopened = true;
                }
                Some(LogStep::Before) => self.log = Some(cursor),
                Some(LogStep::Gap(first)) => return Err(self.lag(first.min(oldest()))),
                Some(LogStep::Beyond) => return Ok(()),
                Some(LogStep::Taken) => {
                    self.log = Some(cursor);
                    if self.next_seq > dropped_through || taken >= EVENTS_PER_LOG_READ {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Queues the events of the batch at `first` that the watcher wants;
    /// returns how many.
    fn take(&mut self, first: u64, payload: &[u8]) -> Result<usize> {
        let ops = record::decode_logged(payload).map_err(|reason| {
            Error::corruption(format!("change record at sequence {first}: {reason}"))
        })?;
        let before = self.ready.len();
        for (seq, logged) in (first..).zip(ops.iter()) {
            if seq < self.next_seq {
                continue;
            }
            let (key, change) = match *logged {
                Logged::Op(kvdb_core::Op::Put {
                    key,
                    value,
                    expires_at,
                }) => (
                    key,
                    Change::Put {
                        value: value.to_vec(),
                        expires_at,
                    },
                ),
                Logged::Op(kvdb_core::Op::Delete { key }) => (key, Change::Delete),
                Logged::Expired(key) => (key, Change::Expired),
                Logged::Evicted(key) => (key, Change::Evicted),
            };
            if contains(&self.subscriber.range, key) {
                self.ready.push_back(Event {
                    seq,
                    key: key.to_vec(),
                    change,
                    last_in_batch: false,
                });
            }
        }
        if self.ready.len() > before
            && let Some(last) = self.ready.back_mut()
        {
            last.last_in_batch = true;
        }
        self.next_seq = self.next_seq.max(first + ops.len() as u64);
        Ok(self.ready.len() - before)
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop_spinning();
        self.inner.feed.unsubscribe(&self.subscriber);
    }
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher")
            .field("position", &self.position())
            .field("range", &self.subscriber.range)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    use crate::{Db, WATCH_FROM_NOW};

    #[test]
    fn a_watcher_gives_back_its_right_to_spin_when_dropped() {
        let db = Db::in_memory().unwrap();
        if db.inner.feed.max_spinning() == 0 {
            return; // one CPU: nobody spins
        }
        let mut watcher = db.watch_prefix(b"", WATCH_FROM_NOW).unwrap();
        // As `next_timeout` leaves it when a change arrives while it spins.
        assert!(db.inner.feed.try_spin());
        watcher.spins = true;
        drop(watcher);
        assert_eq!(db.inner.feed.spinning.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_waiting_watcher_gives_back_its_right_to_spin_before_it_sleeps() {
        let db = Db::in_memory().unwrap();
        let mut watcher = db.watch_prefix(b"", WATCH_FROM_NOW).unwrap();
        assert_eq!(
            watcher.next_timeout(Duration::from_millis(5)).unwrap(),
            None
        );
        assert!(!watcher.spins);
        assert_eq!(db.inner.feed.spinning.load(Ordering::Relaxed), 0);
    }
}
