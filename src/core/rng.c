/* rng.c: fast-forwardable LCG streams (see eos_rng.h). */
#include "eos_rng.h"

#include <math.h>

#define LCG_A 6364136223846793005ULL
#define LCG_C 1442695040888963407ULL

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void eos_rng_init(eos_rng *r, uint64_t seed, uint64_t stream)
{
    /* Streams start at hashed offsets of one LCG sequence; collisions within 2^64 are
     * astronomically unlikely for the few streams of a run. */
    r->state = mix64(mix64(seed + 0x9e3779b97f4a7c15ULL) ^ mix64(stream * 0xd1b54a32d192ed03ULL + 1));
}

/* Brown's O(log n) skip-ahead for x <- a x + c. */
void eos_rng_skip(eos_rng *r, uint64_t n)
{
    uint64_t acc_mult = 1, acc_plus = 0, cur_mult = LCG_A, cur_plus = LCG_C;
    while (n > 0) {
        if (n & 1) {
            acc_mult *= cur_mult;
            acc_plus = acc_plus * cur_mult + cur_plus;
        }
        cur_plus = (cur_mult + 1) * cur_plus;
        cur_mult *= cur_mult;
        n >>= 1;
    }
    r->state = acc_mult * r->state + acc_plus;
}

uint64_t eos_rng_next(eos_rng *r)
{
    r->state = LCG_A * r->state + LCG_C;
    return mix64(r->state);
}

double eos_rng_uniform(eos_rng *r) { return (double)(eos_rng_next(r) >> 11) * 0x1.0p-53; }

double eos_rng_normal(eos_rng *r)
{
    double u1 = eos_rng_uniform(r), u2 = eos_rng_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

uint64_t eos_rng_below(eos_rng *r, uint64_t n)
{
    /* Lemire-free simple rejection keeps it unbiased and portable. */
    uint64_t lim = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = eos_rng_next(r);
    while (x >= lim);
    return x % n;
}

void eos_rng_shuffle(eos_rng *r, int *idx, int n)
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)eos_rng_below(r, (uint64_t)i + 1);
        int t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}
