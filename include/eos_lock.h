/* eos_lock.h: one writer per results file.
 *
 * A sweep that writes PATH (create, --force or --resume) holds an exclusive POSIX record lock on
 * PATH.lock for as long as it runs; a second sweep on the same PATH is refused in one line naming
 * the holder, before anything is replaced or opened for writing. The lock is a separate file
 * because HDF5 and MPI-IO open and close PATH itself, and closing any descriptor of a file drops
 * a process's POSIX locks on it. POSIX (fcntl) locks rather than flock: they also work on NFS.
 * The kernel releases the lock when the holder dies (kill -9, node crash on local disks), so a
 * stale PATH.lock left behind is harmless. */
#ifndef EOS_LOCK_H
#define EOS_LOCK_H

typedef struct {
    int fd;                 /* -1: not held */
    char path[600];         /* PATH.lock */
} eos_lock;

/* Take the lock of results file `path`. EOS_ERR_CONFIG (in use: "PATH is being written by
 * another eosweep (pid P on host H)") or EOS_ERR_IO. */
int eos_lock_acquire(eos_lock *l, const char *path);
/* Release and remove PATH.lock (no-op when not held). */
void eos_lock_release(eos_lock *l);

#endif
