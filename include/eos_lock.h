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

/* Take the lock of results file `path` and write the note "pid P on host H since T" into
 * PATH.lock. EOS_ERR_CONFIG (in use: "PATH is being written by another eosweep (pid P on host H
 * since T)") or EOS_ERR_IO. */
int eos_lock_acquire(eos_lock *l, const char *path);
/* Release and remove PATH.lock (no-op when not held). */
void eos_lock_release(eos_lock *l);

/* Who writes results file `path`, without taking or creating anything (eosweep status).
 * held = 0: nobody holds PATH.lock (none, or a stale one). Otherwise pid, and from the holder's
 * note in PATH.lock its host and start time (UTC, ISO 8601), "" where the note does not say. */
typedef struct {
    int held;
    long pid;
    char host[128];
    char since[32];
} eos_lock_holder;
int eos_lock_query(const char *path, eos_lock_holder *h);

#endif
