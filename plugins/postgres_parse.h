/* The postgres check plugin's pure part: the probe query, LSN text <-> bytes, and the mapping of
 * the probe row (libpq text values) to a typed fo_result. No I/O, so unit tests call it with
 * plain strings. Linked into plugins/postgres.la (hidden there) and into its unit test. */
#ifndef FO_PLUGINS_POSTGRES_PARSE_H
#define FO_PLUGINS_POSTGRES_PARSE_H

#include <failoverd/plugin.h>
#include <stddef.h>
#include <stdint.h>

/* Columns of the probe query's single row, in order. */
enum fo_pg_col {
    FO_PG_COL_IN_RECOVERY,    /* bool "t"/"f" */
    FO_PG_COL_CURRENT_LSN,    /* primary: pg_current_wal_lsn() */
    FO_PG_COL_WALFILE,        /* primary: pg_walfile_name(current): its first 8 hex are the TLI */
    FO_PG_COL_RECEIVE_LSN,    /* standby: pg_last_wal_receive_lsn() */
    FO_PG_COL_REPLAY_LSN,     /* standby: pg_last_wal_replay_lsn() */
    FO_PG_COL_REPLAY_LAG,     /* standby: pg_wal_lsn_diff(receive, replay) bytes */
    FO_PG_COL_REPLAY_DELAY,   /* standby: seconds since the last replayed commit's timestamp */
    FO_PG_COL_WR_PID,         /* pg_stat_wal_receiver.pid (NULL: no receiver running) */
    FO_PG_COL_WR_STATUS,      /* .status (NULL with a pid: hidden, the user lacks pg_monitor) */
    FO_PG_COL_WR_TLI,         /* pg_stat_wal_receiver.received_tli */
    FO_PG_COL_WR_HOST,        /* pg_stat_wal_receiver.sender_host */
    FO_PG_COL_WR_PORT,        /* pg_stat_wal_receiver.sender_port */
    FO_PG_COL_WR_MSG_AGE,     /* seconds since pg_stat_wal_receiver.last_msg_receipt_time */
    FO_PG_COL_CHECKPOINT_TLI, /* pg_control_checkpoint().timeline_id */
    FO_PG_COL_STREAMING,      /* pg_stat_replication rows in state streaming */
    FO_PG_COL_SYNC,           /* ... of which sync_state is sync or quorum */
    FO_PG_COL_HIDDEN,         /* pg_stat_replication rows hidden from us (no pg_monitor) */
    FO_PG_COL_SYNC_NAMES,     /* current_setting('synchronous_standby_names') */
    FO_PG_NCOLS
};

/* The one round-trip probe; its columns are enum fo_pg_col. */
extern const char fo_pg_probe_sql[];

enum fo_pg_role { FO_PG_ROLE_ANY = 0, FO_PG_ROLE_PRIMARY = 1, FO_PG_ROLE_STANDBY = 2 };

struct fo_pg_limits {
    int64_t max_lag;           /* bytes; < 0: no limit */
    double max_replay_delay_s; /* < 0: no limit */
    enum fo_pg_role expect_role;
    int64_t primary_lsn; /* best current_lsn known from the service's primary; < 0: none */
};

/* "16/B374D848" -> 0x16B374D848. Returns 0, or -1 when s is not an LSN. */
int fo_pg_lsn_parse(const char *s, int64_t *out);
/* The inverse, in PostgreSQL's own form ("0/3000060"). */
void fo_pg_lsn_format(int64_t lsn, char *buf, size_t n);

/* Fills r (status, message, facts) from the probe row; vals[i] is NULL for SQL NULL.
 * Malformed values make the result unknown: that is our bug or a server we do not understand,
 * never evidence against the member. Returns r->status. */
enum fo_status fo_pg_result_fill(struct fo_result *r, const char *const vals[FO_PG_NCOLS],
                                 const struct fo_pg_limits *lim);

#endif
