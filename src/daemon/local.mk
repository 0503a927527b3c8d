# src/daemon: the failoverd program (glue: config, loop, signals, wiring of the parts).
include src/daemon/agentcfg.mk

noinst_LTLIBRARIES += libfo_daemon.la
libfo_daemon_la_SOURCES = src/daemon/agent.h src/daemon/agent.c src/daemon/cluster.h \
	src/daemon/cluster_int.h src/daemon/cluster.c src/daemon/cluster_api.c \
	src/daemon/cluster_audit.c src/daemon/obs.h src/daemon/obs.c
libfo_daemon_la_CFLAGS = $(AM_CFLAGS) $(CURL_CFLAGS)

sbin_PROGRAMS += failoverd
failoverd_SOURCES = src/daemon/main.c
# Order matters for static convenience libraries: users before what they use.
failoverd_LDADD = libfo_daemon.la libfo_api.la libfo_agentcfg.la libfo_detect.la \
	libfo_audit.la libfo_state.la libfo_raft.la libfo_peer.la libfo_check.la libfo_core.la \
	$(MHD_LIBS) $(CURL_LIBS) $(UV_LIBS) $(JSONC_LIBS) $(YAML_LIBS) $(CRYPTO_LIBS) -ldl

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_obs
TESTS += tests/unit/test_obs
tests_unit_test_obs_SOURCES = tests/unit/test_obs.c src/daemon/obs.c
tests_unit_test_obs_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_obs_LDADD = libfo_detect.la libfo_state.la libfo_check.la libfo_core.la \
	$(CMOCKA_LIBS) $(CURL_LIBS) $(UV_LIBS) $(JSONC_LIBS) -ldl
endif
