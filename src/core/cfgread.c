/* The table-driven reader: walks a parsed document along static fo_cfg_table rows, checks
 * types, ranges, required keys and unknown keys, applies defaults (parsed by the same code as
 * the file), and keeps going after an error so that every problem is reported at once. */
#include <inttypes.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "core/cfgfield.h"
#include "core/fo.h"

static void fo__read_table(struct fo_cfg_ctx *c, const struct json_object *map,
                           const struct fo_cfg_loc *where, const struct fo_cfg_table *t, void *obj);

static const char *fo__kind(const struct json_object *v)
{
    switch (json_object_get_type(v)) {
    case json_type_null:
        return "nothing";
    case json_type_boolean:
        return "true/false";
    case json_type_double:
        return "a number";
    case json_type_int:
        return "an integer";
    case json_type_object:
        return "a mapping";
    case json_type_array:
        return "a sequence";
    case json_type_string:
        return "a string";
    }
    return "something else";
}

/* Keys and other user text in messages: printable and short. */
static const char *fo__show(const char *s, char *buf, size_t n)
{
    size_t j = 0;
    for (size_t i = 0; s[i] && j + 1 < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        buf[j++] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
    }
    buf[j] = '\0';
    if (strlen(s) >= n && n > 4)
        memcpy(buf + n - 4, "...", 4);
    return buf;
}

static size_t fo__edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t row[65];
    if (la > 64 || lb > 64)
        return SIZE_MAX;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* 1 when KEY is a key of t: a field, or a secret's _file/_env form. Otherwise, when best is not
 * NULL, best gets the nearest key and bestd its edit distance. */
static int fo__known(const struct fo_cfg_table *t, const char *key, char *best, size_t nbest,
                     size_t *bestd)
{
    char alt[96];
    for (size_t i = 0; i < t->nfields; i++) {
        const struct fo_cfg_field *f = &t->fields[i];
        for (int form = 0; form < (f->type == FO_CFG_SECRET ? 3 : 1); form++) {
            snprintf(alt, sizeof(alt), "%s%s", f->name,
                     form == 1   ? "_file"
                     : form == 2 ? "_env"
                                 : "");
            if (strcmp(alt, key) == 0)
                return 1;
            if (!best)
                continue;
            size_t d = fo__edit_distance(alt, key);
            if (d < *bestd) {
                *bestd = d;
                snprintf(best, nbest, "%s", alt);
            }
        }
    }
    return 0;
}

static void fo__unknown_keys(struct fo_cfg_ctx *c, const struct json_object *map,
                             const struct fo_cfg_table *t)
{
    char b[72], best[96], hint[128];
    json_object_object_foreach((struct json_object *)map, key, val)
    {
        (void)val;
        size_t bestd = SIZE_MAX;
        /* Past the error limit only count: suggestions and positions cost time. */
        if (fo_cfg_errs_full(c->errs)) {
            if (!fo__known(t, key, NULL, 0, NULL))
                fo_cfg_err(c, NULL, "unknown key");
            continue;
        }
        if (fo__known(t, key, best, sizeof(best), &bestd))
            continue;
        hint[0] = '\0';
        if (bestd <= (strlen(key) < 6 ? 1 : 2))
            snprintf(hint, sizeof(hint), " (did you mean '%s'?)", best);
        fo_cfg_err_key(c, map, key, 1, "unknown key '%s'%s", fo__show(key, b, sizeof(b)), hint);
    }
}

static int fo__range(struct fo_cfg_ctx *c, const struct fo_cfg_loc *loc,
                     const struct fo_cfg_field *f, int64_t v, const char *unit)
{
    if (!f->min && !f->max)
        return 0;
    if (v >= f->min && v <= f->max)
        return 0;
    if (f->type == FO_CFG_DURATION) {
        char lo[32], hi[32];
        fo_cfg_err(c, loc, "must be between %s and %s",
                   fo_cfg_fmt_duration((uint64_t)f->min, lo, 32),
                   fo_cfg_fmt_duration((uint64_t)f->max, hi, 32));
    } else {
        fo_cfg_err(c, loc, "must be between %" PRId64 " and %" PRId64 "%s", f->min, f->max, unit);
    }
    return -1;
}

static int fo__get_string(struct fo_cfg_ctx *c, const struct fo_cfg_loc *loc,
                          const struct json_object *v, const char **out)
{
    if (!json_object_is_type(v, json_type_string)) {
        if (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double) ||
            json_object_is_type(v, json_type_boolean))
            fo_cfg_err(c, loc, "expected a string, not %s (put it in quotes)", fo__kind(v));
        else
            fo_cfg_err(c, loc, "expected a string, not %s", fo__kind(v));
        return -1;
    }
    const char *s = json_object_get_string((struct json_object *)v);
    if ((size_t)json_object_get_string_len(v) != strlen(s)) {
        fo_cfg_err(c, loc, "must not contain a NUL character");
        return -1;
    }
    if (!*s) {
        fo_cfg_err(c, loc, "must not be empty");
        return -1;
    }
    *out = s;
    return 0;
}

static int fo__get_int(struct fo_cfg_ctx *c, const struct fo_cfg_loc *loc,
                       const struct json_object *v, int64_t *out)
{
    if (!json_object_is_type(v, json_type_int)) {
        fo_cfg_err(c, loc, "expected an integer, not %s", fo__kind(v));
        return -1;
    }
    *out = json_object_get_int64(v);
    return 0;
}

static void fo__free_secret(char **p)
{
    if (*p) {
        explicit_bzero(*p, strlen(*p));
        free(*p);
        *p = NULL;
    }
}

int fo_cfg_read_secret(struct fo_cfg_ctx *c, const struct json_object *map,
                       const struct fo_cfg_loc *where, const char *name, int required,
                       int64_t min_len, char **out, size_t *outlen)
{
    char keys[3][96], why[512];
    int which = -1, rc = -1;
    struct json_object *v = NULL;
    char *secret = NULL;
    size_t len = 0;

    snprintf(keys[0], sizeof(keys[0]), "%s", name);
    snprintf(keys[1], sizeof(keys[1]), "%s_file", name);
    snprintf(keys[2], sizeof(keys[2]), "%s_env", name);
    for (int i = 0; i < 3; i++) {
        if (!map || !json_object_object_get_ex((struct json_object *)map, keys[i], NULL))
            continue;
        if (which >= 0) {
            fo_cfg_err_key(c, map, keys[i], 1, "give only one of %s, %s or %s", keys[0], keys[1],
                           keys[2]);
            return -1;
        }
        which = i;
    }
    if (which < 0) {
        if (!required)
            return 0;
        size_t mark = fo_cfg_path_push(c, name);
        fo_cfg_err(c, where, "required key '%s' (or %s, %s) is missing", keys[0], keys[1], keys[2]);
        fo_cfg_path_pop(c, mark);
        return -1;
    }
    size_t mark = fo_cfg_path_push(c, keys[which]);
    struct fo_cfg_loc loc;
    const char *s = NULL;
    json_object_object_get_ex((struct json_object *)map, keys[which], &v);
    fo_config_loc_key(map, keys[which], 0, &loc);
    if (!v) {
        fo_cfg_err(c, &loc, "a value is required");
        goto out;
    }
    /* Only the type is named here, never the value: it may be the secret itself. */
    if (fo__get_string(c, &loc, v, &s) < 0)
        goto out;
    if (which == 0) {
        secret = fo_xstrdup(s);
        len = strlen(s);
    } else if (which == 1) {
        char *path = s[0] == '/' || !c->dir ? fo_xstrdup(s) : fo_xasprintf("%s/%s", c->dir, s);
        if (fo_cfg_read_secret_file(path, &secret, &len, why, sizeof(why)) < 0)
            fo_cfg_err(c, &loc, "%s", why);
        free(path);
    } else {
        const char *ok = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_";
        const char *e = NULL;
        if (strspn(s, ok) != strlen(s) || (s[0] >= '0' && s[0] <= '9'))
            fo_cfg_err(c, &loc, "expected the name of an environment variable");
        else if (!(e = getenv(s)))
            fo_cfg_err(c, &loc, "environment variable %s is not set", s);
        else if (!*e)
            fo_cfg_err(c, &loc, "environment variable %s is empty", s);
        else {
            secret = fo_xstrdup(e);
            len = strlen(e);
        }
    }
    if (secret && min_len && (int64_t)len < min_len) {
        fo_cfg_err(c, &loc, "the secret must be at least %" PRId64 " bytes long", min_len);
        fo__free_secret(&secret);
    }
    if (secret) {
        fo__free_secret(out);
        *out = secret;
        if (outlen)
            *outlen = len;
        rc = 1;
    }
out:
    fo_cfg_path_pop(c, mark);
    return rc;
}

static void fo__read_secret(struct fo_cfg_ctx *c, const struct json_object *map,
                            const struct fo_cfg_loc *where, const struct fo_cfg_field *f, void *obj)
{
    size_t len = 0;
    if (fo_cfg_read_secret(c, map, where, f->name, (f->flags & FO_CFG_REQUIRED) != 0, f->min,
                           (char **)((char *)obj + f->off), &len) == 1 &&
        (f->flags & FO_CFG_HAS_AUX))
        *(size_t *)((char *)obj + f->aux) = len;
}

static void fo__read_list(struct fo_cfg_ctx *c, const struct fo_cfg_field *f,
                          const struct json_object *v, const struct fo_cfg_loc *loc, void *obj)
{
    const struct fo_cfg_table *sub = f->sub;
    int is_map = f->type == FO_CFG_MAP;
    size_t n = is_map ? (size_t)json_object_object_length(v) : json_object_array_length(v);
    void **dst = (void **)((char *)obj + f->off);
    int *count = (int *)((char *)obj + f->aux);

    if ((f->min || f->max) && ((int64_t)n < f->min || (int64_t)n > f->max)) {
        if ((int64_t)n < f->min)
            fo_cfg_err(c, loc, "needs at least %" PRId64 " %s", f->min,
                       f->min == 1 ? "entry" : "entries");
        else
            fo_cfg_err(c, loc, "has more than %" PRId64 " entries", f->max);
        if (!n)
            return;
    }
    char *elems = fo_xcalloc(n ? n : 1, sub->size);
    *dst = elems;
    *count = (int)n;
    size_t i = 0;
    if (is_map) {
        json_object_object_foreach((struct json_object *)v, key, val)
        {
            void *el = elems + i * sub->size;
            struct fo_cfg_loc kl, vl;
            size_t mark = fo_cfg_path_push(c, key);
            /* By position, not by name: a lookup by name is linear, this loop would be square. */
            fo_config_loc_entry(v, i, key, 1, &kl);
            fo_config_loc_entry(v, i, key, 0, &vl);
            char *name = fo_xstrdup(key);
            if (sub->named)
                *(char **)((char *)el + sub->name_off) = name;
            if (f->check)
                f->check(c, &kl, &name);
            if (!sub->named)
                free(name);
            fo__read_table(c, val, &vl, sub, el);
            fo_cfg_path_pop(c, mark);
            i++;
        }
    } else {
        for (i = 0; i < n; i++) {
            struct json_object *el = json_object_array_get_idx(v, i);
            struct fo_cfg_loc el_loc;
            char idx[24];
            size_t mark = fo_cfg_path_push_index(c, i);
            snprintf(idx, sizeof(idx), "%zu", i);
            fo_config_loc_key(v, idx, 0, &el_loc);
            if (!el || !json_object_is_type(el, json_type_object))
                fo_cfg_err(c, &el_loc, "expected a mapping, not %s", fo__kind(el));
            else
                fo__read_table(c, el, &el_loc, sub, elems + i * sub->size);
            fo_cfg_path_pop(c, mark);
        }
    }
}

static void fo__read_strlist(struct fo_cfg_ctx *c, const struct fo_cfg_field *f,
                             const struct json_object *v, void *obj)
{
    size_t n = json_object_array_length(v);
    char ***dst = (char ***)((char *)obj + f->off);
    int *count = (int *)((char *)obj + f->aux);
    char **list = fo_xcalloc(n ? n : 1, sizeof(*list));
    int k = 0;
    for (size_t i = 0; i < n; i++) {
        struct fo_cfg_loc el_loc;
        char idx[24];
        const char *s;
        snprintf(idx, sizeof(idx), "%zu", i);
        fo_config_loc_key(v, idx, 0, &el_loc);
        size_t mark = fo_cfg_path_push_index(c, i);
        if (fo__get_string(c, &el_loc, json_object_array_get_idx(v, i), &s) == 0) {
            list[k++] = fo_xstrdup(s);
            if (f->check)
                f->check(c, &el_loc, &list[k - 1]);
        }
        fo_cfg_path_pop(c, mark);
    }
    *dst = list;
    *count = k;
}

/* Reads one present, non-null value v (at loc) of field f into obj. */
static void fo__read_value(struct fo_cfg_ctx *c, const struct fo_cfg_field *f,
                           const struct json_object *v, const struct fo_cfg_loc *loc, void *obj)
{
    void *dst = (char *)obj + f->off;
    const char *s = NULL;
    int64_t i64 = 0;
    uint64_t u64 = 0;
    char why[160];

    switch (f->type) {
    case FO_CFG_STR:
        if (fo__get_string(c, loc, v, &s) < 0)
            return;
        free(*(char **)dst);
        *(char **)dst = fo_xstrdup(s);
        break;
    case FO_CFG_INT:
        if (fo__get_int(c, loc, v, &i64) < 0)
            return;
        if (!f->min && !f->max && (i64 < INT32_MIN || i64 > INT32_MAX)) {
            fo_cfg_err(c, loc, "out of range");
            return;
        }
        if (fo__range(c, loc, f, i64, "") < 0)
            return;
        *(int *)dst = (int)i64;
        break;
    case FO_CFG_U64:
        if (fo__get_int(c, loc, v, &i64) < 0)
            return;
        if (i64 < 0) {
            fo_cfg_err(c, loc, "must not be negative");
            return;
        }
        if (fo__range(c, loc, f, i64, "") < 0)
            return;
        *(uint64_t *)dst = (uint64_t)i64;
        break;
    case FO_CFG_BOOL:
        if (!json_object_is_type(v, json_type_boolean)) {
            fo_cfg_err(c, loc, "expected true or false, not %s", fo__kind(v));
            return;
        }
        *(int *)dst = json_object_get_boolean(v);
        break;
    case FO_CFG_ENUM: {
        char names[256] = "";
        size_t used = 0;
        for (const struct fo_cfg_enum *e = f->enums; e->name; e++)
            used += (size_t)snprintf(names + used, sizeof(names) - used, "%s%s",
                                     e == f->enums ? "" : ", ", e->name);
        if (!json_object_is_type(v, json_type_string)) {
            fo_cfg_err(c, loc, "expected one of: %s", names);
            return;
        }
        s = json_object_get_string((struct json_object *)v);
        for (const struct fo_cfg_enum *e = f->enums; e->name; e++) {
            if (strcmp(e->name, s) == 0) {
                *(int *)dst = e->value;
                goto checked;
            }
        }
        char b[48];
        fo_cfg_err(c, loc, "unknown value '%s': expected one of: %s", fo__show(s, b, sizeof(b)),
                   names);
        return;
    }
    case FO_CFG_DURATION:
        if ((json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)) &&
            json_object_get_double(v) < 0) {
            fo_cfg_err(c, loc, "expected a duration like 500ms or 2s (must not be negative)");
            return;
        }
        if (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)) {
            const char *num = json_object_to_json_string((struct json_object *)v);
            fo_cfg_err(c, loc,
                       "expected a duration like 500ms or 2s (a bare number has no unit: "
                       "write %ss or %sms)",
                       num, num);
            return;
        }
        if (!json_object_is_type(v, json_type_string)) {
            fo_cfg_err(c, loc, "expected a duration like 500ms or 2s, not %s", fo__kind(v));
            return;
        }
        s = json_object_get_string((struct json_object *)v);
        if (fo_cfg_parse_duration(s, &u64, why, sizeof(why)) < 0) {
            fo_cfg_err(c, loc, "expected a duration like 500ms or 2s (%s)", why);
            return;
        }
        if (fo__range(c, loc, f, (int64_t)u64, "") < 0)
            return;
        *(uint32_t *)dst = (uint32_t)u64;
        break;
    case FO_CFG_SIZE:
        if (json_object_is_type(v, json_type_int)) {
            i64 = json_object_get_int64(v);
            if (i64 < 0) {
                fo_cfg_err(c, loc,
                           "expected a size like 512, 64KiB or 4MiB (must not be negative)");
                return;
            }
            u64 = (uint64_t)i64;
        } else if (json_object_is_type(v, json_type_string)) {
            s = json_object_get_string((struct json_object *)v);
            if (fo_cfg_parse_size(s, &u64, why, sizeof(why)) < 0) {
                fo_cfg_err(c, loc, "expected a size like 512, 64KiB or 4MiB (%s)", why);
                return;
            }
        } else {
            fo_cfg_err(c, loc, "expected a size like 512, 64KiB or 4MiB, not %s", fo__kind(v));
            return;
        }
        if (u64 > INT64_MAX || fo__range(c, loc, f, (int64_t)u64, " bytes") < 0)
            return;
        *(uint64_t *)dst = u64;
        break;
    case FO_CFG_STRLIST:
        if (!json_object_is_type(v, json_type_array)) {
            fo_cfg_err(c, loc, "expected a sequence of strings, not %s", fo__kind(v));
            return;
        }
        fo__read_strlist(c, f, v, obj);
        return;
    case FO_CFG_JSON:
        if (!json_object_is_type(v, json_type_object)) {
            fo_cfg_err(c, loc, "expected a mapping, not %s", fo__kind(v));
            return;
        }
        json_object_put(*(struct json_object **)dst);
        *(struct json_object **)dst = json_object_get((struct json_object *)v);
        break;
    case FO_CFG_SECTION:
        if (!json_object_is_type(v, json_type_object)) {
            fo_cfg_err(c, loc, "expected a mapping, not %s", fo__kind(v));
            return;
        }
        if (f->flags & FO_CFG_HAS_AUX)
            *(int *)((char *)obj + f->aux) = 1;
        fo__read_table(c, v, loc, f->sub, dst);
        return;
    case FO_CFG_LIST:
    case FO_CFG_MAP:
        if (f->type == FO_CFG_LIST && !json_object_is_type(v, json_type_array)) {
            fo_cfg_err(c, loc, "expected a sequence, not %s", fo__kind(v));
            return;
        }
        if (f->type == FO_CFG_MAP && !json_object_is_type(v, json_type_object)) {
            fo_cfg_err(c, loc, "expected a mapping, not %s", fo__kind(v));
            return;
        }
        fo__read_list(c, f, v, loc, obj);
        return;
    case FO_CFG_SECRET:
        return; /* read by fo__read_secret */
    }
checked:
    if (f->check)
        f->check(c, loc, dst);
}

static void fo__read_field(struct fo_cfg_ctx *c, const struct json_object *map,
                           const struct fo_cfg_loc *where, const struct fo_cfg_field *f, void *obj)
{
    struct json_object *v = NULL;
    struct fo_cfg_loc loc = *where;
    int present;

    if (f->type == FO_CFG_SECRET) {
        fo__read_secret(c, map, where, f, obj);
        return;
    }
    size_t mark = fo_cfg_path_push(c, f->name);
    present = map && json_object_object_get_ex((struct json_object *)map, f->name, &v);
    if (present)
        fo_config_loc_key(map, f->name, 0, &loc);
    if (present && !v && (f->flags & FO_CFG_REQUIRED)) {
        fo_cfg_err(c, &loc, "a value is required");
        goto out;
    }
    if (present && v) {
        fo__read_value(c, f, v, &loc, obj);
        goto out;
    }
    /* Absent, or written with no value: the default. */
    if (f->flags & FO_CFG_REQUIRED) {
        fo_cfg_err(c, &loc, "required key '%s' is missing", f->name);
    } else if (f->type == FO_CFG_SECTION) {
        if (!(f->flags & FO_CFG_ABSENT))
            fo__read_table(c, NULL, &loc, f->sub, (char *)obj + f->off);
    } else if (f->def) {
        int range = 0;
        struct json_object *d = fo_config_scalar(f->def, strlen(f->def), &range);
        if (f->type == FO_CFG_STR)
            json_object_put(d), d = json_object_new_string(f->def);
        if (d)
            fo__read_value(c, f, d, &loc, obj);
        json_object_put(d);
    }
out:
    fo_cfg_path_pop(c, mark);
}

static void fo__read_table(struct fo_cfg_ctx *c, const struct json_object *map,
                           const struct fo_cfg_loc *where, const struct fo_cfg_table *t, void *obj)
{
    struct fo_cfg_loc loc = *where;
    if (map && !json_object_is_type(map, json_type_object)) {
        fo_cfg_err(c, where, "expected a mapping, not %s", fo__kind(map));
        return;
    }
    if (map) {
        fo_config_loc(map, &loc);
        fo__unknown_keys(c, map, t);
    }
    for (size_t i = 0; i < t->nfields; i++)
        fo__read_field(c, map, &loc, &t->fields[i], obj);
    if (t->finish)
        t->finish(c, map, obj);
}

void fo_cfg_read(struct fo_cfg_ctx *c, const struct json_object *map, const struct fo_cfg_table *t,
                 void *obj)
{
    struct fo_cfg_loc loc = {c->file, 1, 1};
    if (map && !json_object_is_type(map, json_type_object)) {
        fo_config_loc(map, &loc);
        fo_cfg_err(c, &loc, "expected a mapping at the top, not %s", fo__kind(map));
        return;
    }
    fo__read_table(c, map, &loc, t, obj);
}

void fo_cfg_free(const struct fo_cfg_table *t, void *obj)
{
    for (size_t i = 0; i < t->nfields; i++) {
        const struct fo_cfg_field *f = &t->fields[i];
        void *p = (char *)obj + f->off;
        if (f->flags & FO_CFG_ALIAS)
            continue;
        switch (f->type) {
        case FO_CFG_STR:
            free(*(char **)p);
            *(char **)p = NULL;
            break;
        case FO_CFG_SECRET:
            fo__free_secret((char **)p);
            break;
        case FO_CFG_STRLIST: {
            int *n = (int *)((char *)obj + f->aux);
            char **l = *(char ***)p;
            for (int k = 0; l && k < *n; k++)
                free(l[k]);
            free(l);
            *(char ***)p = NULL;
            *n = 0;
            break;
        }
        case FO_CFG_JSON:
            json_object_put(*(struct json_object **)p);
            *(struct json_object **)p = NULL;
            break;
        case FO_CFG_SECTION:
            fo_cfg_free(f->sub, p);
            break;
        case FO_CFG_LIST:
        case FO_CFG_MAP: {
            int *n = (int *)((char *)obj + f->aux);
            char *elems = *(char **)p;
            for (int k = 0; elems && k < *n; k++) {
                void *el = elems + (size_t)k * f->sub->size;
                if (f->sub->free) {
                    f->sub->free(el);
                } else {
                    fo_cfg_free(f->sub, el);
                    if (f->sub->named)
                        free(*(char **)((char *)el + f->sub->name_off));
                }
            }
            free(elems);
            *(char **)p = NULL;
            *n = 0;
            break;
        }
        default:
            break;
        }
    }
}

static const char *const fo__type_names[] = {
    [FO_CFG_STR] = "string",      [FO_CFG_INT] = "integer",     [FO_CFG_U64] = "integer",
    [FO_CFG_BOOL] = "true|false", [FO_CFG_ENUM] = "",           [FO_CFG_DURATION] = "duration",
    [FO_CFG_SIZE] = "size",       [FO_CFG_SECRET] = "secret",   [FO_CFG_STRLIST] = "[string]",
    [FO_CFG_JSON] = "mapping",    [FO_CFG_SECTION] = "section", [FO_CFG_LIST] = "list",
    [FO_CFG_MAP] = "NAME: {...}",
};

void fo_cfg_doc(FILE *out, const struct fo_cfg_table *t, const char *prefix)
{
    for (size_t i = 0; i < t->nfields; i++) {
        const struct fo_cfg_field *f = &t->fields[i];
        char path[256], type[128], dflt[96];
        snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "", f->name);
        if (f->type == FO_CFG_ENUM) {
            size_t used = 0;
            type[0] = '\0';
            for (const struct fo_cfg_enum *e = f->enums; e->name && used < sizeof(type); e++)
                used += (size_t)snprintf(type + used, sizeof(type) - used, "%s%s",
                                         e == f->enums ? "" : "|", e->name);
        } else if (f->type == FO_CFG_SECRET) {
            snprintf(type, sizeof(type), "secret (%s, %s_file or %s_env)", f->name, f->name,
                     f->name);
        } else {
            snprintf(type, sizeof(type), "%s", fo__type_names[f->type]);
        }
        if (f->flags & FO_CFG_REQUIRED)
            snprintf(dflt, sizeof(dflt), "required");
        else if (f->def)
            snprintf(dflt, sizeof(dflt), "default %s", f->def);
        else
            snprintf(dflt, sizeof(dflt), "optional");
        fprintf(out, "%-44s %-20s %-18s %s\n", path, type, dflt, f->doc ? f->doc : "");
        if (f->type == FO_CFG_SECTION) {
            fo_cfg_doc(out, f->sub, path);
        } else if (f->type == FO_CFG_LIST) {
            char sub[270];
            snprintf(sub, sizeof(sub), "%s[]", path);
            fo_cfg_doc(out, f->sub, sub);
        } else if (f->type == FO_CFG_MAP) {
            char sub[270];
            snprintf(sub, sizeof(sub), "%s.NAME", path);
            fo_cfg_doc(out, f->sub, sub);
        }
    }
}
