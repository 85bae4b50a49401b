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

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # errors are reported as ConfigErrors, not on stderr
_OPTIONS.max_mem = MAX_REGEX_MEMORY

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


def compile_regex(source: str, field: str) -> Regex | ConfigError:
    """`source` compiled on RE2, or the error naming `field`."""
    if len(source) > MAX_REGEX_LENGTH:
        return ConfigError(field, f"a regex holds at most {MAX_REGEX_LENGTH} characters")
    if "\\C" in _escapes(source):
        return ConfigError(field, "\\C (any byte) may split a character: use . instead")
    try:
        regex: Regex = re2.compile(source, _OPTIONS)
    except re2.error as exc:
        return ConfigError(field, _explain(exc))
    return regex


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
