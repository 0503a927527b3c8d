/* Prometheus text exposition (format 0.0.4) of the check engine's state and of what other parts
 * register. Histograms are stored per bucket by the check engine; they are made cumulative
 * here, and +Inf always equals _count. */
#include "api/metrics.h"
#include "api/http.h"
#include "api/status.h"
#include "check/check.h"
#include "core/fo.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FO__EMITTERS_MAX 32

static struct {
    fo_metrics_emit_fn fn;
    void *arg;
} fo__emitters[FO__EMITTERS_MAX];
static int fo__nemitters;

/* ---- buffer ---- */

static void fo__reserve(struct fo_metrics_buf *b, size_t more)
{
    if (b->len + more + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more + 1)
        cap *= 2;
    b->data = fo_xrealloc(b->data, cap);
    b->cap = cap;
}

static void fo__put(struct fo_metrics_buf *b, const char *s, size_t n)
{
    fo__reserve(b, n);
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void fo__puts(struct fo_metrics_buf *b, const char *s)
{
    fo__put(b, s, strlen(s));
}

void fo_metrics_buf_free(struct fo_metrics_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

char *fo_metrics_buf_take(struct fo_metrics_buf *b, size_t *len)
{
    fo__reserve(b, 0);
    b->data[b->len] = '\0';
    char *p = b->data;
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

/* Escapes for HELP text (backslash, newline) or label values (also double quote). */
static void fo__put_escaped(struct fo_metrics_buf *b, const char *s, int quote)
{
    for (const char *p = s; *p; p++) {
        if (*p == '\\')
            fo__put(b, "\\\\", 2);
        else if (*p == '\n')
            fo__put(b, "\\n", 2);
        else if (quote && *p == '"')
            fo__put(b, "\\\"", 2);
        else
            fo__put(b, p, 1);
    }
}

/* Go's ParseFloat reads what this writes: integers without a fraction, otherwise the shortest
 * text that reads back the same value. */
static void fo__fmt_value(double v, char *buf, size_t n)
{
    if (isnan(v))
        snprintf(buf, n, "NaN");
    else if (isinf(v))
        snprintf(buf, n, v > 0 ? "+Inf" : "-Inf");
    else if (v == trunc(v) && fabs(v) < 1e15)
        snprintf(buf, n, "%.0f", v);
    else {
        snprintf(buf, n, "%.15g", v);
        if (strtod(buf, NULL) != v)
            snprintf(buf, n, "%.17g", v);
    }
}

static void fo__put_value(struct fo_metrics_buf *b, double v)
{
    char buf[40];
    fo__fmt_value(v, buf, sizeof(buf));
    fo__puts(b, buf);
}

void fo_metrics_family(struct fo_metrics_buf *b, const char *name, const char *type,
                       const char *help)
{
    fo__puts(b, "# HELP ");
    fo__puts(b, name);
    fo__puts(b, " ");
    fo__put_escaped(b, help ? help : "", 0);
    fo__puts(b, "\n# TYPE ");
    fo__puts(b, name);
    fo__puts(b, " ");
    fo__puts(b, type);
    fo__puts(b, "\n");
}

void fo_metrics_samplev(struct fo_metrics_buf *b, const char *name, double value,
                        const char *const *labels, int npairs)
{
    fo__puts(b, name);
    if (npairs > 0) {
        fo__puts(b, "{");
        for (int i = 0; i < npairs; i++) {
            if (i)
                fo__puts(b, ",");
            fo__puts(b, labels[2 * i]);
            fo__puts(b, "=\"");
            fo__put_escaped(b, labels[2 * i + 1] ? labels[2 * i + 1] : "", 1);
            fo__puts(b, "\"");
        }
        fo__puts(b, "}");
    }
    fo__puts(b, " ");
    fo__put_value(b, value);
    fo__puts(b, "\n");
}

void fo_metrics_sample(struct fo_metrics_buf *b, const char *name, double value, ...)
{
    const char *labels[32];
    int n = 0;
    va_list ap;
    va_start(ap, value);
    for (;;) {
        const char *k = va_arg(ap, const char *);
        if (!k || n + 2 > (int)FO_ARRAY_LEN(labels))
            break;
        labels[n++] = k;
        labels[n++] = va_arg(ap, const char *);
    }
    va_end(ap);
    fo_metrics_samplev(b, name, value, labels, n / 2);
}

/* ---- registry ---- */

void fo_metrics_register(fo_metrics_emit_fn emit, void *arg)
{
    for (int i = 0; i < fo__nemitters; i++)
        if (fo__emitters[i].fn == emit && fo__emitters[i].arg == arg)
            return;
    if (fo__nemitters >= FO__EMITTERS_MAX) {
        fprintf(stderr, "failoverd: too many metrics emitters\n");
        abort();
    }
    fo__emitters[fo__nemitters].fn = emit;
    fo__emitters[fo__nemitters].arg = arg;
    fo__nemitters++;
}

void fo_metrics_unregister(fo_metrics_emit_fn emit, void *arg)
{
    for (int i = 0; i < fo__nemitters; i++)
        if (fo__emitters[i].fn == emit && fo__emitters[i].arg == arg) {
            memmove(&fo__emitters[i], &fo__emitters[i + 1],
                    sizeof(fo__emitters[0]) * (size_t)(fo__nemitters - i - 1));
            fo__nemitters--;
            return;
        }
}

/* ---- the check engine's families ---- */

typedef void (*fo__member_fn)(struct fo_metrics_buf *b, const struct fo_service_def *s,
                              const struct fo_sched_member *m);

static void fo__each_member(struct fo_metrics_buf *b, const struct fo_checks_src *c,
                            fo__member_fn fn)
{
    int ns = c && c->nservices ? c->nservices(c->ctx) : 0;
    for (int si = 0; si < ns; si++) {
        const struct fo_service_def *s = c->service(c->ctx, si);
        int nm = c->nmembers(c->ctx, si);
        for (int mi = 0; mi < nm; mi++) {
            const struct fo_sched_member *m = c->member(c->ctx, si, mi);
            if (s && m)
                fn(b, s, m);
        }
    }
}

static void fo__runs(struct fo_metrics_buf *b, const struct fo_service_def *s,
                     const struct fo_sched_member *m)
{
    fo_metrics_sample(b, "failoverd_check_runs_total", (double)m->state.runs, "service", s->name,
                      "member", m->member->name, (char *)NULL);
}

static void fo__errors(struct fo_metrics_buf *b, const struct fo_service_def *s,
                       const struct fo_sched_member *m)
{
    fo_metrics_sample(b, "failoverd_check_errors_total", (double)m->state.errors, "service",
                      s->name, "member", m->member->name, (char *)NULL);
}

static void fo__timeouts(struct fo_metrics_buf *b, const struct fo_service_def *s,
                         const struct fo_sched_member *m)
{
    fo_metrics_sample(b, "failoverd_check_timeouts_total", (double)m->state.timeouts, "service",
                      s->name, "member", m->member->name, (char *)NULL);
}

static void fo__status(struct fo_metrics_buf *b, const struct fo_service_def *s,
                       const struct fo_sched_member *m)
{
    static const enum fo_status all[] = {FO_STATUS_OK, FO_STATUS_WARNING, FO_STATUS_CRITICAL,
                                         FO_STATUS_UNKNOWN};
    for (size_t i = 0; i < FO_ARRAY_LEN(all); i++)
        fo_metrics_sample(b, "failoverd_member_status", m->state.hyst.status == all[i] ? 1 : 0,
                          "service", s->name, "member", m->member->name, "zone", m->member->zone,
                          "status", fo_status_name(all[i]), (char *)NULL);
}

static void fo__latency(struct fo_metrics_buf *b, const struct fo_service_def *s,
                        const struct fo_sched_member *m)
{
    const char *name = "failoverd_check_latency_seconds_bucket";
    uint64_t cum = 0;
    char le[40];
    for (int i = 0; i < FO_LAT_BUCKETS; i++) {
        cum += m->state.lat_buckets[i];
        if (i < FO_LAT_BUCKETS - 1)
            fo__fmt_value(fo_lat_bounds_ms[i] / 1000.0, le, sizeof(le));
        else
            snprintf(le, sizeof(le), "+Inf");
        fo_metrics_sample(b, name, (double)cum, "service", s->name, "member", m->member->name, "le",
                          le, (char *)NULL);
    }
    fo_metrics_sample(b, "failoverd_check_latency_seconds_sum", m->state.lat_sum_ms / 1000.0,
                      "service", s->name, "member", m->member->name, (char *)NULL);
    fo_metrics_sample(b, "failoverd_check_latency_seconds_count", (double)cum, "service", s->name,
                      "member", m->member->name, (char *)NULL);
}

void fo_metrics_render(struct fo_metrics_buf *b, const char *version,
                       const struct fo_checks_src *checks)
{
    fo_metrics_family(b, "failoverd_build_info", "gauge", "Build information; always 1.");
    fo_metrics_sample(b, "failoverd_build_info", 1, "version", version ? version : "",
                      (char *)NULL);

    const struct fo_tilt *t = checks && checks->tilt ? checks->tilt(checks->ctx) : NULL;
    fo_metrics_family(b, "failoverd_tilt", "gauge",
                      "1 while the agent is in TILT (its own loop stalled or clock jumped).");
    fo_metrics_sample(b, "failoverd_tilt", t && t->active ? 1 : 0, (char *)NULL);
    fo_metrics_family(b, "failoverd_tilt_entered_total", "counter", "Times TILT was entered.");
    fo_metrics_sample(b, "failoverd_tilt_entered_total", t ? (double)t->entered : 0, (char *)NULL);

    fo_metrics_family(b, "failoverd_check_runs_total", "counter", "Check results recorded.");
    fo__each_member(b, checks, fo__runs);
    fo_metrics_family(b, "failoverd_check_errors_total", "counter",
                      "Check runs that ended unknown (plugin error or unknown result).");
    fo__each_member(b, checks, fo__errors);
    fo_metrics_family(b, "failoverd_check_timeouts_total", "counter",
                      "Check runs cancelled by the hard timeout.");
    fo__each_member(b, checks, fo__timeouts);
    fo_metrics_family(b, "failoverd_member_status", "gauge",
                      "1 for the member's confirmed status (after rise/fall), 0 for the others.");
    fo__each_member(b, checks, fo__status);
    fo_metrics_family(b, "failoverd_check_latency_seconds", "histogram",
                      "Check latency as measured by the agent.");
    fo__each_member(b, checks, fo__latency);

    for (int i = 0; i < fo__nemitters; i++)
        fo__emitters[i].fn(b, fo__emitters[i].arg);
}

void fo_metrics_handler(struct fo_api_req *req, struct fo_api_resp *resp, void *arg)
{
    const struct fo_status_src *src = arg;
    struct fo_metrics_buf b = {0};
    fo_metrics_render(&b, src->agent ? src->agent->version : NULL, &src->checks);
    resp->code = 200;
    resp->content_type = FO_METRICS_CONTENT_TYPE;
    free(resp->body);
    resp->body = fo_metrics_buf_take(&b, &resp->len);
}
