# src/audit: see Makefile.am
