/* eos_rng.h: counter-style RNG streams that can be fast-forwarded (XSBench-style LCG). */
#ifndef EOS_RNG_H
#define EOS_RNG_H
#include <stdint.h>

/* A 64-bit LCG (Knuth's MMIX constants) whose output goes through a SplitMix64 finaliser.
 * A stream is identified by (seed, stream id); eos_rng_init places it at a fixed offset
 * derived by hashing both, so streams never depend on how many numbers other streams drew. */
typedef struct {
    uint64_t state;
} eos_rng;

/* Purposes of the streams a run uses (stream ids), so adding one never shifts another. */
enum {
    EOS_RNG_STREAM_INIT = 1,    /* parameter initialisation */
    EOS_RNG_STREAM_BATCH = 2,   /* minibatch order */
    EOS_RNG_STREAM_DATA = 3,    /* synthetic data */
    EOS_RNG_STREAM_SHARP = 4,   /* Lanczos start vector, Hutchinson probes */
    EOS_RNG_STREAM_TEST = 5,    /* synthetic held-out data */
    EOS_RNG_STREAM_ONLINE = 6,  /* fresh prompts drawn during training */
    EOS_RNG_STREAM_BATCH_SHARP = 7, /* batch sharpness: its minibatches and Lanczos starts */
    EOS_RNG_STREAM_PROJ = 8         /* the directions of record.projections */
};

void eos_rng_init(eos_rng *r, uint64_t seed, uint64_t stream);
/* Advance by n draws in O(log n). */
void eos_rng_skip(eos_rng *r, uint64_t n);
uint64_t eos_rng_next(eos_rng *r);
/* Uniform in [0, 1) with 53 random bits. */
double eos_rng_uniform(eos_rng *r);
/* Standard normal by Box-Muller; consumes exactly two draws per call (no cached state). */
double eos_rng_normal(eos_rng *r);
/* Uniform integer in [0, n). */
uint64_t eos_rng_below(eos_rng *r, uint64_t n);
/* Fisher-Yates shuffle of idx[0..n). */
void eos_rng_shuffle(eos_rng *r, int *idx, int n);

#endif
