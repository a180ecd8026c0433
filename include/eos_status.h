/* eos_status.h: `eosweep status [--json] OUT.h5`, what a results file holds and who writes it.
 *
 * Read-only and safe while a sweep writes the file: the file is opened read-only with HDF5's
 * file locking off (after creation a sweep writes only raw data into preallocated space, status
 * last), the writer lock PATH.lock is only asked about (eos_lock_query), never taken. Needs no
 * MPI: the sweep's parallel HDF5 is used with its default serial driver. */
#ifndef EOS_STATUS_H
#define EOS_STATUS_H

#include <stdio.h>

#include "eos_lock.h"
#include "eos_train.h"

/* Run indices kept per failure message (the count is always complete). */
#define EOS_STATUS_RUNS_SHOWN 10

typedef struct {
    char message[EOS_MSG_MAX];
    long count;
    int n_shown;
    long runs[EOS_STATUS_RUNS_SHOWN]; /* the first failed runs with this message, ascending */
} eos_status_failure;

typedef struct {
    long run;
    int have_step, have_age;          /* 0: the checkpoint's header does not read (damaged) */
    long long step;
    double age_seconds;               /* now - its saved_at */
} eos_status_ckpt;

typedef struct {
    char path[EOS_PATH_MAX];
    char name[EOS_NAME_MAX];
    char sweep_sha[65];               /* root attribute sweep_sha256: checkpoints must match it */
    long n_runs;
    long counts[EOS_RUN_N_STATUSES];  /* by eos_run_status */
    eos_lock_holder writer;           /* writer.held = 0: no sweep writes it now */
    eos_status_failure *failures;     /* most frequent message first */
    long n_failures;
    int have_ckpt_dir;                /* PATH.ckpt/ exists */
    eos_status_ckpt *in_progress;     /* pending runs with a checkpoint PATH.ckpt/run-<i>.ckpt
                                         of this sweep and run (eos_ckpt.h) */
    long n_in_progress;
} eos_status_report;

/* Read the state of results file `path`. EOS_ERR_CONFIG (no such file, not a regular file),
 * EOS_ERR_FORMAT (not HDF5, not an eosweep results file, damaged), or others; messages are one
 * line starting with the path. */
int eos_status_read(eos_status_report *st, const char *path);
void eos_status_free(eos_status_report *st);
/* The report for people, and as one JSON object (keys in docs/sweep-engine.md). */
void eos_status_print(const eos_status_report *st, FILE *f);
void eos_status_print_json(const eos_status_report *st, FILE *f);

/* `eosweep status` with argv[0] = "status". Returns the exit code (0, or 2: bad path or file). */
int eos_status_main(int argc, char **argv);

#endif
