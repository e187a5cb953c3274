/* A host that dlopens libkvdb.so, resolves its symbols, uses a database
 * (with its background threads running), closes it and dlcloses the
 * library, several times over. Usage: dlopen_host PATH_TO_LIBKVDB_SO DIR */
#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>
#include <string.h>

#define KVDB_CHECK_UNLINKED
#include "check.h"

typedef kvdb_status_t (*open_fn)(const char *, const kvdb_options_t *, kvdb_t **);
typedef kvdb_status_t (*close_fn)(kvdb_t *);
typedef kvdb_status_t (*put_fn)(kvdb_t *, const void *, size_t, const void *, size_t);
typedef kvdb_status_t (*get_fn)(kvdb_t *, const void *, size_t, void **, size_t *);
typedef void (*free_fn)(void *);
typedef const char *(*version_fn)(void);
typedef size_t (*last_error_fn)(char *, size_t);

static void *sym(void *lib, const char *name) {
    void *p = dlsym(lib, name);
    if (p == NULL) fprintf(stderr, "dlsym %s: %s\n", name, dlerror());
    return p;
}

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    for (int cycle = 0; cycle < 10; cycle++) {
        void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
        CHECK(lib != NULL);
        if (lib == NULL) {
            fprintf(stderr, "dlopen: %s\n", dlerror());
            break;
        }
        open_fn kv_open;
        close_fn kv_close;
        put_fn kv_put;
        get_fn kv_get;
        free_fn kv_free;
        version_fn kv_version;
        last_error_fn kv_last_error;
        /* POSIX allows converting dlsym's void * to a function pointer. */
        *(void **)&kv_open = sym(lib, "kvdb_open");
        *(void **)&kv_close = sym(lib, "kvdb_close");
        *(void **)&kv_put = sym(lib, "kvdb_put");
        *(void **)&kv_get = sym(lib, "kvdb_get");
        *(void **)&kv_free = sym(lib, "kvdb_free");
        *(void **)&kv_version = sym(lib, "kvdb_version");
        *(void **)&kv_last_error = sym(lib, "kvdb_last_error");
        CHECK(kv_open && kv_close && kv_put && kv_get && kv_free && kv_version && kv_last_error);
        CHECK(strlen(kv_version()) >= 5);
        kvdb_t *db = NULL;
        /* Alternate in-memory and persistent databases: both start threads. */
        CHECK_OK(kv_open(cycle % 2 ? argv[2] : NULL, NULL, &db));
        char key[16];
        snprintf(key, sizeof key, "cycle:%d", cycle);
        CHECK_OK(kv_put(db, key, strlen(key), "v", 1));
        void *val;
        size_t vlen;
        CHECK_OK(kv_get(db, key, strlen(key), &val, &vlen));
        CHECK(vlen == 1);
        kv_free(val);
        /* A failing call fills the thread-local error slot. */
        CHECK_STATUS(kv_put(db, NULL, 1, NULL, 0), KVDB_INVALID_ARGUMENT);
        CHECK(kv_last_error(NULL, 0) > 0);
        CHECK_OK(kv_close(db));
        CHECK(dlclose(lib) == 0);
    }
    FINISH();
}
