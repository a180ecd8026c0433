/* optim.c: in-place optimizer updates. Every loop is elementwise (OpenMP over coordinates), so
 * results do not depend on the thread count; only SAM and NGD need a norm (fixed-block eos_nrm2). */
#include "eos_optim.h"

#include <math.h>
#include <stdlib.h>

#define PAR_MIN 16384 /* below this, threading costs more than it saves */

int eos_optim_init(eos_optim *o, const eos_train_cfg *tc, size_t n)
{
    int rc = 0;
    *o = (eos_optim){.kind = tc->optimizer, .tc = *tc, .n = n};
    int nbuf = 0;
    switch (o->kind) {
    case EOS_OPT_MOMENTUM:
    case EOS_OPT_NESTEROV: nbuf = 1; break;
    case EOS_OPT_RMSPROP: nbuf = 1; break;
    case EOS_OPT_ADAM:
    case EOS_OPT_ADAMW: nbuf = 2; break;
    default: nbuf = 0;
    }
    if (nbuf) {
        EOS_ALLOC(o->state, (size_t)nbuf * n);
        if (o->kind == EOS_OPT_RMSPROP) {
            o->v = o->state;
        } else {
            o->m = o->state;
            if (nbuf == 2) o->v = o->state + n;
        }
    }
    return 0;
fail:
    return rc;
}

void eos_optim_free(eos_optim *o)
{
    free(o->state);
    o->state = o->m = o->v = NULL;
}

int eos_optim_is_sam(const eos_optim *o) { return o->kind == EOS_OPT_SAM || o->kind == EOS_OPT_USAM; }

void eos_optim_sam_perturb(const eos_optim *o, real *w_adv, const real *w, const real *g)
{
    double scale = o->tc.sam_rho;
    if (o->kind == EOS_OPT_SAM) {
        double gn = eos_nrm2(g, o->n);
        scale = gn > 0 ? o->tc.sam_rho / gn : 0.0;
    }
    real s = (real)scale;
    size_t n = o->n;
#pragma omp parallel for schedule(static) if (n > PAR_MIN) /* split over coordinates */
    for (size_t i = 0; i < n; i++) w_adv[i] = w[i] + s * g[i];
}

/* Mirror map of psi(w) = (1/p) sum |w|^p and its inverse. */
static double pgd_dual(double w, double p) { return copysign(pow(fabs(w), p - 1.0), w); }
static double pgd_primal(double z, double p) { return copysign(pow(fabs(z), 1.0 / (p - 1.0)), z); }

void eos_optim_step(eos_optim *o, real *w, real *g)
{
    const eos_train_cfg *tc = &o->tc;
    size_t n = o->n;
    const real lr = (real)tc->lr, wd = (real)tc->weight_decay;
    o->t++;
    if (wd != 0 && o->kind != EOS_OPT_ADAMW) eos_axpy(g, tc->weight_decay, w, n); /* L2 */

    switch (o->kind) {
    case EOS_OPT_GD:
    case EOS_OPT_SGD:
    case EOS_OPT_SAM:
    case EOS_OPT_USAM: eos_axpy(w, -tc->lr, g, n); break;
    case EOS_OPT_NGD: {
        double gn = eos_nrm2(g, n);
        if (gn > 0) eos_axpy(w, -tc->lr / gn, g, n);
        break;
    }
    case EOS_OPT_CLIP: {
        const real c = (real)tc->clip;
#pragma omp parallel for schedule(static) if (n > PAR_MIN) /* split over coordinates */
        for (size_t i = 0; i < n; i++) {
            real gi = g[i] > c ? c : (g[i] < -c ? -c : g[i]);
            w[i] -= lr * gi;
        }
        break;
    }
    case EOS_OPT_MOMENTUM:
    case EOS_OPT_NESTEROV: {
        /* PyTorch form: v = beta v + g; heavy ball w -= lr v; Nesterov w -= lr (g + beta v). */
        const real beta = (real)tc->momentum;
        const int nest = o->kind == EOS_OPT_NESTEROV;
        real *v = o->m;
#pragma omp parallel for schedule(static) if (n > PAR_MIN) /* split over coordinates */
        for (size_t i = 0; i < n; i++) {
            v[i] = beta * v[i] + g[i];
            w[i] -= lr * (nest ? g[i] + beta * v[i] : v[i]);
        }
        break;
    }
    case EOS_OPT_RMSPROP: {
        /* PyTorch form with alpha = beta2: v = a v + (1-a) g^2; w -= lr g / (sqrt(v) + eps). */
        const real a = (real)tc->beta2, eps = (real)tc->eps;
        real *v = o->v;
#pragma omp parallel for schedule(static) if (n > PAR_MIN) /* split over coordinates */
        for (size_t i = 0; i < n; i++) {
            v[i] = a * v[i] + (1 - a) * g[i] * g[i];
            w[i] -= lr * g[i] / (sqrt(v[i]) + eps);
        }
        break;
    }
    case EOS_OPT_ADAM:
    case EOS_OPT_ADAMW: {
        const real b1 = (real)tc->beta1, b2 = (real)tc->beta2, eps = (real)tc->eps;
        const real bc1 = (real)(1.0 - pow(tc->beta1, (double)o->t));
        const real bc2 = (real)(1.0 - pow(tc->beta2, (double)o->t));
        const real decay = o->kind == EOS_OPT_ADAMW ? 1 - lr * wd : 1;
        real *m = o->m, *v = o->v;
#pragma omp parallel for schedule(static) if (n > PAR_MIN) /* split over coordinates */
        for (size_t i = 0; i < n; i++) {
            m[i] = b1 * m[i] + (1 - b1) * g[i];
            v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
            w[i] = decay * w[i] - lr * (m[i] / bc1) / (sqrt(v[i] / bc2) + eps);
        }
        break;
    }
    case EOS_OPT_PGD: {
        const double p = tc->p;
#pragma omp parallel for schedule(static) if (n > PAR_MIN) /* split over coordinates */
        for (size_t i = 0; i < n; i++)
            w[i] = (real)pgd_primal(pgd_dual(w[i], p) - tc->lr * g[i], p);
        break;
    }
    }
}

int eos_optim_precond_isqrt(const eos_optim *o, real *d)
{
    if (!eos_optimizer_is_adaptive(o->kind) || o->t == 0) return 0;
    size_t n = o->n;
    const double eps = o->tc.eps;
    const double bc2 = o->kind == EOS_OPT_RMSPROP ? 1.0 : 1.0 - pow(o->tc.beta2, (double)o->t);
    const real *v = o->v;
#pragma omp parallel for schedule(static) if (n > PAR_MIN) /* split over coordinates */
    for (size_t i = 0; i < n; i++) d[i] = (real)(1.0 / sqrt(sqrt((double)v[i] / bc2) + eps));
    return 1;
}
