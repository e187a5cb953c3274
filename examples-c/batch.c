/* Atomic batches: readers see all of a batch or none of it. Moving money
 * between two accounts must never show a missing or doubled amount. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvdb.h"

static long long balance(kvdb_t *db, const char *account) {
    char buf[32];
    size_t len = 0;
    if (kvdb_get_into(db, account, strlen(account), buf, sizeof buf - 1, &len) != KVDB_OK) return 0;
    buf[len] = '\0';
    return atoll(buf);
}

int main(void) {
    kvdb_t *db = NULL;
    if (kvdb_open(NULL, NULL, &db) != KVDB_OK) return 1;
    kvdb_put(db, "acct:alice", 10, "100", 3);
    kvdb_put(db, "acct:bob", 8, "50", 2);

    /* A batch is built without a database and applied with kvdb_write. */
    kvdb_batch_t *b = kvdb_batch_new();
    kvdb_batch_put(b, "acct:alice", 10, "70", 2);
    kvdb_batch_put(b, "acct:bob", 8, "80", 2);
    kvdb_batch_put_ttl(b, "audit:last", 10, "alice->bob 30", 13, 3600000);
    printf("batch holds %zu operations\n", kvdb_batch_count(b));
    kvdb_status_t s = kvdb_write(db, b);
    printf("write: %s\n", kvdb_strerror(s));

    /* The batch is still yours: clear it and reuse it. */
    kvdb_batch_clear(b);
    kvdb_batch_delete(b, "audit:last", 10);
    kvdb_write(db, b);
    kvdb_batch_free(b);

    printf("alice %lld, bob %lld, total %lld\n", balance(db, "acct:alice"),
           balance(db, "acct:bob"), balance(db, "acct:alice") + balance(db, "acct:bob"));
    kvdb_close(db);
    return 0;
}
