/* Unit tests of the redis check plugin: the INFO parser on real Redis 7.0 outputs (primary,
 * replica with link up, link down, garbage), params validation, and whole runs against a fake
 * server on the test's own loop (canned replies, AUTH, NOAUTH, LOADING, a dropped connection,
 * silence, refusal). No Redis server needed; every handle must be closed afterwards. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "../../plugins/redis_parse.h"
#include "core/cfgfield.h"

extern const struct fo_plugin fo_plugin_entry;

/* Captured from redis-server 7.0.15 (Debian 12): a primary with one replica, the replica, and
 * the replica 3 s after its primary was shut down. */
static const char info_primary_server[] = "# Server\r\n"
                                          "redis_version:7.0.15\r\n"
                                          "redis_git_sha1:00000000\r\n"
                                          "redis_git_dirty:0\r\n"
                                          "redis_build_id:ae4d7c971a948f0\r\n"
                                          "redis_mode:standalone\r\n"
                                          "os:Linux 6.18.44-fc-v657 x86_64\r\n"
                                          "arch_bits:64\r\n"
                                          "monotonic_clock:POSIX clock_gettime\r\n"
                                          "multiplexing_api:epoll\r\n"
                                          "atomicvar_api:c11-builtin\r\n"
                                          "gcc_version:12.2.0\r\n"
                                          "process_id:15631\r\n"
                                          "process_supervised:no\r\n"
                                          "run_id:883e04a4b861b4b2a3b380dd5c1465a8a251c0ab\r\n"
                                          "tcp_port:47101\r\n"
                                          "server_time_usec:1795604386877196\r\n"
                                          "uptime_in_seconds:3\r\n"
                                          "uptime_in_days:0\r\n"
                                          "hz:10\r\n"
                                          "configured_hz:10\r\n"
                                          "lru_clock:442274\r\n"
                                          "executable:/tmp/redis-server\r\n"
                                          "config_file:\r\n"
                                          "io_threads_active:0\r\n";
static const char info_primary_repl[] =
    "# Replication\r\n"
    "role:master\r\n"
    "connected_slaves:1\r\n"
    "slave0:ip=127.0.0.1,port=47102,state=online,offset=50,lag=0\r\n"
    "master_failover_state:no-failover\r\n"
    "master_replid:ed4edcf2750e49bb443a2c881659dcf54bbc9481\r\n"
    "master_replid2:0000000000000000000000000000000000000000\r\n"
    "master_repl_offset:50\r\n"
    "second_repl_offset:-1\r\n"
    "repl_backlog_active:1\r\n"
    "repl_backlog_size:1048576\r\n"
    "repl_backlog_first_byte_offset:1\r\n"
    "repl_backlog_histlen:50\r\n";
static const char info_replica_server[] = "# Server\r\n"
                                          "redis_version:7.0.15\r\n"
                                          "redis_mode:standalone\r\n"
                                          "process_id:15633\r\n"
                                          "run_id:19d760f0e8aea087e044ba5ed4edd52a4c064052\r\n"
                                          "tcp_port:47102\r\n"
                                          "uptime_in_seconds:3\r\n";
static const char info_replica_repl[] =
    "# Replication\r\n"
    "role:slave\r\n"
    "master_host:127.0.0.1\r\n"
    "master_port:47101\r\n"
    "master_link_status:up\r\n"
    "master_last_io_seconds_ago:1\r\n"
    "master_sync_in_progress:0\r\n"
    "slave_read_repl_offset:50\r\n"
    "slave_repl_offset:50\r\n"
    "slave_priority:100\r\n"
    "slave_read_only:1\r\n"
    "replica_announced:1\r\n"
    "connected_slaves:0\r\n"
    "master_failover_state:no-failover\r\n"
    "master_replid:ed4edcf2750e49bb443a2c881659dcf54bbc9481\r\n"
    "master_replid2:0000000000000000000000000000000000000000\r\n"
    "master_repl_offset:50\r\n"
    "second_repl_offset:-1\r\n"
    "repl_backlog_active:1\r\n"
    "repl_backlog_size:1048576\r\n"
    "repl_backlog_first_byte_offset:1\r\n"
    "repl_backlog_histlen:50\r\n";
static const char info_replica_down_repl[] =
    "# Replication\r\n"
    "role:slave\r\n"
    "master_host:127.0.0.1\r\n"
    "master_port:47101\r\n"
    "master_link_status:down\r\n"
    "master_last_io_seconds_ago:-1\r\n"
    "master_sync_in_progress:0\r\n"
    "slave_read_repl_offset:50\r\n"
    "slave_repl_offset:50\r\n"
    "master_link_down_since_seconds:3\r\n"
    "slave_priority:100\r\n"
    "slave_read_only:1\r\n"
    "replica_announced:1\r\n"
    "connected_slaves:0\r\n"
    "master_failover_state:no-failover\r\n"
    "master_replid:ed4edcf2750e49bb443a2c881659dcf54bbc9481\r\n"
    "master_replid2:0000000000000000000000000000000000000000\r\n"
    "master_repl_offset:50\r\n"
    "second_repl_offset:-1\r\n"
    "repl_backlog_active:1\r\n"
    "repl_backlog_size:1048576\r\n"
    "repl_backlog_first_byte_offset:1\r\n"
    "repl_backlog_histlen:50\r\n";

static char *join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 3);
    assert_non_null(s);
    memcpy(s, a, la);
    memcpy(s + la, "\r\n", 2);
    memcpy(s + la + 2, b, lb + 1);
    return s;
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

/* ---- INFO parser ---- */

static void test_info_get(void **state)
{
    char buf[64];
    assert_int_equal(fo_redis_info_get(info_primary_repl, "role", buf, sizeof(buf)), 1);
    assert_string_equal(buf, "master");
    /* "slave0" must not match "slave0_x" and a key must not match as a prefix. */
    assert_int_equal(fo_redis_info_get("slave0_x:1\r\nslave0:2\r\n", "slave0", buf, 8), 1);
    assert_string_equal(buf, "2");
    assert_int_equal(fo_redis_info_get("master_replid2:x\n", "master_replid", buf, 8), 0);
    assert_int_equal(fo_redis_info_get("a:b\nkey:value-too-long\n", "key", buf, 6), -1);
    assert_int_equal(fo_redis_info_get("key:last-line-no-newline", "key", buf, sizeof(buf)), 1);
    assert_string_equal(buf, "last-line-no-newline");
    assert_int_equal(fo_redis_info_get("", "role", buf, sizeof(buf)), 0);
}

static void test_info_primary(void **state)
{
    char *info = join(info_primary_server, info_primary_repl);
    struct fo_result r = {0};
    assert_int_equal(fo_redis_info_fill(&r, info, FO_REDIS_ROLE_ANY), FO_STATUS_OK);
    assert_string_equal(fact(&r, "role", FO_FACT_STR)->s, "primary");
    assert_string_equal(fact(&r, "run_id", FO_FACT_STR)->s,
                        "883e04a4b861b4b2a3b380dd5c1465a8a251c0ab");
    assert_string_equal(fact(&r, "master_replid", FO_FACT_STR)->s,
                        "ed4edcf2750e49bb443a2c881659dcf54bbc9481");
    assert_string_equal(fact(&r, "master_replid2", FO_FACT_STR)->s,
                        "0000000000000000000000000000000000000000");
    assert_int_equal(fact(&r, "repl_offset", FO_FACT_INT)->i, 50);
    assert_int_equal(fact(&r, "second_repl_offset", FO_FACT_INT)->i, -1);
    assert_int_equal(fact(&r, "connected_replicas", FO_FACT_INT)->i, 1);
    assert_int_equal(fact(&r, "online_replicas", FO_FACT_INT)->i, 1);
    assert_int_equal(fact(&r, "uptime_s", FO_FACT_INT)->i, 3);
    assert_null(fo_result_get(&r, "master_link_status"));
    assert_null(fo_result_get(&r, "master_host"));
    assert_non_null(strstr(r.message, "primary"));
    assert_int_equal(fo_redis_info_fill(&r, info, FO_REDIS_ROLE_PRIMARY), FO_STATUS_OK);
    assert_int_equal(fo_redis_info_fill(&r, info, FO_REDIS_ROLE_REPLICA), FO_STATUS_CRITICAL);
    assert_non_null(strstr(r.message, "role primary, expected replica"));
    free(info);

    /* A replica still syncing is connected but not online. */
    info = join(info_primary_server,
                "role:master\r\nconnected_slaves:2\r\n"
                "slave0:ip=127.0.0.1,port=1,state=online,offset=50,lag=0\r\n"
                "slave1:ip=127.0.0.1,port=2,state=wait_bgsave,offset=0,lag=0\r\n"
                "master_replid:aa\r\nmaster_replid2:bb\r\nmaster_repl_offset:50\r\n");
    assert_int_equal(fo_redis_info_fill(&r, info, FO_REDIS_ROLE_ANY), FO_STATUS_OK);
    assert_int_equal(fact(&r, "connected_replicas", FO_FACT_INT)->i, 2);
    assert_int_equal(fact(&r, "online_replicas", FO_FACT_INT)->i, 1);
    free(info);
}

static void test_info_replica_up(void **state)
{
    char *info = join(info_replica_server, info_replica_repl);
    struct fo_result r = {0};
    assert_int_equal(fo_redis_info_fill(&r, info, FO_REDIS_ROLE_ANY), FO_STATUS_OK);
    assert_string_equal(fact(&r, "role", FO_FACT_STR)->s, "replica");
    assert_string_equal(fact(&r, "run_id", FO_FACT_STR)->s,
                        "19d760f0e8aea087e044ba5ed4edd52a4c064052");
    assert_string_equal(fact(&r, "master_replid", FO_FACT_STR)->s,
                        "ed4edcf2750e49bb443a2c881659dcf54bbc9481");
    assert_int_equal(fact(&r, "repl_offset", FO_FACT_INT)->i, 50); /* slave_repl_offset */
    assert_string_equal(fact(&r, "master_host", FO_FACT_STR)->s, "127.0.0.1");
    assert_int_equal(fact(&r, "master_port", FO_FACT_INT)->i, 47101);
    assert_string_equal(fact(&r, "master_link_status", FO_FACT_STR)->s, "up");
    assert_int_equal(fact(&r, "master_last_io_seconds_ago", FO_FACT_INT)->i, 1);
    assert_int_equal(fact(&r, "master_sync_in_progress", FO_FACT_BOOL)->i, 0);
    assert_int_equal(fact(&r, "replica_priority", FO_FACT_INT)->i, 100);
    assert_int_equal(fact(&r, "connected_replicas", FO_FACT_INT)->i, 0);
    assert_null(fo_result_get(&r, "master_link_down_since_s"));
    assert_null(fo_result_get(&r, "online_replicas"));
    assert_int_equal(fo_redis_info_fill(&r, info, FO_REDIS_ROLE_REPLICA), FO_STATUS_OK);
    assert_int_equal(fo_redis_info_fill(&r, info, FO_REDIS_ROLE_PRIMARY), FO_STATUS_CRITICAL);
    free(info);
}

static void test_info_replica_down(void **state)
{
    char *info = join(info_replica_server, info_replica_down_repl);
    struct fo_result r = {0};
    assert_int_equal(fo_redis_info_fill(&r, info, FO_REDIS_ROLE_ANY), FO_STATUS_WARNING);
    assert_string_equal(fact(&r, "master_link_status", FO_FACT_STR)->s, "down");
    assert_int_equal(fact(&r, "master_link_down_since_s", FO_FACT_INT)->i, 3);
    assert_int_equal(fact(&r, "master_last_io_seconds_ago", FO_FACT_INT)->i, -1);
    assert_int_equal(fact(&r, "repl_offset", FO_FACT_INT)->i, 50);
    assert_non_null(strstr(r.message, "link down for 3s"));
    /* Expecting a replica and finding one with its link down is still a warning. */
    assert_int_equal(fo_redis_info_fill(&r, info, FO_REDIS_ROLE_REPLICA), FO_STATUS_WARNING);
    free(info);
}

static void test_info_garbage(void **state)
{
    struct fo_result r = {0};
    const char *cases[][2] = {
        {"", "role"},
        {"hello world\r\n", "role"},
        {"role:sentinel\r\n", "role"},
        {"role:master\r\n", "run_id"},
        {"run_id:abc\r\nrole:master\r\nmaster_replid:a\r\nmaster_replid2:b\r\n"
         "master_repl_offset:12x\r\nconnected_slaves:0\r\n",
         "master_repl_offset"},
        {"run_id:abc\r\nrole:slave\r\nmaster_replid:a\r\nmaster_replid2:b\r\n"
         "slave_repl_offset:1\r\nconnected_slaves:0\r\nmaster_host:h\r\nmaster_port:1\r\n"
         "master_link_status:sideways\r\n",
         "master_link_status"},
        {"run_id:abc\r\nrole:slave\r\nmaster_replid:a\r\nmaster_replid2:b\r\n"
         "slave_repl_offset:1\r\nconnected_slaves:0\r\nmaster_link_status:up\r\n",
         "master_host"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memset(&r, 0, sizeof(r));
        assert_int_equal(fo_redis_info_fill(&r, cases[i][0], FO_REDIS_ROLE_ANY), FO_STATUS_UNKNOWN);
        assert_int_equal(r.nfacts, 0);
        if (!strstr(r.message, cases[i][1]))
            fail_msg("case %zu: message '%s' does not name %s", i, r.message, cases[i][1]);
    }
    assert_int_equal(fo_redis_info_fill(&r, NULL, FO_REDIS_ROLE_ANY), FO_STATUS_UNKNOWN);
}

/* ---- the plugin against a fake server on the loop ---- */

static void host_log(enum fo_log_level level, const char *plugin, const char *fmt, ...)
{
    (void)level;
    (void)plugin;
    (void)fmt;
}

enum fake_mode { FAKE_REPLY, FAKE_CLOSE, FAKE_SILENT };

struct fake_conn {
    uv_tcp_t tcp;
    struct fixture *fx;
    int answered;
};

struct fixture {
    uv_loop_t loop;
    struct fo_host host;
    struct fo_target target;
    struct json_object *params;
    uv_tcp_t server;
    int server_open;
    int port;
    enum fake_mode mode;
    const char *reply; /* canned bytes for FAKE_REPLY */
    char received[512];
    size_t nreceived;
    int nconns;
    int ndone;
    struct fo_result last;
};

static void conn_closed(uv_handle_t *h)
{
    free(h->data);
}

static void conn_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    static char slab[4096];
    (void)h;
    (void)hint;
    *buf = uv_buf_init(slab, sizeof(slab));
}

static void write_done(uv_write_t *w, int status)
{
    free(w);
}

static void conn_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct fake_conn *c = s->data;
    struct fixture *fx = c->fx;
    if (n < 0) {
        uv_close((uv_handle_t *)s, conn_closed);
        return;
    }
    size_t room = sizeof(fx->received) - 1 - fx->nreceived;
    size_t take = (size_t)n < room ? (size_t)n : room;
    memcpy(fx->received + fx->nreceived, buf->base, take);
    fx->nreceived += take;
    fx->received[fx->nreceived] = '\0';
    /* hiredis pipelines everything at once; the whole batch ends with INFO replication. */
    if (c->answered || !strstr(fx->received, "replication\r\n"))
        return;
    c->answered = 1;
    if (fx->mode == FAKE_CLOSE) {
        uv_close((uv_handle_t *)s, conn_closed);
    } else if (fx->mode == FAKE_REPLY) {
        uv_write_t *w = malloc(sizeof(*w));
        uv_buf_t b = uv_buf_init((char *)fx->reply, (unsigned)strlen(fx->reply));
        assert_non_null(w);
        assert_int_equal(uv_write(w, s, &b, 1, write_done), 0);
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    struct fixture *fx = server->data;
    struct fake_conn *c = calloc(1, sizeof(*c));
    assert_int_equal(status, 0);
    assert_non_null(c);
    c->fx = fx;
    uv_tcp_init(&fx->loop, &c->tcp);
    c->tcp.data = c;
    assert_int_equal(uv_accept(server, (uv_stream_t *)&c->tcp), 0);
    fx->nconns++;
    uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_read);
}

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    struct sockaddr_in a;
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    assert_int_equal(uv_loop_init(&fx->loop), 0);
    fx->host.abi_major = FO_PLUGIN_ABI_MAJOR;
    fx->host.abi_minor = FO_PLUGIN_ABI_MINOR;
    fx->host.loop = &fx->loop;
    fx->host.log = host_log;
    fx->host.parse_duration = fo_cfg_parse_duration;
    fx->host.parse_size = fo_cfg_parse_size;
    fx->target.service = "cache";
    fx->target.member = "r1";
    fx->target.zone = "z1";
    fx->target.timeout_ms = 1000;
    fx->target.interval_ms = 1000;
    uv_tcp_init(&fx->loop, &fx->server);
    fx->server.data = fx;
    uv_ip4_addr("127.0.0.1", 0, &a);
    assert_int_equal(uv_tcp_bind(&fx->server, (struct sockaddr *)&a, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&fx->server, 8, on_connection), 0);
    assert_int_equal(uv_tcp_getsockname(&fx->server, (struct sockaddr *)&ss, &len), 0);
    fx->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    fx->server_open = 1;
    *state = fx;
    return 0;
}

struct walk {
    struct fixture *fx;
    int leaks;
};

/* Closes the fake server's TCP handles; anything else still open is the plugin's and a leak. */
static void close_walk(uv_handle_t *h, void *arg)
{
    struct walk *w = arg;
    if (uv_is_closing(h))
        return;
    if (h->type != UV_TCP)
        w->leaks++;
    uv_close(h, h->type == UV_TCP && h != (uv_handle_t *)&w->fx->server ? conn_closed : NULL);
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    struct walk w = {.fx = fx};
    uv_run(&fx->loop, UV_RUN_NOWAIT);
    uv_walk(&fx->loop, close_walk, &w);
    int leaks = w.leaks;
    assert_int_equal(leaks, 0);
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&fx->loop), 0);
    json_object_put(fx->params);
    free(fx);
    return 0;
}

static void *init_with(struct fixture *fx, const char *address, const char *params_json,
                       const char *secret, struct fo_plugin_err *err)
{
    json_object_put(fx->params);
    fx->params = params_json ? json_tokener_parse(params_json) : NULL;
    fx->target.address = address;
    fx->target.params = fx->params;
    fx->target.secret = secret;
    memset(err, 0, sizeof(*err));
    return fo_plugin_entry.init(&fx->host, fx, &fx->target, err);
}

static void on_done(void *cookie, const struct fo_result *r)
{
    struct fixture *fx = cookie;
    fx->ndone++;
    fx->last = *r;
}

/* Runs the loop until the result came (bounded: the plugin's own timeout ends every run). */
static void run_until_done(struct fixture *fx, int want)
{
    uint64_t deadline = uv_hrtime() + 5000000000ull;
    while (fx->ndone < want && uv_hrtime() < deadline)
        uv_run(&fx->loop, UV_RUN_ONCE);
    assert_int_equal(fx->ndone, want);
}

static char *fake_addr(struct fixture *fx)
{
    static char addr[32];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", fx->port);
    return addr;
}

static char *bulk(const char *s)
{
    char *out = malloc(strlen(s) + 32);
    assert_non_null(out);
    sprintf(out, "$%zu\r\n%s\r\n", strlen(s), s);
    return out;
}

static void test_entry(void **state)
{
    assert_int_equal(fo_plugin_entry.abi_major, FO_PLUGIN_ABI_MAJOR);
    assert_string_equal(fo_plugin_entry.name, "redis");
    assert_int_equal(fo_plugin_entry.kind, FO_PLUGIN_CHECK);
    assert_null(fo_plugin_entry.verify);
}

static void expect_init_error(struct fixture *fx, const char *address, const char *params,
                              const char *secret, const char *field)
{
    struct fo_plugin_err err;
    void *inst = init_with(fx, address, params, secret, &err);
    if (inst) {
        fo_plugin_entry.destroy(inst);
        fail_msg("init accepted '%s' %s", address, params ? params : "NULL");
    }
    assert_string_equal(err.field, field);
    assert_true(err.msg[0] != '\0');
}

static void test_init_validation(void **state)
{
    struct fixture *fx = *state;
    struct fo_plugin_err err;
    const char *good[][3] = {
        {"127.0.0.1:6379", NULL, NULL},
        {"127.0.0.1", "{}", NULL},
        {"[::1]:6380", "{\"expect_role\": \"replica\"}", NULL},
        {"cache.example:6379", "{\"username\": \"failoverd\"}", "pw"},
        {"/run/redis/redis.sock", "{\"expect_role\": \"primary\"}", NULL},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        void *inst = init_with(fx, good[i][0], good[i][1], good[i][2], &err);
        if (!inst)
            fail_msg("init refused '%s': %s: %s", good[i][0], err.field, err.msg);
        fo_plugin_entry.destroy(inst);
    }
    expect_init_error(fx, "127.0.0.1:6379", "{\"db\": 1}", NULL, "db");
    expect_init_error(fx, "127.0.0.1:6379", "{\"password\": \"x\"}", NULL, "password");
    expect_init_error(fx, "127.0.0.1:6379", "{\"expect_role\": \"leader\"}", NULL, "expect_role");
    expect_init_error(fx, "127.0.0.1:6379", "{\"username\": \"u\"}", NULL, "username");
    expect_init_error(fx, "127.0.0.1:6379", "{\"username\": \"\"}", "pw", "username");
    expect_init_error(fx, "127.0.0.1:0", NULL, NULL, "address");
    expect_init_error(fx, "::1:6379", NULL, NULL, "address");
    expect_init_error(fx, "", NULL, NULL, "address");
}

static void test_run_primary(void **state)
{
    struct fixture *fx = *state;
    struct fo_plugin_err err;
    char *s = bulk(info_primary_server), *r = bulk(info_primary_repl), reply[4096];
    snprintf(reply, sizeof(reply), "+OK\r\n+PONG\r\n%s%s", s, r);
    fx->mode = FAKE_REPLY;
    fx->reply = reply;
    void *inst = init_with(fx, fake_addr(fx), "{\"username\": \"failoverd\"}", "s3cret pw", &err);
    assert_non_null(inst);
    assert_int_equal(fo_plugin_entry.start(inst, on_done, fx), 0);
    assert_int_equal(fo_plugin_entry.start(inst, on_done, fx), -EBUSY);
    run_until_done(fx, 1);
    assert_int_equal(fx->last.status, FO_STATUS_OK);
    assert_string_equal(fact(&fx->last, "role", FO_FACT_STR)->s, "primary");
    assert_int_equal(fact(&fx->last, "repl_offset", FO_FACT_INT)->i, 50);
    assert_true(fx->last.latency_ms >= 0);
    /* One pipelined batch; the password travels as one argument, spaces and all. */
    assert_non_null(strstr(fx->received, "AUTH\r\n$9\r\nfailoverd\r\n$9\r\ns3cret pw\r\n"));
    assert_non_null(strstr(fx->received, "PING"));
    assert_non_null(strstr(fx->received, "$6\r\nserver\r\n"));
    /* Runs again on a fresh connection. */
    fx->nreceived = 0;
    assert_int_equal(fo_plugin_entry.start(inst, on_done, fx), 0);
    run_until_done(fx, 2);
    assert_int_equal(fx->last.status, FO_STATUS_OK);
    assert_int_equal(fx->nconns, 2);
    fo_plugin_entry.destroy(inst);
    free(s);
    free(r);
}

/* A host name goes through uv_getaddrinfo before hiredis sees an address. (Where localhost also
 * resolves to ::1 first, this covers the fall-through to the next address too.) */
static void test_run_host_name(void **state)
{
    struct fixture *fx = *state;
    struct fo_plugin_err err;
    char *s = bulk(info_replica_server), *r = bulk(info_replica_repl), reply[4096], addr[32];
    snprintf(reply, sizeof(reply), "+PONG\r\n%s%s", s, r);
    snprintf(addr, sizeof(addr), "localhost:%d", fx->port);
    fx->mode = FAKE_REPLY;
    fx->reply = reply;
    void *inst = init_with(fx, addr, "{\"expect_role\": \"replica\"}", NULL, &err);
    assert_non_null(inst);
    assert_int_equal(fo_plugin_entry.start(inst, on_done, fx), 0);
    run_until_done(fx, 1);
    if (fx->last.status != FO_STATUS_OK)
        fail_msg("%s", fx->last.message);
    assert_string_equal(fact(&fx->last, "role", FO_FACT_STR)->s, "replica");
    fo_plugin_entry.destroy(inst);
    free(s);
    free(r);
}

static void test_run_replica_down(void **state)
{
    struct fixture *fx = *state;
    struct fo_plugin_err err;
    char *s = bulk(info_replica_server), *r = bulk(info_replica_down_repl), reply[4096];
    snprintf(reply, sizeof(reply), "+PONG\r\n%s%s", s, r);
    fx->mode = FAKE_REPLY;
    fx->reply = reply;
    void *inst = init_with(fx, fake_addr(fx), NULL, NULL, &err);
    assert_non_null(inst);
    assert_int_equal(fo_plugin_entry.start(inst, on_done, fx), 0);
    run_until_done(fx, 1);
    assert_int_equal(fx->last.status, FO_STATUS_WARNING);
    assert_string_equal(fact(&fx->last, "master_link_status", FO_FACT_STR)->s, "down");
    assert_null(strstr(fx->received, "AUTH")); /* no secret, no AUTH */
    fo_plugin_entry.destroy(inst);
    free(s);
    free(r);
}

static void run_error(struct fixture *fx, const char *reply, const char *secret, const char *expect)
{
    struct fo_plugin_err err;
    fx->mode = FAKE_REPLY;
    fx->reply = reply;
    fx->ndone = 0;
    fx->nreceived = 0;
    void *inst = init_with(fx, fake_addr(fx), NULL, secret, &err);
    assert_non_null(inst);
    assert_int_equal(fo_plugin_entry.start(inst, on_done, fx), 0);
    run_until_done(fx, 1);
    assert_int_equal(fx->last.status, FO_STATUS_CRITICAL);
    if (!strstr(fx->last.message, expect))
        fail_msg("message '%s' lacks '%s'", fx->last.message, expect);
    fo_plugin_entry.destroy(inst);
}

static void test_run_error_replies(void **state)
{
    struct fixture *fx = *state;
    run_error(fx, "-NOAUTH Authentication required.\r\n-NOAUTH x\r\n-NOAUTH x\r\n", NULL,
              "authentication required");
    run_error(fx,
              "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
              "-NOAUTH x\r\n-NOAUTH x\r\n-NOAUTH x\r\n",
              "bad", "authentication failed: WRONGPASS");
    run_error(fx, "-LOADING Redis is loading the dataset in memory\r\n-LOADING x\r\n$3\r\nabc\r\n",
              NULL, "loading");
    run_error(fx, "+PONG\r\n-NOPERM no permission for info\r\n-NOPERM x\r\n", NULL,
              "INFO server: NOPERM");
}

static void test_run_masterdown_ping(void **state)
{
    struct fixture *fx = *state;
    struct fo_plugin_err err;
    char *s = bulk(info_replica_server), *r = bulk(info_replica_down_repl), reply[4096];
    /* replica-serve-stale-data no: PING refused, INFO answered: a warning, not critical. */
    snprintf(reply, sizeof(reply), "-MASTERDOWN Link with MASTER is down\r\n%s%s", s, r);
    fx->mode = FAKE_REPLY;
    fx->reply = reply;
    void *inst = init_with(fx, fake_addr(fx), NULL, NULL, &err);
    assert_non_null(inst);
    assert_int_equal(fo_plugin_entry.start(inst, on_done, fx), 0);
    run_until_done(fx, 1);
    assert_int_equal(fx->last.status, FO_STATUS_WARNING);
    fo_plugin_entry.destroy(inst);
    free(s);
    free(r);
}

static void test_run_garbage_unknown(void **state)
{
    struct fixture *fx = *state;
    struct fo_plugin_err err;
    fx->mode = FAKE_REPLY;
    fx->reply = "+PONG\r\n$5\r\nhello\r\n$3\r\nbye\r\n";
    void *inst = init_with(fx, fake_addr(fx), NULL, NULL, &err);
    assert_non_null(inst);
    assert_int_equal(fo_plugin_entry.start(inst, on_done, fx), 0);
    run_until_done(fx, 1);
    assert_int_equal(fx->last.status, FO_STATUS_UNKNOWN);
    fo_plugin_entry.destroy(inst);
}

static void test_run_connection_dropped(void **state)
{
    struct fixture *fx = *state;
    struct fo_plugin_err err;
    fx->mode = FAKE_CLOSE;
    void *inst = init_with(fx, fake_addr(fx), NULL, NULL, &err);
    assert_non_null(inst);
    assert_int_equal(fo_plugin_entry.start(inst, on_done, fx), 0);
    run_until_done(fx, 1);
    assert_int_equal(fx->last.status, FO_STATUS_CRITICAL);
    assert_non_null(strstr(fx->last.message, "connection lost"));
    fo_plugin_entry.destroy(inst);
}

static void test_run_refused(void **state)
{
    struct fixture *fx = *state;
    struct fo_plugin_err err;
    char addr[32];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", fx->port);
    uv_close((uv_handle_t *)&fx->server, NULL); /* nothing listens there any more */
    uv_run(&fx->loop, UV_RUN_NOWAIT);
    void *inst = init_with(fx, addr, NULL, NULL, &err);
    assert_non_null(inst);
    uint64_t t0 = uv_hrtime();
    assert_int_equal(fo_plugin_entry.start(inst, on_done, fx), 0);
    assert_int_equal(fx->ndone, 0);
    run_until_done(fx, 1);
    assert_int_equal(fx->last.status, FO_STATUS_CRITICAL);
    assert_non_null(strstr(fx->last.message, "refused"));
    /* Reported at once, not when the timeout fires (hiredis' own libuv adapter hangs here). */
    assert_true(uv_hrtime() - t0 < 500000000ull);
    fo_plugin_entry.destroy(inst);
}

/* A missing Unix socket fails inside redisAsyncConnectUnix, i.e. inside start(): the result
 * still comes from the loop. */
static void test_run_fails_in_start(void **state)
{
    struct fixture *fx = *state;
    struct fo_plugin_err err;
    void *inst = init_with(fx, "/nonexistent/redis.sock", NULL, NULL, &err);
    assert_non_null(inst);
    assert_int_equal(fo_plugin_entry.start(inst, on_done, fx), 0);
    assert_int_equal(fx->ndone, 0);
    run_until_done(fx, 1);
    assert_int_equal(fx->last.status, FO_STATUS_CRITICAL);
    assert_non_null(strstr(fx->last.message, "connect"));
    fo_plugin_entry.destroy(inst);
}

static void test_run_timeout_and_cancel(void **state)
{
    struct fixture *fx = *state;
    struct fo_plugin_err err;
    fx->mode = FAKE_SILENT;
    fx->target.timeout_ms = 300;
    void *inst = init_with(fx, fake_addr(fx), NULL, "pw", &err);
    assert_non_null(inst);
    uint64_t t0 = uv_hrtime();
    assert_int_equal(fo_plugin_entry.start(inst, on_done, fx), 0);
    run_until_done(fx, 1);
    double ms = (double)(uv_hrtime() - t0) / 1e6;
    assert_int_equal(fx->last.status, FO_STATUS_CRITICAL);
    assert_non_null(strstr(fx->last.message, "timeout"));
    assert_true(ms >= 200 && ms < 300);
    /* Cancel at several points: never a callback, no handle left (checked in teardown). */
    for (int i = 0; i < 4; i++) {
        assert_int_equal(fo_plugin_entry.start(inst, on_done, fx), 0);
        for (int j = 0; j < i; j++)
            uv_run(&fx->loop, UV_RUN_NOWAIT);
        fo_plugin_entry.cancel(inst);
        fo_plugin_entry.cancel(inst);
    }
    void *named = init_with(fx, "localhost:1", NULL, NULL, &err);
    assert_non_null(named);
    assert_int_equal(fo_plugin_entry.start(named, on_done, fx), 0);
    fo_plugin_entry.destroy(named); /* cancels with the resolver pending */
    assert_int_equal(fo_plugin_entry.start(inst, on_done, fx), 0);
    uv_run(&fx->loop, UV_RUN_NOWAIT);
    fo_plugin_entry.destroy(inst);
    for (int i = 0; i < 20; i++)
        uv_run(&fx->loop, UV_RUN_NOWAIT);
    assert_int_equal(fx->ndone, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_info_get),
        cmocka_unit_test(test_info_primary),
        cmocka_unit_test(test_info_replica_up),
        cmocka_unit_test(test_info_replica_down),
        cmocka_unit_test(test_info_garbage),
        cmocka_unit_test(test_entry),
        cmocka_unit_test_setup_teardown(test_init_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_primary, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_host_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_replica_down, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_error_replies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_masterdown_ping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_garbage_unknown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_connection_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_fails_in_start, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_timeout_and_cancel, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
