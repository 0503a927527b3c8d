/* The cluster as operators see it: the "cluster" block of /v1/status (Raft, peers, audit head,
 * replicated state, the leader's detection matrix and verdicts), the audit and note routes, the
 * leader's verdict tick, and Raft/peer metrics. */
#include "config.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/http.h"
#include "api/metrics.h"
#include "core/clock.h"
#include "core/log.h"
#include "daemon/cluster_int.h"

#define FO_CLUSTER_WAIT_MS 5000
#define FO_AUDIT_PAGE_MAX  10000
#define FO_AUDIT_RAW_MAX   (64u << 20)

/* {"from","to"} of the records still to come from a peer after a snapshot, or NULL. */
static struct json_object *fo__catching_up(const struct fo_cluster *c)
{
    uint64_t from, to;
    if (!fo_audit_gap(c->audit, &from, &to))
        return NULL;
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "from", json_object_new_int64((int64_t)from));
    json_object_object_add(o, "to", json_object_new_int64((int64_t)to));
    return o;
}

/* ---- proposals that wait for their commit ---- */

static void fo__reply(struct fo_cluster *c, uint64_t req, int code, struct json_object *o)
{
    struct fo_api_resp resp = {0};
    fo_api_resp_json(&resp, code, o);
    if (c->api)
        fo_api_reply(c->api, req, &resp);
    else
        free(resp.body);
}

void fo__cluster_waits_applied(struct fo_cluster *c, uint64_t index, uint64_t term)
{
    struct fo_cluster_wait **pp = &c->waits;
    while (*pp) {
        struct fo_cluster_wait *w = *pp;
        if (w->index > index) {
            pp = &w->next;
            continue;
        }
        struct json_object *o = json_object_new_object();
        int ok = w->index == index && w->term == term;
        int code = ok ? 200 : w->index == index ? 503 : 504;
        /* 503: another entry took its index, the proposal was lost with its leader; 504: a
         * snapshot carried this agent past it, so its fate is unknown here (rule 2) */
        json_object_object_add(
            o, ok ? "index" : "error",
            ok            ? json_object_new_int64((int64_t)index)
            : code == 503 ? json_object_new_string("proposal lost in a leader change")
                          : json_object_new_string("overtaken by a snapshot: fate unknown"));
        json_object_object_add(o, "term", json_object_new_int64((int64_t)w->term));
        fo__reply(c, w->req, code, o);
        *pp = w->next;
        free(w);
    }
}

void fo__cluster_waits_expire(struct fo_cluster *c, int64_t now_ms, int all)
{
    struct fo_cluster_wait **pp = &c->waits;
    while (*pp) {
        struct fo_cluster_wait *w = *pp;
        if (!all && w->deadline_ms > now_ms) {
            pp = &w->next;
            continue;
        }
        /* fate unknown: it may still commit (DESIGN.md rule 2) */
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "error", json_object_new_string("commit not confirmed in time"));
        json_object_object_add(o, "index", json_object_new_int64((int64_t)w->index));
        fo__reply(c, w->req, 504, o);
        *pp = w->next;
        free(w);
    }
}

/* ---- routes ---- */

static struct json_object *fo__not_leader(struct fo_cluster *c)
{
    struct fo_raft_status st;
    fo_raft_status(c->raft, &st);
    struct json_object *o = json_object_new_object();
    const char *leader = fo__cluster_name(c, st.leader);
    json_object_object_add(o, "error", json_object_new_string("this agent is not the leader"));
    json_object_object_add(o, "leader", leader ? json_object_new_string(leader) : NULL);
    return o;
}

/* POST /v1/note {"text": "..."}: commits a note; answers once it is applied here. */
static void fo__route_note(struct fo_api_req *req, struct fo_api_resp *resp, void *arg)
{
    struct fo_cluster *c = arg;
    struct json_object *body = json_tokener_parse(req->body), *text;
    if (!body || !json_object_object_get_ex(body, "text", &text) ||
        !json_object_is_type(text, json_type_string)) {
        json_object_put(body);
        fo_api_resp_error(resp, 400, "expected a JSON object with a string field 'text'");
        return;
    }
    struct json_object *fields = json_object_new_object();
    json_object_object_add(fields, "text", json_object_get(text));
    json_object_put(body);
    uint64_t index, term;
    int rc = fo__cluster_propose(c, "note", req->actor, fields, &index, &term);
    if (rc == -FO_ENOTLEADER) {
        fo_api_resp_json(resp, 409, fo__not_leader(c));
        return;
    }
    if (rc < 0) {
        fo_api_resp_error(resp, 503, "proposal refused: %s", fo_strerror(rc));
        return;
    }
    struct fo_cluster_wait *w = fo_xcalloc(1, sizeof(*w));
    w->index = index;
    w->term = term;
    w->deadline_ms = fo_clock_boot_ms() + FO_CLUSTER_WAIT_MS;
    w->req = fo_api_defer(req);
    w->next = c->waits;
    c->waits = w;
}

/* POST /v1/transfer {"to": "agent"}: leadership transfer (switchover of the leader's host). */
static void fo__route_transfer(struct fo_api_req *req, struct fo_api_resp *resp, void *arg)
{
    struct fo_cluster *c = arg;
    struct json_object *body = json_tokener_parse(req->body), *to;
    uint64_t target = 0;
    if (body && json_object_object_get_ex(body, "to", &to))
        for (int i = 1; i < c->nnodes; i++)
            if (strcmp(c->nodes[i].name, json_object_get_string(to)) == 0)
                target = c->nodes[i].id;
    json_object_put(body);
    if (!target) {
        fo_api_resp_error(resp, 400, "expected {\"to\": \"<voter id>\"} naming another voter");
        return;
    }
    int rc = fo_raft_transfer(c->raft, target, fo_clock_boot_ms());
    if (rc == -FO_ENOTLEADER) {
        fo_api_resp_json(resp, 409, fo__not_leader(c));
        return;
    }
    if (rc < 0) {
        fo_api_resp_error(resp, 409, "transfer refused: %s", fo_strerror(rc));
        return;
    }
    fo_event(FO_LOG_INFO, "raft.transfer", "to", fo__cluster_name(c, target), "actor", req->actor,
             NULL);
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "transferring_to",
                           json_object_new_string(fo__cluster_name(c, target)));
    fo_api_resp_json(resp, 202, o);
}

/* GET /v1/audit?from=N&limit=M: records as JSON; GET /v1/audit/raw: the file as stored. */
static void fo__route_audit(struct fo_api_req *req, struct fo_api_resp *resp, void *arg)
{
    struct fo_cluster *c = arg;
    char *path = fo_xasprintf("%s/audit.log", c->data_dir);
    FILE *f = fopen(path, "r");
    free(path);
    if (!f) {
        fo_api_resp_error(resp, 404, "no audit log yet");
        return;
    }
    if (strcmp(req->rest, "raw") == 0) {
        char *buf = fo_xmalloc(FO_AUDIT_RAW_MAX);
        size_t n = fread(buf, 1, FO_AUDIT_RAW_MAX, f);
        fclose(f);
        resp->code = n == FO_AUDIT_RAW_MAX ? 413 : 200;
        resp->content_type = "text/plain";
        resp->body = buf;
        resp->len = n;
        return;
    }
    const char *qf = fo_api_req_query(req, "from"), *ql = fo_api_req_query(req, "limit");
    long long from = qf ? atoll(qf) : 0, limit = ql ? atoll(ql) : 1000;
    if (limit <= 0 || limit > FO_AUDIT_PAGE_MAX)
        limit = FO_AUDIT_PAGE_MAX;
    struct json_object *arr = json_object_new_array(), *idx;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0 && (long long)json_object_array_length(arr) < limit) {
        struct json_object *rec = json_tokener_parse(line);
        if (rec && json_object_object_get_ex(rec, "index", &idx) &&
            json_object_get_int64(idx) >= from)
            json_object_array_add(arr, rec);
        else
            json_object_put(rec);
    }
    free(line);
    fclose(f);
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "records", arr);
    json_object_object_add(o, "head_index",
                           json_object_new_int64((int64_t)fo_audit_head_index(c->audit)));
    json_object_object_add(o, "head_hash", json_object_new_string(fo_audit_head_hash(c->audit)));
    struct json_object *gap = fo__catching_up(c);
    if (gap) /* the file is verified but incomplete: records after head_index are on their way */
        json_object_object_add(o, "catching_up", gap);
    fo_api_resp_json(resp, 200, o);
}

void fo_cluster_routes(struct fo_cluster *c, struct fo_api *api)
{
    c->api = api;
    fo_api_route(api, "POST", "/v1/note", FO_ROLE_OPERATOR, fo__route_note, c);
    fo_api_route(api, "POST", "/v1/transfer", FO_ROLE_ADMIN, fo__route_transfer, c);
    fo_api_route(api, "GET", "/v1/audit", FO_ROLE_READ, fo__route_audit, c);
    fo_api_route(api, "GET", "/v1/audit/", FO_ROLE_READ, fo__route_audit, c);
}

/* ---- detection on the leader ---- */

static size_t fo__slot_count(const struct fo_sched *s)
{
    size_t n = 0;
    for (int i = 0; i < fo_sched_nservices(s); i++)
        n += (size_t)fo_sched_nmembers(s, i);
    return n;
}

static struct fo_verdict fo__judge(const struct fo_cluster *c, const struct fo_sched_member *m)
{
    return fo_detect_judge(c->detect, m->service->name, m->service->kind, m->member->name,
                           m->member->zone, fo_state_epoch(c->state, m->service->name),
                           m->service->check.fall, fo_clock_mono_ms());
}

void fo__cluster_detect_tick(struct fo_cluster *c)
{
    if (!fo_raft_is_leader(c->raft))
        return;
    size_t n = fo__slot_count(c->sched), k = 0;
    if (n != c->nverdicts) {
        free(c->verdicts);
        c->verdicts = fo_xcalloc(n ? n : 1, 1);
        c->nverdicts = n;
    }
    for (int i = 0; i < fo_sched_nservices(c->sched); i++)
        for (int j = 0; j < fo_sched_nmembers(c->sched, i); j++, k++) {
            const struct fo_sched_member *m = fo_sched_member(c->sched, i, j);
            struct fo_verdict v = fo__judge(c, m);
            if (v.kind == c->verdicts[k])
                continue;
            fo_event(v.kind == FO_VERDICT_DOWN ? FO_LOG_WARN : FO_LOG_INFO, "detect.verdict",
                     "service", m->service->name, "member", m->member->name, "verdict",
                     fo_verdict_name(v.kind), "was",
                     fo_verdict_name((enum fo_verdict_kind)c->verdicts[k]), "reason", v.reason,
                     NULL);
            c->verdicts[k] = (unsigned char)v.kind;
        }
}

static struct json_object *fo__detection_json(struct fo_cluster *c)
{
    struct json_object *o = json_object_new_object();
    int64_t now = fo_clock_mono_ms();
    json_object_object_add(o, "quorum", json_object_new_int(c->detect_quorum));
    json_object_object_add(o, "stale_after_ms", json_object_new_int64(c->stale_after_ms));
    struct json_object *svcs = json_object_new_object();
    for (int i = 0; i < fo_sched_nservices(c->sched); i++) {
        struct json_object *members = json_object_new_object();
        for (int j = 0; j < fo_sched_nmembers(c->sched, i); j++) {
            const struct fo_sched_member *m = fo_sched_member(c->sched, i, j);
            struct fo_verdict v = fo__judge(c, m);
            struct json_object *e = json_object_new_object();
            json_object_object_add(e, "verdict", json_object_new_string(fo_verdict_name(v.kind)));
            json_object_object_add(e, "reason", json_object_new_string(v.reason));
            json_object_object_add(e, "critical_zones", json_object_new_int(v.critical));
            json_object_object_add(e, "needed", json_object_new_int(v.needed));
            json_object_object_add(e, "fresh_reports", json_object_new_int(v.fresh));
            json_object_object_add(
                e, "matrix",
                fo_detect_member_json(c->detect, m->service->name, m->member->name, now));
            json_object_object_add(members, m->member->name, e);
        }
        json_object_object_add(svcs, fo_sched_service(c->sched, i)->name, members);
    }
    json_object_object_add(o, "services", svcs);
    return o;
}

struct json_object *fo_cluster_status_json(void *arg)
{
    struct fo_cluster *c = arg;
    struct fo_raft_status st;
    int64_t now = fo_clock_boot_ms();
    fo_raft_status(c->raft, &st);
    struct json_object *o = json_object_new_object();
    const char *leader = fo__cluster_name(c, st.leader);
    json_object_object_add(o, "id", json_object_new_string(c->cluster_id));
    json_object_object_add(o, "self", json_object_new_string(c->self_name));
    json_object_object_add(o, "role", json_object_new_string(fo_raft_state_name(st.state)));
    json_object_object_add(o, "term", json_object_new_int64((int64_t)st.term));
    json_object_object_add(o, "leader", leader ? json_object_new_string(leader) : NULL);
    json_object_object_add(o, "commit_index", json_object_new_int64((int64_t)st.commit));
    json_object_object_add(o, "applied_index",
                           json_object_new_int64((int64_t)fo_state_last_applied(c->state)));
    json_object_object_add(o, "last_index", json_object_new_int64((int64_t)st.last_index));
    json_object_object_add(o, "durable_index", json_object_new_int64((int64_t)st.durable));
    json_object_object_add(o, "snapshot_index", json_object_new_int64((int64_t)st.snapshot_index));
    int lease = fo__cluster_lease_valid(c, now);
    json_object_object_add(o, "lease_valid", json_object_new_boolean(lease));
    json_object_object_add(
        o, "lease_remaining_ms",
        json_object_new_int64(lease ? fo_raft_lease_remaining(c->raft, now) : 0));
    json_object_object_add(o, "ready_to_act",
                           json_object_new_boolean(fo_raft_ready_to_act(c->raft)));
    uint64_t ft, fi;
    if (fo_raft_fencing_token(c->raft, &ft, &fi) == 0) {
        struct json_object *tok = json_object_new_object();
        json_object_object_add(tok, "term", json_object_new_int64((int64_t)ft));
        json_object_object_add(tok, "index", json_object_new_int64((int64_t)fi));
        json_object_object_add(o, "fencing_token", tok);
    }
    if (c->storage_failed)
        json_object_object_add(o, "storage_failed", json_object_new_boolean(1));
    struct json_object *peers = json_object_new_array();
    int64_t mono = fo_clock_mono_ms();
    for (int i = 1; i < c->nnodes; i++) {
        struct fo_peer_stats ps;
        struct json_object *p = json_object_new_object();
        json_object_object_add(p, "id", json_object_new_string(c->nodes[i].name));
        json_object_object_add(p, "zone", json_object_new_string(c->nodes[i].zone));
        json_object_object_add(
            p, "address", c->nodes[i].address ? json_object_new_string(c->nodes[i].address) : NULL);
        if (c->peers && fo_peer_get_stats(c->peers, c->nodes[i].name, &ps) == 0) {
            json_object_object_add(p, "reachable", json_object_new_boolean(ps.connected));
            json_object_object_add(
                p, "last_seen_ms",
                ps.last_recv_mono_ms ? json_object_new_int64(mono - ps.last_recv_mono_ms) : NULL);
            uint64_t dropped = 0;
            for (int r = 0; r < FO_PEER_R__COUNT; r++)
                dropped += ps.drops[r];
            json_object_object_add(p, "frames_dropped", json_object_new_int64((int64_t)dropped));
        }
        uint64_t match, next;
        if (fo_raft_progress(c->raft, c->nodes[i].id, &match, &next) == 0)
            json_object_object_add(p, "match_index", json_object_new_int64((int64_t)match));
        json_object_array_add(peers, p);
    }
    json_object_object_add(o, "peers", peers);
    struct json_object *audit = json_object_new_object();
    json_object_object_add(audit, "index",
                           json_object_new_int64((int64_t)fo_audit_head_index(c->audit)));
    json_object_object_add(audit, "hash", json_object_new_string(fo_audit_head_hash(c->audit)));
    struct json_object *gap = fo__catching_up(c);
    if (gap)
        json_object_object_add(audit, "catching_up", gap);
    json_object_object_add(o, "audit_head", audit);
    json_object_object_add(o, "state", fo_state_json(c->state));
    if (st.state == FO_RAFT_LEADER)
        json_object_object_add(o, "detection", fo__detection_json(c));
    return o;
}

/* ---- metrics ---- */

static void fo__emit(struct fo_metrics_buf *b, void *arg)
{
    struct fo_cluster *c = arg;
    struct fo_raft_status st;
    char v[24];
    fo_raft_status(c->raft, &st);
    fo_metrics_family(b, "failoverd_raft_term", "gauge", "Current Raft term.");
    fo_metrics_sample(b, "failoverd_raft_term", (double)st.term, NULL);
    fo_metrics_family(b, "failoverd_raft_commit_index", "gauge", "Highest committed index.");
    fo_metrics_sample(b, "failoverd_raft_commit_index", (double)st.commit, NULL);
    fo_metrics_family(b, "failoverd_raft_leader", "gauge", "1 when this agent leads.");
    fo_metrics_sample(b, "failoverd_raft_leader", st.state == FO_RAFT_LEADER ? 1 : 0, NULL);
    fo_metrics_family(b, "failoverd_raft_lease_valid", "gauge",
                      "1 while the leader holds its lease.");
    fo_metrics_sample(b, "failoverd_raft_lease_valid",
                      fo__cluster_lease_valid(c, fo_clock_boot_ms()) ? 1 : 0, NULL);
    fo_metrics_family(b, "failoverd_audit_head_index", "gauge", "Index of the last audit record.");
    fo_metrics_sample(b, "failoverd_audit_head_index", (double)fo_audit_head_index(c->audit), NULL);
    uint64_t from = 0, to = 0;
    fo_metrics_family(b, "failoverd_audit_missing_records", "gauge",
                      "Audit records a snapshot skipped, still to be fetched from a peer.");
    fo_metrics_sample(b, "failoverd_audit_missing_records",
                      fo_audit_gap(c->audit, &from, &to) ? (double)(to - from + 1) : 0, NULL);
    fo_metrics_family(b, "failoverd_peer_up", "gauge",
                      "1 while the peer connection is authenticated.");
    for (int i = 1; i < c->nnodes; i++)
        fo_metrics_sample(b, "failoverd_peer_up", c->nodes[i].up ? 1 : 0, "peer", c->nodes[i].name,
                          NULL);
    fo_metrics_family(b, "failoverd_peer_drops_total", "counter",
                      "Peer connections dropped, by reason (bad tag, oversized, ...).");
    for (int i = 1; i < c->nnodes && c->peers; i++) {
        struct fo_peer_stats ps;
        if (fo_peer_get_stats(c->peers, c->nodes[i].name, &ps) < 0)
            continue;
        for (int r = 0; r < FO_PEER_R__COUNT; r++)
            if (ps.drops[r])
                fo_metrics_sample(b, "failoverd_peer_drops_total", (double)ps.drops[r], "peer",
                                  c->nodes[i].name, "reason",
                                  fo_peer_reason_name((enum fo_peer_reason)r), NULL);
    }
    struct fo_peer_stats anon;
    if (c->peers && fo_peer_get_stats(c->peers, NULL, &anon) == 0)
        for (int r = 0; r < FO_PEER_R__COUNT; r++)
            if (anon.drops[r])
                fo_metrics_sample(b, "failoverd_peer_drops_total", (double)anon.drops[r], "peer",
                                  "unauthenticated", "reason",
                                  fo_peer_reason_name((enum fo_peer_reason)r), NULL);
    fo_metrics_family(b, "failoverd_peer_bad_messages_total", "counter",
                      "Authenticated frames whose message did not decode or named another sender.");
    snprintf(v, sizeof(v), "%llu", (unsigned long long)c->frames_bad);
    fo_metrics_sample(b, "failoverd_peer_bad_messages_total", (double)c->frames_bad, NULL);
}

void fo__cluster_metrics_register(struct fo_cluster *c)
{
    fo_metrics_register(fo__emit, c);
}

void fo__cluster_metrics_unregister(struct fo_cluster *c)
{
    fo_metrics_unregister(fo__emit, c);
}
