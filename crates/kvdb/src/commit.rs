//! The write path: take the write lock, apply a batch, publish it.
//!
//! Every mutation of the database goes through [`Inner::begin_write`] and
//! [`Inner::commit`], so the steps a write takes (validation, durability,
//! application, publication) live in one place.

use kvdb_core::{Op, Writer};

use crate::db::Inner;
use crate::error::Result;

impl Inner {
    /// Takes the write lock after checking that the database is open.
    pub(crate) fn begin_write(&self) -> Result<Writer<'_>> {
        self.check_open()?;
        Ok(self.store.writer()?)
    }

    /// Applies `ops` atomically under `writer`, releases the lock and
    /// publishes them. An empty `ops` writes nothing.
    pub(crate) fn commit(&self, mut writer: Writer<'_>, ops: &[Op<'_>]) -> Result<()> {
        if ops.is_empty() {
            return Ok(());
        }
        let last = writer.apply(ops)?;
        drop(writer);
        self.store.publish(last);
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
