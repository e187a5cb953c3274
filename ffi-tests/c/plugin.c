/* A plugin: a shared object that links libkvdb and is itself loaded with
 * dlopen by a host that knows nothing of kvdb. */
#include <string.h>

#include "kvdb.h"

#define KEY(s) (s), strlen(s)

/* Opens the database in `dir`, increments a counter, reads it back; returns
 * the counter's value, or -1 on any failure. */
long long plugin_run(const char *dir);

long long plugin_run(const char *dir) {
    kvdb_t *db = NULL;
    if (kvdb_open(dir, NULL, &db) != KVDB_OK) return -1;
    int64_t n = 0;
    if (kvdb_increment(db, KEY("runs"), 1, &n) != KVDB_OK) n = -1;
    kvdb_snapshot_t *s = NULL;
    if (kvdb_snapshot_new(db, &s) != KVDB_OK) n = -1;
    kvdb_snapshot_free(s);
    if (kvdb_close(db) != KVDB_OK) return -1;
    return n;
}
