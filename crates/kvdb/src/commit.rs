//! The write path: take the write lock, log the batch, apply it, make it
//! durable as the sync policy says, publish it.
//!
//! Every mutation goes through [`Inner::begin_write`] and [`Inner::commit`],
//! so the order of those steps lives in one place:
//!
//! 1. validate every operation (so applying cannot fail after logging);
//! 2. append one log record for the batch (in memory: skipped);
//! 3. apply the batch to the store, invisible to readers;
//! 4. release the write lock;
//! 5. under the `always` policy, wait for the record's group sync;
//! 6. publish: readers see the whole batch at once.
//!
//! A batch whose sync fails is never published and never acknowledged; the
//! log then refuses further writes until the database is reopened.

use kvdb_core::{Op, Writer};

use crate::db::Inner;
use crate::error::{Error, Result};
use crate::options::SyncPolicy;
use crate::persist::record;

impl Inner {
    /// Takes the write lock after checking that the database is open.
    pub(crate) fn begin_write(&self) -> Result<Writer<'_>> {
        self.check_open()?;
        Ok(self.store.writer()?)
    }

    /// Commits `ops` atomically under `writer`. An empty `ops` writes nothing.
    pub(crate) fn commit(&self, writer: Writer<'_>, ops: &[Op<'_>]) -> Result<()> {
        self.commit_seq(writer, ops).map(drop)
    }

    /// As [`Inner::commit`]; returns the sequence number of the batch's last
    /// operation (its commit point), or for an empty `ops` the newest
    /// applied one.
    pub(crate) fn commit_seq(&self, mut writer: Writer<'_>, ops: &[Op<'_>]) -> Result<u64> {
        if ops.is_empty() {
            return Ok(writer.next_seq() - 1);
        }
        let Some(persist) = &self.persist else {
            let last = writer.apply(ops)?;
            drop(writer);
            self.store.publish(last);
            return Ok(last);
        };
        for op in ops {
            op.check()?;
        }
        let first = writer.next_seq();
        let count = ops.len() as u64;
        let end = persist
            .wal
            .append(first, count, |buf| record::encode(buf, ops))?;
        let last = writer
            .apply_at(first, ops)
            .map_err(|e| Error::Internal(format!("applying a logged batch failed: {e}")))?;
        drop(writer);
        if self.options.sync == SyncPolicy::Always {
            persist.wal.sync_to(end)?;
        }
        self.store.publish(last);
        Ok(last)
    }

    /// Commits a single put under `writer`.
    pub(crate) fn commit_put(
        &self,
        writer: Writer<'_>,
        key: &[u8],
        value: &[u8],
        expires_at: Option<u64>,
    ) -> Result<()> {
        self.commit(
            writer,
            &[Op::Put {
                key,
                value,
                expires_at,
            }],
        )
    }
}
