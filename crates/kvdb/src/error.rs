//! The one error type of the Rust API, and the kinds that map one to one onto
//! the C API's status codes.

use std::path::PathBuf;

use kvdb_core::CoreError;
use kvdb_snapshot::SnapshotError;
use kvdb_wal::WalError;

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The category of an [`Error`]; each has exactly one C status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// No such key, or nothing to undo (`KVDB_NOT_FOUND`, 1).
    NotFound,
    /// A bad argument or misuse of a handle (`KVDB_INVALID_ARGUMENT`, 2).
    InvalidArgument,
    /// The operating system refused a read, write or sync (`KVDB_IO_ERROR`, 3).
    Io,
    /// A file failed its checksum or format check (`KVDB_CORRUPTION`, 4).
    Corruption,
    /// A transaction conflict or compare-and-swap mismatch (`KVDB_CONFLICT`, 5).
    Conflict,
    /// The key is already present (`KVDB_EXISTS`, 6).
    Exists,
    /// A key or value over the size limit (`KVDB_TOO_LARGE`, 7).
    TooLarge,
    /// A caller's buffer is too small (`KVDB_BUFFER_TOO_SMALL`, 8).
    BufferTooSmall,
    /// The database directory is open elsewhere (`KVDB_LOCKED`, 9).
    Locked,
    /// A unique index already holds that index key (`KVDB_CONSTRAINT`, 10).
    Constraint,
    /// A write (or an index build) would pass the memory limit and nothing
    /// can be evicted (`KVDB_MEMORY_LIMIT`, 11).
    MemoryLimit,
    /// A watcher needs changes that are no longer retained (`KVDB_LAGGED`, 13).
    Lagged,
    /// A bug: a caught panic or a broken invariant (`KVDB_INTERNAL`, 99).
    Internal,
}

impl ErrorKind {
    /// Every kind, in status-code order.
    pub const ALL: [ErrorKind; 13] = [
        ErrorKind::NotFound,
        ErrorKind::InvalidArgument,
        ErrorKind::Io,
        ErrorKind::Corruption,
        ErrorKind::Conflict,
        ErrorKind::Exists,
        ErrorKind::TooLarge,
        ErrorKind::BufferTooSmall,
        ErrorKind::Locked,
        ErrorKind::Constraint,
        ErrorKind::MemoryLimit,
        ErrorKind::Lagged,
        ErrorKind::Internal,
    ];

    /// The C API status code of this kind.
    pub const fn code(self) -> i32 {
        match self {
            ErrorKind::NotFound => 1,
            ErrorKind::InvalidArgument => 2,
            ErrorKind::Io => 3,
            ErrorKind::Corruption => 4,
            ErrorKind::Conflict => 5,
            ErrorKind::Exists => 6,
            ErrorKind::TooLarge => 7,
            ErrorKind::BufferTooSmall => 8,
            ErrorKind::Locked => 9,
            ErrorKind::Constraint => 10,
            ErrorKind::MemoryLimit => 11,
            ErrorKind::Lagged => 13,
            ErrorKind::Internal => 99,
        }
    }

    /// The kind with C status code `code`, if any (0, success, has none).
    pub fn from_code(code: i32) -> Option<ErrorKind> {
        Self::ALL.into_iter().find(|k| k.code() == code)
    }
}

/// An error from the database.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No such key, or nothing to undo.
    #[error("not found")]
    NotFound,
    /// A bad argument: an invalid TTL, a value that is not an integer, an
    /// unusable path or option.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The handle was used after the database was closed.
    #[error("the database is closed")]
    Closed,
    /// The operating system refused a read, write or sync.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A file failed its checksum or format check, or the files on disk do
    /// not hold every acknowledged write. `source()` is the log's or the
    /// snapshot loader's own error where one of them found the damage
    /// ([`kvdb_wal::WalError`], [`kvdb_snapshot::SnapshotError`]): it names
    /// the file, and for the log the byte offset.
    #[error("corruption: {message}")]
    Corruption {
        /// What is wrong, and where.
        message: String,
        /// The error of the layer that found the damage, if one did.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    },
    /// A transaction conflict or a compare-and-swap mismatch.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The key is already present.
    #[error("the key already exists")]
    Exists,
    /// A key or value over the size limit.
    #[error("{0}")]
    TooLarge(String),
    /// A caller's buffer is too small; `needed` bytes are required.
    #[error("buffer too small: {needed} bytes needed")]
    BufferTooSmall {
        /// The size required.
        needed: usize,
    },
    /// The database directory is open in this or another process.
    #[error("database directory {} is locked: it is open in this or another process", path.display())]
    Locked {
        /// The directory.
        path: PathBuf,
    },
    /// A unique index already holds that index key.
    #[error("constraint violated: {0}")]
    Constraint(String),
    /// A write (or a chunk of an index build) would take the database past
    /// its memory limit, and the eviction policy cannot make room
    /// (`noeviction`, a `volatile-*` policy with no key that has an expiry
    /// time left, or memory pinned by open snapshots). Nothing of the write
    /// was applied (a failed build leaves no index).
    #[error(
        "memory limit: up to {needed} more bytes are needed, {used} of the limit of {limit} are in use and nothing can be evicted"
    )]
    MemoryLimit {
        /// Bytes the database held.
        used: u64,
        /// The limit.
        limit: u64,
        /// The most the write could add.
        needed: u64,
    },
    /// A watcher needs the change at sequence number `requested`, but the
    /// oldest still retained (in memory or in the log on disk) is `oldest`.
    /// Recover by taking a snapshot, reading it, and watching from its
    /// sequence number + 1.
    #[error(
        "lagged: the change at sequence {requested} is no longer retained; the oldest retained is {oldest} (read a snapshot, then watch from its sequence + 1)"
    )]
    Lagged {
        /// The sequence number the watcher needed.
        requested: u64,
        /// The oldest sequence number still retained.
        oldest: u64,
    },
    /// A bug: a caught panic or a broken invariant.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// The error's kind (and so its C status code).
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NotFound => ErrorKind::NotFound,
            Error::InvalidArgument(_) | Error::Closed => ErrorKind::InvalidArgument,
            Error::Io { .. } => ErrorKind::Io,
            Error::Corruption { .. } => ErrorKind::Corruption,
            Error::Conflict(_) => ErrorKind::Conflict,
            Error::Exists => ErrorKind::Exists,
            Error::TooLarge(_) => ErrorKind::TooLarge,
            Error::BufferTooSmall { .. } => ErrorKind::BufferTooSmall,
            Error::Locked { .. } => ErrorKind::Locked,
            Error::Constraint(_) => ErrorKind::Constraint,
            Error::MemoryLimit { .. } => ErrorKind::MemoryLimit,
            Error::Lagged { .. } => ErrorKind::Lagged,
            Error::Internal(_) => ErrorKind::Internal,
        }
    }

    /// The error of every call on a handle inherited across `fork()` (kind
    /// [`ErrorKind::InvalidArgument`]).
    pub fn inherited_across_fork() -> Self {
        CoreError::InheritedAcrossFork.into()
    }

    /// A corruption error found by the engine itself.
    pub fn corruption(message: impl Into<String>) -> Self {
        Error::Corruption {
            message: message.into(),
            source: None,
        }
    }

    /// A corruption error whose cause is `source`; the message is `context`
    /// followed by the cause's text, so that the message alone is complete.
    pub(crate) fn corruption_from(
        context: &str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Error::Corruption {
            message: format!("{context}: {source}"),
            source: Some(Box::new(source)),
        }
    }

    /// An I/O error with a description of what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

impl From<CoreError> for Error {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::KeyTooLarge { .. } | CoreError::ValueTooLarge { .. } => {
                Error::TooLarge(e.to_string())
            }
            CoreError::SequenceRegression { .. } | CoreError::RangeMismatch { .. } => {
                Error::corruption_from("replay", e)
            }
            _ => Error::InvalidArgument(e.to_string()),
        }
    }
}

impl From<WalError> for Error {
    fn from(e: WalError) -> Self {
        match e {
            WalError::Io { context, source } => Error::Io { context, source },
            // The log's own error stays reachable through the I/O error.
            WalError::Failed(_) => Error::io("writing to the database", std::io::Error::other(e)),
            WalError::Corruption { .. } | WalError::UnsupportedVersion { .. } => {
                Error::corruption_from("reading the write-ahead log", e)
            }
            WalError::RecordTooLarge { .. } => Error::TooLarge(e.to_string()),
            other => Error::Internal(other.to_string()),
        }
    }
}

impl From<SnapshotError> for Error {
    fn from(e: SnapshotError) -> Self {
        match e {
            SnapshotError::Io { context, source } => Error::Io { context, source },
            SnapshotError::Corrupt { .. } | SnapshotError::UnsupportedVersion { .. } => {
                Error::corruption_from("reading a snapshot", e)
            }
            other => Error::Internal(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_the_c_contract_and_round_trip() {
        let expected = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 99];
        for (kind, code) in ErrorKind::ALL.into_iter().zip(expected) {
            assert_eq!(kind.code(), code);
            assert_eq!(ErrorKind::from_code(code), Some(kind));
        }
        assert_eq!(ErrorKind::from_code(0), None);
        assert_eq!(ErrorKind::from_code(12), None);
    }

    #[test]
    fn core_errors_map_onto_kinds() {
        let too_large: Error = CoreError::KeyTooLarge { len: 70_000 }.into();
        assert_eq!(too_large.kind(), ErrorKind::TooLarge);
        assert!(too_large.to_string().contains("70000"));
        let bad: Error = CoreError::NotAnInteger.into();
        assert_eq!(bad.kind(), ErrorKind::InvalidArgument);
        let reentrant: Error = CoreError::ReentrantWrite.into();
        assert_eq!(reentrant.kind(), ErrorKind::InvalidArgument);
    }
}
