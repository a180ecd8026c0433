/* test_common.c: RNG streams and deterministic reductions. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "eos_common.h"
#include "eos_rng.h"
#include "eos_test.h"

static void test_rng_skip_matches_sequential(void)
{
    eos_rng a, b;
    eos_rng_init(&a, 42, 7);
    b = a;
    for (int i = 0; i < 12345; i++) eos_rng_next(&a);
    eos_rng_skip(&b, 12345);
    EXPECT(eos_rng_next(&a) == eos_rng_next(&b), "skip-ahead differs from stepping");
}

static void test_rng_streams_distinct_and_uniform(void)
{
    eos_rng a, b;
    eos_rng_init(&a, 1, EOS_RNG_STREAM_INIT);
    eos_rng_init(&b, 1, EOS_RNG_STREAM_BATCH);
    EXPECT(eos_rng_next(&a) != eos_rng_next(&b), "streams collide");
    double s = 0, s2 = 0;
    int n = 200000;
    for (int i = 0; i < n; i++) {
        double z = eos_rng_normal(&a);
        s += z;
        s2 += z * z;
    }
    EXPECT(fabs(s / n) < 0.01, "normal mean %g", s / n);
    EXPECT(fabs(s2 / n - 1) < 0.02, "normal var %g", s2 / n);
    int counts[10] = {0};
    for (int i = 0; i < n; i++) counts[eos_rng_below(&b, 10)]++;
    for (int i = 0; i < 10; i++) EXPECT(abs(counts[i] - n / 10) < 800, "bucket %d: %d", i, counts[i]);
}

static void test_reductions_thread_independent(void)
{
    size_t n = 1000003;
    real *x = malloc(n * sizeof(real));
    eos_rng r;
    eos_rng_init(&r, 3, 3);
    long double ref = 0;
    for (size_t i = 0; i < n; i++) {
        x[i] = (real)eos_rng_normal(&r);
        ref += (long double)x[i] * x[i];
    }
    omp_set_num_threads(1);
    double d1 = eos_dot(x, x, n), s1 = eos_sum(x, n);
    omp_set_num_threads(2);
    double d2 = eos_dot(x, x, n), s2 = eos_sum(x, n);
    omp_set_num_threads(3);
    double d3 = eos_dot(x, x, n);
    EXPECT(memcmp(&d1, &d2, sizeof d1) == 0 && memcmp(&d1, &d3, sizeof d1) == 0, "dot differs by threads");
    EXPECT(memcmp(&s1, &s2, sizeof s1) == 0, "sum differs by threads");
    EXPECT_REL(d1, (double)ref, 1e-12);
    free(x);
}

/* Error messages stay one line whatever they quote: control characters become C escapes. */
static void test_error_message_one_line(void)
{
    eos_error_set(EOS_ERR_CONFIG, __FILE__, __LINE__, "data.path: %s: no such file", "a\nb\tc\x01" "d");
    const char *m = eos_error_msg();
    EXPECT(strcmp(m, "data.path: a\\nb\\tc\\x01d: no such file") == 0, "message: %s", m);
    for (const char *c = m; *c; c++) EXPECT((unsigned char)*c >= 0x20, "control character in %s", m);
    char big[2000];
    memset(big, '\n', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    eos_error_set(EOS_ERR_CONFIG, __FILE__, __LINE__, "%s", big);
    EXPECT(strlen(eos_error_msg()) < 1024 && strchr(eos_error_msg(), '\n') == NULL,
           "a long message of newlines: %zu characters", strlen(eos_error_msg()));
    eos_error_clear();
}

int main(void)
{
    TEST_RUN(test_rng_skip_matches_sequential);
    TEST_RUN(test_rng_streams_distinct_and_uniform);
    TEST_RUN(test_reductions_thread_independent);
    TEST_RUN(test_error_message_one_line);
    return TEST_SUMMARY();
}
