/* A database open in a process that forks: in the child every inherited
 * handle (database, snapshot, iterator) refuses with KVDB_INVALID_ARGUMENT
 * and a message naming fork(), nothing reaches the parent's files, and
 * closing and freeing the handles is safe. The parent carries on, and a
 * child can open a database of its own.
 * Usage: fork_test DIR OTHER_DIR [no-threads]
 *
 * `no-threads` opens the parent's database without background threads (no
 * maintenance, no background checkpoints). The sanitized build needs it:
 * GCC 12's AddressSanitizer allocator takes no lock around fork(), so when
 * another thread of the parent is inside malloc at the fork (a kvdb thread
 * still starting up, or collecting), the child's next allocation waits
 * forever for a lock nobody will release. glibc's malloc locks its arenas
 * around fork(), so the plain build keeps the threads. */
#define _POSIX_C_SOURCE 200809L
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <dirent.h>

#include "check.h"

#define KEY(s) (s), strlen(s)

/* Total bytes of the files in `dir`. */
static long long dir_bytes(const char *dir) {
    long long total = 0;
    DIR *d = opendir(dir);
    if (!d) return -1;
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d)) != NULL) {
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) total += st.st_size;
    }
    closedir(d);
    return total;
}

static int child(kvdb_t *db, kvdb_snapshot_t *snap, kvdb_iter_t *it, kvdb_txn_t *txn,
                 const char *other) {
    void *val;
    size_t vlen;
    char detail[512];
    CHECK_STATUS(kvdb_put(db, KEY("child"), KEY("x")), KVDB_INVALID_ARGUMENT);
    kvdb_last_error(detail, sizeof detail);
    CHECK(strstr(detail, "fork()") != NULL);
    CHECK_STATUS(kvdb_get(db, KEY("a"), &val, &vlen), KVDB_INVALID_ARGUMENT);
    /* The get into a buffer too, leaving buffer and length untouched. */
    char into[8] = "unset";
    size_t into_len = 77;
    CHECK_STATUS(kvdb_get_into(db, KEY("a"), into, sizeof into, &into_len), KVDB_INVALID_ARGUMENT);
    kvdb_last_error(detail, sizeof detail);
    CHECK(strstr(detail, "kvdb_get_into") != NULL && strstr(detail, "fork()") != NULL);
    CHECK(into_len == 77 && strcmp(into, "unset") == 0);
    CHECK_STATUS(kvdb_delete(db, KEY("a")), KVDB_INVALID_ARGUMENT);
    kvdb_batch_t *b = kvdb_batch_new();
    CHECK_OK(kvdb_batch_put(b, KEY("child"), KEY("y")));
    CHECK_STATUS(kvdb_write(db, b), KVDB_INVALID_ARGUMENT);
    kvdb_batch_free(b);
    CHECK_STATUS(kvdb_sync(db), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_checkpoint(db), KVDB_INVALID_ARGUMENT);
    kvdb_snapshot_t *s2;
    CHECK_STATUS(kvdb_snapshot_new(db, &s2), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_snapshot_get(snap, KEY("a"), &val, &vlen), KVDB_INVALID_ARGUMENT);
    kvdb_iter_seek_to_first(it);
    CHECK(!kvdb_iter_valid(it));
    const void *k;
    size_t klen;
    CHECK_STATUS(kvdb_iter_key(it, &k, &klen), KVDB_INVALID_ARGUMENT);
    kvdb_stats_t stats;
    CHECK_STATUS(kvdb_stats(db, &stats), KVDB_INVALID_ARGUMENT);
    kvdb_txn_t *t2;
    CHECK_STATUS(kvdb_txn_begin(db, &t2), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_txn_get(txn, KEY("a"), &val, &vlen), KVDB_INVALID_ARGUMENT);
    /* Its own pending write too, and into a buffer, left untouched. */
    CHECK_STATUS(kvdb_txn_get(txn, KEY("from-txn"), &val, &vlen), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_txn_get_into(txn, KEY("a"), into, sizeof into, &into_len),
                 KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_txn_get_into(txn, KEY("from-txn"), into, sizeof into, &into_len),
                 KVDB_INVALID_ARGUMENT);
    kvdb_last_error(detail, sizeof detail);
    CHECK(strstr(detail, "kvdb_txn_get_into") != NULL && strstr(detail, "fork()") != NULL);
    CHECK(into_len == 77 && strcmp(into, "unset") == 0);
    CHECK_STATUS(kvdb_txn_put(txn, KEY("child"), KEY("z")), KVDB_INVALID_ARGUMENT);
    CHECK_STATUS(kvdb_txn_commit(txn), KVDB_INVALID_ARGUMENT); /* and released */
    /* Freeing is safe and touches nothing of the parent's. */
    kvdb_iter_free(it);
    kvdb_snapshot_free(snap);
    CHECK_OK(kvdb_close(db));
    /* The child can open a database of its own. */
    kvdb_t *own;
    CHECK_OK(kvdb_open(other, NULL, &own));
    CHECK_OK(kvdb_put(own, KEY("mine"), KEY("1")));
    CHECK_OK(kvdb_exists(own, KEY("mine")));
    CHECK_OK(kvdb_close(own));
    CHECK_OK(kvdb_open(NULL, NULL, &own));
    CHECK_OK(kvdb_put(own, KEY("mine"), KEY("1")));
    CHECK_OK(kvdb_close(own));
    printf("child checks: %d failures: %d\n", checks, failures);
    return failures == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
    int threads = argc == 3;
    if (!threads && !(argc == 4 && strcmp(argv[3], "no-threads") == 0)) return 2;
    kvdb_options_t *opts = kvdb_options_new();
    CHECK(opts != NULL);
    if (!threads) {
        CHECK_OK(kvdb_options_set_background_maintenance(opts, 0));
        CHECK_OK(kvdb_options_set_checkpoint_bytes(opts, 0));
    }
    kvdb_t *db;
    CHECK_OK(kvdb_open(argv[1], opts, &db));
    kvdb_options_free(opts);
    CHECK_OK(kvdb_put(db, KEY("a"), KEY("1")));
    CHECK_OK(kvdb_put(db, KEY("b"), KEY("2")));
    kvdb_snapshot_t *snap;
    CHECK_OK(kvdb_snapshot_new(db, &snap));
    kvdb_iter_t *it;
    CHECK_OK(kvdb_iter_new(db, NULL, &it));
    kvdb_iter_seek_to_first(it);
    kvdb_txn_t *txn;
    CHECK_OK(kvdb_txn_begin(db, &txn));
    CHECK_OK(kvdb_txn_put(txn, KEY("from-txn"), KEY("1")));
    long long before = dir_bytes(argv[1]);
    CHECK(before > 0);
    fflush(stdout);
    fflush(stderr);

    pid_t pid = fork();
    if (pid == 0) _exit(child(db, snap, it, txn, argv[2]));
    CHECK(pid > 0);
    int wstatus = 0;
    CHECK(waitpid(pid, &wstatus, 0) == pid);
    CHECK(WIFEXITED(wstatus));
    CHECK(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0);

    CHECK(dir_bytes(argv[1]) == before);
    CHECK_OK(kvdb_txn_commit(txn)); /* the parent's transaction is untouched */
    /* The parent's handles work as before. */
    CHECK_OK(kvdb_put(db, KEY("c"), KEY("3")));
    CHECK(kvdb_iter_valid(it));
    void *val;
    size_t vlen;
    CHECK_OK(kvdb_snapshot_get(snap, KEY("b"), &val, &vlen));
    kvdb_free(val);
    CHECK_STATUS(kvdb_get(db, KEY("child"), &val, &vlen), KVDB_NOT_FOUND);
    kvdb_iter_free(it);
    kvdb_snapshot_free(snap);
    CHECK_OK(kvdb_close(db));
    CHECK_OK(kvdb_open(argv[1], NULL, &db));
    CHECK_STATUS(kvdb_exists(db, KEY("child")), KVDB_NOT_FOUND);
    CHECK_OK(kvdb_exists(db, KEY("c")));
    CHECK_OK(kvdb_exists(db, KEY("from-txn")));
    CHECK_OK(kvdb_close(db));
    FINISH();
}
