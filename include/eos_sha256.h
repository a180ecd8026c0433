/* eos_sha256.h: SHA-256 of a buffer (the sweep text's fingerprint), or computed incrementally
 * (checkpoints are hashed part by part as they are written, without a copy). */
#ifndef EOS_SHA256_H
#define EOS_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t h[8];
    uint64_t len;           /* bytes so far */
    unsigned char blk[64];  /* a partial block */
    size_t fill;
} eos_sha256;

void eos_sha256_init(eos_sha256 *c);
void eos_sha256_update(eos_sha256 *c, const void *data, size_t len);
/* The digest as 64 hex digits and a NUL. */
void eos_sha256_final_hex(eos_sha256 *c, char out[65]);
/* SHA-256 of a buffer as 64 hex characters plus NUL. */
void eos_sha256_hex(const void *data, size_t len, char out[65]);

#endif
