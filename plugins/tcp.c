/* Check plugin `tcp`: connects to host:port (a name is resolved with uv_getaddrinfo), optionally
 * sends a string and looks for an expected substring in the first bytes read. Each run owns its
 * libuv handles and frees itself once they are closed, so cancel and destroy never wait. */

/*
 * address: host:port or [ipv6]:port; a name is resolved on each run (uv_getaddrinfo) and its
 * first address is used. params:
 *   send    string written once connected
 *   expect  substring expected within the first 4096 bytes read
 * facts: connect_ms (double, once connected). Critical on refusal ("connection refused"), other
 * connect errors, resolution failures, timeouts, or an answer without `expect`. No TLS.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "params.h"

#define FO__TCP_READ_MAX 4096 /* how much of the answer `expect` is searched in */

struct fo__tcp_run;

struct fo__tcp {
    const struct fo_host *host;
    char *hostname; /* as configured, without brackets */
    char port[8];
    struct sockaddr_storage addr; /* valid when numeric */
    int numeric;
    char *send;
    size_t send_len;
    char *expect;
    uint32_t budget_ms;
    struct fo__tcp_run *run; /* the run in flight, NULL when idle */
};

struct fo__tcp_run {
    struct fo__tcp *inst; /* NULL once cancelled or finished */
    fo_check_done_fn done;
    void *cookie;
    uv_getaddrinfo_t gai;
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_connect_t connect;
    uv_write_t write;
    int handles; /* handles not yet closed */
    int gai_active;
    int tcp_open;
    int connected;
    int finished;
    uint64_t t0_ns;
    double connect_ms;
    char buf[FO__TCP_READ_MAX + 1];
    size_t len;
    struct fo_result result;
};

static void fo__tcp_closed(uv_handle_t *h)
{
    struct fo__tcp_run *run = h->data;
    if (--run->handles > 0)
        return;
    /* Every handle is closed: only now is the result delivered (if nobody cancelled), so that
     * the host may destroy the instance or stop the loop from inside done. A resolution still
     * in the thread pool only holds the run's memory; its callback frees it. */
    if (run->inst) {
        run->inst->run = NULL;
        run->inst = NULL;
        run->done(run->cookie, &run->result);
    }
    if (!run->gai_active)
        free(run);
}

static void fo__tcp_close_all(struct fo__tcp_run *run)
{
    if (run->gai_active)
        uv_cancel((uv_req_t *)&run->gai);
    if (!uv_is_closing((uv_handle_t *)&run->timer))
        uv_close((uv_handle_t *)&run->timer, fo__tcp_closed);
    if (run->tcp_open && !uv_is_closing((uv_handle_t *)&run->tcp))
        uv_close((uv_handle_t *)&run->tcp, fo__tcp_closed);
}

static void fo__tcp_finish(struct fo__tcp_run *run, enum fo_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fo__tcp_finish(struct fo__tcp_run *run, enum fo_status status, const char *fmt, ...)
{
    va_list ap;
    if (run->finished)
        return;
    run->finished = 1;
    run->result.status = status;
    va_start(ap, fmt);
    vsnprintf(run->result.message, sizeof(run->result.message), fmt, ap);
    va_end(ap);
    run->result.latency_ms = (double)(uv_hrtime() - run->t0_ns) / 1e6;
    if (run->connected)
        fo_result_double(&run->result, "connect_ms", run->connect_ms);
    fo__tcp_close_all(run);
}

static void fo__tcp_fail_uv(struct fo__tcp_run *run, const char *what, int rc)
{
    if (rc == UV_ECONNREFUSED)
        fo__tcp_finish(run, FO_STATUS_CRITICAL, "connection refused");
    else if (rc == UV_ENOMEM)
        fo__tcp_finish(run, FO_STATUS_UNKNOWN, "%s: %s", what, uv_strerror(rc));
    else
        fo__tcp_finish(run, FO_STATUS_CRITICAL, "%s: %s", what, uv_strerror(rc));
}

static void fo__tcp_timeout(uv_timer_t *t)
{
    struct fo__tcp_run *run = t->data;
    struct fo__tcp *in = run->inst;
    uint32_t ms = in ? in->budget_ms : 0;
    if (!run->connected)
        fo__tcp_finish(run, FO_STATUS_CRITICAL, "connect timeout after %u ms", ms);
    else
        fo__tcp_finish(run, FO_STATUS_CRITICAL, "no %s within %u ms (%zu bytes read)",
                       in && in->expect ? "expected answer" : "completion", ms, run->len);
}

static void fo__tcp_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct fo__tcp_run *run = h->data;
    buf->base = run->buf + run->len;
    buf->len = FO__TCP_READ_MAX - run->len;
}

static void fo__tcp_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct fo__tcp_run *run = s->data;
    struct fo__tcp *in = run->inst;

    if (run->finished || !in)
        return;
    if (n > 0) {
        run->len += (size_t)n;
        run->buf[run->len] = '\0';
        if (memmem(run->buf, run->len, in->expect, strlen(in->expect))) {
            fo__tcp_finish(run, FO_STATUS_OK, "connected in %.1f ms, answer matches",
                           run->connect_ms);
            return;
        }
        if (run->len < FO__TCP_READ_MAX)
            return;
        fo__tcp_finish(run, FO_STATUS_CRITICAL, "expected \"%.60s\" not in the first %d bytes",
                       in->expect, FO__TCP_READ_MAX);
    } else if (n == UV_EOF) {
        fo__tcp_finish(run, FO_STATUS_CRITICAL,
                       "expected \"%.60s\" not found (%zu bytes, then EOF)", in->expect, run->len);
    } else if (n < 0) {
        fo__tcp_fail_uv(run, "read", (int)n);
    }
}

static void fo__tcp_written(uv_write_t *w, int status)
{
    struct fo__tcp_run *run = w->data;
    if (run->finished || !run->inst)
        return;
    if (status < 0)
        fo__tcp_fail_uv(run, "send", status);
    else if (!run->inst->expect)
        fo__tcp_finish(run, FO_STATUS_OK, "connected in %.1f ms, sent %zu bytes", run->connect_ms,
                       run->inst->send_len);
}

static void fo__tcp_connected(uv_connect_t *c, int status)
{
    struct fo__tcp_run *run = c->data;
    struct fo__tcp *in = run->inst;
    int rc;

    if (run->finished || !in)
        return;
    if (status < 0) {
        fo__tcp_fail_uv(run, "connect", status);
        return;
    }
    run->connected = 1;
    run->connect_ms = (double)(uv_hrtime() - run->t0_ns) / 1e6;
    if (in->expect &&
        (rc = uv_read_start((uv_stream_t *)&run->tcp, fo__tcp_alloc, fo__tcp_read)) < 0) {
        fo__tcp_fail_uv(run, "read", rc);
        return;
    }
    if (in->send) {
        uv_buf_t b = uv_buf_init(in->send, (unsigned)in->send_len);
        run->write.data = run;
        if ((rc = uv_write(&run->write, (uv_stream_t *)&run->tcp, &b, 1, fo__tcp_written)) < 0)
            fo__tcp_fail_uv(run, "send", rc);
        return;
    }
    if (!in->expect)
        fo__tcp_finish(run, FO_STATUS_OK, "connected in %.1f ms", run->connect_ms);
}

static void fo__tcp_connect(struct fo__tcp_run *run, const struct sockaddr *sa)
{
    int rc = uv_tcp_init(run->timer.loop, &run->tcp);
    if (rc < 0) {
        fo__tcp_finish(run, FO_STATUS_UNKNOWN, "socket: %s", uv_strerror(rc));
        return;
    }
    run->tcp_open = 1;
    run->handles++;
    run->tcp.data = run;
    run->connect.data = run;
    rc = uv_tcp_connect(&run->connect, &run->tcp, sa, fo__tcp_connected);
    if (rc < 0)
        fo__tcp_fail_uv(run, "connect", rc);
}

static void fo__tcp_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct fo__tcp_run *run = req->data;
    run->gai_active = 0;
    if (!run->finished && run->inst) {
        if (status < 0 || !res)
            fo__tcp_finish(run, FO_STATUS_CRITICAL, "cannot resolve %s: %s", run->inst->hostname,
                           uv_strerror(status < 0 ? status : UV_EAI_NONAME));
        else
            fo__tcp_connect(run, res->ai_addr);
    }
    uv_freeaddrinfo(res);
    if (run->finished && run->handles == 0)
        free(run);
}

static int fo__tcp_start(void *instance, fo_check_done_fn done, void *cookie)
{
    struct fo__tcp *in = instance;
    struct fo__tcp_run *run;
    uv_loop_t *loop = in->host->loop;
    int rc;

    if (in->run)
        return -EBUSY;
    run = calloc(1, sizeof(*run));
    if (!run)
        return -ENOMEM;
    run->inst = in;
    run->done = done;
    run->cookie = cookie;
    run->t0_ns = uv_hrtime();
    uv_timer_init(loop, &run->timer);
    run->timer.data = run;
    run->handles = 1;
    uv_timer_start(&run->timer, fo__tcp_timeout, in->budget_ms, 0);
    in->run = run;
    if (in->numeric) {
        fo__tcp_connect(run, (const struct sockaddr *)&in->addr);
        return 0;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    run->gai.data = run;
    rc = uv_getaddrinfo(loop, &run->gai, fo__tcp_resolved, in->hostname, in->port, &hints);
    if (rc < 0)
        fo__tcp_finish(run, FO_STATUS_UNKNOWN, "getaddrinfo: %s", uv_strerror(rc));
    else
        run->gai_active = 1;
    return 0;
}

static void fo__tcp_cancel(void *instance)
{
    struct fo__tcp *in = instance;
    struct fo__tcp_run *run = in->run;
    if (!run)
        return;
    in->run = NULL;
    run->inst = NULL;
    if (!run->finished) {
        run->finished = 1;
        fo__tcp_close_all(run);
    }
}

static void fo__tcp_destroy(void *instance)
{
    struct fo__tcp *in = instance;
    if (!in)
        return;
    fo__tcp_cancel(in);
    free(in->hostname);
    free(in->send);
    free(in->expect);
    free(in);
}

/* "host:port", "[v6]:port" or "v6addr" is refused without brackets (ambiguous). */
static int fo__tcp_parse_address(struct fo__tcp *in, const char *address, struct fo_plugin_err *err)
{
    const char *colon = strrchr(address, ':');
    const char *host = address;
    size_t hlen;
    char *end;
    long port;

    if (!colon || colon == address)
        return fo_param_fail(err, "address", "must be host:port");
    hlen = (size_t)(colon - address);
    if (address[0] == '[') {
        if (hlen < 3 || address[hlen - 1] != ']')
            return fo_param_fail(err, "address", "an IPv6 address is written [addr]:port");
        host++;
        hlen -= 2;
    } else if (memchr(address, ':', hlen)) {
        return fo_param_fail(err, "address", "an IPv6 address is written [addr]:port");
    }
    errno = 0;
    port = strtol(colon + 1, &end, 10);
    if (errno || end == colon + 1 || *end || port < 1 || port > 65535)
        return fo_param_fail(err, "address", "bad port in '%s'", address);
    in->hostname = strndup(host, hlen);
    if (!in->hostname)
        return fo_param_fail(err, "address", "out of memory");
    snprintf(in->port, sizeof(in->port), "%ld", port);
    if (uv_ip4_addr(in->hostname, (int)port, (struct sockaddr_in *)&in->addr) == 0 ||
        uv_ip6_addr(in->hostname, (int)port, (struct sockaddr_in6 *)&in->addr) == 0)
        in->numeric = 1;
    return 0;
}

static void *fo__tcp_init(const struct fo_host *host, void *handle, const struct fo_target *t,
                          struct fo_plugin_err *err)
{
    static const char *const known[] = {"send", "expect", NULL};
    struct fo__tcp *in = calloc(1, sizeof(*in));
    const char *send = NULL, *expect = NULL;

    if (!in) {
        fo_param_fail(err, "params", "out of memory");
        return NULL;
    }
    in->host = host;
    in->budget_ms = (uint32_t)fo_param_budget_ms(t->timeout_ms);
    if (fo__tcp_parse_address(in, t->address, err) < 0 ||
        fo_param_check_keys(t->params, known, err) < 0 ||
        fo_param_str(t->params, "send", &send, err) < 0 ||
        fo_param_str(t->params, "expect", &expect, err) < 0)
        goto fail;
    if (send && !*send) {
        fo_param_fail(err, "send", "must not be empty");
        goto fail;
    }
    if (expect && (!*expect || strlen(expect) > FO__TCP_READ_MAX)) {
        fo_param_fail(err, "expect", "must be 1 to %d bytes", FO__TCP_READ_MAX);
        goto fail;
    }
    if ((send && !(in->send = strdup(send))) || (expect && !(in->expect = strdup(expect)))) {
        fo_param_fail(err, "params", "out of memory");
        goto fail;
    }
    in->send_len = send ? strlen(send) : 0;
    return in;
fail:
    fo__tcp_destroy(in);
    return NULL;
}

const struct fo_plugin fo_plugin_entry = {
    .abi_major = FO_PLUGIN_ABI_MAJOR,
    .abi_minor = FO_PLUGIN_ABI_MINOR,
    .name = "tcp",
    .kind = FO_PLUGIN_CHECK,
    .init = fo__tcp_init,
    .start = fo__tcp_start,
    .cancel = fo__tcp_cancel,
    .verify = NULL,
    .destroy = fo__tcp_destroy,
};
