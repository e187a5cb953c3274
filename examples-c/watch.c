/* A change stream in a poll loop: a cache invalidator that hears about
 * every change to "price:" keys, in commit order, from another thread, and
 * drains each wake-up until KVDB_TIMED_OUT. kvdb_watch_fd fits any event
 * loop (poll, epoll, libuv, ...). */
#define _POSIX_C_SOURCE 200809L
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "kvdb.h"

static void *shop(void *arg) {
    kvdb_t *db = arg;
    struct timespec pause = {0, 5 * 1000000L};
    kvdb_put(db, "price:apple", 11, "1.20", 4);
    nanosleep(&pause, NULL);
    kvdb_put(db, "stock:apple", 11, "40", 2); /* not a price: not heard */
    /* Both prices change together: one batch, seen as one. */
    kvdb_batch_t *b = kvdb_batch_new();
    kvdb_batch_put(b, "price:apple", 11, "1.10", 4);
    kvdb_batch_put(b, "price:pear", 10, "2.00", 4);
    kvdb_write(db, b);
    kvdb_batch_free(b);
    nanosleep(&pause, NULL);
    kvdb_delete(db, "price:pear", 10);
    kvdb_put(db, "done", 4, "", 0);
    return NULL;
}

int main(void) {
    kvdb_t *db = NULL;
    if (kvdb_open(NULL, NULL, &db) != KVDB_OK) return 1;
    kvdb_watch_t *prices = NULL, *done = NULL;
    kvdb_watch_new(db, "price:", 6, KVDB_WATCH_FROM_NOW, &prices);
    kvdb_watch_new(db, "done", 4, KVDB_WATCH_FROM_NOW, &done);

    pthread_t writer;
    pthread_create(&writer, NULL, shop, db);

    struct pollfd fds[2] = {{.fd = kvdb_watch_fd(prices), .events = POLLIN},
                            {.fd = kvdb_watch_fd(done), .events = POLLIN}};
    int finished = 0;
    while (!finished && poll(fds, 2, 5000) > 0) {
        kvdb_event_t e;
        while (kvdb_watch_next(prices, 0, &e) == KVDB_OK) {
            if (e.kind == KVDB_EVENT_PUT)
                printf("seq %llu: %.*s = %.*s%s\n", (unsigned long long)e.seq, (int)e.klen,
                       (const char *)e.key, (int)e.vlen, (const char *)e.val,
                       e.last_in_batch ? "" : " (batch continues)");
            else
                printf("seq %llu: %.*s deleted\n", (unsigned long long)e.seq, (int)e.klen,
                       (const char *)e.key);
        }
        while (kvdb_watch_next(done, 0, &e) == KVDB_OK) finished = 1;
    }
    /* Events the poll missed would still be waiting: drain once more. */
    kvdb_event_t e;
    while (kvdb_watch_next(prices, 0, &e) == KVDB_OK)
        printf("seq %llu (late)\n", (unsigned long long)e.seq);

    pthread_join(writer, NULL);
    kvdb_watch_free(prices);
    kvdb_watch_free(done);
    kvdb_close(db);
    return 0;
}
