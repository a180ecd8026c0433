/* sharp.c: Lanczos with full reorthogonalisation for the top eigenvalues of a Hessian given only by
 * Hessian-vector products. Why not ARPACK: see docs/sharpness.md. The Krylov basis is kept
 * (max_iter + 1 vectors) so every new vector is orthogonalised twice against all previous ones
 * (classical Gram-Schmidt as two GEMVs per pass), which keeps Ritz values free of ghost copies;
 * the tridiagonal problem is solved with LAPACK dstev after every product, which is free next to
 * an HVP and lets us stop as soon as the wanted Ritz pairs have converged. */
#include "eos_lanczos.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

extern void dstev_(const char *jobz, const int *n, double *d, double *e, double *z, const int *ldz,
                   double *work, int *info);


int eos_lanczos_create(eos_lanczos *s, size_t n, int max_iter)
{
    int rc = 0;
    memset(s, 0, sizeof *s);
    s->n = n;
    s->max_iter = max_iter;
    size_t m = (size_t)max_iter + 1;
    EOS_ALLOC(s->basis, m * n);
    EOS_ALLOC(s->w, n);
    EOS_ALLOC(s->h, m);
    EOS_ALLOC(s->part, ((n + EOS_RED_BLOCK - 1) / EOS_RED_BLOCK) * m);
    EOS_ALLOC(s->alpha, m);
    EOS_ALLOC(s->beta, m);
    EOS_ALLOC(s->tri_d, m);
    EOS_ALLOC(s->tri_e, m);
    EOS_ALLOC(s->tri_z, m * m);
    EOS_ALLOC(s->tri_work, 2 * m);
    EOS_ALLOC(s->blk_d, m);
    EOS_ALLOC(s->blk_e, m);
    EOS_ALLOC(s->blk_z, m * m);
    return 0;
fail:
    eos_lanczos_free(s);
    return rc;
}

void eos_lanczos_free(eos_lanczos *s)
{
    free(s->basis);
    free(s->w);
    free(s->h);
    free(s->part);
    free(s->alpha);
    free(s->beta);
    free(s->tri_d);
    free(s->tri_e);
    free(s->tri_z);
    free(s->tri_work);
    free(s->blk_d);
    free(s->blk_e);
    free(s->blk_z);
    memset(s, 0, sizeof *s);
}

/* Basis kernels (why not BLAS GEMV: eos_lanczos.h). */

void eos_rows_dot(double *h, double *part, const real *Q, int m, size_t n, const real *y)
{
    const size_t nb = (n + EOS_RED_BLOCK - 1) / EOS_RED_BLOCK;
#pragma omp parallel for schedule(static) /* one block of elements per iteration */
    for (size_t b = 0; b < nb; b++) {
        size_t lo = b * EOS_RED_BLOCK, hi = lo + EOS_RED_BLOCK < n ? lo + EOS_RED_BLOCK : n;
        for (int i = 0; i < m; i++) {
            const real *q = Q + (size_t)i * n;
            double acc = 0;
            for (size_t e = lo; e < hi; e++) acc += (double)q[e] * (double)y[e];
            part[b * (size_t)m + (size_t)i] = acc;
        }
    }
    for (int i = 0; i < m; i++) {
        double acc = 0;
        for (size_t b = 0; b < nb; b++) acc += part[b * (size_t)m + (size_t)i];
        h[i] = acc;
    }
}

void eos_rows_combine(real *y, const real *Q, const double *c, int ldc, int m, size_t n,
                      double beta)
{
    const size_t nb = (n + EOS_RED_BLOCK - 1) / EOS_RED_BLOCK;
#pragma omp parallel for schedule(static) /* one block of elements per iteration */
    for (size_t b = 0; b < nb; b++) {
        size_t lo = b * EOS_RED_BLOCK, hi = lo + EOS_RED_BLOCK < n ? lo + EOS_RED_BLOCK : n;
        for (size_t e = lo; e < hi; e++) {
            double acc = beta != 0 ? beta * (double)y[e] : 0.0;
            for (int i = 0; i < m; i++) acc += c[(size_t)i * ldc] * (double)Q[(size_t)i * n + e];
            y[e] = (real)acc;
        }
    }
}

/* h[i] = q_i . w for the first j basis vectors */
static void basis_dots(eos_lanczos *s, int j, const real *w, double *h)
{
    eos_rows_dot(h, s->part, s->basis, j, s->n, w);
}

/* y = beta*y + sum_i c[i] q_i */
static void basis_combine(const eos_lanczos *s, int j, const double *c, double beta, real *y)
{
    eos_rows_combine(y, s->basis, c, 1, j, s->n, beta);
}

/* w -= Q Q' w twice over the first j rows of the basis; returns ||w||. */
static double orthogonalise(eos_lanczos *s, int j, real *w, double *h)
{
    size_t n = s->n;
    for (int pass = 0; pass < 2; pass++) {
        basis_dots(s, j, w, h);
        for (int i = 0; i < j; i++) h[i] = -h[i];
        basis_combine(s, j, h, 1.0, w);
    }
    return eos_nrm2(w, n);
}

/* Random unit vector orthogonal to the first j basis vectors, into row j. */
static int random_restart(eos_lanczos *s, int j, eos_rng *rng, double *h)
{
    size_t n = s->n;
    real *q = s->basis + (size_t)j * n;
    for (int attempt = 0; attempt < 3; attempt++) {
        for (size_t i = 0; i < n; i++) q[i] = (real)eos_rng_normal(rng);
        double nrm = j ? orthogonalise(s, j, q, h) : eos_nrm2(q, n);
        if (nrm > 1e-6 * sqrt((double)n)) {
            eos_scal(q, 1.0 / nrm, n);
            return 0;
        }
    }
    return -1; /* the basis already spans everything */
}

/* Eigen-decomposition of rows [lo, m) of the tridiagonal into d (ascending) and z (column-major,
 * column i for eigenvalue i). */
static int tridiag_eig(eos_lanczos *s, int lo, int m, double *d, double *e, double *z)
{
    int info = 0, len = m - lo, ld = len;
    memcpy(d, s->alpha + lo, (size_t)len * sizeof(double));
    if (len > 1) memcpy(e, s->beta + lo, (size_t)(len - 1) * sizeof(double));
    dstev_("V", &len, d, e, z, &ld, s->tri_work, &info);
    return info;
}

/* Are the top k Ritz pairs of the block of T starting at row lo converged? */
static int ritz_converged(const double *d, const double *z, int len, int k, double b, double tol)
{
    if (len < k) return 0;
    double scale = fabs(d[len - 1]);
    for (int i = 0; i < k; i++) {
        int col = len - 1 - i;
        double res = fabs(b * z[(size_t)col * len + (len - 1)]);
        if (res > tol * fmax(fabs(d[col]), 1e-12 * scale)) return 0;
    }
    return 1;
}

void eos_lanczos_sub(eos_lanczos *s, size_t n, eos_lanczos *sub)
{
    *sub = *s;
    sub->n = n < s->n ? n : s->n;
    if ((size_t)sub->max_iter > sub->n) sub->max_iter = (int)sub->n;
}

int eos_lanczos_ritz(const eos_lanczos *s, int i, real *vec)
{
    int rc = 0;
    const int m = s->m;
    EOS_CHECK(i >= 0 && i < m, EOS_ERR_INTERNAL, "Lanczos: Ritz vector %d of %d", i, m);
    basis_combine(s, m, s->tri_z + (size_t)(m - 1 - i) * m, 0.0, vec);
    double tn = eos_nrm2(vec, s->n);
    if (tn > 0) eos_scal(vec, 1.0 / tn, s->n);
fail:
    return rc;
}

int eos_lanczos_run(eos_lanczos *s, eos_linop_fn op, void *ctx, int k, double tol,
                          const real *v0, eos_rng *rng, double *eig, real *top_vec, int *n_matvec)
{
    int rc = 0;
    size_t n = s->n;
    int mmax = s->max_iter < (int)n ? s->max_iter : (int)n;
    double *h = s->h;
    int m = 0, nmv = 0, blk = 0; /* blk: first row of the current Krylov block */
    EOS_CHECK(k >= 1 && k <= mmax, EOS_ERR_CONFIG,
              "sharpness.k = %d must be between 1 and %d (%s)", k, mmax,
              mmax == (int)n ? "the operator's order: the model's parameter count"
                             : "sharpness.max_iter");

    double nrm = 0;
    if (v0) {
        eos_copy(s->basis, v0, n);
        nrm = eos_nrm2(s->basis, n);
    }
    if (v0 && nrm > 0 && isfinite(nrm))
        eos_scal(s->basis, 1.0 / nrm, n);
    else
        random_restart(s, 0, rng, h);

    for (int j = 0; j < mmax; j++) {
        real *q = s->basis + (size_t)j * n;
        real *w = s->w;
        EOS_TRY(op(ctx, q, w));
        nmv++;
        double a = eos_dot(q, w, n);
        EOS_CHECK(isfinite(a), EOS_ERR_NUMERIC, "Lanczos: non-finite Hessian-vector product");
        s->alpha[j] = a;
        double b = orthogonalise(s, j + 1, w, h);
        s->beta[j] = b;
        m = j + 1;
        int info = tridiag_eig(s, 0, m, s->tri_d, s->tri_e, s->tri_z);
        EOS_CHECK(info == 0, EOS_ERR_NUMERIC, "Lanczos: LAPACK dstev failed (info %d)", info);
        double anorm = 0;
        for (int i = 0; i < m; i++) anorm = fmax(anorm, fabs(s->tri_d[i]));
        /* An invariant subspace (beta ~ 0) makes every Ritz pair look converged, but a Krylov
         * space holds one copy of a repeated eigenvalue (a linear model with several outputs has
         * H = I (x) C): restart in a fresh direction, and after a restart stop only once the new
         * block's own top Ritz pairs have converged too (they may be the missing copies). */
        const int breakdown = b <= 1e-10 * fmax(anorm, 1e-300);
        if (m >= k && !breakdown && ritz_converged(s->tri_d, s->tri_z, m, k, b, tol)) {
            if (blk == 0) break;
            info = tridiag_eig(s, blk, m, s->blk_d, s->blk_e, s->blk_z);
            EOS_CHECK(info == 0, EOS_ERR_NUMERIC, "Lanczos: LAPACK dstev failed (info %d)", info);
            if (ritz_converged(s->blk_d, s->blk_z, m - blk, k, b, tol)) break;
        }
        if (j + 1 >= mmax) break;
        real *qn = s->basis + (size_t)(j + 1) * n;
        if (breakdown) {
            s->beta[j] = 0; /* decoupled block in T */
            blk = j + 1;
            if (random_restart(s, j + 1, rng, h) != 0) break;
        } else {
            for (size_t i = 0; i < n; i++) qn[i] = (real)(w[i] / b);
        }
    }
    {
        int info = tridiag_eig(s, 0, m, s->tri_d, s->tri_e, s->tri_z);
        EOS_CHECK(info == 0, EOS_ERR_NUMERIC, "Lanczos: LAPACK dstev failed (info %d)", info);
    }
    for (int i = 0; i < k; i++) eig[i] = i < m ? s->tri_d[m - 1 - i] : NAN;
    s->m = m;
    if (top_vec) EOS_TRY(eos_lanczos_ritz(s, 0, top_vec));
    if (n_matvec) *n_matvec = nmv;
    return 0;
fail:
    if (n_matvec) *n_matvec = nmv;
    return rc;
}
