/* sweep_spec.c: the YAML sweep file (docs/sweep-format.md) and its expansion into runs.
 *
 * The file is loaded with libyaml's document API, which keeps the position of every node, so
 * every error can say "FILE:LINE:COL: key.path: what is wrong". The base configuration is applied
 * key by key through eos_config_set; the grid becomes a list of sub-grids (one per mapping), each a
 * list of factors (one axis, or one zip group), expanded as a cartesian product with the last
 * factor fastest. Runs keep only their axis values as text; eos_sweep_run_config rebuilds the
 * full configuration on demand, so even 10^5 runs cost a few MB. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include "eos_sweep.h"
#include "eos_sha256.h"
#include "eos_common.h"
#include "eos_data.h"
#include "eos_train.h" /* slot counts */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MAX_EXPANDED_RUNS 10000000L /* runs before deduplication (guards typos like 1e7 axes) */
#define VAL_MAX (EOS_PATH_MAX + 256)  /* longest canonical value text */

typedef struct {
    int line, col; /* 1-based; line 0 = unset */
} pos_t;

/* One factor of a sub-grid's product: a single axis, or a zip group of axes varying together. */
typedef struct {
    int n_keys;
    int *key;     /* [n_keys] rows of eos_config_keys */
    long len;     /* values per axis */
    char **val;   /* [len * n_keys] value text as written */
    pos_t *pos;   /* [len * n_keys] */
} factor_t;

typedef struct {
    int n_factors;
    factor_t *f;
} subgrid_t;

typedef struct {
    const char *file;
    yaml_document_t *doc;
    int n_keys;         /* rows of eos_config_keys */
    pos_t *base_pos;    /* [n_keys] where the base set each key */
    int *axis_of_key;   /* [n_keys] global axis index or -1 */
    int n_sub;
    subgrid_t *sub;
    yaml_node_t *grid;
    pos_t grid_pos;
} ctx_t;

/* Data sections already checked for files (few distinct ones in practice). */
typedef struct {
    int source, need_test;
    char path[EOS_PATH_MAX], labels[EOS_PATH_MAX], test_path[EOS_PATH_MAX],
        test_labels[EOS_PATH_MAX];
} data_seen_t;

static int perr(const char *src, int line, const char *file, pos_t p, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int perr(const char *src, int line, const char *file, pos_t p, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (p.line < 1) p.line = 1, p.col = 1;
    return eos_error_set(EOS_ERR_CONFIG, src, line, "%s:%d:%d: %s", file, p.line, p.col, msg);
}
#define PERR(p, ...)                                                                               \
    do {                                                                                           \
        rc = perr(__FILE__, __LINE__, ctx->file, (p), __VA_ARGS__);                                \
        goto fail;                                                                                 \
    } while (0)
/* Prefix the error eos_config_set just recorded with a position (and a suffix). */
#define PERR_PREV(p, suffix)                                                                       \
    do {                                                                                           \
        char prev_[1024];                                                                          \
        snprintf(prev_, sizeof prev_, "%s", eos_error_msg());                                      \
        PERR((p), "%s%s", prev_, (suffix));                                                        \
    } while (0)

static pos_t node_pos(const yaml_node_t *n)
{
    pos_t p = {(int)n->start_mark.line + 1, (int)n->start_mark.column + 1};
    return p;
}

static const char *node_kind(const yaml_node_t *n)
{
    return n->type == YAML_MAPPING_NODE ? "a mapping" : n->type == YAML_SEQUENCE_NODE ? "a list"
                                                                                        : "a scalar";
}

static int key_index(const eos_key *k) { return (int)(k - eos_config_keys); }

static int is_section(const char *path)
{
    size_t n = strlen(path);
    for (const eos_key *k = eos_config_keys; k->path; k++)
        if (strncmp(k->path, path, n) == 0 && k->path[n] == '.') return 1;
    return 0;
}

/* Text of a value node for key k: scalars as written (plain nulls become "" for strings), a
 * flow list of scalars as "[a, b]" for list keys. */
static int value_text(ctx_t *ctx, const eos_key *k, yaml_node_t *v, char *buf, size_t len)
{
    int rc = 0;
    if (v->type == YAML_SCALAR_NODE) {
        const char *s = (const char *)v->data.scalar.value;
        if (strlen(s) != v->data.scalar.length)
            PERR(node_pos(v), "%s: value contains a NUL character", k->path);
        if (k->type == EOS_KEY_STRING && v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
            (strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
             strcmp(s, "NULL") == 0))
            s = "";
        if (strlen(s) >= len) PERR(node_pos(v), "%s: value too long", k->path);
        strcpy(buf, s);
        return 0;
    }
    if (v->type == YAML_SEQUENCE_NODE && k->type == EOS_KEY_INT_LIST) {
        size_t pos = 0;
        buf[pos++] = '[';
        for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
             it++) {
            yaml_node_t *e = yaml_document_get_node(ctx->doc, *it);
            if (e->type != YAML_SCALAR_NODE)
                PERR(node_pos(e), "%s: list entries must be integers, got %s", k->path,
                     node_kind(e));
            /* a quoted entry is a string: "3,4" must not become two entries */
            if (e->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
                PERR(node_pos(e), "%s: list entries must be plain integers, got the quoted "
                     "string '%s'", k->path, (const char *)e->data.scalar.value);
            int n = snprintf(buf + pos, len - pos, "%s%s", it > v->data.sequence.items.start ? ", "
                                                                                             : "",
                             (const char *)e->data.scalar.value);
            if (n < 0 || pos + (size_t)n + 2 > len) PERR(node_pos(v), "%s: list too long", k->path);
            pos += (size_t)n;
        }
        buf[pos++] = ']';
        buf[pos] = '\0';
        return 0;
    }
    PERR(node_pos(v), "%s: expected %s, got %s", k->path,
         k->type == EOS_KEY_INT_LIST ? "a list like [200, 200]" : "a scalar value", node_kind(v));
fail:
    return rc;
}

/* Apply a mapping of the base configuration; nested section mappings become dotted paths. */
static int walk_base(ctx_t *ctx, eos_config *cfg, yaml_node_t *map, const char *prefix)
{
    int rc = 0;
    char path[256], val[VAL_MAX];
    for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top;
         pr++) {
        yaml_node_t *kn = yaml_document_get_node(ctx->doc, pr->key);
        yaml_node_t *vn = yaml_document_get_node(ctx->doc, pr->value);
        if (kn->type != YAML_SCALAR_NODE)
            PERR(node_pos(kn), "%s: keys must be scalars, got %s", prefix ? prefix : "(top level)",
                 node_kind(kn));
        const char *name = (const char *)kn->data.scalar.value;
        snprintf(path, sizeof path, "%s%s%s", prefix ? prefix : "", prefix ? "." : "", name);
        if (!prefix && strcmp(name, "grid") == 0) {
            if (ctx->grid) PERR(node_pos(kn), "grid: duplicate key (first at %d:%d)",
                                ctx->grid_pos.line, ctx->grid_pos.col);
            ctx->grid = vn;
            ctx->grid_pos = node_pos(kn);
            continue;
        }
        const eos_key *k = eos_config_key_find(path);
        if (!k) {
            if (!is_section(path)) PERR(node_pos(kn), "%s: unknown key", path);
            if (vn->type != YAML_MAPPING_NODE)
                PERR(node_pos(vn), "%s: expected a mapping of %s.* keys, got %s", path, path,
                     node_kind(vn));
            /* A repeated section shows up as a duplicate of its first key. */
            EOS_TRY(walk_base(ctx, cfg, vn, path));
            continue;
        }
        int ki = key_index(k);
        if (ctx->base_pos[ki].line)
            PERR(node_pos(kn), "%s: duplicate key (first set at %d:%d)", path,
                 ctx->base_pos[ki].line, ctx->base_pos[ki].col);
        EOS_TRY(value_text(ctx, k, vn, val, sizeof val));
        if (eos_config_set(cfg, path, val)) PERR_PREV(node_pos(vn), "");
        ctx->base_pos[ki] = node_pos(vn);
    }
fail:
    return rc;
}

static void factor_free(factor_t *f)
{
    if (f->val)
        for (long i = 0; i < f->len * f->n_keys; i++) free(f->val[i]);
    free(f->val);
    free(f->pos);
    free(f->key);
}

/* The axis named by key node kn, checked and registered; used[] guards repeats in a sub-grid. */
static int grid_axis(ctx_t *ctx, eos_sweep *sw, yaml_node_t *kn, char *used, int *ki_out)
{
    int rc = 0;
    if (kn->type != YAML_SCALAR_NODE)
        PERR(node_pos(kn), "grid: keys must be scalars, got %s", node_kind(kn));
    const char *path = (const char *)kn->data.scalar.value;
    const eos_key *k = eos_config_key_find(path);
    if (!k) PERR(node_pos(kn), "%s: unknown key", path);
    if (k->flags & EOS_KEY_NOT_SWEEPABLE)
        PERR(node_pos(kn),
             "%s: not sweepable (all runs share the results file's step axes); set it in the "
             "base configuration",
             path);
    int ki = key_index(k);
    if (used[ki]) PERR(node_pos(kn), "%s: named twice in the same grid entry", path);
    used[ki] = 1;
    if (ctx->axis_of_key[ki] < 0) {
        eos_axis *ax = &sw->axes[sw->n_axes];
        snprintf(ax->path, sizeof ax->path, "%s", k->path);
        ax->key = k;
        ax->col = k->type == EOS_KEY_DOUBLE ? EOS_COL_NUMBER
                  : (k->type == EOS_KEY_ENUM || k->type == EOS_KEY_STRING ||
                     k->type == EOS_KEY_INT_LIST)
                      ? EOS_COL_STRING
                      : EOS_COL_INT;
        ctx->axis_of_key[ki] = sw->n_axes++;
    }
    *ki_out = ki;
fail:
    return rc;
}

/* Values of one axis (a YAML list) into column j of factor f (allocated by the caller for len). */
static int grid_values(ctx_t *ctx, int ki, yaml_node_t *list, factor_t *f, int j)
{
    int rc = 0;
    const eos_key *k = &eos_config_keys[ki];
    char val[VAL_MAX];
    long i = 0;
    for (yaml_node_item_t *it = list->data.sequence.items.start; it < list->data.sequence.items.top;
         it++, i++) {
        yaml_node_t *e = yaml_document_get_node(ctx->doc, *it);
        if (k->type == EOS_KEY_INT_LIST && e->type != YAML_SEQUENCE_NODE)
            PERR(node_pos(e), "%s: grid values must be lists, e.g. [[100], [200, 200]]", k->path);
        if (k->type != EOS_KEY_INT_LIST && e->type != YAML_SCALAR_NODE)
            PERR(node_pos(e), "%s: grid values must be scalars, got %s", k->path, node_kind(e));
        EOS_TRY(value_text(ctx, k, e, val, sizeof val));
        f->val[i * f->n_keys + j] = strdup(val);
        EOS_CHECK(f->val[i * f->n_keys + j], EOS_ERR_NOMEM, "out of memory");
        f->pos[i * f->n_keys + j] = node_pos(e);
    }
fail:
    return rc;
}

static long list_len(const yaml_node_t *n)
{
    return (long)(n->data.sequence.items.top - n->data.sequence.items.start);
}

/* One grid mapping: its axes (and zip groups) become the factors of a product. */
static int parse_subgrid(ctx_t *ctx, eos_sweep *sw, yaml_node_t *map, subgrid_t *sg)
{
    int rc = 0;
    char *used = NULL;
    if (map->type != YAML_MAPPING_NODE)
        PERR(node_pos(map), "grid: each grid entry must be a mapping of key: [values], got %s",
             node_kind(map));
    long np = (long)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
    if (np == 0) PERR(node_pos(map), "grid: empty grid entry");
    EOS_ALLOC(used, ctx->n_keys);
    EOS_ALLOC(sg->f, np);
    for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top;
         pr++) {
        yaml_node_t *kn = yaml_document_get_node(ctx->doc, pr->key);
        yaml_node_t *vn = yaml_document_get_node(ctx->doc, pr->value);
        factor_t *f = &sg->f[sg->n_factors++];
        int is_zip = kn->type == YAML_SCALAR_NODE &&
                     strcmp((const char *)kn->data.scalar.value, "zip") == 0;
        if (!is_zip) {
            int ki;
            EOS_TRY(grid_axis(ctx, sw, kn, used, &ki));
            const char *path = eos_config_keys[ki].path;
            if (vn->type != YAML_SEQUENCE_NODE)
                PERR(node_pos(vn), "%s: a grid axis needs a list of values, got %s", path,
                     node_kind(vn));
            if (list_len(vn) == 0) PERR(node_pos(vn), "%s: empty list of values", path);
            f->n_keys = 1;
            f->len = list_len(vn);
            EOS_ALLOC(f->key, 1);
            EOS_ALLOC(f->val, f->len);
            EOS_ALLOC(f->pos, f->len);
            f->key[0] = ki;
            EOS_TRY(grid_values(ctx, ki, vn, f, 0));
            continue;
        }
        if (vn->type != YAML_MAPPING_NODE)
            PERR(node_pos(vn), "zip: expected a mapping of key: [values], got %s", node_kind(vn));
        int nz = (int)(vn->data.mapping.pairs.top - vn->data.mapping.pairs.start);
        if (nz == 0) PERR(node_pos(vn), "zip: empty mapping");
        /* Lengths first: every zipped list must match the first. */
        yaml_node_pair_t *z0 = vn->data.mapping.pairs.start;
        yaml_node_t *k0 = yaml_document_get_node(ctx->doc, z0->key);
        for (yaml_node_pair_t *zp = z0; zp < vn->data.mapping.pairs.top; zp++) {
            yaml_node_t *zk = yaml_document_get_node(ctx->doc, zp->key);
            yaml_node_t *zv = yaml_document_get_node(ctx->doc, zp->value);
            const char *zname = zk->type == YAML_SCALAR_NODE ? (const char *)zk->data.scalar.value
                                                             : "zip";
            if (zv->type != YAML_SEQUENCE_NODE)
                PERR(node_pos(zv), "%s: a grid axis needs a list of values, got %s", zname,
                     node_kind(zv));
            if (list_len(zv) == 0) PERR(node_pos(zv), "%s: empty list of values", zname);
            long l0 = list_len(yaml_document_get_node(ctx->doc, z0->value));
            if (list_len(zv) != l0)
                PERR(node_pos(zv), "%s: %ld values, but %s in the same zip has %ld (zipped "
                     "lists must have equal lengths)", zname, list_len(zv),
                     k0->type == YAML_SCALAR_NODE ? (const char *)k0->data.scalar.value : "?", l0);
        }
        f->n_keys = nz;
        f->len = list_len(yaml_document_get_node(ctx->doc, z0->value));
        EOS_ALLOC(f->key, nz);
        EOS_ALLOC(f->val, f->len * nz);
        EOS_ALLOC(f->pos, f->len * nz);
        int j = 0;
        for (yaml_node_pair_t *zp = z0; zp < vn->data.mapping.pairs.top; zp++, j++) {
            int ki;
            EOS_TRY(grid_axis(ctx, sw, yaml_document_get_node(ctx->doc, zp->key), used, &ki));
            f->key[j] = ki;
            EOS_TRY(grid_values(ctx, ki, yaml_document_get_node(ctx->doc, zp->value), f, j));
        }
    }
fail:
    free(used);
    return rc;
}

static int parse_grid(ctx_t *ctx, eos_sweep *sw)
{
    int rc = 0;
    yaml_node_t *g = ctx->grid;
    EOS_ALLOC(sw->axes, ctx->n_keys);
    if (g->type == YAML_MAPPING_NODE) {
        EOS_ALLOC(ctx->sub, 1);
        ctx->n_sub = 1;
        EOS_TRY(parse_subgrid(ctx, sw, g, &ctx->sub[0]));
    } else if (g->type == YAML_SEQUENCE_NODE) {
        long n = list_len(g);
        if (n == 0) PERR(node_pos(g), "grid: empty list of grid entries");
        EOS_ALLOC(ctx->sub, n);
        for (yaml_node_item_t *it = g->data.sequence.items.start; it < g->data.sequence.items.top;
             it++) {
            ctx->n_sub++;
            EOS_TRY(parse_subgrid(ctx, sw, yaml_document_get_node(ctx->doc, *it),
                                  &ctx->sub[ctx->n_sub - 1]));
        }
    } else {
        PERR(node_pos(g), "grid: expected a mapping of key: [values] or a list of such mappings, "
             "got %s", node_kind(g));
    }
fail:
    return rc;
}

/* pos_of(ki): where this run got key ki (its grid value, else the base), 1:1 if defaulted. */
typedef struct {
    ctx_t *ctx;
    const pos_t *const *run_pos; /* [n_keys] grid positions for the current run, or NULL */
} where_t;

static pos_t pos_of(const where_t *w, const char *path)
{
    pos_t none = {1, 1};
    const eos_key *k = eos_config_key_find(path);
    if (!k) return none;
    int ki = key_index(k);
    if (w->run_pos && w->run_pos[ki]) return *w->run_pos[ki];
    if (w->ctx->base_pos[ki].line) return w->ctx->base_pos[ki];
    return none;
}

/* The files the run's data source reads, reported at the key that names the missing one. */
static int check_data_files(const where_t *w, const eos_config *cfg, const char *suffix)
{
    int rc = 0;
    ctx_t *ctx = w->ctx;
    const char *key = "data.source";
    if (eos_data_check_files(cfg, &key)) PERR_PREV(pos_of(w, key), suffix);
fail:
    return rc;
}

/* Where a validation error of this run goes: at the offending key or the other key involved,
 * whichever this run's grid set (its value made the run invalid), else at the one the base set. */
static pos_t run_error_pos(const where_t *w, const char *key, const char *other)
{
    const char *keys[2] = {key, other};
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < 2; i++) {
            const eos_key *k = keys[i] ? eos_config_key_find(keys[i]) : NULL;
            if (!k) continue;
            int ki = key_index(k);
            if (pass == 0 && w->run_pos && w->run_pos[ki]) return *w->run_pos[ki];
            if (pass == 1 && w->ctx->base_pos[ki].line) return w->ctx->base_pos[ki];
        }
    pos_t none = {1, 1};
    return none;
}

/* ---- expansion ---- */

static uint64_t hash_values(char (*cur)[VAL_MAX], int n)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (int a = 0; a < n; a++) {
        for (const unsigned char *p = (const unsigned char *)cur[a]; *p; p++)
            h = (h ^ *p) * 1099511628211ULL;
        h = (h ^ 0x1f) * 1099511628211ULL;
    }
    return h;
}

/* " (run 3: train.lr=-0.1, seed=0)" from the sub-grid values of the current combination. */
static void run_suffix(char *buf, size_t len, long run, const subgrid_t *sg, const long *idx)
{
    size_t pos = (size_t)snprintf(buf, len, " (run %ld: ", run);
    int first = 1;
    for (int fi = 0; fi < sg->n_factors && pos < len; fi++) {
        const factor_t *f = &sg->f[fi];
        for (int j = 0; j < f->n_keys && pos < len; j++) {
            pos += (size_t)snprintf(buf + pos, len - pos, "%s%s=%s", first ? "" : ", ",
                                    eos_config_keys[f->key[j]].path,
                                    f->val[idx[fi] * f->n_keys + j]);
            first = 0;
        }
    }
    if (pos < len) snprintf(buf + pos, len - pos, ")");
}

/* The grid's size before deduplication (with an overflow guard) and its most factors. */
static int count_runs(ctx_t *ctx, long *total, int *max_factors)
{
    int rc = 0;
    subgrid_t none = {0, NULL};
    *total = 0;
    *max_factors = 1;
    for (int s = 0; s < (ctx->n_sub ? ctx->n_sub : 1); s++) {
        const subgrid_t *sg = ctx->n_sub ? &ctx->sub[s] : &none;
        long prod = 1;
        for (int fi = 0; fi < sg->n_factors; fi++) {
            if (sg->f[fi].len > MAX_EXPANDED_RUNS / prod)
                PERR(ctx->grid_pos, "grid: expands to more than %ld runs", MAX_EXPANDED_RUNS);
            prod *= sg->f[fi].len;
        }
        *total += prod;
        if (*total > MAX_EXPANDED_RUNS)
            PERR(ctx->grid_pos, "grid: expands to more than %ld runs", MAX_EXPANDED_RUNS);
        if (sg->n_factors > *max_factors) *max_factors = sg->n_factors;
    }
fail:
    return rc;
}

/* The data sections whose files were checked already (each distinct one is checked once). */
typedef struct {
    data_seen_t *e;
    int n, cap;
} seen_list;

static int check_files_once(const where_t *w, const eos_config *cfg, const char *suffix,
                            seen_list *seen)
{
    int rc = 0;
    const eos_data_cfg *d = &cfg->data;
    int need_test = d->n_test > 0;
    for (int i = 0; i < seen->n; i++) {
        const data_seen_t *e = &seen->e[i];
        if (e->source == (int)d->source && e->need_test == need_test &&
            !strcmp(e->path, d->path) && !strcmp(e->labels, d->labels) &&
            !strcmp(e->test_path, d->test_path) && !strcmp(e->test_labels, d->test_labels))
            return 0;
    }
    EOS_TRY(check_data_files(w, cfg, suffix));
    if (seen->n == seen->cap) {
        int nc = seen->cap ? 2 * seen->cap : 4;
        data_seen_t *ns = realloc(seen->e, (size_t)nc * sizeof *ns);
        EOS_CHECK(ns, EOS_ERR_NOMEM, "out of memory");
        seen->e = ns;
        seen->cap = nc;
    }
    data_seen_t *e = &seen->e[seen->n++];
    e->source = (int)d->source;
    e->need_test = need_test;
    memcpy(e->path, d->path, sizeof e->path);
    memcpy(e->labels, d->labels, sizeof e->labels);
    memcpy(e->test_path, d->test_path, sizeof e->test_path);
    memcpy(e->test_labels, d->test_labels, sizeof e->test_labels);
fail:
    return rc;
}

/* Append a validated run: its axis texts, and the file extents it needs. */
static int store_run(eos_sweep *sw, char (*cur)[VAL_MAX], const eos_config *cfg)
{
    int rc = 0, na = sw->n_axes;
    char **v = sw->values + sw->n_runs * na;
    for (int a = 0; a < na; a++) {
        v[a] = strdup(cur[a]);
        EOS_CHECK(v[a], EOS_ERR_NOMEM, "out of memory");
    }
    sw->n_runs++;
    int rec = eos_train_rec_slots(cfg), sh = eos_train_sharp_slots(cfg);
    if (rec > sw->rec_slots) sw->rec_slots = rec;
    if (sh > sw->sharp_slots) sw->sharp_slots = sh;
    if (cfg->sharpness.k > sw->k) sw->k = cfg->sharpness.k;
    if (cfg->record.projections > sw->n_proj) sw->n_proj = cfg->record.projections;
fail:
    return rc;
}

/* Open-addressing lookup of the axis texts cur among the stored runs: the slot where they are
 * (*dup) or where they go. Equal texts = equal configurations, since everything else comes from
 * the base. */
static long find_run(const eos_sweep *sw, char (*cur)[VAL_MAX], const long *table, long table_cap,
                     int *dup)
{
    int na = sw->n_axes;
    long slot = (long)(hash_values(cur, na) & (uint64_t)(table_cap - 1));
    *dup = 0;
    for (; table[slot] >= 0; slot = (slot + 1) & (table_cap - 1)) {
        char **v = sw->values + table[slot] * na;
        int same = 1;
        for (int a = 0; a < na && same; a++) same = strcmp(v[a], cur[a]) == 0;
        if (same) {
            *dup = 1;
            break;
        }
    }
    return slot;
}

static int expand(ctx_t *ctx, eos_sweep *sw)
{
    int rc = 0;
    int na = sw->n_axes;
    char(*cur)[VAL_MAX] = NULL;
    const pos_t **run_pos = NULL;
    long *idx = NULL, *table = NULL;
    seen_list seen = {NULL, 0, 0};
    long table_cap = 0, total = 0;
    int max_factors = 1;
    eos_config *cfg = NULL;
    subgrid_t none = {0, NULL};
    int n_sub = ctx->n_sub ? ctx->n_sub : 1;
    char suffix[1024];

    EOS_TRY(count_runs(ctx, &total, &max_factors));
    EOS_ALLOC(cfg, 1);
    EOS_ALLOC(cur, na > 0 ? na : 1);
    EOS_ALLOC(run_pos, ctx->n_keys);
    EOS_ALLOC(idx, max_factors);
    for (table_cap = 16; table_cap < 2 * total; table_cap *= 2) {}
    table = malloc((size_t)table_cap * sizeof *table);
    EOS_CHECK(table, EOS_ERR_NOMEM, "out of memory for %ld runs", total);
    for (long i = 0; i < table_cap; i++) table[i] = -1;
    EOS_ALLOC(sw->values, total * (na > 0 ? na : 1));
    where_t w = {ctx, run_pos};

    for (int s = 0; s < n_sub; s++) {
        const subgrid_t *sg = ctx->n_sub ? &ctx->sub[s] : &none;
        for (int fi = 0; fi < sg->n_factors; fi++) idx[fi] = 0;
        for (;;) {
            /* Resolve: base + this combination, in the order written. */
            memcpy(cfg, &sw->base, sizeof *cfg);
            memset(run_pos, 0, (size_t)ctx->n_keys * sizeof *run_pos);
            suffix[0] = '\0';
            if (ctx->n_sub) run_suffix(suffix, sizeof suffix, sw->n_runs, sg, idx);
            for (int fi = 0; fi < sg->n_factors; fi++) {
                const factor_t *f = &sg->f[fi];
                for (int j = 0; j < f->n_keys; j++) {
                    long vi = idx[fi] * f->n_keys + j;
                    if (eos_config_set(cfg, eos_config_keys[f->key[j]].path, f->val[vi]))
                        PERR_PREV(f->pos[vi], suffix);
                    run_pos[f->key[j]] = &f->pos[vi];
                }
            }
            for (int a = 0; a < na; a++)
                EOS_TRY(eos_config_get(cfg, sw->axes[a].path, cur[a], VAL_MAX));

            int dup;
            long slot = find_run(sw, cur, table, table_cap, &dup);
            if (dup) {
                sw->n_duplicates++;
            } else {
                const char *key, *other;
                if (eos_config_validate(cfg, &key, &other))
                    PERR_PREV(run_error_pos(&w, key, other), suffix);
                EOS_TRY(check_files_once(&w, cfg, suffix, &seen));
                table[slot] = sw->n_runs;
                EOS_TRY(store_run(sw, cur, cfg));
            }
            /* Odometer: last factor fastest. */
            int fi = sg->n_factors - 1;
            for (; fi >= 0; fi--) {
                if (++idx[fi] < sg->f[fi].len) break;
                idx[fi] = 0;
            }
            if (fi < 0) break;
        }
    }
fail:
    free(cfg);
    free(cur);
    free(run_pos);
    free(idx);
    free(table);
    free(seen.e);
    return rc;
}

/* ---- entry points ---- */

/* libyaml's scanner is quadratic in the nesting depth of flow collections ("[[[[..."), so a
 * hostile or mangled file could stall the parser for minutes; the format needs at most 4 levels.
 * A cheap scan over the text (outside comments and quoted scalars) refuses deep nesting first. */
#define MAX_FLOW_DEPTH 16
static int check_flow_depth(ctx_t *ctx, const char *text, size_t len)
{
    int rc = 0, depth = 0, line = 1, col = 0;
    char quote = 0;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        col++;
        if (c == '\n') {
            line++;
            col = 0;
            if (quote == 0) continue;
        }
        if (quote) {
            if (quote == '"' && c == '\\' && i + 1 < len) {
                i++, col++;
            } else if (c == quote) {
                if (quote == '\'' && i + 1 < len && text[i + 1] == '\'') i++, col++; /* '' */
                else quote = 0;
            }
            continue;
        }
        if (c == '#' && (i == 0 || text[i - 1] == ' ' || text[i - 1] == '\t' ||
                         text[i - 1] == '\n')) {
            while (i + 1 < len && text[i + 1] != '\n') i++;
            continue;
        }
        if ((c == '"' || c == '\'') &&
            (i == 0 || strchr(" \t\n[{,:-", text[i - 1]) != NULL)) {
            quote = c;
        } else if (c == '[' || c == '{') {
            if (++depth > MAX_FLOW_DEPTH) {
                pos_t p = {line, col};
                PERR(p, "lists or mappings nested more than %d deep (the sweep format needs at "
                     "most 4)", MAX_FLOW_DEPTH);
            }
        } else if ((c == ']' || c == '}') && depth > 0) {
            depth--;
        }
    }
fail:
    return rc;
}

int eos_sweep_parse(eos_sweep *sw, const char *file, const char *text, size_t len)
{
    int rc = 0;
    yaml_parser_t parser;
    yaml_document_t doc, extra;
    int have_parser = 0, have_doc = 0;
    ctx_t cctx, *ctx = &cctx;
    memset(ctx, 0, sizeof *ctx);
    memset(sw, 0, sizeof *sw);
    ctx->file = file;
    ctx->doc = &doc;
    while (eos_config_keys[ctx->n_keys].path) ctx->n_keys++;

    snprintf(sw->file, sizeof sw->file, "%s", file);
    EOS_ALLOC(sw->text, len + 1);
    memcpy(sw->text, text, len);
    sw->text_len = len;
    eos_sha256_hex(text, len, sw->sha256);
    eos_config_default(&sw->base);
    EOS_ALLOC(ctx->base_pos, ctx->n_keys);
    EOS_ALLOC(ctx->axis_of_key, ctx->n_keys);
    for (int i = 0; i < ctx->n_keys; i++) ctx->axis_of_key[i] = -1;

    EOS_TRY(check_flow_depth(ctx, sw->text, len));
    EOS_CHECK(yaml_parser_initialize(&parser), EOS_ERR_NOMEM, "%s: cannot initialise libyaml",
              file);
    have_parser = 1;
    yaml_parser_set_input_string(&parser, (const unsigned char *)sw->text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        pos_t p = {(int)parser.problem_mark.line + 1, (int)parser.problem_mark.column + 1};
        PERR(p, "YAML syntax error: %s%s%s", parser.problem ? parser.problem : "unknown problem",
             parser.context ? " " : "", parser.context ? parser.context : "");
    }
    have_doc = 1;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    pos_t top = {1, 1};
    if (!root) PERR(top, "empty sweep file (expected a mapping of configuration keys)");
    if (root->type != YAML_MAPPING_NODE)
        PERR(node_pos(root), "expected a mapping of configuration keys at the top level, got %s",
             node_kind(root));
    /* A second document would be silently ignored otherwise. */
    if (!yaml_parser_load(&parser, &extra)) {
        pos_t p = {(int)parser.problem_mark.line + 1, (int)parser.problem_mark.column + 1};
        PERR(p, "YAML syntax error: %s%s%s", parser.problem ? parser.problem : "unknown problem",
             parser.context ? " " : "", parser.context ? parser.context : "");
    }
    yaml_node_t *xr = yaml_document_get_root_node(&extra);
    pos_t xp = xr ? node_pos(xr) : top;
    yaml_document_delete(&extra);
    if (xr) PERR(xp, "a sweep file holds one YAML document; found a second one");

    EOS_TRY(walk_base(ctx, &sw->base, root, NULL));
    snprintf(sw->name, sizeof sw->name, "%s", sw->base.name);
    sw->record_every = sw->base.train.record_every;
    sw->sharp_every = sw->base.sharpness.every;
    if (ctx->grid) EOS_TRY(parse_grid(ctx, sw));
    EOS_TRY(expand(ctx, sw));
fail:
    for (int s = 0; s < ctx->n_sub; s++) {
        for (int fi = 0; fi < ctx->sub[s].n_factors; fi++) factor_free(&ctx->sub[s].f[fi]);
        free(ctx->sub[s].f);
    }
    free(ctx->sub);
    free(ctx->base_pos);
    free(ctx->axis_of_key);
    if (have_doc) yaml_document_delete(&doc);
    if (have_parser) yaml_parser_delete(&parser);
    if (rc) eos_sweep_free(sw);
    return rc;
}

int eos_sweep_load(eos_sweep *sw, const char *path)
{
    int rc = 0;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    memset(sw, 0, sizeof *sw);
    FILE *f = fopen(path, "rb");
    EOS_CHECK(f, EOS_ERR_IO, "%s: %s", path, strerror(errno));
    for (;;) {
        if (n == cap) {
            cap = cap ? 2 * cap : 65536;
            char *nb = realloc(buf, cap);
            EOS_CHECK(nb, EOS_ERR_NOMEM, "%s: out of memory reading the sweep file", path);
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    EOS_CHECK(!ferror(f), EOS_ERR_IO, "%s: read error: %s", path, strerror(errno));
    EOS_TRY(eos_sweep_parse(sw, path, buf, n));
fail:
    if (f) fclose(f);
    free(buf);
    return rc;
}

void eos_sweep_free(eos_sweep *sw)
{
    if (!sw) return;
    if (sw->values)
        for (long i = 0; i < sw->n_runs * sw->n_axes; i++) free(sw->values[i]);
    free(sw->values);
    free(sw->axes);
    free(sw->text);
    memset(sw, 0, sizeof *sw);
}

int eos_sweep_run_config(const eos_sweep *sw, long i, eos_config *cfg)
{
    int rc = 0;
    EOS_CHECK(i >= 0 && i < sw->n_runs, EOS_ERR_INTERNAL, "run %ld out of range (%ld runs)", i,
              sw->n_runs);
    memcpy(cfg, &sw->base, sizeof *cfg);
    for (int a = 0; a < sw->n_axes; a++)
        EOS_TRY(eos_config_set(cfg, sw->axes[a].path, sw->values[i * sw->n_axes + a]));
fail:
    return rc;
}

void eos_sweep_print(const eos_sweep *sw, FILE *f)
{
    int wrun = 3;
    char tmp[32];
    int l = snprintf(tmp, sizeof tmp, "%ld", sw->n_runs > 0 ? sw->n_runs - 1 : 0);
    if (l > wrun) wrun = l;
    int *w = calloc((size_t)(sw->n_axes > 0 ? sw->n_axes : 1), sizeof *w);
    for (int a = 0; a < sw->n_axes; a++) {
        size_t m = strlen(sw->axes[a].path);
        for (long i = 0; i < sw->n_runs; i++) {
            size_t v = strlen(sw->values[i * sw->n_axes + a]);
            if (v > m) m = v;
        }
        if (w) w[a] = (int)m;
    }
    /* Columns padded to their widest entry; the last one unpadded (no trailing blanks). */
    fprintf(f, "%*s", wrun, "run");
    for (int a = 0; a < sw->n_axes; a++)
        fprintf(f, "  %-*s", w && a + 1 < sw->n_axes ? w[a] : 0, sw->axes[a].path);
    fprintf(f, "\n");
    for (long i = 0; i < sw->n_runs; i++) {
        fprintf(f, "%*ld", wrun, i);
        for (int a = 0; a < sw->n_axes; a++)
            fprintf(f, "  %-*s", w && a + 1 < sw->n_axes ? w[a] : 0,
                    sw->values[i * sw->n_axes + a]);
        fprintf(f, "\n");
    }
    fprintf(f, "%ld run%s", sw->n_runs, sw->n_runs == 1 ? "" : "s");
    if (sw->n_duplicates)
        fprintf(f, " (%ld duplicate%s removed)", sw->n_duplicates,
                sw->n_duplicates == 1 ? "" : "s");
    fprintf(f, "\n");
    free(w);
}
