# Service/member/check definitions built by the configuration: freeing, and "same check" on reload.
libfo_check_la_SOURCES += src/check/defs.c
