/* The simulator's adversary: a per-seed profile (network weather, disk speed, message sizes,
 * compaction, drift) and the chaos steps drawn from it (partitions random and targeted,
 * crashes, pauses, slow links, transfers), a reaction to each new leader, client proposals,
 * and the final healing after which liveness is required. */
#include "sim/sim_int.h"

#include "core/fo.h"

#include <string.h>

enum {
    FO__A_PARTITION,
    FO__A_ISOLATE_LEADER,
    FO__A_MINORITY_LEADER,
    FO__A_PARTIAL,
    FO__A_HEAL,
    FO__A_CRASH,
    FO__A_CRASH_LEADER,
    FO__A_CRASH_MAJORITY,
    FO__A_PAUSE,
    FO__A_PAUSE_LEADER,
    FO__A_SLOW,
    FO__A_DRIFT,
    FO__A_TRANSFER,
    FO__A_WEATHER,
    FO__A_CUT_LEADER_LINK,
    FO__A_MINORITY_FLIP,
    FO__A_FIGURE8,
    FO__A_RESTART_GUARD,
    FO__A_COUNT
};
_Static_assert(FO__A_COUNT <= FO__SIM_ACTIONS, "struct fo__sim_prof has no room for the steps");

enum { FO__SCRIPT_FLIP = 0, FO__SCRIPT_FIGURE8 = 1, FO__SCRIPT_RESTART_GUARD = 2 };

#define FO__MS 1000

static uint64_t fo__pick(struct fo__sim *s, const uint64_t *v, size_t n)
{
    return v[fo__sim_range(s, 0, n - 1)];
}

static void fo__weather(struct fo__sim *s)
{
    static const uint64_t drop[] = {0, 0, 10000, 50000, 200000};
    static const uint64_t dup[] = {0, 10000, 50000};
    static const uint64_t span[] = {2 * FO__MS, 10 * FO__MS, 30 * FO__MS, 100 * FO__MS};
    s->p.drop_ppm = (uint32_t)fo__pick(s, drop, FO_ARRAY_LEN(drop));
    s->p.dup_ppm = (uint32_t)fo__pick(s, dup, FO_ARRAY_LEN(dup));
    s->p.delay_min = (int64_t)fo__sim_range(s, 50, 2 * FO__MS);
    s->p.delay_max = s->p.delay_min + (int64_t)fo__pick(s, span, FO_ARRAY_LEN(span));
}

void fo__sim_profile(struct fo__sim *s)
{
    static const uint64_t fsync[] = {500, 5 * FO__MS, 50 * FO__MS, 300 * FO__MS};
    static const uint64_t ents[] = {1, 2, 4, 16, 64};
    static const uint64_t snap[] = {0, 5, 20, 100};
    static const uint64_t pad[] = {0, 500, 3000};
    static const uint64_t iso[] = {0, 0, 300000, 700000};
    static const uint64_t crash[] = {0, 0, 200000};
    struct fo__sim_prof *p = &s->p;
    fo__weather(s);
    p->fsync_min = (int64_t)fo__sim_range(s, 0, FO__MS);
    p->fsync_max = p->fsync_min + (int64_t)fo__pick(s, fsync, FO_ARRAY_LEN(fsync));
    p->per_entry_persist = fo__sim_chance(s, 300000);
    p->max_entries = (uint32_t)fo__pick(s, ents, FO_ARRAY_LEN(ents));
    p->chunk = (uint32_t)fo__sim_range(s, 64, 4096);
    static const uint64_t inflight[] = {4, 16, 256};
    static const uint64_t uncommitted[] = {16, 4096};
    p->max_inflight = (uint32_t)fo__pick(s, inflight, FO_ARRAY_LEN(inflight));
    p->max_uncommitted = (uint32_t)fo__pick(s, uncommitted, FO_ARRAY_LEN(uncommitted));
    p->snap_every = fo__pick(s, snap, FO_ARRAY_LEN(snap));
    p->snap_pad = (uint32_t)fo__pick(s, pad, FO_ARRAY_LEN(pad));
    static const uint64_t idle[] = {0, 50000, 200000};
    p->client_every = fo__sim_chance(s, 300000)
                          ? (int64_t)fo__sim_range(s, 300 * FO__MS, 2000 * FO__MS)
                          : (int64_t)fo__sim_range(s, 10 * FO__MS, 300 * FO__MS);
    p->idle_ppm = (uint32_t)fo__pick(s, idle, FO_ARRAY_LEN(idle));
    p->iso_new_leader_ppm = (uint32_t)fo__pick(s, iso, FO_ARRAY_LEN(iso));
    p->crash_new_leader_ppm = (uint32_t)fo__pick(s, crash, FO_ARRAY_LEN(crash));
    p->drift = fo__sim_chance(s, 600000);
    uint32_t sum = 0;
    for (int i = 0; i < FO__A_COUNT; i++)
        sum += p->weights[i] = (uint32_t)fo__sim_range(s, 0, 10);
    if (!sum)
        p->weights[FO__A_PARTITION] = 1;
}

bool fo__sim_link_cut(const struct fo__sim *s, int from, int to)
{
    return s->cut_until[from][to] > s->now;
}

static void fo__cut(struct fo__sim *s, int a, int b, int64_t dur, bool both)
{
    int64_t until = s->now + dur;
    if (s->cut_until[a][b] < until)
        s->cut_until[a][b] = until;
    if (both && s->cut_until[b][a] < until)
        s->cut_until[b][a] = until;
    fo__sim_trace(s, FO__T_CUT, a, b, 0, 0, (uint64_t)dur / FO__MS, both, 0, 0);
}

static void fo__isolate(struct fo__sim *s, int node, int64_t dur)
{
    for (int i = 0; i < s->n; i++)
        if (i != node)
            fo__cut(s, node, i, dur, true);
}

static int fo__random_node(struct fo__sim *s)
{
    return (int)fo__sim_range(s, 0, (uint64_t)s->n - 1);
}

static int fo__leader_or_random(struct fo__sim *s)
{
    int l = fo__sim_leader(s);
    return l >= 0 ? l : fo__random_node(s);
}

static void fo__crash(struct fo__sim *s, int node, int64_t down)
{
    struct fo__sim_node *nd = &s->nodes[node];
    if (!nd->r)
        return;
    fo__sim_crash(s, nd);
    fo__sim_push(s, s->now + down, FO__EV_RESTART, node, -1, nd->incarnation);
}

static void fo__pause(struct fo__sim *s, int node, int64_t dur)
{
    struct fo__sim_node *nd = &s->nodes[node];
    if (!nd->r)
        return;
    if (nd->paused_until < s->now + dur)
        nd->paused_until = s->now + dur;
    fo__sim_trace(s, FO__T_PAUSE, node, 0, 0, 0, (uint64_t)dur / FO__MS, 0, 0, 0);
}

/* Clients become busy now (a new chain of client events replaces the current one). */
static void fo__clients_busy(struct fo__sim *s, int64_t dur)
{
    s->client_busy_until = s->now + dur;
    fo__sim_push(s, s->now, FO__EV_CLIENT, -1, -1, ++s->client_gen);
}

/* Cuts the leader off with as many followers as still leaves the rest a majority; the
 * followers stay cut off for extra longer. With clients_follow, clients reach only the
 * minority side meanwhile. */
static void fo__minority_leader(struct fo__sim *s, int64_t dur, int64_t extra, bool clients_follow)
{
    int in[FO_SIM_MAX_NODES] = {0}, n = s->n;
    int l = fo__leader_or_random(s);
    in[l] = 1;
    for (int k = 1; k < n - (int)s->quorum;) {
        int x = fo__random_node(s);
        if (!in[x]) {
            in[x] = 1;
            k++;
        }
    }
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (in[i] != in[j])
                fo__cut(s, i, j, dur + (i == l || j == l ? 0 : extra), true);
    if (clients_follow) {
        for (int i = 0; i < n; i++)
            if (!in[i])
                s->client_cut_until[i] = s->now + dur + 700 * FO__MS;
        fo__clients_busy(s, dur);
    }
}

static void fo__do(struct fo__sim *s, int a)
{
    int64_t dur = (int64_t)fo__sim_range(s, 200 * FO__MS, 5000 * FO__MS);
    int n = s->n;
    switch (a) {
    case FO__A_PARTITION: {
        int side[FO_SIM_MAX_NODES];
        for (int i = 0; i < n; i++)
            side[i] = (int)fo__sim_range(s, 0, 1);
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++)
                if (side[i] != side[j])
                    fo__cut(s, i, j, dur, true);
        break;
    }
    case FO__A_ISOLATE_LEADER:
        fo__isolate(s, fo__leader_or_random(s), dur);
        break;
    case FO__A_MINORITY_LEADER:
        fo__minority_leader(s, dur, 0, false);
        break;
    case FO__A_PARTIAL: {
        int k = (int)fo__sim_range(s, 1, (uint64_t)n);
        for (int i = 0; i < k && n > 1; i++) {
            int x = fo__random_node(s), y = fo__random_node(s);
            if (x != y)
                fo__cut(s, x, y, dur, fo__sim_chance(s, 700000));
        }
        break;
    }
    case FO__A_HEAL:
        memset(s->cut_until, 0, sizeof(s->cut_until));
        memset(s->slow_until, 0, sizeof(s->slow_until));
        fo__sim_trace(s, FO__T_HEAL, 0, 0, 0, 0, 0, 0, 0, 0);
        break;
    case FO__A_CRASH:
        fo__crash(s, fo__random_node(s), (int64_t)fo__sim_range(s, 10 * FO__MS, 3000 * FO__MS));
        break;
    case FO__A_CRASH_LEADER:
        fo__crash(s, fo__leader_or_random(s),
                  (int64_t)fo__sim_range(s, 10 * FO__MS, 3000 * FO__MS));
        break;
    case FO__A_CRASH_MAJORITY:
        for (size_t k = 0; k < s->quorum; k++)
            fo__crash(s, fo__random_node(s), (int64_t)fo__sim_range(s, 10 * FO__MS, 2000 * FO__MS));
        break;
    case FO__A_PAUSE:
        fo__pause(s, fo__random_node(s), (int64_t)fo__sim_range(s, 100 * FO__MS, 3000 * FO__MS));
        break;
    case FO__A_PAUSE_LEADER:
        fo__pause(s, fo__leader_or_random(s),
                  (int64_t)fo__sim_range(s, 100 * FO__MS, 3000 * FO__MS));
        break;
    case FO__A_SLOW: {
        int k = (int)fo__sim_range(s, 1, (uint64_t)n);
        for (int i = 0; i < k && n > 1; i++) {
            int x = fo__random_node(s), y = fo__random_node(s);
            if (x == y)
                continue;
            s->slow_until[x][y] = s->now + dur;
            s->slow_extra[x][y] = (int64_t)fo__sim_range(s, 100 * FO__MS, 1500 * FO__MS);
            fo__sim_trace(s, FO__T_SLOW, x, y, 0, 0, (uint64_t)dur / FO__MS,
                          (uint64_t)s->slow_extra[x][y] / FO__MS, 0, 0);
        }
        break;
    }
    case FO__A_DRIFT:
        if (s->p.drift) {
            int x = fo__random_node(s);
            int64_t ppm =
                (int64_t)fo__sim_range(s, 0, 2 * FO_SIM_MAX_DRIFT_PPM) - FO_SIM_MAX_DRIFT_PPM;
            fo__sim_set_ppm(s, &s->nodes[x], ppm);
            fo__sim_trace(s, FO__T_DRIFT, x, 0, 0, 0, (uint64_t)ppm, 0, 0, 0);
        }
        break;
    case FO__A_TRANSFER: {
        int l = fo__sim_leader(s), t = fo__random_node(s);
        if (l >= 0 && t != l) {
            struct fo__sim_node *nd = &s->nodes[l];
            int rc = fo_raft_transfer(nd->r, s->voters[t], fo__sim_local_ms(s, nd));
            fo__sim_trace(s, FO__T_TRANSFER, l, t, 0, 0, (uint64_t)(int64_t)rc, 0, 0, 0);
            fo__sim_after_call(s, nd);
        }
        break;
    }
    case FO__A_CUT_LEADER_LINK: {
        /* An asymmetric partition: the leader loses one follower, which still reaches the
         * others; only vote stickiness keeps that follower from deposing a live leader. */
        int l = fo__leader_or_random(s), x = fo__random_node(s);
        if (x != l)
            fo__cut(s, l, x, (int64_t)fo__sim_range(s, 1500 * FO__MS, 5000 * FO__MS), true);
        break;
    }
    case FO__A_MINORITY_FLIP:
        fo__sim_script(s, FO__SCRIPT_FLIP, 0);
        break;
    case FO__A_FIGURE8:
        fo__sim_script(s, FO__SCRIPT_FIGURE8, 0);
        break;
    case FO__A_RESTART_GUARD:
        fo__sim_script(s, FO__SCRIPT_RESTART_GUARD, 0);
        break;
    case FO__A_WEATHER:
        fo__weather(s);
        fo__sim_trace(s, FO__T_WEATHER, 0, 0, 0, 0, s->p.drop_ppm, s->p.dup_ppm,
                      (uint64_t)s->p.delay_max, 0);
        break;
    default:
        break;
    }
}

void fo__sim_action(struct fo__sim *s)
{
    if (s->steps_left <= 0) {
        fo__sim_heal(s);
        return;
    }
    s->steps_left--;
    uint32_t sum = 0;
    for (int i = 0; i < FO__A_COUNT; i++)
        sum += s->p.weights[i];
    uint64_t x = fo__sim_range(s, 0, sum - 1);
    int a = 0;
    while (x >= s->p.weights[a]) {
        x -= s->p.weights[a];
        a++;
    }
    if (s->now >= s->quiet_until)
        fo__do(s, a);
    int64_t next = s->now + (int64_t)fo__sim_range(s, 50 * FO__MS, 1500 * FO__MS);
    fo__sim_push(s, next > s->quiet_until ? next : s->quiet_until, FO__EV_ACTION, -1, -1, 0);
}

static void fo__script_next(struct fo__sim *s, int script, int step, int64_t lo, int64_t hi)
{
    fo__sim_push(s, s->now + (int64_t)fo__sim_range(s, (uint64_t)lo, (uint64_t)hi), FO__EV_SCRIPT,
                 script, step, 0);
}

/* Ends the node's cuts, except those with a node still cut off itself (keep). */
static void fo__uncut(struct fo__sim *s, int node, int keep)
{
    for (int i = 0; i < s->n; i++) {
        if (i == keep)
            continue;
        s->cut_until[node][i] = 0;
        s->cut_until[i][node] = 0;
    }
    fo__sim_trace(s, FO__T_HEAL, node, 0, 0, 0, 2, 0, 0, 0);
}

/* Scripted histories that random chaos reaches only rarely.
 * FLIP (stale progress): the leader L and a follower F go on alone and F acknowledges entries
 * the majority never sees; the majority elects G. L comes back (its log cut back to G's) while
 * F stays away, and G hands leadership back to L: L must not count what F held before. */
static void fo__script_flip(struct fo__sim *s, int step)
{
    int l = fo__sim_leader(s);
    if (step == 0) {
        if (l < 0)
            return;
        int64_t dur = (int64_t)fo__sim_range(s, 2000 * FO__MS, 2600 * FO__MS);
        s->script_node[0] = l;
        fo__minority_leader(s, dur, (int64_t)fo__sim_range(s, 1500 * FO__MS, 4000 * FO__MS), true);
        s->quiet_until = s->now + dur + 5000 * FO__MS;
        fo__script_next(s, FO__SCRIPT_FLIP, 1, dur + 300 * FO__MS, dur + 600 * FO__MS);
        return;
    }
    if (l >= 0 && l != s->script_node[0]) {
        struct fo__sim_node *nd = &s->nodes[l];
        int rc = fo_raft_transfer(nd->r, s->voters[s->script_node[0]], fo__sim_local_ms(s, nd));
        fo__sim_trace(s, FO__T_TRANSFER, l, s->script_node[0], 0, 0, (uint64_t)(int64_t)rc, 0, 0,
                      0);
        fo__sim_after_call(s, nd);
    }
}

/* FIGURE8: L1 accepts entries alone; the next leader L2 is cut off as it wins, so its no-op
 * stays alone at the same index; L1 comes back and wins a later term: it must not commit its
 * old-term entry by counting copies while L2 could still win and overwrite it. */
static void fo__script_figure8(struct fo__sim *s, int step)
{
    int l = fo__sim_leader(s);
    switch (step) {
    case 0:
        if (l < 0)
            return;
        s->script_node[0] = l;
        fo__isolate(s, l, 15000 * FO__MS);
        fo__clients_busy(s, 1000 * FO__MS);
        s->iso_next_leader = FO__SCRIPT_FIGURE8;
        s->quiet_until = s->now + 9000 * FO__MS;
        break;
    case 1: /* the second leader has just been cut off (fo__sim_new_leader) */
        fo__script_next(s, FO__SCRIPT_FIGURE8, 2, 100 * FO__MS, 500 * FO__MS);
        break;
    case 2:
        fo__uncut(s, s->script_node[0], s->script_node[1]);
        break;
    }
}

/* RESTART_GUARD: a follower cut off from the leader (only) campaigns, and just then the others
 * restart (fo__sim_state_change): having forgotten that they heard from a live leader, they
 * must still not vote while its lease may run. Clients stay away so that logs stay equal. */
static void fo__script_restart_guard(struct fo__sim *s)
{
    int l = fo__sim_leader(s), x = fo__random_node(s);
    if (l < 0 || x == l)
        return;
    int64_t dur = (int64_t)fo__sim_range(s, 2500 * FO__MS, 5000 * FO__MS);
    fo__cut(s, l, x, dur, true);
    for (int i = 0; i < s->n; i++)
        s->client_cut_until[i] = s->now + dur;
    s->restart_on_campaign = x;
    s->quiet_until = s->now + dur + 2000 * FO__MS;
}

void fo__sim_script(struct fo__sim *s, int script, int step)
{
    if (script == FO__SCRIPT_FLIP)
        fo__script_flip(s, step);
    else if (script == FO__SCRIPT_FIGURE8)
        fo__script_figure8(s, step);
    else
        fo__script_restart_guard(s);
}

void fo__sim_new_leader(struct fo__sim *s, struct fo__sim_node *nd)
{
    if (s->healed)
        return;
    if (s->iso_next_leader >= 0 && nd->idx != s->script_node[0]) {
        /* Before its first messages leave. */
        fo__isolate(s, nd->idx, 8000 * FO__MS);
        s->script_node[1] = nd->idx;
        fo__sim_script(s, s->iso_next_leader, 1);
        s->iso_next_leader = -1;
        return;
    }
    /* Cut a new leader off (or crash it) before it has replicated much, at times before its
     * first messages leave: this leaves entries of several terms on minorities, the ground
     * for figure-8 style histories. */
    if (fo__sim_chance(s, s->p.iso_new_leader_ppm)) {
        int64_t when = (int64_t)fo__sim_range(s, 0, 30 * FO__MS);
        uint64_t dur = fo__sim_range(s, 300, 4000);
        if (when < 10 * FO__MS)
            fo__isolate(s, nd->idx, (int64_t)dur * FO__MS);
        else
            fo__sim_push(s, s->now + when, FO__EV_ISOLATE, nd->idx, -1, dur);
    }
    if (fo__sim_chance(s, s->p.crash_new_leader_ppm))
        fo__sim_push(s, s->now + (int64_t)fo__sim_range(s, 0, 50 * FO__MS), FO__EV_CRASH, nd->idx,
                     -1, fo__sim_range(s, 10, 3000));
}

void fo__sim_state_change(struct fo__sim *s, struct fo__sim_node *nd, enum fo_raft_state state)
{
    if (s->healed || nd->idx != s->restart_on_campaign || state != FO_RAFT_PRECANDIDATE)
        return;
    s->restart_on_campaign = -1;
    int l = fo__sim_leader(s);
    for (int i = 0; i < s->n; i++)
        if (i != nd->idx && i != l)
            fo__crash(s, i, (int64_t)fo__sim_range(s, 1, 40));
}

void fo__sim_targeted(struct fo__sim *s, int kind, int node, uint64_t arg)
{
    if (node < 0)
        node = fo__leader_or_random(s);
    if (kind == FO__EV_ISOLATE)
        fo__isolate(s, node, (int64_t)arg * FO__MS);
    else
        fo__crash(s, node, (int64_t)arg * FO__MS);
}

void fo__sim_client(struct fo__sim *s)
{
    for (int i = 0; i < s->n; i++) {
        struct fo__sim_node *nd = &s->nodes[i];
        if (!nd->r || !fo_raft_is_leader(nd->r) || nd->paused_until > s->now ||
            s->client_cut_until[i] > s->now || !fo__sim_chance(s, 700000))
            continue;
        unsigned char data[48];
        uint32_t len = 8 + (uint32_t)fo__sim_range(s, 0, 40);
        uint64_t id = ++s->proposals;
        memcpy(data, &id, 8);
        for (uint32_t k = 8; k < len; k++)
            data[k] = (unsigned char)fo__sim_rand(s);
        uint64_t idx = 0, term = 0;
        int rc = fo_raft_propose(nd->r, FO_RAFT_ENTRY_COMMAND, data, len, fo__sim_local_ms(s, nd),
                                 &idx, &term);
        fo__sim_trace(s, FO__T_PROPOSE, i, 0, 0, 0, idx, term, (uint64_t)(int64_t)rc, 0);
        if (rc == 0 && s->healed && s->live_n < (int)FO_ARRAY_LEN(s->live_idx)) {
            s->live_idx[s->live_n] = idx;
            s->live_term[s->live_n++] = term;
        }
        fo__sim_after_call(s, nd);
    }
    int64_t next =
        s->p.client_every / 2 + (int64_t)fo__sim_range(s, 0, (uint64_t)s->p.client_every);
    /* A decision log is mostly idle: then all logs are equal and only vote stickiness
     * stands between a cut-off follower and a live leader. */
    if (s->client_busy_until > s->now)
        next = next < 100 * FO__MS ? next : 100 * FO__MS;
    else if (!s->healed && fo__sim_chance(s, s->p.idle_ppm))
        next += (int64_t)fo__sim_range(s, 500 * FO__MS, 4000 * FO__MS);
    fo__sim_push(s, s->now + next, FO__EV_CLIENT, -1, -1, s->client_gen);
}

void fo__sim_heal(struct fo__sim *s)
{
    if (s->healed)
        return;
    s->healed = true;
    s->heal_at = s->now;
    memset(s->cut_until, 0, sizeof(s->cut_until));
    memset(s->slow_until, 0, sizeof(s->slow_until));
    memset(s->client_cut_until, 0, sizeof(s->client_cut_until));
    s->p.drop_ppm = 0;
    s->p.dup_ppm = 0;
    if (s->p.delay_max > s->p.delay_min + 10 * FO__MS)
        s->p.delay_max = s->p.delay_min + 10 * FO__MS;
    fo__sim_trace(s, FO__T_HEAL, 0, 0, 0, 0, 1, 0, 0, 0);
    for (int i = 0; i < s->n; i++)
        fo__sim_restart(s, &s->nodes[i]);
    /* From now on the time to commit measures Raft, not idle clients. */
    if (s->p.client_every > 200 * FO__MS)
        s->p.client_every = 200 * FO__MS;
    fo__sim_push(s, s->now, FO__EV_CLIENT, -1, -1, ++s->client_gen);
}
