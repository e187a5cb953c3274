package kvdb

/*
#include "kvdb.h"
*/
import "C"

import (
	"runtime"
	"sync"
	"time"
)

// Batch is a group of writes applied atomically by DB.Write; reusable.
type Batch struct {
	mu sync.Mutex
	b  *C.kvdb_batch_t // nil once closed
}

// NewBatch returns an empty batch; release it with Close.
func NewBatch() *Batch {
	b := &Batch{b: C.kvdb_batch_new()}
	runtime.SetFinalizer(b, (*Batch).Close)
	return b
}

func (b *Batch) with(f func(b *C.kvdb_batch_t) C.kvdb_status_t) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.b == nil {
		return ErrClosed
	}
	return call(func() C.kvdb_status_t { return f(b.b) })
}

// Put adds a put of value under key.
func (b *Batch) Put(key, value []byte) error {
	return b.with(func(c *C.kvdb_batch_t) C.kvdb_status_t {
		return C.kvdb_batch_put(c, ptr(key), size(key), ptr(value), size(value))
	})
}

// PutTTL adds a put with a TTL (rounded up to whole milliseconds).
func (b *Batch) PutTTL(key, value []byte, ttl time.Duration) error {
	return b.with(func(c *C.kvdb_batch_t) C.kvdb_status_t {
		return C.kvdb_batch_put_ttl(c, ptr(key), size(key), ptr(value), size(value), ttlMillis(ttl))
	})
}

// Delete adds a delete of key.
func (b *Batch) Delete(key []byte) error {
	return b.with(func(c *C.kvdb_batch_t) C.kvdb_status_t { return C.kvdb_batch_delete(c, ptr(key), size(key)) })
}

// Clear empties the batch for reuse.
func (b *Batch) Clear() error {
	return b.with(func(c *C.kvdb_batch_t) C.kvdb_status_t {
		C.kvdb_batch_clear(c)
		return C.KVDB_OK
	})
}

// Len is the number of operations in the batch (0 once closed).
func (b *Batch) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.b == nil {
		return 0
	}
	return int(C.kvdb_batch_count(b.b))
}

// Close releases the batch; later calls return ErrClosed.
func (b *Batch) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.b != nil {
		C.kvdb_batch_free(b.b)
		b.b = nil
		runtime.SetFinalizer(b, nil)
	}
	return nil
}
