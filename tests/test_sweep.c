/* test_sweep.c: sweep file parsing, error positions, grid expansion, round trip, sha256.
 * Positions in expected messages were counted by hand from the test texts (1-based). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eos_common.h"
#include "eos_data.h"
#include "eos_sweep.h"
#include "eos_sha256.h"
#include "eos_optim.h"
#include "eos_test.h"

/* Normally generated from sweeps/quickstart.yaml at build time. */
const char eos_quickstart_yaml[] = "name: quick\n"
                                   "data: {source: synthetic-linear, n_train: 50}\n"
                                   "grid:\n"
                                   "  train.lr: [0.01, 0.02]\n";

/* A small regression task that needs no files. */
#define SYN "data: {source: synthetic-linear, n_train: 100, dim: 5}\n"

static int parse(eos_sweep *sw, const char *text)
{
    eos_error_clear();
    return eos_sweep_parse(sw, "t.yaml", text, strlen(text));
}

static int starts(const char *s, const char *prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

/* The parse must fail with a message starting with prefix. */
#define EXPECT_PARSE_ERR(src_, prefix)                                                             \
    do {                                                                                           \
        eos_sweep sw_;                                                                             \
        int rc_ = parse(&sw_, (src_));                                                             \
        EXPECT(rc_ == EOS_ERR_CONFIG, "rc %d", rc_);                                               \
        EXPECT(starts(eos_error_msg(), (prefix)), "got \"%s\"\n       want prefix \"%s\"",        \
               eos_error_msg(), (prefix));                                                         \
        EXPECT(sw_.n_runs == 0 && sw_.values == NULL && sw_.text == NULL, "not freed on error");  \
    } while (0)

static const char *val(const eos_sweep *sw, long run, const char *axis)
{
    for (int a = 0; a < sw->n_axes; a++)
        if (strcmp(sw->axes[a].path, axis) == 0) return sw->values[run * sw->n_axes + a];
    return "(no axis)";
}

/* ---- sha256 against the FIPS 180-2 example vectors ---- */
static void test_sha256(void)
{
    char h[65];
    eos_sha256_hex("abc", 3, h);
    EXPECT(strcmp(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0, "%s", h);
    eos_sha256_hex("", 0, h);
    EXPECT(strcmp(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") == 0, "%s", h);
    const char *m2 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"; /* 56 bytes: 2 pad blocks */
    eos_sha256_hex(m2, strlen(m2), h);
    EXPECT(strcmp(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1") == 0, "%s", h);
    char *a = malloc(1000000);
    memset(a, 'a', 1000000);
    eos_sha256_hex(a, 1000000, h);
    EXPECT(strcmp(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") == 0, "%s", h);
    /* incrementally, in pieces that straddle the 64-byte blocks every way */
    for (size_t piece = 1; piece <= 131; piece += 13) {
        eos_sha256 c;
        eos_sha256_init(&c);
        for (size_t at = 0; at < 1000000; at += piece)
            eos_sha256_update(&c, a + at, at + piece <= 1000000 ? piece : 1000000 - at);
        eos_sha256_final_hex(&c, h);
        EXPECT(strcmp(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") == 0,
               "pieces of %zu: %s", piece, h);
    }
    free(a);
}

static void test_no_grid(void)
{
    eos_sweep sw;
    const char *t = "name: one\nseed: 7\n" SYN "train:\n  lr: 0.5\n  max_steps: 100\n";
    EXPECT(parse(&sw, t) == 0, "%s", eos_error_msg());
    EXPECT(sw.n_runs == 1 && sw.n_axes == 0 && sw.n_duplicates == 0, "%ld %d", sw.n_runs, sw.n_axes);
    EXPECT(strcmp(sw.name, "one") == 0 && strcmp(sw.file, "t.yaml") == 0, " ");
    EXPECT(sw.text_len == strlen(t) && memcmp(sw.text, t, sw.text_len) == 0, "verbatim text");
    char h[65];
    eos_sha256_hex(t, strlen(t), h);
    EXPECT(strcmp(h, sw.sha256) == 0, " ");
    eos_config c;
    EXPECT(eos_sweep_run_config(&sw, 0, &c) == 0, " ");
    EXPECT(c.seed == 7 && c.train.lr == 0.5 && c.train.max_steps == 100 && c.data.dim == 5 &&
               strcmp(eos_data_source_name(c.data.source), "synthetic-linear") == 0,
           " ");
    EXPECT(sw.rec_slots == 100 / 10 + 1 && sw.sharp_slots == 100 / 50 + 1 && sw.k == 2,
           "%d %d %d", sw.rec_slots, sw.sharp_slots, sw.k);
    EXPECT(sw.record_every == 10 && sw.sharp_every == 50, " ");
    EXPECT(eos_sweep_run_config(&sw, 1, &c) != 0, "run out of range");
    eos_sweep_free(&sw);
    eos_sweep_free(&sw); /* idempotent */
}

/* Cartesian product, last axis fastest, in the order written. */
static void test_product_order(void)
{
    eos_sweep sw;
    const char *t = SYN "grid:\n  train.lr: [1, 2]\n  seed: [5, 6, 7]\n";
    EXPECT(parse(&sw, t) == 0, "%s", eos_error_msg());
    EXPECT(sw.n_runs == 6 && sw.n_axes == 2, "%ld", sw.n_runs);
    EXPECT(strcmp(sw.axes[0].path, "train.lr") == 0 && strcmp(sw.axes[1].path, "seed") == 0, " ");
    EXPECT(sw.axes[0].col == EOS_COL_NUMBER && sw.axes[1].col == EOS_COL_INT, " ");
    const double lr[6] = {1, 1, 1, 2, 2, 2};
    const unsigned seed[6] = {5, 6, 7, 5, 6, 7};
    for (long i = 0; i < sw.n_runs && i < 6; i++) {
        eos_config c;
        EXPECT(eos_sweep_run_config(&sw, i, &c) == 0, " ");
        EXPECT(c.train.lr == lr[i] && c.seed == seed[i], "run %ld: lr %g seed %llu", i, c.train.lr,
               (unsigned long long)c.seed);
    }
    eos_sweep_free(&sw);
}

/* List of grids = union of products; zip = one factor; axes in first-appearance order. */
static void test_union_zip(void)
{
    eos_sweep sw;
    const char *t = SYN "train: {max_steps: 200}\n"
                        "grid:\n"
                        "  - zip: {train.lr: [0.1, 0.2, 0.3], train.momentum: [0.5, 0.6, 0.7]}\n"
                        "    seed: [0, 1]\n"
                        "  - train.optimizer: [sgd]\n"
                        "    train.batch_size: [10, full]\n";
    EXPECT(parse(&sw, t) == 0, "%s", eos_error_msg());
    EXPECT(sw.n_runs == 3 * 2 + 2 && sw.n_duplicates == 0, "%ld", sw.n_runs);
    EXPECT(sw.n_axes == 5, "%d", sw.n_axes);
    const char *axes[5] = {"train.lr", "train.momentum", "seed", "train.optimizer",
                           "train.batch_size"};
    const eos_col_type cols[5] = {EOS_COL_NUMBER, EOS_COL_NUMBER, EOS_COL_INT, EOS_COL_STRING,
                                  EOS_COL_INT};
    for (int a = 0; a < 5 && a < sw.n_axes; a++)
        EXPECT(strcmp(sw.axes[a].path, axes[a]) == 0 && sw.axes[a].col == cols[a] &&
                   sw.axes[a].key == eos_config_key_find(axes[a]),
               "axis %d %s", a, sw.axes[a].path);
    if (sw.n_runs == 8) {
        /* zip pairs (0.1,0.5),(0.2,0.6),(0.3,0.7), seed fastest */
        EXPECT(strcmp(val(&sw, 0, "train.lr"), "0.1") == 0 && strcmp(val(&sw, 0, "seed"), "0") == 0, " ");
        EXPECT(strcmp(val(&sw, 1, "train.lr"), "0.1") == 0 && strcmp(val(&sw, 1, "seed"), "1") == 0, " ");
        EXPECT(strcmp(val(&sw, 2, "train.lr"), "0.2") == 0 &&
                   strcmp(val(&sw, 2, "train.momentum"), "0.6") == 0, " ");
        EXPECT(strcmp(val(&sw, 5, "train.momentum"), "0.7") == 0, " ");
        /* Axes a sub-grid does not name hold the base value. */
        EXPECT(strcmp(val(&sw, 0, "train.optimizer"), "gd") == 0, "%s", val(&sw, 0, "train.optimizer"));
        EXPECT(strcmp(val(&sw, 0, "train.batch_size"), "full") == 0, " ");
        EXPECT(strcmp(val(&sw, 6, "train.lr"), "0.04") == 0, "%s", val(&sw, 6, "train.lr"));
        EXPECT(strcmp(val(&sw, 6, "train.momentum"), "0.9") == 0, " ");
        EXPECT(strcmp(val(&sw, 6, "train.optimizer"), "sgd") == 0, " ");
        EXPECT(strcmp(val(&sw, 6, "train.batch_size"), "10") == 0, " ");
        EXPECT(strcmp(val(&sw, 7, "train.batch_size"), "full") == 0, " ");
        eos_config c;
        EXPECT(eos_sweep_run_config(&sw, 4, &c) == 0 && c.train.lr == 0.3 &&
                   c.train.momentum == 0.7 && c.seed == 0 &&
                   c.train.optimizer == eos_optim_find("gd"),
               " ");
        EXPECT(eos_sweep_run_config(&sw, 7, &c) == 0 &&
                   c.train.optimizer == eos_optim_find("sgd") && c.train.batch_size == 0 &&
                   c.train.lr == 0.04,
               " ");
    }
    EXPECT(sw.rec_slots == 21 && sw.sharp_slots == 5, "%d %d", sw.rec_slots, sw.sharp_slots);
    eos_sweep_free(&sw);
}

/* Identical resolved configurations are kept once, whichever spelling produced them. */
static void test_duplicates(void)
{
    eos_sweep sw;
    EXPECT(parse(&sw, SYN "grid:\n  - train.lr: [0.1, 0.2]\n  - train.lr: [0.2, 1e-1, 0.3]\n") == 0,
           "%s", eos_error_msg());
    EXPECT(sw.n_runs == 3 && sw.n_duplicates == 2, "%ld %ld", sw.n_runs, sw.n_duplicates);
    EXPECT(strcmp(val(&sw, 2, "train.lr"), "0.3") == 0, " ");
    eos_sweep_free(&sw);
    /* Base lr is 0.04 and seed 0: both sub-grids give the base configuration. */
    EXPECT(parse(&sw, SYN "grid:\n  - train.lr: [0.04]\n  - seed: [0]\n") == 0, "%s", eos_error_msg());
    EXPECT(sw.n_runs == 1 && sw.n_duplicates == 1, "%ld %ld", sw.n_runs, sw.n_duplicates);
    eos_sweep_free(&sw);
    /* Within one product too (batch 100 = full? no: different configs; two equal values yes) */
    EXPECT(parse(&sw, SYN "grid:\n  seed: [1, 2, 1]\n  data.standardize: [true, yes]\n") == 0, "%s",
           eos_error_msg());
    EXPECT(sw.n_runs == 2 && sw.n_duplicates == 4, "%ld %ld", sw.n_runs, sw.n_duplicates);
    FILE *f = tmpfile();
    if (f) {
        eos_sweep_print(&sw, f);
        rewind(f);
        char line[256], last[256] = "", first[256] = "";
        int nl = 0;
        while (fgets(line, sizeof line, f)) {
            if (nl++ == 0) strcpy(first, line);
            strcpy(last, line);
        }
        fclose(f);
        EXPECT(strstr(first, "run") && strstr(first, "seed") && strstr(first, "data.standardize"),
               "%s", first);
        EXPECT(nl == 4, "%d lines", nl);
        EXPECT(strcmp(last, "2 runs (4 duplicates removed)\n") == 0, "%s", last);
    }
    eos_sweep_free(&sw);
}

static void test_hidden_axis(void)
{
    eos_sweep sw;
    EXPECT(parse(&sw, SYN "grid:\n  model.hidden: [[100], [200, 200], []]\n") == 0, "%s",
           eos_error_msg());
    EXPECT(sw.n_runs == 3 && sw.n_axes == 1 && sw.axes[0].col == EOS_COL_STRING, " ");
    if (sw.n_runs == 3) {
        EXPECT(strcmp(sw.values[0], "[100]") == 0 && strcmp(sw.values[1], "[200, 200]") == 0 &&
                   strcmp(sw.values[2], "[]") == 0, "%s %s %s", sw.values[0], sw.values[1], sw.values[2]);
        eos_config c;
        EXPECT(eos_sweep_run_config(&sw, 1, &c) == 0 && c.model.n_hidden == 2 &&
                   c.model.hidden[1] == 200, " ");
        EXPECT(eos_sweep_run_config(&sw, 2, &c) == 0 && c.model.n_hidden == 0, " ");
    }
    eos_sweep_free(&sw);
    EXPECT_PARSE_ERR(SYN "grid:\n  model.hidden: [100, 200]\n",
                     "t.yaml:3:18: model.hidden: grid values must be lists");
    /* base: flow list */
    EXPECT(parse(&sw, SYN "model: {hidden: [30, 20, 10]}\n") == 0, "%s", eos_error_msg());
    EXPECT(sw.base.model.n_hidden == 3 && sw.base.model.hidden[2] == 10, " ");
    eos_sweep_free(&sw);
}

static void test_slots_k(void)
{
    eos_sweep sw;
    const char *t = SYN "train: {max_steps: 100, record_every: 5}\nsharpness: {every: 20}\n"
                        "grid:\n  train.max_steps: [100, 1000]\n  sharpness.k: [1, 3]\n";
    EXPECT(parse(&sw, t) == 0, "%s", eos_error_msg());
    EXPECT(sw.n_runs == 4 && sw.rec_slots == 1000 / 5 + 1 && sw.sharp_slots == 1000 / 20 + 1 &&
               sw.k == 3 && sw.record_every == 5 && sw.sharp_every == 20,
           "%d %d %d", sw.rec_slots, sw.sharp_slots, sw.k);
    eos_sweep_free(&sw);
    EXPECT(parse(&sw, SYN "sharpness: {every: 0}\n") == 0, "%s", eos_error_msg());
    EXPECT(sw.sharp_slots == 0, "%d", sw.sharp_slots);
    eos_sweep_free(&sw);
}

static void test_syntax_errors(void)
{
    EXPECT_PARSE_ERR("a: b: c\n", "t.yaml:1:5: YAML syntax error: mapping values are not allowed");
    EXPECT_PARSE_ERR("seed: 1\ntrain: {lr: 0.1\n", "t.yaml:");
    {
        eos_sweep sw;
        parse(&sw, "seed: 1\ntrain: {lr: 0.1\n");
        EXPECT(strstr(eos_error_msg(), ": YAML syntax error: ") != NULL, "%s", eos_error_msg());
    }
    EXPECT_PARSE_ERR("", "t.yaml:1:1: empty sweep file");
    EXPECT_PARSE_ERR("- 1\n- 2\n", "t.yaml:1:1: expected a mapping");
    EXPECT_PARSE_ERR("seed: 1\n---\nseed: 2\n", "t.yaml:3:1: a sweep file holds one YAML document");
}

static void test_key_errors(void)
{
    EXPECT_PARSE_ERR("seed: 0\ntrain:\n  lrr: 0.1\n", "t.yaml:3:3: train.lrr: unknown key");
    EXPECT_PARSE_ERR("foo: 1\n", "t.yaml:1:1: foo: unknown key");
    EXPECT_PARSE_ERR(SYN "grid:\n  train.lrr: [1]\n", "t.yaml:3:3: train.lrr: unknown key");
    EXPECT_PARSE_ERR(SYN "grid:\n  - seed: [1]\n  - zip: {seed: [1], bogus: [2]}\n",
                     "t.yaml:4:22: bogus: unknown key");
    EXPECT_PARSE_ERR("seed: 1\nseed: 2\n", "t.yaml:2:1: seed: duplicate key (first set at 1:7)");
    EXPECT_PARSE_ERR("train: {lr: 0.1}\ntrain.lr: 0.2\n", "t.yaml:2:1: train.lr: duplicate key");
    EXPECT_PARSE_ERR(SYN "grid:\n  seed: [1]\n  seed: [2]\n", "t.yaml:4:3: seed: named twice");
    EXPECT_PARSE_ERR(SYN "grid:\n  seed: [1]\n  zip: {seed: [2]}\n", "t.yaml:4:9: seed: named twice");
}

static void test_type_errors(void)
{
    EXPECT_PARSE_ERR("train: {lr: fast}\n", "t.yaml:1:13: train.lr: expected a number, got 'fast'");
    EXPECT_PARSE_ERR("seed: {a: 1}\n", "t.yaml:1:7: seed: expected a scalar value, got a mapping");
    EXPECT_PARSE_ERR("train:\n  lr: [1, 2]\n", "t.yaml:2:7: train.lr: expected a scalar value, got a list");
    EXPECT_PARSE_ERR("train: 3\n", "t.yaml:1:8: train: expected a mapping");
    EXPECT_PARSE_ERR(SYN "grid:\n  train.lr: 0.1\n",
                     "t.yaml:3:13: train.lr: a grid axis needs a list of values, got a scalar");
    EXPECT_PARSE_ERR(SYN "grid:\n  train.lr: [[0.1]]\n", "t.yaml:3:14: train.lr: grid values must be scalars");
    EXPECT_PARSE_ERR(SYN "grid: 3\n", "t.yaml:2:7: grid: expected a mapping");
}

static void test_range_errors(void)
{
    EXPECT_PARSE_ERR("train:\n  lr: 0\n", "t.yaml:2:7: train.lr: must be > 0, got 0");
    {
        eos_sweep sw;
        EXPECT(parse(&sw, SYN "grid:\n  train.lr: [0.1, -0.1]\n  seed: [0]\n") == EOS_ERR_CONFIG, " ");
        const char *want = "t.yaml:3:19: train.lr: must be > 0, got -0.1 (run 1: train.lr=-0.1, seed=0)";
        EXPECT(strcmp(eos_error_msg(), want) == 0, "got  %s\n       want %s", eos_error_msg(), want);
    }
    EXPECT_PARSE_ERR(SYN "grid:\n  train.lr: []\n", "t.yaml:3:13: train.lr: empty list of values");
    EXPECT_PARSE_ERR(SYN "grid: []\n", "t.yaml:2:7: grid: empty list");
    EXPECT_PARSE_ERR(SYN "grid: {}\n", "t.yaml:2:7: grid: empty grid entry");
    EXPECT_PARSE_ERR(SYN "grid:\n  zip: {}\n", "t.yaml:3:8: zip: empty mapping");
    /* batch larger than the data: at the grid value, with the run's values */
    {
        eos_sweep sw;
        EXPECT(parse(&sw, SYN "train: {optimizer: sgd}\ngrid:\n  train.batch_size: [50, 200]\n") ==
                   EOS_ERR_CONFIG, " ");
        const char *want = "t.yaml:4:26: train.batch_size: 200 is larger than the training set "
                           "(data.n_train = 100) (run 1: train.batch_size=200)";
        EXPECT(strcmp(eos_error_msg(), want) == 0, "got  %s\n       want %s", eos_error_msg(), want);
    }
    /* ... at the base key when no grid */
    EXPECT_PARSE_ERR(SYN "train:\n  optimizer: sgd\n  batch_size: 101\n",
                     "t.yaml:4:15: train.batch_size: 101 is larger than the training set");
    /* ... at the grid value of the other key involved */
    EXPECT_PARSE_ERR("data: {source: synthetic-linear}\ntrain: {optimizer: sgd, batch_size: 64}\n"
                     "grid:\n  data.n_train: [100, 32]\n",
                     "t.yaml:4:23: train.batch_size: 64 is larger than the training set (data.n_train = 32)");
    /* both keys the message names set by the grid, the other one first: at the offending one */
    EXPECT_PARSE_ERR(SYN "grid:\n  sharpness.max_iter: [3]\n  sharpness.k: [5]\n",
                     "t.yaml:4:17: sharpness.k: 5 eigenvalues need sharpness.max_iter >= 5, got 3");
    /* ... both in the base, the other one first */
    EXPECT_PARSE_ERR(SYN "sharpness: {max_iter: 3, k: 5}\n",
                     "t.yaml:2:29: sharpness.k: 5 eigenvalues need sharpness.max_iter >= 5, got 3");
    /* gd is full batch */
    EXPECT_PARSE_ERR(SYN "grid:\n  train.batch_size: [full, 10]\n",
                     "t.yaml:3:28: train.batch_size: optimizer gd is full-batch");
    /* cross-field with no position of its own in the file: the base key named */
    EXPECT_PARSE_ERR(SYN "model:\n  arch: linear-transformer\n",
                     "t.yaml:3:9: model.arch: linear-transformer needs token-layout data (prompts of "
                     "tokens), got flat [5]");
}

static void test_enum_errors(void)
{
    EXPECT_PARSE_ERR("train: {optimizer: adamx}\n",
                     "t.yaml:1:20: train.optimizer: unknown value 'adamx' (expected one of: gd, "
                     "sgd, momentum, nesterov, adam, adamw, rmsprop, sam, usam, pgd, ngd, clip, flow)");
    {
        eos_sweep sw;
        EXPECT(parse(&sw, SYN "grid:\n  model.activation: [tanh, sigmoid]\n") == EOS_ERR_CONFIG, " ");
        const char *want = "t.yaml:3:28: model.activation: unknown value 'sigmoid' (expected one "
                           "of: tanh, relu, elu, softplus, gelu, identity) (run 1: "
                           "model.activation=sigmoid)";
        EXPECT(strcmp(eos_error_msg(), want) == 0, "got  %s\n       want %s", eos_error_msg(), want);
    }
}

static void test_not_sweepable(void)
{
    EXPECT_PARSE_ERR(SYN "grid:\n  train.record_every: [1, 10]\n",
                     "t.yaml:3:3: train.record_every: not sweepable");
    EXPECT_PARSE_ERR(SYN "grid:\n  zip:\n    train.lr: [1, 2]\n    sharpness.every: [10, 20]\n",
                     "t.yaml:5:5: sharpness.every: not sweepable");
}

static void test_zip_errors(void)
{
    EXPECT_PARSE_ERR(SYN "grid:\n  zip:\n    train.lr: [0.1, 0.2]\n    seed: [1, 2, 3]\n",
                     "t.yaml:5:11: seed: 3 values, but train.lr in the same zip has 2");
    EXPECT_PARSE_ERR(SYN "grid:\n  zip: [1, 2]\n", "t.yaml:3:8: zip: expected a mapping");
}

static char tmpdir[64];

static void test_data_files(void)
{
    EXPECT_PARSE_ERR("data:\n  source: hdf5\n  path: /nope/x.h5\n",
                     "t.yaml:3:9: data.path: /nope/x.h5: No such file or directory");
    EXPECT_PARSE_ERR("data: {path: /nope}\n",
                     "t.yaml:1:14: data.path: /nope/train-images-idx3-ubyte.gz: No such file or directory");
    char h5[128], img[128], lab[128];
    snprintf(h5, sizeof h5, "%s/x.h5", tmpdir);
    snprintf(img, sizeof img, "%s/img", tmpdir);
    snprintf(lab, sizeof lab, "%s/lab", tmpdir);
    FILE *f;
    if ((f = fopen(h5, "w"))) fclose(f);
    if ((f = fopen(img, "w"))) fclose(f);
    char text[1024], want[512];
    eos_sweep sw;
    snprintf(text, sizeof text, "data: {source: hdf5, path: %s}\n", h5);
    EXPECT(parse(&sw, text) == 0, "%s", eos_error_msg());
    eos_sweep_free(&sw);
    /* a grid over paths: the missing one is reported at its grid value */
    snprintf(text, sizeof text, "data: {source: hdf5}\ngrid:\n  data.path: [%s, /nope/y.h5]\n", h5);
    snprintf(want, sizeof want, "t.yaml:3:%d: data.path: /nope/y.h5: No such file or directory (run 1",
             (int)(17 + strlen(h5)));
    EXPECT_PARSE_ERR(text, want);
    /* mnist-idx: the labels file */
    snprintf(text, sizeof text, "data:\n  source: mnist-idx\n  path: %s\n  labels: %s\n", img, lab);
    snprintf(want, sizeof want, "t.yaml:4:11: data.labels: %s: No such file or directory", lab);
    EXPECT_PARSE_ERR(text, want);
    if ((f = fopen(lab, "w"))) fclose(f);
    EXPECT(parse(&sw, text) == 0, "%s", eos_error_msg());
    eos_sweep_free(&sw);
    /* The Debian Fashion-MNIST directory, when installed. */
    if (access("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", R_OK) == 0) {
        EXPECT(parse(&sw, "name: default\n") == 0, "%s", eos_error_msg());
        EXPECT(sw.n_runs == 1, " ");
        eos_sweep_free(&sw);
    } else {
        fprintf(stderr, "  (no /usr/share/datasets/fashion-mnist: default-source check skipped)\n");
        EXPECT_PARSE_ERR("name: default\n", "t.yaml:1:1: data.source: /usr/share/datasets/");
    }
    remove(h5);
    remove(img);
    remove(lab);
}

/* to_yaml -> parse -> the same configuration, bit for bit. */
static void test_round_trip(void)
{
    char h5[128];
    snprintf(h5, sizeof h5, "%s/rt.h5", tmpdir);
    FILE *f = fopen(h5, "w");
    EXPECT(f != NULL, "cannot create %s", h5);
    if (f) fclose(f);
    eos_config c;
    eos_config_default(&c);
    strcpy(c.name, "we\"ird\\ na:me # \t\x01 é");
    c.seed = 18446744073709551615ULL;
    EXPECT(eos_config_set(&c, "data.source", "hdf5") == 0, "%s", eos_error_msg());
    strcpy(c.data.path, h5);
    strcpy(c.data.x, "~");
    strcpy(c.data.y, "");
    strcpy(c.data.labels, "null");
    strcpy(c.data.test_labels, "  lead space");
    c.data.n_train = 777;
    c.data.n_test = 12;
    c.data.standardize = 0;
    c.data.noise = 0.1 + 0.2;
    c.data.sigma_decay = 1.0 / 3.0;
    c.model.n_hidden = 3;
    c.model.hidden[0] = 1;
    c.model.hidden[1] = 22;
    c.model.hidden[2] = 333;
    c.model.activation = EOS_ACT_SOFTPLUS;
    c.model.init = EOS_INIT_GAUSSIAN;
    c.model.init_scale = 4.9406564584124654e-324;
    c.loss = EOS_LOSS_XENT;
    c.train.optimizer = eos_optim_find("adamw");
    c.train.lr = 1e-300;
    c.train.batch_size = 64;
    c.train.max_steps = 123456789;
    c.train.loss_goal = 1e-5;
    c.train.acc_goal = 0.999;
    c.train.momentum = 0.0;
    c.train.beta2 = nextafter(1.0, 0.0);
    c.train.weight_decay = 5e-4;
    c.train.p = 1.0000000000000002;
    c.sharpness.every = 7;
    c.sharpness.k = 5;
    c.sharpness.tol = 0.0001;
    c.sharpness.precond = 0;
    c.sharpness.directional = 1;
    EXPECT(eos_config_validate(&c, NULL, NULL) == 0, "%s", eos_error_msg());
    char buf[16384];
    int n = eos_config_to_yaml(&c, buf, sizeof buf);
    EXPECT(n > 0, "%s", eos_error_msg());
    eos_sweep sw;
    int rc = eos_sweep_parse(&sw, "rt.yaml", buf, (size_t)n);
    EXPECT(rc == 0, "%s\n%s", eos_error_msg(), buf);
    if (rc == 0) {
        EXPECT(sw.n_runs == 1 && sw.n_axes == 0, " ");
        EXPECT(memcmp(&sw.base, &c, sizeof c) == 0, "base differs after the round trip");
        eos_config r;
        EXPECT(eos_sweep_run_config(&sw, 0, &r) == 0 && memcmp(&r, &c, sizeof c) == 0, " ");
        /* and key by key, for a readable failure */
        char a[700], b[700];
        for (const eos_key *k = eos_config_keys; k->path; k++) {
            eos_config_get(&c, k->path, a, sizeof a);
            eos_config_get(&sw.base, k->path, b, sizeof b);
            EXPECT(strcmp(a, b) == 0, "%s: %s != %s", k->path, a, b);
        }
        eos_sweep_free(&sw);
    }
    remove(h5);
}

static void test_load_file(void)
{
    char p[128];
    snprintf(p, sizeof p, "%s/sweep.yaml", tmpdir);
    FILE *f = fopen(p, "w");
    EXPECT(f != NULL, " ");
    if (!f) return;
    fputs(SYN "grid:\n  seed: [1, 2]\n  train.lr: [-1]\n", f);
    fclose(f);
    eos_sweep sw;
    EXPECT(eos_sweep_load(&sw, p) == EOS_ERR_CONFIG, " ");
    char want[256];
    snprintf(want, sizeof want, "%s:4:14: train.lr: must be > 0, got -1 (run 0: seed=1, train.lr=-1)", p);
    EXPECT(strcmp(eos_error_msg(), want) == 0, "got  %s\n       want %s", eos_error_msg(), want);
    EXPECT(eos_sweep_load(&sw, "/nope/sweep.yaml") == EOS_ERR_IO, " ");
    EXPECT(strstr(eos_error_msg(), "/nope/sweep.yaml") != NULL, "%s", eos_error_msg());
    remove(p);
}

static void test_quickstart(void)
{
    eos_sweep sw;
    EXPECT(eos_sweep_parse(&sw, "quickstart.yaml", eos_quickstart_yaml, strlen(eos_quickstart_yaml)) == 0,
           "%s", eos_error_msg());
    EXPECT(sw.n_runs == 2, "%ld", sw.n_runs);
    eos_sweep_free(&sw);
}

/* 1000 x 100 runs: expansion must stay cheap (no timing assertion; printed for information). */
static void test_large_expansion(void)
{
    size_t cap = 64 * 1024;
    char *t = malloc(cap);
    size_t pos = (size_t)snprintf(t, cap, SYN "grid:\n  train.lr: [");
    for (int i = 0; i < 100; i++) pos += (size_t)snprintf(t + pos, cap - pos, "%s%g", i ? ", " : "", 0.001 * (i + 1));
    pos += (size_t)snprintf(t + pos, cap - pos, "]\n  seed: [");
    for (int i = 0; i < 1000; i++) pos += (size_t)snprintf(t + pos, cap - pos, "%s%d", i ? ", " : "", i);
    snprintf(t + pos, cap - pos, "]\n");
    eos_sweep sw;
    double t0 = eos_now();
    int rc = parse(&sw, t);
    double dt = eos_now() - t0;
    EXPECT(rc == 0, "%s", eos_error_msg());
    EXPECT(sw.n_runs == 100000 && sw.n_duplicates == 0, "%ld", sw.n_runs);
    fprintf(stderr, "  100000 runs expanded in %.3f s\n", dt);
    eos_config c;
    EXPECT(eos_sweep_run_config(&sw, 99999, &c) == 0 && c.seed == 999 && c.train.lr == 0.1, " ");
    EXPECT(eos_sweep_run_config(&sw, 1000, &c) == 0 && c.seed == 0 && c.train.lr == 0.002, " ");
    eos_sweep_free(&sw);
    free(t);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/eos_sweep_test_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    TEST_RUN(test_sha256);
    TEST_RUN(test_no_grid);
    TEST_RUN(test_product_order);
    TEST_RUN(test_union_zip);
    TEST_RUN(test_duplicates);
    TEST_RUN(test_hidden_axis);
    TEST_RUN(test_slots_k);
    TEST_RUN(test_syntax_errors);
    TEST_RUN(test_key_errors);
    TEST_RUN(test_type_errors);
    TEST_RUN(test_range_errors);
    TEST_RUN(test_enum_errors);
    TEST_RUN(test_not_sweepable);
    TEST_RUN(test_zip_errors);
    TEST_RUN(test_data_files);
    TEST_RUN(test_round_trip);
    TEST_RUN(test_load_file);
    TEST_RUN(test_quickstart);
    TEST_RUN(test_large_expansion);
    rmdir(tmpdir);
    return TEST_SUMMARY();
}
