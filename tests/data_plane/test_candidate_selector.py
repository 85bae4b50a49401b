"""The node's candidate selector: header, whole node, sticky share by address, header or
cookie, and the selectors a node refuses (no I/O)."""

from __future__ import annotations

from fleetgate_pb import sync_pb2 as pb

from data_plane.candidate import bucket, compile_selector, cookie_value, selector_problem
from data_plane.http.request import RequestHead

Selector = pb.CandidateSelector


def head(*fields: tuple[bytes, bytes]) -> RequestHead:
    request = RequestHead(b"GET", b"/", b"1.1", True)
    request.headers = list(fields)
    return request


def test_a_header_selector_picks_the_exact_value_only() -> None:
    pick = compile_selector(Selector(header_name="X-Canary", header_value="1"))
    assert pick(head((b"x-canary", b"1")), "10.0.0.1")
    assert not pick(head((b"x-canary", b"10")), "10.0.0.1")
    assert not pick(head(), "10.0.0.1")


def test_a_whole_node_selector_picks_everything() -> None:
    assert compile_selector(Selector(whole_node=True))(head(), "10.0.0.1")


def test_a_share_of_zero_picks_nothing_and_of_a_hundred_everything_with_a_key() -> None:
    assert not compile_selector(Selector(percent=0))(head(), "10.0.0.1")
    assert compile_selector(Selector(percent=100))(head(), "10.0.0.1")


def test_a_sticky_share_by_header_is_within_seven_points_over_400_keys() -> None:
    pick = compile_selector(Selector(percent=10, by=Selector.HEADER, by_name="x-user"))
    picked = [pick(head((b"x-user", b"user-%d" % i)), "10.0.0.1") for i in range(400)]
    assert 3 <= sum(picked) / 4 <= 17
    assert picked == [pick(head((b"x-user", b"user-%d" % i)), "10.0.0.9") for i in range(400)]


def test_a_sticky_share_by_client_address_and_by_cookie() -> None:
    by_address = compile_selector(Selector(percent=50))
    clients = [f"10.0.{i // 256}.{i % 256}" for i in range(400)]
    share = sum(by_address(head(), c) for c in clients) / 4
    assert 43 <= share <= 57
    by_cookie = compile_selector(Selector(percent=100, by=Selector.COOKIE, by_name="sid"))
    assert by_cookie(head((b"cookie", b"a=1; sid=xyz")), "10.0.0.1")
    assert not by_cookie(head((b"cookie", b"a=1")), "10.0.0.1")
    assert not by_cookie(head(), "10.0.0.1")


def test_the_bucket_of_a_key_is_the_same_on_every_node() -> None:
    assert bucket(b"user-1") == 3768  # BLAKE2b, not the per-process hash()
    assert 0 <= bucket(b"") < 10_000


def test_a_node_refuses_a_share_above_a_hundred_or_a_bad_field_name() -> None:
    assert selector_problem(Selector(percent=101)) is not None
    assert selector_problem(Selector(header_name="x y", header_value="1")) is not None
    assert selector_problem(Selector(percent=5, by=Selector.COOKIE, by_name="a\nb")) is not None
    assert selector_problem(Selector(percent=5, by=Selector.HEADER, by_name="x-user")) is None


def test_a_cookie_is_found_by_its_whole_name_among_others() -> None:
    assert cookie_value(b"a=1; sid=xyz; b=2", b"sid") == b"xyz"
    assert cookie_value(b"xsid=1; sid=2", b"sid") == b"2"
    assert cookie_value(b"sid", b"sid") is None
    assert cookie_value(b"a=1", b"sid") is None
    assert cookie_value(b"sid=", b"sid") == b""
