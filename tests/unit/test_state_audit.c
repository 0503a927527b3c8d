/* The replicated state machine (deterministic validation, rule 1, snapshots) and the audit hash
 * chain (append, replay after restart, verify finds the first changed or missing record). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit/audit.h"
#include "raft/entry.h"
#include "state/state.h"

static uint64_t next_index;

static int apply(struct fo_state *st, const char *json, struct fo_state_result *res)
{
    int rc = fo_state_apply(st, ++next_index, 1, FO_RAFT_ENTRY_COMMAND, json, strlen(json), res);
    assert_int_equal(rc, 0);
    json_object_put(res->details);
    res->details = NULL;
    return res->accepted;
}

#define CMD(type, rest) "{\"type\":\"" type "\",\"ts\":1000,\"actor\":\"test\"" rest "}"

static void test_epoch_and_single_failover(void **state)
{
    struct fo_state *st = fo_state_new();
    struct fo_state_result r;
    next_index = 0;
    assert_true(apply(
        st, CMD("service.primary", ",\"service\":\"db\",\"member\":\"pg1\",\"epoch\":0"), &r));
    assert_int_equal(fo_state_epoch(st, "db"), 1);
    assert_string_equal(fo_state_primary(st, "db"), "pg1");
    /* decided on a stale epoch */
    assert_false(
        apply(st,
              CMD("failover.begin", ",\"id\":\"f1\",\"service\":\"db\",\"trigger\":\"auto\","
                                    "\"candidate\":\"pg2\",\"runbook\":\"pg\",\"epoch\":0"),
              &r));
    assert_non_null(strstr(r.reason, "stale"));
    assert_true(
        apply(st,
              CMD("failover.begin", ",\"id\":\"f1\",\"service\":\"db\",\"trigger\":\"auto\","
                                    "\"candidate\":\"pg2\",\"runbook\":\"pg\",\"epoch\":1"),
              &r));
    /* a second one while the first is in flight */
    assert_false(
        apply(st,
              CMD("failover.begin", ",\"id\":\"f2\",\"service\":\"db\",\"trigger\":\"manual\","
                                    "\"candidate\":\"pg3\",\"runbook\":\"pg\",\"epoch\":1"),
              &r));
    /* step done before started */
    assert_false(apply(
        st, CMD("failover.step", ",\"id\":\"f1\",\"step\":\"promote\",\"status\":\"done\""), &r));
    assert_true(apply(
        st, CMD("failover.step", ",\"id\":\"f1\",\"step\":\"promote\",\"status\":\"started\""),
        &r));
    assert_true(apply(
        st, CMD("failover.step", ",\"id\":\"f1\",\"step\":\"promote\",\"status\":\"done\""), &r));
    /* primary change to another member than the candidate is refused */
    assert_false(apply(
        st, CMD("service.primary", ",\"service\":\"db\",\"member\":\"pg3\",\"epoch\":1"), &r));
    assert_true(apply(
        st, CMD("service.primary", ",\"service\":\"db\",\"member\":\"pg2\",\"epoch\":1"), &r));
    assert_true(apply(st, CMD("failover.end", ",\"id\":\"f1\",\"outcome\":\"success\""), &r));
    assert_int_equal(fo_state_epoch(st, "db"), 2);
    assert_false(apply(st, CMD("failover.end", ",\"id\":\"f1\",\"outcome\":\"success\""), &r));
    fo_state_free(st);
}

static void test_pause_timeout_and_bad_input(void **state)
{
    struct fo_state *st = fo_state_new();
    struct fo_state_result r;
    next_index = 0;
    assert_true(
        apply(st, CMD("pause", ",\"service\":\"db\",\"on\":true,\"reason\":\"maint\""), &r));
    assert_false(
        apply(st,
              CMD("failover.begin", ",\"id\":\"f1\",\"service\":\"db\",\"trigger\":\"auto\","
                                    "\"candidate\":\"pg2\",\"runbook\":\"pg\",\"epoch\":0"),
              &r));
    assert_true(apply(st, CMD("pause", ",\"service\":\"db\",\"on\":false"), &r));
    assert_true(
        apply(st,
              CMD("failover.begin", ",\"id\":\"f1\",\"service\":\"db\",\"trigger\":\"auto\","
                                    "\"candidate\":\"pg2\",\"runbook\":\"pg\",\"epoch\":0"),
              &r));
    assert_true(apply(st, CMD("failover.end", ",\"id\":\"f1\",\"outcome\":\"timeout\""), &r));
    /* needs a human now */
    assert_false(
        apply(st,
              CMD("failover.begin", ",\"id\":\"f2\",\"service\":\"db\",\"trigger\":\"auto\","
                                    "\"candidate\":\"pg2\",\"runbook\":\"pg\",\"epoch\":0"),
              &r));
    assert_true(apply(st, CMD("service.clear", ",\"service\":\"db\""), &r));
    assert_false(apply(st, "not json", &r));
    assert_string_equal(r.action, "invalid");
    assert_false(apply(st, "{\"type\":\"nope\",\"ts\":1,\"actor\":\"x\"}", &r));
    assert_false(apply(st, "{\"type\":\"note\",\"ts\":\"1\",\"actor\":\"x\",\"text\":\"t\"}", &r));
    assert_false(apply(st, "{\"type\":\"note\",\"ts\":1,\"actor\":\"x\"}", &r));
    assert_false(apply(st, "[1,2]", &r));
    assert_false(
        apply(st, "{\"type\":\"note\",\"ts\":1,\"actor\":\"x\",\"text\":\"t\"} trailing", &r));
    assert_true(apply(st, CMD("webhook.seen", ",\"id\":\"w1\""), &r));
    assert_false(apply(st, CMD("webhook.seen", ",\"id\":\"w1\""), &r));
    /* out-of-order index is refused outright */
    assert_int_equal(fo_state_apply(st, next_index + 2, 1, FO_RAFT_ENTRY_NOOP, NULL, 0, &r),
                     -FO_EINVAL);
    fo_state_free(st);
}

static void test_snapshot_roundtrip_is_identical(void **state)
{
    struct fo_state *a = fo_state_new(), *b = fo_state_new();
    struct fo_state_result r;
    next_index = 0;
    apply(a, CMD("service.primary", ",\"service\":\"db\",\"member\":\"pg1\",\"epoch\":0"), &r);
    apply(a, CMD("drain", ",\"zone\":\"z1\",\"on\":true"), &r);
    apply(a, CMD("config.adopt", ",\"hash\":\"h1\""), &r);
    size_t n1, n2;
    char *s1 = fo_state_snapshot(a, &n1);
    assert_int_equal(fo_state_restore(b, s1, n1, NULL), 0);
    char *s2 = fo_state_snapshot(b, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(s1, s2, n1);
    assert_string_equal(fo_state_adopted_hash(b), "h1");
    assert_int_equal(fo_state_last_applied(b), 3);
    struct fo_err err = {0};
    assert_int_equal(fo_state_restore(b, "{\"x\":1}", 7, &err), -FO_ECORRUPT);
    free(s1);
    free(s2);
    fo_state_free(a);
    fo_state_free(b);
}

static char tmpdir[64];

static void mkaudit(int n)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/fo-audit-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    struct fo_err err = {0};
    struct fo_audit *a = fo_audit_open(tmpdir, &err);
    assert_non_null(a);
    for (int i = 1; i <= n; i++) {
        struct json_object *d = json_object_new_object();
        json_object_object_add(d, "n", json_object_new_int(i));
        json_object_object_add(d, "path", json_object_new_string("a/b"));
        assert_int_equal(fo_audit_append(a, (uint64_t)i, 1, 1000 + i, "test", "note", d), 0);
        json_object_put(d);
    }
    assert_int_equal(fo_audit_sync(a), 0);
    fo_audit_close(a);
}

static void rmaudit(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    assert_int_equal(system(cmd), 0);
}

static void test_audit_chain_and_replay(void **state)
{
    mkaudit(5);
    struct fo_err err = {0};
    struct fo_audit *a = fo_audit_open(tmpdir, &err);
    assert_non_null(a);
    assert_int_equal(fo_audit_head_index(a), 5);
    char head[FO_AUDIT_HASH_HEX];
    snprintf(head, sizeof(head), "%s", fo_audit_head_hash(a));
    /* replay of already written entries writes nothing */
    assert_int_equal(fo_audit_append(a, 3, 1, 0, "x", "y", NULL), 0);
    assert_int_equal(fo_audit_append(a, 7, 1, 0, "x", "y", NULL), -FO_EINVAL);
    fo_audit_close(a);
    char path[128];
    snprintf(path, sizeof(path), "%s/audit.log", tmpdir);
    uint64_t count, bad;
    char h2[FO_AUDIT_HASH_HEX];
    assert_int_equal(fo_audit_verify_file(path, &count, h2, &bad, &err), 0);
    assert_int_equal(count, 5);
    assert_string_equal(h2, head);
    /* the exact bytes of the first record are what DESIGN.md says */
    FILE *f = fopen(path, "r");
    char line[1024];
    assert_non_null(fgets(line, sizeof(line), f));
    fclose(f);
    assert_memory_equal(
        line,
        "{\"index\":1,\"term\":1,\"ts\":1001,\"actor\":\"test\",\"action\":\"note\",\"details\":{"
        "\"n\":1,\"path\":\"a/b\"},\"prev\":\"" FO_AUDIT_GENESIS "\",\"hash\":\"",
        146);
    rmaudit();
}

static void test_audit_verify_finds_change_and_gap(void **state)
{
    char path[128], cmd[256];
    uint64_t count, bad;
    char head[FO_AUDIT_HASH_HEX];
    struct fo_err err = {0};
    mkaudit(5);
    snprintf(path, sizeof(path), "%s/audit.log", tmpdir);
    snprintf(cmd, sizeof(cmd), "sed -i '3s/\"n\":3/\"n\":4/' %s", path);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(fo_audit_verify_file(path, &count, head, &bad, &err), -FO_ECORRUPT);
    assert_int_equal(bad, 3);
    assert_non_null(strstr(err.msg, "line 3"));
    /* the agent refuses to open a changed chain */
    assert_null(fo_audit_open(tmpdir, &err));
    rmaudit();
    mkaudit(5);
    snprintf(path, sizeof(path), "%s/audit.log", tmpdir);
    snprintf(cmd, sizeof(cmd), "sed -i '2d' %s", path);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(fo_audit_verify_file(path, &count, head, &bad, &err), -FO_ECORRUPT);
    assert_int_equal(bad, 2);
    rmaudit();
    /* a torn last line is cut on open, and appending goes on */
    mkaudit(3);
    snprintf(path, sizeof(path), "%s/audit.log", tmpdir);
    snprintf(cmd, sizeof(cmd), "printf '{\"index\":4,\"ter' >> %s", path);
    assert_int_equal(system(cmd), 0);
    struct fo_audit *a = fo_audit_open(tmpdir, &err);
    assert_non_null(a);
    assert_int_equal(fo_audit_head_index(a), 3);
    assert_int_equal(fo_audit_append(a, 4, 2, 0, "x", "note", NULL), 0);
    fo_audit_close(a);
    assert_int_equal(fo_audit_verify_file(path, &count, head, &bad, &err), 0);
    assert_int_equal(count, 4);
    rmaudit();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_epoch_and_single_failover),
        cmocka_unit_test(test_pause_timeout_and_bad_input),
        cmocka_unit_test(test_snapshot_roundtrip_is_identical),
        cmocka_unit_test(test_audit_chain_and_replay),
        cmocka_unit_test(test_audit_verify_finds_change_and_gap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
