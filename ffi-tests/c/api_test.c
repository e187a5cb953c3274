/* Every function of the kvdb C API, with its documented behaviour on good
 * and bad input: NULL handles, NULL buffers with non-zero lengths, oversized
 * keys and values, TTL 0, bad modes, short buffers, error detail. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"

#define KEY(s) (s), strlen(s)

static void sleep_ms(long ms) {
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

static int last_error_contains(const char *needle) {
    char buf[512];
    size_t n = kvdb_last_error(buf, sizeof buf);
    return n > 0 && strstr(buf, needle) != NULL;
}

static void test_version_and_messages(void) {
    char expected[64];
    snprintf(expected, sizeof expected, "%d.%d.%d", KVDB_VERSION_MAJOR,
             KVDB_VERSION_MINOR, KVDB_VERSION_PATCH);
    CHECK(strcmp(kvdb_version(), expected) == 0);
    int codes[] = {KVDB_OK, KVDB_NOT_FOUND, KVDB_INVALID_ARGUMENT, KVDB_IO_ERROR,
                   KVDB_CORRUPTION, KVDB_CONFLICT, KVDB_EXISTS, KVDB_TOO_LARGE,
                   KVDB_BUFFER_TOO_SMALL, KVDB_LOCKED, KVDB_CONSTRAINT,
                   KVDB_INTERNAL};
    size_t n = sizeof codes / sizeof codes[0];
    for (size_t i = 0; i < n; i++) {
        CHECK(kvdb_strerror(codes[i]) != NULL);
        CHECK(strcmp(kvdb_strerror(codes[i]), "unknown status code") != 0);
        for (size_t j = 0; j < i; j++)
            CHECK(strcmp(kvdb_strerror(codes[i]), kvdb_strerror(codes[j])) != 0);
    }
    CHECK(strcmp(kvdb_strerror(-5), "unknown status code") == 0);
    CHECK(KVDB_OK == 0 && KVDB_INTERNAL == 99 && KVDB_CONSTRAINT == 10);
}

static void test_options(void) {
    kvdb_options_t *o = kvdb_options_new();
    CHECK(o != NULL);
    CHECK_OK(kvdb_options_set_sync(o, KVDB_SYNC_NEVER, 0));
    CHECK_OK(kvdb_options_set_sync(o, KVDB_SYNC_INTERVAL, 10));
    CHECK_OK(kvdb_options_set_sync(o, KVDB_SYNC_ALWAYS, 0));
    CHECK_STATUS(kvdb_options_set_sync(o, KVDB_SYNC_INTERVAL, 0), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_options_set_sync(o, 3, 0), KVDB_INVALID_ARGUMENT);
    CHECK(last_error_contains("unknown sync mode 3"));
    CHECK_STATUS(kvdb_options_set_sync(o, -1, 0), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_options_set_sync(NULL, KVDB_SYNC_NEVER, 0), KVDB_INVALID_ARGUMENT);
    CHECK_OK(kvdb_options_set_recovery_mode(o, KVDB_RECOVERY_POINT_IN_TIME));
    CHECK_STATUS(kvdb_options_set_recovery_mode(o, 7), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_options_set_recovery_mode(NULL, 0), KVDB_INVALID_ARGUMENT);
    CHECK_OK(kvdb_options_set_checkpoint_bytes(o, 0));
    CHECK_STATUS(kvdb_options_set_checkpoint_bytes(NULL, 0), KVDB_INVALID_ARGUMENT);
    CHECK_OK(kvdb_options_set_snapshots_to_keep(o, 3));
    CHECK_STATUS(kvdb_options_set_snapshots_to_keep(o, 0), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_options_set_snapshots_to_keep(NULL, 1), KVDB_INVALID_ARGUMENT);
    CHECK_OK(kvdb_options_set_background_maintenance(o, 0));
    CHECK_STATUS(kvdb_options_set_background_maintenance(NULL, 1), KVDB_INVALID_ARGUMENT);
    kvdb_t *db = NULL;
    CHECK_OK(kvdb_open(NULL, o, &db));
    kvdb_options_free(o); /* opening copied what it needed */
    CHECK_OK(kvdb_put(db, KEY("k"), KEY("v")));
    CHECK_OK(kvdb_close(db));
    kvdb_options_free(NULL);
}

static void test_open_and_close(void) {
    kvdb_t *db = NULL;
    CHECK_STATUS(kvdb_open(NULL, NULL, NULL), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_open("", NULL, &db), KVDB_INVALID_ARGUMENT);
    CHECK(db == NULL); /* out-parameters are written only on success */
    CHECK_OK(kvdb_open(":memory:", NULL, &db));
    CHECK(db != NULL);
    CHECK_OK(kvdb_sync(db));
    CHECK_OK(kvdb_checkpoint(db)); /* a no-op in memory */
    CHECK_OK(kvdb_collect_garbage(db));
    CHECK_OK(kvdb_close(db));
    CHECK_OK(kvdb_close(NULL));
    CHECK_STATUS(kvdb_sync(NULL), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_checkpoint(NULL), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_collect_garbage(NULL), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_reorder(NULL), KVDB_INVALID_ARGUMENT);
}

/* Reordering moves nodes, not data: an iterator opened before it and one
 * opened after both see every key once, in order. */
static void test_reorder(void) {
    kvdb_t *db = NULL;
    CHECK_OK(kvdb_open(":memory:", NULL, &db));
    enum { N = 3000 };
    for (unsigned i = 0; i < N; i++) {
        char key[16];
        snprintf(key, sizeof key, "r%08u", (i * 7919u) % N);
        CHECK_OK(kvdb_put(db, key, strlen(key), key, strlen(key)));
    }
    kvdb_iter_t *before = NULL;
    CHECK_OK(kvdb_iter_new(db, NULL, &before));
    CHECK_OK(kvdb_reorder(db));
    CHECK_OK(kvdb_reorder(db)); /* again: nothing out of place, still fine */
    kvdb_iter_t *after = NULL;
    CHECK_OK(kvdb_iter_new(db, NULL, &after));
    kvdb_iter_t *its[2] = {before, after};
    for (int t = 0; t < 2; t++) {
        unsigned n = 0;
        for (kvdb_iter_seek_to_first(its[t]); kvdb_iter_valid(its[t]); kvdb_iter_next(its[t])) {
            const void *k = NULL;
            size_t klen = 0;
            char want[16];
            snprintf(want, sizeof want, "r%08u", n);
            CHECK_OK(kvdb_iter_key(its[t], &k, &klen));
            CHECK(klen == strlen(want) && memcmp(k, want, klen) == 0);
            n++;
        }
        CHECK(n == N);
        kvdb_iter_free(its[t]);
    }
    CHECK_OK(kvdb_close(db));
}

static void test_keys_and_values(kvdb_t *db) {
    void *val = (void *)0x1;
    size_t vlen = 12345;
    CHECK_STATUS(kvdb_get(db, KEY("absent"), &val, &vlen), KVDB_NOT_FOUND);
    CHECK(val == (void *)0x1 && vlen == 12345); /* untouched on failure */

    CHECK_OK(kvdb_put(db, KEY("user:1"), KEY("ada")));
    CHECK_OK(kvdb_get(db, KEY("user:1"), &val, &vlen));
    CHECK(vlen == 3 && memcmp(val, "ada", 3) == 0);
    kvdb_free(val);
    kvdb_free(NULL);

    /* Binary keys and values, with NUL bytes. */
    const unsigned char bkey[] = {0, 1, 2, 0};
    const unsigned char bval[] = {0xff, 0, 0xfe};
    CHECK_OK(kvdb_put(db, bkey, sizeof bkey, bval, sizeof bval));
    CHECK_OK(kvdb_get(db, bkey, sizeof bkey, &val, &vlen));
    CHECK(vlen == 3 && memcmp(val, bval, 3) == 0);
    kvdb_free(val);

    /* Empty key and value: NULL with length 0 is an empty buffer. */
    CHECK_OK(kvdb_put(db, NULL, 0, NULL, 0));
    CHECK_OK(kvdb_get(db, NULL, 0, &val, &vlen));
    CHECK(val != NULL && vlen == 0);
    kvdb_free(val);
    CHECK_OK(kvdb_exists(db, NULL, 0));
    CHECK_OK(kvdb_delete(db, NULL, 0));

    /* get_into: a buffer overlapping the key is refused, not written over it. */
    char both[16] = "user:1";
    vlen = 99;
    CHECK_STATUS(kvdb_get_into(db, both, 6, both, sizeof both, &vlen), KVDB_INVALID_ARGUMENT);
    CHECK(last_error_contains("overlaps"));
    CHECK(vlen == 99 && memcmp(both, "user:1", 6) == 0);
    CHECK_OK(kvdb_get_into(db, both, 6, both + 6, sizeof both - 6, &vlen));
    CHECK(vlen == 3 && memcmp(both + 6, "ada", 3) == 0);

    /* get_into: exact fit, too small (required size reported), size query. */
    char buf[8];
    CHECK_OK(kvdb_get_into(db, KEY("user:1"), buf, sizeof buf, &vlen));
    CHECK(vlen == 3 && memcmp(buf, "ada", 3) == 0);
    CHECK_OK(kvdb_put(db, KEY("long"), KEY("0123456789")));
    vlen = 0;
    CHECK_STATUS(kvdb_get_into(db, KEY("long"), buf, sizeof buf, &vlen), KVDB_BUFFER_TOO_SMALL);
    CHECK(vlen == 10);
    CHECK(last_error_contains("10 bytes"));
    vlen = 0;
    CHECK_STATUS(kvdb_get_into(db, KEY("long"), NULL, 0, &vlen), KVDB_BUFFER_TOO_SMALL);
    CHECK(vlen == 10);
    char exact[10];
    CHECK_OK(kvdb_get_into(db, KEY("long"), exact, sizeof exact, &vlen));
    CHECK(vlen == 10 && memcmp(exact, "0123456789", 10) == 0);
    CHECK_STATUS(kvdb_get_into(db, KEY("long"), NULL, 4, &vlen), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_get_into(db, KEY("absent"), buf, sizeof buf, &vlen), KVDB_NOT_FOUND);

    CHECK_OK(kvdb_exists(db, KEY("user:1")));
    CHECK_STATUS(kvdb_exists(db, KEY("absent")), KVDB_NOT_FOUND);
    CHECK_OK(kvdb_delete(db, KEY("user:1")));
    CHECK_STATUS(kvdb_delete(db, KEY("user:1")), KVDB_NOT_FOUND);
    CHECK_STATUS(kvdb_get(db, KEY("user:1"), &val, &vlen), KVDB_NOT_FOUND);
}

static void test_bad_arguments(kvdb_t *db) {
    void *val;
    size_t vlen;
    int64_t n;
    /* NULL handle. */
    CHECK_STATUS(kvdb_put(NULL, KEY("k"), KEY("v")), KVDB_INVALID_ARGUMENT);
    CHECK(last_error_contains("kvdb_put: db is NULL"));
    CHECK_STATUS(kvdb_put_ttl(NULL, KEY("k"), KEY("v"), 10), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_get(NULL, KEY("k"), &val, &vlen), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_get_into(NULL, KEY("k"), NULL, 0, &vlen), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_delete(NULL, KEY("k")), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_exists(NULL, KEY("k")), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_ttl(NULL, KEY("k"), &n), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_expire(NULL, KEY("k"), 10), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_persist(NULL, KEY("k")), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_put_if_absent(NULL, KEY("k"), KEY("v")), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_put_if_absent_ttl(NULL, KEY("k"), KEY("v"), 5), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_compare_and_swap(NULL, KEY("k"), KEY("a"), KEY("b")), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_increment(NULL, KEY("k"), 1, &n), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_write(NULL, NULL), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_stats(NULL, NULL), KVDB_INVALID_ARGUMENT);

    /* NULL buffer with a non-zero length, on every entry point taking one. */
    CHECK_STATUS(kvdb_put(db, NULL, 3, KEY("v")), KVDB_INVALID_ARGUMENT);
    CHECK(last_error_contains("key is NULL but its length is 3"));
    CHECK_STATUS(kvdb_put(db, KEY("k"), NULL, 1), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_put_ttl(db, NULL, 1, KEY("v"), 10), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_get(db, NULL, 2, &val, &vlen), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_get_into(db, NULL, 2, NULL, 0, &vlen), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_delete(db, NULL, 2), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_exists(db, NULL, 2), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_ttl(db, NULL, 2, &n), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_expire(db, NULL, 2, 10), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_persist(db, NULL, 2), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_put_if_absent(db, KEY("k"), NULL, 2), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_compare_and_swap(db, KEY("k"), NULL, 2, KEY("b")), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_increment(db, NULL, 2, 1, &n), KVDB_INVALID_ARGUMENT);

    /* NULL out-parameters. */
    CHECK_STATUS(kvdb_get(db, KEY("k"), NULL, &vlen), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_get(db, KEY("k"), &val, NULL), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_get_into(db, KEY("k"), NULL, 0, NULL), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_ttl(db, KEY("k"), NULL), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_stats(db, NULL), KVDB_INVALID_ARGUMENT);

    /* Oversized keys and values: 65,536-byte keys are fine, one more is not. */
    size_t max_key = 65536;
    unsigned char *big_key = calloc(max_key + 1, 1);
    CHECK_OK(kvdb_put(db, big_key, max_key, KEY("edge")));
    CHECK_OK(kvdb_get(db, big_key, max_key, &val, &vlen));
    kvdb_free(val);
    CHECK_STATUS(kvdb_put(db, big_key, max_key + 1, KEY("v")), KVDB_TOO_LARGE);
    CHECK(last_error_contains("65537"));
    CHECK_STATUS(kvdb_get(db, big_key, max_key + 1, &val, &vlen), KVDB_TOO_LARGE);
    CHECK_STATUS(kvdb_delete(db, big_key, max_key + 1), KVDB_TOO_LARGE);
    CHECK_STATUS(kvdb_exists(db, big_key, max_key + 1), KVDB_TOO_LARGE);
    CHECK_STATUS(kvdb_increment(db, big_key, max_key + 1, 1, &n), KVDB_TOO_LARGE);
    CHECK_STATUS(kvdb_put_if_absent(db, big_key, max_key + 1, KEY("v")), KVDB_TOO_LARGE);
    CHECK_OK(kvdb_delete(db, big_key, max_key));
    free(big_key);
    size_t max_value = (size_t)256 * 1024 * 1024;
    /* Never touched: the size is refused before anything is read. */
    unsigned char *big_value = malloc(max_value + 1);
    CHECK(big_value != NULL);
    CHECK_STATUS(kvdb_put(db, KEY("k"), big_value, max_value + 1), KVDB_TOO_LARGE);
    CHECK(last_error_contains("268435457"));
    CHECK_STATUS(kvdb_put_ttl(db, KEY("k"), big_value, max_value + 1, 10), KVDB_TOO_LARGE);
    CHECK_STATUS(kvdb_put_if_absent(db, KEY("k"), big_value, max_value + 1), KVDB_TOO_LARGE);
    CHECK_STATUS(kvdb_compare_and_swap(db, KEY("k"), KEY("a"), big_value, max_value + 1), KVDB_TOO_LARGE);
    kvdb_batch_t *b = kvdb_batch_new();
    CHECK_STATUS(kvdb_batch_put(b, KEY("k"), big_value, max_value + 1), KVDB_TOO_LARGE);
    CHECK(kvdb_batch_count(b) == 0);
    kvdb_batch_free(b);
    free(big_value);

    /* TTL 0. */
    CHECK_STATUS(kvdb_put_ttl(db, KEY("k"), KEY("v"), 0), KVDB_INVALID_ARGUMENT);
    CHECK(last_error_contains("ttl_ms"));
    CHECK_STATUS(kvdb_put_if_absent_ttl(db, KEY("k"), KEY("v"), 0), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_get(db, KEY("k"), &val, &vlen), KVDB_NOT_FOUND);
}

static void test_ttl(kvdb_t *db) {
    int64_t left = 0;
    CHECK_OK(kvdb_put_ttl(db, KEY("session"), KEY("token"), 60000));
    CHECK_OK(kvdb_ttl(db, KEY("session"), &left));
    CHECK(left > 59000 && left <= 60000);
    CHECK_OK(kvdb_put(db, KEY("forever"), KEY("x")));
    CHECK_OK(kvdb_ttl(db, KEY("forever"), &left));
    CHECK(left == -1);
    CHECK_STATUS(kvdb_ttl(db, KEY("nothing"), &left), KVDB_NOT_FOUND);
    CHECK_OK(kvdb_expire(db, KEY("forever"), 5000));
    CHECK_OK(kvdb_ttl(db, KEY("forever"), &left));
    CHECK(left > 4000 && left <= 5000);
    CHECK_OK(kvdb_persist(db, KEY("forever")));
    CHECK_OK(kvdb_ttl(db, KEY("forever"), &left));
    CHECK(left == -1);
    CHECK_OK(kvdb_persist(db, KEY("forever"))); /* no TTL: still OK */
    CHECK_STATUS(kvdb_expire(db, KEY("nothing"), 10), KVDB_NOT_FOUND);
    CHECK_STATUS(kvdb_persist(db, KEY("nothing")), KVDB_NOT_FOUND);
    CHECK_STATUS(kvdb_expire(db, KEY("forever"), 0), KVDB_INVALID_ARGUMENT);

    CHECK_OK(kvdb_put_ttl(db, KEY("brief"), KEY("x"), 30));
    CHECK_OK(kvdb_exists(db, KEY("brief")));
    sleep_ms(80);
    CHECK_STATUS(kvdb_exists(db, KEY("brief")), KVDB_NOT_FOUND);
    CHECK_STATUS(kvdb_ttl(db, KEY("brief"), &left), KVDB_NOT_FOUND);
}

static void test_atomic_operations(kvdb_t *db) {
    void *val;
    size_t vlen;
    int64_t n = 0;
    CHECK_OK(kvdb_put_if_absent(db, KEY("lock"), KEY("owner-a")));
    CHECK_STATUS(kvdb_put_if_absent(db, KEY("lock"), KEY("owner-b")), KVDB_EXISTS);
    CHECK_OK(kvdb_get(db, KEY("lock"), &val, &vlen));
    CHECK(vlen == 7 && memcmp(val, "owner-a", 7) == 0);
    kvdb_free(val);
    CHECK_OK(kvdb_put_if_absent_ttl(db, KEY("lease"), KEY("x"), 30));
    CHECK_STATUS(kvdb_put_if_absent_ttl(db, KEY("lease"), KEY("y"), 30), KVDB_EXISTS);
    sleep_ms(80);
    CHECK_OK(kvdb_put_if_absent_ttl(db, KEY("lease"), KEY("y"), 30000));

    CHECK_STATUS(kvdb_compare_and_swap(db, KEY("cas"), KEY("a"), KEY("b")), KVDB_NOT_FOUND);
    CHECK_OK(kvdb_put(db, KEY("cas"), KEY("a")));
    CHECK_STATUS(kvdb_compare_and_swap(db, KEY("cas"), KEY("x"), KEY("b")), KVDB_CONFLICT);
    CHECK_OK(kvdb_compare_and_swap(db, KEY("cas"), KEY("a"), KEY("b")));
    CHECK_OK(kvdb_get(db, KEY("cas"), &val, &vlen));
    CHECK(vlen == 1 && memcmp(val, "b", 1) == 0);
    kvdb_free(val);

    CHECK_OK(kvdb_increment(db, KEY("counter"), 5, &n));
    CHECK(n == 5);
    CHECK_OK(kvdb_increment(db, KEY("counter"), -7, &n));
    CHECK(n == -2);
    CHECK_OK(kvdb_increment(db, KEY("counter"), 2, NULL));
    CHECK_OK(kvdb_get(db, KEY("counter"), &val, &vlen));
    CHECK(vlen == 1 && memcmp(val, "0", 1) == 0);
    kvdb_free(val);
    CHECK_STATUS(kvdb_increment(db, KEY("cas"), 1, &n), KVDB_INVALID_ARGUMENT);
    CHECK(last_error_contains("integer"));
    CHECK_OK(kvdb_put(db, KEY("max"), KEY("9223372036854775807")));
    n = 42;
    CHECK_STATUS(kvdb_increment(db, KEY("max"), 1, &n), KVDB_INVALID_ARGUMENT);
    CHECK(n == 42);
    CHECK(last_error_contains("overflow"));
}

static void test_batches(kvdb_t *db) {
    kvdb_batch_t *b = kvdb_batch_new();
    CHECK(b != NULL);
    CHECK(kvdb_batch_count(b) == 0);
    CHECK_OK(kvdb_put(db, KEY("batch:old"), KEY("x")));
    CHECK_OK(kvdb_batch_put(b, KEY("batch:a"), KEY("1")));
    CHECK_OK(kvdb_batch_put(b, KEY("batch:a"), KEY("2")));
    CHECK_OK(kvdb_batch_put_ttl(b, KEY("batch:t"), KEY("t"), 60000));
    CHECK_OK(kvdb_batch_delete(b, KEY("batch:old")));
    CHECK(kvdb_batch_count(b) == 4);
    CHECK_STATUS(kvdb_batch_put_ttl(b, KEY("k"), KEY("v"), 0), KVDB_INVALID_ARGUMENT);
    /* A TTL past the documented limit is refused where it is given, as by
     * kvdb_put_ttl, not later by kvdb_write. */
    CHECK_STATUS(kvdb_batch_put_ttl(b, KEY("k"), KEY("v"), UINT64_MAX), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_batch_put_ttl(b, KEY("k"), KEY("v"), KVDB_MAX_TTL_MS + 1),
                 KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_put_ttl(db, KEY("k"), KEY("v"), KVDB_MAX_TTL_MS + 1), KVDB_INVALID_ARGUMENT);
    unsigned char big[65537] = {0};
    CHECK_STATUS(kvdb_batch_put(b, big, sizeof big, KEY("v")), KVDB_TOO_LARGE);
    CHECK_STATUS(kvdb_batch_delete(b, big, sizeof big), KVDB_TOO_LARGE);
    CHECK_STATUS(kvdb_batch_put(b, NULL, 1, KEY("v")), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_batch_delete(b, NULL, 1), KVDB_INVALID_ARGUMENT);
    CHECK(kvdb_batch_count(b) == 4); /* rejected operations are not added */
    CHECK_STATUS(kvdb_batch_put(NULL, KEY("k"), KEY("v")), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_batch_put_ttl(NULL, KEY("k"), KEY("v"), 1), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_batch_delete(NULL, KEY("k")), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_write(db, NULL), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_write(NULL, b), KVDB_INVALID_ARGUMENT);
    CHECK_OK(kvdb_write(db, b));
    char buf[8];
    size_t vlen = 0;
    CHECK_OK(kvdb_get_into(db, KEY("batch:a"), buf, sizeof buf, &vlen));
    CHECK(vlen == 1 && buf[0] == '2'); /* the later write wins */
    CHECK_STATUS(kvdb_exists(db, KEY("batch:old")), KVDB_NOT_FOUND);
    int64_t left;
    CHECK_OK(kvdb_ttl(db, KEY("batch:t"), &left));
    CHECK(left > 0);
    /* The batch is still the caller's: clear and reuse it. */
    kvdb_batch_clear(b);
    CHECK(kvdb_batch_count(b) == 0);
    CHECK_OK(kvdb_batch_put(b, KEY("batch:b"), KEY("3")));
    CHECK_OK(kvdb_write(db, b));
    CHECK_OK(kvdb_exists(db, KEY("batch:b")));
    kvdb_batch_clear(NULL);
    CHECK(kvdb_batch_count(NULL) == 0);
    kvdb_batch_free(b);
    kvdb_batch_free(NULL);
}

static void test_snapshots(kvdb_t *db) {
    kvdb_snapshot_t *s = NULL;
    void *val;
    size_t vlen;
    CHECK_STATUS(kvdb_snapshot_new(db, NULL), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_snapshot_new(NULL, &s), KVDB_INVALID_ARGUMENT);
    CHECK_OK(kvdb_put(db, KEY("snap:k"), KEY("before")));
    CHECK_OK(kvdb_snapshot_new(db, &s));
    CHECK_OK(kvdb_put(db, KEY("snap:k"), KEY("after")));
    CHECK_OK(kvdb_put(db, KEY("snap:new"), KEY("x")));
    CHECK_OK(kvdb_snapshot_get(s, KEY("snap:k"), &val, &vlen));
    CHECK(vlen == 6 && memcmp(val, "before", 6) == 0);
    kvdb_free(val);
    CHECK_STATUS(kvdb_snapshot_get(s, KEY("snap:new"), &val, &vlen), KVDB_NOT_FOUND);
    CHECK_STATUS(kvdb_snapshot_get(NULL, KEY("k"), &val, &vlen), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_snapshot_get(s, NULL, 1, &val, &vlen), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_snapshot_get(s, KEY("snap:k"), NULL, &vlen), KVDB_INVALID_ARGUMENT);
    /* The snapshot's sequence number: the two writes after it are the next
     * two sequence numbers, which a newer snapshot reads at. */
    uint64_t seq = 0, later = 0;
    CHECK_OK(kvdb_snapshot_seq(s, &seq));
    CHECK(seq > 0);
    kvdb_snapshot_t *s2 = NULL;
    CHECK_OK(kvdb_snapshot_new(db, &s2));
    CHECK_OK(kvdb_snapshot_seq(s2, &later));
    CHECK(later == seq + 2);
    CHECK_STATUS(kvdb_snapshot_seq(NULL, &seq), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_snapshot_seq(s, NULL), KVDB_INVALID_ARGUMENT);
    kvdb_snapshot_free(s2);
    kvdb_snapshot_free(s);
    kvdb_snapshot_free(NULL);
}

static size_t count_forward(kvdb_iter_t *it) {
    size_t n = 0;
    for (kvdb_iter_seek_to_first(it); kvdb_iter_valid(it); kvdb_iter_next(it)) n++;
    return n;
}

static void test_iterators(kvdb_t *db) {
    const char *keys[] = {"it:a", "it:b", "it:c", "it:d"};
    for (int i = 0; i < 4; i++) CHECK_OK(kvdb_put(db, KEY(keys[i]), KEY(keys[i])));
    kvdb_snapshot_t *s;
    CHECK_OK(kvdb_snapshot_new(db, &s));
    CHECK_OK(kvdb_put(db, KEY("it:e"), KEY("later")));
    CHECK_OK(kvdb_delete(db, KEY("it:b")));

    kvdb_iter_t *it = NULL;
    CHECK_STATUS(kvdb_iter_new(db, s, NULL), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_iter_new(NULL, s, &it), KVDB_INVALID_ARGUMENT);
    CHECK_OK(kvdb_iter_new_prefix(db, s, KEY("it:"), &it));
    CHECK(!kvdb_iter_valid(it)); /* not positioned before a seek */
    const void *k;
    size_t klen;
    CHECK_STATUS(kvdb_iter_key(it, &k, &klen), KVDB_NOT_FOUND);
    CHECK(count_forward(it) == 4); /* the snapshot's view: no it:e, it:b kept */
    kvdb_iter_seek_to_first(it);
    CHECK_OK(kvdb_iter_key(it, &k, &klen));
    CHECK(klen == 4 && memcmp(k, "it:a", 4) == 0);
    const void *v;
    size_t vlen;
    CHECK_OK(kvdb_iter_value(it, &v, &vlen));
    CHECK(vlen == 4 && memcmp(v, "it:a", 4) == 0);
    kvdb_iter_seek(it, KEY("it:bb"));
    CHECK_OK(kvdb_iter_key(it, &k, &klen));
    CHECK(memcmp(k, "it:c", 4) == 0);
    kvdb_iter_prev(it);
    CHECK_OK(kvdb_iter_key(it, &k, &klen));
    CHECK(memcmp(k, "it:b", 4) == 0);
    kvdb_iter_seek_for_prev(it, KEY("it:cc"));
    CHECK_OK(kvdb_iter_key(it, &k, &klen));
    CHECK(memcmp(k, "it:c", 4) == 0);
    kvdb_iter_seek_to_last(it);
    CHECK_OK(kvdb_iter_key(it, &k, &klen));
    CHECK(memcmp(k, "it:d", 4) == 0);
    kvdb_iter_next(it);
    CHECK(!kvdb_iter_valid(it));
    kvdb_iter_next(it); /* a no-op on an invalid iterator */
    CHECK(!kvdb_iter_valid(it));
    CHECK_STATUS(kvdb_iter_value(it, &v, &vlen), KVDB_NOT_FOUND);
    kvdb_iter_seek_to_first(it);
    kvdb_iter_seek(it, NULL, 3); /* misuse: recorded, iterator invalid */
    CHECK(!kvdb_iter_valid(it));
    CHECK(last_error_contains("kvdb_iter_seek: key is NULL"));
    CHECK_STATUS(kvdb_iter_key(it, NULL, &klen), KVDB_INVALID_ARGUMENT);
    kvdb_iter_free(it);

    /* A fresh view of the database as it is now, and the snapshot freed first. */
    CHECK_OK(kvdb_iter_new(db, NULL, &it));
    kvdb_snapshot_free(s);
    size_t total = count_forward(it);
    kvdb_iter_seek(it, KEY("it:"));
    size_t prefixed = 0;
    while (kvdb_iter_valid(it)) {
        CHECK_OK(kvdb_iter_key(it, &k, &klen));
        if (klen < 3 || memcmp(k, "it:", 3) != 0) break;
        prefixed++;
        kvdb_iter_next(it);
    }
    CHECK(prefixed == 4); /* it:a, it:c, it:d, it:e */
    CHECK(total > prefixed);
    size_t backward = 0;
    for (kvdb_iter_seek_to_last(it); kvdb_iter_valid(it); kvdb_iter_prev(it)) backward++;
    CHECK(backward == total);
    kvdb_iter_free(it);

    /* NULL iterators: nothing happens, nothing crashes. */
    CHECK(!kvdb_iter_valid(NULL));
    kvdb_iter_seek_to_first(NULL);
    kvdb_iter_seek_to_last(NULL);
    kvdb_iter_seek(NULL, KEY("x"));
    kvdb_iter_seek_for_prev(NULL, KEY("x"));
    kvdb_iter_next(NULL);
    kvdb_iter_prev(NULL);
    CHECK(last_error_contains("iterator is NULL"));
    CHECK_STATUS(kvdb_iter_key(NULL, &k, &klen), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_iter_value(NULL, &v, &vlen), KVDB_INVALID_ARGUMENT);
    kvdb_iter_free(NULL);
}

/* Checks that `pair` is the pair `stepped` stands on. */
static void pair_matches_step(const kvdb_pair_t *pair, kvdb_iter_t *stepped) {
    const void *k, *v;
    size_t klen, vlen;
    CHECK(kvdb_iter_valid(stepped));
    CHECK_OK(kvdb_iter_key(stepped, &k, &klen));
    CHECK_OK(kvdb_iter_value(stepped, &v, &vlen));
    CHECK(pair->klen == klen && memcmp(pair->key, k, klen) == 0);
    CHECK(pair->vlen == vlen && (vlen == 0 || memcmp(pair->val, v, vlen) == 0));
}

/* Reads every pair from the iterator's position on, in batches of at most
 * `max` pairs through a `cap`-byte buffer, and checks each against a step
 * by step walk of a second iterator over the same range. Returns the pairs
 * read. */
static size_t batches_match_steps(kvdb_iter_t *batched, kvdb_iter_t *stepped, size_t max, size_t cap) {
    kvdb_pair_t pairs[8];
    unsigned char buf[256];
    size_t total = 0, n = 1;
    while (n > 0) {
        CHECK_OK(kvdb_iter_next_batch(batched, pairs, max, buf, cap, &n));
        CHECK(n <= max);
        for (size_t i = 0; i < n; i++, total++) {
            pair_matches_step(&pairs[i], stepped);
            CHECK((const unsigned char *)pairs[i].key >= buf &&
                  (const unsigned char *)pairs[i].val + pairs[i].vlen <= buf + cap);
            kvdb_iter_next(stepped);
        }
    }
    CHECK(!kvdb_iter_valid(batched) && !kvdb_iter_valid(stepped));
    return total;
}

/* As `batches_match_steps`, with borrowed batches of at most `max` pairs:
 * each batch's pairs are checked after the whole batch is read, when the
 * step by step walk has moved past them. Returns the pairs read. */
static size_t borrowed_batches_match_steps(kvdb_iter_t *batched, kvdb_iter_t *stepped, size_t max,
                                           bool forward) {
    kvdb_pair_t pairs[8];
    size_t total = 0, n = 1;
    while (n > 0) {
        if (forward)
            CHECK_OK(kvdb_iter_next_batch_borrowed(batched, pairs, max, &n));
        else
            CHECK_OK(kvdb_iter_prev_batch_borrowed(batched, pairs, max, &n));
        CHECK(n <= max);
        for (size_t i = 0; i < n; i++, total++) {
            pair_matches_step(&pairs[i], stepped);
            if (forward)
                kvdb_iter_next(stepped);
            else
                kvdb_iter_prev(stepped);
        }
    }
    CHECK(!kvdb_iter_valid(batched) && !kvdb_iter_valid(stepped));
    return total;
}

static void test_iterator_batches(kvdb_t *db) {
    char key[16], val[64];
    for (int i = 0; i < 20; i++) {
        snprintf(key, sizeof key, "ib:%02d", i);
        memset(val, 'a' + i, sizeof val);
        CHECK_OK(kvdb_put(db, key, strlen(key), val, (size_t)(i * 3))); /* ib:00 holds "" */
    }
    kvdb_iter_t *a, *b;
    CHECK_OK(kvdb_iter_new_prefix(db, NULL, KEY("ib:"), &a));
    CHECK_OK(kvdb_iter_new_prefix(db, NULL, KEY("ib:"), &b));
    size_t sizes[][2] = {{8, 256}, {3, 256}, {8, 70}, {1, 62}};
    for (size_t s = 0; s < 4; s++) {
        kvdb_iter_seek_to_first(a);
        kvdb_iter_seek_to_first(b);
        CHECK(batches_match_steps(a, b, sizes[s][0], sizes[s][1]) == 20);
    }

    /* A pair larger than the buffer: nothing read, the iterator stays. */
    kvdb_pair_t pairs[4];
    unsigned char buf[64];
    size_t n = 99;
    kvdb_iter_seek(a, KEY("ib:19")); /* 5-byte key, 57-byte value */
    CHECK_STATUS(kvdb_iter_next_batch(a, pairs, 4, buf, 61, &n), KVDB_BUFFER_TOO_SMALL);
    CHECK(n == 0 && kvdb_iter_valid(a));
    CHECK(last_error_contains("62 bytes"));
    CHECK_OK(kvdb_iter_next_batch(a, pairs, 4, buf, 62, &n));
    CHECK(n == 1 && pairs[0].klen == 5 && pairs[0].vlen == 57 && !kvdb_iter_valid(a));

    /* A batch stops before the pair that does not fit; the next one starts there. */
    kvdb_iter_seek(a, KEY("ib:01")); /* pairs of 8, 11, 14 bytes */
    CHECK_OK(kvdb_iter_next_batch(a, pairs, 4, buf, 20, &n));
    CHECK(n == 2 && memcmp(pairs[1].key, "ib:02", 5) == 0);
    CHECK_OK(kvdb_iter_next_batch(a, pairs, 4, buf, 20, &n));
    CHECK(n == 1 && memcmp(pairs[0].key, "ib:03", 5) == 0);

    /* No buffer at all: only a pair with an empty key and value fits. */
    kvdb_iter_seek(a, KEY("ib:00"));
    CHECK_STATUS(kvdb_iter_next_batch(a, pairs, 4, NULL, 0, &n), KVDB_BUFFER_TOO_SMALL);
    kvdb_options_t *o = kvdb_options_new();
    kvdb_t *empty_db;
    CHECK_OK(kvdb_open(NULL, o, &empty_db));
    kvdb_options_free(o);
    CHECK_OK(kvdb_put(empty_db, "", 0, "", 0));
    kvdb_iter_t *e;
    CHECK_OK(kvdb_iter_new(empty_db, NULL, &e));
    kvdb_iter_seek_to_first(e);
    CHECK_OK(kvdb_iter_next_batch(e, pairs, 4, NULL, 0, &n));
    CHECK(n == 1 && pairs[0].klen == 0 && pairs[0].vlen == 0 && !kvdb_iter_valid(e));
    CHECK_OK(kvdb_iter_next_batch(e, pairs, 4, NULL, 0, &n));
    CHECK(n == 0);
    kvdb_iter_free(e);
    CHECK_OK(kvdb_close(empty_db));

    /* Backwards. */
    unsigned char big[256];
    kvdb_iter_seek_to_last(a);
    CHECK_OK(kvdb_iter_prev_batch(a, pairs, 4, buf, sizeof buf, &n));
    CHECK(n == 1 && memcmp(pairs[0].key, "ib:19", 5) == 0);
    CHECK_OK(kvdb_iter_prev_batch(a, pairs, 4, big, sizeof big, &n));
    CHECK(n == 4 && memcmp(pairs[0].key, "ib:18", 5) == 0 && memcmp(pairs[3].key, "ib:15", 5) == 0);
    CHECK(memcmp(pairs[3].val, "ppp", 3) == 0);

    /* Borrowed batches: the same pairs, pointing into the database, in
     * both directions and batches of every size. */
    for (size_t max = 1; max <= 8; max++) {
        kvdb_iter_seek_to_first(a);
        kvdb_iter_seek_to_first(b);
        CHECK(borrowed_batches_match_steps(a, b, max, true) == 20);
        kvdb_iter_seek_to_last(a);
        kvdb_iter_seek_to_last(b);
        CHECK(borrowed_batches_match_steps(a, b, max, false) == 20);
    }
    /* They stay readable while the iterator stands still, whatever happens
     * to their keys meanwhile. */
    kvdb_iter_seek(a, KEY("ib:10"));
    CHECK_OK(kvdb_iter_next_batch_borrowed(a, pairs, 4, &n));
    CHECK(n == 4 && kvdb_iter_valid(a));
    for (int i = 10; i < 14; i++) {
        snprintf(key, sizeof key, "ib:%02d", i);
        CHECK_OK(kvdb_delete(db, key, strlen(key)));
    }
    CHECK_OK(kvdb_collect_garbage(db));
    CHECK(memcmp(pairs[0].key, "ib:10", 5) == 0 && pairs[0].vlen == 30 && memcmp(pairs[0].val, "kkk", 3) == 0);
    CHECK(memcmp(pairs[3].key, "ib:13", 5) == 0 && pairs[3].vlen == 39 && memcmp(pairs[3].val, "nnn", 3) == 0);
    for (int i = 10; i < 14; i++) {
        snprintf(key, sizeof key, "ib:%02d", i);
        memset(val, 'a' + i, sizeof val);
        CHECK_OK(kvdb_put(db, key, strlen(key), val, (size_t)(i * 3)));
    }
    CHECK_STATUS(kvdb_iter_next_batch_borrowed(NULL, pairs, 4, &n), KVDB_INVALID_ARGUMENT);
    CHECK(n == 0);
    CHECK_STATUS(kvdb_iter_next_batch_borrowed(a, NULL, 4, &n), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_iter_next_batch_borrowed(a, pairs, 0, &n), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_iter_prev_batch_borrowed(a, pairs, 4, NULL), KVDB_INVALID_ARGUMENT);
    CHECK(kvdb_iter_valid(a));

    /* Misuse. */
    CHECK_STATUS(kvdb_iter_next_batch(NULL, pairs, 4, buf, sizeof buf, &n), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_iter_next_batch(a, pairs, 4, buf, sizeof buf, NULL), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_iter_next_batch(a, pairs, 0, buf, sizeof buf, &n), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_iter_next_batch(a, NULL, 4, buf, sizeof buf, &n), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_iter_prev_batch(a, pairs, 4, NULL, 8, &n), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_iter_next_batch(a, (kvdb_pair_t *)buf, 1, buf + 8, 16, &n), KVDB_INVALID_ARGUMENT);
    CHECK(last_error_contains("overlap"));
    kvdb_iter_free(a);
    kvdb_iter_free(b);

    /* A transaction's iterator reads its own writes in batches too. */
    kvdb_txn_t *txn;
    CHECK_OK(kvdb_txn_begin(db, &txn));
    CHECK_OK(kvdb_txn_put(txn, KEY("ib:05x"), KEY("mine")));
    CHECK_OK(kvdb_txn_delete(txn, KEY("ib:06")));
    CHECK_OK(kvdb_txn_iter_new_prefix(txn, KEY("ib:05"), &a));
    kvdb_iter_seek_to_first(a);
    CHECK_OK(kvdb_iter_next_batch(a, pairs, 4, buf, sizeof buf, &n));
    CHECK(n == 2 && pairs[1].klen == 6 && memcmp(pairs[1].val, "mine", 4) == 0);
    /* And borrowed: the iterator copies them into a buffer of its own. */
    kvdb_iter_seek_to_first(a);
    CHECK_OK(kvdb_iter_next_batch_borrowed(a, pairs, 4, &n));
    CHECK(n == 2 && !kvdb_iter_valid(a));
    CHECK(memcmp(pairs[0].key, "ib:05", 5) == 0 && pairs[0].vlen == 15 && memcmp(pairs[0].val, "fff", 3) == 0);
    CHECK(pairs[1].klen == 6 && memcmp(pairs[1].key, "ib:05x", 6) == 0);
    CHECK(pairs[1].vlen == 4 && memcmp(pairs[1].val, "mine", 4) == 0);
    kvdb_iter_seek_to_last(a);
    CHECK_OK(kvdb_iter_prev_batch_borrowed(a, pairs, 4, &n));
    CHECK(n == 2 && memcmp(pairs[0].key, "ib:05x", 6) == 0 && memcmp(pairs[1].key, "ib:05", 5) == 0);
    kvdb_iter_free(a);
    kvdb_txn_rollback(txn);
}

static void test_last_error(kvdb_t *db) {
    CHECK_STATUS(kvdb_put(db, NULL, 1, NULL, 0), KVDB_INVALID_ARGUMENT);
    char full[256];
    size_t n = kvdb_last_error(full, sizeof full);
    CHECK(n == strlen(full));
    CHECK(strcmp(full, "kvdb_put: key is NULL but its length is 1") == 0);
    char small[5];
    CHECK(kvdb_last_error(small, sizeof small) == n);
    CHECK(strcmp(small, "kvdb") == 0);
    CHECK(kvdb_last_error(NULL, 0) == n);
    /* A success does not clear it. */
    CHECK_OK(kvdb_put(db, KEY("ok"), KEY("ok")));
    CHECK(kvdb_last_error(NULL, 0) == n);
}

static void test_stats(kvdb_t *db) {
    kvdb_stats_t st;
    memset(&st, 0xff, sizeof st);
    CHECK_OK(kvdb_stats(db, &st));
    CHECK(st.live_keys > 10 && st.live_keys < 1000);
    CHECK(st.versions >= st.live_keys);
    CHECK(st.bytes > 0);
    CHECK(st.puts > 0 && st.gets > 0 && st.batches > 0);
    CHECK(st.wal_bytes == 0 && st.checkpoints == 0); /* in memory */
}

int main(void) {
    test_version_and_messages();
    test_options();
    test_open_and_close();
    test_reorder();
    kvdb_options_t *o = kvdb_options_new();
    kvdb_options_set_background_maintenance(o, 1);
    kvdb_t *db = NULL;
    CHECK_OK(kvdb_open(NULL, o, &db));
    kvdb_options_free(o);
    test_keys_and_values(db);
    test_bad_arguments(db);
    test_ttl(db);
    test_atomic_operations(db);
    test_batches(db);
    test_snapshots(db);
    test_iterators(db);
    test_iterator_batches(db);
    test_last_error(db);
    test_stats(db);
    CHECK_OK(kvdb_close(db));
    FINISH();
}
