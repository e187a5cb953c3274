/* Many threads on one kvdb_t: private keys, a shared counter, batches,
 * iterators and snapshots at once. The total must be exact and every
 * thread's keys intact. */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "check.h"

#define THREADS 8
#define ROUNDS 500

static kvdb_t *db;
static int thread_failures[THREADS];

static void *worker(void *arg) {
    int t = (int)(intptr_t)arg;
    char key[32], val[32];
    for (int i = 0; i < ROUNDS; i++) {
        snprintf(key, sizeof key, "t%d:%d", t, i);
        snprintf(val, sizeof val, "%d", i);
        if (kvdb_put(db, key, strlen(key), val, strlen(val)) != KVDB_OK) thread_failures[t]++;
        if (kvdb_increment(db, "counter", 7, 1, NULL) != KVDB_OK) thread_failures[t]++;
        if (i % 50 == 0) {
            kvdb_batch_t *b = kvdb_batch_new();
            kvdb_batch_put(b, "shared:a", 8, val, strlen(val));
            kvdb_batch_put(b, "shared:b", 8, val, strlen(val));
            if (kvdb_write(db, b) != KVDB_OK) thread_failures[t]++;
            kvdb_batch_free(b);
            /* Both shared keys were written together: a snapshot sees equal values. */
            kvdb_snapshot_t *s;
            kvdb_snapshot_new(db, &s);
            size_t alen = 0, blen = 0;
            void *pa = NULL, *pb = NULL;
            if (kvdb_snapshot_get(s, "shared:a", 8, &pa, &alen) != KVDB_OK ||
                kvdb_snapshot_get(s, "shared:b", 8, &pb, &blen) != KVDB_OK ||
                alen != blen || memcmp(pa, pb, alen) != 0)
                thread_failures[t]++;
            kvdb_free(pa);
            kvdb_free(pb);
            kvdb_iter_t *it;
            kvdb_iter_new(db, s, &it);
            for (kvdb_iter_seek_to_first(it); kvdb_iter_valid(it); kvdb_iter_next(it)) {
            }
            kvdb_iter_free(it);
            kvdb_snapshot_free(s);
        }
        char buf[32];
        size_t vlen;
        if (kvdb_get_into(db, key, strlen(key), buf, sizeof buf, &vlen) != KVDB_OK ||
            vlen != strlen(val) || memcmp(buf, val, vlen) != 0)
            thread_failures[t]++;
    }
    return NULL;
}

int main(void) {
    CHECK_OK(kvdb_open(NULL, NULL, &db));
    pthread_t threads[THREADS];
    for (int t = 0; t < THREADS; t++)
        CHECK(pthread_create(&threads[t], NULL, worker, (void *)(intptr_t)t) == 0);
    for (int t = 0; t < THREADS; t++) {
        pthread_join(threads[t], NULL);
        CHECK(thread_failures[t] == 0);
    }
    char buf[32];
    size_t vlen;
    CHECK_OK(kvdb_get_into(db, "counter", 7, buf, sizeof buf - 1, &vlen));
    buf[vlen] = 0;
    char expected[32];
    snprintf(expected, sizeof expected, "%d", THREADS * ROUNDS);
    CHECK(strcmp(buf, expected) == 0);
    kvdb_stats_t st;
    CHECK_OK(kvdb_stats(db, &st));
    CHECK(st.live_keys == THREADS * ROUNDS + 3);
    CHECK_OK(kvdb_close(db));
    FINISH();
}
