# plugins/tcp
