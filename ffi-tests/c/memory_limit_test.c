/* The memory limit through the C API: an evicting policy keeps usage within
 * the limit after every write and reports evictions, which watchers see as
 * KVDB_EVENT_EVICTED; noeviction refuses with KVDB_MEMORY_LIMIT and keeps
 * what was written; volatile-lru never evicts a key without a TTL; the limit
 * changes at run time, and lowered below what the policy may free evicts all
 * it may; building an index at the limit evicts for its entries or fails
 * with KVDB_MEMORY_LIMIT; an evicted key stays absent after reopening a
 * durable database; a close that checkpoints keeps which keys were read, so
 * an eviction after the reopen takes the others first; bad policies and
 * NULLs are refused.
 * Usage: memory_limit_test DIR (DIR must not exist). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"

#define LIMIT (256 * 1024)

static char value[256];

static void key_of(char *out, size_t size, int i) {
    snprintf(out, size, "key-%08d", i);
}

static int present_key(kvdb_t *db, const void *key, size_t klen) {
    void *val = NULL;
    size_t vlen = 0;
    kvdb_status_t s = kvdb_get(db, key, klen, &val, &vlen);
    kvdb_free(val);
    return s == KVDB_OK;
}

static int present(kvdb_t *db, int i) {
    char key[32];
    key_of(key, sizeof key, i);
    return present_key(db, key, strlen(key));
}

/* A database (in memory if `dir` is NULL) limited to LIMIT under `policy`. */
static kvdb_t *open_limited(const char *dir, int policy) {
    kvdb_options_t *opts = kvdb_options_new();
    CHECK_OK(kvdb_options_set_memory_limit(opts, LIMIT, policy));
    kvdb_t *db = NULL;
    CHECK_OK(kvdb_open(dir, opts, &db));
    kvdb_options_free(opts);
    return db;
}

static void evicting_policy_keeps_within_the_limit(void) {
    kvdb_t *db = open_limited(NULL, KVDB_EVICT_ALLKEYS_LRU);
    kvdb_watch_t *w = NULL;
    CHECK_OK(kvdb_watch_new(db, NULL, 0, KVDB_WATCH_FROM_NOW, &w));
    int over = 0;
    char key[32];
    for (int i = 0; i < 4000; i++) {
        key_of(key, sizeof key, i);
        CHECK_OK(kvdb_put(db, key, strlen(key), value, sizeof value));
        uint64_t used = 0, limit = 0;
        CHECK_OK(kvdb_memory_usage(db, &used, &limit, NULL));
        if (used > limit) over++;
    }
    CHECK(over == 0);
    uint64_t used = 0, limit = 0, evicted = 0;
    CHECK_OK(kvdb_memory_usage(db, &used, &limit, &evicted));
    CHECK(limit == LIMIT);
    CHECK(evicted > 2000);
    CHECK(used > LIMIT / 2);
    uint64_t evicted_events = 0;
    kvdb_event_t e;
    while (kvdb_watch_next(w, 0, &e) == KVDB_OK) {
        if (e.kind == KVDB_EVENT_EVICTED) {
            evicted_events++;
            CHECK(e.vlen == 0);
            /* Keys are never rewritten here: an evicted one stays absent. */
            if (present_key(db, e.key, e.klen)) over++;
        }
    }
    CHECK(evicted_events == evicted);
    CHECK(over == 0);
    /* Lowering the limit at run time evicts down to it. */
    CHECK_OK(kvdb_set_memory_limit(db, LIMIT / 2, KVDB_EVICT_ALLKEYS_RANDOM));
    CHECK_OK(kvdb_memory_usage(db, &used, &limit, &evicted));
    CHECK(limit == LIMIT / 2);
    CHECK(used <= LIMIT / 2);
    kvdb_watch_free(w);
    kvdb_close(db);
}

static void noeviction_refuses_and_keeps(void) {
    kvdb_t *db = open_limited(NULL, KVDB_EVICT_NOEVICTION);
    char key[32];
    int written = 0;
    kvdb_status_t s = KVDB_OK;
    while (written < 100000) {
        key_of(key, sizeof key, written);
        s = kvdb_put(db, key, strlen(key), value, sizeof value);
        if (s != KVDB_OK) break;
        written++;
    }
    CHECK(s == KVDB_MEMORY_LIMIT);
    CHECK(strcmp(kvdb_strerror(KVDB_MEMORY_LIMIT), "memory limit reached") == 0);
    char detail[512];
    kvdb_last_error(detail, sizeof detail);
    CHECK(strstr(detail, "memory limit") != NULL);
    CHECK(!present(db, written));
    int missing = 0;
    for (int i = 0; i < written; i++) missing += !present(db, i);
    CHECK(missing == 0);
    uint64_t evicted = 1;
    CHECK_OK(kvdb_memory_usage(db, NULL, NULL, &evicted));
    CHECK(evicted == 0);
    kvdb_close(db);
}

static void volatile_spares_keys_without_ttl(void) {
    kvdb_t *db = open_limited(NULL, KVDB_EVICT_VOLATILE_LRU);
    char key[32];
    for (int i = 0; i < 100; i++) {
        key_of(key, sizeof key, i);
        CHECK_OK(kvdb_put(db, key, strlen(key), value, sizeof value));
    }
    for (int i = 100; i < 4000; i++) {
        key_of(key, sizeof key, i);
        CHECK_OK(kvdb_put_ttl(db, key, strlen(key), value, sizeof value, 3600 * 1000));
    }
    int missing = 0;
    for (int i = 0; i < 100; i++) missing += !present(db, i);
    CHECK(missing == 0);
    uint64_t evicted = 0;
    CHECK_OK(kvdb_memory_usage(db, NULL, NULL, &evicted));
    CHECK(evicted > 2000);
    kvdb_close(db);
}

/* Lowering the limit below what volatile-lru may free evicts every key
 * with a TTL, none without, returns KVDB_OK, and leaves writes refused. */
static void lowering_below_what_the_policy_frees_evicts_all_it_may(void) {
    kvdb_t *db = NULL;
    CHECK_OK(kvdb_open(NULL, NULL, &db));
    char key[32];
    for (int i = 0; i < 400; i++) {
        key_of(key, sizeof key, i);
        if (i % 2 == 0) {
            CHECK_OK(kvdb_put_ttl(db, key, strlen(key), value, sizeof value, 3600 * 1000));
        } else {
            CHECK_OK(kvdb_put(db, key, strlen(key), value, sizeof value));
        }
    }
    uint64_t before = 0;
    CHECK_OK(kvdb_memory_usage(db, &before, NULL, NULL));
    CHECK_OK(kvdb_set_memory_limit(db, before / 4, KVDB_EVICT_VOLATILE_LRU));
    uint64_t evicted = 0;
    CHECK_OK(kvdb_memory_usage(db, NULL, NULL, &evicted));
    CHECK(evicted == 200);
    int missing = 0, kept = 0;
    for (int i = 0; i < 400; i++) {
        if (i % 2 == 0) kept += present(db, i);
        else missing += !present(db, i);
    }
    CHECK(kept == 0);
    CHECK(missing == 0);
    CHECK_STATUS(kvdb_put(db, "more", 4, "v", 1), KVDB_MEMORY_LIMIT);
    kvdb_close(db);
}

/* An index's entries are memory like a write's: building one at the limit
 * evicts to make room for them, or under noeviction fails with
 * KVDB_MEMORY_LIMIT and leaves no index. */
static void creating_an_index_makes_room_or_fails(void) {
    int policies[2] = {KVDB_EVICT_ALLKEYS_LRU, KVDB_EVICT_NOEVICTION};
    for (int p = 0; p < 2; p++) {
        kvdb_t *db = open_limited(NULL, policies[p]);
        /* Filled to the limit: until a put is refused or evicts. */
        char key[32];
        uint64_t evicted_before = 0;
        for (int i = 0; i < 100000 && evicted_before == 0; i++) {
            key_of(key, sizeof key, i);
            if (kvdb_put(db, key, strlen(key), value, sizeof value) != KVDB_OK) break;
            CHECK_OK(kvdb_memory_usage(db, NULL, NULL, &evicted_before));
        }
        kvdb_index_def_t *def = NULL;
        CHECK_OK(kvdb_index_def_new_value_bytes("head", 0, 8, KVDB_INDEX_BYTES, &def));
        kvdb_status_t s = kvdb_create_index(db, def);
        kvdb_index_def_free(def);
        char *names = NULL;
        size_t count = 99;
        CHECK_OK(kvdb_index_list(db, &names, &count));
        kvdb_free(names);
        uint64_t used = 0, limit = 0, evicted = 0;
        CHECK_OK(kvdb_memory_usage(db, &used, &limit, &evicted));
        if (policies[p] == KVDB_EVICT_NOEVICTION) {
            CHECK(s == KVDB_MEMORY_LIMIT);
            CHECK(count == 0);
            CHECK(evicted == 0);
        } else {
            CHECK(s == KVDB_OK);
            CHECK(count == 1);
            CHECK(used <= limit);
            CHECK(evicted > evicted_before);
        }
        kvdb_close(db);
    }
}

static void evictions_survive_reopening(const char *dir) {
    kvdb_t *db = open_limited(dir, KVDB_EVICT_ALLKEYS_RANDOM);
    char key[32];
    for (int i = 0; i < 3000; i++) {
        key_of(key, sizeof key, i);
        CHECK_OK(kvdb_put(db, key, strlen(key), value, sizeof value));
    }
    static char gone[3000];
    int evicted = 0;
    for (int i = 0; i < 3000; i++) {
        gone[i] = !present(db, i);
        evicted += gone[i];
    }
    CHECK(evicted > 1000);
    kvdb_close(db);
    db = open_limited(dir, KVDB_EVICT_ALLKEYS_RANDOM);
    int back = 0;
    for (int i = 0; i < 3000; i++) back += gone[i] && present(db, i);
    CHECK(back == 0);
    kvdb_close(db);
}

static void keys_read_before_a_checkpointing_close_are_kept_after_it(const char *dir) {
    kvdb_options_t *opts = kvdb_options_new();
    CHECK_OK(kvdb_options_set_memory_limit(opts, (uint64_t)1 << 40, KVDB_EVICT_ALLKEYS_LRU));
    CHECK_OK(kvdb_options_set_checkpoint_on_close(opts, 1));
    CHECK_STATUS(kvdb_options_set_checkpoint_on_close(NULL, 1), KVDB_INVALID_ARGUMENT);
    kvdb_t *db = NULL;
    CHECK_OK(kvdb_open(dir, opts, &db));
    char key[32];
    enum { N = 2000 };
    for (int i = 0; i < N; i++) {
        key_of(key, sizeof key, i);
        CHECK_OK(kvdb_put(db, key, strlen(key), value, sizeof value));
    }
    for (int i = 0; i < N; i += 2) CHECK(present(db, i));
    uint64_t used = 0;
    CHECK_OK(kvdb_memory_usage(db, &used, NULL, NULL));
    CHECK_OK(kvdb_close(db));
    CHECK_OK(kvdb_open(dir, opts, &db));
    kvdb_options_free(opts);
    kvdb_recovery_t info;
    memset(&info, 0, sizeof info);
    info.size = sizeof info;
    CHECK_OK(kvdb_recovery_info(db, &info));
    CHECK(info.snapshot_loaded && info.snapshot_entries == N && info.wal_records_applied == 0);
    /* Down to three quarters: the keys not read go first. */
    CHECK_OK(kvdb_set_memory_limit(db, used / 4 * 3, KVDB_EVICT_ALLKEYS_LRU));
    int read_held = 0, others_held = 0;
    for (int i = 0; i < N; i++) {
        if (present(db, i)) {
            if (i % 2 == 0) read_held++;
            else others_held++;
        }
    }
    int could = read_held + others_held < N / 2 ? read_held + others_held : N / 2;
    CHECK(read_held * 100 >= could * 95);
    kvdb_close(db);
}

static void misuse_is_refused(void) {
    kvdb_options_t *opts = kvdb_options_new();
    CHECK_STATUS(kvdb_options_set_memory_limit(opts, LIMIT, 8), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_options_set_memory_limit(opts, LIMIT, -1), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_options_set_memory_limit(NULL, LIMIT, 0), KVDB_INVALID_ARGUMENT);
    kvdb_t *db = NULL;
    CHECK_OK(kvdb_open(NULL, opts, &db));
    kvdb_options_free(opts);
    CHECK_STATUS(kvdb_set_memory_limit(db, LIMIT, 99), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_set_memory_limit(NULL, LIMIT, 0), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_memory_usage(NULL, NULL, NULL, NULL), KVDB_INVALID_ARGUMENT);
    uint64_t limit = 1;
    CHECK_OK(kvdb_memory_usage(db, NULL, &limit, NULL));
    CHECK(limit == 0);
    kvdb_close(db);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: memory_limit_test DIR\n");
        return 2;
    }
    memset(value, 'v', sizeof value);
    evicting_policy_keeps_within_the_limit();
    noeviction_refuses_and_keeps();
    volatile_spares_keys_without_ttl();
    lowering_below_what_the_policy_frees_evicts_all_it_may();
    creating_an_index_makes_room_or_fails();
    evictions_survive_reopening(argv[1]);
    char history[4096];
    snprintf(history, sizeof history, "%s/history", argv[1]);
    keys_read_before_a_checkpointing_close_are_kept_after_it(history);
    misuse_is_refused();
    FINISH();
}
