//! How the log writes, syncs and recovers.

/// How appended records reach the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncMode {
    /// Records are buffered; a writer waiting for durability becomes the
    /// leader, writes every buffered record in one write and syncs once for
    /// the whole group while the others wait (group commit).
    #[default]
    GroupCommit,
    /// Each record is written to the file as it is appended (so it survives
    /// a crash of the process); syncs happen only when asked for.
    WriteThrough,
}

/// What replay does with damaged records (after RocksDB's WAL recovery modes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecoveryMode {
    /// A torn or corrupt tail of the newest segment (what a crash during a
    /// write leaves) is cut off and reported; damage anywhere else is an error.
    #[default]
    TolerateCorruptTail,
    /// Any damage, a torn tail included, is an error.
    AbsoluteConsistency,
    /// Replay stops at the first damage wherever it is: the log is cut there
    /// and later segments are set aside (renamed `*.discarded`), recovering a
    /// consistent earlier point in time.
    PointInTime,
}

/// Options of a write-ahead log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalOptions {
    /// A new segment is started once the active one reaches this size.
    pub segment_bytes: u64,
    /// How records reach the file.
    pub sync: SyncMode,
}

impl Default for WalOptions {
    fn default() -> Self {
        Self {
            segment_bytes: 64 * 1024 * 1024,
            sync: SyncMode::GroupCommit,
        }
    }
}
