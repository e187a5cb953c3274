/* kvdb_multi_get, kvdb_snapshot_multi_get and kvdb_txn_multi_get: each
 * lookup gets its own value, status and length, values land back to back
 * in the caller's buffer, one that does not fit is reported without
 * stopping later ones, a snapshot's multi-get keeps its moment, a
 * transaction's reads its own writes over its view and counts what it
 * read for validation, more keys than one internal group are read right,
 * and bad arguments are refused before any lookup is filled in.
 * Usage: multi_get_test DIR (unused: the test runs in memory). */
#include <stdio.h>
#include <string.h>

#include "check.h"

static kvdb_lookup_t lookup(const char *key) {
    kvdb_lookup_t l;
    memset(&l, 0xAB, sizeof l); /* out-fields start as garbage */
    l.key = key;
    l.klen = strlen(key);
    return l;
}

static int found(const kvdb_lookup_t *l, const char *want) {
    size_t len = strlen(want);
    return l->status == KVDB_OK && l->vlen == len && memcmp(l->val, want, len) == 0;
}

int main(void) {
    kvdb_t *db = NULL;
    CHECK_OK(kvdb_open(NULL, NULL, &db));
    CHECK_OK(kvdb_put(db, "a", 1, "alpha", 5));
    CHECK_OK(kvdb_put(db, "b", 1, "bravo", 5));
    CHECK_OK(kvdb_put(db, "empty", 5, "", 0));
    CHECK_OK(kvdb_put(db, "long", 4, "a value of 24 bytes here", 24));
    CHECK_OK(kvdb_put(db, "gone", 4, "x", 1));
    CHECK_OK(kvdb_delete(db, "gone", 4));

    /* Found, absent, deleted, empty, too long for what is left, and a
     * short value after it that still fits. */
    kvdb_lookup_t ls[6] = {lookup("a"), lookup("missing"), lookup("gone"),
                           lookup("empty"), lookup("long"), lookup("b")};
    char buf[12];
    CHECK_OK(kvdb_multi_get(db, ls, 6, buf, sizeof buf));
    CHECK(found(&ls[0], "alpha"));
    CHECK(ls[0].val == buf);
    CHECK(ls[1].status == KVDB_NOT_FOUND && ls[1].vlen == 0 && ls[1].val == NULL);
    CHECK(ls[2].status == KVDB_NOT_FOUND && ls[2].vlen == 0);
    CHECK(ls[3].status == KVDB_OK && ls[3].vlen == 0 && ls[3].val == NULL);
    CHECK(ls[4].status == KVDB_BUFFER_TOO_SMALL && ls[4].vlen == 24 && ls[4].val == NULL);
    CHECK(found(&ls[5], "bravo"));
    CHECK(ls[5].val == buf + 5);

    /* A snapshot's multi-get reads at its moment. */
    kvdb_snapshot_t *snap = NULL;
    CHECK_OK(kvdb_snapshot_new(db, &snap));
    CHECK_OK(kvdb_put(db, "a", 1, "ALPHA", 5));
    CHECK_OK(kvdb_delete(db, "b", 1));
    kvdb_lookup_t two[2] = {lookup("a"), lookup("b")};
    char big[64];
    CHECK_OK(kvdb_snapshot_multi_get(snap, two, 2, big, sizeof big));
    CHECK(found(&two[0], "alpha") && found(&two[1], "bravo"));
    CHECK_OK(kvdb_multi_get(db, two, 2, big, sizeof big));
    CHECK(found(&two[0], "ALPHA") && two[1].status == KVDB_NOT_FOUND);
    kvdb_snapshot_free(snap);

    /* A transaction's multi-get: its own writes over its view, and every
     * key read (found or not) counts for validation. */
    kvdb_txn_t *txn = NULL;
    CHECK_OK(kvdb_txn_begin(db, &txn));
    CHECK_OK(kvdb_txn_put(txn, "b", 1, "mine", 4));
    CHECK_OK(kvdb_put(db, "a", 1, "later", 5)); /* after its view */
    kvdb_lookup_t t3[3] = {lookup("a"), lookup("b"), lookup("nobody")};
    CHECK_OK(kvdb_txn_multi_get(txn, t3, 3, big, sizeof big));
    CHECK(found(&t3[0], "ALPHA") && found(&t3[1], "mine"));
    CHECK(t3[2].status == KVDB_NOT_FOUND);
    CHECK_STATUS(kvdb_txn_commit(txn), KVDB_CONFLICT); /* "a" was written */
    CHECK_OK(kvdb_txn_begin(db, &txn));
    kvdb_lookup_t absent = lookup("nobody");
    CHECK_OK(kvdb_txn_multi_get(txn, &absent, 1, big, sizeof big));
    CHECK(absent.status == KVDB_NOT_FOUND);
    CHECK_OK(kvdb_txn_put(txn, "out", 3, "x", 1));
    CHECK_OK(kvdb_put(db, "nobody", 6, "here", 4)); /* read as absent */
    CHECK_STATUS(kvdb_txn_commit(txn), KVDB_CONFLICT);
    CHECK_OK(kvdb_txn_begin(db, &txn));
    CHECK_OK(kvdb_txn_multi_get(txn, t3, 3, big, sizeof big));
    CHECK_OK(kvdb_txn_put(txn, "out", 3, "y", 1));
    CHECK_OK(kvdb_put(db, "unread", 6, "z", 1));
    CHECK_OK(kvdb_txn_commit(txn)); /* nothing it read was written */
    CHECK_OK(kvdb_txn_begin(db, &txn));
    CHECK_STATUS(kvdb_txn_multi_get(NULL, t3, 3, big, sizeof big), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_txn_multi_get(txn, NULL, 3, big, sizeof big), KVDB_INVALID_ARGUMENT);
    kvdb_txn_rollback(txn);

    /* More keys than one group of reads, each found or not. */
    enum { MANY = 100 };
    char keys[MANY][8];
    kvdb_lookup_t many[MANY];
    for (int i = 0; i < MANY; i++) {
        snprintf(keys[i], sizeof keys[i], "k%03d", i);
        if (i % 4 != 0) CHECK_OK(kvdb_put(db, keys[i], 4, keys[i], 4));
        many[i] = lookup(keys[i]);
    }
    char manybuf[MANY * 4];
    CHECK_OK(kvdb_multi_get(db, many, MANY, manybuf, sizeof manybuf));
    int right = 0;
    for (int i = 0; i < MANY; i++)
        right += i % 4 == 0 ? many[i].status == KVDB_NOT_FOUND : found(&many[i], keys[i]);
    CHECK(right == MANY);

    /* Nothing to read, and a NULL buffer with no room: every value found
     * is too small for it. */
    CHECK_OK(kvdb_multi_get(db, NULL, 0, NULL, 0));
    kvdb_lookup_t one = lookup("a");
    CHECK_OK(kvdb_multi_get(db, &one, 1, NULL, 0));
    CHECK(one.status == KVDB_BUFFER_TOO_SMALL && one.vlen == 5);

    /* Bad arguments: refused, no lookup filled in. */
    kvdb_lookup_t bad[2] = {lookup("a"), lookup("b")};
    CHECK_STATUS(kvdb_multi_get(NULL, bad, 2, big, sizeof big), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_snapshot_multi_get(NULL, bad, 2, big, sizeof big), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_multi_get(db, NULL, 2, big, sizeof big), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_multi_get(db, bad, 2, NULL, 8), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_multi_get(db, bad, 2, (char *)bad + 8, 16), KVDB_INVALID_ARGUMENT);
    bad[1].key = NULL;
    CHECK_STATUS(kvdb_multi_get(db, bad, 2, big, sizeof big), KVDB_INVALID_ARGUMENT);
    memcpy(big, "b", 1);
    bad[1].key = big;
    bad[1].klen = 1;
    CHECK_STATUS(kvdb_multi_get(db, bad, 2, big, sizeof big), KVDB_INVALID_ARGUMENT);
    static char huge[KVDB_MAX_KEY_LEN + 1];
    bad[1].key = huge;
    bad[1].klen = sizeof huge;
    CHECK_STATUS(kvdb_multi_get(db, bad, 2, big, sizeof big), KVDB_TOO_LARGE);
    CHECK(bad[0].status != KVDB_OK && bad[0].status != KVDB_NOT_FOUND);

    CHECK_OK(kvdb_close(db));
    FINISH();
}
