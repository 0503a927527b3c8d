# src/sim: deterministic simulation of the Raft core (a library for the unit test, and the
# failoverd-sim program), and the check that it catches re-injected Raft bugs.
noinst_LTLIBRARIES += libfo_sim.la
libfo_sim_la_SOURCES = src/sim/sim.h src/sim/sim_int.h src/sim/sim.c src/sim/sim_check.c \
	src/sim/sim_scen.c src/sim/sim_trace.c

bin_PROGRAMS += failoverd-sim
failoverd_sim_SOURCES = src/sim/main.c
failoverd_sim_LDADD = libfo_sim.la libfo_raft.la libfo_core.la $(UV_LIBS)

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_raft
TESTS += tests/unit/test_raft
tests_unit_test_raft_SOURCES = tests/unit/test_raft.c
tests_unit_test_raft_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_raft_LDADD = libfo_sim.la libfo_raft.la libfo_core.la $(CMOCKA_LIBS) $(UV_LIBS)
endif

# Each known Raft bug, re-injected, must be caught by the simulator (compiles its own builds).
TESTS += tests/raft-faults.sh
EXTRA_DIST += tests/raft-faults.sh
