# src/state: see Makefile.am
