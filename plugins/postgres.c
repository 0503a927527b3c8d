/* The postgres check plugin: one non-blocking libpq connection per run (uv_getaddrinfo, then
 * PQconnectPoll and the probe driven by uv_poll under a uv_timer); postgres_parse.c makes facts.
 * A run is freed by its last close callback, so cancel() never frees what libuv still holds. */
#include <arpa/inet.h>
#include <errno.h>
#include <json-c/json.h>
#include <libpq-fe.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "params.h"
#include "postgres_parse.h"

#define PG_NAME      "postgres"
#define PG_KW_MAX    40 /* keywords kept from the address and params */
#define PG_ADDRS_MAX 4  /* resolved addresses tried in order, like libpq does with host lists */

struct pg_inst {
    const struct fo_host *host;
    void *handle;
    const struct fo_target *target;
    const char *kw[PG_KW_MAX];
    char *val[PG_KW_MAX];
    int nkw;
    char *resolve; /* host name to resolve before each run; NULL when not needed */
    struct fo_pg_limits lim;
    uint64_t budget_ms;
    struct pg_run *run; /* the run in flight */
};

struct pg_poll {
    uv_poll_t h;
    struct pg_run *run;
    int fd;
};

enum pg_phase { PG_RESOLVE, PG_CONNECT, PG_QUERY };
static const char *const phase_names[] = {"resolving", "connecting", "waiting for the probe"};

struct pg_run {
    struct pg_inst *inst; /* NULL once finished */
    fo_check_done_fn done;
    void *cookie;
    int refs; /* the run itself + each open handle or pending request */
    int finished;
    int in_start; /* results decided inside start() are delivered from the loop */
    int deferred; /* the timer delivers res instead of reporting a timeout */
    enum pg_phase phase;
    uint64_t t0_ns;
    uint64_t budget_ms;
    uv_timer_t timer;
    uv_getaddrinfo_t gai;
    int gai_pending;
    struct pg_poll *poll;
    PGconn *conn;
    int flushing;
    char *hosts; /* "name,name" and "ip,ip" for a resolved name */
    char *hostaddrs;
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

static void run_unref(struct pg_run *run)
{
    if (--run->refs > 0)
        return;
    free(run->hosts);
    free(run->hostaddrs);
    free(run);
}

static void on_handle_closed(uv_handle_t *h)
{
    run_unref(h->data);
}

static void on_poll_closed(uv_handle_t *h)
{
    struct pg_poll *p = h->data;
    run_unref(p->run);
    free(p);
}

static void poll_close(struct pg_run *run)
{
    if (!run->poll)
        return;
    uv_poll_stop(&run->poll->h);
    uv_close((uv_handle_t *)&run->poll->h, on_poll_closed);
    run->poll = NULL;
}

/* Ends the run: every handle is stopped and closed (their callbacks free), the connection is
 * closed after its socket is no longer polled, then the result goes out if asked for. */
static void run_finish(struct pg_run *run, int deliver)
{
    struct pg_inst *inst = run->inst;
    if (run->finished)
        return;
    run->finished = 1;
    if (inst)
        inst->run = NULL;
    run->inst = NULL;
    uv_timer_stop(&run->timer);
    uv_close((uv_handle_t *)&run->timer, on_handle_closed);
    if (run->gai_pending)
        uv_cancel((uv_req_t *)&run->gai); /* its callback still runs and drops the ref */
    poll_close(run);
    if (run->conn)
        PQfinish(run->conn); /* PQcancel would block; closing is enough */
    run->conn = NULL;
    if (deliver && run->done) {
        run->res.latency_ms = (double)(uv_hrtime() - run->t0_ns) / 1e6;
        run->done(run->cookie, &run->res);
    }
    run_unref(run);
}

static void on_timer(uv_timer_t *t)
{
    struct pg_run *run = t->data;
    if (!run->deferred)
        fo_result_set(&run->res, FO_STATUS_CRITICAL, "timeout after %llu ms while %s",
                      (unsigned long long)run->budget_ms, phase_names[run->phase]);
    run_finish(run, 1);
}

/* Records the outcome; inside start() it is delivered from the loop, never re-entrantly. */
static void run_result(struct pg_run *run, enum fo_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void run_result(struct pg_run *run, enum fo_status status, const char *fmt, ...)
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
    run->deferred = 1;
    uv_timer_stop(&run->timer);
    uv_timer_start(&run->timer, on_timer, 0, 0);
}

/* libpq's messages span lines ("connection to server ... failed: FATAL:  password ..."). */
static void one_line(const char *in, char *out, size_t n)
{
    size_t j = 0;
    for (size_t i = 0; in && in[i] && j + 1 < n; i++) {
        char c = in[i] == '\n' || in[i] == '\t' ? ' ' : in[i];
        if (c == ' ' && (j == 0 || out[j - 1] == ' '))
            continue;
        out[j++] = c;
    }
    while (j > 0 && out[j - 1] == ' ')
        j--;
    out[j] = '\0';
}

static void conn_failed(struct pg_run *run, const char *what)
{
    char msg[FO_MESSAGE_MAX];
    one_line(PQerrorMessage(run->conn), msg, sizeof(msg));
    run_result(run, FO_STATUS_CRITICAL, "%s: %s", what, msg[0] ? msg : "failed");
}

static void on_poll(uv_poll_t *h, int status, int events);

/* Watches the connection's socket for `events`. libpq may close and open sockets while it
 * tries addresses, so the watcher is stopped before each PQconnectPoll and replaced when the
 * descriptor changed (the old one is closed; its callback frees it). */
static int watch(struct pg_run *run, int events)
{
    int fd = PQsocket(run->conn), rc;
    if (fd < 0)
        return -EBADF;
    if (run->poll && run->poll->fd != fd)
        poll_close(run);
    if (!run->poll) {
        struct pg_poll *p = xcalloc(1, sizeof(*p));
        rc = uv_poll_init(run->inst->host->loop, &p->h, fd);
        if (rc < 0) {
            free(p);
            return rc;
        }
        p->h.data = p;
        p->run = run;
        p->fd = fd;
        run->refs++;
        run->poll = p;
    }
    return uv_poll_start(&run->poll->h, events, on_poll);
}

static void query_send(struct pg_run *run)
{
    int rc;
    run->phase = PG_QUERY;
    if (PQsetnonblocking(run->conn, 1) != 0 || !PQsendQuery(run->conn, fo_pg_probe_sql)) {
        conn_failed(run, "query");
        return;
    }
    rc = PQflush(run->conn);
    if (rc < 0) {
        conn_failed(run, "query");
        return;
    }
    run->flushing = rc == 1;
    rc = watch(run, UV_READABLE | (run->flushing ? UV_WRITABLE : 0));
    if (rc < 0)
        run_result(run, FO_STATUS_UNKNOWN, "uv_poll: %s", uv_strerror(rc));
}

static void connect_step(struct pg_run *run, PostgresPollingStatusType st)
{
    int rc;
    switch (st) {
    case PGRES_POLLING_OK:
        query_send(run);
        return;
    case PGRES_POLLING_READING:
        rc = watch(run, UV_READABLE);
        break;
    case PGRES_POLLING_WRITING:
        rc = watch(run, UV_WRITABLE);
        break;
    default:
        conn_failed(run, "connect");
        return;
    }
    if (rc < 0)
        run_result(run, FO_STATUS_UNKNOWN, "uv_poll: %s", uv_strerror(rc));
}

static void probe_done(struct pg_run *run, PGresult *pr)
{
    struct pg_inst *inst = run->inst;
    const char *vals[FO_PG_NCOLS];
    struct fo_pg_limits lim = inst->lim;
    int64_t best;
    char msg[FO_MESSAGE_MAX];

    if (PQresultStatus(pr) != PGRES_TUPLES_OK) {
        one_line(PQresultErrorMessage(pr), msg, sizeof(msg));
        run_result(run, FO_STATUS_CRITICAL, "query: %s", msg[0] ? msg : "failed");
        return;
    }
    if (PQntuples(pr) != 1 || PQnfields(pr) != FO_PG_NCOLS) {
        run_result(run, FO_STATUS_UNKNOWN, "unexpected probe result: %d rows of %d columns",
                   PQntuples(pr), PQnfields(pr));
        return;
    }
    for (int i = 0; i < FO_PG_NCOLS; i++)
        vals[i] = PQgetisnull(pr, 0, i) ? NULL : PQgetvalue(pr, 0, i);
    lim.primary_lsn = -1;
    if (inst->host->service_best_int &&
        inst->host->service_best_int(inst->handle, "current_lsn", &best) == 0)
        lim.primary_lsn = best;
    fo_pg_result_fill(&run->res, vals, &lim);
    if (run->res.status == FO_STATUS_UNKNOWN)
        inst->host->log(FO_LOG_WARN, PG_NAME, "%s/%s: %s", inst->target->service,
                        inst->target->member, run->res.message);
    run_result(run, run->res.status, NULL);
}

static void query_io(struct pg_run *run, int events)
{
    if (run->flushing && (events & UV_WRITABLE)) {
        int rc = PQflush(run->conn);
        if (rc < 0) {
            conn_failed(run, "query");
            return;
        }
        if (rc == 0) {
            run->flushing = 0;
            if ((rc = watch(run, UV_READABLE)) < 0) {
                run_result(run, FO_STATUS_UNKNOWN, "uv_poll: %s", uv_strerror(rc));
                return;
            }
        }
    }
    if (!(events & UV_READABLE))
        return;
    if (!PQconsumeInput(run->conn)) {
        conn_failed(run, "query");
        return;
    }
    if (PQisBusy(run->conn))
        return; /* more input needed */
    /* The first result decides; the connection is closed right after, so no draining. */
    PGresult *pr = PQgetResult(run->conn);
    if (!pr) {
        run_result(run, FO_STATUS_UNKNOWN, "unexpected probe result: no result");
        return;
    }
    probe_done(run, pr);
    PQclear(pr); /* a PGresult outlives its connection */
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct pg_poll *p = h->data;
    struct pg_run *run = p->run;
    if (run->finished)
        return;
    if (status < 0) /* let libpq find and report the socket error */
        events = UV_READABLE | UV_WRITABLE;
    if (run->phase == PG_CONNECT) {
        uv_poll_stop(h); /* before libpq can close this descriptor */
        connect_step(run, PQconnectPoll(run->conn));
    } else {
        query_io(run, events);
    }
}

static void connect_start(struct pg_run *run)
{
    struct pg_inst *inst = run->inst;
    const char *kw[PG_KW_MAX + 4], *val[PG_KW_MAX + 4];
    int n = 0;
    for (int i = 0; i < inst->nkw; i++) {
        if (run->hostaddrs && strcmp(inst->kw[i], "host") == 0)
            continue;
        kw[n] = inst->kw[i];
        val[n++] = inst->val[i];
    }
    if (run->hostaddrs) {
        kw[n] = "host";
        val[n++] = run->hosts;
        kw[n] = "hostaddr";
        val[n++] = run->hostaddrs;
    }
    if (inst->target->secret) {
        kw[n] = "password";
        val[n++] = inst->target->secret;
    }
    kw[n] = NULL;
    val[n] = NULL;

    run->phase = PG_CONNECT;
    run->conn = PQconnectStartParams(kw, val, 0);
    if (!run->conn) {
        run_result(run, FO_STATUS_UNKNOWN, "connect: libpq out of memory");
        return;
    }
    if (PQstatus(run->conn) == CONNECTION_BAD) {
        conn_failed(run, "connect");
        return;
    }
    /* As the libpq manual says: before the first PQconnectPoll, behave as if it said WRITING. */
    connect_step(run, PGRES_POLLING_WRITING);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *ai)
{
    struct pg_run *run = req->data;
    size_t hl = 0, al = 0;
    int n = 0;
    run->gai_pending = 0;
    if (run->finished)
        goto out;
    if (status < 0) {
        run_result(run, FO_STATUS_CRITICAL, "resolve %s: %s", run->inst->resolve,
                   uv_strerror(status));
        goto out;
    }
    run->hosts = xcalloc(PG_ADDRS_MAX, strlen(run->inst->resolve) + 1);
    run->hostaddrs = xcalloc(PG_ADDRS_MAX, INET6_ADDRSTRLEN + 1);
    for (struct addrinfo *a = ai; a && n < PG_ADDRS_MAX; a = a->ai_next) {
        char ip[INET6_ADDRSTRLEN];
        if (uv_ip_name(a->ai_addr, ip, sizeof(ip)) != 0)
            continue;
        hl += (size_t)sprintf(run->hosts + hl, "%s%s", n ? "," : "", run->inst->resolve);
        al += (size_t)sprintf(run->hostaddrs + al, "%s%s", n ? "," : "", ip);
        n++;
    }
    if (n == 0) {
        run_result(run, FO_STATUS_CRITICAL, "resolve %s: no address", run->inst->resolve);
        goto out;
    }
    connect_start(run);
out:
    if (ai)
        uv_freeaddrinfo(ai);
    run_unref(run);
}

static int pg_start(void *instance, fo_check_done_fn done, void *cookie)
{
    struct pg_inst *inst = instance;
    struct pg_run *run;
    uv_loop_t *loop = inst->host->loop;
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

    if (inst->resolve) {
        struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
        run->phase = PG_RESOLVE;
        run->gai.data = run;
        rc = uv_getaddrinfo(loop, &run->gai, on_resolved, inst->resolve, NULL, &hints);
        if (rc < 0) {
            run_result(run, FO_STATUS_CRITICAL, "resolve %s: %s", inst->resolve, uv_strerror(rc));
        } else {
            run->gai_pending = 1;
            run->refs++;
        }
    } else {
        connect_start(run);
    }
    run->in_start = 0;
    return 0;
}

static void pg_cancel(void *instance)
{
    struct pg_inst *inst = instance;
    if (inst->run)
        run_finish(inst->run, 0);
}

static void pg_destroy(void *instance)
{
    struct pg_inst *inst = instance;
    if (!inst)
        return;
    pg_cancel(inst);
    for (int i = 0; i < inst->nkw; i++)
        free(inst->val[i]);
    free(inst->resolve);
    free(inst);
}

/* ---- configuration ---- */

/* Keyword names must outlive the instance and PQconninfoParse's table is freed: map each
 * accepted keyword to a static string. The list is also what we allow: not `service` (its file
 * could name a host that libpq would resolve on the loop), no secrets (password, sslpassword). */
static const char *kw_intern(const char *kw)
{
    /* clang-format off */
    static const char *const known[] = {
        "host", "hostaddr", "port", "dbname", "user", "passfile", "channel_binding",
        "connect_timeout", "client_encoding", "options", "application_name",
        "fallback_application_name", "keepalives", "keepalives_idle", "keepalives_interval",
        "keepalives_count", "tcp_user_timeout", "sslmode", "sslcompression", "sslcert", "sslkey",
        "sslrootcert", "sslcrl", "sslcrldir", "sslsni", "requirepeer",
        "ssl_min_protocol_version", "ssl_max_protocol_version", "gssencmode", "krbsrvname",
        "gsslib", "target_session_attrs", NULL};
    /* clang-format on */
    for (int i = 0; known[i]; i++)
        if (strcmp(known[i], kw) == 0)
            return known[i];
    return NULL;
}

static int kw_find(const struct pg_inst *inst, const char *kw)
{
    for (int i = 0; i < inst->nkw; i++)
        if (strcmp(inst->kw[i], kw) == 0)
            return i;
    return -1;
}

static void kw_set(struct pg_inst *inst, const char *kw, const char *val)
{
    int i = kw_find(inst, kw);
    if (i < 0) {
        if (inst->nkw >= PG_KW_MAX)
            return; /* kw_intern knows fewer names than PG_KW_MAX: cannot happen */
        i = inst->nkw++;
        inst->kw[i] = kw;
    } else {
        free(inst->val[i]);
    }
    inst->val[i] = xstrdup(val);
}

static const char *kw_get(const struct pg_inst *inst, const char *kw)
{
    int i = kw_find(inst, kw);
    return i < 0 ? NULL : inst->val[i];
}

static int is_conninfo(const char *a)
{
    return strchr(a, '=') || strncmp(a, "postgresql://", 13) == 0 ||
           strncmp(a, "postgres://", 11) == 0;
}

static int parse_conninfo(struct pg_inst *inst, const char *address, struct fo_plugin_err *err)
{
    char *errmsg = NULL;
    PQconninfoOption *opts = PQconninfoParse(address, &errmsg);
    int rc = 0;
    if (!opts) {
        char msg[160];
        one_line(errmsg ? errmsg : "out of memory", msg, sizeof(msg));
        PQfreemem(errmsg);
        return fo_param_fail(err, "address", "invalid conninfo: %s", msg);
    }
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        const char *kw;
        if (!o->val)
            continue;
        if (strcmp(o->keyword, "password") == 0 || strcmp(o->keyword, "sslpassword") == 0) {
            rc = fo_param_fail(err, "address", "no password in the address: use password_file");
            goto out;
        }
        if (strcmp(o->keyword, "replication") == 0 || !(kw = kw_intern(o->keyword))) {
            rc =
                fo_param_fail(err, "address", "conninfo keyword '%s' is not supported", o->keyword);
            goto out;
        }
        kw_set(inst, kw, o->val);
    }
out:
    PQconninfoFree(opts);
    return rc;
}

/* "127.0.0.1:5432", "[::1]:5432", "db.example:5432" or a bare host (port 5432). */
static int parse_hostport(struct pg_inst *inst, const char *address, struct fo_plugin_err *err)
{
    char host[256];
    const char *port = "5432", *colon;
    size_t len;
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
    if (colon) {
        char *end;
        long p = strtol(colon + 1, &end, 10);
        if (!colon[1] || *end || p < 1 || p > 65535)
            return fo_param_fail(err, "address", "port must be 1..65535");
        port = colon + 1;
    }
    kw_set(inst, "host", host);
    kw_set(inst, "port", port);
    return 0;
}

/* Decides how the host is reached without libpq resolving names on the loop. */
static int plan_resolution(struct pg_inst *inst, struct fo_plugin_err *err)
{
    const char *host = kw_get(inst, "host");
    unsigned char buf[sizeof(struct in6_addr)];
    if (kw_get(inst, "hostaddr")) {
        if (strchr(kw_get(inst, "hostaddr"), ','))
            return fo_param_fail(err, "address", "one host per member");
        return 0;
    }
    if (!host || !host[0] || host[0] == '/' || host[0] == '@')
        return 0; /* Unix socket (or libpq's default one) */
    if (strchr(host, ','))
        return fo_param_fail(err, "address", "one host per member");
    if (inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1)
        kw_set(inst, "hostaddr", host);
    else
        inst->resolve = xstrdup(host);
    return 0;
}

static int parse_params(struct pg_inst *inst, const struct json_object *params,
                        struct fo_plugin_err *err)
{
    /* No password keys: the host resolves password/password_file/password_env into
     * target->secret and removes them, so one arriving here was not resolved: an error. */
    static const char *const known[] = {
        "user",    "dbname",           "sslmode",     "application_name",
        "max_lag", "max_replay_delay", "expect_role", NULL};
    static const char *const sslmodes[] = {"disable",   "allow",       "prefer", "require",
                                           "verify-ca", "verify-full", NULL};
    const char *s = NULL;
    uint64_t size = 0, ms = 0;
    int rc;
    if (fo_param_check_keys(params, known, err) < 0)
        return -1;
    if ((rc = fo_param_str(params, "user", &s, err)) < 0)
        return -1;
    if (rc == FO_PARAM_SET)
        kw_set(inst, "user", s);
    if ((rc = fo_param_str(params, "dbname", &s, err)) < 0)
        return -1;
    if (rc == FO_PARAM_SET || !kw_get(inst, "dbname"))
        kw_set(inst, "dbname", rc == FO_PARAM_SET ? s : "postgres");
    if ((rc = fo_param_str(params, "application_name", &s, err)) < 0)
        return -1;
    if (rc == FO_PARAM_SET || !kw_get(inst, "application_name"))
        kw_set(inst, "application_name", rc == FO_PARAM_SET ? s : "failoverd");
    if ((rc = fo_param_str(params, "sslmode", &s, err)) < 0)
        return -1;
    if (rc == FO_PARAM_SET) {
        int ok = 0;
        for (int i = 0; sslmodes[i]; i++)
            ok |= strcmp(sslmodes[i], s) == 0;
        if (!ok)
            return fo_param_fail(err, "sslmode",
                                 "must be disable, allow, prefer, require, verify-ca or "
                                 "verify-full");
        kw_set(inst, "sslmode", s);
    }
    /* GSSAPI probing may consult Kerberos (and DNS) synchronously: off unless asked for. */
    if (!kw_get(inst, "gssencmode"))
        kw_set(inst, "gssencmode", "disable");

    inst->lim.max_lag = -1;
    if ((rc = fo_param_size(inst->host, params, "max_lag", 0, INT64_MAX / 2, &size, err)) < 0)
        return -1;
    if (rc == FO_PARAM_SET)
        inst->lim.max_lag = (int64_t)size;
    inst->lim.max_replay_delay_s = -1;
    if ((rc = fo_param_duration(inst->host, params, "max_replay_delay", 7 * 24 * 3600 * 1000ull,
                                &ms, err)) < 0)
        return -1;
    if (rc == FO_PARAM_SET && ms > 0)
        inst->lim.max_replay_delay_s = (double)ms / 1000.0;
    inst->lim.expect_role = FO_PG_ROLE_ANY;
    if ((rc = fo_param_str(params, "expect_role", &s, err)) < 0)
        return -1;
    if (rc == FO_PARAM_SET) {
        if (strcmp(s, "primary") == 0)
            inst->lim.expect_role = FO_PG_ROLE_PRIMARY;
        else if (strcmp(s, "standby") == 0)
            inst->lim.expect_role = FO_PG_ROLE_STANDBY;
        else if (strcmp(s, "any") != 0)
            return fo_param_fail(err, "expect_role", "must be primary, standby or any");
    }
    return 0;
}

static void *pg_init(const struct fo_host *host, void *handle, const struct fo_target *target,
                     struct fo_plugin_err *err)
{
    struct pg_inst *inst = xcalloc(1, sizeof(*inst));
    const char *address = target->address;
    inst->host = host;
    inst->handle = handle;
    inst->target = target;
    inst->budget_ms = fo_param_budget_ms(target->timeout_ms ? target->timeout_ms : 10000);
    if (!address || !address[0]) {
        fo_param_fail(err, "address", "missing");
        goto fail;
    }
    if ((is_conninfo(address) ? parse_conninfo(inst, address, err)
                              : parse_hostport(inst, address, err)) < 0)
        goto fail;
    if (parse_params(inst, target->params, err) < 0)
        goto fail;
    if (plan_resolution(inst, err) < 0)
        goto fail;
    return inst;
fail:
    pg_destroy(inst);
    return NULL;
}

const struct fo_plugin fo_plugin_entry = {
    .abi_major = FO_PLUGIN_ABI_MAJOR,
    .abi_minor = FO_PLUGIN_ABI_MINOR,
    .name = PG_NAME,
    .kind = FO_PLUGIN_CHECK,
    .init = pg_init,
    .start = pg_start,
    .cancel = pg_cancel,
    .verify = NULL,
    .destroy = pg_destroy,
};
