/* Internals shared by cluster.c (Raft, storage, peers, observations), cluster_api.c (status,
 * routes, metrics) and cluster_audit.c (snapshot blob, audit catch-up from peers). */
#ifndef FO_DAEMON_CLUSTER_INT_H
#define FO_DAEMON_CLUSTER_INT_H

#include <uv.h>

#include "audit/audit.h"
#include "daemon/cluster.h"
#include "detect/detect.h"
#include "peer/peer.h"
#include "raft/io.h"
#include "raft/raft.h"
#include "state/state.h"

/* Frame types. Audit catch-up (cluster_audit.c): REQ {"from":N,"to":M} -> RESP {"from":N,
 * "lines":["<stored line>",...]}, plus "missing":true when the file starts after N. */
#define FO_CLUSTER_T_RAFT       (FO_PEER_T_USER_MIN + 0)
#define FO_CLUSTER_T_OBS        (FO_PEER_T_USER_MIN + 1)
#define FO_CLUSTER_T_AUDIT_REQ  (FO_PEER_T_USER_MIN + 2)
#define FO_CLUSTER_T_AUDIT_RESP (FO_PEER_T_USER_MIN + 3)
#define FO_CLUSTER_NODES        16
#define FO_CLUSTER_NO_LEADER_MS 30000

struct fo_cluster_node {
    uint64_t id; /* Raft id: FNV-1a 64 of the agent id */
    char *name;  /* agent id */
    char *zone;
    char *address;
    int up; /* peer connection authenticated */
};

/* A proposal whose client waits for its commit. */
struct fo_cluster_wait {
    uint64_t index, term;
    uint64_t req; /* fo_api deferred request id */
    int64_t deadline_ms;
    struct fo_cluster_wait *next;
};

struct fo_cluster {
    uv_loop_t *loop;
    char *cluster_id;
    char *self_name;
    char *self_zone;
    char *data_dir;
    char *raft_dir;
    char *config_hash;
    struct fo_cluster_node nodes[FO_CLUSTER_NODES]; /* [0] is this agent */
    int nnodes;
    uint64_t self;

    struct fo_raft *raft;
    struct fo_raft_config rcfg;
    struct fo_raft_log *log;
    struct fo_raft_aio *aio;
    uint64_t queued_last; /* last log index once every queued storage job is done */
    int meta_inflight;    /* term/vote writes not yet durable: messages wait for them */
    struct fo_raft_msg *held;
    size_t nheld, capheld;
    int storage_failed; /* a storage operation failed: silent in Raft (fo__storage_status) */

    struct fo_state *state;
    struct fo_audit *audit;
    uint64_t snapshot_every;
    uint64_t last_snapshot;
    uv_timer_t audit_timer; /* asks peers for the records a snapshot skipped */
    int audit_asked;        /* node asked last (0: none outstanding) */
    uint64_t audit_asked_head;
    int64_t audit_asked_ms; /* mono clock of that request */
    unsigned audit_rot;     /* which peer to ask when the leader does not serve */
    uint32_t audit_unheld;  /* nodes whose file starts after audit_unheld_from */
    uint64_t audit_unheld_from;

    struct fo_peer_transport *peers;
    struct fo_sched *sched;
    struct fo_detect *detect;
    int detect_quorum;
    int64_t stale_after_ms;
    unsigned char *verdicts; /* last verdict kind per (service, member) slot, leader only */
    size_t nverdicts;

    struct fo_api *api;
    struct fo_cluster_wait *waits;
    uint64_t last_leader;
    int64_t last_leader_contact_ms; /* boot clock: when we last knew a leader */
    int64_t no_leader_alarm_ms;

    uv_timer_t tick;
    uv_timer_t obs_timer;
    uv_timer_t detect_timer;
    uv_timer_t shutdown_timer;
    uint32_t obs_interval_ms;
    int shutting_down;
    int64_t shutdown_deadline_ms;
    int closing;
    int close_pending;
    uint64_t adopt_index, adopt_term; /* config.adopt in flight */
    int exit_code;
    uint64_t frames_bad; /* peer frames that authenticated but did not decode */
};

/* cluster.c */
/* A fatal error (failed fsync, lost audit record): logs it and stops the agent with exit 1. */
void fo__cluster_fatal(struct fo_cluster *c, const char *what, const char *msg);
/* The leader's lease as the agent may use it: none while storage has failed. */
bool fo__cluster_lease_valid(const struct fo_cluster *c, int64_t now_ms);
int fo__cluster_propose(struct fo_cluster *c, const char *type, const char *actor,
                        struct json_object *fields, uint64_t *index, uint64_t *term);
const char *fo__cluster_name(const struct fo_cluster *c, uint64_t id);
/* cluster_audit.c */
/* Snapshot blob: {"audit_index":N,"audit_hash":"H","state":{...}} */
char *fo__cluster_snapshot_blob(struct fo_cluster *c, size_t *len);
/* Restores the state from a blob; an audit behind it opens a gap that peers fill. */
int fo__cluster_restore_blob(struct fo_cluster *c, uint64_t index, const void *data, size_t len,
                             struct fo_err *err);
void fo__cluster_audit_recv(struct fo_cluster *c, const char *peer_id, uint8_t type,
                            const uint8_t *payload, size_t len);
void fo__cluster_audit_start(struct fo_cluster *c);
/* cluster_api.c */
void fo__cluster_waits_applied(struct fo_cluster *c, uint64_t index, uint64_t term);
void fo__cluster_waits_expire(struct fo_cluster *c, int64_t now_ms, int all);
void fo__cluster_detect_tick(struct fo_cluster *c);
void fo__cluster_metrics_register(struct fo_cluster *c);
void fo__cluster_metrics_unregister(struct fo_cluster *c);

#endif
