/*
 * harness.h - the smallest test harness that says what failed.
 *
 * A test file defines TEST(name) functions and lists them in main() with
 * RUN(name). CHECK() records a failure with the expression, file and line
 * and carries on; the process exits non-zero when any check failed and
 * prints "N passed, N failed" as its last line.
 */
#ifndef CERTRAFT_TEST_HARNESS_H
#define CERTRAFT_TEST_HARNESS_H

#include <stdio.h>
#include <string.h>

static int harness_failed_checks;
static int harness_passed, harness_failed;

#define TEST(name) static void name(void)

#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond)) {                                                     \
            fprintf(stderr, "  %s:%d: CHECK failed: %s\n", __FILE__,       \
                    __LINE__, #cond);                                      \
            harness_failed_checks++;                                       \
        }                                                                  \
    } while (0)

#define CHECK_INT(got, want)                                               \
    do {                                                                   \
        long long g_ = (long long)(got), w_ = (long long)(want);           \
        if (g_ != w_) {                                                    \
            fprintf(stderr, "  %s:%d: %s: expected %lld, got %lld\n",      \
                    __FILE__, __LINE__, #got, w_, g_);                     \
            harness_failed_checks++;                                       \
        }                                                                  \
    } while (0)

#define CHECK_STR(got, want)                                               \
    do {                                                                   \
        const char *g_ = (got), *w_ = (want);                              \
        if (g_ == NULL || w_ == NULL || strcmp(g_, w_) != 0) {             \
            fprintf(stderr, "  %s:%d: %s: expected \"%s\", got \"%s\"\n",  \
                    __FILE__, __LINE__, #got, w_ ? w_ : "(null)",          \
                    g_ ? g_ : "(null)");                                   \
            harness_failed_checks++;                                       \
        }                                                                  \
    } while (0)

#define RUN(name)                                                          \
    do {                                                                   \
        int before_ = harness_failed_checks;                               \
        name();                                                            \
        if (harness_failed_checks == before_) {                            \
            harness_passed++;                                              \
            printf("ok   %s\n", #name);                                    \
        } else {                                                           \
            harness_failed++;                                              \
            printf("FAIL %s\n", #name);                                    \
        }                                                                  \
    } while (0)

#define HARNESS_DONE()                                                     \
    (printf("%d passed, %d failed\n", harness_passed, harness_failed),     \
     harness_failed == 0 ? 0 : 1)

#endif /* CERTRAFT_TEST_HARNESS_H */
