/* Minimal checking for the C test programs: every CHECK counts, failures are
 * printed with the library's last error, and FINISH() prints
 * "checks: N failures: M" for the Rust harness and sets the exit status. */
#ifndef KVDB_CHECK_H
#define KVDB_CHECK_H

#include <stdio.h>
#include "kvdb.h"

static int checks = 0;
static int failures = 0;

#define CHECK(cond)                                                              \
    do {                                                                         \
        checks++;                                                                \
        if (!(cond)) {                                                           \
            failures++;                                                          \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__,     \
                    #cond);                                                      \
        }                                                                        \
    } while (0)

#ifndef KVDB_CHECK_UNLINKED
#define CHECK_STATUS(call, expected)                                             \
    do {                                                                         \
        kvdb_status_t got_ = (call);                                             \
        checks++;                                                                \
        if (got_ != (expected)) {                                                \
            char detail_[512];                                                   \
            kvdb_last_error(detail_, sizeof detail_);                            \
            failures++;                                                          \
            fprintf(stderr, "%s:%d: %s returned %d (%s), expected %d (%s); "     \
                    "last error: %s\n", __FILE__, __LINE__, #call, got_,         \
                    kvdb_strerror(got_), (expected), kvdb_strerror(expected),    \
                    detail_);                                                    \
        }                                                                        \
    } while (0)
#else
/* For hosts that reach kvdb only through dlopen: no library calls here. */
#define CHECK_STATUS(call, expected)                                             \
    do {                                                                         \
        kvdb_status_t got_ = (call);                                             \
        checks++;                                                                \
        if (got_ != (expected)) {                                                \
            failures++;                                                          \
            fprintf(stderr, "%s:%d: %s returned %d, expected %d\n", __FILE__,    \
                    __LINE__, #call, got_, (expected));                          \
        }                                                                        \
    } while (0)
#endif

#define CHECK_OK(call) CHECK_STATUS(call, KVDB_OK)

#define FINISH()                                                                 \
    do {                                                                         \
        printf("checks: %d failures: %d\n", checks, failures);                  \
        return failures == 0 ? 0 : 1;                                            \
    } while (0)

#endif
