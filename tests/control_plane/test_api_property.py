"""Generated bodies against every write call of the admin API, on SQLite and PostgreSQL:
never a 5xx, and a refused change leaves the store as it was.

Bodies are valid entities with one part replaced by something hostile (control bytes,
huge or non-ASCII strings, integers past 64 bits, wrong types, deep nesting), extra or
missing keys, or any JSON at all. The number of examples is bounded so the test takes
seconds; `FLEETGATE_PROPERTY_EXAMPLES` raises it for a longer run by hand.
"""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import store_state

EXAMPLES = int(os.environ.get("FLEETGATE_PROPERTY_EXAMPLES", "120"))

VALID: dict[str, dict[str, Any]] = {
    "services": {
        "name": "svc",
        "targets": [{"address": "127.0.0.1:9010", "weight": 2}],
        "timeouts": {"connect": 1.0, "read": 5.0},
        "retries": 1,
        "tags": ["blue"],
    },
    "routes": {
        "name": "rt",
        "paths": ["/rt/**", "~/rx/[0-9]+"],
        "hosts": ["api.example.com"],
        "methods": ["GET"],
        "headers": [{"name": "x-a", "kind": "regex", "value": "[a-z]+"}],
        "request_headers": {"set": {"x-env": "test"}, "remove": ["x-secret"]},
        "service": "users",
    },
    "tiers": {"name": "GOLD", "requests_per_minute": 100, "priority": 3},
    "tenants": {"name": "tn", "tier": "PRO", "metadata": {"region": "eu"}},
    "consumers": {"name": "cn", "tenant": "acme", "roles": ["ops"], "jwt_subjects": ["s"]},
}
TARGET = {"address": "127.0.0.1:9011", "weight": 1}
NO_BODY = object()

# Hostile leaves: what the admin API was seen to store or to fail on.
hostile_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(max_codepoint=0x1F), min_size=1, max_size=5),
    st.sampled_from(
        [
            "a\x00b",
            "x\n",
            "a.com\n",
            "h:\uff18\uff10",
            "h:\u0668\u0660",
            "127.0.0.1:0",
            "[::1]:80",
            "~(a)\\1",
            "~(a+)+$",
            "Host",
            "Content-Length",
            "%00",
            "a" * 70_000,
            "/" + "a" * 5000,
        ]
    ),
)
hostile_number = st.one_of(
    st.integers(min_value=-(2**65), max_value=2**65),
    st.sampled_from([2**63, 2**63 - 1, 2**64 - 1, -(2**63) - 1, 0, -1]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
)
leaf = st.one_of(st.none(), hostile_text, hostile_number)
json_value = st.recursive(
    leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(hostile_text, inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def mutated(draw: st.DrawFn, base: Any) -> Any:
    """`base` with one part replaced, added or removed."""
    if draw(st.integers(0, 9)) == 0:
        return draw(json_value)
    body = json.loads(json.dumps(base))
    holder: Any = body
    while True:
        keys = list(holder) if isinstance(holder, dict) else list(range(len(holder)))
        if not keys:
            break
        key = draw(st.sampled_from(keys))
        child = holder[key]
        if isinstance(child, dict | list) and child and draw(st.booleans()):
            holder = child
            continue
        action = draw(st.sampled_from(["replace", "replace", "drop", "add"]))
        if action == "replace":
            holder[key] = draw(json_value)
        elif action == "drop" and isinstance(holder, dict):
            del holder[key]
        elif isinstance(holder, dict):
            holder[draw(hostile_text)] = draw(json_value)
        else:
            holder.append(draw(json_value))
        break
    return body


@st.composite
def write_call(draw: st.DrawFn) -> tuple[str, str, Any]:
    kind = draw(st.sampled_from(sorted(VALID)))
    existing = {
        "services": "users",
        "routes": "users-api",
        "tiers": "PRO",
        "tenants": "acme",
        "consumers": "alice",
    }[kind]
    name = quote(
        draw(st.one_of(st.just(existing), hostile_text.filter(lambda s: len(s) < 500))), safe=""
    )
    call = draw(
        st.sampled_from(
            ["create", "replace", "patch", "delete", "config", "target", "weight", "api-key"]
        )
    )
    body = draw(mutated(VALID[kind]))
    if call == "create":
        return "POST", f"/api/v1/{kind}", body
    if call == "replace":
        return "PUT", f"/api/v1/{kind}/{name}", body
    if call == "patch":
        return "PATCH", f"/api/v1/{kind}/{name}", draw(mutated({"tags": ["x"]}))
    if call == "delete":
        return "DELETE", f"/api/v1/{kind}/{name}", NO_BODY
    if call == "config":
        return "PUT", "/api/v1/config", draw(mutated({kind: [VALID[kind]]}))
    if call == "target":
        return "POST", "/api/v1/services/users/targets", draw(mutated(TARGET))
    if call == "weight":
        return "PUT", "/api/v1/services/users/targets/127.0.0.1:9001", draw(mutated(TARGET))
    return "POST", f"/api/v1/consumers/{name}/api-keys", draw(mutated({"id": "ci"}))


@pytest.mark.timeout(900)  # for long runs by hand; the default count takes seconds
def test_no_generated_write_makes_a_5xx_or_a_partial_change(seeded: TestClient) -> None:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(write_call())
    def check(call: tuple[str, str, Any]) -> None:
        method, path, body = call
        before = store_state(seeded)
        if body is NO_BODY:
            answer = seeded.request(method, path)
        else:
            answer = seeded.request(method, path, json=body)
        assert answer.status_code < 500, f"{method} {path} {body!r:.300}: {answer.text}"
        if answer.status_code >= 400:
            assert answer.json()["error"]["code"], answer.text
            assert store_state(seeded) == before, f"{method} {path} {body!r:.300}"

    check()
