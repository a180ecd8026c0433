/* eos_sched.h: the sweep engine. Rank 0's part (reading the sweep, checking the data, the run
 * queue, progress) lives here and only here; workers call the same entry point. */
#ifndef EOS_SCHED_H
#define EOS_SCHED_H

#include <mpi.h>
#include <signal.h>

/* Exit codes of the eosweep command (documented in README and docs/sweep-format.md). */
enum {
    EOS_EXIT_OK = 0,          /* every run finished (done, diverged or failed: see the summary) */
    EOS_EXIT_ERROR = 1,       /* I/O, MPI or HDF5 failure */
    EOS_EXIT_USAGE = 2,       /* bad command line, bad sweep file or data: nothing written */
    EOS_EXIT_INCOMPLETE = 75  /* stopped by a signal (SLURM time limit): resume with --resume */
};

typedef struct {
    const char *sweep_path;   /* NULL: the embedded quickstart */
    const char *out_path;     /* NULL: NAME.h5 from the sweep's name */
    int dry_run, force, resume, retry_failed, quiet;
    int verbose;              /* print every record of every run (single-run debugging) */
    int durable;              /* fsync each run's data before its status (machine crashes) */
    double ckpt_every;        /* seconds of a run between checkpoints (0: only on signals) */
    volatile sig_atomic_t *stop; /* set by SIGTERM/SIGUSR1/SIGINT */
} eos_sched_opts;

/* Collective over comm. Returns one of the EOS_EXIT_* codes (the same on every rank). */
int eos_sched_main(MPI_Comm comm, const eos_sched_opts *opts);

#endif
