/* results.c: the parallel HDF5 results file (layout in docs/results-format.md).
 *
 * Life cycle: rank 0 builds the whole file serially under PATH.tmp (every dataset contiguous and
 * allocated early with its fill value, the per-run columns known before training written), closes
 * it, fsyncs it and moves it to PATH; then every rank reopens PATH with MPI-IO. From then on only
 * raw data is written (independently, by the rank that trained the run), into preallocated space,
 * so the metadata never changes and a kill -9 at any moment leaves a file HDF5 can open. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "eos_results.h"
#include "eos_optim.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <hdf5.h>
#include <hdf5_hl.h>

#include "h5_util.h"

#include "eos_blas.h"

#define FORMAT_NAME "eosweep-results"
#define FORMAT_VERSION 1

/* Per-run columns in /runs that eos_results_write_run fills: the numeric result columns of
 * eos_train.h, then message and status (written last). */
#define AS_COL_ENUM(id, name, ctype, ftype, fill) C_##id,
enum { EOS_RESULT_COLUMNS(AS_COL_ENUM) C_MESSAGE, C_STATUS, N_COLS };
#undef AS_COL_ENUM
enum { N_NUMERIC_COLS = C_MESSAGE };
/* The result columns from this one on came after the first format_version 1 files: a file
 * without them resumes, and they are not written there (like EOS_TRAJ_FIRST_OPTIONAL). */
enum { C_FIRST_OPTIONAL = C_SEPARATED_STEP };
/* Kinds of column storage. */
enum { K_I64, K_F64, K_I32, K_MSG, K_STATUS };
static const struct {
    const char *name;
    int kind;
    double fill; /* numeric columns: the value of a run not yet written */
} cols[N_COLS] = {
#define AS_COL(id, name, ctype, ftype, fill) {#name, K_##ftype, fill},
    EOS_RESULT_COLUMNS(AS_COL)
#undef AS_COL
    {"message", K_MSG, 0},
    {"status", K_STATUS, 0},
};
/* Memory type of each file type, for writing a result field. */
typedef int64_t MEM_I64;
typedef double MEM_F64;
typedef int32_t MEM_I32;
#define NATIVE_I64 H5T_NATIVE_INT64
#define NATIVE_F64 H5T_NATIVE_DOUBLE
#define NATIVE_I32 H5T_NATIVE_INT32

/* /sharp holds, beside its step scale, one dataset per output of every curvature probe (in
 * table order) and the HVPs each measurement spent. */
#define HVPS_NAME "hvps"
#define PROBE_HVPS_NAME "probe_hvps" /* [N, S, probes]: /sharp/hvps per probe (labels: names) */
#define SECONDS_NAME "seconds"        /* [N, S] float32: wall seconds of each measurement */
#define PROJ_NAME "proj" /* /traj/proj: record.projections */
#define MAX_SHARP_COLS (EOS_CURV_MAX_PROBES * EOS_CURV_MAX_OUTPUTS)
typedef struct {
    const char *name;               /* /sharp/<name> */
    int probe, out, nd;             /* output `out` of eos_curv_probes[probe], nd dims past [N, S] */
    hsize_t ext[EOS_CURV_MAX_DIMS]; /* the largest of any run (0 without sharpness), 1 past nd */
    int absent;                     /* not in a resumed file that predates the probe */
    int n_labels;                   /* the most labels any run's configuration gives ... */
    long labels_run;                /* ... and the first run that gives them */
} sharp_col;
typedef struct {
    int n;
    sharp_col col[MAX_SHARP_COLS];
} sharp_layout;

struct eos_results {
    MPI_Comm comm;
    int rank;
    char path[EOS_PATH_MAX];
    long n_runs;
    int rec_slots, sharp_slots;
    sharp_layout sl;
    hid_t file, dxpl;
    hid_t status_type, msg_type;  /* memory types */
    hid_t col[N_COLS], col_space[N_COLS];
    hid_t traj[EOS_TRAJ_N], traj_space[EOS_TRAJ_N];
    int n_proj;                   /* /traj/proj [N, R, n_proj], absent when 0 */
    hid_t proj, proj_space, mem_proj;
    hid_t sharp[MAX_SHARP_COLS], sharp_space[MAX_SHARP_COLS], mem_sharp[MAX_SHARP_COLS];
    hid_t hvps, hvps_space;
    hid_t probe_hvps, probe_hvps_space, mem_probe_hvps; /* absent from older files */
    hid_t seconds, seconds_space;                       /* the same */
    hid_t mem_one, mem_rec, mem_slots;
    float *row;                   /* one trajectory/sharpness row, allocated once */
    int32_t *hvps_row;            /* one /sharp/hvps row, then one /sharp/probe_hvps row */
    char msg[EOS_MSG_MAX];
    int fd;                       /* plain descriptor of PATH, only for fsync */
    int durable;                  /* fsync between a run's data and its status */
};

/* ---- error helpers ---------------------------------------------------------------------- */

static herr_t innermost_cb(unsigned n, const H5E_error2_t *e, void *data)
{
    (void)n;
    char *d = data;
    snprintf(d, 256, "%s", e->desc ? e->desc : "");
    for (; *d; d++)
        if ((unsigned char)*d < 0x20) *d = ' '; /* every refusal is one line */
    return 0;
}

/* Re-record an HDF5 failure so the message names the file and HDF5's own innermost reason. */
static int h5_annotate(int rc, const char *path)
{
    if (rc != EOS_ERR_HDF5) return rc;
    char detail[256] = "", msg[1024], where[256], file[256];
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, innermost_cb, detail);
    snprintf(msg, sizeof msg, "%s", eos_error_msg());
    snprintf(where, sizeof where, "%s", eos_error_where());
    char *colon = strrchr(where, ':');
    int line = colon ? atoi(colon + 1) : 0;
    if (colon) *colon = '\0';
    snprintf(file, sizeof file, "%s", where);
    if (detail[0])
        return eos_error_set(rc, file, line, "%s: %s (%s)", path, msg, detail);
    return eos_error_set(rc, file, line, "%s: %s", path, msg);
}

/* Make every rank return the same status: the lowest failing rank's code and message win.
 * Called at each point where ranks could otherwise take different branches. */
static int agree(MPI_Comm comm, int rc_local)
{
    int rc = 0, rank, who, mine;
    struct {
        int code, line;
        char msg[1024], file[256];
    } e;
    EOS_CHECK_MPI(MPI_Comm_rank(comm, &rank));
    mine = rc_local ? rank : INT_MAX;
    EOS_CHECK_MPI(MPI_Allreduce(&mine, &who, 1, MPI_INT, MPI_MIN, comm));
    if (who == INT_MAX) return 0;
    memset(&e, 0, sizeof e);
    if (rank == who) {
        e.code = rc_local;
        snprintf(e.msg, sizeof e.msg, "%s", eos_error_msg());
        snprintf(e.file, sizeof e.file, "%s", eos_error_where());
        char *colon = strrchr(e.file, ':');
        if (colon) {
            e.line = atoi(colon + 1);
            *colon = '\0';
        }
    }
    EOS_CHECK_MPI(MPI_Bcast(&e, (int)sizeof e, MPI_BYTE, who, comm));
    if (rank != who) eos_error_set(e.code, e.file, e.line, "%s", e.msg);
    return e.code;
fail:
    return rc;
}


/* ---- types ------------------------------------------------------------------------------ */

static hid_t make_fixed_str(size_t len)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0) return t;
    if (H5Tset_size(t, len ? len : 1) < 0 || H5Tset_strpad(t, H5T_STR_NULLPAD) < 0 ||
        H5Tset_cset(t, H5T_CSET_UTF8) < 0) {
        H5Tclose(t);
        return H5I_INVALID_HID;
    }
    return t;
}

static hid_t make_status_type(void)
{
    hid_t t = H5Tenum_create(H5T_NATIVE_INT8);
    if (t < 0) return t;
    for (int8_t v = 0; v < EOS_RUN_N_STATUSES; v++) {
        if (H5Tenum_insert(t, eos_run_status_names[v], &v) < 0) {
            H5Tclose(t);
            return H5I_INVALID_HID;
        }
    }
    return t;
}

/* ---- creation (rank 0, serial, on PATH.tmp) ------------------------------------------------ */

static int attr_str(hid_t loc, const char *name, const char *value)
{
    int rc = 0;
    hid_t t = H5I_INVALID_HID, s = H5I_INVALID_HID, a = H5I_INVALID_HID;
    /* variable-length UTF-8: h5py returns str */
    EOS_CHECK_H5(t = H5Tcopy(H5T_C_S1));
    EOS_CHECK_H5(H5Tset_size(t, H5T_VARIABLE));
    EOS_CHECK_H5(H5Tset_cset(t, H5T_CSET_UTF8));
    EOS_CHECK_H5(s = H5Screate(H5S_SCALAR));
    EOS_CHECK_H5(a = H5Acreate2(loc, name, t, s, H5P_DEFAULT, H5P_DEFAULT));
    EOS_CHECK_H5(H5Awrite(a, t, &value));
fail:
    eos_h5_close(&a);
    eos_h5_close(&s);
    eos_h5_close(&t);
    return rc;
}

static int attr_num(hid_t loc, const char *name, hid_t ftype, hid_t mtype, const void *value)
{
    int rc = 0;
    hid_t s = H5I_INVALID_HID, a = H5I_INVALID_HID;
    EOS_CHECK_H5(s = H5Screate(H5S_SCALAR));
    EOS_CHECK_H5(a = H5Acreate2(loc, name, ftype, s, H5P_DEFAULT, H5P_DEFAULT));
    EOS_CHECK_H5(H5Awrite(a, mtype, value));
fail:
    eos_h5_close(&a);
    eos_h5_close(&s);
    return rc;
}

/* Contiguous, allocated at creation, no timestamps: later raw writes touch no metadata. nd == 0
 * makes a scalar. out may be NULL. With a fill value the space is filled at allocation; fill ==
 * NULL means the caller writes every element right away, so nothing is filled (HDF5 1.10.8 also
 * overflows a heap buffer filling an element larger than its 1 MiB fill buffer, e.g. /sweep). */
static int make_ds(hid_t loc, const char *name, hid_t ftype, int nd, const hsize_t *dims,
                   hid_t filltype, const void *fill, hid_t *out)
{
    int rc = 0;
    hid_t space = H5I_INVALID_HID, dcpl = H5I_INVALID_HID, ds = H5I_INVALID_HID;
    if (nd == 0)
        EOS_CHECK_H5(space = H5Screate(H5S_SCALAR));
    else
        EOS_CHECK_H5(space = H5Screate_simple(nd, dims, NULL));
    EOS_CHECK_H5(dcpl = H5Pcreate(H5P_DATASET_CREATE));
    EOS_CHECK_H5(H5Pset_layout(dcpl, H5D_CONTIGUOUS));
    EOS_CHECK_H5(H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY));
    EOS_CHECK_H5(H5Pset_fill_time(dcpl, fill ? H5D_FILL_TIME_ALLOC : H5D_FILL_TIME_NEVER));
    if (fill) EOS_CHECK_H5(H5Pset_fill_value(dcpl, filltype, fill));
    EOS_CHECK_H5(H5Pset_obj_track_times(dcpl, 0));
    EOS_CHECK_H5(ds = H5Dcreate2(loc, name, ftype, space, H5P_DEFAULT, dcpl, H5P_DEFAULT));
    if (out) {
        *out = ds;
        ds = H5I_INVALID_HID;
    }
fail:
    eos_h5_close(&ds);
    eos_h5_close(&dcpl);
    eos_h5_close(&space);
    return rc;
}

/* Pack n strings into an n x width NUL-padded buffer and write them as a whole dataset. */
static int write_str_column(hid_t loc, const char *name, long n, char *const *s, size_t stride)
{
    int rc = 0;
    size_t width = 1;
    char *buf = NULL;
    hid_t t = H5I_INVALID_HID, ds = H5I_INVALID_HID;
    hsize_t dims[1] = {(hsize_t)n};
    for (long i = 0; i < n; i++) {
        size_t len = strlen(s[(size_t)i * stride]);
        if (len > width) width = len;
    }
    EOS_ALLOC(buf, (size_t)n * width);
    for (long i = 0; i < n; i++) {
        const char *v = s[(size_t)i * stride];
        memcpy(buf + (size_t)i * width, v, strlen(v));
    }
    EOS_CHECK_H5(t = make_fixed_str(width));
    EOS_TRY(make_ds(loc, name, t, 1, dims, H5I_INVALID_HID, NULL, &ds));
    EOS_CHECK_H5(H5Dwrite(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf));
fail:
    eos_h5_close(&ds);
    eos_h5_close(&t);
    free(buf);
    return rc;
}

/* A grid axis that is also a column of its own (seed) is stored once, as that column. */
static int axis_has_own_column(const eos_axis *ax)
{
    return (ax->key->flags & EOS_KEY_RUN_COLUMN) != 0;
}

/* A number/int axis's value as the configuration stores it: the text is set on a scratch
 * configuration and the field read back by the key's type, so only config.c knows the syntax. */
static int axis_value(const eos_axis *ax, const char *text, eos_config *scratch, double *d,
                      int64_t *i)
{
    int rc = 0;
    EOS_TRY(eos_config_set(scratch, ax->path, text));
    const void *field = (const char *)scratch + ax->key->offset;
    switch (ax->key->type) {
    case EOS_KEY_DOUBLE: *d = *(const double *)field; break;
    case EOS_KEY_INT:
    case EOS_KEY_BOOL:
    case EOS_KEY_BATCH: *i = *(const int *)field; break;
    case EOS_KEY_LONG: *i = *(const long *)field; break;
    case EOS_KEY_U64: *i = (int64_t)*(const uint64_t *)field; break;
    default: EOS_FAIL(EOS_ERR_INTERNAL, "%s: not a number or integer axis", ax->path);
    }
fail:
    return rc;
}

/* Columns known before training: grid axes, seed, resolved configuration and the stability
 * threshold (from the configuration alone, so written here once for every run, pending ones
 * included, rather than by each run's writer). */
static int create_run_columns(hid_t runs, const eos_sweep *sw)
{
    int rc = 0;
    long n = sw->n_runs;
    hsize_t dims[1] = {(hsize_t)n};
    double *dv = NULL;
    int64_t *iv = NULL;
    uint64_t *seeds = NULL;
    char **cfgs = NULL, *ybuf = NULL;
    size_t ylen = 16384;
    eos_config *cfg = NULL;
    hid_t ds = H5I_INVALID_HID;

    EOS_ALLOC(dv, n);
    EOS_ALLOC(iv, n);
    EOS_ALLOC(cfg, 1);
    eos_config_default(cfg);
    for (int a = 0; a < sw->n_axes; a++) {
        const eos_axis *ax = &sw->axes[a];
        if (axis_has_own_column(ax)) continue;
        if (ax->col == EOS_COL_STRING) {
            EOS_TRY(write_str_column(runs, ax->path, n, sw->values + a, (size_t)sw->n_axes));
            continue;
        }
        for (long i = 0; i < n; i++)
            EOS_TRY(axis_value(ax, sw->values[i * sw->n_axes + a], cfg, &dv[i], &iv[i]));
        int num = ax->col == EOS_COL_NUMBER;
        EOS_TRY(make_ds(runs, ax->path, num ? H5T_IEEE_F64LE : H5T_STD_I64LE, 1, dims,
                        H5I_INVALID_HID, NULL, &ds));
        EOS_CHECK_H5(H5Dwrite(ds, num ? H5T_NATIVE_DOUBLE : H5T_NATIVE_INT64, H5S_ALL, H5S_ALL,
                              H5P_DEFAULT, num ? (void *)dv : (void *)iv));
        eos_h5_close(&ds);
    }

    EOS_ALLOC(seeds, n);
    EOS_ALLOC(cfgs, n);
    EOS_ALLOC(ybuf, ylen);
    for (long i = 0; i < n; i++) {
        EOS_TRY(eos_sweep_run_config(sw, i, cfg));
        seeds[i] = cfg->seed;
        dv[i] = eos_optim_threshold(&cfg->train);
        iv[i] = eos_optim_is_adaptive(cfg->train.optimizer);
        int len;
        while ((len = eos_config_to_yaml(cfg, ybuf, ylen)) < 0 && ylen < (1u << 24)) {
            char *bigger = realloc(ybuf, ylen * 2);
            EOS_CHECK(bigger, EOS_ERR_NOMEM, "out of memory growing a %zu byte buffer", ylen);
            ybuf = bigger;
            ylen *= 2;
        }
        EOS_CHECK(len >= 0, EOS_ERR_CONFIG,
                  "sweep: run %ld: resolved configuration could not be written as YAML (%s)", i,
                  eos_error_msg());
        cfgs[i] = strdup(ybuf);
        EOS_CHECK(cfgs[i], EOS_ERR_NOMEM, "out of memory copying run %ld's configuration", i);
    }
    EOS_TRY(make_ds(runs, "seed", H5T_STD_U64LE, 1, dims, H5I_INVALID_HID, NULL, &ds));
    EOS_CHECK_H5(H5Dwrite(ds, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, seeds));
    eos_h5_close(&ds);
    EOS_TRY(write_str_column(runs, "config", n, cfgs, 1));
    EOS_TRY(make_ds(runs, "threshold", H5T_IEEE_F64LE, 1, dims, H5I_INVALID_HID, NULL, &ds));
    EOS_CHECK_H5(H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, dv));
    eos_h5_close(&ds);
    EOS_TRY(make_ds(runs, "threshold_preconditioned", H5T_STD_I8LE, 1, dims, H5I_INVALID_HID,
                    NULL, &ds));
    EOS_CHECK_H5(H5Dwrite(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, iv));
    eos_h5_close(&ds);

fail:
    eos_h5_close(&ds);
    if (cfgs)
        for (long i = 0; i < n; i++) free(cfgs[i]);
    free(cfgs);
    free(ybuf);
    free(cfg);
    free(seeds);
    free(iv);
    free(dv);
    return rc;
}

/* Result columns: created with their fill values, written by eos_results_write_run. */
static int create_result_columns(hid_t runs, long n)
{
    int rc = 0;
    hsize_t dims[1] = {(hsize_t)n};
    const int8_t pending = EOS_RUN_PENDING;
    hid_t t = H5I_INVALID_HID;
    for (int c = 0; c < N_COLS; c++) {
        const int64_t fill64 = (int64_t)cols[c].fill;
        const int32_t fill32 = (int32_t)cols[c].fill;
        switch (cols[c].kind) {
        case K_I64:
            EOS_TRY(make_ds(runs, cols[c].name, H5T_STD_I64LE, 1, dims, H5T_NATIVE_INT64,
                            &fill64, NULL));
            break;
        case K_F64:
            EOS_TRY(make_ds(runs, cols[c].name, H5T_IEEE_F64LE, 1, dims, H5T_NATIVE_DOUBLE,
                            &cols[c].fill, NULL));
            break;
        case K_I32:
            EOS_TRY(make_ds(runs, cols[c].name, H5T_STD_I32LE, 1, dims, H5T_NATIVE_INT32,
                            &fill32, NULL));
            break;
        case K_MSG: {
            static const char empty[EOS_MSG_MAX]; /* written per run: filled until then */
            EOS_CHECK_H5(t = make_fixed_str(EOS_MSG_MAX));
            EOS_TRY(make_ds(runs, cols[c].name, t, 1, dims, t, empty, NULL));
            eos_h5_close(&t);
            break;
        }
        case K_STATUS:
            EOS_CHECK_H5(t = make_status_type());
            EOS_TRY(make_ds(runs, cols[c].name, t, 1, dims, t, &pending, NULL));
            eos_h5_close(&t);
            break;
        }
    }
fail:
    eos_h5_close(&t);
    return rc;
}

/* The file's extents of every /sharp output: the largest any run's configuration gives. */
static int sharp_layout_of(const eos_sweep *sw, sharp_layout *sl)
{
    int rc = 0;
    eos_config *cfg = NULL;
    memset(sl, 0, sizeof *sl);
    for (int p = 0; p < eos_curv_n_probes; p++) {
        const eos_curv_probe *pr = eos_curv_probes[p];
        for (int o = 0; o < eos_curv_n_outputs(pr); o++) {
            sharp_col *c = &sl->col[sl->n++];
            c->name = pr->out[o].name;
            c->probe = p;
            c->out = o;
            c->nd = pr->out[o].ndims;
            EOS_CHECK(c->nd >= 0 && c->nd <= EOS_CURV_MAX_DIMS && strcmp(c->name, "step") &&
                          strcmp(c->name, HVPS_NAME) && strcmp(c->name, PROBE_HVPS_NAME) &&
                          strcmp(c->name, SECONDS_NAME),
                      EOS_ERR_INTERNAL, "curvature output '%s': bad name or shape", c->name);
            for (int d = 0; d < EOS_CURV_MAX_DIMS; d++) c->ext[d] = d < c->nd ? 0 : 1;
        }
    }
    if (sw->sharp_slots == 0) return 0;
    EOS_ALLOC(cfg, 1);
    for (long i = 0; i < sw->n_runs; i++) {
        EOS_TRY(eos_sweep_run_config(sw, i, cfg));
        for (int j = 0; j < sl->n; j++) {
            sharp_col *c = &sl->col[j];
            const eos_curv_output *out = &eos_curv_probes[c->probe]->out[c->out];
            int e[EOS_CURV_MAX_DIMS];
            eos_curv_output_size(eos_curv_probes[c->probe], c->out, cfg, e);
            for (int d = 0; d < c->nd; d++)
                if ((hsize_t)e[d] > c->ext[d]) c->ext[d] = (hsize_t)e[d];
            char names[EOS_CURV_MAX_LABELS][EOS_CURV_LABEL];
            int nl = out->labels ? out->labels(cfg, names, EOS_CURV_MAX_LABELS) : 0;
            if (nl > c->n_labels) {
                c->n_labels = nl;
                c->labels_run = i;
            }
        }
    }
fail:
    free(cfg);
    return rc;
}

/* A 1-D attribute of n variable-length UTF-8 strings. */
static int attr_str_list(hid_t loc, const char *name, int n, const char *const *values)
{
    int rc = 0;
    hid_t t = H5I_INVALID_HID, s = H5I_INVALID_HID, a = H5I_INVALID_HID;
    hsize_t dims[1] = {(hsize_t)n};
    EOS_CHECK_H5(t = H5Tcopy(H5T_C_S1));
    EOS_CHECK_H5(H5Tset_size(t, H5T_VARIABLE));
    EOS_CHECK_H5(H5Tset_cset(t, H5T_CSET_UTF8));
    EOS_CHECK_H5(s = H5Screate_simple(1, dims, NULL));
    EOS_CHECK_H5(a = H5Acreate2(loc, name, t, s, H5P_DEFAULT, H5P_DEFAULT));
    EOS_CHECK_H5(H5Awrite(a, t, values));
fail:
    eos_h5_close(&a);
    eos_h5_close(&s);
    eos_h5_close(&t);
    return rc;
}

/* The numeric result columns and their fill values, for readers (analysis/results.py). */
static int attr_result_columns(hid_t f)
{
    int rc = 0;
    const char *names[N_NUMERIC_COLS];
    double fills[N_NUMERIC_COLS];
    hid_t s = H5I_INVALID_HID, a = H5I_INVALID_HID;
    hsize_t dims[1] = {N_NUMERIC_COLS};
    for (int c = 0; c < N_NUMERIC_COLS; c++) names[c] = cols[c].name, fills[c] = cols[c].fill;
    EOS_TRY(attr_str_list(f, "result_columns", N_NUMERIC_COLS, names));
    EOS_CHECK_H5(s = H5Screate_simple(1, dims, NULL));
    EOS_CHECK_H5(a = H5Acreate2(f, "result_fill", H5T_IEEE_F64LE, s, H5P_DEFAULT, H5P_DEFAULT));
    EOS_CHECK_H5(H5Awrite(a, H5T_NATIVE_DOUBLE, fills));
fail:
    eos_h5_close(&a);
    eos_h5_close(&s);
    return rc;
}

/* The step dimension scale [slots] of a group, with values j*every. */
static int create_step_scale(hid_t grp, int slots, int every, hid_t *scale)
{
    int rc = 0;
    hsize_t sdims[1] = {(hsize_t)slots};
    int64_t *steps = NULL;
    EOS_ALLOC(steps, slots);
    for (int j = 0; j < slots; j++) steps[j] = (int64_t)j * every;
    EOS_TRY(make_ds(grp, "step", H5T_STD_I64LE, 1, sdims, H5I_INVALID_HID, NULL, scale));
    if (slots > 0)
        EOS_CHECK_H5(H5Dwrite(*scale, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, steps));
    EOS_CHECK_H5(H5DSset_scale(*scale, "step"));
fail:
    free(steps);
    return rc;
}

/* A per-run series [n_runs, slots, ...] filled with fill, dimension 1 labelled by scale. */
static int create_series(hid_t grp, hid_t scale, const char *name, hid_t ftype, int nd,
                         const hsize_t *dims, hid_t filltype, const void *fill)
{
    int rc = 0;
    hid_t ds = H5I_INVALID_HID;
    EOS_TRY(make_ds(grp, name, ftype, nd, dims, filltype, fill, &ds));
    EOS_CHECK_H5(H5DSattach_scale(ds, scale, 1));
fail:
    eos_h5_close(&ds);
    return rc;
}

/* /traj: the record trajectories of eos_train.h's list, float32 [N, R] each, and /traj/proj
 * [N, R, P] when a run records projections. */
static int create_traj_group(hid_t grp, const eos_sweep *sw)
{
    int rc = 0;
    hsize_t dims[3] = {(hsize_t)sw->n_runs, (hsize_t)sw->rec_slots, (hsize_t)sw->n_proj};
    const float nan_f = NAN;
    const char *names[EOS_TRAJ_N + 1];
    hid_t scale = H5I_INVALID_HID;
    EOS_TRY(create_step_scale(grp, sw->rec_slots, sw->record_every, &scale));
    for (int t = 0; t < EOS_TRAJ_N; t++) {
        EOS_TRY(create_series(grp, scale, eos_traj_names[t], H5T_IEEE_F32LE, 2, dims,
                              H5T_NATIVE_FLOAT, &nan_f));
        names[t] = eos_traj_names[t];
    }
    names[EOS_TRAJ_N] = PROJ_NAME;
    if (sw->n_proj > 0)
        EOS_TRY(create_series(grp, scale, PROJ_NAME, H5T_IEEE_F32LE, 3, dims, H5T_NATIVE_FLOAT,
                              &nan_f));
    EOS_TRY(attr_str_list(grp, "datasets", EOS_TRAJ_N + (sw->n_proj > 0), names));
fail:
    eos_h5_close(&scale);
    return rc;
}

/* The attribute "labels" of output c's dataset: its last dimension's names, from the run with
 * the most (runs with fewer have NaN past their own). */
static int attr_sharp_labels(hid_t grp, const eos_sweep *sw, const sharp_col *c)
{
    int rc = 0;
    eos_config *cfg = NULL;
    hid_t ds = H5I_INVALID_HID;
    char names[EOS_CURV_MAX_LABELS][EOS_CURV_LABEL];
    const char *ptrs[EOS_CURV_MAX_LABELS];
    EOS_ALLOC(cfg, 1);
    EOS_TRY(eos_sweep_run_config(sw, c->labels_run, cfg));
    int n = eos_curv_probes[c->probe]->out[c->out].labels(cfg, names, EOS_CURV_MAX_LABELS);
    for (int i = 0; i < n; i++) ptrs[i] = names[i];
    EOS_CHECK_H5(ds = H5Dopen2(grp, c->name, H5P_DEFAULT));
    EOS_TRY(attr_str_list(ds, "labels", n, ptrs));
fail:
    eos_h5_close(&ds);
    free(cfg);
    return rc;
}

/* /sharp: every probe output, float32 [N, S(, ext...)], hvps int32 [N, S], probe_hvps int32
 * [N, S, probes] and seconds float32 [N, S]. */
static int create_sharp_group(hid_t grp, const eos_sweep *sw, const sharp_layout *sl)
{
    int rc = 0;
    hsize_t dims[2 + EOS_CURV_MAX_DIMS] = {(hsize_t)sw->n_runs, (hsize_t)sw->sharp_slots};
    const char *names[MAX_SHARP_COLS + 3];
    const float nan_f = NAN;
    const int32_t zero = 0;
    hid_t scale = H5I_INVALID_HID, ds = H5I_INVALID_HID;
    EOS_TRY(create_step_scale(grp, sw->sharp_slots, sw->sharp_every, &scale));
    for (int j = 0; j < sl->n; j++) {
        const sharp_col *c = &sl->col[j];
        for (int d = 0; d < c->nd; d++) dims[2 + d] = c->ext[d];
        EOS_TRY(create_series(grp, scale, c->name, H5T_IEEE_F32LE, 2 + c->nd, dims,
                              H5T_NATIVE_FLOAT, &nan_f));
        if (c->n_labels > 0) EOS_TRY(attr_sharp_labels(grp, sw, c));
        names[j] = c->name;
    }
    EOS_TRY(create_series(grp, scale, HVPS_NAME, H5T_STD_I32LE, 2, dims, H5T_NATIVE_INT32,
                          &zero));
    names[sl->n] = HVPS_NAME;
    dims[2] = (hsize_t)eos_curv_n_probes;
    EOS_TRY(create_series(grp, scale, PROBE_HVPS_NAME, H5T_STD_I32LE, 3, dims, H5T_NATIVE_INT32,
                          &zero));
    names[sl->n + 1] = PROBE_HVPS_NAME;
    EOS_TRY(create_series(grp, scale, SECONDS_NAME, H5T_IEEE_F32LE, 2, dims, H5T_NATIVE_FLOAT,
                          &nan_f));
    names[sl->n + 2] = SECONDS_NAME;
    EOS_TRY(attr_str_list(grp, "datasets", sl->n + 3, names));
    const char *probe_names[EOS_CURV_MAX_PROBES];
    for (int p = 0; p < eos_curv_n_probes; p++) probe_names[p] = eos_curv_probes[p]->name;
    EOS_CHECK_H5(ds = H5Dopen2(grp, PROBE_HVPS_NAME, H5P_DEFAULT));
    EOS_TRY(attr_str_list(ds, "labels", eos_curv_n_probes, probe_names));
fail:
    eos_h5_close(&ds);
    eos_h5_close(&scale);
    return rc;
}

static int create_file(const char *tmp, const eos_sweep *sw, const sharp_layout *sl)
{
    int rc = 0;
    hid_t f = H5I_INVALID_HID, g = H5I_INVALID_HID, t = H5I_INVALID_HID, ds = H5I_INVALID_HID;
    char created[32];
    time_t now = time(NULL);
    struct tm tm;
    const int32_t version = FORMAT_VERSION, rec_every = sw->record_every,
                  sharp_every = sw->sharp_every, k = sw->k;
    const int64_t n_runs = sw->n_runs;

    EOS_CHECK(gmtime_r(&now, &tm) && strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", &tm),
              EOS_ERR_INTERNAL, "cannot format the current UTC time");
    /* Default file access (sec2 driver, earliest format: superblock v0, which keeps no
     * "open for writing" flag that a kill -9 could leave set). */
    EOS_CHECK_H5(f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
    EOS_TRY(attr_str(f, "format", FORMAT_NAME));
    EOS_TRY(attr_num(f, "format_version", H5T_STD_I32LE, H5T_NATIVE_INT32, &version));
    EOS_TRY(attr_str(f, "eosweep_version", EOS_VERSION));
    EOS_TRY(attr_str(f, "created", created));
    EOS_TRY(attr_str(f, "sweep_sha256", sw->sha256));
    EOS_TRY(attr_num(f, "n_runs", H5T_STD_I64LE, H5T_NATIVE_INT64, &n_runs));
    EOS_TRY(attr_str(f, "name", sw->name));
    EOS_TRY(attr_str(f, "precision", EOS_REAL_NAME));
    EOS_TRY(attr_str(f, "blas_core", eos_blas_core_name())); /* information: bits depend on it */
    EOS_TRY(attr_num(f, "record_every", H5T_STD_I32LE, H5T_NATIVE_INT32, &rec_every));
    EOS_TRY(attr_num(f, "sharp_every", H5T_STD_I32LE, H5T_NATIVE_INT32, &sharp_every));
    EOS_TRY(attr_num(f, "k", H5T_STD_I32LE, H5T_NATIVE_INT32, &k));
    EOS_TRY(attr_result_columns(f));

    /* /sweep: scalar fixed-length string holding the text verbatim */
    EOS_CHECK_H5(t = make_fixed_str(sw->text_len));
    EOS_TRY(make_ds(f, "sweep", t, 0, NULL, H5I_INVALID_HID, NULL, &ds));
    if (sw->text_len > 0) EOS_CHECK_H5(H5Dwrite(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, sw->text));
    eos_h5_close(&ds);
    eos_h5_close(&t);

    EOS_CHECK_H5(g = H5Gcreate2(f, "runs", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    EOS_TRY(create_run_columns(g, sw));
    EOS_TRY(create_result_columns(g, sw->n_runs));
    eos_h5_close(&g);
    EOS_CHECK_H5(g = H5Gcreate2(f, "traj", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    EOS_TRY(create_traj_group(g, sw));
    eos_h5_close(&g);
    EOS_CHECK_H5(g = H5Gcreate2(f, "sharp", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    EOS_TRY(create_sharp_group(g, sw, sl));
    eos_h5_close(&g);
    herr_t c = H5Fclose(f);
    f = H5I_INVALID_HID;
    EOS_CHECK_H5(c);
fail:
    eos_h5_close(&ds);
    eos_h5_close(&t);
    eos_h5_close(&g);
    eos_h5_close(&f);
    return h5_annotate(rc, tmp);
}

/* fsync a file (and, for durability of a rename, its directory). */
static int fsync_path(const char *path, int directory)
{
    int rc = 0;
    int fd = open(path, O_RDONLY | (directory ? O_DIRECTORY : 0));
    EOS_CHECK(fd >= 0, EOS_ERR_IO, "%s: cannot open for fsync: %s", path, strerror(errno));
    int s = fsync(fd);
    int e = errno;
    close(fd);
    /* some file systems cannot fsync directories; that is not worth failing for */
    EOS_CHECK(s == 0 || (directory && (e == EINVAL || e == ENOTSUP)), EOS_ERR_IO,
              "%s: fsync failed: %s", path, strerror(e));
fail:
    return rc;
}

/* Rank 0: build PATH.tmp, make it durable, then move it to PATH (never over an existing PATH
 * unless FORCE). PATH therefore either does not exist or is complete. */
static int create_and_publish(const char *path, const eos_sweep *sw, const sharp_layout *sl,
                              eos_results_mode mode)
{
    int rc = 0;
    char tmp[EOS_PATH_MAX + 8], dir[EOS_PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';

    EOS_TRY(create_file(tmp, sw, sl));
    EOS_TRY(fsync_path(tmp, 0));
    if (mode == EOS_RESULTS_CREATE) {
        /* link() refuses an existing target atomically; rename() would replace it */
        if (link(tmp, path) == 0) {
            EOS_CHECK(unlink(tmp) == 0, EOS_ERR_IO, "%s: cannot remove: %s", tmp,
                      strerror(errno));
        } else {
            int e = errno;
            struct stat st;
            EOS_CHECK(e != EEXIST, EOS_ERR_CONFIG,
                      "%s exists; use --force to overwrite or --resume to continue", path);
            EOS_CHECK(e == EPERM || e == ENOTSUP || e == ENOSYS || e == EXDEV, EOS_ERR_IO,
                      "%s: cannot create: %s", path, strerror(e));
            /* no hard links on this file system: check, then rename */
            EOS_CHECK(lstat(path, &st) != 0, EOS_ERR_CONFIG,
                      "%s exists; use --force to overwrite or --resume to continue", path);
            EOS_CHECK(rename(tmp, path) == 0, EOS_ERR_IO, "%s: cannot rename %s to it: %s", path,
                      tmp, strerror(errno));
        }
    } else {
        EOS_CHECK(rename(tmp, path) == 0, EOS_ERR_IO, "%s: cannot rename %s to it: %s", path,
                  tmp, strerror(errno));
    }
    EOS_TRY(fsync_path(dir, 1));
    return 0;
fail:
    unlink(tmp);
    return rc;
}

/* ---- opening ------------------------------------------------------------------------------ */


static int read_long_attr(hid_t loc, const char *name, long long *v, int *absent)
{
    int rc = 0;
    hid_t a = H5I_INVALID_HID, ft = H5I_INVALID_HID;
    htri_t ex;
    *absent = 0;
    EOS_CHECK_H5(ex = H5Aexists(loc, name));
    if (!ex) {
        *absent = 1;
        return 0;
    }
    EOS_CHECK_H5(a = H5Aopen(loc, name, H5P_DEFAULT));
    EOS_CHECK_H5(ft = H5Aget_type(a));
    if (H5Tget_class(ft) != H5T_INTEGER) {
        *absent = 1;
        goto fail;
    }
    EOS_CHECK_H5(H5Aread(a, H5T_NATIVE_LLONG, v));
fail:
    eos_h5_close(&ft);
    eos_h5_close(&a);
    return rc;
}

/* Root attributes of an existing file against the sweep. */
static int check_header(hid_t f, const char *path, const eos_sweep *sw)
{
    int rc = 0, absent;
    char s[128];
    long long v;
    EOS_TRY(eos_h5_read_str_attr(f, "format", s, sizeof s, &absent));
    EOS_CHECK(!absent && !strcmp(s, FORMAT_NAME), EOS_ERR_FORMAT,
              "%s: not an eosweep results file (root attribute 'format' %s%s%s)", path,
              absent ? "missing" : "is '", absent ? "" : s, absent ? "" : "'");
    EOS_TRY(read_long_attr(f, "format_version", &v, &absent));
    EOS_CHECK(!absent, EOS_ERR_FORMAT, "%s: root attribute 'format_version' missing", path);
    EOS_CHECK(v == FORMAT_VERSION, EOS_ERR_FORMAT,
              "%s: format_version %lld is not supported (this eosweep reads version %d)", path, v,
              FORMAT_VERSION);
    EOS_TRY(eos_h5_read_str_attr(f, "sweep_sha256", s, sizeof s, &absent));
    EOS_CHECK(!absent, EOS_ERR_FORMAT, "%s: root attribute 'sweep_sha256' missing", path);
    EOS_CHECK(!strcmp(s, sw->sha256), EOS_ERR_FORMAT,
              "%s: sweep_sha256 mismatch (file %.12s..., sweep %.12s...): the file belongs to a "
              "different sweep; use --force to start over",
              path, s, sw->sha256);
    EOS_TRY(read_long_attr(f, "n_runs", &v, &absent));
    EOS_CHECK(!absent, EOS_ERR_FORMAT, "%s: root attribute 'n_runs' missing", path);
    EOS_CHECK(v == sw->n_runs, EOS_ERR_FORMAT, "%s: n_runs mismatch (file %lld, sweep %ld)", path,
              v, sw->n_runs);
fail:
    return rc;
}

/* Open dataset `name` (relative to file root), check its shape, return it and a copy of its
 * file space (kept for hyperslab selections) when wanted. */
static int open_ds(hid_t f, const char *path, const char *name, int nd, const hsize_t *dims,
                   hid_t *ds_out, hid_t *space_out)
{
    int rc = 0;
    hid_t ds = H5I_INVALID_HID, sp = H5I_INVALID_HID;
    hsize_t got[2 + EOS_CURV_MAX_DIMS] = {0};
    htri_t ex;
    int gnd;
    EOS_CHECK_H5(ex = H5Lexists(f, name, H5P_DEFAULT));
    EOS_CHECK(ex, EOS_ERR_FORMAT, "%s: dataset /%s missing (not an eosweep results file?)", path,
              name);
    EOS_CHECK_H5(ds = H5Dopen2(f, name, H5P_DEFAULT));
    EOS_CHECK_H5(sp = H5Dget_space(ds));
    EOS_CHECK_H5(gnd = H5Sget_simple_extent_ndims(sp));
    EOS_CHECK(gnd == nd, EOS_ERR_FORMAT, "%s: dataset /%s has %d dimensions, expected %d", path,
              name, gnd, nd);
    if (nd > 0) EOS_CHECK_H5(H5Sget_simple_extent_dims(sp, got, NULL));
    for (int d = 0; d < nd; d++)
        EOS_CHECK(got[d] == dims[d], EOS_ERR_FORMAT,
                  "%s: dataset /%s has %llu entries in dimension %d, the sweep needs %llu", path,
                  name, (unsigned long long)got[d], d, (unsigned long long)dims[d]);
    if (ds_out) {
        *ds_out = ds;
        ds = H5I_INVALID_HID;
    }
    if (space_out) {
        *space_out = sp;
        sp = H5I_INVALID_HID;
    }
fail:
    eos_h5_close(&sp);
    eos_h5_close(&ds);
    return rc;
}

static void results_release(eos_results *r)
{
    for (int c = 0; c < N_COLS; c++) {
        eos_h5_close(&r->col[c]);
        eos_h5_close(&r->col_space[c]);
    }
    for (int t = 0; t < EOS_TRAJ_N; t++) {
        eos_h5_close(&r->traj[t]);
        eos_h5_close(&r->traj_space[t]);
    }
    for (int s = 0; s < MAX_SHARP_COLS; s++) {
        eos_h5_close(&r->sharp[s]);
        eos_h5_close(&r->sharp_space[s]);
        eos_h5_close(&r->mem_sharp[s]);
    }
    eos_h5_close(&r->hvps);
    eos_h5_close(&r->hvps_space);
    eos_h5_close(&r->probe_hvps);
    eos_h5_close(&r->probe_hvps_space);
    eos_h5_close(&r->mem_probe_hvps);
    eos_h5_close(&r->seconds);
    eos_h5_close(&r->seconds_space);
    eos_h5_close(&r->proj);
    eos_h5_close(&r->proj_space);
    eos_h5_close(&r->mem_proj);
    eos_h5_close(&r->mem_one);
    eos_h5_close(&r->mem_rec);
    eos_h5_close(&r->mem_slots);
    eos_h5_close(&r->status_type);
    eos_h5_close(&r->msg_type);
    eos_h5_close(&r->dxpl);
    free(r->row);
    r->row = NULL;
    free(r->hvps_row);
    r->hvps_row = NULL;
    if (r->fd >= 0) close(r->fd);
    r->fd = -1;
}

static void results_init(eos_results *r)
{
    memset(r, 0, sizeof *r);
    hid_t *ids[] = {&r->file,      &r->dxpl,    &r->status_type, &r->msg_type,
                    &r->hvps,      &r->hvps_space, &r->mem_one,  &r->mem_rec,
                    &r->mem_slots, &r->proj,    &r->proj_space,  &r->mem_proj,
                    &r->probe_hvps, &r->probe_hvps_space, &r->mem_probe_hvps,
                    &r->seconds,   &r->seconds_space};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) *ids[i] = H5I_INVALID_HID;
    for (int c = 0; c < N_COLS; c++) r->col[c] = r->col_space[c] = H5I_INVALID_HID;
    for (int t = 0; t < EOS_TRAJ_N; t++) r->traj[t] = r->traj_space[t] = H5I_INVALID_HID;
    for (int s = 0; s < MAX_SHARP_COLS; s++)
        r->sharp[s] = r->sharp_space[s] = r->mem_sharp[s] = H5I_INVALID_HID;
    r->fd = -1;
}

/* Values per slot of a /sharp output in the file. */
static hsize_t col_width(const sharp_col *c)
{
    hsize_t w = 1;
    for (int d = 0; d < c->nd; d++) w *= c->ext[d];
    return w;
}

/* Open and check every dataset of the layout (handles kept in r when keep), and create the
 * memory-side objects used by writes. r->file and r->sl must be set. */
static int open_layout(eos_results *r, const eos_sweep *sw, int keep)
{
    int rc = 0;
    char name[EOS_NAME_MAX + 16];
    hsize_t n = (hsize_t)sw->n_runs, R = (hsize_t)sw->rec_slots, S = (hsize_t)sw->sharp_slots;
    hsize_t d1[1] = {n}, d2r[2] = {n, R}, ds[2 + EOS_CURV_MAX_DIMS] = {n, S}, rowlen = R;
    const char *groups[] = {"runs", "traj", "sharp"};
    htri_t ex;
    hid_t f = r->file;

    for (int g = 0; g < 3; g++) {
        EOS_CHECK_H5(ex = H5Lexists(f, groups[g], H5P_DEFAULT));
        EOS_CHECK(ex, EOS_ERR_FORMAT, "%s: group /%s missing (not an eosweep results file?)",
                  r->path, groups[g]);
    }
    EOS_TRY(open_ds(f, r->path, "sweep", 0, NULL, NULL, NULL));
    for (int a = 0; a < sw->n_axes; a++) {
        if (axis_has_own_column(&sw->axes[a])) continue;
        snprintf(name, sizeof name, "runs/%s", sw->axes[a].path);
        EOS_TRY(open_ds(f, r->path, name, 1, d1, NULL, NULL));
    }
    EOS_TRY(open_ds(f, r->path, "runs/seed", 1, d1, NULL, NULL));
    EOS_TRY(open_ds(f, r->path, "runs/config", 1, d1, NULL, NULL));
    for (int c = 0; c < N_COLS; c++) {
        snprintf(name, sizeof name, "runs/%s", cols[c].name);
        if (c >= C_FIRST_OPTIONAL && c < N_NUMERIC_COLS) {
            EOS_CHECK_H5(ex = H5Lexists(f, name, H5P_DEFAULT));
            if (!ex) continue;
        }
        EOS_TRY(open_ds(f, r->path, name, 1, d1, keep ? &r->col[c] : NULL,
                        keep ? &r->col_space[c] : NULL));
    }
    EOS_TRY(open_ds(f, r->path, "traj/step", 1, &R, NULL, NULL));
    for (int t = 0; t < EOS_TRAJ_N; t++) {
        snprintf(name, sizeof name, "traj/%s", eos_traj_names[t]);
        /* /traj/lr and the columns after it came later: a file without them was made from a
         * sweep that cannot have set a schedule nor used flow (the older binary refuses unknown
         * keys and values), so it resumes without them and they are not written there */
        if (t >= EOS_TRAJ_FIRST_OPTIONAL) {
            EOS_CHECK_H5(ex = H5Lexists(f, name, H5P_DEFAULT));
            if (!ex) continue;
        }
        EOS_TRY(open_ds(f, r->path, name, 2, d2r, keep ? &r->traj[t] : NULL,
                        keep ? &r->traj_space[t] : NULL));
    }
    r->n_proj = sw->n_proj;
    if (r->n_proj > 0) {
        hsize_t d3[3] = {n, R, (hsize_t)r->n_proj}, len = R * (hsize_t)r->n_proj;
        EOS_TRY(open_ds(f, r->path, "traj/" PROJ_NAME, 3, d3, keep ? &r->proj : NULL,
                        keep ? &r->proj_space : NULL));
        if (len > rowlen) rowlen = len;
        if (keep && len > 0) EOS_CHECK_H5(r->mem_proj = H5Screate_simple(1, &len, NULL));
    }
    EOS_TRY(open_ds(f, r->path, "sharp/step", 1, &S, NULL, NULL));
    for (int j = 0; j < r->sl.n; j++) {
        sharp_col *c = &r->sl.col[j];
        for (int d = 0; d < c->nd; d++) ds[2 + d] = c->ext[d];
        snprintf(name, sizeof name, "sharp/%s", c->name);
        /* A file made before this probe existed was made from a sweep that cannot have turned
         * it on (the older binary refuses unknown keys): it resumes without the dataset, and a
         * run that measures it anyway is refused when written. */
        EOS_CHECK_H5(ex = H5Lexists(f, name, H5P_DEFAULT));
        c->absent = !ex;
        EOS_CHECK(!c->absent || eos_curv_probes[c->probe]->enabled, EOS_ERR_FORMAT,
                  "%s: dataset /%s missing (not an eosweep results file?)", r->path, name);
        hsize_t len = S * col_width(c); /* an absent one's row is still filled, to be checked */
        if (len > rowlen) rowlen = len;
        if (c->absent) continue;
        EOS_TRY(open_ds(f, r->path, name, 2 + c->nd, ds, keep ? &r->sharp[j] : NULL,
                        keep ? &r->sharp_space[j] : NULL));
        if (keep && len > 0) EOS_CHECK_H5(r->mem_sharp[j] = H5Screate_simple(1, &len, NULL));
    }
    /* /sharp/hvps came after format_version 1's first files: a file without it is resumed,
     * and its runs' product counts are simply not kept */
    htri_t present;
    EOS_CHECK_H5(present = H5Lexists(f, "sharp/" HVPS_NAME, H5P_DEFAULT));
    if (present)
        EOS_TRY(open_ds(f, r->path, "sharp/" HVPS_NAME, 2, ds, keep ? &r->hvps : NULL,
                        keep ? &r->hvps_space : NULL));
    /* /sharp/probe_hvps came later still: resumed without it, like hvps */
    EOS_CHECK_H5(present = H5Lexists(f, "sharp/" PROBE_HVPS_NAME, H5P_DEFAULT));
    if (present) {
        hsize_t d3[3] = {n, S, (hsize_t)eos_curv_n_probes}, len = S * (hsize_t)eos_curv_n_probes;
        EOS_TRY(open_ds(f, r->path, "sharp/" PROBE_HVPS_NAME, 3, d3,
                        keep ? &r->probe_hvps : NULL, keep ? &r->probe_hvps_space : NULL));
        if (keep && len > 0) EOS_CHECK_H5(r->mem_probe_hvps = H5Screate_simple(1, &len, NULL));
    }
    /* /sharp/seconds came after probe_hvps: resumed without it, like hvps */
    EOS_CHECK_H5(present = H5Lexists(f, "sharp/" SECONDS_NAME, H5P_DEFAULT));
    if (present)
        EOS_TRY(open_ds(f, r->path, "sharp/" SECONDS_NAME, 2, ds, keep ? &r->seconds : NULL,
                        keep ? &r->seconds_space : NULL));
    if (!keep) return 0;

    hsize_t one = 1;
    EOS_CHECK_H5(r->mem_one = H5Screate_simple(1, &one, NULL));
    if (R > 0) EOS_CHECK_H5(r->mem_rec = H5Screate_simple(1, &R, NULL));
    if (S > 0) EOS_CHECK_H5(r->mem_slots = H5Screate_simple(1, &S, NULL));
    EOS_ALLOC(r->hvps_row, S * (size_t)eos_curv_n_probes);
    EOS_CHECK_H5(r->status_type = make_status_type());
    EOS_CHECK_H5(r->msg_type = make_fixed_str(EOS_MSG_MAX));
    EOS_CHECK_H5(r->dxpl = H5Pcreate(H5P_DATASET_XFER));
    if (S > rowlen) rowlen = S; /* /sharp/seconds */
    EOS_ALLOC(r->row, rowlen);
fail:
    return rc;
}

/* Rank 0, before any collective open: everything that can refuse without touching a file. */
static int precheck(const char *path, const eos_sweep *sw, const sharp_layout *sl,
                    eos_results_mode mode)
{
    int rc = 0;
    struct stat st;
    eos_results v;
    results_init(&v);
    v.sl = *sl;
    int exists = lstat(path, &st) == 0;
    EOS_CHECK(exists || errno == ENOENT, EOS_ERR_IO, "%s: cannot stat: %s", path,
              strerror(errno));
    if (mode == EOS_RESULTS_CREATE) {
        EOS_CHECK(!exists, EOS_ERR_CONFIG,
                  "%s exists; use --force to overwrite or --resume to continue", path);
        return 0;
    }
    if (mode == EOS_RESULTS_FORCE) {
        /* --force replaces a results file, never a directory, device, FIFO or socket (as root,
         * `-o /dev/null --force` would otherwise replace the system's /dev/null) */
        EOS_CHECK(!exists || !S_ISDIR(st.st_mode), EOS_ERR_CONFIG,
                  "%s is a directory; cannot replace it with a results file", path);
        EOS_CHECK(!exists || S_ISREG(st.st_mode) || S_ISLNK(st.st_mode), EOS_ERR_CONFIG,
                  "%s is not a regular file (a device, FIFO or socket); --force replaces only "
                  "results files",
                  path);
        return 0;
    }
    EOS_CHECK(exists, EOS_ERR_CONFIG, "%s does not exist; nothing to resume", path);
    EOS_CHECK(S_ISREG(st.st_mode), EOS_ERR_IO, "%s is not a regular file", path);
    htri_t is = H5Fis_hdf5(path);
    EOS_CHECK(is >= 0, EOS_ERR_IO, "%s: cannot read the file", path);
    EOS_CHECK(is > 0, EOS_ERR_FORMAT, "%s is not an HDF5 file (not an eosweep results file)",
              path);
    /* Validate read-only first, so a refused resume never opens the file for writing. */
    snprintf(v.path, sizeof v.path, "%s", path);
    if ((v.file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT)) < 0) {
        /* an HDF5 file that HDF5 cannot open is damaged (typically truncated): bad input */
        char detail[256] = "";
        H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, innermost_cb, detail);
        EOS_FAIL(EOS_ERR_FORMAT, "%s: damaged results file, HDF5 cannot open it (%s)", path,
                 detail[0] ? detail : "no detail");
    }
    EOS_TRY(check_header(v.file, path, sw));
    EOS_TRY(open_layout(&v, sw, 0));
fail:
    eos_h5_close(&v.file);
    return h5_annotate(rc, path);
}

int eos_results_open(eos_results **out, MPI_Comm comm, const char *path, const eos_sweep *sw,
                     eos_results_mode mode)
{
    int rc = 0, rank;
    eos_results *r = NULL;
    hid_t fapl = H5I_INVALID_HID;

    EOS_CHECK(out && path && sw, EOS_ERR_INTERNAL, "eos_results_open: NULL argument");
    *out = NULL;
    EOS_CHECK(strlen(path) + 8 < EOS_PATH_MAX, EOS_ERR_CONFIG, "%s: results path too long",
              path);
    EOS_CHECK(sw->n_runs >= 1 && sw->rec_slots >= 0 && sw->sharp_slots >= 0 && sw->k >= 0 &&
                  (sw->n_axes == 0 || (sw->axes && sw->values)),
              EOS_ERR_INTERNAL, "eos_results_open: sweep '%s' is not expanded", sw->name);
    /* Errors are reported through eos_error_msg, not HDF5's stderr dump. */
    EOS_CHECK_H5(H5Eset_auto2(H5E_DEFAULT, NULL, NULL));
    EOS_CHECK_MPI(MPI_Comm_rank(comm, &rank));

    EOS_ALLOC(r, 1);
    results_init(r);
    EOS_TRY(agree(comm, sharp_layout_of(sw, &r->sl)));
    EOS_TRY(agree(comm, rank == 0 ? precheck(path, sw, &r->sl, mode) : 0));
    if (mode != EOS_RESULTS_RESUME)
        EOS_TRY(agree(comm, rank == 0 ? create_and_publish(path, sw, &r->sl, mode) : 0));

    r->comm = comm;
    r->rank = rank;
    snprintf(r->path, sizeof r->path, "%s", path);
    r->n_runs = sw->n_runs;
    r->rec_slots = sw->rec_slots;
    r->sharp_slots = sw->sharp_slots;

    /* collective open with MPI-IO: from here on every rank can write raw data independently */
    {
        int lrc = 0;
        if ((fapl = H5Pcreate(H5P_FILE_ACCESS)) < 0 ||
            H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL) < 0 ||
            (r->file = H5Fopen(path, H5F_ACC_RDWR, fapl)) < 0)
            lrc = h5_annotate(eos_error_set(EOS_ERR_HDF5, __FILE__, __LINE__,
                                            "cannot open for parallel writing"),
                              path);
        EOS_TRY(agree(comm, lrc));
    }
    {
        int lrc = 0;
        if (mode == EOS_RESULTS_RESUME) lrc = check_header(r->file, path, sw);
        if (!lrc) lrc = h5_annotate(open_layout(r, sw, 1), path);
        if (!lrc && H5Pset_dxpl_mpio(r->dxpl, H5FD_MPIO_INDEPENDENT) < 0)
            lrc = h5_annotate(eos_error_set(EOS_ERR_HDF5, __FILE__, __LINE__,
                                            "HDF5 call failed: H5Pset_dxpl_mpio"),
                              path);
        if (!lrc && (r->fd = open(path, O_RDONLY)) < 0)
            lrc = eos_error_set(EOS_ERR_IO, __FILE__, __LINE__, "%s: cannot open: %s", path,
                                strerror(errno));
        EOS_TRY(agree(comm, lrc));
    }
    eos_h5_close(&fapl);
    *out = r;
    return 0;
fail:
    eos_h5_close(&fapl);
    if (r) {
        results_release(r);
        eos_h5_close(&r->file); /* collective: every rank reaches here together (agree) */
        free(r);
    }
    return rc;
}

/* ---- writes ------------------------------------------------------------------------------- */

static int write_elem(eos_results *r, int c, long i, hid_t mtype, const void *v)
{
    int rc = 0;
    hsize_t start = (hsize_t)i, count = 1;
    if (r->col[c] == H5I_INVALID_HID) return 0; /* absent from an older file */
    EOS_CHECK_H5(H5Sselect_hyperslab(r->col_space[c], H5S_SELECT_SET, &start, NULL, &count, NULL));
    EOS_CHECK_H5(H5Dwrite(r->col[c], mtype, r->mem_one, r->col_space[c], r->dxpl, v));
fail:
    return rc;
}

/* Row i of a [n_runs, dims[0..nd)] dataset from buf. */
static int write_row(eos_results *r, hid_t ds, hid_t space, hid_t mem, hid_t mtype,
                     const void *buf, long i, int nd, const hsize_t *dims)
{
    int rc = 0;
    hsize_t start[3 + EOS_CURV_MAX_DIMS] = {(hsize_t)i}, count[3 + EOS_CURV_MAX_DIMS] = {1};
    for (int d = 0; d < nd; d++) count[1 + d] = dims[d];
    EOS_CHECK_H5(H5Sselect_hyperslab(space, H5S_SELECT_SET, start, NULL, count, NULL));
    EOS_CHECK_H5(H5Dwrite(ds, mtype, mem, space, r->dxpl, buf));
fail:
    return rc;
}

/* r->row[0..slots) = src[0..cap) then NaN */
static void fill_row(float *row, int slots, const float *src, int cap)
{
    for (int j = 0; j < slots; j++) row[j] = (src && j < cap) ? src[j] : NAN;
}

_Static_assert(EOS_CURV_MAX_DIMS == 2, "sharp_place and fill_sharp_row index two dimensions");

/* Where output c sits in the run's per-measurement rows of its probe: first value *off, extents
 * e0 x e1 (1 past the output's dimensions). */
static void sharp_place(const eos_curv_traj *t, const sharp_col *c, size_t *off, int *e0, int *e1)
{
    const eos_curv_probe *pr = eos_curv_probes[c->probe];
    *off = 0;
    *e0 = *e1 = 1;
    for (int o = 0; o <= c->out; o++) {
        int nd = pr->out[o].ndims;
        int a = nd > 0 ? t->ext[c->probe][o][0] : 1, b = nd > 1 ? t->ext[c->probe][o][1] : 1;
        if (o < c->out) *off += (size_t)a * (size_t)b;
        *e0 = a;
        *e1 = b;
    }
}

/* r->row = output c of res at every slot of the file [S, E0, E1], NaN past the run's slots and
 * extents. */
static void fill_sharp_row(eos_results *r, const sharp_col *c, const eos_run_result *res)
{
    const eos_curv_traj *t = &res->sharp;
    const float *src = t->vals[c->probe];
    const size_t width = (size_t)t->width[c->probe];
    const hsize_t E0 = c->nd > 0 ? c->ext[0] : 1, E1 = c->nd > 1 ? c->ext[1] : 1;
    size_t off;
    int e0, e1;
    sharp_place(t, c, &off, &e0, &e1);
    for (int j = 0; j < r->sharp_slots; j++)
        for (hsize_t a = 0; a < E0; a++)
            for (hsize_t b = 0; b < E1; b++)
                r->row[((size_t)j * E0 + a) * E1 + b] =
                    (src && j < res->cap_sharp && a < (hsize_t)e0 && b < (hsize_t)e1)
                        ? src[(size_t)j * width + off + a * (size_t)e1 + b]
                        : NAN;
}

int eos_results_write_run(eos_results *r, long i, const eos_run_result *res)
{
    int rc = 0;
    EOS_CHECK(r && res, EOS_ERR_INTERNAL, "eos_results_write_run: NULL argument");
    EOS_CHECK(i >= 0 && i < r->n_runs, EOS_ERR_INTERNAL,
              "%s: run index %ld out of range [0, %ld)", r->path, i, r->n_runs);
    EOS_CHECK(res->status >= EOS_RUN_PENDING && res->status <= EOS_RUN_FAILED, EOS_ERR_INTERNAL,
              "%s: run %ld: invalid status %d", r->path, i, res->status);
    EOS_CHECK(res->n_proj <= r->n_proj, EOS_ERR_INTERNAL,
              "%s: run %ld records %d projections; the file holds %d", r->path, i, res->n_proj,
              r->n_proj);
    EOS_CHECK(res->cap_rec <= r->rec_slots && res->cap_sharp <= r->sharp_slots, EOS_ERR_INTERNAL,
              "%s: run %ld has %d record slots and %d sharpness slots; the file holds %d and %d",
              r->path, i, res->cap_rec, res->cap_sharp, r->rec_slots, r->sharp_slots);
    for (int j = 0; j < r->sl.n && res->cap_sharp > 0; j++) {
        const sharp_col *c = &r->sl.col[j];
        size_t off;
        int e0, e1;
        if (!res->sharp.vals[c->probe]) continue;
        sharp_place(&res->sharp, c, &off, &e0, &e1);
        EOS_CHECK((hsize_t)e0 <= (c->nd > 0 ? c->ext[0] : 1) &&
                      (hsize_t)e1 <= (c->nd > 1 ? c->ext[1] : 1) &&
                      off + (size_t)e0 * (size_t)e1 <= (size_t)res->sharp.width[c->probe],
                  EOS_ERR_INTERNAL,
                  "%s: run %ld: /sharp/%s has %d x %d values per measurement in a row of %d; "
                  "the file holds %llu x %llu",
                  r->path, i, c->name, e0, e1, res->sharp.width[c->probe],
                  (unsigned long long)(c->nd > 0 ? c->ext[0] : 1),
                  (unsigned long long)(c->nd > 1 ? c->ext[1] : 1));
    }

    /* trajectories, padded with NaN up to the file's slot count */
    const hsize_t R = (hsize_t)r->rec_slots, S = (hsize_t)r->sharp_slots;
    if (R > 0) {
        for (int t = 0; t < EOS_TRAJ_N; t++) {
            if (r->traj[t] == H5I_INVALID_HID) continue; /* absent from an older file */
            fill_row(r->row, r->rec_slots, res->traj[t], res->cap_rec);
            EOS_TRY(write_row(r, r->traj[t], r->traj_space[t], r->mem_rec, H5T_NATIVE_FLOAT,
                              r->row, i, 1, &R));
        }
        if (r->n_proj > 0) { /* [R, P]: the run's [cap_rec, n_proj], NaN past them */
            const hsize_t dims[2] = {R, (hsize_t)r->n_proj};
            for (int j = 0; j < r->rec_slots; j++)
                for (int p = 0; p < r->n_proj; p++)
                    r->row[(size_t)j * r->n_proj + p] =
                        j < res->cap_rec && p < res->n_proj ? res->proj[(size_t)j * res->n_proj + p]
                                                            : NAN;
            EOS_TRY(write_row(r, r->proj, r->proj_space, r->mem_proj, H5T_NATIVE_FLOAT, r->row,
                              i, 2, dims));
        }
    }
    if (S > 0) {
        for (int j = 0; j < r->sl.n; j++) {
            const sharp_col *c = &r->sl.col[j];
            hsize_t dims[1 + EOS_CURV_MAX_DIMS] = {S};
            for (int d = 0; d < c->nd; d++) dims[1 + d] = c->ext[d];
            if (col_width(c) == 0) continue;
            fill_sharp_row(r, c, res);
            if (c->absent) {
                for (hsize_t e = 0; e < S * col_width(c); e++)
                    EOS_CHECK(isnan(r->row[e]), EOS_ERR_FORMAT,
                              "%s: run %ld measured /sharp/%s, which this file (made by an "
                              "older eosweep) has no dataset for",
                              r->path, i, c->name);
                continue;
            }
            EOS_TRY(write_row(r, r->sharp[j], r->sharp_space[j], r->mem_sharp[j],
                              H5T_NATIVE_FLOAT, r->row, i, 1 + c->nd, dims));
        }
        for (int j = 0; j < r->sharp_slots; j++)
            r->hvps_row[j] = res->sharp.hvps && j < res->cap_sharp ? res->sharp.hvps[j] : 0;
        if (r->hvps >= 0)
            EOS_TRY(write_row(r, r->hvps, r->hvps_space, r->mem_slots, H5T_NATIVE_INT32,
                              r->hvps_row, i, 1, &S));
        if (r->probe_hvps >= 0) {
            const hsize_t P = (hsize_t)eos_curv_n_probes, dims[2] = {S, P};
            for (hsize_t j = 0; j < S * P; j++)
                r->hvps_row[j] = res->sharp.probe_hvps && j / P < (hsize_t)res->cap_sharp
                                     ? res->sharp.probe_hvps[j]
                                     : 0;
            EOS_TRY(write_row(r, r->probe_hvps, r->probe_hvps_space, r->mem_probe_hvps,
                              H5T_NATIVE_INT32, r->hvps_row, i, 2, dims));
        }
        if (r->seconds >= 0) {
            for (int j = 0; j < r->sharp_slots; j++)
                r->row[j] = res->sharp.seconds && j < res->cap_sharp ? res->sharp.seconds[j] : NAN;
            EOS_TRY(write_row(r, r->seconds, r->seconds_space, r->mem_slots, H5T_NATIVE_FLOAT,
                              r->row, i, 1, &S));
        }
    }

    const int8_t status = (int8_t)res->status;
#define WRITE_COL(id, name, ctype, ftype, fill)                                                    \
    {                                                                                              \
        const MEM_##ftype v_ = (MEM_##ftype)res->name;                                             \
        EOS_TRY(write_elem(r, C_##id, i, NATIVE_##ftype, &v_));                                    \
    }
    EOS_RESULT_COLUMNS(WRITE_COL)
#undef WRITE_COL
    memset(r->msg, 0, sizeof r->msg);
    memcpy(r->msg, res->message, strnlen(res->message, EOS_MSG_MAX - 1));
    EOS_TRY(write_elem(r, C_MESSAGE, i, r->msg_type, r->msg));
    /* Status last: a run only counts as written once everything else is. MPI-IO writes go
     * straight to the kernel, which a kill -9 of the job cannot lose, and later readers see them in
     * order. Only a machine crash could reorder them on disk: in durable mode an fsync separates
     * the data from the status (about 4 ms here, so off by default; measured in
     * docs/performance.md). No fsync after the status: losing it only means the run is redone. */
    if (r->durable)
        EOS_CHECK(fsync(r->fd) == 0 || errno == EINVAL, EOS_ERR_IO, "%s: fsync failed: %s",
                  r->path, strerror(errno));
    EOS_TRY(write_elem(r, C_STATUS, i, r->status_type, &status));
fail:
    return r ? h5_annotate(rc, r->path) : rc;
}

void eos_results_set_durable(eos_results *r, int on) { r->durable = on; }

int eos_results_read_status(eos_results *r, int8_t *status)
{
    int rc = 0, lrc = 0;
    EOS_CHECK(r && status, EOS_ERR_INTERNAL, "eos_results_read_status: NULL argument");
    /* MPI-IO consistency: sync (inside H5Fflush), barrier, then read, so rank 0 sees the
     * writes every rank made independently. */
    if (H5Fflush(r->file, H5F_SCOPE_GLOBAL) < 0)
        lrc = h5_annotate(eos_error_set(EOS_ERR_HDF5, __FILE__, __LINE__,
                                        "HDF5 call failed: H5Fflush"),
                          r->path);
    EOS_TRY(agree(r->comm, lrc));
    EOS_CHECK_MPI(MPI_Barrier(r->comm));
    if (r->rank == 0 &&
        H5Dread(r->col[C_STATUS], r->status_type, H5S_ALL, H5S_ALL, r->dxpl, status) < 0)
        lrc = h5_annotate(eos_error_set(EOS_ERR_HDF5, __FILE__, __LINE__,
                                        "HDF5 call failed: H5Dread(/runs/status)"),
                          r->path);
    /* HDF5 reads an enum of the same base type without checking its values: a damaged byte
     * (7, -3) would otherwise count as some status, or as finished. */
    if (r->rank == 0 && !lrc)
        for (long i = 0; i < r->n_runs; i++)
            if (status[i] < EOS_RUN_PENDING || status[i] > EOS_RUN_FAILED) {
                lrc = eos_error_set(EOS_ERR_FORMAT, __FILE__, __LINE__,
                                    "%s: damaged results file: /runs/status[%ld] = %d is not a "
                                    "run status",
                                    r->path, i, (int)status[i]);
                break;
            }
    EOS_TRY(agree(r->comm, lrc));
    EOS_CHECK(r->n_runs <= INT_MAX, EOS_ERR_INTERNAL, "too many runs to broadcast");
    EOS_CHECK_MPI(MPI_Bcast(status, (int)r->n_runs, MPI_INT8_T, 0, r->comm));
fail:
    return rc;
}

int eos_results_close(eos_results *r)
{
    int rc = 0, lrc = 0;
    if (!r) return 0;
    MPI_Comm comm = r->comm;
    results_release(r);
    if (H5Fclose(r->file) < 0)
        lrc = h5_annotate(eos_error_set(EOS_ERR_HDF5, __FILE__, __LINE__,
                                        "HDF5 call failed: H5Fclose"),
                          r->path);
    free(r);
    rc = agree(comm, lrc);
    return rc;
}
