package kvdb

/*
#include <stdint.h>
#include "kvdb.h"

extern void kvdbgoIndexExtract(uintptr_t handle, void *key, size_t klen, void *val, size_t vlen, kvdb_index_keys_t *out);
extern void kvdbgoIndexFree(uintptr_t handle);

static void kvdbgo_extract(void *ctx, const void *key, size_t klen, const void *val, size_t vlen, kvdb_index_keys_t *out) {
	kvdbgoIndexExtract((uintptr_t)ctx, (void *)key, klen, (void *)val, vlen, out);
}

static void kvdbgo_free(void *ctx) { kvdbgoIndexFree((uintptr_t)ctx); }

kvdb_status_t kvdbgo_index_def_callback(const char *name, uintptr_t handle, kvdb_index_def_t **out) {
	return kvdb_index_def_new_callback(name, kvdbgo_extract, (void *)handle, kvdbgo_free, out);
}

extern kvdb_status_t kvdbgoTxnBody(kvdb_txn_t *txn, uintptr_t handle);

static kvdb_status_t kvdbgo_txn_body(kvdb_txn_t *txn, void *ctx) {
	return kvdbgoTxnBody(txn, (uintptr_t)ctx);
}

kvdb_status_t kvdbgo_txn_run(kvdb_t *db, uintptr_t handle) {
	return kvdb_txn_run(db, kvdbgo_txn_body, (void *)handle);
}
*/
import "C"
