/* /v1/status: the agent's view as JSON (agent info, TILT, the cluster block from a provider, and
 * every service with its members' confirmed status, facts and history). Rendering reads the check
 * engine through a narrow source interface so tests can feed hand-built state. */
#ifndef FO_API_STATUS_H
#define FO_API_STATUS_H

#include <stddef.h>
#include <stdint.h>

#include "check/check.h"

struct json_object;
struct fo_api_req;
struct fo_api_resp;

struct fo_agent_info {
    const char *id;
    const char *zone;
    const char *version;
    long pid;
    int64_t started_wall_ms;
    int64_t started_mono_ms; /* uptime is measured on the monotonic clock; 0: from the wall clock */
    const char *config_file;
    const char *config_hash;
};

/* What status and metrics read from the check engine: the scheduler in the daemon
 * (fo_checks_src_sched), plain arrays in tests. Services and members are read by index. */
struct fo_checks_src {
    int (*nservices)(const void *ctx);
    const struct fo_service_def *(*service)(const void *ctx, int i);
    int (*nmembers)(const void *ctx, int service);
    const struct fo_sched_member *(*member)(const void *ctx, int service, int member);
    const struct fo_tilt *(*tilt)(const void *ctx); /* may return NULL */
    const void *ctx;
    /* Changes whenever services or members may have been replaced (a reload); NULL: never. */
    uint64_t (*generation)(const void *ctx);
};

/* Fills src so that it reads the scheduler s. */
void fo_checks_src_sched(struct fo_checks_src *src, const struct fo_sched *s);

/* Returns a new reference to the "cluster" object, or NULL (rendered as null). */
typedef struct json_object *(*fo_cluster_json_fn)(void *arg);

/* Everything /v1/status and /metrics render. Owned by the caller; it must outlive the routes
 * registered with it. cluster_json may be set or changed at any time. */
struct fo_status_src {
    const struct fo_agent_info *agent;
    struct fo_checks_src checks;
    fo_cluster_json_fn cluster_json;
    void *cluster_arg;
};

/* The /v1/status document as text (compact JSON and a newline; caller frees), in one go; the
 * route streams the same text part by part. now_* give the render time (uptime). */
char *fo_status_text(const struct fo_status_src *src, int64_t now_wall_ms, int64_t now_mono_ms,
                     size_t *len);
/* The same parsed (new reference; NULL if it does not parse, which is a bug). */
struct json_object *fo_status_json(const struct fo_status_src *src, int64_t now_wall_ms,
                                   int64_t now_mono_ms);
/* Route handler for GET /v1/status; arg is a struct fo_status_src. */
void fo_status_handler(struct fo_api_req *req, struct fo_api_resp *resp, void *arg);

/* A copy of address fit to show: passwords in a conninfo (password=..., quoted or not) and in
 * URLs (user:password@, ?password=...) are replaced by "***". Caller frees. */
char *fo_status_mask_address(const char *address);
/* Formats wall_ms as ISO-8601 UTC with milliseconds ("2024-05-01T12:00:00.123Z"). Returns buf. */
char *fo_status_iso8601(int64_t wall_ms, char *buf, size_t n);

#endif
