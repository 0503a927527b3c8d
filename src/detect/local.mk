# src/detect: the leader's observation matrix and verdicts (pure).
noinst_LTLIBRARIES += libfo_detect.la
libfo_detect_la_SOURCES = src/detect/detect.h src/detect/detect.c
libfo_detect_la_LIBADD = libfo_core.la $(JSONC_LIBS)

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_detect
TESTS += tests/unit/test_detect
tests_unit_test_detect_SOURCES = tests/unit/test_detect.c
tests_unit_test_detect_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_detect_LDADD = libfo_detect.la libfo_core.la $(CMOCKA_LIBS) $(JSONC_LIBS)
endif
