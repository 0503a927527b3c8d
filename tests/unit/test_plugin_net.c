/* Unit tests of the http, tcp, jsonrpc and exec check plugins: their pure parts (params, HTTP
 * verdicts, JSON-RPC batch parsing and judging, Nagios output and perfdata) and whole runs
 * against scripted servers on 127.0.0.1 and real child processes, through a fake host. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sys/stat.h>

#include "plugin_net_env.h"

/* The plugins are compiled in so that their static functions can be tested; each one's
 * exported entry gets its own name here. */
#define fo_plugin_entry fo__test_http
#include "../../plugins/http.c"
#undef fo_plugin_entry
#define fo_plugin_entry fo__test_tcp
#include "../../plugins/tcp.c"
#undef fo_plugin_entry
#define fo_plugin_entry fo__test_rpc
#include "../../plugins/jsonrpc.c"
#undef fo_plugin_entry
#define fo_plugin_entry fo__test_exec
#include "../../plugins/exec.c"
#undef fo_plugin_entry

static int setup(void **state)
{
    fo_env_setup();
    return 0;
}

static int teardown(void **state)
{
    /* Fails the test when a plugin left a handle open. */
    assert_int_equal(fo_env_teardown(), 0);
    return 0;
}

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

#define assert_msg_has(r, s)                                                                       \
    do {                                                                                           \
        if (!strstr((r)->message, (s)))                                                            \
            fail_msg("message '%s' lacks '%s'", (r)->message, (s));                                \
    } while (0)

/* ---- params.h ---- */

static void test_params(void **state)
{
    struct fo_plugin_err err;
    struct json_object *p = fo_env_json(
        "{\"a\":4096,\"b\":\"64k\",\"c\":\"4MiB\",\"d\":\"1.5k\",\"e\":\"64q\",\"f\":-1,"
        "\"g\":\"500ms\",\"h\":\"30s\",\"i\":0,\"j\":30,\"k\":\"2m\",\"l\":\"5x\",\"m\":\"yes\","
        "\"n\":1,\"o\":\"12\",\"p\":\"12a\",\"q\":\"1.5ms\",\"r\":\"1m30s\",\"s\":\"16MB\"}");
    static const char *const known[] = {"a", "b", NULL};
    uint64_t u = 7;
    int64_t i = 7;
    int b = 7;

    assert_int_equal(fo_param_size(&fo_env_host, p, "a", 1, 1u << 30, &u, &err), FO_PARAM_SET);
    assert_int_equal(u, 4096);
    assert_int_equal(fo_param_size(&fo_env_host, p, "b", 1, 1u << 30, &u, &err), FO_PARAM_SET);
    assert_int_equal(u, 65536);
    assert_int_equal(fo_param_size(&fo_env_host, p, "c", 1, 1u << 30, &u, &err), FO_PARAM_SET);
    assert_int_equal(u, 4u << 20);
    /* the configuration's size parser: whole numbers only, as everywhere else */
    assert_int_equal(fo_param_size(&fo_env_host, p, "d", 1, 1u << 30, &u, &err), FO_PARAM_BAD);
    assert_string_equal(err.field, "d");
    assert_int_equal(fo_param_size(&fo_env_host, p, "e", 1, 1u << 30, &u, &err), FO_PARAM_BAD);
    assert_string_equal(err.field, "e");
    assert_int_equal(fo_param_size(&fo_env_host, p, "f", 1, 1u << 30, &u, &err), FO_PARAM_BAD);
    assert_int_equal(fo_param_size(&fo_env_host, p, "c", 1, 1u << 20, &u, &err), FO_PARAM_BAD);
    u = 7;
    assert_int_equal(fo_param_size(&fo_env_host, p, "zz", 1, 10, &u, &err), FO_PARAM_ABSENT);
    assert_int_equal(u, 7);

    assert_int_equal(fo_param_duration(&fo_env_host, p, "g", 1u << 30, &u, &err), FO_PARAM_SET);
    assert_int_equal(u, 500);
    assert_int_equal(fo_param_duration(&fo_env_host, p, "h", 1u << 30, &u, &err), FO_PARAM_SET);
    assert_int_equal(u, 30000);
    assert_int_equal(fo_param_duration(&fo_env_host, p, "k", 1u << 30, &u, &err), FO_PARAM_SET);
    assert_int_equal(u, 120000);
    assert_int_equal(fo_param_duration(&fo_env_host, p, "i", 1u << 30, &u, &err), FO_PARAM_SET);
    assert_int_equal(u, 0);
    assert_int_equal(fo_param_duration(&fo_env_host, p, "j", 1u << 30, &u, &err), FO_PARAM_BAD);
    assert_int_equal(fo_param_duration(&fo_env_host, p, "l", 1u << 30, &u, &err), FO_PARAM_BAD);
    assert_int_equal(fo_param_duration(&fo_env_host, p, "h", 1000, &u, &err), FO_PARAM_BAD);
    /* the same parser as the rest of the configuration: no silent rounding, compound forms */
    assert_int_equal(fo_param_duration(&fo_env_host, p, "q", 1u << 30, &u, &err), FO_PARAM_BAD);
    assert_non_null(strstr(err.msg, "finer than a millisecond"));
    assert_int_equal(fo_param_duration(&fo_env_host, p, "r", 1u << 30, &u, &err), FO_PARAM_SET);
    assert_int_equal(u, 90000);
    assert_int_equal(fo_param_size(&fo_env_host, p, "s", 1, 1u << 30, &u, &err), FO_PARAM_BAD);

    assert_int_equal(fo_param_bool(p, "m", &b, &err), FO_PARAM_SET);
    assert_int_equal(b, 1);
    assert_int_equal(fo_param_bool(p, "n", &b, &err), FO_PARAM_BAD);
    assert_int_equal(fo_param_int(p, "o", 0, 100, &i, &err), FO_PARAM_SET);
    assert_int_equal(i, 12);
    assert_int_equal(fo_param_int(p, "o", 0, 10, &i, &err), FO_PARAM_BAD);
    assert_int_equal(fo_param_int(p, "p", 0, 100, &i, &err), FO_PARAM_BAD);
    assert_int_equal(fo_param_check_keys(p, known, &err), FO_PARAM_BAD);
    assert_string_equal(err.field, "c");
    assert_int_equal(fo_param_check_keys(fo_env_json("{\"a\":1}"), known, &err), 0);
    assert_int_equal(fo_param_check_keys(fo_env_json("[1]"), known, &err), FO_PARAM_BAD);

    assert_int_equal(fo_param_budget_ms(1000), 900);
    assert_int_equal(fo_param_budget_ms(10000), 9800);
    assert_int_equal(fo_param_budget_ms(1), 1);
    assert_int_equal(fo_param_budget_ms(0), 1);
}

/* ---- http ---- */

static void test_http_eval(void **state)
{
    struct fo_plugin_err err;
    struct fo__http_cfg cfg = {.max_body = 100};
    struct fo_result r;
    const char *body = "hello OK world";

    memset(&r, 0, sizeof(r));
    fo__http_eval(&cfg, CURLE_OK, "", 204, "", 0, 0, 0, &r);
    assert_int_equal(r.status, FO_STATUS_OK);
    assert_int_equal(fo_env_fact_i(&r, "http_status"), 204);
    assert_null(fo_env_fact(&r, "body_match"));
    memset(&r, 0, sizeof(r));
    fo__http_eval(&cfg, CURLE_OK, "", 404, body, 14, 14, 0, &r);
    assert_int_equal(r.status, FO_STATUS_CRITICAL);
    assert_string_equal(r.message, "HTTP 404, expected 200-399");

    assert_int_equal(
        fo__http_parse_status(fo_env_json("{\"expect_status\":[200,\"500-503\"]}"), &cfg, &err), 0);
    memset(&r, 0, sizeof(r));
    fo__http_eval(&cfg, CURLE_OK, "", 502, body, 14, 14, 0, &r);
    assert_int_equal(r.status, FO_STATUS_OK);
    memset(&r, 0, sizeof(r));
    fo__http_eval(&cfg, CURLE_OK, "", 302, body, 14, 14, 0, &r);
    assert_string_equal(r.message, "HTTP 302, expected 200,500-503");

    cfg.nranges = 0;
    cfg.match = "OK";
    memset(&r, 0, sizeof(r));
    fo__http_eval(&cfg, CURLE_OK, "", 200, body, 14, 14, 0, &r);
    assert_int_equal(r.status, FO_STATUS_OK);
    assert_int_equal(fo_env_fact_i(&r, "body_match"), 1);
    assert_int_equal(fo_env_fact_i(&r, "bytes"), 14);
    cfg.match = "NOPE";
    memset(&r, 0, sizeof(r));
    fo__http_eval(&cfg, CURLE_OK, "", 200, body, 14, 14, 0, &r);
    assert_int_equal(r.status, FO_STATUS_CRITICAL);
    assert_int_equal(fo_env_fact_i(&r, "body_match"), 0);
    assert_msg_has(&r, "does not match \"NOPE\"");

    /* A body cut at max_body is judged on what was kept. */
    cfg.match = "hello";
    memset(&r, 0, sizeof(r));
    fo__http_eval(&cfg, CURLE_WRITE_ERROR, "", 200, body, 14, 20, 1, &r);
    assert_int_equal(r.status, FO_STATUS_OK);
    assert_msg_has(&r, "truncated");

    assert_int_equal(regcomp(&cfg.re, "^hel+o [A-Z]+ w", REG_EXTENDED | REG_NOSUB), 0);
    cfg.use_regex = 1;
    memset(&r, 0, sizeof(r));
    fo__http_eval(&cfg, CURLE_OK, "", 200, body, 14, 14, 0, &r);
    assert_int_equal(r.status, FO_STATUS_OK);
    regfree(&cfg.re);
    cfg.use_regex = 0;

    /* The target's failures are critical; our own (memory, options) unknown. */
    memset(&r, 0, sizeof(r));
    fo__http_eval(&cfg, CURLE_COULDNT_CONNECT, "connection refused", 0, NULL, 0, 0, 0, &r);
    assert_int_equal(r.status, FO_STATUS_CRITICAL);
    assert_string_equal(r.message, "connection refused");
    memset(&r, 0, sizeof(r));
    fo__http_eval(&cfg, CURLE_PEER_FAILED_VERIFICATION, "cert", 0, NULL, 0, 0, 0, &r);
    assert_int_equal(r.status, FO_STATUS_CRITICAL);
    memset(&r, 0, sizeof(r));
    fo__http_eval(&cfg, CURLE_OUT_OF_MEMORY, "oom", 0, NULL, 0, 0, 0, &r);
    assert_int_equal(r.status, FO_STATUS_UNKNOWN);
    memset(&r, 0, sizeof(r));
    fo__http_eval(&cfg, CURLE_WRITE_ERROR, "oom", 200, NULL, 0, 0, 0, &r);
    assert_int_equal(r.status, FO_STATUS_UNKNOWN);
}

static void test_http_run(void **state)
{
    const struct fo_plugin *p = &fo__test_http;
    int port = fo_env_server(FO_ENV_HTTP);
    char url[128];
    struct fo_result r;
    struct fo_plugin_err err;
    struct fo_env_result out;

#define URL(path) (snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path), url)
    /* The same instance serves several runs. */
    void *inst = fo_env_init(p, URL("/ok"), "{\"body_match\":\"OK\"}", 1000, &err);
    assert_non_null(inst);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(fo_env_run(p, inst, &out, 3000), 0);
        assert_int_equal(out.calls, 1);
        assert_int_equal(out.r.status, FO_STATUS_OK);
        assert_int_equal(fo_env_fact_i(&out.r, "http_status"), 200);
        assert_int_equal(fo_env_fact_i(&out.r, "bytes"), 14);
        assert_int_equal(fo_env_fact_i(&out.r, "body_match"), 1);
        assert_true(out.r.latency_ms >= 0);
    }
    p->destroy(inst);
    assert_non_null(strstr(fo_env_last_request, "GET /ok HTTP/1.1"));

    r = fo_env_run_once(p, URL("/ok"), "{\"body_match\":\"NOPE\"}", 1000);
    assert_int_equal(r.status, FO_STATUS_CRITICAL);
    assert_msg_has(&r, "does not match");
    r = fo_env_run_once(p, URL("/503"), NULL, 1000);
    assert_int_equal(r.status, FO_STATUS_CRITICAL);
    assert_string_equal(r.message, "HTTP 503, expected 200-399");
    assert_int_equal(fo_env_fact_i(&r, "http_status"), 503);
    r = fo_env_run_once(p, URL("/503"), "{\"expect_status\":503}", 1000);
    assert_int_equal(r.status, FO_STATUS_OK);
    r = fo_env_run_once(p, URL("/ok"), "{\"body_regex\":\"^hello [A-Z]{2} \"}", 1000);
    assert_int_equal(r.status, FO_STATUS_OK);

    /* Bodies past max_body are cut (the transfer stops) and judged on what was kept. */
    r = fo_env_run_once(p, URL("/big"), "{\"body_match\":\"END\"}", 2000);
    assert_int_equal(r.status, FO_STATUS_CRITICAL);
    assert_msg_has(&r, "truncated");
    assert_true(fo_env_fact_i(&r, "bytes") >= 64 * 1024);
    r = fo_env_run_once(p, URL("/big"), "{\"body_match\":\"END\",\"max_body\":\"128k\"}", 2000);
    assert_int_equal(r.status, FO_STATUS_OK);
    assert_int_equal(fo_env_fact_i(&r, "bytes"), 100000);

    r = fo_env_run_once(p, URL("/ok"), "{\"method\":\"HEAD\"}", 1000);
    assert_int_equal(r.status, FO_STATUS_OK);
    assert_int_equal(fo_env_fact_i(&r, "bytes"), 0);
    assert_non_null(strstr(fo_env_last_request, "HEAD /ok"));
    r = fo_env_run_once(p, URL("/hdr"),
                        "{\"headers\":{\"X-Probe\":\"yes\"},\"body_match\":\"has-header\"}", 1000);
    assert_int_equal(r.status, FO_STATUS_OK);
    r = fo_env_run_once(p, URL("/redir"), NULL, 1000);
    assert_int_equal(r.status, FO_STATUS_OK);
    assert_int_equal(fo_env_fact_i(&r, "http_status"), 302);
    r = fo_env_run_once(p, URL("/redir"), "{\"follow_redirects\":true,\"body_match\":\"OK\"}",
                        1000);
    assert_int_equal(r.status, FO_STATUS_OK);
    assert_int_equal(fo_env_fact_i(&r, "http_status"), 200);

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", fo_env_refusing_port());
    r = fo_env_run_once(p, url, NULL, 1000);
    assert_int_equal(r.status, FO_STATUS_CRITICAL);
    assert_string_equal(r.message, "connection refused");

    /* The plugin's own timeout comes before the host's (90% of it) and says so. */
    r = fo_env_run_once(p, URL("/hang"), NULL, 300);
    assert_int_equal(r.status, FO_STATUS_CRITICAL);
    assert_string_equal(r.message, "timeout after 270 ms");

    /* After cancel, done is never called. */
    inst = fo_env_init(p, URL("/hang"), NULL, 300, &err);
    memset(&out, 0, sizeof(out));
    assert_int_equal(p->start(inst, fo_env_done, &out), 0);
    fo_env_spin(50);
    p->cancel(inst);
    fo_env_spin(500);
    assert_int_equal(out.calls, 0);
    p->destroy(inst);
#undef URL
}

/* Easy handles come from the plugin's pool: a run holds one only while in flight. */
static void test_http_pool(void **state)
{
    const struct fo_plugin *p = &fo__test_http;
    int port = fo_env_server(FO_ENV_HTTP);
    char url[128];
    struct fo_plugin_err err;
    struct fo_env_result out, outs[70];
    void *inst[70];
    unsigned long made0 = fo__http_pool.made;

#define URL(path) (snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path), url)
    assert_int_equal(fo__http_pool.ninst, 0);
    assert_int_equal(fo__http_pool.nidle, 0);

    /* Many runs of one instance, then of several in turn: one handle serves them all. */
    inst[0] = fo_env_init(p, URL("/ok"), "{\"body_match\":\"OK\"}", 1000, &err);
    assert_non_null(inst[0]);
    for (int i = 0; i < 20; i++) {
        assert_int_equal(fo_env_run(p, inst[0], &out, 3000), 0);
        assert_int_equal(out.calls, 1);
        assert_int_equal(out.r.status, FO_STATUS_OK);
    }
    for (int k = 1; k < 5; k++) {
        inst[k] = fo_env_init(p, URL("/ok"), NULL, 1000, &err);
        assert_non_null(inst[k]);
    }
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < 5; k++) {
            assert_int_equal(fo_env_run(p, inst[k], &out, 3000), 0);
            assert_int_equal(out.calls, 1);
            assert_int_equal(out.r.status, FO_STATUS_OK);
        }
    assert_int_equal(fo__http_pool.made - made0, 1);
    assert_int_equal(fo__http_pool.nidle, 1);

    /* Five at once need five handles; the next round reuses them. */
    for (int round = 0; round < 2; round++) {
        memset(outs, 0, sizeof(outs));
        for (int k = 0; k < 5; k++)
            assert_int_equal(p->start(inst[k], fo_env_done, &outs[k]), 0);
        assert_int_equal(fo__http_pool.nidle, 0);
        for (int t = 0; t < 300 && (outs[0].calls + outs[1].calls + outs[2].calls + outs[3].calls +
                                    outs[4].calls) < 5;
             t++)
            fo_env_spin(10);
        for (int k = 0; k < 5; k++) {
            assert_int_equal(outs[k].calls, 1);
            assert_int_equal(outs[k].r.status, FO_STATUS_OK);
        }
        assert_int_equal(fo__http_pool.made - made0, 5);
        assert_int_equal(fo__http_pool.nidle, 5);
    }

    /* Cancel then start again: the cancelled run never reports, the next one does. */
    memset(&outs[0], 0, sizeof(outs[0]));
    assert_int_equal(p->start(inst[0], fo_env_done, &outs[0]), 0);
    p->cancel(inst[0]);
    assert_int_equal(fo__http_pool.nidle, 5);
    assert_int_equal(fo_env_run(p, inst[0], &out, 3000), 0);
    assert_int_equal(out.calls, 1);
    assert_int_equal(out.r.status, FO_STATUS_OK);
    assert_int_equal(fo_env_fact_i(&out.r, "body_match"), 1);
    assert_int_equal(outs[0].calls, 0);
    /* A hanging run cancelled: its handle serves another instance's run at once. */
    void *hang = fo_env_init(p, URL("/hang"), NULL, 300, &err);
    assert_non_null(hang);
    memset(&outs[1], 0, sizeof(outs[1]));
    assert_int_equal(p->start(hang, fo_env_done, &outs[1]), 0);
    fo_env_spin(50);
    p->cancel(hang);
    assert_int_equal(fo_env_run(p, inst[1], &out, 3000), 0);
    assert_int_equal(out.r.status, FO_STATUS_OK);
    /* Destroyed with a run in flight: the handle goes back too. */
    assert_int_equal(p->start(hang, fo_env_done, &outs[1]), 0);
    fo_env_spin(50);
    p->destroy(hang);
    assert_int_equal(outs[1].calls, 0);
    assert_int_equal(fo__http_pool.made - made0, 5);
    assert_int_equal(fo__http_pool.nidle, 5);

    /* The idle pool is capped; the last instance gone frees it. (fo_env_init keeps only 16
     * targets: these share one.) */
    struct fo_target many = {.service = "s",
                             .member = "m",
                             .zone = "z",
                             .address = URL("/ok"),
                             .timeout_ms = 2000,
                             .interval_ms = 1000};
    for (int k = 5; k < 70; k++) {
        inst[k] = p->init(&fo_env_host, NULL, &many, &err);
        assert_non_null(inst[k]);
    }
    memset(outs, 0, sizeof(outs));
    for (int k = 0; k < 70; k++)
        assert_int_equal(p->start(inst[k], fo_env_done, &outs[k]), 0);
    assert_int_equal(fo__http_pool.made - made0, 70);
    for (int t = 0, n = 0; t < 500 && n < 70; t++) {
        fo_env_spin(10);
        n = 0;
        for (int k = 0; k < 70; k++)
            n += outs[k].calls;
    }
    for (int k = 0; k < 70; k++) {
        assert_int_equal(outs[k].calls, 1);
        assert_int_equal(outs[k].r.status, FO_STATUS_OK);
    }
    assert_int_equal(fo__http_pool.nidle, FO_CURL_POOL_MAX);
    for (int k = 0; k < 70; k++)
        p->destroy(inst[k]);
    assert_int_equal(fo__http_pool.ninst, 0);
    assert_int_equal(fo__http_pool.nidle, 0);
#undef URL
}

static void test_http_init_errors(void **state)
{
    const struct fo_plugin *p = &fo__test_http;
    const char *u = "http://127.0.0.1:9/";
    fo_env_init_fails(p, "127.0.0.1:80", NULL, "address");
    fo_env_init_fails(p, "ftp://127.0.0.1/", NULL, "address");
    fo_env_init_fails(p, u, "{\"bogus\":1}", "bogus");
    fo_env_init_fails(p, u, "{\"method\":\"POST\"}", "method");
    fo_env_init_fails(p, u, "{\"method\":\"HEAD\",\"body_match\":\"x\"}", "body_match");
    fo_env_init_fails(p, u, "{\"body_match\":\"x\",\"body_regex\":\"x\"}", "body_regex");
    fo_env_init_fails(p, u, "{\"body_regex\":\"(\"}", "body_regex");
    fo_env_init_fails(p, u, "{\"body_match\":\"\"}", "body_match");
    fo_env_init_fails(p, u, "{\"expect_status\":99}", "expect_status");
    fo_env_init_fails(p, u, "{\"expect_status\":[]}", "expect_status");
    fo_env_init_fails(p, u, "{\"expect_status\":\"300-200\"}", "expect_status");
    fo_env_init_fails(p, u, "{\"headers\":{\"Bad Name\":\"x\"}}", "headers");
    fo_env_init_fails(p, u, "{\"headers\":{\"X\":\"a\\r\\nInjected: 1\"}}", "headers");
    fo_env_init_fails(p, u, "{\"insecure\":\"maybe\"}", "insecure");
    fo_env_init_fails(p, u, "{\"max_body\":0}", "max_body");
    fo_env_init_fails(p, u, "{\"ca_file\":\"/nonexistent/ca.pem\"}", "ca_file");
}

/* ---- tcp ---- */

static void test_tcp_run(void **state)
{
    const struct fo_plugin *p = &fo__test_tcp;
    char addr[64];
    struct fo_result r;
    struct fo_plugin_err err;
    struct fo_env_result out;

#define ADDR(host, port) (snprintf(addr, sizeof(addr), "%s:%d", host, port), addr)
    int echo = fo_env_server(FO_ENV_ECHO), banner = fo_env_server(FO_ENV_BANNER);
    int silent = fo_env_server(FO_ENV_SILENT);

    r = fo_env_run_once(p, ADDR("127.0.0.1", echo), NULL, 1000);
    assert_int_equal(r.status, FO_STATUS_OK);
    assert_true(fo_env_fact_d(&r, "connect_ms") >= 0 && fo_env_fact_d(&r, "connect_ms") < 1000);
    r = fo_env_run_once(p, ADDR("localhost", echo), NULL, 1000); /* resolved on the thread pool */
    assert_int_equal(r.status, FO_STATUS_OK);
    r = fo_env_run_once(p, ADDR("127.0.0.1", fo_env_refusing_port()), NULL, 1000);
    assert_int_equal(r.status, FO_STATUS_CRITICAL);
    assert_string_equal(r.message, "connection refused");
    assert_null(fo_env_fact(&r, "connect_ms"));

    r = fo_env_run_once(p, ADDR("127.0.0.1", banner), "{\"expect\":\"220 \"}", 1000);
    assert_int_equal(r.status, FO_STATUS_OK);
    r = fo_env_run_once(p, ADDR("127.0.0.1", banner), "{\"expect\":\"XYZ\"}", 1000);
    assert_int_equal(r.status, FO_STATUS_CRITICAL);
    assert_msg_has(&r, "not found (11 bytes, then EOF)");
    r = fo_env_run_once(p, ADDR("127.0.0.1", echo), "{\"send\":\"PING\\r\\n\",\"expect\":\"PING\"}",
                        1000);
    assert_int_equal(r.status, FO_STATUS_OK);
    r = fo_env_run_once(p, ADDR("127.0.0.1", silent), "{\"send\":\"hello\"}", 1000);
    assert_int_equal(r.status, FO_STATUS_OK);
    r = fo_env_run_once(p, ADDR("127.0.0.1", silent), "{\"expect\":\"x\"}", 300);
    assert_int_equal(r.status, FO_STATUS_CRITICAL);
    assert_msg_has(&r, "no expected answer within 270 ms");

    void *inst = fo_env_init(p, ADDR("127.0.0.1", silent), "{\"expect\":\"x\"}", 300, &err);
    memset(&out, 0, sizeof(out));
    assert_int_equal(p->start(inst, fo_env_done, &out), 0);
    fo_env_spin(30);
    p->cancel(inst);
    p->destroy(inst); /* right after cancel: the run frees itself once its handles close */
    fo_env_spin(400);
    assert_int_equal(out.calls, 0);
#undef ADDR
}

static void test_tcp_init_errors(void **state)
{
    const struct fo_plugin *p = &fo__test_tcp;
    fo_env_init_fails(p, "127.0.0.1", NULL, "address");
    fo_env_init_fails(p, "127.0.0.1:0", NULL, "address");
    fo_env_init_fails(p, "127.0.0.1:70000", NULL, "address");
    fo_env_init_fails(p, "::1:80", NULL, "address");
    fo_env_init_fails(p, "127.0.0.1:80", "{\"tls\":true}", "tls");
    fo_env_init_fails(p, "127.0.0.1:80", "{\"expect\":\"\"}", "expect");
    fo_env_init_fails(p, "127.0.0.1:80", "{\"send\":5}", "send");
}

/* ---- jsonrpc ---- */

static int rpc_parse(const char *body, int want_chain, struct fo__rpc_obs *o, char *err)
{
    return fo__rpc_parse(body, strlen(body), want_chain, o, err, 160);
}

static void test_rpc_parse(void **state)
{
    struct fo__rpc_obs o;
    char err[160];
    /* ganache's order, with the latest block's usual fields. */
    const char *ganache =
        "[{\"id\":1,\"jsonrpc\":\"2.0\",\"result\":\"0x3\"},{\"id\":2,\"jsonrpc\":\"2.0\","
        "\"result\":false},{\"id\":3,\"jsonrpc\":\"2.0\",\"result\":\"0x0\"},{\"id\":4,"
        "\"jsonrpc\":\"2.0\",\"result\":{\"hash\":\"0x4d29038d3c06d4e776d4ed339a42f9fbdfbf75476c0b"
        "d0461042afc9291b0f08\",\"number\":\"0x3\",\"gasLimit\":\"0x1c9c380\",\"timestamp\":"
        "\"0x6b06bdd6\",\"transactions\":[],\"uncles\":[]}}]";
    assert_int_equal(rpc_parse(ganache, 0, &o, err), 0);
    assert_int_equal(o.head, 3);
    assert_int_equal(o.syncing, 0);
    assert_true(o.have_peers);
    assert_int_equal(o.peers, 0);
    assert_true(o.have_ts);
    assert_int_equal(o.head_ts, 0x6b06bdd6);

    /* Out of order, ids as strings, a syncing object, peers refused by the node. */
    const char *geth =
        "[{\"jsonrpc\":\"2.0\",\"id\":\"3\",\"error\":{\"code\":-32601,\"message\":\"the method "
        "net_peerCount does not exist/is not available\"}},{\"jsonrpc\":\"2.0\",\"id\":2,"
        "\"result\":{\"startingBlock\":\"0x0\",\"currentBlock\":\"0x1b4\",\"highestBlock\":"
        "\"0x1f40\"}},{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"0x1B4\"},{\"jsonrpc\":\"2.0\","
        "\"id\":4,\"result\":null},{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":\"0x1\"}]";
    assert_int_equal(rpc_parse(geth, 1, &o, err), 0);
    assert_int_equal(o.head, 436);
    assert_true(o.syncing && o.have_sync_blocks);
    assert_int_equal(o.sync_current, 436);
    assert_int_equal(o.sync_highest, 8000);
    assert_false(o.have_peers);
    assert_non_null(strstr(o.peers_err, "does not exist"));
    assert_non_null(strstr(o.peers_err, "-32601"));
    assert_false(o.have_ts);
    assert_true(o.have_chain);
    assert_int_equal(o.chain_id, 1);

    /* Sick answers: each one names what is wrong. */
    static const struct {
        const char *body;
        int chain;
        const char *why;
    } bad[] = {
        {"<html>502</html>", 0, "not JSON"},
        {"[{\"id\":1,\"result\":\"0x1\"}] x", 0, "not JSON"},
        {"{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600,\"message\":\"batch "
         "requests are disabled\"}}",
         0, "batch refused: batch requests are disabled (code -32600)"},
        {"{\"id\":1,\"result\":\"0x1\"}", 0, "not a batch"},
        {"[]", 0, "eth_blockNumber: no answer in the batch"},
        {"[{\"id\":1,\"error\":{\"code\":-32000,\"message\":\"header not found\"}},"
         "{\"id\":2,\"result\":false}]",
         0, "eth_blockNumber: header not found (code -32000)"},
        {"[{\"id\":1,\"result\":\"12\"},{\"id\":2,\"result\":false}]", 0,
         "eth_blockNumber: result"},
        {"[{\"id\":1,\"result\":\"0x\"},{\"id\":2,\"result\":false}]", 0, "eth_blockNumber"},
        {"[{\"id\":1,\"result\":\"0xzz\"},{\"id\":2,\"result\":false}]", 0, "eth_blockNumber"},
        {"[{\"id\":1,\"result\":\"0x8000000000000000\"},{\"id\":2,\"result\":false}]", 0,
         "eth_blockNumber"},
        {"[{\"id\":1,\"result\":\"0x1\"}]", 0, "eth_syncing: no answer"},
        {"[{\"id\":1,\"result\":\"0x1\"},{\"id\":2,\"result\":\"yes\"}]", 0, "eth_syncing"},
        {"[{\"id\":1,\"result\":\"0x1\"},{\"id\":2,\"result\":false}]", 1, "eth_chainId"},
    };
    for (size_t i = 0; i < N_ELEMS(bad); i++) {
        err[0] = '\0';
        if (rpc_parse(bad[i].body, bad[i].chain, &o, err) == 0)
            fail_msg("parsed: %s", bad[i].body);
        if (!strstr(err, bad[i].why))
            fail_msg("'%s' -> '%s', wanted '%s'", bad[i].body, err, bad[i].why);
    }
    /* Duplicated ids: the first counts. */
    assert_int_equal(rpc_parse("[{\"id\":1,\"result\":\"0x5\"},{\"id\":1,\"result\":\"0x9\"},"
                               "{\"id\":2,\"result\":false},{\"id\":77,\"result\":1}]",
                               0, &o, err),
                     0);
    assert_int_equal(o.head, 5);
}

static void test_rpc_eval(void **state)
{
    struct fo__rpc_cfg cfg = {.max_head_lag = 5};
    struct fo__rpc_track trk = {0};
    struct fo__rpc_obs o = {.head = 100, .have_peers = 1, .peers = 3};
    struct fo_result r;

    memset(&r, 0, sizeof(r));
    fo__rpc_eval(&cfg, &o, &trk, 10000, 1, 104, &r);
    assert_int_equal(r.status, FO_STATUS_OK);
    assert_string_equal(r.message, "head 100, lag 4, 3 peers");
    assert_int_equal(fo_env_fact_i(&r, "head"), 100);
    assert_int_equal(fo_env_fact_i(&r, "best_head"), 104);
    assert_int_equal(fo_env_fact_i(&r, "head_lag"), 4);
    assert_int_equal(fo_env_fact_i(&r, "peers"), 3);
    assert_int_equal(fo_env_fact_i(&r, "syncing"), 0);
    assert_true(fo_env_fact_d(&r, "head_age_s") == 0.0);

    /* Others behind us: we are the best. */
    memset(&r, 0, sizeof(r));
    fo__rpc_eval(&cfg, &o, &trk, 12000, 1, 90, &r);
    assert_int_equal(fo_env_fact_i(&r, "best_head"), 100);
    assert_int_equal(fo_env_fact_i(&r, "head_lag"), 0);
    assert_true(fo_env_fact_d(&r, "head_age_s") == 2.0);

    memset(&r, 0, sizeof(r));
    fo__rpc_eval(&cfg, &o, &trk, 12500, 1, 105, &r);
    assert_int_equal(r.status, FO_STATUS_OK); /* max_head_lag itself is still fine */
    memset(&r, 0, sizeof(r));
    fo__rpc_eval(&cfg, &o, &trk, 13000, 1, 106, &r);
    assert_int_equal(r.status, FO_STATUS_CRITICAL);
    assert_string_equal(r.message, "head 100 is 6 behind best 106 (max 5)");

    /* Stall: the age counts from when we saw the head change, and resets when it moves. */
    cfg.max_head_age_ms = 30000;
    memset(&r, 0, sizeof(r));
    fo__rpc_eval(&cfg, &o, &trk, 40000, 0, 0, &r);
    assert_int_equal(r.status, FO_STATUS_OK);
    memset(&r, 0, sizeof(r));
    fo__rpc_eval(&cfg, &o, &trk, 40001, 0, 0, &r);
    assert_int_equal(r.status, FO_STATUS_CRITICAL);
    assert_string_equal(r.message, "head 100 not advanced for 30.0s (max 30.0s)");
    o.head = 101;
    memset(&r, 0, sizeof(r));
    fo__rpc_eval(&cfg, &o, &trk, 41000, 0, 0, &r);
    assert_int_equal(r.status, FO_STATUS_OK);
    assert_true(fo_env_fact_d(&r, "head_age_s") == 0.0);

    /* Several reasons at once are all given. */
    cfg.min_peers = 5;
    cfg.want_chain = 1;
    cfg.chain_id = 1;
    o.syncing = 1;
    o.have_sync_blocks = 1;
    o.sync_current = 101;
    o.sync_highest = 900;
    o.have_chain = 1;
    o.chain_id = 1337;
    memset(&r, 0, sizeof(r));
    fo__rpc_eval(&cfg, &o, &trk, 42000, 0, 0, &r);
    assert_int_equal(r.status, FO_STATUS_CRITICAL);
    assert_string_equal(r.message, "chain id 1337, expected 1; syncing (block 101 of 900); "
                                   "3 peers, min 5");
    assert_int_equal(fo_env_fact_i(&r, "syncing"), 1);
    assert_int_equal(fo_env_fact_i(&r, "chain_id"), 1337);

    /* min_peers with a node that does not answer net_peerCount. */
    struct fo__rpc_obs np = {.head = 101};
    snprintf(np.peers_err, sizeof(np.peers_err), "method not found");
    cfg = (struct fo__rpc_cfg){.max_head_lag = 5, .min_peers = 1};
    memset(&r, 0, sizeof(r));
    fo__rpc_eval(&cfg, &np, &trk, 43000, 0, 0, &r);
    assert_string_equal(r.message, "net_peerCount: method not found");
    assert_null(fo_env_fact(&r, "peers"));
    cfg.min_peers = 0;
    memset(&r, 0, sizeof(r));
    fo__rpc_eval(&cfg, &np, &trk, 43000, 0, 0, &r);
    assert_int_equal(r.status, FO_STATUS_OK);
    assert_string_equal(r.message, "head 101, lag 0");
}

static void test_rpc_run(void **state)
{
    const struct fo_plugin *p = &fo__test_rpc;
    int port = fo_env_server(FO_ENV_HTTP);
    char url[128];
    struct fo_result r;

#define URL(path) (snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path), url)
    fo_env_best_head = 440;
    r = fo_env_run_once(p, URL("/rpc"), NULL, 1000);
    assert_int_equal(r.status, FO_STATUS_OK);
    assert_int_equal(fo_env_fact_i(&r, "head"), 0x1b4);
    assert_int_equal(fo_env_fact_i(&r, "peers"), 2);
    assert_int_equal(fo_env_fact_i(&r, "best_head"), 440);
    assert_int_equal(fo_env_fact_i(&r, "head_lag"), 4);
    assert_int_equal(fo_env_fact_i(&r, "head_timestamp"), 0x6553f100);
    assert_non_null(strstr(fo_env_last_request, "POST /rpc"));
    assert_non_null(strstr(fo_env_last_request, "application/json"));
    assert_non_null(strstr(fo_env_last_request, "\"method\":\"eth_blockNumber\""));
    assert_non_null(strstr(fo_env_last_request, "\"method\":\"net_peerCount\""));
    assert_null(strstr(fo_env_last_request, "eth_chainId"));

    fo_env_best_head = 442;
    r = fo_env_run_once(p, URL("/rpc"), NULL, 1000);
    assert_int_equal(r.status, FO_STATUS_CRITICAL);
    assert_msg_has(&r, "is 6 behind best 442");
    fo_env_best_head = -1;
    r = fo_env_run_once(p, URL("/rpc"), "{\"chain_id\":1337}", 1000);
    assert_int_equal(r.status, FO_STATUS_OK);
    assert_non_null(strstr(fo_env_last_request, "eth_chainId"));
    r = fo_env_run_once(p, URL("/rpc"), "{\"chain_id\":1}", 1000);
    assert_int_equal(r.status, FO_STATUS_CRITICAL);
    assert_string_equal(r.message, "chain id 1337, expected 1");
    r = fo_env_run_once(p, URL("/rpc-garbage"), NULL, 1000);
    assert_int_equal(r.status, FO_STATUS_CRITICAL);
    assert_msg_has(&r, "bad JSON-RPC answer: answer is not JSON");
    r = fo_env_run_once(p, URL("/rpc-500"), NULL, 1000);
    assert_int_equal(r.status, FO_STATUS_CRITICAL);
    assert_string_equal(r.message, "HTTP 500");
    r = fo_env_run_once(p, URL("/hang"), NULL, 300);
    assert_string_equal(r.message, "timeout after 270 ms");
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", fo_env_refusing_port());
    r = fo_env_run_once(p, url, NULL, 1000);
    assert_int_equal(r.status, FO_STATUS_CRITICAL);
    assert_string_equal(r.message, "connection refused");
#undef URL
}

static void test_rpc_pool(void **state)
{
    const struct fo_plugin *p = &fo__test_rpc;
    int port = fo_env_server(FO_ENV_HTTP);
    char url[128];
    struct fo_plugin_err err;
    struct fo_env_result out, first;
    void *inst[3];
    unsigned long made0 = fo__rpc_pool.made;

    assert_int_equal(fo__rpc_pool.ninst, 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/rpc", port);
    for (int k = 0; k < 3; k++) {
        inst[k] = fo_env_init(p, url, k ? NULL : "{\"chain_id\":1337}", 1000, &err);
        assert_non_null(inst[k]);
    }
    for (int i = 0; i < 10; i++)
        for (int k = 0; k < 3; k++) {
            assert_int_equal(fo_env_run(p, inst[k], &out, 3000), 0);
            assert_int_equal(out.calls, 1);
            assert_int_equal(out.r.status, FO_STATUS_OK);
            assert_int_equal(fo_env_fact_i(&out.r, "head"), 0x1b4);
            /* Each run sends its own instance's body, not the last user's of the handle. */
            if (k == 0)
                assert_non_null(strstr(fo_env_last_request, "eth_chainId"));
            else
                assert_null(strstr(fo_env_last_request, "eth_chainId"));
        }
    assert_int_equal(fo__rpc_pool.made - made0, 1);

    memset(&first, 0, sizeof(first));
    assert_int_equal(p->start(inst[1], fo_env_done, &first), 0);
    p->cancel(inst[1]);
    assert_int_equal(fo_env_run(p, inst[1], &out, 3000), 0);
    assert_int_equal(out.calls, 1);
    assert_int_equal(out.r.status, FO_STATUS_OK);
    assert_int_equal(first.calls, 0);
    assert_int_equal(p->start(inst[2], fo_env_done, &first), 0);
    p->destroy(inst[2]);
    assert_int_equal(first.calls, 0);
    assert_int_equal(fo__rpc_pool.made - made0, 1);
    p->destroy(inst[0]);
    p->destroy(inst[1]);
    assert_int_equal(fo__rpc_pool.nidle, 0);
}

static void test_rpc_init_errors(void **state)
{
    const struct fo_plugin *p = &fo__test_rpc;
    const char *u = "http://127.0.0.1:8545";
    fo_env_init_fails(p, "127.0.0.1:8545", NULL, "address");
    fo_env_init_fails(p, u, "{\"max_head_lag\":-1}", "max_head_lag");
    fo_env_init_fails(p, u, "{\"max_head_age\":30}", "max_head_age");
    fo_env_init_fails(p, u, "{\"min_peers\":\"x\"}", "min_peers");
    fo_env_init_fails(p, u, "{\"chain_id\":0}", "chain_id");
    fo_env_init_fails(p, u, "{\"blockTime\":1}", "blockTime");
}

/* ---- exec ---- */

static void test_exec_perfdata(void **state)
{
    struct fo_result r;
    const char *s = "time=0.000511s;;;0.000000;10.000000 'Free Space /'=87%;90;95;0;100 "
                    "'it''s'=3 b=U c= =5 d=1.5e3KB;; e=-2 f=12abc3 g=7;1 time=9 'unterminated=1";

    memset(&r, 0, sizeof(r));
    assert_int_equal(fo__exec_perfdata(s, strlen(s), &r), 6);
    assert_true(fo_env_fact_d(&r, "perf_time") == 0.000511);
    assert_true(fo_env_fact_d(&r, "perf_free_space") == 87);
    assert_true(fo_env_fact_d(&r, "perf_it_s") == 3);
    assert_true(fo_env_fact_d(&r, "perf_d") == 1500);
    assert_true(fo_env_fact_d(&r, "perf_e") == -2);
    assert_true(fo_env_fact_d(&r, "perf_g") == 7);
    assert_null(fo_env_fact(&r, "perf_b"));
    assert_null(fo_env_fact(&r, "perf_f"));

    /* Names stay within FO_FACT_NAME_MAX; facts stop at FO_FACTS_MAX. */
    memset(&r, 0, sizeof(r));
    const char *longname = "'a very long label that goes on and on and on'=1";
    fo__exec_perfdata(longname, strlen(longname), &r);
    assert_int_equal(r.nfacts, 1);
    assert_int_equal(strlen(r.facts[0].name), FO_FACT_NAME_MAX - 1);
    assert_int_equal(strncmp(r.facts[0].name, "perf_a_very_long_label", 22), 0);
    char many[2048] = "";
    for (int i = 0; i < 40; i++)
        snprintf(many + strlen(many), sizeof(many) - strlen(many), "m%d=%d ", i, i);
    memset(&r, 0, sizeof(r));
    assert_int_equal(fo__exec_perfdata(many, strlen(many), &r), FO_FACTS_MAX);
}

static void test_exec_verdict(void **state)
{
    struct fo_result r;
    const char *out = "  DISK OK - free space: / 3326 MB (56%) | /=2643MB;5948;5958;0;5968\n"
                      "long text | extra=1\n";

    memset(&r, 0, sizeof(r));
    fo__exec_verdict(0, 0, out, strlen(out), &r);
    assert_int_equal(r.status, FO_STATUS_OK);
    assert_string_equal(r.message, "DISK OK - free space: / 3326 MB (56%)");
    assert_int_equal(fo_env_fact_i(&r, "exit_code"), 0);
    assert_int_equal(r.nfacts, 1); /* "/" makes no name; long output's perfdata is not read */

    static const struct {
        int64_t code;
        int sig;
        const char *out;
        enum fo_status st;
        const char *msg;
    } cases[] = {
        {1, 0, "WARNING: load 5|load1=5;4;8", FO_STATUS_WARNING, "WARNING: load 5"},
        {2, 0, "CRITICAL: down\n", FO_STATUS_CRITICAL, "CRITICAL: down"},
        {3, 0, "", FO_STATUS_UNKNOWN, "exit 3, no output"},
        {0, 0, "|x=1", FO_STATUS_OK, "exit 0, no output"},
        {4, 0, "weird", FO_STATUS_UNKNOWN, "exit code 4: weird"},
        {127, 0, "", FO_STATUS_UNKNOWN, "exit code 127"},
        {0, 9, "OK", FO_STATUS_UNKNOWN, "killed by signal 9"},
    };
    for (size_t i = 0; i < N_ELEMS(cases); i++) {
        memset(&r, 0, sizeof(r));
        fo__exec_verdict(cases[i].code, cases[i].sig, cases[i].out, strlen(cases[i].out), &r);
        assert_int_equal(r.status, cases[i].st);
        assert_string_equal(r.message, cases[i].msg);
    }
    memset(&r, 0, sizeof(r));
    fo__exec_verdict(1, 0, "WARNING: load 5|load1=5;4;8", 27, &r);
    assert_true(fo_env_fact_d(&r, "perf_load1") == 5);
    /* A first line longer than a message is cut, not overflowed. */
    char big[600];
    memset(big, 'a', sizeof(big));
    memset(&r, 0, sizeof(r));
    fo__exec_verdict(0, 0, big, sizeof(big), &r);
    assert_int_equal(strlen(r.message), FO_MESSAGE_MAX - 1);
}

#define SH(script) "{\"argv\":[\"/bin/sh\",\"-c\",\"" script "\"]"

static void test_exec_run(void **state)
{
    const struct fo_plugin *p = &fo__test_exec;
    struct fo_result r;
    static const char *const names[] = {"ok", "warning", "critical", "unknown"};

    for (int code = 0; code <= 3; code++) {
        char params[160];
        snprintf(params, sizeof(params), SH("echo %s: code %d; exit %d") "}", names[code], code,
                 code);
        r = fo_env_run_once(p, "localhost", params, 2000);
        assert_int_equal(r.status, code);
        assert_int_equal(fo_env_fact_i(&r, "exit_code"), code);
        assert_msg_has(&r, names[code]);
    }
    r = fo_env_run_once(p, "localhost", SH("echo odd; exit 42") "}", 2000);
    assert_int_equal(r.status, FO_STATUS_UNKNOWN);
    assert_string_equal(r.message, "exit code 42: odd");
    r = fo_env_run_once(p, "localhost", SH("kill -TERM $$") "}", 2000);
    assert_int_equal(r.status, FO_STATUS_UNKNOWN);
    assert_string_equal(r.message, "killed by signal 15");

    /* Only the configured environment (plus PATH and the C locale) reaches the child. */
    setenv("FO_TEST_SECRET", "leak", 1);
    r = fo_env_run_once(p, "localhost",
                        SH("echo \\\"OK $FOO/${FO_TEST_SECRET:-none}/$LC_ALL | 'my val'=3.5ms;1;2 "
                           "rta=0.5\\\"") ",\"env\":{\"FOO\":\"bar\"}}",
                        2000);
    unsetenv("FO_TEST_SECRET");
    assert_int_equal(r.status, FO_STATUS_OK);
    assert_string_equal(r.message, "OK bar/none/C");
    assert_true(fo_env_fact_d(&r, "perf_my_val") == 3.5);
    assert_true(fo_env_fact_d(&r, "perf_rta") == 0.5);

    /* Output past max_output is read and dropped, so the child never blocks on a full pipe. */
    r = fo_env_run_once(p, "localhost",
                        SH("head -c 300000 /dev/zero | tr '\\\\0' y; exit 1") ",\"max_output\":16}",
                        3000);
    assert_int_equal(r.status, FO_STATUS_WARNING);
    assert_string_equal(r.message, "yyyyyyyyyyyyyyyy");
}

static void test_exec_kill(void **state)
{
    const struct fo_plugin *p = &fo__test_exec;
    struct fo_result r;
    struct fo_plugin_err err;
    struct fo_env_result out;
    char params[512], pidfile[64], tool[64];
    uint64_t t0;

    snprintf(pidfile, sizeof(pidfile), "/tmp/fo-test-exec-%d.pid", (int)getpid());
    /* A timeout kills the child and what it started (the whole process group). */
    snprintf(params, sizeof(params), SH("sleep 30 & echo $! > %s; wait") "}", pidfile);
    t0 = uv_hrtime();
    r = fo_env_run_once(p, "localhost", params, 300);
    assert_int_equal(r.status, FO_STATUS_CRITICAL);
    assert_string_equal(r.message, "timed out after 270 ms (killed)");
    assert_true(uv_hrtime() - t0 < 2000000000ull);
    fo_env_spin(100);
    assert_int_equal(fo_env_pid_alive(pidfile), 0);

    /* A child that exits while something it started holds stdout: judged after a short grace. */
    snprintf(params, sizeof(params), SH("sleep 30 & echo $! > %s; echo OK forked") "}", pidfile);
    r = fo_env_run_once(p, "localhost", params, 5000);
    assert_int_equal(r.status, FO_STATUS_OK);
    assert_string_equal(r.message, "OK forked");
    assert_true(r.latency_ms < 2000);
    fo_env_spin(100);
    assert_int_equal(fo_env_pid_alive(pidfile), 0);

    /* Cancel: no done, child killed, handles closed (teardown checks). */
    snprintf(params, sizeof(params), SH("echo $$ > %s; exec sleep 30") "}", pidfile);
    void *inst = fo_env_init(p, "localhost", params, 5000, &err);
    assert_non_null(inst);
    memset(&out, 0, sizeof(out));
    assert_int_equal(p->start(inst, fo_env_done, &out), 0);
    fo_env_spin(200);
    assert_int_equal(fo_env_pid_alive(pidfile), 1);
    p->cancel(inst);
    p->destroy(inst);
    fo_env_spin(200);
    assert_int_equal(out.calls, 0);
    assert_int_equal(fo_env_pid_alive(pidfile), 0);
    unlink(pidfile);

    /* The program disappears after init: unknown, not critical (our side is broken). */
    snprintf(tool, sizeof(tool), "/tmp/fo-test-exec-%d.sh", (int)getpid());
    FILE *f = fopen(tool, "w");
    fputs("#!/bin/sh\necho OK\n", f);
    fclose(f);
    chmod(tool, 0755);
    snprintf(params, sizeof(params), "{\"argv\":[\"%s\"]}", tool);
    inst = fo_env_init(p, "localhost", params, 1000, &err);
    assert_non_null(inst);
    assert_int_equal(fo_env_run(p, inst, &out, 3000), 0);
    assert_int_equal(out.r.status, FO_STATUS_OK);
    unlink(tool);
    assert_int_equal(fo_env_run(p, inst, &out, 3000), 0);
    assert_int_equal(out.calls, 1);
    assert_int_equal(out.r.status, FO_STATUS_UNKNOWN);
    assert_msg_has(&out.r, "cannot execute");
    p->destroy(inst);
}

static void test_exec_init_errors(void **state)
{
    const struct fo_plugin *p = &fo__test_exec;
    fo_env_init_fails(p, "x", NULL, "argv");
    fo_env_init_fails(p, "x", "{\"argv\":[]}", "argv");
    fo_env_init_fails(p, "x", "{\"argv\":\"/bin/true\"}", "argv");
    fo_env_init_fails(p, "x", "{\"argv\":[\"true\"]}", "argv");
    fo_env_init_fails(p, "x", "{\"argv\":[\"/bin/true\", 5]}", "argv");
    fo_env_init_fails(p, "x", "{\"argv\":[\"/nonexistent/check\"]}", "argv");
    fo_env_init_fails(p, "x", "{\"argv\":[\"/bin/true\"],\"env\":{\"A B\":\"x\"}}", "env");
    fo_env_init_fails(p, "x", "{\"argv\":[\"/bin/true\"],\"env\":[\"A=1\"]}", "env");
    fo_env_init_fails(p, "x", "{\"argv\":[\"/bin/true\"],\"max_output\":\"2GiB\"}", "max_output");
    fo_env_init_fails(p, "x", "{\"argv\":[\"/bin/true\"],\"shell\":true}", "shell");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_params, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_eval, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_pool, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_init_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tcp_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tcp_init_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rpc_parse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rpc_eval, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rpc_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rpc_pool, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rpc_init_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_perfdata, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_verdict, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_kill, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_init_errors, setup, teardown),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
