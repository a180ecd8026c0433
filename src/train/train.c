/* train.c: one run of one configuration. Everything is allocated in trainer_setup; the step loop
 * only calls kernels. No MPI, no HDF5 and no rank logic here: the sweep engine calls
 * eos_train_run for each grid point and stores the eos_run_result. */
#include "eos_train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eos_ckpt.h"
#include "eos_curv.h"
#include "eos_model.h"
#include "eos_optim.h"
#include "eos_rng.h"
#include "eos_sha256.h"

#define EOS_TRAJ_NAME(id, name) #name,
const char *const eos_traj_names[EOS_TRAJ_N] = {EOS_TRAJ_COLUMNS(EOS_TRAJ_NAME)};
#define EOS_RUN_NAME(id, name) #name,
const char *const eos_run_status_names[EOS_RUN_N_STATUSES] = {EOS_RUN_STATUSES(EOS_RUN_NAME)};
#undef EOS_RUN_NAME
#undef EOS_TRAJ_NAME

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
    size_t nr = (size_t)res->cap_rec;
    /* one buffer for every trajectory (res->traj[0] is its start): the record columns, then
     * every probe's [cap_sharp, width] block */
    res->n_proj = cfg->record.projections;
    size_t nrp = nr * (size_t)res->n_proj;
    size_t n = EOS_TRAJ_N * nr + nrp + eos_curv_traj_layout(&res->sharp, cfg, res->cap_sharp, NULL);
    float *buf;
    EOS_ALLOC(buf, n);
    for (int t = 0; t < EOS_TRAJ_N; t++) res->traj[t] = buf + t * nr;
    res->proj = res->n_proj > 0 ? buf + EOS_TRAJ_N * nr : NULL;
    eos_curv_traj_layout(&res->sharp, cfg, res->cap_sharp, buf + EOS_TRAJ_N * nr + nrp);
    fill_nan(buf, (int)n);
    res->n_values = n;
    EOS_ALLOC(res->sharp.hvps, res->cap_sharp);
    EOS_ALLOC(res->sharp.probe_hvps, (size_t)res->cap_sharp * eos_curv_n_probes);
    EOS_ALLOC(res->sharp.seconds, res->cap_sharp);
    fill_nan(res->sharp.seconds, res->cap_sharp);
    res->status = EOS_RUN_PENDING;
    res->final_loss = res->final_acc = res->final_test_loss = res->final_test_acc = NAN;
    res->final_sharpness = NAN;
    res->diverged_step = -1;
    res->rank = -1;
    res->separated_step = -1;
    return 0;
fail:
    eos_run_result_free(res);
    return rc;
}

void eos_run_result_free(eos_run_result *res)
{
    free(res->traj[0]);
    free(res->sharp.hvps);
    free(res->sharp.probe_hvps);
    free(res->sharp.seconds);
    memset(res, 0, sizeof *res);
}

typedef struct {
    const eos_config *cfg;
    const eos_dataset *tr, *te;
    eos_model *model;
    size_t np;
    real *buf; /* params-sized vectors, one allocation */
    real *w, *g;
    int *perm, perm_pos, batch;
    int sharp_n;
    eos_rng batch_rng;
    eos_optim opt;
    eos_curv_ctx curv; /* the curvature probes (they own their scratch) */
    int online;          /* the source draws fresh examples every step */
    eos_dataset fresh;   /* [batch] examples drawn for the current step (online only) */
    eos_rng online_rng;
    real *proj_dirs;     /* [record.projections, np] unit directions of /traj/proj */
    real *fout;          /* [n_train, n_out] outputs for the margins (logistic only, else NULL) */
    double margin_p;     /* the p of /traj/margin_p (optimizers that use train.p), else 0 */
} trainer;

static void trainer_free(trainer *T)
{
    eos_model_free(T->model);
    free(T->buf);
    free(T->perm);
    free(T->fresh.X);
    free(T->fresh.Y);
    free(T->proj_dirs);
    free(T->fout);
    eos_optim_free(&T->opt);
    eos_curv_free(&T->curv);
}

/* dirs [P, np]: P directions uniform on the unit sphere, from their own stream so that neither
 * the other streams nor a direction depends on P (direction j is draws 2 j np .. 2 (j+1) np - 1;
 * blocks of it are drawn in parallel by skipping ahead, the same values at any thread count). */
static void proj_directions(real *dirs, int P, size_t np, uint64_t seed)
{
    const size_t blk = EOS_RED_BLOCK, nb = (np + blk - 1) / blk;
    for (int j = 0; j < P; j++) {
        real *d = dirs + (size_t)j * np;
#pragma omp parallel for schedule(static) /* each block skips to its own draws */
        for (size_t b = 0; b < nb; b++) {
            eos_rng r;
            eos_rng_init(&r, seed, EOS_RNG_STREAM_PROJ);
            eos_rng_skip(&r, 2 * ((uint64_t)j * np + b * blk));
            size_t hi = (b + 1) * blk < np ? (b + 1) * blk : np;
            for (size_t i = b * blk; i < hi; i++) d[i] = (real)eos_rng_normal(&r);
        }
        eos_scal(d, 1.0 / eos_nrm2(d, np), np);
    }
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
    eos_model_set_hvp_cache(T->model, (size_t)sc->cache_mb << 20);
    if (cfg->loss == EOS_LOSS_LOGISTIC) {
        EOS_ALLOC(T->fout, (size_t)T->tr->n * T->tr->n_out);
        T->margin_p = eos_optim_uses_p(cfg->train.optimizer) ? cfg->train.p : 0;
    }
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
    EOS_ALLOC(T->buf, 2 * np);
    T->w = T->buf;
    T->g = T->w + np;
    EOS_ALLOC(T->perm, T->tr->n);
    for (int i = 0; i < T->tr->n; i++) T->perm[i] = i;
    EOS_TRY(eos_optim_init(&T->opt, &cfg->train, np));
    if (cfg->record.projections > 0) {
        EOS_ALLOC(T->proj_dirs, (size_t)cfg->record.projections * np);
        proj_directions(T->proj_dirs, cfg->record.projections, np, cfg->seed);
    }
    if (sc->every > 0)
        EOS_TRY(eos_curv_setup(&T->curv, cfg, T->model, T->tr, T->sharp_n, T->batch, &T->opt));
    /* Streams depend on the seed only (not on the rank, nor on the run index): runs that differ
     * only in, say, the learning rate share their initialisation and batch order. */
    eos_rng init_rng;
    eos_rng_init(&init_rng, cfg->seed, EOS_RNG_STREAM_INIT);
    eos_model_init(T->model, T->w, &init_rng);
    eos_rng_init(&T->batch_rng, cfg->seed, EOS_RNG_STREAM_BATCH);
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

/* The next minibatch's example indices (batch of them) in the epoch's permutation. */
static const int *next_batch(trainer *T)
{
    int n = T->tr->n;
    if (T->perm_pos + T->batch > n) {
        eos_rng_shuffle(&T->batch_rng, T->perm, n); /* new epoch; the incomplete tail is dropped */
        T->perm_pos = 0;
    }
    const int *idx = T->perm + T->perm_pos;
    T->perm_pos += T->batch;
    return idx;
}

/* Every curvature probe at w_t (src/curv/probes.c). */
static int measure_sharpness(trainer *T, eos_run_result *res, int slot)
{
    int rc = eos_curv_measure(&T->curv, T->w, &res->sharp, slot);
    res->final_sharpness = T->curv.sharpness;
    return rc;
}

/* The normalised margins of the logistic loss at w_t over the training set: m = min_i s_i f(x_i)
 * (s_i = +1 for y_i > 0, else -1) over ||w||_2 and, for optimizers that use train.p, ||w||_p,
 * both over the full parameter vector (biases included); summed in index order. */
static int record_margins(trainer *T, eos_run_result *res, int slot)
{
    int rc = 0;
    const eos_dataset *tr = T->tr;
    EOS_TRY(eos_model_outputs(T->model, T->w, tr->X, NULL, tr->n, T->fout));
    double m = INFINITY, n2 = 0, np = 0, p = T->margin_p;
    for (int i = 0; i < tr->n; i++)
        m = fmin(m, (tr->Y[(size_t)i * tr->n_out] > 0 ? 1.0 : -1.0) * (double)T->fout[i]);
    for (size_t j = 0; j < T->np; j++) {
        double a = fabs((double)T->w[j]);
        n2 += a * a;
        if (p > 0) np += pow(a, p);
    }
    res->margin[slot] = (float)(m / sqrt(n2));
    if (p > 0) res->margin_p[slot] = (float)(m / pow(np, 1.0 / p));
fail:
    return rc;
}

static void record(trainer *T, eos_run_result *res, long t, int slot, double loss, double acc,
                   double gn)
{
    res->loss[slot] = (float)loss;
    res->lr[slot] = (float)eos_optim_lr_at(&T->cfg->train, t);
    res->threshold[slot] = (float)eos_optim_threshold_at(&T->cfg->train, t);
    res->acc[slot] = (float)acc;
    res->grad_norm[slot] = (float)gn;
    for (int j = 0; j < res->n_proj; j++)
        res->proj[(size_t)slot * res->n_proj + j] =
            (float)eos_dot(T->proj_dirs + (size_t)j * T->np, T->w, T->np);
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

/* A run's checkpoint: the identity it must match and the parts that make up its state. */
typedef struct {
    const eos_train_hooks *hooks;
    eos_ckpt_ident id;
    eos_part parts[EOS_CKPT_MAX_PARTS];
    int n;
    double last_save; /* eos_now() of the last save (or of the run's start) */
} run_ckpt;

static void ckpt_note(const run_ckpt *k, const char *fmt, const char *msg)
{
    char line[EOS_MSG_MAX + 64];
    snprintf(line, sizeof line, fmt, msg);
    if (k->hooks->on_note)
        k->hooks->on_note(k->hooks->ctx, line);
    else
        fprintf(stderr, "eosweep: %s\n", line);
}

/* Everything that changes the run's future from the top of a step on: parameters, optimizer and
 * curvature state, every stream, the epoch's permutation and position, the trajectories so far
 * and the latest loss. The model and the data keep nothing between steps. */
static int ckpt_collect(run_ckpt *k, trainer *T, eos_run_result *res, double *loss, double *acc)
{
    int rc = 0, n = 0, got;
    eos_part *p = k->parts;
    const int max = EOS_CKPT_MAX_PARTS;
#define PART(ptr, size) (p[n++] = (eos_part){(ptr), (size)})
    PART(T->w, sizeof(real) * T->np);
    PART(T->perm, sizeof(int) * (size_t)T->tr->n);
    PART(&T->perm_pos, sizeof T->perm_pos);
    PART(&T->batch_rng, sizeof T->batch_rng);
    PART(&T->online_rng, sizeof T->online_rng);
    PART(loss, sizeof *loss);
    PART(acc, sizeof *acc);
    PART(res->traj[0], sizeof(float) * res->n_values);
    PART(res->sharp.hvps, sizeof(int32_t) * (size_t)res->cap_sharp);
    PART(res->sharp.probe_hvps, sizeof(int32_t) * (size_t)res->cap_sharp * eos_curv_n_probes);
    PART(res->sharp.seconds, sizeof(float) * (size_t)res->cap_sharp);
    PART(&res->n_rec, sizeof res->n_rec);
    PART(&res->n_sharp, sizeof res->n_sharp);
    PART(&res->final_sharpness, sizeof res->final_sharpness);
    PART(&res->final_test_loss, sizeof res->final_test_loss);
    PART(&res->final_test_acc, sizeof res->final_test_acc);
    PART(&res->separated_step, sizeof res->separated_step);
#undef PART
    EOS_CHECK((got = eos_optim_state(&T->opt, p + n, max - n)) >= 0, EOS_ERR_INTERNAL,
              "checkpoint: too many parts");
    n += got;
    if (T->cfg->sharpness.every > 0) {
        EOS_CHECK((got = eos_curv_state(&T->curv, p + n, max - n)) >= 0, EOS_ERR_INTERNAL,
                  "checkpoint: too many parts");
        n += got;
    }
    k->n = n;
fail:
    return rc;
}

/* The checkpoint's identity: the caller's sweep and run, and this run's resolved configuration. */
static int ckpt_ident(run_ckpt *k, const eos_config *cfg)
{
    char text[32768];
    memset(&k->id, 0, sizeof k->id);
    snprintf(k->id.sweep_sha, sizeof k->id.sweep_sha, "%s",
             k->hooks->sweep_sha ? k->hooks->sweep_sha : "");
    k->id.run = k->hooks->run;
    int len = eos_config_to_yaml(cfg, text, sizeof text);
    if (len < 0) return len;
    eos_sha256_hex(text, (size_t)len, k->id.config_sha);
    return 0;
}

/* Save the state at the top of step t; a failure is reported and the run goes on (the previous
 * checkpoint, if any, stays). */
static void ckpt_save(run_ckpt *k, long t, double t0, double wall_before)
{
    double now = eos_now();
    eos_ckpt_info info = {t, (double)time(NULL), wall_before + (now - t0)};
    if (eos_ckpt_write(k->hooks->ckpt_path, &k->id, &info, k->parts, k->n) != 0)
        ckpt_note(k, "checkpoint not saved (the run goes on): %s", eos_error_msg());
    k->last_save = now;
}

/* Continue from the checkpoint at the hooks' path when there is a valid one (*t_start, the wall
 * time before it); a foreign or damaged one is reported and ignored. */
static int ckpt_resume(run_ckpt *k, trainer *T, eos_run_result *res, double *loss, double *acc,
                       long *t_start, double *wall_before)
{
    int rc = 0;
    eos_ckpt_info info;
    EOS_TRY(ckpt_collect(k, T, res, loss, acc));
    EOS_TRY(ckpt_ident(k, T->cfg));
    rc = eos_ckpt_read(k->hooks->ckpt_path, &k->id, &info, k->parts, k->n);
    if (rc == 0) {
        *t_start = (long)info.step;
        *wall_before = info.wall_seconds;
        res->resumed_from = *t_start;
    } else if (rc == 1 || rc == EOS_ERR_FORMAT) {
        if (rc == EOS_ERR_FORMAT)
            ckpt_note(k, "%s; ignored, the run starts from step 0", eos_error_msg());
        rc = 0;
    } /* else unreadable half-way: the state may be partly overwritten, the run fails */
fail:
    return rc;
}

/* The full-batch loss and gradient at w_t (every step under full-batch training, else at record
 * steps and the last), recorded at record steps; *ended when the run diverged or met its goal. */
static int evaluate(trainer *T, const eos_train_hooks *hooks, eos_run_result *res, long t,
                    double *loss, double *acc, int *ended)
{
    int rc = 0;
    const eos_train_cfg *tc = &T->cfg->train;
    const int rec = tc->record_every;
    EOS_TRY(full_eval(T, T->tr, T->w, T->g, loss, acc));
    if (T->fout && res->separated_step < 0 && *acc >= 1.0) res->separated_step = t;
    if (t % rec == 0) {
        if (T->fout) EOS_TRY(record_margins(T, res, (int)(t / rec)));
        record(T, res, t, (int)(t / rec), *loss, *acc, eos_nrm2(T->g, T->np));
        if (hooks && hooks->on_record) hooks->on_record(hooks->ctx, t, res, (int)(t / rec));
    }
    if (!isfinite(*loss) || *loss > tc->diverge_loss) {
        res->status = EOS_RUN_DIVERGED;
        res->diverged_step = t;
        snprintf(res->message, sizeof res->message, "train loss %g at step %ld", *loss, t);
        *ended = 1;
    } else if ((tc->loss_goal > 0 && *loss <= tc->loss_goal) ||
               (tc->acc_goal > 0 && *acc >= tc->acc_goal)) {
        res->status = EOS_RUN_DONE;
        snprintf(res->message, sizeof res->message, "reached the %s goal at step %ld",
                 tc->loss_goal > 0 && *loss <= tc->loss_goal ? "loss" : "accuracy", t);
        *ended = 1;
    }
fail:
    return rc;
}

/* Step t's update from its batch: the whole set (gradient already in T->g), a minibatch of it,
 * or fresh examples, with the probes' hooks around it at a measurement step; *ended (status
 * diverged) when the minibatch loss is not finite. */
static int update(trainer *T, eos_run_result *res, long t, int full_batch, int at_sharp,
                  double *loss, int *ended)
{
    int rc = 0;
    const real *Xs = T->tr->X, *Ys = T->tr->Y;
    const int *idx = NULL;
    int nb = T->tr->n;
    if (T->online) {
        EOS_TRY(eos_data_draw(&T->fresh, T->cfg, &T->online_rng));
        Xs = T->fresh.X;
        Ys = T->fresh.Y;
        nb = T->fresh.n;
    } else if (!full_batch) {
        idx = next_batch(T);
        nb = T->batch;
    }
    if (!full_batch) {
        double ls = 0;
        eos_zero(T->g, T->np);
        EOS_TRY(eos_model_loss_grad(T->model, T->w, Xs, Ys, idx, nb, 1.0 / nb, &ls, NULL, T->g));
        if (!isfinite(ls)) {
            res->status = EOS_RUN_DIVERGED;
            res->diverged_step = t;
            *loss = NAN;
            snprintf(res->message, sizeof res->message, "minibatch loss %g at step %ld", ls, t);
            *ended = 1;
            return 0;
        }
    }
    step_batch sb = {T, Xs, Ys, idx, nb};
    const int slot = at_sharp ? (int)(t / T->cfg->sharpness.every) : 0;
    if (at_sharp) EOS_TRY(eos_curv_before_step(&T->curv, T->w));
    EOS_TRY(eos_optim_step(&T->opt, T->w, T->g, &(eos_optim_grad){batch_grad_at, &sb}));
    const int rec = T->cfg->train.record_every;
    if (T->opt.substeps > 0 && t % rec == 0)
        res->flow_substeps[t / rec] = (float)T->opt.substeps;
    if (at_sharp) EOS_TRY(eos_curv_after_step(&T->curv, T->w, &res->sharp, slot));
fail:
    return rc;
}

int eos_train_run(const eos_config *cfg, const eos_data *data, eos_run_result *res,
                  const eos_train_hooks *hooks)
{
    int rc = 0, ended = 0;
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
    const int sev = cfg->sharpness.every;
    long t = 0, t_start = 0;
    double loss = NAN, acc = NAN, wall_before = 0;
    res->status = EOS_RUN_PENDING;
    run_ckpt ck = {.hooks = hooks, .last_save = t0};
    const int ckpt = hooks && hooks->ckpt_path;
    if (ckpt) EOS_TRY(ckpt_resume(&ck, &T, res, &loss, &acc, &t_start, &wall_before));
    for (t = t_start;; t++) {
        const int stopping = hooks && hooks->stop && *hooks->stop;
        if (ckpt && t > t_start &&
            (stopping || (hooks->ckpt_every > 0 && eos_now() - ck.last_save >= hooks->ckpt_every)))
            ckpt_save(&ck, t, t0, wall_before);
        if (stopping) {
            res->steps = t; /* where the next continuation starts (the checkpoint's step) */
            rc = eos_error_set(EOS_ERR_INTERRUPT, __FILE__, __LINE__, "interrupted at step %ld", t);
            goto out;
        }
        if (hooks && hooks->on_step) hooks->on_step(hooks->ctx);
        const int last = t >= tc->max_steps;
        if (full_batch || t % tc->record_every == 0 || last) {
            EOS_TRY(evaluate(&T, hooks, res, t, &loss, &acc, &ended));
            if (ended) break;
        }
        const int at_sharp = sev > 0 && t % sev == 0;
        if (at_sharp) {
            int slot = (int)(t / sev);
            EOS_TRY(measure_sharpness(&T, res, slot));
            eos_optim_set_sharpness(&T.opt, T.curv.sharpness);
            res->n_sharp = slot + 1;
            if (hooks && hooks->on_sharp) hooks->on_sharp(hooks->ctx, t, res, slot);
        }
        if (last) {
            res->status = EOS_RUN_DONE;
            break;
        }
        EOS_TRY(update(&T, res, t, full_batch, at_sharp, &loss, &ended));
        if (ended) break;
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
    res->wall_seconds = wall_before + (eos_now() - t0);
    trainer_free(&T);
    return rc;
}
