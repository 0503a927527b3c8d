# The agent's configuration schema (agentcfg.c), a library of its own so that unit tests and the
# fuzz target can link it. Users also link libfo_check.la (fo_service_def_free) and libfo_core.la.
noinst_LTLIBRARIES += libfo_agentcfg.la
libfo_agentcfg_la_SOURCES = src/daemon/agentcfg.h src/daemon/agentcfg.c
libfo_agentcfg_la_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS)
libfo_agentcfg_la_LIBADD = $(CRYPTO_LIBS) $(JSONC_LIBS)
