/* The check scheduler on the libuv loop: one check instance and two timers (cadence, hard
 * timeout) per member, all-or-nothing reloads that carry unchanged members across untouched,
 * TILT on a 250 ms timer, and the result path (hysteresis, events, subscriber). */
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "check/check.h"
#include "check/http_host.h"
#include "check/plugin_host.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/log.h"

struct fo__svc;

struct fo__member {
    struct fo_sched_member pub; /* first: the public pointer is ours */
    struct fo_sched *s;
    struct fo__svc *svc;
    const struct fo_plugin *plugin;
    void *inst;
    /* Owned copies: a reload that keeps the instance frees the definitions it was made from. */
    struct fo_target target;
    uv_timer_t tick;
    uv_timer_t timeout;
    int64_t next_base_ms; /* loop time of the next run, before jitter */
    int64_t start_ns;     /* CLOCK_MONOTONIC at the start of the run in flight */
    int in_flight;
    int timers_live; /* 1 once scheduled: tells kept members from fresh ones during apply */
    int kept;
    int open_timers;
};

struct fo__svc {
    const struct fo_service_def *def;
    struct fo__member **members;
    int n;
};

struct fo_sched {
    uv_loop_t *loop;
    struct fo_plugin_host *ph;
    struct fo_service_def *defs; /* owned */
    struct fo__svc *svcs;        /* one per def */
    int n;
    uv_timer_t tilt_timer;
    struct fo_tilt tilt;
    fo_sched_result_fn on_result;
    void *on_result_arg;
    uint64_t rng;
    char *errors;
    size_t errors_len;
    int nerrors;
    char first_error[256];
    int closing;
    int pending;         /* members and the TILT timer still closing */
    uint64_t generation; /* applies committed */
};

/* What apply/validate build before anything changes. */
struct fo__prep {
    struct fo__svc *svcs;
    int n;
    struct fo__member **fresh;
    int nfresh;
};

static int64_t fo__mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts); /* the clock of fo_clock_mono_ms() */
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t fo__rand(struct fo_sched *s)
{
    s->rng ^= s->rng >> 12;
    s->rng ^= s->rng << 25;
    s->rng ^= s->rng >> 27;
    return s->rng * 0x2545F4914F6CDD1Dull;
}

/* ---- errors ---- */

static void fo__error(struct fo_sched *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void fo__error(struct fo_sched *s, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    /* The same params error would repeat for every member of the service. */
    size_t len = strlen(line);
    for (const char *p = s->errors; (p = strstr(p, line)); p += len)
        if ((p == s->errors || p[-1] == '\n') && p[len] == '\n')
            return;
    if (s->nerrors++ == 0)
        snprintf(s->first_error, sizeof(s->first_error), "%.*s", (int)sizeof(s->first_error) - 1,
                 line);
    s->errors = fo_xrealloc(s->errors, s->errors_len + len + 2);
    memcpy(s->errors + s->errors_len, line, len);
    s->errors_len += len;
    s->errors[s->errors_len++] = '\n';
    s->errors[s->errors_len] = '\0';
}

static void fo__errors_reset(struct fo_sched *s)
{
    s->errors_len = 0;
    s->errors[0] = '\0';
    s->nerrors = 0;
    s->first_error[0] = '\0';
}

static const char *fo__where(const struct fo_check_def *c)
{
    return c->where && *c->where ? c->where : "<config>";
}

/* "FILE:LINE:COL: services.S.check.params.F: msg", at the key itself when the loader knows it
 * (for a missing key, at the params mapping), else at the check. */
static void fo__init_error(struct fo_sched *s, const struct fo_service_def *sd,
                           const struct fo_member_def *md, const struct fo_plugin_err *pe)
{
    char loc[192], at[192];
    const char *msg = pe->msg[0] ? pe->msg : "invalid check configuration";
    snprintf(loc, sizeof(loc), "%s", fo__where(&sd->check));
    if (sd->check.params && strcmp(pe->field, "address") != 0) {
        if (pe->field[0])
            fo_config_locate_key(sd->check.params, pe->field, at, sizeof(at));
        else
            fo_config_locate(sd->check.params, at, sizeof(at));
        if (strcmp(at, "?") != 0)
            memcpy(loc, at, sizeof(loc));
    }
    if (strcmp(pe->field, "address") == 0)
        fo__error(s, "%s: services.%s.members[%d].address: %s", md->where ? md->where : loc,
                  sd->name, (int)(md - sd->members), msg);
    else if (pe->field[0])
        fo__error(s, "%s: services.%s.check.params.%s: %s", loc, sd->name, pe->field, msg);
    else
        fo__error(s, "%s: services.%s.check: %s (member %s)", loc, sd->name, msg, md->name);
}

/* ---- members ---- */

static char *fo__dup(const char *s)
{
    return fo_xstrdup(s ? s : "");
}

static struct fo__member *fo__member_new(struct fo_sched *s, const struct fo_service_def *sd,
                                         const struct fo_member_def *md)
{
    struct fo__member *m = fo_xcalloc(1, sizeof(*m));
    m->s = s;
    m->pub.service = sd;
    m->pub.member = md;
    fo_member_state_init(&m->pub.state);
    m->target.service = fo__dup(sd->name);
    m->target.member = fo__dup(md->name);
    m->target.zone = fo__dup(md->zone);
    m->target.address = fo__dup(md->address);
    m->target.params = json_object_get((struct json_object *)sd->check.params);
    m->target.secret = sd->check.secret ? fo_xstrdup(sd->check.secret) : NULL;
    m->target.timeout_ms = sd->check.timeout_ms;
    m->target.interval_ms = sd->check.interval_ms;
    return m;
}

static void fo__member_free(struct fo__member *m)
{
    if (m->inst)
        m->plugin->destroy(m->inst);
    free((char *)m->target.service);
    free((char *)m->target.member);
    free((char *)m->target.zone);
    free((char *)m->target.address);
    json_object_put((struct json_object *)m->target.params);
    if (m->target.secret) {
        explicit_bzero((char *)m->target.secret, strlen(m->target.secret));
        free((char *)m->target.secret);
    }
    free(m);
}

static void fo__maybe_free_sched(struct fo_sched *s);

static void fo__on_member_timer_closed(uv_handle_t *h)
{
    struct fo__member *m = h->data;
    if (--m->open_timers > 0)
        return;
    struct fo_sched *s = m->s;
    /* Destroyed from a close callback, never from inside one of the plugin's own callbacks. */
    fo__member_free(m);
    s->pending--;
    fo__maybe_free_sched(s);
}

static void fo__retire(struct fo__member *m)
{
    if (m->in_flight) {
        m->in_flight = 0;
        m->plugin->cancel(m->inst);
    }
    m->s->pending++;
    m->open_timers = 2;
    uv_close((uv_handle_t *)&m->tick, fo__on_member_timer_closed);
    uv_close((uv_handle_t *)&m->timeout, fo__on_member_timer_closed);
}

/* ---- TILT ---- */

static void fo__tilt_feed(struct fo_sched *s, int64_t mono_ms, int64_t wall_ms)
{
    int r = fo_tilt_tick(&s->tilt, mono_ms, wall_ms, s->tilt.stable_ms);
    if (r > 0) {
        fo_event(FO_LOG_WARN, "tilt.enter", "reason", s->tilt.reason, NULL);
    } else if (r < 0) {
        char d[32];
        snprintf(d, sizeof(d), "%lld", (long long)(s->tilt.left_mono_ms - s->tilt.since_mono_ms));
        fo_event(FO_LOG_INFO, "tilt.leave", "duration_ms", d, NULL);
    }
}

static void fo__on_tilt_timer(uv_timer_t *t)
{
    struct fo_sched *s = t->data;
    fo__tilt_feed(s, fo_clock_mono_ms(), fo_clock_wall_ms());
}

/* ---- runs ---- */

static void fo__finish(struct fo__member *m)
{
    struct fo_sched *s = m->s;
    struct fo_member_state *st = &m->pub.state;
    struct fo_result *l = &st->last;
    int64_t end_ns = fo__mono_ns();
    int64_t mono = end_ns / 1000000, wall = fo_clock_wall_ms();

    if (!(l->latency_ms >= 0))
        l->latency_ms = (double)(end_ns - m->start_ns) / 1e6;
    if ((unsigned)l->status > FO_STATUS_UNKNOWN) {
        snprintf(l->message, sizeof(l->message), "plugin error: invalid status %d", (int)l->status);
        l->status = FO_STATUS_UNKNOWN;
    }
    /* Judge TILT now, not only on its timer: after a stall this run's timeout may fire before
     * the TILT timer does, and its critical would be our hiccup. */
    fo__tilt_feed(s, mono, wall);
    if (l->status == FO_STATUS_CRITICAL && fo_tilt_covers(&s->tilt, m->start_ns / 1000000)) {
        char msg[FO_MESSAGE_MAX];
        snprintf(msg, sizeof(msg), "tilt: %.*s", (int)sizeof(msg) - 7, l->message);
        memcpy(l->message, msg, sizeof(msg));
        l->status = FO_STATUS_UNKNOWN;
    }
    enum fo_status was = st->hyst.status;
    int changed = fo_member_state_record(st, &m->pub.service->check, l, wall, mono);
    if (changed)
        fo_event(FO_LOG_INFO, "check.status", "service", m->target.service, "member",
                 m->target.member, "status", fo_status_name(st->hyst.status), "was",
                 fo_status_name(was), "message", l->message, NULL);
    if (s->on_result)
        s->on_result(&m->pub, changed, s->on_result_arg);
}

static void fo__on_done(void *cookie, const struct fo_result *r)
{
    struct fo__member *m = cookie;
    if (!m->in_flight) {
        fo_warn("plugin %s: result for %s/%s after cancel or twice, ignored", m->plugin->name,
                m->target.service, m->target.member);
        return;
    }
    m->in_flight = 0;
    uv_timer_stop(&m->timeout);
    fo_result_copy(&m->pub.state.last, r);
    fo__finish(m);
}

static void fo__on_timeout(uv_timer_t *t)
{
    struct fo__member *m = t->data;
    if (!m->in_flight)
        return;
    m->in_flight = 0;
    m->plugin->cancel(m->inst);
    m->pub.state.timeouts++;
    struct fo_result *l = &m->pub.state.last;
    l->nfacts = 0;
    l->latency_ms = -1;
    fo_result_set(l, FO_STATUS_CRITICAL, "timeout after %u ms", m->target.timeout_ms);
    fo__finish(m);
}

/* ---- timing (pure: fo_sched_plan_* take the clock and randomness as arguments) ---- */

int64_t fo_sched_plan_first(int64_t now_ms, uint32_t interval_ms, uint64_t rnd)
{
    return now_ms + (int64_t)(rnd % interval_ms);
}

int64_t fo_sched_plan_next(int64_t base_ms, uint32_t interval_ms, int64_t now_ms)
{
    int64_t iv = interval_ms, next = base_ms + iv;
    /* Late by more than an interval (a stall): skip the missed runs but keep this member's
     * phase, so that members stay spread instead of all firing together from now on. */
    if (next <= now_ms)
        next += ((now_ms - next) / iv + 1) * iv;
    return next;
}

int64_t fo_sched_plan_due(int64_t base_ms, uint32_t jitter_ms, uint64_t rnd)
{
    return base_ms + (jitter_ms ? (int64_t)(rnd % (jitter_ms + 1ull)) : 0);
}

static void fo__on_tick(uv_timer_t *t);

static void fo__arm(struct fo__member *m, int64_t now)
{
    uint32_t jitter = m->pub.service->check.jitter_ms;
    int64_t due = fo_sched_plan_due(m->next_base_ms, jitter, jitter ? fo__rand(m->s) : 0);
    uv_timer_start(&m->tick, fo__on_tick, due > now ? (uint64_t)(due - now) : 0, 0);
}

static void fo__on_tick(uv_timer_t *t)
{
    struct fo__member *m = t->data;
    int64_t now = (int64_t)uv_now(m->s->loop);
    m->next_base_ms = fo_sched_plan_next(m->next_base_ms, m->target.interval_ms, now);
    fo__arm(m, now);

    if (m->in_flight) {
        m->pub.state.overlaps_skipped++;
        return;
    }
    m->in_flight = 1;
    m->start_ns = fo__mono_ns();
    int rc = m->plugin->start(m->inst, fo__on_done, m);
    if (rc >= 0 && m->in_flight) {
        /* Armed after start() (same loop time, so the same deadline): a plugin that answered
         * at once costs no timer-heap insert and removal, the bulk of a run's overhead. */
        uv_timer_start(&m->timeout, fo__on_timeout, m->target.timeout_ms, 0);
    } else if (rc < 0 && m->in_flight) {
        /* Our side broke, not the member: unknown (DESIGN.md rule 9). */
        m->in_flight = 0;
        struct fo_result *l = &m->pub.state.last;
        l->nfacts = 0;
        l->latency_ms = -1;
        fo_result_set(l, FO_STATUS_UNKNOWN, "plugin error: start failed: %s", fo_strerror(rc));
        fo__finish(m);
    }
}

/* ---- apply and validate ---- */

struct fo__kv {
    const char *svc, *mem;
    struct fo__member *m;
};

struct fo__tab {
    struct fo__kv *v;
    size_t cap;
};

static void fo__tab_init(struct fo__tab *t, size_t n)
{
    t->cap = 16;
    while (t->cap < 2 * n + 1)
        t->cap *= 2;
    t->v = fo_xcalloc(t->cap, sizeof(*t->v));
}

/* The slot of (svc, mem): its entry, or the empty slot where it belongs. */
static struct fo__kv *fo__tab_slot(struct fo__tab *t, const char *svc, const char *mem)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *p = svc; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull;
    for (const char *p = mem; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    for (size_t i = h & (t->cap - 1);; i = (i + 1) & (t->cap - 1))
        if (!t->v[i].svc || (strcmp(t->v[i].svc, svc) == 0 && strcmp(t->v[i].mem, mem) == 0))
            return &t->v[i];
}

static void fo__prep_drop(struct fo__prep *p)
{
    for (int i = 0; i < p->nfresh; i++)
        fo__member_free(p->fresh[i]);
    for (int i = 0; i < p->n; i++)
        free(p->svcs[i].members);
    free(p->svcs);
    free(p->fresh);
    memset(p, 0, sizeof(*p));
}

static void fo__prep_service(struct fo_sched *s, const struct fo_service_def *sd,
                             struct fo__svc *out, struct fo__tab *old, struct fo__tab *seen,
                             struct fo__prep *p)
{
    const struct fo_check_def *c = &sd->check;
    const char *where = fo__where(c);
    const struct fo_plugin *plugin = NULL;
    struct fo_err e = {0};

    out->def = sd;
    if (!sd->name || !*sd->name) {
        fo__error(s, "%s: services: a service has no name", where);
        return;
    }
    if (c->interval_ms == 0 || c->timeout_ms == 0)
        fo__error(s, "%s: services.%s.check: interval and timeout must be above 0", where,
                  sd->name);
    else if (fo_plugin_host_load(s->ph, c->type ? c->type : "", FO_PLUGIN_CHECK, &plugin, &e) < 0)
        fo__error(s, "%s: services.%s.check.type: %s", where, sd->name, e.msg);
    if (sd->nmembers > 0)
        out->members = fo_xcalloc((size_t)sd->nmembers, sizeof(*out->members));
    for (int j = 0; j < sd->nmembers; j++) {
        const struct fo_member_def *md = &sd->members[j];
        if (!md->name || !*md->name) {
            fo__error(s, "%s: services.%s.members: member %d has no name", where, sd->name, j);
            continue;
        }
        struct fo__kv *kv = fo__tab_slot(seen, sd->name, md->name);
        if (kv->svc) {
            fo__error(s, "%s: services.%s.members: duplicate member '%s'", where, sd->name,
                      md->name);
            continue;
        }
        kv->svc = sd->name;
        kv->mem = md->name;
        if (!plugin)
            continue;
        struct fo__member *was = fo__tab_slot(old, sd->name, md->name)->m;
        if (was && fo_check_def_same(was->pub.service, was->pub.member, sd, md)) {
            out->members[out->n++] = was;
            continue;
        }
        struct fo__member *m = fo__member_new(s, sd, md);
        struct fo_plugin_err pe = {{0}, {0}};
        m->plugin = plugin;
        p->fresh[p->nfresh++] = m;
        m->inst = plugin->init(fo_plugin_host_table(s->ph), m, &m->target, &pe);
        if (!m->inst)
            fo__init_error(s, sd, md, &pe);
        out->members[out->n++] = m;
    }
}

/* Builds the new member sets, initialising every new or changed instance; nothing running is
 * touched. Returns -FO_ECONFIG with s->errors filled when anything is wrong. */
static int fo__prepare(struct fo_sched *s, const struct fo_service_def *defs, int n,
                       struct fo__prep *p)
{
    struct fo__tab old, seen;
    size_t nold = 0, nnew = 0;

    fo__errors_reset(s);
    memset(p, 0, sizeof(*p));
    for (int i = 0; i < s->n; i++)
        nold += (size_t)s->svcs[i].n;
    for (int i = 0; i < n; i++)
        nnew += defs[i].nmembers > 0 ? (size_t)defs[i].nmembers : 0;
    fo__tab_init(&old, nold);
    fo__tab_init(&seen, nnew);
    for (int i = 0; i < s->n; i++)
        for (int j = 0; j < s->svcs[i].n; j++) {
            struct fo__member *m = s->svcs[i].members[j];
            struct fo__kv *kv = fo__tab_slot(&old, m->target.service, m->target.member);
            kv->svc = m->target.service;
            kv->mem = m->target.member;
            kv->m = m;
        }
    p->n = n;
    p->svcs = fo_xcalloc((size_t)(n > 0 ? n : 1), sizeof(*p->svcs));
    p->fresh = fo_xcalloc(nnew ? nnew : 1, sizeof(*p->fresh));
    for (int i = 0; i < n; i++)
        fo__prep_service(s, &defs[i], &p->svcs[i], &old, &seen, p);
    free(old.v);
    free(seen.v);
    return s->nerrors ? -FO_ECONFIG : 0;
}

static int fo__fail(struct fo_sched *s, struct fo_err *err)
{
    if (s->nerrors > 1)
        return fo_err_set(err, -FO_ECONFIG, "%.200s (and %d more)", s->first_error, s->nerrors - 1);
    return fo_err_set(err, -FO_ECONFIG, "%s", s->first_error);
}

static void fo__free_defs(struct fo_service_def *defs, int n)
{
    for (int i = 0; i < n; i++)
        fo_service_def_free(&defs[i]);
    free(defs);
}

static void fo__free_svcs(struct fo__svc *svcs, int n)
{
    for (int i = 0; i < n; i++)
        free(svcs[i].members);
    free(svcs);
}

static void fo__commit(struct fo_sched *s, struct fo_service_def *defs, int n, struct fo__prep *p)
{
    /* Preparing thousands of members takes a while: spread the first runs from the real now,
     * or they are all overdue and start in one burst. */
    uv_update_time(s->loop);
    int64_t now = (int64_t)uv_now(s->loop);
    int kept = 0, stopped = 0, total = 0;
    uint32_t longest = 0;

    for (int i = 0; i < p->n; i++)
        for (int j = 0; j < p->svcs[i].n; j++)
            if (p->svcs[i].members[j]->timers_live)
                p->svcs[i].members[j]->kept = 1;
    for (int i = 0; i < s->n; i++)
        for (int j = 0; j < s->svcs[i].n; j++) {
            struct fo__member *m = s->svcs[i].members[j];
            if (m->kept) {
                m->kept = 0;
                kept++;
            } else {
                fo__retire(m);
                stopped++;
            }
        }
    fo__free_svcs(s->svcs, s->n);
    fo__free_defs(s->defs, s->n);
    s->defs = defs;
    s->svcs = p->svcs;
    s->n = n;
    for (int i = 0; i < n; i++) {
        struct fo__svc *svc = &s->svcs[i];
        if (defs[i].check.interval_ms > longest)
            longest = defs[i].check.interval_ms;
        for (int j = 0; j < svc->n; j++) {
            struct fo__member *m = svc->members[j];
            m->svc = svc;
            m->pub.service = &defs[i];
            m->pub.member = &defs[i].members[j];
            total++;
            if (m->timers_live)
                continue;
            uv_timer_init(s->loop, &m->tick);
            uv_timer_init(s->loop, &m->timeout);
            m->tick.data = m;
            m->timeout.data = m;
            m->timers_live = 1;
            /* Spread first runs over one interval: 10 000 members must not start together. */
            m->next_base_ms = fo_sched_plan_first(now, m->target.interval_ms, fo__rand(s));
            fo__arm(m, now);
        }
    }
    free(p->fresh);
    memset(p, 0, sizeof(*p));
    fo_http_host_keep((size_t)total);
    s->generation++;
    s->tilt.stable_ms = 3 * (int64_t)longest;
    if (s->tilt.stable_ms < FO_TILT_STABLE_MIN_MS)
        s->tilt.stable_ms = FO_TILT_STABLE_MIN_MS;
    fo_info("checks applied: %d services, %d members (%d kept, %d started, %d stopped)", n, total,
            kept, total - kept, stopped);
}

int fo_sched_apply(struct fo_sched *s, struct fo_service_def *defs, int n, struct fo_err *err)
{
    struct fo__prep p;
    if (s->closing) {
        fo__free_defs(defs, n);
        return fo_err_set(err, -FO_EBUSY, "the scheduler is closing");
    }
    if (fo__prepare(s, defs, n, &p) < 0) {
        fo__prep_drop(&p);
        fo__free_defs(defs, n);
        return fo__fail(s, err);
    }
    fo__commit(s, defs, n, &p);
    return 0;
}

int fo_sched_validate(struct fo_sched *s, const struct fo_service_def *defs, int n,
                      struct fo_err *err)
{
    struct fo__prep p;
    int rc = fo__prepare(s, defs, n, &p);
    fo__prep_drop(&p);
    return rc < 0 ? fo__fail(s, err) : 0;
}

const char *fo_sched_errors(const struct fo_sched *s)
{
    return s->errors;
}

/* ---- the host's service_best_int ---- */

static int fo__best_int(void *self, const char *fact, int64_t *out)
{
    struct fo__member *me = self;
    if (!me || !me->svc || !fact || !out)
        return -1;
    int64_t now = fo_clock_mono_ms(), fresh = 3 * (int64_t)me->target.interval_ms, best = 0;
    int found = 0;
    for (int i = 0; i < me->svc->n; i++) {
        const struct fo_member_state *st = &me->svc->members[i]->pub.state;
        if (me->svc->members[i] == me || !st->last_mono_ms || now - st->last_mono_ms >= fresh)
            continue;
        const struct fo_fact *f = fo_result_get(&st->last, fact);
        if (f && f->type == FO_FACT_INT && (!found || f->i > best)) {
            best = f->i;
            found = 1;
        }
    }
    if (!found)
        return -1;
    *out = best;
    return 0;
}

/* ---- life cycle and reading ---- */

struct fo_sched *fo_sched_new(uv_loop_t *loop, const char *plugin_dir)
{
    int rc = fo_http_host_init(loop);
    if (rc < 0) {
        fo_error("checks: cannot start the HTTP host: %s", fo_strerror(rc));
        return NULL;
    }
#ifdef FO_PLUGIN_DIR
    if (!plugin_dir)
        plugin_dir = FO_PLUGIN_DIR;
#endif
    struct fo_sched *s = fo_xcalloc(1, sizeof(*s));
    s->loop = loop;
    s->ph = fo_plugin_host_new(loop, plugin_dir, fo__best_int);
    s->rng = ((uint64_t)fo__mono_ns() ^ ((uint64_t)getpid() << 32)) | 1;
    s->errors = fo_xstrdup("");
    s->svcs = NULL;
    uv_timer_init(loop, &s->tilt_timer);
    s->tilt_timer.data = s;
    fo_tilt_init(&s->tilt, FO_TILT_TICK_MS, fo_clock_mono_ms(), fo_clock_wall_ms());
    s->tilt.stable_ms = FO_TILT_STABLE_MIN_MS;
    uv_timer_start(&s->tilt_timer, fo__on_tilt_timer, FO_TILT_TICK_MS, FO_TILT_TICK_MS);
    return s;
}

void fo_sched_on_result(struct fo_sched *s, fo_sched_result_fn fn, void *arg)
{
    s->on_result = fn;
    s->on_result_arg = arg;
}

int fo_sched_nservices(const struct fo_sched *s)
{
    return s->n;
}

const struct fo_service_def *fo_sched_service(const struct fo_sched *s, int i)
{
    return i >= 0 && i < s->n ? s->svcs[i].def : NULL;
}

int fo_sched_nmembers(const struct fo_sched *s, int service)
{
    return service >= 0 && service < s->n ? s->svcs[service].n : 0;
}

const struct fo_sched_member *fo_sched_member(const struct fo_sched *s, int service, int member)
{
    if (service < 0 || service >= s->n || member < 0 || member >= s->svcs[service].n)
        return NULL;
    return &s->svcs[service].members[member]->pub;
}

const struct fo_tilt *fo_sched_tilt(const struct fo_sched *s)
{
    return &s->tilt;
}

uint64_t fo_sched_generation(const struct fo_sched *s)
{
    return s->generation;
}

static void fo__maybe_free_sched(struct fo_sched *s)
{
    if (!s->closing || s->pending > 0)
        return;
    fo__free_svcs(s->svcs, s->n);
    fo__free_defs(s->defs, s->n);
    fo_plugin_host_free(s->ph);
    free(s->errors);
    free(s);
    fo_http_host_close();
}

static void fo__on_tilt_closed(uv_handle_t *h)
{
    struct fo_sched *s = h->data;
    s->pending--;
    fo__maybe_free_sched(s);
}

void fo_sched_close(struct fo_sched *s)
{
    if (!s || s->closing)
        return;
    s->closing = 1;
    for (int i = 0; i < s->n; i++)
        for (int j = 0; j < s->svcs[i].n; j++)
            fo__retire(s->svcs[i].members[j]);
    s->pending++;
    uv_close((uv_handle_t *)&s->tilt_timer, fo__on_tilt_closed);
}
