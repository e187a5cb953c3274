package kvdb

/*
#include <stdint.h>
#include "kvdb.h"

kvdb_status_t kvdbgo_txn_run(kvdb_t *db, uintptr_t handle);
*/
import "C"

import (
	"runtime"
	"runtime/cgo"
	"sync"
	"time"
	"unsafe"
)

// Txn is a serializable transaction: it reads the database as it was at
// Begin plus its own writes, and Commit applies every write at once or
// fails with ErrConflict if anything it read (keys, ranges its iterators
// and index queries covered) was written by someone else meanwhile. End it
// with Commit or Rollback; afterwards its methods return ErrClosed. It
// belongs to one goroutine at a time.
type Txn struct {
	mu sync.Mutex
	t  *C.kvdb_txn_t // nil once ended
}

// Begin starts a transaction.
func (d *DB) Begin() (*Txn, error) {
	var t *C.kvdb_txn_t
	if err := d.with(func(db *C.kvdb_t) C.kvdb_status_t { return C.kvdb_txn_begin(db, &t) }); err != nil {
		return nil, err
	}
	txn := &Txn{t: t}
	runtime.SetFinalizer(txn, (*Txn).Rollback)
	return txn, nil
}

// Transaction runs f in a transaction and commits it, retrying the whole
// transaction when the commit conflicts, until it commits: before each
// retry it waits for the writes it lost to to become visible, and the last
// retry (the 17th attempt) runs f holding the database's write lock, so
// writers that keep winning cannot starve it (kvdb_txn_run). An error from
// f rolls the transaction back and is returned as is; a panic in f rolls it
// back and is raised again. f must not call Commit or Rollback on its Txn
// (the run then fails with ErrInvalidArgument, committing nothing), nor keep
// it past its return, nor close the DB. During the last retry other writes
// wait, and a write through the DB from inside f (instead of through the
// Txn) fails with ErrInvalidArgument.
func (d *DB) Transaction(f func(t *Txn) error) error {
	run := &txnRun{f: f}
	h := cgo.NewHandle(run)
	defer h.Delete()
	err := d.with(func(db *C.kvdb_t) C.kvdb_status_t { return C.kvdbgo_txn_run(db, C.uintptr_t(h)) })
	if run.panicked {
		panic(run.panicVal)
	}
	if run.err != nil {
		return run.err
	}
	return err
}

// Update runs f in a transaction and commits it, retrying up to attempts
// times while the commit fails with ErrConflict. An error from f rolls the
// transaction back and is returned as is. Writers that keep winning can
// make every attempt conflict; Transaction cannot be starved that way.
func (d *DB) Update(attempts int, f func(t *Txn) error) error {
	var err error
	for a := 0; a < attempts; a++ {
		var t *Txn
		if t, err = d.Begin(); err != nil {
			return err
		}
		if err = f(t); err != nil {
			t.Rollback()
			return err
		}
		if err = t.Commit(); err == nil || !isStatus(err, StatusConflict) {
			return err
		}
	}
	return err
}

func isStatus(err error, s Status) bool {
	e, ok := err.(*Error)
	return ok && e.Status == s
}

func (t *Txn) with(f func(t *C.kvdb_txn_t) C.kvdb_status_t) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.t == nil {
		return ErrClosed
	}
	return call(func() C.kvdb_status_t { return f(t.t) })
}

// Get returns a copy of the value of key as the transaction sees it, or
// ErrNotFound. The read counts for commit validation.
func (t *Txn) Get(key []byte) ([]byte, error) {
	var val unsafe.Pointer
	var n C.size_t
	if err := t.with(func(c *C.kvdb_txn_t) C.kvdb_status_t {
		return C.kvdb_txn_get(c, ptr(key), size(key), &val, &n)
	}); err != nil {
		return nil, err
	}
	return take(val, n), nil
}

// GetInto is DB.GetInto through the transaction.
func (t *Txn) GetInto(key, buf []byte) (int, error) {
	var n C.size_t
	err := t.with(func(c *C.kvdb_txn_t) C.kvdb_status_t {
		return C.kvdb_txn_get_into(c, ptr(key), size(key), ptr(buf), size(buf), &n)
	})
	return int(n), err
}

// Put stores value under key when the transaction commits.
func (t *Txn) Put(key, value []byte) error {
	return t.with(func(c *C.kvdb_txn_t) C.kvdb_status_t {
		return C.kvdb_txn_put(c, ptr(key), size(key), ptr(value), size(value))
	})
}

// PutTTL is Put with a TTL (rounded up to whole milliseconds).
func (t *Txn) PutTTL(key, value []byte, ttl time.Duration) error {
	return t.with(func(c *C.kvdb_txn_t) C.kvdb_status_t {
		return C.kvdb_txn_put_ttl(c, ptr(key), size(key), ptr(value), size(value), ttlMillis(ttl))
	})
}

// Delete removes key when the transaction commits; ErrNotFound if it was
// not live as the transaction sees it (nothing is written then).
func (t *Txn) Delete(key []byte) error {
	return t.with(func(c *C.kvdb_txn_t) C.kvdb_status_t { return C.kvdb_txn_delete(c, ptr(key), size(key)) })
}

// Savepoint marks the point RollbackToSavepoint returns to (they nest).
func (t *Txn) Savepoint() error {
	return t.with(func(c *C.kvdb_txn_t) C.kvdb_status_t { return C.kvdb_txn_savepoint(c) })
}

// RollbackToSavepoint undoes the writes since the newest savepoint and
// removes it; ErrNotFound if there is none.
func (t *Txn) RollbackToSavepoint() error {
	return t.with(func(c *C.kvdb_txn_t) C.kvdb_status_t { return C.kvdb_txn_rollback_to_savepoint(c) })
}

// NewIterator returns an iterator over the transaction's view of the keys
// that start with prefix, its own writes included. The range it covers
// counts for commit validation.
func (t *Txn) NewIterator(prefix []byte) (*Iterator, error) {
	var it *C.kvdb_iter_t
	err := t.with(func(c *C.kvdb_txn_t) C.kvdb_status_t {
		return C.kvdb_txn_iter_new_prefix(c, ptr(prefix), size(prefix), &it)
	})
	return newIterator(it, err)
}

// Commit applies the transaction's writes atomically, or returns
// ErrConflict and applies nothing. The transaction has ended either way.
func (t *Txn) Commit() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.t == nil {
		return ErrClosed
	}
	c := t.t
	t.t = nil
	runtime.SetFinalizer(t, nil)
	return call(func() C.kvdb_status_t { return C.kvdb_txn_commit(c) })
}

// Rollback discards the transaction. Calling it after the transaction has
// ended does nothing and returns nil.
func (t *Txn) Rollback() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.t != nil {
		C.kvdb_txn_rollback(t.t)
		t.t = nil
		runtime.SetFinalizer(t, nil)
	}
	return nil
}
