"""The per-request CPU micro-bench replays whole exchanges, the same bytes every time."""

from __future__ import annotations

import pytest

from bench.request_cpu import BODY, FEW_FIELDS, MANY_FIELDS, Replay, measure, scenario_replay


@pytest.mark.parametrize("request_bytes", [FEW_FIELDS, MANY_FIELDS], ids=["few", "many"])
def test_a_replayed_request_reaches_the_upstream_and_its_response_the_client(
    request_bytes: bytes,
) -> None:
    result = measure(request_bytes, requests=50, repeats=2)
    assert result.min_us > 0 and result.median_us >= result.min_us
    # The upstream gets the request line and fields (plus the ones the gateway adds);
    # the client gets the response's body and a head.
    assert result.upstream_bytes > len(b"GET /api/v1/orders/12345 HTTP/1.1\r\n")
    assert result.client_bytes > len(BODY)


@pytest.mark.parametrize("scenario", ["auth-api-key", "auth-jwt", "policies"])
def test_a_scenario_replay_is_admitted_by_its_route_policies(scenario: str) -> None:
    plain = measure(requests=50, repeats=2, replay=scenario_replay("plain"))
    result = measure(requests=50, repeats=2, replay=scenario_replay(scenario))
    # measure() raises unless the client got a 200: the credential was taken and the
    # rate limit admitted it. The upstream is told who called (X-Consumer) and, on a
    # limited route, the client gets the RateLimit fields.
    assert result.upstream_bytes > plain.upstream_bytes
    if scenario == "policies":
        assert result.client_bytes > plain.client_bytes


def test_a_replay_refused_by_its_policies_is_reported() -> None:
    replay = scenario_replay("auth-api-key")
    without_key = Replay(replay.config, replay.service, FEW_FIELDS)
    with pytest.raises(AssertionError, match="401"):
        measure(requests=1, repeats=1, replay=without_key)
