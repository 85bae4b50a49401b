"""Config sync: versioned snapshots streamed over gRPC to data-plane nodes.

`cache` holds the latest release per slot (no gRPC, no SQL), `session` decides what one
node is sent next (no I/O), `service` is the grpc.aio ConfigSync servicer (no SQL),
`watcher` learns of new releases from the store, `inventory` keeps the node inventory
in SQL, and `server` wires them together on `--sync-listen`.
"""
