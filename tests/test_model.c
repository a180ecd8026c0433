/* test_model.c: MLP losses, gradients and exact HVPs.
 *
 * Build with -DEOS_FLOAT64 for the finite-difference checks (a float build runs the reference,
 * threading and init checks with float tolerances and skips finite differences). Oracles:
 * central differences of the loss and of the gradient, direct hand computation for linear
 * models, double-precision libm formulas for the activations, the naive reference kernels,
 * Hessian symmetry, 1 vs 2 threads, and independent RNG draws for init. */
#include "eos_model.h"
#include "../src/model/model_impl.h"
#include "eos_test.h"
#include "model_test_util.h"

#include <cblas.h>
#include <omp.h>
#include <string.h>

#ifdef EOS_FLOAT64
#define TOL_REF 1e-12
#else
#define TOL_REF 1e-5
#endif


typedef struct {
    const char *name;
    int d, nh, hidden[3], k, bias, n;
} shape;

#ifdef EOS_FLOAT64
static const shape shapes[] = {
    {"d5-[4,3]-3", 5, 2, {4, 3}, 3, 1, 7},
    {"linear d5-3", 5, 0, {0}, 3, 1, 7},
    {"d5-[4,3]-3 nobias", 5, 2, {4, 3}, 3, 0, 7},
    {"threshold relu d3-[8]-1", 3, 1, {8}, 1, 1, 9}, /* two-layer net with biases */
    {"d4-[5,3]-1 nobias", 4, 2, {5, 3}, 1, 0, 8},    /* one output: logistic too */
};
#endif


/* d features without structure. */
static eos_shape flat(int d) { return (eos_shape){EOS_LAYOUT_FLAT, {d}}; }

static int model_gemm_tiles; /* model.gemm_tiles of make_model's models (0: the default) */

static eos_model *make_model(eos_activation act, eos_loss_kind loss, const shape *s, int chunk)
{
    eos_model_cfg mc;
    memset(&mc, 0, sizeof mc);
    mc.gemm_tiles = model_gemm_tiles;
    mc.arch = arch_index("mlp");
    mc.n_hidden = s->nh;
    for (int i = 0; i < s->nh; i++) mc.hidden[i] = s->hidden[i];
    mc.activation = act;
    mc.bias = s->bias;
    mc.init = EOS_INIT_PYTORCH;
    mc.init_scale = 1.5; /* a bit beyond the default so the nonlinearity matters */
    eos_model *m = NULL;
    eos_shape in = flat(s->d);
    int rc = eos_model_create(&m, &mc, loss, &in, s->k, chunk);
    EXPECT(rc == 0, "create failed: %s", eos_error_msg());
    return rc == 0 ? m : NULL;
}

#ifdef EOS_FLOAT64
static double mean_loss(eos_model *m, const real *w, const real *X, const real *Y, int n)
{
    double l = 0;
    int rc = eos_model_loss_grad(m, w, X, Y, NULL, n, 1.0 / n, &l, NULL, NULL);
    EXPECT(rc == 0, "loss failed");
    return l / n;
}

/* gradient vs central differences of the loss; HVP vs central differences of the gradient;
 * symmetry v'Hw = w'Hv. Every activation, both losses, every shape. */
static void test_derivatives_fd(void)
{
    for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++)
        for (int li = 0; li < N_LOSSES; li++)
            for (int ai = 0; ai < 6; ai++) {
                const shape *s = &shapes[si];
                eos_loss_kind loss = all_losses[li];
                if (!loss_fits(li, s->k)) continue;
                eos_model *m = make_model(all_acts[ai], loss, s, 4);
                if (!m) return;
                size_t P = eos_model_nparams(m);
                int n = s->n;
                real *X = malloc(sizeof(real) * n * s->d), *Y = malloc(sizeof(real) * n * s->k);
                real *w = malloc(sizeof(real) * P), *g = calloc(P, sizeof(real));
                real *gfd = malloc(sizeof(real) * P), *v = malloc(sizeof(real) * P);
                real *u = malloc(sizeof(real) * P), *hv = calloc(P, sizeof(real));
                real *hu = calloc(P, sizeof(real)), *hfd = malloc(sizeof(real) * P);
                real *gp = malloc(sizeof(real) * P), *gm = malloc(sizeof(real) * P);
                real *wt = malloc(sizeof(real) * P);
                make_data(X, Y, n, s->d, s->k, loss, 11 + si);
                eos_rng r;
                eos_rng_init(&r, 7 + ai, EOS_RNG_STREAM_INIT);
                eos_model_init(m, w, &r);
                rand_vec(v, P, 100 + ai);
                rand_vec(u, P, 200 + ai);
                double l0 = 0;
                EXPECT(eos_model_loss_grad(m, w, X, Y, NULL, n, 1.0 / n, &l0, NULL, g) == 0, "grad");
                /* gradient by central differences, h = 1e-6 */
                const double h = 1e-6;
                for (size_t p = 0; p < P; p++) {
                    memcpy(wt, w, P * sizeof(real));
                    wt[p] = w[p] + h;
                    double lp = mean_loss(m, wt, X, Y, n);
                    wt[p] = w[p] - h;
                    double lm = mean_loss(m, wt, X, Y, n);
                    gfd[p] = (real)((lp - lm) / (2 * h));
                }
                double eg = rel_err(g, gfd, P);
                EXPECT(eg < 1e-6, "%s %s %s: gradient vs FD rel err %.3g", s->name,
                       act_names[ai], loss_names[li], eg);
                /* HVP vs central differences of the gradient along v, h = 1e-5 */
                EXPECT(eos_model_hvp(m, w, X, Y, NULL, n, 1.0 / n, v, hv) == 0, "hvp");
                const double hh = 1e-5;
                for (size_t p = 0; p < P; p++) wt[p] = w[p] + (real)hh * v[p];
                memset(gp, 0, P * sizeof(real));
                eos_model_loss_grad(m, wt, X, Y, NULL, n, 1.0 / n, NULL, NULL, gp);
                for (size_t p = 0; p < P; p++) wt[p] = w[p] - (real)hh * v[p];
                memset(gm, 0, P * sizeof(real));
                eos_model_loss_grad(m, wt, X, Y, NULL, n, 1.0 / n, NULL, NULL, gm);
                for (size_t p = 0; p < P; p++) hfd[p] = (real)((gp[p] - gm[p]) / (2 * hh));
                double eh = rel_err(hv, hfd, P);
                EXPECT(eh < 1e-6, "%s %s %s: HVP vs FD rel err %.3g", s->name, act_names[ai],
                       loss_names[li], eh);
                /* symmetry */
                EXPECT(eos_model_hvp(m, w, X, Y, NULL, n, 1.0 / n, u, hu) == 0, "hvp");
                double uhv = 0, vhu = 0, nn = 0;
                for (size_t p = 0; p < P; p++) {
                    uhv += (double)u[p] * hv[p];
                    vhu += (double)v[p] * hu[p];
                    nn += fabs((double)u[p] * hv[p]) + fabs((double)v[p] * hu[p]);
                }
                EXPECT(fabs(uhv - vhu) <= 1e-12 * nn, "%s %s %s: u'Hv = %.15g, v'Hu = %.15g",
                       s->name, act_names[ai], loss_names[li], uhv, vhu);
                free(X), free(Y), free(w), free(g), free(gfd), free(v), free(u), free(hv);
                free(hu), free(hfd), free(gp), free(gm), free(wt);
                eos_model_free(m);
            }
}
#endif

/* Optimised path vs the naive reference: loss, accuracy, gradient and HVP, with idx selection
 * (repeats, out of order) and chunk < n so several chunks (and a partial one) are processed;
 * chunk 70 also spans several (and a partial) of the RB = 32 row blocks of the fused reductions.
 * Outputs start non-zero to check that both accumulate. */
static void test_vs_reference(void)
{
    const shape big[] = {
        {"d6-[5,4,3]-4", 6, 3, {5, 4, 3}, 4, 1, 150},
        {"d6-[9]-3 nobias", 6, 1, {9}, 3, 0, 150},
        {"linear d6-2", 6, 0, {0}, 2, 1, 150},
        {"threshold relu d3-[8]-1", 3, 1, {8}, 1, 1, 150},
    };
    for (int ci = 0; ci < 2; ci++)
    for (size_t si = 0; si < sizeof big / sizeof *big; si++)
        for (int li = 0; li < N_LOSSES; li++)
            for (int ai = 0; ai < 6; ai++) {
                const shape *s = &big[si];
                eos_loss_kind loss = all_losses[li];
                if (!loss_fits(li, s->k)) continue;
                eos_model *m = make_model(all_acts[ai], loss, s, ci ? 70 : 8);
                if (!m) return;
                size_t P = eos_model_nparams(m);
                int N = s->n, n = 129;
                int idx[129];
                for (int i = 0; i < n; i++) idx[i] = (i * 37 + 5) % 101; /* repeats, out of order */
                real *X = malloc(sizeof(real) * N * s->d), *Y = malloc(sizeof(real) * N * s->k);
                real *w = malloc(sizeof(real) * P), *v = malloc(sizeof(real) * P);
                real *g1 = malloc(sizeof(real) * P), *g2 = malloc(sizeof(real) * P);
                real *h1 = malloc(sizeof(real) * P), *h2 = malloc(sizeof(real) * P);
                make_data(X, Y, N, s->d, s->k, loss, 31 + si);
                eos_rng r;
                eos_rng_init(&r, 3 + ai, EOS_RNG_STREAM_INIT);
                eos_model_init(m, w, &r);
                rand_vec(v, P, 300 + ai);
                for (int pass = 0; pass < 2; pass++) {
                    const int *ix = pass ? idx : NULL;
                    int nn = pass ? n : N;
                    rand_vec(g1, P, 5), rand_vec(g2, P, 5), rand_vec(h1, P, 6), rand_vec(h2, P, 6);
                    double l1 = 1.5, l2 = 1.5, c1 = 2, c2 = 2;
                    EXPECT(eos_model_loss_grad(m, w, X, Y, ix, nn, 0.37, &l1, &c1, g1) == 0, "lg");
                    EXPECT(eos_mlp_loss_grad_ref(m, w, X, Y, ix, nn, 0.37, &l2, &c2, g2) == 0, "ref");
                    EXPECT_REL(l1, l2, TOL_REF);
                    EXPECT(c1 == c2, "%s %s: n_correct %g vs reference %g", s->name, act_names[ai],
                           c1, c2);
                    if (loss == EOS_LOSS_MSE) { /* outputs: the reference's loss from them */
                        real *f = malloc(sizeof(real) * nn * s->k);
                        EXPECT(eos_model_outputs(m, w, X, ix, nn, f) == 0, "outputs");
                        EXPECT_REL(mse_of_outputs(f, Y, ix, nn, s->k), l2 - 1.5, TOL_REF);
                        free(f);
                    }
                    double eg = rel_err(g1, g2, P);
                    EXPECT(eg < TOL_REF, "%s %s %s idx=%d: grad vs reference rel err %.3g", s->name,
                           act_names[ai], loss_names[li], pass, eg);
                    EXPECT(eos_model_hvp(m, w, X, Y, ix, nn, 0.37, v, h1) == 0, "hvp");
                    EXPECT(eos_mlp_hvp_ref(m, w, X, Y, ix, nn, 0.37, v, h2) == 0, "hvp ref");
                    double eh = rel_err(h1, h2, P);
                    EXPECT(eh < TOL_REF, "%s %s %s idx=%d: hvp vs reference rel err %.3g", s->name,
                           act_names[ai], loss_names[li], pass, eh);
                    rand_vec(h1, P, 6), rand_vec(h2, P, 6);
                    EXPECT(eos_model_gnvp(m, w, X, Y, ix, nn, 0.37, v, h1) == 0, "gnvp");
                    EXPECT(eos_mlp_gnvp_ref(m, w, X, Y, ix, nn, 0.37, v, h2) == 0, "gnvp ref");
                    double en = rel_err(h1, h2, P);
                    EXPECT(en < TOL_REF, "%s %s %s idx=%d: gnvp vs reference rel err %.3g",
                           s->name, act_names[ai], loss_names[li], pass, en);
                }
                free(X), free(Y), free(w), free(v), free(g1), free(g2), free(h1), free(h2);
                eos_model_free(m);
            }
}

/* Losses of a linear model computed by hand in the test (independent of both implementations). */
static void test_loss_values_by_hand(void)
{
    const shape s = {"linear d4-3", 4, 0, {0}, 3, 1, 5};
    for (int li = 0; li < 2; li++) {
        eos_loss_kind loss = li ? EOS_LOSS_XENT : EOS_LOSS_MSE;
        eos_model *m = make_model(EOS_ACT_TANH, loss, &s, 2);
        if (!m) return;
        real X[20], Y[15], w[15];
        make_data(X, Y, 5, 4, 3, loss, 77);
        EXPECT(eos_model_nparams(m) == 15, "nparams %zu", eos_model_nparams(m));
        rand_vec(w, 15, 9);
        double expect = 0, got = 0, corr = 0, ecorr = 0;
        for (int i = 0; i < 5; i++) {
            double f[3];
            for (int o = 0; o < 3; o++) {
                f[o] = w[12 + o]; /* W [3,4] row-major, then b [3] */
                for (int j = 0; j < 4; j++) f[o] += (double)w[o * 4 + j] * X[i * 4 + j];
            }
            if (!li) {
                for (int o = 0; o < 3; o++) expect += 0.5 * (f[o] - Y[i * 3 + o]) * (f[o] - Y[i * 3 + o]);
            } else {
                double z = exp(f[0]) + exp(f[1]) + exp(f[2]);
                for (int o = 0; o < 3; o++) expect -= Y[i * 3 + o] * log(exp(f[o]) / z);
            }
            int bf = f[1] > f[0] ? 1 : 0;
            bf = f[2] > f[bf] ? 2 : bf;
            int by = Y[i * 3 + 1] > Y[i * 3] ? 1 : 0;
            by = Y[i * 3 + 2] > Y[i * 3 + by] ? 2 : by;
            ecorr += bf == by;
        }
        EXPECT(eos_model_loss_grad(m, w, X, Y, NULL, 5, 0.2, &got, &corr, NULL) == 0, "loss");
        EXPECT_REL(got, expect, TOL_REF);
        EXPECT(corr == ecorr, "n_correct %g, by hand %g", corr, ecorr);
        eos_model_free(m);
    }
}

#ifdef EOS_FLOAT64
extern void dsyev_(const char *, const char *, const int *, double *, const int *, double *,
                   double *, const int *, int *);

/* Logistic loss of a linear model f = w'x + b by hand: at margins up to |m| = 800 (where a naive
 * log(1 + exp(-m)) overflows) the loss, gradient -s sigmoid(-m) [x; 1], sign accuracy and the
 * Hessian (1/n) sum_i sigmoid(m_i) sigmoid(-m_i) [x_i; 1][x_i; 1]', assembled from HVP columns
 * and from Gauss-Newton columns (equal for a linear model), with its spectrum by LAPACK dsyev. */
static void test_logistic_linear_by_hand(void)
{
    enum { D = 4, N = 9, P = D + 1 };
    const shape s = {"linear d4-1", D, 0, {0}, 1, 1, N};
    eos_model *m = make_model(EOS_ACT_TANH, EOS_LOSS_LOGISTIC, &s, 4);
    if (!m) return;
    real X[N * D], Y[N], w[P], g[P] = {0}, e[P] = {0}, col[P];
    double Hh[P * P] = {0}, Ha[P * P], Ga[P * P], gh[P] = {0}, lh = 0, ch = 0;
    make_data(X, Y, N, D, 1, EOS_LOSS_LOGISTIC, 41);
    rand_vec(w, P, 42);
    for (int i = 0; i < N; i++) X[i * D] *= (real)(i % 3 == 0 ? 400 : 1); /* huge margins */
    for (int i = 0; i < N; i++) {
        double f = w[D], sgn = Y[i] > 0 ? 1 : -1, xa[P];
        for (int j = 0; j < D; j++) f += (double)w[j] * X[i * D + j], xa[j] = X[i * D + j];
        xa[D] = 1;
        double mg = sgn * f, sig_m = 1 / (1 + exp(-mg)), sig_neg = 1 / (1 + exp(mg));
        lh += mg > 0 ? log1p(exp(-mg)) : -mg + log1p(exp(mg));
        ch += mg > 0;
        for (int a = 0; a < P; a++) {
            gh[a] += -sgn * sig_neg * xa[a] / N;
            for (int b = 0; b < P; b++) Hh[a * P + b] += sig_m * sig_neg * xa[a] * xa[b] / N;
        }
    }
    double l = 0, c = 0;
    EXPECT(eos_model_loss_grad(m, w, X, Y, NULL, N, 1.0 / N, &l, &c, g) == 0, "lg");
    EXPECT(isfinite(l) && l > 50, "loss %g: not finite or without its large terms", l);
    EXPECT_REL(l, lh, 1e-13);
    EXPECT(c == ch && ch > 0 && ch < N, "n_correct %g, by hand %g (of %d)", c, ch, N);
    double ge = 0, gs = 0;
    for (int a = 0; a < P; a++) ge = fmax(ge, fabs(g[a] - gh[a])), gs = fmax(gs, fabs(gh[a]));
    EXPECT(ge <= 1e-13 * gs, "gradient vs by hand: %.3g of %.3g", ge, gs);
    for (int a = 0; a < P; a++) {
        e[a] = 1;
        memset(col, 0, sizeof col);
        EXPECT(eos_model_hvp(m, w, X, Y, NULL, N, 1.0 / N, e, col) == 0, "hvp");
        for (int b = 0; b < P; b++) Ha[a * P + b] = col[b];
        memset(col, 0, sizeof col);
        EXPECT(eos_model_gnvp(m, w, X, Y, NULL, N, 1.0 / N, e, col) == 0, "gnvp");
        for (int b = 0; b < P; b++) Ga[a * P + b] = col[b];
        e[a] = 0;
    }
    double he = 0, hs = 0;
    for (int q = 0; q < P * P; q++) {
        he = fmax(he, fmax(fabs(Ha[q] - Hh[q]), fabs(Ga[q] - Hh[q])));
        hs = fmax(hs, fabs(Hh[q]));
    }
    EXPECT(hs > 0 && he <= 1e-13 * hs, "H (and G) vs by hand: %.3g of %.3g", he, hs);
    double ev[P], evh[P], work[64 * P];
    int n = P, lw = 64 * P, info = 0;
    dsyev_("N", "U", &n, Ha, &n, ev, work, &lw, &info);
    EXPECT(info == 0, "dsyev %d", info);
    dsyev_("N", "U", &n, Hh, &n, evh, work, &lw, &info);
    EXPECT(info == 0, "dsyev %d", info);
    for (int a = 0; a < P; a++) {
        EXPECT(ev[a] >= -1e-15 * evh[P - 1], "logistic H of a linear model is PSD: ev %g", ev[a]);
        EXPECT(fabs(ev[a] - evh[a]) <= 1e-12 * evh[P - 1], "eigenvalue %d: %.15g vs %.15g", a,
               ev[a], evh[a]);
    }
    eos_model_free(m);
}
#endif

/* Activation values against double-precision formulas from libm (float build: the vectorised
 * tanh and the float libm calls). Net 1-[H]-1 with W1 = x values, input 1, W2 = 0, b2 = 1, y = 0:
 * f = 1, delta = 1, so dL/dW2[j] = sigma(x_j) exactly. */
static void test_activation_values(void)
{
    enum { H = 20001 };
#ifdef EOS_FLOAT64
    const double tol = 1e-14, tiny = 1e-300;
#else
    const double tol = 3e-7, tiny = 1e-30; /* ~2.5 ulp; below 1e-30 float results may flush */
#endif
    for (int ai = 0; ai < 6; ai++) {
        const shape s = {"1-[H]-1", 1, 1, {H}, 1, 1, 1};
        eos_model *m = make_model(all_acts[ai], EOS_LOSS_MSE, &s, 1);
        if (!m) return;
        size_t P = eos_model_nparams(m); /* W1 [H], b1 [H], W2 [1, H], b2 [1] */
        real *w = calloc(P, sizeof(real)), *g = calloc(P, sizeof(real)), X[1] = {1}, Y[1] = {0};
        for (int j = 0; j < H; j++) {
            double x = -25.0 + 50.0 * j / (H - 1); /* includes 0, +-0.625 neighbourhoods, tails */
            if (j % 7 == 0) x = ldexp(1.0, -(j % 60)) * (j % 2 ? -1 : 1); /* tiny values */
            w[j] = (real)x;
        }
        w[P - 1] = 1;
        double loss = 0;
        EXPECT(eos_model_loss_grad(m, w, X, Y, NULL, 1, 1.0, &loss, NULL, g) == 0, "lg");
        double worst = 0;
        int wj = 0;
        for (int j = 0; j < H; j++) {
            double x = w[j], want;
            switch (all_acts[ai]) {
            case EOS_ACT_TANH: want = tanh(x); break;
            case EOS_ACT_RELU: want = x > 0 ? x : 0; break;
            case EOS_ACT_ELU: want = x > 0 ? x : expm1(x); break;
            case EOS_ACT_SOFTPLUS: want = x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); break;
            case EOS_ACT_GELU: want = 0.5 * x * erfc(-x / sqrt(2.0)); break;
            default: want = x; break;
            }
            /* gelu's left tail is ill-conditioned (relative condition number ~ x^2) */
            double cond = all_acts[ai] == EOS_ACT_GELU ? 1 + x * x : 1;
            double got = g[2 * H + j];
            double e = fabs(got - want) / (fabs(want) > tiny ? fabs(want) : tiny) / cond;
            if (!(e <= worst)) worst = e, wj = j;
        }
        EXPECT(worst <= tol, "%s: worst rel err %.3g at x = %.9g", act_names[ai], worst,
               (double)w[wj]);
        free(w), free(g);
        eos_model_free(m);
    }
}

/* Bitwise identical results with 1 and 2 threads. The model must also undo a raised OpenBLAS
 * thread count (OpenBLAS's own threading is not deterministic across thread counts). */
static void run_threads_case(const shape *s, eos_activation act, eos_loss_kind loss, int chunk)
{
    eos_model *m = make_model(act, loss, s, chunk);
    if (!m) return;
    size_t P = eos_model_nparams(m);
    int n = s->n;
    real *X = malloc(sizeof(real) * n * s->d), *Y = malloc(sizeof(real) * n * s->k);
    real *w = malloc(sizeof(real) * P), *v = malloc(sizeof(real) * P);
    real *g[2], *h[2];
    double l[2] = {0, 0}, c[2] = {0, 0};
    make_data(X, Y, n, s->d, s->k, loss, 5);
    for (int i = 0; s->k > 1 && i < n * s->k; i++) /* one-hot targets (one output: +-1 labels) */
        Y[i] = (i % s->k) == (i / s->k) % s->k ? 1 : 0;
    eos_rng r;
    eos_rng_init(&r, 1, EOS_RNG_STREAM_INIT);
    eos_model_init(m, w, &r);
    rand_vec(v, P, 8);
    for (int t = 0; t < 2; t++) {
        omp_set_num_threads(t + 1);
        openblas_set_num_threads(t + 1);
        g[t] = calloc(P, sizeof(real));
        h[t] = calloc(P, sizeof(real));
        EXPECT(eos_model_loss_grad(m, w, X, Y, NULL, n, 1.0 / n, &l[t], &c[t], g[t]) == 0, "lg");
        EXPECT(eos_model_hvp(m, w, X, Y, NULL, n, 1.0 / n, v, h[t]) == 0, "hvp");
    }
    EXPECT(l[0] == l[1], "%s: loss differs across threads: %.17g vs %.17g", s->name, l[0], l[1]);
    EXPECT(c[0] == c[1], "%s: n_correct differs across threads", s->name);
    EXPECT(memcmp(g[0], g[1], P * sizeof(real)) == 0, "%s: gradient differs across threads (rel %.3g)",
           s->name, rel_err(g[0], g[1], P));
    EXPECT(memcmp(h[0], h[1], P * sizeof(real)) == 0, "%s: HVP differs across threads (rel %.3g)",
           s->name, rel_err(h[0], h[1], P));
    free(X), free(Y), free(w), free(v), free(g[0]), free(g[1]), free(h[0]), free(h[1]);
    eos_model_free(m);
}

static void test_thread_invariance(void)
{
    const shape s1 = {"64-32-32-10 n=300", 64, 2, {32, 32}, 10, 1, 300};
    const shape s2 = {"256-128-128-10 n=700", 256, 2, {128, 128}, 10, 1, 700};
    run_threads_case(&s1, EOS_ACT_TANH, EOS_LOSS_MSE, 128);
    run_threads_case(&s1, EOS_ACT_GELU, EOS_LOSS_XENT, 300);
    run_threads_case(&s2, EOS_ACT_TANH, EOS_LOSS_MSE, 700);
    run_threads_case(&s2, EOS_ACT_RELU, EOS_LOSS_XENT, 256);
    const shape s3 = {"64-32-1 n=500", 64, 1, {32}, 1, 1, 500};
    run_threads_case(&s3, EOS_ACT_TANH, EOS_LOSS_LOGISTIC, 200);
    omp_set_num_threads(2);
    openblas_set_num_threads(2);
}

/* model.gemm_tiles: for 1, 2 (the default), 3 and 8 tiles the results stay bitwise the same at 1
 * and 2 threads, and the tile counts agree with each other to rounding (float32: bitwise under
 * Prescott, not under Haswell/Zen, whose sgemm rounds differently across tile edges: `bench_core
 * tilebits`; float64 came out bitwise under Zen too). The GEMMs of 784-200-200-10 over a chunk of
 * 1,000 rows are all above the size that splits. */
static void test_gemm_tiles(void)
{
    const shape s = {"784-200-200-10 n=1000", 784, 2, {200, 200}, 10, 1, 1000};
    const int tiles[] = {1, 2, 3, 8};
    real *g[4] = {NULL};
    size_t P = 0;
    const int n = s.n;
    real *X = malloc(sizeof(real) * n * s.d), *Y = malloc(sizeof(real) * n * s.k), *w = NULL;
    make_data(X, Y, n, s.d, s.k, EOS_LOSS_MSE, 5);
    for (int t = 0; t < 4; t++) {
        model_gemm_tiles = tiles[t];
        run_threads_case(&s, EOS_ACT_TANH, EOS_LOSS_MSE, 1000);
        eos_model *m = make_model(EOS_ACT_TANH, EOS_LOSS_MSE, &s, 1000);
        if (!m) break;
        P = eos_model_nparams(m);
        if (!w) {
            w = malloc(sizeof(real) * P);
            eos_rng r;
            eos_rng_init(&r, 1, EOS_RNG_STREAM_INIT);
            eos_model_init(m, w, &r);
        }
        double l = 0;
        g[t] = calloc(P, sizeof(real));
        EXPECT(eos_model_loss_grad(m, w, X, Y, NULL, n, 1.0 / n, &l, NULL, g[t]) == 0, "lg");
        eos_model_free(m);
    }
    model_gemm_tiles = 0;
    for (int t = 1; t < 4 && g[t]; t++) {
        double e = rel_err(g[t], g[0], P);
        EXPECT(e < (sizeof(real) == 4 ? 1e-5 : 1e-13),
               "gradient with %d tiles differs from 1 tile's by rel %.3g", tiles[t], e);
        printf("  %d tiles: gradient %s 1 tile's (rel %.2g)\n", tiles[t],
               memcmp(g[t], g[0], P * sizeof(real)) ? "differs in its last bits from" : "equals", e);
    }
    omp_set_num_threads(2);
    openblas_set_num_threads(2);
    for (int t = 0; t < 4; t++) free(g[t]);
    free(X), free(Y), free(w);
}

/* The cached linearisation (eos_model_set_hvp_cache): HVPs and Gauss-Newton products with it equal
 * those of a model without it bitwise, in every case a solve meets: the first (recording) and later
 * (replaying) products at a point, a budget that holds only some chunks, a move of the point, new
 * rows in the same index array. That it replays at all is shown by breaking the contract: X
 * changed in place under a kept cache is not seen. */
/* part_floats: the partial cache's budget in floats per row of a chunk, between one and all but
 * one chunk's worth for the case (so that some chunks are kept and the others recomputed) */
static void run_cache_case(const shape *s, eos_activation act, eos_loss_kind loss, int chunk,
                           int part_floats)
{
    eos_model *ref = make_model(act, loss, s, chunk), *m = make_model(act, loss, s, chunk),
              *part = make_model(act, loss, s, chunk);
    if (!ref || !m || !part) return;
    size_t P = eos_model_nparams(m);
    int n = s->n;
    real *X = malloc(sizeof(real) * n * s->d), *Y = malloc(sizeof(real) * n * s->k);
    real *w = malloc(sizeof(real) * P), *v[3], *h = malloc(sizeof(real) * P),
         *hr = malloc(sizeof(real) * P);
    int *idx = malloc(sizeof(int) * n);
    make_data(X, Y, n, s->d, s->k, loss, 5);
    eos_rng r;
    eos_rng_init(&r, 1, EOS_RNG_STREAM_INIT);
    eos_model_init(m, w, &r);
    for (int j = 0; j < 3; j++) rand_vec(v[j] = malloc(sizeof(real) * P), P, 8 + j);
    for (int i = 0; i < n; i++) idx[i] = (i * 7) % n;
    eos_model_set_hvp_cache(m, (size_t)1 << 30);
    eos_model_set_hvp_cache(part, (size_t)chunk * (size_t)part_floats * sizeof(real));
    int bad = 0;
#define SAME(call_m, call_ref, what)                                                               \
    do {                                                                                           \
        memset(h, 0, sizeof(real) * P);                                                            \
        memset(hr, 0, sizeof(real) * P);                                                           \
        EXPECT((call_m) == 0 && (call_ref) == 0, "%s: product failed", what);                     \
        if (memcmp(h, hr, sizeof(real) * P)) {                                                     \
            bad++;                                                                                 \
            fprintf(stderr, "  %s %s: %s differs with the cache (rel %.3g)\n", s->name,            \
                    act_names[act], what, rel_err(h, hr, P));                                      \
        }                                                                                          \
    } while (0)
    for (int pass = 0; pass < 2; pass++) {
        eos_model *c = pass ? part : m;
        for (int j = 0; j < 3; j++) /* j = 0 records, then replays */
            SAME(eos_model_hvp(c, w, X, Y, NULL, n, 0.5, v[j], h),
                 eos_model_hvp(ref, w, X, Y, NULL, n, 0.5, v[j], hr), "HVP");
        SAME(eos_model_gnvp(c, w, X, Y, NULL, n, 0.5, v[1], h),
             eos_model_gnvp(ref, w, X, Y, NULL, n, 0.5, v[1], hr), "Gauss-Newton product");
        for (int j = 0; j < 2; j++)
            SAME(eos_model_hvp(c, w, X, Y, idx, n / 2, 1.0, v[j], h),
                 eos_model_hvp(ref, w, X, Y, idx, n / 2, 1.0, v[j], hr), "HVP on rows idx");
        for (int i = 0; i < n; i++) idx[i] = (i * 5 + 1) % n; /* same array, other rows */
        SAME(eos_model_hvp(c, w, X, Y, idx, n / 2, 1.0, v[2], h),
             eos_model_hvp(ref, w, X, Y, idx, n / 2, 1.0, v[2], hr), "HVP on new rows idx");
        w[pass] += (real)1e-3; /* the point moves by one coordinate */
        for (int j = 0; j < 2; j++)
            SAME(eos_model_hvp(c, w, X, Y, NULL, n, 0.5, v[j], h),
                 eos_model_hvp(ref, w, X, Y, NULL, n, 0.5, v[j], hr), "HVP after the point moved");
    }
    EXPECT(bad == 0, "%d products differ with the cache", bad);
    /* the contract broken: a cache that replays does not see X change in place */
    EXPECT(eos_model_hvp(m, w, X, Y, NULL, n, 0.5, v[1], h) == 0, "product at the last point");
    for (int i = 0; i < s->d; i++) X[i] += 1;
    memset(h, 0, sizeof(real) * P);
    memset(hr, 0, sizeof(real) * P);
    EXPECT(eos_model_hvp(m, w, X, Y, NULL, n, 0.5, v[0], h) == 0 &&
               eos_model_hvp(ref, w, X, Y, NULL, n, 0.5, v[0], hr) == 0, "products");
    EXPECT(memcmp(h, hr, sizeof(real) * P) != 0, "%s: the cache was not replayed", s->name);
#undef SAME
    free(X), free(Y), free(w), free(h), free(hr), free(idx);
    for (int j = 0; j < 3; j++) free(v[j]);
    eos_model_free(ref);
    eos_model_free(m);
    eos_model_free(part);
}

static void test_hvp_cache(void)
{
    const shape s1 = {"64-32-32-10 n=300", 64, 2, {32, 32}, 10, 1, 300};
    const shape s2 = {"20-16-1 nobias n=90", 20, 1, {16}, 1, 0, 90};
    /* per row of a chunk the cache keeps a, (sigma', sigma'' unless tanh) and dloss/da of each
     * hidden layer and the outputs: s1 tanh 138 floats, relu/gelu 266; s2 elu 65. A budget of
     * 300 (s1) or 100 (s2) floats per row keeps 1 or 2 of the 3 chunks. */
    run_cache_case(&s1, EOS_ACT_TANH, EOS_LOSS_MSE, 128, 300);
    run_cache_case(&s1, EOS_ACT_RELU, EOS_LOSS_XENT, 128, 300);
    run_cache_case(&s1, EOS_ACT_GELU, EOS_LOSS_MSE, 100, 300);
    run_cache_case(&s2, EOS_ACT_ELU, EOS_LOSS_MSE, 32, 100);
    run_cache_case(&s2, EOS_ACT_SOFTPLUS, EOS_LOSS_MSE, 30, 100);
}

/* The block product (eos_model_hvp_block): each of nv directions' H v equals the single
 * product's to rounding (not bitwise: OpenBLAS's result for an element depends on the shape of
 * the product around it, measured), with nv below, at and above the kernel's block of 4, chunks
 * that do not divide n, rows by idx, and a cache that is off, full or partial (recording in the
 * first call, replaying in the next); and bitwise the same at 1 and 2 threads. */
static void run_block_case(const shape *s, eos_activation act, eos_loss_kind loss, int chunk,
                           int part_floats)
{
    eos_model *ref = make_model(act, loss, s, chunk), *m = make_model(act, loss, s, chunk);
    if (!ref || !m) return;
    const size_t P = eos_model_nparams(m);
    const int n = s->n, nvmax = 6;
    real *X = malloc(sizeof(real) * n * s->d), *Y = malloc(sizeof(real) * n * s->k);
    real *w = malloc(sizeof(real) * P), *V = malloc(sizeof(real) * P * nvmax),
         *HV = malloc(sizeof(real) * P * nvmax), *h = malloc(sizeof(real) * P);
    int *idx = malloc(sizeof(int) * n);
    make_data(X, Y, n, s->d, s->k, loss, 5);
    eos_rng r;
    eos_rng_init(&r, 1, EOS_RNG_STREAM_INIT);
    eos_model_init(m, w, &r);
    rand_vec(V, P * nvmax, 11);
    for (int i = 0; i < n; i++) idx[i] = (i * 7 + 3) % n;
    int bad = 0;
    double worst = 0;
    for (int cache = 0; cache < 3; cache++) {
        eos_model_set_hvp_cache(m, cache == 0   ? 0
                                   : cache == 1 ? (size_t)1 << 30
                                                : (size_t)chunk * (size_t)part_floats * sizeof(real));
        const int nvs[] = {1, 2, 3, 4, 6};
        for (int t = 0; t < 5; t++)
            for (int use_idx = 0; use_idx < 2; use_idx++) {
                const int nv = nvs[t], nr = use_idx ? n / 2 + 1 : n;
                const int *id = use_idx ? idx : NULL;
                const double scale = 1.0 / nr;
                memset(HV, 0, sizeof(real) * P * nv);
                EXPECT(eos_model_hvp_block(m, w, X, Y, id, nr, scale, nv, V, HV) == 0, "block");
                for (int j = 0; j < nv; j++) {
                    memset(h, 0, sizeof(real) * P);
                    EXPECT(eos_model_hvp(ref, w, X, Y, id, nr, scale, V + j * P, h) == 0, "hvp");
                    double e = rel_err(HV + j * P, h, P);
                    worst = e > worst ? e : worst;
                }
            }
    }
    EXPECT(worst < (sizeof(real) == 4 ? 1e-5 : 1e-12),
           "%s %s %s: block products differ from single ones by rel %.3g", s->name,
           act_names[act], loss_names[loss], worst);
    /* threads: the GEMM tiles and row blocks depend on the shapes alone */
    real *HV1 = malloc(sizeof(real) * P * nvmax);
    for (int t = 0; t < 2; t++) {
        omp_set_num_threads(t + 1);
        memset(t ? HV : HV1, 0, sizeof(real) * P * 3);
        EXPECT(eos_model_hvp_block(m, w, X, Y, idx, n / 2, 1.0, 3, V, t ? HV : HV1) == 0, "blk");
    }
    bad = memcmp(HV, HV1, sizeof(real) * P * 3) != 0;
    EXPECT(!bad, "%s %s: block products differ between 1 and 2 threads", s->name, act_names[act]);
    omp_set_num_threads(2);
    free(HV1);
    free(X), free(Y), free(w), free(V), free(HV), free(h), free(idx);
    eos_model_free(ref);
    eos_model_free(m);
}

static void test_hvp_block(void)
{
    const shape s1 = {"64-32-32-10 n=300", 64, 2, {32, 32}, 10, 1, 300};
    const shape s2 = {"20-16-1 nobias n=90", 20, 1, {16}, 1, 0, 90};
    const shape s3 = {"784-200-200-10 n=260", 784, 2, {200, 200}, 10, 1, 260};
    const shape s4 = {"12-9-7-5-3 nobias n=50", 12, 3, {9, 7, 5}, 3, 0, 50};
    run_block_case(&s1, EOS_ACT_TANH, EOS_LOSS_MSE, 128, 300);
    run_block_case(&s1, EOS_ACT_RELU, EOS_LOSS_XENT, 128, 300);
    run_block_case(&s1, EOS_ACT_GELU, EOS_LOSS_MSE, 100, 300);
    run_block_case(&s2, EOS_ACT_ELU, EOS_LOSS_LOGISTIC, 32, 100);
    run_block_case(&s2, EOS_ACT_SOFTPLUS, EOS_LOSS_MSE, 30, 100);
    run_block_case(&s3, EOS_ACT_TANH, EOS_LOSS_MSE, 100, 1000);
    run_block_case(&s4, EOS_ACT_IDENTITY, EOS_LOSS_XENT, 16, 40);
}

/* The float32 tanh pass at both widths (4 lanes: SSE; 8: AVX2, which the model uses where the CPU
 * has it): the same bits for every 1021st float bit pattern (1/1021 of all floats: both signs,
 * subnormals, the polynomial/exp switch at 0.625, the clamp at 9, inf, NaN) in rows of odd
 * length (the padded tail), and within 3e-7 of double tanh (~2.5 ulp). */
static void test_tanh_lanes(void)
{
    enum { W = 1021 };
    real z[W], b[W], a4[W], a8[W];
    memset(b, 0, sizeof b);
    int rows = 0, diff = 0, far = 0, have8 = 1;
    double worst = 0;
    for (uint64_t base = 0; base < ((uint64_t)1 << 32); base += (uint64_t)W * 4099, rows++) {
        for (int j = 0; j < W; j++) {
            uint32_t u = (uint32_t)(base + (uint64_t)j * 4099);
            float f;
            memcpy(&f, &u, sizeof f);
            z[j] = (real)f;
        }
        EXPECT(eos_mlp_tanh_lanes(a4, z, b, W, 4) == 0, "4 lanes");
        if (have8 && eos_mlp_tanh_lanes(a8, z, b, W, 8) == 0)
            diff += memcmp(a4, a8, sizeof a4) != 0;
        else
            have8 = 0;
        for (int j = 0; j < W; j++) {
            double t = tanh((double)z[j]);
            if (isnan(t)) {
                far += !isnan(a4[j]);
                continue;
            }
            if (fabs(t) < 1e-30) continue; /* float results may flush */
            double e = fabs((double)a4[j] - t) / fabs(t);
            worst = e > worst ? e : worst;
        }
    }
    EXPECT(rows > 1000, "%d rows", rows);
    EXPECT(sizeof(real) != 4 || diff == 0, "%d of %d rows differ between 4 and 8 lanes", diff, rows);
    EXPECT(far == 0 && worst <= 3e-7, "tanh: %d NaNs lost, worst rel. error %.3g", far, worst);
    if (sizeof(real) == 4 && !have8) printf("  (no AVX2 here: 8 lanes not compared)\n");
}

/* Init: draw order (layer by layer, W row-major then b) and bounds/std. */
static void test_init(void)
{
    const shape s = {"784-200-10", 784, 1, {200}, 10, 1, 1};
    eos_model_cfg mc;
    memset(&mc, 0, sizeof mc);
    mc.arch = arch_index("mlp");
    mc.n_hidden = 1;
    mc.hidden[0] = 200;
    mc.activation = EOS_ACT_TANH;
    mc.bias = 1;
    for (int gi = 0; gi < 2; gi++) {
        mc.init = gi ? EOS_INIT_GAUSSIAN : EOS_INIT_PYTORCH;
        mc.init_scale = gi ? 2.0 : 1.0;
        eos_model *m = NULL;
        eos_shape in = flat(s.d);
        EXPECT(eos_model_create(&m, &mc, EOS_LOSS_MSE, &in, s.k, 16) == 0, "%s", eos_error_msg());
        if (!m) return;
        size_t P = eos_model_nparams(m);
        EXPECT(P == 784 * 200 + 200 + 200 * 10 + 10, "nparams %zu", P);
        real *w = malloc(P * sizeof(real));
        eos_rng r, r2;
        eos_rng_init(&r, 42, EOS_RNG_STREAM_INIT);
        r2 = r;
        eos_model_init(m, w, &r);
        size_t off = 0;
        int fan_in[2] = {784, 200}, fan_out[2] = {200, 10};
        for (int l = 0; l < 2; l++) {
            double bound = mc.init_scale / sqrt((double)fan_in[l]);
            size_t nw = (size_t)fan_in[l] * fan_out[l];
            double s1 = 0, s2 = 0, mx = 0;
            int order_ok = 1;
            for (size_t i = 0; i < nw; i++) {
                double x = w[off + i];
                s1 += x, s2 += x * x, mx = fabs(x) > mx ? fabs(x) : mx;
                double e = gi ? bound * eos_rng_normal(&r2) : bound * (2 * eos_rng_uniform(&r2) - 1);
                if (fabs(x - e) > 1e-6 * bound) order_ok = 0;
            }
            EXPECT(order_ok, "layer %d: W not drawn in row-major order from the rng", l);
            double mean = s1 / nw, sd = sqrt(s2 / nw - mean * mean);
            if (gi) {
                EXPECT(fabs(sd / bound - 1) < 0.03, "layer %d gaussian std %g, want %g", l, sd, bound);
            } else {
                EXPECT(mx <= bound && mx > 0.98 * bound, "layer %d max |W| %g, bound %g", l, mx, bound);
                EXPECT(fabs(sd / (bound / sqrt(3.0)) - 1) < 0.03, "layer %d uniform std %g", l, sd);
            }
            off += nw;
            for (int i = 0; i < fan_out[l]; i++) {
                double b = w[off + i];
                if (gi) {
                    EXPECT(b == 0, "gaussian init: bias %g not zero", b);
                } else {
                    double e = bound * (2 * eos_rng_uniform(&r2) - 1);
                    EXPECT(fabs(b) <= bound && fabs(b - e) <= 1e-6 * bound,
                           "layer %d bias %d = %g, expected draw %g (bound %g)", l, i, b, e, bound);
                }
            }
            off += fan_out[l];
        }
        free(w);
        eos_model_free(m);
    }
}

static void test_config_errors(void)
{
    eos_model_cfg mc;
    memset(&mc, 0, sizeof mc);
    mc.arch = arch_index("linear-transformer");
    mc.layers = 1;
    mc.init_scale = 1;
    eos_model *m = NULL;
    eos_shape in = flat(3);
    EXPECT(eos_model_create(&m, &mc, EOS_LOSS_MSE, &in, 1, 4) == EOS_ERR_CONFIG && !m,
           "linear transformer on flat data must be refused (it needs tokens)");
    EXPECT(strstr(eos_error_msg(), "token") != NULL, "message: %s", eos_error_msg());
    mc.arch = arch_index("mlp");
    mc.n_hidden = 2;
    mc.hidden[0] = 4;
    mc.hidden[1] = 0;
    EXPECT(eos_model_create(&m, &mc, EOS_LOSS_MSE, &in, 1, 4) == EOS_ERR_CONFIG && !m,
           "zero width accepted");
    EXPECT(strstr(eos_error_msg(), "model.hidden[1]") != NULL, "message: %s", eos_error_msg());
    mc.hidden[1] = 3;
    EXPECT(eos_model_create(&m, &mc, EOS_LOSS_MSE, &in, 1, 0) == EOS_ERR_CONFIG && !m,
           "chunk 0 accepted");
    EXPECT(eos_model_create(&m, &mc, EOS_LOSS_MSE, &in, 1, 4) == 0 && m, "%s", eos_error_msg());
    eos_model_free(m);
    in = (eos_shape){EOS_LAYOUT_IMAGE, {1, 28, 0}};
    EXPECT(eos_model_create(&m, &mc, EOS_LOSS_MSE, &in, 1, 4) == EOS_ERR_CONFIG && !m,
           "an image of unknown size accepted at creation");
    mc.arch = 99;
    in = flat(3);
    EXPECT(eos_model_create(&m, &mc, EOS_LOSS_MSE, &in, 1, 4) == EOS_ERR_CONFIG && !m,
           "unknown architecture accepted");
}

/* An MLP reads any layout flattened: images and tokens of d features give the same network (and
 * the same losses) as flat data of d features. */
static void test_layouts(void)
{
    const shape s = {"12-[5]-2", 12, 1, {5}, 2, 1, 6};
    const eos_shape layouts[3] = {{EOS_LAYOUT_FLAT, {12}},
                                  {EOS_LAYOUT_IMAGE, {3, 2, 2}},
                                  {EOS_LAYOUT_TOKENS, {4, 3}}};
    real X[6 * 12], Y[6 * 2];
    make_data(X, Y, 6, 12, 2, EOS_LOSS_MSE, 5);
    double loss[3] = {0};
    size_t np[3] = {0};
    for (int k = 0; k < 3; k++) {
        eos_model_cfg mc;
        memset(&mc, 0, sizeof mc);
        mc.arch = arch_index("mlp");
        mc.n_hidden = 1;
        mc.hidden[0] = 5;
        mc.bias = 1;
        mc.init_scale = 1;
        eos_model *m = NULL;
        EXPECT(eos_model_create(&m, &mc, EOS_LOSS_MSE, &layouts[k], s.k, 8) == 0, "%s",
               eos_error_msg());
        if (!m) continue;
        np[k] = eos_model_nparams(m);
        real *w = malloc(np[k] * sizeof(real));
        eos_rng r;
        eos_rng_init(&r, 3, EOS_RNG_STREAM_INIT);
        eos_model_init(m, w, &r);
        EXPECT(eos_model_loss_grad(m, w, X, Y, NULL, 6, 1.0, &loss[k], NULL, NULL) == 0, " ");
        free(w);
        eos_model_free(m);
    }
    EXPECT(np[0] == 12 * 5 + 5 + 5 * 2 + 2 && np[1] == np[0] && np[2] == np[0], "nparams %zu %zu %zu",
           np[0], np[1], np[2]);
    EXPECT(loss[0] > 0 && loss[1] == loss[0] && loss[2] == loss[0], "losses %g %g %g", loss[0],
           loss[1], loss[2]);
}

/* The scheduler's cost model: forward multiply-adds, counted by hand. */
static void test_cost(void)
{
    eos_model_cfg mc;
    memset(&mc, 0, sizeof mc);
    mc.arch = arch_index("mlp");
    mc.n_hidden = 2;
    mc.hidden[0] = 200;
    mc.hidden[1] = 100;
    eos_shape img = {EOS_LAYOUT_IMAGE, {1, 28, 28}}, cifar = {EOS_LAYOUT_IMAGE, {3, 32, 32}};
    EXPECT(eos_model_cost(&mc, &img, 10) == 784.0 * 200 + 200 * 100 + 100 * 10, "%g",
           eos_model_cost(&mc, &img, 10));
    EXPECT(eos_model_cost(&mc, &cifar, 10) == 3072.0 * 200 + 200 * 100 + 100 * 10, " ");
    mc.n_hidden = 0;
    eos_shape flat5 = flat(5);
    EXPECT(eos_model_cost(&mc, &flat5, 1) == 5, "linear model: %g", eos_model_cost(&mc, &flat5, 1));
    /* unknown sizes cost nothing rather than a guess (eos_data_estimate guesses) */
    eos_shape unknown = {EOS_LAYOUT_IMAGE, {0}};
    EXPECT(eos_model_cost(&mc, &unknown, 10) == 0, " ");
    /* linear transformer, n = 20 context tokens of width D = 6, per layer n D^2 + 2 D^3 and the
     * token update: T D^2 for every layer but the last, D^2 (the query) for the last */
    mc.arch = arch_index("linear-transformer");
    eos_shape tok = {EOS_LAYOUT_TOKENS, {21, 6}};
    for (int L = 1; L <= 3; L++) {
        mc.layers = L;
        double want = L * (20.0 * 36 + 2 * 216) + (L - 1) * 21.0 * 36 + 36;
        EXPECT(eos_model_cost(&mc, &tok, 1) == want, "L %d: %g, want %g", L,
               eos_model_cost(&mc, &tok, 1), want);
    }
    /* more layers or longer prompts cost more */
    mc.layers = 2;
    double c2 = eos_model_cost(&mc, &tok, 1);
    tok.dim[0] = 41;
    EXPECT(eos_model_cost(&mc, &tok, 1) > c2, " ");
}

/* The scheduler's per-example cost on what each source knows before loading (eos_data_estimate),
 * so that longest-first is right across sources and architectures. */
static double cost_of(const char *source, const char *arch, int layers)
{
    eos_config c;
    eos_data_info info;
    eos_config_default(&c);
    EXPECT(eos_config_set(&c, "data.source", source) == 0 && eos_config_set(&c, "model.arch", arch) == 0,
           "%s", eos_error_msg());
    strcpy(c.data.path, "/somewhere");
    strcpy(c.data.labels, "/somewhere");
    c.model.layers = layers;
    EXPECT(eos_data_estimate(&c, &info) == 0, "%s: %s", source, eos_error_msg());
    return eos_model_cost(&c.model, &info.shape, info.n_out);
}

static void test_cost_ordering(void)
{
    double fashion = cost_of("fashion-mnist", "mlp", 1), cifar = cost_of("cifar10", "mlp", 1);
    double mlp_syn = cost_of("synthetic-linear", "mlp", 1);
    EXPECT(fashion == 784.0 * 200 + 200 * 200 + 200 * 10, "fashion %g", fashion);
    EXPECT(cifar == 3072.0 * 200 + 200 * 200 + 200 * 10, "cifar %g", cifar);
    EXPECT(mlp_syn == 10.0 * 200 + 200 * 200 + 200 * 1, "synthetic-linear (dim 10, 1 output) %g",
           mlp_syn);
    /* files whose size only they know: the documented MNIST-sized assumption */
    EXPECT(cost_of("hdf5", "mlp", 1) == fashion && cost_of("mnist-idx", "mlp", 1) == fashion,
           "hdf5 %g, mnist-idx %g", cost_of("hdf5", "mlp", 1), cost_of("mnist-idx", "mlp", 1));
    /* a cnn (default channels [32, 32]) costs its conv layers on the assumed 1 x 28 x 28 image */
    double cnn = cost_of("fashion-mnist", "cnn", 1);
    EXPECT(cnn == 784.0 * 32 * 9 + 196.0 * 32 * 288 + 1568.0 * 200 + 200 * 200 + 200 * 10 &&
               cost_of("hdf5", "cnn", 1) == cnn && cost_of("mnist-idx", "cnn", 1) == cnn,
           "cnn: fashion %g, hdf5 %g, mnist-idx %g", cnn, cost_of("hdf5", "cnn", 1),
           cost_of("mnist-idx", "cnn", 1));
    /* the default prompts (n_context 20, dim 10): tokens [21, 11] */
    double lt1 = cost_of("icl-regression", "linear-transformer", 1);
    double lt2 = cost_of("icl-regression", "linear-transformer", 2);
    EXPECT(lt1 == 20.0 * 121 + 2 * 1331 + 121, "lt %g", lt1);
    EXPECT(lt2 > lt1 && cifar > fashion && fashion > mlp_syn, "order");
}

int main(void)
{
#ifdef EOS_FLOAT64
    TEST_RUN(test_derivatives_fd);
#endif
    TEST_RUN(test_vs_reference);
    TEST_RUN(test_loss_values_by_hand);
#ifdef EOS_FLOAT64
    TEST_RUN(test_logistic_linear_by_hand);
#endif
    TEST_RUN(test_activation_values);
    TEST_RUN(test_thread_invariance);
    TEST_RUN(test_gemm_tiles);
    TEST_RUN(test_hvp_cache);
    TEST_RUN(test_hvp_block);
    TEST_RUN(test_tanh_lanes);
    TEST_RUN(test_init);
    TEST_RUN(test_config_errors);
    TEST_RUN(test_layouts);
    TEST_RUN(test_cost);
    TEST_RUN(test_cost_ordering);
    return TEST_SUMMARY();
}
