/* config.c: defaults, the key table, and reading/writing/validating one run's configuration.
 *
 * Every field of eos_config has one row in eos_config_keys; the sweep parser, the grid expansion,
 * the YAML writer and the range checks all go through that table, so a new field needs one row. */
#include "eos_config.h"
#include "eos_common.h"
#include "eos_data.h"
#include "eos_model.h"
#include "eos_optim.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* model.hidden is stored as a count followed by the widths; the INT_LIST code relies on it. */
_Static_assert(offsetof(eos_model_cfg, hidden) == offsetof(eos_model_cfg, n_hidden) + sizeof(int),
               "model.hidden must follow model.n_hidden");
_Static_assert(offsetof(eos_model_cfg, channels) == offsetof(eos_model_cfg, n_channels) + sizeof(int),
               "model.channels must follow model.n_channels");

static const char *const activation_names[] = {"tanh",     "relu", "elu",
                                               "softplus", "gelu", "identity", NULL};
static const char *const init_names[] = {"pytorch", "gaussian", NULL};
static const char *const loss_names[] = {"mse", "xent", "logistic", NULL};
static const char *const trace_method_names[] = {"hutchinson", "hutchpp", NULL};
static const char *const solver_names[] = {"lanczos", "lobpcg", NULL};
static const char *const pool_names[] = {"max", "avg", "none", NULL};
static const char *const norm_per_names[] = {"feature", "channel", NULL};

#define NAMES_FN(fn, arr)                                                                          \
    static const char *fn(int v)                                                                   \
    {                                                                                              \
        return v >= 0 && (size_t)v < sizeof arr / sizeof *arr - 1 ? arr[v] : NULL;                 \
    }
NAMES_FN(activation_name, activation_names)
NAMES_FN(init_name, init_names)
NAMES_FN(loss_name, loss_names)
NAMES_FN(trace_method_name, trace_method_names)
NAMES_FN(solver_name, solver_names)
NAMES_FN(pool_name, pool_names)
NAMES_FN(norm_per_name, norm_per_names)

/* Extra spellings accepted on input; output always uses the canonical name. */
static const struct {
    const char *path, *alias;
    int value;
} enum_aliases[] = {{"loss", "cross-entropy", EOS_LOSS_XENT}};

#define NOMAX HUGE_VAL
#define XMIN EOS_KEY_MIN_EXCLUSIVE
#define XMAX EOS_KEY_MAX_EXCLUSIVE
#define NOSWEEP EOS_KEY_NOT_SWEEPABLE
#define RUNCOL EOS_KEY_RUN_COLUMN

#define OFF(f) offsetof(eos_config, f)
#define SZ(f) sizeof(((eos_config *)0)->f)

/* X(path, type, offset, size, enum names, min, max, flags (eos_key_flag), help) */
#define EOS_KEY_LIST(X)                                                                            \
    X("name", EOS_KEY_STRING, OFF(name), SZ(name), NULL, 0, 0, 0, "name of the sweep/run")        \
    X("seed", EOS_KEY_U64, OFF(seed), SZ(seed), NULL, 0, NOMAX, RUNCOL,                            \
      "seed for initialisation, minibatch order and synthetic data")                               \
    X("data.source", EOS_KEY_ENUM, OFF(data.source), SZ(data.source), eos_data_source_name, 0, 0, \
      0, "dataset kind")                                                                           \
    X("data.path", EOS_KEY_STRING, OFF(data.path), SZ(data.path), NULL, 0, 0, 0,                   \
      "file or directory of the training data (\"\" = default)")                                   \
    X("data.labels", EOS_KEY_STRING, OFF(data.labels), SZ(data.labels), NULL, 0, 0, 0,             \
      "IDX labels file (mnist-idx)")                                                               \
    X("data.test_path", EOS_KEY_STRING, OFF(data.test_path), SZ(data.test_path), NULL, 0, 0, 0,    \
      "test images (mnist-idx) or test file (hdf5); \"\" = none or built-in")                      \
    X("data.test_labels", EOS_KEY_STRING, OFF(data.test_labels), SZ(data.test_labels), NULL, 0, 0, \
      0, "IDX test labels file (mnist-idx)")                                                       \
    X("data.x", EOS_KEY_STRING, OFF(data.x), SZ(data.x), NULL, 0, 0, 0, "HDF5 inputs dataset")     \
    X("data.y", EOS_KEY_STRING, OFF(data.y), SZ(data.y), NULL, 0, 0, 0, "HDF5 targets dataset")    \
    X("data.n_train", EOS_KEY_INT, OFF(data.n_train), SZ(data.n_train), NULL, 0, INT_MAX, 0,       \
      "first n training examples, 0 = all (>= 0)")                                                 \
    X("data.n_test", EOS_KEY_INT, OFF(data.n_test), SZ(data.n_test), NULL, 0, INT_MAX, 0,          \
      "held-out examples, 0 = no test set (>= 0)")                                                 \
    X("data.standardize", EOS_KEY_BOOL, OFF(data.standardize), SZ(data.standardize), NULL, 0, 1,  \
      0, "divide each feature by its training std (implies center)")                               \
    X("data.center", EOS_KEY_BOOL, OFF(data.center), SZ(data.center), NULL, 0, 1, 0,               \
      "subtract the training mean per feature")                                                    \
    X("data.normalize_per", EOS_KEY_ENUM, OFF(data.normalize_per), SZ(data.normalize_per),         \
      norm_per_name, 0, 0, 0, "center/standardize statistics per feature or per image channel")    \
    X("data.dim", EOS_KEY_INT, OFF(data.dim), SZ(data.dim), NULL, 1, 1e6, 0,                       \
      "synthetic input dimension (>= 1)")                                                          \
    X("data.n_out", EOS_KEY_INT, OFF(data.n_out), SZ(data.n_out), NULL, 1, 1e6, 0,                 \
      "synthetic output dimension (>= 1)")                                                         \
    X("data.teacher_hidden", EOS_KEY_INT, OFF(data.teacher_hidden), SZ(data.teacher_hidden), NULL, \
      1, 1024, 0, "hidden width of the tanh teacher (1..1024)")                                      \
    X("data.noise", EOS_KEY_DOUBLE, OFF(data.noise), SZ(data.noise), NULL, 0, NOMAX, 0,            \
      "label noise std of synthetic data (>= 0)")                                                  \
    X("data.margin", EOS_KEY_DOUBLE, OFF(data.margin), SZ(data.margin), NULL, 0, NOMAX, 0,         \
      "separable: margin of the generating direction; xor-clusters: cluster mean norm (>= 0)")    \
    X("data.label_noise", EOS_KEY_DOUBLE, OFF(data.label_noise), SZ(data.label_noise), NULL, 0,    \
      0.5, 0, "separable, xor-clusters: fraction of training labels flipped (in [0, 0.5])")        \
    X("data.n_context", EOS_KEY_INT, OFF(data.n_context), SZ(data.n_context), NULL, 1, 1e6, 0,     \
      "in-context examples per prompt (>= 1)")                                                     \
    X("data.online", EOS_KEY_BOOL, OFF(data.online), SZ(data.online), NULL, 0, 1, 0,               \
      "fresh training examples every step (sources that draw them)")                               \
    X("data.sigma_decay", EOS_KEY_DOUBLE, OFF(data.sigma_decay), SZ(data.sigma_decay), NULL, 0,    \
      NOMAX, XMIN, "input covariance diag(sigma_decay^i), 1 = isotropic (> 0)")                    \
    X("model.arch", EOS_KEY_ENUM, OFF(model.arch), SZ(model.arch), eos_model_arch_name, 0, 0, 0,   \
      "architecture")                                                                              \
    X("model.hidden", EOS_KEY_INT_LIST, OFF(model.n_hidden), SZ(model.hidden), NULL, 1, 1e6, 0,    \
      "hidden widths, e.g. [200, 200]; [] = linear model (each >= 1)")                             \
    X("model.activation", EOS_KEY_ENUM, OFF(model.activation), SZ(model.activation),              \
      activation_name, 0, 0, 0,  "hidden activation")                                              \
    X("model.bias", EOS_KEY_BOOL, OFF(model.bias), SZ(model.bias), NULL, 0, 1, 0, "use biases")   \
    X("model.init", EOS_KEY_ENUM, OFF(model.init), SZ(model.init), init_name, 0, 0, 0,             \
      "weight initialisation")                                                                     \
    X("model.init_scale", EOS_KEY_DOUBLE, OFF(model.init_scale), SZ(model.init_scale), NULL, 0,    \
      NOMAX, XMIN, "multiplies the initialisation scale (> 0)")                                    \
    X("model.layers", EOS_KEY_INT, OFF(model.layers), SZ(model.layers), NULL, 1, 64, 0,            \
      "linear transformer layers (1..64)")                                                         \
    X("model.sparse", EOS_KEY_BOOL, OFF(model.sparse), SZ(model.sparse), NULL, 0, 1, 0,            \
      "linear transformer: sparse P/Q parametrisation")                                            \
    X("model.channels", EOS_KEY_INT_LIST, OFF(model.n_channels), SZ(model.channels), NULL, 1, 1e6, \
      0, "cnn: output channels of each conv layer, e.g. [32, 32] (each >= 1)")                     \
    X("model.kernel", EOS_KEY_INT, OFF(model.kernel), SZ(model.kernel), NULL, 1, 31, 0,            \
      "cnn: kernel side, odd (stride 1, same padding; 1..31)")                                      \
    X("model.pool", EOS_KEY_ENUM, OFF(model.pool), SZ(model.pool), pool_name, 0, 0, 0,             \
      "cnn: 2x2 pooling after each conv activation: max, avg or none (odd sizes: floor)")          \
    X("model.gemm_tiles", EOS_KEY_INT, OFF(model.gemm_tiles), SZ(model.gemm_tiles), NULL, 1, 64,   \
      0, "least C tiles a large GEMM is split into for OpenMP threads; results depend on it, not "  \
      "on the thread count (1..64)")                                                               \
    X("loss", EOS_KEY_ENUM, OFF(loss), SZ(loss), loss_name, 0, 0, 0,                               \
      "mse (0.5 sum of squares), xent (alias cross-entropy) or logistic (one output, labels "     \
      "+-1 or 0/1)")                                                                              \
    X("train.optimizer", EOS_KEY_ENUM, OFF(train.optimizer), SZ(train.optimizer), eos_optim_name,  \
      0, 0, 0, "update rule")                                                                      \
    X("train.lr", EOS_KEY_DOUBLE, OFF(train.lr), SZ(train.lr), NULL, 0, NOMAX, XMIN,               \
      "learning rate (> 0)")                                                                       \
    X("train.batch_size", EOS_KEY_BATCH, OFF(train.batch_size), SZ(train.batch_size), NULL, 1,     \
      INT_MAX, 0, "minibatch size (>= 1) or full")                                                 \
    X("train.max_steps", EOS_KEY_LONG, OFF(train.max_steps), SZ(train.max_steps), NULL, 1, 1e12,  \
      0, "optimizer steps (>= 1)")                                                                 \
    X("train.loss_goal", EOS_KEY_DOUBLE, OFF(train.loss_goal), SZ(train.loss_goal), NULL, 0,       \
      NOMAX, 0, "stop when the train loss <= goal, 0 = off (>= 0)")                                \
    X("train.acc_goal", EOS_KEY_DOUBLE, OFF(train.acc_goal), SZ(train.acc_goal), NULL, 0, 1, 0,    \
      "stop when the train accuracy >= goal, 0 = off (in [0, 1])")                                 \
    X("train.diverge_loss", EOS_KEY_DOUBLE, OFF(train.diverge_loss), SZ(train.diverge_loss), NULL, \
      0, NOMAX, XMIN, "a loss above this counts as divergence (> 0)")                              \
    X("train.record_every", EOS_KEY_INT, OFF(train.record_every), SZ(train.record_every), NULL, 1, \
      INT_MAX, NOSWEEP, "steps between trajectory records (>= 1; not sweepable)")                  \
    X("train.momentum", EOS_KEY_DOUBLE, OFF(train.momentum), SZ(train.momentum), NULL, 0, 1, XMAX, \
      "heavy-ball/nesterov beta (in [0, 1))")                                                      \
    X("train.beta1", EOS_KEY_DOUBLE, OFF(train.beta1), SZ(train.beta1), NULL, 0, 1, XMAX,          \
      "Adam beta1 (in [0, 1))")                                                                    \
    X("train.beta2", EOS_KEY_DOUBLE, OFF(train.beta2), SZ(train.beta2), NULL, 0, 1, XMAX,          \
      "Adam beta2 / RMSProp alpha (in [0, 1))")                                                    \
    X("train.eps", EOS_KEY_DOUBLE, OFF(train.eps), SZ(train.eps), NULL, 0, NOMAX, XMIN,            \
      "Adam/RMSProp epsilon (> 0)")                                                                \
    X("train.weight_decay", EOS_KEY_DOUBLE, OFF(train.weight_decay), SZ(train.weight_decay), NULL, \
      0, NOMAX, 0, "L2 penalty, decoupled for adamw (>= 0)")                                       \
    X("train.sam_rho", EOS_KEY_DOUBLE, OFF(train.sam_rho), SZ(train.sam_rho), NULL, 0, NOMAX, 0,   \
      "SAM/USAM perturbation radius (>= 0)")                                                       \
    X("train.p", EOS_KEY_DOUBLE, OFF(train.p), SZ(train.p), NULL, 1, NOMAX, XMIN,                  \
      "p-GD potential exponent (> 1)")                                                             \
    X("train.clip", EOS_KEY_DOUBLE, OFF(train.clip), SZ(train.clip), NULL, 0, NOMAX, XMIN,         \
      "coordinate clipping threshold (> 0)")                                                       \
    X("train.schedule", EOS_KEY_ENUM, OFF(train.schedule), SZ(train.schedule),                     \
      eos_optim_schedule_name, 0, 0, 0, "learning-rate schedule after the warm-up")                \
    X("train.warmup_steps", EOS_KEY_LONG, OFF(train.warmup_steps), SZ(train.warmup_steps), NULL,   \
      0, 1e12, 0, "linear warm-up steps from warmup_init x lr to lr, 0 = none (>= 0)")             \
    X("train.warmup_init", EOS_KEY_DOUBLE, OFF(train.warmup_init), SZ(train.warmup_init), NULL, 0, \
      1, 0, "the warm-up's first lr as a fraction of train.lr (in [0, 1])")                        \
    X("train.lr_min", EOS_KEY_DOUBLE, OFF(train.lr_min), SZ(train.lr_min), NULL, 0, NOMAX, 0,      \
      "cosine/linear schedule: the lr at max_steps (>= 0, at most train.lr)")                      \
    X("train.step_every", EOS_KEY_LONG, OFF(train.step_every), SZ(train.step_every), NULL, 0,      \
      1e12, 0, "step schedule: steps between decays (>= 1 with schedule step)")                    \
    X("train.step_gamma", EOS_KEY_DOUBLE, OFF(train.step_gamma), SZ(train.step_gamma), NULL, 0, 1, \
      XMIN, "step schedule: lr factor per decay (in (0, 1])")                                      \
    X("train.flow_alpha", EOS_KEY_DOUBLE, OFF(train.flow_alpha), SZ(train.flow_alpha), NULL, 0,    \
      NOMAX, XMIN, "flow: RK4 sub-step at most flow_alpha / sharpness (> 0)")                      \
    X("sharpness.every", EOS_KEY_INT, OFF(sharpness.every), SZ(sharpness.every), NULL, 0, INT_MAX, \
      NOSWEEP, "steps between sharpness measurements, 0 = off (>= 0; not sweepable)")              \
    X("sharpness.k", EOS_KEY_INT, OFF(sharpness.k), SZ(sharpness.k), NULL, 1, 20, 0,               \
      "top Hessian eigenvalues (1..20)")                                                           \
    X("sharpness.tol", EOS_KEY_DOUBLE, OFF(sharpness.tol), SZ(sharpness.tol), NULL, 0, NOMAX,     \
      XMIN, "relative eigenvalue tolerance (> 0)")                                                 \
    X("sharpness.max_iter", EOS_KEY_INT, OFF(sharpness.max_iter), SZ(sharpness.max_iter), NULL, 1, \
      100000, 0, "Lanczos iteration cap (1..100000)")                                              \
    X("sharpness.n", EOS_KEY_INT, OFF(sharpness.n), SZ(sharpness.n), NULL, 0, INT_MAX, 0,          \
      "sharpness on the first n training examples, 0 = all (>= 0)")                                \
    X("sharpness.chunk", EOS_KEY_INT, OFF(sharpness.chunk), SZ(sharpness.chunk), NULL, 1, INT_MAX, \
      0, "examples per Hessian-vector-product chunk (>= 1)")                                       \
    X("sharpness.precond", EOS_KEY_BOOL, OFF(sharpness.precond), SZ(sharpness.precond), NULL, 0,  \
      1, 0, "preconditioned sharpness for adaptive optimizers")                                    \
    X("sharpness.trace_probes", EOS_KEY_INT, OFF(sharpness.trace_probes),                          \
      SZ(sharpness.trace_probes), NULL, 0, 100000, 0, "Hutchinson trace probes, 0 = off")          \
    X("sharpness.batch_sharpness", EOS_KEY_BOOL, OFF(sharpness.batch_sharpness),                   \
      SZ(sharpness.batch_sharpness), NULL, 0, 1, 0, "measure batch sharpness")                     \
    X("sharpness.batch_tol", EOS_KEY_DOUBLE, OFF(sharpness.batch_tol), SZ(sharpness.batch_tol),    \
      NULL, 0, NOMAX, XMIN, "relative standard error target of batch sharpness (> 0)")             \
    X("sharpness.directional", EOS_KEY_BOOL, OFF(sharpness.directional),                           \
      SZ(sharpness.directional), NULL, 0, 1, 0, "directional sharpness of the update")          \
    X("sharpness.trace_method", EOS_KEY_ENUM, OFF(sharpness.trace_method),                         \
      SZ(sharpness.trace_method), trace_method_name, 0, 0, 0,                                      \
      "hutchinson, or hutchpp: Hutch++ with the same products instead (trace_hutchpp)")              \
    X("sharpness.density_probes", EOS_KEY_INT, OFF(sharpness.density_probes),                      \
      SZ(sharpness.density_probes), NULL, 0, 100, 0, "spectral density start vectors, 0 = off")  \
    X("sharpness.density_steps", EOS_KEY_INT, OFF(sharpness.density_steps),                        \
      SZ(sharpness.density_steps), NULL, 1, EOS_DENSITY_MAX_STEPS, 0,                              \
      "Lanczos steps (quadrature nodes) per density start vector (1..100)")                        \
    X("sharpness.gauss_newton", EOS_KEY_BOOL, OFF(sharpness.gauss_newton),                         \
      SZ(sharpness.gauss_newton), NULL, 0, 1, 0,                                                   \
      "top-k eigenvalues of the Gauss-Newton matrix J' H_loss J")                                  \
    X("sharpness.k_min", EOS_KEY_INT, OFF(sharpness.k_min), SZ(sharpness.k_min), NULL, 0,          \
      EOS_K_MIN_MAX, 0, "smallest (most negative) Hessian eigenvalues, 0 = off (0..32)")         \
    X("sharpness.per_layer", EOS_KEY_BOOL, OFF(sharpness.per_layer), SZ(sharpness.per_layer),     \
      NULL, 0, 1, 0, "top eigenvalue of each layer's diagonal block of the Hessian")              \
    X("sharpness.overlap", EOS_KEY_BOOL, OFF(sharpness.overlap), SZ(sharpness.overlap), NULL, 0,  \
      1, 0, "cosines of the gradient with the top-k eigenvectors, update along the top one")     \
    X("sharpness.batch_hessian", EOS_KEY_BOOL, OFF(sharpness.batch_hessian),                       \
      SZ(sharpness.batch_hessian), NULL, 0, 1, 0,                                                  \
      "mean top eigenvalue of minibatch Hessians (minibatch runs)")                              \
    X("sharpness.batch_momentum", EOS_KEY_BOOL, OFF(sharpness.batch_momentum),                     \
      SZ(sharpness.batch_momentum), NULL, 0, 1, 0,                                                 \
      "batch sharpness along the momentum step mu v + g_B (minibatch momentum runs)")            \
    X("sharpness.cache_mb", EOS_KEY_INT, OFF(sharpness.cache_mb), SZ(sharpness.cache_mb), NULL, 0, \
      1 << 20, 0, "MiB of the linearisation kept between the HVPs at one point, 0 = recompute")  \
    X("sharpness.solver", EOS_KEY_ENUM, OFF(sharpness.solver), SZ(sharpness.solver), solver_name, \
      0, 0, 0, "eigensolver of the top-k solves: lanczos, or lobpcg (block warm start)")          \
    X("sharpness.guard", EOS_KEY_INT, OFF(sharpness.guard), SZ(sharpness.guard), NULL, 0, 8, 0,   \
      "lobpcg: vectors beyond k in the block (0..8)")                                             \
    X("record.projections", EOS_KEY_INT, OFF(record.projections), SZ(record.projections), NULL, 0, \
      EOS_PROJ_MAX, 0, "random directions the iterate is projected on at every record, 0 = off")

#define AS_KEY(p, t, o, s, e, mn, mx, fl, h) {p, t, o, s, e, mn, mx, fl, h},

const eos_key eos_config_keys[] = {EOS_KEY_LIST(AS_KEY){NULL, 0, 0, 0, NULL, 0, 0, 0, NULL}};

#define MAX_SLOTS 100000000L /* trajectory slots per run (memory and file size bound) */

void eos_config_default(eos_config *cfg)
{
    memset(cfg, 0, sizeof *cfg); /* zero padding too, so configs compare with memcmp */
    strcpy(cfg->name, "eosweep");
    cfg->seed = 0;
    eos_data_cfg *d = &cfg->data;
    d->source = 0; /* the first row of each table is the default (fashion-mnist, mlp) */
    d->n_train = 1000;
    d->n_test = 0;
    d->standardize = 1;
    d->center = 1;
    d->normalize_per = EOS_NORM_FEATURE;
    d->dim = 10;
    d->n_out = 1;
    d->teacher_hidden = 20;
    d->noise = 0.0;
    d->margin = 0.5;
    d->label_noise = 0.0;
    d->n_context = 20;
    d->online = 0;
    d->sigma_decay = 1.0;
    strcpy(d->x, "X");
    strcpy(d->y, "y");
    eos_model_cfg *m = &cfg->model;
    m->arch = 0;
    m->n_hidden = 2;
    m->hidden[0] = 200;
    m->hidden[1] = 200;
    m->activation = EOS_ACT_TANH;
    m->bias = 1;
    m->init = EOS_INIT_PYTORCH;
    m->init_scale = 1.0;
    m->layers = 1;
    m->sparse = 0;
    m->n_channels = 2;
    m->channels[0] = 32;
    m->channels[1] = 32;
    m->kernel = 3;
    m->pool = EOS_POOL_MAX;
    m->gemm_tiles = EOS_GEMM_TILES_DEFAULT;
    cfg->loss = EOS_LOSS_MSE;
    eos_train_cfg *t = &cfg->train;
    t->optimizer = eos_optim_find("gd");
    t->lr = 0.04;
    t->batch_size = 0;
    t->max_steps = 1000;
    t->loss_goal = 0.0;
    t->acc_goal = 0.0;
    t->diverge_loss = 1e6;
    t->record_every = 10;
    t->momentum = 0.9;
    t->beta1 = 0.9;
    t->beta2 = 0.999;
    t->eps = 1e-8;
    t->weight_decay = 0.0;
    t->sam_rho = 0.05;
    t->p = 3.0;
    t->clip = 1.0;
    t->schedule = 0; /* constant */
    t->warmup_steps = 0;
    t->warmup_init = 0.0;
    t->lr_min = 0.0;
    t->step_every = 0;
    t->step_gamma = 0.1;
    t->flow_alpha = 1.0;
    eos_sharp_cfg *s = &cfg->sharpness;
    s->every = 50;
    s->k = 2;
    s->tol = 1e-3;
    s->max_iter = 100;
    s->n = 0;
    s->chunk = 1000;
    s->precond = 1;
    s->trace_probes = 0;
    s->batch_sharpness = 0;
    s->batch_tol = 0.05;
    s->directional = 0;
    s->trace_method = EOS_TRACE_HUTCHINSON;
    s->density_probes = 0;
    s->density_steps = 30;
    s->gauss_newton = 0;
    s->k_min = 0;
    s->per_layer = 0;
    s->overlap = 0;
    s->batch_hessian = 0;
    s->batch_momentum = 0;
    s->cache_mb = 256;
    s->solver = EOS_SOLVER_LANCZOS;
    s->guard = 2;
    cfg->record.projections = 0;
}

const eos_key *eos_config_key_find(const char *path)
{
    for (const eos_key *k = eos_config_keys; k->path; k++)
        if (strcmp(k->path, path) == 0) return k;
    return NULL;
}

const char *eos_activation_name(eos_activation a)
{
    return (unsigned)a < sizeof activation_names / sizeof *activation_names - 1
               ? activation_names[a]
               : "?";
}

/* ---- parsing of scalar text ---- */

/* Copy s without surrounding blanks into buf; returns 0 if it did not fit. */
static int trim_copy(char *buf, size_t len, const char *s)
{
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        n--;
    if (n >= len) return 0;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return 1;
}

/* A finite double from the whole string. */
static int parse_double(const char *s, double *out)
{
    if (!*s) return 0;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*end != '\0' || end == s || !isfinite(v)) return 0;
    *out = v;
    return 1;
}

/* An integer from the whole string; exponent forms such as 1e4 are accepted when exact. */
static int parse_integer(const char *s, long long *out)
{
    if (!*s) return 0;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end == '\0' && end != s && errno == 0) {
        *out = v;
        return 1;
    }
    double d;
    if (!parse_double(s, &d) || d != floor(d) || fabs(d) > 9.0e15) return 0;
    *out = (long long)d;
    return 1;
}

static int parse_bool(const char *s, int *out)
{
    static const char *const t[] = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON",
                                    "1", NULL};
    static const char *const f[] = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off",
                                    "OFF", "0", NULL};
    for (int i = 0; t[i]; i++)
        if (strcmp(s, t[i]) == 0) return *out = 1, 1;
    for (int i = 0; f[i]; i++)
        if (strcmp(s, f[i]) == 0) return *out = 0, 1;
    return 0;
}

/* "must be > 0", "must be in [0, 1)" from the key's range. */
static void range_text(const eos_key *k, char *buf, size_t len)
{
    unsigned fl = k->flags;
    if (k->max == NOMAX)
        snprintf(buf, len, "must be %s %.17g", (fl & XMIN) ? ">" : ">=", k->min);
    else
        snprintf(buf, len, "must be in %c%.17g, %.17g%c", (fl & XMIN) ? '(' : '[', k->min, k->max,
                 (fl & XMAX) ? ')' : ']');
}

static int in_range(const eos_key *k, double v)
{
    unsigned fl = k->flags;
    if ((fl & XMIN) ? !(v > k->min) : !(v >= k->min)) return 0;
    if (k->max != NOMAX && ((fl & XMAX) ? !(v < k->max) : !(v <= k->max))) return 0;
    return 1;
}

#define RANGE_FAIL(k, shown)                                                                       \
    do {                                                                                           \
        char rt_[128];                                                                             \
        range_text((k), rt_, sizeof rt_);                                                          \
        EOS_FAIL(EOS_ERR_CONFIG, "%s: %s, got %s", (k)->path, rt_, (shown));                      \
    } while (0)

static int set_enum(const eos_key *k, void *field, const char *s)
{
    int rc = 0;
    for (int i = 0; k->enum_name(i); i++)
        if (strcmp(k->enum_name(i), s) == 0) {
            *(int *)field = i;
            return 0;
        }
    for (size_t i = 0; i < sizeof enum_aliases / sizeof *enum_aliases; i++)
        if (strcmp(enum_aliases[i].path, k->path) == 0 && strcmp(enum_aliases[i].alias, s) == 0) {
            *(int *)field = enum_aliases[i].value;
            return 0;
        }
    char list[512];
    size_t pos = 0;
    list[0] = '\0';
    for (int i = 0; k->enum_name(i) && pos < sizeof list; i++)
        pos += (size_t)snprintf(list + pos, sizeof list - pos, "%s%s", i ? ", " : "",
                                k->enum_name(i));
    EOS_FAIL(EOS_ERR_CONFIG, "%s: unknown value '%s' (expected one of: %s)", k->path, s, list);
fail:
    return rc;
}

/* "[200, 200]", "[]", "200, 200" or "200". */
static int set_int_list(const eos_key *k, void *field, const char *s)
{
    int rc = 0;
    int cap = (int)(k->size / sizeof(int));
    int vals[EOS_MAX_HIDDEN];
    int n = 0;
    char tmp[256];
    const char *p = s;
    size_t len = strlen(s);
    if (len >= sizeof tmp) goto bad;
    if (len > 0 && s[0] == '[') {
        if (s[len - 1] != ']') goto bad;
        memcpy(tmp, s + 1, len - 2);
        tmp[len - 2] = '\0';
    } else {
        if (len == 0) goto bad;
        memcpy(tmp, s, len + 1);
    }
    p = tmp;
    while (*p == ' ') p++;
    if (*p != '\0') {
        for (;;) {
            char item[64];
            const char *c = strchr(p, ',');
            size_t il = c ? (size_t)(c - p) : strlen(p);
            if (il >= sizeof item) goto bad;
            memcpy(item, p, il);
            item[il] = '\0';
            char t[64];
            long long v;
            if (!trim_copy(t, sizeof t, item) || !parse_integer(t, &v)) goto bad;
            if (n >= cap)
                EOS_FAIL(EOS_ERR_CONFIG, "%s: at most %d entries, got '%s'", k->path, cap, s);
            if (!in_range(k, (double)v)) {
                char rt[128];
                range_text(k, rt, sizeof rt);
                EOS_FAIL(EOS_ERR_CONFIG, "%s: each entry %s, got %s", k->path, rt, s);
            }
            vals[n++] = (int)v;
            if (!c) break;
            p = c + 1;
        }
    }
    int *count = (int *)field;
    memset(count + 1, 0, (size_t)cap * sizeof(int)); /* unused widths stay 0 for memcmp */
    *count = n;
    memcpy(count + 1, vals, (size_t)n * sizeof(int));
    return 0;
bad:
    EOS_FAIL(EOS_ERR_CONFIG, "%s: expected a list of integers like [200, 200], got '%s'", k->path,
             s);
fail:
    return rc;
}

static int key_set(eos_config *cfg, const eos_key *k, const char *value)
{
    int rc = 0;
    void *field = (char *)cfg + k->offset;
    char s[256];
    if (k->type == EOS_KEY_STRING) {
        size_t n = strlen(value);
        if (n >= k->size)
            EOS_FAIL(EOS_ERR_CONFIG, "%s: too long (%zu characters, at most %zu)", k->path, n,
                     k->size - 1);
        memset(field, 0, k->size);
        memcpy(field, value, n);
        return 0;
    }
    if (!trim_copy(s, sizeof s, value))
        EOS_FAIL(EOS_ERR_CONFIG, "%s: value too long: '%.40s...'", k->path, value);
    switch (k->type) {
    case EOS_KEY_INT:
    case EOS_KEY_LONG: {
        long long v;
        if (!parse_integer(s, &v))
            EOS_FAIL(EOS_ERR_CONFIG, "%s: expected an integer, got '%s'", k->path, s);
        if (!in_range(k, (double)v)) RANGE_FAIL(k, s);
        if (k->type == EOS_KEY_INT)
            *(int *)field = (int)v;
        else
            *(long *)field = (long)v;
        break;
    }
    case EOS_KEY_U64: {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (!*s || *end || s[0] == '-' || errno)
            EOS_FAIL(EOS_ERR_CONFIG, "%s: expected an integer in [0, 2^64), got '%s'", k->path, s);
        *(uint64_t *)field = (uint64_t)v;
        break;
    }
    case EOS_KEY_DOUBLE: {
        double v;
        if (!parse_double(s, &v))
            EOS_FAIL(EOS_ERR_CONFIG, "%s: expected a number, got '%s'", k->path, s);
        if (!in_range(k, v)) RANGE_FAIL(k, s);
        *(double *)field = v;
        break;
    }
    case EOS_KEY_BOOL: {
        int v;
        if (!parse_bool(s, &v))
            EOS_FAIL(EOS_ERR_CONFIG, "%s: expected true or false, got '%s'", k->path, s);
        *(int *)field = v;
        break;
    }
    case EOS_KEY_ENUM: EOS_TRY(set_enum(k, field, s)); break;
    case EOS_KEY_INT_LIST: EOS_TRY(set_int_list(k, field, s)); break;
    case EOS_KEY_BATCH: {
        long long v;
        if (strcmp(s, "full") == 0) {
            *(int *)field = 0;
            break;
        }
        if (!parse_integer(s, &v))
            EOS_FAIL(EOS_ERR_CONFIG, "%s: expected an integer >= 1 or 'full', got '%s'", k->path,
                     s);
        if (!in_range(k, (double)v)) RANGE_FAIL(k, s);
        *(int *)field = (int)v;
        break;
    }
    default: EOS_FAIL(EOS_ERR_INTERNAL, "%s: bad key type %d", k->path, (int)k->type);
    }
    return 0;
fail:
    return rc;
}

int eos_config_set(eos_config *cfg, const char *path, const char *value)
{
    int rc = 0;
    const eos_key *k = eos_config_key_find(path);
    EOS_CHECK(k, EOS_ERR_CONFIG, "%s: unknown key", path);
    EOS_TRY(key_set(cfg, k, value));
fail:
    return rc;
}

/* Shortest of %.15g..%.17g that reads back to the same double, so values round-trip bitwise
 * and 0.04 prints as 0.04 rather than 0.040000000000000001. */
static void format_double(char *buf, size_t len, double v)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
}

int eos_config_get(const eos_config *cfg, const char *path, char *buf, size_t len)
{
    int rc = 0;
    const eos_key *k = eos_config_key_find(path);
    EOS_CHECK(k, EOS_ERR_CONFIG, "%s: unknown key", path);
    EOS_CHECK(buf && len > 0, EOS_ERR_INTERNAL, "%s: no output buffer", path);
    const void *field = (const char *)cfg + k->offset;
    char tmp[EOS_PATH_MAX + 256];
    switch (k->type) {
    case EOS_KEY_INT: snprintf(tmp, sizeof tmp, "%d", *(const int *)field); break;
    case EOS_KEY_LONG: snprintf(tmp, sizeof tmp, "%ld", *(const long *)field); break;
    case EOS_KEY_U64: snprintf(tmp, sizeof tmp, "%" PRIu64, *(const uint64_t *)field); break;
    case EOS_KEY_DOUBLE: format_double(tmp, sizeof tmp, *(const double *)field); break;
    case EOS_KEY_BOOL: snprintf(tmp, sizeof tmp, "%s", *(const int *)field ? "true" : "false"); break;
    case EOS_KEY_STRING:
        snprintf(tmp, sizeof tmp, "%.*s", (int)k->size, (const char *)field);
        break;
    case EOS_KEY_ENUM: {
        int v = *(const int *)field, n = 0;
        while (k->enum_name(n)) n++;
        EOS_CHECK(v >= 0 && v < n, EOS_ERR_CONFIG, "%s: invalid enum value %d", k->path, v);
        snprintf(tmp, sizeof tmp, "%s", k->enum_name(v));
        break;
    }
    case EOS_KEY_INT_LIST: {
        const int *count = (const int *)field;
        int cap = (int)(k->size / sizeof(int));
        EOS_CHECK(*count >= 0 && *count <= cap, EOS_ERR_CONFIG, "%s: invalid length %d", k->path,
                  *count);
        size_t pos = (size_t)snprintf(tmp, sizeof tmp, "[");
        for (int i = 0; i < *count; i++)
            pos += (size_t)snprintf(tmp + pos, sizeof tmp - pos, "%s%d", i ? ", " : "",
                                    count[1 + i]);
        snprintf(tmp + pos, sizeof tmp - pos, "]");
        break;
    }
    case EOS_KEY_BATCH: {
        int v = *(const int *)field;
        if (v == 0)
            snprintf(tmp, sizeof tmp, "full");
        else
            snprintf(tmp, sizeof tmp, "%d", v);
        break;
    }
    default: EOS_FAIL(EOS_ERR_INTERNAL, "%s: bad key type %d", k->path, (int)k->type);
    }
    EOS_CHECK(strlen(tmp) < len, EOS_ERR_INTERNAL, "%s: output buffer too small (%zu bytes)",
              k->path, len);
    strcpy(buf, tmp);
fail:
    return rc;
}

/* ---- validation ---- */

/* Every key on its own (catches structs filled in by code rather than by set). */
static int validate_each_key(const eos_config *cfg, const char **at)
{
    int rc = 0;
    char buf[EOS_PATH_MAX + 256];
    for (const eos_key *k = eos_config_keys; k->path; k++) {
        *at = k->path;
        const void *field = (const char *)cfg + k->offset;
        double v;
        switch (k->type) {
        case EOS_KEY_INT: v = *(const int *)field; break;
        case EOS_KEY_LONG: v = (double)*(const long *)field; break;
        case EOS_KEY_DOUBLE: v = *(const double *)field; break;
        case EOS_KEY_BATCH:
            v = *(const int *)field;
            if (v == 0) continue;
            break;
        case EOS_KEY_STRING:
            EOS_CHECK(memchr(field, '\0', k->size), EOS_ERR_CONFIG, "%s: not NUL-terminated",
                      k->path);
            continue;
        case EOS_KEY_BOOL:
            EOS_CHECK(*(const int *)field == 0 || *(const int *)field == 1, EOS_ERR_CONFIG,
                      "%s: must be 0 or 1, got %d", k->path, *(const int *)field);
            continue;
        default:
            EOS_TRY(eos_config_get(cfg, k->path, buf, sizeof buf)); /* checks enum/list bounds */
            if (k->type == EOS_KEY_INT_LIST) {
                const int *c = (const int *)field;
                for (int i = 0; i < c[0]; i++)
                    if (!in_range(k, c[1 + i])) {
                        char rt[128];
                        range_text(k, rt, sizeof rt);
                        EOS_FAIL(EOS_ERR_CONFIG, "%s: each entry %s, got %s", k->path, rt, buf);
                    }
            }
            continue;
        }
        if (!isfinite(v) || !in_range(k, v)) {
            EOS_TRY(eos_config_get(cfg, k->path, buf, sizeof buf));
            RANGE_FAIL(k, buf);
        }
    }

fail:
    return rc;
}

/* The data source checks its own keys and says what it knows of the data before loading (into
 * info); the architecture then checks that it accepts those data, and the measures that depend
 * on the model's size or operations fit it. */
static int validate_data_model(const eos_config *cfg, eos_data_info *info, const char **at,
                               const char **with)
{
    int rc = 0;
    const eos_data_cfg *d = &cfg->data;
    const eos_sharp_cfg *s = &cfg->sharpness;
    *at = "data.source";
    *with = "data.source"; /* the source decides which data keys it needs */
    EOS_TRY(eos_data_check(cfg, info, at));
    *at = "data.normalize_per";
    if (d->normalize_per == EOS_NORM_CHANNEL && (d->center || d->standardize) &&
        info->shape.layout != EOS_LAYOUT_UNKNOWN && info->shape.layout != EOS_LAYOUT_IMAGE)
        EOS_FAIL(EOS_ERR_CONFIG, "data.normalize_per: channel needs image data, but data.source "
                 "%s gives none", eos_data_source_name(d->source));
    *at = "loss";
    if (cfg->loss != EOS_LOSS_MSE && info->regression)
        EOS_FAIL(EOS_ERR_CONFIG,
                 "loss: %s needs classification data, but data.source %s is a regression task",
                 loss_name(cfg->loss), eos_data_source_name(d->source));
    *at = "model.arch";
    EOS_TRY(eos_model_validate(&cfg->model, cfg->loss, &info->shape, info->n_out, at));
    /* Lanczos finds at most as many eigenvalues as the model has parameters (known here unless
     * only the data files tell the input shape: then the run refuses it when it starts). */
    *at = "sharpness.k";
    *with = "model.arch";
    if (s->every > 0 && eos_shape_size(&info->shape) > 0 && info->n_out > 0) {
        size_t np = 0;
        EOS_TRY(eos_model_count_params(&cfg->model, cfg->loss, &info->shape, info->n_out, &np));
        if ((size_t)s->k > np)
            EOS_FAIL(EOS_ERR_CONFIG,
                     "sharpness.k: %d eigenvalues requested, but the model has only %zu parameters",
                     s->k, np);
        *at = "sharpness.k_min";
        if ((size_t)s->k_min > np)
            EOS_FAIL(EOS_ERR_CONFIG,
                     "sharpness.k_min: %d eigenvalues requested, but the model has only %zu "
                     "parameters",
                     s->k_min, np);
    }
    /* The Gauss-Newton probe needs the architecture's Gauss-Newton product (optional in the
     * model interface). */
    *at = "sharpness.gauss_newton";
    if (s->every > 0 && s->gauss_newton && !eos_model_has_gnvp(&cfg->model))
        EOS_FAIL(EOS_ERR_CONFIG,
                 "sharpness.gauss_newton: model.arch %s has no Gauss-Newton product",
                 eos_model_arch_name(cfg->model.arch));
    *at = "sharpness.per_layer";
    if (s->every > 0 && s->per_layer && eos_model_groups(&cfg->model, NULL, NULL, 0) == 0)
        EOS_FAIL(EOS_ERR_CONFIG, "sharpness.per_layer: model.arch %s defines no layers",
                 eos_model_arch_name(cfg->model.arch));
    *at = "sharpness.batch_momentum";
    if (s->every > 0 && s->batch_momentum && !eos_optim_has_velocity(cfg->train.optimizer))
        EOS_FAIL(EOS_ERR_CONFIG,
                 "sharpness.batch_momentum: optimizer %s has no heavy-ball velocity (momentum has)",
                 eos_optim_name(cfg->train.optimizer));

fail:
    return rc;
}

/* Constraints between keys of the train and sharpness sections, and of the data's size. */
static int validate_across_keys(const eos_config *cfg, const eos_data_info *info, const char **at,
                                const char **with)
{
    int rc = 0;
    const eos_train_cfg *t = &cfg->train;
    const eos_sharp_cfg *s = &cfg->sharpness;
    /* The optimizer's own constraints (e.g. gd is full-batch only). */
    *at = "train.optimizer";
    *with = "train.optimizer";
    EOS_TRY(eos_optim_check(t, at));
    /* The learning-rate schedule's keys among themselves and with lr and max_steps. */
    *at = "train.schedule";
    EOS_TRY(eos_optim_schedule_check(t, at, with));
    /* Batches and the sharpness set fit in the training set. */
    long n_eff = info->n_train; /* -1: only the files tell */
    *at = "train.batch_size";
    *with = "data.n_train";
    if (n_eff > 0 && t->batch_size > n_eff)
        EOS_FAIL(EOS_ERR_CONFIG,
                 "train.batch_size: %d is larger than the training set (data.n_train = %ld)",
                 t->batch_size, n_eff);
    *at = "sharpness.n";
    if (n_eff > 0 && s->n > n_eff)
        EOS_FAIL(EOS_ERR_CONFIG,
                 "sharpness.n: %d is larger than the training set (data.n_train = %ld)", s->n,
                 n_eff);

    /* Sharpness: Lanczos needs at least k iterations. */
    *at = "sharpness.k";
    *with = "sharpness.max_iter";
    if (s->every > 0 && s->k > s->max_iter)
        EOS_FAIL(EOS_ERR_CONFIG, "sharpness.k: %d eigenvalues need sharpness.max_iter >= %d, got %d",
                 s->k, s->k, s->max_iter);
    *at = "sharpness.k_min";
    if (s->every > 0 && s->k_min > s->max_iter)
        EOS_FAIL(EOS_ERR_CONFIG,
                 "sharpness.k_min: %d eigenvalues need sharpness.max_iter >= %d, got %d", s->k_min,
                 s->k_min, s->max_iter);

    /* Hutch++ keeps trace_probes / 3 parameter vectors. */
    *at = "sharpness.trace_probes";
    *with = "sharpness.trace_method";
    if (s->trace_method == EOS_TRACE_HUTCHPP && s->trace_probes > EOS_HUTCHPP_MAX_PROBES)
        EOS_FAIL(EOS_ERR_CONFIG,
                 "sharpness.trace_probes: %d with trace_method hutchpp, at most %d (its scratch "
                 "holds trace_probes / 3 parameter vectors)",
                 s->trace_probes, EOS_HUTCHPP_MAX_PROBES);

    /* Gradient flow sizes its sub-steps by the latest measured sharpness (step 0's measurement
     * precedes the first update). */
    *at = "sharpness.every";
    *with = "train.optimizer";
    if (s->every == 0 && eos_optim_needs_sharpness(t->optimizer))
        EOS_FAIL(EOS_ERR_CONFIG,
                 "sharpness.every: train.optimizer %s sizes its steps by the measured sharpness, "
                 "so sharpness.every must be > 0",
                 eos_optim_name(t->optimizer));

    /* A schedule's lr in force is recorded at record steps (/traj/lr, /traj/threshold), where
     * analysis takes each measurement's threshold from. */
    *at = "sharpness.every";
    *with = "train.schedule";
    if (s->every > 0 && !eos_optim_schedule_is_constant(t) && s->every % t->record_every != 0)
        EOS_FAIL(EOS_ERR_CONFIG,
                 "sharpness.every: %d is not a multiple of train.record_every = %d, which a "
                 "learning-rate schedule or warm-up needs (the lr in force is recorded at record "
                 "steps)",
                 s->every, t->record_every);

    /* Slot counts must fit the result arrays. */
    *at = "train.record_every";
    *with = "train.max_steps";
    if (t->max_steps / t->record_every + 1 > MAX_SLOTS)
        EOS_FAIL(EOS_ERR_CONFIG,
                 "train.record_every: train.max_steps / record_every = %ld trajectory slots "
                 "(at most %ld)",
                 t->max_steps / t->record_every, MAX_SLOTS);
    *at = "sharpness.every";
    *with = "train.max_steps";
    if (s->every > 0 && t->max_steps / s->every + 1 > MAX_SLOTS)
        EOS_FAIL(EOS_ERR_CONFIG,
                 "sharpness.every: train.max_steps / every = %ld sharpness slots (at most %ld)",
                 t->max_steps / s->every, MAX_SLOTS);
fail:
    return rc;
}

int eos_config_validate(const eos_config *cfg, const char **key, const char **other)
{
    const char *at = NULL, *with = NULL; /* the offending key and the other one involved */
    eos_data_info info;
    int rc = validate_each_key(cfg, &at);
    if (!rc) rc = validate_data_model(cfg, &info, &at, &with);
    if (!rc) rc = validate_across_keys(cfg, &info, &at, &with);
    if (key) *key = rc ? at : NULL;
    if (other) *other = rc && with && strcmp(with, at) != 0 ? with : NULL;
    return rc;
}

/* ---- YAML output ---- */

static int appendf(char *buf, size_t len, size_t *pos, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int appendf(char *buf, size_t len, size_t *pos, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *pos, *pos < len ? len - *pos : 0, fmt, ap);
    va_end(ap);
    if (n < 0 || *pos + (size_t)n >= len) return -1;
    *pos += (size_t)n;
    return 0;
}

/* Double-quoted YAML scalar: any bytes survive (control characters as \xNN). */
static int append_quoted(char *buf, size_t len, size_t *pos, const char *s)
{
    if (appendf(buf, len, pos, "\"")) return -1;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int r;
        if (*p == '"' || *p == '\\')
            r = appendf(buf, len, pos, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            r = appendf(buf, len, pos, "\\x%02x", *p);
        else
            r = appendf(buf, len, pos, "%c", *p);
        if (r) return -1;
    }
    return appendf(buf, len, pos, "\"");
}

static int append_key(const eos_config *cfg, const eos_key *k, const char *name, int indent,
                      char *buf, size_t len, size_t *pos)
{
    char val[EOS_PATH_MAX + 256];
    int rc = eos_config_get(cfg, k->path, val, sizeof val);
    if (rc) return rc;
    /* 1 = did not fit (statuses are negative) */
    if (appendf(buf, len, pos, "%*s%s: ", indent, "", name)) return 1;
    if (k->type == EOS_KEY_STRING ? append_quoted(buf, len, pos, val)
                                  : appendf(buf, len, pos, "%s", val))
        return 1;
    return appendf(buf, len, pos, "\n") ? 1 : 0;
}

int eos_config_to_yaml(const eos_config *cfg, char *buf, size_t len)
{
    int rc = 0;
    size_t pos = 0;
    EOS_CHECK(buf && len > 0, EOS_ERR_INTERNAL, "eos_config_to_yaml: no output buffer");
    buf[0] = '\0';
    if (appendf(buf, len, &pos, "# resolved eosweep %s configuration\n", EOS_VERSION)) goto small;
    /* Top-level scalars first, then each section in table order. */
    for (const eos_key *k = eos_config_keys; k->path; k++) {
        if (strchr(k->path, '.')) continue;
        rc = append_key(cfg, k, k->path, 0, buf, len, &pos);
        if (rc == 1) goto small;
        if (rc) goto fail;
    }
    for (const eos_key *k = eos_config_keys; k->path; k++) {
        const char *dot = strchr(k->path, '.');
        if (!dot) continue;
        size_t sl = (size_t)(dot - k->path);
        /* A section starts where the previous key had another prefix. */
        int first = 1;
        for (const eos_key *q = eos_config_keys; q < k; q++)
            if (strncmp(q->path, k->path, sl + 1) == 0) first = 0;
        if (first && appendf(buf, len, &pos, "%.*s:\n", (int)sl, k->path)) goto small;
        rc = append_key(cfg, k, dot + 1, 2, buf, len, &pos);
        if (rc == 1) goto small;
        if (rc) goto fail;
    }
    return (int)pos;
small:
    EOS_FAIL(EOS_ERR_INTERNAL, "eos_config_to_yaml: output buffer of %zu bytes is too small", len);
fail:
    return rc;
}
