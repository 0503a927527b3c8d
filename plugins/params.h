/* Reading a check's `params:` mapping in plugins, header-only because plugins link nothing of
 * failoverd's. Every getter fills struct fo_plugin_err with the key at fault; unknown keys are
 * errors, like everywhere else in the configuration. */
#ifndef FO_PLUGINS_PARAMS_H
#define FO_PLUGINS_PARAMS_H

#include <failoverd/plugin.h>
#include <ctype.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

/* Return values of the getters: the key is absent (the default stays), present and valid, or
 * invalid (err filled). */
enum { FO_PARAM_ABSENT = 0, FO_PARAM_SET = 1, FO_PARAM_BAD = -1 };

static inline int fo_param_fail(struct fo_plugin_err *err, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline int fo_param_fail(struct fo_plugin_err *err, const char *key, const char *fmt, ...)
{
    va_list ap;
    snprintf(err->field, sizeof(err->field), "%s", key);
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    return FO_PARAM_BAD;
}

static inline struct json_object *fo_param_get(const struct json_object *params, const char *key)
{
    struct json_object *v = NULL;
    if (!params || !json_object_is_type(params, json_type_object))
        return NULL;
    if (!json_object_object_get_ex(params, key, &v) || json_object_is_type(v, json_type_null))
        return NULL;
    return v;
}

/* Rejects keys not in `known` (NULL-terminated) and a params node that is not a mapping. */
static inline int fo_param_check_keys(const struct json_object *params, const char *const *known,
                                      struct fo_plugin_err *err)
{
    if (!params)
        return 0;
    if (!json_object_is_type(params, json_type_object))
        return fo_param_fail(err, "params", "must be a mapping");
    json_object_object_foreach((struct json_object *)params, key, val)
    {
        (void)val;
        int found = 0;
        for (const char *const *k = known; *k; k++)
            if (strcmp(*k, key) == 0)
                found = 1;
        if (!found)
            return fo_param_fail(err, key, "unknown parameter");
    }
    return 0;
}

static inline int fo_param_str(const struct json_object *params, const char *key, const char **out,
                               struct fo_plugin_err *err)
{
    struct json_object *v = fo_param_get(params, key);
    if (!v)
        return FO_PARAM_ABSENT;
    if (!json_object_is_type(v, json_type_string))
        return fo_param_fail(err, key, "must be a string");
    *out = json_object_get_string(v);
    return FO_PARAM_SET;
}

/* Integers may arrive as JSON numbers or as digit strings (YAML scalars). */
static inline int fo_param_parse_int(struct json_object *v, int64_t *out)
{
    if (json_object_is_type(v, json_type_int)) {
        errno = 0;
        *out = json_object_get_int64(v);
        return errno ? -1 : 0;
    }
    if (json_object_is_type(v, json_type_string)) {
        const char *s = json_object_get_string(v);
        char *end;
        errno = 0;
        long long n = strtoll(s, &end, 10);
        if (errno || end == s || *end)
            return -1;
        *out = n;
        return 0;
    }
    return -1;
}

static inline int fo_param_int(const struct json_object *params, const char *key, int64_t min,
                               int64_t max, int64_t *out, struct fo_plugin_err *err)
{
    struct json_object *v = fo_param_get(params, key);
    int64_t n;
    if (!v)
        return FO_PARAM_ABSENT;
    if (fo_param_parse_int(v, &n) < 0)
        return fo_param_fail(err, key, "must be an integer");
    if (n < min || n > max)
        return fo_param_fail(err, key, "must be between %lld and %lld", (long long)min,
                             (long long)max);
    *out = n;
    return FO_PARAM_SET;
}

static inline int fo_param_bool(const struct json_object *params, const char *key, int *out,
                                struct fo_plugin_err *err)
{
    struct json_object *v = fo_param_get(params, key);
    if (!v)
        return FO_PARAM_ABSENT;
    if (json_object_is_type(v, json_type_boolean)) {
        *out = json_object_get_boolean(v) ? 1 : 0;
        return FO_PARAM_SET;
    }
    if (json_object_is_type(v, json_type_string)) {
        const char *s = json_object_get_string(v);
        if (strcmp(s, "true") == 0 || strcmp(s, "yes") == 0) {
            *out = 1;
            return FO_PARAM_SET;
        }
        if (strcmp(s, "false") == 0 || strcmp(s, "no") == 0) {
            *out = 0;
            return FO_PARAM_SET;
        }
    }
    return fo_param_fail(err, key, "must be true or false");
}

/* Sizes and durations are read by the host's parsers (struct fo_host), the ones the rest of
 * the configuration uses. A size may also be a plain integer (bytes); a duration needs a unit,
 * except 0, which means "off" wherever a duration can be off. */
static inline int fo_param_size(const struct fo_host *host, const struct json_object *params,
                                const char *key, uint64_t min, uint64_t max, uint64_t *out,
                                struct fo_plugin_err *err)
{
    struct json_object *v = fo_param_get(params, key);
    char why[96] = "";
    uint64_t bytes;
    int64_t n;
    if (!v)
        return FO_PARAM_ABSENT;
    if (json_object_is_type(v, json_type_int)) {
        if (fo_param_parse_int(v, &n) < 0 || n < 0)
            return fo_param_fail(err, key, "expected a size like 4096, 64k or 4MiB");
        bytes = (uint64_t)n;
    } else if (!json_object_is_type(v, json_type_string) ||
               host->parse_size(json_object_get_string(v), &bytes, why, sizeof(why)) < 0) {
        return fo_param_fail(err, key, "expected a size like 4096, 64k or 4MiB%s%s",
                             *why ? ": " : "", why);
    }
    if (bytes < min || bytes > max)
        return fo_param_fail(err, key, "must be between %llu and %llu bytes",
                             (unsigned long long)min, (unsigned long long)max);
    *out = bytes;
    return FO_PARAM_SET;
}

static inline int fo_param_duration(const struct fo_host *host, const struct json_object *params,
                                    const char *key, uint64_t max_ms, uint64_t *out_ms,
                                    struct fo_plugin_err *err)
{
    struct json_object *v = fo_param_get(params, key);
    char why[96] = "";
    uint64_t ms;
    int64_t n;
    if (!v)
        return FO_PARAM_ABSENT;
    if (fo_param_parse_int(v, &n) == 0 && n == 0) {
        *out_ms = 0;
        return FO_PARAM_SET;
    }
    if (!json_object_is_type(v, json_type_string) ||
        host->parse_duration(json_object_get_string(v), &ms, why, sizeof(why)) < 0)
        return fo_param_fail(err, key, "expected a duration like 500ms or 2s%s%s", *why ? ": " : "",
                             why);
    if (ms > max_ms)
        return fo_param_fail(err, key, "must be at most %llu ms", (unsigned long long)max_ms);
    *out_ms = ms;
    return FO_PARAM_SET;
}

/* The part of the host's timeout a plugin gives itself, so that its own timer fires first and
 * the result says what timed out (the host's hard timeout stays the safety net). */
static inline uint64_t fo_param_budget_ms(uint32_t timeout_ms)
{
    uint64_t margin = timeout_ms / 10;
    if (margin > 200)
        margin = 200;
    return timeout_ms > margin + 1 ? timeout_ms - margin : (timeout_ms ? timeout_ms : 1);
}

#endif
