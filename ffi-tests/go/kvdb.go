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
static go_result go_index_def_json(const char *name, const char *field, kvdb_index_def_t **out) { return go_check(kvdb_index_def_new_json_field(name, field, out)); }
static go_result go_index_def_key_field(const char *name, uint8_t delim, uint32_t field, kvdb_index_def_t **out) { return go_check(kvdb_index_def_new_key_field(name, delim, field, out)); }
static go_result go_index_def_set_unique(kvdb_index_def_t *d) { return go_check(kvdb_index_def_set_unique(d)); }
static go_result go_create_index(kvdb_t *db, const kvdb_index_def_t *d) { return go_check(kvdb_create_index(db, d)); }
static go_result go_drop_index(kvdb_t *db, const char *name) { return go_check(kvdb_drop_index(db, name)); }
static go_result go_index_iter_range(kvdb_t *db, const char *name, const void *lo, size_t ll, const void *hi, size_t hl, uint32_t flags, kvdb_index_iter_t **out) { return go_check(kvdb_index_iter_range(db, NULL, name, lo, ll, hi, hl, flags, out)); }
static go_result go_index_iter_equal(kvdb_t *db, const char *name, const void *k, size_t kl, kvdb_index_iter_t **out) { return go_check(kvdb_index_iter_equal(db, NULL, name, k, kl, out)); }
static go_result go_txn_index_iter_equal(kvdb_txn_t *t, const char *name, const void *k, size_t kl, kvdb_index_iter_t **out) { return go_check(kvdb_txn_index_iter_equal(t, name, k, kl, out)); }
static go_result go_index_iter_step(kvdb_index_iter_t *it, int back) { return go_check(back ? kvdb_index_iter_next_back(it) : kvdb_index_iter_next(it)); }
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
	StatusConflict   = int(C.KVDB_CONFLICT)
	StatusNotFound   = int(C.KVDB_NOT_FOUND)
	StatusInvalid    = int(C.KVDB_INVALID_ARGUMENT)
	StatusTooLarge   = int(C.KVDB_TOO_LARGE)
	StatusLocked     = int(C.KVDB_LOCKED)
	StatusConstraint = int(C.KVDB_CONSTRAINT)
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

// IndexKind selects a built-in extractor for CreateIndex.
type IndexKind int

const (
	// JSONField indexes a top-level field of JSON object values.
	JSONField IndexKind = iota
	// KeyField indexes field N (from 0) of keys split at '/'.
	KeyField
)

// CreateIndex adds an index named name and builds it from the records held
// now: for JSONField, over the JSON field field; for KeyField, over the key
// field numbered keyField. A unique index refuses duplicate index keys.
func (d *DB) CreateIndex(name string, kind IndexKind, field string, keyField uint32, unique bool) error {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var def *C.kvdb_index_def_t
	var err error
	switch kind {
	case JSONField:
		cfield := C.CString(field)
		defer C.free(unsafe.Pointer(cfield))
		err = check(C.go_index_def_json(cname, cfield, &def))
	case KeyField:
		err = check(C.go_index_def_key_field(cname, '/', C.uint32_t(keyField), &def))
	default:
		return fmt.Errorf("unknown index kind %d", kind)
	}
	if err != nil {
		return err
	}
	defer C.kvdb_index_def_free(def)
	if unique {
		if err := check(C.go_index_def_set_unique(def)); err != nil {
			return err
		}
	}
	return check(C.go_create_index(d.db, def))
}

// DropIndex removes the index name.
func (d *DB) DropIndex(name string) error {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	return check(C.go_drop_index(d.db, cname))
}

// IndexRecord is a record found through an index.
type IndexRecord struct {
	IndexKey, Key, Value []byte
}

// IndexRange calls fn for the records of index name whose index key lies
// in [lo, hi) (nil: open), ascending, or descending if reverse; fn returns
// false to stop.
func (d *DB) IndexRange(name string, lo, hi []byte, reverse bool, fn func(IndexRecord) bool) error {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var it *C.kvdb_index_iter_t
	if err := check(C.go_index_iter_range(d.db, cname, ptr(lo), C.size_t(len(lo)), ptr(hi), C.size_t(len(hi)), 0, &it)); err != nil {
		return err
	}
	return walkIndex(it, reverse, fn)
}

// IndexEqual calls fn for the records of index name whose index key is
// ikey, in key order.
func (d *DB) IndexEqual(name string, ikey []byte, fn func(IndexRecord) bool) error {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var it *C.kvdb_index_iter_t
	if err := check(C.go_index_iter_equal(d.db, cname, ptr(ikey), C.size_t(len(ikey)), &it)); err != nil {
		return err
	}
	return walkIndex(it, false, fn)
}

// IndexEqual is DB.IndexEqual inside the transaction: its own writes
// included, the lookup counting for commit validation.
func (t *Txn) IndexEqual(name string, ikey []byte, fn func(IndexRecord) bool) error {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var it *C.kvdb_index_iter_t
	if err := check(C.go_txn_index_iter_equal(t.t, cname, ptr(ikey), C.size_t(len(ikey)), &it)); err != nil {
		return err
	}
	return walkIndex(it, false, fn)
}

// walkIndex calls fn for each record of the index iterator, then frees it.
func walkIndex(it *C.kvdb_index_iter_t, reverse bool, fn func(IndexRecord) bool) error {
	defer C.kvdb_index_iter_free(it)
	back := C.int(0)
	if reverse {
		back = 1
	}
	for {
		err := check(C.go_index_iter_step(it, back))
		if isNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		var ik, k, v unsafe.Pointer
		var ikl, kl, vl C.size_t
		C.kvdb_index_iter_index_key(it, &ik, &ikl)
		C.kvdb_index_iter_key(it, &k, &kl)
		C.kvdb_index_iter_value(it, &v, &vl)
		rec := IndexRecord{C.GoBytes(ik, C.int(ikl)), C.GoBytes(k, C.int(kl)), C.GoBytes(v, C.int(vl))}
		if !fn(rec) {
			return nil
		}
	}
}
