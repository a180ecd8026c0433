/* separable.c: binary classification drawn from the seed, for the logistic loss: data.source
 * separable (two Gaussian half-spaces a margin apart, linearly separable through the origin) and
 * xor-clusters (the 4-cluster XOR data of Xu, Wang, Frei, Vardi, Hu 2023, "Benign overfitting and
 * grokking in ReLU networks for XOR cluster data"; not linearly separable).
 *
 * Both give one output: Y [n, 1] holds the label +1 or -1 and label[] the class, 1 for +1 and 0
 * for -1 (n_classes 2); accuracy is sign(f) == sign(y). data.label_noise flips exactly
 * round(label_noise * n_train) training labels, chosen uniformly; the test set is clean (it
 * measures the generating rule). Inputs are never centred or standardised (that would move the
 * margin). Draw order: EOS_RNG_STREAM_DATA gives the direction (separable: dim normals), then per
 * training example its draws (below), then the flips (a partial Fisher-Yates shuffle of the
 * indices with eos_rng_below); EOS_RNG_STREAM_TEST gives the test examples, drawn the same way. */
#include "data_impl.h"

#include <math.h>
#include <stdlib.h>

/* Configuration-time checks shared by both sources: one output, so xent has nothing to do. */
static int binary_check(const eos_config *cfg, eos_data_info *info, const char *source,
                        int min_dim, const char **key)
{
    int rc = 0;
    const eos_data_cfg *dc = &cfg->data;
    EOS_TRY(eos_data_check_drawn(cfg, source, key));
    if (dc->dim < min_dim)
        EOS_FAIL_KEY("data.dim", "data.dim: must be >= %d for data.source %s (got %d)", min_dim,
                     source, dc->dim);
    if (!(dc->margin >= 0 && isfinite(dc->margin)))
        EOS_FAIL_KEY("data.margin", "data.margin: must be finite and >= 0, got %g", dc->margin);
    if (!(dc->label_noise >= 0 && dc->label_noise <= 0.5))
        EOS_FAIL_KEY("data.label_noise", "data.label_noise: must be in [0, 0.5], got %g",
                     dc->label_noise);
    if (cfg->loss == EOS_LOSS_XENT)
        EOS_FAIL_KEY("loss", "loss: xent needs one output per class, but data.source %s gives one "
                     "+-1 target (use logistic or mse)", source);
    info->shape = (eos_shape){EOS_LAYOUT_FLAT, {dc->dim}};
    info->n_out = 1;
fail:
    return rc;
}

/* Y [n, 1] and label [n] from the signs y [n] (+1 or -1). */
static void set_labels(eos_dataset *ds, const double *y)
{
    for (int i = 0; i < ds->n; i++) {
        ds->Y[i] = (real)y[i];
        ds->label[i] = y[i] > 0;
    }
}

/* Flip exactly round(frac * n) of the signs y [n], a uniform subset, from r. */
static int flip_labels(double *y, int n, double frac, eos_rng *r)
{
    int rc = 0, *idx = NULL;
    int nf = (int)lround(frac * n);
    if (nf == 0) return 0;
    EOS_ALLOC(idx, n);
    for (int i = 0; i < n; i++) idx[i] = i;
    for (int k = 0; k < nf; k++) { /* partial Fisher-Yates: idx[0..nf) is the subset */
        int j = k + (int)eos_rng_below(r, (uint64_t)(n - k));
        int t = idx[k];
        idx[k] = idx[j];
        idx[j] = t;
        y[idx[k]] = -y[idx[k]];
    }
fail:
    free(idx);
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * separable: u a uniform unit vector; per example y = +-1 (a fair coin, uniform < 0.5 is +1),
 * z ~ N(0, I_dim), xi ~ N(0, 1), and x = (z - (u'z) u) + y (margin + |xi|) u, so y u'x =
 * margin + |xi| >= margin: u separates with margin data.margin, and the classes are the two
 * halves of a standard Gaussian pushed apart by 2 margin along u. */

/* X [n, dim] and the signs y [n] from r; u [dim] the direction (separable), z [dim] work space. */
typedef void (*fill_fn)(eos_dataset *ds, const eos_data_cfg *dc, const double *u, double *z,
                        double *y, eos_rng *r);

static void separable_fill(eos_dataset *ds, const eos_data_cfg *dc, const double *u, double *z,
                           double *y, eos_rng *r)
{
    const int d = ds->d;
    for (int i = 0; i < ds->n; i++) {
        y[i] = eos_rng_uniform(r) < 0.5 ? 1.0 : -1.0;
        double uz = 0;
        for (int j = 0; j < d; j++) z[j] = eos_rng_normal(r), uz += u[j] * z[j];
        double t = y[i] * (dc->margin + fabs(eos_rng_normal(r)));
        for (int j = 0; j < d; j++) ds->X[(size_t)i * d + j] = (real)(z[j] + (t - uz) * u[j]);
    }
}

static int separable_check(const eos_config *cfg, eos_data_info *info, const char **key)
{
    return binary_check(cfg, info, "separable", 1, key);
}

/* ---------------------------------------------------------------------------------------------
 * xor-clusters: means +-mu_1 (label +1) and +-mu_2 (label -1), mu_1 = margin e_1 and
 * mu_2 = margin e_2 (the first two coordinates); per example the cluster c (uniform in 0..3: mu_1,
 * -mu_1, mu_2, -mu_2), then xi ~ N(0, I_dim), and x = mu_c + xi. */

static void xor_fill(eos_dataset *ds, const eos_data_cfg *dc, const double *u, double *z,
                     double *y, eos_rng *r)
{
    const int d = ds->d;
    (void)u, (void)z;
    for (int i = 0; i < ds->n; i++) {
        int c = (int)eos_rng_below(r, 4);
        real *x = ds->X + (size_t)i * d;
        for (int j = 0; j < d; j++) x[j] = (real)eos_rng_normal(r);
        x[c / 2] += (real)(c % 2 ? -dc->margin : dc->margin);
        y[i] = c < 2 ? 1.0 : -1.0;
    }
}

static int xor_check(const eos_config *cfg, eos_data_info *info, const char **key)
{
    return binary_check(cfg, info, "xor-clusters", 2, key);
}

/* ---------------------------------------------------------------------------------------------
 * Both sources: the direction (separable only), the training set and its flips, the test set. */

static int binary_load(eos_data *data, const eos_config *cfg, fill_fn fill, int has_direction)
{
    int rc = 0;
    const eos_data_cfg *dc = &cfg->data;
    double *u = NULL, *y = NULL;
    int nmax = dc->n_train > dc->n_test ? dc->n_train : dc->n_test;
    eos_rng r;
    EOS_ALLOC(u, 2 * (size_t)dc->dim); /* u, then z */
    EOS_ALLOC(y, nmax);
    eos_rng_init(&r, cfg->seed, EOS_RNG_STREAM_DATA);
    if (has_direction) {
        double nu = 0;
        for (int j = 0; j < dc->dim; j++) u[j] = eos_rng_normal(&r), nu += u[j] * u[j];
        for (int j = 0; j < dc->dim; j++) u[j] /= sqrt(nu);
    }
    EOS_TRY(eos_data_ds_alloc(&data->train, dc->n_train, dc->dim, 1, 2));
    fill(&data->train, dc, u, u + dc->dim, y, &r);
    EOS_TRY(flip_labels(y, dc->n_train, dc->label_noise, &r));
    set_labels(&data->train, y);
    if (dc->n_test > 0) {
        eos_rng_init(&r, cfg->seed, EOS_RNG_STREAM_TEST);
        EOS_TRY(eos_data_ds_alloc(&data->test, dc->n_test, dc->dim, 1, 2));
        fill(&data->test, dc, u, u + dc->dim, y, &r);
        set_labels(&data->test, y);
    }
fail:
    free(u);
    free(y);
    return rc;
}

static int separable_load(eos_data *data, const eos_config *cfg)
{
    return binary_load(data, cfg, separable_fill, 1);
}

static int xor_load(eos_data *data, const eos_config *cfg)
{
    return binary_load(data, cfg, xor_fill, 0);
}

const eos_data_source eos_data_source_separable = {
    .name = "separable",
    .check = separable_check,
    .load = separable_load,
};

const eos_data_source eos_data_source_xor_clusters = {
    .name = "xor-clusters",
    .check = xor_check,
    .load = xor_load,
};
