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

/* Splits "64k" into a number and a unit; returns -1 on garbage. */
static inline int fo_param_split_unit(const char *s, double *num, const char **unit)
{
    char *end;
    while (isspace((unsigned char)*s))
        s++;
    if (!isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    *num = strtod(s, &end);
    if (errno || end == s)
        return -1;
    while (isspace((unsigned char)*end))
        end++;
    *unit = end;
    return 0;
}

/* Sizes: a byte count, or a number with k/K/KB/KiB, M/MB/MiB, G/GB/GiB (all powers of 1024). */
static inline int fo_param_size(const struct json_object *params, const char *key, uint64_t min,
                                uint64_t max, uint64_t *out, struct fo_plugin_err *err)
{
    static const struct {
        const char *unit;
        uint64_t mult;
    } units[] = {{"", 1},         {"b", 1},         {"k", 1024},      {"kb", 1024},
                 {"kib", 1024},   {"m", 1u << 20},  {"mb", 1u << 20}, {"mib", 1u << 20},
                 {"g", 1u << 30}, {"gb", 1u << 30}, {"gib", 1u << 30}};
    struct json_object *v = fo_param_get(params, key);
    double num = -1;
    const char *unit = "";
    if (!v)
        return FO_PARAM_ABSENT;
    if (json_object_is_type(v, json_type_int))
        num = (double)json_object_get_int64(v);
    else if (!json_object_is_type(v, json_type_string) ||
             fo_param_split_unit(json_object_get_string(v), &num, &unit) < 0)
        return fo_param_fail(err, key, "must be a size such as 4096, 64k or 4MiB");
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcasecmp(unit, units[i].unit) != 0)
            continue;
        double bytes = num * (double)units[i].mult;
        if (num < 0 || bytes < (double)min || bytes > (double)max)
            return fo_param_fail(err, key, "must be between %llu and %llu bytes",
                                 (unsigned long long)min, (unsigned long long)max);
        *out = (uint64_t)bytes;
        return FO_PARAM_SET;
    }
    return fo_param_fail(err, key, "unknown size unit '%s' (use k, M or G)", unit);
}

/* Durations: a number with ms, s, m or h. A bare number is refused (is 30 seconds or
 * milliseconds?) except 0, which means "off" wherever a duration can be off. */
static inline int fo_param_duration(const struct json_object *params, const char *key,
                                    uint64_t max_ms, uint64_t *out_ms, struct fo_plugin_err *err)
{
    static const struct {
        const char *unit;
        double ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}};
    struct json_object *v = fo_param_get(params, key);
    double num;
    const char *unit;
    int64_t n;
    if (!v)
        return FO_PARAM_ABSENT;
    if (fo_param_parse_int(v, &n) == 0) {
        if (n != 0)
            return fo_param_fail(err, key, "a duration needs a unit: ms, s, m or h");
        *out_ms = 0;
        return FO_PARAM_SET;
    }
    if (!json_object_is_type(v, json_type_string) ||
        fo_param_split_unit(json_object_get_string(v), &num, &unit) < 0)
        return fo_param_fail(err, key, "must be a duration such as 500ms, 30s or 2m");
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(unit, units[i].unit) != 0)
            continue;
        double ms = num * units[i].ms;
        if (ms > (double)max_ms)
            return fo_param_fail(err, key, "must be at most %llu ms", (unsigned long long)max_ms);
        *out_ms = (uint64_t)ms;
        return FO_PARAM_SET;
    }
    return fo_param_fail(err, key, "unknown duration unit '%s' (use ms, s, m or h)", unit);
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
