/* Snapshots: a read view that keeps seeing one moment while writers go on. */
#include <stdio.h>

#include "kvdb.h"

int main(void) {
    kvdb_t *db = NULL;
    if (kvdb_open(NULL, NULL, &db) != KVDB_OK) return 1;
    kvdb_put(db, "config", 6, "v1", 2);

    kvdb_snapshot_t *snap = NULL;
    kvdb_snapshot_new(db, &snap);

    kvdb_put(db, "config", 6, "v2", 2);
    kvdb_put(db, "added", 5, "later", 5);

    void *val = NULL;
    size_t len = 0;
    kvdb_snapshot_get(snap, "config", 6, &val, &len);
    printf("snapshot sees config = %.*s\n", (int)len, (const char *)val);
    kvdb_free(val);
    kvdb_get(db, "config", 6, &val, &len);
    printf("database has config = %.*s\n", (int)len, (const char *)val);
    kvdb_free(val);
    printf("snapshot sees added: %s\n", kvdb_strerror(kvdb_snapshot_get(snap, "added", 5, &val, &len)));

    /* Iterate the snapshot: a consistent picture of every key at once. */
    kvdb_iter_t *it = NULL;
    kvdb_iter_new(db, snap, &it);
    size_t n = 0;
    for (kvdb_iter_seek_to_first(it); kvdb_iter_valid(it); kvdb_iter_next(it)) n++;
    printf("the snapshot holds %zu key(s)\n", n);
    kvdb_iter_free(it);

    /* Free snapshots when done: old versions are kept while one is open. */
    kvdb_snapshot_free(snap);
    kvdb_close(db);
    return 0;
}
