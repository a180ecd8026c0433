/* fake_corename.c: LD_PRELOAD shim for tests/cli_blas.sh. It makes OpenBLAS look as if it had
 * fallen back to its generic kernel on this CPU, as 0.3.21 does on CPU models it does not know:
 * openblas_get_corename() answers "Prescott" while OPENBLAS_CORETYPE is unset and the real name
 * once it is set. It appends to $EOS_FAKE_LOG one line "PID load OPENBLAS_CORETYPE" each time a
 * program starts with it (execv keeps the pid, so the test sees which process executed itself
 * again, and with what) and one line "PID corename OPENBLAS_CORETYPE ANSWER" per answer. With
 * EOS_FAKE_EXEC_FAIL set, execv fails with ENOENT. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void log_line(const char *what, const char *answer)
{
    const char *path = getenv("EOS_FAKE_LOG"), *set = getenv("OPENBLAS_CORETYPE");
    FILE *f = path ? fopen(path, "a") : NULL;
    if (!f) return;
    fprintf(f, "%ld %s %s%s%s\n", (long)getpid(), what,
            set ? (set[0] ? set : "(empty)") : "(unset)", answer ? " " : "", answer ? answer : "");
    fclose(f);
}

__attribute__((constructor)) static void on_load(void) { log_line("load", NULL); }

char *openblas_get_corename(void)
{
    char *(*real)(void) = (char *(*)(void))dlsym(RTLD_NEXT, "openblas_get_corename");
    char *answer = getenv("OPENBLAS_CORETYPE") && real ? real() : (char *)"Prescott";
    log_line("corename", answer);
    return answer;
}

int execv(const char *path, char *const argv[])
{
    if (getenv("EOS_FAKE_EXEC_FAIL")) {
        errno = ENOENT;
        return -1;
    }
    int (*real)(const char *, char *const[]) =
        (int (*)(const char *, char *const[]))dlsym(RTLD_NEXT, "execv");
    return real(path, argv);
}
