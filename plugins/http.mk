# plugins/http: HTTP(S) check through the host's shared curl multi handle.
pkglib_LTLIBRARIES += plugins/http.la
plugins_http_la_SOURCES = plugins/http.c plugins/curlpool.h plugins/params.h
plugins_http_la_CFLAGS = $(AM_CFLAGS) $(CURL_CFLAGS)
plugins_http_la_LDFLAGS = $(fo_plugin_link)
plugins_http_la_LIBADD = $(CURL_LIBS) $(JSONC_LIBS)
