//! Atomic batches: a list of puts and deletes applied all at once.

use std::time::Duration;

use kvdb_core::{Op, PreparedBatch, check_key, check_value};

use crate::db::Db;
use crate::error::Result;
use crate::ttl::ttl_millis;

#[derive(Debug, Clone, PartialEq, Eq)]
enum BatchOp {
    Put {
        key: Vec<u8>,
        value: Vec<u8>,
        ttl_ms: Option<u64>,
    },
    Delete {
        key: Vec<u8>,
    },
}

/// A list of writes applied atomically by [`Db::write`]: readers, iterators
/// and recovery see all of them or none. Later writes to the same key win.
/// Sizes are checked as operations are added. A batch can be reused.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    ops: Vec<BatchOp>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a put of `value` under `key`.
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        check_key(key)?;
        check_value(value)?;
        self.ops.push(BatchOp::Put {
            key: key.to_vec(),
            value: value.to_vec(),
            ttl_ms: None,
        });
        Ok(())
    }

    /// Adds a put that expires `ttl` after the batch is written.
    pub fn put_with_ttl(&mut self, key: &[u8], value: &[u8], ttl: Duration) -> Result<()> {
        check_key(key)?;
        check_value(value)?;
        let ttl_ms = Some(ttl_millis(ttl)?);
        self.ops.push(BatchOp::Put {
            key: key.to_vec(),
            value: value.to_vec(),
            ttl_ms,
        });
        Ok(())
    }

    /// Adds a delete of `key`.
    pub fn delete(&mut self, key: &[u8]) -> Result<()> {
        check_key(key)?;
        self.ops.push(BatchOp::Delete { key: key.to_vec() });
        Ok(())
    }

    /// Removes every operation.
    pub fn clear(&mut self) {
        self.ops.clear();
    }

    /// The number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// True if the batch holds no operation.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

impl Db {
    /// Applies every operation of `batch` atomically. Its TTLs count from
    /// one reading of the clock, taken as the batch is applied (after any
    /// wait for the write lock), so puts with the same TTL expire together
    /// and each gets the whole of its TTL.
    pub fn write(&self, batch: &Batch) -> Result<()> {
        // Allocated before the lock; filled under it, where the TTLs are
        // counted.
        let mut ops = Vec::with_capacity(batch.ops.len());
        let writer = self.inner.begin_write()?;
        for op in &batch.ops {
            ops.push(match op {
                BatchOp::Put { key, value, ttl_ms } => Op::Put {
                    key,
                    value,
                    expires_at: match ttl_ms {
                        None => None,
                        Some(ms) => Some(writer.deadline(*ms)?),
                    },
                },
                BatchOp::Delete { key } => Op::Delete { key },
            });
        }
        let batch = PreparedBatch::new(&ops)?;
        self.inner.commit(writer, batch)
    }
}
