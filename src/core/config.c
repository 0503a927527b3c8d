/* YAML/JSON documents into json-c objects that remember where each node was written, using
 * libyaml's event parser (JSON is read as YAML flow syntax). */
#include "core/config.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "core/fo.h"

/* ---- locations carried as json-c userdata ---- */

#define FO__NODE_MAGIC 0x666f6c63u /* "folc": guards against foreign userdata */

/* The file name, shared by every node of a document and kept alive by them. */
struct fo__src {
    unsigned refs;
    char name[];
};

/* Position of one entry of a container: for a mapping its key and value, for a sequence the
 * value (key NULL). Kept here because null values have no json-c object to hold it. */
struct fo__entry {
    char *key;
    uint32_t kline, kcol;
    uint32_t vline, vcol;
};

struct fo__node {
    uint32_t magic;
    uint32_t line, col;
    struct fo__src *src;
    struct fo__entry *ents;
    size_t nents, capents;
};

static void fo__src_put(struct fo__src *s)
{
    if (s && __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) == 0)
        free(s);
}

static struct fo__src *fo__src_get(struct fo__src *s)
{
    __atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
    return s;
}

static void fo__node_free(struct json_object *o, void *ud)
{
    struct fo__node *n = ud;
    (void)o;
    if (!n)
        return;
    for (size_t i = 0; i < n->nents; i++)
        free(n->ents[i].key);
    free(n->ents);
    fo__src_put(n->src);
    free(n);
}

static struct fo__node *fo__node_of(const struct json_object *o)
{
    if (!o)
        return NULL;
    struct fo__node *n = json_object_get_userdata((struct json_object *)o);
    return n && n->magic == FO__NODE_MAGIC ? n : NULL;
}

static void fo__node_attach(struct json_object *o, struct fo__src *src, uint32_t line, uint32_t col)
{
    struct fo__node *n = fo_xcalloc(1, sizeof(*n));
    n->magic = FO__NODE_MAGIC;
    n->line = line;
    n->col = col;
    n->src = fo__src_get(src);
    json_object_set_userdata(o, n, fo__node_free);
}

static struct fo__entry *fo__node_add_entry(struct fo__node *n)
{
    if (n->nents == n->capents) {
        n->capents = n->capents ? n->capents * 2 : 4;
        n->ents = fo_xrealloc(n->ents, n->capents * sizeof(*n->ents));
    }
    struct fo__entry *en = &n->ents[n->nents++];
    memset(en, 0, sizeof(*en));
    return en;
}

static const struct fo__entry *fo__node_find(const struct fo__node *n, const char *key)
{
    for (size_t i = 0; i < n->nents; i++)
        if (n->ents[i].key && strcmp(n->ents[i].key, key) == 0)
            return &n->ents[i];
    return NULL;
}

int fo_config_loc(const struct json_object *node, struct fo_cfg_loc *loc)
{
    const struct fo__node *n = fo__node_of(node);
    if (!n) {
        memset(loc, 0, sizeof(*loc));
        return -FO_ENOENT;
    }
    loc->file = n->src->name;
    loc->line = n->line;
    loc->col = n->col;
    return 0;
}

int fo_config_loc_key(const struct json_object *map, const char *key, int want_key,
                      struct fo_cfg_loc *loc)
{
    int rc = fo_config_loc(map, loc);
    const struct fo__node *n = fo__node_of(map);
    if (rc < 0 || !key)
        return -FO_ENOENT;
    if (json_object_is_type(map, json_type_array)) {
        char *end;
        errno = 0;
        unsigned long i = strtoul(key, &end, 10);
        if (errno || end == key || *end || i >= n->nents || i >= json_object_array_length(map))
            return -FO_ENOENT;
        loc->line = n->ents[i].vline;
        loc->col = n->ents[i].vcol;
        return 0;
    }
    if (!json_object_is_type(map, json_type_object) ||
        !json_object_object_get_ex((struct json_object *)map, key, NULL))
        return -FO_ENOENT;
    const struct fo__entry *en = fo__node_find(n, key);
    if (!en)
        return -FO_ENOENT;
    loc->line = want_key ? en->kline : en->vline;
    loc->col = want_key ? en->kcol : en->vcol;
    return 0;
}

int fo_config_loc_entry(const struct json_object *coll, size_t i, const char *key, int want_key,
                        struct fo_cfg_loc *loc)
{
    const struct fo__node *n = fo__node_of(coll);
    if (fo_config_loc(coll, loc) < 0)
        return -FO_ENOENT;
    if (i < n->nents && (!key || !n->ents[i].key || strcmp(n->ents[i].key, key) == 0)) {
        loc->line = want_key && n->ents[i].key ? n->ents[i].kline : n->ents[i].vline;
        loc->col = want_key && n->ents[i].key ? n->ents[i].kcol : n->ents[i].vcol;
        return 0;
    }
    return key ? fo_config_loc_key(coll, key, want_key, loc) : -FO_ENOENT;
}

static void fo__loc_format(const struct fo_cfg_loc *loc, char *buf, size_t n)
{
    if (n)
        snprintf(buf, n, "%s:%u:%u", loc->file, loc->line, loc->col);
}

int fo_config_locate(const struct json_object *node, char *buf, size_t n)
{
    struct fo_cfg_loc loc;
    if (fo_config_loc(node, &loc) < 0) {
        if (n)
            snprintf(buf, n, "?");
        return -FO_ENOENT;
    }
    fo__loc_format(&loc, buf, n);
    return 0;
}

int fo_config_locate_key(const struct json_object *map, const char *path, char *buf, size_t n)
{
    struct fo_cfg_loc loc;
    const struct json_object *cur = map;
    const char *p = path;
    int rc = -FO_ENOENT;

    if (fo_config_loc(map, &loc) < 0 || !path) {
        fo__loc_format(&loc, buf, n);
        if (!loc.file && n)
            snprintf(buf, n, "?");
        return -FO_ENOENT;
    }
    while (*p) {
        /* Keys may hold dots themselves: a whole remaining path that is a key wins. */
        char seg[256];
        size_t len = strlen(p);
        struct json_object *next = NULL;
        int whole = json_object_is_type(cur, json_type_object) &&
                    json_object_object_get_ex((struct json_object *)cur, p, NULL);
        if (!whole) {
            const char *dot = strchr(p, '.');
            len = dot ? (size_t)(dot - p) : len;
        }
        if (len >= sizeof(seg))
            break;
        memcpy(seg, p, len);
        seg[len] = '\0';
        struct fo_cfg_loc kl;
        if (fo_config_loc_key(cur, seg, 1, &kl) < 0)
            break;
        loc = kl;
        p += len;
        if (*p == '.')
            p++;
        if (!*p) {
            rc = 0;
            break;
        }
        if (json_object_is_type(cur, json_type_array))
            next = json_object_array_get_idx(cur, strtoul(seg, NULL, 10));
        else
            json_object_object_get_ex((struct json_object *)cur, seg, &next);
        if (!fo__node_of(next))
            break;
        cur = next;
        fo_config_loc(cur, &loc);
    }
    fo__loc_format(&loc, buf, n);
    return rc;
}

int fo_config_del_key(struct json_object *map, const char *key)
{
    struct fo__node *n = fo__node_of(map);
    if (!json_object_is_type(map, json_type_object) || !json_object_object_get_ex(map, key, NULL))
        return -FO_ENOENT;
    json_object_object_del(map, key);
    if (n) {
        for (size_t i = 0; i < n->nents; i++) {
            if (n->ents[i].key && strcmp(n->ents[i].key, key) == 0) {
                free(n->ents[i].key);
                memmove(&n->ents[i], &n->ents[i + 1], (n->nents - i - 1) * sizeof(*n->ents));
                n->nents--;
                break;
            }
        }
    }
    return 0;
}

static int fo__copy_cb(struct json_object *src, struct json_object *parent, const char *key,
                       size_t index, struct json_object **dst)
{
    int rc = json_c_shallow_copy_default(src, parent, key, index, dst);
    if (rc < 0)
        return rc;
    const struct fo__node *n = fo__node_of(src);
    if (!n)
        return rc;
    struct fo__node *c = fo_xcalloc(1, sizeof(*c));
    *c = *n;
    c->src = fo__src_get(n->src);
    c->capents = n->nents;
    c->ents = n->nents ? fo_xmalloc(n->nents * sizeof(*c->ents)) : NULL;
    for (size_t i = 0; i < n->nents; i++) {
        c->ents[i] = n->ents[i];
        c->ents[i].key = n->ents[i].key ? fo_xstrdup(n->ents[i].key) : NULL;
    }
    json_object_set_userdata(*dst, c, fo__node_free);
    return 2; /* userdata handled here */
}

int fo_config_copy(struct json_object *src, struct json_object **dst)
{
    *dst = NULL;
    if (json_object_deep_copy(src, dst, fo__copy_cb) < 0)
        return -FO_EINVAL;
    return 0;
}

/* ---- scalars ---- */

static int fo__is_match(const char *s, size_t len, const char *const *words)
{
    for (; *words; words++)
        if (strlen(*words) == len && memcmp(*words, s, len) == 0)
            return 1;
    return 0;
}

static int fo__digits(const char *s, size_t len, int base)
{
    if (!len)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        int ok = base == 16
                     ? (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
                 : base == 8 ? c >= '0' && c <= '7'
                             : c >= '0' && c <= '9';
        if (!ok)
            return 0;
    }
    return 1;
}

/* [-+]? ( . digits | digits ( . digits? )? ) ( [eE] [-+]? digits )? */
static int fo__is_float(const char *s, size_t len)
{
    size_t i = 0, d = 0;
    if (i < len && (s[i] == '-' || s[i] == '+'))
        i++;
    while (i < len && s[i] >= '0' && s[i] <= '9')
        i++, d++;
    if (i < len && s[i] == '.') {
        i++;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++, d++;
    }
    if (!d)
        return 0;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        size_t e = 0;
        i++;
        if (i < len && (s[i] == '-' || s[i] == '+'))
            i++;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++, e++;
        if (!e)
            return 0;
    }
    return i == len;
}

struct json_object *fo_config_scalar(const char *s, size_t len, int *range_err)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
    static const char *const trues[] = {"true", "True", "TRUE", NULL};
    static const char *const falses[] = {"false", "False", "FALSE", NULL};
    char buf[64];

    *range_err = 0;
    if (fo__is_match(s, len, nulls))
        return NULL;
    if (fo__is_match(s, len, trues))
        return json_object_new_boolean(1);
    if (fo__is_match(s, len, falses))
        return json_object_new_boolean(0);
    if (len < sizeof(buf) && memchr(s, '\0', len) == NULL) {
        const char *d = s;
        size_t dl = len;
        int base = 10;
        memcpy(buf, s, len);
        buf[len] = '\0';
        if (dl > 2 && d[0] == '0' && (d[1] == 'x' || d[1] == 'o')) {
            base = d[1] == 'x' ? 16 : 8;
            d += 2, dl -= 2;
        } else if (dl && (d[0] == '-' || d[0] == '+')) {
            d++, dl--;
        }
        if (fo__digits(d, dl, base)) {
            errno = 0;
            if (base != 10) {
                unsigned long long u = strtoull(d, NULL, base);
                if (errno || u > INT64_MAX) {
                    *range_err = 1;
                    return json_object_new_string_len(s, (int)len);
                }
                return json_object_new_int64((int64_t)u);
            }
            long long v = strtoll(buf, NULL, 10);
            if (errno) {
                *range_err = 1;
                return json_object_new_string_len(s, (int)len);
            }
            return json_object_new_int64(v);
        }
        if (fo__is_float(s, len))
            return json_object_new_double(strtod(buf, NULL));
        static const char *const infs[] = {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", NULL};
        static const char *const ninfs[] = {"-.inf", "-.Inf", "-.INF", NULL};
        static const char *const nans[] = {".nan", ".NaN", ".NAN", NULL};
        if (fo__is_match(s, len, infs))
            return json_object_new_double(HUGE_VAL);
        if (fo__is_match(s, len, ninfs))
            return json_object_new_double(-HUGE_VAL);
        if (fo__is_match(s, len, nans))
            return json_object_new_double(NAN);
    }
    return json_object_new_string_len(s, (int)len);
}

/* ---- the parser: libyaml events to json-c ---- */

enum { FO__WANT_KEY, FO__WANT_VALUE, FO__SKIP_VALUE };

struct fo__frame {
    struct json_object *obj;
    int is_map;
    int state; /* mappings: FO__WANT_KEY ... */
    char *key; /* pending key */
    uint32_t kline, kcol;
};

struct fo__parser {
    const char *file;
    struct fo__src *src;
    struct fo_cfg_errs *errs;
    struct fo__frame stack[FO_CONFIG_MAX_DEPTH];
    int depth;
    int skip; /* >0: inside a collection being skipped, its nesting depth */
    size_t nodes;
    struct json_object *root;
    int have_root;
    int fatal;
};

static void fo__perr(struct fo__parser *p, const yaml_mark_t *m, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fo__perr(struct fo__parser *p, const yaml_mark_t *m, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    struct fo_cfg_loc loc = {p->file, (uint32_t)m->line + 1, (uint32_t)m->column + 1};
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fo_cfg_errs_add(p->errs, &loc, NULL, "%s", msg);
}

/* Short, printable rendering of user text for messages (keys, anchor names). */
static const char *fo__show(const char *s, char *buf, size_t n)
{
    size_t j = 0;
    for (size_t i = 0; s[i] && j + 4 < n; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[j++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    if (s[0] && j + 4 >= n && j >= 3)
        memcpy(buf + j - 3, "...", 3);
    buf[j] = '\0';
    return buf;
}

static void fo__frame_clear(struct fo__frame *f)
{
    free(f->key);
    f->key = NULL;
}

/* Starts skipping a node (and, for a collection, everything inside it). */
static void fo__skip_node(struct fo__parser *p, const yaml_event_t *e)
{
    if (e->type == YAML_MAPPING_START_EVENT || e->type == YAML_SEQUENCE_START_EVENT)
        p->skip = 1;
}

/* Anchors and tags are refused: one meaning per node keeps errors and hashes simple. libyaml
 * sets a tag only when the text has one. */
static void fo__check_props(struct fo__parser *p, const yaml_event_t *e)
{
    const yaml_char_t *anchor = NULL, *tag = NULL;
    char b[64];
    switch (e->type) {
    case YAML_SCALAR_EVENT:
        anchor = e->data.scalar.anchor;
        tag = e->data.scalar.tag;
        break;
    case YAML_MAPPING_START_EVENT:
        anchor = e->data.mapping_start.anchor;
        tag = e->data.mapping_start.tag;
        break;
    case YAML_SEQUENCE_START_EVENT:
        anchor = e->data.sequence_start.anchor;
        tag = e->data.sequence_start.tag;
        break;
    default:
        return;
    }
    if (anchor)
        fo__perr(p, &e->start_mark, "YAML anchors (&%s) are not supported: write the value out",
                 fo__show((const char *)anchor, b, sizeof(b)));
    if (tag)
        fo__perr(p, &e->start_mark, "YAML tags (%s) are not supported: quote the value instead",
                 fo__show((const char *)tag, b, sizeof(b)));
}

static struct json_object *fo__make_value(struct fo__parser *p, const yaml_event_t *e)
{
    struct json_object *v = NULL;
    if (e->type == YAML_SCALAR_EVENT) {
        const char *s = (const char *)e->data.scalar.value;
        size_t len = e->data.scalar.length;
        if (len > INT32_MAX)
            len = INT32_MAX;
        if (e->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
            int range = 0;
            v = fo_config_scalar(s, len, &range);
            if (range)
                fo__perr(p, &e->start_mark, "integer out of range (at most 64 bits)");
        } else {
            v = json_object_new_string_len(s, (int)len);
        }
    } else if (e->type == YAML_MAPPING_START_EVENT) {
        v = json_object_new_object();
    } else {
        v = json_object_new_array();
    }
    if (v)
        fo__node_attach(v, p->src, (uint32_t)e->start_mark.line + 1,
                        (uint32_t)e->start_mark.column + 1);
    return v;
}

/* A node event (scalar, alias, collection start) where the current frame expects one. */
static void fo__on_node(struct fo__parser *p, const yaml_event_t *e)
{
    struct fo__frame *f = p->depth ? &p->stack[p->depth - 1] : NULL;
    char b[80];

    if (++p->nodes > FO_CONFIG_MAX_NODES) {
        fo__perr(p, &e->start_mark, "too many nodes (more than %d)", FO_CONFIG_MAX_NODES);
        p->fatal = 1;
        return;
    }
    if (f && f->is_map && f->state == FO__WANT_KEY) {
        if (e->type == YAML_SCALAR_EVENT) {
            fo__check_props(p, e);
            const char *k = (const char *)e->data.scalar.value;
            if (strlen(k) != e->data.scalar.length) {
                fo__perr(p, &e->start_mark, "a key must not contain a NUL character");
                f->state = FO__SKIP_VALUE;
                return;
            }
            f->key = fo_xstrdup(k);
            f->kline = (uint32_t)e->start_mark.line + 1;
            f->kcol = (uint32_t)e->start_mark.column + 1;
            f->state = FO__WANT_VALUE;
        } else if (e->type == YAML_ALIAS_EVENT) {
            fo__perr(p, &e->start_mark, "YAML aliases (*%s) are not supported",
                     fo__show((const char *)e->data.alias.anchor, b, sizeof(b)));
            f->state = FO__SKIP_VALUE;
        } else {
            fo__perr(p, &e->start_mark, "a key must be a plain string, not a %s",
                     e->type == YAML_MAPPING_START_EVENT ? "mapping" : "sequence");
            fo__skip_node(p, e);
            f->state = FO__SKIP_VALUE;
        }
        return;
    }
    if (f && f->is_map && f->state == FO__SKIP_VALUE) {
        fo__skip_node(p, e);
        f->state = FO__WANT_KEY;
        return;
    }
    if (e->type == YAML_ALIAS_EVENT) {
        fo__perr(p, &e->start_mark, "YAML aliases (*%s) are not supported",
                 fo__show((const char *)e->data.alias.anchor, b, sizeof(b)));
        if (f && f->is_map) {
            fo__frame_clear(f);
            f->state = FO__WANT_KEY;
        }
        return;
    }
    fo__check_props(p, e);
    int collection = e->type != YAML_SCALAR_EVENT;
    if (collection && p->depth >= FO_CONFIG_MAX_DEPTH) {
        fo__perr(p, &e->start_mark, "nested deeper than %d levels", FO_CONFIG_MAX_DEPTH);
        p->fatal = 1;
        return;
    }
    if (f && f->is_map) {
        struct fo__entry *first;
        if (json_object_object_get_ex(f->obj, f->key, NULL)) {
            /* The lookup is linear: skip it once errors are no longer kept. */
            first = fo_cfg_errs_full(p->errs)
                        ? NULL
                        : (struct fo__entry *)fo__node_find(fo__node_of(f->obj), f->key);
            yaml_mark_t km = {0, f->kline - 1, f->kcol - 1};
            fo__perr(p, &km, "duplicate key '%s' (first at line %u)",
                     fo__show(f->key, b, sizeof(b)), first ? first->kline : 0);
            fo__skip_node(p, e);
            fo__frame_clear(f);
            f->state = FO__WANT_KEY;
            return;
        }
    }
    struct json_object *v = fo__make_value(p, e);
    if (f) {
        struct fo__entry *en = fo__node_add_entry(fo__node_of(f->obj));
        en->vline = (uint32_t)e->start_mark.line + 1;
        en->vcol = (uint32_t)e->start_mark.column + 1;
        if (f->is_map) {
            en->key = f->key;
            en->kline = f->kline;
            en->kcol = f->kcol;
            json_object_object_add(f->obj, f->key, v);
            f->key = NULL;
            f->state = FO__WANT_KEY;
        } else {
            json_object_array_add(f->obj, v);
        }
    } else {
        p->root = v;
        p->have_root = 1;
    }
    if (collection) {
        struct fo__frame *nf = &p->stack[p->depth++];
        memset(nf, 0, sizeof(*nf));
        nf->obj = v;
        nf->is_map = e->type == YAML_MAPPING_START_EVENT;
    }
}

static void fo__on_event(struct fo__parser *p, const yaml_event_t *e, int *docs)
{
    if (p->skip) {
        if (e->type == YAML_MAPPING_START_EVENT || e->type == YAML_SEQUENCE_START_EVENT)
            p->skip++;
        else if (e->type == YAML_MAPPING_END_EVENT || e->type == YAML_SEQUENCE_END_EVENT)
            p->skip--;
        return;
    }
    switch (e->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (++*docs > 1) {
            fo__perr(p, &e->start_mark, "only one YAML document is allowed per file");
            p->fatal = 1;
        }
        break;
    case YAML_SCALAR_EVENT:
    case YAML_ALIAS_EVENT:
    case YAML_MAPPING_START_EVENT:
    case YAML_SEQUENCE_START_EVENT:
        fo__on_node(p, e);
        break;
    case YAML_MAPPING_END_EVENT:
    case YAML_SEQUENCE_END_EVENT:
        if (p->depth > 0)
            fo__frame_clear(&p->stack[--p->depth]);
        break;
    default:
        break;
    }
}

static void fo__syntax_error(struct fo__parser *p, const yaml_parser_t *y, const char *data,
                             size_t len)
{
    yaml_mark_t m = y->problem_mark;
    const char *problem = y->problem ? y->problem : "unknown problem";

    if (y->error == YAML_MEMORY_ERROR) {
        fprintf(stderr, "failoverd: out of memory parsing %s\n", p->file);
        abort();
    }
    if (y->error == YAML_READER_ERROR) {
        /* The reader reports a byte offset, not a mark: count lines up to it ourselves. */
        memset(&m, 0, sizeof(m));
        for (size_t i = 0; i < y->problem_offset && i < len; i++) {
            if (data[i] == '\n')
                m.line++, m.column = 0;
            else if (((unsigned char)data[i] & 0xc0) != 0x80)
                m.column++;
        }
        fo__perr(p, &m, "YAML syntax error: %s", problem);
        return;
    }
    if (y->context)
        fo__perr(p, &m, "YAML syntax error: %s (%s at line %zu column %zu)", problem, y->context,
                 y->context_mark.line + 1, y->context_mark.column + 1);
    else
        fo__perr(p, &m, "YAML syntax error: %s", problem);
}

struct json_object *fo_config_parse(const char *file, const char *data, size_t len,
                                    struct fo_cfg_errs *errs)
{
    struct fo__parser p;
    yaml_parser_t y;
    yaml_event_t e;
    int docs = 0, done = 0, syntax = 0;
    size_t flen = strlen(file);

    memset(&p, 0, sizeof(p));
    p.file = file;
    p.errs = errs;
    p.src = fo_xmalloc(sizeof(*p.src) + flen + 1);
    p.src->refs = 1;
    memcpy(p.src->name, file, flen + 1);

    if (len > FO_CONFIG_MAX_BYTES) {
        struct fo_cfg_loc loc = {file, 0, 0};
        fo_cfg_errs_add(errs, &loc, NULL, "file is larger than %u bytes", FO_CONFIG_MAX_BYTES);
        fo__src_put(p.src);
        return NULL;
    }
    if (!yaml_parser_initialize(&y)) {
        fprintf(stderr, "failoverd: out of memory starting the YAML parser\n");
        abort();
    }
    yaml_parser_set_input_string(&y, (const unsigned char *)data, len);
    while (!done && !p.fatal) {
        if (!yaml_parser_parse(&y, &e)) {
            fo__syntax_error(&p, &y, data, len);
            syntax = 1;
            break;
        }
        done = e.type == YAML_STREAM_END_EVENT;
        fo__on_event(&p, &e, &docs);
        yaml_event_delete(&e);
    }
    yaml_parser_delete(&y);
    for (int i = 0; i < p.depth; i++)
        fo__frame_clear(&p.stack[i]);
    if (syntax || p.fatal) {
        json_object_put(p.root);
        p.root = NULL;
    } else if (!p.root) {
        struct fo_cfg_loc loc = {file, 1, 1};
        fo_cfg_errs_add(errs, &loc, NULL, "the document is empty");
    }
    fo__src_put(p.src);
    return p.root;
}

struct json_object *fo_config_parse_file(const char *file, struct fo_cfg_errs *errs)
{
    struct fo_cfg_loc loc = {file, 0, 0};
    struct json_object *root = NULL;
    char *data = NULL;
    size_t len = 0;
    struct stat st;
    int fd = open(file, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

    if (fd < 0) {
        fo_cfg_errs_add(errs, &loc, NULL, "cannot open: %s", strerror(errno));
        goto out;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        fo_cfg_errs_add(errs, &loc, NULL, "not a regular file");
        goto out;
    }
    if ((uint64_t)st.st_size > FO_CONFIG_MAX_BYTES) {
        fo_cfg_errs_add(errs, &loc, NULL, "file is larger than %u bytes", FO_CONFIG_MAX_BYTES);
        goto out;
    }
    data = fo_xmalloc((size_t)st.st_size + 1);
    while (len <= (size_t)st.st_size) {
        ssize_t r = read(fd, data + len, (size_t)st.st_size + 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            fo_cfg_errs_add(errs, &loc, NULL, "cannot read: %s", strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    if (len > (size_t)st.st_size) {
        fo_cfg_errs_add(errs, &loc, NULL, "file changed while being read");
        goto out;
    }
    root = fo_config_parse(file, data, len, errs);
out:
    if (fd >= 0)
        close(fd);
    free(data);
    return root;
}
