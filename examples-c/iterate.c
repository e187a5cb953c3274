/* Iteration in key order: a prefix scan, a range walk, and going backwards. */
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

    kvdb_close(db);
    return 0;
}
