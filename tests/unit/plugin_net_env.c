/* Test environment for the network plugins: fake host, scripted servers, running one check.
 * The fake http_start performs the transfer in libuv's thread pool with curl_easy_perform: the
 * real shared multi handle is tested with src/check/http_host.c; here only the plugins are. */
#include "plugin_net_env.h"

#include <setjmp.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdatomic.h>
#include <curl/curl.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/cfgfield.h"

#define FO_ENV_MAX_SERVERS 8
#define FO_ENV_MAX_JSON    16

uv_loop_t fo_env_loop;
int64_t fo_env_best_head = -1;
char fo_env_last_request[8192];

struct fo_env_xfer {
    uv_work_t work;
    void *easy;
    fo_http_done_fn done;
    void *arg;
    int rc;
    int cancelled;
    atomic_int performed; /* curl_easy_perform returned in the thread */
    struct fo_env_xfer *next;
};

struct fo_env_srv {
    uv_tcp_t tcp;
    enum fo_env_srv_mode mode;
};

struct fo_env_conn {
    uv_tcp_t tcp;
    struct fo_env_conn *prev, *next;
    struct fo_env_srv *srv;
    char req[8192];
    size_t len;
    int answered;
};

static struct fo_env_xfer *fo_env_xfers;
static struct fo_env_srv *fo_env_srvs[FO_ENV_MAX_SERVERS];
static int fo_env_nsrv;
static int fo_env_refusing[FO_ENV_MAX_SERVERS];
static int fo_env_nrefusing;
static struct json_object *fo_env_jsons[FO_ENV_MAX_JSON];
static int fo_env_njson;
static char *fo_env_addrs[FO_ENV_MAX_JSON];
static int fo_env_naddr;
static struct fo_env_conn fo_env_conns = {.prev = &fo_env_conns, .next = &fo_env_conns};

/* ---- the fake host ---- */

static void fo_env_log(enum fo_log_level level, const char *plugin, const char *fmt, ...)
{
    (void)level;
    (void)plugin;
    (void)fmt;
}

static void fo_env_xfer_work(uv_work_t *w)
{
    struct fo_env_xfer *x = w->data;
    x->rc = (int)curl_easy_perform(x->easy);
    atomic_store(&x->performed, 1);
}

static void fo_env_xfer_after(uv_work_t *w, int status)
{
    struct fo_env_xfer *x = w->data;
    for (struct fo_env_xfer **pp = &fo_env_xfers; *pp; pp = &(*pp)->next)
        if (*pp == x) {
            *pp = x->next;
            break;
        }
    if (!x->cancelled)
        x->done(x->easy, x->rc, x->arg);
    free(x);
}

static int fo_env_http_start(void *easy, fo_http_done_fn done, void *arg)
{
    struct fo_env_xfer *x = calloc(1, sizeof(*x));
    if (!x)
        return -1;
    x->easy = easy;
    x->done = done;
    x->arg = arg;
    x->work.data = x;
    x->next = fo_env_xfers;
    fo_env_xfers = x;
    return uv_queue_work(&fo_env_loop, &x->work, fo_env_xfer_work, fo_env_xfer_after);
}

/* The transfer in the thread runs to its end (bounded by its timeout), but done is not called.
 * Like the real host, this returns only once the handle is no longer used, so that the plugin
 * may reuse or free it at once: it waits for the thread's perform to return. */
static void fo_env_http_cancel(void *easy)
{
    for (struct fo_env_xfer *x = fo_env_xfers; x; x = x->next)
        if (x->easy == easy && !x->cancelled) {
            x->cancelled = 1;
            while (!atomic_load(&x->performed))
                usleep(1000);
        }
}

static int fo_env_best(void *self, const char *fact, int64_t *out)
{
    if (fo_env_best_head < 0 || strcmp(fact, "head") != 0)
        return -1;
    *out = fo_env_best_head;
    return 0;
}

struct fo_host fo_env_host = {
    .abi_major = FO_PLUGIN_ABI_MAJOR,
    .abi_minor = FO_PLUGIN_ABI_MINOR,
    .loop = &fo_env_loop,
    .log = fo_env_log,
    .http_start = fo_env_http_start,
    .http_cancel = fo_env_http_cancel,
    .service_best_int = fo_env_best,
    .parse_duration = fo_cfg_parse_duration,
    .parse_size = fo_cfg_parse_size,
};

/* ---- scripted servers ---- */

static void fo_env_free_handle(uv_handle_t *h)
{
    free(h->data);
}

static void fo_env_conn_closed(uv_handle_t *h)
{
    struct fo_env_conn *c = h->data;
    c->prev->next = c->next;
    c->next->prev = c->prev;
    free(c);
}

static void fo_env_conn_close(struct fo_env_conn *c)
{
    if (!uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, fo_env_conn_closed);
}

static void fo_env_written(uv_write_t *w, int status)
{
    struct fo_env_conn *c = w->data;
    free(w);
    if (c->srv->mode != FO_ENV_ECHO)
        fo_env_conn_close(c);
}

static void fo_env_send(struct fo_env_conn *c, const char *data, size_t len)
{
    uv_write_t *w = malloc(sizeof(*w) + len);
    uv_buf_t b = uv_buf_init((char *)(w + 1), (unsigned)len);
    memcpy(w + 1, data, len);
    w->data = c;
    uv_write(w, (uv_stream_t *)&c->tcp, &b, 1, fo_env_written);
}

static void fo_env_http_answer(struct fo_env_conn *c, const char *status, const char *extra,
                               const char *body, size_t blen)
{
    char head[512];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %s\r\nContent-Length: %zu\r\nConnection: close\r\n%s\r\n", status,
                     blen, extra);
    char *all = malloc((size_t)n + blen);
    memcpy(all, head, (size_t)n);
    memcpy(all + n, body, blen);
    fo_env_send(c, all, (size_t)n + blen);
    free(all);
}

#define FO_ENV_RPC_OK                                                                              \
    "[{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":\"0x2\"},"                                          \
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"0x1b4\"},"                                         \
    "{\"jsonrpc\":\"2.0\",\"id\":4,\"result\":{\"number\":\"0x1b4\",\"timestamp\":\"0x6553f100\"," \
    "\"transactions\":[]}},{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":false},"                       \
    "{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":\"0x539\"}]"

/* Paths: /ok, /503, /big (100000 bytes), /redir (302 to /ok), /hdr (says whether X-Probe came),
 * /hang (no answer), /rpc (a node at head 0x1b4), /rpc-garbage (200, not JSON), /rpc-500. */
static void fo_env_http_route(struct fo_env_conn *c)
{
    char path[128] = "";
    sscanf(c->req, "%*s %127s", path);
    snprintf(fo_env_last_request, sizeof(fo_env_last_request), "%s", c->req);
    if (strcmp(path, "/ok") == 0) {
        fo_env_http_answer(c, "200 OK", "", "hello OK world", 14);
    } else if (strcmp(path, "/503") == 0) {
        fo_env_http_answer(c, "503 Service Unavailable", "", "down", 4);
    } else if (strcmp(path, "/big") == 0) {
        char *big = malloc(100000);
        memset(big, 'x', 100000);
        memcpy(big + 99990, "END", 3);
        fo_env_http_answer(c, "200 OK", "", big, 100000);
        free(big);
    } else if (strcmp(path, "/redir") == 0) {
        fo_env_http_answer(c, "302 Found", "Location: /ok\r\n", "", 0);
    } else if (strcmp(path, "/hdr") == 0) {
        const char *b = strcasestr(c->req, "\r\nX-Probe: yes\r\n") ? "has-header" : "no-header";
        fo_env_http_answer(c, "200 OK", "", b, strlen(b));
    } else if (strcmp(path, "/hang") == 0) {
        return;
    } else if (strcmp(path, "/rpc") == 0) {
        fo_env_http_answer(c, "200 OK", "Content-Type: application/json\r\n", FO_ENV_RPC_OK,
                           strlen(FO_ENV_RPC_OK));
    } else if (strcmp(path, "/rpc-garbage") == 0) {
        fo_env_http_answer(c, "200 OK", "", "<html>oops</html>", 17);
    } else if (strcmp(path, "/rpc-500") == 0) {
        fo_env_http_answer(c, "500 Internal Server Error", "", "{}", 2);
    } else {
        fo_env_http_answer(c, "404 Not Found", "", "no", 2);
    }
}

/* Complete once the headers and Content-Length bytes of body are in. */
static int fo_env_http_complete(struct fo_env_conn *c)
{
    const char *end = strstr(c->req, "\r\n\r\n");
    const char *cl = strcasestr(c->req, "\r\nContent-Length:");
    size_t want = 0;
    if (!end)
        return 0;
    if (cl && cl < end)
        want = strtoul(cl + 17, NULL, 10);
    return c->len >= (size_t)(end + 4 - c->req) + want;
}

static void fo_env_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct fo_env_conn *c = h->data;
    size_t room = sizeof(c->req) - 1 - c->len;
    buf->base = c->req + c->len;
    buf->len = room ? room : 0;
}

static void fo_env_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct fo_env_conn *c = s->data;
    if (n < 0) {
        fo_env_conn_close(c);
        return;
    }
    if (c->srv->mode == FO_ENV_ECHO) {
        fo_env_send(c, buf->base, (size_t)n);
        return;
    }
    c->len += (size_t)n;
    c->req[c->len] = '\0';
    if (c->srv->mode == FO_ENV_HTTP && !c->answered && fo_env_http_complete(c)) {
        c->answered = 1;
        fo_env_http_route(c);
    }
}

static void fo_env_accept(uv_stream_t *server, int status)
{
    struct fo_env_srv *srv = server->data;
    struct fo_env_conn *c = calloc(1, sizeof(*c));
    if (status < 0 || !c) {
        free(c);
        return;
    }
    c->srv = srv;
    uv_tcp_init(&fo_env_loop, &c->tcp);
    c->tcp.data = c;
    c->next = &fo_env_conns;
    c->prev = fo_env_conns.prev;
    c->prev->next = c;
    fo_env_conns.prev = c;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
        fo_env_conn_close(c);
        return;
    }
    if (srv->mode == FO_ENV_BANNER)
        fo_env_send(c, "220 ready\r\n", 11);
    else
        uv_read_start((uv_stream_t *)&c->tcp, fo_env_alloc, fo_env_read);
}

int fo_env_server(enum fo_env_srv_mode mode)
{
    struct fo_env_srv *srv = calloc(1, sizeof(*srv));
    struct sockaddr_in sa;
    struct sockaddr_storage bound;
    int len = sizeof(bound);

    srv->mode = mode;
    uv_tcp_init(&fo_env_loop, &srv->tcp);
    srv->tcp.data = srv;
    uv_ip4_addr("127.0.0.1", 0, &sa);
    if (uv_tcp_bind(&srv->tcp, (const struct sockaddr *)&sa, 0) < 0 ||
        uv_listen((uv_stream_t *)&srv->tcp, 64, fo_env_accept) < 0 ||
        uv_tcp_getsockname(&srv->tcp, (struct sockaddr *)&bound, &len) < 0)
        abort();
    fo_env_srvs[fo_env_nsrv++] = srv;
    return ntohs(((struct sockaddr_in *)&bound)->sin_port);
}

int fo_env_refusing_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
        abort();
    fo_env_refusing[fo_env_nrefusing++] = fd;
    return ntohs(sa.sin_port);
}

/* ---- running checks ---- */

void fo_env_setup(void)
{
    if (uv_loop_init(&fo_env_loop) != 0)
        abort();
    fo_env_nsrv = fo_env_nrefusing = fo_env_njson = 0;
    fo_env_best_head = -1;
    fo_env_last_request[0] = '\0';
}

int fo_env_teardown(void)
{
    for (int i = 0; i < fo_env_nsrv; i++)
        uv_close((uv_handle_t *)&fo_env_srvs[i]->tcp, fo_env_free_handle);
    for (int i = 0; i < fo_env_nrefusing; i++)
        close(fo_env_refusing[i]);
    for (int i = 0; i < fo_env_njson; i++)
        json_object_put(fo_env_jsons[i]);
    for (int i = 0; i < fo_env_naddr; i++)
        free(fo_env_addrs[i]);
    fo_env_nsrv = fo_env_nrefusing = fo_env_njson = fo_env_naddr = 0;
    /* Server connections still open (a silent server's) are ours to close; plugin handles are
     * not: they must all be closed by now (or soon: a killed child's exit, a transfer still in
     * the thread pool), which uv_loop_close checks after a bounded wait. */
    for (struct fo_env_conn *c = fo_env_conns.next; c != &fo_env_conns; c = c->next)
        fo_env_conn_close(c);
    uint64_t deadline = uv_hrtime() + 3000000000ull;
    while (uv_loop_alive(&fo_env_loop) && uv_hrtime() < deadline) {
        uv_run(&fo_env_loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
    return uv_loop_close(&fo_env_loop);
}

struct json_object *fo_env_json(const char *text)
{
    struct json_object *j;
    if (!text || !*text)
        return NULL;
    j = json_tokener_parse(text);
    if (!j)
        abort();
    fo_env_jsons[fo_env_njson++] = j;
    return j;
}

void *fo_env_init(const struct fo_plugin *p, const char *address, const char *params,
                  uint32_t timeout_ms, struct fo_plugin_err *err)
{
    static struct fo_target t;
    char *addr = strdup(address);
    fo_env_addrs[fo_env_naddr++] = addr;
    t = (struct fo_target){.service = "svc",
                           .member = "m1",
                           .zone = "z1",
                           .address = addr,
                           .params = fo_env_json(params),
                           .timeout_ms = timeout_ms,
                           .interval_ms = 1000};
    memset(err, 0, sizeof(*err));
    return p->init(&fo_env_host, (void *)&t, &t, err);
}

void fo_env_done(void *cookie, const struct fo_result *r)
{
    struct fo_env_result *o = cookie;
    o->calls++;
    o->r = *r;
}

int fo_env_run(const struct fo_plugin *p, void *inst, struct fo_env_result *out, int max_ms)
{
    uint64_t deadline = uv_hrtime() + (uint64_t)max_ms * 1000000u;
    int rc;
    memset(out, 0, sizeof(*out));
    rc = p->start(inst, fo_env_done, out);
    if (rc < 0)
        return rc;
    while (!out->calls && uv_hrtime() < deadline)
        fo_env_spin(10);
    return 0;
}

static void fo_env_tick(uv_timer_t *t)
{
    (void)t;
}

void fo_env_spin(int ms)
{
    uv_timer_t t;
    uint64_t deadline = uv_hrtime() + (uint64_t)ms * 1000000u;
    uv_timer_init(&fo_env_loop, &t);
    uv_timer_start(&t, fo_env_tick, 5, 5);
    while (uv_hrtime() < deadline)
        uv_run(&fo_env_loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&fo_env_loop, UV_RUN_NOWAIT);
}

const struct fo_fact *fo_env_fact(const struct fo_result *r, const char *name)
{
    return fo_result_get(r, name);
}

int64_t fo_env_fact_i(const struct fo_result *r, const char *name)
{
    const struct fo_fact *f = fo_env_fact(r, name);
    if (!f)
        fail_msg("no fact %s (message: %s)", name, r->message);
    return f->i;
}

double fo_env_fact_d(const struct fo_result *r, const char *name)
{
    const struct fo_fact *f = fo_env_fact(r, name);
    if (!f)
        fail_msg("no fact %s (message: %s)", name, r->message);
    return f->d;
}

struct fo_result fo_env_run_once(const struct fo_plugin *p, const char *addr, const char *params,
                                 uint32_t timeout_ms)
{
    struct fo_plugin_err err;
    struct fo_env_result out;
    void *inst = fo_env_init(p, addr, params, timeout_ms, &err);
    if (!inst)
        fail_msg("init %s %s: %s: %s", addr, params ? params : "", err.field, err.msg);
    assert_int_equal(fo_env_run(p, inst, &out, (int)timeout_ms + 2000), 0);
    assert_int_equal(out.calls, 1);
    p->destroy(inst);
    return out.r;
}

void fo_env_init_fails(const struct fo_plugin *p, const char *addr, const char *params,
                       const char *field)
{
    struct fo_plugin_err err;
    void *inst = fo_env_init(p, addr, params, 1000, &err);
    if (inst) {
        p->destroy(inst);
        fail_msg("init %s %s should fail on %s", addr, params ? params : "", field);
    }
    assert_string_equal(err.field, field);
    assert_true(err.msg[0] != '\0');
}

int fo_env_pid_alive(const char *pidfile)
{
    FILE *f = fopen(pidfile, "r");
    char path[64], state = 'X';
    int pid = 0;
    if (!f)
        return -1;
    if (fscanf(f, "%d", &pid) != 1)
        pid = 0;
    fclose(f);
    if (pid <= 0)
        return -1;
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    if (!(f = fopen(path, "r")))
        return 0;
    if (fscanf(f, "%*d (%*[^)]) %c", &state) != 1)
        state = 'X';
    fclose(f);
    return state != 'Z' && state != 'X';
}
