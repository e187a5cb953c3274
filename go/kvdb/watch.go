package kvdb

/*
#include "kvdb.h"
*/
import "C"

import (
	"math"
	"runtime"
	"sync"
	"time"
)

// Where a watcher starts (DB.Watch's fromSeq); any other value is a
// sequence number, such as a snapshot's Seq() + 1.
const (
	// WatchFromOldest starts at the oldest change still retained.
	WatchFromOldest uint64 = 0
	// WatchFromNow starts with the changes committed after the call.
	WatchFromNow uint64 = math.MaxUint64
)

// EventKind is what a change did to its key.
type EventKind int

// Event kinds (KVDB_EVENT_*).
const (
	// EventPut: the key was given Event.Value.
	EventPut EventKind = C.KVDB_EVENT_PUT
	// EventDelete: the key was deleted by a write.
	EventDelete EventKind = C.KVDB_EVENT_DELETE
	// EventExpired: the key's TTL passed and the expiry cycle deleted it.
	EventExpired EventKind = C.KVDB_EVENT_EXPIRED
	// EventEvicted: the key was evicted to keep within the memory limit
	// (Options.MemoryLimit).
	EventEvicted EventKind = C.KVDB_EVENT_EVICTED
)

// Event is one change to one key.
type Event struct {
	// Seq is the change's sequence number.
	Seq uint64
	// Kind is what happened.
	Kind EventKind
	// Key and Value (puts only) are copies owned by the caller.
	Key, Value []byte
	// ExpiresAt is when the new value expires; the zero Time for none.
	ExpiresAt time.Time
	// LastInBatch is set on the last event this watcher gets from a batch
	// or transaction.
	LastInBatch bool
}

// Watcher is a stream of the changes to a key range, in commit order. Use
// it from one goroutine at a time (calls are serialised); Close releases
// it. It stays usable to Close after its DB is closed.
type Watcher struct {
	mu sync.Mutex
	w  *C.kvdb_watch_t // nil once closed
}

// Watch streams the changes to keys that start with prefix (nil: every
// key) from sequence number fromSeq (WatchFromOldest, WatchFromNow, or a
// snapshot's Seq()+1 to continue exactly where it stops). A fromSeq no
// longer retained makes the first Next return ErrLagged.
func (d *DB) Watch(prefix []byte, fromSeq uint64) (*Watcher, error) {
	var w *C.kvdb_watch_t
	err := d.with(func(db *C.kvdb_t) C.kvdb_status_t {
		return C.kvdb_watch_new(db, ptr(prefix), size(prefix), C.uint64_t(fromSeq), &w)
	})
	return newWatcher(w, err)
}

// WatchRange is Watch for the keys from start (inclusive) up to end
// (exclusive); an empty end means no upper bound.
func (d *DB) WatchRange(start, end []byte, fromSeq uint64) (*Watcher, error) {
	var w *C.kvdb_watch_t
	err := d.with(func(db *C.kvdb_t) C.kvdb_status_t {
		return C.kvdb_watch_new_range(db, ptr(start), size(start), ptr(end), size(end), C.uint64_t(fromSeq), &w)
	})
	return newWatcher(w, err)
}

func newWatcher(w *C.kvdb_watch_t, err error) (*Watcher, error) {
	if err != nil {
		return nil, err
	}
	watcher := &Watcher{w: w}
	runtime.SetFinalizer(watcher, (*Watcher).Close)
	return watcher, nil
}

// Next returns the next event, waiting up to timeout (rounded up to whole
// milliseconds; 0 does not wait). It returns ErrTimedOut when none came,
// ErrLagged once the changes it needs are no longer retained (read a
// snapshot, then watch from its Seq()+1), and ErrInvalidArgument once the
// database is closed (a blocked Next returns then).
func (w *Watcher) Next(timeout time.Duration) (Event, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.w == nil {
		return Event{}, ErrClosed
	}
	ms := ttlMillis(timeout)
	if ms > math.MaxUint32 {
		ms = math.MaxUint32
	}
	var e C.kvdb_event_t
	if err := call(func() C.kvdb_status_t { return C.kvdb_watch_next(w.w, C.uint32_t(ms), &e) }); err != nil {
		return Event{}, err
	}
	event := Event{
		Seq:         uint64(e.seq),
		Kind:        EventKind(e.kind),
		Key:         borrow(e.key, e.klen),
		LastInBatch: bool(e.last_in_batch),
	}
	if event.Kind == EventPut {
		event.Value = borrow(e.val, e.vlen)
	}
	if e.expires_at_ms != 0 {
		event.ExpiresAt = time.UnixMilli(int64(e.expires_at_ms))
	}
	return event, nil
}

// Position is the sequence number of the next change the watcher will
// deliver: watching from it again resumes without gap or duplicate.
func (w *Watcher) Position() (uint64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.w == nil {
		return 0, ErrClosed
	}
	var seq C.uint64_t
	err := call(func() C.kvdb_status_t { return C.kvdb_watch_position(w.w, &seq) })
	return uint64(seq), err
}

// Fd is a descriptor that polls readable when events may be waiting (call
// Next with timeout 0 until ErrTimedOut, then poll again). The watcher
// owns it: do not close it.
func (w *Watcher) Fd() (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.w == nil {
		return -1, ErrClosed
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	fd := int(C.kvdb_watch_fd(w.w))
	if fd < 0 {
		return -1, newError(StatusIOError, lastError())
	}
	return fd, nil
}

// Close releases the watcher (waiting for a Next in progress); later calls
// return ErrClosed.
func (w *Watcher) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.w != nil {
		C.kvdb_watch_free(w.w)
		w.w = nil
		runtime.SetFinalizer(w, nil)
	}
	return nil
}
