/* The snapshot blob (state + audit head) and the audit catch-up: an agent whose state jumped
 * ahead of its audit file by a snapshot asks the leader (or, failing it, any peer) for the
 * missing records, verifies each one and appends it (DESIGN.md: replicated state), and serves
 * such requests from its own file. */
#include "config.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "daemon/cluster_int.h"

#define FO_AUDIT_RESP_BYTES (1u << 20) /* stored lines per answer, before JSON escaping */
#define FO_AUDIT_RETRY_MS   500

char *fo__cluster_snapshot_blob(struct fo_cluster *c, size_t *len)
{
    size_t sn;
    char *st = fo_state_snapshot(c->state, &sn);
    /* the chain's head as applied: with a gap open, records behind it are still to be fetched,
     * and a restart begins the gap again from this head */
    char *blob = fo_xasprintf("{\"audit_index\":%llu,\"audit_hash\":\"%s\",\"state\":%s}",
                              (unsigned long long)fo_audit_last_index(c->audit),
                              fo_audit_last_hash(c->audit), st);
    free(st);
    *len = strlen(blob);
    return blob;
}

static void fo__gap_event(struct fo_cluster *c, enum fo_log_level level, const char *kind,
                          const char *peer, const char *detail)
{
    uint64_t from = 0, to = 0;
    char f[24], t[24], h[24];
    snprintf(h, sizeof(h), "%llu", (unsigned long long)fo_audit_head_index(c->audit));
    if (!fo_audit_gap(c->audit, &from, &to)) {
        fo_event(level, kind, "head", h, "peer", peer ? peer : "", NULL);
        return;
    }
    snprintf(f, sizeof(f), "%llu", (unsigned long long)from);
    snprintf(t, sizeof(t), "%llu", (unsigned long long)to);
    fo_event(level, kind, "head", h, "from", f, "to", t, "peer", peer ? peer : "", "detail",
             detail ? detail : "", NULL);
}

/* The leader first (it sent the snapshot), then the other connected peers in turn. */
static int fo__pick_peer(struct fo_cluster *c)
{
    int cand[FO_CLUSTER_NODES], n = 0;
    struct fo_raft_status st;
    fo_raft_status(c->raft, &st);
    for (int i = 1; i < c->nnodes; i++)
        if (c->nodes[i].up && c->nodes[i].id == st.leader)
            cand[n++] = i;
    for (int i = 1; i < c->nnodes; i++)
        if (c->nodes[i].up && c->nodes[i].id != st.leader)
            cand[n++] = i;
    return n ? cand[c->audit_rot % (unsigned)n] : 0;
}

static void fo__ask(struct fo_cluster *c, int node)
{
    uint64_t from, to;
    if (!node || !c->peers || !fo_audit_gap(c->audit, &from, &to))
        return;
    char *req = fo_xasprintf("{\"from\":%llu,\"to\":%llu}", (unsigned long long)from,
                             (unsigned long long)to);
    if (fo_peer_send(c->peers, c->nodes[node].name, FO_CLUSTER_T_AUDIT_REQ, req, strlen(req)) ==
        0) {
        c->audit_asked = node;
        c->audit_asked_head = fo_audit_head_index(c->audit);
        c->audit_asked_ms = fo_clock_mono_ms();
    }
    free(req);
}

static void fo__on_audit_timer(uv_timer_t *t)
{
    struct fo_cluster *c = t->data;
    if (!fo_audit_gap(c->audit, NULL, NULL)) {
        c->audit_asked = 0;
        return;
    }
    if (c->audit_asked && fo_clock_mono_ms() - c->audit_asked_ms < FO_AUDIT_RETRY_MS * 3 / 4)
        return; /* an answer may still be on its way */
    /* the last peer asked brought nothing within the interval: ask the next one */
    if (c->audit_asked && fo_audit_head_index(c->audit) == c->audit_asked_head)
        c->audit_rot++;
    fo__ask(c, fo__pick_peer(c));
}

void fo__cluster_audit_start(struct fo_cluster *c)
{
    uv_timer_start(&c->audit_timer, fo__on_audit_timer, FO_AUDIT_RETRY_MS, FO_AUDIT_RETRY_MS);
}

int fo__cluster_restore_blob(struct fo_cluster *c, uint64_t index, const void *data, size_t len,
                             struct fo_err *err)
{
    struct json_tokener *tok = json_tokener_new();
    struct json_object *o = json_tokener_parse_ex(tok, data, (int)len), *st, *ai, *ah;
    int rc = -FO_ECORRUPT;
    json_tokener_free(tok);
    if (!o || !json_object_object_get_ex(o, "state", &st) ||
        !json_object_object_get_ex(o, "audit_index", &ai) ||
        !json_object_object_get_ex(o, "audit_hash", &ah)) {
        fo_err_set(err, rc, "snapshot %llu is not a failoverd snapshot", (unsigned long long)index);
        goto out;
    }
    const char *s =
        json_object_to_json_string_ext(st, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    if ((rc = fo_state_restore(c->state, s, strlen(s), err)) < 0)
        goto out;
    /* An agent that was behind keeps the records it has; the ones between its head and the
     * snapshot come from a peer, verified against the snapshot's hash. */
    uint64_t ai_index = (uint64_t)json_object_get_int64(ai);
    if (fo_audit_last_index(c->audit) >= ai_index)
        goto out;
    if ((rc = fo_audit_begin_gap(c->audit, ai_index, json_object_get_string(ah))) < 0) {
        rc = fo_err_set(err, -FO_ECORRUPT, "snapshot %llu: bad audit hash",
                        (unsigned long long)index);
        goto out;
    }
    fo__gap_event(c, FO_LOG_INFO, "audit.catching_up", NULL, NULL);
    c->audit_asked = 0;
    if (c->peers) /* at start (no Raft core, no peers yet) the timer asks */
        fo__ask(c, fo__pick_peer(c));
out:
    json_object_put(o);
    return rc;
}

/* Serves [from, to] from our own file; an empty list when we do not hold `from`. */
static void fo__serve(struct fo_cluster *c, const char *peer_id, const uint8_t *payload, size_t len)
{
    struct json_tokener *tok = json_tokener_new();
    struct json_object *req = json_tokener_parse_ex(tok, (const char *)payload, (int)len), *f, *t;
    json_tokener_free(tok);
    if (!req || !json_object_object_get_ex(req, "from", &f) ||
        !json_object_object_get_ex(req, "to", &t) || !json_object_is_type(f, json_type_int) ||
        !json_object_is_type(t, json_type_int) || json_object_get_int64(f) < 1) {
        c->frames_bad++;
        json_object_put(req);
        return;
    }
    uint64_t from = (uint64_t)json_object_get_int64(f), to = (uint64_t)json_object_get_int64(t);
    json_object_put(req);
    /* escaping can double the bytes: halve the batch until the answer fits one frame */
    for (size_t max = FO_AUDIT_RESP_BYTES;; max /= 2) {
        char *lines = NULL;
        size_t n = 0, count = 0, out_len;
        int rc = fo_audit_read_lines(c->audit, from, to, max, &lines, &n, &count);
        struct json_object *resp = json_object_new_object(), *arr = json_object_new_array();
        json_object_object_add(resp, "from", json_object_new_int64((int64_t)from));
        for (char *l = lines, *nl; rc == 0 && (nl = strchr(l, '\n')); l = nl + 1)
            json_object_array_add(arr, json_object_new_string_len(l, (int)(nl - l)));
        json_object_object_add(resp, "lines", arr);
        if (rc < 0)
            json_object_object_add(resp, "error", json_object_new_string(fo_strerror(rc)));
        if (rc == -FO_ENOENT) /* our file starts after `from`: it never will hold it */
            json_object_object_add(resp, "missing", json_object_new_boolean(1));
        const char *out = json_object_to_json_string_length(
            resp, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &out_len);
        int done = out_len <= FO_PEER_PAYLOAD_MAX || count <= 1;
        if (done)
            fo_peer_send(c->peers, peer_id, FO_CLUSTER_T_AUDIT_RESP, out, out_len);
        json_object_put(resp);
        free(lines);
        if (done)
            return;
    }
}

static int fo__node_index(const struct fo_cluster *c, const char *name)
{
    for (int i = 1; i < c->nnodes; i++)
        if (strcmp(c->nodes[i].name, name) == 0)
            return i;
    return 0;
}

static void fo__abandon(struct fo_cluster *c, const char *kind, const char *peer_id,
                        const char *why)
{
    fo__gap_event(c, FO_LOG_ERROR, kind, peer_id, why);
    int rc = fo_audit_abandon_gap(c->audit);
    if (rc < 0)
        fo__cluster_fatal(c, "audit rebase", fo_strerror(rc));
    c->audit_asked = 0;
}

/* A peer whose file starts after the gap's first record. Once every other voter has said so,
 * the records are gone from the cluster and waiting for them would only grow the queue. */
static void fo__unheld(struct fo_cluster *c, const char *peer_id)
{
    uint64_t from;
    int node = fo__node_index(c, peer_id);
    if (!node || !fo_audit_gap(c->audit, &from, NULL))
        return;
    if (c->audit_unheld_from != from) {
        c->audit_unheld = 0;
        c->audit_unheld_from = from;
    }
    c->audit_unheld |= 1u << node;
    if (__builtin_popcount(c->audit_unheld) >= c->nnodes - 1) {
        fo__abandon(c, "audit.records_unavailable", peer_id,
                    "no peer holds the first missing record: the chain restarts at the snapshot");
        return;
    }
    c->audit_rot++; /* the next tick asks another peer */
    c->audit_asked = 0;
}

static void fo__absorb(struct fo_cluster *c, const char *peer_id, const uint8_t *payload,
                       size_t len)
{
    struct json_tokener *tok = json_tokener_new();
    struct json_object *resp = json_tokener_parse_ex(tok, (const char *)payload, (int)len), *arr;
    json_tokener_free(tok);
    if (!resp || !json_object_object_get_ex(resp, "lines", &arr) ||
        !json_object_is_type(arr, json_type_array)) {
        c->frames_bad++;
        json_object_put(resp);
        return;
    }
    struct json_object *m, *f;
    if (json_object_object_get_ex(resp, "missing", &m) && json_object_get_boolean(m)) {
        uint64_t from = 0;
        fo_audit_gap(c->audit, &from, NULL);
        /* an answer about an earlier `from` says nothing about the records still missing */
        if (json_object_object_get_ex(resp, "from", &f) &&
            (uint64_t)json_object_get_int64(f) == from)
            fo__unheld(c, peer_id);
        json_object_put(resp);
        return;
    }
    uint64_t before = fo_audit_head_index(c->audit);
    int rc = 0;
    struct fo_err err = {0};
    size_t n = json_object_array_length(arr);
    for (size_t i = 0; i < n && rc == 0 && fo_audit_gap(c->audit, NULL, NULL); i++) {
        struct json_object *l = json_object_array_get_idx(arr, i);
        if (!json_object_is_type(l, json_type_string)) {
            rc = fo_err_set(&err, -FO_EINVAL, "record %zu is not a string", i);
            break;
        }
        rc = fo_audit_append_line(c->audit, json_object_get_string(l),
                                  (size_t)json_object_get_string_len(l), &err);
    }
    json_object_put(resp);
    if (rc == -FO_ECORRUPT) {
        /* the peer's chain does not lead to the snapshot's hash: no record between our head and
         * the snapshot can be vouched for, so the chain restarts at the snapshot */
        fo__abandon(c, "audit.chain_mismatch", peer_id, err.msg);
        return;
    }
    if (rc == -FO_EINVAL) {
        fo__gap_event(c, FO_LOG_WARN, "audit.catch_up_refused", peer_id, err.msg);
        c->audit_rot++;
        c->audit_asked = 0;
        return;
    }
    if (rc < 0) {
        fo__cluster_fatal(c, "audit append", err.msg);
        return;
    }
    if (!fo_audit_gap(c->audit, NULL, NULL)) {
        if (before != fo_audit_head_index(c->audit)) {
            fo_audit_sync(c->audit);
            fo__gap_event(c, FO_LOG_INFO, "audit.caught_up", peer_id, NULL);
        }
        c->audit_asked = 0;
        return;
    }
    if (fo_audit_head_index(c->audit) > before)
        fo__ask(c, fo__node_index(c, peer_id)); /* more to come: the same peer serves */
    else if (n == 0 && c->audit_asked) {
        c->audit_rot++; /* it does not hold them yet: the next tick asks another peer */
        c->audit_asked = 0;
    }
}

void fo__cluster_audit_recv(struct fo_cluster *c, const char *peer_id, uint8_t type,
                            const uint8_t *payload, size_t len)
{
    if (type == FO_CLUSTER_T_AUDIT_REQ)
        fo__serve(c, peer_id, payload, len);
    else if (fo_audit_gap(c->audit, NULL, NULL))
        fo__absorb(c, peer_id, payload, len);
}
