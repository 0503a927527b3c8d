/* Unit tests of configuration loading: the YAML/JSON parser and its locations, limits, the
 * duration, size and secret parsers, and that secrets never reach error text. The schema tests
 * are in test_config_schema.c. */
#include <errno.h>
#include <ftw.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/cfgfield.h"
#include "core/config.h"
#include "test_config.h"

char g_dir[256];

const char *in_dir(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof(buf[k]), "%s/%s", g_dir, name);
    return buf[k];
}

void write_file(const char *name, const char *text)
{
    FILE *f = fopen(in_dir(name), "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static int group_setup(void **state)
{
    snprintf(g_dir, sizeof(g_dir), "/tmp/fo-test-config-XXXXXX");
    if (!mkdtemp(g_dir))
        return -1;
    unsetenv("FO_TEST_UNSET");
    return 0;
}

static int group_teardown(void **state)
{
    return nftw(g_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

struct fo_agentcfg *load(const char *yaml, char **errs)
{
    *errs = NULL;
    return fo_agentcfg_load_buffer(in_dir("t.yaml"), yaml, strlen(yaml), errs);
}

void pos_of(const char *text, const char *needle, unsigned *line, unsigned *col)
{
    const char *p = strstr(text, needle);
    assert_non_null(p);
    *line = 1;
    *col = 1;
    for (const char *q = text; q < p; q++) {
        if (*q == '\n')
            (*line)++, *col = 1;
        else
            (*col)++;
    }
}

char *must_fail(const char *yaml)
{
    char *errs = NULL;
    struct fo_agentcfg *c = load(yaml, &errs);
    if (c) {
        fo_agentcfg_free(c);
        fail_msg("loaded, but errors were expected:\n%s", yaml);
    }
    assert_non_null(errs);
    assert_null(strstr(errs, SECRET));
    return errs;
}

void expect_err_at(const char *yaml, const char *at, const char *what)
{
    char want[512], find[256];
    unsigned line, col;
    const char *bar = strchr(at, '|');
    if (bar) {
        snprintf(find, sizeof(find), "%.*s%s", (int)(bar - at), at, bar + 1);
        pos_of(yaml, find, &line, &col);
        for (const char *p = at; p < bar; p++)
            col++; /* the part before '|' never holds a newline */
    } else {
        pos_of(yaml, at, &line, &col);
    }
    snprintf(want, sizeof(want), "/t.yaml:%u:%u: %s", line, col, what);
    char *errs = must_fail(yaml);
    if (!strstr(errs, want))
        fail_msg("expected\n  %s\namong\n%s", want, errs);
    free(errs);
}

void expect_err(const char *yaml, const char *what)
{
    char *errs = must_fail(yaml);
    if (!strstr(errs, what))
        fail_msg("expected '%s' among\n%s", what, errs);
    free(errs);
}

struct fo_agentcfg *must_load(const char *yaml)
{
    char *errs = NULL;
    struct fo_agentcfg *c = load(yaml, &errs);
    if (!c)
        fail_msg("unexpected errors:\n%s", errs);
    return c;
}

/* ---- syntax ---- */

static void test_yaml_syntax(void **state)
{
    expect_err("agent:\n  id: a\n zone: b\n",
               "/t.yaml:3:2: YAML syntax error: did not find expected key (while parsing a block "
               "mapping at line 1 column 1)");
    expect_err("agent: {id: a, zone: b\nlog: x\n", "/t.yaml:2:4: YAML syntax error: did not find "
                                                   "expected ',' or '}'");
    expect_err("agent:\n\tid: a\n", "/t.yaml:2:1: YAML syntax error: found character that cannot "
                                    "start any token");
    expect_err("agent: {id: a, zone: b}\nx: \xff\n",
               "/t.yaml:2:4: YAML syntax error: invalid leading UTF-8 octet");
    expect_err("", "/t.yaml:1:1: the document is empty");
    expect_err("- a\n- b\n", "/t.yaml:1:1: expected a mapping at the top, not a sequence");
    expect_err(AGENT "---\nlog: {}\n", "/t.yaml:2:1: only one YAML document is allowed per file");
    expect_err_at(AGENT "log: &x {level: info}\napi: *x\n", "&x",
                  "YAML anchors (&x) are not supported");
    expect_err_at(AGENT "log: {level: info}\napi: *x\n", "*x",
                  "YAML aliases (*x) are not supported");
    expect_err_at(AGENT "log: {level: !!str info}\n", "!!str", "YAML tags");
    expect_err_at(AGENT "? [a]\n: b\n", "[a]", "a key must be a plain string, not a sequence");
    expect_err_at(AGENT "x: 123456789012345678901234567890\n", "1234567890",
                  "integer out of range");
}

static void test_limits(void **state)
{
    char *deep = calloc(1, 4096);
    strcpy(deep, AGENT "x: ");
    for (int i = 0; i < 100; i++)
        strcat(deep, "[");
    for (int i = 0; i < 100; i++)
        strcat(deep, "]");
    strcat(deep, "\n");
    expect_err(deep, "nested deeper than 64 levels");
    free(deep);

    /* Every error is collected, but only the first hundred are kept. */
    size_t cap = 200 * 32 + 256;
    char *many = calloc(1, cap);
    strcpy(many, "agent:\n  id: a\n  zone: b\n");
    for (int i = 0; i < 150; i++)
        snprintf(many + strlen(many), cap - strlen(many), "  bogus%d: 1\n", i);
    char *errs = must_fail(many);
    assert_non_null(strstr(errs, "agent.bogus0: unknown key 'bogus0'"));
    assert_non_null(strstr(errs, "\n... and 50 more errors"));
    int lines = 1;
    for (char *p = errs; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 101);
    free(errs);
    free(many);

    char *big = malloc(FO_CONFIG_MAX_BYTES + 2);
    memset(big, '#', FO_CONFIG_MAX_BYTES + 1);
    big[FO_CONFIG_MAX_BYTES + 1] = '\0';
    expect_err(big, "file is larger than");
    free(big);
}

/* ---- scalars and locations ---- */

static void test_parse_scalars_and_locate(void **state)
{
    const char *y = "a: 1\nb: \"1\"\nc: 1.5\nd: true\ne: ~\nf: 0x10\ng: yes\nh:\n"
                    "i:\n  argv: [x, \"y\", {k: v}]\n  'dot.key': 1\n";
    struct fo_cfg_errs errs;
    fo_cfg_errs_init(&errs);
    struct json_object *root = fo_config_parse("mem.yaml", y, strlen(y), &errs);
    assert_non_null(root);
    assert_int_equal(errs.n, 0);
    struct json_object *v;
    json_object_object_get_ex(root, "a", &v);
    assert_true(json_object_is_type(v, json_type_int));
    json_object_object_get_ex(root, "b", &v);
    assert_true(json_object_is_type(v, json_type_string));
    json_object_object_get_ex(root, "c", &v);
    assert_true(json_object_is_type(v, json_type_double));
    json_object_object_get_ex(root, "d", &v);
    assert_true(json_object_is_type(v, json_type_boolean));
    assert_true(json_object_object_get_ex(root, "e", &v));
    assert_null(v);
    json_object_object_get_ex(root, "f", &v);
    assert_int_equal(json_object_get_int(v), 16);
    json_object_object_get_ex(root, "g", &v);
    assert_string_equal(json_object_get_string(v), "yes");

    char buf[128];
    json_object_object_get_ex(root, "c", &v);
    assert_int_equal(fo_config_locate(v, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "mem.yaml:3:4");
    struct fo_cfg_loc loc;
    assert_int_equal(fo_config_loc_key(root, "h", 0, &loc), 0); /* a null value */
    assert_int_equal(loc.line, 8);
    assert_int_equal(fo_config_loc_key(root, "h", 1, &loc), 0);
    assert_int_equal(loc.line, 8);
    assert_int_equal(loc.col, 1);
    assert_int_equal(fo_config_locate_key(root, "i.argv.2.k", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "mem.yaml:10:19");
    assert_int_equal(fo_config_locate_key(root, "i.argv.1", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "mem.yaml:10:13");
    assert_int_equal(fo_config_locate_key(root, "i.dot.key", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "mem.yaml:11:3");
    assert_int_equal(fo_config_locate_key(root, "i.nope", buf, sizeof(buf)), -FO_ENOENT);
    assert_string_equal(buf, "mem.yaml:10:3"); /* the mapping that lacks it */

    /* Copies keep locations; plain json-c objects have none. */
    struct json_object *i = NULL, *copy = NULL;
    json_object_object_get_ex(root, "i", &i);
    assert_int_equal(fo_config_copy(i, &copy), 0);
    assert_int_equal(fo_config_locate_key(copy, "argv.2.k", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "mem.yaml:10:19");
    assert_true(json_object_equal(i, copy));
    assert_int_equal(fo_config_del_key(copy, "argv"), 0);
    assert_int_equal(fo_config_del_key(copy, "argv"), -FO_ENOENT);
    assert_int_equal(fo_config_locate_key(copy, "argv", buf, sizeof(buf)), -FO_ENOENT);
    json_object_put(copy);
    struct json_object *plain = json_object_new_string("x");
    assert_int_equal(fo_config_locate(plain, buf, sizeof(buf)), -FO_ENOENT);
    assert_string_equal(buf, "?");
    json_object_put(plain);

    /* Nodes outlive the document text and the parser. */
    json_object_object_get_ex(root, "i", &i);
    json_object_get(i);
    json_object_put(root);
    assert_int_equal(fo_config_locate(i, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "mem.yaml:10:3");
    json_object_put(i);
    fo_cfg_errs_free(&errs);
}

/* ---- durations, sizes ---- */

static void test_durations(void **state)
{
    static const struct {
        const char *s;
        uint64_t ms;
    } ok[] = {{"500ms", 500}, {"2s", 2000},     {"1m", 60000},  {"1h", 3600000},
              {"1.5s", 1500}, {"1m30s", 90000}, {"0.25s", 250}, {"0ms", 0}};
    static const char *const bad[] = {"5",     "5 s", "-1s",   "1x",    "",     "s",
                                      "1.5ms", "ms5", "2000h", "1s 2s", "1e3ms"};
    char why[128];
    uint64_t ms;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        assert_int_equal(fo_cfg_parse_duration(ok[i].s, &ms, why, sizeof(why)), 0);
        assert_int_equal(ms, ok[i].ms);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (fo_cfg_parse_duration(bad[i], &ms, why, sizeof(why)) == 0)
            fail_msg("'%s' was accepted as a duration", bad[i]);
    fo_cfg_parse_duration("5 s", &ms, why, sizeof(why));
    assert_string_equal(why, "no space between the number and its unit");
    char fmt[32];
    assert_string_equal(fo_cfg_fmt_duration(1500, fmt, sizeof(fmt)), "1500ms");
    assert_string_equal(fo_cfg_fmt_duration(120000, fmt, sizeof(fmt)), "2m");

#define CHECK_WITH(x) AGENT SVC_HEAD "    check:\n      type: postgres\n      interval: " x "\n"
    expect_err_at(CHECK_WITH("5"), "5\n",
                  "services.db.check.interval: expected a duration like 500ms or 2s (a bare "
                  "number has no unit: write 5s or 5ms)");
    expect_err_at(CHECK_WITH("5 s"), "5 s",
                  "services.db.check.interval: expected a duration like 500ms or 2s (no space "
                  "between the number and its unit)");
    expect_err_at(CHECK_WITH("-1s"), "-1s",
                  "services.db.check.interval: expected a duration like 500ms or 2s (must not be "
                  "negative)");
    expect_err_at(CHECK_WITH("1x"), "1x",
                  "services.db.check.interval: expected a duration like 500ms or 2s (unknown "
                  "unit: use ms, s, m or h)");
    expect_err_at(CHECK_WITH("1ms"), "1ms",
                  "services.db.check.interval: must be between 10ms and 1h");
    expect_err_at(CHECK_WITH("[1s]"), "[1s]",
                  "services.db.check.interval: expected a duration like 500ms or 2s, not a "
                  "sequence");
}

static void test_sizes(void **state)
{
    static const struct {
        const char *s;
        uint64_t b;
    } ok[] = {{"512", 512},     {"512B", 512},     {"64k", 65536},       {"64K", 65536},
              {"64KiB", 65536}, {"4MiB", 4194304}, {"1GiB", 1073741824}, {"2T", 2199023255552ULL},
              {"0", 0}};
    static const char *const bad[] = {
        "1 MiB",         "-1", "1MB", "x", "", "1.5MiB", "MiB", "1MiBs", "99999999999999999999",
        "17179869184GiB"};
    char why[128];
    uint64_t b;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        assert_int_equal(fo_cfg_parse_size(ok[i].s, &b, why, sizeof(why)), 0);
        assert_int_equal(b, ok[i].b);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (fo_cfg_parse_size(bad[i], &b, why, sizeof(why)) == 0)
            fail_msg("'%s' was accepted as a size", bad[i]);
    fo_cfg_parse_size("1MB", &b, why, sizeof(why));
    assert_non_null(strstr(why, "MiB"));
}

/* ---- types, keys, required ---- */

static int validator_errors(void (*fn)(struct fo_cfg_ctx *, const struct fo_cfg_loc *,
                                       const void *),
                            const char *value)
{
    struct fo_cfg_errs errs;
    struct fo_cfg_ctx c;
    fo_cfg_errs_init(&errs);
    fo_cfg_ctx_init(&c, &errs, "v.yaml");
    fn(&c, NULL, &value);
    int n = errs.n;
    fo_cfg_ctx_free(&c);
    fo_cfg_errs_free(&errs);
    return n;
}

static void test_validators(void **state)
{
    static const char *const hp_ok[] = {"127.0.0.1:8740", "[::1]:8740", "localhost:1",
                                        "db.example:65535"};
    static const char *const hp_bad[] = {"h",       "h:",   ":80",       "::1:80", "h:0",
                                         "h:65536", "h:8a", "[::1]8740", "[]:1",   "h:000001"};
    for (size_t i = 0; i < sizeof(hp_ok) / sizeof(hp_ok[0]); i++)
        assert_int_equal(validator_errors(fo_cfg_check_hostport, hp_ok[i]), 0);
    for (size_t i = 0; i < sizeof(hp_bad) / sizeof(hp_bad[0]); i++)
        if (validator_errors(fo_cfg_check_hostport, hp_bad[i]) != 1)
            fail_msg("'%s' was accepted as host:port", hp_bad[i]);
    assert_int_equal(validator_errors(fo_cfg_check_id, "az-1_b"), 0);
    assert_int_equal(validator_errors(fo_cfg_check_id, "Az1"), 1);
    assert_int_equal(validator_errors(fo_cfg_check_id, "a.b"), 1);
    assert_int_equal(validator_errors(fo_cfg_check_name, "Orders.DB-1_x"), 0);
    assert_int_equal(validator_errors(fo_cfg_check_name, "a/b"), 1);
    assert_int_equal(validator_errors(fo_cfg_check_name, ""), 1);
}

/* ---- secrets ---- */

static void test_secrets(void **state)
{
    write_file("key.ok", "0123456789abcdef0123456789abcdef-key\r\nsecond line ignored\n");
    write_file("token.ok", SECRET "\n");
    write_file("empty", "\n");
    setenv("FO_TEST_TOKEN", "token-from-env", 1);
    setenv("FO_TEST_EMPTY", "", 1);

    struct fo_agentcfg *c =
        must_load(AGENT "cluster: {id: c, listen: \"h:1\", key_file: key.ok}\n"
                        "api:\n  tokens:\n"
                        "    - {name: a, role: admin, secret_file: token.ok}\n"
                        "    - {name: b, role: read, secret_env: FO_TEST_TOKEN}\n"
                        "    - {name: c, role: read, secret: inline-token}\n");
    assert_string_equal(c->cluster.key, "0123456789abcdef0123456789abcdef-key");
    assert_int_equal(c->cluster.key_len, 36);
    assert_string_equal(c->tokens[0].secret, SECRET);
    assert_int_equal(c->tokens[0].role, FO_ROLE_ADMIN);
    assert_string_equal(c->tokens[1].secret, "token-from-env");
    assert_string_equal(c->tokens[2].secret, "inline-token");
    fo_agentcfg_free(c);

    char abs[600];
    snprintf(abs, sizeof(abs), AGENT "cluster: {id: c, listen: \"h:1\", key_file: %s}\n",
             in_dir("key.ok"));
    c = must_load(abs);
    assert_int_equal(c->cluster.key_len, 36);
    fo_agentcfg_free(c);

    char want[600];
    snprintf(want, sizeof(want),
             "cluster.key_file: cannot read secret file '%s': No such file or directory (ENOENT)",
             in_dir("nope.key"));
    expect_err_at(AGENT "cluster: {id: c, listen: \"h:1\", key_file: nope.key}\n", "nope.key",
                  want);
    expect_err_at(AGENT "cluster: {id: c, listen: \"h:1\", key_file: empty}\n", "empty}",
                  "cluster.key_file: secret file");
    expect_err_at(AGENT "cluster: {id: c, listen: \"h:1\", key_file: /}\n", "/}",
                  "cluster.key_file: secret file '/' is not a regular file");
    expect_err_at(AGENT "cluster: {id: c, listen: \"h:1\", key_env: FO_TEST_UNSET}\n",
                  "FO_TEST_UNSET",
                  "cluster.key_env: environment variable FO_TEST_UNSET is not set");
    expect_err_at(AGENT "cluster: {id: c, listen: \"h:1\", key_env: FO_TEST_EMPTY}\n",
                  "FO_TEST_EMPTY", "cluster.key_env: environment variable FO_TEST_EMPTY is empty");
    expect_err_at(AGENT "cluster: {id: c, listen: \"h:1\", key_env: \"A-B\"}\n", "\"A-B\"",
                  "cluster.key_env: expected the name of an environment variable");
    expect_err_at(AGENT "cluster: {id: c, listen: \"h:1\", key: tooshort}\n", "tooshort",
                  "cluster.key: the secret must be at least 32 bytes long");
    expect_err_at(AGENT "cluster: {id: c, listen: \"h:1\", key: abc, key_env: X}\n", "key_env",
                  "cluster.key_env: give only one of key, key_file or key_env");

    /* Check params: password forms are resolved and removed before the plugin sees params. */
    write_file("pg.pass", "pg-pass-from-file\n");
    c = must_load(AGENT SVC_HEAD "    check:\n      type: postgres\n"
                                 "      params: {user: u, password_file: pg.pass}\n");
    assert_string_equal(c->services[0].check.secret, "pg-pass-from-file");
    assert_false(json_object_object_get_ex(c->services[0].check.params, "password_file", NULL));
    assert_true(json_object_object_get_ex(c->services[0].check.params, "user", NULL));
    fo_agentcfg_free(c);
    c = must_load(AGENT SVC_HEAD "    check:\n      type: postgres\n"
                                 "      params: {password: " SECRET "}\n");
    assert_string_equal(c->services[0].check.secret, SECRET);
    assert_int_equal(json_object_object_length(c->services[0].check.params), 0);
    char *json = fo_agentcfg_services_json(c->services, c->nservices);
    assert_null(strstr(json, SECRET));
    free(json);
    fo_agentcfg_free(c);
    expect_err_at(AGENT SVC_HEAD "    check:\n      type: postgres\n"
                                 "      params: {password_env: FO_TEST_UNSET}\n",
                  "FO_TEST_UNSET",
                  "services.db.check.params.password_env: environment variable FO_TEST_UNSET is "
                  "not set");
}

/* A secret value must not reach any error message, however the file is wrong around it. */
static void test_secret_never_in_errors(void **state)
{
    write_file("secret.short", SECRET "\n");
    setenv("FO_TEST_SECRET", SECRET, 1);
    const char *yamls[] = {
        AGENT "api: {tokens: [{name: a, role: read, secret: " SECRET ", secret_env: X}]}\n",
        AGENT "api: {tokens: [{name: a, role: read, secret: [" SECRET "]}]}\n",
        AGENT "api: {tokens: [{name: a, role: read, secret: {" SECRET ": 1}}]}\n",
        AGENT "api: {tokens: [{name: a, role: rd, secret: " SECRET "}, {name: b, role: read, "
              "secret: " SECRET "}]}\n",
        AGENT "cluster: {id: c, listen: \"h:1\", key_file: secret.short, quorum: 9}\n",
        AGENT "cluster: {id: c, listen: \"h:1\", key_env: FO_TEST_SECRET, lease: 5s}\n",
        AGENT "cluster: {id: c, listen: \"h:1\", key: \"" SECRET SECRET "\", bogus: 1}\n",
        AGENT SVC_HEAD "    check: {type: postgres, params: {password: " SECRET
                       ", password_file: x}}\n",
        AGENT SVC_HEAD "    check: {type: postgres, interval: 1x, params: {password: " SECRET
                       "}}\n",
        AGENT "x: {password: " SECRET "}\napi: {tokens: [{name: a, role: read, secret: " SECRET
              "}]\n",
    };
    for (size_t i = 0; i < sizeof(yamls) / sizeof(yamls[0]); i++)
        free(must_fail(yamls[i])); /* must_fail asserts SECRET is absent */
    /* The same with the secret in a key that is unknown: the key is named, as it must be, so
     * only values are protected; check that the value of a known secret key is not. */
    char *errs = must_fail(AGENT "api: {tokens: [{name: a, role: read, secret: 12345678901}]}\n"
                                 "log: {level: x}\n");
    assert_null(strstr(errs, "12345678901"));
    assert_non_null(strstr(errs, "api.tokens[0].secret: expected a string, not an integer"));
    free(errs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_yaml_syntax),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_parse_scalars_and_locate),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_validators),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_unknown_keys),
        cmocka_unit_test(test_missing_required),
        cmocka_unit_test(test_secrets),
        cmocka_unit_test(test_secret_never_in_errors),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_check_timing),
        cmocka_unit_test(test_cluster_rules),
        cmocka_unit_test(test_conninfo),
        cmocka_unit_test(test_collects_all),
        cmocka_unit_test(test_json_input),
        cmocka_unit_test(test_check_def_same),
        cmocka_unit_test(test_doc),
        cmocka_unit_test(test_failover_policy),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
