/* Handles derived from a database outlive kvdb_close: the snapshot and the
 * iterator keep reading their view, the batch stays usable, an open
 * transaction refuses to go on (KVDB_INVALID_ARGUMENT) and can be rolled
 * back or committed to free it, and every free is safe afterwards (valgrind
 * checks there is no invalid access or leak).
 * Usage: outlive_test DIR */
#include <string.h>

#include "check.h"

#define KEY(s) (s), strlen(s)

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    kvdb_t *db;
    CHECK_OK(kvdb_open(argv[1], NULL, &db));
    CHECK_OK(kvdb_put(db, KEY("a"), KEY("1")));
    CHECK_OK(kvdb_put(db, KEY("b"), KEY("2")));
    kvdb_snapshot_t *s;
    CHECK_OK(kvdb_snapshot_new(db, &s));
    kvdb_iter_t *it;
    CHECK_OK(kvdb_iter_new(db, NULL, &it));
    kvdb_iter_seek_to_first(it);
    kvdb_batch_t *b = kvdb_batch_new();
    CHECK_OK(kvdb_batch_put(b, KEY("c"), KEY("3")));
    kvdb_txn_t *t1, *t2;
    CHECK_OK(kvdb_txn_begin(db, &t1));
    CHECK_OK(kvdb_txn_begin(db, &t2));
    CHECK_OK(kvdb_txn_put(t1, KEY("t"), KEY("1")));
    CHECK_OK(kvdb_close(db));

    void *tv;
    size_t tvlen;
    CHECK_STATUS(kvdb_txn_get(t1, KEY("a"), &tv, &tvlen), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_txn_put(t1, KEY("u"), KEY("2")), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_txn_commit(t1), KVDB_INVALID_ARGUMENT); /* released anyway */
    kvdb_txn_rollback(t2);

    void *val;
    size_t vlen;
    CHECK_OK(kvdb_snapshot_get(s, KEY("b"), &val, &vlen));
    CHECK(vlen == 1 && memcmp(val, "2", 1) == 0);
    kvdb_free(val);
    size_t n = 0;
    for (; kvdb_iter_valid(it); kvdb_iter_next(it)) {
        const void *k;
        size_t klen;
        CHECK_OK(kvdb_iter_key(it, &k, &klen));
        n++;
    }
    CHECK(n == 2);
    kvdb_iter_seek_to_last(it);
    CHECK(kvdb_iter_valid(it));
    CHECK(kvdb_batch_count(b) == 1);
    kvdb_batch_clear(b);
    kvdb_iter_free(it);
    kvdb_snapshot_free(s);
    kvdb_batch_free(b);

    /* The directory lock was released by close. */
    CHECK_OK(kvdb_open(argv[1], NULL, &db));
    CHECK_OK(kvdb_exists(db, KEY("a")));
    CHECK_STATUS(kvdb_exists(db, KEY("c")), KVDB_NOT_FOUND);
    CHECK_STATUS(kvdb_exists(db, KEY("t")), KVDB_NOT_FOUND);
    CHECK_OK(kvdb_close(db));
    FINISH();
}
