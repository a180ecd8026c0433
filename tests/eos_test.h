/* eos_test.h: a minimal test harness. Each test program calls TEST_RUN(fn) for its cases and
 * returns TEST_SUMMARY(), which prints "N passed, N failed" and gives the exit code. */
#ifndef EOS_TEST_H
#define EOS_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* The science tests' run: loads C's data into *D and trains one run into *R (the caller frees
 * both), then prints its lr, steps, seconds, HVPs and final loss. */
static inline void test_train(const eos_config *c, eos_data *d, eos_run_result *r)
{
    memset(d, 0, sizeof *d);
    EXPECT(eos_data_load(d, c) == 0, "data: %s", eos_error_msg());
    eos_run_result_alloc(r, c);
    double t0 = eos_now();
    EXPECT(eos_train_run(c, d, r, NULL) == 0, "train");
    long hvps = 0;
    for (int j = 0; j < r->n_sharp; j++) hvps += r->sharp.hvps[j];
    fprintf(stderr, "  lr %g (2/lr = %g): %ld steps in %.1f s, %ld HVPs, final loss %.4f\n", c->train.lr,
            2.0 / c->train.lr, r->steps, eos_now() - t0, hvps, r->final_loss);
}

/* The onset of the edge of stability in N sharpness measurements EIG against THR = 2/lr, printed
 * ten a line: *crossed is the first at or above THR, *turned the first after it that is lower than
 * the one before (the sharpness has self-stabilised), *peak the largest from the crossing until then
 * (the first overshoot), *low the lowest before the crossing; -1 when there is none. */
static inline void test_eos_onset(const float *eig, int n, double thr, int *crossed, int *turned,
                                  double *peak, double *low)
{
    *crossed = *turned = -1;
    *peak = 0;
    *low = INFINITY;
    for (int j = 0; j < n; j++) {
        fprintf(stderr, "%s%.1f", j % 10 ? " " : (j ? "\n    " : "    "), eig[j]);
        if (*crossed < 0 && eig[j] >= thr) *crossed = j;
        if (*crossed < 0) *low = fmin(*low, eig[j]);
        if (*crossed >= 0 && *turned < 0) {
            if (j > *crossed && eig[j] < eig[j - 1]) *turned = j;
            else *peak = fmax(*peak, eig[j]);
        }
    }
    fprintf(stderr, "\n");
}
#endif

#endif
