/* in_context.c: data.source icl-regression, in-context linear regression prompts (the linear
 * transformer's data; docs/linear-transformer.md). A prompt is n_context tokens (x_i, y_i) and the
 * query (x_q, 0), x in R^dim, y = w'x + noise with a fresh w ~ N(0, I) per prompt: tokens
 * [n_context + 1, dim + 1] per row of X, and the query's y in Y. With data.online the trainer
 * draws fresh prompts every step (the fixed pool stays the set losses are measured on). */
#include "data_impl.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>

static int icl_check(const eos_config *cfg, eos_data_info *info, const char **key)
{
    int rc = 0;
    const eos_data_cfg *dc = &cfg->data;
    EOS_TRY(eos_data_check_drawn(cfg, "icl-regression", key));
    if (dc->n_context < 1)
        EOS_FAIL_KEY("data.n_context", "data.n_context: must be >= 1 for data.source "
                     "icl-regression (got %d)", dc->n_context);
    if (!(dc->sigma_decay > 0 && isfinite(dc->sigma_decay)))
        EOS_FAIL_KEY("data.sigma_decay", "data.sigma_decay: must be > 0, got %g", dc->sigma_decay);
    if ((double)(dc->n_context + 1) * (dc->dim + 1) > INT_MAX / 4)
        EOS_FAIL_KEY("data.n_context", "data.n_context: %d with data.dim = %d makes prompts too "
                     "large", dc->n_context, dc->dim);
    info->shape = (eos_shape){EOS_LAYOUT_TOKENS, {dc->n_context + 1, dc->dim + 1}};
    info->n_out = 1;
fail:
    return rc;
}

/* Per prompt: w (dim draws), then per token x (dim draws, x_j ~ N(0, sigma_decay^j)) and its
 * noise draw; the query is the last token, its y moves to Y and its slot is 0. */
static int icl_draw(eos_dataset *ds, const eos_config *cfg, eos_rng *rng)
{
    int rc = 0;
    const eos_data_cfg *dc = &cfg->data;
    double *w = NULL, *sd = NULL;
    eos_data_info info;
    const char *key;
    EOS_TRY(icl_check(cfg, &info, &key));
    int dim = dc->dim, T = dc->n_context + 1, row = dim + 1;
    EOS_CHECK(ds->X && ds->Y && ds->d == T * row && ds->n_out == 1, EOS_ERR_INTERNAL,
              "icl-regression: dataset (d %d, n_out %d) was not allocated for prompts of %d x %d",
              ds->d, ds->n_out, T, row);
    EOS_ALLOC(w, dim);
    EOS_ALLOC(sd, dim);
    for (int j = 0; j < dim; j++) sd[j] = pow(dc->sigma_decay, 0.5 * j);
    for (int i = 0; i < ds->n; i++) {
        real *Z = ds->X + (size_t)i * ds->d;
        for (int j = 0; j < dim; j++) w[j] = eos_rng_normal(rng);
        for (int t = 0; t < T; t++) {
            real *z = Z + (size_t)t * row;
            double y = 0.0;
            for (int j = 0; j < dim; j++) {
                z[j] = (real)(sd[j] * eos_rng_normal(rng));
                y += w[j] * (double)z[j];
            }
            y += dc->noise * eos_rng_normal(rng);
            if (t < T - 1) {
                z[dim] = (real)y;
            } else {
                z[dim] = 0;
                ds->Y[i] = (real)y;
            }
        }
    }
fail:
    free(w);
    free(sd);
    return rc;
}

static int icl_load(eos_data *data, const eos_config *cfg)
{
    int rc = 0;
    const eos_data_cfg *dc = &cfg->data;
    eos_data_info info;
    const char *key;
    eos_rng r;
    EOS_TRY(icl_check(cfg, &info, &key));
    int d = (int)eos_shape_size(&info.shape);
    EOS_TRY(eos_data_ds_alloc(&data->train, dc->n_train, d, 1, 0));
    data->train.shape = info.shape;
    eos_rng_init(&r, cfg->seed, EOS_RNG_STREAM_DATA);
    EOS_TRY(icl_draw(&data->train, cfg, &r));
    if (dc->n_test > 0) {
        EOS_TRY(eos_data_ds_alloc(&data->test, dc->n_test, d, 1, 0));
        data->test.shape = info.shape;
        eos_rng_init(&r, cfg->seed, EOS_RNG_STREAM_TEST);
        EOS_TRY(icl_draw(&data->test, cfg, &r));
    }
fail:
    return rc;
}

const eos_data_source eos_data_source_icl_regression = {
    .name = "icl-regression",
    .regression = 1,
    .normalise = 0, /* prompts keep their structure (query slot 0, online redraws) */
    .check = icl_check,
    .load = icl_load,
    .draw = icl_draw,
};

