package kvdb

/*
#include <stdlib.h>
#include "kvdb.h"
*/
import "C"

import "unsafe"

// GetMany returns the values of keys, in order, all read at one moment in
// one call into the library (kvdb_multi_get): much cheaper than a Get per
// key, whose every call crosses into C. A key absent or expired has a nil
// entry; an empty value is a non-nil empty slice.
func (d *DB) GetMany(keys [][]byte) ([][]byte, error) {
	return multiGet(keys, func(l *C.kvdb_lookup_t, n C.size_t, buf unsafe.Pointer, capacity C.size_t) error {
		return d.with(func(db *C.kvdb_t) C.kvdb_status_t {
			return C.kvdb_multi_get(db, l, n, buf, capacity)
		})
	})
}

// GetMany returns the values of keys at the snapshot's moment, as
// DB.GetMany does.
func (s *Snapshot) GetMany(keys [][]byte) ([][]byte, error) {
	return multiGet(keys, func(l *C.kvdb_lookup_t, n C.size_t, buf unsafe.Pointer, capacity C.size_t) error {
		return s.with(func(snap *C.kvdb_snapshot_t) C.kvdb_status_t {
			return C.kvdb_snapshot_multi_get(snap, l, n, buf, capacity)
		})
	})
}

// GetMany returns the values of keys as the transaction sees them (its own
// writes over its view), as DB.GetMany does; every key its own write did
// not answer counts for commit validation, as through Get.
func (t *Txn) GetMany(keys [][]byte) ([][]byte, error) {
	return multiGet(keys, func(l *C.kvdb_lookup_t, n C.size_t, buf unsafe.Pointer, capacity C.size_t) error {
		return t.with(func(c *C.kvdb_txn_t) C.kvdb_status_t {
			return C.kvdb_txn_multi_get(c, l, n, buf, capacity)
		})
	})
}

// multiGet runs a kvdb_multi_get-like call over keys. The lookups hold
// pointers to the keys, which Go memory handed to C may not, so lookups
// and keys are copied into one C block; values land in a C buffer and are
// copied out. If a value did not fit, the whole call is made again with
// room for every value, so that all of them come from one moment.
func multiGet(keys [][]byte, run func(*C.kvdb_lookup_t, C.size_t, unsafe.Pointer, C.size_t) error) ([][]byte, error) {
	n := len(keys)
	lookupSize := int(unsafe.Sizeof(C.kvdb_lookup_t{}))
	keyBytes := 0
	for _, k := range keys {
		keyBytes += len(k)
	}
	block := C.malloc(C.size_t(n*lookupSize + keyBytes + 1))
	if block == nil {
		return nil, newError(StatusInternal, "out of memory for the lookups")
	}
	defer C.free(block)
	lookups := unsafe.Slice((*C.kvdb_lookup_t)(block), n)
	at := unsafe.Add(block, n*lookupSize)
	for i, k := range keys {
		copy(unsafe.Slice((*byte)(at), len(k)), k)
		lookups[i] = C.kvdb_lookup_t{key: at, klen: C.size_t(len(k))}
		at = unsafe.Add(at, len(k))
	}
	var first *C.kvdb_lookup_t
	if n > 0 {
		first = &lookups[0]
	}
	capacity := 4096 + 128*n
	for {
		buf := C.malloc(C.size_t(capacity))
		if buf == nil {
			return nil, newError(StatusInternal, "out of memory for the values")
		}
		values, need, err := readLookups(lookups, run(first, C.size_t(n), buf, C.size_t(capacity)))
		C.free(buf)
		if err != nil || values != nil {
			return values, err
		}
		capacity = need + 4096
	}
}

// readLookups copies the values the call found out of C memory; with no
// values and no error, one did not fit and need is the room all of them
// take.
func readLookups(lookups []C.kvdb_lookup_t, err error) (values [][]byte, need int, _ error) {
	if err != nil {
		return nil, 0, err
	}
	for i := range lookups {
		if lookups[i].status == C.KVDB_BUFFER_TOO_SMALL {
			for j := range lookups {
				need += int(lookups[j].vlen)
			}
			return nil, need, nil
		}
	}
	values = make([][]byte, len(lookups))
	for i, l := range lookups {
		switch l.status {
		case C.KVDB_OK:
			values[i] = C.GoBytes(l.val, C.int(l.vlen))
		case C.KVDB_NOT_FOUND:
		default:
			return nil, 0, newError(Status(l.status), "kvdb_multi_get: unexpected lookup status")
		}
	}
	return values, 0, nil
}
