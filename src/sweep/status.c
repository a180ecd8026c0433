/* status.c: `eosweep status`, the state of a results file, read-only (see eos_status.h). */
#include "eos_status.h"

#include <dirent.h>
#include <errno.h>
#include <hdf5.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "eos_ckpt.h"
#include "h5_util.h"
#include "eos_common.h"
#include "eos_sched.h"

/* ---- reading ------------------------------------------------------------------------------ */

/* A read-only open that takes no HDF5 file lock: the reader must never be what makes a sweep's
 * serial open (its resume check) fail. */
static hid_t open_ro(const char *path)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS), f = H5I_INVALID_HID;
    if (fapl < 0) return H5I_INVALID_HID;
    if (H5Pset_file_locking(fapl, 0, 1) >= 0) f = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    H5Pclose(fapl);
    return f;
}

/* Scalar attribute `name` of type class `cls`, converted to mtype. *absent: missing or of
 * another class. */
static int read_scalar_attr(hid_t loc, const char *name, H5T_class_t cls, hid_t mtype, void *v,
                            int *absent)
{
    int rc = 0;
    hid_t a = H5I_INVALID_HID, t = H5I_INVALID_HID;
    htri_t ex;
    *absent = 1;
    EOS_CHECK_H5(ex = H5Aexists(loc, name));
    if (!ex) return 0;
    EOS_CHECK_H5(a = H5Aopen(loc, name, H5P_DEFAULT));
    EOS_CHECK_H5(t = H5Aget_type(a));
    if (H5Tget_class(t) != cls) goto fail;
    EOS_CHECK_H5(H5Aread(a, mtype, v));
    *absent = 0;
fail:
    if (t >= 0) H5Tclose(t);
    if (a >= 0) H5Aclose(a);
    return rc;
}


/* Open 1-D dataset /runs/<name> of n entries. */
static int open_column(hid_t f, const char *path, const char *name, long n, hid_t *ds)
{
    int rc = 0;
    hid_t sp = H5I_INVALID_HID;
    char link[64];
    htri_t ex;
    hsize_t dim = 0;
    *ds = H5I_INVALID_HID;
    snprintf(link, sizeof link, "runs/%s", name);
    EOS_CHECK_H5(ex = H5Lexists(f, "runs", H5P_DEFAULT));
    if (ex) EOS_CHECK_H5(ex = H5Lexists(f, link, H5P_DEFAULT));
    EOS_CHECK(ex, EOS_ERR_FORMAT, "%s: damaged results file: dataset /%s missing", path, link);
    EOS_CHECK_H5(*ds = H5Dopen2(f, link, H5P_DEFAULT));
    EOS_CHECK_H5(sp = H5Dget_space(*ds));
    EOS_CHECK(H5Sget_simple_extent_ndims(sp) == 1 && H5Sget_simple_extent_dims(sp, &dim, NULL) == 1 &&
                  dim == (hsize_t)n,
              EOS_ERR_FORMAT, "%s: damaged results file: /%s is not [%ld]", path, link, n);
fail:
    if (sp >= 0) H5Sclose(sp);
    if (rc && *ds >= 0) {
        H5Dclose(*ds);
        *ds = H5I_INVALID_HID;
    }
    return rc;
}

/* /runs/status: an enum over int8 whose names are eosweep's statuses (its file type then reads
 * back as the raw values); a value outside them is damage, as --resume says too. */
static int read_status_column(hid_t f, const char *path, long n, int8_t *status)
{
    int rc = 0;
    hid_t ds = H5I_INVALID_HID, t = H5I_INVALID_HID;
    EOS_TRY(open_column(f, path, "status", n, &ds));
    EOS_CHECK_H5(t = H5Dget_type(ds));
    int ok = H5Tget_class(t) == H5T_ENUM && H5Tget_size(t) == 1;
    for (int8_t v = 0; ok && v < EOS_RUN_N_STATUSES; v++) {
        int8_t got = -1;
        ok = H5Tenum_valueof(t, eos_run_status_names[v], &got) >= 0 && got == v;
    }
    EOS_CHECK(ok, EOS_ERR_FORMAT, "%s: damaged results file: /runs/status is not eosweep's status "
              "enum", path);
    EOS_CHECK_H5(H5Dread(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, status));
    for (long i = 0; i < n; i++)
        EOS_CHECK(status[i] >= 0 && status[i] < EOS_RUN_N_STATUSES, EOS_ERR_FORMAT,
                  "%s: damaged results file: /runs/status[%ld] = %d is not a run status", path, i,
                  (int)status[i]);
fail:
    if (t >= 0) H5Tclose(t);
    if (ds >= 0) H5Dclose(ds);
    return rc;
}

typedef struct {
    long run;
    const char *msg;
} run_msg;

static int cmp_run_msg(const void *a, const void *b)
{
    const run_msg *x = a, *y = b;
    int c = strcmp(x->msg, y->msg);
    return c ? c : (x->run > y->run) - (x->run < y->run);
}

static int cmp_failure(const void *a, const void *b)
{
    const eos_status_failure *x = a, *y = b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return (x->runs[0] > y->runs[0]) - (x->runs[0] < y->runs[0]);
}

/* Group the messages of the failed runs. Only their rows are read: a sweep's message column is
 * 256 bytes a run. A failed run's message was written before its status (status last). */
static int read_failures(eos_status_report *st, hid_t f, const int8_t *status)
{
    int rc = 0;
    hid_t ds = H5I_INVALID_HID, ft = H5I_INVALID_HID, mt = H5I_INVALID_HID;
    hid_t fsp = H5I_INVALID_HID, msp = H5I_INVALID_HID;
    hsize_t *coord = NULL;
    char *text = NULL;
    run_msg *rm = NULL;
    long nf = st->counts[EOS_RUN_FAILED];
    if (nf == 0) return 0;
    EOS_TRY(open_column(f, st->path, "message", st->n_runs, &ds));
    EOS_CHECK_H5(ft = H5Dget_type(ds));
    size_t w = H5Tget_size(ft);
    EOS_CHECK(H5Tget_class(ft) == H5T_STRING && H5Tis_variable_str(ft) == 0 && w > 0,
              EOS_ERR_FORMAT, "%s: damaged results file: /runs/message is not a fixed-length "
              "string", st->path);
    EOS_CHECK_H5(mt = H5Tcopy(H5T_C_S1));
    EOS_CHECK_H5(H5Tset_size(mt, w + 1)); /* room for the NUL a full-width message lacks */
    EOS_CHECK_H5(H5Tset_strpad(mt, H5T_STR_NULLTERM));
    EOS_CHECK_H5(H5Tset_cset(mt, H5Tget_cset(ft))); /* HDF5 converts no character set */
    EOS_ALLOC(coord, nf);
    EOS_ALLOC(rm, nf);
    EOS_ALLOC(text, (size_t)nf * (w + 1));
    long k = 0;
    for (long i = 0; i < st->n_runs && k < nf; i++)
        if (status[i] == EOS_RUN_FAILED) coord[k++] = (hsize_t)i;
    hsize_t count = (hsize_t)nf;
    EOS_CHECK_H5(fsp = H5Dget_space(ds));
    EOS_CHECK_H5(H5Sselect_elements(fsp, H5S_SELECT_SET, (size_t)nf, coord));
    EOS_CHECK_H5(msp = H5Screate_simple(1, &count, NULL));
    EOS_CHECK_H5(H5Dread(ds, mt, msp, fsp, H5P_DEFAULT, text));
    for (long j = 0; j < nf; j++) {
        rm[j].run = (long)coord[j];
        rm[j].msg = text + (size_t)j * (w + 1);
    }
    qsort(rm, (size_t)nf, sizeof *rm, cmp_run_msg);
    EOS_ALLOC(st->failures, nf);
    for (long j = 0; j < nf; j++) {
        if (j == 0 || strcmp(rm[j].msg, rm[j - 1].msg))
            snprintf(st->failures[st->n_failures++].message, EOS_MSG_MAX, "%s", rm[j].msg);
        eos_status_failure *g = &st->failures[st->n_failures - 1];
        if (g->n_shown < EOS_STATUS_RUNS_SHOWN) g->runs[g->n_shown++] = rm[j].run;
        g->count++;
    }
    qsort(st->failures, (size_t)st->n_failures, sizeof *st->failures, cmp_failure);
fail:
    free(rm);
    free(text);
    free(coord);
    if (msp >= 0) H5Sclose(msp);
    if (fsp >= 0) H5Sclose(fsp);
    if (mt >= 0) H5Tclose(mt);
    if (ft >= 0) H5Tclose(ft);
    if (ds >= 0) H5Dclose(ds);
    return rc;
}

/* Whether checkpoint `file` is run `run`'s of this sweep, and where that run stood (eos_ckpt.h;
 * only its header is read). One that does not read (damaged, of another build's precision) is
 * listed without step and age; one of another sweep or run is not this run's progress. */
static int read_ckpt(const eos_status_report *st, const char *file, eos_status_ckpt *c)
{
    eos_ckpt_ident id;
    eos_ckpt_info info;
    int got = eos_ckpt_peek(file, &id, &info);
    if (got == 1) return 0; /* gone since the directory was listed: the run was written */
    if (got == 0 && (id.run != c->run || strncmp(id.sweep_sha, st->sweep_sha, 64) != 0)) return 0;
    if (got == 0) {
        c->have_step = c->have_age = 1;
        c->step = (long long)info.step;
        c->age_seconds = (double)time(NULL) - info.saved_at;
    }
    return 1;
}

static int cmp_ckpt(const void *a, const void *b)
{
    const eos_status_ckpt *x = a, *y = b;
    return (x->run > y->run) - (x->run < y->run);
}

/* The runs in progress: pending runs with a checkpoint (a finished run's leftover one is not). */
static int read_checkpoints(eos_status_report *st, const int8_t *status)
{
    int rc = 0;
    char dir[EOS_PATH_MAX + 8], file[EOS_PATH_MAX + 300];
    long cap = 0;
    snprintf(dir, sizeof dir, "%s.ckpt", st->path);
    DIR *d = opendir(dir);
    if (!d && (errno == ENOENT || errno == ENOTDIR)) return 0;
    EOS_CHECK(d, EOS_ERR_IO, "%s: cannot read the checkpoint directory %s: %s", st->path, dir,
              strerror(errno));
    st->have_ckpt_dir = 1;
    for (struct dirent *e; (e = readdir(d));) {
        long run = -1;
        int end = 0;
        /* exactly run-<digits>.ckpt: not a temporary name a writer renames into place */
        if (e->d_name[0] != 'r' || sscanf(e->d_name, "run-%ld.ckpt%n", &run, &end) != 1 ||
            e->d_name[end] != '\0' || e->d_name[4] < '0' || e->d_name[4] > '9' || run < 0 ||
            run >= st->n_runs || status[run] != EOS_RUN_PENDING)
            continue;
        if (st->n_in_progress == cap) {
            cap = cap ? 2 * cap : 16;
            eos_status_ckpt *grown = realloc(st->in_progress, (size_t)cap * sizeof *grown);
            EOS_CHECK(grown, EOS_ERR_NOMEM, "out of memory listing %s", dir);
            st->in_progress = grown;
        }
        eos_status_ckpt *c = &st->in_progress[st->n_in_progress];
        memset(c, 0, sizeof *c);
        c->run = run;
        snprintf(file, sizeof file, "%s/%s", dir, e->d_name);
        st->n_in_progress += read_ckpt(st, file, c);
    }
    if (st->n_in_progress)
        qsort(st->in_progress, (size_t)st->n_in_progress, sizeof *st->in_progress, cmp_ckpt);
fail:
    if (d) closedir(d);
    return rc;
}

int eos_status_read(eos_status_report *st, const char *path)
{
    int rc = 0, absent = 0;
    hid_t f = H5I_INVALID_HID;
    int8_t *status = NULL;
    struct stat sb;
    char s[64];
    long long v = 0;
    memset(st, 0, sizeof *st);
    EOS_CHECK(strlen(path) < sizeof st->path - 8, EOS_ERR_CONFIG, "%s: path too long", path);
    snprintf(st->path, sizeof st->path, "%s", path);
    EOS_CHECK(stat(path, &sb) == 0, errno == ENOENT ? EOS_ERR_CONFIG : EOS_ERR_IO,
              "%s: %s", path, errno == ENOENT ? "no such file" : strerror(errno));
    EOS_CHECK(S_ISREG(sb.st_mode), EOS_ERR_CONFIG, "%s: not a regular file", path);
    EOS_CHECK_H5(H5Eset_auto2(H5E_DEFAULT, NULL, NULL)); /* one line of ours, no HDF5 stack */
    htri_t is = H5Fis_hdf5(path);
    EOS_CHECK(is >= 0, EOS_ERR_IO, "%s: cannot read the file", path);
    EOS_CHECK(is > 0, EOS_ERR_FORMAT, "%s: not an HDF5 file (not an eosweep results file)", path);
    f = open_ro(path);
    EOS_CHECK(f >= 0, EOS_ERR_FORMAT, "%s: damaged results file, HDF5 cannot open it", path);

    EOS_TRY(eos_h5_read_str_attr(f, "format", s, sizeof s, &absent));
    EOS_CHECK(!absent && !strcmp(s, "eosweep-results"), EOS_ERR_FORMAT,
              "%s: not an eosweep results file (root attribute 'format' %s%s%s)", path,
              absent ? "missing" : "is '", absent ? "" : s, absent ? "" : "'");
    EOS_TRY(read_scalar_attr(f, "format_version", H5T_INTEGER, H5T_NATIVE_LLONG, &v, &absent));
    EOS_CHECK(!absent, EOS_ERR_FORMAT, "%s: root attribute 'format_version' missing", path);
    EOS_CHECK(v == 1, EOS_ERR_FORMAT,
              "%s: format_version %lld is not supported (this eosweep reads version 1)", path, v);
    EOS_TRY(read_scalar_attr(f, "n_runs", H5T_INTEGER, H5T_NATIVE_LLONG, &v, &absent));
    EOS_CHECK(!absent && v >= 1 && v <= (1LL << 40), EOS_ERR_FORMAT,
              "%s: damaged results file: root attribute 'n_runs' %s", path,
              absent ? "missing" : "out of range");
    st->n_runs = (long)v;
    EOS_TRY(eos_h5_read_str_attr(f, "name", st->name, sizeof st->name, &absent));
    EOS_TRY(eos_h5_read_str_attr(f, "sweep_sha256", st->sweep_sha, sizeof st->sweep_sha, &absent));

    EOS_ALLOC(status, st->n_runs);
    EOS_TRY(read_status_column(f, path, st->n_runs, status));
    for (long i = 0; i < st->n_runs; i++) st->counts[status[i]]++;
    EOS_TRY(read_failures(st, f, status));
    EOS_TRY(eos_lock_query(path, &st->writer));
    EOS_TRY(read_checkpoints(st, status));
fail:
    if (rc == EOS_ERR_HDF5) { /* an HDF5 call that failed on a file it opened: damage */
        char why[512];
        snprintf(why, sizeof why, "%s", eos_error_msg()); /* the message buffer is rewritten */
        rc = eos_error_set(EOS_ERR_FORMAT, __FILE__, __LINE__, "%s: damaged results file: %s",
                           path, why);
    }
    free(status);
    if (f >= 0) H5Fclose(f);
    if (rc) eos_status_free(st);
    return rc;
}

void eos_status_free(eos_status_report *st)
{
    free(st->failures);
    free(st->in_progress);
    st->failures = NULL;
    st->in_progress = NULL;
    st->n_failures = st->n_in_progress = 0;
}

/* ---- printing ----------------------------------------------------------------------------- */

static void print_runs(FILE *out, const eos_status_failure *g)
{
    for (int j = 0; j < g->n_shown; j++) fprintf(out, "%s%ld", j ? ", " : "", g->runs[j]);
    if (g->count > g->n_shown) fprintf(out, ", ...");
}

void eos_status_print(const eos_status_report *st, FILE *out)
{
    fprintf(out, "%s: sweep '%s', %ld runs\n", st->path, st->name, st->n_runs);
    fprintf(out, "  runs:   ");
    for (int s = 0; s < EOS_RUN_N_STATUSES; s++)
        fprintf(out, "%s%ld %s", s ? ", " : "", st->counts[s], eos_run_status_names[s]);
    fputc('\n', out);
    const eos_lock_holder *w = &st->writer;
    if (w->held)
        fprintf(out, "  writer: pid %ld on host %s since %s\n", w->pid, w->host[0] ? w->host : "?",
                w->since[0] ? w->since : "?");
    else fprintf(out, "  writer: none (no sweep is writing the file)\n");
    if (st->n_failures) fprintf(out, "  failures:\n");
    for (long i = 0; i < st->n_failures; i++) {
        const eos_status_failure *g = &st->failures[i];
        fprintf(out, "    %ld x %s (run%s ", g->count, g->message[0] ? g->message : "(no message)",
                g->count > 1 ? "s" : "");
        print_runs(out, g);
        fprintf(out, ")\n");
    }
    if (!st->have_ckpt_dir) return;
    fprintf(out, "  in progress:%s\n", st->n_in_progress ? "" : " none");
    for (long i = 0; i < st->n_in_progress; i++) {
        const eos_status_ckpt *c = &st->in_progress[i];
        fprintf(out, "    run %ld: ", c->run);
        if (c->have_step) fprintf(out, "step %lld", c->step);
        if (c->have_age) fprintf(out, "%scheckpoint saved %.0f s ago", c->have_step ? ", " : "",
                                 c->age_seconds);
        if (!c->have_step && !c->have_age) fprintf(out, "checkpoint unreadable (damaged?)");
        fputc('\n', out);
    }
}

/* A JSON string; bytes >= 0x80 pass through (the file's strings are UTF-8). */
static void json_str(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(out, "\\%c", *p);
        else if (*p == '\n') fputs("\\n", out);
        else if (*p == '\t') fputs("\\t", out);
        else if (*p < 0x20 || *p == 0x7f) fprintf(out, "\\u%04x", *p);
        else fputc(*p, out);
    }
    fputc('"', out);
}

static void json_str_or_null(FILE *out, const char *s)
{
    if (s[0]) json_str(out, s);
    else fputs("null", out);
}

void eos_status_print_json(const eos_status_report *st, FILE *out)
{
    fputs("{\"path\": ", out);
    json_str(out, st->path);
    fputs(", \"name\": ", out);
    json_str(out, st->name);
    fprintf(out, ", \"runs\": %ld, \"counts\": {", st->n_runs);
    for (int s = 0; s < EOS_RUN_N_STATUSES; s++)
        fprintf(out, "%s\"%s\": %ld", s ? ", " : "", eos_run_status_names[s], st->counts[s]);
    fputs("}, \"writer\": ", out);
    if (st->writer.held) {
        fputs("{\"host\": ", out);
        json_str_or_null(out, st->writer.host);
        fprintf(out, ", \"pid\": %ld, \"since\": ", st->writer.pid);
        json_str_or_null(out, st->writer.since);
        fputc('}', out);
    } else fputs("null", out);
    fputs(", \"failures\": [", out);
    for (long i = 0; i < st->n_failures; i++) {
        const eos_status_failure *g = &st->failures[i];
        fputs(i ? ", {\"message\": " : "{\"message\": ", out);
        json_str(out, g->message);
        fprintf(out, ", \"count\": %ld, \"runs\": [", g->count);
        for (int j = 0; j < g->n_shown; j++) fprintf(out, "%s%ld", j ? ", " : "", g->runs[j]);
        fputs("]}", out);
    }
    fputs("], \"in_progress\": [", out);
    for (long i = 0; i < st->n_in_progress; i++) {
        const eos_status_ckpt *c = &st->in_progress[i];
        fprintf(out, "%s{\"run\": %ld, \"step\": ", i ? ", " : "", c->run);
        if (c->have_step) fprintf(out, "%lld", c->step);
        else fputs("null", out);
        fputs(", \"age_seconds\": ", out);
        if (c->have_age) fprintf(out, "%.3f", c->age_seconds);
        else fputs("null", out);
        fputc('}', out);
    }
    fputs("]}\n", out);
}

/* ---- command ------------------------------------------------------------------------------ */

static void status_usage(FILE *f)
{
    fprintf(f, "usage: eosweep status [--json] OUT.h5\n"
               "Reports a results file: its runs by status, the sweep writing it (if any), the\n"
               "failure messages and the runs in progress. Read-only; safe while a sweep runs.\n"
               "  --json  one JSON object instead of text\n");
}

int eos_status_main(int argc, char **argv)
{
    const char *path = NULL;
    int json = 0, bad = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            status_usage(stdout);
            return EOS_EXIT_OK;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "eosweep: status: unknown option '%s'\n", a);
            bad = 1;
        } else if (path) {
            fprintf(stderr, "eosweep: status: more than one file ('%s' and '%s')\n", path, a);
            bad = 1;
        } else path = a;
    }
    if (!path && !bad) fprintf(stderr, "eosweep: status: which results file?\n");
    if (bad || !path) {
        status_usage(stderr);
        return EOS_EXIT_USAGE;
    }
    eos_status_report st;
    int rc = eos_status_read(&st, path);
    if (rc) {
        fprintf(stderr, "eosweep: %s\n", eos_error_msg());
        return rc == EOS_ERR_NOMEM || rc == EOS_ERR_INTERNAL ? EOS_EXIT_ERROR : EOS_EXIT_USAGE;
    }
    if (json) eos_status_print_json(&st, stdout);
    else eos_status_print(&st, stdout);
    eos_status_free(&st);
    return fflush(stdout) == 0 ? EOS_EXIT_OK : EOS_EXIT_ERROR;
}
