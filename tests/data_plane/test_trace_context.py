"""The trace context sent upstream: the compiled twin writes the very bytes the pure one
does, and takes the very `traceparent` values `parse_traceparent` takes.

In CI the compiled twin must exist (a build that silently fell back to the pure one
would leave the fast path untested).
"""

from __future__ import annotations

import importlib
import os
import re
from types import ModuleType, SimpleNamespace

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from data_plane import extensions, tracing
from data_plane import trace_context as pure

IN_CI = os.environ.get("CI") == "true"
VALID = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
LINE = re.compile(rb"00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")


def compiled_or_skip() -> ModuleType:
    try:
        return importlib.import_module("data_plane.trace_context_c")
    except ImportError as exc:
        if IN_CI:
            pytest.fail(f"the compiled trace context was not built: {exc}", pytrace=False)
        pytest.skip(f"the compiled trace context is not built here: {exc}")


@pytest.fixture(params=["pure", "compiled"])
def twin(request: pytest.FixtureRequest) -> ModuleType:
    return pure if request.param == "pure" else compiled_or_skip()


def exchange(traceparent: bytes | None, tracestate: bytes | None = None) -> SimpleNamespace:
    head = SimpleNamespace(traceparent=traceparent, tracestate=tracestate)
    return SimpleNamespace(head=head, traceparent=b"", tracestate=b"unset")


def test_the_compiled_twin_is_the_one_loaded_when_built(monkeypatch: pytest.MonkeyPatch) -> None:
    compiled = compiled_or_skip()
    monkeypatch.setattr(extensions, "NO_EXTENSIONS", False)
    assert extensions.load("data_plane.trace_context") is compiled
    monkeypatch.setattr(extensions, "NO_EXTENSIONS", True)
    assert extensions.load("data_plane.trace_context") is pure


@pytest.mark.skipif(extensions.NO_EXTENSIONS, reason="FLEETGATE_NO_EXTENSIONS=1 runs the pure twin")
def test_a_normal_run_starts_traces_with_the_compiled_twin() -> None:
    assert tracing.Tracing.start is compiled_or_skip().start


def test_a_request_without_a_traceparent_starts_a_sampled_trace(twin: ModuleType) -> None:
    first, second = exchange(None, b"k=v"), exchange(None)
    twin.start(first)
    twin.start(second)
    assert LINE.fullmatch(first.traceparent) and first.traceparent.endswith(b"-01")
    assert first.traceparent[3:35] != second.traceparent[3:35]  # a new trace each time
    assert first.tracestate is None  # a tracestate without its traceparent is dropped


def test_a_valid_traceparent_is_continued_under_the_gateways_span(twin: ModuleType) -> None:
    sent = exchange(VALID[:-2] + b"00", b"vendor=1")
    twin.start(sent)
    assert LINE.fullmatch(sent.traceparent)
    assert sent.traceparent[:36] == VALID[:36]  # the same trace
    assert sent.traceparent[36:52] != VALID[36:52]  # the gateway's span is the parent
    assert sent.traceparent.endswith(b"-00")  # the flags as received
    assert sent.tracestate == b"vendor=1"


def test_an_oversized_tracestate_is_dropped(twin: ModuleType) -> None:
    sent = exchange(VALID, b"k=" + b"v" * pure.MAX_TRACESTATE)
    twin.start(sent)
    assert sent.traceparent[:36] == VALID[:36] and sent.tracestate is None


@pytest.mark.parametrize(
    "bad",
    [
        b"",
        VALID.upper(),
        VALID[:-1],
        VALID + b"0",
        b"01" + VALID[2:],
        VALID.replace(b"-", b"_", 1),
        b"00-" + b"0" * 32 + VALID[35:],  # no trace id
        VALID[:36] + b"0" * 16 + VALID[52:],  # no parent span
        VALID[:53] + b"0g",
        VALID[:3] + b"\xff" + VALID[4:],
    ],
)
def test_an_invalid_traceparent_starts_a_new_trace(twin: ModuleType, bad: bytes) -> None:
    assert not twin.valid(bad)
    sent = exchange(bad, b"k=v")
    twin.start(sent)
    assert sent.traceparent[3:35] != bad[3:35] and sent.tracestate is None


_HEXISH = st.sampled_from(b"0123456789abcdefABF-g\x00\xff")


@given(
    st.one_of(
        st.binary(max_size=60),
        st.lists(_HEXISH, min_size=53, max_size=57).map(bytes),
        st.lists(st.sampled_from(b"0123456789abcdef"), min_size=55, max_size=55).map(
            lambda digits: (
                bytes(digits[:2])
                + b"-"
                + bytes(digits[3:35])
                + b"-"
                + bytes(digits[36:52])
                + b"-"
                + bytes(digits[53:])
            )
        ),
    )
)
@example(VALID)
@example(b"00-" + b"0" * 31 + b"1" + VALID[35:])
def test_both_twins_take_the_traceparents_the_parser_takes(value: bytes) -> None:
    compiled = compiled_or_skip()
    taken = pure.parse_traceparent(value) is not None
    assert pure.valid(value) is taken
    assert compiled.valid(value) is taken


@given(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1))
@example(0, 1, 1)
@example(2**64 - 1, 2**64 - 1, 2**64 - 1)
def test_both_twins_write_the_same_lines(high: int, low: int, span: int) -> None:
    compiled = compiled_or_skip()
    line = pure.new_trace(high, low, span)
    assert line == b"00-%032x-%016x-01" % ((high << 64) | low, span)
    assert compiled.new_trace(high, low, span) == line
    moved = pure.with_span(VALID, span)
    assert moved == VALID[:36] + b"%016x" % span + VALID[52:]
    assert compiled.with_span(VALID, span) == moved


def test_ids_are_new_past_a_block_of_random_bytes(twin: ModuleType) -> None:
    # 1,000 new traces draw 24 KB of ids: the compiled twin's 4 KiB blocks run out six times.
    sent = [exchange(None) for _ in range(1000)]
    for each in sent:
        twin.start(each)
    assert all(LINE.fullmatch(each.traceparent) for each in sent)
    assert len({each.traceparent[3:35] for each in sent}) == len(sent)
    assert len({each.traceparent[36:52] for each in sent}) == len(sent)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="forks a child")
def test_a_forked_child_sends_ids_of_its_own(twin: ModuleType) -> None:
    twin.start(exchange(None))  # the parent holds random bytes it has not used yet
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child's side
        try:
            sent = exchange(None)
            twin.start(sent)
            os.write(write, sent.traceparent)
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    in_child = os.read(read, 100)
    os.close(read)
    sent = exchange(None)
    twin.start(sent)
    assert LINE.fullmatch(in_child)
    assert in_child[3:35] != sent.traceparent[3:35] and in_child[36:52] != sent.traceparent[36:52]
