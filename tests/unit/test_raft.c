/* Unit tests of the Raft core: elections, pre-vote, check-quorum, vote stickiness, the figure-8
 * and stale-progress histories built by hand, transfer, the lease's start, snapshots,
 * durable-only acknowledgements; then the deterministic simulation over FO_SIM_SEEDS seeds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/fo.h"
#include "raft/raft.h"
#include "sim/sim.h"

#define N_MAX 5

/* ---- a small cluster with instant storage and a message queue ---- */

struct tc {
    int n;
    uint64_t ids[N_MAX];
    struct fo_raft *r[N_MAX];
    int64_t now;
    bool cut[N_MAX][N_MAX];
    bool persist;              /* report writes durable at once */
    uint64_t applied[N_MAX];   /* last index applied */
    uint64_t installed[N_MAX]; /* last snapshot installed */
    struct fo_raft_msg q[4096];
    size_t qn;
};

static void tc_cfg(struct fo_raft_config *cfg, const uint64_t *ids, int n, uint64_t id)
{
    fo_raft_config_defaults(cfg);
    cfg->id = id;
    cfg->voters = ids;
    cfg->n_voters = (size_t)n;
    cfg->seed = id * 7919;
}

static void tc_init(struct tc *c, int n)
{
    memset(c, 0, sizeof(*c));
    c->n = n;
    c->persist = true;
    for (int i = 0; i < n; i++)
        c->ids[i] = (uint64_t)i + 1;
    for (int i = 0; i < n; i++) {
        struct fo_raft_config cfg;
        tc_cfg(&cfg, c->ids, n, c->ids[i]);
        assert_int_equal(fo_raft_create(&c->r[i], &cfg, NULL, 0), 0);
    }
}

static void tc_free(struct tc *c)
{
    for (int i = 0; i < c->n; i++)
        fo_raft_free(c->r[i]);
    for (size_t i = 0; i < c->qn; i++)
        fo_raft_msg_clear(&c->q[i]);
}

/* Takes every node's ready (persisting at once if asked) and queues the messages. */
static void tc_drain(struct tc *c)
{
    for (int i = 0; i < c->n; i++) {
        while (fo_raft_has_ready(c->r[i])) {
            struct fo_raft_ready rd;
            fo_raft_ready_take(c->r[i], &rd);
            if (rd.snapshot)
                c->installed[i] = rd.snapshot->index;
            if (c->persist && rd.snapshot)
                fo_raft_persisted(c->r[i], rd.snapshot->index, rd.snapshot->term, c->now);
            if (c->persist && rd.n_entries)
                fo_raft_persisted(c->r[i], rd.entries[rd.n_entries - 1].index,
                                  rd.entries[rd.n_entries - 1].term, c->now);
            for (size_t k = 0; k < rd.n_committed; k++) {
                assert_int_equal(rd.committed[k].index, c->applied[i] + 1);
                c->applied[i] = rd.committed[k].index;
            }
            if (rd.snapshot && rd.snapshot->index > c->applied[i])
                c->applied[i] = rd.snapshot->index;
            for (size_t k = 0; k < rd.n_msgs; k++) {
                assert_true(c->qn < FO_ARRAY_LEN(c->q));
                c->q[c->qn++] = rd.msgs[k];
                memset(&rd.msgs[k], 0, sizeof(rd.msgs[k]));
            }
            fo_raft_ready_free(&rd);
        }
    }
}

/* Delivers queued messages (and what they cause) until the cluster is quiet. */
static void tc_flush(struct tc *c)
{
    for (int round = 0; round < 1000; round++) {
        tc_drain(c);
        if (c->qn == 0)
            return;
        struct fo_raft_msg m = c->q[0];
        memmove(c->q, c->q + 1, (c->qn - 1) * sizeof(c->q[0]));
        c->qn--;
        int from = (int)m.from - 1, to = (int)m.to - 1;
        if (!c->cut[from][to])
            assert_int_equal(fo_raft_step(c->r[to], &m, c->now), 0);
        fo_raft_msg_clear(&m);
    }
    fail_msg("cluster did not settle");
}

/* Advances time in 10 ms steps, ticking every node. */
static void tc_run(struct tc *c, int64_t ms)
{
    for (int64_t t = 0; t < ms; t += 10) {
        c->now += 10;
        for (int i = 0; i < c->n; i++)
            fo_raft_tick(c->r[i], c->now);
        tc_flush(c);
    }
}

static int tc_leader(struct tc *c)
{
    int l = -1;
    for (int i = 0; i < c->n; i++)
        if (fo_raft_is_leader(c->r[i])) {
            assert_int_equal(l, -1);
            l = i;
        }
    return l;
}

static void tc_isolate(struct tc *c, int node, bool cut)
{
    for (int i = 0; i < c->n; i++) {
        c->cut[node][i] = cut;
        c->cut[i][node] = cut;
    }
}

static struct fo_raft_status st(struct fo_raft *r)
{
    struct fo_raft_status s;
    fo_raft_status(r, &s);
    return s;
}

/* ---- single-core helpers for hand-made histories ---- */

struct one {
    struct fo_raft *r;
    uint64_t ids[N_MAX];
    struct fo_raft_ready rd;
};

static void one_init(struct one *o, int n, const struct fo_raft_restore *rs, int64_t now)
{
    memset(o, 0, sizeof(*o));
    for (int i = 0; i < n; i++)
        o->ids[i] = (uint64_t)i + 1;
    struct fo_raft_config cfg;
    tc_cfg(&cfg, o->ids, n, 1);
    assert_int_equal(fo_raft_create(&o->r, &cfg, rs, now), 0);
}

/* Takes the ready (persisting its entries) and returns it (valid until the next call). */
static struct fo_raft_ready *one_take(struct one *o, bool persist, int64_t now)
{
    fo_raft_ready_free(&o->rd);
    fo_raft_ready_take(o->r, &o->rd);
    if (persist && o->rd.n_entries)
        fo_raft_persisted(o->r, o->rd.entries[o->rd.n_entries - 1].index,
                          o->rd.entries[o->rd.n_entries - 1].term, now);
    return &o->rd;
}

static void one_free(struct one *o)
{
    fo_raft_ready_free(&o->rd);
    fo_raft_free(o->r);
}

static void step(struct fo_raft *r, uint8_t type, uint64_t from, uint64_t term, uint8_t flags,
                 uint64_t index, uint64_t hint, int64_t ts, int64_t now)
{
    struct fo_raft_msg m = {.type = type,
                            .flags = flags,
                            .from = from,
                            .to = 1,
                            .term = term,
                            .index = index,
                            .hint = hint,
                            .ts = ts};
    assert_int_equal(fo_raft_step(r, &m, now), 0);
}

/* Makes node 1 leader of the next terms: pre-vote and vote granted by the given peers. */
static void one_win(struct one *o, const uint64_t *peers, int np, int64_t now)
{
    fo_raft_tick(o->r, now);
    struct fo_raft_status s = st(o->r);
    assert_int_equal(s.state, FO_RAFT_PRECANDIDATE);
    for (int i = 0; i < np; i++)
        step(o->r, FO_RAFT_MSG_PREVOTE_RESP, peers[i], s.term + 1, 0, 0, 0, 0, now);
    assert_int_equal(st(o->r).state, FO_RAFT_CANDIDATE);
    for (int i = 0; i < np; i++)
        step(o->r, FO_RAFT_MSG_VOTE_RESP, peers[i], s.term + 1, 0, 0, 0, 0, now);
    assert_true(fo_raft_is_leader(o->r));
}

static size_t count_msgs(const struct fo_raft_ready *rd, uint8_t type)
{
    size_t n = 0;
    for (size_t i = 0; i < rd->n_msgs; i++)
        n += rd->msgs[i].type == type;
    return n;
}

/* ---- tests ---- */

static void test_config_rejected(void **state)
{
    uint64_t ids[] = {1, 2, 2};
    struct fo_raft_config cfg;
    struct fo_raft *r;
    tc_cfg(&cfg, ids, 3, 1);
    assert_int_equal(fo_raft_create(&r, &cfg, NULL, 0), -FO_EINVAL); /* duplicate id */
    tc_cfg(&cfg, ids, 2, 3);
    assert_int_equal(fo_raft_create(&r, &cfg, NULL, 0), -FO_EINVAL); /* not a voter */
    tc_cfg(&cfg, ids, 2, 1);
    cfg.lease_ms = cfg.election_timeout_min_ms;
    assert_int_equal(fo_raft_create(&r, &cfg, NULL, 0), -FO_EINVAL); /* lease too long */
    tc_cfg(&cfg, ids, 2, 1);
    struct fo_raft_entry e[] = {{.index = 2, .term = 1}};
    struct fo_raft_restore rs = {.hs = {.term = 1}, .entries = e, .n_entries = 1};
    assert_int_equal(fo_raft_create(&r, &cfg, &rs, 0), -FO_EINVAL); /* gap before entry 2 */
}

static void test_single_node(void **state)
{
    struct tc c;
    tc_init(&c, 1);
    tc_run(&c, 2100);
    assert_true(fo_raft_is_leader(c.r[0]));
    assert_true(fo_raft_ready_to_act(c.r[0]));
    uint64_t idx, term;
    assert_int_equal(fo_raft_propose(c.r[0], FO_RAFT_ENTRY_COMMAND, "x", 1, c.now, &idx, &term), 0);
    tc_flush(&c);
    assert_int_equal(st(c.r[0]).commit, idx);
    assert_int_equal(c.applied[0], idx);
    tc_free(&c);
}

static void test_election_and_replication(void **state)
{
    struct tc c;
    tc_init(&c, 3);
    tc_run(&c, 2500);
    int l = tc_leader(&c);
    assert_true(l >= 0);
    uint64_t term = st(c.r[l]).term;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(st(c.r[i]).term, term);
        assert_int_equal(st(c.r[i]).leader, c.ids[l]);
    }
    uint64_t idx;
    assert_int_equal(fo_raft_propose(c.r[l], FO_RAFT_ENTRY_COMMAND, "abc", 3, c.now, &idx, NULL),
                     0);
    assert_int_equal(
        fo_raft_propose(c.r[(l + 1) % 3], FO_RAFT_ENTRY_COMMAND, "a", 1, c.now, NULL, NULL),
        -FO_ENOTLEADER);
    assert_int_equal(fo_raft_propose(c.r[l], FO_RAFT_ENTRY_CONFIG, "a", 1, c.now, NULL, NULL),
                     -FO_EINVAL);
    unsigned char *big = calloc(FO_RAFT_MAX_ENTRY_SIZE + 1, 1);
    assert_int_equal(fo_raft_propose(c.r[l], FO_RAFT_ENTRY_COMMAND, big, FO_RAFT_MAX_ENTRY_SIZE + 1,
                                     c.now, NULL, NULL),
                     -FO_ETOOBIG);
    free(big);
    tc_run(&c, 300); /* a heartbeat carries the commit index */
    for (int i = 0; i < 3; i++)
        assert_int_equal(c.applied[i], idx);
    uint64_t ft, fi;
    assert_int_equal(fo_raft_fencing_token(c.r[l], &ft, &fi), 0);
    assert_int_equal(ft, term);
    assert_int_equal(fi, st(c.r[l]).noop_index);
    tc_free(&c);
}

/* A node cut off keeps pre-voting without raising its term; back, it disrupts nothing. */
static void test_prevote_does_not_disrupt(void **state)
{
    struct tc c;
    tc_init(&c, 3);
    tc_run(&c, 2500);
    int l = tc_leader(&c), x = (l + 1) % 3;
    uint64_t term = st(c.r[l]).term;
    tc_isolate(&c, x, true);
    tc_run(&c, 8000);
    assert_int_equal(st(c.r[x]).term, term);
    assert_true(st(c.r[x]).state == FO_RAFT_PRECANDIDATE);
    tc_isolate(&c, x, false);
    tc_run(&c, 3000);
    assert_int_equal(tc_leader(&c), l);
    assert_int_equal(st(c.r[l]).term, term);
    assert_int_equal(st(c.r[x]).leader, c.ids[l]);
    tc_free(&c);
}

static void test_check_quorum_step_down(void **state)
{
    struct tc c;
    tc_init(&c, 3);
    tc_run(&c, 2500);
    int l = tc_leader(&c);
    assert_true(fo_raft_lease_valid(c.r[l], c.now));
    tc_isolate(&c, l, true);
    tc_run(&c, 800);
    assert_true(fo_raft_is_leader(c.r[l])); /* heard from a majority less than 1 s ago */
    assert_false(fo_raft_lease_valid(c.r[l], c.now + 100));
    tc_run(&c, 400);
    assert_false(fo_raft_is_leader(c.r[l]));
    assert_false(fo_raft_lease_valid(c.r[l], c.now));
    tc_free(&c);
}

/* A leader whose connection closed (process died) is replaced soon after the vote guard, not
 * at a full random timeout; a follower told about a non-leader ignores it. */
static void test_leader_lost_campaigns_early(void **state)
{
    struct tc c;
    tc_init(&c, 3);
    tc_run(&c, 2500);
    int l = tc_leader(&c);
    uint64_t term = st(c.r[l]).term;
    int f1 = (l + 1) % 3, f2 = (l + 2) % 3;
    int64_t before = fo_raft_next_deadline(c.r[f1]);
    fo_raft_leader_lost(c.r[f1], c.ids[f2], c.now); /* not the leader: no change */
    assert_int_equal(fo_raft_next_deadline(c.r[f1]), before);
    tc_isolate(&c, l, true);
    int64_t lost = c.now;
    fo_raft_leader_lost(c.r[f1], c.ids[l], c.now);
    fo_raft_leader_lost(c.r[f2], c.ids[l], c.now);
    /* guard (1000 ms after the last heartbeat) + 50 + at most 125 ms of spread */
    assert_true(fo_raft_next_deadline(c.r[f1]) <= lost + 1000 + 50 + 125);
    int64_t t = 0;
    while (tc_leader(&c) == l || tc_leader(&c) == -1 || st(c.r[tc_leader(&c)]).term == term) {
        tc_run(&c, 10);
        t += 10;
        assert_true(t < 1400); /* a full random timeout could take up to 2000 ms */
    }
    tc_free(&c);
}

/* No vote or pre-vote within election_timeout_min of hearing from a live leader (nor after a
 * restart), except for a transfer. */
static void test_vote_stickiness(void **state)
{
    struct one o;
    one_init(&o, 3, NULL, 0);
    /* Just started: it may have answered a leader it no longer remembers. */
    step(o.r, FO_RAFT_MSG_VOTE, 3, 1, 0, 0, 0, 0, 500);
    assert_int_equal(st(o.r).term, 0);
    assert_false(fo_raft_has_ready(o.r));
    struct fo_raft_msg app = {
        .type = FO_RAFT_MSG_APPEND, .from = 2, .to = 1, .term = 1, .ts = 1500};
    assert_int_equal(fo_raft_step(o.r, &app, 1500), 0);
    one_take(&o, true, 1500);
    assert_int_equal(st(o.r).leader, 2);
    step(o.r, FO_RAFT_MSG_PREVOTE, 3, 2, 0, 0, 0, 0, 2400);
    step(o.r, FO_RAFT_MSG_VOTE, 3, 2, 0, 0, 0, 0, 2400);
    assert_int_equal(st(o.r).term, 1);
    assert_int_equal(one_take(&o, true, 2400)->n_msgs, 0);
    /* A leadership transfer overrides it. */
    step(o.r, FO_RAFT_MSG_VOTE, 3, 2, FO_RAFT_MSG_TRANSFER, 0, 0, 0, 2400);
    struct fo_raft_ready *rd = one_take(&o, true, 2400);
    assert_int_equal(st(o.r).term, 2);
    assert_int_equal(st(o.r).vote, 3);
    assert_true(rd->has_hard_state);
    assert_int_equal(rd->n_msgs, 1);
    assert_int_equal(rd->msgs[0].type, FO_RAFT_MSG_VOTE_RESP);
    assert_false(rd->msgs[0].flags & FO_RAFT_MSG_REJECT);
    one_free(&o);

    one_init(&o, 3, NULL, 0);
    assert_int_equal(fo_raft_step(o.r, &app, 1500), 0);
    one_take(&o, true, 1500);
    step(o.r, FO_RAFT_MSG_VOTE, 3, 2, 0, 0, 0, 0, 2501); /* leader silent for 1001 ms */
    rd = one_take(&o, true, 2501);
    assert_int_equal(st(o.r).vote, 3);
    assert_int_equal(count_msgs(rd, FO_RAFT_MSG_VOTE_RESP), 1);
    one_free(&o);
}

/* Figure 8: a new leader must not commit an entry of an earlier term by counting copies. */
static void test_figure8_by_hand(void **state)
{
    struct fo_raft_entry e[] = {{.index = 1, .term = 1}, {.index = 2, .term = 2}};
    struct fo_raft_restore rs = {.hs = {.term = 3}, .entries = e, .n_entries = 2};
    struct one o;
    one_init(&o, 5, &rs, 0);
    uint64_t peers[] = {2, 3};
    one_win(&o, peers, 2, 3000);
    assert_int_equal(st(o.r).term, 4);
    assert_int_equal(st(o.r).noop_index, 3);
    one_take(&o, true, 3000);
    /* A majority (1, 2, 3) now holds entry 2 of term 2, but not the no-op of term 4. */
    step(o.r, FO_RAFT_MSG_APPEND_RESP, 2, 4, 0, 2, 2, 3000, 3010);
    step(o.r, FO_RAFT_MSG_APPEND_RESP, 3, 4, 0, 2, 2, 3000, 3010);
    assert_int_equal(st(o.r).commit, 0);
    step(o.r, FO_RAFT_MSG_APPEND_RESP, 2, 4, 0, 3, 3, 3000, 3020);
    assert_int_equal(st(o.r).commit, 0);
    step(o.r, FO_RAFT_MSG_APPEND_RESP, 3, 4, 0, 3, 3, 3000, 3020);
    assert_int_equal(st(o.r).commit, 3);
    one_free(&o);
}

/* What a follower held for an earlier leadership of ours is forgotten when we win again:
 * its log has been cut back since. */
static void test_stale_match_after_truncation(void **state)
{
    struct fo_raft_entry e[] = {{.index = 1, .term = 1}};
    struct fo_raft_restore rs = {.hs = {.term = 1}, .entries = e, .n_entries = 1};
    struct one o;
    one_init(&o, 5, &rs, 0);
    uint64_t p23[] = {2, 3}, p45[] = {4, 5};
    one_win(&o, p23, 2, 3000); /* term 2, no-op at 2 */
    for (int i = 0; i < 3; i++)
        assert_int_equal(fo_raft_propose(o.r, FO_RAFT_ENTRY_COMMAND, "e", 1, 3000, NULL, NULL), 0);
    one_take(&o, true, 3000);
    step(o.r, FO_RAFT_MSG_APPEND_RESP, 2, 2, 0, 5, 5, 3000, 3010); /* node 2 holds 1..5 */
    assert_int_equal(st(o.r).commit, 0);
    /* Leader 3 of term 3 cuts our log back to 1 and appends its own entry 2. */
    struct fo_raft_entry ne = {.index = 2, .term = 3};
    struct fo_raft_msg app = {.type = FO_RAFT_MSG_APPEND,
                              .from = 3,
                              .to = 1,
                              .term = 3,
                              .ts = 1,
                              .index = 1,
                              .log_term = 1,
                              .n_entries = 1,
                              .entries = &ne};
    assert_int_equal(fo_raft_step(o.r, &app, 3100), 0);
    one_take(&o, true, 3100);
    assert_int_equal(st(o.r).last_index, 2);
    one_win(&o, p45, 2, 6000); /* term 4, no-op at 3 */
    assert_int_equal(st(o.r).noop_index, 3);
    one_take(&o, true, 6000);
    step(o.r, FO_RAFT_MSG_APPEND_RESP, 4, 4, 0, 3, 3, 6000, 6010);
    /* Us and node 4: two of five. Node 2's old "5" must not count. */
    assert_int_equal(st(o.r).commit, 0);
    step(o.r, FO_RAFT_MSG_APPEND_RESP, 5, 4, 0, 3, 3, 6000, 6010);
    assert_int_equal(st(o.r).commit, 3);
    one_free(&o);
}

/* The lease runs from the send time of the answered round, not from the answer. */
static void test_lease_from_send_time(void **state)
{
    struct one o;
    one_init(&o, 3, NULL, 0);
    uint64_t p2[] = {2};
    one_win(&o, p2, 1, 2000);
    one_take(&o, true, 2000);
    assert_false(fo_raft_lease_valid(o.r, 2000));
    /* An echo from the future is ignored. */
    step(o.r, FO_RAFT_MSG_APPEND_RESP, 2, 1, 0, 0, 1, 9000, 2300);
    assert_false(fo_raft_lease_valid(o.r, 2300));
    step(o.r, FO_RAFT_MSG_APPEND_RESP, 2, 1, 0, 1, 1, 2000, 2300);
    assert_true(fo_raft_lease_valid(o.r, 2300));
    assert_int_equal(fo_raft_lease_remaining(o.r, 2100), 750);
    assert_true(fo_raft_lease_valid(o.r, 2849));
    assert_false(fo_raft_lease_valid(o.r, 2850));
    /* The leader has not applied its no-op yet. */
    assert_false(fo_raft_ready_to_act(o.r));
    one_take(&o, true, 2300);
    assert_true(fo_raft_ready_to_act(o.r));
    one_free(&o);
}

/* A follower acknowledges only what storage made durable, and a leader counts itself so. */
static void test_durable_only_acks(void **state)
{
    struct one o;
    one_init(&o, 3, NULL, 0);
    struct fo_raft_entry ents[] = {{.index = 1, .term = 1, .type = FO_RAFT_ENTRY_NOOP},
                                   {.index = 2, .term = 1, .type = FO_RAFT_ENTRY_COMMAND}};
    struct fo_raft_msg app = {.type = FO_RAFT_MSG_APPEND,
                              .from = 2,
                              .to = 1,
                              .term = 1,
                              .ts = 1500,
                              .commit = 2,
                              .n_entries = 2,
                              .entries = ents};
    assert_int_equal(fo_raft_step(o.r, &app, 1500), 0);
    struct fo_raft_ready *rd = one_take(&o, false, 1500);
    assert_int_equal(rd->n_entries, 2);
    assert_int_equal(rd->n_committed, 0); /* committed, but not yet on our disk */
    assert_int_equal(rd->n_msgs, 1);
    assert_int_equal(rd->msgs[0].index, 0);
    assert_int_equal(rd->msgs[0].hint, 2);
    assert_int_equal(rd->msgs[0].ts, 1500);
    fo_raft_persisted(o.r, 2, 7, 1510); /* wrong term: not our entry 2 */
    assert_int_equal(st(o.r).durable, 0);
    fo_raft_persisted(o.r, 2, 1, 1510);
    rd = one_take(&o, false, 1510);
    assert_int_equal(rd->n_msgs, 1);
    assert_int_equal(rd->msgs[0].index, 2);
    assert_int_equal(rd->n_committed, 2);
    one_free(&o);

    /* Leader of three: one durable ack plus its own non-durable copy is not a majority. */
    one_init(&o, 3, NULL, 0);
    uint64_t p2[] = {2};
    one_win(&o, p2, 1, 2000);
    one_take(&o, false, 2000);
    step(o.r, FO_RAFT_MSG_APPEND_RESP, 2, 1, 0, 1, 1, 2000, 2010);
    assert_int_equal(st(o.r).commit, 0);
    fo_raft_persisted(o.r, 1, 1, 2020);
    assert_int_equal(st(o.r).commit, 1);
    one_free(&o);
}

static void test_transfer(void **state)
{
    struct tc c;
    tc_init(&c, 3);
    tc_run(&c, 2500);
    int l = tc_leader(&c), t = (l + 1) % 3;
    uint64_t term = st(c.r[l]).term;
    assert_int_equal(fo_raft_propose(c.r[l], FO_RAFT_ENTRY_COMMAND, "a", 1, c.now, NULL, NULL), 0);
    tc_run(&c, 200);
    assert_true(fo_raft_lease_valid(c.r[l], c.now));
    assert_int_equal(fo_raft_transfer(c.r[l], c.ids[l], c.now), -FO_EINVAL);
    assert_int_equal(fo_raft_transfer(c.r[l], c.ids[t], c.now), 0);
    assert_false(fo_raft_lease_valid(c.r[l], c.now));
    assert_false(fo_raft_ready_to_act(c.r[l]));
    assert_int_equal(fo_raft_propose(c.r[l], FO_RAFT_ENTRY_COMMAND, "b", 1, c.now, NULL, NULL),
                     -FO_EBUSY);
    tc_flush(&c);
    assert_int_equal(tc_leader(&c), t);
    assert_int_equal(st(c.r[t]).term, term + 1);
    tc_run(&c, 300);
    assert_true(fo_raft_ready_to_act(c.r[t]));
    assert_int_equal(st(c.r[l]).leader, c.ids[t]);
    tc_free(&c);
}

/* A follower that missed compacted entries gets the snapshot, in chunks, then the rest. */
static void test_snapshot_install(void **state)
{
    struct tc c;
    memset(&c, 0, sizeof(c));
    c.n = 3;
    c.persist = true;
    for (int i = 0; i < 3; i++)
        c.ids[i] = (uint64_t)i + 1;
    for (int i = 0; i < 3; i++) {
        struct fo_raft_config cfg;
        tc_cfg(&cfg, c.ids, 3, c.ids[i]);
        cfg.max_bytes_per_msg = 64;
        cfg.max_entries_per_msg = 3;
        assert_int_equal(fo_raft_create(&c.r[i], &cfg, NULL, 0), 0);
    }
    tc_run(&c, 2500);
    int l = tc_leader(&c), x = (l + 1) % 3;
    tc_isolate(&c, x, true);
    for (int i = 0; i < 20; i++)
        assert_int_equal(
            fo_raft_propose(c.r[l], FO_RAFT_ENTRY_COMMAND, "entry", 5, c.now, NULL, NULL), 0);
    tc_run(&c, 300);
    uint64_t applied = st(c.r[l]).applied;
    assert_true(applied >= 21);
    unsigned char snap[300];
    memset(snap, 0xab, sizeof(snap));
    assert_int_equal(fo_raft_compact(c.r[l], applied + 1, snap, sizeof(snap)), -FO_EINVAL);
    assert_int_equal(fo_raft_compact(c.r[l], applied - 2, snap, sizeof(snap)), 0);
    assert_int_equal(st(c.r[l]).snapshot_index, applied - 2);
    tc_isolate(&c, x, false);
    tc_run(&c, 2000);
    assert_int_equal(c.installed[x], applied - 2);
    assert_int_equal(st(c.r[x]).last_index, st(c.r[l]).last_index);
    assert_int_equal(c.applied[x], st(c.r[l]).commit);
    uint64_t match, next;
    assert_int_equal(fo_raft_progress(c.r[l], c.ids[x], &match, &next), 0);
    assert_int_equal(match, st(c.r[l]).last_index);
    tc_free(&c);
}

/* Restart from storage: term, vote, snapshot and entries come back; the commit index is
 * learnt again from the leader. */
static void test_restart_from_storage(void **state)
{
    unsigned char data[3] = {1, 2, 3};
    struct fo_raft_snapshot sn = {.index = 5, .term = 2, .len = 3, .data = data};
    struct fo_raft_entry e[] = {{.index = 6, .term = 2}, {.index = 7, .term = 3}};
    struct fo_raft_restore rs = {
        .hs = {.term = 3, .vote = 2}, .snapshot = &sn, .entries = e, .n_entries = 2};
    struct one o;
    one_init(&o, 3, &rs, 0);
    struct fo_raft_status s = st(o.r);
    assert_int_equal(s.term, 3);
    assert_int_equal(s.vote, 2);
    assert_int_equal(s.snapshot_index, 5);
    assert_int_equal(s.last_index, 7);
    assert_int_equal(s.durable, 7);
    assert_int_equal(s.commit, 5);
    assert_int_equal(s.applied, 5);
    assert_int_equal(fo_raft_compact(o.r, 6, data, 3), -FO_EINVAL); /* not applied */
    one_free(&o);
}

static void test_simulation(void **state)
{
    const char *env = getenv("FO_SIM_SEEDS");
    long seeds = env ? atol(env) : 1000;
    long violations = 0;
    for (long i = 1; i <= seeds; i++) {
        struct fo_sim_opts o;
        fo_sim_opts_defaults(&o);
        o.seed = (uint64_t)i;
        o.nodes = i % 2 ? 3 : 5;
        o.out = stderr;
        struct fo_sim_result res;
        assert_int_equal(fo_sim_run(&o, &res), 0);
        if (res.violation)
            violations++;
    }
    fprintf(stderr, "simulation: seeds=%ld violations=%ld\n", seeds, violations);
    assert_int_equal(violations, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_rejected),
        cmocka_unit_test(test_single_node),
        cmocka_unit_test(test_election_and_replication),
        cmocka_unit_test(test_prevote_does_not_disrupt),
        cmocka_unit_test(test_check_quorum_step_down),
        cmocka_unit_test(test_leader_lost_campaigns_early),
        cmocka_unit_test(test_vote_stickiness),
        cmocka_unit_test(test_figure8_by_hand),
        cmocka_unit_test(test_stale_match_after_truncation),
        cmocka_unit_test(test_lease_from_send_time),
        cmocka_unit_test(test_durable_only_acks),
        cmocka_unit_test(test_transfer),
        cmocka_unit_test(test_snapshot_install),
        cmocka_unit_test(test_restart_from_storage),
        cmocka_unit_test(test_simulation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
