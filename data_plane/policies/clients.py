"""Who the client is: the socket's peer, or what trusted proxies say it is.

A node behind a load balancer sees the balancer as its peer. When the peer is one of
the node's trusted proxies (`--trusted-proxies`, default `FLEETGATE_TRUSTED_PROXIES`:
CIDRs separated by commas; the node hands the checked value to its workers in that
variable),
the client is the right-most `X-Forwarded-For` entry that is not itself a trusted
proxy: entries further left were written by whoever sent the request and prove
nothing. An entry that is not an address ends the walk at the proxy that passed it on.
The IP filter and rate limits by client address key on this one answer (`Call.client`).
"""

from __future__ import annotations

import os
from functools import cache
from ipaddress import IPv4Address, IPv6Address, ip_address

from data_plane.config.syntax import Network, parse_networks

TRUSTED_PROXIES_VARIABLE = "FLEETGATE_TRUSTED_PROXIES"
MAX_HOPS = 32  # X-Forwarded-For entries looked at, from the right
CACHE_SIZE = 4096  # peers and X-Forwarded-For values remembered; forgotten all at once
Address = IPv4Address | IPv6Address


def parse_address(text: str) -> Address | None:
    """An address as a peer or a forwarded entry gives it, IPv4-mapped IPv6 unwrapped."""
    text = text.strip()
    if text.startswith("[") and "]" in text:
        text = text[1 : text.index("]")]  # "[::1]:8080" as some proxies write it
    try:
        address = ip_address(text)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def parse_trusted_proxies(
    value: str, source: str = TRUSTED_PROXIES_VARIABLE
) -> tuple[Network, ...]:
    """CIDRs separated by commas, as `--trusted-proxies` takes them; raises ValueError
    naming `source`."""
    items = [item for item in value.split(",") if item.strip()]
    return parse_networks(items, source)


class ClientAddresses:
    """Resolves `Call.client` from the peer and X-Forwarded-For."""

    __slots__ = ("_forwarded", "_peers", "networks")

    def __init__(self, networks: tuple[Network, ...]) -> None:
        self.networks = networks
        self._peers: dict[str, bool] = {}  # peer -> trusted; bounded
        # X-Forwarded-For value -> the client it names (None: the peer); bounded. Behind a
        # load balancer the same few values repeat, and parsing one costs microseconds.
        self._forwarded: dict[bytes, str | None] = {}

    def trusted(self, address: Address) -> bool:
        return any(address in network for network in self.networks)

    def client(self, peer: str, forwarded_for: bytes | None) -> str:
        """The client address policies see for a request from `peer`."""
        trusted = self._peers.get(peer)
        if trusted is None:
            address = parse_address(peer)
            trusted = address is not None and self.trusted(address)
            if len(self._peers) >= CACHE_SIZE:
                self._peers.clear()
            self._peers[peer] = trusted
        if not trusted or not forwarded_for:
            return peer
        forwarded = self._forwarded
        if forwarded_for in forwarded:
            client = forwarded[forwarded_for]
        else:
            if len(forwarded) >= CACHE_SIZE:
                forwarded.clear()
            client = forwarded[forwarded_for] = self._walk(forwarded_for)
        return peer if client is None else client

    def _walk(self, forwarded_for: bytes) -> str | None:
        """The right-most entry that is not a trusted proxy (the left-most when all are);
        None when the right-most entry is not an address (the peer is then the client)."""
        client = None
        for entry in reversed(forwarded_for.split(b",")[-MAX_HOPS:]):
            address = parse_address(entry.decode("latin-1"))
            if address is None:
                return client
            client = str(address)
            if not self.trusted(address):
                return client
        return client  # every hop trusted: the left-most one

    def __repr__(self) -> str:
        return f"<ClientAddresses trusted={[str(n) for n in self.networks]}>"


@cache
def node_client_addresses() -> ClientAddresses | None:
    """This node's trusted proxies, from its environment; None when it trusts none.

    The node checks `--trusted-proxies` when it starts (`NodeSettings`) and sets the
    variable to what it checked, so a bad value never gets this far."""
    value = os.environ.get(TRUSTED_PROXIES_VARIABLE, "")
    networks = parse_trusted_proxies(value)
    return ClientAddresses(networks) if networks else None
