//! The write path: every write — a put, a batch, a conditional write, an
//! expiry change, a transaction — takes this one shape.
//!
//! 1. Before the write lock, or under it when the write depends on what is
//!    stored or sets TTLs (counted from the write's reading of the clock,
//!    [`Writer::deadline`]), the operations become a [`PreparedBatch`]:
//!    checked once.
//! 2. Under the write lock, the batch gets its sequence numbers once
//!    ([`Writer::assign`]).
//! 3. One log record holds the batch at those numbers (in memory: skipped).
//! 4. The batch is applied to the store at the same numbers, invisible to
//!    readers, and the write lock is released.
//! 5. Under the `always` policy, the record's group sync is awaited.
//! 6. The receipt is published: readers see the whole batch at once, and
//!    watchers of its keys are woken (the batch joined the change feed
//!    under the write lock, in sequence order).
//!
//! A batch whose log append or sync fails is never published and never
//! acknowledged; the log then refuses further writes until the database is
//! reopened. Recovery replays log records through the same
//! [`Writer::apply`], at the numbers each record holds.

use kvdb_core::{Applied, Located, Op, PreparedBatch, SeqRange, Writer};
use kvdb_wal::{LogPosition, WalError};

use crate::db::Inner;
use crate::error::{Error, Result};
use crate::evict::Evicted;
use crate::index::maintain::{Planned, plan};
use crate::options::SyncPolicy;
use crate::persist::record::{self, Cause};

/// A write readied under the write lock ([`Inner::prepare`]).
pub(crate) struct Prepared {
    /// Evictions made for it: logged and applied, and published whatever
    /// becomes of the write.
    evicted: Option<Evicted>,
    /// Its index writes.
    planned: Option<Planned>,
}

/// A batch numbered, logged and applied, not yet published.
pub(crate) struct Step {
    pub(crate) range: SeqRange,
    pub(crate) applied: Applied,
    /// Where its log record ends (durable databases).
    pub(crate) logged_to: Option<LogPosition>,
}

impl Inner {
    /// Takes the write lock after checking that the database is open, then
    /// checks that its log has not stopped.
    pub(crate) fn begin_write(&self) -> Result<Writer<'_>> {
        self.check_open()?;
        let writer = self.store.writer()?;
        // A stopped log refuses every write until reopen. The store may
        // hold the failed write applied (never published): a write that
        // reads before it decides (a delete, a conditional write, a
        // transaction's validation, an index build) would decide on it.
        if let Some(failure) = self.persist.as_ref().and_then(|p| p.wal.failure()) {
            return Err(WalError::Failed(failure).into());
        }
        Ok(writer)
    }

    /// Commits `batch` atomically under `writer`. An empty batch writes
    /// nothing.
    pub(crate) fn commit(&self, writer: Writer<'_>, batch: PreparedBatch<'_>) -> Result<()> {
        self.commit_seq(writer, batch).map(drop)
    }

    /// As [`Inner::commit`]; returns the sequence number of the batch's last
    /// operation (its commit point), or for an empty batch the newest
    /// applied one.
    pub(crate) fn commit_seq(&self, writer: Writer<'_>, batch: PreparedBatch<'_>) -> Result<u64> {
        self.commit_caused(writer, batch, Cause::Write)
    }

    /// As [`Inner::commit_seq`], for a batch written because of `cause`
    /// (which the log record and watchers keep). A caller's write first
    /// makes room under the memory limit ([`Inner::prepare`]).
    pub(crate) fn commit_caused(
        &self,
        mut writer: Writer<'_>,
        batch: PreparedBatch<'_>,
        cause: Cause,
    ) -> Result<u64> {
        let prepared = self.prepare(&mut writer, batch.ops(), cause)?;
        self.commit_prepared(writer, batch, prepared, None, cause)
    }

    /// Readies a write of `ops` under `writer`: plans its index writes and,
    /// for a caller's write, makes room for it under the memory limit. The
    /// plan holds through the eviction, which never takes a key `ops`
    /// writes (their entries are theirs alone). Fails, having evicted
    /// nothing, if the plan fails or the policy cannot make room.
    pub(crate) fn prepare(
        &self,
        writer: &mut Writer<'_>,
        ops: &[Op<'_>],
        cause: Cause,
    ) -> Result<Prepared> {
        let planned = plan(writer, &self.indexes, ops)?;
        let evicted = match cause {
            Cause::Write => self.make_room(writer, ops, planned.as_ref())?,
            _ => None,
        };
        Ok(Prepared { evicted, planned })
    }

    /// Commits `batch`, readied by [`Inner::prepare`] under `writer` with
    /// nothing written since, applying with the chains `located` found for
    /// it under `writer` if given (a transaction's commit looks them up to
    /// validate them first).
    pub(crate) fn commit_prepared(
        &self,
        mut writer: Writer<'_>,
        batch: PreparedBatch<'_>,
        prepared: Prepared,
        located: Option<Located>,
        cause: Cause,
    ) -> Result<u64> {
        let Prepared { evicted, planned } = prepared;
        let ops = batch.ops();
        let step = self.log_and_apply(&mut writer, batch, planned, located, cause);
        let newest = writer.next_seq() - 1;
        drop(writer);
        // Evictions were logged and applied before the write: they are
        // published whatever became of it.
        if let Some(evicted) = &evicted {
            self.publish_eviction(evicted)?;
        }
        let committed = match step {
            Ok(Some(step)) => self.publish_step(&step).map(|()| {
                self.feed.notify(ops);
                step.range.last()
            }),
            Ok(None) => Ok(newest),
            Err(e) => Err(e),
        };
        // Published, so collected too, even if the write failed.
        if let Some(evicted) = evicted {
            self.collect_evicted(&evicted);
            self.eviction.recycle(evicted.victims);
        }
        if committed.is_ok() {
            self.collect_near_limit();
        }
        committed
    }

    /// Gives up a write readied by [`Inner::prepare`] under `writer`: the
    /// evictions made for it are published, announced and collected all
    /// the same.
    pub(crate) fn abandon(&self, writer: Writer<'_>, prepared: Prepared) -> Result<()> {
        match prepared.evicted {
            Some(evicted) => self.finish_eviction(writer, evicted),
            None => Ok(()),
        }
    }

    /// Publishes, announces and collects evictions made under `writer`
    /// without a write of their own.
    pub(crate) fn finish_eviction(&self, writer: Writer<'_>, evicted: Evicted) -> Result<()> {
        drop(writer);
        self.publish_eviction(&evicted)?;
        self.collect_evicted(&evicted);
        self.eviction.recycle(evicted.victims);
        Ok(())
    }

    fn publish_eviction(&self, evicted: &Evicted) -> Result<()> {
        for step in evicted.steps.iter().flatten() {
            self.publish_step(step)?;
        }
        self.feed
            .notify_keys(evicted.victims.iter().map(kvdb_core::Candidate::key));
        Ok(())
    }

    /// Steps 2 to 4 under `writer`: numbers, logs and applies `batch` with
    /// the secondary index writes `planned` for it under `writer` (with
    /// nothing written since; see `index::maintain::plan`) and adds it to
    /// the change feed; `None` for a batch that writes nothing.
    pub(crate) fn log_and_apply(
        &self,
        writer: &mut Writer<'_>,
        batch: PreparedBatch<'_>,
        planned: Option<Planned>,
        located: Option<Located>,
        cause: Cause,
    ) -> Result<Option<Step>> {
        let index_ops = planned.as_ref().map(|p| p.index_ops()).unwrap_or_default();
        let batch = batch.with_index_ops(&index_ops)?;
        let Some(range) = writer.assign(&batch) else {
            return Ok(None);
        };
        // Encoded once for both the log and the change feed.
        let mut staged = self.feed.is_on().then(|| {
            let mut staged = self.feed.stage();
            record::encode(staged.payload(), batch.ops(), cause);
            staged
        });
        let logged_to = match &self.persist {
            Some(persist) => {
                Some(
                    persist
                        .wal
                        .append(range.first(), range.len(), |buf| match &mut staged {
                            Some(staged) => buf.extend_from_slice(staged.payload()),
                            None => record::encode(buf, batch.ops(), cause),
                        })?,
                )
            }
            None => None,
        };
        let applied = match located {
            Some(located) => writer.apply_located(&batch, range, located),
            None => writer.apply(&batch, range),
        }
        .map_err(|e| Error::Internal(format!("applying a prepared batch failed: {e}")))?;
        if let Some(staged) = staged {
            // Under the write lock: the feed holds batches in sequence order.
            staged.publish(range);
        }
        Ok(Some(Step {
            range,
            applied,
            logged_to,
        }))
    }

    /// Steps 5 and 6 once the write lock is released: waits for the
    /// record's sync under the `always` policy, then makes the batch
    /// visible.
    fn publish_step(&self, step: &Step) -> Result<()> {
        if let (Some(persist), Some(end)) = (&self.persist, step.logged_to)
            && self.options.sync == SyncPolicy::Always
        {
            persist.wal.sync_to(end)?;
        }
        self.store.publish(step.applied);
        Ok(())
    }

    /// Runs one active expiry cycle: expired keys are deleted through the
    /// write path, so the deletion is logged and watchers see it. A failed
    /// write is recorded as a background error and deletes nothing.
    pub(crate) fn expire_cycle(&self) -> kvdb_core::ExpireReport {
        if self.check_open().is_err() {
            return kvdb_core::ExpireReport::default();
        }
        self.store
            .active_expire_cycle_with(&self.options.expire, |writer, keys| {
                let ops: Vec<Op<'_>> = keys.iter().map(|key| Op::Delete { key }).collect();
                let committed = PreparedBatch::new(&ops)
                    .map_err(Error::from)
                    .and_then(|batch| self.commit_caused(writer, batch, Cause::Expiry));
                match committed {
                    Ok(_) => keys.len(),
                    Err(e) => {
                        if let Some(persist) = &self.persist {
                            persist.note_background_error(&e);
                        }
                        0
                    }
                }
            })
    }

    /// Waits until every write up to `seq` is visible to readers, or
    /// `limit` has passed (a write whose sync failed never becomes
    /// visible). A write is published just after it releases the write
    /// lock (under the `always` policy, once its group sync is done): the
    /// wait is usually over at once, but its writer may have been preempted
    /// in between, so this yields to it rather than spin.
    pub(crate) fn wait_visible(&self, seq: u64, limit: std::time::Duration) {
        if self.store.visible_seq() >= seq {
            return;
        }
        let deadline = std::time::Instant::now() + limit;
        for _ in 0..64 {
            if self.store.visible_seq() >= seq {
                return;
            }
            std::hint::spin_loop();
        }
        while self.store.visible_seq() < seq && std::time::Instant::now() < deadline {
            std::thread::yield_now();
        }
    }

    /// Ends a write that read under `writer` and decided to write nothing
    /// (a delete of an absent key, a conditional write whose condition
    /// failed). What it read may include writes applied and not yet
    /// published (under the `always` policy, still being synced): it
    /// returns once they are visible, as its own commit would have, or
    /// fails as they did if their sync failed, since its answer rests on
    /// them.
    pub(crate) fn settle_unwritten(&self, writer: Writer<'_>) -> Result<()> {
        let read_through = writer.next_seq() - 1;
        drop(writer);
        if self.store.visible_seq() >= read_through {
            return Ok(());
        }
        if let Some(persist) = &self.persist
            && self.options.sync == SyncPolicy::Always
        {
            persist.wal.sync()?;
        }
        self.wait_visible(read_through, std::time::Duration::from_secs(1));
        Ok(())
    }

    /// Commits a single put under `writer`.
    pub(crate) fn commit_put(
        &self,
        writer: Writer<'_>,
        key: &[u8],
        value: &[u8],
        expires_at: Option<u64>,
    ) -> Result<()> {
        let ops = [Op::Put {
            key,
            value,
            expires_at,
        }];
        self.commit(writer, PreparedBatch::new(&ops)?)
    }
}
