package kvdb

/*
#include <stdlib.h>
#include "kvdb.h"
*/
import "C"

import (
	"runtime"
	"sync"
	"time"
	"unsafe"
)

// DB is an open database, safe for use by many goroutines.
type DB struct {
	mu sync.RWMutex // read-held by every call, write-held by Close
	db *C.kvdb_t    // nil once closed
}

// Open opens the database in directory path (created if missing, its
// contents recovered), or an in-memory database that touches no file if
// path is "" or ":memory:". opts nil means the defaults.
func Open(path string, opts *Options) (*DB, error) {
	var cpath *C.char
	if path != "" {
		cpath = C.CString(path)
		defer C.free(unsafe.Pointer(cpath))
	}
	copts, err := opts.toC()
	if err != nil {
		return nil, err
	}
	defer C.kvdb_options_free(copts)
	var db *C.kvdb_t
	if err := call(func() C.kvdb_status_t { return C.kvdb_open(cpath, copts, &db) }); err != nil {
		return nil, err
	}
	d := &DB{db: db}
	runtime.SetFinalizer(d, (*DB).Close)
	return d, nil
}

// OpenInMemory opens an in-memory database that touches no file.
func OpenInMemory(opts *Options) (*DB, error) { return Open("", opts) }

// Close closes the database: its files are synced and released. Calling
// it again does nothing and returns nil; every other method returns
// ErrClosed afterwards.
func (d *DB) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.db == nil {
		return nil
	}
	db := d.db
	d.db = nil
	runtime.SetFinalizer(d, nil)
	return call(func() C.kvdb_status_t { return C.kvdb_close(db) })
}

// with runs f on the live handle, or returns ErrClosed.
func (d *DB) with(f func(db *C.kvdb_t) C.kvdb_status_t) error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.db == nil {
		return ErrClosed
	}
	return call(func() C.kvdb_status_t { return f(d.db) })
}

// Put stores value under key.
func (d *DB) Put(key, value []byte) error {
	return d.with(func(db *C.kvdb_t) C.kvdb_status_t {
		return C.kvdb_put(db, ptr(key), size(key), ptr(value), size(value))
	})
}

// PutTTL stores value under key, expiring after ttl (rounded up to whole
// milliseconds).
func (d *DB) PutTTL(key, value []byte, ttl time.Duration) error {
	return d.with(func(db *C.kvdb_t) C.kvdb_status_t {
		return C.kvdb_put_ttl(db, ptr(key), size(key), ptr(value), size(value), ttlMillis(ttl))
	})
}

// Get returns a copy of the value of key, or ErrNotFound.
func (d *DB) Get(key []byte) ([]byte, error) {
	var val unsafe.Pointer
	var n C.size_t
	if err := d.with(func(db *C.kvdb_t) C.kvdb_status_t {
		return C.kvdb_get(db, ptr(key), size(key), &val, &n)
	}); err != nil {
		return nil, err
	}
	return take(val, n), nil
}

// GetInto copies the value of key into buf without allocating and returns
// its length. If the value is longer than buf, nothing is copied and the
// error is ErrBufferTooSmall with the length needed returned.
func (d *DB) GetInto(key, buf []byte) (int, error) {
	var n C.size_t
	err := d.with(func(db *C.kvdb_t) C.kvdb_status_t {
		return C.kvdb_get_into(db, ptr(key), size(key), ptr(buf), size(buf), &n)
	})
	return int(n), err
}

// Delete removes key; ErrNotFound if it held no live value.
func (d *DB) Delete(key []byte) error {
	return d.with(func(db *C.kvdb_t) C.kvdb_status_t { return C.kvdb_delete(db, ptr(key), size(key)) })
}

// Exists reports whether key holds a live value.
func (d *DB) Exists(key []byte) (bool, error) {
	return found(d.with(func(db *C.kvdb_t) C.kvdb_status_t { return C.kvdb_exists(db, ptr(key), size(key)) }))
}

// found turns ErrNotFound into false.
func found(err error) (bool, error) {
	if err == nil {
		return true, nil
	}
	if e, ok := err.(*Error); ok && e.Status == StatusNotFound {
		return false, nil
	}
	return false, err
}

// TTL returns the remaining life of key and true, or 0 and false if it has
// no TTL; ErrNotFound if the key is absent.
func (d *DB) TTL(key []byte) (time.Duration, bool, error) {
	var left C.int64_t
	if err := d.with(func(db *C.kvdb_t) C.kvdb_status_t { return C.kvdb_ttl(db, ptr(key), size(key), &left) }); err != nil {
		return 0, false, err
	}
	if left < 0 {
		return 0, false, nil
	}
	return time.Duration(left) * time.Millisecond, true, nil
}

// Expire gives the live key a TTL (rounded up to whole milliseconds);
// ErrNotFound if it is absent.
func (d *DB) Expire(key []byte, ttl time.Duration) error {
	return d.with(func(db *C.kvdb_t) C.kvdb_status_t { return C.kvdb_expire(db, ptr(key), size(key), ttlMillis(ttl)) })
}

// Persist removes the TTL of key; ErrNotFound if it is absent.
func (d *DB) Persist(key []byte) error {
	return d.with(func(db *C.kvdb_t) C.kvdb_status_t { return C.kvdb_persist(db, ptr(key), size(key)) })
}

// PutIfAbsent stores value only if key is absent; ErrExists if present.
func (d *DB) PutIfAbsent(key, value []byte) error {
	return d.with(func(db *C.kvdb_t) C.kvdb_status_t {
		return C.kvdb_put_if_absent(db, ptr(key), size(key), ptr(value), size(value))
	})
}

// PutIfAbsentTTL is PutIfAbsent with a TTL (the lease or lock idiom).
func (d *DB) PutIfAbsentTTL(key, value []byte, ttl time.Duration) error {
	return d.with(func(db *C.kvdb_t) C.kvdb_status_t {
		return C.kvdb_put_if_absent_ttl(db, ptr(key), size(key), ptr(value), size(value), ttlMillis(ttl))
	})
}

// CompareAndSwap replaces the value of key with value if it currently
// equals expected (the key keeps its TTL): nil if replaced, ErrConflict if
// the value differed, ErrNotFound if the key was absent.
func (d *DB) CompareAndSwap(key, expected, value []byte) error {
	return d.with(func(db *C.kvdb_t) C.kvdb_status_t {
		return C.kvdb_compare_and_swap(db, ptr(key), size(key), ptr(expected), size(expected), ptr(value), size(value))
	})
}

// Increment adds delta to the decimal integer stored at key (absent counts
// as 0; the key keeps its TTL) and returns the new value. A value that is
// not a decimal integer, or an overflow, is ErrInvalidArgument.
func (d *DB) Increment(key []byte, delta int64) (int64, error) {
	var out C.int64_t
	err := d.with(func(db *C.kvdb_t) C.kvdb_status_t {
		return C.kvdb_increment(db, ptr(key), size(key), C.int64_t(delta), &out)
	})
	return int64(out), err
}

// Write applies every operation of b atomically; b stays usable.
func (d *DB) Write(b *Batch) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.b == nil {
		return ErrClosed
	}
	return d.with(func(db *C.kvdb_t) C.kvdb_status_t { return C.kvdb_write(db, b.b) })
}

// Sync makes every acknowledged write durable now.
func (d *DB) Sync() error {
	return d.with(func(db *C.kvdb_t) C.kvdb_status_t { return C.kvdb_sync(db) })
}

// Checkpoint writes a snapshot file and trims the log.
func (d *DB) Checkpoint() error {
	return d.with(func(db *C.kvdb_t) C.kvdb_status_t { return C.kvdb_checkpoint(db) })
}

// CollectGarbage reclaims expired keys and versions no view needs.
func (d *DB) CollectGarbage() error {
	return d.with(func(db *C.kvdb_t) C.kvdb_status_t { return C.kvdb_collect_garbage(db) })
}

// Reorder puts the ordered index back in key order in memory now, so that
// scans after random inserts read memory in order. Nothing readers see
// changes. A background thread in the library does the same
// when writes of new keys pause; call it after a bulk load to have it done
// before scanning.
func (d *DB) Reorder() error {
	return d.with(func(db *C.kvdb_t) C.kvdb_status_t { return C.kvdb_reorder(db) })
}

// Backup writes a consistent copy of the database as of one moment into
// directory dir (created if missing; an existing one must be empty): one
// snapshot file, which opens as a durable database with Open or loads
// into memory with OpenInMemoryFrom. Other goroutines go on writing
// meanwhile; none of their writes after that moment is in the copy. TTLs
// stay absolute; indexes are not copied.
func (d *DB) Backup(dir string) error {
	cdir := C.CString(dir)
	defer C.free(unsafe.Pointer(cdir))
	return d.with(func(db *C.kvdb_t) C.kvdb_status_t { return C.kvdb_backup(db, cdir) })
}

// OpenInMemoryFrom opens an in-memory database holding the contents of a
// backup or database directory, loaded as Open recovers one but writing and
// repairing nothing there (ErrLocked if it is open elsewhere). Afterwards
// the database touches no file.
func OpenInMemoryFrom(dir string, opts *Options) (*DB, error) {
	cdir := C.CString(dir)
	defer C.free(unsafe.Pointer(cdir))
	copts, err := opts.toC()
	if err != nil {
		return nil, err
	}
	defer C.kvdb_options_free(copts)
	var db *C.kvdb_t
	if err := call(func() C.kvdb_status_t { return C.kvdb_open_in_memory_from(cdir, copts, &db) }); err != nil {
		return nil, err
	}
	d := &DB{db: db}
	runtime.SetFinalizer(d, (*DB).Close)
	return d, nil
}
