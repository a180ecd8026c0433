/* eos_train.h: one run of one configuration, and everything the results file keeps of it. */
#ifndef EOS_TRAIN_H
#define EOS_TRAIN_H

#include <signal.h>
#include "eos_common.h"
#include "eos_config.h"
#include "eos_curv.h"
#include "eos_data.h"

typedef enum {
    EOS_RUN_PENDING = 0,
    EOS_RUN_DONE = 1,
    EOS_RUN_DIVERGED = 2,
    EOS_RUN_FAILED = 3
} eos_run_status;

#define EOS_MSG_MAX 256

/* The record trajectories, /traj/<name> of the results file, one list for the result struct, the
 * file and its readers: X(ID, name) gives EOS_TRAJ_ID, the field res->name and eos_traj_names. */
#define EOS_TRAJ_COLUMNS(X)                                                                        \
    X(LOSS, loss)           /* mean training loss over the training set */                       \
    X(ACC, acc)             /* training accuracy (NaN for regression) */                         \
    X(GRAD_NORM, grad_norm) /* norm of the full-batch gradient */                                \
    X(TEST_LOSS, test_loss) /* mean test loss (NaN without a test set) */                        \
    X(TEST_ACC, test_acc)   /* test accuracy */

#define EOS_TRAJ_ENUM(id, name) EOS_TRAJ_##id,
typedef enum { EOS_TRAJ_COLUMNS(EOS_TRAJ_ENUM) EOS_TRAJ_N } eos_traj_column;
#undef EOS_TRAJ_ENUM
extern const char *const eos_traj_names[EOS_TRAJ_N];

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
#define EOS_TRAJ_FIELD(id, name) float *name;
    union {
        float *traj[EOS_TRAJ_N];                  /* [cap_rec] each, EOS_TRAJ_COLUMNS order */
        struct { EOS_TRAJ_COLUMNS(EOS_TRAJ_FIELD) }; /* the same by name */
    };
#undef EOS_TRAJ_FIELD

    int cap_sharp;        /* sharpness slots: max_steps/every + 1 (0 if off) */
    int n_sharp;
    eos_curv_traj sharp;  /* every curvature probe's values and the HVPs spent (eos_curv.h) */
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
