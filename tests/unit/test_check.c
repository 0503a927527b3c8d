/* Unit tests of the check engine, pure parts: status names, hysteresis tables, member state,
 * scheduling and TILT on a fake clock; and main(). The loop tests (scheduler with the scripted fake
 * plugin, shared HTTP host) are in test_check_loop.c, part of the same program. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check/check.h"
#include "core/log.h"
#include "test_check.h"

char wall_offset_file[] = "/tmp/fo-test-check-wall-XXXXXX";

void set_wall_offset(long long ms)
{
    FILE *f = fopen(wall_offset_file, "w");
    assert_non_null(f);
    fprintf(f, "%lld\n", ms);
    fclose(f);
}

/* ---- status names and hysteresis ---- */

static void test_status_names(void **state)
{
    enum fo_status st;
    for (int i = 0; i <= FO_STATUS_UNKNOWN; i++) {
        assert_int_equal(fo_status_parse(fo_status_name((enum fo_status)i), &st), 0);
        assert_int_equal(st, i);
    }
    assert_string_equal(fo_status_name(FO_STATUS_WARNING), "warning");
    assert_int_equal(fo_status_parse("CRITICAL", &st), 0);
    assert_int_equal(st, FO_STATUS_CRITICAL);
    assert_int_equal(fo_status_parse("down", &st), -FO_EINVAL);
    assert_int_equal(fo_status_parse(NULL, &st), -FO_EINVAL);
    assert_string_equal(fo_status_name((enum fo_status)17), "unknown");
}

static enum fo_status st_of(char c)
{
    switch (c) {
    case 'o':
        return FO_STATUS_OK;
    case 'w':
        return FO_STATUS_WARNING;
    case 'c':
        return FO_STATUS_CRITICAL;
    default:
        return FO_STATUS_UNKNOWN;
    }
}

/* in: raw results; want: the confirmed status after each one (o w c u). */
static const struct {
    int rise, fall;
    const char *in, *want;
} hyst_table[] = {
    {2, 3, "oo", "uo"},
    {2, 3, "ooccc", "uoooc"},
    {2, 3, "oocco", "uoooo"},       /* streak broken by a good result */
    {2, 3, "ooccucc", "uoooooo"},   /* unknown resets the bad streak... */
    {2, 3, "ooccuccc", "uooooooc"}, /* ...so three more are needed */
    {2, 3, "ooww", "uoww"},         /* warning is good: follows at once */
    {2, 3, "wo", "uo"},             /* warning counts toward rise */
    {2, 3, "ccc", "uuc"},           /* from the start */
    {2, 3, "cccoo", "uucco"},       /* back up after rise */
    {2, 3, "cccwo", "uucco"},       /* mixed ok/warning streak */
    {2, 3, "cccocoo", "uucccco"},   /* rise needs consecutive goods */
    {2, 3, "ooouuu", "uoooou"},     /* fall unknowns -> unknown */
    {2, 3, "ooouuo", "uooooo"},     /* fewer unknowns keep the status */
    {2, 3, "uuuu", "uuuu"},         /* already unknown: no change */
    {2, 3, "ooouuuo", "uoooouu"},   /* from unknown, rise again */
    {1, 1, "ocou", "ocou"},
    {0, 0, "oc", "oc"},               /* nonsense knobs act as 1 */
    {2, 2, "oocucucuc", "uoooooooo"}, /* alternating never confirms */
};

static void test_hyst_table(void **state)
{
    for (size_t t = 0; t < FO_ARRAY_LEN(hyst_table); t++) {
        struct fo_hyst h;
        fo_hyst_init(&h);
        enum fo_status prev = FO_STATUS_UNKNOWN;
        const char *in = hyst_table[t].in, *want = hyst_table[t].want;
        assert_int_equal(strlen(in), strlen(want));
        for (size_t i = 0; in[i]; i++) {
            int changed = fo_hyst_feed(&h, st_of(in[i]), hyst_table[t].rise, hyst_table[t].fall);
            if (h.status != st_of(want[i]) || changed != (h.status != prev))
                fail_msg("row %zu (%s) step %zu: status %s changed %d, want %c", t, in, i,
                         fo_status_name(h.status), changed, want[i]);
            prev = h.status;
        }
    }
}

/* ---- member state ---- */

static void test_state_record(void **state)
{
    struct fo_check_def def = {.rise = 1, .fall = 2};
    struct fo_member_state st;
    struct fo_result r;
    fo_member_state_init(&st);
    assert_int_equal(st.hyst.status, FO_STATUS_UNKNOWN);
    assert_int_equal(st.raw, FO_STATUS_UNKNOWN);

    for (int i = 0; i < 40; i++) {
        memset(&r, 0, sizeof(r));
        fo_result_set(&r, FO_STATUS_OK, "run %d", i);
        fo_result_int(&r, "i", i);
        r.latency_ms = i;
        int changed = fo_member_state_record(&st, &def, &r, 1000 + i, 50 + i);
        assert_int_equal(changed, i == 0);
    }
    assert_int_equal(st.runs, 40);
    assert_int_equal(st.errors, 0);
    assert_int_equal(st.hist_len, FO_HISTORY_MAX);
    assert_int_equal(st.hist_head, 40 % FO_HISTORY_MAX);
    /* oldest at hist_head, newest just before it */
    for (int k = 0; k < FO_HISTORY_MAX; k++) {
        const struct fo_sample *smp = &st.history[(st.hist_head + k) % FO_HISTORY_MAX];
        assert_int_equal(smp->wall_ms, 1000 + 40 - FO_HISTORY_MAX + k);
        assert_true(smp->latency_ms == (float)(40 - FO_HISTORY_MAX + k));
    }
    /* latencies 0..39 into le 1, 2.5, 5, 10, 25, 50 */
    static const uint64_t want[FO_LAT_BUCKETS] = {2, 1, 3, 5, 15, 14, 0, 0, 0, 0, 0, 0};
    for (int b = 0; b < FO_LAT_BUCKETS; b++)
        assert_int_equal(st.lat_buckets[b], want[b]);
    assert_true(st.lat_sum_ms == 780.0);
    assert_string_equal(st.last.message, "run 39");
    assert_int_equal(st.last.nfacts, 1);
    assert_int_equal(fo_result_get(&st.last, "i")->i, 39);
    assert_int_equal(st.last_wall_ms, 1039);
    assert_int_equal(st.last_mono_ms, 89);
    assert_int_equal(st.last_change_wall_ms, 1000);

    /* unknown (and a status outside the enum) are errors; slow and negative latencies */
    memset(&r, 0, sizeof(r));
    r.status = (enum fo_status)42;
    r.latency_ms = 60000;
    assert_int_equal(fo_member_state_record(&st, &def, &r, 2000, 100), 0);
    assert_int_equal(st.raw, FO_STATUS_UNKNOWN);
    assert_int_equal(st.last.nfacts, 0);
    assert_int_equal(st.lat_buckets[FO_LAT_BUCKETS - 1], 1);
    r.status = FO_STATUS_UNKNOWN;
    r.latency_ms = -3;
    assert_int_equal(fo_member_state_record(&st, &def, &r, 2001, 101), 1);
    assert_int_equal(st.hyst.status, FO_STATUS_UNKNOWN);
    assert_int_equal(st.errors, 2);
    assert_int_equal(st.lat_buckets[0], 3);
    assert_int_equal(st.last_change_wall_ms, 2001);

    /* a plugin's garbage does not spill: fact count clamped, message terminated */
    struct fo_result big, copy;
    memset(&big, 'x', sizeof(big));
    big.nfacts = 1000;
    fo_result_copy(&copy, &big);
    assert_int_equal(copy.nfacts, FO_FACTS_MAX);
    assert_int_equal(strlen(copy.message), FO_MESSAGE_MAX - 1);
    big.nfacts = -4;
    fo_result_copy(&copy, &big);
    assert_int_equal(copy.nfacts, 0);

    /* in place, as the scheduler records */
    fo_result_set(&st.last, FO_STATUS_CRITICAL, "down");
    st.last.latency_ms = 3;
    assert_int_equal(fo_member_state_record(&st, &def, &st.last, 2002, 102), 0);
    assert_int_equal(fo_member_state_record(&st, &def, &st.last, 2003, 103), 1);
    assert_int_equal(st.hyst.status, FO_STATUS_CRITICAL);
    assert_string_equal(st.last.message, "down");
    assert_int_equal(st.runs, 44);
    assert_int_equal(st.history[(st.hist_head + FO_HISTORY_MAX - 1) % FO_HISTORY_MAX].status,
                     FO_STATUS_CRITICAL);
}

/* ---- TILT on a fake clock ---- */

/* ---- scheduling on a fake clock ---- */

/* A member's runs driven by a fake clock: each tick comes `late[i]` ms after the run was due
 * (the loop's lateness), and the plan says when the next one is. */
static void test_plan_fixed_rate_and_stall(void **state)
{
    const uint32_t iv = 1000;
    int64_t base = fo_sched_plan_first(50000, iv, 12345);
    assert_int_equal(base, 50000 + 12345 % 1000);
    /* a late tick does not push the later ones: runs stay on base + k*interval */
    int64_t now = base;
    for (int k = 1; k <= 20; k++) {
        now = base + (k % 3) * 37; /* up to 74 ms late */
        int64_t next = fo_sched_plan_next(base, iv, now);
        assert_int_equal(next, base + iv);
        base = next;
    }
    assert_int_equal(base, 50000 + 345 + 20 * 1000);
    /* a stall of 3.5 intervals: the missed runs are skipped, not bunched, and the phase stays */
    int64_t phase = base % iv;
    now = base + 3500;
    int64_t next = fo_sched_plan_next(base, iv, now);
    assert_true(next > now && next <= now + iv);
    assert_int_equal(next % iv, phase);
    assert_int_equal(next, base + 4000);
    /* exactly one interval late: the next run is the following point, not now */
    assert_int_equal(fo_sched_plan_next(base, iv, base + iv), base + 2 * iv);
}

static void test_plan_spread_and_jitter(void **state)
{
    uint64_t rng = 88172645463325252ull;
    int seen[10] = {0};
    for (int i = 0; i < 10000; i++) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        int64_t first = fo_sched_plan_first(7000, 500, rng);
        assert_in_range(first, 7000, 7499);
        seen[(first - 7000) / 50]++;
        int64_t due = fo_sched_plan_due(first, 100, rng >> 3);
        assert_in_range(due - first, 0, 100);
    }
    /* first runs spread over the whole interval: no tenth of it gets under half its share */
    for (int b = 0; b < 10; b++)
        assert_true(seen[b] > 500);
    assert_int_equal(fo_sched_plan_due(1234, 0, 99999), 1234);
}

static void test_tilt_stall(void **state)
{
    struct fo_tilt t;
    int64_t mono = 5000, wall = 1700000000000;
    fo_tilt_init(&t, 250, mono, wall);
    for (int i = 0; i < 20; i++) /* steady, with a little lateness */
        assert_int_equal(fo_tilt_tick(&t, mono += 260, wall += 260, 3000), 0);
    /* lag of exactly 1 s is not over it */
    assert_int_equal(fo_tilt_tick(&t, mono += 1250, wall += 1250, 3000), 0);
    assert_false(t.active);
    assert_int_equal(fo_tilt_tick(&t, mono += 1300, wall += 1300, 3000), 1);
    assert_true(t.active);
    assert_int_equal(t.entered, 1);
    assert_int_equal(t.since_mono_ms, mono);
    assert_non_null(strstr(t.reason, "stalled 1050 ms"));
    int64_t entered_at = mono;
    /* another stall while in TILT restarts the stable period */
    for (int i = 0; i < 4; i++)
        assert_int_equal(fo_tilt_tick(&t, mono += 250, wall += 250, 3000), 0);
    assert_int_equal(fo_tilt_tick(&t, mono += 2000, wall += 2000, 3000), 0);
    assert_int_equal(t.entered, 1);
    int64_t stable_from = mono;
    while (mono + 250 - stable_from < 3000)
        assert_int_equal(fo_tilt_tick(&t, mono += 250, wall += 250, 3000), 0);
    assert_true(t.active);
    assert_int_equal(fo_tilt_tick(&t, mono += 250, wall += 250, 3000), -1);
    assert_false(t.active);
    assert_int_equal(t.left_mono_ms, mono);
    assert_int_equal(t.since_mono_ms, entered_at);
    assert_int_equal(fo_tilt_tick(&t, mono += 250, wall += 250, 3000), 0);
}

static void test_tilt_wall_jumps(void **state)
{
    struct fo_tilt t;
    int64_t mono = 0, wall = 1000000;
    fo_tilt_init(&t, 250, mono, wall);
    /* NTP-sized corrections do not count */
    assert_int_equal(fo_tilt_tick(&t, mono += 250, wall += 250 + 900, 3000), 0);
    assert_int_equal(fo_tilt_tick(&t, mono += 250, wall += 250 - 900, 3000), 0);
    assert_int_equal(fo_tilt_tick(&t, mono += 250, wall += 250 + 1500, 3000), 1);
    assert_string_equal(t.reason, "wall clock jumped +1500 ms");
    /* leave after the stable period, then a backward jump enters again */
    int r, n = 0;
    while ((r = fo_tilt_tick(&t, mono += 250, wall += 250, 3000)) == 0)
        n++;
    assert_int_equal(r, -1);
    assert_int_equal(n, 11); /* 12 ticks of 250 ms = 3 s */
    assert_int_equal(fo_tilt_tick(&t, mono += 250, wall += 250 - 2000, 3000), 1);
    assert_string_equal(t.reason, "wall clock jumped -2000 ms");
    assert_int_equal(t.entered, 2);
    /* a longer stable period (3 x a 2 s interval) */
    n = 0;
    while ((r = fo_tilt_tick(&t, mono += 250, wall += 250, 6000)) == 0)
        n++;
    assert_int_equal(n, 23);
}

static void test_tilt_covers(void **state)
{
    struct fo_tilt t;
    fo_tilt_init(&t, 250, 10000, 10000);
    assert_false(fo_tilt_covers(&t, 9000)); /* never entered */
    assert_int_equal(fo_tilt_tick(&t, 12000, 12000, 3000), 1);
    assert_true(fo_tilt_covers(&t, 9000));  /* started before the stall, ends in TILT */
    assert_true(fo_tilt_covers(&t, 12100)); /* started in TILT */
    int64_t m = 12000;
    do
        m += 250;
    while (fo_tilt_tick(&t, m, m, 3000) != -1);
    assert_true(fo_tilt_covers(&t, m - 10)); /* spans the moment TILT was left */
    assert_false(fo_tilt_covers(&t, m));
    assert_false(fo_tilt_covers(&t, m + 500));
}

int main(void)
{
    int fd = mkstemp(wall_offset_file);
    if (fd < 0)
        return 1;
    close(fd);
    setenv("FAILOVERD_TEST_WALL_OFFSET_FILE", wall_offset_file, 1);
    set_wall_offset(0);
    fo_log_setup(FO_LOG_WARN, FO_LOG_LOGFMT, NULL);
    fo_event_subscribe(on_event, NULL);

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_names),
        cmocka_unit_test(test_hyst_table),
        cmocka_unit_test(test_state_record),
        cmocka_unit_test(test_plan_fixed_rate_and_stall),
        cmocka_unit_test(test_plan_spread_and_jitter),
        cmocka_unit_test(test_tilt_stall),
        cmocka_unit_test(test_tilt_wall_jumps),
        cmocka_unit_test(test_tilt_covers),
        cmocka_unit_test(test_http_host),
        cmocka_unit_test_setup_teardown(test_sched_interval, sched_setup, sched_teardown),
        cmocka_unit_test_setup_teardown(test_sched_spread, sched_setup, sched_teardown),
        cmocka_unit_test_setup_teardown(test_sched_no_overlap, sched_setup, sched_teardown),
        cmocka_unit_test_setup_teardown(test_sched_timeout, sched_setup, sched_teardown),
        cmocka_unit_test_setup_teardown(test_sched_plugin_errors, sched_setup, sched_teardown),
        cmocka_unit_test_setup_teardown(test_sched_bad_plugins, sched_setup, sched_teardown),
        cmocka_unit_test_setup_teardown(test_sched_init_error, sched_setup, sched_teardown),
        cmocka_unit_test_setup_teardown(test_sched_apply_keeps_state, sched_setup, sched_teardown),
        cmocka_unit_test_setup_teardown(test_sched_best_int, sched_setup, sched_teardown),
        /* last: they move the wall clock and stall the loop */
        cmocka_unit_test_setup_teardown(test_sched_tilt_wall_jump, sched_setup, sched_teardown),
        cmocka_unit_test_setup_teardown(test_sched_tilt_stall, sched_setup, sched_teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    unlink(wall_offset_file);
    return rc;
}
