/* Unit tests of the postgres check plugin: LSN parsing, the probe row -> facts/status mapping,
 * params validation in init, and the async run on loopback only (refused, silent server ->
 * timeout, cancel), which must leave no libuv handle behind. No PostgreSQL server needed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "../../plugins/postgres_parse.h"
#include "core/cfgfield.h"

extern const struct fo_plugin fo_plugin_entry;

/* ---- LSN ---- */

static void test_lsn_parse(void **state)
{
    int64_t v = -1;
    assert_int_equal(fo_pg_lsn_parse("16/B374D848", &v), 0);
    assert_int_equal(v, 0x16B374D848LL);
    assert_int_equal(fo_pg_lsn_parse("0/0", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(fo_pg_lsn_parse("0/3000060", &v), 0);
    assert_int_equal(v, 0x3000060);
    assert_int_equal(fo_pg_lsn_parse("7FFFFFFF/FFFFFFFF", &v), 0);
    assert_int_equal(v, INT64_MAX);
    assert_int_equal(fo_pg_lsn_parse("a/b", &v), 0);
    assert_int_equal(v, 0xA0000000BLL);

    const char *bad[] = {"",      "16",          "16/",         "/1",   "G/1",
                         "1/2/3", "123456789/0", "0/123456789", " 0/1", "0/1 ",
                         "-1/0",  "80000000/0",  "0x1/0",       "1/+2"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        v = 42;
        assert_int_equal(fo_pg_lsn_parse(bad[i], &v), -1);
        assert_int_equal(v, 42);
    }
    assert_int_equal(fo_pg_lsn_parse(NULL, &v), -1);
}

static void test_lsn_format(void **state)
{
    char buf[24];
    int64_t back;
    fo_pg_lsn_format(0x16B374D848LL, buf, sizeof(buf));
    assert_string_equal(buf, "16/B374D848");
    fo_pg_lsn_format(0x3000060, buf, sizeof(buf));
    assert_string_equal(buf, "0/3000060");
    assert_int_equal(fo_pg_lsn_parse(buf, &back), 0);
    assert_int_equal(back, 0x3000060);
}

/* ---- probe row mapping ---- */

static void primary_row(const char *vals[FO_PG_NCOLS])
{
    memset(vals, 0, sizeof(const char *) * FO_PG_NCOLS);
    vals[FO_PG_COL_IN_RECOVERY] = "f";
    vals[FO_PG_COL_CURRENT_LSN] = "16/B374D848";
    vals[FO_PG_COL_WALFILE] = "0000000200000016000000B3";
    vals[FO_PG_COL_CHECKPOINT_TLI] = "1"; /* stale after a promotion: must not be used */
    vals[FO_PG_COL_STREAMING] = "2";
    vals[FO_PG_COL_SYNC] = "1";
    vals[FO_PG_COL_HIDDEN] = "0";
    vals[FO_PG_COL_SYNC_NAMES] = "FIRST 1 (s1, s2)";
}

static void standby_row(const char *vals[FO_PG_NCOLS])
{
    memset(vals, 0, sizeof(const char *) * FO_PG_NCOLS);
    vals[FO_PG_COL_IN_RECOVERY] = "t";
    vals[FO_PG_COL_RECEIVE_LSN] = "0/3000148";
    vals[FO_PG_COL_REPLAY_LSN] = "0/3000060";
    vals[FO_PG_COL_REPLAY_LAG] = "232";
    vals[FO_PG_COL_REPLAY_DELAY] = "1.5";
    vals[FO_PG_COL_WR_PID] = "4242";
    vals[FO_PG_COL_WR_STATUS] = "streaming";
    vals[FO_PG_COL_WR_TLI] = "3";
    vals[FO_PG_COL_WR_HOST] = "10.0.0.5";
    vals[FO_PG_COL_WR_PORT] = "5432";
    vals[FO_PG_COL_WR_MSG_AGE] = "0.25";
    vals[FO_PG_COL_CHECKPOINT_TLI] = "2";
    vals[FO_PG_COL_STREAMING] = "0";
    vals[FO_PG_COL_SYNC] = "0";
    vals[FO_PG_COL_HIDDEN] = "0";
    vals[FO_PG_COL_SYNC_NAMES] = "";
}

static struct fo_pg_limits no_limits(void)
{
    struct fo_pg_limits lim = {
        .max_lag = -1, .max_replay_delay_s = -1, .expect_role = FO_PG_ROLE_ANY, .primary_lsn = -1};
    return lim;
}

static const struct fo_fact *fact(const struct fo_result *r, const char *name,
                                  enum fo_fact_type type)
{
    const struct fo_fact *f = fo_result_get(r, name);
    if (!f)
        fail_msg("fact %s missing", name);
    assert_int_equal(f->type, type);
    return f;
}

static void test_primary_facts(void **state)
{
    const char *vals[FO_PG_NCOLS];
    struct fo_pg_limits lim = no_limits();
    struct fo_result r = {0};
    primary_row(vals);
    assert_int_equal(fo_pg_result_fill(&r, vals, &lim), FO_STATUS_OK);
    assert_string_equal(fact(&r, "role", FO_FACT_STR)->s, "primary");
    assert_int_equal(fact(&r, "in_recovery", FO_FACT_BOOL)->i, 0);
    assert_int_equal(fact(&r, "timeline", FO_FACT_INT)->i, 2); /* from the WAL file name */
    assert_string_equal(fact(&r, "timeline_source", FO_FACT_STR)->s, "wal_insert");
    assert_int_equal(fact(&r, "current_lsn", FO_FACT_INT)->i, 0x16B374D848LL);
    assert_string_equal(fact(&r, "current_lsn_str", FO_FACT_STR)->s, "16/B374D848");
    assert_int_equal(fact(&r, "streaming_replicas", FO_FACT_INT)->i, 2);
    assert_int_equal(fact(&r, "sync_replicas", FO_FACT_INT)->i, 1);
    assert_string_equal(fact(&r, "sync_standby_names", FO_FACT_STR)->s, "FIRST 1 (s1, s2)");
    assert_null(fo_result_get(&r, "receive_lsn"));
    assert_null(fo_result_get(&r, "replay_lag_bytes"));
    assert_null(fo_result_get(&r, "wal_receiver_status"));
    assert_non_null(strstr(r.message, "primary"));
    assert_non_null(strstr(r.message, "16/B374D848"));
}

static void test_standby_facts(void **state)
{
    const char *vals[FO_PG_NCOLS];
    struct fo_pg_limits lim = no_limits();
    struct fo_result r = {0};
    standby_row(vals);
    lim.primary_lsn = 0x3000200;
    assert_int_equal(fo_pg_result_fill(&r, vals, &lim), FO_STATUS_OK);
    assert_string_equal(fact(&r, "role", FO_FACT_STR)->s, "standby");
    assert_int_equal(fact(&r, "in_recovery", FO_FACT_BOOL)->i, 1);
    assert_int_equal(fact(&r, "timeline", FO_FACT_INT)->i, 3); /* the receiver's, not 2 */
    assert_string_equal(fact(&r, "timeline_source", FO_FACT_STR)->s, "wal_receiver");
    assert_int_equal(fact(&r, "receive_lsn", FO_FACT_INT)->i, 0x3000148);
    assert_string_equal(fact(&r, "receive_lsn_str", FO_FACT_STR)->s, "0/3000148");
    assert_int_equal(fact(&r, "replay_lsn", FO_FACT_INT)->i, 0x3000060);
    assert_string_equal(fact(&r, "replay_lsn_str", FO_FACT_STR)->s, "0/3000060");
    assert_int_equal(fact(&r, "replay_lag_bytes", FO_FACT_INT)->i, 232);
    assert_int_equal(fact(&r, "receive_lag_bytes", FO_FACT_INT)->i, 0x3000200 - 0x3000148);
    assert_true(fact(&r, "replay_delay_s", FO_FACT_DOUBLE)->d == 1.5);
    assert_string_equal(fact(&r, "wal_receiver_status", FO_FACT_STR)->s, "streaming");
    assert_string_equal(fact(&r, "wal_receiver_sender", FO_FACT_STR)->s, "10.0.0.5:5432");
    assert_true(fact(&r, "wal_receiver_last_msg_age_s", FO_FACT_DOUBLE)->d == 0.25);
    assert_null(fo_result_get(&r, "current_lsn"));
    assert_non_null(strstr(r.message, "standby"));

    /* Without a known primary position there is no lag-behind-primary fact. */
    lim.primary_lsn = -1;
    fo_pg_result_fill(&r, vals, &lim);
    assert_null(fo_result_get(&r, "receive_lag_bytes"));
}

static void test_standby_lag_warning(void **state)
{
    const char *vals[FO_PG_NCOLS];
    struct fo_pg_limits lim = no_limits();
    struct fo_result r = {0};
    standby_row(vals);
    lim.max_lag = 232; /* at the limit is fine */
    assert_int_equal(fo_pg_result_fill(&r, vals, &lim), FO_STATUS_OK);
    lim.max_lag = 231;
    assert_int_equal(fo_pg_result_fill(&r, vals, &lim), FO_STATUS_WARNING);
    assert_non_null(strstr(r.message, "replay lag 232 bytes > max_lag 231"));
    assert_int_equal(fact(&r, "replay_lag_bytes", FO_FACT_INT)->i, 232); /* facts kept */

    /* Behind the primary by more than max_lag, even with replay caught up. */
    vals[FO_PG_COL_REPLAY_LAG] = "0";
    lim.max_lag = 1024;
    lim.primary_lsn = 0x3000148 + 1025;
    assert_int_equal(fo_pg_result_fill(&r, vals, &lim), FO_STATUS_WARNING);
    assert_non_null(strstr(r.message, "1025 bytes behind the primary"));
    lim.primary_lsn = 0x3000148 + 1024;
    assert_int_equal(fo_pg_result_fill(&r, vals, &lim), FO_STATUS_OK);
}

static void test_standby_replay_delay(void **state)
{
    const char *vals[FO_PG_NCOLS];
    struct fo_pg_limits lim = no_limits();
    struct fo_result r = {0};
    standby_row(vals);
    vals[FO_PG_COL_REPLAY_DELAY] = "120.0";
    lim.max_replay_delay_s = 60;
    assert_int_equal(fo_pg_result_fill(&r, vals, &lim), FO_STATUS_WARNING);
    assert_non_null(strstr(r.message, "replay delay"));
    /* An idle primary ages the last commit: caught up (no lag) is not a delay. */
    vals[FO_PG_COL_REPLAY_LAG] = "0";
    assert_int_equal(fo_pg_result_fill(&r, vals, &lim), FO_STATUS_OK);
    /* Never replayed a commit: NULL delay, no fact, no warning. */
    vals[FO_PG_COL_REPLAY_DELAY] = NULL;
    vals[FO_PG_COL_REPLAY_LAG] = "232";
    assert_int_equal(fo_pg_result_fill(&r, vals, &lim), FO_STATUS_OK);
    assert_null(fo_result_get(&r, "replay_delay_s"));
}

static void test_standby_receiver_down(void **state)
{
    const char *vals[FO_PG_NCOLS];
    struct fo_pg_limits lim = no_limits();
    struct fo_result r = {0};
    standby_row(vals);
    vals[FO_PG_COL_WR_PID] = NULL;
    vals[FO_PG_COL_WR_STATUS] = NULL;
    vals[FO_PG_COL_WR_TLI] = NULL;
    vals[FO_PG_COL_WR_HOST] = NULL;
    vals[FO_PG_COL_WR_PORT] = NULL;
    vals[FO_PG_COL_WR_MSG_AGE] = NULL;
    assert_int_equal(fo_pg_result_fill(&r, vals, &lim), FO_STATUS_WARNING);
    assert_string_equal(fact(&r, "wal_receiver_status", FO_FACT_STR)->s, "stopped");
    assert_int_equal(fact(&r, "timeline", FO_FACT_INT)->i, 2);
    assert_string_equal(fact(&r, "timeline_source", FO_FACT_STR)->s, "checkpoint");
    assert_int_equal(fact(&r, "receive_lsn", FO_FACT_INT)->i, 0x3000148); /* still known */
    assert_null(fo_result_get(&r, "wal_receiver_sender"));
    assert_null(fo_result_get(&r, "wal_receiver_last_msg_age_s"));
    assert_non_null(strstr(r.message, "WAL receiver stopped"));

    standby_row(vals);
    vals[FO_PG_COL_WR_STATUS] = "waiting";
    assert_int_equal(fo_pg_result_fill(&r, vals, &lim), FO_STATUS_WARNING);
    assert_string_equal(fact(&r, "wal_receiver_status", FO_FACT_STR)->s, "waiting");
}

static void test_hidden_stats(void **state)
{
    const char *vals[FO_PG_NCOLS];
    struct fo_pg_limits lim = no_limits();
    struct fo_result r = {0};
    standby_row(vals);
    vals[FO_PG_COL_WR_STATUS] = NULL; /* pid visible, the rest hidden: no pg_monitor */
    vals[FO_PG_COL_WR_TLI] = NULL;
    vals[FO_PG_COL_WR_HOST] = NULL;
    assert_int_equal(fo_pg_result_fill(&r, vals, &lim), FO_STATUS_WARNING);
    assert_string_equal(fact(&r, "wal_receiver_status", FO_FACT_STR)->s, "hidden");
    assert_non_null(strstr(r.message, "pg_monitor"));

    primary_row(vals);
    vals[FO_PG_COL_HIDDEN] = "1";
    assert_int_equal(fo_pg_result_fill(&r, vals, &lim), FO_STATUS_WARNING);
    assert_non_null(strstr(r.message, "pg_monitor"));
}

static void test_expect_role(void **state)
{
    const char *vals[FO_PG_NCOLS];
    struct fo_pg_limits lim = no_limits();
    struct fo_result r = {0};
    primary_row(vals);
    lim.expect_role = FO_PG_ROLE_PRIMARY;
    assert_int_equal(fo_pg_result_fill(&r, vals, &lim), FO_STATUS_OK);
    lim.expect_role = FO_PG_ROLE_STANDBY;
    assert_int_equal(fo_pg_result_fill(&r, vals, &lim), FO_STATUS_CRITICAL);
    assert_non_null(strstr(r.message, "role primary, expected standby"));
    assert_string_equal(fact(&r, "role", FO_FACT_STR)->s, "primary"); /* facts still there */
    standby_row(vals);
    assert_int_equal(fo_pg_result_fill(&r, vals, &lim), FO_STATUS_OK);
    lim.expect_role = FO_PG_ROLE_PRIMARY;
    assert_int_equal(fo_pg_result_fill(&r, vals, &lim), FO_STATUS_CRITICAL);
}

static void expect_unknown(const char *vals[FO_PG_NCOLS], const char *what)
{
    struct fo_pg_limits lim = no_limits();
    struct fo_result r = {0};
    assert_int_equal(fo_pg_result_fill(&r, vals, &lim), FO_STATUS_UNKNOWN);
    assert_int_equal(r.nfacts, 0);
    if (!strstr(r.message, what))
        fail_msg("message '%s' does not name '%s'", r.message, what);
}

static void test_malformed_unknown(void **state)
{
    const char *vals[FO_PG_NCOLS];
    primary_row(vals);
    vals[FO_PG_COL_IN_RECOVERY] = "maybe";
    expect_unknown(vals, "in_recovery");
    primary_row(vals);
    vals[FO_PG_COL_IN_RECOVERY] = NULL;
    expect_unknown(vals, "in_recovery");
    primary_row(vals);
    vals[FO_PG_COL_CURRENT_LSN] = "garbage";
    expect_unknown(vals, "current_lsn");
    primary_row(vals);
    vals[FO_PG_COL_CURRENT_LSN] = NULL; /* a primary always has one */
    expect_unknown(vals, "current_lsn");
    primary_row(vals);
    vals[FO_PG_COL_WALFILE] = "00000001";
    expect_unknown(vals, "walfile");
    primary_row(vals);
    vals[FO_PG_COL_WALFILE] = "0000000000000016000000B3"; /* timeline 0 does not exist */
    expect_unknown(vals, "walfile");
    primary_row(vals);
    vals[FO_PG_COL_STREAMING] = "two";
    expect_unknown(vals, "streaming");
    primary_row(vals);
    vals[FO_PG_COL_SYNC_NAMES] = NULL;
    expect_unknown(vals, "sync_standby_names");
    standby_row(vals);
    vals[FO_PG_COL_REPLAY_LAG] = "12abc";
    expect_unknown(vals, "replay_lag");
    standby_row(vals);
    vals[FO_PG_COL_REPLAY_LSN] = "0/XYZ";
    expect_unknown(vals, "replay_lsn");
    standby_row(vals);
    vals[FO_PG_COL_WR_MSG_AGE] = "nan";
    expect_unknown(vals, "last_msg_age");
    standby_row(vals);
    vals[FO_PG_COL_WR_PID] = NULL;
    vals[FO_PG_COL_CHECKPOINT_TLI] = NULL; /* no timeline at all */
    expect_unknown(vals, "checkpoint_tli");
}

static void test_long_sync_names(void **state)
{
    const char *vals[FO_PG_NCOLS];
    struct fo_pg_limits lim = no_limits();
    struct fo_result r = {0};
    char names[200];
    memset(names, 'a', sizeof(names) - 1);
    names[sizeof(names) - 1] = '\0';
    primary_row(vals);
    vals[FO_PG_COL_SYNC_NAMES] = names;
    assert_int_equal(fo_pg_result_fill(&r, vals, &lim), FO_STATUS_OK);
    assert_int_equal(fact(&r, "sync_standby_names_truncated", FO_FACT_BOOL)->i, 1);
    assert_int_equal(strlen(fact(&r, "sync_standby_names", FO_FACT_STR)->s), FO_FACT_STR_MAX - 1);
}

/* ---- the plugin: init validation and async runs on loopback ---- */

static void host_log(enum fo_log_level level, const char *plugin, const char *fmt, ...)
{
    (void)level;
    (void)plugin;
    (void)fmt;
}

struct fixture {
    uv_loop_t loop;
    struct fo_host host;
    struct fo_target target;
    struct json_object *params;
    int ndone;
    struct fo_result last;
};

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    assert_int_equal(uv_loop_init(&fx->loop), 0);
    fx->host.abi_major = FO_PLUGIN_ABI_MAJOR;
    fx->host.abi_minor = FO_PLUGIN_ABI_MINOR;
    fx->host.loop = &fx->loop;
    fx->host.log = host_log;
    fx->host.parse_duration = fo_cfg_parse_duration;
    fx->host.parse_size = fo_cfg_parse_size;
    fx->target.service = "db";
    fx->target.member = "pg1";
    fx->target.zone = "z1";
    fx->target.timeout_ms = 1000;
    fx->target.interval_ms = 1000;
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    /* Every handle a run opened must be closed by now: a leak makes uv_loop_close fail. */
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&fx->loop), 0);
    json_object_put(fx->params);
    free(fx);
    return 0;
}

static void *init_with(struct fixture *fx, const char *address, const char *params_json,
                       struct fo_plugin_err *err)
{
    json_object_put(fx->params);
    fx->params = params_json ? json_tokener_parse(params_json) : NULL;
    fx->target.address = address;
    fx->target.params = fx->params;
    memset(err, 0, sizeof(*err));
    return fo_plugin_entry.init(&fx->host, fx, &fx->target, err);
}

static void expect_init_error(struct fixture *fx, const char *address, const char *params,
                              const char *field)
{
    struct fo_plugin_err err;
    void *inst = init_with(fx, address, params, &err);
    if (inst) {
        fo_plugin_entry.destroy(inst);
        fail_msg("init accepted address '%s' params %s", address, params ? params : "NULL");
    }
    assert_string_equal(err.field, field);
    assert_true(err.msg[0] != '\0');
}

static void test_entry(void **state)
{
    assert_int_equal(fo_plugin_entry.abi_major, FO_PLUGIN_ABI_MAJOR);
    assert_string_equal(fo_plugin_entry.name, "postgres");
    assert_int_equal(fo_plugin_entry.kind, FO_PLUGIN_CHECK);
    assert_null(fo_plugin_entry.verify);
}

static void test_init_validation(void **state)
{
    struct fixture *fx = *state;
    struct fo_plugin_err err;
    const char *good[][2] = {
        {"127.0.0.1:5432", NULL},
        {"127.0.0.1", "{}"},
        {"[::1]:5433", "{\"user\": \"failoverd\", \"dbname\": \"app\"}"},
        {"db.example:5432", "{\"max_lag\": \"16MiB\", \"max_replay_delay\": \"30s\"}"},
        {"127.0.0.1:5432", "{\"max_lag\": 1048576, \"expect_role\": \"standby\"}"},
        {"127.0.0.1:5432", "{\"sslmode\": \"require\", \"application_name\": \"x\"}"},
        {"host=10.0.0.1 port=5433 user=u dbname=d", NULL},
        {"host=/var/run/postgresql port=5432", "{\"user\": \"u\"}"},
        {"postgresql://u@db.example:5433/app?sslmode=disable", NULL},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        void *inst = init_with(fx, good[i][0], good[i][1], &err);
        if (!inst)
            fail_msg("init refused '%s' %s: %s: %s", good[i][0], good[i][1] ? good[i][1] : "",
                     err.field, err.msg);
        fo_plugin_entry.destroy(inst);
    }
    expect_init_error(fx, "127.0.0.1:5432", "{\"usr\": \"x\"}", "usr");
    expect_init_error(fx, "127.0.0.1:5432", "{\"password_file\": \"/pw\"}", "password_file");
    expect_init_error(fx, "127.0.0.1:5432", "{\"max_lag\": \"lots\"}", "max_lag");
    expect_init_error(fx, "127.0.0.1:5432", "{\"max_lag\": \"16XB\"}", "max_lag");
    expect_init_error(fx, "127.0.0.1:5432", "{\"max_replay_delay\": \"30\"}", "max_replay_delay");
    expect_init_error(fx, "127.0.0.1:5432", "{\"expect_role\": \"leader\"}", "expect_role");
    expect_init_error(fx, "127.0.0.1:5432", "{\"sslmode\": \"maybe\"}", "sslmode");
    expect_init_error(fx, "127.0.0.1:5432", "{\"user\": 5}", "user");
    expect_init_error(fx, "127.0.0.1:5432", "[1, 2]", "params");
    expect_init_error(fx, "127.0.0.1:99999", NULL, "address");
    expect_init_error(fx, "127.0.0.1:", NULL, "address");
    expect_init_error(fx, "::1:5432", NULL, "address");
    expect_init_error(fx, "", NULL, "address");
    expect_init_error(fx, "host=10.0.0.1 password=inline", NULL, "address");
    expect_init_error(fx, "host=a,b port=5432", NULL, "address");
    expect_init_error(fx, "host=10.0.0.1 bogus=1", NULL, "address");
    expect_init_error(fx, "service=prod", NULL, "address");
    expect_init_error(fx, "host=10.0.0.1 sslpassword=x", NULL, "address");
}

static void on_done(void *cookie, const struct fo_result *r)
{
    struct fixture *fx = cookie;
    fx->ndone++;
    fx->last = *r;
}

/* A loopback port with nothing listening (the kernel refuses at once). */
static int closed_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* A listener that never accepts: connections complete in the backlog, nothing ever answers. */
static int silent_listener(int *port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fd, 8), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static void test_run_refused(void **state)
{
    struct fixture *fx = *state;
    struct fo_plugin_err err;
    char addr[32];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", closed_port());
    void *inst = init_with(fx, addr, "{\"user\": \"failoverd\"}", &err);
    assert_non_null(inst);
    assert_int_equal(fo_plugin_entry.start(inst, on_done, fx), 0);
    assert_int_equal(fx->ndone, 0); /* never from inside start() */
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    assert_int_equal(fx->ndone, 1);
    assert_int_equal(fx->last.status, FO_STATUS_CRITICAL);
    assert_non_null(strstr(fx->last.message, "connect"));
    assert_int_equal(fx->last.nfacts, 0);
    fo_plugin_entry.destroy(inst);
}

/* libpq refuses this inside PQconnectStartParams, i.e. inside start(): the result must still
 * come from the loop, after start() returned. */
static void test_run_fails_in_start(void **state)
{
    struct fixture *fx = *state;
    struct fo_plugin_err err;
    void *inst = init_with(fx, "host=127.0.0.1 port=notaport", NULL, &err);
    assert_non_null(inst);
    assert_int_equal(fo_plugin_entry.start(inst, on_done, fx), 0);
    assert_int_equal(fx->ndone, 0);
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    assert_int_equal(fx->ndone, 1);
    assert_int_equal(fx->last.status, FO_STATUS_CRITICAL);
    assert_non_null(strstr(fx->last.message, "notaport"));
    /* The same, cancelled before the loop delivered it: nothing is delivered. */
    assert_int_equal(fo_plugin_entry.start(inst, on_done, fx), 0);
    fo_plugin_entry.cancel(inst);
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    assert_int_equal(fx->ndone, 1);
    fo_plugin_entry.destroy(inst);
}

static void test_run_timeout(void **state)
{
    struct fixture *fx = *state;
    struct fo_plugin_err err;
    char addr[32];
    int port, lfd = silent_listener(&port);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    fx->target.timeout_ms = 300;
    void *inst = init_with(fx, addr, NULL, &err);
    assert_non_null(inst);
    uint64_t t0 = uv_hrtime();
    assert_int_equal(fo_plugin_entry.start(inst, on_done, fx), 0);
    assert_int_equal(fo_plugin_entry.start(inst, on_done, fx), -EBUSY); /* one run at a time */
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    double ms = (double)(uv_hrtime() - t0) / 1e6;
    assert_int_equal(fx->ndone, 1);
    assert_int_equal(fx->last.status, FO_STATUS_CRITICAL);
    assert_non_null(strstr(fx->last.message, "timeout"));
    /* Its own timer fires a little before the host's hard timeout. */
    assert_true(ms >= 200 && ms < 300);
    fo_plugin_entry.destroy(inst);
    close(lfd);
}

static void test_run_cancel(void **state)
{
    struct fixture *fx = *state;
    struct fo_plugin_err err;
    char addr[32];
    int port, lfd = silent_listener(&port);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    void *inst = init_with(fx, addr, NULL, &err);
    assert_non_null(inst);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(fo_plugin_entry.start(inst, on_done, fx), 0);
        uv_run(&fx->loop, UV_RUN_NOWAIT); /* let it connect and wait */
        fo_plugin_entry.cancel(inst);
        fo_plugin_entry.cancel(inst); /* harmless */
    }
    /* Cancelled with the resolver still pending: its callback runs later and only frees. */
    void *named = init_with(fx, "localhost:1", NULL, &err);
    assert_non_null(named);
    assert_int_equal(fo_plugin_entry.start(named, on_done, fx), 0);
    fo_plugin_entry.cancel(named);
    fo_plugin_entry.destroy(named);
    /* Destroy with a run in flight cancels it. */
    assert_int_equal(fo_plugin_entry.start(inst, on_done, fx), 0);
    fo_plugin_entry.destroy(inst);
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    assert_int_equal(fx->ndone, 0);
    close(lfd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lsn_parse),
        cmocka_unit_test(test_lsn_format),
        cmocka_unit_test(test_primary_facts),
        cmocka_unit_test(test_standby_facts),
        cmocka_unit_test(test_standby_lag_warning),
        cmocka_unit_test(test_standby_replay_delay),
        cmocka_unit_test(test_standby_receiver_down),
        cmocka_unit_test(test_hidden_stats),
        cmocka_unit_test(test_expect_role),
        cmocka_unit_test(test_malformed_unknown),
        cmocka_unit_test(test_long_sync_names),
        cmocka_unit_test(test_entry),
        cmocka_unit_test_setup_teardown(test_init_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_fails_in_start, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_cancel, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
