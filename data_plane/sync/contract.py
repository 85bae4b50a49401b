"""What both ends of the ConfigSync stream agree on, written once.

The metadata names, the shape of a node id and of a label, `SnapshotRef`, how the TLS
flags are read, and the bounds of every message a node sends. The control plane
checks each `NodeMessage` with `node_message_problem` before anything of it reaches
its inventory (a uint64 from the wire does not fit a BIGINT column, NaN does not fit
a JSON answer): a message out of bounds ends that node's stream with
INVALID_ARGUMENT, and no other node is affected.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from fleetgate_pb import sync_pb2 as pb
from google.protobuf.message import DecodeError

from data_plane.config.syntax import is_loopback

# The node's metadata: the cluster token, as `bearer` writes it.
AUTHORIZATION_HEADER = "authorization"
# Initial metadata of an accepted stream: the node knows it is connected even when it
# holds the latest release already and no push follows.
ACCEPTED_HEADER = "fleetgate-accepted-node"
OUTLOOK_HEADER = "fleetgate-outlook"  # push | current | rejected | empty

NODE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}")
LABEL_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,62}")
CAPABILITY = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
HASH = re.compile(r"[0-9a-f]{64}")
NONCE = re.compile(r"[0-9A-Za-z_-]{1,64}")
MAX_LABELS = 64
MAX_LABEL_VALUE = 256
MAX_CAPABILITIES = 256
MAX_SOFTWARE_VERSION = 64
MAX_ADDRESS = 300
MAX_ERROR = 64 * 1024  # a NACK's reason as sent; the inventory keeps its first 4,000
MAX_VERSION = 2**63 - 1  # versions and counters land in BIGINT columns
MAX_SECONDS = 10 * 365 * 86_400.0
MAX_SLOTS = 2
MAX_TARGETS_REPORTED = 1000  # targets in one status report
BREAKER_STATES = frozenset({"", "closed", "open", "half_open"})
# Snapshots of 10,000 routes run to megabytes; gRPC's default cap is 4 MiB.
MAX_SNAPSHOT_BYTES = 256 * 1024 * 1024
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # tab and line feed pass: it is prose


@dataclass(frozen=True, slots=True)
class SnapshotRef:
    """A snapshot named by what identifies it on both sides of the sync stream."""

    version: int
    hash: str

    def __str__(self) -> str:
        return f"v{self.version} ({self.hash[:12]})"


# ---------------------------------------------------------------- reading a message


@dataclass(frozen=True, slots=True)
class Unreadable:
    """Bytes from the stream that are not a NodeMessage (bad wire format, bad UTF-8)."""

    reason: str


def read_node_message(data: bytes) -> pb.NodeMessage | Unreadable:
    """The control plane's deserializer: never raises, so the stream can say what broke."""
    try:
        return pb.NodeMessage.FromString(data)
    except (DecodeError, ValueError) as exc:
        return Unreadable(f"a message does not parse: {exc}")


# ---------------------------------------------------------------- bounds


def node_message_problem(message: pb.NodeMessage) -> str | None:
    """Why `message` breaks the stream's bounds, or None."""
    kind = message.WhichOneof("msg")
    if kind == "hello":
        return hello_problem(message.hello)
    if kind == "ack":
        return _ack_problem(message.ack)
    if kind == "nack":
        return _nack_problem(message.nack)
    if kind == "status":
        return _status_problem(message.status)
    return None


def hello_problem(hello: pb.Hello) -> str | None:
    if not NODE_ID.fullmatch(hello.node_id):
        return "hello.node_id must be 1 to 128 characters of letters, digits and . _ : @ -"
    if len(hello.labels) > MAX_LABELS:
        return f"hello.labels: at most {MAX_LABELS}"
    for key, value in hello.labels.items():
        if not LABEL_KEY.fullmatch(key):
            return f"hello.labels: {key[:64]!r} is not a label key"
        if len(value) > MAX_LABEL_VALUE or _CONTROL.search(value) or "\n" in value:
            return f"hello.labels.{key}: one line of at most {MAX_LABEL_VALUE} characters"
    if (
        len(hello.software_version) > MAX_SOFTWARE_VERSION
        or not hello.software_version.isprintable()
    ):
        return f"hello.software_version: at most {MAX_SOFTWARE_VERSION} printable characters"
    if len(hello.capabilities) > MAX_CAPABILITIES:
        return f"hello.capabilities: at most {MAX_CAPABILITIES}"
    for capability in hello.capabilities:
        if not CAPABILITY.fullmatch(capability):
            return f"hello.capabilities: {capability[:64]!r} is not a capability name"
    if len(hello.address) > MAX_ADDRESS or not hello.address.isprintable():
        return f"hello.address: at most {MAX_ADDRESS} printable characters"
    return _ref_problem(hello.active, "hello.active") or _ref_problem(
        hello.candidate, "hello.candidate"
    )


def _ref_problem(ref: pb.SnapshotRef, where: str) -> str | None:
    if ref.version > MAX_VERSION:
        return f"{where}.version: at most {MAX_VERSION}"
    if ref.hash and not HASH.fullmatch(ref.hash):
        return f"{where}.hash: 64 lower-case hex digits"
    return None


def _ack_problem(ack: pb.Ack) -> str | None:
    if not NONCE.fullmatch(ack.nonce):
        return "ack.nonce: 1 to 64 letters, digits, _ or -"
    if not _in_range(ack.apply_seconds, MAX_SECONDS):
        return "ack.apply_seconds: a number of seconds, 0 or more"
    return _ref_problem(ack.snapshot, "ack.snapshot")


def _nack_problem(nack: pb.Nack) -> str | None:
    if not NONCE.fullmatch(nack.nonce):
        return "nack.nonce: 1 to 64 letters, digits, _ or -"
    if len(nack.error) > MAX_ERROR or _CONTROL.search(nack.error):
        return f"nack.error: at most {MAX_ERROR} characters, without control characters"
    return _ref_problem(nack.snapshot, "nack.snapshot")


def _status_problem(status: pb.NodeStatus) -> str | None:
    if status.open_connections > MAX_VERSION:
        return f"status.open_connections: at most {MAX_VERSION}"
    if not _in_range(status.uptime_seconds, MAX_SECONDS):
        return "status.uptime_seconds: a number of seconds, 0 or more"
    if len(status.slots) > MAX_SLOTS:
        return f"status.slots: at most {MAX_SLOTS}"
    if len(status.targets) > MAX_TARGETS_REPORTED:
        return f"status.targets: at most {MAX_TARGETS_REPORTED}"
    for i, target in enumerate(status.targets):
        where = f"status.targets.{i}"
        if len(target.service) > MAX_LABEL_VALUE or not target.service.isprintable():
            return f"{where}.service: at most {MAX_LABEL_VALUE} printable characters"
        if len(target.address) > MAX_ADDRESS or not target.address.isprintable():
            return f"{where}.address: at most {MAX_ADDRESS} printable characters"
        if target.breaker not in BREAKER_STATES:
            return f"{where}.breaker: one of closed, open, half_open or empty"
    for i, slot in enumerate(status.slots):
        where = f"status.slots.{i}"
        problem = _ref_problem(slot.snapshot, f"{where}.snapshot")
        if problem is not None:
            return problem
        if slot.requests > MAX_VERSION:
            return f"{where}.requests: at most {MAX_VERSION}"
        if not _in_range(slot.error_rate, 1.0):
            return f"{where}.error_rate: a share from 0 to 1"
        for name in ("request_rate", "p50_ms", "p99_ms"):
            if not _in_range(getattr(slot, name), 1e12):
                return f"{where}.{name}: a finite number, 0 or more"
    return None


def _in_range(value: float, top: float) -> bool:
    return math.isfinite(value) and 0.0 <= value <= top


# ---------------------------------------------------------------- the cluster token

# Tokens that a default install, a tutorial or a lazy operator might use.
WEAK_TOKENS = frozenset({"admin", "changeme", "fleetgate", "password", "secret", "test", "token"})
MIN_TOKEN_LENGTH = 16


def is_weak_token(token: str) -> bool:
    """Shorter than 16 characters, or a word anyone would try first."""
    return len(token) < MIN_TOKEN_LENGTH or token.lower() in WEAK_TOKENS


# A control plane accepts `NEW,OLD` while the cluster token is rotated; a node sends one.
MAX_CLUSTER_TOKENS = 2


def cluster_tokens(value: str) -> tuple[str, ...]:
    """The tokens a control plane's `--cluster-token` accepts: one, or `NEW,OLD`.

    Raises ValueError saying what is wrong: an empty item, whitespace, more than two.
    """
    tokens = tuple(value.split(","))
    if len(tokens) > MAX_CLUSTER_TOKENS:
        raise ValueError(
            f"at most {MAX_CLUSTER_TOKENS} cluster tokens (NEW,OLD during a rotation),"
            f" got {len(tokens)}"
        )
    for token in tokens:
        if not token or any(c.isspace() for c in token):
            raise ValueError("a cluster token may not be empty or hold whitespace")
    return tokens


def bearer(token: str) -> str:
    """The value of AUTHORIZATION_HEADER that presents the cluster token `token`."""
    return f"Bearer {token}"


def weak_token_problem(token: str, addresses: tuple[str, ...]) -> tuple[bool, str | None]:
    """(refused, what to say) about the cluster token (or `NEW,OLD`) used on `addresses`.

    A weak token is refused when the stream leaves the machine, and warned about when
    every address is loopback (a laptop, a test): nobody else can reach it there.
    """
    if not any(is_weak_token(one) for one in token.split(",")):
        return False, None
    refused = not all(is_loopback(address) for address in addresses)
    where = "off this machine" if refused else "on loopback only"
    return refused, (
        f"the cluster token is weak (shorter than {MIN_TOKEN_LENGTH} characters or a"
        f" well-known word) and the sync stream runs {where}: use a long random token"
    )


# ---------------------------------------------------------------- TLS files

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
