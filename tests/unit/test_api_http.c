/* Unit tests of the API's HTTP server on a real libuv loop, with a libcurl client thread:
 * routing (404, 405), tokens and roles (401, 403), the body cap (413), deferred answers,
 * connection timeouts driven by our uv_timer, refusal logging, and closing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "api/http.h"
#include "api/metrics.h"
#include "api/status.h"
#include "core/clock.h"
#include "core/log.h"

/* One service with one member, enough for /v1/status and /metrics to have content. */
static struct fo_member_def one_def = {"pg1", "z1", "127.0.0.1:5432", NULL, 0, 100, NULL};
static struct fo_service_def one_svc = {
    .name = "orders-db", .kind = "postgres", .members = &one_def, .nmembers = 1};
static struct fo_sched_member one_mem = {.service = &one_svc, .member = &one_def};

static int one_nservices(const void *ctx)
{
    return 1;
}
static const struct fo_service_def *one_service(const void *ctx, int i)
{
    return &one_svc;
}
static int one_nmembers(const void *ctx, int s)
{
    return 1;
}
static const struct fo_sched_member *one_member(const void *ctx, int s, int m)
{
    return &one_mem;
}

static const struct fo_checks_src one_src = {one_nservices, one_service, one_nmembers, one_member,
                                             NULL,          NULL,        NULL};

/* The string at a dotted path ("services.0.name"); fails the test when absent. */
static const char *gets(struct json_object *o, const char *path)
{
    char buf[256], *save = NULL;
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *k = strtok_r(buf, ".", &save); k; k = strtok_r(NULL, ".", &save)) {
        if (json_object_is_type(o, json_type_array))
            o = json_object_array_get_idx(o, (size_t)atoi(k));
        else if (!json_object_object_get_ex(o, k, &o))
            fail_msg("no key %s in %s", k, path);
    }
    assert_true(json_object_is_type(o, json_type_string));
    return json_object_get_string(o);
}

struct res {
    long code;
    int curl_rc;
    char body[262144];
    size_t blen;
    char allow[128];
    char www[128];
    char ctype[128];
};

struct srv {
    uv_loop_t loop;
    uv_async_t done;
    uv_timer_t timer;
    struct fo_api *api;
    uint64_t pending;
    int reply_rc;
    int close_on_defer;
    int read_needs_token;
    int64_t idle_closed_ms; /* when the idle connection was closed; 0: it was not */
    struct fo_agent_info ai;
    struct fo_status_src src;
    int port;
    struct res r[24];
    void (*script)(struct srv *s);
    uv_check_t turn;
    uint64_t turns;         /* loop iterations so far */
    int streams_made;       /* streamed answers handed to the server */
    int streams_done;       /* ... and their done calls */
    uint64_t fill_turn[16]; /* the loop iteration of each fill of /v1/big */
    int nfills;
};

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
    struct res *r = arg;
    size_t len = sz * n, room = sizeof(r->body) - 1 - r->blen;
    memcpy(r->body + r->blen, p, len < room ? len : room);
    r->blen += len < room ? len : room;
    r->body[r->blen] = '\0';
    return len;
}

static void keep_header(char *dst, size_t n, const char *line, size_t len, const char *name)
{
    size_t nl = strlen(name);
    if (len > nl && strncasecmp(line, name, nl) == 0) {
        size_t v = len - nl;
        while (v && (line[nl + v - 1] == '\r' || line[nl + v - 1] == '\n'))
            v--;
        snprintf(dst, n, "%.*s", (int)v, line + nl);
    }
}

static size_t on_header(char *p, size_t sz, size_t n, void *arg)
{
    struct res *r = arg;
    keep_header(r->allow, sizeof(r->allow), p, sz * n, "Allow: ");
    keep_header(r->www, sizeof(r->www), p, sz * n, "WWW-Authenticate: ");
    keep_header(r->ctype, sizeof(r->ctype), p, sz * n, "Content-Type: ");
    return sz * n;
}

struct upload {
    size_t left;
};

static size_t on_read(char *p, size_t sz, size_t n, void *arg)
{
    struct upload *u = arg;
    size_t len = sz * n < u->left ? sz * n : u->left;
    memset(p, 'x', len);
    u->left -= len;
    return len;
}

/* One request from the client thread. auth: full Authorization value or NULL. body_len with a
 * NULL body sends that many bytes chunked (no Content-Length). */
static void req(struct srv *s, struct res *r, const char *method, const char *path,
                const char *auth, const char *body, size_t body_len)
{
    char url[256], hdr[256];
    memset(r, 0, sizeof(*r));
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", s->port, path);
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    struct upload up = {body_len};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    h = curl_slist_append(h, "Expect:");
    if (auth) {
        snprintf(hdr, sizeof(hdr), "Authorization: %s", auth);
        h = curl_slist_append(h, hdr);
    }
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (strcmp(method, "POST") == 0 && body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    } else if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, &up);
        h = curl_slist_append(h, "Transfer-Encoding: chunked");
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    r->curl_rc = (int)curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->code);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
}

static void *client_main(void *arg)
{
    struct srv *s = arg;
    s->script(s);
    uv_async_send(&s->done);
    return NULL;
}

static void on_done(uv_async_t *a)
{
    struct srv *s = a->data;
    fo_api_close(s->api);
    uv_close((uv_handle_t *)&s->turn, NULL);
    uv_close((uv_handle_t *)&s->done, NULL);
    uv_close((uv_handle_t *)&s->timer, NULL);
}

static void echo_handler(struct fo_api_req *rq, struct fo_api_resp *resp, void *arg)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "actor", json_object_new_string(rq->actor));
    json_object_object_add(o, "role", json_object_new_string(fo_api_role_name(rq->role)));
    json_object_object_add(o, "rest", json_object_new_string(rq->rest));
    json_object_object_add(o, "len", json_object_new_int((int)rq->body_len));
    const char *q = fo_api_req_query(rq, "x");
    json_object_object_add(o, "x", q ? json_object_new_string(q) : NULL);
    fo_api_resp_json(resp, 200, o);
}

static void on_reply_timer(uv_timer_t *t)
{
    struct srv *s = t->data;
    if (s->close_on_defer) {
        fo_api_close(s->api);
        s->api = NULL;
        return;
    }
    struct fo_api_resp resp = {0};
    fo_api_resp_error(&resp, 202, "committed");
    s->reply_rc = fo_api_reply(s->api, s->pending, &resp);
}

static void slow_handler(struct fo_api_req *rq, struct fo_api_resp *resp, void *arg)
{
    struct srv *s = arg;
    s->pending = fo_api_defer(rq);
    assert_true(s->pending != 0);
    uv_timer_start(&s->timer, on_reply_timer, 50, 0);
}

/* api.refused events seen, and when the first and last came */
static int refused_events;
static int64_t refused_first, refused_last;

static void on_event(enum fo_log_level level, const char *kind, const char *const *kv, int nkv,
                     void *arg)
{
    if (strcmp(kind, "api.refused") != 0)
        return;
    for (int i = 0; i < nkv; i++) /* never a token in the log */
        assert_true(!strstr(kv[i], "s3cret") && !strstr(kv[i], "wrong") &&
                    !strstr(kv[i], "view-token"));
    refused_last = fo_clock_mono_ms();
    if (!refused_events++)
        refused_first = refused_last;
}

static struct fo_token_cfg tokens[] = {
    {"ops", FO_ROLE_OPERATOR, "s3cret-op"},
    {"viewer", FO_ROLE_READ, "view-token"},
    {"empty", FO_ROLE_ADMIN, ""},          /* ignored: an empty secret never matches */
    {"anonymous", FO_ROLE_ADMIN, "adm1n"}, /* a token's name is only a name */
};

static struct fo_token_cfg rotated[] = {{"new-op", FO_ROLE_OPERATOR, "n3w"}};

/* Token reload while serving, as the daemon does it on SIGHUP. */
static void rotate_handler(struct fo_api_req *rq, struct fo_api_resp *resp, void *arg)
{
    fo_api_set_tokens(rq->api, rotated, 1);
    fo_api_resp_error(resp, 200, "rotated");
}

/* A streamed body: `parts` parts of FO_API_STREAM_PART bytes, part i all 'a' + i; cut: the
 * fill after the last part fails instead of ending. */
struct gen {
    struct srv *s;
    int part, parts, cut, record;
};

#define BIG_PARTS 5

static int gen_fill(void *state, struct fo_metrics_buf *out)
{
    struct gen *g = state;
    if (g->record && g->s->nfills < 16)
        g->s->fill_turn[g->s->nfills++] = g->s->turns;
    if (g->part == g->parts)
        return g->cut ? -1 : 0;
    char chunk[FO_API_STREAM_PART];
    memset(chunk, 'a' + g->part, sizeof(chunk));
    fo_metrics_put(out, chunk, sizeof(chunk));
    g->part++;
    return g->part < g->parts || g->cut ? 1 : 0;
}

static void gen_done(void *state)
{
    struct gen *g = state;
    g->s->streams_done++;
    free(g);
}

static void gen_stream(struct srv *s, struct fo_api_resp *resp, int parts, int cut, int record)
{
    struct gen *g = calloc(1, sizeof(*g));
    *g = (struct gen){s, 0, parts, cut, record};
    s->streams_made++;
    resp->code = 200;
    resp->content_type = "text/plain";
    resp->stream = (struct fo_api_stream){gen_fill, gen_done, g};
}

static void big_handler(struct fo_api_req *rq, struct fo_api_resp *resp, void *arg)
{
    gen_stream(arg, resp, BIG_PARTS, 0, 1);
}

static void cut_handler(struct fo_api_req *rq, struct fo_api_resp *resp, void *arg)
{
    gen_stream(arg, resp, 2, 1, 0);
}

static void on_stream_timer(uv_timer_t *t)
{
    struct srv *s = t->data;
    struct fo_api_resp resp = {0};
    gen_stream(s, &resp, 3, 0, 0);
    s->reply_rc = fo_api_reply(s->api, s->pending, &resp);
}

/* Deferred; its stream made before defer is dropped, the one in the reply is sent. */
static void slowstream_handler(struct fo_api_req *rq, struct fo_api_resp *resp, void *arg)
{
    struct srv *s = arg;
    gen_stream(s, resp, 1, 0, 0);
    s->pending = fo_api_defer(rq);
    uv_timer_start(&s->timer, on_stream_timer, 20, 0);
}

static void on_turn(uv_check_t *c)
{
    ((struct srv *)c->data)->turns++;
}

static void serve(struct srv *s, void (*script)(struct srv *))
{
    assert_int_equal(uv_loop_init(&s->loop), 0);
    struct fo_api_cfg cfg = {.listen = "127.0.0.1:0",
                             .tokens = tokens,
                             .ntokens = 4,
                             .conn_timeout_s = 1,
                             .read_needs_token = s->read_needs_token};
    struct fo_err err = {0};
    s->api = fo_api_new(&s->loop, &cfg, &err);
    assert_non_null(s->api);
    s->ai = (struct fo_agent_info){.id = "az1", .zone = "z1", .version = "9.9"};
    s->src = (struct fo_status_src){&s->ai, one_src, NULL, NULL};
    assert_int_equal(
        fo_api_route(s->api, "GET", "/v1/status", FO_ROLE_READ, fo_status_handler, &s->src), 0);
    assert_int_equal(
        fo_api_route(s->api, "GET", "/metrics", FO_ROLE_READ, fo_metrics_handler, &s->src), 0);
    assert_int_equal(fo_api_route(s->api, "POST", "/v1/cmd/", FO_ROLE_OPERATOR, echo_handler, s),
                     0);
    assert_int_equal(fo_api_route(s->api, "POST", "/v1/slow", FO_ROLE_OPERATOR, slow_handler, s),
                     0);
    assert_int_equal(fo_api_route(s->api, "POST", "/v1/cmd/", FO_ROLE_ADMIN, echo_handler, s),
                     -FO_EEXIST);
    assert_int_equal(fo_api_route(s->api, "POST", "/v1/rotate", FO_ROLE_ADMIN, rotate_handler, s),
                     0);
    assert_int_equal(fo_api_route(s->api, "GET", "/v1/big", FO_ROLE_READ, big_handler, s), 0);
    assert_int_equal(fo_api_route(s->api, "GET", "/v1/cut", FO_ROLE_READ, cut_handler, s), 0);
    assert_int_equal(
        fo_api_route(s->api, "POST", "/v1/slowstream", FO_ROLE_OPERATOR, slowstream_handler, s), 0);
    assert_int_equal(fo_api_start(s->api, &err), 0);
    s->port = fo_api_port(s->api);
    uv_check_init(&s->loop, &s->turn);
    s->turn.data = s;
    uv_check_start(&s->turn, on_turn);
    assert_true(s->port > 0);
    uv_timer_init(&s->loop, &s->timer);
    s->timer.data = s;
    uv_async_init(&s->loop, &s->done, on_done);
    s->done.data = s;
    s->script = script;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, client_main, s), 0);
    int64_t t0 = uv_now(&s->loop);
    uv_run(&s->loop, UV_RUN_DEFAULT); /* returns once the api and our handles are closed */
    pthread_join(th, NULL);
    assert_true(uv_now(&s->loop) - t0 < 20000);
    assert_int_equal(uv_loop_close(&s->loop), 0);
}

static void script_main(struct srv *s)
{
    static char big[100 * 1024];
    memset(big, 'x', sizeof(big));
    struct res *r = s->r;
    req(s, &r[0], "GET", "/v1/status", NULL, NULL, 0);
    req(s, &r[1], "GET", "/nope", NULL, NULL, 0);
    req(s, &r[2], "POST", "/v1/status", NULL, "{}", 2);
    req(s, &r[3], "POST", "/v1/cmd/pause", NULL, "{}", 2);
    req(s, &r[4], "POST", "/v1/cmd/pause", "Bearer wrong", "{}", 2);
    req(s, &r[5], "POST", "/v1/cmd/pause", "Bearer view-token", "{}", 2);
    req(s, &r[6], "POST", "/v1/cmd/pause?x=1", "Bearer s3cret-op", "hello", 5);
    req(s, &r[7], "POST", "/v1/cmd/pause", "Bearer s3cret-op", big, sizeof(big));
    req(s, &r[8], "POST", "/v1/cmd/pause", "Bearer s3cret-op", NULL, sizeof(big));
    req(s, &r[9], "POST", "/v1/cmd/x", "bearer  s3cret-op ", big, 64 * 1024);
    req(s, &r[10], "POST", "/v1/slow", "Bearer s3cret-op", "{}", 2);
    req(s, &r[11], "HEAD", "/v1/status", NULL, NULL, 0);
    req(s, &r[12], "GET", "/v1/status", "Basic b3BzOnMzY3JldA==", NULL, 0);
    req(s, &r[13], "POST", "/v1/cmd/pause", "Bearer ", "{}", 2);
    req(s, &r[14], "GET", "/v1/status/", NULL, NULL, 0);
    req(s, &r[15], "GET", "/metrics", NULL, NULL, 0);
    req(s, &r[16], "POST", "/v1/cmd/pause", "Bearer s3cret-op", NULL, 4 << 20);
    req(s, &r[17], "GET", "/v1/status", NULL, NULL, 0);
    /* an idle connection is closed after the connection timeout (1 s here): MHD's timeouts
     * are driven by our uv_timer */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    int64_t t0 = fo_clock_mono_ms();
    char c;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && send(fd, "GET /", 5, 0) == 5 &&
        recv(fd, &c, 1, 0) == 0)
        s->idle_closed_ms = fo_clock_mono_ms() - t0;
    close(fd);
}

static void test_http_server(void **state)
{
    static struct srv s;
    memset(&s, 0, sizeof(s));
    serve(&s, script_main);
    struct res *r = s.r;
    for (int i = 0; i <= 17; i++)
        if (i != 16)
            assert_int_equal(r[i].curl_rc, 0);
    assert_int_equal(r[0].code, 200);
    assert_string_equal(r[0].ctype, "application/json");
    struct json_object *j = json_tokener_parse(r[0].body);
    assert_non_null(j);
    assert_string_equal(gets(j, "agent.id"), "az1");
    assert_string_equal(gets(j, "services.0.members.0.name"), "pg1");
    json_object_put(j);
    assert_int_equal(r[1].code, 404);
    assert_int_equal(r[2].code, 405);
    assert_string_equal(r[2].allow, "GET, HEAD");
    assert_int_equal(r[3].code, 401);
    assert_string_equal(r[3].www, "Bearer realm=\"failoverd\"");
    assert_int_equal(r[4].code, 403);
    assert_int_equal(r[5].code, 403); /* valid token, read role */
    assert_int_equal(r[6].code, 200);
    j = json_tokener_parse(r[6].body);
    assert_string_equal(gets(j, "actor"), "ops");
    assert_string_equal(gets(j, "role"), "operator");
    assert_string_equal(gets(j, "rest"), "pause");
    assert_string_equal(gets(j, "x"), "1");
    struct json_object *len;
    assert_true(json_object_object_get_ex(j, "len", &len));
    assert_int_equal(json_object_get_int(len), 5);
    json_object_put(j);
    assert_int_equal(r[7].code, 413); /* Content-Length over the cap */
    /* chunked, no length: refused once it outgrows the cap */
    assert_int_equal(r[8].code, 413);
    assert_int_equal(r[9].code, 200);  /* exactly the cap is fine; lower-case scheme too */
    assert_int_equal(r[10].code, 202); /* deferred, answered from a timer */
    assert_string_equal(r[10].body, "{\"error\":\"committed\"}\n");
    assert_int_equal(s.reply_rc, 0);
    assert_int_equal(r[11].code, 200);
    assert_int_equal(r[11].blen, 0);
    assert_int_equal(r[12].code, 401); /* not a bearer token */
    assert_int_equal(r[13].code, 403); /* empty bearer never matches the empty secret */
    assert_int_equal(r[14].code, 404); /* exact routes do not match below them */
    assert_int_equal(r[15].code, 200);
    assert_string_equal(r[15].ctype, FO_METRICS_CONTENT_TYPE);
    assert_non_null(strstr(r[15].body, "failoverd_http_requests_total{code=\"404\"} 2\n"));
    assert_non_null(strstr(r[15].body, "failoverd_http_requests_total{code=\"403\"} 3\n"));
    assert_non_null(strstr(r[15].body, "failoverd_api_refused_total 5\n"));
    /* five refusals, logged at most once a second */
    assert_true(refused_events >= 1);
    assert_true(refused_events <= 1 + (refused_last - refused_first) / 1000);
    assert_non_null(strstr(r[15].body, "failoverd_build_info{version=\"9.9\"} 1\n"));
    /* a chunked body far past the cap: the connection is closed; the server goes on */
    assert_int_not_equal(r[16].curl_rc, 0);
    assert_int_equal(r[17].code, 200);
    assert_in_range(s.idle_closed_ms, 500, 4000);
    /* the api is closed: its families are gone from the registry */
    struct fo_metrics_buf b = {0};
    fo_metrics_render(&b, "1", &one_src);
    char *text = fo_metrics_buf_take(&b, NULL);
    assert_null(strstr(text, "failoverd_http_requests_total"));
    free(text);
}

static void script_hang(struct srv *s)
{
    req(s, &s->r[0], "POST", "/v1/slow", "Bearer s3cret-op", "{}", 2);
    req(s, &s->r[1], "GET", "/v1/status", NULL, NULL, 0);
}

/* Closing the server answers a deferred request with 503 and a late reply finds nothing. */
static void test_http_close_with_deferred(void **state)
{
    static struct srv s;
    memset(&s, 0, sizeof(s));
    s.close_on_defer = 1;
    serve(&s, script_hang);
    assert_int_equal(s.r[0].code, 503);
    assert_int_not_equal(s.r[1].curl_rc, 0); /* nobody listens any more */
}

static void script_tokens(struct srv *s)
{
    req(s, &s->r[0], "GET", "/v1/status", NULL, NULL, 0);
    req(s, &s->r[1], "GET", "/v1/status", "Bearer view-token", NULL, 0);
    req(s, &s->r[2], "POST", "/v1/rotate", "Bearer s3cret-op", "{}", 2);
    req(s, &s->r[3], "POST", "/v1/rotate", "Bearer adm1n", "{}", 2);
    req(s, &s->r[4], "GET", "/v1/status", "Bearer view-token", NULL, 0);
    req(s, &s->r[5], "POST", "/v1/cmd/x", "Bearer n3w", "{}", 2);
}

/* read_needs_token makes the read role need a token too; a token reload applies at once. */
static void test_http_read_token_and_reload(void **state)
{
    static struct srv s;
    memset(&s, 0, sizeof(s));
    s.read_needs_token = 1;
    serve(&s, script_tokens);
    assert_int_equal(s.r[0].code, 401);
    assert_int_equal(s.r[1].code, 200);
    assert_int_equal(s.r[2].code, 403); /* operator < admin */
    assert_int_equal(s.r[3].code, 200);
    assert_int_equal(s.r[4].code, 403); /* the old tokens are gone */
    assert_int_equal(s.r[5].code, 200);
    struct json_object *j = json_tokener_parse(s.r[5].body);
    assert_string_equal(gets(j, "actor"), "new-op");
    json_object_put(j);
}

static void script_stream(struct srv *s)
{
    req(s, &s->r[0], "GET", "/v1/big", NULL, NULL, 0);
    req(s, &s->r[1], "GET", "/v1/cut", NULL, NULL, 0);
    req(s, &s->r[2], "HEAD", "/v1/big", NULL, NULL, 0);
    req(s, &s->r[3], "POST", "/v1/slowstream", "Bearer s3cret-op", "{}", 2);
    req(s, &s->r[4], "GET", "/v1/status", NULL, NULL, 0);
}

/* Streamed bodies arrive whole and in order, part by part over several loop turns; a fill
 * that fails cuts the answer so that the client sees an error, not a short body; every stream
 * is finished exactly once, sent or not. */
static void test_http_stream(void **state)
{
    static struct srv s;
    memset(&s, 0, sizeof(s));
    serve(&s, script_stream);
    struct res *r = s.r;
    assert_int_equal(r[0].curl_rc, 0);
    assert_int_equal(r[0].code, 200);
    assert_string_equal(r[0].ctype, "text/plain");
    assert_int_equal(r[0].blen, BIG_PARTS * FO_API_STREAM_PART);
    for (size_t i = 0; i < r[0].blen; i++)
        if (r[0].body[i] != 'a' + (int)(i / FO_API_STREAM_PART))
            fail_msg("byte %zu is %c", i, r[0].body[i]);
    /* one part per loop turn, however fast the client reads: the loop runs checks between */
    assert_true(s.nfills >= BIG_PARTS);
    for (int i = 1; i < s.nfills; i++)
        assert_true(s.fill_turn[i] > s.fill_turn[i - 1]);
    assert_int_not_equal(r[1].curl_rc, 0); /* cut: an unterminated chunked body */
    assert_int_equal(r[1].code, 200);
    assert_true(r[1].blen <= 2 * FO_API_STREAM_PART);
    assert_int_equal(r[2].curl_rc, 0);
    assert_int_equal(r[2].code, 200);
    assert_int_equal(r[2].blen, 0);
    assert_int_equal(r[3].curl_rc, 0);
    assert_int_equal(r[3].code, 200);
    assert_int_equal(r[3].blen, 3 * FO_API_STREAM_PART);
    assert_int_equal(s.reply_rc, 0);
    assert_int_equal(r[4].code, 200);
    assert_int_equal(s.streams_made, 5);
    assert_int_equal(s.streams_done, s.streams_made);
}

static void test_http_listen_errors(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    static const char *const bad[] = {"nonsense", "127.0.0.1:99999", "example.com:80",
                                      "[::1]80",  "1:2:3",           "127.0.0.1:"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct fo_api_cfg cfg = {.listen = bad[i]};
        struct fo_err err = {0};
        assert_null(fo_api_new(&loop, &cfg, &err));
        assert_non_null(strstr(err.msg, bad[i]));
    }
    /* the second server on one port names the address and the reason */
    struct fo_err err = {0};
    struct fo_api_cfg cfg = {.listen = "127.0.0.1:0"};
    struct fo_api *a = fo_api_new(&loop, &cfg, &err);
    assert_int_equal(fo_api_start(a, &err), 0);
    char listen[64];
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", fo_api_port(a));
    cfg.listen = listen;
    struct fo_api *b = fo_api_new(&loop, &cfg, &err);
    assert_int_not_equal(fo_api_start(b, &err), 0);
    assert_non_null(strstr(err.msg, "in use"));
    fo_api_close(b);
    fo_api_close(a);
    cfg.listen = "[::1]:0";
    a = fo_api_new(&loop, &cfg, &err);
    assert_non_null(a);
    fo_api_close(a); /* never started: freed at once */
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    fo_log_setup(FO_LOG_ERROR, FO_LOG_LOGFMT, NULL);
    fo_event_subscribe(on_event, NULL);
    curl_global_init(CURL_GLOBAL_ALL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_listen_errors),
        cmocka_unit_test(test_http_server),
        cmocka_unit_test(test_http_close_with_deferred),
        cmocka_unit_test(test_http_read_token_and_reload),
        cmocka_unit_test(test_http_stream),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
