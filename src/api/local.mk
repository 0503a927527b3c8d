# src/api: see Makefile.am
