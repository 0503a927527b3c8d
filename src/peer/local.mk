# src/peer: see Makefile.am
