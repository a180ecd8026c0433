/* lock.c: one writer per results file (see eos_lock.h). */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "eos_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "eos_common.h"

/* Whether another process holds a lock that excludes ours, and its pid as fcntl knows it. */
static int lock_holder(int fd, int *held, pid_t *pid)
{
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    if (fcntl(fd, F_GETLK, &fl) != 0) return errno;
    *held = fl.l_type != F_UNLCK;
    *pid = *held ? fl.l_pid : 0;
    return 0;
}

static int lock_fd(int fd, pid_t *holder)
{
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    if (fcntl(fd, F_SETLK, &fl) == 0) return 0;
    int e = errno, held = 0;
    *holder = 0;
    if (e == EACCES || e == EAGAIN) (void)lock_holder(fd, &held, holder); /* 0: unknown */
    return e;
}

int eos_lock_acquire(eos_lock *l, const char *path)
{
    int rc = 0, fd = -1;
    l->fd = -1;
    EOS_CHECK(strlen(path) + 6 < sizeof l->path, EOS_ERR_CONFIG, "%s: results path too long",
              path);
    snprintf(l->path, sizeof l->path, "%s.lock", path);
    /* The holder unlinks PATH.lock when it ends: a lock taken on an inode that is no longer the
     * one at PATH.lock guards nothing, so retry on the new file. */
    for (int attempt = 0; attempt < 100; attempt++) {
        fd = open(l->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        EOS_CHECK(fd >= 0, EOS_ERR_IO, "%s: cannot create the lock file %s: %s", path, l->path,
                  strerror(errno));
        pid_t holder;
        int e = lock_fd(fd, &holder);
        if (e == EACCES || e == EAGAIN) {
            char who[256] = "";
            ssize_t n = pread(fd, who, sizeof who - 1, 0);
            who[n > 0 ? n : 0] = '\0';
            who[strcspn(who, "\n")] = '\0';
            close(fd);
            fd = -1;
            if (who[0])
                EOS_FAIL(EOS_ERR_CONFIG, "%s is being written by another eosweep (%s); wait for it "
                         "or stop it first", path, who);
            EOS_FAIL(EOS_ERR_CONFIG, "%s is being written by another eosweep (pid %ld); wait for "
                     "it or stop it first", path, (long)holder);
        }
        EOS_CHECK(e == 0, EOS_ERR_IO, "%s: cannot lock %s: %s", path, l->path, strerror(e));
        struct stat a, b;
        if (fstat(fd, &a) == 0 && stat(l->path, &b) == 0 && a.st_ino == b.st_ino &&
            a.st_dev == b.st_dev) {
            /* "pid P on host H since T": the refusal quotes it, eos_lock_query parses it */
            char who[256], host[128] = "?", since[32] = "?";
            gethostname(host, sizeof host - 1);
            host[sizeof host - 1] = '\0';
            time_t now = time(NULL);
            struct tm tm;
            if (gmtime_r(&now, &tm)) strftime(since, sizeof since, "%Y-%m-%dT%H:%M:%SZ", &tm);
            int n = snprintf(who, sizeof who, "pid %ld on host %s since %s\n", (long)getpid(),
                             host, since);
            if (ftruncate(fd, 0) != 0 || pwrite(fd, who, (size_t)n, 0) != n) {
                /* the lock holds without its note; the refusal then names the pid only */
            }
            l->fd = fd;
            return 0;
        }
        close(fd);
        fd = -1;
    }
    EOS_FAIL(EOS_ERR_IO, "%s: %s keeps being replaced; cannot take the lock", path, l->path);
fail:
    if (fd >= 0) close(fd);
    l->fd = -1;
    return rc;
}

void eos_lock_release(eos_lock *l)
{
    if (l->fd < 0) return;
    unlink(l->path); /* while still held, so nobody locks the old inode in between */
    close(l->fd);
    l->fd = -1;
}

int eos_lock_query(const char *path, eos_lock_holder *h)
{
    int rc = 0, fd = -1;
    char lpath[sizeof ((eos_lock *)0)->path];
    memset(h, 0, sizeof *h);
    EOS_CHECK(strlen(path) + 6 < sizeof lpath, EOS_ERR_CONFIG, "%s: results path too long", path);
    snprintf(lpath, sizeof lpath, "%s.lock", path);
    /* Read-only and never created: asking must not disturb the writer nor leave a file behind.
     * F_GETLK takes no lock, so closing this descriptor cannot drop anyone's. */
    fd = open(lpath, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) return 0;
    EOS_CHECK(fd >= 0, EOS_ERR_IO, "%s: cannot open %s: %s", path, lpath, strerror(errno));
    pid_t lpid = 0;
    int e = lock_holder(fd, &h->held, &lpid); /* not held: a note left by a holder that died */
    EOS_CHECK(e == 0, EOS_ERR_IO, "%s: cannot query the lock %s: %s", path, lpath, strerror(e));
    if (h->held) {
        h->pid = (long)lpid;
        char who[256] = "", host[sizeof h->host], since[sizeof h->since];
        ssize_t n = pread(fd, who, sizeof who - 1, 0);
        who[n > 0 ? n : 0] = '\0';
        long pid;
        /* The note's pid is the holder's own; fcntl's can be 0 or remote over NFS. A holder that
         * has not written its note yet (or an older eosweep's, without "since") leaves fields
         * unknown. */
        int got = sscanf(who, "pid %ld on host %127s since %31s", &pid, host, since);
        if (got >= 1) h->pid = pid;
        if (got >= 2) snprintf(h->host, sizeof h->host, "%s", host);
        if (got >= 3) snprintf(h->since, sizeof h->since, "%s", since);
    }
fail:
    if (fd >= 0) close(fd);
    return rc;
}
