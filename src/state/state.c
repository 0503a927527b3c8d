/* The replicated state, kept as one json-c tree so that snapshot, restore and /v1/status share
 * one representation. Every agent applies the same entries in the same order, so insertion
 * order, and with it the snapshot bytes, are the same everywhere. Rules 1 and 6 of DESIGN.md
 * (one failover per service at a time, decided on the current epoch; pause) are enforced here. */
#include "state/state.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "raft/entry.h"

#define FO_STATE_STR_MAX  256
#define FO_STATE_TEXT_MAX 2048
#define FO_STATE_WEBHOOKS 1024 /* remembered delivery ids (oldest dropped first) */
#define FO_STATE_OUTBOX   256

struct fo_state {
    struct json_object *root;
};

static struct json_object *fo__obj(struct json_object *parent, const char *key)
{
    struct json_object *o;
    if (json_object_object_get_ex(parent, key, &o) && json_object_is_type(o, json_type_object))
        return o;
    o = json_object_new_object();
    json_object_object_add(parent, key, o);
    return o;
}

static void fo__init(struct fo_state *st)
{
    st->root = json_object_new_object();
    json_object_object_add(st->root, "last_applied", json_object_new_int64(0));
    json_object_object_add(st->root, "adopted_hash", json_object_new_string(""));
    json_object_object_add(st->root, "voters", json_object_new_array());
    json_object_object_add(st->root, "services", json_object_new_object());
    json_object_object_add(st->root, "drained", json_object_new_object());
    json_object_object_add(st->root, "webhooks_seen", json_object_new_array());
    json_object_object_add(st->root, "outbox", json_object_new_array());
}

struct fo_state *fo_state_new(void)
{
    struct fo_state *st = fo_xcalloc(1, sizeof(*st));
    fo__init(st);
    return st;
}

void fo_state_free(struct fo_state *st)
{
    if (!st)
        return;
    json_object_put(st->root);
    free(st);
}

static int64_t fo__get_int(struct json_object *o, const char *key, int64_t dflt)
{
    struct json_object *v;
    if (o && json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_int))
        return json_object_get_int64(v);
    return dflt;
}

static const char *fo__get_str(struct json_object *o, const char *key)
{
    struct json_object *v;
    if (o && json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string))
        return json_object_get_string(v);
    return NULL;
}

uint64_t fo_state_last_applied(const struct fo_state *st)
{
    return (uint64_t)fo__get_int(st->root, "last_applied", 0);
}

static struct json_object *fo__service(const struct fo_state *st, const char *name, int create)
{
    struct json_object *svcs = fo__obj(st->root, "services"), *s;
    if (json_object_object_get_ex(svcs, name, &s))
        return s;
    if (!create)
        return NULL;
    s = json_object_new_object();
    json_object_object_add(s, "primary", NULL);
    json_object_object_add(s, "epoch", json_object_new_int64(0));
    json_object_object_add(s, "failover", NULL);
    json_object_object_add(s, "paused", NULL);
    json_object_object_add(s, "needs_human", json_object_new_boolean(0));
    json_object_object_add(s, "last_failover_end_ts", json_object_new_int64(0));
    json_object_object_add(s, "lb", json_object_new_object());
    json_object_object_add(svcs, name, s);
    return s;
}

uint64_t fo_state_epoch(const struct fo_state *st, const char *service)
{
    return (uint64_t)fo__get_int(fo__service(st, service, 0), "epoch", 0);
}

const char *fo_state_primary(const struct fo_state *st, const char *service)
{
    return fo__get_str(fo__service(st, service, 0), "primary");
}

const char *fo_state_adopted_hash(const struct fo_state *st)
{
    return fo__get_str(st->root, "adopted_hash");
}

/* ---- validation helpers: each fails with a reason naming the field ---- */

struct fo__cmd {
    struct json_object *o;
    char *reason;
    size_t reason_n;
};

static int fo__reject(struct fo__cmd *c, const char *fmt, const char *field)
{
    snprintf(c->reason, c->reason_n, fmt, field);
    return -FO_EREJECTED;
}

static int fo__str(struct fo__cmd *c, const char *key, int required, size_t max, const char **out)
{
    struct json_object *v;
    *out = NULL;
    if (!json_object_object_get_ex(c->o, key, &v) || json_object_is_type(v, json_type_null))
        return required ? fo__reject(c, "missing field '%s'", key) : 0;
    if (!json_object_is_type(v, json_type_string))
        return fo__reject(c, "field '%s' must be a string", key);
    size_t n = (size_t)json_object_get_string_len(v);
    if ((required && n == 0) || n > max)
        return fo__reject(c, "field '%s' has a bad length", key);
    *out = json_object_get_string(v);
    return 0;
}

static int fo__int(struct fo__cmd *c, const char *key, int required, int64_t *out)
{
    struct json_object *v;
    *out = 0;
    if (!json_object_object_get_ex(c->o, key, &v))
        return required ? fo__reject(c, "missing field '%s'", key) : 0;
    if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0)
        return fo__reject(c, "field '%s' must be a non-negative integer", key);
    *out = json_object_get_int64(v);
    return 0;
}

static int fo__bool(struct fo__cmd *c, const char *key, int *out)
{
    struct json_object *v;
    if (!json_object_object_get_ex(c->o, key, &v) || !json_object_is_type(v, json_type_boolean))
        return fo__reject(c, "field '%s' must be true or false", key);
    *out = json_object_get_boolean(v);
    return 0;
}

static int fo__oneof(struct fo__cmd *c, const char *key, const char *v, const char *const *ok)
{
    for (; *ok; ok++)
        if (strcmp(v, *ok) == 0)
            return 0;
    return fo__reject(c, "field '%s' has an unknown value", key);
}

/* ---- commands ---- */

static int fo__service_primary(struct fo_state *st, struct fo__cmd *c)
{
    const char *svc, *member;
    int64_t epoch;
    int rc;
    if ((rc = fo__str(c, "service", 1, FO_STATE_STR_MAX, &svc)) ||
        (rc = fo__str(c, "member", 1, FO_STATE_STR_MAX, &member)) ||
        (rc = fo__int(c, "epoch", 1, &epoch)))
        return rc;
    struct json_object *s = fo__service(st, svc, 1), *fo;
    if ((uint64_t)epoch != fo_state_epoch(st, svc))
        return fo__reject(c, "epoch %s is not the service's current epoch", "given");
    if (json_object_object_get_ex(s, "failover", &fo) && fo) {
        const char *cand = fo__get_str(fo, "candidate");
        if (!cand || strcmp(cand, member) != 0)
            return fo__reject(c, "a failover is in flight for another %s", "candidate");
    }
    json_object_object_add(s, "primary", json_object_new_string(member));
    json_object_object_add(s, "epoch", json_object_new_int64(epoch + 1));
    return 0;
}

static int fo__failover_begin(struct fo_state *st, struct fo__cmd *c, int64_t ts)
{
    static const char *const triggers[] = {"auto", "manual", "pagerduty", "drill", NULL};
    const char *id, *svc, *trigger, *failed, *cand, *runbook;
    int64_t epoch, deadline;
    int rc;
    if ((rc = fo__str(c, "id", 1, 64, &id)) ||
        (rc = fo__str(c, "service", 1, FO_STATE_STR_MAX, &svc)) ||
        (rc = fo__str(c, "trigger", 1, 16, &trigger)) ||
        (rc = fo__oneof(c, "trigger", trigger, triggers)) ||
        (rc = fo__str(c, "failed", 0, FO_STATE_STR_MAX, &failed)) ||
        (rc = fo__str(c, "candidate", 1, FO_STATE_STR_MAX, &cand)) ||
        (rc = fo__str(c, "runbook", 1, FO_STATE_STR_MAX, &runbook)) ||
        (rc = fo__int(c, "epoch", 1, &epoch)) || (rc = fo__int(c, "deadline_ms", 0, &deadline)))
        return rc;
    struct json_object *s = fo__service(st, svc, 1), *cur, *p;
    if ((uint64_t)epoch != fo_state_epoch(st, svc))
        return fo__reject(c, "decided on a stale %s", "epoch");
    if (json_object_object_get_ex(s, "failover", &cur) && cur)
        return fo__reject(c, "a failover of this service is already in %s", "flight");
    if (json_object_object_get_ex(s, "paused", &p) && p && strcmp(trigger, "manual") != 0)
        return fo__reject(c, "service is %s", "paused");
    if (json_object_get_boolean(json_object_object_get(s, "needs_human")) &&
        strcmp(trigger, "manual") != 0)
        return fo__reject(c, "service %s a human", "needs");
    struct json_object *f = json_object_new_object();
    json_object_object_add(f, "id", json_object_new_string(id));
    json_object_object_add(f, "trigger", json_object_new_string(trigger));
    json_object_object_add(f, "failed", failed ? json_object_new_string(failed) : NULL);
    json_object_object_add(f, "candidate", json_object_new_string(cand));
    json_object_object_add(f, "runbook", json_object_new_string(runbook));
    json_object_object_add(f, "epoch", json_object_new_int64(epoch));
    json_object_object_add(f, "begun_ts", json_object_new_int64(ts));
    json_object_object_add(f, "deadline_ts",
                           json_object_new_int64(ts + (deadline ? deadline : 5 * 60 * 1000)));
    json_object_object_add(f, "steps", json_object_new_object());
    json_object_object_add(s, "failover", f);
    return 0;
}

/* The service whose in-flight failover has this id, or NULL. */
static struct json_object *fo__failover_by_id(struct fo_state *st, const char *id,
                                              struct json_object **svc)
{
    json_object_object_foreach(fo__obj(st->root, "services"), name, s)
    {
        (void)name;
        struct json_object *f;
        if (json_object_object_get_ex(s, "failover", &f) && f &&
            strcmp(fo__get_str(f, "id"), id) == 0) {
            *svc = s;
            return f;
        }
    }
    return NULL;
}

static int fo__failover_step(struct fo_state *st, struct fo__cmd *c)
{
    static const char *const statuses[] = {"started", "done", "failed", "skipped", NULL};
    const char *id, *step, *status, *detail;
    int64_t duration;
    int rc;
    if ((rc = fo__str(c, "id", 1, 64, &id)) || (rc = fo__str(c, "step", 1, 64, &step)) ||
        (rc = fo__str(c, "status", 1, 16, &status)) ||
        (rc = fo__oneof(c, "status", status, statuses)) ||
        (rc = fo__str(c, "detail", 0, FO_STATE_TEXT_MAX, &detail)) ||
        (rc = fo__int(c, "duration", 0, &duration)))
        return rc;
    struct json_object *svc, *f = fo__failover_by_id(st, id, &svc);
    if (!f)
        return fo__reject(c, "no failover %s is in flight", "with this id");
    struct json_object *steps = fo__obj(f, "steps");
    const char *prev = fo__get_str(json_object_object_get(steps, step), "status");
    if (strcmp(status, "started") == 0
            ? (prev && strcmp(prev, "started") == 0)
            : (strcmp(status, "skipped") != 0 && (!prev || strcmp(prev, "started") != 0)))
        return fo__reject(c, "step status does not follow the previous %s", "status");
    struct json_object *s = json_object_new_object();
    json_object_object_add(s, "status", json_object_new_string(status));
    if (detail)
        json_object_object_add(s, "detail", json_object_new_string(detail));
    json_object_object_add(steps, step, s);
    return 0;
}

static int fo__failover_end(struct fo_state *st, struct fo__cmd *c, int64_t ts)
{
    static const char *const outcomes[] = {"success", "aborted", "failed", "timeout", NULL};
    const char *id, *outcome;
    int rc;
    if ((rc = fo__str(c, "id", 1, 64, &id)) || (rc = fo__str(c, "outcome", 1, 16, &outcome)) ||
        (rc = fo__oneof(c, "outcome", outcome, outcomes)))
        return rc;
    struct json_object *svc, *f = fo__failover_by_id(st, id, &svc);
    if (!f)
        return fo__reject(c, "no failover %s is in flight", "with this id");
    json_object_object_add(svc, "failover", NULL);
    json_object_object_add(svc, "last_failover_end_ts", json_object_new_int64(ts));
    if (strcmp(outcome, "success") != 0)
        json_object_object_add(svc, "needs_human", json_object_new_boolean(1));
    return 0;
}

static int fo__pause(struct fo_state *st, struct fo__cmd *c, const char *actor)
{
    const char *svc, *reason;
    int on, rc;
    int64_t until;
    if ((rc = fo__str(c, "service", 1, FO_STATE_STR_MAX, &svc)) || (rc = fo__bool(c, "on", &on)) ||
        (rc = fo__str(c, "reason", 0, FO_STATE_TEXT_MAX, &reason)) ||
        (rc = fo__int(c, "until", 0, &until)))
        return rc;
    struct json_object *s = fo__service(st, svc, 1), *p = NULL;
    if (on) {
        p = json_object_new_object();
        json_object_object_add(p, "actor", json_object_new_string(actor));
        json_object_object_add(p, "reason", json_object_new_string(reason ? reason : ""));
        json_object_object_add(p, "until", json_object_new_int64(until));
    }
    json_object_object_add(s, "paused", p);
    return 0;
}

static int fo__service_clear(struct fo_state *st, struct fo__cmd *c)
{
    const char *svc;
    int rc;
    if ((rc = fo__str(c, "service", 1, FO_STATE_STR_MAX, &svc)))
        return rc;
    struct json_object *s = fo__service(st, svc, 0);
    if (!s)
        return fo__reject(c, "unknown %s", "service");
    json_object_object_add(s, "needs_human", json_object_new_boolean(0));
    return 0;
}

static int fo__drain(struct fo_state *st, struct fo__cmd *c, const char *actor, int64_t ts)
{
    const char *zone, *reason;
    int on, rc;
    if ((rc = fo__str(c, "zone", 1, FO_STATE_STR_MAX, &zone)) || (rc = fo__bool(c, "on", &on)) ||
        (rc = fo__str(c, "reason", 0, FO_STATE_TEXT_MAX, &reason)))
        return rc;
    struct json_object *d = fo__obj(st->root, "drained");
    if (!on) {
        json_object_object_del(d, zone);
        return 0;
    }
    struct json_object *z = json_object_new_object();
    json_object_object_add(z, "actor", json_object_new_string(actor));
    json_object_object_add(z, "reason", json_object_new_string(reason ? reason : ""));
    json_object_object_add(z, "ts", json_object_new_int64(ts));
    json_object_object_add(d, zone, z);
    return 0;
}

static int fo__member_lb(struct fo_state *st, struct fo__cmd *c)
{
    static const char *const states[] = {"ready", "drain", "maint", NULL};
    const char *svc, *member, *state, *reason;
    int rc;
    if ((rc = fo__str(c, "service", 1, FO_STATE_STR_MAX, &svc)) ||
        (rc = fo__str(c, "member", 1, FO_STATE_STR_MAX, &member)) ||
        (rc = fo__str(c, "state", 1, 16, &state)) || (rc = fo__oneof(c, "state", state, states)) ||
        (rc = fo__str(c, "reason", 0, FO_STATE_TEXT_MAX, &reason)))
        return rc;
    struct json_object *m = json_object_new_object();
    json_object_object_add(m, "state", json_object_new_string(state));
    json_object_object_add(m, "reason", json_object_new_string(reason ? reason : ""));
    json_object_object_add(fo__obj(fo__service(st, svc, 1), "lb"), member, m);
    return 0;
}

/* Appends v to the array at key, dropping the oldest beyond max. */
static void fo__bounded_push(struct fo_state *st, const char *key, struct json_object *v, int max)
{
    struct json_object *a = json_object_object_get(st->root, key);
    if (json_object_array_length(a) >= (size_t)max)
        json_object_array_del_idx(a, 0, 1);
    json_object_array_add(a, v);
}

static int fo__webhook_seen(struct fo_state *st, struct fo__cmd *c)
{
    const char *id;
    int rc;
    if ((rc = fo__str(c, "id", 1, 128, &id)))
        return rc;
    struct json_object *a = json_object_object_get(st->root, "webhooks_seen");
    for (size_t i = 0; i < json_object_array_length(a); i++)
        if (strcmp(json_object_get_string(json_object_array_get_idx(a, i)), id) == 0)
            return fo__reject(c, "webhook delivery %s was already seen", "id");
    fo__bounded_push(st, "webhooks_seen", json_object_new_string(id), FO_STATE_WEBHOOKS);
    return 0;
}

static int fo__outbox(struct fo_state *st, struct fo__cmd *c)
{
    struct json_object *page;
    if (!json_object_object_get_ex(c->o, "page", &page) ||
        !json_object_is_type(page, json_type_object))
        return fo__reject(c, "field '%s' must be an object", "page");
    fo__bounded_push(st, "outbox", json_object_get(page), FO_STATE_OUTBOX);
    return 0;
}

static int fo__note(struct fo_state *st, struct fo__cmd *c)
{
    const char *text;
    return fo__str(c, "text", 1, FO_STATE_TEXT_MAX, &text);
}

static int fo__config_adopt(struct fo_state *st, struct fo__cmd *c)
{
    const char *hash;
    int rc;
    if ((rc = fo__str(c, "hash", 1, 64, &hash)))
        return rc;
    json_object_object_add(st->root, "adopted_hash", json_object_new_string(hash));
    return 0;
}

/* Dispatches a command; returns 0 or -FO_EREJECTED with c->reason set. */
static int fo__dispatch(struct fo_state *st, const char *type, struct fo__cmd *c, const char *actor,
                        int64_t ts)
{
    if (strcmp(type, "service.primary") == 0)
        return fo__service_primary(st, c);
    if (strcmp(type, "failover.begin") == 0)
        return fo__failover_begin(st, c, ts);
    if (strcmp(type, "failover.step") == 0)
        return fo__failover_step(st, c);
    if (strcmp(type, "failover.end") == 0)
        return fo__failover_end(st, c, ts);
    if (strcmp(type, "pause") == 0)
        return fo__pause(st, c, actor);
    if (strcmp(type, "service.clear") == 0)
        return fo__service_clear(st, c);
    if (strcmp(type, "drain") == 0)
        return fo__drain(st, c, actor, ts);
    if (strcmp(type, "member.lb") == 0)
        return fo__member_lb(st, c);
    if (strcmp(type, "webhook.seen") == 0)
        return fo__webhook_seen(st, c);
    if (strcmp(type, "outbox") == 0)
        return fo__outbox(st, c);
    if (strcmp(type, "note") == 0)
        return fo__note(st, c);
    if (strcmp(type, "config.adopt") == 0)
        return fo__config_adopt(st, c);
    return fo__reject(c, "unknown command type%s", "");
}

/* The command's fields without type/ts/actor: the audit record's details. */
static struct json_object *fo__details(struct json_object *o)
{
    struct json_object *d = json_object_new_object();
    if (!o || !json_object_is_type(o, json_type_object))
        return d;
    json_object_object_foreach(o, k, v)
    {
        if (strcmp(k, "type") && strcmp(k, "ts") && strcmp(k, "actor"))
            json_object_object_add(d, k, json_object_get(v));
    }
    return d;
}

static void fo__apply_command(struct fo_state *st, const void *data, size_t len,
                              struct fo_state_result *res)
{
    struct json_tokener *tok = json_tokener_new_ex(32);
    struct json_object *o = json_tokener_parse_ex(tok, data, (int)len);
    int complete = json_tokener_get_error(tok) == json_tokener_success &&
                   json_tokener_get_parse_end(tok) == len;
    json_tokener_free(tok);
    snprintf(res->action, sizeof(res->action), "invalid");
    if (!o || !complete || !json_object_is_type(o, json_type_object)) {
        snprintf(res->reason, sizeof(res->reason), "command is not a JSON object");
        res->details = json_object_new_object();
        json_object_put(o);
        return;
    }
    struct fo__cmd c = {o, res->reason, sizeof(res->reason)};
    const char *type = NULL, *actor = NULL;
    int64_t ts = 0;
    int rc;
    if (!(rc = fo__str(&c, "type", 1, 31, &type)))
        snprintf(res->action, sizeof(res->action), "%s", type);
    if (!rc && !(rc = fo__int(&c, "ts", 1, &ts)))
        res->ts = ts;
    if (!rc && !(rc = fo__str(&c, "actor", 1, 63, &actor)))
        snprintf(res->actor, sizeof(res->actor), "%s", actor);
    if (!rc)
        rc = fo__dispatch(st, type, &c, actor, ts);
    res->details = fo__details(o);
    res->accepted = rc == 0;
    if (!res->accepted)
        json_object_object_add(res->details, "rejected", json_object_new_string(res->reason));
    json_object_put(o);
}

int fo_state_apply(struct fo_state *st, uint64_t index, uint64_t term, int type, const void *data,
                   size_t len, struct fo_state_result *res)
{
    memset(res, 0, sizeof(*res));
    if (index != fo_state_last_applied(st) + 1)
        return -FO_EINVAL;
    snprintf(res->actor, sizeof(res->actor), "raft");
    if (type == FO_RAFT_ENTRY_NOOP) {
        res->accepted = 1;
        snprintf(res->action, sizeof(res->action), "raft.noop");
        res->details = json_object_new_object();
    } else if (type == FO_RAFT_ENTRY_CONFIG) {
        res->accepted = 1;
        snprintf(res->action, sizeof(res->action), "raft.config");
        res->details = json_object_new_object();
        json_object_object_add(res->details, "bytes", json_object_new_int64((int64_t)len));
    } else {
        fo__apply_command(st, data, len, res);
    }
    (void)term;
    json_object_object_add(st->root, "last_applied", json_object_new_int64((int64_t)index));
    return 0;
}

char *fo_state_snapshot(const struct fo_state *st, size_t *len)
{
    size_t n;
    const char *s = json_object_to_json_string_length(
        st->root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
    char *out = fo_xmalloc(n + 1);
    memcpy(out, s, n + 1);
    *len = n;
    return out;
}

int fo_state_restore(struct fo_state *st, const void *data, size_t len, struct fo_err *err)
{
    struct json_tokener *tok = json_tokener_new();
    struct json_object *o = json_tokener_parse_ex(tok, data, (int)len);
    int ok = json_tokener_get_error(tok) == json_tokener_success && o &&
             json_object_is_type(o, json_type_object) && json_object_object_get(o, "services") &&
             json_object_object_get(o, "last_applied");
    json_tokener_free(tok);
    if (!ok) {
        json_object_put(o);
        return fo_err_set(err, -FO_ECORRUPT, "state snapshot is not a valid state document");
    }
    json_object_put(st->root);
    st->root = o;
    return 0;
}

struct json_object *fo_state_json(const struct fo_state *st)
{
    struct json_object *o = NULL;
    json_object_deep_copy(st->root, &o, NULL);
    return o;
}

char *fo_state_command(const char *type, int64_t ts, const char *actor, struct json_object *fields,
                       size_t *len)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "type", json_object_new_string(type));
    json_object_object_add(o, "ts", json_object_new_int64(ts));
    json_object_object_add(o, "actor", json_object_new_string(actor));
    if (fields) {
        json_object_object_foreach(fields, k, v)
        {
            json_object_object_add(o, k, json_object_get(v));
        }
        json_object_put(fields);
    }
    size_t n;
    const char *s = json_object_to_json_string_length(
        o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
    char *out = fo_xmalloc(n + 1);
    memcpy(out, s, n + 1);
    *len = n;
    json_object_put(o);
    return out;
}
