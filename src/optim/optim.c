/* optim.c: the optimizer table (one row per optimizer; train.optimizer is the row index) and the
 * dispatch. The update rules live in their families' files (optim_impl.h). */
#include "optim_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The rows in train.optimizer order, each defined at the end of its family's file (EOS_TABLE:
 * eos_common.h). Adding an optimizer is its file (or a row in a family's file) and one line here;
 * the order is the order of the names in error messages and docs/sweep-format.md. */
#define METHODS(X, T)                                                                              \
    X(T, eos_optim_method_gd)       /* sgd.c */                                                    \
    X(T, eos_optim_method_sgd)      /* sgd.c */                                                    \
    X(T, eos_optim_method_momentum) /* momentum.c */                                               \
    X(T, eos_optim_method_nesterov) /* momentum.c */                                               \
    X(T, eos_optim_method_adam)     /* adaptive.c */                                               \
    X(T, eos_optim_method_adamw)    /* adaptive.c */                                               \
    X(T, eos_optim_method_rmsprop)  /* adaptive.c */                                               \
    X(T, eos_optim_method_sam)      /* sam.c */                                                    \
    X(T, eos_optim_method_usam)     /* sam.c */                                                    \
    X(T, eos_optim_method_pgd)      /* mirror.c */                                                 \
    X(T, eos_optim_method_ngd)      /* normalized.c */                                             \
    X(T, eos_optim_method_clip)     /* normalized.c */                                             \
    X(T, eos_optim_method_flow)     /* flow.c */
EOS_TABLE(eos_optim_method, methods, METHODS);
#define N_METHODS ((int)(sizeof methods / sizeof *methods))

static const eos_optim_method *method(int i) { return i >= 0 && i < N_METHODS ? methods[i] : NULL; }

const char *eos_optim_name(int i) { return method(i) ? method(i)->name : NULL; }

int eos_optim_find(const char *name)
{
    for (int i = 0; i < N_METHODS; i++)
        if (strcmp(methods[i]->name, name) == 0) return i;
    return -1;
}

int eos_optim_is_adaptive(int i) { return method(i) && method(i)->precond_isqrt; }

int eos_optim_needs_sharpness(int i) { return method(i) && method(i)->needs_sharpness; }
int eos_optim_uses_p(int i) { return method(i) && method(i)->uses_p; }

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
    *o = (eos_optim){.method = method(tc->optimizer), .tc = *tc, .n = n, .sharpness = NAN};
    EOS_CHECK(o->method, EOS_ERR_CONFIG, "train.optimizer: no optimizer %d", tc->optimizer);
    if (o->method->n_state) EOS_ALLOC(o->state, (size_t)o->method->n_state * n);
    return 0;
fail:
    return rc;
}

int eos_optim_state(eos_optim *o, eos_part *parts, int max)
{
    if (max < 3) return -1;
    parts[0] = (eos_part){&o->t, sizeof o->t};
    parts[1] = (eos_part){&o->sharpness, sizeof o->sharpness};
    parts[2] = (eos_part){o->state, sizeof(real) * (size_t)o->method->n_state * o->n};
    return 3;
}

void eos_optim_set_sharpness(eos_optim *o, double sharpness) { o->sharpness = sharpness; }

void eos_optim_free(eos_optim *o)
{
    free(o->state);
    o->state = NULL;
}

int eos_optim_step(eos_optim *o, real *w, real *g, const eos_optim_grad *grad)
{
    o->lr = eos_optim_lr_at(&o->tc, o->t);
    o->substeps = 0;
    o->t++;
    return o->method->step(o, w, g, grad);
}

const real *eos_optim_velocity(const eos_optim *o, double *mu)
{
    return o->method->velocity ? o->method->velocity(o, mu) : NULL;
}

int eos_optim_has_velocity(int i) { return method(i) && method(i)->velocity; }

int eos_optim_precond_isqrt(const eos_optim *o, real *d)
{
    if (!o->method->precond_isqrt || o->t == 0) return 0;
    o->method->precond_isqrt(o, d);
    return 1;
}
