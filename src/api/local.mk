# src/api: the agent's HTTP API server (libmicrohttpd driven from the libuv loop), the
# /v1/status document and /metrics.
noinst_LTLIBRARIES += libfo_api.la
libfo_api_la_SOURCES = src/api/http.h src/api/http.c src/api/status.h src/api/status.c \
	src/api/metrics.h src/api/metrics.c
libfo_api_la_CFLAGS = $(AM_CFLAGS) $(MHD_CFLAGS) $(CRYPTO_CFLAGS)
libfo_api_la_LIBADD = $(MHD_LIBS) $(CRYPTO_LIBS) $(JSONC_LIBS) $(UV_LIBS) -lm

if HAVE_CMOCKA
# test_api: rendering from hand-built state; test_api_http: the server on a real loop.
check_PROGRAMS += tests/unit/test_api tests/unit/test_api_http
TESTS += tests/unit/test_api tests/unit/test_api_http
tests_unit_test_api_SOURCES = tests/unit/test_api.c
tests_unit_test_api_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_api_LDADD = libfo_api.la libfo_check.la libfo_core.la $(CMOCKA_LIBS) \
	$(JSONC_LIBS) -lm
tests_unit_test_api_http_SOURCES = tests/unit/test_api_http.c
tests_unit_test_api_http_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(CURL_CFLAGS)
tests_unit_test_api_http_LDADD = libfo_api.la libfo_check.la libfo_core.la $(CMOCKA_LIBS) \
	$(CURL_LIBS) $(UV_LIBS) $(JSONC_LIBS) -lpthread
endif
