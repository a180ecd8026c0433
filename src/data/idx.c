/* idx.c: LeCun's IDX format (gzipped or raw): data.source fashion-mnist (Debian's
 * dataset-fashion-mnist, or the same four files in data.path) and mnist-idx (any IDX pair).
 * An images file of rank 3 [n, H, W] gives images [1, H, W]; of rank 4 [n, C, H, W], [C, H, W]. */
#define _POSIX_C_SOURCE 200809L
#include "data_impl.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"
#define FASHION_CLASSES 10
#define FASHION_SIDE 28
#define FASHION_N_TRAIN 60000
#define FASHION_N_TEST 10000

/* ---------------------------------------------------------------------------------------------
 * Files: gzipped or raw, read through zlib (gzread passes non-gzip files through unchanged). */

typedef struct {
    gzFile f;
    const char *path;
} zin;

static int zin_open(zin *z, const char *path)
{
    int rc = 0;
    z->f = NULL;
    z->path = path;
    EOS_TRY(eos_data_file_check(path));
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

/* Read the first n_want (0 = all) images and labels of an IDX pair. *pix holds n*d bytes, d the
 * size of *shape (from the images header). */
static int idx_load(const char *img_path, const char *lab_path, int n_want, const char *key,
                    unsigned char **pix, unsigned char **lab, int *n_out, eos_shape *shape_out)
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
    *shape_out = (eos_shape){.layout = EOS_LAYOUT_IMAGE};
    for (int k = 0; k < 3; k++) shape_out->dim[k] = k < 4 - hi.rank ? 1 : hi.dims[k + hi.rank - 3];
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
                         const eos_shape *shape, int n_classes, const char *lab_path)
{
    int d = (int)eos_shape_size(shape);
    int rc = 0;
    for (int i = 0; i < n; i++)
        EOS_CHECK(lab[i] < n_classes, EOS_ERR_FORMAT,
                  "%s: label %d of example %d is out of range (%d classes)", lab_path, lab[i], i,
                  n_classes);
    EOS_TRY(eos_data_ds_alloc(ds, n, d, n_classes, n_classes));
    ds->shape = *shape;
    size_t nd = (size_t)n * (size_t)d;
    for (size_t k = 0; k < nd; k++) ds->X[k] = (real)(pix[k] / 255.0);
    for (int i = 0; i < n; i++) ds->label[i] = lab[i];
    eos_data_ds_one_hot(ds);
    return 0;
fail:
    return rc;
}

/* dir/name if it exists (an unpacked copy), else dir/name.gz (Debian's files; named by errors). */
static void find_idx(char *buf, size_t len, const char *dir, const char *name)
{
    struct stat st;
    snprintf(buf, len, "%s/%s", dir, name);
    if (stat(buf, &st) == 0) return;
    snprintf(buf, len, "%s/%s.gz", dir, name);
}

/* One IDX pair into ds. n_classes > 0: fixed class count; 0: max label + 1 (at least 2). A test
 * set's images must have the shape of the training set `like` (NULL for the training set). */
static int load_idx_pair(eos_dataset *ds, const char *img, const char *lab, int n_want,
                         const char *key, int n_classes, const eos_dataset *like)
{
    int rc = 0;
    unsigned char *pix = NULL, *lb = NULL;
    int n = 0;
    eos_shape shape;
    EOS_TRY(idx_load(img, lab, n_want, key, &pix, &lb, &n, &shape));
    int d = (int)eos_shape_size(&shape);
    if (like) {
        EOS_CHECK(d == like->d, EOS_ERR_FORMAT,
                  "%s: images have %d pixels but the training images have %d", img, d, like->d);
        EOS_CHECK(memcmp(shape.dim, like->shape.dim, sizeof shape.dim) == 0, EOS_ERR_FORMAT,
                  "%s: images are %dx%dx%d but the training images are %dx%dx%d", img,
                  shape.dim[0], shape.dim[1], shape.dim[2], like->shape.dim[0],
                  like->shape.dim[1], like->shape.dim[2]);
    }
    if (n_classes == 0) {
        int mx = 1;
        for (int i = 0; i < n; i++) mx = lb[i] > mx ? lb[i] : mx;
        n_classes = mx + 1;
    }
    EOS_TRY(ds_from_bytes(ds, pix, lb, n, &shape, n_classes, lab));
fail:
    free(pix);
    free(lb);
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * fashion-mnist: the four files of the Fashion-MNIST distribution, in data.path or Debian's
 * directory. */

static int fashion_check(const eos_config *cfg, eos_data_info *info, const char **key)
{
    (void)cfg, (void)key; /* needs no key: data.path defaults to Debian's directory */
    info->shape = (eos_shape){EOS_LAYOUT_IMAGE, {1, FASHION_SIDE, FASHION_SIDE}};
    info->n_out = FASHION_CLASSES;
    return 0;
}

static const char *const fashion_files[4] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};

static int fashion_check_files(const eos_config *cfg, const char **key)
{
    int rc = 0;
    const eos_data_cfg *dc = &cfg->data;
    const char *dir = dc->path[0] ? dc->path : FASHION_DIR;
    char path[EOS_PATH_MAX + 64];
    for (int k = 0; k < (dc->n_test > 0 ? 4 : 2); k++) {
        find_idx(path, sizeof path, dir, fashion_files[k]);
        EOS_TRY(eos_data_need_file(dc->path[0] ? "data.path" : "data.source", path, 0, key));
    }
fail:
    return rc;
}

static int fashion_load(eos_data *data, const eos_config *cfg)
{
    int rc = 0;
    const eos_data_cfg *dc = &cfg->data;
    const char *dir = dc->path[0] ? dc->path : FASHION_DIR;
    char img[EOS_PATH_MAX + 64], lab[EOS_PATH_MAX + 64];
    find_idx(img, sizeof img, dir, fashion_files[0]);
    find_idx(lab, sizeof lab, dir, fashion_files[1]);
    EOS_TRY(load_idx_pair(&data->train, img, lab, dc->n_train, "data.n_train", FASHION_CLASSES,
                          NULL));
    if (dc->n_test > 0) {
        find_idx(img, sizeof img, dir, fashion_files[2]);
        find_idx(lab, sizeof lab, dir, fashion_files[3]);
        EOS_TRY(load_idx_pair(&data->test, img, lab, dc->n_test, "data.n_test", FASHION_CLASSES,
                              &data->train));
    }
fail:
    return rc;
}

const eos_data_source eos_data_source_fashion_mnist = {
    .name = "fashion-mnist",
    .needs_files = 1,
    .normalise = 1,
    .n_train_max = FASHION_N_TRAIN,
    .n_test_max = FASHION_N_TEST,
    .check = fashion_check,
    .check_files = fashion_check_files,
    .load = fashion_load,
};

/* ---------------------------------------------------------------------------------------------
 * mnist-idx: any IDX pair, data.path (images) and data.labels; classes = max label + 1. */

static int mnist_idx_check(const eos_config *cfg, eos_data_info *info, const char **key)
{
    int rc = 0;
    const eos_data_cfg *dc = &cfg->data;
    EOS_TRY(eos_data_need_key("data.path", dc->path, "mnist-idx", key));
    EOS_TRY(eos_data_need_key("data.labels", dc->labels, "mnist-idx", key));
    if ((dc->test_path[0] != '\0') != (dc->test_labels[0] != '\0'))
        EOS_FAIL_KEY("data.test_path",
                     "data.test_path: data.test_path and data.test_labels go together for "
                     "mnist-idx");
    if (dc->n_test > 0 && !dc->test_path[0])
        EOS_FAIL_KEY("data.n_test",
                     "data.n_test: %d needs data.test_path and data.test_labels (IDX files)",
                     dc->n_test);
    info->shape.layout = EOS_LAYOUT_IMAGE; /* of the size the header gives */
fail:
    return rc;
}

static int mnist_idx_check_files(const eos_config *cfg, const char **key)
{
    int rc = 0;
    const eos_data_cfg *dc = &cfg->data;
    EOS_TRY(eos_data_need_file("data.path", dc->path, 0, key));
    EOS_TRY(eos_data_need_file("data.labels", dc->labels, 0, key));
    if (dc->n_test > 0 && dc->test_path[0]) {
        EOS_TRY(eos_data_need_file("data.test_path", dc->test_path, 0, key));
        EOS_TRY(eos_data_need_file("data.test_labels", dc->test_labels, 0, key));
    }
fail:
    return rc;
}

static int mnist_idx_load(eos_data *data, const eos_config *cfg)
{
    int rc = 0;
    const eos_data_cfg *dc = &cfg->data;
    EOS_TRY(load_idx_pair(&data->train, dc->path, dc->labels, dc->n_train, "data.n_train", 0,
                          NULL));
    if (dc->n_test > 0)
        EOS_TRY(load_idx_pair(&data->test, dc->test_path, dc->test_labels, dc->n_test,
                              "data.n_test", data->train.n_classes, &data->train));
fail:
    return rc;
}

const eos_data_source eos_data_source_mnist_idx = {
    .name = "mnist-idx",
    .needs_files = 1,
    .normalise = 1,
    .check = mnist_idx_check,
    .check_files = mnist_idx_check_files,
    .load = mnist_idx_load,
};
