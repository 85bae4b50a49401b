"""The proxies the bench compares, by name, nginx first: it is the reference."""

from __future__ import annotations

from bench.peers.base import Peer
from bench.peers.fleetgate import FLEETGATE, FLEETGATE_PURE
from bench.peers.haproxy import HaproxyPeer
from bench.peers.nginx import NginxPeer
from bench.peers.python_proxies import AIOHTTP, BARE, FASTAPI

REFERENCE = "nginx"
PEERS: dict[str, Peer] = {
    peer.name: peer
    for peer in (NginxPeer(), FLEETGATE, FLEETGATE_PURE, HaproxyPeer(), BARE, AIOHTTP, FASTAPI)
}
