/* The HTTP API server: libmicrohttpd in external epoll mode under the libuv loop, the router,
 * bearer-token authentication (SHA-256 digests compared in constant time), body limits, deferred
 * answers (suspend/resume) and accounting of refused requests. See http.h. */
#include "api/http.h"
#include "api/metrics.h"
#include "core/clock.h"
#include "core/log.h"

#include <errno.h>
#include <json-c/json.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#define FO__NCODES       600
#define FO__DIGEST_LEN   32
#define FO__LOG_PATH_MAX 120
/* How much of an oversized chunked body is read and dropped (in units of the cap) so that the
 * client gets its 413; past that the connection is closed. */
#define FO__DISCARD_FACTOR 16

struct fo__route {
    char *method;
    char *prefix;
    size_t plen;
    int subtree; /* prefix ends with '/' */
    enum fo_role role;
    fo_api_handler_fn fn;
    void *arg;
};

struct fo__token {
    char *name;
    enum fo_role role;
    unsigned char digest[FO__DIGEST_LEN];
};

enum fo__state {
    FO__READING,  /* routed and allowed; collecting the body */
    FO__DISCARD,  /* the body outgrew the cap: dropped until its end, then 413 */
    FO__DEFERRED, /* suspended, waiting for fo_api_reply */
    FO__REPLIED,  /* resumed with a stored answer */
    FO__DONE,     /* an answer is queued; anything more from the client is dropped */
};

/* One request; lives from the first access callback to the completion callback. */
struct fo__ctx {
    struct fo_api_req req;
    struct fo_api *api;
    struct MHD_Connection *conn;
    enum fo__state state;
    int route;
    char *method;
    char *path;
    char *body;
    size_t len, cap;
    uint64_t id;
    struct fo_api_resp resp; /* the deferred answer */
    struct fo__ctx *prev, *next;
    char remote[64];
    char actor[64]; /* a copy: a token reload must not pull it from under a deferred request */
};

struct fo_api {
    uv_loop_t *loop;
    uv_poll_t poll;
    uv_timer_t timer;
    uv_idle_t idle; /* runs MHD again next turn for yielded streams */
    struct MHD_Daemon *mhd;
    char *listen;
    int port;
    int read_needs_token;
    unsigned conn_limit;
    unsigned conn_timeout_s;
    size_t body_max;
    struct fo__route *routes;
    int nroutes;
    struct fo__token *tokens;
    int ntokens;
    int started;
    int closing;
    int in_run;
    int open_handles;
    struct fo__ctx *deferred;   /* list of suspended requests */
    struct fo__stream *yielded; /* streams suspended in this MHD_run; resumed after it */
    uint64_t next_id;
    uint64_t by_code[FO__NCODES];
    uint64_t refused;
    uint64_t refused_quiet; /* refusals not logged since the last line */
    int64_t refused_log_ms;
};

const char *fo_api_role_name(enum fo_role role)
{
    switch (role) {
    case FO_ROLE_READ:
        return "read";
    case FO_ROLE_OPERATOR:
        return "operator";
    case FO_ROLE_ADMIN:
        return "admin";
    }
    return "unknown";
}

/* ---- responses ---- */

void fo_api_resp_json(struct fo_api_resp *resp, int code, struct json_object *o)
{
    const char *s =
        json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    free(resp->body);
    resp->body = fo_xasprintf("%s\n", s);
    resp->len = strlen(resp->body);
    resp->code = code;
    resp->content_type = "application/json";
    json_object_put(o);
}

void fo_api_resp_error(struct fo_api_resp *resp, int code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "error", json_object_new_string(msg));
    fo_api_resp_json(resp, code, o);
}

static void fo__count(struct fo_api *api, int code)
{
    if (code >= 100 && code < FO__NCODES)
        api->by_code[code]++;
}

/* A streamed body in flight: what fill made and how much of it was sent. */
struct fo__stream {
    struct fo_api_stream s;
    struct fo_metrics_buf buf;
    size_t sent;
    int last;   /* fill said the part in buf is the last */
    int filled; /* fill ran since the connection was last resumed */
    struct fo_api *api;
    struct MHD_Connection *conn;
    struct fo__stream *ynext;
};

/* MHD asks for more as long as the client reads, all within one MHD_run when the client is
 * fast (its "fast track"): a 16 MiB /metrics would again be made in one loop turn. So each
 * stream gets one fill per MHD_run: past that its connection is suspended, and fo__run resumes
 * it for the next turn, after the loop has run checks. */
static ssize_t fo__stream_read(void *cls, uint64_t pos, char *out, size_t max)
{
    struct fo__stream *st = cls;
    (void)pos;
    while (st->sent >= st->buf.len) {
        if (st->last)
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (st->filled) {
            MHD_suspend_connection(st->conn);
            st->ynext = st->api->yielded;
            st->api->yielded = st;
            return 0;
        }
        st->filled = 1;
        st->buf.len = st->sent = 0;
        int rc = st->s.fill(st->s.state, &st->buf);
        if (rc < 0)
            return MHD_CONTENT_READER_END_WITH_ERROR;
        st->last = rc == 0;
    }
    size_t n = st->buf.len - st->sent;
    if (n > max)
        n = max;
    memcpy(out, st->buf.data + st->sent, n);
    st->sent += n;
    return (ssize_t)n;
}

static void fo__stream_free(void *cls)
{
    struct fo__stream *st = cls;
    if (st->s.done)
        st->s.done(st->s.state);
    fo_metrics_buf_free(&st->buf);
    free(st);
}

/* Ends resp's stream unsent (an error answer or a closed connection). */
static void fo__stream_drop(struct fo_api_resp *resp)
{
    if (resp->stream.fill && resp->stream.done)
        resp->stream.done(resp->stream.state);
    memset(&resp->stream, 0, sizeof(resp->stream));
}

/* Queues resp (taking its body or stream) on the connection; extra is an optional header
 * pair. */
static enum MHD_Result fo__queue(struct fo__ctx *c, struct fo_api_resp *resp, const char *hname,
                                 const char *hvalue)
{
    struct MHD_Response *r;
    if (resp->stream.fill) {
        struct fo__stream *st = fo_xcalloc(1, sizeof(*st));
        st->s = resp->stream;
        st->api = c->api;
        st->conn = c->conn;
        memset(&resp->stream, 0, sizeof(resp->stream));
        free(resp->body);
        /* the block size is MHD's buffer for one read; fill's parts may be larger */
        r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, FO_API_STREAM_PART, fo__stream_read,
                                              st, fo__stream_free);
        if (!r)
            fo__stream_free(st);
    } else if (resp->body && resp->len)
        r = MHD_create_response_from_buffer(resp->len, resp->body, MHD_RESPMEM_MUST_FREE);
    else {
        free(resp->body);
        r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    }
    resp->body = NULL;
    c->state = FO__DONE;
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                            resp->content_type ? resp->content_type : "application/json");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (hname)
        MHD_add_response_header(r, hname, hvalue);
    enum MHD_Result ok = MHD_queue_response(c->conn, (unsigned)resp->code, r);
    MHD_destroy_response(r);
    if (ok == MHD_YES)
        fo__count(c->api, resp->code);
    return ok;
}

static enum MHD_Result fo__error(struct fo__ctx *c, int code, const char *hname, const char *hvalue,
                                 const char *msg)
{
    struct fo_api_resp resp = {0};
    fo_api_resp_error(&resp, code, "%s", msg);
    return fo__queue(c, &resp, hname, hvalue);
}

/* ---- tokens ---- */

static void fo__digest(const void *data, size_t len, unsigned char out[FO__DIGEST_LEN])
{
    unsigned int n = 0;
    if (!EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) || n != FO__DIGEST_LEN) {
        fprintf(stderr, "failoverd: SHA-256 unavailable\n");
        abort();
    }
}

static void fo__tokens_free(struct fo_api *api)
{
    for (int i = 0; i < api->ntokens; i++) {
        free(api->tokens[i].name);
        OPENSSL_cleanse(api->tokens[i].digest, FO__DIGEST_LEN);
    }
    free(api->tokens);
    api->tokens = NULL;
    api->ntokens = 0;
}

void fo_api_set_tokens(struct fo_api *api, const struct fo_token_cfg *tokens, int ntokens)
{
    fo__tokens_free(api);
    api->tokens = fo_xcalloc((size_t)(ntokens > 0 ? ntokens : 1), sizeof(*api->tokens));
    for (int i = 0; i < ntokens; i++) {
        if (!tokens[i].secret || !*tokens[i].secret)
            continue; /* an empty secret would let an empty bearer in */
        struct fo__token *t = &api->tokens[api->ntokens++];
        t->name = fo_xstrdup(tokens[i].name ? tokens[i].name : "token");
        t->role = tokens[i].role;
        fo__digest(tokens[i].secret, strlen(tokens[i].secret), t->digest);
    }
}

/* Every configured token is compared (no early exit), digest against digest, so the time taken
 * tells nothing about the secrets' contents or lengths. */
static const struct fo__token *fo__token_find(const struct fo_api *api, const char *tok, size_t len)
{
    unsigned char d[FO__DIGEST_LEN];
    const struct fo__token *found = NULL;
    fo__digest(tok, len, d);
    for (int i = 0; i < api->ntokens; i++) {
        int eq = CRYPTO_memcmp(d, api->tokens[i].digest, FO__DIGEST_LEN) == 0;
        if (eq && !found)
            found = &api->tokens[i];
    }
    OPENSSL_cleanse(d, sizeof(d));
    return found;
}

/* ---- refusals ---- */

/* Counts a refusal and logs it, at most one line a second; never logs the token. */
static void fo__refused(struct fo__ctx *c, const char *why)
{
    struct fo_api *api = c->api;
    api->refused++;
    int64_t now = fo_clock_mono_ms();
    if (now - api->refused_log_ms < 1000) {
        api->refused_quiet++;
        return;
    }
    char path[FO__LOG_PATH_MAX + 4], quiet[24];
    snprintf(path, sizeof(path), "%.*s%s", FO__LOG_PATH_MAX, c->path,
             strlen(c->path) > FO__LOG_PATH_MAX ? "..." : "");
    snprintf(quiet, sizeof(quiet), "%llu", (unsigned long long)api->refused_quiet);
    fo_event(FO_LOG_WARN, "api.refused", "remote", c->remote, "method", c->method, "path", path,
             "reason", why, "suppressed", quiet, NULL);
    api->refused_log_ms = now;
    api->refused_quiet = 0;
}

/* ---- routing ---- */

static int fo__route_matches(const struct fo__route *r, const char *path)
{
    if (r->subtree)
        return strncmp(path, r->prefix, r->plen) == 0;
    return strcmp(path, r->prefix) == 0;
}

static int fo__method_matches(const struct fo__route *r, const char *method)
{
    if (strcmp(r->method, method) == 0)
        return 1;
    return strcmp(method, "HEAD") == 0 && strcmp(r->method, "GET") == 0;
}

/* Returns the best route for method+path, -1 when no route has the path (404), or -2 when some
 * do but not for this method (405; allow gets the methods that would do). */
static int fo__route_find(const struct fo_api *api, const char *method, const char *path,
                          char *allow, size_t allow_len)
{
    int best = -1, path_known = 0;
    allow[0] = '\0';
    for (int i = 0; i < api->nroutes; i++) {
        const struct fo__route *r = &api->routes[i];
        if (!fo__route_matches(r, path))
            continue;
        path_known = 1;
        if (fo__method_matches(r, method)) {
            if (best < 0 || r->plen > api->routes[best].plen)
                best = i;
        } else if (!strstr(allow, r->method)) {
            size_t n = strlen(allow);
            snprintf(allow + n, allow_len - n, "%s%s%s", n ? ", " : "", r->method,
                     strcmp(r->method, "GET") == 0 ? ", HEAD" : "");
        }
    }
    if (best >= 0)
        return best;
    return path_known ? -2 : -1;
}

int fo_api_route(struct fo_api *api, const char *method, const char *prefix, enum fo_role role,
                 fo_api_handler_fn fn, void *arg)
{
    if (!method || !*method || !prefix || prefix[0] != '/' || !fn)
        return -FO_EINVAL;
    for (int i = 0; i < api->nroutes; i++)
        if (strcmp(api->routes[i].method, method) == 0 &&
            strcmp(api->routes[i].prefix, prefix) == 0)
            return -FO_EEXIST;
    api->routes = fo_xrealloc(api->routes, sizeof(*api->routes) * (size_t)(api->nroutes + 1));
    struct fo__route *r = &api->routes[api->nroutes++];
    r->method = fo_xstrdup(method);
    r->prefix = fo_xstrdup(prefix);
    r->plen = strlen(prefix);
    r->subtree = prefix[r->plen - 1] == '/';
    r->role = role;
    r->fn = fn;
    r->arg = arg;
    return 0;
}

/* ---- request handling ---- */

static void fo__remote(struct fo__ctx *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    char host[INET6_ADDRSTRLEN] = "?", port[8] = "0";
    if (ci && ci->client_addr)
        getnameinfo(ci->client_addr,
                    ci->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                           : sizeof(struct sockaddr_in),
                    host, sizeof(host), port, sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV);
    snprintf(c->remote, sizeof(c->remote), "%s:%s", host, port);
}

/* Works out the caller's role from Authorization. Returns 0 (role set; *actor NULL when there is
 * no header), 401 (a header but not a bearer token) or 403 (unknown token). */
static int fo__authenticate(struct fo__ctx *c, enum fo_role *role, const char **actor)
{
    const char *h = MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND, "Authorization");
    *role = FO_ROLE_READ;
    *actor = NULL;
    if (!h)
        return 0;
    if (strncasecmp(h, "Bearer", 6) != 0 || (h[6] != ' ' && h[6] != '\t'))
        return 401;
    const char *tok = h + 6;
    while (*tok == ' ' || *tok == '\t')
        tok++;
    size_t len = strlen(tok);
    while (len && (tok[len - 1] == ' ' || tok[len - 1] == '\t'))
        len--;
    const struct fo__token *t = len ? fo__token_find(c->api, tok, len) : NULL;
    if (!t)
        return 403;
    *role = t->role;
    *actor = t->name;
    return 0;
}

/* First call for a request (headers complete, no body yet): route, authenticate, check the
 * announced body size. Everything refused here is answered before any body is read. */
static enum MHD_Result fo__begin(struct fo__ctx *c)
{
    struct fo_api *api = c->api;
    char allow[128];
    if (api->closing)
        return fo__error(c, 503, NULL, NULL, "server is shutting down");
    int ri = fo__route_find(api, c->method, c->path, allow, sizeof(allow));
    if (ri == -1)
        return fo__error(c, 404, NULL, NULL, "not found");
    if (ri == -2)
        return fo__error(c, 405, MHD_HTTP_HEADER_ALLOW, allow, "method not allowed");
    const struct fo__route *r = &api->routes[ri];
    c->route = ri;

    enum fo_role role;
    const char *actor;
    int auth = fo__authenticate(c, &role, &actor);
    if (auth == 401) {
        fo__refused(c, "not_bearer");
        return fo__error(c, 401, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"failoverd\"",
                         "a bearer token is required");
    }
    if (auth == 403) {
        fo__refused(c, "bad_token");
        return fo__error(c, 403, NULL, NULL, "token not accepted");
    }
    if (!actor && (r->role > FO_ROLE_READ || api->read_needs_token)) {
        fo__refused(c, "no_token");
        return fo__error(c, 401, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"failoverd\"",
                         "a bearer token is required");
    }
    if (role < r->role) {
        fo__refused(c, "role");
        return fo__error(c, 403, NULL, NULL, "this needs a token with a higher role");
    }
    c->req.role = role;
    snprintf(c->actor, sizeof(c->actor), "%s", actor ? actor : "anonymous");
    c->req.actor = c->actor;

    const char *cl =
        MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(cl, &end, 10);
        if (errno || end == cl || n > api->body_max)
            return fo__error(c, 413, NULL, NULL, "request body too large");
    }
    c->state = FO__READING;
    return MHD_YES;
}

static enum MHD_Result fo__dispatch(struct fo__ctx *c)
{
    struct fo_api *api = c->api;
    const struct fo__route *r = &api->routes[c->route];
    struct fo_api_resp resp = {.code = 500};
    if (!c->body)
        c->body = fo_xstrdup("");
    c->req.method = c->method;
    c->req.path = c->path;
    c->req.rest = c->path + (r->plen <= strlen(c->path) ? r->plen : strlen(c->path));
    c->req.body = c->body;
    c->req.body_len = c->len;
    c->req.remote = c->remote;
    c->req.api = api;
    c->req.fo__ctx = c;
    r->fn(&c->req, &resp, r->arg);
    if (c->state == FO__DEFERRED) {
        free(resp.body);
        fo__stream_drop(&resp);
        MHD_suspend_connection(c->conn);
        return MHD_YES;
    }
    if (resp.code < 100 || resp.code > 599)
        resp.code = 500;
    return fo__queue(c, &resp, NULL, NULL);
}

static enum MHD_Result fo__on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                      const char *method, const char *version, const char *upload,
                                      size_t *upload_size, void **con_cls)
{
    struct fo_api *api = cls;
    struct fo__ctx *c = *con_cls;
    if (!c) {
        c = fo_xcalloc(1, sizeof(*c));
        *con_cls = c;
        c->api = api;
        c->conn = conn;
        c->route = -1;
        c->method = fo_xstrdup(method);
        c->path = fo_xstrdup(url);
        fo__remote(c);
        return fo__begin(c);
    }
    switch (c->state) {
    case FO__READING:
        if (*upload_size == 0)
            return fo__dispatch(c);
        if (c->len + *upload_size > api->body_max) {
            /* A chunked body announces no length. libmicrohttpd cannot answer in the middle of
             * a body, so the rest is dropped and 413 sent at its end. */
            free(c->body);
            c->body = NULL;
            c->cap = 0;
            c->state = FO__DISCARD;
            return fo__on_request(cls, conn, url, method, version, upload, upload_size, con_cls);
        }
        if (c->len + *upload_size + 1 > c->cap) {
            c->cap = c->len + *upload_size + 1;
            c->cap = c->cap < 4096 ? 4096 : c->cap * 2;
            if (c->cap > api->body_max + 1)
                c->cap = api->body_max + 1;
            c->body = fo_xrealloc(c->body, c->cap);
        }
        memcpy(c->body + c->len, upload, *upload_size);
        c->len += *upload_size;
        c->body[c->len] = '\0';
        *upload_size = 0;
        return MHD_YES;
    case FO__DISCARD:
        if (*upload_size == 0)
            return fo__error(c, 413, NULL, NULL, "request body too large");
        c->len += *upload_size;
        *upload_size = 0;
        return c->len > FO__DISCARD_FACTOR * api->body_max ? MHD_NO : MHD_YES;
    case FO__REPLIED:
        return fo__queue(c, &c->resp, NULL, NULL);
    case FO__DEFERRED:
    case FO__DONE:
        *upload_size = 0;
        return MHD_YES;
    }
    return MHD_NO;
}

static void fo__unlink_deferred(struct fo__ctx *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else if (c->api->deferred == c)
        c->api->deferred = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
}

static void fo__on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                             enum MHD_RequestTerminationCode toe)
{
    struct fo__ctx *c = *con_cls;
    if (!c)
        return;
    if (c->state == FO__DEFERRED)
        fo__unlink_deferred(c);
    free(c->resp.body);
    fo__stream_drop(&c->resp);
    free(c->body);
    free(c->method);
    free(c->path);
    free(c);
    *con_cls = NULL;
}

uint64_t fo_api_defer(struct fo_api_req *req)
{
    struct fo__ctx *c = req->fo__ctx;
    struct fo_api *api = c->api;
    if (c->state == FO__DEFERRED)
        return c->id;
    c->id = ++api->next_id;
    c->state = FO__DEFERRED;
    c->next = api->deferred;
    if (api->deferred)
        api->deferred->prev = c;
    api->deferred = c;
    return c->id;
}

static void fo__on_timer(uv_timer_t *t);
static void fo__on_idle(uv_idle_t *h);

static void fo__resume(struct fo__ctx *c, struct fo_api_resp *resp)
{
    fo__unlink_deferred(c);
    c->resp = *resp;
    if (c->resp.code < 100 || c->resp.code > 599)
        c->resp.code = 500;
    resp->body = NULL;
    memset(&resp->stream, 0, sizeof(resp->stream));
    c->state = FO__REPLIED;
    MHD_resume_connection(c->conn);
}

int fo_api_reply(struct fo_api *api, uint64_t id, struct fo_api_resp *resp)
{
    struct fo__ctx *c = api->closing ? NULL : api->deferred;
    while (c && c->id != id)
        c = c->next;
    if (!c) {
        free(resp->body);
        resp->body = NULL;
        fo__stream_drop(resp);
        return -FO_ENOENT;
    }
    fo__resume(c, resp);
    /* the resumed connection is processed by the next MHD_run */
    if (!api->in_run)
        uv_timer_start(&api->timer, fo__on_timer, 0, 0);
    return 0;
}

const char *fo_api_req_header(const struct fo_api_req *req, const char *name)
{
    struct fo__ctx *c = req->fo__ctx;
    return MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND, name);
}

const char *fo_api_req_query(const struct fo_api_req *req, const char *key)
{
    struct fo__ctx *c = req->fo__ctx;
    return MHD_lookup_connection_value(c->conn, MHD_GET_ARGUMENT_KIND, key);
}

/* ---- the loop ---- */

static void fo__finish_close(struct fo_api *api);

static void fo__arm_timer(struct fo_api *api)
{
    MHD_UNSIGNED_LONG_LONG ms = 0;
    if (MHD_get_timeout(api->mhd, &ms) == MHD_YES)
        uv_timer_start(&api->timer, fo__on_timer, ms > 3600000 ? 3600000 : (uint64_t)ms, 0);
    else
        uv_timer_stop(&api->timer);
}

/* Resumes the streams that used their part for this MHD_run; true if there were any. */
static int fo__resume_yielded(struct fo_api *api)
{
    int any = api->yielded != NULL;
    while (api->yielded) {
        struct fo__stream *st = api->yielded;
        api->yielded = st->ynext;
        st->ynext = NULL;
        st->filled = 0;
        MHD_resume_connection(st->conn);
    }
    return any;
}

static void fo__run(struct fo_api *api)
{
    if (!api->mhd)
        return;
    api->in_run++;
    MHD_run(api->mhd);
    api->in_run--;
    if (api->closing)
        fo__finish_close(api);
    else if (fo__resume_yielded(api))
        /* not a 0 ms timer: libuv would run it in this same timer phase, before any I/O */
        uv_idle_start(&api->idle, fo__on_idle);
    else
        fo__arm_timer(api);
}

static void fo__on_poll(uv_poll_t *p, int status, int events)
{
    fo__run(p->data);
}

static void fo__on_timer(uv_timer_t *t)
{
    fo__run(t->data);
}

static void fo__on_idle(uv_idle_t *h)
{
    uv_idle_stop(h);
    fo__run(h->data);
}

static void fo__mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[256];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    /* clients can make MHD complain at will: keep it at debug */
    fo_debug("api: libmicrohttpd: %s", msg);
}

/* ---- listener ---- */

static int fo__listen_addr(const char *listen, struct sockaddr_storage *ss, socklen_t *sslen,
                           struct fo_err *err)
{
    char host[128];
    const char *colon;
    if (listen[0] == '[') {
        const char *close = strchr(listen, ']');
        if (!close || close[1] != ':' || (size_t)(close - listen - 1) >= sizeof(host))
            return fo_err_set(err, -FO_EINVAL, "api listen '%s': expected [address]:port", listen);
        memcpy(host, listen + 1, (size_t)(close - listen - 1));
        host[close - listen - 1] = '\0';
        colon = close + 1;
    } else {
        colon = strrchr(listen, ':');
        if (!colon || (size_t)(colon - listen) >= sizeof(host) ||
            memchr(listen, ':', (size_t)(colon - listen)))
            return fo_err_set(err, -FO_EINVAL, "api listen '%s': expected host:port", listen);
        memcpy(host, listen, (size_t)(colon - listen));
        host[colon - listen] = '\0';
    }
    char *end;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (errno || end == colon + 1 || *end || port < 0 || port > 65535)
        return fo_err_set(err, -FO_EINVAL, "api listen '%s': bad port", listen);
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof(host), "127.0.0.1");
    else if (host[0] == '\0' || strcmp(host, "*") == 0)
        snprintf(host, sizeof(host), "0.0.0.0");
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE,
                             .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL;
    if (getaddrinfo(host, colon + 1, &hints, &ai) != 0 || !ai)
        return fo_err_set(err, -FO_EINVAL,
                          "api listen '%s': the address must be numeric (or localhost)", listen);
    memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    *sslen = ai->ai_addrlen;
    freeaddrinfo(ai);
    return 0;
}

static int fo__listen_socket(struct fo_api *api, struct fo_err *err)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    int rc = fo__listen_addr(api->listen, &ss, &sslen, err);
    if (rc < 0)
        return rc;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return fo_err_set(err, -errno, "api listen %s: socket: %s", api->listen, strerror(errno));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ss.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, sslen) < 0 || listen(fd, 128) < 0) {
        rc = fo_err_set(err, -errno, "api listen %s: %s", api->listen, strerror(errno));
        close(fd);
        return rc;
    }
    sslen = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &sslen);
    api->port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                              : ((struct sockaddr_in6 *)&ss)->sin6_port);
    return fd;
}

/* ---- metrics of the server itself ---- */

static void fo__emit_metrics(struct fo_metrics_buf *b, void *arg)
{
    struct fo_api *api = arg;
    fo_metrics_family(b, "failoverd_http_requests_total", "counter",
                      "HTTP API responses sent, by status code.");
    for (int code = 100; code < FO__NCODES; code++) {
        if (!api->by_code[code])
            continue;
        char s[16];
        snprintf(s, sizeof(s), "%d", code);
        fo_metrics_sample(b, "failoverd_http_requests_total", (double)api->by_code[code], "code", s,
                          (char *)NULL);
    }
    fo_metrics_family(b, "failoverd_api_refused_total", "counter",
                      "HTTP API requests refused for a missing or bad token or a too low role.");
    fo_metrics_sample(b, "failoverd_api_refused_total", (double)api->refused, (char *)NULL);
}

/* ---- lifecycle ---- */

struct fo_api *fo_api_new(struct uv_loop_s *loop, const struct fo_api_cfg *cfg, struct fo_err *err)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    const char *listen = cfg->listen ? cfg->listen : "127.0.0.1:8740";
    if (fo__listen_addr(listen, &ss, &sslen, err) < 0)
        return NULL;
    for (int i = 0; i < cfg->ntokens; i++)
        if (cfg->tokens[i].role < FO_ROLE_READ || cfg->tokens[i].role > FO_ROLE_ADMIN) {
            fo_err_set(err, -FO_EINVAL, "api token '%s': unknown role",
                       cfg->tokens[i].name ? cfg->tokens[i].name : "?");
            return NULL;
        }
    struct fo_api *api = fo_xcalloc(1, sizeof(*api));
    api->loop = loop;
    api->listen = fo_xstrdup(listen);
    api->read_needs_token = cfg->read_needs_token;
    api->conn_limit = cfg->conn_limit ? cfg->conn_limit : FO_API_CONN_LIMIT_DEFAULT;
    api->conn_timeout_s = cfg->conn_timeout_s ? cfg->conn_timeout_s : FO_API_CONN_TIMEOUT_DEFAULT;
    api->body_max = cfg->body_max ? cfg->body_max : FO_API_BODY_MAX_DEFAULT;
    api->refused_log_ms = INT64_MIN / 2;
    fo_api_set_tokens(api, cfg->tokens, cfg->ntokens);
    return api;
}

int fo_api_start(struct fo_api *api, struct fo_err *err)
{
    if (api->started || api->closing)
        return fo_err_set(err, -FO_EINVAL, "api server already started");
    int fd = fo__listen_socket(api, err);
    if (fd < 0)
        return fd;
    api->mhd = MHD_start_daemon(
        MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, 0, NULL, NULL, fo__on_request,
        api, MHD_OPTION_EXTERNAL_LOGGER, fo__mhd_log, api, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
        MHD_OPTION_CONNECTION_LIMIT, api->conn_limit, MHD_OPTION_CONNECTION_TIMEOUT,
        api->conn_timeout_s, MHD_OPTION_NOTIFY_COMPLETED, fo__on_completed, api, MHD_OPTION_END);
    if (!api->mhd) {
        close(fd);
        return fo_err_set(err, -FO_EIO, "api listen %s: libmicrohttpd did not start", api->listen);
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(api->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    int rc;
    if (!di || di->epoll_fd < 0) {
        rc = fo_err_set(err, -FO_EIO, "api: libmicrohttpd has no epoll fd");
        goto fail;
    }
    rc = uv_poll_init(api->loop, &api->poll, di->epoll_fd);
    if (rc < 0) {
        fo_err_set(err, rc, "api: uv_poll_init: %s", uv_strerror(rc));
        goto fail;
    }
    uv_timer_init(api->loop, &api->timer);
    uv_idle_init(api->loop, &api->idle);
    api->poll.data = api;
    api->timer.data = api;
    api->idle.data = api;
    api->open_handles = 3;
    api->started = 1;
    uv_poll_start(&api->poll, UV_READABLE, fo__on_poll);
    fo__arm_timer(api);
    fo_metrics_register(fo__emit_metrics, api);
    fo_info("api: listening on %s (port %d)", api->listen, api->port);
    return 0;
fail:
    MHD_stop_daemon(api->mhd); /* closes the listening socket */
    api->mhd = NULL;
    return rc;
}

int fo_api_port(const struct fo_api *api)
{
    return api->port;
}

uint64_t fo_api_refused(const struct fo_api *api)
{
    return api->refused;
}

static void fo__free(struct fo_api *api)
{
    for (int i = 0; i < api->nroutes; i++) {
        free(api->routes[i].method);
        free(api->routes[i].prefix);
    }
    free(api->routes);
    fo__tokens_free(api);
    free(api->listen);
    free(api);
}

static void fo__on_closed(uv_handle_t *h)
{
    struct fo_api *api = h->data;
    if (--api->open_handles == 0)
        fo__free(api);
}

static void fo__finish_close(struct fo_api *api)
{
    if (api->mhd) {
        /* Answer what waits, then give MHD two non-blocking passes to send those answers
         * before the daemon and its connections go. */
        while (api->deferred) {
            struct fo_api_resp resp = {0};
            fo_api_resp_error(&resp, 503, "server is shutting down");
            fo__resume(api->deferred, &resp);
        }
        api->in_run++;
        MHD_run(api->mhd);
        fo__resume_yielded(api);
        MHD_run(api->mhd);
        api->in_run--;
        fo__resume_yielded(api); /* MHD must not be stopped with suspended connections */
    }
    if (api->started) {
        /* close the poll handle before MHD closes the epoll fd it watches */
        uv_poll_stop(&api->poll);
        uv_close((uv_handle_t *)&api->poll, fo__on_closed);
        uv_timer_stop(&api->timer);
        uv_close((uv_handle_t *)&api->timer, fo__on_closed);
        uv_idle_stop(&api->idle);
        uv_close((uv_handle_t *)&api->idle, fo__on_closed);
    }
    if (api->mhd) {
        MHD_stop_daemon(api->mhd);
        api->mhd = NULL;
    }
    if (!api->started)
        fo__free(api);
}

void fo_api_close(struct fo_api *api)
{
    if (!api || api->closing)
        return;
    api->closing = 1;
    if (api->started)
        fo_metrics_unregister(fo__emit_metrics, api);
    if (api->in_run)
        return; /* a handler closed us: finished when MHD_run returns */
    fo__finish_close(api);
}
