# src/check: see Makefile.am
