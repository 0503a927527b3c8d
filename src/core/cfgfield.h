/* Typed configuration fields: one parser each for durations, sizes and secrets, and a reader
 * driven by static tables (name, type, offset, default, validator, doc), so that parsing,
 * defaults, --check-config and the reference docs all come from the same rows. */
#ifndef FO_CORE_CFGFIELD_H
#define FO_CORE_CFGFIELD_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/config.h"

struct json_object;

/* ---- value parsers (pure; `why` gets a reason without the input when it is not NULL) ---- */

/* "500ms", "2s", "1.5s", "1m", "1h", "1m30s" into milliseconds. A bare number is refused (its
 * unit would be a guess). */
int fo_cfg_parse_duration(const char *s, uint64_t *ms, char *why, size_t n);
/* "512", "64k", "64KiB", "4MiB", "1GiB" (binary units; a trailing B is optional). */
int fo_cfg_parse_size(const char *s, uint64_t *bytes, char *why, size_t n);
/* Formats a duration the way a person would write it ("1s", "1500ms", "2m"). */
const char *fo_cfg_fmt_duration(uint64_t ms, char *buf, size_t n);
/* The first line of a secret file, trailing CR/LF stripped (at most 64 KiB are read). Returns 0,
 * or a negative errno / -FO_E... with why naming the file and the reason, never the content. */
int fo_cfg_read_secret_file(const char *path, char **out, size_t *len, char *why, size_t n);

/* ---- the table-driven reader (cfgread.c) ---- */

struct fo_cfg_ctx {
    struct fo_cfg_errs *errs;
    const char *file; /* for errors that have no node */
    char *dir;        /* relative secret files are read from here (the file's directory) */
    char path[512];   /* "services.orders-db.check" */
    size_t pathlen;
    void *user; /* the schema's own state */
};

void fo_cfg_ctx_init(struct fo_cfg_ctx *c, struct fo_cfg_errs *errs, const char *file);
void fo_cfg_ctx_free(struct fo_cfg_ctx *c);
/* Appends ".key" (or "key" at the top) / "[i]" to the path; returns a mark for pop. */
size_t fo_cfg_path_push(struct fo_cfg_ctx *c, const char *key);
size_t fo_cfg_path_push_index(struct fo_cfg_ctx *c, size_t i);
void fo_cfg_path_pop(struct fo_cfg_ctx *c, size_t mark);
/* Adds an error at loc (NULL: the file) for the current path. */
void fo_cfg_err(struct fo_cfg_ctx *c, const struct fo_cfg_loc *loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Adds an error at KEY of MAP (its key when want_key, else its value) for path + ".KEY". */
void fo_cfg_err_key(struct fo_cfg_ctx *c, const struct json_object *map, const char *key,
                    int want_key, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Number of errors so far (finish hooks compare it to skip checks on values that failed). */
int fo_cfg_nerrs(const struct fo_cfg_ctx *c);

enum fo_cfg_type {
    FO_CFG_STR,      /* char *, never empty */
    FO_CFG_INT,      /* int, within min..max */
    FO_CFG_U64,      /* uint64_t, within min..max */
    FO_CFG_BOOL,     /* int 0/1 */
    FO_CFG_ENUM,     /* int, from enums */
    FO_CFG_DURATION, /* uint32_t milliseconds, within min..max ms */
    FO_CFG_SIZE,     /* uint64_t bytes, within min..max */
    FO_CFG_SECRET,   /* char *: KEY inline, KEY_file: PATH or KEY_env: VAR; aux: size_t length */
    FO_CFG_STRLIST,  /* char ** at off, int count at aux */
    FO_CFG_JSON,     /* struct json_object * (a mapping, kept as parsed, with locations) */
    FO_CFG_SECTION,  /* a struct embedded at off, read with sub; aux: int "present" flag */
    FO_CFG_LIST,     /* sequence of sub structs: pointer at off, int count at aux */
    FO_CFG_MAP,      /* mapping NAME -> sub struct: like LIST, NAME stored at sub->name_off */
};

#define FO_CFG_REQUIRED 0x01u /* missing is an error */
#define FO_CFG_ABSENT   0x02u /* SECTION: when missing, leave it zeroed (no defaults) */
#define FO_CFG_ALIAS    0x04u /* shares off with an earlier field (not freed twice) */
#define FO_CFG_HAS_AUX  0x10u /* aux is meaningful (secret length, present flag) */

struct fo_cfg_ctx;
struct fo_cfg_field;
struct fo_cfg_table;

struct fo_cfg_enum {
    const char *name;
    int value;
};

/* Extra validation of a value once parsed (value points at the stored field). */
typedef void fo_cfg_check_fn(struct fo_cfg_ctx *c, const struct fo_cfg_loc *loc, const void *value);
/* Cross-field checks and derived defaults of one table, after all its fields were read. */
typedef void fo_cfg_finish_fn(struct fo_cfg_ctx *c, const struct json_object *map, void *obj);

struct fo_cfg_field {
    const char *name;
    enum fo_cfg_type type;
    size_t off;
    size_t aux;
    unsigned flags;
    const char *def;  /* default, written as in the file and read by the same parser */
    int64_t min, max; /* numbers, durations (ms), sizes, secret length, list length; 0,0: none */
    const struct fo_cfg_enum *enums; /* ENUM: ends with {NULL} */
    const struct fo_cfg_table *sub;  /* SECTION, LIST, MAP */
    fo_cfg_check_fn *check;          /* STR and MAP names (value: const char *) and others */
    const char *doc;
};

struct fo_cfg_table {
    const char *name;
    size_t size; /* of one element (LIST, MAP) */
    int named;   /* MAP: the key is stored as char * at name_off */
    size_t name_off;
    const struct fo_cfg_field *fields;
    size_t nfields;
    fo_cfg_finish_fn *finish;
    void (*free)(void *obj); /* frees one element's contents; NULL: by the table */
};

/* Reads MAP (NULL: absent, every default applies) into obj following t; errors go to c. */
void fo_cfg_read(struct fo_cfg_ctx *c, const struct json_object *map, const struct fo_cfg_table *t,
                 void *obj);
/* Reads secret NAME of MAP, given as NAME (inline), NAME_file (first line of the file; a relative
 * path is read from the config file's directory) or NAME_env (an environment variable). Stores
 * it in *out (freeing an earlier value) and its length in *len (may be NULL). Returns 1 when read,
 * 0 when none was given and it is optional, -1 after reporting an error (where: location of MAP
 * when it is absent). Errors name the key, file or variable, never the value. */
int fo_cfg_read_secret(struct fo_cfg_ctx *c, const struct json_object *map,
                       const struct fo_cfg_loc *where, const char *name, int required,
                       int64_t min_len, char **out, size_t *len);
/* Frees what fo_cfg_read stored in obj (not obj itself). */
void fo_cfg_free(const struct fo_cfg_table *t, void *obj);
/* Writes the reference of every key (path, type, default, doc), one per line. */
void fo_cfg_doc(FILE *out, const struct fo_cfg_table *t, const char *prefix);

/* Validators for fo_cfg_field.check. */
void fo_cfg_check_hostport(struct fo_cfg_ctx *c, const struct fo_cfg_loc *loc, const void *value);
void fo_cfg_check_id(struct fo_cfg_ctx *c, const struct fo_cfg_loc *loc, const void *value);
void fo_cfg_check_name(struct fo_cfg_ctx *c, const struct fo_cfg_loc *loc, const void *value);

#endif
