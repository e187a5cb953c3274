// Package kvdb is the Go binding of kvdb, an embeddable, concurrent,
// in-memory key-value database with durability, TTLs, snapshots, ordered
// iteration, transactions and secondary indexes. It calls the C library
// (libkvdb) through cgo and needs nothing beyond the standard library.
//
// # Building
//
// The package links libkvdb through pkg-config (`#cgo pkg-config: kvdb`).
// Install the library first, from the repository root:
//
//	make && make install prefix=$HOME/.local
//	export PKG_CONFIG_PATH=$HOME/.local/lib/pkgconfig
//	export CGO_LDFLAGS="-Wl,-rpath,$HOME/.local/lib"   # or LD_LIBRARY_PATH at run time
//
// Under a system prefix (sudo make install, prefix /usr/local) neither
// variable is needed.
//
// # Handles
//
// A DB is safe for use by many goroutines. A Snapshot may be read from many
// goroutines; an Iterator, an IndexIterator, a Batch and a Txn belong to one
// goroutine at a time. Every handle has a Close (Commit or Rollback for a
// Txn), which is the documented way to release it; a finalizer releases a
// handle that was dropped without it, as a safety net only. Close is
// idempotent, and any method called after it returns ErrClosed (never a
// crash). Snapshots and iterators keep reading what they saw after their
// DB is closed, but new ones cannot be made from it; a transaction's calls
// fail with ErrInvalidArgument ("the database is closed").
//
// # Reading many keys
//
// Every call into C costs the cgo crossing. DB.GetMany (and
// Snapshot.GetMany) reads a slice of keys in one call, all at one moment,
// with the library overlapping the reads' memory accesses: the way to read
// a batch of keys.
//
// # Errors
//
// Failures are *Error values carrying the library's status and detail;
// test them with errors.Is against the sentinels (ErrNotFound, ErrConflict,
// ErrExists, ErrConstraint, ErrClosed, ...).
//
// # Durations
//
// TTLs are whole milliseconds: a duration is rounded up, so a positive TTL
// never becomes 0. Zero and negative TTLs are ErrInvalidArgument.
package kvdb
