/* data.c: load the training/test sets (IDX, CIFAR-10 binary, HDF5) or synthesise them from the seed.
 *
 * Only the examples that are asked for are decoded (the first n of each file), so loading a few
 * thousand Fashion-MNIST images costs milliseconds. Every failure leaves one line naming the file
 * and what is wrong, and everything allocated so far is released. */
#define _POSIX_C_SOURCE 200809L
#include "eos_data.h"

#include <errno.h>
#include <hdf5.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"
#define FASHION_CLASSES 10
#define CIFAR_D 3072
#define CIFAR_REC (CIFAR_D + 1)
#define CIFAR_BATCHES 5
/* An integer "label" beyond this is certainly not a class index (one-hot would not fit anyway). */
#define MAX_CLASSES 1000000
#define H5_MAX_RANK 8

/* ---------------------------------------------------------------------------------------------
 * Datasets */

static int ds_alloc(eos_dataset *ds, int n, int d, int n_out, int n_classes)
{
    int rc = 0;
    ds->n = n;
    ds->d = d;
    ds->n_out = n_out;
    ds->n_classes = n_classes;
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

/* Set label[] and the one-hot rows of Y; labels were range-checked by the caller. */
static void ds_one_hot(eos_dataset *ds)
{
    memset(ds->Y, 0, (size_t)ds->n * (size_t)ds->n_out * sizeof(real));
    for (int i = 0; i < ds->n; i++) ds->Y[(size_t)i * ds->n_out + ds->label[i]] = 1;
}

/* ---------------------------------------------------------------------------------------------
 * Files: gzipped or raw, read through zlib (gzread passes non-gzip files through unchanged). */

static int file_check(const char *path)
{
    int rc = 0;
    struct stat st;
    EOS_CHECK(stat(path, &st) == 0, EOS_ERR_IO, "%s: %s", path, strerror(errno));
    EOS_CHECK(S_ISREG(st.st_mode), EOS_ERR_IO, "%s: not a regular file", path);
    return 0;
fail:
    return rc;
}

typedef struct {
    gzFile f;
    const char *path;
} zin;

static int zin_open(zin *z, const char *path)
{
    int rc = 0;
    z->f = NULL;
    z->path = path;
    EOS_TRY(file_check(path));
    errno = 0;
    z->f = gzopen(path, "rb");
    EOS_CHECK(z->f, EOS_ERR_IO, "%s: cannot open: %s", path, errno ? strerror(errno) : "out of memory");
    gzbuffer(z->f, 1 << 17); /* fewer, larger reads of the compressed stream */
    return 0;
fail:
    return rc;
}

static void zin_close(zin *z)
{
    if (z->f) gzclose(z->f);
    z->f = NULL;
}

/* Read up to len bytes into buf; *got says how many arrived. A short count means the file (or
 * gzip stream) ended early, which the caller reports with what it expected; a corrupt stream or
 * an OS read error is reported here. */
static int zin_read(zin *z, void *buf, size_t len, size_t *got)
{
    int rc = 0;
    size_t done = 0;
    *got = 0;
    while (done < len) {
        size_t chunk = len - done > (1u << 30) ? (1u << 30) : len - done;
        int r = gzread(z->f, (unsigned char *)buf + done, (unsigned)chunk);
        if (r > 0) {
            done += (size_t)r;
            continue;
        }
        int errnum = Z_OK;
        const char *msg = gzerror(z->f, &errnum);
        if (errnum == Z_ERRNO) EOS_FAIL(EOS_ERR_IO, "%s: read error: %s", z->path, strerror(errno));
        /* Z_BUF_ERROR is zlib's "unexpected end of file": a truncated gzip stream */
        if (errnum != Z_OK && errnum != Z_BUF_ERROR) {
            size_t lp = strlen(z->path); /* zlib prefixes its message with "path: " */
            if (strncmp(msg, z->path, lp) == 0 && msg[lp] == ':') msg += lp + (msg[lp + 1] == ' ' ? 2 : 1);
            EOS_FAIL(EOS_ERR_FORMAT, "%s: corrupt gzip data: %s", z->path, msg);
        }
        break;
    }
    *got = done;
    return 0;
fail:
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * IDX (LeCun's MNIST format): magic 0x0000 0x08 rank, then rank big-endian 32-bit sizes. */

typedef struct {
    int rank;
    int dims[4];
} idx_hdr;

static int idx_header(zin *z, int rank_min, int rank_max, const char *what, idx_hdr *h)
{
    int rc = 0;
    unsigned char b[16];
    size_t got;
    EOS_TRY(zin_read(z, b, 4, &got));
    EOS_CHECK(got == 4, EOS_ERR_FORMAT, "%s: not an IDX file: only %zu bytes", z->path, got);
    EOS_CHECK(b[0] == 0 && b[1] == 0 && b[2] == 0x08 && b[3] >= rank_min && b[3] <= rank_max,
              EOS_ERR_FORMAT,
              "%s: not an IDX %s file: magic 0x%02x%02x%02x%02x, expected 0x000008%02x (unsigned bytes, "
              "rank %d)",
              z->path, what, b[0], b[1], b[2], b[3], rank_min, rank_min);
    h->rank = b[3];
    EOS_TRY(zin_read(z, b, 4 * (size_t)h->rank, &got));
    EOS_CHECK(got == 4 * (size_t)h->rank, EOS_ERR_FORMAT, "%s: truncated: the IDX header ends early",
              z->path);
    for (int k = 0; k < h->rank; k++) {
        uint32_t v = ((uint32_t)b[4 * k] << 24) | ((uint32_t)b[4 * k + 1] << 16) |
                     ((uint32_t)b[4 * k + 2] << 8) | (uint32_t)b[4 * k + 3];
        EOS_CHECK(v <= INT_MAX && (k == 0 || v > 0), EOS_ERR_FORMAT,
                  "%s: IDX header has dimension %d of size %u", z->path, k, v);
        h->dims[k] = (int)v;
    }
    return 0;
fail:
    return rc;
}

/* Read the first n_want (0 = all) images and labels of an IDX pair. *pix holds n*d bytes. */
static int idx_load(const char *img_path, const char *lab_path, int n_want, const char *key,
                    unsigned char **pix, unsigned char **lab, int *n_out, int *d_out)
{
    int rc = 0;
    zin zi = {0}, zl = {0};
    idx_hdr hi, hl;
    char shape[64] = "";
    size_t got;
    *pix = NULL;
    *lab = NULL;

    EOS_TRY(zin_open(&zi, img_path));
    EOS_TRY(idx_header(&zi, 3, 4, "images", &hi));
    EOS_TRY(zin_open(&zl, lab_path));
    EOS_TRY(idx_header(&zl, 1, 1, "labels", &hl));
    EOS_CHECK(hi.dims[0] == hl.dims[0], EOS_ERR_FORMAT, "%s: holds %d labels but %s holds %d images",
              lab_path, hl.dims[0], img_path, hi.dims[0]);
    int n_avail = hi.dims[0];
    EOS_CHECK(n_want <= n_avail, EOS_ERR_CONFIG, "%s = %d but %s holds %d examples", key, n_want,
              lab_path, n_avail);
    int n = n_want > 0 ? n_want : n_avail;
    EOS_CHECK(n > 0, EOS_ERR_FORMAT, "%s: holds no examples", img_path);

    size_t d = 1;
    for (int k = 1; k < hi.rank; k++) {
        d *= (size_t)hi.dims[k];
        size_t len = strlen(shape);
        snprintf(shape + len, sizeof shape - len, "%s%d", k > 1 ? "x" : "", hi.dims[k]);
    }
    EOS_CHECK(d <= INT_MAX / 4 && (size_t)n * d / d == (size_t)n, EOS_ERR_FORMAT,
              "%s: images of %s are too large", img_path, shape);

    EOS_ALLOC(*pix, (size_t)n * d);
    EOS_TRY(zin_read(&zi, *pix, (size_t)n * d, &got));
    EOS_CHECK(got == (size_t)n * d, EOS_ERR_FORMAT,
              "%s: truncated: header says %d images of %s, file ends after %zu", img_path, n_avail,
              shape, got / d);
    EOS_ALLOC(*lab, n);
    EOS_TRY(zin_read(&zl, *lab, (size_t)n, &got));
    EOS_CHECK(got == (size_t)n, EOS_ERR_FORMAT,
              "%s: truncated: header says %d labels, file ends after %zu", lab_path, n_avail, got);
    *n_out = n;
    *d_out = (int)d;
    zin_close(&zi);
    zin_close(&zl);
    return 0;
fail:
    zin_close(&zi);
    zin_close(&zl);
    free(*pix);
    free(*lab);
    *pix = NULL;
    *lab = NULL;
    return rc;
}

/* Pixels / 255 and one-hot labels; a label >= n_classes is an error naming lab_path. */
static int ds_from_bytes(eos_dataset *ds, const unsigned char *pix, const unsigned char *lab, int n,
                         int d, int n_classes, const char *lab_path)
{
    int rc = 0;
    for (int i = 0; i < n; i++)
        EOS_CHECK(lab[i] < n_classes, EOS_ERR_FORMAT,
                  "%s: label %d of example %d is out of range (%d classes)", lab_path, lab[i], i,
                  n_classes);
    EOS_TRY(ds_alloc(ds, n, d, n_classes, n_classes));
    size_t nd = (size_t)n * (size_t)d;
    for (size_t k = 0; k < nd; k++) ds->X[k] = (real)(pix[k] / 255.0);
    for (int i = 0; i < n; i++) ds->label[i] = lab[i];
    ds_one_hot(ds);
    return 0;
fail:
    return rc;
}

/* dir/name.gz if it exists, else dir/name (unpacked copies), else the .gz name (for the error). */
static void find_idx(char *buf, size_t len, const char *dir, const char *name)
{
    struct stat st;
    snprintf(buf, len, "%s/%s", dir, name);
    if (stat(buf, &st) == 0) return;
    snprintf(buf, len, "%s/%s.gz", dir, name);
}

/* One IDX pair into ds. n_classes > 0: fixed class count; 0: max label + 1 (at least 2). */
static int load_idx_pair(eos_dataset *ds, const char *img, const char *lab, int n_want,
                         const char *key, int n_classes, int d_expect)
{
    int rc = 0;
    unsigned char *pix = NULL, *lb = NULL;
    int n = 0, d = 0;
    EOS_TRY(idx_load(img, lab, n_want, key, &pix, &lb, &n, &d));
    EOS_CHECK(d_expect == 0 || d == d_expect, EOS_ERR_FORMAT,
              "%s: images have %d pixels but the training images have %d", img, d, d_expect);
    if (n_classes == 0) {
        int mx = 1;
        for (int i = 0; i < n; i++) mx = lb[i] > mx ? lb[i] : mx;
        n_classes = mx + 1;
    }
    EOS_TRY(ds_from_bytes(ds, pix, lb, n, d, n_classes, lab));
fail:
    free(pix);
    free(lb);
    return rc;
}

static int load_fashion(eos_data *data, const eos_data_cfg *dc)
{
    int rc = 0;
    const char *dir = dc->path[0] ? dc->path : FASHION_DIR;
    char img[EOS_PATH_MAX + 64], lab[EOS_PATH_MAX + 64];
    find_idx(img, sizeof img, dir, "train-images-idx3-ubyte");
    find_idx(lab, sizeof lab, dir, "train-labels-idx1-ubyte");
    EOS_TRY(load_idx_pair(&data->train, img, lab, dc->n_train, "data.n_train", FASHION_CLASSES, 0));
    if (dc->n_test > 0) {
        find_idx(img, sizeof img, dir, "t10k-images-idx3-ubyte");
        find_idx(lab, sizeof lab, dir, "t10k-labels-idx1-ubyte");
        EOS_TRY(load_idx_pair(&data->test, img, lab, dc->n_test, "data.n_test", FASHION_CLASSES,
                              data->train.d));
    }
fail:
    return rc;
}

static int load_mnist_idx(eos_data *data, const eos_data_cfg *dc)
{
    int rc = 0;
    EOS_CHECK(dc->path[0], EOS_ERR_CONFIG, "data.path (IDX images file) is not set");
    EOS_CHECK(dc->labels[0], EOS_ERR_CONFIG, "data.labels (IDX labels file) is not set");
    EOS_TRY(load_idx_pair(&data->train, dc->path, dc->labels, dc->n_train, "data.n_train", 0, 0));
    if (dc->n_test > 0) {
        EOS_CHECK(dc->test_path[0] && dc->test_labels[0], EOS_ERR_CONFIG,
                  "data.n_test = %d needs data.test_path and data.test_labels (IDX files)",
                  dc->n_test);
        EOS_TRY(load_idx_pair(&data->test, dc->test_path, dc->test_labels, dc->n_test,
                              "data.n_test", data->train.n_classes, data->train.d));
    }
fail:
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * CIFAR-10 binary: records of 1 label byte + 3072 pixel bytes (channel-major 32x32). */

static int cifar_count(const char *path, int *count)
{
    int rc = 0;
    struct stat st;
    EOS_TRY(file_check(path));
    EOS_CHECK(stat(path, &st) == 0, EOS_ERR_IO, "%s: %s", path, strerror(errno));
    EOS_CHECK(st.st_size % CIFAR_REC == 0, EOS_ERR_FORMAT,
              "%s: truncated or not CIFAR-10 binary: %lld bytes is not a whole number of "
              "%d-byte records",
              path, (long long)st.st_size, CIFAR_REC);
    EOS_CHECK(st.st_size / CIFAR_REC <= INT_MAX, EOS_ERR_FORMAT, "%s: too large", path);
    *count = (int)(st.st_size / CIFAR_REC);
    return 0;
fail:
    return rc;
}

/* Read the first n records of path into rows row0.. of ds (already allocated). */
static int cifar_read(eos_dataset *ds, int row0, const char *path, int n)
{
    int rc = 0;
    unsigned char rec[CIFAR_REC];
    FILE *f = fopen(path, "rb");
    EOS_CHECK(f, EOS_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    for (int i = 0; i < n; i++) {
        size_t got = fread(rec, 1, CIFAR_REC, f);
        EOS_CHECK(!ferror(f), EOS_ERR_IO, "%s: read error: %s", path, strerror(errno));
        EOS_CHECK(got == CIFAR_REC, EOS_ERR_FORMAT,
                  "%s: truncated: file ends after %d records, %d needed", path, i, n);
        EOS_CHECK(rec[0] < FASHION_CLASSES, EOS_ERR_FORMAT,
                  "%s: label %d of record %d is out of range (CIFAR-10 labels are 0..9)", path,
                  rec[0], i);
        real *x = ds->X + (size_t)(row0 + i) * CIFAR_D;
        for (int k = 0; k < CIFAR_D; k++) x[k] = (real)(rec[1 + k] / 255.0);
        ds->label[row0 + i] = rec[0];
    }
fail:
    if (f) fclose(f);
    return rc;
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int load_cifar(eos_data *data, const eos_data_cfg *dc)
{
    int rc = 0;
    char files[CIFAR_BATCHES][EOS_PATH_MAX + 32];
    int counts[CIFAR_BATCHES], n_files = 0, total = 0;
    EOS_CHECK(dc->path[0], EOS_ERR_CONFIG,
              "data.path (CIFAR-10 binary directory or .bin file) is not set");
    int dir = is_dir(dc->path);
    if (dir) {
        /* only the batch files needed for n_train must exist */
        for (int b = 0; b < CIFAR_BATCHES && (dc->n_train == 0 || total < dc->n_train); b++) {
            snprintf(files[n_files], sizeof files[0], "%s/data_batch_%d.bin", dc->path, b + 1);
            EOS_TRY(cifar_count(files[n_files], &counts[n_files]));
            total += counts[n_files++];
        }
    } else {
        snprintf(files[0], sizeof files[0], "%s", dc->path);
        EOS_TRY(cifar_count(files[0], &counts[0]));
        total = counts[n_files++];
    }
    EOS_CHECK(dc->n_train <= total, EOS_ERR_CONFIG, "data.n_train = %d but %s holds %d examples",
              dc->n_train, dc->path, total);
    int n = dc->n_train > 0 ? dc->n_train : total;
    EOS_CHECK(n > 0, EOS_ERR_FORMAT, "%s: holds no examples", dc->path);
    EOS_TRY(ds_alloc(&data->train, n, CIFAR_D, FASHION_CLASSES, FASHION_CLASSES));
    for (int b = 0, row = 0; b < n_files && row < n; b++) {
        int take = n - row < counts[b] ? n - row : counts[b];
        EOS_TRY(cifar_read(&data->train, row, files[b], take));
        row += take;
    }
    ds_one_hot(&data->train);

    if (dc->n_test > 0) {
        char tpath[EOS_PATH_MAX + 32];
        int tcount = 0;
        if (dc->test_path[0])
            snprintf(tpath, sizeof tpath, "%s", dc->test_path);
        else if (dir)
            snprintf(tpath, sizeof tpath, "%s/test_batch.bin", dc->path);
        else
            EOS_FAIL(EOS_ERR_CONFIG,
                     "data.n_test = %d but data.path is a single file and data.test_path is not set",
                     dc->n_test);
        EOS_TRY(cifar_count(tpath, &tcount));
        EOS_CHECK(dc->n_test <= tcount, EOS_ERR_CONFIG, "data.n_test = %d but %s holds %d examples",
                  dc->n_test, tpath, tcount);
        EOS_TRY(ds_alloc(&data->test, dc->n_test, CIFAR_D, FASHION_CLASSES, FASHION_CLASSES));
        EOS_TRY(cifar_read(&data->test, 0, tpath, dc->n_test));
        ds_one_hot(&data->test);
    }
fail:
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * HDF5: X [n, ...] of any numeric type, y [n] integer labels or [n] / [n, m] float targets. */

/* Like EOS_CHECK_H5, but the message names the file. */
#define DATA_CHECK_H5(call, path)                                                                  \
    do {                                                                                           \
        if ((long long)(call) < 0)                                                                 \
            EOS_FAIL(EOS_ERR_HDF5, "%s: HDF5 call failed: %s", (path), #call);                     \
    } while (0)

typedef struct {
    int n, d;
    int is_class;      /* y is integer */
    int n_out;         /* regression outputs */
    int max_label;
    real *X, *Y;
    int *lab;
} h5_part;

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

    EOS_TRY(file_check(path));
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

    EOS_ALLOC(p->X, (size_t)p->n * d);
    EOS_TRY(h5_var_rows(&vx, path, (hsize_t)offset, (hsize_t)p->n,
                        sizeof(real) == sizeof(double) ? H5T_NATIVE_DOUBLE : H5T_NATIVE_FLOAT, p->X));
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
        ds_one_hot(ds);
    } else {
        ds->n_out = p->n_out;
        ds->n_classes = 0;
        ds->Y = p->Y;
        p->Y = NULL;
    }
fail:
    return rc;
}

static int load_hdf5(eos_data *data, const eos_data_cfg *dc)
{
    int rc = 0;
    h5_part tr = {0}, te = {0};
    H5E_auto2_t old_func = NULL;
    void *old_data = NULL;
    int restore = 0;
    EOS_CHECK(dc->path[0], EOS_ERR_CONFIG, "data.path (HDF5 file) is not set");
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

/* ---------------------------------------------------------------------------------------------
 * Synthetic sources (all draws in a fixed order from the seed's streams). */

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
        double hv[1024]; /* teacher_hidden <= 1024 is checked by the caller */
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

static int synth_check(const eos_config *cfg, const char *what)
{
    int rc = 0;
    const eos_data_cfg *dc = &cfg->data;
    EOS_CHECK(dc->n_train > 0, EOS_ERR_CONFIG, "data.n_train = %d: %s data needs n_train > 0",
              dc->n_train, what);
    EOS_CHECK(dc->dim > 0, EOS_ERR_CONFIG, "data.dim = %d: %s data needs dim > 0", dc->dim, what);
    EOS_CHECK(dc->noise >= 0 && isfinite(dc->noise), EOS_ERR_CONFIG,
              "data.noise = %g must be finite and >= 0", dc->noise);
    return 0;
fail:
    return rc;
}

static int load_linear(eos_data *data, const eos_config *cfg)
{
    int rc = 0;
    const eos_data_cfg *dc = &cfg->data;
    double *w = NULL;
    eos_rng r;
    EOS_TRY(synth_check(cfg, "synth_linear"));
    EOS_ALLOC(w, dc->dim);
    eos_rng_init(&r, cfg->seed, EOS_RNG_STREAM_DATA);
    for (int j = 0; j < dc->dim; j++) w[j] = eos_rng_normal(&r);
    EOS_TRY(ds_alloc(&data->train, dc->n_train, dc->dim, 1, 0));
    linear_fill(&data->train, w, dc->noise, &r);
    if (dc->n_test > 0) {
        eos_rng_init(&r, cfg->seed, EOS_RNG_STREAM_TEST);
        EOS_TRY(ds_alloc(&data->test, dc->n_test, dc->dim, 1, 0));
        linear_fill(&data->test, w, dc->noise, &r);
    }
fail:
    free(w);
    return rc;
}

static int load_teacher(eos_data *data, const eos_config *cfg)
{
    int rc = 0;
    const eos_data_cfg *dc = &cfg->data;
    double *W1 = NULL, *W2 = NULL;
    int h = dc->teacher_hidden, m = dc->n_out;
    eos_rng r;
    EOS_TRY(synth_check(cfg, "teacher"));
    EOS_CHECK(h > 0 && h <= 1024, EOS_ERR_CONFIG, "data.teacher_hidden = %d must be in 1..1024", h);
    EOS_CHECK(m > 0, EOS_ERR_CONFIG, "data.n_out = %d: teacher data needs n_out > 0", m);
    EOS_ALLOC(W1, (size_t)h * dc->dim);
    EOS_ALLOC(W2, (size_t)m * h);
    eos_rng_init(&r, cfg->seed, EOS_RNG_STREAM_DATA);
    for (size_t k = 0; k < (size_t)h * dc->dim; k++) W1[k] = eos_rng_normal(&r) / sqrt((double)dc->dim);
    for (size_t k = 0; k < (size_t)m * h; k++) W2[k] = eos_rng_normal(&r) / sqrt((double)h);
    EOS_TRY(ds_alloc(&data->train, dc->n_train, dc->dim, m, 0));
    teacher_fill(&data->train, W1, W2, h, dc->noise, &r);
    if (dc->n_test > 0) {
        eos_rng_init(&r, cfg->seed, EOS_RNG_STREAM_TEST);
        EOS_TRY(ds_alloc(&data->test, dc->n_test, dc->dim, m, 0));
        teacher_fill(&data->test, W1, W2, h, dc->noise, &r);
    }
fail:
    free(W1);
    free(W2);
    return rc;
}

static int icl_check(const eos_config *cfg)
{
    int rc = 0;
    const eos_data_cfg *dc = &cfg->data;
    EOS_CHECK(dc->dim > 0, EOS_ERR_CONFIG, "data.dim = %d: icl_regression needs dim > 0", dc->dim);
    EOS_CHECK(dc->n_context > 0, EOS_ERR_CONFIG,
              "data.n_context = %d: icl_regression needs n_context > 0", dc->n_context);
    EOS_CHECK(dc->sigma_decay > 0 && isfinite(dc->sigma_decay), EOS_ERR_CONFIG,
              "data.sigma_decay = %g must be > 0", dc->sigma_decay);
    EOS_CHECK(dc->noise >= 0 && isfinite(dc->noise), EOS_ERR_CONFIG,
              "data.noise = %g must be finite and >= 0", dc->noise);
    EOS_CHECK((double)(dc->n_context + 1) * (dc->dim + 1) <= INT_MAX / 4, EOS_ERR_CONFIG,
              "data.n_context = %d and data.dim = %d make prompts too large", dc->n_context, dc->dim);
    return 0;
fail:
    return rc;
}

/* Per prompt: w (dim draws), then per token x (dim draws, x_j ~ N(0, sigma_decay^j)) and its
 * noise draw; the query is the last token, its y moves to Y and its slot is 0. */
int eos_data_icl_draw(eos_dataset *ds, const eos_config *cfg, eos_rng *rng)
{
    int rc = 0;
    const eos_data_cfg *dc = &cfg->data;
    double *w = NULL, *sd = NULL;
    EOS_TRY(icl_check(cfg));
    int dim = dc->dim, T = dc->n_context + 1, row = dim + 1;
    EOS_CHECK(ds->X && ds->Y && ds->d == T * row && ds->n_out == 1, EOS_ERR_INTERNAL,
              "eos_data_icl_draw: dataset (d %d, n_out %d) was not allocated for prompts of %d x %d",
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

static int load_icl(eos_data *data, const eos_config *cfg)
{
    int rc = 0;
    const eos_data_cfg *dc = &cfg->data;
    eos_rng r;
    EOS_CHECK(dc->n_train > 0, EOS_ERR_CONFIG,
              "data.n_train = %d: icl_regression data needs n_train > 0", dc->n_train);
    EOS_TRY(icl_check(cfg));
    int d = (dc->n_context + 1) * (dc->dim + 1);
    EOS_TRY(ds_alloc(&data->train, dc->n_train, d, 1, 0));
    eos_rng_init(&r, cfg->seed, EOS_RNG_STREAM_DATA);
    EOS_TRY(eos_data_icl_draw(&data->train, cfg, &r));
    if (dc->n_test > 0) {
        EOS_TRY(ds_alloc(&data->test, dc->n_test, d, 1, 0));
        eos_rng_init(&r, cfg->seed, EOS_RNG_STREAM_TEST);
        EOS_TRY(eos_data_icl_draw(&data->test, cfg, &r));
    }
fail:
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * Centring / standardisation with the training statistics (population std, as numpy's std). */

#define STAT_BLOCK 64

static int normalise(eos_data *data, int scale)
{
    int rc = 0;
    eos_dataset *tr = &data->train;
    int n = tr->n, d = tr->d;
    double *mean = NULL, *sd = NULL;
    EOS_ALLOC(mean, d);
    EOS_ALLOC(sd, d);
    int nblk = (d + STAT_BLOCK - 1) / STAT_BLOCK;
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

static int is_synthetic(eos_data_source s)
{
    return s == EOS_DATA_SYNTH_LINEAR || s == EOS_DATA_TEACHER || s == EOS_DATA_ICL_REGRESSION;
}

int eos_data_load(eos_data *data, const eos_config *cfg)
{
    int rc = 0;
    const eos_data_cfg *dc = &cfg->data;
    memset(data, 0, sizeof *data);
    EOS_CHECK(dc->n_train >= 0, EOS_ERR_CONFIG, "data.n_train = %d must be >= 0", dc->n_train);
    EOS_CHECK(dc->n_test >= 0, EOS_ERR_CONFIG, "data.n_test = %d must be >= 0", dc->n_test);
    switch (dc->source) {
    case EOS_DATA_FASHION_MNIST: EOS_TRY(load_fashion(data, dc)); break;
    case EOS_DATA_MNIST_IDX: EOS_TRY(load_mnist_idx(data, dc)); break;
    case EOS_DATA_CIFAR10: EOS_TRY(load_cifar(data, dc)); break;
    case EOS_DATA_HDF5: EOS_TRY(load_hdf5(data, dc)); break;
    case EOS_DATA_SYNTH_LINEAR: EOS_TRY(load_linear(data, cfg)); break;
    case EOS_DATA_TEACHER: EOS_TRY(load_teacher(data, cfg)); break;
    case EOS_DATA_ICL_REGRESSION: EOS_TRY(load_icl(data, cfg)); break;
    default: EOS_FAIL(EOS_ERR_CONFIG, "data.source = %d is not a known source", (int)dc->source);
    }
    /* prompts keep their structure (query slot 0, online redraws): never normalised */
    if (dc->source != EOS_DATA_ICL_REGRESSION && (dc->center || dc->standardize))
        EOS_TRY(normalise(data, dc->standardize));
    return 0;
fail:
    eos_data_free(data);
    return rc;
}

int eos_data_same(const eos_config *a, const eos_config *b)
{
    const eos_data_cfg *x = &a->data, *y = &b->data;
    if (x->source != y->source) return 0;
    if (is_synthetic(x->source) && a->seed != b->seed) return 0;
    /* standardize implies center */
    int cx = x->center || x->standardize, cy = y->center || y->standardize;
    return strcmp(x->path, y->path) == 0 && strcmp(x->labels, y->labels) == 0 &&
           strcmp(x->test_path, y->test_path) == 0 && strcmp(x->test_labels, y->test_labels) == 0 &&
           strcmp(x->x, y->x) == 0 && strcmp(x->y, y->y) == 0 && x->n_train == y->n_train &&
           x->n_test == y->n_test && cx == cy && !x->standardize == !y->standardize &&
           x->dim == y->dim && x->n_out == y->n_out && x->teacher_hidden == y->teacher_hidden &&
           x->noise == y->noise && x->n_context == y->n_context && x->online == y->online &&
           x->sigma_decay == y->sigma_decay;
}
