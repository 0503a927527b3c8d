# src/core: errors, allocation, logging and events, clocks, configuration loading.
noinst_LTLIBRARIES += libfo_core.la
libfo_core_la_SOURCES = src/core/fo.h src/core/fo.c src/core/log.h src/core/log.c \
	src/core/clock.h src/core/clock.c
libfo_core_la_CFLAGS = $(AM_CFLAGS) $(YAML_CFLAGS)
libfo_core_la_LIBADD = $(JSONC_LIBS) $(YAML_LIBS)
# src/core/config.* (YAML/JSON loading with locations, typed field parsers) is added below.
include src/core/config.mk
