/* The library's own allocator: mimalloc by default, the C library's malloc
 * when KVDB_ALLOCATOR=system is set before its first allocation; the
 * choice holds for the whole process, and a database works on either.
 * Usage: allocator_test EXPECTED DIR */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "check.h"

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    const char *expected = argv[1];
    CHECK(strcmp(kvdb_allocator(), expected) == 0);

    kvdb_t *db;
    CHECK_OK(kvdb_open(argv[2], NULL, &db));
    for (int i = 0; i < 1000; i++) {
        char key[32], value[200];
        snprintf(key, sizeof key, "key-%05d", i);
        memset(value, 'a' + i % 26, sizeof value);
        CHECK_OK(kvdb_put(db, key, strlen(key), value, (size_t)(i % 200)));
    }
    /* Changing the variable now changes nothing: blocks already made must
     * be freed by the allocator that made them. */
    setenv("KVDB_ALLOCATOR", strcmp(expected, "system") == 0 ? "mimalloc" : "system", 1);
    CHECK(strcmp(kvdb_allocator(), expected) == 0);
    for (int i = 0; i < 1000; i += 2) {
        char key[32];
        snprintf(key, sizeof key, "key-%05d", i);
        CHECK_OK(kvdb_delete(db, key, strlen(key)));
    }
    void *value = NULL;
    size_t len = 0;
    CHECK_OK(kvdb_get(db, "key-00999", 9, &value, &len));
    CHECK(value != NULL && len == 999 % 200);
    /* Values handed to C are malloc'ed whichever allocator the library
     * uses: free() releases them. */
    free(value);
    CHECK_OK(kvdb_close(db));
    CHECK(strcmp(kvdb_allocator(), expected) == 0);
    FINISH();
}
