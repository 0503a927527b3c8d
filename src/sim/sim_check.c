/* The simulator's checker. Entries are identified by a chain hash over the whole prefix, so
 * one comparison covers log matching. Checked after every event: election safety, log
 * matching, leader completeness, state-machine safety, committed entries durable on a majority
 * and never electable away, single lease holder in real time, and liveness after healing. */
#include "sim/sim_int.h"

#include "core/fo.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static uint64_t fo__mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t fo__sim_chain(uint64_t prev, uint64_t index, uint64_t term, uint8_t type,
                       const unsigned char *data, uint32_t len)
{
    uint64_t h = 0xCBF29CE484222325ull;
    for (uint32_t i = 0; i < len; i++)
        h = (h ^ data[i]) * 0x100000001B3ull;
    return fo__mix(prev ^ fo__mix(index) ^ fo__mix(term * 31 + type) ^ fo__mix(h + len));
}

void fo__sim_violation(struct fo__sim *s, const char *property, const char *fmt, ...)
{
    if (s->res->violation)
        return;
    s->res->violation = true;
    snprintf(s->res->property, sizeof(s->res->property), "%s", property);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->res->detail, sizeof(s->res->detail), fmt, ap);
    va_end(ap);
    FILE *f = s->o.out;
    if (!f)
        return;
    fprintf(f, "VIOLATION seed=%llu nodes=%d property=%s t=%lld.%03lldms: %s\n",
            (unsigned long long)s->o.seed, s->n, property, (long long)(s->now / 1000),
            (long long)(s->now % 1000), s->res->detail);
    fprintf(f, "last %d events:\n", s->o.trace_len);
    fo__sim_trace_dump(s, f, (size_t)s->o.trace_len);
    fprintf(f, "replay: failoverd-sim --seed %llu --nodes %d --steps %d --verbose\n",
            (unsigned long long)s->o.seed, s->n, s->o.steps);
}

/* ---- logs as the checker keeps them ---- */

uint64_t fo__sim_log_last(const struct fo__sim_log *l)
{
    return l->base + l->n;
}

uint64_t fo__sim_log_last_term(const struct fo__sim_log *l)
{
    return l->n ? l->e[l->n - 1].term : l->base_term;
}

const struct fo__sim_ent *fo__sim_log_at(const struct fo__sim_log *l, uint64_t index)
{
    if (index <= l->base || index > fo__sim_log_last(l))
        return NULL;
    return &l->e[index - l->base - 1];
}

void fo__sim_log_truncate(struct fo__sim_log *l, uint64_t from)
{
    while (l->n && fo__sim_log_last(l) >= from) {
        l->n--;
        free(l->e[l->n].data);
        l->e[l->n].data = NULL;
    }
}

void fo__sim_log_push(struct fo__sim_log *l, const struct fo__sim_ent *e, bool with_data)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->e = fo_xrealloc(l->e, l->cap * sizeof(*l->e));
    }
    struct fo__sim_ent *d = &l->e[l->n++];
    *d = *e;
    d->data = NULL;
    if (!with_data) {
        d->len = 0;
    } else if (e->len) {
        d->data = fo_xmalloc(e->len);
        memcpy(d->data, e->data, e->len);
    }
}

void fo__sim_log_reset(struct fo__sim_log *l, uint64_t base, uint64_t term, uint64_t chain)
{
    fo__sim_log_truncate(l, 0);
    l->base = base;
    l->base_term = term;
    l->base_chain = chain;
}

void fo__sim_log_free(struct fo__sim_log *l)
{
    fo__sim_log_truncate(l, 0);
    free(l->e);
    memset(l, 0, sizeof(*l));
}

/* ---- global record ---- */

static void fo__sim_grow(uint64_t **v, size_t *cap, size_t need)
{
    if (need < *cap)
        return;
    size_t n = *cap ? *cap : 256;
    while (n <= need)
        n *= 2;
    *v = fo_xrealloc(*v, n * sizeof(**v));
    memset(*v + *cap, 0, (n - *cap) * sizeof(**v));
    *cap = n;
}

bool fo__sim_known_committed(const struct fo__sim *s, uint64_t index, uint64_t *chain)
{
    if (index == 0) {
        *chain = 0;
        return true;
    }
    if (index >= s->committed_cap || !s->committed_term[index])
        return false;
    *chain = s->committed_chain[index];
    return true;
}

static void fo__sim_record_commit(struct fo__sim *s, struct fo__sim_node *nd, uint64_t index,
                                  uint64_t term, uint64_t chain, uint64_t by)
{
    size_t cap = s->committed_cap;
    fo__sim_grow(&s->committed_chain, &cap, index);
    cap = s->committed_cap;
    fo__sim_grow(&s->committed_term, &cap, index);
    cap = s->committed_cap;
    fo__sim_grow(&s->committed_by, &cap, index);
    s->committed_cap = cap;
    if (s->committed_term[index]) {
        if (s->committed_chain[index] != chain)
            fo__sim_violation(s, "state-machine-safety",
                              "node %d commits index %llu term %llu, but term %llu was committed "
                              "there before",
                              nd->idx, (unsigned long long)index, (unsigned long long)term,
                              (unsigned long long)s->committed_term[index]);
        return;
    }
    s->committed_term[index] = term;
    s->committed_chain[index] = chain;
    s->committed_by[index] = by;
    if (index > s->max_commit)
        s->max_commit = index;
}

static size_t fo__tab_slot(const struct fo__sim *s, uint64_t index, uint64_t term)
{
    size_t mask = s->tab_cap - 1;
    size_t i = (size_t)fo__mix(index * 0x9E3779B97F4A7C15ull ^ term) & mask;
    while (s->tab[i].index && !(s->tab[i].index == index && s->tab[i].term == term))
        i = (i + 1) & mask;
    return i;
}

static void fo__tab_grow(struct fo__sim *s)
{
    size_t old = s->tab_cap;
    __typeof__(s->tab) t = s->tab;
    s->tab_cap = old ? old * 2 : 4096;
    s->tab = fo_xcalloc(s->tab_cap, sizeof(*s->tab));
    for (size_t i = 0; i < old; i++)
        if (t[i].index)
            s->tab[fo__tab_slot(s, t[i].index, t[i].term)] = t[i];
    free(t);
}

void fo__sim_check_entry(struct fo__sim *s, struct fo__sim_node *nd, uint64_t index,
                         const struct fo__sim_ent *e)
{
    if ((s->tab_n + 1) * 2 > s->tab_cap)
        fo__tab_grow(s);
    size_t i = fo__tab_slot(s, index, e->term);
    if (!s->tab[i].index) {
        s->tab[i].index = index;
        s->tab[i].term = e->term;
        s->tab[i].chain = e->chain;
        s->tab_n++;
    } else if (s->tab[i].chain != e->chain) {
        fo__sim_violation(s, "log-matching",
                          "node %d has at index %llu term %llu an entry (or prefix) that "
                          "differs from another node's",
                          nd->idx, (unsigned long long)index, (unsigned long long)e->term);
    }
}

void fo__sim_check_hs(struct fo__sim *s, struct fo__sim_node *nd,
                      const struct fo_raft_hard_state *hs)
{
    if (hs->term < nd->hs.term)
        fo__sim_violation(s, "hard-state", "node %d: term %llu after %llu", nd->idx,
                          (unsigned long long)hs->term, (unsigned long long)nd->hs.term);
    else if (hs->term == nd->hs.term && nd->hs.vote && hs->vote != nd->hs.vote)
        fo__sim_violation(s, "election-safety", "node %d voted twice in term %llu (%llu, %llu)",
                          nd->idx, (unsigned long long)hs->term, (unsigned long long)nd->hs.vote,
                          (unsigned long long)hs->vote);
}

/* Does the log hold committed index c (with its whole prefix), or a snapshot past it? */
static bool fo__sim_has(const struct fo__sim_log *l, uint64_t c, uint64_t chain)
{
    if (l->base >= c)
        return true;
    const struct fo__sim_ent *e = fo__sim_log_at(l, c);
    return e && e->chain == chain;
}

static void fo__sim_new_term_leader(struct fo__sim *s, struct fo__sim_node *nd, uint64_t term)
{
    size_t cap = s->lot_cap;
    fo__sim_grow(&s->leader_of_term, &cap, term);
    s->lot_cap = cap;
    if (s->leader_of_term[term] && s->leader_of_term[term] != nd->id) {
        fo__sim_violation(s, "election-safety", "two leaders in term %llu: ids %llu and %llu",
                          (unsigned long long)term, (unsigned long long)s->leader_of_term[term],
                          (unsigned long long)nd->id);
        return;
    }
    s->leader_of_term[term] = nd->id;
    /* Entries committed in earlier terms must be in its log. (A leader of an old term, say
     * one that was paused while it won, need not hold what later terms committed.) */
    uint64_t c = s->max_commit, chain;
    while (c > 0 && (c >= s->committed_cap || !s->committed_term[c] || s->committed_by[c] >= term))
        c--;
    if (c && fo__sim_known_committed(s, c, &chain) && !fo__sim_has(&nd->mem, c, chain)) {
        fo__sim_violation(s, "leader-completeness",
                          "node %d leads term %llu without index %llu committed in term %llu",
                          nd->idx, (unsigned long long)term, (unsigned long long)c,
                          (unsigned long long)s->committed_by[c]);
        return;
    }
    s->res->elections++;
    fo__sim_trace(s, FO__T_LEADER, nd->idx, 0, 0, 0, term, fo__sim_log_last(&nd->mem), 0, 0);
    fo__sim_new_leader(s, nd);
}

void fo__sim_check_node(struct fo__sim *s, struct fo__sim_node *nd)
{
    struct fo_raft_status st;
    fo_raft_status(nd->r, &st);
    if (st.last_index != fo__sim_log_last(&nd->mem) ||
        st.last_term != fo__sim_log_last_term(&nd->mem) || st.snapshot_index != nd->mem.base) {
        fo__sim_violation(
            s, "api",
            "node %d: core log %llu/%llu (snapshot %llu) but it handed "
            "storage %llu/%llu (snapshot %llu)",
            nd->idx, (unsigned long long)st.last_index, (unsigned long long)st.last_term,
            (unsigned long long)st.snapshot_index, (unsigned long long)fo__sim_log_last(&nd->mem),
            (unsigned long long)fo__sim_log_last_term(&nd->mem), (unsigned long long)nd->mem.base);
        return;
    }
    if (st.commit < nd->seen_commit) {
        fo__sim_violation(s, "api", "node %d: commit went back from %llu to %llu", nd->idx,
                          (unsigned long long)nd->seen_commit, (unsigned long long)st.commit);
        return;
    }
    if (st.commit > nd->seen_commit) {
        uint64_t from = nd->seen_commit > nd->mem.base ? nd->seen_commit : nd->mem.base;
        for (uint64_t i = from + 1; i <= st.commit && !s->res->violation; i++) {
            const struct fo__sim_ent *e = fo__sim_log_at(&nd->mem, i);
            fo__sim_record_commit(s, nd, i, e->term, e->chain, st.term);
        }
        fo__sim_trace(s, FO__T_COMMIT, nd->idx, 0, 0, 0, st.commit, st.term, 0, 0);
        nd->seen_commit = st.commit;
    }
    if (s->res->violation)
        return;
    if (st.state != nd->seen_state || st.term != nd->seen_term) {
        fo__sim_trace(s, FO__T_STATE, nd->idx, 0, 0, (int)st.state, st.term, st.leader, 0, 0);
        nd->seen_state = st.state;
        nd->seen_term = st.term;
        if (st.state == FO_RAFT_LEADER)
            fo__sim_new_term_leader(s, nd, st.term);
        else if (!s->res->violation)
            fo__sim_state_change(s, nd, st.state);
    }
    uint64_t ft, fi;
    if (!s->res->violation && fo_raft_ready_to_act(nd->r) &&
        fo_raft_fencing_token(nd->r, &ft, &fi) == 0 &&
        (fi >= s->committed_cap || s->committed_term[fi] != ft))
        fo__sim_violation(s, "ready-to-act", "node %d acts on (%llu, %llu) before it committed",
                          nd->idx, (unsigned long long)ft, (unsigned long long)fi);
}

void fo__sim_check_apply(struct fo__sim *s, struct fo__sim_node *nd, const struct fo_raft_entry *e)
{
    uint64_t known;
    if (e->index != nd->sm_index + 1) {
        fo__sim_violation(s, "state-machine-safety", "node %d applies %llu after %llu", nd->idx,
                          (unsigned long long)e->index, (unsigned long long)nd->sm_index);
        return;
    }
    uint64_t chain = fo__sim_chain(nd->sm_chain, e->index, e->term, e->type, e->data, e->len);
    if (!fo__sim_known_committed(s, e->index, &known) || known != chain) {
        fo__sim_violation(s, "state-machine-safety",
                          "node %d applies index %llu term %llu which is not the committed entry",
                          nd->idx, (unsigned long long)e->index, (unsigned long long)e->term);
        return;
    }
    nd->sm_index = e->index;
    nd->sm_chain = chain;
}

/* A log position for the up-to-date comparison of elections. */
struct fo__pos {
    uint64_t term, index;
    bool has;
};

static bool fo__pos_ge(const struct fo__pos *a, const struct fo__pos *b)
{
    return a->term > b->term || (a->term == b->term && a->index >= b->index);
}

/* Committed entries survive any crash and any election: the newest one is on a majority of
 * disks, and no node lacking it (as it is, or as its disk would restart it) could collect a
 * majority of votes from nodes as they are or as they would restart. */
static void fo__sim_check_durable(struct fo__sim *s)
{
    uint64_t c = s->max_commit, chain;
    if (!c || !fo__sim_known_committed(s, c, &chain))
        return;
    struct fo__pos st[FO_SIM_MAX_NODES][2];
    size_t on_disk = 0;
    for (int i = 0; i < s->n; i++) {
        const struct fo__sim_node *nd = &s->nodes[i];
        st[i][0] = (struct fo__pos){fo__sim_log_last_term(&nd->disk), fo__sim_log_last(&nd->disk),
                                    fo__sim_has(&nd->disk, c, chain)};
        st[i][1] = st[i][0];
        if (nd->r)
            st[i][1] = (struct fo__pos){fo__sim_log_last_term(&nd->mem), fo__sim_log_last(&nd->mem),
                                        fo__sim_has(&nd->mem, c, chain)};
        if (st[i][0].has)
            on_disk++;
    }
    if (on_disk < s->quorum) {
        fo__sim_violation(s, "committed-lost",
                          "committed index %llu is on %zu disks, fewer than a majority",
                          (unsigned long long)c, on_disk);
        return;
    }
    for (int x = 0; x < s->n; x++) {
        for (int k = 0; k < 2; k++) {
            const struct fo__pos *sx = &st[x][k];
            if (sx->has)
                continue;
            size_t votes = 1;
            for (int y = 0; y < s->n; y++)
                if (y != x && (fo__pos_ge(sx, &st[y][0]) || fo__pos_ge(sx, &st[y][1])))
                    votes++;
            if (votes >= s->quorum) {
                fo__sim_violation(s, "committed-lost",
                                  "node %d lacks committed index %llu, yet with its %s log "
                                  "(last index %llu term %llu) it could get %zu votes",
                                  x, (unsigned long long)c, k ? "in-memory" : "on-disk",
                                  (unsigned long long)sx->index, (unsigned long long)sx->term,
                                  votes);
                return;
            }
        }
    }
}

static void fo__sim_check_lease(struct fo__sim *s)
{
    int holders[FO_SIM_MAX_NODES], nh = 0;
    for (int i = 0; i < s->n; i++) {
        struct fo__sim_node *nd = &s->nodes[i];
        bool v = nd->r && nd->paused_until <= s->now &&
                 fo_raft_lease_valid(nd->r, fo__sim_local_ms(s, nd));
        if (v && !nd->lease)
            nd->lease_since = s->now;
        if (!v && nd->lease)
            s->res->lease_ms += (uint64_t)(s->now - nd->lease_since) / 1000;
        nd->lease = v;
        if (v)
            holders[nh++] = i;
    }
    if (nh >= 2) {
        struct fo_raft_status a, b;
        fo_raft_status(s->nodes[holders[0]].r, &a);
        fo_raft_status(s->nodes[holders[1]].r, &b);
        fo__sim_violation(s, "lease-overlap",
                          "nodes %d (term %llu, %lld ms left) and %d (term %llu, %lld ms left) "
                          "both hold a lease",
                          holders[0], (unsigned long long)a.term,
                          (long long)fo_raft_lease_remaining(
                              s->nodes[holders[0]].r, fo__sim_local_ms(s, &s->nodes[holders[0]])),
                          holders[1], (unsigned long long)b.term,
                          (long long)fo_raft_lease_remaining(
                              s->nodes[holders[1]].r, fo__sim_local_ms(s, &s->nodes[holders[1]])));
    }
}

void fo__sim_check_global(struct fo__sim *s)
{
    fo__sim_check_lease(s);
    if (!s->res->violation)
        fo__sim_check_durable(s);
    if (s->res->violation || !s->healed)
        return;
    for (int i = 0; i < s->live_n; i++) {
        uint64_t idx = s->live_idx[i];
        if (idx < s->committed_cap && s->committed_term[idx] == s->live_term[i]) {
            s->res->live_ms = (s->now - s->heal_at) / 1000;
            s->done = true;
            return;
        }
    }
    if (s->now > s->heal_at + (int64_t)FO_SIM_LIVE_MS * 1000)
        fo__sim_violation(s, "liveness",
                          "no entry proposed after healing committed within %d ms (%d proposals)",
                          FO_SIM_LIVE_MS, s->live_n);
}

void fo__sim_check_free(struct fo__sim *s)
{
    free(s->committed_chain);
    free(s->committed_term);
    free(s->committed_by);
    free(s->leader_of_term);
    free(s->tab);
}
