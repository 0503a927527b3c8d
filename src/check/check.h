/* The check engine's types and API: service/member/check definitions (built from the config),
 * per-member runtime state with history, the scheduler on the libuv loop, and the plugin host.
 * Everything here is read by api/ (status, metrics) and by detect/ (observations). */
#ifndef FO_CHECK_CHECK_H
#define FO_CHECK_CHECK_H

#include <failoverd/plugin.h>
#include <stdint.h>

#include "core/fo.h"

struct uv_loop_s;
struct json_object;

/* ---- definitions (immutable once built; a reload builds new ones) ---- */

struct fo_member_def {
    char *name;
    char *zone;
    char *address; /* host:port, URL or conninfo */
    char **tags;
    int ntags;
    int priority; /* higher is preferred */
    char *where;  /* "file:line:col" of its address (or conninfo), for plugin errors */
};

struct fo_check_def {
    char *type; /* plugin name: postgres, redis, http, tcp, jsonrpc, exec */
    uint32_t interval_ms;
    uint32_t timeout_ms;
    uint32_t jitter_ms;         /* each run is delayed by a random 0..jitter_ms */
    int rise;                   /* consecutive good results to go up */
    int fall;                   /* consecutive critical results to go down */
    struct json_object *params; /* owned reference (json_object_get) or NULL */
    char *secret;               /* resolved secret or NULL; never logged */
    char *where;                /* "file:line:col" of the check node, for plugin errors */
};

/* A service's failover policy (DESIGN.md rules 4-6, 10), read and checked now, acted on by the
 * failover engine. Absent: present = 0 and the service is only watched. */
struct fo_failover_def {
    int present;
    char *runbook;              /* name of a runbook in the runbook directory */
    int automatic;              /* `auto`: fail over on an objective verdict (else only manual) */
    uint64_t max_lag;           /* bytes a candidate may trail the last primary position; 0: any */
    uint32_t cooldown_ms;       /* no automatic failover of the service this soon after one */
    uint32_t deadline_ms;       /* a failover not ended by then ends {timeout} */
    uint32_t max_resume_age_ms; /* a new leader resumes an in-flight plan only younger than this */
    int max_failovers;          /* automatic failovers allowed per window */
    uint32_t window_ms;         /* ... of this length */
    int allow_unfenced;         /* fence (c) of rule 10 allowed: default on for redis only */
};

struct fo_service_def {
    char *name;
    char *kind; /* postgres, redis, http, rpc, ... */
    struct fo_member_def *members;
    int nmembers;
    struct fo_check_def check;
    struct fo_failover_def policy;
    struct json_object *failover; /* the policy as written (owned reference), for the config hash */
};

void fo_service_def_free(struct fo_service_def *s); /* frees the members, not s itself */
/* 1 when the check of member m of a and of b are the same definition (reload keeps state). */
int fo_check_def_same(const struct fo_service_def *a, const struct fo_member_def *ma,
                      const struct fo_service_def *b, const struct fo_member_def *mb);

/* ---- runtime state ---- */

#define FO_HISTORY_MAX 32
/* Latency histogram upper bounds in ms (Prometheus buckets); the last bucket is +Inf. */
#define FO_LAT_BUCKETS 12
extern const double fo_lat_bounds_ms[FO_LAT_BUCKETS - 1];

struct fo_sample {
    int64_t wall_ms;
    enum fo_status status; /* raw status of that run (after TILT mapping) */
    float latency_ms;
};

/* Hysteresis in HAProxy's terms: the confirmed status turns critical after `fall` consecutive
 * critical results and good (ok/warning) after `rise` consecutive good ones. Unknown results
 * neither confirm nor refute: they reset both streaks, and after `fall` consecutive unknowns
 * the confirmed status becomes unknown. Starts unknown. Pure: unit-tested on a fake clock. */
struct fo_hyst {
    enum fo_status status; /* confirmed */
    int good;              /* consecutive ok/warning */
    int bad;               /* consecutive critical */
    int unknown;           /* consecutive unknown */
};
/* Feeds one raw status; returns 1 when the confirmed status changed. Once good, the confirmed
 * status follows ok <-> warning at once (both are good; only the label changes). */
int fo_hyst_feed(struct fo_hyst *h, enum fo_status raw, int rise, int fall);
/* Sets the starting state (confirmed unknown, no streaks). */
void fo_hyst_init(struct fo_hyst *h);

struct fo_member_state {
    struct fo_hyst hyst;
    enum fo_status raw;                   /* last raw status */
    struct fo_result last;                /* last full result (facts) */
    int64_t last_wall_ms;                 /* wall time of the last result (0: none yet) */
    int64_t last_mono_ms;                 /* monotonic time of the last result */
    int64_t last_change_wall_ms;          /* wall time the confirmed status last changed */
    uint64_t runs;                        /* results recorded */
    uint64_t errors;                      /* plugin errors or unknown results */
    uint64_t timeouts;                    /* runs cancelled by the hard timeout */
    uint64_t overlaps_skipped;            /* ticks skipped because a run was still in flight */
    uint64_t lat_buckets[FO_LAT_BUCKETS]; /* non-cumulative counts */
    double lat_sum_ms;
    struct fo_sample history[FO_HISTORY_MAX]; /* ring: newest at (hist_head - 1) */
    int hist_head;
    int hist_len;
};

/* Starting state: everything zero, confirmed and raw status unknown. */
void fo_member_state_init(struct fo_member_state *st);
/* Copies a result without its unused fact slots (a full struct is ~4 KiB), clamping nfacts and
 * terminating the message. */
void fo_result_copy(struct fo_result *dst, const struct fo_result *src);
/* Records one result into state (history, histogram, hysteresis). Returns 1 when the confirmed
 * status changed. r may point at st->last (the scheduler fills it in place). A negative latency
 * counts as 0; a status outside the enum counts as unknown. Pure: used by the scheduler and by
 * unit tests. */
int fo_member_state_record(struct fo_member_state *st, const struct fo_check_def *def,
                           const struct fo_result *r, int64_t wall_ms, int64_t mono_ms);

/* ---- TILT (DESIGN.md rule 8) ---- */

struct fo_tilt {
    int active;
    int64_t since_mono_ms;   /* when TILT was entered */
    int64_t stable_since_ms; /* monotonic time since when no stall/jump was seen */
    int64_t last_mono_ms;    /* previous tick, monotonic */
    int64_t last_wall_ms;    /* previous tick, wall */
    int64_t tick_ms;         /* expected tick period */
    uint64_t entered;        /* times entered */
    char reason[64];
    int64_t left_mono_ms; /* when TILT was last left (0: never) */
    int64_t stable_ms;    /* the scheduler's stable period: 3 x the longest interval, >= 3 s */
};

#define FO_TILT_TICK_MS       250  /* period of the scheduler's TILT timer */
#define FO_TILT_THRESHOLD_MS  1000 /* loop lag or clock jump that enters TILT */
#define FO_TILT_STABLE_MIN_MS 3000

/* Primes t: no TILT, expected tick period tick_ms, previous tick at (mono_ms, wall_ms). */
void fo_tilt_init(struct fo_tilt *t, int64_t tick_ms, int64_t mono_ms, int64_t wall_ms);
/* Feeds one tick (pure). Enters TILT when the loop lagged more than 1 s beyond the tick period or
 * the wall clock moved more than 1 s against the monotonic clock; leaves after `stable_ms`
 * without either. Returns 1 on entering, -1 on leaving, 0 otherwise. */
int fo_tilt_tick(struct fo_tilt *t, int64_t mono_ms, int64_t wall_ms, int64_t stable_ms);
/* 1 when a run that started at run_start_mono_ms and ends now overlapped TILT (TILT is active, or
 * was left after the run started): its critical result is our hiccup, not evidence. */
int fo_tilt_covers(const struct fo_tilt *t, int64_t run_start_mono_ms);

/* ---- scheduler and plugin host ---- */

struct fo_sched;

/* A member as the scheduler holds it. Read-only for others. */
struct fo_sched_member {
    const struct fo_service_def *service;
    const struct fo_member_def *member;
    struct fo_member_state state;
};

/* Called on every recorded result (changed = confirmed status changed). */
typedef void (*fo_sched_result_fn)(const struct fo_sched_member *m, int changed, void *arg);

/* Also takes a reference on the process's shared HTTP host (http_host.h) for the plugins.
 * Returns NULL when that cannot start (error logged). */
/* The scheduler's timing rules, pure so that they are tested on a fake clock. A member's first
 * run is spread over [now, now + interval); after a run planned at base the next is planned at
 * base + interval (a fixed rate: a late tick does not push the later ones), or, after a stall of
 * more than an interval, at the next point of the same phase after now (missed runs are skipped,
 * not bunched); each planned run starts up to jitter later. rnd: any 64-bit random value. */
int64_t fo_sched_plan_first(int64_t now_ms, uint32_t interval_ms, uint64_t rnd);
int64_t fo_sched_plan_next(int64_t base_ms, uint32_t interval_ms, int64_t now_ms);
int64_t fo_sched_plan_due(int64_t base_ms, uint32_t jitter_ms, uint64_t rnd);

struct fo_sched *fo_sched_new(struct uv_loop_s *loop, const char *plugin_dir);
/* Loads plugins as needed and validates every check's params (errors name file:line:col).
 * All or nothing: on error nothing changes and err says why. Members whose check definition is
 * unchanged keep their state and history. The scheduler takes ownership of defs (array of n,
 * allocated with malloc) in every case: on error it frees them. Returns 0, -FO_ECONFIG (a
 * definition is wrong) or -FO_EBUSY (called while closing). Safe from a result callback: removed
 * instances are destroyed later, from the loop. */
int fo_sched_apply(struct fo_sched *s, struct fo_service_def *defs, int n, struct fo_err *err);
/* Validates defs (plugins load, params valid) without running anything. */
int fo_sched_validate(struct fo_sched *s, const struct fo_service_def *defs, int n,
                      struct fo_err *err);
/* Every error of the last failed apply/validate, one "FILE:LINE:COL: path: message" per line
 * (err->msg holds only the first); "" when the last one succeeded. */
const char *fo_sched_errors(const struct fo_sched *s);
void fo_sched_on_result(struct fo_sched *s, fo_sched_result_fn fn, void *arg);
/* Iteration for status, metrics and observations. */
int fo_sched_nservices(const struct fo_sched *s);
const struct fo_service_def *fo_sched_service(const struct fo_sched *s, int i);
int fo_sched_nmembers(const struct fo_sched *s, int service);
const struct fo_sched_member *fo_sched_member(const struct fo_sched *s, int service, int member);
const struct fo_tilt *fo_sched_tilt(const struct fo_sched *s);
/* Changes on every apply that succeeds: a reader that walks the members over several loop turns
 * (a streamed /metrics) checks it to know its indices still mean the same members. */
uint64_t fo_sched_generation(const struct fo_sched *s);
/* Stops every timer and run and frees everything once the loop has closed the handles. */
void fo_sched_close(struct fo_sched *s);

const char *fo_status_name(enum fo_status s);
int fo_status_parse(const char *s, enum fo_status *out);

#endif
