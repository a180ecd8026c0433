/* test_config.c: defaults, the key table, set/get, range and cross-field checks, YAML output.
 * Expected values come from the specification (docs/sweep-format.md), not from the code. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "eos_common.h"
#include "eos_config.h"
#include "eos_data.h"
#include "eos_model.h"
#include "eos_optim.h"
#include "eos_test.h"

static int starts(const char *s, const char *prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

#define EXPECT_ERR(call, msg)                                                                      \
    do {                                                                                           \
        eos_error_clear();                                                                         \
        int rc_ = (call);                                                                          \
        EXPECT(rc_ == EOS_ERR_CONFIG, "rc %d for %s", rc_, #call);                                 \
        EXPECT(strcmp(eos_error_msg(), (msg)) == 0, "got \"%s\"\n       want \"%s\"",             \
               eos_error_msg(), (msg));                                                            \
    } while (0)
#define EXPECT_ERR_PREFIX(call, prefix)                                                            \
    do {                                                                                           \
        eos_error_clear();                                                                         \
        int rc_ = (call);                                                                          \
        EXPECT(rc_ == EOS_ERR_CONFIG, "rc %d for %s", rc_, #call);                                 \
        EXPECT(starts(eos_error_msg(), (prefix)), "got \"%s\"\n       want prefix \"%s\"",        \
               eos_error_msg(), (prefix));                                                         \
    } while (0)

static void test_defaults(void)
{
    eos_config c;
    eos_config_default(&c);
    EXPECT(strcmp(c.name, "eosweep") == 0, "%s", c.name);
    EXPECT(c.seed == 0, " ");
    EXPECT(strcmp(eos_data_source_name(c.data.source), "fashion-mnist") == 0 && c.data.n_train == 1000 && c.data.n_test == 0,
           " ");
    EXPECT(c.data.standardize == 1 && c.data.center == 1 && c.data.dim == 10 && c.data.n_out == 1,
           " ");
    EXPECT(c.data.teacher_hidden == 20 && c.data.noise == 0 && c.data.n_context == 20 &&
               c.data.online == 0 && c.data.sigma_decay == 1,
           " ");
    EXPECT(strcmp(c.data.x, "X") == 0 && strcmp(c.data.y, "y") == 0 && c.data.path[0] == 0, " ");
    EXPECT(strcmp(eos_model_arch_name(c.model.arch), "mlp") == 0 && c.model.n_hidden == 2 && c.model.hidden[0] == 200 &&
               c.model.hidden[1] == 200 && c.model.hidden[2] == 0,
           " ");
    EXPECT(c.model.activation == EOS_ACT_TANH && c.model.bias == 1 &&
               c.model.init == EOS_INIT_PYTORCH && c.model.init_scale == 1 &&
               c.model.layers == 1 && c.model.sparse == 0,
           " ");
    EXPECT(c.loss == EOS_LOSS_MSE, " ");
    EXPECT(c.train.optimizer == eos_optim_find("gd") && c.train.lr == 0.04 &&
               c.train.batch_size == 0 && c.train.max_steps == 1000 && c.train.loss_goal == 0 &&
               c.train.acc_goal == 0,
           " ");
    EXPECT(c.train.diverge_loss == 1e6 && c.train.record_every == 10 && c.train.momentum == 0.9 &&
               c.train.beta1 == 0.9 && c.train.beta2 == 0.999 && c.train.eps == 1e-8,
           " ");
    EXPECT(c.train.weight_decay == 0 && c.train.sam_rho == 0.05 && c.train.p == 3 &&
               c.train.clip == 1,
           " ");
    EXPECT(c.sharpness.every == 50 && c.sharpness.k == 2 && c.sharpness.tol == 1e-3 &&
               c.sharpness.max_iter == 100 && c.sharpness.n == 0 && c.sharpness.chunk == 1000,
           " ");
    EXPECT(c.sharpness.precond == 1 && c.sharpness.trace_probes == 0 &&
               c.sharpness.batch_sharpness == 0 && c.sharpness.batch_tol == 0.05 &&
               c.sharpness.directional == 0,
           " ");
    EXPECT(eos_config_validate(&c, NULL, NULL) == 0, "defaults invalid: %s", eos_error_msg());
}

/* Every struct field (listed here independently of the table) has a key at its offset. */
static void test_key_table_covers_struct(void)
{
    static const size_t fields[] = {
        offsetof(eos_config, name), offsetof(eos_config, seed), offsetof(eos_config, data.source),
        offsetof(eos_config, data.path), offsetof(eos_config, data.labels),
        offsetof(eos_config, data.test_path), offsetof(eos_config, data.test_labels),
        offsetof(eos_config, data.x), offsetof(eos_config, data.y),
        offsetof(eos_config, data.n_train), offsetof(eos_config, data.n_test),
        offsetof(eos_config, data.center), offsetof(eos_config, data.standardize),
        offsetof(eos_config, data.normalize_per),
        offsetof(eos_config, data.dim), offsetof(eos_config, data.n_out),
        offsetof(eos_config, data.teacher_hidden), offsetof(eos_config, data.noise),
        offsetof(eos_config, data.margin), offsetof(eos_config, data.label_noise),
        offsetof(eos_config, data.n_context), offsetof(eos_config, data.online),
        offsetof(eos_config, data.sigma_decay), offsetof(eos_config, model.arch),
        offsetof(eos_config, model.n_hidden), offsetof(eos_config, model.activation),
        offsetof(eos_config, model.bias), offsetof(eos_config, model.init),
        offsetof(eos_config, model.init_scale), offsetof(eos_config, model.layers),
        offsetof(eos_config, model.sparse), offsetof(eos_config, model.n_channels),
        offsetof(eos_config, model.kernel), offsetof(eos_config, model.pool),
        offsetof(eos_config, model.gemm_tiles),
        offsetof(eos_config, loss),
        offsetof(eos_config, train.optimizer), offsetof(eos_config, train.lr),
        offsetof(eos_config, train.batch_size), offsetof(eos_config, train.max_steps),
        offsetof(eos_config, train.loss_goal), offsetof(eos_config, train.acc_goal),
        offsetof(eos_config, train.diverge_loss), offsetof(eos_config, train.record_every),
        offsetof(eos_config, train.momentum), offsetof(eos_config, train.beta1),
        offsetof(eos_config, train.beta2), offsetof(eos_config, train.eps),
        offsetof(eos_config, train.weight_decay), offsetof(eos_config, train.sam_rho),
        offsetof(eos_config, train.p), offsetof(eos_config, train.clip),
        offsetof(eos_config, train.schedule), offsetof(eos_config, train.warmup_steps),
        offsetof(eos_config, train.warmup_init), offsetof(eos_config, train.lr_min),
        offsetof(eos_config, train.step_every), offsetof(eos_config, train.step_gamma),
        offsetof(eos_config, train.flow_alpha),
        offsetof(eos_config, sharpness.every), offsetof(eos_config, sharpness.k),
        offsetof(eos_config, sharpness.tol), offsetof(eos_config, sharpness.max_iter),
        offsetof(eos_config, sharpness.n), offsetof(eos_config, sharpness.chunk),
        offsetof(eos_config, sharpness.precond), offsetof(eos_config, sharpness.trace_probes),
        offsetof(eos_config, sharpness.batch_sharpness),
        offsetof(eos_config, sharpness.batch_tol), offsetof(eos_config, sharpness.directional),
        offsetof(eos_config, sharpness.trace_method),
        offsetof(eos_config, sharpness.density_probes), offsetof(eos_config, sharpness.density_steps),
        offsetof(eos_config, sharpness.gauss_newton), offsetof(eos_config, sharpness.k_min),
        offsetof(eos_config, sharpness.per_layer), offsetof(eos_config, sharpness.overlap),
        offsetof(eos_config, sharpness.batch_hessian), offsetof(eos_config, sharpness.batch_momentum),
        offsetof(eos_config, sharpness.cache_mb), offsetof(eos_config, sharpness.solver),
        offsetof(eos_config, sharpness.guard), offsetof(eos_config, record.projections)};
    size_t nf = sizeof fields / sizeof *fields;
    int nkeys = 0;
    for (const eos_key *k = eos_config_keys; k->path; k++) nkeys++;
    EXPECT(nkeys == (int)nf, "%d keys for %zu fields", nkeys, nf);
    for (size_t i = 0; i < nf; i++) {
        int found = 0;
        for (const eos_key *k = eos_config_keys; k->path; k++) found += k->offset == fields[i];
        EXPECT(found == 1, "field at offset %zu has %d keys", fields[i], found);
    }
    static const char *const paths[] = {"seed", "name", "loss", "data.source", "data.path",
                                        "data.n_train", "model.hidden", "model.activation",
                                        "train.optimizer", "train.lr", "train.batch_size",
                                        "sharpness.every", "sharpness.k", NULL};
    for (int i = 0; paths[i]; i++) {
        const eos_key *k = eos_config_key_find(paths[i]);
        EXPECT(k && strcmp(k->path, paths[i]) == 0 && k->help && k->help[0], "%s", paths[i]);
    }
    EXPECT(eos_config_key_find("train.nope") == NULL, " ");
    EXPECT(eos_config_key_find("model.hidden")->type == EOS_KEY_INT_LIST, " ");
    EXPECT(eos_config_key_find("train.batch_size")->type == EOS_KEY_BATCH, " ");
}

static void test_set_get(void)
{
    eos_config c;
    char buf[600];
    eos_config_default(&c);
    EXPECT(eos_config_set(&c, "train.lr", "0.1") == 0 && c.train.lr == 0.1, " ");
    EXPECT(eos_config_set(&c, "train.lr", "1e-3") == 0 && c.train.lr == 1e-3, " ");
    EXPECT(eos_config_set(&c, "train.max_steps", "1e4") == 0 && c.train.max_steps == 10000, " ");
    EXPECT(eos_config_set(&c, "seed", "18446744073709551615") == 0 &&
               c.seed == UINT64_MAX,
           " ");
    EXPECT(eos_config_set(&c, "data.standardize", "no") == 0 && c.data.standardize == 0, " ");
    EXPECT(eos_config_set(&c, "data.standardize", "True") == 0 && c.data.standardize == 1, " ");
    EXPECT(eos_config_set(&c, "data.online", "yes") == 0 && c.data.online == 1, " ");
    EXPECT(eos_config_set(&c, "model.bias", "false") == 0 && c.model.bias == 0, " ");
    EXPECT(eos_config_set(&c, "train.batch_size", "128") == 0 && c.train.batch_size == 128, " ");
    EXPECT(eos_config_set(&c, "train.batch_size", "full") == 0 && c.train.batch_size == 0, " ");
    EXPECT(eos_config_set(&c, "loss", "cross-entropy") == 0 && c.loss == EOS_LOSS_XENT, " ");
    EXPECT(eos_config_set(&c, "loss", "xent") == 0 && c.loss == EOS_LOSS_XENT, " ");
    EXPECT(eos_config_set(&c, "loss", "logistic") == 0 && c.loss == EOS_LOSS_LOGISTIC, " ");
    EXPECT(eos_config_set(&c, "train.optimizer", "rmsprop") == 0 &&
               c.train.optimizer == eos_optim_find("rmsprop"),
           " ");
    EXPECT(eos_config_set(&c, "model.activation", "gelu") == 0 &&
               c.model.activation == EOS_ACT_GELU,
           " ");
    EXPECT(eos_config_set(&c, "data.source", "icl-regression") == 0 &&
               strcmp(eos_data_source_name(c.data.source), "icl-regression") == 0,
           " ");
    EXPECT(eos_config_set(&c, "model.hidden", "[100, 50, 25]") == 0 && c.model.n_hidden == 3 &&
               c.model.hidden[0] == 100 && c.model.hidden[1] == 50 && c.model.hidden[2] == 25,
           " ");
    EXPECT(eos_config_set(&c, "model.hidden", "[7]") == 0 && c.model.n_hidden == 1 &&
               c.model.hidden[0] == 7 && c.model.hidden[1] == 0, "unused widths must be zeroed");
    EXPECT(eos_config_set(&c, "model.hidden", "[]") == 0 && c.model.n_hidden == 0, " ");
    EXPECT(eos_config_set(&c, "model.hidden", "30,40") == 0 && c.model.n_hidden == 2, " ");
    EXPECT(eos_config_set(&c, "data.path", "/tmp/a b:c") == 0 &&
               strcmp(c.data.path, "/tmp/a b:c") == 0,
           " ");

    /* get: canonical text */
    eos_config_default(&c);
    EXPECT(eos_config_get(&c, "model.hidden", buf, sizeof buf) == 0 &&
               strcmp(buf, "[200, 200]") == 0, "%s", buf);
    EXPECT(eos_config_get(&c, "train.batch_size", buf, sizeof buf) == 0 &&
               strcmp(buf, "full") == 0, "%s", buf);
    EXPECT(eos_config_get(&c, "train.optimizer", buf, sizeof buf) == 0 && strcmp(buf, "gd") == 0,
           "%s", buf);
    EXPECT(eos_config_get(&c, "data.standardize", buf, sizeof buf) == 0 &&
               strcmp(buf, "true") == 0, "%s", buf);
    EXPECT(eos_config_get(&c, "train.max_steps", buf, sizeof buf) == 0 &&
               strcmp(buf, "1000") == 0, "%s", buf);
    /* Doubles read back bitwise. */
    const double vals[] = {0.04, 0.1 + 0.2, 1.0 / 3.0, 1e-300, 4.9406564584124654e-324, DBL_MAX,
                           123456789.123456789, 2.5};
    for (size_t i = 0; i < sizeof vals / sizeof *vals; i++) {
        c.train.lr = vals[i];
        EXPECT(eos_config_get(&c, "train.lr", buf, sizeof buf) == 0, " ");
        EXPECT(strtod(buf, NULL) == vals[i], "%s != %.17g", buf, vals[i]);
        eos_config c2 = c;
        EXPECT(eos_config_set(&c2, "train.lr", buf) == 0 && c2.train.lr == vals[i], "%s", buf);
    }
    c.train.lr = 0.04;
    EXPECT(eos_config_get(&c, "train.lr", buf, sizeof buf) == 0 && strtod(buf, NULL) == 0.04,
           "%s", buf);
    EXPECT(eos_config_get(&c, "train.lr", buf, 3) != 0, "too-small buffer must fail");
    EXPECT(eos_config_get(&c, "train.lrr", buf, sizeof buf) != 0, " ");
}

static void test_set_errors(void)
{
    eos_config c;
    eos_config_default(&c);
    EXPECT_ERR(eos_config_set(&c, "train.lr", "-0.1"), "train.lr: must be > 0, got -0.1");
    EXPECT_ERR(eos_config_set(&c, "train.lr", "0"), "train.lr: must be > 0, got 0");
    EXPECT_ERR(eos_config_set(&c, "train.lr", "fast"), "train.lr: expected a number, got 'fast'");
    EXPECT_ERR(eos_config_set(&c, "train.lr", "nan"), "train.lr: expected a number, got 'nan'");
    EXPECT(c.train.lr == 0.04, "a failed set must not change the value");
    EXPECT_ERR(eos_config_set(&c, "train.optimizer", "adamx"),
               "train.optimizer: unknown value 'adamx' (expected one of: gd, sgd, momentum, "
               "nesterov, adam, adamw, rmsprop, sam, usam, pgd, ngd, clip, flow)");
    EXPECT_ERR(eos_config_set(&c, "model.activation", "sigmoid"),
               "model.activation: unknown value 'sigmoid' (expected one of: tanh, relu, elu, "
               "softplus, gelu, identity)");
    EXPECT_ERR_PREFIX(eos_config_set(&c, "train.momentum", "1"), "train.momentum: must be in [0, 1)");
    EXPECT(eos_config_set(&c, "train.momentum", "0") == 0, " ");
    EXPECT_ERR_PREFIX(eos_config_set(&c, "train.beta2", "1.0"), "train.beta2: must be in [0, 1)");
    EXPECT_ERR(eos_config_set(&c, "train.max_steps", "0"), "train.max_steps: must be in [1, 1000000000000], got 0");
    EXPECT_ERR(eos_config_set(&c, "train.record_every", "0"),
               "train.record_every: must be in [1, 2147483647], got 0");
    EXPECT_ERR_PREFIX(eos_config_set(&c, "sharpness.k", "21"), "sharpness.k: must be in [1, 20]");
    EXPECT(eos_config_set(&c, "sharpness.k", "20") == 0, " ");
    EXPECT_ERR_PREFIX(eos_config_set(&c, "sharpness.tol", "0"), "sharpness.tol: must be > 0");
    EXPECT_ERR(eos_config_set(&c, "train.p", "1"), "train.p: must be > 1, got 1");
    EXPECT_ERR(eos_config_set(&c, "train.eps", "0"), "train.eps: must be > 0, got 0");
    EXPECT_ERR(eos_config_set(&c, "data.n_train", "-1"),
               "data.n_train: must be in [0, 2147483647], got -1");
    EXPECT_ERR(eos_config_set(&c, "train.max_steps", "1.5"),
               "train.max_steps: expected an integer, got '1.5'");
    EXPECT_ERR(eos_config_set(&c, "data.center", "maybe"),
               "data.center: expected true or false, got 'maybe'");
    EXPECT_ERR(eos_config_set(&c, "train.batch_size", "0"),
               "train.batch_size: must be in [1, 2147483647], got 0");
    EXPECT_ERR(eos_config_set(&c, "train.batch_size", "half"),
               "train.batch_size: expected an integer >= 1 or 'full', got 'half'");
    EXPECT_ERR_PREFIX(eos_config_set(&c, "model.hidden", "[200, x]"), "model.hidden: expected a list");
    EXPECT_ERR_PREFIX(eos_config_set(&c, "model.hidden", "[0]"), "model.hidden: each entry");
    EXPECT_ERR_PREFIX(eos_config_set(&c, "model.hidden",
                                     "[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]"),
                      "model.hidden: at most 16 entries");
    EXPECT_ERR_PREFIX(eos_config_set(&c, "seed", "-1"), "seed: expected an integer");
    EXPECT_ERR(eos_config_set(&c, "train.nope", "1"), "train.nope: unknown key");
    char longname[100];
    memset(longname, 'a', sizeof longname - 1);
    longname[99] = 0;
    EXPECT_ERR_PREFIX(eos_config_set(&c, "name", longname), "name: too long");
}

static void test_validate(void)
{
    eos_config c;
    eos_config_default(&c);
    /* gd is full batch; sgd may use the full batch. */
    c.train.batch_size = 128;
    EXPECT_ERR_PREFIX(eos_config_validate(&c, NULL, NULL), "train.batch_size: optimizer gd is full-batch");
    c.train.optimizer = eos_optim_find("sgd");
    EXPECT(eos_config_validate(&c, NULL, NULL) == 0, "%s", eos_error_msg());
    c.train.batch_size = 0;
    EXPECT(eos_config_validate(&c, NULL, NULL) == 0, "%s", eos_error_msg());
    /* batch larger than the data */
    c.train.batch_size = 1001;
    EXPECT_ERR(eos_config_validate(&c, NULL, NULL),
               "train.batch_size: 1001 is larger than the training set (data.n_train = 1000)");
    c.train.batch_size = 1000;
    EXPECT(eos_config_validate(&c, NULL, NULL) == 0, "%s", eos_error_msg());
    /* n_train 0 = all of Fashion-MNIST (60000) */
    c.data.n_train = 0;
    c.train.batch_size = 60000;
    EXPECT(eos_config_validate(&c, NULL, NULL) == 0, "%s", eos_error_msg());
    c.train.batch_size = 60001;
    EXPECT_ERR_PREFIX(eos_config_validate(&c, NULL, NULL), "train.batch_size: 60001 is larger");
    c.train.batch_size = 0;
    c.data.n_train = 70000;
    EXPECT_ERR_PREFIX(eos_config_validate(&c, NULL, NULL), "data.n_train: fashion-mnist has 60000");
    eos_config_default(&c);
    c.sharpness.n = 2000;
    EXPECT_ERR(eos_config_validate(&c, NULL, NULL),
               "sharpness.n: 2000 is larger than the training set (data.n_train = 1000)");
    eos_config_default(&c);
    /* The architecture decides which data it takes, from the shape the source knows. */
    EXPECT(eos_config_set(&c, "model.arch", "linear-transformer") == 0, "%s", eos_error_msg());
    EXPECT_ERR(eos_config_validate(&c, NULL, NULL), "model.arch: linear-transformer needs token-layout data "
                                        "(prompts of tokens), got image [1, 28, 28]");
    EXPECT(eos_config_set(&c, "data.source", "synthetic-linear") == 0, " ");
    EXPECT_ERR_PREFIX(eos_config_validate(&c, NULL, NULL), "model.arch: linear-transformer needs token-layout "
                                               "data (prompts of tokens), got flat [10]");
    EXPECT(eos_config_set(&c, "data.source", "hdf5") == 0 &&
               eos_config_set(&c, "data.path", "/x.h5") == 0, " ");
    EXPECT_ERR_PREFIX(eos_config_validate(&c, NULL, NULL), "model.arch: linear-transformer needs token-layout "
                                               "data (prompts of tokens), got data of a layout");
    eos_config_default(&c);
    /* an MLP reads prompts flattened */
    EXPECT(eos_config_set(&c, "data.source", "icl-regression") == 0, "%s", eos_error_msg());
    EXPECT(eos_config_validate(&c, NULL, NULL) == 0, "%s", eos_error_msg());
    EXPECT(eos_config_set(&c, "model.arch", "linear-transformer") == 0, "%s", eos_error_msg());
    EXPECT(eos_config_validate(&c, NULL, NULL) == 0, "%s", eos_error_msg());
    c.model.layers = 0;
    EXPECT_ERR_PREFIX(eos_config_validate(&c, NULL, NULL), "model.layers:");
    c.model.layers = 1;
    c.loss = EOS_LOSS_XENT;
    EXPECT_ERR_PREFIX(eos_config_validate(&c, NULL, NULL), "loss: xent needs classification data");
    c.loss = EOS_LOSS_MSE;
    c.data.online = 1;
    EXPECT(eos_config_validate(&c, NULL, NULL) == 0, "%s", eos_error_msg());
    /* fresh examples only from a source that draws them */
    eos_config_default(&c);
    c.data.online = 1;
    EXPECT_ERR(eos_config_validate(&c, NULL, NULL), "data.online: data.source fashion-mnist has a fixed set of "
                                        "examples (it cannot draw fresh ones)");
    eos_config_default(&c);
    EXPECT(eos_config_set(&c, "data.source", "synthetic-linear") == 0, "%s", eos_error_msg());
    c.loss = EOS_LOSS_XENT;
    EXPECT_ERR_PREFIX(eos_config_validate(&c, NULL, NULL), "loss: xent needs classification data");
    c.loss = EOS_LOSS_MSE;
    EXPECT(eos_config_validate(&c, NULL, NULL) == 0, "%s", eos_error_msg());
    eos_config_default(&c);
    EXPECT(eos_config_set(&c, "data.source", "hdf5") == 0, "%s", eos_error_msg());
    EXPECT_ERR(eos_config_validate(&c, NULL, NULL), "data.path: required for data.source hdf5");
    /* the sources' own keys and known sizes */
    eos_config_default(&c);
    EXPECT(eos_config_set(&c, "data.source", "cifar10") == 0, " ");
    EXPECT_ERR(eos_config_validate(&c, NULL, NULL), "data.path: required for data.source cifar10");
    strcpy(c.data.path, "/cifar");
    EXPECT(eos_config_validate(&c, NULL, NULL) == 0, "%s", eos_error_msg());
    c.data.n_train = 50001;
    EXPECT_ERR(eos_config_validate(&c, NULL, NULL), "data.n_train: cifar10 has 50000 training examples, got 50001");
    c.data.n_train = 0;
    c.train.optimizer = eos_optim_find("sgd");
    c.train.batch_size = 50000;
    EXPECT(eos_config_validate(&c, NULL, NULL) == 0, "%s", eos_error_msg());
    c.train.batch_size = 50001;
    EXPECT_ERR_PREFIX(eos_config_validate(&c, NULL, NULL), "train.batch_size: 50001 is larger than the training "
                                               "set (data.n_train = 50000)");
    c.train.batch_size = 0;
    c.data.n_test = 10001;
    EXPECT_ERR(eos_config_validate(&c, NULL, NULL), "data.n_test: cifar10 has 10000 test examples, got 10001");
    eos_config_default(&c);
    EXPECT(eos_config_set(&c, "data.source", "mnist-idx") == 0, " ");
    strcpy(c.data.path, "/img");
    EXPECT_ERR(eos_config_validate(&c, NULL, NULL), "data.labels: required for data.source mnist-idx");
    strcpy(c.data.labels, "/lab");
    EXPECT(eos_config_validate(&c, NULL, NULL) == 0, "%s", eos_error_msg());
    strcpy(c.data.test_path, "/timg");
    EXPECT_ERR_PREFIX(eos_config_validate(&c, NULL, NULL), "data.test_path: data.test_path and data.test_labels go together");
    c.data.test_path[0] = '\0';
    c.data.n_test = 5;
    EXPECT_ERR_PREFIX(eos_config_validate(&c, NULL, NULL), "data.n_test: 5 needs data.test_path");
    eos_config_default(&c);
    EXPECT(eos_config_set(&c, "data.source", "teacher-student") == 0, " ");
    c.data.n_train = 0;
    EXPECT_ERR(eos_config_validate(&c, NULL, NULL), "data.n_train: must be >= 1 for data.source teacher-student (got 0)");
    c.data.n_train = 10;
    c.data.teacher_hidden = 2000; /* the key table refuses it (the source checks it too) */
    EXPECT_ERR(eos_config_validate(&c, NULL, NULL), "data.teacher_hidden: must be in [1, 1024], got 2000");
    eos_config_default(&c);
    c.sharpness.k = 10;
    c.sharpness.max_iter = 5;
    EXPECT_ERR_PREFIX(eos_config_validate(&c, NULL, NULL), "sharpness.k:");
    /* Ranges are re-checked for structs filled in by code. */
    eos_config_default(&c);
    c.train.lr = -1;
    EXPECT_ERR(eos_config_validate(&c, NULL, NULL), "train.lr: must be > 0, got -1");
    eos_config_default(&c);
    c.train.optimizer = 99;
    EXPECT_ERR_PREFIX(eos_config_validate(&c, NULL, NULL), "train.optimizer:");
}

static void test_names(void)
{
    /* the optimizer table answers for train.optimizer: rows and names round-trip */
    int rows = 0;
    for (; rows < 1000 && eos_optim_name(rows); rows++)
        EXPECT(eos_optim_find(eos_optim_name(rows)) == rows, "%s", eos_optim_name(rows));
    EXPECT(rows >= 12 && rows < 1000 && eos_optim_name(-1) == NULL, "%d rows", rows);
    EXPECT(eos_optim_find("adamw") >= 0 && eos_optim_find("clip") >= 0, " ");
    EXPECT(strcmp(eos_optim_name(eos_optim_find("adamw")), "adamw") == 0, " ");
    EXPECT(eos_optim_find("adamx") == -1, " ");
    EXPECT(strcmp(eos_activation_name(EOS_ACT_SOFTPLUS), "softplus") == 0, " ");
    EXPECT(eos_optim_is_adaptive(eos_optim_find("adam")) &&
               eos_optim_is_adaptive(eos_optim_find("rmsprop")) &&
               !eos_optim_is_adaptive(eos_optim_find("sgd")) &&
               !eos_optim_is_adaptive(eos_optim_find("sam")),
           " ");
}

/* The data-source and architecture tables answer for data.source and model.arch, in the order
 * docs/sweep-format.md lists their values. */
static void test_table_names(void)
{
    static const char *const sources[] = {"fashion-mnist", "mnist-idx", "cifar10", "hdf5",
                                          "synthetic-linear", "teacher-student", "icl-regression",
                                          "separable", "xor-clusters"};
    static const char *const archs[] = {"mlp", "linear-transformer", "cnn"};
    int n = 0;
    while (eos_data_source_name(n)) n++;
    EXPECT(n == 9, "%d data sources", n);
    for (int i = 0; i < n && i < 9; i++)
        EXPECT(strcmp(eos_data_source_name(i), sources[i]) == 0, "source %d: %s", i,
               eos_data_source_name(i));
    EXPECT(eos_data_source_name(-1) == NULL, " ");
    for (n = 0; eos_model_arch_name(n);) n++;
    EXPECT(n == 3 && eos_model_arch_name(-1) == NULL, "%d architectures", n);
    for (int i = 0; i < n && i < 3; i++)
        EXPECT(strcmp(eos_model_arch_name(i), archs[i]) == 0, "arch %d: %s", i,
               eos_model_arch_name(i));
    /* the key table reads and writes them by name */
    eos_config c;
    char buf[64];
    eos_config_default(&c);
    EXPECT(eos_config_set(&c, "data.source", "cifar10") == 0 && c.data.source == 2, " ");
    EXPECT(eos_config_get(&c, "data.source", buf, sizeof buf) == 0 && strcmp(buf, "cifar10") == 0,
           "%s", buf);
    EXPECT_ERR_PREFIX(eos_config_set(&c, "model.arch", "resnet"),
                      "model.arch: unknown value 'resnet' (expected one of: mlp, "
                      "linear-transformer, cnn)");
    c.data.source = 9;
    EXPECT_ERR_PREFIX(eos_config_validate(&c, NULL, NULL), "data.source:");
}

/* Validation names the offending key itself (callers point at its position with it). */
/* eos_config_validate names the offending key and the other key its check involved. */
static void expect_keys(const eos_config *c, const char *want_key, const char *want_other)
{
    const char *key = "unset", *other = "unset";
    int rc = eos_config_validate(c, &key, &other);
    EXPECT(rc == (want_key ? EOS_ERR_CONFIG : 0), "rc %d: %s", rc, eos_error_msg());
    EXPECT(want_key ? key && !strcmp(key, want_key) : !key, "key %s, want %s", key ? key : "(none)",
           want_key ? want_key : "(none)");
    EXPECT(want_other ? other && !strcmp(other, want_other) : !other, "other %s, want %s",
           other ? other : "(none)", want_other ? want_other : "(none)");
    if (want_key) EXPECT(starts(eos_error_msg(), want_key), "message %s", eos_error_msg());
}

static void test_validate_keys(void)
{
    eos_config c;
    eos_config_default(&c);
    expect_keys(&c, NULL, NULL);
    c.train.lr = -1; /* a key's own range */
    expect_keys(&c, "train.lr", NULL);
    eos_config_default(&c);
    c.train.batch_size = 128; /* the optimizer's check */
    expect_keys(&c, "train.batch_size", "train.optimizer");
    c.train.optimizer = eos_optim_find("sgd");
    c.train.batch_size = 1001; /* larger than the data */
    expect_keys(&c, "train.batch_size", "data.n_train");
    eos_config_default(&c);
    c.sharpness.n = 1001;
    expect_keys(&c, "sharpness.n", "data.n_train");
    eos_config_default(&c);
    c.sharpness.k = 5;
    c.sharpness.max_iter = 4;
    expect_keys(&c, "sharpness.k", "sharpness.max_iter");
    eos_config_default(&c);
    c.data.online = 1; /* the data source's check */
    expect_keys(&c, "data.online", "data.source");
    eos_config_default(&c);
    c.loss = EOS_LOSS_XENT;
    EXPECT(eos_config_set(&c, "data.source", "synthetic-linear") == 0, " ");
    expect_keys(&c, "loss", "data.source");
    c.loss = EOS_LOSS_LOGISTIC; /* real-valued targets */
    expect_keys(&c, "loss", "data.source");
    eos_config_default(&c);
    c.loss = EOS_LOSS_LOGISTIC; /* fashion-mnist has 10 outputs */
    expect_keys(&c, "loss", "data.source");
    EXPECT(strstr(eos_error_msg(), "logistic needs one output"), "%s", eos_error_msg());
    EXPECT(eos_config_set(&c, "data.source", "separable") == 0, " ");
    EXPECT(eos_config_validate(&c, NULL, NULL) == 0, "separable + logistic: %s", eos_error_msg());
    c.loss = EOS_LOSS_XENT;
    expect_keys(&c, "loss", "data.source");
    eos_config_default(&c);
    eos_config_default(&c);
    EXPECT(eos_config_set(&c, "model.arch", "linear-transformer") == 0, " ");
    expect_keys(&c, "model.arch", "data.source"); /* the data's shape does not fit the model */
    eos_config_default(&c);
    c.train.max_steps = 1000000000L;
    c.train.record_every = 1;
    expect_keys(&c, "train.record_every", "train.max_steps");
}

/* The schedule keys (docs/sweep-format.md): defaults, set/get and YAML round trip, and every
 * refusal as one line naming the key and the other key its check involved. */
static void test_schedule_keys(void)
{
    eos_config c, back;
    char buf[16384], val[64];
    eos_config_default(&c);
    EXPECT(!strcmp(eos_optim_schedule_name(c.train.schedule), "constant") &&
               c.train.warmup_steps == 0 && c.train.warmup_init == 0 && c.train.lr_min == 0 &&
               c.train.step_every == 0 && c.train.step_gamma == 0.1,
           "schedule defaults");
    EXPECT(eos_optim_schedule_is_constant(&c.train), "the default lr is constant");
    const char *names[] = {"constant", "cosine", "linear", "step"};
    for (int i = 0; i < 4; i++) {
        EXPECT(eos_config_set(&c, "train.schedule", names[i]) == 0, "%s", eos_error_msg());
        EXPECT(eos_config_get(&c, "train.schedule", val, sizeof val) == 0 && !strcmp(val, names[i]),
               "schedule %s read back as %s", names[i], val);
    }
    EXPECT(eos_optim_schedule_name(4) == NULL, "four schedules");
    EXPECT_ERR(eos_config_set(&c, "train.schedule", "exp"),
               "train.schedule: unknown value 'exp' (expected one of: constant, cosine, linear, "
               "step)");
    EXPECT(eos_config_set(&c, "train.warmup_steps", "200") == 0 &&
               eos_config_set(&c, "train.warmup_init", "0.25") == 0 &&
               eos_config_set(&c, "train.lr_min", "0.001") == 0 &&
               eos_config_set(&c, "train.step_every", "150") == 0 &&
               eos_config_set(&c, "train.step_gamma", "0.5") == 0,
           "%s", eos_error_msg());
    EXPECT(eos_config_validate(&c, NULL, NULL) == 0, "%s", eos_error_msg());
    EXPECT(!eos_optim_schedule_is_constant(&c.train), "a schedule");
    /* the resolved YAML carries them, and reads back into the same configuration */
    int n = eos_config_to_yaml(&c, buf, sizeof buf);
    EXPECT(n > 0 && strstr(buf, "  schedule: step\n") && strstr(buf, "  warmup_steps: 200\n") &&
               strstr(buf, "  warmup_init: 0.25\n") && strstr(buf, "  lr_min: 0.001\n") &&
               strstr(buf, "  step_every: 150\n") && strstr(buf, "  step_gamma: 0.5\n"),
           "yaml:\n%s", buf);
    eos_config_default(&back);
    const char *keys[] = {"train.schedule", "train.warmup_steps", "train.warmup_init",
                          "train.lr_min", "train.step_every", "train.step_gamma"};
    for (int i = 0; i < 6; i++) {
        EXPECT(eos_config_get(&c, keys[i], val, sizeof val) == 0, "%s", keys[i]);
        EXPECT(eos_config_set(&back, keys[i], val) == 0, "%s", eos_error_msg());
    }
    EXPECT(!memcmp(&back.train, &c.train, sizeof c.train), "round trip");
    /* a key's own range */
    EXPECT_ERR(eos_config_set(&c, "train.warmup_steps", "-1"),
               "train.warmup_steps: must be in [0, 1000000000000], got -1");
    EXPECT_ERR(eos_config_set(&c, "train.warmup_init", "1.5"),
               "train.warmup_init: must be in [0, 1], got 1.5");
    EXPECT_ERR(eos_config_set(&c, "train.lr_min", "-0.1"), "train.lr_min: must be >= 0, got -0.1");
    EXPECT_ERR(eos_config_set(&c, "train.step_every", "-5"),
               "train.step_every: must be in [0, 1000000000000], got -5");
    EXPECT_ERR(eos_config_set(&c, "train.step_gamma", "0"),
               "train.step_gamma: must be in (0, 1], got 0");
    /* across keys */
    eos_config_default(&c);
    c.train.warmup_steps = 1001;
    expect_keys(&c, "train.warmup_steps", "train.max_steps");
    EXPECT(!strcmp(eos_error_msg(),
                   "train.warmup_steps: 1001 warm-up steps is more than train.max_steps = 1000"),
           "%s", eos_error_msg());
    c.train.warmup_steps = 1000; /* all warm-up: allowed */
    expect_keys(&c, NULL, NULL);
    eos_config_default(&c);
    EXPECT(eos_config_set(&c, "train.schedule", "step") == 0, " ");
    expect_keys(&c, "train.step_every", "train.schedule");
    EXPECT(!strcmp(eos_error_msg(), "train.step_every: train.schedule step needs step_every >= 1 "
                                    "(steps between decays), got 0"),
           "%s", eos_error_msg());
    eos_config_default(&c);
    EXPECT(eos_config_set(&c, "train.schedule", "cosine") == 0, " ");
    c.train.lr_min = 0.05;
    expect_keys(&c, "train.lr_min", "train.lr");
    EXPECT(!strcmp(eos_error_msg(), "train.lr_min: 0.05 is above train.lr = 0.04 (train.schedule "
                                    "cosine decays from lr to lr_min)"),
           "%s", eos_error_msg());
    EXPECT(eos_config_set(&c, "train.schedule", "constant") == 0, " ");
    expect_keys(&c, NULL, NULL); /* lr_min means nothing to the constant schedule */
    eos_config_default(&c);
    c.train.warmup_steps = 10;
    c.sharpness.every = 25; /* record_every 10: the lr at a measurement would not be recorded */
    expect_keys(&c, "sharpness.every", "train.schedule");
    c.sharpness.every = 30;
    expect_keys(&c, NULL, NULL);
    /* gradient flow sizes its sub-steps by the measured sharpness */
    eos_config_default(&c);
    EXPECT(eos_config_set(&c, "train.optimizer", "flow") == 0, "%s", eos_error_msg());
    EXPECT(c.train.flow_alpha == 1.0, "flow_alpha default 1");
    expect_keys(&c, NULL, NULL);
    c.sharpness.every = 0;
    expect_keys(&c, "sharpness.every", "train.optimizer");
    EXPECT(!strcmp(eos_error_msg(), "sharpness.every: train.optimizer flow sizes its steps by the "
                                    "measured sharpness, so sharpness.every must be > 0"),
           "%s", eos_error_msg());
    EXPECT_ERR(eos_config_set(&c, "train.flow_alpha", "0"), "train.flow_alpha: must be > 0, got 0");
    c.sharpness.every = 50;
    c.train.batch_size = 100;
    expect_keys(&c, "train.batch_size", "train.optimizer"); /* full-batch only */
}

/* The key table's flags: which keys a grid may not vary and which have a /runs column. */
static void test_key_flags(void)
{
    int n_fixed = 0, n_column = 0;
    for (const eos_key *k = eos_config_keys; k->path; k++) {
        n_fixed += (k->flags & EOS_KEY_NOT_SWEEPABLE) != 0;
        n_column += (k->flags & EOS_KEY_RUN_COLUMN) != 0;
    }
    EXPECT(n_fixed == 2 && n_column == 1, "%d not sweepable, %d own columns", n_fixed, n_column);
    EXPECT(eos_config_key_find("train.record_every")->flags & EOS_KEY_NOT_SWEEPABLE, " ");
    EXPECT(eos_config_key_find("sharpness.every")->flags & EOS_KEY_NOT_SWEEPABLE, " ");
    EXPECT(eos_config_key_find("seed")->flags & EOS_KEY_RUN_COLUMN, " ");
    EXPECT(!(eos_config_key_find("train.lr")->flags & EOS_KEY_NOT_SWEEPABLE), " ");
    /* the exclusivity bits still drive the range text */
    eos_config c;
    eos_config_default(&c);
    EXPECT_ERR(eos_config_set(&c, "train.lr", "0"), "train.lr: must be > 0, got 0");
}

static void test_validation_keys(void)
{
    eos_config c;
    eos_data_info info;
    const char *key = NULL;
    eos_config_default(&c);
    EXPECT(eos_data_check(&c, &info, &key) == 0, "%s", eos_error_msg());
    EXPECT(info.shape.layout == EOS_LAYOUT_IMAGE && info.shape.dim[0] == 1 &&
               info.shape.dim[1] == 28 && info.shape.dim[2] == 28 && info.n_out == 10 &&
               info.n_train == 1000 && !info.regression,
           "fashion-mnist info");
    c.data.n_train = 0;
    EXPECT(eos_data_check(&c, &info, &key) == 0 && info.n_train == 60000, "%ld", info.n_train);
    c.data.online = 1;
    EXPECT(eos_data_check(&c, &info, &key) == EOS_ERR_CONFIG && key && !strcmp(key, "data.online"),
           "key %s", key ? key : "(none)");
    eos_config_default(&c);
    EXPECT(eos_config_set(&c, "data.source", "mnist-idx") == 0, " ");
    strcpy(c.data.path, "/img");
    key = NULL;
    EXPECT(eos_data_check(&c, &info, &key) == EOS_ERR_CONFIG && key && !strcmp(key, "data.labels"),
           "key %s", key ? key : "(none)");
    strcpy(c.data.labels, "/lab");
    EXPECT(eos_data_check(&c, &info, &key) == 0 && info.shape.layout == EOS_LAYOUT_IMAGE &&
               eos_shape_size(&info.shape) == 0 && info.n_out == 0 && info.n_train == 1000,
           "mnist-idx: only the files give the image size and the classes");
    c.data.n_train = 0;
    EXPECT(eos_data_check(&c, &info, &key) == 0 && info.n_train == -1, "%ld", info.n_train);
    EXPECT(eos_data_estimate(&c, &info) == 0 && eos_shape_size(&info.shape) == 784 &&
               info.shape.layout == EOS_LAYOUT_IMAGE && info.n_out == 10 && info.n_train == 60000,
           "estimate of an unread file");
    eos_config_default(&c);
    EXPECT(eos_config_set(&c, "data.source", "icl-regression") == 0, " ");
    c.data.n_context = 6;
    c.data.dim = 3;
    EXPECT(eos_data_check(&c, &info, &key) == 0 && info.shape.layout == EOS_LAYOUT_TOKENS &&
               info.shape.dim[0] == 7 && info.shape.dim[1] == 4 && eos_shape_size(&info.shape) == 28 &&
               info.n_out == 1 && info.regression,
           "icl-regression: tokens [n_context + 1, dim + 1]");
    c.data.sigma_decay = 0;
    key = NULL;
    EXPECT(eos_data_check(&c, &info, &key) == EOS_ERR_CONFIG && key &&
               !strcmp(key, "data.sigma_decay"),
           "key %s", key ? key : "(none)");
    /* the architecture's own keys */
    eos_model_cfg mc = c.model;
    eos_shape flat = {EOS_LAYOUT_FLAT, {5}};
    mc.hidden[1] = 0;
    key = NULL;
    EXPECT(eos_model_validate(&mc, EOS_LOSS_MSE, &flat, 1, &key) == EOS_ERR_CONFIG && key &&
               !strcmp(key, "model.hidden"),
           "key %s", key ? key : "(none)");
    EXPECT(eos_config_set(&c, "model.arch", "linear-transformer") == 0, " ");
    mc = c.model;
    key = NULL;
    EXPECT(eos_model_validate(&mc, EOS_LOSS_MSE, &flat, 1, &key) == EOS_ERR_CONFIG && key &&
               !strcmp(key, "model.arch"),
           "key %s", key ? key : "(none)");
    eos_shape tok = {EOS_LAYOUT_TOKENS, {7, 4}};
    EXPECT(eos_model_validate(&mc, EOS_LOSS_MSE, &tok, 1, &key) == 0, "%s", eos_error_msg());
    key = NULL;
    EXPECT(eos_model_validate(&mc, EOS_LOSS_XENT, &tok, 1, &key) == EOS_ERR_CONFIG && key &&
               !strcmp(key, "loss"),
           "key %s", key ? key : "(none)");
}

static void test_to_yaml(void)
{
    eos_config c;
    char buf[16384];
    eos_config_default(&c);
    strcpy(c.name, "say \"hi\"\\ #x");
    int n = eos_config_to_yaml(&c, buf, sizeof buf);
    EXPECT(n > 0 && (size_t)n == strlen(buf), "%d", n);
    EXPECT(strstr(buf, "\nname: \"say \\\"hi\\\"\\\\ #x\"\n") != NULL, "%s", buf);
    EXPECT(strstr(buf, "\ntrain:\n  optimizer: gd\n") != NULL, "%s", buf);
    EXPECT(strstr(buf, "\n  hidden: [200, 200]\n") != NULL, " ");
    EXPECT(strstr(buf, "\n  batch_size: full\n") != NULL, " ");
    EXPECT(strstr(buf, "\nsharpness:\n") && strstr(buf, "\ndata:\n") && strstr(buf, "\nmodel:\n"),
           " ");
    EXPECT(strstr(buf, "\nloss: mse\n") != NULL, " ");
    /* Each section appears exactly once. */
    EXPECT(strstr(strstr(buf, "\ndata:\n") + 1, "\ndata:\n") == NULL, " ");
    EXPECT(eos_config_to_yaml(&c, buf, 100) < 0, "small buffer must fail");
}

int main(void)
{
    TEST_RUN(test_defaults);
    TEST_RUN(test_key_table_covers_struct);
    TEST_RUN(test_set_get);
    TEST_RUN(test_set_errors);
    TEST_RUN(test_validate);
    TEST_RUN(test_names);
    TEST_RUN(test_table_names);
    TEST_RUN(test_validation_keys);
    TEST_RUN(test_validate_keys);
    TEST_RUN(test_key_flags);
    TEST_RUN(test_to_yaml);
    TEST_RUN(test_schedule_keys);
    return TEST_SUMMARY();
}
