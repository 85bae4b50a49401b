"""Path normalization: the one form of a request path that routing, policies and upstreams see.

A gateway that routes on one reading of a path while the upstream acts on another is
the classic bypass (`/api/..;/admin`, `/api/%2e%2e/admin`, `//admin`). So the path is
normalized once, before matching, and that same string is what gets forwarded:

1. The request target must be origin-form: it starts with `/` (no `*`, no
   `http://host/...`); the query is not part of the input.
2. Percent-encoded unreserved characters (`A-Z a-z 0-9 - . _ ~`) are decoded, once:
   `%61` is `a`, `%2e` is `.`, while `%252e` stays `%252E`.
3. Refused (`BadPath`, answered with 400): `%2F` and `%5C` (an encoded separator is
   read as a separator by some upstreams and as data by others), `%00`, a raw `\\`,
   `;` raw or as `%3B` (path parameters: Tomcat and Spring read `/admin;x/` as
   `/admin/`), `#`, `?`, controls, spaces, and `%` not followed by two hex digits.
4. Other percent escapes stay encoded, with upper-case hex (RFC 3986 6.2.2.1); other
   bytes a path may not hold raw (`"<>[]^`{|}`, non-ASCII) are percent-encoded.
5. Runs of `/` are merged into one.
6. Dot segments are removed (RFC 3986 5.2.4); `..` never climbs above the root.
"""

from __future__ import annotations

import re

__all__ = ["BadPath", "already_normalized", "is_normalized", "normalize_path"]


class BadPath(ValueError):
    """A request path that cannot be served; the proxy answers 400 and closes."""

    status = 400
    code = "bad_path"


_UNRESERVED = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
# RFC 3986 pchar and "/", without ";" (refused) and "%" (handled on its own).
_PATH_BYTES = _UNRESERVED + b"!$&'()*+,=:@/"

# Already normalized: plain bytes only, starting with "/", no empty segment ("//") and
# no segment starting with "." (so no dot segments). A character-class regex and two
# substring tests answer for the usual request faster than one structured regex.
_PLAIN = re.compile(rb"/[" + re.escape(_PATH_BYTES) + rb"]*")
# The same test on text, for a route's path patterns (no encoding and decoding).
_PLAIN_TEXT = re.compile("/[" + re.escape(_PATH_BYTES.decode("ascii")) + "]*")
# What the slow path rewrites: escapes (well formed or not) and bytes outside _PATH_BYTES.
_REWRITTEN = re.compile(rb"%([0-9A-Fa-f]{2})?|[^" + re.escape(_PATH_BYTES) + rb"]")
_SLASHES = re.compile(rb"//+")

# Escapes whose decoded byte would change how the path splits or ends.
_REFUSED_ESCAPES = {
    0x2F: "an encoded '/' (%2F)",
    0x5C: "an encoded '\\' (%5C)",
    0x00: "an encoded NUL (%00)",
    0x3B: "an encoded ';' (%3B)",
}
_REFUSED_BYTES = {
    ord("\\"): "a '\\'",
    ord(";"): "a ';'",
    ord("#"): "a '#'",
    ord("?"): "a '?'",
}


def _rewrite(match: re.Match[bytes]) -> bytes:
    text = match.group()
    if text[0] == 0x25:  # "%"
        hex_digits = match.group(1)
        if hex_digits is None:
            start = match.start()
            escape = match.string[start : start + 3].decode("ascii", "replace")
            raise BadPath(f"the path holds an invalid percent escape {escape!r}")
        value = int(hex_digits, 16)
        refused = _REFUSED_ESCAPES.get(value)
        if refused is not None:
            raise BadPath(f"the path holds {refused}")
        if value in _UNRESERVED:
            return bytes((value,))
        return b"%" + hex_digits.upper()
    value = text[0]
    refused = _REFUSED_BYTES.get(value)
    if refused is not None:
        raise BadPath(f"the path holds {refused}")
    if value <= 0x20 or value == 0x7F:
        raise BadPath(f"the path holds the control or space byte 0x{value:02X}")
    return b"%%%02X" % value


def _remove_dot_segments(path: str) -> str:
    segments = path.split("/")
    kept: list[str] = []
    for segment in segments[1:]:
        if segment == "..":
            if kept:
                kept.pop()
        elif segment != ".":
            kept.append(segment)
    if segments[-1] in (".", ".."):
        # "/a/b/.." is "/a/": the dot segment named a directory.
        kept.append("")
    return "/" + "/".join(kept)


def already_normalized(raw: bytes) -> str | None:
    """`raw` as text when it is its own normalized form, as the usual path is; else None."""
    if _PLAIN.fullmatch(raw) is None:
        return None
    path = raw.decode("ascii")
    if "//" in path or "/." in path:
        return None
    return path


def is_normalized(path: str) -> bool:
    """Whether `path` is a plain path in its own normalized form, as `already_normalized`
    finds it (False when normalization would have to look further)."""
    return _PLAIN_TEXT.fullmatch(path) is not None and "//" not in path and "/." not in path


def normalize_path(raw: bytes) -> str:
    """The normalized form of `raw`, the path part of a request target (no query).

    Raises BadPath for a target that is not origin-form or holds a refused sequence.
    """
    if raw[:1] != b"/":
        raise BadPath("the request target is not an origin-form path starting with '/'")
    text = already_normalized(raw)
    if text is not None:
        return text
    path = _REWRITTEN.sub(_rewrite, raw)
    path = _SLASHES.sub(b"/", path)
    text = path.decode("ascii")
    if "/." in text:
        text = _remove_dot_segments(text)
    return text
