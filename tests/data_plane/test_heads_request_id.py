"""Request ids: both twins of ProxyState write the same id, the worker's random prefix
and the counter in at least 8 lower-case hex digits, at every counter value."""

from __future__ import annotations

import importlib
import re
from types import ModuleType

import pytest
import uvloop

from data_plane.http import state as pure
from data_plane.metrics import WorkerMetrics
from data_plane.settings import Limits
from tests.data_plane.test_heads import IN_CI


def compiled_or_skip() -> ModuleType:
    try:
        return importlib.import_module("data_plane.http.state_c")
    except ImportError as exc:
        if IN_CI:
            pytest.fail(f"the compiled state was not built: {exc}", pytrace=False)
        pytest.skip(f"the compiled state is not built here: {exc}")


@pytest.fixture(params=["pure", "compiled"])
def module(request: pytest.FixtureRequest) -> ModuleType:
    return pure if request.param == "pure" else compiled_or_skip()


@pytest.mark.parametrize(
    "before",
    [0, 1, 14, 15, 255, 0xFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFF, 0x123456789A, 0x7FFFFFFFFFFFFFF0],
)
def test_an_id_is_the_prefix_and_the_counter_in_hex(module: ModuleType, before: int) -> None:
    loop = uvloop.new_event_loop()
    try:
        state = module.ProxyState(loop, Limits(), WorkerMetrics())
        state._ids = before
        first = state.next_request_id()
        second = state.next_request_id()
    finally:
        loop.close()
    prefix = state._prefix
    assert re.fullmatch(rb"[0-9a-f]{16}", prefix)
    assert first == b"%s%08x" % (prefix, before + 1)
    assert second == b"%s%08x" % (prefix, before + 2)
