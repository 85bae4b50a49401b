"""An Upgrade tunnel: after a 101, bytes flow both ways untouched until both sides end.

The switch is a change of protocol, as uvicorn does it for websockets: both transports
get a `TunnelEnd` with `transport.set_protocol`, and the HTTP protocols that read them
until then hear nothing more but the end of their transport (each end passes its
`connection_lost` on), so the connection counts, the pool's count and the exchange are
settled where they always are. Half-close travels through: an end that reads EOF
writes EOF to the other side and keeps the connection until the other side has
finished too. Each side reads only as fast as the other side's transport takes the
bytes.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from .flow import LOW_WATER


class Replaced(Protocol):
    """The HTTP protocol a tunnel end takes over from: told when the transport closes."""

    def connection_lost(self, exc: Exception | None) -> None: ...


class TunnelEnd(asyncio.Protocol):
    """One side of a tunnel: what arrives here is written to the other side."""

    __slots__ = ("eof", "peer", "replaced", "transport")

    def __init__(self, transport: asyncio.Transport, replaced: Replaced) -> None:
        self.transport = transport
        self.replaced = replaced  # the HTTP protocol this end took over from
        self.peer: TunnelEnd = self
        self.eof = False  # this side will send nothing more

    def data_received(self, data: bytes) -> None:
        self.peer.transport.write(data)

    def eof_received(self) -> bool:
        self.eof = True
        peer = self.peer
        if peer.eof or not peer.transport.can_write_eof():
            return False  # both sides are done: close, and connection_lost closes the other
        peer.transport.write_eof()
        return True

    def pause_writing(self) -> None:
        # This side reads slower than the other sends: stop reading the other side.
        peer = self.peer.transport
        if not peer.is_closing():
            peer.pause_reading()

    def resume_writing(self) -> None:
        peer = self.peer.transport
        if not peer.is_closing():
            peer.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.peer.transport.close()  # after what is buffered for it
        self.replaced.connection_lost(exc)

    def __repr__(self) -> str:
        return f"<TunnelEnd for {type(self.replaced).__name__} eof={self.eof}>"


def open_tunnel(
    client: asyncio.Transport,
    client_protocol: Replaced,
    upstream: asyncio.Transport,
    upstream_protocol: Replaced,
) -> TunnelEnd:
    """Switch both transports to a tunnel between them; returns the client's end."""
    client_end = TunnelEnd(client, client_protocol)
    upstream_end = TunnelEnd(upstream, upstream_protocol)
    client_end.peer = upstream_end
    upstream_end.peer = client_end
    client.set_protocol(client_end)
    upstream.set_protocol(upstream_end)
    # Each side was read at the HTTP protocols' pace; read it now unless the other side
    # still holds more than the low-water mark (its resume_writing will come here then).
    for transport, peer in ((client, upstream), (upstream, client)):
        if (
            not transport.is_closing()
            and not transport.is_reading()
            and peer.get_write_buffer_size() <= LOW_WATER
        ):
            transport.resume_reading()
    return client_end
