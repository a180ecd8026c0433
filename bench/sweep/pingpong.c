/* pingpong.c: round trip of the sweep engine's request/assign protocol (benchmarks only).
 * Workers send {run, status, stopping} (3 longs, tag 101) and wait for one long (tag 102), as in
 * src/sweep/sched.c. Rank 0 answers in one of two ways:
 *   mode "probe": MPI_Iprobe(ANY_SOURCE) + MPI_Recv + MPI_Send in a busy loop (sched_serve's path
 *                 when rank 0 is between training steps and requests are waiting);
 *   mode "sleep": the same, but 2 ms nanosleep when nothing is waiting (sched_serve when idle).
 * Prints the worker-side round trip (median/mean) and rank 0's message rate.
 *   mpirun -n P pingpong MODE NITER */
#define _POSIX_C_SOURCE 200809L
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int rank, size;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int sleep_mode = argc > 1 && !strcmp(argv[1], "sleep");
    long n = argc > 2 ? atol(argv[2]) : 10000;
    if (size < 2) {
        fprintf(stderr, "pingpong: needs at least 2 ranks\n");
        MPI_Finalize();
        return 2;
    }
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0) {
        long left = n * (size - 1), served = 0;
        double t0 = MPI_Wtime();
        while (served < left) {
            int flag = 0;
            MPI_Status st;
            MPI_Iprobe(MPI_ANY_SOURCE, 101, MPI_COMM_WORLD, &flag, &st);
            if (!flag) {
                if (sleep_mode) {
                    struct timespec ts = {0, 2000000};
                    nanosleep(&ts, NULL);
                }
                continue;
            }
            long msg[3], next = served;
            MPI_Recv(msg, 3, MPI_LONG, st.MPI_SOURCE, 101, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            MPI_Send(&next, 1, MPI_LONG, st.MPI_SOURCE, 102, MPI_COMM_WORLD);
            served++;
        }
        double el = MPI_Wtime() - t0;
        printf("pingpong %s, %d ranks: rank 0 served %ld requests in %.3f s = %.0f requests/s "
               "(%.2f us each)\n", sleep_mode ? "sleep" : "probe", size, served, el, served / el,
               1e6 * el / served);
    } else {
        double *t = malloc(sizeof *t * (size_t)n);
        long msg[3] = {-1, -1, 0}, next;
        for (long i = 0; i < n; i++) {
            double a = MPI_Wtime();
            MPI_Send(msg, 3, MPI_LONG, 0, 101, MPI_COMM_WORLD);
            MPI_Recv(&next, 1, MPI_LONG, 0, 102, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            t[i] = MPI_Wtime() - a;
            msg[0] = next;
        }
        qsort(t, (size_t)n, sizeof *t, cmp_d);
        double s = 0;
        for (long i = 0; i < n; i++) s += t[i];
        if (rank == 1)
            printf("  rank 1 round trip: median %.2f us, mean %.2f us, p99 %.2f us\n", 1e6 * t[n / 2],
                   1e6 * s / n, 1e6 * t[n * 99 / 100]);
        free(t);
    }
    MPI_Finalize();
    return 0;
}
