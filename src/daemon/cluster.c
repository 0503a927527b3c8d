/* The cluster glue: runs the pure Raft core on the loop. Storage goes through the thread pool
 * (term/vote before the messages that depend on them, appends acknowledged only once durable),
 * messages travel on the authenticated peer transport, committed entries are applied to the
 * replicated state and written to the audit log, and observations flow to the leader. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "daemon/cluster_int.h"
#include "daemon/obs.h"

static void fo__process(struct fo_cluster *c);

static uint64_t fo__node_id(const char *name)
{
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = name; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    return h ? h : 1;
}

const char *fo__cluster_name(const struct fo_cluster *c, uint64_t id)
{
    for (int i = 0; i < c->nnodes; i++)
        if (c->nodes[i].id == id)
            return c->nodes[i].name;
    return NULL;
}

static struct fo_cluster_node *fo__node_by_name(struct fo_cluster *c, const char *name)
{
    for (int i = 0; i < c->nnodes; i++)
        if (strcmp(c->nodes[i].name, name) == 0)
            return &c->nodes[i];
    return NULL;
}

static int64_t fo__now(void)
{
    return fo_clock_boot_ms();
}

void fo__cluster_fatal(struct fo_cluster *c, const char *what, const char *msg)
{
    fo_event(FO_LOG_ERROR, "cluster.fatal", "what", what, "error", msg, NULL);
    c->exit_code = 1;
    uv_stop(c->loop);
}

bool fo__cluster_lease_valid(const struct fo_cluster *c, int64_t now_ms)
{
    return !c->storage_failed && fo_raft_lease_valid(c->raft, now_ms);
}

/* ---- voters: fixed at first start, then read back (a reload never changes them) ---- */

static int fo__write_file_atomic(const char *dir, const char *name, const char *text)
{
    char *tmp = fo_xasprintf("%s/%s.tmp", dir, name), *dst = fo_xasprintf("%s/%s", dir, name);
    int rc = 0, fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    size_t n = strlen(text);
    if (fd < 0 || write(fd, text, n) != (ssize_t)n || fsync(fd) < 0)
        rc = -errno;
    if (fd >= 0)
        close(fd);
    if (rc == 0 && rename(tmp, dst) < 0)
        rc = -errno;
    if (rc == 0) {
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            if (fsync(dfd) < 0)
                rc = -errno;
            close(dfd);
        }
    }
    free(tmp);
    free(dst);
    return rc;
}

static void fo__add_node(struct fo_cluster *c, const char *name, const char *zone,
                         const char *address)
{
    struct fo_cluster_node *n = &c->nodes[c->nnodes++];
    n->id = fo__node_id(name);
    n->name = fo_xstrdup(name);
    n->zone = fo_xstrdup(zone ? zone : "");
    n->address = address ? fo_xstrdup(address) : NULL;
}

static int fo__load_voters(struct fo_cluster *c, const struct fo_agentcfg *cfg, struct fo_err *err)
{
    char *path = fo_xasprintf("%s/voters.json", c->raft_dir);
    struct json_object *v = json_object_from_file(path);
    int rc = 0;
    if (!v) {
        if (access(path, F_OK) == 0) {
            rc = fo_err_set(err, -FO_ECORRUPT, "%s: not valid JSON", path);
            goto out;
        }
        /* first start: this agent and its configured peers are the voters */
        v = json_object_new_array();
        struct json_object *me = json_object_new_object();
        json_object_object_add(me, "id", json_object_new_string(cfg->id));
        json_object_object_add(me, "zone", json_object_new_string(cfg->zone));
        json_object_array_add(v, me);
        for (int i = 0; i < cfg->cluster.npeers; i++) {
            struct json_object *p = json_object_new_object();
            json_object_object_add(p, "id", json_object_new_string(cfg->cluster.peers[i].id));
            json_object_object_add(p, "zone", json_object_new_string(cfg->cluster.peers[i].zone));
            json_object_array_add(v, p);
        }
        if ((rc = fo__write_file_atomic(c->raft_dir, "voters.json",
                                        json_object_to_json_string(v))) < 0) {
            fo_err_set(err, rc, "%s: %s", path, strerror(-rc));
            goto out;
        }
    }
    size_t n = json_object_is_type(v, json_type_array) ? json_object_array_length(v) : 0;
    if (n == 0 || n > FO_CLUSTER_NODES) {
        rc = fo_err_set(err, -FO_ECORRUPT, "%s: expected 1..%d voters", path, FO_CLUSTER_NODES);
        goto out;
    }
    /* this agent first */
    fo__add_node(c, cfg->id, cfg->zone, cfg->cluster.listen);
    int found_self = 0;
    for (size_t i = 0; i < n; i++) {
        struct json_object *e = json_object_array_get_idx(v, i), *id, *zone;
        if (!json_object_object_get_ex(e, "id", &id) ||
            !json_object_object_get_ex(e, "zone", &zone)) {
            rc = fo_err_set(err, -FO_ECORRUPT, "%s: voter %zu lacks id or zone", path, i);
            goto out;
        }
        const char *name = json_object_get_string(id);
        if (strcmp(name, cfg->id) == 0) {
            found_self = 1;
            continue;
        }
        const char *addr = NULL;
        for (int p = 0; p < cfg->cluster.npeers; p++)
            if (strcmp(cfg->cluster.peers[p].id, name) == 0)
                addr = cfg->cluster.peers[p].address;
        if (!addr)
            fo_event(FO_LOG_WARN, "cluster.voter_without_address", "voter", name, "hint",
                     "add it to cluster.peers so this agent can dial it", NULL);
        fo__add_node(c, name, json_object_get_string(zone), addr);
    }
    if (!found_self)
        rc = fo_err_set(err, -FO_ECONFIG, "%s: this agent (%s) is not a voter", path, cfg->id);
out:
    json_object_put(v);
    free(path);
    return rc;
}

/* ---- recovery ---- */

static int fo__open_storage(struct fo_cluster *c, struct fo_err *err)
{
    struct fo_raft_meta meta;
    struct fo_raft_snap snap = {0};
    struct fo_raft_snapshot rsnap;
    struct fo_raft_entry *entries = NULL;
    size_t nentries = 0;
    int rc, have_snap;

    if ((rc = fo_raft_meta_load(c->raft_dir, &meta, err)) < 0)
        return rc;
    if ((rc = fo_raft_log_open(c->raft_dir, NULL, &c->log, err)) < 0)
        return rc;
    rc = fo_raft_snap_load(c->raft_dir, &snap, err);
    if (rc < 0 && rc != -FO_ENOENT)
        return rc;
    have_snap = rc == 0;
    if (have_snap) {
        if ((rc = fo__cluster_restore_blob(c, snap.index, snap.data, snap.len, err)) < 0)
            goto out;
        c->last_snapshot = snap.index;
        rsnap = (struct fo_raft_snapshot){snap.index, snap.term, (uint32_t)snap.len, snap.data};
    }
    uint64_t first = fo_raft_log_first_index(c->log), last = fo_raft_log_last_index(c->log);
    if (have_snap && last < snap.index) {
        /* a crash during a snapshot install: the log restarts after it */
        if ((rc = fo_raft_log_reset(c->log, snap.index + 1, err)) < 0)
            goto out;
        first = snap.index + 1;
        last = snap.index;
    }
    if (first > (have_snap ? snap.index : 0) + 1) {
        rc = fo_err_set(err, -FO_ECORRUPT,
                        "%s: the log starts at %llu but the snapshot ends at %llu: entries are "
                        "missing",
                        c->raft_dir, (unsigned long long)first,
                        (unsigned long long)(have_snap ? snap.index : 0));
        goto out;
    }
    if (have_snap && first <= snap.index)
        first = snap.index + 1;
    for (uint64_t i = first; i <= last;) {
        struct fo_raft_entry *chunk;
        size_t n;
        if ((rc = fo_raft_log_read(c->log, i, 4096, 64u << 20, &chunk, &n, err)) < 0)
            goto out;
        entries = fo_xrealloc(entries, (nentries + n) * sizeof(*entries));
        memcpy(entries + nentries, chunk, n * sizeof(*chunk));
        nentries += n;
        free(chunk); /* the entries' data moved into `entries` */
        i += n;
    }
    c->queued_last = last;
    struct fo_raft_restore restore = {
        .hs = {meta.term, meta.voted_for},
        .snapshot = have_snap ? &rsnap : NULL,
        .entries = entries,
        .n_entries = nentries,
    };
    if ((rc = fo_raft_create(&c->raft, &c->rcfg, &restore, fo__now())) < 0)
        fo_err_set(err, rc, "raft: stored state does not fit together (term %llu, %zu entries)",
                   (unsigned long long)meta.term, nentries);
out:
    if (entries)
        fo_raft_entries_free(entries, nentries);
    if (have_snap)
        fo_raft_snap_free(&snap);
    return rc;
}

/* ---- storage callbacks ---- */

struct fo__append_ctx {
    struct fo_cluster *c;
    uint64_t index, term;
};

static void fo__drop_held(struct fo_cluster *c)
{
    for (size_t i = 0; i < c->nheld; i++)
        fo_raft_msg_clear(&c->held[i]);
    c->nheld = 0;
}

/* After a failed storage operation storage runs nothing more (io_async.c), so its later
 * callbacks fail too: only the first failure decides. ENOSPC (DESIGN.md: stop acknowledging and
 * step down): the agent goes silent in Raft, writing, acknowledging and sending nothing more, so
 * a leader loses its lease at once and its followers elect another; checks, observations and
 * the API go on, and /v1/status shows storage_failed. Anything else (a failed fsync cannot be
 * retried) stops the agent. */
static int fo__storage_status(struct fo_cluster *c, int status, const char *what)
{
    if (status == 0)
        return 0;
    if (c->storage_failed)
        return status;
    c->storage_failed = 1;
    if (status == -FO_ENOSPC) {
        fo__drop_held(c);
        fo_event(FO_LOG_ERROR, "cluster.storage_full", "what", what, "error",
                 fo_raft_aio_errmsg(c->aio), "action",
                 "silent in Raft (no acknowledgement, vote or lease); restart after freeing space",
                 NULL);
        return status;
    }
    fo__cluster_fatal(c, what, fo_raft_aio_errmsg(c->aio));
    return status;
}

static void fo__on_appended(void *arg, uint64_t durable, int status)
{
    struct fo__append_ctx *a = arg;
    struct fo_cluster *c = a->c;
    if (!c->closing && fo__storage_status(c, status, "log append") == 0 && !c->storage_failed) {
        fo_raft_persisted(c->raft, a->index, a->term, fo__now());
        fo__process(c);
    }
    free(a);
}

static void fo__on_log_op(void *arg, uint64_t durable, int status)
{
    struct fo_cluster *c = arg;
    if (!c->closing)
        fo__storage_status(c, status, "log truncate/reset");
}

static void fo__send_msg(struct fo_cluster *c, const struct fo_raft_msg *m)
{
    const char *to = fo__cluster_name(c, m->to);
    size_t cap = fo_raft_msg_encoded_size(m), len;
    if (!to || cap == 0)
        return;
    unsigned char *buf = fo_xmalloc(cap);
    if (fo_raft_msg_encode(m, buf, cap, &len) == 0)
        fo_peer_send(c->peers, to, FO_CLUSTER_T_RAFT, buf, len);
    free(buf);
}

static void fo__flush_held(struct fo_cluster *c)
{
    for (size_t i = 0; i < c->nheld; i++) {
        fo__send_msg(c, &c->held[i]);
        fo_raft_msg_clear(&c->held[i]);
    }
    c->nheld = 0;
}

static void fo__on_meta(void *arg, int status)
{
    struct fo_cluster *c = arg;
    c->meta_inflight--;
    if (c->closing || fo__storage_status(c, status, "term/vote") < 0)
        return;
    if (c->meta_inflight == 0)
        fo__flush_held(c);
}

static void fo__on_snap_installed(void *arg, uint64_t durable, int status)
{
    struct fo__append_ctx *a = arg;
    if (!a->c->closing && fo__storage_status(a->c, status, "snapshot install") == 0 &&
        !a->c->storage_failed) {
        fo_raft_persisted(a->c->raft, a->index, a->term, fo__now());
        fo__process(a->c);
    }
    free(a);
}

static void fo__on_audit_synced(void *arg, int status)
{
    struct fo_cluster *c = arg;
    if (!c->closing)
        fo__storage_status(c, status, "audit sync");
}

static void fo__on_snap_saved(void *arg, int status)
{
    struct fo_cluster *c = arg;
    if (!c->closing)
        fo__storage_status(c, status, "snapshot save");
}

/* ---- applying committed entries ---- */

static void fo__maybe_snapshot(struct fo_cluster *c, uint64_t index, uint64_t term)
{
    if (index - c->last_snapshot < c->snapshot_every)
        return;
    size_t len;
    /* the audit records the snapshot vouches for are on disk before the log drops them:
     * storage runs these in order, and nothing after a failed one (no descriptor left for the
     * sync: no snapshot this time) */
    if (fo_raft_aio_sync_fd(c->aio, fo_audit_fd(c->audit), fo__on_audit_synced, c) < 0)
        return;
    char *blob = fo__cluster_snapshot_blob(c, &len);
    if (fo_raft_compact(c->raft, index, blob, (uint32_t)len) == 0) {
        fo_raft_aio_snap_save(c->aio, index, term, blob, len, 2, fo__on_snap_saved, c);
        fo_raft_aio_compact(c->aio, index, fo__on_snap_saved, c);
        c->last_snapshot = index;
        char ix[24];
        snprintf(ix, sizeof(ix), "%llu", (unsigned long long)index);
        fo_event(FO_LOG_INFO, "raft.snapshot", "index", ix, NULL);
    }
    free(blob);
}

static void fo__apply(struct fo_cluster *c, const struct fo_raft_entry *e)
{
    struct fo_state_result res;
    if (fo_state_apply(c->state, e->index, e->term, e->type, e->data, e->len, &res) < 0) {
        fo__cluster_fatal(c, "apply", "committed entries arrived out of order");
        return;
    }
    int rc =
        fo_audit_append(c->audit, e->index, e->term, res.ts, res.actor, res.action, res.details);
    json_object_put(res.details);
    if (rc < 0) {
        fo__cluster_fatal(c, "audit append", strerror(rc == -FO_ENOSPC ? ENOSPC : -rc));
        return;
    }
    if (!res.accepted)
        fo_event(FO_LOG_WARN, "state.rejected", "action", res.action, "reason", res.reason, NULL);
    if (strcmp(res.action, "config.adopt") == 0)
        fo_detect_configure(c->detect, c->detect_quorum, c->stale_after_ms,
                            fo_state_adopted_hash(c->state));
    fo__cluster_waits_applied(c, e->index, e->term);
    fo__maybe_snapshot(c, e->index, e->term);
}

/* ---- the ready loop ---- */

static void fo__queue_entries(struct fo_cluster *c, struct fo_raft_entry *e, size_t n)
{
    if (n == 0)
        return;
    if (e[0].index <= c->queued_last)
        fo_raft_aio_truncate(c->aio, e[0].index, fo__on_log_op, c);
    struct fo__append_ctx *a = fo_xmalloc(sizeof(*a));
    *a = (struct fo__append_ctx){c, e[n - 1].index, e[n - 1].term};
    fo_raft_aio_append(c->aio, e, n, fo__on_appended, a);
    c->queued_last = e[n - 1].index;
}

static void fo__hold_or_send(struct fo_cluster *c, struct fo_raft_msg *msgs, size_t n)
{
    if (c->storage_failed)
        return; /* silent: see fo__storage_status */
    for (size_t i = 0; i < n; i++) {
        if (c->meta_inflight == 0 && c->nheld == 0) {
            fo__send_msg(c, &msgs[i]);
            continue;
        }
        if (c->nheld == c->capheld) {
            c->capheld = c->capheld ? 2 * c->capheld : 32;
            c->held = fo_xrealloc(c->held, c->capheld * sizeof(*c->held));
        }
        fo_raft_msg_copy(&c->held[c->nheld++], &msgs[i]);
    }
}

static void fo__leader_changed(struct fo_cluster *c, const struct fo_raft_status *st)
{
    const char *name = fo__cluster_name(c, st->leader);
    char term[24];
    snprintf(term, sizeof(term), "%llu", (unsigned long long)st->term);
    fo_event(FO_LOG_INFO, "raft.leader", "leader", name ? name : "none", "term", term, "self",
             st->leader == c->self ? "true" : "false", NULL);
    if (st->leader == c->self) {
        /* a new leader judges only from what it hears itself */
        fo_detect_clear(c->detect);
        free(c->verdicts);
        c->verdicts = NULL;
        c->nverdicts = 0;
    }
    c->last_leader = st->leader;
}

static void fo__reschedule(struct fo_cluster *c);

static void fo__process(struct fo_cluster *c)
{
    struct fo_raft_ready rd;
    while (fo_raft_has_ready(c->raft)) {
        fo_raft_ready_take(c->raft, &rd);
        if (c->storage_failed) {
            /* nothing more is written or sent; what committed is durable here and applies */
            for (size_t i = 0; i < rd.n_committed && !c->exit_code; i++)
                fo__apply(c, &rd.committed[i]);
            fo_raft_ready_free(&rd);
            continue;
        }
        if (rd.has_hard_state) {
            struct fo_raft_meta m = {rd.hs.term, rd.hs.vote};
            c->meta_inflight++;
            fo_raft_aio_meta_store(c->aio, &m, fo__on_meta, c);
        }
        if (rd.snapshot) {
            struct fo_err err = {0};
            if (fo__cluster_restore_blob(c, rd.snapshot->index, rd.snapshot->data, rd.snapshot->len,
                                         &err) < 0) {
                fo__cluster_fatal(c, "snapshot install", err.msg);
                fo_raft_ready_free(&rd);
                return;
            }
            struct fo__append_ctx *a = fo_xmalloc(sizeof(*a));
            *a = (struct fo__append_ctx){c, rd.snapshot->index, rd.snapshot->term};
            fo_raft_aio_snap_save(c->aio, rd.snapshot->index, rd.snapshot->term, rd.snapshot->data,
                                  rd.snapshot->len, 2, fo__on_snap_saved, c);
            fo_raft_aio_reset(c->aio, rd.snapshot->index + 1, fo__on_snap_installed, a);
            c->queued_last = rd.snapshot->index;
            c->last_snapshot = rd.snapshot->index;
            /* proposals waiting at or below it are answered: their fate is unknown here */
            fo__cluster_waits_applied(c, rd.snapshot->index, rd.snapshot->term);
        }
        fo__queue_entries(c, rd.entries, rd.n_entries);
        fo__hold_or_send(c, rd.msgs, rd.n_msgs);
        for (size_t i = 0; i < rd.n_committed && !c->exit_code; i++)
            fo__apply(c, &rd.committed[i]);
        fo_raft_ready_free(&rd);
    }
    struct fo_raft_status st;
    fo_raft_status(c->raft, &st);
    if (st.leader != c->last_leader)
        fo__leader_changed(c, &st);
    /* A leader whose no-op applied adopts its own config hash once (DESIGN.md: config.adopt). */
    if (st.state == FO_RAFT_LEADER && fo_raft_ready_to_act(c->raft) && c->config_hash &&
        strcmp(fo_state_adopted_hash(c->state) ? fo_state_adopted_hash(c->state) : "",
               c->config_hash) != 0 &&
        (c->adopt_term != st.term || fo_state_last_applied(c->state) >= c->adopt_index)) {
        struct json_object *f = json_object_new_object();
        json_object_object_add(f, "hash", json_object_new_string(c->config_hash));
        if (fo__cluster_propose(c, "config.adopt", c->self_name, f, &c->adopt_index,
                                &c->adopt_term) < 0)
            c->adopt_term = 0;
    }
    fo__reschedule(c);
}

/* DESIGN.md: an agent that has had no leader for 30 s raises the alarm on its own (paging
 * comes with the notify part; the event feed carries it until then). */
static void fo__no_leader_check(struct fo_cluster *c, int64_t now)
{
    if (c->last_leader) {
        c->last_leader_contact_ms = now;
        return;
    }
    if (c->last_leader_contact_ms == 0)
        c->last_leader_contact_ms = now;
    if (now - c->last_leader_contact_ms < FO_CLUSTER_NO_LEADER_MS ||
        now - c->no_leader_alarm_ms < FO_CLUSTER_NO_LEADER_MS)
        return;
    char s[24];
    snprintf(s, sizeof(s), "%lld", (long long)((now - c->last_leader_contact_ms) / 1000));
    fo_event(FO_LOG_ERROR, "cluster.no_leader", "seconds", s, "hint",
             "check peer connectivity and the other agents", NULL);
    c->no_leader_alarm_ms = now;
}

static void fo__on_tick(uv_timer_t *t)
{
    struct fo_cluster *c = t->data;
    fo__no_leader_check(c, fo__now());
    fo_raft_tick(c->raft, fo__now());
    fo__cluster_waits_expire(c, fo__now(), 0);
    fo__process(c);
}

static void fo__reschedule(struct fo_cluster *c)
{
    int64_t d = fo_raft_next_deadline(c->raft) - fo__now();
    if (d < 1)
        d = 1;
    if (d > 100)
        d = 100; /* proposals' deadlines and a SIGSTOP'ed clock: re-check often */
    uv_timer_start(&c->tick, fo__on_tick, (uint64_t)d, 0);
}

int fo__cluster_propose(struct fo_cluster *c, const char *type, const char *actor,
                        struct json_object *fields, uint64_t *index, uint64_t *term)
{
    size_t len;
    char *cmd = fo_state_command(type, fo_clock_wall_ms(), actor, fields, &len);
    uint64_t i = 0, t = 0;
    int rc = fo_raft_propose(c->raft, FO_RAFT_ENTRY_COMMAND, cmd, (uint32_t)len, fo__now(), &i, &t);
    free(cmd);
    if (index)
        *index = i;
    if (term)
        *term = t;
    if (rc == 0)
        fo__process(c);
    return rc;
}

/* ---- peers ---- */

static void fo__on_peer_recv(void *arg, const char *peer_id, uint8_t type, const uint8_t *payload,
                             size_t len)
{
    struct fo_cluster *c = arg;
    struct fo_cluster_node *n = fo__node_by_name(c, peer_id);
    if (!n)
        return;
    if (type == FO_CLUSTER_T_RAFT) {
        struct fo_raft_msg m;
        /* the transport authenticated the sender: a message must not claim another one */
        int rc = fo_raft_msg_decode(payload, len, &m);
        if (rc < 0 || m.from != n->id || m.to != c->self) {
            c->frames_bad++;
            if (rc == 0) /* after a failed decode m holds nothing to free */
                fo_raft_msg_clear(&m);
            return;
        }
        fo_raft_step(c->raft, &m, fo__now());
        fo_raft_msg_clear(&m);
        fo__process(c);
    } else if (type == FO_CLUSTER_T_OBS) {
        if (fo_raft_is_leader(c->raft) &&
            fo_obs_apply(c->detect, peer_id, payload, len, fo_clock_mono_ms()) < 0)
            c->frames_bad++;
    } else if (type == FO_CLUSTER_T_AUDIT_REQ || type == FO_CLUSTER_T_AUDIT_RESP) {
        fo__cluster_audit_recv(c, peer_id, type, payload, len);
    }
}

static void fo__on_peer_state(void *arg, const char *peer_id, int up)
{
    struct fo_cluster *c = arg;
    struct fo_cluster_node *n = fo__node_by_name(c, peer_id);
    if (n)
        n->up = up;
    if (n && !up) {
        fo_raft_leader_lost(c->raft, n->id, fo__now());
        fo__reschedule(c);
    }
    fo_event(up ? FO_LOG_INFO : FO_LOG_WARN, "peer.state", "peer", peer_id, "up",
             up ? "true" : "false", NULL);
}

/* ---- observations ---- */

static void fo__send_obs(struct fo_cluster *c, const struct fo_sched_member *only)
{
    struct fo_raft_status st;
    fo_raft_status(c->raft, &st);
    if (!st.leader)
        return;
    size_t len;
    const char *hash = c->config_hash;
    char *buf = fo_obs_encode(c->sched, only, c->state, hash, fo_clock_mono_ms(), &len);
    if (st.leader == c->self)
        fo_obs_apply(c->detect, c->self_name, buf, len, fo_clock_mono_ms());
    else
        fo_peer_send(c->peers, fo__cluster_name(c, st.leader), FO_CLUSTER_T_OBS, buf, len);
    free(buf);
}

static void fo__on_obs_timer(uv_timer_t *t)
{
    fo__send_obs(t->data, NULL);
}

void fo_cluster_observe(struct fo_cluster *c, const struct fo_sched_member *m, int changed)
{
    if (changed)
        fo__send_obs(c, m);
}

static void fo__on_detect_timer(uv_timer_t *t)
{
    fo__cluster_detect_tick(t->data);
}

/* ---- lifecycle ---- */

static uint32_t fo__obs_interval(const struct fo_agentcfg *cfg)
{
    uint32_t ms = 1000;
    for (int i = 0; i < cfg->nservices; i++)
        if (cfg->services[i].check.interval_ms < ms)
            ms = cfg->services[i].check.interval_ms;
    return ms < 200 ? 200 : ms;
}

/* Rows the detector may hold: the members configured here, twice over for a reload that
 * renamed them all while old reports are still around (agents share one adopted config). */
static void fo__detect_limit(struct fo_cluster *c)
{
    size_t n = 0;
    for (int i = 0; i < fo_sched_nservices(c->sched); i++)
        n += (size_t)fo_sched_nmembers(c->sched, i);
    fo_detect_limit(c->detect, 2 * n + 64);
}

struct fo_cluster *fo_cluster_new(uv_loop_t *loop, const struct fo_agentcfg *cfg,
                                  struct fo_sched *sched, int bootstrap, struct fo_err *err)
{
    struct fo_cluster *c = fo_xcalloc(1, sizeof(*c));
    int rc;
    c->loop = loop;
    c->sched = sched;
    c->cluster_id = fo_xstrdup(cfg->cluster.id);
    c->self_name = fo_xstrdup(cfg->id);
    c->self_zone = fo_xstrdup(cfg->zone);
    c->data_dir = fo_xstrdup(cfg->data_dir);
    c->raft_dir = fo_xasprintf("%s/raft", cfg->data_dir);
    c->config_hash = fo_xstrdup(cfg->hash ? cfg->hash : "");
    c->self = fo__node_id(cfg->id);
    c->snapshot_every = cfg->cluster.snapshot_every ? cfg->cluster.snapshot_every : 1000;
    c->obs_interval_ms = fo__obs_interval(cfg);
    c->state = fo_state_new();
    (void)bootstrap; /* voters are fixed at first start from this agent and its peers */

    if (mkdir(c->raft_dir, 0700) < 0 && errno != EEXIST) {
        fo_err_set(err, -errno, "%s: %s", c->raft_dir, strerror(errno));
        goto fail;
    }
    if ((c->audit = fo_audit_open(c->data_dir, err)) == NULL)
        goto fail;
    if ((rc = fo__load_voters(c, cfg, err)) < 0)
        goto fail;
    uint64_t voters[FO_CLUSTER_NODES];
    for (int i = 0; i < c->nnodes; i++)
        voters[i] = c->nodes[i].id;
    fo_raft_config_defaults(&c->rcfg);
    c->rcfg.id = c->self;
    c->rcfg.voters = voters;
    c->rcfg.n_voters = (size_t)c->nnodes;
    c->rcfg.election_timeout_min_ms = cfg->cluster.election_timeout_min_ms;
    c->rcfg.election_timeout_max_ms = cfg->cluster.election_timeout_max_ms;
    c->rcfg.heartbeat_ms = cfg->cluster.heartbeat_ms;
    if (cfg->cluster.lease_ms)
        c->rcfg.lease_ms = cfg->cluster.lease_ms;
    c->rcfg.seed = c->self ^ (uint64_t)fo_clock_wall_ms() ^ (uint64_t)getpid();
    if ((rc = fo__open_storage(c, err)) < 0)
        goto fail;
    c->rcfg.voters = NULL; /* copied by the core */
    c->aio = fo_raft_aio_new(loop, c->raft_dir, c->log);

    c->detect_quorum = cfg->cluster.detect_quorum ? cfg->cluster.detect_quorum : c->nnodes / 2 + 1;
    c->stale_after_ms = cfg->cluster.stale_after_ms ? cfg->cluster.stale_after_ms : 5000;
    c->detect = fo_detect_new(c->detect_quorum, c->stale_after_ms, fo_state_adopted_hash(c->state));
    fo__detect_limit(c);
    for (int i = 0; i < c->nnodes; i++)
        fo_detect_agent(c->detect, c->nodes[i].name, c->nodes[i].zone);

    struct fo_peer_cfg_local pcfg = {
        .self_id = cfg->id,
        .cluster_id = cfg->cluster.id,
        .key = (const uint8_t *)cfg->cluster.key,
        .key_len = cfg->cluster.key_len,
        .listen = cfg->cluster.listen,
    };
    if ((rc = fo_peer_new(loop, &pcfg, fo__on_peer_recv, fo__on_peer_state, c, &c->peers, err)) < 0)
        goto fail;
    for (int i = 1; i < c->nnodes; i++)
        if (c->nodes[i].address &&
            (rc = fo_peer_add(c->peers, c->nodes[i].name, c->nodes[i].address, err)) < 0)
            goto fail;
    uv_timer_init(loop, &c->tick);
    uv_timer_init(loop, &c->obs_timer);
    uv_timer_init(loop, &c->detect_timer);
    uv_timer_init(loop, &c->shutdown_timer);
    uv_timer_init(loop, &c->audit_timer);
    c->tick.data = c->obs_timer.data = c->detect_timer.data = c->shutdown_timer.data = c;
    c->audit_timer.data = c;
    return c;
fail:
    if (!err->code)
        err->code = -FO_EINVAL;
    fo_cluster_free(c);
    return NULL;
}

int fo_cluster_start(struct fo_cluster *c, struct fo_err *err)
{
    int rc = fo_peer_start(c->peers, err);
    if (rc < 0)
        return rc;
    fo__cluster_metrics_register(c);
    uv_timer_start(&c->obs_timer, fo__on_obs_timer, c->obs_interval_ms, c->obs_interval_ms);
    uv_timer_start(&c->detect_timer, fo__on_detect_timer, 500, 500);
    fo__cluster_audit_start(c);
    char nv[12];
    snprintf(nv, sizeof(nv), "%d", c->nnodes);
    fo_event(FO_LOG_INFO, "cluster.started", "cluster", c->cluster_id, "voters", nv, NULL);
    fo__process(c);
    return 0;
}

void fo_cluster_reload(struct fo_cluster *c, const struct fo_agentcfg *cfg)
{
    fo__detect_limit(c);
    free(c->config_hash);
    c->config_hash = fo_xstrdup(cfg->hash ? cfg->hash : "");
    c->obs_interval_ms = fo__obs_interval(cfg);
    uv_timer_start(&c->obs_timer, fo__on_obs_timer, c->obs_interval_ms, c->obs_interval_ms);
    if (cfg->cluster.enabled) {
        c->stale_after_ms = cfg->cluster.stale_after_ms ? cfg->cluster.stale_after_ms : 5000;
        if (cfg->cluster.detect_quorum >= c->nnodes / 2 + 1)
            c->detect_quorum = cfg->cluster.detect_quorum;
        fo_detect_configure(c->detect, c->detect_quorum, c->stale_after_ms,
                            fo_state_adopted_hash(c->state));
    }
    free(c->verdicts);
    c->verdicts = NULL;
    c->nverdicts = 0;
}

static void fo__on_shutdown_timer(uv_timer_t *t)
{
    struct fo_cluster *c = t->data;
    struct fo_raft_status st;
    fo_raft_status(c->raft, &st);
    /* done once someone else leads, or after the bound */
    if (st.leader != c->self || fo__now() > c->shutdown_deadline_ms) {
        fo_event(FO_LOG_INFO, "cluster.handed_over", "leader",
                 fo__cluster_name(c, st.leader) ? fo__cluster_name(c, st.leader) : "none", NULL);
        uv_stop(c->loop);
    }
}

void fo_cluster_shutdown(struct fo_cluster *c, uv_loop_t *loop)
{
    struct fo_raft_status st;
    fo_raft_status(c->raft, &st);
    if (st.state != FO_RAFT_LEADER || c->nnodes == 1) {
        uv_stop(loop);
        return;
    }
    /* hand over to the most up-to-date connected voter */
    uint64_t best = 0, best_match = 0, match, next;
    for (int i = 1; i < c->nnodes; i++)
        if (c->nodes[i].up && fo_raft_progress(c->raft, c->nodes[i].id, &match, &next) == 0 &&
            (!best || match > best_match)) {
            best = c->nodes[i].id;
            best_match = match;
        }
    if (!best || fo_raft_transfer(c->raft, best, fo__now()) < 0) {
        uv_stop(loop);
        return;
    }
    fo_event(FO_LOG_INFO, "raft.transfer", "to", fo__cluster_name(c, best), "reason", "shutdown",
             NULL);
    c->shutting_down = 1;
    c->shutdown_deadline_ms = fo__now() + c->rcfg.election_timeout_min_ms;
    fo__process(c);
    uv_timer_start(&c->shutdown_timer, fo__on_shutdown_timer, 20, 20);
}

int fo_cluster_exit_code(const struct fo_cluster *c)
{
    return c->exit_code ? -FO_EIO : 0;
}

/* Runs once the storage jobs queued before close have finished and the timers are closed. */
static void fo__final_free(void *arg)
{
    struct fo_cluster *c = arg;
    if (--c->close_pending > 0)
        return;
    if (c->log) {
        fo_raft_log_sync(c->log, NULL);
        fo_raft_log_close(c->log);
    }
    if (c->audit) {
        fo_audit_sync(c->audit);
        fo_audit_close(c->audit);
    }
    for (size_t i = 0; i < c->nheld; i++)
        fo_raft_msg_clear(&c->held[i]);
    free(c->held);
    fo_raft_free(c->raft);
    fo_state_free(c->state);
    fo_detect_free(c->detect);
    for (int i = 0; i < c->nnodes; i++) {
        free(c->nodes[i].name);
        free(c->nodes[i].zone);
        free(c->nodes[i].address);
    }
    free(c->verdicts);
    free(c->cluster_id);
    free(c->self_name);
    free(c->self_zone);
    free(c->data_dir);
    free(c->raft_dir);
    free(c->config_hash);
    free(c);
}

static void fo__on_timer_closed(uv_handle_t *h)
{
    fo__final_free(h->data);
}

/* Closes handles now; memory and files go once queued writes are done (the loop must run). */
void fo_cluster_free(struct fo_cluster *c)
{
    if (!c)
        return;
    c->closing = 1;
    fo__cluster_metrics_unregister(c);
    fo__cluster_waits_expire(c, 0, 1);
    if (c->peers)
        fo_peer_close(c->peers);
    c->peers = NULL;
    c->close_pending = 1;
    if (c->tick.loop) {
        uv_timer_t *timers[] = {&c->tick, &c->obs_timer, &c->detect_timer, &c->shutdown_timer,
                                &c->audit_timer};
        for (size_t i = 0; i < FO_ARRAY_LEN(timers); i++) {
            c->close_pending++;
            uv_close((uv_handle_t *)timers[i], fo__on_timer_closed);
        }
    }
    if (c->aio)
        fo_raft_aio_close(c->aio, fo__final_free, c);
    else
        fo__final_free(c);
}
