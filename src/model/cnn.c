/* cnn.c: convolutional network (Cohen et al. 2021's convnet) with exact gradient, Hessian- and
 * Gauss-Newton-vector products.
 *
 * Layers l = 1..nc: conv (C[l] outputs, k x k, stride 1, "same" zero padding k/2, bias when
 * model.bias), the activation, then 2x2 stride-2 pooling (max, avg, or none; odd sizes are floored
 * like PyTorch's MaxPool2d(2)/AvgPool2d(2): the last row or column is dropped). Then flatten in
 * PyTorch's [C, H, W] order and the dense stack of mlp.c (model.hidden layers, then the outputs
 * and the loss; hidden [] = one linear layer, Cohen's convnet). Parameters: per conv layer
 * W_l [C_out, C_in, k, k] (PyTorch's Conv2d weight) then b_l [C_out], then the dense stack's.
 *
 * Kernels (llm.c style: output first, dimensions last): inside the conv stack a chunk of n
 * examples is laid out [C, n, H, W], so that a layer is one GEMM over all the chunk's pixels:
 * Z [C_out, n H W] = W_l [C_out, C_in k k] cols [C_in k k, n H W] (im2col), the bias preloaded;
 * the weight gradient dW += dZ cols' sums over the chunk inside one single-threaded GEMM per C
 * tile, and the input gradient is col2im(W' dZ), one plane per (channel, example): every sum is
 * in an order fixed by the shapes, so results are bitwise independent of OMP_NUM_THREADS.
 *
 * HVP (R-operator): R-forward RZ_l = V_l cols(a_{l-1}) + W_l cols(Ra_{l-1}) + Vb_l,
 * Ra_l = sigma'(z_l) RZ_l, max pooling passes tangents through the argmax its forward pass chose
 * (average pooling is linear); the dense stack's product with the input tangent; then the
 * R-backward RdW_l = RdZ_l cols(a_{l-1})' + dZ_l cols(Ra_{l-1})', R(d a_{l-1}) = col2im(W_l' RdZ_l
 * + V_l' dZ_l), through pooling by the same argmax, R dZ = R da sigma' + da sigma'' RZ.
 * Gauss-Newton: the same R-forward, then the plain backward of H_loss Rf.
 *
 * Memory: the workspaces hold cc <= chunk examples, cc chosen so that they stay within
 * CNN_WS_BYTES (a conv layer's activations are large); each call loops over passes of cc. */
#include "model_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const eos_model_arch eos_model_arch_mlp; /* the dense stack's keys and cost (mlp.c) */

#define CNN_MAXC EOS_MAX_CHANNELS
#define CNN_WS_BYTES ((size_t)128 << 20) /* bound of the conv workspaces of one pass */

typedef struct {
    int nc, k;                       /* conv layers, kernel side */
    eos_pool pool;
    int bias, tanh_a;
    eos_activation act;
    int cc;                          /* examples per pass */
    int C[CNN_MAXC + 1];             /* C[0] image channels, C[l] outputs of layer l */
    int H[CNN_MAXC + 1], W[CNN_MAXC + 1]; /* [0] image; [l] after layer l's pooling */
    int F;                           /* C[nc] H[nc] W[nc] flattened features */
    size_t woff[CNN_MAXC + 1], boff[CNN_MAXC + 1], hoff; /* W_l, b_l, the dense stack */
    eos_dense *head;
    /* conv workspaces: one block */
    real *ws;
    real *zeros;                     /* [H[0] W[0]] stands in for the per-column bias */
    real *a[CNN_MAXC + 1];           /* [C[l], cc, H[l-1] W[l-1]] sigma(z_l) */
    real *d1[CNN_MAXC + 1];          /* same, sigma'(z_l) (NULL for tanh) */
    real *d2[CNN_MAXC + 1];          /* same, sigma''(z_l), then sigma''(z_l) RZ_l */
    real *s[CNN_MAXC + 1];           /* sigma': d1[l], or a[l] for tanh */
    real *po[CNN_MAXC + 1];          /* [C[l], cc, H[l] W[l]] pooled (= a[l] without pooling) */
    real *ra[CNN_MAXC + 1], *rpo[CNN_MAXC + 1]; /* their tangents */
    real *cols, *rcols;              /* [max C[l-1] k k, cc H[l-1] W[l-1]] patches, tangents */
    real *gA, *rgA, *gP, *rgP;       /* [max C[l] cc H[l-1] W[l-1]] d loss / d a, / d po; R */
    real *feat, *rfeat, *dfeat, *rdfeat; /* [cc, F] flattened features, tangents, gradients */
    int *amem;
    int *am[CNN_MAXC + 1];           /* [C[l], cc, H[l] W[l]] max pooling's argmax in the plane */
} cnn;

/* ------------------------------------------------------------------------------------------ */
/* kernels                                                                                     */

/* cols [C k k, n h w] = the patches of a "same" convolution, zero outside the image: row
 * (c, ky, kx), column (i, y, x) holds in(i, c, y + ky - k/2, x + kx - k/2), where the plane
 * in(i, c) starts at src + row(i) ns + c cs, row(i) = rows ? rows[i] : i. */
static void im2col(real *cols, const real *src, const int *rows, size_t ns, size_t cs, int n,
                   int C, int h, int w, int k)
{
    const int pad = k / 2, kk = k * k;
    const size_t hw = (size_t)h * w, ncol = (size_t)n * hw;
#pragma omp parallel for collapse(2) schedule(static) /* (patch row, example) pairs */
    for (int r = 0; r < C * kk; r++)
        for (int i = 0; i < n; i++) {
            const int c = r / kk, dy = r / k % k - pad, dx = r % k - pad;
            const int x0 = dx < 0 ? -dx : 0, x1 = dx > 0 ? w - dx : w; /* columns inside */
            const int y0 = dy < 0 ? -dy : 0, y1 = dy > 0 ? h - dy : h; /* rows inside */
            const real *plane = src + (size_t)(rows ? rows[i] : i) * ns + (size_t)c * cs;
            real *o = cols + (size_t)r * ncol + (size_t)i * hw;
            if (y1 <= y0 || x1 <= x0) {
                memset(o, 0, hw * sizeof(real));
                continue;
            }
            /* Rows y0..y1-1 are the source rows y0+dy.. shifted by dx: one copy of the whole
             * span (a copy per 14- or 28-float row cost more than the copying), after which the
             * |dx| columns per row that came from the neighbouring source row are zeroed. */
            memset(o, 0, (size_t)y0 * w * sizeof(real));
            memcpy(o + (size_t)y0 * w + x0, plane + (size_t)(y0 + dy) * w + x0 + dx,
                   ((size_t)(y1 - y0) * w - (size_t)(w - (x1 - x0))) * sizeof(real));
            /* down the columns (one store per row for k = 3; a loop along a row would become
             * a memset call per row) */
            for (int x = 0; x < x0; x++)
                for (int y = y0; y < y1; y++) o[(size_t)y * w + x] = 0;
            for (int x = x1; x < w; x++)
                for (int y = y0; y < y1; y++) o[(size_t)y * w + x] = 0;
            memset(o + (size_t)y1 * w, 0, (size_t)(h - y1) * w * sizeof(real));
        }
}

/* The adjoint of im2col: the planes dst(i, c) at i ns + c cs [h, w] are overwritten with the sums
 * of the cols [C k k, n h w] entries that im2col copied from them (one plane per iteration, its
 * terms in a fixed order). */
static void col2im(real *dst, const real *cols, size_t ns, size_t cs, int n, int C, int h, int w,
                   int k)
{
    const int pad = k / 2, kk = k * k;
    const size_t hw = (size_t)h * w, ncol = (size_t)n * hw;
#pragma omp parallel for collapse(2) schedule(static) /* one output plane per iteration */
    for (int c = 0; c < C; c++)
        for (int i = 0; i < n; i++) {
            real *plane = dst + (size_t)i * ns + (size_t)c * cs;
            memset(plane, 0, hw * sizeof(real));
            for (int t = 0; t < kk; t++) {
                const int dy = t / k - pad, dx = t % k - pad;
                const int x0 = dx < 0 ? -dx : 0, x1 = dx > 0 ? w - dx : w;
                const real *q = cols + (size_t)(c * kk + t) * ncol + (size_t)i * hw;
                for (int y = 0; y < h; y++) {
                    const int sy = y + dy;
                    if (sy < 0 || sy >= h) continue;
                    real *restrict d = plane + (size_t)sy * w + dx;
                    const real *restrict qy = q + (size_t)y * w;
                    for (int x = x0; x < x1; x++) d[x] += qy[x];
                }
            }
        }
}

/* out [C, len] = b[c] along each row (b NULL: 0). */
static void fill_rows(real *out, const real *b, int C, size_t len)
{
    for (int c = 0; c < C; c++) {
        real *o = out + (size_t)c * len, v = b ? b[c] : 0;
        for (size_t j = 0; j < len; j++) o[j] = v;
    }
}

/* g [C] += scale * the row sums of D [C, len] (each row summed in order, in double). Rows go
 * ROW_SUMS_GROUP at a time: one row's sum is a chain of dependent adds that waits on the add's
 * latency, a group's sums are independent chains that overlap. Each row keeps its order, so the
 * grouping changes no bit. */
#define ROW_SUMS_GROUP 8
static void row_sums(real *g, const real *D, int C, size_t len, double scale)
{
    const int ngroups = (C + ROW_SUMS_GROUP - 1) / ROW_SUMS_GROUP;
#pragma omp parallel for schedule(static) /* one group of channels per iteration */
    for (int gi = 0; gi < ngroups; gi++) {
        const int c0 = gi * ROW_SUMS_GROUP;
        const int nc = C - c0 < ROW_SUMS_GROUP ? C - c0 : ROW_SUMS_GROUP;
        const real *d = D + (size_t)c0 * len;
        double s[ROW_SUMS_GROUP] = {0};
        if (nc == ROW_SUMS_GROUP) {
            for (size_t j = 0; j < len; j++)
                for (int q = 0; q < ROW_SUMS_GROUP; q++) s[q] += d[(size_t)q * len + j];
        } else {
            for (int q = 0; q < nc; q++)
                for (size_t j = 0; j < len; j++) s[q] += d[(size_t)q * len + j];
        }
        for (int q = 0; q < nc; q++) g[c0 + q] += (real)(scale * s[q]);
    }
}

/* 2x2 stride-2 pooling of planes [rows, h, w] into out [rows, h/2, w/2]; max: am [rows, h/2,
 * w/2] gets the index in the plane of each window's first maximum (scan order). */
static void pool_forward(real *out, int *am, const real *in, int rows, int h, int w,
                         eos_pool kind)
{
    const int ho = h / 2, wo = w / 2;
#pragma omp parallel for schedule(static) /* planes split across threads */
    for (int r = 0; r < rows; r++) {
        const real *pi = in + (size_t)r * h * w;
        real *o = out + (size_t)r * ho * wo;
        for (int y = 0; y < ho; y++)
            for (int x = 0; x < wo; x++) {
                const int j = 2 * y * w + 2 * x;
                if (kind == EOS_POOL_MAX) {
                    const int q[3] = {j + 1, j + w, j + w + 1};
                    int best = j;
                    for (int t = 0; t < 3; t++)
                        if (pi[q[t]] > pi[best]) best = q[t];
                    o[y * wo + x] = pi[best];
                    am[(size_t)r * ho * wo + y * wo + x] = best;
                } else {
                    o[y * wo + x] = (pi[j] + pi[j + 1] + pi[j + w] + pi[j + w + 1]) * (real)0.25;
                }
            }
    }
}

/* Tangent of the pooling: max passes rin at the argmax am chosen by the forward pass; the
 * average is linear. rout [rows, h/2, w/2], rin [rows, h, w]. */
static void pool_tangent(real *rout, const int *am, const real *rin, int rows, int h, int w,
                         eos_pool kind)
{
    if (kind == EOS_POOL_AVG) {
        pool_forward(rout, NULL, rin, rows, h, w, kind);
        return;
    }
    const size_t hw = (size_t)h * w, m = (size_t)(h / 2) * (w / 2);
#pragma omp parallel for schedule(static) /* planes split across threads */
    for (int r = 0; r < rows; r++)
        for (size_t o = 0; o < m; o++) rout[r * m + o] = rin[r * hw + am[r * m + o]];
}

/* Adjoint of the pooling: din [rows, h, w] (overwritten) from dout [rows, h/2, w/2]; entries no
 * window reads (the last row or column of an odd size, the non-maxima) get 0. */
static void pool_backward(real *din, const int *am, const real *dout, int rows, int h, int w,
                          eos_pool kind)
{
    const int ho = h / 2, wo = w / 2;
#pragma omp parallel for schedule(static) /* planes split across threads */
    for (int r = 0; r < rows; r++) {
        real *di = din + (size_t)r * h * w;
        const real *g = dout + (size_t)r * ho * wo;
        memset(di, 0, (size_t)h * w * sizeof(real));
        for (int y = 0; y < ho; y++)
            for (int x = 0; x < wo; x++) {
                const int j = 2 * y * w + 2 * x, o = y * wo + x;
                if (kind == EOS_POOL_MAX) {
                    di[am[(size_t)r * ho * wo + o]] = g[o];
                } else {
                    real q = g[o] * (real)0.25;
                    di[j] = di[j + 1] = di[j + w] = di[j + w + 1] = q;
                }
            }
    }
}

/* feat [n, C hw] (each example's [C, H, W] flattened, PyTorch's order) from x [C, n, hw]
 * (to_feat), or x from feat. */
static void flatten(real *feat, real *x, int n, int C, int hw, int to_feat)
{
#pragma omp parallel for schedule(static) /* examples split across threads */
    for (int i = 0; i < n; i++)
        for (int c = 0; c < C; c++) {
            real *f = feat + ((size_t)i * C + c) * hw, *p = x + ((size_t)c * n + i) * hw;
            if (to_feat) memcpy(f, p, (size_t)hw * sizeof(real));
            else memcpy(p, f, (size_t)hw * sizeof(real));
        }
}

/* ------------------------------------------------------------------------------------------ */
/* passes over a chunk of nr examples                                                          */

/* cols = the patches of conv layer l's input for the chunk: the images (rows r0.. of X, or
 * idx-selected) for l = 1, else in = layer l-1's pooled output (or its tangent) [C, nr, h w]. */
static void layer_cols(const cnn *p, int l, real *cols, const real *in, const real *X,
                       const int *idx, int r0, int nr)
{
    const int h = p->H[l - 1], w = p->W[l - 1];
    const size_t hw = (size_t)h * w, d0 = (size_t)p->C[0] * hw;
    if (l == 1)
        im2col(cols, idx ? X : X + (size_t)r0 * d0, idx ? idx + r0 : NULL, d0, hw, nr, p->C[0],
               h, w, p->k);
    else
        im2col(cols, in, NULL, hw, (size_t)nr * hw, nr, p->C[l - 1], h, w, p->k);
}

/* Forward pass of the conv stack (v != NULL: with tangents in direction v), into a, po (and ra,
 * rpo); d1 kept when want_d1 (the gradient), d2 when v (the R-backward). */
static void conv_forward(cnn *p, const real *params, const real *v, const real *X,
                         const int *idx, int r0, int nr, int want_d1)
{
    for (int l = 1; l <= p->nc; l++) {
        const int Co = p->C[l], K = p->C[l - 1] * p->k * p->k, h = p->H[l - 1], w = p->W[l - 1];
        const int ncol = nr * h * w, rows = Co * nr;
        const real *Wl = params + p->woff[l];
        layer_cols(p, l, p->cols, p->po[l - 1], X, idx, r0, nr);
        fill_rows(p->a[l], p->bias ? params + p->boff[l] : NULL, Co, (size_t)ncol);
        eos_model_gemm(0, 0, Co, ncol, K, 1, Wl, K, p->cols, ncol, 1, p->a[l], ncol);
        eos_act_forward(p->a[l], want_d1 || v ? p->d1[l] : NULL, v ? p->d2[l] : NULL, p->zeros,
                        rows, h * w, p->act);
        if (v) {
            fill_rows(p->ra[l], p->bias ? v + p->boff[l] : NULL, Co, (size_t)ncol);
            eos_model_gemm(0, 0, Co, ncol, K, 1, v + p->woff[l], K, p->cols, ncol, 1, p->ra[l],
                           ncol);
            if (l > 1) {
                layer_cols(p, l, p->rcols, p->rpo[l - 1], X, idx, r0, nr);
                eos_model_gemm(0, 0, Co, ncol, K, 1, Wl, K, p->rcols, ncol, 1, p->ra[l], ncol);
            }
            eos_act_tangent(p->ra[l], p->d2[l], p->s[l], p->zeros, rows, h * w, p->tanh_a);
        }
        if (p->pool != EOS_POOL_NONE) {
            pool_forward(p->po[l], p->am[l], p->a[l], rows, h, w, p->pool);
            if (v) pool_tangent(p->rpo[l], p->am[l], p->ra[l], rows, h, w, p->pool);
        }
    }
}

/* Backward pass of the conv stack from gP = dloss/d po[nc] [C, nr, h w]: out += scale * the conv
 * parameters' gradient; with v (the HVP), also rgP = its R-derivative on entry, and out gets
 * the R-derivative of the gradient instead. The forward pass of the same chunk (conv_forward,
 * with tangents for v) is in the workspaces, cols and rcols included: nothing between the two
 * may use them. */
static void conv_backward(cnn *p, const real *params, const real *v, const real *X,
                          const int *idx, int r0, int nr, double scale, real *out)
{
    for (int l = p->nc; l >= 1; l--) {
        const int Co = p->C[l], K = p->C[l - 1] * p->k * p->k, h = p->H[l - 1], w = p->W[l - 1];
        const int ncol = nr * h * w, rows = Co * nr;
        const real *Wl = params + p->woff[l];
        real *D = p->gP, *RD = p->rgP;
        if (p->pool != EOS_POOL_NONE) {
            pool_backward(p->gA, p->am[l], p->gP, rows, h, w, p->pool);
            D = p->gA;
            if (v) {
                pool_backward(p->rgA, p->am[l], p->rgP, rows, h, w, p->pool);
                RD = p->rgA;
            }
        }
        /* D = dloss/dz_l, RD its R-derivative [Co, nr, h w] */
        if (v) eos_act_backward_hvp(D, RD, p->s[l], p->d2[l], rows, h * w, p->tanh_a);
        else eos_act_backward(D, p->s[l], rows, h * w, p->tanh_a);
        const real *G = v ? RD : D; /* what meets the input's patches */
        if (p->bias) row_sums(out + p->boff[l], G, Co, (size_t)ncol, scale);
        /* the last layer's patches (and their tangents) are still in cols (rcols) from the
         * forward pass: the largest im2col of a net of two layers, not made twice */
        if (l < p->nc) layer_cols(p, l, p->cols, p->po[l - 1], X, idx, r0, nr);
        eos_model_gemm(0, 1, Co, K, ncol, (real)scale, G, ncol, p->cols, ncol, 1,
                       out + p->woff[l], K);
        if (v && l > 1) {
            if (l < p->nc) layer_cols(p, l, p->rcols, p->rpo[l - 1], X, idx, r0, nr);
            eos_model_gemm(0, 1, Co, K, ncol, (real)scale, D, ncol, p->rcols, ncol, 1,
                           out + p->woff[l], K);
        }
        if (l == 1) break;
        /* the input's gradient W' D (and R: W' RD + V' D) through col2im, both computed before
         * either overwrites gP, rgP (D may be gP) */
        eos_model_gemm(1, 0, K, ncol, Co, 1, Wl, K, D, ncol, 0, p->cols, ncol);
        if (v) {
            eos_model_gemm(1, 0, K, ncol, Co, 1, Wl, K, RD, ncol, 0, p->rcols, ncol);
            eos_model_gemm(1, 0, K, ncol, Co, 1, v + p->woff[l], K, D, ncol, 1, p->rcols, ncol);
        }
        const size_t hw = (size_t)h * w;
        col2im(p->gP, p->cols, hw, (size_t)nr * hw, nr, p->C[l - 1], h, w, p->k);
        if (v) col2im(p->rgP, p->rcols, hw, (size_t)nr * hw, nr, p->C[l - 1], h, w, p->k);
    }
}

static int cnn_loss_grad(eos_model *m, const real *params, const real *X, const real *Y,
                         const int *idx, int n, double scale, double *loss_sum, double *n_correct,
                         real *grad)
{
    cnn *p = m->impl;
    const int hw = p->H[p->nc] * p->W[p->nc], Cl = p->C[p->nc];
    int want_c = n_correct != NULL;
    double lsum = 0.0, csum = 0.0;
    eos_model_gemm_begin(m);
    for (int r0 = 0; r0 < n; r0 += p->cc) {
        int nr = n - r0 < p->cc ? n - r0 : p->cc;
        conv_forward(p, params, NULL, X, idx, r0, nr, grad != NULL);
        flatten(p->feat, p->po[p->nc], nr, Cl, hw, 1);
        eos_dense_loss_grad(p->head, params + p->hoff, p->feat, Y, idx, r0, nr, m->loss, scale,
                            &lsum, want_c ? &csum : NULL, grad ? grad + p->hoff : NULL,
                            grad ? p->dfeat : NULL);
        if (!grad) continue;
        flatten(p->dfeat, p->gP, nr, Cl, hw, 0);
        conv_backward(p, params, NULL, X, idx, r0, nr, scale, grad);
    }
    if (loss_sum) *loss_sum += lsum;
    if (want_c) *n_correct += csum;
    return 0;
}

static int cnn_outputs(eos_model *m, const real *params, const real *X, const int *idx, int n,
                       real *f)
{
    cnn *p = m->impl;
    const int hw = p->H[p->nc] * p->W[p->nc], Cl = p->C[p->nc];
    eos_model_gemm_begin(m);
    for (int r0 = 0; r0 < n; r0 += p->cc) {
        int nr = n - r0 < p->cc ? n - r0 : p->cc;
        conv_forward(p, params, NULL, X, idx, r0, nr, 0);
        flatten(p->feat, p->po[p->nc], nr, Cl, hw, 1);
        eos_dense_outputs(p->head, params + p->hoff, p->feat, nr, f + (size_t)r0 * m->n_out);
    }
    return 0;
}

/* out += scale * (H v, or G v when gn). */
static int cnn_product(eos_model *m, const real *params, const real *X, const real *Y,
                       const int *idx, int n, double scale, const real *v, real *out, int gn)
{
    cnn *p = m->impl;
    const int hw = p->H[p->nc] * p->W[p->nc], Cl = p->C[p->nc];
    eos_model_gemm_begin(m);
    for (int r0 = 0; r0 < n; r0 += p->cc) {
        int nr = n - r0 < p->cc ? n - r0 : p->cc;
        conv_forward(p, params, v, X, idx, r0, nr, 1);
        flatten(p->feat, p->po[p->nc], nr, Cl, hw, 1);
        flatten(p->rfeat, p->rpo[p->nc], nr, Cl, hw, 1);
        eos_dense_product(p->head, params + p->hoff, v + p->hoff, p->feat, p->rfeat, Y, idx, r0,
                          nr, m->loss, scale, out + p->hoff, gn, p->dfeat, gn ? NULL : p->rdfeat);
        flatten(p->dfeat, p->gP, nr, Cl, hw, 0);
        if (!gn) flatten(p->rdfeat, p->rgP, nr, Cl, hw, 0);
        conv_backward(p, params, gn ? NULL : v, X, idx, r0, nr, scale, out);
    }
    return 0;
}

static int cnn_hvp(eos_model *m, const real *params, const real *X, const real *Y, const int *idx,
                   int n, double scale, const real *v, real *hv)
{
    return cnn_product(m, params, X, Y, idx, n, scale, v, hv, 0);
}

static int cnn_gnvp(eos_model *m, const real *params, const real *X, const real *Y,
                    const int *idx, int n, double scale, const real *v, real *gv)
{
    return cnn_product(m, params, X, Y, idx, n, scale, v, gv, 1);
}

/* ------------------------------------------------------------------------------------------ */

/* Layer by layer (conv W_l then b_l), then the dense stack: PyTorch's bound 1/sqrt(fan_in),
 * fan_in = C_in k k for a conv layer. */
static void cnn_init(const eos_model *m, real *params, eos_rng *rng)
{
    const cnn *p = m->impl;
    for (int l = 1; l <= p->nc; l++) {
        size_t fan_in = (size_t)p->C[l - 1] * p->k * p->k;
        eos_model_init_layer(params + p->woff[l], (size_t)p->C[l] * fan_in,
                             p->bias ? params + p->boff[l] : NULL, (size_t)p->C[l],
                             (double)fan_in, &m->cfg, rng);
    }
    eos_dense_init(p->head, &m->cfg, params + p->hoff, rng);
}

static void cnn_release(cnn *p)
{
    if (!p) return;
    eos_dense_free(p->head);
    free(p->ws);
    free(p->amem);
    free(p);
}

static void cnn_free(eos_model *m)
{
    cnn_release(m->impl);
    m->impl = NULL;
}

static const eos_model_ops cnn_ops = {
    .init = cnn_init,
    .loss_grad = cnn_loss_grad,
    .hvp = cnn_hvp,
    .gnvp = cnn_gnvp,
    .outputs = cnn_outputs,
    .free = cnn_free,
};

/* The spatial sizes after each layer (H[0], W[0] given); 0 if pooling shrinks them to nothing. */
static int layer_sizes(const eos_model_cfg *mc, int *H, int *W)
{
    for (int l = 1; l <= mc->n_channels; l++) {
        H[l] = mc->pool == EOS_POOL_NONE ? H[l - 1] : H[l - 1] / 2;
        W[l] = mc->pool == EOS_POOL_NONE ? W[l - 1] : W[l - 1] / 2;
        if (H[l] < 1 || W[l] < 1) return l;
    }
    return 0;
}

/* Image data [C, H, W]; the dense stack's keys as for the MLP. */
static int cnn_validate(const eos_model_cfg *mc, eos_loss_kind loss, const eos_shape *in,
                        int n_out, const char **key)
{
    int rc = 0;
    EOS_TRY(eos_model_arch_mlp.validate(mc, loss, in, n_out, key));
    if (mc->n_channels < 1 || mc->n_channels > CNN_MAXC)
        EOS_FAIL_KEY("model.channels",
                     "model.channels: a cnn needs between 1 and %d conv layers, got %d", CNN_MAXC,
                     mc->n_channels);
    for (int l = 0; l < mc->n_channels; l++)
        if (mc->channels[l] <= 0)
            EOS_FAIL_KEY("model.channels", "model.channels[%d] = %d: channels must be positive",
                         l, mc->channels[l]);
    if (mc->kernel < 1 || mc->kernel % 2 == 0)
        EOS_FAIL_KEY("model.kernel",
                     "model.kernel: must be odd and >= 1 (same padding keeps the image size), "
                     "got %d", mc->kernel);
    if ((int)mc->pool < EOS_POOL_MAX || mc->pool > EOS_POOL_NONE)
        EOS_FAIL_KEY("model.pool", "model.pool: unknown pooling %d", (int)mc->pool);
    if (in->layout != EOS_LAYOUT_UNKNOWN && in->layout != EOS_LAYOUT_IMAGE) {
        char buf[96];
        eos_shape_text(in, buf, sizeof buf);
        EOS_FAIL_KEY("model.arch", "model.arch: cnn needs image data [C, H, W], got %s", buf);
    }
    if (eos_shape_size(in) > 0) {
        int H[CNN_MAXC + 1] = {in->dim[1]}, W[CNN_MAXC + 1] = {in->dim[2]};
        int bad = layer_sizes(mc, H, W);
        if (bad)
            EOS_FAIL_KEY("model.channels",
                         "model.channels: %d conv layers with 2x2 pooling: a %dx%d image is "
                         "pooled to nothing at layer %d",
                         mc->n_channels, in->dim[1], in->dim[2], bad);
    }
fail:
    return rc;
}

/* Forward multiply-adds: C_out C_in k k per output pixel of each conv layer, then the dense
 * stack on the flattened features. */
static double cnn_cost(const eos_model_cfg *mc, const eos_shape *in, int n_out)
{
    int H[CNN_MAXC + 1] = {in->dim[1]}, W[CNN_MAXC + 1] = {in->dim[2]};
    if (in->layout != EOS_LAYOUT_IMAGE || layer_sizes(mc, H, W)) return 0;
    double per_ex = 0, cin = in->dim[0];
    for (int l = 1; l <= mc->n_channels; l++) {
        per_ex += (double)H[l - 1] * W[l - 1] * mc->channels[l - 1] * cin * mc->kernel * mc->kernel;
        cin = mc->channels[l - 1];
    }
    int nc = mc->n_channels;
    eos_shape flat = {EOS_LAYOUT_FLAT, {(int)(cin * H[nc] * W[nc])}};
    return per_ex + eos_model_arch_mlp.cost(mc, &flat, n_out);
}

static int cnn_setup(eos_model *m)
{
    int rc = 0;
    cnn *p = NULL;
    const eos_model_cfg *mc = &m->cfg;
    EOS_ALLOC(p, 1);
    p->nc = mc->n_channels;
    p->k = mc->kernel;
    p->pool = mc->pool;
    p->bias = mc->bias != 0;
    p->act = mc->activation;
    p->tanh_a = mc->activation == EOS_ACT_TANH;
    p->C[0] = m->in.dim[0];
    p->H[0] = m->in.dim[1];
    p->W[0] = m->in.dim[2];
    layer_sizes(mc, p->H, p->W); /* validated */
    size_t np = 0, per_ex = 0, maxa = 0, maxcols = 0, npool = 0;
    int per = p->tanh_a ? 3 : 4; /* a, d2, ra, d1 (not for tanh) */
    for (int l = 1; l <= p->nc; l++) {
        p->C[l] = mc->channels[l - 1];
        size_t K = (size_t)p->C[l - 1] * p->k * p->k, hw = (size_t)p->H[l - 1] * p->W[l - 1];
        p->woff[l] = np;
        np += (size_t)p->C[l] * K;
        p->boff[l] = np;
        if (p->bias) np += (size_t)p->C[l];
        size_t sa = (size_t)p->C[l] * hw, sp = (size_t)p->C[l] * p->H[l] * p->W[l];
        per_ex += (size_t)per * sa + (p->pool != EOS_POOL_NONE ? 2 * sp : 0);
        if (p->pool != EOS_POOL_NONE) npool += sp;
        maxa = sa > maxa ? sa : maxa;
        maxcols = K * hw > maxcols ? K * hw : maxcols;
    }
    p->F = p->C[p->nc] * p->H[p->nc] * p->W[p->nc];
    p->hoff = np;
    per_ex += 2 * maxcols + 4 * maxa + 4 * (size_t)p->F;
    size_t fit = CNN_WS_BYTES / sizeof(real) / per_ex;
    p->cc = fit < 1 ? 1 : fit < (size_t)m->chunk ? (int)fit : m->chunk;
    size_t head_np = 0;
    EOS_TRY(eos_dense_create(&p->head, mc, p->F, m->n_out, p->cc, &head_np));
    m->nparams = np + head_np;

    size_t c = (size_t)p->cc, hw0 = (size_t)p->H[0] * p->W[0];
    EOS_ALLOC(p->ws, hw0 + c * per_ex);
    EOS_ALLOC(p->amem, c * npool + 1);
    real *q = p->ws;
    p->zeros = q;
    q += hw0;
    int *qa = p->amem;
    for (int l = 1; l <= p->nc; l++) {
        size_t sa = c * p->C[l] * p->H[l - 1] * p->W[l - 1], sp = c * p->C[l] * p->H[l] * p->W[l];
        p->a[l] = q, q += sa;
        p->d2[l] = q, q += sa;
        p->ra[l] = q, q += sa;
        p->d1[l] = p->tanh_a ? NULL : q;
        if (!p->tanh_a) q += sa;
        p->s[l] = p->tanh_a ? p->a[l] : p->d1[l];
        if (p->pool != EOS_POOL_NONE) {
            p->po[l] = q, q += sp;
            p->rpo[l] = q, q += sp;
            p->am[l] = qa, qa += sp;
        } else {
            p->po[l] = p->a[l];
            p->rpo[l] = p->ra[l];
        }
    }
    p->cols = q, q += c * maxcols;
    p->rcols = q, q += c * maxcols;
    p->gA = q, q += c * maxa;
    p->rgA = q, q += c * maxa;
    p->gP = q, q += c * maxa;
    p->rgP = q, q += c * maxa;
    p->feat = q, q += c * p->F;
    p->rfeat = q, q += c * p->F;
    p->dfeat = q, q += c * p->F;
    p->rdfeat = q;
    m->impl = p;
    m->ops = &cnn_ops;
    return 0;
fail:
    cnn_release(p);
    return rc;
}

/* One group per conv layer, conv1 (from the image) to convC (its kernels and biases, adjacent),
 * then the dense stack's fc1..fcL. */
static int cnn_groups(const eos_model_cfg *mc, const eos_model *m, eos_param_group *g, int max)
{
    const cnn *p = m ? m->impl : NULL;
    const int nc = mc->n_channels;
    for (int l = 1; l <= nc && l <= max; l++) {
        snprintf(g[l - 1].name, sizeof g[l - 1].name, "conv%d", l);
        g[l - 1].off = p ? p->woff[l] : 0;
        g[l - 1].len = p ? (l < nc ? p->woff[l + 1] : p->hoff) - p->woff[l] : 0;
    }
    return nc + eos_dense_groups(p ? p->head : NULL, mc->n_hidden, p ? p->hoff : 0,
                                 m ? m->nparams : 0, max > nc ? g + nc : NULL, max > nc ? max - nc : 0);
}

const eos_model_arch eos_model_arch_cnn = {
    .name = "cnn",
    .validate = cnn_validate,
    .cost = cnn_cost,
    .setup = cnn_setup,
    .ops = &cnn_ops,
    .groups = cnn_groups,
};

/* ------------------------------------------------------------------------------------------ */
/* naive references: one example at a time, plain loops, double                               */

/* The network as a list of layers for the references: the conv layers, then every dense layer
 * as a 1x1 "image" of d channels with a 1x1 kernel (flattening [C, H, W] is then the identity
 * on the arrays). act < 0: the output layer (no activation). */
typedef struct {
    int ci, co, h, w, k, act;
    eos_pool pool;
    size_t woff, boff;
} ref_layer;

#define REF_MAXL (CNN_MAXC + EOS_MAX_HIDDEN + 1)

typedef struct {
    int nl, bias;
    size_t np;
    ref_layer ly[REF_MAXL];
    /* layer j: conv output z, sigma, sigma', sigma'', tangents rz, ra, then d loss / d a (dz after
     * the activation) and its R-derivative; out[j + 1] its pooled output (out[0] the input),
     * gout the gradient there, r* the tangents and R-derivatives */
    double *z[REF_MAXL], *a[REF_MAXL], *d1[REF_MAXL], *d2[REF_MAXL], *rz[REF_MAXL], *ra[REF_MAXL];
    double *ga[REF_MAXL], *rga[REF_MAXL];
    double *out[REF_MAXL + 1], *rout[REF_MAXL + 1], *gout[REF_MAXL + 1], *rgout[REF_MAXL + 1];
    int *am[REF_MAXL];
    double *acc; /* [np] the sum over examples of the output vector */
    size_t *wi;  /* [max ci k k] one output pixel's taps (ref_taps) */
    int *ii;
    double *mem;
    int *imem;
} ref_net;

/* Layers and offsets from the configuration (independently of cnn_setup's layout code). */
static int ref_alloc(ref_net *R, const eos_model *m)
{
    int rc = 0;
    const eos_model_cfg *mc = &m->cfg;
    memset(R, 0, sizeof *R);
    R->bias = mc->bias != 0;
    int c = m->in.dim[0], h = m->in.dim[1], w = m->in.dim[2];
    size_t off = 0, tot = 4 * (size_t)c * h * w, itot = 1, maxt = 1;
    for (int l = 0; l < mc->n_channels + mc->n_hidden + 1; l++) {
        ref_layer *L = &R->ly[R->nl++];
        int conv = l < mc->n_channels, hid = l - mc->n_channels;
        if (hid == 0) c = c * h * w, h = w = 1; /* flatten */
        *L = (ref_layer){.ci = c, .h = h, .w = w, .k = conv ? mc->kernel : 1,
                         .act = conv || hid < mc->n_hidden ? (int)mc->activation : -1,
                         .pool = conv ? mc->pool : EOS_POOL_NONE};
        L->co = conv ? mc->channels[l] : hid < mc->n_hidden ? mc->hidden[hid] : m->n_out;
        L->woff = off;
        off += (size_t)L->co * L->ci * L->k * L->k;
        L->boff = off;
        if (R->bias) off += (size_t)L->co;
        size_t sa = (size_t)L->co * h * w, nt = (size_t)L->ci * L->k * L->k;
        tot += 12 * sa;
        itot += sa + nt;
        maxt = nt > maxt ? nt : maxt;
        c = L->co;
        if (L->pool != EOS_POOL_NONE) h /= 2, w /= 2;
    }
    R->np = off;
    EOS_ALLOC(R->mem, tot + off);
    EOS_ALLOC(R->imem, itot);
    EOS_ALLOC(R->wi, maxt);
    double *q = R->mem;
    int *qi = R->imem;
    R->acc = q, q += off;
    size_t s0 = (size_t)R->ly[0].ci * R->ly[0].h * R->ly[0].w;
    R->out[0] = q, R->rout[0] = q + s0, R->gout[0] = q + 2 * s0, R->rgout[0] = q + 3 * s0;
    q += 4 * s0;
    for (int j = 0; j < R->nl; j++) {
        const ref_layer *L = &R->ly[j];
        size_t sa = (size_t)L->co * L->h * L->w;
        double **b[12] = {&R->z[j],       &R->a[j],        &R->d1[j],       &R->d2[j],
                          &R->rz[j],      &R->ra[j],       &R->ga[j],       &R->rga[j],
                          &R->out[j + 1], &R->rout[j + 1], &R->gout[j + 1], &R->rgout[j + 1]};
        for (int t = 0; t < 12; t++) *b[t] = q, q += sa;
        R->am[j] = qi, qi += sa;
    }
    R->ii = qi;
fail:
    return rc;
}

/* The taps of output pixel (co, y, x) of layer L inside the image: weight wi[t] meets input
 * ii[t] = (ci, y + ky - k/2, x + kx - k/2); returns their number. */
static int ref_taps(const ref_layer *L, int co, int y, int x, size_t *wi, int *ii)
{
    int nt = 0;
    for (int ci = 0; ci < L->ci; ci++)
        for (int ky = 0; ky < L->k; ky++)
            for (int kx = 0; kx < L->k; kx++) {
                int sy = y + ky - L->k / 2, sx = x + kx - L->k / 2;
                if (sy < 0 || sy >= L->h || sx < 0 || sx >= L->w) continue;
                wi[nt] = L->woff + (((size_t)co * L->ci + ci) * L->k + ky) * L->k + kx;
                ii[nt++] = (ci * L->h + sy) * L->w + sx;
            }
    return nt;
}

/* Windows of the 2x2 pooling of layer L: the four plane indices of pooled output o. */
static void ref_window(const ref_layer *L, int o, int q[4])
{
    int ho = L->h / 2, wo = L->w / 2, c = o / (ho * wo), y = o / wo % ho, x = o % wo;
    q[0] = (c * L->h + 2 * y) * L->w + 2 * x;
    q[1] = q[0] + 1;
    q[2] = q[0] + L->w;
    q[3] = q[2] + 1;
}

/* Forward (and tangent, v != NULL) of one example x: out[nl] = f, rout[nl] = Rf. */
static void ref_forward(ref_net *R, const real *params, const real *v, const real *x)
{
    const ref_layer *L0 = &R->ly[0];
    for (int i = 0; i < L0->ci * L0->h * L0->w; i++) R->out[0][i] = x[i], R->rout[0][i] = 0;
    for (int j = 0; j < R->nl; j++) {
        const ref_layer *L = &R->ly[j];
        const double *in = R->out[j], *rin = R->rout[j];
        for (int co = 0; co < L->co; co++)
            for (int y = 0; y < L->h; y++)
                for (int x = 0; x < L->w; x++) {
                    double s = R->bias ? params[L->boff + co] : 0;
                    double rs = v && R->bias ? v[L->boff + co] : 0;
                    int nt = ref_taps(L, co, y, x, R->wi, R->ii);
                    for (int t = 0; t < nt; t++) {
                        size_t wi = R->wi[t];
                        int ii = R->ii[t];
                        s += params[wi] * in[ii];
                        if (v) rs += v[wi] * in[ii] + params[wi] * rin[ii];
                    }
                    int o = (co * L->h + y) * L->w + x;
                    R->z[j][o] = s;
                    R->rz[j][o] = rs;
                    if (L->act >= 0)
                        eos_act_eval_ref((eos_activation)L->act, s, &R->a[j][o], &R->d1[j][o],
                                         &R->d2[j][o]);
                    else
                        R->a[j][o] = s, R->d1[j][o] = 1, R->d2[j][o] = 0;
                    R->ra[j][o] = R->d1[j][o] * rs;
                }
        double *po = R->out[j + 1], *rpo = R->rout[j + 1];
        int sa = L->co * L->h * L->w;
        if (L->pool == EOS_POOL_NONE) {
            for (int o = 0; o < sa; o++) po[o] = R->a[j][o], rpo[o] = R->ra[j][o];
            continue;
        }
        for (int o = 0; o < L->co * (L->h / 2) * (L->w / 2); o++) {
            int q[4], best;
            ref_window(L, o, q);
            best = q[0];
            for (int t = 1; t < 4; t++)
                if (R->a[j][q[t]] > R->a[j][best]) best = q[t];
            R->am[j][o] = best;
            if (L->pool == EOS_POOL_MAX) {
                po[o] = R->a[j][best];
                rpo[o] = R->ra[j][best];
            } else {
                po[o] = rpo[o] = 0;
                for (int t = 0; t < 4; t++) po[o] += 0.25 * R->a[j][q[t]], rpo[o] += 0.25 * R->ra[j][q[t]];
            }
        }
    }
}

/* Backward of one example from gout[nl] = dL/df (and, v != NULL, rgout[nl] = its R-derivative):
 * acc += the gradient (v: its R-derivative, H v). */
static void ref_backward(ref_net *R, const real *params, const real *v)
{
    for (int j = R->nl - 1; j >= 0; j--) {
        const ref_layer *L = &R->ly[j];
        const double *g = R->gout[j + 1], *rg = R->rgout[j + 1], *in = R->out[j], *rin = R->rout[j];
        double *ga = R->ga[j], *rga = R->rga[j];
        int sa = L->co * L->h * L->w, si = L->ci * L->h * L->w;
        if (L->pool == EOS_POOL_NONE) {
            for (int o = 0; o < sa; o++) ga[o] = g[o], rga[o] = v ? rg[o] : 0;
        } else {
            for (int o = 0; o < sa; o++) ga[o] = rga[o] = 0;
            for (int o = 0; o < L->co * (L->h / 2) * (L->w / 2); o++) {
                int q[4];
                ref_window(L, o, q);
                for (int t = 0; t < 4; t++) {
                    double wt = L->pool == EOS_POOL_AVG ? 0.25 : q[t] == R->am[j][o];
                    ga[q[t]] += wt * g[o];
                    if (v) rga[q[t]] += wt * rg[o];
                }
            }
        }
        for (int o = 0; o < sa; o++) {
            double dz = ga[o] * R->d1[j][o];
            rga[o] = v ? rga[o] * R->d1[j][o] + ga[o] * R->d2[j][o] * R->rz[j][o] : 0;
            ga[o] = dz;
        }
        if (j > 0)
            for (int i = 0; i < si; i++) R->gout[j][i] = R->rgout[j][i] = 0;
        for (int co = 0; co < L->co; co++)
            for (int y = 0; y < L->h; y++)
                for (int x = 0; x < L->w; x++) {
                    int o = (co * L->h + y) * L->w + x;
                    double dz = ga[o], gz = v ? rga[o] : dz;
                    if (R->bias) R->acc[L->boff + co] += gz;
                    int nt = ref_taps(L, co, y, x, R->wi, R->ii);
                    for (int t = 0; t < nt; t++) {
                        size_t wi = R->wi[t];
                        int ii = R->ii[t];
                        R->acc[wi] += gz * in[ii] + (v ? dz * rin[ii] : 0);
                        if (j == 0) continue;
                        R->gout[j][ii] += params[wi] * dz;
                        if (v) R->rgout[j][ii] += params[wi] * rga[o] + v[wi] * dz;
                    }
                }
    }
}

/* mode 0: loss and gradient; 1: H v; 2: G v (H_loss Rf sent back through the plain backward). */
static int ref_run(const eos_model *m, const real *params, const real *X, const real *Y,
                   const int *idx, int n, double scale, double *loss_sum, double *n_correct,
                   const real *v, real *out, int mode)
{
    int rc = 0;
    ref_net R;
    EOS_TRY(ref_alloc(&R, m));
    EOS_CHECK(R.np == m->nparams, EOS_ERR_INTERNAL, "cnn reference: %zu parameters, model %zu",
              R.np, m->nparams);
    const int k = m->n_out, last = R.nl;
    for (int i = 0; i < n; i++) {
        int r = idx ? idx[i] : i;
        const real *y = Y + (size_t)r * k;
        ref_forward(&R, params, mode ? v : NULL, X + (size_t)r * m->d_in);
        double *f = R.out[last];
        double li = eos_loss_ref(m->loss, k, f, R.rout[last], y, R.gout[last],
                                 mode ? R.rgout[last] : NULL);
        if (loss_sum) *loss_sum += li;
        if (n_correct) *n_correct += eos_correct_ref(k, f, y);
        if (mode == 2)
            for (int j = 0; j < k; j++) R.gout[last][j] = R.rgout[last][j];
        if (out) ref_backward(&R, params, mode == 1 ? v : NULL);
    }
    if (out)
        for (size_t q = 0; q < R.np; q++) out[q] += (real)(scale * R.acc[q]);
fail:
    free(R.mem);
    free(R.imem);
    free(R.wi);
    return rc;
}

int eos_cnn_loss_grad_ref(const eos_model *m, const real *params, const real *X, const real *Y,
                          const int *idx, int n, double scale, double *loss_sum,
                          double *n_correct, real *grad)
{
    return ref_run(m, params, X, Y, idx, n, scale, loss_sum, n_correct, NULL, grad, 0);
}

int eos_cnn_hvp_ref(const eos_model *m, const real *params, const real *X, const real *Y,
                    const int *idx, int n, double scale, const real *v, real *hv)
{
    return ref_run(m, params, X, Y, idx, n, scale, NULL, NULL, v, hv, 1);
}

int eos_cnn_gnvp_ref(const eos_model *m, const real *params, const real *X, const real *Y,
                     const int *idx, int n, double scale, const real *v, real *gv)
{
    return ref_run(m, params, X, Y, idx, n, scale, NULL, NULL, v, gv, 2);
}
