"""W3C trace context through real nodes, and spans exported over OTLP to a receiver of the
test's own, parented as the client and the upstream see them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from data_plane.tracing import parse_traceparent
from tests.data_plane.otlp_receiver import OtlpReceiver
from tests.data_plane.running_node import RunningNode, catch_all
from tests.data_plane.scripted_upstream import ScriptedUpstream

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")


def upstream_traceparent(scripted: ScriptedUpstream) -> tuple[str, str, str]:
    (request,) = scripted.wait_for(1)
    values = request.all("traceparent")
    assert len(values) == 1, values
    match = TRACEPARENT.fullmatch(values[0])
    assert match is not None, values[0]
    trace_id, span_id, flags = match.groups()
    return trace_id, span_id, flags


def test_a_traceparent_is_read_only_when_valid() -> None:
    good = f"00-{TRACE}-{PARENT}-01".encode()
    assert parse_traceparent(good) == (TRACE.encode(), PARENT.encode(), 1)
    for bad in (
        f"00-{TRACE.upper()}-{PARENT}-01",
        f"00-{'0' * 32}-{PARENT}-01",
        f"00-{TRACE}-{'0' * 16}-01",
        f"01-{TRACE}-{PARENT}-01-extra",
        f"00-{TRACE}-{PARENT}-01\n",
        f"00-{TRACE}-{PARENT}",
        "",
    ):
        assert parse_traceparent(bad.encode()) is None, bad
    assert parse_traceparent(None) is None


# ---------------------------------------------------------------- trace context alone


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory, upstream: ScriptedUpstream) -> Iterator[Any]:
    running = RunningNode(
        tmp_path_factory.mktemp("trace-context"),
        catch_all(upstream.address),
        env={"FLEETGATE_ACCESS_LOG": "off", "OTEL_EXPORTER_OTLP_ENDPOINT": ""},
    )
    running.start()
    yield running
    running.stop()


def test_a_trace_is_continued_with_the_gateway_s_span_as_the_upstream_s_parent(
    node: Any, scripted: ScriptedUpstream
) -> None:
    response = node.get(
        "/x", {"traceparent": f"00-{TRACE}-{PARENT}-01", "tracestate": "vendor=abc,other=1"}
    )
    assert response.status == 200
    trace_id, span_id, flags = upstream_traceparent(scripted)
    assert (trace_id, flags) == (TRACE, "01")
    assert span_id != PARENT
    (request,) = scripted.received()
    assert request.all("tracestate") == ["vendor=abc,other=1"]


def test_the_sampled_flag_of_the_client_is_kept(node: Any, scripted: ScriptedUpstream) -> None:
    node.get("/x", {"traceparent": f"00-{TRACE}-{PARENT}-00"})
    assert upstream_traceparent(scripted)[::2] == (TRACE, "00")


def test_a_request_without_a_trace_starts_one(node: Any, scripted: ScriptedUpstream) -> None:
    node.get("/x")
    first = upstream_traceparent(scripted)
    scripted.clear()
    node.get("/x")
    second = upstream_traceparent(scripted)
    assert first[0] != second[0] and first[1] != second[1]
    assert first[2] == "01"


def test_an_invalid_traceparent_starts_a_new_trace_and_drops_tracestate(
    node: Any, scripted: ScriptedUpstream
) -> None:
    node.get("/x", {"traceparent": f"00-{TRACE.upper()}-{PARENT}-01", "tracestate": "a=b"})
    trace_id, _, _ = upstream_traceparent(scripted)
    assert trace_id != TRACE.upper().lower()
    (request,) = scripted.received()
    assert request.all("tracestate") == []


def test_two_traceparents_are_invalid(node: Any, scripted: ScriptedUpstream) -> None:
    node.request(
        b"GET /x HTTP/1.1\r\nHost: gw.test\r\n"
        + f"traceparent: 00-{TRACE}-{PARENT}-01\r\n".encode() * 2
        + b"\r\n"
    )
    assert upstream_traceparent(scripted)[0] != TRACE


# ---------------------------------------------------------------- exported spans


def exporting_node(directory: Path, upstream: str, receiver: OtlpReceiver, **env: str) -> Any:
    config = catch_all(upstream)
    config["routes"].insert(0, {"name": "missing", "paths": ["/missing/**"], "service": "app"})
    return RunningNode(
        directory,
        config,
        env={
            "FLEETGATE_ACCESS_LOG": "off",
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "100",
            "OTEL_SERVICE_NAME": "edge-gateway",
            **env,
        },
    ).start()


def test_spans_reach_the_collector_parented_between_client_and_upstream(
    tmp_path: Path, scripted: ScriptedUpstream
) -> None:
    with OtlpReceiver() as receiver:
        running = exporting_node(tmp_path, scripted.address, receiver)
        try:
            response = running.get("/orders/7?x=1", {"traceparent": f"00-{TRACE}-{PARENT}-01"})
            assert response.status == 200
            trace_id, span_id, _ = upstream_traceparent(scripted)
            (span,) = receiver.wait_for(1)
        finally:
            running.stop()
    assert span.trace_id.hex() == TRACE == trace_id
    assert span.parent_span_id.hex() == PARENT
    assert span.span_id.hex() == span_id  # the upstream's parent is the gateway's span
    assert span.kind == 2  # SPAN_KIND_SERVER
    assert span.name == "GET all"
    attributes = {a.key: a.value for a in span.attributes}
    assert attributes["http.request.method"].string_value == "GET"
    assert attributes["url.path"].string_value == "/orders/7"
    assert attributes["http.route"].string_value == "all"
    assert attributes["http.response.status_code"].int_value == 200
    assert attributes["fleetgate.request_id"].string_value == response.header("X-Request-ID")
    assert attributes["network.peer.port"].int_value == int(scripted.address.rpartition(":")[2])
    assert span.end_time_unix_nano >= span.start_time_unix_nano > 0
    assert receiver.resources[0]["service.name"].string_value == "edge-gateway"


def test_a_started_trace_and_a_gateway_error_are_exported_as_a_root_span_with_error(
    tmp_path: Path, scripted: ScriptedUpstream
) -> None:
    with OtlpReceiver() as receiver:
        running = exporting_node(tmp_path, "127.0.0.1:9", receiver)
        try:
            assert running.get("/x").status == 502
            (span,) = receiver.wait_for(1)
        finally:
            running.stop()
    assert span.parent_span_id == b""
    attributes = {a.key: a.value for a in span.attributes}
    assert attributes["http.response.status_code"].int_value == 502
    assert attributes["error.type"].string_value == "upstream_connect_failed"
    assert span.status.code == 2  # STATUS_CODE_ERROR


def test_the_standard_sampler_variables_are_honoured(
    tmp_path: Path, scripted: ScriptedUpstream
) -> None:
    with OtlpReceiver() as receiver:
        running = exporting_node(
            tmp_path, scripted.address, receiver, OTEL_TRACES_SAMPLER="always_off"
        )
        try:
            running.get("/x")
            flags = upstream_traceparent(scripted)[2]
            assert int(flags, 16) & 1 == 0  # not sampled, and the upstream is told
            scripted.clear()
            # parent-based is not asked for: always_off drops a sampled parent's child too.
            running.get("/x", {"traceparent": f"00-{TRACE}-{PARENT}-01"})
            trace_id, _, flags = upstream_traceparent(scripted)
            assert trace_id == TRACE and int(flags, 16) & 1 == 0
        finally:
            running.stop()
        assert receiver.spans == []  # stop() flushed whatever was held


def test_addresses_are_named_as_the_semantic_conventions_say(
    tmp_path: Path, scripted: ScriptedUpstream
) -> None:
    """server.address is the Host header's name without its port (server.port), and an
    IPv6 literal without its brackets, as is network.peer.address."""
    with OtlpReceiver() as receiver:
        running = exporting_node(tmp_path, "[::1]:9", receiver)
        try:
            response = running.request(b"GET /x HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n")
            assert response.status == 502
            (span,) = receiver.wait_for(1)
        finally:
            running.stop()
    attributes = {a.key: a.value for a in span.attributes}
    assert attributes["server.address"].string_value == "::1"
    assert attributes["server.port"].int_value == 8080
    assert attributes["network.peer.address"].string_value == "::1"
    assert attributes["network.peer.port"].int_value == 9
