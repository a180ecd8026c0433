/* eos_test.h: a minimal test harness. Each test program calls TEST_RUN(fn) for its cases and
 * returns TEST_SUMMARY(), which prints "N passed, N failed" and gives the exit code. */
#ifndef EOS_TEST_H
#define EOS_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int test_failures_in_case;
static int test_cases_passed, test_cases_failed;

#define EXPECT(cond, ...)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "  FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                      \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
            test_failures_in_case++;                                                               \
        }                                                                                          \
    } while (0)

/* |a - b| <= tol * max(1, |b|)  (relative, with an absolute floor at scale 1) */
#define EXPECT_REL(a, b, tol)                                                                      \
    do {                                                                                           \
        double a_ = (double)(a), b_ = (double)(b);                                                 \
        double d_ = fabs(a_ - b_), s_ = fabs(b_) > 1.0 ? fabs(b_) : 1.0;                           \
        EXPECT(d_ <= (tol) * s_, "%s = %.10g, %s = %.10g, rel err %.3g > %.3g", #a, a_, #b, b_,    \
               d_ / s_, (double)(tol));                                                            \
    } while (0)

#define TEST_RUN(fn)                                                                               \
    do {                                                                                           \
        test_failures_in_case = 0;                                                                 \
        fprintf(stderr, "[ RUN  ] %s\n", #fn);                                                     \
        fn();                                                                                      \
        if (test_failures_in_case) {                                                               \
            test_cases_failed++;                                                                   \
            fprintf(stderr, "[ FAIL ] %s\n", #fn);                                                 \
        } else {                                                                                   \
            test_cases_passed++;                                                                   \
            fprintf(stderr, "[  OK  ] %s\n", #fn);                                                 \
        }                                                                                          \
    } while (0)

#define TEST_SUMMARY()                                                                             \
    (printf("%d passed, %d failed\n", test_cases_passed, test_cases_failed),                      \
     test_cases_failed ? 1 : 0)

#ifdef EOS_TRAIN_H
/* Curvature probe NAME's values in a run's result, [cap_sharp, *width] (eos_curv.h). A name the
 * probe table does not have ends the test program. */
static inline const float *test_sharp(const eos_run_result *r, const char *name, int *width)
{
    int p = eos_curv_find(name);
    if (p < 0) {
        fprintf(stderr, "  FAIL: the curvature probe table has no '%s'\n", name);
        exit(1);
    }
    if (width) *width = r->sharp.width[p];
    return r->sharp.vals[p];
}
#endif

#endif
