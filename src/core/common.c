/* common.c: error recording and deterministic vector kernels. */
#include "eos_common.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static _Thread_local char err_msg[1024];
static _Thread_local char err_where[256];

/* Messages are one line whatever the input they quote (a YAML block scalar's newline in a path):
 * control characters are written as C escapes. */
static void copy_escaped(char *dst, size_t cap, const char *src)
{
    size_t o = 0;
    for (const unsigned char *c = (const unsigned char *)src; *c && o + 1 < cap; c++) {
        char esc[8];
        if (*c >= 0x20 && *c != 0x7f) {
            dst[o++] = (char)*c;
            continue;
        }
        if (*c == '\n') snprintf(esc, sizeof esc, "\\n");
        else if (*c == '\r') snprintf(esc, sizeof esc, "\\r");
        else if (*c == '\t') snprintf(esc, sizeof esc, "\\t");
        else snprintf(esc, sizeof esc, "\\x%02x", *c);
        size_t n = strlen(esc);
        if (o + n + 1 > cap) break;
        memcpy(dst + o, esc, n);
        o += n;
    }
    dst[o] = '\0';
}

int eos_error_set(int code, const char *src_file, int src_line, const char *fmt, ...)
{
    char raw[sizeof err_msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    copy_escaped(err_msg, sizeof err_msg, raw);
    snprintf(err_where, sizeof err_where, "%s:%d", src_file, src_line);
    return code;
}

const char *eos_error_msg(void) { return err_msg[0] ? err_msg : "no error recorded"; }
const char *eos_error_where(void) { return err_where; }

void eos_error_clear(void)
{
    err_msg[0] = '\0';
    err_where[0] = '\0';
}

const char *eos_status_name(int code)
{
    switch (code) {
    case EOS_OK: return "ok";
    case EOS_ERR_NOMEM: return "out of memory";
    case EOS_ERR_IO: return "i/o error";
    case EOS_ERR_FORMAT: return "bad file format";
    case EOS_ERR_CONFIG: return "configuration error";
    case EOS_ERR_MPI: return "MPI error";
    case EOS_ERR_HDF5: return "HDF5 error";
    case EOS_ERR_NUMERIC: return "numerical error";
    case EOS_ERR_INTERNAL: return "internal error";
    case EOS_ERR_INTERRUPT: return "interrupted";
    default: return "unknown error";
    }
}

double eos_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Fixed blocks of EOS_RED_BLOCK: each block sum is computed by one thread in index order, the
 * block sums are then added in block order, so the result does not depend on the thread count. */
#define BLOCKED_REDUCE(EXPR)                                                                       \
    size_t nb = (n + EOS_RED_BLOCK - 1) / EOS_RED_BLOCK;                                           \
    double total = 0.0;                                                                            \
    if (nb <= 1) {                                                                                 \
        for (size_t i = 0; i < n; i++) total += (EXPR);                                            \
        return total;                                                                              \
    }                                                                                              \
    double part[256];                                                                              \
    for (size_t b0 = 0; b0 < nb; b0 += 256) {                                                      \
        size_t nbb = nb - b0 < 256 ? nb - b0 : 256;                                                \
        _Pragma("omp parallel for schedule(static)") /* one block per iteration */               \
        for (size_t b = 0; b < nbb; b++) {                                                         \
            size_t lo = (b0 + b) * EOS_RED_BLOCK;                                                  \
            size_t hi = lo + EOS_RED_BLOCK < n ? lo + EOS_RED_BLOCK : n;                           \
            double s = 0.0;                                                                        \
            for (size_t i = lo; i < hi; i++) s += (EXPR);                                          \
            part[b] = s;                                                                           \
        }                                                                                          \
        for (size_t b = 0; b < nbb; b++) total += part[b];                                         \
    }                                                                                              \
    return total;

double eos_sum(const real *x, size_t n) { BLOCKED_REDUCE((double)x[i]) }
double eos_dot(const real *x, const real *y, size_t n) { BLOCKED_REDUCE((double)x[i] * (double)y[i]) }
double eos_nrm2(const real *x, size_t n) { return sqrt(eos_dot(x, x, n)); }

/* Elementwise kernels: each element is computed the same way whichever thread owns it. */
#define PAR_THRESHOLD 32768

void eos_axpy(real *y, double a, const real *x, size_t n)
{
    real ar = (real)a;
#pragma omp parallel for schedule(static) if (n > PAR_THRESHOLD) /* split over elements */
    for (size_t i = 0; i < n; i++) y[i] += ar * x[i];
}

void eos_scal(real *x, double a, size_t n)
{
    real ar = (real)a;
#pragma omp parallel for schedule(static) if (n > PAR_THRESHOLD) /* split over elements */
    for (size_t i = 0; i < n; i++) x[i] *= ar;
}

void eos_copy(real *y, const real *x, size_t n) { memcpy(y, x, n * sizeof(real)); }
void eos_zero(real *x, size_t n) { memset(x, 0, n * sizeof(real)); }
