/* fuzz_sweep_driver: what `eosweep --dry-run FILE` does with a sweep file (parse, expand, resolve
 * and validate every run, print the grid), for many files in one process and without MPI, so that
 * the fuzzer (fuzz_sweep.py) can try thousands of mutants a minute under ASan/UBSan.
 * One line per file on stdout: "OK <runs>" or "ERR <the one-line message>". */
#include <stdio.h>
#include <string.h>

#include "eos_common.h"
#include "eos_sweep.h"

int main(int argc, char **argv)
{
    FILE *devnull = fopen("/dev/null", "w");
    if (!devnull) return 1;
    for (int i = 1; i < argc; i++) {
        eos_sweep sw;
        int rc = eos_sweep_load(&sw, argv[i]);
        if (rc == 0) {
            eos_config cfg;
            for (long r = 0; r < sw.n_runs && rc == 0; r++) rc = eos_sweep_run_config(&sw, r, &cfg);
            if (rc == 0) eos_sweep_print(&sw, devnull);
            if (rc == 0) printf("OK %ld\n", sw.n_runs);
            eos_sweep_free(&sw);
        }
        if (rc != 0) printf("ERR %d %s\n", rc, eos_error_msg());
        fflush(stdout);
    }
    fclose(devnull);
    return 0;
}
