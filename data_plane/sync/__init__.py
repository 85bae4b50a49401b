"""The node's end of config sync: the stream client and the on-disk snapshot cache.

`client` keeps one ConfigSync stream open to a control-plane replica, applies what it
is pushed through the node and answers ACK or NACK; `cache` keeps the last applied
snapshot on disk so a node restarted while the control plane is away still serves;
`backoff`, `identity` and `settings` are the small pieces around them.
"""
