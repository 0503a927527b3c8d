/* The agent's cluster side: Raft core + storage + peer transport + replicated state + audit,
 * observation sharing and, on the leader, detection. Built only with a cluster: section. */
#ifndef FO_DAEMON_CLUSTER_H
#define FO_DAEMON_CLUSTER_H

#include "check/check.h"
#include "core/fo.h"
#include "daemon/agentcfg.h"

struct uv_loop_s;
struct json_object;
struct fo_api;
struct fo_cluster;

/* Opens the data directory (term/vote, log, snapshots, audit); with bootstrap and an empty log,
 * creates the cluster's first voters (this agent and its configured peers). */
struct fo_cluster *fo_cluster_new(struct uv_loop_s *loop, const struct fo_agentcfg *cfg,
                                  struct fo_sched *sched, int bootstrap, struct fo_err *err);
/* Starts the peer listener, dialing and the Raft tick. */
int fo_cluster_start(struct fo_cluster *c, struct fo_err *err);
/* Adds the cluster's API routes (audit, propose a note, lb gate...). */
void fo_cluster_routes(struct fo_cluster *c, struct fo_api *api);
/* A check result of a member (from the scheduler): shared with the leader as soft state. */
void fo_cluster_observe(struct fo_cluster *c, const struct fo_sched_member *m, int changed);
/* A reload: new config hash (config.adopt), detection settings. Identity and voters stay. */
void fo_cluster_reload(struct fo_cluster *c, const struct fo_agentcfg *cfg);
/* SIGTERM: a leader transfers leadership first (bounded wait), then the loop is stopped. */
void fo_cluster_shutdown(struct fo_cluster *c, struct uv_loop_s *loop);
/* Non-zero when the cluster stopped the agent on a fatal error (failed fsync, corruption). */
int fo_cluster_exit_code(const struct fo_cluster *c);
/* The "cluster" block of /v1/status (new reference). arg is the struct fo_cluster. */
struct json_object *fo_cluster_status_json(void *arg);
void fo_cluster_free(struct fo_cluster *c);

#endif
