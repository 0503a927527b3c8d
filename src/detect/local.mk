# src/detect: see Makefile.am
