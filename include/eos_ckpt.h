/* eos_ckpt.h: a run's checkpoint file (docs/checkpoints.md): the run's state as a list of parts
 * (eos_part, eos_common.h), written beside the results file to a temporary name, fsynced and
 * renamed, so that it is either complete or absent; read back only when its identity, its part
 * sizes and its SHA-256 all match. Writing allocates nothing. */
#ifndef EOS_CKPT_H
#define EOS_CKPT_H

#include "eos_common.h"

#define EOS_CKPT_FORMAT 1
#define EOS_CKPT_MAX_PARTS 48

/* What a checkpoint belongs to: the sweep (sha256 of its text), the run's index and the run's
 * resolved configuration (sha256 of its YAML). */
typedef struct {
    char sweep_sha[65];
    long run;
    char config_sha[65];
} eos_ckpt_ident;

/* Where the run stood: the step it continues from (nothing of that step done yet), when it was
 * saved (Unix seconds) and the run's wall time until then. */
typedef struct {
    int64_t step;
    double saved_at;
    double wall_seconds;
} eos_ckpt_info;

/* Write parts[0..n) to path (via path.tmp; the directory is fsynced after the rename, and made if
 * missing). Returns 0 or EOS_ERR_IO with a message naming the file; on failure path is unchanged. */
int eos_ckpt_write(const char *path, const eos_ckpt_ident *id, const eos_ckpt_info *info,
                   const eos_part *parts, int n);

/* Read the checkpoint at path into parts[0..n) and *info. Returns 0 when it was read, 1 when
 * there is none, or EOS_ERR_FORMAT / EOS_ERR_IO with a one-line reason (another sweep, run,
 * configuration, format or precision; other part sizes; truncated; bad checksum) and the parts
 * untouched: the whole file is verified before any part is overwritten. */
int eos_ckpt_read(const char *path, const eos_ckpt_ident *id, eos_ckpt_info *info,
                  const eos_part *parts, int n);

/* The header of the checkpoint at path without verifying its parts (for `eosweep status`):
 * 0 and *id, *info, 1 if none, or EOS_ERR_FORMAT. */
int eos_ckpt_peek(const char *path, eos_ckpt_ident *id, eos_ckpt_info *info);

#endif
