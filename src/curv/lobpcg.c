/* lobpcg.c: the top eigenvalues of a symmetric operator given by products, by LOBPCG (Knyazev
 * 2001) in the orthonormal-basis form of Hetmaniuk & Lehoucq (2006): each iteration does the
 * Rayleigh-Ritz step on span [X, W, P] (X the block of b = k + guard Ritz vectors, W the residuals
 * of the wanted pairs that have not converged, P the previous update), kept explicitly orthonormal so
 * float32 vectors do not lose rank. Products are only spent on W: the images of X and P are
 * carried along as the same linear combinations of earlier images. It stops on the same
 * criterion as Lanczos (every wanted pair's residual |A x - theta x| <= tol |theta|), so the two
 * solvers give eigenvalues of equal accuracy. Its point is the warm start: the previous
 * measurement's whole block, not one vector, so between nearby points every wanted pair (not only
 * the top one) starts close to converged (docs/sharpness.md compares the two).
 *
 * All reductions run over fixed blocks of EOS_RED_BLOCK elements combined in order and every
 * linear combination is elementwise, so results are bitwise independent of the thread count. */
#include "eos_lanczos.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

extern void dsyev_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda,
                   double *w, double *work, const int *lwork, int *info);

/* A basis vector that keeps less than this fraction of its norm after orthogonalisation against
 * the others is (to float32 rounding) in their span and is dropped. */
#define LOBPCG_DROP 1e-5

int eos_lobpcg_create(eos_lobpcg *s, size_t n, int b)
{
    int rc = 0;
    memset(s, 0, sizeof *s);
    s->n = n;
    s->b = b;
    const size_t m = 3 * (size_t)b, nb = (n + EOS_RED_BLOCK - 1) / EOS_RED_BLOCK;
    EOS_ALLOC(s->S, m * n);
    EOS_ALLOC(s->AS, m * n);
    EOS_ALLOC(s->T, 4 * (size_t)b * n);
    EOS_ALLOC(s->G, m * m);
    EOS_ALLOC(s->theta, m);
    EOS_ALLOC(s->res, (size_t)b);
    EOS_ALLOC(s->h, m);
    EOS_ALLOC(s->part, nb * m);
    s->lwork = 64 * (int)m;
    EOS_ALLOC(s->work, (size_t)s->lwork);
    return 0;
fail:
    eos_lobpcg_free(s);
    return rc;
}

void eos_lobpcg_free(eos_lobpcg *s)
{
    free(s->S);
    free(s->AS);
    free(s->T);
    free(s->G);
    free(s->theta);
    free(s->res);
    free(s->h);
    free(s->part);
    free(s->work);
    memset(s, 0, sizeof *s);
}

static void dots(eos_lobpcg *s, int m, const real *Q, const real *y, double *h)
{
    eos_rows_dot(h, s->part, Q, m, s->n, y);
}

static void combine(size_t n, int m, const real *Q, const double *c, int ldc, double beta, real *y)
{
    eos_rows_combine(y, Q, c, ldc, m, n, beta);
}

static void move_row(real *M, size_t n, int from, int to)
{
    if (from != to) memcpy(M + (size_t)to * n, M + (size_t)from * n, n * sizeof(real));
}

/* Orthonormalises rows [lo, hi) of S against rows [0, lo) and each other (classical Gram-Schmidt,
 * two passes), applying the same combinations to AS when track is set, and compacts the rows
 * kept to [lo, return). */
static int orthonormalise(eos_lobpcg *s, int lo, int hi, int track)
{
    const size_t n = s->n;
    double *h = s->h;
    int out = lo;
    for (int j = lo; j < hi; j++) {
        move_row(s->S, n, j, out);
        if (track) move_row(s->AS, n, j, out);
        real *v = s->S + (size_t)out * n, *av = s->AS + (size_t)out * n;
        const double nrm0 = eos_nrm2(v, n);
        if (!(nrm0 > 0) || !isfinite(nrm0)) continue;
        for (int pass = 0; pass < 2 && out > 0; pass++) {
            dots(s, out, s->S, v, h);
            for (int i = 0; i < out; i++) h[i] = -h[i];
            combine(n, out, s->S, h, 1, 1.0, v);
            if (track) combine(n, out, s->AS, h, 1, 1.0, av);
        }
        const double nrm = eos_nrm2(v, n);
        if (nrm <= LOBPCG_DROP * nrm0) continue;
        eos_scal(v, 1.0 / nrm, n);
        if (track) eos_scal(av, 1.0 / nrm, n);
        out++;
    }
    return out;
}

/* Rayleigh-Ritz on the m orthonormal rows of S: s->G receives the eigenvectors of S' A S
 * (column-major, ascending with s->theta). */
static int rayleigh_ritz(eos_lobpcg *s, int m)
{
    int rc = 0, info = 0;
    double *G = s->G;
    for (int j = 0; j < m; j++) dots(s, m, s->S, s->AS + (size_t)j * s->n, G + (size_t)j * m);
    for (int i = 0; i < m; i++)
        for (int j = 0; j < i; j++) {
            double a = 0.5 * (G[(size_t)i * m + j] + G[(size_t)j * m + i]);
            G[(size_t)i * m + j] = G[(size_t)j * m + i] = a;
        }
    for (int i = 0; i < m * m; i++)
        EOS_CHECK(isfinite(G[i]), EOS_ERR_NUMERIC, "LOBPCG: non-finite Hessian-vector product");
    dsyev_("V", "U", &m, G, &m, s->theta, s->work, &s->lwork, &info);
    EOS_CHECK(info == 0, EOS_ERR_NUMERIC, "LOBPCG: LAPACK dsyev failed (info %d)", info);
fail:
    return rc;
}

/* Random rows [from, to) of S, from the stream. */
static void random_rows(eos_lobpcg *s, int from, int to, eos_rng *rng)
{
    for (size_t i = (size_t)from * s->n; i < (size_t)to * s->n; i++)
        s->S[i] = (real)eos_rng_normal(rng);
}

/* AV [nv, n] = A V [nv, n]: one block call, or one product per vector */
static int apply(eos_linop_fn op, eos_linop_block_fn opb, void *ctx, size_t n, const real *V,
                 int nv, real *AV)
{
    int rc = 0;
    if (opb) return opb(ctx, V, nv, AV);
    for (int j = 0; j < nv; j++) EOS_TRY(op(ctx, V + (size_t)j * n, AV + (size_t)j * n));
fail:
    return rc;
}

int eos_lobpcg_run(eos_lobpcg *s, eos_linop_fn op, eos_linop_block_fn opb, void *ctx, int k,
                   int guard, double tol, int max_iter, real *X, int warm, eos_rng *rng,
                   double *eig, int *n_matvec)
{
    int rc = 0, nmv = 0;
    const size_t n = s->n;
    const int b = eos_lobpcg_block(k, guard, n);
    EOS_CHECK(k >= 1 && b <= s->b, EOS_ERR_INTERNAL, "LOBPCG: block of %d for k = %d, room for %d",
              b, k, s->b);
    real *S = s->S, *AS = s->AS, *T = s->T;

    /* X: the kept block (its rows that are still independent), completed from the stream */
    int nx = 0;
    if (warm) {
        memcpy(S, X, (size_t)b * n * sizeof(real));
        nx = orthonormalise(s, 0, b, 0);
    }
    for (int attempt = 0; nx < b && attempt < 3; attempt++) {
        random_rows(s, nx, b, rng);
        nx = orthonormalise(s, nx, b, 0);
    }
    EOS_CHECK(nx == b, EOS_ERR_NUMERIC, "LOBPCG: no %d independent start vectors", b);
    EOS_TRY(apply(op, opb, ctx, n, S, b, AS));
    nmv += b;
    int m = b, np = 0; /* basis rows: X [0, b), W [b, b + nw), P after W; np rows of P in T */
    real *Pn = T + 2 * (size_t)b * n, *APn = T + 3 * (size_t)b * n;
    for (int it = 0;; it++) {
        EOS_TRY(rayleigh_ritz(s, m));
        /* X, AX <- the top b Ritz pairs (descending); P, AP <- their W and P components */
        const double *G = s->G;
        for (int j = 0; j < b; j++) {
            const double *y = G + (size_t)(m - 1 - j) * m;
            combine(n, m, S, y, 1, 0.0, T + (size_t)j * n);
            combine(n, m, AS, y, 1, 0.0, T + (size_t)(b + j) * n);
            if (m > b) {
                combine(n, m - b, S + (size_t)b * n, y + b, 1, 0.0, Pn + (size_t)j * n);
                combine(n, m - b, AS + (size_t)b * n, y + b, 1, 0.0, APn + (size_t)j * n);
            }
        }
        double theta[3 * EOS_LOBPCG_MAX_BLOCK];
        for (int j = 0; j < b; j++) theta[j] = s->theta[m - 1 - j];
        np = m > b ? b : 0;
        memcpy(S, T, (size_t)b * n * sizeof(real));
        memcpy(AS, T + (size_t)b * n, (size_t)b * n * sizeof(real));
        for (int j = 0; j < k; j++) eig[j] = theta[j];

        /* residuals W = AX - X theta of the wanted pairs not converged, into rows [b, b + nw).
         * The guard pairs get none of their own: they improve through the Rayleigh-Ritz step on
         * the wanted pairs' directions, which is all they are for (keeping the k-th pair's gap
         * large); with their residuals too a whole EoS run took 400 products instead of 256
         * (docs/sharpness.md). */
        double scale = 0;
        for (int j = 0; j < b; j++) scale = fmax(scale, fabs(theta[j]));
        int nw = 0;
        for (int j = 0; j < k; j++) {
            real *w = S + (size_t)(b + nw) * n;
            const real *x = S + (size_t)j * n, *ax = AS + (size_t)j * n;
            for (size_t e = 0; e < n; e++) w[e] = (real)((double)ax[e] - theta[j] * (double)x[e]);
            s->res[j] = eos_nrm2(w, n);
            const int conv = s->res[j] <= tol * fmax(fabs(theta[j]), 1e-12 * scale);
            nw += !conv;
        }
        if (nw == 0 || it >= max_iter) break;
        nw = orthonormalise(s, b, b + nw, 0) - b;
        if (nw == 0) break; /* the residuals lie in span X: nothing left to add */
        EOS_TRY(apply(op, opb, ctx, n, S + (size_t)b * n, nw, AS + (size_t)b * n));
        nmv += nw;
        for (int j = 0; j < np; j++) {
            memcpy(S + (size_t)(b + nw + j) * n, Pn + (size_t)j * n, n * sizeof(real));
            memcpy(AS + (size_t)(b + nw + j) * n, APn + (size_t)j * n, n * sizeof(real));
        }
        m = orthonormalise(s, b + nw, b + nw + np, 1);
    }
    memcpy(X, S, (size_t)b * n * sizeof(real));
    if (n_matvec) *n_matvec = nmv;
    return 0;
fail:
    if (n_matvec) *n_matvec = nmv;
    return rc;
}

int eos_lobpcg_block(int k, int guard, size_t n)
{
    int b = k + guard;
    if (b > EOS_LOBPCG_MAX_BLOCK) b = EOS_LOBPCG_MAX_BLOCK;
    if ((size_t)b > n) b = (int)n;
    return b < k ? k : b;
}
