# plugins/tcp: TCP connect check (optional send/expect) on the libuv loop.
pkglib_LTLIBRARIES += plugins/tcp.la
plugins_tcp_la_SOURCES = plugins/tcp.c plugins/params.h
plugins_tcp_la_CFLAGS = $(AM_CFLAGS)
plugins_tcp_la_LDFLAGS = $(fo_plugin_link)
plugins_tcp_la_LIBADD = $(UV_LIBS) $(JSONC_LIBS)
