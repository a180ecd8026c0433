/* test_blas.c: the choice of OpenBLAS kernel (the re-exec itself is tested by cli_blas.sh). */
#include <stdio.h>
#include <string.h>

#include "eos_blas.h"
#include "eos_test.h"

static int same(const char *a, const char *b) { return a == b || (a && b && !strcmp(a, b)); }

static void test_generic_kernels_are_replaced(void)
{
    EXPECT(same(eos_blas_better_core("Prescott", EOS_BLAS_ISA_AVX512), "SkylakeX"), "Prescott/AVX512");
    EXPECT(same(eos_blas_better_core("PRESCOTT", EOS_BLAS_ISA_AVX512), "SkylakeX"), "case-insensitive");
    EXPECT(same(eos_blas_better_core("Prescott", EOS_BLAS_ISA_AVX2_FMA), "Haswell"), "Prescott/AVX2");
    EXPECT(same(eos_blas_better_core("Core2", EOS_BLAS_ISA_AVX2_FMA), "Haswell"), "Core2");
    EXPECT(same(eos_blas_better_core("Nehalem", EOS_BLAS_ISA_AVX512), "SkylakeX"), "Nehalem");
    EXPECT(same(eos_blas_better_core("Sandybridge", EOS_BLAS_ISA_AVX512), "SkylakeX"), "Sandybridge");
    EXPECT(same(eos_blas_better_core("Opteron_SSE3", EOS_BLAS_ISA_AVX2_FMA), "Haswell"), "Opteron");
}

static void test_specific_kernels_and_old_cpus_stay(void)
{
    const char *kept[] = {"SkylakeX", "Cooperlake", "SapphireRapids", "Haswell", "Zen",
                          "Excavator", "Bulldozer", "Unknown", "", "Prescott2"};
    for (size_t i = 0; i < sizeof kept / sizeof *kept; i++)
        EXPECT(eos_blas_better_core(kept[i], EOS_BLAS_ISA_AVX512) == NULL, "'%s' replaced", kept[i]);
    EXPECT(eos_blas_better_core(NULL, EOS_BLAS_ISA_AVX512) == NULL, "NULL replaced");
    EXPECT(eos_blas_better_core("Prescott", EOS_BLAS_ISA_OTHER) == NULL, "a CPU without AVX2+FMA");
}

/* Oracle: the flags the kernel reports (Linux lists AVX features only when it saves their state). */
static int cpuinfo_has(const char *flags, const char *flag)
{
    size_t n = strlen(flag);
    for (const char *p = strstr(flags, flag); p; p = strstr(p + 1, flag))
        if ((p == flags || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\n' || p[n] == '\0')) return 1;
    return 0;
}

static void test_cpu_isa_matches_proc_cpuinfo(void)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[8192];
    int found = 0;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "flags", 5)) {
            found = 1;
            break;
        }
    if (f) fclose(f);
    if (!found) {
        fprintf(stderr, "  no flags line in /proc/cpuinfo: not checked\n");
        return;
    }
    const char *avx512[] = {"avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"};
    int all512 = 1;
    for (int i = 0; i < 5; i++) all512 &= cpuinfo_has(line, avx512[i]);
    eos_blas_isa want = all512 ? EOS_BLAS_ISA_AVX512
                        : cpuinfo_has(line, "avx2") && cpuinfo_has(line, "fma") ? EOS_BLAS_ISA_AVX2_FMA
                                                                                : EOS_BLAS_ISA_OTHER;
    EXPECT(eos_blas_cpu_isa() == want, "eos_blas_cpu_isa %d, /proc/cpuinfo says %d",
           (int)eos_blas_cpu_isa(), (int)want);
    fprintf(stderr, "  this CPU: isa %d, OpenBLAS kernel %s\n", (int)want, eos_blas_core_name());
}

int main(void)
{
    TEST_RUN(test_generic_kernels_are_replaced);
    TEST_RUN(test_specific_kernels_and_old_cpus_stay);
    TEST_RUN(test_cpu_isa_matches_proc_cpuinfo);
    return TEST_SUMMARY();
}
