# Unit tests of the postgres and redis check plugins: parsers, params, and runs on loopback
# (refused, silent, fake Redis on the loop). No database server needed.
if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_plugin_pg tests/unit/test_plugin_redis
TESTS += tests/unit/test_plugin_pg tests/unit/test_plugin_redis
tests_unit_test_plugin_pg_SOURCES = tests/unit/test_plugin_pg.c plugins/postgres.c \
	plugins/postgres_parse.c
tests_unit_test_plugin_pg_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(PQ_CFLAGS)
tests_unit_test_plugin_pg_LDADD = libfo_core.la $(CMOCKA_LIBS) $(PQ_LIBS) $(UV_LIBS) $(JSONC_LIBS)
tests_unit_test_plugin_redis_SOURCES = tests/unit/test_plugin_redis.c plugins/redis.c \
	plugins/redis_parse.c
tests_unit_test_plugin_redis_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(HIREDIS_CFLAGS)
tests_unit_test_plugin_redis_LDADD = libfo_core.la $(CMOCKA_LIBS) $(HIREDIS_LIBS) $(UV_LIBS) $(JSONC_LIBS)
endif
