/* test_linear_transformer.c: linear transformer on in-context regression: forward convention, exact gradient
 * and HVP, references, threading, Hessian spectrum, and what a trained one-layer model computes.
 *
 * Build with -DEOS_FLOAT64 for the finite-difference, spectrum and training checks (a float
 * build runs the convention, reference, threading and init checks with float tolerances).
 * Oracles: the closed-form one-layer predictor written out by hand, central differences of the
 * loss and of the gradient, the naive reference kernels (explicit T x T attention scores),
 * Hessian symmetry, 1 vs 2 threads, LAPACK dsyev on the assembled Hessian, and the optimum of
 * Ahn et al. (2023): one step of preconditioned GD with Gamma = n/(n+d+1) I for Sigma = I. */
#include "eos_model.h"
#include "../src/model/model_impl.h"
#include "eos_optim.h"
#include "eos_lanczos.h"
#include "eos_test.h"

#include <omp.h>
#include <string.h>

#ifdef EOS_FLOAT64
#define TOL_REF 1e-12
#else
#define TOL_REF 2e-5
#endif

extern void dsyev_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda,
                   double *w, double *work, const int *lwork, int *info);

/* Row of the architecture table called name (-1 if none). */
static int arch_index(const char *name)
{
    for (int i = 0; eos_model_arch_name(i); i++)
        if (strcmp(eos_model_arch_name(i), name) == 0) return i;
    return -1;
}

/* Prompts of n_ctx context tokens and the query, tokens (x, y) of width dim + 1. */
static eos_shape prompts(int n_ctx, int dim)
{
    return (eos_shape){EOS_LAYOUT_TOKENS, {n_ctx + 1, dim + 1}};
}

static eos_model *make_model(int layers, int sparse, int n_ctx, int dim, int chunk, double scale)
{
    eos_model_cfg mc;
    memset(&mc, 0, sizeof mc);
    mc.arch = arch_index("linear-transformer");
    mc.layers = layers;
    mc.sparse = sparse;
    mc.init = EOS_INIT_GAUSSIAN;
    mc.init_scale = scale;
    eos_model *m = NULL;
    eos_shape in = prompts(n_ctx, dim);
    int rc = eos_model_create(&m, &mc, EOS_LOSS_MSE, &in, 1, chunk);
    EXPECT(rc == 0, "create failed: %s", eos_error_msg());
    return rc == 0 ? m : NULL;
}

/* Standard normals two at a time (Box-Muller keeping both: prompt drawing dominates training). */
static void normals(double *z, int k, eos_rng *r)
{
    for (int i = 0; i < k; i += 2) {
        double u = 1.0 - eos_rng_uniform(r), a = 6.283185307179586 * eos_rng_uniform(r);
        double rad = sqrt(-2.0 * log(u));
        z[i] = rad * cos(a);
        if (i + 1 < k) z[i + 1] = rad * sin(a);
    }
}

/* N prompts [N, (n+1)(d+1)], token-major: x ~ N(0, I), w ~ N(0, I), y = w'x; query y slot 0. */
static void draw_prompts(real *X, real *Y, int N, int n, int d, eos_rng *r)
{
    int D = d + 1;
    double w[64], z[64 * 65];
    for (int i = 0; i < N; i++) {
        real *Z = X + (size_t)i * (n + 1) * D;
        normals(z, d * (n + 2), r);
        for (int j = 0; j < d; j++) w[j] = z[j];
        for (int t = 0; t <= n; t++) {
            double y = 0;
            for (int j = 0; j < d; j++) {
                Z[t * D + j] = (real)z[d * (t + 1) + j];
                y += w[j] * Z[t * D + j];
            }
            Z[t * D + d] = t < n ? (real)y : 0;
            if (t == n) Y[i] = (real)y;
        }
    }
}

static void rand_vec(real *v, size_t n, uint64_t seed)
{
    eos_rng r;
    eos_rng_init(&r, seed, 0);
    for (size_t i = 0; i < n; i++) v[i] = (real)eos_rng_normal(&r);
}

static double rel_err(const real *a, const real *b, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        den += (double)b[i] * b[i];
    }
    return sqrt(num / (den > 0 ? den : 1));
}

typedef struct {
    int L, sparse;
} variant;
static const variant variants[] = {{1, 0}, {1, 1}, {2, 0}, {2, 1}};
#define NVAR 4

/* ------------------------------------------------------------------------------------------ */

static void test_create(void)
{
    eos_model_cfg mc;
    memset(&mc, 0, sizeof mc);
    mc.arch = arch_index("linear-transformer");
    mc.layers = 2;
    mc.init = EOS_INIT_GAUSSIAN;
    mc.init_scale = 1;
    eos_model *m = NULL;
    const eos_shape in = prompts(20, 5), flat = {EOS_LAYOUT_FLAT, {21 * 6}},
                    image = {EOS_LAYOUT_IMAGE, {1, 21, 6}};
    /* the token layout comes from the data's shape, not from the input width */
    EXPECT(eos_model_create(&m, &mc, EOS_LOSS_MSE, &flat, 1, 10) == EOS_ERR_CONFIG && !m,
           "flat data of the prompts' width must be refused");
    EXPECT(strstr(eos_error_msg(), "token-layout") != NULL && strstr(eos_error_msg(), "flat [126]"),
           "message: %s", eos_error_msg());
    EXPECT(eos_model_create(&m, &mc, EOS_LOSS_MSE, &image, 1, 10) == EOS_ERR_CONFIG && !m,
           "image data must be refused");
    EXPECT(eos_model_create(&m, &mc, EOS_LOSS_MSE, &in, 2, 10) == EOS_ERR_CONFIG && !m,
           "two outputs must be refused");
    EXPECT(eos_model_create(&m, &mc, EOS_LOSS_XENT, &in, 1, 10) == EOS_ERR_CONFIG && !m,
           "xent must be refused");
    EXPECT(strstr(eos_error_msg(), "mse") != NULL, "message: %s", eos_error_msg());
    const eos_shape no_context = prompts(0, 5), no_x = prompts(20, 0);
    EXPECT(eos_model_create(&m, &mc, EOS_LOSS_MSE, &no_context, 1, 10) == EOS_ERR_CONFIG && !m,
           "n_context 0 must be refused");
    EXPECT(eos_model_create(&m, &mc, EOS_LOSS_MSE, &no_x, 1, 10) == EOS_ERR_CONFIG && !m,
           "dim 0 must be refused");
    mc.layers = 0;
    EXPECT(eos_model_create(&m, &mc, EOS_LOSS_MSE, &in, 1, 10) == EOS_ERR_CONFIG && !m,
           "layers 0 must be refused");
    mc.layers = 3;
    /* an MLP takes the same prompts, flattened */
    mc.arch = arch_index("mlp");
    EXPECT(eos_model_create(&m, &mc, EOS_LOSS_MSE, &in, 1, 10) == 0, "%s", eos_error_msg());
    if (m) EXPECT(eos_model_nparams(m) == 126, "mlp on prompts (no bias): %zu params", eos_model_nparams(m));
    eos_model_free(m);
    mc.arch = arch_index("linear-transformer");
    EXPECT(eos_model_create(&m, &mc, EOS_LOSS_MSE, &in, 1, 10) == 0, "%s", eos_error_msg());
    if (m) EXPECT(eos_model_nparams(m) == 2 * 3 * 36, "full: %zu params", eos_model_nparams(m));
    eos_model_free(m);
    mc.sparse = 1;
    EXPECT(eos_model_create(&m, &mc, EOS_LOSS_MSE, &in, 1, 10) == 0, "%s", eos_error_msg());
    if (m) EXPECT(eos_model_nparams(m) == 3 * 26, "sparse: %zu params", eos_model_nparams(m));
    eos_model_free(m);
}

/* The documented convention, written out by hand for one layer: y_hat = -Z_1[d, n] with
 * Z_1 = Z + (1/n) P Z M Z' Q Z, i.e. y_hat = -(1/n) P[d,:] (sum_{i<n} z_i z_i') Q z_q; sparse:
 * y_hat = -(p/n) sum_i y_i x_i' B x_q. Checked through the loss of single prompts. */
static void test_forward_convention(void)
{
    const int n = 7, d = 3, D = d + 1, N = 5;
    for (int sp = 0; sp < 2; sp++) {
        eos_model *m = make_model(1, sp, n, d, 4, 1.0);
        if (!m) return;
        size_t P = eos_model_nparams(m);
        real *w = malloc(P * sizeof(real)), *X = malloc((size_t)N * (n + 1) * D * sizeof(real));
        real Y[5];
        rand_vec(w, P, 3);
        eos_rng r;
        eos_rng_init(&r, 11, 0);
        draw_prompts(X, Y, N, n, d, &r);
        for (int i = 0; i < N; i++) {
            const real *Z = X + (size_t)i * (n + 1) * D, *zq = Z + n * D;
            double yhat = 0;
            if (!sp) {
                const real *Pm = w, *Q = w + D * D;
                for (int a = 0; a < D; a++)
                    for (int b = 0; b < D; b++) {
                        double cab = 0, qb = 0;
                        for (int t = 0; t < n; t++) cab += (double)Z[t * D + a] * Z[t * D + b];
                        for (int j = 0; j < D; j++) qb += (double)Q[b * D + j] * zq[j];
                        yhat -= Pm[d * D + a] * cab * qb / n;
                    }
            } else {
                for (int t = 0; t < n; t++) {
                    double xBx = 0;
                    for (int a = 0; a < d; a++)
                        for (int b = 0; b < d; b++)
                            xBx += (double)Z[t * D + a] * w[1 + a * d + b] * zq[b];
                    yhat -= w[0] * Z[t * D + d] * xBx / n;
                }
            }
            double l = 0;
            EXPECT(eos_model_loss_grad(m, w, X, Y, &i, 1, 1.0, &l, NULL, NULL) == 0, "loss");
            EXPECT_REL(l, 0.5 * (yhat - Y[i]) * (yhat - Y[i]), 100 * TOL_REF);
        }
        free(w), free(X);
        eos_model_free(m);
    }
}

/* Optimised vs naive reference: loss, gradient and HVP, with chunks smaller than n, an index
 * subset, a scale and accumulation into nonzero outputs. */
static void test_reference(void)
{
    const int n = 6, d = 3, D = d + 1, N = 37;
    int idx[30];
    for (int i = 0; i < 30; i++) idx[i] = (i * 7 + 3) % N;
    for (int k = 0; k < NVAR; k++) {
        eos_model *m = make_model(variants[k].L, variants[k].sparse, n, d, 11, 1.0);
        if (!m) return;
        size_t P = eos_model_nparams(m);
        real *X = malloc((size_t)N * (n + 1) * D * sizeof(real)), *Y = malloc(N * sizeof(real));
        real *w = malloc(P * sizeof(real)), *v = malloc(P * sizeof(real));
        real *g1 = malloc(P * sizeof(real)), *g2 = malloc(P * sizeof(real));
        real *h1 = malloc(P * sizeof(real)), *h2 = malloc(P * sizeof(real));
        eos_rng r;
        eos_rng_init(&r, 5, 0);
        draw_prompts(X, Y, N, n, d, &r);
        eos_rng_init(&r, 9, EOS_RNG_STREAM_INIT);
        eos_model_init(m, w, &r);
        rand_vec(v, P, 8);
        for (int pass = 0; pass < 2; pass++) {
            const int *ix = pass ? idx : NULL;
            int nn = pass ? 30 : N;
            double l1 = 1.5, l2 = 1.5;
            for (size_t j = 0; j < P; j++) g1[j] = g2[j] = h1[j] = h2[j] = (real)(0.01 * j);
            EXPECT(eos_model_loss_grad(m, w, X, Y, ix, nn, 0.37, &l1, NULL, g1) == 0, "lg");
            EXPECT(eos_linear_transformer_loss_grad_ref(m, w, X, Y, ix, nn, 0.37, &l2, g2) == 0, "ref");
            EXPECT(eos_model_hvp(m, w, X, Y, ix, nn, 0.37, v, h1) == 0, "hvp");
            EXPECT(eos_linear_transformer_hvp_ref(m, w, X, Y, ix, nn, 0.37, v, h2) == 0, "hvp ref");
            EXPECT_REL(l1, l2, TOL_REF);
            EXPECT(rel_err(g1, g2, P) < TOL_REF, "L%d sparse %d pass %d: gradient rel err %.3g",
                   variants[k].L, variants[k].sparse, pass, rel_err(g1, g2, P));
            EXPECT(rel_err(h1, h2, P) < TOL_REF, "L%d sparse %d pass %d: HVP rel err %.3g",
                   variants[k].L, variants[k].sparse, pass, rel_err(h1, h2, P));
            double l3 = 0; /* loss without gradient is the same */
            EXPECT(eos_model_loss_grad(m, w, X, Y, ix, nn, 0.37, &l3, NULL, NULL) == 0, "l");
            EXPECT(l3 == l1 - 1.5, "loss-only pass differs: %.17g vs %.17g", l3, l1 - 1.5);
        }
        free(X), free(Y), free(w), free(v), free(g1), free(g2), free(h1), free(h2);
        eos_model_free(m);
    }
}

#ifdef EOS_FLOAT64
/* Gradient vs central differences of the loss, HVP vs central differences of the gradient,
 * v'Hu = u'Hv. Mean loss over N prompts. */
static void test_finite_differences(void)
{
    const int n = 5, d = 3, D = d + 1, N = 13;
    for (int k = 0; k < NVAR; k++) {
        eos_model *m = make_model(variants[k].L, variants[k].sparse, n, d, 4, 1.0);
        if (!m) return;
        size_t P = eos_model_nparams(m);
        real *X = malloc((size_t)N * (n + 1) * D * sizeof(real)), *Y = malloc(N * sizeof(real));
        real *w = malloc(P * sizeof(real)), *v = malloc(P * sizeof(real)), *u = malloc(P * sizeof(real));
        real *g = calloc(P, sizeof(real)), *gfd = calloc(P, sizeof(real));
        real *hv = calloc(P, sizeof(real)), *hu = calloc(P, sizeof(real)), *hfd = calloc(P, sizeof(real));
        real *gp = calloc(P, sizeof(real)), *gm = calloc(P, sizeof(real));
        eos_rng r;
        eos_rng_init(&r, 21, 0);
        draw_prompts(X, Y, N, n, d, &r);
        rand_vec(w, P, 4);
        for (size_t j = 0; j < P; j++) w[j] *= 0.4;
        rand_vec(v, P, 6);
        rand_vec(u, P, 7);
        double l0 = 0;
        EXPECT(eos_model_loss_grad(m, w, X, Y, NULL, N, 1.0 / N, &l0, NULL, g) == 0, "lg");
        const double h = 1e-5;
        for (size_t j = 0; j < P; j++) {
            double lp = 0, lm = 0, wj = w[j];
            w[j] = wj + h;
            eos_model_loss_grad(m, w, X, Y, NULL, N, 1.0, &lp, NULL, NULL);
            w[j] = wj - h;
            eos_model_loss_grad(m, w, X, Y, NULL, N, 1.0, &lm, NULL, NULL);
            w[j] = wj;
            gfd[j] = (lp - lm) / (2 * h * N);
        }
        EXPECT(rel_err(g, gfd, P) < 1e-6, "L%d sparse %d: gradient vs FD rel err %.3g",
               variants[k].L, variants[k].sparse, rel_err(g, gfd, P));
        eos_model_hvp(m, w, X, Y, NULL, N, 1.0 / N, v, hv);
        eos_model_hvp(m, w, X, Y, NULL, N, 1.0 / N, u, hu);
        for (size_t j = 0; j < P; j++) w[j] += h * v[j];
        eos_model_loss_grad(m, w, X, Y, NULL, N, 1.0 / N, NULL, NULL, gp);
        for (size_t j = 0; j < P; j++) w[j] -= 2 * h * v[j];
        eos_model_loss_grad(m, w, X, Y, NULL, N, 1.0 / N, NULL, NULL, gm);
        for (size_t j = 0; j < P; j++) w[j] += h * v[j], hfd[j] = (gp[j] - gm[j]) / (2 * h);
        EXPECT(rel_err(hv, hfd, P) < 1e-6, "L%d sparse %d: HVP vs FD rel err %.3g", variants[k].L,
               variants[k].sparse, rel_err(hv, hfd, P));
        double uhv = 0, vhu = 0;
        for (size_t j = 0; j < P; j++) uhv += u[j] * hv[j], vhu += v[j] * hu[j];
        EXPECT(fabs(uhv - vhu) <= 1e-9 * fabs(uhv), "L%d sparse %d: u'Hv %.15g v'Hu %.15g",
               variants[k].L, variants[k].sparse, uhv, vhu);
        free(X), free(Y), free(w), free(v), free(u), free(g), free(gfd), free(hv), free(hu);
        free(hfd), free(gp), free(gm);
        eos_model_free(m);
    }
}

typedef struct {
    eos_model *m;
    const real *w, *X, *Y;
    int N;
} hctx;

static int hvp_op(void *ctx, const real *v, real *out)
{
    hctx *c = ctx;
    memset(out, 0, eos_model_nparams(c->m) * sizeof(real));
    return eos_model_hvp(c->m, c->w, c->X, c->Y, NULL, c->N, 1.0 / c->N, v, out);
}

/* Top Hessian eigenvalues: LAPACK dsyev on H assembled column by column vs Lanczos. */
static void test_spectrum(void)
{
    const int n = 8, d = 3, D = d + 1, N = 40;
    for (int k = 0; k < NVAR; k++) {
        eos_model *m = make_model(variants[k].L, variants[k].sparse, n, d, 16, 1.0);
        if (!m) return;
        int P = (int)eos_model_nparams(m);
        real *X = malloc((size_t)N * (n + 1) * D * sizeof(real)), *Y = malloc(N * sizeof(real));
        real *w = malloc(P * sizeof(real)), *e = calloc(P, sizeof(real));
        double *H = calloc((size_t)P * P, sizeof(double)), *ev = calloc(P, sizeof(double));
        eos_rng r;
        eos_rng_init(&r, 31, 0);
        draw_prompts(X, Y, N, n, d, &r);
        eos_rng_init(&r, 2, EOS_RNG_STREAM_INIT);
        eos_model_init(m, w, &r);
        hctx c = {m, w, X, Y, N};
        real *col = malloc(P * sizeof(real));
        for (int j = 0; j < P; j++) {
            e[j] = 1;
            hvp_op(&c, e, col);
            e[j] = 0;
            for (int i = 0; i < P; i++) H[(size_t)j * P + i] = col[i];
        }
        double asym = 0, hmax = 0;
        for (int i = 0; i < P; i++)
            for (int j = 0; j < P; j++) {
                asym = fmax(asym, fabs(H[(size_t)i * P + j] - H[(size_t)j * P + i]));
                hmax = fmax(hmax, fabs(H[(size_t)i * P + j]));
            }
        EXPECT(asym <= 1e-10 * hmax, "assembled Hessian asymmetry %.3g (max %.3g)", asym, hmax);
        int lwork = 8 * P, info = 0;
        double *work = malloc(lwork * sizeof(double));
        dsyev_("N", "U", &P, H, &P, ev, work, &lwork, &info);
        EXPECT(info == 0, "dsyev info %d", info);
        eos_lanczos s;
        double eig[2];
        int nmv = 0;
        EXPECT(eos_lanczos_create(&s, P, P) == 0, "sharp create");
        eos_rng_init(&r, 3, EOS_RNG_STREAM_SHARP);
        EXPECT(eos_lanczos_run(&s, hvp_op, &c, 2, 1e-10, NULL, &r, eig, NULL, &nmv) == 0,
               "lanczos: %s", eos_error_msg());
        EXPECT_REL(eig[0], ev[P - 1], 1e-8);
        EXPECT_REL(eig[1], ev[P - 2], 1e-8);
        eos_lanczos_free(&s);
        free(X), free(Y), free(w), free(e), free(H), free(ev), free(col), free(work);
        eos_model_free(m);
    }
}
#endif

static void test_threads(void)
{
    const int n = 20, d = 5, D = d + 1, N = 301, nthr = omp_get_max_threads();
    for (int k = 0; k < NVAR; k++) {
        eos_model *m = make_model(variants[k].L, variants[k].sparse, n, d, 128, 1.0);
        if (!m) return;
        size_t P = eos_model_nparams(m);
        real *X = malloc((size_t)N * (n + 1) * D * sizeof(real)), *Y = malloc(N * sizeof(real));
        real *w = malloc(P * sizeof(real)), *v = malloc(P * sizeof(real)), *g[2], *h[2];
        double l[2] = {0, 0};
        eos_rng r;
        eos_rng_init(&r, 41, 0);
        draw_prompts(X, Y, N, n, d, &r);
        eos_rng_init(&r, 1, EOS_RNG_STREAM_INIT);
        eos_model_init(m, w, &r);
        rand_vec(v, P, 8);
        for (int t = 0; t < 2; t++) {
            omp_set_num_threads(t + 1);
            g[t] = calloc(P, sizeof(real));
            h[t] = calloc(P, sizeof(real));
            EXPECT(eos_model_loss_grad(m, w, X, Y, NULL, N, 1.0 / N, &l[t], NULL, g[t]) == 0, "lg");
            EXPECT(eos_model_hvp(m, w, X, Y, NULL, N, 1.0 / N, v, h[t]) == 0, "hvp");
        }
        EXPECT(l[0] == l[1], "loss differs across threads: %.17g vs %.17g", l[0], l[1]);
        EXPECT(memcmp(g[0], g[1], P * sizeof(real)) == 0, "L%d sparse %d: gradient differs (rel %.3g)",
               variants[k].L, variants[k].sparse, rel_err(g[0], g[1], P));
        EXPECT(memcmp(h[0], h[1], P * sizeof(real)) == 0, "L%d sparse %d: HVP differs (rel %.3g)",
               variants[k].L, variants[k].sparse, rel_err(h[0], h[1], P));
        free(X), free(Y), free(w), free(v), free(g[0]), free(g[1]), free(h[0]), free(h[1]);
        eos_model_free(m);
    }
    omp_set_num_threads(nthr);
}

/* Init: parameter order of the draws, Gaussian std and uniform bound init_scale/sqrt(d+1). */
static void test_init(void)
{
    eos_model_cfg mc;
    memset(&mc, 0, sizeof mc);
    mc.arch = arch_index("linear-transformer");
    mc.layers = 4;
    mc.init_scale = 0.5;
    const int dim = 20;
    const double bound = 0.5 / sqrt(dim + 1.0);
    for (int g = 0; g < 2; g++) {
        mc.init = g ? EOS_INIT_GAUSSIAN : EOS_INIT_PYTORCH;
        eos_model *m = NULL;
        const eos_shape in = prompts(10, dim);
        EXPECT(eos_model_create(&m, &mc, EOS_LOSS_MSE, &in, 1, 8) == 0, "%s", eos_error_msg());
        if (!m) return;
        size_t P = eos_model_nparams(m);
        real *w = malloc(P * sizeof(real));
        eos_rng r, r2;
        eos_rng_init(&r, 77, EOS_RNG_STREAM_INIT);
        r2 = r;
        eos_model_init(m, w, &r);
        double first = g ? bound * eos_rng_normal(&r2) : bound * (2 * eos_rng_uniform(&r2) - 1);
        EXPECT_REL(w[0], first, 1e-6);
        double s2 = 0, mx = 0;
        for (size_t i = 0; i < P; i++) s2 += (double)w[i] * w[i], mx = fmax(mx, fabs(w[i]));
        double sd = sqrt(s2 / P), want = g ? bound : bound / sqrt(3.0);
        EXPECT(fabs(sd - want) < 0.05 * want, "std %.4g, expected %.4g (P %zu)", sd, want, P);
        if (!g) EXPECT(mx <= bound && mx > 0.99 * bound, "max |w| %.4g, bound %.4g", mx, bound);
        free(w);
        eos_model_free(m);
    }
}

#ifdef EOS_FLOAT64
/* Ahn et al. (2023): trained on x ~ N(0, I_d), w ~ N(0, I_d), y = w'x, a one-layer linear
 * transformer's optimum predicts y_hat = x_q' Gamma (1/n) sum_i y_i x_i, Gamma = c I,
 * c = n/(n+d+1). Train online (a fresh batch of prompts every step, so no pool to overfit) with
 * Adam and a step size decaying 100x over the last two thirds, then compare on 1000 new prompts.
 * Tolerance: 5% relative prediction error and the learned Gamma within 5% of c I in Frobenius
 * norm; the fit's noise is about 1% (measured), and a wrong c (c = 1 is 23% off) or a wrong sign
 * fails. About 4 CPU-seconds for both parametrisations. */
static void train_case(int sparse)
{
    const int n = 20, d = 5, D = d + 1, B = 250, NT = 1000, steps = 1500;
    const size_t row = (size_t)(n + 1) * D;
    eos_model *m = make_model(1, sparse, n, d, B, 1.0);
    if (!m) return;
    size_t P = eos_model_nparams(m);
    real *X = malloc((size_t)NT * row * sizeof(real)), *Y = malloc(NT * sizeof(real));
    real *w = malloc(P * sizeof(real)), *g = malloc(P * sizeof(real));
    eos_rng r, rd;
    eos_rng_init(&r, 5, EOS_RNG_STREAM_INIT);
    eos_model_init(m, w, &r);
    eos_rng_init(&rd, 5, EOS_RNG_STREAM_ONLINE);
    eos_train_cfg tc;
    memset(&tc, 0, sizeof tc);
    tc.optimizer = eos_optim_find("adam");
    tc.beta1 = 0.9, tc.beta2 = 0.999, tc.eps = 1e-8, tc.lr = 0.01;
    eos_optim o;
    EXPECT(eos_optim_init(&o, &tc, P) == 0, "optim");
    double loss = 0;
    for (int s = 0; s < steps; s++) {
        draw_prompts(X, Y, B, n, d, &rd);
        memset(g, 0, P * sizeof(real));
        loss = 0;
        EXPECT(eos_model_loss_grad(m, w, X, Y, NULL, B, 1.0 / B, &loss, NULL, g) == 0, "lg");
        o.tc.lr = 0.01 * (s < steps / 3 ? 1.0 : pow(0.01, (s - steps / 3.0) / (steps * 2.0 / 3)));
        eos_optim_step(&o, w, g, NULL);
    }
    eos_optim_free(&o);
    const double c = (double)n / (n + d + 1);
    /* learned Gamma: y_hat's part linear in the labels is x_q' Gamma (1/n) X y with
     * Gamma = -(p Q[:d,:d] + u Q[d,:d])', (u', p) = P[d,:] (sparse: -p B') */
    double Gam[5][5], num = 0;
    for (int i = 0; i < d; i++)
        for (int j = 0; j < d; j++) {
            double mij; /* M[i][j], Gamma = -M' */
            if (sparse) mij = w[0] * w[1 + i * d + j];
            else mij = w[d * D + d] * w[D * D + i * D + j] + w[d * D + i] * w[D * D + d * D + j];
            Gam[j][i] = -mij;
        }
    for (int i = 0; i < d; i++)
        for (int j = 0; j < d; j++) num += pow(Gam[i][j] - (i == j ? c : 0), 2);
    double gerr = sqrt(num / (d * c * c));
    /* predictions on fresh prompts vs one step of preconditioned GD */
    draw_prompts(X, Y, NT, n, d, &rd);
    double en = 0, ed = 0, lt = 0;
    for (int i = 0; i < NT; i++) {
        const real *Z = X + (size_t)i * row;
        double li = 0, ygd = 0;
        for (int j = 0; j < d; j++) {
            double sxy = 0;
            for (int t = 0; t < n; t++) sxy += (double)Z[t * D + j] * Z[t * D + d];
            ygd += c * Z[n * D + j] * sxy / n;
        }
        /* y_hat from losses against targets 0 and 1: l(0) - l(1) = y_hat - 1/2 */
        double l0 = 0, l1 = 0;
        real zero = 0, one = 1;
        int z0 = 0;
        eos_model_loss_grad(m, w, Z, &zero, &z0, 1, 1.0, &l0, NULL, NULL);
        eos_model_loss_grad(m, w, Z, &one, &z0, 1, 1.0, &l1, NULL, NULL);
        eos_model_loss_grad(m, w, X, Y, &i, 1, 1.0, &li, NULL, NULL);
        double yhat = l0 - l1 + 0.5;
        en += (yhat - ygd) * (yhat - ygd);
        ed += ygd * ygd;
        lt += li;
    }
    double perr = sqrt(en / ed);
    fprintf(stderr, "  sparse %d: last batch loss %.4f, test loss %.4f (GD-optimum theory %.4f), "
            "prediction rel err vs GD %.4f, |Gamma - cI|/|cI| %.4f (c = %.4f, Gamma_00 %.4f)\n",
            sparse, loss / B, lt / NT, 0.5 * d * (d + 1.0) / (n + d + 1), perr, gerr, c,
            Gam[0][0]);
    EXPECT(perr < 0.05, "prediction error vs preconditioned GD %.3g >= 5%%", perr);
    EXPECT(gerr < 0.05, "learned Gamma off c I by %.3g >= 5%%", gerr);
    free(X), free(Y), free(w), free(g);
    eos_model_free(m);
}

static void test_learns_preconditioned_gd(void)
{
    train_case(0);
    train_case(1);
}
#endif

int main(void)
{
    TEST_RUN(test_create);
    TEST_RUN(test_forward_convention);
    TEST_RUN(test_reference);
    TEST_RUN(test_threads);
    TEST_RUN(test_init);
#ifdef EOS_FLOAT64
    TEST_RUN(test_finite_differences);
    TEST_RUN(test_spectrum);
    TEST_RUN(test_learns_preconditioned_gd);
#endif
    return TEST_SUMMARY();
}
