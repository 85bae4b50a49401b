"""The path a matched route forwards: the normalized path, stripped or rewritten.

- `strip_prefix` removes the pattern's literal head (what comes before the first `*`
  segment; the whole path for an exact pattern), keeping a leading `/`: `/api/**`
  forwards `/api/users` as `/users` and `/api` as `/`.
- `rewrite` replaces that same literal head (`/api/**` with rewrite `/v2` forwards
  `/api/users` as `/v2/users`), replaces the whole path for an exact pattern, and is a
  substitution template (`\\1`, `\\g<name>`) expanded on the match of a `~regex`.
- A route sets one of the two: a rewrite already replaces what strip_prefix removes.
  A regex pattern has no literal head to strip, so strip_prefix needs a rewrite there.

Every result is itself a normalized path, so the upstream never sees `//` or `..`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from data_plane.config.errors import ConfigError

from .paths import BadPath, normalize_path
from .patterns import PathPattern, PatternKind
from .regex import Match, Regex

# A group reference as the regex engine's `expand` reads it: `\1` to `\99`, `\g<name>`.
# Any other backslash is left in the literal part, where the path check refuses it.
_GROUP_REFERENCE = re.compile(r"\\(?:([1-9][0-9]?)(?![0-9])|g<(\w+)>)")


class ForwardKind(Enum):
    KEEP = "keep"  # forward the normalized path as it is
    STRIP = "strip"  # drop the literal head
    REPLACE_HEAD = "replace_head"  # put `rewrite` in place of the literal head
    REPLACE_ALL = "replace_all"  # forward `rewrite` (exact patterns)
    EXPAND = "expand"  # expand the `rewrite` template on the regex match


@dataclass(frozen=True, slots=True)
class Forward:
    """How one route pattern turns the matched path into the forwarded one."""

    kind: ForwardKind
    head_length: int = 0  # characters of the literal head (STRIP, REPLACE_HEAD)
    rewrite: str = ""

    def path(self, path: str, match: Match | None = None) -> str:
        """The forwarded path for the normalized `path` (and its regex `match`)."""
        kind = self.kind
        if kind is ForwardKind.KEEP:
            return path
        if kind is ForwardKind.STRIP:
            return path[self.head_length :] or "/"
        if kind is ForwardKind.REPLACE_HEAD:
            rest = path[self.head_length :]
            return self.rewrite.rstrip("/") + rest if rest else self.rewrite
        if kind is ForwardKind.REPLACE_ALL:
            return self.rewrite
        assert match is not None, "a regex rewrite needs the match"
        # Groups come from a normalized path, but the template may join them with "/"
        # into "//" or dot segments; normalizing again keeps the forwarded path clean.
        return normalize_path(match.expand(self.rewrite).encode())


KEEP = Forward(ForwardKind.KEEP)  # immutable: every route that keeps its path shares it


def compile_forward(
    pattern: PathPattern, strip_prefix: bool, rewrite: str, field: str
) -> Forward | ConfigError:
    """The Forward for `pattern` under a route's strip_prefix and rewrite settings."""
    if strip_prefix and rewrite:
        return ConfigError(f"{field}.rewrite", "set strip_prefix or rewrite, not both")
    if pattern.kind is PatternKind.REGEX:
        if strip_prefix:
            return ConfigError(
                f"{field}.strip_prefix",
                f"regex path {pattern.source!r} has no literal prefix to strip; use rewrite",
            )
        if not rewrite:
            return KEEP
        return _regex_rewrite(pattern, rewrite, field)
    if strip_prefix:
        return Forward(ForwardKind.STRIP, head_length=len(pattern.prefix))
    if not rewrite:
        return KEEP
    error = _check_literal_rewrite(rewrite, f"{field}.rewrite")
    if error is not None:
        return error
    if pattern.kind is PatternKind.EXACT:
        return Forward(ForwardKind.REPLACE_ALL, rewrite=rewrite)
    return Forward(ForwardKind.REPLACE_HEAD, head_length=len(pattern.prefix), rewrite=rewrite)


def _check_literal_rewrite(rewrite: str, field: str) -> ConfigError | None:
    try:
        normalized = normalize_path(rewrite.encode())
    except BadPath as exc:
        return ConfigError(field, f"{rewrite!r} is not a valid path: {exc}")
    if normalized != rewrite:
        return ConfigError(field, f"{rewrite!r} is not a normalized path; write {normalized!r}")
    return None


def _regex_rewrite(pattern: PathPattern, rewrite: str, field: str) -> Forward | ConfigError:
    assert pattern.regex is not None
    for reference in _GROUP_REFERENCE.finditer(rewrite):
        if not _has_group(pattern.regex, reference.group(1) or reference.group(2)):
            return ConfigError(
                f"{field}.rewrite",
                f"{rewrite!r} does not fit {pattern.source!r}: no group {reference.group(0)}",
            )
    literal = _GROUP_REFERENCE.sub("", rewrite)
    try:
        normalize_path(literal.encode())
    except BadPath as exc:
        return ConfigError(f"{field}.rewrite", f"{rewrite!r} is not a valid path template: {exc}")
    return Forward(ForwardKind.EXPAND, rewrite=rewrite)


def _has_group(regex: Regex, name: str) -> bool:
    if name.isdigit():
        return 0 <= int(name) <= regex.groups
    return name in regex.groupindex
