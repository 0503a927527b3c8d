# config loader sources (src/core/config.c) go here
