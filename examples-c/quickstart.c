/* kvdb quick start: an in-memory database, put/get/delete, a TTL, a counter.
 *
 *   make run            (from the repository root)
 *   cc quickstart.c $(pkg-config --cflags --libs kvdb)   (after make install)
 */
#include <stdio.h>
#include <string.h>

#include "kvdb.h"

/* Prints the library's detail of the last failure and exits. */
static int fail(const char *what, kvdb_status_t status) {
    char detail[256];
    kvdb_last_error(detail, sizeof detail);
    fprintf(stderr, "%s failed: %s (%s)\n", what, kvdb_strerror(status), detail);
    return 1;
}

int main(void) {
    kvdb_t *db = NULL;
    /* NULL (or ":memory:") opens an in-memory database: no file is touched. */
    kvdb_status_t s = kvdb_open(NULL, NULL, &db);
    if (s != KVDB_OK) return fail("kvdb_open", s);
    printf("kvdb %s\n", kvdb_version());

    /* Keys and values are byte buffers: pointer + length. */
    s = kvdb_put(db, "user:1", 6, "ada lovelace", 12);
    if (s != KVDB_OK) return fail("kvdb_put", s);

    /* kvdb_get returns a copy that you release with kvdb_free. */
    void *val = NULL;
    size_t len = 0;
    s = kvdb_get(db, "user:1", 6, &val, &len);
    if (s != KVDB_OK) return fail("kvdb_get", s);
    printf("user:1 = %.*s\n", (int)len, (const char *)val);
    kvdb_free(val);

    /* Or copy into your own buffer; a short buffer reports the size needed. */
    char buf[4];
    s = kvdb_get_into(db, "user:1", 6, buf, sizeof buf, &len);
    printf("a %zu-byte buffer: %s, %zu bytes needed\n", sizeof buf, kvdb_strerror(s), len);

    /* Keys can expire. */
    kvdb_put_ttl(db, "session:42", 10, "token", 5, 60000);
    int64_t ms_left = 0;
    kvdb_ttl(db, "session:42", 10, &ms_left);
    printf("session:42 expires in %lld ms\n", (long long)ms_left);

    /* Atomic counters. */
    int64_t visits = 0;
    for (int i = 0; i < 3; i++) kvdb_increment(db, "visits", 6, 1, &visits);
    printf("visits = %lld\n", (long long)visits);

    /* Absent keys are KVDB_NOT_FOUND, not an error to panic about. */
    s = kvdb_delete(db, "user:1", 6);
    printf("delete user:1: %s\n", kvdb_strerror(s));
    s = kvdb_get(db, "user:1", 6, &val, &len);
    printf("get user:1 again: %s\n", kvdb_strerror(s));

    s = kvdb_close(db);
    if (s != KVDB_OK) return fail("kvdb_close", s);
    return 0;
}
