/* eos_curv.h: curvature measures as a table of probes (docs/sharpness.md).
 *
 * A probe is one file in src/curv/ and one row of the probe list in src/curv/probes.c. At every
 * measurement step the trainer calls eos_curv_measure, which runs each enabled probe, in table
 * order, on a context that offers Hessian-vector products at an explicit point, gradients and
 * HVPs on minibatches, a batch sampler, the probe's RNG stream, the shared eigensolver workspace
 * and the probe's own scratch. A probe writes one measurement's values into its row of the run's
 * trajectories (eos_curv_traj); the results file stores each of its outputs as /sharp/<name>.
 * Nothing outside src/curv/ names an individual probe. */
#ifndef EOS_CURV_H
#define EOS_CURV_H

#include "eos_common.h"
#include "eos_config.h"
#include "eos_data.h"
#include "eos_lanczos.h"
#include "eos_model.h"
#include "eos_optim.h"
#include "eos_rng.h"

#define EOS_CURV_MAX_PROBES 16 /* rows of the table */
#define EOS_CURV_MAX_OUTPUTS 4 /* datasets of one probe */
#define EOS_CURV_MAX_DIMS 2    /* dimensions of one measurement's values of one output */

typedef struct eos_curv_ctx eos_curv_ctx;

/* One dataset of a probe: /sharp/<name>, float32 [N, S] (ndims 0), [N, S, d0] (ndims 1) or
 * [N, S, d0, d1] (ndims 2). shape gives a run's d[0..ndims) from its configuration alone (the
 * file is laid out before any run trains); the file holds the largest of any run, NaN beyond a
 * run's own. ndims is fixed: a probe with k = 1 is still [N, S, 1]. */
#define EOS_CURV_LABEL 16      /* bytes of one label, with its terminator */
#define EOS_CURV_MAX_LABELS 64 /* labels of one output */
typedef struct {
    const char *name;
    int ndims;
    void (*shape)(const eos_config *cfg, int *d); /* NULL when ndims is 0 */
    /* Optional names of the last dimension's entries for cfg (at most max into names; returns
     * how many), written as the dataset's attribute "labels" from the run with the most. */
    int (*labels)(const eos_config *cfg, char (*names)[EOS_CURV_LABEL], int max);
} eos_curv_output;

/* A row of the table. Only name, out[0] and one of measure/after_step are required. */
typedef struct {
    const char *name;                          /* the measure (docs/sharpness.md) */
    eos_curv_output out[EOS_CURV_MAX_OUTPUTS]; /* its datasets, in the order of its values; the
                                                  first with name NULL ends the list */
    int (*enabled)(const eos_curv_ctx *c);     /* measured in this run? (NULL: always) */
    size_t (*scratch)(const eos_curv_ctx *c);  /* reals of own scratch, allocated at set-up */
    int sampler;                               /* wants a batch sampler (eos_curv_sample) */
    int keeps_scratch;                         /* its scratch carries over from one measurement
                                                  to the next (a warm start): checkpoints save it */
    /* With keeps_scratch: the reals at the start of the scratch that carry over, when the rest is
     * per-measurement work space a checkpoint need not save (NULL: all of it). */
    size_t (*kept)(const eos_curv_ctx *c);
    /* Order of a private eigensolver workspace (c->solver) for operators on a subspace, e.g. a
     * diagonal block of H (NULL or 0: none); its Lanczos steps are capped by sharpness.max_iter. */
    size_t (*solver_n)(const eos_curv_ctx *c);
    /* RNG stream (eos_rng.h id; 0 = draws nothing), seeded by the run's seed. Probes naming the
     * same id share one stream and draw from it in table order. */
    uint64_t stream;
    /* At a measurement step t, with c->w = w_t: fill this measurement's values, out[width]
     * (outputs one after another, each row-major; values left alone stay NaN = not measured). */
    int (*measure)(eos_curv_ctx *c, float *out);
    /* Around step t's update, same out as measure: before_step with c->w = w_t, after_step with
     * c->w = w_{t+1} (the update u = w_{t+1} - w_t is known only then). */
    int (*before_step)(eos_curv_ctx *c);
    int (*after_step)(eos_curv_ctx *c, float *out);
} eos_curv_probe;

extern const eos_curv_probe *const eos_curv_probes[];
extern const int eos_curv_n_probes;

/* Index of the probe called name in the table, -1 if none. */
int eos_curv_find(const char *name);
/* Outputs of probe p (rows of out[] before the first NULL name). */
int eos_curv_n_outputs(const eos_curv_probe *p);
/* Values per measurement of output o of p for cfg, its extents into d[EOS_CURV_MAX_DIMS] (1
 * beyond ndims). */
int eos_curv_output_size(const eos_curv_probe *p, int o, const eos_config *cfg, int *d);

/* One run's curvature trajectories. Probe p's row for sharpness slot j is vals[p] + j * width[p]:
 * its outputs one after another, output o [ext[p][o][0], ext[p][o][1]] row-major. */
typedef struct {
    float *vals[EOS_CURV_MAX_PROBES]; /* [slots, width[p]] each (NULL: not recorded) */
    int width[EOS_CURV_MAX_PROBES];   /* values per measurement */
    int ext[EOS_CURV_MAX_PROBES][EOS_CURV_MAX_OUTPUTS][EOS_CURV_MAX_DIMS];
    int32_t *hvps;                    /* [slots] Hessian-vector products each measurement spent */
    int32_t *probe_hvps;              /* [slots, eos_curv_n_probes] the same, per probe */
    float *seconds;                   /* [slots] wall seconds each measurement took (NaN: none) */
} eos_curv_traj;

/* Widths and extents of every probe for cfg, and (vals not NULL) the vals pointers into
 * vals[total] for `slots` slots. Returns total, the floats all probes need. */
size_t eos_curv_traj_layout(eos_curv_traj *t, const eos_config *cfg, int slots, float *vals);

/* The context a probe runs on. The fields above the line are for probes to read; the rest
 * belong to src/curv/probes.c. */
struct eos_curv_ctx {
    const eos_config *cfg;
    eos_model *model;
    const eos_dataset *train;   /* the training set */
    const eos_optim *opt;       /* the run's optimizer (preconditioner of adaptive methods) */
    size_t np;                  /* parameters */
    int sharp_n;                /* the sharpness set: the first sharp_n training examples */
    int batch;                  /* the run's batch size (train->n when full batch) */
    eos_lanczos lz;             /* eigensolver workspace, shared by the probes */
    eos_lobpcg lb;              /* the same for sharpness.solver lobpcg (eos_curv_top_eig) */
    const real *w;              /* the point of the current call (see eos_curv_probe) */
    int n_done;                 /* measurements completed before the current one */
    real *scratch;              /* the running probe's own scratch */
    eos_lanczos *solver;        /* its private eigensolver (solver_n), NULL if none */
    eos_rng *rng;               /* its stream */
    double sharpness;           /* top Hessian eigenvalue of the latest measurement, the run's
                                   /runs/final_sharpness (NaN until measured) */
    /* ---- */
    int hvps;                   /* products spent in the current call */
    int *perm;                  /* the running probe's sampler permutation [train->n] */
    int on[EOS_CURV_MAX_PROBES];
    real *scratch_of[EOS_CURV_MAX_PROBES];
    int *perm_of[EOS_CURV_MAX_PROBES];
    eos_rng *rng_of[EOS_CURV_MAX_PROBES];
    eos_rng streams[EOS_CURV_MAX_PROBES];
    eos_lanczos solver_of[EOS_CURV_MAX_PROBES];
    real *rbuf;                 /* every probe's scratch, one allocation */
    int *ibuf;                  /* every sampler's permutation, one allocation */
};

/* Everything the probes enabled for cfg need, allocated once. sharp_n and batch as in the
 * context; opt and model must outlive the context. */
int eos_curv_setup(eos_curv_ctx *c, const eos_config *cfg, eos_model *model,
                   const eos_dataset *train, int sharp_n, int batch, const eos_optim *opt);
void eos_curv_free(eos_curv_ctx *c);
/* The state that carries over between measurements (streams, sampler permutations, kept
 * scratch, the measurement count, the latest sharpness) as parts[0..return) for a checkpoint;
 * -1 if max parts are too few. Between steps only. */
int eos_curv_state(eos_curv_ctx *c, eos_part *parts, int max);

/* A measurement at w = w_t into slot `slot` of t (its HVPs added to t->hvps[slot]), then the
 * hooks around that step's update. */
int eos_curv_measure(eos_curv_ctx *c, const real *w, eos_curv_traj *t, int slot);
int eos_curv_before_step(eos_curv_ctx *c, const real *w);
int eos_curv_after_step(eos_curv_ctx *c, const real *w, eos_curv_traj *t, int slot);

/* ---- services for probes ---- */
/* out = H(w) v, H the Hessian of the mean loss over the sharpness set. */
int eos_curv_hvp(eos_curv_ctx *c, const real *w, const real *v, real *out);
/* The same as an eos_linop_fn at c->w, for the eigensolver (ctx is the eos_curv_ctx). */
int eos_curv_hvp_op(void *ctx, const real *v, real *out);
/* OUT [nv, np] = H(w) V for the rows of V [nv, np] in one pass (eos_model_hvp_block: to rounding
 * the single products); nv products counted. */
int eos_curv_hvp_block(eos_curv_ctx *c, const real *w, const real *V, int nv, real *OUT);
/* The same as an eos_linop_block_fn at c->w. */
int eos_curv_hvp_block_op(void *ctx, const real *V, int nv, real *OUT);
/* out = G(w) v, G = J' H_loss J the Gauss-Newton matrix of the same mean loss (eos_model_gnvp);
 * counted into /sharp/hvps like an HVP. */
int eos_curv_gnvp(eos_curv_ctx *c, const real *w, const real *v, real *out);
/* The same as an eos_linop_fn at c->w. */
int eos_curv_gnvp_op(void *ctx, const real *v, real *out);
/* The k largest eigenvalues of the symmetric operator op (called with the context, at c->w;
 * opb, if not NULL, the same operator on blocks, which LOBPCG then uses for its products),
 * descending, by the solver of sharpness.solver with sharpness.tol: warm-started from vec
 * [eos_curv_warm_rows(c, k), np], the running probe's kept Ritz vectors of its previous
 * measurement (Lanczos: the top k, started from their sum; LOBPCG: the whole block), except at a
 * run's first measurement (then a random start from the probe's stream); vec receives this
 * one's, descending, row 0 the top Ritz vector. */
int eos_curv_top_eig(eos_curv_ctx *c, eos_linop_fn op, eos_linop_block_fn opb, int k, real *vec,
                     double *eig);
/* Rows of the warm start eos_curv_top_eig keeps for a top-k solve (probes size scratch by it). */
int eos_curv_warm_rows(const eos_curv_ctx *c, int k);
/* out = H_B(w) v and g = grad L_B(w) for the mean loss over training examples idx[0..n) (idx
 * NULL: the first n). */
int eos_curv_hvp_batch(eos_curv_ctx *c, const real *w, const int *idx, int n, const real *v,
                       real *out);
int eos_curv_grad(eos_curv_ctx *c, const real *w, const int *idx, int n, real *g);
/* A Monte Carlo mean with the stopping rule of the batch measures: stop once at least 8 samples
 * give a relative standard error sqrt(var / n) <= rel_tol |mean|. */
typedef struct {
    double s, s2; /* sum and sum of squares */
    int n;        /* samples */
} eos_curv_mean;
void eos_curv_mean_add(eos_curv_mean *m, double x);
int eos_curv_mean_done(const eos_curv_mean *m, double rel_tol);
/* b distinct training examples drawn uniformly from the running probe's stream: a partial
 * Fisher-Yates over its permutation (kept between draws). Valid until its next call. */
const int *eos_curv_sample(eos_curv_ctx *c, int b);

#endif
