//! The size and time limits of the C API, as constants in the header.

/// The longest key accepted, in bytes; longer is `KVDB_TOO_LARGE`.
pub const KVDB_MAX_KEY_LEN: usize = 65_536;
/// The longest value accepted, in bytes (256 MiB); longer is `KVDB_TOO_LARGE`.
pub const KVDB_MAX_VALUE_LEN: usize = 268_435_456;
/// The longest TTL accepted, in milliseconds (10^15 ms, about 31,700 years);
/// 0 or longer is `KVDB_INVALID_ARGUMENT`, wherever a TTL is given.
pub const KVDB_MAX_TTL_MS: u64 = 1_000_000_000_000_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_limits_are_the_engines() {
        assert_eq!(KVDB_MAX_KEY_LEN, engine::MAX_KEY_LEN);
        assert_eq!(KVDB_MAX_VALUE_LEN, engine::MAX_VALUE_LEN);
        assert_eq!(KVDB_MAX_TTL_MS, engine::MAX_TTL_MS);
    }
}
