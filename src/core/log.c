/* Log lines in logfmt or JSON with a level and a UTC timestamp; the event feed. */
#include "core/log.h"
#include "core/clock.h"
#include "core/fo.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

static struct {
    enum fo_log_level level;
    enum fo_log_format format;
    FILE *out;
    struct {
        fo_event_fn fn;
        void *arg;
    } subs[8];
    int nsubs;
} fo__log = {FO_LOG_INFO, FO_LOG_LOGFMT, NULL, {{0}}, 0};

static const char *const fo__level_names[] = {"debug", "info", "warn", "error"};

int fo_log_level_parse(const char *s, enum fo_log_level *out)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, fo__level_names[i]) == 0) {
            *out = (enum fo_log_level)i;
            return 0;
        }
    return -FO_EINVAL;
}

int fo_log_open(const char *file, FILE **out)
{
    *out = NULL;
    if (!file)
        return 0;
    FILE *f = fopen(file, "a");
    if (!f)
        return -errno;
    setvbuf(f, NULL, _IOLBF, 0);
    *out = f;
    return 0;
}

void fo_log_use(enum fo_log_level level, enum fo_log_format format, FILE *f)
{
    fo__log.level = level;
    fo__log.format = format;
    if (fo__log.out && fo__log.out != stderr && fo__log.out != f)
        fclose(fo__log.out);
    fo__log.out = f;
}

int fo_log_setup(enum fo_log_level level, enum fo_log_format format, const char *file)
{
    FILE *f;
    int rc = fo_log_open(file, &f);
    if (rc < 0)
        return rc;
    fo_log_use(level, format, f);
    return 0;
}

void fo_log_close(void)
{
    if (fo__log.out && fo__log.out != stderr)
        fclose(fo__log.out);
    fo__log.out = NULL;
}

static FILE *fo__out(void)
{
    return fo__log.out ? fo__log.out : stderr;
}

static void fo__ts(char *buf, size_t n)
{
    int64_t ms = fo_clock_wall_ms();
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    size_t k = strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + k, n - k, ".%03dZ", (int)(ms % 1000));
}

/* Writes s quoted for logfmt (only when needed) or JSON. */
static void fo__put_str(FILE *f, const char *s, int json)
{
    int quote = json || *s == '\0';
    for (const char *p = s; !quote && *p; p++)
        if (*p == ' ' || *p == '"' || *p == '=' || (unsigned char)*p < 0x20)
            quote = 1;
    if (!quote) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", f);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static void fo__line(enum fo_log_level level, const char *const *kv, int nkv)
{
    FILE *f = fo__out();
    char ts[40];
    int json = fo__log.format == FO_LOG_JSON;
    fo__ts(ts, sizeof(ts));
    if (json)
        fprintf(f, "{\"ts\":\"%s\",\"level\":\"%s\"", ts, fo__level_names[level]);
    else
        fprintf(f, "ts=%s level=%s", ts, fo__level_names[level]);
    for (int i = 0; i + 1 < nkv; i += 2) {
        if (json) {
            fputc(',', f);
            fo__put_str(f, kv[i], 1);
            fputc(':', f);
        } else {
            fputc(' ', f);
            fputs(kv[i], f);
            fputc('=', f);
        }
        fo__put_str(f, kv[i + 1] ? kv[i + 1] : "", json);
    }
    fputs(json ? "}\n" : "\n", f);
    fflush(f);
}

void fo_log(enum fo_log_level level, const char *fmt, ...)
{
    if (level < fo__log.level)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    const char *kv[] = {"msg", msg};
    fo__line(level, kv, 2);
}

void fo_event(enum fo_log_level level, const char *kind, ...)
{
    const char *kv[64];
    int n = 0;
    va_list ap;
    kv[n++] = "event";
    kv[n++] = kind;
    va_start(ap, kind);
    for (;;) {
        const char *k = va_arg(ap, const char *);
        if (!k || n + 2 > (int)FO_ARRAY_LEN(kv))
            break;
        kv[n++] = k;
        kv[n++] = va_arg(ap, const char *);
    }
    va_end(ap);
    if (level >= fo__log.level)
        fo__line(level, kv, n);
    for (int i = 0; i < fo__log.nsubs; i++)
        fo__log.subs[i].fn(level, kind, kv + 2, n - 2, fo__log.subs[i].arg);
}

void fo_event_subscribe(fo_event_fn fn, void *arg)
{
    if (fo__log.nsubs < (int)FO_ARRAY_LEN(fo__log.subs)) {
        fo__log.subs[fo__log.nsubs].fn = fn;
        fo__log.subs[fo__log.nsubs].arg = arg;
        fo__log.nsubs++;
    }
}
