/* test_ckpt.c: mid-run checkpoints (src/train/ckpt.c through eos_train_run). A run stopped at
 * arbitrary steps and continued from its checkpoint, possibly several times, is bitwise the
 * uninterrupted run, for every optimizer of the table and every curvature measure, fixed and
 * online data; periodic checkpoints alone (as after kill -9) do the same; a damaged, truncated or
 * foreign checkpoint is reported in one line, ignored, and the run starts again from step 0. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eos_data.h"
#include "eos_optim.h"
#include "eos_train.h"
#include "eos_test.h"

static char g_dir[64], g_path[128];
static const char *SWEEP_SHA = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

typedef struct {
    volatile sig_atomic_t stop;
    long steps, stop_after; /* stop_after 0: never */
    long copy_at;           /* copy the checkpoint aside at this many steps (0: never) */
    char note[512];
    int notes;
} driver;

static void on_step(void *ctx)
{
    driver *d = ctx;
    d->steps++;
    if (d->stop_after && d->steps == d->stop_after) d->stop = 1;
    if (d->copy_at && d->steps == d->copy_at) {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "cp %s %s.copy", g_path, g_path);
        EXPECT(system(cmd) == 0, "%s", cmd);
    }
}

static void on_note(void *ctx, const char *line)
{
    driver *d = ctx;
    snprintf(d->note, sizeof d->note, "%s", line);
    d->notes++;
}

/* One segment of a run: from its checkpoint (if any) until stop_after steps (0: the end). */
static int segment(const eos_config *c, const eos_data *data, eos_run_result *res, long stop_after,
                   double every, long copy_at, driver *d)
{
    memset(d, 0, sizeof *d);
    d->stop_after = stop_after;
    d->copy_at = copy_at;
    eos_train_hooks h = {.on_step = on_step, .ctx = d, .stop = &d->stop, .ckpt_path = g_path,
                         .ckpt_every = every, .sweep_sha = SWEEP_SHA, .run = 3, .on_note = on_note};
    EXPECT(eos_run_result_alloc(res, c) == 0, "alloc");
    return eos_train_run(c, data, res, &h);
}

static int same_run(const eos_run_result *a, const eos_run_result *b)
{
    size_t ns = (size_t)a->cap_sharp, n = a->n_values; /* every trajectory: one buffer */
    return a->steps == b->steps && a->status == b->status && a->n_rec == b->n_rec &&
           a->n_values == b->n_values && a->n_sharp == b->n_sharp &&
           !memcmp(a->traj[0], b->traj[0], n * sizeof(float)) &&
           !memcmp(a->sharp.hvps, b->sharp.hvps, ns * sizeof(int32_t)) &&
           !memcmp(&a->final_loss, &b->final_loss, sizeof(double)) &&
           !memcmp(&a->final_acc, &b->final_acc, sizeof(double)) &&
           !memcmp(&a->final_sharpness, &b->final_sharpness, sizeof(double)) &&
           !memcmp(&a->final_test_loss, &b->final_test_loss, sizeof(double)) &&
           a->separated_step == b->separated_step && !strcmp(a->message, b->message);
}

/* The run uninterrupted, then stopped after each of stops[] steps in turn and continued each
 * time from its checkpoint: the same, and each continuation started where the last stopped. */
static void check_interrupted(const eos_config *c, const long *stops, int n_stops, const char *what)
{
    eos_data data;
    EXPECT(eos_data_load(&data, c) == 0, "%s: data: %s", what, eos_error_msg());
    eos_run_result ref, res;
    driver d;
    unlink(g_path);
    EXPECT(eos_run_result_alloc(&ref, c) == 0, "alloc");
    EXPECT(eos_train_run(c, &data, &ref, NULL) == 0, "%s: reference run", what);
    EXPECT(ref.status == EOS_RUN_DONE, "%s: reference status %d: %s", what, ref.status,
           ref.message);
    long at = 0;
    for (int s = 0; s <= n_stops; s++) {
        int rc = segment(c, &data, &res, s < n_stops ? stops[s] : 0, 0, 0, &d);
        EXPECT(d.notes == 0, "%s: note '%s'", what, d.note);
        EXPECT(res.resumed_from == at, "%s: segment %d continued from step %ld, want %ld", what,
               s, res.resumed_from, at);
        if (s < n_stops) {
            EXPECT(rc == EOS_ERR_INTERRUPT && res.status == EOS_RUN_PENDING,
                   "%s: segment %d: rc %d status %d (%s)", what, s, rc, res.status, res.message);
            at += stops[s];
            eos_run_result_free(&res);
        } else {
            EXPECT(rc == 0, "%s: last segment rc %d", what, rc);
        }
    }
    EXPECT(same_run(&ref, &res), "%s: interrupted at steps %ld.. and continued: not bitwise the "
           "uninterrupted run (loss %.9g vs %.9g)", what, stops[0], res.final_loss, ref.final_loss);
    eos_run_result_free(&ref);
    eos_run_result_free(&res);
    eos_data_free(&data);
    unlink(g_path);
}

static void base_cfg(eos_config *c)
{
    eos_config_default(c);
    c->seed = 5;
    EXPECT(eos_config_set(c, "data.source", "teacher-student") == 0, "%s", eos_error_msg());
    c->data.dim = 10;
    c->data.n_out = 3;
    c->data.teacher_hidden = 8;
    c->data.n_train = 200;
    c->data.n_test = 40;
    c->model.n_hidden = 2;
    c->model.hidden[0] = 16;
    c->model.hidden[1] = 12;
    c->train.lr = 0.05;
    c->train.max_steps = 60;
    c->train.record_every = 5;
    c->sharpness.every = 20;
    c->sharpness.k = 2;
    c->sharpness.chunk = 64;
    c->sharpness.trace_probes = 3;
    c->sharpness.directional = 1;
    c->record.projections = 2;
}

/* Every optimizer of the table (minibatches where allowed, so that the batch order, batch
 * sharpness and its sampler are part of the state), stopped between measurements and exactly at
 * one (step 20). */
static void test_every_optimizer(void)
{
    const long stops[] = {7, 13, 18};
    for (int i = 0; eos_optim_name(i); i++) {
        eos_config c;
        base_cfg(&c);
        c.train.optimizer = i;
        c.train.batch_size = 32;
        if (eos_optim_check(&c.train, NULL) != 0) c.train.batch_size = 0; /* full-batch only */
        c.sharpness.batch_sharpness = c.train.batch_size > 0;
        c.sharpness.batch_momentum = c.train.batch_size > 0 && eos_optim_has_velocity(i);
        check_interrupted(&c, stops, 3, eos_optim_name(i));
    }
}

/* Learning-rate schedules: the lr is a function of the step alone, so a run stopped inside the
 * warm-up, across a step decay and at a measurement continues bitwise with nothing new saved. */
static void test_schedules(void)
{
    const long stops[] = {7, 13, 18};
    const char *names[] = {"cosine", "step", "linear"};
    const char *opts[] = {"gd", "momentum", "adam"};
    for (int i = 0; i < 3; i++) {
        eos_config c;
        base_cfg(&c);
        EXPECT(eos_config_set(&c, "train.schedule", names[i]) == 0, "%s", eos_error_msg());
        EXPECT(eos_config_set(&c, "train.optimizer", opts[i]) == 0, "%s", eos_error_msg());
        c.train.warmup_steps = 15;
        c.train.warmup_init = 0.1;
        c.train.lr_min = 0.005;
        c.train.step_every = 12;
        c.train.step_gamma = 0.5;
        EXPECT(eos_config_validate(&c, NULL, NULL) == 0, "%s", eos_error_msg());
        check_interrupted(&c, stops, 3, names[i]);
    }
}

/* The measures that keep state of their own or draw from streams of their own: Hutch++ and the
 * spectral density, batch sharpness with its sampler, the preconditioned eigenvalue of Adam,
 * Gauss-Newton, the smallest eigenvalues, per-layer sharpness, the overlaps, the batch Hessian. */
static void test_other_measures(void)
{
    const long stops[] = {20, 1, 25};
    eos_config c;
    base_cfg(&c);
    c.train.optimizer = eos_optim_find("adam");
    c.train.lr = 0.01;
    c.train.batch_size = 16;
    c.sharpness.every = 10;
    c.sharpness.batch_sharpness = 1;
    EXPECT(eos_config_set(&c, "sharpness.trace_method", "hutchpp") == 0, "%s", eos_error_msg());
    c.sharpness.trace_probes = 9;
    c.sharpness.density_probes = 2;
    c.sharpness.density_steps = 6;
    c.sharpness.gauss_newton = 1; /* warm-started from their scratch */
    c.sharpness.k_min = 2;
    c.sharpness.per_layer = 1; /* one warm start per layer */
    c.sharpness.overlap = 1;   /* a warm start, and w_t between before and after the step */
    c.sharpness.batch_hessian = 1; /* its sampler and a warm start */
    check_interrupted(&c, stops, 3,
                      "adam + hutchpp + density + batch sharpness + gn + k_min + layers + overlap "
                      "+ batch Hessian");
}

/* sharpness.solver lobpcg: the kept blocks of eig, gn_eig, eig_min and overlap are state. */
static void test_lobpcg_blocks(void)
{
    const long stops[] = {20, 1, 25};
    eos_config c;
    base_cfg(&c);
    c.sharpness.every = 10;
    EXPECT(eos_config_set(&c, "sharpness.solver", "lobpcg") == 0, "%s", eos_error_msg());
    c.sharpness.gauss_newton = 1;
    c.sharpness.k_min = 1;
    c.sharpness.overlap = 1;
    check_interrupted(&c, stops, 3, "lobpcg: eig + gn + k_min + overlap");
}

/* Fresh prompts drawn every step (their stream is state) through the linear transformer. */
static void test_online_prompts(void)
{
    const long stops[] = {37, 50};
    eos_config c;
    eos_config_default(&c);
    c.seed = 4;
    EXPECT(eos_config_set(&c, "data.source", "icl-regression") == 0, "%s", eos_error_msg());
    c.data.dim = 3;
    c.data.n_context = 8;
    c.data.n_train = 100;
    c.data.online = 1;
    EXPECT(eos_config_set(&c, "model.arch", "linear-transformer") == 0, "%s", eos_error_msg());
    c.model.init = EOS_INIT_GAUSSIAN;
    c.model.init_scale = 0.25;
    c.train.optimizer = eos_optim_find("sgd");
    c.train.lr = 0.01;
    c.train.batch_size = 20;
    c.train.max_steps = 120;
    c.train.record_every = 10;
    c.sharpness.every = 40;
    c.sharpness.k = 1;
    check_interrupted(&c, stops, 2, "online in-context prompts");
}

/* The logistic loss on separable data: stopped two steps after the run separated, the
 * continuation keeps that step (/runs/separated_step) and the margins recorded so far. */
static void test_logistic_separation(void)
{
    eos_config c;
    eos_config_default(&c);
    c.seed = 2;
    EXPECT(eos_config_set(&c, "data.source", "separable") == 0, "%s", eos_error_msg());
    c.data.dim = 6;
    c.data.n_train = 100;
    c.data.margin = 0.3;
    c.model.n_hidden = 1;
    c.model.hidden[0] = 8;
    c.loss = EOS_LOSS_LOGISTIC;
    c.train.lr = 0.5;
    c.train.max_steps = 80;
    c.train.record_every = 5;
    c.sharpness.every = 40;
    c.sharpness.k = 1;
    eos_data data;
    eos_run_result ref;
    EXPECT(eos_data_load(&data, &c) == 0 && eos_run_result_alloc(&ref, &c) == 0, "setup");
    EXPECT(eos_train_run(&c, &data, &ref, NULL) == 0, "reference run");
    long sep = ref.separated_step;
    EXPECT(sep >= 1 && sep + 2 < c.train.max_steps && isfinite(ref.margin[0]),
           "separated at step %ld of %ld", sep, c.train.max_steps);
    eos_run_result_free(&ref);
    eos_data_free(&data);
    const long stops[] = {sep + 2, 7};
    if (sep >= 1) check_interrupted(&c, stops, 2, "logistic on separable data");
}

/* Checkpoints every step and no signal, as a run killed with -9 leaves them: the copy taken at
 * step 24 continues to the uninterrupted result. */
static void test_periodic_checkpoints(void)
{
    eos_config c;
    base_cfg(&c);
    c.train.optimizer = eos_optim_find("momentum");
    c.train.batch_size = 32;
    eos_data data;
    EXPECT(eos_data_load(&data, &c) == 0, "data");
    eos_run_result ref, res;
    driver d;
    char copy[160];
    snprintf(copy, sizeof copy, "%s.copy", g_path);
    unlink(g_path);
    EXPECT(segment(&c, &data, &ref, 0, 1e-9, 25, &d) == 0 && ref.status == EOS_RUN_DONE, "run");
    EXPECT(access(copy, R_OK) == 0, "no checkpoint at step 24");
    EXPECT(rename(copy, g_path) == 0, "restore");
    EXPECT(segment(&c, &data, &res, 0, 0, 0, &d) == 0, "continue");
    /* the 25th step is step 24, whose checkpoint was saved just before it */
    EXPECT(res.resumed_from == 24, "continued from %ld, want 24", res.resumed_from);
    EXPECT(same_run(&ref, &res), "continued from a periodic checkpoint: not bitwise the run");
    eos_run_result_free(&ref);
    eos_run_result_free(&res);
    eos_data_free(&data);
    unlink(g_path);
}

/* Damage the checkpoint at byte offset `at` (negative: from the end) by XOR with `x`, or
 * truncate it to `at` bytes (x == 0). */
static void damage(long at, int x)
{
    FILE *f = fopen(g_path, "r+b");
    EXPECT(f != NULL, "open %s", g_path);
    if (!f) return;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    if (x == 0) {
        fclose(f);
        EXPECT(truncate(g_path, at) == 0, "truncate");
        return;
    }
    long pos = at >= 0 ? at : size + at;
    fseek(f, pos, SEEK_SET);
    int ch = fgetc(f);
    fseek(f, pos, SEEK_SET);
    fputc(ch ^ x, f);
    fclose(f);
}

/* A checkpoint that must not be trusted: one note naming the reason, then the run from step 0,
 * equal to the uninterrupted run. */
static void test_refused_checkpoints(void)
{
    struct {
        long at;
        int x;
        const char *why;
        int change; /* 1: continue with another learning rate; 2: another run index */
    } cases[] = {
        {5000, 0x10, "checksum", 0},    {-3, 0x01, "checksum", 0}, {300, 0, "truncated", 0},
        {8, 0x7f, "format", 0},         {0, 0x20, "not an eosweep checkpoint", 0},
        {0, 0, "another configuration", 1}, {0, 0, "not run 4", 2},
    };
    eos_config c;
    base_cfg(&c);
    c.train.batch_size = 32;
    c.train.optimizer = eos_optim_find("sgd");
    eos_data data;
    EXPECT(eos_data_load(&data, &c) == 0, "data");
    eos_run_result ref, res;
    EXPECT(eos_run_result_alloc(&ref, &c) == 0, "alloc");
    EXPECT(eos_train_run(&c, &data, &ref, NULL) == 0, "reference");
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        driver d;
        eos_config other = c;
        if (cases[i].change == 1) other.train.lr = 0.04;
        unlink(g_path);
        EXPECT(segment(&other, &data, &res, 30, 0, 0, &d) == EOS_ERR_INTERRUPT, "stop");
        eos_run_result_free(&res);
        if (cases[i].change == 0) damage(cases[i].at, cases[i].x);
        memset(&d, 0, sizeof d);
        eos_train_hooks h = {.on_step = on_step, .ctx = &d, .stop = &d.stop,
                             .ckpt_path = g_path, .sweep_sha = SWEEP_SHA,
                             .run = cases[i].change == 2 ? 4 : 3, .on_note = on_note};
        EXPECT(eos_run_result_alloc(&res, &c) == 0, "alloc");
        EXPECT(eos_train_run(&c, &data, &res, &h) == 0, "case %zu: run", i);
        EXPECT(d.notes == 1 && strstr(d.note, cases[i].why) && strstr(d.note, g_path) &&
                   strstr(d.note, "step 0") && !strchr(d.note, '\n'),
               "case %zu: want one line naming the file and '%s', got %d: '%s'", i, cases[i].why,
               d.notes, d.note);
        EXPECT(res.resumed_from == 0 && same_run(&ref, &res),
               "case %zu (%s): the run from step 0 is not the uninterrupted run", i, cases[i].why);
        eos_run_result_free(&res);
    }
    eos_run_result_free(&ref);
    eos_data_free(&data);
    unlink(g_path);
}

int main(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/eos_ckpt_test_XXXXXX");
    if (!mkdtemp(g_dir)) return 1;
    snprintf(g_path, sizeof g_path, "%s/ckpt/run-3.ckpt", g_dir); /* the directory is made */
    TEST_RUN(test_every_optimizer);
    TEST_RUN(test_other_measures);
    TEST_RUN(test_schedules);
    TEST_RUN(test_online_prompts);
    TEST_RUN(test_logistic_separation);
    TEST_RUN(test_lobpcg_blocks);
    TEST_RUN(test_periodic_checkpoints);
    TEST_RUN(test_refused_checkpoints);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
    return TEST_SUMMARY();
}
