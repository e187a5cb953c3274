package kvdb

// The C side of callback indexes: the library calls kvdbgoIndexExtract for
// each record and kvdbgoIndexFree when the last copy of the definition is
// gone. This file holds only declarations in its preamble, as cgo requires
// of a file with //export; the trampolines live in callback_shim.go.

/*
#include <stdint.h>
#include "kvdb.h"
*/
import "C"

import (
	"runtime/cgo"
	"unsafe"
)

//export kvdbgoIndexExtract
func kvdbgoIndexExtract(handle C.uintptr_t, key unsafe.Pointer, klen C.size_t, val unsafe.Pointer, vlen C.size_t, out *C.kvdb_index_keys_t) {
	defer func() {
		// A panic must not unwind through the library's frames: the
		// record gets the keys added so far.
		_ = recover()
	}()
	fn := cgo.Handle(handle).Value().(IndexFunc)
	for _, ikey := range fn(view(key, klen), view(val, vlen)) {
		C.kvdb_index_keys_add(out, ptr(ikey), size(ikey))
	}
}

//export kvdbgoIndexFree
func kvdbgoIndexFree(handle C.uintptr_t) {
	cgo.Handle(handle).Delete()
}

// view is the C buffer as a Go slice, without a copy (valid during the
// callback only).
func view(p unsafe.Pointer, n C.size_t) []byte {
	if n == 0 {
		return []byte{}
	}
	return unsafe.Slice((*byte)(p), int(n))
}
