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
#include <unistd.h>

#include "eos_common.h"

static int lock_fd(int fd, pid_t *holder)
{
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    if (fcntl(fd, F_SETLK, &fl) == 0) return 0;
    int e = errno;
    *holder = 0;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    if ((e == EACCES || e == EAGAIN) && fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK)
        *holder = fl.l_pid;
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
            char who[256], host[128] = "?";
            gethostname(host, sizeof host - 1);
            host[sizeof host - 1] = '\0';
            int n = snprintf(who, sizeof who, "pid %ld on host %s\n", (long)getpid(), host);
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
