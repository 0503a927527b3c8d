/* Terms and elections: the message dispatcher with its term rules, pre-vote and vote, vote
 * stickiness, becoming follower or leader, and the timers (election, heartbeat,
 * check-quorum, transfer). */
#include "raft/raft_int.h"

#include "core/fo.h"

#include <string.h>

static uint64_t fo__rand(struct fo_raft *r)
{
    uint64_t z = (r->rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void fo__reset_election_timer(struct fo_raft *r, int64_t now)
{
    uint32_t span = r->etmax - r->etmin;
    r->election_deadline = now + r->etmin + (int64_t)(span ? fo__rand(r) % (span + 1) : 0);
}

void fo_raft_leader_lost(struct fo_raft *r, uint64_t id, int64_t now_ms)
{
    if (r->state != FO_RAFT_FOLLOWER || id == 0 || r->leader != id)
        return;
    /* The other followers heard the same heartbeats, so their vote guards end with ours, within
     * a network delay: campaign half a heartbeat after that, spread over an eighth of the
     * timeout range so that two followers rarely collide. */
    uint32_t span = (r->etmax - r->etmin) / 8;
    int64_t base = r->guard_until > now_ms ? r->guard_until : now_ms;
    int64_t at = base + r->heartbeat_ms / 2 + (int64_t)(span ? fo__rand(r) % (span + 1) : 0);
    if (at < r->election_deadline)
        r->election_deadline = at;
}

bool fo__in_guard(const struct fo_raft *r, int64_t now)
{
#ifdef FO_RAFT_FAULT_NO_VOTE_STICKINESS
    return false;
#else
    return r->state == FO_RAFT_LEADER || now < r->guard_until;
#endif
}

struct fo__progress *fo__progress_of(struct fo_raft *r, uint64_t id)
{
    for (size_t i = 0; i < r->n_voters; i++)
        if (r->prs[i].id == id)
            return &r->prs[i];
    return NULL;
}

void fo__become_follower(struct fo_raft *r, uint64_t term, uint64_t leader, int64_t now)
{
    bool new_term = term != r->term;
    if (new_term) {
        r->term = term;
        r->vote = 0;
        r->hs_dirty = true;
    }
    if (new_term || leader != r->leader || r->state != FO_RAFT_FOLLOWER) {
        r->verified = 0;
        r->acked = 0;
        r->leader_ts = FO__NEVER;
    }
    r->state = FO_RAFT_FOLLOWER;
    r->leader = leader;
    r->transferee = 0;
    r->timeout_now_sent = false;
    fo__reset_election_timer(r, now);
}

static void fo__become_leader(struct fo_raft *r, int64_t now)
{
    r->state = FO_RAFT_LEADER;
    r->leader = r->id;
    r->leader_since = now;
    r->heartbeat_due = now + r->heartbeat_ms;
    r->transferee = 0;
    r->timeout_now_sent = false;
    uint64_t last = fo__log_last_index(&r->log);
    for (size_t i = 0; i < r->n_voters; i++) {
        struct fo__progress *pr = &r->prs[i];
#ifndef FO_RAFT_FAULT_STALE_ACK
        pr->match = 0;
#endif
        pr->next = last + 1;
        pr->recent = 0;
        pr->state = FO__PR_PROBE;
        pr->probe_sent = false;
        pr->last_heard = now;
        pr->acked_ts = FO__NEVER;
    }
    struct fo_raft_entry noop = {.term = r->term, .type = FO_RAFT_ENTRY_NOOP};
    fo__log_append(&r->log, &noop);
    r->noop_index = last + 1;
    fo__broadcast(r, now);
    fo__maybe_commit(r);
}

static size_t fo__count_votes(struct fo_raft *r, size_t *rejected)
{
    size_t granted = 0;
    *rejected = 0;
    for (size_t i = 0; i < r->n_voters; i++) {
        if (r->prs[i].vote_granted)
            granted++;
        else if (r->prs[i].vote_answered)
            (*rejected)++;
    }
    return granted;
}

void fo__campaign(struct fo_raft *r, bool pre, bool transfer, int64_t now)
{
    if (pre) {
        r->state = FO_RAFT_PRECANDIDATE;
    } else {
        r->state = FO_RAFT_CANDIDATE;
        r->term++;
        r->vote = r->id;
        r->hs_dirty = true;
    }
    r->leader = 0;
    r->verified = 0;
    r->acked = 0;
    r->leader_ts = FO__NEVER;
    r->transferee = 0;
    fo__reset_election_timer(r, now);
    for (size_t i = 0; i < r->n_voters; i++) {
        r->prs[i].vote_granted = i == r->self;
        r->prs[i].vote_answered = i == r->self;
    }
    size_t rejected;
    if (fo__count_votes(r, &rejected) >= r->quorum) {
        if (pre)
            fo__campaign(r, false, transfer, now);
        else
            fo__become_leader(r, now);
        return;
    }
    for (size_t i = 0; i < r->n_voters; i++) {
        if (i == r->self)
            continue;
        struct fo_raft_msg *m =
            fo__msg_new(r, pre ? FO_RAFT_MSG_PREVOTE : FO_RAFT_MSG_VOTE, r->voters[i]);
        m->term = pre ? r->term + 1 : r->term;
        m->index = fo__log_last_index(&r->log);
        m->log_term = fo__log_last_term(&r->log);
        if (transfer && !pre)
            m->flags |= FO_RAFT_MSG_TRANSFER;
    }
}

void fo__handle_vote(struct fo_raft *r, const struct fo_raft_msg *m, int64_t now)
{
    uint64_t last = fo__log_last_index(&r->log), last_term = fo__log_last_term(&r->log);
    bool up_to_date = m->log_term > last_term || (m->log_term == last_term && m->index >= last);
    bool grant;
    if (m->type == FO_RAFT_MSG_PREVOTE) {
        /* Stickiness was checked before the term rules ran (m->term > r->term). */
        grant = m->term > r->term && up_to_date;
    } else {
        bool can = r->vote == m->from || (r->vote == 0 && r->leader == 0);
        grant = can && up_to_date && r->state != FO_RAFT_LEADER;
        if (grant) {
            if (r->vote != m->from)
                r->hs_dirty = true;
            r->vote = m->from;
            fo__reset_election_timer(r, now);
        }
    }
    struct fo_raft_msg *resp = fo__msg_new(
        r, m->type == FO_RAFT_MSG_PREVOTE ? FO_RAFT_MSG_PREVOTE_RESP : FO_RAFT_MSG_VOTE_RESP,
        m->from);
    /* A granted pre-vote answers in the term the candidate would campaign in. */
    resp->term = grant && m->type == FO_RAFT_MSG_PREVOTE ? m->term : r->term;
    if (!grant)
        resp->flags |= FO_RAFT_MSG_REJECT;
}

void fo__handle_vote_resp(struct fo_raft *r, const struct fo_raft_msg *m, int64_t now)
{
    bool pre = m->type == FO_RAFT_MSG_PREVOTE_RESP;
    if (pre && (r->state != FO_RAFT_PRECANDIDATE ||
                m->term != ((m->flags & FO_RAFT_MSG_REJECT) ? r->term : r->term + 1)))
        return;
    if (!pre && (r->state != FO_RAFT_CANDIDATE || m->term != r->term))
        return;
    struct fo__progress *pr = fo__progress_of(r, m->from);
    pr->vote_answered = true;
    pr->vote_granted = !(m->flags & FO_RAFT_MSG_REJECT);
    size_t rejected, granted = fo__count_votes(r, &rejected);
    if (granted >= r->quorum) {
        if (pre)
            fo__campaign(r, false, false, now);
        else
            fo__become_leader(r, now);
    } else if (rejected > r->n_voters - r->quorum) {
        fo__become_follower(r, r->term, 0, now);
    }
}

/* Checks what the codec cannot: entries numbered after index, terms that never go down and
 * never exceed the message's term. */
static bool fo__msg_sane(const struct fo_raft_msg *m)
{
    if (m->term >= FO__MAX_INDEX || m->index >= FO__MAX_INDEX || m->log_term >= FO__MAX_INDEX ||
        m->commit >= FO__MAX_INDEX || m->hint >= FO__MAX_INDEX)
        return false;
    if (m->type == FO_RAFT_MSG_APPEND) {
        uint64_t t = m->log_term;
        if (m->n_entries > FO_RAFT_MSG_MAX_ENTRIES || m->log_term > m->term ||
            m->index > UINT64_MAX - m->n_entries)
            return false;
        for (size_t i = 0; i < m->n_entries; i++) {
            const struct fo_raft_entry *e = &m->entries[i];
            if (e->index != m->index + 1 + i || e->term < t || e->term > m->term ||
                (e->len && !e->data))
                return false;
            t = e->term;
        }
    }
    if (m->type == FO_RAFT_MSG_SNAPSHOT) {
        if (m->index == 0 || m->log_term == 0 || m->log_term > m->term ||
            m->snap_total > FO_RAFT_SNAPSHOT_MAX || m->snap_offset > m->snap_total ||
            m->data_len > m->snap_total - m->snap_offset || (m->data_len && !m->data))
            return false;
    }
    return m->term > 0 || m->type == FO_RAFT_MSG_PREVOTE_RESP || m->type == FO_RAFT_MSG_VOTE_RESP;
}

int fo_raft_step(struct fo_raft *r, const struct fo_raft_msg *m, int64_t now)
{
    if (m->to != r->id || m->from == r->id || !fo__progress_of(r, m->from) || !fo__msg_sane(m))
        return -FO_EINVAL;
    bool vote_req = m->type == FO_RAFT_MSG_VOTE || m->type == FO_RAFT_MSG_PREVOTE;
    if (m->term > r->term) {
        /* Stickiness: while a live leader is heard from, a vote request with a higher term is
         * ignored altogether, so it cannot even raise our term. A transfer is the exception. */
        if (vote_req && !(m->type == FO_RAFT_MSG_VOTE && (m->flags & FO_RAFT_MSG_TRANSFER)) &&
            fo__in_guard(r, now))
            return 0;
        bool keep_term = m->type == FO_RAFT_MSG_PREVOTE ||
                         (m->type == FO_RAFT_MSG_PREVOTE_RESP && !(m->flags & FO_RAFT_MSG_REJECT));
        if (!keep_term) {
            bool from_leader = m->type == FO_RAFT_MSG_APPEND || m->type == FO_RAFT_MSG_SNAPSHOT ||
                               m->type == FO_RAFT_MSG_TIMEOUT_NOW;
            fo__become_follower(r, m->term, from_leader ? m->from : 0, now);
        }
    } else if (m->term < r->term) {
        if (m->type == FO_RAFT_MSG_APPEND || m->type == FO_RAFT_MSG_SNAPSHOT) {
            /* Tell a stale leader about the newer term so that it steps down. */
            struct fo_raft_msg *resp = fo__msg_new(r, FO_RAFT_MSG_APPEND_RESP, m->from);
            resp->flags = FO_RAFT_MSG_REJECT;
            resp->ts = FO__NEVER;
        } else if (m->type == FO_RAFT_MSG_PREVOTE) {
            struct fo_raft_msg *resp = fo__msg_new(r, FO_RAFT_MSG_PREVOTE_RESP, m->from);
            resp->flags = FO_RAFT_MSG_REJECT;
        }
        return 0;
    }

    switch (m->type) {
    case FO_RAFT_MSG_APPEND:
        fo__handle_append(r, m, now);
        break;
    case FO_RAFT_MSG_SNAPSHOT:
        fo__handle_snapshot(r, m, now);
        break;
    case FO_RAFT_MSG_APPEND_RESP:
        if (r->state == FO_RAFT_LEADER)
            fo__handle_append_resp(r, m, now);
        break;
    case FO_RAFT_MSG_VOTE:
    case FO_RAFT_MSG_PREVOTE:
        fo__handle_vote(r, m, now);
        break;
    case FO_RAFT_MSG_VOTE_RESP:
    case FO_RAFT_MSG_PREVOTE_RESP:
        fo__handle_vote_resp(r, m, now);
        break;
    case FO_RAFT_MSG_TIMEOUT_NOW:
        if (r->state != FO_RAFT_LEADER && r->term == m->term)
            fo__campaign(r, false, true, now);
        break;
    default:
        return -FO_EINVAL;
    }
    return 0;
}

static bool fo__quorum_heard(struct fo_raft *r, int64_t now)
{
    size_t heard = 0;
    for (size_t i = 0; i < r->n_voters; i++)
        if (i == r->self ||
            (r->prs[i].last_heard != FO__NEVER && now - r->prs[i].last_heard < (int64_t)r->etmin))
            heard++;
    return heard >= r->quorum;
}

void fo_raft_tick(struct fo_raft *r, int64_t now)
{
    if (r->state != FO_RAFT_LEADER) {
        if (now >= r->election_deadline)
            fo__campaign(r, true, false, now);
        return;
    }
    if (r->transferee && now >= r->transfer_deadline) {
        if (r->timeout_now_sent) {
            /* The target was told to campaign and has not: our lease is void for this term,
             * so make way for a new election. */
            fo__become_follower(r, r->term, 0, now);
            return;
        }
        r->transferee = 0;
    }
    if (now >= r->heartbeat_due) {
        /* check-quorum: a leader that has not heard from a majority within the minimum
         * election timeout steps down. */
        if (now - r->leader_since >= (int64_t)r->etmin && !fo__quorum_heard(r, now)) {
            fo__become_follower(r, r->term, 0, now);
            return;
        }
        fo__broadcast(r, now);
        r->heartbeat_due = now + r->heartbeat_ms;
    }
}

int64_t fo_raft_next_deadline(const struct fo_raft *r)
{
    if (r->state != FO_RAFT_LEADER)
        return r->election_deadline;
    int64_t d = r->heartbeat_due;
    if (r->transferee && r->transfer_deadline < d)
        d = r->transfer_deadline;
    return d;
}
