# plugins/postgres
