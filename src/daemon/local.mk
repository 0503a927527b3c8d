# src/daemon: the failoverd program (glue: config, loop, signals, wiring of the parts).
sbin_PROGRAMS += failoverd
failoverd_SOURCES = src/daemon/main.c
failoverd_LDADD = libfo_core.la $(UV_LIBS) $(JSONC_LIBS)
