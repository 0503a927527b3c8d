/* The redis check plugin: hiredis async on the host's loop (names resolved with uv_getaddrinfo),
 * [AUTH] PING, INFO server, INFO replication pipelined; redis_parse.c makes facts. hiredis 0.14
 * has no timeouts: a uv_timer bounds the run; the context is freed only where hiredis allows. */
#include <arpa/inet.h>
#include <errno.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <json-c/json.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "params.h"
#include "redis_parse.h"

#define RD_NAME      "redis"
#define RD_ADDRS_MAX 4 /* resolved addresses tried in order */

struct rd_inst {
    const struct fo_host *host;
    void *handle;
    const struct fo_target *target;
    char *host_name; /* a name to resolve before each run, or NULL */
    char *ip;        /* numeric address, or NULL */
    char *unix_path; /* Unix socket, or NULL */
    int port;
    char *username;
    enum fo_redis_role expect;
    uint64_t budget_ms;
    struct rd_run *run;
};

enum rd_phase { RD_RESOLVE, RD_CONNECT, RD_QUERY };
static const char *const phase_names[] = {"resolving", "connecting", "waiting for replies"};
enum rd_cmd { RD_AUTH, RD_PING, RD_INFO_SERVER, RD_INFO_REPL };
static const char *const cmd_names[] = {"AUTH", "PING", "INFO server", "INFO replication"};

struct rd_run {
    struct rd_inst *inst; /* NULL once finished */
    fo_check_done_fn done;
    void *cookie;
    int refs; /* the run + timer + pending resolve + live context + each queued command */
    int finished;
    int in_start;
    int deferred;
    int in_reply; /* inside a hiredis reply callback: hiredis defers a free to its return */
    int ac_dying; /* hiredis is already tearing the context down */
    enum rd_phase phase;
    uint64_t t0_ns;
    uint64_t budget_ms;
    uv_timer_t timer;
    uv_getaddrinfo_t gai;
    int gai_pending;
    redisAsyncContext *ac;
    char addrs[RD_ADDRS_MAX][INET6_ADDRSTRLEN];
    int naddrs, next_addr;
    char *info; /* INFO server + INFO replication */
    int masterdown;
    struct fo_result res;
};

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        abort(); /* like fo_xcalloc: we do not pretend to survive OOM half-way */
    return p;
}

static char *xstrdup(const char *s)
{
    char *p = strdup(s);
    if (!p)
        abort();
    return p;
}

static void run_unref(struct rd_run *run)
{
    if (--run->refs > 0)
        return;
    free(run->info);
    free(run);
}

static void on_timer_closed(uv_handle_t *h)
{
    run_unref(h->data);
}

/* Lets go of the context. From a reply callback hiredis frees it once the callback returns and
 * then calls our disconnect callback, which drops the reference; from outside (timer, cancel)
 * it is freed here; while hiredis is tearing it down already, there is nothing to do. */
static void ac_release(struct rd_run *run)
{
    redisAsyncContext *ac = run->ac;
    if (!ac || run->ac_dying)
        return;
    if (run->in_reply) {
        redisAsyncFree(ac);
        return;
    }
    run->ac = NULL;
    redisAsyncFree(ac);
    run_unref(run);
}

static void run_finish(struct rd_run *run, int deliver)
{
    struct rd_inst *inst = run->inst;
    if (run->finished)
        return;
    run->finished = 1;
    if (inst)
        inst->run = NULL;
    run->inst = NULL;
    uv_timer_stop(&run->timer);
    uv_close((uv_handle_t *)&run->timer, on_timer_closed);
    if (run->gai_pending)
        uv_cancel((uv_req_t *)&run->gai);
    ac_release(run);
    if (deliver && run->done) {
        run->res.latency_ms = (double)(uv_hrtime() - run->t0_ns) / 1e6;
        run->done(run->cookie, &run->res);
    }
    run_unref(run);
}

static void on_timer(uv_timer_t *t)
{
    struct rd_run *run = t->data;
    if (!run->deferred)
        fo_result_set(&run->res, FO_STATUS_CRITICAL, "timeout after %llu ms while %s",
                      (unsigned long long)run->budget_ms, phase_names[run->phase]);
    run_finish(run, 1);
}

static void run_result(struct rd_run *run, enum fo_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void run_result(struct rd_run *run, enum fo_status status, const char *fmt, ...)
{
    va_list ap;
    if (fmt) {
        run->res.status = status;
        va_start(ap, fmt);
        vsnprintf(run->res.message, sizeof(run->res.message), fmt, ap);
        va_end(ap);
    }
    if (!run->in_start) {
        run_finish(run, 1);
        return;
    }
    run->deferred = 1; /* delivered from the loop, never from inside start() */
    uv_timer_stop(&run->timer);
    uv_timer_start(&run->timer, on_timer, 0, 0);
}

/* ---- event glue ----
 * Our own instead of hiredis 0.14's adapters/libuv.h: libuv reports a socket error (EPOLLERR,
 * e.g. a refused connect) as status < 0 and stops the watcher, and that adapter drops such
 * events, so a refused connection would hang until the timeout. Here hiredis gets to look at
 * the socket and report the error itself. */
struct rd_ev {
    uv_poll_t h;
    redisAsyncContext *ac; /* NULL once hiredis let go (cleanup) */
    int events;
};

static void ev_closed(uv_handle_t *h)
{
    free(h->data);
}

static void ev_cb(uv_poll_t *h, int status, int events)
{
    struct rd_ev *e = h->data;
    if (status < 0)
        events = e->events; /* what hiredis waits for will meet the error */
    if (e->ac && (events & UV_READABLE))
        redisAsyncHandleRead(e->ac);
    if (e->ac && (events & UV_WRITABLE)) /* hiredis may have freed the context: re-check */
        redisAsyncHandleWrite(e->ac);
}

static void ev_update(struct rd_ev *e, int add, int del)
{
    e->events = (e->events | add) & ~del;
    if (e->events)
        uv_poll_start(&e->h, e->events, ev_cb);
    else
        uv_poll_stop(&e->h);
}

static void ev_add_read(void *p)
{
    ev_update(p, UV_READABLE, 0);
}

static void ev_del_read(void *p)
{
    ev_update(p, 0, UV_READABLE);
}

static void ev_add_write(void *p)
{
    ev_update(p, UV_WRITABLE, 0);
}

static void ev_del_write(void *p)
{
    ev_update(p, 0, UV_WRITABLE);
}

static void ev_cleanup(void *p)
{
    struct rd_ev *e = p;
    if (uv_is_closing((uv_handle_t *)&e->h))
        return; /* hiredis may call cleanup on disconnect and again on free */
    e->ac = NULL;
    uv_poll_stop(&e->h); /* hiredis closes the descriptor right after */
    uv_close((uv_handle_t *)&e->h, ev_closed);
}

static int ev_attach(redisAsyncContext *ac, uv_loop_t *loop)
{
    struct rd_ev *e = xcalloc(1, sizeof(*e));
    if (uv_poll_init(loop, &e->h, ac->c.fd) != 0) {
        free(e);
        return -1;
    }
    e->h.data = e;
    e->ac = ac;
    ac->ev.data = e;
    ac->ev.addRead = ev_add_read;
    ac->ev.delRead = ev_del_read;
    ac->ev.addWrite = ev_add_write;
    ac->ev.delWrite = ev_del_write;
    ac->ev.cleanup = ev_cleanup;
    return 0;
}

/* ---- the run ---- */

static void connect_next(struct rd_run *run);

static void error_reply(struct rd_run *run, enum rd_cmd cmd, const char *err)
{
    if (strncmp(err, "NOAUTH", 6) == 0)
        run_result(run, FO_STATUS_CRITICAL, "authentication required (no password given): %s", err);
    else if (strncmp(err, "WRONGPASS", 9) == 0 || cmd == RD_AUTH)
        run_result(run, FO_STATUS_CRITICAL, "authentication failed: %s", err);
    else if (strncmp(err, "LOADING", 7) == 0)
        run_result(run, FO_STATUS_CRITICAL, "not serving, loading its dataset: %s", err);
    else
        run_result(run, FO_STATUS_CRITICAL, "%s: %s", cmd_names[cmd], err);
}

static void reply_done(struct rd_run *run, enum rd_cmd cmd, redisReply *reply)
{
    if (reply->type == REDIS_REPLY_ERROR) {
        /* A replica with replica-serve-stale-data no refuses PING but answers INFO: its link
         * state then tells the story (warning), not the refusal. */
        if (cmd == RD_PING && strncmp(reply->str, "MASTERDOWN", 10) == 0) {
            run->masterdown = 1;
            return;
        }
        error_reply(run, cmd, reply->str);
        return;
    }
    switch (cmd) {
    case RD_AUTH:
    case RD_PING:
        if (reply->type != REDIS_REPLY_STATUS)
            run_result(run, FO_STATUS_UNKNOWN, "%s: unexpected reply type %d", cmd_names[cmd],
                       reply->type);
        return;
    case RD_INFO_SERVER:
    case RD_INFO_REPL:
        if (reply->type != REDIS_REPLY_STRING) {
            run_result(run, FO_STATUS_UNKNOWN, "%s: unexpected reply type %d", cmd_names[cmd],
                       reply->type);
            return;
        }
        if (cmd == RD_INFO_SERVER) {
            run->info = xstrdup(reply->str);
            return;
        }
        break;
    }
    size_t a = run->info ? strlen(run->info) : 0, b = strlen(reply->str);
    char *all = xcalloc(1, a + b + 3);
    memcpy(all, run->info ? run->info : "", a);
    memcpy(all + a, "\r\n", 2);
    memcpy(all + a + 2, reply->str, b);
    free(run->info);
    run->info = all;
    fo_redis_info_fill(&run->res, run->info, run->inst->expect);
    if (run->res.status == FO_STATUS_UNKNOWN)
        run->inst->host->log(FO_LOG_WARN, RD_NAME, "%s/%s: %s", run->inst->target->service,
                             run->inst->target->member, run->res.message);
    run_result(run, run->res.status, NULL);
}

static void on_reply(redisAsyncContext *ac, redisReply *reply, struct rd_run *run, enum rd_cmd cmd)
{
    /* Commands of an earlier context (a failed address) and of a finished run are ignored. */
    if (!run->finished && ac == run->ac) {
        run->in_reply = 1;
        if (!reply) {
            run->ac_dying = 1;
            run_result(run, FO_STATUS_CRITICAL, "connection lost: %s",
                       ac->err ? ac->errstr : "closed by the server");
        } else {
            reply_done(run, cmd, reply);
        }
        run->in_reply = 0;
    }
    run_unref(run);
}

static void on_auth(redisAsyncContext *ac, void *r, void *priv)
{
    on_reply(ac, r, priv, RD_AUTH);
}

static void on_ping(redisAsyncContext *ac, void *r, void *priv)
{
    on_reply(ac, r, priv, RD_PING);
}

static void on_info_server(redisAsyncContext *ac, void *r, void *priv)
{
    on_reply(ac, r, priv, RD_INFO_SERVER);
}

static void on_info_repl(redisAsyncContext *ac, void *r, void *priv)
{
    on_reply(ac, r, priv, RD_INFO_REPL);
}

static void on_connect(const redisAsyncContext *cac, int status)
{
    struct rd_run *run = cac->data;
    if (status == REDIS_OK) {
        run->phase = RD_QUERY;
        return;
    }
    /* hiredis frees this context right after we return: never free it here. */
    if (run->ac != cac)
        return;
    run->ac = NULL;
    if (!run->finished) {
        if (run->next_addr < run->naddrs) {
            connect_next(run);
        } else {
            run_result(run, FO_STATUS_CRITICAL, "connect: %s", cac->errstr);
        }
    }
    run_unref(run);
}

static void on_disconnect(const redisAsyncContext *cac, int status)
{
    struct rd_run *run = cac->data;
    if (run->ac != cac)
        return;
    run->ac = NULL;
    if (!run->finished)
        run_result(run, FO_STATUS_CRITICAL, "connection lost: %s",
                   status == REDIS_OK ? "closed" : cac->errstr);
    run_unref(run);
}

static int queue(struct rd_run *run, redisCallbackFn *fn, const char *fmt, ...)
{
    va_list ap;
    int rc;
    va_start(ap, fmt);
    rc = redisvAsyncCommand(run->ac, fn, run, fmt, ap);
    va_end(ap);
    if (rc != REDIS_OK)
        return -1;
    run->refs++;
    return 0;
}

/* Opens a context to the next address and pipelines the commands; they go out once the
 * connection is up. */
static void connect_next(struct rd_run *run)
{
    struct rd_inst *inst = run->inst;
    redisAsyncContext *ac;
    const char *secret = inst->target->secret;
    int rc = 0;
    run->phase = RD_CONNECT;
    if (inst->unix_path)
        ac = redisAsyncConnectUnix(inst->unix_path);
    else
        ac = redisAsyncConnect(run->addrs[run->next_addr++], inst->port);
    if (!ac) {
        run_result(run, FO_STATUS_UNKNOWN, "connect: hiredis out of memory");
        return;
    }
    if (ac->err) {
        char msg[FO_MESSAGE_MAX];
        snprintf(msg, sizeof(msg), "%s", ac->errstr);
        redisAsyncFree(ac); /* not attached to the loop yet: nothing else holds it */
        if (run->next_addr < run->naddrs)
            connect_next(run);
        else
            run_result(run, FO_STATUS_CRITICAL, "connect: %s", msg);
        return;
    }
    if (ev_attach(ac, inst->host->loop) < 0) {
        redisAsyncFree(ac);
        run_result(run, FO_STATUS_UNKNOWN, "connect: cannot attach to the loop");
        return;
    }
    ac->data = run;
    run->ac = ac;
    run->refs++;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    if (secret && inst->username)
        rc |= queue(run, on_auth, "AUTH %s %s", inst->username, secret);
    else if (secret)
        rc |= queue(run, on_auth, "AUTH %s", secret);
    rc |= queue(run, on_ping, "PING");
    rc |= queue(run, on_info_server, "INFO server");
    rc |= queue(run, on_info_repl, "INFO replication");
    if (rc < 0)
        run_result(run, FO_STATUS_UNKNOWN, "cannot queue commands");
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *ai)
{
    struct rd_run *run = req->data;
    run->gai_pending = 0;
    if (run->finished)
        goto out;
    if (status < 0) {
        run_result(run, FO_STATUS_CRITICAL, "resolve %s: %s", run->inst->host_name,
                   uv_strerror(status));
        goto out;
    }
    for (struct addrinfo *a = ai; a && run->naddrs < RD_ADDRS_MAX; a = a->ai_next)
        if (uv_ip_name(a->ai_addr, run->addrs[run->naddrs], INET6_ADDRSTRLEN) == 0)
            run->naddrs++;
    if (run->naddrs == 0)
        run_result(run, FO_STATUS_CRITICAL, "resolve %s: no address", run->inst->host_name);
    else
        connect_next(run);
out:
    if (ai)
        uv_freeaddrinfo(ai);
    run_unref(run);
}

static int rd_start(void *instance, fo_check_done_fn done, void *cookie)
{
    struct rd_inst *inst = instance;
    uv_loop_t *loop = inst->host->loop;
    struct rd_run *run;
    int rc;
    if (inst->run)
        return -EBUSY;
    run = xcalloc(1, sizeof(*run));
    run->inst = inst;
    run->done = done;
    run->cookie = cookie;
    run->refs = 1;
    run->t0_ns = uv_hrtime();
    run->budget_ms = inst->budget_ms;
    run->in_start = 1;
    inst->run = run;
    uv_timer_init(loop, &run->timer);
    run->timer.data = run;
    run->refs++;
    uv_timer_start(&run->timer, on_timer, run->budget_ms, 0);

    if (inst->host_name) {
        struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
        run->phase = RD_RESOLVE;
        run->gai.data = run;
        rc = uv_getaddrinfo(loop, &run->gai, on_resolved, inst->host_name, NULL, &hints);
        if (rc < 0) {
            run_result(run, FO_STATUS_CRITICAL, "resolve %s: %s", inst->host_name, uv_strerror(rc));
        } else {
            run->gai_pending = 1;
            run->refs++;
        }
    } else {
        if (inst->ip) {
            snprintf(run->addrs[0], sizeof(run->addrs[0]), "%s", inst->ip);
            run->naddrs = 1;
        }
        connect_next(run);
    }
    run->in_start = 0;
    return 0;
}

static void rd_cancel(void *instance)
{
    struct rd_inst *inst = instance;
    if (inst->run)
        run_finish(inst->run, 0);
}

static void rd_destroy(void *instance)
{
    struct rd_inst *inst = instance;
    if (!inst)
        return;
    rd_cancel(inst);
    free(inst->host_name);
    free(inst->ip);
    free(inst->unix_path);
    free(inst->username);
    free(inst);
}

/* "127.0.0.1:6379", "[::1]:6379", "cache.example:6379", a bare host (6379) or a socket path. */
static int parse_address(struct rd_inst *inst, const char *address, struct fo_plugin_err *err)
{
    char host[256];
    unsigned char buf[sizeof(struct in6_addr)];
    const char *colon;
    size_t len;
    if (!address || !address[0])
        return fo_param_fail(err, "address", "missing");
    if (address[0] == '/') {
        inst->unix_path = xstrdup(address);
        return 0;
    }
    if (address[0] == '[') {
        const char *close = strchr(address, ']');
        if (!close || (close[1] && close[1] != ':'))
            return fo_param_fail(err, "address", "expected [ipv6]:port");
        len = (size_t)(close - address - 1);
        address++;
        colon = close[1] ? close + 1 : NULL;
    } else {
        colon = strrchr(address, ':');
        if (colon && strchr(address, ':') != colon)
            return fo_param_fail(err, "address", "IPv6 addresses need brackets: [addr]:port");
        len = colon ? (size_t)(colon - address) : strlen(address);
    }
    if (len == 0 || len >= sizeof(host))
        return fo_param_fail(err, "address", "expected host:port");
    memcpy(host, address, len);
    host[len] = '\0';
    inst->port = 6379;
    if (colon) {
        char *end;
        long p = strtol(colon + 1, &end, 10);
        if (!colon[1] || *end || p < 1 || p > 65535)
            return fo_param_fail(err, "address", "port must be 1..65535");
        inst->port = (int)p;
    }
    if (inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1)
        inst->ip = xstrdup(host);
    else
        inst->host_name = xstrdup(host);
    return 0;
}

static void *rd_init(const struct fo_host *host, void *handle, const struct fo_target *target,
                     struct fo_plugin_err *err)
{
    /* No password keys: the host resolves password/password_file/password_env into
     * target->secret and removes them, so one arriving here was not resolved: an error. */
    static const char *const known[] = {"username", "expect_role", NULL};
    struct rd_inst *inst = xcalloc(1, sizeof(*inst));
    const char *s = NULL;
    int rc;
    inst->host = host;
    inst->handle = handle;
    inst->target = target;
    inst->budget_ms = fo_param_budget_ms(target->timeout_ms ? target->timeout_ms : 10000);
    if (parse_address(inst, target->address, err) < 0)
        goto fail;
    if (fo_param_check_keys(target->params, known, err) < 0)
        goto fail;
    if ((rc = fo_param_str(target->params, "username", &s, err)) < 0)
        goto fail;
    if (rc == FO_PARAM_SET) {
        if (!s[0]) {
            fo_param_fail(err, "username", "must not be empty");
            goto fail;
        }
        inst->username = xstrdup(s);
    }
    if ((rc = fo_param_str(target->params, "expect_role", &s, err)) < 0)
        goto fail;
    if (rc == FO_PARAM_SET) {
        if (strcmp(s, "primary") == 0 || strcmp(s, "master") == 0)
            inst->expect = FO_REDIS_ROLE_PRIMARY;
        else if (strcmp(s, "replica") == 0 || strcmp(s, "slave") == 0)
            inst->expect = FO_REDIS_ROLE_REPLICA;
        else if (strcmp(s, "any") != 0) {
            fo_param_fail(err, "expect_role", "must be primary, replica or any");
            goto fail;
        }
    }
    if (inst->username && !target->secret) {
        fo_param_fail(err, "username", "needs a password (password_file or password_env)");
        goto fail;
    }
    return inst;
fail:
    rd_destroy(inst);
    return NULL;
}

const struct fo_plugin fo_plugin_entry = {
    .abi_major = FO_PLUGIN_ABI_MAJOR,
    .abi_minor = FO_PLUGIN_ABI_MINOR,
    .name = RD_NAME,
    .kind = FO_PLUGIN_CHECK,
    .init = rd_init,
    .start = rd_start,
    .cancel = rd_cancel,
    .verify = NULL,
    .destroy = rd_destroy,
};
