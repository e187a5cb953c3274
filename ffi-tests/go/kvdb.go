// Package kvdb is a small Go binding of the kvdb C library, used to test it
// from cgo. Each C call goes through a helper in the preamble that also
// copies the error detail in the same cgo call: kvdb_last_error belongs to
// the OS thread, and a goroutine may run on another thread at its next call.
package kvdb

/*
#cgo CFLAGS: -I${SRCDIR}/../../include
#cgo LDFLAGS: -L${SRCDIR}/../../target/debug -Wl,-rpath,${SRCDIR}/../../target/debug -lkvdb
#include <stdlib.h>
#include "kvdb.h"

typedef struct {
	kvdb_status_t status;
	char detail[256];
} go_result;

static go_result go_check(kvdb_status_t s) {
	go_result r;
	r.status = s;
	r.detail[0] = 0;
	if (s != KVDB_OK) kvdb_last_error(r.detail, sizeof r.detail);
	return r;
}

static go_result go_open(const char *path, kvdb_t **out) { return go_check(kvdb_open(path, NULL, out)); }
static go_result go_close(kvdb_t *db) { return go_check(kvdb_close(db)); }
static go_result go_put(kvdb_t *db, const void *k, size_t kl, const void *v, size_t vl) { return go_check(kvdb_put(db, k, kl, v, vl)); }
static go_result go_put_ttl(kvdb_t *db, const void *k, size_t kl, const void *v, size_t vl, uint64_t ttl) { return go_check(kvdb_put_ttl(db, k, kl, v, vl, ttl)); }
static go_result go_get(kvdb_t *db, const void *k, size_t kl, void **v, size_t *vl) { return go_check(kvdb_get(db, k, kl, v, vl)); }
static go_result go_delete(kvdb_t *db, const void *k, size_t kl) { return go_check(kvdb_delete(db, k, kl)); }
static go_result go_increment(kvdb_t *db, const void *k, size_t kl, int64_t d, int64_t *out) { return go_check(kvdb_increment(db, k, kl, d, out)); }
static go_result go_batch_put(kvdb_batch_t *b, const void *k, size_t kl, const void *v, size_t vl) { return go_check(kvdb_batch_put(b, k, kl, v, vl)); }
static go_result go_batch_delete(kvdb_batch_t *b, const void *k, size_t kl) { return go_check(kvdb_batch_delete(b, k, kl)); }
static go_result go_write(kvdb_t *db, const kvdb_batch_t *b) { return go_check(kvdb_write(db, b)); }
static go_result go_iter_new_prefix(kvdb_t *db, const void *p, size_t pl, kvdb_iter_t **out) { return go_check(kvdb_iter_new_prefix(db, NULL, p, pl, out)); }
static go_result go_txn_begin(kvdb_t *db, kvdb_txn_t **out) { return go_check(kvdb_txn_begin(db, out)); }
static go_result go_txn_get(kvdb_txn_t *t, const void *k, size_t kl, void **v, size_t *vl) { return go_check(kvdb_txn_get(t, k, kl, v, vl)); }
static go_result go_txn_put(kvdb_txn_t *t, const void *k, size_t kl, const void *v, size_t vl) { return go_check(kvdb_txn_put(t, k, kl, v, vl)); }
static go_result go_txn_delete(kvdb_txn_t *t, const void *k, size_t kl) { return go_check(kvdb_txn_delete(t, k, kl)); }
static go_result go_txn_commit(kvdb_txn_t *t) { return go_check(kvdb_txn_commit(t)); }
static go_result go_txn_savepoint(kvdb_txn_t *t) { return go_check(kvdb_txn_savepoint(t)); }
static go_result go_txn_rollback_to_savepoint(kvdb_txn_t *t) { return go_check(kvdb_txn_rollback_to_savepoint(t)); }
static go_result go_txn_iter_new_prefix(kvdb_txn_t *t, const void *p, size_t pl, kvdb_iter_t **out) { return go_check(kvdb_txn_iter_new_prefix(t, p, pl, out)); }
*/
import "C"

import (
	"errors"
	"fmt"
	"time"
	"unsafe"
)

// Status codes (the KVDB_* constants).
const (
	StatusConflict = int(C.KVDB_CONFLICT)
	StatusNotFound = int(C.KVDB_NOT_FOUND)
	StatusInvalid  = int(C.KVDB_INVALID_ARGUMENT)
	StatusTooLarge = int(C.KVDB_TOO_LARGE)
	StatusLocked   = int(C.KVDB_LOCKED)
)

// Error is a failed call: its status code and the library's detail.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("kvdb status %d: %s", e.Status, e.Message) }

func check(r C.go_result) error {
	if r.status == C.KVDB_OK {
		return nil
	}
	return &Error{Status: int(r.status), Message: C.GoString(&r.detail[0])}
}

// ptr gives C a pointer to b's bytes (NULL for an empty slice, which the
// C API accepts with length 0).
func ptr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(&b[0])
}

// DB is an open database; safe for use by many goroutines.
type DB struct{ db *C.kvdb_t }

// Open opens the database in directory path, or an in-memory one if path is "".
func Open(path string) (*DB, error) {
	var cpath *C.char
	if path != "" {
		cpath = C.CString(path)
		defer C.free(unsafe.Pointer(cpath))
	}
	var db *C.kvdb_t
	if err := check(C.go_open(cpath, &db)); err != nil {
		return nil, err
	}
	return &DB{db: db}, nil
}

// Close closes the database.
func (d *DB) Close() error { return check(C.go_close(d.db)) }

// Put stores value under key.
func (d *DB) Put(key, value []byte) error {
	return check(C.go_put(d.db, ptr(key), C.size_t(len(key)), ptr(value), C.size_t(len(value))))
}

// PutTTL stores value under key, expiring after ttl.
func (d *DB) PutTTL(key, value []byte, ttl time.Duration) error {
	return check(C.go_put_ttl(d.db, ptr(key), C.size_t(len(key)), ptr(value), C.size_t(len(value)), C.uint64_t(ttl.Milliseconds())))
}

// Get returns the value of key and whether it was found.
func (d *DB) Get(key []byte) ([]byte, bool, error) {
	return fetch(func(val *unsafe.Pointer, n *C.size_t) C.go_result {
		return C.go_get(d.db, ptr(key), C.size_t(len(key)), val, n)
	})
}

// fetch runs a get-like C call that allocates the value, and turns
// KVDB_NOT_FOUND into found == false.
func fetch(call func(val *unsafe.Pointer, n *C.size_t) C.go_result) ([]byte, bool, error) {
	var val unsafe.Pointer
	var n C.size_t
	err := check(call(&val, &n))
	if isNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	defer C.kvdb_free(val)
	return C.GoBytes(val, C.int(n)), true, nil
}

// isNotFound says whether err is KVDB_NOT_FOUND.
func isNotFound(err error) bool {
	e, ok := err.(*Error)
	return ok && e.Status == StatusNotFound
}

// Delete removes key and says whether a live key was removed.
func (d *DB) Delete(key []byte) (bool, error) {
	err := check(C.go_delete(d.db, ptr(key), C.size_t(len(key))))
	if isNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

// Increment adds delta to the decimal counter at key and returns the result.
func (d *DB) Increment(key []byte, delta int64) (int64, error) {
	var out C.int64_t
	err := check(C.go_increment(d.db, ptr(key), C.size_t(len(key)), C.int64_t(delta), &out))
	return int64(out), err
}

// Batch is a list of writes applied atomically by DB.Write.
type Batch struct{ b *C.kvdb_batch_t }

// NewBatch returns an empty batch; call Free when done.
func NewBatch() *Batch { return &Batch{b: C.kvdb_batch_new()} }

// Free releases the batch.
func (b *Batch) Free() { C.kvdb_batch_free(b.b) }

// Put adds a put.
func (b *Batch) Put(key, value []byte) error {
	return check(C.go_batch_put(b.b, ptr(key), C.size_t(len(key)), ptr(value), C.size_t(len(value))))
}

// Delete adds a delete.
func (b *Batch) Delete(key []byte) error {
	return check(C.go_batch_delete(b.b, ptr(key), C.size_t(len(key))))
}

// Len is the number of operations in the batch.
func (b *Batch) Len() int { return int(C.kvdb_batch_count(b.b)) }

// Write applies the batch atomically.
func (d *DB) Write(b *Batch) error { return check(C.go_write(d.db, b.b)) }

// Scan calls fn for every key starting with prefix, in ascending order, as
// of the moment Scan starts; fn returns false to stop.
func (d *DB) Scan(prefix []byte, fn func(key, value []byte) bool) error {
	var it *C.kvdb_iter_t
	if err := check(C.go_iter_new_prefix(d.db, ptr(prefix), C.size_t(len(prefix)), &it)); err != nil {
		return err
	}
	return walk(it, fn)
}

// walk calls fn for each pair of the iterator, then frees it.
func walk(it *C.kvdb_iter_t, fn func(key, value []byte) bool) error {
	defer C.kvdb_iter_free(it)
	for C.kvdb_iter_seek_to_first(it); bool(C.kvdb_iter_valid(it)); C.kvdb_iter_next(it) {
		var k, v unsafe.Pointer
		var kl, vl C.size_t
		C.kvdb_iter_key(it, &k, &kl)
		C.kvdb_iter_value(it, &v, &vl)
		if !fn(C.GoBytes(k, C.int(kl)), C.GoBytes(v, C.int(vl))) {
			break
		}
	}
	return nil
}

// Txn is an optimistic, serializable transaction, used by one goroutine.
// End it with Commit or Rollback, which release it.
type Txn struct{ t *C.kvdb_txn_t }

// IsConflict says whether err is a transaction conflict.
func IsConflict(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == StatusConflict
}

// Begin starts a transaction reading at the database as it is now.
func (d *DB) Begin() (*Txn, error) {
	var t *C.kvdb_txn_t
	if err := check(C.go_txn_begin(d.db, &t)); err != nil {
		return nil, err
	}
	return &Txn{t: t}, nil
}

// Get returns the value of key as the transaction sees it.
func (t *Txn) Get(key []byte) ([]byte, bool, error) {
	return fetch(func(val *unsafe.Pointer, n *C.size_t) C.go_result {
		return C.go_txn_get(t.t, ptr(key), C.size_t(len(key)), val, n)
	})
}

// Put stores value under key when the transaction commits.
func (t *Txn) Put(key, value []byte) error {
	return check(C.go_txn_put(t.t, ptr(key), C.size_t(len(key)), ptr(value), C.size_t(len(value))))
}

// Delete removes key when the transaction commits; false if it was absent.
func (t *Txn) Delete(key []byte) (bool, error) {
	err := check(C.go_txn_delete(t.t, ptr(key), C.size_t(len(key))))
	if isNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

// Savepoint marks a point RollbackToSavepoint returns to.
func (t *Txn) Savepoint() error { return check(C.go_txn_savepoint(t.t)) }

// RollbackToSavepoint undoes the writes since the newest savepoint.
func (t *Txn) RollbackToSavepoint() error { return check(C.go_txn_rollback_to_savepoint(t.t)) }

// Scan calls fn for every key starting with prefix, the transaction's
// writes merged over its view; the prefix counts for commit validation.
func (t *Txn) Scan(prefix []byte, fn func(key, value []byte) bool) error {
	var it *C.kvdb_iter_t
	if err := check(C.go_txn_iter_new_prefix(t.t, ptr(prefix), C.size_t(len(prefix)), &it)); err != nil {
		return err
	}
	return walk(it, fn)
}

// Commit applies the transaction atomically, or returns a conflict error
// (see IsConflict) and applies nothing. It releases the transaction.
func (t *Txn) Commit() error {
	err := check(C.go_txn_commit(t.t))
	t.t = nil
	return err
}

// Rollback discards the transaction and releases it.
func (t *Txn) Rollback() {
	C.kvdb_txn_rollback(t.t)
	t.t = nil
}
