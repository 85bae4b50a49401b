"""Regexes from a config (`~` paths, `regex` header conditions), on a linear-time engine.

A backtracking engine (Python's `re`) takes exponential time on patterns such as
`^(a+)+$`: one 45-byte request then holds a worker for hours, and every connection on
it with it. These regexes run on RE2 instead, whose matching time grows linearly with
the input whatever the pattern. RE2 lacks the constructs that need backtracking
(backreferences, lookahead, lookbehind); a pattern using them is refused with a
message that says so, at the admin API (422) and on the node (NACK) alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

import re2

from data_plane.config.errors import ConfigError

MAX_REGEX_LENGTH = 1024
# Memory RE2 may use for one compiled regex; a bigger program is refused. A node may
# hold thousands of regexes, so well under RE2's 8 MiB default.
MAX_REGEX_MEMORY = 1 << 20

_ANCHOR_BOTH = getattr(getattr(re2, "_Anchor", None), "ANCHOR_BOTH", None)
_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # errors are reported as ConfigErrors, not on stderr
_OPTIONS.max_mem = MAX_REGEX_MEMORY
# The compiled regex's class, called with the options above: `re2.compile` would read
# the options' fourteen fields into a key for its cache and set them on new options
# (half the instructions of compiling a path regex); a table keeps its compiled paths.
_REGEXP: Any = getattr(re2, "_Regexp", None)

# RE2's wording of what it lacks -> what to tell an operator.
_UNSUPPORTED = (
    ("invalid perl operator: (?=", "lookahead (?=...)"),
    ("invalid perl operator: (?!", "negative lookahead (?!...)"),
    ("invalid perl operator: (?<=", "lookbehind (?<=...)"),
    ("invalid perl operator: (?<!", "negative lookbehind (?<!...)"),
)
LINEAR_ONLY = "regexes run in linear time (RE2), which has no backreferences or lookaround"


class Match(Protocol):
    """What the router reads of a match: groups, for a rewrite template."""

    def expand(self, template: str) -> str: ...


class Regex(Protocol):
    """A compiled config regex."""

    @property
    def groups(self) -> int: ...

    @property
    def groupindex(self) -> Any: ...

    def fullmatch(self, text: str) -> Match | None: ...


class LinearRegex:
    """An RE2 regex whose misses on ASCII text cost one call into RE2.

    The `re2` module's `fullmatch` maps character offsets through a generator on every
    call (7 µs against 1 µs for RE2 itself, measured): routes try regexes one by one,
    and most of them miss. Normalized paths are ASCII, so a miss is decided by RE2
    directly; a match (once per request) and non-ASCII text go through the module.
    """

    __slots__ = ("_compiled", "_match")

    def __init__(self, compiled: Any) -> None:
        self._compiled = compiled
        regexp = getattr(compiled, "_regexp", None)
        # Private to the re2 module: without it, every call goes through the module.
        self._match = None if regexp is None or _ANCHOR_BOTH is None else regexp.Match

    # Read from RE2 when asked (a regex rewrite's check), not for every regex compiled.
    @property
    def groups(self) -> int:
        groups: int = self._compiled.groups
        return groups

    @property
    def groupindex(self) -> Any:
        return self._compiled.groupindex

    def fullmatch(self, text: str) -> Match | None:
        if self._match is not None and text.isascii():
            encoded = text.encode("ascii")
            if self._match(_ANCHOR_BOTH, encoded, 0, len(encoded))[0][0] < 0:
                return None
        found: Match | None = self._compiled.fullmatch(text)
        return found

    def __repr__(self) -> str:
        return f"<LinearRegex {self._compiled.pattern!r}>"


def compile_regex(source: str, field: str) -> Regex | ConfigError:
    """`source` compiled on RE2, or the error naming `field`."""
    if len(source) > MAX_REGEX_LENGTH:
        return ConfigError(field, f"a regex holds at most {MAX_REGEX_LENGTH} characters")
    if "\\" in source and "\\C" in _escapes(source):
        return ConfigError(field, "\\C (any byte) may split a character: use . instead")
    try:
        compiled = re2.compile(source, _OPTIONS) if _REGEXP is None else _REGEXP(source, _OPTIONS)
    except re2.error as exc:
        return ConfigError(field, _explain(exc))
    return LinearRegex(compiled)


def _escapes(source: str) -> Iterator[str]:
    """Every backslash escape of `source` (`\\C`, `\\d`, ...), an escaped backslash once."""
    i = source.find("\\")
    while i != -1 and i + 1 < len(source):
        yield source[i : i + 2]
        i = source.find("\\", i + 2)


def _explain(exc: Exception) -> str:
    detail = exc.args[0] if exc.args else ""
    reason = detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)
    if reason.startswith("invalid escape sequence: \\") and reason[-1:].isdigit():
        return f"{LINEAR_ONLY}: backreferences (\\1) are not supported"
    for wording, construct in _UNSUPPORTED:
        if reason.startswith(wording):
            return f"{LINEAR_ONLY}: {construct} is not supported"
    if reason == "invalid escape sequence: \\Z":
        return "regex does not compile: \\Z is written \\z (end of text)"
    if reason.startswith("pattern too large"):
        return f"regex does not compile: it needs more than {MAX_REGEX_MEMORY >> 20} MiB"
    return f"regex does not compile: {reason}"
