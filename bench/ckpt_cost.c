/* ckpt_cost.c: what a checkpoint of the reference fc-tanh run costs (docs/checkpoints.md): the
 * trainer's parts for Fashion-MNIST-sized fc-tanh 784-200-200-10 under GD and Adam (parameters,
 * the warm-start vectors of the default top-2, optimizer vectors, a 5,000-example permutation,
 * trajectories of 6,000 steps), written with eos_ckpt_write (SHA-256, write, fsync, rename,
 * directory fsync) and read back with eos_ckpt_read, REPEATS times each; prints the size and the
 * median times.
 * Usage: ckpt_cost [DIR] [REPEATS] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eos_ckpt.h"

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "/tmp";
    int repeats = argc > 2 ? atoi(argv[2]) : 21;
    const size_t np = 784 * 200 + 200 + 200 * 200 + 200 + 200 * 10 + 10; /* 199,210 */
    const size_t n = 5000, rec = 6000 / 10 + 1, sharp = 6000 / 50 + 1;
    char path[600];
    snprintf(path, sizeof path, "%s/ckpt_cost.ckpt.d/run-0.ckpt", dir);
    for (int adam = 0; adam <= 1; adam++) {
        size_t vec = adam ? 3 : 1; /* w, then Adam's two moments */
        real *w = calloc(vec * np, sizeof(real)), *warm = calloc(2 * np, sizeof(real));
        int *perm = calloc(n, sizeof(int));
        float *traj = calloc(5 * rec + 4 * sharp, sizeof(float));
        for (size_t i = 0; i < vec * np; i++) w[i] = (real)i;
        eos_part parts[] = {{w, sizeof(real) * np},
                            {w + np, sizeof(real) * (vec - 1) * np},
                            {warm, sizeof(real) * 2 * np}, /* eig's top-2 Ritz vectors */
                            {perm, sizeof(int) * n},
                            {traj, sizeof(float) * (5 * rec + 4 * sharp)}};
        const int n_parts = sizeof parts / sizeof *parts;
        size_t bytes = 0;
        for (int i = 0; i < n_parts; i++) bytes += parts[i].bytes;
        eos_ckpt_ident id = {.run = 0};
        memset(id.sweep_sha, 'a', 64);
        memset(id.config_sha, 'b', 64);
        double *tw = calloc((size_t)repeats, sizeof(double)), *tr = calloc((size_t)repeats, sizeof(double));
        for (int r = 0; r < repeats; r++) {
            eos_ckpt_info info = {r, 0, 0}, got;
            double t0 = eos_now();
            if (eos_ckpt_write(path, &id, &info, parts, n_parts)) {
                fprintf(stderr, "%s\n", eos_error_msg());
                return 1;
            }
            double t1 = eos_now();
            if (eos_ckpt_read(path, &id, &got, parts, n_parts)) {
                fprintf(stderr, "%s\n", eos_error_msg());
                return 1;
            }
            tw[r] = t1 - t0;
            tr[r] = eos_now() - t1;
        }
        qsort(tw, (size_t)repeats, sizeof *tw, cmp);
        qsort(tr, (size_t)repeats, sizeof *tr, cmp);
        printf("fc-tanh %s: %.2f MB, write %.1f ms, read %.1f ms (medians of %d; at 600 s: %.4f %% "
               "of a run)\n",
               adam ? "adam" : "gd", bytes / 1e6, 1e3 * tw[repeats / 2], 1e3 * tr[repeats / 2],
               repeats, 100 * tw[repeats / 2] / 600);
        free(w), free(warm), free(perm), free(traj), free(tw), free(tr);
    }
    return 0;
}
