/* failoverd plugin ABI: the one public header. A plugin is a shared object that exports
 * `const struct fo_plugin fo_plugin_entry`. It links nothing of failoverd's: everything it
 * needs from the daemon comes through `struct fo_host`. The host refuses another major ABI. */
#ifndef FAILOVERD_PLUGIN_H
#define FAILOVERD_PLUGIN_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define FO_PLUGIN_ABI_MAJOR 1
#define FO_PLUGIN_ABI_MINOR 1

struct uv_loop_s;
struct json_object;

enum fo_status {
    FO_STATUS_OK = 0,
    FO_STATUS_WARNING = 1,
    FO_STATUS_CRITICAL = 2,
    FO_STATUS_UNKNOWN = 3,
};

enum fo_plugin_kind {
    FO_PLUGIN_CHECK = 1,
    FO_PLUGIN_ACTION = 2,
};

enum fo_log_level {
    FO_LOG_DEBUG = 0,
    FO_LOG_INFO = 1,
    FO_LOG_WARN = 2,
    FO_LOG_ERROR = 3,
};

enum fo_fact_type {
    FO_FACT_INT = 1,
    FO_FACT_DOUBLE = 2,
    FO_FACT_BOOL = 3,
    FO_FACT_STR = 4,
};

#define FO_FACT_NAME_MAX 32
#define FO_FACT_STR_MAX  96
#define FO_FACTS_MAX     24
#define FO_MESSAGE_MAX   256

/* A typed fact for later decisions (role, LSNs, offsets, head...). Names are snake_case. */
struct fo_fact {
    char name[FO_FACT_NAME_MAX];
    enum fo_fact_type type;
    int64_t i;               /* FO_FACT_INT, FO_FACT_BOOL (0/1) */
    double d;                /* FO_FACT_DOUBLE */
    char s[FO_FACT_STR_MAX]; /* FO_FACT_STR */
};

/* One check result. The host measures latency itself when latency_ms < 0. */
struct fo_result {
    enum fo_status status;
    double latency_ms;
    char message[FO_MESSAGE_MAX];
    int nfacts;
    struct fo_fact facts[FO_FACTS_MAX];
};

/* Description of what one check instance watches. Strings live as long as the instance. */
struct fo_target {
    const char *service;
    const char *member;
    const char *zone;
    const char *address;              /* "host:port", a URL or a conninfo, as configured */
    const struct json_object *params; /* the check's `params:` mapping (may be NULL) */
    const char *secret;               /* resolved secret (password), NULL if none; never log it */
    uint32_t timeout_ms;              /* hard timeout; the host also enforces it */
    uint32_t interval_ms;
};

/* Where a plugin puts a configuration error: the params key at fault and a message. The host
 * prefixes file:line:column of that key. */
struct fo_plugin_err {
    char field[64];
    char msg[192];
};

typedef void (*fo_check_done_fn)(void *cookie, const struct fo_result *result);
typedef void (*fo_http_done_fn)(void *easy, int curl_code, void *arg);

/* What the daemon offers a plugin. */
struct fo_host {
    int abi_major;
    int abi_minor;
    struct uv_loop_s *loop;
    void (*log)(enum fo_log_level level, const char *plugin, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
    /* Runs a configured CURL easy handle on the host's one shared multi handle. `done` is called
     * once on the loop unless http_cancel() is called first. Returns 0 or a negative error. */
    int (*http_start)(void *easy, fo_http_done_fn done, void *arg);
    void (*http_cancel)(void *easy);
    /* The highest value of an integer fact among the latest fresh results of the other members of
     * the same service; returns 0 and sets *out, or -1 when none is known. `self` is the instance
     * handle given to init(). */
    int (*service_best_int)(void *self, const char *fact, int64_t *out);
    /* (1.1) The configuration's own parsers, so that a duration ("500ms", "1m30s") or a size
     * ("4096", "64k", "4MiB") in a check's params means what it means everywhere else. Return 0,
     * or a negative error with the reason in why. */
    int (*parse_duration)(const char *text, uint64_t *ms, char *why, size_t why_len);
    int (*parse_size)(const char *text, uint64_t *bytes, char *why, size_t why_len);
};

/* A check plugin:
 *  init    validates params and creates an instance (`handle` is the host's handle for it);
 *          returns NULL and fills err on a configuration error.
 *  start   begins one run; the plugin calls done(cookie, result) exactly once, on the loop,
 *          unless cancel() is called first. Never blocks.
 *  cancel  aborts the run in flight (timeout, reload, shutdown); after it, done is not called.
 *  verify  action plugins only (later); check plugins leave it NULL.
 *  destroy frees the instance (no run in flight). */
struct fo_plugin {
    int abi_major;
    int abi_minor;
    const char *name;
    enum fo_plugin_kind kind;
    void *(*init)(const struct fo_host *host, void *handle, const struct fo_target *target,
                  struct fo_plugin_err *err);
    int (*start)(void *instance, fo_check_done_fn done, void *cookie);
    void (*cancel)(void *instance);
    int (*verify)(void *instance, struct fo_plugin_err *err);
    void (*destroy)(void *instance);
};

/* Helpers so that plugins fill results the same way; header-only so plugins link nothing. */
static inline struct fo_fact *fo__result_fact(struct fo_result *r, const char *name,
                                              enum fo_fact_type type)
{
    if (r->nfacts >= FO_FACTS_MAX)
        return NULL;
    struct fo_fact *f = &r->facts[r->nfacts++];
    memset(f, 0, sizeof(*f));
    snprintf(f->name, sizeof(f->name), "%s", name);
    f->type = type;
    return f;
}

static inline void fo_result_int(struct fo_result *r, const char *name, int64_t v)
{
    struct fo_fact *f = fo__result_fact(r, name, FO_FACT_INT);
    if (f)
        f->i = v;
}

static inline void fo_result_double(struct fo_result *r, const char *name, double v)
{
    struct fo_fact *f = fo__result_fact(r, name, FO_FACT_DOUBLE);
    if (f)
        f->d = v;
}

static inline void fo_result_bool(struct fo_result *r, const char *name, int v)
{
    struct fo_fact *f = fo__result_fact(r, name, FO_FACT_BOOL);
    if (f)
        f->i = v ? 1 : 0;
}

static inline void fo_result_str(struct fo_result *r, const char *name, const char *v)
{
    struct fo_fact *f = fo__result_fact(r, name, FO_FACT_STR);
    if (f)
        snprintf(f->s, sizeof(f->s), "%s", v ? v : "");
}

static inline void fo_result_set(struct fo_result *r, enum fo_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline void fo_result_set(struct fo_result *r, enum fo_status status, const char *fmt, ...)
{
    va_list ap;
    r->status = status;
    va_start(ap, fmt);
    vsnprintf(r->message, sizeof(r->message), fmt, ap);
    va_end(ap);
}

static inline const struct fo_fact *fo_result_get(const struct fo_result *r, const char *name)
{
    for (int i = 0; i < r->nfacts; i++)
        if (strcmp(r->facts[i].name, name) == 0)
            return &r->facts[i];
    return NULL;
}

#endif
