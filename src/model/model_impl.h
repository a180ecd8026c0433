/* model_impl.h: what an architecture implements to plug into eos_model (internal to src/model/).
 *
 * An architecture is one file defining one row (eos_model_arch) and one line in model.c's table,
 * whose order gives the values of model.arch. eos_model_create validates, fills the common fields
 * of struct eos_model, then calls the row's setup, which sets m->ops, m->impl and m->nparams and
 * allocates its workspaces. The public eos_model_* functions dispatch through m->ops. */
#ifndef EOS_MODEL_IMPL_H
#define EOS_MODEL_IMPL_H

#include "eos_model.h"

typedef struct {
    void (*init)(const eos_model *m, real *params, eos_rng *rng);
    int (*loss_grad)(eos_model *m, const real *params, const real *X, const real *Y,
                     const int *idx, int n, double scale, double *loss_sum, double *n_correct,
                     real *grad);
    int (*hvp)(eos_model *m, const real *params, const real *X, const real *Y, const int *idx,
               int n, double scale, const real *v, real *hv);
    /* H V for several directions in one pass (eos_model_hvp_block). Optional: NULL runs hvp
     * once per direction. */
    int (*hvp_block)(eos_model *m, const real *params, const real *X, const real *Y,
                     const int *idx, int n, double scale, int nv, const real *V, real *HV);
    /* Gauss-Newton-vector product (eos_model_gnvp). Optional: NULL when the architecture has
     * none, and then sharpness.gauss_newton is refused at validation (eos_model_has_gnvp). */
    int (*gnvp)(eos_model *m, const real *params, const real *X, const real *Y, const int *idx,
                int n, double scale, const real *v, real *gv);
    /* Optional: see eos_model_set_hvp_cache (NULL: the architecture caches nothing). */
    void (*set_hvp_cache)(eos_model *m, size_t bytes);
    /* The outputs f [n, n_out] (eos_model_outputs). Optional: NULL when the architecture has
     * none, and then the margins of the logistic loss are not recorded. */
    int (*outputs)(eos_model *m, const real *params, const real *X, const int *idx, int n,
                   real *f);
    void (*free)(eos_model *m); /* frees m->impl and its workspaces, not m itself */
} eos_model_ops;

struct eos_model {
    const eos_model_ops *ops;
    eos_model_cfg cfg;  /* copy of the model configuration */
    eos_loss_kind loss;
    eos_shape in;       /* layout of one example's inputs */
    int d_in, n_out;    /* d_in = eos_shape_size(&in) */
    int chunk;          /* examples per workspace pass */
    size_t nparams;
    void *impl;         /* architecture-private state */
};

/* One architecture (a row of model.c's table). */
typedef struct {
    const char *name; /* model.arch value */
    /* See eos_model_validate (the settings every architecture shares are checked before). */
    int (*validate)(const eos_model_cfg *mc, eos_loss_kind loss, const eos_shape *in, int n_out,
                    const char **key);
    /* See eos_model_cost; in and n_out are known (sizes > 0). */
    double (*cost)(const eos_model_cfg *mc, const eos_shape *in, int n_out);
    /* Common fields filled and validated; on failure leaves nothing allocated. */
    int (*setup)(eos_model *m);
    /* The ops table setup installs, for what validation asks before any model is built (whether
     * an optional operation such as gnvp exists). */
    const eos_model_ops *ops;
    /* Optional: see eos_model_groups (m NULL: names from mc alone). NULL: no groups. */
    int (*groups)(const eos_model_cfg *mc, const eos_model *m, eos_param_group *g, int max);
} eos_model_arch;

/* Fixed-order partial sums over the rows of a pass, the skeleton of every reduction the kernels
 * fuse into their elementwise passes: rows [0, n) are cut into blocks of rb rows (fixed, whatever
 * the thread count), and body(ctx, blk, i0, i1, slot) runs once per block, on some thread, with
 * rows [i0, i1) and the block's slot = part + blk * width zeroed (NULL when part is NULL). Each
 * block writes only its rows and its slot, so eos_model_part_reduce, which adds the slots in
 * block order, gives results bitwise independent of OMP_NUM_THREADS. */
void eos_model_row_blocks(int n, int rb, double *part, size_t width,
                          void (*body)(void *ctx, int blk, int i0, int i1, double *slot),
                          void *ctx);
/* g[k] += scale * sum over blocks b < nb (in order) of part[b * width + (map ? map[k] : k)],
 * for k < n. */
void eos_model_part_reduce(real *g, const double *part, int nb, size_t width, size_t n,
                           const size_t *map, double scale);

/* For tests: a [w] = tanh(z [w] + b [w]) by mlp.c's float32 pass in `lanes` lanes (4, or 8 where
 * the CPU has AVX2); -1 if that width does not run here. float64 builds: libm's tanh. */
int eos_mlp_tanh_lanes(real *a, const real *z, const real *b, int w, int lanes);

/* ---- what mlp.c shares with the architectures that end in dense layers (cnn.c) ---- */

/* A stack of dense layers (the MLP): n_hidden hidden layers of mc's widths and activation, then
 * n_out linear outputs and the loss; parameters W_l [out, in] then b_l [out] (mc->bias) layer by
 * layer; workspaces for `chunk` rows. */
typedef struct eos_dense eos_dense;
int eos_dense_create(eos_dense **out, const eos_model_cfg *mc, int d_in, int n_out, int chunk,
                     size_t *nparams);
void eos_dense_free(eos_dense *p);
/* mc's initialisation of every layer, in order (eos_model_init_layer). */
void eos_dense_init(const eos_dense *p, const eos_model_cfg *mc, real *params, eos_rng *rng);
/* The stack's layers as parameter groups fc1..fc(n_hidden+1) (W_l and b_l, adjacent), the stack's
 * parameters starting at base and ending at end; p NULL: names only (eos_model_groups). */
int eos_dense_groups(const eos_dense *p, int n_hidden, size_t base, size_t end,
                     eos_param_group *g, int max);
/* One pass over nr <= chunk rows x [nr, d_in] whose targets are Y rows (idx-selected from r0):
 * *lsum += the losses, *csum (NULL: skip) += correct argmax predictions, grad (NULL: loss only)
 * += scale * the gradient, dx [nr, d_in] (NULL: skip) = dloss/dx (unscaled). */
void eos_dense_loss_grad(eos_dense *p, const real *params, const real *x, const real *Y,
                         const int *idx, int r0, int nr, eos_loss_kind loss, double scale,
                         double *lsum, double *csum, real *grad, real *dx);
/* The outputs f [nr, n_out] of nr <= chunk rows x [nr, d_in] (forward pass only). */
void eos_dense_outputs(eos_dense *p, const real *params, const real *x, int nr, real *f);
/* One pass of the HVP (gn: the Gauss-Newton product) in direction v, the input's tangent rx
 * [nr, d_in] (NULL: 0): out += scale * (H v or G v); dx, rdx [nr, d_in] (NULL: skip) = dloss/dx
 * and its R-derivative (gn: the Gauss-Newton output vector sent back to x; rdx unused). */
void eos_dense_product(eos_dense *p, const real *params, const real *v, const real *x,
                       const real *rx, const real *Y, const int *idx, int r0, int nr,
                       eos_loss_kind loss, double scale, real *out, int gn, real *dx, real *rdx);
/* W [nw] and b [nb] (NULL: no bias) of one layer with fan_in inputs per output: PyTorch's
 * U(-bound, bound) for both, or N(0, bound^2) and zero bias, bound = init_scale / sqrt(fan_in);
 * W drawn first, in order. */
void eos_model_init_layer(real *W, size_t nw, real *b, size_t nb, double fan_in,
                          const eos_model_cfg *mc, eos_rng *rng);
/* The activation kernels, on [n, w] rows (mlp.c documents each): forward a = sigma(a + b) with
 * sigma', sigma'' into d1, d2 (NULL: skip; tanh keeps neither, s = a); tangent ra = sigma' (ra + vb),
 * q = sigma'' (ra + vb); backward dx *= sigma'; its R-op rdx = rdx sigma' + dx q, dx *= sigma'.
 * s is sigma' (d1), or a for tanh (tanh_a). */
void eos_act_forward(real *a, real *d1, real *d2, const real *b, int n, int w, eos_activation act);
void eos_act_tangent(real *ra, real *q, const real *s, const real *vb, int n, int w, int tanh_a);
void eos_act_backward(real *dx, const real *s, int n, int w, int tanh_a);
void eos_act_backward_hvp(real *dx, real *rdx, const real *s, const real *q, int n, int w,
                          int tanh_a);
/* C [M, N] = alpha op(A) op(B) + beta C, row-major, tiled over OpenMP threads so that the result
 * does not depend on their number (call eos_model_gemm_begin(m) first in each entry point: it
 * sets m's model.gemm_tiles and OpenBLAS single-threaded). */
void eos_model_gemm(int ta, int tb, int M, int N, int K, real alpha, const real *A, int lda,
                    const real *B, int ldb, real beta, real *C, int ldc);
void eos_model_gemm_begin(const eos_model *m);
/* References (double): sigma, sigma', sigma'' at z; the loss of one example with outputs f, its
 * gradient g = dL/df and (rg != NULL) R g = H_loss rf (logistic: its own naive formulas). */
void eos_act_eval_ref(eos_activation act, double z, double *a, double *d1, double *d2);
double eos_loss_ref(eos_loss_kind loss, int k, const double *f, const double *rf, const real *y,
                    double *g, double *rg);
/* Reference: 1 if outputs f [k] predict target y: argmax f == argmax y, or for one output
 * sign(f) == sign(y) (y > 0 positive; f == 0 wrong). */
double eos_correct_ref(int k, const double *f, const real *y);

/* Naive references for the MLP (plain loops, no BLAS, no OpenMP, allocate per call): same
 * semantics as eos_model_loss_grad / eos_model_hvp. For tests only. */
int eos_mlp_loss_grad_ref(const eos_model *m, const real *params, const real *X, const real *Y,
                          const int *idx, int n, double scale, double *loss_sum,
                          double *n_correct, real *grad);
int eos_mlp_hvp_ref(const eos_model *m, const real *params, const real *X, const real *Y,
                    const int *idx, int n, double scale, const real *v, real *hv);
/* The same for the Gauss-Newton product J' H_loss J v (eos_model_gnvp). */
int eos_mlp_gnvp_ref(const eos_model *m, const real *params, const real *X, const real *Y,
                     const int *idx, int n, double scale, const real *v, real *gv);
/* Naive references for the linear transformer (double, explicit T x T attention scores, plain
 * loops, no OpenMP, allocate per call): same semantics as eos_model_loss_grad / eos_model_hvp.
 * For tests only. */
int eos_linear_transformer_loss_grad_ref(const eos_model *m, const real *params, const real *X,
                                         const real *Y, const int *idx, int n, double scale,
                                         double *loss_sum, real *grad);
int eos_linear_transformer_hvp_ref(const eos_model *m, const real *params, const real *X,
                                   const real *Y, const int *idx, int n, double scale,
                                   const real *v, real *hv);
/* Naive references for the CNN (plain loops, double, one example at a time, no BLAS, no OpenMP,
 * allocate per call; the layer layout recomputed from the configuration): same semantics as
 * eos_model_loss_grad / eos_model_hvp / eos_model_gnvp. For tests only. */
int eos_cnn_loss_grad_ref(const eos_model *m, const real *params, const real *X, const real *Y,
                          const int *idx, int n, double scale, double *loss_sum,
                          double *n_correct, real *grad);
int eos_cnn_hvp_ref(const eos_model *m, const real *params, const real *X, const real *Y,
                    const int *idx, int n, double scale, const real *v, real *hv);
int eos_cnn_gnvp_ref(const eos_model *m, const real *params, const real *X, const real *Y,
                     const int *idx, int n, double scale, const real *v, real *gv);

#endif
