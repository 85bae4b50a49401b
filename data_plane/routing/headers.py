"""Header conditions of a route, compiled once.

A condition tests one header, named in lower case: `exact` compares the value,
`prefix` its start, `regex` must match the whole value (on RE2), `present`
only asks that the header be there. An absent header fails every kind. `invert`
negates the whole test, so an inverted `exact` also admits requests without the
header: it reads "the header is not X".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from fleetgate_pb import config_pb2 as pb

from data_plane.config.errors import ConfigError
from data_plane.config.syntax import header_name_problem, header_value_problem

from .regex import Regex, compile_regex

_EXACT = pb.HeaderMatch.EXACT
_PREFIX = pb.HeaderMatch.PREFIX
_REGEX = pb.HeaderMatch.REGEX
_KINDS = frozenset(pb.HeaderMatch.Kind.values())


@dataclass(frozen=True, slots=True)
class HeaderCondition:
    """One compiled `fleetgate.v1.HeaderMatch`."""

    name: str
    kind: int  # a fleetgate.v1.HeaderMatch.Kind
    value: str
    regex: Regex | None
    invert: bool

    def admits(self, headers: Mapping[str, str]) -> bool:
        value = headers.get(self.name)
        if value is None:
            found = False
        elif self.kind == _EXACT:
            found = value == self.value
        elif self.kind == _PREFIX:
            found = value.startswith(self.value)
        elif self.kind == _REGEX:
            assert self.regex is not None
            found = self.regex.fullmatch(value) is not None
        else:
            found = True
        return found is not self.invert


def compile_header_match(match: pb.HeaderMatch, field: str) -> HeaderCondition | ConfigError:
    """The condition for `match`, or the error naming `field`."""
    problem = header_name_problem(match.name)
    if problem is not None:
        return ConfigError(f"{field}.name", problem)
    if match.kind not in _KINDS:
        return ConfigError(f"{field}.kind", f"unknown header match kind {match.kind}")
    regex = None
    if match.kind == _REGEX:
        compiled = compile_regex(match.value, f"{field}.value")
        if isinstance(compiled, ConfigError):
            return compiled
        regex = compiled
    else:
        problem = header_value_problem(match.value)
        if problem is not None:
            return ConfigError(f"{field}.value", problem)
    return HeaderCondition(match.name.lower(), match.kind, match.value, regex, match.invert)
