/* test_lanczos.c (float64): Lanczos and LOBPCG top eigenvalues against LAPACK on explicitly
 * assembled Hessians and against the closed form of linear regression. */
#include <stdlib.h>
#include <string.h>

#include "eos_config.h"
#include "eos_model.h"
#include "eos_rng.h"
#include "eos_lanczos.h"
#include "eos_test.h"

extern void dsyev_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda,
                   double *w, double *work, const int *lwork, int *info);

/* eigenvalues of a symmetric n x n matrix, ascending */
static int sym_eig(double *A, int n, double *w)
{
    int info = 0, lwork = 64 * n;
    double *work = malloc((size_t)lwork * sizeof(double));
    dsyev_("N", "U", &n, A, &n, w, work, &lwork, &info);
    free(work);
    return info;
}

typedef struct {
    eos_model *m;
    const real *w, *X, *Y;
    int n;
    const real *D; /* optional diagonal scaling: v -> D H D v */
    real *tmp;
    size_t np;
    real *tmpb;  /* [8, np] the scaled block (hvp_block_op) */
    int blocks;  /* block calls */
} hctx;

static int hvp_op(void *c, const real *v, real *out)
{
    hctx *h = c;
    const real *vin = v;
    if (h->D) {
        for (size_t i = 0; i < h->np; i++) h->tmp[i] = h->D[i] * v[i];
        vin = h->tmp;
    }
    memset(out, 0, h->np * sizeof(real));
    int rc = eos_model_hvp(h->m, h->w, h->X, h->Y, NULL, h->n, 1.0 / h->n, vin, out);
    if (h->D)
        for (size_t i = 0; i < h->np; i++) out[i] *= h->D[i];
    return rc;
}

/* The same on blocks, by the model's block product (nv <= 8) */
static int hvp_block_op(void *c, const real *V, int nv, real *OUT)
{
    hctx *h = c;
    const real *vin = V;
    const size_t tot = (size_t)nv * h->np;
    h->blocks++;
    if (h->D) {
        for (size_t i = 0; i < tot; i++) h->tmpb[i] = h->D[i % h->np] * V[i];
        vin = h->tmpb;
    }
    memset(OUT, 0, tot * sizeof(real));
    int rc = eos_model_hvp_block(h->m, h->w, h->X, h->Y, NULL, h->n, 1.0 / h->n, nv, vin, OUT);
    if (h->D)
        for (size_t i = 0; i < tot; i++) OUT[i] *= h->D[i % h->np];
    return rc;
}

/* Assemble the Hessian (or D H D) column by column through the same operator. */
static double *assemble(hctx *h)
{
    size_t np = h->np;
    double *H = calloc(np * np, sizeof(double));
    real *e = calloc(np, sizeof(real)), *col = calloc(np, sizeof(real));
    for (size_t j = 0; j < np; j++) {
        e[j] = 1;
        hvp_op(h, e, col);
        e[j] = 0;
        for (size_t i = 0; i < np; i++) H[j * np + i] = col[i];
    }
    free(e);
    free(col);
    return H;
}

static void random_fill(real *x, size_t n, eos_rng *r, double s)
{
    for (size_t i = 0; i < n; i++) x[i] = (real)(s * eos_rng_normal(r));
}

static void check_net(eos_activation act, eos_loss_kind loss, int use_diag)
{
    eos_model_cfg mc;
    eos_config c;
    eos_config_default(&c);
    mc = c.model;
    mc.n_hidden = 2;
    mc.hidden[0] = 5;
    mc.hidden[1] = 4;
    mc.activation = act;
    int d = 4, nout = 3, n = 11;
    eos_model *m = NULL;
    eos_shape in = {EOS_LAYOUT_FLAT, {d}};
    EXPECT(eos_model_create(&m, &mc, loss, &in, nout, 4) == 0, "create");
    if (!m) return;
    size_t np = eos_model_nparams(m);
    real *w = malloc(np * sizeof(real)), *X = malloc((size_t)n * d * sizeof(real));
    real *Y = calloc((size_t)n * nout, sizeof(real)), *D = malloc(np * sizeof(real));
    eos_rng r;
    eos_rng_init(&r, 11, 1);
    eos_model_init(m, w, &r);
    random_fill(w, np, &r, 0.6); /* away from init symmetry, a Hessian with mixed signs */
    random_fill(X, (size_t)n * d, &r, 1.0);
    for (int i = 0; i < n; i++) Y[i * nout + (i % nout)] = 1;
    for (size_t i = 0; i < np; i++) D[i] = (real)(0.5 + eos_rng_uniform(&r));
    hctx h = {m, w, X, Y, n, use_diag ? D : NULL, malloc(2 * np * sizeof(real)), np,
              malloc(8 * np * sizeof(real)), 0};
    double *H = assemble(&h);
    /* symmetry of the assembled matrix is a check of the HVP itself */
    double asym = 0, hmax = 0;
    for (size_t i = 0; i < np; i++)
        for (size_t j = 0; j < np; j++) {
            asym = fmax(asym, fabs(H[i * np + j] - H[j * np + i]));
            hmax = fmax(hmax, fabs(H[i * np + j]));
        }
    EXPECT(asym <= 1e-10 * hmax, "assembled Hessian not symmetric: %g", asym);
    double *ev = malloc(np * sizeof(double));
    EXPECT(sym_eig(H, (int)np, ev) == 0, "dsyev");
    eos_lanczos s;
    EXPECT(eos_lanczos_create(&s, np, (int)np) == 0, "sharp create");
    double eig[3];
    int nmv = 0;
    EXPECT(eos_lanczos_run(&s, hvp_op, &h, 3, 1e-10, NULL, &r, eig, NULL, &nmv) == 0, "lanczos");
    for (int i = 0; i < 3; i++) EXPECT_REL(eig[i], ev[np - 1 - i], 1e-6);
    EXPECT(ev[0] < 0, "test Hessian should be indefinite (min eig %g)", ev[0]);
    eos_lanczos_free(&s);
    /* LOBPCG: the same eigenvalues, and its block holds orthonormal Ritz vectors of H */
    const int b = eos_lobpcg_block(3, 2, np);
    eos_lobpcg lb;
    EXPECT(eos_lobpcg_create(&lb, np, b) == 0, "lobpcg create");
    real *Xb = calloc((size_t)b * np, sizeof(real));
    EXPECT(eos_lobpcg_run(&lb, hvp_op, NULL, &h, 3, 2, 1e-10, 500, Xb, 0, &r, eig, &nmv) == 0,
           "lobpcg");
    for (int i = 0; i < 3; i++) EXPECT_REL(eig[i], ev[np - 1 - i], 1e-6);
    double hn = fmax(fabs(ev[0]), fabs(ev[np - 1]));
    for (int i = 0; i < 3; i++) {
        const real *x = Xb + (size_t)i * np;
        double res = 0, gram = 0;
        real *hx = h.tmp + np; /* (dsyev overwrote H) */
        hvp_op(&h, x, hx);
        for (size_t a = 0; a < np; a++) res += (hx[a] - eig[i] * x[a]) * (hx[a] - eig[i] * x[a]);
        for (int j = 0; j <= i; j++) {
            double d = 0;
            for (size_t a = 0; a < np; a++) d += x[a] * Xb[(size_t)j * np + a];
            gram = fmax(gram, fabs(d - (i == j)));
        }
        EXPECT(sqrt(res) <= 1e-7 * hn, "Ritz vector %d: |Hx - theta x| = %g", i, sqrt(res));
        EXPECT(gram <= 1e-10, "Ritz vectors not orthonormal: %g", gram);
    }
    /* and with the model's block products (to rounding the single ones) */
    memset(Xb, 0, (size_t)b * np * sizeof(real));
    int nmv_b = 0;
    EXPECT(eos_lobpcg_run(&lb, hvp_op, hvp_block_op, &h, 3, 2, 1e-10, 500, Xb, 0, &r, eig,
                          &nmv_b) == 0,
           "lobpcg, block products");
    for (int i = 0; i < 3; i++) EXPECT_REL(eig[i], ev[np - 1 - i], 1e-6);
    EXPECT(h.blocks >= 2 && h.blocks < nmv_b, "%d block calls for %d products", h.blocks, nmv_b);
    free(Xb);
    free(h.tmpb);
    eos_lobpcg_free(&lb);
    free(ev);
    free(H);
    free(h.tmp);
    free(w);
    free(X);
    free(Y);
    free(D);
    eos_model_free(m);
}

static void test_lanczos_vs_lapack_tanh_mse(void) { check_net(EOS_ACT_TANH, EOS_LOSS_MSE, 0); }
static void test_lanczos_vs_lapack_relu_xent(void) { check_net(EOS_ACT_RELU, EOS_LOSS_XENT, 0); }
static void test_lanczos_vs_lapack_gelu_mse(void) { check_net(EOS_ACT_GELU, EOS_LOSS_MSE, 0); }
/* P^-1/2 H P^-1/2 with a positive diagonal, as for Adam's preconditioned sharpness */
static void test_lanczos_preconditioned(void) { check_net(EOS_ACT_TANH, EOS_LOSS_XENT, 1); }

/* diag(-10, 3, 2, 1, 0.5, ...): the top algebraic eigenvalue is 3, not the largest magnitude. */
typedef struct { int n; } dctx;
static int diag_op(void *c, const real *v, real *out)
{
    int n = ((dctx *)c)->n;
    for (int i = 0; i < n; i++) out[i] = (real)((i == 0 ? -10.0 : 3.0 / i) * v[i]);
    return 0;
}

static void test_largest_algebraic(void)
{
    dctx c = {50};
    eos_lanczos s;
    eos_lanczos_create(&s, 50, 50);
    eos_rng r;
    eos_rng_init(&r, 5, 4);
    double eig[2];
    eos_lanczos_run(&s, diag_op, &c, 2, 1e-10, NULL, &r, eig, NULL, NULL);
    EXPECT_REL(eig[0], 3.0, 1e-8);
    EXPECT_REL(eig[1], 1.5, 1e-8);
    eos_lanczos_free(&s);
    eos_lobpcg lb;
    real X[4 * 50];
    eos_lobpcg_create(&lb, 50, 4);
    EXPECT(eos_lobpcg_run(&lb, diag_op, NULL, &c, 2, 2, 1e-10, 1000, X, 0, &r, eig, NULL) == 0, "run");
    EXPECT_REL(eig[0], 3.0, 1e-8);
    EXPECT_REL(eig[1], 1.5, 1e-8);
    eos_lobpcg_free(&lb);
}

/* Linear model + MSE: H = I_out (x) C with C = (1/n) [X 1]'[X 1]; its top eigenvalue is the top
 * eigenvalue of the input covariance with the bias column (closed form, no HVP involved). */
static void test_linear_regression_closed_form(void)
{
    eos_config c;
    eos_config_default(&c);
    eos_model_cfg mc = c.model;
    mc.n_hidden = 0;
    int d = 6, n = 40, nout = 2;
    eos_model *m = NULL;
    eos_shape in = {EOS_LAYOUT_FLAT, {d}};
    EXPECT(eos_model_create(&m, &mc, EOS_LOSS_MSE, &in, nout, 16) == 0, "create");
    if (!m) return;
    size_t np = eos_model_nparams(m);
    EXPECT(np == (size_t)(nout * (d + 1)), "nparams %zu", np);
    real *w = malloc(np * sizeof(real)), *X = malloc((size_t)n * d * sizeof(real));
    real *Y = malloc((size_t)n * nout * sizeof(real));
    eos_rng r;
    eos_rng_init(&r, 3, 1);
    random_fill(w, np, &r, 1);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++) X[i * d + j] = (real)((1 + j) * eos_rng_normal(&r) + 0.3 * j);
    random_fill(Y, (size_t)n * nout, &r, 1);
    double C[7 * 7] = {0}, ev[7];
    for (int i = 0; i < n; i++)
        for (int a = 0; a <= d; a++)
            for (int b = 0; b <= d; b++)
                C[a * (d + 1) + b] += (a < d ? X[i * d + a] : 1.0) * (b < d ? X[i * d + b] : 1.0) / n;
    sym_eig(C, d + 1, ev);
    hctx h = {m, w, X, Y, n, NULL, NULL, np, NULL, 0};
    eos_lanczos s;
    eos_lanczos_create(&s, np, (int)np);
    double eig[3];
    eos_lanczos_run(&s, hvp_op, &h, 3, 1e-12, NULL, &r, eig, NULL, NULL);
    EXPECT_REL(eig[0], ev[d], 1e-9);
    EXPECT_REL(eig[1], ev[d], 1e-9); /* multiplicity nout */
    EXPECT_REL(eig[2], ev[d - 1], 1e-9);
    eos_lanczos_free(&s);
    /* a block method sees both copies of the double eigenvalue at once, without a restart */
    eos_lobpcg lb;
    real *Xb = malloc(5 * np * sizeof(real));
    eos_lobpcg_create(&lb, np, 5);
    EXPECT(eos_lobpcg_run(&lb, hvp_op, NULL, &h, 3, 2, 1e-12, 500, Xb, 0, &r, eig, NULL) == 0, "run");
    EXPECT_REL(eig[0], ev[d], 1e-9);
    EXPECT_REL(eig[1], ev[d], 1e-9);
    EXPECT_REL(eig[2], ev[d - 1], 1e-9);
    eos_lobpcg_free(&lb);
    free(Xb);
    free(w);
    free(X);
    free(Y);
    eos_model_free(m);
}

/* Warm start from the previous top eigenvector converges in fewer products. */
static void test_warm_start(void)
{
    dctx c = {400};
    eos_lanczos s;
    eos_lanczos_create(&s, 400, 100);
    eos_rng r;
    eos_rng_init(&r, 9, 4);
    real *v = malloc(400 * sizeof(real));
    double eig[1];
    int cold = 0, warm = 0;
    eos_lanczos_run(&s, diag_op, &c, 1, 1e-8, NULL, &r, eig, v, &cold);
    eos_lanczos_run(&s, diag_op, &c, 1, 1e-8, v, &r, eig, NULL, &warm);
    EXPECT_REL(eig[0], 3.0, 1e-7);
    EXPECT(warm < cold, "warm %d >= cold %d", warm, cold);
    free(v);
    eos_lanczos_free(&s);
}

/* diag(3/(i+1)) scaled by 1 + eps sin(i): a nearby operator, as between two measurements */
typedef struct {
    int n;
    double eps;
} pctx;
static int perturbed_op(void *c, const real *v, real *out)
{
    const pctx *p = c;
    for (int i = 0; i < p->n; i++) out[i] = (real)(3.0 / (i + 1) * (1 + p->eps * sin(i)) * v[i]);
    return 0;
}

/* LOBPCG's block warm start: after a solve at one point, the top-2 solve at a nearby point
 * starting from the kept block needs fewer products than a cold one and agrees with it; a kept
 * block of zeros (no previous measurement) is completed from the stream. */
static void test_lobpcg_warm_block(void)
{
    const int n = 400, k = 2, guard = 2, b = 4;
    eos_lobpcg lb;
    eos_lobpcg_create(&lb, n, b);
    eos_rng r;
    eos_rng_init(&r, 9, 4);
    real *X = calloc((size_t)b * n, sizeof(real)), *Xc = calloc((size_t)b * n, sizeof(real));
    pctx p0 = {n, 0.0}, p1 = {n, 0.02};
    double eig[2], eig_c[2];
    int first = 0, warm = 0, cold = 0;
    EXPECT(eos_lobpcg_run(&lb, perturbed_op, NULL, &p0, k, guard, 1e-6, 500, X, 1, &r, eig, &first) == 0,
           "zero start");
    EXPECT_REL(eig[0], 3.0, 1e-6);
    EXPECT_REL(eig[1], 1.5, 1e-6);
    EXPECT(eos_lobpcg_run(&lb, perturbed_op, NULL, &p1, k, guard, 1e-6, 500, X, 1, &r, eig, &warm) == 0,
           "warm");
    EXPECT(eos_lobpcg_run(&lb, perturbed_op, NULL, &p1, k, guard, 1e-6, 500, Xc, 0, &r, eig_c, &cold) ==
               0, "cold");
    for (int i = 0; i < k; i++) {
        double exact = 3.0 / (i + 1) * (1 + 0.02 * sin(i));
        EXPECT_REL(eig[i], exact, 1e-5);
        EXPECT_REL(eig_c[i], exact, 1e-5);
    }
    EXPECT(warm < cold, "warm block %d products >= cold %d", warm, cold);
    free(X);
    free(Xc);
    eos_lobpcg_free(&lb);
}

int main(void)
{
    TEST_RUN(test_lanczos_vs_lapack_tanh_mse);
    TEST_RUN(test_lanczos_vs_lapack_relu_xent);
    TEST_RUN(test_lanczos_vs_lapack_gelu_mse);
    TEST_RUN(test_lanczos_preconditioned);
    TEST_RUN(test_largest_algebraic);
    TEST_RUN(test_linear_regression_closed_form);
    TEST_RUN(test_warm_start);
    TEST_RUN(test_lobpcg_warm_block);
    return TEST_SUMMARY();
}
