"""The data-plane flags of config sync, checked once: every mistake names its flag."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from data_plane.config.syntax import parse_host_port

from .identity import node_id, parse_labels

STATUS_INTERVAL = 10.0
CONNECT_TIMEOUT = 5.0


class SyncSettingsError(ValueError):
    """A config-sync flag is missing or wrong; the message names the flag."""


TLS_FLAGS = ("--tls-cert", "--tls-key", "--tls-ca")


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """PEM bytes of this end's certificate, its key and the CA the other end chains to."""

    cert: bytes = field(repr=False)
    key: bytes = field(repr=False)
    ca: bytes = field(repr=False)

    def __iter__(self) -> Iterator[bytes]:
        """In the order of TLS_FLAGS."""
        return iter((self.cert, self.key, self.ca))


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


def read_tls_files(
    cert: str | None, key: str | None, ca: str | None, *, together: str
) -> TlsFiles | None:
    """The bytes of the files the three TLS flags name, or None when none is given.

    Either end of the sync stream reads its flags this way; a ValueError names the flag
    that is missing (`together` says what the three are for) or cannot be read.
    """
    given = dict(zip(TLS_FLAGS, (cert, key, ca), strict=True))
    if not any(given.values()):
        return None
    missing = [flag for flag, path in given.items() if not path]
    if missing:
        raise ValueError(f"{', '.join(missing)} missing: {together}")
    contents = []
    for flag, path in given.items():
        try:
            contents.append(Path(path or "").read_bytes())
        except OSError as exc:
            raise ValueError(f"{flag}: cannot read {path}: {exc.strerror}") from None
    return TlsFiles(*contents)
