# Configuration loading: YAML/JSON documents with the location of every node (config.c), the
# error collector (cfgerrs.c), the duration/size/secret parsers (cfgfield.c) and the
# table-driven schema reader (cfgread.c).
libfo_core_la_SOURCES += src/core/config.h src/core/config.c src/core/cfgerrs.c \
	src/core/cfgfield.h src/core/cfgfield.c src/core/cfgread.c
