/* Helpers shared by the configuration unit tests (test_config.c, test_config_schema.c). */
#ifndef FO_TEST_CONFIG_H
#define FO_TEST_CONFIG_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <cmocka.h>

#include "daemon/agentcfg.h"

#ifndef FO_TEST_SRCDIR
#define FO_TEST_SRCDIR "."
#endif

/* A secret that must never show in any error text. */
#define SECRET "Sup3r-S3cret-Value-never-shown-0123456789"

#define AGENT "agent: {id: az1, zone: z1}\n"
#define SVC_HEAD                                                                                   \
    "services:\n"                                                                                  \
    "  db:\n"                                                                                      \
    "    kind: postgres\n"                                                                         \
    "    members:\n"                                                                               \
    "      - {name: pg1, zone: z1, address: \"127.0.0.1:5432\"}\n"
#define CLUSTER_HEAD                                                                               \
    "cluster:\n"                                                                                   \
    "  id: c1\n"                                                                                   \
    "  key: 0123456789abcdef0123456789abcdef\n"                                                    \
    "  listen: 127.0.0.1:8741\n"                                                                   \
    "  peers:\n"                                                                                   \
    "    - {id: az2, zone: z2, address: \"127.0.0.1:8751\"}\n"                                     \
    "    - {id: az3, zone: z3, address: \"127.0.0.1:8761\"}\n"

extern char g_dir[256]; /* per-run temporary directory */

const char *in_dir(const char *name);
void write_file(const char *name, const char *text);
/* Loads yaml as if it were the file t.yaml in g_dir. */
struct fo_agentcfg *load(const char *yaml, char **errs);
/* 1-based line and column of the first occurrence of needle in text. */
void pos_of(const char *text, const char *needle, unsigned *line, unsigned *col);
/* Loading must fail; returns the errors (which must not hold SECRET). */
char *must_fail(const char *yaml);
/* Expects "t.yaml:LINE:COL: what" among the errors, LINE:COL being where `at` starts in yaml,
 * or where its '|' is: "quorum: |1" finds "quorum: 1" and points at the 1. */
void expect_err_at(const char *yaml, const char *at, const char *what);
void expect_err(const char *yaml, const char *what);
struct fo_agentcfg *must_load(const char *yaml);

void test_example(void **state);
void test_defaults(void **state);
void test_wrong_types(void **state);
void test_unknown_keys(void **state);
void test_failover_policy(void **state);
void test_missing_required(void **state);
void test_duplicates(void **state);
void test_check_timing(void **state);
void test_cluster_rules(void **state);
void test_conninfo(void **state);
void test_collects_all(void **state);
void test_json_input(void **state);
void test_check_def_same(void **state);
void test_doc(void **state);

#endif
