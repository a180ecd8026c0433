/* fsync_shim.c: LD_PRELOAD shim for benchmarks only. Counts and times every fsync() of the
 * process and prints one line at exit. EOS_BENCH_FSYNC=skip returns 0 without syncing, and
 * EOS_BENCH_FSYNC=fdatasync calls fdatasync() instead, so that a sweep's wall time with and without
 * the two per-run fsyncs of eos_results_write_run can be compared without touching src/.
 * Build: gcc -O2 -shared -fPIC bench/sweep/fsync_shim.c -o /tmp/fsync_shim.so -ldl */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long n_calls;
static double total_s, max_s;
static int skip = -1, datasync;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

int fsync(int fd)
{
    static int (*real_fsync)(int);
    if (!real_fsync) real_fsync = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    if (skip < 0) {
        const char *s = getenv("EOS_BENCH_FSYNC");
        skip = s && !strcmp(s, "skip");
        datasync = s && !strcmp(s, "fdatasync");
    }
    double t0 = now();
    int rc = skip ? 0 : datasync ? fdatasync(fd) : real_fsync(fd);
    double dt = now() - t0;
    n_calls++;
    total_s += dt;
    if (dt > max_s) max_s = dt;
    return rc;
}

__attribute__((destructor)) static void report(void)
{
    if (!n_calls) return;
    const char *r = getenv("OMPI_COMM_WORLD_RANK");
    fprintf(stderr, "fsync_shim: rank %s: %ld fsync calls, total %.6f s, mean %.1f us, max %.1f us%s\n",
            r ? r : "-", n_calls, total_s, 1e6 * total_s / n_calls, 1e6 * max_s,
            skip ? " (skipped)" : datasync ? " (as fdatasync)" : "");
}
