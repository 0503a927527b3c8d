/* Unit tests of the agent schema: the example file, defaults, types, unknown and missing keys,
 * duplicates, cross-field rules (check timing, Raft timing, quorum), JSON input, the services
 * hash and the reference docs. Helpers are in test_config.c. */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "test_config.h"

/* ---- the example file ---- */

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *buf = calloc(1, 1 << 20);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

/* text with the first `from` replaced by `to` (malloc'd); fails the test if `from` is absent. */
static char *replace_once(const char *text, const char *from, const char *to)
{
    const char *p = strstr(text, from);
    assert_non_null(p);
    size_t a = (size_t)(p - text), nf = strlen(from), nt = strlen(to), rest = strlen(p + nf);
    char *out = malloc(a + nt + rest + 1);
    memcpy(out, text, a);
    memcpy(out + a, to, nt);
    memcpy(out + a + nt, p + nf, rest + 1);
    return out;
}

void test_example(void **state)
{
    /* The example as shipped: its secrets are the example files beside it (etc/example/). */
    char *text = read_all(FO_TEST_SRCDIR "/etc/failoverd.yaml");
    char *errs = NULL;
    struct fo_agentcfg *c = fo_agentcfg_load(FO_TEST_SRCDIR "/etc/failoverd.yaml", &errs);
    if (!c)
        fail_msg("example does not load:\n%s", errs);
    assert_string_equal(c->id, "az1");
    assert_string_equal(c->zone, "eu-west-1a");
    assert_string_equal(c->data_dir, "/var/lib/failoverd/az1");
    assert_int_equal(c->log_level, FO_LOG_INFO);
    assert_int_equal(c->log_format, FO_LOG_LOGFMT);
    assert_null(c->log_file);
    assert_string_equal(c->plugin_dir, "/usr/local/lib/failoverd");
    assert_string_equal(c->api_listen, "127.0.0.1:8740");
    assert_int_equal(c->ntokens, 1);
    assert_string_equal(c->tokens[0].name, "oncall");
    assert_int_equal(c->tokens[0].role, FO_ROLE_OPERATOR);
    assert_string_equal(c->tokens[0].secret, "example-oncall-token-replace-me");

    assert_true(c->cluster.enabled);
    assert_string_equal(c->cluster.id, "prod-eu");
    assert_int_equal(c->cluster.key_len, 64);
    assert_string_equal(c->cluster.listen, "127.0.0.1:8741");
    assert_int_equal(c->cluster.npeers, 2);
    assert_string_equal(c->cluster.peers[1].id, "az3");
    assert_string_equal(c->cluster.peers[1].zone, "eu-west-1c");
    assert_string_equal(c->cluster.peers[1].address, "127.0.0.1:8761");
    assert_int_equal(c->cluster.election_timeout_min_ms, 1000);
    assert_int_equal(c->cluster.election_timeout_max_ms, 2000);
    assert_int_equal(c->cluster.heartbeat_ms, 100);
    assert_int_equal(c->cluster.lease_ms, 850);
    assert_int_equal(c->cluster.detect_quorum, 0);
    assert_int_equal(c->cluster.stale_after_ms, 90000); /* 3 x 30s (disk-free) */
    assert_int_equal(c->cluster.snapshot_every, 1000);

    assert_int_equal(c->nservices, 6);
    const char *names[] = {"orders-db", "sessions",   "edge-lb",
                           "eth-rpc",   "smtp-relay", "disk-free"};
    for (int i = 0; i < 6; i++)
        assert_string_equal(c->services[i].name, names[i]);
    const struct fo_service_def *db = &c->services[0];
    assert_string_equal(db->kind, "postgres");
    assert_int_equal(db->nmembers, 2);
    assert_string_equal(db->members[1].name, "pg2");
    assert_string_equal(db->members[1].address, "127.0.0.1:5433");
    assert_int_equal(db->members[0].priority, 100);
    assert_int_equal(db->members[1].priority, 90);
    assert_int_equal(db->members[0].ntags, 0);
    assert_int_equal(db->members[1].ntags, 1);
    assert_string_equal(db->members[1].tags[0], "replica");
    assert_string_equal(db->check.type, "postgres");
    assert_int_equal(db->check.interval_ms, 1000);
    assert_int_equal(db->check.timeout_ms, 800);
    assert_int_equal(db->check.jitter_ms, 100);
    assert_int_equal(db->check.rise, 2);
    assert_int_equal(db->check.fall, 3);
    assert_string_equal(db->check.secret, "example-pg-password");
    struct json_object *v = NULL;
    assert_false(json_object_object_get_ex(db->check.params, "password_env", NULL));
    assert_true(json_object_object_get_ex(db->check.params, "max_lag", &v));
    assert_string_equal(json_object_get_string(v), "16MiB");
    assert_true(json_object_object_get_ex(db->failover, "runbook", &v));
    assert_string_equal(json_object_get_string(v), "postgres-failover");
    assert_true(db->policy.present);
    assert_string_equal(db->policy.runbook, "postgres-failover");
    assert_int_equal(db->policy.max_lag, 16u << 20);
    assert_int_equal(db->policy.cooldown_ms, 600000);
    assert_int_equal(db->policy.deadline_ms, 300000); /* DESIGN.md rule 4's default */
    assert_true(db->policy.automatic);
    assert_false(db->policy.allow_unfenced);

    /* where: the params mapping, which starts at its first key. */
    char want[600], got[600];
    unsigned line, col;
    pos_of(text, "user: failoverd", &line, &col);
    snprintf(want, sizeof(want), "%s:%u:%u", FO_TEST_SRCDIR "/etc/failoverd.yaml", line, col);
    assert_string_equal(db->check.where, want);
    pos_of(text, "max_lag: 16MiB           #", &line, &col);
    snprintf(want, sizeof(want), "%s:%u:%u", FO_TEST_SRCDIR "/etc/failoverd.yaml", line, col);
    assert_int_equal(fo_config_locate_key(db->check.params, "max_lag", got, sizeof(got)), 0);
    assert_string_equal(got, want);

    const struct fo_service_def *redis = &c->services[1];
    assert_int_equal(redis->check.timeout_ms, 500);
    assert_int_equal(redis->members[1].priority, 100);
    assert_null(redis->check.params);
    assert_null(redis->check.secret);
    assert_non_null(redis->check.where);
    const struct fo_service_def *ex = &c->services[5];
    assert_int_equal(ex->check.interval_ms, 30000);
    assert_int_equal(ex->check.jitter_ms, 3000);
    assert_true(json_object_object_get_ex(ex->check.params, "argv", &v));
    assert_string_equal(json_object_get_string(json_object_array_get_idx(v, 1)), "0");

    /* The hash is hex SHA-256, stable, and blind to secrets. */
    assert_int_equal(strlen(c->hash), 64);
    assert_int_equal(strspn(c->hash, "0123456789abcdef"), 64);
    /* the same file with the database password from the environment instead */
    setenv("PGPASSWORD", "another-secret", 1);
    char *copy =
        replace_once(text, "password_file: example/pg.password", "password_env: PGPASSWORD");
    char *copy2 = replace_once(copy, "key_file: example/cluster.key",
                               "key_file: " FO_TEST_SRCDIR "/etc/example/cluster.key");
    char *copy3 = replace_once(copy2, "secret_file: example/oncall.token",
                               "secret_file: " FO_TEST_SRCDIR "/etc/example/oncall.token");
    write_file("example.yaml", copy3);
    free(copy);
    free(copy2);
    free(copy3);
    struct fo_agentcfg *c2 = fo_agentcfg_load(in_dir("example.yaml"), &errs);
    if (!c2)
        fail_msg("changed example does not load:\n%s", errs);
    assert_string_equal(c2->services[0].check.secret, "another-secret");
    assert_string_equal(c->hash, c2->hash);
    char *json = fo_agentcfg_services_json(c2->services, c2->nservices);
    assert_null(strstr(json, "another-secret"));
    assert_null(strstr(json, "PGPASSWORD"));
    assert_non_null(strstr(json, "\"interval_ms\":1000"));
    free(json);

    int n = 0;
    struct fo_service_def *defs = fo_agentcfg_take_services(c2, &n);
    assert_int_equal(n, 6);
    assert_null(c2->services);
    for (int i = 0; i < n; i++)
        fo_service_def_free(&defs[i]);
    free(defs);
    fo_agentcfg_free(c2);
    fo_agentcfg_free(c);
    free(text);
}

/* ---- defaults ---- */

void test_defaults(void **state)
{
    struct fo_agentcfg *c = must_load(AGENT);
    assert_string_equal(c->data_dir, "/var/lib/failoverd/az1");
    assert_string_equal(c->api_listen, "127.0.0.1:8740");
    assert_false(c->cluster.enabled);
    assert_int_equal(c->nservices, 0);
    assert_int_equal(c->ntokens, 0);
    fo_agentcfg_free(c);

    c = must_load(AGENT SVC_HEAD
                  "    check: {type: postgres}\n"
                  "  slow:\n"
                  "    kind: tcp\n"
                  "    members: [{name: m, zone: z, address: \"h:1\"}]\n"
                  "    check: {type: tcp, interval: 5s}\n"
                  "  fast:\n"
                  "    kind: tcp\n"
                  "    members: [{name: m, zone: z, address: \"h:1\"}]\n"
                  "    check: {type: tcp, interval: 100ms, jitter: 0ms}\n" CLUSTER_HEAD
                  "  election_timeout_min: 2s\n");
    const struct fo_check_def *k = &c->services[0].check;
    assert_int_equal(k->interval_ms, 1000);
    assert_int_equal(k->timeout_ms, 800);
    assert_int_equal(k->jitter_ms, 100);
    assert_int_equal(k->rise, 2);
    assert_int_equal(k->fall, 3);
    assert_int_equal(c->services[1].check.timeout_ms, 1000);
    assert_int_equal(c->services[1].check.jitter_ms, 500);
    assert_int_equal(c->services[2].check.timeout_ms, 80);
    assert_int_equal(c->services[2].check.jitter_ms, 0);
    assert_int_equal(c->cluster.election_timeout_max_ms, 4000);
    assert_int_equal(c->cluster.lease_ms, 1750);
    assert_int_equal(c->cluster.stale_after_ms, 15000);
    assert_int_equal(c->cluster.heartbeat_ms, 100);
    fo_agentcfg_free(c);

    c = must_load(AGENT CLUSTER_HEAD);
    assert_int_equal(c->cluster.stale_after_ms, 5000);
    assert_int_equal(c->cluster.lease_ms, 850);
    fo_agentcfg_free(c);
}

/* ---- types, keys, required ---- */

void test_wrong_types(void **state)
{
    expect_err_at("agent: {id: az1, zone: 7}\n", "7}",
                  "agent.zone: expected a string, not an "
                  "integer (put it in quotes)");
    expect_err_at(AGENT "log: {level: loud}\n", "loud",
                  "log.level: unknown value 'loud': expected one of: debug, info, warn, error");
    expect_err_at(AGENT "log: [info]\n", "[info]", "log: expected a mapping, not a sequence");
    expect_err_at(AGENT "api: {listen: localhost}\n", "localhost",
                  "api.listen: expected host:port like 127.0.0.1:8740");
    expect_err_at(AGENT "api: {tokens: {name: x}}\n", "{name",
                  "api.tokens: expected a sequence, not a mapping");
    expect_err_at(AGENT "api: {tokens: [x]}\n", "x]",
                  "api.tokens[0]: expected a mapping, not a "
                  "string");
    expect_err_at(AGENT SVC_HEAD "    check: {type: postgres, rise: 0}\n", "0}",
                  "services.db.check.rise: must be between 1 and 100");
    expect_err_at(AGENT SVC_HEAD "    check: {type: postgres, fall: 2.5}\n", "2.5",
                  "services.db.check.fall: expected an integer, not a number");
    expect_err_at(AGENT SVC_HEAD "    check: {type: postgres, params: [a]}\n", "[a]",
                  "services.db.check.params: expected a mapping, not a sequence");
    expect_err_at(AGENT SVC_HEAD "    check: {type: pgsql}\n", "pgsql",
                  "services.db.check.type: expected one of: postgres, redis, http, tcp, "
                  "jsonrpc, exec");
    expect_err_at(AGENT SVC_HEAD "    check: {type: postgres}\n    failover: yes\n", "yes",
                  "services.db.failover: expected a mapping, not a string");
    expect_err_at(AGENT "services:\n  db:\n    kind: nosql\n", "nosql",
                  "services.db.kind: expected one of: postgres, redis, http, tcp, rpc, exec");
    expect_err_at(AGENT "services:\n  db:\n    kind: tcp\n    members: []\n", "[]",
                  "services.db.members: needs at least 1 entry");
    expect_err_at(AGENT "services:\n  'bad name':\n    kind: tcp\n", "'bad name'",
                  "services.bad name: must be 1 to 64 characters");
    expect_err_at(AGENT
                  "services:\n  db:\n    kind: tcp\n    members:\n"
                  "      - {name: m, zone: z, address: \"h:1\", priority: -1, tags: [a, 2]}\n",
                  "-1", "services.db.members[0].priority: must be between 0 and 1000000");
    expect_err_at(AGENT
                  "services:\n  db:\n    kind: tcp\n    members:\n"
                  "      - {name: m, zone: z, address: \"h:1\", priority: -1, tags: [a, 2]}\n",
                  "2]", "services.db.members[0].tags[1]: expected a string");
    expect_err_at("agent: {id: Az1, zone: z}\n", "Az1",
                  "agent.id: must be 1 to 32 characters of a-z, 0-9, _ and -");
    expect_err_at("agent: {id: a23456789012345678901234567890123, zone: z}\n", "a234",
                  "agent.id: must be 1 to 32 characters");
    expect_err_at(AGENT CLUSTER_HEAD "  snapshot_every: 0\n", "snapshot_every: |0",
                  "cluster.snapshot_every: must be between 1 and 100000000");
    expect_err_at(AGENT "agent2: {id: \"\"}\n", "agent2",
                  "agent2: unknown key 'agent2' (did you "
                  "mean 'agent'?)");
    expect_err_at("agent: {id: \"\", zone: z}\n", "\"\"", "agent.id: must not be empty");
}

void test_unknown_keys(void **state)
{
    expect_err_at(AGENT "servics: {}\n", "servics",
                  "servics: unknown key 'servics' (did you mean 'services'?)");
    expect_err_at("agent: {id: a, zone: z, zones: x}\n", "zones",
                  "agent.zones: unknown key 'zones' (did you mean 'zone'?)");
    expect_err_at(AGENT "log: {lvl: info}\n", "lvl", "log.lvl: unknown key 'lvl'");
    expect_err_at(AGENT "api: {tokens: [{name: a, role: read, secret: abc, scope: x}]}\n", "scope",
                  "api.tokens[0].scope: unknown key 'scope'");
    expect_err_at(AGENT "api: {tokens: [{name: a, role: read, secret_fil: x}]}\n", "secret_fil",
                  "api.tokens[0].secret_fil: unknown key 'secret_fil' (did you mean "
                  "'secret_file'?)");
    expect_err_at(AGENT CLUSTER_HEAD "  heartbeat: 100ms\n",
                  "heartbeat:", "cluster.heartbeat: unknown key 'heartbeat'");
    expect_err_at(AGENT CLUSTER_HEAD "    - {id: az4, zone: z4, address: \"h:1\", port: 1}\n",
                  "port", "cluster.peers[2].port: unknown key 'port'");
    expect_err_at(AGENT SVC_HEAD "    check: {type: postgres}\n    runbook: x\n", "runbook",
                  "services.db.runbook: unknown key 'runbook'");
    expect_err_at(AGENT "services:\n  db:\n    kind: tcp\n    members:\n"
                        "      - {name: m, zone: z, address: \"h:1\", weight: 1}\n"
                        "    check: {type: tcp}\n",
                  "weight", "services.db.members[0].weight: unknown key 'weight'");
    expect_err_at(AGENT SVC_HEAD "    check:\n      type: postgres\n      intervall: 2s\n",
                  "intervall",
                  "services.db.check.intervall: unknown key 'intervall' (did you "
                  "mean 'interval'?)");
}

/* The failover policy is read and checked now (DESIGN.md rules 4-6, 10), acted on later. */
void test_failover_policy(void **state)
{
    char *errs = NULL;
    struct fo_agentcfg *c = load(AGENT "services:\n  cache:\n    kind: redis\n    members:\n"
                                       "      - {name: r1, zone: z1, address: \"127.0.0.1:6379\"}\n"
                                       "    check: {type: redis}\n"
                                       "    failover: {runbook: redis-failover, auto: false}\n"
                                       "  web:\n    kind: tcp\n    members:\n"
                                       "      - {name: w1, zone: z1, address: \"127.0.0.1:80\"}\n"
                                       "    check: {type: tcp}\n",
                                 &errs);
    assert_non_null(c);
    const struct fo_service_def *cache = NULL, *web = NULL;
    for (int i = 0; i < c->nservices; i++) {
        if (strcmp(c->services[i].name, "cache") == 0)
            cache = &c->services[i];
        if (strcmp(c->services[i].name, "web") == 0)
            web = &c->services[i];
    }
    assert_non_null(cache);
    assert_non_null(web);
    assert_true(cache->policy.present);
    assert_false(cache->policy.automatic);
    assert_true(cache->policy.allow_unfenced); /* the redis default */
    assert_int_equal(cache->policy.max_failovers, 3);
    assert_int_equal(cache->policy.window_ms, 3600000);
    assert_false(web->policy.present); /* only watched */
    assert_null(web->failover);
    fo_agentcfg_free(c);

    expect_err_at(AGENT SVC_HEAD "    check: {type: postgres}\n    failover: {runbok: x}\n",
                  "runbok", "services.db.failover.runbok: unknown key 'runbok'");
    expect_err_at(AGENT SVC_HEAD "    check: {type: postgres}\n    failover: {cooldown: 5}\n",
                  "{cooldown", "services.db.failover.runbook: required key 'runbook' is missing");
    expect_err_at(AGENT SVC_HEAD
                  "    check: {type: postgres}\n    failover: {runbook: r, cooldown: 5}\n",
                  "5}", "services.db.failover.cooldown:");
    expect_err_at(AGENT SVC_HEAD
                  "    check: {type: postgres}\n    failover: {runbook: r, max_lag: 1.5k}\n",
                  "1.5k", "services.db.failover.max_lag:");
    expect_err_at(AGENT SVC_HEAD "    check: {type: postgres}\n"
                                 "    failover: {runbook: r, cooldown: 2h, window: 1h}\n",
                  "1h}", "services.db.failover.window: must not be shorter than cooldown");
}

void test_missing_required(void **state)
{
    expect_err("log: {level: info}\n", "/t.yaml:1:1: agent: required key 'agent' is missing");
    expect_err_at("agent:\n  zone: z\n", "zone", "agent.id: required key 'id' is missing");
    expect_err_at("agent:\n  id:\n  zone: z\n", "\n  zone", "agent.id: a value is required");
    expect_err_at(AGENT "services:\n  db:\n    kind: tcp\n", "kind",
                  "services.db.members: required key 'members' is missing");
    expect_err_at(AGENT "services:\n  db:\n    kind: tcp\n", "kind",
                  "services.db.check: required key 'check' is missing");
    expect_err_at(AGENT SVC_HEAD "    check: {interval: 1s}\n", "{interval",
                  "services.db.check.type: required key 'type' is missing");
    expect_err_at(AGENT
                  "services:\n  db:\n    kind: tcp\n    members:\n      - {name: m, zone: z}\n"
                  "    check: {type: tcp}\n",
                  "{name: m",
                  "services.db.members[0].address: required key 'address' (or "
                  "conninfo for postgres) is missing");
    expect_err_at(AGENT "cluster:\n  id: c\n  listen: \"h:1\"\n", "id: c",
                  "cluster.key: required key 'key' (or key_file, key_env) is missing");
    expect_err_at(AGENT "api: {tokens: [{name: a, secret: abc}]}\n", "{name: a",
                  "api.tokens[0].role: required key 'role' is missing");
}

/* ---- duplicates and cross-field rules ---- */

void test_duplicates(void **state)
{
    expect_err_at(AGENT "log: {level: info}\nlog: {level: warn}\n", "log: {level: warn",
                  "duplicate key 'log' (first at line 2)");
    expect_err_at(AGENT "log: {level: info, level: warn}\n", "level: warn",
                  "duplicate key 'level' (first at line 2)");
    expect_err_at(AGENT "services:\n  db:\n    kind: tcp\n    members:\n"
                        "      - {name: m1, zone: z, address: \"h:1\"}\n"
                        "      - {name: m1, zone: z, address: \"h:2\"}\n"
                        "    check: {type: tcp}\n",
                  "m1, zone: z, address: \"h:2",
                  "services.db.members[1].name: duplicate member name 'm1' (also members[0])");
    expect_err_at(AGENT CLUSTER_HEAD "    - {id: az2, zone: z4, address: \"h:1\"}\n",
                  "az2, zone: z4", "cluster.peers[2].id: duplicate peer id (also peers[0])");
    expect_err_at(AGENT CLUSTER_HEAD "    - {id: az1, zone: z4, address: \"h:1\"}\n",
                  "az1, zone: z4", "cluster.peers[2].id: is this agent's own id");
    expect_err_at(AGENT "api:\n  tokens:\n    - {name: a, role: read, secret: x1}\n"
                        "    - {name: a, role: read, secret: x2}\n",
                  "{name: a, role: read, secret: x2", "api.tokens[1]: same name as tokens[0]");
    expect_err_at(AGENT "api:\n  tokens:\n    - {name: a, role: read, secret: x1}\n"
                        "    - {name: b, role: admin, secret: x1}\n",
                  "{name: b", "api.tokens[1]: same secret as tokens[0]");
    expect_err_at("{\"agent\": {\"id\": \"a\", \"zone\": \"z\", \"id\": \"b\"}}", "\"id\": \"b",
                  "duplicate key 'id' (first at line 1)");
}

void test_check_timing(void **state)
{
    expect_err_at(AGENT SVC_HEAD "    check: {type: postgres, interval: 1s, timeout: 1s}\n", "1s}",
                  "services.db.check.timeout: must be less than interval (1s)");
    expect_err_at(AGENT SVC_HEAD "    check: {type: postgres, interval: 1s, timeout: 2s}\n", "2s}",
                  "services.db.check.timeout: must be less than interval (1s)");
    expect_err_at(AGENT SVC_HEAD "    check: {type: postgres, interval: 2s, jitter: 2s}\n", "2s}",
                  "services.db.check.jitter: must be less than interval (2s)");
    struct fo_agentcfg *c =
        must_load(AGENT SVC_HEAD "    check: {type: postgres, interval: 1s, timeout: 999ms}\n");
    assert_int_equal(c->services[0].check.timeout_ms, 999);
    fo_agentcfg_free(c);
    /* A bad interval is reported once, not again as a bad timeout. */
    char *errs = must_fail(AGENT SVC_HEAD "    check: {type: postgres, interval: x, timeout: "
                                          "1s}\n");
    assert_null(strstr(errs, "timeout"));
    free(errs);
}

void test_cluster_rules(void **state)
{
    expect_err_at(AGENT CLUSTER_HEAD "  quorum: 1\n", "quorum: |1",
                  "cluster.quorum: must be between 2 (a majority of the 3 agents) and 3");
    expect_err_at(AGENT CLUSTER_HEAD "  quorum: 4\n", "quorum: |4",
                  "cluster.quorum: must be between 2");
    for (int q = 0; q <= 3; q++) {
        if (q == 1)
            continue;
        char y[1024];
        snprintf(y, sizeof(y), AGENT CLUSTER_HEAD "  quorum: %d\n", q);
        struct fo_agentcfg *c = must_load(y);
        assert_int_equal(c->cluster.detect_quorum, q);
        fo_agentcfg_free(c);
    }
    expect_err_at(AGENT CLUSTER_HEAD "  heartbeat_interval: 200ms\n", "200ms",
                  "cluster.heartbeat_interval: must be less than election_timeout_min / 5 (200ms)");
    struct fo_agentcfg *c = must_load(AGENT CLUSTER_HEAD "  heartbeat_interval: 199ms\n");
    fo_agentcfg_free(c);
    expect_err_at(AGENT CLUSTER_HEAD "  lease: 851ms\n", "851ms",
                  "cluster.lease: must be at most election_timeout_min x 0.9 - 50ms (850ms)");
    c = must_load(AGENT CLUSTER_HEAD "  lease: 850ms\n  stale_after: 2s\n");
    assert_int_equal(c->cluster.lease_ms, 850);
    assert_int_equal(c->cluster.stale_after_ms, 2000);
    fo_agentcfg_free(c);
    expect_err_at(AGENT CLUSTER_HEAD "  election_timeout_max: 1000ms\n", "1000ms",
                  "cluster.election_timeout_max: must be greater than election_timeout_min (1s)");
    expect_err_at(AGENT CLUSTER_HEAD "  election_timeout_min: 50ms\n", "50ms",
                  "cluster.election_timeout_min: must be between 100ms and 1m");
    expect_err_at(AGENT "cluster: {id: c, key: 0123456789abcdef0123456789abcdef, listen: h}\n",
                  "h}", "cluster.listen: expected host:port");
}

void test_conninfo(void **state)
{
    struct fo_agentcfg *c = must_load(
        AGENT "services:\n  db:\n    kind: postgres\n    members:\n"
              "      - {name: m, zone: z, conninfo: \"host=127.0.0.1 port=5432 dbname=x\"}\n"
              "    check: {type: postgres}\n");
    assert_string_equal(c->services[0].members[0].address, "host=127.0.0.1 port=5432 dbname=x");
    fo_agentcfg_free(c);
    expect_err_at(AGENT "services:\n  db:\n    kind: postgres\n    members:\n"
                        "      - {name: m, zone: z, address: \"h:1\", conninfo: \"host=h\"}\n"
                        "    check: {type: postgres}\n",
                  "conninfo", "services.db.members[0].conninfo: give address or conninfo");
    expect_err_at(AGENT "services:\n  db:\n    kind: redis\n    members:\n"
                        "      - {name: m, zone: z, conninfo: \"host=h\"}\n"
                        "    check: {type: redis}\n",
                  "conninfo",
                  "services.db.members[0].conninfo: conninfo is only for kind "
                  "postgres");
}

/* Every error of a file comes out of one load, in file order. */
void test_collects_all(void **state)
{
    const char *y = "log: {level: loud}\n"
                    "agent: {id: az1, zone: z1, color: red}\n"
                    "services:\n"
                    "  db:\n"
                    "    kind: tcp\n"
                    "    members: [{name: m, zone: z, address: \"h:1\", priority: x}]\n"
                    "    check: {type: tcp, interval: 5}\n"
                    "api: {listen: nowhere}\n";
    char *errs = must_fail(y);
    const char *want[] = {"t.yaml:1:14: log.level: unknown value 'loud'",
                          "t.yaml:2:28: agent.color: unknown key 'color'",
                          "t.yaml:6:60: services.db.members[0].priority: expected an integer",
                          "t.yaml:7:34: services.db.check.interval: expected a duration",
                          "t.yaml:8:15: api.listen: expected host:port"};
    const char *prev = errs;
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const char *at = strstr(errs, want[i]);
        if (!at || at < prev)
            fail_msg("'%s' missing or out of order in\n%s", want[i], errs);
        prev = at;
    }
    int lines = 1;
    for (const char *p = errs; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 5);
    free(errs);
}

/* ---- JSON ---- */

void test_json_input(void **state)
{
    const char *j = "{\n"
                    "  \"agent\": {\"id\": \"az1\", \"zone\": \"z1\"},\n"
                    "  \"services\": {\n"
                    "    \"db\": {\n"
                    "      \"kind\": \"redis\",\n"
                    "      \"members\": [{\"name\": \"r1\", \"zone\": \"z1\", \"address\": "
                    "\"127.0.0.1:6379\", \"tags\": [\"a\"], \"priority\": 7}],\n"
                    "\t\"check\": {\"type\":\"redis\",\"interval\":\"2s\",\"params\":{\"password"
                    "\":\"pw\",\"db\":1}}\n"
                    "    }\n"
                    "  }\n"
                    "}\n";
    write_file("c.json", j);
    char *errs = NULL;
    struct fo_agentcfg *c = fo_agentcfg_load(in_dir("c.json"), &errs);
    if (!c)
        fail_msg("JSON does not load:\n%s", errs);
    const struct fo_service_def *s = &c->services[0];
    assert_int_equal(s->check.interval_ms, 2000);
    assert_int_equal(s->members[0].priority, 7);
    assert_string_equal(s->members[0].tags[0], "a");
    assert_string_equal(s->check.secret, "pw");
    unsigned line, col;
    char want[600];
    pos_of(j, "{\"password", &line, &col);
    snprintf(want, sizeof(want), "%s:%u:%u", in_dir("c.json"), line, col);
    assert_string_equal(s->check.where, want);
    char got[600];
    pos_of(j, "\"db\":1", &line, &col);
    snprintf(want, sizeof(want), "%s:%u:%u", in_dir("c.json"), line, col);
    assert_int_equal(fo_config_locate_key(s->check.params, "db", got, sizeof(got)), 0);
    assert_string_equal(got, want);
    fo_agentcfg_free(c);

    const char *bad = "{\"agent\": {\"id\": \"az1\", \"zone\": \"z1\"},\n"
                      " \"services\": {\"db\": {\"kind\": \"tcp\",\n"
                      "  \"members\": [{\"name\": \"m\", \"zone\": \"z\", \"address\": \"h:1\"}],\n"
                      "  \"check\": {\"type\": \"tcp\", \"interval\": 5, \"fall\": \"3\"}}}}\n";
    expect_err_at(bad, "5, \"fall",
                  "services.db.check.interval: expected a duration like 500ms "
                  "or 2s (a bare number has no unit: write 5s or 5ms)");
    expect_err_at(bad, "\"3\"", "services.db.check.fall: expected an integer, not a string");
    expect_err("{\"agent\": {\"id\": \"a\",}", "YAML syntax error");
}

/* ---- reload identity, docs ---- */

void test_check_def_same(void **state)
{
    const char *base = AGENT SVC_HEAD "    check: {type: postgres, params: {a: 1}, rise: 2}\n";
    const char *moved =
        "\n\n" AGENT SVC_HEAD "    check: {type: postgres, rise: 5, params: {a: 1}}\n";
    const char *changed = AGENT SVC_HEAD "    check: {type: postgres, params: {a: 2}}\n";
    const char *slower =
        AGENT SVC_HEAD "    check: {type: postgres, interval: 2s, params: {a: 1}}\n";
    struct fo_agentcfg *a = must_load(base), *b = must_load(moved), *c = must_load(changed),
                       *d = must_load(slower);
    const struct fo_service_def *sa = &a->services[0], *sb = &b->services[0], *sc = &c->services[0],
                                *sd = &d->services[0];
    assert_true(fo_check_def_same(sa, &sa->members[0], sb, &sb->members[0]));
    assert_string_not_equal(sa->check.where, sb->check.where);
    assert_false(fo_check_def_same(sa, &sa->members[0], sc, &sc->members[0]));
    assert_false(fo_check_def_same(sa, &sa->members[0], sd, &sd->members[0]));
    assert_string_not_equal(a->hash, c->hash);
    assert_string_not_equal(a->hash, b->hash); /* rise differs */
    fo_agentcfg_free(a);
    fo_agentcfg_free(b);
    fo_agentcfg_free(c);
    fo_agentcfg_free(d);

    /* Key order and layout do not change the hash; values do. */
    a = must_load(AGENT SVC_HEAD "    check: {type: postgres, params: {x: 1, y: [1, 2]}}\n");
    b = must_load(AGENT SVC_HEAD "    check:\n      params:\n        y: [1, 2]\n        x: 1\n"
                                 "      type: postgres\n      interval: 1000ms\n");
    assert_string_equal(a->hash, b->hash);
    fo_agentcfg_free(a);
    fo_agentcfg_free(b);
}

void test_doc(void **state)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    fo_agentcfg_doc(f);
    fclose(f);
    assert_non_null(strstr(buf, "services.NAME.check.interval"));
    assert_non_null(strstr(buf, "default 1s"));
    assert_non_null(strstr(buf, "cluster.key "));
    assert_non_null(strstr(buf, "key_file"));
    assert_non_null(strstr(buf, "api.tokens[].role"));
    free(buf);
}
