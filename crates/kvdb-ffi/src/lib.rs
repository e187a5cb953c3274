//! The C ABI of kvdb: `libkvdb.so`, `libkvdb.a` and `include/kvdb.h`.
//!
//! A thin layer over the `kvdb` crate. Every function:
//!
//! - runs inside a panic boundary ([`boundary`]): a panic never unwinds into
//!   C; the call returns `KVDB_INTERNAL` (or NULL, false, 0) and the detail
//!   is kept for `kvdb_last_error`;
//! - checks every pointer: a NULL handle or out-parameter, or a NULL buffer
//!   with a non-zero length, is `KVDB_INVALID_ARGUMENT`;
//! - reads integer modes from C as plain integers and validates them; no
//!   Rust enum is ever read from C memory;
//! - records the detail of every failure in a thread-local message.
//!
//! Ownership: every handle is a `Box` the caller owns between its `_new` /
//! `_open` and its `_free` / `_close`; destroying NULL is a no-op. Values
//! returned by `kvdb_get` are `malloc`ed copies released with `kvdb_free`.
//! Pointers from `kvdb_iter_key` / `kvdb_iter_value` borrow from the
//! iterator until it moves or is freed. See `docs/C-API.md`.

#![allow(non_camel_case_types)]

mod allocator;
mod backup;
mod batch;
mod boundary;
mod db;
mod error;
mod index;
mod index_def;
mod index_iter;
mod iter;
mod iter_batch;
mod iter_batch_borrowed;
mod iter_cursor;
mod kv;
mod limits;
mod memory;
mod memory_limit;
mod multi_get;
mod options;
mod recovery;
mod snapshot;
mod stats;
mod status;
mod txn;
mod txn_run;
mod value_out;
mod version;
mod watch;

pub use allocator::kvdb_allocator;
pub use backup::*;
pub use batch::*;
pub use db::*;
pub use error::kvdb_last_error;
pub use index::*;
pub use index_def::*;
pub use index_iter::*;
pub use iter::*;
pub use iter_batch::*;
pub use iter_batch_borrowed::*;
pub use kv::*;
pub use limits::*;
pub use memory::kvdb_free;
pub use memory_limit::*;
pub use multi_get::*;
pub use options::*;
pub use recovery::*;
pub use snapshot::*;
pub use stats::*;
pub use status::*;
pub use txn::*;
pub use txn_run::*;
pub use version::*;
pub use watch::*;
