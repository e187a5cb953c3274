//! Secondary indexes in the engine: which indexes a database keeps
//! ([`registry`]), the entries each write needs, written in the same batch
//! ([`maintain`]), online builds and drops ([`build`]), and queries at any
//! read view ([`query`]). Definitions, extractors and the entry encoding
//! are the `kvdb-index` crate's.
//!
//! Entries live in the store's index key space, beside the data: they share
//! its sequence numbers, views, garbage collection and expiry, and no read
//! of users' keys sees them. They are not written to the log or to snapshot
//! files: an index is declared again at open ([`crate::Options::indexes`])
//! and rebuilt from the recovered data, so it can never disagree with it.

mod build;
pub(crate) mod maintain;
pub(crate) mod query;
pub(crate) mod registry;

use std::fmt::Write as _;

pub use kvdb_index::{Callback, Endian, Extractor, IndexDef, IndexError, IntType};
pub use query::{IndexEntry, IndexIter, IndexQuery};

use crate::error::Error;

/// What [`crate::Db::indexes`] lists of an index.
#[derive(Debug, Clone)]
pub struct IndexInfo {
    /// The index's definition.
    pub def: IndexDef,
    /// True once built (it may be queried from views taken since).
    pub ready: bool,
}

impl From<IndexError> for Error {
    fn from(e: IndexError) -> Self {
        match e {
            IndexError::IndexKeyTooLarge { .. } => Error::TooLarge(e.to_string()),
            _ => Error::InvalidArgument(e.to_string()),
        }
    }
}

/// `bytes` for an error message: as text if printable ASCII, else hex.
pub(crate) fn show_bytes(bytes: &[u8]) -> String {
    if bytes.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        return format!("{:?}", String::from_utf8_lossy(bytes));
    }
    let mut s = String::from("0x");
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}
