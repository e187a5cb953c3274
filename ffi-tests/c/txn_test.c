/* Transactions through the C API: read-your-writes through gets and
 * iterators, savepoints, conflicts (lost update, write skew through a
 * prefix scan, a phantom in an empty range), commit and rollback always
 * releasing the handle, a transaction outliving kvdb_close, and the bank:
 * 8 threads move money between 100 accounts in transactions while readers
 * sum them in snapshots, iterators and read-only transactions; and
 * kvdb_txn_run, the library's retrying runner.
 * Usage: txn_test [DIR|:memory: [TRANSFERS]] */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define KEY(s) (s), strlen(s)
#define ACCOUNTS 100
#define OPENING 1000
#define WRITERS 8
#define TRANSFERS_DEFAULT 300

/* Transfers per writer: argv[2] if given (valgrind runs use fewer). */
static int transfers = TRANSFERS_DEFAULT;

static kvdb_t *db;
static volatile int writers_done;
static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;

static void account(int i, char *out) { snprintf(out, 16, "acct/%03d", i); }

static long get_long(kvdb_txn_t *t, const char *key, int *ok) {
    char buf[32];
    size_t n = 0;
    if (kvdb_txn_get_into(t, key, strlen(key), buf, sizeof buf - 1, &n) != KVDB_OK) {
        *ok = 0;
        return 0;
    }
    buf[n] = 0;
    return strtol(buf, NULL, 10);
}

static void *writer(void *arg) {
    unsigned seed = (unsigned)(size_t)arg * 7919u + 1;
    int made = 0, conflicts = 0, errors = 0;
    while (made < transfers) {
        int from = (int)(rand_r(&seed) % ACCOUNTS), to = (int)(rand_r(&seed) % ACCOUNTS);
        if (from == to) continue;
        char a[16], b[16], v[32];
        account(from, a);
        account(to, b);
        kvdb_txn_t *t;
        if (kvdb_txn_begin(db, &t) != KVDB_OK) { errors++; break; }
        int ok = 1;
        long x = get_long(t, a, &ok), y = get_long(t, b, &ok);
        snprintf(v, sizeof v, "%ld", x - 3);
        if (kvdb_txn_put(t, KEY(a), KEY(v)) != KVDB_OK) ok = 0;
        snprintf(v, sizeof v, "%ld", y + 3);
        if (kvdb_txn_put(t, KEY(b), KEY(v)) != KVDB_OK) ok = 0;
        if (!ok) { kvdb_txn_rollback(t); errors++; break; }
        kvdb_status_t st = kvdb_txn_commit(t);
        if (st == KVDB_OK) made++;
        else if (st == KVDB_CONFLICT) conflicts++;
        else { errors++; break; }
    }
    pthread_mutex_lock(&count_lock);
    CHECK(errors == 0);
    CHECK(made == transfers);
    pthread_mutex_unlock(&count_lock);
    (void)conflicts;
    return NULL;
}

static long sum_iter(kvdb_iter_t *it, int *count) {
    long sum = 0;
    *count = 0;
    for (kvdb_iter_seek_to_first(it); kvdb_iter_valid(it); kvdb_iter_next(it)) {
        const void *v;
        size_t n;
        char buf[32];
        if (kvdb_iter_value(it, &v, &n) != KVDB_OK || n >= sizeof buf) return -1;
        memcpy(buf, v, n);
        buf[n] = 0;
        sum += strtol(buf, NULL, 10);
        (*count)++;
    }
    return sum;
}

static void *reader(void *arg) {
    int round = (int)(size_t)arg, bad = 0, done_rounds = 0;
    while (!writers_done || done_rounds < 3) {
        kvdb_iter_t *it = NULL;
        kvdb_snapshot_t *s = NULL;
        kvdb_txn_t *t = NULL;
        switch ((round + done_rounds) % 3) {
        case 0:
            if (kvdb_snapshot_new(db, &s) != KVDB_OK || kvdb_iter_new_prefix(db, s, KEY("acct/"), &it) != KVDB_OK) bad++;
            break;
        case 1:
            if (kvdb_iter_new_prefix(db, NULL, KEY("acct/"), &it) != KVDB_OK) bad++;
            break;
        default:
            if (kvdb_txn_begin(db, &t) != KVDB_OK || kvdb_txn_iter_new_prefix(t, KEY("acct/"), &it) != KVDB_OK) bad++;
        }
        int n = 0;
        long sum = it ? sum_iter(it, &n) : -1;
        if (sum != (long)ACCOUNTS * OPENING || n != ACCOUNTS) bad++;
        kvdb_iter_free(it);
        kvdb_snapshot_free(s);
        if (t && kvdb_txn_commit(t) != KVDB_OK) bad++;
        done_rounds++;
        sched_yield();
    }
    pthread_mutex_lock(&count_lock);
    CHECK(bad == 0);
    pthread_mutex_unlock(&count_lock);
    return NULL;
}

static void bank(void) {
    kvdb_txn_t *t;
    CHECK_OK(kvdb_txn_begin(db, &t));
    for (int i = 0; i < ACCOUNTS; i++) {
        char a[16];
        account(i, a);
        CHECK_OK(kvdb_txn_put(t, KEY(a), KEY("1000")));
    }
    CHECK_OK(kvdb_txn_commit(t));
    pthread_t w[WRITERS], r[2];
    writers_done = 0;
    for (size_t i = 0; i < 2; i++) pthread_create(&r[i], NULL, reader, (void *)i);
    for (size_t i = 0; i < WRITERS; i++) pthread_create(&w[i], NULL, writer, (void *)i);
    for (int i = 0; i < WRITERS; i++) pthread_join(w[i], NULL);
    writers_done = 1;
    for (int i = 0; i < 2; i++) pthread_join(r[i], NULL);
    kvdb_iter_t *it;
    CHECK_OK(kvdb_iter_new_prefix(db, NULL, KEY("acct/"), &it));
    int n;
    CHECK(sum_iter(it, &n) == (long)ACCOUNTS * OPENING);
    CHECK(n == ACCOUNTS);
    kvdb_iter_free(it);
}

/* kvdb_txn_run: threads increment one counter through the library's
 * retrying runner, which must commit every increment however often the
 * others win; a body's own status, a body that ends its transaction
 * itself, and a body that writes through the db are reported. */
#define RUNNERS 4
#define INCREMENTS 300

static kvdb_status_t increment(kvdb_txn_t *t, void *ctx) {
    (void)ctx;
    int ok = 1;
    long n = get_long(t, "counter", &ok);
    if (!ok) return KVDB_INTERNAL;
    char v[32];
    snprintf(v, sizeof v, "%ld", n + 1);
    return kvdb_txn_put(t, KEY("counter"), KEY(v));
}

static void *runner(void *arg) {
    int *failed = arg;
    for (int i = 0; i < INCREMENTS; i++)
        if (kvdb_txn_run(db, increment, NULL) != KVDB_OK) (*failed)++;
    return NULL;
}

static kvdb_status_t write_then_fail(kvdb_txn_t *t, void *ctx) {
    (void)ctx;
    kvdb_status_t st = kvdb_txn_put(t, KEY("run/never"), KEY("x"));
    return st == KVDB_OK ? KVDB_NOT_FOUND : st;
}

static kvdb_status_t commit_itself(kvdb_txn_t *t, void *ctx) {
    kvdb_txn_put(t, KEY("run/never"), KEY("x"));
    *(kvdb_status_t *)ctx = kvdb_txn_commit(t);
    return KVDB_OK;
}

static kvdb_status_t roll_back_itself(kvdb_txn_t *t, void *ctx) {
    (void)ctx;
    kvdb_txn_put(t, KEY("run/never"), KEY("x"));
    kvdb_txn_rollback(t);
    return KVDB_OK;
}

/* Reads a key, then writes it through the db behind the transaction's
 * back: every optimistic attempt conflicts, and in the last one, which
 * holds the write lock, the write through the db fails instead of waiting
 * for ever. */
static kvdb_status_t write_through_db(kvdb_txn_t *t, void *ctx) {
    int *calls = ctx;
    (*calls)++;
    int ok = 1;
    get_long(t, "run/busy", &ok);
    kvdb_status_t st = kvdb_put(db, KEY("run/busy"), KEY("2"));
    if (st != KVDB_OK) return st;
    return kvdb_txn_put(t, KEY("run/never"), KEY("x"));
}

static void run_helper(void) {
    CHECK_OK(kvdb_put(db, KEY("counter"), KEY("0")));
    pthread_t r[RUNNERS];
    int failed[RUNNERS] = {0};
    for (int i = 0; i < RUNNERS; i++) pthread_create(&r[i], NULL, runner, &failed[i]);
    for (int i = 0; i < RUNNERS; i++) pthread_join(r[i], NULL);
    for (int i = 0; i < RUNNERS; i++) CHECK(failed[i] == 0);
    kvdb_txn_t *t;
    CHECK_OK(kvdb_txn_begin(db, &t));
    int ok = 1;
    CHECK(get_long(t, "counter", &ok) == (long)RUNNERS * INCREMENTS);
    CHECK(ok);
    kvdb_txn_rollback(t);

    void *val;
    size_t vlen;
    CHECK_STATUS(kvdb_txn_run(db, write_then_fail, NULL), KVDB_NOT_FOUND);
    kvdb_status_t inner = KVDB_OK;
    CHECK_STATUS(kvdb_txn_run(db, commit_itself, &inner), KVDB_INVALID_ARGUMENT);
    CHECK(inner == KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_txn_run(db, roll_back_itself, NULL), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_get(db, KEY("run/never"), &val, &vlen), KVDB_NOT_FOUND);

    CHECK_OK(kvdb_put(db, KEY("run/busy"), KEY("1")));
    int calls = 0;
    CHECK_STATUS(kvdb_txn_run(db, write_through_db, &calls), KVDB_INVALID_ARGUMENT);
    CHECK(calls > 1);
    CHECK_STATUS(kvdb_get(db, KEY("run/never"), &val, &vlen), KVDB_NOT_FOUND);
    CHECK_OK(kvdb_put(db, KEY("run/busy"), KEY("3"))); /* the lock was released */

    CHECK_STATUS(kvdb_txn_run(db, NULL, NULL), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_txn_run(NULL, increment, NULL), KVDB_INVALID_ARGUMENT);
    CHECK_OK(kvdb_delete(db, KEY("counter")));
    CHECK_OK(kvdb_delete(db, KEY("run/busy")));
}

static void semantics(void) {
    void *val;
    size_t vlen;
    char buf[16];
    CHECK_OK(kvdb_put(db, KEY("s/a"), KEY("1")));
    CHECK_OK(kvdb_put(db, KEY("s/c"), KEY("3")));
    kvdb_txn_t *t;
    CHECK_OK(kvdb_txn_begin(db, &t));
    CHECK_OK(kvdb_txn_put(t, KEY("s/b"), KEY("2")));
    CHECK_OK(kvdb_txn_delete(t, KEY("s/c")));
    CHECK_STATUS(kvdb_txn_delete(t, KEY("s/none")), KVDB_NOT_FOUND);
    CHECK_OK(kvdb_txn_get(t, KEY("s/b"), &val, &vlen));
    CHECK(vlen == 1 && memcmp(val, "2", 1) == 0);
    kvdb_free(val);
    CHECK_STATUS(kvdb_txn_get(t, KEY("s/c"), &val, &vlen), KVDB_NOT_FOUND);
    CHECK_STATUS(kvdb_txn_get_into(t, KEY("s/b"), buf, 0, &vlen), KVDB_BUFFER_TOO_SMALL);
    CHECK(vlen == 1);
    CHECK_STATUS(kvdb_txn_get_into(t, buf, 4, buf, sizeof buf, &vlen), KVDB_INVALID_ARGUMENT);
    /* Iterators see the writes merged in, both ways. */
    kvdb_iter_t *it;
    CHECK_OK(kvdb_txn_iter_new_prefix(t, KEY("s/"), &it));
    const char *want[] = {"s/a", "s/b"};
    int i = 0;
    for (kvdb_iter_seek_to_first(it); kvdb_iter_valid(it); kvdb_iter_next(it), i++) {
        const void *k;
        size_t kl;
        CHECK_OK(kvdb_iter_key(it, &k, &kl));
        CHECK(i < 2 && kl == 3 && memcmp(k, want[i], 3) == 0);
    }
    CHECK(i == 2);
    i = 1;
    for (kvdb_iter_seek_to_last(it); kvdb_iter_valid(it); kvdb_iter_prev(it), i--) {
        const void *k;
        size_t kl;
        CHECK_OK(kvdb_iter_key(it, &k, &kl));
        CHECK(i >= 0 && memcmp(k, want[i], 3) == 0);
    }
    CHECK(i == -1);
    kvdb_iter_free(it);
    /* Savepoints. */
    CHECK_STATUS(kvdb_txn_rollback_to_savepoint(t), KVDB_NOT_FOUND);
    CHECK_OK(kvdb_txn_savepoint(t));
    CHECK_OK(kvdb_txn_put(t, KEY("s/b"), KEY("changed")));
    CHECK_OK(kvdb_txn_put_ttl(t, KEY("s/t"), KEY("t"), 60000));
    CHECK_STATUS(kvdb_txn_put_ttl(t, KEY("s/t"), KEY("t"), 0), KVDB_INVALID_ARGUMENT);
    CHECK_OK(kvdb_txn_rollback_to_savepoint(t));
    CHECK_OK(kvdb_txn_get(t, KEY("s/b"), &val, &vlen));
    CHECK(vlen == 1 && memcmp(val, "2", 1) == 0);
    kvdb_free(val);
    CHECK_STATUS(kvdb_txn_get(t, KEY("s/t"), &val, &vlen), KVDB_NOT_FOUND);
    CHECK_OK(kvdb_txn_commit(t));
    CHECK_OK(kvdb_exists(db, KEY("s/b")));
    CHECK_STATUS(kvdb_exists(db, KEY("s/c")), KVDB_NOT_FOUND);

    /* Lost update. */
    kvdb_txn_t *a, *b;
    CHECK_OK(kvdb_txn_begin(db, &a));
    CHECK_OK(kvdb_txn_begin(db, &b));
    CHECK_OK(kvdb_txn_get(a, KEY("s/a"), &val, &vlen));
    kvdb_free(val);
    CHECK_OK(kvdb_txn_get(b, KEY("s/a"), &val, &vlen));
    kvdb_free(val);
    CHECK_OK(kvdb_txn_put(a, KEY("s/a"), KEY("from a")));
    CHECK_OK(kvdb_txn_put(b, KEY("s/a"), KEY("from b")));
    CHECK_OK(kvdb_txn_commit(a));
    CHECK_STATUS(kvdb_txn_commit(b), KVDB_CONFLICT);

    /* Write skew through prefix scans, and a phantom in an empty range. */
    CHECK_OK(kvdb_txn_begin(db, &a));
    CHECK_OK(kvdb_txn_begin(db, &b));
    kvdb_iter_t *ia, *ib;
    CHECK_OK(kvdb_txn_iter_new_prefix(a, KEY("y/"), &ia));
    CHECK_OK(kvdb_txn_iter_new_prefix(b, KEY("x/"), &ib));
    kvdb_iter_seek_to_first(ia);
    kvdb_iter_seek_to_first(ib);
    CHECK(!kvdb_iter_valid(ia) && !kvdb_iter_valid(ib));
    kvdb_iter_free(ia);
    kvdb_iter_free(ib);
    CHECK_OK(kvdb_txn_put(a, KEY("x/1"), KEY("")));
    CHECK_OK(kvdb_txn_put(b, KEY("y/1"), KEY("")));
    CHECK_OK(kvdb_txn_commit(a));
    CHECK_STATUS(kvdb_txn_commit(b), KVDB_CONFLICT);
    CHECK_STATUS(kvdb_exists(db, KEY("y/1")), KVDB_NOT_FOUND);

    /* Conflicts against plain writes; rollback releases. */
    CHECK_OK(kvdb_txn_begin(db, &a));
    CHECK_STATUS(kvdb_txn_get(a, KEY("s/new"), &val, &vlen), KVDB_NOT_FOUND);
    CHECK_OK(kvdb_txn_put(a, KEY("s/other"), KEY("")));
    CHECK_OK(kvdb_put(db, KEY("s/new"), KEY("x")));
    CHECK_STATUS(kvdb_txn_commit(a), KVDB_CONFLICT);
    CHECK_OK(kvdb_txn_begin(db, &a));
    CHECK_OK(kvdb_txn_put(a, KEY("s/never"), KEY("")));
    kvdb_txn_rollback(a);
    kvdb_txn_rollback(NULL);
    CHECK_STATUS(kvdb_exists(db, KEY("s/never")), KVDB_NOT_FOUND);

    /* Bad arguments. */
    CHECK_STATUS(kvdb_txn_begin(NULL, &a), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_txn_begin(db, NULL), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_txn_commit(NULL), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_txn_put(NULL, KEY("k"), KEY("v")), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_txn_get(NULL, KEY("k"), &val, &vlen), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_txn_iter_new(NULL, &it), KVDB_INVALID_ARGUMENT);
    CHECK_OK(kvdb_txn_begin(db, &a));
    CHECK_STATUS(kvdb_txn_put(a, NULL, 1, KEY("v")), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_txn_get(a, KEY("k"), NULL, &vlen), KVDB_INVALID_ARGUMENT);
    unsigned char big[65537] = {0};
    CHECK_STATUS(kvdb_txn_put(a, big, sizeof big, KEY("v")), KVDB_TOO_LARGE);
    CHECK_OK(kvdb_txn_iter_new(a, &it));
    kvdb_iter_seek(it, KEY("s/"));
    CHECK(kvdb_iter_valid(it));
    kvdb_iter_free(it);
    CHECK_OK(kvdb_txn_commit(a)); /* read-only: no validation */
}

int main(int argc, char **argv) {
    if (argc > 2) transfers = atoi(argv[2]);
    const char *path = argc > 1 ? argv[1] : NULL;
    int durable = path && strcmp(path, ":memory:") != 0;
    CHECK_OK(kvdb_open(path, NULL, &db));
    semantics();
    bank();
    run_helper();
    /* A transaction outliving its database gets errors, and frees safely. */
    kvdb_txn_t *t;
    CHECK_OK(kvdb_txn_begin(db, &t));
    kvdb_txn_t *t2;
    CHECK_OK(kvdb_txn_begin(db, &t2));
    kvdb_iter_t *it;
    CHECK_OK(kvdb_txn_iter_new(t, &it));
    CHECK_OK(kvdb_close(db));
    void *val;
    size_t vlen;
    CHECK_STATUS(kvdb_txn_get(t, KEY("acct/001"), &val, &vlen), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_txn_put(t, KEY("k"), KEY("v")), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_txn_savepoint(t), KVDB_OK);
    CHECK_STATUS(kvdb_txn_rollback_to_savepoint(t), KVDB_INVALID_ARGUMENT);
    kvdb_iter_seek_to_first(it); /* keeps reading its view, like any iterator */
    CHECK(kvdb_iter_valid(it));
    kvdb_iter_free(it);
    CHECK_STATUS(kvdb_txn_commit(t), KVDB_INVALID_ARGUMENT);
    kvdb_txn_rollback(t2);
    if (durable) {
        /* Reopened, the total is unchanged. */
        CHECK_OK(kvdb_open(path, NULL, &db));
        CHECK_OK(kvdb_iter_new_prefix(db, NULL, KEY("acct/"), &it));
        int n;
        CHECK(sum_iter(it, &n) == (long)ACCOUNTS * OPENING && n == ACCOUNTS);
        kvdb_iter_free(it);
        CHECK_OK(kvdb_close(db));
    }
    FINISH();
}
