//! Reading committed batches back from the write-ahead log on disk, for a
//! watcher that needs changes older than the feed keeps in memory.

use std::io;

use kvdb_wal::{RecoveryMode, WalError, WalReader};

use crate::error::{Error, Result};
use crate::persist::Persist;

/// A reader over the log's segments as they were when it was opened.
pub(crate) struct LogCursor {
    reader: WalReader,
}

/// Why the log could not serve a watcher.
pub(crate) enum LogGone {
    /// A segment was removed (by a checkpoint) while being read.
    Removed,
    /// Another error.
    Failed(Error),
}

impl From<WalError> for LogGone {
    fn from(e: WalError) -> Self {
        match &e {
            WalError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound => {
                LogGone::Removed
            }
            _ => LogGone::Failed(e.into()),
        }
    }
}

impl LogCursor {
    /// Lists the log's segments, for a reader that wants the records from
    /// sequence number `from` on: segments holding only older records are
    /// passed over unread. A torn tail (a record being written) ends the
    /// reading; nothing on disk is changed.
    pub(crate) fn open(persist: &Persist, from: u64) -> Result<Self, LogGone> {
        let mut reader = WalReader::open(
            std::sync::Arc::clone(&persist.vfs),
            &persist.dir,
            RecoveryMode::TolerateCorruptTail,
        )?;
        reader.skip_covered_through(from.saturating_sub(1));
        Ok(Self { reader })
    }

    /// Calls `f` with the next record's first sequence number and payload;
    /// `None` at the end of the listed segments.
    pub(crate) fn next<R>(
        &mut self,
        f: impl FnOnce(u64, &[u8]) -> R,
    ) -> Result<Option<R>, LogGone> {
        Ok(self
            .reader
            .next_record()?
            .map(|record| f(record.seq, record.payload)))
    }
}

/// The first sequence number the log on disk holds, if it holds any
/// segment that records where it starts.
pub(crate) fn oldest_logged(persist: &Persist) -> Option<u64> {
    persist.wal.segments().first().and_then(|s| s.start_seq)
}

/// Maps a log failure met while serving a watcher to the error it returns.
pub(crate) fn gone_error(gone: LogGone, lagged: impl FnOnce() -> Error) -> Error {
    match gone {
        LogGone::Removed => lagged(),
        LogGone::Failed(e) => e,
    }
}
