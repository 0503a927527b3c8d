# src/peer: the authenticated transport between agents (frame.c: wire protocol, no I/O;
# peer.c: libuv TCP transport).
noinst_LTLIBRARIES += libfo_peer.la
libfo_peer_la_SOURCES = src/peer/frame.h src/peer/frame.c src/peer/peer.h src/peer/peer.c
libfo_peer_la_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS)
libfo_peer_la_LIBADD = $(UV_LIBS) $(CRYPTO_LIBS)

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_peer_frame tests/unit/test_peer
TESTS += tests/unit/test_peer_frame tests/unit/test_peer
tests_unit_test_peer_frame_SOURCES = tests/unit/test_peer_frame.c
tests_unit_test_peer_frame_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(CRYPTO_CFLAGS)
tests_unit_test_peer_frame_LDADD = libfo_peer.la libfo_core.la $(CMOCKA_LIBS) $(CRYPTO_LIBS)
tests_unit_test_peer_SOURCES = tests/unit/test_peer.c
tests_unit_test_peer_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(CRYPTO_CFLAGS)
tests_unit_test_peer_LDADD = libfo_peer.la libfo_core.la $(CMOCKA_LIBS) $(UV_LIBS) $(CRYPTO_LIBS)
endif
