/* The Raft core's internal state, shared by raft*.c only. The in-memory log holds the entries
 * after the snapshot; "unstable" marks where entries not yet handed to storage begin. */
#ifndef FO_RAFT_RAFT_INT_H
#define FO_RAFT_RAFT_INT_H

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "raft/raft.h"

#include <stdbool.h>
#include <stdint.h>

#define FO__NEVER INT64_MIN
/* Terms and indexes stay far below UINT64_MAX, so that index + count never wraps. Anything
 * larger in a message or in restored state is refused. */
#define FO__MAX_INDEX ((uint64_t)1 << 62)

enum fo__pr_state {
    FO__PR_PROBE = 0,     /* one append at a time until the follower's position is known */
    FO__PR_REPLICATE = 1, /* pipelined appends */
    FO__PR_SNAPSHOT = 2,  /* sending the snapshot */
};

/* Leader's view of one voter (the leader's own slot is unused but kept for indexing). */
struct fo__progress {
    uint64_t id;
    uint64_t match;       /* highest index known durable on the peer and equal to ours */
    uint64_t next;        /* next index to send */
    uint64_t recent;      /* highest index the peer has verified in memory (may be non-durable) */
    int state;            /* enum fo__pr_state */
    bool probe_sent;      /* PROBE: an append is out; wait for the answer or the heartbeat */
    int64_t last_heard;   /* our clock when it last answered in this term (check-quorum) */
    int64_t acked_ts;     /* largest send time of ours it echoed in this term (lease) */
    uint64_t snap_index;  /* SNAPSHOT: index of the snapshot being sent */
    uint64_t snap_offset; /* SNAPSHOT: bytes the peer confirmed */
    int64_t snap_sent_at; /* SNAPSHOT: when the last chunk went out */
    bool vote_granted;
    bool vote_answered;
};

struct fo__log {
    struct fo_raft_entry *ents; /* ents[i] has index snap_index + 1 + i */
    size_t n;
    size_t cap;
    uint64_t snap_index;
    uint64_t snap_term;
};

/* A snapshot being received in chunks. */
struct fo__inbound {
    uint64_t index;
    uint64_t term;
    uint64_t total;
    uint64_t got;
    unsigned char *buf;
};

struct fo_raft {
    uint64_t id;
    uint64_t *voters;
    size_t n_voters;
    size_t quorum;
    size_t self; /* our slot in voters/prs */
    uint32_t etmin, etmax, heartbeat_ms, lease_ms;
    uint32_t max_entries, max_bytes, max_inflight, max_uncommitted;
    uint64_t rng;

    enum fo_raft_state state;
    uint64_t term;
    uint64_t vote;
    uint64_t leader;
    bool hs_dirty;

    struct fo__log log;
    uint64_t unstable; /* first index not yet handed to storage */
    uint64_t durable;  /* storage reported durable up to here (matching our log) */
    uint64_t commit;
    uint64_t applied;

    /* Our own snapshot (sent to followers) and one to hand to the glue for installing. */
    struct fo_raft_snapshot snap;
    bool snap_pending_install;
    struct fo__inbound in;

    int64_t election_deadline;
    int64_t guard_until; /* no votes before this: we heard from a live leader */

    /* follower */
    uint64_t verified; /* our log equals the current leader's up to here */
    uint64_t acked;    /* highest index acknowledged to the current leader */
    int64_t leader_ts; /* largest send time received from the current leader */

    /* leader */
    struct fo__progress *prs;
    int64_t heartbeat_due;
    int64_t leader_since;
    uint64_t noop_index;
    uint64_t transferee;
    int64_t transfer_deadline;
    bool timeout_now_sent;

    /* output */
    struct fo_raft_msg *msgs;
    size_t n_msgs;
    size_t cap_msgs;
};

/* raft_log.c */
uint64_t fo__log_last_index(const struct fo__log *l);
uint64_t fo__log_last_term(const struct fo__log *l);
/* Term of the entry at index; false if unknown (compacted below the snapshot or past the end). */
bool fo__log_term(const struct fo__log *l, uint64_t index, uint64_t *term);
const struct fo_raft_entry *fo__log_get(const struct fo__log *l, uint64_t index);
void fo__log_append(struct fo__log *l, const struct fo_raft_entry *e); /* copies data */
void fo__log_truncate(struct fo__log *l, uint64_t from);               /* drops from.. */
void fo__log_compact(struct fo__log *l, uint64_t upto, uint64_t term);
void fo__log_reset(struct fo__log *l, uint64_t snap_index, uint64_t snap_term);
void fo__log_free(struct fo__log *l);
/* Largest index <= index whose term is <= term (the snapshot index at the least). */
uint64_t fo__log_conflict_by_term(const struct fo__log *l, uint64_t index, uint64_t term);
void fo__entry_copy(struct fo_raft_entry *dst, const struct fo_raft_entry *src);

/* raft.c */
struct fo_raft_msg *fo__msg_new(struct fo_raft *r, uint8_t type, uint64_t to);
uint64_t fo__ackable(const struct fo_raft *r);
int64_t fo__lease_start(const struct fo_raft *r);

/* raft_elect.c */
void fo__become_follower(struct fo_raft *r, uint64_t term, uint64_t leader, int64_t now);
void fo__reset_election_timer(struct fo_raft *r, int64_t now);
void fo__campaign(struct fo_raft *r, bool pre, bool transfer, int64_t now);
bool fo__in_guard(const struct fo_raft *r, int64_t now);
void fo__handle_vote(struct fo_raft *r, const struct fo_raft_msg *m, int64_t now);
void fo__handle_vote_resp(struct fo_raft *r, const struct fo_raft_msg *m, int64_t now);

/* raft_repl.c */
void fo__send_append(struct fo_raft *r, struct fo__progress *pr, int64_t now);
void fo__broadcast(struct fo_raft *r, int64_t now);
void fo__maybe_commit(struct fo_raft *r);
void fo__handle_append(struct fo_raft *r, const struct fo_raft_msg *m, int64_t now);
void fo__handle_append_resp(struct fo_raft *r, const struct fo_raft_msg *m, int64_t now);
void fo__handle_snapshot(struct fo_raft *r, const struct fo_raft_msg *m, int64_t now);
void fo__follower_ack(struct fo_raft *r, bool always);
void fo__send_timeout_now(struct fo_raft *r, struct fo__progress *pr, int64_t now);
struct fo__progress *fo__progress_of(struct fo_raft *r, uint64_t id);

#endif
