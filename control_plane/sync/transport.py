"""The gRPC listener of config sync: plaintext on loopback, else TLS with client certificates."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import grpc
from fleetgate_pb import sync_pb2_grpc as pb_grpc

from data_plane.config.syntax import is_loopback
from data_plane.sync.contract import TlsFiles, read_node_message, read_tls_files

from .wire import control_message_bytes

log = logging.getLogger("fleetgate.sync")

SERVER_OPTIONS = (
    # Nodes ping every 30 s to notice a vanished control plane; allow it.
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    # And notice vanished nodes: ping a silent connection every 60 s.
    ("grpc.keepalive_time_ms", 60_000),
    ("grpc.keepalive_timeout_ms", 20_000),
)


class TransportError(ValueError):
    """The listener cannot be set up as asked; the message names the flag."""


@dataclass(frozen=True, slots=True)
class ServerTls:
    """PEM bytes of the control plane's certificate and key, and the CA nodes must chain to."""

    cert: bytes = field(repr=False)
    key: bytes = field(repr=False)
    ca: bytes = field(repr=False)

    @classmethod
    def from_files(cls, cert: str | None, key: str | None, ca: str | None) -> ServerTls | None:
        try:
            files = read_tls_files(
                cert,
                key,
                ca,
                together="the sync stream's TLS needs --tls-cert, --tls-key and --tls-ca"
                " (the CA of the node certificates) together",
            )
        except ValueError as exc:
            raise TransportError(str(exc)) from None
        if files is None:
            return None
        _check_pem(files)
        return cls(files.cert, files.key, files.ca)

    def credentials(self) -> grpc.ServerCredentials:
        return grpc.ssl_server_credentials(
            [(self.key, self.cert)], root_certificates=self.ca, require_client_auth=True
        )


def _check_pem(files: TlsFiles) -> None:
    """Refuse unreadable PEM at start, not at the first node's handshake."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    for flag, pem in (("--tls-cert", files.cert), ("--tls-ca", files.ca)):
        try:
            x509.load_pem_x509_certificates(pem)
        except ValueError:
            raise TransportError(f"{flag}: not a PEM certificate") from None
    try:
        serialization.load_pem_private_key(files.key, password=None)
    except (ValueError, TypeError):
        raise TransportError("--tls-key: not an unencrypted PEM private key") from None


def _config_sync_handler(servicer: pb_grpc.ConfigSyncServicer) -> grpc.GenericRpcHandler:
    """The generated registration, but reading node messages with a deserializer that
    never raises: bytes that do not parse end that stream with INVALID_ARGUMENT and a
    reason, instead of gRPC's bare UNKNOWN."""
    stream = grpc.stream_stream_rpc_method_handler(
        servicer.Stream,
        request_deserializer=read_node_message,
        response_serializer=control_message_bytes,
    )
    return grpc.method_handlers_generic_handler("fleetgate.v1.ConfigSync", {"Stream": stream})


def plaintext_warning(listen: str) -> str | None:
    """What to warn about when the stream runs without TLS on `listen`."""
    if is_loopback(listen):
        return None
    return (
        f"config sync listens on {listen} in plaintext: the cluster token and every snapshot"
        " cross the network unencrypted; use --tls-cert, --tls-key and --tls-ca"
        " (fleetgate certs makes them)"
    )


def sync_server(
    servicer: pb_grpc.ConfigSyncServicer, listen: str, tls: ServerTls | None
) -> tuple[grpc.aio.Server, int]:
    """A grpc.aio server with `servicer` bound to `listen`; returns it and the bound port."""
    server = grpc.aio.server(options=SERVER_OPTIONS)
    server.add_generic_rpc_handlers((_config_sync_handler(servicer),))
    try:
        if tls is not None:
            port = server.add_secure_port(listen, tls.credentials())
        else:
            warning = plaintext_warning(listen)
            if warning:
                log.warning("%s", warning)
            port = server.add_insecure_port(listen)
    except RuntimeError as exc:
        raise TransportError(f"--sync-listen {listen}: cannot listen: {exc}") from None
    return server, port
