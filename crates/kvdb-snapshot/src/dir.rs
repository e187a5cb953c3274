//! Snapshot files in a directory: names, listing, loading the newest valid
//! one, retention, and clearing leftovers.

use std::path::{Path, PathBuf};

use kvdb_vfs::Vfs;

use crate::error::SnapshotError;
use crate::file::SnapshotFile;

const PREFIX: &str = "snap-";
const SUFFIX: &str = ".kvs";
const TMP_SUFFIX: &str = ".kvs.tmp";

/// The file name of the snapshot at sequence `seq`.
pub fn snapshot_name(seq: u64) -> String {
    format!("{PREFIX}{seq:020}{SUFFIX}")
}

pub(crate) fn temporary_name(seq: u64) -> String {
    format!("{PREFIX}{seq:020}{TMP_SUFFIX}")
}

/// The sequence number a file name stands for, if it names a snapshot.
pub fn parse_snapshot_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The snapshots in `dir`, newest first.
pub fn list(vfs: &dyn Vfs, dir: &Path) -> Result<Vec<(u64, PathBuf)>, SnapshotError> {
    let names = vfs
        .list(dir)
        .map_err(|e| SnapshotError::io(format!("listing {}", dir.display()), e))?;
    let mut found: Vec<_> = names
        .iter()
        .filter_map(|n| parse_snapshot_name(n).map(|seq| (seq, dir.join(n))))
        .collect();
    found.sort_unstable_by_key(|(seq, _)| std::cmp::Reverse(*seq));
    Ok(found)
}

/// A snapshot that failed verification.
#[derive(Debug)]
pub struct Rejected {
    /// The file.
    pub path: PathBuf,
    /// Why it was rejected.
    pub error: SnapshotError,
}

/// The result of looking for the newest valid snapshot.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The newest snapshot that verified, if any did.
    pub snapshot: Option<SnapshotFile>,
    /// Newer snapshots that failed verification, newest first.
    pub rejected: Vec<Rejected>,
}

/// Opens the newest snapshot in `dir` that passes verification, falling back
/// to older ones and reporting those that fail. I/O errors other than
/// corruption stop the search.
pub fn load_newest(vfs: &dyn Vfs, dir: &Path) -> Result<Loaded, SnapshotError> {
    let mut loaded = Loaded::default();
    for (_, path) in list(vfs, dir)? {
        match SnapshotFile::open(vfs, &path) {
            Ok(file) => {
                loaded.snapshot = Some(file);
                break;
            }
            Err(
                error @ (SnapshotError::Corrupt { .. } | SnapshotError::UnsupportedVersion { .. }),
            ) => {
                loaded.rejected.push(Rejected { path, error });
            }
            Err(other) => return Err(other),
        }
    }
    Ok(loaded)
}

/// Removes all but the newest `keep` snapshots (at least one is kept);
/// returns the sequence numbers of those kept, newest first.
pub fn retain(vfs: &dyn Vfs, dir: &Path, keep: usize) -> Result<Vec<u64>, SnapshotError> {
    let all = list(vfs, dir)?;
    let keep = keep.max(1).min(all.len());
    for (_, path) in &all[keep..] {
        vfs.remove(path)
            .map_err(|e| SnapshotError::io(format!("removing {}", path.display()), e))?;
    }
    if all.len() > keep {
        vfs.sync_dir(dir)
            .map_err(|e| SnapshotError::io(format!("syncing directory {}", dir.display()), e))?;
    }
    Ok(all[..keep].iter().map(|(seq, _)| *seq).collect())
}

/// Removes temporary files left by interrupted snapshot writes.
pub fn remove_temporaries(vfs: &dyn Vfs, dir: &Path) -> Result<usize, SnapshotError> {
    let names = vfs
        .list(dir)
        .map_err(|e| SnapshotError::io(format!("listing {}", dir.display()), e))?;
    let mut removed = 0;
    for name in names
        .iter()
        .filter(|n| n.starts_with(PREFIX) && n.ends_with(TMP_SUFFIX))
    {
        let path = dir.join(name);
        vfs.remove(&path)
            .map_err(|e| SnapshotError::io(format!("removing {}", path.display()), e))?;
        removed += 1;
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(snapshot_name(12), "snap-00000000000000000012.kvs");
        assert_eq!(parse_snapshot_name(&snapshot_name(12)), Some(12));
        assert_eq!(parse_snapshot_name(&temporary_name(12)), None);
        assert_eq!(parse_snapshot_name("snap-12.kvs"), None);
    }
}
