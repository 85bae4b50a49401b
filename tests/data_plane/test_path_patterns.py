"""Path patterns compile to the same form whichever way they take: the usual shapes (an
exact path, a literal head and `/**`) are compiled without the general segment pass."""

from __future__ import annotations

import itertools

import pytest

from data_plane.config.errors import ConfigError
from data_plane.routing.paths import already_normalized, is_normalized
from data_plane.routing.patterns import PathPattern, PatternKind, _specificity, compile_pattern


@pytest.mark.parametrize(
    ("source", "prefix", "literals"),
    [("/**", "", 0), ("/a/**", "/a", 1), ("/api/team-1/svc-2/**", "/api/team-1/svc-2", 3)],
)
def test_a_literal_head_and_a_final_double_star_compile_as_the_segment_pass_does(
    source: str, prefix: str, literals: int
) -> None:
    pattern = compile_pattern(source, "f")
    assert isinstance(pattern, PathPattern)
    assert pattern.kind is PatternKind.WILDCARD
    assert pattern.segments == tuple(source[1:].split("/"))
    assert pattern.prefix == prefix
    assert pattern.specificity == _specificity(PatternKind.WILDCARD, literals, len(prefix), False)


def test_a_double_star_after_another_wildcard_takes_the_segment_pass() -> None:
    pattern = compile_pattern("/a/*/b/**", "f")
    assert isinstance(pattern, PathPattern)
    assert (pattern.prefix, pattern.specificity) == (
        "/a",
        _specificity(PatternKind.WILDCARD, 2, 2, False),
    )
    refused = compile_pattern("/a/x*/**", "f")
    assert isinstance(refused, ConfigError)


def test_a_text_path_is_normalized_exactly_when_its_bytes_are() -> None:
    atoms = ["a", "", ".", "..", "%2e", "%41", "*", "é", ";", "~", "-_", " ", "%zz", "A:@"]
    for count in range(4):
        for parts in itertools.product(atoms, repeat=count):
            path = "/" + "/".join(parts)
            expected = already_normalized(path.encode()) is not None
            assert is_normalized(path) is expected, path
