# src/raft: the pure Raft core and its durable storage (io.mk), one convenience library.
noinst_LTLIBRARIES += libfo_raft.la
libfo_raft_la_SOURCES =
include src/raft/io.mk
