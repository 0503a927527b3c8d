/* Builds the /v1/status document with json-c from the agent info, the check engine (through
 * struct fo_checks_src) and the optional cluster provider; masks passwords in addresses and
 * keeps every string valid UTF-8 so that strict JSON readers accept it. */
#include "api/status.h"
#include "api/http.h"
#include "api/metrics.h"
#include "core/clock.h"

#include <json-c/json.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ---- the scheduler as a source ---- */

static int fo__s_nservices(const void *ctx)
{
    return fo_sched_nservices(ctx);
}

static const struct fo_service_def *fo__s_service(const void *ctx, int i)
{
    return fo_sched_service(ctx, i);
}

static int fo__s_nmembers(const void *ctx, int service)
{
    return fo_sched_nmembers(ctx, service);
}

static const struct fo_sched_member *fo__s_member(const void *ctx, int service, int member)
{
    return fo_sched_member(ctx, service, member);
}

static const struct fo_tilt *fo__s_tilt(const void *ctx)
{
    return fo_sched_tilt(ctx);
}

static uint64_t fo__s_generation(const void *ctx)
{
    return fo_sched_generation(ctx);
}

void fo_checks_src_sched(struct fo_checks_src *src, const struct fo_sched *s)
{
    src->nservices = fo__s_nservices;
    src->service = fo__s_service;
    src->nmembers = fo__s_nmembers;
    src->member = fo__s_member;
    src->tilt = fo__s_tilt;
    src->generation = fo__s_generation;
    src->ctx = s;
}

/* ---- formatting helpers ---- */

char *fo_status_iso8601(int64_t wall_ms, char *buf, size_t n)
{
    time_t s = (time_t)(wall_ms / 1000);
    int ms = (int)(wall_ms % 1000);
    if (ms < 0) {
        ms += 1000;
        s -= 1;
    }
    struct tm tm;
    gmtime_r(&s, &tm);
    size_t k = strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + k, n - k, ".%03dZ", ms);
    return buf;
}

static struct json_object *fo__iso_or_null(int64_t wall_ms)
{
    char buf[40];
    if (wall_ms <= 0)
        return NULL;
    return json_object_new_string(fo_status_iso8601(wall_ms, buf, sizeof(buf)));
}

/* A double's text: `decimals` places with trailing zeros cut, or the shortest text that reads
 * back the same when decimals < 0. Returns 0 (buf untouched) for non-finite values. */
static int fo__double_text(double v, int decimals, char *buf, size_t n)
{
    if (!isfinite(v))
        return 0;
    if (decimals >= 0) {
        snprintf(buf, n, "%.*f", decimals, v);
        if (strchr(buf, '.')) {
            char *e = buf + strlen(buf) - 1;
            while (*e == '0')
                *e-- = '\0';
            if (*e == '.')
                *e = '\0';
        }
        if (strcmp(buf, "-0") == 0)
            snprintf(buf, n, "0");
    } else {
        snprintf(buf, n, "%.15g", v);
        if (strtod(buf, NULL) != v)
            snprintf(buf, n, "%.17g", v);
    }
    return 1;
}

/* The same as a JSON number; non-finite values become null. */
static struct json_object *fo__double(double v, int decimals)
{
    char buf[48];
    return fo__double_text(v, decimals, buf, sizeof(buf)) ? json_object_new_double_s(v, buf) : NULL;
}

/* Copies s into a new JSON string, replacing bytes that are not valid UTF-8 with '?'. */
static struct json_object *fo__utf8(const char *s)
{
    size_t n = strlen(s);
    char *out = fo_xmalloc(n + 1);
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0;
    while (*p) {
        int len = 0;
        unsigned int cp = 0;
        if (p[0] < 0x80)
            len = 1;
        else if ((p[0] & 0xE0) == 0xC0)
            len = 2, cp = p[0] & 0x1F;
        else if ((p[0] & 0xF0) == 0xE0)
            len = 3, cp = p[0] & 0x0F;
        else if ((p[0] & 0xF8) == 0xF0)
            len = 4, cp = p[0] & 0x07;
        int ok = len > 0;
        for (int i = 1; ok && i < len; i++) {
            if ((p[i] & 0xC0) != 0x80)
                ok = 0;
            else
                cp = (cp << 6) | (p[i] & 0x3F);
        }
        /* no overlong forms, surrogates or code points past U+10FFFF */
        if (ok && len > 1 &&
            ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
             (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF))
            ok = 0;
        if (!ok) {
            out[o++] = '?';
            p++;
            continue;
        }
        memcpy(out + o, p, (size_t)len);
        o += (size_t)len;
        p += len;
    }
    out[o] = '\0';
    struct json_object *j = json_object_new_string_len(out, (int)o);
    free(out);
    return j;
}

static struct json_object *fo__str_or_null(const char *s)
{
    return s ? fo__utf8(s) : NULL;
}

/* ---- address masking ---- */

struct fo__sb {
    char *p;
    size_t len, cap;
};

static void fo__sb_add(struct fo__sb *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = fo_xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

/* Keys whose values are never shown. */
static int fo__secret_key(const char *k, size_t n)
{
    static const char *const words[] = {"password", "passwd", "secret", "token"};
    for (size_t w = 0; w < FO_ARRAY_LEN(words); w++) {
        size_t wl = strlen(words[w]);
        for (size_t i = 0; i + wl <= n; i++)
            if (strncasecmp(k + i, words[w], wl) == 0)
                return 1;
    }
    return 0;
}

/* URL: user:password@ in the authority and secret query parameters. */
static void fo__mask_url(struct fo__sb *b, const char *a)
{
    const char *auth = strstr(a, "://") + 3;
    size_t alen = strcspn(auth, "/?#");
    const char *at = memrchr(auth, '@', alen);
    const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    if (colon) {
        fo__sb_add(b, a, (size_t)(colon + 1 - a));
        fo__sb_add(b, "***", 3);
        a = at;
    }
    const char *q = strchr(a, '?');
    if (!q) {
        fo__sb_add(b, a, strlen(a));
        return;
    }
    fo__sb_add(b, a, (size_t)(q + 1 - a));
    const char *p = q + 1;
    while (*p && *p != '#') {
        size_t plen = strcspn(p, "&;#");
        const char *eq = memchr(p, '=', plen);
        if (eq && fo__secret_key(p, (size_t)(eq - p))) {
            fo__sb_add(b, p, (size_t)(eq + 1 - p));
            fo__sb_add(b, "***", 3);
        } else {
            fo__sb_add(b, p, plen);
        }
        p += plen;
        if (*p == '&' || *p == ';')
            fo__sb_add(b, p++, 1);
    }
    fo__sb_add(b, p, strlen(p));
}

/* libpq conninfo "k=v k2 = 'quoted \' value'": values of secret keys become ***; the rest of
 * the text is kept as written. */
static void fo__mask_conninfo(struct fo__sb *b, const char *a)
{
    const char *p = a;
    while (*p) {
        const char *ws = p;
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
            p++;
        const char *key = p;
        while (*p && *p != '=' && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
            p++;
        size_t klen = (size_t)(p - key);
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p != '=') { /* not key=value: keep the text as it is */
            fo__sb_add(b, ws, (size_t)(p - ws));
            continue;
        }
        p++;
        while (*p == ' ' || *p == '\t')
            p++;
        fo__sb_add(b, ws, (size_t)(p - ws));
        const char *val = p;
        if (*p == '\'') {
            for (p++; *p && *p != '\''; p++)
                if (*p == '\\' && p[1])
                    p++;
            if (*p == '\'')
                p++;
        } else {
            for (; *p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r'; p++)
                if (*p == '\\' && p[1])
                    p++;
        }
        if (fo__secret_key(key, klen))
            fo__sb_add(b, "***", 3);
        else
            fo__sb_add(b, val, (size_t)(p - val));
    }
}

char *fo_status_mask_address(const char *address)
{
    struct fo__sb b = {0};
    fo__sb_add(&b, "", 0);
    if (!address)
        return b.p;
    if (strstr(address, "://"))
        fo__mask_url(&b, address);
    else if (strchr(address, '='))
        fo__mask_conninfo(&b, address);
    else
        fo__sb_add(&b, address, strlen(address));
    return b.p;
}

/* ---- the document ---- */

static struct json_object *fo__facts(const struct fo_result *r)
{
    struct json_object *o = json_object_new_object();
    int n = r->nfacts < FO_FACTS_MAX ? r->nfacts : FO_FACTS_MAX;
    for (int i = 0; i < n; i++) {
        const struct fo_fact *f = &r->facts[i];
        char name[FO_FACT_NAME_MAX + 1];
        char s[FO_FACT_STR_MAX + 1];
        struct json_object *v = NULL;
        snprintf(name, sizeof(name), "%.*s", FO_FACT_NAME_MAX, f->name);
        switch (f->type) {
        case FO_FACT_INT:
            v = json_object_new_int64(f->i);
            break;
        case FO_FACT_DOUBLE:
            v = fo__double(f->d, -1);
            break;
        case FO_FACT_BOOL:
            v = json_object_new_boolean(f->i != 0);
            break;
        case FO_FACT_STR:
            snprintf(s, sizeof(s), "%.*s", FO_FACT_STR_MAX, f->s);
            v = fo__utf8(s);
            break;
        }
        json_object_object_add(o, name, v);
    }
    return o;
}

/* The member's history, newest first, as a JSON array written by hand: thousands of members
 * times 32 samples would otherwise be a json-c object each. Only ASCII is written. */
static void fo__history(struct fo_metrics_buf *out, const struct fo_member_state *st)
{
    int n = st->hist_len < FO_HISTORY_MAX ? st->hist_len : FO_HISTORY_MAX;
    fo_metrics_put(out, "[", 1);
    for (int k = 0; k < n; k++) {
        int idx = ((st->hist_head - 1 - k) % FO_HISTORY_MAX + FO_HISTORY_MAX) % FO_HISTORY_MAX;
        const struct fo_sample *smp = &st->history[idx];
        char ts[48] = "null", lat[48] = "null", item[160];
        if (smp->wall_ms > 0) {
            ts[0] = '"';
            fo_status_iso8601(smp->wall_ms, ts + 1, sizeof(ts) - 2);
            strcat(ts, "\"");
        }
        fo__double_text(smp->latency_ms, 3, lat, sizeof(lat));
        int len = snprintf(item, sizeof(item), "%s{\"ts\":%s,\"status\":\"%s\",\"latency_ms\":%s}",
                           k ? "," : "", ts, fo_status_name(smp->status), lat);
        fo_metrics_put(out, item, (size_t)len);
    }
    fo_metrics_put(out, "]", 1);
}

static struct json_object *fo__member(const struct fo_member_def *m,
                                      const struct fo_member_state *st)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "name", fo__str_or_null(m->name));
    json_object_object_add(o, "zone", fo__str_or_null(m->zone));
    char *addr = fo_status_mask_address(m->address);
    json_object_object_add(o, "address", fo__utf8(addr));
    free(addr);
    struct json_object *tags = json_object_new_array();
    for (int i = 0; i < m->ntags; i++)
        json_object_array_add(tags, fo__str_or_null(m->tags[i]));
    json_object_object_add(o, "tags", tags);
    json_object_object_add(o, "priority", json_object_new_int(m->priority));
    json_object_object_add(o, "status", json_object_new_string(fo_status_name(st->hyst.status)));
    json_object_object_add(o, "raw_status", json_object_new_string(fo_status_name(st->raw)));
    char msg[FO_MESSAGE_MAX + 1];
    snprintf(msg, sizeof(msg), "%.*s", FO_MESSAGE_MAX, st->last.message);
    json_object_object_add(o, "message", fo__utf8(msg));
    json_object_object_add(o, "latency_ms",
                           st->last_wall_ms > 0 ? fo__double(st->last.latency_ms, 3) : NULL);
    json_object_object_add(o, "last_check", fo__iso_or_null(st->last_wall_ms));
    json_object_object_add(o, "last_change", fo__iso_or_null(st->last_change_wall_ms));
    json_object_object_add(o, "facts", fo__facts(&st->last));
    json_object_object_add(o, "runs", json_object_new_uint64(st->runs));
    json_object_object_add(o, "errors", json_object_new_uint64(st->errors));
    json_object_object_add(o, "timeouts", json_object_new_uint64(st->timeouts));
    return o; /* "history" follows, written by fo__history */
}

/* The service's fields; "members" follows, written member by member. */
static struct json_object *fo__service(const struct fo_service_def *s)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "name", fo__str_or_null(s->name));
    json_object_object_add(o, "kind", fo__str_or_null(s->kind));
    struct json_object *chk = json_object_new_object();
    json_object_object_add(chk, "type", fo__str_or_null(s->check.type));
    json_object_object_add(chk, "interval_ms", json_object_new_int64(s->check.interval_ms));
    json_object_object_add(chk, "timeout_ms", json_object_new_int64(s->check.timeout_ms));
    json_object_object_add(chk, "rise", json_object_new_int(s->check.rise));
    json_object_object_add(chk, "fall", json_object_new_int(s->check.fall));
    json_object_object_add(o, "check", chk);
    return o;
}

static struct json_object *fo__agent(const struct fo_status_src *src, int64_t now_wall_ms,
                                     int64_t now_mono_ms)
{
    const struct fo_agent_info *a = src->agent;
    struct json_object *o = json_object_new_object();
    int64_t up_ms = 0;
    if (a->started_mono_ms > 0)
        up_ms = now_mono_ms - a->started_mono_ms;
    else if (a->started_wall_ms > 0)
        up_ms = now_wall_ms - a->started_wall_ms;
    json_object_object_add(o, "id", fo__str_or_null(a->id));
    json_object_object_add(o, "zone", fo__str_or_null(a->zone));
    json_object_object_add(o, "version", fo__str_or_null(a->version));
    json_object_object_add(o, "pid", json_object_new_int64(a->pid));
    json_object_object_add(o, "uptime_s", json_object_new_int64(up_ms > 0 ? up_ms / 1000 : 0));
    json_object_object_add(o, "config_file", fo__str_or_null(a->config_file));
    json_object_object_add(o, "config_hash", fo__str_or_null(a->config_hash));
    const struct fo_tilt *t = src->checks.tilt ? src->checks.tilt(src->checks.ctx) : NULL;
    struct json_object *tilt = json_object_new_object();
    int active = t && t->active;
    char reason[sizeof(t->reason) + 1] = "";
    if (active)
        snprintf(reason, sizeof(reason), "%.*s", (int)sizeof(t->reason), t->reason);
    json_object_object_add(tilt, "active", json_object_new_boolean(active));
    json_object_object_add(tilt, "reason", fo__utf8(reason));
    json_object_object_add(tilt, "entered", json_object_new_uint64(t ? t->entered : 0));
    json_object_object_add(o, "tilt", tilt);
    return o;
}

/* ---- the document, written part by part ---- */

/* Where a rendering stands. The document is {"agent":..,"cluster":..,"services":[..]} and a
 * newline; services and members are read by index on every step, never kept across steps. */
struct fo__scursor {
    struct fo_status_src src;
    uint64_t generation; /* of the check engine when rendering began */
    int64_t now_wall_ms, now_mono_ms;
    int phase; /* 0: head; 1: services; 2: done */
    int si;
    int mi;       /* -1: the service's own fields are not written yet */
    int swritten; /* services written so far */
    int mwritten; /* members of service si written so far */
};

static uint64_t fo__generation(const struct fo_checks_src *c)
{
    return c->generation ? c->generation(c->ctx) : 0;
}

/* Writes o (taking the reference) as compact JSON; with open, without its closing brace so
 * that more members can follow. */
static void fo__put_json(struct fo_metrics_buf *out, struct json_object *o, int open)
{
    size_t n = 0;
    const char *t = json_object_to_json_string_length(
        o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
    if (!t)
        t = "null", n = 4;
    if (open && n > 0 && t[n - 1] == '}')
        n--;
    fo_metrics_put(out, t, n);
    json_object_put(o);
}

static void fo__scursor_init(struct fo__scursor *c, const struct fo_status_src *src,
                             int64_t now_wall_ms, int64_t now_mono_ms)
{
    static const struct fo_agent_info none = {0};
    memset(c, 0, sizeof(*c));
    c->src = *src;
    if (!c->src.agent)
        c->src.agent = &none;
    c->generation = fo__generation(&c->src.checks);
    c->now_wall_ms = now_wall_ms;
    c->now_mono_ms = now_mono_ms;
    c->mi = -1;
}

/* Renders until out holds at least `until` bytes or the end. Returns 1 while more follows, 0 at
 * the end, -1 when the check engine was reloaded since the rendering began. */
static int fo__sstep(struct fo__scursor *c, struct fo_metrics_buf *out, size_t until)
{
    const struct fo_checks_src *ck = &c->src.checks;
    if (fo__generation(ck) != c->generation)
        return -1;
    if (c->phase == 0) {
        fo_metrics_put(out, "{\"agent\":", 9);
        fo__put_json(out, fo__agent(&c->src, c->now_wall_ms, c->now_mono_ms), 0);
        fo_metrics_put(out, ",\"cluster\":", 11);
        fo__put_json(out, c->src.cluster_json ? c->src.cluster_json(c->src.cluster_arg) : NULL, 0);
        fo_metrics_put(out, ",\"services\":[", 13);
        c->phase = 1;
    }
    int ns = ck->nservices ? ck->nservices(ck->ctx) : 0;
    while (c->phase == 1 && c->si < ns) {
        const struct fo_service_def *s = ck->service(ck->ctx, c->si);
        if (!s) {
            c->si++;
            continue;
        }
        int nm = ck->nmembers(ck->ctx, c->si);
        if (c->mi < 0) {
            if (c->swritten++)
                fo_metrics_put(out, ",", 1);
            fo__put_json(out, fo__service(s), 1);
            fo_metrics_put(out, ",\"members\":[", 12);
            c->mi = 0;
            c->mwritten = 0;
        }
        while (c->mi < nm) {
            const struct fo_sched_member *m = ck->member(ck->ctx, c->si, c->mi++);
            if (!m)
                continue;
            if (c->mwritten++)
                fo_metrics_put(out, ",", 1);
            fo__put_json(out, fo__member(m->member, &m->state), 1);
            fo_metrics_put(out, ",\"history\":", 11);
            fo__history(out, &m->state);
            fo_metrics_put(out, "}", 1);
            if (out->len >= until && c->mi < nm)
                return 1;
        }
        fo_metrics_put(out, "]}", 2);
        c->si++;
        c->mi = -1;
        if (out->len >= until && c->si < ns)
            return 1;
    }
    if (c->phase == 1) {
        fo_metrics_put(out, "]}\n", 3);
        c->phase = 2;
    }
    return 0;
}

char *fo_status_text(const struct fo_status_src *src, int64_t now_wall_ms, int64_t now_mono_ms,
                     size_t *len)
{
    struct fo__scursor c;
    struct fo_metrics_buf out = {0};
    fo__scursor_init(&c, src, now_wall_ms, now_mono_ms);
    fo__sstep(&c, &out, SIZE_MAX);
    return fo_metrics_buf_take(&out, len);
}

struct json_object *fo_status_json(const struct fo_status_src *src, int64_t now_wall_ms,
                                   int64_t now_mono_ms)
{
    char *t = fo_status_text(src, now_wall_ms, now_mono_ms, NULL);
    struct json_object *o = json_tokener_parse(t);
    free(t);
    return o;
}

static int fo__sfill(void *state, struct fo_metrics_buf *out)
{
    return fo__sstep(state, out, out->len + FO_API_STREAM_PART);
}

void fo_status_handler(struct fo_api_req *req, struct fo_api_resp *resp, void *arg)
{
    const struct fo_status_src *src = arg;
    (void)req;
    struct fo__scursor *c = fo_xmalloc(sizeof(*c));
    fo__scursor_init(c, src, fo_clock_wall_ms(), fo_clock_mono_ms());
    free(resp->body);
    resp->body = NULL;
    resp->code = 200;
    resp->content_type = "application/json";
    resp->stream = (struct fo_api_stream){.fill = fo__sfill, .done = free, .state = c};
}
