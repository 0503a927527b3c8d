# plugins/jsonrpc
