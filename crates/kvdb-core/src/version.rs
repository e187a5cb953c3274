//! One version of one key: a value or a deletion marker, the sequence number
//! of the write that made it, and an optional absolute expiry time.
//!
//! Versions form a singly linked list per key, newest first (see
//! [`crate::chain`]). A version never changes after it is linked in, except
//! for its `next` pointer, which garbage collection may cut.

use crossbeam_epoch::Atomic;

/// Approximate allocator overhead per heap allocation (header plus rounding).
pub(crate) const ALLOC_OVERHEAD: usize = 16;

/// One version of a key.
pub(crate) struct Version {
    /// The sequence number of the write that created this version.
    pub(crate) seq: u64,
    /// Absolute expiry time in ms since the Unix epoch; 0 means never.
    expires_at: u64,
    /// The value, or `None` for a deletion marker (tombstone).
    value: Option<Box<[u8]>>,
    /// The next older version of the same key.
    pub(crate) next: Atomic<Version>,
}

impl Version {
    /// A value version. `expires_at` of `None` means the value never expires.
    pub(crate) fn value(seq: u64, value: &[u8], expires_at: Option<u64>) -> Self {
        Self {
            seq,
            expires_at: expires_at.unwrap_or(0),
            value: Some(value.into()),
            next: Atomic::null(),
        }
    }

    /// A deletion marker.
    pub(crate) fn tombstone(seq: u64) -> Self {
        Self {
            seq,
            expires_at: 0,
            value: None,
            next: Atomic::null(),
        }
    }

    /// The value bytes, or `None` for a deletion marker.
    #[inline]
    pub(crate) fn bytes(&self) -> Option<&[u8]> {
        self.value.as_deref()
    }

    /// The expiry time, if the version has one.
    #[inline]
    pub(crate) fn expires_at(&self) -> Option<u64> {
        (self.expires_at != 0).then_some(self.expires_at)
    }

    /// True for a value that has not expired at time `now_ms`.
    #[inline]
    pub(crate) fn is_live_at(&self, now_ms: u64) -> bool {
        self.value.is_some() && (self.expires_at == 0 || self.expires_at > now_ms)
    }

    /// True for a deletion marker, or a value expired at time `now_ms`: a
    /// version that reads as "absent".
    #[inline]
    pub(crate) fn is_dead_at(&self, now_ms: u64) -> bool {
        !self.is_live_at(now_ms)
    }

    /// True if this is a value (expired or not).
    #[inline]
    pub(crate) fn is_value(&self) -> bool {
        self.value.is_some()
    }

    /// Estimated bytes this version holds, allocator overhead included.
    pub(crate) fn footprint(&self) -> usize {
        let own = std::mem::size_of::<Self>() + ALLOC_OVERHEAD;
        match &self.value {
            Some(v) if !v.is_empty() => own + v.len() + ALLOC_OVERHEAD,
            _ => own,
        }
    }
}

/// A borrowed view of a version, handed to callers of read closures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionRef<'a> {
    /// The value bytes.
    pub value: &'a [u8],
    /// The absolute expiry time in ms since the Unix epoch, if any.
    pub expires_at: Option<u64>,
    /// The sequence number of the write that stored this value.
    pub seq: u64,
}

impl<'a> VersionRef<'a> {
    /// The caller-facing view of `version`, or `None` for a deletion marker.
    pub(crate) fn of(version: &'a Version) -> Option<Self> {
        Some(Self {
            value: version.bytes()?,
            expires_at: version.expires_at(),
            seq: version.seq,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn liveness_follows_expiry_and_tombstones() {
        let v = Version::value(1, b"x", Some(100));
        assert!(v.is_live_at(99));
        assert!(
            !v.is_live_at(100),
            "a value is expired at its expiry instant"
        );
        assert!(v.is_dead_at(100));
        let t = Version::tombstone(2);
        assert!(t.is_dead_at(0));
        assert!(!t.is_value());
        let forever = Version::value(3, b"", None);
        assert!(forever.is_live_at(u64::MAX));
        assert_eq!(forever.expires_at(), None);
    }

    #[test]
    fn footprint_counts_value_bytes() {
        let small = Version::value(1, b"", None).footprint();
        let big = Version::value(1, &[0; 1000], None).footprint();
        assert!(big >= small + 1000);
    }
}
