/* test_data.c: data loading (IDX, CIFAR-10, HDF5, Fashion-MNIST from Debian) and synthetic sources.
 * Fixture files are written at run time under a fresh directory in /tmp and removed at the end. */
#define _XOPEN_SOURCE 700
#include "eos_data.h"
#include "eos_test.h"

#include <ftw.h>
#include <hdf5.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define FASHION "/usr/share/datasets/fashion-mnist"

static char tmpdir[128];

static void tpath(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", tmpdir, name);
}

static void base_cfg(eos_config *c, const char *source)
{
    memset(c, 0, sizeof *c);
    c->seed = 1;
    EXPECT(eos_config_set(c, "data.source", source) == 0, "%s", eos_error_msg());
    strcpy(c->data.x, "x");
    strcpy(c->data.y, "y");
    c->data.sigma_decay = 1.0;
}

static void write_file(const char *path, const void *buf, size_t n, int gz)
{
    if (gz) {
        gzFile f = gzopen(path, "wb");
        if (!f || (n && gzwrite(f, buf, (unsigned)n) != (int)n)) fprintf(stderr, "cannot write %s\n", path);
        if (f) gzclose(f);
    } else {
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(buf, 1, n, f) != n) fprintf(stderr, "cannot write %s\n", path);
        if (f) fclose(f);
    }
}

/* IDX file: magic 00 00 08 rank, big-endian dims, then `nbytes` of payload. */
static void write_idx(const char *path, int gz, int rank, const int *dims, const unsigned char *payload,
                      size_t nbytes)
{
    size_t hdr = 4 + 4 * (size_t)rank;
    unsigned char *buf = malloc(hdr + nbytes + 1);
    buf[0] = 0, buf[1] = 0, buf[2] = 8, buf[3] = (unsigned char)rank;
    for (int k = 0; k < rank; k++) {
        buf[4 + 4 * k] = (unsigned char)(dims[k] >> 24);
        buf[5 + 4 * k] = (unsigned char)(dims[k] >> 16);
        buf[6 + 4 * k] = (unsigned char)(dims[k] >> 8);
        buf[7 + 4 * k] = (unsigned char)dims[k];
    }
    if (nbytes) memcpy(buf + hdr, payload, nbytes);
    write_file(path, buf, hdr + nbytes, gz);
    free(buf);
}

static size_t read_all(const char *path, unsigned char **out)
{
    FILE *f = fopen(path, "rb");
    size_t cap = 1 << 16, n = 0;
    *out = malloc(cap);
    if (!f) return 0;
    for (;;) {
        if (n == cap) *out = realloc(*out, cap *= 2);
        size_t r = fread(*out + n, 1, cap - n, f);
        if (r == 0) break;
        n += r;
    }
    fclose(f);
    return n;
}

/* Load must fail with `code`, a one-line message containing `needle`, and an empty result. */
static void expect_fail(const eos_config *c, int code, const char *needle, const char *what)
{
    eos_data d;
    eos_error_clear();
    int rc = eos_data_load(&d, c);
    const char *msg = eos_error_msg();
    fprintf(stderr, "    %-28s -> [%s] %s\n", what, eos_status_name(rc), msg);
    EXPECT(rc == code, "%s: rc %d (%s), expected %s", what, rc, eos_status_name(rc),
           eos_status_name(code));
    EXPECT(strstr(msg, needle) != NULL, "%s: message '%s' does not contain '%s'", what, msg, needle);
    EXPECT(strchr(msg, '\n') == NULL, "%s: message is not one line", what);
    EXPECT(d.train.X == NULL && d.train.Y == NULL && d.test.X == NULL && d.train.n == 0,
           "%s: failed load left data behind", what);
    eos_data_free(&d);
}

/* Independent decode of a gzipped IDX file with zlib: payload after the header, and dims. */
static unsigned char *gunzip_idx(const char *path, int *rank, int dims[4], size_t *n)
{
    gzFile f = gzopen(path, "rb");
    if (!f) return NULL;
    unsigned char h[4];
    gzread(f, h, 4);
    *rank = h[3];
    size_t total = 1;
    for (int k = 0; k < *rank; k++) {
        unsigned char b[4];
        gzread(f, b, 4);
        dims[k] = (b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3];
        total *= (size_t)dims[k];
    }
    unsigned char *buf = malloc(total);
    *n = (size_t)gzread(f, buf, (unsigned)total);
    gzclose(f);
    return buf;
}

/* Solve A x = b (k x k, row-major) by Gaussian elimination with partial pivoting; A, b destroyed. */
static void solve(double *A, double *b, double *x, int k)
{
    for (int c = 0; c < k; c++) {
        int p = c;
        for (int r = c + 1; r < k; r++)
            if (fabs(A[r * k + c]) > fabs(A[p * k + c])) p = r;
        for (int j = 0; j < k; j++) {
            double t = A[c * k + j];
            A[c * k + j] = A[p * k + j];
            A[p * k + j] = t;
        }
        double t = b[c];
        b[c] = b[p];
        b[p] = t;
        for (int r = c + 1; r < k; r++) {
            double f = A[r * k + c] / A[c * k + c];
            for (int j = c; j < k; j++) A[r * k + j] -= f * A[c * k + j];
            b[r] -= f * b[c];
        }
    }
    for (int c = k - 1; c >= 0; c--) {
        double s = b[c];
        for (int j = c + 1; j < k; j++) s -= A[c * k + j] * x[j];
        x[c] = s / A[c * k + c];
    }
}

/* The dataset's layout is `layout` with dims d0, d1, d2 (unused 0) and covers its d features. */
static int shape_is(const eos_dataset *ds, eos_layout layout, int d0, int d1, int d2)
{
    return ds->shape.layout == layout && ds->shape.dim[0] == d0 && ds->shape.dim[1] == d1 &&
           ds->shape.dim[2] == d2 && eos_shape_size(&ds->shape) == ds->d;
}

/* What the configuration told before loading agrees with what was loaded (where it is known). */
static void expect_info_matches(const eos_config *c, const eos_data *d)
{
    eos_data_info info;
    const char *key = NULL;
    EXPECT(eos_data_check(c, &info, &key) == 0, "%s", eos_error_msg());
    EXPECT(info.shape.layout == EOS_LAYOUT_UNKNOWN || info.shape.layout == d->train.shape.layout,
           "layout %d before loading, %d loaded", info.shape.layout, d->train.shape.layout);
    EXPECT(eos_shape_size(&info.shape) == 0 ||
               !memcmp(&info.shape, &d->train.shape, sizeof info.shape),
           "shape known before loading differs from the loaded one");
    EXPECT(info.n_out == 0 || info.n_out == d->train.n_out, "n_out %d before, %d loaded",
           info.n_out, d->train.n_out);
    EXPECT(info.n_train < 0 || info.n_train == d->train.n, "n_train %ld before, %d loaded",
           info.n_train, d->train.n);
    EXPECT(!info.regression || d->train.n_classes == 0, "a regression source gave classes");
    if (d->test.n > 0)
        EXPECT(!memcmp(&d->test.shape, &d->train.shape, sizeof d->test.shape),
               "test set shape differs from the training set's");
}

static int one_hot_ok(const eos_dataset *ds)
{
    for (int i = 0; i < ds->n; i++) {
        if (ds->label[i] < 0 || ds->label[i] >= ds->n_classes) return 0;
        for (int c = 0; c < ds->n_out; c++)
            if (ds->Y[(size_t)i * ds->n_out + c] != (c == ds->label[i] ? 1 : 0)) return 0;
    }
    return 1;
}

/* ---------------------------------------------------------------------------------------------- */

static void test_fashion(void)
{
    if (access(FASHION "/train-images-idx3-ubyte.gz", R_OK) != 0) {
        fprintf(stderr, "    skipped: %s not installed (apt install dataset-fashion-mnist)\n", FASHION);
        return;
    }
    eos_config c;
    eos_data raw, st;
    base_cfg(&c, "fashion-mnist");
    c.data.n_train = 1000;
    c.data.n_test = 300;
    EXPECT(eos_data_load(&raw, &c) == 0, "%s", eos_error_msg());
    c.data.standardize = 1;
    EXPECT(eos_data_load(&st, &c) == 0, "%s", eos_error_msg());
    if (!raw.train.X || !st.train.X) return;
    EXPECT(raw.train.n == 1000 && raw.train.d == 784 && raw.train.n_out == 10 &&
               raw.train.n_classes == 10 && raw.test.n == 300 && raw.test.d == 784,
           "shapes %d x %d, %d outputs, %d classes, test %d", raw.train.n, raw.train.d,
           raw.train.n_out, raw.train.n_classes, raw.test.n);
    EXPECT(one_hot_ok(&raw.train) && one_hot_ok(&raw.test) && one_hot_ok(&st.train),
           "labels out of range or one-hot mismatch");
    EXPECT(shape_is(&raw.train, EOS_LAYOUT_IMAGE, 1, 28, 28) &&
               shape_is(&raw.test, EOS_LAYOUT_IMAGE, 1, 28, 28),
           "Fashion-MNIST images are [1, 28, 28]");
    expect_info_matches(&c, &raw);

    /* the unstandardised values are the file's bytes / 255 (decoded here independently) */
    int rank, dims[4];
    size_t nb;
    unsigned char *pix = gunzip_idx(FASHION "/train-images-idx3-ubyte.gz", &rank, dims, &nb);
    unsigned char *lab = gunzip_idx(FASHION "/train-labels-idx1-ubyte.gz", &rank, dims, &nb);
    unsigned char *tpix = gunzip_idx(FASHION "/t10k-images-idx3-ubyte.gz", &rank, dims, &nb);
    unsigned char *tlab = gunzip_idx(FASHION "/t10k-labels-idx1-ubyte.gz", &rank, dims, &nb);
    int bad = 0, badl = 0;
    for (size_t k = 0; k < 1000 * 784; k++) bad += raw.train.X[k] != (real)(pix[k] / 255.0);
    for (size_t k = 0; k < 300 * 784; k++) bad += raw.test.X[k] != (real)(tpix[k] / 255.0);
    for (int i = 0; i < 1000; i++) badl += raw.train.label[i] != lab[i];
    for (int i = 0; i < 300; i++) badl += raw.test.label[i] != tlab[i];
    EXPECT(bad == 0 && badl == 0, "%d pixels and %d labels differ from the files", bad, badl);

    /* standardised: training mean ~0 and std ~1 per feature (or a constant feature left at 0);
     * the test set uses the training statistics, recomputed here from the raw load */
    int bad_mean = 0, bad_std = 0, bad_test = 0, n_const = 0;
    for (int j = 0; j < 784; j++) {
        double m = 0, v = 0, rm = 0, rv = 0;
        for (int i = 0; i < 1000; i++) m += st.train.X[i * 784 + j], rm += raw.train.X[i * 784 + j];
        m /= 1000, rm /= 1000;
        for (int i = 0; i < 1000; i++) {
            v += (st.train.X[i * 784 + j] - m) * (st.train.X[i * 784 + j] - m);
            rv += (raw.train.X[i * 784 + j] - rm) * (raw.train.X[i * 784 + j] - rm);
        }
        double sd = sqrt(v / 1000), rsd = sqrt(rv / 1000);
        if (rsd == 0) n_const++;
        bad_mean += fabs(m) > 1e-5;
        bad_std += rsd > 0 ? fabs(sd - 1) > 1e-4 : sd != 0;
        for (int i = 0; i < 300; i++) {
            double want = (raw.test.X[i * 784 + j] - rm) / (rsd > 0 ? rsd : 1);
            bad_test += fabs(st.test.X[i * 784 + j] - want) > 1e-4 * (1 + fabs(want));
        }
    }
    EXPECT(bad_mean == 0 && bad_std == 0, "%d features with mean != 0, %d with std != 1", bad_mean,
           bad_std);
    EXPECT(bad_test == 0, "%d test values not standardised with the training statistics", bad_test);
    fprintf(stderr, "    %d constant features in the first 1000 images\n", n_const);
    free(pix), free(lab), free(tpix), free(tlab);
    eos_data_free(&raw);
    eos_data_free(&st);

    /* speed: 5000 examples, standardised */
    c.data.n_train = 5000;
    c.data.n_test = 0;
    double t0 = eos_now();
    int rc = eos_data_load(&st, &c);
    double dt = eos_now() - t0;
    fprintf(stderr, "    5000 Fashion-MNIST examples loaded and standardised in %.3f s\n", dt);
    EXPECT(rc == 0 && st.train.n == 5000 && st.test.n == 0, "%s", eos_error_msg());
    EXPECT(dt < 1.0, "took %.3f s", dt);
    eos_data_free(&st);

    c.data.n_train = 70000;
    expect_fail(&c, EOS_ERR_CONFIG, "train-labels-idx1-ubyte.gz holds 60000", "n_train > 60000");
    c.data.n_train = 10;
    c.data.n_test = 10001;
    expect_fail(&c, EOS_ERR_CONFIG, "data.n_test = 10001", "n_test > 10000");
}

/* Small IDX fixture: n images of r x q, pixel (i, k) = (7 i + 3 k + 1) % 256, label = i % 5. */
#define IDX_N 10
#define IDX_R 3
#define IDX_Q 4
static unsigned char pixv(int i, int k) { return (unsigned char)((7 * i + 3 * k + 1) % 256); }

static void make_idx(const char *img, int gz_img, const char *lab, int gz_lab)
{
    unsigned char pix[IDX_N * IDX_R * IDX_Q], lb[IDX_N];
    for (int i = 0; i < IDX_N; i++) {
        lb[i] = (unsigned char)(i % 5);
        for (int k = 0; k < IDX_R * IDX_Q; k++) pix[i * IDX_R * IDX_Q + k] = pixv(i, k);
    }
    int di[3] = {IDX_N, IDX_R, IDX_Q}, dl[1] = {IDX_N};
    if (img) write_idx(img, gz_img, 3, di, pix, sizeof pix);
    if (lab) write_idx(lab, gz_lab, 1, dl, lb, sizeof lb);
}

static void test_idx(void)
{
    char img[512], lab[512], timg[512], tlab[512];
    tpath(img, sizeof img, "img.idx3.gz");
    tpath(lab, sizeof lab, "lab.idx1");
    tpath(timg, sizeof timg, "timg.idx3");
    tpath(tlab, sizeof tlab, "tlab.idx1.gz");
    make_idx(img, 1, lab, 0);
    make_idx(timg, 0, tlab, 1);

    eos_config c;
    eos_data d;
    base_cfg(&c, "mnist-idx");
    strcpy(c.data.path, img);
    strcpy(c.data.labels, lab);
    strcpy(c.data.test_path, timg);
    strcpy(c.data.test_labels, tlab);
    c.data.n_train = 7;
    c.data.n_test = 4;
    int rc = eos_data_load(&d, &c);
    EXPECT(rc == 0, "%s", eos_error_msg());
    if (rc) return;
    EXPECT(d.train.n == 7 && d.train.d == IDX_R * IDX_Q && d.train.n_classes == 5 &&
               d.train.n_out == 5 && d.test.n == 4 && d.test.n_classes == 5,
           "shapes: %d x %d, %d classes; test %d", d.train.n, d.train.d, d.train.n_classes, d.test.n);
    int bad = 0;
    for (int i = 0; i < 7; i++)
        for (int k = 0; k < IDX_R * IDX_Q; k++) bad += d.train.X[i * 12 + k] != (real)(pixv(i, k) / 255.0);
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < IDX_R * IDX_Q; k++) bad += d.test.X[i * 12 + k] != (real)(pixv(i, k) / 255.0);
    for (int i = 0; i < 7; i++) bad += d.train.label[i] != i % 5;
    EXPECT(bad == 0, "%d values differ from pixel/255 or labels", bad);
    EXPECT(one_hot_ok(&d.train) && one_hot_ok(&d.test), "one-hot mismatch");
    EXPECT(shape_is(&d.train, EOS_LAYOUT_IMAGE, 1, IDX_R, IDX_Q) &&
               shape_is(&d.test, EOS_LAYOUT_IMAGE, 1, IDX_R, IDX_Q),
           "rank-3 IDX images are [1, H, W] from the header: %d %d %d", d.train.shape.dim[0],
           d.train.shape.dim[1], d.train.shape.dim[2]);
    expect_info_matches(&c, &d);
    eos_data_free(&d);

    /* rank 4 [n, C, H, W]: images [C, H, W]; a test file of another shape with as many pixels
     * is refused */
    {
        char img4[512], img4t[512];
        tpath(img4, sizeof img4, "img4.idx");
        tpath(img4t, sizeof img4t, "img4t.idx");
        unsigned char pix[IDX_N * IDX_R * IDX_Q];
        for (int i = 0; i < IDX_N * IDX_R * IDX_Q; i++) pix[i] = (unsigned char)i;
        int d4[4] = {IDX_N, 2, 3, 2}, d4t[4] = {IDX_N, 2, 2, 3};
        write_idx(img4, 0, 4, d4, pix, sizeof pix);
        write_idx(img4t, 0, 4, d4t, pix, sizeof pix);
        eos_config c4 = c;
        strcpy(c4.data.path, img4);
        strcpy(c4.data.test_path, img4);
        c4.data.n_test = 2;
        rc = eos_data_load(&d, &c4);
        EXPECT(rc == 0 && shape_is(&d.train, EOS_LAYOUT_IMAGE, 2, 3, 2) &&
                   shape_is(&d.test, EOS_LAYOUT_IMAGE, 2, 3, 2),
               "rank-4 IDX: %s", eos_error_msg());
        eos_data_free(&d);
        strcpy(c4.data.test_path, img4t);
        expect_fail(&c4, EOS_ERR_FORMAT, "2x2x3 but the training images are 2x3x2",
                    "test images of another shape");
    }

    /* all examples; centring subtracts the per-feature mean (computed here from the formula) */
    c.data.n_train = 0;
    c.data.n_test = 0;
    c.data.center = 1;
    EXPECT(eos_data_load(&d, &c) == 0, "%s", eos_error_msg());
    EXPECT(d.train.n == IDX_N && d.test.n == 0 && d.test.X == NULL, "n %d, test %d", d.train.n,
           d.test.n);
    bad = 0;
    for (int k = 0; d.train.X && k < 12; k++) {
        double m = 0;
        for (int i = 0; i < IDX_N; i++) m += pixv(i, k) / 255.0;
        m /= IDX_N;
        for (int i = 0; i < IDX_N; i++) bad += fabs(d.train.X[i * 12 + k] - (pixv(i, k) / 255.0 - m)) > 1e-6;
    }
    EXPECT(bad == 0, "%d centred values wrong", bad);
    eos_data_free(&d);
    c.data.center = 0;

    /* n_train beyond the file */
    c.data.n_train = 11;
    expect_fail(&c, EOS_ERR_CONFIG, lab, "n_train > examples");
    c.data.n_train = 0;

    /* corrupt variants */
    char bad_path[512];
    unsigned char *buf = NULL;
    size_t n;

    tpath(bad_path, sizeof bad_path, "missing.idx3");
    strcpy(c.data.path, bad_path);
    expect_fail(&c, EOS_ERR_IO, bad_path, "missing file");

    strcpy(c.data.path, tmpdir);
    expect_fail(&c, EOS_ERR_IO, tmpdir, "directory as file");

    tpath(bad_path, sizeof bad_path, "badmagic.idx3");
    {
        int di[3] = {IDX_N, IDX_R, IDX_Q};
        unsigned char pix[IDX_N * 12] = {0};
        write_idx(bad_path, 0, 3, di, pix, sizeof pix);
        n = read_all(bad_path, &buf);
        buf[2] = 0x0D; /* float elements, not unsigned bytes */
        write_file(bad_path, buf, n, 0);
        free(buf);
    }
    strcpy(c.data.path, bad_path);
    expect_fail(&c, EOS_ERR_FORMAT, bad_path, "bad magic");

    tpath(bad_path, sizeof bad_path, "labels_as_images.idx1");
    make_idx(NULL, 0, bad_path, 0);
    strcpy(c.data.path, bad_path);
    expect_fail(&c, EOS_ERR_FORMAT, bad_path, "labels file as images");

    tpath(bad_path, sizeof bad_path, "garbage.gz");
    write_file(bad_path, "this is not gzip and not IDX either\n", 36, 0);
    strcpy(c.data.path, bad_path);
    expect_fail(&c, EOS_ERR_FORMAT, bad_path, "not-gzip garbage");

    tpath(bad_path, sizeof bad_path, "empty.idx3");
    write_file(bad_path, "", 0, 0);
    strcpy(c.data.path, bad_path);
    expect_fail(&c, EOS_ERR_FORMAT, bad_path, "empty file");

    /* raw file truncated after 5 images: the first 5 still load, all 10 do not */
    tpath(bad_path, sizeof bad_path, "trunc.idx3");
    {
        char full[512];
        tpath(full, sizeof full, "full.idx3");
        make_idx(full, 0, NULL, 0);
        n = read_all(full, &buf);
        write_file(bad_path, buf, 16 + 5 * 12 + 7, 0);
        free(buf);
    }
    strcpy(c.data.path, bad_path);
    expect_fail(&c, EOS_ERR_FORMAT, "file ends after 5", "truncated raw");
    EXPECT(strstr(eos_error_msg(), bad_path) != NULL, "message does not name the file");
    c.data.n_train = 5;
    rc = eos_data_load(&d, &c);
    EXPECT(rc == 0 && d.train.n == 5, "first 5 of a truncated file: %s", eos_error_msg());
    eos_data_free(&d);
    c.data.n_train = 0;

    /* gzip truncated in the middle of the stream */
    tpath(bad_path, sizeof bad_path, "trunc.idx3.gz");
    n = read_all(img, &buf);
    write_file(bad_path, buf, n / 2, 0);
    free(buf);
    strcpy(c.data.path, bad_path);
    expect_fail(&c, EOS_ERR_FORMAT, bad_path, "truncated gzip");

    /* gzip with an invalid deflate block type right after the 10-byte gzip header */
    tpath(bad_path, sizeof bad_path, "corrupt.idx3.gz");
    n = read_all(img, &buf);
    buf[10] = 0xff;
    write_file(bad_path, buf, n, 0);
    free(buf);
    strcpy(c.data.path, bad_path);
    expect_fail(&c, EOS_ERR_FORMAT, bad_path, "corrupt gzip");

    /* label count disagrees with image count */
    strcpy(c.data.path, img);
    tpath(bad_path, sizeof bad_path, "lab9.idx1");
    {
        int dl[1] = {9};
        unsigned char lb[9] = {0, 1, 2, 3, 4, 0, 1, 2, 3};
        write_idx(bad_path, 0, 1, dl, lb, 9);
    }
    strcpy(c.data.labels, bad_path);
    expect_fail(&c, EOS_ERR_FORMAT, bad_path, "count mismatch");
    strcpy(c.data.labels, lab);

    /* test labels beyond the training classes */
    tpath(bad_path, sizeof bad_path, "tlab_big.idx1");
    {
        int dl[1] = {IDX_N};
        unsigned char lb[IDX_N] = {0, 1, 7, 3, 4, 0, 1, 2, 3, 4};
        write_idx(bad_path, 0, 1, dl, lb, IDX_N);
    }
    strcpy(c.data.test_labels, bad_path);
    c.data.n_test = 3;
    expect_fail(&c, EOS_ERR_FORMAT, bad_path, "test label out of range");
    c.data.n_test = 0;

    /* Fashion-MNIST source with a user directory whose labels exceed 9 */
    char dir[512], f1[600], f2[600];
    tpath(dir, sizeof dir, "fm");
    mkdir(dir, 0700);
    snprintf(f1, sizeof f1, "%s/train-images-idx3-ubyte.gz", dir);
    snprintf(f2, sizeof f2, "%s/train-labels-idx1-ubyte", dir); /* unpacked copy also found */
    make_idx(f1, 1, NULL, 0);
    {
        int dl[1] = {IDX_N};
        unsigned char lb[IDX_N] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 12};
        write_idx(f2, 0, 1, dl, lb, IDX_N);
    }
    base_cfg(&c, "fashion-mnist");
    strcpy(c.data.path, dir);
    c.data.n_train = 9;
    rc = eos_data_load(&d, &c);
    EXPECT(rc == 0 && d.train.n == 9 && d.train.n_classes == 10, "user fashion dir: %s",
           eos_error_msg());
    eos_data_free(&d);
    c.data.n_train = 10;
    expect_fail(&c, EOS_ERR_FORMAT, f2, "label 12 of 10 classes");
    c.data.n_train = 5;
    c.data.n_test = 2;
    expect_fail(&c, EOS_ERR_IO, "t10k-images-idx3-ubyte", "missing t10k");

    /* missing settings */
    base_cfg(&c, "mnist-idx");
    expect_fail(&c, EOS_ERR_CONFIG, "data.path", "no path");
}

/* CIFAR record (i): label i % 10, pixel k = (5 i + k) % 256 (i counts across files). */
static void write_cifar(const char *path, int i0, int n, int extra_bytes, int bad_label_at)
{
    size_t len = (size_t)n * 3073 + (size_t)extra_bytes;
    unsigned char *buf = calloc(len + 1, 1);
    for (int r = 0; r < n; r++) {
        int i = i0 + r;
        buf[(size_t)r * 3073] = (unsigned char)(r == bad_label_at ? 10 : i % 10);
        for (int k = 0; k < 3072; k++) buf[(size_t)r * 3073 + 1 + k] = (unsigned char)((5 * i + k) % 256);
    }
    write_file(path, buf, len, 0);
    free(buf);
}

static void test_cifar(void)
{
    char dir[256], f[600];
    tpath(dir, sizeof dir, "cifar");
    mkdir(dir, 0700);
    snprintf(f, sizeof f, "%s/data_batch_1.bin", dir);
    write_cifar(f, 0, 3, 0, -1);
    snprintf(f, sizeof f, "%s/data_batch_2.bin", dir);
    write_cifar(f, 3, 4, 0, -1);
    snprintf(f, sizeof f, "%s/test_batch.bin", dir);
    write_cifar(f, 100, 2, 0, -1);

    eos_config c;
    eos_data d;
    base_cfg(&c, "cifar10");
    strcpy(c.data.path, dir);
    c.data.n_train = 5;
    c.data.n_test = 2;
    int rc = eos_data_load(&d, &c);
    EXPECT(rc == 0, "%s", eos_error_msg());
    if (rc) return;
    EXPECT(d.train.n == 5 && d.train.d == 3072 && d.train.n_classes == 10 && d.test.n == 2,
           "shapes %d x %d, %d classes, test %d", d.train.n, d.train.d, d.train.n_classes, d.test.n);
    int bad = 0;
    for (int i = 0; i < 5; i++) {
        bad += d.train.label[i] != i % 10;
        for (int k = 0; k < 3072; k++) bad += d.train.X[i * 3072 + k] != (real)(((5 * i + k) % 256) / 255.0);
    }
    for (int i = 0; i < 2; i++) {
        bad += d.test.label[i] != (100 + i) % 10;
        for (int k = 0; k < 3072; k++)
            bad += d.test.X[i * 3072 + k] != (real)(((5 * (100 + i) + k) % 256) / 255.0);
    }
    EXPECT(bad == 0, "%d values or labels wrong", bad);
    EXPECT(one_hot_ok(&d.train) && one_hot_ok(&d.test), "one-hot mismatch");
    EXPECT(shape_is(&d.train, EOS_LAYOUT_IMAGE, 3, 32, 32) &&
               shape_is(&d.test, EOS_LAYOUT_IMAGE, 3, 32, 32),
           "CIFAR-10 images are [3, 32, 32]");
    expect_info_matches(&c, &d);
    eos_data_free(&d);

    /* per-channel standardisation (Cohen et al.'s CIFAR preprocessing): each channel's training
     * mean and population std over all its pixels, computed here from the raw values, applied to
     * both sets; per-feature statistics are something else */
    for (int per = 0; per < 2; per++) {
        c.data.standardize = 1;
        c.data.normalize_per = per ? EOS_NORM_CHANNEL : EOS_NORM_FEATURE;
        rc = eos_data_load(&d, &c);
        EXPECT(rc == 0, "%s", eos_error_msg());
        if (rc) break;
        double worst = 0;
        for (int ch = 0; ch < 3; ch++) {
            double m = 0, v = 0;
            for (int i = 0; i < 5; i++)
                for (int p = 0; p < 1024; p++) m += ((5 * i + ch * 1024 + p) % 256) / 255.0;
            m /= 5 * 1024;
            for (int i = 0; i < 5; i++)
                for (int p = 0; p < 1024; p++) {
                    double e = ((5 * i + ch * 1024 + p) % 256) / 255.0 - m;
                    v += e * e;
                }
            double sd = sqrt(v / (5 * 1024));
            for (int i = 0; i < 7; i++) { /* 5 training, then 2 test examples (records 100, 101) */
                int rec = i < 5 ? i : 95 + i;
                const real *x = i < 5 ? d.train.X + i * 3072 : d.test.X + (i - 5) * 3072;
                for (int p = 0; p < 1024; p++) {
                    double want = (((5 * rec + ch * 1024 + p) % 256) / 255.0 - m) / sd;
                    worst = fmax(worst, fabs(x[ch * 1024 + p] - want));
                }
            }
        }
        if (per) EXPECT(worst < 1e-5, "per-channel standardisation off by %g", worst);
        else EXPECT(worst > 0.1, "per-feature standardisation looks per-channel (%g)", worst);
        eos_data_free(&d);
    }
    c.data.standardize = 0;
    c.data.normalize_per = EOS_NORM_FEATURE;

    /* all of a directory needs every batch file */
    c.data.n_train = 0;
    c.data.n_test = 0;
    expect_fail(&c, EOS_ERR_IO, "data_batch_3.bin", "missing batch 3");

    /* a single file: all its records; a test set then needs data.test_path */
    snprintf(c.data.path, sizeof c.data.path, "%s/data_batch_2.bin", dir);
    rc = eos_data_load(&d, &c);
    EXPECT(rc == 0 && d.train.n == 4 && d.train.label[0] == 3, "single file: %s", eos_error_msg());
    eos_data_free(&d);
    c.data.n_train = 5;
    expect_fail(&c, EOS_ERR_CONFIG, "data_batch_2.bin holds 4", "n_train > records");
    c.data.n_train = 2;
    c.data.n_test = 1;
    expect_fail(&c, EOS_ERR_CONFIG, "data.test_path", "single file, no test path");
    c.data.n_test = 0;

    snprintf(f, sizeof f, "%s/trunc.bin", dir);
    write_cifar(f, 0, 2, 100, -1);
    strcpy(c.data.path, f);
    expect_fail(&c, EOS_ERR_FORMAT, f, "truncated record");

    snprintf(f, sizeof f, "%s/badlabel.bin", dir);
    write_cifar(f, 0, 3, 0, 1);
    strcpy(c.data.path, f);
    expect_fail(&c, EOS_ERR_FORMAT, f, "label 10");
}

/* HDF5 fixtures written with plain serial calls. */
static void h5_write(hid_t f, const char *name, hid_t type, int rank, const hsize_t *dims, const void *buf)
{
    hid_t s = H5Screate_simple(rank, dims, NULL);
    hid_t d = H5Dcreate2(f, name, type, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
    H5Dclose(d);
    H5Sclose(s);
}

static double h5x(int i, int k) { return 0.25 * i - 0.125 * k + 0.001 * i * k; }

static void test_hdf5(void)
{
    char cls[512], reg[512], noy[512], rank2[512], junk[512], tst[512];
    tpath(cls, sizeof cls, "cls.h5");
    tpath(reg, sizeof reg, "reg.h5");
    tpath(noy, sizeof noy, "noy.h5");
    tpath(rank2, sizeof rank2, "rank2.h5");
    tpath(junk, sizeof junk, "junk.h5");
    tpath(tst, sizeof tst, "test.h5");

    /* classification: X float64 [20, 2, 3], y int32 [20] = i % 3 */
    double X[20 * 6];
    int y[20];
    for (int i = 0; i < 20; i++) {
        y[i] = i % 3;
        for (int k = 0; k < 6; k++) X[i * 6 + k] = h5x(i, k);
    }
    hsize_t dx[3] = {20, 2, 3}, dy[2] = {20, 1};
    hid_t f = H5Fcreate(cls, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    h5_write(f, "x", H5T_NATIVE_DOUBLE, 3, dx, X);
    h5_write(f, "y", H5T_NATIVE_INT, 1, dy, y);
    H5Fclose(f);
    f = H5Fcreate(noy, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    h5_write(f, "x", H5T_NATIVE_DOUBLE, 3, dx, X);
    H5Fclose(f);
    f = H5Fcreate(rank2, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    h5_write(f, "x", H5T_NATIVE_DOUBLE, 3, dx, X);
    h5_write(f, "y", H5T_NATIVE_INT, 2, dy, y);
    H5Fclose(f);
    /* regression: X int16 [10, 4], y float32 [10, 2]; y1 float32 [10] */
    short Xi[40];
    float Yf[20];
    for (int k = 0; k < 40; k++) Xi[k] = (short)(k * 13 - 200);
    for (int k = 0; k < 20; k++) Yf[k] = 0.5f * k - 3.0f;
    hsize_t rx[2] = {10, 4}, ry[2] = {10, 2};
    f = H5Fcreate(reg, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    h5_write(f, "feat", H5T_NATIVE_SHORT, 2, rx, Xi);
    h5_write(f, "t", H5T_NATIVE_FLOAT, 2, ry, Yf);
    h5_write(f, "t1", H5T_NATIVE_FLOAT, 1, ry, Yf);
    H5Fclose(f);
    /* separate test file: 4 examples, labels 0..2 */
    f = H5Fcreate(tst, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t tx[3] = {4, 2, 3}, ty[1] = {4};
    h5_write(f, "x", H5T_NATIVE_DOUBLE, 3, tx, X + 6 * 16);
    h5_write(f, "y", H5T_NATIVE_INT, 1, ty, y + 16);
    H5Fclose(f);
    write_file(junk, "definitely not an HDF5 file", 27, 0);

    eos_config c;
    eos_data d;
    base_cfg(&c, "hdf5");
    strcpy(c.data.path, cls);
    c.data.n_train = 12;
    c.data.n_test = 5; /* rows 12..16 of the same file */
    int rc = eos_data_load(&d, &c);
    EXPECT(rc == 0, "%s", eos_error_msg());
    if (rc == 0) {
        EXPECT(d.train.n == 12 && d.train.d == 6 && d.train.n_classes == 3 && d.train.n_out == 3 &&
                   d.test.n == 5 && d.test.d == 6,
               "shapes %d x %d, %d classes, test %d", d.train.n, d.train.d, d.train.n_classes,
               d.test.n);
        int bad = 0;
        for (int i = 0; i < 12; i++) {
            bad += d.train.label[i] != i % 3;
            for (int k = 0; k < 6; k++) bad += d.train.X[i * 6 + k] != (real)h5x(i, k);
        }
        for (int i = 0; i < 5; i++) {
            bad += d.test.label[i] != (12 + i) % 3;
            for (int k = 0; k < 6; k++) bad += d.test.X[i * 6 + k] != (real)h5x(12 + i, k);
        }
        EXPECT(bad == 0, "%d values wrong", bad);
        EXPECT(one_hot_ok(&d.train) && one_hot_ok(&d.test), "one-hot mismatch");
        EXPECT(shape_is(&d.train, EOS_LAYOUT_FLAT, 6, 0, 0) && shape_is(&d.test, EOS_LAYOUT_FLAT, 6, 0, 0),
               "an X of rank 3 is flat");
        expect_info_matches(&c, &d);
        eos_data_free(&d);
    }
    /* test set from its own file */
    strcpy(c.data.test_path, tst);
    c.data.n_test = 4;
    rc = eos_data_load(&d, &c);
    EXPECT(rc == 0 && d.test.n == 4 && d.test.label[0] == 16 % 3 && d.test.X[0] == (real)h5x(16, 0),
           "test file: %s", eos_error_msg());
    eos_data_free(&d);
    c.data.n_test = 5;
    expect_fail(&c, EOS_ERR_CONFIG, tst, "n_test > test file");
    c.data.test_path[0] = '\0';
    c.data.n_train = 16;
    expect_fail(&c, EOS_ERR_CONFIG, cls, "n_train + n_test > file");
    c.data.n_train = 0; /* everything but the last n_test */
    rc = eos_data_load(&d, &c);
    EXPECT(rc == 0 && d.train.n == 15 && d.test.n == 5, "n_train 0: %d, %d: %s", d.train.n, d.test.n,
           eos_error_msg());
    eos_data_free(&d);

    /* regression targets, integer features (not scaled) */
    base_cfg(&c, "hdf5");
    strcpy(c.data.path, reg);
    strcpy(c.data.x, "feat");
    strcpy(c.data.y, "t");
    rc = eos_data_load(&d, &c);
    EXPECT(rc == 0, "%s", eos_error_msg());
    if (rc == 0) {
        EXPECT(d.train.n == 10 && d.train.d == 4 && d.train.n_out == 2 && d.train.n_classes == 0 &&
                   d.train.label == NULL,
               "regression shapes %d x %d -> %d, classes %d", d.train.n, d.train.d, d.train.n_out,
               d.train.n_classes);
        int bad = 0;
        for (int k = 0; k < 40; k++) bad += d.train.X[k] != (real)Xi[k];
        for (int k = 0; k < 20; k++) bad += d.train.Y[k] != (real)Yf[k];
        EXPECT(bad == 0, "%d regression values wrong", bad);
        EXPECT(shape_is(&d.train, EOS_LAYOUT_FLAT, 4, 0, 0), "an X of rank 2 is flat");
        eos_data_free(&d);
    }
    strcpy(c.data.y, "t1");
    c.data.standardize = 1;
    rc = eos_data_load(&d, &c);
    EXPECT(rc == 0 && d.train.n_out == 1 && d.train.Y[3] == Yf[3], "1-D float y: %s", eos_error_msg());
    if (rc == 0) {
        double m = 0, v = 0;
        for (int i = 0; i < 10; i++) m += d.train.X[i * 4 + 1];
        for (int i = 0; i < 10; i++) v += (d.train.X[i * 4 + 1] - m / 10) * (d.train.X[i * 4 + 1] - m / 10);
        EXPECT(fabs(m / 10) < 1e-5 && fabs(sqrt(v / 10) - 1) < 1e-4, "standardised feature: mean %g std %g",
               m / 10, sqrt(v / 10));
    }
    eos_data_free(&d);

    /* broken files */
    base_cfg(&c, "hdf5");
    strcpy(c.data.path, noy);
    expect_fail(&c, EOS_ERR_FORMAT, noy, "missing y dataset");
    EXPECT(strstr(eos_error_msg(), "'y'") != NULL, "message does not name the dataset");
    strcpy(c.data.path, rank2);
    expect_fail(&c, EOS_ERR_FORMAT, "rank 2", "integer y of rank 2");
    strcpy(c.data.path, junk);
    expect_fail(&c, EOS_ERR_FORMAT, junk, "not HDF5");
    tpath(c.data.path, sizeof c.data.path, "nothere.h5");
    expect_fail(&c, EOS_ERR_IO, "nothere.h5", "missing HDF5 file");
    strcpy(c.data.path, cls);
    c.data.n_train = 21;
    expect_fail(&c, EOS_ERR_CONFIG, cls, "n_train > rows");
    c.data.n_train = 0;
    strcpy(c.data.x, "nested/x");
    expect_fail(&c, EOS_ERR_FORMAT, "nested/x", "missing nested dataset");
}

/* ---------------------------------------------------------------------------------------------- */

static int same_bytes(const eos_data *a, const eos_data *b)
{
    const eos_dataset *sa[2] = {&a->train, &a->test}, *sb[2] = {&b->train, &b->test};
    for (int s = 0; s < 2; s++) {
        if (sa[s]->n != sb[s]->n || sa[s]->d != sb[s]->d || sa[s]->n_out != sb[s]->n_out) return 0;
        size_t nx = (size_t)sa[s]->n * sa[s]->d, ny = (size_t)sa[s]->n * sa[s]->n_out;
        if (nx && memcmp(sa[s]->X, sb[s]->X, nx * sizeof(real))) return 0;
        if (ny && memcmp(sa[s]->Y, sb[s]->Y, ny * sizeof(real))) return 0;
    }
    return 1;
}

static void test_synth_linear(void)
{
    enum { DIM = 6, N = 40, NT = 15 };
    eos_config c;
    eos_data a, b, e;
    base_cfg(&c, "synthetic-linear");
    c.seed = 7;
    c.data.dim = DIM;
    c.data.n_train = N;
    c.data.n_test = NT;
    EXPECT(eos_data_load(&a, &c) == 0, "%s", eos_error_msg());
    EXPECT(eos_data_load(&b, &c) == 0, "%s", eos_error_msg());
    c.seed = 8;
    EXPECT(eos_data_load(&e, &c) == 0, "%s", eos_error_msg());
    EXPECT(same_bytes(&a, &b), "same seed gave different data");
    EXPECT(!same_bytes(&a, &e), "different seeds gave the same data");
    EXPECT(a.train.n == N && a.train.d == DIM && a.train.n_out == 1 && a.train.n_classes == 0 &&
               a.train.label == NULL && a.test.n == NT,
           "shapes");
    EXPECT(memcmp(a.train.X, a.test.X, DIM * sizeof(real)) != 0, "test X repeats train X");
    EXPECT(shape_is(&a.train, EOS_LAYOUT_FLAT, DIM, 0, 0) && shape_is(&a.test, EOS_LAYOUT_FLAT, DIM, 0, 0),
           "synthetic-linear is flat [dim]");
    expect_info_matches(&c, &a);

    /* noise 0: least squares on the training set recovers w with zero residual, and the same w
     * explains the test set (one w* for both) */
    double A[DIM * DIM] = {0}, r[DIM] = {0}, w[DIM];
    for (int i = 0; i < N; i++)
        for (int j = 0; j < DIM; j++) {
            r[j] += a.train.X[i * DIM + j] * (double)a.train.Y[i];
            for (int k = 0; k < DIM; k++) A[j * DIM + k] += a.train.X[i * DIM + j] * (double)a.train.X[i * DIM + k];
        }
    solve(A, r, w, DIM);
    double res = 0, scale = 0, tres = 0;
    for (int i = 0; i < N; i++) {
        double p = 0;
        for (int j = 0; j < DIM; j++) p += w[j] * a.train.X[i * DIM + j];
        res = fmax(res, fabs(p - a.train.Y[i]));
        scale = fmax(scale, fabs(a.train.Y[i]));
    }
    for (int i = 0; i < NT; i++) {
        double p = 0;
        for (int j = 0; j < DIM; j++) p += w[j] * a.test.X[i * DIM + j];
        tres = fmax(tres, fabs(p - a.test.Y[i]));
    }
    EXPECT(scale > 0.5 && res < 1e-4 * scale && tres < 1e-4 * scale,
           "noise 0: residual %g (train) %g (test), scale %g", res, tres, scale);
    eos_data_free(&a);
    eos_data_free(&b);
    eos_data_free(&e);

    /* with noise the residual is ~ noise (so the check above can fail), and X is unchanged */
    c.seed = 7;
    c.data.noise = 0.5;
    EXPECT(eos_data_load(&b, &c) == 0, "%s", eos_error_msg());
    c.data.noise = 0;
    EXPECT(eos_data_load(&a, &c) == 0, "%s", eos_error_msg());
    if (a.train.X && b.train.X) {
        double s2 = 0;
        for (int i = 0; i < N; i++) s2 += (b.train.Y[i] - a.train.Y[i]) * (b.train.Y[i] - a.train.Y[i]);
        EXPECT(memcmp(a.train.X, b.train.X, N * DIM * sizeof(real)) == 0, "noise changed X");
        EXPECT(sqrt(s2 / N) > 0.3 && sqrt(s2 / N) < 0.75, "noise std %g, expected ~0.5", sqrt(s2 / N));
    }
    eos_data_free(&a);
    eos_data_free(&b);

    c.data.n_train = 0;
    expect_fail(&c, EOS_ERR_CONFIG, "data.n_train", "synthetic n_train 0");
    c.data.n_train = 5;
    c.data.dim = 0;
    expect_fail(&c, EOS_ERR_CONFIG, "data.dim", "synthetic dim 0");
}

static void test_teacher(void)
{
    eos_config c;
    eos_data a, b, e;
    base_cfg(&c, "teacher-student");
    c.seed = 3;
    c.data.dim = 10;
    c.data.n_out = 2;
    c.data.teacher_hidden = 16;
    c.data.n_train = 400;
    c.data.n_test = 50;
    EXPECT(eos_data_load(&a, &c) == 0, "%s", eos_error_msg());
    EXPECT(eos_data_load(&b, &c) == 0, "%s", eos_error_msg());
    c.data.noise = 0.1;
    EXPECT(eos_data_load(&e, &c) == 0, "%s", eos_error_msg());
    EXPECT(same_bytes(&a, &b), "same seed gave different data");
    if (a.train.X && e.train.X) {
        EXPECT(a.train.n_out == 2 && a.train.d == 10 && a.test.n == 50 && a.train.n_classes == 0, "shapes");
        EXPECT(shape_is(&a.train, EOS_LAYOUT_FLAT, 10, 0, 0), "teacher-student is flat [dim]");
        expect_info_matches(&c, &a);
        /* X ~ N(0, 1) and the noise is drawn after X */
        double m = 0, v = 0, dn = 0, yv = 0;
        for (int k = 0; k < 4000; k++) m += a.train.X[k], v += a.train.X[k] * a.train.X[k];
        for (int k = 0; k < 800; k++) {
            dn += (e.train.Y[k] - a.train.Y[k]) * (e.train.Y[k] - a.train.Y[k]);
            yv += a.train.Y[k] * a.train.Y[k];
        }
        EXPECT(fabs(m / 4000) < 0.06 && fabs(v / 4000 - 1) < 0.08, "X mean %g var %g", m / 4000, v / 4000);
        EXPECT(memcmp(a.train.X, e.train.X, 4000 * sizeof(real)) == 0, "noise changed X");
        EXPECT(fabs(sqrt(dn / 800) - 0.1) < 0.015, "noise std %g", sqrt(dn / 800));
        /* teacher output: sum of 16 tanh units with weights of variance 1/16: E y^2 = E tanh^2,
         * with a pre-activation of variance ~1: about 0.39 */
        EXPECT(yv / 800 > 0.15 && yv / 800 < 0.8, "teacher output second moment %g", yv / 800);
        /* a tanh teacher is bounded: |y| <= sum |W2| (crudely 16 * 4/4) */
        double ymax = 0;
        for (int k = 0; k < 800; k++) ymax = fmax(ymax, fabs(a.train.Y[k]));
        EXPECT(ymax < 16, "teacher output %g", ymax);
    }
    eos_data_free(&a);
    eos_data_free(&b);
    eos_data_free(&e);
    c.data.teacher_hidden = 0;
    expect_fail(&c, EOS_ERR_CONFIG, "data.teacher_hidden", "teacher_hidden 0");
}

/* One-output binary sets: Y is +1 or -1 and label[] its class (1 for +1); returns the count of
 * +1 labels, or -1 if a row breaks that. */
static int binary_labels_ok(const eos_dataset *ds)
{
    int pos = 0;
    if (ds->n_out != 1 || ds->n_classes != 2 || !ds->label) return -1;
    for (int i = 0; i < ds->n; i++) {
        if (!(ds->Y[i] == 1 || ds->Y[i] == -1) || ds->label[i] != (ds->Y[i] > 0)) return -1;
        pos += ds->Y[i] > 0;
    }
    return pos;
}

/* Labels of a and b that differ (same sizes). */
static int label_flips(const eos_dataset *a, const eos_dataset *b)
{
    int n = 0;
    for (int i = 0; i < a->n; i++) n += a->Y[i] != b->Y[i];
    return n;
}

/* separable: the generating direction u (the first dim normals of the seed's data stream,
 * normalised, as documented) separates both sets with margin data.margin, nearly attained; the
 * classes are balanced; the part of x orthogonal to u is standard normal; label_noise flips
 * exactly round(label_noise n) training labels and leaves X and the test set alone. */
static void test_separable(void)
{
    enum { D = 8, N = 1000, NT = 300 };
    const double gamma = 0.3;
    eos_config c;
    eos_data a, b, e, f;
    base_cfg(&c, "separable");
    c.seed = 5;
    c.data.dim = D;
    c.data.n_train = N;
    c.data.n_test = NT;
    c.data.margin = gamma;
    EXPECT(eos_data_load(&a, &c) == 0, "%s", eos_error_msg());
    EXPECT(eos_data_load(&b, &c) == 0, "%s", eos_error_msg());
    c.seed = 6;
    EXPECT(eos_data_load(&e, &c) == 0, "%s", eos_error_msg());
    c.seed = 5;
    c.data.label_noise = 0.1;
    EXPECT(eos_data_load(&f, &c) == 0, "%s", eos_error_msg());
    EXPECT(same_bytes(&a, &b) && !same_bytes(&a, &e), "determinism by seed");
    if (a.train.X && a.test.X && f.train.X) {
        EXPECT(shape_is(&a.train, EOS_LAYOUT_FLAT, D, 0, 0) && a.test.n == NT, "shapes");
        expect_info_matches(&c, &a);
        int pos = binary_labels_ok(&a.train);
        EXPECT(pos >= 0 && binary_labels_ok(&a.test) >= 0, "labels are not +-1 with classes");
        EXPECT(abs(pos - N / 2) < 4 * 16, "class balance: %d of %d positive", pos, N);
        eos_rng r;
        double u[D], nu = 0;
        eos_rng_init(&r, 5, EOS_RNG_STREAM_DATA);
        for (int j = 0; j < D; j++) u[j] = eos_rng_normal(&r), nu += u[j] * u[j];
        for (int j = 0; j < D; j++) u[j] /= sqrt(nu);
        const eos_dataset *sets[2] = {&a.train, &a.test};
        for (int si = 0; si < 2; si++) {
            const eos_dataset *ds = sets[si];
            double mmin = INFINITY, perp = 0;
            for (int i = 0; i < ds->n; i++) {
                double ux = 0, xx = 0;
                for (int j = 0; j < D; j++) {
                    ux += u[j] * ds->X[i * D + j];
                    xx += (double)ds->X[i * D + j] * ds->X[i * D + j];
                }
                mmin = fmin(mmin, ds->Y[i] * ux);
                perp += (xx - ux * ux) / ds->n;
            }
            EXPECT(mmin >= gamma - 1e-5 && mmin < gamma + 0.03, "%s: margin of u %.6g, want %g",
                   si ? "test" : "train", mmin, gamma);
            EXPECT(fabs(perp - (D - 1)) < 0.1 * (D - 1), "%s: E |x - (u'x) u|^2 = %g, want %d",
                   si ? "test" : "train", perp, D - 1);
        }
        EXPECT(memcmp(a.train.X, f.train.X, sizeof(real) * N * D) == 0, "label noise changed X");
        EXPECT(label_flips(&a.train, &f.train) == 100, "%d of %d labels flipped, want 100",
               label_flips(&a.train, &f.train), N);
        EXPECT(binary_labels_ok(&f.train) >= 0, "noisy labels");
        EXPECT(label_flips(&a.test, &f.test) == 0 &&
                   memcmp(a.test.X, f.test.X, sizeof(real) * NT * D) == 0,
               "the test set is clean");
    }
    eos_config c2 = c;
    EXPECT(eos_data_same(&c, &c2), "eos_data_same of a copy");
    c2.data.margin = 0.4;
    EXPECT(!eos_data_same(&c, &c2), "another margin is other data");
    c2 = c;
    c2.data.label_noise = 0.2;
    EXPECT(!eos_data_same(&c, &c2), "another label_noise is other data");
    eos_data_free(&a);
    eos_data_free(&b);
    eos_data_free(&e);
    eos_data_free(&f);
    c.data.label_noise = 0.6;
    expect_fail(&c, EOS_ERR_CONFIG, "data.label_noise", "label_noise 0.6");
    c.data.label_noise = 0;
    c.loss = EOS_LOSS_XENT;
    expect_fail(&c, EOS_ERR_CONFIG, "loss: xent", "separable with xent");
}

/* xor-clusters: with clusters 20 noise stds away from the origin, the label is the XOR rule
 * |x_1| > |x_2| (mu_1 = margin e_1, mu_2 = margin e_2) on every clean example; the four
 * clusters are equally likely; the other coordinates are N(0, 1); label_noise flips exactly
 * round(label_noise n) training labels. */
static void test_xor(void)
{
    enum { D = 5, N = 2000, NT = 200 };
    eos_config c;
    eos_data a, f;
    base_cfg(&c, "xor-clusters");
    c.seed = 9;
    c.data.dim = D;
    c.data.n_train = N;
    c.data.n_test = NT;
    c.data.margin = 20;
    EXPECT(eos_data_load(&a, &c) == 0, "%s", eos_error_msg());
    c.data.label_noise = 0.05;
    EXPECT(eos_data_load(&f, &c) == 0, "%s", eos_error_msg());
    if (a.train.X && f.train.X && a.test.X) {
        expect_info_matches(&c, &a);
        EXPECT(binary_labels_ok(&a.train) >= 0 && binary_labels_ok(&f.train) >= 0, "labels");
        const eos_dataset *sets[2] = {&a.train, &a.test};
        for (int si = 0; si < 2; si++) {
            const eos_dataset *ds = sets[si];
            int bad = 0, cl[4] = {0};
            for (int i = 0; i < ds->n; i++) {
                const real *x = ds->X + (size_t)i * D;
                int first = fabs(x[0]) > fabs(x[1]);
                bad += (ds->Y[i] > 0) != first;
                cl[first ? (x[0] < 0) : 2 + (x[1] < 0)]++;
            }
            EXPECT(bad == 0, "%s: %d labels break the XOR rule", si ? "test" : "train", bad);
            for (int k = 0; si == 0 && k < 4; k++)
                EXPECT(abs(cl[k] - N / 4) < 4 * 20, "cluster %d: %d of %d", k, cl[k], N);
        }
        double m = 0, v = 0;
        for (int i = 0; i < N; i++)
            for (int j = 2; j < D; j++) m += a.train.X[i * D + j], v += a.train.X[i * D + j] * a.train.X[i * D + j];
        m /= N * (D - 2), v /= N * (D - 2);
        EXPECT(fabs(m) < 0.05 && fabs(v - 1) < 0.06, "noise coordinates: mean %g var %g", m, v);
        EXPECT(label_flips(&a.train, &f.train) == 100, "%d labels flipped, want 100",
               label_flips(&a.train, &f.train));
        EXPECT(label_flips(&a.test, &f.test) == 0, "the test set is clean");
    }
    eos_data_free(&a);
    eos_data_free(&f);
    c.data.dim = 1;
    expect_fail(&c, EOS_ERR_CONFIG, "data.dim", "xor-clusters dim 1");
}

/* Every prompt: query y slot 0; w solved from the first dim tokens explains all tokens and Y. */
static int check_prompts(const eos_dataset *ds, int nc, int dim, double *max_err)
{
    int row = dim + 1, bad = 0;
    *max_err = 0;
    for (int i = 0; i < ds->n; i++) {
        const real *Z = ds->X + (size_t)i * ds->d;
        double A[16 * 16], b[16], w[16];
        for (int t = 0; t < dim; t++) {
            for (int j = 0; j < dim; j++) A[t * dim + j] = Z[t * row + j];
            b[t] = Z[t * row + dim];
        }
        solve(A, b, w, dim);
        bad += Z[nc * row + dim] != 0;
        for (int t = 0; t <= nc; t++) {
            double p = 0;
            for (int j = 0; j < dim; j++) p += w[j] * Z[t * row + j];
            double y = t < nc ? Z[t * row + dim] : ds->Y[i];
            *max_err = fmax(*max_err, fabs(p - y) / (1 + fabs(y)));
        }
    }
    return bad;
}

static void test_icl(void)
{
    enum { DIM = 4, NC = 12, N = 300 };
    eos_config c;
    eos_data a, b;
    base_cfg(&c, "icl-regression");
    c.seed = 11;
    c.data.dim = DIM;
    c.data.n_context = NC;
    c.data.n_train = N;
    c.data.n_test = 20;
    c.data.sigma_decay = 0.5;
    c.data.standardize = 1; /* ignored for prompts */
    EXPECT(eos_data_load(&a, &c) == 0, "%s", eos_error_msg());
    EXPECT(eos_data_load(&b, &c) == 0, "%s", eos_error_msg());
    EXPECT(same_bytes(&a, &b), "same seed gave different prompts");
    eos_data_free(&b);
    if (!a.train.X) return;
    EXPECT(a.train.d == (NC + 1) * (DIM + 1) && a.train.n_out == 1 && a.train.n == N && a.test.n == 20,
           "shapes: d %d", a.train.d);
    EXPECT(shape_is(&a.train, EOS_LAYOUT_TOKENS, NC + 1, DIM + 1, 0) &&
               shape_is(&a.test, EOS_LAYOUT_TOKENS, NC + 1, DIM + 1, 0),
           "prompts are tokens [n_context + 1, dim + 1]");
    expect_info_matches(&c, &a);
    EXPECT(!eos_data_online(&c), "data.online is off");
    c.data.online = 1;
    EXPECT(eos_data_online(&c), "icl-regression draws fresh prompts");
    c.data.online = 0;
    double err;
    int bad = check_prompts(&a.train, NC, DIM, &err);
    EXPECT(bad == 0 && err < 1e-3, "train prompts: %d nonzero query slots, max rel error %g", bad, err);
    bad = check_prompts(&a.test, NC, DIM, &err);
    EXPECT(bad == 0 && err < 1e-3, "test prompts: %d nonzero query slots, max rel error %g", bad, err);
    /* Sigma = diag(0.5^j): feature variances over all tokens */
    for (int j = 0; j < DIM; j++) {
        double v = 0;
        for (int i = 0; i < N; i++)
            for (int t = 0; t <= NC; t++) {
                double x = a.train.X[(size_t)i * a.train.d + t * (DIM + 1) + j];
                v += x * x;
            }
        v /= N * (NC + 1);
        EXPECT(fabs(v / pow(0.5, j) - 1) < 0.1, "feature %d variance %g, expected %g", j, v, pow(0.5, j));
    }
    /* online redraw: fresh prompts in place, same layout */
    eos_rng r;
    eos_rng_init(&r, 11, EOS_RNG_STREAM_ONLINE);
    real first = a.train.X[0];
    EXPECT(eos_data_draw(&a.train, &c, &r) == 0, "%s", eos_error_msg());
    EXPECT(a.train.X[0] != first, "redraw did not change the prompts");
    bad = check_prompts(&a.train, NC, DIM, &err);
    EXPECT(bad == 0 && err < 1e-3, "redrawn prompts: %d, %g", bad, err);
    /* with noise, tokens no longer fit one w exactly (the check can fail) */
    c.data.noise = 0.3;
    EXPECT(eos_data_draw(&a.train, &c, &r) == 0, "%s", eos_error_msg());
    check_prompts(&a.train, NC, DIM, &err);
    EXPECT(err > 0.05, "noisy prompts fit exactly (max rel error %g)", err);
    c.data.dim = DIM + 1;
    EXPECT(eos_data_draw(&a.train, &c, &r) == EOS_ERR_INTERNAL, "size mismatch not caught");
    eos_data_free(&a);
}

/* Results must not depend on the thread count (standardisation statistics, teacher outputs). */
static void test_threads(void)
{
#ifdef _OPENMP
    char img[512], lab[512];
    tpath(img, sizeof img, "thr_img.idx3.gz");
    tpath(lab, sizeof lab, "thr_lab.idx1.gz");
    enum { N = 300, D = 150 }; /* D spans several feature blocks */
    unsigned char *pix = malloc(N * D), lb[N];
    unsigned s = 12345;
    for (int k = 0; k < N * D; k++) pix[k] = (unsigned char)((s = s * 1103515245u + 12345u) >> 24);
    for (int i = 0; i < N; i++) lb[i] = (unsigned char)(i % 3);
    int di[3] = {N, 10, 15}, dl[1] = {N};
    write_idx(img, 1, 3, di, pix, N * D);
    write_idx(lab, 1, 1, dl, lb, N);
    free(pix);
    eos_config ci, ct;
    base_cfg(&ci, "mnist-idx");
    strcpy(ci.data.path, img);
    strcpy(ci.data.labels, lab);
    ci.data.standardize = 1;
    base_cfg(&ct, "teacher-student");
    ct.data.dim = 20, ct.data.n_out = 3, ct.data.teacher_hidden = 30, ct.data.n_train = 500;
    ct.data.standardize = 1;
    eos_data ref_i, ref_t, d;
    omp_set_num_threads(1);
    EXPECT(eos_data_load(&ref_i, &ci) == 0, "%s", eos_error_msg());
    EXPECT(eos_data_load(&ref_t, &ct) == 0, "%s", eos_error_msg());
    for (int t = 2; t <= 3; t++) {
        omp_set_num_threads(t);
        EXPECT(eos_data_load(&d, &ci) == 0 && same_bytes(&d, &ref_i), "IDX differs with %d threads", t);
        eos_data_free(&d);
        EXPECT(eos_data_load(&d, &ct) == 0 && same_bytes(&d, &ref_t), "teacher differs with %d threads", t);
        eos_data_free(&d);
    }
    eos_data_free(&ref_i);
    eos_data_free(&ref_t);
#else
    fprintf(stderr, "    skipped: built without OpenMP\n");
#endif
}

/* The configuration-time file check: every file the source will read, blamed on the key that
 * names it (data.source for Fashion-MNIST's default directory). */
static void expect_files(const eos_config *c, int ok, const char *key_want, const char *needle)
{
    const char *key = NULL;
    eos_error_clear();
    int rc = eos_data_check_files(c, &key);
    if (ok) {
        EXPECT(rc == 0 && key == NULL, "files of %s: %s", eos_data_source_name(c->data.source),
               eos_error_msg());
        return;
    }
    EXPECT(rc == EOS_ERR_IO && key && strcmp(key, key_want) == 0, "rc %d, key %s (want %s)", rc,
           key ? key : "(none)", key_want);
    EXPECT(strncmp(eos_error_msg(), key_want, strlen(key_want)) == 0 &&
               strstr(eos_error_msg(), needle) && strstr(eos_error_msg(), "No such file"),
           "message '%s' (want '%s: ...%s...')", eos_error_msg(), key_want, needle);
}

static void test_check_files(void)
{
    char dir[256], f[700];
    eos_config c;
    tpath(dir, sizeof dir, "files");
    mkdir(dir, 0700);
    /* fashion-mnist in a directory of unpacked training files only */
    snprintf(f, sizeof f, "%s/train-images-idx3-ubyte", dir);
    write_file(f, "x", 1, 0);
    snprintf(f, sizeof f, "%s/train-labels-idx1-ubyte.gz", dir);
    write_file(f, "x", 1, 0);
    base_cfg(&c, "fashion-mnist");
    EXPECT(eos_data_needs_files(&c), "fashion-mnist reads files");
    strcpy(c.data.path, dir);
    expect_files(&c, 1, NULL, NULL);
    c.data.n_test = 5;
    expect_files(&c, 0, "data.path", "files/t10k-images-idx3-ubyte.gz");
    c.data.n_test = 0;
    tpath(c.data.path, sizeof c.data.path, "nodir");
    expect_files(&c, 0, "data.path", "nodir/train-images-idx3-ubyte.gz");
    c.data.path[0] = '\0';
    if (access(FASHION "/train-images-idx3-ubyte.gz", R_OK) == 0) expect_files(&c, 1, NULL, NULL);
    else expect_files(&c, 0, "data.source", FASHION);
    /* mnist-idx: images and labels, the test pair when there is a test set */
    base_cfg(&c, "mnist-idx");
    snprintf(c.data.path, sizeof c.data.path, "%s/train-images-idx3-ubyte", dir);
    snprintf(c.data.labels, sizeof c.data.labels, "%s/labels", dir);
    expect_files(&c, 0, "data.labels", "files/labels");
    snprintf(c.data.labels, sizeof c.data.labels, "%s/train-labels-idx1-ubyte.gz", dir);
    expect_files(&c, 1, NULL, NULL);
    snprintf(c.data.test_path, sizeof c.data.test_path, "%s", c.data.path);
    snprintf(c.data.test_labels, sizeof c.data.test_labels, "%s/tl", dir);
    expect_files(&c, 1, NULL, NULL); /* no test set: the test files are not read */
    c.data.n_test = 1;
    expect_files(&c, 0, "data.test_labels", "files/tl");
    /* cifar10: the directory (or file) and a separate test file */
    base_cfg(&c, "cifar10");
    strcpy(c.data.path, dir);
    expect_files(&c, 1, NULL, NULL);
    c.data.n_test = 1;
    snprintf(c.data.test_path, sizeof c.data.test_path, "%s/test.bin", dir);
    expect_files(&c, 0, "data.test_path", "files/test.bin");
    /* hdf5 */
    base_cfg(&c, "hdf5");
    snprintf(c.data.path, sizeof c.data.path, "%s/d.h5", dir);
    expect_files(&c, 0, "data.path", "files/d.h5");
    /* drawn from the seed: no files */
    const char *drawn[] = {"synthetic-linear", "teacher-student", "icl-regression"};
    for (int i = 0; i < 3; i++) {
        base_cfg(&c, drawn[i]);
        strcpy(c.data.path, "/nonexistent");
        EXPECT(!eos_data_needs_files(&c), "%s reads no files", drawn[i]);
        expect_files(&c, 1, NULL, NULL);
    }
}

static void test_same_and_free(void)
{
    eos_config a, b;
    base_cfg(&a, "fashion-mnist");
    a.data.n_train = 1000;
    a.data.standardize = 1;
    b = a;
    b.seed = 99;
    b.train.lr = 0.5;
    EXPECT(eos_data_same(&a, &b), "seed/lr should not matter for a file source");
    b.data.n_train = 999;
    EXPECT(!eos_data_same(&a, &b), "n_train differs");
    b = a;
    strcpy(b.data.path, "/elsewhere");
    EXPECT(!eos_data_same(&a, &b), "path differs");
    b = a;
    b.data.standardize = 0;
    EXPECT(!eos_data_same(&a, &b), "standardize differs");
    base_cfg(&a, "synthetic-linear");
    a.data.dim = 3;
    a.data.n_train = 10;
    b = a;
    EXPECT(eos_data_same(&a, &b), "identical synthetic configs");
    b.seed = 2;
    EXPECT(!eos_data_same(&a, &b), "seed matters for synthetic data");
    b = a;
    b.data.noise = 0.1;
    EXPECT(!eos_data_same(&a, &b), "noise differs");

    eos_data z;
    memset(&z, 0, sizeof z);
    eos_data_free(&z);
    eos_data_free(&z);
    eos_data_free(NULL);
    base_cfg(&a, "fashion-mnist");
    a.data.source = 42;
    expect_fail(&a, EOS_ERR_CONFIG, "data.source", "unknown source");
}

static int rm_entry(const char *p, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb, (void)type, (void)ftw;
    return remove(p);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/eos_test_data_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    TEST_RUN(test_fashion);
    TEST_RUN(test_idx);
    TEST_RUN(test_cifar);
    TEST_RUN(test_hdf5);
    TEST_RUN(test_synth_linear);
    TEST_RUN(test_teacher);
    TEST_RUN(test_icl);
    TEST_RUN(test_separable);
    TEST_RUN(test_xor);
    TEST_RUN(test_threads);
    TEST_RUN(test_check_files);
    TEST_RUN(test_same_and_free);
    nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return TEST_SUMMARY();
}
