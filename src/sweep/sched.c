/* sched.c: the sweep engine. Rank 0 reads and validates the sweep, checks the data, orders the
 * queue and hands out runs; every rank (rank 0 included, between its own training steps) trains
 * runs and writes their rows into the shared results file itself. Protocol (tags below):
 *   worker -> 0  EOS_TAG_REQ     {-1, -1, stopping flag, 0}: asks for a run; always answered
 *                                with one EOS_TAG_ASSIGN
 *   0 -> worker  EOS_TAG_ASSIGN  {next run index, or -1: no more work}
 *   worker -> 0  EOS_TAG_REPORT  a sched_report: a finished run with what rank 0's progress
 *                                line shows of it (never answered); leaving = the worker leaves
 * A worker asks for its next run when it starts one (one request in flight), so the answer is
 * there when it finishes even though rank 0 only answers between its own training steps. */
#include "eos_sched.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "eos_common.h"
#include "eos_data.h"
#include "eos_lock.h"
#include "eos_model.h"
#include "eos_results.h"
#include "eos_sweep.h"
#include "eos_train.h"

enum { EOS_TAG_REQ = 101, EOS_TAG_ASSIGN = 102, EOS_TAG_REPORT = 103 };

/* A worker's report: a finished run (run -1: none) with the fields of its progress line, so
 * that the line is the same whichever rank trained the run. */
typedef struct {
    long run, status, stopping, leaving, steps;
    double final_loss, final_sharpness, wall_seconds;
} sched_report;

typedef struct {
    MPI_Comm comm;
    int rank, size;
    MPI_Datatype report_type; /* sched_report */
    const eos_sched_opts *opts;
    eos_sweep sw;
    eos_results *res_file;
    eos_lock lock;          /* rank 0: one writer per results file */
    char ckpt_dir[EOS_PATH_MAX + 16]; /* OUT.h5.ckpt: runs in progress (docs/checkpoints.md) */
    /* rank 0: the queue and the tallies */
    long *queue, qlen, qpos;
    int active_workers;
    long n_todo, n_finished, n_done, n_diverged, n_failed;
    double t_start;
    int tty;
    /* every rank: its data cache */
    eos_data data;
    eos_config data_cfg;
    int have_data;
    int told_tiles; /* the threads-beyond-model.gemm_tiles note was printed */
} sched;

/* ---- loading: rank 0 reads the file, every rank parses the same text ---------------------- */

static int sched_load_sweep(sched *S)
{
    int rc = 0;
    long len = 0;
    char *text = NULL;
    if (S->rank == 0) {
        if (S->opts->sweep_path) {
            FILE *f = fopen(S->opts->sweep_path, "rb");
            if (!f) {
                rc = eos_error_set(EOS_ERR_IO, __FILE__, __LINE__, "%s: cannot open: %s",
                                   S->opts->sweep_path, strerror(errno));
                len = -1;
            } else {
                if (fseek(f, 0, SEEK_END) == 0) len = ftell(f);
                else len = -1;
                if (len >= 0 && fseek(f, 0, SEEK_SET) != 0) len = -1;
                text = len >= 0 ? malloc((size_t)len + 1) : NULL;
                if (!text || fread(text, 1, (size_t)len, f) != (size_t)len) {
                    rc = eos_error_set(EOS_ERR_IO, __FILE__, __LINE__, "%s: cannot read",
                                       S->opts->sweep_path);
                    len = -1;
                } else text[len] = '\0';
                fclose(f);
            }
        } else {
            len = (long)strlen(eos_quickstart_yaml);
            text = malloc((size_t)len + 1);
            if (text) memcpy(text, eos_quickstart_yaml, (size_t)len + 1);
        }
    }
    EOS_CHECK_MPI(MPI_Bcast(&len, 1, MPI_LONG, 0, S->comm));
    if (len < 0) {
        rc = rc ? rc : EOS_ERR_IO;
        goto fail;
    }
    if (S->rank != 0) EOS_ALLOC(text, len + 1);
    EOS_CHECK_MPI(MPI_Bcast(text, (int)len + 1, MPI_CHAR, 0, S->comm));
    const char *name = S->opts->sweep_path ? S->opts->sweep_path : "quickstart.yaml (built in)";
    rc = eos_sweep_parse(&S->sw, name, text, (size_t)len);
    int any = rc != 0, all_any = 0;
    EOS_CHECK_MPI(MPI_Allreduce(&any, &all_any, 1, MPI_INT, MPI_MAX, S->comm));
    if (all_any && !rc) rc = eos_error_set(EOS_ERR_CONFIG, __FILE__, __LINE__,
                                           "the sweep failed to load on another rank");
fail:
    free(text);
    return rc;
}

/* Rank 0 loads each distinct file-based data set once before anything is written, so a corrupt
 * file is reported with no output file created. */
static int sched_check_data(sched *S)
{
    int rc = 0, bad = 0;
    eos_config *seen = NULL; /* one configuration per distinct data set already checked */
    if (S->rank == 0) {
        eos_config cfg;
        long nseen = 0, cap = 0;
        for (long i = 0; i < S->sw.n_runs && !bad; i++) {
            if (eos_sweep_run_config(&S->sw, i, &cfg)) {
                bad = 1;
                break;
            }
            /* data drawn from the seed cannot be missing or corrupt */
            if (!eos_data_needs_files(&cfg)) continue;
            int known = 0;
            for (long j = 0; j < nseen && !known; j++) known = eos_data_same(&seen[j], &cfg);
            if (known) continue;
            eos_data d;
            memset(&d, 0, sizeof d);
            if (eos_data_load(&d, &cfg)) bad = 1;
            eos_data_free(&d);
            if (nseen == cap) {
                cap = cap ? 2 * cap : 8;
                eos_config *grown = realloc(seen, (size_t)cap * sizeof *seen);
                if (!grown) {
                    eos_error_set(EOS_ERR_NOMEM, __FILE__, __LINE__,
                                  "out of memory checking the sweep's data sets");
                    bad = 1;
                    break;
                }
                seen = grown;
            }
            seen[nseen++] = cfg;
        }
    }
    EOS_CHECK_MPI(MPI_Bcast(&bad, 1, MPI_INT, 0, S->comm));
    if (bad) rc = EOS_ERR_CONFIG;
fail:
    free(seen);
    return rc;
}

/* ---- rank 0: queue and progress --------------------------------------------------------- */

/* Forward multiply-adds of the run: the architecture's cost per example (eos_model_cost) on the
 * data the source knows of before loading (eos_data_estimate, which says what it assumes where
 * only the files tell), times the examples of every step, plus ~40 Lanczos HVPs (3 passes each)
 * over the training set per sharpness measurement. Only the order matters (longest first). */
static double expected_cost(const eos_config *c)
{
    eos_data_info info;
    if (eos_data_estimate(c, &info)) return 0; /* cannot happen: runs are validated */
    double n = (double)info.n_train;
    double per_ex = eos_model_cost(&c->model, &info.shape, info.n_out);
    double batch = c->train.batch_size > 0 && c->train.batch_size < n ? c->train.batch_size : n;
    double steps = (double)c->train.max_steps;
    double sharp = c->sharpness.every > 0 ? steps / c->sharpness.every * 40.0 * 3.0 * n : 0;
    return per_ex * (steps * batch + sharp);
}

typedef struct {
    double cost;
    long idx;
} cost_idx;

static int cmp_cost(const void *a, const void *b)
{
    const cost_idx *x = a, *y = b;
    if (x->cost != y->cost) return x->cost > y->cost ? -1 : 1;
    return x->idx < y->idx ? -1 : (x->idx > y->idx);
}

static int sched_build_queue(sched *S, const int8_t *status)
{
    int rc = 0;
    cost_idx *ci = NULL;
    EOS_ALLOC(S->queue, S->sw.n_runs);
    EOS_ALLOC(ci, S->sw.n_runs);
    long q = 0;
    for (long i = 0; i < S->sw.n_runs; i++) {
        int st = status[i];
        if (st == EOS_RUN_PENDING || (S->opts->retry_failed && st == EOS_RUN_FAILED)) {
            eos_config cfg;
            EOS_TRY(eos_sweep_run_config(&S->sw, i, &cfg));
            ci[q].cost = expected_cost(&cfg);
            ci[q].idx = i;
            q++;
        }
    }
    qsort(ci, (size_t)q, sizeof *ci, cmp_cost); /* longest expected first */
    for (long i = 0; i < q; i++) S->queue[i] = ci[i].idx;
    S->qlen = q;
    S->n_todo = q;
fail:
    free(ci);
    return rc;
}

static void fmt_hms(char *buf, size_t len, double s)
{
    if (!isfinite(s) || s < 0) {
        snprintf(buf, len, "--:--:--");
        return;
    }
    long t = (long)(s + 0.5);
    snprintf(buf, len, "%02ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
}

static const char *status_word(int st)
{
    return st >= 0 && st < EOS_RUN_N_STATUSES ? eos_run_status_names[st] : "pending";
}

_Static_assert(offsetof(sched_report, steps) == offsetof(sched_report, run) + 4 * sizeof(long) &&
                   offsetof(sched_report, wall_seconds) ==
                       offsetof(sched_report, final_loss) + 2 * sizeof(double),
               "sched_report: one block of longs, one of doubles (make_report_type)");

static int make_report_type(MPI_Datatype *t)
{
    int rc = 0;
    int len[2] = {5, 3};
    MPI_Aint disp[2] = {offsetof(sched_report, run), offsetof(sched_report, final_loss)};
    MPI_Datatype types[2] = {MPI_LONG, MPI_DOUBLE}, raw = MPI_DATATYPE_NULL;
    EOS_CHECK_MPI(MPI_Type_create_struct(2, len, disp, types, &raw));
    EOS_CHECK_MPI(MPI_Type_create_resized(raw, 0, (MPI_Aint)sizeof(sched_report), t));
    EOS_CHECK_MPI(MPI_Type_commit(t));
fail:
    if (raw != MPI_DATATYPE_NULL) MPI_Type_free(&raw);
    return rc;
}

static void report_of(sched_report *m, long run, const eos_run_result *res)
{
    memset(m, 0, sizeof *m);
    m->run = run;
    m->status = res->status;
    m->steps = res->steps;
    m->final_loss = res->final_loss;
    m->final_sharpness = res->final_sharpness;
    m->wall_seconds = res->wall_seconds;
}

static void sched_account(sched *S, const sched_report *m, int from_rank)
{
    long run = m->run;
    int st = (int)m->status;
    S->n_finished++;
    if (st == EOS_RUN_DONE) S->n_done++;
    else if (st == EOS_RUN_DIVERGED) S->n_diverged++;
    else if (st == EOS_RUN_FAILED) S->n_failed++;
    if (S->opts->quiet) return;
    double el = eos_now() - S->t_start;
    double rpm = el > 0 ? 60.0 * S->n_finished / el : 0;
    double eta = S->n_finished > 0 ? el / S->n_finished * (S->n_todo - S->n_finished) : NAN;
    char eta_s[32];
    fmt_hms(eta_s, sizeof eta_s, eta);
    if (S->tty) {
        int width = 30, fill = S->n_todo ? (int)(width * S->n_finished / S->n_todo) : width;
        char bar[64];
        for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
        bar[width] = '\0';
        fprintf(stderr, "\r[%s] %ld/%ld runs, %ld diverged, %ld failed, %.1f runs/min, ETA %s ", bar,
                S->n_finished, S->n_todo, S->n_diverged, S->n_failed, rpm, eta_s);
        if (S->n_finished == S->n_todo) fputc('\n', stderr);
    } else {
        fprintf(stderr,
                "[%ld/%ld] run %ld %s (rank %d) loss %.4g sharpness %.4g steps %ld %.1fs | %ld "
                "diverged, %ld failed, %.1f runs/min, ETA %s\n",
                S->n_finished, S->n_todo, run, status_word(st), from_rank, m->final_loss,
                m->final_sharpness, m->steps, m->wall_seconds, S->n_diverged, S->n_failed, rpm,
                eta_s);
    }
    fflush(stderr);
}

/* Under mpirun, rank 0's stderr is a pipe to mpirun and its stdout another channel (a pty), which
 * mpirun forwards each as it reads them: the results line could overtake the last progress
 * lines. So wait (2 s at most) until what was written to stderr has been read. */
static void wait_stderr_read(void)
{
    struct stat st;
    if (fstat(2, &st) != 0 || !S_ISFIFO(st.st_mode)) return;
    for (int i = 0; i < 2000; i++) {
        int unread = 0;
        if (ioctl(2, FIONREAD, &unread) != 0 || unread <= 0) return;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
}

/* Rank 0: answer every waiting request (called between rank 0's own training steps). */
static int sched_serve(sched *S, int block)
{
    int rc = 0;
    for (;;) {
        int flag = 0;
        MPI_Status st;
        EOS_CHECK_MPI(MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, S->comm, &flag, &st));
        if (!flag) {
            if (!block || S->active_workers == 0) break;
            struct timespec ts = {0, 2000000}; /* 2 ms: idle rank 0 must not spin a core */
            nanosleep(&ts, NULL);
            continue;
        }
        long msg[4];
        EOS_CHECK(st.MPI_TAG == EOS_TAG_REQ || st.MPI_TAG == EOS_TAG_REPORT, EOS_ERR_INTERNAL,
                  "unexpected message tag %d from rank %d", st.MPI_TAG, st.MPI_SOURCE);
        if (st.MPI_TAG == EOS_TAG_REPORT) {
            sched_report m;
            EOS_CHECK_MPI(MPI_Recv(&m, 1, S->report_type, st.MPI_SOURCE, EOS_TAG_REPORT, S->comm,
                                   MPI_STATUS_IGNORE));
            if (m.stopping) *S->opts->stop = 1; /* a worker got the signal: stop handing out */
            if (m.run >= 0) sched_account(S, &m, st.MPI_SOURCE);
            if (m.leaving) S->active_workers--;
            continue;
        }
        EOS_CHECK_MPI(MPI_Recv(msg, 4, MPI_LONG, st.MPI_SOURCE, st.MPI_TAG, S->comm, MPI_STATUS_IGNORE));
        if (msg[2]) *S->opts->stop = 1; /* a worker got the signal: stop handing out */
        long next = -1;
        if (!*S->opts->stop && S->qpos < S->qlen) next = S->queue[S->qpos++];
        EOS_CHECK_MPI(MPI_Send(&next, 1, MPI_LONG, st.MPI_SOURCE, EOS_TAG_ASSIGN, S->comm));
    }
fail:
    return rc;
}

static void serve_hook(void *ctx)
{
    sched *S = ctx;
    if (sched_serve(S, 0)) *S->opts->stop = 1; /* reported again when rank 0 next serves */
}

/* ---- every rank: one run --------------------------------------------------------------- */

static void print_record(void *ctx, long step, const eos_run_result *r, int slot)
{
    (void)ctx;
    fprintf(stderr, "  step %6ld loss %.6g acc %.4g grad_norm %.4g\n", step, r->loss[slot],
            r->acc[slot], r->grad_norm[slot]);
}

static void print_sharp(void *ctx, long step, const eos_run_result *r, int slot)
{
    (void)ctx, (void)slot;
    fprintf(stderr, "  step %6ld sharpness %.6g\n", step, r->final_sharpness);
}

static void print_note(void *ctx, const char *line)
{
    const sched *S = ctx;
    fprintf(stderr, "eosweep: rank %d: %s\n", S->rank, line);
}

/* Rank 0, before any run starts: remove the checkpoints no run will continue from (a new file's
 * stale ones, those of runs already stored, interrupted temporaries). */
static void sched_tidy_checkpoints(const sched *S, const int8_t *status)
{
    DIR *d = opendir(S->ckpt_dir);
    if (!d) return;
    struct dirent *e;
    char path[EOS_PATH_MAX + 300];
    while ((e = readdir(d)) != NULL) {
        long i;
        char tail[8] = "";
        int n = sscanf(e->d_name, "run-%ld.ckpt%7s", &i, tail);
        if (n < 1) continue;
        int keep = n == 1 && S->opts->resume && i >= 0 && i < S->sw.n_runs &&
                   status[i] == EOS_RUN_PENDING;
        if (keep) continue;
        snprintf(path, sizeof path, "%s/%s", S->ckpt_dir, e->d_name);
        if (unlink(path) != 0 && errno != ENOENT)
            fprintf(stderr, "eosweep: %s: cannot remove: %s\n", path, strerror(errno));
    }
    closedir(d);
    rmdir(S->ckpt_dir); /* only if nothing is left in it */
}

/* Train run i and write its row. Returns 0 (the run's outcome is in *status), EOS_ERR_INTERRUPT
 * when stopped by a signal (nothing written, the run stays pending), or an I/O failure. */
static int sched_do_run(sched *S, long i, int *status, eos_run_result *res)
{
    int rc = 0;
    eos_config cfg;
    char ckpt[EOS_PATH_MAX + 48];
    snprintf(ckpt, sizeof ckpt, "%s/run-%ld.ckpt", S->ckpt_dir, i);
    EOS_TRY(eos_sweep_run_config(&S->sw, i, &cfg));
    EOS_TRY(eos_run_result_alloc(res, &cfg));
    res->rank = S->rank;
    if (!S->have_data || !eos_data_same(&S->data_cfg, &cfg)) {
        if (S->have_data) eos_data_free(&S->data);
        S->have_data = 0;
        memset(&S->data, 0, sizeof S->data);
        if (eos_data_load(&S->data, &cfg) == 0) {
            S->have_data = 1;
            S->data_cfg = cfg;
        }
    }
    if (!S->have_data) {
        res->status = EOS_RUN_FAILED;
        snprintf(res->message, sizeof res->message, "%s", eos_error_msg());
    } else {
        eos_train_hooks hooks = {.stop = S->opts->stop, .ctx = S, .ckpt_path = ckpt,
                                 .ckpt_every = S->opts->ckpt_every, .sweep_sha = S->sw.sha256,
                                 .run = i, .on_note = print_note};
        if (S->rank == 0 && S->size > 1) hooks.on_step = serve_hook;
        /* the GEMM split follows the run's setting, not the thread count (docs/performance.md,
         * "GEMM tiles"): say once (rank 0) when threads would wait in every large product */
        const int nthr = omp_get_max_threads();
        if (S->rank == 0 && nthr > cfg.model.gemm_tiles && !S->told_tiles && !S->opts->quiet) {
            S->told_tiles = 1;
            fprintf(stderr,
                    "eosweep: %d OpenMP threads per rank but model.gemm_tiles is %d: large GEMMs "
                    "keep at most %d of them busy (set model.gemm_tiles: %d for speed; it changes "
                    "results in their last bits)\n",
                    nthr, cfg.model.gemm_tiles, cfg.model.gemm_tiles, nthr);
        }
        if (S->opts->verbose) {
            hooks.on_record = print_record;
            hooks.on_sharp = print_sharp;
        }
        rc = eos_train_run(&cfg, &S->data, res, &hooks);
        if (res->resumed_from > 0 && !S->opts->quiet)
            fprintf(stderr, "eosweep: run %ld continued from its checkpoint at step %ld%s\n", i,
                    res->resumed_from, rc == EOS_ERR_INTERRUPT ? " (and was stopped again)" : "");
        /* with the line above, the steps each job trained (tests/cli_slurm.sh adds them up) */
        if (rc == EOS_ERR_INTERRUPT && !S->opts->quiet)
            fprintf(stderr, "eosweep: run %ld stopped at step %ld\n", i, res->steps);
        if (rc) goto fail;
    }
    res->rank = S->rank;
    EOS_TRY(eos_results_write_run(S->res_file, i, res));
    /* the row is stored: the checkpoint is no longer needed (a kill just before this leaves a
     * stale one, removed when the sweep is resumed) */
    if (unlink(ckpt) != 0 && errno != ENOENT)
        fprintf(stderr, "eosweep: %s: cannot remove: %s\n", ckpt, strerror(errno));
    *status = res->status;
fail:
    return rc;
}

static int sched_worker_loop(sched *S)
{
    int rc = 0;
    long msg[4] = {-1, -1, 0, 0}, next = -1;
    MPI_Request pending = MPI_REQUEST_NULL;
    eos_run_result res;
    memset(&res, 0, sizeof res);
    EOS_CHECK_MPI(MPI_Send(msg, 4, MPI_LONG, 0, EOS_TAG_REQ, S->comm));
    EOS_CHECK_MPI(MPI_Recv(&next, 1, MPI_LONG, 0, EOS_TAG_ASSIGN, S->comm, MPI_STATUS_IGNORE));
    while (next >= 0 && !*S->opts->stop) {
        long cur = next;
        /* ask for the following run now: rank 0 answers while this one trains */
        msg[0] = msg[1] = -1;
        msg[2] = 0;
        EOS_CHECK_MPI(MPI_Send(msg, 4, MPI_LONG, 0, EOS_TAG_REQ, S->comm));
        EOS_CHECK_MPI(MPI_Irecv(&next, 1, MPI_LONG, 0, EOS_TAG_ASSIGN, S->comm, &pending));
        int st = 0;
        sched_report m;
        rc = sched_do_run(S, cur, &st, &res);
        if (rc == 0) report_of(&m, cur, &res);
        eos_run_result_free(&res);
        if (rc && rc != EOS_ERR_INTERRUPT) goto fail;
        if (rc == 0) EOS_CHECK_MPI(MPI_Send(&m, 1, S->report_type, 0, EOS_TAG_REPORT, S->comm));
        rc = 0;
        EOS_CHECK_MPI(MPI_Wait(&pending, MPI_STATUS_IGNORE));
    }
    /* leaving: a run assigned but not started stays pending in the file */
    sched_report bye = {.run = -1, .status = -1, .stopping = *S->opts->stop ? 1 : 0, .leaving = 1};
    EOS_CHECK_MPI(MPI_Send(&bye, 1, S->report_type, 0, EOS_TAG_REPORT, S->comm));
fail:
    eos_run_result_free(&res);
    return rc;
}

static int sched_rank0_loop(sched *S)
{
    int rc = 0;
    eos_run_result res;
    memset(&res, 0, sizeof res);
    while (!*S->opts->stop && S->qpos < S->qlen) {
        EOS_TRY(sched_serve(S, 0));
        if (*S->opts->stop || S->qpos >= S->qlen) break;
        long i = S->queue[S->qpos++];
        int st = 0;
        rc = sched_do_run(S, i, &st, &res);
        if (rc == EOS_ERR_INTERRUPT) {
            rc = 0;
            eos_run_result_free(&res);
            break;
        }
        if (rc) goto fail;
        sched_report m;
        report_of(&m, i, &res);
        sched_account(S, &m, 0);
        eos_run_result_free(&res);
    }
    EOS_TRY(sched_serve(S, 1)); /* until every worker has reported that it is leaving */
fail:
    eos_run_result_free(&res);
    return rc;
}

int eos_sched_main(MPI_Comm comm, const eos_sched_opts *opts)
{
    int rc = 0, code = EOS_EXIT_OK;
    sched S;
    int8_t *status = NULL;
    memset(&S, 0, sizeof S);
    S.lock.fd = -1;
    S.report_type = MPI_DATATYPE_NULL;
    S.comm = comm;
    S.opts = opts;
    MPI_Comm_rank(comm, &S.rank);
    MPI_Comm_size(comm, &S.size);
    S.tty = isatty(2);
    if (make_report_type(&S.report_type)) { /* local and the same on every rank */
        fprintf(stderr, "eosweep: rank %d: %s\n", S.rank, eos_error_msg());
        code = EOS_EXIT_ERROR;
        goto out;
    }

    if (sched_load_sweep(&S)) {
        if (S.rank == 0) fprintf(stderr, "eosweep: %s\n", eos_error_msg());
        code = EOS_EXIT_USAGE;
        goto out;
    }
    if (opts->dry_run) {
        if (S.rank == 0) eos_sweep_print(&S.sw, stdout);
        goto out;
    }
    if (S.rank == 0 && S.sw.n_duplicates > 0 && !opts->quiet)
        fprintf(stderr, "eosweep: %s: %ld duplicate runs removed from the grid (%ld runs remain)\n",
                S.sw.file, S.sw.n_duplicates, S.sw.n_runs);
    if (!opts->resume && sched_check_data(&S)) {
        if (S.rank == 0) fprintf(stderr, "eosweep: %s\n", eos_error_msg());
        code = EOS_EXIT_USAGE;
        goto out;
    }
    char out_path[EOS_PATH_MAX + 8];
    if (opts->out_path) snprintf(out_path, sizeof out_path, "%s", opts->out_path);
    else snprintf(out_path, sizeof out_path, "%s.h5", S.sw.name[0] ? S.sw.name : "eosweep");
    snprintf(S.ckpt_dir, sizeof S.ckpt_dir, "%s.ckpt", out_path);
    eos_results_mode mode = opts->resume ? EOS_RESULTS_RESUME
                            : opts->force ? EOS_RESULTS_FORCE : EOS_RESULTS_CREATE;
    /* Before anything is replaced or opened for writing: a second sweep on the same file (even
     * with --force) would otherwise write into an inode the first one also writes, or unlinks. */
    rc = S.rank == 0 ? eos_lock_acquire(&S.lock, out_path) : 0;
    EOS_CHECK_MPI(MPI_Bcast(&rc, 1, MPI_INT, 0, comm));
    if (rc) {
        if (S.rank == 0) fprintf(stderr, "eosweep: %s\n", eos_error_msg());
        code = rc == EOS_ERR_CONFIG ? EOS_EXIT_USAGE : EOS_EXIT_ERROR;
        goto out;
    }
    rc = eos_results_open(&S.res_file, comm, out_path, &S.sw, mode);
    if (rc) {
        if (S.rank == 0) fprintf(stderr, "eosweep: %s\n", eos_error_msg());
        code = rc == EOS_ERR_CONFIG || rc == EOS_ERR_FORMAT ? EOS_EXIT_USAGE : EOS_EXIT_ERROR;
        goto out;
    }
    eos_results_set_durable(S.res_file, opts->durable);
    EOS_ALLOC(status, S.sw.n_runs);
    rc = eos_results_read_status(S.res_file, status); /* collective: every rank agrees */
    if (rc) {
        if (S.rank == 0) fprintf(stderr, "eosweep: %s\n", eos_error_msg());
        code = rc == EOS_ERR_FORMAT ? EOS_EXIT_USAGE : EOS_EXIT_ERROR;
        goto out;
    }
    S.t_start = eos_now();
    if (S.rank == 0) sched_tidy_checkpoints(&S, status);
    EOS_CHECK_MPI(MPI_Barrier(comm)); /* no run starts before the stale checkpoints are gone */
    if (S.rank == 0) {
        EOS_TRY(sched_build_queue(&S, status));
        S.active_workers = S.size - 1;
        if (!opts->quiet)
            fprintf(stderr, "eosweep: %s: %ld runs, %ld to do, on %d rank%s -> %s\n", S.sw.file,
                    S.sw.n_runs, S.qlen, S.size, S.size > 1 ? "s" : "", out_path);
        EOS_TRY(sched_rank0_loop(&S));
    } else {
        EOS_TRY(sched_worker_loop(&S));
    }
    /* Interrupted runs stay pending; rank 0 counts them and the exit code tells the job script
     * to resume. */
    rc = eos_results_close(S.res_file);
    S.res_file = NULL;
    if (rc) goto fail;
    if (S.rank == 0) {
        long left = S.n_todo - S.n_finished;
        if (!opts->quiet) {
            double el = eos_now() - S.t_start;
            fprintf(stderr,
                    "eosweep: %ld runs finished in %.1f s: %ld done, %ld diverged, %ld failed%s\n",
                    S.n_finished, el, S.n_done, S.n_diverged, S.n_failed,
                    S.n_failed ? " (see /runs/message; --resume --retry-failed reruns them)" : "");
            if (left > 0)
                fprintf(stderr, "eosweep: stopped by a signal with %ld runs left: run again with --resume\n",
                        left);
        }
        wait_stderr_read();
        printf("results: %s\n", out_path);
        code = left > 0 ? EOS_EXIT_INCOMPLETE : EOS_EXIT_OK;
        if (left == 0) rmdir(S.ckpt_dir); /* each run removed its own checkpoint */
    }
    EOS_CHECK_MPI(MPI_Bcast(&code, 1, MPI_INT, 0, comm));
    goto out;
fail:
    /* A failure on this rank alone: the others may wait for it forever, so the job ends here.
     * Failures that every rank agreed on (the goto out paths above) exit normally, without Open
     * MPI's abort banner. */
    fprintf(stderr, "eosweep: rank %d: %s (%s)\n", S.rank, eos_error_msg(), eos_error_where());
    code = EOS_EXIT_ERROR;
    if (S.size > 1) MPI_Abort(comm, code);
out:
    if (S.report_type != MPI_DATATYPE_NULL) MPI_Type_free(&S.report_type);
    if (S.res_file) eos_results_close(S.res_file);
    eos_lock_release(&S.lock);
    free(status);
    free(S.queue);
    if (S.have_data) eos_data_free(&S.data);
    eos_sweep_free(&S.sw);
    return code;
}
