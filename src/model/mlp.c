/* mlp.c: fully connected network of any depth with exact gradient and Hessian-vector product.
 *
 * Parameters per layer l = 1..L (L = n_hidden + 1): W_l [out, in] row-major (PyTorch nn.Linear)
 * then b_l [out] if biases are on. a_0 = x, z_l = a_{l-1} W_l' + b_l, a_l = sigma(z_l), f = z_L.
 *
 * Kernels are flat functions in the style of llm.c's train_gpt2.c: output first, dimensions last.
 * Dense products are GEMMs; every elementwise pass (bias add, activation and its two derivatives,
 * loss, the derivative products of the backward pass) is one fused OpenMP loop over rows.
 * Bias gradients are column sums fused into those passes: each block of RB rows (fixed, whatever
 * the thread count; eos_model_row_blocks) writes its partial column sums, which are then added in
 * block order, so the result is bitwise independent of OMP_NUM_THREADS.
 *
 * HVP: Pearlmutter's R-operator (forward-over-reverse). Forward tangents
 *   Rz_l = Ra_{l-1} W_l' + a_{l-1} V_l' + Vb_l,  Ra_l = sigma'(z_l) Rz_l  (Ra_0 = 0),
 * loss R-op (MSE: R delta_L = Rf; xent: R delta_L = S (diag(p) - p p') Rf with S = sum_j y_j;
 * logistic: R delta_L = sigmoid(m) sigmoid(-m) Rf with the margin m = s f, s = sign of the label),
 * then the backward pass with R-terms
 *   RgW_l = R delta_l' a_{l-1} + delta_l' Ra_{l-1},  Rgb_l = colsum(R delta_l),
 *   R delta_{l-1} = (R delta_l W_l + delta_l V_l) sigma'(z_{l-1})
 *                   + (delta_l W_l) sigma''(z_{l-1}) Rz_{l-1}. */
#include "model_impl.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef EOS_FLOAT64
#define GEMM cblas_dgemm
#define REXP exp
#define REXPM1 expm1
#define RLOG1P log1p
#define RERFC erfc
#else
#define GEMM cblas_sgemm
#define REXP expf
#define REXPM1 expm1f
#define RLOG1P log1pf
#define RERFC erfcf
#endif

#define MLP_MAXL (EOS_MAX_HIDDEN + 1) /* dense layers */
#define RB 32                         /* rows per block of the fused column sums */

/* The key and the values of the cached linearisation (one per network). */
typedef struct {
    size_t budget;         /* bytes the values may take; 0 = off */
    int valid;             /* the values are those at the key */
    real *params;          /* [np] the key: parameters (by value), */
    const real *X, *Y;     /* data (by address: the probes' fixed training set), */
    int *idx, has_idx, n;  /* rows (by value; has_idx 0: the first n) */
    int idx_cap;           /* ints allocated in idx */
    int n_cached;          /* leading chunks whose values are kept */
    size_t cap;            /* floats allocated in buf */
    real *buf;             /* [n_cached, per_chunk] */
} hvp_cache;

typedef enum { CACHE_OFF = 0, CACHE_RECORD, CACHE_REPLAY } cache_mode;

/* Workspaces of the block product (mlp_hvp_block) for up to MLP_BLOCK directions, one block
 * allocated on its first use (training never needs it). Per layer l, at offset nv * wsum[l]: */
#define MLP_BLOCK 4
typedef struct {
    real *buf;
    real *vf;               /* [nv * dims[l], dims[l-1]] the directions' V_l stacked */
    real *vh;               /* [dims[l], nv * dims[l-1]] the directions' V_l side by side */
    real *acc;              /* [nv * dims[l], dims[l-1]] the weight part of each H v */
    real *ra[MLP_MAXL + 1]; /* [chunk, nv * dims[l]] Ra_l, row i: the nv directions' rows i */
    real *q[MLP_MAXL + 1];  /* [chunk, nv * dims[l]] sigma'' Rz_l (l < L), the same layout */
    real *rdl[2];           /* [chunk, nv * maxw] ping-pong R(dloss/dz), the same layout */
    double *part;           /* [ceil(chunk/RB), nv * maxw] per-block column sums */
} hvp_block_ws;

typedef struct eos_dense {
    int L;                          /* dense layers */
    int chunk;                      /* rows per pass the workspaces hold */
    int dims[MLP_MAXL + 1];         /* dims[0] = d_in, dims[l] = width of layer l, dims[L] = n_out */
    size_t woff[MLP_MAXL + 1];      /* offset of W_l in params (l = 1..L) */
    size_t boff[MLP_MAXL + 1];      /* offset of b_l (bias on) */
    int bias;
    eos_activation act;
    int maxw;                       /* max(dims[1..L]) */
    /* activations: one block */
    real *acts;
    real *zeros;                    /* [maxw] stands in for absent biases */
    real *x0;                       /* [chunk, d_in] gathered input rows (idx != NULL) */
    real *a[MLP_MAXL + 1];          /* [chunk, dims[l]] sigma(z_l); a[L] = outputs f */
    real *d1[MLP_MAXL + 1];         /* [chunk, dims[l]] sigma'(z_l), l < L (NULL for tanh) */
    real *d2[MLP_MAXL + 1];         /* [chunk, dims[l]] sigma''(z_l), then sigma''(z_l) Rz_l */
    int tanh_a;                     /* tanh: derivatives come from a, d1 unused */
    real *s[MLP_MAXL + 1];          /* where sigma' comes from: d1[l], or a[l] when tanh_a */
    double *rowv;                   /* [2, chunk] per-row loss, per-row correct flag */
    double *part;                   /* [ceil(chunk/RB), maxw] per-block column sums */
    /* backward deltas: one block */
    real *bwd;
    real *dl[2];                    /* [chunk, maxw] ping-pong dloss/dz */
    /* tangents: one block */
    real *tang;
    real *ra[MLP_MAXL + 1];         /* [chunk, dims[l]] Ra_l; ra[L] = Rf */
    real *rdl[2];                   /* [chunk, maxw] ping-pong R(dloss/dz) */
    size_t np;                      /* parameters */
    /* The cached linearisation (see "cached linearisation" below): per chunk of rows, floats at
     * these offsets in one [n_cached, per_chunk] block. */
    size_t c_a[MLP_MAXL + 1];       /* a[l] after the activation (l < L); a[L] = z_L - b_L */
    size_t c_d1[MLP_MAXL + 1];      /* sigma'(z_l), sigma''(z_l) (not for tanh) */
    size_t c_d2[MLP_MAXL + 1];
    size_t c_da[MLP_MAXL + 1];      /* dloss/da_l of the plain backward pass (l < L) */
    size_t per_chunk;
    hvp_cache cache;
    size_t wsum[MLP_MAXL + 2];      /* weights of the layers before l (block offsets / nv) */
    hvp_block_ws blk;
} mlp;

/* ------------------------------------------------------------------------------------------ */
/* float32 tanh with GCC vector extensions (src/model/tanh_lanes.h). Branch-free, so it vectorises
 * under the default FP flags (-ftrapping-math blocks if-conversion of libm-style code; glibc's
 * tanhf was a third of a GD step). Cephes' odd polynomial for |x| < 0.625, 1 - 2/(exp(2|x|) + 1)
 * beyond, with Cephes' expf polynomial: max error 1.2 ulp against double tanh over all floats
 * (tested). NaN stays NaN. Pointer arguments keep the vectors out of the calling convention. The
 * range tests are integer compares of |x|'s bits (the same order as the floats for |x| >= 0, NaN
 * above inf): GCC 12 lowered 8-lane float compares on SSE to 8 scalar comiss. The pass exists in
 * 4 lanes (SSE, what the Release build's x86-64-v2 target has) and on x86-64 also in 8 (AVX2,
 * chosen at run time when the CPU has it: the 4-lane pass was 8 % of a GD step on this AVX2 host).
 * Every lane does the same operations and neither uses FMA, so the width changes no bit
 * (tested). */
#ifndef EOS_FLOAT64
#define TANH_LANES 4
#define TANH_FN(name) name##_4
#define TANH_ATTR
#include "tanh_lanes.h"
#undef TANH_LANES
#undef TANH_FN
#undef TANH_ATTR
#if defined(__x86_64__)
#define TANH_LANES 8
#define TANH_FN(name) name##_8
#define TANH_ATTR __attribute__((target("avx2")))
#include "tanh_lanes.h"
#undef TANH_LANES
#undef TANH_FN
#undef TANH_ATTR
#endif

typedef void (*tanh_row_fn)(real *a, const real *z, const real *b, int w);
/* The widest pass this CPU runs. */
static tanh_row_fn tanh_row_for_cpu(void)
{
#if defined(__AVX2__)
    return tanh_row_8;
#elif defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") ? tanh_row_8 : tanh_row_4;
#else
    return tanh_row_4;
#endif
}

int eos_mlp_tanh_lanes(real *a, const real *z, const real *b, int w, int lanes)
{
    tanh_row_fn row = lanes == 4 ? tanh_row_4 : NULL;
#if defined(__x86_64__)
    if (lanes == 8 && tanh_row_for_cpu() == tanh_row_8) row = tanh_row_8;
#endif
    if (!row) return -1;
    row(a, z, b, w);
    return 0;
}
#else
static void tanh_row(real *a, const real *z, const real *b, int w)
{
    for (int j = 0; j < w; j++) a[j] = tanh(z[j] + b[j]);
}
typedef void (*tanh_row_fn)(real *a, const real *z, const real *b, int w);
static tanh_row_fn tanh_row_for_cpu(void) { return tanh_row; }

int eos_mlp_tanh_lanes(real *a, const real *z, const real *b, int w, int lanes)
{
    (void)lanes;
    tanh_row(a, z, b, w);
    return 0;
}
#endif

/* activations: A = sigma(z), D1 = sigma'(z), D2 = sigma''(z)                                  */

#define ACT_RELU(z, A, D1, D2)                                                                     \
    do {                                                                                           \
        A = z > 0 ? z : (real)0;                                                                   \
        D1 = z > 0 ? (real)1 : (real)0;                                                            \
        D2 = 0;                                                                                    \
    } while (0)
/* ELU with alpha = 1: exp(z) = expm1(z) + 1 for z <= 0 */
#define ACT_ELU(z, A, D1, D2)                                                                      \
    do {                                                                                           \
        A = z > 0 ? z : REXPM1(z);                                                                 \
        D1 = z > 0 ? (real)1 : A + (real)1;                                                        \
        D2 = z > 0 ? (real)0 : A + (real)1;                                                        \
    } while (0)
/* softplus = max(z, 0) + log1p(exp(-|z|)) (no overflow); sigma' = logistic(z) */
#define ACT_SOFTPLUS(z, A, D1, D2)                                                                 \
    do {                                                                                           \
        real t_ = REXP(z > 0 ? -z : z);                                                            \
        A = (z > 0 ? z : (real)0) + RLOG1P(t_);                                                    \
        D1 = z > 0 ? (real)1 / ((real)1 + t_) : t_ / ((real)1 + t_);                               \
        D2 = D1 * ((real)1 - D1);                                                                  \
    } while (0)
/* exact GELU z Phi(z); Phi via erfc keeps accuracy for negative z */
#define ACT_GELU(z, A, D1, D2)                                                                     \
    do {                                                                                           \
        real Phi_ = (real)0.5 * RERFC(-z * (real)0.70710678118654752440);                          \
        real phi_ = (real)0.39894228040143267794 * REXP((real)-0.5 * z * z);                       \
        A = z * Phi_;                                                                              \
        D1 = Phi_ + z * phi_;                                                                      \
        D2 = phi_ * ((real)2 - z * z);                                                             \
    } while (0)
#define ACT_IDENTITY(z, A, D1, D2)                                                                 \
    do {                                                                                           \
        A = z;                                                                                     \
        D1 = 1;                                                                                    \
        D2 = 0;                                                                                    \
    } while (0)

/* One loop per mode so the inner loops carry no optional stores. */
#define ACT_FORWARD_LOOP(EVAL)                                                                     \
    _Pragma("omp parallel for schedule(static)") /* rows split across threads */                  \
    for (int i = 0; i < n; i++) {                                                                  \
        real *restrict ai = a + (size_t)i * w;                                                     \
        real *restrict g1 = d1 ? d1 + (size_t)i * w : NULL;                                        \
        real *restrict g2 = d2 ? d2 + (size_t)i * w : NULL;                                        \
        if (!g1) {                                                                                 \
            for (int j = 0; j < w; j++) {                                                          \
                real z = ai[j] + b[j], av, v1, v2;                                                 \
                EVAL(z, av, v1, v2);                                                               \
                (void)v1, (void)v2;                                                                \
                ai[j] = av;                                                                        \
            }                                                                                      \
        } else if (!g2) {                                                                          \
            for (int j = 0; j < w; j++) {                                                          \
                real z = ai[j] + b[j], av, v1, v2;                                                 \
                EVAL(z, av, v1, v2);                                                               \
                (void)v2;                                                                          \
                ai[j] = av;                                                                        \
                g1[j] = v1;                                                                        \
            }                                                                                      \
        } else {                                                                                   \
            for (int j = 0; j < w; j++) {                                                          \
                real z = ai[j] + b[j], av, v1, v2;                                                 \
                EVAL(z, av, v1, v2);                                                               \
                ai[j] = av;                                                                        \
                g1[j] = v1;                                                                        \
                g2[j] = v2;                                                                        \
            }                                                                                      \
        }                                                                                          \
    }

/* a [n, w]: z - b on entry (GEMM output), sigma(z) on exit; b [w];
 * d1, d2 [n, w] (NULL: not wanted) get sigma'(z), sigma''(z), except for tanh, whose derivatives
 * the later passes take from a itself (saves writing and reading two arrays). */
static void act_forward(real *restrict a, real *restrict d1, real *restrict d2,
                        const real *restrict b, int n, int w, eos_activation act)
{
    switch (act) {
    case EOS_ACT_TANH: {
        const tanh_row_fn row = tanh_row_for_cpu();
#pragma omp parallel for schedule(static) /* rows split across threads */
        for (int i = 0; i < n; i++) row(a + (size_t)i * w, a + (size_t)i * w, b, w);
        break;
    }
    case EOS_ACT_RELU: ACT_FORWARD_LOOP(ACT_RELU); break;
    case EOS_ACT_ELU: ACT_FORWARD_LOOP(ACT_ELU); break;
    case EOS_ACT_SOFTPLUS: ACT_FORWARD_LOOP(ACT_SOFTPLUS); break;
    case EOS_ACT_GELU: ACT_FORWARD_LOOP(ACT_GELU); break;
    case EOS_ACT_IDENTITY: ACT_FORWARD_LOOP(ACT_IDENTITY); break;
    }
}

/* One row of act_tangent: ri [w] Rz - Vb -> Ra; qo [w] = sigma'' Rz from qin [w] = sigma''
 * (ignored for tanh; qo may be qin); si [w] sigma' or tanh's a. Shared by the single and the
 * block products, so both compute every element alike. */
static inline void act_tangent_row(real *restrict ri, real *qo, const real *qin,
                                   const real *restrict si, const real *restrict vb, int w,
                                   int tanh_a)
{
    if (tanh_a) {
        for (int j = 0; j < w; j++) {
            real rz = ri[j] + vb[j], g = (real)1 - si[j] * si[j];
            qo[j] = (real)-2 * si[j] * g * rz;
            ri[j] = g * rz;
        }
    } else {
        for (int j = 0; j < w; j++) {
            real rz = ri[j] + vb[j];
            qo[j] = qin[j] * rz;
            ri[j] = si[j] * rz;
        }
    }
}

/* Tangent of the activation. ra [n, w]: Rz - Vb on entry, Ra = sigma' Rz on exit;
 * q [n, w]: sigma'' on entry (ignored for tanh), sigma'' Rz on exit (all that the backward R-pass
 * needs of Rz); s [n, w]: sigma', or for tanh (tanh_a) the activation a; vb [w]. */
static void act_tangent(real *restrict ra, real *q, const real *restrict s,
                        const real *restrict vb, int n, int w, int tanh_a)
{
#pragma omp parallel for schedule(static) /* rows split across threads */
    for (int i = 0; i < n; i++)
        act_tangent_row(ra + (size_t)i * w, q + (size_t)i * w, q + (size_t)i * w, s + (size_t)i * w,
                        vb, w, tanh_a);
}

/* The arguments of the fused row-block passes below (each reads the fields it names). */
typedef struct {
    real *dx, *rdx;            /* [n, w] */
    const real *s, *q;         /* [n, w] */
    int w, tanh_a;
} act_pass;

static void act_backward_block(void *ctx, int blk, int i0, int i1, double *restrict ps)
{
    const act_pass *a = ctx;
    const int w = a->w;
    (void)blk;
    for (int i = i0; i < i1; i++) {
        real *restrict di = a->dx + (size_t)i * w;
        const real *restrict si = a->s + (size_t)i * w;
        if (a->tanh_a)
            for (int j = 0; j < w; j++) di[j] *= (real)1 - si[j] * si[j];
        else
            for (int j = 0; j < w; j++) di[j] *= si[j];
        if (ps)
            for (int j = 0; j < w; j++) ps[j] += di[j];
    }
}

/* dx [n, w]: dloss/da on entry, dloss/dz = dx sigma' on exit; s [n, w] = sigma', or for tanh
 * (tanh_a) the activation a; part [ceil(n/RB), w] (NULL: skip) gets the per-block column sums of
 * the result. */
static void act_backward(real *dx, double *part, const real *s, int n, int w, int tanh_a)
{
    act_pass a = {.dx = dx, .s = s, .w = w, .tanh_a = tanh_a};
    eos_model_row_blocks(n, RB, part, (size_t)w, act_backward_block, &a);
}

/* One row of act_backward_hvp: ri [w] = ri sigma' + di q; di [w] *= sigma' when update_d
 * (the block product updates its one plain row once, after the last vector's R-row). */
static inline void act_backward_hvp_row(real *restrict ri, real *restrict di,
                                        const real *restrict si, const real *restrict qi, int w,
                                        int tanh_a, int update_d)
{
    if (tanh_a && update_d) {
        for (int j = 0; j < w; j++) {
            real g = (real)1 - si[j] * si[j];
            ri[j] = ri[j] * g + di[j] * qi[j];
            di[j] *= g;
        }
    } else if (tanh_a) {
        for (int j = 0; j < w; j++) ri[j] = ri[j] * ((real)1 - si[j] * si[j]) + di[j] * qi[j];
    } else if (update_d) {
        for (int j = 0; j < w; j++) {
            ri[j] = ri[j] * si[j] + di[j] * qi[j];
            di[j] *= si[j];
        }
    } else {
        for (int j = 0; j < w; j++) ri[j] = ri[j] * si[j] + di[j] * qi[j];
    }
}

static void act_backward_hvp_block(void *ctx, int blk, int i0, int i1, double *restrict ps)
{
    const act_pass *a = ctx;
    const int w = a->w;
    (void)blk;
    for (int i = i0; i < i1; i++) {
        real *ri = a->rdx + (size_t)i * w;
        act_backward_hvp_row(ri, a->dx + (size_t)i * w, a->s + (size_t)i * w,
                             a->q + (size_t)i * w, w, a->tanh_a, 1);
        if (ps)
            for (int j = 0; j < w; j++) ps[j] += ri[j];
    }
}

/* R-op of act_backward. dx, rdx [n, w]: dloss/da and its R-derivative before the activation;
 * on exit rdx = rdx sigma' + dx sigma'' Rz and dx = dx sigma'. s = sigma' (or tanh's a, tanh_a),
 * q = sigma'' Rz [n, w]; part [ceil(n/RB), w] gets the per-block column sums of rdx (NULL: skip). */
static void act_backward_hvp(real *dx, real *rdx, double *part, const real *s, const real *q,
                             int n, int w, int tanh_a)
{
    act_pass a = {.dx = dx, .rdx = rdx, .s = s, .q = q, .w = w, .tanh_a = tanh_a};
    eos_model_row_blocks(n, RB, part, (size_t)w, act_backward_hvp_block, &a);
}

/* g [w] += scale * sum over blocks of part [nb, w], blocks in order. */
static void part_reduce(real *g, const double *part, int nb, int w, double scale)
{
    eos_model_part_reduce(g, part, nb, (size_t)w, (size_t)w, NULL, scale);
}

/* ------------------------------------------------------------------------------------------ */
/* dense layers (GEMM)                                                                        */

/* C [M, N] (ldc) = alpha op(A) op(B) + beta C, op(A) [M, K], op(B) [K, N], row-major.
 * OpenBLAS 0.3.21's own threading changes GEMM results with its thread count (measured), so
 * OpenBLAS runs single-threaded (gemm_begin) and the OpenMP threads split C into tiles
 * instead: one single-threaded GEMM per tile, the tiling chosen from the shape alone, so every
 * rounding is the same whatever the thread count. Big products get at least gemm_min_tiles tiles
 * (the model's model.gemm_tiles, set by gemm_begin), no side under 64; small ones stay whole.
 * Under Haswell/Zen-type kernels the bits can depend on the tiling (edge kernels round some
 * shapes differently), and every tile re-packs its operands: 8 tiles cost 7 % of a GD step at
 * 1 thread, 2 tiles 1 % (docs/performance.md), hence the default of 2 for 1-2 threads per rank. */
#define GEMM_SPLIT_WORK 262144.0 /* M*N*K below this: one tile */
static int gemm_min_tiles = EOS_GEMM_TILES_DEFAULT;
static void gemm(int ta, int tb, int M, int N, int K, real alpha, const real *A, int lda,
                 const real *B, int ldb, real beta, real *C, int ldc)
{
    int tm = M, tn = N;
    if ((double)M * N * K >= GEMM_SPLIT_WORK) {
        while (((M + tm - 1) / tm) * ((N + tn - 1) / tn) < gemm_min_tiles) {
            if (tm >= tn && tm > 64) tm = (tm / 2 + 15) / 16 * 16; /* halve, multiple of 16 */
            else if (tn > 64) tn = (tn / 2 + 15) / 16 * 16;
            else break;
        }
    }
    int mt = (M + tm - 1) / tm, nt = (N + tn - 1) / tn;
#pragma omp parallel for schedule(dynamic, 1) if (mt * nt > 1) /* one C tile per iteration */
    for (int t = 0; t < mt * nt; t++) {
        int i0 = (t / nt) * tm, j0 = (t % nt) * tn;
        int mm = M - i0 < tm ? M - i0 : tm, nn = N - j0 < tn ? N - j0 : tn;
        GEMM(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, mm,
             nn, K, alpha, ta ? A + i0 : A + (size_t)i0 * lda, lda,
             tb ? B + (size_t)j0 * ldb : B + j0, ldb, beta, C + (size_t)i0 * ldc + j0, ldc);
    }
}

/* out [n, od] = inp [n, id] W' + beta out, W [od, id] */
static void dense_forward(real *out, const real *inp, const real *W, int n, int id, int od,
                          real beta)
{
    gemm(0, 1, n, od, id, 1, inp, id, W, id, beta, out, od);
}

/* dW [od, id] += scale * dout' inp, dout [n, od], inp [n, id] */
static void dense_backward_w(real *dW, const real *dout, const real *inp, int n, int id, int od,
                             real scale)
{
    gemm(1, 0, od, id, n, scale, dout, od, inp, id, 1, dW, id);
}

/* dinp [n, id] = dout [n, od] W + beta dinp, W [od, id] */
static void dense_backward_x(real *dinp, const real *dout, const real *W, int n, int id, int od,
                             real beta)
{
    gemm(0, 0, n, id, od, 1, dout, od, W, id, beta, dinp, id);
}

/* ------------------------------------------------------------------------------------------ */
/* losses                                                                                      */

static int argmax_row(const real *x, int k)
{
    int best = 0;
    for (int j = 1; j < k; j++)
        if (x[j] > x[best]) best = j;
    return best;
}

static const real *target_row(const real *Y, const int *idx, int r0, int i, int k)
{
    return Y + (size_t)(idx ? idx[r0 + i] : r0 + i) * (size_t)k;
}

/* 1 if the prediction f [k] is right: argmax f == argmax y, or for one output sign(f) == sign(y)
 * (y > 0 is the positive class; f == 0 is wrong for both). */
static double correct_row(const real *f, const real *y, int k)
{
    if (k == 1) return (y[0] > 0 ? (double)f[0] : -(double)f[0]) > 0 ? 1.0 : 0.0;
    return argmax_row(f, k) == argmax_row(y, k) ? 1.0 : 0.0;
}

/* Logistic loss of one output f with target y (s = +1 if y > 0, else -1): l = softplus(-s f)
 * without overflow, *d = dl/df = -s sigmoid(-s f), *h (NULL: skip) = d2l/df2 =
 * sigmoid(s f) sigmoid(-s f) = e / (1 + e)^2 with e = exp(-|f|). */
static double logistic_row(double f, double y, double *d, double *h)
{
    double s = y > 0 ? 1.0 : -1.0, m = s * f, e = exp(-fabs(m));
    double sig_neg = m >= 0 ? e / (1.0 + e) : 1.0 / (1.0 + e); /* sigmoid(-m) */
    *d = -s * sig_neg;
    if (h) *h = e / ((1.0 + e) * (1.0 + e));
    return (m >= 0 ? 0.0 : -m) + log1p(e);
}

/* The arguments of the two output-layer passes below (each reads the fields it names). */
typedef struct {
    double *lrow, *crow;       /* [n] */
    real *delta, *rdelta;      /* [n, k] */
    real *f, *rf;              /* [n, k] */
    const real *b, *vb;        /* [k] */
    const real *Y;
    const int *idx;
    int r0, k;
    eos_loss_kind loss;
} loss_pass;

static void loss_forward_block(void *ctx, int blk, int i0, int i1, double *restrict ps)
{
    const loss_pass *a = ctx;
    const int k = a->k;
    const real *restrict b = a->b;
    (void)blk;
    for (int i = i0; i < i1; i++) {
        real *restrict fi = a->f + (size_t)i * k;
        const real *restrict yi = target_row(a->Y, a->idx, a->r0, i, k);
        real *restrict di = a->delta ? a->delta + (size_t)i * k : NULL;
        for (int j = 0; j < k; j++) fi[j] += b[j];
        double li = 0.0;
        if (a->loss == EOS_LOSS_MSE) {
            for (int j = 0; j < k; j++) {
                double e = (double)fi[j] - (double)yi[j];
                li += e * e;
                if (di) di[j] = (real)e;
            }
            li *= 0.5;
        } else if (a->loss == EOS_LOSS_LOGISTIC) {
            double d;
            li = logistic_row((double)fi[0], (double)yi[0], &d, NULL);
            if (di) di[0] = (real)d;
        } else {
            /* -sum_j y_j log softmax(f)_j = S lse(f) - sum_j y_j f_j, S = sum_j y_j */
            double mx = fi[0], se = 0.0, sy = 0.0, syf = 0.0;
            for (int j = 1; j < k; j++) mx = fi[j] > mx ? fi[j] : mx;
            for (int j = 0; j < k; j++) {
                se += exp((double)fi[j] - mx);
                sy += yi[j];
                syf += (double)yi[j] * (double)fi[j];
            }
            double lse = mx + log(se);
            li = sy * lse - syf;
            if (di)
                for (int j = 0; j < k; j++) di[j] = (real)(sy * exp((double)fi[j] - lse) - yi[j]);
        }
        a->lrow[i] = li;
        if (a->crow) a->crow[i] = correct_row(fi, yi, k);
        if (ps)
            for (int j = 0; j < k; j++) ps[j] += di[j];
    }
}

/* f [n, k]: z_L - b on entry, outputs on exit; b [k]; targets Y rows (idx-selected from r0).
 * lrow [n] per-row loss; crow [n] (NULL: skip) 1 if right (correct_row);
 * delta [n, k] (NULL: skip) dloss_i/df; part [ceil(n/RB), k] (NULL: skip) column sums of delta. */
static void loss_forward(double *lrow, double *crow, real *delta, double *part, real *f,
                         const real *b, const real *Y, const int *idx, int r0, int n, int k,
                         eos_loss_kind loss)
{
    loss_pass a = {.lrow = lrow, .crow = crow, .delta = delta, .f = f, .b = b, .Y = Y,
                   .idx = idx, .r0 = r0, .k = k, .loss = loss};
    eos_model_row_blocks(n, RB, part, (size_t)k, loss_forward_block, &a);
}

/* log-sum-exp of f [k] and S = sum_j y_j (the softmax passes) */
static inline double softmax_lse(const real *f, const real *y, int k, double *sy)
{
    double mx = f[0], se = 0.0, s = 0.0;
    for (int j = 1; j < k; j++) mx = f[j] > mx ? f[j] : mx;
    for (int j = 0; j < k; j++) {
        se += exp((double)f[j] - mx);
        s += y[j];
    }
    *sy = s;
    return mx + log(se);
}

/* One row of the HVP's output layer, plain part: fi [k] z_L - b -> f; di [k] = dloss/df. */
static inline void loss_hvp_d_row(real *restrict fi, real *restrict di, const real *restrict yi,
                                  const real *restrict b, int k, eos_loss_kind loss)
{
    for (int j = 0; j < k; j++) fi[j] += b[j];
    if (loss == EOS_LOSS_MSE) {
        for (int j = 0; j < k; j++) di[j] = fi[j] - yi[j];
    } else if (loss == EOS_LOSS_LOGISTIC) {
        double d, h;
        logistic_row((double)fi[0], (double)yi[0], &d, &h);
        di[0] = (real)d;
    } else {
        /* delta = S p - y */
        double sy, lse = softmax_lse(fi, yi, k, &sy);
        for (int j = 0; j < k; j++) di[j] = (real)(sy * exp((double)fi[j] - lse) - yi[j]);
    }
}

/* Its R-part for one direction: rfi [k] Rz_L - Vb -> Rf; rdi [k] = R(dloss/df) at the outputs
 * fi [k] (the plain part's result). */
static inline void loss_hvp_r_row(real *restrict rfi, real *restrict rdi, const real *restrict fi,
                                  const real *restrict yi, const real *restrict vb, int k,
                                  eos_loss_kind loss)
{
    for (int j = 0; j < k; j++) rfi[j] += vb[j];
    if (loss == EOS_LOSS_MSE) {
        for (int j = 0; j < k; j++) rdi[j] = rfi[j];
    } else if (loss == EOS_LOSS_LOGISTIC) {
        double d, h;
        logistic_row((double)fi[0], (double)yi[0], &d, &h);
        rdi[0] = (real)(h * (double)rfi[0]);
    } else {
        /* R delta = S (p * Rf - p (p . Rf)) */
        double sy, lse = softmax_lse(fi, yi, k, &sy), prf = 0.0;
        for (int j = 0; j < k; j++) prf += exp((double)fi[j] - lse) * (double)rfi[j];
        for (int j = 0; j < k; j++)
            rdi[j] = (real)(sy * exp((double)fi[j] - lse) * ((double)rfi[j] - prf));
    }
}

static void loss_hvp_block(void *ctx, int blk, int i0, int i1, double *restrict ps)
{
    const loss_pass *a = ctx;
    const int k = a->k;
    (void)blk;
    for (int i = i0; i < i1; i++) {
        real *fi = a->f + (size_t)i * k, *rdi = a->rdelta + (size_t)i * k;
        const real *yi = target_row(a->Y, a->idx, a->r0, i, k);
        loss_hvp_d_row(fi, a->delta + (size_t)i * k, yi, a->b, k, a->loss);
        loss_hvp_r_row(a->rf + (size_t)i * k, rdi, fi, yi, a->vb, k, a->loss);
        if (ps)
            for (int j = 0; j < k; j++) ps[j] += rdi[j];
    }
}

/* Output layer of the HVP. f, rf [n, k]: z_L - b and Rz_L - Vb on entry, f and Rf on exit;
 * delta, rdelta [n, k] get dloss/df and its R-derivative; part (NULL: skip) the per-block column
 * sums of rdelta. */
static void loss_hvp(real *delta, real *rdelta, double *part, real *f, real *rf, const real *b,
                     const real *vb, const real *Y, const int *idx, int r0, int n, int k,
                     eos_loss_kind loss)
{
    loss_pass a = {.delta = delta, .rdelta = rdelta, .f = f, .rf = rf, .b = b, .vb = vb, .Y = Y,
                   .idx = idx, .r0 = r0, .k = k, .loss = loss};
    eos_model_row_blocks(n, RB, part, (size_t)k, loss_hvp_block, &a);
}

/* ------------------------------------------------------------------------------------------ */

/* The chunk's input rows: straight from X when idx is NULL, else gathered into x0 [n, d]. */
static const real *input_rows(mlp *p, const real *X, const int *idx, int r0, int n, int d)
{
    if (!idx) return X + (size_t)r0 * (size_t)d;
#pragma omp parallel for schedule(static) /* rows split across threads */
    for (int i = 0; i < n; i++)
        memcpy(p->x0 + (size_t)i * d, X + (size_t)idx[r0 + i] * d, (size_t)d * sizeof(real));
    return p->x0;
}

/* Every entry point first: gemm()'s tiling for this model, and OpenBLAS single-threaded under
 * it (a cheap query; someone may have raised it since the last call). */
static void gemm_begin(const eos_model *m)
{
    gemm_min_tiles = m->cfg.gemm_tiles > 0 ? m->cfg.gemm_tiles : EOS_GEMM_TILES_DEFAULT;
    if (openblas_get_num_threads() != 1) openblas_set_num_threads(1);
}

/* The kernels other architectures share (model_impl.h), as they are used here. */
void eos_act_forward(real *a, real *d1, real *d2, const real *b, int n, int w, eos_activation act)
{
    act_forward(a, d1, d2, b, n, w, act);
}

void eos_act_tangent(real *ra, real *q, const real *s, const real *vb, int n, int w, int tanh_a)
{
    act_tangent(ra, q, s, vb, n, w, tanh_a);
}

void eos_act_backward(real *dx, const real *s, int n, int w, int tanh_a)
{
    act_backward(dx, NULL, s, n, w, tanh_a);
}

void eos_act_backward_hvp(real *dx, real *rdx, const real *s, const real *q, int n, int w,
                          int tanh_a)
{
    act_backward_hvp(dx, rdx, NULL, s, q, n, w, tanh_a);
}

void eos_model_gemm(int ta, int tb, int M, int N, int K, real alpha, const real *A, int lda,
                    const real *B, int ldb, real beta, real *C, int ldc)
{
    gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void eos_model_gemm_begin(const eos_model *m) { gemm_begin(m); }

static const real *bias_of(const mlp *p, const real *params, int l)
{
    return p->bias ? params + p->boff[l] : p->zeros;
}

/* The plain backward pass of a chunk of nr rows whose forward pass is in the workspaces (input x):
 * D [nr, n_out] = dloss/df on entry (the output bias's share already reduced), Dn a second
 * [chunk, maxw] buffer; grad += scale * the parameter gradient; dx [nr, dims[0]] (NULL: skip) =
 * dloss/dx, unscaled. Shared by the gradient and the Gauss-Newton product, which differ only in
 * the output vector they send back. */
static void backward(mlp *p, const real *params, const real *x, real *D, real *Dn, double *part,
                     int nr, double scale, real *grad, real *dx)
{
    const int L = p->L, *dm = p->dims, nb = (nr + RB - 1) / RB;
    for (int l = L; l >= 1; l--) {
        const real *W = params + p->woff[l];
        dense_backward_w(grad + p->woff[l], D, l == 1 ? x : p->a[l - 1], nr, dm[l - 1], dm[l],
                         (real)scale);
        if (l == 1) {
            if (dx) dense_backward_x(dx, D, W, nr, dm[0], dm[1], 0);
            break;
        }
        dense_backward_x(Dn, D, W, nr, dm[l - 1], dm[l], 0);
        act_backward(Dn, part, p->s[l - 1], nr, dm[l - 1], p->tanh_a);
        if (part) part_reduce(grad + p->boff[l - 1], part, nb, dm[l - 1], scale);
        real *t = D;
        D = Dn;
        Dn = t;
    }
}

/* dst [n] = src [n] (RECORD: workspace to cache; REPLAY: cache to workspace). */
static void cache_copy(real *dst, const real *src, size_t n)
{
    memcpy(dst, src, n * sizeof(real));
}

/* The direction-free part of layer l of a chunk of nr rows (input ain [nr, dims[l-1]]): a[l] =
 * sigma(z_l) with sigma' and sigma'' in d1[l], d2[l], or a[L] = z_L - b_L; mode RECORD also keeps
 * them in the chunk's cache c, REPLAY takes them from it instead of computing them. */
static void forward_plain_layer(mlp *p, const real *params, int l, const real *ain, int nr,
                                cache_mode mode, real *c)
{
    const int L = p->L, *dm = p->dims, cached_d = l < L && !p->tanh_a;
    const size_t sz = (size_t)nr * (size_t)dm[l];
    if (mode == CACHE_REPLAY) {
        cache_copy(p->a[l], c + p->c_a[l], sz);
        if (cached_d) {
            cache_copy(p->d1[l], c + p->c_d1[l], sz);
            cache_copy(p->d2[l], c + p->c_d2[l], sz);
        }
        return;
    }
    dense_forward(p->a[l], ain, params + p->woff[l], nr, dm[l - 1], dm[l], 0);
    if (l < L) act_forward(p->a[l], p->d1[l], p->d2[l], bias_of(p, params, l), nr, dm[l], p->act);
    if (mode == CACHE_RECORD) {
        cache_copy(c + p->c_a[l], p->a[l], sz);
        if (cached_d) {
            cache_copy(c + p->c_d1[l], p->d1[l], sz);
            cache_copy(c + p->c_d2[l], p->d2[l], sz);
        }
    }
}

/* Forward pass with tangents of a chunk of nr rows (input x, its tangent rx [nr, dims[0]] or NULL
 * for none) in direction v: a[l], ra[l] [nr, dims[l]] hold z_l - b_l, Rz_l - Vb_l until the fused
 * passes add the biases and apply sigma; the output layer's biases are left to the loss pass.
 * The direction-free values come from forward_plain_layer (mode, c: its cache). */
static void forward_tangents(mlp *p, const real *params, const real *v, const real *x,
                             const real *rx, int nr, cache_mode mode, real *c)
{
    const int L = p->L, *dm = p->dims;
    const real *ain = x, *rain = rx;
    for (int l = 1; l <= L; l++) {
        const real *W = params + p->woff[l], *V = v + p->woff[l];
        forward_plain_layer(p, params, l, ain, nr, mode, c);
        dense_forward(p->ra[l], ain, V, nr, dm[l - 1], dm[l], 0);
        if (rain) dense_forward(p->ra[l], rain, W, nr, dm[l - 1], dm[l], 1);
        if (l < L)
            act_tangent(p->ra[l], p->d2[l], p->s[l], bias_of(p, v, l), nr, dm[l], p->tanh_a);
        ain = p->a[l];
        rain = p->ra[l];
    }
}

/* Forward pass of nr rows x [nr, dims[0]]: a[l] [nr, dims[l]] = sigma(z_l) (sigma' into d1[l]
 * when keep_d1), and a[L] = z_L - b_L, the output layer's biases left to the caller. */
static void forward(eos_dense *p, const real *params, const real *x, int nr, int keep_d1)
{
    const int L = p->L, *dm = p->dims;
    /* z_l = a_{l-1} W_l' (+ b_l fused into the activation pass) */
    const real *ain = x;
    for (int l = 1; l <= L; l++) {
        dense_forward(p->a[l], ain, params + p->woff[l], nr, dm[l - 1], dm[l], 0);
        if (l < L)
            act_forward(p->a[l], keep_d1 ? p->d1[l] : NULL, NULL, bias_of(p, params, l), nr,
                        dm[l], p->act);
        ain = p->a[l];
    }
}

void eos_dense_outputs(eos_dense *p, const real *params, const real *x, int nr, real *f)
{
    const int L = p->L, k = p->dims[L];
    const real *b = bias_of(p, params, L);
    forward(p, params, x, nr, 0);
    for (size_t q = 0; q < (size_t)nr * k; q++) f[q] = p->a[L][q] + b[q % k]; /* as the loss pass */
}

void eos_dense_loss_grad(eos_dense *p, const real *params, const real *x, const real *Y,
                         const int *idx, int r0, int nr, eos_loss_kind loss, double scale,
                         double *lsum, double *csum, real *grad, real *dx)
{
    const int L = p->L, *dm = p->dims, k = dm[L], nb = (nr + RB - 1) / RB;
    double *lrow = p->rowv, *crow = csum ? p->rowv + p->chunk : NULL;
    forward(p, params, x, nr, grad != NULL);
    real *D = p->dl[0], *Dn = p->dl[1];
    double *part = (grad && p->bias) ? p->part : NULL;
    loss_forward(lrow, crow, grad ? D : NULL, part, p->a[L], bias_of(p, params, L), Y, idx, r0,
                 nr, k, loss);
    for (int i = 0; i < nr; i++) *lsum += lrow[i]; /* fixed order */
    if (crow)
        for (int i = 0; i < nr; i++) *csum += crow[i];
    if (!grad) return;
    /* backward: D = dloss/dz_l [nr, dims[l]] */
    if (part) part_reduce(grad + p->boff[L], part, nb, dm[L], scale);
    backward(p, params, x, D, Dn, part, nr, scale, grad, dx);
}

static int mlp_loss_grad(eos_model *m, const real *params, const real *X, const real *Y,
                         const int *idx, int n, double scale, double *loss_sum, double *n_correct,
                         real *grad)
{
    mlp *p = m->impl;
    int want_c = n_correct != NULL;
    double lsum = 0.0, csum = 0.0;
    gemm_begin(m);
    for (int r0 = 0; r0 < n; r0 += m->chunk) {
        int nr = n - r0 < m->chunk ? n - r0 : m->chunk;
        const real *x = input_rows(p, X, idx, r0, nr, p->dims[0]);
        eos_dense_loss_grad(p, params, x, Y, idx, r0, nr, m->loss, scale, &lsum,
                            want_c ? &csum : NULL, grad, NULL);
    }
    if (loss_sum) *loss_sum += lsum;
    if (want_c) *n_correct += csum;
    return 0;
}

static int mlp_outputs(eos_model *m, const real *params, const real *X, const int *idx, int n,
                       real *f)
{
    mlp *p = m->impl;
    gemm_begin(m);
    for (int r0 = 0; r0 < n; r0 += m->chunk) {
        int nr = n - r0 < m->chunk ? n - r0 : m->chunk;
        const real *x = input_rows(p, X, idx, r0, nr, p->dims[0]);
        eos_dense_outputs(p, params, x, nr, f + (size_t)r0 * m->n_out);
    }
    return 0;
}

/* Do [nr, dims[l-1]] = dloss/da_{l-1} from D [nr, dims[l]] = dloss/dz_l through W_l:
 * direction-free, so the cache keeps it for l >= 2 (mode, c as forward_plain_layer; the input's
 * dx is not cached). */
static void backward_plain_x(mlp *p, const real *W, real *Do, const real *D, int l, int nr,
                             cache_mode mode, real *c)
{
    const size_t sz = (size_t)nr * (size_t)p->dims[l - 1];
    if (mode == CACHE_REPLAY && l > 1) {
        cache_copy(Do, c + p->c_da[l - 1], sz);
        return;
    }
    dense_backward_x(Do, D, W, nr, p->dims[l - 1], p->dims[l], 0);
    if (mode == CACHE_RECORD && l > 1) cache_copy(c + p->c_da[l - 1], Do, sz);
}

/* The HVP's backward pass with R-terms over a chunk of nr rows (input x, its tangent rx or NULL)
 * whose forward pass with tangents is in the workspaces: D, RD [nr, n_out] = dloss/df and its
 * R-derivative on entry (the output bias's share already reduced), Dn, RDn second buffers;
 * hv += scale * H v; dx, rdx [nr, dims[0]] (NULL: skip) = dloss/dx and its R-derivative. */
static void backward_hvp(mlp *p, const real *params, const real *v, const real *x,
                         const real *rx, real *D, real *Dn, real *RD, real *RDn, double *part,
                         int nr, double scale, real *hv, real *dx, real *rdx, cache_mode mode,
                         real *c)
{
    const int L = p->L, *dm = p->dims, nb = (nr + RB - 1) / RB;
    for (int l = L; l >= 1; l--) {
        const real *W = params + p->woff[l], *V = v + p->woff[l];
        const real *rain = l == 1 ? rx : p->ra[l - 1];
        real *hW = hv + p->woff[l], *Do = l == 1 ? dx : Dn, *RDo = l == 1 ? rdx : RDn;
        dense_backward_w(hW, RD, l == 1 ? x : p->a[l - 1], nr, dm[l - 1], dm[l], (real)scale);
        if (rain) dense_backward_w(hW, D, rain, nr, dm[l - 1], dm[l], (real)scale);
        if (!Do) break;
        backward_plain_x(p, W, Do, D, l, nr, mode, c);
        dense_backward_x(RDo, RD, W, nr, dm[l - 1], dm[l], 0);
        dense_backward_x(RDo, D, V, nr, dm[l - 1], dm[l], 1);
        if (l == 1) break;
        act_backward_hvp(Dn, RDn, part, p->s[l - 1], p->d2[l - 1], nr, dm[l - 1], p->tanh_a);
        if (part) part_reduce(hv + p->boff[l - 1], part, nb, dm[l - 1], scale);
        real *t = D;
        D = Dn;
        Dn = t;
        t = RD;
        RD = RDn;
        RDn = t;
    }
}

/* out += scale * (H v, or G v when gn) over the rows. Both run the forward pass with tangents and
 * the HVP's output layer, whose R delta = H_loss Rf is exactly the Gauss-Newton output vector;
 * the Gauss-Newton product then sends it back through the gradient's plain backward pass (no
 * sigma'' and no V terms: those are the network's second-order part). */
static void dense_product(eos_dense *p, const real *params, const real *v, const real *x,
                          const real *rx, const real *Y, const int *idx, int r0, int nr,
                          eos_loss_kind loss, double scale, real *out, int gn, real *dx, real *rdx,
                          cache_mode mode, real *c)
{
    const int L = p->L, *dm = p->dims, k = dm[L], nb = (nr + RB - 1) / RB;
    double *part = p->bias ? p->part : NULL;
    forward_tangents(p, params, v, x, rx, nr, mode, c);
    /* D, RD [nr, dims[l]]: dloss/dz_l and its R-derivative (Dn, RDn: the next ones) */
    real *D = p->dl[0], *Dn = p->dl[1], *RD = p->rdl[0], *RDn = p->rdl[1];
    loss_hvp(D, RD, part, p->a[L], p->ra[L], bias_of(p, params, L), bias_of(p, v, L), Y, idx, r0,
             nr, k, loss);
    if (part) part_reduce(out + p->boff[L], part, nb, dm[L], scale);
    if (gn)
        backward(p, params, x, RD, RDn, part, nr, scale, out, dx);
    else
        backward_hvp(p, params, v, x, rx, D, Dn, RD, RDn, part, nr, scale, out, dx, rdx, mode,
                     c);
}

void eos_dense_product(eos_dense *p, const real *params, const real *v, const real *x,
                       const real *rx, const real *Y, const int *idx, int r0, int nr,
                       eos_loss_kind loss, double scale, real *out, int gn, real *dx, real *rdx)
{
    dense_product(p, params, v, x, rx, Y, idx, r0, nr, loss, scale, out, gn, dx, rdx, CACHE_OFF,
                  NULL);
}

/* ---- cached linearisation ------------------------------------------------------------------
 * Within one eigen-solve the parameters, the data and the rows stay the same from product to
 * product. Each chunk's direction-free values (the forward activations with sigma' and sigma'',
 * the outputs, the plain backward pass's dloss/da) are kept from the first product and copied
 * back for the next ones, so a product costs its tangent GEMMs only (fc-tanh: 2 of layer 1's 3
 * GEMMs, 6 of every other layer's 8, and no tanh). The copies are the values the skipped kernels
 * compute from the same inputs (deterministic kernels): cached products equal uncached ones
 * bitwise. The key is compared on every call (parameters and rows by value, data by address),
 * so no caller has to say when the point moves; chunks past the byte budget are recomputed. */

static int cache_key_is(const mlp *p, const real *params, const real *X, const real *Y,
                        const int *idx, int n)
{
    const hvp_cache *h = &p->cache;
    return h->valid && h->X == X && h->Y == Y && h->n == n && h->has_idx == (idx != NULL) &&
           !memcmp(h->params, params, p->np * sizeof(real)) &&
           (!idx || !memcmp(h->idx, idx, (size_t)n * sizeof(int)));
}

/* The mode of the leading p->cache.n_cached chunks of a product at this key: REPLAY when the
 * cache holds it, else RECORD (after taking the key) when recording is allowed and the budget
 * holds a chunk, else OFF. */
static cache_mode cache_prepare(mlp *p, const real *params, const real *X, const real *Y,
                                const int *idx, int n, int may_record)
{
    hvp_cache *h = &p->cache;
    if (h->budget == 0) return CACHE_OFF;
    if (cache_key_is(p, params, X, Y, idx, n)) return CACHE_REPLAY;
    if (!may_record) return CACHE_OFF;
    h->valid = 0;
    size_t fit = h->budget / (p->per_chunk * sizeof(real)), chunks = ((size_t)n + p->chunk - 1) / p->chunk;
    size_t want = fit < chunks ? fit : chunks;
    if (want == 0) return CACHE_OFF;
    if (want * p->per_chunk > h->cap) {
        real *nb = realloc(h->buf, want * p->per_chunk * sizeof(real));
        if (!nb) return CACHE_OFF; /* no room: compute as without a cache */
        h->buf = nb;
        h->cap = want * p->per_chunk;
    }
    if (!h->params && !(h->params = malloc(p->np * sizeof(real)))) return CACHE_OFF;
    if (idx && n > h->idx_cap) { /* grows only: a probe's minibatches reuse it */
        int *ni = realloc(h->idx, (size_t)n * sizeof(int));
        if (!ni) return CACHE_OFF;
        h->idx = ni;
        h->idx_cap = n;
    }
    memcpy(h->params, params, p->np * sizeof(real));
    if (idx) memcpy(h->idx, idx, (size_t)n * sizeof(int));
    h->X = X;
    h->Y = Y;
    h->has_idx = idx != NULL;
    h->n = n;
    h->n_cached = (int)want;
    return CACHE_RECORD;
}

/* Only the HVP records (its backward values are the cache's last part); the Gauss-Newton product
 * replays the forward values of a cache the HVP made at the same point. */
static int mlp_product(eos_model *m, const real *params, const real *X, const real *Y,
                       const int *idx, int n, double scale, const real *v, real *out, int gn)
{
    mlp *p = m->impl;
    gemm_begin(m);
    const cache_mode mode = cache_prepare(p, params, X, Y, idx, n, !gn);
    for (int r0 = 0, ci = 0; r0 < n; r0 += m->chunk, ci++) {
        int nr = n - r0 < m->chunk ? n - r0 : m->chunk;
        const real *x = input_rows(p, X, idx, r0, nr, p->dims[0]);
        const int cached = mode != CACHE_OFF && ci < p->cache.n_cached;
        dense_product(p, params, v, x, NULL, Y, idx, r0, nr, m->loss, scale, out, gn, NULL, NULL,
                      cached ? mode : CACHE_OFF,
                      cached ? p->cache.buf + (size_t)ci * p->per_chunk : NULL);
    }
    if (mode == CACHE_RECORD) p->cache.valid = 1;
    return 0;
}

/* ---- block products ------------------------------------------------------------------------
 * H V for nv directions in one pass over the rows (mlp_hvp_block, LOBPCG's blocks): each chunk's
 * direction-free values (forward pass and plain deltas, or the cached linearisation's copies) are
 * made once for all nv, and the tangents of the nv directions sit side by side, [nr, nv * w]
 * with row i holding the directions' rows i, which is also [nr * nv, w] row-major. So the single
 * product's GEMMs become GEMMs nv times wider on the same operands: a V' and D V over the
 * directions' V stacked or side by side, the tangents through W as nr * nv rows, RD' a as
 * nv * dims[l] rows into a stacked accumulator; only D' Ra stays one GEMM per direction (its
 * wide result would not be in the accumulator's layout). Every element goes through the same row
 * functions and GEMMs of the same depth, in the same order, as in the single product, so the
 * two agree to rounding; not bitwise, since OpenBLAS's result for an element depends on the shape
 * of the GEMM around it (measured: Zen and Prescott kernels both). */

static int block_ws_alloc(mlp *p)
{
    int rc = 0;
    hvp_block_ws *B = &p->blk;
    const size_t c = (size_t)p->chunk, nv = MLP_BLOCK, nb = (c + RB - 1) / RB;
    const int L = p->L;
    const size_t nw = p->wsum[L + 1];
    size_t tot = 3 * nv * nw + 2 * c * nv * (size_t)p->maxw;
    for (int l = 1; l <= L; l++) tot += (l < L ? 2 : 1) * c * nv * (size_t)p->dims[l];
    EOS_ALLOC(B->buf, tot);
    EOS_ALLOC(B->part, nb * nv * (size_t)p->maxw);
    real *q = B->buf;
    B->vf = q;
    B->vh = q + nv * nw;
    B->acc = q + 2 * nv * nw;
    q += 3 * nv * nw;
    for (int l = 1; l <= L; l++) {
        B->ra[l] = q;
        q += c * nv * (size_t)p->dims[l];
        if (l < L) {
            B->q[l] = q;
            q += c * nv * (size_t)p->dims[l];
        }
    }
    B->rdl[0] = q;
    B->rdl[1] = q + c * nv * (size_t)p->maxw;
    return 0;
fail:
    free(B->buf);
    B->buf = NULL;
    return rc;
}

/* The arguments of the block product's fused row passes. */
typedef struct {
    const mlp *p;
    int l, nv;                 /* layer, directions */
    const real *V;             /* [nv, np] the directions */
    const real *Y;
    const int *idx;
    int r0;
    const real *b;             /* [k] output biases */
    eos_loss_kind loss;
    real *Dn, *RDn;            /* the deltas at the input of layer l: [nr, w], [nr, nv * w] */
} block_pass;

/* rows [i0, i1) of the output layer: plain part once, R-part per direction */
static void block_loss_rows(void *ctx, int blk, int i0, int i1, double *restrict ps)
{
    const block_pass *a = ctx;
    const mlp *p = a->p;
    const int k = p->dims[p->L], nv = a->nv;
    const hvp_block_ws *B = &p->blk;
    (void)blk;
    for (int i = i0; i < i1; i++) {
        real *fi = p->a[p->L] + (size_t)i * k;
        const real *yi = target_row(a->Y, a->idx, a->r0, i, k);
        loss_hvp_d_row(fi, p->dl[0] + (size_t)i * k, yi, a->b, k, a->loss);
        for (int j = 0; j < nv; j++) {
            const size_t o = ((size_t)i * nv + j) * k;
            real *rdi = B->rdl[0] + o;
            loss_hvp_r_row(B->ra[p->L] + o, rdi, fi, yi, bias_of(p, a->V + (size_t)j * p->np, p->L),
                           k, a->loss);
            if (ps)
                for (int e = 0; e < k; e++) ps[(size_t)j * k + e] += rdi[e];
        }
    }
}

/* rows [i0, i1) of act_backward_hvp at the input of layer a->l: R-rows of RDn (rdl[1]) per
 * direction, the plain row of Dn (dl[1]) once, with the last direction */
static void block_act_rows(void *ctx, int blk, int i0, int i1, double *restrict ps)
{
    const block_pass *a = ctx;
    const mlp *p = a->p;
    const int w = p->dims[a->l - 1], nv = a->nv;
    const hvp_block_ws *B = &p->blk;
    (void)blk;
    for (int i = i0; i < i1; i++) {
        real *di = a->Dn + (size_t)i * w;
        const real *si = p->s[a->l - 1] + (size_t)i * w;
        for (int j = 0; j < nv; j++) {
            const size_t o = ((size_t)i * nv + j) * w;
            real *ri = a->RDn + o;
            act_backward_hvp_row(ri, di, si, B->q[a->l - 1] + o, w, p->tanh_a, j == nv - 1);
            if (ps)
                for (int e = 0; e < w; e++) ps[(size_t)j * w + e] += ri[e];
        }
    }
}

/* HV [nv, np] bias parts += scale * the per-block column sums part [nb, nv * w] of layer l */
static void block_bias_reduce(const mlp *p, real *HV, int nv, int l, int nb, double scale)
{
    const int w = p->dims[l];
    for (int j = 0; j < nv; j++)
        eos_model_part_reduce(HV + (size_t)j * p->np + p->boff[l], p->blk.part + (size_t)j * w, nb,
                              (size_t)nv * w, (size_t)w, NULL, scale);
}

/* One chunk of nr rows x of the block product: acc += scale * the weight parts of H V, HV's
 * bias parts += the bias parts (mode, c: the chunk's cache, as in dense_product). */
static void block_chunk(mlp *p, const real *params, const real *V, int nv, const real *x,
                        const real *Y, const int *idx, int r0, int nr, eos_loss_kind loss,
                        double scale, real *HV, cache_mode mode, real *c)
{
    hvp_block_ws *B = &p->blk;
    const int L = p->L, *dm = p->dims, nb = (nr + RB - 1) / RB;
    const size_t np = p->np;
    double *part = p->bias ? B->part : NULL;
    block_pass bp = {.p = p, .nv = nv, .V = V, .Y = Y, .idx = idx, .r0 = r0,
                     .b = bias_of(p, params, L), .loss = loss};
    const real *ain = x;
    for (int l = 1; l <= L; l++) {
        const int din = dm[l - 1], dout = dm[l];
        real *ra = B->ra[l];
        forward_plain_layer(p, params, l, ain, nr, mode, c);
        gemm(0, 1, nr, nv * dout, din, 1, ain, din, B->vf + nv * p->wsum[l], din, 0, ra,
             nv * dout);
        if (l > 1)
            gemm(0, 1, nr * nv, dout, din, 1, B->ra[l - 1], din, params + p->woff[l], din, 1, ra,
                 dout);
        if (l < L) {
#pragma omp parallel for schedule(static) /* rows split across threads */
            for (int i = 0; i < nr; i++)
                for (int j = 0; j < nv; j++) {
                    const size_t o = ((size_t)i * nv + j) * dout, oi = (size_t)i * dout;
                    act_tangent_row(ra + o, B->q[l] + o, p->d2[l] + oi, p->s[l] + oi,
                                    bias_of(p, V + (size_t)j * np, l), dout, p->tanh_a);
                }
        }
        ain = p->a[l];
    }
    eos_model_row_blocks(nr, RB, part, (size_t)nv * dm[L], block_loss_rows, &bp);
    if (part) block_bias_reduce(p, HV, nv, L, nb, scale);
    /* D, Dn [nr, dims[l]] plain deltas (dl); RD, RDn [nr, nv * dims[l]] their R-derivatives */
    for (int l = L; l >= 1; l--) {
        const int din = dm[l - 1], dout = dm[l];
        const real *W = params + p->woff[l], *ain_l = l == 1 ? x : p->a[l - 1];
        real *acc = B->acc + nv * p->wsum[l];
        real *D = p->dl[(L - l) & 1], *Dn = p->dl[(L - l + 1) & 1];
        real *RD = B->rdl[(L - l) & 1], *RDn = B->rdl[(L - l + 1) & 1];
        gemm(1, 0, nv * dout, din, nr, (real)scale, RD, nv * dout, ain_l, din, 1, acc, din);
        if (l == 1) break;
        for (int j = 0; j < nv; j++)
            gemm(1, 0, dout, din, nr, (real)scale, D, dout, B->ra[l - 1] + (size_t)j * din,
                 nv * din, 1, acc + (size_t)j * dout * din, din);
        backward_plain_x(p, W, Dn, D, l, nr, mode, c);
        gemm(0, 0, nr * nv, din, dout, 1, RD, dout, W, din, 0, RDn, din);
        gemm(0, 0, nr, nv * din, dout, 1, D, dout, B->vh + nv * p->wsum[l], nv * din, 1, RDn,
             nv * din);
        bp.l = l;
        bp.Dn = Dn;
        bp.RDn = RDn;
        eos_model_row_blocks(nr, RB, part, (size_t)nv * din, block_act_rows, &bp);
        if (part) block_bias_reduce(p, HV, nv, l - 1, nb, scale);
    }
}

static void mlp_set_hvp_cache(eos_model *m, size_t bytes)
{
    mlp *p = m->impl;
    p->cache.budget = bytes;
    p->cache.valid = 0;
}

static int mlp_hvp(eos_model *m, const real *params, const real *X, const real *Y,
                   const int *idx, int n, double scale, const real *v, real *hv)
{
    return mlp_product(m, params, X, Y, idx, n, scale, v, hv, 0);
}

/* HV [nv, np] += scale * H V for the directions V [nv, np], MLP_BLOCK at a time (see "block
 * products"). The weight parts are summed over the chunks in acc and added to HV at the end, so
 * each equals the single product's when HV starts at zero (as every caller's does). */
static int mlp_hvp_block(eos_model *m, const real *params, const real *X, const real *Y,
                         const int *idx, int n, double scale, int nv, const real *V, real *HV)
{
    int rc = 0;
    mlp *p = m->impl;
    hvp_block_ws *B = &p->blk;
    const int L = p->L, *dm = p->dims;
    const size_t np = p->np;
    if (!B->buf) EOS_TRY(block_ws_alloc(p));
    gemm_begin(m);
    for (int j0 = 0; j0 < nv; j0 += MLP_BLOCK) {
        const int nd = nv - j0 < MLP_BLOCK ? nv - j0 : MLP_BLOCK;
        const real *Vb = V + (size_t)j0 * np;
        real *HVb = HV + (size_t)j0 * np;
        for (int l = 1; l <= L; l++) {
            const size_t din = (size_t)dm[l - 1], dout = (size_t)dm[l], wl = din * dout;
            real *vf = B->vf + nd * p->wsum[l], *vh = B->vh + nd * p->wsum[l];
            for (int j = 0; j < nd; j++) {
                const real *Vl = Vb + (size_t)j * np + p->woff[l];
                memcpy(vf + (size_t)j * wl, Vl, wl * sizeof(real));
                for (size_t r = 0; r < dout; r++)
                    memcpy(vh + (r * nd + j) * din, Vl + r * din, din * sizeof(real));
            }
        }
        memset(B->acc, 0, (size_t)nd * p->wsum[L + 1] * sizeof(real));
        const cache_mode mode = cache_prepare(p, params, X, Y, idx, n, 1);
        for (int r0 = 0, ci = 0; r0 < n; r0 += m->chunk, ci++) {
            int nr = n - r0 < m->chunk ? n - r0 : m->chunk;
            const real *x = input_rows(p, X, idx, r0, nr, dm[0]);
            const int cached = mode != CACHE_OFF && ci < p->cache.n_cached;
            block_chunk(p, params, Vb, nd, x, Y, idx, r0, nr, m->loss, scale, HVb,
                        cached ? mode : CACHE_OFF,
                        cached ? p->cache.buf + (size_t)ci * p->per_chunk : NULL);
        }
        if (mode == CACHE_RECORD) p->cache.valid = 1;
        for (int l = 1; l <= L; l++) {
            const size_t wl = (size_t)dm[l - 1] * dm[l];
            const real *acc = B->acc + nd * p->wsum[l];
            for (int j = 0; j < nd; j++) {
                real *h = HVb + (size_t)j * np + p->woff[l];
                const real *a = acc + (size_t)j * wl;
                for (size_t e = 0; e < wl; e++) h[e] += a[e];
            }
        }
    }
fail:
    return rc;
}

static int mlp_gnvp(eos_model *m, const real *params, const real *X, const real *Y,
                    const int *idx, int n, double scale, const real *v, real *gv)
{
    return mlp_product(m, params, X, Y, idx, n, scale, v, gv, 1);
}

/* ------------------------------------------------------------------------------------------ */

void eos_model_init_layer(real *W, size_t nw, real *b, size_t nb, double fan_in,
                          const eos_model_cfg *mc, eos_rng *rng)
{
    double bound = mc->init_scale / sqrt(fan_in);
    if (mc->init == EOS_INIT_GAUSSIAN) {
        for (size_t i = 0; i < nw; i++) W[i] = (real)(bound * eos_rng_normal(rng));
        if (b) memset(b, 0, nb * sizeof(real));
    } else {
        for (size_t i = 0; i < nw; i++) W[i] = (real)(bound * (2.0 * eos_rng_uniform(rng) - 1.0));
        if (b)
            for (size_t i = 0; i < nb; i++) b[i] = (real)(bound * (2.0 * eos_rng_uniform(rng) - 1.0));
    }
}

void eos_dense_init(const eos_dense *p, const eos_model_cfg *mc, real *params, eos_rng *rng)
{
    for (int l = 1; l <= p->L; l++)
        eos_model_init_layer(params + p->woff[l], (size_t)p->dims[l] * (size_t)p->dims[l - 1],
                             p->bias ? params + p->boff[l] : NULL, (size_t)p->dims[l],
                             (double)p->dims[l - 1], mc, rng);
}

static void mlp_init(const eos_model *m, real *params, eos_rng *rng)
{
    eos_dense_init(m->impl, &m->cfg, params, rng);
}

void eos_dense_free(eos_dense *p)
{
    if (!p) return;
    free(p->cache.buf);
    free(p->cache.params);
    free(p->cache.idx);
    free(p->blk.buf);
    free(p->blk.part);
    free(p->acts);
    free(p->rowv);
    free(p->bwd);
    free(p->tang);
    free(p);
}

static void mlp_free(eos_model *m)
{
    eos_dense_free(m->impl);
    m->impl = NULL;
}

static const eos_model_ops mlp_ops = {
    .init = mlp_init,
    .loss_grad = mlp_loss_grad,
    .hvp = mlp_hvp,
    .hvp_block = mlp_hvp_block,
    .gnvp = mlp_gnvp,
    .set_hvp_cache = mlp_set_hvp_cache,
    .outputs = mlp_outputs,
    .free = mlp_free,
};

/* Any layout: the network reads the d features flat. */
static int mlp_validate(const eos_model_cfg *mc, eos_loss_kind loss, const eos_shape *in,
                        int n_out, const char **key)
{
    int rc = 0;
    (void)loss, (void)in, (void)n_out;
    if (mc->n_hidden < 0 || mc->n_hidden > EOS_MAX_HIDDEN)
        EOS_FAIL_KEY("model.hidden", "model.hidden: %d hidden layers, must be between 0 and %d",
                     mc->n_hidden, EOS_MAX_HIDDEN);
    for (int l = 0; l < mc->n_hidden; l++)
        if (mc->hidden[l] <= 0)
            EOS_FAIL_KEY("model.hidden", "model.hidden[%d] = %d: widths must be positive", l,
                         mc->hidden[l]);
    if ((int)mc->activation < EOS_ACT_TANH || mc->activation > EOS_ACT_IDENTITY)
        EOS_FAIL_KEY("model.activation", "model.activation: unknown activation %d",
                     (int)mc->activation);
fail:
    return rc;
}

/* Forward multiply-adds: one GEMM row per layer. */
static double mlp_cost(const eos_model_cfg *mc, const eos_shape *in, int n_out)
{
    double per_ex = 0, prev = (double)eos_shape_size(in);
    for (int l = 0; l < mc->n_hidden; l++) {
        per_ex += prev * mc->hidden[l];
        prev = mc->hidden[l];
    }
    return per_ex + prev * n_out;
}

int eos_dense_create(eos_dense **out, const eos_model_cfg *mc, int d_in, int n_out, int chunk,
                     size_t *nparams)
{
    int rc = 0;
    mlp *p = NULL;
    *out = NULL;
    EOS_ALLOC(p, 1);
    p->L = mc->n_hidden + 1;
    p->chunk = chunk;
    p->bias = mc->bias != 0;
    p->act = mc->activation;
    p->tanh_a = mc->activation == EOS_ACT_TANH;
    p->dims[0] = d_in;
    for (int l = 1; l < p->L; l++) p->dims[l] = mc->hidden[l - 1];
    p->dims[p->L] = n_out;
    size_t np = 0;
    p->maxw = 0;
    for (int l = 1; l <= p->L; l++) {
        p->woff[l] = np;
        np += (size_t)p->dims[l] * (size_t)p->dims[l - 1];
        p->boff[l] = np;
        if (p->bias) np += (size_t)p->dims[l];
        if (p->dims[l] > p->maxw) p->maxw = p->dims[l];
    }
    *nparams = np;

    size_t c = (size_t)chunk, maxw = (size_t)p->maxw, nb = (c + RB - 1) / RB;
    size_t nacts = maxw + c * (size_t)d_in + c * (size_t)n_out, ntang = 2 * c * maxw;
    int per = p->tanh_a ? 2 : 3; /* a, d1 (not for tanh), d2 per hidden layer */
    for (int l = 1; l < p->L; l++) nacts += (size_t)per * c * (size_t)p->dims[l];
    for (int l = 1; l <= p->L; l++) ntang += c * (size_t)p->dims[l];
    EOS_ALLOC(p->acts, nacts);
    EOS_ALLOC(p->bwd, 2 * c * maxw);
    EOS_ALLOC(p->tang, ntang);
    EOS_ALLOC(p->rowv, 2 * c + nb * maxw);
    real *q = p->acts;
    p->zeros = q;
    q += maxw;
    p->x0 = q;
    q += c * (size_t)d_in;
    for (int l = 1; l < p->L; l++) {
        size_t sz = c * (size_t)p->dims[l];
        p->a[l] = q;
        p->d2[l] = q + sz;
        p->d1[l] = p->tanh_a ? NULL : q + 2 * sz;
        p->s[l] = p->tanh_a ? p->a[l] : p->d1[l];
        q += (size_t)per * sz;
    }
    p->a[p->L] = q;
    p->dl[0] = p->bwd;
    p->dl[1] = p->bwd + c * maxw;
    q = p->tang;
    for (int l = 1; l <= p->L; l++) {
        p->ra[l] = q;
        q += c * (size_t)p->dims[l];
    }
    p->rdl[0] = q;
    p->rdl[1] = q + c * maxw;
    p->part = p->rowv + 2 * c;
    p->np = np;
    size_t off = 0; /* the cache's chunk layout */
    for (int l = 1; l <= p->L; l++) {
        p->c_a[l] = off;
        off += c * (size_t)p->dims[l];
        if (l < p->L && !p->tanh_a) {
            p->c_d1[l] = off;
            p->c_d2[l] = off + c * (size_t)p->dims[l];
            off += 2 * c * (size_t)p->dims[l];
        }
    }
    for (int l = 1; l < p->L; l++) {
        p->c_da[l] = off;
        off += c * (size_t)p->dims[l];
    }
    p->per_chunk = off;
    for (int l = 1; l <= p->L; l++)
        p->wsum[l + 1] = p->wsum[l] + (size_t)p->dims[l] * (size_t)p->dims[l - 1];
    *out = p;
    return 0;
fail:
    eos_dense_free(p); /* p is zeroed: the buffers not reached are NULL */
    return rc;
}

static int mlp_setup(eos_model *m)
{
    int rc = 0;
    mlp *p = NULL;
    EOS_TRY(eos_dense_create(&p, &m->cfg, m->d_in, m->n_out, m->chunk, &m->nparams));
    m->impl = p;
    m->ops = &mlp_ops;
fail:
    return rc;
}

int eos_dense_groups(const eos_dense *p, int n_hidden, size_t base, size_t end,
                     eos_param_group *g, int max)
{
    const int L = n_hidden + 1;
    for (int l = 1; l <= L && l <= max; l++) {
        snprintf(g[l - 1].name, sizeof g[l - 1].name, "fc%d", l);
        g[l - 1].off = p ? base + p->woff[l] : 0;
        g[l - 1].len = p ? (l < L ? base + p->woff[l + 1] : end) - g[l - 1].off : 0;
    }
    return L;
}

/* One group per dense layer, fc1 (from the inputs) to fcL (the output layer). */
static int mlp_groups(const eos_model_cfg *mc, const eos_model *m, eos_param_group *g, int max)
{
    return eos_dense_groups(m ? m->impl : NULL, mc->n_hidden, 0, m ? m->nparams : 0, g, max);
}

const eos_model_arch eos_model_arch_mlp = {
    .name = "mlp",
    .validate = mlp_validate,
    .cost = mlp_cost,
    .setup = mlp_setup,
    .ops = &mlp_ops,
    .groups = mlp_groups,
};

/* ------------------------------------------------------------------------------------------ */
/* naive references: one example at a time, plain loops, double accumulation                 */

void eos_act_eval_ref(eos_activation act, double z, double *a, double *d1, double *d2)
{
    switch (act) {
    case EOS_ACT_TANH: {
        double t = tanh(z);
        *a = t, *d1 = 1 - t * t, *d2 = -2 * t * (1 - t * t);
        break;
    }
    case EOS_ACT_RELU: *a = z > 0 ? z : 0, *d1 = z > 0 ? 1 : 0, *d2 = 0; break;
    case EOS_ACT_ELU:
        if (z > 0) *a = z, *d1 = 1, *d2 = 0;
        else *a = exp(z) - 1, *d1 = exp(z), *d2 = exp(z);
        break;
    case EOS_ACT_SOFTPLUS: {
        double s = 1 / (1 + exp(-z));
        *a = z > 30 ? z : log1p(exp(z)), *d1 = s, *d2 = s * (1 - s);
        break;
    }
    case EOS_ACT_GELU: {
        double Phi = 0.5 * (1 + erf(z / sqrt(2.0))), phi = exp(-0.5 * z * z) / sqrt(2 * 3.14159265358979323846);
        *a = z * Phi, *d1 = Phi + z * phi, *d2 = 2 * phi - z * z * phi;
        break;
    }
    default: *a = z, *d1 = 1, *d2 = 0; break;
    }
}

/* One example through the net: z[l], a[l] (a[0] = x), dims-sized double arrays per layer. */
typedef struct {
    double *z[MLP_MAXL + 1], *a[MLP_MAXL + 1], *d1[MLP_MAXL + 1], *d2[MLP_MAXL + 1];
    double *rz[MLP_MAXL + 1], *ra[MLP_MAXL + 1], *dz[MLP_MAXL + 1], *rdz[MLP_MAXL + 1];
    double *mem;
} ref_ws;

static int ref_ws_alloc(ref_ws *w, const mlp *p)
{
    int rc = 0;
    size_t tot = 0;
    for (int l = 0; l <= p->L; l++) tot += 8 * (size_t)p->dims[l];
    EOS_ALLOC(w->mem, tot);
    double *q = w->mem;
    for (int l = 0; l <= p->L; l++) {
        size_t d = (size_t)p->dims[l];
        w->z[l] = q, w->a[l] = q + d, w->d1[l] = q + 2 * d, w->d2[l] = q + 3 * d;
        w->rz[l] = q + 4 * d, w->ra[l] = q + 5 * d, w->dz[l] = q + 6 * d, w->rdz[l] = q + 7 * d;
        q += 8 * d;
    }
fail:
    return rc;
}

/* Forward (and tangent, when v != NULL) for one example x; a[L] = f, ra[L] = Rf. */
static void ref_forward(ref_ws *w, const mlp *p, const real *params, const real *v, const real *x)
{
    for (int j = 0; j < p->dims[0]; j++) w->a[0][j] = x[j], w->ra[0][j] = 0;
    for (int l = 1; l <= p->L; l++) {
        int in = p->dims[l - 1], od = p->dims[l];
        const real *W = params + p->woff[l];
        for (int o = 0; o < od; o++) {
            double s = p->bias ? params[p->boff[l] + (size_t)o] : 0, rs = 0;
            if (v && p->bias) rs = v[p->boff[l] + (size_t)o];
            for (int i = 0; i < in; i++) {
                s += (double)W[(size_t)o * in + i] * w->a[l - 1][i];
                if (v)
                    rs += (double)v[p->woff[l] + (size_t)o * in + i] * w->a[l - 1][i] +
                          (double)W[(size_t)o * in + i] * w->ra[l - 1][i];
            }
            w->z[l][o] = s;
            w->rz[l][o] = rs;
            if (l < p->L) {
                eos_act_eval_ref(p->act, s, &w->a[l][o], &w->d1[l][o], &w->d2[l][o]);
                w->ra[l][o] = w->d1[l][o] * rs;
            } else {
                w->a[l][o] = s;
                w->ra[l][o] = rs;
            }
        }
    }
}

double eos_loss_ref(eos_loss_kind loss, int k, const double *f, const double *rf, const real *y,
                    double *g, double *rg)
{
    double li = 0;
    if (loss == EOS_LOSS_MSE) {
        for (int j = 0; j < k; j++) {
            li += 0.5 * (f[j] - y[j]) * (f[j] - y[j]);
            g[j] = f[j] - y[j];
            if (rg) rg[j] = rf[j];
        }
        return li;
    }
    if (loss == EOS_LOSS_LOGISTIC) { /* naive forms, safe at any margin m = s f */
        double s = y[0] > 0 ? 1 : -1, m = s * f[0];
        g[0] = -s / (1 + exp(m));
        if (rg) rg[0] = rf[0] / (2 + exp(m) + exp(-m));
        return m > 0 ? log1p(exp(-m)) : log1p(exp(m)) - m;
    }
    double mx = f[0], se = 0, sy = 0;
    for (int j = 0; j < k; j++) mx = f[j] > mx ? f[j] : mx;
    for (int j = 0; j < k; j++) se += exp(f[j] - mx), sy += y[j];
    for (int j = 0; j < k; j++) {
        double logp = f[j] - mx - log(se);
        li -= y[j] * logp;
        g[j] = sy * exp(logp) - y[j];
    }
    if (rg) /* Hessian of the loss in f: S (diag(p) - p p') */
        for (int j = 0; j < k; j++) {
            double pj = exp(f[j] - mx - log(se));
            rg[j] = 0;
            for (int i = 0; i < k; i++)
                rg[j] += sy * ((i == j ? pj : 0) - pj * exp(f[i] - mx - log(se))) * rf[i];
        }
    return li;
}

double eos_correct_ref(int k, const double *f, const real *y)
{
    if (k == 1) return (y[0] > 0 ? 1 : -1) * f[0] > 0;
    int bf = 0, by = 0;
    for (int j = 1; j < k; j++) {
        if (f[j] > f[bf]) bf = j;
        if (y[j] > y[by]) by = j;
    }
    return bf == by;
}

/* Loss of one example, dL/df into dz[L] and (when rop) R(dL/df) into rdz[L]. */
static double ref_loss(ref_ws *w, const mlp *p, eos_loss_kind loss, const real *y, int rop)
{
    return eos_loss_ref(loss, p->dims[p->L], w->a[p->L], w->ra[p->L], y, w->dz[p->L],
                        rop ? w->rdz[p->L] : NULL);
}

/* Backward for one example from dz[L] (and rdz[L] when v != NULL), accumulating into g. */
static void ref_backward(ref_ws *w, const mlp *p, const real *params, const real *v, double scale,
                         real *g)
{
    for (int l = p->L; l >= 1; l--) {
        int in = p->dims[l - 1], od = p->dims[l];
        const real *W = params + p->woff[l];
        for (int o = 0; o < od; o++) {
            double d = v ? w->rdz[l][o] : w->dz[l][o];
            for (int i = 0; i < in; i++) {
                double gw = d * w->a[l - 1][i];
                if (v) gw += w->dz[l][o] * w->ra[l - 1][i];
                g[p->woff[l] + (size_t)o * in + i] += (real)(scale * gw);
            }
            if (p->bias) g[p->boff[l] + (size_t)o] += (real)(scale * d);
        }
        if (l == 1) break;
        for (int i = 0; i < in; i++) {
            double da = 0, rda = 0;
            for (int o = 0; o < od; o++) {
                da += w->dz[l][o] * (double)W[(size_t)o * in + i];
                if (v)
                    rda += w->rdz[l][o] * (double)W[(size_t)o * in + i] +
                           w->dz[l][o] * (double)v[p->woff[l] + (size_t)o * in + i];
            }
            w->dz[l - 1][i] = da * w->d1[l - 1][i];
            w->rdz[l - 1][i] = rda * w->d1[l - 1][i] + da * w->d2[l - 1][i] * w->rz[l - 1][i];
        }
    }
}

int eos_mlp_loss_grad_ref(const eos_model *m, const real *params, const real *X, const real *Y,
                          const int *idx, int n, double scale, double *loss_sum,
                          double *n_correct, real *grad)
{
    int rc = 0;
    const mlp *p = m->impl;
    ref_ws w = {0};
    EOS_TRY(ref_ws_alloc(&w, p));
    for (int i = 0; i < n; i++) {
        int r = idx ? idx[i] : i;
        const real *y = Y + (size_t)r * m->n_out;
        ref_forward(&w, p, params, NULL, X + (size_t)r * m->d_in);
        double li = ref_loss(&w, p, m->loss, y, 0);
        if (loss_sum) *loss_sum += li;
        if (n_correct) *n_correct += eos_correct_ref(m->n_out, w.a[p->L], y);
        if (grad) ref_backward(&w, p, params, NULL, scale, grad);
    }
fail:
    free(w.mem);
    return rc;
}

/* H v, or (gn) G v: the Gauss-Newton product sends H_loss Rf back through the plain backward
 * pass instead of the R-backward. */
static int ref_product(const eos_model *m, const real *params, const real *X, const real *Y,
                       const int *idx, int n, double scale, const real *v, real *out, int gn)
{
    int rc = 0;
    const mlp *p = m->impl;
    ref_ws w = {0};
    EOS_TRY(ref_ws_alloc(&w, p));
    for (int i = 0; i < n; i++) {
        int r = idx ? idx[i] : i;
        ref_forward(&w, p, params, v, X + (size_t)r * m->d_in);
        ref_loss(&w, p, m->loss, Y + (size_t)r * m->n_out, 1);
        if (gn)
            for (int j = 0; j < m->n_out; j++) w.dz[p->L][j] = w.rdz[p->L][j];
        ref_backward(&w, p, params, gn ? NULL : v, scale, out);
    }
fail:
    free(w.mem);
    return rc;
}

int eos_mlp_hvp_ref(const eos_model *m, const real *params, const real *X, const real *Y,
                    const int *idx, int n, double scale, const real *v, real *hv)
{
    return ref_product(m, params, X, Y, idx, n, scale, v, hv, 0);
}

int eos_mlp_gnvp_ref(const eos_model *m, const real *params, const real *X, const real *Y,
                     const int *idx, int n, double scale, const real *v, real *gv)
{
    return ref_product(m, params, X, Y, idx, n, scale, v, gv, 1);
}
