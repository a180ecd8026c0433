/* cifar.c: data.source cifar10, the CIFAR-10 binary version: records of 1 label byte + 3072 pixel
 * bytes (channel-major 3 x 32 x 32), data.path a directory with data_batch_1..5.bin and
 * test_batch.bin, or one .bin file. */
#define _POSIX_C_SOURCE 200809L
#include "data_impl.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define CIFAR_CLASSES 10
#define CIFAR_C 3
#define CIFAR_SIDE 32
#define CIFAR_D (CIFAR_C * CIFAR_SIDE * CIFAR_SIDE)
#define CIFAR_REC (CIFAR_D + 1)
#define CIFAR_BATCHES 5
#define CIFAR_N_TRAIN 50000
#define CIFAR_N_TEST 10000

static const eos_shape cifar_shape = {EOS_LAYOUT_IMAGE, {CIFAR_C, CIFAR_SIDE, CIFAR_SIDE}};

static int cifar_count(const char *path, int *count)
{
    int rc = 0;
    struct stat st;
    EOS_TRY(eos_data_file_check(path));
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
        EOS_CHECK(rec[0] < CIFAR_CLASSES, EOS_ERR_FORMAT,
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

static int cifar_load(eos_data *data, const eos_config *cfg)
{
    int rc = 0;
    const eos_data_cfg *dc = &cfg->data;
    char files[CIFAR_BATCHES][EOS_PATH_MAX + 32];
    int counts[CIFAR_BATCHES], n_files = 0, total = 0;
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
    EOS_TRY(eos_data_ds_alloc(&data->train, n, CIFAR_D, CIFAR_CLASSES, CIFAR_CLASSES));
    data->train.shape = cifar_shape;
    for (int b = 0, row = 0; b < n_files && row < n; b++) {
        int take = n - row < counts[b] ? n - row : counts[b];
        EOS_TRY(cifar_read(&data->train, row, files[b], take));
        row += take;
    }
    eos_data_ds_one_hot(&data->train);

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
        EOS_TRY(eos_data_ds_alloc(&data->test, dc->n_test, CIFAR_D, CIFAR_CLASSES, CIFAR_CLASSES));
        data->test.shape = cifar_shape;
        EOS_TRY(cifar_read(&data->test, 0, tpath, dc->n_test));
        eos_data_ds_one_hot(&data->test);
    }
fail:
    return rc;
}

static int cifar_check(const eos_config *cfg, eos_data_info *info, const char **key)
{
    int rc = 0;
    EOS_TRY(eos_data_need_key("data.path", cfg->data.path, "cifar10", key));
    info->shape = cifar_shape;
    info->n_out = CIFAR_CLASSES;
fail:
    return rc;
}

static int cifar_check_files(const eos_config *cfg, const char **key)
{
    int rc = 0;
    const eos_data_cfg *dc = &cfg->data;
    EOS_TRY(eos_data_need_file("data.path", dc->path, is_dir(dc->path), key));
    if (dc->n_test > 0 && dc->test_path[0])
        EOS_TRY(eos_data_need_file("data.test_path", dc->test_path, 0, key));
fail:
    return rc;
}

const eos_data_source eos_data_source_cifar10 = {
    .name = "cifar10",
    .needs_files = 1,
    .normalise = 1,
    .n_train_max = CIFAR_N_TRAIN,
    .n_test_max = CIFAR_N_TEST,
    .check = cifar_check,
    .check_files = cifar_check_files,
    .load = cifar_load,
};
