//! Secondary indexes for kvdb, as a leaf crate that knows nothing of the
//! store: what an index is ([`IndexDef`]), how it finds the index keys of a
//! record ([`Extractor`]), how an index key is encoded so that byte order is
//! the order users expect ([`order`]), how an index entry is laid out in the
//! store's reserved key space ([`entry`]), and which entries a write must
//! remove and put ([`mutations`]).
//!
//! The engine (`kvdb`) keeps the entries beside the data and applies the
//! mutations in the same atomic batch as the data change.

mod definition;
pub mod entry;
mod error;
mod extractor;
mod mutation;
pub mod order;

pub use definition::{IndexDef, MAX_INDEX_NAME_LEN};
pub use entry::{EntryBounds, MAX_INDEX_KEY_LEN};
pub use error::IndexError;
pub use extractor::{Callback, Endian, Extractor, IntType};
pub use mutation::{Mutations, PutEntry, mutations};
