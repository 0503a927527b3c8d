/* The simulator's world, shared by sim*.c: nodes with their core, disk and clock, the event
 * queue, the network, the checker's global record and the trace of recent events.
 * Real time is in microseconds; each node's clock (ms) drifts from it within a bound. */
#ifndef FO_SIM_SIM_INT_H
#define FO_SIM_SIM_INT_H

#include "raft/raft.h"
#include "sim/sim.h"

#include <stdbool.h>
#include <stdint.h>

/* Clock rates stay within 5%: an 850 ms lease (at most 895 ms of real time) then ends before
 * 1000 ms of vote stickiness (at least 952 ms). */
#define FO_SIM_MAX_DRIFT_PPM 50000
#define FO__SIM_ACTIONS      24    /* room for the chaos step kinds of sim_scen.c */
#define FO_SIM_LIVE_MS       10000 /* after healing, a new entry must commit within this */

enum fo__sim_ev_kind {
    FO__EV_DELIVER = 1,
    FO__EV_TICK,
    FO__EV_PERSIST,
    FO__EV_RESTART,
    FO__EV_ACTION,  /* next chaos step */
    FO__EV_CLIENT,  /* client proposals */
    FO__EV_ISOLATE, /* targeted: cut a node off */
    FO__EV_CRASH,   /* targeted: crash a node */
    FO__EV_HEAL,    /* end of chaos */
    FO__EV_SCRIPT,  /* next step of a scripted scenario: node = script, peer = step */
};

struct fo__sim_ev {
    int64_t t;
    uint64_t seq;
    int kind;
    int node;
    int peer;
    uint64_t gen; /* TICK: tick generation; PERSIST: node incarnation; others: argument */
    unsigned char *buf;
    size_t len;
};

/* A log as the checker sees it: term and chain hash per entry; data only on disk. */
struct fo__sim_ent {
    uint64_t term;
    uint64_t chain; /* hash of this entry and all before it */
    uint8_t type;
    uint32_t len;
    unsigned char *data;
};

struct fo__sim_log {
    uint64_t base; /* snapshot index */
    uint64_t base_term;
    uint64_t base_chain;
    struct fo__sim_ent *e; /* e[i]: index base + 1 + i */
    size_t n;
    size_t cap;
};

/* A write in flight to a node's disk. */
struct fo__sim_op {
    int64_t done_at;
    bool snapshot;
    uint64_t index, term, chain; /* snapshot meta, or the last entry's index/term */
    unsigned char *snap_data;
    uint32_t snap_len;
    struct fo__sim_ent *ents;
    uint64_t first; /* index of ents[0] */
    size_t n;
    struct fo__sim_op *next;
};

struct fo__sim_node {
    int idx;
    uint64_t id;
    struct fo_raft *r; /* NULL while crashed */
    uint64_t incarnation;
    /* clock: local_us = l0 + (now - t0) * (1e6 + ppm) / 1e6 */
    int64_t t0, l0, ppm;
    int64_t paused_until;
    /* disk */
    struct fo_raft_hard_state hs;
    struct fo__sim_log disk;
    unsigned char *disk_snap;
    uint32_t disk_snap_len;
    struct fo__sim_op *ops, *ops_tail;
    /* mirror of the core's in-memory log, from what it hands to storage */
    struct fo__sim_log mem;
    /* state machine */
    uint64_t sm_index, sm_chain;
    /* checker bookkeeping */
    uint64_t seen_commit;
    enum fo_raft_state seen_state;
    uint64_t seen_term;
    uint64_t tick_gen;
    int64_t tick_at;
    bool lease;
    int64_t lease_since;
};

struct fo__sim_trace_rec {
    int64_t t;
    uint8_t kind;
    uint8_t node;
    uint8_t peer;
    uint8_t mtype;
    uint8_t flags;
    uint64_t a, b, c, d;
};

struct fo__sim_prof {
    uint32_t drop_ppm, dup_ppm;
    int64_t delay_min, delay_max; /* us */
    int64_t fsync_min, fsync_max; /* us */
    bool per_entry_persist;
    uint32_t max_entries, chunk, max_inflight, max_uncommitted;
    uint64_t snap_every; /* 0: never compact */
    uint32_t snap_pad;
    int64_t client_every; /* us */
    uint32_t idle_ppm;    /* chance that clients then fall silent for a while */
    uint32_t iso_new_leader_ppm, crash_new_leader_ppm;
    bool drift;
    uint32_t weights[FO__SIM_ACTIONS]; /* chaos step kinds, relative odds */
};

struct fo__sim {
    struct fo_sim_opts o;
    struct fo_sim_result *res;
    uint64_t rng;
    int n;
    size_t quorum;
    struct fo__sim_node nodes[FO_SIM_MAX_NODES];
    uint64_t voters[FO_SIM_MAX_NODES];
    int64_t now;
    uint64_t seq;
    struct fo__sim_ev *heap;
    size_t heap_n, heap_cap;
    struct fo__sim_prof p;
    int64_t cut_until[FO_SIM_MAX_NODES][FO_SIM_MAX_NODES];
    int64_t slow_until[FO_SIM_MAX_NODES][FO_SIM_MAX_NODES];
    int64_t slow_extra[FO_SIM_MAX_NODES][FO_SIM_MAX_NODES];
    int steps_left;
    int64_t quiet_until; /* a script runs: no random chaos step before this */
    int script_node[2];
    int iso_next_leader;     /* script waiting to cut off the next new leader, or -1 */
    int restart_on_campaign; /* script waiting for this node to campaign, or -1 */
    int64_t client_cut_until[FO_SIM_MAX_NODES]; /* clients cannot reach the node */
    int64_t client_busy_until;                  /* clients propose often, never idle */
    uint64_t client_gen;
    bool healed;
    bool done;
    int64_t heal_at;
    uint64_t proposals;
    unsigned char *encbuf;
    /* checker */
    uint64_t *committed_chain, *committed_term;
    uint64_t *committed_by; /* term of the node that first saw the index committed */
    size_t committed_cap;
    uint64_t max_commit;
    uint64_t *leader_of_term;
    size_t lot_cap;
    struct {
        uint64_t index, term, chain;
    } * tab;
    size_t tab_cap, tab_n;
    uint64_t live_idx[64], live_term[64]; /* proposals accepted after healing */
    int live_n;
    /* trace ring */
    struct fo__sim_trace_rec *trace;
    size_t trace_cap, trace_n;
};

enum fo__sim_trace_kind {
    FO__T_SEND = 1,
    FO__T_DROP,
    FO__T_RECV,
    FO__T_TICK,
    FO__T_PERSIST,
    FO__T_CRASH,
    FO__T_RESTART,
    FO__T_CUT,
    FO__T_HEAL,
    FO__T_PROPOSE,
    FO__T_LEADER,
    FO__T_COMMIT,
    FO__T_PAUSE,
    FO__T_TRANSFER,
    FO__T_COMPACT,
    FO__T_INSTALL,
    FO__T_SLOW,
    FO__T_DRIFT,
    FO__T_WEATHER,
    FO__T_STATE,
};

/* sim.c */
uint64_t fo__sim_rand(struct fo__sim *s);
uint64_t fo__sim_range(struct fo__sim *s, uint64_t lo, uint64_t hi); /* inclusive */
bool fo__sim_chance(struct fo__sim *s, uint32_t ppm);
void fo__sim_push(struct fo__sim *s, int64_t t, int kind, int node, int peer, uint64_t gen);
int64_t fo__sim_local_ms(const struct fo__sim *s, const struct fo__sim_node *nd);
void fo__sim_set_ppm(struct fo__sim *s, struct fo__sim_node *nd, int64_t ppm);
void fo__sim_crash(struct fo__sim *s, struct fo__sim_node *nd);
void fo__sim_restart(struct fo__sim *s, struct fo__sim_node *nd);
void fo__sim_after_call(struct fo__sim *s, struct fo__sim_node *nd);
int fo__sim_leader(
    const struct fo__sim *s); /* a node that believes it leads (highest term), or -1 */

/* sim_check.c */
uint64_t fo__sim_chain(uint64_t prev, uint64_t index, uint64_t term, uint8_t type,
                       const unsigned char *data, uint32_t len);
void fo__sim_violation(struct fo__sim *s, const char *property, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void fo__sim_log_truncate(struct fo__sim_log *l, uint64_t from);
void fo__sim_log_push(struct fo__sim_log *l, const struct fo__sim_ent *e, bool with_data);
void fo__sim_log_reset(struct fo__sim_log *l, uint64_t base, uint64_t term, uint64_t chain);
void fo__sim_log_free(struct fo__sim_log *l);
uint64_t fo__sim_log_last(const struct fo__sim_log *l);
uint64_t fo__sim_log_last_term(const struct fo__sim_log *l);
const struct fo__sim_ent *fo__sim_log_at(const struct fo__sim_log *l, uint64_t index);
void fo__sim_check_entry(struct fo__sim *s, struct fo__sim_node *nd, uint64_t index,
                         const struct fo__sim_ent *e);
void fo__sim_check_node(struct fo__sim *s, struct fo__sim_node *nd);
void fo__sim_check_apply(struct fo__sim *s, struct fo__sim_node *nd, const struct fo_raft_entry *e);
void fo__sim_check_hs(struct fo__sim *s, struct fo__sim_node *nd,
                      const struct fo_raft_hard_state *hs);
void fo__sim_check_global(struct fo__sim *s);
bool fo__sim_known_committed(const struct fo__sim *s, uint64_t index, uint64_t *chain);
void fo__sim_check_free(struct fo__sim *s);

/* sim_scen.c */
void fo__sim_profile(struct fo__sim *s);
void fo__sim_action(struct fo__sim *s);
void fo__sim_client(struct fo__sim *s);
void fo__sim_new_leader(struct fo__sim *s, struct fo__sim_node *nd);
void fo__sim_targeted(struct fo__sim *s, int kind, int node, uint64_t arg);
void fo__sim_script(struct fo__sim *s, int script, int step);
void fo__sim_state_change(struct fo__sim *s, struct fo__sim_node *nd, enum fo_raft_state state);
void fo__sim_heal(struct fo__sim *s);
bool fo__sim_link_cut(const struct fo__sim *s, int from, int to);

/* sim_trace.c */
void fo__sim_trace(struct fo__sim *s, int kind, int node, int peer, int mtype, int flags,
                   uint64_t a, uint64_t b, uint64_t c, uint64_t d);
void fo__sim_trace_msg(struct fo__sim *s, int kind, int node, int peer,
                       const struct fo_raft_msg *m);
void fo__sim_trace_dump(const struct fo__sim *s, FILE *f, size_t last);
void fo__sim_trace_print(const struct fo__sim_trace_rec *t, FILE *f);

#endif
