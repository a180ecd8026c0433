/* test_cnn.c: convolutional network losses, gradients, exact HVPs and Gauss-Newton products.
 *
 * Built against the float64 core (finite differences, LAPACK on the assembled Hessian against
 * Lanczos) and, as test_cnn32, against the float32 one (reference, threading, init and
 * configuration checks with float tolerances). Oracles: central differences of the loss and of
 * the gradient, u'Hv = v'Hu, the naive reference kernels (plain loops in double, the layout
 * recomputed from the configuration), the parameter count by hand, 1 vs 2 threads bitwise,
 * LAPACK dsyev, and the RNG draws for init. */
#include "eos_model.h"
#include "eos_lanczos.h"
#include "../src/model/model_impl.h"
#include "eos_test.h"
#include "model_test_util.h"

#include <cblas.h>
#include <omp.h>
#include <string.h>

#ifdef EOS_FLOAT64
#define TOL_REF 1e-12
#else
#define TOL_REF 2e-5
#endif

static const char *pool_names[] = {"max", "avg", "none"};

typedef struct {
    const char *name;
    int c, h, w;         /* image */
    int nc, ch[3], k;    /* conv layers */
    int nh, hidden[2];   /* dense layers */
    int n_out, bias;
} net;


static eos_model_cfg cnn_cfg(const net *s, eos_activation act, eos_pool pool)
{
    eos_model_cfg mc;
    memset(&mc, 0, sizeof mc);
    mc.arch = arch_index("cnn");
    mc.n_channels = s->nc;
    for (int i = 0; i < s->nc; i++) mc.channels[i] = s->ch[i];
    mc.kernel = s->k;
    mc.pool = pool;
    mc.n_hidden = s->nh;
    for (int i = 0; i < s->nh; i++) mc.hidden[i] = s->hidden[i];
    mc.activation = act;
    mc.bias = s->bias;
    mc.init = EOS_INIT_PYTORCH;
    mc.init_scale = 1.5; /* a bit beyond the default so the nonlinearity matters */
    return mc;
}

static eos_model *make_model(const net *s, eos_activation act, eos_pool pool, eos_loss_kind loss,
                             int chunk)
{
    eos_model_cfg mc = cnn_cfg(s, act, pool);
    eos_shape in = {EOS_LAYOUT_IMAGE, {s->c, s->h, s->w}};
    eos_model *m = NULL;
    int rc = eos_model_create(&m, &mc, loss, &in, s->n_out, chunk);
    EXPECT(rc == 0, "%s: create failed: %s", s->name, eos_error_msg());
    return rc == 0 ? m : NULL;
}

/* A problem: model, data, a point w (PyTorch init) and directions u, v. */
typedef struct {
    eos_model *m;
    size_t P;
    int n, d, k;
    real *X, *Y, *w, *u, *v;
} problem;

static int problem_make(problem *pb, const net *s, eos_activation act, eos_pool pool,
                        eos_loss_kind loss, int n, int chunk, uint64_t seed)
{
    memset(pb, 0, sizeof *pb);
    pb->m = make_model(s, act, pool, loss, chunk);
    if (!pb->m) return -1;
    pb->P = eos_model_nparams(pb->m);
    pb->n = n, pb->d = s->c * s->h * s->w, pb->k = s->n_out;
    pb->X = malloc(sizeof(real) * n * pb->d);
    pb->Y = malloc(sizeof(real) * n * pb->k);
    pb->w = malloc(sizeof(real) * pb->P);
    pb->u = malloc(sizeof(real) * pb->P);
    pb->v = malloc(sizeof(real) * pb->P);
    make_data(pb->X, pb->Y, n, pb->d, pb->k, loss, seed);
    eos_rng r;
    eos_rng_init(&r, seed + 1, EOS_RNG_STREAM_INIT);
    eos_model_init(pb->m, pb->w, &r);
    rand_vec(pb->u, pb->P, seed + 2);
    rand_vec(pb->v, pb->P, seed + 3);
    return 0;
}

static void problem_free(problem *pb)
{
    eos_model_free(pb->m);
    free(pb->X), free(pb->Y), free(pb->w), free(pb->u), free(pb->v);
}

/* conv 2x5x6 -> [3, 2] k3 -> dense: pooling floors the odd 5 (5 -> 2 -> 1); a 5x5 kernel on a
 * 4x4 image (padding wider than the image's half) without biases, a hidden dense layer. */
#ifdef EOS_FLOAT64
static const net small_nets[] = {
    {"2x5x6 [3,2] k3 []", 2, 5, 6, 2, {3, 2}, 3, 0, {0}, 3, 1},
    {"1x4x4 [2] k5 [4] nobias", 1, 4, 4, 1, {2}, 5, 1, {4}, 2, 0},
    {"1x4x5 [2] k3 [] 1 out", 1, 4, 5, 1, {2}, 3, 0, {0}, 1, 1}, /* logistic too */
};

static double mean_loss(eos_model *m, const real *w, const real *X, const real *Y, int n)
{
    double l = 0;
    EXPECT(eos_model_loss_grad(m, w, X, Y, NULL, n, 1.0 / n, &l, NULL, NULL) == 0, "loss");
    return l / n;
}

/* gradient vs central differences of the loss; HVP vs central differences of the gradient;
 * u'Hv = v'Hu. Every activation, pooling and loss on both small nets. */
static void test_derivatives_fd(void)
{
    for (size_t si = 0; si < sizeof small_nets / sizeof *small_nets; si++)
        for (int pi = 0; pi < 3; pi++)
            for (int li = 0; li < N_LOSSES; li++)
                for (int ai = 0; ai < 6; ai++) {
                    eos_loss_kind loss = all_losses[li];
                    if (!loss_fits(li, small_nets[si].n_out)) continue;
                    if (small_nets[si].n_out == 1 && loss != EOS_LOSS_LOGISTIC) continue; /* quick */
                    problem pb;
                    if (problem_make(&pb, &small_nets[si], all_acts[ai], (eos_pool)pi, loss, 5, 2,
                                     11 + si + 7 * ai) != 0)
                        return;
                    size_t P = pb.P;
                    int n = pb.n;
                    real *g = calloc(P, sizeof(real)), *gfd = malloc(P * sizeof(real));
                    real *hv = calloc(P, sizeof(real)), *hu = calloc(P, sizeof(real));
                    real *hfd = malloc(P * sizeof(real)), *gp = calloc(P, sizeof(real));
                    real *gm = calloc(P, sizeof(real)), *wt = malloc(P * sizeof(real));
                    char what[160];
                    snprintf(what, sizeof what, "%s %s pool %s %s", small_nets[si].name,
                             act_names[ai], pool_names[pi], loss_names[li]);
                    EXPECT(eos_model_loss_grad(pb.m, pb.w, pb.X, pb.Y, NULL, n, 1.0 / n, NULL,
                                               NULL, g) == 0, "grad");
                    const double h = 1e-6;
                    for (size_t p = 0; p < P; p++) {
                        memcpy(wt, pb.w, P * sizeof(real));
                        wt[p] = pb.w[p] + h;
                        double lp = mean_loss(pb.m, wt, pb.X, pb.Y, n);
                        wt[p] = pb.w[p] - h;
                        double lm = mean_loss(pb.m, wt, pb.X, pb.Y, n);
                        gfd[p] = (real)((lp - lm) / (2 * h));
                    }
                    double eg = rel_err(g, gfd, P);
                    EXPECT(eg < 1e-6, "%s: gradient vs FD rel err %.3g", what, eg);
                    EXPECT(eos_model_hvp(pb.m, pb.w, pb.X, pb.Y, NULL, n, 1.0 / n, pb.v, hv) == 0,
                           "hvp");
                    const double hh = 1e-5;
                    for (size_t p = 0; p < P; p++) wt[p] = pb.w[p] + (real)hh * pb.v[p];
                    eos_model_loss_grad(pb.m, wt, pb.X, pb.Y, NULL, n, 1.0 / n, NULL, NULL, gp);
                    for (size_t p = 0; p < P; p++) wt[p] = pb.w[p] - (real)hh * pb.v[p];
                    eos_model_loss_grad(pb.m, wt, pb.X, pb.Y, NULL, n, 1.0 / n, NULL, NULL, gm);
                    for (size_t p = 0; p < P; p++) hfd[p] = (real)((gp[p] - gm[p]) / (2 * hh));
                    double eh = rel_err(hv, hfd, P);
                    EXPECT(eh < 1e-6, "%s: HVP vs FD rel err %.3g", what, eh);
                    EXPECT(eos_model_hvp(pb.m, pb.w, pb.X, pb.Y, NULL, n, 1.0 / n, pb.u, hu) == 0,
                           "hvp");
                    double uhv = 0, vhu = 0, nn = 0;
                    for (size_t p = 0; p < P; p++) {
                        uhv += (double)pb.u[p] * hv[p];
                        vhu += (double)pb.v[p] * hu[p];
                        nn += fabs((double)pb.u[p] * hv[p]) + fabs((double)pb.v[p] * hu[p]);
                    }
                    EXPECT(fabs(uhv - vhu) <= 1e-12 * nn, "%s: u'Hv = %.15g, v'Hu = %.15g", what,
                           uhv, vhu);
                    free(g), free(gfd), free(hv), free(hu), free(hfd), free(gp), free(gm), free(wt);
                    problem_free(&pb);
                }
}

extern void dsyev_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda,
                   double *w, double *work, const int *lwork, int *info);

typedef struct {
    problem *pb;
} hctx;

static int hvp_op(void *c, const real *v, real *out)
{
    problem *pb = ((hctx *)c)->pb;
    memset(out, 0, pb->P * sizeof(real));
    return eos_model_hvp(pb->m, pb->w, pb->X, pb->Y, NULL, pb->n, 1.0 / pb->n, v, out);
}

/* The Hessian of a tiny CNN assembled column by column (e_j through the HVP) is symmetric, and
 * its top eigenvalues by LAPACK dsyev equal the project's Lanczos to 1e-6 (as test_lanczos.c does
 * for the MLP). Also the Gauss-Newton matrix assembled the same way is symmetric and positive
 * semi-definite for MSE. */
static void check_lapack(eos_activation act, eos_pool pool, eos_loss_kind loss)
{
    problem pb;
    if (problem_make(&pb, &small_nets[0], act, pool, loss, 6, 4, 41) != 0) return;
    eos_rng r;
    eos_rng_init(&r, 5, EOS_RNG_STREAM_TEST);
    for (size_t i = 0; i < pb.P; i++) pb.w[i] += (real)(0.3 * eos_rng_normal(&r)); /* off init */
    int np = (int)pb.P;
    double *H = calloc((size_t)np * np, sizeof(double)), *G = calloc((size_t)np * np, sizeof(double));
    real *e = calloc(pb.P, sizeof(real)), *col = calloc(pb.P, sizeof(real));
    hctx h = {&pb};
    for (int j = 0; j < np; j++) {
        e[j] = 1;
        hvp_op(&h, e, col);
        for (int i = 0; i < np; i++) H[(size_t)j * np + i] = col[i];
        memset(col, 0, pb.P * sizeof(real));
        EXPECT(eos_model_gnvp(pb.m, pb.w, pb.X, pb.Y, NULL, pb.n, 1.0 / pb.n, e, col) == 0, "gn");
        for (int i = 0; i < np; i++) G[(size_t)j * np + i] = col[i];
        e[j] = 0;
    }
    double asym = 0, hmax = 0, gsym = 0;
    for (int i = 0; i < np; i++)
        for (int j = 0; j < np; j++) {
            asym = fmax(asym, fabs(H[(size_t)i * np + j] - H[(size_t)j * np + i]));
            gsym = fmax(gsym, fabs(G[(size_t)i * np + j] - G[(size_t)j * np + i]));
            hmax = fmax(hmax, fabs(H[(size_t)i * np + j]));
        }
    EXPECT(asym <= 1e-10 * hmax, "assembled Hessian not symmetric: %g (max %g)", asym, hmax);
    EXPECT(gsym <= 1e-10 * hmax, "assembled Gauss-Newton matrix not symmetric: %g", gsym);
    double *ev = malloc(np * sizeof(double)), *gev = malloc(np * sizeof(double));
    int info = 0, lwork = 64 * np;
    double *work = malloc((size_t)lwork * sizeof(double));
    dsyev_("N", "U", &np, H, &np, ev, work, &lwork, &info);
    EXPECT(info == 0, "dsyev %d", info);
    dsyev_("N", "U", &np, G, &np, gev, work, &lwork, &info);
    EXPECT(info == 0, "dsyev %d", info);
    EXPECT(gev[0] >= -1e-10 * fabs(gev[np - 1]), "Gauss-Newton matrix not PSD: min eig %g",
           gev[0]);
    eos_lanczos s;
    EXPECT(eos_lanczos_create(&s, pb.P, np) == 0, "lanczos create");
    double eig[3];
    int nmv = 0;
    EXPECT(eos_lanczos_run(&s, hvp_op, &h, 3, 1e-10, NULL, &r, eig, NULL, &nmv) == 0, "lanczos");
    for (int i = 0; i < 3; i++) EXPECT_REL(eig[i], ev[np - 1 - i], 1e-6);
    EXPECT(ev[0] < 0, "test Hessian should be indefinite (min eig %g)", ev[0]);
    eos_lanczos_free(&s);
    free(H), free(G), free(e), free(col), free(ev), free(gev), free(work);
    problem_free(&pb);
}

static void test_lapack_relu_max_xent(void) { check_lapack(EOS_ACT_RELU, EOS_POOL_MAX, EOS_LOSS_XENT); }
static void test_lapack_tanh_avg_mse(void) { check_lapack(EOS_ACT_TANH, EOS_POOL_AVG, EOS_LOSS_MSE); }
static void test_lapack_elu_none_mse(void) { check_lapack(EOS_ACT_ELU, EOS_POOL_NONE, EOS_LOSS_MSE); }
#endif

/* Optimised path vs the naive reference: loss, accuracy, gradient, HVP and Gauss-Newton product,
 * with idx selection (repeats, out of order) and chunks smaller than n (several passes and a
 * partial one). Outputs start non-zero to check that both accumulate. */
static void test_vs_reference(void)
{
    const net nets[] = {
        {"3x8x7 [9,5] k3 [6]", 3, 8, 7, 2, {9, 5}, 3, 1, {6}, 4, 1}, /* 9: row_sums' groups */
        {"1x9x9 [3] k5 [] nobias", 1, 9, 9, 1, {3}, 5, 0, {0}, 3, 0},
        {"2x8x8 [2,3,2] k1 []", 2, 8, 8, 3, {2, 3, 2}, 1, 0, {0}, 2, 1},
        {"1x6x6 [3] k3 [4] 1 out", 1, 6, 6, 1, {3}, 3, 1, {4}, 1, 1},
    };
    for (size_t si = 0; si < sizeof nets / sizeof *nets; si++)
        for (int pi = 0; pi < 3; pi++)
            for (int li = 0; li < N_LOSSES; li++)
                for (int ai = 0; ai < 6; ai++) {
                    if (si == 2 && pi != EOS_POOL_MAX && ai > 1) continue; /* keep it quick */
                    if (!loss_fits(li, nets[si].n_out)) continue;
                    eos_loss_kind loss = all_losses[li];
                    if (nets[si].n_out == 1 && loss != EOS_LOSS_LOGISTIC) continue; /* quick */
                    problem pb;
                    int N = 40, chunk = ai % 2 ? 7 : 64;
                    if (problem_make(&pb, &nets[si], all_acts[ai], (eos_pool)pi, loss, N, chunk,
                                     31 + si + 5 * ai) != 0)
                        return;
                    size_t P = pb.P;
                    int idx[53];
                    for (int i = 0; i < 53; i++) idx[i] = (i * 17 + 3) % 37; /* repeats */
                    real *g1 = malloc(P * sizeof(real)), *g2 = malloc(P * sizeof(real));
                    real *h1 = malloc(P * sizeof(real)), *h2 = malloc(P * sizeof(real));
                    char what[160];
                    snprintf(what, sizeof what, "%s %s pool %s %s", nets[si].name, act_names[ai],
                             pool_names[pi], loss_names[li]);
                    for (int pass = 0; pass < 2; pass++) {
                        const int *ix = pass ? idx : NULL;
                        int nn = pass ? 53 : N;
                        rand_vec(g1, P, 5), rand_vec(g2, P, 5);
                        double l1 = 1.5, l2 = 1.5, c1 = 2, c2 = 2;
                        EXPECT(eos_model_loss_grad(pb.m, pb.w, pb.X, pb.Y, ix, nn, 0.37, &l1, &c1,
                                                   g1) == 0, "lg");
                        EXPECT(eos_cnn_loss_grad_ref(pb.m, pb.w, pb.X, pb.Y, ix, nn, 0.37, &l2,
                                                     &c2, g2) == 0, "ref: %s", eos_error_msg());
                        EXPECT(fabs(l1 - l2) <= TOL_REF * fabs(l2), "%s: loss %.15g vs ref %.15g",
                               what, l1, l2);
                        EXPECT(c1 == c2, "%s: n_correct %g vs reference %g", what, c1, c2);
                        if (loss == EOS_LOSS_MSE) { /* outputs: the reference's loss from them */
                            real *f = malloc(sizeof(real) * nn * pb.k);
                            EXPECT(eos_model_outputs(pb.m, pb.w, pb.X, ix, nn, f) == 0, "outputs");
                            EXPECT_REL(mse_of_outputs(f, pb.Y, ix, nn, pb.k), l2 - 1.5, TOL_REF);
                            free(f);
                        }
                        double eg = rel_err(g1, g2, P);
                        EXPECT(eg < TOL_REF, "%s idx=%d: grad vs reference rel err %.3g", what,
                               pass, eg);
                        for (int gn = 0; gn < 2; gn++) {
                            rand_vec(h1, P, 6), rand_vec(h2, P, 6);
                            if (gn) {
                                EXPECT(eos_model_gnvp(pb.m, pb.w, pb.X, pb.Y, ix, nn, 0.37, pb.v,
                                                      h1) == 0, "gnvp");
                                EXPECT(eos_cnn_gnvp_ref(pb.m, pb.w, pb.X, pb.Y, ix, nn, 0.37,
                                                        pb.v, h2) == 0, "gnvp ref");
                            } else {
                                EXPECT(eos_model_hvp(pb.m, pb.w, pb.X, pb.Y, ix, nn, 0.37, pb.v,
                                                     h1) == 0, "hvp");
                                EXPECT(eos_cnn_hvp_ref(pb.m, pb.w, pb.X, pb.Y, ix, nn, 0.37,
                                                       pb.v, h2) == 0, "hvp ref");
                            }
                            double eh = rel_err(h1, h2, P);
                            EXPECT(eh < TOL_REF, "%s idx=%d: %s vs reference rel err %.3g", what,
                                   pass, gn ? "gnvp" : "hvp", eh);
                        }
                    }
                    free(g1), free(g2), free(h1), free(h2);
                    problem_free(&pb);
                }
}

/* Loss, gradient, HVP and Gauss-Newton product at 1 and 2 threads: the same bits. Shapes big
 * enough that the GEMMs split into tiles and the chunks into several passes. */
static void run_threads_case(const net *s, eos_activation act, eos_pool pool, eos_loss_kind loss,
                             int n, int chunk)
{
    problem pb;
    if (problem_make(&pb, s, act, pool, loss, n, chunk, 77) != 0) return;
    size_t P = pb.P;
    real *g[2], *h[2], *q[2];
    double l[2] = {0}, c[2] = {0};
    for (int t = 0; t < 2; t++) {
        omp_set_num_threads(t + 1);
        openblas_set_num_threads(t + 1);
        g[t] = calloc(P, sizeof(real)), h[t] = calloc(P, sizeof(real)), q[t] = calloc(P, sizeof(real));
        EXPECT(eos_model_loss_grad(pb.m, pb.w, pb.X, pb.Y, NULL, n, 1.0 / n, &l[t], &c[t], g[t]) == 0,
               "lg");
        EXPECT(eos_model_hvp(pb.m, pb.w, pb.X, pb.Y, NULL, n, 1.0 / n, pb.v, h[t]) == 0, "hvp");
        EXPECT(eos_model_gnvp(pb.m, pb.w, pb.X, pb.Y, NULL, n, 1.0 / n, pb.v, q[t]) == 0, "gnvp");
    }
    EXPECT(l[0] == l[1] && c[0] == c[1], "%s: loss differs across threads: %.17g vs %.17g",
           s->name, l[0], l[1]);
    EXPECT(memcmp(g[0], g[1], P * sizeof(real)) == 0, "%s: gradient differs across threads",
           s->name);
    EXPECT(memcmp(h[0], h[1], P * sizeof(real)) == 0, "%s: HVP differs across threads", s->name);
    EXPECT(memcmp(q[0], q[1], P * sizeof(real)) == 0, "%s: GN product differs across threads",
           s->name);
    for (int t = 0; t < 2; t++) free(g[t]), free(h[t]), free(q[t]);
    problem_free(&pb);
    omp_set_num_threads(2);
    openblas_set_num_threads(2);
}

static void test_thread_invariance(void)
{
    const net fm = {"1x28x28 [16,16] k3 []", 1, 28, 28, 2, {16, 16}, 3, 0, {0}, 10, 1};
    const net cf = {"3x15x15 [8,8] k3 [20]", 3, 15, 15, 2, {8, 8}, 3, 1, {20}, 10, 1};
    run_threads_case(&fm, EOS_ACT_RELU, EOS_POOL_MAX, EOS_LOSS_MSE, 70, 32);
    run_threads_case(&cf, EOS_ACT_TANH, EOS_POOL_AVG, EOS_LOSS_XENT, 45, 64);
    run_threads_case(&cf, EOS_ACT_ELU, EOS_POOL_NONE, EOS_LOSS_MSE, 20, 8);
}

/* Parameter count by hand (Cohen's cnn-relu on Fashion-MNIST and CIFAR-10) and the init: conv
 * layers drawn first, W then b, bound 1/sqrt(C_in k k) (PyTorch's Conv2d), then the dense layer;
 * gaussian: std init_scale/sqrt(fan_in) and zero biases. */
/* Per-layer groups (sharpness.per_layer): conv1..convC then fc1..fcL, sizes from the layer
 * shapes (C_out C_in k k + C_out per conv layer, then the dense layers on the flattened
 * features), tiling the parameters in order; the names are known before a model is built. */
static void test_groups(void)
{
    const net s = {"1x6x6 [3,2] k3 [5]", 1, 6, 6, 2, {3, 2}, 3, 1, {5}, 4, 1};
    eos_model *m = make_model(&s, EOS_ACT_TANH, EOS_POOL_MAX, EOS_LOSS_MSE, 4);
    if (!m) return;
    eos_model_cfg mc = cnn_cfg(&s, EOS_ACT_TANH, EOS_POOL_MAX);
    eos_param_group g[8], names[8];
    const char *want[] = {"conv1", "conv2", "fc1", "fc2"};
    /* 6x6 -> pool 3x3 -> pool 1x1: 2 features; then 2 -> 5 -> 4 */
    const size_t len[] = {3 * 1 * 9 + 3, 2 * 3 * 9 + 2, 2 * 5 + 5, 5 * 4 + 4};
    int n = eos_model_groups(&mc, m, g, 8), nn = eos_model_groups(&mc, NULL, names, 8);
    EXPECT(n == 4 && nn == 4 && eos_model_groups(&mc, NULL, NULL, 0) == 4, "4 groups, got %d", n);
    size_t next = 0;
    for (int i = 0; i < n && i < 4; i++) {
        EXPECT(!strcmp(g[i].name, want[i]) && !strcmp(names[i].name, want[i]), "group %d: %s",
               i, g[i].name);
        EXPECT(g[i].off == next && g[i].len == len[i], "%s at %zu, %zu long: want %zu, %zu",
               g[i].name, g[i].off, g[i].len, next, len[i]);
        next = g[i].off + g[i].len;
    }
    EXPECT(next == eos_model_nparams(m), "the groups cover %zu of %zu parameters", next,
           eos_model_nparams(m));
    eos_model_free(m);
}

static void test_params_and_init(void)
{
    const net fm = {"fashion cnn-relu", 1, 28, 28, 2, {32, 32}, 3, 0, {0}, 10, 1};
    const net cf = {"cifar cnn-relu", 3, 32, 32, 2, {32, 32}, 3, 0, {0}, 10, 1};
    for (int gi = 0; gi < 2; gi++) {
        eos_model *m = make_model(&fm, EOS_ACT_RELU, EOS_POOL_MAX, EOS_LOSS_MSE, 16);
        if (!m) return;
        size_t P = eos_model_nparams(m);
        EXPECT(P == (32 * 9 + 32) + (32 * 32 * 9 + 32) + (32 * 7 * 7 * 10 + 10), "nparams %zu", P);
        m->cfg.init = gi ? EOS_INIT_GAUSSIAN : EOS_INIT_PYTORCH;
        m->cfg.init_scale = gi ? 2.0 : 1.0;
        real *w = malloc(P * sizeof(real));
        eos_rng r, r2;
        eos_rng_init(&r, 42, EOS_RNG_STREAM_INIT);
        r2 = r;
        eos_model_init(m, w, &r);
        const size_t nw[3] = {32 * 9, 32 * 32 * 9, 10 * 32 * 49}, nb[3] = {32, 32, 10};
        const double fan[3] = {9, 288, 1568};
        size_t off = 0;
        for (int l = 0; l < 3; l++) {
            double bound = m->cfg.init_scale / sqrt(fan[l]), mx = 0, s2 = 0;
            int order_ok = 1;
            for (size_t i = 0; i < nw[l] + nb[l]; i++) {
                double x = w[off + i], e;
                if (i < nw[l]) {
                    e = gi ? bound * eos_rng_normal(&r2) : bound * (2 * eos_rng_uniform(&r2) - 1);
                    mx = fmax(mx, fabs(x)), s2 += x * x;
                } else {
                    e = gi ? 0 : bound * (2 * eos_rng_uniform(&r2) - 1);
                }
                if (fabs(x - e) > 1e-6 * bound) order_ok = 0;
            }
            EXPECT(order_ok, "%s init layer %d: not the expected draws", gi ? "gaussian" : "pytorch", l);
            double sd = sqrt(s2 / nw[l]);
            if (gi) EXPECT(fabs(sd / bound - 1) < 0.2, "layer %d std %g, want %g", l, sd, bound);
            else EXPECT(mx <= bound && mx > 0.9 * bound, "layer %d max |W| %g, bound %g", l, mx, bound);
            off += nw[l] + nb[l];
        }
        free(w);
        eos_model_free(m);
    }
    eos_model *m = make_model(&cf, EOS_ACT_RELU, EOS_POOL_AVG, EOS_LOSS_XENT, 4);
    if (m) EXPECT(eos_model_nparams(m) == (32 * 27 + 32) + (32 * 288 + 32) + (2048 * 10 + 10),
                  "cifar nparams %zu", eos_model_nparams(m));
    eos_model_free(m);
    /* no pooling: the flattened features keep the image size */
    eos_model *m2 = make_model(&fm, EOS_ACT_RELU, EOS_POOL_NONE, EOS_LOSS_XENT, 4);
    if (m2) EXPECT(eos_model_nparams(m2) == 320 + 9248 + 32 * 784 * 10 + 10, "none: %zu",
                   eos_model_nparams(m2));
    eos_model_free(m2);
    /* the cost model counts conv multiply-adds per output pixel, then the dense layer */
    eos_model_cfg mc = cnn_cfg(&fm, EOS_ACT_RELU, EOS_POOL_MAX);
    eos_shape img = {EOS_LAYOUT_IMAGE, {1, 28, 28}};
    double want = 784.0 * 32 * 9 + 196.0 * 32 * 288 + 1568.0 * 10;
    EXPECT(eos_model_cost(&mc, &img, 10) == want, "cost %g, want %g", eos_model_cost(&mc, &img, 10),
           want);
}

/* Configuration errors: one line naming the key. */
static void expect_refused(eos_model_cfg mc, eos_shape in, const char *key, const char *what)
{
    eos_model *m = NULL;
    const char *at = NULL;
    EXPECT(eos_model_validate(&mc, EOS_LOSS_MSE, &in, 10, &at) == EOS_ERR_CONFIG, "%s accepted",
           what);
    EXPECT(at && strcmp(at, key) == 0, "%s: key %s, want %s", what, at ? at : "(none)", key);
    EXPECT(strncmp(eos_error_msg(), key, strlen(key)) == 0 && !strchr(eos_error_msg(), '\n'),
           "%s: message '%s'", what, eos_error_msg());
    EXPECT(eos_model_create(&m, &mc, EOS_LOSS_MSE, &in, 10, 4) == EOS_ERR_CONFIG && !m,
           "%s: created", what);
}

static void test_config_errors(void)
{
    const net fm = {"fm", 1, 28, 28, 2, {32, 32}, 3, 0, {0}, 10, 1};
    eos_model_cfg mc = cnn_cfg(&fm, EOS_ACT_RELU, EOS_POOL_MAX), bad;
    eos_shape img = {EOS_LAYOUT_IMAGE, {1, 28, 28}}, flat = {EOS_LAYOUT_FLAT, {784}};
    eos_shape tok = {EOS_LAYOUT_TOKENS, {28, 28}}, unknown = {EOS_LAYOUT_UNKNOWN, {0}};
    const char *at;
    EXPECT(eos_model_validate(&mc, EOS_LOSS_MSE, &img, 10, &at) == 0, "%s", eos_error_msg());
    EXPECT(eos_model_validate(&mc, EOS_LOSS_MSE, &unknown, 0, &at) == 0,
           "unknown layout (HDF5 before loading) refused: %s", eos_error_msg());
    expect_refused(mc, flat, "model.arch", "cnn on flat data");
    expect_refused(mc, tok, "model.arch", "cnn on tokens");
    bad = mc, bad.kernel = 4;
    expect_refused(bad, img, "model.kernel", "even kernel");
    bad = mc, bad.kernel = 0;
    expect_refused(bad, img, "model.kernel", "kernel 0");
    bad = mc, bad.n_channels = 0;
    expect_refused(bad, img, "model.channels", "no conv layer");
    bad = mc, bad.channels[1] = 0;
    expect_refused(bad, img, "model.channels", "zero channels");
    bad = mc, bad.n_channels = 5;
    for (int i = 0; i < 5; i++) bad.channels[i] = 4;
    expect_refused(bad, img, "model.channels", "28 pooled 5 times"); /* 28 14 7 3 1 0 */
    bad.n_channels = 4;
    EXPECT(eos_model_validate(&bad, EOS_LOSS_MSE, &img, 10, &at) == 0, "4 poolings of 28: %s",
           eos_error_msg());
    bad.pool = EOS_POOL_NONE, bad.n_channels = 5;
    EXPECT(eos_model_validate(&bad, EOS_LOSS_MSE, &img, 10, &at) == 0, "no pooling: %s",
           eos_error_msg());
    bad = mc, bad.n_hidden = 1, bad.hidden[0] = 0;
    expect_refused(bad, img, "model.hidden", "zero hidden width");
    bad = mc, bad.pool = (eos_pool)7;
    expect_refused(bad, img, "model.pool", "unknown pooling");
    EXPECT(eos_model_has_gnvp(&mc), "cnn has a Gauss-Newton product");
}

int main(void)
{
#ifdef EOS_FLOAT64
    TEST_RUN(test_derivatives_fd);
    TEST_RUN(test_lapack_relu_max_xent);
    TEST_RUN(test_lapack_tanh_avg_mse);
    TEST_RUN(test_lapack_elu_none_mse);
#endif
    TEST_RUN(test_vs_reference);
    TEST_RUN(test_thread_invariance);
    TEST_RUN(test_params_and_init);
    TEST_RUN(test_groups);
    TEST_RUN(test_config_errors);
    return TEST_SUMMARY();
}
