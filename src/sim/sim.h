/* Deterministic simulation of a Raft cluster built from the pure core: one seed drives the
 * network (drop, delay, duplicates, reordering, partitions), storage (fsync delay; un-synced
 * writes are lost at a crash), crashes, pauses, clock drift and client proposals, and safety
 * and liveness properties are checked after every event. */
#ifndef FO_SIM_SIM_H
#define FO_SIM_SIM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define FO_SIM_MAX_NODES 9

struct fo_sim_opts {
    uint64_t seed;
    int nodes;     /* 1..FO_SIM_MAX_NODES */
    int steps;     /* chaos actions before the network heals; default 60 */
    bool verbose;  /* print every event to out */
    FILE *out;     /* violation report (and verbose trace); NULL: silent */
    int trace_len; /* events shown with a violation; default 80 */
};

struct fo_sim_result {
    bool violation;
    char property[48]; /* e.g. "election-safety", "lease-overlap", "liveness" */
    char detail[256];
    uint64_t events;
    uint64_t elections;
    uint64_t max_commit;
    uint64_t crashes;
    uint64_t lease_ms; /* summed over leaders: how long some leader held a lease (ms) */
    int64_t live_ms;   /* from healing to the commit of a new entry */
    int64_t sim_ms;
};

void fo_sim_opts_defaults(struct fo_sim_opts *o);
/* Runs one seed. Returns 0 when it ran (see res->violation), -FO_EINVAL for bad options. */
int fo_sim_run(const struct fo_sim_opts *o, struct fo_sim_result *res);

#endif
