/* Shared between the two source files of the test_check program: the loop tests of
 * test_check_loop.c and the wall-clock test hook that main() in test_check.c sets up. */
#ifndef FO_TESTS_TEST_CHECK_H
#define FO_TESTS_TEST_CHECK_H

#include <failoverd/plugin.h>

extern char wall_offset_file[];
void set_wall_offset(long long ms);

void on_event(enum fo_log_level level, const char *kind, const char *const *kv, int nkv, void *arg);
int sched_setup(void **state);
int sched_teardown(void **state);
void test_http_host(void **state);
void test_sched_interval(void **state);
void test_sched_spread(void **state);
void test_sched_no_overlap(void **state);
void test_sched_timeout(void **state);
void test_sched_plugin_errors(void **state);
void test_sched_bad_plugins(void **state);
void test_sched_init_error(void **state);
void test_sched_apply_keeps_state(void **state);
void test_sched_best_int(void **state);
void test_sched_tilt_wall_jump(void **state);
void test_sched_tilt_stall(void **state);

#endif
