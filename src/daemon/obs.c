/* Observation reports between agents and the leader. A report says what the observer itself
 * concluded (confirmed status and streak, after its own rise/fall), the epoch and config it
 * judged under, and, for replicas, whether they still stream from their primary (rule 3). */
#include "daemon/obs.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "state/state.h"

#define FO_OBS_MAX_BYTES     (4u << 20)
#define FO_OBS_WAL_SILENCE_S 35.0
#define FO_OBS_AGE_MAX_MS    (24 * 3600 * 1000)

static const struct fo_fact *fo__fact(const struct fo_result *r, const char *name)
{
    return fo_result_get(r, name);
}

/* Does a replica still stream from its primary? PostgreSQL: wal receiver streaming and its
 * last message recent; Redis: master_link_status up. Sets link_known only when facts say. */
static void fo__link(const struct fo_result *r, struct fo_detect_obs *o)
{
    const struct fo_fact *role = fo__fact(r, "role");
    if (!role || role->type != FO_FACT_STR)
        return;
    snprintf(o->role, sizeof(o->role), "%.15s", role->s);
    const struct fo_fact *wr = fo__fact(r, "wal_receiver_status");
    const struct fo_fact *age = fo__fact(r, "wal_receiver_last_msg_age_s");
    const struct fo_fact *ml = fo__fact(r, "master_link_status");
    if (wr && wr->type == FO_FACT_STR) {
        o->link_known = 1;
        /* an idle primary sends keepalives every wal_sender_timeout / 2 (30 s by default): only
         * silence beyond that means the replica has lost it */
        o->link_up = strcmp(wr->s, "streaming") == 0 &&
                     !(age && age->type == FO_FACT_DOUBLE && age->d > FO_OBS_WAL_SILENCE_S);
    } else if (ml && ml->type == FO_FACT_STR) {
        o->link_known = 1;
        o->link_up = strcmp(ml->s, "up") == 0;
    }
}

void fo_obs_from_member(const struct fo_sched_member *m, const struct fo_state *st,
                        const char *config_hash, int tilt, int64_t now_mono_ms,
                        struct fo_detect_obs *out)
{
    const struct fo_hyst *h = &m->state.hyst;
    memset(out, 0, sizeof(*out));
    out->status = h->status;
    out->streak = h->status == FO_STATUS_CRITICAL  ? h->bad
                  : h->status == FO_STATUS_UNKNOWN ? h->unknown
                                                   : h->good;
    out->tilt = tilt;
    out->epoch = st ? fo_state_epoch(st, m->service->name) : 0;
    snprintf(out->config_hash, sizeof(out->config_hash), "%s", config_hash ? config_hash : "");
    out->age_ms = m->state.last_wall_ms ? now_mono_ms - m->state.last_mono_ms : INT32_MAX;
    /* our own hiccup is never evidence against a member (rule 8) */
    if (tilt && out->status == FO_STATUS_CRITICAL)
        out->status = FO_STATUS_UNKNOWN;
    if (m->state.last_wall_ms)
        fo__link(&m->state.last, out);
}

static struct json_object *fo__obs_json(const struct fo_sched_member *m,
                                        const struct fo_detect_obs *o)
{
    struct json_object *j = json_object_new_object();
    json_object_object_add(j, "s", json_object_new_string(m->service->name));
    json_object_object_add(j, "m", json_object_new_string(m->member->name));
    json_object_object_add(j, "st", json_object_new_int(o->status));
    json_object_object_add(j, "k", json_object_new_int(o->streak));
    json_object_object_add(j, "age", json_object_new_int64(o->age_ms));
    json_object_object_add(j, "ep", json_object_new_int64((int64_t)o->epoch));
    if (o->role[0])
        json_object_object_add(j, "role", json_object_new_string(o->role));
    if (o->link_known) {
        json_object_object_add(j, "lk", json_object_new_boolean(1));
        json_object_object_add(j, "lu", json_object_new_boolean(o->link_up));
    }
    return j;
}

char *fo_obs_encode(const struct fo_sched *s, const struct fo_sched_member *only,
                    const struct fo_state *st, const char *config_hash, int64_t now_mono_ms,
                    size_t *len)
{
    const struct fo_tilt *t = fo_sched_tilt(s);
    int tilt = t && t->active;
    struct json_object *root = json_object_new_object(), *arr = json_object_new_array();
    struct fo_detect_obs o;
    json_object_object_add(root, "hash", json_object_new_string(config_hash ? config_hash : ""));
    json_object_object_add(root, "tilt", json_object_new_boolean(tilt));
    if (only) {
        fo_obs_from_member(only, st, config_hash, tilt, now_mono_ms, &o);
        json_object_array_add(arr, fo__obs_json(only, &o));
    } else {
        for (int i = 0; i < fo_sched_nservices(s); i++)
            for (int j = 0; j < fo_sched_nmembers(s, i); j++) {
                const struct fo_sched_member *m = fo_sched_member(s, i, j);
                fo_obs_from_member(m, st, config_hash, tilt, now_mono_ms, &o);
                json_object_array_add(arr, fo__obs_json(m, &o));
            }
    }
    json_object_object_add(root, "obs", arr);
    size_t n;
    const char *txt = json_object_to_json_string_length(root, JSON_C_TO_STRING_PLAIN, &n);
    char *out = fo_xmalloc(n + 1);
    memcpy(out, txt, n + 1);
    *len = n;
    json_object_put(root);
    return out;
}

static int fo__get(struct json_object *o, const char *k, json_type t, struct json_object **v)
{
    return json_object_object_get_ex(o, k, v) && json_object_is_type(*v, t);
}

int fo_obs_apply(struct fo_detect *d, const char *agent_id, const void *buf, size_t len,
                 int64_t now_mono_ms)
{
    if (len > FO_OBS_MAX_BYTES)
        return -FO_EPROTO;
    struct json_tokener *tok = json_tokener_new_ex(16);
    struct json_object *root = json_tokener_parse_ex(tok, buf, (int)len), *hash, *tilt, *arr;
    int n = -FO_EPROTO;
    json_tokener_free(tok);
    if (!root || !fo__get(root, "hash", json_type_string, &hash) ||
        !fo__get(root, "tilt", json_type_boolean, &tilt) ||
        !fo__get(root, "obs", json_type_array, &arr))
        goto out;
    n = 0;
    for (size_t i = 0; i < json_object_array_length(arr); i++) {
        struct json_object *e = json_object_array_get_idx(arr, i), *s, *m, *st, *k, *age, *ep, *v;
        if (!fo__get(e, "s", json_type_string, &s) || !fo__get(e, "m", json_type_string, &m) ||
            !fo__get(e, "st", json_type_int, &st) || !fo__get(e, "k", json_type_int, &k) ||
            !fo__get(e, "age", json_type_int, &age) || !fo__get(e, "ep", json_type_int, &ep))
            continue;
        int status = json_object_get_int(st);
        if (status < FO_STATUS_OK || status > FO_STATUS_UNKNOWN)
            continue;
        struct fo_detect_obs o;
        memset(&o, 0, sizeof(o));
        o.status = (enum fo_status)status;
        o.streak = json_object_get_int(k);
        o.age_ms = json_object_get_int64(age);
        if (o.age_ms < 0 || o.age_ms > FO_OBS_AGE_MAX_MS)
            o.age_ms = FO_OBS_AGE_MAX_MS; /* nonsense: stale, and no overflow when aged */
        o.epoch = (uint64_t)json_object_get_int64(ep);
        o.tilt = json_object_get_boolean(tilt);
        snprintf(o.config_hash, sizeof(o.config_hash), "%s", json_object_get_string(hash));
        if (fo__get(e, "role", json_type_string, &v))
            snprintf(o.role, sizeof(o.role), "%s", json_object_get_string(v));
        if (fo__get(e, "lk", json_type_boolean, &v) && json_object_get_boolean(v)) {
            o.link_known = 1;
            o.link_up = fo__get(e, "lu", json_type_boolean, &v) && json_object_get_boolean(v);
        }
        if (fo_detect_report(d, agent_id, json_object_get_string(s), json_object_get_string(m), &o,
                             now_mono_ms) == 0)
            n++;
    }
out:
    json_object_put(root);
    return n;
}
