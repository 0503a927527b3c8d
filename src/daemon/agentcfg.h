/* The agent's configuration as typed structs, built from one YAML/JSON file by
 * fo_agentcfg_load() using the schema tables in agentcfg.c. */
#ifndef FO_DAEMON_AGENTCFG_H
#define FO_DAEMON_AGENTCFG_H

#include <stdint.h>
#include <stdio.h>

#include "check/check.h"
#include "core/fo.h"
#include "core/log.h"

enum fo_role { FO_ROLE_READ = 0, FO_ROLE_OPERATOR = 1, FO_ROLE_ADMIN = 2 };

struct fo_token_cfg {
    char *name;
    enum fo_role role;
    char *secret; /* resolved; never logged */
};

struct fo_peer_cfg {
    char *id;
    char *zone;
    char *address; /* host:port of its peer listener (a dial hint) */
};

struct fo_cluster_cfg {
    int enabled;  /* 0 when the file has no cluster: section (single agent) */
    char *id;     /* cluster id */
    char *listen; /* host:port for the peer transport */
    char *key;    /* cluster key bytes, resolved from key_file; never logged */
    size_t key_len;
    struct fo_peer_cfg *peers; /* the other agents */
    int npeers;
    uint32_t election_timeout_min_ms; /* default 1000 */
    uint32_t election_timeout_max_ms; /* default 2000 */
    uint32_t heartbeat_ms;            /* default 100 */
    uint32_t lease_ms;                /* default derived: min * (1 - max_drift) - margin = 850 */
    int detect_quorum;                /* 0: majority of voters */
    uint32_t stale_after_ms;          /* default 3 x the longest check interval, at least 5 s */
    uint64_t snapshot_every;          /* entries between snapshots, default 1000 */
};

struct fo_agentcfg {
    char *file; /* path it was loaded from */
    char *hash; /* SHA-256 hex of the canonical services section (config.adopt) */
    char *id;
    char *zone;
    char *data_dir;   /* default /var/lib/failoverd/<id> */
    char *plugin_dir; /* default FO_PLUGIN_DIR */
    enum fo_log_level log_level;
    enum fo_log_format log_format;
    char *log_file;   /* NULL: stderr */
    char *api_listen; /* host:port, default 127.0.0.1:8740 */
    struct fo_token_cfg *tokens;
    int ntokens;
    struct fo_cluster_cfg cluster;
    struct fo_service_def *services;
    int nservices;
};

/* Loads and validates FILE. On errors returns NULL and appends every error, one per line,
 * "FILE:LINE:COL: path.to.field: message", to *errors (malloc'd, caller frees). */
struct fo_agentcfg *fo_agentcfg_load(const char *file, char **errors);
/* The same from a buffer (NAME is used in error messages; relative secret files are read from
 * NAME's directory). For fuzzing and tests. */
struct fo_agentcfg *fo_agentcfg_load_buffer(const char *name, const char *data, size_t len,
                                            char **errors);
/* Canonical JSON of services (keys sorted, no spaces, defaults applied, secrets left out) and its
 * SHA-256 in hex (fo_agentcfg.hash, what config.adopt carries). Both malloc'd. */
char *fo_agentcfg_services_json(const struct fo_service_def *defs, int n);
char *fo_agentcfg_services_hash(const struct fo_service_def *defs, int n);
/* Writes the reference of every key (path, type, default, description), from the schema tables. */
void fo_agentcfg_doc(FILE *out);
/* Moves services out (for fo_sched_apply, which takes ownership). */
struct fo_service_def *fo_agentcfg_take_services(struct fo_agentcfg *c, int *n);
void fo_agentcfg_free(struct fo_agentcfg *c);

#endif
