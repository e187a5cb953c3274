/* Change streams through the C API: events carry sequence, kind, key,
 * value, expiry and batch boundaries; a prefix and a range watcher see only
 * their keys; eight writer threads' changes arrive once each, in order, to a
 * poll loop on kvdb_watch_fd; a lagging watcher gets KVDB_LAGGED and the
 * snapshot resync continues exactly; expirations arrive; a durable database
 * resumes a watcher after reopening; NULLs and closed databases are refused.
 * Usage: watch_test DIR (DIR must not exist). */
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"

#define WRITERS 8
#define PER_WRITER 300

static kvdb_t *shared_db;
static int writer_failures[WRITERS];
static int finished;

static int key_is(const kvdb_event_t *e, const char *key) {
    return e->klen == strlen(key) && memcmp(e->key, key, e->klen) == 0;
}

static int readable(int fd, int timeout_ms) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, timeout_ms) == 1;
}

static void *writer(void *arg) {
    int t = (int)(intptr_t)arg;
    char key[32];
    for (int i = 0; i < PER_WRITER; i++) {
        snprintf(key, sizeof key, "w%d:%d", t, i % 20);
        kvdb_status_t s;
        if (i % 10 == 0) {
            kvdb_batch_t *b = kvdb_batch_new();
            kvdb_batch_put(b, "batch:a", 7, key, strlen(key));
            kvdb_batch_put(b, "batch:b", 7, key, strlen(key));
            s = kvdb_write(shared_db, b);
            kvdb_batch_free(b);
        } else if (i % 7 == 0) {
            s = kvdb_delete(shared_db, key, strlen(key));
            if (s == KVDB_NOT_FOUND) s = KVDB_OK;
        } else {
            s = kvdb_put(shared_db, key, strlen(key), "v", 1);
        }
        if (s != KVDB_OK) writer_failures[t]++;
    }
    __atomic_add_fetch(&finished, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void basics(void) {
    kvdb_t *db = NULL;
    CHECK_STATUS(kvdb_open(NULL, NULL, &db), KVDB_OK);
    kvdb_watch_t *users = NULL, *orders = NULL;
    CHECK_STATUS(kvdb_watch_new(db, "user:", 5, KVDB_WATCH_FROM_NOW, &users), KVDB_OK);
    kvdb_event_t e;
    CHECK_STATUS(kvdb_watch_next(users, 0, &e), KVDB_TIMED_OUT);
    CHECK_STATUS(kvdb_watch_next(users, 20, &e), KVDB_TIMED_OUT);

    kvdb_batch_t *b = kvdb_batch_new();
    CHECK_STATUS(kvdb_batch_put(b, "user:1", 6, "ada", 3), KVDB_OK);
    CHECK_STATUS(kvdb_batch_put_ttl(b, "user:2", 6, "grace", 5, 60000), KVDB_OK);
    CHECK_STATUS(kvdb_batch_put(b, "zzz", 3, "other", 5), KVDB_OK);
    CHECK_STATUS(kvdb_write(db, b), KVDB_OK);
    kvdb_batch_free(b);
    CHECK_STATUS(kvdb_put(db, "order:9", 7, "x", 1), KVDB_OK);
    CHECK_STATUS(kvdb_delete(db, "user:1", 6), KVDB_OK);

    CHECK_STATUS(kvdb_watch_next(users, 1000, &e), KVDB_OK);
    CHECK(e.seq == 1 && e.kind == KVDB_EVENT_PUT && key_is(&e, "user:1"));
    CHECK(e.vlen == 3 && memcmp(e.val, "ada", 3) == 0 && e.expires_at_ms == 0);
    CHECK(!e.last_in_batch);
    CHECK_STATUS(kvdb_watch_next(users, 1000, &e), KVDB_OK);
    CHECK(e.seq == 2 && key_is(&e, "user:2") && e.last_in_batch);
    CHECK(e.expires_at_ms > 0);
    CHECK_STATUS(kvdb_watch_next(users, 1000, &e), KVDB_OK);
    CHECK(e.seq == 5 && e.kind == KVDB_EVENT_DELETE && key_is(&e, "user:1"));
    CHECK(e.val == NULL && e.vlen == 0 && e.last_in_batch);
    CHECK_STATUS(kvdb_watch_next(users, 0, &e), KVDB_TIMED_OUT);
    uint64_t pos = 0;
    CHECK_STATUS(kvdb_watch_position(users, &pos), KVDB_OK);
    CHECK(pos == 6);

    /* A range [order:, order;) from the oldest retained change. */
    CHECK_STATUS(kvdb_watch_new_range(db, "order:", 6, "order;", 6, KVDB_WATCH_FROM_OLDEST, &orders),
                 KVDB_OK);
    CHECK_STATUS(kvdb_watch_next(orders, 0, &e), KVDB_OK);
    CHECK(e.seq == 4 && key_is(&e, "order:9"));
    CHECK_STATUS(kvdb_watch_next(orders, 0, &e), KVDB_TIMED_OUT);
    kvdb_watch_free(orders);
    /* An open-ended range: NULL end. */
    CHECK_STATUS(kvdb_watch_new_range(db, "z", 1, NULL, 0, 1, &orders), KVDB_OK);
    CHECK_STATUS(kvdb_watch_next(orders, 0, &e), KVDB_OK);
    CHECK(e.seq == 3 && key_is(&e, "zzz"));
    kvdb_watch_free(orders);

    /* Bad arguments. */
    kvdb_watch_t *none = NULL;
    CHECK_STATUS(kvdb_watch_new(NULL, NULL, 0, 0, &none), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_watch_new(db, NULL, 0, 0, NULL), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_watch_new(db, NULL, 3, 0, &none), KVDB_INVALID_ARGUMENT);
    CHECK(none == NULL);
    CHECK_STATUS(kvdb_watch_next(NULL, 0, &e), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_watch_next(users, 0, NULL), KVDB_INVALID_ARGUMENT);
    CHECK(kvdb_watch_fd(NULL) == -1);
    CHECK_STATUS(kvdb_watch_position(users, NULL), KVDB_INVALID_ARGUMENT);
    kvdb_watch_free(NULL);

    /* After close the watcher refuses, and can still be freed. */
    CHECK_STATUS(kvdb_close(db), KVDB_OK);
    CHECK_STATUS(kvdb_watch_next(users, 0, &e), KVDB_INVALID_ARGUMENT);
    kvdb_watch_free(users);
}

static void writers_and_a_poll_loop(void) {
    CHECK_STATUS(kvdb_open(NULL, NULL, &shared_db), KVDB_OK);
    kvdb_watch_t *w = NULL;
    CHECK_STATUS(kvdb_watch_new(shared_db, NULL, 0, KVDB_WATCH_FROM_OLDEST, &w), KVDB_OK);
    int fd = kvdb_watch_fd(w);
    CHECK(fd >= 0);
    CHECK(fd == kvdb_watch_fd(w));
    pthread_t threads[WRITERS];
    for (int t = 0; t < WRITERS; t++)
        CHECK(pthread_create(&threads[t], NULL, writer, (void *)(intptr_t)t) == 0);

    uint64_t expected = 1, polls = 0;
    int joined = 0, out_of_order = 0;
    uint64_t last_seq = UINT64_MAX;
    for (int rounds = 0; rounds < 100000; rounds++) {
        if (readable(fd, 100)) polls++;
        kvdb_event_t e;
        kvdb_status_t s;
        while ((s = kvdb_watch_next(w, 0, &e)) == KVDB_OK) {
            if (e.seq != expected) out_of_order++;
            expected = e.seq + 1;
        }
        CHECK(s == KVDB_TIMED_OUT);
        if (!joined && __atomic_load_n(&finished, __ATOMIC_SEQ_CST) == WRITERS) {
            for (int t = 0; t < WRITERS; t++) pthread_join(threads[t], NULL);
            joined = 1;
            kvdb_snapshot_t *snap = NULL;
            CHECK_STATUS(kvdb_snapshot_new(shared_db, &snap), KVDB_OK);
            CHECK_STATUS(kvdb_snapshot_seq(snap, &last_seq), KVDB_OK);
            kvdb_snapshot_free(snap);
        }
        if (expected > last_seq) break;
    }
    CHECK(out_of_order == 0);
    CHECK(expected == last_seq + 1);
    CHECK(polls > 0);
    for (int t = 0; t < WRITERS; t++) CHECK(writer_failures[t] == 0);
    kvdb_watch_free(w);
    CHECK_STATUS(kvdb_close(shared_db), KVDB_OK);
}

static void lagging_and_resync(void) {
    kvdb_options_t *opts = kvdb_options_new();
    CHECK_STATUS(kvdb_options_set_watch_retention(opts, 8192, 0), KVDB_OK);
    kvdb_t *db = NULL;
    CHECK_STATUS(kvdb_open(NULL, opts, &db), KVDB_OK);
    kvdb_options_free(opts);
    kvdb_watch_t *w = NULL;
    CHECK_STATUS(kvdb_watch_new(db, NULL, 0, KVDB_WATCH_FROM_OLDEST, &w), KVDB_OK);
    char key[16];
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "k%d", i % 50);
        CHECK_STATUS(kvdb_put(db, key, strlen(key), "v", 1), KVDB_OK);
    }
    kvdb_event_t e;
    CHECK_STATUS(kvdb_watch_next(w, 0, &e), KVDB_LAGGED);
    char detail[512];
    kvdb_last_error(detail, sizeof detail);
    CHECK(strstr(detail, "oldest retained is") != NULL);
    CHECK_STATUS(kvdb_watch_next(w, 0, &e), KVDB_LAGGED); /* it stays lagged */
    kvdb_watch_free(w);

    /* The documented recovery: a snapshot, then what follows it. */
    kvdb_snapshot_t *snap = NULL;
    uint64_t seq = 0;
    CHECK_STATUS(kvdb_snapshot_new(db, &snap), KVDB_OK);
    CHECK_STATUS(kvdb_snapshot_seq(snap, &seq), KVDB_OK);
    CHECK(seq == 1000);
    kvdb_snapshot_free(snap);
    CHECK_STATUS(kvdb_watch_new(db, NULL, 0, seq + 1, &w), KVDB_OK);
    CHECK_STATUS(kvdb_put(db, "next", 4, "1", 1), KVDB_OK);
    CHECK_STATUS(kvdb_watch_next(w, 0, &e), KVDB_OK);
    CHECK(e.seq == 1001 && key_is(&e, "next"));
    kvdb_watch_free(w);

    /* Change streams turned off. */
    CHECK_STATUS(kvdb_close(db), KVDB_OK);
    opts = kvdb_options_new();
    CHECK_STATUS(kvdb_options_set_watch_retention(opts, 0, 0), KVDB_OK);
    CHECK_STATUS(kvdb_open(NULL, opts, &db), KVDB_OK);
    kvdb_options_free(opts);
    CHECK_STATUS(kvdb_watch_new(db, NULL, 0, 0, &w), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_close(db), KVDB_OK);
}

static void expirations(void) {
    kvdb_t *db = NULL;
    CHECK_STATUS(kvdb_open(NULL, NULL, &db), KVDB_OK); /* background expiry on */
    kvdb_watch_t *w = NULL;
    CHECK_STATUS(kvdb_watch_new(db, NULL, 0, KVDB_WATCH_FROM_NOW, &w), KVDB_OK);
    CHECK_STATUS(kvdb_put_ttl(db, "lease", 5, "x", 1, 20), KVDB_OK);
    kvdb_event_t e;
    CHECK_STATUS(kvdb_watch_next(w, 5000, &e), KVDB_OK);
    CHECK(e.kind == KVDB_EVENT_PUT && e.expires_at_ms > 0);
    CHECK_STATUS(kvdb_watch_next(w, 30000, &e), KVDB_OK);
    CHECK(e.kind == KVDB_EVENT_EXPIRED && key_is(&e, "lease") && e.seq == 2);
    kvdb_watch_free(w);
    CHECK_STATUS(kvdb_close(db), KVDB_OK);
}

static void durable_resume(const char *dir) {
    kvdb_options_t *opts = kvdb_options_new();
    CHECK_STATUS(kvdb_options_set_sync(opts, KVDB_SYNC_NEVER, 0), KVDB_OK);
    kvdb_t *db = NULL;
    CHECK_STATUS(kvdb_open(dir, opts, &db), KVDB_OK);
    kvdb_watch_t *w = NULL;
    CHECK_STATUS(kvdb_watch_new(db, NULL, 0, KVDB_WATCH_FROM_NOW, &w), KVDB_OK);
    char key[16];
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof key, "k%d", i);
        CHECK_STATUS(kvdb_put(db, key, strlen(key), "v", 1), KVDB_OK);
    }
    kvdb_event_t e;
    for (int i = 0; i < 40; i++) CHECK_STATUS(kvdb_watch_next(w, 1000, &e), KVDB_OK);
    uint64_t pos = 0;
    CHECK_STATUS(kvdb_watch_position(w, &pos), KVDB_OK);
    CHECK(pos == 41);
    kvdb_watch_free(w);
    CHECK_STATUS(kvdb_checkpoint(db), KVDB_OK);
    CHECK_STATUS(kvdb_close(db), KVDB_OK);

    CHECK_STATUS(kvdb_open(dir, opts, &db), KVDB_OK);
    kvdb_options_free(opts);
    CHECK_STATUS(kvdb_watch_new(db, NULL, 0, pos, &w), KVDB_OK);
    uint64_t expected = pos;
    while (kvdb_watch_next(w, 0, &e) == KVDB_OK) {
        CHECK(e.seq == expected);
        expected++;
    }
    CHECK(expected == 101);
    kvdb_watch_free(w);
    CHECK_STATUS(kvdb_close(db), KVDB_OK);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    CHECK(mkdir(argv[1], 0700) == 0);
    basics();
    writers_and_a_poll_loop();
    lagging_and_resync();
    expirations();
    durable_resume(argv[1]);
    FINISH();
}
