/* The Raft core's public entry points: creation, proposals, storage completions, compaction,
 * leadership transfer, the ready batch and the read-only views (status, lease, fencing). */
#include "raft/raft_int.h"

#include "core/fo.h"

#include <stdlib.h>
#include <string.h>

void fo_raft_config_defaults(struct fo_raft_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->election_timeout_min_ms = 1000;
    cfg->election_timeout_max_ms = 2000;
    cfg->heartbeat_ms = 100;
    cfg->lease_ms = 850;
    cfg->max_entries_per_msg = 64;
    cfg->max_bytes_per_msg = 1024 * 1024;
    cfg->max_inflight = 256;
    cfg->max_uncommitted = 4096;
}

const char *fo_raft_state_name(enum fo_raft_state s)
{
    switch (s) {
    case FO_RAFT_FOLLOWER:
        return "follower";
    case FO_RAFT_PRECANDIDATE:
        return "precandidate";
    case FO_RAFT_CANDIDATE:
        return "candidate";
    case FO_RAFT_LEADER:
        return "leader";
    }
    return "unknown";
}

static int fo__check_config(const struct fo_raft_config *c)
{
    if (c->id == 0 || !c->voters || c->n_voters == 0 || c->n_voters > FO_RAFT_MAX_VOTERS)
        return -FO_EINVAL;
    bool self = false;
    for (size_t i = 0; i < c->n_voters; i++) {
        if (c->voters[i] == 0)
            return -FO_EINVAL;
        if (c->voters[i] == c->id)
            self = true;
        for (size_t j = 0; j < i; j++)
            if (c->voters[j] == c->voters[i])
                return -FO_EINVAL;
    }
    if (!self)
        return -FO_EINVAL;
    if (c->election_timeout_min_ms == 0 || c->election_timeout_max_ms < c->election_timeout_min_ms)
        return -FO_EINVAL;
    if (c->heartbeat_ms == 0 || c->heartbeat_ms >= c->election_timeout_min_ms)
        return -FO_EINVAL;
    /* The lease must end before any voter that answered can vote again. */
    if (c->lease_ms == 0 || c->lease_ms >= c->election_timeout_min_ms)
        return -FO_EINVAL;
    if (c->max_entries_per_msg == 0 || c->max_entries_per_msg > FO_RAFT_MSG_MAX_ENTRIES ||
        c->max_bytes_per_msg < 64 || c->max_bytes_per_msg > FO_RAFT_MSG_MAX_SIZE / 2 ||
        c->max_inflight == 0 || c->max_uncommitted == 0)
        return -FO_EINVAL;
    return 0;
}

static int fo__check_restore(const struct fo_raft_restore *rs)
{
    if (rs->hs.term >= FO__MAX_INDEX ||
        (rs->snapshot && rs->snapshot->index >= FO__MAX_INDEX - rs->n_entries))
        return -FO_EINVAL;
    uint64_t base = rs->snapshot ? rs->snapshot->index : 0;
    uint64_t prev_term = rs->snapshot ? rs->snapshot->term : 0;
    if (rs->snapshot && (rs->snapshot->index == 0 || rs->snapshot->term == 0 ||
                         (rs->snapshot->len && !rs->snapshot->data)))
        return -FO_EINVAL;
    for (size_t i = 0; i < rs->n_entries; i++) {
        const struct fo_raft_entry *e = &rs->entries[i];
        if (e->index != base + 1 + i || e->term < prev_term || e->term == 0 ||
            e->term > rs->hs.term || (e->len && !e->data))
            return -FO_EINVAL;
        prev_term = e->term;
    }
    if (prev_term > rs->hs.term)
        return -FO_EINVAL;
    return 0;
}

int fo_raft_create(struct fo_raft **out, const struct fo_raft_config *cfg,
                   const struct fo_raft_restore *restore, int64_t now_ms)
{
    *out = NULL;
    int rc = fo__check_config(cfg);
    if (rc < 0)
        return rc;
    if (restore && (rc = fo__check_restore(restore)) < 0)
        return rc;

    struct fo_raft *r = fo_xcalloc(1, sizeof(*r));
    r->id = cfg->id;
    r->n_voters = cfg->n_voters;
    r->voters = fo_xcalloc(cfg->n_voters, sizeof(*r->voters));
    memcpy(r->voters, cfg->voters, cfg->n_voters * sizeof(*r->voters));
    r->quorum = cfg->n_voters / 2 + 1;
    r->prs = fo_xcalloc(cfg->n_voters, sizeof(*r->prs));
    for (size_t i = 0; i < cfg->n_voters; i++) {
        r->prs[i].id = r->voters[i];
        r->prs[i].last_heard = FO__NEVER;
        r->prs[i].acked_ts = FO__NEVER;
        if (r->voters[i] == r->id)
            r->self = i;
    }
    r->etmin = cfg->election_timeout_min_ms;
    r->etmax = cfg->election_timeout_max_ms;
    r->heartbeat_ms = cfg->heartbeat_ms;
    r->lease_ms = cfg->lease_ms;
    r->max_entries = cfg->max_entries_per_msg;
    r->max_bytes = cfg->max_bytes_per_msg;
    r->max_inflight = cfg->max_inflight;
    r->max_uncommitted = cfg->max_uncommitted;
    r->rng = cfg->seed ^ (cfg->id * 0x9E3779B97F4A7C15ull);

    if (restore) {
        r->term = restore->hs.term;
        r->vote = restore->hs.vote;
        if (restore->snapshot) {
            const struct fo_raft_snapshot *s = restore->snapshot;
            r->snap.index = s->index;
            r->snap.term = s->term;
            r->snap.len = s->len;
            if (s->len) {
                r->snap.data = fo_xmalloc(s->len);
                memcpy(r->snap.data, s->data, s->len);
            }
            fo__log_reset(&r->log, s->index, s->term);
        }
        for (size_t i = 0; i < restore->n_entries; i++)
            fo__log_append(&r->log, &restore->entries[i]);
    }
    r->durable = fo__log_last_index(&r->log);
    r->unstable = r->durable + 1;
    r->commit = r->log.snap_index;
    r->applied = r->log.snap_index;
    r->leader_ts = FO__NEVER;
    r->state = FO_RAFT_FOLLOWER;
    /* We may have answered a live leader just before a restart and have forgotten it: hold
     * votes back as if we had heard from it now, so its lease stays safe. */
    r->guard_until = now_ms + r->etmin;
    fo__reset_election_timer(r, now_ms);
    *out = r;
    return 0;
}

void fo_raft_free(struct fo_raft *r)
{
    if (!r)
        return;
    fo__log_free(&r->log);
    free(r->snap.data);
    free(r->in.buf);
    for (size_t i = 0; i < r->n_msgs; i++)
        fo_raft_msg_clear(&r->msgs[i]);
    free(r->msgs);
    free(r->prs);
    free(r->voters);
    free(r);
}

struct fo_raft_msg *fo__msg_new(struct fo_raft *r, uint8_t type, uint64_t to)
{
    if (r->n_msgs == r->cap_msgs) {
        r->cap_msgs = r->cap_msgs ? r->cap_msgs * 2 : 8;
        r->msgs = fo_xrealloc(r->msgs, r->cap_msgs * sizeof(*r->msgs));
    }
    struct fo_raft_msg *m = &r->msgs[r->n_msgs++];
    memset(m, 0, sizeof(*m));
    m->type = type;
    m->from = r->id;
    m->to = to;
    m->term = r->term;
    return m;
}

/* What we may acknowledge (follower) or count for ourselves (leader): durable entries only. */
uint64_t fo__ackable(const struct fo_raft *r)
{
#ifdef FO_RAFT_FAULT_ACK_BEFORE_FSYNC
    return fo__log_last_index(&r->log);
#else
    return r->durable;
#endif
}

static int fo__cmp_desc(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Send time of the latest round a majority answered; our own slot counts as always answered. */
int64_t fo__lease_start(const struct fo_raft *r)
{
    int64_t ts[FO_RAFT_MAX_VOTERS];
    for (size_t i = 0; i < r->n_voters; i++)
        ts[i] = i == r->self ? INT64_MAX : r->prs[i].acked_ts;
    qsort(ts, r->n_voters, sizeof(ts[0]), fo__cmp_desc);
    return ts[r->quorum - 1];
}

int fo_raft_propose(struct fo_raft *r, uint8_t type, const void *data, uint32_t len, int64_t now_ms,
                    uint64_t *index, uint64_t *term)
{
    if (r->state != FO_RAFT_LEADER)
        return -FO_ENOTLEADER;
    if (type != FO_RAFT_ENTRY_COMMAND || (len && !data))
        return -FO_EINVAL;
    if (len > FO_RAFT_MAX_ENTRY_SIZE)
        return -FO_ETOOBIG;
    if (r->transferee)
        return -FO_EBUSY;
    uint64_t last = fo__log_last_index(&r->log);
    if (last - r->commit >= r->max_uncommitted)
        return -FO_EAGAIN;
    struct fo_raft_entry e = {
        .term = r->term, .type = type, .len = len, .data = (unsigned char *)data};
    fo__log_append(&r->log, &e);
    if (index)
        *index = last + 1;
    if (term)
        *term = r->term;
    for (size_t i = 0; i < r->n_voters; i++) {
        struct fo__progress *pr = &r->prs[i];
        if (i == r->self)
            continue;
        if ((pr->state == FO__PR_REPLICATE) || (pr->state == FO__PR_PROBE && !pr->probe_sent))
            fo__send_append(r, pr, now_ms);
    }
    return 0;
}

void fo_raft_persisted(struct fo_raft *r, uint64_t index, uint64_t term, int64_t now_ms)
{
    uint64_t t;
    if (index <= r->durable || !fo__log_term(&r->log, index, &t) || t != term)
        return;
    r->durable = index;
    if (r->state == FO_RAFT_LEADER)
        fo__maybe_commit(r);
    else if (r->state == FO_RAFT_FOLLOWER)
        fo__follower_ack(r, false);
}

int fo_raft_compact(struct fo_raft *r, uint64_t index, const void *data, uint32_t len)
{
    uint64_t term;
    if (index <= r->log.snap_index || index > r->applied || (len && !data) ||
        len > FO_RAFT_SNAPSHOT_MAX || !fo__log_term(&r->log, index, &term))
        return -FO_EINVAL;
    free(r->snap.data);
    r->snap.index = index;
    r->snap.term = term;
    r->snap.len = len;
    r->snap.data = NULL;
    if (len) {
        r->snap.data = fo_xmalloc(len);
        memcpy(r->snap.data, data, len);
    }
    fo__log_compact(&r->log, index, term);
    return 0;
}

int fo_raft_transfer(struct fo_raft *r, uint64_t target, int64_t now_ms)
{
    if (r->state != FO_RAFT_LEADER)
        return -FO_ENOTLEADER;
    struct fo__progress *pr = fo__progress_of(r, target);
    if (!pr || target == r->id)
        return -FO_EINVAL;
    if (r->transferee)
        return r->transferee == target ? 0 : -FO_EBUSY;
    r->transferee = target;
    r->transfer_deadline = now_ms + r->etmin;
    r->timeout_now_sent = false;
    if (pr->match == fo__log_last_index(&r->log))
        fo__send_timeout_now(r, pr, now_ms);
    else
        fo__send_append(r, pr, now_ms);
    return 0;
}

static uint64_t fo__apply_limit(const struct fo_raft *r)
{
    return r->commit < r->durable ? r->commit : r->durable;
}

bool fo_raft_has_ready(const struct fo_raft *r)
{
    return r->hs_dirty || r->n_msgs > 0 || r->snap_pending_install ||
           r->unstable <= fo__log_last_index(&r->log) || r->applied < fo__apply_limit(r);
}

static struct fo_raft_entry *fo__copy_range(const struct fo_raft *r, uint64_t from, uint64_t to,
                                            size_t *n)
{
    *n = 0;
    if (from > to)
        return NULL;
    struct fo_raft_entry *v = fo_xcalloc((size_t)(to - from + 1), sizeof(*v));
    for (uint64_t i = from; i <= to; i++)
        fo__entry_copy(&v[(*n)++], fo__log_get(&r->log, i));
    return v;
}

void fo_raft_ready_take(struct fo_raft *r, struct fo_raft_ready *rd)
{
    memset(rd, 0, sizeof(*rd));
    if (r->hs_dirty) {
        rd->has_hard_state = true;
        rd->hs.term = r->term;
        rd->hs.vote = r->vote;
        r->hs_dirty = false;
    }
    if (r->snap_pending_install) {
        rd->snapshot = fo_xcalloc(1, sizeof(*rd->snapshot));
        *rd->snapshot = r->snap;
        rd->snapshot->data = NULL;
        if (r->snap.len) {
            rd->snapshot->data = fo_xmalloc(r->snap.len);
            memcpy(rd->snapshot->data, r->snap.data, r->snap.len);
        }
        r->snap_pending_install = false;
    }
    uint64_t last = fo__log_last_index(&r->log);
    if (r->unstable <= r->log.snap_index)
        r->unstable = r->log.snap_index + 1;
    rd->entries = fo__copy_range(r, r->unstable, last, &rd->n_entries);
    r->unstable = last + 1;
    uint64_t upto = fo__apply_limit(r);
    if (r->applied < upto) {
        rd->committed = fo__copy_range(r, r->applied + 1, upto, &rd->n_committed);
        r->applied = upto;
    }
    rd->msgs = r->msgs;
    rd->n_msgs = r->n_msgs;
    r->msgs = NULL;
    r->n_msgs = 0;
    r->cap_msgs = 0;
}

void fo_raft_ready_free(struct fo_raft_ready *rd)
{
    if (rd->snapshot) {
        free(rd->snapshot->data);
        free(rd->snapshot);
    }
    for (size_t i = 0; i < rd->n_entries; i++)
        free(rd->entries[i].data);
    free(rd->entries);
    for (size_t i = 0; i < rd->n_committed; i++)
        free(rd->committed[i].data);
    free(rd->committed);
    for (size_t i = 0; i < rd->n_msgs; i++)
        fo_raft_msg_clear(&rd->msgs[i]);
    free(rd->msgs);
    memset(rd, 0, sizeof(*rd));
}

void fo_raft_status(const struct fo_raft *r, struct fo_raft_status *st)
{
    memset(st, 0, sizeof(*st));
    st->id = r->id;
    st->state = r->state;
    st->term = r->term;
    st->vote = r->vote;
    st->leader = r->leader;
    st->commit = r->commit;
    st->applied = r->applied;
    st->durable = r->durable;
    st->last_index = fo__log_last_index(&r->log);
    st->last_term = fo__log_last_term(&r->log);
    st->snapshot_index = r->log.snap_index;
    st->snapshot_term = r->log.snap_term;
    if (r->state == FO_RAFT_LEADER) {
        st->noop_index = r->noop_index;
        st->transferee = r->transferee;
        st->leader_since_ms = r->leader_since;
    }
}

bool fo_raft_is_leader(const struct fo_raft *r)
{
    return r->state == FO_RAFT_LEADER;
}

int64_t fo_raft_lease_remaining(const struct fo_raft *r, int64_t now_ms)
{
    /* During a transfer, and after it (a leader that told its target to campaign steps down
     * unless it has been deposed first), voters may be told to ignore stickiness. */
    if (r->state != FO_RAFT_LEADER || r->transferee)
        return 0;
    int64_t start = fo__lease_start(r);
    if (start == INT64_MAX) /* a single voter: nobody else can lead */
        return r->lease_ms;
    if (start == FO__NEVER)
        return 0;
    int64_t left = start + (int64_t)r->lease_ms - now_ms;
    return left > 0 ? left : 0;
}

bool fo_raft_lease_valid(const struct fo_raft *r, int64_t now_ms)
{
    return fo_raft_lease_remaining(r, now_ms) > 0;
}

int fo_raft_fencing_token(const struct fo_raft *r, uint64_t *term, uint64_t *index)
{
    if (r->state != FO_RAFT_LEADER)
        return -FO_ENOTLEADER;
    *term = r->term;
    *index = r->noop_index;
    return 0;
}

bool fo_raft_ready_to_act(const struct fo_raft *r)
{
    return r->state == FO_RAFT_LEADER && !r->transferee && r->noop_index > 0 &&
           r->applied >= r->noop_index;
}

int fo_raft_progress(const struct fo_raft *r, uint64_t id, uint64_t *match, uint64_t *next)
{
    if (r->state != FO_RAFT_LEADER)
        return -FO_ENOTLEADER;
    for (size_t i = 0; i < r->n_voters; i++) {
        if (r->prs[i].id != id)
            continue;
        if (i == r->self) {
            *match = fo__ackable(r);
            *next = fo__log_last_index(&r->log) + 1;
        } else {
            *match = r->prs[i].match;
            *next = r->prs[i].next;
        }
        return 0;
    }
    return -FO_ENOENT;
}
