"""TLS on the node: the certificates picked by SNI, the HTTPS listener's handshake, and
the contexts that reach HTTPS upstreams.

A `CertificateTable` is compiled with each config (one server context per certificate)
and chosen from during the handshake by the listener's SNI callback, which reads the
worker's current config: a new connection gets the certificates of the config of the
moment, a connection already open keeps the one it was given. The listener's own
context never changes, so session tickets it issued stay valid across config swaps.

The handshake runs before the proxy protocol exists (`TlsConnection`): when it fails
(a ClientHello that is not one, no common protocol version, no certificate for the
name) or stalls past the header timeout, the connection is closed and counted, and no
proxy state was spent on it. When it succeeds, the TLS transport is handed to a
`DownstreamConnection` that knows it serves HTTPS.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

from fleetgate_pb import config_pb2 as pb

if TYPE_CHECKING:
    from .state import ProxyState

log = logging.getLogger("fleetgate.tls")

DEFAULT_CERTIFICATE = "default"  # served when no SNI name matches (or none was sent)
ALPN = ["http/1.1"]
# Where PEM text is written for the moment `load_cert_chain` reads it (it takes paths
# only): memory-backed when the system has it, readable by this user only either way.
_SCRATCH = "/dev/shm" if os.path.isdir("/dev/shm") else None

# Why a handshake failed, as the metric's `reason` label.
HANDSHAKE_FAILED = "failed"  # not TLS, below TLS 1.2, no certificate for the name, ...
HANDSHAKE_TIMEOUT = "timeout"  # not done within the header timeout


def _with_pem_file(pem: str, load: Callable[[str], None]) -> None:
    """Call `load` with the path of a private file holding `pem`, removed right after."""
    fd, path = tempfile.mkstemp(prefix="fleetgate-", suffix=".pem", dir=_SCRATCH)
    try:
        with os.fdopen(fd, "w") as file:
            file.write(pem)
        load(path)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)


def server_context() -> ssl.SSLContext:
    """A server context as every certificate and the listener use it: TLS 1.2 and 1.3,
    HTTP/1.1 by ALPN, no compression, the server's cipher order."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    context.set_alpn_protocols(ALPN)
    return context


def certificate_context(certificate: pb.Certificate) -> ssl.SSLContext:
    """The server context serving `certificate`; raises ssl.SSLError when it does not load."""
    context = server_context()
    _with_pem_file(certificate.cert + "\n" + certificate.key, context.load_cert_chain)
    return context


@dataclass(slots=True)
class CertificateTable:
    """Server contexts by SNI name: exact names, `*.` wildcards, then `default`."""

    definition: bytes = b""  # the certificates serialized: equal bytes, same table
    exact: dict[str, ssl.SSLContext] = field(default_factory=dict)
    wildcard: dict[str, ssl.SSLContext] = field(default_factory=dict)  # by the parent name
    default: ssl.SSLContext | None = None
    names: dict[int, str] = field(default_factory=dict)  # id(context) -> certificate name

    @classmethod
    def compile(
        cls, certificates: list[pb.Certificate], previous: CertificateTable | None = None
    ) -> CertificateTable:
        """The table of `certificates`; `previous` itself when they are the same ones, so
        that a config change that leaves them alone loads no key again."""
        serialized = [c.SerializeToString(deterministic=True) for c in certificates]
        definition = b"".join(len(s).to_bytes(4, "big") + s for s in serialized)
        if previous is not None and previous.definition == definition:
            return previous
        table = cls(definition)
        for certificate in certificates:
            try:
                context = certificate_context(certificate)
            except (ssl.SSLError, ValueError) as exc:
                raise ValueError(
                    f"certificates.{certificate.name}: does not load ({exc})"
                ) from None
            table.names[id(context)] = certificate.name
            if certificate.name == DEFAULT_CERTIFICATE:
                table.default = context
            for name in certificate.snis:
                if name.startswith("*."):
                    table.wildcard[name[2:]] = context
                else:
                    table.exact[name] = context
        return table

    def choose(self, server_name: str | None) -> ssl.SSLContext | None:
        """The context for a ClientHello naming `server_name` (None: it named none)."""
        if server_name:
            name = server_name.lower().rstrip(".")
            context = self.exact.get(name)
            if context is not None:
                return context
            _, _, parent = name.partition(".")
            context = self.wildcard.get(parent)
            if context is not None:
                return context
        return self.default

    def __repr__(self) -> str:
        return (
            f"<CertificateTable exact={len(self.exact)} wildcard={len(self.wildcard)}"
            f" default={self.default is not None}>"
        )


class HttpsListener:
    """What the worker's HTTPS listener shares: its context and the SNI choice."""

    def __init__(self, state: ProxyState) -> None:
        self.state = state
        self.context = server_context()
        self.context.sni_callback = self._choose
        self.handshaking = 0  # connections in their handshake

    def _choose(
        self, sslobj: ssl.SSLObject, server_name: str | None, _: ssl.SSLContext
    ) -> int | None:
        config = self.state.config
        table = None if config is None else config.certificates
        context = None if table is None else table.choose(server_name)
        if context is None:
            return ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME
        sslobj.context = context
        return None

    def factory(self) -> TlsConnection:
        return TlsConnection(self)

    def __repr__(self) -> str:
        return f"<HttpsListener handshaking={self.handshaking}>"


class TlsConnection(asyncio.Protocol):
    """An accepted HTTPS connection until its handshake is done; then the proxy's.

    The event loop runs the handshake and calls `connection_made` once it succeeded,
    when the transport is handed to a `DownstreamConnection`. A handshake that fails
    or times out never gets that far: the loop closes the connection and drops this
    object, which counts it then. It holds no reference cycle, so that happens at once.
    """

    __slots__ = ("done", "listener", "started")

    def __init__(self, listener: HttpsListener) -> None:
        self.listener = listener
        self.started = listener.state.loop.time()
        self.done = False
        listener.handshaking += 1

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        from .core import DownstreamConnection

        self.done = True
        listener = self.listener
        listener.handshaking -= 1
        state = listener.state
        state.metrics.tls_handshakes += 1
        connection = DownstreamConnection(state, https=True)
        transport.set_protocol(cast(asyncio.Protocol, connection))
        connection.connection_made(transport)

    def __del__(self) -> None:
        if self.done:
            return
        listener = self.listener
        listener.handshaking -= 1
        state = listener.state
        timed_out = state.loop.time() - self.started >= state.limits.header_timeout
        reason = HANDSHAKE_TIMEOUT if timed_out else HANDSHAKE_FAILED
        failures = state.metrics.tls_handshake_failures
        failures[reason] = failures.get(reason, 0) + 1

    def __repr__(self) -> str:
        return f"<TlsConnection done={self.done}>"


# ---------------------------------------------------------------- upstreams


def upstream_context(tls: pb.UpstreamTls) -> ssl.SSLContext:
    """The client context reaching a service's targets: verify against `ca` (the system
    store when empty) unless `verify` is off, with the client pair for mutual TLS."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(ALPN)
    if tls.verify:
        if tls.ca:
            context.load_verify_locations(cadata=tls.ca)
        else:
            context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    else:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if tls.client_cert:
        _with_pem_file(tls.client_cert + "\n" + tls.client_key, context.load_cert_chain)
    return context
