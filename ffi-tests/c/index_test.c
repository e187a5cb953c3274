/* Secondary indexes through the C API: an index on a field of fixed-layout
 * C structs (numeric order, equality, ranges both ways), a JSON field index
 * with kvdb_index_get, a callback extractor with several keys per record
 * and its context released exactly once, unique indexes refusing a put, a
 * batch and a transaction whole (KVDB_CONSTRAINT, nothing applied),
 * transaction queries seeing their own writes, snapshots, drop and list,
 * misuse, and (given a directory) indexes declared again at reopen.
 * Usage: index_test [DIR|:memory:] */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define KEY(s) (s), strlen(s)

struct person {
    uint32_t id;
    int32_t balance; /* indexed, signed, little-endian on this machine */
    char name[16];
};

static void put_person(kvdb_t *db, uint32_t id, int32_t balance, const char *name) {
    struct person p;
    memset(&p, 0, sizeof p);
    p.id = id;
    p.balance = balance;
    strncpy(p.name, name, sizeof p.name - 1);
    char key[16];
    snprintf(key, sizeof key, "p/%04u", id);
    CHECK_OK(kvdb_put(db, KEY(key), &p, sizeof p));
}

/* The ids an index iterator yields, from the front or the back. */
static int collect_ids(kvdb_index_iter_t *it, int back, uint32_t *ids, int max) {
    int n = 0;
    while ((back ? kvdb_index_iter_next_back(it) : kvdb_index_iter_next(it)) == KVDB_OK) {
        const void *v;
        size_t vlen;
        CHECK_OK(kvdb_index_iter_value(it, &v, &vlen));
        CHECK(vlen == sizeof(struct person));
        struct person p;
        memcpy(&p, v, sizeof p);
        if (n < max) ids[n] = p.id;
        n++;
    }
    return n;
}

static void struct_field_index(kvdb_t *db) {
    kvdb_index_def_t *def = NULL;
    CHECK_OK(kvdb_index_def_new_value_bytes("by_balance", offsetof(struct person, balance),
                                            sizeof(int32_t), KVDB_INDEX_I32_LE, &def));
    put_person(db, 1, 500, "ann");
    put_person(db, 2, -20, "bob");
    CHECK_OK(kvdb_create_index(db, def)); /* built over existing records */
    kvdb_index_def_free(def);
    put_person(db, 3, 70000, "cid");
    put_person(db, 4, 500, "dee");
    put_person(db, 5, -3000000, "eve");

    int32_t five_hundred = 500;
    kvdb_index_iter_t *it = NULL;
    CHECK_OK(kvdb_index_iter_equal(db, NULL, "by_balance", &five_hundred, sizeof five_hundred, &it));
    uint32_t ids[8];
    CHECK(collect_ids(it, 0, ids, 8) == 2);
    CHECK(ids[0] == 1 && ids[1] == 4);
    kvdb_index_iter_free(it);

    /* Numeric order with negatives: [-20, 70000] inclusive, both ways. */
    int32_t lo = -20, hi = 70000;
    CHECK_OK(kvdb_index_iter_range(db, NULL, "by_balance", &lo, sizeof lo, &hi, sizeof hi,
                                   KVDB_INDEX_UPPER_INCLUSIVE, &it));
    CHECK(collect_ids(it, 0, ids, 8) == 4);
    CHECK(ids[0] == 2 && ids[1] == 1 && ids[2] == 4 && ids[3] == 3);
    kvdb_index_iter_free(it);
    CHECK_OK(kvdb_index_iter_range(db, NULL, "by_balance", NULL, 0, NULL, 0, 0, &it));
    CHECK(collect_ids(it, 1, ids, 8) == 5);
    CHECK(ids[0] == 3 && ids[4] == 5);
    kvdb_index_iter_free(it);

    /* Exclusive lower bound; the accessors expose index key and key. */
    CHECK_OK(kvdb_index_iter_range(db, NULL, "by_balance", &lo, sizeof lo, NULL, 0,
                                   KVDB_INDEX_LOWER_EXCLUSIVE, &it));
    CHECK_OK(kvdb_index_iter_next(it));
    const void *k, *ik;
    size_t klen, iklen;
    CHECK_OK(kvdb_index_iter_key(it, &k, &klen));
    CHECK(klen == 6 && memcmp(k, "p/0001", 6) == 0);
    CHECK_OK(kvdb_index_iter_index_key(it, &ik, &iklen));
    /* Ordered form: big-endian with the sign bit flipped. */
    const unsigned char want[4] = {0x80, 0x00, 0x01, 0xf4};
    CHECK(iklen == 4 && memcmp(ik, want, 4) == 0);
    kvdb_index_iter_free(it);

    /* Moving a record's field moves it in the index. */
    put_person(db, 1, 1, "ann");
    CHECK_OK(kvdb_index_iter_equal(db, NULL, "by_balance", &five_hundred, sizeof five_hundred, &it));
    CHECK(collect_ids(it, 0, ids, 8) == 1 && ids[0] == 4);
    kvdb_index_iter_free(it);
    CHECK_OK(kvdb_delete(db, KEY("p/0004")));
    CHECK_OK(kvdb_index_iter_equal(db, NULL, "by_balance", &five_hundred, sizeof five_hundred, &it));
    CHECK(kvdb_index_iter_next(it) == KVDB_NOT_FOUND);
    kvdb_index_iter_free(it);
}

static void json_unique_index(kvdb_t *db) {
    kvdb_index_def_t *def = NULL;
    CHECK_OK(kvdb_index_def_new_json_field("by_email", "email", &def));
    CHECK_OK(kvdb_index_def_set_unique(def));
    CHECK_OK(kvdb_create_index(db, def));
    kvdb_index_def_free(def);
    CHECK_OK(kvdb_put(db, KEY("u/1"), KEY("{\"email\": \"a@x\", \"n\": 1}")));
    CHECK_OK(kvdb_put(db, KEY("u/2"), KEY("{\"email\": \"b@x\"}")));

    void *key = NULL, *val = NULL;
    size_t klen = 0, vlen = 0;
    CHECK_OK(kvdb_index_get(db, NULL, "by_email", KEY("\"a@x\""), &key, &klen, &val, &vlen));
    CHECK(klen == 3 && memcmp(key, "u/1", 3) == 0);
    CHECK(vlen == strlen("{\"email\": \"a@x\", \"n\": 1}"));
    kvdb_free(key);
    kvdb_free(val);
    CHECK_STATUS(kvdb_index_get(db, NULL, "by_email", KEY("\"zz@x\""), &key, &klen, &val, &vlen),
                 KVDB_NOT_FOUND);
    CHECK_STATUS(kvdb_index_get(db, NULL, "by_email", KEY("not json"), &key, &klen, &val, &vlen),
                 KVDB_INVALID_ARGUMENT);

    /* A plain put. */
    CHECK_STATUS(kvdb_put(db, KEY("u/3"), KEY("{\"email\": \"a@x\"}")), KVDB_CONSTRAINT);
    CHECK_STATUS(kvdb_exists(db, KEY("u/3")), KVDB_NOT_FOUND);
    /* A batch: nothing of it applies. */
    kvdb_batch_t *b = kvdb_batch_new();
    CHECK_OK(kvdb_batch_put(b, KEY("u/4"), KEY("{\"email\": \"d@x\"}")));
    CHECK_OK(kvdb_batch_put(b, KEY("u/5"), KEY("{\"email\": \"b@x\"}")));
    CHECK_STATUS(kvdb_write(db, b), KVDB_CONSTRAINT);
    kvdb_batch_free(b);
    CHECK_STATUS(kvdb_exists(db, KEY("u/4")), KVDB_NOT_FOUND);
    /* A transaction: refused at commit, which releases it. */
    kvdb_txn_t *t = NULL;
    CHECK_OK(kvdb_txn_begin(db, &t));
    CHECK_OK(kvdb_txn_put(t, KEY("u/6"), KEY("{\"email\": \"f@x\"}")));
    CHECK_OK(kvdb_txn_put(t, KEY("u/7"), KEY("{\"email\": \"f@x\"}")));
    CHECK_STATUS(kvdb_txn_commit(t), KVDB_CONSTRAINT);
    CHECK_STATUS(kvdb_exists(db, KEY("u/6")), KVDB_NOT_FOUND);
    /* Swapping two records' keys in one batch is allowed. */
    b = kvdb_batch_new();
    CHECK_OK(kvdb_batch_put(b, KEY("u/1"), KEY("{\"email\": \"b@x\"}")));
    CHECK_OK(kvdb_batch_put(b, KEY("u/2"), KEY("{\"email\": \"a@x\"}")));
    CHECK_OK(kvdb_write(db, b));
    kvdb_batch_free(b);
    CHECK_OK(kvdb_index_get(db, NULL, "by_email", KEY("\"a@x\""), &key, &klen, &val, &vlen));
    CHECK(klen == 3 && memcmp(key, "u/2", 3) == 0);
    kvdb_free(key);
    kvdb_free(val);
}

/* Callback: one index key per comma-separated tag of the value of each
 * "doc/" record. */
struct tag_ctx {
    int calls;
    int freed;
};

static void tags(void *ctx, const void *key, size_t klen, const void *val, size_t vlen,
                 kvdb_index_keys_t *out) {
    struct tag_ctx *c = ctx;
    __atomic_add_fetch(&c->calls, 1, __ATOMIC_RELAXED);
    if (klen < 4 || memcmp(key, "doc/", 4) != 0) return;
    const char *v = val, *end = v + vlen;
    while (v < end) {
        const char *comma = memchr(v, ',', (size_t)(end - v));
        const char *stop = comma ? comma : end;
        if (stop > v) kvdb_index_keys_add(out, v, (size_t)(stop - v));
        v = stop + 1;
    }
}

static void free_tags(void *ctx) { ((struct tag_ctx *)ctx)->freed++; }

static int count(kvdb_index_iter_t *it) {
    int n = 0;
    while (kvdb_index_iter_next(it) == KVDB_OK) n++;
    kvdb_index_iter_free(it);
    return n;
}

static void callback_index(kvdb_t *db, struct tag_ctx *ctx) {
    kvdb_index_def_t *def = NULL;
    CHECK_OK(kvdb_index_def_new_callback("by_tag", tags, ctx, free_tags, &def));
    CHECK_OK(kvdb_create_index(db, def));
    kvdb_index_def_free(def);
    CHECK(ctx->freed == 0); /* the index still holds it */
    CHECK_OK(kvdb_put(db, KEY("doc/1"), KEY("red,blue")));
    CHECK_OK(kvdb_put(db, KEY("doc/2"), KEY("blue")));
    CHECK_OK(kvdb_put(db, KEY("doc/3"), KEY("")));
    CHECK(ctx->calls >= 3);
    kvdb_index_iter_t *it = NULL;
    CHECK_OK(kvdb_index_iter_equal(db, NULL, "by_tag", KEY("blue"), &it));
    CHECK(count(it) == 2);
    CHECK_OK(kvdb_index_iter_prefix(db, NULL, "by_tag", KEY("r"), &it));
    CHECK(count(it) == 1);
    CHECK_OK(kvdb_index_iter_range(db, NULL, "by_tag", NULL, 0, NULL, 0, 0, &it));
    CHECK(count(it) == 3);

    /* A snapshot keeps its moment. */
    kvdb_snapshot_t *snap = NULL;
    CHECK_OK(kvdb_snapshot_new(db, &snap));
    CHECK_OK(kvdb_put(db, KEY("doc/2"), KEY("green")));
    CHECK_OK(kvdb_index_iter_equal(db, snap, "by_tag", KEY("blue"), &it));
    CHECK(count(it) == 2);
    CHECK_OK(kvdb_index_iter_equal(db, NULL, "by_tag", KEY("blue"), &it));
    CHECK(count(it) == 1);

    /* A transaction sees its own writes; outside, nothing changes. */
    kvdb_txn_t *t = NULL;
    CHECK_OK(kvdb_txn_begin(db, &t));
    CHECK_OK(kvdb_txn_put(t, KEY("doc/4"), KEY("blue,green")));
    CHECK_OK(kvdb_txn_delete(t, KEY("doc/1")));
    CHECK_OK(kvdb_txn_index_iter_equal(t, "by_tag", KEY("blue"), &it));
    CHECK_OK(kvdb_index_iter_next(it));
    const void *k;
    size_t klen;
    CHECK_OK(kvdb_index_iter_key(it, &k, &klen));
    CHECK(klen == 5 && memcmp(k, "doc/4", 5) == 0);
    CHECK(kvdb_index_iter_next(it) == KVDB_NOT_FOUND);
    kvdb_index_iter_free(it);
    CHECK_OK(kvdb_txn_index_iter_prefix(t, "by_tag", KEY("gr"), &it));
    CHECK(count(it) == 2);
    CHECK_OK(kvdb_txn_index_iter_range(t, "by_tag", KEY("c"), NULL, 0, 0, &it));
    CHECK(count(it) == 2); /* green (doc/2, doc/4); red left with doc/1 */
    CHECK_OK(kvdb_txn_commit(t));
    CHECK_OK(kvdb_index_iter_equal(db, NULL, "by_tag", KEY("blue"), &it));
    CHECK(count(it) == 1);

    /* Dropping: new queries fail, the snapshot still reads its moment. */
    CHECK_OK(kvdb_drop_index(db, "by_tag"));
    CHECK_STATUS(kvdb_index_iter_equal(db, NULL, "by_tag", KEY("blue"), &it),
                 KVDB_INVALID_ARGUMENT);
    kvdb_snapshot_free(snap);
}

static void listing(kvdb_t *db, const char *const *expected, size_t n) {
    char *names = NULL;
    size_t got = 99;
    CHECK_OK(kvdb_index_list(db, &names, &got));
    CHECK(got == n);
    const char *name = names;
    for (size_t i = 0; i < n && i < got; i++) {
        CHECK(strcmp(name, expected[i]) == 0);
        name += strlen(name) + 1;
    }
    kvdb_free(names);
}

static void misuse(kvdb_t *db) {
    kvdb_index_def_t *def = NULL;
    kvdb_index_iter_t *it = NULL;
    CHECK_STATUS(kvdb_index_def_new_json_field(NULL, "f", &def), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_index_def_new_json_field("x", NULL, &def), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_index_def_new_json_field("", "f", &def), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_index_def_new_json_field("x", "f", NULL), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_index_def_new_value_bytes("x", 0, 3, KVDB_INDEX_U32_LE, &def),
                 KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_index_def_new_value_bytes("x", 0, 4, 99, &def), KVDB_INVALID_ARGUMENT);
    struct tag_ctx ctx = {0, 0};
    def = NULL;
    CHECK_STATUS(kvdb_index_def_new_callback("x", NULL, &ctx, free_tags, &def),
                 KVDB_INVALID_ARGUMENT);
    CHECK(ctx.freed == 1); /* released even when refused */
    CHECK(def == NULL);
    CHECK_STATUS(kvdb_create_index(db, NULL), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_create_index(NULL, NULL), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_index_def_set_unique(NULL), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_index_keys_add(NULL, "a", 1), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_drop_index(db, "no such index"), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_drop_index(db, NULL), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_index_iter_equal(db, NULL, "no such index", KEY("a"), &it),
                 KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_index_iter_range(db, NULL, "by_balance", NULL, 0, NULL, 0, 4, &it),
                 KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_index_iter_equal(db, NULL, "by_balance", NULL, 4, &it),
                 KVDB_INVALID_ARGUMENT);
    /* The wrong width for an integer index key. */
    CHECK_STATUS(kvdb_index_iter_equal(db, NULL, "by_balance", KEY("abc"), &it),
                 KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_index_iter_next(NULL), KVDB_INVALID_ARGUMENT);
    kvdb_index_iter_free(NULL);
    kvdb_index_def_free(NULL);
    /* Accessors before the first step. */
    CHECK_OK(kvdb_index_iter_range(db, NULL, "by_balance", NULL, 0, NULL, 0, 0, &it));
    const void *p;
    size_t n;
    CHECK_STATUS(kvdb_index_iter_key(it, &p, &n), KVDB_NOT_FOUND);
    CHECK_STATUS(kvdb_index_iter_key(it, NULL, &n), KVDB_INVALID_ARGUMENT);
    kvdb_index_iter_free(it);
    /* Options refuse a second index of one name. */
    kvdb_options_t *opts = kvdb_options_new();
    CHECK_OK(kvdb_index_def_new_json_field("dup", "f", &def));
    CHECK_OK(kvdb_options_add_index(opts, def));
    CHECK_STATUS(kvdb_options_add_index(opts, def), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_options_add_index(opts, NULL), KVDB_INVALID_ARGUMENT);
    kvdb_index_def_free(def);
    kvdb_options_free(opts);
}

/* Indexes are declared again at open and rebuilt from the recovered data;
 * an undeclared index is not served. */
static void reopen(const char *dir) {
    kvdb_options_t *opts = kvdb_options_new();
    kvdb_index_def_t *def = NULL;
    CHECK_OK(kvdb_index_def_new_key_field("by_city", '/', 1, &def));
    CHECK_OK(kvdb_options_add_index(opts, def));
    kvdb_index_def_free(def);
    kvdb_t *db = NULL;
    CHECK_OK(kvdb_open(dir, opts, &db));
    CHECK_OK(kvdb_put(db, KEY("r/oslo/1"), KEY("a")));
    CHECK_OK(kvdb_checkpoint(db));
    CHECK_OK(kvdb_put(db, KEY("r/oslo/2"), KEY("b")));
    CHECK_OK(kvdb_put(db, KEY("r/rome/3"), KEY("c")));
    CHECK_OK(kvdb_close(db));

    CHECK_OK(kvdb_open(dir, opts, &db));
    kvdb_index_iter_t *it = NULL;
    CHECK_OK(kvdb_index_iter_equal(db, NULL, "by_city", KEY("oslo"), &it));
    CHECK(count(it) == 2);
    CHECK_OK(kvdb_close(db));
    kvdb_options_free(opts);

    CHECK_OK(kvdb_open(dir, NULL, &db));
    CHECK_STATUS(kvdb_index_iter_equal(db, NULL, "by_city", KEY("oslo"), &it),
                 KVDB_INVALID_ARGUMENT);
    CHECK_OK(kvdb_close(db));
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 && strcmp(argv[1], ":memory:") != 0 ? argv[1] : NULL;
    kvdb_t *db = NULL;
    CHECK_OK(kvdb_open(NULL, NULL, &db));
    struct tag_ctx ctx = {0, 0};
    struct_field_index(db);
    json_unique_index(db);
    callback_index(db, &ctx);
    const char *const names[] = {"by_balance", "by_email"};
    listing(db, names, 2);
    misuse(db);
    /* An index iterator outlives kvdb_close, like kvdb_iter_t. */
    kvdb_index_iter_t *late = NULL;
    CHECK_OK(kvdb_index_iter_range(db, NULL, "by_email", NULL, 0, NULL, 0, 0, &late));
    CHECK_OK(kvdb_close(db));
    CHECK(count(late) == 2);
    CHECK(ctx.freed == 1); /* dropped index gone and definition freed */
    if (dir) reopen(dir);
    FINISH();
}
