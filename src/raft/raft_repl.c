/* Log replication: the leader's appends, heartbeats and snapshot chunks with per-follower
 * progress, the follower's handling of them with durable-only acknowledgements, and the commit
 * rule (a majority of durable copies, and only for an entry of the current term). */
#include "raft/raft_int.h"

#include "core/fo.h"

#include <stdlib.h>
#include <string.h>

static uint64_t fo__max(uint64_t a, uint64_t b)
{
    return a > b ? a : b;
}

static uint64_t fo__min(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

static void fo__send_snapshot(struct fo_raft *r, struct fo__progress *pr, int64_t now)
{
    if (pr->state != FO__PR_SNAPSHOT || pr->snap_index != r->snap.index) {
        pr->state = FO__PR_SNAPSHOT;
        pr->snap_index = r->snap.index;
        pr->snap_offset = 0;
    }
    if (pr->snap_offset > r->snap.len)
        pr->snap_offset = 0;
    uint32_t chunk = (uint32_t)fo__min(r->max_bytes, r->snap.len - pr->snap_offset);
    struct fo_raft_msg *m = fo__msg_new(r, FO_RAFT_MSG_SNAPSHOT, pr->id);
    m->ts = now;
    m->index = r->snap.index;
    m->log_term = r->snap.term;
    m->snap_total = r->snap.len;
    m->snap_offset = pr->snap_offset;
    m->data_len = chunk;
    if (chunk) {
        m->data = fo_xmalloc(chunk);
        memcpy(m->data, r->snap.data + pr->snap_offset, chunk);
    }
    pr->snap_sent_at = now;
}

/* Sends entries from pr->next (none if there is no room or nothing new): a probe, a heartbeat
 * or the next batch. Falls back to the snapshot when the entries before next are gone. */
void fo__send_append(struct fo_raft *r, struct fo__progress *pr, int64_t now)
{
    uint64_t last = fo__log_last_index(&r->log);
    if (pr->next <= pr->match)
        pr->next = pr->match + 1;
    if (pr->next > last + 1)
        pr->next = last + 1;
    uint64_t prev = pr->next - 1, prev_term;
    if (!fo__log_term(&r->log, prev, &prev_term)) {
        fo__send_snapshot(r, pr, now);
        return;
    }
    uint64_t room = r->max_entries;
    if (pr->state == FO__PR_REPLICATE) {
        uint64_t base = fo__max(pr->match, pr->recent);
        uint64_t inflight = prev > base ? prev - base : 0;
        room = inflight >= r->max_inflight ? 0 : fo__min(room, r->max_inflight - inflight);
    }
    size_t n = 0, bytes = 0;
    for (uint64_t i = pr->next; i <= last && n < room; i++) {
        size_t len = fo__log_get(&r->log, i)->len;
        if (n > 0 && bytes + len > r->max_bytes)
            break;
        bytes += len + 16;
        n++;
    }
    struct fo_raft_msg *m = fo__msg_new(r, FO_RAFT_MSG_APPEND, pr->id);
    m->ts = now;
    m->index = prev;
    m->log_term = prev_term;
    m->commit = r->commit;
    m->n_entries = n;
    if (n) {
        m->entries = fo_xcalloc(n, sizeof(*m->entries));
        for (size_t i = 0; i < n; i++)
            fo__entry_copy(&m->entries[i], fo__log_get(&r->log, pr->next + i));
    }
    if (pr->state == FO__PR_REPLICATE)
        pr->next += n;
    else
        pr->probe_sent = true;
}

/* REPLICATE: send what is new, if anything and if the window allows. */
static void fo__send_more(struct fo_raft *r, struct fo__progress *pr, int64_t now)
{
    if (pr->state != FO__PR_REPLICATE || pr->next > fo__log_last_index(&r->log))
        return;
    uint64_t base = fo__max(pr->match, pr->recent);
    if (pr->next - 1 > base && pr->next - 1 - base >= r->max_inflight)
        return;
    fo__send_append(r, pr, now);
}

/* A round to every follower: appends (empty ones are heartbeats) or snapshot chunks. */
void fo__broadcast(struct fo_raft *r, int64_t now)
{
    for (size_t i = 0; i < r->n_voters; i++) {
        struct fo__progress *pr = &r->prs[i];
        if (i == r->self)
            continue;
        if (pr->state == FO__PR_SNAPSHOT) {
            if (pr->snap_index != r->snap.index || now - pr->snap_sent_at >= (int64_t)r->etmin) {
                fo__send_snapshot(r, pr, now);
            } else if (pr->snap_offset >= r->snap.len) {
                /* All chunks are out: heartbeats after the snapshot keep the follower from
                 * timing out and carry its acknowledgement once the install is durable. */
                pr->next = r->snap.index + 1;
                fo__send_append(r, pr, now);
            }
            continue;
        }
        fo__send_append(r, pr, now);
    }
}

void fo__send_timeout_now(struct fo_raft *r, struct fo__progress *pr, int64_t now)
{
    /* The target's campaign may override vote stickiness whenever this message arrives: from
     * now on this leader holds no lease (transferee stays set until it steps down). */
    fo__msg_new(r, FO_RAFT_MSG_TIMEOUT_NOW, pr->id);
    r->timeout_now_sent = true;
}

static int fo__cmp_u64_desc(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

void fo__maybe_commit(struct fo_raft *r)
{
    if (r->state != FO_RAFT_LEADER)
        return;
    uint64_t v[FO_RAFT_MAX_VOTERS];
    for (size_t i = 0; i < r->n_voters; i++)
        v[i] = i == r->self ? fo__ackable(r) : r->prs[i].match;
    qsort(v, r->n_voters, sizeof(v[0]), fo__cmp_u64_desc);
    uint64_t n = fo__min(v[r->quorum - 1], fo__log_last_index(&r->log)), term;
    if (n <= r->commit || !fo__log_term(&r->log, n, &term))
        return;
#ifndef FO_RAFT_FAULT_FIGURE8
    /* Figure 8: an entry of an earlier term is committed only by one of ours after it. */
    if (term != r->term)
        return;
#endif
    r->commit = n;
}

void fo__follower_ack(struct fo_raft *r, bool always)
{
    if (r->state != FO_RAFT_FOLLOWER || r->leader == 0)
        return;
    uint64_t a = fo__min(r->verified, fo__ackable(r));
    if (!always && a <= r->acked)
        return;
    struct fo_raft_msg *m = fo__msg_new(r, FO_RAFT_MSG_APPEND_RESP, r->leader);
    m->ts = r->leader_ts;
    m->index = a;
    m->hint = r->verified;
    if (a > r->acked)
        r->acked = a;
}

/* Common to every message from the leader of our term. */
static bool fo__heard_leader(struct fo_raft *r, const struct fo_raft_msg *m, int64_t now)
{
    if (r->state == FO_RAFT_LEADER)
        return false; /* two leaders in one term cannot happen; ignore rather than trust it */
    if (r->state != FO_RAFT_FOLLOWER || r->leader != m->from)
        fo__become_follower(r, r->term, m->from, now);
    r->guard_until = now + r->etmin;
    fo__reset_election_timer(r, now);
    if (m->ts > r->leader_ts)
        r->leader_ts = m->ts;
    return true;
}

static void fo__reject(struct fo_raft *r, const struct fo_raft_msg *m, uint64_t prev,
                       uint64_t prev_term)
{
    uint64_t hint =
        fo__log_conflict_by_term(&r->log, fo__min(prev, fo__log_last_index(&r->log)), prev_term);
    uint64_t hint_term = 0;
    fo__log_term(&r->log, hint, &hint_term);
    struct fo_raft_msg *resp = fo__msg_new(r, FO_RAFT_MSG_APPEND_RESP, m->from);
    resp->flags = FO_RAFT_MSG_REJECT;
    resp->ts = r->leader_ts;
    resp->index = m->index;
    resp->hint = hint;
    resp->log_term = hint_term;
}

void fo__handle_append(struct fo_raft *r, const struct fo_raft_msg *m, int64_t now)
{
    if (!fo__heard_leader(r, m, now))
        return;
    uint64_t prev = m->index, prev_term = m->log_term, end = m->index + m->n_entries;
    const struct fo_raft_entry *ents = m->entries;
    size_t n = m->n_entries;
    uint64_t vthis = end;
    if (prev < r->log.snap_index) {
        /* Everything up to our snapshot is committed, so it equals the leader's log. */
        size_t skip = (size_t)fo__min(r->log.snap_index - prev, n);
        if (skip) {
            ents += skip;
            n -= skip;
        }
        prev = r->log.snap_index;
        prev_term = r->log.snap_term;
        vthis = fo__max(end, r->log.snap_index);
    }
    uint64_t t;
    if (!fo__log_term(&r->log, prev, &t) || t != prev_term) {
        fo__reject(r, m, prev, prev_term);
        return;
    }
    size_t i = 0;
    for (; i < n; i++) {
        if (!fo__log_term(&r->log, ents[i].index, &t))
            break;
        if (t != ents[i].term) {
            /* A conflict: our entries from here on were never committed; drop them. */
            fo__log_truncate(&r->log, ents[i].index);
            if (r->unstable > ents[i].index)
                r->unstable = ents[i].index;
            if (r->durable >= ents[i].index)
                r->durable = ents[i].index - 1;
            break;
        }
    }
    for (; i < n; i++)
        fo__log_append(&r->log, &ents[i]);
    if (vthis > r->verified)
        r->verified = vthis;
    uint64_t c = fo__min(m->commit, r->verified);
    if (c > r->commit)
        r->commit = c;
    fo__follower_ack(r, true);
}

static void fo__snap_progress(struct fo_raft *r, const struct fo_raft_msg *m, uint64_t got)
{
    struct fo_raft_msg *resp = fo__msg_new(r, FO_RAFT_MSG_APPEND_RESP, m->from);
    resp->flags = FO_RAFT_MSG_SNAP_PROGRESS;
    resp->ts = r->leader_ts;
    resp->index = m->index;
    resp->hint = got;
}

void fo__handle_snapshot(struct fo_raft *r, const struct fo_raft_msg *m, int64_t now)
{
    if (!fo__heard_leader(r, m, now))
        return;
    uint64_t t;
    if (m->index <= r->commit || (fo__log_term(&r->log, m->index, &t) && t == m->log_term)) {
        /* We hold that much already: no need for the data. */
        if (m->index > r->verified)
            r->verified = m->index;
        if (m->index > r->commit)
            r->commit = m->index;
        fo__snap_progress(r, m, m->snap_total);
        fo__follower_ack(r, true);
        return;
    }
    struct fo__inbound *in = &r->in;
    if (in->index != m->index || in->term != m->log_term || in->total != m->snap_total) {
        free(in->buf);
        memset(in, 0, sizeof(*in));
        in->index = m->index;
        in->term = m->log_term;
        in->total = m->snap_total;
    }
    if (m->snap_offset == in->got && m->data_len) {
        in->buf = fo_xrealloc(in->buf, (size_t)(in->got + m->data_len));
        memcpy(in->buf + in->got, m->data, m->data_len);
        in->got += m->data_len;
    }
    if (in->got < in->total) {
        fo__snap_progress(r, m, in->got);
        return;
    }
    /* Complete: replace state and log. Storage installs it; the ack follows durability. */
    free(r->snap.data);
    r->snap.index = in->index;
    r->snap.term = in->term;
    r->snap.len = (uint32_t)in->total;
    r->snap.data = in->buf;
    memset(in, 0, sizeof(*in));
    fo__log_reset(&r->log, r->snap.index, r->snap.term);
    r->snap_pending_install = true;
    r->commit = r->snap.index;
    r->applied = r->snap.index;
    r->unstable = r->snap.index + 1;
    r->durable = 0;
    r->verified = r->snap.index;
    fo__snap_progress(r, m, m->snap_total);
    fo__follower_ack(r, false);
}

static void fo__handle_snap_progress(struct fo_raft *r, struct fo__progress *pr,
                                     const struct fo_raft_msg *m, int64_t now)
{
    if (pr->state != FO__PR_SNAPSHOT)
        return;
    if (m->index != pr->snap_index || pr->snap_index != r->snap.index) {
        fo__send_snapshot(r, pr, now);
        return;
    }
    pr->snap_offset = fo__min(m->hint, r->snap.len);
    if (pr->snap_offset < r->snap.len)
        fo__send_snapshot(r, pr, now);
}

void fo__handle_append_resp(struct fo_raft *r, const struct fo_raft_msg *m, int64_t now)
{
    struct fo__progress *pr = fo__progress_of(r, m->from);
    uint64_t last = fo__log_last_index(&r->log);
    pr->last_heard = now;
#ifdef FO_RAFT_FAULT_LEASE_FROM_RECV
    pr->acked_ts = now;
#else
    /* The echo of our own send time: the follower heard us no earlier than that. An echo
     * from before this term's leadership or from the future is not ours to trust. */
    if (m->ts >= r->leader_since && m->ts <= now && m->ts > pr->acked_ts)
        pr->acked_ts = m->ts;
#endif
    if (m->flags & FO_RAFT_MSG_SNAP_PROGRESS) {
        fo__handle_snap_progress(r, pr, m, now);
        return;
    }
    if (m->flags & FO_RAFT_MSG_REJECT) {
        if (m->index <= pr->match || pr->state == FO__PR_SNAPSHOT)
            return;
        if (pr->state == FO__PR_PROBE && m->index != pr->next - 1)
            return; /* answer to an older probe */
        uint64_t j = m->hint;
        if (m->log_term > 0)
            j = fo__log_conflict_by_term(&r->log, m->hint, m->log_term);
        uint64_t next = fo__min(m->index, j + 1);
        pr->next = fo__max(next, pr->match + 1);
        pr->state = FO__PR_PROBE;
        pr->probe_sent = false;
        fo__send_append(r, pr, now);
        return;
    }
    if (m->index > last || m->hint > last)
        return; /* claims entries we never had: not an answer to this term's leader */
    if (m->index > pr->match)
        pr->match = m->index;
    if (m->hint > pr->recent)
        pr->recent = m->hint;
    uint64_t known = fo__max(pr->match, pr->recent);
    if (pr->state == FO__PR_PROBE || (pr->state == FO__PR_SNAPSHOT && known >= pr->snap_index)) {
        pr->state = FO__PR_REPLICATE;
        pr->next = known + 1;
    } else if (pr->state == FO__PR_REPLICATE && pr->next <= known) {
        pr->next = known + 1;
    }
    fo__maybe_commit(r);
    if (r->transferee == pr->id && !r->timeout_now_sent && pr->match == last)
        fo__send_timeout_now(r, pr, now);
    fo__send_more(r, pr, now);
}
