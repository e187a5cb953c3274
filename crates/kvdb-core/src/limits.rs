//! Size limits on keys and values, and the checks every entry point uses.

use crate::error::CoreError;

/// The largest key accepted, in bytes (64 KiB). Empty keys are allowed.
pub const MAX_KEY_LEN: usize = 65_536;

/// The largest value accepted, in bytes (256 MiB). Empty values are allowed.
pub const MAX_VALUE_LEN: usize = 256 * 1024 * 1024;

/// The longest TTL accepted, in milliseconds: 10^15 ms, about 31,700 years.
/// (A bound well inside 64 bits, so that now + TTL never overflows and the
/// remaining life fits the C API's signed 64-bit `kvdb_ttl`.)
pub const MAX_TTL_MS: u64 = 1_000_000_000_000_000;

/// Fails with [`CoreError::InvalidTtl`] for a TTL of zero or one longer than
/// [`MAX_TTL_MS`].
#[inline]
pub fn check_ttl(ttl_ms: u64) -> Result<(), CoreError> {
    if ttl_ms == 0 || ttl_ms > MAX_TTL_MS {
        return Err(CoreError::InvalidTtl { ttl_ms });
    }
    Ok(())
}

/// Fails with [`CoreError::KeyTooLarge`] when `key` is longer than [`MAX_KEY_LEN`].
#[inline]
pub fn check_key(key: &[u8]) -> Result<(), CoreError> {
    if key.len() > MAX_KEY_LEN {
        return Err(CoreError::KeyTooLarge { len: key.len() });
    }
    Ok(())
}

/// Fails with [`CoreError::ValueTooLarge`] when `value` is longer than [`MAX_VALUE_LEN`].
#[inline]
pub fn check_value(value: &[u8]) -> Result<(), CoreError> {
    if value.len() > MAX_VALUE_LEN {
        return Err(CoreError::ValueTooLarge { len: value.len() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_limit_is_inclusive() {
        assert!(check_key(&vec![0; MAX_KEY_LEN]).is_ok());
        assert_eq!(
            check_key(&vec![0; MAX_KEY_LEN + 1]),
            Err(CoreError::KeyTooLarge {
                len: MAX_KEY_LEN + 1
            })
        );
        assert!(check_key(b"").is_ok());
    }

    #[test]
    fn value_limit_is_inclusive() {
        assert!(check_value(b"").is_ok());
        let err = check_value(&vec![0; MAX_VALUE_LEN + 1]).unwrap_err();
        assert_eq!(
            err,
            CoreError::ValueTooLarge {
                len: MAX_VALUE_LEN + 1
            }
        );
    }
}
