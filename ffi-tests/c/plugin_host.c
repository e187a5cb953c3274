/* Loads a plugin that links libkvdb with dlopen, calls it, unloads it,
 * several times. Usage: plugin_host PATH_TO_PLUGIN_SO DIR */
#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>

#define KVDB_CHECK_UNLINKED
#include "check.h"

typedef long long (*run_fn)(const char *);

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    for (int cycle = 1; cycle <= 5; cycle++) {
        void *plugin = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
        CHECK(plugin != NULL);
        if (plugin == NULL) {
            fprintf(stderr, "dlopen: %s\n", dlerror());
            break;
        }
        run_fn run;
        *(void **)&run = dlsym(plugin, "plugin_run");
        CHECK(run != NULL);
        CHECK(run(argv[2]) == cycle); /* the counter persists across loads */
        CHECK(dlclose(plugin) == 0);
    }
    FINISH();
}
