/* eos_lanczos.h: top eigenvalues of symmetric operators given by matrix-vector products (Lanczos). */
#ifndef EOS_LANCZOS_H
#define EOS_LANCZOS_H

#include "eos_common.h"
#include "eos_rng.h"

/* out = A v for a symmetric A of order n. Returns a status. */
typedef int (*eos_linop_fn)(void *ctx, const real *v, real *out);

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

#endif
