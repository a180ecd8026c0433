/* sharp.c: Lanczos with full reorthogonalisation for the top eigenvalues of a Hessian given only by
 * Hessian-vector products. Why not ARPACK: see docs/sharpness.md. The Krylov basis is kept
 * (max_iter + 1 vectors) so every new vector is orthogonalised twice against all previous ones
 * (classical Gram-Schmidt as two GEMVs per pass), which keeps Ritz values free of ghost copies;
 * the tridiagonal problem is solved with LAPACK dstev after every product, which is free next to
 * an HVP and lets us stop as soon as the wanted Ritz pairs have converged. */
#include "eos_sharp.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

extern void dstev_(const char *jobz, const int *n, double *d, double *e, double *z, const int *ldz,
                   double *work, int *info);

#ifdef EOS_FLOAT64
#define GEMV cblas_dgemv
#else
#define GEMV cblas_sgemv
#endif

int eos_sharp_create(eos_sharp *s, size_t n, int max_iter)
{
    int rc = 0;
    memset(s, 0, sizeof *s);
    s->n = n;
    s->max_iter = max_iter;
    size_t m = (size_t)max_iter + 1;
    EOS_ALLOC(s->basis, m * n);
    EOS_ALLOC(s->w, n + m); /* tail: Ritz coefficients in `real` for the final GEMV */
    EOS_ALLOC(s->alpha, m);
    EOS_ALLOC(s->beta, m);
    EOS_ALLOC(s->tri_d, m);
    EOS_ALLOC(s->tri_e, m);
    EOS_ALLOC(s->tri_z, m * m);
    EOS_ALLOC(s->tri_work, 2 * m);
    return 0;
fail:
    eos_sharp_free(s);
    return rc;
}

void eos_sharp_free(eos_sharp *s)
{
    free(s->basis);
    free(s->w);
    free(s->alpha);
    free(s->beta);
    free(s->tri_d);
    free(s->tri_e);
    free(s->tri_z);
    free(s->tri_work);
    memset(s, 0, sizeof *s);
}

/* w -= Q Q' w twice over the first j rows of the basis; returns ||w||. */
static double orthogonalise(eos_sharp *s, int j, real *w, real *h)
{
    size_t n = s->n;
    for (int pass = 0; pass < 2; pass++) {
        GEMV(CblasRowMajor, CblasNoTrans, j, (int)n, 1, s->basis, (int)n, w, 1, 0, h, 1);
        GEMV(CblasRowMajor, CblasTrans, j, (int)n, -1, s->basis, (int)n, h, 1, 1, w, 1);
    }
    return eos_nrm2(w, n);
}

/* Random unit vector orthogonal to the first j basis vectors, into row j. */
static int random_restart(eos_sharp *s, int j, eos_rng *rng, real *h)
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

/* Eigen-decomposition of the (m x m) tridiagonal: eigenvalues ascending in tri_d, vectors in
 * tri_z (column-major, column i for eigenvalue i). */
static int tridiag_eig(eos_sharp *s, int m)
{
    int info = 0, ld = m;
    memcpy(s->tri_d, s->alpha, (size_t)m * sizeof(double));
    if (m > 1) memcpy(s->tri_e, s->beta, (size_t)(m - 1) * sizeof(double));
    dstev_("V", &m, s->tri_d, s->tri_e, s->tri_z, &ld, s->tri_work, &info);
    return info;
}

int eos_sharp_lanczos_run(eos_sharp *s, eos_linop_fn op, void *ctx, int k, double tol,
                          const real *v0, eos_rng *rng, double *eig, real *top_vec, int *n_matvec)
{
    int rc = 0;
    size_t n = s->n;
    int mmax = s->max_iter < (int)n ? s->max_iter : (int)n;
    real *h = s->w + n; /* scratch of length max_iter + 1 */
    int m = 0, nmv = 0;
    EOS_CHECK(k >= 1 && k <= mmax, EOS_ERR_CONFIG,
              "sharpness.k = %d must be between 1 and the iteration cap %d", k, mmax);

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
        int info = tridiag_eig(s, m);
        EOS_CHECK(info == 0, EOS_ERR_NUMERIC, "Lanczos: LAPACK dstev failed (info %d)", info);
        if (m >= k) {
            double scale = fabs(s->tri_d[m - 1]);
            int done = 1;
            for (int i = 0; i < k; i++) {
                int col = m - 1 - i;
                double res = fabs(b * s->tri_z[(size_t)col * m + (m - 1)]);
                if (res > tol * fmax(fabs(s->tri_d[col]), 1e-12 * scale)) done = 0;
            }
            if (done || m == mmax) break;
        }
        if (j + 1 >= mmax) break;
        real *qn = s->basis + (size_t)(j + 1) * n;
        double anorm = 0;
        for (int i = 0; i < m; i++) anorm = fmax(anorm, fabs(s->tri_d[i]));
        if (b <= 1e-10 * fmax(anorm, 1e-300)) {
            /* Invariant subspace found: continue in a fresh direction, decoupled (beta = 0). */
            s->beta[j] = 0;
            if (random_restart(s, j + 1, rng, h) != 0) break;
        } else {
            for (size_t i = 0; i < n; i++) qn[i] = (real)(w[i] / b);
        }
    }
    {
        int info = tridiag_eig(s, m);
        EOS_CHECK(info == 0, EOS_ERR_NUMERIC, "Lanczos: LAPACK dstev failed (info %d)", info);
    }
    for (int i = 0; i < k; i++) eig[i] = i < m ? s->tri_d[m - 1 - i] : NAN;
    if (top_vec) {
        for (int i = 0; i < m; i++) h[i] = (real)s->tri_z[(size_t)(m - 1) * m + i];
        GEMV(CblasRowMajor, CblasTrans, m, (int)n, 1, s->basis, (int)n, h, 1, 0, top_vec, 1);
        double tn = eos_nrm2(top_vec, n);
        if (tn > 0) eos_scal(top_vec, 1.0 / tn, n);
    }
    if (n_matvec) *n_matvec = nmv;
    return 0;
fail:
    if (n_matvec) *n_matvec = nmv;
    return rc;
}
