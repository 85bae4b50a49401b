"""The ports tests listen on: never in the kernel's ephemeral range, never handed out twice."""

from __future__ import annotations

import socket

from tests.conftest import _EPHEMERAL_LOW, free_port


def test_ports_are_below_the_ephemeral_range_and_distinct() -> None:
    ports = [free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)
    assert all(1024 < port < _EPHEMERAL_LOW for port in ports)


def test_a_port_something_is_bound_to_is_not_handed_out() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
        sock.listen(1)
        assert port not in {free_port() for _ in range(200)}
