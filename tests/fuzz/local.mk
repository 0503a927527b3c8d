# Fuzz targets: ./configure CC=clang --enable-fuzz --enable-sanitizers && make fuzz-targets
# Each target is a libFuzzer program; add it (inside the `if ENABLE_FUZZ` block below) with:
#   EXTRA_PROGRAMS += tests/fuzz/fuzz_x
#   FUZZ_TARGETS += tests/fuzz/fuzz_x
#   tests_fuzz_fuzz_x_SOURCES = tests/fuzz/fuzz_x.c
#   tests_fuzz_fuzz_x_CFLAGS = $(AM_CFLAGS) $(FUZZ_CFLAGS)
#   tests_fuzz_fuzz_x_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)
#   tests_fuzz_fuzz_x_LDADD = libfo_x.la libfo_core.la ...
FUZZ_TARGETS =
FUZZ_CFLAGS = -fsanitize=fuzzer-no-link
FUZZ_LDFLAGS = -fsanitize=fuzzer
if ENABLE_FUZZ
# --- targets (appended by each part) ---
endif
