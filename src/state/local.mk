# src/state: the replicated state machine applied from committed entries.
noinst_LTLIBRARIES += libfo_state.la
libfo_state_la_SOURCES = src/state/state.h src/state/state.c
libfo_state_la_LIBADD = libfo_core.la $(JSONC_LIBS)
