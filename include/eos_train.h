/* eos_train.h: one run of one configuration, and everything the results file keeps of it. */
#ifndef EOS_TRAIN_H
#define EOS_TRAIN_H

#include <signal.h>
#include "eos_common.h"
#include "eos_config.h"
#include "eos_data.h"

typedef enum {
    EOS_RUN_PENDING = 0,
    EOS_RUN_DONE = 1,
    EOS_RUN_DIVERGED = 2,
    EOS_RUN_FAILED = 3
} eos_run_status;

#define EOS_MSG_MAX 256

/* Trajectory slots are fixed by the configuration: record slot j holds step j*record_every,
 * sharpness slot j holds step j*sharpness.every. Slots after the run stopped stay NaN. */
typedef struct {
    int status;           /* eos_run_status */
    long steps;           /* optimizer steps taken */
    double final_loss, final_acc, final_test_loss, final_test_acc, final_sharpness;
    long diverged_step;   /* -1 if the run did not diverge */
    double wall_seconds;
    int rank;             /* MPI rank that trained it (set by the sweep engine) */
    char message[EOS_MSG_MAX];

    int cap_rec;          /* record slots: max_steps/record_every + 1 */
    int n_rec;            /* slots filled */
    float *loss, *acc, *grad_norm, *test_loss, *test_acc; /* [cap_rec] */

    int cap_sharp;        /* sharpness slots: max_steps/every + 1 (0 if off) */
    int n_sharp;
    int k;
    float *eig;           /* [cap_sharp, k] top-k eigenvalues, descending */
    float *precond_eig;   /* [cap_sharp] top eigenvalue of P^-1/2 H P^-1/2 (adaptive only) */
    float *trace;         /* [cap_sharp] Hutchinson trace estimate */
    float *batch_sharp;   /* [cap_sharp] batch sharpness */
    float *dir_sharp;     /* [cap_sharp] directional sharpness of the update taken */
    int hvp_count;        /* HVPs spent on sharpness (for benchmarks) */
} eos_run_result;

/* Slot counts implied by a configuration. */
int eos_train_rec_slots(const eos_config *cfg);
int eos_train_sharp_slots(const eos_config *cfg);

/* Allocate the trajectory arrays for cfg, all NaN, status pending. */
int eos_run_result_alloc(eos_run_result *res, const eos_config *cfg);
void eos_run_result_free(eos_run_result *res);

/* Optional observer (the thin CLI prints records through it). */
typedef struct {
    void (*on_record)(void *ctx, long step, const eos_run_result *res, int slot);
    void (*on_sharp)(void *ctx, long step, const eos_run_result *res, int slot);
    /* Called once per step between updates; the sweep engine's rank 0 serves run requests
     * through it while it trains (no MPI inside the training code itself). */
    void (*on_step)(void *ctx);
    void *ctx;
    /* Set asynchronously (signal handler): the run stops at the next step and returns
     * EOS_ERR_INTERRUPT, leaving res pending. */
    volatile sig_atomic_t *stop;
} eos_train_hooks;

/* Train one configuration on data. Fills res (allocated by the caller with
 * eos_run_result_alloc). Divergence is a result (status diverged, return 0); a failure inside the
 * run (allocation, numeric breakdown in the eigensolver) sets status failed with a message and
 * also returns 0, so that a sweep goes on; only EOS_ERR_INTERRUPT and invalid arguments return
 * non-zero. */
int eos_train_run(const eos_config *cfg, const eos_data *data, eos_run_result *res,
                  const eos_train_hooks *hooks);

#endif
