/* eos_data.h: datasets in memory, loaded once per distinct data configuration.
 *
 * Every data source is one row of the table in src/data/sources.c (one file per source family in
 * src/data/); `data.source` stores the row's index. Nothing outside src/data/ names a source:
 * the rest of the program asks the table through the functions below. */
#ifndef EOS_DATASETS_H
#define EOS_DATASETS_H

#include <stddef.h>

#include "eos_common.h"
#include "eos_config.h"
#include "eos_rng.h"

/* How the d features of one example (a row of X) are laid out, so that a model reads what it
 * needs: a convolution the image planes, attention the tokens, a dense network nothing (it
 * flattens). */
typedef enum {
    EOS_LAYOUT_UNKNOWN = 0, /* configuration time only: the files decide (e.g. an HDF5 X's rank) */
    EOS_LAYOUT_FLAT,        /* dim[0] features without structure */
    EOS_LAYOUT_IMAGE,       /* dim = [C, H, W], channel-major (x[(c H + h) W + w]) */
    EOS_LAYOUT_TOKENS       /* dim = [n_tokens, token_dim], token-major (x[t token_dim + j]) */
} eos_layout;

#define EOS_SHAPE_MAX_RANK 3
typedef struct {
    eos_layout layout;
    int dim[EOS_SHAPE_MAX_RANK]; /* flat 1, tokens 2, image 3 entries; unused entries 0; at
                                  * configuration time 0 = not known before loading */
} eos_shape;

/* Features per example: the product of the dims (0 if the layout or a dim is unknown). */
long eos_shape_size(const eos_shape *s);
/* "image [1, 28, 28]", "tokens [21, 6]", "flat [10]", "image of a size the files give", ... */
void eos_shape_text(const eos_shape *s, char *buf, size_t len);

typedef struct {
    int n;          /* examples */
    int d;          /* input features (= eos_shape_size(&shape)) */
    int n_out;      /* model outputs (classes for classification) */
    int n_classes;  /* > 0: classification, Y is one-hot and label[] is set; 0: regression */
    eos_shape shape;/* layout of the d features */
    real *X;        /* [n, d] row-major */
    real *Y;        /* [n, n_out] targets (one-hot with zeros elsewhere for classification) */
    int *label;     /* [n] class labels, NULL for regression */
} eos_dataset;

typedef struct {
    eos_dataset train;
    eos_dataset test; /* n == 0 when there is no test set */
} eos_data;

/* Name of data source i (the value text of data.source), NULL past the last one. Row 0 is the
 * default source. */
const char *eos_data_source_name(int i);

/* What the configuration tells of the data before anything is read. */
typedef struct {
    eos_shape shape;  /* input layout; EOS_LAYOUT_UNKNOWN or dims 0 where only the files tell */
    int n_out;        /* outputs per example; 0 = only the files tell */
    long n_train;     /* training examples (data.n_train, or the source's known size for 0);
                       * -1 = only the files tell */
    int regression;   /* the targets are real-valued whatever the files hold (no xent) */
} eos_data_info;

/* Configuration-time checks of the data section (the keys the source needs, its known sizes,
 * data.online only where the source draws fresh examples), with what is known of the data. On
 * failure returns EOS_ERR_CONFIG with a message "key: ..." and points *key at that key's path. */
int eos_data_check(const eos_config *cfg, eos_data_info *info, const char **key);
/* eos_data_check's info with every unknown replaced by an assumption, for ordering runs by
 * expected cost only: 784 features (flat if the source says flat, else a 1 x 28 x 28 image, so
 * that a convolutional network on an HDF5 file of unknown rank has a cost), 10 outputs and 60,000
 * training examples, an MNIST-sized file (a source reading files of any size knows its size only
 * once it has read them). */
int eos_data_estimate(const eos_config *cfg, eos_data_info *info);
/* True if the source reads files (they can be missing or corrupt; synthetic data cannot). */
int eos_data_needs_files(const eos_config *cfg);
/* Every file the source will read exists and is readable (a cheap check before loading): on
 * failure EOS_ERR_IO, a message "key: file: reason" and *key = the key that names the file
 * (data.source when it is the source's default location). */
int eos_data_check_files(const eos_config *cfg, const char **key);

/* Load (or synthesise) the data described by cfg->data, using cfg->seed for synthetic sources.
 * Images are scaled to [0,1] (divided by 255); then center/standardize use the training
 * statistics for both sets (sources whose examples have a structure, like prompts, are never
 * normalised). Errors name the file and what is wrong, e.g.
 * "/path/train-images-idx3-ubyte.gz: truncated: expected 47040000 bytes of pixels, got 1000". */
int eos_data_load(eos_data *data, const eos_config *cfg);
void eos_data_free(eos_data *data);

/* True if two configurations load identical data (so a worker can keep its cache). */
int eos_data_same(const eos_config *a, const eos_config *b);

/* True if training draws fresh examples every step (data.online, on a source that can). */
int eos_data_online(const eos_config *cfg);
/* Refill an allocated dataset (ds->n examples of the training set's shape and outputs) with
 * fresh examples drawn from rng, for online training. They are never centred or standardised. */
int eos_data_draw(eos_dataset *ds, const eos_config *cfg, eos_rng *rng);

#endif
