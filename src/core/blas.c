/* blas.c: the OpenBLAS kernel (see eos_blas.h).
 *
 * Why: OpenBLAS 0.3.21 (Debian 12) maps Intel family-6 models 0xB0-0xFF (e.g. Emerald Rapids,
 * Raptor Lake) through a switch that falls through to its SSE3 "Prescott" kernel, whose GEMMs are
 * 3.5x slower than the SkylakeX kernel on an AVX-512 Xeon. */
#include "eos_blas.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "eos_common.h"

/* OpenBLAS's own API, declared here because the cblas.h on the include path may be netlib's. */
char *openblas_get_corename(void);
char *openblas_get_config(void);

/* OpenBLAS 0.3.21's kernels for SSE2-SSE4.2 or plain AVX (driver/others/dynamic.c): its fallbacks
 * for models it does not know or OSes without AVX state. The AMD AVX/FMA4 kernels (Bulldozer to
 * Excavator) are tuned for those CPUs and are not in the list. */
static const char *const generic_cores[] = {
    "Katmai", "Coppermine", "Northwood", "Prescott", "Banias", "Atom", "Core2", "Penryn",
    "Dunnington", "Nehalem", "Athlon", "Opteron", "Opteron_SSE3", "Barcelona", "Nano", "Bobcat",
    "Sandybridge"};

eos_blas_isa eos_blas_cpu_isa(void)
{
#if defined(__x86_64__) || defined(__i386__)
    /* __builtin_cpu_supports reports AVX/AVX-512 features only if XCR0 shows the OS saves them */
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vl"))
        return EOS_BLAS_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return EOS_BLAS_ISA_AVX2_FMA;
#endif
    return EOS_BLAS_ISA_OTHER;
}

const char *eos_blas_better_core(const char *core, eos_blas_isa isa)
{
    if (!core || isa == EOS_BLAS_ISA_OTHER) return NULL;
    for (size_t i = 0; i < sizeof generic_cores / sizeof *generic_cores; i++)
        if (!strcasecmp(core, generic_cores[i]))
            return isa == EOS_BLAS_ISA_AVX512 ? "SkylakeX" : "Haswell";
    return NULL;
}

int eos_blas_select_kernel(char **argv)
{
    int rc = 0;
    /* Set by the user or the site (some pin a kernel because another crashes on their CPUs), or
     * by the exec below: never overridden. */
    if (getenv("OPENBLAS_CORETYPE")) return 0;
    const char *config = openblas_get_config();
    if (!config || !strstr(config, "DYNAMIC_ARCH")) return 0; /* one kernel built in */
    const char *core = eos_blas_core_name();
    const char *better = eos_blas_better_core(core, eos_blas_cpu_isa());
    if (!better) return 0;
    EOS_CHECK(setenv("OPENBLAS_CORETYPE", better, 1) == 0, EOS_ERR_NOMEM,
              "cannot set OPENBLAS_CORETYPE=%s: going on with OpenBLAS's %s kernel", better, core);
    execv("/proc/self/exe", argv);
    int err = errno;
    unsetenv("OPENBLAS_CORETYPE");
    EOS_FAIL(EOS_ERR_IO,
             "cannot execute /proc/self/exe again with OPENBLAS_CORETYPE=%s (%s): going on with "
             "OpenBLAS's %s kernel (slower GEMMs; set OPENBLAS_CORETYPE to choose one)",
             better, strerror(err), core);
fail:
    return rc;
}

const char *eos_blas_core_name(void)
{
    const char *name = openblas_get_corename();
    return name && name[0] ? name : "unknown";
}
