# plugins/redis: the Redis check (hiredis async on the host's loop); the INFO parsing lives in
# redis_parse.c so that its unit test needs no server.
pkglib_LTLIBRARIES += plugins/redis.la
plugins_redis_la_SOURCES = plugins/redis.c plugins/redis_parse.c plugins/redis_parse.h \
	plugins/params.h
plugins_redis_la_CFLAGS = $(AM_CFLAGS) $(HIREDIS_CFLAGS)
plugins_redis_la_LDFLAGS = $(fo_plugin_link)
plugins_redis_la_LIBADD = $(HIREDIS_LIBS) $(UV_LIBS) $(JSONC_LIBS)
