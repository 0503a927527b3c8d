# Check and action plugins: one shared object each, exporting only fo_plugin_entry.
fo_plugin_link = -module -avoid-version -shared -export-symbols-regex '^fo_plugin_entry$$'
include plugins/postgres.mk
include plugins/redis.mk
include plugins/http.mk
include plugins/tcp.mk
include plugins/jsonrpc.mk
include plugins/exec.mk
