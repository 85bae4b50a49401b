"""The route table: patterns, hosts, methods, headers, specificity, forwarded paths."""

from __future__ import annotations

from typing import Any

import pytest
from fleetgate_pb import config_pb2 as pb

from data_plane.config.errors import ConfigInvalid
from data_plane.routing import (
    BadPath,
    MethodNotAllowed,
    RouteMatch,
    RouteTable,
    normalize_path,
)

EXACT = pb.HeaderMatch.EXACT
PREFIX = pb.HeaderMatch.PREFIX
REGEX = pb.HeaderMatch.REGEX
PRESENT = pb.HeaderMatch.PRESENT


def route(name: str, *paths: str, **fields: Any) -> pb.Route:
    headers = [pb.HeaderMatch(**h) for h in fields.pop("headers", [])]
    return pb.Route(name=name, paths=list(paths), service="svc", headers=headers, **fields)


def table(*routes: pb.Route) -> RouteTable[str]:
    """A table whose payload is the route's name."""
    return RouteTable.compile([(r, r.name) for r in routes])


def routed(
    t: RouteTable[str],
    path: str,
    method: str = "GET",
    host: str = "example.com",
    headers: dict[str, str] | None = None,
) -> str | None:
    """The name of the route `path` goes to, or None."""
    found = t.match(method, host, path, headers)
    assert not isinstance(found, MethodNotAllowed), found
    return None if found is None else found.route


def forwarded(t: RouteTable[str], path: str, method: str = "GET") -> str:
    found = t.match(method, "example.com", path)
    assert isinstance(found, RouteMatch), found
    return found.path


# ---------------------------------------------------------------- admin vs api


ADMIN_API = table(route("admin", "/admin/**"), route("api", "/api/**"))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"/api/../admin", "admin"),
        (b"/api/%2e%2e/admin", "admin"),
        (b"//admin", "admin"),
        (b"/%61dmin", "admin"),
        (b"/api/%252e%252e/admin", "api"),
        (b"/api/./admin", "api"),
        (b"/api//admin", "api"),
        (b"/api/x/../../admin/users", "admin"),
    ],
)
def test_a_path_reaches_the_service_its_normalized_form_names(raw: bytes, expected: str) -> None:
    path = normalize_path(raw)
    found = ADMIN_API.match("GET", "example.com", path)
    assert isinstance(found, RouteMatch)
    assert found.route == expected
    assert found.route == ("admin" if path.split("/")[1] == "admin" else "api")
    # The upstream receives the very path that was matched.
    assert found.path == path


@pytest.mark.parametrize("raw", [b"/api/..%2fadmin", b"/api/..%2Fadmin", b"/api/..;/admin"])
def test_a_path_smuggling_a_separator_never_reaches_a_route(raw: bytes) -> None:
    with pytest.raises(BadPath):
        normalize_path(raw)


def test_a_lookalike_of_a_prefix_is_not_under_it() -> None:
    assert routed(ADMIN_API, "/administrator") is None
    assert routed(ADMIN_API, "/apix/admin") is None


# ---------------------------------------------------------------- pattern kinds


def test_an_exact_path_matches_only_itself() -> None:
    t = table(route("r", "/a/b"))
    assert routed(t, "/a/b") == "r"
    assert [routed(t, p) for p in ("/a/b/", "/a", "/a/b/c", "/a/bc")] == [None] * 4


def test_double_star_matches_the_prefix_itself_its_slash_and_everything_below() -> None:
    t = table(route("r", "/p/**"))
    assert [routed(t, p) for p in ("/p", "/p/", "/p/x", "/p/x/y/z")] == ["r"] * 4
    assert routed(t, "/px") is None
    assert routed(t, "/") is None


def test_slash_double_star_matches_every_path() -> None:
    t = table(route("r", "/**"))
    assert [routed(t, p) for p in ("/", "/a", "/a/b/", "/%C3%A9")] == ["r"] * 4


def test_star_matches_exactly_one_non_empty_segment() -> None:
    t = table(route("r", "/p/*"))
    assert routed(t, "/p/x") == "r"
    assert [routed(t, p) for p in ("/p", "/p/", "/p/x/y", "/p/x/")] == [None] * 4


def test_star_may_stand_between_literal_segments() -> None:
    t = table(route("r", "/users/*/orders"))
    assert routed(t, "/users/42/orders") == "r"
    assert routed(t, "/users/42/orders/7") is None
    assert routed(t, "/users/orders") is None


def test_star_and_double_star_combine() -> None:
    t = table(route("r", "/t/*/files/**"))
    assert routed(t, "/t/acme/files") == "r"
    assert routed(t, "/t/acme/files/a/b.txt") == "r"
    assert routed(t, "/t/acme/other") is None


def test_a_regex_path_must_match_the_whole_path() -> None:
    t = table(route("r", "~/v[0-9]+/items"))
    assert routed(t, "/v2/items") == "r"
    assert routed(t, "/v2/items/1") is None
    assert routed(t, "/x/v2/items") is None


def test_a_route_matches_on_any_of_its_paths() -> None:
    t = table(route("r", "/a", "/b/**", "~/c[0-9]"))
    assert [routed(t, p) for p in ("/a", "/b/x", "/c7")] == ["r"] * 3


# ---------------------------------------------------------------- specificity


def test_an_exact_path_beats_a_wildcard_pattern() -> None:
    t = table(route("wild", "/api/**"), route("exact", "/api/health"))
    assert routed(t, "/api/health") == "exact"
    assert routed(t, "/api/users") == "wild"


def test_a_longer_literal_prefix_beats_a_shorter_one() -> None:
    t = table(route("short", "/api/**"), route("long", "/api/v1/**"))
    assert routed(t, "/api/v1/users") == "long"
    assert routed(t, "/api/v2/users") == "short"


def test_more_literal_segments_beat_fewer() -> None:
    t = table(route("one", "/users/**"), route("two", "/users/*/orders"))
    assert routed(t, "/users/42/orders") == "two"
    assert routed(t, "/users/42/invoices") == "one"


def test_star_beats_double_star_on_the_same_prefix() -> None:
    t = table(route("rest", "/api/**"), route("one", "/api/*"))
    assert routed(t, "/api/x") == "one"
    assert routed(t, "/api/x/y") == "rest"
    assert routed(t, "/api") == "rest"


def test_any_pattern_beats_a_regex() -> None:
    t = table(route("regex", "~/api/.*"), route("catch-all", "/**"))
    assert routed(t, "/api/x") == "catch-all"


def test_a_regex_beats_no_match() -> None:
    t = table(route("regex", "~/api/.*"), route("other", "/other/**"))
    assert routed(t, "/api/x") == "regex"


def test_priority_outranks_every_other_rule() -> None:
    t = table(
        route("exact", "/api/health", hosts=["example.com"], methods=["GET"]),
        route("urgent", "~.*", priority=10),
    )
    assert routed(t, "/api/health") == "urgent"


def test_lower_priority_loses_even_when_more_specific() -> None:
    t = table(route("exact", "/api/health", priority=-1), route("wild", "/**"))
    assert routed(t, "/api/health") == "wild"


def test_priorities_at_the_ends_of_their_range_keep_their_order() -> None:
    # A place's key packs the priority (an int32) above every other rule.
    t = table(
        route("lowest", "/api/health", hosts=["example.com"], methods=["GET"], priority=-(2**31)),
        route("low", "~.*", priority=-(2**31) + 1),
        route("highest", "~/top/.*", priority=2**31 - 1),
    )
    assert routed(t, "/api/health") == "low"
    assert routed(t, "/top/x") == "highest"


def test_routes_with_header_conditions_beat_routes_without() -> None:
    t = table(
        route("plain", "/api/**"),
        route("canary", "/api/**", headers=[{"name": "x-canary", "kind": PRESENT}]),
    )
    assert routed(t, "/api/x", headers={"x-canary": "1"}) == "canary"
    assert routed(t, "/api/x", headers={}) == "plain"


def test_routes_naming_methods_beat_routes_admitting_any() -> None:
    t = table(route("any", "/api/**"), route("reads", "/api/**", methods=["GET"]))
    assert routed(t, "/api/x", "GET") == "reads"
    assert routed(t, "/api/x", "DELETE") == "any"


def test_host_outranks_path() -> None:
    t = table(route("exact-path", "/api/users"), route("host", "/**", hosts=["example.com"]))
    assert routed(t, "/api/users", host="example.com") == "host"
    assert routed(t, "/api/users", host="other.com") == "exact-path"


def test_path_outranks_headers_and_methods() -> None:
    t = table(
        route("narrow", "/api/users"),
        route(
            "wide",
            "/api/**",
            methods=["GET"],
            headers=[{"name": "x-a", "kind": PRESENT}],
        ),
    )
    assert routed(t, "/api/users", headers={"x-a": "1"}) == "narrow"


def test_a_tie_goes_to_the_first_name_whatever_the_input_order() -> None:
    # Same priority, host, literal head "/a", two literal segments, ending in "*".
    b, a = route("b", "/a/*/c/*"), route("a", "/a/*/*/d")
    assert routed(table(a, b), "/a/x/c/d") == "a"
    assert routed(table(b, a), "/a/x/c/d") == "a"
    first, second = route("first", "~/r/.*"), route("second", "~/r/[a-z]+")
    assert routed(table(second, first), "/r/abc") == "first"
    assert routed(table(first, second), "/r/abc") == "first"


# ---------------------------------------------------------------- hosts


def test_an_exact_host_ignores_case_and_the_requests_port() -> None:
    t = table(route("r", "/**", hosts=["api.example.com"]))
    assert routed(t, "/", host="API.Example.COM") == "r"
    assert routed(t, "/", host="api.example.com:8080") == "r"
    assert routed(t, "/", host="api.example.com.") == "r"
    assert routed(t, "/", host="example.com") is None
    assert routed(t, "/", host="") is None


def test_a_route_host_with_a_port_needs_that_port() -> None:
    t = table(route("r", "/**", hosts=["api.example.com:8443"]))
    assert routed(t, "/", host="api.example.com:8443") == "r"
    assert routed(t, "/", host="api.example.com:8080") is None
    assert routed(t, "/", host="api.example.com") is None


def test_a_wildcard_host_matches_subdomains_but_not_the_domain() -> None:
    t = table(route("r", "/**", hosts=["*.example.com"]))
    assert routed(t, "/", host="a.example.com") == "r"
    assert routed(t, "/", host="a.b.Example.com:80") == "r"
    assert routed(t, "/", host="example.com") is None
    assert routed(t, "/", host="badexample.com") is None
    assert routed(t, "/", host=".example.com") is None


def test_exact_host_beats_longer_wildcard_beats_shorter_wildcard_beats_any_host() -> None:
    t = table(
        route("any", "/**"),
        route("short", "/**", hosts=["*.com"]),
        route("long", "/**", hosts=["*.example.com"]),
        route("exact", "/**", hosts=["api.example.com"]),
    )
    assert routed(t, "/", host="api.example.com") == "exact"
    assert routed(t, "/", host="www.example.com") == "long"
    assert routed(t, "/", host="www.other.com") == "short"
    assert routed(t, "/", host="localhost") == "any"


def test_a_route_with_several_hosts_matches_each() -> None:
    t = table(route("r", "/**", hosts=["a.example.com", "*.example.org"]))
    assert routed(t, "/", host="a.example.com") == "r"
    assert routed(t, "/", host="x.example.org") == "r"
    assert routed(t, "/", host="b.example.com") is None


def test_an_ipv6_host_with_a_port_matches_routes_without_hosts() -> None:
    t = table(route("r", "/**"))
    assert routed(t, "/", host="[::1]:8080") == "r"


def test_many_distinct_hosts_still_match_after_the_selection_cache_turns_over() -> None:
    t = table(route("named", "/**", hosts=["*.example.com"]), route("any", "/**"))
    for i in range(3000):
        assert routed(t, "/", host=f"h{i}.example.com") == "named"
    assert routed(t, "/", host="h1.example.net") == "any"


# ---------------------------------------------------------------- methods


def test_get_also_admits_head() -> None:
    t = table(route("r", "/a", methods=["GET"]))
    assert routed(t, "/a", "HEAD") == "r"


def test_a_method_no_route_admits_is_405_with_allow() -> None:
    t = table(route("r", "/a/**", methods=["GET", "POST"]))
    assert t.match("DELETE", "example.com", "/a/x") == MethodNotAllowed("GET, HEAD, POST")


def test_allow_lists_the_methods_of_every_route_that_fits() -> None:
    t = table(
        route("reads", "/a/**", methods=["GET"]),
        route("writes", "/a/x", methods=["PUT", "DELETE"]),
    )
    assert t.match("POST", "example.com", "/a/x") == MethodNotAllowed("DELETE, GET, HEAD, PUT")
    assert t.match("POST", "example.com", "/a/y") == MethodNotAllowed("GET, HEAD")


def test_a_less_specific_route_admitting_the_method_wins_over_405() -> None:
    t = table(route("get-only", "/a/x", methods=["GET"]), route("any", "/a/**"))
    assert routed(t, "/a/x", "POST") == "any"


def test_no_route_for_the_path_is_404_whatever_the_method() -> None:
    t = table(route("r", "/a", methods=["GET"]))
    assert t.match("POST", "example.com", "/b") is None


def test_a_route_for_another_host_gives_404_not_405() -> None:
    t = table(route("r", "/a", methods=["GET"], hosts=["api.example.com"]))
    assert t.match("POST", "other.example.com", "/a") is None


def test_a_route_whose_headers_do_not_fit_gives_404_not_405() -> None:
    t = table(route("r", "/a", methods=["GET"], headers=[{"name": "x-a", "kind": PRESENT}]))
    assert t.match("POST", "example.com", "/a", {}) is None
    assert t.match("POST", "example.com", "/a", {"x-a": "1"}) == MethodNotAllowed("GET, HEAD")


# ---------------------------------------------------------------- headers


def headers_route(**match: Any) -> RouteTable[str]:
    return table(route("r", "/**", headers=[{"name": "x-tier", **match}]))


def test_an_exact_header_condition_compares_the_value() -> None:
    t = headers_route(kind=EXACT, value="gold")
    assert routed(t, "/", headers={"x-tier": "gold"}) == "r"
    assert routed(t, "/", headers={"x-tier": "golden"}) is None
    assert routed(t, "/", headers={}) is None


def test_a_prefix_header_condition_compares_the_start() -> None:
    t = headers_route(kind=PREFIX, value="gold")
    assert routed(t, "/", headers={"x-tier": "golden"}) == "r"
    assert routed(t, "/", headers={"x-tier": "silver"}) is None


def test_a_regex_header_condition_matches_the_whole_value() -> None:
    t = headers_route(kind=REGEX, value="v[0-9]+")
    assert routed(t, "/", headers={"x-tier": "v12"}) == "r"
    assert routed(t, "/", headers={"x-tier": "v12-beta"}) is None


def test_a_present_header_condition_ignores_the_value() -> None:
    t = headers_route(kind=PRESENT)
    assert routed(t, "/", headers={"x-tier": ""}) == "r"
    assert routed(t, "/", headers={"x-other": "1"}) is None


def test_an_inverted_condition_admits_what_the_condition_refuses() -> None:
    t = headers_route(kind=EXACT, value="gold", invert=True)
    assert routed(t, "/", headers={"x-tier": "silver"}) == "r"
    assert routed(t, "/", headers={}) == "r"
    assert routed(t, "/", headers={"x-tier": "gold"}) is None
    absent = headers_route(kind=PRESENT, invert=True)
    assert routed(absent, "/", headers={}) == "r"
    assert routed(absent, "/", headers={"x-tier": "1"}) is None


def test_every_header_condition_of_a_route_must_hold() -> None:
    t = table(
        route(
            "r",
            "/**",
            headers=[
                {"name": "x-a", "kind": EXACT, "value": "1"},
                {"name": "x-b", "kind": PRESENT},
            ],
        )
    )
    assert routed(t, "/", headers={"x-a": "1", "x-b": "y"}) == "r"
    assert routed(t, "/", headers={"x-a": "1"}) is None


def test_header_names_in_conditions_match_lower_case_request_names() -> None:
    t = table(route("r", "/**", headers=[{"name": "X-Tier", "kind": PRESENT}]))
    assert routed(t, "/", headers={"x-tier": "gold"}) == "r"


def test_the_table_asks_for_headers_only_when_a_route_matches_on_them() -> None:
    assert table(route("r", "/**")).needs_headers is False
    assert headers_route(kind=PRESENT).needs_headers is True


def test_a_header_route_is_not_matched_when_no_headers_are_given() -> None:
    t = table(route("plain", "/**"), route("hdr", "/**", headers=[{"name": "x", "kind": PRESENT}]))
    assert routed(t, "/", headers=None) == "plain"


# ---------------------------------------------------------------- forwarded paths


def test_strip_prefix_removes_the_literal_head_of_the_pattern() -> None:
    t = table(route("r", "/api/**", strip_prefix=True))
    assert forwarded(t, "/api/users/42") == "/users/42"
    assert forwarded(t, "/api/") == "/"
    assert forwarded(t, "/api") == "/"


def test_strip_prefix_stops_at_the_first_wildcard() -> None:
    t = table(route("r", "/api/*/users", strip_prefix=True))
    assert forwarded(t, "/api/v1/users") == "/v1/users"


def test_strip_prefix_of_an_exact_path_forwards_the_root() -> None:
    t = table(route("r", "/api/health", strip_prefix=True))
    assert forwarded(t, "/api/health") == "/"


def test_strip_prefix_of_a_catch_all_strips_nothing() -> None:
    t = table(route("r", "/**", strip_prefix=True))
    assert forwarded(t, "/a/b") == "/a/b"


def test_rewrite_replaces_the_literal_head_of_a_pattern() -> None:
    t = table(route("r", "/api/**", rewrite="/v2"))
    assert forwarded(t, "/api/users") == "/v2/users"
    assert forwarded(t, "/api") == "/v2"
    assert forwarded(t, "/api/") == "/v2/"


def test_rewrite_to_the_root_never_makes_a_double_slash() -> None:
    t = table(route("r", "/api/**", rewrite="/"))
    assert forwarded(t, "/api/users") == "/users"
    assert forwarded(t, "/api") == "/"
    t = table(route("r", "/api/**", rewrite="/v2/"))
    assert forwarded(t, "/api/users") == "/v2/users"


def test_rewrite_replaces_an_exact_path_whole() -> None:
    t = table(route("r", "/health", rewrite="/internal/status"))
    assert forwarded(t, "/health") == "/internal/status"


def test_rewrite_of_a_regex_path_is_a_substitution_template() -> None:
    t = table(route("r", "~/v(?P<version>[0-9]+)/(.*)", rewrite=r"/api/\2/\g<version>"))
    assert forwarded(t, "/v3/users/7") == "/api/users/7/3"


def test_a_regex_rewrite_is_normalized_before_forwarding() -> None:
    t = table(route("r", "~/files(/.*)?", rewrite=r"/store/\1"))
    assert forwarded(t, "/files/a/b") == "/store/a/b"
    assert forwarded(t, "/files") == "/store/"


def test_without_strip_or_rewrite_the_normalized_path_is_forwarded() -> None:
    t = table(route("r", "/api/**"), route("x", "/exact"), route("re", "~/re/.*"))
    assert forwarded(t, "/api/a/b") == "/api/a/b"
    assert forwarded(t, "/exact") == "/exact"
    assert forwarded(t, "/re/1") == "/re/1"


def test_the_payload_is_returned_as_compiled() -> None:
    payload = object()
    t = RouteTable.compile([(route("r", "/a"), payload)])
    found = t.match("GET", "h", "/a")
    assert isinstance(found, RouteMatch)
    assert found.route is payload
    assert found.name == "r"


@pytest.mark.parametrize("path", ["/api/x", "/exact"])
def test_a_match_is_immutable_and_compares_by_value(path: str) -> None:
    t = RouteTable.compile([(route("r", "/api/**", "/exact"), "payload")])
    found = t.match("GET", "h", path)
    assert found == RouteMatch("payload", path, "r")
    assert isinstance(found, RouteMatch)
    with pytest.raises(AttributeError):
        found.path = "/elsewhere"  # type: ignore[misc]


# ---------------------------------------------------------------- refused configs


@pytest.mark.parametrize(
    ("bad", "field", "message"),
    [
        (route("r", "~(unclosed"), "routes.r.paths.0", "regex does not compile"),
        (route("r", "/files/*.png"), "routes.r.paths.0", "whole segment"),
        (route("r", "/a/**/b"), "routes.r.paths.0", "may only end"),
        (route("r", "/a/***"), "routes.r.paths.0", "whole segment"),
        (route("r", "/a//b"), "routes.r.paths.0", "write '/a/b'"),
        (route("r", "/a/../b"), "routes.r.paths.0", "write '/b'"),
        (route("r", "/%61"), "routes.r.paths.0", "write '/a'"),
        (route("r", "/a;b"), "routes.r.paths.0", "not a valid path"),
        (route("r", "a/b"), "routes.r.paths.0", "not a valid path"),
        (route("r", "/a/**", strip_prefix=True, rewrite="/b"), "routes.r.rewrite", "not both"),
        (route("r", "~/a/.*", strip_prefix=True), "routes.r.strip_prefix", "use rewrite"),
        (route("r", "~/a/(.*)", rewrite=r"/b/\2"), "routes.r.rewrite", "does not fit"),
        (route("r", "~/a/(.*)", rewrite=r"/b;\1"), "routes.r.rewrite", "template"),
        (route("r", "/a/**", rewrite="/b//c"), "routes.r.rewrite", "write '/b/c'"),
        (route("r", "/a", hosts=["bad host"]), "routes.r.hosts.0", "host name"),
        (
            route("r", "/a", headers=[{"name": "x", "kind": REGEX, "value": "("}]),
            "routes.r.headers.0.value",
            "regex does not compile",
        ),
        (route("r"), "routes.r.paths", "at least one path"),
    ],
)
def test_a_route_that_cannot_compile_is_refused_naming_the_field(
    bad: pb.Route, field: str, message: str
) -> None:
    with pytest.raises(ConfigInvalid) as caught:
        table(route("fine", "/ok"), bad)
    assert [e.field for e in caught.value.errors] == [field]
    assert message in caught.value.errors[0].message


def test_every_error_of_a_table_is_reported_at_once() -> None:
    with pytest.raises(ConfigInvalid) as caught:
        table(route("a", "~("), route("b", "/x//y", "/ok"))
    assert [e.field for e in caught.value.errors] == ["routes.a.paths.0", "routes.b.paths.0"]


# ---------------------------------------------------------------- scale


def test_a_table_of_ten_thousand_routes_answers_every_kind_correctly() -> None:
    routes = []
    for i in range(2500):
        routes.append(route(f"prefix-{i}", f"/svc{i}/**", methods=["GET", "POST"]))
        routes.append(route(f"exact-{i}", f"/svc{i}/health"))
        routes.append(route(f"host-{i}", "/**", hosts=[f"tenant{i}.example.com"]))
        routes.append(route(f"star-{i}", f"/t/{i}/*/items", strip_prefix=True))
    t = table(*routes)
    assert t.routes == 10_000
    assert routed(t, "/svc1234/users/9") == "prefix-1234"
    assert routed(t, "/svc1234/health") == "exact-1234"
    assert routed(t, "/svc2499") == "prefix-2499"
    assert routed(t, "/anything", host="tenant777.example.com") == "host-777"
    assert routed(t, "/svc5/users", host="tenant777.example.com") == "host-777"
    assert forwarded(t, "/t/42/acme/items") == "/acme/items"
    assert t.match("DELETE", "example.com", "/svc7/x") == MethodNotAllowed("GET, HEAD, POST")
    assert routed(t, "/svc2500/x") is None
    assert routed(t, "/t/42/acme/items/1") is None


def test_the_table_shows_its_size_in_its_repr() -> None:
    t = table(route("a", "/a", hosts=["x.com"]), route("b", "~/b"))
    assert repr(t) == "<RouteTable routes=2 hosts=2 regexes=1 needs_headers=False>"
