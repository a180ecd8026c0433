/* eos_train.h: one run of one configuration, and everything the results file keeps of it. */
#ifndef EOS_TRAIN_H
#define EOS_TRAIN_H

#include <math.h> /* NAN, in EOS_RESULT_COLUMNS */
#include <signal.h>
#include "eos_common.h"
#include "eos_config.h"
#include "eos_curv.h"
#include "eos_data.h"

/* A run's status, /runs/status of the results file (an HDF5 enum of these names, which the
 * scheduler's log and analysis also use): X(ID, name) gives EOS_RUN_ID = its value. */
#define EOS_RUN_STATUSES(X)                                                                        \
    X(PENDING, pending)                                                                            \
    X(DONE, done)                                                                                  \
    X(DIVERGED, diverged)                                                                          \
    X(FAILED, failed)

#define EOS_RUN_ENUM(id, name) EOS_RUN_##id,
typedef enum { EOS_RUN_STATUSES(EOS_RUN_ENUM) EOS_RUN_N_STATUSES } eos_run_status;
#undef EOS_RUN_ENUM
extern const char *const eos_run_status_names[EOS_RUN_N_STATUSES];

/* The numeric per-run result columns, /runs/<name> of the results file, one list for the result
 * struct, the file (each column holds its fill until the run is written; the root attributes
 * result_columns and result_fill list them for readers) and the tests:
 * X(ID, name, C type, file type (I64, F64, I32), fill). message and status follow them; new ones
 * go last (files made before them resume without them). */
#define EOS_RESULT_COLUMNS(X)                                                                      \
    X(STEPS, steps, long, I64, 0)                     /* optimizer steps taken */                  \
    X(FINAL_LOSS, final_loss, double, F64, NAN)                                                    \
    X(FINAL_ACC, final_acc, double, F64, NAN)                                                      \
    X(FINAL_TEST_LOSS, final_test_loss, double, F64, NAN)                                          \
    X(FINAL_TEST_ACC, final_test_acc, double, F64, NAN)                                            \
    X(FINAL_SHARPNESS, final_sharpness, double, F64, NAN)                                          \
    X(DIVERGED_STEP, diverged_step, long, I64, -1)    /* -1 if the run did not diverge */          \
    X(WALL_SECONDS, wall_seconds, double, F64, NAN)                                                \
    X(RANK, rank, int, I32, -1)                       /* MPI rank that trained it (sweep engine) */\
    X(SEPARATED_STEP, separated_step, long, I64, -1)  /* logistic: first step at 100 % accuracy */

#define EOS_MSG_MAX 256

/* The record trajectories, /traj/<name> of the results file, one list for the result struct, the
 * file and its readers: X(ID, name) gives EOS_TRAJ_ID, the field res->name and eos_traj_names. */
#define EOS_TRAJ_COLUMNS(X)                                                                        \
    X(LOSS, loss)           /* mean training loss over the training set */                       \
    X(ACC, acc)             /* training accuracy (NaN for regression) */                         \
    X(GRAD_NORM, grad_norm) /* norm of the full-batch gradient */                                \
    X(TEST_LOSS, test_loss) /* mean test loss (NaN without a test set) */                        \
    X(TEST_ACC, test_acc)   /* test accuracy */                                                  \
    X(LR, lr)               /* the lr in force at the step (train.schedule, warm-up) */          \
    X(THRESHOLD, threshold) /* the optimizer's stability threshold at that lr */                 \
    X(FLOW_SUBSTEPS, flow_substeps) /* flow: RK4 sub-steps of the update from the step */        \
    X(MARGIN, margin)       /* logistic: min_i y_i f(x_i) / ||w||_2 on the training set */       \
    X(MARGIN_P, margin_p)   /* the same over ||w||_p, p = train.p, for optimizers that use p */

#define EOS_TRAJ_ENUM(id, name) EOS_TRAJ_##id,
typedef enum { EOS_TRAJ_COLUMNS(EOS_TRAJ_ENUM) EOS_TRAJ_N } eos_traj_column;
#undef EOS_TRAJ_ENUM
extern const char *const eos_traj_names[EOS_TRAJ_N];
/* The columns from this one on came after the first format_version 1 files: a file without them
 * (made by a sweep that cannot have set a schedule) resumes, and they are not written there. */
#define EOS_TRAJ_FIRST_OPTIONAL EOS_TRAJ_LR
/* Likewise the result columns from separated_step on (results.c's C_FIRST_OPTIONAL). */

/* Trajectory slots are fixed by the configuration: record slot j holds step j*record_every,
 * sharpness slot j holds step j*sharpness.every. Slots after the run stopped stay NaN. */
typedef struct {
    int status;           /* eos_run_status */
#define EOS_RESULT_FIELD(id, name, ctype, ftype, fill) ctype name;
    EOS_RESULT_COLUMNS(EOS_RESULT_FIELD)
#undef EOS_RESULT_FIELD
    char message[EOS_MSG_MAX];

    int cap_rec;          /* record slots: max_steps/record_every + 1 */
    int n_rec;            /* slots filled */
#define EOS_TRAJ_FIELD(id, name) float *name;
    union {
        float *traj[EOS_TRAJ_N];                  /* [cap_rec] each, EOS_TRAJ_COLUMNS order */
        struct { EOS_TRAJ_COLUMNS(EOS_TRAJ_FIELD) }; /* the same by name */
    };
#undef EOS_TRAJ_FIELD
    int n_proj;           /* record.projections */
    float *proj;          /* [cap_rec, n_proj] the iterate along each direction (NULL if none) */

    int cap_sharp;        /* sharpness slots: max_steps/every + 1 (0 if off) */
    int n_sharp;
    eos_curv_traj sharp;  /* every curvature probe's values and the HVPs spent (eos_curv.h) */

    size_t n_values;      /* floats in the one buffer of every trajectory, from traj[0] */
    long resumed_from;    /* the step a checkpoint let the run continue from (0: the start) */
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

    /* Mid-run checkpoints (docs/checkpoints.md), off when ckpt_path is NULL: the run continues
     * from a valid checkpoint at ckpt_path (one that does not match is reported through on_note
     * and ignored), and saves one there before a step when it is stopped and every ckpt_every
     * seconds of its wall time (0: only when stopped). sweep_sha and run identify it. The caller
     * deletes the file once the run's result is stored. */
    const char *ckpt_path;
    double ckpt_every;
    const char *sweep_sha;
    long run;
    void (*on_note)(void *ctx, const char *line); /* NULL: lines go to stderr */
} eos_train_hooks;

/* Train one configuration on data. Fills res (allocated by the caller with
 * eos_run_result_alloc). Divergence is a result (status diverged, return 0); a failure inside the
 * run (allocation, numeric breakdown in the eigensolver) sets status failed with a message and
 * also returns 0, so that a sweep goes on; only EOS_ERR_INTERRUPT and invalid arguments return
 * non-zero. */
int eos_train_run(const eos_config *cfg, const eos_data *data, eos_run_result *res,
                  const eos_train_hooks *hooks);

#endif
