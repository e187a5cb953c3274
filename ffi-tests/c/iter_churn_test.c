/* An iterator's current key and value, the keys it has read ahead (or,
 * stepping back, behind), and the pairs of a borrowed batch stay readable
 * while those keys are deleted, overwritten, collected and moved by a
 * reordering pass between its steps or batches, in either direction, and
 * while another thread does the same at full speed: every key of the
 * iterator's view comes out once, in order, with the value it had when
 * the view was taken. The harness runs this plain,
 * under ASan/UBSan and under valgrind (with the system allocator), which
 * report any read of freed memory. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define KEYS 600
/* Keys deleted or rewritten after the iterator's position at each step:
 * more than one read-ahead holds (32). */
#define CHURN_AHEAD 40

static kvdb_t *db;
static atomic_int stop;

static void key_of(int i, char *key) { snprintf(key, 16, "k%05d", i); }
static void value_of(int i, char *val) { snprintf(val, 16, "v%05d", i); }

/* Reads the iterator's pair and checks it is key `i` with its first value. */
static void check_pair(kvdb_iter_t *it, int i) {
    char key[16], val[16];
    key_of(i, key);
    value_of(i, val);
    const void *k = NULL, *v = NULL;
    size_t klen = 0, vlen = 0;
    CHECK_OK(kvdb_iter_key(it, &k, &klen));
    CHECK_OK(kvdb_iter_value(it, &v, &vlen));
    CHECK(klen == strlen(key) && memcmp(k, key, klen) == 0);
    CHECK(vlen == strlen(val) && memcmp(v, val, vlen) == 0);
}

/* Checks a pair a borrowed batch described: key `i` with its first value. */
static void check_borrowed(const kvdb_pair_t *pair, int i) {
    char key[16], val[16];
    key_of(i, key);
    value_of(i, val);
    CHECK(pair->klen == strlen(key) && memcmp(pair->key, key, pair->klen) == 0);
    CHECK(pair->vlen == strlen(val) && memcmp(pair->val, val, pair->vlen) == 0);
}

/* Deletes or rewrites the keys from `from` on (going forward, or down
 * from it going back), then collects. */
static void churn_toward(int from, int step, int forward) {
    char key[16];
    int lo = forward ? from : from - CHURN_AHEAD + 1;
    for (int j = lo < 0 ? 0 : lo; j < lo + CHURN_AHEAD && j < KEYS; j++) {
        key_of(j, key);
        kvdb_status_t s = (j + step) % 3 == 0 ? kvdb_put(db, key, strlen(key), "later", 5)
                                               : kvdb_delete(db, key, strlen(key));
        CHECK(s == KVDB_OK || s == KVDB_NOT_FOUND); /* deleted at an earlier step */
    }
    CHECK_OK(kvdb_collect_garbage(db));
    if (step % 150 == 0) CHECK_OK(kvdb_reorder(db));
}

static void churn(int from, int step) { churn_toward(from, step, 1); }

static void reload(void) {
    char key[16], val[16];
    for (int i = 0; i < KEYS; i++) {
        key_of(i, key);
        value_of(i, val);
        CHECK_OK(kvdb_put(db, key, strlen(key), val, strlen(val)));
    }
}

static void *churner(void *arg) {
    (void)arg;
    unsigned x = 12345;
    char key[16];
    while (!atomic_load(&stop)) {
        x = x * 1103515245u + 12345u;
        int j = (int)((x >> 8) % KEYS);
        key_of(j, key);
        if (x & 1)
            kvdb_delete(db, key, strlen(key));
        else
            kvdb_put(db, key, strlen(key), "churn", 5);
        if ((x >> 4) % 64 == 0) kvdb_collect_garbage(db);
        if ((x >> 4) % 1024 == 1) kvdb_reorder(db);
    }
    return NULL;
}

int main(void) {
    CHECK_OK(kvdb_open(NULL, NULL, &db));

    /* Between steps, on this thread. */
    reload();
    kvdb_iter_t *it = NULL;
    CHECK_OK(kvdb_iter_new(db, NULL, &it));
    int i = 0;
    for (kvdb_iter_seek_to_first(it); kvdb_iter_valid(it); kvdb_iter_next(it), i++) {
        check_pair(it, i);
        churn(i, i);
        check_pair(it, i);
    }
    CHECK(i == KEYS);
    kvdb_iter_free(it);

    /* The pairs of a borrowed batch, which point into the database, while
     * every key of the batch is deleted or rewritten, collected and moved
     * before they are read. */
    reload();
    CHECK_OK(kvdb_iter_new(db, NULL, &it));
    kvdb_iter_seek_to_first(it);
    kvdb_pair_t pairs[CHURN_AHEAD];
    size_t n = 1;
    i = 0;
    for (int step = 0; n > 0; step++) {
        size_t max = 1 + (size_t)step % CHURN_AHEAD;
        CHECK_OK(kvdb_iter_next_batch_borrowed(it, pairs, max, &n));
        churn(i, step);
        if (step % 5 == 0) CHECK_OK(kvdb_reorder(db));
        for (size_t p = 0; p < n; p++) check_borrowed(&pairs[p], i + (int)p);
        i += (int)n;
    }
    CHECK(i == KEYS);
    kvdb_iter_free(it);

    /* The same stepping back, which reads the keys before the current one
     * a block at a time: those keys are deleted or rewritten, collected
     * and moved at every step. */
    reload();
    CHECK_OK(kvdb_iter_new(db, NULL, &it));
    i = KEYS - 1;
    for (kvdb_iter_seek_to_last(it); kvdb_iter_valid(it); kvdb_iter_prev(it), i--) {
        check_pair(it, i);
        churn_toward(i, i, 0);
        check_pair(it, i);
    }
    CHECK(i == -1);
    kvdb_iter_free(it);

    /* Borrowed backward batches, their keys churned before they are read. */
    reload();
    CHECK_OK(kvdb_iter_new(db, NULL, &it));
    kvdb_iter_seek_to_last(it);
    n = 1;
    i = KEYS - 1;
    for (int step = 0; n > 0; step++) {
        size_t max = 1 + (size_t)step % CHURN_AHEAD;
        CHECK_OK(kvdb_iter_prev_batch_borrowed(it, pairs, max, &n));
        churn_toward(i, step, 0);
        if (step % 5 == 0) CHECK_OK(kvdb_reorder(db));
        for (size_t p = 0; p < n; p++) check_borrowed(&pairs[p], i - (int)p);
        i -= (int)n;
    }
    CHECK(i == -1);
    kvdb_iter_free(it);

    /* Against another thread. */
    reload();
    pthread_t thread;
    CHECK(pthread_create(&thread, NULL, churner, NULL) == 0);
    for (int pass = 0; pass < 4; pass++) {
        kvdb_snapshot_t *snap = NULL;
        CHECK_OK(kvdb_snapshot_new(db, &snap));
        /* What the snapshot holds, read once by point reads. */
        static char seen[KEYS];
        int expected = 0;
        for (int j = 0; j < KEYS; j++) {
            char key[16];
            key_of(j, key);
            void *v = NULL;
            size_t vlen = 0;
            kvdb_status_t s = kvdb_snapshot_get(snap, key, strlen(key), &v, &vlen);
            CHECK(s == KVDB_OK || s == KVDB_NOT_FOUND);
            seen[j] = s == KVDB_OK;
            expected += seen[j];
            kvdb_free(v);
        }
        CHECK_OK(kvdb_iter_new(db, snap, &it));
        /* Passes 0 and 2 step, 1 and 3 read borrowed batches of up to 16
         * pairs; passes 0 and 1 go forward, 2 and 3 back. */
        int forward = pass < 2, batched = pass % 2 == 1;
        int got = 0, last = forward ? -1 : KEYS;
        if (forward)
            kvdb_iter_seek_to_first(it);
        else
            kvdb_iter_seek_to_last(it);
        while (kvdb_iter_valid(it)) {
            size_t batch = 1;
            if (!batched) {
                CHECK_OK(kvdb_iter_key(it, &pairs[0].key, &pairs[0].klen));
                CHECK_OK(kvdb_iter_value(it, &pairs[0].val, &pairs[0].vlen));
            } else if (forward) {
                CHECK_OK(kvdb_iter_next_batch_borrowed(it, pairs, 16, &batch));
            } else {
                CHECK_OK(kvdb_iter_prev_batch_borrowed(it, pairs, 16, &batch));
            }
            for (size_t p = 0; p < batch; p++) {
                char key[16] = {0};
                CHECK(pairs[p].klen == 6);
                memcpy(key, pairs[p].key, pairs[p].klen < 15 ? pairs[p].klen : 15);
                int j = atoi(key + 1);
                CHECK((forward ? j > last : j < last) && j >= 0 && j < KEYS && seen[j]);
                last = j;
                CHECK(pairs[p].vlen == 5 || pairs[p].vlen == 6);
                got++;
            }
            if (!batched) {
                if (forward)
                    kvdb_iter_next(it);
                else
                    kvdb_iter_prev(it);
            }
        }
        CHECK(got == expected);
        kvdb_iter_free(it);
        kvdb_snapshot_free(snap);
    }
    atomic_store(&stop, 1);
    pthread_join(thread, NULL);

    CHECK_OK(kvdb_close(db));
    FINISH();
}
