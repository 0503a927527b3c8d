# Configuration loading: parser, locations, typed fields, the agent schema, hashes.
if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_config
TESTS += tests/unit/test_config
tests_unit_test_config_SOURCES = tests/unit/test_config.c tests/unit/test_config_schema.c \
	tests/unit/test_config.h
tests_unit_test_config_CPPFLAGS = $(AM_CPPFLAGS) -DFO_TEST_SRCDIR='"$(abs_top_srcdir)"'
tests_unit_test_config_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_config_LDADD = libfo_agentcfg.la libfo_check.la libfo_core.la $(CMOCKA_LIBS) \
	$(CRYPTO_LIBS) $(JSONC_LIBS) $(YAML_LIBS)
endif
