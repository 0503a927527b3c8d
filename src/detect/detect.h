/* The leader's observation matrix (member x observing agent, with age) and the verdict rules of
 * DESIGN.md "Detection". Pure: times are monotonic milliseconds on the leader, passed in. */
#ifndef FO_DETECT_DETECT_H
#define FO_DETECT_DETECT_H

#include <failoverd/plugin.h>
#include <stdint.h>

struct json_object;

#define FO_DETECT_AGENTS_MAX 9
#define FO_DETECT_ID_MAX     64
#define FO_DETECT_HASH_MAX   65

/* What one agent reports about one member (soft state, never in the Raft log). */
struct fo_detect_obs {
    enum fo_status status; /* the observer's confirmed status (after its own fall) */
    int streak;            /* consecutive results with that status at the observer */
    int tilt;              /* observer was in TILT */
    uint64_t epoch;        /* the service epoch the observer had applied */
    char config_hash[FO_DETECT_HASH_MAX];
    int64_t age_ms; /* age of the result when it was sent (observer's monotonic delta) */
    /* replica view of the member's primary (rule 3), from this member's own facts */
    char role[16];  /* "primary", "standby", "replica" or "" */
    int link_known; /* 1 when link_up is meaningful */
    int link_up;    /* Redis master_link_status up / PG wal receiver streaming & fresh */
};

enum fo_verdict_kind {
    FO_VERDICT_UP = 0,                /* no quorum of fresh critical reports */
    FO_VERDICT_DOWN,                  /* objectively down */
    FO_VERDICT_ZONE_ISOLATED,         /* quorum down, but the member's own zone did not report */
    FO_VERDICT_OBSERVERS_PARTITIONED, /* quorum down, but its replicas still stream from it */
    FO_VERDICT_VETOED,                /* quorum down, but its own zone has a fresh ok */
};

struct fo_verdict {
    enum fo_verdict_kind kind;
    int critical; /* fresh, counted critical reports (distinct zones) */
    int needed;   /* quorum */
    int fresh;    /* fresh reports of any status */
    char reason[160];
};

struct fo_detect;

/* quorum: zones that must agree (>= floor(N/2)+1 of the voters); stale_after_ms: reports older
 * than this never count; hash: the adopted config hash (reports with another hash don't count). */
struct fo_detect *fo_detect_new(int quorum, int64_t stale_after_ms, const char *config_hash);
void fo_detect_free(struct fo_detect *d);
void fo_detect_configure(struct fo_detect *d, int quorum, int64_t stale_after_ms,
                         const char *config_hash);
/* At most max_rows (service, member) rows (0: no limit); reports that would add another are
 * refused with -FO_ENOSPC, so that a peer naming members nobody configured cannot grow the
 * leader's memory. Rows already there stay. */
void fo_detect_limit(struct fo_detect *d, size_t max_rows);
/* Declares an observing agent and its zone (voters). Returns its slot or a negative error. */
int fo_detect_agent(struct fo_detect *d, const char *agent_id, const char *zone);
/* Stores a report received at now_ms (leader monotonic). Unknown agents are ignored (-FO_ENOENT);
 * a new row past the limit is refused (-FO_ENOSPC). */
int fo_detect_report(struct fo_detect *d, const char *agent_id, const char *service,
                     const char *member, const struct fo_detect_obs *obs, int64_t now_ms);
/* Judges member (of service, in zone member_zone) at epoch with `fall` consecutive checks.
 * kind is the service kind ("postgres", "redis" enable rule 3). */
struct fo_verdict fo_detect_judge(const struct fo_detect *d, const char *service, const char *kind,
                                  const char *member, const char *member_zone, uint64_t epoch,
                                  int fall, int64_t now_ms);
const char *fo_verdict_name(enum fo_verdict_kind k);
/* The matrix of one member: {agent: {zone, status, age_ms, fresh, counted, tilt, epoch}}. */
struct json_object *fo_detect_member_json(const struct fo_detect *d, const char *service,
                                          const char *member, int64_t now_ms);
/* Forgets every report (a new leader starts from nothing it has not heard itself). */
void fo_detect_clear(struct fo_detect *d);

#endif
