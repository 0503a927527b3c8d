/* The simulator's engine: the seeded event queue, node lifecycle (start, crash with loss of
 * un-synced writes, restart from disk), the glue loop around each core (ready handling,
 * storage with fsync delay, compaction) and the network. */
#include "sim/sim_int.h"

#include "core/fo.h"

#include <stdlib.h>
#include <string.h>

#define FO__SIM_MAX_EVENTS 20000000ull

uint64_t fo__sim_rand(struct fo__sim *s)
{
    uint64_t z = (s->rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t fo__sim_range(struct fo__sim *s, uint64_t lo, uint64_t hi)
{
    if (hi <= lo)
        return lo;
    return lo + fo__sim_rand(s) % (hi - lo + 1);
}

bool fo__sim_chance(struct fo__sim *s, uint32_t ppm)
{
    return ppm && fo__sim_rand(s) % 1000000 < ppm;
}

static void fo__sim_push_ev(struct fo__sim *s, const struct fo__sim_ev *ev)
{
    if (s->heap_n == s->heap_cap) {
        s->heap_cap = s->heap_cap ? s->heap_cap * 2 : 1024;
        s->heap = fo_xrealloc(s->heap, s->heap_cap * sizeof(*s->heap));
    }
    size_t i = s->heap_n++;
    struct fo__sim_ev e = *ev;
    e.seq = s->seq++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        struct fo__sim_ev *pe = &s->heap[p];
        if (pe->t < e.t || (pe->t == e.t && pe->seq < e.seq))
            break;
        s->heap[i] = *pe;
        i = p;
    }
    s->heap[i] = e;
}

static bool fo__sim_before(const struct fo__sim_ev *a, const struct fo__sim_ev *b)
{
    return a->t < b->t || (a->t == b->t && a->seq < b->seq);
}

static struct fo__sim_ev fo__sim_pop(struct fo__sim *s)
{
    struct fo__sim_ev top = s->heap[0];
    struct fo__sim_ev last = s->heap[--s->heap_n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const struct fo__sim_ev *best = &last;
        if (l < s->heap_n && fo__sim_before(&s->heap[l], best)) {
            m = l;
            best = &s->heap[l];
        }
        if (r < s->heap_n && fo__sim_before(&s->heap[r], best))
            m = r;
        if (m == i)
            break;
        s->heap[i] = s->heap[m];
        i = m;
    }
    if (s->heap_n)
        s->heap[i] = last;
    return top;
}

void fo__sim_push(struct fo__sim *s, int64_t t, int kind, int node, int peer, uint64_t gen)
{
    struct fo__sim_ev ev = {.t = t, .kind = kind, .node = node, .peer = peer, .gen = gen};
    fo__sim_push_ev(s, &ev);
}

static int64_t fo__sim_local_us(const struct fo__sim *s, const struct fo__sim_node *nd)
{
    return nd->l0 + (s->now - nd->t0) * (1000000 + nd->ppm) / 1000000;
}

int64_t fo__sim_local_ms(const struct fo__sim *s, const struct fo__sim_node *nd)
{
    return fo__sim_local_us(s, nd) / 1000;
}

void fo__sim_set_ppm(struct fo__sim *s, struct fo__sim_node *nd, int64_t ppm)
{
    nd->l0 = fo__sim_local_us(s, nd);
    nd->t0 = s->now;
    nd->ppm = ppm;
}

/* Real time at which the node's clock shows ms (if its rate holds until then). */
static int64_t fo__sim_real_at(const struct fo__sim *s, const struct fo__sim_node *nd, int64_t ms)
{
    int64_t cur = fo__sim_local_us(s, nd), target = ms * 1000;
    if (target <= cur)
        return s->now;
    return s->now + (target - cur) * 1000000 / (1000000 + nd->ppm) + 1;
}

int fo__sim_leader(const struct fo__sim *s)
{
    int best = -1;
    uint64_t term = 0;
    for (int i = 0; i < s->n; i++) {
        const struct fo__sim_node *nd = &s->nodes[i];
        if (!nd->r || !fo_raft_is_leader(nd->r))
            continue;
        struct fo_raft_status st;
        fo_raft_status(nd->r, &st);
        if (best < 0 || st.term > term) {
            best = i;
            term = st.term;
        }
    }
    return best;
}

static void fo__sim_free_ops(struct fo__sim_node *nd)
{
    while (nd->ops) {
        struct fo__sim_op *op = nd->ops;
        nd->ops = op->next;
        for (size_t i = 0; i < op->n; i++)
            free(op->ents[i].data);
        free(op->ents);
        free(op->snap_data);
        free(op);
    }
    nd->ops_tail = NULL;
}

static void fo__sim_queue_op(struct fo__sim *s, struct fo__sim_node *nd, struct fo__sim_op *op)
{
    int64_t done =
        s->now + (int64_t)fo__sim_range(s, (uint64_t)s->p.fsync_min, (uint64_t)s->p.fsync_max);
    if (nd->ops_tail && done < nd->ops_tail->done_at)
        done = nd->ops_tail->done_at;
    op->done_at = done;
    if (nd->ops_tail)
        nd->ops_tail->next = op;
    else
        nd->ops = op;
    nd->ops_tail = op;
    fo__sim_push(s, done, FO__EV_PERSIST, nd->idx, -1, nd->incarnation);
}

static int fo__sim_node_of(const struct fo__sim *s, uint64_t id)
{
    for (int i = 0; i < s->n; i++)
        if (s->voters[i] == id)
            return i;
    return -1;
}

static void fo__sim_send(struct fo__sim *s, struct fo__sim_node *nd, const struct fo_raft_msg *m)
{
    int to = fo__sim_node_of(s, m->to);
    size_t len;
    if (to < 0 || fo_raft_msg_encode(m, s->encbuf, FO_RAFT_MSG_MAX_SIZE, &len) < 0) {
        fo__sim_violation(s, "protocol", "node %d made a message it cannot send (type %s to %llu)",
                          nd->idx, fo_raft_msg_type_name(m->type), (unsigned long long)m->to);
        return;
    }
    fo__sim_trace_msg(s, FO__T_SEND, nd->idx, to, m);
    /* A vote, or a candidacy, is on disk before anyone hears of it. */
    bool granted = m->type == FO_RAFT_MSG_VOTE_RESP && !(m->flags & FO_RAFT_MSG_REJECT);
    if ((granted && (nd->hs.term != m->term || nd->hs.vote != m->to)) ||
        (m->type == FO_RAFT_MSG_VOTE && (nd->hs.term != m->term || nd->hs.vote != nd->id))) {
        fo__sim_violation(s, "hard-state",
                          "node %d sends %s for term %llu before its vote is durable (disk: "
                          "term %llu vote %llu)",
                          nd->idx, fo_raft_msg_type_name(m->type), (unsigned long long)m->term,
                          (unsigned long long)nd->hs.term, (unsigned long long)nd->hs.vote);
        return;
    }
    if (fo__sim_link_cut(s, nd->idx, to) || fo__sim_chance(s, s->p.drop_ppm)) {
        fo__sim_trace_msg(s, FO__T_DROP, nd->idx, to, m);
        return;
    }
    int copies = fo__sim_chance(s, s->p.dup_ppm) ? 2 : 1;
    for (int c = 0; c < copies; c++) {
        int64_t delay =
            (int64_t)fo__sim_range(s, (uint64_t)s->p.delay_min, (uint64_t)s->p.delay_max);
        if (s->slow_until[nd->idx][to] > s->now)
            delay += s->slow_extra[nd->idx][to];
        struct fo__sim_ev ev = {
            .t = s->now + delay, .kind = FO__EV_DELIVER, .node = to, .peer = nd->idx, .len = len};
        ev.buf = fo_xmalloc(len);
        memcpy(ev.buf, s->encbuf, len);
        fo__sim_push_ev(s, &ev);
    }
}

/* The snapshot the simulated state machine makes: index, term and chain hash, then padding
 * so that snapshots travel in several chunks. */
static unsigned char *fo__sim_snap_data(struct fo__sim *s, uint64_t index, uint64_t term,
                                        uint64_t chain, uint32_t *len)
{
    uint32_t pad = (uint32_t)fo__sim_range(s, 0, s->p.snap_pad);
    unsigned char *b = fo_xmalloc(24 + pad);
    memcpy(b, &index, 8);
    memcpy(b + 8, &term, 8);
    memcpy(b + 16, &chain, 8);
    for (uint32_t i = 0; i < pad; i++)
        b[24 + i] = (unsigned char)(chain >> (8 * (i % 8)));
    *len = 24 + pad;
    return b;
}

static void fo__sim_install(struct fo__sim *s, struct fo__sim_node *nd,
                            const struct fo_raft_snapshot *sn)
{
    uint64_t idx, term, chain, known;
    if (sn->len < 24) {
        fo__sim_violation(s, "snapshot", "node %d got a snapshot of %u bytes", nd->idx, sn->len);
        return;
    }
    memcpy(&idx, sn->data, 8);
    memcpy(&term, sn->data + 8, 8);
    memcpy(&chain, sn->data + 16, 8);
    if (idx != sn->index || term != sn->term) {
        fo__sim_violation(s, "snapshot", "node %d: snapshot meta %llu/%llu, data %llu/%llu",
                          nd->idx, (unsigned long long)sn->index, (unsigned long long)sn->term,
                          (unsigned long long)idx, (unsigned long long)term);
        return;
    }
    if (!fo__sim_known_committed(s, idx, &known) || known != chain) {
        fo__sim_violation(s, "state-machine-safety",
                          "node %d installs a snapshot at %llu that is not the committed state",
                          nd->idx, (unsigned long long)idx);
        return;
    }
    fo__sim_trace(s, FO__T_INSTALL, nd->idx, 0, 0, 0, idx, term, sn->len, 0);
    fo__sim_log_reset(&nd->mem, idx, term, chain);
    nd->sm_index = idx;
    nd->sm_chain = chain;
    struct fo__sim_op *op = fo_xcalloc(1, sizeof(*op));
    op->snapshot = true;
    op->index = idx;
    op->term = term;
    op->chain = chain;
    op->snap_len = sn->len;
    op->snap_data = fo_xmalloc(sn->len);
    memcpy(op->snap_data, sn->data, sn->len);
    fo__sim_queue_op(s, nd, op);
}

static void fo__sim_append(struct fo__sim *s, struct fo__sim_node *nd,
                           const struct fo_raft_entry *ents, size_t n)
{
    uint64_t first = ents[0].index;
    if (first <= nd->mem.base || first > fo__sim_log_last(&nd->mem) + 1) {
        fo__sim_violation(s, "storage", "node %d wrote entries from %llu onto a log %llu..%llu",
                          nd->idx, (unsigned long long)first, (unsigned long long)nd->mem.base,
                          (unsigned long long)fo__sim_log_last(&nd->mem));
        return;
    }
    fo__sim_log_truncate(&nd->mem, first);
    struct fo__sim_op *op = fo_xcalloc(1, sizeof(*op));
    op->ents = fo_xcalloc(n, sizeof(*op->ents));
    op->first = first;
    op->n = n;
    for (size_t i = 0; i < n; i++) {
        const struct fo_raft_entry *e = &ents[i];
        uint64_t prev = e->index - 1 == nd->mem.base
                            ? nd->mem.base_chain
                            : fo__sim_log_at(&nd->mem, e->index - 1)->chain;
        struct fo__sim_ent se = {.term = e->term, .type = e->type, .len = e->len, .data = e->data};
        se.chain = fo__sim_chain(prev, e->index, e->term, e->type, e->data, e->len);
        fo__sim_log_push(&nd->mem, &se, false);
        fo__sim_check_entry(s, nd, e->index, &se);
        op->ents[i] = se;
        op->ents[i].data = NULL;
        if (e->len) {
            op->ents[i].data = fo_xmalloc(e->len);
            memcpy(op->ents[i].data, e->data, e->len);
        }
    }
    op->index = ents[n - 1].index;
    op->term = ents[n - 1].term;
    if (!s->p.per_entry_persist || n == 1) {
        fo__sim_queue_op(s, nd, op);
        return;
    }
    /* Report durability entry by entry, as a glue that syncs small batches would. */
    for (size_t i = 0; i < n; i++) {
        struct fo__sim_op *one = fo_xcalloc(1, sizeof(*one));
        one->ents = fo_xcalloc(1, sizeof(*one->ents));
        one->ents[0] = op->ents[i];
        one->first = first + i;
        one->n = 1;
        one->index = first + i;
        one->term = op->ents[i].term;
        fo__sim_queue_op(s, nd, one);
    }
    free(op->ents);
    free(op);
}

static void fo__sim_compact(struct fo__sim *s, struct fo__sim_node *nd)
{
    uint64_t idx = nd->sm_index;
    if (!s->p.snap_every || idx < nd->disk.base + s->p.snap_every || idx <= nd->mem.base)
        return;
    const struct fo__sim_ent *me = fo__sim_log_at(&nd->mem, idx);
    const struct fo__sim_ent *de = fo__sim_log_at(&nd->disk, idx);
    if (!me || !de || de->chain != nd->sm_chain) {
        fo__sim_violation(s, "storage", "node %d applied %llu which is not on its disk", nd->idx,
                          (unsigned long long)idx);
        return;
    }
    uint32_t len;
    unsigned char *data = fo__sim_snap_data(s, idx, me->term, nd->sm_chain, &len);
    int rc = fo_raft_compact(nd->r, idx, data, len);
    if (rc < 0) {
        fo__sim_violation(s, "api", "node %d: compact at applied %llu failed: %d", nd->idx,
                          (unsigned long long)idx, rc);
        free(data);
        return;
    }
    fo__sim_trace(s, FO__T_COMPACT, nd->idx, 0, 0, 0, idx, me->term, len, 0);
    /* The snapshot file is written and synced before the log is cut (tmp, fsync, rename). */
    uint64_t term = me->term, chain = nd->sm_chain;
    struct fo__sim_log keep = {0};
    fo__sim_log_reset(&keep, idx, term, chain);
    for (uint64_t i = idx + 1; i <= fo__sim_log_last(&nd->disk); i++)
        fo__sim_log_push(&keep, fo__sim_log_at(&nd->disk, i), true);
    fo__sim_log_free(&nd->disk);
    nd->disk = keep;
    free(nd->disk_snap);
    nd->disk_snap = data;
    nd->disk_snap_len = len;
    struct fo__sim_log mkeep = {0};
    fo__sim_log_reset(&mkeep, idx, term, chain);
    for (uint64_t i = idx + 1; i <= fo__sim_log_last(&nd->mem); i++)
        fo__sim_log_push(&mkeep, fo__sim_log_at(&nd->mem, i), false);
    fo__sim_log_free(&nd->mem);
    nd->mem = mkeep;
}

static void fo__sim_schedule_tick(struct fo__sim *s, struct fo__sim_node *nd)
{
    int64_t t =
        fo__sim_real_at(s, nd, fo_raft_next_deadline(nd->r)) + (int64_t)fo__sim_range(s, 0, 2000);
    if (t < s->now + 100)
        t = s->now + 100;
    if (nd->tick_at >= 0 && nd->tick_at <= t)
        return;
    nd->tick_at = t;
    fo__sim_push(s, t, FO__EV_TICK, nd->idx, -1, ++nd->tick_gen);
}

void fo__sim_after_call(struct fo__sim *s, struct fo__sim_node *nd)
{
    while (nd->r && fo_raft_has_ready(nd->r) && !s->res->violation) {
        struct fo_raft_ready rd;
        fo_raft_ready_take(nd->r, &rd);
        if (rd.has_hard_state) {
            fo__sim_check_hs(s, nd, &rd.hs);
            nd->hs = rd.hs; /* synced before any message below is sent */
        }
        if (rd.snapshot)
            fo__sim_install(s, nd, rd.snapshot);
        if (rd.n_entries && !s->res->violation)
            fo__sim_append(s, nd, rd.entries, rd.n_entries);
        if (!s->res->violation)
            fo__sim_check_node(s, nd);
        for (size_t i = 0; i < rd.n_committed && !s->res->violation; i++)
            fo__sim_check_apply(s, nd, &rd.committed[i]);
        for (size_t i = 0; i < rd.n_msgs && !s->res->violation; i++)
            fo__sim_send(s, nd, &rd.msgs[i]);
        fo_raft_ready_free(&rd);
        if (!s->res->violation)
            fo__sim_compact(s, nd);
    }
    if (nd->r && !s->res->violation) {
        fo__sim_check_node(s, nd);
        fo__sim_schedule_tick(s, nd);
    }
}

void fo__sim_crash(struct fo__sim *s, struct fo__sim_node *nd)
{
    if (!nd->r)
        return;
    fo__sim_trace(s, FO__T_CRASH, nd->idx, 0, 0, 0, nd->ops ? 1 : 0, 0, 0, 0);
    fo_raft_free(nd->r);
    nd->r = NULL;
    fo__sim_free_ops(nd); /* un-synced writes are lost */
    fo__sim_log_free(&nd->mem);
    nd->incarnation++;
    nd->tick_gen++;
    nd->tick_at = -1;
    nd->lease = false;
    nd->paused_until = 0;
    s->res->crashes++;
}

void fo__sim_restart(struct fo__sim *s, struct fo__sim_node *nd)
{
    if (nd->r)
        return;
    struct fo_raft_config cfg;
    fo_raft_config_defaults(&cfg);
    cfg.id = nd->id;
    cfg.voters = s->voters;
    cfg.n_voters = (size_t)s->n;
    cfg.max_entries_per_msg = s->p.max_entries;
    cfg.max_bytes_per_msg = s->p.chunk;
    cfg.max_inflight = s->p.max_inflight;
    cfg.max_uncommitted = s->p.max_uncommitted;
    cfg.seed = fo__sim_rand(s);
    struct fo_raft_snapshot snap = {.index = nd->disk.base,
                                    .term = nd->disk.base_term,
                                    .len = nd->disk_snap_len,
                                    .data = nd->disk_snap};
    struct fo_raft_entry *ents = fo_xcalloc(nd->disk.n + 1, sizeof(*ents));
    for (size_t i = 0; i < nd->disk.n; i++) {
        const struct fo__sim_ent *e = &nd->disk.e[i];
        ents[i] = (struct fo_raft_entry){.index = nd->disk.base + 1 + i,
                                         .term = e->term,
                                         .type = e->type,
                                         .len = e->len,
                                         .data = e->data};
    }
    struct fo_raft_restore rs = {.hs = nd->hs,
                                 .snapshot = nd->disk.base ? &snap : NULL,
                                 .entries = ents,
                                 .n_entries = nd->disk.n};
    int rc = fo_raft_create(&nd->r, &cfg, &rs, fo__sim_local_ms(s, nd));
    free(ents);
    if (rc < 0) {
        fo__sim_violation(s, "api", "node %d cannot restart from its disk: %d", nd->idx, rc);
        return;
    }
    nd->incarnation++;
    fo__sim_log_free(&nd->mem);
    fo__sim_log_reset(&nd->mem, nd->disk.base, nd->disk.base_term, nd->disk.base_chain);
    for (size_t i = 0; i < nd->disk.n; i++)
        fo__sim_log_push(&nd->mem, &nd->disk.e[i], false);
    nd->sm_index = nd->disk.base;
    nd->sm_chain = nd->disk.base_chain;
    nd->seen_commit = nd->disk.base;
    nd->seen_state = FO_RAFT_FOLLOWER;
    nd->seen_term = nd->hs.term;
    nd->tick_at = -1;
    nd->lease = false;
    fo__sim_trace(s, FO__T_RESTART, nd->idx, 0, 0, 0, nd->hs.term, nd->disk.base,
                  fo__sim_log_last(&nd->disk), 0);
    fo__sim_after_call(s, nd);
}

static void fo__sim_persist(struct fo__sim *s, struct fo__sim_node *nd)
{
    struct fo__sim_op *op = nd->ops;
    if (!op)
        return;
    nd->ops = op->next;
    if (!nd->ops)
        nd->ops_tail = NULL;
    if (op->snapshot) {
        fo__sim_log_free(&nd->disk);
        fo__sim_log_reset(&nd->disk, op->index, op->term, op->chain);
        free(nd->disk_snap);
        nd->disk_snap = op->snap_data;
        nd->disk_snap_len = op->snap_len;
        op->snap_data = NULL;
    } else {
        if (op->first > fo__sim_log_last(&nd->disk) + 1) {
            fo__sim_violation(s, "storage", "node %d: write at %llu leaves a gap after %llu",
                              nd->idx, (unsigned long long)op->first,
                              (unsigned long long)fo__sim_log_last(&nd->disk));
        } else {
            fo__sim_log_truncate(&nd->disk, op->first);
            for (size_t i = 0; i < op->n; i++)
                if (op->first + i > nd->disk.base)
                    fo__sim_log_push(&nd->disk, &op->ents[i], true);
        }
    }
    fo__sim_trace(s, FO__T_PERSIST, nd->idx, 0, 0, op->snapshot, op->index, op->term, 0, 0);
    uint64_t idx = op->index, term = op->term;
    for (size_t i = 0; i < op->n; i++)
        free(op->ents[i].data);
    free(op->ents);
    free(op->snap_data);
    free(op);
    if (!s->res->violation) {
        fo_raft_persisted(nd->r, idx, term, fo__sim_local_ms(s, nd));
        fo__sim_after_call(s, nd);
    }
}

static void fo__sim_deliver(struct fo__sim *s, struct fo__sim_node *nd, struct fo__sim_ev *ev)
{
    struct fo_raft_msg m;
    int rc = fo_raft_msg_decode(ev->buf, ev->len, &m);
    if (rc == 0 && !nd->r) {
        fo__sim_trace_msg(s, FO__T_DROP, nd->idx, nd->idx, &m); /* the receiver is down */
        fo_raft_msg_clear(&m);
        return;
    }
    if (rc < 0) {
        fo__sim_violation(s, "codec", "node %d cannot decode %zu bytes from node %d: %d", nd->idx,
                          ev->len, ev->peer, rc);
        return;
    }
    size_t len;
    if (fo_raft_msg_encode(&m, s->encbuf, FO_RAFT_MSG_MAX_SIZE, &len) < 0 || len != ev->len ||
        memcmp(s->encbuf, ev->buf, len) != 0) {
        fo__sim_violation(s, "codec", "message from node %d does not re-encode to its bytes",
                          ev->peer);
        fo_raft_msg_clear(&m);
        return;
    }
    fo__sim_trace_msg(s, FO__T_RECV, nd->idx, ev->peer, &m);
    rc = fo_raft_step(nd->r, &m, fo__sim_local_ms(s, nd));
    fo_raft_msg_clear(&m);
    if (rc < 0) {
        fo__sim_violation(s, "protocol", "node %d refused a message from node %d: %d", nd->idx,
                          ev->peer, rc);
        return;
    }
    fo__sim_after_call(s, nd);
}

void fo_sim_opts_defaults(struct fo_sim_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->nodes = 3;
    o->steps = 60;
    o->trace_len = 80;
}

static void fo__sim_free(struct fo__sim *s)
{
    for (int i = 0; i < s->n; i++) {
        struct fo__sim_node *nd = &s->nodes[i];
        fo_raft_free(nd->r);
        fo__sim_free_ops(nd);
        fo__sim_log_free(&nd->mem);
        fo__sim_log_free(&nd->disk);
        free(nd->disk_snap);
    }
    for (size_t i = 0; i < s->heap_n; i++)
        free(s->heap[i].buf);
    free(s->heap);
    free(s->encbuf);
    free(s->trace);
    fo__sim_check_free(s);
}

static void fo__sim_event(struct fo__sim *s, struct fo__sim_ev *ev)
{
    struct fo__sim_node *nd =
        ev->node >= 0 && ev->kind != FO__EV_SCRIPT ? &s->nodes[ev->node] : NULL;
    bool node_ev =
        ev->kind == FO__EV_DELIVER || ev->kind == FO__EV_TICK || ev->kind == FO__EV_PERSIST;
    if (node_ev && nd->paused_until > s->now) {
        /* A paused process handles nothing; everything waits, in order, until it resumes. */
        ev->t = nd->paused_until;
        fo__sim_push_ev(s, ev);
        ev->buf = NULL;
        return;
    }
    switch (ev->kind) {
    case FO__EV_DELIVER:
        fo__sim_deliver(s, nd, ev);
        break;
    case FO__EV_TICK:
        if (!nd->r || ev->gen != nd->tick_gen)
            break;
        nd->tick_at = -1;
        fo__sim_trace(s, FO__T_TICK, nd->idx, 0, 0, 0, 0, 0, 0, 0);
        fo_raft_tick(nd->r, fo__sim_local_ms(s, nd));
        fo__sim_after_call(s, nd);
        break;
    case FO__EV_PERSIST:
        if (nd->r && ev->gen == nd->incarnation)
            fo__sim_persist(s, nd);
        break;
    case FO__EV_RESTART:
        if (ev->gen == nd->incarnation)
            fo__sim_restart(s, nd);
        break;
    case FO__EV_ACTION:
        fo__sim_action(s);
        break;
    case FO__EV_CLIENT:
        if (ev->gen == s->client_gen)
            fo__sim_client(s);
        break;
    case FO__EV_ISOLATE:
    case FO__EV_CRASH:
        if (!s->healed)
            fo__sim_targeted(s, ev->kind, ev->node, ev->gen);
        break;
    case FO__EV_HEAL:
        fo__sim_heal(s);
        break;
    case FO__EV_SCRIPT:
        if (!s->healed)
            fo__sim_script(s, ev->node, ev->peer);
        break;
    default:
        break;
    }
}

int fo_sim_run(const struct fo_sim_opts *o, struct fo_sim_result *res)
{
    memset(res, 0, sizeof(*res));
    if (o->nodes < 1 || o->nodes > FO_SIM_MAX_NODES || o->steps < 0)
        return -FO_EINVAL;
    struct fo__sim *s = fo_xcalloc(1, sizeof(*s));
    s->o = *o;
    if (s->o.trace_len <= 0)
        s->o.trace_len = 80;
    s->res = res;
    s->rng = o->seed * 0xD1B54A32D192ED03ull + 0x2545F4914F6CDD1Dull;
    s->n = o->nodes;
    s->quorum = (size_t)s->n / 2 + 1;
    s->encbuf = fo_xmalloc(FO_RAFT_MSG_MAX_SIZE);
    s->trace_cap = (size_t)s->o.trace_len < 64 ? 64 : (size_t)s->o.trace_len;
    s->trace = fo_xcalloc(s->trace_cap, sizeof(*s->trace));
    s->steps_left = o->steps;
    s->iso_next_leader = -1;
    s->restart_on_campaign = -1;
    fo__sim_profile(s);
    for (int i = 0; i < s->n; i++) {
        struct fo__sim_node *nd = &s->nodes[i];
        nd->idx = i;
        nd->id = (uint64_t)(i + 1) * 11;
        s->voters[i] = nd->id;
        nd->l0 = (int64_t)fo__sim_range(s, 1, 1000000) * 1000000; /* arbitrary boot clocks */
        nd->ppm = s->p.drift ? (int64_t)fo__sim_range(s, 0, 2 * FO_SIM_MAX_DRIFT_PPM) -
                                   FO_SIM_MAX_DRIFT_PPM
                             : 0;
        nd->tick_at = -1;
    }
    for (int i = 0; i < s->n; i++)
        fo__sim_restart(s, &s->nodes[i]);
    fo__sim_push(s, (int64_t)fo__sim_range(s, 300000, 1500000), FO__EV_ACTION, -1, -1, 0);
    fo__sim_push(s, s->p.client_every, FO__EV_CLIENT, -1, -1, 0);
    while (s->heap_n && !res->violation && !s->done) {
        struct fo__sim_ev ev = fo__sim_pop(s);
        s->now = ev.t;
        fo__sim_event(s, &ev);
        free(ev.buf);
        if (!res->violation)
            fo__sim_check_global(s);
        if (++res->events > FO__SIM_MAX_EVENTS)
            fo__sim_violation(s, "runaway", "more than %llu events",
                              (unsigned long long)FO__SIM_MAX_EVENTS);
    }
    res->sim_ms = s->now / 1000;
    res->max_commit = s->max_commit;
    fo__sim_free(s);
    free(s);
    return 0;
}
