/* Check plugin `http`: one GET or HEAD on the host's shared curl multi handle; the status code,
 * an optional body match and the body size make the result. A run borrows an easy handle from
 * this plugin's pool; connections stay in the multi handle's cache, so they outlive the handle. */

/*
 * address: the URL (http:// or https://). params:
 *   expect_status     200, "200-299" or a list of them (default: any of 200-399)
 *   body_match        substring the body must contain
 *   body_regex        POSIX extended regex (regcomp REG_EXTENDED) the body must match instead;
 *                     the body is a C string there, so it ends at a NUL byte
 *   method            GET (default) or HEAD (no body: no body_match/body_regex)
 *   headers           mapping of request headers
 *   ca_file           PEM file of the CAs to trust; insecure: true skips verification (false)
 *   follow_redirects  false (default): a 3xx is judged itself; true: up to 5, http(s) only
 *   max_body          size kept and matched (default 64k); past it the transfer stops
 * facts: http_status (int), bytes (int, body bytes received), body_match (bool, when a match
 * is configured). Critical on connect errors, timeouts, TLS errors, an unexpected status or no
 * match; unknown only for our own failures (memory, libcurl options). The plugin's own timeout
 * is 90% of the check's (at most 200 ms less), so that its result says what timed out.
 */
#include <curl/curl.h>
#include <errno.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "curlpool.h"
#include "params.h"

#define FO__HTTP_RANGES_MAX 16
#define FO__HTTP_MAX_BODY   (64 * 1024)

struct fo__http_range {
    int lo;
    int hi;
};

/* What a response is judged against; kept apart from the transfer so that evaluation is pure. */
struct fo__http_cfg {
    struct fo__http_range ranges[FO__HTTP_RANGES_MAX];
    int nranges; /* 0: any of 200-399 */
    char *match; /* substring, or the source of `re` */
    int use_regex;
    regex_t re;
    size_t max_body;
    int head;
};

struct fo__http {
    const struct fo_host *host;
    struct fo__http_cfg cfg;
    CURL *easy; /* borrowed from the pool while a run is in flight, else NULL */
    struct curl_slist *headers;
    const char *url; /* the target's address and params outlive the instance */
    const char *ca_file;
    int follow;
    int insecure;
    uint32_t budget_ms;
    char *body; /* first max_body bytes of the body, NUL-terminated */
    size_t body_cap;
    size_t body_len;
    size_t bytes; /* body bytes received */
    int truncated;
    int nomem;
    int running;
    fo_check_done_fn done;
    void *cookie;
    char errbuf[CURL_ERROR_SIZE];
};

static struct fo_curl_pool fo__http_pool;

static int fo__http_status_ok(const struct fo__http_cfg *cfg, long status)
{
    if (cfg->nranges == 0)
        return status >= 200 && status <= 399;
    for (int i = 0; i < cfg->nranges; i++)
        if (status >= cfg->ranges[i].lo && status <= cfg->ranges[i].hi)
            return 1;
    return 0;
}

static void fo__http_expected(const struct fo__http_cfg *cfg, char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = '\0';
    if (cfg->nranges == 0) {
        snprintf(buf, len, "200-399");
        return;
    }
    for (int i = 0; i < cfg->nranges && off < len; i++) {
        const struct fo__http_range *rg = &cfg->ranges[i];
        int n = rg->lo == rg->hi
                    ? snprintf(buf + off, len - off, "%s%d", i ? "," : "", rg->lo)
                    : snprintf(buf + off, len - off, "%s%d-%d", i ? "," : "", rg->lo, rg->hi);
        if (n < 0)
            break;
        off += (size_t)n;
    }
}

/* libcurl failures that are our own (configuration, memory), not the target's: unknown. */
static int fo__http_curl_is_ours(int code)
{
    switch (code) {
    case CURLE_OUT_OF_MEMORY:
    case CURLE_FAILED_INIT:
    case CURLE_BAD_FUNCTION_ARGUMENT:
    case CURLE_UNKNOWN_OPTION:
    case CURLE_NOT_BUILT_IN:
    case CURLE_ABORTED_BY_CALLBACK:
    case CURLE_WRITE_ERROR: /* only our write callback fails writes (out of memory) */
        return 1;
    default:
        return 0;
    }
}

/* Turns a finished transfer into a result. `errmsg` describes a failed transfer. Pure. */
static void fo__http_eval(const struct fo__http_cfg *cfg, int curl_code, const char *errmsg,
                          long status, const char *body, size_t body_len, size_t bytes,
                          int truncated, struct fo_result *r)
{
    int matched = 1;
    char want[96];

    if (curl_code != CURLE_OK && !(curl_code == CURLE_WRITE_ERROR && truncated)) {
        fo_result_set(r, fo__http_curl_is_ours(curl_code) ? FO_STATUS_UNKNOWN : FO_STATUS_CRITICAL,
                      "%s", errmsg);
        if (status > 0)
            fo_result_int(r, "http_status", status);
        return;
    }
    fo_result_int(r, "http_status", status);
    fo_result_int(r, "bytes", (int64_t)bytes);
    if (cfg->match) {
        if (cfg->use_regex)
            matched = regexec(&cfg->re, body ? body : "", 0, NULL, 0) == 0;
        else
            matched = body && memmem(body, body_len, cfg->match, strlen(cfg->match)) != NULL;
        fo_result_bool(r, "body_match", matched);
    }
    if (!fo__http_status_ok(cfg, status)) {
        fo__http_expected(cfg, want, sizeof(want));
        fo_result_set(r, FO_STATUS_CRITICAL, "HTTP %ld, expected %s", status, want);
    } else if (!matched) {
        fo_result_set(r, FO_STATUS_CRITICAL, "HTTP %ld but body%s does not match \"%.60s\"", status,
                      truncated ? " (truncated)" : "", cfg->match);
    } else {
        fo_result_set(r, FO_STATUS_OK, "HTTP %ld, %zu bytes%s", status, bytes,
                      truncated ? " (body truncated)" : "");
    }
}

/* Keeps the first max_body bytes; past that it stops the transfer, which then ends with
 * CURLE_WRITE_ERROR and `truncated` set (judged like a complete response). */
static size_t fo__http_write(char *data, size_t size, size_t n, void *arg)
{
    struct fo__http *h = arg;
    size_t len = size * n;
    size_t room = h->cfg.max_body - h->body_len;
    size_t keep = len < room ? len : room;

    if (h->body_len + keep + 1 > h->body_cap) {
        size_t cap = h->body_cap ? h->body_cap : 1024;
        while (cap < h->body_len + keep + 1)
            cap *= 2;
        char *p = realloc(h->body, cap);
        if (!p) {
            h->nomem = 1;
            return 0;
        }
        h->body = p;
        h->body_cap = cap;
    }
    memcpy(h->body + h->body_len, data, keep);
    h->body_len += keep;
    h->body[h->body_len] = '\0';
    h->bytes += len;
    if (keep < len) {
        h->truncated = 1;
        return 0;
    }
    return len;
}

static void fo__http_describe(struct fo__http *h, int code, char *buf, size_t len)
{
    long oserr = 0;
    if (h->nomem) {
        snprintf(buf, len, "out of memory for the response body");
        return;
    }
    switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
        snprintf(buf, len, "timeout after %u ms", h->budget_ms);
        return;
    case CURLE_COULDNT_CONNECT:
        curl_easy_getinfo(h->easy, CURLINFO_OS_ERRNO, &oserr);
        if (oserr == ECONNREFUSED) {
            snprintf(buf, len, "connection refused");
            return;
        }
        break;
    default:
        break;
    }
    snprintf(buf, len, "%s", h->errbuf[0] ? h->errbuf : curl_easy_strerror(code));
}

static void fo__http_finished(void *easy, int code, void *arg)
{
    struct fo__http *h = arg;
    struct fo_result r;
    char msg[FO_MESSAGE_MAX];
    long status = 0;
    curl_off_t total_us = 0;

    if (!h->running)
        return;
    h->running = 0;
    memset(&r, 0, sizeof(r));
    curl_easy_getinfo(h->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(h->easy, CURLINFO_TOTAL_TIME_T, &total_us);
    fo__http_describe(h, code, msg, sizeof(msg));
    fo__http_eval(&h->cfg, code, msg, status, h->body, h->body_len, h->bytes, h->truncated, &r);
    r.latency_ms = (double)total_us / 1000.0;
    /* The host removed the handle from the multi before calling us. */
    fo_curl_pool_put(&fo__http_pool, h->easy);
    h->easy = NULL;
    /* The host may destroy the instance from inside done: nothing touches h after it. */
    h->done(h->cookie, &r);
}

static int fo__http_range_parse(struct json_object *v, struct fo__http_range *rg)
{
    int64_t n;
    if (fo_param_parse_int(v, &n) == 0) {
        rg->lo = rg->hi = (int)n;
    } else if (json_object_is_type(v, json_type_string)) {
        if (sscanf(json_object_get_string(v), "%d-%d", &rg->lo, &rg->hi) != 2)
            return -1;
    } else {
        return -1;
    }
    if (rg->lo < 100 || rg->hi > 599 || rg->lo > rg->hi)
        return -1;
    return 0;
}

static int fo__http_parse_status(const struct json_object *params, struct fo__http_cfg *cfg,
                                 struct fo_plugin_err *err)
{
    struct json_object *v = fo_param_get(params, "expect_status");
    const char *what = "must be a status code (200), a range (\"200-299\") or a list of them";
    if (!v)
        return 0;
    if (!json_object_is_type(v, json_type_array)) {
        if (fo__http_range_parse(v, &cfg->ranges[0]) < 0)
            return fo_param_fail(err, "expect_status", "%s", what);
        cfg->nranges = 1;
        return 0;
    }
    size_t n = json_object_array_length(v);
    if (n == 0 || n > FO__HTTP_RANGES_MAX)
        return fo_param_fail(err, "expect_status", "needs 1 to %d entries", FO__HTTP_RANGES_MAX);
    for (size_t i = 0; i < n; i++)
        if (fo__http_range_parse(json_object_array_get_idx(v, i), &cfg->ranges[i]) < 0)
            return fo_param_fail(err, "expect_status", "%s", what);
    cfg->nranges = (int)n;
    return 0;
}

static int fo__http_parse_headers(const struct json_object *params, struct fo__http *h,
                                  struct fo_plugin_err *err)
{
    struct json_object *v = fo_param_get(params, "headers");
    if (!v)
        return 0;
    if (!json_object_is_type(v, json_type_object))
        return fo_param_fail(err, "headers", "must be a mapping of header names to values");
    json_object_object_foreach(v, name, val)
    {
        if (!json_object_is_type(val, json_type_string) || !*name || strpbrk(name, ":\r\n \t") ||
            strpbrk(json_object_get_string(val), "\r\n"))
            return fo_param_fail(err, "headers", "bad header '%s'", name);
        char line[1024];
        if (snprintf(line, sizeof(line), "%s: %s", name, json_object_get_string(val)) >=
            (int)sizeof(line))
            return fo_param_fail(err, "headers", "header '%s' is too long", name);
        struct curl_slist *l = curl_slist_append(h->headers, line);
        if (!l)
            return fo_param_fail(err, "headers", "out of memory");
        h->headers = l;
    }
    return 0;
}

static void fo__http_destroy(void *instance)
{
    struct fo__http *h = instance;
    if (!h)
        return;
    if (h->running)
        h->host->http_cancel(h->easy);
    fo_curl_pool_put(&fo__http_pool, h->easy);
    curl_slist_free_all(h->headers);
    if (h->cfg.use_regex)
        regfree(&h->cfg.re);
    free(h->cfg.match);
    free(h->body);
    free(h);
    fo_curl_pool_unref(&fo__http_pool);
}

/* Parses params into h (everything except the curl options). */
static int fo__http_parse(struct fo__http *h, const struct fo_target *t, int *follow, int *insecure,
                          const char **ca_file, struct fo_plugin_err *err)
{
    static const char *const known[] = {
        "expect_status", "body_match", "body_regex",       "method",   "headers",
        "ca_file",       "insecure",   "follow_redirects", "max_body", NULL};
    const struct json_object *p = t->params;
    const char *method = "GET", *match = NULL, *regex = NULL;
    uint64_t max_body = FO__HTTP_MAX_BODY;

    if (fo_param_check_keys(p, known, err) < 0 || fo__http_parse_status(p, &h->cfg, err) < 0 ||
        fo_param_str(p, "body_match", &match, err) < 0 ||
        fo_param_str(p, "body_regex", &regex, err) < 0 ||
        fo_param_str(p, "method", &method, err) < 0 ||
        fo_param_str(p, "ca_file", ca_file, err) < 0 ||
        fo_param_bool(p, "insecure", insecure, err) < 0 ||
        fo_param_bool(p, "follow_redirects", follow, err) < 0 ||
        fo_param_size(h->host, p, "max_body", 1, 64u << 20, &max_body, err) < 0 ||
        fo__http_parse_headers(p, h, err) < 0)
        return -1;
    if (strncasecmp(t->address, "http://", 7) != 0 && strncasecmp(t->address, "https://", 8) != 0)
        return fo_param_fail(err, "address", "must be an http:// or https:// URL");
    if (strcmp(method, "HEAD") == 0)
        h->cfg.head = 1;
    else if (strcmp(method, "GET") != 0)
        return fo_param_fail(err, "method", "must be GET or HEAD");
    if (match && regex)
        return fo_param_fail(err, "body_regex", "give body_match or body_regex, not both");
    if ((match || regex) && h->cfg.head)
        return fo_param_fail(err, match ? "body_match" : "body_regex", "a HEAD has no body");
    if (match && !*match)
        return fo_param_fail(err, "body_match", "must not be empty");
    if (*ca_file && access(*ca_file, R_OK) != 0)
        return fo_param_fail(err, "ca_file", "cannot read '%.100s': %s", *ca_file, strerror(errno));
    h->cfg.max_body = (size_t)max_body;
    if (regex) {
        int rc = regcomp(&h->cfg.re, regex, REG_EXTENDED | REG_NOSUB);
        if (rc != 0) {
            char why[128];
            regerror(rc, &h->cfg.re, why, sizeof(why));
            return fo_param_fail(err, "body_regex", "bad POSIX extended regex: %s", why);
        }
        h->cfg.use_regex = 1;
    }
    if ((match || regex) && !(h->cfg.match = strdup(regex ? regex : match)))
        return fo_param_fail(err, "params", "out of memory");
    return 0;
}

/* Sets every option of this instance on `e`, a fresh or reset handle. */
static CURLcode fo__http_setup(struct fo__http *h, CURL *e)
{
    CURLcode c = CURLE_OK;
#define FO__SET(opt, val)                                                                          \
    do {                                                                                           \
        if (c == CURLE_OK)                                                                         \
            c = curl_easy_setopt(e, opt, val);                                                     \
    } while (0)
    FO__SET(CURLOPT_URL, h->url);
    FO__SET(CURLOPT_PROTOCOLS_STR, "http,https");
    FO__SET(CURLOPT_NOSIGNAL, 1L);
    /* A check measures the target itself: never through a proxy from the environment. */
    FO__SET(CURLOPT_PROXY, "");
    /* libcurl keeps a receive buffer per handle (16 KiB by default); health answers are small */
    FO__SET(CURLOPT_BUFFERSIZE, 4096L);
    FO__SET(CURLOPT_TIMEOUT_MS, (long)h->budget_ms);
    FO__SET(CURLOPT_CONNECTTIMEOUT_MS, (long)h->budget_ms);
    FO__SET(CURLOPT_ERRORBUFFER, h->errbuf);
    FO__SET(CURLOPT_WRITEFUNCTION, fo__http_write);
    FO__SET(CURLOPT_WRITEDATA, h);
    FO__SET(CURLOPT_USERAGENT, "failoverd-check");
    FO__SET(CURLOPT_NOBODY, h->cfg.head ? 1L : 0L);
    FO__SET(CURLOPT_FOLLOWLOCATION, h->follow ? 1L : 0L);
    FO__SET(CURLOPT_MAXREDIRS, 5L);
    FO__SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    FO__SET(CURLOPT_SSL_VERIFYPEER, h->insecure ? 0L : 1L);
    FO__SET(CURLOPT_SSL_VERIFYHOST, h->insecure ? 0L : 2L);
    if (h->headers)
        FO__SET(CURLOPT_HTTPHEADER, h->headers);
    if (h->ca_file)
        FO__SET(CURLOPT_CAINFO, h->ca_file);
#undef FO__SET
    return c;
}

static void *fo__http_init(const struct fo_host *host, void *handle, const struct fo_target *t,
                           struct fo_plugin_err *err)
{
    struct fo__http *h = calloc(1, sizeof(*h));
    CURL *e;
    CURLcode c;

    if (!h) {
        fo_param_fail(err, "params", "out of memory");
        return NULL;
    }
    fo__http_pool.ninst++;
    h->host = host;
    h->url = t->address;
    h->budget_ms = (uint32_t)fo_param_budget_ms(t->timeout_ms);
    if (fo__http_parse(h, t, &h->follow, &h->insecure, &h->ca_file, err) < 0)
        goto fail;
    /* Options are refused at configuration time rather than at each run. */
    if (!(e = fo_curl_pool_get(&fo__http_pool))) {
        fo_param_fail(err, "params", "curl_easy_init failed");
        goto fail;
    }
    c = fo__http_setup(h, e);
    fo_curl_pool_put(&fo__http_pool, e);
    if (c != CURLE_OK) {
        fo_param_fail(err, "params", "libcurl refused an option: %s", curl_easy_strerror(c));
        goto fail;
    }
    return h;
fail:
    fo__http_destroy(h);
    return NULL;
}

static int fo__http_start(void *instance, fo_check_done_fn done, void *cookie)
{
    struct fo__http *h = instance;
    int rc;

    if (h->running)
        return -EBUSY;
    h->done = done;
    h->cookie = cookie;
    h->body_len = 0;
    h->bytes = 0;
    h->truncated = 0;
    h->nomem = 0;
    h->errbuf[0] = '\0';
    if (h->body)
        h->body[0] = '\0';
    if (!(h->easy = fo_curl_pool_get(&fo__http_pool)))
        return -ENOMEM;
    if (fo__http_setup(h, h->easy) != CURLE_OK) {
        rc = -ENOMEM; /* init set the same options: only memory can be short now */
        goto fail;
    }
    h->running = 1;
    rc = h->host->http_start(h->easy, fo__http_finished, h);
    if (rc < 0) {
        h->running = 0;
        goto fail;
    }
    return 0;
fail:
    fo_curl_pool_put(&fo__http_pool, h->easy);
    h->easy = NULL;
    return rc;
}

static void fo__http_cancel(void *instance)
{
    struct fo__http *h = instance;
    if (!h->running)
        return;
    h->running = 0;
    h->host->http_cancel(h->easy);
    fo_curl_pool_put(&fo__http_pool, h->easy);
    h->easy = NULL;
}

const struct fo_plugin fo_plugin_entry = {
    .abi_major = FO_PLUGIN_ABI_MAJOR,
    .abi_minor = FO_PLUGIN_ABI_MINOR,
    .name = "http",
    .kind = FO_PLUGIN_CHECK,
    .init = fo__http_init,
    .start = fo__http_start,
    .cancel = fo__http_cancel,
    .verify = NULL,
    .destroy = fo__http_destroy,
};
