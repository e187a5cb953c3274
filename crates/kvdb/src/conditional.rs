//! Read-modify-write operations, each atomic against every other writer:
//! put-if-absent, compare-and-swap, increment and closure-driven update.
//!
//! Each reads the newest state and writes under the same hold of the write
//! lock, so no other write can fall between its read and its write.

use std::time::Duration;

use kvdb_core::{CoreError, Op, PreparedBatch, check_key, check_value};

use crate::db::Db;
use crate::error::Result;
use crate::ttl::ttl_millis;

/// The outcome of [`Db::compare_and_swap`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CasOutcome {
    /// The value equalled the expected one and was replaced.
    Swapped,
    /// The value differed from the expected one; nothing was written.
    Mismatch,
    /// The key was absent; nothing was written.
    NotFound,
}

/// Parses a counter: an optional sign and 1 to 19 ASCII digits, no spaces.
fn parse_counter(bytes: &[u8]) -> Result<i64, CoreError> {
    let digits = bytes
        .strip_prefix(b"-")
        .or_else(|| bytes.strip_prefix(b"+"))
        .unwrap_or(bytes);
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(CoreError::NotAnInteger);
    }
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or(CoreError::NotAnInteger)
}

impl Db {
    /// Stores `value` under `key` only if the key is absent (or expired).
    /// Returns true if it was stored, false if the key was present.
    pub fn put_if_absent(&self, key: &[u8], value: &[u8]) -> Result<bool> {
        self.put_if_absent_inner(key, value, None)
    }

    /// Like [`Db::put_if_absent`], with a TTL on the new value (the lease or
    /// lock idiom, Redis `SET key value NX PX ttl`), counted from the instant
    /// the key was found absent: a lease this returns true for lasts `ttl`
    /// from then, however long the call waited for other writers.
    pub fn put_if_absent_with_ttl(&self, key: &[u8], value: &[u8], ttl: Duration) -> Result<bool> {
        self.put_if_absent_inner(key, value, Some(ttl_millis(ttl)?))
    }

    fn put_if_absent_inner(&self, key: &[u8], value: &[u8], ttl_ms: Option<u64>) -> Result<bool> {
        check_key(key)?;
        check_value(value)?;
        let writer = self.inner.begin_write()?;
        if writer.read(key, |v| v.is_some())? {
            self.inner.settle_unwritten(writer)?;
            return Ok(false);
        }
        let expires_at = match ttl_ms {
            Some(ms) => Some(writer.deadline(ms)?),
            None => None,
        };
        let ops = [Op::Put {
            key,
            value,
            expires_at,
        }];
        let batch = PreparedBatch::new(&ops)?;
        self.inner.commit(writer, batch)?;
        Ok(true)
    }

    /// Replaces the value of `key` with `new` if it currently equals
    /// `expected`. The key keeps its TTL.
    pub fn compare_and_swap(&self, key: &[u8], expected: &[u8], new: &[u8]) -> Result<CasOutcome> {
        // Checked before the state is read, so that a bad argument fails
        // whatever the key holds.
        check_key(key)?;
        check_value(expected)?;
        check_value(new)?;
        let writer = self.inner.begin_write()?;
        let current = writer.read(key, |v| v.map(|v| (v.value == expected, v.expires_at)))?;
        let expires_at = match current {
            None => {
                self.inner.settle_unwritten(writer)?;
                return Ok(CasOutcome::NotFound);
            }
            Some((false, _)) => {
                self.inner.settle_unwritten(writer)?;
                return Ok(CasOutcome::Mismatch);
            }
            Some((true, expires_at)) => expires_at,
        };
        self.inner.commit_put(writer, key, new, expires_at)?;
        Ok(CasOutcome::Swapped)
    }

    /// Adds `delta` to the decimal integer stored at `key` (an absent key
    /// counts as 0) and returns the new value. The key keeps its TTL. Fails
    /// with an invalid-argument error if the value is not a decimal integer
    /// (an optional sign and 1 to 19 ASCII digits) or the sum overflows.
    pub fn increment(&self, key: &[u8], delta: i64) -> Result<i64> {
        let writer = self.inner.begin_write()?;
        let current = writer.read(key, |v| v.map(|v| (parse_counter(v.value), v.expires_at)))?;
        let sum = match current {
            None => Ok((delta, None)),
            Some((parsed, expires_at)) => parsed.and_then(|current| {
                let new = current
                    .checked_add(delta)
                    .ok_or(CoreError::Overflow { current, delta })?;
                Ok((new, expires_at))
            }),
        };
        let (new, expires_at) = match sum {
            Ok(sum) => sum,
            Err(e) => {
                // The refusal rests on what was read, as a no-op does.
                self.inner.settle_unwritten(writer)?;
                return Err(e.into());
            }
        };
        let text = new.to_string();
        self.inner
            .commit_put(writer, key, text.as_bytes(), expires_at)?;
        Ok(new)
    }

    /// Atomically replaces the value of `key` with what `f` returns for the
    /// current one (`None` when absent); `f` returning `None` deletes the key.
    /// Returns the previous value. The key keeps its TTL. Nothing is written
    /// when the result equals the current state.
    ///
    /// `f` runs while the write lock is held: keep it short, and do not write
    /// to this database from inside it (that fails with an invalid-argument
    /// error rather than deadlocking).
    pub fn fetch_update(
        &self,
        key: &[u8],
        f: impl FnOnce(Option<&[u8]>) -> Option<Vec<u8>>,
    ) -> Result<Option<Vec<u8>>> {
        let writer = self.inner.begin_write()?;
        let (old, expires_at) = writer.read(key, |v| {
            (v.map(|v| v.value.to_vec()), v.and_then(|v| v.expires_at))
        })?;
        let new = f(old.as_deref());
        if new == old {
            self.inner.settle_unwritten(writer)?;
            return Ok(old);
        }
        match &new {
            Some(value) => self.inner.commit_put(writer, key, value, expires_at)?,
            None => self
                .inner
                .commit(writer, PreparedBatch::new(&[Op::Delete { key }])?)?,
        }
        Ok(old)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_parse_strictly() {
        assert_eq!(parse_counter(b"0").unwrap(), 0);
        assert_eq!(parse_counter(b"-42").unwrap(), -42);
        assert_eq!(parse_counter(b"+7").unwrap(), 7);
        assert_eq!(parse_counter(b"9223372036854775807").unwrap(), i64::MAX);
        assert_eq!(parse_counter(b"-9223372036854775808").unwrap(), i64::MIN);
        for bad in [
            &b""[..],
            b"-",
            b" 1",
            b"1 ",
            b"1.5",
            b"0x10",
            b"9223372036854775808",
            b"\xff",
            b"12345678901234567890",
        ] {
            assert!(
                parse_counter(bad).is_err(),
                "{:?}",
                bad.escape_ascii().to_string()
            );
        }
    }
}
