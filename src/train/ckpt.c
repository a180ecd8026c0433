/* ckpt.c: checkpoint files (eos_ckpt.h). Layout, native byte order (a marker refuses another):
 * a fixed header, the n part sizes (uint64), the parts' bytes, then the SHA-256 of everything
 * before it as 64 hex digits. A part is raw memory of the running process (parameters, optimizer
 * state, RNG states, trajectories so far), so a checkpoint is only ever read by the same build
 * configuration: the header's precision and the identity guard that. */
#include "eos_ckpt.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eos_config.h" /* EOS_PATH_MAX */
#include "eos_sha256.h"

#define MAGIC "EOSCKPT\n"
#define BYTE_ORDER_MARK 0x01020304u

typedef struct {
    char magic[8];
    uint32_t format, byte_order, real_bytes, n_parts;
    int64_t run, step;
    double saved_at, wall_seconds;
    char sweep_sha[64], config_sha[64];
} file_header;

static int write_all(int fd, const void *p, size_t n, eos_sha256 *h)
{
    const char *c = p;
    if (h) eos_sha256_update(h, p, n);
    while (n > 0) {
        ssize_t k = write(fd, c, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        c += k;
        n -= (size_t)k;
    }
    return 0;
}

/* 1 at end of file before n bytes, -1 on error, 0 when all n were read. */
static int read_all(int fd, void *p, size_t n)
{
    char *c = p;
    while (n > 0) {
        ssize_t k = read(fd, c, n);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return -1;
        if (k == 0) return 1;
        c += k;
        n -= (size_t)k;
    }
    return 0;
}

/* The directory part of path into dir ("." if none). */
static void dir_of(const char *path, char *dir, size_t len)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, len, ".");
    else if (slash == path)
        snprintf(dir, len, "/");
    else
        snprintf(dir, len, "%.*s", (int)(slash - path), path);
}

int eos_ckpt_write(const char *path, const eos_ckpt_ident *id, const eos_ckpt_info *info,
                   const eos_part *parts, int n)
{
    int rc = 0, fd = -1;
    char tmp[EOS_PATH_MAX + 8], dir[EOS_PATH_MAX], digest[65];
    EOS_CHECK(n >= 0 && n <= EOS_CKPT_MAX_PARTS, EOS_ERR_INTERNAL, "checkpoint: %d parts", n);
    EOS_CHECK(snprintf(tmp, sizeof tmp, "%s.tmp", path) < (int)sizeof tmp, EOS_ERR_IO,
              "%s: checkpoint path too long", path);
    dir_of(path, dir, sizeof dir);
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        EOS_FAIL(EOS_ERR_IO, "%s: cannot make the checkpoint directory: %s", dir, strerror(errno));
    file_header hd;
    memset(&hd, 0, sizeof hd);
    memcpy(hd.magic, MAGIC, sizeof hd.magic);
    hd.format = EOS_CKPT_FORMAT;
    hd.byte_order = BYTE_ORDER_MARK;
    hd.real_bytes = sizeof(real);
    hd.n_parts = (uint32_t)n;
    hd.run = id->run;
    hd.step = info->step;
    hd.saved_at = info->saved_at;
    hd.wall_seconds = info->wall_seconds;
    memcpy(hd.sweep_sha, id->sweep_sha, 64);
    memcpy(hd.config_sha, id->config_sha, 64);
    uint64_t sizes[EOS_CKPT_MAX_PARTS];
    for (int i = 0; i < n; i++) sizes[i] = parts[i].bytes;

    eos_sha256 h;
    eos_sha256_init(&h);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    EOS_CHECK(fd >= 0, EOS_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    int bad = write_all(fd, &hd, sizeof hd, &h) || write_all(fd, sizes, sizeof *sizes * n, &h);
    for (int i = 0; i < n && !bad; i++) bad = write_all(fd, parts[i].p, parts[i].bytes, &h);
    eos_sha256_final_hex(&h, digest);
    if (!bad) bad = write_all(fd, digest, 64, NULL);
    EOS_CHECK(!bad, EOS_ERR_IO, "%s: cannot write: %s", tmp, strerror(errno));
    EOS_CHECK(fsync(fd) == 0, EOS_ERR_IO, "%s: fsync: %s", tmp, strerror(errno));
    EOS_CHECK(close(fd) == 0, EOS_ERR_IO, "%s: close: %s", tmp, strerror(errno));
    fd = -1;
    EOS_CHECK(rename(tmp, path) == 0, EOS_ERR_IO, "%s: cannot rename to %s: %s", tmp, path,
              strerror(errno));
    /* the rename itself is durable only once the directory is */
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    EOS_CHECK(fd >= 0 && fsync(fd) == 0, EOS_ERR_IO, "%s: fsync of the directory: %s", dir,
              strerror(errno));
    close(fd);
    return 0;
fail:
    if (fd >= 0) close(fd);
    unlink(tmp);
    return rc;
}

/* Open path and read and check its header (magic, byte order, format, precision). */
static int open_checked(const char *path, file_header *hd, int *fd_out)
{
    int rc = 0, fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) return 1;
    EOS_CHECK(fd >= 0, EOS_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    int r = read_all(fd, hd, sizeof *hd);
    EOS_CHECK(r >= 0, EOS_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
    EOS_CHECK(r == 0 && !memcmp(hd->magic, MAGIC, sizeof hd->magic), EOS_ERR_FORMAT,
              "%s: not an eosweep checkpoint", path);
    EOS_CHECK(hd->byte_order == BYTE_ORDER_MARK, EOS_ERR_FORMAT,
              "%s: checkpoint of a machine with another byte order", path);
    EOS_CHECK(hd->format == EOS_CKPT_FORMAT, EOS_ERR_FORMAT,
              "%s: checkpoint format %u, this eosweep reads %d", path, hd->format,
              EOS_CKPT_FORMAT);
    EOS_CHECK(hd->real_bytes == sizeof(real), EOS_ERR_FORMAT,
              "%s: checkpoint of a float%u build, this one is float%zu", path,
              8 * hd->real_bytes, 8 * sizeof(real));
    *fd_out = fd;
    return 0;
fail:
    if (fd >= 0) close(fd);
    return rc;
}

int eos_ckpt_peek(const char *path, eos_ckpt_ident *id, eos_ckpt_info *info)
{
    file_header hd;
    int fd = -1, rc = open_checked(path, &hd, &fd);
    if (rc) return rc;
    close(fd);
    memset(id, 0, sizeof *id);
    memcpy(id->sweep_sha, hd.sweep_sha, 64);
    memcpy(id->config_sha, hd.config_sha, 64);
    id->run = (long)hd.run;
    *info = (eos_ckpt_info){hd.step, hd.saved_at, hd.wall_seconds};
    return 0;
}

int eos_ckpt_read(const char *path, const eos_ckpt_ident *id, eos_ckpt_info *info,
                  const eos_part *parts, int n)
{
    int rc = 0, fd = -1;
    file_header hd;
    uint64_t sizes[EOS_CKPT_MAX_PARTS];
    char digest[65], stored[64];
    unsigned char buf[1 << 16];
    if ((rc = open_checked(path, &hd, &fd)) != 0) return rc;
    EOS_CHECK(!memcmp(hd.sweep_sha, id->sweep_sha, 64), EOS_ERR_FORMAT,
              "%s: checkpoint of another sweep", path);
    EOS_CHECK(hd.run == id->run, EOS_ERR_FORMAT, "%s: checkpoint of run %lld, not run %ld", path,
              (long long)hd.run, id->run);
    EOS_CHECK(!memcmp(hd.config_sha, id->config_sha, 64), EOS_ERR_FORMAT,
              "%s: checkpoint of another configuration of run %ld", path, id->run);
    EOS_CHECK(hd.n_parts == (uint32_t)n && n <= EOS_CKPT_MAX_PARTS, EOS_ERR_FORMAT,
              "%s: checkpoint has %u parts, this run %d", path, hd.n_parts, n);
    int r = read_all(fd, sizes, sizeof *sizes * n);
    EOS_CHECK(r == 0, EOS_ERR_FORMAT, "%s: checkpoint truncated", path);
    for (int i = 0; i < n; i++)
        EOS_CHECK(sizes[i] == parts[i].bytes, EOS_ERR_FORMAT,
                  "%s: checkpoint part %d has %llu bytes, this run %zu", path, i,
                  (unsigned long long)sizes[i], parts[i].bytes);

    /* first pass: the checksum over the whole file, touching no part */
    eos_sha256 h;
    eos_sha256_init(&h);
    eos_sha256_update(&h, &hd, sizeof hd);
    eos_sha256_update(&h, sizes, sizeof *sizes * n);
    for (int i = 0; i < n; i++)
        for (size_t left = parts[i].bytes; left > 0;) {
            size_t k = left < sizeof buf ? left : sizeof buf;
            r = read_all(fd, buf, k);
            EOS_CHECK(r >= 0, EOS_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
            EOS_CHECK(r == 0, EOS_ERR_FORMAT, "%s: checkpoint truncated", path);
            eos_sha256_update(&h, buf, k);
            left -= k;
        }
    eos_sha256_final_hex(&h, digest);
    r = read_all(fd, stored, sizeof stored);
    EOS_CHECK(r == 0, EOS_ERR_FORMAT, "%s: checkpoint truncated", path);
    EOS_CHECK(!memcmp(stored, digest, 64) && read(fd, buf, 1) == 0, EOS_ERR_FORMAT,
              "%s: checkpoint checksum does not match (damaged)", path);

    /* second pass: the parts */
    off_t at = (off_t)(sizeof hd + sizeof *sizes * n);
    EOS_CHECK(lseek(fd, at, SEEK_SET) == at, EOS_ERR_IO, "%s: seek: %s", path, strerror(errno));
    for (int i = 0; i < n; i++)
        EOS_CHECK(read_all(fd, parts[i].p, parts[i].bytes) == 0, EOS_ERR_IO,
                  "%s: cannot read: %s", path, strerror(errno));
    *info = (eos_ckpt_info){hd.step, hd.saved_at, hd.wall_seconds};
fail:
    if (fd >= 0) close(fd);
    return rc;
}
