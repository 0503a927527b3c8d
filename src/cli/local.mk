# src/cli: failoverctl, the operator's tool (libcurl easy + json-c against the agent's API).
bin_PROGRAMS += failoverctl
failoverctl_SOURCES = src/cli/cli.h src/cli/failoverctl.c src/cli/audit.c
failoverctl_CFLAGS = $(AM_CFLAGS) $(CURL_CFLAGS)
failoverctl_LDADD = libfo_audit.la libfo_core.la $(CURL_LIBS) $(JSONC_LIBS) $(CRYPTO_LIBS)
