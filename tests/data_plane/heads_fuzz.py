"""The atheris fuzz target of the head path: the same bytes, both twins, one verdict.

An input is a mode byte (request or response; for a response, whether it answers a
HEAD), a step byte (the bytes arrive in reads of that size, 0: in one read) and the
bytes of one or more messages. Both twins read them in the same reads; the events
(every field of every head, the bytes built from it, body pieces, ends) and the
error they end with (class, status and message) must be the same. The pure twin
must also make the same messages of them however the bytes are cut into reads.

A bounded run is part of the suite (tests/data_plane/test_heads_fuzz.py). A longer
one by hand (it keeps a core busy: on a shared machine, under the suite lock); new
inputs go to the first directory, the seeds are read from the second:

    mkdir -p /tmp/heads-corpus
    .venv/bin/python -m tests.data_plane.heads_fuzz -max_total_time=600 -max_len=4096 \\
        -artifact_prefix=/tmp/heads- /tmp/heads-corpus tests/data_plane/heads_corpus

A failure prints the input and writes it beside -artifact_prefix; replay it with
`python -m tests.data_plane.heads_fuzz FILE`.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

import atheris

with atheris.instrument_imports(include=["data_plane.http.heads"]):
    from data_plane.http import heads as pure

from data_plane.http import heads_c as compiled
from data_plane.http.errors import ProxyError

# Small limits, so that inputs the fuzzer can reach cross them.
MAX_HEADER_BYTES = 600
MAX_HEADER_COUNT = 8
DATE = b"Date: Wed, 02 Dec 2026 07:00:00 GMT\r\n"
MAX_EVENTS = 200


def describe(heads: ModuleType, event: Any) -> tuple[Any, ...]:
    """An event as plain values, so the two twins' events compare with ==."""
    if isinstance(event, bytes):
        return ("body", event)
    if event is heads.END:
        return ("end",)
    if isinstance(event, heads.RequestHead):
        return (
            "request",
            event.method,
            event.target,
            event.version,
            event.path,
            event.as_received,
            event.host,
            tuple(event.headers),
            event.content_length,
            event.chunked,
            event.has_body,
            event.keep_alive,
            event.expect_continue,
            event.upgrade,
            event.request_id,
            event.forwarded_for,
            event.via,
            event.traceparent,
            event.tracestate,
            heads.fields_block(event, b"192.0.2.1", b"id-1"),
            heads.fields_block(event, b"192.0.2.1", b"id-1", b"00-tp", b"ts", https=True),
        )
    assert isinstance(event, heads.ResponseHead), event
    outcome: tuple[Any, ...] = (
        "response",
        event.status,
        event.version,
        tuple(event.fields),
        event.content_length,
        event.chunked,
        event.keep_alive,
    )
    for client_version, keep_alive in ((b"1.1", True), (b"1.0", False)):
        try:
            built: Any = heads.reply_head(
                event.status, event.fields, False, client_version, keep_alive, DATE, b"id-1"
            )
        except ProxyError as error:
            built = ("error", type(error).__name__, error.status, error.message)
        outcome += (built,)
    if event.status == 101:
        outcome += (heads.tunnel_head(event.fields, DATE, b"id-1"),)
    return outcome


def run(heads: ModuleType, mode: int, reads: list[bytes]) -> list[tuple[Any, ...]]:
    """What `heads` makes of `reads`: its events, then its verdict and leftover state."""
    if mode & 1:
        parser: Any = heads.ResponseParser(MAX_HEADER_BYTES, MAX_HEADER_COUNT)
        parser.start(bool(mode & 2))
    else:
        parser = heads.RequestParser(MAX_HEADER_BYTES, MAX_HEADER_COUNT)
    found: list[tuple[Any, ...]] = []
    try:
        for data in reads:
            parser.feed(data)
            while len(found) < MAX_EVENTS:
                event = parser.next_event()
                if event is None:
                    break
                found.append(describe(heads, event))
                if mode & 1 and not parser.expecting and not mode & 4:
                    parser.start(bool(mode & 2))  # the next request's response
        if mode & 1:
            found.append(("eof", parser.feed_eof()))
    except ProxyError as error:
        found.append(("error", type(error).__name__, error.status, error.message))
    found.append(("pending", parser.pending))
    return found


def cut(data: bytes, step: int) -> list[bytes]:
    if step == 0:
        return [data]
    return [data[i : i + step] for i in range(0, len(data), step)] or [b""]


def merged(events: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Events with adjacent body pieces joined: what does not depend on the reads."""
    out: list[tuple[Any, ...]] = []
    for event in events:
        if event[0] == "body" and out and out[-1][0] == "body":
            out[-1] = ("body", out[-1][1] + event[1])
        elif event[0] != "pending":
            out.append(event)
    return out


def check(data: bytes) -> None:
    """The property: both twins agree on `data`; reads do not change what is read."""
    if len(data) < 2:
        return
    mode, step, message = data[0], data[1] % 32, data[2:]
    reads = cut(message, step)
    expected = run(pure, mode, reads)
    got = run(compiled, mode, reads)
    if got != expected:
        raise AssertionError(f"the twins disagree on {data!r}:\n pure {expected}\n  c   {got}")
    # A run cut off at MAX_EVENTS leaves the rest of its reads untaken: only whole runs
    # can be compared with the run of one read.
    capped = sum(event[0] not in ("eof", "pending") for event in expected) >= MAX_EVENTS
    if step and not capped and not any(event[0] == "error" for event in expected):
        whole = run(pure, mode, [message])
        if not any(event[0] == "error" for event in whole) and merged(whole) != merged(expected):
            raise AssertionError(f"reads of {step} change the messages of {data!r}")


def main() -> None:
    atheris.Setup(sys.argv, check)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
