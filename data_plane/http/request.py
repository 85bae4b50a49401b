"""The request head as the rest of the data plane sees it, and lookups on its fields.

The head itself is parsed, checked and normalized in one call by the head path
(heads.py, compiled or pure: head_path.py); routing, candidate selection, balancing
and the policies read it through the names here.
"""

from __future__ import annotations

from .head_path import Headers, RequestHead

__all__ = ["Headers", "RequestHead", "header_value", "headers_by_name"]


def headers_by_name(head: RequestHead) -> dict[str, str]:
    """The forwarded fields by lower-case name, for routes that match on headers."""
    found = {
        name.lower().decode("latin-1"): value.decode("latin-1") for name, value in head.headers
    }
    found["host"] = head.host.decode("latin-1")
    return found


def header_value(head: RequestHead, name: bytes) -> bytes | None:
    """The first value of the field `name` (lower case), or None."""
    for field_name, value in head.headers:
        if field_name.lower() == name:
            return value
    return None
