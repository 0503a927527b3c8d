# plugins/http
