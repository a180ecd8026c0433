/* eos_data.h: datasets in memory, loaded once per distinct data configuration. */
#ifndef EOS_DATA_H
#define EOS_DATA_H

#include "eos_common.h"
#include "eos_config.h"
#include "eos_rng.h"

typedef struct {
    int n;          /* examples */
    int d;          /* input features */
    int n_out;      /* model outputs (classes for classification) */
    int n_classes;  /* > 0: classification, Y is one-hot and label[] is set; 0: regression */
    real *X;        /* [n, d] row-major */
    real *Y;        /* [n, n_out] targets (one-hot with zeros elsewhere for classification) */
    int *label;     /* [n] class labels, NULL for regression */
} eos_dataset;

typedef struct {
    eos_dataset train;
    eos_dataset test; /* n == 0 when there is no test set */
} eos_data;

/* Load (or synthesise) the data described by cfg->data, using cfg->seed for synthetic sources.
 * Images are scaled to [0,1] (divided by 255); then center/standardize use the training
 * statistics for both sets. Errors name the file and what is wrong, e.g.
 * "/path/train-images-idx3-ubyte.gz: truncated: expected 47040000 bytes of pixels, got 1000". */
int eos_data_load(eos_data *data, const eos_config *cfg);
void eos_data_free(eos_data *data);

/* True if two configurations load identical data (so a worker can keep its cache). */
int eos_data_same(const eos_config *a, const eos_config *b);

/* In-context regression (EOS_DATA_ICL_REGRESSION): refill the prompts of an already-allocated
 * dataset (ds->n prompts, ds->d = (n_context+1)*(dim+1), n_out 1) with fresh ones drawn from rng,
 * for online training. Prompts are never centred or standardised (the query's y slot stays 0). */
int eos_data_icl_draw(eos_dataset *ds, const eos_config *cfg, eos_rng *rng);

#endif
