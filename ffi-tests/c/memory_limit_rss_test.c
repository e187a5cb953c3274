/* The memory limit measured from outside, through the C library: the
 * process's resident memory after a long churn through a limited in-memory
 * database stays within 10% of the limit plus a fixed allowance, with the
 * change feed off. The allowance is 4 MiB on the system allocator (as in
 * the Rust test) and 12 MiB on mimalloc, whose memory the kernel backs with
 * 2 MiB pages: a few partly used huge pages count in full.
 * Usage: memory_limit_rss_test */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"

#ifndef LIMIT
#define LIMIT (32ull * 1024 * 1024)
#endif

/* VmRSS of this process in bytes, 0 if unreadable. */
static uint64_t resident_bytes(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    uint64_t kib = 0;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "VmRSS: %llu kB", (unsigned long long *)&kib) == 1) break;
    }
    fclose(f);
    return kib * 1024;
}

int main(void) {
    uint64_t before = resident_bytes();
    CHECK(before > 0);
    kvdb_options_t *opts = kvdb_options_new();
    CHECK_OK(kvdb_options_set_memory_limit(opts, LIMIT, KVDB_EVICT_ALLKEYS_LRU));
    CHECK_OK(kvdb_options_set_watch_retention(opts, 0, 0));
    kvdb_t *db;
    CHECK_OK(kvdb_open(NULL, opts, &db));
    kvdb_options_free(opts);
    static char value[512];
    memset(value, 'v', sizeof value);
    uint64_t x = 0x2545f4914f6cdd1dull, peak = 0;
    int failed = 0;
    for (int i = 0; i < 600000 && !failed; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        char key[32];
        int klen = snprintf(key, sizeof key, "key-%012llu", (unsigned long long)(x % 2000000));
        size_t len = 32 + (size_t)((x >> 40) % 480);
        failed = kvdb_put(db, key, (size_t)klen, value, len) != KVDB_OK;
        if (i % 50000 == 0) {
            uint64_t now = resident_bytes() - before;
            if (now > peak) peak = now;
        }
    }
    CHECK(!failed);
    uint64_t used = 0, limit = 0, evicted = 0;
    CHECK_OK(kvdb_memory_usage(db, &used, &limit, &evicted));
    CHECK(evicted > 50000);
    CHECK(used <= LIMIT);
    uint64_t grown = resident_bytes() - before;
    if (peak > grown) grown = peak;
    uint64_t fixed = (strcmp(kvdb_allocator(), "mimalloc") == 0 ? 12ull : 4ull) * 1024 * 1024;
    uint64_t allowed = LIMIT + LIMIT / 10 + fixed;
    printf("allocator %s: resident growth %.1f MiB, limit %.1f MiB, allowed %.1f MiB\n",
           kvdb_allocator(), grown / 1048576.0, LIMIT / 1048576.0, allowed / 1048576.0);
    CHECK(grown <= allowed);
    CHECK_OK(kvdb_close(db));
    FINISH();
}
