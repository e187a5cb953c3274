//! Errors of snapshot files.

use std::path::PathBuf;

use crate::format::{FORMAT_VERSION, OLDEST_FORMAT_VERSION};

/// An error writing or loading a snapshot file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// The operating system refused a read, write or sync.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The file failed a format or checksum check.
    #[error("snapshot {} is corrupt: {reason}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The file was written by a format version this build does not read.
    #[error("snapshot {} has format version {found}; this build reads versions {OLDEST_FORMAT_VERSION} to {FORMAT_VERSION}", path.display())]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version found.
        found: u32,
    },
    /// Entries were added out of key order, or one is too large for the format.
    #[error("invalid snapshot entry: {0}")]
    InvalidEntry(String),
}

impl SnapshotError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        SnapshotError::Io {
            context: context.into(),
            source,
        }
    }
}
