//! Errors of the write-ahead log.

use std::path::PathBuf;
use std::sync::Arc;

use crate::format::{FORMAT_VERSION, MAX_PAYLOAD};

/// An error from the write-ahead log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WalError {
    /// The operating system refused a read, write or sync.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A segment failed its format or checksum checks where the recovery
    /// mode does not allow it.
    #[error("write-ahead log segment {} is corrupt at byte {offset}: {reason}", segment.display())]
    Corruption {
        /// The segment file.
        segment: PathBuf,
        /// Where the damage starts.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// A segment written by a newer format version.
    #[error(
        "write-ahead log segment {} has format version {found}; this build reads version {FORMAT_VERSION}",
        segment.display()
    )]
    UnsupportedVersion {
        /// The segment file.
        segment: PathBuf,
        /// The version found.
        found: u32,
    },
    /// A record larger than one frame can hold.
    #[error("a log record of {len} bytes exceeds the limit of {MAX_PAYLOAD} bytes")]
    RecordTooLarge {
        /// The payload size.
        len: usize,
    },
    /// An earlier write or sync failed, so nothing more is accepted: whether
    /// the failed bytes reached the disk is unknown.
    #[error(
        "the write-ahead log refuses writes after an earlier failure ({0}); reopen the database to recover"
    )]
    Failed(Arc<str>),
}

impl WalError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        WalError::Io {
            context: context.into(),
            source,
        }
    }
}
