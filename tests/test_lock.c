/* test_lock.c: the one-writer lock's note and eos_lock_query, seen from another process (a
 * process never conflicts with its own POSIX locks, so the holder is a forked child). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "eos_common.h"
#include "eos_lock.h"
#include "eos_test.h"

static char g_dir[64];
static char g_path[128];

/* A child takes the lock, says so through the pipe, and holds it until killed. */
static pid_t start_holder(void)
{
    int p[2];
    if (pipe(p) != 0) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        eos_lock l;
        char ok = eos_lock_acquire(&l, g_path) == 0 ? 'y' : 'n';
        if (write(p[1], &ok, 1) != 1) _exit(1);
        for (;;) pause();
    }
    close(p[1]);
    char ok = 0;
    ssize_t n = pid > 0 ? read(p[0], &ok, 1) : -1;
    close(p[0]);
    if (n != 1 || ok != 'y') {
        if (pid > 0) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
        }
        return -1;
    }
    return pid;
}

static void stop_holder(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

static void test_no_lock_file(void)
{
    eos_lock_holder h;
    h.held = 7;
    EXPECT(eos_lock_query(g_path, &h) == 0, "query: %s", eos_error_msg());
    EXPECT(h.held == 0, "held %d without a lock file", h.held);
    char lpath[160];
    snprintf(lpath, sizeof lpath, "%s.lock", g_path);
    struct stat st;
    EXPECT(stat(lpath, &st) != 0 && errno == ENOENT, "the query created %s", lpath);
}

static void test_holder_named(void)
{
    time_t before = time(NULL);
    pid_t pid = start_holder();
    EXPECT(pid > 0, "the child could not take the lock");
    if (pid <= 0) return;
    eos_lock_holder h;
    EXPECT(eos_lock_query(g_path, &h) == 0, "query: %s", eos_error_msg());
    EXPECT(h.held == 1, "not held while the child holds it");
    EXPECT(h.pid == (long)pid, "pid %ld, the holder is %ld", h.pid, (long)pid);
    char host[128] = "";
    gethostname(host, sizeof host - 1);
    EXPECT(!strcmp(h.host, host), "host '%s', expected '%s'", h.host, host);
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    int got = sscanf(h.since, "%4d-%2d-%2dT%2d:%2d:%2dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                     &tm.tm_hour, &tm.tm_min, &tm.tm_sec);
    EXPECT(got == 6 && strlen(h.since) == 20, "since '%s' is not ISO 8601 UTC", h.since);
    time_t after = time(NULL);
    struct tm b, a;
    char lo[32], hi[32];
    gmtime_r(&before, &b);
    gmtime_r(&after, &a);
    strftime(lo, sizeof lo, "%Y-%m-%dT%H:%M:%SZ", &b);
    strftime(hi, sizeof hi, "%Y-%m-%dT%H:%M:%SZ", &a);
    /* ISO 8601 of one width sorts as time does */
    EXPECT(strcmp(h.since, lo) >= 0 && strcmp(h.since, hi) <= 0, "since %s outside [%s, %s]",
           h.since, lo, hi);

    /* the refusal a second writer gets quotes the same note */
    eos_lock l;
    EXPECT(eos_lock_acquire(&l, g_path) == EOS_ERR_CONFIG, "a second writer got the lock");
    char want[256];
    snprintf(want, sizeof want, "(pid %ld on host %s since %s)", (long)pid, host, h.since);
    EXPECT(strstr(eos_error_msg(), want) != NULL, "refusal '%s' lacks '%s'", eos_error_msg(), want);
    eos_lock_release(&l);

    /* asking leaves the holder's lock in place */
    EXPECT(eos_lock_query(g_path, &h) == 0 && h.held, "lost after a query");
    stop_holder(pid);
}

static void test_stale_note(void)
{
    pid_t pid = start_holder();
    EXPECT(pid > 0, "the child could not take the lock");
    if (pid <= 0) return;
    stop_holder(pid); /* like kill -9: PATH.lock and its note stay behind, unlocked */
    char lpath[160];
    snprintf(lpath, sizeof lpath, "%s.lock", g_path);
    struct stat st;
    EXPECT(stat(lpath, &st) == 0 && st.st_size > 0, "no note left behind");
    eos_lock_holder h;
    EXPECT(eos_lock_query(g_path, &h) == 0, "query: %s", eos_error_msg());
    EXPECT(h.held == 0, "a dead holder's note counts as a writer (pid %ld)", h.pid);
    unlink(lpath);
}

int main(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/eos-test-lock.XXXXXX");
    if (!mkdtemp(g_dir)) return 1;
    snprintf(g_path, sizeof g_path, "%s/r.h5", g_dir);
    TEST_RUN(test_no_lock_file);
    TEST_RUN(test_holder_named);
    TEST_RUN(test_stale_note);
    char lpath[160];
    snprintf(lpath, sizeof lpath, "%s.lock", g_path);
    unlink(lpath);
    rmdir(g_dir);
    return TEST_SUMMARY();
}
