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
#include <stdint.h>
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

void fo_metrics_put(struct fo_metrics_buf *b, const char *s, size_t n)
{
    fo__put(b, s, n);
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
    const char *stop = quote ? "\\\n\"" : "\\\n";
    for (;;) {
        size_t n = strcspn(s, stop);
        fo__put(b, s, n);
        s += n;
        if (!*s)
            return;
        fo__put(b, *s == '\n' ? "\\n" : *s == '"' ? "\\\"" : "\\\\", 2);
        s++;
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
    else if (v == trunc(v) && fabs(v) < 1e15 && n >= 18) {
        /* integers (nearly every sample) without printf */
        uint64_t u = (uint64_t)fabs(v);
        char tmp[20];
        int k = 0;
        do
            tmp[k++] = (char)('0' + u % 10);
        while ((u /= 10) > 0);
        size_t o = 0;
        if (v < 0)
            buf[o++] = '-';
        while (k > 0)
            buf[o++] = tmp[--k];
        buf[o] = '\0';
    } else if (v == trunc(v) && fabs(v) < 1e15)
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

/* Each member's samples start with the same labels: they are escaped once per member. */
struct fo__mlabels {
    struct fo_metrics_buf sm;    /* service="..",member=".." */
    struct fo_metrics_buf zone;  /* ,zone=".." */
    struct fo_metrics_buf extra; /* scratch for a sample's further labels */
};

static void fo__label(struct fo_metrics_buf *b, const char *k, const char *v)
{
    fo__puts(b, k);
    fo__put(b, "=\"", 2);
    fo__put_escaped(b, v ? v : "", 1);
    fo__put(b, "\"", 1);
}

static void fo__mlabels_set(struct fo__mlabels *l, const struct fo_service_def *s,
                            const struct fo_sched_member *m)
{
    l->sm.len = l->zone.len = 0;
    fo__label(&l->sm, "service", s->name);
    fo__put(&l->sm, ",", 1);
    fo__label(&l->sm, "member", m->member->name);
    fo__put(&l->zone, ",", 1);
    fo__label(&l->zone, "zone", m->member->zone);
}

/* name{service="..",member=".."<extra>} value */
static void fo__msample(struct fo_metrics_buf *b, const char *name, const struct fo__mlabels *l,
                        const char *extra, size_t extra_len, double v)
{
    fo__puts(b, name);
    fo__put(b, "{", 1);
    fo__put(b, l->sm.data, l->sm.len);
    fo__put(b, extra, extra_len);
    fo__put(b, "} ", 2);
    fo__put_value(b, v);
    fo__put(b, "\n", 1);
}

typedef void (*fo__member_fn)(struct fo_metrics_buf *b, struct fo__mlabels *l,
                              const struct fo_sched_member *m);

static void fo__runs(struct fo_metrics_buf *b, struct fo__mlabels *l,
                     const struct fo_sched_member *m)
{
    fo__msample(b, "failoverd_check_runs_total", l, "", 0, (double)m->state.runs);
}

static void fo__errors(struct fo_metrics_buf *b, struct fo__mlabels *l,
                       const struct fo_sched_member *m)
{
    fo__msample(b, "failoverd_check_errors_total", l, "", 0, (double)m->state.errors);
}

static void fo__timeouts(struct fo_metrics_buf *b, struct fo__mlabels *l,
                         const struct fo_sched_member *m)
{
    fo__msample(b, "failoverd_check_timeouts_total", l, "", 0, (double)m->state.timeouts);
}

static void fo__status(struct fo_metrics_buf *b, struct fo__mlabels *l,
                       const struct fo_sched_member *m)
{
    static const enum fo_status all[] = {FO_STATUS_OK, FO_STATUS_WARNING, FO_STATUS_CRITICAL,
                                         FO_STATUS_UNKNOWN};
    /* ,zone="..",status=".." : zone is already escaped, status names need no escaping */
    struct fo_metrics_buf *e = &l->extra;
    for (size_t i = 0; i < FO_ARRAY_LEN(all); i++) {
        e->len = 0;
        fo__put(e, l->zone.data, l->zone.len);
        fo__put(e, ",status=\"", 9);
        fo__puts(e, fo_status_name(all[i]));
        fo__put(e, "\"", 1);
        fo__msample(b, "failoverd_member_status", l, e->data, e->len,
                    m->state.hyst.status == all[i] ? 1 : 0);
    }
}

static void fo__latency(struct fo_metrics_buf *b, struct fo__mlabels *l,
                        const struct fo_sched_member *m)
{
    static char le[FO_LAT_BUCKETS][48];
    static size_t le_len[FO_LAT_BUCKETS];
    if (!le_len[0]) /* ,le=".." for each bound: the same on every scrape */
        for (int i = 0; i < FO_LAT_BUCKETS; i++) {
            char v[40];
            if (i < FO_LAT_BUCKETS - 1)
                fo__fmt_value(fo_lat_bounds_ms[i] / 1000.0, v, sizeof(v));
            else
                snprintf(v, sizeof(v), "+Inf");
            le_len[i] = (size_t)snprintf(le[i], sizeof(le[i]), ",le=\"%s\"", v);
        }
    uint64_t cum = 0;
    for (int i = 0; i < FO_LAT_BUCKETS; i++) {
        cum += m->state.lat_buckets[i];
        fo__msample(b, "failoverd_check_latency_seconds_bucket", l, le[i], le_len[i], (double)cum);
    }
    fo__msample(b, "failoverd_check_latency_seconds_sum", l, "", 0, m->state.lat_sum_ms / 1000.0);
    fo__msample(b, "failoverd_check_latency_seconds_count", l, "", 0, (double)cum);
}

static const struct {
    const char *name, *type, *help;
    fo__member_fn fn;
} fo__families[] = {
    {"failoverd_check_runs_total", "counter", "Check results recorded.", fo__runs},
    {"failoverd_check_errors_total", "counter",
     "Check runs that ended unknown (plugin error or unknown result).", fo__errors},
    {"failoverd_check_timeouts_total", "counter", "Check runs cancelled by the hard timeout.",
     fo__timeouts},
    {"failoverd_member_status", "gauge",
     "1 for the member's confirmed status (after rise/fall), 0 for the others.", fo__status},
    {"failoverd_check_latency_seconds", "histogram", "Check latency as measured by the agent.",
     fo__latency},
};

/* Where a rendering stands: the head, then each family member by member, then the registered
 * emitters. Members are read by index on every step, never kept across steps. */
struct fo__mcursor {
    const char *version;
    const struct fo_checks_src *checks;
    uint64_t generation; /* of the check engine when rendering began */
    int phase;           /* 0: head; 1..N: family phase-1; N+1: emitters; past that: done */
    int si, mi;
    struct fo__mlabels labels;
};

static uint64_t fo__generation(const struct fo_checks_src *c)
{
    return c && c->generation ? c->generation(c->ctx) : 0;
}

static void fo__mcursor_init(struct fo__mcursor *c, const char *version,
                             const struct fo_checks_src *checks)
{
    memset(c, 0, sizeof(*c));
    c->version = version;
    c->checks = checks;
    c->generation = fo__generation(checks);
}

static void fo__mcursor_free(struct fo__mcursor *c)
{
    fo_metrics_buf_free(&c->labels.sm);
    fo_metrics_buf_free(&c->labels.zone);
    fo_metrics_buf_free(&c->labels.extra);
}

#define FO__NFAMILIES ((int)FO_ARRAY_LEN(fo__families))

/* Renders until b holds at least `until` bytes or the end. Returns 1 while more follows, 0 at
 * the end, -1 when the check engine was reloaded since the rendering began (the members read
 * so far may be gone or renumbered: the answer would repeat or miss series). */
static int fo__mstep(struct fo__mcursor *c, struct fo_metrics_buf *b, size_t until)
{
    const struct fo_checks_src *ck = c->checks;
    if (fo__generation(ck) != c->generation)
        return -1;
    if (c->phase == 0) {
        fo_metrics_family(b, "failoverd_build_info", "gauge", "Build information; always 1.");
        fo_metrics_sample(b, "failoverd_build_info", 1, "version", c->version ? c->version : "",
                          (char *)NULL);
        const struct fo_tilt *t = ck && ck->tilt ? ck->tilt(ck->ctx) : NULL;
        fo_metrics_family(b, "failoverd_tilt", "gauge",
                          "1 while the agent is in TILT (its own loop stalled or clock jumped).");
        fo_metrics_sample(b, "failoverd_tilt", t && t->active ? 1 : 0, (char *)NULL);
        fo_metrics_family(b, "failoverd_tilt_entered_total", "counter", "Times TILT was entered.");
        fo_metrics_sample(b, "failoverd_tilt_entered_total", t ? (double)t->entered : 0,
                          (char *)NULL);
        c->phase = 1;
    }
    int ns = ck && ck->nservices ? ck->nservices(ck->ctx) : 0;
    while (c->phase <= FO__NFAMILIES) {
        int f = c->phase - 1;
        if (c->si == 0 && c->mi == 0)
            fo_metrics_family(b, fo__families[f].name, fo__families[f].type, fo__families[f].help);
        while (c->si < ns) {
            const struct fo_service_def *s = ck->service(ck->ctx, c->si);
            int nm = s ? ck->nmembers(ck->ctx, c->si) : 0;
            if (c->mi >= nm) {
                c->si++;
                c->mi = 0;
                continue;
            }
            const struct fo_sched_member *m = ck->member(ck->ctx, c->si, c->mi++);
            if (m) {
                fo__mlabels_set(&c->labels, s, m);
                fo__families[f].fn(b, &c->labels, m);
            }
            if (b->len >= until)
                return 1;
        }
        c->phase++;
        c->si = c->mi = 0;
    }
    if (c->phase == FO__NFAMILIES + 1) {
        for (int i = 0; i < fo__nemitters; i++)
            fo__emitters[i].fn(b, fo__emitters[i].arg);
        c->phase++;
    }
    return 0;
}

void fo_metrics_render(struct fo_metrics_buf *b, const char *version,
                       const struct fo_checks_src *checks)
{
    struct fo__mcursor c;
    fo__mcursor_init(&c, version, checks);
    fo__mstep(&c, b, SIZE_MAX);
    fo__mcursor_free(&c);
    fo__reserve(b, 0); /* NUL-terminated even when empty */
}

/* ---- the route: streamed, FO_API_STREAM_PART at a time ---- */

static int fo__mfill(void *state, struct fo_metrics_buf *out)
{
    return fo__mstep(state, out, out->len + FO_API_STREAM_PART);
}

static void fo__mdone(void *state)
{
    fo__mcursor_free(state);
    free(state);
}

void fo_metrics_handler(struct fo_api_req *req, struct fo_api_resp *resp, void *arg)
{
    const struct fo_status_src *src = arg;
    (void)req;
    struct fo__mcursor *c = fo_xmalloc(sizeof(*c));
    fo__mcursor_init(c, src->agent ? src->agent->version : NULL, &src->checks);
    resp->code = 200;
    resp->content_type = FO_METRICS_CONTENT_TYPE;
    free(resp->body);
    resp->body = NULL;
    resp->stream = (struct fo_api_stream){.fill = fo__mfill, .done = fo__mdone, .state = c};
}
