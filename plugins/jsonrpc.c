/* Check plugin `jsonrpc`: an Ethereum-style node, asked in one batch POST (eth_blockNumber,
 * eth_syncing, net_peerCount, the latest block's timestamp, eth_chainId when one is expected)
 * through the host's shared curl multi handle. Judges sync state, lag behind the best head among
 * the service's members, head stalls as this plugin observed them, and peers. A run borrows an
 * easy handle from this plugin's pool; connections stay in the multi handle's cache. */

/*
 * address: the node's URL. params:
 *   max_head_lag  blocks behind the best head of the service's other members (default 5)
 *   max_head_age  duration the head may stay unchanged, as observed by this plugin from its own
 *                 runs (default 0: off). A chain that produces no blocks when idle (ganache
 *                 without --miner.blockTime, a dev chain) never advances: keep it off there.
 *                 The age restarts at 0 when the agent (or a reload that changes the check) starts.
 *   min_peers     net_peerCount at least this (default 0; a node that refuses net_peerCount is
 *                 then critical)
 *   chain_id      expected eth_chainId (optional; only then is eth_chainId asked)
 * facts: head, peers (when answered), best_head, head_lag (ints), syncing (bool), head_age_s
 * (double), head_timestamp (int, the latest block's), chain_id (int, when asked). Critical when
 * syncing, lagging, stalled, short of peers, on another chain, on HTTP errors, or when a 200
 * answer cannot be understood (the node is sick); unknown only for our own failures.
 */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "curlpool.h"
#include "params.h"

#define FO__RPC_MAX_BODY (1024 * 1024) /* a latest block with only tx hashes fits easily */
#define FO__RPC_ERR_MAX  160

enum { FO__RPC_ID_HEAD = 1, FO__RPC_ID_SYNC, FO__RPC_ID_PEERS, FO__RPC_ID_BLOCK, FO__RPC_ID_CHAIN };

static const char fo__rpc_batch[] =
    "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_blockNumber\",\"params\":[]},"
    "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"eth_syncing\",\"params\":[]},"
    "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"net_peerCount\",\"params\":[]},"
    "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"eth_getBlockByNumber\",\"params\":[\"latest\","
    "false]}";
static const char fo__rpc_batch_chain[] =
    ",{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"eth_chainId\",\"params\":[]}";

struct fo__rpc_cfg {
    int64_t max_head_lag;
    uint64_t max_head_age_ms; /* 0: off */
    int64_t min_peers;
    int want_chain;
    int64_t chain_id;
};

/* What one answer said. */
struct fo__rpc_obs {
    int64_t head;
    int syncing;
    int have_sync_blocks;
    int64_t sync_current;
    int64_t sync_highest;
    int have_peers;
    int64_t peers;
    char peers_err[FO__RPC_ERR_MAX];
    int have_ts;
    int64_t head_ts;
    int have_chain;
    int64_t chain_id;
};

/* When the head last changed, as this plugin saw it. */
struct fo__rpc_track {
    int known;
    int64_t last_head;
    int64_t changed_ms;
};

struct fo__rpc {
    const struct fo_host *host;
    void *handle;
    struct fo__rpc_cfg cfg;
    struct fo__rpc_track track;
    CURL *easy; /* borrowed from the pool while a run is in flight, else NULL */
    struct curl_slist *headers;
    const char *url; /* the target's address outlives the instance */
    char *request;
    uint32_t budget_ms;
    char *body;
    size_t body_len;
    size_t body_cap;
    int too_big;
    int nomem;
    int running;
    fo_check_done_fn done;
    void *cookie;
    char errbuf[CURL_ERROR_SIZE];
};

static struct fo_curl_pool fo__rpc_pool;

/* ---- parsing the batch answer (pure) ---- */

/* Ethereum QUANTITY: "0x" and 1 to 16 hex digits, at most INT64_MAX. */
static int fo__rpc_quantity(struct json_object *v, int64_t *out)
{
    const char *s;
    char *end;
    uint64_t n;
    if (!v || !json_object_is_type(v, json_type_string))
        return -1;
    s = json_object_get_string(v);
    if (s[0] != '0' || (s[1] != 'x' && s[1] != 'X') || !s[2] || strlen(s + 2) > 16 || s[2] == '-' ||
        s[2] == '+' || s[2] == ' ')
        return -1;
    errno = 0;
    n = strtoull(s + 2, &end, 16);
    if (errno || *end || n > INT64_MAX)
        return -1;
    *out = (int64_t)n;
    return 0;
}

static void fo__rpc_error_text(struct json_object *e, char *buf, size_t len)
{
    struct json_object *m = NULL, *c = NULL;
    if (json_object_is_type(e, json_type_object) && json_object_object_get_ex(e, "message", &m) &&
        json_object_is_type(m, json_type_string)) {
        json_object_object_get_ex(e, "code", &c);
        snprintf(buf, len, "%.100s (code %d)", json_object_get_string(m),
                 c ? json_object_get_int(c) : 0);
    } else {
        snprintf(buf, len, "error %.100s", json_object_to_json_string(e));
    }
}

static int fo__rpc_entry_id(struct json_object *entry)
{
    struct json_object *id = NULL;
    int64_t n;
    if (!json_object_object_get_ex(entry, "id", &id) || fo_param_parse_int(id, &n) < 0 ||
        n < FO__RPC_ID_HEAD || n > FO__RPC_ID_CHAIN)
        return 0;
    return (int)n;
}

/* Parses the answer to the batch. Returns 0, or -1 with err set: the node answered 200 with
 * something we cannot use, so the node is sick (critical), not our check (unknown). Entries
 * may come in any order; only net_peerCount and the latest block are optional (a failure of
 * those is kept, not fatal). */
static int fo__rpc_parse(const char *body, size_t len, int want_chain, struct fo__rpc_obs *o,
                         char *err, size_t errlen)
{
    struct json_tokener *tok = json_tokener_new();
    struct json_object *root = NULL, *entries[FO__RPC_ID_CHAIN + 1] = {0};
    static const char *const names[] = {
        "",           "eth_blockNumber", "eth_syncing", "net_peerCount", "eth_getBlockByNumber",
        "eth_chainId"};
    int rc = -1;

    memset(o, 0, sizeof(*o));
    if (!tok) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    root = json_tokener_parse_ex(tok, body, (int)len);
    if (!root || json_tokener_get_error(tok) != json_tokener_success ||
        tok->char_offset < (int)len) {
        snprintf(err, errlen, "answer is not JSON: %s",
                 root ? "trailing data" : json_tokener_error_desc(json_tokener_get_error(tok)));
        goto out;
    }
    if (json_object_is_type(root, json_type_object)) {
        struct json_object *e = NULL;
        char why[FO__RPC_ERR_MAX];
        if (json_object_object_get_ex(root, "error", &e)) {
            fo__rpc_error_text(e, why, sizeof(why));
            snprintf(err, errlen, "batch refused: %s", why);
        } else {
            snprintf(err, errlen, "answer is not a batch (expected a JSON array)");
        }
        goto out;
    }
    if (!json_object_is_type(root, json_type_array)) {
        snprintf(err, errlen, "answer is not a batch (expected a JSON array)");
        goto out;
    }
    for (size_t i = 0; i < json_object_array_length(root); i++) {
        struct json_object *e = json_object_array_get_idx(root, i);
        int id = json_object_is_type(e, json_type_object) ? fo__rpc_entry_id(e) : 0;
        if (id && !entries[id])
            entries[id] = e;
    }
    for (int id = FO__RPC_ID_HEAD; id <= FO__RPC_ID_CHAIN; id++) {
        struct json_object *e = entries[id], *res = NULL, *x = NULL;
        char why[FO__RPC_ERR_MAX] = "no answer in the batch";
        int have = e && json_object_object_get_ex(e, "result", &res);
        if (id == FO__RPC_ID_CHAIN && !want_chain)
            continue;
        if (e && json_object_object_get_ex(e, "error", &x) && x) {
            fo__rpc_error_text(x, why, sizeof(why));
            have = 0;
        }
        switch (id) {
        case FO__RPC_ID_HEAD:
            if (!have || fo__rpc_quantity(res, &o->head) < 0)
                goto bad;
            break;
        case FO__RPC_ID_SYNC:
            if (!have)
                goto bad;
            if (json_object_is_type(res, json_type_boolean)) {
                o->syncing = json_object_get_boolean(res);
            } else if (json_object_is_type(res, json_type_object)) {
                struct json_object *cur = NULL, *hi = NULL;
                o->syncing = 1;
                json_object_object_get_ex(res, "currentBlock", &cur);
                json_object_object_get_ex(res, "highestBlock", &hi);
                o->have_sync_blocks = fo__rpc_quantity(cur, &o->sync_current) == 0 &&
                                      fo__rpc_quantity(hi, &o->sync_highest) == 0;
            } else {
                goto bad;
            }
            break;
        case FO__RPC_ID_PEERS:
            if (have && fo__rpc_quantity(res, &o->peers) == 0)
                o->have_peers = 1;
            else
                snprintf(o->peers_err, sizeof(o->peers_err), "%s", have ? "not a quantity" : why);
            break;
        case FO__RPC_ID_BLOCK:
            if (have && json_object_is_type(res, json_type_object) &&
                json_object_object_get_ex(res, "timestamp", &x) &&
                fo__rpc_quantity(x, &o->head_ts) == 0)
                o->have_ts = 1;
            break;
        case FO__RPC_ID_CHAIN:
            if (!have || fo__rpc_quantity(res, &o->chain_id) < 0)
                goto bad;
            o->have_chain = 1;
            break;
        }
        continue;
    bad:
        snprintf(err, errlen, "%s: %s", names[id], have ? "result is not understood" : why);
        goto out;
    }
    rc = 0;
out:
    json_object_put(root);
    json_tokener_free(tok);
    return rc;
}

/* ---- judging (pure: the clock and the best head are inputs) ---- */

static void fo__rpc_append(char *msg, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fo__rpc_append(char *msg, size_t len, const char *fmt, ...)
{
    size_t off = strlen(msg);
    va_list ap;
    if (off && off + 2 < len) {
        memcpy(msg + off, "; ", 3);
        off += 2;
    }
    if (off >= len)
        return;
    va_start(ap, fmt);
    vsnprintf(msg + off, len - off, fmt, ap);
    va_end(ap);
}

/* `best_other` is the best head among the service's other members (when have_best); the head
 * age is the time since this plugin last saw the head change (0 on the first observation). */
static void fo__rpc_eval(const struct fo__rpc_cfg *cfg, const struct fo__rpc_obs *o,
                         struct fo__rpc_track *trk, int64_t now_ms, int have_best,
                         int64_t best_other, struct fo_result *r)
{
    char bad[FO_MESSAGE_MAX] = "";
    int64_t best, lag, age_ms;

    if (!trk->known || trk->last_head != o->head) {
        trk->known = 1;
        trk->last_head = o->head;
        trk->changed_ms = now_ms;
    }
    age_ms = now_ms - trk->changed_ms;
    best = have_best && best_other > o->head ? best_other : o->head;
    lag = best - o->head;

    fo_result_int(r, "head", o->head);
    fo_result_bool(r, "syncing", o->syncing);
    if (o->have_peers)
        fo_result_int(r, "peers", o->peers);
    fo_result_double(r, "head_age_s", (double)age_ms / 1000.0);
    fo_result_int(r, "best_head", best);
    fo_result_int(r, "head_lag", lag);
    if (o->have_ts)
        fo_result_int(r, "head_timestamp", o->head_ts);
    if (o->have_chain)
        fo_result_int(r, "chain_id", o->chain_id);

    if (cfg->want_chain && o->have_chain && o->chain_id != cfg->chain_id)
        fo__rpc_append(bad, sizeof(bad), "chain id %" PRId64 ", expected %" PRId64, o->chain_id,
                       cfg->chain_id);
    if (o->syncing && o->have_sync_blocks)
        fo__rpc_append(bad, sizeof(bad), "syncing (block %" PRId64 " of %" PRId64 ")",
                       o->sync_current, o->sync_highest);
    else if (o->syncing)
        fo__rpc_append(bad, sizeof(bad), "syncing");
    if (lag > cfg->max_head_lag)
        fo__rpc_append(bad, sizeof(bad),
                       "head %" PRId64 " is %" PRId64 " behind best %" PRId64 " (max %" PRId64 ")",
                       o->head, lag, best, cfg->max_head_lag);
    if (cfg->max_head_age_ms && age_ms > (int64_t)cfg->max_head_age_ms)
        fo__rpc_append(bad, sizeof(bad), "head %" PRId64 " not advanced for %.1fs (max %.1fs)",
                       o->head, (double)age_ms / 1000.0, (double)cfg->max_head_age_ms / 1000.0);
    if (cfg->min_peers > 0 && !o->have_peers)
        fo__rpc_append(bad, sizeof(bad), "net_peerCount: %s", o->peers_err);
    else if (o->have_peers && o->peers < cfg->min_peers)
        fo__rpc_append(bad, sizeof(bad), "%" PRId64 " peers, min %" PRId64, o->peers,
                       cfg->min_peers);
    if (bad[0]) {
        fo_result_set(r, FO_STATUS_CRITICAL, "%s", bad);
        return;
    }
    if (o->have_peers)
        fo_result_set(r, FO_STATUS_OK, "head %" PRId64 ", lag %" PRId64 ", %" PRId64 " peers",
                      o->head, lag, o->peers);
    else
        fo_result_set(r, FO_STATUS_OK, "head %" PRId64 ", lag %" PRId64, o->head, lag);
}

/* ---- the transfer ---- */

static size_t fo__rpc_write(char *data, size_t size, size_t n, void *arg)
{
    struct fo__rpc *c = arg;
    size_t len = size * n;
    if (c->body_len + len > FO__RPC_MAX_BODY) {
        c->too_big = 1;
        return 0;
    }
    if (c->body_len + len + 1 > c->body_cap) {
        size_t cap = c->body_cap ? c->body_cap : 4096;
        while (cap < c->body_len + len + 1)
            cap *= 2;
        char *p = realloc(c->body, cap);
        if (!p) {
            c->nomem = 1;
            return 0;
        }
        c->body = p;
        c->body_cap = cap;
    }
    memcpy(c->body + c->body_len, data, len);
    c->body_len += len;
    c->body[c->body_len] = '\0';
    return len;
}

static void fo__rpc_finished(void *easy, int code, void *arg)
{
    struct fo__rpc *c = arg;
    struct fo_result r;
    struct fo__rpc_obs o;
    char why[FO_MESSAGE_MAX];
    long status = 0, oserr = 0;
    curl_off_t total_us = 0;
    int64_t best = 0;

    if (!c->running)
        return;
    c->running = 0;
    memset(&r, 0, sizeof(r));
    curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(c->easy, CURLINFO_TOTAL_TIME_T, &total_us);
    if (c->nomem) {
        fo_result_set(&r, FO_STATUS_UNKNOWN, "out of memory for the answer");
    } else if (c->too_big) {
        fo_result_set(&r, FO_STATUS_CRITICAL, "answer larger than %d bytes", FO__RPC_MAX_BODY);
    } else if (code == CURLE_OPERATION_TIMEDOUT) {
        fo_result_set(&r, FO_STATUS_CRITICAL, "timeout after %u ms", c->budget_ms);
    } else if (code == CURLE_COULDNT_CONNECT &&
               curl_easy_getinfo(c->easy, CURLINFO_OS_ERRNO, &oserr) == CURLE_OK &&
               oserr == ECONNREFUSED) {
        fo_result_set(&r, FO_STATUS_CRITICAL, "connection refused");
    } else if (code != CURLE_OK) {
        fo_result_set(&r, code == CURLE_OUT_OF_MEMORY ? FO_STATUS_UNKNOWN : FO_STATUS_CRITICAL,
                      "%s", c->errbuf[0] ? c->errbuf : curl_easy_strerror(code));
    } else if (status != 200) {
        fo_result_set(&r, FO_STATUS_CRITICAL, "HTTP %ld", status);
    } else if (fo__rpc_parse(c->body ? c->body : "", c->body_len, c->cfg.want_chain, &o, why,
                             sizeof(why)) < 0) {
        fo_result_set(&r, FO_STATUS_CRITICAL, "bad JSON-RPC answer: %s", why);
    } else {
        int have_best =
            c->host->service_best_int && c->host->service_best_int(c->handle, "head", &best) == 0;
        fo__rpc_eval(&c->cfg, &o, &c->track, (int64_t)uv_now(c->host->loop), have_best, best, &r);
    }
    r.latency_ms = (double)total_us / 1000.0;
    /* The host removed the handle from the multi before calling us. */
    fo_curl_pool_put(&fo__rpc_pool, c->easy);
    c->easy = NULL;
    c->done(c->cookie, &r); /* nothing touches c after this: the host may destroy it */
}

static void fo__rpc_destroy(void *instance)
{
    struct fo__rpc *c = instance;
    if (!c)
        return;
    if (c->running)
        c->host->http_cancel(c->easy);
    fo_curl_pool_put(&fo__rpc_pool, c->easy);
    curl_slist_free_all(c->headers);
    free(c->request);
    free(c->body);
    free(c);
    fo_curl_pool_unref(&fo__rpc_pool);
}

/* Sets every option of this instance on `e`, a fresh or reset handle. */
static CURLcode fo__rpc_setup(struct fo__rpc *c, CURL *e)
{
    CURLcode cc = CURLE_OK;
#define FO__SET(opt, val)                                                                          \
    do {                                                                                           \
        if (cc == CURLE_OK)                                                                        \
            cc = curl_easy_setopt(e, opt, val);                                                    \
    } while (0)
    FO__SET(CURLOPT_URL, c->url);
    FO__SET(CURLOPT_PROTOCOLS_STR, "http,https");
    FO__SET(CURLOPT_NOSIGNAL, 1L);
    /* A check measures the target itself: never through a proxy from the environment. */
    FO__SET(CURLOPT_PROXY, "");
    /* libcurl keeps a receive buffer per handle (16 KiB by default); health answers are small */
    FO__SET(CURLOPT_BUFFERSIZE, 4096L);
    FO__SET(CURLOPT_TIMEOUT_MS, (long)c->budget_ms);
    FO__SET(CURLOPT_CONNECTTIMEOUT_MS, (long)c->budget_ms);
    FO__SET(CURLOPT_ERRORBUFFER, c->errbuf);
    FO__SET(CURLOPT_WRITEFUNCTION, fo__rpc_write);
    FO__SET(CURLOPT_WRITEDATA, c);
    FO__SET(CURLOPT_USERAGENT, "failoverd-check");
    FO__SET(CURLOPT_HTTPHEADER, c->headers);
    FO__SET(CURLOPT_POSTFIELDS, c->request);
    FO__SET(CURLOPT_POSTFIELDSIZE, (long)strlen(c->request));
#undef FO__SET
    return cc;
}

static void *fo__rpc_init(const struct fo_host *host, void *handle, const struct fo_target *t,
                          struct fo_plugin_err *err)
{
    static const char *const known[] = {"max_head_lag", "max_head_age", "min_peers", "chain_id",
                                        NULL};
    const struct json_object *p = t->params;
    struct fo__rpc *c = calloc(1, sizeof(*c));
    struct curl_slist *l;
    CURLcode cc;
    CURL *e;

    if (!c) {
        fo_param_fail(err, "params", "out of memory");
        return NULL;
    }
    fo__rpc_pool.ninst++;
    c->host = host;
    c->url = t->address;
    c->handle = handle;
    c->budget_ms = (uint32_t)fo_param_budget_ms(t->timeout_ms);
    c->cfg.max_head_lag = 5;
    if (fo_param_check_keys(p, known, err) < 0 ||
        fo_param_int(p, "max_head_lag", 0, INT32_MAX, &c->cfg.max_head_lag, err) < 0 ||
        fo_param_duration(host, p, "max_head_age", 7 * 24 * 3600 * 1000ull, &c->cfg.max_head_age_ms,
                          err) < 0 ||
        fo_param_int(p, "min_peers", 0, INT32_MAX, &c->cfg.min_peers, err) < 0)
        goto fail;
    c->cfg.want_chain = fo_param_int(p, "chain_id", 1, INT64_MAX, &c->cfg.chain_id, err);
    if (c->cfg.want_chain < 0)
        goto fail;
    if (strncasecmp(t->address, "http://", 7) != 0 && strncasecmp(t->address, "https://", 8) != 0) {
        fo_param_fail(err, "address", "must be the node's http:// or https:// URL");
        goto fail;
    }
    if (asprintf(&c->request, "%s%s]", fo__rpc_batch,
                 c->cfg.want_chain ? fo__rpc_batch_chain : "") < 0) {
        c->request = NULL;
        fo_param_fail(err, "params", "out of memory");
        goto fail;
    }
    if (!(l = curl_slist_append(NULL, "Content-Type: application/json")) ||
        !(c->headers = curl_slist_append(l, "Accept: application/json"))) {
        curl_slist_free_all(l);
        fo_param_fail(err, "params", "out of memory");
        goto fail;
    }
    /* Options are refused at configuration time rather than at each run. */
    if (!(e = fo_curl_pool_get(&fo__rpc_pool))) {
        fo_param_fail(err, "params", "curl_easy_init failed");
        goto fail;
    }
    cc = fo__rpc_setup(c, e);
    fo_curl_pool_put(&fo__rpc_pool, e);
    if (cc != CURLE_OK) {
        fo_param_fail(err, "params", "libcurl refused an option: %s", curl_easy_strerror(cc));
        goto fail;
    }
    return c;
fail:
    fo__rpc_destroy(c);
    return NULL;
}

static int fo__rpc_start(void *instance, fo_check_done_fn done, void *cookie)
{
    struct fo__rpc *c = instance;
    int rc;

    if (c->running)
        return -EBUSY;
    c->done = done;
    c->cookie = cookie;
    c->body_len = 0;
    c->too_big = 0;
    c->nomem = 0;
    c->errbuf[0] = '\0';
    if (!(c->easy = fo_curl_pool_get(&fo__rpc_pool)))
        return -ENOMEM;
    if (fo__rpc_setup(c, c->easy) != CURLE_OK) {
        rc = -ENOMEM; /* init set the same options: only memory can be short now */
        goto fail;
    }
    c->running = 1;
    rc = c->host->http_start(c->easy, fo__rpc_finished, c);
    if (rc < 0) {
        c->running = 0;
        goto fail;
    }
    return 0;
fail:
    fo_curl_pool_put(&fo__rpc_pool, c->easy);
    c->easy = NULL;
    return rc;
}

static void fo__rpc_cancel(void *instance)
{
    struct fo__rpc *c = instance;
    if (!c->running)
        return;
    c->running = 0;
    c->host->http_cancel(c->easy);
    fo_curl_pool_put(&fo__rpc_pool, c->easy);
    c->easy = NULL;
}

const struct fo_plugin fo_plugin_entry = {
    .abi_major = FO_PLUGIN_ABI_MAJOR,
    .abi_minor = FO_PLUGIN_ABI_MINOR,
    .name = "jsonrpc",
    .kind = FO_PLUGIN_CHECK,
    .init = fo__rpc_init,
    .start = fo__rpc_start,
    .cancel = fo__rpc_cancel,
    .verify = NULL,
    .destroy = fo__rpc_destroy,
};
