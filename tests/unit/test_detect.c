/* Verdict rules of DESIGN.md "Detection" on a fake clock: quorum of distinct zones, staleness,
 * TILT, epoch and config hash, own-zone veto and isolation, replicas still streaming. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <json-c/json.h>
#include <string.h>

#include "core/fo.h"
#include "detect/detect.h"

#define HASH "abc"

static struct fo_detect *mk(int quorum)
{
    struct fo_detect *d = fo_detect_new(quorum, 5000, HASH);
    assert_int_equal(fo_detect_agent(d, "a1", "z1"), 0);
    assert_int_equal(fo_detect_agent(d, "a2", "z2"), 1);
    assert_int_equal(fo_detect_agent(d, "a3", "z3"), 2);
    return d;
}

static struct fo_detect_obs obs(enum fo_status st, int streak)
{
    struct fo_detect_obs o;
    memset(&o, 0, sizeof(o));
    o.status = st;
    o.streak = streak;
    o.epoch = 1;
    strcpy(o.config_hash, HASH);
    return o;
}

static void report(struct fo_detect *d, const char *agent, const char *member,
                   struct fo_detect_obs o, int64_t now)
{
    assert_int_equal(fo_detect_report(d, agent, "db", member, &o, now), 0);
}

static enum fo_verdict_kind judge(struct fo_detect *d, const char *kind, int64_t now)
{
    return fo_detect_judge(d, "db", kind, "pg1", "z1", 1, 3, now).kind;
}

static void test_quorum_of_zones(void **state)
{
    struct fo_detect *d = mk(2);
    assert_int_equal(judge(d, "http", 0), FO_VERDICT_UP);
    report(d, "a1", "pg1", obs(FO_STATUS_CRITICAL, 3), 0);
    assert_int_equal(judge(d, "http", 0), FO_VERDICT_UP);
    report(d, "a2", "pg1", obs(FO_STATUS_CRITICAL, 3), 0);
    struct fo_verdict v = fo_detect_judge(d, "db", "http", "pg1", "z1", 1, 3, 0);
    assert_int_equal(v.kind, FO_VERDICT_DOWN);
    assert_int_equal(v.critical, 2);
    fo_detect_free(d);
}

static void test_streak_below_fall_does_not_count(void **state)
{
    struct fo_detect *d = mk(2);
    report(d, "a1", "pg1", obs(FO_STATUS_CRITICAL, 2), 0);
    report(d, "a2", "pg1", obs(FO_STATUS_CRITICAL, 3), 0);
    assert_int_equal(judge(d, "http", 0), FO_VERDICT_UP);
    fo_detect_free(d);
}

static void test_stale_tilt_epoch_hash_never_count(void **state)
{
    struct fo_detect *d = mk(2);
    report(d, "a1", "pg1", obs(FO_STATUS_CRITICAL, 3), 0);
    struct fo_detect_obs o = obs(FO_STATUS_CRITICAL, 3);
    o.tilt = 1;
    report(d, "a2", "pg1", o, 0);
    assert_int_equal(judge(d, "http", 0), FO_VERDICT_UP);
    o = obs(FO_STATUS_CRITICAL, 3);
    o.epoch = 0;
    report(d, "a2", "pg1", o, 0);
    assert_int_equal(judge(d, "http", 0), FO_VERDICT_UP);
    o = obs(FO_STATUS_CRITICAL, 3);
    strcpy(o.config_hash, "other");
    report(d, "a2", "pg1", o, 0);
    assert_int_equal(judge(d, "http", 0), FO_VERDICT_UP);
    /* fresh now, stale later: age at send counts as well as time since receipt */
    o = obs(FO_STATUS_CRITICAL, 3);
    report(d, "a2", "pg1", o, 0);
    assert_int_equal(judge(d, "http", 4000), FO_VERDICT_DOWN);
    assert_int_equal(judge(d, "http", 5001), FO_VERDICT_UP);
    o.age_ms = 4500;
    report(d, "a1", "pg1", o, 10000);
    report(d, "a2", "pg1", o, 10000);
    assert_int_equal(judge(d, "http", 10400), FO_VERDICT_DOWN);
    assert_int_equal(judge(d, "http", 10600), FO_VERDICT_UP);
    fo_detect_free(d);
}

static void test_same_zone_counts_once(void **state)
{
    struct fo_detect *d = mk(2);
    assert_int_equal(fo_detect_agent(d, "a4", "z2"), 3);
    report(d, "a2", "pg1", obs(FO_STATUS_CRITICAL, 3), 0);
    report(d, "a4", "pg1", obs(FO_STATUS_CRITICAL, 3), 0);
    assert_int_equal(judge(d, "http", 0), FO_VERDICT_UP);
    fo_detect_free(d);
}

static void test_own_zone_veto_and_isolation(void **state)
{
    struct fo_detect *d = mk(2);
    report(d, "a2", "pg1", obs(FO_STATUS_CRITICAL, 3), 0);
    report(d, "a3", "pg1", obs(FO_STATUS_CRITICAL, 3), 0);
    assert_int_equal(judge(d, "http", 0), FO_VERDICT_ZONE_ISOLATED);
    report(d, "a1", "pg1", obs(FO_STATUS_OK, 10), 0);
    assert_int_equal(judge(d, "http", 0), FO_VERDICT_VETOED);
    /* a stale ok from the own zone neither vetoes nor confirms */
    assert_int_equal(judge(d, "http", 6000), FO_VERDICT_UP);
    report(d, "a2", "pg1", obs(FO_STATUS_CRITICAL, 3), 6000);
    report(d, "a3", "pg1", obs(FO_STATUS_CRITICAL, 3), 6000);
    assert_int_equal(judge(d, "http", 6000), FO_VERDICT_ZONE_ISOLATED);
    fo_detect_free(d);
}

static void test_unknown_agent_ignored(void **state)
{
    struct fo_detect *d = mk(2);
    struct fo_detect_obs o = obs(FO_STATUS_CRITICAL, 3);
    assert_int_equal(fo_detect_report(d, "intruder", "db", "pg1", &o, 0), -FO_ENOENT);
    fo_detect_free(d);
}

static struct fo_detect_obs replica(int link_up)
{
    struct fo_detect_obs o = obs(FO_STATUS_OK, 5);
    strcpy(o.role, "standby");
    o.link_known = 1;
    o.link_up = link_up;
    return o;
}

static void test_replicas_still_streaming(void **state)
{
    struct fo_detect *d = mk(2);
    for (int i = 0; i < 3; i++)
        report(d, i == 0 ? "a1" : i == 1 ? "a2" : "a3", "pg1", obs(FO_STATUS_CRITICAL, 3), 0);
    report(d, "a2", "pg2", replica(1), 0);
    report(d, "a3", "pg3", replica(1), 0);
    assert_int_equal(judge(d, "postgres", 0), FO_VERDICT_OBSERVERS_PARTITIONED);
    /* other kinds have no replica rule */
    assert_int_equal(judge(d, "http", 0), FO_VERDICT_DOWN);
    report(d, "a2", "pg2", replica(0), 0);
    report(d, "a3", "pg3", replica(0), 0);
    assert_int_equal(judge(d, "postgres", 0), FO_VERDICT_DOWN);
    /* one of two lost is not most */
    report(d, "a3", "pg3", replica(1), 0);
    assert_int_equal(judge(d, "redis", 0), FO_VERDICT_OBSERVERS_PARTITIONED);
    fo_detect_free(d);
}

static void test_matrix_json_and_many_members(void **state)
{
    struct fo_detect *d = mk(2);
    char name[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(name, sizeof(name), "m%d", i);
        report(d, "a1", name, obs(FO_STATUS_OK, 1), 0);
    }
    report(d, "a2", "m4999", obs(FO_STATUS_CRITICAL, 4), 0);
    struct json_object *j = fo_detect_member_json(d, "db", "m4999", 100);
    struct json_object *a2, *st, *age;
    assert_true(json_object_object_get_ex(j, "a2", &a2));
    assert_true(json_object_object_get_ex(a2, "status", &st));
    assert_string_equal(json_object_get_string(st), "critical");
    assert_true(json_object_object_get_ex(a2, "age_ms", &age));
    assert_int_equal(json_object_get_int(age), 100);
    assert_true(json_object_object_get_ex(j, "a3", &a2));
    assert_true(json_object_object_get_ex(a2, "status", &st));
    assert_string_equal(json_object_get_string(st), "missing");
    json_object_put(j);
    fo_detect_clear(d);
    assert_int_equal(fo_detect_judge(d, "db", "http", "m1", "z9", 1, 1, 0).fresh, 0);
    fo_detect_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quorum_of_zones),
        cmocka_unit_test(test_streak_below_fall_does_not_count),
        cmocka_unit_test(test_stale_tilt_epoch_hash_never_count),
        cmocka_unit_test(test_same_zone_counts_once),
        cmocka_unit_test(test_own_zone_veto_and_isolation),
        cmocka_unit_test(test_unknown_agent_ignored),
        cmocka_unit_test(test_replicas_still_streaming),
        cmocka_unit_test(test_matrix_json_and_many_members),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
