/* eos_optim.h: optimizers that update a flat parameter vector in place.
 *
 * Every optimizer is one row of the table in src/optim/optim.c (name, state vectors, step,
 * preconditioner, stability threshold, full-batch only); train.optimizer is the row's index. The
 * rows' functions live in one file per family in src/optim/ (the interface: optim_impl.h). */
#ifndef EOS_OPTIM_H
#define EOS_OPTIM_H

#include "eos_common.h"
#include "eos_config.h"

/* g [n] = gradient at w [n] of the loss on the batch of the step's own gradient (SAM and USAM
 * take their second gradient through it). Returns 0 or a status. */
typedef struct {
    int (*at)(void *ctx, const real *w, real *g);
    void *ctx;
} eos_optim_grad;

typedef struct eos_optim_method eos_optim_method; /* a row of the table */

typedef struct {
    const eos_optim_method *method;
    eos_train_cfg tc;  /* copy of the hyperparameters */
    size_t n;
    long t;            /* steps taken */
    double lr;         /* the lr in force for the step being taken (eos_optim_lr_at), the one
                          every row's step uses instead of tc.lr */
    double sharpness;  /* top Hessian eigenvalue of the latest measurement (NaN before one):
                          eos_optim_set_sharpness; flow sizes its sub-steps by it */
    long substeps;     /* sub-steps of the last step (flow); 0 for methods without them */
    real *state;       /* the method's state vectors, one buffer [n_state][n], zeroed */
} eos_optim;

/* The table, by train.optimizer index i. */
const char *eos_optim_name(int i);    /* NULL past the last row */
int eos_optim_find(const char *name); /* the row named so, -1 if none */
int eos_optim_is_adaptive(int i);     /* has a diagonal preconditioner (adam, adamw, rmsprop) */
int eos_optim_needs_sharpness(int i); /* steps with the latest sharpness (flow) */
int eos_optim_uses_p(int i);          /* steps in the geometry of ||w||_p, p = train.p (pgd) */

/* Stability threshold from the configuration: the sharpness above which the optimizer's update,
 * linearised on a quadratic, diverges (2/lr for GD). It applies to the preconditioned sharpness
 * (top eigenvalue of P^-1/2 H P^-1/2) when the optimizer is adaptive, else to the top Hessian
 * eigenvalue. Weight decay is not included. NaN where the configuration defines none. */
double eos_optim_threshold(const eos_train_cfg *tc);

/* Learning-rate schedules (src/optim/schedule.c, docs/sweep-format.md): train.schedule is a row
 * of the schedule table, named by eos_optim_schedule_name (NULL past the last row). */
const char *eos_optim_schedule_name(int i);
/* The lr in force at step `step` (0-based; the update from w_step to w_step+1): a pure function
 * of the configuration and the step, in double. train.lr itself under the constant schedule
 * without warm-up, at every step. */
double eos_optim_lr_at(const eos_train_cfg *tc, long step);
/* eos_optim_threshold at the lr in force at `step` (INFINITY at lr 0 where the configuration
 * defines a threshold at all). */
double eos_optim_threshold_at(const eos_train_cfg *tc, long step);
/* 1: the lr is train.lr at every step (constant schedule, no warm-up). */
int eos_optim_schedule_is_constant(const eos_train_cfg *tc);
/* The schedule keys' checks across keys (warm-up within max_steps, step_every with schedule
 * step, lr_min not above lr for decaying schedules). Returns 0 or EOS_ERR_CONFIG with a message
 * that starts with the offending key path, stored in *key, the other key involved in *other
 * (either may be NULL). */
int eos_optim_schedule_check(const eos_train_cfg *tc, const char **key, const char **other);

/* The optimizer's own checks of the train section (gd is full-batch only). Returns 0 or
 * EOS_ERR_CONFIG with a message that starts with the offending key path, which is also stored
 * in *key when key is not NULL. */
int eos_optim_check(const eos_train_cfg *tc, const char **key);

int eos_optim_init(eos_optim *o, const eos_train_cfg *tc, size_t n);
/* The state that a checkpoint must keep (step count, latest sharpness, state vectors) as
 * parts[0..return); max is the room in parts (at least 3). */
int eos_optim_state(eos_optim *o, eos_part *parts, int max);
/* The latest measurement's top Hessian eigenvalue, for the methods that step with it (the trainer
 * sets it after every measurement). */
void eos_optim_set_sharpness(eos_optim *o, double sharpness);
void eos_optim_free(eos_optim *o);

/* One step on w [n] from the gradient g [n] at w on the step's batch (g is overwritten: weight
 * decay, clipping, SAM's second gradient), at the lr in force at step o->t (o->lr). grad evaluates further gradients on that batch; only
 * methods that need them call it. Returns 0 or the status of a failing grad call. */
int eos_optim_step(eos_optim *o, real *w, real *g, const eos_optim_grad *grad);

/* Adaptive optimizers' diagonal preconditioner as P^-1/2 (Cohen et al. 2022: P = sqrt(v_hat) +
 * eps). Returns 0 and leaves d untouched when the optimizer is not adaptive or has taken no
 * step yet (P undefined), 1 when d [n] was filled. */
int eos_optim_precond_isqrt(const eos_optim *o, real *d);
/* Heavy-ball momentum's velocity v [n] and coefficient *mu, so that the next step on a batch
 * with gradient g moves along -(mu v + g); NULL for methods without one (eos_optim_has_velocity
 * asks the same of a configuration's optimizer index). */
const real *eos_optim_velocity(const eos_optim *o, double *mu);
int eos_optim_has_velocity(int i);

#endif
