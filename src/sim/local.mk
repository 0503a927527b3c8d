# src/sim: see Makefile.am
