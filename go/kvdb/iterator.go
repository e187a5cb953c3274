package kvdb

/*
#include <stdlib.h>
#include "kvdb.h"
*/
import "C"

import (
	"runtime"
	"sync"
	"unsafe"
)

// Iterator walks keys in order. It starts unpositioned: call SeekToFirst,
// SeekToLast, Seek or SeekForPrev first. It belongs to one goroutine at a
// time; release it with Close.
//
//	it, _ := db.NewIterator([]byte("user:"))
//	defer it.Close()
//	for it.SeekToFirst(); it.Valid(); it.Next() {
//		fmt.Printf("%s = %s\n", it.Key(), it.Value())
//	}
type Iterator struct {
	mu    sync.Mutex
	it    *C.kvdb_iter_t // nil once closed
	pairs *C.kvdb_pair_t // C memory for NextBatch, allocated on first use
	cap   int            // descriptors in pairs
}

func newIterator(it *C.kvdb_iter_t, err error) (*Iterator, error) {
	if err != nil {
		return nil, err
	}
	i := &Iterator{it: it}
	runtime.SetFinalizer(i, (*Iterator).Close)
	return i, nil
}

// NewIterator returns an iterator over the keys that start with prefix
// (every key if prefix is empty), as the database is now.
func (d *DB) NewIterator(prefix []byte) (*Iterator, error) {
	var it *C.kvdb_iter_t
	err := d.with(func(db *C.kvdb_t) C.kvdb_status_t {
		return C.kvdb_iter_new_prefix(db, nil, ptr(prefix), size(prefix), &it)
	})
	return newIterator(it, err)
}

// Close releases the iterator; afterwards Valid is false.
func (i *Iterator) Close() error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.it != nil {
		C.kvdb_iter_free(i.it)
		i.it = nil
		C.free(unsafe.Pointer(i.pairs))
		i.pairs = nil
		runtime.SetFinalizer(i, nil)
	}
	return nil
}

// move runs f on the live iterator; nothing once closed.
func (i *Iterator) move(f func(it *C.kvdb_iter_t)) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.it != nil {
		f(i.it)
	}
}

// SeekToFirst moves to the first key.
func (i *Iterator) SeekToFirst() { i.move(func(it *C.kvdb_iter_t) { C.kvdb_iter_seek_to_first(it) }) }

// SeekToLast moves to the last key.
func (i *Iterator) SeekToLast() { i.move(func(it *C.kvdb_iter_t) { C.kvdb_iter_seek_to_last(it) }) }

// Seek moves to the first key >= key.
func (i *Iterator) Seek(key []byte) {
	i.move(func(it *C.kvdb_iter_t) { C.kvdb_iter_seek(it, ptr(key), size(key)) })
}

// SeekForPrev moves to the last key <= key.
func (i *Iterator) SeekForPrev(key []byte) {
	i.move(func(it *C.kvdb_iter_t) { C.kvdb_iter_seek_for_prev(it, ptr(key), size(key)) })
}

// Next moves to the next key.
func (i *Iterator) Next() { i.move(func(it *C.kvdb_iter_t) { C.kvdb_iter_next(it) }) }

// Prev moves to the previous key.
func (i *Iterator) Prev() { i.move(func(it *C.kvdb_iter_t) { C.kvdb_iter_prev(it) }) }

// Valid reports whether the iterator stands on a key (false once closed).
func (i *Iterator) Valid() bool {
	valid := false
	i.move(func(it *C.kvdb_iter_t) { valid = bool(C.kvdb_iter_valid(it)) })
	return valid
}

// Key returns a copy of the current key (nil if not positioned).
func (i *Iterator) Key() []byte {
	var out []byte
	i.move(func(it *C.kvdb_iter_t) {
		var p unsafe.Pointer
		var n C.size_t
		if C.kvdb_iter_key(it, &p, &n) == C.KVDB_OK {
			out = borrow(p, n)
		}
	})
	return out
}

// Value returns a copy of the current value (nil if not positioned).
func (i *Iterator) Value() []byte {
	var out []byte
	i.move(func(it *C.kvdb_iter_t) {
		var p unsafe.Pointer
		var n C.size_t
		if C.kvdb_iter_value(it, &p, &n) == C.KVDB_OK {
			out = borrow(p, n)
		}
	})
	return out
}

// KV is a key and its value, as read by NextBatch.
type KV struct {
	Key, Value []byte
}

// NextBatch reads the pair the iterator stands on and those after it, up
// to max pairs, in one call: keys and values are copied into buf and the
// returned KVs point into it (valid until buf is reused). The iterator is
// left on the first pair not read. An empty result means the scan is
// over. If the current pair alone does not fit in buf, nothing is read and
// the error is ErrBufferTooSmall.
func (i *Iterator) NextBatch(buf []byte, max int) ([]KV, error) {
	var out []KV
	err := i.batch(max, func(it *C.kvdb_iter_t, pairs *C.kvdb_pair_t, n *C.size_t) C.kvdb_status_t {
		return C.kvdb_iter_next_batch(it, pairs, C.size_t(max), ptr(buf), size(buf), n)
	}, func(pairs []C.kvdb_pair_t) {
		out = make([]KV, len(pairs))
		base := uintptr(ptr(buf))
		// The library wrote each pair into buf; a zero-length one may be NULL.
		within := func(p unsafe.Pointer, n C.size_t) []byte {
			if n == 0 {
				return buf[:0:0]
			}
			off := int(uintptr(p) - base)
			return buf[off : off+int(n) : off+int(n)]
		}
		for j, p := range pairs {
			out[j] = KV{Key: within(p.key, p.klen), Value: within(p.val, p.vlen)}
		}
	})
	return out, err
}

// NextBatchFunc reads the pair the iterator stands on and those after it,
// up to max pairs, in one call without copying them
// (kvdb_iter_next_batch_borrowed), then calls f with each in key order.
// The key and value point into the database and are valid only until f
// returns: copy what you keep, and do not modify them. f must not use the
// iterator. The iterator is left on the first pair not read; the result is
// the number of pairs read, 0 when the scan is over.
func (i *Iterator) NextBatchFunc(max int, f func(key, value []byte)) (int, error) {
	read := 0
	err := i.batch(max, func(it *C.kvdb_iter_t, pairs *C.kvdb_pair_t, n *C.size_t) C.kvdb_status_t {
		return C.kvdb_iter_next_batch_borrowed(it, pairs, C.size_t(max), n)
	}, func(pairs []C.kvdb_pair_t) {
		for _, p := range pairs {
			f(view(p.key, p.klen), view(p.val, p.vlen))
		}
		read = len(pairs)
	})
	return read, err
}

// batch reads up to max pairs with read into the iterator's descriptors
// and hands those read to use, all under the iterator's lock (borrowed
// pairs stay valid until the iterator moves).
func (i *Iterator) batch(max int, read func(it *C.kvdb_iter_t, pairs *C.kvdb_pair_t, n *C.size_t) C.kvdb_status_t, use func(pairs []C.kvdb_pair_t)) error {
	if max <= 0 {
		return newError(StatusInvalidArgument, "max must be positive")
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.it == nil {
		return ErrClosed
	}
	i.reserve(max)
	var n C.size_t
	if err := call(func() C.kvdb_status_t { return read(i.it, i.pairs, &n) }); err != nil {
		return err
	}
	use(unsafe.Slice(i.pairs, int(n)))
	return nil
}

// reserve makes room for max pair descriptors in C memory.
func (i *Iterator) reserve(max int) {
	if i.cap < max {
		C.free(unsafe.Pointer(i.pairs))
		i.pairs = (*C.kvdb_pair_t)(C.calloc(C.size_t(max), C.size_t(unsafe.Sizeof(C.kvdb_pair_t{}))))
		i.cap = max
	}
}
