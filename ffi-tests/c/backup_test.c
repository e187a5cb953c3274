/* kvdb_backup and kvdb_open_in_memory_from: a backup of an in-memory
 * database opens as a durable one with the same data and TTLs, writes after
 * the backup are not in it, loading it into memory leaves it untouched, and
 * bad arguments, non-empty targets, missing and locked directories are
 * refused with the documented statuses.
 * Usage: backup_test DIR (DIR must not exist). */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"

static int value_is(kvdb_t *db, const char *key, size_t klen, const char *want, size_t wlen) {
    void *val = NULL;
    size_t len = 0;
    if (kvdb_get(db, key, klen, &val, &len) != KVDB_OK) return 0;
    int same = len == wlen && memcmp(val, want, len) == 0;
    kvdb_free(val);
    return same;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    char backup[4096], second[4096], missing[4096];
    snprintf(backup, sizeof backup, "%s/backup", argv[1]);
    snprintf(second, sizeof second, "%s/second", argv[1]);
    snprintf(missing, sizeof missing, "%s/missing", argv[1]);
    CHECK(mkdir(argv[1], 0700) == 0);

    kvdb_t *db = NULL;
    CHECK_STATUS(kvdb_open(NULL, NULL, &db), KVDB_OK);
    const char bin[] = {'k', 0, (char)0xff};
    CHECK_STATUS(kvdb_put(db, bin, sizeof bin, "\0v\0", 3), KVDB_OK);
    CHECK_STATUS(kvdb_put(db, "plain", 5, "1", 1), KVDB_OK);
    CHECK_STATUS(kvdb_put_ttl(db, "lease", 5, "x", 1, 3600 * 1000), KVDB_OK);

    CHECK_STATUS(kvdb_backup(db, backup), KVDB_OK);
    CHECK_STATUS(kvdb_put(db, "after", 5, "not copied", 10), KVDB_OK);
    /* The target must be new or empty; NULLs and "" are refused. */
    CHECK_STATUS(kvdb_backup(db, backup), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_backup(db, NULL), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_backup(db, ""), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_backup(NULL, second), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_close(db), KVDB_OK);

    /* Loaded into memory: same data, then writes that touch no file. */
    kvdb_t *mem = NULL;
    CHECK_STATUS(kvdb_open_in_memory_from(backup, NULL, &mem), KVDB_OK);
    CHECK(value_is(mem, bin, sizeof bin, "\0v\0", 3));
    CHECK(value_is(mem, "plain", 5, "1", 1));
    CHECK_STATUS(kvdb_get(mem, "after", 5, &(void *){NULL}, &(size_t){0}), KVDB_NOT_FOUND);
    int64_t left = 0;
    CHECK_STATUS(kvdb_ttl(mem, "lease", 5, &left), KVDB_OK);
    CHECK(left > 3500 * 1000 && left <= 3600 * 1000);
    CHECK_STATUS(kvdb_put(mem, "memory only", 11, "x", 1), KVDB_OK);
    CHECK_STATUS(kvdb_checkpoint(mem), KVDB_OK); /* a no-op in memory */
    /* A backup of the loaded copy works too. */
    CHECK_STATUS(kvdb_backup(mem, second), KVDB_OK);
    CHECK_STATUS(kvdb_close(mem), KVDB_OK);

    /* The backup opens as a durable database, without the memory-only key. */
    CHECK_STATUS(kvdb_open(backup, NULL, &db), KVDB_OK);
    CHECK(value_is(db, "plain", 5, "1", 1));
    CHECK_STATUS(kvdb_exists(db, "memory only", 11), KVDB_NOT_FOUND);
    /* Open there: loading it into memory is refused. */
    CHECK_STATUS(kvdb_open_in_memory_from(backup, NULL, &mem), KVDB_LOCKED);
    CHECK_STATUS(kvdb_close(db), KVDB_OK);

    CHECK_STATUS(kvdb_open(second, NULL, &db), KVDB_OK);
    CHECK(value_is(db, "memory only", 11, "x", 1));
    CHECK_STATUS(kvdb_close(db), KVDB_OK);

    /* Bad arguments. */
    kvdb_options_t *opts = kvdb_options_new();
    CHECK_STATUS(kvdb_open_in_memory_from(missing, opts, &mem), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_open_in_memory_from(NULL, opts, &mem), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_open_in_memory_from(backup, opts, NULL), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_open_in_memory_from(backup, opts, &mem), KVDB_OK);
    CHECK_STATUS(kvdb_close(mem), KVDB_OK);
    kvdb_options_free(opts);
    struct stat st;
    CHECK(stat(missing, &st) != 0); /* a missing directory is not created */

    FINISH();
}
