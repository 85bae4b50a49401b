"""Route path patterns, compiled once: exact paths, `*` and `**` segments, `~regex`.

- `/a/b` matches that path only (not `/a/b/`).
- `*` is one whole, non-empty segment: `/p/*` matches `/p/x`, not `/p`, `/p/` or `/p/x/y`.
- `**` ends a pattern and matches the rest, however deep, including nothing:
  `/p/**` matches `/p`, `/p/` and everything below; `/**` matches every path.
- `~regex` must match the whole normalized path (a full match, on RE2: see `regex.py`).

Literal patterns are written in normalized form (see `paths.py`), since they are
compared with normalized request paths; a pattern that normalization would change
could never match as written, so it is refused with the form to use instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from data_plane.config.errors import ConfigError

from .paths import BadPath, normalize_path
from .regex import Regex, compile_regex


class PatternKind(IntEnum):
    """The kinds of path pattern, valued by specificity: a higher value wins."""

    REGEX = 1
    WILDCARD = 2
    EXACT = 3


@dataclass(frozen=True, slots=True)
class PathPattern:
    """One compiled path pattern of a route."""

    source: str  # as written in the route
    kind: PatternKind
    # Segments after the leading "/"; "*" and a final "**" are wildcards (WILDCARD only).
    segments: tuple[str, ...]
    # The literal head: the whole path for EXACT; for WILDCARD the segments before the
    # first wildcard, without a trailing "/" ("/api" for "/api/**", "" for "/**").
    prefix: str
    regex: Regex | None

    @property
    def specificity(self) -> tuple[int, int, int, int]:
        """Exact over wildcard over regex; among wildcards more literal segments, then
        a longer literal head, then a pattern ending in `*` over one ending in `**`."""
        if self.kind is not PatternKind.WILDCARD:
            return (self.kind, 0, 0, 0)
        literals = sum(1 for s in self.segments if s not in ("*", "**"))
        return (self.kind, literals, len(self.prefix), int(self.segments[-1] != "**"))


def compile_pattern(source: str, field: str) -> PathPattern | ConfigError:
    """The compiled form of `source`, or the error that names `field`."""
    if source.startswith("~"):
        regex = compile_regex(source[1:], field)
        if isinstance(regex, ConfigError):
            return regex
        return PathPattern(source, PatternKind.REGEX, (), "", regex)
    try:
        normalized = normalize_path(source.encode())
    except BadPath as exc:
        return ConfigError(field, f"{source!r} is not a valid path: {exc}")
    if normalized != source:
        return ConfigError(field, f"{source!r} is not a normalized path; write {normalized!r}")
    segments = tuple(source[1:].split("/"))
    for i, segment in enumerate(segments):
        if "*" not in segment or segment == "*":
            continue
        if segment == "**" and i == len(segments) - 1:
            continue
        return ConfigError(
            field, "'*' must be a whole segment and '**' may only end a path, as '/**'"
        )
    wildcard = next((i for i, s in enumerate(segments) if s in ("*", "**")), None)
    if wildcard is None:
        return PathPattern(source, PatternKind.EXACT, segments, source, None)
    prefix = "".join("/" + s for s in segments[:wildcard])
    return PathPattern(source, PatternKind.WILDCARD, segments, prefix, None)
