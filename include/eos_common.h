/* eos_common.h: precision, status codes and the error-unwinding macros every module uses. */
#ifndef EOS_COMMON_H
#define EOS_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef EOS_FLOAT64
typedef double real;
#define EOS_REAL_NAME "float64"
#else
typedef float real;
#define EOS_REAL_NAME "float32"
#endif

#define EOS_VERSION "0.1.0"

/* Library functions return one of these; 0 is success. The message lives in a thread-local buffer
 * (eos_error_msg) so that callers can unwind with goto and only main decides to abort. */
typedef enum {
    EOS_OK = 0,
    EOS_ERR_NOMEM = -1,    /* allocation failed */
    EOS_ERR_IO = -2,       /* open/read/write of a file failed */
    EOS_ERR_FORMAT = -3,   /* a file exists but its content is wrong */
    EOS_ERR_CONFIG = -4,   /* bad configuration or sweep spec */
    EOS_ERR_MPI = -5,      /* an MPI call failed */
    EOS_ERR_HDF5 = -6,     /* an HDF5 call failed */
    EOS_ERR_NUMERIC = -7,  /* non-finite values where they must not be */
    EOS_ERR_INTERNAL = -8, /* a bug: an invariant did not hold */
    EOS_ERR_INTERRUPT = -9 /* stopped by a signal */
} eos_status;

/* Record an error (printf-style) with the C source position that raised it. Returns code. */
int eos_error_set(int code, const char *src_file, int src_line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The last recorded message for this thread (user-facing, one line), and where it was raised. */
const char *eos_error_msg(void);
const char *eos_error_where(void);
void eos_error_clear(void);
const char *eos_status_name(int code);

/* Unwinding helpers: a function using them declares `int rc = 0;` and a `fail:` label. */
#define EOS_FAIL(code, ...)                                                                        \
    do {                                                                                           \
        rc = eos_error_set((code), __FILE__, __LINE__, __VA_ARGS__);                               \
        goto fail;                                                                                 \
    } while (0)
#define EOS_CHECK(cond, code, ...)                                                                 \
    do {                                                                                           \
        if (!(cond)) EOS_FAIL((code), __VA_ARGS__);                                                \
    } while (0)
/* In a validation function with a `const char **key` out parameter: name the offending key
 * (a key path such as "data.path", which the message starts with) and fail with EOS_ERR_CONFIG. */
#define EOS_FAIL_KEY(k, ...)                                                                       \
    do {                                                                                           \
        *key = (k);                                                                                \
        EOS_FAIL(EOS_ERR_CONFIG, __VA_ARGS__);                                                     \
    } while (0)
/* A piece of a run's state that a checkpoint saves and restores byte for byte (eos_ckpt.h): the
 * layers that own state (optimizer, curvature probes, trainer) list theirs as parts. */
typedef struct {
    void *p;
    size_t bytes;
} eos_part;

/* A table whose rows other files define, listed once, one line per row: ROWS(X, T) expands
 * X(T, row) for each row variable of type T, in table order. Declares the rows and defines
 * `static const T *const name[]`. */
#define EOS_TABLE(T, name, ROWS)                                                                   \
    ROWS(EOS_TABLE_EXTERN_, T)                                                                     \
    static const T *const name[] = {ROWS(EOS_TABLE_ENTRY_, T)}
#define EOS_TABLE_EXTERN_(T, row) extern const T row;
#define EOS_TABLE_ENTRY_(T, row) &row,
/* Propagate a failing eos_* call (its message is already recorded). */
#define EOS_TRY(expr)                                                                              \
    do {                                                                                           \
        rc = (expr);                                                                               \
        if (rc != 0) goto fail;                                                                    \
    } while (0)
/* libc allocation */
#define EOS_ALLOC(ptr, count)                                                                      \
    do {                                                                                           \
        (ptr) = calloc((size_t)(count) > 0 ? (size_t)(count) : 1, sizeof(*(ptr)));                 \
        if (!(ptr)) EOS_FAIL(EOS_ERR_NOMEM, "out of memory allocating %zu x %zu bytes",            \
                             (size_t)(count), sizeof(*(ptr)));                                     \
    } while (0)
/* MPI calls return MPI_SUCCESS (0) or an error code (communicators use MPI_ERRORS_RETURN). */
#define EOS_CHECK_MPI(call)                                                                        \
    do {                                                                                           \
        int mpi_rc_ = (call);                                                                      \
        if (mpi_rc_ != 0) EOS_FAIL(EOS_ERR_MPI, "MPI call failed (code %d): %s", mpi_rc_, #call); \
    } while (0)
/* HDF5 calls return a negative value on failure. */
#define EOS_CHECK_H5(call)                                                                         \
    do {                                                                                           \
        if ((long long)(call) < 0) EOS_FAIL(EOS_ERR_HDF5, "HDF5 call failed: %s", #call);          \
    } while (0)

/* Wall clock in seconds (monotonic). */
double eos_now(void);

/* Deterministic reductions: sums are taken over fixed blocks of EOS_RED_BLOCK elements, whatever
 * the thread count, then the block sums are added in order, so results are bitwise independent of
 * OMP_NUM_THREADS. */
#define EOS_RED_BLOCK 4096
double eos_sum(const real *x, size_t n);
double eos_dot(const real *x, const real *y, size_t n);
double eos_nrm2(const real *x, size_t n);
/* y += a*x ; x *= a ; y = x (OpenMP over fixed ranges, elementwise so order-free) */
void eos_axpy(real *y, double a, const real *x, size_t n);
void eos_scal(real *x, double a, size_t n);
void eos_copy(real *y, const real *x, size_t n);
void eos_zero(real *x, size_t n);

#endif
