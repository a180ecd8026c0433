/* main.c: command line, MPI start-up and signals; everything else is in the scheduler. */
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eos_blas.h"
#include "eos_common.h"
#include "eos_sched.h"
#include "eos_status.h"

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: eosweep [SWEEP.yaml] [-o OUT.h5] [--dry-run] [--force | --resume [--retry-failed]]\n"
            "               [--checkpoint-every SECONDS] [--quiet] [--verbose] [--fsync]\n"
            "       eosweep status [--json] OUT.h5   (a results file's state; safe while it is written)\n"
            "Runs every grid point of SWEEP.yaml (the built-in quickstart if none) and writes one\n"
            "HDF5 results file. Under mpirun, ranks share the runs dynamically.\n"
            "  -o, --output FILE  results file (default: NAME.h5, NAME from the sweep)\n"
            "  --dry-run          print the expanded runs and their count, then exit\n"
            "  --force            replace an existing results file\n"
            "  --resume           continue an existing results file (same sweep text)\n"
            "  --retry-failed     with --resume: run failed runs again too\n"
            "  --quiet            no progress output\n"
            "  --checkpoint-every SECONDS\n"
            "                     save each run in progress this often (default 600; 0: only\n"
            "                     when stopped by a signal), in OUT.h5.ckpt/; --resume goes on\n"
            "                     from there\n"
            "  --fsync            fsync each run before its status (survives machine crashes,\n"
            "                     not only kill -9; costs an fsync per run)\n"
            "  --verbose          print every recorded step of every run\n"
            "Exit codes: 0 finished, 1 error, 2 bad input (nothing written), 75 interrupted by a\n"
            "signal (SIGTERM/SIGUSR1/SIGINT): run again with --resume.\n");
}

int main(int argc, char **argv)
{
    /* Reads a file and prints: neither MPI nor BLAS (nor a better BLAS kernel) is needed. */
    if (argc >= 2 && !strcmp(argv[1], "status")) return eos_status_main(argc - 1, argv + 1);

    /* May execute this program again with a better BLAS kernel: before MPI and any BLAS call. */
    if (eos_blas_select_kernel(argv)) fprintf(stderr, "eosweep: warning: %s\n", eos_error_msg());

    eos_sched_opts o = {.stop = &stop_flag, .ckpt_every = 600};
    int bad = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            if (i + 1 >= argc) bad = 1;
            else o.out_path = argv[++i];
        } else if (!strcmp(a, "--checkpoint-every")) {
            char *end = NULL;
            o.ckpt_every = i + 1 < argc ? strtod(argv[++i], &end) : -1;
            if (!end || *end || !(o.ckpt_every >= 0) || o.ckpt_every > 1e9) {
                fprintf(stderr, "eosweep: --checkpoint-every needs seconds >= 0 (0: only when "
                                "stopped by a signal), got '%s'\n", i < argc ? argv[i] : "");
                bad = 1;
            }
        } else if (!strcmp(a, "--dry-run")) o.dry_run = 1;
        else if (!strcmp(a, "--force")) o.force = 1;
        else if (!strcmp(a, "--resume")) o.resume = 1;
        else if (!strcmp(a, "--retry-failed")) o.retry_failed = 1;
        else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) o.quiet = 1;
        else if (!strcmp(a, "--fsync")) o.durable = 1;
        else if (!strcmp(a, "--verbose") || !strcmp(a, "-v")) o.verbose = 1;
        else if (!strcmp(a, "--version")) {
            printf("eosweep %s (%s, OpenBLAS %s)\n", EOS_VERSION, EOS_REAL_NAME, eos_blas_core_name());
            return 0;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (a[0] == '-') {
            fprintf(stderr, "eosweep: unknown option '%s'\n", a);
            bad = 1;
        } else if (o.sweep_path) {
            fprintf(stderr, "eosweep: more than one sweep file ('%s' and '%s')\n", o.sweep_path, a);
            bad = 1;
        } else o.sweep_path = a;
    }
    if (o.force && o.resume) {
        fprintf(stderr, "eosweep: --force and --resume exclude each other\n");
        bad = 1;
    }
    if (o.retry_failed && !o.resume) {
        fprintf(stderr, "eosweep: --retry-failed needs --resume\n");
        bad = 1;
    }
    if (bad) {
        usage(stderr);
        return EOS_EXIT_USAGE;
    }

    /* SLURM sends SIGTERM (or the --signal of the job script) before a time limit.
     * Installed before MPI starts so that a warning arriving during start-up only sets the flag. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    int provided = 0;
    if (MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        fprintf(stderr, "eosweep: MPI_Init_thread failed\n");
        return EOS_EXIT_ERROR;
    }
    if (provided < MPI_THREAD_FUNNELED) {
        fprintf(stderr, "eosweep: the MPI library does not provide MPI_THREAD_FUNNELED\n");
        MPI_Abort(MPI_COMM_WORLD, EOS_EXIT_ERROR);
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    if (o.verbose) {
        int rank = 0;
        MPI_Comm_rank(MPI_COMM_WORLD, &rank);
        const char *pinned = getenv("OPENBLAS_CORETYPE");
        if (rank == 0)
            fprintf(stderr, "eosweep: BLAS kernel: OpenBLAS %s (OPENBLAS_CORETYPE%s%s)\n",
                    eos_blas_core_name(), pinned ? "=" : " unset", pinned ? pinned : "");
    }

    int code = eos_sched_main(MPI_COMM_WORLD, &o); /* aborts itself if a rank may be stuck */
    MPI_Finalize();
    return code;
}
