/* A database directory: data survives close and reopen, a second open is
 * KVDB_LOCKED, checkpoints work, a file where a directory should be is an
 * I/O error. Usage: persist_test DIR (DIR need not exist). */
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define KEY(s) (s), strlen(s)

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    kvdb_options_t *o = kvdb_options_new();
    CHECK_OK(kvdb_options_set_sync(o, KVDB_SYNC_ALWAYS, 0));
    kvdb_t *db = NULL;
    CHECK_OK(kvdb_open(dir, o, &db));

    kvdb_t *second = NULL;
    CHECK_STATUS(kvdb_open(dir, o, &second), KVDB_LOCKED);
    CHECK(second == NULL);
    char detail[512];
    kvdb_last_error(detail, sizeof detail);
    CHECK(strstr(detail, "locked") != NULL);

    CHECK_OK(kvdb_put(db, KEY("name"), KEY("kvdb")));
    kvdb_batch_t *b = kvdb_batch_new();
    for (int i = 0; i < 100; i++) {
        char k[16];
        snprintf(k, sizeof k, "item:%03d", i);
        CHECK_OK(kvdb_batch_put(b, KEY(k), KEY(k)));
    }
    CHECK_OK(kvdb_write(db, b));
    kvdb_batch_free(b);
    CHECK_OK(kvdb_put_ttl(db, KEY("ttl"), KEY("x"), 3600000));
    kvdb_stats_t st;
    CHECK_OK(kvdb_stats(db, &st));
    CHECK(st.wal_bytes > 0);
    CHECK_OK(kvdb_close(db));

    /* Reopen: everything is there; the lock is free again. */
    CHECK_OK(kvdb_open(dir, o, &db));
    char buf[32];
    size_t vlen;
    CHECK_OK(kvdb_get_into(db, KEY("name"), buf, sizeof buf, &vlen));
    CHECK(vlen == 4 && memcmp(buf, "kvdb", 4) == 0);
    int64_t left;
    CHECK_OK(kvdb_ttl(db, KEY("ttl"), &left));
    CHECK(left > 3500000);
    kvdb_iter_t *it;
    CHECK_OK(kvdb_iter_new_prefix(db, NULL, KEY("item:"), &it));
    size_t n = 0;
    for (kvdb_iter_seek_to_first(it); kvdb_iter_valid(it); kvdb_iter_next(it)) n++;
    CHECK(n == 100);
    kvdb_iter_free(it);

    CHECK_OK(kvdb_checkpoint(db));
    CHECK_OK(kvdb_stats(db, &st));
    CHECK(st.checkpoints == 1);
    CHECK_OK(kvdb_delete(db, KEY("item:000")));
    CHECK_OK(kvdb_sync(db));
    CHECK_OK(kvdb_close(db));

    CHECK_OK(kvdb_open(dir, o, &db));
    CHECK_STATUS(kvdb_exists(db, KEY("item:000")), KVDB_NOT_FOUND);
    CHECK_OK(kvdb_exists(db, KEY("item:099")));
    CHECK_OK(kvdb_close(db));

    /* A regular file where the directory should be. */
    char file[4096];
    snprintf(file, sizeof file, "%s/LOCK", dir);
    CHECK_STATUS(kvdb_open(file, o, &db), KVDB_INVALID_ARGUMENT);
    kvdb_last_error(detail, sizeof detail);
    CHECK(strstr(detail, "not a directory") != NULL);
    kvdb_options_free(o);
    FINISH();
}
