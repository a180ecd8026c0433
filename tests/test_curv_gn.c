/* test_curv_gn.c (float64): the Gauss-Newton product (eos_model_gnvp) and the curvature probes
 * built on Lanczos with other operators or vectors: gn_eig (src/curv/gn_eig.c, top-k of
 * G = J' H_loss J), eig_min (src/curv/eig_min.c, bottom k_min of H), layer_eig (the top of each
 * layer's diagonal block of H) and overlap (gradient and update along H's top eigenvectors).
 *
 * Oracles: G is assembled explicitly from per-example Jacobians J_i, which come from gradients
 * alone (the MSE gradient J_i' (f_i - y) is affine in the target, so the gradients at y = 0 and
 * y = e_j differ by exactly row j of J_i, and the losses there by f_ij - 1/2), then
 * G = (1/n) sum_i J_i' H_loss,i J_i with H_loss = I (MSE) or S (diag(p) - p p') (softmax
 * cross-entropy); eigenvalues by LAPACK dsyev. H is assembled by columns of eos_model_hvp. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "eos_curv.h"
#include "eos_data.h"
#include "eos_model.h"
#include "eos_train.h"
#include "../src/model/model_impl.h"
#include "eos_test.h"

extern void dsyev_(const char *, const char *, const int *, double *, const int *, double *,
                   double *, const int *, int *);

/* Eigenvalues of the symmetric A [n, n], ascending; with vectors (jobz "V") A's columns become
 * the eigenvectors, otherwise A is destroyed. */
static int sym_eig_jobz(const char *jobz, double *A, int n, double *ev)
{
    int lw = 64 * n + 64, info = 0;
    double *work = malloc((size_t)lw * sizeof *work);
    dsyev_(jobz, "U", &n, A, &n, ev, work, &lw, &info);
    free(work);
    return info;
}

static int sym_eig(double *A, int n, double *ev) { return sym_eig_jobz("N", A, n, ev); }

/* A tiny run: teacher-student inputs (dim 3, n examples, k outputs), model.hidden `hidden`
 * widths of tanh, biases, one step, measured at steps 0 and 1, Lanczos run to the end. Under
 * xent the targets become one-hot labels (argmax of the teacher's outputs). */
typedef struct {
    eos_config cfg;
    eos_data d;
    eos_model *m, *mse; /* the run's model and its MSE twin (same parameters) */
    real *w;            /* w_0, the point of the first measurement */
    size_t np;
} fixture;

static void fixture_make(fixture *f, int n_hidden, int k, int n, eos_loss_kind loss)
{
    memset(f, 0, sizeof *f);
    eos_config *c = &f->cfg;
    eos_config_default(c);
    EXPECT(eos_config_set(c, "data.source", "teacher-student") == 0, "%s", eos_error_msg());
    c->seed = 11;
    c->data.dim = 3;
    c->data.n_out = k;
    c->data.n_train = n;
    c->model.n_hidden = n_hidden;
    for (int l = 0; l < n_hidden; l++) c->model.hidden[l] = 4;
    c->model.init_scale = 2.0; /* far from a minimum: H is indefinite */
    c->train.max_steps = 1;
    c->train.record_every = 1;
    c->train.lr = 0.01;
    c->sharpness.every = 1;
    c->sharpness.k = 3;
    c->sharpness.tol = 1e-10;
    c->sharpness.precond = 0;
    EXPECT(eos_config_validate(c, NULL, NULL) == 0, "%s", eos_error_msg());
    EXPECT(eos_data_load(&f->d, c) == 0, "load: %s", eos_error_msg());
    if (loss == EOS_LOSS_XENT) {
        c->loss = EOS_LOSS_XENT; /* the trainer takes the data as given */
        for (int i = 0; i < n; i++) {
            real *y = f->d.train.Y + (size_t)i * k;
            int best = 0;
            for (int j = 1; j < k; j++) best = y[j] > y[best] ? j : best;
            for (int j = 0; j < k; j++) y[j] = j == best;
        }
    }
    const eos_dataset *tr = &f->d.train;
    EXPECT(eos_model_create(&f->m, &c->model, c->loss, &tr->shape, k, 64) == 0, "%s",
           eos_error_msg());
    EXPECT(eos_model_create(&f->mse, &c->model, EOS_LOSS_MSE, &tr->shape, k, 64) == 0, "%s",
           eos_error_msg());
    f->np = eos_model_nparams(f->m);
    f->w = calloc(f->np, sizeof(real));
    eos_rng r;
    eos_rng_init(&r, c->seed, EOS_RNG_STREAM_INIT); /* as the trainer initialises */
    eos_model_init(f->m, f->w, &r);
}

static void fixture_free(fixture *f)
{
    eos_model_free(f->m);
    eos_model_free(f->mse);
    eos_data_free(&f->d);
    free(f->w);
}

/* Columns of v -> op(v) with scale 1/n over the training set: A [np, np]. */
typedef int (*product_fn)(eos_model *, const real *, const real *, const real *, const int *, int,
                          double, const real *, real *);

static int gnvp_ref(eos_model *m, const real *w, const real *X, const real *Y, const int *idx,
                    int n, double scale, const real *v, real *out)
{
    return eos_mlp_gnvp_ref(m, w, X, Y, idx, n, scale, v, out);
}

/* The same over the examples idx[0..n) with scale 1/n. */
static void assemble_on(eos_model *m, const real *w, const eos_dataset *ds, const int *idx, int n,
                        product_fn op, double *A)
{
    size_t np = eos_model_nparams(m);
    real *e = calloc(np, sizeof(real)), *col = calloc(np, sizeof(real));
    for (size_t c = 0; c < np; c++) {
        e[c] = 1;
        memset(col, 0, np * sizeof(real));
        EXPECT(op(m, w, ds->X, ds->Y, idx, n, 1.0 / n, e, col) == 0, "%s", eos_error_msg());
        for (size_t r = 0; r < np; r++) A[c * np + r] = col[r];
        e[c] = 0;
    }
    free(e);
    free(col);
}

static void assemble(eos_model *m, const real *w, const eos_dataset *ds, product_fn op, double *A)
{
    assemble_on(m, w, ds, NULL, ds->n, op, A);
}

/* G = (1/n) sum_i J_i' H_loss,i J_i from gradients of the MSE twin (see the top). */
static void assemble_gn_from_jacobians(const fixture *f, double *G)
{
    const eos_dataset *tr = &f->d.train;
    const int k = tr->n_out;
    const size_t np = f->np;
    real *g0 = malloc(np * sizeof(real)), *gj = malloc(np * sizeof(real)), y[16];
    double *J = malloc((size_t)k * np * sizeof(double)), fo[16], p[16], Hl[256];
    memset(G, 0, np * np * sizeof(double));
    for (int i = 0; i < tr->n; i++) {
        const real *x = tr->X + (size_t)i * tr->d, *yi = tr->Y + (size_t)i * k;
        double l0 = 0;
        memset(y, 0, sizeof y);
        memset(g0, 0, np * sizeof(real));
        EXPECT(eos_model_loss_grad(f->mse, f->w, x, y, NULL, 1, 1.0, &l0, NULL, g0) == 0, "grad");
        for (int j = 0; j < k; j++) {
            double lj = 0;
            y[j] = 1;
            memset(gj, 0, np * sizeof(real));
            EXPECT(eos_model_loss_grad(f->mse, f->w, x, y, NULL, 1, 1.0, &lj, NULL, gj) == 0, "g");
            y[j] = 0;
            for (size_t q = 0; q < np; q++) J[(size_t)j * np + q] = (double)g0[q] - (double)gj[q];
            fo[j] = l0 - lj + 0.5;
        }
        if (f->cfg.loss == EOS_LOSS_MSE) {
            for (int a = 0; a < k; a++)
                for (int b = 0; b < k; b++) Hl[a * k + b] = a == b;
        } else {
            double mx = fo[0], se = 0, s = 0;
            for (int j = 1; j < k; j++) mx = fo[j] > mx ? fo[j] : mx;
            for (int j = 0; j < k; j++) se += exp(fo[j] - mx), s += yi[j];
            for (int j = 0; j < k; j++) p[j] = exp(fo[j] - mx) / se;
            for (int a = 0; a < k; a++)
                for (int b = 0; b < k; b++) Hl[a * k + b] = s * ((a == b) * p[a] - p[a] * p[b]);
        }
        for (int a = 0; a < k; a++)
            for (int b = 0; b < k; b++) {
                double h = Hl[a * k + b] / tr->n;
                if (h == 0) continue;
                for (size_t r = 0; r < np; r++) {
                    double jr = h * J[(size_t)a * np + r];
                    for (size_t c = 0; c < np; c++) G[r * np + c] += jr * J[(size_t)b * np + c];
                }
            }
    }
    free(g0);
    free(gj);
    free(J);
}

static double max_abs(const double *A, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(A[i]));
    return m;
}

/* max |A - B| <= tol max |B| */
static void expect_close(const double *A, const double *B, size_t n, double tol, const char *what)
{
    double d = 0, s = max_abs(B, n);
    for (size_t i = 0; i < n; i++) d = fmax(d, fabs(A[i] - B[i]));
    EXPECT(d <= tol * s, "%s: max difference %.3g of scale %.3g", what, d, s);
}

/* The run's values of probe `name` at slot 0 (w_0), and its HVP count there. */
static void run_probe(const fixture *f, const eos_config *c, const char *name, int k, float *out,
                      int *hvps)
{
    eos_run_result r;
    EXPECT(eos_run_result_alloc(&r, c) == 0, "alloc");
    EXPECT(eos_train_run(c, &f->d, &r, NULL) == 0 && r.status == EOS_RUN_DONE, "run: %s",
           r.message);
    int width = 0;
    const float *v = name ? test_sharp(&r, name, &width) : NULL;
    if (name) {
        EXPECT(width == k, "%s: width %d, want %d", name, width, k);
        for (int i = 0; i < k; i++) out[i] = v[i];
    }
    if (hvps) *hvps = r.sharp.hvps[0];
    eos_run_result_free(&r);
}

/* A linear model (no hidden layer) under MSE: f is linear in the parameters, so G = H exactly;
 * the probe through the trainer gives LAPACK's top-k of either, and gn_eig = eig. */
static void test_gn_equals_hessian_linear(void)
{
    fixture f;
    fixture_make(&f, 0, 2, 12, EOS_LOSS_MSE);
    size_t np = f.np;
    double *G = malloc(np * np * sizeof *G), *H = malloc(np * np * sizeof *H), ev[64];
    assemble(f.m, f.w, &f.d.train, eos_model_gnvp, G);
    assemble(f.m, f.w, &f.d.train, eos_model_hvp, H);
    expect_close(G, H, np * np, 1e-12, "G against H");
    EXPECT(sym_eig(H, (int)np, ev) == 0, "dsyev");
    eos_config c = f.cfg;
    c.sharpness.gauss_newton = 1;
    float gn[3], eig[3];
    run_probe(&f, &c, "gn_eig", 3, gn, NULL);
    run_probe(&f, &c, "eig", 3, eig, NULL);
    for (int i = 0; i < 3; i++) {
        EXPECT_REL(gn[i], ev[np - 1 - i], 1e-6);
        EXPECT_REL(gn[i], eig[i], 1e-6);
    }
    free(G);
    free(H);
    fixture_free(&f);
}

/* A tanh network (two hidden layers of 4, biases) under both losses: the product's columns
 * equal the explicitly assembled J' H_loss J and the naive reference, G is positive
 * semi-definite, and the probe's top-k through the trainer is LAPACK's top-k of G. */
static void test_gn_against_assembled(void)
{
    for (int loss = EOS_LOSS_MSE; loss <= EOS_LOSS_XENT; loss++) {
        fixture f;
        fixture_make(&f, 2, 3, 10, (eos_loss_kind)loss);
        size_t np = f.np;
        double *G = malloc(np * np * sizeof *G), *A = malloc(np * np * sizeof *A),
               *R = malloc(np * np * sizeof *R), *H = malloc(np * np * sizeof *H), ev[128];
        assemble(f.m, f.w, &f.d.train, eos_model_gnvp, G);
        assemble(f.m, f.w, &f.d.train, gnvp_ref, R);
        assemble(f.m, f.w, &f.d.train, eos_model_hvp, H);
        assemble_gn_from_jacobians(&f, A);
        expect_close(G, A, np * np, 1e-6, loss ? "xent: G against J'HJ" : "mse: G against J'HJ");
        expect_close(G, R, np * np, 1e-10, "G against the naive reference");
        double d = 0; /* the network's second-order term is not zero here */
        for (size_t i = 0; i < np * np; i++) d = fmax(d, fabs(G[i] - H[i]));
        EXPECT(d > 1e-3 * max_abs(H, np * np), "G differs from H (%.3g)", d);
        EXPECT(sym_eig(A, (int)np, ev) == 0, "dsyev");
        EXPECT(ev[0] >= -1e-10 * fmax(1, ev[np - 1]), "PSD: smallest eigenvalue %.3g", ev[0]);
        eos_config c = f.cfg;
        c.sharpness.gauss_newton = 1;
        float gn[3];
        int with = 0, without = 0;
        run_probe(&f, &c, "gn_eig", 3, gn, &with);
        for (int i = 0; i < 3; i++) EXPECT_REL(gn[i], ev[np - 1 - i], 1e-6);
        c.sharpness.gauss_newton = 0;
        run_probe(&f, &c, NULL, 0, NULL, &without);
        EXPECT(with > without, "GN products counted in hvps: %d with, %d without", with, without);
        free(G);
        free(A);
        free(R);
        free(H);
        fixture_free(&f);
    }
}

/* Chunking changes the summation, not the operator. */
static void test_gn_chunked(void)
{
    fixture f;
    fixture_make(&f, 1, 2, 50, EOS_LOSS_XENT);
    eos_model *m3 = NULL;
    EXPECT(eos_model_create(&m3, &f.cfg.model, f.cfg.loss, &f.d.train.shape, 2, 3) == 0, "%s",
           eos_error_msg());
    size_t np = f.np;
    double *A = malloc(np * np * sizeof *A), *B = malloc(np * np * sizeof *B);
    assemble(f.m, f.w, &f.d.train, eos_model_gnvp, A);
    assemble(m3, f.w, &f.d.train, eos_model_gnvp, B);
    expect_close(B, A, np * np, 1e-12, "chunks of 3 against one chunk");
    free(A);
    free(B);
    eos_model_free(m3);
    fixture_free(&f);
}

/* The linear transformer (dense and sparse P/Q): G = J' J against the assembled one (J from
 * gradients at y and y + 1), positive semi-definite, and gn_eig through the trainer. */
static void test_gn_linear_transformer(void)
{
    for (int sparse = 0; sparse <= 1; sparse++) {
        eos_config c;
        eos_config_default(&c);
        EXPECT(eos_config_set(&c, "data.source", "icl-regression") == 0, "%s", eos_error_msg());
        EXPECT(eos_config_set(&c, "model.arch", "linear-transformer") == 0, "%s",
               eos_error_msg());
        c.seed = 3;
        c.data.dim = 3;
        c.data.n_context = 5;
        c.data.n_train = 8;
        c.model.layers = 2;
        c.model.sparse = sparse;
        c.train.max_steps = 1;
        c.train.record_every = 1;
        c.train.lr = 1e-6; /* one small step: only slot 0 is checked */
        c.sharpness.every = 1;
        c.sharpness.k = 2;
        c.sharpness.tol = 1e-10;
        c.sharpness.precond = 0;
        c.sharpness.gauss_newton = 1;
        EXPECT(eos_config_validate(&c, NULL, NULL) == 0, "%s", eos_error_msg());
        fixture f;
        memset(&f, 0, sizeof f);
        f.cfg = c;
        EXPECT(eos_data_load(&f.d, &c) == 0, "load: %s", eos_error_msg());
        const eos_dataset *tr = &f.d.train;
        EXPECT(eos_model_create(&f.m, &c.model, c.loss, &tr->shape, 1, 4) == 0, "%s",
               eos_error_msg());
        f.np = eos_model_nparams(f.m);
        f.w = calloc(f.np, sizeof(real));
        eos_rng r;
        eos_rng_init(&r, c.seed, EOS_RNG_STREAM_INIT);
        eos_model_init(f.m, f.w, &r);
        size_t np = f.np;
        double *G = malloc(np * np * sizeof *G), *A = calloc(np * np, sizeof *A), ev[256];
        real *g0 = malloc(np * sizeof(real)), *g1 = malloc(np * sizeof(real));
        double *J = malloc(np * sizeof *J);
        assemble(f.m, f.w, tr, eos_model_gnvp, G);
        for (int i = 0; i < tr->n; i++) {
            const real *x = tr->X + (size_t)i * tr->d;
            real y0 = 0, y1 = 1;
            memset(g0, 0, np * sizeof(real));
            memset(g1, 0, np * sizeof(real));
            EXPECT(eos_model_loss_grad(f.m, f.w, x, &y0, NULL, 1, 1.0, NULL, NULL, g0) == 0, "g");
            EXPECT(eos_model_loss_grad(f.m, f.w, x, &y1, NULL, 1, 1.0, NULL, NULL, g1) == 0, "g");
            for (size_t q = 0; q < np; q++) J[q] = (double)g0[q] - (double)g1[q];
            for (size_t a = 0; a < np; a++)
                for (size_t b = 0; b < np; b++) A[a * np + b] += J[a] * J[b] / tr->n;
        }
        expect_close(G, A, np * np, 1e-6, sparse ? "sparse: G against J'J" : "G against J'J");
        EXPECT(sym_eig(A, (int)np, ev) == 0, "dsyev");
        EXPECT(ev[0] >= -1e-10 * fmax(1, ev[np - 1]), "PSD: smallest eigenvalue %.3g", ev[0]);
        float gn[2];
        run_probe(&f, &c, "gn_eig", 2, gn, NULL);
        for (int i = 0; i < 2; i++) EXPECT_REL(gn[i], ev[np - 1 - i], 1e-6);
        free(G);
        free(A);
        free(g0);
        free(g1);
        free(J);
        fixture_free(&f);
    }
}

/* A tanh network away from a minimum has negative Hessian eigenvalues; eig_min through the
 * trainer gives LAPACK's bottom k_min of the assembled H, ascending, and counts its products. */
static void test_eig_min_indefinite(void)
{
    for (int loss = EOS_LOSS_MSE; loss <= EOS_LOSS_XENT; loss++) {
        fixture f;
        fixture_make(&f, 1, 2, 10, (eos_loss_kind)loss);
        size_t np = f.np;
        double *H = malloc(np * np * sizeof *H), ev[128];
        assemble(f.m, f.w, &f.d.train, eos_model_hvp, H);
        EXPECT(sym_eig(H, (int)np, ev) == 0, "dsyev");
        EXPECT(ev[0] < -1e-3 * ev[np - 1], "indefinite: %.3g .. %.3g", ev[0], ev[np - 1]);
        eos_config c = f.cfg;
        c.sharpness.k_min = 3;
        float lo[3];
        int with = 0, without = 0;
        run_probe(&f, &c, "eig_min", 3, lo, &with);
        for (int i = 0; i < 3; i++)
            EXPECT(fabs(lo[i] - ev[i]) <= 1e-6 * fabs(ev[i]) + 1e-9 * ev[np - 1],
                   "eig_min[%d] = %.10g, LAPACK %.10g", i, lo[i], ev[i]);
        EXPECT(lo[0] <= lo[1] && lo[1] <= lo[2], "ascending");
        c.sharpness.k_min = 0;
        run_probe(&f, &c, NULL, 0, NULL, &without);
        EXPECT(with > without, "eig_min products counted in hvps: %d with, %d without", with,
               without);
        free(H);
        fixture_free(&f);
    }
}

/* The keys: ranges, the parameter count, and the architecture's Gauss-Newton product. */
static void test_gn_keys(void)
{
    eos_config c;
    eos_config_default(&c);
    EXPECT(eos_config_set(&c, "data.source", "teacher-student") == 0, "%s", eos_error_msg());
    c.data.dim = 2;
    c.model.n_hidden = 0; /* 2 weights + 1 bias */
    const char *key = NULL;
    EXPECT(eos_config_set(&c, "sharpness.k_min", "3") == 0, "%s", eos_error_msg());
    EXPECT(eos_config_set(&c, "sharpness.gauss_newton", "true") == 0, "%s", eos_error_msg());
    EXPECT(eos_config_validate(&c, &key, NULL) == 0, "%s", eos_error_msg());
    c.sharpness.k_min = 4;
    EXPECT(eos_config_validate(&c, &key, NULL) == EOS_ERR_CONFIG && key &&
               !strcmp(key, "sharpness.k_min"),
           "k_min > parameters refused: %s", key ? key : "(none)");
    c.sharpness.k_min = EOS_K_MIN_MAX + 1;
    EXPECT(eos_config_validate(&c, &key, NULL) == EOS_ERR_CONFIG && key &&
               !strcmp(key, "sharpness.k_min"),
           "k_min out of range refused: %s", key ? key : "(none)");
    for (int a = 0; eos_model_arch_name(a); a++) {
        eos_model_cfg mc = c.model;
        mc.arch = a;
        EXPECT(eos_model_has_gnvp(&mc), "%s has a Gauss-Newton product", eos_model_arch_name(a));
    }
}

/* The product's bits do not depend on the thread count (fixed-order reductions) for the
 * MLP (70 examples: three row blocks); a model whose ops lack gnvp refuses with a line naming
 * the key. */
static void test_gn_threads_and_missing_op(void)
{
    fixture f;
    fixture_make(&f, 2, 3, 70, EOS_LOSS_XENT);
    real *v = malloc(f.np * sizeof(real)), *a = calloc(f.np, sizeof(real)),
         *b = calloc(f.np, sizeof(real));
    for (size_t i = 0; i < f.np; i++) v[i] = (real)sin(1.0 + (double)i);
    const eos_dataset *tr = &f.d.train;
    int nt = omp_get_max_threads();
    omp_set_num_threads(1);
    EXPECT(eos_model_gnvp(f.m, f.w, tr->X, tr->Y, NULL, tr->n, 1.0 / tr->n, v, a) == 0, "1 thread");
    omp_set_num_threads(2);
    EXPECT(eos_model_gnvp(f.m, f.w, tr->X, tr->Y, NULL, tr->n, 1.0 / tr->n, v, b) == 0, "2 threads");
    omp_set_num_threads(nt);
    EXPECT(memcmp(a, b, f.np * sizeof(real)) == 0, "1 and 2 threads give the same bits");
    eos_model_ops no_gn = *f.m->ops; /* an architecture without the operation */
    no_gn.gnvp = NULL;
    const eos_model_ops *own = f.m->ops;
    f.m->ops = &no_gn;
    EXPECT(eos_model_gnvp(f.m, f.w, tr->X, tr->Y, NULL, tr->n, 1.0, v, a) == EOS_ERR_CONFIG &&
               strstr(eos_error_msg(), "sharpness.gauss_newton") &&
               !strchr(eos_error_msg(), '\n'),
           "refused: %s", eos_error_msg());
    f.m->ops = own;
    free(v);
    free(a);
    free(b);
    fixture_free(&f);
}

/* The overlap probe's oracle: H assembled at w_0 and its eigenvectors by LAPACK (each oriented
 * as the probe documents: entry of largest magnitude positive), g the full-batch gradient, the
 * GD update -lr g; on a linear model (a quadratic loss) and on a tanh network, one output so
 * the top eigenvalues are simple. */
static void test_overlap_closed_form(void)
{
    for (int hidden = 0; hidden <= 1; hidden++) {
        fixture f;
        fixture_make(&f, hidden, 1, 12, EOS_LOSS_MSE);
        const size_t np = f.np;
        const int k = 3;
        double *H = malloc(np * np * sizeof *H), ev[64];
        real *g = calloc(np, sizeof(real));
        assemble(f.m, f.w, &f.d.train, eos_model_hvp, H);
        EXPECT(sym_eig_jobz("V", H, (int)np, ev) == 0, "dsyev");
        double loss = 0;
        EXPECT(eos_model_loss_grad(f.m, f.w, f.d.train.X, f.d.train.Y, NULL, f.d.train.n,
                                   1.0 / f.d.train.n, &loss, NULL, g) == 0, "grad");
        double gn = 0, want[3], want_update = 0;
        for (size_t r = 0; r < np; r++) gn += (double)g[r] * g[r];
        gn = sqrt(gn);
        for (int i = 0; i < k; i++) {
            double *u = H + (np - 1 - (size_t)i) * np, dot = 0;
            size_t arg = 0;
            for (size_t r = 1; r < np; r++) arg = fabs(u[r]) > fabs(u[arg]) ? r : arg;
            const double sign = u[arg] < 0 ? -1 : 1;
            for (size_t r = 0; r < np; r++) dot += sign * u[r] * g[r];
            want[i] = dot / gn;
            if (i == 0) want_update = -f.cfg.train.lr * dot;
        }
        EXPECT(ev[np - 1] > ev[np - 2] * (1 + 1e-3) && ev[np - 2] > ev[np - 3] * (1 + 1e-3),
               "simple top eigenvalues: %.6g %.6g %.6g", ev[np - 1], ev[np - 2], ev[np - 3]);
        eos_config c = f.cfg;
        c.sharpness.overlap = 1;
        float got[4]; /* the probe's row: grad_overlap [k], then update_top */
        int with = 0, without = 0;
        run_probe(&f, &c, "overlap", k + 1, got, &with);
        for (int i = 0; i < k; i++)
            EXPECT(fabs(got[i] - want[i]) <= 1e-6, "%s: grad_overlap[%d] = %.9f, closed form %.9f",
                   hidden ? "tanh" : "linear", i, got[i], want[i]);
        EXPECT_REL(got[k], want_update, 1e-6);
        EXPECT(fabs(want[0]) > 1e-3, "a test that can fail: the overlap is not 0 (%.3g)", want[0]);
        c.sharpness.overlap = 0;
        run_probe(&f, &c, NULL, 0, NULL, &without);
        EXPECT(with > without, "overlap products counted in hvps: %d with, %d without", with,
               without);
        free(H);
        free(g);
        fixture_free(&f);
    }
}

/* The layers tile the parameters; each layer's top eigenvalue through the trainer is LAPACK's
 * top of that diagonal block of the assembled H (both losses, three outputs, so the output
 * layer's block has every eigenvalue three times); under MSE the output layer's block is
 * I_k (x) A'A/n, A = [a_2, 1] the last hidden activations from a forward pass written here. */
static void test_layer_eig_blocks(void)
{
    for (int loss = EOS_LOSS_MSE; loss <= EOS_LOSS_XENT; loss++) {
        fixture f;
        fixture_make(&f, 2, 3, 10, (eos_loss_kind)loss);
        const size_t np = f.np;
        eos_param_group g[8];
        const int L = eos_model_groups(&f.cfg.model, f.m, g, 8);
        EXPECT(L == 3, "3 layers, got %d", L);
        size_t next = 0;
        for (int l = 0; l < L; l++) {
            EXPECT(g[l].off == next && g[l].len > 0, "layer %d at %zu, want %zu", l, g[l].off,
                   next);
            next = g[l].off + g[l].len;
        }
        EXPECT(next == np, "the layers cover %zu of %zu parameters", next, np);
        double *H = malloc(np * np * sizeof *H), *B = malloc(np * np * sizeof *B), ev[128];
        assemble(f.m, f.w, &f.d.train, eos_model_hvp, H);
        eos_config c = f.cfg;
        c.sharpness.per_layer = 1;
        float got[3];
        run_probe(&f, &c, "layer_eig", 3, got, NULL);
        for (int l = 0; l < L; l++) {
            const size_t n = g[l].len, o = g[l].off;
            for (size_t a = 0; a < n; a++)
                for (size_t b = 0; b < n; b++) B[a * n + b] = H[(o + a) * np + o + b];
            EXPECT(sym_eig(B, (int)n, ev) == 0, "dsyev");
            EXPECT(fabs(got[l] - ev[n - 1]) <= 1e-6 * fabs(ev[n - 1]),
                   "%s: layer_eig[%d] = %.10g, LAPACK on its block %.10g", loss ? "xent" : "mse",
                   l, got[l], ev[n - 1]);
        }
        if (loss == EOS_LOSS_MSE) {
            /* fc1: W [4, 3], b [4]; fc2: W [4, 4], b [4]; fc3: W [3, 4], b [3] */
            const eos_dataset *tr = &f.d.train;
            const real *w = f.w;
            double C[25] = {0};
            for (int i = 0; i < tr->n; i++) {
                double a1[4], a2[5];
                for (int o = 0; o < 4; o++) {
                    double z = w[12 + o];
                    for (int j = 0; j < 3; j++) z += w[o * 3 + j] * tr->X[(size_t)i * 3 + j];
                    a1[o] = tanh(z);
                }
                for (int o = 0; o < 4; o++) {
                    double z = w[16 + 16 + o];
                    for (int j = 0; j < 4; j++) z += w[16 + o * 4 + j] * a1[j];
                    a2[o] = tanh(z);
                }
                a2[4] = 1;
                for (int r = 0; r < 5; r++)
                    for (int s2 = 0; s2 < 5; s2++) C[r * 5 + s2] += a2[r] * a2[s2] / tr->n;
            }
            /* entry (W[o, r], W[o', s]) of the block is delta_oo' C[r, s]; b[o] is input 4 */
            const size_t o3 = g[2].off;
            double d = 0;
            for (int oa = 0; oa < 3; oa++)
                for (int ra = 0; ra < 5; ra++)
                    for (int ob = 0; ob < 3; ob++)
                        for (int rb = 0; rb < 5; rb++) {
                            size_t ia = o3 + (ra < 4 ? (size_t)(oa * 4 + ra) : 12 + (size_t)oa);
                            size_t ib = o3 + (rb < 4 ? (size_t)(ob * 4 + rb) : 12 + (size_t)ob);
                            double want = oa == ob ? C[ra * 5 + rb] : 0;
                            d = fmax(d, fabs(H[ia * np + ib] - want));
                        }
            EXPECT(d <= 1e-10, "output block against I (x) A'A/n: max difference %.3g", d);
            EXPECT(sym_eig(C, 5, ev) == 0, "dsyev");
            EXPECT_REL(got[2], ev[4], 1e-6);
        }
        free(H);
        free(B);
        fixture_free(&f);
    }
}

/* Mini-batch Hessians: all 15 batches of 2 of 6 examples enumerated, lambda_max of each by
 * LAPACK on its assembled H_B; the probe's Monte Carlo mean (400 batches at batch_tol 1e-4)
 * is within 4 standard errors of their exact mean, which exceeds the full Hessian's top
 * eigenvalue (lambda_max is convex and H is the mean of the H_B: Jensen). */
static void test_batch_hessian_enumerated(void)
{
    fixture f;
    fixture_make(&f, 1, 2, 6, EOS_LOSS_MSE);
    const size_t np = f.np;
    double *H = malloc(np * np * sizeof *H), ev[64], s = 0, s2 = 0;
    int nb = 0;
    for (int a = 0; a < 6; a++)
        for (int b = a + 1; b < 6; b++) {
            const int idx[2] = {a, b};
            assemble_on(f.m, f.w, &f.d.train, idx, 2, eos_model_hvp, H);
            EXPECT(sym_eig(H, (int)np, ev) == 0, "dsyev");
            s += ev[np - 1];
            s2 += ev[np - 1] * ev[np - 1];
            nb++;
        }
    const double mean = s / nb, sd = sqrt(fmax(s2 / nb - mean * mean, 0));
    assemble(f.m, f.w, &f.d.train, eos_model_hvp, H);
    EXPECT(sym_eig(H, (int)np, ev) == 0, "dsyev");
    EXPECT(mean > ev[np - 1] * (1 + 1e-3), "E lambda_max(H_B) %.6g > lambda_max(H) %.6g", mean,
           ev[np - 1]);
    eos_config c = f.cfg;
    EXPECT(eos_config_set(&c, "train.optimizer", "sgd") == 0, "%s", eos_error_msg());
    c.train.batch_size = 2;
    c.sharpness.batch_hessian = 1;
    c.sharpness.batch_tol = 1e-4; /* never reached: all 400 batches */
    c.sharpness.tol = 1e-8;
    float got[1];
    int hvps = 0;
    run_probe(&f, &c, "batch_hess", 1, got, &hvps);
    EXPECT(fabs(got[0] - mean) <= 4 * sd / sqrt(400.0), "batch_hess %.6g, exact mean %.6g (sd %.3g)",
           got[0], mean, sd);
    EXPECT(hvps >= 400, "one solve per batch: %d products", hvps);
    /* full-batch runs do not measure it */
    c.train.batch_size = 0;
    EXPECT(eos_config_set(&c, "train.optimizer", "gd") == 0, "%s", eos_error_msg());
    run_probe(&f, &c, "batch_hess", 1, got, NULL);
    EXPECT(isnan(got[0]), "full batch: NaN, got %g", got[0]);
    free(H);
    fixture_free(&f);
}

/* The probes' values of one measurement at w on a context of c with optimizer o. */
static float measure_on_context(const fixture *f, const eos_config *c, eos_optim *o, int batch,
                                const char *name)
{
    eos_curv_ctx cx;
    eos_curv_traj t;
    memset(&t, 0, sizeof t);
    EXPECT(eos_curv_setup(&cx, c, f->m, &f->d.train, f->d.train.n, batch, o) == 0, "setup: %s",
           eos_error_msg());
    size_t n = eos_curv_traj_layout(&t, c, 1, NULL);
    float *vals = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) vals[i] = NAN;
    int32_t hvps = 0;
    eos_curv_traj_layout(&t, c, 1, vals);
    t.hvps = &hvps;
    EXPECT(eos_curv_measure(&cx, f->w, &t, 0) == 0, "measure: %s", eos_error_msg());
    float v = t.vals[eos_curv_find(name)][0];
    free(vals);
    eos_curv_free(&cx);
    return v;
}

/* Momentum batch sharpness E_B[s' H_B s / s' g_B], s = mu v + g_B: all 15 batches of 2 of 6
 * examples enumerated (g_B exact, H_B s by the assembled H_B), for a velocity v of the optimizer
 * set by hand; the probe's 400-batch mean is within 4 standard errors of the exact mean, and
 * with v = 0 the exact mean is batch sharpness's. Only optimizers with a velocity have it. */
static void test_batch_sharpness_momentum(void)
{
    fixture f;
    fixture_make(&f, 1, 2, 6, EOS_LOSS_MSE);
    const size_t np = f.np;
    eos_config c = f.cfg;
    EXPECT(eos_config_set(&c, "train.optimizer", "momentum") == 0, "%s", eos_error_msg());
    c.train.batch_size = 2;
    c.train.momentum = 0.9;
    c.sharpness.k = 1;
    c.sharpness.batch_momentum = 1;
    c.sharpness.batch_tol = 1e-4; /* never reached: all 400 batches */
    eos_optim o;
    EXPECT(eos_optim_init(&o, &c.train, np) == 0, "optim");
    eos_rng r;
    eos_rng_init(&r, 5, 77);
    for (int with_v = 0; with_v <= 1; with_v++) {
        for (size_t i = 0; i < np; i++) o.state[i] = with_v ? (real)(0.3 * eos_rng_normal(&r)) : 0;
        double *H = malloc(np * np * sizeof *H), s_ = 0, s2 = 0, bs = 0;
        real *g = calloc(np, sizeof(real));
        double *s = malloc(np * sizeof *s);
        for (int a = 0; a < 6; a++)
            for (int b = a + 1; b < 6; b++) {
                const int idx[2] = {a, b};
                double loss = 0, sg = 0, shs = 0, gg = 0, ghg = 0;
                memset(g, 0, np * sizeof(real));
                EXPECT(eos_model_loss_grad(f.m, f.w, f.d.train.X, f.d.train.Y, idx, 2, 0.5, &loss,
                                           NULL, g) == 0, "grad");
                assemble_on(f.m, f.w, &f.d.train, idx, 2, eos_model_hvp, H);
                for (size_t i = 0; i < np; i++) s[i] = 0.9 * o.state[i] + g[i];
                for (size_t i = 0; i < np; i++) {
                    double hs = 0, hg = 0;
                    for (size_t j = 0; j < np; j++) {
                        hs += H[i * np + j] * s[j];
                        hg += H[i * np + j] * g[j];
                    }
                    sg += s[i] * g[i];
                    shs += s[i] * hs;
                    gg += (double)g[i] * g[i];
                    ghg += g[i] * hg;
                }
                s_ += shs / sg;
                s2 += (shs / sg) * (shs / sg);
                bs += ghg / gg;
            }
        const double mean = s_ / 15, sd = sqrt(fmax(s2 / 15 - mean * mean, 0));
        if (!with_v) EXPECT_REL(mean, bs / 15, 1e-12);
        float got = measure_on_context(&f, &c, &o, 2, "batch_sharp_mom");
        EXPECT(fabs(got - mean) <= 4 * sd / sqrt(400.0) + 1e-9 * fabs(mean),
               "v %s: batch_sharp_mom %.6g, exact mean %.6g (sd %.3g)", with_v ? "random" : "0",
               got, mean, sd);
        free(H);
        free(g);
        free(s);
    }
    eos_optim_free(&o);
    /* plain SGD has no velocity: refused by validation, naming the key, and not measured */
    EXPECT(eos_config_set(&c, "train.optimizer", "sgd") == 0, "%s", eos_error_msg());
    const char *key = NULL;
    EXPECT(eos_config_validate(&c, &key, NULL) == EOS_ERR_CONFIG && key &&
               !strcmp(key, "sharpness.batch_momentum"),
           "sgd refused with its key (%s)", key ? key : "none");
    EXPECT(eos_optim_init(&o, &c.train, np) == 0, "optim");
    EXPECT(isnan(measure_on_context(&f, &c, &o, 2, "batch_sharp_mom")), "sgd: NaN");
    eos_optim_free(&o);
    fixture_free(&f);
}

/* The linear transformer's layers (attn1..attnL: W_PV and W_KQ together, or sparse p and B) tile
 * its parameters, and each one's top eigenvalue through the trainer is LAPACK's top of that
 * diagonal block of the assembled Hessian (full and sparse). */
static void test_layer_eig_linear_transformer(void)
{
    for (int sparse = 0; sparse <= 1; sparse++) {
        fixture f;
        memset(&f, 0, sizeof f);
        eos_config *c = &f.cfg;
        eos_config_default(c);
        EXPECT(eos_config_set(c, "data.source", "icl-regression") == 0, "%s", eos_error_msg());
        EXPECT(eos_config_set(c, "model.arch", "linear-transformer") == 0, "%s",
               eos_error_msg());
        c->seed = 4;
        c->data.dim = 3;
        c->data.n_context = 5;
        c->data.n_train = 8;
        c->model.layers = 2;
        c->model.sparse = sparse;
        c->train.max_steps = 1;
        c->train.record_every = 1;
        c->train.lr = 1e-6;
        c->sharpness.every = 1;
        c->sharpness.k = 1;
        c->sharpness.tol = 1e-10;
        c->sharpness.precond = 0;
        c->sharpness.per_layer = 1;
        EXPECT(eos_config_validate(c, NULL, NULL) == 0, "%s", eos_error_msg());
        EXPECT(eos_data_load(&f.d, c) == 0, "load: %s", eos_error_msg());
        const eos_dataset *tr = &f.d.train;
        EXPECT(eos_model_create(&f.m, &c->model, c->loss, &tr->shape, 1, 4) == 0, "%s",
               eos_error_msg());
        f.np = eos_model_nparams(f.m);
        f.w = calloc(f.np, sizeof(real));
        eos_rng r;
        eos_rng_init(&r, c->seed, EOS_RNG_STREAM_INIT);
        eos_model_init(f.m, f.w, &r);
        const size_t np = f.np, per = sparse ? 3 * 3 + 1 : 2 * 4 * 4;
        eos_param_group g[4];
        EXPECT(eos_model_groups(&c->model, f.m, g, 4) == 2, "2 layers");
        for (int l = 0; l < 2; l++)
            EXPECT(g[l].off == l * per && g[l].len == per && g[l].name[4] == '1' + l,
                   "%s at %zu, %zu long", g[l].name, g[l].off, g[l].len);
        EXPECT(2 * per == np, "the layers cover %zu of %zu parameters", 2 * per, np);
        double *H = malloc(np * np * sizeof *H), *B = malloc(np * np * sizeof *B), ev[128];
        assemble(f.m, f.w, tr, eos_model_hvp, H);
        float got[2];
        run_probe(&f, c, "layer_eig", 2, got, NULL);
        for (int l = 0; l < 2; l++) {
            const size_t n = g[l].len, o = g[l].off;
            for (size_t a = 0; a < n; a++)
                for (size_t b = 0; b < n; b++) B[a * n + b] = H[(o + a) * np + o + b];
            EXPECT(sym_eig(B, (int)n, ev) == 0, "dsyev");
            EXPECT(fabs(got[l] - ev[n - 1]) <= 1e-6 * fabs(ev[n - 1]),
                   "%s: layer_eig[%d] = %.10g, LAPACK on its block %.10g",
                   sparse ? "sparse" : "full", l, got[l], ev[n - 1]);
        }
        free(H);
        free(B);
        fixture_free(&f);
    }
}

int main(void)
{
    TEST_RUN(test_gn_equals_hessian_linear);
    TEST_RUN(test_gn_against_assembled);
    TEST_RUN(test_gn_chunked);
    TEST_RUN(test_gn_linear_transformer);
    TEST_RUN(test_eig_min_indefinite);
    TEST_RUN(test_gn_keys);
    TEST_RUN(test_gn_threads_and_missing_op);
    TEST_RUN(test_overlap_closed_form);
    TEST_RUN(test_layer_eig_blocks);
    TEST_RUN(test_layer_eig_linear_transformer);
    TEST_RUN(test_batch_hessian_enumerated);
    TEST_RUN(test_batch_sharpness_momentum);
    return TEST_SUMMARY();
}
