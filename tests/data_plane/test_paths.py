"""Path normalization: every rule of DESIGN.md's "HTTP correctness at the edge"."""

from __future__ import annotations

import pytest

from data_plane.routing.paths import BadPath, normalize_path


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        (b"/api/../admin", "/admin"),
        (b"/api/%2e%2e/admin", "/admin"),
        (b"/api/%2E%2E/admin", "/admin"),
        (b"/api/.%2e/admin", "/admin"),
        (b"//admin", "/admin"),
        (b"/%61dmin", "/admin"),
    ],
)
def test_traversal_attempts_normalize_to_the_path_they_name(raw: bytes, normalized: str) -> None:
    assert normalize_path(raw) == normalized


def test_an_encoded_slash_inside_a_traversal_is_refused() -> None:
    with pytest.raises(BadPath, match="%2F"):
        normalize_path(b"/api/..%2fadmin")


def test_a_plain_path_is_returned_unchanged() -> None:
    assert normalize_path(b"/api/v1/users/42") == "/api/v1/users/42"


def test_the_root_stays_the_root() -> None:
    assert normalize_path(b"/") == "/"


def test_a_trailing_slash_is_kept() -> None:
    assert normalize_path(b"/api/") == "/api/"


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [(b"/%41%7a%30%2d%2e%5f%7e", "/Az0-._~"), (b"/us%65rs", "/users")],
)
def test_unreserved_characters_are_decoded(raw: bytes, normalized: str) -> None:
    assert normalize_path(raw) == normalized


def test_unreserved_characters_are_decoded_only_once() -> None:
    # "%252e" is "%2e" once decoded: data, not a dot segment.
    assert normalize_path(b"/api/%252e%252e/admin") == "/api/%252e%252e/admin"


def test_reserved_escapes_stay_encoded_with_upper_case_hex() -> None:
    assert normalize_path(b"/a%3fb/%c3%a9/%20") == "/a%3Fb/%C3%A9/%20"


def test_bytes_a_path_may_not_hold_raw_are_percent_encoded() -> None:
    assert normalize_path("/a|b/é".encode()) == "/a%7Cb/%C3%A9"


def test_runs_of_slashes_are_merged() -> None:
    assert normalize_path(b"/a//b///c/") == "/a/b/c/"


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        (b"/a/./b", "/a/b"),
        (b"/a/b/../c", "/a/c"),
        (b"/a/b/..", "/a/"),
        (b"/a/b/.", "/a/b/"),
        (b"/a/./", "/a/"),
        (b"/.", "/"),
        (b"/a/b/c/../../d", "/a/d"),
    ],
)
def test_dot_segments_are_removed(raw: bytes, normalized: str) -> None:
    assert normalize_path(raw) == normalized


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [(b"/..", "/"), (b"/../../etc/passwd", "/etc/passwd"), (b"/a/../../b", "/b")],
)
def test_dot_segments_never_climb_above_the_root(raw: bytes, normalized: str) -> None:
    assert normalize_path(raw) == normalized


def test_names_that_only_start_with_a_dot_are_kept() -> None:
    assert normalize_path(b"/.well-known/a..b/...") == "/.well-known/a..b/..."


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"/a%2Fb", "%2F"),
        (b"/a%2fb", "%2F"),
        (b"/a%5Cb", "%5C"),
        (b"/a%5cb", "%5C"),
        (b"/a%00b", "NUL"),
        (b"/a\\b", "'\\\\'"),
        (b"/admin;jsessionid=1", "';'"),
        (b"/api/..;/admin", "';'"),
        (b"/a%3Bb", "%3B"),
    ],
)
def test_separators_in_disguise_are_refused(raw: bytes, reason: str) -> None:
    with pytest.raises(BadPath, match=reason):
        normalize_path(raw)


@pytest.mark.parametrize("raw", [b"/%zz", b"/a%2", b"/a%", b"/%g0", b"/%%41"])
def test_invalid_percent_sequences_are_refused(raw: bytes) -> None:
    with pytest.raises(BadPath, match="invalid percent escape"):
        normalize_path(raw)


@pytest.mark.parametrize("raw", [b"/a b", b"/a\tb", b"/a\x7fb", b"/a\x00b", b"/a\rb"])
def test_spaces_and_control_bytes_are_refused(raw: bytes) -> None:
    with pytest.raises(BadPath, match="control or space"):
        normalize_path(raw)


@pytest.mark.parametrize("raw", [b"/a?b=1", b"/a#b"])
def test_the_query_and_fragment_are_not_part_of_the_input(raw: bytes) -> None:
    # The proxy splits the query off and forwards it byte for byte; a "?" reaching
    # normalization means it was not split off, and a fragment is never sent.
    with pytest.raises(BadPath):
        normalize_path(raw)


@pytest.mark.parametrize("raw", [b"", b"*", b"admin", b"http://example.com/admin", b"%2Fadmin"])
def test_a_target_that_is_not_origin_form_is_refused(raw: bytes) -> None:
    with pytest.raises(BadPath, match="origin-form"):
        normalize_path(raw)


def test_bad_path_carries_the_status_to_answer_with() -> None:
    with pytest.raises(BadPath) as caught:
        normalize_path(b"/a;b")
    assert caught.value.status == 400
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    "raw", [b"/api/../admin", b"/a/%2e/b//c/..", b"/%61%62c/%c3%a9/x|y", b"/../.well-known"]
)
def test_normalizing_twice_changes_nothing(raw: bytes) -> None:
    once = normalize_path(raw)
    assert normalize_path(once.encode()) == once
