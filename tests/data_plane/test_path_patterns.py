"""Path patterns compile to the same form whichever way they take: the usual shapes (an
exact path, a literal head and `/**`) are compiled without the general segment pass."""

from __future__ import annotations

import itertools
from dataclasses import fields

import pytest
from fleetgate_pb import config_pb2 as pb

from data_plane.config.errors import ConfigError
from data_plane.routing.paths import already_normalized, is_normalized
from data_plane.routing.patterns import PathPattern, PatternKind, _specificity, compile_pattern
from data_plane.routing.table import RouteTable, _Entry, _Parts


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


def test_what_the_compile_makes_without_init_has_every_field_set() -> None:
    # Path patterns, a table's parts and entries are made attribute by attribute (no
    # __init__, for speed): a field added to one of them and not set there would read as
    # missing at request time. Every kind of path, a host, a header condition, methods.
    routes = [
        pb.Route(name="exact", paths=["/a/b"], service="s"),
        pb.Route(name="head", paths=["/a/**"], service="s", hosts=["api.example.com"]),
        pb.Route(name="star", paths=["/a/*/c/**"], service="s", methods=["GET"]),
        pb.Route(name="regex", paths=["~^/r/[0-9]+$"], service="s", strip_prefix=False),
        pb.Route(
            name="strip",
            paths=["/s/**"],
            service="s",
            strip_prefix=True,
            headers=[pb.HeaderMatch(name="x-v", value="1")],
        ),
    ]
    table = RouteTable.compile([(r, r.name) for r in routes])
    parts = list(table._parts.values())
    entries = list(table._ranked)
    assert len(parts) == len(routes) and len(entries) >= len(routes)
    patterns = [pattern for part in parts for _, _, pattern, _ in part.places]
    for objects, kind in ((parts, _Parts), (entries, _Entry), (patterns, PathPattern)):
        for made in objects:
            assert isinstance(made, kind)
            for field in fields(kind):
                getattr(made, field.name)  # raises AttributeError when never set
