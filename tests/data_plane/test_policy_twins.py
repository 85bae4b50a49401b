"""The compiled twins of the policy chain's per-request code load when built.

A build that silently fell back to the pure-Python twins would leave the policies'
fast path unmeasured; in CI (and in the image build) the compiled ones must exist.
Both twins pass the same policy tests: `make test` runs the policy protocol tests a
second time with FLEETGATE_NO_EXTENSIONS=1.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from types import ModuleType

import pytest

import data_plane.policies
from data_plane import extensions
from data_plane.config.model import GatewayConfig
from data_plane.config.snapshot import build_snapshot
from data_plane.limits import decisions as pure_decisions
from data_plane.limits import local_limit as pure_local_limit
from data_plane.limits import policy as limit_policy
from data_plane.limits.gcra import Window
from data_plane.limits.table import HEADER_WORDS, SLOT_WORDS, KeyTable
from data_plane.policies import ConsumerDirectory
from data_plane.policies import chain as pure_chain

IN_CI = os.environ.get("CI") == "true"
TWINS = [
    "data_plane.policies.chain",
    "data_plane.policies.auth",
    "data_plane.limits.decisions",
    "data_plane.limits.local_limit",
    "data_plane.policies.consumers",
]
S = 1_000_000_000


def compiled_or_skip(name: str) -> ModuleType:
    try:
        return importlib.import_module(name + "_c")
    except ImportError as exc:
        if IN_CI:
            pytest.fail(f"the compiled twin of {name} was not built: {exc}", pytrace=False)
        pytest.skip(f"the compiled twin of {name} is not built here: {exc}")


@pytest.mark.parametrize("name", TWINS)
def test_the_compiled_twin_is_the_one_loaded_when_built(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    compiled = compiled_or_skip(name)
    assert extensions.is_compiled(compiled)
    monkeypatch.setattr(extensions, "NO_EXTENSIONS", False)
    assert extensions.load(name) is compiled
    monkeypatch.setattr(extensions, "NO_EXTENSIONS", True)
    assert extensions.load(name) is importlib.import_module(name)


def test_requests_get_the_loaded_twins_call_and_chain() -> None:
    chain = extensions.load("data_plane.policies.chain")
    assert data_plane.policies.Call is chain.Call
    assert data_plane.policies.PolicyChain is chain.PolicyChain
    assert data_plane.policies.build_chain is chain.build_chain
    if extensions.NO_EXTENSIONS:
        assert chain is pure_chain


def test_a_chain_runs_the_loaded_twin_of_the_auth_policy() -> None:
    config = GatewayConfig.model_validate(
        {
            "services": [{"name": "s", "targets": [{"address": "127.0.0.1:9"}]}],
            "routes": [
                {"name": "r", "paths": ["/**"], "service": "s", "auth": {"methods": ["api_key"]}}
            ],
        }
    )
    snapshot = build_snapshot(config)
    built = data_plane.policies.build_chain(
        snapshot.routes[0], ConsumerDirectory.from_snapshot(snapshot)
    )
    assert built is not None
    (auth,) = built.policies
    assert type(auth).__module__ == extensions.load("data_plane.policies.auth").__name__


def test_a_key_table_decides_one_window_on_the_loaded_twin() -> None:
    table = KeyTable.private(8)
    loaded = extensions.load("data_plane.limits.decisions")
    assert type(table.decisions) is loaded.Decisions
    table.close()  # the twin lets go of the words first


@pytest.mark.parametrize("twin", ["pure", "compiled"])
def test_both_twins_decide_as_the_table_does_for_keys_in_their_own_and_probed_slots(
    twin: str,
) -> None:
    module = pure_decisions if twin == "pure" else compiled_or_skip("data_plane.limits.decisions")
    one, many = KeyTable.private(4), KeyTable.private(4)
    decisions = module.Decisions(
        one.words, one.slots, HEADER_WORDS, SLOT_WORDS, one.lock, one._slot
    )
    window = Window.of(1, 3, S)
    keys = [4, 8, -12, 5]  # three share a first slot: two of them live in probed ones
    now = 0
    for step in range(30):
        now += (step % 3) * S // 4
        for key in keys:
            admitted, states = many.decide([(key, (window,))], now)
            (state,) = states[0]
            expected = (admitted, 0, state.remaining, state.reset, state.wait)
            assert decisions.decide_one(key, window, now) == expected
    decisions.close()


def test_a_rate_limit_policy_decides_its_route_s_windows_on_the_loaded_twin() -> None:
    assert limit_policy._local is extensions.load("data_plane.limits.local_limit")


@pytest.mark.parametrize("twin", ["pure", "compiled"])
def test_both_twins_write_a_ratelimit_value_as_formatting_does(twin: str) -> None:
    module = (
        pure_local_limit if twin == "pure" else compiled_or_skip("data_plane.limits.local_limit")
    )
    numbers = [0, 1, 9, 10, 99, 100, 59, 60, 3_600, 86_400, 999_999, 1_000_000, 2**63 - 1]
    for prefix in (b'"second";r=', b'"PRO-minute";r=', b""):
        for remaining in [*numbers, -1, -12]:
            for reset in [*numbers, -3]:
                expected = b"%s%d;t=%d" % (prefix, remaining, reset)
                assert module.rate_value(prefix, remaining, reset) == expected


@pytest.mark.parametrize(
    "first",
    [
        "data_plane.limits.local_limit_c",
        "data_plane.limits.policy",
        "data_plane.policies.auth_c",
        "data_plane.policies",
        "data_plane.runtime",
    ],
)
def test_the_compiled_twins_load_whichever_module_is_imported_first(first: str) -> None:
    # The compiled rate limit and auth policy cimport chain_c's Call, and the chain
    # builds them: an import cycle falling back to a pure twin would go unnoticed.
    compiled_or_skip("data_plane.limits.local_limit")
    script = (
        f"import {first}\n"
        "import data_plane.limits.policy as policy, data_plane.policies.chain_c as chain\n"
        "print(policy._local.__name__, chain._auth.__name__, chain._consumers.__name__)\n"
    )
    env = {**os.environ, "FLEETGATE_NO_EXTENSIONS": "0"}
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, env=env
    ).stdout
    assert out.split() == [
        "data_plane.limits.local_limit_c",
        "data_plane.policies.auth_c",
        "data_plane.policies.consumers_c",
    ]
