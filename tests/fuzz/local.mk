# Fuzz targets: ./configure CC=clang --enable-fuzz --enable-sanitizers && make fuzz-targets
# Each target is a libFuzzer program; add it (inside the `if ENABLE_FUZZ` block below) with:
#   EXTRA_PROGRAMS += tests/fuzz/fuzz_x
#   FUZZ_TARGETS += tests/fuzz/fuzz_x
#   tests_fuzz_fuzz_x_SOURCES = tests/fuzz/fuzz_x.c
#   tests_fuzz_fuzz_x_CFLAGS = $(AM_CFLAGS) $(fo_fuzz_cflags)
#   tests_fuzz_fuzz_x_LDFLAGS = $(AM_LDFLAGS) $(fo_fuzz_ldflags)
#   tests_fuzz_fuzz_x_LDADD = libfo_x.la libfo_core.la ...
FUZZ_TARGETS =
fo_fuzz_cflags = -fsanitize=fuzzer-no-link
fo_fuzz_ldflags = -fsanitize=fuzzer
if ENABLE_FUZZ
# --- targets (appended by each part) ---
# Configuration loader: its sources are compiled in here so that they carry the fuzzer's
# coverage instrumentation (libfo_core.la gives the rest).
EXTRA_PROGRAMS += tests/fuzz/fuzz_config
FUZZ_TARGETS += tests/fuzz/fuzz_config
tests_fuzz_fuzz_config_SOURCES = tests/fuzz/fuzz_config.c src/core/config.c src/core/cfgerrs.c \
	src/core/cfgfield.c src/core/cfgread.c src/daemon/agentcfg.c src/check/defs.c
tests_fuzz_fuzz_config_CFLAGS = $(AM_CFLAGS) $(YAML_CFLAGS) $(CRYPTO_CFLAGS) $(fo_fuzz_cflags)
tests_fuzz_fuzz_config_LDFLAGS = $(AM_LDFLAGS) $(fo_fuzz_ldflags)
tests_fuzz_fuzz_config_LDADD = libfo_core.la $(CRYPTO_LIBS) $(JSONC_LIBS) $(YAML_LIBS)
endif
if ENABLE_FUZZ
# Raft log recovery: segment files from fuzz input, then open/read/append/reopen. The storage
# sources are compiled in so that they carry the fuzzer's coverage instrumentation.
EXTRA_PROGRAMS += tests/fuzz/fuzz_log_recover
FUZZ_TARGETS += tests/fuzz/fuzz_log_recover
tests_fuzz_fuzz_log_recover_SOURCES = tests/fuzz/fuzz_log_recover.c src/raft/crc32c.c \
	src/raft/io_meta.c src/raft/io_log.c src/raft/io_log_recover.c
tests_fuzz_fuzz_log_recover_CFLAGS = $(AM_CFLAGS) $(fo_fuzz_cflags)
tests_fuzz_fuzz_log_recover_LDFLAGS = $(AM_LDFLAGS) $(fo_fuzz_ldflags)
tests_fuzz_fuzz_log_recover_LDADD = libfo_core.la $(JSONC_LIBS)
endif
if ENABLE_FUZZ
# Peer wire protocol: HELLO parser, a session before and after its handshake, sealed frames
# with a flipped byte. frame.c is compiled in so that it carries the fuzzer's instrumentation.
EXTRA_PROGRAMS += tests/fuzz/fuzz_frame
FUZZ_TARGETS += tests/fuzz/fuzz_frame
tests_fuzz_fuzz_frame_SOURCES = tests/fuzz/fuzz_frame.c src/peer/frame.c
tests_fuzz_fuzz_frame_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS) $(fo_fuzz_cflags)
tests_fuzz_fuzz_frame_LDFLAGS = $(AM_LDFLAGS) $(fo_fuzz_ldflags)
tests_fuzz_fuzz_frame_LDADD = libfo_core.la $(CRYPTO_LIBS) $(JSONC_LIBS)
endif
if ENABLE_FUZZ
# Raft messages: decode any bytes; what decodes must re-encode to the same bytes and is then
# stepped into a Raft core. The core's sources are compiled in for coverage instrumentation.
EXTRA_PROGRAMS += tests/fuzz/fuzz_raft_msg
FUZZ_TARGETS += tests/fuzz/fuzz_raft_msg
tests_fuzz_fuzz_raft_msg_SOURCES = tests/fuzz/fuzz_raft_msg.c src/raft/msg.c src/raft/raft.c \
	src/raft/raft_log.c src/raft/raft_elect.c src/raft/raft_repl.c
tests_fuzz_fuzz_raft_msg_CFLAGS = $(AM_CFLAGS) $(fo_fuzz_cflags)
tests_fuzz_fuzz_raft_msg_LDFLAGS = $(AM_LDFLAGS) $(fo_fuzz_ldflags)
tests_fuzz_fuzz_raft_msg_LDADD = libfo_core.la $(JSONC_LIBS)
endif
if ENABLE_FUZZ
EXTRA_PROGRAMS += tests/fuzz/fuzz_state
FUZZ_TARGETS += tests/fuzz/fuzz_state
# The state machine and the observation decoder (compiled in for coverage instrumentation).
tests_fuzz_fuzz_state_SOURCES = tests/fuzz/fuzz_state.c src/daemon/obs.c src/state/state.c \
	src/detect/detect.c
tests_fuzz_fuzz_state_CFLAGS = $(AM_CFLAGS) $(fo_fuzz_cflags)
tests_fuzz_fuzz_state_LDFLAGS = $(AM_LDFLAGS) $(fo_fuzz_ldflags)
tests_fuzz_fuzz_state_LDADD = libfo_check.la libfo_core.la \
	$(CURL_LIBS) $(UV_LIBS) $(JSONC_LIBS) -ldl
endif
