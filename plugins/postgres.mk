# plugins/postgres: the PostgreSQL check (libpq driven non-blocking on the host's loop); the
# probe-row parsing lives in postgres_parse.c so that its unit test needs no server.
pkglib_LTLIBRARIES += plugins/postgres.la
plugins_postgres_la_SOURCES = plugins/postgres.c plugins/postgres_parse.c \
	plugins/postgres_parse.h plugins/params.h
plugins_postgres_la_CFLAGS = $(AM_CFLAGS) $(PQ_CFLAGS)
plugins_postgres_la_LDFLAGS = $(fo_plugin_link)
plugins_postgres_la_LIBADD = $(PQ_LIBS) $(UV_LIBS) $(JSONC_LIBS)
