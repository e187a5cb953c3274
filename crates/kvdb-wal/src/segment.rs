//! Segment files: names, listing, and what is known of each.

use std::path::{Path, PathBuf};

use kvdb_vfs::Vfs;

use crate::error::WalError;

const PREFIX: &str = "wal-";
const SUFFIX: &str = ".log";

/// The file name of segment `id`.
pub fn segment_name(id: u64) -> String {
    format!("{PREFIX}{id:020}{SUFFIX}")
}

/// The segment id a file name stands for, if it names a segment.
pub fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The segments in `dir`, oldest first.
pub(crate) fn list_segments(vfs: &dyn Vfs, dir: &Path) -> Result<Vec<(u64, PathBuf)>, WalError> {
    let names = vfs
        .list(dir)
        .map_err(|e| WalError::io(format!("listing {}", dir.display()), e))?;
    let mut segments: Vec<_> = names
        .iter()
        .filter_map(|n| parse_segment_name(n).map(|id| (id, dir.join(n))))
        .collect();
    segments.sort_unstable_by_key(|(id, _)| *id);
    Ok(segments)
}

/// What the log knows of one segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentInfo {
    /// The segment id (its position in the log).
    pub id: u64,
    /// The file.
    pub path: PathBuf,
    /// Bytes in the file.
    pub bytes: u64,
    /// The highest first-sequence-number of its records (0 if it has none).
    pub max_seq: u64,
    /// The sequence number of the first operation the segment holds or was
    /// started to hold, as its header records (`None` for format version 1
    /// segments, which do not record it).
    pub start_seq: Option<u64>,
    /// Bytes of its header: a segment no longer than this holds no record.
    pub header_len: u64,
}

impl SegmentInfo {
    /// True if the segment holds no record.
    pub fn is_empty(&self) -> bool {
        self.bytes <= self.header_len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sort_by_id() {
        assert_eq!(segment_name(7), "wal-00000000000000000007.log");
        assert_eq!(parse_segment_name(&segment_name(u64::MAX)), Some(u64::MAX));
        for bad in [
            "wal-7.log",
            "wal-0000000000000000000x.log",
            "LOCK",
            "wal-00000000000000000001.log.discarded",
        ] {
            assert_eq!(parse_segment_name(bad), None, "{bad}");
        }
        assert!(segment_name(9) < segment_name(10));
    }
}
