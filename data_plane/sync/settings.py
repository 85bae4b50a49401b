"""The data-plane flags of config sync, checked once: every mistake names its flag."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

from .identity import node_id, parse_labels

STATUS_INTERVAL = 10.0
CONNECT_TIMEOUT = 5.0


class SyncSettingsError(ValueError):
    """A config-sync flag is missing or wrong; the message names the flag."""


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """PEM bytes of the node's client certificate, its key and the control plane's CA."""

    cert: bytes = field(repr=False)
    key: bytes = field(repr=False)
    ca: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class SyncSettings:
    addresses: tuple[str, ...]
    cluster_token: str = field(repr=False)
    node_id: str
    labels: dict[str, str]
    address: str  # the proxy's listen address, reported in the hello
    cache_dir: str
    tls: TlsFiles | None = None
    status_interval: float = STATUS_INTERVAL
    connect_timeout: float = CONNECT_TIMEOUT

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> SyncSettings:
        """Settings from the `data-plane` flags; raises SyncSettingsError naming the flag."""
        addresses = parse_addresses(args.control_plane or "")
        if not args.cluster_token:
            raise SyncSettingsError(
                "--cluster-token (or FLEETGATE_CLUSTER_TOKEN) is required with --control-plane:"
                " it is the shared secret the control plane checks"
            )
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
        )


def parse_addresses(value: str) -> tuple[str, ...]:
    """`--control-plane host:port[,host:port...]`: any replica will do."""
    addresses = tuple(part.strip() for part in value.split(",") if part.strip())
    if not addresses:
        raise SyncSettingsError("--control-plane: give HOST:PORT (or several, comma-separated)")
    for address in addresses:
        host, sep, port = address.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65_536:
            raise SyncSettingsError(f"--control-plane: {address!r} is not HOST:PORT")
    return addresses


def load_tls(cert: str | None, key: str | None, ca: str | None) -> TlsFiles | None:
    """All three TLS flags, or none: the control plane requires a client certificate."""
    given = {"--tls-cert": cert, "--tls-key": key, "--tls-ca": ca}
    if not any(given.values()):
        return None
    missing = [flag for flag, path in given.items() if not path]
    if missing:
        raise SyncSettingsError(
            f"{', '.join(missing)} missing: TLS needs --tls-cert, --tls-key and --tls-ca together"
        )
    contents = {}
    for flag, path in given.items():
        try:
            contents[flag] = Path(path or "").read_bytes()
        except OSError as exc:
            raise SyncSettingsError(f"{flag}: cannot read {path}: {exc.strerror}") from None
        if b"-----BEGIN " not in contents[flag]:
            raise SyncSettingsError(f"{flag}: {path} is not a PEM file")
    return TlsFiles(contents["--tls-cert"], contents["--tls-key"], contents["--tls-ca"])
