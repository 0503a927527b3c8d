# src/raft: see Makefile.am
