/* eos_config.h: one run's fully resolved configuration, and the key table that reads and writes it.
 *
 * Every scalar key has a dotted path ("train.lr", "model.activation", "seed"). The same table is
 * used to apply the sweep file's base configuration, to apply grid overrides, to validate, and to
 * print the resolved configuration back as YAML (stored per run in the results file, and accepted
 * again as a sweep file with no grid, so one grid point can be re-run by itself). */
#ifndef EOS_CONFIG_H
#define EOS_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define EOS_MAX_HIDDEN 16
#define EOS_MAX_CHANNELS 8 /* model.channels entries (cnn conv layers) */
#define EOS_GEMM_TILES_DEFAULT 2 /* model.gemm_tiles: 1-2 threads per rank pay least (docs/performance.md) */
#define EOS_PATH_MAX 512
#define EOS_NAME_MAX 64
#define EOS_PROJ_MAX 64 /* record.projections: at most this many directions */
#define EOS_HUTCHPP_MAX_PROBES 300 /* sharpness.trace_probes bound of trace_method hutchpp */
#define EOS_DENSITY_MAX_STEPS 100  /* sharpness.density_steps range */
#define EOS_K_MIN_MAX 32           /* sharpness.k_min range */

typedef enum {
    EOS_ACT_TANH = 0,
    EOS_ACT_RELU,
    EOS_ACT_ELU,
    EOS_ACT_SOFTPLUS,
    EOS_ACT_GELU, /* exact erf form, as torch.nn.GELU() */
    EOS_ACT_IDENTITY
} eos_activation;

typedef enum { EOS_INIT_PYTORCH = 0, EOS_INIT_GAUSSIAN } eos_init;
/* data.normalize_per: statistics per input feature, or per image channel (over its pixels) */
typedef enum { EOS_NORM_FEATURE = 0, EOS_NORM_CHANNEL } eos_norm_per;
/* cnn: the 2x2 stride-2 pooling after each conv layer's activation (odd sizes: floor) */
typedef enum { EOS_POOL_MAX = 0, EOS_POOL_AVG, EOS_POOL_NONE } eos_pool;
/* logistic: one output, log(1 + exp(-s f)) with s = +1 for a target y > 0 and -1 otherwise
 * (labels {-1, +1} or {0, 1}) */
typedef enum { EOS_LOSS_MSE = 0, EOS_LOSS_XENT, EOS_LOSS_LOGISTIC } eos_loss_kind;
typedef enum { EOS_TRACE_HUTCHINSON = 0, EOS_TRACE_HUTCHPP } eos_trace_method;
typedef enum { EOS_SOLVER_LANCZOS = 0, EOS_SOLVER_LOBPCG } eos_solver;

typedef struct {
    int source;                     /* row of the data-source table (eos_data_source_name) */
    char path[EOS_PATH_MAX];        /* file or directory, depending on source ("" = default) */
    char labels[EOS_PATH_MAX];      /* IDX labels file */
    char test_path[EOS_PATH_MAX];   /* IDX test images / HDF5 test file ("" = none or built-in) */
    char test_labels[EOS_PATH_MAX]; /* IDX test labels */
    char x[EOS_NAME_MAX];           /* HDF5 dataset names */
    char y[EOS_NAME_MAX];
    int n_train;      /* first n examples of the training set; 0 = all */
    int n_test;       /* held-out examples; 0 = no test set */
    int center;       /* subtract the training mean per feature */
    int standardize;  /* and divide by the training std per feature (implies center) */
    eos_norm_per normalize_per; /* center/standardize per feature, or per image channel */
    int dim;          /* synthetic: input dimension */
    int n_out;        /* synthetic: output dimension (teacher-student) */
    int teacher_hidden; /* teacher-student: hidden width of the tanh teacher */
    double noise;     /* synthetic: label noise std */
    double margin;    /* separable: margin of the generating direction; xor-clusters: ||mu|| */
    double label_noise; /* separable, xor-clusters: fraction of flipped training labels */
    /* in-context regression */
    int n_context;
    int online;         /* fresh training examples each step (sources that draw them) */
    double sigma_decay; /* Sigma = diag(sigma_decay^i), 1 = isotropic */
} eos_data_cfg;

typedef struct {
    int arch;                  /* row of the architecture table (eos_model_arch_name) */
    int n_hidden;              /* number of hidden layers (0 = linear model) */
    int hidden[EOS_MAX_HIDDEN];
    eos_activation activation;
    int bias;
    eos_init init;
    double init_scale;         /* gaussian: std = init_scale / sqrt(fan_in); pytorch: multiplies bound */
    int layers;                /* linear transformer: number of layers */
    int sparse;                /* linear transformer: P/Q sparse parametrisation */
    int n_channels;            /* cnn: number of conv layers */
    int channels[EOS_MAX_CHANNELS]; /* cnn: output channels of each conv layer */
    int kernel;                /* cnn: odd kernel side (stride 1, "same" padding) */
    eos_pool pool;             /* cnn: pooling after each conv layer */
    int gemm_tiles;            /* least number of C tiles a large GEMM is split into for the OpenMP
                                * threads (results depend on it, never on the thread count);
                                * 0: EOS_GEMM_TILES_DEFAULT */
} eos_model_cfg;

typedef struct {
    int optimizer;      /* row of the optimizer table: eos_optim_name (eos_optim.h) */
    double lr;
    int batch_size;     /* 0 = full batch */
    long max_steps;
    double loss_goal;   /* stop when train loss <= goal; 0 = off */
    double acc_goal;    /* stop when train accuracy >= goal; 0 = off */
    double diverge_loss;/* divergence when loss is non-finite or above this */
    int record_every;
    double momentum;    /* heavy-ball / nesterov beta */
    double beta1, beta2, eps; /* Adam/AdamW; RMSProp uses beta2 as its alpha */
    double weight_decay;      /* L2 added to the gradient (decoupled for AdamW) */
    double sam_rho;
    double p;           /* p-GD potential exponent, > 1 */
    double clip;        /* coordinate clipping threshold */
    /* learning-rate schedule (src/optim/schedule.c, docs/sweep-format.md) */
    int schedule;       /* row of the schedule table: eos_optim_schedule_name (eos_optim.h) */
    long warmup_steps;  /* linear warm-up from warmup_init x lr to lr over these steps */
    double warmup_init; /* the warm-up's first lr as a fraction of lr */
    double lr_min;      /* cosine/linear: the lr at max_steps */
    long step_every;    /* step: steps between decays */
    double step_gamma;  /* step: factor per decay */
    double flow_alpha;  /* flow: RK4 sub-step at most flow_alpha / sharpness */
} eos_train_cfg;

typedef struct {
    int every;      /* steps between measurements; 0 = off */
    int k;          /* number of top eigenvalues */
    double tol;     /* relative tolerance on the eigenvalues */
    int max_iter;   /* Lanczos iteration cap */
    int n;          /* sharpness set: first n training examples; 0 = all */
    int chunk;      /* examples per HVP chunk (bounds memory) */
    int precond;    /* preconditioned sharpness for adaptive optimizers: 1 = on (default) */
    int trace_probes;    /* Hutchinson probes for the Hessian trace; 0 = off */
    int batch_sharpness; /* measure batch sharpness (minibatch runs) */
    double batch_tol;    /* relative standard error target of batch sharpness */
    int directional;     /* directional sharpness of the update u'Hu/|u|^2 */
    eos_trace_method trace_method; /* hutchpp: Hutch++ (trace_hutchpp) instead of Hutchinson */
    int density_probes;  /* spectral density: Lanczos start vectors; 0 = off */
    int density_steps;   /* spectral density: Lanczos steps (nodes) per start vector */
    int gauss_newton;    /* top-k eigenvalues of the Gauss-Newton matrix J' H_loss J (gn_eig) */
    int k_min;           /* the k_min smallest Hessian eigenvalues (eig_min); 0 = off */
    int per_layer;       /* top eigenvalue of each layer's diagonal Hessian block (layer_eig) */
    int overlap;         /* gradient and update along the top-k eigenvectors (overlap) */
    int batch_hessian;   /* E_B[lambda_max(H_B)] over minibatches (batch_hess) */
    int batch_momentum;  /* momentum batch sharpness, s = mu v + g_B (batch_sharp_mom) */
    int cache_mb;        /* MiB of cached linearisation the HVPs of a measurement may reuse */
    eos_solver solver;   /* eigensolver of the top-k solves: Lanczos or LOBPCG */
    int guard;           /* LOBPCG: vectors beyond k in the block */
} eos_sharp_cfg;

typedef struct {
    int projections; /* P fixed random unit directions the iterate is projected on (/traj/proj) */
} eos_record_cfg;

typedef struct {
    char name[EOS_NAME_MAX];
    uint64_t seed;
    eos_data_cfg data;
    eos_model_cfg model;
    eos_loss_kind loss;
    eos_train_cfg train;
    eos_sharp_cfg sharpness;
    eos_record_cfg record;
} eos_config;

/* Defaults: fashion-mnist (n_train 1000, standardize), fc-tanh 200-200, mse, gd lr 0.04,
 * max_steps 1000, record_every 10, sharpness every 50, k 2, tol 1e-3. */
void eos_config_default(eos_config *cfg);

typedef enum {
    EOS_KEY_INT = 0,
    EOS_KEY_LONG,
    EOS_KEY_U64,
    EOS_KEY_DOUBLE,
    EOS_KEY_BOOL,
    EOS_KEY_STRING,
    EOS_KEY_ENUM,
    EOS_KEY_INT_LIST,  /* model.hidden */
    EOS_KEY_BATCH      /* int or "full" (stored as 0) */
} eos_key_type;

typedef enum {
    EOS_KEY_MIN_EXCLUSIVE = 1,
    EOS_KEY_MAX_EXCLUSIVE = 2,
    EOS_KEY_NOT_SWEEPABLE = 4, /* one value for every run of a sweep: it sets the step axes */
    EOS_KEY_RUN_COLUMN = 8     /* /runs stores it in a column of its own, never as a grid axis */
} eos_key_flag;

typedef struct {
    const char *path;        /* dotted path */
    eos_key_type type;
    size_t offset;           /* into eos_config */
    size_t size;             /* for strings: buffer size */
    /* Enum keys: the name of value i, NULL past the last one. The rooms that own a table (data
     * sources, architectures, optimizers) answer from their table, so config.c lists none. */
    const char *(*enum_name)(int value);
    double min, max;         /* numeric range (inclusive unless flags say exclusive) */
    unsigned flags;          /* eos_key_flag bits */
    const char *help;
} eos_key;

/* The table of every key, terminated by {NULL}. */
extern const eos_key eos_config_keys[];
const eos_key *eos_config_key_find(const char *path);

/* Set one key from its YAML scalar text (for lists: "[200, 200]" or "200,200"). On error returns
 * EOS_ERR_CONFIG and records a message naming the key path and the offending value. */
int eos_config_set(eos_config *cfg, const char *path, const char *value);
/* Format one key's current value as YAML scalar text. */
int eos_config_get(const eos_config *cfg, const char *path, char *buf, size_t len);
/* Every key's range and the cross-field checks (batch larger than data, precondition
 * combinations, ...). On failure returns EOS_ERR_CONFIG with a message that starts with the
 * offending key path, which is also stored in *key; *other is the other key the check involved
 * (the data source, the optimizer, data.n_train for a batch, ...) or NULL. Both are NULL on
 * success; either pointer may be NULL. */
int eos_config_validate(const eos_config *cfg, const char **key, const char **other);
/* The resolved configuration as a YAML document (block mappings per section). Returns bytes
 * written (excluding NUL) or a negative status if it did not fit. */
int eos_config_to_yaml(const eos_config *cfg, char *buf, size_t len);

const char *eos_activation_name(eos_activation a);

#endif
