/* test_results.c: the parallel HDF5 results file. Run under mpirun -n 1 and -n 2.
 *
 * The file is checked with plain serial HDF5 calls (and h5py / h5dump when available) against
 * values generated here, never against what src/sweep/results.c reads back itself. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hdf5.h>
#include <hdf5_hl.h>

#include "eos_results.h"
#include "eos_test.h"

extern char **environ;

#define N_RUNS 6
#define REC 7   /* rec_slots: max_steps 60 / record_every 10 + 1 */
#define SHARP 4 /* sharp_slots: 60 / 20 + 1 */
#define K 3
#define REC_EVERY 10
#define SHARP_EVERY 20

static const char sweep_text[] =
    "name: results-test\nbase:\n  train: {lr: 0.04, max_steps: 60}\ngrid:\n"
    "  train.lr: [0.01, 0.02, 0.04]\n  model.activation: [tanh, softplus]\n";
/* sha256 of sweep_text, computed independently with Python's hashlib */
static const char sweep_sha[] = "2d8a91fc3e91a87215de7e55ec360466d47e26d201ca40a2f37d7bbf02beed90";

static const char *lr_vals[3] = {"0.01", "0.02", "0.04"};
static const char *act_vals[2] = {"tanh", "softplus"};
static const char *steps_vals[3] = {"60", "50", "40"};
static const long max_steps[3] = {60, 50, 40};

static int g_rank, g_size;
static char g_dir[256], g_path[320], g_path2[320];
static eos_sweep g_sw;
static eos_axis g_axes[3];
static char *g_values[N_RUNS * 3];

static void build_sweep(eos_sweep *sw)
{
    memset(sw, 0, sizeof *sw);
    snprintf(sw->file, sizeof sw->file, "results-test.yaml");
    sw->text = (char *)sweep_text;
    sw->text_len = strlen(sweep_text);
    snprintf(sw->sha256, sizeof sw->sha256, "%s", sweep_sha);
    snprintf(sw->name, sizeof sw->name, "results-test");
    eos_config_default(&sw->base);
    sw->base.sharpness.k = K; /* the file's eig width is the largest k of any run */
    const char *paths[3] = {"train.lr", "model.activation", "train.max_steps"};
    const eos_col_type types[3] = {EOS_COL_NUMBER, EOS_COL_STRING, EOS_COL_INT};
    for (int a = 0; a < 3; a++) {
        snprintf(g_axes[a].path, sizeof g_axes[a].path, "%s", paths[a]);
        g_axes[a].key = eos_config_key_find(paths[a]);
        g_axes[a].col = types[a];
    }
    for (int i = 0; i < N_RUNS; i++) {
        g_values[i * 3 + 0] = (char *)lr_vals[i % 3];
        g_values[i * 3 + 1] = (char *)act_vals[i / 3];
        g_values[i * 3 + 2] = (char *)steps_vals[i % 3];
    }
    sw->n_axes = 3;
    sw->axes = g_axes;
    sw->n_runs = N_RUNS;
    sw->values = g_values;
    sw->rec_slots = REC;
    sw->sharp_slots = SHARP;
    sw->k = K;
    sw->record_every = REC_EVERY;
    sw->sharp_every = SHARP_EVERY;
}

/* ---- the result of run i, generated deterministically (the oracle for read-back) ---- */

static int cap_rec(int i) { return (int)(max_steps[i % 3] / REC_EVERY) + 1; }
static int cap_sharp(int i) { return (int)(max_steps[i % 3] / SHARP_EVERY) + 1; }
static int run_k(int i) { return i % 2 ? 1 : K; }
static int n_rec(int i) { return cap_rec(i) - (i % 2); }
static int run_status(int i) { return i == 1 ? EOS_RUN_DIVERGED : i == 2 ? EOS_RUN_FAILED : EOS_RUN_DONE; }

/* trajectory t (0..4) slot j of run i; NaN where the run has no value */
static float traj_val(int i, int t, int j)
{
    if (j >= n_rec(i) || (t == 3 && i == 4)) return NAN; /* run 4: test_loss array absent */
    return 1.0f / (float)(1 + i + j) + 0.25f * (float)t + 0.001f * (float)j;
}
/* sharp series s (0..3: precond, trace, batch, dir) */
static float sharp_val(int i, int s, int j)
{
    if (j >= cap_sharp(i) - (i % 2) || (s == 0 && i == 0)) return NAN; /* run 0: no precond */
    return 3.0f * (float)i + (float)s + 0.125f * (float)j;
}
static float eig_val(int i, int j, int e)
{
    if (j >= cap_sharp(i) - (i % 2) || e >= run_k(i)) return NAN;
    return 100.0f * (float)i + 10.0f * (float)j - (float)e;
}
static double final_val(int i, int c) { return 0.1 * i + 1.0 / (3 + c); }
static int32_t hvps_val(int i, int j) { return j < cap_sharp(i) - (i % 2) ? 3 + i + 2 * j : 0; }
/* /sharp/seconds: NaN where nothing was measured */
static float seconds_val(int i, int j)
{
    return j < cap_sharp(i) - (i % 2) ? 0.25f * (float)(i + 1) + (float)j : NAN;
}

/* ---- the same through the probe table: output o of probe p, file extents ext_file ---- */

static int g_ext[EOS_CURV_MAX_PROBES][EOS_CURV_MAX_OUTPUTS][EOS_CURV_MAX_DIMS];

/* The file's extents of every output: the largest any run's configuration gives. */
static void table_extents(void)
{
    eos_config cfg;
    memset(g_ext, 0, sizeof g_ext);
    for (int i = 0; i < N_RUNS; i++) {
        EXPECT(eos_sweep_run_config(&g_sw, i, &cfg) == 0, "run config %d", i);
        for (int p = 0; p < eos_curv_n_probes; p++)
            for (int o = 0; o < eos_curv_n_outputs(eos_curv_probes[p]); o++) {
                int d[EOS_CURV_MAX_DIMS];
                eos_curv_output_size(eos_curv_probes[p], o, &cfg, d);
                for (int k = 0; k < EOS_CURV_MAX_DIMS; k++)
                    if (d[k] > g_ext[p][o][k]) g_ext[p][o][k] = d[k];
            }
    }
}

/* Run i's extents of an output: odd runs measure one value per dimension (eig: k = 1) where the
 * file's extent is not 0 (a probe that no run turns on, e.g. density_probes 0). */
static int run_ext(int i, int p, int o, int k)
{
    int e = g_ext[p][o][k];
    return k < eos_curv_probes[p]->out[o].ndims && i % 2 && e > 0 ? 1 : e;
}

/* Value e (row-major in the run's extents: a, b) of output o of probe p at slot j of run i: the
 * named generators above for today's probes, a formula for any other. */
static float probe_val(int i, int p, int o, int j, int a, int b)
{
    const char *name = eos_curv_probes[p]->out[o].name;
    static const char *const scalars[4] = {"precond_eig", "trace", "batch_sharp", "dir_sharp"};
    if (!strcmp(name, "eig")) return eig_val(i, j, a);
    for (int s = 0; s < 4; s++)
        if (!strcmp(name, scalars[s])) return sharp_val(i, s, j);
    if (j >= cap_sharp(i) - (i % 2)) return NAN;
    return 1000.0f * (float)p + 100.0f * (float)o + 10.0f * (float)i + (float)j +
           0.01f * (float)a + 0.001f * (float)b;
}

/* Fill res (arrays malloc'ed, freed with free_result) for run i, trained by `rank`. */
static void make_result(int i, int rank, eos_run_result *res)
{
    memset(res, 0, sizeof *res);
    res->status = run_status(i);
    res->steps = 10L * n_rec(i) + i;
    res->final_loss = final_val(i, 0);
    res->final_acc = final_val(i, 1);
    res->final_test_loss = final_val(i, 2);
    res->final_test_acc = final_val(i, 3);
    res->final_sharpness = final_val(i, 4);
    res->diverged_step = i == 1 ? 37 : -1;
    res->wall_seconds = 1.5 + i;
    res->rank = rank;
    snprintf(res->message, sizeof res->message,
             i == 2 ? "eigensolver broke down at step %d (run %d)" : "ok %d %d", 40, i);
    res->cap_rec = cap_rec(i);
    res->n_rec = n_rec(i);
    for (int t = 0; t < EOS_TRAJ_N; t++) {
        if (t == 3 && i == 4) continue;
        res->traj[t] = malloc(sizeof(float) * (size_t)res->cap_rec);
        for (int j = 0; j < res->cap_rec; j++) res->traj[t][j] = traj_val(i, t, j);
    }
    res->cap_sharp = cap_sharp(i);
    res->n_sharp = cap_sharp(i) - (i % 2);
    eos_curv_traj *st = &res->sharp;
    for (int p = 0; p < eos_curv_n_probes; p++) {
        const eos_curv_probe *pr = eos_curv_probes[p];
        int width = 0;
        for (int o = 0; o < eos_curv_n_outputs(pr); o++) {
            int size = 1;
            for (int k = 0; k < EOS_CURV_MAX_DIMS; k++) {
                st->ext[p][o][k] = k < pr->out[o].ndims ? run_ext(i, p, o, k) : 1;
                size *= st->ext[p][o][k];
            }
            width += size;
        }
        st->width[p] = width;
        if (!strcmp(pr->name, "precond_eig") && i == 0) continue; /* run 0: array absent */
        float *v = st->vals[p] = malloc(sizeof(float) * (size_t)(res->cap_sharp * width + 1));
        for (int j = 0; j < res->cap_sharp; j++)
            for (int o = 0; o < eos_curv_n_outputs(pr); o++)
                for (int a = 0; a < st->ext[p][o][0]; a++)
                    for (int b = 0; b < st->ext[p][o][1]; b++) *v++ = probe_val(i, p, o, j, a, b);
    }
    st->hvps = malloc(sizeof(int32_t) * (size_t)res->cap_sharp);
    for (int j = 0; j < res->cap_sharp; j++) st->hvps[j] = hvps_val(i, j);
    st->seconds = malloc(sizeof(float) * (size_t)res->cap_sharp);
    for (int j = 0; j < res->cap_sharp; j++) st->seconds[j] = seconds_val(i, j);
}

static void free_result(eos_run_result *res)
{
    for (int t = 0; t < EOS_TRAJ_N; t++) free(res->traj[t]);
    for (int p = 0; p < eos_curv_n_probes; p++) free(res->sharp.vals[p]);
    free(res->sharp.hvps);
    free(res->sharp.seconds);
}

/* ---- serial HDF5 inspection helpers (rank 0) ---- */

static int same_float(float a, float b) { return (isnan(a) && isnan(b)) || a == b; }
static int same_double(double a, double b) { return (isnan(a) && isnan(b)) || a == b; }

static int ds_shape(hid_t f, const char *name, H5T_class_t *cls, size_t *size, int *nd,
                    hsize_t *dims)
{
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0) return -1;
    hid_t t = H5Dget_type(d), s = H5Dget_space(d);
    *cls = H5Tget_class(t);
    *size = H5Tget_size(t);
    *nd = H5Sget_simple_extent_ndims(s);
    if (*nd > 0) H5Sget_simple_extent_dims(s, dims, NULL);
    H5Tclose(t);
    H5Sclose(s);
    H5Dclose(d);
    return 0;
}

static int read_ds(hid_t f, const char *name, hid_t mtype, void *buf)
{
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0) return -1;
    herr_t e = H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
    H5Dclose(d);
    return e < 0 ? -1 : 0;
}

/* Read a fixed-length string column (n values of width w) into out[n][256]. */
static int read_str_col(hid_t f, const char *name, int n, char out[][4096], size_t *width)
{
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0) return -1;
    hid_t t = H5Dget_type(d);
    size_t w = H5Tget_size(t);
    *width = w;
    char *buf = calloc((size_t)n, w);
    herr_t e = H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
    for (int i = 0; i < n; i++) {
        size_t m = w < 4095 ? w : 4095;
        memcpy(out[i], buf + (size_t)i * w, m);
        out[i][m] = '\0';
    }
    free(buf);
    H5Tclose(t);
    H5Dclose(d);
    return e < 0 ? -1 : 0;
}

static void attr_string(hid_t f, const char *name, char *buf, size_t len)
{
    buf[0] = '\0';
    hid_t a = H5Aopen(f, name, H5P_DEFAULT);
    if (a < 0) return;
    hid_t t = H5Aget_type(a);
    if (H5Tis_variable_str(t) > 0) {
        char *p = NULL;
        if (H5Aread(a, t, &p) >= 0 && p) snprintf(buf, len, "%s", p);
        H5free_memory(p);
    }
    H5Tclose(t);
    H5Aclose(a);
}

static long long attr_int(hid_t f, const char *name)
{
    long long v = -12345;
    hid_t a = H5Aopen(f, name, H5P_DEFAULT);
    if (a < 0) return v;
    H5Aread(a, H5T_NATIVE_LLONG, &v);
    H5Aclose(a);
    return v;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    *len = fread(b, 1, (size_t)n, fp);
    fclose(fp);
    return b;
}

static int file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static void expected_config(int i, char *buf, size_t len)
{
    eos_config cfg;
    buf[0] = '\0';
    if (eos_sweep_run_config(&g_sw, i, &cfg) == 0) eos_config_to_yaml(&cfg, buf, len);
}

static const char *traj_names[5] = {"loss", "acc", "grad_norm", "test_loss", "test_acc"};
static const char *sharp_names[4] = {"precond_eig", "trace", "batch_sharp", "dir_sharp"};

/* Check run i in an open file against the generator: written (with `rank`) or pristine. */
static void check_run(hid_t f, int i, int written, int rank)
{
    char name[64];
    float tr[N_RUNS][REC], sh[N_RUNS][SHARP], eg[N_RUNS][SHARP][K];
    for (int t = 0; t < 5; t++) {
        snprintf(name, sizeof name, "traj/%s", traj_names[t]);
        EXPECT(read_ds(f, name, H5T_NATIVE_FLOAT, tr) == 0, "read %s", name);
        for (int j = 0; j < REC; j++) {
            float want = written ? traj_val(i, t, j) : NAN;
            EXPECT(same_float(tr[i][j], want), "run %d %s[%d] = %g, want %g", i, name, j,
                   tr[i][j], want);
        }
    }
    for (int s = 0; s < 4; s++) {
        snprintf(name, sizeof name, "sharp/%s", sharp_names[s]);
        EXPECT(read_ds(f, name, H5T_NATIVE_FLOAT, sh) == 0, "read %s", name);
        for (int j = 0; j < SHARP; j++) {
            float want = written ? sharp_val(i, s, j) : NAN;
            EXPECT(same_float(sh[i][j], want), "run %d %s[%d] = %g, want %g", i, name, j,
                   sh[i][j], want);
        }
    }
    EXPECT(read_ds(f, "sharp/eig", H5T_NATIVE_FLOAT, eg) == 0, "read eig");
    for (int j = 0; j < SHARP; j++)
        for (int e = 0; e < K; e++) {
            float want = written ? eig_val(i, j, e) : NAN;
            EXPECT(same_float(eg[i][j][e], want), "run %d eig[%d][%d] = %g, want %g", i, j, e,
                   eg[i][j][e], want);
        }
    /* every output of the probe table, as the table lays it out */
    for (int p = 0; p < eos_curv_n_probes; p++)
        for (int o = 0; o < eos_curv_n_outputs(eos_curv_probes[p]); o++) {
            const eos_curv_probe *pr = eos_curv_probes[p];
            int E0 = g_ext[p][o][0], E1 = g_ext[p][o][1];
            float *buf = malloc(sizeof(float) * N_RUNS * SHARP * (size_t)(E0 * E1) + 1);
            snprintf(name, sizeof name, "sharp/%s", pr->out[o].name);
            EXPECT(read_ds(f, name, H5T_NATIVE_FLOAT, buf) == 0, "read %s", name);
            for (int j = 0; j < SHARP; j++)
                for (int a = 0; a < E0; a++)
                    for (int b = 0; b < E1; b++) {
                        float got = buf[(((size_t)i * SHARP + j) * E0 + a) * E1 + b];
                        int in = a < run_ext(i, p, o, 0) && b < run_ext(i, p, o, 1) &&
                                 !(!strcmp(pr->name, "precond_eig") && i == 0);
                        float want = written && in ? probe_val(i, p, o, j, a, b) : NAN;
                        EXPECT(same_float(got, want), "run %d %s[%d][%d][%d] = %g, want %g", i,
                               name, j, a, b, got, want);
                    }
            free(buf);
        }
    int hv[N_RUNS][SHARP];
    EXPECT(read_ds(f, "sharp/hvps", H5T_NATIVE_INT, hv) == 0, "read hvps");
    for (int j = 0; j < SHARP; j++)
        EXPECT(hv[i][j] == (written ? hvps_val(i, j) : 0), "run %d hvps[%d] = %d", i, j, hv[i][j]);
    float sec[N_RUNS][SHARP];
    EXPECT(read_ds(f, "sharp/seconds", H5T_NATIVE_FLOAT, sec) == 0, "read seconds");
    for (int j = 0; j < SHARP; j++)
        EXPECT(same_float(sec[i][j], written ? seconds_val(i, j) : NAN), "run %d seconds[%d] = %g",
               i, j, sec[i][j]);
    double d[N_RUNS];
    const char *fin[5] = {"runs/final_loss", "runs/final_acc", "runs/final_test_loss",
                          "runs/final_test_acc", "runs/final_sharpness"};
    for (int c = 0; c < 5; c++) {
        EXPECT(read_ds(f, fin[c], H5T_NATIVE_DOUBLE, d) == 0, "read %s", fin[c]);
        EXPECT(same_double(d[i], written ? final_val(i, c) : NAN), "run %d %s = %g", i, fin[c],
               d[i]);
    }
    EXPECT(read_ds(f, "runs/wall_seconds", H5T_NATIVE_DOUBLE, d) == 0, "read wall");
    EXPECT(same_double(d[i], written ? 1.5 + i : NAN), "run %d wall %g", i, d[i]);
    long long l[N_RUNS];
    EXPECT(read_ds(f, "runs/steps", H5T_NATIVE_LLONG, l) == 0, "read steps");
    EXPECT(l[i] == (written ? 10L * n_rec(i) + i : 0), "run %d steps %lld", i, l[i]);
    EXPECT(read_ds(f, "runs/diverged_step", H5T_NATIVE_LLONG, l) == 0, "read diverged_step");
    EXPECT(l[i] == (written && i == 1 ? 37 : -1), "run %d diverged_step %lld", i, l[i]);
    int ri[N_RUNS];
    EXPECT(read_ds(f, "runs/rank", H5T_NATIVE_INT, ri) == 0, "read rank");
    EXPECT(ri[i] == (written ? rank : -1), "run %d rank %d, want %d", i, ri[i], written ? rank : -1);
    static char msg[N_RUNS][4096];
    size_t w;
    EXPECT(read_str_col(f, "runs/message", N_RUNS, msg, &w) == 0, "read message");
    EXPECT(w == EOS_MSG_MAX, "message width %zu", w);
    char want[EOS_MSG_MAX];
    snprintf(want, sizeof want,
             i == 2 ? "eigensolver broke down at step %d (run %d)" : "ok %d %d", 40, i);
    EXPECT(!strcmp(msg[i], written ? want : ""), "run %d message '%s'", i, msg[i]);
}

/* The names of a group's datasets, and its "datasets" attribute (variable-length strings). */
static int group_names(hid_t f, const char *group, char names[][64], int max)
{
    hid_t g = H5Gopen2(f, group, H5P_DEFAULT);
    H5G_info_t info;
    H5Gget_info(g, &info);
    int n = 0;
    for (hsize_t l = 0; l < info.nlinks && n < max; l++)
        H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, l, names[n++], 64, H5P_DEFAULT);
    H5Gclose(g);
    return n;
}

/* A string-list attribute of a group ("." = the root): "datasets" unless named. */
static int attr_list(hid_t f, const char *group, const char *attr, char names[][64], int max)
{
    hid_t g = H5Gopen2(f, group, H5P_DEFAULT), a = H5Aopen(g, attr, H5P_DEFAULT);
    hid_t s = H5Aget_space(a), t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    int n = (int)H5Sget_simple_extent_npoints(s);
    char **v = calloc((size_t)(n > 0 ? n : 1), sizeof *v);
    if (a < 0 || H5Aread(a, t, v) < 0) n = -1;
    for (int i = 0; i < n && i < max; i++) snprintf(names[i], 64, "%s", v[i]);
    if (n > 0) H5Dvlen_reclaim(t, s, H5P_DEFAULT, v);
    free(v);
    H5Tclose(t);
    H5Sclose(s);
    H5Aclose(a);
    H5Gclose(g);
    return n;
}

static int attr_names(hid_t f, const char *group, char names[][64], int max)
{
    return attr_list(f, group, "datasets", names, max);
}

static int has_name(char names[][64], int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(names[i], name)) return 1;
    return 0;
}

/* The numeric /runs result columns are eos_train.h's list: the root attributes result_columns
 * and result_fill name them and their fills, each column has its list type and, for a run not
 * yet written, its fill; the status enum has eos_train.h's names, which format 1 fixed. */
static void check_result_columns(hid_t f)
{
    static const struct {
        const char *name;
        H5T_class_t cls;
        size_t size;
        double fill;
    } want[] = {
#define WANT_COL(id, name, ctype, ftype, fill)                                                     \
    {#name, H5T_##ftype##_CLASS, H5T_##ftype##_SIZE, fill},
#define H5T_I64_CLASS H5T_INTEGER
#define H5T_I64_SIZE 8
#define H5T_I32_CLASS H5T_INTEGER
#define H5T_I32_SIZE 4
#define H5T_F64_CLASS H5T_FLOAT
#define H5T_F64_SIZE 8
        EOS_RESULT_COLUMNS(WANT_COL)
#undef WANT_COL
    };
    enum { N = sizeof want / sizeof *want };
    char names[64][64];
    double fills[64];
    int n = attr_list(f, ".", "result_columns", names, 64);
    EXPECT(n == N, "result_columns: %d names, eos_train.h lists %d", n, (int)N);
    hid_t a = H5Aopen(f, "result_fill", H5P_DEFAULT), s = H5Aget_space(a);
    EXPECT(a >= 0 && H5Sget_simple_extent_npoints(s) == N &&
               H5Aread(a, H5T_NATIVE_DOUBLE, fills) >= 0,
           "result_fill attribute");
    H5Sclose(s);
    H5Aclose(a);
    for (int c = 0; c < N && c < n; c++) {
        char path[96];
        H5T_class_t cls;
        size_t size;
        int nd = -1;
        hsize_t dims[4] = {0};
        double v[N_RUNS];
        EXPECT(!strcmp(names[c], want[c].name) && same_double(fills[c], want[c].fill),
               "result column %d: '%s' fill %g, want '%s' fill %g", c, names[c], fills[c],
               want[c].name, want[c].fill);
        snprintf(path, sizeof path, "runs/%s", want[c].name);
        EXPECT(ds_shape(f, path, &cls, &size, &nd, dims) == 0 && cls == want[c].cls &&
                   size == want[c].size && nd == 1 && dims[0] == N_RUNS,
               "%s type", path);
        EXPECT(read_ds(f, path, H5T_NATIVE_DOUBLE, v) == 0, "read %s", path);
        for (int i = 0; i < N_RUNS; i++)
            EXPECT(same_double(v[i], want[c].fill), "%s run %d = %g before it was written", path,
                   i, v[i]);
    }
    const char *format1[] = {"pending", "done", "diverged", "failed"};
    EXPECT(EOS_RUN_N_STATUSES == 4, "%d statuses", EOS_RUN_N_STATUSES);
    for (int st = 0; st < 4 && st < EOS_RUN_N_STATUSES; st++)
        EXPECT(!strcmp(eos_run_status_names[st], format1[st]),
               "status %d is '%s', format 1 says '%s'", st, eos_run_status_names[st], format1[st]);
}

/* The datasets of /traj and /sharp are exactly those of eos_train.h's list and of the probe
 * table (plus step and hvps), with the table's shapes, listed in the groups' "datasets"
 * attribute in table order; format_version 1's fixed names are all among them. */
static void check_table_layout(hid_t f)
{
    char in_group[64][64], in_attr[64][64], name[96];
    int ng = group_names(f, "traj", in_group, 64), na = attr_names(f, "traj", in_attr, 64);
    EXPECT(ng == EOS_TRAJ_N + 1 && has_name(in_group, ng, "step"), "/traj has %d datasets", ng);
    EXPECT(na == EOS_TRAJ_N, "/traj datasets attribute: %d names", na);
    for (int t = 0; t < EOS_TRAJ_N && t < na; t++) {
        EXPECT(!strcmp(in_attr[t], eos_traj_names[t]) && has_name(in_group, ng, in_attr[t]),
               "/traj name %d: '%s' vs '%s'", t, in_attr[t], eos_traj_names[t]);
        if (t < 5) /* format 1's first five; lr, threshold and flow_substeps came later */
            EXPECT(!strcmp(eos_traj_names[t], traj_names[t]),
                   "trajectory %d is '%s', format 1 says '%s'", t, eos_traj_names[t],
                   traj_names[t]);
    }
    ng = group_names(f, "sharp", in_group, 64);
    na = attr_names(f, "sharp", in_attr, 64);
    int n_out = 0;
    for (int p = 0; p < eos_curv_n_probes; p++) {
        const eos_curv_probe *pr = eos_curv_probes[p];
        for (int o = 0; o < eos_curv_n_outputs(pr); o++, n_out++) {
            EXPECT(n_out < na && !strcmp(in_attr[n_out], pr->out[o].name),
                   "/sharp datasets attribute %d: '%s', the table says '%s'", n_out,
                   n_out < na ? in_attr[n_out] : "", pr->out[o].name);
            H5T_class_t cls;
            size_t size;
            int nd = -1;
            hsize_t dims[4] = {0};
            snprintf(name, sizeof name, "sharp/%s", pr->out[o].name);
            EXPECT(ds_shape(f, name, &cls, &size, &nd, dims) == 0 && cls == H5T_FLOAT &&
                       size == 4 && nd == 2 + pr->out[o].ndims && dims[0] == N_RUNS &&
                       dims[1] == SHARP,
                   "%s: %d dimensions", name, nd);
            for (int k = 0; k < pr->out[o].ndims; k++)
                EXPECT(dims[2 + k] == (hsize_t)g_ext[p][o][k], "%s: dimension %d is %llu, want %d",
                       name, 2 + k, (unsigned long long)dims[2 + k], g_ext[p][o][k]);
            hid_t sc = H5Dopen2(f, "sharp/step", H5P_DEFAULT), d = H5Dopen2(f, name, H5P_DEFAULT);
            EXPECT(H5DSis_attached(d, sc, 1) > 0, "sharp/step not attached to %s dim 1", name);
            H5Dclose(d);
            H5Dclose(sc);
        }
    }
    EXPECT(na == n_out + 3 && !strcmp(in_attr[n_out], "hvps") &&
               !strcmp(in_attr[n_out + 1], "probe_hvps") && !strcmp(in_attr[n_out + 2], "seconds"),
           "/sharp lists %d, table %d + hvps + probe_hvps + seconds", na, n_out);
    EXPECT(ng == n_out + 4 && has_name(in_group, ng, "step") && has_name(in_group, ng, "hvps") &&
               has_name(in_group, ng, "probe_hvps") && has_name(in_group, ng, "seconds"),
           "/sharp has %d datasets: the table's %d, step, hvps, probe_hvps and seconds", ng, n_out);
    for (int i = 0; i < na; i++)
        EXPECT(has_name(in_group, ng, in_attr[i]), "%s listed", in_attr[i]);
    for (int s = 0; s < 4; s++)
        EXPECT(has_name(in_group, ng, sharp_names[s]), "%s", sharp_names[s]);
    EXPECT(has_name(in_group, ng, "eig"), "eig");
}

/* Status column as plain int8 values (the enum converts to its integer base). */
static void read_status_raw(hid_t f, int8_t *st)
{
    hid_t d = H5Dopen2(f, "runs/status", H5P_DEFAULT);
    hid_t t = H5Dget_type(d);
    H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, st);
    H5Tclose(t);
    H5Dclose(d);
}

static void check_dcpl(hid_t f, const char *name)
{
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    hid_t p = H5Dget_create_plist(d);
    H5D_alloc_time_t at;
    H5D_fill_time_t ft;
    H5O_info_t oi;
    H5Pget_alloc_time(p, &at);
    H5Pget_fill_time(p, &ft);
    /* the track-times property is not restored on reopen; the stored times tell (0 = none) */
    EXPECT(H5Oget_info2(d, &oi, H5O_INFO_TIME) >= 0, "%s: H5Oget_info2", name);
    EXPECT(H5Pget_layout(p) == H5D_CONTIGUOUS, "%s not contiguous", name);
    EXPECT(at == H5D_ALLOC_TIME_EARLY, "%s alloc time %d", name, (int)at);
    EXPECT(ft == H5D_FILL_TIME_ALLOC, "%s fill time %d", name, (int)ft);
    EXPECT(oi.mtime == 0 && oi.ctime == 0, "%s stores times (mtime %ld)", name, (long)oi.mtime);
    H5Pclose(p);
    H5Dclose(d);
}

/* ---- test cases ---- */

static void test_create_layout(void)
{
    eos_results *r = NULL;
    if (g_rank == 0) unlink(g_path);
    MPI_Barrier(MPI_COMM_WORLD);
    int rc = eos_results_open(&r, MPI_COMM_WORLD, g_path, &g_sw, EOS_RESULTS_CREATE);
    EXPECT(rc == 0, "create: %s", eos_error_msg());
    if (rc == 0) EXPECT(eos_results_close(r) == 0, "close: %s", eos_error_msg());
    MPI_Barrier(MPI_COMM_WORLD);
    if (g_rank != 0) return;

    char tmp[400];
    snprintf(tmp, sizeof tmp, "%s.tmp", g_path);
    EXPECT(!file_exists(tmp), "temporary file left behind");
    hid_t f = H5Fopen(g_path, H5F_ACC_RDONLY, H5P_DEFAULT);
    EXPECT(f >= 0, "serial open of %s", g_path);
    if (f < 0) return;
    char s[256];
    attr_string(f, "format", s, sizeof s);
    EXPECT(!strcmp(s, "eosweep-results"), "format '%s'", s);
    EXPECT(attr_int(f, "format_version") == 1, "format_version");
    attr_string(f, "eosweep_version", s, sizeof s);
    EXPECT(!strcmp(s, EOS_VERSION), "eosweep_version '%s'", s);
    attr_string(f, "created", s, sizeof s);
    EXPECT(strlen(s) == 20 && s[4] == '-' && s[10] == 'T' && s[19] == 'Z', "created '%s'", s);
    attr_string(f, "sweep_sha256", s, sizeof s);
    EXPECT(!strcmp(s, sweep_sha), "sweep_sha256 '%s'", s);
    attr_string(f, "name", s, sizeof s);
    EXPECT(!strcmp(s, "results-test"), "name '%s'", s);
    attr_string(f, "precision", s, sizeof s);
    EXPECT(!strcmp(s, EOS_REAL_NAME), "precision '%s'", s);
    EXPECT(attr_int(f, "n_runs") == N_RUNS, "n_runs");
    EXPECT(attr_int(f, "record_every") == REC_EVERY, "record_every");
    EXPECT(attr_int(f, "sharp_every") == SHARP_EVERY, "sharp_every");
    EXPECT(attr_int(f, "k") == K, "k");

    H5T_class_t cls;
    size_t size;
    int nd;
    hsize_t dims[3];
    /* /sweep: scalar fixed-length string, the text verbatim */
    EXPECT(ds_shape(f, "sweep", &cls, &size, &nd, dims) == 0, "/sweep missing");
    EXPECT(cls == H5T_STRING && size == strlen(sweep_text) && nd == 0, "/sweep type %d size %zu nd %d",
           (int)cls, size, nd);
    {
        char *buf = calloc(1, size + 1);
        hid_t d = H5Dopen2(f, "sweep", H5P_DEFAULT), t = H5Dget_type(d);
        H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
        EXPECT(!strcmp(buf, sweep_text), "/sweep text differs: '%s'", buf);
        H5Tclose(t);
        H5Dclose(d);
        free(buf);
    }
    /* axes */
    double lr[N_RUNS];
    long long ms[N_RUNS];
    static char act[N_RUNS][4096];
    EXPECT(ds_shape(f, "runs/train.lr", &cls, &size, &nd, dims) == 0, "runs/train.lr missing");
    EXPECT(cls == H5T_FLOAT && size == 8 && nd == 1 && dims[0] == N_RUNS, "train.lr type");
    EXPECT(read_ds(f, "runs/train.lr", H5T_NATIVE_DOUBLE, lr) == 0, "read train.lr");
    EXPECT(ds_shape(f, "runs/train.max_steps", &cls, &size, &nd, dims) == 0, "max_steps missing");
    EXPECT(cls == H5T_INTEGER && size == 8 && nd == 1 && dims[0] == N_RUNS, "max_steps type");
    EXPECT(read_ds(f, "runs/train.max_steps", H5T_NATIVE_LLONG, ms) == 0, "read max_steps");
    EXPECT(read_str_col(f, "runs/model.activation", N_RUNS, act, &size) == 0, "read activation");
    EXPECT(size == strlen("softplus"), "activation width %zu (longest value is 8)", size);
    for (int i = 0; i < N_RUNS; i++) {
        EXPECT(lr[i] == strtod(lr_vals[i % 3], NULL), "run %d lr %g", i, lr[i]);
        EXPECT(ms[i] == max_steps[i % 3], "run %d max_steps %lld", i, ms[i]);
        EXPECT(!strcmp(act[i], act_vals[i / 3]), "run %d activation '%s'", i, act[i]);
    }
    /* seed and config: what the sweep module resolves for each run */
    unsigned long long seed[N_RUNS];
    EXPECT(ds_shape(f, "runs/seed", &cls, &size, &nd, dims) == 0, "seed missing");
    {
        hid_t d = H5Dopen2(f, "runs/seed", H5P_DEFAULT), t = H5Dget_type(d);
        EXPECT(cls == H5T_INTEGER && size == 8 && H5Tget_sign(t) == H5T_SGN_NONE, "seed type");
        H5Tclose(t);
        H5Dclose(d);
    }
    EXPECT(read_ds(f, "runs/seed", H5T_NATIVE_ULLONG, seed) == 0, "read seed");
    static char cfgs[N_RUNS][4096];
    char want[4096];
    size_t width, longest = 0;
    EXPECT(read_str_col(f, "runs/config", N_RUNS, cfgs, &width) == 0, "read config");
    for (int i = 0; i < N_RUNS; i++) {
        eos_config cfg;
        EXPECT(eos_sweep_run_config(&g_sw, i, &cfg) == 0, "run config %d", i);
        EXPECT(seed[i] == cfg.seed, "run %d seed %llu", i, seed[i]);
        expected_config(i, want, sizeof want);
        if (strlen(want) > longest) longest = strlen(want);
        EXPECT(!strcmp(cfgs[i], want), "run %d config differs", i);
    }
    EXPECT(width == longest, "config width %zu, longest %zu", width, longest);
    /* threshold: every run is gd, so 2/lr on the top Hessian eigenvalue, known before training */
    double thr[N_RUNS];
    int8_t pre[N_RUNS];
    EXPECT(ds_shape(f, "runs/threshold", &cls, &size, &nd, dims) == 0 && cls == H5T_FLOAT &&
               size == 8 && nd == 1 && dims[0] == N_RUNS,
           "threshold type");
    EXPECT(ds_shape(f, "runs/threshold_preconditioned", &cls, &size, &nd, dims) == 0 &&
               cls == H5T_INTEGER && size == 1 && nd == 1 && dims[0] == N_RUNS,
           "threshold_preconditioned type");
    EXPECT(read_ds(f, "runs/threshold", H5T_NATIVE_DOUBLE, thr) == 0, "read threshold");
    EXPECT(read_ds(f, "runs/threshold_preconditioned", H5T_NATIVE_INT8, pre) == 0, "read");
    for (int i = 0; i < N_RUNS; i++)
        EXPECT(thr[i] == 2 / strtod(lr_vals[i % 3], NULL) && pre[i] == 0, "run %d: %g, %d", i,
               thr[i], pre[i]);

    /* status: enum over int8, all pending */
    {
        hid_t d = H5Dopen2(f, "runs/status", H5P_DEFAULT), t = H5Dget_type(d);
        EXPECT(H5Tget_class(t) == H5T_ENUM && H5Tget_size(t) == 1, "status type");
        EXPECT(H5Tget_nmembers(t) == 4, "status members");
        const char *names[4] = {"pending", "done", "diverged", "failed"};
        for (int m = 0; m < 4 && H5Tget_nmembers(t) == 4; m++) {
            char *mn = H5Tget_member_name(t, (unsigned)m);
            int8_t v = -1;
            H5Tget_member_value(t, (unsigned)m, &v);
            EXPECT(mn && !strcmp(names[v >= 0 && v < 4 ? v : 0], mn), "member %d '%s' = %d", m,
                   mn ? mn : "?", v);
            H5free_memory(mn);
        }
        H5Tclose(t);
        H5Dclose(d);
        int8_t st[N_RUNS];
        read_status_raw(f, st);
        for (int i = 0; i < N_RUNS; i++) EXPECT(st[i] == 0, "run %d status %d", i, st[i]);
    }
    check_result_columns(f);
    /* result columns: types and fills (format_version 1's names) */
    const char *f64[] = {"final_loss", "final_acc", "final_test_loss", "final_test_acc",
                         "final_sharpness", "wall_seconds"};
    char name[64];
    for (int c = 0; c < 6; c++) {
        snprintf(name, sizeof name, "runs/%s", f64[c]);
        EXPECT(ds_shape(f, name, &cls, &size, &nd, dims) == 0 && cls == H5T_FLOAT && size == 8 &&
                   nd == 1 && dims[0] == N_RUNS,
               "%s type", name);
    }
    EXPECT(ds_shape(f, "runs/steps", &cls, &size, &nd, dims) == 0 && cls == H5T_INTEGER &&
               size == 8,
           "steps type");
    EXPECT(ds_shape(f, "runs/diverged_step", &cls, &size, &nd, dims) == 0 &&
               cls == H5T_INTEGER && size == 8,
           "diverged_step type");
    EXPECT(ds_shape(f, "runs/rank", &cls, &size, &nd, dims) == 0 && cls == H5T_INTEGER &&
               size == 4,
           "rank type");
    EXPECT(ds_shape(f, "runs/message", &cls, &size, &nd, dims) == 0 && cls == H5T_STRING &&
               size == EOS_MSG_MAX,
           "message type");
    for (int i = 0; i < N_RUNS; i++) check_run(f, i, 0, -1);

    /* trajectories and sharpness: shapes, step scales */
    for (int t = 0; t < 5; t++) {
        snprintf(name, sizeof name, "traj/%s", traj_names[t]);
        EXPECT(ds_shape(f, name, &cls, &size, &nd, dims) == 0 && cls == H5T_FLOAT && size == 4 &&
                   nd == 2 && dims[0] == N_RUNS && dims[1] == REC,
               "%s shape", name);
    }
    for (int s = 0; s < 4; s++) {
        snprintf(name, sizeof name, "sharp/%s", sharp_names[s]);
        EXPECT(ds_shape(f, name, &cls, &size, &nd, dims) == 0 && cls == H5T_FLOAT && size == 4 &&
                   nd == 2 && dims[0] == N_RUNS && dims[1] == SHARP,
               "%s shape", name);
    }
    EXPECT(ds_shape(f, "sharp/eig", &cls, &size, &nd, dims) == 0 && nd == 3 &&
               dims[0] == N_RUNS && dims[1] == SHARP && dims[2] == K,
           "eig shape");
    EXPECT(ds_shape(f, "sharp/hvps", &cls, &size, &nd, dims) == 0 && cls == H5T_INTEGER &&
               size == 4 && nd == 2 && dims[0] == N_RUNS && dims[1] == SHARP,
           "hvps shape");
    check_table_layout(f);
    long long steps[REC];
    EXPECT(read_ds(f, "traj/step", H5T_NATIVE_LLONG, steps) == 0, "traj/step");
    for (int j = 0; j < REC; j++) EXPECT(steps[j] == (long long)j * REC_EVERY, "traj step %d", j);
    EXPECT(read_ds(f, "sharp/step", H5T_NATIVE_LLONG, steps) == 0, "sharp/step");
    for (int j = 0; j < SHARP; j++)
        EXPECT(steps[j] == (long long)j * SHARP_EVERY, "sharp step %d", j);
    {
        hid_t sc = H5Dopen2(f, "traj/step", H5P_DEFAULT), d = H5Dopen2(f, "traj/loss", H5P_DEFAULT);
        EXPECT(H5DSis_scale(sc) > 0, "traj/step is not a dimension scale");
        EXPECT(H5DSis_attached(d, sc, 1) > 0, "traj/step not attached to traj/loss dim 1");
        H5Dclose(d);
        H5Dclose(sc);
        sc = H5Dopen2(f, "sharp/step", H5P_DEFAULT);
        d = H5Dopen2(f, "sharp/eig", H5P_DEFAULT);
        EXPECT(H5DSis_attached(d, sc, 1) > 0, "sharp/step not attached to sharp/eig dim 1");
        H5Dclose(d);
        H5Dclose(sc);
    }
    check_dcpl(f, "runs/status");
    check_dcpl(f, "runs/message");
    check_dcpl(f, "traj/loss");
    check_dcpl(f, "sharp/eig");
    H5Fclose(f);
}

static void test_write_resume(void)
{
    eos_results *r = NULL;
    int rc = eos_results_open(&r, MPI_COMM_WORLD, g_path, &g_sw, EOS_RESULTS_RESUME);
    EXPECT(rc == 0, "resume: %s", eos_error_msg());
    if (rc != 0) return; /* all ranks agree on rc */
    /* rank q writes runs i % size == q; the last run stays pending */
    for (int i = 0; i < N_RUNS - 1; i++) {
        if (i % g_size != g_rank) continue;
        eos_run_result res;
        make_result(i, g_rank, &res);
        EXPECT(eos_results_write_run(r, i, &res) == 0, "write %d: %s", i, eos_error_msg());
        free_result(&res);
    }
    int8_t st[N_RUNS];
    EXPECT(eos_results_read_status(r, st) == 0, "read_status: %s", eos_error_msg());
    for (int i = 0; i < N_RUNS; i++)
        EXPECT(st[i] == (i < N_RUNS - 1 ? run_status(i) : 0), "rank %d: run %d status %d", g_rank,
               i, st[i]);
    EXPECT(eos_results_close(r) == 0, "close: %s", eos_error_msg());

    /* A resume that writes nothing must not change a byte (no metadata writes at open/close). */
    size_t n0 = 0, n1 = 0;
    char *before = g_rank == 0 ? slurp(g_path, &n0) : NULL;
    MPI_Barrier(MPI_COMM_WORLD);
    rc = eos_results_open(&r, MPI_COMM_WORLD, g_path, &g_sw, EOS_RESULTS_RESUME);
    EXPECT(rc == 0, "resume 2: %s", eos_error_msg());
    if (rc != 0) return;
    memset(st, 9, sizeof st);
    EXPECT(eos_results_read_status(r, st) == 0, "read_status: %s", eos_error_msg());
    for (int i = 0; i < N_RUNS; i++)
        EXPECT(st[i] == (i < N_RUNS - 1 ? run_status(i) : 0), "rank %d: run %d status %d after reopen",
               g_rank, i, st[i]);
    EXPECT(eos_results_close(r) == 0, "close: %s", eos_error_msg());
    MPI_Barrier(MPI_COMM_WORLD);
    if (g_rank != 0) return;
    char *after = slurp(g_path, &n1);
    EXPECT(before && after && n0 == n1 && !memcmp(before, after, n0),
           "read-only resume changed the file");
    free(before);
    free(after);

    hid_t f = H5Fopen(g_path, H5F_ACC_RDONLY, H5P_DEFAULT);
    EXPECT(f >= 0, "serial open");
    if (f < 0) return;
    int8_t raw[N_RUNS];
    read_status_raw(f, raw);
    for (int i = 0; i < N_RUNS; i++) {
        EXPECT(raw[i] == (i < N_RUNS - 1 ? run_status(i) : 0), "run %d status %d", i, raw[i]);
        check_run(f, i, i < N_RUNS - 1, i % g_size);
    }
    H5Fclose(f);
}

/* Every rank must get the same failure; the file must be byte-identical afterwards. */
static void expect_refused(const eos_sweep *sw, eos_results_mode mode, const char *path,
                           int want_rc, const char *want_msg)
{
    size_t n0 = 0, n1 = 0;
    char *before = g_rank == 0 ? slurp(path, &n0) : NULL;
    MPI_Barrier(MPI_COMM_WORLD);
    eos_results *r = NULL;
    int rc = eos_results_open(&r, MPI_COMM_WORLD, path, sw, mode);
    EXPECT(rc == want_rc, "rank %d: rc %d (%s), want %d", g_rank, rc, eos_error_msg(), want_rc);
    EXPECT(r == NULL, "handle returned on failure");
    EXPECT(strstr(eos_error_msg(), want_msg) && strstr(eos_error_msg(), path),
           "message '%s' lacks '%s' or the path", eos_error_msg(), want_msg);
    EXPECT(!strchr(eos_error_msg(), '\n'), "message is not one line");
    if (g_rank == 0) fprintf(stderr, "  (expected error: %s)\n", eos_error_msg());
    if (r) eos_results_close(r);
    MPI_Barrier(MPI_COMM_WORLD);
    if (g_rank == 0) {
        char *after = slurp(path, &n1);
        EXPECT((!before && !after) || (before && after && n0 == n1 && !memcmp(before, after, n0)),
               "%s was modified", path);
        char tmp[400];
        snprintf(tmp, sizeof tmp, "%s.tmp", path);
        EXPECT(!file_exists(tmp), "temporary file left behind");
        free(before);
        free(after);
    }
}

/* g_path2 = a copy of g_path without the n datasets names[] (rank 0). */
static void copy_without(const char *const *names, int n)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cp %s %s", g_path, g_path2);
    EXPECT(system(cmd) == 0, "cp");
    hid_t f = H5Fopen(g_path2, H5F_ACC_RDWR, H5P_DEFAULT);
    for (int i = 0; i < n; i++)
        EXPECT(H5Ldelete(f, names[i], H5P_DEFAULT) >= 0, "delete %s", names[i]);
    H5Fclose(f);
}

static void test_refusals(void)
{
    /* CREATE on an existing results file */
    expect_refused(&g_sw, EOS_RESULTS_CREATE, g_path, EOS_ERR_CONFIG,
                   "exists; use --force to overwrite or --resume to continue");
    /* RESUME with another sweep */
    eos_sweep other = g_sw;
    other.sha256[0] = other.sha256[0] == '0' ? '1' : '0';
    expect_refused(&other, EOS_RESULTS_RESUME, g_path, EOS_ERR_FORMAT, "sweep_sha256 mismatch");
    other = g_sw;
    other.n_runs = N_RUNS - 1;
    expect_refused(&other, EOS_RESULTS_RESUME, g_path, EOS_ERR_FORMAT, "n_runs mismatch");
    /* RESUME of a missing file */
    expect_refused(&g_sw, EOS_RESULTS_RESUME, g_path2, EOS_ERR_CONFIG, "does not exist");
    /* RESUME of a non-HDF5 file */
    if (g_rank == 0) {
        FILE *fp = fopen(g_path2, "w");
        fputs("this is not an HDF5 file\n", fp);
        fclose(fp);
    }
    expect_refused(&g_sw, EOS_RESULTS_RESUME, g_path2, EOS_ERR_FORMAT, "is not an HDF5 file");
    /* RESUME of an HDF5 file without the layout */
    if (g_rank == 0) {
        hid_t f = H5Fcreate(g_path2, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
        H5Fclose(f);
    }
    expect_refused(&g_sw, EOS_RESULTS_RESUME, g_path2, EOS_ERR_FORMAT,
                   "not an eosweep results file");
    /* RESUME of a results file that lost a dataset */
    if (g_rank == 0) copy_without((const char *[]){"traj/acc"}, 1);
    expect_refused(&g_sw, EOS_RESULTS_RESUME, g_path2, EOS_ERR_FORMAT, "/traj/acc missing");
    /* CREATE into a missing directory: clear error, nothing created */
    char bad[400];
    snprintf(bad, sizeof bad, "%s/no/such/dir/x.h5", g_dir);
    expect_refused(&g_sw, EOS_RESULTS_CREATE, bad, EOS_ERR_HDF5, "x.h5.tmp");
    if (g_rank == 0) unlink(g_path2);
}

/* A file made before /traj/lr, /traj/threshold, /traj/flow_substeps, the margins and
 * /runs/separated_step existed (by a sweep that cannot have set a schedule, used flow or the
 * logistic loss) resumes without them, and a run is written there with everything else. */
static void test_resume_without_lr(void)
{
    if (g_rank == 0)
        copy_without((const char *[]){"traj/lr", "traj/threshold", "traj/flow_substeps",
                                      "traj/margin", "traj/margin_p", "runs/separated_step"},
                     6);
    MPI_Barrier(MPI_COMM_WORLD);
    eos_results *r = NULL;
    int rc = eos_results_open(&r, MPI_COMM_WORLD, g_path2, &g_sw, EOS_RESULTS_RESUME);
    EXPECT(rc == 0, "resume of a file without /traj/lr: %s", eos_error_msg());
    if (rc != 0) return;
    const int i = N_RUNS - 1; /* pending after test_write_resume */
    if (i % g_size == g_rank) {
        eos_run_result res;
        make_result(i, g_rank, &res);
        EXPECT(eos_results_write_run(r, i, &res) == 0, "write %d: %s", i, eos_error_msg());
        free_result(&res);
    }
    EXPECT(eos_results_close(r) == 0, "close: %s", eos_error_msg());
    MPI_Barrier(MPI_COMM_WORLD);
    if (g_rank != 0) return;
    hid_t f = H5Fopen(g_path2, H5F_ACC_RDONLY, H5P_DEFAULT);
    EXPECT(f >= 0, "serial open");
    if (f < 0) return;
    check_run(f, i, 1, i % g_size);
    EXPECT(H5Lexists(f, "traj/lr", H5P_DEFAULT) == 0, "no /traj/lr was added");
    EXPECT(H5Lexists(f, "runs/separated_step", H5P_DEFAULT) == 0, "no /runs/separated_step");
    H5Fclose(f);
    unlink(g_path2);
}

static void test_force(void)
{
    size_t n0 = 0;
    char *before = g_rank == 0 ? slurp(g_path, &n0) : NULL;
    MPI_Barrier(MPI_COMM_WORLD);
    eos_results *r = NULL;
    int rc = eos_results_open(&r, MPI_COMM_WORLD, g_path, &g_sw, EOS_RESULTS_FORCE);
    EXPECT(rc == 0, "force: %s", eos_error_msg());
    if (rc != 0) return;
    int8_t st[N_RUNS];
    EXPECT(eos_results_read_status(r, st) == 0, "read_status: %s", eos_error_msg());
    for (int i = 0; i < N_RUNS; i++) EXPECT(st[i] == 0, "run %d status %d after force", i, st[i]);
    EXPECT(eos_results_close(r) == 0, "close: %s", eos_error_msg());
    MPI_Barrier(MPI_COMM_WORLD);
    if (g_rank == 0) {
        hid_t f = H5Fopen(g_path, H5F_ACC_RDONLY, H5P_DEFAULT);
        EXPECT(f >= 0, "open after force");
        if (f >= 0) {
            for (int i = 0; i < N_RUNS; i++) check_run(f, i, 0, -1);
            H5Fclose(f);
        }
        free(before);
    }
}

/* The child: a fresh MPI singleton (environment of mpirun removed) that resumes the file,
 * writes and is killed with SIGKILL. mode "self": writes runs 0 and 2, writes run 3 with a
 * pending status (a run that was killed before its status landed), then kills itself.
 * mode "loop": writes runs over and over until the parent kills it at an arbitrary moment. */
static int kill_child(const char *path, const char *mode, int ready_fd)
{
    MPI_Init(NULL, NULL);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    build_sweep(&g_sw);
    table_extents();
    eos_results *r = NULL;
    if (eos_results_open(&r, MPI_COMM_WORLD, path, &g_sw, EOS_RESULTS_RESUME) != 0) {
        fprintf(stderr, "child: %s\n", eos_error_msg());
        return 3;
    }
    eos_run_result res;
    if (!strcmp(mode, "self")) {
        const int runs[2] = {0, 2};
        for (int k = 0; k < 2; k++) {
            make_result(runs[k], 7, &res);
            if (eos_results_write_run(r, runs[k], &res) != 0) return 4;
            free_result(&res);
        }
        make_result(3, 7, &res);
        res.status = EOS_RUN_PENDING;
        if (eos_results_write_run(r, 3, &res) != 0) return 4;
        raise(SIGKILL);
    }
    for (long it = 0;; it++) {
        int i = (int)(it % N_RUNS);
        make_result(i, 7, &res);
        if (eos_results_write_run(r, i, &res) != 0) return 4;
        free_result(&res);
        if (it == N_RUNS) (void)!write(ready_fd, "x", 1);
    }
}

static pid_t spawn_child(const char *exe, const char *path, const char *mode, int ready_fd)
{
    pid_t pid = fork();
    if (pid != 0) return pid;
    /* drop mpirun's environment so the child starts as an independent singleton */
    char *names[512];
    int n = 0;
    for (char **e = environ; *e && n < 512; e++)
        if (!strncmp(*e, "OMPI_", 5) || !strncmp(*e, "PMIX_", 5) || !strncmp(*e, "OPAL_", 5) ||
            !strncmp(*e, "ORTE_", 5)) {
            size_t len = strcspn(*e, "=");
            names[n] = strndup(*e, len);
            n++;
        }
    for (int i = 0; i < n; i++) unsetenv(names[i]);
    char fdbuf[16];
    snprintf(fdbuf, sizeof fdbuf, "%d", ready_fd);
    execl(exe, exe, "--kill-child", path, mode, fdbuf, (char *)NULL);
    _exit(127);
}

static void test_kill9(void)
{
    eos_results *r = NULL;
    if (g_rank == 0) unlink(g_path2);
    MPI_Barrier(MPI_COMM_WORLD);
    int rc = eos_results_open(&r, MPI_COMM_WORLD, g_path2, &g_sw, EOS_RESULTS_CREATE);
    EXPECT(rc == 0, "create: %s", eos_error_msg());
    if (rc != 0) return;
    EXPECT(eos_results_close(r) == 0, "close: %s", eos_error_msg());
    char exe[4096];
    ssize_t m = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[m > 0 ? m : 0] = '\0';

    if (g_rank == 0) {
        int status = 0;
        pid_t pid = spawn_child(exe, g_path2, "self", -1);
        EXPECT(pid > 0 && waitpid(pid, &status, 0) == pid, "child");
        EXPECT(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
               "child did not die by SIGKILL (status %d)", status);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    rc = eos_results_open(&r, MPI_COMM_WORLD, g_path2, &g_sw, EOS_RESULTS_RESUME);
    EXPECT(rc == 0, "resume after kill -9: %s", eos_error_msg());
    if (rc != 0) return;
    int8_t st[N_RUNS];
    EXPECT(eos_results_read_status(r, st) == 0, "read_status: %s", eos_error_msg());
    for (int i = 0; i < N_RUNS; i++)
        EXPECT(st[i] == (i == 0 || i == 2 ? run_status(i) : 0), "run %d status %d", i, st[i]);
    EXPECT(eos_results_close(r) == 0, "close: %s", eos_error_msg());
    MPI_Barrier(MPI_COMM_WORLD);
    if (g_rank == 0) {
        hid_t f = H5Fopen(g_path2, H5F_ACC_RDONLY, H5P_DEFAULT);
        EXPECT(f >= 0, "serial open after kill -9");
        if (f >= 0) {
            check_run(f, 0, 1, 7);
            check_run(f, 2, 1, 7);
            check_run(f, 3, 1, 7); /* data landed, status did not: still pending */
            check_run(f, 1, 0, -1);
            check_run(f, 4, 0, -1);
            H5Fclose(f);
        }
        /* kill at an arbitrary moment inside the write loop */
        int p[2];
        EXPECT(pipe(p) == 0, "pipe");
        pid_t pid = spawn_child(exe, g_path2, "loop", p[1]);
        close(p[1]);
        char c;
        EXPECT(read(p[0], &c, 1) == 1, "child never became ready");
        close(p[0]);
        nanosleep(&(struct timespec){0, 20000000}, NULL);
        kill(pid, SIGKILL);
        int status = 0;
        EXPECT(waitpid(pid, &status, 0) == pid && WIFSIGNALED(status), "loop child");
    }
    MPI_Barrier(MPI_COMM_WORLD);
    rc = eos_results_open(&r, MPI_COMM_WORLD, g_path2, &g_sw, EOS_RESULTS_RESUME);
    EXPECT(rc == 0, "resume after kill -9 mid-loop: %s", eos_error_msg());
    if (rc != 0) return;
    EXPECT(eos_results_read_status(r, st) == 0, "read_status: %s", eos_error_msg());
    for (int i = 0; i < N_RUNS; i++)
        EXPECT(st[i] == run_status(i), "run %d status %d after loop", i, st[i]);
    EXPECT(eos_results_close(r) == 0, "close: %s", eos_error_msg());
    MPI_Barrier(MPI_COMM_WORLD);
    if (g_rank == 0) {
        hid_t f = H5Fopen(g_path2, H5F_ACC_RDONLY, H5P_DEFAULT);
        EXPECT(f >= 0, "serial open after kill -9 mid-loop");
        if (f >= 0) {
            for (int i = 0; i < N_RUNS; i++) check_run(f, i, 1, 7);
            H5Fclose(f);
        }
    }
}

/* Readers outside C: h5py (optional) and h5dump -H. */
static void test_external_readers(void)
{
    if (g_rank != 0) return;
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "h5dump -H %s > %s/dump.txt 2>&1 && grep -q train.lr %s/dump.txt",
             g_path, g_dir, g_dir);
    EXPECT(system(cmd) == 0, "h5dump -H failed on %s", g_path);
    if (system("/usr/bin/python3 -c 'import h5py' > /dev/null 2>&1") != 0) {
        fprintf(stderr, "  (h5py not available: skipped)\n");
        return;
    }
    char py[512];
    snprintf(py, sizeof py, "%s/check.py", g_dir);
    FILE *fp = fopen(py, "w");
    fprintf(fp,
            "import sys, hashlib, h5py\n"
            "f = h5py.File(sys.argv[1], 'r')\n"
            "a = f.attrs\n"
            "assert a['format'] == 'eosweep-results', a['format']\n"
            "assert int(a['format_version']) == 1\n"
            "assert int(a['n_runs']) == %d\n"
            "text = f['sweep'][()]\n"
            "assert hashlib.sha256(text).hexdigest() == a['sweep_sha256']\n"
            "assert list(f['runs']['train.lr'][:]) == [0.01, 0.02, 0.04] * 2\n"
            "assert list(f['runs']['model.activation'].asstr()[:]) == ['tanh'] * 3 + "
            "['softplus'] * 3\n"
            "assert h5py.check_enum_dtype(f['runs']['status'].dtype) == "
            "{'pending': 0, 'done': 1, 'diverged': 2, 'failed': 3}\n"
            "assert list(f['runs']['status'][:]) == [1, 2, 3, 1, 1, 1]\n"
            "assert f['traj']['loss'].shape == (%d, %d)\n"
            "assert f['traj']['loss'].dims[1][0].name == '/traj/step'\n"
            "assert list(f['traj']['step'][:]) == [10 * j for j in range(%d)]\n"
            "assert f['sharp']['eig'].shape == (%d, %d, %d)\n"
            "assert f['sharp']['eig'].dims[1][0].name == '/sharp/step'\n"
            "names = list(f['sharp'].attrs['datasets'])\n"
            "assert set(names) | {'step'} == set(f['sharp']), names\n"
            "assert names[-3:] == ['hvps', 'probe_hvps', 'seconds']\n"
            "assert f['sharp']['hvps'].dtype == 'int32' and f['sharp']['seconds'].dtype == 'float32'\n"
            "assert list(f['sharp']['hvps'][0]) == [3, 5, 7, 9]\n"
            "ph = f['sharp']['probe_hvps']\n"
            "assert ph.dtype == 'int32' and ph.shape == (%d, %d, len(ph.attrs['labels']))\n"
            "assert 'eig' in list(ph.attrs['labels'])\n"
            "assert list(f['traj'].attrs['datasets']) == "
            "['loss', 'acc', 'grad_norm', 'test_loss', 'test_acc', 'lr', 'threshold', "
            "'flow_substeps', 'margin', 'margin_p']\n"
            "assert f['runs']['message'].asstr()[2].startswith('eigensolver broke down')\n"
            "assert abs(f['traj']['loss'][0, 0] - 1.0) < 1e-7\n",
            N_RUNS, N_RUNS, REC, REC, N_RUNS, SHARP, K, N_RUNS, SHARP);
    fclose(fp);
    /* g_path2 holds the fully written file from test_kill9 */
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %s", py, g_path2);
    EXPECT(system(cmd) == 0, "h5py check failed: %s", cmd);
}

/* Sharpness off: zero-length sharp datasets, still present. */
static void test_no_sharpness(void)
{
    eos_sweep sw = g_sw;
    sw.sharp_slots = 0;
    sw.k = 0;
    char path[400];
    snprintf(path, sizeof path, "%s/nosharp.h5", g_dir);
    eos_results *r = NULL;
    int rc = eos_results_open(&r, MPI_COMM_WORLD, path, &sw, EOS_RESULTS_CREATE);
    EXPECT(rc == 0, "create without sharpness: %s", eos_error_msg());
    if (rc != 0) return;
    if (g_rank == 0) {
        eos_run_result res;
        make_result(0, 0, &res);
        /* a run without sharpness has no sharpness slots */
        res.cap_sharp = 0;
        EXPECT(eos_results_write_run(r, 0, &res) == 0, "write: %s", eos_error_msg());
        free_result(&res);
    }
    EXPECT(eos_results_close(r) == 0, "close: %s", eos_error_msg());
    MPI_Barrier(MPI_COMM_WORLD);
    if (g_rank == 0) {
        hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
        H5T_class_t cls;
        size_t size;
        int nd;
        hsize_t dims[3] = {9, 9, 9};
        EXPECT(ds_shape(f, "sharp/eig", &cls, &size, &nd, dims) == 0 && nd == 3 &&
                   dims[0] == N_RUNS && dims[1] == 0 && dims[2] == 0,
               "eig shape %llu %llu %llu", (unsigned long long)dims[0],
               (unsigned long long)dims[1], (unsigned long long)dims[2]);
        EXPECT(ds_shape(f, "sharp/step", &cls, &size, &nd, dims) == 0 && nd == 1 && dims[0] == 0,
               "sharp/step shape");
        int8_t st[N_RUNS];
        read_status_raw(f, st);
        EXPECT(st[0] == EOS_RUN_DONE, "status %d", st[0]);
        H5Fclose(f);
        unlink(path);
    }
}

int main(int argc, char **argv)
{
    if (argc >= 5 && !strcmp(argv[1], "--kill-child"))
        return kill_child(argv[2], argv[3], atoi(argv[4]));
    MPI_Init(&argc, &argv);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    if (g_rank == 0) {
        snprintf(g_dir, sizeof g_dir, "/tmp/eos_results_test_XXXXXX");
        if (!mkdtemp(g_dir)) {
            perror("mkdtemp");
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
    }
    MPI_Bcast(g_dir, sizeof g_dir, MPI_CHAR, 0, MPI_COMM_WORLD);
    snprintf(g_path, sizeof g_path, "%s/results.h5", g_dir);
    snprintf(g_path2, sizeof g_path2, "%s/other.h5", g_dir);
    build_sweep(&g_sw);
    table_extents();

    TEST_RUN(test_create_layout);
    TEST_RUN(test_write_resume);
    TEST_RUN(test_refusals);
    TEST_RUN(test_resume_without_lr);
    TEST_RUN(test_force);
    TEST_RUN(test_kill9);
    TEST_RUN(test_external_readers);
    TEST_RUN(test_no_sharpness);

    MPI_Barrier(MPI_COMM_WORLD);
    if (g_rank == 0) {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
    }
    int fails = test_cases_failed, all = 0;
    MPI_Allreduce(&fails, &all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    MPI_Finalize();
    if (g_rank != 0) return all ? 1 : 0;
    int code = TEST_SUMMARY();
    return all ? 1 : code;
}
