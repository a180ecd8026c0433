/* train.c: one run of one configuration. Everything is allocated in trainer_setup; the step loop
 * only calls kernels. No MPI, no HDF5 and no rank logic here: the sweep engine calls
 * eos_train_run for each grid point and stores the eos_run_result. */
#include "eos_train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eos_model.h"
#include "eos_optim.h"
#include "eos_rng.h"
#include "eos_lanczos.h"

int eos_train_rec_slots(const eos_config *cfg)
{
    return (int)(cfg->train.max_steps / cfg->train.record_every) + 1;
}

int eos_train_sharp_slots(const eos_config *cfg)
{
    return cfg->sharpness.every > 0 ? (int)(cfg->train.max_steps / cfg->sharpness.every) + 1 : 0;
}

static void fill_nan(float *x, int n)
{
    for (int i = 0; i < n; i++) x[i] = NAN;
}

int eos_run_result_alloc(eos_run_result *res, const eos_config *cfg)
{
    int rc = 0;
    memset(res, 0, sizeof *res);
    res->cap_rec = eos_train_rec_slots(cfg);
    res->cap_sharp = eos_train_sharp_slots(cfg);
    res->k = cfg->sharpness.k;
    size_t nr = (size_t)res->cap_rec, ns = (size_t)res->cap_sharp;
    /* one buffer for every trajectory: 5 record columns, k + 4 sharpness columns */
    float *buf;
    EOS_ALLOC(buf, 5 * nr + ns * ((size_t)res->k + 4));
    res->loss = buf;
    res->acc = res->loss + nr;
    res->grad_norm = res->acc + nr;
    res->test_loss = res->grad_norm + nr;
    res->test_acc = res->test_loss + nr;
    res->eig = res->test_acc + nr;
    res->precond_eig = res->eig + ns * (size_t)res->k;
    res->trace = res->precond_eig + ns;
    res->batch_sharp = res->trace + ns;
    res->dir_sharp = res->batch_sharp + ns;
    fill_nan(buf, (int)(5 * nr + ns * ((size_t)res->k + 4)));
    res->status = EOS_RUN_PENDING;
    res->final_loss = res->final_acc = res->final_test_loss = res->final_test_acc = NAN;
    res->final_sharpness = NAN;
    res->diverged_step = -1;
    res->rank = -1;
    return 0;
fail:
    return rc;
}

void eos_run_result_free(eos_run_result *res)
{
    free(res->loss);
    memset(res, 0, sizeof *res);
}

typedef struct {
    const eos_config *cfg;
    const eos_dataset *tr, *te;
    eos_model *model;
    size_t np;
    real *buf; /* params-sized vectors, one allocation */
    real *w, *g, *w_prev, *eigvec, *pre, *tmp, *tmp2;
    int *perm, perm_pos, batch;
    int sharp_n;
    int have_eigvec;
    eos_rng batch_rng, sharp_rng, bs_rng;
    eos_optim opt;
    eos_lanczos lz;
    int *bs_idx;
    int online;          /* the source draws fresh examples every step */
    eos_dataset fresh;   /* [batch] examples drawn for the current step (online only) */
    eos_rng online_rng;
} trainer;

static void trainer_free(trainer *T)
{
    eos_model_free(T->model);
    free(T->buf);
    free(T->perm);
    free(T->bs_idx);
    free(T->fresh.X);
    free(T->fresh.Y);
    eos_optim_free(&T->opt);
    eos_lanczos_free(&T->lz);
}

static int trainer_setup(trainer *T, const eos_config *cfg, const eos_data *data)
{
    int rc = 0;
    memset(T, 0, sizeof *T);
    T->cfg = cfg;
    T->tr = &data->train;
    T->te = &data->test;
    EOS_CHECK(T->tr->n > 0, EOS_ERR_CONFIG, "empty training set");
    const eos_sharp_cfg *sc = &cfg->sharpness;
    T->batch = cfg->train.batch_size > 0 && cfg->train.batch_size < T->tr->n ? cfg->train.batch_size
                                                                               : T->tr->n;
    T->sharp_n = sc->n > 0 && sc->n < T->tr->n ? sc->n : T->tr->n;
    int chunk = sc->chunk > 0 ? sc->chunk : 1000;
    if (T->batch < T->tr->n && T->batch > chunk) chunk = T->batch;
    EOS_TRY(eos_model_create(&T->model, &cfg->model, cfg->loss, &T->tr->shape, T->tr->n_out,
                             chunk));
    T->online = eos_data_online(cfg);
    if (T->online) {
        /* the fixed pool stays the set that losses and sharpness are measured on */
        T->fresh = (eos_dataset){
            .n = T->batch, .d = T->tr->d, .n_out = T->tr->n_out, .shape = T->tr->shape};
        EOS_ALLOC(T->fresh.X, (size_t)T->batch * T->tr->d);
        EOS_ALLOC(T->fresh.Y, (size_t)T->batch * T->tr->n_out);
        eos_rng_init(&T->online_rng, cfg->seed, EOS_RNG_STREAM_ONLINE);
    }
    size_t np = T->np = eos_model_nparams(T->model);
    EOS_ALLOC(T->buf, 7 * np);
    T->w = T->buf;
    T->g = T->w + np;
    T->w_prev = T->g + np;
    T->eigvec = T->w_prev + np;
    T->pre = T->eigvec + np;
    T->tmp = T->pre + np;
    T->tmp2 = T->tmp + np;
    EOS_ALLOC(T->perm, T->tr->n);
    for (int i = 0; i < T->tr->n; i++) T->perm[i] = i;
    EOS_ALLOC(T->bs_idx, T->tr->n);
    for (int i = 0; i < T->tr->n; i++) T->bs_idx[i] = i;
    EOS_TRY(eos_optim_init(&T->opt, &cfg->train, np));
    if (sc->every > 0) {
        int it = sc->max_iter < (int)np ? sc->max_iter : (int)np;
        EOS_TRY(eos_lanczos_create(&T->lz, np, it));
    }
    /* Streams depend on the seed only (not on the rank, nor on the run index): runs that differ
     * only in, say, the learning rate share their initialisation and batch order. */
    eos_rng init_rng;
    eos_rng_init(&init_rng, cfg->seed, EOS_RNG_STREAM_INIT);
    eos_model_init(T->model, T->w, &init_rng);
    eos_rng_init(&T->batch_rng, cfg->seed, EOS_RNG_STREAM_BATCH);
    eos_rng_init(&T->sharp_rng, cfg->seed, EOS_RNG_STREAM_SHARP);
    eos_rng_init(&T->bs_rng, cfg->seed ^ 0x5bd1e995ULL, EOS_RNG_STREAM_SHARP);
    if (T->batch < T->tr->n) eos_rng_shuffle(&T->batch_rng, T->perm, T->tr->n);
    return 0;
fail:
    trainer_free(T);
    return rc;
}

/* Mean loss (and accuracy, gradient) over a whole dataset. */
static int full_eval(trainer *T, const eos_dataset *ds, const real *w, real *grad, double *loss,
                     double *acc)
{
    double ls = 0, nc = 0;
    if (grad) eos_zero(grad, T->np);
    int rc = eos_model_loss_grad(T->model, w, ds->X, ds->Y, NULL, ds->n, 1.0 / ds->n, &ls, &nc, grad);
    *loss = ls / ds->n;
    *acc = ds->n_classes > 0 ? nc / ds->n : NAN;
    return rc;
}

static int next_batch(trainer *T, const int **idx)
{
    int n = T->tr->n;
    if (T->perm_pos + T->batch > n) {
        eos_rng_shuffle(&T->batch_rng, T->perm, n); /* new epoch; the incomplete tail is dropped */
        T->perm_pos = 0;
    }
    *idx = T->perm + T->perm_pos;
    T->perm_pos += T->batch;
    return 0;
}

static int hvp_sharpset(void *ctx, const real *v, real *out)
{
    trainer *T = ctx;
    eos_zero(out, T->np);
    return eos_model_hvp(T->model, T->w, T->tr->X, T->tr->Y, NULL, T->sharp_n, 1.0 / T->sharp_n, v,
                         out);
}

/* v -> P^-1/2 H P^-1/2 v */
static int hvp_precond(void *ctx, const real *v, real *out)
{
    trainer *T = ctx;
    size_t np = T->np;
    for (size_t i = 0; i < np; i++) T->tmp2[i] = T->pre[i] * v[i];
    int rc = hvp_sharpset(ctx, T->tmp2, out);
    for (size_t i = 0; i < np; i++) out[i] *= T->pre[i];
    return rc;
}

/* Monte Carlo batch sharpness E_B[g_B' H_B g_B / |g_B|^2] (Andreyev & Beneventano 2024) from the
 * run's own stream, until the relative standard error is below tol (at least 8, at most 400). */
static int batch_sharpness(trainer *T, double tol, double *out)
{
    int rc = 0, n = T->tr->n, b = T->batch;
    double s = 0, s2 = 0;
    int used = 0; /* batches with a non-zero gradient (the ratio is undefined otherwise) */
    for (int draw = 0; draw < 400; draw++) {
        /* b distinct examples: a partial Fisher-Yates over bs_idx (a permutation of 0..n-1
         * kept between draws, so its first b entries are a uniform random subset) */
        for (int i = 0; i < b; i++) {
            int j = i + (int)eos_rng_below(&T->bs_rng, (uint64_t)(n - i));
            int tmp = T->bs_idx[i];
            T->bs_idx[i] = T->bs_idx[j];
            T->bs_idx[j] = tmp;
        }
        double ls = 0;
        eos_zero(T->tmp, T->np);
        EOS_TRY(eos_model_loss_grad(T->model, T->w, T->tr->X, T->tr->Y, T->bs_idx, b, 1.0 / b, &ls,
                                    NULL, T->tmp));
        double gg = eos_dot(T->tmp, T->tmp, T->np);
        if (!(gg > 0)) continue;
        eos_zero(T->tmp2, T->np);
        EOS_TRY(eos_model_hvp(T->model, T->w, T->tr->X, T->tr->Y, T->bs_idx, b, 1.0 / b, T->tmp,
                              T->tmp2));
        double r = eos_dot(T->tmp, T->tmp2, T->np) / gg;
        s += r;
        s2 += r * r;
        used++;
        if (used >= 8) {
            double mean = s / used, var = (s2 - used * mean * mean) / (used - 1);
            if (var < 0) var = 0;
            if (sqrt(var / used) <= tol * fabs(mean)) break;
        }
    }
    *out = used > 0 ? s / used : NAN;
    return 0;
fail:
    return rc;
}

static int measure_sharpness(trainer *T, eos_run_result *res, int slot)
{
    int rc = 0, nmv = 0;
    const eos_sharp_cfg *sc = &T->cfg->sharpness;
    double eig[32];
    int k = sc->k;
    EOS_TRY(eos_lanczos_run(&T->lz, hvp_sharpset, T, k, sc->tol,
                                  T->have_eigvec ? T->eigvec : NULL, &T->sharp_rng, eig, T->eigvec,
                                  &nmv));
    T->have_eigvec = 1;
    res->hvp_count += nmv;
    for (int i = 0; i < k; i++) res->eig[(size_t)slot * res->k + i] = (float)eig[i];
    res->final_sharpness = eig[0];
    if (sc->precond && eos_optim_precond_isqrt(&T->opt, T->pre)) {
        double pe[1];
        EOS_TRY(eos_lanczos_run(&T->lz, hvp_precond, T, 1, sc->tol, NULL, &T->sharp_rng, pe,
                                      NULL, &nmv));
        res->hvp_count += nmv;
        res->precond_eig[slot] = (float)pe[0];
    }
    if (sc->trace_probes > 0) {
        double tr = 0;
        for (int p = 0; p < sc->trace_probes; p++) {
            for (size_t i = 0; i < T->np; i++)
                T->tmp[i] = (eos_rng_next(&T->sharp_rng) >> 63) ? 1 : -1; /* Rademacher */
            EOS_TRY(hvp_sharpset(T, T->tmp, T->tmp2));
            tr += eos_dot(T->tmp, T->tmp2, T->np);
        }
        res->hvp_count += sc->trace_probes;
        res->trace[slot] = (float)(tr / sc->trace_probes);
    }
    if (sc->batch_sharpness && T->batch < T->tr->n) {
        double bs;
        EOS_TRY(batch_sharpness(T, sc->batch_tol, &bs));
        res->batch_sharp[slot] = (float)bs;
    }
    return 0;
fail:
    return rc;
}

static void record(trainer *T, eos_run_result *res, int slot, double loss, double acc, double gn)
{
    res->loss[slot] = (float)loss;
    res->acc[slot] = (float)acc;
    res->grad_norm[slot] = (float)gn;
    res->n_rec = slot + 1;
    if (T->te->n > 0) {
        double tl, ta;
        if (full_eval(T, T->te, T->w, NULL, &tl, &ta) == 0) {
            res->test_loss[slot] = (float)tl;
            res->test_acc[slot] = (float)ta;
            res->final_test_loss = tl;
            res->final_test_acc = ta;
        }
    }
}

/* The step's batch, for the optimizer's further gradients on it (SAM's at its ascent point). */
typedef struct {
    trainer *T;
    const real *X, *Y;
    const int *idx; /* NULL: the first n examples */
    int n;
} step_batch;

static int batch_grad_at(void *ctx, const real *w, real *g)
{
    const step_batch *b = ctx;
    double ls = 0;
    eos_zero(g, b->T->np);
    return eos_model_loss_grad(b->T->model, w, b->X, b->Y, b->idx, b->n, 1.0 / b->n, &ls, NULL, g);
}

int eos_train_run(const eos_config *cfg, const eos_data *data, eos_run_result *res,
                  const eos_train_hooks *hooks)
{
    int rc = 0;
    trainer T;
    double t0 = eos_now();
    if ((rc = trainer_setup(&T, cfg, data)) != 0) {
        if (rc == EOS_ERR_NOMEM || rc == EOS_ERR_CONFIG) {
            res->status = EOS_RUN_FAILED;
            snprintf(res->message, sizeof res->message, "%s", eos_error_msg());
            return 0;
        }
        return rc;
    }
    const eos_train_cfg *tc = &cfg->train;
    const int full_batch = T.batch >= T.tr->n && !T.online;
    const int rec = tc->record_every, sev = cfg->sharpness.every;
    long t = 0;
    double loss = NAN, acc = NAN;
    res->status = EOS_RUN_PENDING;
    for (t = 0;; t++) {
        if (hooks && hooks->stop && *hooks->stop) {
            rc = eos_error_set(EOS_ERR_INTERRUPT, __FILE__, __LINE__, "interrupted at step %ld", t);
            goto out;
        }
        if (hooks && hooks->on_step) hooks->on_step(hooks->ctx);
        const int at_rec = t % rec == 0, last = t >= tc->max_steps;
        if (full_batch || at_rec || last) {
            EOS_TRY(full_eval(&T, T.tr, T.w, T.g, &loss, &acc));
            if (at_rec) {
                record(&T, res, (int)(t / rec), loss, acc, eos_nrm2(T.g, T.np));
                if (hooks && hooks->on_record) hooks->on_record(hooks->ctx, t, res, (int)(t / rec));
            }
            if (!isfinite(loss) || loss > tc->diverge_loss) {
                res->status = EOS_RUN_DIVERGED;
                res->diverged_step = t;
                snprintf(res->message, sizeof res->message, "train loss %g at step %ld", loss, t);
                break;
            }
            if ((tc->loss_goal > 0 && loss <= tc->loss_goal) ||
                (tc->acc_goal > 0 && acc >= tc->acc_goal)) {
                res->status = EOS_RUN_DONE;
                snprintf(res->message, sizeof res->message, "reached the %s goal at step %ld",
                         tc->loss_goal > 0 && loss <= tc->loss_goal ? "loss" : "accuracy", t);
                break;
            }
        }
        const int at_sharp = sev > 0 && t % sev == 0;
        if (at_sharp) {
            int slot = (int)(t / sev);
            rc = measure_sharpness(&T, res, slot);
            if (rc) goto fail;
            res->n_sharp = slot + 1;
            if (hooks && hooks->on_sharp) hooks->on_sharp(hooks->ctx, t, res, slot);
        }
        if (last) {
            res->status = EOS_RUN_DONE;
            break;
        }
        /* the step's batch: the whole set (gradient already in T.g), a minibatch of it, or
         * fresh examples */
        const real *Xs = T.tr->X, *Ys = T.tr->Y;
        const int *idx = NULL;
        int nb = T.tr->n;
        if (T.online) {
            EOS_TRY(eos_data_draw(&T.fresh, cfg, &T.online_rng));
            Xs = T.fresh.X;
            Ys = T.fresh.Y;
            nb = T.fresh.n;
        } else if (!full_batch) {
            next_batch(&T, &idx);
            nb = T.batch;
        }
        if (!full_batch) {
            double ls = 0;
            eos_zero(T.g, T.np);
            EOS_TRY(eos_model_loss_grad(T.model, T.w, Xs, Ys, idx, nb, 1.0 / nb, &ls, NULL, T.g));
            if (!isfinite(ls)) {
                res->status = EOS_RUN_DIVERGED;
                res->diverged_step = t;
                loss = NAN;
                snprintf(res->message, sizeof res->message, "minibatch loss %g at step %ld", ls, t);
                break;
            }
        }
        if (at_sharp && cfg->sharpness.directional) eos_copy(T.w_prev, T.w, T.np);
        step_batch sb = {&T, Xs, Ys, idx, nb};
        EOS_TRY(eos_optim_step(&T.opt, T.w, T.g, &(eos_optim_grad){batch_grad_at, &sb}));
        if (at_sharp && cfg->sharpness.directional) {
            /* u = w_{t+1} - w_t, directional sharpness u'H(w_t)u/|u|^2 */
            for (size_t i = 0; i < T.np; i++) T.tmp[i] = T.w[i] - T.w_prev[i];
            double uu = eos_dot(T.tmp, T.tmp, T.np);
            real *wsave = T.w;
            T.w = T.w_prev;
            rc = hvp_sharpset(&T, T.tmp, T.tmp2);
            T.w = wsave;
            if (rc) goto fail;
            res->hvp_count++;
            res->dir_sharp[t / sev] = uu > 0 ? (float)(eos_dot(T.tmp, T.tmp2, T.np) / uu) : NAN;
        }
    }
    res->steps = t;
    res->final_loss = loss;
    res->final_acc = acc;
    goto out;
fail:
    /* A failure inside the run is a result of the run, not of the sweep. */
    res->status = EOS_RUN_FAILED;
    res->steps = t;
    snprintf(res->message, sizeof res->message, "%s", eos_error_msg());
    rc = 0;
out:
    res->wall_seconds = eos_now() - t0;
    trainer_free(&T);
    return rc;
}
