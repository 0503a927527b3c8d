# src/audit: the hash-chained audit log written from committed entries.
noinst_LTLIBRARIES += libfo_audit.la
libfo_audit_la_SOURCES = src/audit/audit.h src/audit/audit.c
libfo_audit_la_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS)
libfo_audit_la_LIBADD = libfo_core.la $(JSONC_LIBS) $(CRYPTO_LIBS)

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_state_audit
TESTS += tests/unit/test_state_audit
tests_unit_test_state_audit_SOURCES = tests/unit/test_state_audit.c
tests_unit_test_state_audit_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_state_audit_LDADD = libfo_audit.la libfo_state.la libfo_core.la $(CMOCKA_LIBS) \
	$(JSONC_LIBS) $(CRYPTO_LIBS)

check_PROGRAMS += tests/unit/test_audit_gap
TESTS += tests/unit/test_audit_gap
tests_unit_test_audit_gap_SOURCES = tests/unit/test_audit_gap.c
tests_unit_test_audit_gap_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_audit_gap_LDADD = libfo_audit.la libfo_core.la $(CMOCKA_LIBS) $(JSONC_LIBS) \
	$(CRYPTO_LIBS)
endif
