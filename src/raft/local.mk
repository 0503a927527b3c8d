# src/raft: the pure Raft core and its message codec (this block), and its durable storage
# (io.mk), one convenience library.
noinst_LTLIBRARIES += libfo_raft.la
libfo_raft_la_SOURCES = src/raft/entry.h src/raft/raft.h src/raft/raft_int.h src/raft/raft.c \
	src/raft/raft_log.c src/raft/raft_elect.c src/raft/raft_repl.c src/raft/msg.h src/raft/msg.c

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_raft_msg
TESTS += tests/unit/test_raft_msg
tests_unit_test_raft_msg_SOURCES = tests/unit/test_raft_msg.c
tests_unit_test_raft_msg_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_raft_msg_LDADD = libfo_raft.la libfo_core.la $(CMOCKA_LIBS) $(UV_LIBS)
endif

include src/raft/io.mk
