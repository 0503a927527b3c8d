/* Observation reports: what an agent derives from a member's state (TILT never reports
 * critical, replica link facts for rule 3) and how the leader stores a batch, malformed or not. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "daemon/obs.h"

static struct fo_service_def svc = {.name = "db", .kind = "postgres"};
static struct fo_member_def mem = {.name = "pg2", .zone = "z2"};

static struct fo_sched_member member(enum fo_status st, int bad)
{
    struct fo_sched_member m;
    memset(&m, 0, sizeof(m));
    m.service = &svc;
    m.member = &mem;
    m.state.hyst.status = st;
    m.state.hyst.bad = bad;
    m.state.last_wall_ms = 1;
    m.state.last_mono_ms = 900;
    return m;
}

static void test_from_member(void **state)
{
    struct fo_sched_member m = member(FO_STATUS_CRITICAL, 4);
    struct fo_detect_obs o;
    fo_obs_from_member(&m, NULL, "h", 0, 1000, &o);
    assert_int_equal(o.status, FO_STATUS_CRITICAL);
    assert_int_equal(o.streak, 4);
    assert_int_equal(o.age_ms, 100);
    assert_string_equal(o.config_hash, "h");
    /* our own stall is never evidence against a member */
    fo_obs_from_member(&m, NULL, "h", 1, 1000, &o);
    assert_int_equal(o.status, FO_STATUS_UNKNOWN);
    assert_true(o.tilt);
}

static void test_replica_link_facts(void **state)
{
    struct fo_sched_member m = member(FO_STATUS_OK, 0);
    struct fo_detect_obs o;
    fo_result_str(&m.state.last, "role", "standby");
    fo_result_str(&m.state.last, "wal_receiver_status", "streaming");
    fo_result_double(&m.state.last, "wal_receiver_last_msg_age_s", 0.5);
    fo_obs_from_member(&m, NULL, "h", 0, 1000, &o);
    assert_string_equal(o.role, "standby");
    assert_true(o.link_known);
    assert_true(o.link_up);
    m.state.last.facts[2].d = 40.0; /* silent beyond keepalives */
    fo_obs_from_member(&m, NULL, "h", 0, 1000, &o);
    assert_false(o.link_up);
    struct fo_sched_member r = member(FO_STATUS_WARNING, 0);
    fo_result_str(&r.state.last, "role", "replica");
    fo_result_str(&r.state.last, "master_link_status", "down");
    fo_obs_from_member(&r, NULL, "h", 0, 1000, &o);
    assert_true(o.link_known);
    assert_false(o.link_up);
}

static void test_apply_batches(void **state)
{
    struct fo_detect *d = fo_detect_new(1, 5000, "h");
    fo_detect_agent(d, "a1", "z1");
    const char *ok = "{\"hash\":\"h\",\"tilt\":false,\"obs\":[{\"s\":\"db\",\"m\":\"pg1\",\"st\":2,"
                     "\"k\":3,\"age\":10,\"ep\":0},{\"s\":\"db\",\"m\":\"pg2\",\"st\":9,\"k\":1,"
                     "\"age\":1,\"ep\":0},{\"s\":1}]}";
    assert_int_equal(fo_obs_apply(d, "a1", ok, strlen(ok), 0), 1);
    struct fo_verdict v = fo_detect_judge(d, "db", "http", "pg1", "z1", 0, 3, 0);
    assert_int_equal(v.kind, FO_VERDICT_DOWN);
    const char *bad[] = {"",
                         "{",
                         "[]",
                         "{\"hash\":1,\"tilt\":false,\"obs\":[]}",
                         "{\"hash\":\"h\",\"tilt\":false}",
                         "null"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(fo_obs_apply(d, "a1", bad[i], strlen(bad[i]), 0), -FO_EPROTO);
    /* an agent that is not a voter is not stored */
    assert_int_equal(fo_obs_apply(d, "stranger", ok, strlen(ok), 0), 0);
    /* an age that would overflow when the leader adds its own delta is stale, not fresh */
    const char *old =
        "{\"hash\":\"h\",\"tilt\":false,\"obs\":[{\"s\":\"db\",\"m\":\"pg1\",\"st\":2,"
        "\"k\":3,\"age\":9223372036854775000,\"ep\":0}]}";
    assert_int_equal(fo_obs_apply(d, "a1", old, strlen(old), 1000), 1);
    v = fo_detect_judge(d, "db", "http", "pg1", "z1", 0, 3, 1000);
    assert_int_not_equal(v.kind, FO_VERDICT_DOWN);
    /* past the row limit a report naming a new member is refused; known rows still update */
    fo_detect_limit(d, 1);
    const char *other =
        "{\"hash\":\"h\",\"tilt\":false,\"obs\":[{\"s\":\"db\",\"m\":\"pg9\",\"st\":2,"
        "\"k\":3,\"age\":1,\"ep\":0},{\"s\":\"db\",\"m\":\"pg1\",\"st\":2,"
        "\"k\":3,\"age\":1,\"ep\":0}]}";
    assert_int_equal(fo_obs_apply(d, "a1", other, strlen(other), 1000), 1);
    v = fo_detect_judge(d, "db", "http", "pg1", "z1", 0, 3, 1000);
    assert_int_equal(v.kind, FO_VERDICT_DOWN);
    assert_int_equal(fo_detect_judge(d, "db", "http", "pg9", "z1", 0, 3, 1000).fresh, 0);
    fo_detect_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_from_member),
        cmocka_unit_test(test_replica_link_facts),
        cmocka_unit_test(test_apply_batches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
