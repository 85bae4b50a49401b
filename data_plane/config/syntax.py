"""Syntax of the names, addresses and header fields a config holds, written once.

The pydantic models check these when a config is written; `validate.py` checks them
again on every snapshot a node loads, from the stream or from its cache, so that what
a node serves never depends on the control plane having been the only writer. A
worker imports this module, never the models: pydantic and the built model classes
would cost each worker process megabytes it never uses.

Every pattern here is used with `fullmatch`: `re.match` with a `$` anchor accepts a
trailing line feed ("X-A\\n"), which is how a header name smuggles a line break.
"""

from __future__ import annotations

import ipaddress
import re
from ipaddress import IPv4Network, IPv6Network, ip_network

# RFC 9110 5.1 field-name: a token.
HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
MAX_HEADER_NAME = 256
MAX_HEADER_VALUE = 8192
# RFC 9110 5.5 field-value: visible characters, obs-text, SP and HTAB inside; no other
# control character (CR, LF, NUL, but also ESC, DEL, ...).
_FIELD_VALUE_REFUSED = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")

# A route host: a name or a `*.` wildcard, lower case, with an optional port.
HOST_PATTERN = re.compile(
    r"(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:[0-9]{1,5})?"
)
MAX_HOST = 260  # 253 for the name (RFC 1035), then ":65535"

# An entity's name, as the admin API addresses it (`/api/v1/services/<name>`).
NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}"
NAME = re.compile(NAME_PATTERN)

# A target's or a listener's host: a DNS name or IPv4 address (underscores are common
# in internal names), or a bracketed IPv6 literal.
_HOST_NAME = re.compile(
    r"[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*\.?"
)
MAX_ADDRESS = 300  # the `targets.address` column
MAX_TARGETS = 10_000  # of one service
_PORT = re.compile(r"[0-9]{1,5}")  # ASCII only: int() also reads Arabic-Indic and full-width digits

# Fields a route's header changes may not name: the framing of the message, the
# connection, and the fields the gateway itself writes. Changing them would let a
# config send two Content-Lengths, or a body after `Content-Length: 0` (response
# splitting), or forge who the client is.
GATEWAY_FIELDS = frozenset(
    {
        # framing and the connection (RFC 9110 7.6.1 and RFC 9112)
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "upgrade",
        "expect",
        # written by the gateway
        "x-forwarded-for",
        "x-forwarded-host",
        "x-forwarded-proto",
        "via",
        "x-request-id",
        "x-consumer",
        "x-tenant",
    }
)


def header_name_problem(name: str) -> str | None:
    """Why `name` is not a valid HTTP field name, or None."""
    if len(name) > MAX_HEADER_NAME or not HEADER_NAME.fullmatch(name):
        return f"not a valid HTTP header name: {name[:64]!r}"
    return None


def header_value_problem(value: str) -> str | None:
    """Why `value` cannot be sent as an HTTP field value, or None."""
    if len(value) > MAX_HEADER_VALUE:
        return f"a header value holds at most {MAX_HEADER_VALUE} characters"
    if _FIELD_VALUE_REFUSED.search(value):
        return "a header value may not hold control characters (only tab)"
    return None


def changed_field_problem(name: str) -> str | None:
    """Why a route's header changes may not set, add or remove `name`, or None."""
    problem = header_name_problem(name)
    if problem is not None:
        return problem
    if name.lower() in GATEWAY_FIELDS:
        return f"{name} belongs to the gateway (framing, connection, forwarding): not changeable"
    return None


# A query parameter a policy names (`api_key_query`): unreserved characters (RFC 3986),
# so that it reads the same percent-encoded or not.
QUERY_NAME = re.compile(r"[A-Za-z0-9._~-]{1,128}")


def query_name_problem(name: str) -> str | None:
    """Why `name` cannot be a query parameter a policy reads, or None."""
    if not QUERY_NAME.fullmatch(name):
        return f"a query parameter name is 1 to 128 of A-Z a-z 0-9 . _ ~ -: {name[:64]!r}"
    return None


# An origin as browsers send it (RFC 6454): scheme, host, optional port, nothing else.
_ORIGIN = re.compile(r"https?://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]{1,253})(:[0-9]{1,5})?")


def origin_problem(origin: str) -> str | None:
    """Why `origin` cannot be a CORS allowed origin, or None."""
    if origin == "*" or _ORIGIN.fullmatch(origin):
        return None
    return f'an origin is "*" or scheme://host[:port] with nothing after: {origin[:64]!r}'


MAX_NETWORKS = 1000
Network = IPv4Network | IPv6Network


def parse_networks(items: list[str] | tuple[str, ...], what: str) -> tuple[Network, ...]:
    """CIDRs (a bare address is a /32 or /128); raises ValueError naming the bad one."""
    if len(items) > MAX_NETWORKS:
        raise ValueError(f"{what}: at most {MAX_NETWORKS} networks")
    networks = []
    for item in items:
        try:
            networks.append(ip_network(item.strip(), strict=True))
        except ValueError as exc:
            raise ValueError(f"{what}: {item[:64]!r} is not a CIDR network ({exc})") from None
    return tuple(networks)


def host_problem(host: str) -> str | None:
    """Why `host` (lower case) is not a route host, or None."""
    if len(host) > MAX_HOST or not HOST_PATTERN.fullmatch(host):
        return f"not a host name or *.wildcard: {host[:64]!r}"
    return None


def parse_host_port(value: str) -> tuple[str, int]:
    """`HOST:PORT` or `[IPv6]:PORT` as (host, port), the host without brackets.

    The one reading of an address, for targets and every listen flag alike: the port is
    1 to 65535 in ASCII digits, the host a DNS name, an IPv4 address or a bracketed IPv6
    literal. Raises ValueError saying what is wrong.
    """
    if len(value) > MAX_ADDRESS:
        raise ValueError(f"an address holds at most {MAX_ADDRESS} characters")
    host, sep, port = value.rpartition(":")
    if not sep or not host:
        raise ValueError(f"expected HOST:PORT, got {value[:64]!r}")
    if not _PORT.fullmatch(port) or not 0 < int(port) < 65_536:
        raise ValueError(f"the port must be a number from 1 to 65535, got {port[:16]!r}")
    if host.startswith("[") and host.endswith("]"):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise ValueError(f"{host[:64]!r} is not an IPv6 address") from None
        return host[1:-1], int(port)
    if len(host) > 253 or not _HOST_NAME.fullmatch(host):
        raise ValueError(
            f"the host must be a name, an IPv4 address or a [bracketed] IPv6 address, got"
            f" {host[:64]!r}"
        )
    return host, int(port)


def is_loopback(address: str) -> bool:
    """Whether `address` (HOST:PORT) is on this machine only: localhost or 127/8, ::1."""
    try:
        host, _ = parse_host_port(address)
    except ValueError:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def join_host_port(host: str, port: int) -> str:
    """The address `parse_host_port` reads back as (host, port)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
