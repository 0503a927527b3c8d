/* Observation matrix and verdicts. Rows are members (hashed by service/member), columns are the
 * observing agents; each cell keeps the last report and when the leader received it. Missing,
 * stale, TILT, other-epoch and other-config reports never count as down. */
#include "detect/detect.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fo.h"

struct fo__cell {
    int have;
    int64_t recv_ms;
    struct fo_detect_obs obs;
};

struct fo__row {
    char *service;
    char *member;
    uint64_t hash;
    struct fo__row *next_in_service; /* rows of one service, for rule 3 */
    struct fo__cell cells[FO_DETECT_AGENTS_MAX];
};

struct fo__svc {
    char *name;
    struct fo__row *rows;
};

struct fo_detect {
    int quorum;
    int64_t stale_after_ms;
    char config_hash[FO_DETECT_HASH_MAX];
    int nagents;
    char agent_id[FO_DETECT_AGENTS_MAX][FO_DETECT_ID_MAX];
    char agent_zone[FO_DETECT_AGENTS_MAX][FO_DETECT_ID_MAX];
    struct fo__row **rows; /* open addressing */
    size_t cap, n, max_rows;
    struct fo__svc *svcs;
    int nsvcs;
};

static uint64_t fo__hash(const char *service, const char *member)
{
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = service; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    h = (h ^ 0xff) * 1099511628211ULL;
    for (const char *p = member; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    return h;
}

struct fo_detect *fo_detect_new(int quorum, int64_t stale_after_ms, const char *config_hash)
{
    struct fo_detect *d = fo_xcalloc(1, sizeof(*d));
    d->cap = 64;
    d->rows = fo_xcalloc(d->cap, sizeof(*d->rows));
    fo_detect_configure(d, quorum, stale_after_ms, config_hash);
    return d;
}

void fo_detect_configure(struct fo_detect *d, int quorum, int64_t stale_after_ms,
                         const char *config_hash)
{
    d->quorum = quorum;
    d->stale_after_ms = stale_after_ms;
    snprintf(d->config_hash, sizeof(d->config_hash), "%s", config_hash ? config_hash : "");
}

void fo_detect_limit(struct fo_detect *d, size_t max_rows)
{
    d->max_rows = max_rows;
}

void fo_detect_clear(struct fo_detect *d)
{
    for (size_t i = 0; i < d->cap; i++)
        if (d->rows[i])
            memset(d->rows[i]->cells, 0, sizeof(d->rows[i]->cells));
}

void fo_detect_free(struct fo_detect *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->cap; i++) {
        if (d->rows[i]) {
            free(d->rows[i]->service);
            free(d->rows[i]->member);
            free(d->rows[i]);
        }
    }
    for (int i = 0; i < d->nsvcs; i++)
        free(d->svcs[i].name);
    free(d->svcs);
    free(d->rows);
    free(d);
}

int fo_detect_agent(struct fo_detect *d, const char *agent_id, const char *zone)
{
    for (int i = 0; i < d->nagents; i++)
        if (strcmp(d->agent_id[i], agent_id) == 0) {
            snprintf(d->agent_zone[i], FO_DETECT_ID_MAX, "%s", zone);
            return i;
        }
    if (d->nagents >= FO_DETECT_AGENTS_MAX || strlen(agent_id) >= FO_DETECT_ID_MAX)
        return -FO_ETOOBIG;
    snprintf(d->agent_id[d->nagents], FO_DETECT_ID_MAX, "%s", agent_id);
    snprintf(d->agent_zone[d->nagents], FO_DETECT_ID_MAX, "%s", zone);
    return d->nagents++;
}

static int fo__agent_slot(const struct fo_detect *d, const char *agent_id)
{
    for (int i = 0; i < d->nagents; i++)
        if (strcmp(d->agent_id[i], agent_id) == 0)
            return i;
    return -1;
}

static struct fo__row *fo__find(const struct fo_detect *d, const char *service, const char *member)
{
    uint64_t h = fo__hash(service, member);
    for (size_t i = h & (d->cap - 1);; i = (i + 1) & (d->cap - 1)) {
        struct fo__row *r = d->rows[i];
        if (!r)
            return NULL;
        if (r->hash == h && strcmp(r->service, service) == 0 && strcmp(r->member, member) == 0)
            return r;
    }
}

static void fo__insert(struct fo_detect *d, struct fo__row *r)
{
    size_t i = r->hash & (d->cap - 1);
    while (d->rows[i])
        i = (i + 1) & (d->cap - 1);
    d->rows[i] = r;
}

static struct fo__row *fo__get(struct fo_detect *d, const char *service, const char *member)
{
    struct fo__row *r = fo__find(d, service, member);
    if (r)
        return r;
    if (d->max_rows && d->n >= d->max_rows)
        return NULL;
    if ((d->n + 1) * 10 > d->cap * 7) {
        struct fo__row **old = d->rows;
        size_t oldcap = d->cap;
        d->cap *= 2;
        d->rows = fo_xcalloc(d->cap, sizeof(*d->rows));
        for (size_t i = 0; i < oldcap; i++)
            if (old[i])
                fo__insert(d, old[i]);
        free(old);
    }
    r = fo_xcalloc(1, sizeof(*r));
    r->service = fo_xstrdup(service);
    r->member = fo_xstrdup(member);
    r->hash = fo__hash(service, member);
    fo__insert(d, r);
    d->n++;
    struct fo__svc *s = NULL;
    for (int i = 0; i < d->nsvcs && !s; i++)
        if (strcmp(d->svcs[i].name, service) == 0)
            s = &d->svcs[i];
    if (!s) {
        d->svcs = fo_xrealloc(d->svcs, (size_t)(d->nsvcs + 1) * sizeof(*d->svcs));
        s = &d->svcs[d->nsvcs++];
        s->name = fo_xstrdup(service);
        s->rows = NULL;
    }
    r->next_in_service = s->rows;
    s->rows = r;
    return r;
}

int fo_detect_report(struct fo_detect *d, const char *agent_id, const char *service,
                     const char *member, const struct fo_detect_obs *obs, int64_t now_ms)
{
    int slot = fo__agent_slot(d, agent_id);
    if (slot < 0)
        return -FO_ENOENT;
    struct fo__row *r = fo__get(d, service, member);
    if (!r)
        return -FO_ENOSPC;
    r->cells[slot].have = 1;
    r->cells[slot].recv_ms = now_ms;
    r->cells[slot].obs = *obs;
    return 0;
}

/* Age of a report as the leader sees it: time since receipt plus its age when sent. */
static int64_t fo__age(const struct fo__cell *c, int64_t now_ms)
{
    int64_t a = now_ms - c->recv_ms;
    return (a < 0 ? 0 : a) + (c->obs.age_ms > 0 ? c->obs.age_ms : 0);
}

/* A report counts at all when fresh, not taken in TILT and of the adopted config. */
static int fo__valid(const struct fo_detect *d, const struct fo__cell *c, int64_t now_ms)
{
    return c->have && fo__age(c, now_ms) <= d->stale_after_ms && !c->obs.tilt &&
           strcmp(c->obs.config_hash, d->config_hash) == 0;
}

static int fo__is_replica(const char *role)
{
    return strcmp(role, "standby") == 0 || strcmp(role, "replica") == 0;
}

/* Rule 3: do most reachable replicas of the service also see their primary lost? Returns 1 when
 * yes (or when no replica's view is known), 0 when they still stream. */
static int fo__replicas_lost(const struct fo_detect *d, const char *service, const char *member,
                             int64_t now_ms, int *streaming, int *lost)
{
    *streaming = *lost = 0;
    for (int i = 0; i < d->nsvcs; i++) {
        if (strcmp(d->svcs[i].name, service) != 0)
            continue;
        for (const struct fo__row *r = d->svcs[i].rows; r; r = r->next_in_service) {
            if (strcmp(r->member, member) == 0)
                continue;
            /* the freshest valid report of that replica that knows its link */
            const struct fo__cell *best = NULL;
            for (int a = 0; a < d->nagents; a++) {
                const struct fo__cell *c = &r->cells[a];
                if (!fo__valid(d, c, now_ms) || !c->obs.link_known ||
                    !fo__is_replica(c->obs.role) || c->obs.status == FO_STATUS_CRITICAL ||
                    c->obs.status == FO_STATUS_UNKNOWN)
                    continue;
                if (!best || fo__age(c, now_ms) < fo__age(best, now_ms))
                    best = c;
            }
            if (best) {
                if (best->obs.link_up)
                    (*streaming)++;
                else
                    (*lost)++;
            }
        }
    }
    return *streaming + *lost == 0 || *lost * 2 > *streaming + *lost;
}

struct fo_verdict fo_detect_judge(const struct fo_detect *d, const char *service, const char *kind,
                                  const char *member, const char *member_zone, uint64_t epoch,
                                  int fall, int64_t now_ms)
{
    struct fo_verdict v = {.kind = FO_VERDICT_UP, .needed = d->quorum};
    const struct fo__row *r = fo__find(d, service, member);
    if (!r) {
        snprintf(v.reason, sizeof(v.reason), "no reports");
        return v;
    }
    char zones[FO_DETECT_AGENTS_MAX][FO_DETECT_ID_MAX];
    int nzones = 0, own_seen = 0, own_ok = 0;
    for (int a = 0; a < d->nagents; a++) {
        const struct fo__cell *c = &r->cells[a];
        if (!fo__valid(d, c, now_ms) || c->obs.epoch != epoch)
            continue;
        v.fresh++;
        int own = strcmp(d->agent_zone[a], member_zone) == 0;
        if (own) {
            own_seen = 1;
            if (c->obs.status == FO_STATUS_OK)
                own_ok = 1;
        }
        if (c->obs.status != FO_STATUS_CRITICAL || c->obs.streak < fall)
            continue;
        int dup = 0;
        for (int z = 0; z < nzones; z++)
            if (strcmp(zones[z], d->agent_zone[a]) == 0)
                dup = 1;
        if (!dup)
            snprintf(zones[nzones++], FO_DETECT_ID_MAX, "%s", d->agent_zone[a]);
    }
    v.critical = nzones;
    if (nzones < d->quorum || d->quorum <= 0) {
        snprintf(v.reason, sizeof(v.reason), "%d of %d zones report critical", nzones, d->quorum);
        return v;
    }
    if (own_ok) {
        v.kind = FO_VERDICT_VETOED;
        snprintf(v.reason, sizeof(v.reason), "own zone %s reports ok", member_zone);
        return v;
    }
    if (!own_seen) {
        v.kind = FO_VERDICT_ZONE_ISOLATED;
        snprintf(v.reason, sizeof(v.reason), "%d zones critical, no fresh report from own zone %s",
                 nzones, member_zone);
        return v;
    }
    if (strcmp(kind, "postgres") == 0 || strcmp(kind, "redis") == 0) {
        int streaming, lost;
        if (!fo__replicas_lost(d, service, member, now_ms, &streaming, &lost)) {
            v.kind = FO_VERDICT_OBSERVERS_PARTITIONED;
            snprintf(v.reason, sizeof(v.reason),
                     "%d zones critical but %d of %d replicas still stream", nzones, streaming,
                     streaming + lost);
            return v;
        }
    }
    v.kind = FO_VERDICT_DOWN;
    snprintf(v.reason, sizeof(v.reason), "%d zones report critical (quorum %d)", nzones, d->quorum);
    return v;
}

const char *fo_verdict_name(enum fo_verdict_kind k)
{
    switch (k) {
    case FO_VERDICT_UP:
        return "up";
    case FO_VERDICT_DOWN:
        return "down";
    case FO_VERDICT_ZONE_ISOLATED:
        return "zone_isolated";
    case FO_VERDICT_OBSERVERS_PARTITIONED:
        return "observers_partitioned";
    case FO_VERDICT_VETOED:
        return "vetoed";
    }
    return "unknown";
}

struct json_object *fo_detect_member_json(const struct fo_detect *d, const char *service,
                                          const char *member, int64_t now_ms)
{
    struct json_object *o = json_object_new_object();
    const struct fo__row *r = fo__find(d, service, member);
    for (int a = 0; a < d->nagents; a++) {
        struct json_object *cell = json_object_new_object();
        json_object_object_add(cell, "zone", json_object_new_string(d->agent_zone[a]));
        if (r && r->cells[a].have) {
            const struct fo__cell *c = &r->cells[a];
            json_object_object_add(
                cell, "status",
                json_object_new_string(c->obs.status == FO_STATUS_OK         ? "ok"
                                       : c->obs.status == FO_STATUS_WARNING  ? "warning"
                                       : c->obs.status == FO_STATUS_CRITICAL ? "critical"
                                                                             : "unknown"));
            json_object_object_add(cell, "streak", json_object_new_int(c->obs.streak));
            json_object_object_add(cell, "age_ms", json_object_new_int64(fo__age(c, now_ms)));
            json_object_object_add(cell, "fresh", json_object_new_boolean(fo__valid(d, c, now_ms)));
            json_object_object_add(cell, "tilt", json_object_new_boolean(c->obs.tilt));
            json_object_object_add(cell, "epoch", json_object_new_int64((int64_t)c->obs.epoch));
        } else {
            json_object_object_add(cell, "status", json_object_new_string("missing"));
            json_object_object_add(cell, "fresh", json_object_new_boolean(0));
        }
        json_object_object_add(o, d->agent_id[a], cell);
    }
    return o;
}
