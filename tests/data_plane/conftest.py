"""Fixtures of the data-plane protocol tests: a scripted upstream, reset for every test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.data_plane.scripted_upstream import ScriptedUpstream, echo_request


@pytest.fixture(scope="module")
def upstream() -> Iterator[ScriptedUpstream]:
    """One scripted upstream per test module (a node's pool may keep connections to it)."""
    with ScriptedUpstream() as server:
        yield server


@pytest.fixture
def scripted(upstream: ScriptedUpstream) -> Iterator[ScriptedUpstream]:
    """The module's upstream with the default script and nothing recorded."""
    upstream.script = echo_request
    upstream.clear()
    yield upstream
    upstream.script = echo_request
