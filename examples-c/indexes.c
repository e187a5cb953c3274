/* Secondary indexes over fixed-layout C structs: employees stored by id,
 * looked up by department (a byte range of the struct) and by salary (a
 * little-endian integer field, in numeric order), with a unique index on
 * the badge number refusing a duplicate.
 *
 *   make indexes && ./indexes
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "kvdb.h"

struct employee {
    uint32_t badge;  /* unique */
    uint32_t salary; /* stored little-endian (this machine's order) */
    char dept[8];    /* zero-padded */
    char name[16];
};

static int fail(const char *what, kvdb_status_t s) {
    char detail[256];
    kvdb_last_error(detail, sizeof detail);
    fprintf(stderr, "%s: %s (%s)\n", what, kvdb_strerror(s), detail);
    return 1;
}

static kvdb_status_t hire(kvdb_t *db, int id, uint32_t badge, uint32_t salary,
                          const char *dept, const char *name) {
    struct employee e;
    memset(&e, 0, sizeof e);
    e.badge = badge;
    e.salary = salary;
    size_t dlen = strlen(dept);
    memcpy(e.dept, dept, dlen < sizeof e.dept ? dlen : sizeof e.dept);
    strncpy(e.name, name, sizeof e.name - 1);
    char key[16];
    int n = snprintf(key, sizeof key, "emp:%03d", id);
    return kvdb_put(db, key, (size_t)n, &e, sizeof e);
}

static void print_all(kvdb_index_iter_t *it, int descending) {
    while ((descending ? kvdb_index_iter_next_back(it) : kvdb_index_iter_next(it)) == KVDB_OK) {
        const void *key, *val;
        size_t klen, vlen;
        kvdb_index_iter_key(it, &key, &klen);
        kvdb_index_iter_value(it, &val, &vlen);
        struct employee e;
        memcpy(&e, val, sizeof e);
        printf("  %.*s %-6s %-8.8s %u\n", (int)klen, (const char *)key, e.name, e.dept, e.salary);
    }
    kvdb_index_iter_free(it);
}

int main(void) {
    kvdb_t *db = NULL;
    kvdb_status_t s = kvdb_open(NULL, NULL, &db);
    if (s != KVDB_OK) return fail("open", s);

    /* Three indexes, each on a field of the struct. */
    kvdb_index_def_t *def = NULL;
    kvdb_index_def_new_value_bytes("by_dept", offsetof(struct employee, dept), 8,
                                   KVDB_INDEX_BYTES, &def);
    s = kvdb_create_index(db, def);
    kvdb_index_def_free(def);
    if (s != KVDB_OK) return fail("create by_dept", s);
    kvdb_index_def_new_value_bytes("by_salary", offsetof(struct employee, salary),
                                   sizeof(uint32_t), KVDB_INDEX_U32_LE, &def);
    s = kvdb_create_index(db, def);
    kvdb_index_def_free(def);
    if (s != KVDB_OK) return fail("create by_salary", s);
    kvdb_index_def_new_value_bytes("by_badge", offsetof(struct employee, badge),
                                   sizeof(uint32_t), KVDB_INDEX_U32_LE, &def);
    kvdb_index_def_set_unique(def);
    s = kvdb_create_index(db, def);
    kvdb_index_def_free(def);
    if (s != KVDB_OK) return fail("create by_badge", s);

    hire(db, 1, 1001, 5200, "eng", "ada");
    hire(db, 2, 1002, 980, "ops", "bob");
    hire(db, 3, 1003, 70000, "eng", "cy");
    hire(db, 4, 1004, 4100, "sales", "dee");

    char dept[8] = "eng"; /* zero-padded like the struct field */
    kvdb_index_iter_t *it = NULL;
    printf("dept eng:\n");
    kvdb_index_iter_equal(db, NULL, "by_dept", dept, sizeof dept, &it);
    print_all(it, 0);

    uint32_t lo = 1000, hi = 10000;
    printf("salary 1000..10000, highest first:\n");
    kvdb_index_iter_range(db, NULL, "by_salary", &lo, sizeof lo, &hi, sizeof hi,
                          KVDB_INDEX_UPPER_INCLUSIVE, &it);
    print_all(it, 1);

    /* The unique index refuses a second employee with badge 1002. */
    s = hire(db, 5, 1002, 100, "ops", "eve");
    printf("hire eve with badge 1002: %s\n", kvdb_strerror(s));

    uint32_t badge = 1003;
    void *key = NULL, *val = NULL;
    size_t klen = 0, vlen = 0;
    s = kvdb_index_get(db, NULL, "by_badge", &badge, sizeof badge, &key, &klen, &val, &vlen);
    if (s != KVDB_OK) return fail("get by badge", s);
    struct employee e;
    memcpy(&e, val, sizeof e);
    printf("badge 1003 is %.*s (%s)\n", (int)klen, (const char *)key, e.name);
    kvdb_free(key);
    kvdb_free(val);

    return kvdb_close(db) == KVDB_OK ? 0 : 1;
}
