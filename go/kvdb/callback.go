package kvdb

// The C side of callbacks: the library calls kvdbgoIndexExtract for each
// record and kvdbgoIndexFree when the last copy of the definition is gone
// (callback indexes), and kvdbgoTxnBody for each attempt of a
// DB.Transaction. This file holds only declarations in its preamble, as cgo
// requires of a file with //export; the trampolines live in
// callback_shim.go.

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

// txnRun is one DB.Transaction: its function, and what the last attempt's
// call of it returned or panicked with.
type txnRun struct {
	f        func(t *Txn) error
	err      error
	panicked bool
	panicVal interface{}
}

//export kvdbgoTxnBody
func kvdbgoTxnBody(c *C.kvdb_txn_t, handle C.uintptr_t) (status C.kvdb_status_t) {
	run := cgo.Handle(handle).Value().(*txnRun)
	txn := &Txn{t: c}
	run.err, run.panicked, run.panicVal = nil, false, nil
	defer func() {
		// The handle is the library's and valid during this call only.
		txn.mu.Lock()
		txn.t = nil
		txn.mu.Unlock()
		// A panic must not unwind through the library's frames: it rolls
		// the transaction back and is raised again once the run returns.
		if p := recover(); p != nil {
			run.panicked, run.panicVal = true, p
			status = C.KVDB_INTERNAL
		}
	}()
	if run.err = run.f(txn); run.err != nil {
		return C.KVDB_INTERNAL // rolls back; Transaction returns run.err
	}
	return C.KVDB_OK
}
