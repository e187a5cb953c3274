/* What recovery did reaches a C caller: after an open that cut a torn log
 * tail, kvdb_open returns KVDB_OK and kvdb_last_error says what was
 * repaired; kvdb_recovery_info and kvdb_recovery_message give the details;
 * a damaged sole snapshot is KVDB_CORRUPTION naming the file.
 * Usage: recovery_test DIR */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stddef.h>
#include <string.h>

#include "check.h"

#define KEY(s) (s), strlen(s)

/* The path of the file in `dir` whose name has `prefix` and `suffix` and
 * sorts last. */
static int newest(const char *dir, const char *prefix, const char *suffix, char *out, size_t cap) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    char best[256] = "";
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name), s = strlen(suffix);
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0 && n > s &&
            strcmp(e->d_name + n - s, suffix) == 0 && strcmp(e->d_name, best) > 0) {
            snprintf(best, sizeof best, "%s", e->d_name);
        }
    }
    closedir(d);
    if (!best[0]) return 0;
    snprintf(out, cap, "%s/%s", dir, best);
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    const char *dir = argv[1];
    kvdb_t *db;
    CHECK_OK(kvdb_open(dir, NULL, &db));
    for (int i = 0; i < 20; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%02d", i);
        CHECK_OK(kvdb_put(db, KEY(k), KEY("value")));
    }
    kvdb_recovery_t info;
    memset(&info, 0xff, sizeof info);
    info.size = sizeof info;
    CHECK_OK(kvdb_recovery_info(db, &info));
    CHECK(info.size == sizeof info && !info.torn_tail_cut && !info.snapshot_loaded);
    CHECK_OK(kvdb_close(db));

    /* A crash during a write: garbage after the last record. */
    char log[4096];
    CHECK(newest(dir, "wal-", ".log", log, sizeof log));
    /* The newest segment is the one that received the writes. */
    FILE *f = fopen(log, "ab");
    CHECK(f != NULL);
    for (int i = 0; i < 100; i++) fputc(i * 37, f);
    fclose(f);

    CHECK_OK(kvdb_open(dir, NULL, &db));
    char detail[2048];
    kvdb_last_error(detail, sizeof detail);
    CHECK(strstr(detail, "kvdb_open") != NULL);
    CHECK(strstr(detail, "cut a damaged log tail of 100 bytes") != NULL);
    memset(&info, 0, sizeof info);
    info.size = sizeof info;
    CHECK_OK(kvdb_recovery_info(db, &info));
    CHECK(info.torn_tail_cut);
    CHECK(info.torn_tail_bytes == 100);
    CHECK(info.torn_tail_offset > 0);
    CHECK(info.wal_records_applied == 20);
    CHECK(info.last_seq == 20);
    char message[2048];
    size_t n = kvdb_recovery_message(db, message, sizeof message);
    CHECK(n > 0 && n < sizeof message);
    CHECK(strstr(message, log) != NULL);
    CHECK(kvdb_recovery_message(db, NULL, 0) == n);
    CHECK(kvdb_recovery_message(NULL, message, sizeof message) == 0);

    /* An older caller's smaller struct: only what fits is written. */
    unsigned char small[offsetof(kvdb_recovery_t, snapshot_seq) + 16];
    memset(small, 0xab, sizeof small);
    kvdb_recovery_t *head = (kvdb_recovery_t *)(void *)small;
    size_t want = offsetof(kvdb_recovery_t, snapshot_seq);
    memcpy(small, &want, sizeof want);
    CHECK_OK(kvdb_recovery_info(db, head));
    CHECK(memcmp(small, &want, sizeof want) == 0);
    CHECK(small[sizeof small - 1] == 0xab);
    size_t too_small = 1;
    memcpy(small, &too_small, sizeof too_small);
    CHECK_STATUS(kvdb_recovery_info(db, head), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_recovery_info(NULL, &info), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_recovery_info(db, NULL), KVDB_INVALID_ARGUMENT);

    /* A checkpoint that keeps the log it covers (for watchers): the next
     * open loads the snapshot and does not read those segments. */
    CHECK_OK(kvdb_checkpoint(db));
    CHECK_OK(kvdb_close(db));
    CHECK_OK(kvdb_open(dir, NULL, &db));
    memset(&info, 0, sizeof info);
    info.size = sizeof info;
    CHECK_OK(kvdb_recovery_info(db, &info));
    CHECK(info.snapshot_loaded && info.snapshot_entries == 20);
    CHECK(info.wal_segments_skipped >= 1);
    CHECK(info.wal_records_applied == 0);

    /* A checkpoint that keeps no log for watchers, then the sole snapshot
     * damaged: an error naming it. */
    CHECK_OK(kvdb_close(db));
    kvdb_options_t *no_log_kept = kvdb_options_new();
    CHECK_OK(kvdb_options_set_watch_retention(no_log_kept, 1 << 20, 0));
    CHECK_OK(kvdb_open(dir, no_log_kept, &db));
    kvdb_options_free(no_log_kept);
    CHECK_OK(kvdb_checkpoint(db));
    CHECK_OK(kvdb_close(db));
    char snap[4096];
    CHECK(newest(dir, "snap-", ".kvs", snap, sizeof snap));
    f = fopen(snap, "r+b");
    CHECK(f != NULL);
    fseek(f, 100, SEEK_SET);
    fputc('X', f);
    fclose(f);
    CHECK_STATUS(kvdb_open(dir, NULL, &db), KVDB_CORRUPTION);
    kvdb_last_error(detail, sizeof detail);
    CHECK(strstr(detail, snap) != NULL);

    /* In memory there is nothing to recover. */
    CHECK_OK(kvdb_open(NULL, NULL, &db));
    memset(&info, 0xff, sizeof info);
    info.size = sizeof info;
    CHECK_OK(kvdb_recovery_info(db, &info));
    CHECK(!info.torn_tail_cut && info.last_seq == 0 && info.wal_records_applied == 0);
    CHECK(kvdb_recovery_message(db, message, sizeof message) == 0);
    CHECK_OK(kvdb_close(db));
    FINISH();
}
