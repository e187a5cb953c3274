/* Keys with a time to live: expired keys read as absent at once and are
 * reclaimed in the background. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <time.h>

#include "kvdb.h"

int main(void) {
    kvdb_t *db = NULL;
    if (kvdb_open(NULL, NULL, &db) != KVDB_OK) return 1;

    kvdb_put_ttl(db, "otp", 3, "123456", 6, 50); /* 50 ms */
    kvdb_put(db, "name", 4, "kvdb", 4);           /* no TTL */

    int64_t ms = 0;
    kvdb_ttl(db, "otp", 3, &ms);
    printf("otp: %lld ms left\n", (long long)ms);
    kvdb_ttl(db, "name", 4, &ms);
    printf("name: ttl %lld (-1 means it never expires)\n", (long long)ms);

    /* Give "name" a TTL, then take it away again. */
    kvdb_expire(db, "name", 4, 10000);
    kvdb_persist(db, "name", 4);

    struct timespec wait = {0, 80 * 1000000L};
    nanosleep(&wait, NULL);
    printf("otp after 80 ms: %s\n", kvdb_strerror(kvdb_exists(db, "otp", 3)));

    /* A lease: set only if absent, with a TTL (Redis SET NX PX). */
    kvdb_status_t s = kvdb_put_if_absent_ttl(db, "lock:job", 8, "worker-1", 8, 30000);
    printf("worker-1 takes the lock: %s\n", kvdb_strerror(s));
    s = kvdb_put_if_absent_ttl(db, "lock:job", 8, "worker-2", 8, 30000);
    printf("worker-2 takes the lock: %s\n", kvdb_strerror(s));

    kvdb_close(db);
    return 0;
}
