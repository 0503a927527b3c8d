# Raft storage (src/raft/io_*.c, crc32c.c): term/vote file, segmented log, snapshots and the
# libuv thread-pool wrappers. Included from src/raft/local.mk, which defines libfo_raft.la with
# `libfo_raft_la_SOURCES =` before this file. Programs linking libfo_raft.la need $(UV_LIBS).
libfo_raft_la_SOURCES += src/raft/io.h src/raft/io_meta.c src/raft/io_log_int.h \
	src/raft/io_log.c src/raft/io_log_recover.c src/raft/io_snap.c src/raft/io_async.c \
	src/raft/crc32c.h src/raft/crc32c.c

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_raft_io tests/unit/test_raft_io_log
TESTS += tests/unit/test_raft_io tests/unit/test_raft_io_log
tests_unit_test_raft_io_SOURCES = tests/unit/test_raft_io.c tests/unit/raft_io_test.h
tests_unit_test_raft_io_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_raft_io_LDADD = libfo_raft.la libfo_core.la $(CMOCKA_LIBS) $(UV_LIBS)
tests_unit_test_raft_io_log_SOURCES = tests/unit/test_raft_io_log.c tests/unit/raft_io_test.h
tests_unit_test_raft_io_log_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_raft_io_log_LDADD = libfo_raft.la libfo_core.la $(CMOCKA_LIBS) $(UV_LIBS)
endif
