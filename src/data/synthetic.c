/* synthetic.c: regression data drawn from the seed: data.source synthetic-linear (Gaussian linear
 * regression) and teacher-student (a random tanh MLP teacher). All draws come in a fixed order
 * from the seed's streams (EOS_RNG_STREAM_DATA for the training set and the ground truth,
 * EOS_RNG_STREAM_TEST for the test set). */
#include "data_impl.h"

#include <math.h>
#include <stdlib.h>

#define TEACHER_HIDDEN_MAX 1024

static void fill_normal(eos_rng *r, real *x, size_t n)
{
    for (size_t k = 0; k < n; k++) x[k] = (real)eos_rng_normal(r);
}

/* Draw order: X (row-major), then one noise draw per target; y = X w + noise * N(0,1). */
static void linear_fill(eos_dataset *ds, const double *w, double noise, eos_rng *r)
{
    int d = ds->d;
    fill_normal(r, ds->X, (size_t)ds->n * d);
    for (int i = 0; i < ds->n; i++) {
        const real *x = ds->X + (size_t)i * d;
        double y = 0.0;
        for (int j = 0; j < d; j++) y += (double)x[j] * w[j];
        ds->Y[i] = (real)(y + noise * eos_rng_normal(r));
    }
}

/* Draw order: X, then the noise of every target; the tanh teacher is then added. */
static void teacher_fill(eos_dataset *ds, const double *W1, const double *W2, int h, double noise,
                         eos_rng *r)
{
    int d = ds->d, m = ds->n_out;
    fill_normal(r, ds->X, (size_t)ds->n * d);
    for (size_t k = 0; k < (size_t)ds->n * m; k++) ds->Y[k] = (real)(noise * eos_rng_normal(r));
    /* examples are independent and each is computed in a fixed order: split examples over threads */
#pragma omp parallel for schedule(static)
    for (int i = 0; i < ds->n; i++) {
        double hv[TEACHER_HIDDEN_MAX]; /* teacher_hidden is checked by the caller */
        const real *x = ds->X + (size_t)i * d;
        for (int a = 0; a < h; a++) {
            double s = 0.0;
            for (int j = 0; j < d; j++) s += W1[(size_t)a * d + j] * (double)x[j];
            hv[a] = tanh(s);
        }
        for (int o = 0; o < m; o++) {
            double s = 0.0;
            for (int a = 0; a < h; a++) s += W2[(size_t)o * h + a] * hv[a];
            ds->Y[(size_t)i * m + o] = (real)(s + (double)ds->Y[(size_t)i * m + o]);
        }
    }
}

/* ---------------------------------------------------------------------------------------------
 * synthetic-linear: y = x'w + noise, x, w ~ N(0, I_dim) */

static int linear_check(const eos_config *cfg, eos_data_info *info, const char **key)
{
    int rc = 0;
    EOS_TRY(eos_data_check_drawn(cfg, "synthetic-linear", key));
    info->shape = (eos_shape){EOS_LAYOUT_FLAT, {cfg->data.dim}};
    info->n_out = 1;
fail:
    return rc;
}

static int linear_load(eos_data *data, const eos_config *cfg)
{
    int rc = 0;
    const eos_data_cfg *dc = &cfg->data;
    double *w = NULL;
    eos_rng r;
    EOS_ALLOC(w, dc->dim);
    eos_rng_init(&r, cfg->seed, EOS_RNG_STREAM_DATA);
    for (int j = 0; j < dc->dim; j++) w[j] = eos_rng_normal(&r);
    EOS_TRY(eos_data_ds_alloc(&data->train, dc->n_train, dc->dim, 1, 0));
    linear_fill(&data->train, w, dc->noise, &r);
    if (dc->n_test > 0) {
        eos_rng_init(&r, cfg->seed, EOS_RNG_STREAM_TEST);
        EOS_TRY(eos_data_ds_alloc(&data->test, dc->n_test, dc->dim, 1, 0));
        linear_fill(&data->test, w, dc->noise, &r);
    }
fail:
    free(w);
    return rc;
}

const eos_data_source eos_data_source_synthetic_linear = {
    .name = "synthetic-linear",
    .regression = 1,
    .normalise = 1,
    .check = linear_check,
    .load = linear_load,
};

/* ---------------------------------------------------------------------------------------------
 * teacher-student: y = W2 tanh(W1 x) + noise, x ~ N(0, I_dim), W1 [teacher_hidden, dim] and
 * W2 [n_out, teacher_hidden] Gaussian with variance 1/fan-in */

static int teacher_check(const eos_config *cfg, eos_data_info *info, const char **key)
{
    int rc = 0;
    const eos_data_cfg *dc = &cfg->data;
    EOS_TRY(eos_data_check_drawn(cfg, "teacher-student", key));
    if (dc->teacher_hidden < 1 || dc->teacher_hidden > TEACHER_HIDDEN_MAX)
        EOS_FAIL_KEY("data.teacher_hidden", "data.teacher_hidden: must be in 1..%d, got %d",
                     TEACHER_HIDDEN_MAX, dc->teacher_hidden);
    if (dc->n_out < 1)
        EOS_FAIL_KEY("data.n_out", "data.n_out: must be >= 1 for data.source teacher-student "
                     "(got %d)", dc->n_out);
    info->shape = (eos_shape){EOS_LAYOUT_FLAT, {dc->dim}};
    info->n_out = dc->n_out;
fail:
    return rc;
}

static int teacher_load(eos_data *data, const eos_config *cfg)
{
    int rc = 0;
    const eos_data_cfg *dc = &cfg->data;
    double *W1 = NULL, *W2 = NULL;
    int h = dc->teacher_hidden, m = dc->n_out;
    eos_rng r;
    EOS_ALLOC(W1, (size_t)h * dc->dim);
    EOS_ALLOC(W2, (size_t)m * h);
    eos_rng_init(&r, cfg->seed, EOS_RNG_STREAM_DATA);
    for (size_t k = 0; k < (size_t)h * dc->dim; k++) W1[k] = eos_rng_normal(&r) / sqrt((double)dc->dim);
    for (size_t k = 0; k < (size_t)m * h; k++) W2[k] = eos_rng_normal(&r) / sqrt((double)h);
    EOS_TRY(eos_data_ds_alloc(&data->train, dc->n_train, dc->dim, m, 0));
    teacher_fill(&data->train, W1, W2, h, dc->noise, &r);
    if (dc->n_test > 0) {
        eos_rng_init(&r, cfg->seed, EOS_RNG_STREAM_TEST);
        EOS_TRY(eos_data_ds_alloc(&data->test, dc->n_test, dc->dim, m, 0));
        teacher_fill(&data->test, W1, W2, h, dc->noise, &r);
    }
fail:
    free(W1);
    free(W2);
    return rc;
}

const eos_data_source eos_data_source_teacher_student = {
    .name = "teacher-student",
    .regression = 1,
    .normalise = 1,
    .check = teacher_check,
    .load = teacher_load,
};
