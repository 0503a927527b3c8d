/* Configuration documents: YAML (or JSON, which YAML reads too) parsed into json-c objects that
 * remember the file:line:column they came from, plus the collector that gathers every error as
 * "FILE:LINE:COL: path.to.field: message". The typed schema reader is in core/cfgfield.h. */
#ifndef FO_CORE_CONFIG_H
#define FO_CORE_CONFIG_H

#include <stddef.h>
#include <stdint.h>

struct json_object;

/* Limits that keep a hostile or broken file from taking the process down (and the fuzzer fast). */
#define FO_CONFIG_MAX_BYTES  (64u << 20) /* input size: tens of thousands of members fit */
#define FO_CONFIG_MAX_DEPTH  64          /* nesting of mappings and sequences */
#define FO_CONFIG_MAX_NODES  4000000     /* nodes in one document */
#define FO_CONFIG_MAX_ERRORS 100         /* errors kept; the rest are counted */

/* Where a node is. file is borrowed from the node (valid while the node lives). 1-based. */
struct fo_cfg_loc {
    const char *file;
    uint32_t line;
    uint32_t col;
};

/* Collected errors; fo_cfg_errs_take() gives them in file order. */
struct fo_cfg_err_line {
    uint32_t line, col;
    int seq; /* order found, to keep it among errors at one position */
    char *text;
};
struct fo_cfg_errs {
    struct fo_cfg_err_line *v;
    int nv, capv;
    int n;       /* errors reported (kept or not) */
    int dropped; /* errors past FO_CONFIG_MAX_ERRORS */
};

void fo_cfg_errs_init(struct fo_cfg_errs *e);
void fo_cfg_errs_free(struct fo_cfg_errs *e);
/* Adds "FILE:LINE:COL: PATH: message" (PATH and its ": " left out when path is NULL or empty;
 * ":LINE:COL" left out when line is 0). Never pass secret values in the message. */
void fo_cfg_errs_add(struct fo_cfg_errs *e, const struct fo_cfg_loc *loc, const char *path,
                     const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* 1 when no more errors are kept (callers may skip costly work for them). */
int fo_cfg_errs_full(const struct fo_cfg_errs *e);
/* Returns the errors joined by newlines, sorted by position (file-level ones first), with a
 * closing "... and N more errors" line when some were dropped; malloc'd. Empties e. NULL when
 * there were no errors. */
char *fo_cfg_errs_take(struct fo_cfg_errs *e);

/* Parses one YAML or JSON document. Every node of the result carries its location (see
 * fo_config_locate); YAML nulls are NULL objects, whose position their parent mapping keeps.
 * Syntax errors, duplicate keys, anchors, aliases, tags, non-scalar keys and the limits above are
 * errors added to errs. Returns the root, or NULL on a syntax error or an empty document (an
 * error is added in both cases) — but the root may be non-NULL while errs has errors.
 * The caller owns the root (json_object_put). */
struct json_object *fo_config_parse(const char *file, const char *data, size_t len,
                                    struct fo_cfg_errs *errs);
/* Reads FILE (at most FO_CONFIG_MAX_BYTES) and parses it. */
struct json_object *fo_config_parse_file(const char *file, struct fo_cfg_errs *errs);

/* The location of a node produced by fo_config_parse or fo_config_copy (other json-c objects
 * carry no location: do not pass them). Returns 0, or -FO_ENOENT when node is NULL or has no
 * location (loc is then zeroed). */
int fo_config_loc(const struct json_object *node, struct fo_cfg_loc *loc);
/* Location of KEY in mapping MAP (key=1) or of its value (key=0; works for null values too).
 * Returns 0; -FO_ENOENT when MAP has no such key (loc is then MAP's own location). */
int fo_config_loc_key(const struct json_object *map, const char *key, int want_key,
                      struct fo_cfg_loc *loc);
/* The same for the I-th entry of a mapping (in file order, as json_object_object_foreach visits
 * them) or sequence, in constant time; KEY (may be NULL) is checked against the entry, and looked
 * up by name when it differs. */
int fo_config_loc_entry(const struct json_object *coll, size_t i, const char *key, int want_key,
                        struct fo_cfg_loc *loc);
/* "file:line:col" of a node into buf. Returns 0 or -FO_ENOENT (buf then holds "?"). */
int fo_config_locate(const struct json_object *node, char *buf, size_t n);
/* "file:line:col" of a key of a mapping (a dotted path such as "tls.ca" or "argv.1" goes into
 * nested mappings and sequences). When a key is missing, buf holds the location of the deepest
 * mapping found and -FO_ENOENT is returned: for plugin errors about params keys. */
int fo_config_locate_key(const struct json_object *map, const char *path, char *buf, size_t n);
/* Removes KEY from mapping MAP, forgetting its position too. Returns 0 or -FO_ENOENT. */
int fo_config_del_key(struct json_object *map, const char *key);
/* Deep copy that keeps locations (json_object_deep_copy alone refuses located nodes). Returns 0
 * or a negative error. */
int fo_config_copy(struct json_object *src, struct json_object **dst);

/* Resolves a plain (unquoted) YAML scalar the YAML 1.2 core schema way: null, true/false,
 * integers (decimal, 0x, 0o), floats; anything else is a string. Returns a new object without a
 * location (NULL for null). Sets *range_err when an integer does not fit in 64 bits. */
struct json_object *fo_config_scalar(const char *s, size_t len, int *range_err);

#endif
