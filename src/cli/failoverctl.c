/* failoverctl: the operator's tool. Talks to an agent's HTTP API with libcurl (blocking is fine
 * here), renders what a person reads at a glance, and exits 0 (ok), 1 (request or parse error)
 * or 2 (usage error). Subcommands live in one table (fo__cmds). */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <ctype.h>
#include <errno.h>
#include <curl/curl.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "unknown"
#endif

#define FO_CLI_DEFAULT_URL "http://127.0.0.1:8740"
#define FO_CLI_BODY_MAX    (64L * 1024 * 1024)
#define FO_CLI_MSG_WIDTH   48

struct fo_cli_cmd {
    const char *name;
    const char *args;
    const char *summary;
    int (*run)(struct fo_cli *cli, int argc, char **argv);
};

static const struct fo_cli_cmd fo__cmds[];

/* ---- HTTP ---- */

struct fo__buf {
    char *p;
    size_t len;
};

static size_t fo__on_data(char *p, size_t sz, size_t n, void *arg)
{
    struct fo__buf *b = arg;
    size_t len = sz * n;
    if (b->len + len > (size_t)FO_CLI_BODY_MAX)
        return 0; /* curl reports a write error */
    char *q = realloc(b->p, b->len + len + 1);
    if (!q)
        return 0;
    b->p = q;
    memcpy(b->p + b->len, p, len);
    b->len += len;
    b->p[b->len] = '\0';
    return len;
}

/* Control characters (terminal escapes from a remote message, newlines in names) become '?'. */
static void fo__sanitize(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = '?';
}

/* The "error" member of a JSON error body, else the body's first line. */
static void fo__error_text(const char *body, char *out, size_t n)
{
    struct json_object *j = json_tokener_parse(body), *e;
    if (j && json_object_object_get_ex(j, "error", &e))
        snprintf(out, n, "%s", json_object_get_string(e));
    else
        snprintf(out, n, "%.*s", (int)strcspn(body, "\r\n"), body);
    json_object_put(j);
    fo__sanitize(out);
}

/* Performs method on base URL + path (body may be NULL) and returns the response body in *out
 * (caller frees). A transport error or a status other than 2xx is reported on stderr, naming
 * the URL, and gives FO_CLI_EREQ. */
int fo_cli_request(struct fo_cli *cli, const char *method, const char *path, const char *body,
                   char **out)
{
    char url[1024], errbuf[CURL_ERROR_SIZE] = "", auth[1024];
    struct fo__buf b = {NULL, 0};
    struct curl_slist *h = NULL;
    long code = 0;
    int rc = FO_CLI_EREQ;
    snprintf(url, sizeof(url), "%s%s", cli->url, path);
    CURL *c = curl_easy_init();
    if (!c) {
        fprintf(stderr, "failoverctl: cannot initialise libcurl\n");
        return FO_CLI_EREQ;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 15000L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "failoverctl/" PACKAGE_VERSION);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, fo__on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    if (cli->token) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", cli->token);
        h = curl_slist_append(h, auth);
    }
    if (body) {
        h = curl_slist_append(h, "Content-Type: application/json");
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        fprintf(stderr, "failoverctl: %s %s: %s\n", method, url,
                errbuf[0] ? errbuf : curl_easy_strerror(cc));
        goto out;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    if (code < 200 || code > 299) {
        char msg[256];
        fo__error_text(b.p ? b.p : "", msg, sizeof(msg));
        fprintf(stderr, "failoverctl: %s %s: HTTP %ld%s%s\n", method, url, code, msg[0] ? ": " : "",
                msg);
        goto out;
    }
    *out = b.p ? b.p : strdup("");
    b.p = NULL;
    rc = FO_CLI_OK;
out:
    if (cli->token)
        memset(auth, 0, sizeof(auth));
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    free(b.p);
    return rc;
}

/* GET path and parse the answer as JSON (*raw keeps the text when asked for). */
int fo_cli_get_json(struct fo_cli *cli, const char *path, struct json_object **out, char **raw)
{
    char *body = NULL;
    int rc = fo_cli_request(cli, "GET", path, NULL, &body);
    if (rc)
        return rc;
    enum json_tokener_error jerr;
    *out = json_tokener_parse_verbose(body, &jerr);
    if (!*out || !json_object_is_type(*out, json_type_object)) {
        fprintf(stderr, "failoverctl: GET %s%s: the answer is not a JSON object (%s)\n", cli->url,
                path, *out ? "other JSON type" : json_tokener_error_desc(jerr));
        json_object_put(*out);
        *out = NULL;
        free(body);
        return FO_CLI_EREQ;
    }
    if (raw)
        *raw = body;
    else
        free(body);
    return FO_CLI_OK;
}

/* ---- rendering helpers ---- */

static struct json_object *fo__get(struct json_object *o, const char *key)
{
    struct json_object *v = NULL;
    if (o && json_object_is_type(o, json_type_object))
        json_object_object_get_ex(o, key, &v);
    return v;
}

/* s sanitized, in one of a ring of buffers (enough for one printf). */
static const char *fo__safe(const char *s)
{
    static char ring[16][512];
    static int next;
    char *b = ring[next++ % 16];
    snprintf(b, sizeof(ring[0]), "%s", s);
    fo__sanitize(b);
    return b;
}

/* A string member, sanitized; dflt when absent. */
static const char *fo__str(struct json_object *o, const char *key, const char *dflt)
{
    struct json_object *v = fo__get(o, key);
    return v ? fo__safe(json_object_get_string(v)) : dflt;
}

/* "45s", "3m12s", "2h05m", "3d04h". */
static void fo__dur(int64_t ms, char *out, size_t n)
{
    int64_t s = ms < 0 ? 0 : ms / 1000;
    if (s < 60)
        snprintf(out, n, "%llds", (long long)s);
    else if (s < 3600)
        snprintf(out, n, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
    else if (s < 86400)
        snprintf(out, n, "%lldh%02lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
    else
        snprintf(out, n, "%lldd%02lldh", (long long)(s / 86400), (long long)(s % 86400 / 3600));
}

/* Parses "2024-05-01T12:00:00.123Z"; returns 0 and *ms, or -1. */
static int fo__iso_ms(const char *s, int64_t *ms)
{
    struct tm tm = {0};
    int frac = 0;
    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                     &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &frac) < 6)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    *ms = (int64_t)timegm(&tm) * 1000 + frac;
    return 0;
}

static int64_t fo__now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* A JSON scalar as text; objects and arrays compactly. */
static void fo__scalar(struct json_object *v, char *out, size_t n)
{
    if (!v)
        snprintf(out, n, "-");
    else if (json_object_is_type(v, json_type_boolean))
        snprintf(out, n, "%s", json_object_get_boolean(v) ? "yes" : "no");
    else if (json_object_is_type(v, json_type_string))
        snprintf(out, n, "%s", json_object_get_string(v));
    else
        snprintf(out, n, "%s", json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
    fo__sanitize(out);
}

#define FO__COLS 10

/* Table rows (row 0 is the header); every row has ncols cells. */
struct fo__rows {
    char ***rows;
    int n, cap, ncols;
};

static void fo__row(struct fo__rows *t, const char *const *cells)
{
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->rows = realloc(t->rows, sizeof(*t->rows) * (size_t)t->cap);
        if (!t->rows) {
            perror("failoverctl");
            exit(FO_CLI_EREQ);
        }
    }
    char **r = calloc((size_t)t->ncols, sizeof(*r));
    if (!r) {
        perror("failoverctl");
        exit(FO_CLI_EREQ);
    }
    for (int i = 0; i < t->ncols; i++) {
        r[i] = strdup(cells[i] ? cells[i] : "");
        if (!r[i]) {
            perror("failoverctl");
            exit(FO_CLI_EREQ);
        }
        fo__sanitize(r[i]);
    }
    t->rows[t->n++] = r;
}

static const char *fo__status_color(const char *st)
{
    if (strcmp(st, "ok") == 0)
        return "\033[32m";
    if (strcmp(st, "warning") == 0)
        return "\033[33m";
    if (strcmp(st, "critical") == 0)
        return "\033[1;31m";
    if (strcmp(st, "unknown") == 0)
        return "\033[35m";
    return NULL;
}

/* Prints rows with columns padded to their widest cell (the last column is not padded);
 * column `colored` (or -1) is coloured by status when color is on. Frees the rows. */
static void fo__print_rows(struct fo__rows *t, const char *indent, int colored, int color)
{
    size_t w[FO__COLS] = {0};
    for (int r = 0; r < t->n; r++)
        for (int c = 0; c < t->ncols && c < FO__COLS; c++)
            if (strlen(t->rows[r][c]) > w[c])
                w[c] = strlen(t->rows[r][c]);
    for (int r = 0; r < t->n; r++) {
        int last = t->ncols - 1; /* no trailing blanks when the last cells are empty */
        while (last > 0 && !t->rows[r][last][0])
            last--;
        fputs(indent, stdout);
        for (int c = 0; c < t->ncols; c++) {
            const char *cell = t->rows[r][c];
            const char *col = r > 0 && c == colored && color ? fo__status_color(cell) : NULL;
            if (c <= last) {
                fputs(col ? col : "", stdout);
                fputs(cell, stdout);
                fputs(col ? "\033[0m" : "", stdout);
            }
            if (c < last)
                printf("%*s", (int)(w[c] - strlen(cell) + 2), "");
            free(t->rows[r][c]);
        }
        fputc('\n', stdout);
        free(t->rows[r]);
    }
    free(t->rows);
    t->rows = NULL;
    t->n = t->cap = 0;
}

/* ---- status ---- */

static void fo__print_agent(struct json_object *agent, int color)
{
    char up[32];
    struct json_object *tilt = fo__get(agent, "tilt");
    fo__dur((int64_t)json_object_get_int64(fo__get(agent, "uptime_s")) * 1000, up, sizeof(up));
    printf("agent %s  zone %s  version %s  up %s  pid %s\n", fo__str(agent, "id", "?"),
           fo__str(agent, "zone", "?"), fo__str(agent, "version", "?"), up,
           fo__str(agent, "pid", "?"));
    if (json_object_get_boolean(fo__get(tilt, "active")))
        printf("%sTILT%s: %s (reports unknown instead of critical until stable)\n",
               color ? "\033[1;33m" : "", color ? "\033[0m" : "", fo__str(tilt, "reason", ""));
}

/* Keys shown first, in this order, when the cluster object has them. */
static const char *const fo__cluster_keys[] = {"id", "role", "term", "leader", "commit_index"};
static const char *const fo__peer_keys[] = {"id", "zone", "reachable", "last_seen_ms"};

static int fo__in(const char *k, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(k, list[i]) == 0)
            return 1;
    return 0;
}

/* An array under the cluster object: objects as a table (peers: id, zone, reachable, last seen
 * first, then any other keys), anything else one value a line. */
static void fo__print_array(const char *name, struct json_object *arr)
{
    size_t n = json_object_array_length(arr);
    const char *cols[FO__COLS];
    int ncols = 0;
    char v[256];
    printf("  %s (%zu)\n", fo__safe(name), n);
    for (size_t i = 0; i < sizeof(fo__peer_keys) / sizeof(*fo__peer_keys); i++)
        for (size_t e = 0; e < n; e++)
            if (fo__get(json_object_array_get_idx(arr, e), fo__peer_keys[i])) {
                cols[ncols++] = fo__peer_keys[i];
                break;
            }
    for (size_t e = 0; e < n; e++) {
        struct json_object *el = json_object_array_get_idx(arr, e);
        if (!json_object_is_type(el, json_type_object))
            continue;
        json_object_object_foreach(el, ek, ev)
        {
            (void)ev;
            int have = 0;
            for (int c = 0; c < ncols; c++)
                have |= strcmp(cols[c], ek) == 0;
            if (!have && ncols < FO__COLS)
                cols[ncols++] = ek;
        }
    }
    if (ncols == 0) {
        for (size_t e = 0; e < n; e++) {
            fo__scalar(json_object_array_get_idx(arr, e), v, sizeof(v));
            printf("    %s\n", v);
        }
        return;
    }
    struct fo__rows t = {.ncols = ncols};
    const char *row[FO__COLS];
    char cells[FO__COLS][128];
    for (int c = 0; c < ncols; c++) {
        snprintf(cells[c], sizeof(cells[c]), "%s",
                 strcmp(cols[c], "last_seen_ms") == 0 ? "last seen" : cols[c]);
        for (char *p = cells[c]; *p; p++)
            *p = (char)toupper((unsigned char)*p);
        row[c] = cells[c];
    }
    fo__row(&t, row);
    for (size_t e = 0; e < n; e++) {
        struct json_object *el = json_object_array_get_idx(arr, e);
        for (int c = 0; c < ncols; c++) {
            struct json_object *cv = fo__get(el, cols[c]);
            if (strcmp(cols[c], "last_seen_ms") == 0 && cv &&
                json_object_is_type(cv, json_type_int)) {
                fo__dur(json_object_get_int64(cv), cells[c], sizeof(cells[c]));
                strncat(cells[c], " ago", sizeof(cells[c]) - strlen(cells[c]) - 1);
            } else {
                fo__scalar(cv, cells[c], sizeof(cells[c]));
            }
        }
        fo__row(&t, row);
    }
    fo__print_rows(&t, "    ", -1, 0);
}

/* Renders whatever the cluster object holds: scalars on one line (known keys first), arrays
 * with fo__print_array, nested objects compactly. */
static void fo__print_cluster(struct json_object *cl)
{
    char v[256];
    size_t nknown = sizeof(fo__cluster_keys) / sizeof(*fo__cluster_keys);
    printf("\ncluster");
    for (size_t i = 0; i < nknown; i++)
        if (fo__get(cl, fo__cluster_keys[i])) {
            fo__scalar(fo__get(cl, fo__cluster_keys[i]), v, sizeof(v));
            printf("  %s %s", fo__cluster_keys[i], v);
        }
    json_object_object_foreach(cl, key, val)
    {
        if (fo__in(key, fo__cluster_keys, nknown) || json_object_is_type(val, json_type_array) ||
            json_object_is_type(val, json_type_object))
            continue;
        fo__scalar(val, v, sizeof(v));
        printf("  %s %s", fo__safe(key), v);
    }
    printf("\n");
    json_object_object_foreach(cl, k2, sub)
    {
        if (json_object_is_type(sub, json_type_array)) {
            fo__print_array(k2, sub);
        } else if (json_object_is_type(sub, json_type_object) && strcmp(k2, "state") != 0 &&
                   strcmp(k2, "detection") != 0) {
            fo__scalar(sub, v, sizeof(v));
            printf("  %s: %s\n", fo__safe(k2), v);
        }
    }
}

/* role, and facts about position: lag, offset, head. */
static void fo__key_facts(struct json_object *facts, char *out, size_t n)
{
    static const char *const words[] = {"lag", "offset", "head"};
    size_t o = 0;
    out[0] = '\0';
    struct json_object *role = fo__get(facts, "role");
    if (role)
        o += (size_t)snprintf(out, n, "role=%s", json_object_get_string(role));
    json_object_object_foreach(facts, k, v)
    {
        int key = 0;
        for (size_t i = 0; i < 3; i++)
            key |= strstr(k, words[i]) != NULL;
        if (!key || o >= n)
            continue;
        char val[64];
        if (json_object_is_type(v, json_type_double))
            snprintf(val, sizeof(val), "%.4g", json_object_get_double(v));
        else
            fo__scalar(v, val, sizeof(val));
        o += (size_t)snprintf(out + o, n - o, "%s%s=%s", o ? " " : "", k, val);
    }
}

static void fo__latency(struct json_object *v, char *out, size_t n)
{
    if (!v || json_object_is_type(v, json_type_null)) {
        snprintf(out, n, "-");
        return;
    }
    double ms = json_object_get_double(v);
    if (ms >= 1000)
        snprintf(out, n, "%.2fs", ms / 1000);
    else if (ms >= 10)
        snprintf(out, n, "%.0fms", ms);
    else
        snprintf(out, n, "%.1fms", ms);
}

/* A duration in ms as the config writes it: "2s", "800ms". */
static void fo__ms_text(struct json_object *v, char *out, size_t n)
{
    int64_t ms = v ? json_object_get_int64(v) : 0;
    if (!v)
        snprintf(out, n, "?");
    else if (ms >= 1000 && ms % 1000 == 0)
        snprintf(out, n, "%llds", (long long)(ms / 1000));
    else
        snprintf(out, n, "%lldms", (long long)ms);
}

/* The leader's verdict on a member (cluster.detection), or "-" when this agent does not lead. */
static const char *fo__verdict(struct json_object *detection, const char *svc, const char *member)
{
    struct json_object *m = fo__get(fo__get(fo__get(detection, "services"), svc), member);
    return fo__str(m, "verdict", "-");
}

static void fo__print_service(struct json_object *svc, struct json_object *detection, int color,
                              int64_t now)
{
    struct json_object *chk = fo__get(svc, "check");
    struct json_object *members = fo__get(svc, "members");
    char every[32], tmo[32];
    fo__ms_text(fo__get(chk, "interval_ms"), every, sizeof(every));
    fo__ms_text(fo__get(chk, "timeout_ms"), tmo, sizeof(tmo));
    printf("\n%s (%s)  check %s every %s, timeout %s, rise %s fall %s\n", fo__str(svc, "name", "?"),
           fo__str(svc, "kind", "?"), fo__str(chk, "type", "?"), every, tmo,
           fo__str(chk, "rise", "?"), fo__str(chk, "fall", "?"));
    size_t n = members ? json_object_array_length(members) : 0;
    if (n == 0) {
        printf("  (no members)\n");
        return;
    }
    struct fo__rows t = {.ncols = 8};
    const char *hdr[] = {"MEMBER", "ZONE",    "STATUS",  "LATENCY",
                         "SINCE",  "VERDICT", "MESSAGE", "FACTS"};
    fo__row(&t, hdr);
    for (size_t i = 0; i < n; i++) {
        struct json_object *m = json_object_array_get_idx(members, i);
        char lat[32], since[32] = "-", msg[FO_CLI_MSG_WIDTH + 4], facts[256];
        int64_t ts;
        fo__latency(fo__get(m, "latency_ms"), lat, sizeof(lat));
        if (fo__iso_ms(fo__str(m, "last_change", NULL), &ts) == 0)
            fo__dur(now - ts, since, sizeof(since));
        const char *text = fo__str(m, "message", "");
        size_t tl = strcspn(text, "\r\n");
        if (tl > FO_CLI_MSG_WIDTH)
            snprintf(msg, sizeof(msg), "%.*s...", FO_CLI_MSG_WIDTH - 3, text);
        else
            snprintf(msg, sizeof(msg), "%.*s", (int)tl, text);
        fo__key_facts(fo__get(m, "facts"), facts, sizeof(facts));
        const char *row[] = {
            fo__str(m, "name", "?"),
            fo__str(m, "zone", "?"),
            fo__str(m, "status", "?"),
            lat,
            since,
            fo__verdict(detection, fo__str(svc, "name", ""), fo__str(m, "name", "")),
            msg,
            facts};
        fo__row(&t, row);
    }
    fo__print_rows(&t, "  ", 2, color);
}

static int fo__cmd_status(struct fo_cli *cli, int argc, char **argv)
{
    int as_json = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            as_json = 1;
        else {
            fprintf(stderr, "failoverctl status: unknown argument '%s'\n", argv[i]);
            return FO_CLI_EUSAGE;
        }
    }
    struct json_object *st = NULL;
    char *raw = NULL;
    int rc = fo_cli_get_json(cli, "/v1/status", &st, &raw);
    if (rc)
        return rc;
    if (as_json) {
        fputs(raw, stdout);
        if (raw[0] && raw[strlen(raw) - 1] != '\n')
            fputc('\n', stdout);
    } else {
        fo__print_agent(fo__get(st, "agent"), cli->color);
        struct json_object *cl = fo__get(st, "cluster");
        if (cl && json_object_is_type(cl, json_type_object))
            fo__print_cluster(cl);
        struct json_object *svcs = fo__get(st, "services");
        size_t n = svcs ? json_object_array_length(svcs) : 0;
        int64_t now = fo__now_ms();
        if (n == 0)
            printf("\n(no services)\n");
        for (size_t i = 0; i < n; i++)
            fo__print_service(json_object_array_get_idx(svcs, i), fo__get(cl, "detection"),
                              cli->color, now);
    }
    json_object_put(st);
    free(raw);
    return FO_CLI_OK;
}

/* ---- usage ---- */

static void fo__usage(FILE *f)
{
    fprintf(f,
            "usage: failoverctl [--url URL] [--token-file FILE] COMMAND [ARGS]\n"
            "       failoverctl --version | help [COMMAND]\n\n"
            "options:\n"
            "  --url URL          agent API (default $FAILOVERCTL_URL or " FO_CLI_DEFAULT_URL ")\n"
            "  --token-file FILE  bearer token, first line of FILE (default "
            "$FAILOVERCTL_TOKEN)\n\n"
            "commands:\n");
    for (const struct fo_cli_cmd *c = fo__cmds; c->name; c++)
        fprintf(f, "  %-8s %-10s %s\n", c->name, c->args, c->summary);
    fprintf(f, "\nexit status: 0 ok, 1 request or response error, 2 usage error\n");
}

static int fo__cmd_help(struct fo_cli *cli, int argc, char **argv)
{
    if (argc > 1) {
        for (const struct fo_cli_cmd *c = fo__cmds; c->name; c++)
            if (strcmp(c->name, argv[1]) == 0) {
                printf("usage: failoverctl [options] %s %s\n  %s\n", c->name, c->args, c->summary);
                return FO_CLI_OK;
            }
        fprintf(stderr, "failoverctl: no command '%s'\n", argv[1]);
        return FO_CLI_EUSAGE;
    }
    fo__usage(stdout);
    return FO_CLI_OK;
}

static const struct fo_cli_cmd fo__cmds[] = {
    {"status", "[--json]", "agent, cluster and every member's status (--json: the API's JSON)",
     fo__cmd_status},
    {"audit", "[verify] ...", "list audit records, or verify the hash chain (audit help)",
     fo_cli_cmd_audit},
    {"help", "[COMMAND]", "this text", fo__cmd_help},
    {NULL, NULL, NULL, NULL},
};

/* The first line of path, trimmed; NULL (message printed) when unreadable or empty. */
static char *fo__read_token(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "failoverctl: --token-file %s: %s\n", path, strerror(errno));
        return NULL;
    }
    char line[4096] = "";
    if (!fgets(line, sizeof(line), f))
        line[0] = '\0';
    fclose(f);
    char *s = line;
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    char *tok = n ? strdup(s) : NULL;
    memset(line, 0, sizeof(line));
    if (!tok)
        fprintf(stderr, "failoverctl: --token-file %s: no token in its first line\n", path);
    return tok;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"url", required_argument, NULL, 'u'},
        {"token-file", required_argument, NULL, 't'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct fo_cli cli = {0};
    const char *url = getenv("FAILOVERCTL_URL"), *token_file = NULL;
    int o, rc;
    opterr = 0;
    while ((o = getopt_long(argc, argv, "+hV", opts, NULL)) != -1) {
        switch (o) {
        case 'u':
            url = optarg;
            break;
        case 't':
            token_file = optarg;
            break;
        case 'V':
            printf("failoverctl %s\n", PACKAGE_VERSION);
            return FO_CLI_OK;
        case 'h':
            fo__usage(stdout);
            return FO_CLI_OK;
        default:
            fprintf(stderr, "failoverctl: bad option '%s'\n", argv[optind - 1]);
            fo__usage(stderr);
            return FO_CLI_EUSAGE;
        }
    }
    if (optind >= argc) {
        fo__usage(stderr);
        return FO_CLI_EUSAGE;
    }
    const struct fo_cli_cmd *cmd = fo__cmds;
    while (cmd->name && strcmp(cmd->name, argv[optind]) != 0)
        cmd++;
    if (!cmd->name) {
        fprintf(stderr, "failoverctl: unknown command '%s' (see failoverctl help)\n", argv[optind]);
        return FO_CLI_EUSAGE;
    }
    cli.url = strdup(url && *url ? url : FO_CLI_DEFAULT_URL);
    size_t ul = strlen(cli.url);
    while (ul && cli.url[ul - 1] == '/')
        cli.url[--ul] = '\0';
    if (strncmp(cli.url, "http://", 7) != 0 && strncmp(cli.url, "https://", 8) != 0) {
        fprintf(stderr, "failoverctl: --url %s: expected http://HOST:PORT or https://...\n",
                cli.url);
        free(cli.url);
        return FO_CLI_EUSAGE;
    }
    if (token_file) {
        if (!(cli.token = fo__read_token(token_file))) {
            free(cli.url);
            return FO_CLI_EUSAGE;
        }
    } else if (getenv("FAILOVERCTL_TOKEN") && *getenv("FAILOVERCTL_TOKEN")) {
        cli.token = strdup(getenv("FAILOVERCTL_TOKEN"));
    }
    cli.color = isatty(STDOUT_FILENO) && !getenv("NO_COLOR");
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmd->run(&cli, argc - optind, argv + optind);
    curl_global_cleanup();
    if (cli.token) {
        memset(cli.token, 0, strlen(cli.token));
        free(cli.token);
    }
    free(cli.url);
    return rc;
}
