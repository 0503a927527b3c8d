# plugins/jsonrpc: Ethereum-style JSON-RPC node check (one batch POST on the shared multi handle).
pkglib_LTLIBRARIES += plugins/jsonrpc.la
plugins_jsonrpc_la_SOURCES = plugins/jsonrpc.c plugins/curlpool.h plugins/params.h
plugins_jsonrpc_la_CFLAGS = $(AM_CFLAGS) $(CURL_CFLAGS)
plugins_jsonrpc_la_LDFLAGS = $(fo_plugin_link)
plugins_jsonrpc_la_LIBADD = $(CURL_LIBS) $(UV_LIBS) $(JSONC_LIBS)
