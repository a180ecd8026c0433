/* eos_lanczos.h: top eigenvalues of symmetric operators given by matrix-vector products (Lanczos,
 * LOBPCG). */
#ifndef EOS_LANCZOS_H
#define EOS_LANCZOS_H

#include "eos_common.h"
#include "eos_rng.h"

/* out = A v for a symmetric A of order n. Returns a status. */
typedef int (*eos_linop_fn)(void *ctx, const real *v, real *out);
/* OUT = A V for nv vectors at once, V and OUT [nv, n] (rows); the same A as a single operator
 * beside it, to rounding. */
typedef int (*eos_linop_block_fn)(void *ctx, const real *V, int nv, real *OUT);

/* Kernels of both solvers. BLAS GEMV is not used: OpenBLAS splits short-and-wide GEMVs along the
 * long dimension with a reduction whose order depends on the thread count. Both work on fixed
 * blocks of EOS_RED_BLOCK elements, one per OpenMP iteration, combined in block order, so results
 * are bitwise independent of OMP_NUM_THREADS. */
/* h[i] = Q_i . y for the m rows of Q [m, n]; part [n / EOS_RED_BLOCK + 1, m] is workspace. */
void eos_rows_dot(double *h, double *part, const real *Q, int m, size_t n, const real *y);
/* y [n] = beta y + sum_i c[i * ldc] Q_i over the m rows of Q [m, n] (elementwise: order-free). */
void eos_rows_combine(real *y, const real *Q, const double *c, int ldc, int m, size_t n,
                      double beta);

typedef struct {
    size_t n;
    int max_iter;
    real *basis;     /* [max_iter + 1, n] Lanczos vectors */
    real *w;         /* [n] work vector */
    double *h;       /* [max_iter + 1] projections on the basis */
    double *part;    /* [n / EOS_RED_BLOCK + 1, max_iter + 1] per-block partial projections */
    double *alpha, *beta;   /* [max_iter + 1] tridiagonal */
    double *tri_d, *tri_e, *tri_z, *tri_work; /* LAPACK dstev workspace */
    double *blk_d, *blk_e, *blk_z;            /* the same for the block after a restart */
    int m;           /* size of the last run's Krylov basis (its Ritz pairs: eos_lanczos_ritz) */
} eos_lanczos;

int eos_lanczos_create(eos_lanczos *s, size_t n, int max_iter);
void eos_lanczos_free(eos_lanczos *s);

/* The k largest (algebraic) eigenvalues of A, descending, into eig[k], by Lanczos with full
 * reorthogonalisation. Starts from v0 (warm start: the previous top eigenvector; NULL = random
 * from rng) and stops when every wanted Ritz pair's residual |beta_m s_mi| <= tol * |theta_i|, or
 * after max_iter products. If top_vec is not NULL it receives the top Ritz vector (unit norm).
 * *n_matvec receives the number of products used. */
int eos_lanczos_run(eos_lanczos *s, eos_linop_fn op, void *ctx, int k, double tol,
                          const real *v0, eos_rng *rng, double *eig, real *top_vec, int *n_matvec);

/* A workspace for an operator of order n <= s->n in s's buffers (one solver sized for the
 * largest of several operators): valid while s lives, never freed itself. */
void eos_lanczos_sub(eos_lanczos *s, size_t n, eos_lanczos *sub);
/* The i-th largest Ritz vector (i = 0: the top one, unit norm) of the last eos_lanczos_run into
 * vec [n]; EOS_ERR_INTERNAL if that run had fewer than i + 1 Ritz pairs. */
int eos_lanczos_ritz(const eos_lanczos *s, int i, real *vec);

/* LOBPCG (src/curv/lobpcg.c): the same top eigenvalues, by block iterations on b = k + guard
 * vectors, warm-started from a whole block. */
#define EOS_LOBPCG_MAX_BLOCK 40 /* k (at most 32 with sharpness.k_min) plus guard vectors */
typedef struct {
    size_t n;
    int b;          /* the largest block the workspace holds */
    real *S, *AS;   /* [3b, n] the basis [X, W, P] and the operator applied to it */
    real *T;        /* [4b, n] the next X, AX, P, AP */
    double *G;      /* [3b, 3b] projected operator, then its eigenvectors (column-major) */
    double *theta;  /* [3b] its eigenvalues, ascending */
    double *res;    /* [b] residual norms of the wanted Ritz pairs */
    double *h;      /* [3b] projections on the basis */
    double *part;   /* [n / EOS_RED_BLOCK + 1, 3b] per-block partial projections */
    double *work;   /* LAPACK dsyev workspace */
    int lwork;
} eos_lobpcg;

int eos_lobpcg_create(eos_lobpcg *s, size_t n, int b);
void eos_lobpcg_free(eos_lobpcg *s);
/* The block size for k wanted eigenvalues with guard extra vectors on an operator of order n. */
int eos_lobpcg_block(int k, int guard, size_t n);
/* The k largest eigenvalues of A, descending, into eig[k], stopping like eos_lanczos_run (every
 * wanted Ritz pair's residual <= tol |theta|) or after max_iter iterations (b products to start,
 * then at most k per iteration: the wanted pairs' residuals). An iteration's products go to opb in
 * one call when it is not NULL, else to op one vector at a time. X [b, n] (b =
 * eos_lobpcg_block(k, guard, n)): with warm, the start block (rows that are zero or dependent are
 * replaced from rng); on return the b Ritz vectors, descending, unit norm (row 0: the top
 * eigenvector). *n_matvec receives the number of products used. */
int eos_lobpcg_run(eos_lobpcg *s, eos_linop_fn op, eos_linop_block_fn opb, void *ctx, int k,
                   int guard, double tol, int max_iter, real *X, int warm, eos_rng *rng,
                   double *eig, int *n_matvec);

#endif
