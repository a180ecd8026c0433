/* data.c: what every data source shares (allocation, file checks, normalisation) and the entry
 * points of include/eos_data.h, which dispatch through the source table (sources.c).
 *
 * Only the examples that are asked for are decoded (the first n of each file), so loading a few
 * thousand Fashion-MNIST images costs milliseconds. Every failure leaves one line naming the file
 * and what is wrong, and everything allocated so far is released. */
#define _POSIX_C_SOURCE 200809L
#include "data_impl.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------------------------------------------------------------------------------------------
 * Shapes */

static int shape_rank(eos_layout layout)
{
    switch (layout) {
    case EOS_LAYOUT_FLAT: return 1;
    case EOS_LAYOUT_TOKENS: return 2;
    case EOS_LAYOUT_IMAGE: return 3;
    default: return 0;
    }
}

long eos_shape_size(const eos_shape *s)
{
    int rank = shape_rank(s->layout);
    long size = rank > 0;
    for (int k = 0; k < rank; k++) size *= s->dim[k] > 0 ? s->dim[k] : 0;
    return size;
}

void eos_shape_text(const eos_shape *s, char *buf, size_t len)
{
    static const char *const names[] = {"", "flat", "image", "tokens"};
    int rank = shape_rank(s->layout);
    if (rank == 0) {
        snprintf(buf, len, "data of a layout the files give");
        return;
    }
    if (eos_shape_size(s) == 0) {
        snprintf(buf, len, "%s data of a size the files give", names[s->layout]);
        return;
    }
    size_t pos = (size_t)snprintf(buf, len, "%s [", names[s->layout]);
    for (int k = 0; k < rank && pos < len; k++)
        pos += (size_t)snprintf(buf + pos, len - pos, "%s%d", k ? ", " : "", s->dim[k]);
    if (pos < len) snprintf(buf + pos, len - pos, "]");
}

/* ---------------------------------------------------------------------------------------------
 * Datasets */

int eos_data_ds_alloc(eos_dataset *ds, int n, int d, int n_out, int n_classes)
{
    int rc = 0;
    ds->n = n;
    ds->d = d;
    ds->n_out = n_out;
    ds->n_classes = n_classes;
    ds->shape = (eos_shape){.layout = EOS_LAYOUT_FLAT, .dim = {d}};
    EOS_ALLOC(ds->X, (size_t)n * (size_t)d);
    EOS_ALLOC(ds->Y, (size_t)n * (size_t)n_out);
    if (n_classes > 0) EOS_ALLOC(ds->label, n);
    return 0;
fail:
    return rc;
}

static void ds_free(eos_dataset *ds)
{
    free(ds->X);
    free(ds->Y);
    free(ds->label);
    memset(ds, 0, sizeof *ds);
}

void eos_data_free(eos_data *data)
{
    if (!data) return;
    ds_free(&data->train);
    ds_free(&data->test);
}

void eos_data_ds_one_hot(eos_dataset *ds)
{
    memset(ds->Y, 0, (size_t)ds->n * (size_t)ds->n_out * sizeof(real));
    for (int i = 0; i < ds->n; i++) ds->Y[(size_t)i * ds->n_out + ds->label[i]] = 1;
}

/* ---------------------------------------------------------------------------------------------
 * Files and keys */

int eos_data_file_check(const char *path)
{
    int rc = 0;
    struct stat st;
    EOS_CHECK(stat(path, &st) == 0, EOS_ERR_IO, "%s: %s", path, strerror(errno));
    EOS_CHECK(S_ISREG(st.st_mode), EOS_ERR_IO, "%s: not a regular file", path);
    return 0;
fail:
    return rc;
}

int eos_data_need_file(const char *key, const char *path, int dir, const char **out)
{
    int rc = 0;
    if (access(path, dir ? R_OK | X_OK : R_OK) != 0) {
        *out = key;
        EOS_FAIL(EOS_ERR_IO, "%s: %s: %s", key, path, strerror(errno));
    }
fail:
    return rc;
}

int eos_data_need_key(const char *key, const char *value, const char *source, const char **out)
{
    int rc = 0;
    if (value[0] == '\0') {
        *out = key;
        EOS_FAIL(EOS_ERR_CONFIG, "%s: required for data.source %s", key, source);
    }
fail:
    return rc;
}

int eos_data_check_drawn(const eos_config *cfg, const char *source, const char **key)
{
    int rc = 0;
    const eos_data_cfg *d = &cfg->data;
    if (d->n_train < 1)
        EOS_FAIL_KEY("data.n_train", "data.n_train: must be >= 1 for data.source %s (got %d)",
                     source, d->n_train);
    if (d->dim < 1)
        EOS_FAIL_KEY("data.dim", "data.dim: must be >= 1 for data.source %s (got %d)", source,
                     d->dim);
    if (!(d->noise >= 0 && isfinite(d->noise)))
        EOS_FAIL_KEY("data.noise", "data.noise: must be finite and >= 0, got %g", d->noise);
fail:
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * Centring / standardisation with the training statistics (population std, as numpy's std). */

#define STAT_BLOCK 64

/* Per image channel (per_channel): one mean and std over all the training examples' pixels of
 * each channel, summed in index order per channel, spread to the channel's features. */
static void channel_stats(const eos_dataset *tr, int scale, double *mean, double *sd)
{
    const int n = tr->n, d = tr->d, C = tr->shape.dim[0], hw = d / C;
    const double cnt = (double)n * hw;
#pragma omp parallel for schedule(static) /* one channel per iteration */
    for (int c = 0; c < C; c++) {
        double m = 0, v = 0;
        for (int i = 0; i < n; i++)
            for (int p = 0; p < hw; p++) m += tr->X[(size_t)i * d + (size_t)c * hw + p];
        m /= cnt;
        for (int i = 0; scale && i < n; i++)
            for (int p = 0; p < hw; p++) {
                double e = tr->X[(size_t)i * d + (size_t)c * hw + p] - m;
                v += e * e;
            }
        double s = sqrt(v / cnt);
        if (!(s > 0)) s = 1.0; /* constant channel: centre only */
        for (int p = 0; p < hw; p++) mean[(size_t)c * hw + p] = m, sd[(size_t)c * hw + p] = s;
    }
}

static int normalise(eos_data *data, int scale, int per_channel)
{
    int rc = 0;
    eos_dataset *tr = &data->train;
    int n = tr->n, d = tr->d;
    double *mean = NULL, *sd = NULL;
    EOS_CHECK(!per_channel || tr->shape.layout == EOS_LAYOUT_IMAGE, EOS_ERR_CONFIG,
              "data.normalize_per: channel needs image data, but the file gives %s",
              tr->shape.layout == EOS_LAYOUT_TOKENS ? "tokens" : "flat features");
    EOS_ALLOC(mean, d);
    EOS_ALLOC(sd, d);
    if (per_channel) channel_stats(tr, scale, mean, sd);
    int nblk = per_channel ? 0 : (d + STAT_BLOCK - 1) / STAT_BLOCK;
    /* each thread owns whole feature blocks and sums their rows in index order, so the statistics
     * do not depend on the thread count */
#pragma omp parallel for schedule(static)
    for (int b = 0; b < nblk; b++) {
        int j0 = b * STAT_BLOCK, j1 = j0 + STAT_BLOCK < d ? j0 + STAT_BLOCK : d;
        for (int i = 0; i < n; i++) {
            const real *x = tr->X + (size_t)i * d;
            for (int j = j0; j < j1; j++) mean[j] += x[j];
        }
        for (int j = j0; j < j1; j++) mean[j] /= n;
        if (!scale) continue;
        for (int i = 0; i < n; i++) {
            const real *x = tr->X + (size_t)i * d;
            for (int j = j0; j < j1; j++) {
                double c = x[j] - mean[j];
                sd[j] += c * c;
            }
        }
        for (int j = j0; j < j1; j++) {
            sd[j] = sqrt(sd[j] / n);
            if (!(sd[j] > 0)) sd[j] = 1.0; /* constant feature: centre only */
        }
    }
    eos_dataset *sets[2] = {&data->train, &data->test};
    for (int s = 0; s < 2; s++) {
        eos_dataset *ds = sets[s];
        /* elementwise: rows split over threads */
#pragma omp parallel for schedule(static)
        for (int i = 0; i < ds->n; i++) {
            real *x = ds->X + (size_t)i * d;
            for (int j = 0; j < d; j++)
                x[j] = (real)(scale ? (x[j] - mean[j]) / sd[j] : x[j] - mean[j]);
        }
    }
fail:
    free(mean);
    free(sd);
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * Entry points */

int eos_data_check(const eos_config *cfg, eos_data_info *info, const char **key)
{
    int rc = 0;
    const eos_data_cfg *d = &cfg->data;
    const eos_data_source *src = eos_data_source_of(cfg);
    memset(info, 0, sizeof *info);
    info->n_train = -1;
    if (!src) EOS_FAIL_KEY("data.source", "data.source: %d is not a known source", d->source);
    if (d->n_train < 0)
        EOS_FAIL_KEY("data.n_train", "data.n_train: must be >= 0, got %d", d->n_train);
    if (d->n_test < 0) EOS_FAIL_KEY("data.n_test", "data.n_test: must be >= 0, got %d", d->n_test);
    EOS_TRY(src->check(cfg, info, key));
    info->regression = src->regression;
    if (src->n_train_max > 0 && d->n_train > src->n_train_max)
        EOS_FAIL_KEY("data.n_train", "data.n_train: %s has %d training examples, got %d",
                     src->name, src->n_train_max, d->n_train);
    if (src->n_test_max > 0 && d->n_test > src->n_test_max)
        EOS_FAIL_KEY("data.n_test", "data.n_test: %s has %d test examples, got %d", src->name,
                     src->n_test_max, d->n_test);
    info->n_train = d->n_train > 0 ? d->n_train : src->n_train_max > 0 ? src->n_train_max : -1;
    if (d->online && !src->draw)
        EOS_FAIL_KEY("data.online", "data.online: data.source %s has a fixed set of examples (it "
                     "cannot draw fresh ones)", src->name);
fail:
    return rc;
}

/* The assumption of eos_data_estimate for what only the files tell (documented in eos_data.h). */
#define GUESS_SIDE 28 /* an MNIST image, 1 x 28 x 28 */
#define GUESS_OUTPUTS 10
#define GUESS_N_TRAIN 60000

int eos_data_estimate(const eos_config *cfg, eos_data_info *info)
{
    const char *key;
    int rc = eos_data_check(cfg, info, &key);
    if (rc) return rc;
    if (eos_shape_size(&info->shape) == 0)
        info->shape = info->shape.layout == EOS_LAYOUT_FLAT
                          ? (eos_shape){EOS_LAYOUT_FLAT, {GUESS_SIDE * GUESS_SIDE}}
                          : (eos_shape){EOS_LAYOUT_IMAGE, {1, GUESS_SIDE, GUESS_SIDE}};
    if (info->n_out <= 0) info->n_out = GUESS_OUTPUTS;
    if (info->n_train < 0) info->n_train = GUESS_N_TRAIN;
    return 0;
}

int eos_data_needs_files(const eos_config *cfg)
{
    const eos_data_source *src = eos_data_source_of(cfg);
    return src && src->needs_files;
}

int eos_data_check_files(const eos_config *cfg, const char **key)
{
    const eos_data_source *src = eos_data_source_of(cfg);
    return src && src->check_files ? src->check_files(cfg, key) : 0;
}

int eos_data_load(eos_data *data, const eos_config *cfg)
{
    int rc = 0;
    const eos_data_cfg *dc = &cfg->data;
    const eos_data_source *src = eos_data_source_of(cfg);
    eos_data_info info;
    const char *key;
    memset(data, 0, sizeof *data);
    EOS_CHECK(dc->n_train >= 0, EOS_ERR_CONFIG, "data.n_train = %d must be >= 0", dc->n_train);
    EOS_CHECK(dc->n_test >= 0, EOS_ERR_CONFIG, "data.n_test = %d must be >= 0", dc->n_test);
    EOS_CHECK(src, EOS_ERR_CONFIG, "data.source = %d is not a known source", dc->source);
    EOS_TRY(src->check(cfg, &info, &key));
    EOS_TRY(src->load(data, cfg));
    if (src->normalise && (dc->center || dc->standardize))
        EOS_TRY(normalise(data, dc->standardize, dc->normalize_per == EOS_NORM_CHANNEL));
    return 0;
fail:
    eos_data_free(data);
    return rc;
}

int eos_data_same(const eos_config *a, const eos_config *b)
{
    const eos_data_cfg *x = &a->data, *y = &b->data;
    if (x->source != y->source) return 0;
    /* data drawn from the seed differ with it */
    if (!eos_data_needs_files(a) && a->seed != b->seed) return 0;
    /* standardize implies center */
    int cx = x->center || x->standardize, cy = y->center || y->standardize;
    return strcmp(x->path, y->path) == 0 && strcmp(x->labels, y->labels) == 0 &&
           strcmp(x->test_path, y->test_path) == 0 && strcmp(x->test_labels, y->test_labels) == 0 &&
           strcmp(x->x, y->x) == 0 && strcmp(x->y, y->y) == 0 && x->n_train == y->n_train &&
           x->n_test == y->n_test && cx == cy && !x->standardize == !y->standardize &&
           (!cx || x->normalize_per == y->normalize_per) &&
           x->dim == y->dim && x->n_out == y->n_out && x->teacher_hidden == y->teacher_hidden &&
           x->noise == y->noise && x->n_context == y->n_context && x->online == y->online &&
           x->sigma_decay == y->sigma_decay && x->margin == y->margin &&
           x->label_noise == y->label_noise;
}

int eos_data_online(const eos_config *cfg)
{
    const eos_data_source *src = eos_data_source_of(cfg);
    return src && src->draw && cfg->data.online;
}

int eos_data_draw(eos_dataset *ds, const eos_config *cfg, eos_rng *rng)
{
    int rc = 0;
    const eos_data_source *src = eos_data_source_of(cfg);
    EOS_CHECK(src && src->draw, EOS_ERR_INTERNAL, "eos_data_draw: data.source %s draws no fresh "
              "examples", src ? src->name : "?");
    EOS_TRY(src->draw(ds, cfg, rng));
fail:
    return rc;
}
