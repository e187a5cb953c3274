package kvdb

/*
#include <stdlib.h>
#include <stdint.h>
#include "kvdb.h"

kvdb_status_t kvdbgo_index_def_callback(const char *name, uintptr_t handle, kvdb_index_def_t **out);
*/
import "C"

import (
	"runtime"
	"runtime/cgo"
	"sync"
	"unsafe"
)

// Interpretation says how IndexValueBytes reads its byte range.
type Interpretation int

// Interpretations (KVDB_INDEX_*): the integer ones sort numerically.
const (
	Bytes = Interpretation(C.KVDB_INDEX_BYTES)
	U32LE = Interpretation(C.KVDB_INDEX_U32_LE)
	U32BE = Interpretation(C.KVDB_INDEX_U32_BE)
	I32LE = Interpretation(C.KVDB_INDEX_I32_LE)
	I32BE = Interpretation(C.KVDB_INDEX_I32_BE)
	U64LE = Interpretation(C.KVDB_INDEX_U64_LE)
	U64BE = Interpretation(C.KVDB_INDEX_U64_BE)
	I64LE = Interpretation(C.KVDB_INDEX_I64_LE)
	I64BE = Interpretation(C.KVDB_INDEX_I64_BE)
)

// IndexFunc computes the index keys of a record: none, one or several. It
// must be deterministic and must not call into the database; key and value
// are valid only during the call. A panic is recovered and gives the
// record no index key.
type IndexFunc func(key, value []byte) [][]byte

// IndexDef defines a secondary index. Make one with IndexKeyField,
// IndexValueBytes, IndexJSONField or IndexCallback.
type IndexDef struct {
	name      string
	kind      int
	delimiter byte
	field     uint32
	offset    int
	length    int
	interp    Interpretation
	jsonField string
	fn        IndexFunc
	unique    bool
}

const (
	kindKeyField = iota
	kindValueBytes
	kindJSONField
	kindCallback
)

// IndexKeyField indexes field number field (from 0) of keys split at byte
// delimiter; keys without that field are not indexed.
func IndexKeyField(name string, delimiter byte, field uint32) IndexDef {
	return IndexDef{name: name, kind: kindKeyField, delimiter: delimiter, field: field}
}

// IndexValueBytes indexes bytes [offset, offset+length) of values, read as
// interp; shorter values are not indexed.
func IndexValueBytes(name string, offset, length int, interp Interpretation) IndexDef {
	return IndexDef{name: name, kind: kindValueBytes, offset: offset, length: length, interp: interp}
}

// IndexJSONField indexes top-level field field of values that are JSON
// objects (strings, numbers and booleans; other values are not indexed).
func IndexJSONField(name, field string) IndexDef {
	return IndexDef{name: name, kind: kindJSONField, jsonField: field}
}

// IndexCallback indexes the keys fn computes for each record.
func IndexCallback(name string, fn IndexFunc) IndexDef {
	return IndexDef{name: name, kind: kindCallback, fn: fn}
}

// Unique returns the definition made unique: a write giving a second
// record the same index key fails with ErrConstraint and applies nothing.
func (d IndexDef) Unique() IndexDef {
	d.unique = true
	return d
}

// Name is the index's name.
func (d IndexDef) Name() string { return d.name }

// with builds the C definition, runs f with it and frees it (the calls
// that take a definition copy it).
func (d IndexDef) with(f func(def *C.kvdb_index_def_t) error) error {
	name := C.CString(d.name)
	defer C.free(unsafe.Pointer(name))
	var def *C.kvdb_index_def_t
	var err error
	switch d.kind {
	case kindKeyField:
		err = call(func() C.kvdb_status_t {
			return C.kvdb_index_def_new_key_field(name, C.uint8_t(d.delimiter), C.uint32_t(d.field), &def)
		})
	case kindValueBytes:
		if d.offset < 0 || d.length < 0 {
			return newError(StatusInvalidArgument, "offset and length must not be negative")
		}
		err = call(func() C.kvdb_status_t {
			return C.kvdb_index_def_new_value_bytes(name, C.size_t(d.offset), C.size_t(d.length), C.int(d.interp), &def)
		})
	case kindJSONField:
		field := C.CString(d.jsonField)
		defer C.free(unsafe.Pointer(field))
		err = call(func() C.kvdb_status_t { return C.kvdb_index_def_new_json_field(name, field, &def) })
	case kindCallback:
		if d.fn == nil {
			return newError(StatusInvalidArgument, "IndexCallback needs a function")
		}
		// The handle lives as long as the library keeps a copy of the
		// definition: its free function deletes it.
		h := cgo.NewHandle(d.fn)
		err = call(func() C.kvdb_status_t { return C.kvdbgo_index_def_callback(name, C.uintptr_t(h), &def) })
		if err != nil {
			h.Delete()
		}
	default:
		return newError(StatusInvalidArgument, "an IndexDef must come from one of the Index* functions")
	}
	if err != nil {
		return err
	}
	defer C.kvdb_index_def_free(def)
	if d.unique {
		if err := call(func() C.kvdb_status_t { return C.kvdb_index_def_set_unique(def) }); err != nil {
			return err
		}
	}
	return f(def)
}

// CreateIndex builds index def over the existing records, online (writes
// go on meanwhile and none is missed), and maintains it from then on.
// Under a memory limit the build makes room for the entries as a write
// does, or fails with ErrMemoryLimit leaving nothing of the index.
// Indexes are not stored on disk: declare them in Options.Indexes to have
// them rebuilt at the next Open.
func (d *DB) CreateIndex(def IndexDef) error {
	return def.with(func(c *C.kvdb_index_def_t) error {
		return d.with(func(db *C.kvdb_t) C.kvdb_status_t { return C.kvdb_create_index(db, c) })
	})
}

// DropIndex removes index name and its entries. Views made before keep
// reading what they saw.
func (d *DB) DropIndex(name string) error {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	return d.with(func(db *C.kvdb_t) C.kvdb_status_t { return C.kvdb_drop_index(db, cname) })
}

// Indexes returns the names of the indexes kept, in creation order.
func (d *DB) Indexes() ([]string, error) {
	var names *C.char
	var count C.size_t
	if err := d.with(func(db *C.kvdb_t) C.kvdb_status_t { return C.kvdb_index_list(db, &names, &count) }); err != nil {
		return nil, err
	}
	defer C.kvdb_free(unsafe.Pointer(names))
	out := make([]string, 0, int(count))
	p := unsafe.Pointer(names)
	for i := 0; i < int(count); i++ {
		s := C.GoString((*C.char)(p))
		out = append(out, s)
		p = unsafe.Add(p, len(s)+1)
	}
	return out, nil
}

// IndexGet returns the first record (in key order) whose index key in
// index name equals ikey (in the records' own form), or ErrNotFound.
func (d *DB) IndexGet(name string, ikey []byte) (key, value []byte, err error) {
	return indexGet(d, nil, name, ikey)
}

// IndexGet is DB.IndexGet at the snapshot.
func (s *Snapshot) IndexGet(name string, ikey []byte) (key, value []byte, err error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.s == nil {
		return nil, nil, ErrClosed
	}
	return indexGet(s.db, s.s, name, ikey)
}

func indexGet(d *DB, snap *C.kvdb_snapshot_t, name string, ikey []byte) ([]byte, []byte, error) {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var k, v unsafe.Pointer
	var kl, vl C.size_t
	if err := d.with(func(db *C.kvdb_t) C.kvdb_status_t {
		return C.kvdb_index_get(db, snap, cname, ptr(ikey), size(ikey), &k, &kl, &v, &vl)
	}); err != nil {
		return nil, nil, err
	}
	return take(k, kl), take(v, vl), nil
}

// RangeFlags adjust the bounds of an index range query.
type RangeFlags uint32

const (
	// LowerExclusive leaves the lower bound itself out.
	LowerExclusive = RangeFlags(C.KVDB_INDEX_LOWER_EXCLUSIVE)
	// UpperInclusive includes the upper bound itself.
	UpperInclusive = RangeFlags(C.KVDB_INDEX_UPPER_INCLUSIVE)
)

// indexQuery is one of the three queries, run against a database, a
// snapshot or a transaction.
type indexQuery struct {
	kind  int // 0 equal, 1 prefix, 2 range
	name  *C.char
	a, b  []byte
	flags RangeFlags
}

func (q indexQuery) onView(db *C.kvdb_t, snap *C.kvdb_snapshot_t, out **C.kvdb_index_iter_t) C.kvdb_status_t {
	switch q.kind {
	case 0:
		return C.kvdb_index_iter_equal(db, snap, q.name, ptr(q.a), size(q.a), out)
	case 1:
		return C.kvdb_index_iter_prefix(db, snap, q.name, ptr(q.a), size(q.a), out)
	}
	return C.kvdb_index_iter_range(db, snap, q.name, ptr(q.a), size(q.a), ptr(q.b), size(q.b), C.uint32_t(q.flags), out)
}

func (q indexQuery) onTxn(t *C.kvdb_txn_t, out **C.kvdb_index_iter_t) C.kvdb_status_t {
	switch q.kind {
	case 0:
		return C.kvdb_txn_index_iter_equal(t, q.name, ptr(q.a), size(q.a), out)
	case 1:
		return C.kvdb_txn_index_iter_prefix(t, q.name, ptr(q.a), size(q.a), out)
	}
	return C.kvdb_txn_index_iter_range(t, q.name, ptr(q.a), size(q.a), ptr(q.b), size(q.b), C.uint32_t(q.flags), out)
}

// run names the index in C for the duration of the query.
func runQuery(name string, kind int, a, b []byte, flags RangeFlags, f func(q indexQuery) (*C.kvdb_index_iter_t, error)) (*IndexIterator, error) {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	it, err := f(indexQuery{kind: kind, name: cname, a: a, b: b, flags: flags})
	if err != nil {
		return nil, err
	}
	i := &IndexIterator{it: it}
	runtime.SetFinalizer(i, (*IndexIterator).Close)
	return i, nil
}

func (d *DB) indexQuery(name string, kind int, a, b []byte, flags RangeFlags) (*IndexIterator, error) {
	return runQuery(name, kind, a, b, flags, func(q indexQuery) (*C.kvdb_index_iter_t, error) {
		var it *C.kvdb_index_iter_t
		err := d.with(func(db *C.kvdb_t) C.kvdb_status_t { return q.onView(db, nil, &it) })
		return it, err
	})
}

func (s *Snapshot) indexQuery(name string, kind int, a, b []byte, flags RangeFlags) (*IndexIterator, error) {
	return runQuery(name, kind, a, b, flags, func(q indexQuery) (*C.kvdb_index_iter_t, error) {
		var it *C.kvdb_index_iter_t
		err := s.withDB(func(db *C.kvdb_t, snap *C.kvdb_snapshot_t) C.kvdb_status_t { return q.onView(db, snap, &it) })
		return it, err
	})
}

func (t *Txn) indexQuery(name string, kind int, a, b []byte, flags RangeFlags) (*IndexIterator, error) {
	return runQuery(name, kind, a, b, flags, func(q indexQuery) (*C.kvdb_index_iter_t, error) {
		var it *C.kvdb_index_iter_t
		err := t.with(func(c *C.kvdb_txn_t) C.kvdb_status_t { return q.onTxn(c, &it) })
		return it, err
	})
}

// IndexEqual queries the records whose index key equals ikey (in the
// records' own form: the field's bytes, the integer in its byte order, a
// JSON text such as `"alice"` or `30`).
func (d *DB) IndexEqual(name string, ikey []byte) (*IndexIterator, error) {
	return d.indexQuery(name, 0, ikey, nil, 0)
}

// IndexPrefix queries the records whose ordered index key starts with prefix.
func (d *DB) IndexPrefix(name string, prefix []byte) (*IndexIterator, error) {
	return d.indexQuery(name, 1, prefix, nil, 0)
}

// IndexRange queries the records whose index key lies from lower
// (included) to upper (excluded), changed by flags; an empty bound is open.
func (d *DB) IndexRange(name string, lower, upper []byte, flags RangeFlags) (*IndexIterator, error) {
	return d.indexQuery(name, 2, lower, upper, flags)
}

// IndexEqual is DB.IndexEqual at the snapshot.
func (s *Snapshot) IndexEqual(name string, ikey []byte) (*IndexIterator, error) {
	return s.indexQuery(name, 0, ikey, nil, 0)
}

// IndexPrefix is DB.IndexPrefix at the snapshot.
func (s *Snapshot) IndexPrefix(name string, prefix []byte) (*IndexIterator, error) {
	return s.indexQuery(name, 1, prefix, nil, 0)
}

// IndexRange is DB.IndexRange at the snapshot.
func (s *Snapshot) IndexRange(name string, lower, upper []byte, flags RangeFlags) (*IndexIterator, error) {
	return s.indexQuery(name, 2, lower, upper, flags)
}

// IndexEqual is DB.IndexEqual inside the transaction: its own writes are
// seen, and the queried range counts for commit validation.
func (t *Txn) IndexEqual(name string, ikey []byte) (*IndexIterator, error) {
	return t.indexQuery(name, 0, ikey, nil, 0)
}

// IndexPrefix is DB.IndexPrefix inside the transaction.
func (t *Txn) IndexPrefix(name string, prefix []byte) (*IndexIterator, error) {
	return t.indexQuery(name, 1, prefix, nil, 0)
}

// IndexRange is DB.IndexRange inside the transaction.
func (t *Txn) IndexRange(name string, lower, upper []byte, flags RangeFlags) (*IndexIterator, error) {
	return t.indexQuery(name, 2, lower, upper, flags)
}

// IndexIterator walks the records an index query matched. It belongs to
// one goroutine at a time; release it with Close.
//
//	it, _ := db.IndexEqual("by_city", []byte("paris"))
//	defer it.Close()
//	for it.Next() {
//		fmt.Printf("%s\n", it.Key())
//	}
//	if err := it.Err(); err != nil { ... }
type IndexIterator struct {
	mu  sync.Mutex
	it  *C.kvdb_index_iter_t // nil once closed
	err error
}

// Next moves to the next record in ascending index order; false at the
// end or on an error (see Err).
func (i *IndexIterator) Next() bool { return i.step(false) }

// NextBack moves to the next record taken from the back (descending); the
// two ends meet without repeating or skipping a record.
func (i *IndexIterator) NextBack() bool { return i.step(true) }

func (i *IndexIterator) step(back bool) bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.it == nil {
		i.err = ErrClosed
		return false
	}
	err := call(func() C.kvdb_status_t {
		if back {
			return C.kvdb_index_iter_next_back(i.it)
		}
		return C.kvdb_index_iter_next(i.it)
	})
	if err != nil && !isStatus(err, StatusNotFound) {
		i.err = err
	}
	return err == nil
}

// Err is the error that stopped Next or NextBack, nil at a normal end.
func (i *IndexIterator) Err() error {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.err
}

func (i *IndexIterator) read(f func(it *C.kvdb_index_iter_t, p *unsafe.Pointer, n *C.size_t) C.kvdb_status_t) []byte {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.it == nil {
		return nil
	}
	var p unsafe.Pointer
	var n C.size_t
	if f(i.it, &p, &n) != C.KVDB_OK {
		return nil
	}
	return borrow(p, n)
}

// IndexKey returns a copy of the current record's index key in its
// ordered form (docs/FORMAT.md); nil if not positioned.
func (i *IndexIterator) IndexKey() []byte {
	return i.read(func(it *C.kvdb_index_iter_t, p *unsafe.Pointer, n *C.size_t) C.kvdb_status_t {
		return C.kvdb_index_iter_index_key(it, p, n)
	})
}

// Key returns a copy of the current record's key; nil if not positioned.
func (i *IndexIterator) Key() []byte {
	return i.read(func(it *C.kvdb_index_iter_t, p *unsafe.Pointer, n *C.size_t) C.kvdb_status_t {
		return C.kvdb_index_iter_key(it, p, n)
	})
}

// Value returns a copy of the current record's value; nil if not positioned.
func (i *IndexIterator) Value() []byte {
	return i.read(func(it *C.kvdb_index_iter_t, p *unsafe.Pointer, n *C.size_t) C.kvdb_status_t {
		return C.kvdb_index_iter_value(it, p, n)
	})
}

// Close releases the iterator.
func (i *IndexIterator) Close() error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.it != nil {
		C.kvdb_index_iter_free(i.it)
		i.it = nil
		runtime.SetFinalizer(i, nil)
	}
	return nil
}
