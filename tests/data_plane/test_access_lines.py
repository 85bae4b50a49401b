"""The access log's lines: the compiled twin writes the very bytes the pure one does.

Batches of held requests (as `AccessLog.exchange` holds them) with hostile client
text, non-UTF-8 bytes, names from anywhere, big and negative numbers and milliseconds
on the rounding's ties go through both twins: the bytes must be equal, and every line
one JSON object that says what the request was. In CI the compiled twin must exist.
"""

from __future__ import annotations

import importlib
import json
import os
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from data_plane import access_lines as pure
from data_plane import extensions
from data_plane.http.errors import BadGateway, BadRequest

IN_CI = os.environ.get("CI") == "true"
HOSTILE = [
    b'"quoted"', b"back\\slash", b"ctl\x00\x01\x1f\x7f", b"tab\tnew\nline\r", b"\xff\xfe\xc3",
    b"\xe2\x80\xa8line\xe2\x80\xa9sep", b"caf\xc3\xa9", b'\\"},{"status":1', b"", b"?", b"/a?b?c",
]  # fmt: skip


def compiled_or_skip() -> ModuleType:
    try:
        return importlib.import_module("data_plane.access_lines_c")
    except ImportError as exc:
        if IN_CI:
            pytest.fail(f"the compiled access-log lines were not built: {exc}", pytrace=False)
        pytest.skip(f"the compiled access-log lines are not built here: {exc}")


def test_the_compiled_twin_is_the_one_loaded_when_built(monkeypatch: pytest.MonkeyPatch) -> None:
    compiled = compiled_or_skip()
    monkeypatch.setattr(extensions, "NO_EXTENSIONS", False)
    assert extensions.load("data_plane.access_lines") is compiled
    monkeypatch.setattr(extensions, "NO_EXTENSIONS", True)
    assert extensions.load("data_plane.access_lines") is pure


# ------------------------------------------------------------ records

_names = st.one_of(st.text(max_size=12), st.sampled_from(['r"\\\u2028\u00e9', "\udcff", "app"]))
_plans = st.lists(
    st.builds(
        lambda name, service: SimpleNamespace(name=name, service=SimpleNamespace(name=service)),
        _names,
        _names,
    ),
    min_size=1,
    max_size=3,
)
_targets = st.lists(
    st.builds(lambda address: SimpleNamespace(address=address), _names), min_size=1, max_size=3
)
_client_text = st.one_of(st.binary(max_size=40), st.sampled_from(HOSTILE))
_plain = st.binary(max_size=24).map(lambda data: bytes(b % 26 + 97 for b in data))
_counts = st.one_of(st.integers(0, 10**7), st.integers(-(2**80), 2**80))
# Seconds: any finite float, thousandths of a millisecond, and the exact ties of the
# milliseconds' rounding (m / 16 ms: 0.0625, 0.1875, ...).
_seconds = st.one_of(
    st.floats(min_value=0, max_value=100, allow_nan=False),
    st.floats(min_value=-1e9, max_value=1e300, allow_nan=False, allow_infinity=False),
    st.integers(0, 10**9).map(lambda k: k / 1e6),
    st.integers(0, 2**24).map(lambda m: m / 16 / 1000),
)
_errors = st.one_of(
    st.none(),
    st.builds(lambda detail: BadRequest("malformed", detail=detail), st.text(max_size=12)),
    st.just(BadGateway("no upstream answered")),
)
_calls = st.one_of(
    st.none(),
    st.builds(
        lambda consumer, tenant: SimpleNamespace(consumer=consumer, tenant=tenant),
        st.none() | _names,
        st.none() | _names,
    ),
)


@st.composite
def batches(draw: st.DrawFn) -> list[tuple[Any, ...]]:
    """A batch of held requests, in `AccessLog.exchange`'s shape."""
    plans = [None, *draw(_plans)]
    targets = [None, *draw(_targets)]
    now = draw(st.floats(min_value=0, max_value=1e6, allow_nan=False))  # perf_counter()
    hostile = draw(st.booleans())
    records = []
    for _ in range(draw(st.integers(1, 40))):
        now += draw(st.sampled_from([0.0, 0.0004, 0.3, 1.0]))
        text = _client_text if hostile else _plain
        records.append((
            now, draw(_plain), draw(_plain), draw(text), draw(text), draw(text),
            draw(st.sampled_from(plans)), draw(st.sampled_from(targets)),
            draw(st.integers(0, 999)), draw(_counts), draw(_counts),
            draw(_seconds), draw(st.one_of(st.just(-1.0), _seconds)), draw(_calls),
            draw(st.integers(0, 2**70)), draw(st.integers(0, 1)), draw(_errors),
        ))  # fmt: skip
    return records


def check_lines(data: bytes, records: list[tuple[Any, ...]]) -> None:
    """Every line is one JSON object saying what its record was."""
    assert data.isascii() and data.count(b"\n") == len(records)
    for line, record in zip(data.splitlines(), records, strict=True):
        found = json.loads(line)
        method, path, host, plan, target = record[3:8]
        assert found["method"] == method.decode("utf-8", "replace")
        assert found["path"] == path.partition(b"?")[0].decode("utf-8", "replace")
        assert found["host"] == host.decode("utf-8", "replace")
        assert found["route"] == (None if plan is None else plan.name)
        assert found["target"] == (None if target is None else target.address)
        assert (found["status"], found["bytes_in"], found["bytes_out"]) == record[8:11]
        assert found["duration_ms"] == pytest.approx(float("%.3f" % (record[11] * 1000)))
        assert (found["version"], found["config"]) == (
            record[14],
            ("active", "candidate")[record[15]],
        )


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(batches(), batches(), st.floats(min_value=0, max_value=4e9))
def test_both_twins_make_the_same_valid_lines(
    first: list[tuple[Any, ...]], second: list[tuple[Any, ...]], clock: float
) -> None:
    compiled = compiled_or_skip()
    pure_lines, compiled_lines = pure.Lines(), compiled.Lines()
    for records in (first, second):  # the second batch starts from the first's state
        made = pure_lines.make(records, clock)
        assert compiled_lines.make(records, clock) == made
        check_lines(made, records)


@settings(max_examples=1000, deadline=None)
@given(
    st.one_of(
        st.floats(allow_nan=False, allow_infinity=False),
        st.floats(min_value=-2e9, max_value=2e9),
        st.integers(-(2**24), 2**24).map(lambda m: m / 16),  # the ties of `%.3f`
        st.integers(0, 10**12).map(lambda k: (k + 0.5) / 1000),
    )
)
@example(0.0625)
@example(-0.0)
@example(999.9995)
@example(0.0005)
@example(999999999999.9999)
@example(1e12)
def test_milliseconds_are_rounded_as_cpython_rounds_them(milliseconds: float) -> None:
    compiled = compiled_or_skip()
    duration = milliseconds / 1000
    record = (1.5, b"i", b"c", b"GET", b"/", b"h", None, None, 200, 0, 0, duration, duration)
    records = [(*record, None, 1, 0, None)]
    made = pure.Lines().make(records, 1.7e9)
    assert compiled.Lines().make(records, 1.7e9) == made
    assert b'"duration_ms":%.3f,' % (duration * 1000) in made


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), 2.0**80, -1e-9])
def test_numbers_past_the_fast_path_are_written_as_percent_writes_them(value: float) -> None:
    compiled = compiled_or_skip()
    records = [(-0.25, b"i", b"c", b"G", b"/", b"h", None, None, -1, 2**90, -5, value, value)]
    records = [(*records[0], None, 2**65, 0, None)]
    assert compiled.Lines().make(records, 0.0) == pure.Lines().make(records, 0.0)


def test_a_value_of_the_wrong_type_fails_alike_in_both_twins() -> None:
    compiled = compiled_or_skip()
    for bad in [(None, 200), (b"id", "200")]:
        record = (1.0, bad[0], b"c", b"G", b"/", b"h", None, None, bad[1], 0, 0, 0.1, 0.1)
        records = [(*record, None, 1, 0, None)]
        with pytest.raises(TypeError):
            pure.Lines().make(records, 0.0)
        with pytest.raises(TypeError):
            compiled.Lines().make(records, 0.0)
