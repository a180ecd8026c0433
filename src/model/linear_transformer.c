/* linear_transformer.c: model.arch linear-transformer, L layers of linear self-attention on
 * in-context regression prompts (data in token layout [T, D]), with exact gradient and
 * Hessian-vector product. Conventions: docs/linear-transformer.md.
 *
 * A prompt is Z in R^{D x T}, D = d+1, T = n+1: columns z_t = (x_t, y_t) for t < n, the query
 * z_n = (x_q, 0). Stored token-major (row t of the [T, D] input row = z_t), which is also how the
 * kernels hold it: every product below is a sum of per-token rank-1 terms or a per-token
 * mat-vec over contiguous rows. Layer l (P = W_PV, Q = W_KQ, D x D each):
 *   C_l = Z_l M Z_l' = sum_{t<n} z_t z_t'   (M = diag(1,..,1,0) drops the query from keys/values)
 *   G_l = (1/n) P_l C_l Q_l,   Z_{l+1} = Z_l + G_l Z_l   (= Z + (1/n) P Z M Z' Q Z),
 * and the prediction is y_hat = -Z_L[d, n] (von Oswald et al. 2023, Ahn et al. 2023). Only the
 * query column of Z_L is needed, so the last layer updates that column alone.
 *
 * Backward, with Zb = dloss/dZ_{l+1} (only its query column is nonzero at l = L-1):
 *   Gb = Zb Z_l',  dP = (1/n) Gb Q' C,  dQ = (1/n) C P' Gb,  Cb = (1/n) P' Gb Q',
 *   dloss/dZ_l = Zb + G' Zb + (Cb + Cb') Z_l M.
 * HVP: Pearlmutter's R-operator on the same recursion (forward tangents RZ, RC, RG, then R of
 * every backward line; see prompt_hvp).
 *
 * Sparse parametrisation (model.sparse, Ahn et al.'s P/Q form): per layer a scalar p and a d x d
 * block B, P = [[0, 0], [0, p]], Q = [[B, 0], [0, 0]]. The map to (P, Q) is linear, so the
 * kernels run on the embedded full matrices, the gradient is the restriction of the full one and
 * the HVP is J' H J v with J the embedding.
 *
 * Parallelism: per prompt the work is a few small matrices, so OpenMP splits each chunk into
 * fixed blocks of RB prompts (eos_model_row_blocks); a block owns a workspace slice and a partial
 * gradient (double), and the partials are added in block order afterwards: bitwise independent
 * of the thread count. Matrices are far too small for BLAS calls to pay. */
#include "model_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RB 16 /* prompts per block of the fixed-order reduction */

typedef struct {
    int L, d, D, n, T;  /* layers, x dimension, token width d+1, context tokens, n+1 */
    int sparse;
    size_t D2, TD;      /* D*D, T*D */
    size_t nfull;       /* 2 L D^2: (P_l, Q_l) per layer, row-major */
    size_t np;          /* parameters: nfull, or L (d^2 + 1) when sparse */
    size_t *sidx;       /* sparse: [nparams] index of each parameter in the full vector */
    real *pf, *vf;      /* sparse: [nfull] embedded parameters and direction */
    size_t ws_len;      /* reals per block workspace */
    real *ws;           /* [nblk, ws_len] per-prompt workspaces */
    double *part;       /* [nblk, nfull] per-block partial gradients */
    double *lrow;       /* [chunk] per-prompt losses */
} lt_model;

/* One block workspace, carved from a ws slice (layout fixed by the model's shape). */
typedef struct {
    real *Z, *RZ;           /* [L+1][T, D] activations and tangents */
    real *C, *RC, *G, *RG, *PC; /* [L][D, D] C_l, R C_l, G_l, R G_l, P_l C_l */
    real *Zb[2], *RZb[2];   /* [T, D] ping-pong dloss/dZ and its tangent */
    real *Gb, *RGb, *t1, *t2, *t3, *t4, *S, *RS, *gP, *gQ; /* [D, D] */
} lt_ws;

static size_t ws_size(int L, size_t TD, size_t D2)
{
    return 2 * (size_t)(L + 1) * TD + 5 * (size_t)L * D2 + 4 * TD + 10 * D2;
}

static void ws_carve(lt_ws *w, const lt_model *p, real *q)
{
    size_t TD = p->TD, D2 = p->D2, L = (size_t)p->L;
    w->Z = q, q += (L + 1) * TD;
    w->RZ = q, q += (L + 1) * TD;
    w->C = q, q += L * D2;
    w->RC = q, q += L * D2;
    w->G = q, q += L * D2;
    w->RG = q, q += L * D2;
    w->PC = q, q += L * D2;
    for (int i = 0; i < 2; i++) w->Zb[i] = q, q += TD;
    for (int i = 0; i < 2; i++) w->RZb[i] = q, q += TD;
    real **sq[] = {&w->Gb, &w->t1, &w->t2, &w->t3, &w->t4, &w->S, &w->RS, &w->gP, &w->gQ, &w->RGb};
    for (size_t i = 0; i < sizeof sq / sizeof *sq; i++) *sq[i] = q, q += D2;
}

/* ------------------------------------------------------------------------------------------ */
/* small dense kernels (D x D matrices, token-major [nt, D] blocks)                            */

/* C [D, D] = alpha op(A) op(B) + beta C (beta 0: C is not read); op(X) = X or X'. */
static void mm(real *restrict C, const real *restrict A, int ta, const real *restrict B, int tb,
               int D, real alpha, real beta)
{
    for (int i = 0; i < D; i++) {
        real row[D];
        for (int j = 0; j < D; j++) row[j] = 0;
        for (int k = 0; k < D; k++) {
            real a = ta ? A[(size_t)k * D + i] : A[(size_t)i * D + k];
            if (tb)
                for (int j = 0; j < D; j++) row[j] += a * B[(size_t)j * D + k];
            else
                for (int j = 0; j < D; j++) row[j] += a * B[(size_t)k * D + j];
        }
        real *c = C + (size_t)i * D;
        if (beta == 0)
            for (int j = 0; j < D; j++) c[j] = alpha * row[j];
        else
            for (int j = 0; j < D; j++) c[j] = alpha * row[j] + beta * c[j];
    }
}

/* M [D, D] = beta M + sum_t a_t b_t' over nt tokens of A, B [nt, D] (beta 0: M not read). */
static void tok_outer(real *restrict M, const real *restrict A, const real *restrict B, int nt,
                      int D, real beta)
{
    if (beta == 0) memset(M, 0, (size_t)D * D * sizeof *M);
    else if (beta != 1)
        for (int k = 0; k < D * D; k++) M[k] *= beta;
    for (int t = 0; t < nt; t++) {
        const real *a = A + (size_t)t * D, *b = B + (size_t)t * D;
        for (int i = 0; i < D; i++) {
            real ai = a[i], *m = M + (size_t)i * D;
            for (int j = 0; j < D; j++) m[j] += ai * b[j];
        }
    }
}

/* out_t += op(G) in_t for nt tokens of out, in [nt, D]; op(G) = G or G' (trans). */
static void tok_mv(real *restrict out, const real *restrict in, const real *restrict G, int nt,
                   int D, int trans)
{
    for (int t = 0; t < nt; t++) {
        const real *x = in + (size_t)t * D;
        real *o = out + (size_t)t * D;
        if (trans) {
            for (int i = 0; i < D; i++) {
                real xi = x[i];
                const real *g = G + (size_t)i * D;
                for (int j = 0; j < D; j++) o[j] += g[j] * xi;
            }
        } else {
            for (int i = 0; i < D; i++) {
                real s = 0;
                const real *g = G + (size_t)i * D;
                for (int j = 0; j < D; j++) s += g[j] * x[j];
                o[i] += s;
            }
        }
    }
}

/* S = A + A' */
static void symm2(real *restrict S, const real *restrict A, int D)
{
    for (int i = 0; i < D; i++)
        for (int j = 0; j < D; j++) S[(size_t)i * D + j] = A[(size_t)i * D + j] + A[(size_t)j * D + i];
}

static void acc_add(double *restrict acc, const real *restrict x, size_t n)
{
    for (size_t k = 0; k < n; k++) acc[k] += (double)x[k];
}

/* ------------------------------------------------------------------------------------------ */
/* one prompt                                                                                  */

/* Forward through the L layers (and tangents when V != NULL). Z_0 = the prompt; the last layer
 * writes only the query token of Z_L (and RZ_L). */
static void prompt_forward(const lt_model *p, lt_ws *w, const real *Pf, const real *Vf,
                           const real *zin)
{
    const int L = p->L, D = p->D, T = p->T, n = p->n;
    const size_t TD = p->TD, D2 = p->D2;
    const real inv_n = (real)1 / (real)n;
    memcpy(w->Z, zin, TD * sizeof(real));
    if (Vf) memset(w->RZ, 0, TD * sizeof(real));
    for (int l = 0; l < L; l++) {
        const real *P = Pf + 2 * l * D2, *Q = P + D2;
        const real *Zl = w->Z + l * TD, *RZl = w->RZ + l * TD;
        real *Zn = w->Z + (l + 1) * TD, *RZn = w->RZ + (l + 1) * TD;
        real *C = w->C + l * D2, *G = w->G + l * D2, *PC = w->PC + l * D2;
        int t0 = l == L - 1 ? n : 0; /* tokens of Z_{l+1} that are needed */
        tok_outer(C, Zl, Zl, n, D, 0);
        mm(PC, P, 0, C, 0, D, 1, 0);
        mm(G, PC, 0, Q, 0, D, inv_n, 0);
        memcpy(Zn + (size_t)t0 * D, Zl + (size_t)t0 * D, (size_t)(T - t0) * D * sizeof(real));
        tok_mv(Zn + (size_t)t0 * D, Zl + (size_t)t0 * D, G, T - t0, D, 0);
        if (!Vf) continue;
        const real *VP = Vf + 2 * l * D2, *VQ = VP + D2;
        real *RC = w->RC + l * D2, *RG = w->RG + l * D2;
        /* RC = X + X', X = sum_{t<n} rz_t z_t' */
        tok_outer(w->t1, RZl, Zl, n, D, 0);
        symm2(RC, w->t1, D);
        /* RG = (1/n) ((VP C + P RC) Q + P C VQ) */
        mm(w->t1, VP, 0, C, 0, D, 1, 0);
        mm(w->t1, P, 0, RC, 0, D, 1, 1);
        mm(RG, w->t1, 0, Q, 0, D, inv_n, 0);
        mm(RG, PC, 0, VQ, 0, D, inv_n, 1);
        /* RZ_{l+1} = RZ + RG Z + G RZ */
        memcpy(RZn + (size_t)t0 * D, RZl + (size_t)t0 * D, (size_t)(T - t0) * D * sizeof(real));
        tok_mv(RZn + (size_t)t0 * D, Zl + (size_t)t0 * D, RG, T - t0, D, 0);
        tok_mv(RZn + (size_t)t0 * D, RZl + (size_t)t0 * D, G, T - t0, D, 0);
    }
}

/* The backward pass of one prompt whose forward pass is in w, from dloss/dZ_L = seed at the
 * query's y entry (zero elsewhere): adds the parameter gradient w.r.t. (P_l, Q_l) into acc
 * [nfull]. The gradient seeds -dloss/dy_hat, the Gauss-Newton product -R y_hat. */
static void prompt_backward(const lt_model *p, lt_ws *w, const real *Pf, real seed, double *acc)
{
    const int L = p->L, D = p->D, T = p->T, n = p->n, d = p->d;
    const size_t TD = p->TD, D2 = p->D2;
    const real inv_n = (real)1 / (real)n;
    real *Zb = w->Zb[0], *Zb2 = w->Zb[1];
    memset(Zb, 0, TD * sizeof(real));
    Zb[(size_t)n * D + d] = seed;
    int tb = n; /* first token with a nonzero Zb */
    for (int l = L - 1; l >= 0; l--) {
        const real *P = Pf + 2 * l * D2, *Q = P + D2;
        const real *Zl = w->Z + l * TD, *C = w->C + l * D2, *G = w->G + l * D2;
        tok_outer(w->Gb, Zb + (size_t)tb * D, Zl + (size_t)tb * D, T - tb, D, 0);
        mm(w->t1, w->Gb, 0, Q, 1, D, 1, 0); /* Gb Q' */
        mm(w->gP, w->t1, 0, C, 0, D, inv_n, 0);
        mm(w->t3, C, 0, P, 1, D, 1, 0);     /* C P' */
        mm(w->gQ, w->t3, 0, w->Gb, 0, D, inv_n, 0);
        acc_add(acc + 2 * l * D2, w->gP, D2);
        acc_add(acc + 2 * l * D2 + D2, w->gQ, D2);
        if (l == 0) break;
        /* dloss/dZ_l = Zb + G' Zb + S Z M, S = Cb + Cb', Cb = (1/n) P' Gb Q' */
        mm(w->t2, P, 1, w->t1, 0, D, inv_n, 0);
        symm2(w->S, w->t2, D);
        memset(Zb2, 0, TD * sizeof(real));
        memcpy(Zb2 + (size_t)tb * D, Zb + (size_t)tb * D, (size_t)(T - tb) * D * sizeof(real));
        tok_mv(Zb2 + (size_t)tb * D, Zb + (size_t)tb * D, G, T - tb, D, 1);
        tok_mv(Zb2, Zl, w->S, n, D, 0);
        real *t = Zb;
        Zb = Zb2;
        Zb2 = t;
        tb = 0;
    }
}

/* Loss of one prompt; when acc != NULL, adds d loss / d (P_l, Q_l) into acc [nfull]. */
static double prompt_grad(const lt_model *p, lt_ws *w, const real *Pf, const real *zin, real y,
                          double *acc)
{
    prompt_forward(p, w, Pf, NULL, zin);
    real yhat = -w->Z[(size_t)p->L * p->TD + (size_t)p->n * p->D + p->d];
    double e = (double)yhat - (double)y;
    if (acc) prompt_backward(p, w, Pf, (real)-e, acc);
    return 0.5 * e * e;
}

/* Adds G v = J' J v (w.r.t. the full (P_l, Q_l)) of one prompt's loss into acc [nfull]: MSE on
 * one output has H_loss = 1, so the output vector is J v = R y_hat = -RZ_L[query, y], sent back
 * through the gradient's backward pass. */
static void prompt_gnvp(const lt_model *p, lt_ws *w, const real *Pf, const real *Vf,
                        const real *zin, double *acc)
{
    prompt_forward(p, w, Pf, Vf, zin);
    real ryhat = -w->RZ[(size_t)p->L * p->TD + (size_t)p->n * p->D + p->d];
    prompt_backward(p, w, Pf, -ryhat, acc);
}

/* Adds H v (w.r.t. the full (P_l, Q_l)) of one prompt's loss into acc [nfull]. */
static void prompt_hvp(const lt_model *p, lt_ws *w, const real *Pf, const real *Vf,
                       const real *zin, real y, double *acc)
{
    const int L = p->L, D = p->D, T = p->T, n = p->n, d = p->d;
    const size_t TD = p->TD, D2 = p->D2;
    const real inv_n = (real)1 / (real)n;
    prompt_forward(p, w, Pf, Vf, zin);
    size_t q = (size_t)L * TD + (size_t)n * D + d;
    real e = -w->Z[q] - y, re = -w->RZ[q]; /* MSE: R(dloss/dy_hat) = R y_hat */
    real *Zb = w->Zb[0], *Zb2 = w->Zb[1], *RZb = w->RZb[0], *RZb2 = w->RZb[1];
    memset(Zb, 0, TD * sizeof(real));
    memset(RZb, 0, TD * sizeof(real));
    Zb[(size_t)n * D + d] = -e;
    RZb[(size_t)n * D + d] = -re;
    int tb = n;
    for (int l = L - 1; l >= 0; l--) {
        const real *P = Pf + 2 * l * D2, *Q = P + D2, *VP = Vf + 2 * l * D2, *VQ = VP + D2;
        const real *Zl = w->Z + l * TD, *RZl = w->RZ + l * TD;
        const real *C = w->C + l * D2, *G = w->G + l * D2, *RC = w->RC + l * D2,
                   *RG = w->RG + l * D2;
        size_t o = (size_t)tb * D;
        /* Gb = Zb Z',  RGb = RZb Z' + Zb RZ' */
        tok_outer(w->Gb, Zb + o, Zl + o, T - tb, D, 0);
        tok_outer(w->RGb, RZb + o, Zl + o, T - tb, D, 0);
        tok_outer(w->RGb, Zb + o, RZl + o, T - tb, D, 1);
        /* R dP = (1/n) ((RGb Q' + Gb VQ') C + Gb Q' RC) */
        mm(w->t1, w->Gb, 0, Q, 1, D, 1, 0);
        mm(w->t2, w->RGb, 0, Q, 1, D, 1, 0);
        mm(w->t2, w->Gb, 0, VQ, 1, D, 1, 1);
        mm(w->gP, w->t2, 0, C, 0, D, inv_n, 0);
        mm(w->gP, w->t1, 0, RC, 0, D, inv_n, 1);
        /* R dQ = (1/n) ((RC P' + C VP') Gb + C P' RGb) */
        mm(w->t3, C, 0, P, 1, D, 1, 0);
        mm(w->t4, RC, 0, P, 1, D, 1, 0);
        mm(w->t4, C, 0, VP, 1, D, 1, 1);
        mm(w->gQ, w->t4, 0, w->Gb, 0, D, inv_n, 0);
        mm(w->gQ, w->t3, 0, w->RGb, 0, D, inv_n, 1);
        acc_add(acc + 2 * l * D2, w->gP, D2);
        acc_add(acc + 2 * l * D2 + D2, w->gQ, D2);
        if (l == 0) break;
        /* Cb = (1/n) P' Gb Q',  R Cb = (1/n) (VP' Gb Q' + P' (RGb Q' + Gb VQ')) */
        mm(w->t3, P, 1, w->t1, 0, D, inv_n, 0);
        symm2(w->S, w->t3, D);
        mm(w->t4, VP, 1, w->t1, 0, D, inv_n, 0);
        mm(w->t4, P, 1, w->t2, 0, D, inv_n, 1);
        symm2(w->RS, w->t4, D);
        /* Zb_l = Zb + G' Zb + S Z M;  RZb_l = RZb + G' RZb + RG' Zb + RS Z M + S RZ M */
        memset(Zb2, 0, TD * sizeof(real));
        memset(RZb2, 0, TD * sizeof(real));
        memcpy(Zb2 + o, Zb + o, (size_t)(T - tb) * D * sizeof(real));
        memcpy(RZb2 + o, RZb + o, (size_t)(T - tb) * D * sizeof(real));
        tok_mv(Zb2 + o, Zb + o, G, T - tb, D, 1);
        tok_mv(RZb2 + o, RZb + o, G, T - tb, D, 1);
        tok_mv(RZb2 + o, Zb + o, RG, T - tb, D, 1);
        tok_mv(Zb2, Zl, w->S, n, D, 0);
        tok_mv(RZb2, Zl, w->RS, n, D, 0);
        tok_mv(RZb2, RZl, w->S, n, D, 0);
        real *t = Zb;
        Zb = Zb2;
        Zb2 = t;
        t = RZb;
        RZb = RZb2;
        RZb2 = t;
        tb = 0;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* model ops                                                                                   */

/* The full (P_l, Q_l) vector for params: params itself, or the sparse embedding into buf. */
static const real *embed(const lt_model *p, const real *params, real *buf)
{
    if (!p->sparse) return params;
    memset(buf, 0, p->nfull * sizeof(real));
    for (size_t k = 0; k < p->np; k++) buf[p->sidx[k]] = params[k];
    return buf;
}

/* g [nparams] += scale * sum over blocks of part [nb, nfull] (blocks in order), restricted to
 * the parameters (sparse: J' of the full gradient). */
static void part_reduce(const lt_model *p, real *g, int nb, double scale)
{
    eos_model_part_reduce(g, p->part, nb, p->nfull, p->np, p->sparse ? p->sidx : NULL, scale);
}

/* What a block of prompts needs: rows r0 + [i0, i1) of X, Y (through idx when set), the full
 * parameters Pf and, for an HVP, the full direction Vf (NULL otherwise). */
typedef struct {
    const lt_model *p;
    const real *Pf, *Vf, *X, *Y;
    const int *idx;
    int r0, d_in;
    int gn; /* with Vf: the Gauss-Newton product instead of the HVP */
} lt_pass;

/* One block of prompts, w.r.t. the full (P_l, Q_l): with a direction Vf its H v (gn: G v) into
 * acc, else the losses into lrow and (acc != NULL) the gradient into acc. */
static void prompt_block(void *ctx, int blk, int i0, int i1, double *acc)
{
    const lt_pass *a = ctx;
    lt_ws w;
    ws_carve(&w, a->p, a->p->ws + (size_t)blk * a->p->ws_len);
    for (int i = i0; i < i1; i++) {
        size_t r = (size_t)(a->idx ? a->idx[a->r0 + i] : a->r0 + i);
        const real *z = a->X + r * (size_t)a->d_in;
        if (a->Vf && a->gn)
            prompt_gnvp(a->p, &w, a->Pf, a->Vf, z, acc);
        else if (a->Vf)
            prompt_hvp(a->p, &w, a->Pf, a->Vf, z, a->Y[r], acc);
        else
            a->p->lrow[i] = prompt_grad(a->p, &w, a->Pf, z, a->Y[r], acc);
    }
}

static int lt_loss_grad(eos_model *m, const real *params, const real *X, const real *Y,
                        const int *idx, int n, double scale, double *loss_sum, double *n_correct,
                        real *grad)
{
    lt_model *p = m->impl;
    (void)n_correct; /* regression: no accuracy */
    lt_pass a = {.p = p, .Pf = embed(p, params, p->pf), .X = X, .Y = Y, .idx = idx,
                 .d_in = m->d_in};
    double lsum = 0.0;
    for (int r0 = 0; r0 < n; r0 += m->chunk) {
        int nr = n - r0 < m->chunk ? n - r0 : m->chunk, nb = (nr + RB - 1) / RB;
        a.r0 = r0;
        eos_model_row_blocks(nr, RB, grad ? p->part : NULL, p->nfull, prompt_block, &a);
        for (int i = 0; i < nr; i++) lsum += p->lrow[i]; /* fixed order */
        if (grad) part_reduce(p, grad, nb, scale);
    }
    if (loss_sum) *loss_sum += lsum;
    return 0;
}

/* hv += scale * (H or, gn, G) v over the prompts: the embedding is linear, so for the sparse
 * parametrisation both are J_e' (full operator) J_e v with J_e the embedding. */
static int lt_product(eos_model *m, const real *params, const real *X, const real *Y,
                      const int *idx, int n, double scale, const real *v, real *hv, int gn)
{
    lt_model *p = m->impl;
    lt_pass a = {.p = p, .Pf = embed(p, params, p->pf), .Vf = embed(p, v, p->vf), .X = X, .Y = Y,
                 .idx = idx, .d_in = m->d_in, .gn = gn};
    for (int r0 = 0; r0 < n; r0 += m->chunk) {
        int nr = n - r0 < m->chunk ? n - r0 : m->chunk, nb = (nr + RB - 1) / RB;
        a.r0 = r0;
        eos_model_row_blocks(nr, RB, p->part, p->nfull, prompt_block, &a);
        part_reduce(p, hv, nb, scale);
    }
    return 0;
}

static int lt_hvp(eos_model *m, const real *params, const real *X, const real *Y, const int *idx,
                  int n, double scale, const real *v, real *hv)
{
    return lt_product(m, params, X, Y, idx, n, scale, v, hv, 0);
}

static int lt_gnvp(eos_model *m, const real *params, const real *X, const real *Y,
                   const int *idx, int n, double scale, const real *v, real *gv)
{
    return lt_product(m, params, X, Y, idx, n, scale, v, gv, 1);
}

/* Every parameter i.i.d. in order: Gaussian std init_scale/sqrt(d+1), or (pytorch) uniform in
 * +-init_scale/sqrt(d+1), the fan-in of a token. */
static void lt_init(const eos_model *m, real *params, eos_rng *rng)
{
    const lt_model *p = m->impl;
    double bound = m->cfg.init_scale / sqrt((double)p->D);
    for (size_t k = 0; k < m->nparams; k++)
        params[k] = m->cfg.init == EOS_INIT_GAUSSIAN
                        ? (real)(bound * eos_rng_normal(rng))
                        : (real)(bound * (2.0 * eos_rng_uniform(rng) - 1.0));
}

static void lt_release(lt_model *p)
{
    if (!p) return;
    free(p->sidx);
    free(p->pf);
    free(p->ws);
    free(p->part);
    free(p);
}

static void lt_free(eos_model *m)
{
    lt_release(m->impl);
    m->impl = NULL;
}

static const eos_model_ops lt_ops = {
    .init = lt_init,
    .loss_grad = lt_loss_grad,
    .hvp = lt_hvp,
    .gnvp = lt_gnvp,
    .free = lt_free,
};

/* Token-layout data [T, D] with T >= 2 (context and query) and D >= 2 (x and y), one output. */
static int lt_validate(const eos_model_cfg *mc, eos_loss_kind loss, const eos_shape *in,
                       int n_out, const char **key)
{
    int rc = 0;
    char shape[96];
    eos_shape_text(in, shape, sizeof shape);
    if (in->layout != EOS_LAYOUT_TOKENS)
        EOS_FAIL_KEY("model.arch", "model.arch: linear-transformer needs token-layout data "
                     "(prompts of tokens), got %s", shape);
    if ((in->dim[0] > 0 && in->dim[0] < 2) || (in->dim[1] > 0 && in->dim[1] < 2))
        EOS_FAIL_KEY("model.arch", "model.arch: linear-transformer needs at least two tokens "
                     "(context and query) of width >= 2 (x and y), got %s", shape);
    if (n_out > 1)
        EOS_FAIL_KEY("model.arch", "model.arch: linear-transformer predicts one output, the "
                     "data have %d", n_out);
    if (loss != EOS_LOSS_MSE)
        EOS_FAIL_KEY("loss", "loss: model.arch = linear-transformer (in-context regression) "
                     "supports mse only");
    if (mc->layers < 1 || mc->layers > 64)
        EOS_FAIL_KEY("model.layers", "model.layers: must be between 1 and 64, got %d",
                     mc->layers);
fail:
    return rc;
}

/* Forward multiply-adds per prompt: per layer C (n D^2), P C and G (2 D^3) and the update of
 * the tokens (T D^2; the last layer updates the query alone). */
static double lt_cost(const eos_model_cfg *mc, const eos_shape *in, int n_out)
{
    double T = in->dim[0], D = in->dim[1], n = T - 1, L = mc->layers;
    (void)n_out;
    return L * (n * D * D + 2 * D * D * D) + ((L - 1) * T + 1) * D * D;
}

static int lt_setup(eos_model *m)
{
    int rc = 0;
    lt_model *p = NULL;
    const eos_model_cfg *mc = &m->cfg;
    EOS_ALLOC(p, 1);
    p->L = mc->layers;
    p->T = m->in.dim[0];
    p->D = m->in.dim[1];
    p->d = p->D - 1;
    p->n = p->T - 1;
    p->sparse = mc->sparse != 0;
    p->D2 = (size_t)p->D * p->D;
    p->TD = (size_t)p->T * p->D;
    p->nfull = 2 * (size_t)p->L * p->D2;
    if (p->sparse) {
        size_t per = (size_t)p->d * p->d + 1, k = 0;
        m->nparams = (size_t)p->L * per;
        EOS_ALLOC(p->sidx, m->nparams);
        EOS_ALLOC(p->pf, 2 * p->nfull);
        p->vf = p->pf + p->nfull;
        for (int l = 0; l < p->L; l++) {
            size_t base = 2 * (size_t)l * p->D2;
            p->sidx[k++] = base + (size_t)p->d * p->D + p->d; /* P[d][d] = p */
            for (int i = 0; i < p->d; i++)
                for (int j = 0; j < p->d; j++)
                    p->sidx[k++] = base + p->D2 + (size_t)i * p->D + j; /* Q[i][j] = B[i][j] */
        }
    } else {
        m->nparams = p->nfull;
    }
    p->np = m->nparams;
    size_t nblk = ((size_t)m->chunk + RB - 1) / RB;
    p->ws_len = ws_size(p->L, p->TD, p->D2);
    EOS_ALLOC(p->ws, nblk * p->ws_len);
    EOS_ALLOC(p->part, nblk * p->nfull + (size_t)m->chunk);
    p->lrow = p->part + nblk * p->nfull;
    m->impl = p;
    m->ops = &lt_ops;
    return 0;
fail:
    lt_release(p);
    return rc;
}

/* One group per layer, attn1 (from the prompt) to attnL: its W_PV and W_KQ together (adjacent:
 * 2 D^2 parameters, or p and B, d^2 + 1, when sparse). */
static int lt_groups(const eos_model_cfg *mc, const eos_model *m, eos_param_group *g, int max)
{
    const size_t per = m ? m->nparams / (size_t)mc->layers : 0;
    for (int l = 0; l < mc->layers && l < max; l++) {
        snprintf(g[l].name, sizeof g[l].name, "attn%d", l + 1);
        g[l].off = (size_t)l * per;
        g[l].len = per;
    }
    return mc->layers;
}

const eos_model_arch eos_model_arch_linear_transformer = {
    .name = "linear-transformer",
    .validate = lt_validate,
    .cost = lt_cost,
    .setup = lt_setup,
    .ops = &lt_ops,
    .groups = lt_groups,
};

/* ------------------------------------------------------------------------------------------ */
/* naive references: double, math layout Z [D, T] (columns = tokens), the T x T score matrix  */
/* K = Z' Q Z formed explicitly, so a different association order than the kernels above.     */

/* C [m, nn] = alpha op(A) op(B) + beta C, op(A) [m, k], op(B) [k, nn], row-major storage. */
static void dmm(double *C, const double *A, int ta, const double *B, int tb, int m, int k, int nn,
                double alpha, double beta)
{
    for (int i = 0; i < m; i++)
        for (int j = 0; j < nn; j++) {
            double s = 0;
            for (int q = 0; q < k; q++)
                s += (ta ? A[q * m + i] : A[i * k + q]) * (tb ? B[j * k + q] : B[q * nn + j]);
            C[i * nn + j] = alpha * s + (beta == 0 ? 0 : beta * C[i * nn + j]);
        }
}

/* Full (P_l, Q_l) in double from the model's parameters (sparse: explicit placement). */
static void ref_embed(const lt_model *p, const real *params, double *full)
{
    int D = p->D, d = p->d;
    memset(full, 0, p->nfull * sizeof *full);
    for (int l = 0; l < p->L; l++) {
        double *P = full + 2 * (size_t)l * D * D, *Q = P + D * D;
        if (!p->sparse) {
            for (int k = 0; k < 2 * D * D; k++) P[k] = params[2 * (size_t)l * D * D + k];
            continue;
        }
        const real *s = params + (size_t)l * (d * d + 1);
        P[d * D + d] = s[0];
        for (int i = 0; i < d; i++)
            for (int j = 0; j < d; j++) Q[i * D + j] = s[1 + i * d + j];
    }
}

/* out [nparams] += the restriction of full [nfull] to the parameters. */
static void ref_project(const lt_model *p, const double *full, real *out)
{
    int D = p->D, d = p->d;
    for (int l = 0; l < p->L; l++) {
        const double *P = full + 2 * (size_t)l * D * D, *Q = P + D * D;
        if (!p->sparse) {
            for (int k = 0; k < 2 * D * D; k++) out[2 * (size_t)l * D * D + k] += (real)P[k];
            continue;
        }
        real *s = out + (size_t)l * (d * d + 1);
        s[0] += (real)P[d * D + d];
        for (int i = 0; i < d; i++)
            for (int j = 0; j < d; j++) s[1 + i * d + j] += (real)Q[i * D + j];
    }
}

/* One prompt: loss; adds scale * gradient (v NULL) or scale * H v into g [nfull]. */
static double ref_prompt(const lt_model *p, const double *Pf, const double *Vf, const real *zin,
                         double y, double scale, double *g, double *buf)
{
    const int L = p->L, D = p->D, T = p->T, n = p->n, d = p->d, DT = D * T, TT = T * T, DD = D * D;
    double *Z = buf, *RZ = Z + (L + 1) * DT, *V = RZ + (L + 1) * DT, *RV = V + L * DT;
    double *MK = RV + L * DT, *MRK = MK + L * TT, *t = MRK + L * TT; /* t: temporaries */
    double *A = t, *B = A + DT, *Zb = B + DT, *RZb = Zb + DT, *dV = RZb + DT, *RdV = dV + DT;
    double *dZ = RdV + DT, *RdZ = dZ + DT, *dK = RdZ + DT, *RdK = dK + TT, *dP = RdK + TT;
    double *dQ = dP + DD, *E = dQ + DD, *RE = E + DT;
    for (int s = 0; s < T; s++)
        for (int j = 0; j < D; j++) Z[j * T + s] = zin[s * D + j], RZ[j * T + s] = 0;
    for (int l = 0; l < L; l++) {
        const double *P = Pf + 2 * l * DD, *Q = P + DD;
        double *Zl = Z + l * DT, *RZl = RZ + l * DT, *Vl = V + l * DT, *RVl = RV + l * DT;
        double *MKl = MK + l * TT, *MRKl = MRK + l * TT;
        dmm(Vl, P, 0, Zl, 0, D, D, T, 1, 0);
        dmm(A, Q, 0, Zl, 0, D, D, T, 1, 0);
        dmm(MKl, Zl, 1, A, 0, T, D, T, 1, 0); /* K = Z' Q Z */
        for (int s = 0; s < T; s++) MKl[n * T + s] = 0; /* M K: the query is no key/value */
        dmm(Z + (l + 1) * DT, Vl, 0, MKl, 0, D, T, T, 1.0 / n, 0);
        for (int k = 0; k < DT; k++) Z[(l + 1) * DT + k] += Zl[k];
        if (!Vf) continue;
        const double *VP = Vf + 2 * l * DD, *VQ = VP + DD;
        dmm(RVl, VP, 0, Zl, 0, D, D, T, 1, 0);
        dmm(RVl, P, 0, RZl, 0, D, D, T, 1, 1);
        /* RK = RZ' Q Z + Z' VQ Z + Z' Q RZ */
        dmm(MRKl, RZl, 1, A, 0, T, D, T, 1, 0);
        dmm(B, VQ, 0, Zl, 0, D, D, T, 1, 0);
        dmm(B, Q, 0, RZl, 0, D, D, T, 1, 1);
        dmm(MRKl, Zl, 1, B, 0, T, D, T, 1, 1);
        for (int s = 0; s < T; s++) MRKl[n * T + s] = 0;
        double *RZn = RZ + (l + 1) * DT;
        dmm(RZn, RVl, 0, MKl, 0, D, T, T, 1.0 / n, 0);
        dmm(RZn, Vl, 0, MRKl, 0, D, T, T, 1.0 / n, 1);
        for (int k = 0; k < DT; k++) RZn[k] += RZl[k];
    }
    double yhat = -Z[L * DT + d * T + n], e = yhat - y, re = -RZ[L * DT + d * T + n];
    for (int k = 0; k < DT; k++) Zb[k] = RZb[k] = 0;
    Zb[d * T + n] = -e;
    RZb[d * T + n] = -re;
    for (int l = L - 1; l >= 0; l--) {
        const double *P = Pf + 2 * l * DD, *Q = P + DD;
        const double *Zl = Z + l * DT, *RZl = RZ + l * DT, *Vl = V + l * DT, *RVl = RV + l * DT;
        const double *MKl = MK + l * TT, *MRKl = MRK + l * TT;
        for (int k = 0; k < DT; k++) E[k] = Zb[k] / n, RE[k] = RZb[k] / n;
        dmm(dV, E, 0, MKl, 1, D, T, T, 1, 0);  /* dV = E (MK)' */
        dmm(dK, Vl, 1, E, 0, T, D, T, 1, 0);   /* dK = M V' E */
        for (int s = 0; s < T; s++) dK[n * T + s] = 0;
        /* dZ = Zb + P' dV + Q Z dK' + Q' Z dK */
        for (int k = 0; k < DT; k++) dZ[k] = Zb[k];
        dmm(dZ, P, 1, dV, 0, D, D, T, 1, 1);
        dmm(A, Q, 0, Zl, 0, D, D, T, 1, 0);
        dmm(dZ, A, 0, dK, 1, D, T, T, 1, 1);
        dmm(B, Q, 1, Zl, 0, D, D, T, 1, 0);
        dmm(dZ, B, 0, dK, 0, D, T, T, 1, 1);
        if (!Vf) {
            dmm(dP, dV, 0, Zl, 1, D, T, D, 1, 0); /* dP = dV Z' */
            dmm(A, Zl, 0, dK, 0, D, T, T, 1, 0);
            dmm(dQ, A, 0, Zl, 1, D, T, D, 1, 0);  /* dQ = Z dK Z' */
        } else {
            const double *VP = Vf + 2 * l * DD, *VQ = VP + DD;
            dmm(RdV, RE, 0, MKl, 1, D, T, T, 1, 0);
            dmm(RdV, E, 0, MRKl, 1, D, T, T, 1, 1);
            dmm(RdK, RVl, 1, E, 0, T, D, T, 1, 0);
            dmm(RdK, Vl, 1, RE, 0, T, D, T, 1, 1);
            for (int s = 0; s < T; s++) RdK[n * T + s] = 0;
            /* R dP = RdV Z' + dV RZ' */
            dmm(dP, RdV, 0, Zl, 1, D, T, D, 1, 0);
            dmm(dP, dV, 0, RZl, 1, D, T, D, 1, 1);
            /* R dQ = RZ dK Z' + Z RdK Z' + Z dK RZ' */
            dmm(A, RZl, 0, dK, 0, D, T, T, 1, 0);
            dmm(A, Zl, 0, RdK, 0, D, T, T, 1, 1);
            dmm(dQ, A, 0, Zl, 1, D, T, D, 1, 0);
            dmm(A, Zl, 0, dK, 0, D, T, T, 1, 0);
            dmm(dQ, A, 0, RZl, 1, D, T, D, 1, 1);
            /* R dZ = RZb + VP' dV + P' RdV + (VQ Z + Q RZ) dK' + Q Z RdK'
             *        + (VQ' Z + Q' RZ) dK + Q' Z RdK */
            for (int k = 0; k < DT; k++) RdZ[k] = RZb[k];
            dmm(RdZ, VP, 1, dV, 0, D, D, T, 1, 1);
            dmm(RdZ, P, 1, RdV, 0, D, D, T, 1, 1);
            dmm(A, VQ, 0, Zl, 0, D, D, T, 1, 0);
            dmm(A, Q, 0, RZl, 0, D, D, T, 1, 1);
            dmm(RdZ, A, 0, dK, 1, D, T, T, 1, 1);
            dmm(A, Q, 0, Zl, 0, D, D, T, 1, 0);
            dmm(RdZ, A, 0, RdK, 1, D, T, T, 1, 1);
            dmm(A, VQ, 1, Zl, 0, D, D, T, 1, 0);
            dmm(A, Q, 1, RZl, 0, D, D, T, 1, 1);
            dmm(RdZ, A, 0, dK, 0, D, T, T, 1, 1);
            dmm(A, Q, 1, Zl, 0, D, D, T, 1, 0);
            dmm(RdZ, A, 0, RdK, 0, D, T, T, 1, 1);
            for (int k = 0; k < DT; k++) RZb[k] = RdZ[k];
        }
        for (int k = 0; k < DD; k++) {
            g[2 * l * DD + k] += scale * dP[k];
            g[2 * l * DD + DD + k] += scale * dQ[k];
        }
        for (int k = 0; k < DT; k++) Zb[k] = dZ[k];
    }
    return 0.5 * e * e;
}

static int ref_run(const eos_model *m, const real *params, const real *X, const real *Y,
                   const int *idx, int n, double scale, double *loss_sum, const real *v,
                   real *out)
{
    int rc = 0;
    const lt_model *p = m->impl;
    int L = p->L, DT = p->D * p->T, TT = p->T * p->T, DD = p->D * p->D;
    double *Pf = NULL, *Vf = NULL, *g = NULL, *buf = NULL;
    EOS_ALLOC(Pf, p->nfull);
    EOS_ALLOC(Vf, p->nfull);
    EOS_ALLOC(g, p->nfull);
    EOS_ALLOC(buf, (size_t)(2 * (L + 1) + 2 * L) * DT + 2 * (size_t)L * TT + 12 * (size_t)DT +
                       2 * (size_t)TT + 2 * (size_t)DD);
    ref_embed(p, params, Pf);
    if (v) ref_embed(p, v, Vf);
    double lsum = 0;
    for (int i = 0; i < n; i++) {
        size_t r = (size_t)(idx ? idx[i] : i);
        lsum += ref_prompt(p, Pf, v ? Vf : NULL, X + r * (size_t)m->d_in, Y[r], scale, g, buf);
    }
    if (loss_sum) *loss_sum += lsum;
    if (out) ref_project(p, g, out);
fail:
    free(Pf);
    free(Vf);
    free(g);
    free(buf);
    return rc;
}

int eos_linear_transformer_loss_grad_ref(const eos_model *m, const real *params, const real *X, const real *Y,
                            const int *idx, int n, double scale, double *loss_sum, real *grad)
{
    return ref_run(m, params, X, Y, idx, n, scale, loss_sum, NULL, grad);
}

int eos_linear_transformer_hvp_ref(const eos_model *m, const real *params, const real *X, const real *Y,
                      const int *idx, int n, double scale, const real *v, real *hv)
{
    return ref_run(m, params, X, Y, idx, n, scale, NULL, v, hv);
}
