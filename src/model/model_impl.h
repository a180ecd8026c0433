/* model_impl.h: what an architecture implements to plug into eos_model (internal to src/).
 *
 * eos_model_create fills the common fields of struct eos_model, then calls the architecture's
 * setup function, which sets m->ops, m->impl and m->nparams and allocates its workspaces. The
 * public eos_model_* functions dispatch through m->ops. A new architecture adds one setup function
 * here and one case in model.c's dispatch. */
#ifndef EOS_MODEL_IMPL_H
#define EOS_MODEL_IMPL_H

#include "eos_model.h"

typedef struct {
    const char *name;
    size_t (*nparams)(const eos_model *m);
    void (*init)(const eos_model *m, real *params, eos_rng *rng);
    int (*loss_grad)(eos_model *m, const real *params, const real *X, const real *Y,
                     const int *idx, int n, double scale, double *loss_sum, double *n_correct,
                     real *grad);
    int (*hvp)(eos_model *m, const real *params, const real *X, const real *Y, const int *idx,
               int n, double scale, const real *v, real *hv);
    void (*free)(eos_model *m); /* frees m->impl and its workspaces, not m itself */
} eos_model_ops;

struct eos_model {
    const eos_model_ops *ops;
    eos_model_cfg cfg;  /* copy of the model configuration */
    eos_loss_kind loss;
    int d_in, n_out;
    int chunk;          /* examples per workspace pass */
    size_t nparams;
    void *impl;         /* architecture-private state */
    int tok_dim;        /* linear transformer: d+1 (set by eos_model_create_icl; 0 otherwise) */
};

/* Architecture setup (common fields already filled; on failure leaves nothing allocated). */
int eos_mlp_setup(eos_model *m);
/* Linear transformer (src/model/linear_transformer.c); created through eos_model_create_icl. */
int eos_linear_transformer_setup(eos_model *m);

/* Naive references for the MLP (plain loops, no BLAS, no OpenMP, allocate per call): same
 * semantics as eos_model_loss_grad / eos_model_hvp. For tests only. */
int eos_mlp_loss_grad_ref(const eos_model *m, const real *params, const real *X, const real *Y,
                          const int *idx, int n, double scale, double *loss_sum,
                          double *n_correct, real *grad);
int eos_mlp_hvp_ref(const eos_model *m, const real *params, const real *X, const real *Y,
                    const int *idx, int n, double scale, const real *v, real *hv);
/* Naive references for the linear transformer (double, explicit T x T attention scores, plain
 * loops, no OpenMP, allocate per call): same semantics as eos_model_loss_grad / eos_model_hvp.
 * For tests only. */
int eos_linear_transformer_loss_grad_ref(const eos_model *m, const real *params, const real *X, const real *Y,
                            const int *idx, int n, double scale, double *loss_sum, real *grad);
int eos_linear_transformer_hvp_ref(const eos_model *m, const real *params, const real *X, const real *Y,
                      const int *idx, int n, double scale, const real *v, real *hv);
#define mlp_loss_grad_ref eos_mlp_loss_grad_ref
#define mlp_hvp_ref eos_mlp_hvp_ref

#endif
