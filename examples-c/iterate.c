/* Iteration in key order: a prefix scan, a range walk, going backwards, and
 * many pairs per call without copying them. */
#include <stdio.h>
#include <string.h>

#include "kvdb.h"

static void print_entry(kvdb_iter_t *it) {
    const void *k, *v;
    size_t klen, vlen;
    /* Borrowed pointers: valid until the iterator moves. Do not free them. */
    kvdb_iter_key(it, &k, &klen);
    kvdb_iter_value(it, &v, &vlen);
    printf("  %.*s = %.*s\n", (int)klen, (const char *)k, (int)vlen, (const char *)v);
}

int main(void) {
    kvdb_t *db = NULL;
    if (kvdb_open(NULL, NULL, &db) != KVDB_OK) return 1;
    const char *fruit[] = {"fruit:apple", "fruit:banana", "fruit:cherry", "fruit:date"};
    for (int i = 0; i < 4; i++) kvdb_put(db, fruit[i], strlen(fruit[i]), "1", 1);
    kvdb_put(db, "veg:carrot", 10, "2", 1);

    /* Every key starting with "fruit:". NULL snapshot: a view taken now. */
    kvdb_iter_t *it = NULL;
    kvdb_iter_new_prefix(db, NULL, "fruit:", 6, &it);
    printf("prefix fruit:\n");
    for (kvdb_iter_seek_to_first(it); kvdb_iter_valid(it); kvdb_iter_next(it)) print_entry(it);
    kvdb_iter_free(it);

    /* From a key onwards over everything, and backwards from the end. */
    kvdb_iter_new(db, NULL, &it);
    printf("from fruit:c onwards:\n");
    for (kvdb_iter_seek(it, "fruit:c", 7); kvdb_iter_valid(it); kvdb_iter_next(it)) print_entry(it);
    printf("backwards:\n");
    for (kvdb_iter_seek_to_last(it); kvdb_iter_valid(it); kvdb_iter_prev(it)) print_entry(it);
    printf("last key at or before fruit:c:\n");
    kvdb_iter_seek_for_prev(it, "fruit:c", 7);
    if (kvdb_iter_valid(it)) print_entry(it);
    kvdb_iter_free(it);

    /* Many pairs per call, borrowed (valid until the iterator moves): the
     * way to read long scans. Batches of 3 here, to show more than one. */
    kvdb_iter_new(db, NULL, &it);
    printf("in batches of up to 3:\n");
    kvdb_pair_t pairs[3];
    size_t n;
    kvdb_iter_seek_to_first(it);
    while (kvdb_iter_next_batch_borrowed(it, pairs, 3, &n) == KVDB_OK && n > 0) {
        printf("  batch:");
        for (size_t i = 0; i < n; i++) printf(" %.*s", (int)pairs[i].klen, (const char *)pairs[i].key);
        printf("\n");
    }
    kvdb_iter_free(it);

    kvdb_close(db);
    return 0;
}
