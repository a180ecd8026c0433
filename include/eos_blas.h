/* eos_blas.h: which OpenBLAS kernel this process runs, and a better one than OpenBLAS's generic
 * fallback. OpenBLAS (DYNAMIC_ARCH) chooses its kernel from the CPU model when the library is
 * loaded and reads OPENBLAS_CORETYPE only then, so changing it means executing the program again. */
#ifndef EOS_BLAS_H
#define EOS_BLAS_H

/* The widest vector extensions this CPU runs with its OS's consent (the OS saves their registers). */
typedef enum {
    EOS_BLAS_ISA_OTHER = 0,    /* neither of the two below */
    EOS_BLAS_ISA_AVX2_FMA = 1, /* AVX2 and FMA3: OpenBLAS's Haswell kernel */
    EOS_BLAS_ISA_AVX512 = 2    /* AVX-512 F, CD, BW, DQ, VL: OpenBLAS's SkylakeX kernel */
} eos_blas_isa;

eos_blas_isa eos_blas_cpu_isa(void);

/* The kernel to run instead of `core` (an OpenBLAS core name, compared case-insensitively) on a CPU
 * with `isa`: "SkylakeX" or "Haswell" when `core` is one of OpenBLAS 0.3.21's generic pre-AVX2
 * kernels (Prescott, Core2, Nehalem, Sandybridge, ...), else NULL: a specific kernel (Haswell, Zen,
 * SkylakeX, Excavator, ...) is OpenBLAS's deliberate choice and stays. */
const char *eos_blas_better_core(const char *core, eos_blas_isa isa);

/* Call first in main, before MPI_Init and any BLAS call, with main's argv. If OPENBLAS_CORETYPE is
 * not set (an empty value counts as set) and eos_blas_better_core names a better kernel than the
 * one OpenBLAS chose, executes /proc/self/exe again with the same argv and OPENBLAS_CORETYPE set to
 * it, and does not return; the variable being set is what keeps the new process from doing it
 * again. Returns 0 when the kernel stays, or an error when it could not be changed (setenv or the
 * exec failed; the message says so): the process then goes on with OpenBLAS's kernel. */
int eos_blas_select_kernel(char **argv);

/* The kernel this process runs, as OpenBLAS names it ("SkylakeX", "Haswell", "Prescott", ...). */
const char *eos_blas_core_name(void);

#endif
