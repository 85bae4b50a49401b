"""The proxies the bench compares, by name, nginx first: it is the reference."""

from __future__ import annotations

from bench.peers.base import Peer
from bench.peers.fleetgate import FleetgatePeer
from bench.peers.haproxy import HaproxyPeer
from bench.peers.nginx import NginxPeer
from bench.peers.python_proxies import AIOHTTP, FASTAPI

REFERENCE = "nginx"
PEERS: dict[str, Peer] = {
    peer.name: peer for peer in (NginxPeer(), FleetgatePeer(), HaproxyPeer(), AIOHTTP, FASTAPI)
}
