/* Money transfers in transactions: read both balances, write both, commit;
 * retry when another transaction got there first (KVDB_CONFLICT). Four
 * threads move money between five accounts; the total never changes.
 *
 *   make transfer && ./transfer
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvdb.h"

#define ACCOUNTS 5

static kvdb_t *db;

static long read_balance(kvdb_txn_t *txn, const char *name) {
    char buf[32];
    size_t len = 0;
    if (kvdb_txn_get_into(txn, name, strlen(name), buf, sizeof buf - 1, &len) != KVDB_OK) return 0;
    buf[len] = '\0';
    return strtol(buf, NULL, 10);
}

static void write_balance(kvdb_txn_t *txn, const char *name, long amount) {
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%ld", amount);
    kvdb_txn_put(txn, name, strlen(name), buf, (size_t)n);
}

/* Moves `amount` from one account to another; returns the attempts made. */
static int transfer(const char *from, const char *to, long amount) {
    for (int attempt = 1;; attempt++) {
        kvdb_txn_t *txn;
        if (kvdb_txn_begin(db, &txn) != KVDB_OK) return -1;
        long a = read_balance(txn, from), b = read_balance(txn, to);
        write_balance(txn, from, a - amount);
        write_balance(txn, to, b + amount);
        kvdb_status_t st = kvdb_txn_commit(txn); /* releases txn either way */
        if (st == KVDB_OK) return attempt;
        if (st != KVDB_CONFLICT) return -1;
        /* Someone changed a balance we read: nothing was applied; retry. */
    }
}

static const char *names[ACCOUNTS] = {"acct:ada", "acct:bob", "acct:cy", "acct:di", "acct:ed"};

static void *worker(void *arg) {
    unsigned seed = (unsigned)(size_t)arg + 1;
    for (int i = 0; i < 1000; i++) {
        int from = rand_r(&seed) % ACCOUNTS, to = (from + 1 + rand_r(&seed) % (ACCOUNTS - 1)) % ACCOUNTS;
        if (transfer(names[from], names[to], 1 + rand_r(&seed) % 10) < 0) {
            fprintf(stderr, "transfer failed\n");
            exit(1);
        }
    }
    return NULL;
}

int main(void) {
    if (kvdb_open(NULL, NULL, &db) != KVDB_OK) return 1;
    for (int i = 0; i < ACCOUNTS; i++) kvdb_put(db, names[i], strlen(names[i]), "100", 3);

    pthread_t threads[4];
    for (size_t i = 0; i < 4; i++) pthread_create(&threads[i], NULL, worker, (void *)i);
    for (int i = 0; i < 4; i++) pthread_join(threads[i], NULL);

    /* A read-only transaction sees one consistent moment. */
    kvdb_txn_t *txn;
    kvdb_txn_begin(db, &txn);
    long total = 0;
    for (int i = 0; i < ACCOUNTS; i++) {
        long b = read_balance(txn, names[i]);
        printf("%s = %ld\n", names[i], b);
        total += b;
    }
    kvdb_txn_commit(txn);
    printf("4000 transfers, total %ld\n", total);
    return kvdb_close(db) == KVDB_OK && total == 100 * ACCOUNTS ? 0 : 1;
}
