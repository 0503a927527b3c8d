/* The postgres check's pure part: one probe query for primaries and standbys alike, and the
 * mapping of its row (libpq text values) to typed facts and a status. See postgres_parse.h. */
#include "postgres_parse.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* One statement, one row, one round trip. `s` is evaluated once so that a promotion during the
 * query cannot mix the two shapes; functions that fail on the other role sit behind CASE (they
 * are volatile, so PostgreSQL evaluates only the branch taken). Works for a member of
 * pg_monitor; without it pg_stat_* hide their columns, which the HIDDEN/WR_PID columns reveal. */
const char fo_pg_probe_sql[] =
    "WITH s AS (SELECT pg_is_in_recovery() AS rec),"
    " w AS (SELECT pid, status, received_tli, sender_host, sender_port, last_msg_receipt_time"
    "  FROM pg_stat_wal_receiver),"
    " r AS (SELECT count(*) FILTER (WHERE state = 'streaming') AS streaming,"
    "  count(*) FILTER (WHERE state = 'streaming' AND sync_state IN ('sync', 'quorum')) AS sync,"
    "  count(*) FILTER (WHERE state IS NULL) AS hidden"
    "  FROM pg_stat_replication)"
    " SELECT s.rec,"
    " CASE WHEN NOT s.rec THEN pg_current_wal_lsn() END,"
    " CASE WHEN NOT s.rec THEN pg_walfile_name(pg_current_wal_lsn()) END,"
    " CASE WHEN s.rec THEN pg_last_wal_receive_lsn() END,"
    " CASE WHEN s.rec THEN pg_last_wal_replay_lsn() END,"
    " CASE WHEN s.rec THEN"
    "  pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::bigint END,"
    " CASE WHEN s.rec THEN"
    "  extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 END,"
    " w.pid, w.status, w.received_tli, w.sender_host, w.sender_port,"
    " extract(epoch FROM now() - w.last_msg_receipt_time)::float8,"
    " (SELECT timeline_id FROM pg_control_checkpoint()),"
    " r.streaming, r.sync, r.hidden,"
    " current_setting('synchronous_standby_names')"
    " FROM s CROSS JOIN r LEFT JOIN w ON true";

static const char *const col_names[FO_PG_NCOLS] = {
    [FO_PG_COL_IN_RECOVERY] = "in_recovery",
    [FO_PG_COL_CURRENT_LSN] = "current_lsn",
    [FO_PG_COL_WALFILE] = "walfile",
    [FO_PG_COL_RECEIVE_LSN] = "receive_lsn",
    [FO_PG_COL_REPLAY_LSN] = "replay_lsn",
    [FO_PG_COL_REPLAY_LAG] = "replay_lag",
    [FO_PG_COL_REPLAY_DELAY] = "replay_delay",
    [FO_PG_COL_WR_PID] = "wal_receiver.pid",
    [FO_PG_COL_WR_STATUS] = "wal_receiver.status",
    [FO_PG_COL_WR_TLI] = "received_tli",
    [FO_PG_COL_WR_HOST] = "sender_host",
    [FO_PG_COL_WR_PORT] = "sender_port",
    [FO_PG_COL_WR_MSG_AGE] = "last_msg_age",
    [FO_PG_COL_CHECKPOINT_TLI] = "checkpoint_tli",
    [FO_PG_COL_STREAMING] = "streaming",
    [FO_PG_COL_SYNC] = "sync",
    [FO_PG_COL_HIDDEN] = "hidden",
    [FO_PG_COL_SYNC_NAMES] = "sync_standby_names",
};

static int hex_part(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    if (len == 0 || len > 8)
        return -1;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        int d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return -1;
        v = v << 4 | (uint64_t)d;
    }
    *out = v;
    return 0;
}

int fo_pg_lsn_parse(const char *s, int64_t *out)
{
    uint64_t hi, lo;
    const char *slash = s ? strchr(s, '/') : NULL;
    if (!slash || hex_part(s, (size_t)(slash - s), &hi) < 0 ||
        hex_part(slash + 1, strlen(slash + 1), &lo) < 0)
        return -1;
    if (hi > INT32_MAX) /* beyond int64 facts; no real server gets there */
        return -1;
    *out = (int64_t)(hi << 32 | lo);
    return 0;
}

void fo_pg_lsn_format(int64_t lsn, char *buf, size_t n)
{
    snprintf(buf, n, "%X/%X", (unsigned)((uint64_t)lsn >> 32), (unsigned)((uint64_t)lsn));
}

static int parse_i64(const char *s, int64_t *out)
{
    char *end;
    if (!s || !*s)
        return -1;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

static int parse_double(const char *s, double *out)
{
    char *end;
    if (!s || !*s)
        return -1;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

/* A WAL file name is TTTTTTTTXXXXXXXXYYYYYYYY (hex): timeline, then segment. */
static int walfile_tli(const char *s, int64_t *out)
{
    uint64_t tli, rest;
    if (!s || strlen(s) != 24 || hex_part(s, 8, &tli) < 0 || hex_part(s + 8, 8, &rest) < 0 ||
        hex_part(s + 16, 8, &rest) < 0 || tli == 0)
        return -1;
    *out = (int64_t)tli;
    return 0;
}

/* Parsing state: the first malformed column wins the message. */
struct fill {
    struct fo_result *r;
    const char *const *vals;
    const char *bad; /* column name of the first malformed value */
    char warn[FO_MESSAGE_MAX];
};

static void add_warning(struct fill *f, const char *text)
{
    size_t len = strlen(f->warn);
    /* Truncation is acceptable here; the explicit check keeps -Wformat-truncation quiet. */
    if (snprintf(f->warn + len, sizeof(f->warn) - len, "%s%s", len ? "; " : "", text) < 0)
        f->warn[len] = '\0';
}

/* Optional columns: 1 when set, 0 when NULL, -1 (and f->bad) when malformed. */
static int col_i64(struct fill *f, enum fo_pg_col c, int64_t *out)
{
    if (!f->vals[c])
        return 0;
    if (parse_i64(f->vals[c], out) == 0)
        return 1;
    if (!f->bad)
        f->bad = col_names[c];
    return -1;
}

static int col_double(struct fill *f, enum fo_pg_col c, double *out)
{
    if (!f->vals[c])
        return 0;
    if (parse_double(f->vals[c], out) == 0)
        return 1;
    if (!f->bad)
        f->bad = col_names[c];
    return -1;
}

static int col_lsn(struct fill *f, enum fo_pg_col c, int64_t *out)
{
    if (!f->vals[c])
        return 0;
    if (fo_pg_lsn_parse(f->vals[c], out) == 0)
        return 1;
    if (!f->bad)
        f->bad = col_names[c];
    return -1;
}

static void fact_lsn(struct fo_result *r, const char *name, int64_t lsn)
{
    char key[FO_FACT_NAME_MAX], text[24];
    fo_result_int(r, name, lsn);
    snprintf(key, sizeof(key), "%s_str", name);
    fo_pg_lsn_format(lsn, text, sizeof(text));
    fo_result_str(r, key, text);
}

static void fill_primary(struct fill *f, char *summary, size_t n)
{
    struct fo_result *r = f->r;
    int64_t lsn = 0, tli = 0;
    char text[24];
    if (col_lsn(f, FO_PG_COL_CURRENT_LSN, &lsn) != 1) {
        f->bad = f->bad ? f->bad : col_names[FO_PG_COL_CURRENT_LSN];
        return;
    }
    if (walfile_tli(f->vals[FO_PG_COL_WALFILE], &tli) < 0) {
        f->bad = f->bad ? f->bad : col_names[FO_PG_COL_WALFILE];
        return;
    }
    fo_result_int(r, "timeline", tli);
    fo_result_str(r, "timeline_source", "wal_insert");
    fact_lsn(r, "current_lsn", lsn);
    fo_pg_lsn_format(lsn, text, sizeof(text));
    snprintf(summary, n, "primary, timeline %" PRId64 ", lsn %s", tli, text);
}

static void fill_standby(struct fill *f, const struct fo_pg_limits *lim, char *summary, size_t n)
{
    struct fo_result *r = f->r;
    int64_t recv = 0, replay = 0, lag = 0, tli = 0, pid = 0, port = 0;
    double delay = 0, age = 0;
    int has_recv = col_lsn(f, FO_PG_COL_RECEIVE_LSN, &recv) == 1;
    int has_replay = col_lsn(f, FO_PG_COL_REPLAY_LSN, &replay) == 1;
    int has_lag = col_i64(f, FO_PG_COL_REPLAY_LAG, &lag) == 1;
    int has_delay = col_double(f, FO_PG_COL_REPLAY_DELAY, &delay) == 1;
    int has_pid = col_i64(f, FO_PG_COL_WR_PID, &pid) == 1;
    int has_tli = col_i64(f, FO_PG_COL_WR_TLI, &tli) == 1;
    int has_port = col_i64(f, FO_PG_COL_WR_PORT, &port) == 1;
    int has_age = col_double(f, FO_PG_COL_WR_MSG_AGE, &age) == 1;
    const char *wr = f->vals[FO_PG_COL_WR_STATUS];
    const char *tli_source = "wal_receiver";
    char text[FO_MESSAGE_MAX];
    if (f->bad)
        return;

    if (!has_pid)
        wr = "stopped"; /* no WAL receiver process: not connected to any upstream */
    else if (!wr)
        wr = "hidden";
    if (!has_tli || !has_pid) {
        /* No receiver: the last restartpoint's timeline is the best the SQL level offers. */
        if (col_i64(f, FO_PG_COL_CHECKPOINT_TLI, &tli) != 1) {
            f->bad = f->bad ? f->bad : col_names[FO_PG_COL_CHECKPOINT_TLI];
            return;
        }
        tli_source = "checkpoint";
    }
    fo_result_int(r, "timeline", tli);
    fo_result_str(r, "timeline_source", tli_source);
    if (has_recv)
        fact_lsn(r, "receive_lsn", recv);
    if (has_replay)
        fact_lsn(r, "replay_lsn", replay);
    if (has_lag) {
        /* Negative after a restart that replayed local WAL past the last received position. */
        lag = lag < 0 ? 0 : lag;
        fo_result_int(r, "replay_lag_bytes", lag);
    }
    if (lim->primary_lsn >= 0 && (has_recv || has_replay)) {
        int64_t pos = has_recv && recv > replay ? recv : replay;
        int64_t behind = lim->primary_lsn > pos ? lim->primary_lsn - pos : 0;
        fo_result_int(r, "receive_lag_bytes", behind);
        if (lim->max_lag >= 0 && behind > lim->max_lag) {
            snprintf(text, sizeof(text), "%" PRId64 " bytes behind the primary > max_lag %" PRId64,
                     behind, lim->max_lag);
            add_warning(f, text);
        }
    }
    if (has_delay)
        fo_result_double(r, "replay_delay_s", delay);
    fo_result_str(r, "wal_receiver_status", wr);
    if (f->vals[FO_PG_COL_WR_HOST]) {
        char sender[FO_FACT_STR_MAX];
        if (snprintf(sender, sizeof(sender), "%s:%" PRId64, f->vals[FO_PG_COL_WR_HOST],
                     has_port ? port : (int64_t)0) >= 0)
            fo_result_str(r, "wal_receiver_sender", sender);
    }
    if (has_age)
        fo_result_double(r, "wal_receiver_last_msg_age_s", age);

    if (strcmp(wr, "hidden") == 0) {
        add_warning(f, "pg_stat_wal_receiver is hidden: grant pg_monitor to the check user");
    } else if (strcmp(wr, "streaming") != 0) {
        snprintf(text, sizeof(text), "WAL receiver %s", wr);
        add_warning(f, text);
    }
    if (has_lag && lim->max_lag >= 0 && lag > lim->max_lag) {
        snprintf(text, sizeof(text), "replay lag %" PRId64 " bytes > max_lag %" PRId64, lag,
                 lim->max_lag);
        add_warning(f, text);
    }
    /* The last replayed commit ages while the primary is idle: only a delay with WAL still
     * waiting to be replayed means replay is behind. */
    if (has_delay && lim->max_replay_delay_s >= 0 && delay > lim->max_replay_delay_s && has_lag &&
        lag > 0) {
        snprintf(text, sizeof(text), "replay delay %.1fs > max_replay_delay %.1fs", delay,
                 lim->max_replay_delay_s);
        add_warning(f, text);
    }
    snprintf(summary, n, "standby, timeline %" PRId64 ", receiver %s", tli, wr);
    if (has_replay) {
        char lsn[24];
        size_t len = strlen(summary);
        fo_pg_lsn_format(replay, lsn, sizeof(lsn));
        snprintf(summary + len, n - len, ", replayed %s", lsn);
    }
}

enum fo_status fo_pg_result_fill(struct fo_result *r, const char *const vals[FO_PG_NCOLS],
                                 const struct fo_pg_limits *lim)
{
    struct fill f = {.r = r, .vals = vals};
    const char *rec = vals[FO_PG_COL_IN_RECOVERY];
    const char *names = vals[FO_PG_COL_SYNC_NAMES];
    int64_t streaming = 0, sync = 0, hidden = 0;
    char summary[FO_MESSAGE_MAX] = "";
    int standby;

    r->nfacts = 0;
    if (!rec || (strcmp(rec, "t") != 0 && strcmp(rec, "f") != 0)) {
        f.bad = col_names[FO_PG_COL_IN_RECOVERY];
        goto bad;
    }
    standby = rec[0] == 't';
    if (col_i64(&f, FO_PG_COL_STREAMING, &streaming) != 1 ||
        col_i64(&f, FO_PG_COL_SYNC, &sync) != 1 || col_i64(&f, FO_PG_COL_HIDDEN, &hidden) != 1 ||
        !names) {
        f.bad = f.bad ? f.bad : names ? "replication counts" : col_names[FO_PG_COL_SYNC_NAMES];
        goto bad;
    }

    fo_result_str(r, "role", standby ? "standby" : "primary");
    fo_result_bool(r, "in_recovery", standby);
    if (standby)
        fill_standby(&f, lim, summary, sizeof(summary));
    else
        fill_primary(&f, summary, sizeof(summary));
    if (f.bad)
        goto bad;
    fo_result_int(r, "streaming_replicas", streaming);
    fo_result_int(r, "sync_replicas", sync);
    fo_result_str(r, "sync_standby_names", names);
    if (strlen(names) >= FO_FACT_STR_MAX)
        fo_result_bool(r, "sync_standby_names_truncated", 1);
    if (hidden > 0)
        add_warning(&f, "pg_stat_replication is hidden: grant pg_monitor to the check user");
    if (!standby) {
        size_t len = strlen(summary);
        snprintf(summary + len, sizeof(summary) - len, ", %" PRId64 " streaming standby(s)",
                 streaming);
    }

    if (lim->expect_role != FO_PG_ROLE_ANY &&
        (lim->expect_role == FO_PG_ROLE_STANDBY) != (standby != 0)) {
        fo_result_set(r, FO_STATUS_CRITICAL, "role %s, expected %s (%s)",
                      standby ? "standby" : "primary", standby ? "primary" : "standby", summary);
        return r->status;
    }
    if (f.warn[0])
        fo_result_set(r, FO_STATUS_WARNING, "%s: %s", summary, f.warn);
    else
        fo_result_set(r, FO_STATUS_OK, "%s", summary);
    return r->status;

bad:
    r->nfacts = 0;
    fo_result_set(r, FO_STATUS_UNKNOWN, "unexpected probe result: malformed %s", f.bad);
    return r->status;
}
