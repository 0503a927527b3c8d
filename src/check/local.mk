# src/check: the check engine: hysteresis and member state, TILT, the scheduler, the plugin host
# and the process's one libcurl multi handle on the loop.
noinst_LTLIBRARIES += libfo_check.la
libfo_check_la_SOURCES = src/check/check.h src/check/hyst.c src/check/tilt.c src/check/sched.c \
	src/check/plugin_host.h src/check/plugin_host.c src/check/http_host.h src/check/http_host.c
libfo_check_la_CFLAGS = $(AM_CFLAGS) $(CURL_CFLAGS)
libfo_check_la_LIBADD = $(UV_LIBS) $(CURL_LIBS) $(JSONC_LIBS)
include src/check/defs.mk

if HAVE_CMOCKA
# The scripted fake check plugin, built three ways (good, foreign ABI, action kind) as modules
# the test loads from tests/unit/.libs.
fo_fake_plugin_ldflags = -module -avoid-version -shared -rpath /nowhere
check_LTLIBRARIES += tests/unit/fake_plugin.la tests/unit/fake_badabi.la \
	tests/unit/fake_action.la
tests_unit_fake_plugin_la_SOURCES = tests/unit/fake_plugin.c tests/unit/fake_plugin.h
tests_unit_fake_plugin_la_LDFLAGS = $(fo_fake_plugin_ldflags)
tests_unit_fake_plugin_la_LIBADD = $(UV_LIBS) $(JSONC_LIBS)
tests_unit_fake_badabi_la_SOURCES = tests/unit/fake_plugin.c tests/unit/fake_plugin.h
tests_unit_fake_badabi_la_CPPFLAGS = $(AM_CPPFLAGS) -DFAKE_NAME='"fake_badabi"' \
	-DFAKE_ABI_MAJOR=2
tests_unit_fake_badabi_la_LDFLAGS = $(fo_fake_plugin_ldflags)
tests_unit_fake_badabi_la_LIBADD = $(UV_LIBS) $(JSONC_LIBS)
tests_unit_fake_action_la_SOURCES = tests/unit/fake_plugin.c tests/unit/fake_plugin.h
tests_unit_fake_action_la_CPPFLAGS = $(AM_CPPFLAGS) -DFAKE_NAME='"fake_action"' \
	-DFAKE_KIND=FO_PLUGIN_ACTION
tests_unit_fake_action_la_LDFLAGS = $(fo_fake_plugin_ldflags)
tests_unit_fake_action_la_LIBADD = $(UV_LIBS) $(JSONC_LIBS)

check_PROGRAMS += tests/unit/test_check
TESTS += tests/unit/test_check
tests_unit_test_check_SOURCES = tests/unit/test_check.c tests/unit/test_check_loop.c \
	tests/unit/test_check.h tests/unit/fake_plugin.h
tests_unit_test_check_CPPFLAGS = $(AM_CPPFLAGS) \
	-DFO_TEST_PLUGIN_DIR='"$(abs_top_builddir)/tests/unit/.libs"'
tests_unit_test_check_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(CURL_CFLAGS)
tests_unit_test_check_LDFLAGS = $(AM_LDFLAGS) -Wl,--wrap=uv_poll_init_socket
tests_unit_test_check_LDADD = libfo_check.la libfo_core.la $(CMOCKA_LIBS) $(UV_LIBS) \
	$(CURL_LIBS) $(JSONC_LIBS) $(YAML_LIBS)
EXTRA_tests_unit_test_check_DEPENDENCIES = tests/unit/fake_plugin.la tests/unit/fake_badabi.la \
	tests/unit/fake_action.la
endif
