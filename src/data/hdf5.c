/* hdf5.c: data.source hdf5, data.path with datasets data.x (X [n, ...] of any numeric type) and
 * data.y (integer labels [n], or float targets [n] / [n, m]); the test set from data.test_path,
 * or else the rows after the training set. An X of rank 4 [n, C, H, W] gives images [C, H, W];
 * any other rank flat examples (the trailing dims flattened). */
#define _POSIX_C_SOURCE 200809L
#include "data_impl.h"

#include <hdf5.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* An integer "label" beyond this is certainly not a class index (one-hot would not fit anyway). */
#define MAX_CLASSES 1000000
#define H5_MAX_RANK 8

/* Like EOS_CHECK_H5, but the message names the file. */
#define DATA_CHECK_H5(call, path)                                                                  \
    do {                                                                                           \
        if ((long long)(call) < 0)                                                                 \
            EOS_FAIL(EOS_ERR_HDF5, "%s: HDF5 call failed: %s", (path), #call);                     \
    } while (0)

typedef struct {
    int n, d;
    eos_shape shape;   /* of the d features */
    int is_class;      /* y is integer */
    int n_out;         /* regression outputs */
    int max_label;
    real *X, *Y;
    int *lab;
} h5_part;

/* NaN or Inf in the data is bad input (else every run "diverges" at step 0); values too large for
 * float32 become Inf when read, and are refused the same way. */
static int check_finite(const real *x, int n, int width, int offset, const char *path,
                        const char *name)
{
    int rc = 0;
    for (size_t i = 0; i < (size_t)n * width; i++)
        if (!isfinite(x[i]))
            EOS_FAIL(EOS_ERR_FORMAT,
                     "%s: dataset '%s' holds a non-finite value (%g) at example %d, column %d%s",
                     path, name, (double)x[i], offset + (int)(i / width), (int)(i % width),
                     isnan(x[i]) ? "" : " (or a value beyond the " EOS_REAL_NAME " range)");
fail:
    return rc;
}

static void h5_part_free(h5_part *p)
{
    free(p->X);
    free(p->Y);
    free(p->lab);
    memset(p, 0, sizeof *p);
}

typedef struct {
    hid_t ds, space, type;
    int rank;
    hsize_t dims[H5_MAX_RANK];
    H5T_class_t cls;
} h5_var;

static void h5_var_close(h5_var *v)
{
    if (v->type >= 0) H5Tclose(v->type);
    if (v->space >= 0) H5Sclose(v->space);
    if (v->ds >= 0) H5Dclose(v->ds);
    v->ds = v->space = v->type = -1;
}

static int h5_var_open(hid_t f, const char *path, const char *name, const char *key, h5_var *v)
{
    int rc = 0;
    /* H5Lexists fails (< 0) when an intermediate group is missing: also "no such dataset" */
    EOS_CHECK(H5Lexists(f, name, H5P_DEFAULT) > 0, EOS_ERR_FORMAT, "%s: no dataset '%s' (%s)", path,
              name, key);
    v->ds = H5Dopen2(f, name, H5P_DEFAULT);
    EOS_CHECK(v->ds >= 0, EOS_ERR_FORMAT, "%s: '%s' (%s) is not a dataset", path, name, key);
    v->space = H5Dget_space(v->ds);
    DATA_CHECK_H5(v->space, path);
    v->rank = H5Sget_simple_extent_ndims(v->space);
    DATA_CHECK_H5(v->rank, path);
    EOS_CHECK(v->rank >= 1 && v->rank <= H5_MAX_RANK, EOS_ERR_FORMAT,
              "%s: dataset '%s' has rank %d, expected 1..%d with examples first", path, name,
              v->rank, H5_MAX_RANK);
    DATA_CHECK_H5(H5Sget_simple_extent_dims(v->space, v->dims, NULL), path);
    v->type = H5Dget_type(v->ds);
    DATA_CHECK_H5(v->type, path);
    v->cls = H5Tget_class(v->type);
    EOS_CHECK(v->cls == H5T_INTEGER || v->cls == H5T_FLOAT, EOS_ERR_FORMAT,
              "%s: dataset '%s' is not numeric (integer or float)", path, name);
    EOS_CHECK(v->dims[0] <= INT_MAX, EOS_ERR_FORMAT, "%s: dataset '%s' has too many examples",
              path, name);
    return 0;
fail:
    return rc;
}

/* Read rows [off, off+n) of v (all trailing dims) as memtype into buf. */
static int h5_var_rows(h5_var *v, const char *path, hsize_t off, hsize_t n, hid_t memtype, void *buf)
{
    int rc = 0;
    hid_t mem = -1;
    hsize_t start[H5_MAX_RANK] = {0}, count[H5_MAX_RANK];
    hsize_t total = n;
    start[0] = off;
    count[0] = n;
    for (int k = 1; k < v->rank; k++) {
        count[k] = v->dims[k];
        total *= v->dims[k];
    }
    DATA_CHECK_H5(H5Sselect_hyperslab(v->space, H5S_SELECT_SET, start, NULL, count, NULL), path);
    mem = H5Screate_simple(1, &total, NULL);
    DATA_CHECK_H5(mem, path);
    DATA_CHECK_H5(H5Dread(v->ds, memtype, mem, v->space, H5P_DEFAULT, buf), path);
fail:
    if (mem >= 0) H5Sclose(mem);
    return rc;
}

/* Rows [offset, offset + n) of path, n = n_want or (0) everything but the last `reserve`. */
static int h5_read(const char *path, const eos_data_cfg *dc, int offset, int n_want, int reserve,
                   const char *key, h5_part *p)
{
    int rc = 0;
    hid_t f = -1;
    h5_var vx = {-1, -1, -1, 0, {0}, H5T_NO_CLASS}, vy = vx;
    long long *lab = NULL;
    memset(p, 0, sizeof *p);

    EOS_TRY(eos_data_file_check(path));
    EOS_CHECK(H5Fis_hdf5(path) > 0, EOS_ERR_FORMAT, "%s: not an HDF5 file", path);
    f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    EOS_CHECK(f >= 0, EOS_ERR_IO, "%s: cannot open as HDF5", path);
    EOS_TRY(h5_var_open(f, path, dc->x, "data.x", &vx));
    EOS_TRY(h5_var_open(f, path, dc->y, "data.y", &vy));

    hsize_t d = 1;
    for (int k = 1; k < vx.rank; k++) d *= vx.dims[k];
    EOS_CHECK(d >= 1 && d <= INT_MAX / 4, EOS_ERR_FORMAT, "%s: dataset '%s' has %llu features per example",
              path, dc->x, (unsigned long long)d);
    EOS_CHECK(vx.dims[0] == vy.dims[0], EOS_ERR_FORMAT,
              "%s: dataset '%s' has %llu examples but '%s' has %llu", path, dc->x,
              (unsigned long long)vx.dims[0], dc->y, (unsigned long long)vy.dims[0]);
    p->is_class = vy.cls == H5T_INTEGER;
    if (p->is_class) {
        EOS_CHECK(vy.rank == 1, EOS_ERR_FORMAT,
                  "%s: integer labels '%s' have rank %d, expected 1 (one class per example)", path,
                  dc->y, vy.rank);
        p->n_out = 0;
    } else {
        EOS_CHECK(vy.rank <= 2 && (vy.rank == 1 || vy.dims[1] >= 1), EOS_ERR_FORMAT,
                  "%s: float targets '%s' have rank %d, expected 1 or 2", path, dc->y, vy.rank);
        EOS_CHECK(vy.rank == 1 || vy.dims[1] <= INT_MAX / 4, EOS_ERR_FORMAT,
                  "%s: float targets '%s' have too many columns", path, dc->y);
        p->n_out = vy.rank == 1 ? 1 : (int)vy.dims[1];
    }

    long long avail = (long long)vx.dims[0] - offset - reserve;
    if (reserve > 0)
        EOS_CHECK(avail >= (n_want > 0 ? n_want : 1), EOS_ERR_CONFIG,
                  "%s holds %llu examples, too few for data.n_train = %d and then data.n_test = %d",
                  path, (unsigned long long)vx.dims[0], n_want, reserve);
    else
        EOS_CHECK(avail >= (n_want > 0 ? n_want : 1), EOS_ERR_CONFIG,
                  "%s = %d but %s holds %lld examples%s", key, n_want, path,
                  (long long)vx.dims[0] - offset, offset ? " after the training examples" : "");
    p->n = n_want > 0 ? n_want : (int)avail;
    p->d = (int)d;
    p->shape = (eos_shape){.layout = EOS_LAYOUT_FLAT, .dim = {(int)d}};
    if (vx.rank == 4)
        p->shape = (eos_shape){EOS_LAYOUT_IMAGE, {(int)vx.dims[1], (int)vx.dims[2], (int)vx.dims[3]}};

    EOS_ALLOC(p->X, (size_t)p->n * d);
    EOS_TRY(h5_var_rows(&vx, path, (hsize_t)offset, (hsize_t)p->n,
                        sizeof(real) == sizeof(double) ? H5T_NATIVE_DOUBLE : H5T_NATIVE_FLOAT, p->X));
    EOS_TRY(check_finite(p->X, p->n, p->d, offset, path, dc->x));
    if (p->is_class) {
        EOS_ALLOC(lab, p->n);
        EOS_ALLOC(p->lab, p->n);
        EOS_TRY(h5_var_rows(&vy, path, (hsize_t)offset, (hsize_t)p->n, H5T_NATIVE_LLONG, lab));
        p->max_label = 0;
        for (int i = 0; i < p->n; i++) {
            EOS_CHECK(lab[i] >= 0 && lab[i] < MAX_CLASSES, EOS_ERR_FORMAT,
                      "%s: label %lld of example %d in '%s' is out of range (0..%d)", path, lab[i],
                      offset + i, dc->y, MAX_CLASSES - 1);
            p->lab[i] = (int)lab[i];
            if (p->lab[i] > p->max_label) p->max_label = p->lab[i];
        }
    } else {
        EOS_ALLOC(p->Y, (size_t)p->n * p->n_out);
        EOS_TRY(h5_var_rows(&vy, path, (hsize_t)offset, (hsize_t)p->n,
                            sizeof(real) == sizeof(double) ? H5T_NATIVE_DOUBLE : H5T_NATIVE_FLOAT,
                            p->Y));
        EOS_TRY(check_finite(p->Y, p->n, p->n_out, offset, path, dc->y));
    }
    free(lab);
    h5_var_close(&vx);
    h5_var_close(&vy);
    herr_t cerr = H5Fclose(f);
    f = -1;
    DATA_CHECK_H5(cerr, path);
    return 0;
fail:
    free(lab);
    h5_var_close(&vx);
    h5_var_close(&vy);
    if (f >= 0) H5Fclose(f);
    h5_part_free(p);
    return rc;
}

/* Move a part into a dataset; labels >= n_classes are an error naming path. */
static int h5_to_ds(eos_dataset *ds, h5_part *p, int n_classes, const char *path, const char *yname)
{
    int rc = 0;
    ds->n = p->n;
    ds->d = p->d;
    ds->shape = p->shape;
    ds->X = p->X;
    p->X = NULL;
    if (n_classes > 0) {
        for (int i = 0; i < p->n; i++)
            EOS_CHECK(p->lab[i] < n_classes, EOS_ERR_FORMAT,
                      "%s: label %d of example %d in '%s' is out of range (%d classes in the "
                      "training set)",
                      path, p->lab[i], i, yname, n_classes);
        ds->n_classes = ds->n_out = n_classes;
        ds->label = p->lab;
        p->lab = NULL;
        EOS_ALLOC(ds->Y, (size_t)ds->n * n_classes);
        eos_data_ds_one_hot(ds);
    } else {
        ds->n_out = p->n_out;
        ds->n_classes = 0;
        ds->Y = p->Y;
        p->Y = NULL;
    }
fail:
    return rc;
}

static int hdf5_load(eos_data *data, const eos_config *cfg)
{
    int rc = 0;
    const eos_data_cfg *dc = &cfg->data;
    h5_part tr = {0}, te = {0};
    H5E_auto2_t old_func = NULL;
    void *old_data = NULL;
    int restore = 0;
    /* checked when loading only, so that any configuration round-trips through its YAML */
    EOS_CHECK(dc->x[0] && dc->y[0], EOS_ERR_CONFIG,
              "data.x and data.y (HDF5 dataset names) must both be set");
    /* our one-line message replaces HDF5's own error-stack dump */
    if (H5Eget_auto2(H5E_DEFAULT, &old_func, &old_data) >= 0) restore = 1;
    EOS_CHECK_H5(H5Eset_auto2(H5E_DEFAULT, NULL, NULL));

    int same_file_test = dc->n_test > 0 && !dc->test_path[0];
    EOS_TRY(h5_read(dc->path, dc, 0, dc->n_train, same_file_test ? dc->n_test : 0, "data.n_train",
                    &tr));
    const char *tpath = dc->test_path[0] ? dc->test_path : dc->path;
    if (dc->n_test > 0) {
        EOS_TRY(h5_read(tpath, dc, same_file_test ? tr.n : 0, dc->n_test, 0, "data.n_test", &te));
        EOS_CHECK(te.d == tr.d, EOS_ERR_FORMAT,
                  "%s: test examples have %d features but the training examples have %d", tpath,
                  te.d, tr.d);
        EOS_CHECK(memcmp(&te.shape, &tr.shape, sizeof te.shape) == 0, EOS_ERR_FORMAT,
                  "%s: test examples '%s' have another shape than the training examples", tpath,
                  dc->x);
        EOS_CHECK(te.is_class == tr.is_class && (tr.is_class || te.n_out == tr.n_out),
                  EOS_ERR_FORMAT, "%s: test targets '%s' differ in type or shape from the training "
                  "targets", tpath, dc->y);
    }
    int n_classes = 0;
    if (tr.is_class) n_classes = tr.max_label + 1 > 2 ? tr.max_label + 1 : 2;
    EOS_TRY(h5_to_ds(&data->train, &tr, n_classes, dc->path, dc->y));
    if (dc->n_test > 0) EOS_TRY(h5_to_ds(&data->test, &te, n_classes, tpath, dc->y));
fail:
    h5_part_free(&tr);
    h5_part_free(&te);
    if (restore) H5Eset_auto2(H5E_DEFAULT, old_func, old_data);
    return rc;
}

static int hdf5_check(const eos_config *cfg, eos_data_info *info, const char **key)
{
    int rc = 0;
    (void)info; /* layout, sizes and the kind of targets: only the file tells */
    EOS_TRY(eos_data_need_key("data.path", cfg->data.path, "hdf5", key));
fail:
    return rc;
}

static int hdf5_check_files(const eos_config *cfg, const char **key)
{
    int rc = 0;
    const eos_data_cfg *dc = &cfg->data;
    EOS_TRY(eos_data_need_file("data.path", dc->path, 0, key));
    if (dc->n_test > 0 && dc->test_path[0])
        EOS_TRY(eos_data_need_file("data.test_path", dc->test_path, 0, key));
fail:
    return rc;
}

const eos_data_source eos_data_source_hdf5 = {
    .name = "hdf5",
    .needs_files = 1,
    .normalise = 1,
    .check = hdf5_check,
    .check_files = hdf5_check_files,
    .load = hdf5_load,
};
