/* data_impl.h: what a data source implements to plug into eos_data (internal to src/data/).
 *
 * A source is one row (eos_data_source) defined at the end of its family's file (idx.c, cifar.c,
 * hdf5.c, synthetic.c, in_context.c) and listed once in sources.c, whose order gives the values
 * of data.source. data.c holds what every source shares: allocation, normalisation and the
 * dispatch behind include/eos_data.h. */
#ifndef EOS_DATASETS_IMPL_H
#define EOS_DATASETS_IMPL_H

#include "eos_data.h"

typedef struct {
    const char *name;     /* data.source value */
    int needs_files;      /* reads files (the sweep checks they exist, the scheduler loads them
                           * once before any output); otherwise drawn from cfg->seed */
    int regression;       /* targets are always real-valued: xent is refused */
    int normalise;        /* data.center/standardize apply (not to structured examples) */
    int n_train_max;      /* known size of the training set (bounds data.n_train, gives the size
                           * for n_train 0); 0 = only the files tell */
    int n_test_max;       /* known size of the test set; 0 = only the files tell */
    /* The keys this source needs (no file is read), and the shape and outputs they determine
     * (info->shape, info->n_out; leave unknowns 0). Fails with "key: ..." and sets *key. */
    int (*check)(const eos_config *cfg, eos_data_info *info, const char **key);
    /* Each file the source will read exists (see eos_data_check_files); NULL: no files. */
    int (*check_files)(const eos_config *cfg, const char **key);
    /* Fill data->train (and data->test when data.n_test > 0), shapes included. */
    int (*load)(eos_data *data, const eos_config *cfg);
    /* Redraw the examples of an allocated dataset from rng (online training); NULL: the source
     * has a fixed set (data.online is refused). */
    int (*draw)(eos_dataset *ds, const eos_config *cfg, eos_rng *rng);
} eos_data_source;

/* The row of cfg->data.source, NULL if it is out of range (sources.c). */
const eos_data_source *eos_data_source_of(const eos_config *cfg);

/* ---- shared by the sources (data.c) ---- */

/* Allocate X, Y (and label[] for n_classes > 0) and set the sizes; a flat shape of d features
 * (the caller sets another layout). */
int eos_data_ds_alloc(eos_dataset *ds, int n, int d, int n_out, int n_classes);
/* Set the one-hot rows of Y from label[] (labels range-checked by the caller). */
void eos_data_ds_one_hot(eos_dataset *ds);
/* path exists and is a regular file (EOS_ERR_IO naming it otherwise). */
int eos_data_file_check(const char *path);
/* Configuration-time: path (the value of key) can be read, as a directory when dir != 0;
 * EOS_ERR_IO "key: path: reason" and *out = key otherwise. */
int eos_data_need_file(const char *key, const char *path, int dir, const char **out);
/* Configuration-time: a string key must be set; EOS_ERR_CONFIG "key: required for data.source
 * NAME" and *out = key otherwise. */
int eos_data_need_key(const char *key, const char *value, const char *source, const char **out);

/* Configuration-time: what every source drawn from the seed needs (data.n_train >= 1, data.dim
 * >= 1, data.noise finite and >= 0); `source` names the source in the messages. */
int eos_data_check_drawn(const eos_config *cfg, const char *source, const char **key);

#endif
