package kvdb

/*
#include "kvdb.h"
*/
import "C"

import (
	"errors"
	"fmt"
)

// Status is a status code of the C library (the KVDB_* constants). The
// non-OK statuses double as sentinel errors: errors.Is(err, ErrNotFound).
type Status int

// The library's status codes.
const (
	StatusOK              = Status(C.KVDB_OK)
	StatusNotFound        = Status(C.KVDB_NOT_FOUND)
	StatusInvalidArgument = Status(C.KVDB_INVALID_ARGUMENT)
	StatusIOError         = Status(C.KVDB_IO_ERROR)
	StatusCorruption      = Status(C.KVDB_CORRUPTION)
	StatusConflict        = Status(C.KVDB_CONFLICT)
	StatusExists          = Status(C.KVDB_EXISTS)
	StatusTooLarge        = Status(C.KVDB_TOO_LARGE)
	StatusBufferTooSmall  = Status(C.KVDB_BUFFER_TOO_SMALL)
	StatusLocked          = Status(C.KVDB_LOCKED)
	StatusConstraint      = Status(C.KVDB_CONSTRAINT)
	StatusMemoryLimit     = Status(C.KVDB_MEMORY_LIMIT)
	StatusTimedOut        = Status(C.KVDB_TIMED_OUT)
	StatusLagged          = Status(C.KVDB_LAGGED)
	StatusInternal        = Status(C.KVDB_INTERNAL)
)

// Error describes the status, as kvdb_strerror does.
func (s Status) Error() string { return "kvdb: " + C.GoString(C.kvdb_strerror(C.int(s))) }

// Sentinel errors, for errors.Is.
var (
	// ErrNotFound: no such key (or index record, or savepoint).
	ErrNotFound error = StatusNotFound
	// ErrInvalidArgument: a bad argument (a zero TTL, an unknown index, ...).
	ErrInvalidArgument error = StatusInvalidArgument
	// ErrIO: the operating system refused a read, write or sync.
	ErrIO error = StatusIOError
	// ErrCorruption: a file failed its checksum or format check.
	ErrCorruption error = StatusCorruption
	// ErrConflict: a transaction conflict, or a compare-and-swap mismatch.
	ErrConflict error = StatusConflict
	// ErrExists: PutIfAbsent found the key present.
	ErrExists error = StatusExists
	// ErrTooLarge: a key or value over the limit.
	ErrTooLarge error = StatusTooLarge
	// ErrBufferTooSmall: a caller buffer too small for the value.
	ErrBufferTooSmall error = StatusBufferTooSmall
	// ErrLocked: the database directory is open elsewhere.
	ErrLocked error = StatusLocked
	// ErrConstraint: a unique index already holds that index key.
	ErrConstraint error = StatusConstraint
	// ErrMemoryLimit: a write would pass the memory limit and the eviction
	// policy cannot make room; nothing was applied.
	ErrMemoryLimit error = StatusMemoryLimit
	// ErrTimedOut: Watcher.Next saw no event within its timeout.
	ErrTimedOut error = StatusTimedOut
	// ErrLagged: a watcher needs changes that are no longer retained (the
	// message names the oldest still available).
	ErrLagged error = StatusLagged
	// ErrInternal: a bug in the library.
	ErrInternal error = StatusInternal
	// ErrClosed: the handle was closed (or the transaction has ended).
	ErrClosed = errors.New("kvdb: handle is closed")
)

// Error is a failed call: the library's status and its detail.
type Error struct {
	Status  Status
	Message string
}

func newError(s Status, message string) *Error { return &Error{Status: s, Message: message} }

// Error gives the status's description and the library's detail.
func (e *Error) Error() string {
	if e.Message == "" {
		return e.Status.Error()
	}
	return fmt.Sprintf("%s: %s", e.Status.Error(), e.Message)
}

// Unwrap gives the status, so errors.Is(err, ErrNotFound) holds for a
// failure with that status.
func (e *Error) Unwrap() error { return e.Status }
