//! Helpers shared by the integration tests: listing database files, the
//! options of the kill -9 children, a small deterministic generator, the
//! bank of the transaction tests, and the memory limit's resident-memory
//! check (`rss`).
// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use kvdb::{Options, SyncPolicy};

pub(crate) mod rss;

/// The files in `dir` whose names end with `suffix`, sorted.
pub(crate) fn files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    v.sort();
    v
}

/// The options of the processes the kill -9 tests kill: every write synced,
/// small segments and frequent background checkpoints, so kills land in
/// every phase.
pub(crate) fn crash_child_options() -> Options {
    let mut options = Options::default();
    options.sync = SyncPolicy::Always;
    options.wal_segment_bytes = 32 * 1024;
    options.checkpoint_after_wal_bytes = Some(64 * 1024);
    options.checkpoint_check_interval = Duration::from_millis(5);
    options
}

/// A xorshift generator: repeatable choices without a dependency.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    /// The next number below `n`.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// The bank of the transaction tests: `ACCOUNTS` accounts opened with
/// `OPENING` each, balances stored as decimal text.
pub(crate) mod bank {
    /// How many accounts the bank holds.
    pub(crate) const ACCOUNTS: u64 = 100;
    /// Every account's opening balance.
    pub(crate) const OPENING: i64 = 1_000;

    /// The key of account `i`.
    pub(crate) fn account(i: u64) -> Vec<u8> {
        format!("acct/{i:03}").into_bytes()
    }

    /// A stored balance.
    pub(crate) fn balance(bytes: &[u8]) -> i64 {
        std::str::from_utf8(bytes).unwrap().parse().unwrap()
    }
}
