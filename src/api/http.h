/* The agent's HTTP API server: libmicrohttpd driven from the libuv loop (its epoll fd watched by
 * a uv_poll, its timeouts by a uv_timer; no thread of its own), a small router (method + path
 * prefix -> handler and the role it needs) and bearer tokens with roles. Handlers run on the loop
 * and either answer at once or defer and answer later (e.g. after a Raft commit). */
#ifndef FO_API_HTTP_H
#define FO_API_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "core/fo.h"
#include "daemon/agentcfg.h" /* enum fo_role, struct fo_token_cfg */

struct uv_loop_s;
struct json_object;
struct fo_metrics_buf;

#define FO_API_BODY_MAX_DEFAULT     (64 * 1024)
#define FO_API_CONN_LIMIT_DEFAULT   256
#define FO_API_CONN_TIMEOUT_DEFAULT 15 /* seconds of inactivity */

struct fo_api_cfg {
    const char *listen; /* "host:port", "[v6]:port" or "localhost:port"; numeric; port 0: any */
    const struct fo_token_cfg *tokens; /* only SHA-256 digests of the secrets are kept */
    int ntokens;
    int read_needs_token;    /* 0: the read role is anonymous (default) */
    unsigned conn_limit;     /* 0: FO_API_CONN_LIMIT_DEFAULT */
    unsigned conn_timeout_s; /* 0: FO_API_CONN_TIMEOUT_DEFAULT */
    size_t body_max;         /* 0: FO_API_BODY_MAX_DEFAULT; larger bodies get 413 */
};

struct fo_api;

/* A request as a handler sees it; valid until the handler returns (or, when deferred, until
 * fo_api_reply). Fields named fo__ are the server's. */
struct fo_api_req {
    const char *method;
    const char *path; /* URL path without the query string */
    const char *rest; /* the part of path after the route's prefix */
    const char *body; /* NUL-terminated; body_len bytes */
    size_t body_len;
    enum fo_role role;  /* caller's role; FO_ROLE_READ when anonymous */
    const char *actor;  /* token name, or "anonymous" */
    const char *remote; /* client address "ip:port" */
    struct fo_api *api;
    void *fo__ctx;
};

/* A body made while the client reads it, for answers too big to build in one loop turn
 * (/metrics and /v1/status at thousands of members). The server calls fill whenever it has sent
 * what the last call made, so the loop runs checks between calls: each call appends a part
 * (about FO_API_STREAM_PART bytes; any size works) to out and returns 1 while more follows, 0
 * after the last part, or -1 to cut the answer off (the client sees an unterminated chunked
 * body, never a complete-looking one). done(state) is called exactly once: after the end, when
 * the client goes away, or when the answer is never sent. */
#define FO_API_STREAM_PART (32 * 1024)
struct fo_api_stream {
    int (*fill)(void *state, struct fo_metrics_buf *out);
    void (*done)(void *state);
    void *state;
};

/* What a handler answers. body is malloc'd and owned by the server once set. When stream.fill
 * is set the body comes from it instead (body must then be NULL). */
struct fo_api_resp {
    int code;
    const char *content_type; /* static string; NULL: application/json */
    char *body;
    size_t len;
    struct fo_api_stream stream;
};

typedef void (*fo_api_handler_fn)(struct fo_api_req *req, struct fo_api_resp *resp, void *arg);

/* Creates the server (nothing listens yet). Returns NULL and fills err on bad settings. */
struct fo_api *fo_api_new(struct uv_loop_s *loop, const struct fo_api_cfg *cfg, struct fo_err *err);
/* Replaces the tokens (config reload). */
void fo_api_set_tokens(struct fo_api *api, const struct fo_token_cfg *tokens, int ntokens);
/* Adds a route. prefix ending in '/' matches every path below it, otherwise only the exact path;
 * the longest matching prefix wins. A GET route also answers HEAD. role is the least role the
 * caller needs (FO_ROLE_READ: anonymous unless read_needs_token). */
int fo_api_route(struct fo_api *api, const char *method, const char *prefix, enum fo_role role,
                 fo_api_handler_fn fn, void *arg);
/* Binds the listener and starts serving on the loop. */
int fo_api_start(struct fo_api *api, struct fo_err *err);
/* The port actually bound (after fo_api_start), for "host:0". */
int fo_api_port(const struct fo_api *api);
/* Refused requests so far (no/bad token, role too low). */
uint64_t fo_api_refused(const struct fo_api *api);
/* Stops serving, answers deferred requests with 503 and frees api once the loop has closed its
 * handles. */
void fo_api_close(struct fo_api *api);

/* Called from a handler: the answer comes later through fo_api_reply(api, id, ...); the resp
 * argument of the handler is then ignored. Returns the id (never 0). */
uint64_t fo_api_defer(struct fo_api_req *req);
/* Answers a deferred request; takes resp->body (or resp->stream). Returns -FO_ENOENT when the
 * request is gone (server closed). */
int fo_api_reply(struct fo_api *api, uint64_t id, struct fo_api_resp *resp);

/* Response helpers. fo_api_resp_json takes the reference to o. */
void fo_api_resp_json(struct fo_api_resp *resp, int code, struct json_object *o);
void fo_api_resp_error(struct fo_api_resp *resp, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Request header (case-insensitive name) and query argument; NULL when absent. */
const char *fo_api_req_header(const struct fo_api_req *req, const char *name);
const char *fo_api_req_query(const struct fo_api_req *req, const char *key);

const char *fo_api_role_name(enum fo_role role);

#endif
