/* eos_sweep.h: the sweep specification (YAML) and its expansion into runs. */
#ifndef EOS_SWEEP_H
#define EOS_SWEEP_H

#include <stdio.h>
#include "eos_config.h"

typedef enum { EOS_COL_NUMBER = 0, EOS_COL_INT, EOS_COL_STRING } eos_col_type;

typedef struct {
    char path[EOS_NAME_MAX];  /* dotted key, e.g. "train.lr" */
    const eos_key *key;       /* row of eos_config_keys */
    eos_col_type col;         /* how /runs/<path> stores it: double, int64 or string */
} eos_axis;

typedef struct {
    char file[EOS_PATH_MAX];  /* path of the sweep file as given */
    char *text;               /* verbatim sweep text */
    size_t text_len;
    char sha256[65];          /* hex digest of text */
    char name[EOS_NAME_MAX];
    eos_config base;          /* base configuration (validated on its own only without a grid) */
    int n_axes;
    eos_axis *axes;           /* every key named by any grid entry, in first-appearance order */
    long n_runs;
    char **values;            /* [n_runs * n_axes] scalar text; the base's value where a run's
                                 sub-grid does not name the axis */
    long n_duplicates;        /* identical runs removed during expansion (reported) */
    int rec_slots;            /* common trajectory length: max over runs */
    int sharp_slots;          /* common sharpness length: max over runs */
    int k;                    /* eigenvalues per measurement: max over runs */
    int n_proj;               /* record.projections: max over runs (/traj/proj's last extent) */
    int record_every;         /* shared by all runs (not a grid axis) */
    int sharp_every;          /* shared by all runs (not a grid axis) */
} eos_sweep;

/* Parse and validate a sweep file, expand the grid, and resolve + validate every run.
 * Every error is one line: "FILE:LINE:COL: KEY.PATH: what is wrong". */
int eos_sweep_load(eos_sweep *sw, const char *path);
/* Same from text in memory (file is the name used in messages). */
int eos_sweep_parse(eos_sweep *sw, const char *file, const char *text, size_t len);
void eos_sweep_free(eos_sweep *sw);

/* Resolved configuration of run i: base plus the run's axis values. */
int eos_sweep_run_config(const eos_sweep *sw, long i, eos_config *cfg);

/* The runs as a table (run index, each axis), then the count; for --dry-run. */
void eos_sweep_print(const eos_sweep *sw, FILE *f);

/* The quickstart sweep embedded in the binary (sweeps/quickstart.yaml at build time). */
extern const char eos_quickstart_yaml[];

#endif
