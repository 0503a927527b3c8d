/* The Raft core: a pure state machine. It does no I/O, reads no clock and keeps no global
 * state; the caller passes the current time (CLOCK_BOOTTIME, ms) into every call, feeds it
 * messages and storage completions, and collects a "ready" batch of work to do.
 *
 * The glue's loop, after any call:
 *   while (fo_raft_has_ready(r)) {
 *       fo_raft_ready_take(r, &rd);
 *       1. if rd.has_hard_state: write term/vote durably; no message of this ready or a
 *          later one may leave before it is (a vote or a candidacy depends on it);
 *       2. if rd.snapshot: restore the state machine from it and queue storing it (the log it
 *          replaces is dropped); when durable, fo_raft_persisted(snapshot index, term);
 *       3. queue rd.entries for append (overwriting the log from rd.entries[0].index);
 *          as writes become durable (in queue order), fo_raft_persisted(last index, term);
 *       4. send rd.msgs (they may leave before the writes of 2 and 3 are durable);
 *       5. apply rd.committed in order (they are committed and locally durable);
 *       fo_raft_ready_free(&rd);
 *   }
 * and it calls fo_raft_tick() no later than fo_raft_next_deadline().
 *
 * Safety comes first: pre-vote, check-quorum, vote stickiness (no vote within
 * election_timeout_min of hearing from a live leader, except for a leadership transfer), a no-op
 * at the start of each term, commit only of current-term entries by counting, durable-only
 * acknowledgements, and a lease that starts at the send time of a round a majority answered. */
#ifndef FO_RAFT_RAFT_H
#define FO_RAFT_RAFT_H

#include "raft/entry.h"
#include "raft/msg.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FO_RAFT_MAX_VOTERS     64
#define FO_RAFT_MAX_ENTRY_SIZE ((uint32_t)1024 * 1024)

enum fo_raft_state {
    FO_RAFT_FOLLOWER = 0,
    FO_RAFT_PRECANDIDATE = 1,
    FO_RAFT_CANDIDATE = 2,
    FO_RAFT_LEADER = 3,
};

struct fo_raft_config {
    uint64_t id;                      /* this node; non-zero, one of voters */
    const uint64_t *voters;           /* fixed at creation (copied); ids non-zero and distinct */
    size_t n_voters;                  /* 1..FO_RAFT_MAX_VOTERS */
    uint32_t election_timeout_min_ms; /* default 1000 */
    uint32_t election_timeout_max_ms; /* default 2000 */
    uint32_t heartbeat_ms;            /* default 100 */
    uint32_t lease_ms;                /* default 850; must stay below min x (1 - drift) - margin */
    uint32_t max_entries_per_msg;     /* default 64 */
    uint32_t max_bytes_per_msg;       /* default 1 MiB; also the snapshot chunk size */
    uint32_t max_inflight;            /* entries sent but not acknowledged; default 256 */
    uint32_t max_uncommitted;         /* proposals beyond this many return -FO_EAGAIN; 4096 */
    uint64_t seed;                    /* election timeout randomness */
};

/* Term and vote: must be durable before any message of the same ready is sent. */
struct fo_raft_hard_state {
    uint64_t term;
    uint64_t vote;
};

/* A snapshot: the state machine's state up to and including index (whose entry had term). */
struct fo_raft_snapshot {
    uint64_t index;
    uint64_t term;
    uint32_t len;
    unsigned char *data;
};

/* What storage recovered; all of it is durable. entries follow the snapshot (or index 1)
 * without gaps. Nothing here is kept by reference. The commit and applied indexes restart at
 * the snapshot: the glue restores its state machine from the snapshot, and the entries after
 * it come again in ready.committed once the leader has told the commit index. */
struct fo_raft_restore {
    struct fo_raft_hard_state hs;
    const struct fo_raft_snapshot *snapshot; /* NULL: none */
    const struct fo_raft_entry *entries;
    size_t n_entries;
};

/* Work for the glue; see the loop at the top. Owned by the ready until fo_raft_ready_free. */
struct fo_raft_ready {
    bool has_hard_state;
    struct fo_raft_hard_state hs;
    struct fo_raft_snapshot *snapshot; /* follower: install this, replacing state and log */
    struct fo_raft_entry *entries;     /* append, overwriting from entries[0].index */
    size_t n_entries;
    struct fo_raft_entry *committed; /* apply in order */
    size_t n_committed;
    struct fo_raft_msg *msgs;
    size_t n_msgs;
};

struct fo_raft_status {
    uint64_t id;
    enum fo_raft_state state;
    uint64_t term;
    uint64_t vote;
    uint64_t leader; /* 0: unknown */
    uint64_t commit;
    uint64_t applied; /* handed out in a ready */
    uint64_t durable; /* last index storage reported durable */
    uint64_t last_index;
    uint64_t last_term;
    uint64_t snapshot_index;
    uint64_t snapshot_term;
    uint64_t noop_index;     /* leader: index of this term's no-op */
    uint64_t transferee;     /* leader: target of a transfer in progress, or 0 */
    int64_t leader_since_ms; /* leader: when it won this term */
};

struct fo_raft;

void fo_raft_config_defaults(struct fo_raft_config *cfg);

/* Creates a core from a config and what storage recovered (restore may be NULL for a new node).
 * Returns 0 or -FO_EINVAL (bad config or restore data). */
int fo_raft_create(struct fo_raft **out, const struct fo_raft_config *cfg,
                   const struct fo_raft_restore *restore, int64_t now_ms);
void fo_raft_free(struct fo_raft *r);

/* Timers: elections, heartbeats, check-quorum, transfer timeout. */
void fo_raft_tick(struct fo_raft *r, int64_t now_ms);
/* The earliest time at which fo_raft_tick has something to do. */
int64_t fo_raft_next_deadline(const struct fo_raft *r);

/* A message from a peer. -FO_EINVAL if it is not for this node or from an unknown node, or
 * breaks the message rules (it is then ignored). */
int fo_raft_step(struct fo_raft *r, const struct fo_raft_msg *m, int64_t now_ms);

/* Appends a COMMAND entry (data copied). Leader only: -FO_ENOTLEADER otherwise, -FO_EBUSY
 * during a leadership transfer, -FO_EAGAIN when max_uncommitted entries wait, -FO_ETOOBIG
 * past FO_RAFT_MAX_ENTRY_SIZE, -FO_EINVAL for another type (membership changes are not
 * supported yet). On success *index and *term (if not NULL) name the entry. */
int fo_raft_propose(struct fo_raft *r, uint8_t type, const void *data, uint32_t len, int64_t now_ms,
                    uint64_t *index, uint64_t *term);

/* Storage made the log durable up to index, whose entry has term (or installed the snapshot
 * with that index and term). Reports that no longer match the log (it was overwritten since)
 * are ignored. */
void fo_raft_persisted(struct fo_raft *r, uint64_t index, uint64_t term, int64_t now_ms);

/* The glue took a snapshot of the state machine at index (<= applied) and wants the log up to
 * it dropped. data is copied; the leader sends it to followers that need dropped entries.
 * -FO_EINVAL if index is not in (snapshot index, applied]. */
int fo_raft_compact(struct fo_raft *r, uint64_t index, const void *data, uint32_t len);

/* Leadership transfer to another voter: it is brought up to date, then told to campaign (its
 * campaign may override vote stickiness). While the transfer runs this leader has no lease and
 * refuses proposals. If the target has not taken over within election_timeout_min, the
 * transfer is abandoned, or, if the target was already told to campaign, this leader steps
 * down. -FO_ENOTLEADER, -FO_EINVAL (not another voter), -FO_EBUSY (another transfer runs). */
int fo_raft_transfer(struct fo_raft *r, uint64_t target, int64_t now_ms);

/* The transport saw the connection to `id` close (its process exited or crashed: the kernel
 * closed its sockets). If id leads us, campaign soon after the vote guard ends instead of at a
 * full random timeout. Timing only: nothing about safety depends on it, and a partition, which
 * closes nothing, still waits out the normal timeout. */
void fo_raft_leader_lost(struct fo_raft *r, uint64_t id, int64_t now_ms);

bool fo_raft_has_ready(const struct fo_raft *r);
/* Moves the pending work into rd. Committed entries in it count as applied. */
void fo_raft_ready_take(struct fo_raft *r, struct fo_raft_ready *rd);
void fo_raft_ready_free(struct fo_raft_ready *rd);

void fo_raft_status(const struct fo_raft *r, struct fo_raft_status *st);
bool fo_raft_is_leader(const struct fo_raft *r);

/* The lease: valid while this node leads, is not transferring, and a majority (itself
 * included) answered a round it sent less than lease_ms ago. */
bool fo_raft_lease_valid(const struct fo_raft *r, int64_t now_ms);
/* Milliseconds of lease left at now (0 if none). */
int64_t fo_raft_lease_remaining(const struct fo_raft *r, int64_t now_ms);
/* The fencing token: (term, index of the term's no-op). -FO_ENOTLEADER if not the leader. */
int fo_raft_fencing_token(const struct fo_raft *r, uint64_t *term, uint64_t *index);
/* Leader whose no-op is committed and applied: its state machine is current. */
bool fo_raft_ready_to_act(const struct fo_raft *r);
/* Leader's view of a peer's replication; -FO_ENOTLEADER, -FO_ENOENT. */
int fo_raft_progress(const struct fo_raft *r, uint64_t id, uint64_t *match, uint64_t *next);

const char *fo_raft_state_name(enum fo_raft_state s);

#endif
