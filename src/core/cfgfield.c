/* Typed configuration fields: the duration, size and secret parsers, and the reader that walks a
 * parsed document along static tables, collecting every error with its location and path.
 * Secret values are never put into an error message. */
#include "core/cfgfield.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fo.h"

#define FO__SECRET_MAX (64u << 10)

static void fo__why(char *why, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fo__why(char *why, size_t n, const char *fmt, ...)
{
    va_list ap;
    if (!why || !n)
        return;
    va_start(ap, fmt);
    vsnprintf(why, n, fmt, ap);
    va_end(ap);
}

/* ---- durations and sizes ---- */

int fo_cfg_parse_duration(const char *s, uint64_t *ms, char *why, size_t n)
{
    static const struct {
        const char *unit;
        uint64_t ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}};
    const char *p = s;
    uint64_t total = 0;

    if (!*p) {
        fo__why(why, n, "empty");
        return -FO_EINVAL;
    }
    if (*p == '-') {
        fo__why(why, n, "must not be negative");
        return -FO_EINVAL;
    }
    while (*p) {
        uint64_t whole = 0, frac = 0, scale = 1;
        int digits = 0;
        while (*p >= '0' && *p <= '9') {
            if (whole > UINT32_MAX) {
                fo__why(why, n, "too large");
                return -FO_EINVAL;
            }
            whole = whole * 10 + (uint64_t)(*p++ - '0');
            digits++;
        }
        if (*p == '.') {
            p++;
            while (*p >= '0' && *p <= '9') {
                if (scale < 1000000000u) {
                    frac = frac * 10 + (uint64_t)(*p - '0');
                    scale *= 10;
                }
                p++;
                digits++;
            }
        }
        if (!digits) {
            fo__why(why, n, "a number must come first");
            return -FO_EINVAL;
        }
        size_t ulen = 0;
        while (p[ulen] && !(p[ulen] >= '0' && p[ulen] <= '9') && p[ulen] != '.')
            ulen++;
        if (!ulen) {
            fo__why(why, n, "a number needs a unit: ms, s, m or h");
            return -FO_EINVAL;
        }
        if (memchr(p, ' ', ulen) || memchr(p, '\t', ulen)) {
            fo__why(why, n, "no space between the number and its unit");
            return -FO_EINVAL;
        }
        const uint64_t *mult = NULL;
        for (size_t i = 0; i < FO_ARRAY_LEN(units); i++)
            if (strlen(units[i].unit) == ulen && memcmp(units[i].unit, p, ulen) == 0)
                mult = &units[i].ms;
        if (!mult) {
            fo__why(why, n, "unknown unit: use ms, s, m or h");
            return -FO_EINVAL;
        }
        p += ulen;
        if ((frac * *mult) % scale) {
            fo__why(why, n, "finer than a millisecond");
            return -FO_EINVAL;
        }
        total += whole * *mult + frac * *mult / scale;
        if (total > UINT32_MAX) {
            fo__why(why, n, "too large");
            return -FO_EINVAL;
        }
    }
    *ms = total;
    return 0;
}

int fo_cfg_parse_size(const char *s, uint64_t *bytes, char *why, size_t n)
{
    static const struct {
        const char *unit;
        unsigned shift;
    } units[] = {{"", 0},     {"B", 0},  {"k", 10},   {"K", 10}, {"KiB", 10}, {"M", 20},
                 {"MiB", 20}, {"G", 30}, {"GiB", 30}, {"T", 40}, {"TiB", 40}};
    const char *p = s;
    uint64_t v = 0;
    int digits = 0;

    if (*p == '-') {
        fo__why(why, n, "must not be negative");
        return -FO_EINVAL;
    }
    while (*p >= '0' && *p <= '9') {
        if (v > (UINT64_MAX - 9) / 10) {
            fo__why(why, n, "too large");
            return -FO_EINVAL;
        }
        v = v * 10 + (uint64_t)(*p++ - '0');
        digits++;
    }
    if (!digits) {
        fo__why(why, n, "a number must come first");
        return -FO_EINVAL;
    }
    for (size_t i = 0; i < FO_ARRAY_LEN(units); i++) {
        if (strcmp(units[i].unit, p) == 0) {
            if (units[i].shift && v > (UINT64_MAX >> units[i].shift)) {
                fo__why(why, n, "too large");
                return -FO_EINVAL;
            }
            *bytes = v << units[i].shift;
            return 0;
        }
    }
    /* KB and MB mean 1000 to some and 1024 to others: make the writer pick. */
    if (!strcmp(p, "KB") || !strcmp(p, "kB") || !strcmp(p, "MB") || !strcmp(p, "GB") ||
        !strcmp(p, "TB"))
        fo__why(why, n, "ambiguous unit: write KiB, MiB, GiB or TiB (1024-based)");
    else
        fo__why(why, n, "unknown unit: use k, KiB, MiB, GiB or TiB, with no space");
    return -FO_EINVAL;
}

const char *fo_cfg_fmt_duration(uint64_t ms, char *buf, size_t n)
{
    if (ms && ms % 3600000 == 0)
        snprintf(buf, n, "%" PRIu64 "h", ms / 3600000);
    else if (ms && ms % 60000 == 0)
        snprintf(buf, n, "%" PRIu64 "m", ms / 60000);
    else if (ms && ms % 1000 == 0)
        snprintf(buf, n, "%" PRIu64 "s", ms / 1000);
    else
        snprintf(buf, n, "%" PRIu64 "ms", ms);
    return buf;
}

/* ---- secrets ---- */

int fo_cfg_read_secret_file(const char *path, char **out, size_t *len, char *why, size_t n)
{
    char *buf = NULL;
    size_t got = 0;
    struct stat st;
    int rc = 0;
    /* O_NONBLOCK: a FIFO must not hang the loader. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

    *out = NULL;
    *len = 0;
    if (fd < 0) {
        rc = -errno;
        fo__why(why, n, "cannot read secret file '%s': %s (%s)", path, strerror(-rc),
                strerrorname_np(-rc) ? strerrorname_np(-rc) : "?");
        goto out;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        rc = -FO_EINVAL;
        fo__why(why, n, "secret file '%s' is not a regular file", path);
        goto out;
    }
    buf = fo_xmalloc(FO__SECRET_MAX + 1);
    while (got < FO__SECRET_MAX) {
        ssize_t r = read(fd, buf + got, FO__SECRET_MAX - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = -errno;
            fo__why(why, n, "cannot read secret file '%s': %s (%s)", path, strerror(-rc),
                    strerrorname_np(-rc) ? strerrorname_np(-rc) : "?");
            goto out;
        }
        if (r == 0)
            break;
        got += (size_t)r;
        if (memchr(buf + got - (size_t)r, '\n', (size_t)r))
            break;
    }
    char *nl = memchr(buf, '\n', got);
    if (!nl && got == FO__SECRET_MAX) {
        rc = -FO_ETOOBIG;
        fo__why(why, n, "secret file '%s': first line is longer than %u bytes", path,
                FO__SECRET_MAX);
        goto out;
    }
    size_t l = nl ? (size_t)(nl - buf) : got;
    if (l && buf[l - 1] == '\r')
        l--;
    if (!l) {
        rc = -FO_EINVAL;
        fo__why(why, n, "secret file '%s' is empty (its first line holds the secret)", path);
        goto out;
    }
    if (memchr(buf, '\0', l)) {
        rc = -FO_EINVAL;
        fo__why(why, n, "secret file '%s' holds a NUL byte in its first line", path);
        goto out;
    }
    *out = fo_xmalloc(l + 1);
    memcpy(*out, buf, l);
    (*out)[l] = '\0';
    *len = l;
out:
    if (buf) {
        explicit_bzero(buf, FO__SECRET_MAX + 1);
        free(buf);
    }
    if (fd >= 0)
        close(fd);
    return rc;
}

/* ---- context and errors ---- */

void fo_cfg_ctx_init(struct fo_cfg_ctx *c, struct fo_cfg_errs *errs, const char *file)
{
    memset(c, 0, sizeof(*c));
    c->errs = errs;
    c->file = file;
    const char *slash = strrchr(file, '/');
    c->dir = slash ? fo_xasprintf("%.*s", (int)(slash - file == 0 ? 1 : slash - file), file)
                   : fo_xstrdup(".");
}

void fo_cfg_ctx_free(struct fo_cfg_ctx *c)
{
    free(c->dir);
    c->dir = NULL;
}

size_t fo_cfg_path_push(struct fo_cfg_ctx *c, const char *key)
{
    size_t mark = c->pathlen;
    int w = snprintf(c->path + c->pathlen, sizeof(c->path) - c->pathlen, "%s%s",
                     c->pathlen ? "." : "", key);
    if (w > 0)
        c->pathlen += (size_t)w;
    if (c->pathlen >= sizeof(c->path))
        c->pathlen = sizeof(c->path) - 1;
    return mark;
}

size_t fo_cfg_path_push_index(struct fo_cfg_ctx *c, size_t i)
{
    size_t mark = c->pathlen;
    int w = snprintf(c->path + c->pathlen, sizeof(c->path) - c->pathlen, "[%zu]", i);
    if (w > 0)
        c->pathlen += (size_t)w;
    if (c->pathlen >= sizeof(c->path))
        c->pathlen = sizeof(c->path) - 1;
    return mark;
}

void fo_cfg_path_pop(struct fo_cfg_ctx *c, size_t mark)
{
    c->pathlen = mark;
    c->path[mark] = '\0';
}

static void fo__verr(struct fo_cfg_ctx *c, const struct fo_cfg_loc *loc, const char *fmt,
                     va_list ap) __attribute__((format(printf, 3, 0)));
static void fo__verr(struct fo_cfg_ctx *c, const struct fo_cfg_loc *loc, const char *fmt,
                     va_list ap)
{
    char msg[512];
    struct fo_cfg_loc l = {c->file, 0, 0};
    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (loc && loc->file)
        l = *loc;
    fo_cfg_errs_add(c->errs, &l, c->path, "%s", msg);
}

void fo_cfg_err(struct fo_cfg_ctx *c, const struct fo_cfg_loc *loc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fo__verr(c, loc, fmt, ap);
    va_end(ap);
}

void fo_cfg_err_key(struct fo_cfg_ctx *c, const struct json_object *map, const char *key,
                    int want_key, const char *fmt, ...)
{
    struct fo_cfg_loc loc = {0};
    va_list ap;
    size_t mark = fo_cfg_path_push(c, key);
    if (!fo_cfg_errs_full(c->errs))
        fo_config_loc_key(map, key, want_key, &loc);
    va_start(ap, fmt);
    fo__verr(c, &loc, fmt, ap);
    va_end(ap);
    fo_cfg_path_pop(c, mark);
}

int fo_cfg_nerrs(const struct fo_cfg_ctx *c)
{
    return c->errs->n;
}

/* ---- validators ---- */

void fo_cfg_check_hostport(struct fo_cfg_ctx *c, const struct fo_cfg_loc *loc, const void *value)
{
    const char *s = *(char *const *)value;
    const char *colon = NULL;
    size_t hlen = 0;

    if (!s)
        return;
    if (*s == '[') {
        const char *rb = strchr(s, ']');
        colon = rb && rb[1] == ':' ? rb + 1 : NULL;
        hlen = rb ? (size_t)(rb - s - 1) : 0;
    } else {
        colon = strrchr(s, ':');
        hlen = colon ? (size_t)(colon - s) : 0;
        if (colon && memchr(s, ':', hlen))
            colon = NULL; /* a bare IPv6 address needs brackets */
    }
    const char *port = colon ? colon + 1 : "";
    size_t plen = strlen(port);
    if (!hlen || !plen || plen > 5 || strspn(port, "0123456789") != plen || atoi(port) < 1 ||
        atoi(port) > 65535)
        fo_cfg_err(c, loc, "expected host:port like 127.0.0.1:8740 or [::1]:8740");
}

static void fo__check_charset(struct fo_cfg_ctx *c, const struct fo_cfg_loc *loc, const char *s,
                              const char *set, size_t max, const char *what)
{
    if (s && (strspn(s, set) != strlen(s) || strlen(s) > max || !*s))
        fo_cfg_err(c, loc, "must be 1 to %zu characters of %s", max, what);
}

void fo_cfg_check_id(struct fo_cfg_ctx *c, const struct fo_cfg_loc *loc, const void *value)
{
    fo__check_charset(c, loc, *(char *const *)value, "abcdefghijklmnopqrstuvwxyz0123456789_-", 32,
                      "a-z, 0-9, _ and -");
}

void fo_cfg_check_name(struct fo_cfg_ctx *c, const struct fo_cfg_loc *loc, const void *value)
{
    fo__check_charset(c, loc, *(char *const *)value,
                      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-", 64,
                      "A-Z, a-z, 0-9, _, . and -");
}
