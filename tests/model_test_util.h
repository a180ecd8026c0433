/* model_test_util.h: the data, directions and error measure shared by the model tests
 * (test_model.c, test_cnn.c). Include after eos_test.h and eos_model.h. */
#ifndef EOS_MODEL_TEST_UTIL_H
#define EOS_MODEL_TEST_UTIL_H

#include "eos_model.h"
#include "eos_rng.h"

#include <math.h>
#include <string.h>

static const eos_activation all_acts[] = {EOS_ACT_TANH, EOS_ACT_RELU,  EOS_ACT_ELU,
                                          EOS_ACT_SOFTPLUS, EOS_ACT_GELU, EOS_ACT_IDENTITY};
static const char *act_names[] = {"tanh", "relu", "elu", "softplus", "gelu", "identity"};
/* Loss i of the loops over losses, with its name; logistic only has one output. */
static const eos_loss_kind all_losses[] = {EOS_LOSS_MSE, EOS_LOSS_XENT, EOS_LOSS_LOGISTIC};
static const char *loss_names[] = {"mse", "xent", "logistic"};
#define N_LOSSES 3
static int loss_fits(int li, int k) { return all_losses[li] != EOS_LOSS_LOGISTIC || k == 1; }

/* Row of the architecture table called name (-1 if none). */
static int arch_index(const char *name)
{
    for (int i = 0; eos_model_arch_name(i); i++)
        if (strcmp(eos_model_arch_name(i), name) == 0) return i;
    return -1;
}

/* X ~ N(0,1); MSE targets ~ N(0,1); xent targets positive soft labels with random total mass
 * (exercises S = sum y != 1), rows where j == i % k get the largest mass; logistic targets +1 or
 * a negative label, 0 on even rows and -1 on odd ones (both encodings). */
static void make_data(real *X, real *Y, int n, int d, int k, eos_loss_kind loss, uint64_t seed)
{
    eos_rng r;
    eos_rng_init(&r, seed, EOS_RNG_STREAM_TEST);
    for (int i = 0; i < n * d; i++) X[i] = (real)eos_rng_normal(&r);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < k; j++) {
            if (loss == EOS_LOSS_MSE) Y[i * k + j] = (real)eos_rng_normal(&r);
            else if (loss == EOS_LOSS_LOGISTIC) Y[i * k + j] = eos_rng_uniform(&r) < 0.5 ? 1 : -(i % 2);
            else Y[i * k + j] = (real)(eos_rng_uniform(&r) + (j == i % k ? 1.0 : 0.0));
        }
}

static void rand_vec(real *v, size_t n, uint64_t seed)
{
    eos_rng r;
    eos_rng_init(&r, seed, EOS_RNG_STREAM_SHARP);
    for (size_t i = 0; i < n; i++) v[i] = (real)eos_rng_normal(&r);
}

/* 0.5 sum_i |f_i - y_i|^2 of outputs f [n, k] against the rows idx[i] of Y (idx NULL: i): with
 * an MSE model's reference loss, the oracle of eos_model_outputs. */
static double mse_of_outputs(const real *f, const real *Y, const int *idx, int n, int k)
{
    double l = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < k; j++) {
            double e = (double)f[(size_t)i * k + j] - Y[(size_t)(idx ? idx[i] : i) * k + j];
            l += 0.5 * e * e;
        }
    return l;
}

static double rel_err(const real *a, const real *b, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double e = (double)a[i] - (double)b[i];
        num += e * e;
        den += (double)b[i] * (double)b[i];
    }
    return sqrt(num) / (den > 0 ? sqrt(den) : 1.0);
}

#endif
