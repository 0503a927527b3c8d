/* Unit tests of src/api rendering: /metrics text (format validity, cumulative histograms,
 * escaping, registered emitters), the /v1/status document and address masking, all from a
 * hand-built check engine state. The HTTP server is tested in test_api_http.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/http.h"
#include "api/metrics.h"
#include "api/status.h"
#include "core/log.h"

/* ---- a hand-built check engine state ---- */

#define NSVC 2
#define NMEM 2

struct fake {
    struct fo_service_def svc[NSVC];
    struct fo_member_def mdef[NSVC][NMEM];
    struct fo_sched_member mem[NSVC][NMEM];
    int nmem[NSVC];
    struct fo_tilt tilt;
    uint64_t generation;
};

static struct fake F;
static char *tags_pg2[] = {"replica", "nofailover"};

static int f_nservices(const void *ctx)
{
    return NSVC;
}
static const struct fo_service_def *f_service(const void *ctx, int i)
{
    return &((const struct fake *)ctx)->svc[i];
}
static int f_nmembers(const void *ctx, int s)
{
    return ((const struct fake *)ctx)->nmem[s];
}
static const struct fo_sched_member *f_member(const void *ctx, int s, int m)
{
    return &((const struct fake *)ctx)->mem[s][m];
}
static const struct fo_tilt *f_tilt(const void *ctx)
{
    return &((const struct fake *)ctx)->tilt;
}

static uint64_t f_generation(const void *ctx)
{
    return ((const struct fake *)ctx)->generation;
}

static const struct fo_checks_src fake_src = {f_nservices, f_service, f_nmembers,  f_member,
                                              f_tilt,      &F,        f_generation};

#define T0 1714564800123LL /* 2024-05-01T12:00:00.123Z */

static void fake_build(void)
{
    memset(&F, 0, sizeof(F));
    struct fo_service_def *s = &F.svc[0];
    s->name = "orders-db";
    s->kind = "postgres";
    s->check = (struct fo_check_def){
        .type = "postgres", .interval_ms = 1000, .timeout_ms = 800, .rise = 2, .fall = 3};
    F.mdef[0][0] = (struct fo_member_def){
        "pg1", "eu-west-1a", "host=127.0.0.1 port=5432 password='s3 \\'x' user=fo", NULL, 0,
        100,   NULL};
    F.mdef[0][1] =
        (struct fo_member_def){"pg2", "eu-west-1b", "127.0.0.1:5433", tags_pg2, 2, 90, NULL};
    s->members = F.mdef[0];
    s->nmembers = F.nmem[0] = 2;
    struct fo_member_state *st = &F.mem[0][0].state;
    st->hyst.status = FO_STATUS_OK;
    st->raw = FO_STATUS_WARNING;
    st->last.latency_ms = 3.25;
    snprintf(st->last.message, sizeof(st->last.message), "primary, bad \xff byte");
    fo_result_str(&st->last, "role", "primary");
    fo_result_int(&st->last, "timeline", 3);
    fo_result_double(&st->last, "lag_s", 0.5);
    fo_result_bool(&st->last, "in_recovery", 0);
    st->last_wall_ms = T0;
    st->last_change_wall_ms = T0 - 60000;
    st->runs = 42;
    st->errors = 2;
    st->timeouts = 1;
    st->lat_buckets[0] = 2;
    st->lat_buckets[3] = 1;
    st->lat_buckets[FO_LAT_BUCKETS - 1] = 1;
    st->lat_sum_ms = 3000.5;
    for (int i = 0; i < 3; i++) { /* oldest first: ok, critical, warning */
        st->history[i].wall_ms = T0 - 2000 + 1000 * i;
        st->history[i].status =
            (enum fo_status[]){FO_STATUS_OK, FO_STATUS_CRITICAL, FO_STATUS_WARNING}[i];
        st->history[i].latency_ms = 1.5f + (float)i;
    }
    st->hist_head = 3;
    st->hist_len = 3;
    F.mem[0][1].state.hyst.status = FO_STATUS_UNKNOWN;
    F.mem[0][1].state.raw = FO_STATUS_UNKNOWN;

    s = &F.svc[1];
    s->name = "we\"ird\\svc\nx";
    s->kind = "tcp";
    s->check = (struct fo_check_def){
        .type = "tcp", .interval_ms = 500, .timeout_ms = 200, .rise = 1, .fall = 1};
    F.mdef[1][0] =
        (struct fo_member_def){"m1", "z1", "redis://:hunter2@127.0.0.1:6379/0", NULL, 0, 0, NULL};
    s->members = F.mdef[1];
    s->nmembers = F.nmem[1] = 1;
    F.mem[1][0].state.hyst.status = FO_STATUS_CRITICAL;
    F.mem[1][0].state.lat_buckets[5] = 7;
    F.mem[1][0].state.lat_sum_ms = 140;
    for (int si = 0; si < NSVC; si++)
        for (int mi = 0; mi < F.nmem[si]; mi++) {
            F.mem[si][mi].service = &F.svc[si];
            F.mem[si][mi].member = &F.mdef[si][mi];
        }
    F.tilt.active = 1;
    F.tilt.entered = 4;
    snprintf(F.tilt.reason, sizeof(F.tilt.reason), "loop lag 1500ms");
}

/* ---- a small reader of the Prometheus text format ---- */

struct sample {
    char name[96];
    char labels[512]; /* raw text between the braces, le removed */
    char le[32];
    double value;
};

/* Parses one sample line; returns 0 or -1 when the line is not valid. */
static int parse_sample(const char *line, struct sample *s)
{
    memset(s, 0, sizeof(*s));
    const char *p = line;
    size_t n = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_:0123456789");
    if (n == 0 || n >= sizeof(s->name) || (*p >= '0' && *p <= '9'))
        return -1;
    memcpy(s->name, p, n);
    p += n;
    if (*p == '{') {
        p++;
        size_t lo = 0;
        while (*p != '}') {
            const char *k = p;
            size_t kn =
                strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789");
            if (kn == 0 || p[kn] != '=' || p[kn + 1] != '"')
                return -1;
            p += kn + 2;
            char val[256];
            size_t vn = 0;
            while (*p != '"') {
                if (!*p || *p == '\n' || vn + 2 >= sizeof(val))
                    return -1;
                if (*p == '\\') {
                    p++;
                    if (*p != '\\' && *p != '"' && *p != 'n')
                        return -1;
                    val[vn++] = *p == 'n' ? '\n' : *p;
                } else {
                    val[vn++] = *p;
                }
                p++;
            }
            val[vn] = '\0';
            p++;
            if (kn == 2 && strncmp(k, "le", 2) == 0)
                snprintf(s->le, sizeof(s->le), "%.31s", val);
            else
                lo += (size_t)snprintf(s->labels + lo, sizeof(s->labels) - lo, "%.*s=%s;", (int)kn,
                                       k, val);
            if (*p == ',')
                p++;
            else if (*p != '}')
                return -1;
        }
        p++;
    }
    if (*p++ != ' ')
        return -1;
    char *end;
    if (strcmp(p, "+Inf") == 0)
        s->value = INFINITY;
    else {
        s->value = strtod(p, &end);
        if (end == p || *end)
            return -1;
    }
    return 0;
}

static const char *family_of(const char *name, char *buf, size_t n)
{
    snprintf(buf, n, "%s", name);
    static const char *const sfx[] = {"_bucket", "_sum", "_count"};
    for (int i = 0; i < 3; i++) {
        size_t l = strlen(buf), sl = strlen(sfx[i]);
        if (l > sl && strcmp(buf + l - sl, sfx[i]) == 0 &&
            strstr(buf, "failoverd_check_latency_seconds") == buf)
            buf[l - sl] = '\0';
    }
    return buf;
}

/* Checks the whole text: every line valid, HELP/TYPE once per family and before its samples,
 * families contiguous, histograms cumulative with +Inf == _count. Returns the samples. */
static struct sample *check_exposition(const char *text, int *nout)
{
    char *copy = strdup(text), *save = NULL;
    struct sample *out = calloc(4096, sizeof(*out));
    int n = 0;
    char families[64][96];
    int nfam = 0;
    char current[96] = "";
    assert_true(strlen(text) > 0 && text[strlen(text) - 1] == '\n');
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, "# HELP ", 7) == 0)
            continue;
        if (strncmp(line, "# TYPE ", 7) == 0) {
            char name[96], type[32];
            assert_int_equal(sscanf(line + 7, "%95s %31s", name, type), 2);
            for (int i = 0; i < nfam; i++)
                assert_string_not_equal(families[i], name); /* one group per family */
            snprintf(families[nfam++], 96, "%s", name);
            snprintf(current, sizeof(current), "%s", name);
            continue;
        }
        assert_true(line[0] != '#');
        assert_true(n < 4096);
        if (parse_sample(line, &out[n]) != 0)
            fail_msg("invalid sample line: %s", line);
        char fam[96];
        assert_string_equal(family_of(out[n].name, fam, sizeof(fam)), current);
        n++;
    }
    /* histograms: per label set, buckets rise with le and end with +Inf == _count */
    for (int i = 0; i < n; i++) {
        if (strcmp(out[i].name, "failoverd_check_latency_seconds_count") != 0)
            continue;
        double prev_le = -1, prev = -1, inf = -1;
        int buckets = 0;
        for (int j = 0; j < n; j++) {
            if (strcmp(out[j].name, "failoverd_check_latency_seconds_bucket") != 0 ||
                strcmp(out[j].labels, out[i].labels) != 0)
                continue;
            double le = strcmp(out[j].le, "+Inf") == 0 ? INFINITY : strtod(out[j].le, NULL);
            assert_true(le > prev_le);
            assert_true(out[j].value >= prev);
            prev_le = le;
            prev = out[j].value;
            if (isinf(le))
                inf = out[j].value;
            buckets++;
        }
        assert_int_equal(buckets, FO_LAT_BUCKETS);
        assert_true(inf == out[i].value);
    }
    free(copy);
    *nout = n;
    return out;
}

/* The value of name{labels}; le is compared as a number (NAN: no le label). */
static double find_value(const struct sample *s, int n, const char *name, const char *labels,
                         double le)
{
    for (int i = 0; i < n; i++)
        if (strcmp(s[i].name, name) == 0 && strcmp(s[i].labels, labels) == 0 &&
            (isnan(le) ? s[i].le[0] == '\0' : s[i].le[0] && strtod(s[i].le, NULL) == le))
            return s[i].value;
    fail_msg("no sample %s{%s le=%g}", name, labels, le);
    return NAN;
}

static char *render(void)
{
    struct fo_metrics_buf b = {0};
    fo_metrics_render(&b, "1.2.3", &fake_src);
    return fo_metrics_buf_take(&b, NULL);
}

static void test_metrics_format(void **state)
{
    fake_build();
    char *text = render();
    int n;
    struct sample *s = check_exposition(text, &n);
    const char *pg1 = "service=orders-db;member=pg1;";
    assert_true(find_value(s, n, "failoverd_build_info", "version=1.2.3;", NAN) == 1);
    assert_true(find_value(s, n, "failoverd_tilt", "", NAN) == 1);
    assert_true(find_value(s, n, "failoverd_tilt_entered_total", "", NAN) == 4);
    assert_true(find_value(s, n, "failoverd_check_runs_total", pg1, NAN) == 42);
    assert_true(find_value(s, n, "failoverd_check_errors_total", pg1, NAN) == 2);
    assert_true(find_value(s, n, "failoverd_check_timeouts_total", pg1, NAN) == 1);
    const char *st[] = {"ok", "warning", "critical", "unknown"};
    for (int i = 0; i < 4; i++) {
        char l[128];
        snprintf(l, sizeof(l), "service=orders-db;member=pg1;zone=eu-west-1a;status=%s;", st[i]);
        assert_true(find_value(s, n, "failoverd_member_status", l, NAN) == (i == 0));
        snprintf(l, sizeof(l), "service=orders-db;member=pg2;zone=eu-west-1b;status=%s;", st[i]);
        assert_true(find_value(s, n, "failoverd_member_status", l, NAN) == (i == 3));
    }
    /* buckets 0, 3 and the last hold 2, 1 and 1: cumulative 2 up to bound 3, then 3, then 4 */
    const char *bk = "failoverd_check_latency_seconds_bucket";
    assert_true(find_value(s, n, bk, pg1, fo_lat_bounds_ms[0] / 1000.0) == 2);
    assert_true(find_value(s, n, bk, pg1, fo_lat_bounds_ms[2] / 1000.0) == 2);
    assert_true(find_value(s, n, bk, pg1, fo_lat_bounds_ms[3] / 1000.0) == 3);
    assert_true(find_value(s, n, bk, pg1, fo_lat_bounds_ms[FO_LAT_BUCKETS - 2] / 1000.0) == 3);
    assert_true(find_value(s, n, bk, pg1, INFINITY) == 4);
    assert_true(find_value(s, n, "failoverd_check_latency_seconds_count", pg1, NAN) == 4);
    assert_true(fabs(find_value(s, n, "failoverd_check_latency_seconds_sum", pg1, NAN) - 3.0005) <
                1e-12);
    assert_non_null(strstr(text, "# TYPE failoverd_check_latency_seconds histogram\n"));
    assert_non_null(strstr(text, "# TYPE failoverd_check_runs_total counter\n"));
    free(s);
    free(text);
}

static void test_metrics_escaping(void **state)
{
    fake_build();
    char *text = render();
    /* the service name holds a quote, a backslash and a newline */
    assert_non_null(strstr(text, "failoverd_check_runs_total{service=\"we\\\"ird\\\\svc\\nx\","
                                 "member=\"m1\"} 0\n"));
    int n;
    struct sample *s = check_exposition(text, &n);
    assert_true(find_value(s, n, "failoverd_check_latency_seconds_count",
                           "service=we\"ird\\svc\nx;member=m1;", NAN) == 7);
    free(s);
    free(text);

    struct fo_metrics_buf b = {0};
    fo_metrics_family(&b, "x_total", "counter", "a\\b\nc \"q\"");
    fo_metrics_sample(&b, "x_total", 0.1, "a", "1", "b", "", (char *)NULL);
    fo_metrics_sample(&b, "x_total", 1e300, (char *)NULL);
    fo_metrics_sample(&b, "x_total", NAN, (char *)NULL);
    fo_metrics_sample(&b, "x_total", -INFINITY, (char *)NULL);
    assert_string_equal(b.data, "# HELP x_total a\\\\b\\nc \"q\"\n# TYPE x_total counter\n"
                                "x_total{a=\"1\",b=\"\"} 0.1\nx_total 1e+300\nx_total NaN\n"
                                "x_total -Inf\n");
    fo_metrics_buf_free(&b);
}

static void emit_peer(struct fo_metrics_buf *b, void *arg)
{
    fo_metrics_family(b, "failoverd_peer_up", "gauge", "Peer reachable.");
    fo_metrics_sample(b, "failoverd_peer_up", *(int *)arg, "peer", "az2", (char *)NULL);
}

static void test_metrics_register(void **state)
{
    fake_build();
    int up = 1;
    fo_metrics_register(emit_peer, &up);
    fo_metrics_register(emit_peer, &up); /* once only */
    char *text = render();
    int n;
    struct sample *s = check_exposition(text, &n); /* would fail on a repeated family */
    assert_true(find_value(s, n, "failoverd_peer_up", "peer=az2;", NAN) == 1);
    free(s);
    free(text);
    fo_metrics_unregister(emit_peer, &up);
    text = render();
    assert_null(strstr(text, "failoverd_peer_up"));
    free(text);
}

/* ---- /v1/status ---- */

static struct json_object *get(struct json_object *o, const char *path)
{
    char buf[256], *save = NULL;
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *k = strtok_r(buf, ".", &save); k; k = strtok_r(NULL, ".", &save)) {
        if (json_object_is_type(o, json_type_array))
            o = json_object_array_get_idx(o, (size_t)atoi(k));
        else if (!json_object_object_get_ex(o, k, &o))
            fail_msg("no key %s in %s", k, path);
    }
    return o;
}

static const char *gets(struct json_object *o, const char *path)
{
    struct json_object *v = get(o, path);
    assert_true(json_object_is_type(v, json_type_string));
    return json_object_get_string(v);
}

static struct json_object *cluster_fn(void *arg)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "role", json_object_new_string("leader"));
    json_object_object_add(o, "term", json_object_new_int(*(int *)arg));
    return o;
}

static void test_status_json(void **state)
{
    fake_build();
    struct fo_agent_info ai = {"az1", "eu-west-1a",          "0.1.0", 1234, T0 - 99000,
                               5000,  "/etc/failoverd.yaml", "abc123"};
    struct fo_status_src src = {&ai, fake_src, NULL, NULL};
    struct json_object *o = fo_status_json(&src, T0, 5000 + 3600 * 1000 + 999);
    /* it must survive a round trip through the text form, with short numbers */
    char *text = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    json_object_put(o);
    assert_non_null(strstr(text, "\"latency_ms\":3.25,"));
    assert_non_null(strstr(text, "\"status\":\"ok\",\"latency_ms\":1.5}"));
    struct json_object *j = json_tokener_parse(text);
    free(text);
    assert_non_null(j);
    assert_string_equal(gets(j, "agent.id"), "az1");
    assert_string_equal(gets(j, "agent.zone"), "eu-west-1a");
    assert_string_equal(gets(j, "agent.config_hash"), "abc123");
    assert_int_equal(json_object_get_int(get(j, "agent.pid")), 1234);
    assert_int_equal(json_object_get_int(get(j, "agent.uptime_s")), 3600); /* monotonic */
    assert_true(json_object_get_boolean(get(j, "agent.tilt.active")));
    assert_string_equal(gets(j, "agent.tilt.reason"), "loop lag 1500ms");
    assert_int_equal(json_object_get_int(get(j, "agent.tilt.entered")), 4);
    assert_null(get(j, "cluster"));
    assert_int_equal(json_object_array_length(get(j, "services")), 2);
    assert_string_equal(gets(j, "services.0.name"), "orders-db");
    assert_string_equal(gets(j, "services.0.kind"), "postgres");
    assert_string_equal(gets(j, "services.0.check.type"), "postgres");
    assert_int_equal(json_object_get_int(get(j, "services.0.check.interval_ms")), 1000);
    assert_int_equal(json_object_get_int(get(j, "services.0.check.timeout_ms")), 800);
    assert_int_equal(json_object_get_int(get(j, "services.0.check.rise")), 2);
    assert_int_equal(json_object_get_int(get(j, "services.0.check.fall")), 3);

    struct json_object *m = get(j, "services.0.members.0");
    assert_string_equal(gets(m, "name"), "pg1");
    assert_string_equal(gets(m, "address"), "host=127.0.0.1 port=5432 password=*** user=fo");
    assert_string_equal(gets(m, "status"), "ok");
    assert_string_equal(gets(m, "raw_status"), "warning");
    assert_string_equal(gets(m, "message"), "primary, bad ? byte");
    assert_true(json_object_get_double(get(m, "latency_ms")) == 3.25);
    assert_string_equal(gets(m, "last_check"), "2024-05-01T12:00:00.123Z");
    assert_string_equal(gets(m, "last_change"), "2024-05-01T11:59:00.123Z");
    assert_int_equal(json_object_get_int(get(m, "priority")), 100);
    assert_int_equal(json_object_array_length(get(m, "tags")), 0);
    assert_true(json_object_is_type(get(m, "facts.timeline"), json_type_int));
    assert_int_equal(json_object_get_int(get(m, "facts.timeline")), 3);
    assert_true(json_object_is_type(get(m, "facts.lag_s"), json_type_double));
    assert_true(json_object_get_double(get(m, "facts.lag_s")) == 0.5);
    assert_true(json_object_is_type(get(m, "facts.in_recovery"), json_type_boolean));
    assert_false(json_object_get_boolean(get(m, "facts.in_recovery")));
    assert_string_equal(gets(m, "facts.role"), "primary");
    assert_int_equal(json_object_get_int(get(m, "runs")), 42);
    assert_int_equal(json_object_get_int(get(m, "errors")), 2);
    assert_int_equal(json_object_get_int(get(m, "timeouts")), 1);
    assert_int_equal(json_object_array_length(get(m, "history")), 3);
    assert_string_equal(gets(m, "history.0.status"), "warning"); /* newest first */
    assert_string_equal(gets(m, "history.0.ts"), "2024-05-01T12:00:00.123Z");
    assert_true(json_object_get_double(get(m, "history.0.latency_ms")) == 3.5);
    assert_string_equal(gets(m, "history.2.status"), "ok");

    m = get(j, "services.0.members.1"); /* never checked */
    assert_string_equal(gets(m, "status"), "unknown");
    assert_null(get(m, "last_check"));
    assert_null(get(m, "last_change"));
    assert_null(get(m, "latency_ms"));
    assert_int_equal(json_object_array_length(get(m, "history")), 0);
    assert_string_equal(gets(m, "tags.1"), "nofailover");
    assert_string_equal(gets(j, "services.1.members.0.address"), "redis://:***@127.0.0.1:6379/0");
    json_object_put(j);

    int term = 7;
    src.cluster_json = cluster_fn;
    src.cluster_arg = &term;
    F.tilt.active = 0;
    o = fo_status_json(&src, T0, 5000);
    assert_string_equal(gets(o, "cluster.role"), "leader");
    assert_int_equal(json_object_get_int(get(o, "cluster.term")), 7);
    assert_false(json_object_get_boolean(get(o, "agent.tilt.active")));
    assert_string_equal(gets(o, "agent.tilt.reason"), "");
    json_object_put(o);
}

/* ---- many members: streamed answers of many parts ---- */

#define NMANY 400

static struct fo_service_def many_svc;
static struct fo_member_def many_def[NMANY];
static struct fo_sched_member many_mem[NMANY];
static char many_names[NMANY][16];
static uint64_t many_gen;

static int m_nservices(const void *ctx)
{
    return 1;
}
static const struct fo_service_def *m_service(const void *ctx, int i)
{
    return &many_svc;
}
static int m_nmembers(const void *ctx, int s)
{
    return NMANY;
}
static const struct fo_sched_member *m_member(const void *ctx, int s, int m)
{
    return &many_mem[m];
}
static uint64_t m_generation(const void *ctx)
{
    return many_gen;
}

static const struct fo_checks_src many_src = {m_nservices, m_service, m_nmembers,  m_member,
                                              NULL,        NULL,      m_generation};

static void many_build(void)
{
    memset(many_mem, 0, sizeof(many_mem));
    many_svc = (struct fo_service_def){
        .name = "edge",
        .kind = "http",
        .check = {.type = "http", .interval_ms = 1000, .timeout_ms = 800, .rise = 1, .fall = 1}};
    for (int i = 0; i < NMANY; i++) {
        snprintf(many_names[i], sizeof(many_names[i]), "lb%03d", i);
        many_def[i] = (struct fo_member_def){.name = many_names[i],
                                             .zone = i % 2 ? "z\"2" : "z1",
                                             .address = "http://127.0.0.1:8080/health"};
        struct fo_member_state *st = &many_mem[i].state;
        st->hyst.status = i % 3 ? FO_STATUS_OK : FO_STATUS_CRITICAL;
        st->raw = st->hyst.status;
        st->last.latency_ms = i * 0.25;
        snprintf(st->last.message, sizeof(st->last.message), "HTTP %d", 200 + i % 5);
        fo_result_int(&st->last, "code", 200 + i % 5);
        st->last_wall_ms = T0 + i;
        st->runs = (uint64_t)i * 7;
        st->lat_buckets[i % FO_LAT_BUCKETS] = (uint64_t)i;
        st->lat_sum_ms = i * 1.5;
        for (int h = 0; h < FO_HISTORY_MAX; h++) {
            st->history[h].wall_ms = T0 - 1000 * h;
            st->history[h].status = (h + i) % 4 ? FO_STATUS_OK : FO_STATUS_WARNING;
            st->history[h].latency_ms = 0.5f * (float)h;
        }
        st->hist_head = i % FO_HISTORY_MAX;
        st->hist_len = FO_HISTORY_MAX;
        many_mem[i].service = &many_svc;
        many_mem[i].member = &many_def[i];
    }
    many_svc.members = many_def;
    many_svc.nmembers = NMANY;
    many_gen = 5;
}

/* Reads a streamed answer to its end, part by part as the server does; reload_after > 0
 * reloads the check engine after that many parts. Returns the last fill's result (0: the end,
 * -1: cut) and the number of parts made. */
static int drain(struct fo_api_resp *resp, struct fo_metrics_buf *all, int *parts, int reload_after)
{
    struct fo_metrics_buf part = {0};
    int rc;
    *parts = 0;
    assert_non_null(resp->stream.fill);
    assert_null(resp->body);
    do {
        part.len = 0;
        rc = resp->stream.fill(resp->stream.state, &part);
        ++*parts;
        if (rc == 1) /* a part is about FO_API_STREAM_PART: never tiny, never all of it */
            assert_in_range(part.len, FO_API_STREAM_PART, 2 * FO_API_STREAM_PART);
        if (part.len)
            fo_metrics_put(all, part.data, part.len);
        if (*parts == reload_after)
            many_gen++;
    } while (rc == 1);
    resp->stream.done(resp->stream.state);
    fo_metrics_buf_free(&part);
    return rc;
}

static void test_status_stream(void **state)
{
    many_build();
    struct fo_agent_info ai = {.id = "az1", .zone = "z1", .version = "9.9"};
    struct fo_status_src src = {&ai, many_src, NULL, NULL};
    struct fo_api_resp resp = {0};
    struct fo_metrics_buf all = {0};
    int parts;
    fo_status_handler(NULL, &resp, &src);
    assert_int_equal(resp.code, 200);
    assert_int_equal(drain(&resp, &all, &parts, 0), 0);
    assert_true(parts > 3);
    char *streamed = fo_metrics_buf_take(&all, NULL);
    /* the same document as in one go, past the agent part (which holds the render time) */
    size_t len;
    char *whole = fo_status_text(&src, T0, 0, &len);
    assert_true(len > 4 * FO_API_STREAM_PART);
    const char *a = strstr(streamed, ",\"cluster\":"), *b = strstr(whole, ",\"cluster\":");
    assert_non_null(a);
    assert_non_null(b);
    assert_string_equal(a, b);
    struct json_object *j = json_tokener_parse(streamed), *o;
    assert_non_null(j);
    assert_string_equal(gets(j, "services.0.members.399.name"), "lb399");
    assert_string_equal(gets(j, "services.0.members.1.zone"), "z\"2");
    assert_true(json_object_object_get_ex(j, "services", &o));
    o = json_object_array_get_idx(o, 0);
    assert_true(json_object_object_get_ex(o, "members", &o));
    assert_int_equal(json_object_array_length(o), NMANY);
    o = json_object_array_get_idx(o, 7);
    assert_true(json_object_object_get_ex(o, "history", &o));
    assert_int_equal(json_object_array_length(o), FO_HISTORY_MAX);
    json_object_put(j);
    free(streamed);
    free(whole);

    /* a reload while the answer is half sent cuts it: never a document mixing two configs */
    fo_status_handler(NULL, &resp, &src);
    assert_int_equal(drain(&resp, &all, &parts, 1), -1);
    assert_int_equal(parts, 2);
    streamed = fo_metrics_buf_take(&all, NULL);
    j = json_tokener_parse(streamed);
    assert_null(j);
    free(streamed);
}

static void test_metrics_stream(void **state)
{
    many_build();
    struct fo_agent_info ai = {.version = "9.9"};
    struct fo_status_src src = {&ai, many_src, NULL, NULL};
    struct fo_api_resp resp = {0};
    struct fo_metrics_buf all = {0}, one = {0};
    int parts;
    int up = 3;
    fo_metrics_register(emit_peer, &up);
    fo_metrics_handler(NULL, &resp, &src);
    assert_int_equal(resp.code, 200);
    assert_string_equal(resp.content_type, FO_METRICS_CONTENT_TYPE);
    assert_int_equal(drain(&resp, &all, &parts, 0), 0);
    assert_true(parts > 3);
    fo_metrics_render(&one, "9.9", &many_src);
    char *streamed = fo_metrics_buf_take(&all, NULL), *whole = fo_metrics_buf_take(&one, NULL);
    assert_string_equal(streamed, whole);                                     /* byte for byte */
    assert_non_null(strstr(streamed, "failoverd_peer_up{peer=\"az2\"} 3\n")); /* emitters too */
    assert_non_null(strstr(streamed, "member=\"lb399\""));
    assert_non_null(strstr(streamed, "zone=\"z\\\"2\""));
    free(streamed);
    free(whole);

    fo_metrics_handler(NULL, &resp, &src);
    assert_int_equal(drain(&resp, &all, &parts, 2), -1);
    assert_int_equal(parts, 3);
    streamed = fo_metrics_buf_take(&all, NULL);
    assert_null(strstr(streamed, "failoverd_peer_up")); /* the end never came */
    free(streamed);
    fo_metrics_unregister(emit_peer, &up);
}

static void test_mask_address(void **state)
{
    static const char *const cases[][2] = {
        {"127.0.0.1:5432", "127.0.0.1:5432"},
        {"host=db password=hunter2 user=x", "host=db password=*** user=x"},
        {"password = 'a b\\'c' dbname=postgres", "password = *** dbname=postgres"},
        {"host=h sslpassword=k", "host=h sslpassword=***"},
        {"PASSWORD=X", "PASSWORD=***"},
        {"postgresql://fo:pa%40ss@db:5432/postgres?sslmode=require&password=zz",
         "postgresql://fo:***@db:5432/postgres?sslmode=require&password=***"},
        {"http://127.0.0.1:8080/healthz?a=b#frag", "http://127.0.0.1:8080/healthz?a=b#frag"},
        {"https://u@host/p@th", "https://u@host/p@th"},
        {"http://host/x?token=abc;q=1", "http://host/x?token=***;q=1"},
        {"", ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *m = fo_status_mask_address(cases[i][0]);
        assert_string_equal(m, cases[i][1]);
        free(m);
    }
    char buf[40];
    assert_string_equal(fo_status_iso8601(0, buf, sizeof(buf)), "1970-01-01T00:00:00.000Z");
    assert_string_equal(fo_status_iso8601(T0, buf, sizeof(buf)), "2024-05-01T12:00:00.123Z");
}

int main(void)
{
    fo_log_setup(FO_LOG_ERROR, FO_LOG_LOGFMT, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_format),   cmocka_unit_test(test_metrics_escaping),
        cmocka_unit_test(test_metrics_register), cmocka_unit_test(test_status_json),
        cmocka_unit_test(test_mask_address),     cmocka_unit_test(test_status_stream),
        cmocka_unit_test(test_metrics_stream),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
