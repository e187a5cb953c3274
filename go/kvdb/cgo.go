package kvdb

/*
#cgo pkg-config: kvdb
#include <stdlib.h>
#include "kvdb.h"
*/
import "C"

import (
	"runtime"
	"time"
	"unsafe"
)

// call runs a C call that returns a status and turns a failure into an
// *Error with the library's detail. kvdb_last_error belongs to the OS
// thread, so the goroutine stays on its thread from the call until the
// detail is read.
func call(f func() C.kvdb_status_t) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if s := f(); s != C.KVDB_OK {
		return newError(Status(s), lastError())
	}
	return nil
}

// lastError is the calling thread's detail of its last failure.
func lastError() string {
	n := C.kvdb_last_error(nil, 0)
	if n == 0 {
		return ""
	}
	buf := make([]byte, int(n)+1)
	C.kvdb_last_error((*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)))
	return string(buf[:n])
}

// ptr gives C a pointer to b's bytes, or NULL for an empty slice (the C
// API takes NULL with length 0).
func ptr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(&b[0])
}

func size(b []byte) C.size_t { return C.size_t(len(b)) }

// take copies a library-allocated buffer into Go memory and frees it.
func take(p unsafe.Pointer, n C.size_t) []byte {
	defer C.kvdb_free(p)
	return C.GoBytes(p, C.int(n))
}

// borrow copies n bytes at p into Go memory (nil-safe).
func borrow(p unsafe.Pointer, n C.size_t) []byte {
	if n == 0 {
		return []byte{}
	}
	return C.GoBytes(p, C.int(n))
}

// ttlMillis rounds d up to whole milliseconds: a positive TTL never
// becomes 0. Zero and negative durations give 0, which the library
// rejects as an invalid argument.
func ttlMillis(d time.Duration) C.uint64_t {
	if d <= 0 {
		return 0
	}
	return C.uint64_t((d + time.Millisecond - 1) / time.Millisecond)
}

// Version is the library's version, e.g. "0.1.0".
func Version() string { return C.GoString(C.kvdb_version()) }

// Allocator names the allocator the library uses for its own memory in
// this process: "mimalloc", or "system" when KVDB_ALLOCATOR=system was set
// before the library's first allocation.
func Allocator() string { return C.GoString(C.kvdb_allocator()) }
