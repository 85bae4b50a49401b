"""Admin request bodies read strictly: bounded in size, one value per key.

Python's `json` keeps the last of two equal keys (`{"weight": 1, "weight": 0}` is a
weight of 0, and a reviewer reading the first one sees 1), reads numbers of any length
and nests as deep as the stack allows. Here a duplicate key, a number too long to be a
number, `NaN` or `Infinity` (which Python reads and JSON does not have), or a document
nested past Python's recursion limit is invalid JSON (422), and
a body over `MAX_BODY_BYTES` is 413 before it is read in full.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request

from ..errors import TooLarge

# A whole config of 100,000 routes is tens of megabytes; nothing else comes close.
MAX_BODY_BYTES = 64 * 1024 * 1024


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise ValueError(f"the key {key[:64]!r} is given twice")
        found[key] = value
    return found


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def strict_loads(text: bytes) -> Any:
    """`json.loads`, raising JSONDecodeError for everything it will not read."""
    try:
        return json.loads(text, object_pairs_hook=_unique, parse_constant=_no_constant)
    except json.JSONDecodeError:
        raise
    except (ValueError, RecursionError) as exc:
        raise json.JSONDecodeError(str(exc) or "nested too deep", "", 0) from None


class AdminRequest(Request):
    """A request whose body is bounded and whose JSON is read strictly."""

    async def body(self) -> bytes:
        if not hasattr(self, "_body"):
            declared = self.headers.get("content-length", "")
            if declared.isascii() and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
                raise TooLarge(f"the body is over {MAX_BODY_BYTES} bytes")
            self._body = await read_bounded(self.stream(), MAX_BODY_BYTES, "the body")
        return self._body

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = strict_loads(await self.body())
        return self._json


async def read_bounded(chunks: AsyncIterator[bytes], limit: int, what: str) -> bytes:
    """All of a request's body, refused (TooLarge) as soon as it is over `limit` bytes."""
    read: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"{what} is over {limit} bytes")
        read.append(chunk)
    return b"".join(read)
