"""Config regexes run in linear time, and what the engine lacks is refused by name."""

from __future__ import annotations

import pytest
from fleetgate_pb import config_pb2 as pb

from data_plane.config.errors import ConfigError, ConfigInvalid
from data_plane.config.validate import check_snapshot
from data_plane.routing import RouteMatch, RouteTable
from data_plane.routing.regex import MAX_REGEX_LENGTH

# With a backtracking engine each further "a" doubles the work: 26 took 2 s, 60 would
# take longer than the universe has existed.
EVIL = "a" * 60 + "!"


def table(*routes: pb.Route) -> RouteTable[str]:
    return RouteTable.compile([(r, r.name) for r in routes])


def snapshot_with(route: pb.Route) -> pb.Snapshot:
    return pb.Snapshot(
        services=[pb.Service(name="svc", targets=[pb.Target(address="127.0.0.1:9", weight=1)])],
        routes=[route],
    )


@pytest.mark.timeout(30)
def test_a_nested_quantifier_path_regex_does_not_backtrack() -> None:
    routes = table(pb.Route(name="evil", paths=["~/(a+)+"], service="svc"))
    assert routes.match("GET", "h", "/" + EVIL) is None
    found = routes.match("GET", "h", "/aaaa")
    assert isinstance(found, RouteMatch) and found.name == "evil"


@pytest.mark.timeout(30)
def test_a_nested_quantifier_header_regex_does_not_backtrack() -> None:
    condition = pb.HeaderMatch(name="x-evil", kind=pb.HeaderMatch.REGEX, value="(a|aa)+")
    routes = table(pb.Route(name="evil", paths=["/**"], service="svc", headers=[condition]))
    assert routes.match("GET", "h", "/", {"x-evil": EVIL}) is None
    assert routes.match("GET", "h", "/", {"x-evil": "aaa"}) is not None


@pytest.mark.parametrize(
    ("regex", "named"),
    [
        ("~/(a)\\1", "backreferences"),
        ("~/(?=a)a", "lookahead"),
        ("~/(?!b)a", "negative lookahead"),
        ("~/(?<=a)b", "lookbehind"),
        ("~/(?<!a)b", "negative lookbehind"),
    ],
)
def test_what_needs_backtracking_is_refused_with_the_reason(regex: str, named: str) -> None:
    [error] = check_snapshot(snapshot_with(pb.Route(name="r", paths=[regex], service="svc")))
    assert error.field == "routes.r.paths.0"
    assert "linear time" in error.message and named in error.message


def test_a_header_regex_with_a_backreference_is_refused_naming_the_value() -> None:
    condition = pb.HeaderMatch(name="x-a", kind=pb.HeaderMatch.REGEX, value="(a)\\1")
    route = pb.Route(name="r", paths=["/**"], service="svc", headers=[condition])
    [error] = check_snapshot(snapshot_with(route))
    assert error.field == "routes.r.headers.0.value" and "backreferences" in error.message


def test_capital_z_is_refused_with_its_linear_spelling() -> None:
    [error] = check_snapshot(snapshot_with(pb.Route(name="r", paths=["~/a\\Z"], service="svc")))
    assert "\\z" in error.message


def test_an_overlong_regex_is_refused() -> None:
    route = pb.Route(name="r", paths=["~/" + "a" * MAX_REGEX_LENGTH], service="svc")
    [error] = check_snapshot(snapshot_with(route))
    assert f"at most {MAX_REGEX_LENGTH}" in error.message


def test_any_byte_is_refused_but_an_escaped_backslash_before_c_is_not() -> None:
    with pytest.raises(ConfigInvalid, match="any byte"):
        table(pb.Route(name="r", paths=["~/\\C"], service="svc"))
    assert table(pb.Route(name="r", paths=["~/\\\\C"], service="svc")).routes == 1


def test_dollar_is_the_end_of_the_path_not_before_a_final_line_feed() -> None:
    routes = table(pb.Route(name="r", paths=["~/a$"], service="svc"))
    assert routes.match("GET", "h", "/a") is not None
    assert routes.match("GET", "h", "/a\n") is None


def test_a_rewrite_naming_a_group_the_regex_lacks_is_refused() -> None:
    route = pb.Route(name="r", paths=["~/(?P<id>[0-9]+)"], rewrite="/\\g<name>", service="svc")
    with pytest.raises(ConfigInvalid, match="no group"):
        table(route)
    route = pb.Route(name="r", paths=["~/([0-9]+)"], rewrite="/v/\\2", service="svc")
    with pytest.raises(ConfigInvalid, match="no group"):
        table(route)


def test_a_rewrite_expands_named_and_numbered_groups() -> None:
    route = pb.Route(
        name="r", paths=["~/u/(?P<id>[0-9]+)/(x|y)"], rewrite="/v2/\\g<id>/\\2", service="svc"
    )
    found = table(route).match("GET", "h", "/u/42/y")
    assert isinstance(found, RouteMatch) and found.path == "/v2/42/y"


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        ("/u/([0-9]+)", "/u/42"),
        ("/u/([0-9]+)", "/u/x"),
        ("/u/([0-9]+)", "/u/42/"),
        ("caf(é|e)", "café"),
        ("caf(é|e)", "cafe"),
        ("[^/]+", "ünï"),
        ("", ""),
    ],
)
def test_the_quick_miss_agrees_with_the_engine(pattern: str, text: str) -> None:
    import re2

    from data_plane.routing.regex import compile_regex

    regex = compile_regex(pattern, "f")
    engine = re2.compile(pattern)
    assert not isinstance(regex, ConfigError)
    ours, theirs = regex.fullmatch(text), engine.fullmatch(text)
    assert (ours is None) == (theirs is None)
    if ours is not None and theirs is not None and engine.groups:
        assert ours.expand("\\1") == theirs.expand("\\1")
