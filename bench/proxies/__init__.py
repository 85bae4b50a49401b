"""The Python peers: reverse proxies written the way Python teams commonly write them."""
