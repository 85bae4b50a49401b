"""The HTTP/1.1 proxy: downstream and upstream connection protocols, exchanges, the pool."""
