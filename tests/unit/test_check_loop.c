/* Loop tests of the check engine: the scheduler on a real libuv loop with the scripted fake
 * plugin (fake_plugin.c, loaded from its .libs directory), and the shared HTTP host against a
 * tiny HTTP server on 127.0.0.1. Intervals are tens of ms: all of it takes a few seconds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <dlfcn.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "check/check.h"
#include "check/http_host.h"
#include "core/config.h"
#include "core/log.h"
#include "fake_plugin.h"
#include "test_check.h"

#ifndef FO_TEST_PLUGIN_DIR
#define FO_TEST_PLUGIN_DIR "."
#endif

static const char *plugin_dir(void)
{
    const char *e = getenv("FO_TEST_PLUGIN_DIR");
    return e ? e : FO_TEST_PLUGIN_DIR;
}

/* ---- what the tests saw: events, results, result times per member ---- */

static char evlog[16384], reslog[65536];
static size_t evlen, reslen;
static struct {
    char name[16];
    int64_t t[128];
    int n;
} tracks[8];

static void append(char *buf, size_t cap, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void append(char *buf, size_t cap, size_t *len, const char *fmt, ...)
{
    va_list ap;
    if (*len >= cap - 1)
        return;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *len, cap - *len, fmt, ap);
    va_end(ap);
    *len = n < 0 ? *len : *len + (size_t)n < cap ? *len + (size_t)n : cap - 1;
}

static const char *kv_get(const char *const *kv, int nkv, const char *key)
{
    for (int i = 0; i + 1 < nkv; i += 2)
        if (strcmp(kv[i], key) == 0)
            return kv[i + 1];
    return "";
}

void on_event(enum fo_log_level level, const char *kind, const char *const *kv, int nkv, void *arg)
{
    if (strcmp(kind, "check.status") == 0)
        append(evlog, sizeof(evlog), &evlen, "%s:%s>%s\n", kv_get(kv, nkv, "member"),
               kv_get(kv, nkv, "was"), kv_get(kv, nkv, "status"));
    else if (strncmp(kind, "tilt.", 5) == 0)
        append(evlog, sizeof(evlog), &evlen, "%s\n", kind);
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static void on_result(const struct fo_sched_member *m, int changed, void *arg)
{
    append(reslog, sizeof(reslog), &reslen, "%s %s %s\n", m->member->name,
           fo_status_name(m->state.raw), m->state.last.message);
    for (size_t i = 0; i < FO_ARRAY_LEN(tracks); i++) {
        if (!tracks[i].name[0])
            snprintf(tracks[i].name, sizeof(tracks[i].name), "%s", m->member->name);
        if (strcmp(tracks[i].name, m->member->name) == 0) {
            if (tracks[i].n < (int)FO_ARRAY_LEN(tracks[i].t))
                tracks[i].t[tracks[i].n++] = m->state.last_mono_ms;
            break;
        }
    }
}

static int64_t *track(const char *name, int *n)
{
    for (size_t i = 0; i < FO_ARRAY_LEN(tracks); i++)
        if (strcmp(tracks[i].name, name) == 0) {
            *n = tracks[i].n;
            return tracks[i].t;
        }
    *n = 0;
    return NULL;
}

/* ---- fixture: one loop, one scheduler, the fake plugin's counters ---- */

static uv_loop_t loop;
static struct fo_sched *sched;
static struct fake_counters *fc;

int sched_setup(void **state)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/fake_plugin.so", plugin_dir());
    void *dl = dlopen(path, RTLD_NOW); /* the very object the host will load */
    if (!dl) {
        fprintf(stderr, "test_check: %s\n", dlerror());
        return -1;
    }
    fc = dlsym(dl, "fake_counters");
    if (!fc)
        return -1;
    memset(fc, 0, sizeof(*fc));
    evlen = reslen = 0;
    evlog[0] = reslog[0] = '\0';
    memset(tracks, 0, sizeof(tracks));
    uv_loop_init(&loop);
    sched = fo_sched_new(&loop, plugin_dir());
    if (!sched)
        return -1;
    fo_sched_on_result(sched, on_result, NULL);
    return 0;
}

int sched_teardown(void **state)
{
    fo_sched_close(sched);
    sched = NULL;
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0) {
        fprintf(stderr, "test_check: handles left open on the loop\n");
        return -1;
    }
    if (fc->inits != fc->destroys || fc->inflight != 0) {
        fprintf(stderr, "test_check: %d inits, %d destroys, %d in flight\n", fc->inits,
                fc->destroys, fc->inflight);
        return -1;
    }
    return 0;
}

static void stop_loop(uv_timer_t *t)
{
    uv_stop(t->loop);
}

static void run_for(uint64_t ms)
{
    uv_timer_t t;
    uv_timer_init(&loop, &t);
    uv_timer_start(&t, stop_loop, ms, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
}

/* ---- definitions ---- */

static struct fo_service_def *defs(int n)
{
    return fo_xcalloc((size_t)n, sizeof(struct fo_service_def));
}

/* members: "name=address,name=address" */
static void svc(struct fo_service_def *sd, const char *name, const char *type, uint32_t interval,
                uint32_t timeout, const char *params, const char *members)
{
    memset(sd, 0, sizeof(*sd));
    sd->name = fo_xstrdup(name);
    sd->kind = fo_xstrdup("test");
    sd->check.type = fo_xstrdup(type);
    sd->check.interval_ms = interval;
    sd->check.timeout_ms = timeout;
    sd->check.rise = 1;
    sd->check.fall = 1;
    sd->check.where = fo_xstrdup("test.yaml:3:5");
    if (params) {
        sd->check.params = json_tokener_parse(params);
        assert_non_null(sd->check.params);
    }
    char *list = fo_xstrdup(members), *save = NULL;
    int n = 1;
    for (const char *p = members; *p; p++)
        n += *p == ',';
    sd->members = fo_xcalloc((size_t)n, sizeof(*sd->members));
    for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        struct fo_member_def *md = &sd->members[sd->nmembers++];
        char *eq = strchr(tok, '=');
        *eq = '\0';
        md->name = fo_xstrdup(tok);
        md->zone = fo_xstrdup("z1");
        md->address = fo_xstrdup(eq + 1);
    }
    free(list);
}

static void free_defs(struct fo_service_def *d, int n)
{
    for (int i = 0; i < n; i++)
        fo_service_def_free(&d[i]);
    free(d);
}

static const struct fo_sched_member *member(const char *service, const char *name)
{
    for (int i = 0; i < fo_sched_nservices(sched); i++) {
        if (strcmp(fo_sched_service(sched, i)->name, service) != 0)
            continue;
        for (int j = 0; j < fo_sched_nmembers(sched, i); j++)
            if (strcmp(fo_sched_member(sched, i, j)->member->name, name) == 0)
                return fo_sched_member(sched, i, j);
    }
    return NULL;
}

static void apply_ok(struct fo_service_def *d, int n)
{
    struct fo_err err = {0};
    int rc = fo_sched_apply(sched, d, n, &err);
    if (rc != 0)
        fail_msg("apply: %s", err.msg);
}

/* ---- scheduler ---- */

void test_sched_interval(void **state)
{
    struct fo_service_def *d = defs(2);
    svc(&d[0], "db", "fake_plugin", 30, 25, NULL, "m1=a1");
    svc(&d[1], "web", "fake_plugin", 30, 25, NULL, "j1=a1");
    d[1].check.jitter_ms = 20;
    apply_ok(d, 2);
    run_for(320);

    const struct fo_sched_member *m = member("db", "m1");
    int n;
    int64_t *t = track("m1", &n);
    /* first run spread over [0, 30) ms, then one every 30 ms, at a fixed rate: a late tick
     * does not push the later ones (the next gap is shorter), so only the mean is exact */
    assert_in_range(m->state.runs, 8, 11);
    assert_int_equal(n, (int)m->state.runs);
    /* each gap: never negative; bounded loosely, as this runs on the real loop and a sanitizer
     * build on a busy 2-core machine saw one 108 ms late tick (the count and mean are exact) */
    for (int i = 1; i < n; i++)
        assert_in_range(t[i] - t[i - 1], 0, 250);
    assert_in_range((t[n - 1] - t[0]) / (n - 1), 28, 36);
    assert_int_equal(m->state.hyst.status, FO_STATUS_OK);

    /* with jitter: the same rate on average, each run delayed by 0..20 ms */
    t = track("j1", &n);
    assert_in_range(n, 8, 11);
    for (int i = 1; i < n; i++)
        assert_in_range(t[i] - t[i - 1], 0, 100);
    assert_in_range((t[n - 1] - t[0]) / (n - 1), 22, 42);
    assert_int_equal(fc->starts, (int)(m->state.runs + member("web", "j1")->state.runs));
    assert_int_equal(fc->overlaps, 0);
}

void test_sched_spread(void **state)
{
    char list[1024];
    size_t len = 0;
    for (int i = 0; i < 50; i++)
        append(list, sizeof(list), &len, "%sm%d=a", i ? "," : "", i);
    struct fo_service_def *d = defs(1);
    svc(&d[0], "many", "fake_plugin", 100, 50, NULL, list);
    apply_ok(d, 1);
    /* first runs spread uniformly over the 100 ms interval (all at once without spreading) */
    run_for(150);
    int64_t first_min = INT64_MAX, first_max = INT64_MIN;
    for (int j = 0; j < 50; j++) {
        const struct fo_member_state *st = &fo_sched_member(sched, 0, j)->state;
        assert_true(st->runs >= 1);
        if (st->history[0].wall_ms < first_min)
            first_min = st->history[0].wall_ms;
        if (st->history[0].wall_ms > first_max)
            first_max = st->history[0].wall_ms;
    }
    assert_true(first_max - first_min >= 40);
    assert_true(first_max - first_min < 150);
}

void test_sched_no_overlap(void **state)
{
    struct fo_service_def *d = defs(1);
    svc(&d[0], "db", "fake_plugin", 20, 200, "{\"delay_ms\": 70}", "m1=a1");
    apply_ok(d, 1);
    run_for(300);

    const struct fo_sched_member *m = member("db", "m1");
    /* one run per ~80 ms (15 ticks in the window): a 70 ms run spans three 20 ms ticks, which
     * are skipped */
    assert_in_range(m->state.runs, 1, 4);
    assert_int_equal(fc->overlaps, 0);
    assert_int_equal(fc->max_inflight, 1);
    assert_true(m->state.overlaps_skipped >= m->state.runs);
    assert_int_equal(m->state.timeouts, 0);
    uint64_t fast = 0; /* at or under 50 ms: none can be */
    for (int b = 0; b <= 5; b++)
        fast += m->state.lat_buckets[b];
    assert_int_equal(fast, 0);
}

void test_sched_timeout(void **state)
{
    struct fo_service_def *d = defs(1);
    svc(&d[0], "db", "fake_plugin", 60, 25, "{\"hang\": true}", "m1=a1");
    d[0].check.fall = 2;
    apply_ok(d, 1);
    run_for(200);

    const struct fo_sched_member *m = member("db", "m1");
    assert_true(m->state.runs >= 2);
    assert_int_equal(m->state.timeouts, m->state.runs);
    assert_int_equal(fc->cancels, (int)m->state.timeouts);
    assert_int_equal(m->state.raw, FO_STATUS_CRITICAL);
    assert_int_equal(m->state.hyst.status, FO_STATUS_CRITICAL);
    assert_string_equal(m->state.last.message, "timeout after 25 ms");
    uint64_t total = 0; /* a timeout's latency is its wait: >= 25 ms (late under load) */
    for (int b = 0; b < FO_LAT_BUCKETS; b++)
        total += m->state.lat_buckets[b];
    assert_int_equal(total, m->state.runs);
    assert_int_equal(m->state.lat_buckets[0] + m->state.lat_buckets[1] + m->state.lat_buckets[2] +
                         m->state.lat_buckets[3],
                     0);
    assert_true(m->state.lat_sum_ms >= 24.0 * (double)m->state.runs);
    assert_int_equal(count(evlog, "m1:unknown>critical\n"), 1);
    assert_int_equal(count(evlog, "m1:"), 1);
}

void test_sched_plugin_errors(void **state)
{
    struct fo_service_def *d = defs(3);
    svc(&d[0], "a", "fake_plugin", 30, 25, "{\"fail_start\": true}", "m1=x");
    svc(&d[1], "b", "fake_plugin", 30, 25, "{\"seq\": [\"bogus\"]}", "m2=x");
    svc(&d[2], "c", "fake_plugin", 30, 25, "{\"seq\": [\"unknown\", \"critical\"]}", "m3=x");
    d[0].check.fall = d[1].check.fall = d[2].check.fall = 2;
    apply_ok(d, 3);
    run_for(150);

    const struct fo_sched_member *m1 = member("a", "m1"), *m2 = member("b", "m2"),
                                 *m3 = member("c", "m3");
    assert_true(m1->state.runs >= 3);
    assert_int_equal(m1->state.errors, m1->state.runs);
    assert_int_equal(m1->state.raw, FO_STATUS_UNKNOWN);
    assert_int_equal(m1->state.hyst.status, FO_STATUS_UNKNOWN);
    assert_non_null(strstr(m1->state.last.message, "plugin error: start failed"));
    assert_int_equal(m2->state.raw, FO_STATUS_UNKNOWN);
    assert_string_equal(m2->state.last.message, "plugin error: invalid status 42");
    /* unknowns break every critical streak: never confirmed critical */
    assert_true(m3->state.runs >= 3);
    assert_int_equal(m3->state.hyst.status, FO_STATUS_UNKNOWN);
    assert_int_equal(count(reslog, "critical"), count(reslog, "m3 critical"));
    assert_int_equal(count(evlog, "critical"), 0);
}

void test_sched_bad_plugins(void **state)
{
    static const struct {
        const char *type, *want;
    } cases[] = {
        {"fake_badabi", "speaks ABI 2.1, this daemon 1.1"},
        {"fake_action", "is an action plugin, not a check plugin"},
        {"../fake_plugin", "invalid plugin name '../fake_plugin'"},
        {"nosuch", "cannot load check plugin 'nosuch'"},
    };
    for (size_t i = 0; i < FO_ARRAY_LEN(cases); i++) {
        struct fo_err err = {0};
        struct fo_service_def *d = defs(1);
        svc(&d[0], "db", cases[i].type, 30, 25, NULL, "m1=a1");
        assert_int_equal(fo_sched_validate(sched, d, 1, &err), -FO_ECONFIG);
        assert_non_null(strstr(err.msg, cases[i].want));
        memset(&err, 0, sizeof(err));
        assert_int_equal(fo_sched_apply(sched, d, 1, &err), -FO_ECONFIG);
        assert_int_equal(err.code, -FO_ECONFIG);
        assert_true(strncmp(err.msg, "test.yaml:3:5: services.db.check.type: ", 39) == 0);
        assert_non_null(strstr(err.msg, cases[i].want));
        assert_int_equal(fo_sched_nservices(sched), 0);
    }
    assert_int_equal(fc->inits, 0);
}

void test_sched_init_error(void **state)
{
    struct fo_err err = {0};
    struct fo_service_def *d = defs(1);
    svc(&d[0], "db", "fake_plugin", 20, 15, NULL, "m1=a1,m2=a2");
    apply_ok(d, 1);
    run_for(60);
    uint64_t runs = member("db", "m1")->state.runs;
    assert_true(runs >= 1);

    /* one bad params key (shared by two members: reported once), a missing plugin, and a good
     * new service whose fresh instance must be destroyed again */
    d = defs(4);
    svc(&d[0], "db", "fake_plugin", 20, 15, NULL, "m1=a1,m2=a2");
    svc(&d[1], "cache", "fake_plugin", 20, 15, "{\"init_error\": \"port\"}", "c1=a,c2=b");
    svc(&d[2], "web", "nosuch", 20, 15, NULL, "w1=a");
    svc(&d[3], "api", "fake_plugin", 20, 15, NULL, "a1=a");
    assert_int_equal(fo_sched_validate(sched, d, 4, &err), -FO_ECONFIG);
    const char *want = "test.yaml:3:5: services.cache.check.params.port: scripted init error";
    assert_true(strncmp(err.msg, want, strlen(want)) == 0);
    assert_string_equal(err.msg + strlen(want), " (and 1 more)");
    assert_int_equal(fo_sched_apply(sched, d, 4, &err), -FO_ECONFIG);
    assert_true(strncmp(err.msg, want, strlen(want)) == 0);
    const char *all = fo_sched_errors(sched);
    assert_int_equal(count(all, "\n"), 2);
    assert_true(strncmp(all, want, strlen(want)) == 0);
    assert_non_null(strstr(all, "\ntest.yaml:3:5: services.web.check.type: cannot load"));
    /* nothing changed: the old members run on, the fresh instances are gone */
    assert_int_equal(fo_sched_nservices(sched), 1);
    assert_int_equal(fo_sched_nmembers(sched, 0), 2);
    assert_int_equal(fc->inits, 2 + 2);
    assert_int_equal(fc->destroys, 2);
    run_for(60);
    assert_true(member("db", "m1")->state.runs > runs);

    /* params read from a file: the error points at the key, or at params for a missing key */
    static const char yaml[] = "user: x\ninit_error: port\nport: 5432\n";
    struct fo_cfg_errs errs;
    fo_cfg_errs_init(&errs);
    d = defs(1);
    svc(&d[0], "cache", "fake_plugin", 20, 15, NULL, "c1=a");
    d[0].check.params = fo_config_parse("svc.yaml", yaml, strlen(yaml), &errs);
    assert_non_null(d[0].check.params);
    assert_int_equal(fo_sched_validate(sched, d, 1, &err), -FO_ECONFIG);
    assert_string_equal(err.msg, "svc.yaml:3:1: services.cache.check.params.port: "
                                 "scripted init error");
    json_object_object_add(d[0].check.params, "init_error", json_object_new_string("absent"));
    assert_int_equal(fo_sched_validate(sched, d, 1, &err), -FO_ECONFIG);
    assert_string_equal(err.msg, "svc.yaml:1:1: services.cache.check.params.absent: "
                                 "scripted init error");
    free_defs(d, 1);
    fo_cfg_errs_free(&errs);

    /* duplicate member names */
    d = defs(1);
    svc(&d[0], "db", "fake_plugin", 20, 15, NULL, "m1=a1,m1=a2");
    assert_int_equal(fo_sched_validate(sched, d, 1, &err), -FO_ECONFIG);
    assert_string_equal(err.msg, "test.yaml:3:5: services.db.members: duplicate member 'm1'");
    free_defs(d, 1);

    /* a good definition validates, and clears the errors */
    d = defs(1);
    svc(&d[0], "db", "fake_plugin", 20, 15, NULL, "m1=a1,m3=a3");
    assert_int_equal(fo_sched_validate(sched, d, 1, &err), 0);
    assert_string_equal(fo_sched_errors(sched), "");
    assert_int_equal(fo_sched_nmembers(sched, 0), 2);
    assert_null(member("db", "m3"));
    free_defs(d, 1);
}

void test_sched_apply_keeps_state(void **state)
{
    struct fo_service_def *d = defs(1);
    svc(&d[0], "db", "fake_plugin", 20, 15, NULL, "m1=a1,m2=a2,m3=a3");
    apply_ok(d, 1);
    run_for(120);
    const struct fo_sched_member *m1 = member("db", "m1");
    uint64_t runs = m1->state.runs;
    assert_true(runs >= 3);
    assert_int_equal(m1->state.hyst.status, FO_STATUS_OK);
    assert_int_equal(count(evlog, ":unknown>ok\n"), 3);
    assert_int_equal(fo_sched_tilt(sched)->stable_ms, 3000); /* the floor */

    evlen = 0;
    evlog[0] = '\0';
    d = defs(3);
    svc(&d[0], "db", "fake_plugin", 20, 15, NULL, "m1=a1,m2=a2-moved,m4=a4");
    svc(&d[1], "other", "fake_plugin", 20, 15, NULL, "o1=x");
    svc(&d[2], "slow", "fake_plugin", 2500, 15, NULL, "s1=x");
    apply_ok(d, 3);
    assert_int_equal(fo_sched_tilt(sched)->stable_ms, 7500); /* 3 x the longest interval */

    /* unchanged: the same member, state and history, now pointing at the new definitions */
    assert_ptr_equal(member("db", "m1"), m1);
    assert_int_equal(m1->state.runs, runs);
    assert_int_equal(m1->state.hyst.status, FO_STATUS_OK);
    assert_ptr_equal(m1->service, fo_sched_service(sched, 0));
    assert_ptr_equal(m1->member, &fo_sched_service(sched, 0)->members[0]);
    /* changed and new: fresh state */
    const struct fo_sched_member *m2 = member("db", "m2");
    assert_int_equal(m2->state.runs, 0);
    assert_int_equal(m2->state.hyst.status, FO_STATUS_UNKNOWN);
    assert_string_equal(m2->member->address, "a2-moved");
    assert_int_equal(member("db", "m4")->state.runs, 0);
    assert_null(member("db", "m3"));
    assert_int_equal(fc->inits, 3 + 4);

    run_for(100);
    assert_int_equal(fc->destroys, 2); /* old m2 and m3 */
    assert_true(m1->state.runs > runs);
    assert_int_equal(count(evlog, "m1:"), 0); /* no flap */
    assert_int_equal(count(evlog, "m2:unknown>ok\n"), 1);
    assert_int_equal(count(evlog, "m4:unknown>ok\n"), 1);
    assert_int_equal(count(evlog, "o1:unknown>ok\n"), 1);
    assert_int_equal(fc->overlaps, 0);
}

void test_sched_best_int(void **state)
{
    struct fo_service_def *d = defs(2);
    svc(&d[0], "rpc", "fake_plugin", 40, 15, "{\"pos_from_address\": true}", "n1=5,n2=9,n3=7");
    svc(&d[1], "solo", "fake_plugin", 40, 15, "{\"pos_from_address\": true}", "x1=100");
    apply_ok(d, 2);
    run_for(170); /* a result is fresh for 3 intervals: 120 ms */

    static const struct {
        const char *name;
        int64_t best;
    } want[] = {{"n1", 9}, {"n2", 7}, {"n3", 9}};
    for (size_t i = 0; i < FO_ARRAY_LEN(want); i++) {
        const struct fo_fact *f = fo_result_get(&member("rpc", want[i].name)->state.last, "best");
        assert_non_null(f);
        assert_int_equal(f->i, want[i].best);
    }
    const struct fo_sched_member *x1 = member("solo", "x1");
    assert_true(x1->state.runs >= 2);
    assert_int_equal(fo_result_get(&x1->state.last, "pos")->i, 100);
    assert_null(fo_result_get(&x1->state.last, "best")); /* alone in its service */
}

void test_sched_tilt_wall_jump(void **state)
{
    struct fo_service_def *d = defs(1);
    svc(&d[0], "db", "fake_plugin", 40, 20, "{\"hang\": true}", "m1=a1");
    d[0].check.fall = 100;
    apply_ok(d, 1);
    run_for(100);
    const struct fo_sched_member *m = member("db", "m1");
    assert_int_equal(m->state.raw, FO_STATUS_CRITICAL);
    assert_false(fo_sched_tilt(sched)->active);

    set_wall_offset(5000); /* the clock's test hook re-reads it within 200 ms */
    run_for(450);
    const struct fo_tilt *t = fo_sched_tilt(sched);
    assert_true(t->active);
    assert_int_equal(t->entered, 1);
    long long jump = 0;
    assert_int_equal(sscanf(t->reason, "wall clock jumped %lld ms", &jump), 1);
    assert_in_range(jump, 4990, 5010); /* two clocks, each truncated to ms */
    assert_int_equal(count(evlog, "tilt.enter\n"), 1);
    assert_int_equal(m->state.raw, FO_STATUS_UNKNOWN);
    assert_string_equal(m->state.last.message, "tilt: timeout after 20 ms");
    assert_true(count(reslog, "m1 unknown tilt: timeout after 20 ms\n") >= 1);
    assert_int_equal(count(reslog, "m1 critical"), count(reslog, "m1 critical timeout after 20"));

    set_wall_offset(0);
    run_for(250); /* let the clock see it before the next test's scheduler starts */
}

void test_sched_tilt_stall(void **state)
{
    struct fo_service_def *d = defs(1);
    svc(&d[0], "db", "fake_plugin", 80, 50,
        "{\"hang\": true, \"stall_run\": 2, \"stall_ms\": 1300}", "m1=a1");
    d[0].check.fall = 100;
    apply_ok(d, 1);
    run_for(1550);

    /* run 2 blocked the loop for 1.3 s inside start(); its timeout then fired late, possibly
     * before the TILT timer: it must still count as our hiccup */
    const struct fo_sched_member *m = member("db", "m1");
    assert_true(m->state.timeouts >= 2);
    assert_true(strncmp(reslog,
                        "m1 critical timeout after 50 ms\n"
                        "m1 unknown tilt: timeout after 50 ms\n",
                        64) == 0);
    const struct fo_tilt *t = fo_sched_tilt(sched);
    assert_true(t->active);
    assert_non_null(strstr(t->reason, "loop stalled"));
    assert_int_equal(count(reslog, "m1 critical"), 1);
}

/* ---- the shared HTTP host against a tiny keep-alive server ---- */

struct hconn {
    uv_tcp_t tcp;
    char buf[2048];
    size_t len;
};

static void h_closed(uv_handle_t *h)
{
    free(h->data);
}

static void h_alloc(uv_handle_t *h, size_t n, uv_buf_t *b)
{
    static char rb[2048];
    *b = uv_buf_init(rb, sizeof(rb));
}

static void h_written(uv_write_t *w, int status)
{
    free(w);
}

static void h_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    struct hconn *c = st->data;
    if (n < 0 || c->len + (size_t)n >= sizeof(c->buf)) {
        uv_close((uv_handle_t *)st, h_closed);
        return;
    }
    memcpy(c->buf + c->len, b->base, (size_t)n);
    c->len += (size_t)n;
    c->buf[c->len] = '\0';
    for (char *end; (end = strstr(c->buf, "\r\n\r\n"));) {
        size_t req = (size_t)(end + 4 - c->buf);
        if (strncmp(c->buf, "GET /hang", 9) != 0) { /* /hang never gets an answer */
            uv_write_t *w = fo_xmalloc(sizeof(*w));
            uv_buf_t wb = uv_buf_init((char *)resp, sizeof(resp) - 1);
            uv_write(w, st, &wb, 1, h_written);
        }
        memmove(c->buf, c->buf + req, c->len - req + 1);
        c->len -= req;
    }
}

static void h_conn(uv_stream_t *srv, int status)
{
    struct hconn *c = fo_xcalloc(1, sizeof(*c));
    uv_tcp_init(srv->loop, &c->tcp);
    c->tcp.data = c;
    assert_int_equal(uv_accept(srv, (uv_stream_t *)&c->tcp), 0);
    uv_read_start((uv_stream_t *)&c->tcp, h_alloc, h_read);
}

/* Linked with -Wl,--wrap=uv_poll_init_socket: lets a test make watching a socket fail. */
static int poll_init_fails;
int __real_uv_poll_init_socket(uv_loop_t *lp, uv_poll_t *handle, uv_os_sock_t sock);
int __wrap_uv_poll_init_socket(uv_loop_t *lp, uv_poll_t *handle, uv_os_sock_t sock);
int __wrap_uv_poll_init_socket(uv_loop_t *lp, uv_poll_t *handle, uv_os_sock_t sock)
{
    if (poll_init_fails)
        return UV_ENOMEM;
    return __real_uv_poll_init_socket(lp, handle, sock);
}

struct xfer {
    CURL *easy;
    int done, code;
    size_t bytes;
};
#define NXFER 40
static struct xfer xf[NXFER + 2];
static int xdone;

static size_t h_write(char *p, size_t size, size_t n, void *arg)
{
    ((struct xfer *)arg)->bytes += size * n;
    return size * n;
}

static void h_done(void *easy, int code, void *arg)
{
    struct xfer *x = arg;
    assert_ptr_equal(easy, x->easy);
    x->done++;
    x->code = code;
    xdone++;
}

static void h_cancel(uv_timer_t *t)
{
    fo_http_host_cancel(xf[NXFER + 1].easy);
}

static void h_check(uv_timer_t *t)
{
    if (xdone >= *(int *)t->data)
        uv_stop(t->loop);
}

/* Runs lp until xdone reaches want, at most 3 s. */
static void h_wait(uv_loop_t *lp, int want)
{
    uv_timer_t t;
    uv_timer_init(lp, &t);
    t.data = &want;
    uv_timer_start(&t, h_check, 5, 5);
    for (int i = 0; i < 300 && xdone < want; i++)
        uv_run(lp, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(lp, UV_RUN_NOWAIT);
}

void test_http_host(void **state)
{
    uv_loop_t lp, other;
    uv_tcp_t srv;
    struct sockaddr_in sa;
    int salen = sizeof(sa);
    char url[128];

    uv_loop_init(&lp);
    uv_loop_init(&other);
    assert_int_equal(fo_http_host_start(&sa, h_done, NULL), -FO_EINVAL); /* no host yet */
    assert_int_equal(fo_http_host_init(&lp), 0);
    assert_int_equal(fo_http_host_init(&lp), 0); /* a second user */
    assert_int_equal(fo_http_host_init(&other), -FO_EBUSY);
    uv_loop_close(&other);

    uv_tcp_init(&lp, &srv);
    uv_ip4_addr("127.0.0.1", 0, &sa);
    assert_int_equal(uv_tcp_bind(&srv, (struct sockaddr *)&sa, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&srv, 128, h_conn), 0);
    uv_tcp_getsockname(&srv, (struct sockaddr *)&sa, &salen);
    int port = ntohs(sa.sin_port);

    memset(xf, 0, sizeof(xf));
    xdone = 0;
    for (int i = 0; i < NXFER + 2; i++) {
        CURL *e = xf[i].easy = curl_easy_init();
        snprintf(url, sizeof(url), "http://127.0.0.1:%d/%s%d", port, i < NXFER ? "x" : "hang", i);
        curl_easy_setopt(e, CURLOPT_URL, url);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, h_write);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, &xf[i]);
        curl_easy_setopt(e, CURLOPT_PRIVATE, &xf[i]); /* the caller's: the host leaves it */
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, i == NXFER ? 100L : 3000L);
        assert_int_equal(fo_http_host_start(e, h_done, &xf[i]), 0);
    }
    assert_int_equal(fo_http_host_start(xf[0].easy, h_done, &xf[0]), -FO_EBUSY);
    assert_int_equal(fo_http_host_running(), NXFER + 2);
    uv_timer_t cancel;
    uv_timer_init(&lp, &cancel);
    uv_timer_start(&cancel, h_cancel, 50, 0);
    h_wait(&lp, NXFER + 1);
    uv_timer_start(&cancel, stop_loop, 150, 0); /* the cancelled one must stay silent */
    uv_run(&lp, UV_RUN_DEFAULT);
    for (int i = 0; i < NXFER; i++) {
        long status = 0;
        void *priv = NULL;
        curl_easy_getinfo(xf[i].easy, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(xf[i].easy, CURLINFO_PRIVATE, &priv);
        assert_int_equal(xf[i].done, 1);
        assert_int_equal(xf[i].code, CURLE_OK);
        assert_int_equal(xf[i].bytes, 2);
        assert_int_equal(status, 200);
        assert_ptr_equal(priv, &xf[i]);
    }
    assert_int_equal(xf[NXFER].code, CURLE_OPERATION_TIMEDOUT);
    assert_int_equal(xf[NXFER + 1].done, 0);
    assert_int_equal(fo_http_host_running(), 0);

    /* an easy handle is reusable, and the connection cache is shared */
    long connects = -1;
    assert_int_equal(fo_http_host_start(xf[0].easy, h_done, &xf[0]), 0);
    h_wait(&lp, xdone + 1);
    assert_int_equal(xf[0].done, 2);
    curl_easy_getinfo(xf[0].easy, CURLINFO_NUM_CONNECTS, &connects);
    assert_int_equal(connects, 0);

    /* a socket we cannot watch fails that transfer only, as the host's fault; the multi lives */
    CURL *fresh = curl_easy_init();
    struct xfer fx = {.easy = fresh};
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/fresh", port);
    curl_easy_setopt(fresh, CURLOPT_URL, url);
    curl_easy_setopt(fresh, CURLOPT_WRITEFUNCTION, h_write);
    curl_easy_setopt(fresh, CURLOPT_WRITEDATA, &fx);
    curl_easy_setopt(fresh, CURLOPT_FORBID_REUSE, 1L); /* a new connection, a new socket */
    curl_easy_setopt(fresh, CURLOPT_FRESH_CONNECT, 1L);
    poll_init_fails = 1;
    assert_int_equal(fo_http_host_start(fresh, h_done, &fx), 0);
    h_wait(&lp, xdone + 1);
    poll_init_fails = 0;
    assert_int_equal(fx.done, 1);
    assert_int_equal(fx.code, CURLE_FAILED_INIT);
    assert_int_equal(fo_http_host_start(fresh, h_done, &fx), 0);
    h_wait(&lp, xdone + 1);
    assert_int_equal(fx.done, 2);
    assert_int_equal(fx.code, CURLE_OK);
    curl_easy_cleanup(fresh);

    fo_http_host_close();
    assert_int_equal(fo_http_host_start(xf[0].easy, h_done, &xf[0]), 0); /* still one user */
    fo_http_host_cancel(xf[0].easy);
    fo_http_host_close();
    assert_int_equal(fo_http_host_start(xf[0].easy, h_done, &xf[0]), -FO_EINVAL);
    for (int i = 0; i < NXFER + 2; i++)
        curl_easy_cleanup(xf[i].easy);
    uv_close((uv_handle_t *)&cancel, NULL);
    uv_close((uv_handle_t *)&srv, NULL);
    uv_run(&lp, UV_RUN_DEFAULT); /* server connections see EOF and close */
    assert_int_equal(uv_loop_close(&lp), 0);
}
