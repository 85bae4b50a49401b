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

from .paths import BadPath, is_normalized, normalize_path
from .regex import Regex, compile_regex


class PatternKind(IntEnum):
    """The kinds of path pattern, valued by specificity: a higher value wins."""

    REGEX = 1
    WILDCARD = 2
    EXACT = 3


# Not frozen, which builds one 2-3 times slower (a full compile builds thousands); never
# changed once built, and hashed by its fields as a frozen one is.
@dataclass(slots=True, unsafe_hash=True)
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
    # Exact over wildcard over regex; among wildcards more literal segments, then a
    # longer literal head, then a pattern ending in `*` over one ending in `**`: packed
    # into one integer (see `_specificity`), which a table's sort compares in C.
    specificity: int


# The fields of a pattern's specificity, most significant first, packed: the kind above
# bit 65, the literal segments in bits 33-64, the literal head's length in bits 1-32 and
# whether it ends in `*` in bit 0 (a protobuf string is under 2**31 bytes long).
SPECIFICITY_BITS = 67


def _specificity(kind: PatternKind, literals: int = 0, head: int = 0, single: bool = False) -> int:
    return kind << 65 | literals << 33 | head << 1 | single


_REGEX = _specificity(PatternKind.REGEX)
_EXACT = _specificity(PatternKind.EXACT)
_WILDCARD = _specificity(PatternKind.WILDCARD)
# (Enum members as module globals: a class attribute of an enum is a slower lookup.)
_REGEX_KIND, _WILDCARD_KIND, _EXACT_KIND = (
    PatternKind.REGEX,
    PatternKind.WILDCARD,
    PatternKind.EXACT,
)
_MISPLACED = "'*' must be a whole segment and '**' may only end a path, as '/**'"


_new = object.__new__


def _pattern(
    source: str,
    kind: PatternKind,
    segments: tuple[str, ...],
    prefix: str,
    regex: Regex | None,
    specificity: int,
) -> PathPattern:
    """A PathPattern made without __init__: a dataclass's __init__ is called through the
    type with a tuple of arguments, which costs more than a function call."""
    pattern: PathPattern = _new(PathPattern)
    pattern.source = source
    pattern.kind = kind
    pattern.segments = segments
    pattern.prefix = prefix
    pattern.regex = regex
    pattern.specificity = specificity
    return pattern


def compile_pattern(source: str, field: str) -> PathPattern | ConfigError:
    """The compiled form of `source`, or the error that names `field`."""
    if source.startswith("~"):
        regex = compile_regex(source[1:], field)
        if isinstance(regex, ConfigError):
            return regex
        return _pattern(source, _REGEX_KIND, (), "", regex, _REGEX)
    # (Most are written normalized: that is one regex match, without normalize_path's
    # steps; a full compile of 10,000 routes asks it 9,000 times.)
    if not is_normalized(source):
        try:
            normalized = normalize_path(source.encode())
        except BadPath as exc:
            return ConfigError(field, f"{source!r} is not a valid path: {exc}")
        if normalized != source:
            return ConfigError(field, f"{source!r} is not a normalized path; write {normalized!r}")
    segments = tuple(source[1:].split("/"))
    if "*" not in source:
        return _pattern(source, _EXACT_KIND, segments, source, None, _EXACT)
    if source.endswith("/**") and "*" not in source[:-3]:
        # The usual wildcard, a literal head and "**": every other segment is literal.
        specificity = _WILDCARD | (len(segments) - 1) << 33 | (len(source) - 3) << 1
        return _pattern(source, _WILDCARD_KIND, segments, source[:-3], None, specificity)
    # One pass: where the first wildcard is, and that every "*" is a whole segment.
    wildcard = -1
    literals = 0
    last = len(segments) - 1
    for i, segment in enumerate(segments):
        if "*" not in segment:
            literals += 1
        elif segment == "*" or (segment == "**" and i == last):
            if wildcard < 0:
                wildcard = i
        else:
            return ConfigError(field, _MISPLACED)
    prefix = "/" + "/".join(segments[:wildcard]) if wildcard else ""
    specificity = _specificity(_WILDCARD_KIND, literals, len(prefix), segments[-1] != "**")
    return _pattern(source, _WILDCARD_KIND, segments, prefix, None, specificity)
