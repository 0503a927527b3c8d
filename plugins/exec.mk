# plugins/exec: runs a Nagios/monitoring-plugins style program (argv, no shell) with uv_spawn.
pkglib_LTLIBRARIES += plugins/exec.la
plugins_exec_la_SOURCES = plugins/exec.c plugins/params.h
plugins_exec_la_CFLAGS = $(AM_CFLAGS)
plugins_exec_la_LDFLAGS = $(fo_plugin_link)
plugins_exec_la_LIBADD = $(UV_LIBS) $(JSONC_LIBS)
