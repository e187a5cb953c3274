//! Time to live: writing with a TTL, reading it, setting and clearing it.
//!
//! Expiry times are absolute (ms since the Unix epoch), so a key expires at
//! the same moment whether or not the database was restarted meanwhile. An
//! expired key reads as absent at once; its memory is reclaimed in the
//! background. `put` replaces a key's TTL (like Redis `SET`); operations that
//! modify a value in place (`compare_and_swap`, `increment`, `fetch_update`)
//! keep it (like Redis `INCR`).

use std::time::Duration;

use kvdb_core::{Op, PreparedBatch, check_key};

use crate::db::Db;
use crate::error::Result;

/// The remaining life of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ttl {
    /// The key has no expiry time.
    Persistent,
    /// The key expires after this long (at least 1 ms).
    Expires(Duration),
}

/// `ttl` in whole milliseconds, rounded up; zero and TTLs longer than
/// [`kvdb_core::MAX_TTL_MS`] are rejected. Every entry point that takes a
/// TTL (plain puts, batches, conditional writes, expire) checks it here.
pub(crate) fn ttl_millis(ttl: Duration) -> Result<u64> {
    let ms = ttl.as_nanos().div_ceil(1_000_000);
    let ms = u64::try_from(ms).unwrap_or(u64::MAX);
    kvdb_core::check_ttl(ms)?;
    Ok(ms)
}

impl Db {
    /// Stores `value` under `key`, to expire after `ttl` (at least 1 ms),
    /// counted from when the write is applied (after any wait for the write
    /// lock).
    pub fn put_with_ttl(&self, key: &[u8], value: &[u8], ttl: Duration) -> Result<()> {
        let ttl_ms = ttl_millis(ttl)?;
        let writer = self.inner.begin_write()?;
        let ops = [Op::Put {
            key,
            value,
            expires_at: Some(writer.deadline(ttl_ms)?),
        }];
        let batch = PreparedBatch::new(&ops)?;
        self.inner.commit(writer, batch)
    }

    /// The remaining life of `key`, or `None` if it is absent or expired.
    pub fn ttl(&self, key: &[u8]) -> Result<Option<Ttl>> {
        let left = self.inner.store.life_left(key)?;
        Ok(left.map(|left| match left {
            None => Ttl::Persistent,
            Some(ms) => Ttl::Expires(Duration::from_millis(ms)),
        }))
    }

    /// Gives the live key `key` a new TTL, counted from the instant it is
    /// found live (so a key `expire` answers true for lives `ttl` more).
    /// Returns false if the key is absent.
    pub fn expire(&self, key: &[u8], ttl: Duration) -> Result<bool> {
        check_key(key)?;
        self.rewrite_expiry(key, Some(ttl_millis(ttl)?))
    }

    /// Removes the TTL of the live key `key`, so it never expires. Returns
    /// false if the key is absent (true if it exists, with or without a TTL).
    pub fn persist(&self, key: &[u8]) -> Result<bool> {
        check_key(key)?;
        self.rewrite_expiry(key, None)
    }

    /// Gives the live key `key` the TTL `ttl_ms` (none: no expiry).
    fn rewrite_expiry(&self, key: &[u8], ttl_ms: Option<u64>) -> Result<bool> {
        let writer = self.inner.begin_write()?;
        let current = writer.read(key, |v| v.map(|v| (v.value.to_vec(), v.expires_at)))?;
        let Some((value, old_expiry)) = current else {
            self.inner.settle_unwritten(writer)?;
            return Ok(false);
        };
        // From the reading the key was judged live at.
        let expires_at = match ttl_ms {
            Some(ms) => Some(writer.deadline(ms)?),
            None => None,
        };
        if old_expiry == expires_at {
            self.inner.settle_unwritten(writer)?;
            return Ok(true);
        }
        self.inner.commit_put(writer, key, &value, expires_at)?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_rounds_up_to_whole_milliseconds() {
        assert_eq!(ttl_millis(Duration::from_micros(1)).unwrap(), 1);
        assert_eq!(ttl_millis(Duration::from_micros(1500)).unwrap(), 2);
        assert_eq!(ttl_millis(Duration::from_secs(3)).unwrap(), 3000);
        assert!(ttl_millis(Duration::ZERO).is_err());
        assert!(ttl_millis(Duration::MAX).is_err());
    }
}
