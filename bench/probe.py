"""Checking that a proxy answers, and answers correctly, before it is measured."""

from __future__ import annotations

import http.client
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes


def fetch(
    port: int, path: str, headers: dict[str, str] | None = None, timeout: float = 5.0
) -> Answer:
    """One GET to 127.0.0.1:`port`."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return Answer(response.status, response.read())
    finally:
        conn.close()


class NotReady(RuntimeError):
    """A proxy did not answer 200 within its start deadline."""


def wait_until_ok(
    port: int,
    path: str,
    deadline_s: float,
    headers: dict[str, str] | None = None,
    alive: Callable[[], None] = lambda: None,
) -> Answer:
    """Poll until a GET of `path` is answered 200; `alive` raises if the process died.

    Other answers keep the poll going: a node answers 503 until its config is loaded.
    """
    give_up = time.monotonic() + deadline_s
    last: str = "nothing"
    while time.monotonic() < give_up:
        alive()
        try:
            answer = fetch(port, path, headers, timeout=2.0)
        except (OSError, http.client.HTTPException) as exc:
            last = f"{type(exc).__name__}: {exc}"
        else:
            if answer.status == 200:
                return answer
            last = f"status {answer.status}: {answer.body[:200]!r}"
        # Starting processes need tens of milliseconds; poll at that pace.
        time.sleep(0.05)
    raise NotReady(f"GET {path} on port {port} not answered 200 within {deadline_s:.0f}s: {last}")
