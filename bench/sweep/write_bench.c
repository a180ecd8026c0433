/* write_bench.c: times the sweep engine's file path without training (benchmarks only).
 * Every rank parses SWEEP.yaml (as eosweep does), the results file OUT.h5 is created (rank 0,
 * timed) and opened collectively, then each rank writes NW rows with eos_results_write_run
 * (rank r writes rows r, r+size, ...; timed one by one). Prints parse time, peak memory after
 * parsing, creation time, file size and the write-time distribution. Run it with the LD_PRELOAD
 * shim (fsync_shim.c) to split off the fsync cost, or EOS_BENCH_FSYNC=skip to remove it.
 *   mpirun -n P write_bench SWEEP.yaml OUT.h5 NW        (NW 0: creation only) */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "eos_common.h"
#include "eos_results.h"
#include "eos_sweep.h"
#include "eos_train.h"

static long status_kb(const char *key)
{
    char line[256];
    long kb = -1;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, strlen(key))) kb = atol(line + strlen(key) + 1);
    fclose(f);
    return kb;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int rank, size, code = 1;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (argc != 4) {
        if (!rank) fprintf(stderr, "usage: write_bench SWEEP.yaml OUT.h5 NWRITES\n");
        MPI_Finalize();
        return 2;
    }
    long nw = atol(argv[3]);
    eos_sweep sw;
    eos_results *r = NULL;
    eos_run_result res;
    eos_config cfg;
    double *t = NULL;
    memset(&sw, 0, sizeof sw);
    memset(&res, 0, sizeof res);
    long rss0 = status_kb("VmRSS:");
    double t0 = eos_now();
    if (eos_sweep_load(&sw, argv[1])) {
        fprintf(stderr, "write_bench: %s\n", eos_error_msg());
        goto out;
    }
    double t_parse = eos_now() - t0;
    long rss1 = status_kb("VmRSS:");
    MPI_Barrier(MPI_COMM_WORLD);
    t0 = eos_now();
    if (eos_results_open(&r, MPI_COMM_WORLD, argv[2], &sw, EOS_RESULTS_FORCE)) {
        fprintf(stderr, "write_bench: %s\n", eos_error_msg());
        goto out;
    }
    double t_open = eos_now() - t0;
    long hwm = status_kb("VmHWM:");
    struct stat st;
    long long fsize = stat(argv[2], &st) == 0 ? (long long)st.st_size : -1;
    if (!rank)
        printf("runs %ld axes %d rec_slots %d sharp_slots %d k %d | parse+expand %.3f s, RSS +%ld kB "
               "(rank 0) | create+open %.3f s, peak RSS %ld kB | file %lld bytes (%.1f kB/run)\n",
               sw.n_runs, sw.n_axes, sw.rec_slots, sw.sharp_slots, sw.k, t_parse, rss1 - rss0,
               t_open, hwm, fsize, fsize / 1024.0 / sw.n_runs);
    long mine = 0;
    if (nw > 0) {
        if (eos_sweep_run_config(&sw, 0, &cfg) || eos_run_result_alloc(&res, &cfg)) {
            fprintf(stderr, "write_bench: %s\n", eos_error_msg());
            goto out;
        }
        res.status = EOS_RUN_DONE;
        res.steps = cfg.train.max_steps;
        res.final_loss = res.final_acc = 0.5;
        res.rank = rank;
        res.n_rec = res.cap_rec;
        for (int j = 0; j < res.cap_rec; j++) res.loss[j] = res.acc[j] = res.grad_norm[j] = 1.0f / (j + 1);
        t = malloc(sizeof *t * (size_t)nw);
        for (long i = rank; i < nw && i < sw.n_runs; i += size) {
            double a = eos_now();
            if (eos_results_write_run(r, i, &res)) {
                fprintf(stderr, "write_bench: %s\n", eos_error_msg());
                goto out;
            }
            t[mine++] = eos_now() - a;
        }
        qsort(t, (size_t)mine, sizeof *t, cmp_d);
        double sum = 0;
        for (long i = 0; i < mine; i++) sum += t[i];
        if (mine)
            printf("rank %d: %ld writes: mean %.1f us, median %.1f us, p90 %.1f us, max %.1f us\n", rank,
                   mine, 1e6 * sum / mine, 1e6 * t[mine / 2], 1e6 * t[mine * 9 / 10], 1e6 * t[mine - 1]);
    }
    code = 0;
out:
    fflush(stdout);
    if (r && eos_results_close(r)) fprintf(stderr, "write_bench: close: %s\n", eos_error_msg());
    eos_run_result_free(&res);
    eos_sweep_free(&sw);
    free(t);
    MPI_Finalize();
    return code;
}
