"""The data-plane flags of config sync, checked once: every mistake names its flag.

Two timings have no flag, like the proxy's limits: the status report interval (10 s, as
DESIGN's rule 8 says) and the reconnect backoff's cap (10 s). An operator (or a test
that must not wait that long) sets FLEETGATE_STATUS_INTERVAL or
FLEETGATE_RECONNECT_MAX_DELAY, in seconds.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from data_plane.config.syntax import parse_host_port

from .backoff import BASE_DELAY, MAX_DELAY
from .contract import TLS_FLAGS, TlsFiles, read_tls_files, weak_token_problem
from .identity import node_id, parse_labels

STATUS_INTERVAL = 10.0
CONNECT_TIMEOUT = 5.0
STATUS_INTERVAL_VARIABLE = "FLEETGATE_STATUS_INTERVAL"
RECONNECT_MAX_DELAY_VARIABLE = "FLEETGATE_RECONNECT_MAX_DELAY"


class SyncSettingsError(ValueError):
    """A config-sync flag is missing or wrong; the message names the flag."""


@dataclass(frozen=True, slots=True)
class SyncSettings:
    addresses: tuple[str, ...]
    cluster_token: str = field(repr=False)
    node_id: str
    labels: dict[str, str]
    address: str  # the proxy's listen address, reported in the hello
    cache_dir: str
    tls: TlsFiles | None = None
    token_warning: str | None = None  # a weak token, allowed on loopback
    status_interval: float = STATUS_INTERVAL
    connect_timeout: float = CONNECT_TIMEOUT
    reconnect_max_delay: float = MAX_DELAY

    @classmethod
    def from_args(
        cls, args: argparse.Namespace, environ: Mapping[str, str] | None = None
    ) -> SyncSettings:
        """Settings from the `data-plane` flags (and the two timing variables); raises
        SyncSettingsError naming the flag."""
        environ = os.environ if environ is None else environ
        addresses = parse_addresses(args.control_plane or "")
        if not args.cluster_token:
            raise SyncSettingsError(
                "--cluster-token (or FLEETGATE_CLUSTER_TOKEN) is required with --control-plane:"
                " it is the shared secret the control plane checks"
            )
        if "," in args.cluster_token:
            raise SyncSettingsError(
                "--cluster-token: a node sends one token; NEW,OLD is for control planes"
                " while the token is rotated"
            )
        refused, problem = weak_token_problem(args.cluster_token, addresses)
        if refused:
            raise SyncSettingsError(f"--cluster-token: {problem}")
        try:
            identity = node_id(args.node_id, args.listen)
            labels = parse_labels(args.label or [])
        except ValueError as exc:
            raise SyncSettingsError(str(exc)) from None
        return cls(
            addresses=addresses,
            cluster_token=args.cluster_token,
            node_id=identity,
            labels=labels,
            address=args.listen,
            cache_dir=args.cache_dir,
            tls=load_tls(args.tls_cert, args.tls_key, args.tls_ca),
            token_warning=problem,
            status_interval=_seconds(environ, STATUS_INTERVAL_VARIABLE, STATUS_INTERVAL, 0.1),
            reconnect_max_delay=_seconds(
                environ, RECONNECT_MAX_DELAY_VARIABLE, MAX_DELAY, BASE_DELAY
            ),
        )


def _seconds(environ: Mapping[str, str], variable: str, default: float, least: float) -> float:
    """Seconds from `variable` (`least` to an hour), `default` when unset; raises
    SyncSettingsError."""
    raw = environ.get(variable)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SyncSettingsError(f"{variable}: {raw[:32]!r} is not a number of seconds") from None
    if not least <= value <= 3600:
        raise SyncSettingsError(f"{variable}: must be from {least:g} to 3600 seconds, got {raw!r}")
    return value


def parse_addresses(value: str) -> tuple[str, ...]:
    """`--control-plane host:port[,host:port...]`: any replica will do."""
    addresses = tuple(part.strip() for part in value.split(",") if part.strip())
    if not addresses:
        raise SyncSettingsError("--control-plane: give HOST:PORT (or several, comma-separated)")
    for address in addresses:
        try:
            parse_host_port(address)
        except ValueError as exc:
            raise SyncSettingsError(f"--control-plane: {address[:64]!r}: {exc}") from None
    return addresses


def load_tls(cert: str | None, key: str | None, ca: str | None) -> TlsFiles | None:
    """All three TLS flags, or none: the control plane requires a client certificate."""
    try:
        files = read_tls_files(
            cert, key, ca, together="TLS needs --tls-cert, --tls-key and --tls-ca together"
        )
    except ValueError as exc:
        raise SyncSettingsError(str(exc)) from None
    if files is not None:
        for flag, path, pem in zip(TLS_FLAGS, (cert, key, ca), files, strict=True):
            if b"-----BEGIN " not in pem:
                raise SyncSettingsError(f"{flag}: {path} is not a PEM file")
    return files
