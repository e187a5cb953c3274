/* A database in a directory: write, close, reopen and find the data.
 * Usage: ./persistent [DIR]   (default ./kvdb-example-data) */
#include <stdio.h>
#include <string.h>

#include "kvdb.h"

static int fail(const char *what, kvdb_status_t status) {
    char detail[256];
    kvdb_last_error(detail, sizeof detail);
    fprintf(stderr, "%s failed: %s (%s)\n", what, kvdb_strerror(status), detail);
    return 1;
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "kvdb-example-data";

    /* KVDB_SYNC_ALWAYS (the default) acknowledges a write only once it is on
     * stable storage; concurrent writers share the sync. */
    kvdb_options_t *opts = kvdb_options_new();
    kvdb_options_set_sync(opts, KVDB_SYNC_ALWAYS, 0);

    kvdb_t *db = NULL;
    kvdb_status_t s = kvdb_open(dir, opts, &db);
    if (s == KVDB_LOCKED) {
        fprintf(stderr, "%s is open in another process\n", dir);
        return 1;
    }
    if (s != KVDB_OK) return fail("kvdb_open", s);

    /* Count how many times this program has run against DIR. */
    int64_t runs = 0;
    s = kvdb_increment(db, "runs", 4, 1, &runs);
    if (s != KVDB_OK) return fail("kvdb_increment", s);
    printf("this program has run %lld time(s) against %s\n", (long long)runs, dir);

    /* A checkpoint writes a snapshot file and drops the log it covers. It
     * also runs in the background as the log grows. */
    s = kvdb_checkpoint(db);
    if (s != KVDB_OK) return fail("kvdb_checkpoint", s);

    s = kvdb_close(db); /* syncs, joins background threads, unlocks */
    kvdb_options_free(opts);
    if (s != KVDB_OK) return fail("kvdb_close", s);
    return 0;
}
