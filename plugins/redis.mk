# plugins/redis
