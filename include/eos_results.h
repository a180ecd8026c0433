/* eos_results.h: the parallel HDF5 results file (layout in docs/results-format.md). */
#ifndef EOS_RESULTS_H
#define EOS_RESULTS_H

#include <mpi.h>
#include <stdint.h>
#include "eos_sweep.h"
#include "eos_train.h"

typedef struct eos_results eos_results;

typedef enum {
    EOS_RESULTS_CREATE = 0,  /* fail if the file exists */
    EOS_RESULTS_FORCE,       /* replace an existing file */
    EOS_RESULTS_RESUME       /* reopen; refuse if the sweep hash differs */
} eos_results_mode;

/* Collective over comm. CREATE/FORCE create every group, dataset (contiguous, allocated early,
 * filled: NaN for floats, status pending) and attribute, write /sweep and the per-run columns
 * known before training (grid axes, seed, config), then flush, so that afterwards only raw data
 * is written. RESUME opens read-write and checks format, format_version and sweep sha256.
 * On error nothing is created or modified (existing files are never touched except by FORCE). */
int eos_results_open(eos_results **out, MPI_Comm comm, const char *path, const eos_sweep *sw,
                     eos_results_mode mode);

/* Status of every run [n_runs] (collective read, every rank gets all). */
int eos_results_read_status(eos_results *r, int8_t *status);

/* Independent: write run i's row (all columns and trajectories), status last. Once it returns, a
 * kill -9 of the job cannot lose the run (the data is in the kernel); see eos_results_set_durable
 * for machine crashes. */
int eos_results_write_run(eos_results *r, long i, const eos_run_result *res);

/* Durable mode: fsync a run's data before its status is written, so that even a machine crash
 * cannot leave a status without its data (kill -9 of the job cannot, in any mode). */
void eos_results_set_durable(eos_results *r, int on);

/* Collective close. */
int eos_results_close(eos_results *r);

#endif
