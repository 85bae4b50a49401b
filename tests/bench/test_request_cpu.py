"""The per-request CPU micro-bench replays whole exchanges, the same bytes every time."""

from __future__ import annotations

import pytest

from bench.request_cpu import BODY, FEW_FIELDS, MANY_FIELDS, measure


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
