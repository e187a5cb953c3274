package kvdb

/*
#include "kvdb.h"
*/
import "C"

import (
	"runtime"
	"sync"
	"unsafe"
)

// Snapshot is a consistent, read-only view of the database at one moment;
// it may be read from many goroutines. Release it with Close.
type Snapshot struct {
	mu sync.RWMutex
	s  *C.kvdb_snapshot_t // nil once closed
	db *DB
}

// NewSnapshot takes a snapshot of the database as it is now.
func (d *DB) NewSnapshot() (*Snapshot, error) {
	var s *C.kvdb_snapshot_t
	if err := d.with(func(db *C.kvdb_t) C.kvdb_status_t { return C.kvdb_snapshot_new(db, &s) }); err != nil {
		return nil, err
	}
	snap := &Snapshot{s: s, db: d}
	runtime.SetFinalizer(snap, (*Snapshot).Close)
	return snap, nil
}

// Close releases the snapshot; later calls return ErrClosed.
func (s *Snapshot) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.s != nil {
		C.kvdb_snapshot_free(s.s)
		s.s = nil
		runtime.SetFinalizer(s, nil)
	}
	return nil
}

func (s *Snapshot) with(f func(s *C.kvdb_snapshot_t) C.kvdb_status_t) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.s == nil {
		return ErrClosed
	}
	return call(func() C.kvdb_status_t { return f(s.s) })
}

// withDB runs f with the database handle and the snapshot (making an
// iterator needs both: the database must still be open).
func (s *Snapshot) withDB(f func(db *C.kvdb_t, s *C.kvdb_snapshot_t) C.kvdb_status_t) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.s == nil {
		return ErrClosed
	}
	return s.db.with(func(db *C.kvdb_t) C.kvdb_status_t { return f(db, s.s) })
}

// Get returns a copy of the value key had when the snapshot was taken, or
// ErrNotFound.
func (s *Snapshot) Get(key []byte) ([]byte, error) {
	var val unsafe.Pointer
	var n C.size_t
	if err := s.with(func(snap *C.kvdb_snapshot_t) C.kvdb_status_t {
		return C.kvdb_snapshot_get(snap, ptr(key), size(key), &val, &n)
	}); err != nil {
		return nil, err
	}
	return take(val, n), nil
}

// NewIterator returns an iterator over the snapshot's keys that start
// with prefix (every key if prefix is empty). The database must be open.
func (s *Snapshot) NewIterator(prefix []byte) (*Iterator, error) {
	var it *C.kvdb_iter_t
	err := s.withDB(func(db *C.kvdb_t, snap *C.kvdb_snapshot_t) C.kvdb_status_t {
		return C.kvdb_iter_new_prefix(db, snap, ptr(prefix), size(prefix), &it)
	})
	return newIterator(it, err)
}

// Seq is the sequence number the snapshot reads at: it holds every write
// numbered up to it and none after.
func (s *Snapshot) Seq() (uint64, error) {
	var seq C.uint64_t
	err := s.with(func(snap *C.kvdb_snapshot_t) C.kvdb_status_t { return C.kvdb_snapshot_seq(snap, &seq) })
	return uint64(seq), err
}
