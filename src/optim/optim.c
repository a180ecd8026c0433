/* optim.c: the optimizer table (one row per optimizer; train.optimizer is the row index) and the
 * dispatch. The update rules live in their families' files (optim_impl.h). */
#include "optim_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* name, state vectors, full-batch only, step, preconditioner, stability threshold. The order is
 * the order of the names in error messages and docs/sweep-format.md. */
static const eos_optim_method methods[] = {
    {"gd", 0, 1, eos_optim_sgd_step, NULL, eos_optim_sgd_threshold},
    {"sgd", 0, 0, eos_optim_sgd_step, NULL, eos_optim_sgd_threshold},
    {"momentum", 1, 0, eos_optim_heavy_ball_step, NULL, eos_optim_heavy_ball_threshold},
    {"nesterov", 1, 0, eos_optim_nesterov_step, NULL, eos_optim_nesterov_threshold},
    {"adam", 2, 0, eos_optim_adam_step, eos_optim_adam_precond_isqrt, eos_optim_adam_threshold},
    {"adamw", 2, 0, eos_optim_adamw_step, eos_optim_adam_precond_isqrt, eos_optim_adam_threshold},
    {"rmsprop", 1, 0, eos_optim_rmsprop_step, eos_optim_rmsprop_precond_isqrt,
     eos_optim_rmsprop_threshold},
    {"sam", 1, 0, eos_optim_sam_step, NULL, eos_optim_sam_threshold},
    {"usam", 1, 0, eos_optim_usam_step, NULL, eos_optim_usam_threshold},
    {"pgd", 0, 0, eos_optim_pgd_step, NULL, eos_optim_pgd_threshold},
    {"ngd", 0, 0, eos_optim_ngd_step, NULL, eos_optim_ngd_threshold},
    /* near a minimum no coordinate is clipped, so the linearised update is GD's */
    {"clip", 0, 0, eos_optim_clip_step, NULL, eos_optim_sgd_threshold},
};
#define N_METHODS ((int)(sizeof methods / sizeof *methods))

static const eos_optim_method *method(int i) { return i >= 0 && i < N_METHODS ? &methods[i] : NULL; }

const char *eos_optim_name(int i) { return method(i) ? method(i)->name : NULL; }

int eos_optim_find(const char *name)
{
    for (int i = 0; i < N_METHODS; i++)
        if (strcmp(methods[i].name, name) == 0) return i;
    return -1;
}

int eos_optim_is_adaptive(int i) { return method(i) && method(i)->precond_isqrt; }

double eos_optim_threshold(const eos_train_cfg *tc)
{
    const eos_optim_method *m = method(tc->optimizer);
    return m ? m->threshold(tc) : NAN;
}

int eos_optim_check(const eos_train_cfg *tc, const char **key)
{
    int rc = 0;
    const char *at = "train.optimizer";
    const eos_optim_method *m = method(tc->optimizer);
    EOS_CHECK(m, EOS_ERR_CONFIG, "%s: no optimizer %d", at, tc->optimizer);
    at = "train.batch_size";
    EOS_CHECK(!m->full_batch || tc->batch_size == 0, EOS_ERR_CONFIG,
              "%s: optimizer %s is full-batch, so batch_size must be full (got %d; use "
              "train.optimizer sgd for minibatches)",
              at, m->name, tc->batch_size);
    return 0;
fail:
    if (key) *key = at;
    return rc;
}

int eos_optim_init(eos_optim *o, const eos_train_cfg *tc, size_t n)
{
    int rc = 0;
    *o = (eos_optim){.method = method(tc->optimizer), .tc = *tc, .n = n};
    EOS_CHECK(o->method, EOS_ERR_CONFIG, "train.optimizer: no optimizer %d", tc->optimizer);
    if (o->method->n_state) EOS_ALLOC(o->state, (size_t)o->method->n_state * n);
    return 0;
fail:
    return rc;
}

void eos_optim_free(eos_optim *o)
{
    free(o->state);
    o->state = NULL;
}

int eos_optim_step(eos_optim *o, real *w, real *g, const eos_optim_grad *grad)
{
    o->t++;
    return o->method->step(o, w, g, grad);
}

int eos_optim_precond_isqrt(const eos_optim *o, real *d)
{
    if (!o->method->precond_isqrt || o->t == 0) return 0;
    o->method->precond_isqrt(o, d);
    return 1;
}
