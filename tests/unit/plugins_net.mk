# Unit tests of the http, tcp, jsonrpc and exec plugins (the plugin sources are compiled into
# the test, which exercises their static functions and whole runs through a fake host).
if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_plugin_net
TESTS += tests/unit/test_plugin_net
tests_unit_test_plugin_net_SOURCES = tests/unit/test_plugin_net.c tests/unit/plugin_net_env.c \
	tests/unit/plugin_net_env.h
tests_unit_test_plugin_net_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(CURL_CFLAGS)
tests_unit_test_plugin_net_LDADD = libfo_core.la $(CMOCKA_LIBS) $(CURL_LIBS) $(UV_LIBS) $(JSONC_LIBS)
endif
